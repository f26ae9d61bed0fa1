/*
 * test_fence.c - a write reported failed never comes back (engine/fence.c), on the
 * simulated device (engine/simdev.h), which lets the test choose the order in which
 * writes complete and which one fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_write_stays_failed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
