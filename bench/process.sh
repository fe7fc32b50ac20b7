#!/usr/bin/env bash
# process.sh measures `ingester process` on a generated full-size wptreport
# (see report/reportgen) against the cost of just decompressing it.
#
# Usage: bench/process.sh
#
# Environment:
#   SCALE=1      report size (1 = full size: 32,720 tests, 1,586,904 subtests)
#   SHARDS=4     number of report shards
#   GROWTH=1     also measure at SCALE*2, to see how peak RSS grows with input
#   RUNS=3       runs per measurement; the table shows the median
#   INGESTER=    use this ingester binary instead of building ./cmd/ingester
#   BASELINE=    git revision to build a baseline ingester from (in a
#                temporary `git worktree`; the work tree is not touched), e.g.
#                BASELINE=HEAD~1; each ingester command is then also run with
#                it, the two in turn, and x_base is ingester/baseline
#   BASELINE_INGESTER=  the baseline ingester binary (instead of BASELINE)
#   KEEP=1       keep the temporary directory
#
# For each scale it prints wall time (s), peak RSS (MB) and the ratio of wall
# time to `gzip -dc` over the same shards (with a baseline, the gzip -dc runs
# taken in turn with that command's), for:
#   gzip -dc SHARDS > /dev/null
#   ingester process --out file://TMP/out1 --per-test=false SHARDS
#   ingester process --out file://TMP/out2 SHARDS          (per-test files, one per test)
#   ingester process --out file://TMP/out2 --per-test-layout=packed SHARDS
#                                                           (per-test files packed in one object)
#   tar -x of the files layout's output into TMP/out2       (what creating those files costs the disk)
#
# and what --copy-raw adds to --per-test=false (the raw archive under the out
# bucket): the two commands run in turn RUNS times, with the medians, the
# ratio and the added seconds per run.
#
# After --per-test=false it prints the size of the merged report (the
# <sha>/<product id>/report.json that raw_results_url names, gzip) against
# `gzip -6` of its decompressed bytes: the ratio must stay <= 1.5.
#
# The output directories are on TMPDIR's disk (default /tmp); to take the disk
# out of the measurement, run with TMPDIR=/dev/shm.
set -euo pipefail

cd "$(dirname "$0")/.."

SCALE=${SCALE:-1}
SHARDS=${SHARDS:-4}
GROWTH=${GROWTH:-0}
RUNS=${RUNS:-3}

TIME=/usr/bin/time
if ! [[ -x $TIME ]] || ! $TIME -f "%e %M" true 2>/dev/null; then
	echo "process.sh: GNU time not found at $TIME; install it with: apt-get install -y time" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wptfeed-bench.XXXXXX")
