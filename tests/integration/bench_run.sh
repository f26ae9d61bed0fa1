#!/usr/bin/env bash
# bench/run.sh's rounds: medians() over known rows (odd and even counts, a figure some
# rounds lack, the spread of ops/s), then a small run of the rb part in three rounds
# against logstord-sync and redis-always: the target order reversed in round 2, each load
# run on both targets in turn, one median row per load with its spread, the ratios and
# the goal count, exit 0.
set -u
source "$(dirname "$0")/lib.bash"
it_begin bench_run 120
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD=${LOGSTOR_BUILD:-build}
export LOGSTORD=${LOGSTORD:-$BUILD/logstord}

section "medians of known rows"
T=$'\t'
printf '%s\n' "rb${T}a${T}SET${T}100${T}1.0${T}5${T}-${T}10${T}rbx${T}-${T}-${T}-${T}-" \
    "rb${T}b${T}SET${T}50${T}2${T}-${T}-${T}4${T}rbx${T}-${T}-${T}-${T}-" \
    "rate${T}a${T}rate SET${T}10${T}1${T}2${T}3${T}-${T}mt${T}7${T}0.5${T}0${T}-" >"$DATA_DIR/r1"
printf '%s\n' "rb${T}a${T}SET${T}300${T}3.0${T}-${T}-${T}30${T}other${T}-${T}-${T}-${T}-" \
    "rb${T}b${T}SET${T}70${T}4${T}-${T}-${T}6${T}rbx${T}-${T}-${T}-${T}-" \
    "rate${T}a${T}rate SET${T}20${T}2${T}4${T}6${T}-${T}mt${T}9${T}1.5${T}0${T}-" >"$DATA_DIR/r2"
printf '%s\n' "rb${T}a${T}SET${T}200${T}2.0${T}9${T}-${T}20${T}rbx${T}-${T}-${T}-${T}-" \
    "rate${T}a${T}rate SET${T}30${T}3${T}6${T}9${T}-${T}mt${T}8${T}1${T}0${T}-" >"$DATA_DIR/r3"
got=$(bash -c 'source "$1/bench/lib.bash"; medians "$2/r1" "$2/r2" "$2/r3"' _ "$ROOT" "$DATA_DIR")
want=$(printf '%s\n' "rb${T}a${T}SET${T}200${T}2.0${T}7${T}-${T}20${T}rbx${T}-${T}-${T}-${T}-${T}100" \
    "rb${T}b${T}SET${T}60${T}3${T}-${T}-${T}5${T}rbx${T}-${T}-${T}-${T}-${T}33.3333" \
    "rate${T}a${T}rate SET${T}20${T}2${T}4${T}6${T}-${T}mt${T}8${T}1${T}0${T}-${T}100")
expect_eq "medians: odd count, even count (mean of the middle two), '-' kept, spread" "$got" "$want"
got=$(bash -c 'source "$1/bench/lib.bash"; medians "$2/r3"' _ "$ROOT" "$DATA_DIR" | head -n 1)
expect_eq "one round: its own figures, no spread" "$got" \
    "rb${T}a${T}SET${T}200${T}2.0${T}9${T}-${T}20${T}rbx${T}-${T}-${T}-${T}-${T}-"

section "three rounds of the rb part"
if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
    echo "FAIL: redis-server and redis-benchmark are needed (scripts/deps.sh installs them)"
    exit 1
fi
BENCH_ROUNDS=3 BENCH_PARTS=rb BENCH_N=2000 BENCH_CLIENTS=5 BENCH_PIPELINE=4 \
    BENCH_TARGETS="logstord-sync redis-always" bash "$ROOT/bench/run.sh" "$BUILD" \
    >"$DATA_DIR/out" 2>&1
expect_eq "run.sh exits 0" "$?" "0"
starts=$(grep -oE 'round [0-9] rb: [a-z-]+' "$DATA_DIR/out" | tr '\n' ',')
expect_eq "the targets in order, reversed in round 2" "$starts" \
    "round 1 rb: logstord-sync,round 1 rb: redis-always,round 2 rb: redis-always,round 2 rb: logstord-sync,round 3 rb: logstord-sync,round 3 rb: redis-always,"
loads=$(grep -oE 'round 2 rb [A-Z]+( -P4)?: .*' "$DATA_DIR/out" | tr '\n' ',')
expect_eq "each load on both targets in turn, in the round's order" "$loads" \
    "round 2 rb SET: redis-always logstord-sync,round 2 rb GET: redis-always logstord-sync,round 2 rb INCR: redis-always logstord-sync,round 2 rb MSET: redis-always logstord-sync,round 2 rb SET -P4: redis-always logstord-sync,round 2 rb GET -P4: redis-always logstord-sync,round 2 rb INCR -P4: redis-always logstord-sync,round 2 rb MSET -P4: redis-always logstord-sync,"
expect_true "it says the figures are medians of 3 rounds" \
    grep -q 'figures are medians of 3 round(s)' "$DATA_DIR/out"
rows=$(grep -cE '^(logstord-sync|redis-always) +(SET|GET|INCR|MSET)( -P4)? +[0-9]+ +[0-9]+% ' \
    "$DATA_DIR/out")
expect_eq "one row per target and load, each with its spread" "$rows" "16"
expect_eq "one ratio line per load" "$(grep -c 'sync/redis-always *ops/s' "$DATA_DIR/out")" "8"
expect_true "the goals are counted" grep -qE '^bench: goals met [0-9]+, not met [0-9]+' \
    "$DATA_DIR/out"
[ "$IT_FAILS" -eq 0 ] || cat "$DATA_DIR/out"
it_finish
