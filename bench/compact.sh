#!/usr/bin/env bash
# bench/compact.sh [BUILD] - the compaction figures of issue 4, in one run:
#
#   1. write amplification against disk utilization (50, 70, 80, 90 %) for uniform and
#      skewed (90 % of writes to 10 % of keys) overwrites, greedy and cost-benefit policy,
#      with the greedy-cleaning model and the issue's targets:   bench/out/compact_wa.txt
#   2. user puts/s per 100 ms during a long overwrite run at 80 % utilization (uniform,
#      greedy), and the longest stall:    bench/out/compact_throughput.csv and .txt
#   3. a gnuplot PNG of (2):              bench/out/compact_throughput.png
#
#   bash bench/compact.sh build           (or: make bench-compact)
#
# Environment:
#   COMPACT_ARGS=""        bench_compact options for both runs (e.g. "-s 512 -v 100")
#   COMPACT_TABLE_ARGS=""  options for the table only (e.g. "-l uniform -u 80")
#   COMPACT_TPUT_ARGS=""   options for the throughput run only (e.g. "-p cost-benefit")
#   COMPACT_SECS=60        length of the throughput run's overwrite phase, seconds
# The engines run in fresh directories under /tmp (ext4 here; O_DIRECT does not work on
# tmpfs) and are removed afterwards. gnuplot is installed (gnuplot-nox, through
# scripts/deps.sh) when missing. Exit status 1 when a cell misses its target or a run fails.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
BIN=$BUILD/bench/bench_compact
OUT=bench/out
SECS=${COMPACT_SECS:-60}
ARGS=${COMPACT_ARGS:-}
TABLE_ARGS=${COMPACT_TABLE_ARGS:-}
TPUT_ARGS=${COMPACT_TPUT_ARGS:-}

make --no-print-directory "$BIN" || exit 1
if ! command -v gnuplot >/dev/null; then
    EXTRA_PKGS=gnuplot-nox bash scripts/deps.sh || echo "compact: gnuplot install failed; no PNG"
fi
mkdir -p "$OUT"
start=$(date +%s)
echo "compact: $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) (other work skews the figures)"

# shellcheck disable=SC2086 # the option strings are meant to split into words
"$BIN" $ARGS $TABLE_ARGS | tee "$OUT/compact_wa.txt"
wa_rc=${PIPESTATUS[0]}

# shellcheck disable=SC2086
"$BIN" $ARGS -T "$SECS" -o "$OUT/compact_throughput.csv" $TPUT_ARGS |
    tee "$OUT/compact_throughput.txt"
tput_rc=${PIPESTATUS[0]}

line=$(grep '^compact throughput' "$OUT/compact_throughput.txt" || true)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
png_rc=0
if command -v gnuplot >/dev/null && [ -s "$OUT/compact_throughput.csv" ]; then
    title="user puts/s, $(field load) overwrites, u=$(field u)%, $(field policy); longest stall $(field longest_stall_ms) ms, WA $(field wa)"
    gnuplot -c bench/compact_plot.gp "$OUT/compact_throughput.csv" "$OUT/compact_throughput.png" \
        "$title" || png_rc=1
else
    png_rc=1
fi
[ "$png_rc" = 0 ] && echo "compact: plot $OUT/compact_throughput.png" || echo "compact: no plot"
echo "compact: table $OUT/compact_wa.txt (exit $wa_rc), throughput $OUT/compact_throughput.csv" \
    "(exit $tput_rc), $(($(date +%s) - start)) s in all"
[ "$wa_rc" = 0 ] && [ "$tput_rc" = 0 ] && [ "$png_rc" = 0 ]
