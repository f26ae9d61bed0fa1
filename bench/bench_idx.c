/*
 * bench_idx.c - memory per key and insert/lookup rates of the in-memory index.
 *
 *   build/bench/bench_idx [keys]      (default 10,000,000)
 *
 * Inserts `keys` entries with uniformly random 64-bit tokens and random hash2, then
 * looks every one up, then churns (removes the oldest key, inserts a new one) for
 * keys / 2 steps. bytes_per_key is idx_memory() / keys, the requested sizes of every
 * node; rss_bytes_per_key is the growth of the resident set over the inserts, a cross
 * check that includes malloc's own overhead.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "idx.h"

#define KEYS_DEFAULT 10000000UL
#define KEYS_LIMIT   1000000000UL /* 24 GB of entries: more is a typo */

/* Key i of the run, a stateless function of i so every phase can regenerate it. */
static struct idx_ent key_of(uint64_t i)
{
    uint64_t z = (i + 1) * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    uint32_t h2 = (uint32_t)(z * UINT64_C(0xff51afd7ed558ccd) >> 40) & IDX_HASH2_MASK;
    struct idx_ent e = {z, idx_make_loc(i * 64, 128), idx_make_meta(0, h2)};
    return e;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int insert_range(struct idx *t, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        struct idx_ent e = key_of(i);
        int rc = idx_upsert(t, &e, NULL);
        if (rc < 0) {
            fprintf(stderr, "bench_idx: idx_upsert: %d\n", rc);
            return -1;
        }
    }
    return 0;
}

static int lookup_all(const struct idx *t, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        struct idx_ent e = key_of(i), out;
        if (idx_find(t, e.token, idx_meta_hash2(e.meta), &out) != 0 || out.loc != e.loc) {
            fprintf(stderr, "bench_idx: key %llu lost\n", (unsigned long long)i);
            return -1;
        }
    }
    return 0;
}

static int churn(struct idx *t, uint64_t n, uint64_t steps)
{
    for (uint64_t i = 0; i < steps; i++) {
        struct idx_ent e = key_of(i);
        if (idx_remove(t, e.token, idx_meta_hash2(e.meta), NULL) != 0)
            return -1;
        if (insert_range(t, n + i, n + i + 1) < 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : KEYS_DEFAULT;
    if (n == 0 || n > KEYS_LIMIT) {
        fprintf(stderr, "usage: bench_idx [keys 1..%lu]\n", KEYS_LIMIT);
        return 2;
    }
    struct idx *t = idx_new();
    if (!t)
        return 1;
    long rss0 = rss_bytes();
    double t0 = now_s();
    if (insert_range(t, 0, n) < 0)
        return 1;
    double t1 = now_s();
    long rss1 = rss_bytes();
    if (lookup_all(t, n) < 0)
        return 1;
    double t2 = now_s();
    printf("idx keys=%llu bytes_per_key=%.1f rss_bytes_per_key=%.1f insert_per_s=%.0f "
           "lookup_per_s=%.0f\n",
           (unsigned long long)n, (double)idx_memory(t) / (double)n,
           (double)(rss1 - rss0) / (double)n, (double)n / (t1 - t0), (double)n / (t2 - t1));
    uint64_t steps = n / 2;
    double t3 = now_s();
    if (churn(t, n, steps) < 0) {
        fprintf(stderr, "bench_idx: churn failed\n");
        return 1;
    }
    double t4 = now_s();
    printf("idx churn keys=%llu steps=%llu bytes_per_key=%.1f remove_insert_per_s=%.0f "
           "check=%d\n",
           (unsigned long long)idx_count(t), (unsigned long long)steps,
           (double)idx_memory(t) / (double)idx_count(t), (double)steps / (t4 - t3), idx_check(t));
    idx_free(t);
    return 0;
}
