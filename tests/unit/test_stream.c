/*
 * test_stream.c - stream IDs and the stream record (proto/stream.c): Redis's ID forms
 * parsed and refused, increments at the edges, a stream with groups, consumers and
 * pending entries encoded and decoded back, edits, and every truncation and damaged byte
 * of a record refused or decoded within its buffer, and the consumer groups' edits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream.h"

static int parse(const char *s, uint64_t missing, int strict, int *given, struct stream_id *id)
{
    return stream_id_parse(s, strlen(s), missing, strict, given, id);
}

static void test_id_parse(void **st)
{
    (void)st;
    struct stream_id id;
    int given = -1;
    assert_int_equal(parse("1-2", 0, 1, NULL, &id), 0);
    assert_true(id.ms == 1 && id.seq == 2);
    assert_int_equal(parse("5", 7, 1, NULL, &id), 0);
    assert_true(id.ms == 5 && id.seq == 7);
    assert_int_equal(parse("18446744073709551615-18446744073709551615", 0, 1, NULL, &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    assert_int_equal(parse("-", 0, 0, NULL, &id), 0);
    assert_true(id.ms == 0 && id.seq == 0);
    assert_int_equal(parse("+", 0, 0, NULL, &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    assert_int_equal(parse("3-*", 0, 1, &given, &id), 0);
    assert_true(id.ms == 3 && id.seq == 0 && given == 0);
    assert_int_equal(parse("3-4", 0, 1, &given, &id), 0);
    assert_int_equal(given, 1);
    /* refused */
    static const char *const bad[] = {"",
                                      "-",
                                      "+",
                                      "a",
                                      "1-",
                                      "-1",
                                      "1-2-3",
                                      "1-a",
                                      "1 ",
                                      "1.5",
                                      "3-*",
                                      "*",
                                      " ",
                                      "+",
                                      "1- ",
                                      "0x1",
                                      "18446744073709551616",
                                      "1-18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], 0, 1, NULL, &id), -1);
    /* what strtoull(3) takes, as Redis's string2ull falls back to it */
    assert_int_equal(parse(" 1", 0, 1, NULL, &id), 0);
    assert_true(id.ms == 1 && id.seq == 0);
    assert_int_equal(parse("+5-\t07", 0, 1, NULL, &id), 0);
    assert_true(id.ms == 5 && id.seq == 7);
    assert_int_equal(parse("1- -5", 0, 1, NULL, &id), 0); /* strtoull wraps it */
    assert_true(id.ms == 1 && id.seq == UINT64_MAX - 4);
    assert_int_equal(parse("1--5", 0, 1, NULL, &id), -1); /* string2ll: negative, refused */
    char longid[200];
    memset(longid, '1', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(parse(longid, 0, 0, NULL, &id), -1);
}

static void test_id_edges(void **st)
{
    (void)st;
    struct stream_id a = {1, UINT64_MAX}, b = {UINT64_MAX, UINT64_MAX}, z = {0, 0};
    assert_int_equal(stream_id_incr(&a), 0);
    assert_true(a.ms == 2 && a.seq == 0);
    assert_int_equal(stream_id_incr(&b), -1);
    assert_int_equal(stream_id_decr(&z), -1);
    assert_int_equal(stream_id_decr(&a), 0);
    assert_true(a.ms == 1 && a.seq == UINT64_MAX);
    char buf[STREAM_ID_MAX];
    size_t n = stream_id_fmt(&b, buf);
    assert_int_equal(n, STREAM_ID_MAX - 1 + 0 * n);
    assert_memory_equal(buf, "18446744073709551615-18446744073709551615", n);
    n = stream_id_fmt(&z, buf);
    assert_memory_equal(buf, "0-0", n);
    struct stream_id c = {1, 2}, d = {1, 3}, e = {2, 0};
    assert_true(stream_id_cmp(&c, &d) < 0 && stream_id_cmp(&d, &e) < 0 &&
                stream_id_cmp(&e, &c) > 0);
    assert_int_equal(stream_id_cmp(&c, &c), 0);
}

/* pairs "f<i>" = "v<i>" ..., into buf: returns its length */
static size_t mk_pairs(uint8_t *buf, int k, int tag)
{
    size_t n = 0;
    for (int i = 0; i < k; i++) {
        char f[16], v[16];
        int fl = snprintf(f, sizeof(f), "f%d", i), vl = snprintf(v, sizeof(v), "v%d.%d", tag, i);
        n += coll_varint_put(buf + n, (uint64_t)fl);
        memcpy(buf + n, f, (size_t)fl);
        n += (size_t)fl;
        n += coll_varint_put(buf + n, (uint64_t)vl);
        memcpy(buf + n, v, (size_t)vl);
        n += (size_t)vl;
    }
    return n;
}

static uint8_t pairs_mem[64][128];

static void build(struct stream *s, int entries)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < entries; i++) {
        size_t n = mk_pairs(pairs_mem[i], 1 + i % 3, i);
        struct stream_entry x = {
            {1000 + (uint64_t)i / 2, (uint64_t)i % 2}, (uint64_t)(1 + i % 3), pairs_mem[i], n};
        assert_int_equal(stream_append(s, &x), 0);
        s->last_id = x.id;
        s->entries_added++;
    }
    s->max_deleted = (struct stream_id){999, 5};
}

