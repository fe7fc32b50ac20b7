#!/usr/bin/env bash
# feed.sh measures `publisher serve` on a large raw bucket (N runs written
# straight into the layout by bench/fillruns):
#
#   1. cold indexing: a fresh publisher (no publication log yet): time to the
#      first 200 of /feed.atom, and time until /metrics reports all N runs
#      in the log (publisher_runs_indexed == N);
#   2. restart on the same bucket, RESTARTS times: time to the first 200
#      (median; target < 2 s), the runs it reports at once (must be N), the
#      background full re-scan, and how long a newly committed run takes to
#      appear in /feed.atom (target < 2 s);
#   3. throughput with wrk against the publisher and against nginx serving a
#      saved copy of the same document as a static file: /feed.atom 200 and
#      304 (If-None-Match), /archive/1.atom 200 and 304, and the gzip
#      representation (Accept-Encoding: gzip; nginx: gzip_static with a
#      precompressed copy). Targets: publisher/nginx >= 0.5, gzip >= 0.8.
#      nginx runs one worker per core, as the publisher's Go runtime runs
#      one P per core; wrk shares the same cores. The gzip case also runs
#      against bench/barehttp, a bare net/http handler writing the
#      publisher's gzip bytes (same headers, one Write, TCP_CORK): the most
#      a net/http server does here, printed as bare/nginx and
#      publisher/bare.
#
# With BASELINE (a git revision) or BASELINE_PUBLISHER (a binary), a second
# publisher is measured side by side on the same bucket: its restarts
# alternate with the publisher's in step 2, it runs beside it in step 3 (each
# wrk case runs against the publisher, the baseline and nginx in turn), and
# the summary gives publisher/baseline (target: within 10%, i.e. >= 0.9 for
# throughput, <= 1.1 for times). The subscription document lists the newest
# --feed-entries runs (100), while a publisher from before the sliding window
# (issue 13) lists only the runs after the newest archive page; so that both
# serve documents of about the same size, the bucket is then topped up until
# PAGE_SIZE-1 runs follow the newest page, and both restart RESTARTS times
# again: the restarts at N compare the baseline at its cheapest (no run after
# the newest page to read) and those at N+99 at its costliest
# (BASELINE_TOPUP=0 turns the top-up off).
#
# Only 127.0.0.1 is used. Every process started here is stopped on exit.
#
# Usage: bench/feed.sh
#        BASELINE=HEAD bench/feed.sh   # this work tree against the last commit
#
# Environment:
#   N=100000       runs in the bucket
#   DAYS=100       days the run ids are spread over (ending now)
#   WORKERS=8      fillruns writers
#   DURATION=10s   each wrk run
#   THREADS=2 CONNS=32   wrk -t / -c
#   RESTARTS=3     restarts of each publisher in step 2
#   LATENCY_SAMPLES=3    new runs written one at a time for the latency check
#   INDEX_TIMEOUT=1500   seconds to wait for cold indexing
#   BUCKET_DIR=    where to make the bucket. Default: /dev/shm when it is a
#                  tmpfs with 8 GB free (N=100000 takes a few GB of memory),
#                  else the temp dir under ${TMPDIR:-/tmp}. Set BUCKET_DIR=/tmp
#                  to measure on disk; deleting 100,000 runs' ~600,000 files
#                  afterwards can then take many minutes (ext4 with discard).
#   PUBLISHER=     use this publisher binary instead of building ./cmd/publisher
#   BASELINE=      git revision to build the baseline publisher from (in a
#                  temporary `git worktree`; the work tree is not touched)
#   BASELINE_PUBLISHER=  the baseline publisher binary (instead of BASELINE)
#   BASELINE_TOPUP=1     see above
#   KEEP=1         keep the temporary directory
set -euo pipefail

cd "$(dirname "$0")/.."

N=${N:-100000}
DAYS=${DAYS:-100}
WORKERS=${WORKERS:-8}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
RESTARTS=${RESTARTS:-3}
LATENCY_SAMPLES=${LATENCY_SAMPLES:-3}
BASELINE_TOPUP=${BASELINE_TOPUP:-1}
INDEX_TIMEOUT=${INDEX_TIMEOUT:-1500}
PAGE_SIZE=100
HOST=127.0.0.1

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "feed.sh: $*" >&2; exit 1; }

