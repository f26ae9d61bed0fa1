#!/usr/bin/env bash
# bench/coll.sh BUILD - Redis data types (issue 15): logstord against redis-server in one
# run, each target started fresh, with the server's CPU per operation and the ratio to
# the peer of the same durability (logstord-sync / redis-always, logstord-periodic /
# redis-everysec):
#   HSET / HGET        small hashes: HSET h:<r> f<..> v, HGET h:<r> f1 over COLL_KEYS keys
#   SADD / SISMEMBER   small sets: SADD s:<r> m<..>, SISMEMBER s:<r> m1
#   ZADD / ZRANGE      small sorted sets: ZADD z:<r> <score> m<..>, ZRANGE z:<r> 0 9
#   LPUSH / RPOP       one queue: COLL_QUEUE pushes, then as many pops (past 128 elements
#                      the list is in pages: a push or pop writes one page and the root)
#   BIG-HSET / BIG-HGET, BIG-SADD / BIG-SISMEMBER
#                      one hash and one set, COLL_N writes of random fields (members) out
#                      of COLL_BIG, then as many reads (past 128 they are in hash-bucket
#                      pages: an HSET reads and writes one bucket and the root)
#   BIG-ZADD / BIG-ZRANGE
#                      one sorted set of COLL_BIG members (loaded with ZADDs of 100,000
#                      members, the time printed), then COLL_N ZADDs of random members and
#                      scores, and as many ZRANGE bigzset <r> +inf BYSCORE LIMIT 0 10 (past
#                      128 members it is hash buckets and a B+tree: a ZADD reads and writes
#                      a bucket and the tree's path, a ZRANGE reads one path)
#   BIG-ZADD-k         ZADDs of k random members into that set (one client; COLL_ZADD_KS,
#                      default "8 16 32"; N/10 of them up to 16 members, 10 past it)
# (redis-benchmark -c COLL_CLIENTS -n COLL_N -r COLL_KEYS, one invocation per command), and
# then memory: COLL_HASHES small hashes of 10 fields (field f0..f9, 8-byte values) loaded
# with redis-cli --pipe: logstord's resident memory and INFO index_bytes, redis's
# used_memory and resident memory, per hash and per field.
#
#   bash bench/coll.sh build
#
# Then memory of one list of COLL_LIST_ELEMS elements, of one hash of COLL_BIG fields and
# of one sorted set of COLL_ZSET_ELEMS members (logstord: index bytes per element with its
# large form's pages; redis: used_memory per element).
# Environment: COLL_N (100000), COLL_KEYS (100000), COLL_CLIENTS (50), COLL_QUEUE (20000),
# COLL_HASHES (1000000), COLL_BIG (1000000), COLL_LIST_ELEMS (1000000), COLL_ZSET_ELEMS
# (10000000), COLL_TARGETS (logstord-sync redis-always logstord-periodic redis-everysec),
# COLL_MEM_TARGETS (logstord-periodic redis: the memory parts).
set -u
BUILD=${1:-build}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
source "$(dirname "$0")/lib.bash"

N=${COLL_N:-100000}
KEYS=${COLL_KEYS:-100000}
CLIENTS=${COLL_CLIENTS:-50}
QUEUE=${COLL_QUEUE:-20000}
HASHES=${COLL_HASHES:-1000000}
BIG=${COLL_BIG:-1000000}
TARGETS=${COLL_TARGETS:-logstord-sync redis-always logstord-periodic redis-everysec}
ZADD_KS=${COLL_ZADD_KS:-8 16 32}
MEM_TARGETS=${COLL_MEM_TARGETS:-logstord-periodic redis}
LOGSTORD_EXTRA=()
TICK=$(getconf CLK_TCK)
declare -A RATE
echo "coll: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "coll: redis-benchmark -c $CLIENTS -n $N -r $KEYS; queue of $QUEUE"

