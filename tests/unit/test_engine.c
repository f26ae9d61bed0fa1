/*
 * test_engine.c - the engine through its public API: put/get/overwrite/delete, read-your-
 * writes, persistence across reopen, expiry (lazy, sweep, recovery), large values, scan
 * with a resumable cursor, flush_table, limits, durability modes, tokens and slots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "eng_util.h"
#include "internal.h" /* eng_check */
#include <sys/socket.h>
#include <xxhash.h>

static int setup(void **state)
{
    struct fx *f = fx_open(small_config);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

static void reopen(struct fx *f)
{
    assert_int_equal(fx_reopen(f), 0);
}

static void test_put_get_overwrite_delete(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put_sync(f->e, 0, "a", "1", 1, 0), 0);
    check_value(f->e, 0, "a", "1");
    assert_int_equal(put_sync(f->e, 0, "a", "two", 3, 0), 0);
    check_value(f->e, 0, "a", "two");
    check_value(f->e, 1, "a", NULL); /* tables are separate key spaces */
    assert_int_equal(del_sync(f->e, 0, "a"), 0);
    check_value(f->e, 0, "a", NULL);
    assert_int_equal(ls_del(f->e, 0, "a", 1, wres_cb, NULL), LS_ENOTFOUND);
    assert_int_equal(ls_count(f->e, 0), 0);
}

static void test_read_your_writes(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};
    struct gres g = {0};

    /* Not yet acknowledged, not yet on disk: the get must still see it. */
    assert_int_equal(ls_put(f->e, 0, "k", 1, "v1", 2, NULL, wres_cb, &w), 0);
    assert_int_equal(ls_get(f->e, 0, "k", 1, gres_cb, &g), 0);
    assert_int_equal(g.done, 0); /* never called inside the submitting call */
    run_until(f->e, &g.done);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.value, "v1");
    free(g.value);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, 0);
    /* After the write completed the record is read from the device. */
    struct ls_stats st;
    ls_get_stats(f->e, &st);
    uint64_t reads = st.device_reads;
    check_value(f->e, 0, "k", "v1");
    ls_get_stats(f->e, &st);
    assert_true(st.device_reads == reads + 1);
}

static void test_persistence(void **state)
{
    struct fx *f = *state;
    char k[32], v[64];

    struct wres *w = calloc(2000, sizeof(*w));
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        snprintf(v, sizeof(v), "value-%d", i * 7);
        assert_int_equal(
            ls_put(f->e, (uint32_t)(i % 3), k, strlen(k), v, strlen(v), NULL, wres_cb, &w[i]), 0);
        if (i % 100 == 99)
            run_until(f->e, &w[i].done);
    }
    assert_int_equal(sync_sync(f->e), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(w[i].rc, 0);
    free(w);
    assert_int_equal(del_sync(f->e, 0, "key:0"), 0);
    assert_int_equal(put_sync(f->e, 1, "key:1", "over", 4, 0), 0);
    reopen(f);
    assert_int_equal(ls_count(f->e, 0) + ls_count(f->e, 1) + ls_count(f->e, 2), 1999);
    check_value(f->e, 0, "key:0", NULL);
    check_value(f->e, 1, "key:1", "over");
    for (int i = 2; i < 2000; i += 37) {
        snprintf(k, sizeof(k), "key:%d", i);
        snprintf(v, sizeof(v), "value-%d", i * 7);
        check_value(f->e, (uint32_t)(i % 3), k, v);
    }
    /* cas survives the restart */
    struct gres g = {0};
    assert_int_equal(ls_get(f->e, 1, "key:1", 5, gres_cb, &g), 0);
    run_until(f->e, &g.done);
    assert_true(g.cas > 2000);
    free(g.value);
}

static void test_expiry(void **state)
{
    struct fx *f = *state;
    struct ls_meta m;

    assert_int_equal(put_sync(f->e, 0, "old", "x", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "old", "y", 1, fake_now_ms + 1000), 0);
    assert_int_equal(put_sync(f->e, 0, "keep", "z", 1, fake_now_ms + 100000), 0);
    assert_int_equal(ls_lookup(f->e, 0, "old", 3, &m), 0);
    assert_int_equal(m.expire_ms, fake_now_ms + 1000);
    check_value(f->e, 0, "old", "y");
    fake_now_ms += 2000;
    check_value(f->e, 0, "old", NULL);
    assert_int_equal(ls_lookup(f->e, 0, "old", 3, &m), LS_ENOTFOUND);
    /* an expired record hides the older one after a restart too */
    reopen(f);
    check_value(f->e, 0, "old", NULL);
    check_value(f->e, 0, "keep", "z");
    /* the sweep drops expired entries from memory without any access */
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "t%d", i);
        assert_int_equal(put_sync(f->e, 0, k, "v", 1, fake_now_ms + 10), 0);
    }
    assert_int_equal(ls_count(f->e, 0), 101);
    fake_now_ms += 20;
    for (int i = 0; i < 40; i++)
        ls_tick(f->e);
    assert_int_equal(ls_count(f->e, 0), 1);
    /* a put already expired acts as a delete */
    assert_int_equal(put_sync(f->e, 0, "keep", "z", 1, fake_now_ms - 1), 0);
    check_value(f->e, 0, "keep", NULL);
    assert_int_equal(put_sync(f->e, 0, "never", "z", 1, fake_now_ms - 1), 0);
    assert_int_equal(ls_count(f->e, 0), 0);
}

/* ---- expiry reports (ls_config.expired) ---- */

#define REPORTS_MAX 256
static struct {
    int n;
    uint32_t table[REPORTS_MAX];
    char key[REPORTS_MAX][16];
} reports;

static void record_expired(void *arg, uint32_t table, const void *key, size_t key_len)
{
    assert_ptr_equal(arg, &reports);
    assert_true(reports.n < REPORTS_MAX && key_len < 16);
    reports.table[reports.n] = table;
    memcpy(reports.key[reports.n], key, key_len);
    reports.key[reports.n][key_len] = '\0';
    reports.n++;
}

static void reporting_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->expired = record_expired;
    c->expired_arg = &reports;
}

static int setup_reporting(void **state)
{
    memset(&reports, 0, sizeof(reports));
    struct fx *f = fx_open(reporting_config);
    assert_non_null(f);
    *state = f;
    return 0;
}

/* How many reports name table/key. */
static int reported(uint32_t table, const char *key)
{
    int n = 0;
    for (int i = 0; i < reports.n; i++)
        n += reports.table[i] == table && strcmp(reports.key[i], key) == 0;
    return n;
}

/* Each way the engine finds a key expired reports it once, with its table and key: a
 * get, a lookup, a delete, a put over it, and the sweep (which reads each record to learn
 * its key, LS_EXPIRY_READS at a time); with reports off the sweep drops keys unread. */
static void test_expired_reports(void **state)
{
    struct fx *f = *state;
    struct ls_meta m;
    struct gres g = {0};
    const char *keys[] = {"g", "l", "d", "p"};

    for (int i = 0; i < 4; i++)
        assert_int_equal(put_sync(f->e, 3, keys[i], "v", 1, fake_now_ms + 1000), 0);
    fake_now_ms += 2000;
    assert_int_equal(reports.n, 0);
    assert_int_equal(ls_get(f->e, 3, "g", 1, gres_cb, &g), LS_ENOTFOUND);
    assert_int_equal(ls_lookup(f->e, 3, "l", 1, &m), LS_ENOTFOUND);
    assert_int_equal(del_sync(f->e, 3, "d"), LS_ENOTFOUND);
    assert_int_equal(put_sync(f->e, 3, "p", "new", 3, 0), 0);
    assert_int_equal(reports.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(reported(3, keys[i]), 1);
    assert_int_equal(ls_get(f->e, 3, "g", 1, gres_cb, &g), LS_ENOTFOUND); /* once only */
    assert_int_equal(reports.n, 4);
    check_value(f->e, 3, "p", "new");

    /* the sweep: 100 keys nobody reads */
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s%d", i);
        assert_int_equal(put_sync(f->e, 5, k, "v", 1, fake_now_ms + 10), 0);
    }
    fake_now_ms += 20;
    for (int i = 0; i < 20000 && reports.n < 104; i++) {
        ls_tick(f->e);
        ls_poll(f->e);
    }
    assert_int_equal(reports.n, 104);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s%d", i);
        assert_int_equal(reported(5, k), 1);
    }
    assert_int_equal(ls_count(f->e, 5), 0);

    /* off: the sweep drops them unreported */
    ls_report_expired(f->e, 0);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "o%d", i);
        assert_int_equal(put_sync(f->e, 6, k, "v", 1, fake_now_ms + 10), 0);
    }
    fake_now_ms += 20;
    for (int i = 0; i < 200 && ls_count(f->e, 6) > 0; i++) {
        ls_tick(f->e);
        ls_poll(f->e);
    }
    assert_int_equal(ls_count(f->e, 6), 0);
    assert_int_equal(reports.n, 104);
}

