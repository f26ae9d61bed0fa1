/*
 * test_lockset.c - unit tests for the concurrency rule's lock table (server/lockset.c):
 * shared claims share, exclusive ones wait in arrival order, a whole-database claim waits
 * for the key claims of its database and holds later ones back, a multi-key claim is
 * all-or-nothing, duplicates merge, a waiting claim can be withdrawn, callbacks may claim
 * and release, and the table keeps no entry for an idle key. A seeded random run compares
 * every grant with a reference model of the rule (a claim is granted exactly when every
 * older live claim on each of its items is compatible with it), checks the table's
 * invariants after each step, and ends by releasing until nothing is left (no deadlock).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockset.h"

/* A test holder: its claim and whether it was granted (at once or by callback). */
struct holder {
    struct lockset_claim *cl;
    int granted;
    int order; /* grant order, for FIFO checks */
};

static int grant_seq;

static void on_grant(void *arg)
{
    struct holder *h = arg;
    assert_false(h->granted);
    h->granted = 1;
    h->order = ++grant_seq;
}

static struct lockset_item key(uint32_t db, const char *k, int mode)
{
    return (struct lockset_item){db, (uint8_t)mode, 0, k, strlen(k)};
}

static struct lockset_item whole(uint32_t db, int mode)
{
    return (struct lockset_item){db, (uint8_t)mode, 1, NULL, 0};
}

/* Claims items for h; returns lockset_claim's result and records an immediate grant. */
static int take(struct lockset *ls, struct holder *h, const struct lockset_item *it, uint32_t n)
{
    memset(h, 0, sizeof(*h));
    int rc = lockset_claim(ls, it, n, on_grant, h, &h->cl);
    if (rc == 1) {
        h->granted = 1;
        h->order = ++grant_seq;
    }
    assert_int_equal(lockset_check(ls), 0);
    return rc;
}

static void drop(struct lockset *ls, struct holder *h)
{
    lockset_release(ls, h->cl);
    h->cl = NULL;
    assert_int_equal(lockset_check(ls), 0);
}

static struct lockset_stats stats(const struct lockset *ls)
{
    struct lockset_stats st;
    lockset_get_stats(ls, &st);
    return st;
}

static void test_shared_and_exclusive(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(4);
    struct holder s1, x, s2, s3;
    struct lockset_item r = key(0, "k", LOCKSET_SHARED), w = key(0, "k", LOCKSET_EXCLUSIVE);
    assert_int_equal(take(ls, &s1, &r, 1), 1);
    assert_int_equal(take(ls, &s3, &r, 1), 1); /* readers share */
    assert_int_equal(take(ls, &x, &w, 1), 0);  /* the writer waits for both */
    assert_int_equal(take(ls, &s2, &r, 1), 0); /* a reader behind a waiting writer waits */
    assert_int_equal(stats(ls).waiting, 2);
    drop(ls, &s1);
    assert_false(x.granted);
    drop(ls, &s3);
    assert_true(x.granted && !s2.granted);
    drop(ls, &x);
    assert_true(s2.granted);
    drop(ls, &s2);
    assert_int_equal(stats(ls).keys, 0);
    assert_int_equal(stats(ls).claims, 0);
    assert_int_equal(stats(ls).waits, 2);
    lockset_free(ls);
}

static void test_whole_db_barrier(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(4);
    struct holder a, b, flush, after, other, dbsize;
    struct lockset_item ka = key(1, "a", LOCKSET_EXCLUSIVE), kb = key(1, "b", LOCKSET_SHARED);
    struct lockset_item fl = whole(1, LOCKSET_EXCLUSIVE), rd = whole(1, LOCKSET_SHARED);
    struct lockset_item ko = key(2, "a", LOCKSET_EXCLUSIVE);
    assert_int_equal(take(ls, &a, &ka, 1), 1);
    assert_int_equal(take(ls, &dbsize, &rd, 1), 1); /* whole-db readers share with keys */
    assert_int_equal(take(ls, &flush, &fl, 1), 0);  /* FLUSHDB waits for both */
    assert_int_equal(take(ls, &b, &kb, 1), 0);      /* a later key of db 1 waits for it */
    assert_int_equal(take(ls, &other, &ko, 1), 1);  /* db 2 is not concerned */
    drop(ls, &a);
    assert_false(flush.granted);
    drop(ls, &dbsize);
    assert_true(flush.granted && !b.granted);
    assert_int_equal(take(ls, &after, &ka, 1), 0);
    drop(ls, &flush);
    assert_true(b.granted && after.granted);
    assert_true(b.order < after.order);
    drop(ls, &b);
    drop(ls, &after);
    drop(ls, &other);
    assert_int_equal(stats(ls).claims, 0);
    lockset_free(ls);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(1);
    struct holder a, b, c, d;
    struct lockset_item k1 = key(0, "k1", LOCKSET_EXCLUSIVE), k2 = key(0, "k2", LOCKSET_EXCLUSIVE);
    struct lockset_item both[2] = {k2, k1}, k2r = key(0, "k2", LOCKSET_SHARED);
    assert_int_equal(take(ls, &a, &k1, 1), 1);
    assert_int_equal(take(ls, &b, &k2, 1), 1);
    assert_int_equal(take(ls, &c, both, 2), 0);
    assert_int_equal(take(ls, &d, &k2r, 1), 0); /* behind c on k2, though c holds nothing */
    drop(ls, &b);
    assert_false(c.granted); /* still waits for k1: it holds nothing meanwhile */
    assert_false(d.granted); /* FIFO: c came first on k2 */
    drop(ls, &a);
    assert_true(c.granted && !d.granted);
    drop(ls, &c);
    assert_true(d.granted);
    drop(ls, &d);
    lockset_free(ls);
}