static void test_roundtrip(void **st)
{
    (void)st;
    struct stream s, d;
    build(&s, 40);
    static struct stream_consumer cons[2] = {{(const uint8_t *)"alice", 5, 123, 0},
                                             {(const uint8_t *)"bob", 3, 456, 0}};
    static struct stream_pending pel[3] = {
        {{1000, 1}, 1, 77, 1}, {{1003, 0}, 0, 78, 2}, {{1010, 1}, 1, 79, 9}};
    struct stream_group g = {(const uint8_t *)"grp", 3, {1010, 1}, 21, cons, 2, 2, pel, 3, 3};
    s.g = &g;
    s.ng = 1;
    struct coll_buf out = {0};
    assert_int_equal(stream_encode(&s, &out), 0);
    assert_int_equal(stream_decode(out.p, out.len, &d), 0);
    assert_int_equal(d.n, 40);
    assert_true(d.last_id.ms == s.last_id.ms && d.last_id.seq == s.last_id.seq);
    assert_true(d.entries_added == 40 && d.max_deleted.ms == 999 && d.max_deleted.seq == 5);
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(stream_id_cmp(&d.e[i].id, &s.e[i].id), 0);
        assert_int_equal(d.e[i].fields, s.e[i].fields);
        assert_int_equal(d.e[i].pairs_len, s.e[i].pairs_len);
        assert_memory_equal(d.e[i].pairs, s.e[i].pairs, s.e[i].pairs_len);
        const uint8_t *pos = d.e[i].pairs, *f, *v;
        size_t fl, vl, k = 0;
        while (stream_pair_next(&d.e[i], &pos, &f, &fl, &v, &vl))
            k++;
        assert_int_equal(k, d.e[i].fields);
    }
    assert_int_equal(d.ng, 1);
    struct stream_group *dg = stream_group_find(&d, "grp", 3);
    assert_non_null(dg);
    assert_null(stream_group_find(&d, "gr", 2));
    assert_int_equal(dg->entries_read, 21);
    assert_int_equal(dg->ncons, 2);
    assert_int_equal(stream_consumer_find(dg, "bob", 3), 1);
    assert_int_equal(stream_consumer_find(dg, "carol", 5), -1);
    assert_int_equal(dg->cons[1].pending, 2);
    assert_int_equal(dg->cons[0].pending, 1);
    assert_int_equal(dg->npel, 3);
    assert_true(dg->pel[2].deliveries == 9 && dg->pel[2].delivery_ms == 79);
    /* entries_read -1 survives */
    dg->entries_read = -1;
    struct coll_buf out2 = {0};
    assert_int_equal(stream_encode(&d, &out2), 0);
    struct stream d2;
    assert_int_equal(stream_decode(out2.p, out2.len, &d2), 0);
    assert_int_equal(d2.g[0].entries_read, -1);
    stream_free(&d2);
    /* lower bound, remove */
    struct stream_id k = {1005, 1};
    assert_int_equal(stream_lower_bound(&d, &k), 11);
    k = (struct stream_id){0, 0};
    assert_int_equal(stream_lower_bound(&d, &k), 0);
    k = (struct stream_id){5000, 0};
    assert_int_equal(stream_lower_bound(&d, &k), 40);
    stream_remove(&d, 0, 10);
    assert_int_equal(d.n, 30);
    assert_true(d.e[0].id.ms == 1005 && d.e[0].id.seq == 0);
    stream_free(&d);
    s.g = NULL;
    s.ng = 0;
    stream_free(&s);
    coll_buf_free(&out);
    coll_buf_free(&out2);
}

