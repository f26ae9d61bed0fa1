/*
 * test_wbuf.c - the buffered writer (engine/wbuf.c) through the public API, with small
 * write buffers (8 KiB, a ring of 4) in 16 KiB segments, the smallest ls_open allows:
 * ring switching and in-order acknowledgement, group commit, backpressure, read-your-
 * writes from sealed buffers, failed device writes (sticky failure, index revert), the
 * error code reported, periodic durability and the ls_sync barrier.
 *
 * "Without polling" below means submitting calls without ever calling ls_poll: nothing
 * reaches the device and no callback runs until the test polls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "eng_util.h"

static void wbuf_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->segment_size = 16384;
    c->file_size = 1u << 20;
    c->max_value_size = 256u << 10; /* a value must fit in a data file */
    c->disk_size = 16u << 20;
    c->write_buffer_size = 8192;
    c->write_buffers = 4;
}

static int setup(void **state)
{
    struct fx *f = fx_open(wbuf_config);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

static void reopen_with(struct fx *f)
{
    assert_int_equal(fx_reopen(f), 0);
}

static struct ls_stats stats(struct ls_engine *e)
{
    struct ls_stats st;
    ls_get_stats(e, &st);
    return st;
}

/* Records the order in which write callbacks run. */
struct order {
    int n, cap;
    int *seq; /* seq[i]: the tag of the i-th callback to run */
    int *rc;  /* rc by tag */
    uint64_t *cas;
};
struct tag {
    struct order *o;
    int id;
};

static void order_init(struct order *o, int cap)
{
    o->n = 0;
    o->cap = cap;
    o->seq = calloc((size_t)cap, sizeof(int));
    o->rc = calloc((size_t)cap, sizeof(int));
    o->cas = calloc((size_t)cap, sizeof(uint64_t));
    for (int i = 0; i < cap; i++)
        o->rc[i] = 1; /* not called yet */
}

static void order_free(struct order *o)
{
    free(o->seq);
    free(o->rc);
    free(o->cas);
}

static void order_cb(void *arg, int rc, uint64_t cas)
{
    struct tag *t = arg;
    struct order *o = t->o;
    assert_true(o->n < o->cap);
    if (o->rc[t->id] != 1)
        fail_msg("callback %d ran twice", t->id);
    o->seq[o->n++] = t->id;
    o->rc[t->id] = rc;
    o->cas[t->id] = cas;
}

static void poll_until_n(struct ls_engine *e, struct order *o, int n)
{
    for (int i = 0; o->n < n && i < 100000; i++) {
        struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(e);
    }
    if (o->n < n)
        fail_msg("only %d of %d callbacks ran", o->n, n);
}

static void key_of(char *k, size_t n, int i)
{
    snprintf(k, n, "key:%05d", i);
}

static void val_of(char *v, size_t n, int i, int gen, size_t len)
{
    int w = snprintf(v, n, "v%d-%d-", i, gen);
    for (size_t j = (size_t)w; j < len && j < n - 1; j++)
        v[j] = (char)('A' + (i + j) % 26);
    v[len < n - 1 ? len : n - 1] = 0;
}

/* Submits put i (value generation gen) tagged with tags[i]. Returns ls_put's rc. */
static int put_tagged(struct ls_engine *e, struct tag *tags, struct order *o, int i, int gen,
                      size_t vlen)
{
    char k[32], v[2048];
    key_of(k, sizeof(k), i);
    val_of(v, sizeof(v), i, gen, vlen);
    tags[i] = (struct tag){o, i};
    return ls_put(e, 0, k, strlen(k), v, strlen(v), NULL, order_cb, &tags[i]);
}

static void check_key(struct ls_engine *e, int i, int gen, size_t vlen)
{
    char k[32], v[2048];
    key_of(k, sizeof(k), i);
    val_of(v, sizeof(v), i, gen, vlen);
    check_value(e, 0, k, v);
}

/* ---- ring switching, in-order acknowledgement ---- */

static void test_ring_order(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    struct order o;
    struct tag tags[N];

    order_init(&o, N);
    for (int i = 0; i < N; i++) /* ~530-byte records: 15 per buffer, 20 buffers */
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 480), 0);
    assert_int_equal(o.n, 0); /* no callback inside a submitting call */
    struct ls_stats st = stats(f->e);
    assert_int_equal(st.device_writes, 0);
    assert_true(st.pending_bytes >= 15 * 8192); /* buffers sealed, waiting */
    poll_until_n(f->e, &o, N);
    for (int i = 0; i < N; i++) {
        if (o.seq[i] != i)
            fail_msg("callback %d ran for put %d", i, o.seq[i]);
        assert_int_equal(o.rc[i], 0);
        if (i > 0)
            assert_true(o.cas[i] > o.cas[i - 1]);
    }
    st = stats(f->e);
    assert_true(st.device_writes >= 19);
    assert_true(st.segments_used >= 10); /* two 8 KiB buffers per 16 KiB segment */
    assert_int_equal(st.pending_bytes, 0);
    assert_int_equal(st.inflight_writes, 0);
    for (int i = 0; i < N; i += 7)
        check_key(f->e, i, 0, 480);
    reopen_with(f);
    for (int i = 0; i < N; i++)
        check_key(f->e, i, 0, 480);
    order_free(&o);
}

