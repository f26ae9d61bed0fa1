/*
 * test_scan.c - ls_scan (engine/scan.c) against what the engine does meanwhile: reads a
 * scan starts late (its reads in flight are bounded) while compaction frees and reuses
 * segments, and the key cache's read-ahead with keys it cannot hold. Run on the simulated
 * device (simdev.h): which request completes when is then the seed's choice, not the
 * machine's, so a test that needs a read to wait behind writes fails or passes every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eng_util.h"
#include "internal.h"
#include "simdev.h"
#include "token.h"

/* 256 segments of 128 KiB in 8 files of 4 MiB, on the simulated device. */
static void sim_config(struct ls_config *c, struct simdev *d)
{
    small_config(c, "sim");
    c->disk_size = 32u << 20;
    c->sim = d;
}

/* Closes *e and opens the same simulated directory again. */
static int ls_close_reopen_sim(const struct ls_config *cfg, struct ls_engine **e)
{
    ls_close(*e);
    return ls_open(cfg, e);
}

static void sim_step(struct ls_engine *e, struct simdev *d, unsigned n)
{
    simdev_execute(d, n);
    simdev_advance_ns(d, 100000);
    ls_poll(e);
    fake_now_ms += 1;
    ls_tick(e);
}

struct wcount {
    int pending, failed;
};

static void wcount_cb(void *arg, int rc, uint64_t cas)
{
    struct wcount *c = arg;

    (void)cas;
    c->pending--;
    c->failed += rc != 0;
}

/* A put of a key of klen bytes, retried while the engine answers LS_EBUSY (compaction
 * catching up). */
static void sim_put_len(struct ls_engine *e, struct simdev *d, uint32_t t, const char *k,
                        size_t klen, const void *v, size_t n, struct wcount *c)
{
    for (int i = 0; i < 100000; i++) {
        int rc = ls_put(e, t, k, klen, v, n, NULL, wcount_cb, c);
        if (rc == 0) {
            c->pending++;
            return;
        }
        assert_int_equal(rc, LS_EBUSY);
        sim_step(e, d, 8);
    }
    fail_msg("put refused for good");
}

static void sim_put(struct ls_engine *e, struct simdev *d, uint32_t t, const char *k, const void *v,
                    size_t n, struct wcount *c)
{
    sim_put_len(e, d, t, k, strlen(k), v, n, c);
}

static void sim_drain(struct ls_engine *e, struct simdev *d, struct wcount *c)
{
    for (int i = 0; i < 1000000 && c->pending; i++)
        sim_step(e, d, 8);
    assert_int_equal(c->pending, 0);
    assert_int_equal(c->failed, 0);
}

/* With no read in flight, no segment is held (each hold was given back exactly once). */
static void no_readers(const struct ls_engine *e)
{
    for (uint32_t g = 0; g < e->sm.nsegs; g++)
        if (e->sm.d[g].readers)
            fail_msg("segment %u: readers %u with no read in flight", g, e->sm.d[g].readers);
}

struct listing {
    int done, calls;
    uint64_t next;
    uint32_t n;
    uint8_t *seen; /* per key number: times listed (keys "k:<number>...") */
    uint32_t nkeys;
};

static void listing_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct listing *l = arg;

    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        unsigned k;
        snprintf(name, sizeof(name), "%.*s", (int)(keys[i].key_len < 15 ? keys[i].key_len : 15),
                 (const char *)keys[i].key);
        assert_int_equal(sscanf(name, "k:%u", &k), 1);
        assert_true(k < l->nkeys);
        l->seen[k]++;
        l->n++;
    }
    l->next = next;
    l->done = 1;
    l->calls++;
}

/* Puts keys "k:0" .. "k:<n-1>" into table t with values of vlen bytes (big: every third
 * of big bytes instead) and waits for them. */
