#!/usr/bin/env bash
# compat.sh - runs Redis 7.0.15's own test suite (its tests/, external-server mode) against a
# fresh logstord and compares the failures with the tracked baseline of known failures.
#
#   make compat                      (or: bash scripts/compat.sh from the repo root)
#
# Environment:
#   COMPAT_UNITS       units to run (default: the issue 12 list below, and issue 15's
#                      unit/type/hash, unit/type/list*, unit/type/set, unit/type/zset, unit/sort,
#                      unit/type/stream, unit/type/stream-cgroups)
#   COMPAT_SRC         the Redis source tarball (default ../shared/tools/redis-7.0.15-src.tar.gz
#                      relative to the repo root, then /work/shared/tools/...)
#   COMPAT_BASELINE    known failures, one "unit: test name" per line (tests/compat/known_failures.txt)
#   COMPAT_STALLS      tests known to stall the suite, skipped from the start and counted as
#                      failed (tests/compat/stalls.txt, same format)
#   COMPAT_UNIT_LIMIT  seconds one unit may take in all (default 600)
#   COMPAT_STALL_LIMIT seconds the suite may go without finishing a test (default 90): a hung
#                      server is caught by this, reported, killed and replaced
#   COMPAT_OUT         keep each unit's full output in this directory (default: a temp dir, removed)
#   LOGSTORD           the server binary (default build/logstord)
#
# How it works: the tarball is extracted into a temporary directory. One logstord is started
# with lib.bash's it_start (free 127.0.0.1 ports, temporary data directory). Each unit runs
# alone under `timeout`, with --durable so that an error inside one test fails that test and
# the unit goes on. After each unit the server is checked: if it died (a crash) or does not
# answer PING (a hang), that is reported as a failure "(server crashed)" / "(server hung)" of
# the unit, and a fresh server replaces it. A unit that stops early (an error outside any
# test, or the stall limit) is reported as "(unit aborted)"; an error outside a test in a
# start_server block, which skips the rest of that block, as "(block aborted: its error)".
#
# One adaptation of the extracted copy:
# - unit/pubsubshard is tagged external:skip as a whole, but its first block (the SPUBLISH/
#   SSUBSCRIBE tests) needs one server only: the copy runs that block; the others (a replica,
#   a cluster) stay skipped.
#
# Output: per unit and in total "N passed, M failed", then the failures that are not in the
# baseline (exit status 1 when there is any) and the baseline entries that now pass.

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
source tests/integration/lib.bash
it_begin compat "${COMPAT_TOTAL_LIMIT:-5400}"

