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
#   KEEP=1       keep the temporary directory
#
# For each scale it prints wall time (s), peak RSS (MB) and the ratio of wall
# time to `gzip -dc` over the same shards, for:
#   gzip -dc SHARDS > /dev/null
#   ingester process --out file://TMP/out1 --per-test=false SHARDS
#   ingester process --out file://TMP/out2 SHARDS          (per-test files, one per test)
#   ingester process --out file://TMP/out2 --per-test-layout=packed SHARDS
#                                                           (per-test files packed in one object)
#   tar -x of the files layout's output into TMP/out2       (what creating those files costs the disk)
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
cleanup() {
	rm -f "${tarball:-}"
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

declare -A rss_of

tarball=$tmp/files.tar
if [[ -d /dev/shm && -w /dev/shm ]]; then
	tarball=$(mktemp /dev/shm/wptfeed-bench-tar.XXXXXX)
fi

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
	printf '%-40s %8s %13s %8s\n' "command" "wall_s" "peak_rss_MB" "x_gzip"

	measure gzip sh -c 'exec gzip -dc "$@" >/dev/null' gzip "${shards[@]}"
	local gz=$wall
	printf '%-40s %8s %13s %8s\n' "gzip -dc" "$wall" "$rss" "1.00"

	local label args
	for label in per-test=false per-test-layout=files per-test-layout=packed; do
		case $label in
		per-test=false) args=(process --out "file://$tmp/out1" --per-test=false "${shards[@]}") ;;
		*) args=(process --out "file://$tmp/out2" "--$label" "${shards[@]}") ;;
		esac
		measure ingester "$ingester" "${args[@]}"
		rss_of[$scale,$label]=$rss
		printf '%-40s %8s %13s %8s\n' "ingester process --$label" "$wall" "$rss" \
			"$(awk -v a="$wall" -v b="$gz" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
		echo "  result: $(tail -n 1 "$tmp/ingester.out")"
		if [[ $label == per-test-layout=files ]]; then
			tar -C "$tmp/out2" -cf "$tarball" .
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