static void put_keys(struct ls_engine *e, struct simdev *d, uint32_t t, unsigned n, const char *v,
                     size_t vlen, size_t big)
{
    struct wcount c = {0};
    char k[32];

    for (unsigned i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "k:%u", i);
        sim_put(e, d, t, k, v, big && i % 3 == 0 ? big : vlen, &c);
    }
    sim_drain(e, d, &c);
}

/* Starts a scan into l and runs the device (per_step requests a step) until it reported. */
static void scan_run_match(struct ls_engine *e, struct simdev *d, uint32_t t, uint64_t cursor,
                           uint32_t count, ls_scan_match_fn match, struct listing *l,
                           unsigned per_step)
{
    l->done = 0;
    assert_int_equal(ls_scan_match(e, t, cursor, count, match, l, listing_cb, l), 0);
    for (int i = 0; i < 100000 && !l->done; i++)
        sim_step(e, d, per_step);
    assert_true(l->done);
}

static void scan_run(struct ls_engine *e, struct simdev *d, uint32_t t, uint64_t cursor,
                     uint32_t count, struct listing *l, unsigned per_step)
{
    l->done = 0;
    assert_int_equal(ls_scan(e, t, cursor, count, listing_cb, l), 0);
    for (int i = 0; i < 100000 && !l->done; i++)
        sim_step(e, d, per_step);
    assert_true(l->done);
}

/* A scan reads its records in address order with a bound on the bytes in flight, so
 * the reads of its last segments start only as its first ones complete, while the engine
 * goes on. Every key present from the scan's start to its end must be listed, wherever
 * its record went meanwhile: here the keys of the last segments the scan reads are
 * overwritten (they stay present) once it has taken its entries, compaction frees those
 * segments without a read, and later writes reuse them. The scan took a segment's
 * readers count (compaction frees a segment only once no read holds it) only when its
 * read started: its late reads found a new use there, and the keys were left out of the
 * listing as corrupt records. */
static void test_scan_holds_its_segments(void **state)
{
    enum { N = 8000, NOVER = 120, VLEN = 6000, STEPS = 20000 };
    struct simdev *d = simdev_new(7);
    struct ls_config cfg;
    struct ls_engine *e;
    struct wcount c = {0};
    struct ls_stats st;
    char k[32], *v = calloc(1, VLEN);

    (void)state;
    sim_config(&cfg, d);
    cfg.disk_size = 64u << 20;
    cfg.max_key_size = 64; /* one call takes every entry (LS_SCAN_MAX_BYTES) */
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, 0, N, v, VLEN, 0); /* 21 records a segment: 380 segments */

    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    assert_int_equal(ls_scan(e, 0, 0, N, listing_cb, &l), 0);
    for (unsigned i = N - NOVER; i < N; i++) { /* the last segments' keys */
        snprintf(k, sizeof(k), "k:%u", i);
        sim_put(e, d, 0, k, v, VLEN, &c);
    }
    for (unsigned i = 0; !l.done && i < STEPS; i++) { /* writes that reuse what is freed */
        snprintf(k, sizeof(k), "other:%u", i % 100);
        sim_put(e, d, 1, k, v, VLEN, &c);
        sim_step(e, d, 1);
    }
    assert_true(l.done);
    sim_drain(e, d, &c);
    ls_get_stats(e, &st);
    print_message("listed %u keys, %llu corrupt reads, %llu segments freed\n", l.n,
                  (unsigned long long)st.read_corrupt, (unsigned long long)compact_freed(e));
    assert_true(compact_freed(e) > 0);
    assert_int_equal(st.read_corrupt, 0);
    assert_int_equal(l.n, N);
    assert_int_equal(l.next, 0);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(l.seen[i], 1);
    no_readers(e);
    free(l.seen);
    free(v);
    ls_close(e);
    simdev_free(d);
}

/* A span whose read fails leaves its keys out (counted in read_corrupt, logged), gives its
 * segment back like the reads that succeed, and the callback still runs once, with the
 * other keys; a later scan lists everything. */
