#!/usr/bin/env bash
# bench/rdb.sh BUILD - the Redis migration path's speed (issue 14): N keys of VSIZE random
# hex bytes are loaded into logstord (periodic durability) with redis-cli --pipe; then
# `redis-cli --rdb` of them twice (warm: values still in the record cache; after a restart:
# every value read from the disk), with logstord's CPU for each; redis-server loads the file
# and SAVEs the same data (its RDB for comparison); logstor-load loads it into a fresh
# logstord. Prints wall times, file sizes and keys/s.
#
#   bash bench/rdb.sh build
#
# Environment: RDB_N=200000, RDB_VSIZE=100. Everything on 127.0.0.1, free ports, a temp dir
# removed at exit; every server started here is stopped by its PID.
set -u
BUILD=${1:-build}
N=${RDB_N:-200000}
V=${RDB_VSIZE:-100}
W=$(mktemp -d /tmp/logstor-rdbbench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, 1/100 s
ready() { # PONG, not LOADING
    for _ in $(seq 1 600); do [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
    return 1
}
logstord() { # PORT DIR
    "$BUILD/logstord" --port "$1" --memcached_port 0 --bind 127.0.0.1 --dir "$2" \
        --durability periodic --disk_size 4gb --loglevel notice >>"$2.log" 2>&1 &
    PIDS+=($!)
    ready "$1"
}
mkdir -p "$W/a" "$W/b" "$W/r"
P=$(fp); P2=$(fp); P3=$(fp)
python3 - "$N" "$V" >"$W/cmds" <<'PY'
import random, sys
n, v = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(1)
out = sys.stdout.buffer
for i in range(n):
    k = b"key:%d" % i
    val = r.randbytes((v + 1) // 2).hex().encode()[:v]
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(val), val))
PY
echo "rdb bench: $N keys of $V bytes (random hex), logstord periodic durability"
logstord "$P" "$W/a"
redis-cli -p "$P" --pipe <"$W/cmds" | tail -1
for run in warm after-restart; do
    if [ "$run" = after-restart ]; then
        kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
        logstord "$P" "$W/a"; PIDS=("${PIDS[@]:1}")
    fi
    pid=${PIDS[0]}
    c0=$(cpu "$pid"); t0=$(now)
    redis-cli -p "$P" --rdb "$W/r/dump.rdb" >/dev/null 2>&1 || echo "redis-cli --rdb FAILED"
    t1=$(now); c1=$(cpu "$pid")
    printf 'redis-cli --rdb (%s): %.2f s, %d keys/s, %d bytes, logstord CPU %.2f s\n' "$run" \
        "$(secs "$t0" "$t1")" "$(echo "$N / $(secs "$t0" "$t1")" | bc)" \
        "$(stat -c %s "$W/r/dump.rdb")" "$(echo "($c1 - $c0) / 100" | bc -l)"
done
redis-server --port "$P3" --bind 127.0.0.1 --dir "$W/r" --dbfilename dump.rdb --save '' \
    --appendonly no >"$W/redis.log" 2>&1 &
PIDS+=($!)
ready "$P3"
echo "redis-server: $(grep -o 'DB loaded from disk: .*' "$W/redis.log") ($(redis-cli -p "$P3" dbsize) keys)"
t0=$(now); redis-cli -p "$P3" save >/dev/null; t1=$(now)
printf 'redis-server SAVE of the same data: %.2f s, %d bytes\n' "$(secs "$t0" "$t1")" \
    "$(stat -c %s "$W/r/dump.rdb")"
logstord "$P2" "$W/b"
t0=$(now)
"$BUILD/logstor-load" -p "$P2" "$W/r/dump.rdb" | tail -1
t1=$(now)
printf 'logstor-load: %.2f s, %d keys/s, %s keys in the fresh logstord\n' "$(secs "$t0" "$t1")" \
    "$(echo "$N / $(secs "$t0" "$t1")" | bc)" "$(redis-cli -p "$P2" dbsize)"