/* Every prefix of a valid record and every byte changed: decoded or refused, never read past
 * (ASan) — and what decodes encodes back to a record that decodes again. */
/* The paged form's pieces: a record cut into its meta and entries (stream_spans), each
 * entry's span and ID, the meta's head parsed and written back, an entry encoded alone
 * exactly as inside the record. */
static void test_spans(void **st)
{
    (void)st;
    struct stream s;
    struct coll_buf out = {0};
    build(&s, 9);
    assert_int_equal(stream_group_add(&s, "grp", 3, &(struct stream_id){1001, 1}, 3), 0);
    assert_int_equal(stream_encode(&s, &out), 0);
    size_t meta_off, *off, n;
    assert_int_equal(stream_spans(out.p, out.len, &meta_off, &off, &n), 0);
    assert_int_equal(n, 9);
    assert_int_equal(off[n], out.len);
    for (size_t i = 0; i < n; i++) {
        struct stream_id id;
        size_t l = stream_entry_span(out.p + off[i], out.len - off[i], &id);
        assert_int_equal(l, off[i + 1] - off[i]);
        assert_int_equal(stream_id_cmp(&id, &s.e[i].id), 0);
        uint8_t e[256];
        assert_int_equal(stream_entry_put(e, &id, s.e[i].fields, s.e[i].pairs, s.e[i].pairs_len),
                         l);
        assert_memory_equal(e, out.p + off[i], l);
        assert_int_equal(stream_entry_span(out.p + off[i], l - 1, &id), 0); /* cut short */
    }
    struct stream_meta m;
    size_t h = stream_meta_head(out.p + meta_off, off[0] - meta_off, &m);
    assert_true(h > 0 && stream_id_cmp(&m.last_id, &s.last_id) == 0 &&
                m.entries_added == s.entries_added &&
                stream_id_cmp(&m.max_deleted, &s.max_deleted) == 0);
    uint8_t mh[STREAM_META_HEAD_MAX];
    assert_int_equal(stream_meta_head_put(mh, &m), h);
    assert_memory_equal(mh, out.p + meta_off, h);
    free(off);
    /* damage: the record's own checks */
    out.p[out.len - 1] ^= 0xff;
    out.len--;
    assert_int_not_equal(stream_spans(out.p, out.len, &meta_off, &off, &n), 0);
    stream_free(&s);
    coll_buf_free(&out);
}