static void test_merge_and_errors(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(2);
    struct holder h, r;
    struct lockset_item dup[3] = {key(0, "k", LOCKSET_SHARED), key(0, "k", LOCKSET_EXCLUSIVE),
                                  key(0, "k", LOCKSET_SHARED)};
    struct lockset_item rd = key(0, "k", LOCKSET_SHARED);
    assert_int_equal(take(ls, &h, dup, 3), 1);
    assert_true(lockset_claim_writes(h.cl));
    assert_int_equal(stats(ls).keys, 1);
    assert_int_equal(take(ls, &r, &rd, 1), 0); /* the merged claim is exclusive */
    assert_false(lockset_claim_writes(r.cl));
    drop(ls, &h);
    assert_true(r.granted);
    drop(ls, &r);
    struct lockset_claim *cl = NULL;
    struct lockset_item bad = key(2, "k", LOCKSET_SHARED);
    assert_int_equal(lockset_claim(ls, &bad, 1, on_grant, NULL, &cl), -EINVAL);
    assert_int_equal(lockset_claim(ls, &rd, 0, on_grant, NULL, &cl), -EINVAL);
    assert_null(cl);
    /* Keys that differ only in length or after a NUL are different keys. */
    struct lockset_item k1 = {0, LOCKSET_EXCLUSIVE, 0, "a\0b", 3},
                        k2 = {0, LOCKSET_EXCLUSIVE, 0, "a", 1};
    struct holder x, y;
    assert_int_equal(take(ls, &x, &k1, 1), 1);
    assert_int_equal(take(ls, &y, &k2, 1), 1);
    drop(ls, &x);
    drop(ls, &y);
    lockset_free(ls);
}

static void test_withdraw(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(1);
    struct holder s1, x, s2;
    struct lockset_item r = key(0, "k", LOCKSET_SHARED), w = key(0, "k", LOCKSET_EXCLUSIVE);
    assert_int_equal(take(ls, &s1, &r, 1), 1);
    assert_int_equal(take(ls, &x, &w, 1), 0);
    assert_int_equal(take(ls, &s2, &r, 1), 0);
    drop(ls, &x); /* withdrawn: its callback never runs, the reader behind it joins s1 */
    assert_false(x.granted);
    assert_true(s2.granted);
    assert_int_equal(stats(ls).waiting, 0);
    drop(ls, &s1);
    drop(ls, &s2);
    /* Freeing a table with claims in it frees them (no callback). */
    assert_int_equal(take(ls, &s1, &w, 1), 1);
    assert_int_equal(take(ls, &x, &w, 1), 0);
    lockset_free(ls);
}

/* Re-entrancy: a granted holder releases itself from its callback (a command that
 * completes at once) and claims for the next one (its connection's next command). */
struct chain {
    struct lockset *ls;
    struct holder h[3];
    struct lockset_item it;
    int ran;
};

static void chain_grant(void *arg)
{
    struct chain *ch = arg;
    int i = ch->ran++;
    lockset_release(ch->ls, ch->h[i].cl);
    if (i + 1 < 3) {
        int rc = lockset_claim(ch->ls, &ch->it, 1, chain_grant, ch, &ch->h[i + 1].cl);
        assert_true(rc >= 0);
        if (rc == 1)
            chain_grant(ch);
    }
}

static void test_callbacks_reenter(void **state)
{
    (void)state;
    struct chain ch = {.ls = lockset_new(1), .it = key(0, "k", LOCKSET_EXCLUSIVE)};
    struct holder first;
    assert_int_equal(take(ch.ls, &first, &ch.it, 1), 1);
    assert_int_equal(lockset_claim(ch.ls, &ch.it, 1, chain_grant, &ch, &ch.h[0].cl), 0);
    drop(ch.ls, &first); /* grants h[0], whose callback runs the chain to the end */
    assert_int_equal(ch.ran, 3);
    assert_int_equal(stats(ch.ls).claims, 0);
    assert_int_equal(stats(ch.ls).keys, 0);
    lockset_free(ch.ls);
}

