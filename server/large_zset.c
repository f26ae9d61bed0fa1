/*
 * large_zset.c - large sorted sets (engine/FORMAT.md, "Large form", sorted sets): the
 * reads of their trees' pages, the tree's part of a ZADD/ZINCRBY/ZREM on the buckets it
 * names (large.c's part machinery), and the range commands answered from the tree.
 *
 * A large sorted set's root has PLIST_F_HASHED | PLIST_F_TREE: its members are in hash
 * buckets with their scores (so ZSCORE and the score a ZADD replaces cost one bucket, as
 * HGET does), and its elements are in a B+tree in (score, member) order whose interior
 * entries count the elements under them (proto/ztree.h), so ZRANK and ZRANGE by rank,
 * score or lex read one path per end and the leaves in the range. A write of a few
 * members reads their buckets and the tree's paths of their old keys and of the keys the
 * command's scores would give them, runs the unchanged handler on those members, and
 * writes the buckets, the tree's changed pages and the root in one batch; a change
 * whose paths were not all read (ZADD GT/LT/NX/XX keep a score; INCR adds to one) or
 * whose pages would not fit one batch writes a new version (large_part_whole).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "large.h"
#include "large_int.h"
#include "log.h"
#include "mget.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

#define ZPART_MEMBERS 64 /* more members named by a write: a new version */
#define ZWANT_MAX     64
/* The most elements a range read from the tree holds (about 512 MB of small members). */
#define ZRANGE_MAX (UINT64_C(16) << 20)

int large_zset_tree_fits(const uint8_t *enc, size_t len)
{
    size_t *off = NULL, n = 0;
    if (coll_spans(COLL_ZSET, enc, len, &off, &n) != 0)
        return 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) { /* score, varint length, member */
        uint64_t l;
        ok = coll_varint_get(enc + off[i] + 8, off[i + 1] - off[i] - 8, &l) != 0 &&
             l <= ZT_MEMBER_MAX;
    }
    free(off);
    return ok;
}

int large_zset_part_fits(const struct req *r)
{
    uint32_t k = 0;
    for (uint32_t i = r->part_first; i < r->argc; i += r->part_step) {
        if (++k > ZPART_MEMBERS || r->argv[i].len > ZT_MEMBER_MAX)
            return 0;
        if (r->part_step == 0)
            break;
    }
    return 1;
}

/* ---- reading a tree's pages, level by level ---- */

struct zread {
    struct plist_root root;
    struct zt_tree *t;
    const struct zt_query *q;
    size_t nq;
    struct zt_want w[ZWANT_MAX];
    size_t nw, next;
    int looping, waiting, rc;
    /* a level's pages read together (mget_start): their keys, and how many came */
    uint8_t pk[ZWANT_MAX][PLIST_PAGE_KEY_LEN];
    struct resp_arg ka[ZWANT_MAX];
    size_t nread;
    void (*done)(struct req *r);
    void (*fail)(struct req *r, int rc);
    /* the native commands' state */
    struct zt_tree own;
    struct large_zrange zq;
    struct zt_query qs[2];
    ls_get_cb cb;
    uint64_t rlo, rhi, a, b;
    const struct resp_arg *member;
    void (*rank_done)(struct req *r, int found, uint64_t rank, uint64_t count);
};

void zread_free(struct zread *zr)
{
    zt_free(&zr->own);
    free(zr);
}

static void zr_next(struct req *r);

static void zr_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zread *zr = r->pl->zr;
    zr->waiting = 0;
    if (rc == 0 && zr->t->top == NULL)
        rc = zt_open(zr->t, zr->root.top, zr->root.depth, zr->root.next, it->value, it->value_len);
    else if (rc == 0)
        rc = zt_attach(zr->t, &zr->w[zr->next], it->value, it->value_len);
    if (rc == -2)
        rc = -ENOMEM;
    if (rc != 0) {
        zr->rc = rc;
        if (!zr->looping)
            zr->fail(r, rc);
        return;
    }
    if (zr->t->top && zr->nw)
        zr->next++;
    if (!zr->looping)
        zr_next(r);
}

/* A page of a level read together: attached in turn (mget emits in key order). */
static void zr_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct zread *zr = r->pl->zr;
    if (zr->rc != 0)
        return;
    if (rc == 0)
        rc = zt_attach(zr->t, &zr->w[zr->next + i], (const uint8_t *)it->val, it->len);
    if (rc == -2)
        rc = -ENOMEM;
    if (rc != 0)
        zr->rc = rc;
    else
        zr->nread++;
}