static void test_damaged(void **st)
{
    (void)st;
    struct stream s, d;
    build(&s, 12);
    static struct stream_consumer cons[1] = {{(const uint8_t *)"c", 1, 5, 0}};
    static struct stream_pending pel[1] = {{{1001, 0}, 0, 1, 1}};
    struct stream_group g = {(const uint8_t *)"g", 1, {1003, 1}, 3, cons, 1, 1, pel, 1, 1};
    s.g = &g;
    s.ng = 1;
    struct coll_buf out = {0};
    assert_int_equal(stream_encode(&s, &out), 0);
    for (size_t n = 0; n < out.len; n++) {
        uint8_t *cp = malloc(n + 1);
        memcpy(cp, out.p, n);
        assert_int_not_equal(stream_decode(cp, n, &d), 0);
        free(cp);
    }
    size_t ok = 0;
    for (size_t i = 0; i < out.len; i++)
        for (int b = 0; b < 8; b++) {
            uint8_t *cp = malloc(out.len);
            memcpy(cp, out.p, out.len);
            cp[i] ^= (uint8_t)(1u << b);
            if (stream_decode(cp, out.len, &d) == 0) {
                ok++;
                struct coll_buf o2 = {0};
                assert_int_equal(stream_encode(&d, &o2), 0);
                struct stream d2;
                assert_int_equal(stream_decode(o2.p, o2.len, &d2), 0);
                assert_int_equal(d2.n, d.n);
                stream_free(&d2);
                coll_buf_free(&o2);
                stream_free(&d);
            }
            free(cp);
        }
    assert_true(ok > 0); /* a changed value byte still decodes */
    s.g = NULL;
    s.ng = 0;
    stream_free(&s);
    coll_buf_free(&out);
    /* an entry past last_id, entries out of order, a wrong version: refused */
    build(&s, 3);
    s.last_id = (struct stream_id){1000, 0};
    assert_int_equal(stream_encode(&s, &out), 0);
    assert_int_equal(stream_decode(out.p, out.len, &d), -1);
    s.last_id = (struct stream_id){2000, 0};
    struct stream_entry t = s.e[0];
    s.e[0] = s.e[1];
    s.e[1] = t;
    assert_int_equal(stream_encode(&s, &out), 0);
    assert_int_equal(stream_decode(out.p, out.len, &d), -1);
    out.p[0] = 9;
    assert_int_equal(stream_decode(out.p, out.len, &d), -1);
    stream_free(&s);
    coll_buf_free(&out);
}

/* Groups and consumers stay in name order; adding a consumer before others renumbers the
 * pending entries' consumers; deleting one drops its pending entries; the PEL stays in ID
 * order and the per-consumer counts follow every change; all of it survives encoding. */