# ---- tools ---------------------------------------------------------------

find_nginx() {
	local p
	for p in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx /sbin/nginx; do
		[[ -n $p && -x $p ]] && { echo "$p"; return 0; }
	done
	return 1
}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
find_nginx >/dev/null || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]})); then
	if [[ $(id -u) == 0 ]]; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		die "missing ${missing[*]}; install with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	fi
fi
NGINX=$(find_nginx) || die "nginx not found after install"
command -v go >/dev/null 2>&1 || [[ -n ${PUBLISHER:-} && -z ${BASELINE:-} ]] || die "go not found"
[[ -n ${BASELINE:-} && -n ${BASELINE_PUBLISHER:-} ]] && die "give BASELINE or BASELINE_PUBLISHER, not both"

# ---- temp dir, processes, cleanup ----------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wptfeed-feedbench.XXXXXX")
pub_pid=
base_pid=
nginx_pid=
bare_pid=
worktree=
cleanup() {
	local rc=$?
	[[ -n $pub_pid ]] && kill "$pub_pid" 2>/dev/null && wait "$pub_pid" 2>/dev/null
	[[ -n $base_pid ]] && kill "$base_pid" 2>/dev/null && wait "$base_pid" 2>/dev/null
	[[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	[[ -n $bare_pid ]] && kill "$bare_pid" 2>/dev/null && wait "$bare_pid" 2>/dev/null
	[[ -n $worktree ]] && git worktree remove --force "$worktree" 2>/dev/null
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "kept $tmp${bucket_extra:+ and $bucket_extra}" >&2
	else
		log "removing $tmp${bucket_extra:+ and $bucket_extra} (a large bucket takes a while on a busy disk)"
		rm -rf "$tmp" ${bucket_extra:+"$bucket_extra"}
	fi
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${BUCKET_DIR+x} ]] && [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]] &&
	(($(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') > 8 * 1024 * 1024)) && [[ -w /dev/shm ]]; then
	BUCKET_DIR=/dev/shm
fi
if [[ -n ${BUCKET_DIR:-} ]]; then
	bucket_extra=$(mktemp -d "$BUCKET_DIR/wptfeed-bucket.XXXXXX")
	bucket=$bucket_extra
else
	bucket_extra=
	bucket=$tmp/bucket
	mkdir -p "$bucket"
fi

# ---- helpers -------------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
verdict() { if le "$1" "$2"; then echo "ok"; else echo "MISSED"; fi; } # value target: lower is better

# free_port prints a port nothing listens on (and that is not $1).
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 30000))
		[[ $p == "${1:-}" ]] && continue
		if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }

# metric NAME[{labels}] [BASE] prints the value of one sample of the /metrics
# of the publisher at BASE (default $PUB).
metric() {
	curl -s --max-time 10 "${2:-$PUB}/metrics" 2>/dev/null | awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "" }'
}

# start_publisher LOG [baseline] starts the publisher (or the baseline) in the
# background and sets pub_pid (base_pid).
start_publisher() {
	if [[ ${2:-} == baseline ]]; then
		"$baseline" serve --bucket "$bucket" --addr "$HOST:$base_port" --base-url "$BASE" \
			--scan-interval 1s --full-scan-interval 5m --page-size "$PAGE_SIZE" >"$1" 2>&1 &
		base_pid=$!
		return
	fi
	"$publisher" serve --bucket "$bucket" --addr "$HOST:$pub_port" --base-url "$PUB" \
		--scan-interval 1s --full-scan-interval 5m --page-size "$PAGE_SIZE" >"$1" 2>&1 &
	pub_pid=$!
}

# stop_publisher [baseline]
stop_publisher() {
	local pid=$pub_pid
	[[ ${1:-} == baseline ]] && pid=$base_pid
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ ${1:-} == baseline ]]; then base_pid=; else pub_pid=; fi
}

# wait_200 URL TIMEOUT LOG [PID]: polls URL every 10 ms until it answers 200.
wait_200() {
	local url=$1 timeout=$2 logf=$3 pid=${4:-$pub_pid} t0=$EPOCHREALTIME code
	while :; do
		code=$(http_code "$url")
		[[ $code == 200 ]] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$logf" >&2
			die "publisher exited before answering $url"
		fi
		le "$timeout" "$(since "$t0")" && { tail -n 20 "$logf" >&2; die "$url did not answer 200 within ${timeout}s (last: $code)"; }
		sleep 0.01
	done
}

