#!/usr/bin/env bash
# feed.sh measures `publisher serve` on a large raw bucket (N runs written
# straight into the layout by bench/fillruns):
#
#   1. cold indexing: a fresh publisher (no publication log yet): time to the
#      first 200 of /feed.atom, and time until /metrics reports all N runs
#      in the log (publisher_runs_indexed == N);
#   2. restart on the same bucket: time to the first 200 (target < 2 s), the
#      runs it reports at once (must be N), the background full re-scan, and
#      how long a newly committed run takes to appear in /feed.atom
#      (target < 2 s);
#   3. throughput with wrk against the publisher and against nginx serving a
#      saved copy of the same document as a static file: /feed.atom 200 and
#      304 (If-None-Match), /archive/1.atom 200 and 304, and the gzip
#      representation (Accept-Encoding: gzip; nginx: gzip_static with a
#      precompressed copy). Target: publisher/nginx >= 0.5.
#
# Only 127.0.0.1 is used. Every process started here is stopped on exit.
#
# Usage: bench/feed.sh
#
# Environment:
#   N=100000       runs in the bucket
#   DAYS=100       days the run ids are spread over (ending now)
#   WORKERS=8      fillruns writers
#   DURATION=10s   each wrk run
#   THREADS=2 CONNS=32   wrk -t / -c
#   FEED_ENTRIES=50      before the throughput runs, top the bucket up so the
#                        subscription document holds this many entries (it
#                        holds the runs since the last full archive page, so
#                        at N=100000 and page size 100 it would be empty);
#                        0 = leave it as it is
#   LATENCY_SAMPLES=3    new runs written one at a time for the latency check
#   INDEX_TIMEOUT=1500   seconds to wait for cold indexing
#   BUCKET_DIR=    where to make the bucket. Default: /dev/shm when it is a
#                  tmpfs with 8 GB free (N=100000 takes a few GB of memory),
#                  else the temp dir under ${TMPDIR:-/tmp}. Set BUCKET_DIR=/tmp
#                  to measure on disk; deleting 100,000 runs' ~600,000 files
#                  afterwards can then take many minutes (ext4 with discard).
#   PUBLISHER=     use this publisher binary instead of building ./cmd/publisher
#   KEEP=1         keep the temporary directory
set -euo pipefail

cd "$(dirname "$0")/.."

N=${N:-100000}
DAYS=${DAYS:-100}
WORKERS=${WORKERS:-8}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
FEED_ENTRIES=${FEED_ENTRIES:-50}
LATENCY_SAMPLES=${LATENCY_SAMPLES:-3}
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
command -v go >/dev/null 2>&1 || [[ -n ${PUBLISHER:-} ]] || die "go not found"