UNITS=${COMPAT_UNITS:-"unit/type/string unit/type/incr unit/keyspace unit/expire unit/protocol
    unit/scan unit/other unit/introspection unit/introspection-2 unit/info-command unit/multi
    unit/scripting unit/pubsub unit/pubsubshard unit/type/hash unit/type/list unit/type/list-2
    unit/type/list-3 unit/type/set unit/type/zset unit/sort unit/type/stream
    unit/type/stream-cgroups"}
BASELINE=${COMPAT_BASELINE:-$ROOT/tests/compat/known_failures.txt}
STALLS=${COMPAT_STALLS:-$ROOT/tests/compat/stalls.txt}
UNIT_LIMIT=${COMPAT_UNIT_LIMIT:-600}
STALL_LIMIT=${COMPAT_STALL_LIMIT:-90}
command -v tclsh >/dev/null || { echo "compat: tclsh not found (Debian package tcl; make deps)"; exit 2; }

WORK=$DATA_DIR/redis-src        # DATA_DIR is removed by lib.bash's cleanup
OUT=${COMPAT_OUT:-$DATA_DIR/out}
RESULTS=$DATA_DIR/results       # lines "unit<TAB>ok|err<TAB>test name"
mkdir -p "$WORK" "$OUT"
: >"$RESULTS"
it_extract_tool redis-7.0.15-src.tar.gz "$WORK" "${COMPAT_SRC:-}" || exit 2
sed -i '1s/^start_server {tags {"pubsubshard external:skip"}} {$/start_server {tags {"pubsubshard"}} {/' \
    "$WORK/tests/unit/pubsubshard.tcl"

SRV_DIR=$DATA_DIR/srv
compat_start() { # a fresh server on a fresh data directory
    rm -rf "$SRV_DIR" && mkdir -p "$SRV_DIR"
    LOG=$SRV_DIR/server.log
    DATA_DIR=$SRV_DIR it_start
}

# parse_unit UNIT FILE: appends UNIT's test results to $RESULTS; prints why the unit did not
# complete (nothing when it did).
parse_unit() {
    local unit=$1 file=$2
    sed 's/\x1b\[[0-9;]*m//g' "$file" | awk -v unit="$unit" -v res="$RESULTS" '
        /^\[ok\]: / { n = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", n)
                     print unit "\tok\t" n >> res; next }
        /^\[err\]: .* in tests\/[^ ]*\.tcl$/ { n = substr($0, 8); sub(/ in tests\/[^ ]*\.tcl$/, "", n)
                      print unit "\terr\t" n >> res; next }
        /^\[err\]: / { print unit "\terr\t(block aborted: " substr($0, 8, 70) ")" >> res; next }
        /^\[exception\]: / { why = why "exception: " substr($0, 14) " " }
        /^\[TIMEOUT\]/ { why = why "no test finished in the stall limit " }
        /^\[[0-9]+\/[0-9]+ done\]: / { done = 1 }
        END { if (!done) print (why == "" ? "the suite exited early" : why) }'
}

# check_server UNIT: records a crash or a hang of the server as a failure of UNIT and starts
# a fresh one.
check_server() {
    local unit=$1 what=
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
        wait "$SRV_PID" 2>/dev/null
        what="server crashed (exit status $?)"
    elif [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>&1)" != PONG ]; then
        what="server hung (no PONG within 5 s)"
    fi
    if [ -z "$what" ]; then
        # a test that failed halfway may leave maxmemory set (every later write gets -OOM):
        # the next unit starts without it, as with a fresh server
        timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" config set maxmemory 0 >/dev/null 2>&1
        return 0
    fi
    echo "  !! $unit: $what; server log tail:"
    tail -n 15 "$LOG" | sed 's/^/     /'
    printf '%s\terr\t(%s)\n' "$unit" "${what%% (*}" >>"$RESULTS"
    it_stop KILL
    compat_start
}

# The suite's own ports (its test server listens on one below --baseport): a random base, so
# that two runs on one machine (CI and a developer, two worktrees) do not collide on 21079.
BASEPORT=$((20000 + (RANDOM % 300) * 40)) # below the ephemeral ports (32768-)

# run_suite UNIT OUTFILE SKIPFILE: one run of the suite on UNIT; returns timeout's status.
run_suite() {
    # timeout runs the suite in a process group of its own and kills all of it at the limit;
    # the trap below passes an interruption of this script on to it.
    (cd "$WORK" && exec timeout -k 10 "$UNIT_LIMIT" tclsh tests/test_helper.tcl --host 127.0.0.1 \
        --port "$PORT" --baseport "$BASEPORT" --single "$1" --tags "-needs:debug -needs:repl" --durable \
        --timeout "$STALL_LIMIT" --skipfile "$3" >"$2" 2>&1 </dev/null) &
    SUITE_PID=$!
    wait "$SUITE_PID"
    local st=$?
    SUITE_PID=
    return $st
}

# run_unit UNIT: runs UNIT and records its results. A test that stalls the suite (the Tcl
# client waits for ever for a reply it does not get) is recorded as failed, and the unit
# runs again from the start with the stalled tests skipped (up to 4 times); the results of
# the last run count.
run_unit() {
    local unit=$1 attempt why st hung uout skip=$DATA_DIR/skip unitres=$DATA_DIR/unitres
    : >"$skip"
    # tests known to stall (tests/compat/stalls.txt) are skipped from the start: each
    # would cost the stall limit before the rerun
    grep -v '^#' "$STALLS" 2>/dev/null | sed -n "s|^$unit: ||p" >"$skip"
    for attempt in 1 2 3 4 5; do
        uout=$OUT/$(echo "$unit" | tr / _).$attempt.out
        run_suite "$unit" "$uout" "$skip"
        st=$?
        : >"$unitres"
        why=$(RESULTS=$unitres parse_unit "$unit" "$uout")
        [ "$st" = 124 ] && why="$why (unit time limit ${UNIT_LIMIT}s)"
        check_server "$unit"
        hung=$(sed 's/\x1b\[[0-9;]*m//g' "$uout" | sed -n 's/^[^ ]* => (IN PROGRESS) //p' | head -n 1)
        [ -z "$why" ] || [ -z "$hung" ] || [ "$attempt" = 5 ] && break
        echo "  !! $unit: '$hung' stalled the suite; running the unit again without it"
        echo "$hung" >>"$skip"
    done
    cat "$unitres" >>"$RESULTS"
    while read -r hung; do
        printf '%s\terr\t%s\n' "$unit" "$hung" >>"$RESULTS"
    done <"$skip"
    [ -z "$why" ] && return 0
    printf '%s\terr\t(unit aborted)\n' "$unit" >>"$RESULTS"
    echo "  !! $unit did not complete: $why"
    sed 's/\x1b\[[0-9;]*m//g' "$uout" | grep -a -A3 '^\[exception' | sed 's/^/     /' | head -n 8
}

SUITE_PID=
trap 'echo "FAIL: compat: time limit reached or interrupted"; [ -n "$SUITE_PID" ] && kill -TERM "$SUITE_PID"; exit 124' TERM INT
compat_start
echo "compat: Redis 7.0.15 tests against logstord on 127.0.0.1:$PORT (pid $SRV_PID)"
t_all=$SECONDS
for unit in $UNITS; do
    t0=$SECONDS
    run_unit "$unit"
    p=$(awk -F'\t' -v u="$unit" '$1 == u && $2 == "ok"' "$RESULTS" | wc -l)
    f=$(awk -F'\t' -v u="$unit" '$1 == u && $2 == "err"' "$RESULTS" | wc -l)
    printf '%-22s %4d passed, %4d failed  (%ds)\n' "$unit:" "$p" "$f" $((SECONDS - t0))
done
it_stop TERM

p=$(awk -F'\t' '$2 == "ok"' "$RESULTS" | wc -l)
f=$(awk -F'\t' '$2 == "err"' "$RESULTS" | wc -l)
printf '%-22s %4d passed, %4d failed  (%ds)\n' "total:" "$p" "$f" $((SECONDS - t_all))

# Compare with the baseline. A test name may occur more than once in a unit: it counts as
# failing when any occurrence fails, and as passing when every occurrence that ran passed.
awk -F'\t' '$2 == "err" { print $1 ": " $3 }' "$RESULTS" | sort -u >"$DATA_DIR/failing"
awk -F'\t' '$2 == "ok" { print $1 ": " $3 }' "$RESULTS" | sort -u |
    comm -23 - "$DATA_DIR/failing" >"$DATA_DIR/passing"
grep -v -e '^#' -e '^[[:space:]]*$' "$BASELINE" 2>/dev/null | sort -u >"$DATA_DIR/known"
new=$(comm -23 "$DATA_DIR/failing" "$DATA_DIR/known")
fixed=$(comm -12 "$DATA_DIR/passing" "$DATA_DIR/known")
if [ -n "$fixed" ]; then
    echo
    echo "compat: baseline entries that now pass (remove them from ${BASELINE#"$ROOT"/}):"
    echo "$fixed" | sed 's/^/  /'
fi
if [ -n "$new" ]; then
    echo
    echo "compat: FAIL: failures not in the baseline ${BASELINE#"$ROOT"/}:"
    echo "$new" | sed 's/^/  /'
    [ -n "${COMPAT_OUT:-}" ] && echo "(full output per unit in $OUT)"
    exit 1
fi
echo "compat: no failure outside the baseline ($(wc -l <"$DATA_DIR/known") known failures)"
exit 0