# wait_runs WANT TIMEOUT LABEL: polls /metrics until publisher_runs_indexed >= WANT.
wait_runs() {
	local want=$1 timeout=$2 label=$3 t0=$EPOCHREALTIME next=10 v
	while :; do
		v=$(metric publisher_runs_indexed)
		if [[ -n $v ]] && le "$want" "$v"; then
			return 0
		fi
		local el
		el=$(since "$t0")
		if le "$next" "$el"; then
			log "$label: ${v:-?}/$want runs indexed after ${el%.*}s"
			next=$((next + 10))
		fi
		le "$timeout" "$el" && die "$label: only ${v:-?} of $want runs indexed after ${timeout}s"
		kill -0 "$pub_pid" 2>/dev/null || die "publisher exited while indexing"
		sleep 0.2
	done
}

# ---- build and fill ------------------------------------------------------

if [[ -n ${PUBLISHER:-} ]]; then
	publisher=$PUBLISHER
	[[ -x $publisher ]] || die "PUBLISHER=$publisher is not executable"
else
	publisher=$tmp/publisher
	go build -o "$publisher" ./cmd/publisher 2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; die "go build ./cmd/publisher failed"; }
fi
go build -o "$tmp/fillruns" ./bench/fillruns 2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; die "go build ./bench/fillruns failed"; }
go build -o "$tmp/barehttp" ./bench/barehttp 2>"$tmp/build.log" || { cat "$tmp/build.log" >&2; die "go build ./bench/barehttp failed"; }
baseline=
baseline_name=
if [[ -n ${BASELINE:-} ]]; then
	rev=$(git rev-parse --verify --quiet "$BASELINE^{commit}") || die "BASELINE=$BASELINE is not a commit"
	worktree=$tmp/baseline-src
	git worktree add --quiet --detach "$worktree" "$rev" || die "git worktree add failed"
	(cd "$worktree" && go build -o "$tmp/publisher-baseline" ./cmd/publisher) 2>"$tmp/build.log" ||
		{ cat "$tmp/build.log" >&2; die "go build ./cmd/publisher at $BASELINE failed"; }
	git worktree remove --force "$worktree"
	worktree=
	baseline=$tmp/publisher-baseline
	baseline_name="$BASELINE ($(git rev-parse --short "$rev"))"
elif [[ -n ${BASELINE_PUBLISHER:-} ]]; then
	baseline=$BASELINE_PUBLISHER
	[[ -x $baseline ]] || die "BASELINE_PUBLISHER=$baseline is not executable"
	baseline_name=$baseline
fi

pub_port=$(free_port)
PUB=http://$HOST:$pub_port
base_port=$(free_port "$pub_port")
BASE=http://$HOST:$base_port

echo "nproc: $(nproc); N=$N runs over $DAYS days; bucket: $bucket ($(stat -f -c %T "$bucket"))"
log "filling the bucket with $N runs ($WORKERS writers)"
t=$(now)
"$tmp/fillruns" -bucket "$bucket" -n "$N" -days "$DAYS" -workers "$WORKERS" 2>"$tmp/fill.log" || { cat "$tmp/fill.log" >&2; die "fillruns failed"; }
fill_s=$(since "$t")
tail -n 1 "$tmp/fill.log" >&2

# ---- 1. cold indexing ----------------------------------------------------

log "cold start: publisher on the fresh bucket"
t=$(now)
start_publisher "$tmp/publisher-cold.log"
wait_200 "$PUB/feed.atom" 300 "$tmp/publisher-cold.log"
cold_start_s=$(since "$t")
log "cold start: first 200 after ${cold_start_s}s; indexing"
wait_runs "$N" "$INDEX_TIMEOUT" "cold indexing"
cold_index_s=$(since "$t")
cold_rate=$(awk -v n="$N" -v s="$cold_index_s" 'BEGIN { printf "%.0f", n / s }')
log "cold indexing: $N runs in ${cold_index_s}s ($cold_rate runs/s)"

# ---- 2. restart ----------------------------------------------------------

