# shellcheck shell=bash
# bench/loads.sh - the load runs of bench/run.sh (sourced by it after lib.bash, not run).
# Each runner drives the target lib.bash started last (PORT, MCPORT, SRV_PID), measures the
# server's CPU over its own invocation of the load tool, and appends one row per figure to
# $RESULTS, tab-separated:
#   part target test ops/s p50_ms p99_ms p99.9_ms cpu_us/op tool share>=1ms share>=8ms
#   share>=64ms get_hit%
# ("-" where the tool gives no such figure). A tool that fails, times out or outlives its
# target is reported through bench_fail and its row left out; runners return 1 when the
# target died, so that the caller skips the target's remaining loads.
#
#   rb_one TARGET TEST PIPELINE        redis-benchmark -t TEST (set get incr mset)
#   mc_one TARGET OP PIPELINE          mcload OP (set get) against MCPORT
#   mt_one PART TARGET TEST PROTO PORT SECONDS ARGS...
#                                      memtier_benchmark --test-time SECONDS, figures of
#                                      all operations (PART memtier) or per command (rate)
#   build_mcload                       compiles mcload into $WORK
# Needs: N CLIENTS VSIZE KEYSPACE RUN_TIMEOUT MEMTIER HZ WORK RESULTS, bench_fail.

# ---- CPU of the server, and a tool run that watches it ---------------------------------------
cpu_mark() { CPU_MARK=$(server_cpu_ticks) || CPU_MARK=; }
cpu_stop() { CPU_END=$(server_cpu_ticks) || CPU_END=; }

cpu_per_op() { # OPS -> microseconds of server CPU per operation from cpu_mark to cpu_stop, or "-"
    awk -v a="$CPU_MARK" -v b="$CPU_END" -v hz="$HZ" -v n="$1" 'BEGIN {
        if (a == "" || b == "" || n + 0 <= 0) print "-"
        else printf "%.2f", (b - a) * 1e6 / hz / n }'
}

# run_tool SECONDS OUT ERR COMMAND...: runs COMMAND with stdout to OUT, stderr to ERR, killed
# after SECONDS; returns its status, 124 on the time limit, 125 if the target died meanwhile
# (redis-benchmark retries a lost server for ever).
run_tool() {
    local secs=$1 out=$2 err=$3 st
    shift 3
    timeout -k 5 "$secs" "$@" >"$out" 2>"$err" &
    TOOL_PID=$!
    while kill -0 "$TOOL_PID" 2>/dev/null; do
        if ! target_alive; then
            kill "$TOOL_PID" 2>/dev/null
            wait "$TOOL_PID" 2>/dev/null
            TOOL_PID=
            return 125
        fi
        sleep 0.05
    done
    wait "$TOOL_PID"
    st=$?
    TOOL_PID=
    return $st
}

# tool_failed TARGET WHAT STATUS ERRFILE: reports a failed run; returns 1 when the target died.
tool_failed() {
    case $3 in
    125) bench_fail "$1 died during $2; its remaining loads are skipped"; return 1 ;;
    124) bench_fail "$2 against $1 hit the ${RUN_TIMEOUT}s limit" ;;
    *) bench_fail "$2 against $1 failed (status $3): $(tr '\r' '\n' <"$4" | grep -v '^ *$' |
        tail -n 3 | tr '\n' ' ')" ;;
    esac
    target_alive || { bench_fail "$1 is no longer running"; return 1; }
}