static void zr_level_done(struct req *r)
{
    struct zread *zr = r->pl->zr;
    zr->waiting = 0;
    if (zr->rc == 0 && zr->nread == 0)
        zr->rc = -EPIPE; /* reading stopped (the client left): no progress to make */
    zr->next = zr->nw;   /* the ones not read (output limit) are wanted again */
    if (!zr->looping)
        zr_next(r);
}

/* Reads the top, then the wanted pages level by level, each level's (up to ZWANT_MAX)
 * together through mget_start: a ZRANGE 0 -1 of 1 M members after a restart waited for
 * 2,042 device reads one after another (2.47 s). A page from memory is taken at once (its
 * callback runs inside the call), so this loops. */
static void zr_next(struct req *r)
{
    struct zread *zr = r->pl->zr;
    zr->looping = 1;
    while (zr->rc == 0) {
        uint64_t page;
        if (zr->t->top == NULL) {
            page = zr->root.top;
        } else {
            if (zr->next == zr->nw) {
                zr->nw = zt_wants(zr->t, zr->q, zr->nq, zr->w, ZWANT_MAX);
                zr->next = 0;
                if (zr->nw == 0)
                    break;
            }
            if (zr->nw - zr->next > 1) {
                size_t n = zr->nw - zr->next;
                for (size_t i = 0; i < n; i++) {
                    plist_page_key(zr->root.version, zr->w[zr->next + i].page, zr->pk[i]);
                    zr->ka[i] = (struct resp_arg){(char *)zr->pk[i], PLIST_PAGE_KEY_LEN};
                }
                zr->waiting = 1;
                zr->nread = 0;
                r->want_type = LARGE_VT_PAGE;
                /* every page, whatever the client does: a tree read stopped part way
                 * failed its command, and inside EXEC or a script the commands around it
                 * were applied without it (review of cdce6d6) */
                if (mget_start_all(r, zr->ka, (uint32_t)n, large_page_table(r->c->srv), zr_emit,
                                   zr_level_done) < 0) {
                    zr->waiting = 0;
                    zr->rc = -ENOMEM;
                    break;
                }
                if (zr->waiting) { /* from the device: zr_level_done goes on */
                    zr->looping = 0;
                    return;
                }
                continue;
            }
            page = zr->w[zr->next].page;
        }
        uint8_t pk[PLIST_PAGE_KEY_LEN];
        plist_page_key(zr->root.version, page, pk);
        struct resp_arg key = {(char *)pk, sizeof(pk)};
        zr->waiting = 1;
        r->want_type = LARGE_VT_PAGE;
        mget_one(r, large_page_table(r->c->srv), &key, zr_page_cb);
        if (zr->waiting) { /* from the device: zr_page_cb goes on */
            zr->looping = 0;
            return;
        }
    }
    zr->looping = 0;
    if (zr->rc != 0)
        zr->fail(r, zr->rc);
    else
        zr->done(r);
}

static struct zread *zr_get(struct req *r)
{
    struct large_op *o = large_op_get(r);
    if (o && o->zr == NULL)
        o->zr = calloc(1, sizeof(*o->zr));
    return o ? o->zr : NULL;
}

void zread_start(struct req *r, const struct plist_root *root, struct zt_tree *t,
                 const struct zt_query *q, size_t nq, void (*done)(struct req *r),
                 void (*fail)(struct req *r, int rc))
{
    struct zread *zr = zr_get(r);
    if (zr == NULL) {
        fail(r, -ENOMEM);
        return;
    }
    zr->root = *root;
    zr->t = t;
    zr->q = q;
    zr->nq = nq;
    zr->nw = zr->next = 0;
    zr->rc = 0;
    zr->done = done;
    zr->fail = fail;
    r->hold_claim = 1; /* the pages come in steps: the key stays locked until the end */
    zr_next(r);
}

/* ---- a write's part: ZADD, ZINCRBY, ZREM on the members it names ---- */

