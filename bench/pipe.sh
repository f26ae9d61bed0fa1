#!/usr/bin/env bash
# bench/pipe.sh BUILD - mass insertion with `redis-cli --pipe`: one client pipelines N SETs
# of V-byte values (generated once into a RESP file) as fast as the server takes them.
# This is the load where a server that reads ahead of what it can run, or moves the rest of
# its input buffer after each command, goes quadratic; the figure is the wall time.
#
#   bash bench/pipe.sh build
#
# Targets, each started fresh on a free 127.0.0.1 port with its data in a new temp dir:
#   logstord-sync       logstord --durability sync
#   logstord-periodic   logstord --durability periodic
#   redis               redis-server --save '' --appendonly no (memory only: the ceiling)
#
# Environment: PIPE_N=1000000 (SETs), PIPE_VALUE_SIZE=100, PIPE_TARGETS (the list above),
# LOGSTORD=BUILD/logstord, PIPE_TIMEOUT=900 (seconds per run).
set -u
BUILD=${1:-build}
N=${PIPE_N:-1000000}
VSIZE=${PIPE_VALUE_SIZE:-100}
TARGETS=${PIPE_TARGETS:-logstord-sync logstord-periodic redis}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
TIMEOUT=${PIPE_TIMEOUT:-900}

WORK=$(mktemp -d /tmp/logstor-pipe-XXXXXX)
SRV_PID=
cleanup() {
    if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
        kill -9 "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "pipe: interrupted"; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The input: SET key:<i> <value> in RESP, values of exactly VSIZE bytes.
python3 - "$N" "$VSIZE" >"$WORK/input.resp" <<'EOF'
import sys
n, vsize = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
val = b"v" * vsize
chunk = []
for i in range(n):
    k = b"key:%d" % i
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, vsize, val))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
EOF
echo "pipe: $N SETs of $VSIZE bytes, $(stat -c %s "$WORK/input.resp") bytes of input"

wait_ready() {
    local i
    for i in $(seq 1 300); do
        redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    return 1
}

for t in $TARGETS; do
    port=$(free_port)
    dir=$(mktemp -d "$WORK/$t-XXXX")
    case $t in
    logstord-sync | logstord-periodic)
        "$LOGSTORD" --port "$port" --memcached_port 0 --bind 127.0.0.1 --dir "$dir" \
            --durability "${t#logstord-}" --loglevel warning >"$dir/log" 2>&1 &
        ;;
    redis)
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
            >"$dir/log" 2>&1 &
        ;;
    *) echo "pipe: unknown target $t"; continue ;;
    esac
    SRV_PID=$!
    if ! wait_ready "$port"; then
        echo "pipe: $t did not start"; tail "$dir/log"; kill -9 "$SRV_PID"; SRV_PID=; continue
    fi
    t0=$(date +%s.%N)
    res=$(timeout "$TIMEOUT" redis-cli -p "$port" --pipe <"$WORK/input.resp" 2>&1 | tail -n 1)
    t1=$(date +%s.%N)
    keys=$(redis-cli -p "$port" dbsize)
    rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$SRV_PID/status")
    printf 'pipe: %-18s %8.2f s  dbsize %s  peak RSS %s  (%s)\n' "$t" \
        "$(echo "$t1 - $t0" | bc)" "$keys" "$rss" "$res"
    kill "$SRV_PID"
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
done
