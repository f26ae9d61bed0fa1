#!/usr/bin/env bash
# bench/run.sh BUILD - the peer benchmark: logstord against redis-server and memcached, in
# one run, on this machine, and one table of ops/s, p50 and p99 with the logstord/peer
# ratios the server issue sets as targets.
#
#   bash bench/run.sh build              (or: make bench)
#
# Targets, each started fresh on free 127.0.0.1 ports with its data in a new temp dir
# under /tmp (ext4 here, so logstord's O_DIRECT works):
#   logstord-sync       logstord --durability sync
#   logstord-periodic   logstord --durability periodic (default flush_interval_ms)
#   redis-always        redis-server --appendonly yes --appendfsync always --save ''
#   redis-everysec      redis-server --appendonly yes --appendfsync everysec --save ''
#   memcached           memcached -U 0 (default 4 threads, 1 GiB memory)
#
# Load: redis-benchmark (the Debian 7.0 one) with -c 50, -t set,get, with and without
# -P 16, -r KEYSPACE so that GET reads keys written by the SET phase of the same run
# (100000 SETs over 10000 keys leave practically every key written), -d VALUE_SIZE,
# latency from its --csv output (p50_latency_ms, p99_latency_ms).
# memtier_benchmark is run as well when installed (it is not packaged in Debian 12).
# memcached: memcslap prints no latency percentiles, so this script builds a small
# single-threaded epoll load driver (mcload, C, embedded below) that behaves like
# redis-benchmark: 50 connections, each sending P requests and waiting for their P
# replies; a request's latency is from the write of its batch to its reply. It runs
# against memcached and against logstord's memcached port.
#
# Environment:
#   BENCH_N=100000          requests per run (scale the whole benchmark with it)
#   BENCH_CLIENTS=50        connections
#   BENCH_PIPELINE=16       the pipelined runs' depth
#   BENCH_VALUE_SIZE=100    value bytes
#   BENCH_KEYSPACE=10000    distinct keys
#   BENCH_TARGETS="logstord-sync logstord-periodic redis-always redis-everysec memcached"
#   BENCH_RUN_TIMEOUT=300   seconds allowed per load-tool invocation
#   LOGSTORD=BUILD/logstord, BENCH_LOGSTORD_ARGS (more logstord arguments)
# Missing logstord (not built yet) is reported and its rows are skipped.
#
# Targets (server issue): SET in sync mode >= 0.8x redis appendfsync always, SET in
# periodic mode >= 0.8x redis appendfsync everysec, with -c 50, with and without -P 16;
# GET reported beside Redis's.
set -u
BUILD=${1:-build}
N=${BENCH_N:-100000}
CLIENTS=${BENCH_CLIENTS:-50}
PIPE=${BENCH_PIPELINE:-16}
VSIZE=${BENCH_VALUE_SIZE:-100}
KEYSPACE=${BENCH_KEYSPACE:-10000}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
TARGETS=${BENCH_TARGETS:-logstord-sync logstord-periodic redis-always redis-everysec memcached}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}

source "$(dirname "$0")/lib.bash"
RESULTS="$WORK/results.tsv" # target, test, ops/s, p50 ms, p99 ms, tool
: >"$RESULTS"

# ---- the memcached load driver -------------------------------------------------------------
build_mcload() {
    cat >"$WORK/mcload.c" <<'EOF'
/* mcload: memcached text-protocol load driver. One thread, epoll, C connections, each
 * sending P requests ("set" or "get" of random keys) then reading P replies; latency per
 * request = reply time - batch write time. Prints: ops/s p50_ms p99_ms errors. */
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
    printf("%.2f %.3f %.3f %ld\n", (double)n_total / secs, lat[n_total / 2], lat[(long)(n_total * 0.99)], errors);
    return errors ? 1 : 0;
}
EOF
    cc -O2 -o "$WORK/mcload" "$WORK/mcload.c"
}

# ---- load runs ------------------------------------------------------------------------------
run_redis_benchmark() { # TARGET PIPELINE
    local label=$1 p=$2 suffix=""
    [ "$p" -gt 1 ] && suffix=" -P$p"
    local out
    out=$(timeout "$RUN_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$N" \
        -P "$p" -r "$KEYSPACE" -d "$VSIZE" -t set,get --csv 2>"$WORK/rb.err")
    local st=$?
    if [ $st -ne 0 ]; then
        echo "bench: redis-benchmark against $label (P=$p) failed with status $st"; tail -n 5 "$WORK/rb.err"
    fi
    # "SET","53763.44","0.653","0.200","0.607","0.983","1.175","4.415"
    echo "$out" | tr -d '"' | awk -F, -v t="$label" -v s="$suffix" \
        '$1=="SET"||$1=="GET" { printf "%s\t%s%s\t%s\t%s\t%s\tredis-benchmark\n", t, $1, s, $2, $5, $7 }' \
        >>"$RESULTS"
}