/* Expiries are kept exactly up to LS_EXPIRE_MAX and refused beyond (they were cut to 44
 * bits: a PXAT of 2^44 + 1000 ms came back as 1000, an already expired key). */
static void test_expiry_range(void **state)
{
    struct fx *f = *state;
    struct ls_write_opts o = {.expire_ms = LS_EXPIRE_MAX + 1001};
    struct wres w = {0};
    struct ls_meta m;

    assert_int_equal(ls_put(f->e, 0, "far", 3, "v", 1, &o, wres_cb, &w), LS_EINVAL);
    o.expire_ms = UINT64_C(1) << 45;
    assert_int_equal(ls_put(f->e, 0, "far", 3, "v", 1, &o, wres_cb, &w), LS_EINVAL);
    assert_int_equal(put_sync(f->e, 0, "max", "v", 1, LS_EXPIRE_MAX), 0);
    reopen(f);
    assert_int_equal(ls_lookup(f->e, 0, "max", 3, &m), 0);
    assert_int_equal(m.expire_ms, LS_EXPIRE_MAX);
    assert_int_equal(ls_lookup(f->e, 0, "far", 3, &m), LS_ENOTFOUND);
    assert_int_equal(w.done, 0); /* refused calls never call back */
}

/* A put already past its expiry writes a tombstone even when the key is absent from the
 * index: an expired older record on disk must not come back over it after a restart
 * with the clock set back (the simulator found this, seed 37). */
static void test_expired_put_hides_older(void **state)
{
    struct fx *f = *state;
    uint64_t t0 = fake_now_ms;

    assert_int_equal(put_sync(f->e, 0, "k", "old", 3, t0 + 1000), 0);
    fake_now_ms = t0 + 2000; /* the old value expires: k leaves the index */
    check_value(f->e, 0, "k", NULL);
    assert_int_equal(put_sync(f->e, 0, "k", "new", 3, t0 + 1500), 0); /* already expired */
    fake_now_ms = t0; /* the clock steps back before the restart */
    reopen(f);
    check_value(f->e, 0, "k", NULL);
    fake_now_ms = t0 + 2000;
}

/* An error return means the callback never runs: a put already expired, refused because
 * the engine failed, called back too (a double completion, found by the simulator). */
static void test_failed_refusal_never_calls_back(void **state)
{
    struct fx *f = *state;
    struct ls_faults fl = {.fail_write_n = 1};
    struct ls_write_opts o = {.expire_ms = fake_now_ms - 1};
    struct wres w = {0};

    ls_set_faults(f->e, &fl);
    assert_int_equal(put_sync(f->e, 0, "a", "v", 1, 0), LS_EFAILED);
    assert_int_equal(ls_put(f->e, 0, "b", 1, "v", 1, &o, wres_cb, &w), LS_EFAILED);
    for (int i = 0; i < 100; i++)
        ls_poll(f->e);
    assert_int_equal(w.done, 0);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 31 + seed) % 26);
}

static void test_large_values(void **state)
{
    struct fx *f = *state;
    size_t sizes[] = {100000, 131072, 300000, 1 << 20, 3u << 20};
    char k[16];

    ls_close(f->e);
    f->cfg.max_value_size = (uint32_t)ls_max_value(f->cfg.file_size, f->cfg.max_key_size);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    for (unsigned i = 0; i < 5; i++) {
        char *v = malloc(sizes[i]);
        fill(v, sizes[i], i);
        snprintf(k, sizeof(k), "big%u", i);
        assert_int_equal(put_sync(f->e, 0, k, v, sizes[i], 0), 0);
        assert_int_equal(put_sync(f->e, 0, "small", k, strlen(k), 0), 0);
        free(v);
    }
    reopen(f);
    for (unsigned i = 0; i < 5; i++) {
        char *v = malloc(sizes[i]), *got = NULL;
        uint32_t len = 0;
        fill(v, sizes[i], i);
        snprintf(k, sizeof(k), "big%u", i);
        assert_int_equal(get_sync(f->e, 0, k, &got, &len), 0);
        assert_int_equal(len, sizes[i]);
        assert_memory_equal(got, v, len);
        free(got);
        free(v);
    }
    check_value(f->e, 0, "small", "big4"); /* written after the last large record */
    char *toobig = calloc(1, (16u << 20) + 1);
    assert_int_equal(ls_put(f->e, 0, "x", 1, toobig, (16u << 20) + 1, NULL, wres_cb, NULL),
                     LS_ETOOBIG);
    free(toobig);
}

struct scan_acc {
    int done, calls;
    uint64_t next;
    char **keys;
    uint32_t n;
};
static void scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct scan_acc *a = arg;
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < n; i++) {
        a->keys[a->n] = strndup(keys[i].key, keys[i].key_len);
        a->n++;
    }
    a->next = next;
    a->done = 1;
    a->calls++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes n keys "<prefix>:<i>" of len zero bytes to table t and syncs, so that their
 * records are on the device (not in a write buffer, not in the record cache). */
static void fill_synced(struct ls_engine *e, uint32_t t, const char *prefix, int n, size_t len)
{
    char k[32], *v = calloc(1, len);
    struct wres *w = calloc((size_t)n, sizeof(*w));

    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s:%05d", prefix, i);
        assert_int_equal(ls_put(e, t, k, strlen(k), v, len, NULL, wres_cb, &w[i]), 0);
    }
    run_until(e, &w[n - 1].done);
    free(w);
    free(v);
    assert_int_equal(sync_sync(e), 0);
}

/* A big scan's span reads start over several turns of the loop (4 MiB in flight at a
 * time); every segment it will read must be held from the moment ls_scan lists its
 * records, or compaction may free and reuse one before its span starts (the record then
 * fails its checksum and its key is left out). Checked as the invariant: right after
 * ls_scan, each segment holding this table's records on the device has a reader; after
 * the scan, none has. */
static void test_scan_holds_segments(void **state)
{
    struct fx *f = *state;
    enum { LEN = 1000, N = 6000 }; /* 6 MB: ~48 segments, more than one 4 MiB round */
    struct scan_acc a = {.keys = calloc(N + 10, sizeof(char *))};

    fill_synced(f->e, 6, "hold", N, LEN);
    struct seg_mgr *m = &f->e->sm;
    assert_int_equal(ls_scan(f->e, 6, 0, LS_SCAN_MAX, scan_cb, &a), 0);
    uint32_t held = 0;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        if (m->d[g].live == 0 || m->d[g].mem_bufs)
            continue; /* nothing of it to read, or read from its write buffer */
        assert_true(m->d[g].readers > 0);
        held++;
    }
    assert_true(held > 32);
    run_until(f->e, &a.done);
    assert_int_equal(a.n, N);
    for (uint32_t g = 0; g < m->nsegs; g++)
        assert_int_equal(m->d[g].readers, 0);
    for (uint32_t i = 0; i < a.n; i++)
        free(a.keys[i]);
    free(a.keys);
}

/* A SCAN call that starts a read-ahead answers once its own records are read: the
 * read-ahead (up to 16 MiB, more than the 4 MiB in flight at once) goes on after the
 * callback, so the caller does not wait for it. The next call, coming meanwhile, waits
 * for the read-ahead and finds its keys cached, as do the calls after it. */