# rb LABEL N ARGS...: one redis-benchmark run of a command; prints ops/s and server CPU/op
rb() {
    local label=$1 n=$2 c0 c1 out rps
    shift 2
    c0=$(server_cpu_ticks)
    out=$(redis-benchmark -p "$PORT" -c "$CLIENTS" -n "$n" -r "${RB_R:-$KEYS}" --csv "$@" 2>/dev/null | tail -n 1)
    c1=$(server_cpu_ticks)
    rps=$(echo "$out" | cut -d, -f2 | tr -d '"')
    RATE[$T/$label]=$rps
    printf 'coll: %-18s %-10s %10.0f ops/s  %6.1f us CPU/op\n' "$T" "$label" "$rps" \
        "$(echo "($c1 - $c0) * 1000000 / $TICK / $n" | bc -l)"
}

# one sorted set of BIG members: ZADDs of 100,000 members (scores i * 7919 mod BIG)
python3 - "$BIG" >"$WORK/bigzset.resp" <<'EOF4'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, n, 100000):
    parts = [b"ZADD", b"bigzset"]
    for i in range(start, min(n, start + 100000)):
        parts += [b"%d" % ((i * 7919) % n), b"m%07d" % i]
    out.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
EOF4

for T in $TARGETS; do
    start_target "$T" || continue
    rb HSET "$N" hset "h:__rand_int__" "f__rand_int__" "vvvvvvvv"
    rb HGET "$N" hget "h:__rand_int__" "f1"
    rb SADD "$N" sadd "s:__rand_int__" "m__rand_int__"
    rb SISMEMBER "$N" sismember "s:__rand_int__" "m1"
    rb ZADD "$N" zadd "z:__rand_int__" "__rand_int__" "m__rand_int__"
    rb ZRANGE "$N" zrange "z:__rand_int__" 0 9
    rb LPUSH "$QUEUE" lpush queue "vvvvvvvv"
    rb RPOP "$QUEUE" rpop queue
    RB_R=$BIG rb BIG-HSET "$N" hset bighash "f__rand_int__" "vvvvvvvv"
    RB_R=$BIG rb BIG-HGET "$N" hget bighash "f__rand_int__"
    RB_R=$BIG rb BIG-SADD "$N" sadd bigset "m__rand_int__"
    RB_R=$BIG rb BIG-SISMEMBER "$N" sismember bigset "m__rand_int__"
    t0=$(date +%s.%N)
    redis-cli -p "$PORT" --pipe <"$WORK/bigzset.resp" >/dev/null
    printf 'coll: %-18s bigzset of %d members loaded in %.1f s\n' "$T" \
        "$(redis-cli -p "$PORT" zcard bigzset)" "$(echo "$(date +%s.%N) - $t0" | bc -l)"
    RB_R=$BIG rb BIG-ZADD "$N" zadd bigzset "__rand_int__" "m__rand_int__"
    RB_R=$BIG rb BIG-ZRANGE "$N" zrange bigzset "__rand_int__" +inf byscore limit 0 10
    # ZADDs of k random members into the big set: up to about 16 they fit one batch
    # (native), past it each one rewrites the whole set (the README's write cliff)
    for k in $ZADD_KS; do
        args=()
        for ((j = 0; j < k; j++)); do args+=("__rand_int__" "m__rand_int__"); done
        n=$((k <= 16 ? N / 10 : 10))
        CLIENTS=1 RB_R=$BIG rb "BIG-ZADD-$k" "$n" zadd bigzset "${args[@]}"
    done
    stop_target
done
for pair in "logstord-sync redis-always" "logstord-periodic redis-everysec"; do
    set -- $pair
    for t in HSET HGET SADD SISMEMBER ZADD ZRANGE LPUSH RPOP BIG-HSET BIG-HGET BIG-SADD \
        BIG-SISMEMBER BIG-ZADD BIG-ZRANGE $(for k in $ZADD_KS; do echo "BIG-ZADD-$k"; done); do
        a=${RATE[$1/$t]:-} b=${RATE[$2/$t]:-}
        [ -n "$a" ] && [ -n "$b" ] &&
            printf 'coll: ratio %-17s / %-14s %-10s %5.2fx\n' "$1" "$2" "$t" "$(echo "$a / $b" | bc -l)"
    done
done

# memory: one list of LIST_ELEMS elements (8-byte values, RPUSH of 1000 at a time)
python3 - "${COLL_LIST_ELEMS:-1000000}" >"$WORK/list.resp" <<'EOF2'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, n, 1000):
    parts = [b"RPUSH", b"biglist"] + [b"e%07d" % (i % 10000000) for i in range(start, min(n, start + 1000))]
    out.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
