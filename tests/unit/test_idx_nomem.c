/*
 * test_idx_nomem.c - out-of-memory behaviour of the index with snapshots live.
 *
 * idx.c is compiled into this test with malloc and calloc routed through a hook that
 * fails the k-th allocation from now. Every operation is tried with k = 0, 1, 2, ...
 * until it succeeds: each failure must return -ENOMEM (or NULL) and leave the live
 * tree and every snapshot exactly as they were, and idx_check must pass. Small nodes
 * (6 entries per leaf, 4 children) make splits, merges and multi-level path copies
 * common, so every allocation site is hit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

static long fail_in = -1; /* allocations left before one fails; -1: never */

static int hook_fails(void)
{
    if (fail_in < 0)
        return 0;
    return fail_in-- == 0;
}

static void *hook_malloc(size_t n)
{
    return hook_fails() ? NULL : malloc(n);
}

static void *hook_calloc(size_t k, size_t n)
{
    return hook_fails() ? NULL : calloc(k, n);
}

#define IDX_LEAF_CAP  6
#define IDX_INNER_CAP 4
#define malloc(n)     hook_malloc(n)
#define calloc(k, n)  hook_calloc(k, n)
#include "../../engine/idx.c"
#undef malloc
#undef calloc

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

struct collect {
    struct idx_ent *e;
    size_t n, cap;
};

static int collect_cb(void *arg, const struct idx_ent *ent)
{
    struct collect *c = arg;
    assert_true(c->n < c->cap);
    c->e[c->n++] = *ent;
    return 0;
}

#define MAX_ENTS 4000

/* The entries of the live tree (s == NULL) or of snapshot s, into c (reset first). */
static void entries(const struct idx *t, const struct idx_snap *s, struct collect *c)
{
    c->n = 0;
    if (s)
        idx_snap_scan(s, 0, SIZE_MAX, collect_cb, c, NULL, NULL);
    else
        idx_scan(t, 0, SIZE_MAX, collect_cb, c, NULL, NULL);
}

#define NSNAP 3

struct world {
    struct idx *t;
    struct idx_snap *s[NSNAP];
    struct collect ref[NSNAP]; /* each snapshot's entries, taken when it was made */
    struct collect live, now;
};

static void world_check(struct world *w, const struct collect *live_before)
{
    assert_int_equal(idx_check(w->t), 0);
    if (live_before) {
        entries(w->t, NULL, &w->now);
        assert_int_equal(w->now.n, live_before->n);
        assert_memory_equal(w->now.e, live_before->e, w->now.n * sizeof(struct idx_ent));
    }
    for (int i = 0; i < NSNAP; i++) {
        if (!w->s[i])
            continue;
        assert_int_equal(idx_snap_check(w->t, w->s[i]), 0);
        entries(w->t, w->s[i], &w->now);
        assert_int_equal(w->now.n, w->ref[i].n);
        assert_memory_equal(w->now.e, w->ref[i].e, w->now.n * sizeof(struct idx_ent));
    }
}

enum op { OP_INSERT, OP_REPLACE, OP_REMOVE, OP_CAS, OP_CLEAR, OP_SNAP };

/* Runs op with the k-th allocation failing, for k = 0, 1, ... until it succeeds. */
static unsigned try_op(struct world *w, enum op op, uint64_t key, uint64_t loc)
{
    struct idx_ent e = {key, loc, idx_make_meta(0, (uint32_t)key & IDX_HASH2_MASK)};
    uint32_t h2 = (uint32_t)key & IDX_HASH2_MASK;
    for (long k = 0;; k++) {
        entries(w->t, NULL, &w->live);
        size_t mem = idx_memory(w->t);
        fail_in = k;
        int rc = 0;
        struct idx_snap *snap = NULL;
        switch (op) {
        case OP_INSERT:
        case OP_REPLACE:
            rc = idx_upsert(w->t, &e, NULL);
            break;
        case OP_REMOVE:
            rc = idx_remove(w->t, key, h2, NULL);
            break;
        case OP_CAS:
            rc = idx_cas_loc(w->t, key, h2, loc, loc + 1);
            break;
        case OP_CLEAR:
            rc = idx_clear(w->t);
            break;
        case OP_SNAP:
            snap = idx_snapshot(w->t);
            rc = snap ? 0 : -ENOMEM;
            break;
        }
        int failed = fail_in < 0; /* the hook fired */
        fail_in = -1;
        if (rc == -ENOMEM) {
            assert_true(failed);
            world_check(w, &w->live);
            assert_true(idx_memory(w->t) >= mem); /* kept spares, never lost nodes */
            continue;
        }
        assert_true(rc >= 0);
        if (op == OP_SNAP) {
            for (int i = 0; i < NSNAP; i++) {
                if (!w->s[i]) {
                    w->s[i] = snap;
                    entries(w->t, snap, &w->ref[i]);
                    break;
                }
            }
        }
        world_check(w, NULL);
        return (unsigned)k;
    }
}

static void test_nomem_with_snapshots(void **state)
{
    (void)state;
    struct world w = {0};
    w.t = idx_new();
    assert_non_null(w.t);
    for (int i = 0; i < NSNAP; i++)
        w.ref[i] = (struct collect){calloc(MAX_ENTS, sizeof(struct idx_ent)), 0, MAX_ENTS};
    w.live = (struct collect){calloc(MAX_ENTS, sizeof(struct idx_ent)), 0, MAX_ENTS};
    w.now = (struct collect){calloc(MAX_ENTS, sizeof(struct idx_ent)), 0, MAX_ENTS};
    uint64_t seed = 31, present[1024] = {0};
    unsigned failures = 0, nsnap_taken = 0;
    for (int step = 0; step < 6000; step++) {
        uint64_t r = rng_next(&seed) % 100, key = rng_next(&seed) % 1024;
        int in = (present[key] != 0);
        int slot = (int)(rng_next(&seed) % NSNAP);
        if (r < 2 && !w.s[slot]) {
            failures += try_op(&w, OP_SNAP, 0, 0);
            nsnap_taken++;
        } else if (r < 5 && w.s[slot]) {
            idx_snap_release(w.t, w.s[slot]); /* never allocates */
            w.s[slot] = NULL;
            idx_snap_reclaim(w.t, rng_next(&seed) % 50);
            world_check(&w, NULL);
        } else if (r < 6 && rng_next(&seed) % 10 == 0) {
            failures += try_op(&w, OP_CLEAR, 0, 0);
            memset(present, 0, sizeof(present));
        } else if (r < 55 && !in) {
            failures += try_op(&w, OP_INSERT, key, step);
            present[key] = (uint64_t)step;
        } else if (r < 70 && in) {
            failures += try_op(&w, OP_REPLACE, key, step);
            present[key] = (uint64_t)step;
        } else if (r < 95 && in) {
            failures += try_op(&w, OP_REMOVE, key, 0);
            present[key] = 0;
        } else if (in) {
            failures += try_op(&w, OP_CAS, key, present[key]);
            present[key]++;
        }
    }
    print_message("idx nomem: %u injected allocation failures, %u snapshots taken\n", failures,
                  nsnap_taken);
    assert_true(failures > 1000 && nsnap_taken > 50);
    for (int i = 0; i < NSNAP; i++) {
        idx_snap_release(w.t, w.s[i]);
        free(w.ref[i].e);
    }
    while (idx_snap_reclaim(w.t, 7) > 0)
        assert_int_equal(idx_check(w.t), 0);
    assert_int_equal(idx_check(w.t), 0);
    free(w.live.e);
    free(w.now.e);
    idx_free(w.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nomem_with_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