struct early_acc {
    struct scan_acc a;
    struct ls_engine *e;
    unsigned inflight_at_cb;
};
static void early_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct early_acc *x = arg;
    x->inflight_at_cb = uio_inflight(x->e->u);
    scan_cb(&x->a, rc, keys, n, next);
}

static void test_scan_answers_before_read_ahead(void **state)
{
    struct fx *f = *state;
    enum { LEN = 200, N = 40000 }; /* 9.6 MB: a read-ahead of ~8 MB */
    struct early_acc x = {.a.keys = calloc(16, sizeof(char *)), .e = f->e};

    fill_synced(f->e, 7, "early", N, LEN);
    assert_int_equal(ls_scan(f->e, 7, 0, 10, early_cb, &x), 0);
    run_until(f->e, &x.a.done);
    assert_int_equal(x.a.n, 10);
    assert_true(x.inflight_at_cb > 0); /* the read-ahead was still going */
    for (uint32_t i = 0; i < x.a.n; i++)
        free(x.a.keys[i]);
    x.a.n = 0;
    /* the next call, while the read-ahead is in flight, waits for it and takes its keys
     * from the cache (reading its own records alone cost twice the CPU) */
    x.a.done = 0;
    assert_true(f->e->scans_ahead == 1);
    assert_int_equal(ls_scan(f->e, 7, x.a.next, 10, early_cb, &x), 0);
    run_until(f->e, &x.a.done);
    assert_int_equal(x.a.n, 10);
    assert_int_equal(f->e->scans_ahead, 0);
    for (uint32_t i = 0; i < x.a.n; i++)
        free(x.a.keys[i]);
    x.a.n = 0;
    for (int i = 0; i < 100000 && f->e->scans_ahead; i++) {
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(f->e);
    }
    assert_int_equal(f->e->scans_ahead, 0);
    struct ls_stats st;
    ls_get_stats(f->e, &st);
    uint64_t reads0 = st.device_reads, cursor = x.a.next;
    for (int call = 0; call < 100; call++) { /* the next 1000 keys come from the cache */
        x.a.done = 0;
        assert_int_equal(ls_scan(f->e, 7, cursor, 10, early_cb, &x), 0);
        run_until(f->e, &x.a.done);
        cursor = x.a.next;
        for (uint32_t i = 0; i < x.a.n; i++)
            free(x.a.keys[i]);
        x.a.n = 0;
    }
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0);
    free(x.a.keys);
}

/* A key read and then written in turn (INCR, APPEND, GET then SET) is served from the
 * record cache: the new version of a cached record is cached when its write is
 * acknowledged. It had a new address, so every step read the device. A record nobody
 * read is not cached on write. */
static void test_cache_follows_rewrites(void **state)
{
    struct fx *f = *state;
    struct ls_stats st;
    char *out = NULL, val[16];
    uint32_t len;

    assert_int_equal(put_sync(f->e, 8, "counter", "0", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 8, "cold", "0", 1, 0), 0);
    assert_int_equal(sync_sync(f->e), 0);
    assert_int_equal(get_sync(f->e, 8, "counter", &out, &len), 0); /* from the device */
    free(out);
    ls_get_stats(f->e, &st);
    uint64_t reads0 = st.device_reads;
    for (int i = 1; i <= 50; i++) {
        snprintf(val, sizeof(val), "%d", i);
        assert_int_equal(put_sync(f->e, 8, "counter", val, strlen(val), 0), 0);
        assert_int_equal(put_sync(f->e, 8, "cold", val, strlen(val), 0), 0);
        assert_int_equal(sync_sync(f->e), 0);
        assert_int_equal(get_sync(f->e, 8, "counter", &out, &len), 0);
        assert_int_equal(len, strlen(val));
        assert_memory_equal(out, val, len);
        free(out);
    }
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0);
    /* the key nobody read was not cached: its read goes to the device */
    assert_int_equal(get_sync(f->e, 8, "cold", &out, &len), 0);
    free(out);
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0 + 1);
}

static void cache_writes_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->cache_writes = 1;
    c->cache_size = 64u << 10; /* 64 KiB: records of at most 8 KiB, about 60 of 1 KiB */
}

/* With cache_writes, a record just written is cached while the cache has room to spare:
 * its first GET reads no device. A cache with no room to spare keeps what reads put
 * there: written records are not cached at their expense. */
/* ls_hold_submissions: a read of a record on the device is prepared but not handed to the
 * kernel until ls_submit, however long the caller polls; after it, the read completes
 * with the value. A read still held when the engine closes completes (close flushes). */
static void test_hold_submissions(void **state)
{
    struct fx *f = *state;
    char v[300];

    memset(v, 'h', sizeof(v));
    assert_int_equal(put_sync(f->e, 0, "held", v, sizeof(v), 0), 0);
    assert_int_equal(put_sync(f->e, 0, "held2", v, sizeof(v), 0), 0);
    assert_int_equal(sync_sync(f->e), 0);
    assert_int_equal(fx_reopen(f), 0); /* nothing in memory: the gets read the device */
    ls_hold_submissions(f->e, 1);
    struct gres g = {0};
    assert_int_equal(ls_get(f->e, 0, "held", 4, gres_cb, &g), 0);
    for (int i = 0; i < 200 && !g.done; i++) {
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(f->e);
        ls_tick(f->e);
    }
    assert_false(g.done); /* never submitted */
    assert_int_equal(ls_submit(f->e), 0);
    run_until(f->e, &g.done);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.len, sizeof(v));
    assert_memory_equal(g.value, v, sizeof(v));
    free(g.value);
    struct gres g2 = {0};
    assert_int_equal(ls_get(f->e, 0, "held2", 5, gres_cb, &g2), 0);
    ls_close(f->e); /* waits for it: the held read is submitted first */
    f->e = NULL;
    assert_true(g2.done);
    assert_int_equal(g2.rc, 0);
    free(g2.value);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
}

static void test_cache_writes(void **state)
{
    (void)state;
    struct fx *f = fx_open(cache_writes_config);
    struct ls_stats st;
    char k[16], v[1024];
    char *out = NULL;
    uint32_t len;

    assert_non_null(f);
    memset(v, 'v', sizeof(v));
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, sizeof(v), 0), 0);
    }
    assert_int_equal(sync_sync(f->e), 0);
    for (int i = 0; i < 64; i++) { /* the write buffers move on: reads are not from them */
        snprintf(k, sizeof(k), "pad%d", i);
        assert_int_equal(put_sync(f->e, 1, k, v, 100, 0), 0);
    }
    assert_int_equal(sync_sync(f->e), 0);
    ls_get_stats(f->e, &st);
    uint64_t reads0 = st.device_reads;
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        assert_int_equal(get_sync(f->e, 0, k, &out, &len), 0);
        assert_int_equal(len, sizeof(v));
        free(out);
    }
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0); /* all from the cache */
    /* the cache fills up with more writes, then stops taking them: nothing read is lost */
    for (int i = 20; i < 200; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, sizeof(v), 0), 0);
    }
    assert_int_equal(sync_sync(f->e), 0);
    for (int i = 0; i < 64; i++) {
        snprintf(k, sizeof(k), "pad%d", i);
        assert_int_equal(put_sync(f->e, 1, k, v, 100, 0), 0);
    }
    assert_int_equal(sync_sync(f->e), 0);
    ls_get_stats(f->e, &st);
    reads0 = st.device_reads;
    for (int i = 0; i < 20; i++) { /* read (CLOCK bit set) before the cache was full */
        snprintf(k, sizeof(k), "w%d", i);
        assert_int_equal(get_sync(f->e, 0, k, &out, &len), 0);
        free(out);
    }
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0);
    assert_int_equal(get_sync(f->e, 0, "w199", &out, &len), 0); /* written once full */
    free(out);
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0 + 1);
    fx_close(f);
}

/* ls_get_mem answers from a write buffer or the record cache without I/O or a callback,
 * says 1 when the record is only on the device (nothing started), and gives ls_get's
 * errors at once; the bytes it lends survive an ls_put made from them. */
