#!/usr/bin/env bash
# bench/bullmq.sh BUILD - a job queue's real load (issue 15): BullMQ 5 (npm, pinned in
# tests/clients) runs BULLMQ_JOBS jobs through each target, a Worker of concurrency
# BULLMQ_CONC, the events stream capped at each of BULLMQ_MAXLENS entries (BullMQ's default
# is 10000). Every job is several EVALSHAs of BullMQ's Lua scripts (add, move to active,
# move to finished) and an XADD per event. Prints jobs/s, the server's CPU per job and the
# ratio to the peer of the same durability (logstord-sync / redis-always,
# logstord-periodic / redis-everysec), each target started fresh for each run.
#
#   bash bench/bullmq.sh build      (or make bench-bullmq; installs tests/clients' pinned
#                                    npm packages on first use, as real_clients.sh does)
set -u
BUILD=${1:-build}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
source "$(dirname "$0")/lib.bash"

JOBS=${BULLMQ_JOBS:-4000}
CONC=${BULLMQ_CONC:-16}
MAXLENS=${BULLMQ_MAXLENS:-500 10000}
TARGETS=${BULLMQ_TARGETS:-logstord-sync redis-always logstord-periodic redis-everysec}
HERE=$(cd "$(dirname "$0")" && pwd)
TICK=$(getconf CLK_TCK)
if command -v npm >/dev/null && [ ! -d "$HERE/../tests/clients/node_modules/bullmq" ]; then
    (cd "$HERE/../tests/clients" && timeout 300 npm ci --no-audit --no-fund >/dev/null)
fi
if ! command -v node >/dev/null || [ ! -d "$HERE/../tests/clients/node_modules/bullmq" ]; then
    echo "bullmq: node or tests/clients/node_modules/bullmq missing" \
        "(cd tests/clients && npm ci); nothing measured"
    exit 1
fi
echo "bullmq: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
    "$JOBS jobs, concurrency $CONC"
declare -A RATE
printf '%-18s %7s %10s %14s %8s\n' target maxlen jobs/s "cpu us/job" ratio
for maxlen in $MAXLENS; do
    for t in $TARGETS; do
        start_target "$t" || continue
        c0=$(server_cpu_ticks)
        out=$(node "$HERE/bullmq_rate.js" "$PORT" "$maxlen" "$JOBS" "$CONC" 2>"$WORK/node.err")
        c1=$(server_cpu_ticks)
        stop_target
        rate=$(sed -n 's/.*"jobs_per_s":\([0-9]*\).*/\1/p' <<<"$out")
        if [ -z "$rate" ]; then
            echo "bullmq: $t maxlen $maxlen failed: $out $(tail -n 3 "$WORK/node.err")"
            continue
        fi
        RATE[$t]=$rate
        cpu=$(((c1 - c0) * 1000000 / TICK / JOBS))
        ratio=
        case $t in
        redis-always) [ -n "${RATE[logstord-sync]:-}" ] &&
            ratio=$(awk -v a="${RATE[logstord-sync]}" -v b="$rate" 'BEGIN{printf "%.2fx", a/b}') ;;
        redis-everysec) [ -n "${RATE[logstord-periodic]:-}" ] &&
            ratio=$(awk -v a="${RATE[logstord-periodic]}" -v b="$rate" 'BEGIN{printf "%.2fx", a/b}') ;;
        esac
        printf '%-18s %7s %10s %14s %8s\n' "$t" "$maxlen" "$rate" "$cpu" "$ratio"
    done
    unset RATE
    declare -A RATE
done
