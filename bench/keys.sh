#!/usr/bin/env bash
# bench/keys.sh BUILD - whole-keyspace reads: KEYS * and a full SCAN iteration (redis-cli
# --scan, SCAN's default COUNT of 10, and COUNT 1000) over N keys, against each target in
# the same run. logstord keeps no key in memory (its index holds a hash and a location), so
# every key it returns is read from its record; Redis walks its hash table. The figures are
# the wall time, the time per key returned, the server's CPU per key (utime+stime of the
# server process over the keys returned) and the ratio to the last redis target. For logstord
# also the device bytes the command read (INFO device_read_bytes) per key returned and in all:
# a KEYS over 500,000 keys of 100-byte values read about 307 MB, 4 times its records.
#
#   bash bench/keys.sh build
#
# Environment: KEYS_N=500000 (keys, SET key:<i> of KEYS_VALUE_SIZE=100 bytes, loaded with
# redis-cli --pipe), KEYS_TARGETS="logstord-sync redis-everysec", LOGSTORD=BUILD/logstord,
# BENCH_LOGSTORD_ARGS, KEYS_TIMEOUT=300 (seconds per command).
set -u
BUILD=${1:-build}
N=${KEYS_N:-500000}
VSIZE=${KEYS_VALUE_SIZE:-100}
TARGETS=${KEYS_TARGETS:-logstord-sync redis-everysec}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
TIMEOUT=${KEYS_TIMEOUT:-300}

source "$(dirname "$0")/lib.bash"

set_input "$N" "$VSIZE" "$WORK/input.resp"
echo "keys: $N keys of $VSIZE-byte values; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

HZ=$(getconf CLK_TCK)
declare -A WALL CPU

run_one() { # TARGET LABEL COMMAND...
    local t=$1 label=$2
    shift 2
    local c0 c1 t0 t1 got
    local r0 r1 dev=
    r0=$(read_bytes)
    c0=$(server_cpu_ticks)
    t0=$(date +%s.%N)
    got=$(timeout "$TIMEOUT" "$@" | wc -l)
    t1=$(date +%s.%N)
    c1=$(server_cpu_ticks)
    r1=$(read_bytes)
    [ -n "$r0" ] && [ -n "$r1" ] &&
        dev=$(printf '  device read %.0f B/key (%.1f MB)' "$(echo "($r1 - $r0) / ($got + ($got == 0))" | bc -l)" \
            "$(echo "($r1 - $r0) / 1000000" | bc -l)")
    local wall cpu
    wall=$(echo "$t1 - $t0" | bc -l)
    cpu=$(echo "($c1 - $c0) / $HZ" | bc -l)
    WALL[$t,$label]=$wall
    CPU[$t,$label]=$cpu
    printf 'keys: %-16s %-22s %9d keys %8.3f s %7.2f us/key  server CPU %7.2f us/key%s\n' "$t" \
        "$label" "$got" "$wall" "$(echo "$wall * 1000000 / ($got + ($got == 0))" | bc -l)" \
        "$(echo "$cpu * 1000000 / ($got + ($got == 0))" | bc -l)" "$dev"
}

# INFO device_read_bytes of the running target (empty for targets without it: Redis).
read_bytes() {
    redis-cli -p "$PORT" info 2>/dev/null | tr -d '\r' | sed -n 's/^device_read_bytes://p'
}

# redis-cli 7.0 has no --count: a SCAN loop with redis-py (Debian's python3-redis).
SCAN_PY='
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
cur, out = 0, sys.stdout.buffer
while True:
    cur, keys = r.scan(cur, count=int(sys.argv[2]))
    out.write(b"".join(k + b"\n" for k in keys))
    if cur == 0:
        break
'
# A pattern KEYS returns few keys (111 of 300,000): 20 of them on one connection, so that
# the figure is not one clock tick of server CPU and redis-cli's start-up.
KEYS_PY='
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
out = sys.stdout.buffer
for _ in range(int(sys.argv[3])):
    out.write(b"".join(k + b"\n" for k in r.keys(sys.argv[2])))
'
LABELS=("KEYS *" "KEYS key:1234* (x20)" "KEYS *99* (x20)" "SCAN (COUNT 10)" "SCAN COUNT 1000")
for t in $TARGETS; do
    start_target "$t" || continue
    timeout "$TIMEOUT" redis-cli -p "$PORT" --pipe <"$WORK/input.resp" >/dev/null 2>&1
    echo "keys: $t loaded, dbsize $(redis-cli -p "$PORT" dbsize)"
    run_one "$t" "KEYS *" redis-cli -p "$PORT" keys '*'
    run_one "$t" "KEYS key:1234* (x20)" /usr/bin/python3 -c "$KEYS_PY" "$PORT" 'key:1234*' 20
    run_one "$t" "KEYS *99* (x20)" /usr/bin/python3 -c "$KEYS_PY" "$PORT" '*99*' 20
    run_one "$t" "SCAN (COUNT 10)" redis-cli -p "$PORT" --scan
    run_one "$t" "SCAN COUNT 1000" /usr/bin/python3 -c "$SCAN_PY" "$PORT" 1000
    stop_target
done
set -- $TARGETS
peer=
for t in "$@"; do case $t in redis*) peer=$t ;; esac; done
if [ -n "$peer" ]; then
    for t in "$@"; do
        case $t in redis*) continue ;; esac
        for l in "${LABELS[@]}"; do
            [ -n "${WALL[$t,$l]:-}" ] && [ -n "${WALL[$peer,$l]:-}" ] || continue
            cpu="n/a (under one clock tick)"
            [ "$(echo "${CPU[$peer,$l]} > 0" | bc -l)" = 1 ] &&
                cpu=$(printf '%.2fx' "$(echo "${CPU[$t,$l]} / ${CPU[$peer,$l]}" | bc -l)")
            printf 'keys: ratio %-16s %-22s speed %.2fx %s, server CPU %s\n' "$t" "$l" \
                "$(echo "${WALL[$peer,$l]} / ${WALL[$t,$l]}" | bc -l)" "$peer" "$cpu"
        done
    done
fi