record() { # PART TARGET TEST OPS P50 P99 P999 CPU TOOL [GE1 GE8 GE64 HIT]
    local f=("$@")
    while [ ${#f[@]} -lt 13 ]; do f+=(-); done
    (IFS=$'\t' && echo "${f[*]}") >>"$RESULTS"
}

suffix_of() { [ "$1" -gt 1 ] && echo " -P$1"; } # PIPELINE -> " -P16" or nothing

# ---- redis-benchmark ----------------------------------------------------------------------
rb_one() { # TARGET TEST PIPELINE
    local t=$1 test=$2 p=$3 name st cpu
    name="${test^^}$(suffix_of "$p")"
    cpu_mark
    run_tool "$RUN_TIMEOUT" "$WORK/rb.out" "$WORK/rb.err" redis-benchmark -h 127.0.0.1 \
        -p "$PORT" -c "$CLIENTS" -n "$N" -P "$p" -r "$KEYSPACE" -d "$VSIZE" -t "$test" --csv
    st=$?
    cpu_stop
    cpu=$(cpu_per_op "$N")
    # An error reply ends redis-benchmark with status 1 ("Error from server: ...").
    [ $st -eq 0 ] || { tool_failed "$t" "redis-benchmark $name" $st "$WORK/rb.err"; return; }
    # "MSET (10 keys)","53763.44","0.653","0.200","0.607","0.983","1.175","4.415"
    local ops p50 p99
    read -r ops p50 p99 < <(tr -d '"' <"$WORK/rb.out" | awk -F, -v T="${test^^}" \
        '$1 == T || $1 ~ "^" T " " { print $2, $5, $7 }')
    [ -n "$ops" ] || { bench_fail "redis-benchmark $name against $t printed no figures"; return; }
    record rb "$t" "$name" "$ops" "$p50" "$p99" - "$cpu" redis-benchmark
}

# ---- mcload, the memcached-protocol counterpart of redis-benchmark ------------------------
mc_one() { # TARGET OP PIPELINE
    local t=$1 op=$2 p=$3 name st cpu ops p50 p99 p999 errors
    name="mc ${op^^}$(suffix_of "$p")"
    cpu_mark
    run_tool "$RUN_TIMEOUT" "$WORK/mc.out" "$WORK/mc.err" "$WORK/mcload" "$MCPORT" "$CLIENTS" \
        "$N" "$p" "$op" "$VSIZE" "$KEYSPACE"
    st=$?
    cpu_stop
    cpu=$(cpu_per_op "$N")
    read -r ops p50 p99 p999 errors <"$WORK/mc.out"
    if [ $st -eq 1 ] && [ -n "${errors:-}" ]; then # figures of error replies are no figures
        bench_fail "mcload $name against $t: $errors error replies"
        return
    fi
    if [ $st -ne 0 ] || [ -z "${ops:-}" ]; then
        tool_failed "$t" "mcload $name" $st "$WORK/mc.err"
        return
    fi
    record mc "$t" "$name" "$ops" "$p50" "$p99" "$p999" "$cpu" mcload
}

build_mcload() {
    cat >"$WORK/mcload.c" <<'EOF'
/* mcload: memcached text-protocol load driver. One thread, epoll, C connections, each
 * sending P requests ("set" or "get" of random keys) then reading P replies; latency per
 * request = reply time - batch write time. Prints: ops/s p50_ms p99_ms p99.9_ms errors;
 * exit status 1 when a reply was an error, 2 on bad usage or a socket error, 3 when the
 * server closed a connection or stopped answering. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd, pending; long long sent_at; char *in; size_t inlen; };
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static long n_total, issued, done_n, errors; static int P, vsize, keyspace, is_set;
static double *lat; static char *val;

static void send_batch(struct conn *c) {
    static char buf[1 << 20]; size_t len = 0; int k = 0;
    for (; k < P && issued < n_total; k++, issued++) {
        int key = rand() % keyspace;
        if (is_set) len += sprintf(buf + len, "set key:%010d 0 0 %d\r\n%s\r\n", key, vsize, val);
        else len += sprintf(buf + len, "get key:%010d\r\n", key);
    }
    c->pending = k; c->sent_at = (long long)now_us();
    for (size_t off = 0; off < len;) { ssize_t w = write(c->fd, buf + off, len - off); if (w <= 0) { if (errno == EAGAIN) continue; perror("write"); exit(2); } off += (size_t)w; }
}
/* Consumes complete replies from c->in; returns how many. */
static int take_replies(struct conn *c) {
    int n = 0; size_t pos = 0;
    for (;;) {
        char *end = memmem(c->in + pos, c->inlen - pos, "\r\n", 2); if (!end) break;
        size_t linelen = (size_t)(end - (c->in + pos));
        if (is_set) { if (linelen != 6 || memcmp(c->in + pos, "STORED", 6)) errors++; pos += linelen + 2; n++; continue; }
        if (linelen == 3 && !memcmp(c->in + pos, "END", 3)) { pos += 5; n++; continue; }
        if (linelen > 6 && !memcmp(c->in + pos, "VALUE ", 6)) {
            int bytes = 0; char *sp = memrchr(c->in + pos, ' ', linelen); bytes = atoi(sp + 1);
            size_t need = linelen + 2 + (size_t)bytes + 2 + 5;
            if (c->inlen - pos < need) break;
            pos += need; n++; continue;
        }
        errors++; pos += linelen + 2; n++;
    }
    memmove(c->in, c->in + pos, c->inlen - pos); c->inlen -= pos; return n;
}
int main(int argc, char **argv) {
    if (argc != 8) { fprintf(stderr, "usage: mcload port clients requests pipeline set|get vsize keyspace\n"); return 2; }
    int port = atoi(argv[1]), nc = atoi(argv[2]); n_total = atol(argv[3]); P = atoi(argv[4]);
    is_set = !strcmp(argv[5], "set"); vsize = atoi(argv[6]); keyspace = atoi(argv[7]);
    if (nc < 1 || n_total < 1 || P < 1 || vsize < 0 || keyspace < 1) { fprintf(stderr, "mcload: bad arguments\n"); return 2; }
    /* A batch must fit send_batch's buffer, and its replies the connection's input buffer. */
    if ((long long)P * (vsize + 64) > (1 << 20)) { fprintf(stderr, "mcload: pipeline x value size over 1 MiB\n"); return 2; }
    val = malloc((size_t)vsize + 1); memset(val, 'x', (size_t)vsize); val[vsize] = 0;
    lat = malloc(sizeof(double) * (size_t)n_total); srand(42);
    int ep = epoll_create1(0); struct conn *cs = calloc((size_t)nc, sizeof *cs);
    for (int i = 0; i < nc; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cs[i].fd = socket(AF_INET, SOCK_STREAM, 0); int one = 1;
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(cs[i].fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 2; }
        cs[i].in = malloc(1 << 22);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]}; epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double t0 = now_us();
    for (int i = 0; i < nc; i++) send_batch(&cs[i]);
    struct epoll_event evs[256];
    while (done_n < n_total) {
        int k = epoll_wait(ep, evs, 256, 10000);
        if (k <= 0) { fprintf(stderr, "mcload: timeout waiting for replies\n"); return 3; }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->in + c->inlen, (1 << 22) - c->inlen);
            if (r <= 0) { fprintf(stderr, "mcload: connection closed\n"); return 3; }
            c->inlen += (size_t)r; int got = take_replies(c); double t = now_us();
            for (int j = 0; j < got; j++) lat[done_n++] = (t - (double)c->sent_at) / 1000.0;
            c->pending -= got;
            if (c->pending == 0 && issued < n_total) send_batch(c);
        }
    }
    double secs = (now_us() - t0) / 1e6;
    qsort(lat, (size_t)n_total, sizeof(double), cmp);
    printf("%.2f %.3f %.3f %.3f %ld\n", (double)n_total / secs, lat[n_total / 2],
           lat[(long)(n_total * 0.99)], lat[(long)(n_total * 0.999)], errors);
    return errors ? 1 : 0;
}
EOF
    cc -O2 -o "$WORK/mcload" "$WORK/mcload.c"
}

