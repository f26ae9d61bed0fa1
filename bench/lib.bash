# bench/lib.bash - the servers of the peer benchmarks (sourced by run.sh and pipe.sh, not
# run): a work directory removed at exit, free loopback ports, and one target at a time
# started fresh and stopped by its PID.
#
#   start_target TARGET   sets PORT MCPORT SRV_PID DIR; returns 1 if unavailable
#   stop_target
# or several at once (run.sh's rb and mc parts run each load on every target in turn):
#   keep_target NAME      keeps the target started last running as NAME (start_target may
#                         then start another)
#   use_target NAME       makes kept NAME the one the runners drive (PORT MCPORT SRV_PID DIR)
#   drop_kept NAME        stops kept NAME; stop_kept stops them all
#   server_cpu_ticks      utime+stime of the running target, in CLK_TCK ticks
#   find_memtier          sets MEMTIER (../shared/tools/build-memtier.sh builds it once)
#   medians FILES...      one result row per load: the medians of its rounds' rows
# Targets: logstord-sync logstord-periodic (with $BENCH_LOGSTORD_ARGS), redis-always
# redis-everysec (AOF), redis (no persistence), memcached (4 worker threads, its default),
# memcached-tN (N worker threads: memcached-t1, memcached-t2).

WORK=$(mktemp -d /tmp/logstor-bench-XXXXXX)
SRV_PID=
declare -A KEPT_PORT=() KEPT_MCPORT=() KEPT_PID=() KEPT_DIR=()
read -r -a LOGSTORD_EXTRA <<<"${BENCH_LOGSTORD_ARGS:-}"

cleanup() {
    [ -n "${TOOL_PID:-}" ] && kill "$TOOL_PID" 2>/dev/null # a load tool run in the background
    local pid
    for pid in "$SRV_PID" "${KEPT_PID[@]}"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench: interrupted"; exit 130' INT TERM

# free_port: a loopback port no socket uses, below Linux's ephemeral range (32768-60999) so
# that no client connection takes it meanwhile. Bash and ss only: a python3 start costs a
# second on a loaded machine, and start_target runs many times in a run.
free_port() {
    local p _
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && echo "$p" && return 0
    done
    return 1
}

target_alive() { # the target runs (a dead child stays a zombie until reaped: state Z)
    local s
    s=$(cat "/proc/$SRV_PID/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [ "${s:0:1}" != Z ]
}

memcached_answers() { # PORT: "version" over the memcached protocol gets VERSION
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'version\r\n' >&"$fd"
    read -r -t 1 line <&"$fd"
    exec {fd}>&-
    [[ $line == VERSION* ]]
}

wait_port() { # PORT KIND(redis|memcached): waits up to 20 s for the target to answer
    local end=$((SECONDS + 20))
    while [ $SECONDS -lt $end ]; do
        target_alive || return 1
        if [ "$2" = redis ]; then # (a server with a password answers NOAUTH)
            case "$(timeout 2 redis-cli -p "$1" ping 2>/dev/null)" in
            PONG | NOAUTH*) return 0 ;;
            esac
        else
            memcached_answers "$1" 2>/dev/null && return 0
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
    memcached | memcached-t[0-9]*)
        local threads=${1#memcached-t}
        [ "$1" = memcached ] && threads=4
        [ "$(id -u)" = 0 ] && root=(-u root)
        memcached -p "$MCPORT" -U 0 -l 127.0.0.1 -m 1024 -t "$threads" "${root[@]}" >"$log" 2>&1 &
        SRV_PID=$! ;;
    *) echo "bench: unknown target $1; skipping it"; return 1 ;;
    esac
    local kind=redis wport=$PORT
    case $1 in memcached*) kind=memcached wport=$MCPORT ;; esac
    if ! wait_port "$wport" "$kind"; then
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

keep_target() { # NAME
    KEPT_PORT[$1]=$PORT KEPT_MCPORT[$1]=$MCPORT KEPT_PID[$1]=$SRV_PID KEPT_DIR[$1]=$DIR
    SRV_PID=
}

