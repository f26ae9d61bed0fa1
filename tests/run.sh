#!/usr/bin/env bash
# Runs the test suites and prints one closing line "tests: N passed, N failed".
#   tests/run.sh BUILD [unit|crash|integration|fuzz ...]   (default: all of them)
# Unit tests: every build/tests/test_* binary, then the same under build/san (ASan+UBSan).
# Crash: build/tests/crash_* with their default (short) cycle counts; SOAK=1 runs long.
# Integration: every tests/integration/*.sh and build/tests/it_* binary; each starts its
# own logstord on a free loopback port.
# Fuzz: each libFuzzer target for FUZZ_SECONDS (default 20) when clang can build them.
set -u
build=${1:-build}; shift || true
suites=${*:-unit sim crash integration fuzz}
pass=0; fail=0; failed=()
# A failed test's own failure lines are repeated at the end, next to the closing line, so
# that a CI log's tail says what failed and not only which test: with the two lines after
# each (a check's want/got) and the seed a randomized test printed.
why=$(mktemp); out=$(mktemp); trap 'rm -f "$why" "$out"' EXIT
run() { # name cmd...
    local name=$1; shift
    echo "=== $name"
    set -o pipefail
    if "$@" 2>&1 | tee "$out"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); failed+=("$name"); echo "FAILED: $name"
        { echo "--- $name:"; grep -aE -A2 'FAIL|not ok|[Aa]ssert|ERROR|error:|Sanitizer|Segmentation|Timeout|timed out' "$out" |
            grep -avE '^(===|--$)' | tail -n 24
            grep -aiE -m1 'seed [0-9]' "$out"; } >> "$why"
    fi
    set +o pipefail
}
export LOGSTORD="$PWD/$build/logstord"
export LOGSTOR_BUILD="$PWD/$build"
for s in $suites; do
    case $s in
    unit)
        for t in "$build"/tests/test_*; do [ -x "$t" ] && run "unit $(basename "$t")" "$t"; done
        for t in build/san/tests/test_*; do [ -x "$t" ] && run "asan+ubsan $(basename "$t")" "$t"; done ;;
    sim)
        # The deterministic simulator (tests/sim): seeds from SIM_FIRST up, for a time
        # budget; a failure prints its seed and replays with `sim_engine --seed N -v`.
        # The ASan+UBSan build runs a shorter budget of seeds after it.
        if [ -n "${SOAK:-}" ]; then budget=${SIM_SECONDS:-3600}; else budget=${SIM_SECONDS:-90}; fi
        [ -x "$build/tests/sim_engine" ] &&
            run "sim sim_engine (${budget}s)" "$build/tests/sim_engine" --first "${SIM_FIRST:-1}" --seconds "$budget" --known tests/sim/known_failing.txt
        # seeds of fixed bugs beyond the range the budget reaches (tests/sim/regress.txt)
        [ -x "$build/tests/sim_engine" ] &&
            run "sim regression seeds" sh -c 'for s in $(grep -o "^[0-9][0-9]*" tests/sim/regress.txt); do "$0" --seed "$s" || exit 1; done' "$build/tests/sim_engine"
        # checkpoints while running (experimental, off by default): the seeds of fixed
        # bugs always, a time budget of random seeds in the soak
        [ -x "$build/tests/sim_engine" ] &&
            run "sim regression seeds, checkpoints" sh -c 'for s in $(grep -o "^[0-9][0-9]*" tests/sim/regress_ckpt.txt); do "$0" --seed "$s" --checkpoints || exit 1; done' "$build/tests/sim_engine"
        [ -x "$build/tests/sim_engine" ] &&
            run "sim regression seeds, checkpoints and snapshots" sh -c 'for s in $(grep -o "^[0-9][0-9]*" tests/sim/regress_snap.txt); do "$0" --seed "$s" --checkpoints --snapshots || exit 1; done' "$build/tests/sim_engine"
        # checkpoints while running (logstord's default) and snapshots with rollbacks: a
        # short budget of their own seeds in every run
        if [ -n "${SOAK:-}" ]; then snap_budget=${SIM_SNAP_SECONDS:-600}; else snap_budget=${SIM_SNAP_SECONDS:-30}; fi
        [ -x "$build/tests/sim_engine" ] &&
            run "sim sim_engine --checkpoints --snapshots (${snap_budget}s)" "$build/tests/sim_engine" --first "${SIM_SNAP_FIRST:-700001}" --seconds "$snap_budget" --checkpoints --snapshots
        [ -n "${SOAK:-}" ] && [ -x "$build/tests/sim_engine" ] &&
            run "sim sim_engine --checkpoints (${SIM_CKPT_SECONDS:-600}s)" "$build/tests/sim_engine" --first "${SIM_CKPT_FIRST:-500001}" --seconds "${SIM_CKPT_SECONDS:-600}" --checkpoints
        [ -x build/san/tests/sim_engine ] &&
            run "asan+ubsan sim_engine (30s)" build/san/tests/sim_engine --first "${SIM_SAN_FIRST:-100001}" --seconds "${SIM_SAN_SECONDS:-30}" --known tests/sim/known_failing.txt ;;
    crash)
        for t in "$build"/tests/crash_*; do [ -x "$t" ] && run "crash $(basename "$t")" "$t"; done
        # the same with a 64 MiB disk: overwritten twice over 40 cycles, compaction busy,
        # under both policies (before blank segments were kept, cost-benefit here found no
        # free segment after a restart about 1 run in 3)
        [ -x "$build/tests/crash_engine" ] &&
            run "crash crash_engine (compaction busy)" env CRASH_DISK_MB=64 "$build/tests/crash_engine" 40
        [ -x "$build/tests/crash_engine" ] &&
            run "crash crash_engine (compaction busy, cost-benefit)" \
                env CRASH_DISK_MB=64 CRASH_POLICY=cost-benefit "$build/tests/crash_engine" 40
        # snapshots made and dropped while killed, each copy verified; and checkpoints
        # while running (experimental) with the reopen rolling forward
        [ -x "$build/tests/crash_engine" ] &&
            run "crash crash_engine (snapshots, checkpoints)" \
                env CRASH_DISK_MB=64 CRASH_SNAPSHOTS=1 CRASH_CHECKPOINT_MS=100 "$build/tests/crash_engine" 30 ;;
    integration)
        for t in "$build"/tests/it_*; do [ -x "$t" ] && run "integration $(basename "$t")" "$t"; done
        for t in tests/integration/*.sh; do [ -f "$t" ] && run "integration $(basename "$t")" bash "$t"; done ;;
    fuzz)
        if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
            if make -s fuzz >/dev/null; then
                for t in build/fuzz/fuzz_*; do
                    # New inputs go to a scratch corpus (the first directory), so the
                    # tracked seeds stay as they are.
                    scratch=$(mktemp -d)
                    run "fuzz $(basename "$t")" "$t" -max_total_time="${FUZZ_SECONDS:-20}" \
                        -rss_limit_mb=2048 -print_final_stats=0 "$scratch" \
                        "tests/fuzz/corpus/$(basename "$t")"
                    rm -rf "$scratch"
                done
            else
                run "fuzz build" false
            fi
        fi ;;
    esac
done
echo
cat "$why"
for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
