#!/usr/bin/env bash
# compat_mc.sh - runs memcached 1.6.18's own protocol tests (its t/*.t, Perl) against a fresh
# logstord per test file and compares the failing files with a tracked baseline.
#
#   make compat                      (runs scripts/compat.sh, then this)
#   bash scripts/compat_mc.sh        (from the repo root)
#
# Environment:
#   COMPAT_MC_FILES     test files to run (default: the issue 13 list below)
#   COMPAT_MC_SRC       the memcached source tarball (default ../shared/tools/
#                       memcached-1.6.18-src.tar.gz from the repo root, then /work/shared/tools)
#   COMPAT_MC_BASELINE  known failing files, "file.t: why" per line
#                       (tests/compat/mc_known_failures.txt)
#   COMPAT_MC_FILE_LIMIT seconds one test file may take (default 300)
#   COMPAT_OUT          keep each file's TAP output in this directory
#   LOGSTORD            the server binary (default build/logstord)
#
# How it works: the tarball is extracted into a temporary directory and its
# t/lib/MemcachedTest.pm is adapted there (the project holds none of its code): the suite
# already has an external-server mode (T_MEMD_USE_DAEMON=host:port), but in that mode its
# handles still signal a pid they do not have (`kill 2, undef` signals our own process
# group) and its feature probes run `memcached-debug -h`. The copy guards the kills with
# the pid and answers the probes from a help text saying what logstord has (no SASL, no
# TLS, no extstore, no proxy, no UDP, no unix socket). mem_move_time sends memcached's
# debug-build command `debugtime N`, which moves its clock N seconds ahead: the copy sleeps
# N seconds instead (expirations.t then takes about 20 s). Each file runs under `timeout`
# against a logstord of its own (fresh data directory, lib.bash's it_start), so one file's
# keys and counters do not leak into the next. The TAP lines are counted: "ok N" passed,
# "not ok N" failed, and a file that stops before its plan is complete counts the missing
# tests as failed. A crash of the server is reported.
#
# Output: per file and in total "N passed, M failed", then the failing files that are not
# in the baseline (exit status 1 when there is any) and the baseline entries that now pass.

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
source tests/integration/lib.bash
it_begin compat_mc "${COMPAT_MC_TOTAL_LIMIT:-3600}"

