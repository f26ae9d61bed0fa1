# lib.bash - shared harness for the shell integration tests (sourced, not run: the name
# does not end in .sh, so tests/run.sh does not pick it up as a test).
#
#   source "$(dirname "$0")/lib.bash"
#   it_begin NAME [TIME_LIMIT_S]     re-execs under `timeout`, arms the cleanup trap
#   it_start [extra server args...]  starts logstord (or redis-server with TARGET=redis) on
#                                    free ports in DATA_DIR; sets PORT MCPORT SRV_PID
#   it_restart [args...]             same data dir, new process, same ports
#   it_stop [SIG]                    sends SIG (TERM), waits (bounded); sets SRV_STATUS
#   rc ARGS...                       redis-cli against the server, with a timeout
#   expect_eq WHAT GOT WANT          records one check
#   it_finish                        prints the tally, exits 0 or 1
#   it_find_memtier                  exports MEMTIER (built once by ../shared/tools'
#                                    build-memtier.sh, when that script is there)
#
# Everything listens on 127.0.0.1 only; the server is always killed at exit.

IT_FAILS=0
IT_CHECKS=0
SRV_PID=
DATA_DIR=
IS_REAL=0
[ "${TARGET:-}" = redis ] && IS_REAL=1

it_begin() {
    IT_NAME=$1
    local limit=${2:-120}
    if [ -z "${IT_UNDER_TIMEOUT:-}" ]; then
        IT_UNDER_TIMEOUT=1 exec timeout -k 5 "${IT_TIME_LIMIT:-$limit}" bash "$0"
    fi
    trap it_cleanup EXIT
    trap 'echo "FAIL: $IT_NAME: time limit reached or interrupted"; exit 124' TERM INT
    DATA_DIR=$(mktemp -d /tmp/logstor-it-XXXXXX)
    LOG="$DATA_DIR/server.log"
}

it_cleanup() {
    if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
        kill -9 "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    [ -n "$DATA_DIR" ] && [ -z "${IT_KEEP:-}" ] && rm -rf "$DATA_DIR"
    return 0
}

it_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits for PONG (logstord answers -LOADING until its engine is open); with a --requirepass
# among the server's arguments ($IT_PASS, set by it_spawn) it authenticates first (AUTH
# works while loading), else -NOAUTH counts as ready.
it_wait_ready() {
    local i
    local auth=()
    [ -n "${IT_PASS:-}" ] && auth=(--no-auth-warning -a "$IT_PASS")
    for i in $(seq 1 300); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            echo "FAIL: server exited during start-up; log:"; tail -n 20 "$LOG"; return 1
        fi
        case "$(timeout 2 redis-cli -p "$PORT" "${auth[@]}" ping 2>&1)" in
        PONG|NOAUTH*) return 0 ;;
        esac
        sleep 0.05
    done
    echo "FAIL: server not ready on port $PORT after 15 s; log:"; tail -n 20 "$LOG"; return 1
}

it_spawn() {
    local a prev=
    IT_PASS=
    for a in "$@"; do [ "$prev" = --requirepass ] && IT_PASS=$a; prev=$a; done
    if [ "$IS_REAL" = 1 ]; then
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DATA_DIR" \
            "$@" >>"$LOG" 2>&1 &
    else
        "${LOGSTORD:-build/logstord}" --port "$PORT" --memcached_port "$MCPORT" --bind 127.0.0.1 \
            --dir "$DATA_DIR" --durability "${DURABILITY:-sync}" --loglevel warning \
            "$@" >>"$LOG" 2>&1 &
    fi
    SRV_PID=$!
    it_wait_ready || exit 1
}

it_start() {
    PORT=$(it_free_port)
    MCPORT=$(it_free_port)
    echo "$IT_NAME: target $([ "$IS_REAL" = 1 ] && echo redis-server || echo logstord) on 127.0.0.1:$PORT, dir $DATA_DIR"
    it_spawn "$@"
}

it_restart() {
    it_spawn "$@"
}

it_stop() {
    local sig=${1:-TERM} i
    SRV_STATUS=
    [ -z "$SRV_PID" ] && return 0
    kill -s "$sig" "$SRV_PID" 2>/dev/null
    for i in $(seq 1 300); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            wait "$SRV_PID" 2>/dev/null
            SRV_STATUS=$?
            SRV_PID=
            return 0
        fi
        sleep 0.05
    done
    echo "server did not exit within 15 s of SIG$sig; killing it"
    kill -9 "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_STATUS=timeout
    SRV_PID=
}

rc() {
    timeout 20 redis-cli -h 127.0.0.1 -p "$PORT" "$@"
}

expect_eq() { # WHAT GOT WANT
    IT_CHECKS=$((IT_CHECKS + 1))
    if [ "$2" == "$3" ]; then
        printf 'ok   %-60s -> %s\n' "$1" "$(printf '%s' "$2" | head -c 120 | tr '\n' ' ')"
    else
        IT_FAILS=$((IT_FAILS + 1))
        printf 'FAIL %s\n     want %s\n     got  %s\n' "$1" "$3" "$2"
    fi
}

expect_true() { # WHAT (command's status)
    local what=$1; shift
    IT_CHECKS=$((IT_CHECKS + 1))
    if "$@"; then
        echo "ok   $what"
    else
        IT_FAILS=$((IT_FAILS + 1))
        echo "FAIL $what"
    fi
}

section() { echo "-- $*"; }

it_finish() {
    if [ "$IT_FAILS" -ne 0 ]; then
        echo "$IT_NAME: FAILED $IT_FAILS of $IT_CHECKS checks"
        exit 1
    fi
    echo "$IT_NAME: all $IT_CHECKS checks passed"
    exit 0
}

it_find_memtier() { # sets and exports MEMTIER unless set; fails if the build fails
    local tools
    tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../../shared/tools"
    if [ -z "${MEMTIER:-}" ] && [ -x "$tools/build-memtier.sh" ]; then
        MEMTIER=$(bash "$tools/build-memtier.sh" 2>/dev/null | tail -n 1)
        [ -x "$MEMTIER" ] || { echo "FAIL: build-memtier.sh did not build memtier_benchmark"; return 1; }
        export MEMTIER
    fi
    return 0
}

# it_extract_tool TARBALL DEST [PATH]: extracts a source tarball of ../shared/tools (PATH when
# set, else TARBALL found beside the repo or in /work/shared/tools) into DEST, without its top
# directory. Fails with a message naming what is missing.
it_extract_tool() {
    local name=$1 dest=$2 src=${3:-} c
    if [ -z "$src" ]; then
        for c in "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../../shared/tools/$name" \
            "/work/shared/tools/$name"; do
            [ -f "$c" ] && src=$c && break
        done
    fi
    [ -f "$src" ] || { echo "$IT_NAME: $name not found"; return 1; }
    mkdir -p "$dest" && tar -xzf "$src" -C "$dest" --strip-components=1 ||
        { echo "$IT_NAME: cannot extract $src"; return 1; }
}