EOF2
for T in $MEM_TARGETS; do
    start_target "$T" || continue
    redis-cli -p "$PORT" --pipe <"$WORK/list.resp" | tail -n 1 | sed 's/^/coll: /'
    sleep 1
    n=$(redis-cli -p "$PORT" llen biglist)
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$SRV_PID/status")
    if [ "$T" = redis ]; then
        used=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
        printf 'coll: %-18s one list of %d elements: used_memory %.1f MiB (%.2f B/element), RSS %.1f MiB\n' \
            "$T" "$n" "$(echo "$used / 1048576" | bc -l)" "$(echo "$used / $n" | bc -l)" \
            "$(echo "$rss / 1048576" | bc -l)"
    else
        idx=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^index_bytes:/ {print $2}')
        pages=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^large_pages:/ {print $2}')
        printf 'coll: %-18s one list of %d elements in %d pages: index %.2f MiB (%.2f B/element), RSS %.1f MiB\n' \
            "$T" "$n" "$pages" "$(echo "$idx / 1048576" | bc -l)" "$(echo "$idx / $n" | bc -l)" \
            "$(echo "$rss / 1048576" | bc -l)"
    fi
    stop_target
done

# memory: one hash of BIG fields (8-byte values, HSET of 10 fields at a time: each such
# HSET of a large hash reads and writes only its buckets)
python3 - "$BIG" >"$WORK/bighash.resp" <<'EOF3'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, n, 10):
    parts = [b"HSET", b"bighash"]
    for i in range(start, min(n, start + 10)):
        parts += [b"f%07d" % i, b"v%07d" % i]
    out.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
EOF3
for T in $MEM_TARGETS; do
    start_target "$T" || continue
    t0=$(date +%s.%N)
    redis-cli -p "$PORT" --pipe <"$WORK/bighash.resp" | tail -n 1 | sed 's/^/coll: /'
    t1=$(date +%s.%N)
    sleep 1
    n=$(redis-cli -p "$PORT" hlen bighash)
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$SRV_PID/status")
    if [ "$T" = redis ]; then
        used=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
        printf 'coll: %-18s one hash of %d fields (loaded in %.1f s): used_memory %.1f MiB (%.2f B/field), RSS %.1f MiB\n' \
            "$T" "$n" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$used / 1048576" | bc -l)" \
            "$(echo "$used / $n" | bc -l)" "$(echo "$rss / 1048576" | bc -l)"
    else
        idx=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^index_bytes:/ {print $2}')
        pages=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^large_pages:/ {print $2}')
        printf 'coll: %-18s one hash of %d fields (loaded in %.1f s) in %d pages: index %.2f MiB (%.2f B/field), RSS %.1f MiB\n' \
            "$T" "$n" "$(echo "$t1 - $t0" | bc -l)" "$pages" "$(echo "$idx / 1048576" | bc -l)" \
            "$(echo "$idx / $n" | bc -l)" "$(echo "$rss / 1048576" | bc -l)"
    fi
    stop_target
done

