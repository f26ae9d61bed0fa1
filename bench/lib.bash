# bench/lib.bash - the servers of the peer benchmarks (sourced by run.sh and pipe.sh, not
# run): a work directory removed at exit, free loopback ports, and one target at a time
# started fresh and stopped by its PID.
#
#   start_target TARGET   sets PORT MCPORT SRV_PID DIR; returns 1 if unavailable
#   stop_target
# Targets: logstord-sync logstord-periodic (with $BENCH_LOGSTORD_ARGS), redis-always
# redis-everysec (AOF), redis (no persistence), memcached.

WORK=$(mktemp -d /tmp/logstor-bench-XXXXXX)
SRV_PID=
read -r -a LOGSTORD_EXTRA <<<"${BENCH_LOGSTORD_ARGS:-}"

cleanup() {
    if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
        kill -9 "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench: interrupted"; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # PORT KIND(redis|memcached)
    local i
    for i in $(seq 1 300); do
        kill -0 "$SRV_PID" 2>/dev/null || return 1
        if [ "$2" = redis ]; then
            case "$(timeout 2 redis-cli -p "$1" ping 2>/dev/null)" in PONG) return 0 ;; esac
        else
            python3 - "$1" <<'PY' 2>/dev/null && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"version\r\n")
sys.exit(0 if s.recv(100).startswith(b"VERSION") else 1)
PY
        fi
        sleep 0.05
    done
    return 1
}

start_target() { # TARGET -> sets PORT MCPORT SRV_PID DIR; returns 1 if unavailable
    PORT=$(free_port); MCPORT=$(free_port)
    DIR=$(mktemp -d "$WORK/data-XXXXXX")
    local log="$DIR/server.log" root=()
    case $1 in
    logstord-sync | logstord-periodic)
        if [ ! -x "$LOGSTORD" ]; then echo "bench: $LOGSTORD not built; skipping $1"; return 1; fi
        "$LOGSTORD" --port "$PORT" --memcached_port "$MCPORT" --bind 127.0.0.1 --dir "$DIR" \
            --durability "${1#logstord-}" --loglevel warning "${LOGSTORD_EXTRA[@]}" >"$log" 2>&1 &
        SRV_PID=$! ;;
    redis-always | redis-everysec)
        redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly yes \
            --appendfsync "${1#redis-}" --loglevel warning >"$log" 2>&1 &
        SRV_PID=$! ;;
    redis)
        redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
            --loglevel warning >"$log" 2>&1 &
        SRV_PID=$! ;;
    memcached)
        [ "$(id -u)" = 0 ] && root=(-u root)
        memcached -p "$MCPORT" -U 0 -l 127.0.0.1 -m 1024 "${root[@]}" >"$log" 2>&1 &
        SRV_PID=$! ;;
    esac
    if ! wait_port "$([ "$1" = memcached ] && echo "$MCPORT" || echo "$PORT")" \
        "$([ "$1" = memcached ] && echo memcached || echo redis)"; then
        echo "bench: $1 did not start; log:"; tail -n 20 "$log"
        stop_target; return 1
    fi
}

stop_target() {
    if [ -n "$SRV_PID" ]; then
        kill "$SRV_PID" 2>/dev/null
        for _ in $(seq 1 200); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
        SRV_PID=
    fi
}