# ---- memtier_benchmark --------------------------------------------------------------------
# mt_summary JSON: one line per kind (all, SET, GET) of memtier's --json-out-file:
#   kind count ops/s p50 p99 p99.9 share>=1ms share>=8ms share>=64ms hit%
# The shares (per cent of the kind's operations at or over 1, 8 and 64 ms) come from the
# HdrHistogram memtier stores in the JSON (V2 compressed encoding: base64 of a zlib stream
# of a 40-byte big-endian header and ZigZag LEB128 counts, a negative count being a run of
# empty buckets; values in microseconds).
mt_summary() {
    python3 - "$1" <<'EOF'
import base64, json, math, struct, sys, zlib

def counts_of(b64):
    raw = base64.b64decode(b64)
    _, clen = struct.unpack(">ii", raw[:8])
    body = zlib.decompress(raw[8:8 + clen])
    _, plen, _, digits, lowest, _, _ = struct.unpack(">iiiiqqd", body[:40])
    counts, pos, end = [], 40, 40 + plen
    while pos < end:
        v, shift = 0, 0
        for i in range(9):
            b = body[pos]
            pos += 1
            if i == 8:
                v |= b << 56
                break
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        v = (v >> 1) ^ -(v & 1)
        counts.extend([0] * -v if v < 0 else [v])
    half_mag = math.ceil(math.log2(2 * 10**digits)) - 1
    unit = int(math.log2(lowest))

    def low_value(i):  # the lowest value bucket index i holds
        bucket, sub = (i >> half_mag) - 1, (i & ((1 << half_mag) - 1)) + (1 << half_mag)
        if bucket < 0:
            bucket, sub = 0, sub - (1 << half_mag)
        return sub << (bucket + unit)

    return [(low_value(i), c) for i, c in enumerate(counts) if c]

stats = json.load(open(sys.argv[1]))["ALL STATS"]
for kind, key in (("all", "Totals"), ("SET", "Sets"), ("GET", "Gets")):
    s = stats.get(key)
    if not s or not s.get("Count"):
        continue
    pl = s.get("Percentile Latencies", {})
    shares = ["-"] * 3
    hist = pl.get("Histogram log format", {}).get("Compressed Histogram")
    if hist:
        buckets = counts_of(hist)
        total = sum(c for _, c in buckets)
        shares = ["%.3f" % (100.0 * sum(c for v, c in buckets if v >= ms * 1000) / total)
                  for ms in (1, 8, 64)]
    hits, misses = s.get("Hits/sec", 0), s.get("Misses/sec", 0)
    hit = "%.1f" % (100.0 * hits / (hits + misses)) if kind == "GET" and hits + misses else "-"
    print(kind, s["Count"], s["Ops/sec"], *(pl.get(p, "-") for p in ("p50.00", "p99.00", "p99.90")),
          *shares, hit)
EOF
}