stop_publisher
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# restart WHO TIMES RUNS: one restart of the publisher (WHO=pub) or the
# baseline: appends its time to first 200 to the array named TIMES, and the
# runs it reports then to the array named RUNS. Leaves it running.
declare -a restart_pub=() restart_base=() restart_runs_pub=() restart_runs_base=()
restarts=0
restart() {
	local who=$1 url=$PUB pid t logf s runs
	local -n times=$2 counts=$3
	[[ $who == baseline ]] && url=$BASE
	restarts=$((restarts + 1))
	logf=$tmp/publisher-restart-$restarts.log
	t=$(now)
	start_publisher "$logf" "$who"
	pid=$pub_pid
	[[ $who == baseline ]] && pid=$base_pid
	wait_200 "$url/feed.atom" 120 "$logf" "$pid"
	s=$(since "$t")
	runs=$(metric publisher_runs_indexed "$url")
	log "restart ($who): first 200 after ${s}s, $runs runs indexed"
	times+=("$s")
	counts+=("$runs")
}

# restarts_of TIMES RUNS [BASE_TIMES BASE_RUNS]: RESTARTS restarts of the
# publisher, alternating with the baseline's.
restarts_of() {
	local r
	for ((r = 0; r < RESTARTS; r++)); do
		restart pub "$1" "$2"
		stop_publisher
		if [[ -n $baseline ]]; then
			restart baseline "$3" "$4"
			stop_publisher baseline
		fi
	done
}
restarts_of restart_pub restart_runs_pub restart_base restart_runs_base
for v in "${restart_runs_pub[@]}" "${restart_runs_base[@]}"; do
	[[ $v == "$N" ]] || log "WARNING: a restarted publisher reported $v runs, want $N"
done
restart_s=$(printf '%s\n' "${restart_pub[@]}" | median)
restart_runs=$(printf '%s\n' "${restart_runs_pub[@]}" | sort -g | head -n 1)
[[ -n $baseline ]] && base_restart_s=$(printf '%s\n' "${restart_base[@]}" | median)

# after_restart [baseline]: starts the publisher (the baseline) once more,
# waits for its start-up full scan (which lists every day in the background,
# so that it neither competes with the measurements below nor is missed),
# then measures how long new runs, written one at a time, take from their
# commit (fillruns has exited, manifest written) to the first /feed.atom that
# lists them. Sets full_s (base_full_s) and appends to lat_<who>. Leaves it
# running.
declare -a lat_pub=() lat_base=()
total=$N
after_restart() {
	local who=${1:-pub} url=$PUB pid t full=- i id c
	[[ $who == baseline ]] && url=$BASE
	t=$(now)
	start_publisher "$tmp/publisher-$who.log" "$who"
	pid=$pub_pid
	[[ $who == baseline ]] && pid=$base_pid
	wait_200 "$url/feed.atom" 120 "$tmp/publisher-$who.log" "$pid"
	while :; do
		c=$(metric 'publisher_scan_duration_seconds_count{kind="full"}' "$url")
		if [[ -n $c ]] && le 1 "$c"; then
			full=$(since "$t")
			break
		fi
		le "$INDEX_TIMEOUT" "$(since "$t")" && { log "WARNING: $who's full scan not finished after ${INDEX_TIMEOUT}s"; break; }
		sleep 0.2
	done
	log "$who: background full scan done ${full}s after start; runs indexed: $(metric publisher_runs_indexed "$url")"
	for ((i = 0; i < LATENCY_SAMPLES; i++)); do
		sleep 0.$((RANDOM % 10)) # do not stay in phase with the 1 s scan ticker
		id=$("$tmp/fillruns" -bucket "$bucket" -n 1 -days 1 -workers 1 -print-ids 2>/dev/null)
		t=$(now)
		while ! curl -s --max-time 10 "$url/feed.atom" | grep -F "$id" >/dev/null; do
			le 30 "$(since "$t")" && die "new run $id not in $who's /feed.atom after 30 s"
			sleep 0.01
		done
		total=$((total + 1))
		if [[ $who == baseline ]]; then lat_base+=("$(since "$t")"); else lat_pub+=("$(since "$t")"); fi
		log "$who: new run $id in /feed.atom after $(since "$t")s"
	done
	if [[ $who == baseline ]]; then base_full_s=$full; else full_s=$full; fi
}

if [[ -n $baseline ]]; then
	after_restart baseline
	stop_publisher baseline
