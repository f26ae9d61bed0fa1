/*
 * test_fence.c - device and filesystem failures on the simulated device
 * (engine/simdev.h), which lets the test choose the order in which writes complete,
 * which one fails, and how much room the filesystem has: a write reported failed never
 * comes back (engine/fence.c); a filesystem smaller than disk_size behaves like a full
 * disk, where deletes still work (seg.c, ensure_file); and the group commit's window,
 * which needs the device's clock and the order of its completions (wbuf.c, may_seal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <string.h>

#include "eng_util.h"
#include "internal.h"
#include "simdev.h"

static void sim_config(struct ls_config *c, struct simdev *d)
{
    small_config(c, "sim"); /* then shrunk to a simulated disk */
    c->sim = d;
    c->dir = "sim";
    c->segment_size = 16384;
    c->file_size = 16384 * 16;
    c->max_value_size = 65536; /* a value must fit in a data file */
    c->disk_size = (uint64_t)c->file_size * 8;
    c->write_buffer_size = 8192;
    c->clock_ms = fake_clock;
}

/* Polls until nothing is pending on the device and no callback is waiting. */
static void settle(struct ls_engine *e, struct simdev *d)
{
    ls_poll(e); /* seals what was appended */
    for (int i = 0; i < 1000 && (simdev_pending(d) || uio_inflight(e->u)); i++) {
        simdev_execute(d, 1);
        ls_poll(e);
    }
}

static void get_cb(void *arg, int rc, const struct ls_item *it)
{
    (void)it;
    *(int *)arg = rc;
}

static int get_rc(struct ls_engine *e, struct simdev *d, const char *k)
{
    int rc = 1, sub = ls_get(e, 0, k, strlen(k), get_cb, &rc);

    if (sub < 0)
        return sub;
    while (rc == 1) {
        simdev_execute(d, 1);
        ls_poll(e);
    }
    return rc;
}

/* Two group-commit writes in flight; the first fails, the second reaches the disk. Both
 * are reported failed, and after a restart neither is there (the second one came back:
 * recovery applied it). */
static void test_failed_write_stays_failed(void **state)
{
    struct simdev *d = simdev_new(42);
    struct ls_config c;
    struct ls_engine *e;
    struct wres a = {0}, b = {0}, keep = {0};

    (void)state;
    sim_config(&c, d);
    assert_int_equal(ls_open(&c, &e), 0);
    assert_int_equal(ls_put(e, 0, "keep", 4, "v0", 2, NULL, wres_cb, &keep), 0);
    settle(e, d);
    assert_true(keep.done);
    assert_int_equal(keep.rc, 0);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e); /* sealed and queued: the first write */
    assert_int_equal(ls_put(e, 0, "b", 1, "vb", 2, NULL, wres_cb, &b), 0);
    ls_poll(e); /* the second */
    assert_int_equal(simdev_pending(d), 2);
    assert_int_equal(simdev_fail_pending(d, 0, -EIO), 0);
    simdev_execute(d, 1); /* the second write reaches the disk */
    settle(e, d);
    assert_true(a.done && b.done);
    assert_int_equal(a.rc, LS_EFAILED);
    assert_int_equal(b.rc, LS_EFAILED);
    ls_close(e);
    assert_int_equal(ls_open(&c, &e), 0);
    assert_int_equal(get_rc(e, d, "keep"), 0);
    assert_int_equal(get_rc(e, d, "a"), LS_ENOTFOUND);
    assert_int_equal(get_rc(e, d, "b"), LS_ENOTFOUND);
    /* the fence outlives another restart, and new writes to the same keys work */
    struct wres b2 = {0};
    assert_int_equal(ls_put(e, 0, "b", 1, "vb2", 3, NULL, wres_cb, &b2), 0);
    settle(e, d);
    assert_true(b2.done);
    assert_int_equal(b2.rc, 0);
    ls_close(e);
    assert_int_equal(ls_open(&c, &e), 0);
    assert_int_equal(get_rc(e, d, "a"), LS_ENOTFOUND);
    assert_int_equal(get_rc(e, d, "b"), 0);
    ls_close(e);
    simdev_free(d);
}

/* An engine in sync mode with a group-commit window of 1 ms on the simulated device. */
static struct ls_engine *gc_open(struct simdev *d)
{
    struct ls_config c;
    struct ls_engine *e;

    sim_config(&c, d);
    c.durability = LS_SYNC;
    c.group_commit_us = 1000;
    assert_int_equal(ls_open(&c, &e), 0);
    return e;
}

