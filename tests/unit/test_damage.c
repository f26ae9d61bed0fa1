/*
 * test_damage.c - a damaged or misused data directory is refused with a reason, never
 * opened empty or half (engine/recov.c, logstor.c; issue 11 defects 14 and 15): data
 * files without their logstor.meta, another directory's meta or data file, swapped,
 * missing or overwritten data files; salvage opens them anyway; a damaged header is
 * counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_util.h"

/* 8 files of 1 MiB; the data written fills the first three. */
static void damage_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->segment_size = 64u << 10;
    c->file_size = 1u << 20;
    c->disk_size = 8u << 20;
    c->durability = LS_PERIODIC;
    c->cache_size = 0;
    c->max_value_size = 65536;
}

static char base[256], other[256];

static void fill_dir(const char *dir, int keys)
{
    struct ls_config c;
    struct ls_engine *e;
    char k[32], v[1000];

    damage_config(&c, dir);
    assert_int_equal(ls_open(&c, &e), 0);
    memset(v, 'v', sizeof(v));
    for (int i = 0; i < keys; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        assert_int_equal(put_sync(e, 0, k, v, sizeof(v), 0), 0);
    }
    ls_close(e);
    drop_ckpt(dir); /* the damage is for the log scan to find (test_recov tests the other) */
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "%s", tmp_dir());
    snprintf(other, sizeof(other), "%s", tmp_dir());
    fill_dir(base, 2500); /* three files */
    fill_dir(other, 500);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rm_dir(base);
    rm_dir(other);
    return 0;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A fresh copy of the filled directory, damaged by cmd (run in it), then opened. */
static int open_damaged(const char *cmd, int salvage, struct ls_stats *st)
{
    char *dir = strdup(tmp_dir());
    struct ls_config c;
    struct ls_engine *e = NULL;
    int rc;

    sh("cp -a '%s'/. '%s'/ && cd '%s' && %s", base, dir, dir, cmd);
    damage_config(&c, dir);
    c.salvage = salvage;
    rc = ls_open(&c, &e);
    if (rc == 0) {
        if (st)
            ls_get_stats(e, st);
        ls_close(e);
    }
    rm_dir(dir);
    free(dir);
    return rc;
}

static void test_intact_opens(void **state)
{
    struct ls_stats st;

    (void)state;
    assert_int_equal(open_damaged("true", 0, &st), 0);
    assert_int_equal(st.keys, 2500);
    assert_int_equal(st.recovery_corrupt_blocks, 0);
    assert_int_equal(st.recovery_damaged_files, 0);
}

/* It started empty with a new seed: 2500 keys unreachable, their segments reused. */
static void test_missing_meta(void **state)
{
    (void)state;
    assert_int_equal(open_damaged("rm logstor.meta", 0, NULL), LS_ECORRUPT);
}

static void test_foreign_meta(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "cp '%s/logstor.meta' .", other);
    assert_int_equal(open_damaged(cmd, 0, NULL), LS_ECORRUPT);
}

static void test_foreign_file(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "cp '%s/data-000000.lsd' data-000001.lsd", other);
    assert_int_equal(open_damaged(cmd, 0, NULL), LS_ECORRUPT);
}

static void test_swapped_files(void **state)
{
    (void)state;
    assert_int_equal(open_damaged("mv data-000000.lsd x && mv data-000001.lsd data-000000.lsd "
                                  "&& mv x data-000001.lsd",
                                  0, NULL),
                     LS_ECORRUPT);
}

static void test_missing_files(void **state)
{
    (void)state;
    assert_int_equal(open_damaged("rm data-000001.lsd", 0, NULL), LS_ECORRUPT);
    /* the last one: logstor.seq records how many were created */
    assert_int_equal(open_damaged("rm data-000002.lsd", 0, NULL), LS_ECORRUPT);
}

static void test_random_file(void **state)
{
    (void)state;
    assert_int_equal(open_damaged("head -c 1048576 /dev/urandom > data-000001.lsd", 0, NULL),
                     LS_ECORRUPT);
}

/* salvage opens what can be read, and says how much it could not. */
static void test_salvage(void **state)
{
    struct ls_stats st;

    (void)state;
    assert_int_equal(open_damaged("rm data-000001.lsd", 1, &st), 0);
    assert_int_equal(st.recovery_damaged_files, 1);
    assert_true(st.keys > 0 && st.keys < 2500);
}

/* One flipped byte in a buffer header: recovery counts it (and goes on). */
static void test_flipped_header_counted(void **state)
{
    struct ls_stats st;

    (void)state;
    assert_int_equal(open_damaged("printf '\\x55' | dd of=data-000000.lsd bs=1 seek=70000 "
                                  "conv=notrunc status=none",
                                  0, &st),
                     0);
    assert_true(st.recovery_corrupt_blocks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_opens),
        cmocka_unit_test(test_missing_meta),
        cmocka_unit_test(test_foreign_meta),
        cmocka_unit_test(test_foreign_file),
        cmocka_unit_test(test_swapped_files),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_random_file),
        cmocka_unit_test(test_salvage),
        cmocka_unit_test(test_flipped_header_counted),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