/* ---- group commit ---- */

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    enum { N = 100 };
    struct order o;
    struct tag tags[N];

    order_init(&o, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 10), 0);
    poll_until_n(f->e, &o, N);
    struct ls_stats st = stats(f->e);
    for (int i = 0; i < N; i++)
        assert_int_equal(o.rc[i], 0);
    if (st.device_writes > 5)
        fail_msg("%llu device writes for %d puts", (unsigned long long)st.device_writes, N);
    assert_true(st.device_writes >= 1);
    order_free(&o);
}

/* ---- backpressure ---- */

static void test_backpressure(void **state)
{
    struct fx *f = *state;
    enum { MAX = 5000 };
    struct order o;
    struct tag *tags = calloc(MAX, sizeof(*tags));
    int n = 0, rc = 0;

    ls_close(f->e);
    f->cfg.max_pending_bytes = 65536;
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    order_init(&o, MAX);
    while (n < MAX && (rc = put_tagged(f->e, tags, &o, n, 0, 480)) == 0)
        n++;
    assert_int_equal(rc, LS_EBUSY);
    /* bounded: not more than the ring plus the pending bound (plus the active buffer) */
    assert_true(n >= 65536 / 560);
    assert_true((uint64_t)n * 528 <= 65536 + 5 * 8192);
    assert_int_equal(o.n, 0);
    assert_int_equal(stats(f->e).failed, 0);
    /* a refused put leaves no trace */
    char k[32];
    key_of(k, sizeof(k), n);
    assert_int_equal(ls_lookup(f->e, 0, k, strlen(k), &(struct ls_meta){0}), LS_ENOTFOUND);
    /* polling drains the backlog: every accepted put succeeds, in order */
    poll_until_n(f->e, &o, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(o.seq[i], i);
        assert_int_equal(o.rc[i], 0);
    }
    assert_int_equal(stats(f->e).pending_bytes, 0);
    /* and puts are accepted again */
    int more = n + 50 < MAX ? n + 50 : MAX;
    for (int i = n; i < more; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 480), 0);
    poll_until_n(f->e, &o, more);
    for (int i = n; i < more; i++)
        assert_int_equal(o.rc[i], 0);
    reopen_with(f);
    for (int i = 0; i < more; i += 11)
        check_key(f->e, i, 0, 480);
    order_free(&o);
    free(tags);
}

/* ---- read-your-writes from sealed, unwritten buffers ---- */