/* Runs the device a write and a window (1 ms) at a time until a, b and k are acknowledged,
 * checking that they are acknowledged in that order and succeed; closes and frees. */
static void gc_finish(struct ls_engine *e, struct simdev *d, struct wres *a, struct wres *b,
                      struct wres *k)
{
    for (int i = 0; i < 100 && !(a->done && b->done && k->done); i++) {
        simdev_advance_ns(d, 1000000);
        simdev_execute(d, 1);
        ls_poll(e);
        assert_true(a->done >= b->done && b->done >= k->done); /* acknowledged in order */
    }
    assert_true(a->done && b->done && k->done);
    assert_int_equal(a->rc, 0);
    assert_int_equal(b->rc, 0);
    assert_int_equal(k->rc, 0);
    ls_close(e);
    simdev_free(d);
}

/* Group commit with a window (group_commit_us): an idle device gets a write at once; a
 * write that arrives while one is in flight goes after the window, before the first
 * completes (two in flight at most); acknowledgements stay in order. */
static void test_group_commit_slots(void **state)
{
    struct simdev *d = simdev_new(3);
    struct ls_engine *e;
    struct wres h = {0}, a = {0}, b = {0}, k = {0};

    (void)state;
    e = gc_open(d);
    /* a segment's first block first: a later buffer of it waits for that one (wbuf_kick) */
    assert_int_equal(ls_put(e, 0, "h", 1, "vh", 2, NULL, wres_cb, &h), 0);
    settle(e, d);
    assert_true(h.done);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* idle: a's write at once */
    assert_int_equal(ls_put(e, 0, "b", 1, "vb", 2, NULL, wres_cb, &b), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 2);                 /* a's write, and the window's timer */
    assert_int_equal(simdev_fail_pending(d, 1, -ETIME), 0); /* the window closes */
    ls_poll(e);
    struct ls_stats st;
    ls_get_stats(e, &st);
    assert_int_equal(st.inflight_writes, 2); /* b's write, a's still in flight */
    assert_int_equal(simdev_pending(d), 2);
    assert_int_equal(ls_put(e, 0, "k", 1, "vk", 2, NULL, wres_cb, &k), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 2); /* both slots taken: k waits, no timer */
    gc_finish(e, d, &a, &b, &k);
}

/* The window is counted from the last group-commit seal: a record that arrives with one
 * write in flight after the window has passed since that write's seal goes at once (it
 * used to wait a whole window from its arrival), and one that waits when a completion
 * leaves the device idle goes at once too (it used to wait a window more). */
static void test_group_commit_window_from_seal(void **state)
{
    struct simdev *d = simdev_new(7);
    struct ls_engine *e;
    struct ls_stats st;
    struct wres h = {0}, a = {0}, b = {0}, k = {0};

    (void)state;
    e = gc_open(d);
    assert_int_equal(ls_put(e, 0, "h", 1, "vh", 2, NULL, wres_cb, &h), 0);
    settle(e, d); /* the segment's first block, so that later buffers are not held */
    assert_true(h.done);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* idle: a's write at once */
    simdev_advance_ns(d, 1000000);          /* the window passes, a's write still in flight */
    assert_int_equal(ls_put(e, 0, "b", 1, "vb", 2, NULL, wres_cb, &b), 0);
    ls_poll(e);
    ls_get_stats(e, &st);
    assert_int_equal(st.inflight_writes, 2); /* b's write at once, beside a's */
    assert_int_equal(simdev_pending(d), 2);  /* and no timer */
    assert_int_equal(ls_put(e, 0, "k", 1, "vk", 2, NULL, wres_cb, &k), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 2); /* both slots taken: k waits */
    /* both writes complete with the clock where it was: k was not due after b's seal,
     * but the device is idle now, so its write goes at once */
    for (int i = 0; i < 10 && !(a.done && b.done); i++) {
        simdev_execute(d, 1);
        ls_poll(e);
    }
    assert_true(a.done && b.done && !k.done);
    ls_get_stats(e, &st);
    assert_int_equal(st.inflight_writes, 1); /* k's */
    gc_finish(e, d, &a, &b, &k);
}

/* Acknowledges h (a segment's first block, judged a light load), then after 12 ms of the
 * device's clock appends the 60 records of `many` and sends them: the load is judged heavy
 * (61 records in 12 windows of 1 ms, against GC_HEAVY_RECS = 4 a window, wbuf.c). */