static void test_scan_read_fails(void **state)
{
    enum { N = 2000, VLEN = 6000 };
    struct simdev *d = simdev_new(8);
    struct ls_config cfg;
    struct ls_engine *e;
    struct ls_stats st;
    char *v = calloc(1, VLEN);

    (void)state;
    sim_config(&cfg, d);
    cfg.max_key_size = 64; /* one call takes every entry */
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, 0, N, v, VLEN, 0); /* 95 segments: spans start late */
    uio_set_faults(e->u, &(struct uio_faults){.fail_read_n = 50});
    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    scan_run(e, d, 0, 0, N, &l, 8);
    for (int i = 0; i < 100; i++) /* nothing more comes */
        sim_step(e, d, 8);
    ls_get_stats(e, &st);
    assert_int_equal(l.calls, 1);
    assert_true(st.read_corrupt > 0);
    assert_int_equal(l.n + st.read_corrupt, N);
    no_readers(e);

    uio_set_faults(e->u, &(struct uio_faults){0});
    memset(l.seen, 0, N);
    l.n = 0;
    scan_run(e, d, 0, 0, N, &l, 8);
    assert_int_equal(l.n, N);
    no_readers(e);
    free(l.seen);
    free(v);
    ls_close(e);
    simdev_free(d);
}

/* Lists table t with SCAN COUNT 10 from cursor 0 to the end, and asserts that every key
 * "k:<i>..." (i < n) was listed once and that the device reads it took stayed below
 * max_reads (it stops there). Returns the reads. */
static uint64_t scan_all(struct ls_engine *e, struct simdev *d, uint32_t t, uint32_t n,
                         uint64_t max_reads)
{
    struct listing l = {.seen = calloc(n, 1), .nkeys = n};
    struct ls_stats st;
    uint64_t reads0, cursor = 0;

    ls_get_stats(e, &st);
    reads0 = st.device_reads;
    do {
        scan_run(e, d, t, cursor, 10, &l, 8);
        cursor = l.next;
        ls_get_stats(e, &st);
        if (st.device_reads - reads0 > max_reads)
            fail_msg("%llu reads after %u of %u keys",
                     (unsigned long long)(st.device_reads - reads0), l.n, n);
    } while (cursor != 0 && l.calls < (int)n);
    assert_int_equal(st.read_corrupt, 0);
    assert_int_equal(l.n, n);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(l.seen[i], 1);
    free(l.seen);
    return st.device_reads - reads0;
}

/* A SCAN iteration reads ahead into the key cache when a call misses a key, so that the
 * calls that follow find theirs in memory. A key the cache does not keep (longer than
 * KC_KEY_MAX, or pushed out of its arena by the later keys of the same read-ahead) missed
 * again at the next call, and each such call read the next 32768 entries (up to 16 MiB of
 * records) again: 1100-byte keys took 3,000 reads for the first 1,120 of 3,000 keys
 * (11,406 in all), 1020-byte keys 12,000 for the first 1,860 of 12,000 keys, where the
 * scans before the key cache read once per key. Now a record the cache has seen is never
 * read ahead again, and a call that misses only such records reads them alone. */
static void test_scan_ahead_long_keys(void **state)
{
    enum { N = 3000 };
    struct simdev *d = simdev_new(9);
    struct ls_config cfg;
    struct ls_engine *e;
    struct wcount c = {0};
    char k[1200];
    const uint32_t klen[2] = {1100, 1020}; /* too long for the cache; 12 MB for its 4 MiB */
    const uint32_t n[2] = {N, 4 * N};

    (void)state;
    sim_config(&cfg, d);
    assert_int_equal(ls_open(&cfg, &e), 0);
    for (uint32_t t = 0; t < 2; t++) {
        for (uint32_t i = 0; i < n[t]; i++) {
            memset(k, 'x', klen[t]);
            k[snprintf(k, sizeof(k), "k:%u:", i)] = 'x';
            k[klen[t]] = 0;
            sim_put(e, d, t, k, "v", 1, &c);
        }
        sim_drain(e, d, &c);
        uint64_t reads = scan_all(e, d, t, n[t], n[t]);
        print_message("%u keys of %u bytes: %llu reads\n", n[t], klen[t],
                      (unsigned long long)reads);
    }
    no_readers(e);
    ls_close(e);
    simdev_free(d);
}

