/*
 * test_snap.c - named snapshots (engine/snap.c): holds against compaction, persistence of
 * the list and the holds across clean and scanned restarts, a FLUSH during a snapshot,
 * drop, a damaged list, and the export's copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eng_util.h"
#include "internal.h"

static void snap_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->disk_size = 8u << 20;
    c->file_size = 1u << 20;
    c->segment_size = 64u << 10;
    c->max_value_size = 64u << 10;
}

static int setup(void **state)
{
    struct fx *f = fx_open(snap_config);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

static int snap_sync(struct ls_engine *e, const char *name)
{
    struct wres w = {0};
    int rc = ls_snapshot_create(e, name, wres_cb, &w);
    if (rc < 0)
        return rc;
    for (int i = 0; !w.done && i < 100000; i++) {
        run_until(e, &w.done); /* ticks drive the snapshot's writer */
    }
    return w.rc;
}

static void fill(struct ls_engine *e, const char *prefix, int n, int gen, size_t vlen)
{
    char k[64], v[2048];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%d", prefix, i);
        memset(v, 'a' + gen % 26, vlen);
        snprintf(v, 24, "%d:%d:", gen, i);
        assert_int_equal(put_sync(e, 0, k, v, vlen, 0), 0);
    }
}

static void check_gen(struct ls_engine *e, const char *prefix, int n, int gen, size_t vlen)
{
    char k[64], v[2048];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%d", prefix, i);
        memset(v, 'a' + gen % 26, vlen);
        snprintf(v, 24, "%d:%d:", gen, i);
        v[vlen] = '\0';
        char *got = NULL;
        uint32_t len = 0;
        assert_int_equal(get_sync(e, 0, k, &got, &len), 0);
        assert_int_equal(len, vlen);
        assert_memory_equal(got, v, vlen);
        free(got);
    }
}

/* Copies snapshot name of f into a new engine and checks it holds generation gen. */
static void export_check(struct fx *f, const char *name, int n, int gen, size_t vlen)
{
    struct fx *g = fx_open(snap_config);
    char err[256];
    uint64_t keys = 0;
    assert_non_null(g);
    int rc = ls_snapshot_export(f->dir, name, g->e, &keys, err, sizeof(err));
    if (rc != 0)
        fail_msg("export: %s", err);
    assert_int_equal(keys, (uint64_t)n);
    assert_int_equal(ls_count(g->e, 0), (uint64_t)n);
    check_gen(g->e, "k", n, gen, vlen);
    fx_close(g);
}

/* A snapshot's segments are never compacted: after the keys are overwritten many times on
 * a small disk (compaction reusing segments), its export is still generation 0, and so
 * after a clean restart and a restart that scans the log; DROP releases them. */
static void test_snap_holds(void **state)
{
    struct fx *f = *state;
    struct ls_stats st;
    struct ls_snapshot_info v[LS_SNAP_MAX];

    fill(f->e, "k", 300, 0, 1000);
    assert_int_equal(snap_sync(f->e, "s1"), 0);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 1);
    assert_string_equal(v[0].name, "s1");
    assert_int_equal(v[0].keys, 300);
    uint64_t held = ls_snapshot_held_segments(f->e);
    assert_true(held > 0);
    assert_int_equal(snap_sync(f->e, "s1"), -EEXIST);
    assert_int_equal(ls_snapshot_create(f->e, "a/b", NULL, NULL), LS_EINVAL);
    assert_int_equal(ls_snapshot_create(f->e, ".x", NULL, NULL), LS_EINVAL);
    for (int gen = 1; gen <= 30; gen++)
        fill(f->e, "k", 300, gen, 1000);
    ls_get_stats(f->e, &st);
    assert_true(st.segments_compacted + st.segments_freed > 100);
    assert_int_equal(ls_snapshot_held_segments(f->e), held);
    check_gen(f->e, "k", 300, 30, 1000);
    export_check(f, "s1", 300, 0, 1000);

    assert_int_equal(fx_reopen(f), 0);
    assert_int_equal(ls_snapshot_held_segments(f->e), held);
    for (int gen = 31; gen <= 45; gen++)
        fill(f->e, "k", 300, gen, 1000);
    assert_int_equal(fx_reopen_scan(f), 0);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 1);
    assert_int_equal(v[0].damaged, 0);
    assert_int_equal(ls_snapshot_held_segments(f->e), held);
    for (int gen = 46; gen <= 60; gen++)
        fill(f->e, "k", 300, gen, 1000);
    export_check(f, "s1", 300, 0, 1000);
    check_gen(f->e, "k", 300, 60, 1000);

    assert_int_equal(ls_snapshot_drop(f->e, "s1"), 0);
    assert_int_equal(ls_snapshot_drop(f->e, "s1"), LS_ENOTFOUND);
    assert_int_equal(ls_snapshot_held_segments(f->e), 0);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 0);
    assert_int_equal(fx_reopen(f), 0);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 0);
    for (int gen = 61; gen <= 75; gen++) /* its segments go back to the pool */
        fill(f->e, "k", 300, gen, 1000);
    check_gen(f->e, "k", 300, 75, 1000);
}