static void test_get_mem(void **state)
{
    struct fx *f = *state;
    struct ls_item it;
    struct ls_stats st;

    assert_int_equal(ls_get_mem(f->e, 3, "k", 1, &it), LS_ENOTFOUND);
    struct wres w = {0};
    assert_int_equal(ls_put(f->e, 3, "k", 1, "v1", 2, NULL, wres_cb, &w), 0);
    assert_int_equal(ls_get_mem(f->e, 3, "k", 1, &it), 0); /* in the write buffer */
    assert_int_equal(it.value_len, 2);
    assert_memory_equal(it.value, "v1", 2);
    assert_int_equal(w.done, 0); /* no callback ran inside the call */
    run_until(f->e, &w.done);
    assert_int_equal(sync_sync(f->e), 0);
    for (int i = 0; i < 64; i++) { /* push "k"'s buffer out of memory */
        char key[16];
        snprintf(key, sizeof(key), "fill%d", i);
        char big[4096];
        memset(big, 'a' + i % 26, sizeof(big));
        assert_int_equal(put_sync(f->e, 4, key, big, sizeof(big), 0), 0);
    }
    assert_int_equal(sync_sync(f->e), 0);
    ls_get_stats(f->e, &st);
    uint64_t reads0 = st.device_reads;
    assert_int_equal(ls_get_mem(f->e, 3, "k", 1, &it), 1); /* only on the device */
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0); /* and nothing was started */
    uint64_t bytes0 = st.device_read_bytes;
    struct gres g = {0}; /* ls_get_now starts the read from the same lookup */
    uint32_t rsize = 0;
    assert_int_equal(ls_get_now(f->e, 3, "k", 1, &it, gres_cb, &g, &rsize), 1);
    assert_true(rsize > 0);
    assert_int_equal(g.done, 0);
    run_until(f->e, &g.done); /* the read caches it */
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.value, "v1");
    free(g.value);
    ls_get_stats(f->e, &st); /* a small record: one whole block fetched */
    assert_int_equal(st.device_read_bytes - bytes0, 4096);
    assert_int_equal(ls_get_mem(f->e, 3, "k", 1, &it), 0); /* from the record cache */
    assert_memory_equal(it.value, "v1", 2);
    struct wres w2 = {0};
    assert_int_equal(ls_put(f->e, 3, "k2", 2, it.value, it.value_len, NULL, wres_cb, &w2), 0);
    assert_memory_equal(it.value, "v1", 2); /* lent bytes stay put across the call */
    assert_int_equal(ls_get_mem(f->e, 3, "k2", 2, &it), 0); /* its write buffer */
    assert_memory_equal(it.value, "v1", 2);
    run_until(f->e, &w2.done);
    /* expired: not found, at once */
    struct wres w3 = {0};
    assert_int_equal(ls_put(f->e, 3, "e", 1, "x", 1,
                            &(struct ls_write_opts){.expire_ms = fake_now_ms + 1000}, wres_cb, &w3),
                     0);
    assert_int_equal(ls_get_mem(f->e, 3, "e", 1, &it), 0);
    fake_now_ms += 2000;
    assert_int_equal(ls_get_mem(f->e, 3, "e", 1, &it), LS_ENOTFOUND);
    run_until(f->e, &w3.done);
    assert_int_equal(ls_get_mem(f->e, 999, "e", 1, &it), LS_EBADTABLE);
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_reads, reads0 + 1);
}

static void caller_polls_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->caller_polls = 1;
}

static int fd_readable(struct ls_engine *e)
{
    struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* caller_polls: a read queued by ls_get is the caller's to submit (ls_wants_poll, then
 * ls_poll_pending), with no write to the eventfd; its completion still wakes ls_fd. */
static void test_caller_polls(void **state)
{
    (void)state;
    struct fx *f = fx_open(caller_polls_config);
    assert_non_null(f);
    assert_int_equal(put_sync(f->e, 1, "k", "v", 1, 0), 0);
    assert_int_equal(sync_sync(f->e), 0);
    while (ls_poll(f->e) > 0) /* nothing left over */
        ;
    assert_int_equal(ls_wants_poll(f->e), 0);
    assert_int_equal(fd_readable(f->e), 0);
    struct gres g = {0};
    assert_int_equal(ls_get(f->e, 1, "k", 1, gres_cb, &g), 0);
    assert_int_equal(ls_wants_poll(f->e), 1);
    assert_int_equal(fd_readable(f->e), 0); /* not woken: the caller polls */
    ls_poll_pending(f->e);                  /* submits the read (or runs it from memory) */
    assert_int_equal(ls_wants_poll(f->e), 0);
    run_until(f->e, &g.done); /* its completion comes through ls_fd */
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.value, "v");
    free(g.value);
    /* ls_wake hands the pending work to ls_fd after all */
    struct gres g2 = {0};
    assert_int_equal(ls_get(f->e, 1, "k", 1, gres_cb, &g2), 0);
    ls_wake(f->e);
    assert_int_equal(fd_readable(f->e), 1);
    run_until(f->e, &g2.done);
    assert_int_equal(g2.rc, 0);
    free(g2.value);
    fx_close(f);
    /* without caller_polls the engine wakes ls_fd itself and never asks */
    f = fx_open(small_config);
    struct gres g3 = {0};
    assert_int_equal(put_sync(f->e, 1, "k", "v", 1, 0), 0);
    assert_int_equal(ls_get(f->e, 1, "k", 1, gres_cb, &g3), 0);
    assert_int_equal(ls_wants_poll(f->e), 0);
    assert_int_equal(fd_readable(f->e), 1);
    run_until(f->e, &g3.done);
    free(g3.value);
    fx_close(f);
}

static void turn_end_config(struct ls_config *c, const char *dir)
{
    caller_polls_config(c, dir);
    c->caller_ends_turns = 1;
}

/* caller_ends_turns: a sync put does not wake ls_fd for its group commit; the commit
 * leaves at ls_turn_end, one device write for every put of the turn. */
/* The latency histogram: percentiles within a bucket's width (25%) above the true ones,
 * never above the largest value. */
static void test_lat_hist(void **state)
{
    (void)state;
    struct ls_lat_hist h = {0};
    assert_int_equal(ls_lat_percentile(&h, 50), 0);
    for (uint64_t us = 1; us <= 1000; us++)
        ls_lat_add(&h, us);
    assert_int_equal(h.count, 1000);
    assert_int_equal(h.max_us, 1000);
    uint64_t p50 = ls_lat_percentile(&h, 50), p99 = ls_lat_percentile(&h, 99);
    assert_true(p50 >= 500 && p50 <= 625);
    assert_true(p99 >= 990 && p99 <= 1000);
    assert_int_equal(ls_lat_percentile(&h, 100), 1000);
    assert_int_equal(ls_lat_percentile(&h, 0.1), 1);
    struct ls_lat_hist one = {0};
    ls_lat_add(&one, 3);
    assert_int_equal(ls_lat_percentile(&one, 99.9), 3);
    ls_lat_add(&one, (uint64_t)1 << 40); /* past the last bucket: counted in it */
    assert_int_equal(ls_lat_percentile(&one, 100), (uint64_t)1 << 40);
    assert_int_equal(ls_lat_percentile(&one, 50), 3);
    /* every value lands in a bucket whose bound is at least it and at most 25% above */
    for (uint64_t us = 4; us < ((uint64_t)1 << 31); us = us * 5 / 4 + 1) {
        struct ls_lat_hist x = {0};
        ls_lat_add(&x, us);
        x.max_us = UINT64_MAX; /* the bound itself, not the largest value */
        uint64_t b = ls_lat_percentile(&x, 50);
        assert_true(b >= us && b <= us + us / 4);
    }
}