static void gc_make_heavy(struct ls_engine *e, struct simdev *d, struct wres *h, struct wres *many)
{
    char key[16];

    assert_int_equal(ls_put(e, 0, "h", 1, "vh", 2, NULL, wres_cb, h), 0);
    settle(e, d);
    assert_true(h->done);
    simdev_advance_ns(d, 12000000);
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ls_put(e, 0, key, strlen(key), "v", 1, NULL, wres_cb, &many[i]), 0);
    }
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* idle: their write at once */
}

/* Under a heavy load (GC_HEAVY_RECS records or more per window over the last judgement, in
 * wbuf.c), a completion that leaves the device idle with a record waiting does not send it
 * at once: the window runs first, so that the clients the completion answered join it
 * (counted from the last seal instead, 50 clients made ~40% more device writes). */
static void test_group_commit_heavy_joins(void **state)
{
    struct simdev *d = simdev_new(11);
    struct ls_engine *e;
    struct ls_stats st;
    struct wres h = {0}, many[60] = {{0}}, a = {0};

    (void)state;
    e = gc_open(d);
    gc_make_heavy(e, d, &h, many);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 2); /* the write, and the window's timer */
    simdev_execute(d, 1);                   /* the write (the timer is not due) */
    ls_poll(e);
    assert_true(many[59].done && !a.done);
    ls_get_stats(e, &st);
    assert_int_equal(st.inflight_writes, 0); /* the device is idle, and a waits... */
    assert_int_equal(simdev_pending(d), 1);  /* ...for the window */
    simdev_advance_ns(d, 1000000);
    simdev_execute(d, 1); /* the window closes */
    ls_poll(e);
    ls_get_stats(e, &st);
    assert_int_equal(st.inflight_writes, 1); /* a's write */
    settle(e, d);
    assert_true(a.done);
    assert_int_equal(a.rc, 0);
    for (int i = 0; i < 60; i++)
        assert_int_equal(many[i].rc, 0);
    ls_close(e);
    simdev_free(d);
}

/* ls_stats says how group commit judged the load (INFO logstor group_commit_load): light
 * at the start, heavy after 61 records in 12 windows, light again after a lone record
 * 20 ms later; each judgement and each group-commit seal is counted. */
static void test_group_commit_load_stats(void **state)
{
    struct simdev *d = simdev_new(13);
    struct ls_engine *e;
    struct ls_stats st;
    struct wres h = {0}, many[60] = {{0}}, a = {0};

    (void)state;
    e = gc_open(d);
    ls_get_stats(e, &st);
    assert_int_equal(st.group_commit_load, 1); /* light */
    assert_int_equal(st.group_commit_seals, 0);
    gc_make_heavy(e, d, &h, many); /* h's seal, then the 60 records' */
    ls_get_stats(e, &st);
    assert_int_equal(st.group_commit_load, 2); /* heavy */
    assert_int_equal(st.group_commit_judged_heavy, 1);
    assert_int_equal(st.group_commit_seals, 2);
    settle(e, d);
    simdev_advance_ns(d, 20000000);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e); /* one record in 20 windows */
    ls_get_stats(e, &st);
    assert_int_equal(st.group_commit_load, 1);
    assert_int_equal(st.group_commit_judged_light, 1);
    assert_int_equal(st.group_commit_judged_heavy, 1);
    assert_int_equal(st.group_commit_seals, 3);
    settle(e, d);
    assert_true(a.done && many[59].done);
    ls_close(e);
    simdev_free(d);

    /* periodic mode has no window */
    struct ls_config c;
    d = simdev_new(14);
    sim_config(&c, d);
    c.durability = LS_PERIODIC;
    c.group_commit_us = 1000;
    assert_int_equal(ls_open(&c, &e), 0);
    ls_get_stats(e, &st);
    assert_int_equal(st.group_commit_load, 0);
    ls_close(e);
    simdev_free(d);
}

/* A buffer sealed but held (a segment's later buffer waits for its first block) takes a
 * group-commit slot too: behind a slow first block, no window seals a third buffer. */