FILES=${COMPAT_MC_FILES:-"getset incrdecr cas flags noreply expirations touch getandtouch
    multiversioning binary-get bogus-commands quit chunked-items flush-all metaget
    malicious-commands strtol-testing issue_3 issue_41 issue_68 issue_70 issue_104 issue_108
    issue_152 issue_192 stats binary"}
BASELINE=${COMPAT_MC_BASELINE:-$ROOT/tests/compat/mc_known_failures.txt}
FILE_LIMIT=${COMPAT_MC_FILE_LIMIT:-300}
command -v perl >/dev/null || { echo "compat_mc: perl not found"; exit 2; }

WORK=$DATA_DIR/mc-src # DATA_DIR is removed by lib.bash's cleanup
OUT=${COMPAT_OUT:-$DATA_DIR/out}
RESULTS=$DATA_DIR/results # lines "file<TAB>passed<TAB>failed<TAB>note"
mkdir -p "$WORK" "$OUT"
: >"$RESULTS"
it_extract_tool memcached-1.6.18-src.tar.gz "$WORK" "${COMPAT_MC_SRC:-}" || exit 2

# The adaptation (see the header): kills only with a pid, feature probes without a binary.
PM=$WORK/t/lib/MemcachedTest.pm
perl -0pi -e '
    s/(sub DESTROY \{\n\s*my \$self = shift;\n)/$1    return unless \$self->{pid};\n/;
    s/(sub stop \{\n\s*my \$self = shift;\n)/$1    return unless \$self->{pid};\n/;
    s/(sub graceful_stop \{\n\s*my \$self = shift;\n)/$1    return unless \$self->{pid};\n/;
    s/(sub print_help \{\n)/$1    return "-p, --port  -c, --conn-limit (logstord)\\n" if \$ENV{T_MEMD_USE_DAEMON};\n/;
    s/(sub mem_move_time \{\n\s*my \(\$sock, \$move\) = \@_;\n)/$1    if (\$ENV{T_MEMD_USE_DAEMON}) { select undef, undef, undef, \$move + 0.1; return; }\n/;
    s/(sub get_memcached_exe \{\n)/$1    return "\/bin\/false" if \$ENV{T_MEMD_USE_DAEMON};\n/;
' "$PM"
for f in DESTROY stop graceful_stop print_help mem_move_time get_memcached_exe; do
    grep -A3 "sub $f {" "$PM" | grep -q T_MEMD_USE_DAEMON\\\|'self->{pid}' ||
        { echo "compat_mc: could not adapt $f in MemcachedTest.pm"; exit 2; }
done

# The server as the tests expect memcached started: its default connection limit (1024),
# and the options a file passes to new_memcached that logstord has (stats.t: -I 1024, the
# largest item).
file_args() {
    case $1 in
    stats) echo --maxclients 1024 --max_value_size 1024 ;;
    *) echo --maxclients 1024 ;;
    esac
}

SRV_DIR=$DATA_DIR/srv
mc_start() { # FILE
    rm -rf "$SRV_DIR" && mkdir -p "$SRV_DIR"
    LOG=$SRV_DIR/server.log
    # shellcheck disable=SC2046
    DATA_DIR=$SRV_DIR it_start $(file_args "$1") >/dev/null
}

# run_file NAME: one test file against a fresh server; appends its line to $RESULTS.
run_file() {
    local name=$1 out=$OUT/$1.tap note= plan pass fail
    mc_start "$name"
    (cd "$WORK" && T_MEMD_USE_DAEMON=127.0.0.1:$MCPORT exec timeout -k 5 "$FILE_LIMIT" \
        perl -It/lib "t/$name.t" >"$out" 2>&1 </dev/null)
    local st=$?
    [ "$st" = 124 ] && note="time limit ${FILE_LIMIT}s"
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
        note="$note server crashed"
        tail -n 10 "$LOG" | sed 's/^/     /'
    fi
    it_stop TERM
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
    pass=$(grep -c '^ok [0-9]' "$out")
    fail=$(grep -c '^not ok [0-9]' "$out")
    if [ -n "$plan" ] && [ $((pass + fail)) -lt "$plan" ]; then
        note="$note stopped after $((pass + fail)) of $plan"
        fail=$((plan - pass))
    elif [ -z "$plan" ] && [ "$st" != 0 ]; then
        note="$note no plan, exit $st"
        fail=$((fail + 1))
    fi
    [ "$st" != 0 ] && [ "$fail" = 0 ] && note="$note exit $st" && fail=1
    printf '%s\t%d\t%d\t%s\n' "$name" "$pass" "$fail" "$note" >>"$RESULTS"
    printf '%-22s %5d passed, %5d failed %s\n' "$name.t:" "$pass" "$fail" "$note"
    if [ "$fail" != 0 ]; then
        grep -a -A4 '^not ok' "$out" | head -n 12 | sed 's/^/     /'
        grep -a '^Dubious\|^# Looks like\|line [0-9]*\.$' "$out" | head -n 3 | sed 's/^/     /'
    fi
}

trap 'echo "FAIL: compat_mc: time limit reached or interrupted"; exit 124' TERM INT
echo "compat_mc: memcached 1.6.18 tests against logstord (a fresh server per file)"
t_all=$SECONDS
for f in $FILES; do
    run_file "$f"
done
p=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' "$RESULTS")
f=$(awk -F'\t' '{ s += $3 } END { print s + 0 }' "$RESULTS")
nf=$(awk -F'\t' '$3 == 0' "$RESULTS" | wc -l)
printf '%-22s %5d passed, %5d failed  (%d of %d files pass, %ds)\n' "total:" "$p" "$f" \
    "$nf" "$(wc -l <"$RESULTS")" $((SECONDS - t_all))

awk -F'\t' '$3 != 0 { print $1 ".t" }' "$RESULTS" | sort -u >"$DATA_DIR/failing"
awk -F'\t' '$3 == 0 { print $1 ".t" }' "$RESULTS" | sort -u >"$DATA_DIR/passing"
grep -v -e '^#' -e '^[[:space:]]*$' "$BASELINE" 2>/dev/null | sed 's/:.*//' | sort -u \
    >"$DATA_DIR/known"
new=$(comm -23 "$DATA_DIR/failing" "$DATA_DIR/known")
fixed=$(comm -12 "$DATA_DIR/passing" "$DATA_DIR/known")
if [ -n "$fixed" ]; then
    echo
    echo "compat_mc: baseline entries that now pass (remove them from ${BASELINE#"$ROOT"/}):"
    echo "$fixed" | sed 's/^/  /'
fi
if [ -n "$new" ]; then
    echo
    echo "compat_mc: FAIL: failing files not in the baseline ${BASELINE#"$ROOT"/}:"
    echo "$new" | sed 's/^/  /'
    exit 1
fi
echo "compat_mc: no failure outside the baseline ($(wc -l <"$DATA_DIR/known") known failing files)"
exit 0