run_memtier() { # TARGET PIPELINE
    command -v memtier_benchmark >/dev/null || return 0
    local label=$1 p=$2 suffix=""
    [ "$p" -gt 1 ] && suffix=" -P$p"
    local per_client=$(( N / CLIENTS ))
    for ratio in "1:0 SET" "0:1 GET"; do
        set -- $ratio
        local out
        out=$(timeout "$RUN_TIMEOUT" memtier_benchmark -s 127.0.0.1 -p "$PORT" -t 1 -c "$CLIENTS" \
            -n "$per_client" --pipeline "$p" --ratio "$1" -d "$VSIZE" --key-maximum "$KEYSPACE" \
            --hide-histogram 2>/dev/null)
        # "Sets"/"Gets"/"Totals" lines: Type Ops/sec Hits/sec Misses/sec Avg.Latency p50 p99 ...
        echo "$out" | awk -v t="$label" -v s="$suffix" -v name="$2" \
            '$1=="Totals" { printf "%s\t%s%s (memtier)\t%s\t%s\t%s\tmemtier_benchmark\n", t, name, s, $2, $6, $7 }' \
            >>"$RESULTS"
    done
}

run_mcload() { # TARGET PORT PIPELINE
    local label=$1 port=$2 p=$3 suffix=""
    [ "$p" -gt 1 ] && suffix=" -P$p"
    for op in set get; do
        local out
        out=$(timeout "$RUN_TIMEOUT" "$WORK/mcload" "$port" "$CLIENTS" "$N" "$p" "$op" "$VSIZE" "$KEYSPACE")
        local st=$?
        [ $st -ne 0 ] && echo "bench: mcload $op against $label (P=$p) failed with status $st ($out)"
        [ -n "$out" ] && echo "$out" | awk -v t="$label" -v s="$suffix" -v op="$op" \
            '{ printf "%s\tmc %s%s\t%s\t%s\t%s\tmcload\n", t, toupper(op), s, $1, $2, $3 }' >>"$RESULTS"
    done
}

# ---- main -----------------------------------------------------------------------------------
echo "bench: N=$N clients=$CLIENTS pipeline=$PIPE value=$VSIZE B keyspace=$KEYSPACE; $(nproc) CPUs"
echo "bench: load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
echo "bench: $(redis-server --version | cut -d' ' -f1-3), $(memcached -V), redis-benchmark $(redis-benchmark --version 2>/dev/null | awk '{print $2}')"
command -v memtier_benchmark >/dev/null || echo "bench: memtier_benchmark not installed (not in Debian 12); skipped"
build_mcload || { echo "bench: cannot build the memcached load driver"; exit 1; }

for t in $TARGETS; do
    start_target "$t" || continue
    echo "bench: $t on 127.0.0.1:$PORT (memcached port $MCPORT)"
    case $t in
    memcached)
        run_mcload "$t" "$MCPORT" 1
        run_mcload "$t" "$MCPORT" "$PIPE" ;;
    *)
        run_redis_benchmark "$t" 1
        run_redis_benchmark "$t" "$PIPE"
        run_memtier "$t" 1
        run_memtier "$t" "$PIPE"
        if [ "${t%%-*}" = logstord ] && [ "$t" = logstord-sync ]; then
            # logstord's memcached port, beside memcached.
            run_mcload "$t" "$MCPORT" 1
            run_mcload "$t" "$MCPORT" "$PIPE"
        fi ;;
    esac
    stop_target
done

# ---- the table ------------------------------------------------------------------------------
echo
printf '%-18s %-16s %12s %9s %9s  %s\n' target test ops/s "p50 ms" "p99 ms" tool
printf '%-18s %-16s %12s %9s %9s  %s\n' ------------------ ---------------- ------------ --------- --------- ---------------
# Rows grouped by test (SET, GET, pipelined, memcached protocol), targets in run order.
for ts in SET GET "SET -P$PIPE" "GET -P$PIPE" "SET (memtier)" "GET (memtier)" \
    "SET -P$PIPE (memtier)" "GET -P$PIPE (memtier)" "mc SET" "mc GET" "mc SET -P$PIPE" "mc GET -P$PIPE"; do
    awk -F'\t' -v ts="$ts" '$2==ts' "$RESULTS" | while IFS=$'\t' read -r tg t ops p50 p99 tool; do
        printf '%-18s %-16s %12.0f %9s %9s  %s\n' "$tg" "$t" "$ops" "$p50" "$p99" "$tool"
    done
done

ops_of() { awk -F'\t' -v t="$1" -v s="$2" '$1==t && $2==s { print $3 }' "$RESULTS"; }
ratio() { # LABEL TARGET_A TARGET_B TEST GOAL
    local a b
    a=$(ops_of "$2" "$4"); b=$(ops_of "$3" "$4")
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf '  %-48s %s\n' "$1" "n/a (a run is missing)"; return
    fi
    awk -v a="$a" -v b="$b" -v l="$1" -v g="$5" 'BEGIN {
        r = a / b; v = g == "" ? "" : (r >= g ? "meets >= " g : "BELOW target " g);
        printf "  %-48s %6.2fx  %s\n", l, r, v }'
}
echo
echo "logstord/peer ratios (ops/s):"
for s in "" " -P$PIPE"; do
    ratio "sync SET$s / redis always SET$s" logstord-sync redis-always "SET$s" 0.8
    ratio "periodic SET$s / redis everysec SET$s" logstord-periodic redis-everysec "SET$s" 0.8
    ratio "sync GET$s / redis always GET$s" logstord-sync redis-always "GET$s" ""
    ratio "periodic GET$s / redis everysec GET$s" logstord-periodic redis-everysec "GET$s" ""
    ratio "sync mc SET$s / memcached mc SET$s" logstord-sync memcached "mc SET$s" ""
    ratio "sync mc GET$s / memcached mc GET$s" logstord-sync memcached "mc GET$s" ""
done
echo
echo "command: bash bench/run.sh $BUILD   (BENCH_N=$N)"