static void test_groups(void **st)
{
    (void)st;
    struct stream s;
    build(&s, 10);
    struct stream_id z = {0, 0};
    assert_int_equal(stream_group_add(&s, "m", 1, &z, -1), 0);
    assert_int_equal(stream_group_add(&s, "b", 1, &z, 3), 0);
    assert_int_equal(stream_group_add(&s, "z", 1, &z, -1), 2);
    assert_int_equal(stream_group_add(&s, "m", 1, &z, -1), -1);
    assert_memory_equal(s.g[1].name, "m", 1);
    struct stream_group *g = stream_group_find(&s, "m", 1);
    int created;
    assert_int_equal(stream_consumer_add(g, "carol", 5, 10, &created), 0);
    assert_int_equal(created, 1);
    struct stream_id ids[4] = {{1004, 0}, {1001, 1}, {1002, 0}, {1000, 0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(stream_pel_add(g, &ids[i], 0, 100 + (uint64_t)i, 1), 0);
    for (size_t i = 1; i < g->npel; i++)
        assert_true(stream_id_cmp(&g->pel[i - 1].id, &g->pel[i].id) < 0);
    assert_int_equal(stream_consumer_add(g, "alice", 5, 11, &created), 0); /* before carol */
    assert_int_equal(stream_consumer_add(g, "carol", 5, 12, &created), 1);
    assert_int_equal(created, 0);
    for (size_t i = 0; i < g->npel; i++)
        assert_int_equal(g->pel[i].consumer, 1); /* still carol's */
    assert_int_equal(g->cons[1].pending, 4);
    ssize_t pi = stream_pel_find(g, &ids[2]);
    assert_true(pi >= 0);
    stream_pel_assign(g, (size_t)pi, 0);
    assert_true(g->cons[0].pending == 1 && g->cons[1].pending == 3);
    struct stream_id none = {1003, 0};
    assert_int_equal(stream_pel_find(g, &none), -1);
    assert_int_equal(stream_pel_lower_bound(g, &none), 3);
    struct stream_id past = {2000, 0};
    assert_true(stream_has(&s, &ids[0]) && !stream_has(&s, &past));
    struct coll_buf out = {0};
    assert_int_equal(stream_encode(&s, &out), 0);
    struct stream d;
    assert_int_equal(stream_decode(out.p, out.len, &d), 0);
    struct stream_group *dg = stream_group_find(&d, "m", 1);
    assert_true(dg && dg->ncons == 2 && dg->npel == 4 && dg->cons[0].pending == 1 &&
                dg->cons[1].pending == 3);
    assert_int_equal(stream_group_find(&d, "b", 1)->entries_read, 3);
    stream_consumer_del(dg, 1); /* carol: her three pending entries go */
    assert_true(dg->ncons == 1 && dg->npel == 1 && dg->pel[0].consumer == 0);
    assert_int_equal(stream_id_cmp(&dg->pel[0].id, &ids[2]), 0);
    stream_pel_del(dg, 0);
    assert_true(dg->npel == 0 && dg->cons[0].pending == 0);
    stream_group_del(&d, 0);
    assert_true(d.ng == 2 && d.g[0].name[0] == 'm');
    stream_free(&d);
    coll_buf_free(&out);
    stream_free(&s);
}

/* A large stream's read finds a group's last delivered ID in its root's meta without decoding
 * it (stream_meta_group_last: the groups before it walked, consumers and pending entries
 * included); a decoded record's length and first ID are its own. */
static void test_meta_group_last(void **st)
{
    (void)st;
    struct stream s;
    build(&s, 10);
    assert_int_equal(stream_group_add(&s, "b", 1, &(struct stream_id){5, 1}, -1), 0);
    assert_int_equal(stream_group_add(&s, "mm", 2, &(struct stream_id){7, 2}, 4), 1);
    assert_int_equal(stream_group_add(&s, "z", 1, &(struct stream_id){9, 3}, -1), 2);
    struct stream_group *g = stream_group_find(&s, "mm", 2);
    int created;
    assert_int_equal(stream_consumer_add(g, "carol", 5, 10, &created), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(stream_pel_add(g, &s.e[i].id, 0, 100, 1), 0);
    struct coll_buf out = {0};
    assert_int_equal(stream_encode(&s, &out), 0);
    uint64_t n;
    size_t h = 1 + coll_varint_get(out.p + 1, out.len - 1, &n);
    const uint8_t *m = out.p + h;
    size_t mlen = stream_meta_len(out.p, out.len);
    struct stream_id last;
    assert_int_equal(stream_meta_group_last(m, mlen, "z", 1, &last), 1);
    assert_true(last.ms == 9 && last.seq == 3);
    assert_int_equal(stream_meta_group_last(m, mlen, "mm", 2, &last), 1);
    assert_true(last.ms == 7 && last.seq == 2);
    assert_int_equal(stream_meta_group_last(m, mlen, "b", 1, &last), 1);
    assert_true(last.ms == 5 && last.seq == 1);
    assert_int_equal(stream_meta_group_last(m, mlen, "m", 1, &last), 0);
    assert_int_equal(stream_meta_group_last(m, mlen, "", 0, &last), 0);
    for (size_t cut = 0; cut < mlen; cut++) /* z is the last group: a cut meta never finds it */
        assert_int_equal(stream_meta_group_last(m, cut, "z", 1, &last), 0);
    struct stream d;
    assert_int_equal(stream_decode(out.p, out.len, &d), 0);
    assert_true(d.length == 10 && stream_id_cmp(&d.first, &s.e[0].id) == 0);
    stream_free(&d);
    coll_buf_free(&out);
    stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_parse),        cmocka_unit_test(test_id_edges),
        cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_groups),          cmocka_unit_test(test_spans),
        cmocka_unit_test(test_meta_group_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