static void test_read_sealed(void **state)
{
    struct fx *f = *state;
    enum { N = 80 };
    struct order o;
    struct tag tags[N + 2];
    struct gres g[N + 1];

    order_init(&o, N + 2);
    for (int i = 0; i < N; i++) /* 5+ sealed buffers */
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 480), 0);
    /* overwrite key 3 (sealed buffer) in the active buffer */
    char k[32], v[2048];
    key_of(k, sizeof(k), 3);
    val_of(v, sizeof(v), 3, 1, 100);
    tags[N] = (struct tag){&o, N};
    assert_int_equal(ls_put(f->e, 0, k, strlen(k), v, strlen(v), NULL, order_cb, &tags[N]), 0);
    assert_true(stats(f->e).pending_bytes >= 4 * 8192);
    uint64_t hits = stats(f->e).buffer_hits;
    memset(g, 0, sizeof(g));
    for (int i = 0; i < N; i++) {
        key_of(k, sizeof(k), i);
        assert_int_equal(ls_get(f->e, 0, k, strlen(k), gres_cb, &g[i]), 0);
    }
    assert_int_equal(stats(f->e).device_writes, 0);
    assert_int_equal(stats(f->e).buffer_hits, hits + N);
    for (int i = 0; i < N; i++) {
        run_until(f->e, &g[i].done);
        assert_int_equal(g[i].rc, 0);
        val_of(v, sizeof(v), i, i == 3 ? 1 : 0, i == 3 ? 100 : 480);
        assert_string_equal(g[i].value, v);
        free(g[i].value);
    }
    poll_until_n(f->e, &o, N + 1);
    check_key(f->e, 3, 1, 100);
    check_key(f->e, 79, 0, 480);
    order_free(&o);
}

/* ---- a failed device write ---- */

/* The third device write fails, with ten buffers waiting: the puts acknowledged before
 * it succeed (the first two buffers, unless still in flight then: every write not yet
 * acknowledged fails with it), every later one fails, and the index is reverted to the
 * acknowledged state (older values of overwritten keys come back, new keys vanish, a
 * delete is undone). */
static void test_fail_nth_write(void **state)
{
    struct fx *f = *state;
    enum { N = 150 };
    struct order o;
    struct tag tags[N];
    struct ls_stats st;

    /* acknowledged before the fault */
    for (int i = 0; i < N; i++) {
        char k[32], v[2048];
        key_of(k, sizeof(k), i);
        val_of(v, sizeof(v), i, 0, 50);
        if (i % 3 == 0)
            assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
    }
    assert_int_equal(put_sync(f->e, 0, "gone", "G0", 2, 0), 0);

    /* the third device write from now fails */
    struct ls_faults fl = {.fail_write_n = 3};
    ls_set_faults(f->e, &fl);
    order_init(&o, N + 1);
    for (int i = 0; i < N; i++) /* 15 records per buffer: 10 buffers */
        assert_int_equal(put_tagged(f->e, tags, &o, i, 1, 480), 0);
    struct wres wd = {0};
    assert_int_equal(ls_del(f->e, 0, "gone", 4, wres_cb, &wd), 0);
    check_value(f->e, 0, "gone", NULL);
    poll_until_n(f->e, &o, N);
    run_until(f->e, &wd.done);
    assert_int_equal(wd.rc, LS_EFAILED);

    /* acks in submission order; those before the failed buffer succeeded */
    int first_failed = -1;
    for (int i = 0; i < N; i++) {
        assert_int_equal(o.seq[i], i);
        if (o.rc[i] != 0 && first_failed < 0)
            first_failed = i;
        if (first_failed >= 0 && o.rc[i] != LS_EFAILED)
            fail_msg("put %d: rc %d after put %d failed", i, o.rc[i], first_failed);
    }
    /* writes 1 and 2 held the first two buffers (up to 15 records each; the first may be
     * shorter, filling the rest of a segment): they succeeded if they were acknowledged
     * before write 3 failed, else they failed with it */
    assert_true(first_failed >= 0 && first_failed <= 30);

    st = stats(f->e);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_error, -EIO);
    assert_int_equal(ls_put(f->e, 0, "x", 1, "y", 1, NULL, wres_cb, NULL), LS_EFAILED);
    assert_int_equal(ls_del(f->e, 0, "key:00000", 9, wres_cb, NULL), LS_EFAILED);
    assert_int_equal(sync_sync(f->e), LS_EFAILED);

    /* reads: acknowledged values; failed overwrites reverted to the older value; failed
     * new keys absent; the failed delete undone */
    for (int i = 0; i < N; i++) {
        char k[32];
        key_of(k, sizeof(k), i);
        if (i < first_failed)
            check_key(f->e, i, 1, 480);
        else if (i % 3 == 0)
            check_key(f->e, i, 0, 50);
        else
            check_value(f->e, 0, k, NULL);
    }
    check_value(f->e, 0, "gone", "G0");
    uint64_t want = (uint64_t)first_failed + 1;
    for (int i = first_failed; i < N; i++)
        want += i % 3 == 0;
    assert_int_equal(ls_count(f->e, 0), want);

    /* after a restart the acknowledged state is there (failed writes that did reach the
     * device may also be applied: their outcome was an error, FORMAT.md) */
    reopen_with(f);
    for (int i = 0; i < first_failed; i++)
        check_key(f->e, i, 1, 480);
    order_free(&o);
}