mt_one() { # PART TARGET TEST PROTO PORT SECONDS ARGS...
    local part=$1 t=$2 test=$3 proto=$4 port=$5 secs=$6 st json="$WORK/memtier.json"
    shift 6
    local what="memtier $test"
    case $test in *memtier*) what=$test ;; esac
    rm -f "$json"
    cpu_mark
    run_tool $((secs + 60)) "$WORK/mt.out" "$WORK/mt.err" "$MEMTIER" -s 127.0.0.1 -p "$port" \
        --protocol="$proto" --test-time="$secs" --print-percentiles=50,99,99.9 --hide-histogram \
        --json-out-file="$json" "$@"
    st=$?
    cpu_stop
    local kind count ops p50 p99 p999 ge1 ge8 ge64 hit cpu=-
    if [ $st -ne 0 ] || [ ! -s "$json" ]; then
        tool_failed "$t" "$what" $st "$WORK/mt.err"
        return
    fi
    # memtier counts error replies as operations done: the keys its SETs wrote must be there.
    if [ "$proto" = redis ]; then
        local keys
        keys=$(timeout 5 redis-cli -p "$port" dbsize 2>&1)
        if ! [ "$keys" -gt 0 ] 2>/dev/null; then
            bench_fail "$what against $t: DBSIZE after it says '$keys' (error replies?)"
            return
        fi
    fi
    while read -r kind count ops p50 p99 p999 ge1 ge8 ge64 hit; do
        [ "$kind" = all ] && cpu=$(cpu_per_op "$count")
        if [ "$part" = rate ]; then
            record rate "$t" "$test $kind" "$ops" "$p50" "$p99" "$p999" \
                "$([ "$kind" = all ] && echo "$cpu" || echo -)" memtier "$ge1" "$ge8" "$ge64" "$hit"
        elif [ "$kind" = all ]; then
            record "$part" "$t" "$test" "$ops" "$p50" "$p99" "$p999" "$cpu" memtier
        fi
    done < <(mt_summary "$json" 2>"$WORK/mtsum.err")
    if [ -s "$WORK/mtsum.err" ]; then
        bench_fail "$what against $t: cannot read its JSON: $(tail -n 1 "$WORK/mtsum.err")"
    fi
    return 0
}