static void flush_cb(void *arg, int rc, uint64_t cas)
{
    (void)cas;
    *(int *)arg = rc == 0 ? 1 : rc;
}

/* A FLUSH of a table while a snapshot is being made gives it up (its index snapshot of the
 * table would outlive the tree): the caller is told -ECANCELED, nothing stays held or
 * listed, and the next one succeeds. */
static void test_snap_flush_cancels(void **state)
{
    struct fx *f = *state;
    struct wres w = {0};
    struct ls_snapshot_info v[LS_SNAP_MAX];
    int flushed = 0;

    fill(f->e, "k", 200, 0, 500);
    assert_int_equal(ls_snapshot_create(f->e, "s2", wres_cb, &w), 0);
    assert_int_equal(ls_snapshot_create(f->e, "s3", wres_cb, &w), LS_EBUSY);
    assert_int_equal(ls_flush_table(f->e, 1, flush_cb, &flushed), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 0);
    assert_int_equal(ls_snapshot_held_segments(f->e), 0);
    run_until(f->e, &flushed);
    assert_int_equal(snap_sync(f->e, "s2"), 0);
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 1);
}

/* A damaged logstor.snaps refuses the open (its holds cannot be known, and compaction
 * would reuse what a snapshot names); moved away, the directory opens without snapshots. */
static void test_snap_list_damaged(void **state)
{
    struct fx *f = *state;
    char p[4200], q[4200];

    fill(f->e, "k", 50, 0, 100);
    assert_int_equal(snap_sync(f->e, "s4"), 0);
    ls_close(f->e);
    f->e = NULL;
    snprintf(p, sizeof(p), "%s/logstor.snaps", f->dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 20), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, 20), 1);
    close(fd);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_ECORRUPT);
    f->e = NULL;
    snprintf(q, sizeof(q), "%s/snaps.bad", f->dir);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    struct ls_snapshot_info v[LS_SNAP_MAX];
    assert_int_equal(ls_snapshot_list(f->e, v, LS_SNAP_MAX), 0);
    check_gen(f->e, "k", 50, 0, 100);
}

static void check_absent(struct ls_engine *e, uint32_t t, const char *prefix, int from, int to)
{
    char k[64];
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof(k), "%s%d", prefix, i);
        assert_int_equal(get_sync(e, t, k, NULL, NULL), LS_ENOTFOUND);
    }
}

static int flush_sync(struct ls_engine *e, uint32_t t)
{
    int done = 0;
    int rc = ls_flush_table(e, t, flush_cb, &done);
    if (rc < 0)
        return rc;
    run_until(e, &done);
    return done == 1 ? 0 : done;
}

/* The state at the snapshot, for the rollback tests: k50..k299 generation 0 in table 0
 * (k0..k49 deleted before it), table 1 flushed before it and then holding t1:0..9. */
static void rb_before(struct fx *f)
{
    char k[32];
    fill(f->e, "k", 300, 0, 700);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(del_sync(f->e, 0, k), 0);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof(k), "t1:%d", i);
        assert_int_equal(put_sync(f->e, 1, k, "old", 3, 0), 0);
    }
    assert_int_equal(flush_sync(f->e, 1), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "t1:%d", i);
        assert_int_equal(put_sync(f->e, 1, k, "new", 3, 0), 0);
    }
    assert_int_equal(snap_sync(f->e, "s1"), 0);
}