# memory: one sorted set of ZSET_ELEMS members (8-byte members, integer scores): 20 sorted
# sets of ZSET_ELEMS / 20 members, each one ZADD, then ZUNIONSTORE of them into one and DEL
# of the parts. logstord's index is printed when the reaper has deleted the parts' pages
# and again after a restart (the engine's index keeps the memory of keys deleted while it
# runs: see the README).
ZSET_ELEMS=${COLL_ZSET_ELEMS:-10000000}
python3 - "$ZSET_ELEMS" >"$WORK/zsets.resp" <<'EOF5'
import sys
n = int(sys.argv[1])
part = (n + 19) // 20
out = sys.stdout.buffer
for start in range(0, n, part):
    parts = [b"ZADD", b"zpart:%d" % (start // part)]
    for i in range(start, min(n, start + part)):
        parts += [b"%d" % ((i * 7919) % n), b"m%07d" % i]
    out.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
EOF5
zset_index() { # prints logstord's index bytes per member of zbig (n members) and RSS
    local idx pages rss
    idx=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^index_bytes:/ {print $2}')
    pages=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^large_pages:/ {print $2}')
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$SRV_PID/status")
    printf 'coll: %-18s one sorted set of %d members, %s: %d pages, index %.2f MiB (%.2f B/member), RSS %.1f MiB\n' \
        "$T" "$2" "$1" "$pages" "$(echo "$idx / 1048576" | bc -l)" "$(echo "$idx / $2" | bc -l)" \
        "$(echo "$rss / 1048576" | bc -l)"
}
for T in $MEM_TARGETS; do
    start_target "$T" || continue
    t0=$(date +%s.%N)
    redis-cli -p "$PORT" --pipe <"$WORK/zsets.resp" | tail -n 1 | sed 's/^/coll: /'
    redis-cli -p "$PORT" zunionstore zbig 20 $(printf 'zpart:%d ' $(seq 0 19)) >/dev/null
    t1=$(date +%s.%N)
    redis-cli -p "$PORT" del $(printf 'zpart:%d ' $(seq 0 19)) >/dev/null
    n=$(redis-cli -p "$PORT" zcard zbig)
    printf 'coll: %-18s one sorted set of %d members loaded in %.1f s (20 ZADDs, ZUNIONSTORE)\n' \
        "$T" "$n" "$(echo "$t1 - $t0" | bc -l)"
    if [ "$T" = redis ]; then
        used=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
        rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$SRV_PID/status")
        printf 'coll: %-18s one sorted set of %d members: used_memory %.1f MiB (%.2f B/member), RSS %.1f MiB\n' \
            "$T" "$n" "$(echo "$used / 1048576" | bc -l)" "$(echo "$used / $n" | bc -l)" \
            "$(echo "$rss / 1048576" | bc -l)"
    else
        for _ in $(seq 1 120); do # the reaper: the parts' pages
            [ "$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^large_versions:/ {print $2}')" = 1 ] && break
            sleep 1
        done
        sleep 2 # settled: the heap given back (heap_trims), once a second
        zset_index "after the load" "$n"
        kill "$SRV_PID"
        wait "$SRV_PID" 2>/dev/null
        "$LOGSTORD" --port "$PORT" --memcached_port "$MCPORT" --bind 127.0.0.1 --dir "$DIR" \
            --durability periodic --loglevel warning "${LOGSTORD_EXTRA[@]}" >>"$DIR/server.log" 2>&1 &
        SRV_PID=$!
        wait_port "$PORT" redis && zset_index "after a restart" "$(redis-cli -p "$PORT" zcard zbig)"
    fi
    stop_target
done

# memory: HASHES hashes of 10 fields
python3 - "$HASHES" >"$WORK/hashes.resp" <<'EOF'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
chunk = []
for i in range(n):
    k = b"hash:%d" % i
    parts = [b"HSET", k]
    for f in range(10):
        parts += [b"f%d" % f, b"v%07d" % (i % 10000000)]
    chunk.append(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
EOF
for T in $MEM_TARGETS; do
    start_target "$T" || continue
    redis-cli -p "$PORT" --pipe <"$WORK/hashes.resp" | tail -n 1 | sed 's/^/coll: /'
    sleep 1
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$SRV_PID/status")
    if [ "$T" = redis ]; then
        used=$(redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')
        printf 'coll: %-18s %d hashes of 10 fields: used_memory %.1f MiB (%.1f B/hash, %.1f B/field), RSS %.1f MiB\n' \
            "$T" "$HASHES" "$(echo "$used / 1048576" | bc -l)" "$(echo "$used / $HASHES" | bc -l)" \
            "$(echo "$used / $HASHES / 10" | bc -l)" "$(echo "$rss / 1048576" | bc -l)"
    else
        idx=$(redis-cli -p "$PORT" info logstor | tr -d '\r' | awk -F: '/^index_bytes:/ {print $2}')
        printf 'coll: %-18s %d hashes of 10 fields: index %.1f MiB (%.1f B/hash, %.1f B/field), RSS %.1f MiB (%.1f B/hash)\n' \
            "$T" "$HASHES" "$(echo "$idx / 1048576" | bc -l)" "$(echo "$idx / $HASHES" | bc -l)" \
            "$(echo "$idx / $HASHES / 10" | bc -l)" "$(echo "$rss / 1048576" | bc -l)" \
            "$(echo "$rss / $HASHES" | bc -l)"
    fi
    stop_target
done