static void test_group_commit_held(void **state)
{
    struct simdev *d = simdev_new(5);
    struct ls_engine *e;
    struct wres a = {0}, b = {0}, k = {0};

    (void)state;
    e = gc_open(d);
    assert_int_equal(ls_put(e, 0, "a", 1, "va", 2, NULL, wres_cb, &a), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* a's write: the segment's first block */
    assert_int_equal(ls_put(e, 0, "b", 1, "vb", 2, NULL, wres_cb, &b), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 2);                 /* and the window's timer */
    assert_int_equal(simdev_fail_pending(d, 1, -ETIME), 0); /* the window closes */
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* b sealed, held behind a's block */
    assert_int_equal(ls_put(e, 0, "k", 1, "vk", 2, NULL, wres_cb, &k), 0);
    ls_poll(e);
    assert_int_equal(simdev_pending(d), 1); /* both slots taken: no timer, k waits */
    gc_finish(e, d, &a, &b, &k);
}

struct count {
    int pending, failed;
};

static void count_cb(void *arg, int rc, uint64_t cas)
{
    struct count *c = arg;

    (void)cas;
    c->pending--;
    c->failed += rc != 0;
}

/* Writes keys until the engine refuses for space; every refusal must be LS_EBUSY (then
 * retried) or LS_ENOSPACE. Returns how many were written. */
static int fill(struct ls_engine *e, struct simdev *d, const char *prefix, struct count *c)
{
    char k[32], v[3000];
    int n = 0, busy = 0;

    memset(v, 'f', sizeof(v));
    for (;;) {
        snprintf(k, sizeof(k), "%s%d", prefix, n);
        int rc = ls_put(e, 0, k, strlen(k), v, sizeof(v), NULL, count_cb, c);
        if (rc == 0) {
            c->pending++;
            n++;
            busy = 0;
        } else if (rc == LS_EBUSY && busy++ < 2000) {
            simdev_execute(d, 4);
            ls_poll(e);
            ls_tick(e);
        } else {
            assert_int_equal(rc, rc == LS_EBUSY ? LS_EBUSY : LS_ENOSPACE);
            return n;
        }
        if (n % 16 == 0)
            settle(e, d);
    }
}

/* A filesystem with room for 2 of the 8 data files disk_size allows: creating the third
 * fails with ENOSPC. Writes are then refused as on a full disk (LS_ENOSPACE, not an
 * engine error), reads and deletes work, the room deletes make is written again, and a
 * restart finds the same. (Deletes failed too, each retrying the file's creation.) */
static void test_filesystem_full(void **state)
{
    struct simdev *d = simdev_new(7);
    struct ls_config c;
    struct ls_engine *e;
    struct count cnt = {0};
    struct ls_stats st;
    int n;

    (void)state;
    sim_config(&c, d);
    c.file_size = 16384 * 64; /* 2 files of 64 segments: room for compaction's pool */
    c.disk_size = 8 * (uint64_t)c.file_size;
    assert_int_equal(ls_open(&c, &e), 0);
    /* the filesystem fills up behind the engine's back: the third file's creation fails */
    simdev_set_capacity(d, 2 * (uint64_t)c.file_size);
    n = fill(e, d, "k", &cnt);
    settle(e, d);
    assert_int_equal(cnt.pending, 0);
    assert_int_equal(cnt.failed, 0);
    ls_get_stats(e, &st);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.files, 2);
    assert_true(e->sm.fs_full > 0);
    assert_true(n > 100);
    assert_int_equal(get_rc(e, d, "k0"), 0);
    for (int i = 0; i < n; i += 2) {
        char k[32];
        snprintf(k, sizeof(k), "k%d", i);
        int rc = ls_del(e, 0, k, strlen(k), count_cb, &cnt);
        for (int tries = 0; rc == LS_EBUSY && tries < 2000; tries++) {
            simdev_execute(d, 4);
            ls_poll(e);
            ls_tick(e);
            rc = ls_del(e, 0, k, strlen(k), count_cb, &cnt);
        }
        assert_int_equal(rc, 0);
        cnt.pending++;
    }
    settle(e, d);
    assert_int_equal(cnt.failed, 0);
    assert_true(fill(e, d, "again", &cnt) > n / 8); /* compaction made room */
    settle(e, d);
    ls_close(e);
    assert_int_equal(ls_open(&c, &e), 0);
    assert_int_equal(get_rc(e, d, "k0"), LS_ENOTFOUND);
    assert_int_equal(get_rc(e, d, "k1"), 0);
    ls_get_stats(e, &st);
    assert_int_equal(st.segments_total, 2 * 64);
    ls_close(e);
    simdev_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_write_stays_failed),
        cmocka_unit_test(test_filesystem_full),
        cmocka_unit_test(test_group_commit_slots),
        cmocka_unit_test(test_group_commit_held),
        cmocka_unit_test(test_group_commit_window_from_seal),
        cmocka_unit_test(test_group_commit_heavy_joins),
        cmocka_unit_test(test_group_commit_load_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