/* idx_scan never stops inside a run of entries with one token (the cursor is a token: the
 * run's rest would be skipped), so a call takes a whole run whatever its count. The scan
 * sized its array of entries for count + 256 and dropped the rest of a longer run
 * silently, the cursor going on past it: 300 keys on one token listed 266. Keys that
 * share all 64 bits of a token take crafted hash collisions (XXH3 is not collision-proof),
 * so this gives 300 entries one token by hand. */
static void test_scan_takes_whole_token_runs(void **state)
{
    enum { N = 300, T = 2 };
    struct simdev *d = simdev_new(10);
    struct ls_config cfg;
    struct ls_engine *e;
    char k[32];
    uint64_t token, same = 0;
    uint32_t hash2;

    (void)state;
    sim_config(&cfg, d);
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, T, N, "v", 1, 0);
    struct idx *t = e->tables[eng_phys(e, T)];
    for (unsigned i = 0; i < N; i++) {
        struct idx_ent ent;
        snprintf(k, sizeof(k), "k:%u", i);
        token_of(k, strlen(k), &token, &hash2);
        same = i ? same : token;
        assert_int_equal(idx_remove(t, token, hash2, &ent), 0);
        ent.token = same;
        ent.meta = idx_make_meta(0, i); /* hash2: distinct */
        assert_int_equal(idx_upsert(t, &ent, NULL), 0);
    }
    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    scan_run(e, d, T, 0, 10, &l, 8);
    assert_int_equal(l.n, N);
    assert_int_equal(l.next, 0);
    no_readers(e);
    free(l.seen);
    ls_close(e);
    simdev_free(d);
}

/* A whole-table scan (KEYS) keeps the keys it read from the device in the key cache, and
 * the keys of records written afterwards go there too: the next whole-table scan reads
 * nothing from the device and lists every key, old and new. Before, a scan's own records
 * were never kept (every KEYS read the whole log again: 315 bytes per key of 100 B values). */
static void test_scan_keeps_keys(void **state)
{
    enum { N = 3000 };
    struct simdev *d = simdev_new(12);
    struct ls_config cfg;
    struct ls_engine *e;
    struct ls_stats st;
    char v[100];

    (void)state;
    memset(v, 'v', sizeof(v));
    sim_config(&cfg, d);
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, 0, N / 2, v, sizeof(v), 0);
    assert_int_equal(ls_close_reopen_sim(&cfg, &e), 0); /* nothing in memory */
    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    scan_run(e, d, 0, 0, 100000, &l, 4);
    assert_int_equal(l.n, N / 2);
    ls_get_stats(e, &st);
    assert_true(st.device_reads > 0);
    /* the other half written now (their write buffers pushed out by more writes) */
    struct wcount c = {0};
    char k[32];
    for (unsigned i = N / 2; i < N; i++) {
        snprintf(k, sizeof(k), "k:%u", i);
        sim_put(e, d, 0, k, v, sizeof(v), &c);
    }
    for (unsigned i = 0; i < 4000; i++) {
        snprintf(k, sizeof(k), "x:%u", i);
        sim_put(e, d, 1, k, v, sizeof(v), &c);
    }
    sim_drain(e, d, &c);
    ls_get_stats(e, &st);
    uint64_t reads = st.device_reads;
    memset(l.seen, 0, N);
    l.n = l.calls = 0;
    scan_run(e, d, 0, 0, 100000, &l, 4);
    assert_int_equal(l.n, N);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(l.seen[i], 1);
    ls_get_stats(e, &st);
    assert_int_equal(st.device_reads, reads);
    no_readers(e);
    free(l.seen);
    ls_close(e);
    simdev_free(d);
}

/* ls_scan_match's filter: keys "k:<n>" with n a multiple of 7 (and counts its calls). */
static unsigned match_calls;

