#!/usr/bin/env bash
# bench/restart.sh BUILD - restart times (issue 14): N keys of VSIZE bytes loaded with
# redis-cli --pipe, then the time from starting the server to its first PONG (logstord and
# redis answer -LOADING until their data is in):
#   logstord clean      stopped by SIGTERM: the open takes the shutdown checkpoint
#   logstord scan       the same directory without the checkpoint: the full log scan, which
#                       was every restart before the checkpoint (and is a crash restart)
#   logstord crash      killed with SIGKILL under no load: the full scan
#   logstord crash+ckpt killed with SIGKILL after a checkpoint written while running
#                       (checkpoint_interval_ms): the open rolls forward from it
#   redis RDB           redis-server loading the RDB of a SAVE
#   redis AOF           redis-server replaying an appendonly file (appendfsync everysec,
#                       no RDB preamble) after SIGKILL
# and the server's resident memory after each start. Every server is on 127.0.0.1 with
# free ports in a temporary directory removed at exit, and stopped by its PID.
#
#   bash bench/restart.sh build
#
# Environment: RESTART_KEYS="1000000" (a list), RESTART_VSIZES="100 4096" (a list),
# RESTART_STREAM=1 (generate the input into each load instead of a file),
# LOGSTORD=BUILD/logstord, RESTART_REDIS=0 to leave redis-server out (sizes whose data
# does not fit in this machine's memory).
set -u
BUILD=${1:-build}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
source "$(dirname "$0")/lib.bash"