static void test_turn_end(void **state)
{
    (void)state;
    struct fx *f = fx_open(turn_end_config);
    assert_non_null(f);
    struct ls_stats st;
    ls_get_stats(f->e, &st);
    uint64_t writes0 = st.device_writes;
    struct wres w[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(ls_put(f->e, 1, k, strlen(k), "v", 1, NULL, wres_cb, &w[i]), 0);
    }
    assert_int_equal(fd_readable(f->e), 0); /* not woken: the turn's end sends it */
    if (ls_wants_poll(f->e))
        ls_poll_pending(f->e);
    struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 50), 0); /* nothing was sent, so nothing completes */
    assert_int_equal(w[0].done + w[1].done + w[2].done, 0);
    ls_turn_end(f->e);
    if (ls_wants_poll(f->e))
        ls_poll_pending(f->e);
    assert_int_equal(ls_submit(f->e), 0);
    assert_int_equal(poll(&p, 1, 5000), 1); /* the commit's completion */
    run_until(f->e, &w[2].done);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].rc, 0);
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_writes, writes0 + 1);
    /* the commit's latency counts from its first put: the 50 ms before the turn ended */
    assert_int_equal(st.commit_latency.count, 1);
    assert_true(st.commit_latency.max_us >= 50000);
    assert_true(ls_lat_percentile(&st.commit_latency, 50) >= 50000);
    assert_true(st.write_latency.count >= 1);
    assert_true(st.write_latency.max_us < st.commit_latency.max_us);
    fx_close(f);
    /* without it, the put wakes ls_fd */
    f = fx_open(caller_polls_config);
    struct wres w4 = {0};
    assert_int_equal(ls_put(f->e, 1, "k", 1, "v", 1, NULL, wres_cb, &w4), 0);
    assert_int_equal(fd_readable(f->e), 1);
    run_until(f->e, &w4.done);
    fx_close(f);
}

struct sres {
    int done, res;
};
static void sres_cb(void *arg, int res)
{
    struct sres *r = arg;
    r->done++;
    r->res = res;
}

/* ls_send: a socket send through the ring completes within the submitting call, with the
 * bytes sent; a full socket gives fewer, then -EAGAIN (it never waits for room).
 * ls_submit_quiet leaves ls_fd unwoken and says completions wait for ls_poll_pending. */
static void test_send(void **state)
{
    (void)state;
    struct fx *f = fx_open(caller_polls_config);
    assert_non_null(f);
    ls_hold_submissions(f->e, 1);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct sres r = {0};
    struct ls_send *s = ls_send_new(sres_cb, &r);
    assert_non_null(s);
    ls_send(f->e, s, sv[0], "hello", 5);
    assert_int_equal(ls_submit_quiet(f->e), 1); /* completed within the call */
    assert_int_equal(fd_readable(f->e), 0);     /* and ls_fd was not woken for it */
    assert_int_equal(r.done, 0);                /* callbacks run only from a poll */
    ls_poll_pending(f->e);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 5);
    char got[8] = {0};
    assert_int_equal(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 5);
    assert_string_equal(got, "hello");
    /* completions a quiet submit left unpolled: the next plain submit wakes ls_fd for
     * them (the server's loop submits last before it blocks; they waited for the next
     * event or its 10 ms tick) */
    r = (struct sres){0};
    ls_send(f->e, s, sv[0], "again", 5);
    assert_int_equal(ls_submit_quiet(f->e), 1);
    assert_int_equal(fd_readable(f->e), 0);
    assert_int_equal(ls_submit(f->e), 0);
    assert_int_equal(fd_readable(f->e), 1);
    run_until(f->e, &r.done);
    assert_int_equal(r.res, 5);
    assert_int_equal(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 5);
    assert_int_equal(ls_submit(f->e), 0); /* polled: no wake-up more */
    assert_int_equal(fd_readable(f->e), 0);
    /* a socket that fills: a short send, then -EAGAIN, without waiting */
    enum { BIG = 4 << 20 };
    char *big = calloc(1, BIG);
    assert_non_null(big);
    r = (struct sres){0};
    ls_send(f->e, s, sv[0], big, BIG);
    assert_int_equal(ls_submit(f->e), 0); /* the plain submit wakes ls_fd */
    run_until(f->e, &r.done);
    assert_true(r.res > 0 && r.res < BIG);
    r = (struct sres){0};
    ls_send(f->e, s, sv[0], big, BIG);
    assert_int_equal(ls_submit(f->e), 0);
    run_until(f->e, &r.done);
    assert_int_equal(r.res, -EAGAIN);
    /* a closed peer: -EPIPE, and no SIGPIPE */
    close(sv[1]);
    r = (struct sres){0};
    ls_send(f->e, s, sv[0], "x", 1);
    assert_int_equal(ls_submit(f->e), 0);
    run_until(f->e, &r.done);
    assert_int_equal(r.res, -EPIPE);
    close(sv[0]);
    free(big);
    ls_send_free(s);
    fx_close(f);
}

/* Data files are made ahead of need by a thread: zeroing one on the event loop held every
 * write acknowledged meanwhile (a 32 MiB file: tens of milliseconds, p99.99 of SETs at a
 * fixed rate 75 ms). A load that grows the log across several files, at a pace the
 * thread can follow, finds each file ready: none is made or waited for on the loop. */
static void test_files_made_ahead(void **state)
{
    struct fx *f = *state;
    enum { LEN = 10000, N = 2000 }; /* 20 MB: five 4 MiB files */
    char k[32], *v = calloc(1, LEN);
    struct ls_stats st;

    assert_int_equal(put_sync(f->e, 0, "first", "x", 1, 0), 0);
    ls_get_stats(f->e, &st);
    uint64_t files0 = st.files, stalls0 = st.file_stalls;
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "grow:%05d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, LEN, 0), 0);
    }
    free(v);
    ls_get_stats(f->e, &st);
    assert_true(st.files >= files0 + 4);
    assert_int_equal(st.file_stalls, stalls0);
}

/* Every key is learned from its record: a SCAN iteration with COUNT 10 used to read the
 * device once per key. Reads now go in address order, records of a segment sharing one
 * read, and a scan that continues another reads ahead into the key cache; a scan from a
 * random cursor (RANDOMKEY) reads only its own key. The listing stays exact while keys
 * are overwritten between calls (a cached key is tied to its record's address and
 * segment use, never to the key's current record). */
static void test_scan_reads_ahead(void **state)
{
    struct fx *f = *state;
    enum { N = 20000 };
    struct scan_acc a = {.keys = calloc(2 * N, sizeof(char *))};
    char k[32];
    struct ls_stats st;

    struct wres *w = calloc(N, sizeof(*w));
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "ra:%05d", i);
        assert_int_equal(ls_put(f->e, 4, k, strlen(k), "value", 5, NULL, wres_cb, &w[i]), 0);
    }
    run_until(f->e, &w[N - 1].done);
    free(w);
    assert_int_equal(sync_sync(f->e), 0);
    ls_get_stats(f->e, &st);
    uint64_t reads0 = st.device_reads, cursor = 0;
    do {
        a.done = 0;
        assert_int_equal(ls_scan(f->e, 4, cursor, 10, scan_cb, &a), 0);
        run_until(f->e, &a.done);
        cursor = a.next;
        if (a.calls == 100) /* overwrite keys the scan has and has not listed yet */
            for (int i = 0; i < N; i += 7) {
                snprintf(k, sizeof(k), "ra:%05d", i);
                assert_int_equal(put_sync(f->e, 4, k, "other", 5, 0), 0);
            }
    } while (cursor != 0 && a.calls < 10 * N);
    ls_get_stats(f->e, &st);
    uint64_t reads = st.device_reads - reads0;
    assert_int_equal(a.n, N);
    qsort(a.keys, a.n, sizeof(char *), cmp_str);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "ra:%05d", i);
        assert_string_equal(a.keys[i], k);
        free(a.keys[i]);
    }
    free(a.keys);
    print_message("scan reads: %llu\n", (unsigned long long)reads);
    assert_true(reads < N / 100); /* was N (one per key) */
    assert_int_equal(st.read_corrupt, 0);

    /* random cursors: one key each, no read-ahead */
    for (int i = 0; i < 20; i++) {
        struct scan_acc r = {.keys = calloc(8, sizeof(char *))};
        assert_int_equal(ls_random_cursor(f->e, 4, &cursor), 0);
        ls_get_stats(f->e, &st);
        reads0 = st.device_reads;
        assert_int_equal(ls_scan(f->e, 4, cursor, 1, scan_cb, &r), 0);
        run_until(f->e, &r.done);
        ls_get_stats(f->e, &st);
        assert_true(r.n >= 1 && st.device_reads - reads0 <= 1);
        for (uint32_t j = 0; j < r.n; j++)
            free(r.keys[j]);
        free(r.keys);
    }
}