/* The same key written again and again across buffers, the later ones failing: the value
 * of the last acknowledged write comes back, not one of the failed ones. */
static void test_fail_overwrite_chain(void **state)
{
    struct fx *f = *state;
    char v[8192];
    struct order o;
    struct tag tags[64];

    assert_int_equal(put_sync(f->e, 0, "k", "acked", 5, 0), 0);
    struct ls_faults fl = {.fail_write_n = 2};
    ls_set_faults(f->e, &fl);
    order_init(&o, 64);
    /* each put fills most of a buffer: one buffer per put */
    for (int i = 0; i < 6; i++) {
        snprintf(v, sizeof(v), "gen%d-", i);
        memset(v + strlen(v), 'x', 7000);
        v[7000] = 0;
        tags[i] = (struct tag){&o, i};
        assert_int_equal(ls_put(f->e, 0, "k", 1, v, strlen(v), NULL, order_cb, &tags[i]), 0);
    }
    /* and one more key put and deleted inside failed buffers */
    tags[6] = (struct tag){&o, 6};
    assert_int_equal(ls_put(f->e, 0, "tmp", 3, "t", 1, NULL, order_cb, &tags[6]), 0);
    tags[7] = (struct tag){&o, 7};
    assert_int_equal(ls_del(f->e, 0, "tmp", 3, order_cb, &tags[7]), 0);
    poll_until_n(f->e, &o, 8);
    /* the first put's buffer succeeded if acknowledged before the second failed; every
     * write not acknowledged then failed with it */
    assert_true(o.rc[0] == 0 || o.rc[0] == LS_EFAILED);
    for (int i = 1; i < 8; i++)
        assert_int_equal(o.rc[i], LS_EFAILED);
    char *got = NULL;
    uint32_t len = 0;
    assert_int_equal(get_sync(f->e, 0, "k", &got, &len), 0);
    if (o.rc[0] == 0)
        assert_true(len > 5 && memcmp(got, "gen0-", 5) == 0);
    else
        assert_true(len == 5 && memcmp(got, "acked", 5) == 0);
    free(got);
    check_value(f->e, 0, "tmp", NULL);
    order_free(&o);
}

/* A failed table flush is not visible to reads either. */
static void test_fail_flush_table(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};

    assert_int_equal(put_sync(f->e, 2, "a", "1", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 2, "b", "2", 1, 0), 0);
    struct ls_faults fl = {.fail_write_n = 1};
    ls_set_faults(f->e, &fl);
    assert_int_equal(ls_flush_table(f->e, 2, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, LS_EFAILED);
    check_value(f->e, 2, "a", "1");
    check_value(f->e, 2, "b", "2");
    assert_int_equal(ls_count(f->e, 2), 2);
    reopen_with(f); /* the flush record never reached the device */
    check_value(f->e, 2, "a", "1");
    check_value(f->e, 2, "b", "2");
}

static void test_fail_enospc(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};

    assert_int_equal(put_sync(f->e, 0, "a", "1", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "b", "1", 1, 0), 0);
    assert_int_equal(del_sync(f->e, 0, "b"), 0);
    struct ls_faults fl = {.fail_write_n = 1, .error = ENOSPC};
    ls_set_faults(f->e, &fl);
    assert_int_equal(ls_put(f->e, 0, "a", 1, "2", 1, NULL, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, LS_EFAILED);
    struct ls_stats st = stats(f->e);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_error, -ENOSPC);
    assert_string_equal(ls_strerror(st.last_error), strerror(ENOSPC));
    assert_string_equal(ls_strerror(LS_EFAILED),
                        "engine failed after a device error; writes refused");
    check_value(f->e, 0, "a", "1");
}

