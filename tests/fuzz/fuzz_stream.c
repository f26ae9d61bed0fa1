/*
 * fuzz_stream.c - libFuzzer target for the stream record (proto/stream.c).
 *
 * The input is taken as a stream record: it must decode or be refused without reading past
 * it; what decodes must encode to a record that decodes to the same entries, groups and
 * pending entries, and survive the edits the commands make (a group added, a consumer
 * added before the others, a pending entry added, given to another consumer and removed,
 * a consumer and a group removed, entries trimmed) with the per-consumer pending counts
 * right. The input is also parsed as an ID argument every way the commands parse one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_counts(const struct stream *s)
{
    for (size_t gi = 0; gi < s->ng; gi++) {
        const struct stream_group *g = &s->g[gi];
        for (size_t ci = 0; ci < g->ncons; ci++) {
            uint64_t k = 0;
            for (size_t i = 0; i < g->npel; i++)
                k += g->pel[i].consumer == ci;
            CHECK(k == g->cons[ci].pending);
        }
        for (size_t i = 0; i < g->npel; i++) {
            CHECK(g->pel[i].consumer < g->ncons);
            CHECK(i == 0 || stream_id_cmp(&g->pel[i - 1].id, &g->pel[i].id) < 0);
        }
    }
}

static void same(const struct stream *a, const struct stream *b)
{
    CHECK(a->n == b->n && a->ng == b->ng && a->entries_added == b->entries_added);
    CHECK(stream_id_cmp(&a->last_id, &b->last_id) == 0);
    for (size_t i = 0; i < a->n; i++) {
        CHECK(stream_id_cmp(&a->e[i].id, &b->e[i].id) == 0 && a->e[i].fields == b->e[i].fields);
        CHECK(a->e[i].pairs_len == b->e[i].pairs_len &&
              memcmp(a->e[i].pairs, b->e[i].pairs, a->e[i].pairs_len) == 0);
    }
    for (size_t gi = 0; gi < a->ng; gi++)
        CHECK(a->g[gi].npel == b->g[gi].npel && a->g[gi].ncons == b->g[gi].ncons &&
              a->g[gi].entries_read == b->g[gi].entries_read);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stream_id id;
    int given;
    stream_id_parse((const char *)data, size, 0, 1, NULL, &id);
    stream_id_parse((const char *)data, size, UINT64_MAX, 0, NULL, &id);
    stream_id_parse((const char *)data, size, 0, 1, &given, &id);
    char buf[STREAM_ID_MAX];
    CHECK(stream_id_fmt(&id, buf) < STREAM_ID_MAX);

    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees a read past it */
    memcpy(copy, data, size);
    struct stream s;
    if (stream_decode(copy, size, &s) != 0) {
        free(copy);
        return 0;
    }
    check_counts(&s);
    struct coll_buf out = {0};
    CHECK(stream_encode(&s, &out) == 0);
    struct stream d;
    CHECK(stream_decode(out.p, out.len, &d) == 0);
    same(&s, &d);
    stream_free(&d);

    /* the commands' edits */
    struct stream_id z = {0, 0};
    ssize_t gi = stream_group_add(&s, "", 0, &z, -1); /* sorts first: every index moves */
    if (gi >= 0) {
        struct stream_group *g = &s.g[gi];
        int created;
        ssize_t c1 = stream_consumer_add(g, "zz", 2, 1, &created);
        ssize_t c0 = stream_consumer_add(g, "", 0, 2, &created);
        if (c1 >= 0 && c0 >= 0) {
            c1 = stream_consumer_find(g, "zz", 2);
            for (size_t i = 0; i < s.n && i < 8; i++)
                if (stream_pel_find(g, &s.e[i].id) < 0)
                    CHECK(stream_pel_add(g, &s.e[i].id, (size_t)c1, 3, 1) == 0);
            if (g->npel)
                stream_pel_assign(g, 0, (size_t)stream_consumer_find(g, "", 0));
            check_counts(&s);
            if (g->npel > 1)
                stream_pel_del(g, 1);
            stream_consumer_del(g, (size_t)stream_consumer_find(g, "zz", 2));
            check_counts(&s);
        }
    }
    for (size_t i = 0; i < s.ng; i++)
        if (s.g[i].ncons)
            stream_consumer_del(&s.g[i], s.g[i].ncons - 1);
    check_counts(&s);
    if (s.ng)
        stream_group_del(&s, s.ng - 1);
    stream_remove(&s, 0, s.n / 2);
    CHECK(stream_encode(&s, &out) == 0);
    CHECK(stream_decode(out.p, out.len, &d) == 0);
    same(&s, &d);
    check_counts(&d);
    stream_free(&d);
    stream_free(&s);
    coll_buf_free(&out);
    free(copy);
    return 0;
}
