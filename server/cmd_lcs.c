/*
 * cmd_lcs.c - LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN], Redis 7.0's
 * longest common subsequence of two string values.
 *
 * Both values are read through mget_start, so that both reads are submitted under the
 * command's claim (lockset.c) and see one state of the keys; a missing key is an empty
 * string. The classic dynamic-programming table of (len1+1) * (len2+1) 32-bit cells is
 * then filled and walked back from its end, as Redis does, so that the subsequence and
 * the match ranges (IDX: from the end of the strings towards their start) are the ones
 * Redis returns. The table is bounded as Redis bounds it, by proto_max_bulk_len (the
 * values themselves are bounded by max_value_size). The work is O(len1 * len2) on the
 * event loop, as in Redis.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mget.h"
#include "reply.h"
#include "server.h"

struct lcs {
    int getlen, getidx, withlen;
    long long minlen;
    uint32_t nread;
    int err;
    char *v[2];
    size_t n[2];
};

struct lcs_range {
    uint32_t a0, a1, b0, b1;
};

static void lcs_free(void *p)
{
    struct lcs *l = p;
    free(l->v[0]);
    free(l->v[1]);
    free(l);
}

/* Parses the options (argv[3..]). Replies and returns -1 on error. */
static int lcs_parse(struct req *r, struct lcs *l)
{
    for (uint32_t j = 3; j < r->argc; j++) {
        const struct resp_arg *a = &r->argv[j];
        if (cmd_arg_is(a, "idx"))
            l->getidx = 1;
        else if (cmd_arg_is(a, "len"))
            l->getlen = 1;
        else if (cmd_arg_is(a, "withmatchlen"))
            l->withlen = 1;
        else if (cmd_arg_is(a, "minmatchlen") && j + 1 < r->argc) {
            if (cmd_arg_ll(&r->argv[++j], &l->minlen) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            if (l->minlen < 0)
                l->minlen = 0;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    if (l->getlen && l->getidx) {
        reply_error(r, "ERR If you want both the length and indexes, please just use IDX.");
        return -1;
    }
    return 0;
}

/* The table: cell (i, j) holds the LCS length of a[0..i) and b[0..j). */
static uint32_t *lcs_table(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    size_t w = (size_t)blen + 1;
    uint32_t *t = malloc(((size_t)alen + 1) * w * sizeof(uint32_t));
    if (t == NULL)
        return NULL;
    memset(t, 0, w * sizeof(uint32_t));
    for (uint32_t i = 1; i <= alen; i++) {
        uint32_t *row = t + i * w, *up = row - w;
        row[0] = 0;
        for (uint32_t j = 1; j <= blen; j++) {
            if (a[i - 1] == b[j - 1])
                row[j] = up[j - 1] + 1;
            else
                row[j] = up[j] > row[j - 1] ? up[j] : row[j - 1];
        }
    }
    return t;
}

struct lcs_walk {
    char *seq;            /* the subsequence, built from its end */
    struct lcs_range *rg; /* ranges kept (IDX) */
    uint32_t nrg, caprg;
};

static int walk_keep(struct lcs_walk *w, struct lcs_range rg)
{
    if (w->nrg == w->caprg) {
        uint32_t cap = w->caprg ? w->caprg * 2 : 16;
        struct lcs_range *n = realloc(w->rg, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        w->rg = n;
        w->caprg = cap;
    }
    w->rg[w->nrg++] = rg;
    return 0;
}

/* Walks the table back from (alen, blen) as Redis does, filling the subsequence and,
 * for IDX, the ranges of at least minlen. Returns 0 or -1 (out of memory). */
static int lcs_walk(const struct lcs *l, const uint32_t *t, struct lcs_walk *w)
{
    const char *a = l->v[0], *b = l->v[1];
    uint32_t alen = (uint32_t)l->n[0], blen = (uint32_t)l->n[1], i = alen, j = blen;
    size_t cols = (size_t)blen + 1;
    uint32_t idx = t[(size_t)alen * cols + blen];
    struct lcs_range cur = {alen, 0, 0, 0}; /* a0 == alen: no range open */
    while (i > 0 && j > 0) {
        int emit = 0;
        if (a[i - 1] == b[j - 1]) {
            w->seq[--idx] = a[i - 1];
            if (cur.a0 == alen)
                cur = (struct lcs_range){i - 1, i - 1, j - 1, j - 1};
            else if (cur.a0 == i && cur.b0 == j) {
                cur.a0--;
                cur.b0--;
            } else
                emit = 1;
            if (cur.a0 == 0 || cur.b0 == 0)
                emit = 1;
            i--;
            j--;
        } else {
            if (t[(size_t)(i - 1) * cols + j] > t[(size_t)i * cols + j - 1])
                i--;
            else
                j--;
            if (cur.a0 != alen)
                emit = 1;
        }
        if (!emit)
            continue;
        uint32_t mlen = cur.a1 - cur.a0 + 1;
        if (l->getidx && (l->minlen == 0 || mlen >= l->minlen) && walk_keep(w, cur) < 0)
            return -1;
        cur.a0 = alen;
    }
    return 0;
}

static void lcs_reply_idx(struct req *r, const struct lcs *l, const struct lcs_walk *w,
                          uint32_t len)
{
    reply_map(r, 2);
    reply_cstr(r, "matches");
    reply_array(r, w->nrg);
    for (uint32_t k = 0; k < w->nrg; k++) {
        const struct lcs_range *g = &w->rg[k];
        reply_array(r, 2 + (size_t)l->withlen);
        reply_array(r, 2);
        reply_int(r, g->a0);
        reply_int(r, g->a1);
        reply_array(r, 2);
        reply_int(r, g->b0);
        reply_int(r, g->b1);
        if (l->withlen)
            reply_int(r, g->a1 - g->a0 + 1);
    }
    reply_cstr(r, "len");
    reply_int(r, len);
}

static void lcs_compute(struct req *r, const struct lcs *l)
{
    uint32_t alen = (uint32_t)l->n[0], blen = (uint32_t)l->n[1];
    unsigned long long cells = ((unsigned long long)alen + 1) * ((unsigned long long)blen + 1);
    if (cells * sizeof(uint32_t) > r->c->srv->cfg.proto_max_bulk_len) {
        reply_error(r, "ERR Insufficient memory, transient memory for LCS exceeds "
                       "proto-max-bulk-len");
        return;
    }
    uint32_t *t = lcs_table(l->v[0], alen, l->v[1], blen);
    uint32_t len = t ? t[(size_t)alen * (blen + 1) + blen] : 0;
    struct lcs_walk w = {NULL, NULL, 0, 0};
    if (t == NULL || (w.seq = malloc((size_t)len + 1)) == NULL || lcs_walk(l, t, &w) < 0) {
        reply_error(r, "ERR Insufficient memory, failed allocating transient memory for LCS");
    } else if (l->getidx) {
        lcs_reply_idx(r, l, &w, len);
    } else if (l->getlen) {
        reply_int(r, len);
    } else {
        reply_bulk(r, w.seq, len);
    }
    free(t);
    free(w.seq);
    free(w.rg);
}

static void lcs_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct lcs *l = r->aux;
    l->nread++;
    if (rc != 0 && rc != LS_ENOTFOUND && l->err == 0)
        l->err = rc;
    if (rc != 0 || l->err)
        return;
    l->v[i] = malloc((size_t)it->len + 1);
    if (l->v[i] == NULL) {
        l->err = -ENOMEM;
        return;
    }
    memcpy(l->v[i], it->val, it->len);
    l->n[i] = it->len;
}

static void lcs_done(struct req *r)
{
    struct lcs *l = r->aux;
    if (l->nread < 2)
        reply_error(r, "ERR connection closed");
    else if (l->err == -ENOMEM)
        reply_error(r, "ERR out of memory");
    else if (l->err)
        reply_engine_error(r, l->err);
    else
        lcs_compute(r, l);
    req_done(r);
}

void cmd_lcs(struct req *r)
{
    struct lcs *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        cmd_bits_fail(r, "ERR out of memory");
        return;
    }
    r->aux = l;
    r->aux_free = lcs_free;
    if (lcs_parse(r, l) < 0) {
        req_done(r);
        return;
    }
    if (mget_start(r, r->keys, 2, r->db, lcs_emit, lcs_done) < 0)
        cmd_bits_fail(r, "ERR out of memory");
}