/* ---- periodic durability ---- */

static void test_periodic_acks_first(void **state)
{
    struct fx *f = *state;
    struct order o;
    struct tag tags[20];

    ls_close(f->e);
    f->cfg.durability = LS_PERIODIC;
    f->cfg.flush_interval_ms = 50;
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    order_init(&o, 20);
    for (int i = 0; i < 10; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 20), 0);
    assert_int_equal(o.n, 0); /* still not inside the submitting call */
    poll_until_n(f->e, &o, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(o.seq[i], i);
        assert_int_equal(o.rc[i], 0);
    }
    assert_int_equal(stats(f->e).device_writes, 0);
    for (int i = 0; i < 100; i++) { /* the interval has not passed: nothing written */
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 0);
        ls_poll(f->e);
        ls_tick(f->e);
    }
    assert_int_equal(stats(f->e).device_writes, 0);
    check_key(f->e, 4, 0, 20); /* from the buffer */
    fake_now_ms += 60;
    ls_tick(f->e);
    for (int i = 0; i < 1000 && stats(f->e).device_writes == 0; i++) {
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(f->e);
    }
    assert_int_equal(stats(f->e).device_writes, 1);
    order_free(&o);
}

/* ---- the ls_sync barrier ---- */

struct sync_probe {
    struct ls_engine *e;
    struct order *o;
    int done, rc, seen_before;
    uint64_t writes_at_cb;
};
static void sync_probe_cb(void *arg, int rc, uint64_t cas)
{
    struct sync_probe *s = arg;
    (void)cas;
    s->done = 1;
    s->rc = rc;
    s->seen_before = s->o->n;
    s->writes_at_cb = stats(s->e).device_writes;
}

static void test_sync_barrier(void **state)
{
    struct fx *f = *state;
    struct order o;
    struct tag tags[100];

    /* sync mode: the barrier runs after every write before it, before any after it */
    order_init(&o, 100);
    for (int i = 0; i < 40; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 480), 0);
    struct sync_probe s = {.e = f->e, .o = &o};
    assert_int_equal(ls_sync(f->e, sync_probe_cb, &s), 0);
    for (int i = 40; i < 60; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 0, 480), 0);
    poll_until_n(f->e, &o, 60);
    run_until(f->e, &s.done);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.seen_before, 40);
    for (int i = 0; i < 60; i++)
        assert_int_equal(o.seq[i], i);
    /* nothing pending: the barrier still runs from ls_poll, not inside the call */
    struct sync_probe s2 = {.e = f->e, .o = &o};
    assert_int_equal(ls_sync(f->e, sync_probe_cb, &s2), 0);
    assert_int_equal(s2.done, 0);
    run_until(f->e, &s2.done);
    assert_int_equal(s2.rc, 0);
    order_free(&o);

    /* periodic mode: acked at once, but the barrier waits for the device write */
    ls_close(f->e);
    f->cfg.durability = LS_PERIODIC;
    f->cfg.flush_interval_ms = 1000000; /* never by time */
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    order_init(&o, 100);
    for (int i = 0; i < 40; i++)
        assert_int_equal(put_tagged(f->e, tags, &o, i, 2, 480), 0);
    poll_until_n(f->e, &o, 40);
    uint64_t writes = stats(f->e).device_writes;
    struct sync_probe s3 = {.e = f->e, .o = &o};
    assert_int_equal(ls_sync(f->e, sync_probe_cb, &s3), 0);
    run_until(f->e, &s3.done);
    assert_int_equal(s3.rc, 0);
    assert_true(s3.writes_at_cb >= writes + 1);
    assert_int_equal(stats(f->e).pending_bytes, 0);
    assert_int_equal(stats(f->e).inflight_writes, 0);
    /* what the barrier covered survives a restart */
    reopen_with(f);
    for (int i = 0; i < 40; i++)
        check_key(f->e, i, 2, 480);
    order_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ring_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_nth_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_overwrite_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_flush_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_acks_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_barrier, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