fi
after_restart
lat_max=$(printf '%s\n' "${lat_pub[@]}" | sort -g | tail -n 1)
lat_med=$(printf '%s\n' "${lat_pub[@]}" | median)
if [[ -n $baseline ]]; then
	base_lat_med=$(printf '%s\n' "${lat_base[@]}" | median)
	# Documents of about the same size: the baseline, from before the
	# sliding window, lists only the runs after the newest archive page.
	if [[ $BASELINE_TOPUP == 1 ]]; then
		add=$(((PAGE_SIZE - 1 - total % PAGE_SIZE + PAGE_SIZE) % PAGE_SIZE))
		if ((add > 0)); then
			log "adding $add runs so that $((PAGE_SIZE - 1)) runs follow the newest archive page"
			# One at a time, so that each is uploaded now: quick scans leave
			# runs whose ids are over an hour old to the full scans.
			for ((i = 0; i < add; i++)); do
				"$tmp/fillruns" -bucket "$bucket" -n 1 -days 1 -workers 1 2>/dev/null
			done
			total=$((total + add))
			wait_runs "$total" 60 "top-up"
		fi
		# Restarts again: now both read the runs after the newest archive
		# page (the baseline's costliest start, the publisher's usual one).
		stop_publisher
		declare -a topped_pub=() topped_base=() topped_runs_pub=() topped_runs_base=()
		restarts_of topped_pub topped_runs_pub topped_base topped_runs_base
		topped_s=$(printf '%s\n' "${topped_pub[@]}" | median)
		base_topped_s=$(printf '%s\n' "${topped_base[@]}" | median)
		start_publisher "$tmp/publisher-pub.log"
		wait_200 "$PUB/feed.atom" 120 "$tmp/publisher-pub.log"
	fi
	start_publisher "$tmp/publisher-baseline.log" baseline
	wait_200 "$BASE/feed.atom" 120 "$tmp/publisher-baseline.log" "$base_pid"
	for ((i = 0; i < 300; i++)); do
		v=$(metric publisher_runs_indexed "$BASE")
		[[ -n $v ]] && le "$total" "$v" && break
		sleep 0.2
	done
fi

# ---- 3. throughput -------------------------------------------------------

www=$tmp/www
mkdir -p "$www" "$tmp/nginx"
chmod 755 "$tmp" "$www" # nginx workers started by root run as nobody
curl -s --max-time 10 -D "$tmp/feed.hdr" -o "$www/feed.atom" "$PUB/feed.atom"
curl -s --max-time 10 -D "$tmp/archive.hdr" -o "$www/archive-1.atom" "$PUB/archive/1.atom"
gzip -6 -k -n "$www/feed.atom"
gzip -6 -k -n "$www/archive-1.atom"
chmod 644 "$www"/*
header() { awk -v k="$1" '{ sub(/\r$/, "") } tolower($1) == tolower(k) ":" { sub(/^[^:]*: */, ""); print; exit }' "$2"; }
pub_etag=$(header ETag "$tmp/feed.hdr")
arch_etag=$(header ETag "$tmp/archive.hdr")
feed_bytes=$(wc -c <"$www/feed.atom")
feed_entries=$(grep -o '<entry[ >]' "$www/feed.atom" | wc -l)
arch_bytes=$(wc -c <"$www/archive-1.atom")
arch_entries=$(grep -o '<entry[ >]' "$www/archive-1.atom" | wc -l)
[[ -n $pub_etag && -n $arch_etag ]] || die "publisher sent no ETag"
base_etag= base_arch_etag=
if [[ -n $baseline ]]; then
	curl -s --max-time 10 -D "$tmp/base-feed.hdr" -o "$tmp/base-feed.atom" "$BASE/feed.atom"
	curl -s --max-time 10 -D "$tmp/base-archive.hdr" -o /dev/null "$BASE/archive/1.atom"
	base_etag=$(header ETag "$tmp/base-feed.hdr")
	base_arch_etag=$(header ETag "$tmp/base-archive.hdr")
	base_feed_bytes=$(wc -c <"$tmp/base-feed.atom")
	base_feed_entries=$(grep -o '<entry[ >]' "$tmp/base-feed.atom" | wc -l)
	[[ -n $base_etag && -n $base_arch_etag ]] || die "baseline sent no ETag"
fi

