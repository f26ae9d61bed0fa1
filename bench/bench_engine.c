/*
 * bench_engine.c - engine throughput, latency, memory per key and recovery time.
 *
 *   bench_engine [-k keys] [-v value_bytes] [-q inflight] [-d sync|periodic] [-D dir]
 *                [-r reads] [-R] [-c cache_bytes] [-H hot_keys]
 *
 * Loads `keys` keys with values of `value_bytes` (puts/s, with `inflight` writes
 * outstanding, the way many clients share group commits), then reads `reads` random keys
 * (gets/s and latency percentiles; the engine reads with O_DIRECT, so every get that is
 * not in a write buffer really goes to the device), then closes and reopens the directory
 * (recovery time), and prints the index memory per key. -R keeps the directory. The
 * record cache is off unless -c gives it a size, so that gets measure the device.
 * -H (with -c) then reads hot_keys keys into the record cache and times gets from memory
 * (ls_get_mem) in runs of 16 random hot keys, the way a pipelined client's GETs arrive,
 * alternately with and without ls_prefetch_key/ls_prefetch_records before each run: ns
 * per get both ways and their ratio ("engine hotget").
 * Prints one line per figure: "engine <what> k=v ...".
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logstor.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int outstanding;
static uint64_t errors;
static uint64_t *lat_ns;
static uint64_t nlat;

struct req {
    uint64_t t0;
};
static struct req *reqs;

static void put_cb(void *arg, int rc, uint64_t cas)
{
    (void)arg;
    (void)cas;
    outstanding--;
    errors += rc != 0;
}

static void get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    (void)it;
    outstanding--;
    errors += rc != 0;
    lat_ns[nlat++] = now_ns() - r->t0;
}

static void pump(struct ls_engine *e, int max)
{
    while (outstanding >= max) {
        struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
        poll(&p, 1, 10);
        ls_poll(e);
        ls_tick(e);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void key_of(char *buf, uint64_t i)
{
    snprintf(buf, 32, "key:%012llu", (unsigned long long)i);
}

static double load(struct ls_engine *e, uint64_t keys, uint32_t vlen, int inflight)
{
    char key[32], *val = malloc(vlen);
    uint64_t t0 = now_ns();

    memset(val, 'v', vlen);
    for (uint64_t i = 0; i < keys; i++) {
        key_of(key, i);
        pump(e, inflight);
        int rc;
        while ((rc = ls_put(e, 0, key, strlen(key), val, vlen, NULL, put_cb, NULL)) == LS_EBUSY)
            pump(e, outstanding); /* backpressure: let buffers drain */
        if (rc != 0) {
            fprintf(stderr, "put: %s\n", ls_strerror(rc));
            exit(1);
        }
        outstanding++;
    }
    pump(e, 1);
    free(val);
    return (double)keys / ((double)(now_ns() - t0) / 1e9);
}

static double read_random(struct ls_engine *e, uint64_t keys, uint64_t reads, int inflight)
{
    char key[32];
    uint64_t t0 = now_ns();

    reqs = calloc((size_t)inflight * 2, sizeof(*reqs));
    lat_ns = malloc(sizeof(uint64_t) * reads);
    nlat = 0;
    for (uint64_t i = 0; i < reads; i++) {
        struct req *r = &reqs[i % ((uint64_t)inflight * 2)];
        key_of(key, ((uint64_t)random() << 31 ^ (uint64_t)random()) % keys);
        pump(e, inflight);
        r->t0 = now_ns();
        int rc = ls_get(e, 0, key, strlen(key), get_cb, r);
        if (rc != 0) {
            fprintf(stderr, "get: %s\n", ls_strerror(rc));
            exit(1);
        }
        outstanding++;
    }
    pump(e, 1);
    free(reqs);
    return (double)reads / ((double)(now_ns() - t0) / 1e9);
}

/* One run of HOT_RUN gets from memory of the keys idx[0..HOT_RUN), prefetched first or
 * not; returns the values' bytes (so that the reads are not optimized away). */
#define HOT_RUN 16
static uint64_t hot_run(struct ls_engine *e, const uint64_t *idx, int prefetch)
{
    char key[HOT_RUN][32];
    size_t len[HOT_RUN];
    struct ls_prefetch pf = {.n = 0};
    struct ls_item it;
    uint64_t sum = 0;

    for (int i = 0; i < HOT_RUN; i++) {
        key_of(key[i], idx[i]);
        len[i] = strlen(key[i]);
    }
    if (prefetch) {
        for (int i = 0; i < HOT_RUN; i++)
            ls_prefetch_key(e, 0, key[i], len[i], &pf);
        ls_prefetch_records(e, &pf);
    }
    for (int i = 0; i < HOT_RUN; i++) {
        if (ls_get_mem(e, 0, key[i], len[i], &it) != 0) {
            errors++;
            continue;
        }
        sum += it.value_len + ((const uint8_t *)it.value)[it.value_len - 1];
    }
    return sum;
}

static void warm_cb(void *arg, int rc, const struct ls_item *it)
{
    (void)arg;
    (void)it;
    outstanding--;
    errors += rc != 0;
}

