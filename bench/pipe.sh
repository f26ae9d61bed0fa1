#!/usr/bin/env bash
# bench/pipe.sh BUILD - mass insertion with `redis-cli --pipe`: one client pipelines N SETs
# of V-byte values (generated once into a RESP file) as fast as the server takes them.
# This is the load where a server that reads ahead of what it can run, or moves the rest of
# its input buffer after each command, goes quadratic; the figures are the wall time and
# the server's peak RSS.
#
#   bash bench/pipe.sh build
#
# Targets (bench/lib.bash), each started fresh on free 127.0.0.1 ports with its data in a
# new temp dir: logstord-sync, logstord-periodic, redis-always (AOF, appendfsync always),
# redis-everysec, redis (no persistence: the ceiling).
#
# Environment: PIPE_N=1000000 (SETs), PIPE_VALUE_SIZE=100, PIPE_TARGETS (the list above),
# LOGSTORD=BUILD/logstord, BENCH_LOGSTORD_ARGS (more logstord arguments, for instance
# "--max_inflight 4096"; without --disk_size one sized for the input is added),
# PIPE_TIMEOUT=900 (seconds per run).
set -u
BUILD=${1:-build}
N=${PIPE_N:-1000000}
VSIZE=${PIPE_VALUE_SIZE:-100}
TARGETS=${PIPE_TARGETS:-logstord-sync logstord-periodic redis-always redis-everysec redis}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
TIMEOUT=${PIPE_TIMEOUT:-900}

# logstord's default disk_size (1 GiB) holds about 7 M such records: past it SETs are
# refused (disk full). Size the disk for the load (3x the input) unless the caller did.
case " ${BENCH_LOGSTORD_ARGS:-} " in
*" --disk_size "*) ;;
*) BENCH_LOGSTORD_ARGS="${BENCH_LOGSTORD_ARGS:-} --disk_size $(((N * (VSIZE + 64) * 3 / 1048576 + 1024) / 1024 + 1))gb" ;;
esac

source "$(dirname "$0")/lib.bash"

set_input "$N" "$VSIZE" "$WORK/input.resp"
echo "pipe: $N SETs of $VSIZE bytes, $(stat -c %s "$WORK/input.resp") bytes of input" \
    "${BENCH_LOGSTORD_ARGS:+(logstord $BENCH_LOGSTORD_ARGS)}"

for t in $TARGETS; do
    start_target "$t" || continue
    t0=$(date +%s.%N)
    res=$(timeout "$TIMEOUT" redis-cli -p "$PORT" --pipe <"$WORK/input.resp" 2>&1 | tail -n 1)
    t1=$(date +%s.%N)
    keys=$(redis-cli -p "$PORT" dbsize)
    rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$SRV_PID/status")
    printf 'pipe: %-18s %8.2f s  dbsize %s  peak RSS %s  (%s)\n' "$t" \
        "$(echo "$t1 - $t0" | bc)" "$keys" "$rss" "$res"
    stop_target
done