nginx_port=$(free_port "$pub_port")
while [[ $nginx_port == "$base_port" ]]; do nginx_port=$(free_port "$pub_port"); done
NGX=http://$HOST:$nginx_port
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $(nproc);
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	types { }
	default_type application/atom+xml;
	etag on;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	keepalive_requests 100000000;
	gzip_static on;
	client_body_temp_path $tmp/nginx/client_body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	server {
		listen $HOST:$nginx_port;
		root $www;
	}
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
for ((i = 0; i < 500; i++)); do
	[[ $(http_code "$NGX/feed.atom") == 200 ]] && break
	kill -0 "$nginx_pid" 2>/dev/null || { cat "$tmp/nginx/error.log" >&2; die "nginx exited"; }
	sleep 0.01
done
[[ $(http_code "$NGX/feed.atom") == 200 ]] || { cat "$tmp/nginx/error.log" >&2; die "nginx does not serve the feed"; }
cmp -s "$www/feed.atom" <(curl -s "$NGX/feed.atom") || die "nginx serves a different body"
curl -s -o /dev/null -D "$tmp/ngx.hdr" "$NGX/feed.atom"
curl -s -o /dev/null -D "$tmp/ngx-arch.hdr" "$NGX/archive-1.atom"
ngx_etag=$(header ETag "$tmp/ngx.hdr")
ngx_arch_etag=$(header ETag "$tmp/ngx-arch.hdr")

# Check that conditional requests really answer 304 and gzip ones gzip.
pairs=("$PUB/feed.atom|$pub_etag" "$PUB/archive/1.atom|$arch_etag" "$NGX/feed.atom|$ngx_etag" "$NGX/archive-1.atom|$ngx_arch_etag")
gzurls=("$PUB/feed.atom" "$NGX/feed.atom")
if [[ -n $baseline ]]; then
	pairs+=("$BASE/feed.atom|$base_etag" "$BASE/archive/1.atom|$base_arch_etag")
	gzurls+=("$BASE/feed.atom")