/* The elements encoded end to end in p[0..len) (n of them) into e[0..n). */
static int elems_parse(const uint8_t *p, size_t len, uint64_t n, struct coll_zel *e)
{
    const uint8_t *pos = p, *end = p + len;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;
        size_t h;
        if (end - pos < 9)
            return COLL_EBAD;
        memcpy(&e[i].score, pos, 8);
        pos += 8;
        if ((h = coll_varint_get(pos, (size_t)(end - pos), &l)) == 0 ||
            l > (uint64_t)(end - pos) - h)
            return COLL_EBAD;
        e[i].p = pos + h;
        e[i].len = (size_t)l;
        pos += h + l;
    }
    return pos == end ? 0 : COLL_EBAD;
}

static const struct coll_zel *zfind(const struct coll_zel *e, size_t n, const void *m, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].len == len && (len == 0 || memcmp(e[i].p, m, len) == 0))
            return &e[i];
    return NULL;
}

int zpart_queries(struct req *r, struct part *pt)
{
    size_t named = 0;
    for (uint32_t i = r->part_first; i < r->argc; i += r->part_step) {
        named++;
        if (r->part_step == 0)
            break;
    }
    struct coll_zel *old = malloc((pt->got + 1) * sizeof(*old));
    pt->zq = calloc(2 * named + 1, sizeof(*pt->zq));
    if (old == NULL || pt->zq == NULL) {
        free(old);
        return -2;
    }
    size_t nold = (size_t)pt->got;
    if (elems_parse(pt->el.p, pt->el.len, pt->got, old) != 0)
        nold = 0; /* damaged: the handler's decode of the part says so */
    pt->nzq = 0;
    /* each named member's key now (the buckets hold others too: their keys stay), and
     * where ZADD's score or the increment would put it */
    for (uint32_t i = r->part_first; i < r->argc; i += r->part_step) {
        const struct resp_arg *m = &r->argv[i], *sa = &r->argv[i - 1];
        const struct coll_zel *o = zfind(old, nold, m->ptr, m->len);
        char small[64], *buf = small;
        double sc;
        if (o)
            pt->zq[pt->nzq++] = (struct zt_query){.kind = ZT_Q_KEY, .key = *o};
        if (!r->part_zadd) {
            if (r->part_step == 0)
                break;
            continue;
        }
        if (sa->len >= sizeof(small) && (buf = malloc(sa->len + 1)) == NULL) {
            free(old);
            return -2;
        }
        memcpy(buf, sa->ptr, sa->len);
        buf[sa->len] = 0;
        sc = strtod(buf, NULL);
        if (buf != small)
            free(buf);
        if (r->part_zadd == 2 && o)
            sc += o->score;
        if (sc == sc)
            pt->zq[pt->nzq++] =
                (struct zt_query){.kind = ZT_Q_KEY, .key = {sc, (const uint8_t *)m->ptr, m->len}};
        if (r->part_step == 0)
            break;
    }
    free(old);
    return 0;
}

/* Whether a member's score changed, -0 and 0 told apart: ZADD of a member named twice
 * (-5e-324, then -0.0) leaves it -0 where it was 0, and the tree must hold its -0 as the
 * bucket does (ZRANGE reads the tree). */
static int score_differs(double a, double b)
{
    return a != b || signbit(a) != signbit(b);
}