static int match_sevens(void *marg, const void *key, uint32_t key_len, uint8_t vtype)
{
    char name[16];
    unsigned k;

    (void)marg;
    assert_int_equal(vtype, 0);
    match_calls++;
    snprintf(name, sizeof(name), "%.*s", (int)(key_len < 15 ? key_len : 15), (const char *)key);
    assert_int_equal(sscanf(name, "k:%u", &k), 1);
    return k % 7 == 0;
}

/* A filtered scan lists exactly the keys its filter keeps, whether they come from the
 * device, the key cache or a write buffer, in several calls by cursor; the filter is
 * asked once per key listed from memory or from a record. */
static void test_scan_match(void **state)
{
    enum { N = 2000 };
    struct simdev *d = simdev_new(13);
    struct ls_config cfg;
    struct ls_engine *e;
    char v[100];

    (void)state;
    memset(v, 'v', sizeof(v));
    sim_config(&cfg, d);
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, 0, N, v, sizeof(v), 0);
    assert_int_equal(ls_close_reopen_sim(&cfg, &e), 0); /* from the device, then the cache */
    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    for (int round = 0; round < 3; round++) {
        if (round == 2) { /* a quarter of them rewritten: some still in a write buffer */
            struct wcount c = {0};
            char k[32];
            for (unsigned i = 0; i < N; i += 4) {
                snprintf(k, sizeof(k), "k:%u", i);
                sim_put(e, d, 0, k, v, sizeof(v), &c);
            }
            sim_drain(e, d, &c);
        }
        memset(l.seen, 0, N);
        l.n = 0;
        match_calls = 0;
        uint64_t cursor = 0;
        do {
            scan_run_match(e, d, 0, cursor, 300, match_sevens, &l, 4);
            cursor = l.next;
        } while (cursor);
        for (unsigned i = 0; i < N; i++)
            if (l.seen[i] != (i % 7 == 0))
                fail_msg("round %d: key k:%u listed %u times", round, i, l.seen[i]);
        assert_int_equal(l.n, (N + 6) / 7);
        assert_int_equal(match_calls, N);
    }
    no_readers(e);
    free(l.seen);
    ls_close(e);
    simdev_free(d);
}

/* Key i of test_scan_cache_wraps: "k:<i>:" then bytes drawn from i, 8 to 1207 bytes in
 * all (some longer than KC_KEY_MAX). Returns its length. */
static uint32_t wrap_key(unsigned i, char *k)
{
    uint32_t len = 8 + (i * 7919u) % 1200, at = (uint32_t)snprintf(k, 32, "k:%u:", i);
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;

    for (; at < len; at++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        k[at] = (char)(x >> 56);
    }
    return len;
}

/* Puts key i of wrap_key into table 0 (its bytes may hold a NUL: not sim_put). */
static void wrap_put(struct ls_engine *e, struct simdev *d, unsigned i, const char *v,
                     struct wcount *c)
{
    char k[1300];
    uint32_t len = wrap_key(i, k);

    sim_put_len(e, d, 0, k, len, v, strlen(v), c);
}

struct exact {
    struct listing l;
    uint32_t wrong;
};

/* listing_cb, and every byte of each key must be the key's own */
static void exact_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct exact *x = arg;
    char want[1300];

    listing_cb(&x->l, rc, keys, n, next);
    for (uint32_t i = 0; i < n; i++) {
        unsigned k = 0;
        sscanf((const char *)keys[i].key, "k:%u:", &k);
        uint32_t len = wrap_key(k, want);
        if (keys[i].key_len != len || memcmp(keys[i].key, want, len) != 0)
            x->wrong++;
    }
}

/* The key cache's arena (about 5.9 MB at the 8 MiB minimum) wraps many times while whole
 * SCAN iterations run (COUNT 10, 1000, everything) over 10,000 keys of 8 to 1207 bytes
 * (6 MB) and a third of them are rewritten between iterations (their keys go into the
 * cache as they are written): entries are laid end to end across laps, skip the arena's
 * end, and are written over; a slot whose entry is gone must not give another record's
 * key or bytes of a later entry. Every key is listed once, with its own bytes. */