static void test_many_keys(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(1);
    enum { N = 1000 };
    static char names[N][16];
    struct lockset_item *its = calloc(N, sizeof(*its));
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "key:%d", (i * 7919) % N);
        its[i] = key(0, names[i], i % 3 ? LOCKSET_SHARED : LOCKSET_EXCLUSIVE);
    }
    struct holder big, one, all;
    assert_int_equal(take(ls, &big, its, N), 1);
    assert_int_equal(stats(ls).keys, N);
    assert_int_equal(take(ls, &one, &its[3], 1), 0); /* its[3] is exclusive in big */
    struct lockset_item db = whole(0, LOCKSET_EXCLUSIVE);
    assert_int_equal(take(ls, &all, &db, 1), 0);
    drop(ls, &big);
    assert_true(one.granted && !all.granted);
    drop(ls, &one);
    assert_true(all.granted);
    drop(ls, &all);
    assert_int_equal(stats(ls).keys, 0);
    free(its);
    lockset_free(ls);
}

/* ---- seeded random run against a reference model ---- */

#define RND_CLAIMS 64
#define RND_KEYS   6
#define RND_DBS    3

struct rclaim {
    struct holder h;
    int live;
    uint64_t seq;
    int n;
    struct lockset_item it[4];
};

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rnd_state >> 33) % n;
}

static const char *const rkeys[RND_KEYS] = {"a", "b", "c", "d", "e", "f"};

/* Whether claims a and b name a common item (a key also names its database shared). */
static int conflict(const struct rclaim *a, const struct rclaim *b)
{
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < b->n; j++) {
            const struct lockset_item *x = &a->it[i], *y = &b->it[j];
            if (x->db != y->db)
                continue;
            int xm = x->mode, ym = y->mode;
            if (x->whole_db != y->whole_db) {
                /* a key meets a whole database as the database, shared */
                if (!x->whole_db)
                    xm = LOCKSET_SHARED;
                else
                    ym = LOCKSET_SHARED;
            } else if (!x->whole_db && x->key != y->key) {
                continue;
            }
            if (xm == LOCKSET_EXCLUSIVE || ym == LOCKSET_EXCLUSIVE)
                return 1;
        }
    }
    return 0;
}

/* The model: live claim c is granted iff no older live claim conflicts with it. Claims
 * that merge duplicates are modelled by their strongest mode per item, which conflict()
 * gets right since it compares every pair. */
static void check_model(struct rclaim *cs)
{
    for (int i = 0; i < RND_CLAIMS; i++) {
        if (!cs[i].live)
            continue;
        int want = 1;
        for (int j = 0; j < RND_CLAIMS && want; j++)
            if (cs[j].live && cs[j].seq < cs[i].seq && conflict(&cs[j], &cs[i]))
                want = 0;
        if (want != cs[i].h.granted)
            fail_msg("claim %d (seq %llu): granted %d, the rule says %d", i,
                     (unsigned long long)cs[i].seq, cs[i].h.granted, want);
    }
}

static void rnd_claim(struct lockset *ls, struct rclaim *c, uint64_t seq)
{
    c->n = 1 + (int)rnd(4);
    for (int k = 0; k < c->n; k++) {
        uint32_t db = rnd(RND_DBS);
        int mode = (int)rnd(2);
        c->it[k] = rnd(8) == 0 ? whole(db, mode) : key(db, rkeys[rnd(RND_KEYS)], mode);
    }
    c->live = 1;
    c->seq = seq;
    assert_true(take(ls, &c->h, c->it, (uint32_t)c->n) >= 0);
}

static void test_random_against_model(void **state)
{
    (void)state;
    struct lockset *ls = lockset_new(RND_DBS);
    static struct rclaim cs[RND_CLAIMS];
    memset(cs, 0, sizeof(cs));
    uint64_t seq = 0;
    rnd_state = 20240611;
    for (int step = 0; step < 20000; step++) {
        int i = (int)rnd(RND_CLAIMS);
        if (!cs[i].live) {
            rnd_claim(ls, &cs[i], ++seq);
        } else if (cs[i].h.granted || rnd(4) == 0) { /* finish, or withdraw a waiting one */
            drop(ls, &cs[i].h);
            cs[i].live = 0;
        }
        check_model(cs);
    }
    assert_true(stats(ls).waits > 1000); /* the run did exercise waiting */
    /* Drain: releasing granted claims must eventually grant every waiting one. */
    for (int round = 0; round < RND_CLAIMS + 1; round++) {
        for (int i = 0; i < RND_CLAIMS; i++)
            if (cs[i].live && cs[i].h.granted) {
                drop(ls, &cs[i].h);
                cs[i].live = 0;
            }
        check_model(cs);
    }
    for (int i = 0; i < RND_CLAIMS; i++)
        assert_false(cs[i].live);
    assert_int_equal(stats(ls).claims, 0);
    assert_int_equal(stats(ls).keys, 0);
    lockset_free(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_and_exclusive),
        cmocka_unit_test(test_whole_db_barrier),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_merge_and_errors),
        cmocka_unit_test(test_withdraw),
        cmocka_unit_test(test_callbacks_reenter),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