use_target() { # NAME
    PORT=${KEPT_PORT[$1]} MCPORT=${KEPT_MCPORT[$1]} SRV_PID=${KEPT_PID[$1]} DIR=${KEPT_DIR[$1]}
}

drop_kept() { # NAME
    use_target "$1"
    stop_target
    unset "KEPT_PORT[$1]" "KEPT_MCPORT[$1]" "KEPT_PID[$1]" "KEPT_DIR[$1]"
}

stop_kept() {
    local name
    for name in "${!KEPT_PID[@]}"; do drop_kept "$name"; done
}

# server_cpu_ticks: utime+stime (fields 14 and 15 of /proc/PID/stat, every thread of the
# process) of the target started last, in CLK_TCK ticks; fails when it is not running. The
# fields are counted after the ")" that ends the command name, which may hold spaces.
server_cpu_ticks() {
    local s
    s=$(cat "/proc/$SRV_PID/stat" 2>/dev/null) || return 1
    s=${s##*) }
    # shellcheck disable=SC2086 # split into the fields that follow the name
    set -- $s
    echo $((${12} + ${13}))
}

# find_memtier: sets MEMTIER to memtier_benchmark unless it is set: the binary
# ../shared/tools/build-memtier.sh builds once (beside the repository, as the integration
# tests find it), else one on PATH. Fails with a message when there is none.
find_memtier() {
    local tools
    tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../shared/tools"
    if [ -z "${MEMTIER:-}" ] && [ -x "$tools/build-memtier.sh" ]; then
        MEMTIER=$(bash "$tools/build-memtier.sh" 2>"$WORK/memtier-build.err" | tail -n 1)
    fi
    [ -n "${MEMTIER:-}" ] || MEMTIER=$(command -v memtier_benchmark)
    [ -x "${MEMTIER:-}" ] && return 0
    echo "bench: no memtier_benchmark (build-memtier.sh:" \
        "$(tail -n 3 "$WORK/memtier-build.err" 2>/dev/null))"
    return 1
}

# set_input N VSIZE FILE: N commands SET key:<i> <value> in RESP into FILE, values of
# exactly VSIZE bytes (redis-cli --pipe input for pipe.sh and keys.sh).
set_input() {
    python3 - "$1" "$2" >"$3" <<'EOF'
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
}

# medians ROUND_FILES...: run.sh's result rows (bench/loads.sh: part target test ops/s p50
# p99 p99.9 cpu/op tool ge1 ge8 ge64 hit, "-" for none) of several rounds -> one row per
# part, target and test, in the first file's order, each figure the median of the rounds
# that have one (the mean of the middle two for an even count), the tool from the first
# row, and a 14th column: the spread of ops/s in percent, (max - min) / median ("-" for
# one round).
medians() {
    awk -F'\t' -v OFS='\t' '
        # the median of a list of figures; leaves cnt, lo and hi (its count, min and max)
        function median(list,   v, i, j, t) {
            cnt = split(list, v, " ")
            for (i = 2; i <= cnt; i++) # insertion sort: a handful of rounds
                for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
                    t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
                }
            lo = v[1]; hi = v[cnt]
            if (cnt == 0) return "-"
            return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
        }
        {
            k = $1 SUBSEP $2 SUBSEP $3
            if (!(k in tool)) { order[++n] = k; tool[k] = $9; key[k] = $1 OFS $2 OFS $3 }
            for (i = 4; i <= 13; i++)
                if (i != 9 && $i != "-" && $i != "") vals[k, i] = vals[k, i] " " $i
        }
        END {
            for (r = 1; r <= n; r++) {
                k = order[r]; ops = median(vals[k, 4])
                spread = cnt > 1 && ops + 0 > 0 ? 100 * (hi - lo) / ops : "-"
                line = key[k] OFS ops
                for (i = 5; i <= 13; i++)
                    line = line OFS (i == 9 ? tool[k] : median(vals[k, i]))
                print line, spread
            }
        }' "$@"
}