static void test_scan_cache_wraps(void **state)
{
    enum { N = 10000 };
    struct simdev *d = simdev_new(14);
    struct ls_config cfg;
    struct ls_engine *e;
    const uint32_t counts[] = {10, 1000, 100000, 37, 100000};
    uint64_t x = 5;

    (void)state;
    sim_config(&cfg, d);
    cfg.scan_cache_size = 0; /* the minimum */
    assert_int_equal(ls_open(&cfg, &e), 0);
    struct wcount c = {0};
    for (unsigned i = 0; i < N; i++)
        wrap_put(e, d, i, "v", &c);
    sim_drain(e, d, &c);
    struct exact ex = {.l = {.seen = calloc(N, 1), .nkeys = N}};
    for (unsigned round = 0; round < sizeof(counts) / sizeof(counts[0]); round++) {
        memset(ex.l.seen, 0, N);
        ex.l.n = 0;
        uint64_t cursor = 0;
        do {
            ex.l.done = 0;
            assert_int_equal(ls_scan(e, 0, cursor, counts[round], exact_cb, &ex), 0);
            for (int i = 0; i < 100000 && !ex.l.done; i++)
                sim_step(e, d, 8);
            assert_true(ex.l.done);
            cursor = ex.l.next;
        } while (cursor);
        assert_int_equal(ex.wrong, 0);
        for (unsigned i = 0; i < N; i++)
            if (ex.l.seen[i] != 1)
                fail_msg("round %u: key %u listed %u times", round, i, ex.l.seen[i]);
        for (unsigned i = 0; i < N / 3; i++) { /* rewritten: their keys into the cache */
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            wrap_put(e, d, (unsigned)(x >> 33) % N, "w", &c);
        }
        sim_drain(e, d, &c);
    }
    no_readers(e);
    free(ex.l.seen);
    ls_close(e);
    simdev_free(d);
}

/* Values larger than a segment are records spanning a run of segments (BUF_LARGE): a
 * span of their own, read whole, holding the run's first segment. With small records
 * around them every key is listed and every hold given back; then the engine closes with
 * a scan in flight: its callback runs once, from ls_close, with every key. */
static void test_scan_large_records_and_close(void **state)
{
    enum { N = 60, BIG = 300000 };
    struct simdev *d = simdev_new(11);
    struct ls_config cfg;
    struct ls_engine *e;
    char *v = calloc(1, BIG);

    (void)state;
    sim_config(&cfg, d);
    assert_int_equal(ls_open(&cfg, &e), 0);
    put_keys(e, d, 0, N, v, 100, BIG); /* 20 of 300 KB: 3 segments each */
    struct listing l = {.seen = calloc(N, 1), .nkeys = N};
    scan_run(e, d, 0, 0, N, &l, 1);
    assert_int_equal(l.n, N);
    no_readers(e);

    /* reopened: the key cache, which now holds every key, is gone, so the scan reads */
    ls_close(e);
    assert_int_equal(ls_open(&cfg, &e), 0);
    memset(l.seen, 0, N);
    l.n = l.done = l.calls = 0;
    assert_int_equal(ls_scan(e, 0, 0, N, listing_cb, &l), 0);
    sim_step(e, d, 1);
    assert_int_equal(l.done, 0);
    ls_close(e);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.n, N);
    free(l.seen);
    free(v);
    simdev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_holds_its_segments),
        cmocka_unit_test(test_scan_read_fails),
        cmocka_unit_test(test_scan_ahead_long_keys),
        cmocka_unit_test(test_scan_takes_whole_token_runs),
        cmocka_unit_test(test_scan_large_records_and_close),
        cmocka_unit_test(test_scan_keeps_keys),
        cmocka_unit_test(test_scan_match),
        cmocka_unit_test(test_scan_cache_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