/* After it: everything overwritten, the deleted keys back, new keys, deletes, a FLUSH. */
static void rb_after(struct fx *f)
{
    char k[32];
    for (int gen = 1; gen <= 12; gen++)
        fill(f->e, "k", 300, gen, 700);
    for (int i = 0; i < 30; i++) {
        snprintf(k, sizeof(k), "x%d", i);
        assert_int_equal(put_sync(f->e, 0, k, "after", 5, 0), 0);
    }
    for (int i = 60; i < 90; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(del_sync(f->e, 0, k), 0);
    }
    assert_int_equal(flush_sync(f->e, 1), 0);
    for (int i = 20; i < 25; i++) {
        snprintf(k, sizeof(k), "t1:%d", i);
        assert_int_equal(put_sync(f->e, 1, k, "later", 5, 0), 0);
    }
}

static void rb_check(struct fx *f)
{
    char k[32];
    check_absent(f->e, 0, "k", 0, 50);
    check_gen(f->e, "k", 0, 0, 700); /* nothing: the range below */
    for (int i = 50; i < 300; i++) {
        char v[2048], *got = NULL;
        uint32_t len = 0;
        snprintf(k, sizeof(k), "k%d", i);
        memset(v, 'a', 700);
        snprintf(v, 24, "%d:%d:", 0, i);
        assert_int_equal(get_sync(f->e, 0, k, &got, &len), 0);
        assert_int_equal(len, 700);
        assert_memory_equal(got, v, 700);
        free(got);
    }
    check_absent(f->e, 0, "x", 0, 30);
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "t1:%d", i);
        check_value(f->e, 1, k, "new");
    }
    check_absent(f->e, 1, "t1:", 10, 40);
    assert_int_equal(ls_count(f->e, 0), 250);
    assert_int_equal(ls_count(f->e, 1), 10);
}

static void reopen_rollback(struct fx *f, const char *name, int want)
{
    ls_close(f->e);
    f->e = NULL;
    f->cfg.rollback = name;
    assert_int_equal(ls_open(&f->cfg, &f->e), want);
    f->cfg.rollback = NULL;
}

/* Opening with rollback = s1 brings every table back to the snapshot's instant, and it
 * stays so: after a clean restart, after a restart that scans the whole log (what was
 * deleted before the snapshot, whose tombstones were in segments the rollback cleared,
 * stays deleted; what was written after it does not come back), and after more writes. */
static void test_snap_rollback(void **state)
{
    struct fx *f = *state;

    rb_before(f);
    rb_after(f);
    reopen_rollback(f, "s1", 0);
    rb_check(f);
    assert_int_equal(fx_reopen(f), 0);
    rb_check(f);
    assert_int_equal(fx_reopen_scan(f), 0);
    rb_check(f);
    /* written after the rollback: kept, and the snapshot still rolls back to */
    assert_int_equal(put_sync(f->e, 0, "y", "post", 4, 0), 0);
    assert_int_equal(fx_reopen_scan(f), 0);
    check_value(f->e, 0, "y", "post");
    rb_after(f);
    reopen_rollback(f, "s1", 0);
    rb_check(f);
    check_absent(f->e, 0, "y", 0, 1);
    assert_int_equal(fx_reopen_scan(f), 0);
    rb_check(f);
}

/* A rollback cut short (its marker left, as a crash leaves it) is finished by the next
 * open, named or not; one to another snapshot while other snapshots exist, or to an
 * unknown one, fails the open. */
static void test_snap_rollback_resumed(void **state)
{
    struct fx *f = *state;
    char p[4200];

    rb_before(f);
    rb_after(f);
    ls_close(f->e);
    f->e = NULL;
    snprintf(p, sizeof(p), "%s/logstor.rollback", f->dir);
    FILE *m = fopen(p, "w");
    assert_non_null(m);
    fputs("s1", m);
    fclose(m);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    rb_check(f);
    assert_true(access(p, F_OK) != 0);
    assert_int_equal(fx_reopen_scan(f), 0);
    rb_check(f);
    reopen_rollback(f, "nope", LS_ENOTFOUND);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    assert_int_equal(snap_sync(f->e, "s2"), 0);
    reopen_rollback(f, "s1", LS_EINVAL);
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
    rb_check(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snap_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snap_flush_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snap_list_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snap_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snap_rollback_resumed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