int zpart_apply(struct req *r, struct part *pt, const struct resp_arg *key, const void *enc,
                size_t len, struct plist_root *root, struct ls_batch_op **ops, uint32_t *nops,
                struct zt_out *out, uint8_t **mem)
{
    struct coll_zel *old = malloc((pt->got + 1) * sizeof(*old)), *nw = NULL;
    size_t nn = 0;
    uint8_t fl;
    int rc = old ? elems_parse(pt->el.p, pt->el.len, pt->got, old) : -2;
    if (rc == 0 && len)
        rc = coll_zset_decode(enc, len, 0, &nw, &nn, &fl);
    int changed = 0;
    for (uint64_t i = 0; rc == 0 && i < pt->got; i++) { /* the keys that go */
        const struct coll_zel *x = zfind(nw, nn, old[i].p, old[i].len);
        if (x == NULL || score_differs(x->score, old[i].score)) {
            rc = zt_delete(&pt->zt, &old[i]);
            changed = 1;
        }
    }
    for (size_t i = 0; rc == 0 && i < nn; i++) { /* the keys that come */
        const struct coll_zel *x = zfind(old, pt->got, nw[i].p, nw[i].len);
        if (x == NULL || score_differs(x->score, nw[i].score)) {
            rc = zt_insert(&pt->zt, &nw[i]);
            changed = 1;
        }
    }
    free(old);
    free(nw);
    if (rc != 0 || !changed)
        return rc == -2 ? -ENOMEM : rc;
    if ((rc = zt_commit(&pt->zt, out)) != 0)
        return rc == -2 ? -ENOMEM : rc;
    int widen = out->next + 1 < root->lo;
    struct plist_anchor a = {(const uint8_t *)key->ptr, key->len,
                             widen ? out->next + 1 - LARGE_TREE_SPARE : root->lo, root->hi};
    size_t k = out->nw + out->nfreed + (size_t)widen;
    struct ls_batch_op *o = realloc(*ops, (*nops + k + 1) * sizeof(*o));
    uint8_t *m = malloc(k * PLIST_PAGE_KEY_LEN + (widen ? plist_anchor_len(&a) : 0) + 1);
    if (o)
        *ops = o;
    if (o == NULL || m == NULL) {
        free(m);
        return -ENOMEM;
    }
    *mem = m;
    uint32_t table = large_page_table(r->c->srv);
    for (size_t i = 0; i < out->nw; i++, m += PLIST_PAGE_KEY_LEN) {
        plist_page_key(root->version, out->w[i].page, m);
        o[(*nops)++] = (struct ls_batch_op){.table = table,
                                            .key = m,
                                            .key_len = PLIST_PAGE_KEY_LEN,
                                            .value = out->w[i].v.p,
                                            .value_len = out->w[i].v.len,
                                            .opts = {.vtype = LARGE_VT_PAGE}};
    }
    for (size_t i = 0; i < out->nfreed; i++, m += PLIST_PAGE_KEY_LEN) {
        plist_page_key(root->version, out->freed[i], m);
        o[(*nops)++] =
            (struct ls_batch_op){.table = table, .key = m, .key_len = PLIST_PAGE_KEY_LEN, .del = 1};
    }
    if (widen) { /* the anchor covers the new pages, in the same batch */
        plist_anchor_key(root->version, m);
        o[(*nops)++] =
            (struct ls_batch_op){.table = large_anchor_table(r->c->srv),
                                 .key = m,
                                 .key_len = PLIST_ANCHOR_KEY_LEN,
                                 .value = m + PLIST_ANCHOR_KEY_LEN,
                                 .value_len = plist_anchor_encode(&a, m + PLIST_ANCHOR_KEY_LEN),
                                 .opts = {.vtype = LARGE_VT_ANCHOR}};
        root->lo = a.lo;
    }
    root->top = out->top;
    root->depth = out->depth;
    root->next = out->next;
    return 0;
}

/* ---- ranges and ranks from the tree ---- */

static void zr_fail(struct req *r, int rc)
{
    struct zread *zr = r->pl->zr;
    if (rc == COLL_EBAD || rc == LS_ENOTFOUND)
        log_warning("a large sorted set of db %u is damaged: version %llu, a tree page %s", r->db,
                    (unsigned long long)zr->root.version,
                    rc == LS_ENOTFOUND ? "is missing" : "does not decode");
    r->want_type = COLL_ZSET;
    large_op_free(r);
    large_read_fail_reply(r, rc, COLL_ZSET);
}

/* The root read: a tree's root (decoded into zr->root) goes on here (1); anything else to
 * the caller's handler as large_coll_get sends it (0). */
static int zr_root(struct req *r, int rc, const struct ls_item *it, int hit)
{
    struct zread *zr = r->pl ? r->pl->zr : NULL;
    if (zr && rc == 0 && large_is_root(it->vtype, it->value, it->value_len) &&
        plist_root_decode(it->value, it->value_len, &zr->root) == 0 &&
        (zr->root.flags & PLIST_F_TREE)) {
        if (hit) /* as coll_read_begin counts it */
            r->c->srv->stats.keyspace_hits++;
        return 1;
    }
    ls_get_cb cb = zr ? zr->cb : r->coll_cb;
    large_op_free(r);
    large_list_read(r, rc, it, cb);
    return 0;
}