KEYS_LIST=${RESTART_KEYS:-1000000}
VSIZES=${RESTART_VSIZES:-100 4096}
echo "restart: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$SRV_PID/status" 2>/dev/null; }
ready() { # waits for PONG (not -LOADING) from PORT, up to 30 minutes
    local end=$((SECONDS + 1800))
    while [ $SECONDS -lt $end ]; do
        target_alive || return 1
        [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.01
    done
    return 1
}
# timed_start LABEL COMMAND...: starts a server, prints the time to PONG and its memory
timed_start() {
    local label=$1 t0 t1
    shift
    t0=$(now)
    "$@" >>"$SDIR/server.log" 2>&1 &
    SRV_PID=$!
    if ! ready; then
        echo "restart: $label did not start; log:"; tail -n 5 "$SDIR/server.log"
        return 1
    fi
    t1=$(now)
    printf 'restart: %-7s %-19s %9.3f s  %6s MiB  %s keys\n' "$VSIZE" "$label" \
        "$(echo "$t1 - $t0" | bc -l)" "$(rss_mb)" "$(redis-cli -p "$PORT" dbsize)"
}
# feed N VSIZE: with RESTART_STREAM=1, starts writing the input into its fifo
feed() { [ "${RESTART_STREAM:-0}" = 1 ] && { set_input "$1" "$2" "$WORK/input.resp" & }; true; }
kill9() { kill -9 "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=; }

for N in $KEYS_LIST; do
    for VSIZE in $VSIZES; do
        # RESTART_STREAM=1: the input is generated into each load's pipe, not kept in a
        # file (10 M values of 4 KiB would need 41 GB of it)
        if [ "${RESTART_STREAM:-0}" = 1 ]; then
            rm -f "$WORK/input.resp"; mkfifo "$WORK/input.resp"
        else
            set_input "$N" "$VSIZE" "$WORK/input.resp"
        fi
        disk=$(( (N * (VSIZE + 120) * 2 / 1048576 + 256) ))mb
        echo "restart: $N keys of $VSIZE bytes"

        # logstord
        SDIR=$(mktemp -d "$WORK/l-XXXXXX"); PORT=$(free_port)
        LARGS=(--port "$PORT" --memcached_port 0 --bind 127.0.0.1 --dir "$SDIR/d"
            --disk_size "$disk" --loglevel notice)
        "$LOGSTORD" "${LARGS[@]}" >>"$SDIR/server.log" 2>&1 &
        SRV_PID=$!
        ready || { echo "restart: logstord did not start"; tail -5 "$SDIR/server.log"; exit 1; }
        feed "$N" "$VSIZE"; redis-cli -p "$PORT" --pipe <"$WORK/input.resp" | tail -n 1
        t0=$(now); stop_target; t1=$(now)
        printf 'restart: %-7s %-16s %9.3f s (writing the checkpoint: %s bytes)\n' "$VSIZE" \
            "logstord stop" "$(echo "$t1 - $t0" | bc -l)" "$(stat -c %s "$SDIR/d/logstor.ckpt" 2>/dev/null || echo none)"
        timed_start "logstord clean" "$LOGSTORD" "${LARGS[@]}"
        echo "restart:         $(redis-cli -p "$PORT" info | grep -E 'recovery_(ms|from)' | tr -d '\r' | tr '\n' ' ')"
        stop_target
        rm -f "$SDIR/d/logstor.ckpt"
        timed_start "logstord scan" "$LOGSTORD" "${LARGS[@]}"
        kill9
        timed_start "logstord crash" "$LOGSTORD" "${LARGS[@]}"
        stop_target
        # with checkpoints while running: a crash after one rolls forward from it (here
        # nothing was written after it: the time to load it and check the log against it)
        rm -f "$SDIR/d/logstor.ckpt"
        CARGS=("${LARGS[@]}" --checkpoint_interval_ms 1000)
        "$LOGSTORD" "${CARGS[@]}" >>"$SDIR/server.log" 2>&1 &
        SRV_PID=$!
        ready || { echo "restart: logstord did not start"; exit 1; }
        redis-cli -p "$PORT" set restart:marker 1 >/dev/null
        for _ in $(seq 600); do
            [ "$(redis-cli -p "$PORT" info persistence | tr -d '\r' | awk -F: '/^checkpoints:/ {print $2}')" -ge 1 ] 2>/dev/null && break
            sleep 0.1
        done
        kill9
        timed_start "logstord crash+ckpt" "$LOGSTORD" "${CARGS[@]}"
        echo "restart:         $(redis-cli -p "$PORT" info | grep -E 'recovery_(ms|from|segments|heads)' | tr -d '\r' | tr '\n' ' ')"
        stop_target
        rm -rf "$SDIR"

        [ "${RESTART_REDIS:-1}" = 0 ] && continue
        # redis: RDB
        SDIR=$(mktemp -d "$WORK/r-XXXXXX"); PORT=$(free_port)
        RARGS=(--port "$PORT" --bind 127.0.0.1 --dir "$SDIR" --save '' --loglevel warning)
        redis-server "${RARGS[@]}" --appendonly no >>"$SDIR/server.log" 2>&1 &
        SRV_PID=$!
        ready || { echo "restart: redis did not start"; exit 1; }
        feed "$N" "$VSIZE"; redis-cli -p "$PORT" --pipe <"$WORK/input.resp" | tail -n 1
        redis-cli -p "$PORT" save >/dev/null
        kill9
        timed_start "redis RDB" redis-server "${RARGS[@]}" --appendonly no
        stop_target
        rm -rf "$SDIR"

        # redis: AOF replay
        SDIR=$(mktemp -d "$WORK/a-XXXXXX"); PORT=$(free_port)
        RARGS=(--port "$PORT" --bind 127.0.0.1 --dir "$SDIR" --save '' --loglevel warning
            --appendonly yes --appendfsync everysec --aof-use-rdb-preamble no
            --auto-aof-rewrite-percentage 0)
        redis-server "${RARGS[@]}" >>"$SDIR/server.log" 2>&1 &
        SRV_PID=$!
        ready || { echo "restart: redis did not start"; exit 1; }
        feed "$N" "$VSIZE"; redis-cli -p "$PORT" --pipe <"$WORK/input.resp" | tail -n 1
        sleep 2 # everysec: the last second reaches the file
        kill9
        timed_start "redis AOF" redis-server "${RARGS[@]}"
        stop_target
        rm -rf "$SDIR"
    done
done