/* A scan holds the keys of the entries it takes: a batch stops once the keys their records
 * could hold (record size less the header, at most max_key_size) add up to
 * LS_SCAN_MAX_BYTES, and the cursor goes on from there, so every key is still listed.
 * Values do not count: records of 900 KB with short keys come in one batch (their reads
 * are bounded by the bytes in flight, not by the batch). */
static void test_scan_bounded_bytes(void **state)
{
    struct fx *f = *state;
    enum { NBIG = 20, LEN = 900000, NK = 300, KLEN = 60000 };
    struct scan_acc a = {.keys = calloc(NBIG + NK + 10, sizeof(char *))};
    char k[32], *v = calloc(1, LEN), *kk = malloc(KLEN + 1);
    uint32_t most = 0;

    for (int i = 0; i < NBIG; i++) {
        snprintf(k, sizeof(k), "big:%02d", i);
        assert_int_equal(put_sync(f->e, 1, k, v, LEN, 0), 0);
    }
    free(v);
    assert_int_equal(ls_scan(f->e, 1, 0, 1000, scan_cb, &a), 0);
    run_until(f->e, &a.done);
    assert_int_equal(a.n, NBIG);
    assert_int_equal(a.next, 0);
    for (uint32_t i = 0; i < a.n; i++)
        free(a.keys[i]);
    a.n = 0;

    for (int i = 0; i < NK; i++) {
        memset(kk, 'a' + i % 26, KLEN);
        snprintf(kk, 16, "long:%04d:", i);
        kk[strlen(kk)] = 'x';
        kk[KLEN] = 0;
        assert_int_equal(put_sync(f->e, 3, kk, "v", 1, 0), 0);
    }
    free(kk);
    uint64_t cursor = 0;
    do {
        uint32_t before = a.n;
        a.done = 0;
        assert_int_equal(ls_scan(f->e, 3, cursor, 1000, scan_cb, &a), 0);
        run_until(f->e, &a.done);
        if (a.n - before > most)
            most = a.n - before;
        cursor = a.next;
    } while (cursor != 0 && a.calls < 100);
    assert_int_equal(a.n, NK);
    assert_true(most >= 1 && (uint64_t)most * KLEN <= LS_SCAN_MAX_BYTES && most < NK);
    for (uint32_t i = 0; i < a.n; i++)
        free(a.keys[i]);
    free(a.keys);
}

struct vt_scan {
    int done;
    uint64_t next;
    uint32_t n, tagged;
};

static void vt_scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct vt_scan *a = arg;
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < n; i++) {
        a->n++;
        /* "t:..." keys were written with tag 5, the others untagged */
        assert_int_equal(keys[i].vtype, ((const char *)keys[i].key)[0] == 't' ? 5 : 0);
        a->tagged += keys[i].vtype == 5;
    }
    a->next = next;
    a->done = 1;
}

/* Reads tag and value of k, expecting them. */
static void check_tagged(struct ls_engine *e, const char *k, uint8_t vtype, const char *v)
{
    struct gres g = {0};
    assert_int_equal(ls_get(e, 0, k, strlen(k), gres_cb, &g), 0);
    run_until(e, &g.done);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.vtype, vtype);
    assert_string_equal(g.value, v);
    free(g.value);
}

/* A value's type tag (ls_write_opts.vtype): returned by reads and scans, through the write
 * buffer, the device, a batch, a full-scan restart and a checkpoint restart; the first
 * tagged write sets the feature bit in logstor.meta, and a meta with a bit this build does
 * not know is refused. */
static void test_value_tags(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};
    struct ls_write_opts o = {.vtype = 5};
    char k[32];

    assert_int_equal(put_sync(f->e, 0, "plain", "p", 1, 0), 0);
    assert_int_equal(f->e->features, 0); /* no tag written yet: no feature bit */
    o.vtype = LS_VTYPE_MAX + 1;
    assert_int_equal(ls_put(f->e, 0, "t:x", 3, "v", 1, &o, wres_cb, &w), LS_EINVAL);
    o.vtype = 5;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "t:%d", i);
        memset(&w, 0, sizeof(w));
        assert_int_equal(ls_put(f->e, 0, k, strlen(k), "tagged", 6, &o, wres_cb, &w), 0);
    }
    check_tagged(f->e, "t:7", 5, "tagged"); /* from the write buffer */
    run_until(f->e, &w.done);
    assert_int_equal(sync_sync(f->e), 0);
    check_tagged(f->e, "t:8", 5, "tagged"); /* from the device */
    check_tagged(f->e, "plain", 0, "p");
    struct ls_batch_op ops[2] = {
        {.table = 0,
         .key = "t:b",
         .key_len = 3,
         .value = "bv",
         .value_len = 2,
         .opts = {.vtype = 5}},
        {.table = 0, .key = "u:b", .key_len = 3, .value = "uv", .value_len = 2}};
    memset(&w, 0, sizeof(w));
    assert_int_equal(ls_write_batch(f->e, ops, 2, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, 0);
    check_tagged(f->e, "t:b", 5, "bv");
    check_tagged(f->e, "u:b", 0, "uv");
    assert_int_equal(f->e->features, META_FEAT_VTYPE);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            reopen(f); /* the clean close's checkpoint */
        else
            assert_int_equal(fx_reopen_scan(f), 0); /* the full scan */
        assert_int_equal(f->e->features, META_FEAT_VTYPE);
        check_tagged(f->e, "t:199", 5, "tagged");
        check_tagged(f->e, "t:b", 5, "bv");
        check_tagged(f->e, "plain", 0, "p");
        struct vt_scan a = {0};
        uint64_t cursor = 0;
        do {
            a.done = 0;
            assert_int_equal(ls_scan(f->e, 0, cursor, 50, vt_scan_cb, &a), 0);
            run_until(f->e, &a.done);
            cursor = a.next;
        } while (cursor != 0);
        assert_int_equal(a.n, 203);
        assert_int_equal(a.tagged, 201);
    }
    /* a feature bit this build does not know: the open is refused */
    ls_close(f->e);
    f->e = NULL;
    char path[512];
    uint8_t m[64];
    snprintf(path, sizeof(path), "%s/logstor.meta", f->dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fread(m, 1, 64, fp), 64);
    m[20] |= 0x80;
    uint64_t sum = XXH3_64bits(m, 56);
    memcpy(m + 56, &sum, 8);
    rewind(fp);
    assert_int_equal(fwrite(m, 1, 64, fp), 64);
    fclose(fp);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_EFORMAT);
    f->e = NULL;
    m[20] &= 0x7f;
    sum = XXH3_64bits(m, 56);
    memcpy(m + 56, &sum, 8);
    fp = fopen(path, "r+b");
    assert_int_equal(fwrite(m, 1, 64, fp), 64);
    fclose(fp);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    check_tagged(f->e, "t:3", 5, "tagged");
}

static void test_scan(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    struct scan_acc a = {.keys = calloc(N + 10, sizeof(char *))};
    char k[32];

    struct wres *w = calloc(N, sizeof(*w));
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "s:%05d", i);
        assert_int_equal(ls_put(f->e, 2, k, strlen(k), "v", 1, NULL, wres_cb, &w[i]), 0);
        if (i == N / 2)
            run_until(f->e, &w[i].done); /* half on disk, half in buffers */
    }
    uint64_t cursor = 0;
    do {
        a.done = 0;
        assert_int_equal(ls_scan(f->e, 2, cursor, 97, scan_cb, &a), 0);
        assert_int_equal(a.done, 0);
        run_until(f->e, &a.done);
        cursor = a.next;
    } while (cursor != 0 && a.calls < 1000);
    assert_int_equal(a.n, N);
    run_until(f->e, &w[N - 1].done);
    free(w);
    qsort(a.keys, a.n, sizeof(char *), cmp_str);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "s:%05d", i);
        assert_string_equal(a.keys[i], k);
        free(a.keys[i]);
    }
    free(a.keys);
    uint64_t c;
    assert_int_equal(ls_random_cursor(f->e, 2, &c), 0);
    assert_int_equal(ls_random_cursor(f->e, 3, &c), LS_ENOTFOUND);
    /* scanning an empty table completes with cursor 0 */
    struct scan_acc b = {.keys = calloc(1, sizeof(char *))};
    assert_int_equal(ls_scan(f->e, 5, 0, 10, scan_cb, &b), 0);
    run_until(f->e, &b.done);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.next, 0);
    free(b.keys);
}