worktree=
cleanup() {
	rm -f "${tarball:-}"
	[[ -n $worktree ]] && git worktree remove --force "$worktree" 2>/dev/null
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

# Build first, so that a missing or broken ingester fails before any work.
if [[ -n ${INGESTER:-} ]]; then
	ingester=$INGESTER
	[[ -x $ingester ]] || { echo "process.sh: INGESTER=$ingester is not executable" >&2; exit 1; }
else
	ingester=$tmp/ingester
	if ! go build -o "$ingester" ./cmd/ingester 2>"$tmp/build.log"; then
		echo "process.sh: go build ./cmd/ingester failed:" >&2
		cat "$tmp/build.log" >&2
		exit 1
	fi
fi
go build -o "$tmp/genreport" ./bench/genreport
baseline=
if [[ -n ${BASELINE_INGESTER:-} ]]; then
	baseline=$BASELINE_INGESTER
	[[ -x $baseline ]] || { echo "process.sh: BASELINE_INGESTER=$baseline is not executable" >&2; exit 1; }
elif [[ -n ${BASELINE:-} ]]; then
	rev=$(git rev-parse --verify --quiet "$BASELINE^{commit}") || { echo "process.sh: BASELINE=$BASELINE is not a commit" >&2; exit 1; }
	worktree=$tmp/baseline-src
	git worktree add --quiet --detach "$worktree" "$rev"
	if ! (cd "$worktree" && go build -o "$tmp/ingester-baseline" ./cmd/ingester) 2>"$tmp/build.log"; then
		echo "process.sh: go build ./cmd/ingester at $BASELINE failed:" >&2
		cat "$tmp/build.log" >&2
		exit 1
	fi
	git worktree remove --force "$worktree"
	worktree=
	baseline=$tmp/ingester-baseline
fi

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME CMD... runs CMD $RUNS times (output to /dev/null, the
# ingester's output dirs emptied before each run) and sets wall and rss to
# the medians (seconds, MB). The last run's stdout is kept in $tmp/NAME.out.
measure() {
	local name=$1
	shift
	local walls=() rsss=() i
	for ((i = 0; i < RUNS; i++)); do
		rm -rf "$tmp/out1" "$tmp/out2"
		if ! $TIME -o "$tmp/time" -f "%e %M" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
			echo "process.sh: $name failed: $*" >&2
			cat "$tmp/$name.err" "$tmp/time" >&2
			exit 1
		fi
		read -r w r <"$tmp/time"
		walls+=("$w")
		rsss+=("$r")
	done
	wall=$(median "${walls[@]}")
	rss=$(awk -v k="$(median "${rsss[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
}

# measure_pair ARGS... runs `gzip -dc` of the shards, the baseline ingester
# and the ingester with ARGS in turn, $RUNS times each (so that a busy
# machine slows all three alike), and sets wall and rss (the ingester's
# medians), bwall and brss (the baseline's) and gwall (gzip's). The ingester
# runs last: its output stays in TMP/out*.
measure_pair() {
	local walls=() rsss=() bwalls=() brsss=() gwalls=() i bin w r
	for ((i = 0; i < RUNS; i++)); do
		$TIME -o "$tmp/time" -f "%e %M" sh -c 'exec gzip -dc "$@" >/dev/null' gzip "${shards[@]}"
		read -r w r <"$tmp/time"
		gwalls+=("$w")
		for bin in "$baseline" "$ingester"; do
			rm -rf "$tmp/out1" "$tmp/out2"
			if ! $TIME -o "$tmp/time" -f "%e %M" "$bin" "$@" >"$tmp/ingester.out" 2>"$tmp/ingester.err"; then
				echo "process.sh: $bin failed: $*" >&2
				cat "$tmp/ingester.err" "$tmp/time" >&2
				exit 1
			fi
			read -r w r <"$tmp/time"
			if [[ $bin == "$ingester" ]]; then
				walls+=("$w")
				rsss+=("$r")
			else
				bwalls+=("$w")
				brsss+=("$r")
			fi
		done
	done
	wall=$(median "${walls[@]}")
	rss=$(awk -v k="$(median "${rsss[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
	gwall=$(median "${gwalls[@]}")
	bwall=$(median "${bwalls[@]}")
	brss=$(awk -v k="$(median "${brsss[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
}

declare -A rss_of

tarball=$tmp/files.tar
if [[ -d /dev/shm && -w /dev/shm ]]; then
	tarball=$(mktemp /dev/shm/wptfeed-bench-tar.XXXXXX)
fi

# merged_size DIR prints the size of the merged report under DIR against
# gzip -6 of its decompressed bytes.
merged_size() {
	local f
	f=$(find "$1" -type f -name report.json | head -n 1)
	if [[ -z $f ]]; then
		echo "  merged report: none under $1"
		return
	fi
	local stored plain gz6
	stored=$(wc -c <"$f")
	plain=$(gzip -dc "$f" | wc -c)
	gz6=$(gzip -dc "$f" | gzip -6 | wc -c)
	echo "  merged report: $(mb "$stored") MB ($(mb "$plain") MB decompressed); gzip -6 of it: $(mb "$gz6") MB;" \
		"size ratio $(awk -v a="$stored" -v b="$gz6" 'BEGIN { printf "%.2f", a / b }') (budget 1.5)"
}

# measure_copy ARGS... runs the ingester with ARGS and with ARGS --copy-raw
# in turn, $RUNS times each, and prints both medians, their ratio and the
# difference (the copy's cost per run).
measure_copy() {
	local plain=() copy=() i w r
	for ((i = 0; i < RUNS; i++)); do
		for mode in plain copy; do
			rm -rf "$tmp/out1" "$tmp/out2"
			local extra=()
			[[ $mode == copy ]] && extra=(--copy-raw)
			if ! $TIME -o "$tmp/time" -f "%e %M" "$ingester" "$@" "${extra[@]}" >"$tmp/copy.out" 2>"$tmp/copy.err"; then
				echo "process.sh: $ingester failed: $* ${extra[*]}" >&2
				cat "$tmp/copy.err" "$tmp/time" >&2
				exit 1
			fi
			read -r w r <"$tmp/time"
			if [[ $mode == copy ]]; then copy+=("$w"); else plain+=("$w"); fi
		done
	done
	local a b
	a=$(median "${plain[@]}")
	b=$(median "${copy[@]}")
	printf '%-40s %8s %13s %8s
' "  with --copy-raw (in turn with it)" "$b" "-" "-"
	echo "  --copy-raw: $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx the same command without it (%.2f s -> %.2f s), +%.2f s per run", b / a, a, b, b - a }');" \
		"archive: $(find "$tmp/out1/raw" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }') bytes in $(find "$tmp/out1/raw" -type f | wc -l) files for $(cat "${shards[@]}" | wc -c) bytes in ${#shards[@]} shards"
}

run_scale() {
	local scale=$1
	local dir=$tmp/report-$scale
	mkdir -p "$dir"
	local t0 t1
	t0=$(date +%s.%N)
	mapfile -t shards < <("$tmp/genreport" -out "$dir" -scale "$scale" -shards "$SHARDS" -seed 1 -prefix run)
	t1=$(date +%s.%N)
	if ((${#shards[@]} != SHARDS)); then
		echo "process.sh: genreport wrote ${#shards[@]} shards, want $SHARDS" >&2
		exit 1
	fi
	local zsize usize
	zsize=$(cat "${shards[@]}" | wc -c)
	usize=$(gzip -dc "${shards[@]}" | wc -c)
	echo
	echo "scale $scale: ${#shards[@]} shards, $(mb "$zsize") MB compressed, $(mb "$usize") MB decompressed" \
		"(generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)"
	printf '%-40s %8s %13s %8s %8s\n' "command" "wall_s" "peak_rss_MB" "x_gzip" "x_base"

	measure gzip sh -c 'exec gzip -dc "$@" >/dev/null' gzip "${shards[@]}"
	local gz=$wall
	printf '%-40s %8s %13s %8s\n' "gzip -dc" "$wall" "$rss" "1.00"

	local label args
	for label in per-test=false per-test-layout=files per-test-layout=packed; do
		case $label in
		per-test=false) args=(process --out "file://$tmp/out1" --per-test=false "${shards[@]}") ;;
		*) args=(process --out "file://$tmp/out2" "--$label" "${shards[@]}") ;;
		esac
		local g=$gz
		if [[ -n $baseline ]]; then
			measure_pair "${args[@]}"
			g=$gwall
		else
			measure ingester "$ingester" "${args[@]}"
		fi
		rss_of[$scale,$label]=$rss
		printf '%-40s %8s %13s %8s\n' "ingester process --$label" "$wall" "$rss" \
			"$(awk -v a="$wall" -v b="$g" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		echo "  result: $(tail -n 1 "$tmp/ingester.out")"
		if [[ $label == per-test-layout=files ]]; then
			tar -C "$tmp/out2" -cf "$tarball" .
		fi
		if [[ $label == per-test=false ]]; then
			merged_size "$tmp/out1"
			if "$ingester" process --help 2>&1 | grep -q -- --copy-raw; then
				measure_copy "${args[@]}"
			fi
		fi
		if [[ -n $baseline ]]; then
			printf '%-40s %8s %13s %8s %8s\n' "  baseline (run in turn with it)" "$bwall" "$brss" \
				"$(awk -v a="$bwall" -v b="$g" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
				"$(awk -v a="$wall" -v b="$bwall" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		fi
	done
	# The disk's own cost of creating those files: tar -x of the same tree
	# (from memory where possible) into the same place.
	measure tarx sh -c 'mkdir -p "$1" && exec tar -C "$1" -xf "$2"' tarx "$tmp/out2" "$tarball"
	printf '%-40s %8s %13s %8s\n' "tar -x of the files layout's output" "$wall" "$rss" \
		"$(awk -v a="$wall" -v b="$gz" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
	rm -f "$tarball"
	rm -rf "$dir"
}

echo "nproc: $(nproc)"
echo "runs per measurement: $RUNS (median shown)"
run_scale "$SCALE"
if [[ $GROWTH == 1 ]]; then
	scale2=$(awk -v s="$SCALE" 'BEGIN { print s * 2 }')
	run_scale "$scale2"
	echo
	echo "peak RSS growth from scale $SCALE to $scale2:"
	for label in per-test=false per-test-layout=files per-test-layout=packed; do
		a=${rss_of[$SCALE,$label]} b=${rss_of[$scale2,$label]}
		echo "  ingester process --$label: $a MB -> $b MB ($(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", b / a }'))"
	done
fi