fi
for pair in "${pairs[@]}"; do
	u=${pair%%|*} e=${pair#*|}
	c=$(http_code -H "If-None-Match: $e" "$u")
	[[ $c == 304 ]] || die "$u with If-None-Match: $e answered $c, want 304"
done
for u in "${gzurls[@]}"; do
	enc=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$u" | header Content-Encoding /dev/stdin)
	[[ $enc == gzip ]] || die "$u with Accept-Encoding: gzip is not gzip-encoded"
done
curl -s -H 'Accept-Encoding: gzip' -o "$tmp/pub-feed.atom.gz" "$PUB/feed.atom"
gz_bytes=$(wc -c <"$tmp/pub-feed.atom.gz")
# A bare net/http handler writing the publisher's gzip bytes: the most a
# net/http server does here (bench/barehttp).
bare_port=$(free_port "$pub_port")
while [[ $bare_port == "$base_port" || $bare_port == "$nginx_port" ]]; do bare_port=$(free_port "$pub_port"); done
BARE=http://$HOST:$bare_port
"$tmp/barehttp" -addr "$HOST:$bare_port" -file "$tmp/pub-feed.atom.gz" 2>"$tmp/barehttp.log" &
bare_pid=$!
for ((i = 0; i < 500; i++)); do
	[[ $(http_code "$BARE/feed.atom") == 200 ]] && break
	kill -0 "$bare_pid" 2>/dev/null || { cat "$tmp/barehttp.log" >&2; die "barehttp exited"; }
	sleep 0.01
done
cmp -s "$tmp/pub-feed.atom.gz" <(curl -s -H 'Accept-Encoding: gzip' "$BARE/feed.atom") || die "barehttp serves a different body"
ngx_gz_bytes=$(wc -c <"$www/feed.atom.gz")

declare -A RPS P99 NOTE
# bench NAME URL [wrk args...]
bench() {
	local name=$1 url=$2
	shift 2
	log "wrk $name: $url $*"
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" >"$tmp/wrk-$name.txt" 2>&1 || { cat "$tmp/wrk-$name.txt" >&2; die "wrk failed"; }
	RPS[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/wrk-$name.txt")
	P99[$name]=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk-$name.txt")
	NOTE[$name]=$(grep -E 'Socket errors|Non-2xx' "$tmp/wrk-$name.txt" | tr -s ' \n' ' ' || true)
	[[ -n ${NOTE[$name]} ]] && log "  $name: ${NOTE[$name]}"
	log "  $name: ${RPS[$name]} req/s, p99 ${P99[$name]}"
}
# cases NAME PUB_URL BASE_URL NGX_URL PUB_ETAG BASE_ETAG NGX_ETAG [wrk args...]:
# one case against the publisher, the baseline (if any) and nginx in turn.
# With etags, each gets If-None-Match with its own.
cases() {
	local name=$1 p=$2 b=$3 n=$4 pe=$5 be=$6 ne=$7
	shift 7
	if [[ -n $pe ]]; then
		bench "pub_$name" "$p" -H "If-None-Match: $pe" "$@"
		[[ -n $baseline ]] && bench "base_$name" "$b" -H "If-None-Match: $be" "$@"
		bench "ngx_$name" "$n" -H "If-None-Match: $ne" "$@"
		return
	fi
	bench "pub_$name" "$p" "$@"
	[[ -n $baseline ]] && bench "base_$name" "$b" "$@"
	bench "ngx_$name" "$n" "$@"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
	log "WARNING: load average $load_before exceeds $(nproc) cores: other work competes with the measurements"
fi
cases 200 "$PUB/feed.atom" "$BASE/feed.atom" "$NGX/feed.atom" "" "" ""
cases 304 "$PUB/feed.atom" "$BASE/feed.atom" "$NGX/feed.atom" "$pub_etag" "$base_etag" "$ngx_etag"
cases gz "$PUB/feed.atom" "$BASE/feed.atom" "$NGX/feed.atom" "" "" "" -H 'Accept-Encoding: gzip'
bench bare_gz "$BARE/feed.atom" -H 'Accept-Encoding: gzip'
cases arch_200 "$PUB/archive/1.atom" "$BASE/archive/1.atom" "$NGX/archive-1.atom" "" "" ""
cases arch_304 "$PUB/archive/1.atom" "$BASE/archive/1.atom" "$NGX/archive-1.atom" "$arch_etag" "$base_arch_etag" "$ngx_arch_etag"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# The mean quick scan (today and yesterday, every second) of the restarted publisher.
qsum=$(metric 'publisher_scan_duration_seconds_sum{kind="quick"}')
qcount=$(metric 'publisher_scan_duration_seconds_count{kind="quick"}')
quick_ms=$(awk -v s="${qsum:-0}" -v c="${qcount:-0}" 'BEGIN { if (c > 0) printf "%.1f", 1000 * s / c; else print "-" }')

kill "$nginx_pid" 2>/dev/null || true
kill "$bare_pid" 2>/dev/null || true
wait "$bare_pid" 2>/dev/null || true
bare_pid=
wait "$nginx_pid" 2>/dev/null || true
nginx_pid=
stop_publisher
[[ -n $baseline ]] && stop_publisher baseline

# ---- summary -------------------------------------------------------------

kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
line() { printf '%-50s %12s  %s\n' "$@"; }
echo
echo "== publisher feed benchmark: N=$N runs over $DAYS days, page size $PAGE_SIZE, $(nproc) cores"
[[ -n $baseline ]] && echo "   baseline: $baseline_name"
echo "   load average before/after wrk: $load_before / $load_after"
echo
line "measurement" "value" "target"
line "fill bucket (fillruns, $WORKERS writers)" "${fill_s} s" "$(awk -v n="$N" -v s="$fill_s" 'BEGIN { printf "(%.0f runs/s)", n / s }')"
line "cold start: first 200 of /feed.atom" "${cold_start_s} s" ""
line "cold: indexing $N runs from scratch" "${cold_index_s} s" "($cold_rate runs/s)"
line "restart: first 200 of /feed.atom (median of $RESTARTS)" "${restart_s} s" "< 2 s: $(verdict "$restart_s" 2); all: ${restart_pub[*]}"
line "restart: runs indexed at first 200 (fewest)" "$restart_runs" "$N: $([[ $restart_runs == "$N" ]] && echo ok || echo MISSED)"
line "restart: background full scan finished after" "${full_s} s" ""
line "restart: mean quick scan (today+yesterday)" "${quick_ms} ms" "(${qcount%.*} scans)"
line "new run -> in /feed.atom (median of ${#lat_pub[@]})" "${lat_med} s" "< 2 s: $(verdict "$lat_med" 2)"
line "new run -> in /feed.atom (max; all: ${lat_pub[*]})" "${lat_max} s" "< 2 s: $(verdict "$lat_max" 2)"
if [[ -n $baseline ]]; then
	r=$(ratio "$restart_s" "$base_restart_s")
	line "baseline restart: first 200 (median of $RESTARTS)" "${base_restart_s} s" \
		"publisher/baseline $r (<= 1.1: $(verdict "$r" 1.1)); all: ${restart_base[*]}"
	line "baseline restart: background full scan" "${base_full_s} s" ""
	line "baseline new run -> in /feed.atom (median)" "${base_lat_med} s" "all: ${lat_base[*]}"
	if [[ -n ${topped_s:-} ]]; then
		r=$(ratio "$topped_s" "$base_topped_s")
		line "restart with $((PAGE_SIZE - 1)) runs after the newest page" "${topped_s} s" "all: ${topped_pub[*]}"
		line "  baseline" "${base_topped_s} s" "publisher/baseline $r (<= 1.1: $(verdict "$r" 1.1)); all: ${topped_base[*]}"
	fi
fi
echo
echo "throughput: wrk -t$THREADS -c$CONNS -d$DURATION, keep-alive, on the same $(nproc) cores as the server"
echo "/feed.atom: $feed_entries entries, $(kb "$feed_bytes") (gzip: publisher $(kb "$gz_bytes"), nginx gzip -6 $(kb "$ngx_gz_bytes")); /archive/1.atom: $arch_entries entries, $(kb "$arch_bytes")"
[[ -n $baseline ]] && echo "baseline's /feed.atom: $base_feed_entries entries, $(kb "$base_feed_bytes")"
if [[ -n $baseline ]]; then
	printf '%-34s %10s %10s %10s %10s %9s %9s %9s\n' "case (req/s)" "publisher" "baseline" "nginx" "pub/nginx" "pub/base" "p99 pub" "p99 base"
else
	printf '%-34s %10s %10s %10s %9s %9s\n' "case (req/s)" "publisher" "nginx" "pub/nginx" "p99 pub" "p99 nginx"
fi
row() { # label key target
	local r rb verdict
	r=$(ratio "${RPS[pub_$2]}" "${RPS[ngx_$2]}")
	verdict=$(awk -v r="$r" -v t="$3" 'BEGIN { print (r >= t ? "(>= " t " ok)" : "(>= " t " MISSED)") }')
	if [[ -n $baseline ]]; then
		rb=$(ratio "${RPS[pub_$2]}" "${RPS[base_$2]}")
		printf '%-34s %10s %10s %10s %10s %9s %9s %9s  %s\n' "$1" "${RPS[pub_$2]}" "${RPS[base_$2]}" "${RPS[ngx_$2]}" "$r" "$rb" "${P99[pub_$2]}" "${P99[base_$2]}" \
			"$verdict $(awk -v r="$rb" 'BEGIN { print (r >= 0.9 ? "(pub/base >= 0.9 ok)" : "(pub/base >= 0.9 MISSED)") }')"
	else
		printf '%-34s %10s %10s %10s %9s %9s  %s\n' "$1" "${RPS[pub_$2]}" "${RPS[ngx_$2]}" "$r" "${P99[pub_$2]}" "${P99[ngx_$2]}" "$verdict"
	fi
}
row "/feed.atom 200" 200 0.5
row "/feed.atom 304 If-None-Match" 304 0.5
row "/feed.atom 200 gzip" gz 0.8
printf '%-34s %10s %10s  bare/nginx %s, publisher/bare %s\n' "  bare net/http, same gzip bytes" "${RPS[bare_gz]}" "${RPS[ngx_gz]}" \
	"$(ratio "${RPS[bare_gz]}" "${RPS[ngx_gz]}")" "$(ratio "${RPS[pub_gz]}" "${RPS[bare_gz]}")"
row "/archive/1.atom 200" arch_200 0.5
row "/archive/1.atom 304 If-None-Match" arch_304 0.5
for k in "${!NOTE[@]}"; do
	[[ -n ${NOTE[$k]} ]] && echo "note: $k: ${NOTE[$k]}"
done
echo
echo "publisher logs: $(grep -h 'publication log loaded' "$tmp"/publisher-*.log | sed 's/^/  /' | tr '\n' ' ')"
