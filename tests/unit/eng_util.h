/*
 * eng_util.h - helpers shared by the engine's unit tests: a temporary data directory on
 * a filesystem that accepts O_DIRECT, a fake clock, and loops that poll the engine until
 * a callback has run. Header-only (static functions) so each test binary stays one file.
 */
#ifndef TEST_ENG_UTIL_H
#define TEST_ENG_UTIL_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logstor.h"

static uint64_t fake_now_ms = 1700000000000ull;
static uint64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now_ms;
}

/* Makes a fresh directory under TMPDIR (default /tmp) and returns its path (static). */
static const char *tmp_dir(void)
{
    static char path[256];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    snprintf(path, sizeof(path), "%s/logstor-test-XXXXXX", base);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static void rm_dir(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

static void small_config(struct ls_config *c, const char *dir)
{
    ls_config_default(c);
    c->dir = dir;
    c->disk_size = 64u << 20;
    c->file_size = 4u << 20;
    c->segment_size = 128u << 10;
    c->clock_ms = fake_clock;
}

/* Polls the engine until *flag becomes nonzero (or 10 s pass: then aborts). */
static void run_until(struct ls_engine *e, volatile int *flag)
{
    for (int i = 0; !*flag && i < 100000; i++) {
        struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(e);
        if (i % 8 == 0)
            ls_tick(e);
    }
    if (!*flag) {
        fprintf(stderr, "run_until: timed out\n");
        abort();
    }
}

struct wres {
    int done, rc;
    uint64_t cas;
};
static void wres_cb(void *arg, int rc, uint64_t cas)
{
    struct wres *w = arg;
    w->done = 1;
    w->rc = rc;
    w->cas = cas;
}

struct gres {
    int done, rc;
    char *value;
    uint32_t len, flags;
    uint64_t expire_ms, cas;
    uint8_t vtype;
};
static void gres_cb(void *arg, int rc, const struct ls_item *it)
{
    struct gres *g = arg;
    g->done = 1;
    g->rc = rc;
    if (rc == 0) {
        g->value = malloc(it->value_len + 1);
        memcpy(g->value, it->value, it->value_len);
        g->value[it->value_len] = 0;
        g->len = it->value_len;
        g->flags = it->flags;
        g->expire_ms = it->expire_ms;
        g->cas = it->cas;
        g->vtype = it->vtype;
    }
}

/* Synchronous wrappers: return the callback's rc (or the submission error). */
static inline int put_sync(struct ls_engine *e, uint32_t t, const char *k, const void *v, size_t n,
                           uint64_t expire_ms)
{
    struct wres w = {0};
    struct ls_write_opts o = {.expire_ms = expire_ms};
    int rc = ls_put(e, t, k, strlen(k), v, n, &o, wres_cb, &w);
    if (rc < 0)
        return rc;
    run_until(e, &w.done);
    return w.rc;
}

static inline int del_sync(struct ls_engine *e, uint32_t t, const char *k)
{
    struct wres w = {0};
    int rc = ls_del(e, t, k, strlen(k), wres_cb, &w);
    if (rc < 0)
        return rc;
    run_until(e, &w.done);
    return w.rc;
}

/* Returns rc; on success *out is a malloc'd NUL-terminated copy (caller frees). */
static inline int get_sync(struct ls_engine *e, uint32_t t, const char *k, char **out,
                           uint32_t *len)
{
    struct gres g = {0};
    int rc = ls_get(e, t, k, strlen(k), gres_cb, &g);
    if (rc < 0)
        return rc;
    run_until(e, &g.done);
    if (g.rc == 0) {
        if (out)
            *out = g.value;
        else
            free(g.value);
        if (len)
            *len = g.len;
    }
    return g.rc;
}

static inline int sync_sync(struct ls_engine *e)
{
    struct wres w = {0};
    int rc = ls_sync(e, wres_cb, &w);
    if (rc < 0)
        return rc;
    run_until(e, &w.done);
    return w.rc;
}

/* Asserts that key k of table t holds v (NULL: is absent). Needs cmocka.h first. */
static inline void check_value(struct ls_engine *e, uint32_t t, const char *k, const char *v)
{
    char *got = NULL;
    uint32_t len = 0;
    int rc = get_sync(e, t, k, &got, &len);
    char shown[64] = "";
    int same = rc == 0 && v && len == strlen(v) && memcmp(got, v, len) == 0;

    if (rc == 0) { /* shown copied so that a failing check leaks nothing */
        snprintf(shown, sizeof(shown), "%.*s", (int)len, got);
        free(got);
    }
    if (!v) {
        if (rc != LS_ENOTFOUND)
            fail_msg("key %s: rc %d (%s), want absent", k, rc, shown);
        return;
    }
    if (rc != 0)
        fail_msg("key %s: rc %d (%s), want \"%s\"", k, rc, ls_strerror(rc), v);
    if (!same)
        fail_msg("key %s: got \"%s\" (%u bytes), want \"%s\"", k, shown, len, v);
}

/* A test fixture: a fresh data directory and an engine open on it. The config function
 * fills the configuration; fx_open returns NULL when ls_open fails (the caller asserts). */
struct fx {
    const char *dir;
    struct ls_config cfg;
    struct ls_engine *e;
};

static inline struct fx *fx_open(void (*config)(struct ls_config *, const char *))
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = strdup(tmp_dir());
    config(&f->cfg, f->dir);
    if (ls_open(&f->cfg, &f->e) != 0) {
        rm_dir(f->dir);
        free((void *)f->dir);
        free(f);
        return NULL;
    }
    return f;
}

static inline void fx_close(struct fx *f)
{
    ls_close(f->e);
    rm_dir(f->dir);
    free((void *)f->dir);
    free(f);
}

/* Deletes the checkpoint a clean close wrote (engine/ckpt.c): the next open then reads
 * the log, as after a crash. For tests of recovery's scan. */
static inline void drop_ckpt(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/logstor.ckpt", dir);
    unlink(p);
}

/* Closes and reopens the engine on the same directory, recovery reading the log (no
 * checkpoint); returns ls_open's code. */
static inline int fx_reopen_scan(struct fx *f)
{
    ls_close(f->e);
    f->e = NULL;
    drop_ckpt(f->dir);
    return ls_open(&f->cfg, &f->e);
}

/* Closes and reopens the engine on the same directory; returns ls_open's code. */
static inline int fx_reopen(struct fx *f)
{
    ls_close(f->e);
    f->e = NULL;
    return ls_open(&f->cfg, &f->e);
}

#endif