/* ns per get from memory without and with prefetching, alternating every 64 runs. */
static void hot_gets(struct ls_engine *e, uint64_t hot, uint64_t reads, double ns[2])
{
    uint64_t idx[HOT_RUN], t[2] = {0, 0}, n[2] = {0, 0}, sum = 0;

    for (uint64_t i = 0; i < hot; i++) { /* into the record cache */
        char key[32];
        key_of(key, i);
        pump(e, 64);
        if (ls_get(e, 0, key, strlen(key), warm_cb, NULL) != 0)
            exit(1);
        outstanding++;
    }
    pump(e, 1);
    for (uint64_t r = 0; r < reads / HOT_RUN; r++) {
        int pf = (int)((r / 64) & 1);
        for (int i = 0; i < HOT_RUN; i++)
            idx[i] = ((uint64_t)random() << 31 ^ (uint64_t)random()) % hot;
        uint64_t t0 = now_ns();
        sum += hot_run(e, idx, pf);
        t[pf] += now_ns() - t0;
        n[pf] += HOT_RUN;
    }
    for (int i = 0; i < 2; i++)
        ns[i] = (double)t[i] / (double)(n[i] + !n[i]);
    if (sum == 0)
        errors++;
}

int main(int argc, char **argv)
{
    uint64_t keys = 1000000, reads = 200000;
    uint32_t vlen = 100;
    int inflight = 64, keep = 0, opt;
    const char *dur = "sync";
    char tmpl[] = "/tmp/logstor-bench-XXXXXX";
    const char *dir = NULL;
    struct ls_config c;
    struct ls_engine *e;
    struct ls_stats st;

    uint64_t cache = 0, hot = 0;

    while ((opt = getopt(argc, argv, "k:v:q:d:D:r:Rc:H:")) != -1) {
        switch (opt) {
        case 'k':
            keys = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            vlen = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'q':
            inflight = atoi(optarg);
            break;
        case 'd':
            dur = optarg;
            break;
        case 'D':
            dir = optarg;
            break;
        case 'r':
            reads = strtoull(optarg, NULL, 10);
            break;
        case 'R':
            keep = 1;
            break;
        case 'c':
            cache = strtoull(optarg, NULL, 10);
            break;
        case 'H':
            hot = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of bench_engine.c\n");
            return 2;
        }
    }
    if (!dir && !(dir = mkdtemp(tmpl)))
        return 1;
    ls_config_default(&c);
    c.dir = dir;
    c.durability = strcmp(dur, "periodic") == 0 ? LS_PERIODIC : LS_SYNC;
    c.cache_size = cache;
    c.disk_size = (keys * (vlen + 80) * 2 + (UINT64_C(1) << 30)) & ~((UINT64_C(32) << 20) - 1);
    c.max_value_size = vlen > c.max_value_size ? vlen : c.max_value_size;
    if (ls_open(&c, &e) != 0)
        return 1;

    double pps = load(e, keys, vlen, inflight);
    ls_get_stats(e, &st);
    printf("engine put keys=%llu value=%u durability=%s inflight=%d puts_per_s=%.0f "
           "device_writes=%llu records_per_write=%.1f MB_per_s=%.1f errors=%llu\n",
           (unsigned long long)keys, vlen, dur, inflight, pps, (unsigned long long)st.device_writes,
           (double)keys / (double)(st.device_writes + !st.device_writes), pps * (vlen + 60) / 1e6,
           (unsigned long long)errors);
    double gps = read_random(e, keys, reads, inflight);
    qsort(lat_ns, nlat, sizeof(uint64_t), cmp_u64);
    ls_get_stats(e, &st);
    printf("engine get keys=%llu value=%u inflight=%d gets_per_s=%.0f p50_us=%.0f p99_us=%.0f "
           "device_reads=%llu buffer_hits=%llu cache_hits=%llu errors=%llu\n",
           (unsigned long long)keys, vlen, inflight, gps, (double)lat_ns[nlat / 2] / 1e3,
           (double)lat_ns[nlat * 99 / 100] / 1e3, (unsigned long long)st.device_reads,
           (unsigned long long)st.buffer_hits, (unsigned long long)st.cache_hits,
           (unsigned long long)errors);
    if (hot && cache) {
        double ns[2];
        uint64_t h0 = st.cache_hits;
        hot_gets(e, hot < keys ? hot : keys, reads * 4, ns);
        ls_get_stats(e, &st);
        printf("engine hotget keys=%llu hot=%llu run=%d ns_per_get=%.1f prefetched_ns_per_get=%.1f "
               "ratio=%.2f cache_hits=%llu errors=%llu\n",
               (unsigned long long)keys, (unsigned long long)hot, HOT_RUN, ns[0], ns[1],
               ns[1] / ns[0], (unsigned long long)(st.cache_hits - h0), (unsigned long long)errors);
    }
    printf("engine index keys=%llu index_bytes=%llu bytes_per_key=%.1f\n",
           (unsigned long long)st.keys, (unsigned long long)st.index_bytes,
           (double)st.index_bytes / (double)st.keys);
    free(lat_ns);
    ls_close(e);
    if (ls_open(&c, &e) != 0)
        return 1;
    ls_get_stats(e, &st);
    printf("engine recovery keys=%llu value=%u ms=%llu records=%llu segments=%llu "
           "corrupt_blocks=%llu\n",
           (unsigned long long)st.keys, vlen, (unsigned long long)st.recovery_ms,
           (unsigned long long)st.recovery_records, (unsigned long long)st.recovery_segments,
           (unsigned long long)st.recovery_corrupt_blocks);
    ls_close(e);
    if (!keep) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return errors ? 1 : 0;
}