/* Asserts table t's expiry counters: n entries with an expiry, their expiries summing to sum. */
static void check_expires(struct fx *f, uint32_t t, uint64_t n, uint64_t sum)
{
    uint64_t got_sum = 1;
    assert_int_equal(ls_count_expires(f->e, t, &got_sum), n);
    assert_int_equal(got_sum, sum);
    char why[256];
    assert_int_equal(eng_check(f->e, why, sizeof(why)), 0);
}

/* INFO keyspace's expires= and avg_ttl come from these counters: they stay exact across
 * a put with and without expiry over each other, delete, expiry by access and by the
 * sweep, flush, swap and recovery (a reopen rebuilds them from the log). */
static void test_expires_count(void **state)
{
    struct fx *f = *state;
    uint64_t t0 = fake_now_ms;
    check_expires(f, 0, 0, 0);
    assert_int_equal(put_sync(f->e, 0, "a", "1", 1, t0 + 1000), 0);
    assert_int_equal(put_sync(f->e, 0, "b", "1", 1, t0 + 3000), 0);
    assert_int_equal(put_sync(f->e, 0, "c", "1", 1, 0), 0);
    check_expires(f, 0, 2, 2 * t0 + 4000);
    assert_int_equal(put_sync(f->e, 0, "a", "2", 1, t0 + 2000), 0); /* new expiry */
    check_expires(f, 0, 2, 2 * t0 + 5000);
    assert_int_equal(put_sync(f->e, 0, "b", "2", 1, 0), 0); /* PERSIST-like overwrite */
    assert_int_equal(put_sync(f->e, 0, "c", "2", 1, t0 + 500), 0);
    check_expires(f, 0, 2, 2 * t0 + 2500);
    assert_int_equal(del_sync(f->e, 0, "a"), 0);
    check_expires(f, 0, 1, t0 + 500);
    reopen(f);
    check_expires(f, 0, 1, t0 + 500);
    fake_now_ms += 1000; /* c expires: a read drops it */
    check_value(f->e, 0, "c", NULL);
    check_expires(f, 0, 0, 0);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s%d", i);
        assert_int_equal(put_sync(f->e, 1, k, "v", 1, fake_now_ms + 10), 0);
    }
    check_expires(f, 1, 50, 50 * (fake_now_ms + 10));
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);
    check_expires(f, 0, 50, 50 * (fake_now_ms + 10));
    check_expires(f, 1, 0, 0);
    fake_now_ms += 20;
    for (int i = 0; i < 200 && ls_count(f->e, 0) > 0; i++) {
        ls_tick(f->e);
        ls_poll(f->e);
    }
    check_expires(f, 0, 0, 0);
    assert_int_equal(put_sync(f->e, 2, "x", "v", 1, fake_now_ms + 5000), 0);
    struct wres w = {0};
    assert_int_equal(ls_flush_table(f->e, 2, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    check_expires(f, 2, 0, 0);
    reopen(f);
    check_expires(f, 2, 0, 0);
    assert_int_equal(ls_count_expires(f->e, 9999, NULL), 0);
}

static void test_flush_table(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put_sync(f->e, 0, "a", "1", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 1, "b", "2", 1, 0), 0);
    struct wres w = {0};
    assert_int_equal(ls_flush_table(f->e, 0, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, 0);
    assert_int_equal(put_sync(f->e, 0, "c", "3", 1, 0), 0);
    reopen(f);
    check_value(f->e, 0, "a", NULL);
    check_value(f->e, 0, "c", "3");
    check_value(f->e, 1, "b", "2");
    assert_int_equal(ls_flush_table(f->e, 99, wres_cb, &w), LS_EBADTABLE);
}

/* SWAPDB: the two tables exchange contents at once, writes after the swap land in the
 * renamed table, a flush after it empties the right one, and all of it survives a reopen
 * (logstor.tables) and a second swap back. A damaged map refuses the open. */
static void test_swap_tables(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put_sync(f->e, 0, "a", "in0", 3, 0), 0);
    assert_int_equal(put_sync(f->e, 1, "b", "in1", 3, 0), 0);
    assert_int_equal(put_sync(f->e, 2, "c", "in2", 3, 0), 0);
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);
    check_value(f->e, 0, "b", "in1");
    check_value(f->e, 0, "a", NULL);
    check_value(f->e, 1, "a", "in0");
    assert_int_equal(ls_count(f->e, 0), 1);
    assert_int_equal(put_sync(f->e, 0, "after", "x", 1, 0), 0); /* goes to the old table 1 */
    assert_int_equal(ls_swap_tables(f->e, 1, 2), 0);            /* 0->1, 1->2, 2->0 */
    struct wres w = {0};
    assert_int_equal(ls_flush_table(f->e, 2, wres_cb, &w), 0); /* db 2: the old table 0 */
    run_until(f->e, &w.done);
    assert_int_equal(put_sync(f->e, 2, "new2", "y", 1, 0), 0);
    reopen(f);
    check_value(f->e, 0, "b", "in1");
    check_value(f->e, 0, "after", "x");
    check_value(f->e, 1, "c", "in2");
    check_value(f->e, 2, "a", NULL);
    check_value(f->e, 2, "new2", "y");
    assert_int_equal(ls_count(f->e, 2), 1);
    assert_int_equal(ls_swap_tables(f->e, 0, 99), LS_EBADTABLE);
    assert_int_equal(ls_swap_tables(f->e, 3, 3), 0);
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);
    reopen(f);
    check_value(f->e, 1, "b", "in1");
    check_value(f->e, 0, "c", "in2");
    /* A damaged map is refused, not guessed. */
    ls_close(f->e);
    f->e = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s/logstor.tables", f->dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 17, SEEK_SET);
    fputc(0x7f, fp);
    fclose(fp);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_ECORRUPT);
    f->e = NULL;
    assert_int_equal(unlink(path), 0); /* restore a usable fixture for teardown */
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
}

static void test_limits_and_errors(void **state)
{
    struct fx *f = *state;
    char *bigkey = calloc(1, 70000);
    assert_int_equal(ls_put(f->e, 0, bigkey, 70000, "v", 1, NULL, wres_cb, NULL), LS_ETOOBIG);
    assert_int_equal(ls_put(f->e, 16, "k", 1, "v", 1, NULL, wres_cb, NULL), LS_EBADTABLE);
    assert_int_equal(ls_get(f->e, 0, "nope", 4, gres_cb, NULL), LS_ENOTFOUND);
    free(bigkey);
    assert_string_equal(ls_strerror(LS_ENOSPACE), "disk full (no free segment within disk_size)");
    assert_string_equal(ls_strerror(-ENOENT), "No such file or directory");
    /* a second open of the same directory is refused, even after files in it are
     * deleted (a stray rm of LOCK let a second engine in) */
    struct ls_engine *e2 = NULL;
    assert_int_equal(ls_open(&f->cfg, &e2), -EBUSY);
    char p[512];
    snprintf(p, sizeof(p), "%s/LOCK", f->dir);
    unlink(p);
    assert_int_equal(ls_open(&f->cfg, &e2), -EBUSY);
    /* a value that cannot fit in a data file is refused at open, not left to fail busy */
    struct ls_config big = f->cfg;
    big.max_value_size = big.file_size;
    assert_int_equal(ls_open(&big, &e2), LS_ECONFIG);
    big.max_value_size = (uint32_t)ls_max_value(big.file_size, big.max_key_size);
    assert_int_equal(ls_open(&big, &e2), -EBUSY); /* valid: only the lock refuses it */
    /* a different segment size than the directory was made with is refused */
    struct ls_config c = f->cfg;
    ls_close(f->e);
    c.segment_size = 256u << 10;
    assert_int_equal(ls_open(&c, &e2), LS_ECONFIG);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    c = f->cfg;
    c.segment_size = 1000; /* not a multiple of 4 KiB */
    assert_int_equal(ls_open(&c, &e2), LS_ECONFIG);
}