static void zrange_elems(struct req *r)
{
    struct zread *zr = r->pl->zr;
    struct coll_zel *e = malloc((zr->b - zr->a + 1) * sizeof(*e));
    if (e == NULL || zt_range(zr->t, zr->a, zr->b, e) != 0) {
        free(e);
        zr_fail(r, e ? COLL_EBAD : -ENOMEM);
        return;
    }
    r->want_type = COLL_ZSET;
    zr->zq.done(r, e, zr->a, zr->b, zr->root.count, zr->rlo, zr->rhi);
    free(e); /* r may be gone: e's members were the tree's, freed with r */
}

static void zrange_window(struct req *r)
{
    struct zread *zr = r->pl->zr;
    if (zr->zq.below) {
        zr->rlo = zt_below(zr->t, zr->zq.below, zr->zq.lo);
        zr->rhi = zt_below(zr->t, zr->zq.below, zr->zq.hi);
        if (zr->rhi < zr->rlo)
            zr->rhi = zr->rlo;
    } else {
        zr->rlo = 0;
        zr->rhi = zr->root.count;
    }
    zr->a = zr->b = 0;
    zr->zq.window(r, zr->root.count, zr->rlo, zr->rhi, &zr->a, &zr->b);
    if (zr->a >= zr->b) {
        zr->a = zr->b = 0;
        zrange_elems(r);
        return;
    }
    if (zr->b - zr->a > ZRANGE_MAX) {
        zr_fail(r, LARGE_ETOOBIG);
        return;
    }
    zr->qs[0] = (struct zt_query){.kind = ZT_Q_RANGE, .a = zr->a, .b = zr->b};
    zread_start(r, &zr->root, zr->t, zr->qs, 1, zrange_elems, zr_fail);
}

static void zrange_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (!zr_root(r, rc, it, 1))
        return;
    struct zread *zr = r->pl->zr;
    zr->t = &zr->own;
    if (zr->zq.below) { /* the positions of the bounds first */
        zr->qs[0] = (struct zt_query){.kind = ZT_Q_BELOW, .below = zr->zq.below, .arg = zr->zq.lo};
        zr->qs[1] = (struct zt_query){.kind = ZT_Q_BELOW, .below = zr->zq.below, .arg = zr->zq.hi};
        zread_start(r, &zr->root, zr->t, zr->qs, 2, zrange_window, zr_fail);
        return;
    }
    zread_start(r, &zr->root, zr->t, zr->qs, 0, zrange_window, zr_fail); /* the top */
}

void large_zrange_get(struct req *r, const struct resp_arg *key, const struct large_zrange *q,
                      ls_get_cb cb)
{
    struct zread *zr = zr_get(r);
    r->coll_cb = cb;
    r->want_type = COLL_ZSET;
    r->hold_claim = 1; /* a large one's pages come after its root */
    if (zr) {
        zr->zq = *q;
        zr->cb = cb;
    }
    cmd_get(r, key, zrange_root_cb);
}

static void zrank_done(struct req *r)
{
    struct zread *zr = r->pl->zr;
    int found;
    uint64_t rank = zt_rank(zr->t, &zr->qs[0].key, &found);
    r->want_type = COLL_ZSET;
    if (!found) { /* its bucket has it, its tree does not */
        zr_fail(r, COLL_EBAD);
        return;
    }
    zr->rank_done(r, 1, rank, zr->root.count);
}

static void zrank_bucket_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zread *zr = r->pl->zr;
    uint64_t n;
    size_t h = rc == 0 && it->value_len > 1
                   ? coll_varint_get((const uint8_t *)it->value + 1, it->value_len - 1, &n)
                   : 0;
    struct coll_zel *e = h ? malloc((n + 1) * sizeof(*e)) : NULL;
    if (rc == 0 &&
        (h == 0 || n > it->value_len / 9 || e == NULL ||
         elems_parse((const uint8_t *)it->value + 1 + h, it->value_len - 1 - h, n, e) != 0))
        rc = e || h == 0 || n > it->value_len / 9 ? COLL_EBAD : -ENOMEM;
    if (rc != 0) {
        free(e);
        zr_fail(r, rc);
        return;
    }
    const struct coll_zel *x = zfind(e, n, zr->member->ptr, zr->member->len);
    if (x == NULL) {
        free(e);
        r->want_type = COLL_ZSET;
        zr->rank_done(r, 0, 0, zr->root.count);
        return;
    }
    zr->qs[0] = (struct zt_query){
        .kind = ZT_Q_KEY, .key = {x->score, (const uint8_t *)zr->member->ptr, zr->member->len}};
    free(e);
    zr->t = &zr->own;
    zread_start(r, &zr->root, zr->t, zr->qs, 1, zrank_done, zr_fail);
}