# ---- temp dir, processes, cleanup ----------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wptfeed-feedbench.XXXXXX")
pub_pid=
nginx_pid=
cleanup() {
	local rc=$?
	[[ -n $pub_pid ]] && kill "$pub_pid" 2>/dev/null && wait "$pub_pid" 2>/dev/null
	[[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
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

# metric NAME[{labels}] prints the value of one sample of the publisher's /metrics.
metric() {
	curl -s --max-time 10 "$PUB/metrics" 2>/dev/null | awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "" }'
}

# start_publisher LOG starts the publisher in the background and sets pub_pid.
start_publisher() {
	"$publisher" serve --bucket "$bucket" --addr "$HOST:$pub_port" --base-url "$PUB" \
		--scan-interval 1s --full-scan-interval 5m --page-size "$PAGE_SIZE" >"$1" 2>&1 &
	pub_pid=$!
}

stop_publisher() {
	if [[ -n $pub_pid ]]; then
		kill "$pub_pid" 2>/dev/null || true
		wait "$pub_pid" 2>/dev/null || true
		pub_pid=
	fi
}

# wait_200 URL TIMEOUT LOG: polls URL every 10 ms until it answers 200.
wait_200() {
	local url=$1 timeout=$2 logf=$3 t0=$EPOCHREALTIME code
	while :; do
		code=$(http_code "$url")
		[[ $code == 200 ]] && return 0
		if ! kill -0 "$pub_pid" 2>/dev/null; then
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

pub_port=$(free_port)
PUB=http://$HOST:$pub_port

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
log "restart"
t=$(now)
start_publisher "$tmp/publisher-restart.log"
wait_200 "$PUB/feed.atom" 120 "$tmp/publisher-restart.log"
restart_s=$(since "$t")
restart_runs=$(metric publisher_runs_indexed)
log "restart: first 200 after ${restart_s}s, $restart_runs runs indexed"
[[ $restart_runs == "$N" ]] || log "WARNING: restarted publisher reports $restart_runs runs, want $N"

# The start-up full scan lists every day in the background: wait for it, so
# that it neither competes with the measurements below nor is missed.
full_s=-
while :; do
	c=$(metric 'publisher_scan_duration_seconds_count{kind="full"}')
	if [[ -n $c ]] && le 1 "$c"; then
		full_s=$(since "$t")
		break
	fi
	le "$INDEX_TIMEOUT" "$(since "$t")" && { log "WARNING: restart full scan not finished after ${INDEX_TIMEOUT}s"; break; }
	sleep 0.2
done
log "restart: background full scan done ${full_s}s after start; runs indexed: $(metric publisher_runs_indexed)"

# New runs, one at a time: from the commit (fillruns has exited, manifest
# written) to the first /feed.atom that lists the run.
lat=()
total=$N
for ((i = 0; i < LATENCY_SAMPLES; i++)); do
	sleep 0.$((RANDOM % 10)) # do not stay in phase with the 1 s scan ticker
	id=$("$tmp/fillruns" -bucket "$bucket" -n 1 -days 1 -workers 1 -print-ids 2>/dev/null)
	t=$(now)
	while ! curl -s --max-time 10 "$PUB/feed.atom" | grep -F "$id" >/dev/null; do
		le 30 "$(since "$t")" && die "new run $id not in /feed.atom after 30 s"
		sleep 0.01
	done
	lat+=("$(since "$t")")
	total=$((total + 1))
	log "new run $id in /feed.atom after ${lat[-1]}s"
done
lat_max=$(printf '%s\n' "${lat[@]}" | sort -g | tail -n 1)
lat_med=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# Top up so the subscription document is representative.
if ((FEED_ENTRIES > 0)); then
	add=$(((FEED_ENTRIES - total % PAGE_SIZE + PAGE_SIZE) % PAGE_SIZE))
	if ((add > 0)); then
		log "adding $add runs so that /feed.atom lists $FEED_ENTRIES entries"
		"$tmp/fillruns" -bucket "$bucket" -n "$add" -days 1 -workers 2 2>/dev/null
		total=$((total + add))
		wait_runs "$total" 60 "top-up"
	fi
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

nginx_port=$(free_port "$pub_port")
NGX=http://$HOST:$nginx_port
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 2;
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
for pair in "$PUB/feed.atom|$pub_etag" "$PUB/archive/1.atom|$arch_etag" "$NGX/feed.atom|$ngx_etag" "$NGX/archive-1.atom|$ngx_arch_etag"; do
	u=${pair%%|*} e=${pair#*|}
	c=$(http_code -H "If-None-Match: $e" "$u")
	[[ $c == 304 ]] || die "$u with If-None-Match: $e answered $c, want 304"
done
for u in "$PUB/feed.atom" "$NGX/feed.atom"; do
	enc=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$u" | header Content-Encoding /dev/stdin)
	[[ $enc == gzip ]] || die "$u with Accept-Encoding: gzip is not gzip-encoded"
done
gz_bytes=$(curl -s -H 'Accept-Encoding: gzip' "$PUB/feed.atom" | wc -c)
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
	log "WARNING: load average $load_before exceeds $(nproc) cores: other work competes with the measurements"
fi
bench pub_200 "$PUB/feed.atom"
bench ngx_200 "$NGX/feed.atom"
bench pub_304 "$PUB/feed.atom" -H "If-None-Match: $pub_etag"
bench ngx_304 "$NGX/feed.atom" -H "If-None-Match: $ngx_etag"
bench pub_gz "$PUB/feed.atom" -H 'Accept-Encoding: gzip'
bench ngx_gz "$NGX/feed.atom" -H 'Accept-Encoding: gzip'
bench pub_arch_200 "$PUB/archive/1.atom"
bench ngx_arch_200 "$NGX/archive-1.atom"
bench pub_arch_304 "$PUB/archive/1.atom" -H "If-None-Match: $arch_etag"
bench ngx_arch_304 "$NGX/archive-1.atom" -H "If-None-Match: $ngx_arch_etag"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# The mean quick scan (today and yesterday, every second) of the restarted publisher.
qsum=$(metric 'publisher_scan_duration_seconds_sum{kind="quick"}')
qcount=$(metric 'publisher_scan_duration_seconds_count{kind="quick"}')
quick_ms=$(awk -v s="${qsum:-0}" -v c="${qcount:-0}" 'BEGIN { if (c > 0) printf "%.1f", 1000 * s / c; else print "-" }')

kill "$nginx_pid" 2>/dev/null || true
wait "$nginx_pid" 2>/dev/null || true
nginx_pid=
stop_publisher

# ---- summary -------------------------------------------------------------

kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
echo
echo "== publisher feed benchmark: N=$N runs over $DAYS days, page size $PAGE_SIZE, $(nproc) cores"
echo "   load average before/after wrk: $load_before / $load_after"
echo
printf '%-48s %12s  %s\n' "measurement" "value" "target"
printf '%-48s %12s  %s\n' "fill bucket (fillruns, $WORKERS writers)" "${fill_s} s" "$(awk -v n="$N" -v s="$fill_s" 'BEGIN { printf "(%.0f runs/s)", n / s }')"
printf '%-48s %12s  %s\n' "cold start: first 200 of /feed.atom" "${cold_start_s} s" ""
printf '%-48s %12s  %s\n' "cold: indexing $N runs from scratch" "${cold_index_s} s" "($cold_rate runs/s)"
printf '%-48s %12s  %s\n' "restart: first 200 of /feed.atom" "${restart_s} s" "< 2 s: $(verdict "$restart_s" 2)"
printf '%-48s %12s  %s\n' "restart: runs indexed at first 200" "$restart_runs" "$N: $([[ $restart_runs == "$N" ]] && echo ok || echo MISSED)"
printf '%-48s %12s  %s\n' "restart: background full scan finished after" "${full_s} s" ""
printf '%-48s %12s  %s\n' "restart: mean quick scan (today+yesterday)" "${quick_ms} ms" "(${qcount%.*} scans)"
printf '%-48s %12s  %s\n' "new run -> in /feed.atom (median of ${#lat[@]})" "${lat_med} s" "< 2 s: $(verdict "$lat_med" 2)"
printf '%-48s %12s  %s\n' "new run -> in /feed.atom (max; all: ${lat[*]})" "${lat_max} s" "< 2 s: $(verdict "$lat_max" 2)"
echo
echo "throughput: wrk -t$THREADS -c$CONNS -d$DURATION, keep-alive, on the same $(nproc) cores as the server"
echo "/feed.atom: $feed_entries entries, $(kb "$feed_bytes") (gzip: publisher $(kb "$gz_bytes"), nginx gzip -6 $(kb "$ngx_gz_bytes")); /archive/1.atom: $arch_entries entries, $(kb "$arch_bytes")"
printf '%-34s %12s %12s %12s %10s %10s\n' "case" "publisher" "nginx" "pub/nginx" "p99 pub" "p99 nginx"
row() { # label pubkey ngxkey
	local r
	r=$(ratio "${RPS[$2]}" "${RPS[$3]}")
	printf '%-34s %12s %12s %12s %10s %10s  %s\n' "$1" "${RPS[$2]}" "${RPS[$3]}" "$r" "${P99[$2]}" "${P99[$3]}" \
		"$(awk -v r="$r" 'BEGIN { print (r >= 0.5 ? "(>= 0.5 ok)" : "(>= 0.5 MISSED)") }')"
}
row "/feed.atom 200 (req/s)" pub_200 ngx_200
row "/feed.atom 304 If-None-Match" pub_304 ngx_304
row "/feed.atom 200 gzip" pub_gz ngx_gz
row "/archive/1.atom 200" pub_arch_200 ngx_arch_200
row "/archive/1.atom 304 If-None-Match" pub_arch_304 ngx_arch_304
for k in "${!NOTE[@]}"; do
	[[ -n ${NOTE[$k]} ]] && echo "note: $k: ${NOTE[$k]}"
done
echo
echo "publisher logs: $(grep -h 'publication log loaded' "$tmp"/publisher-*.log | sed 's/^/  /' | tr '\n' ' ')"