static void test_disk_full(void **state)
{
    struct fx *f = *state;
    char v[4000], k[32];
    int rc = 0, i;

    ls_close(f->e);
    f->cfg.disk_size = f->cfg.file_size; /* 32 segments */
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    memset(v, 'x', sizeof(v));
    for (i = 0; i < 100000 && rc == 0; i++) {
        snprintf(k, sizeof(k), "f%d", i);
        rc = put_sync(f->e, 0, k, v, sizeof(v), 0);
        for (int t = 0; rc == LS_EBUSY && t < 5000; t++) { /* compaction at work */
            struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
            poll(&p, 1, 1);
            ls_poll(f->e);
            ls_tick(f->e);
            rc = put_sync(f->e, 0, k, v, sizeof(v), 0);
        }
    }
    assert_int_equal(rc, LS_ENOSPACE);
    /* reads keep working, and the data written before the disk filled is intact */
    memset(v, 'x', sizeof(v));
    char *got = NULL;
    uint32_t len = 0;
    assert_int_equal(get_sync(f->e, 0, "f0", &got, &len), 0);
    assert_int_equal(len, sizeof(v));
    free(got);
    struct ls_stats st;
    ls_get_stats(f->e, &st);
    assert_true(st.segments_free < 16); /* what is left is compaction's reserve */
    assert_int_equal(st.failed, 0);     /* a full disk is not a device failure */
}

/* A file made by a thread joins the log with its segments free: a look at the
 * filesystem's free space while the thread runs (every compaction round takes one) sees
 * the space the file has already taken, and with less than a file left it called the file
 * unusable, dropping its segments from the free stack; once made, the file was usable but
 * its segments stayed out until something rebuilt the stack. */
static void test_prepared_file_stays_usable(void **state)
{
    struct fx *f = *state;
    struct seg_mgr *m = &f->e->sm;

    assert_int_equal(put_sync(f->e, 0, "a", "b", 1, 0), 0);
    for (int i = 0; i < 10000 && m->prep; i++) { /* one the engine started */
        usleep(1000);
        seg_prepare(m);
    }
    uint32_t file = 0, in_stack = 0;
    while (file < m->nfiles && m->fds[file] >= 0)
        file++;
    assert_true(file < m->nfiles);
    seg_prepare(m);
    assert_non_null(m->prep);
    seg_room(m, m->file_size / 2); /* the filesystem, once the thread took its space */
    for (int i = 0; i < 10000 && m->prep; i++) {
        usleep(1000);
        seg_prepare(m);
    }
    assert_null(m->prep);
    assert_true(m->fds[file] >= 0);
    for (uint32_t i = 0; i < m->nfree; i++)
        in_stack += m->free_stack[i] / m->segs_per_file == file;
    assert_int_equal(in_stack, m->segs_per_file);
    assert_int_equal(seg_check(m), 0);
}

/* segment_size may be set up to 64 MiB (server/config.c), but the histogram of closed
 * segments by free space had buckets for less than 256 KiB of free space: a closed
 * segment of 1 MiB with its records dead went into a bucket past the end of the array
 * and wrote over the engine's fields (a crash; UBSan: index out of bounds). */
static void test_large_segments(void **state)
{
    struct fx *f = *state;
    char v[10000], k[32];
    char why[200];

    ls_close(f->e);
    rm_dir(f->dir);
    f->cfg.segment_size = 1u << 20;
    f->cfg.disk_size = 16u << 20;
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    memset(v, 'y', sizeof(v));
    for (int i = 0; i < 300; i++) { /* three segments */
        snprintf(k, sizeof(k), "seg:%d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, sizeof(v), 0), 0);
    }
    for (int i = 0; i < 300; i++) { /* the first two segments' records die */
        snprintf(k, sizeof(k), "seg:%d", i);
        if (i < 200)
            assert_int_equal(del_sync(f->e, 0, k), 0);
    }
    reopen(f); /* recovery lists the closed segments in the histogram */
    assert_int_equal(eng_check(f->e, why, sizeof(why)), 0);
    check_value(f->e, 0, "seg:10", NULL);
    char *got = NULL;
    uint32_t len = 0;
    assert_int_equal(get_sync(f->e, 0, "seg:250", &got, &len), 0);
    assert_int_equal(len, sizeof(v));
    free(got);
}

static void test_periodic(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};

    ls_close(f->e);
    f->cfg.durability = LS_PERIODIC;
    f->cfg.flush_interval_ms = 50;
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    assert_int_equal(ls_put(f->e, 0, "p", 1, "q", 1, NULL, wres_cb, &w), 0);
    run_until(f->e, &w.done); /* acknowledged from the buffer */
    struct ls_stats st;
    ls_get_stats(f->e, &st);
    assert_int_equal(st.device_writes, 0);
    fake_now_ms += 60; /* the flush interval passes */
    ls_tick(f->e);
    for (int i = 0; i < 1000 && st.device_writes == 0; i++) {
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(f->e);
        ls_get_stats(f->e, &st);
    }
    assert_int_equal(st.device_writes, 1);
    reopen(f);
    check_value(f->e, 0, "p", "q");
}

static void test_slots_and_tokens(void **state)
{
    (void)state;
    /* Redis Cluster reference values */
    assert_int_equal(ls_key_slot("foo", 3), 12182);
    assert_int_equal(ls_key_slot("123456789", 9), 0x31C3 & 16383);
    assert_int_equal(ls_key_slot("{user1000}.following", 20), ls_key_slot("user1000", 8));
    assert_int_equal(ls_key_slot("foo{}{bar}", 10), ls_key_slot("foo{}{bar}", 10));
    assert_int_equal(ls_key_slot("foo{{bar}}zap", 13), ls_key_slot("{bar", 4));
    assert_int_equal(ls_token("foo", 3) >> 50, 12182);
    assert_true(ls_token("foo", 3) != ls_token("fop", 3));
    /* the table-sliced CRC against the bitwise algorithm, every length up to 40 */
    uint64_t x = 88172645463325252ull;
    for (int t = 0; t < 4000; t++) {
        uint8_t k[40];
        size_t n = (size_t)t % 41;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            k[i] = (uint8_t)(x % 5 == 0 ? '{' : x % 7 == 0 ? '}' : x);
        }
        size_t s = 0, e = 0;
        while (s < n && k[s] != '{')
            s++;
        for (e = s + 1; s < n && e < n && k[e] != '}'; e++)
            ;
        const uint8_t *p = k;
        size_t m = n;
        if (s < n && e < n && e != s + 1) {
            p = k + s + 1;
            m = e - s - 1;
        }
        uint16_t crc = 0;
        for (size_t i = 0; i < m; i++) {
            crc ^= (uint16_t)(p[i] << 8);
            for (int b = 0; b < 8; b++)
                crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        assert_int_equal(ls_key_slot(k, n), crc & 16383);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_overwrite_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_your_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_reports, setup_reporting, teardown),
        cmocka_unit_test_setup_teardown(test_expired_put_hides_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_refusal_never_calls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_bounded_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_reads_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_made_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_follows_rewrites, setup, teardown),
        cmocka_unit_test(test_cache_writes),
        cmocka_unit_test_setup_teardown(test_hold_submissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_holds_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_answers_before_read_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expires_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepared_file_stays_usable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_mem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_tags, setup, teardown),
        cmocka_unit_test(test_caller_polls),
        cmocka_unit_test(test_turn_end),
        cmocka_unit_test(test_lat_hist),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_slots_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