static void zrank_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (!zr_root(r, rc, it, 1))
        return;
    struct zread *zr = r->pl->zr;
    uint64_t nb = zr->root.tail - zr->root.head + 1;
    uint8_t pk[PLIST_PAGE_KEY_LEN];
    plist_page_key(zr->root.version,
                   zr->root.head + plist_bucket(zr->member->ptr, zr->member->len, nb), pk);
    struct resp_arg key = {(char *)pk, sizeof(pk)};
    r->want_type = LARGE_VT_PAGE;
    mget_one(r, large_page_table(r->c->srv), &key, zrank_bucket_cb);
}

void large_zrank_get(struct req *r, const struct resp_arg *key, const struct resp_arg *member,
                     void (*done)(struct req *r, int found, uint64_t rank, uint64_t count),
                     ls_get_cb cb)
{
    struct zread *zr = zr_get(r);
    r->coll_cb = cb;
    r->want_type = COLL_ZSET;
    r->hold_claim = 1;
    if (zr) {
        zr->cb = cb;
        zr->member = member;
        zr->rank_done = done;
    }
    cmd_get(r, key, zrank_root_cb);
}

/* ---- pops: ZPOPMIN, ZPOPMAX, their blocking forms, ZMPOP ----
 *
 * The elements a pop takes are read from the tree's end, then the buckets they are in,
 * and the pop's handler runs on those buckets as the whole set: its count lowest (highest)
 * are the set's, since every one of the set's is among them. Its write is a part's, the
 * popped keys' paths already read. */

#define ZPOP_MEMBERS 16 /* more to pop: a new version */

static void zpop_ranged(struct req *r)
{
    struct zread *zr = r->pl->zr;
    struct part *pt = r->pl->pt;
    uint64_t k = zr->b - zr->a;
    struct coll_zel *e = malloc((k + 1) * sizeof(*e));
    int rc = e && zt_range(&pt->zt, zr->a, zr->b, e) == 0 ? 0 : e ? COLL_EBAD : -ENOMEM;
    for (uint64_t i = 0; rc == 0 && i < k; i++)
        if (large_part_bucket(pt, e[i].p, e[i].len) < 0)
            rc = COLL_EBAD; /* cannot be: ZPOP_MEMBERS < PART_MAX_BUCKETS */
    free(e);
    if (rc != 0) {
        zr_fail(r, rc);
        return;
    }
    r->want_type = COLL_ZSET;
    large_part_read(r);
}

static void zpop_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zread *zr = r->pl ? r->pl->zr : NULL;
    uint64_t count = zr ? zr->a : 0;
    int max = zr ? (int)zr->b : 0;
    if (zr && (count > ZPOP_MEMBERS || count == 0)) {
        ls_get_cb cb = zr->cb; /* many: the whole set (a new version) */
        large_op_free(r);
        large_list_read(r, rc, it, cb);
        return;
    }
    if (!zr_root(r, rc, it, 0))
        return;
    struct part *pt = large_part_new(r, it, &zr->root, zr->cb);
    if (pt == NULL) {
        zr_fail(r, -ENOMEM);
        return;
    }
    uint64_t n = zr->root.count, k = count < n ? count : n;
    zr->a = max ? n - k : 0;
    zr->b = max ? n : k;
    r->part_first = (uint8_t)(r->argc < 255 ? r->argc : 255); /* it names no member */
    r->part_step = 1;
    r->part_write = 1;
    r->part_zadd = 0;
    zr->qs[0] = (struct zt_query){.kind = ZT_Q_RANGE, .a = zr->a, .b = zr->b};
    zread_start(r, &pt->root, &pt->zt, zr->qs, 1, zpop_ranged, zr_fail);
}

void large_zpop_get(struct req *r, const struct resp_arg *key, uint64_t count, int max,
                    ls_get_cb cb)
{
    struct zread *zr = zr_get(r);
    r->coll_cb = cb;
    r->want_type = COLL_ZSET;
    r->hold_claim = 1;
    if (zr) {
        zr->cb = cb;
        zr->a = count;
        zr->b = (uint64_t)max;
    }
    cmd_get(r, key, zpop_root_cb);
}
