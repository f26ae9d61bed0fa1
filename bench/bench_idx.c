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
 *
 * Snapshots (copy-on-write): then keys / 10 upserts that replace random live keys (new
 * loc), three times: with no snapshot, with a snapshot taken just before (its memory
 * held afterwards is printed), and again with none after the release. The snapshot is
 * then scanned in chunks of 4096 entries, released, and its nodes reclaimed in steps of
 * RECLAIM_STEP nodes (total and longest step printed). Per-upsert times are ns per
 * idx_upsert including the random key generation; page_faults are the minor faults
 * during each phase (copies into fresh heap pages fault them in).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "idx.h"

#define KEYS_DEFAULT 10000000UL
#define KEYS_LIMIT   1000000000UL /* 24 GB of entries: more is a typo */
#define RECLAIM_STEP 2048         /* nodes per idx_snap_reclaim call, as an event loop would */

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

static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
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

static int lookup_all(struct idx *t, uint64_t n)
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

/* steps upserts replacing live keys [first, first + n) picked by a seeded generator. */
static int upsert_random(struct idx *t, uint64_t first, uint64_t n, uint64_t steps, uint64_t seed)
{
    for (uint64_t i = 0; i < steps; i++) {
        seed = seed * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        struct idx_ent e = key_of(first + (seed >> 11) % n);
        e.loc = idx_make_loc(seed & 0xffffffffffULL, 256);
        if (idx_upsert(t, &e, NULL) != 1)
            return -1;
    }
    return 0;
}

static int count_cb(void *arg, const struct idx_ent *ent)
{
    (void)ent;
    ++*(uint64_t *)arg;
    return 0;
}

/* The snapshot phases (see the top comment). Live keys are [first, first + n). */
static int bench_snap(struct idx *t, uint64_t first, uint64_t n)
{
    uint64_t steps = n / 10 > 0 ? n / 10 : 1;
    double ns[3];
    long faults[3];
    size_t held = 0, mem_live = 0;
    struct idx_snap *s = NULL;
    double snap_take_us = 0;
    for (int phase = 0; phase < 3; phase++) {
        if (phase == 1) {
            mem_live = idx_memory(t);
            double a = now_s();
            s = idx_snapshot(t);
            snap_take_us = (now_s() - a) * 1e6;
            if (!s)
                return -1;
        }
        long f = minor_faults();
        double a = now_s();
        if (upsert_random(t, first, n, steps, (uint64_t)phase + 1) < 0)
            return -1;
        ns[phase] = (now_s() - a) * 1e9 / (double)steps;
        faults[phase] = minor_faults() - f;
        if (phase == 1) {
            held = idx_snap_memory(s);
            double b = now_s();
            uint64_t cursor = 0, seen = 0;
            int done = 0;
            size_t chunks = 0;
            while (!done) {
                idx_snap_scan(s, cursor, 4096, count_cb, &seen, &cursor, &done);
                chunks++;
            }
            double scan_s = now_s() - b;
            b = now_s();
            idx_snap_release(t, s);
            double release_us = (now_s() - b) * 1e6, reclaim_s = 0, step_max_s = 0;
            size_t reclaim_steps = 0;
            for (size_t left = 1; left > 0; reclaim_steps++) {
                double c = now_s();
                left = idx_snap_reclaim(t, RECLAIM_STEP);
                double d = now_s() - c;
                reclaim_s += d;
                step_max_s = d > step_max_s ? d : step_max_s;
            }
            printf("idx snapshot keys=%llu take_us=%.1f upserts=%llu held_bytes=%zu "
                   "held_bytes_per_key=%.1f memory_before=%zu scan_chunks=%zu "
                   "scan_per_s=%.0f scan_ok=%d release_us=%.1f reclaim_ms=%.2f "
                   "reclaim_steps=%zu (of %d nodes) reclaim_step_max_ms=%.3f\n",
                   (unsigned long long)n, snap_take_us, (unsigned long long)steps, held,
                   (double)held / (double)n, mem_live, chunks, (double)seen / scan_s, seen == n,
                   release_us, reclaim_s * 1e3, reclaim_steps, RECLAIM_STEP, step_max_s * 1e3);
        }
    }
    printf("idx upsert_ns no_snapshot=%.0f snapshot_live=%.0f after_release=%.0f "
           "page_faults no_snapshot=%ld snapshot_live=%ld after_release=%ld check=%d "
           "memory_after=%zu\n",
           ns[0], ns[1], ns[2], faults[0], faults[1], faults[2], idx_check(t), idx_memory(t));
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
    if (bench_snap(t, steps, n) < 0) {
        fprintf(stderr, "bench_idx: snapshot phase failed\n");
        return 1;
    }
    idx_free(t);
    return 0;
}
