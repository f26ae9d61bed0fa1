/*
 * large_stream.c - native commands on a large stream (engine/FORMAT.md, "Streams: the
 * paged form"): a root under the key (a list root, flag PLIST_F_STREAM, then the stream's
 * meta: last ID, entries added, max deleted ID, groups) and pages of entries in ID order.
 *
 * XADD appends its entry to the tail page (or a new page after it), and XADD's and XTRIM's
 * trims drop whole pages at the head (an exact trim rewrites the page it ends in); the
 * pages they change and the root are one unit (large_unit_write: one batch, ordered), so
 * after a crash the root and its pages agree. XDEL of one ID rewrites the page that holds
 * it (or deletes it, emptied at either end) with the root, one unit too. XLEN reads the
 * root; XRANGE, XREVRANGE, XREAD and XREADGROUP `>` read the pages of their range, XACK and
 * XPENDING the root alone. Every other command loads the whole stream (large_list_read)
 * and writes it as a new version (large_write), or only its root when only its groups
 * changed (cmd_stream.c, xs_encode).
 *
 * Invariants kept here: pages are never empty (a trim never drops the tail page, so a
 * large stream keeps at least one entry), and page numbers ascend with IDs.
 */
#include "large.h"
#include "large_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "mget.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "stream.h"

/* Head pages one trim reads at most: past them `~` stops there and `=` loads the whole
 * stream instead. */
#define XN_TRIM_PAGES 64
/* Pages one XDEL changes at most: past them it loads the whole stream. */
#define XD_PAGES 8
/* Pages an anchor is widened by when an append passes its range. */
#define XN_ANCHOR_STEP 64

struct xnative {
    struct plist_root root;
    uint8_t *rootv; /* the root as read (its meta after PLIST_ROOT_LEN): a fallback loads it */
    size_t rootv_len;
    size_t meta_head; /* the meta's head's length: the groups follow it */
    uint64_t expire_ms, cas;
    uint32_t flags;
    const struct resp_arg *key;
    ls_get_cb fallback;
    enum cmd_reply_mode mode;
    /* XADD: the entry and the meta head after it (entry NULL: XTRIM) */
    uint8_t *entry;
    size_t elen;
    struct stream_meta head;
    struct large_xtrim trim;
    /* gathered */
    uint8_t *tail; /* the tail page's value (XADD) */
    size_t tail_len;
    uint64_t tail_n;
    uint64_t dropped; /* head pages dropped whole */
    uint64_t removed; /* entries removed */
    uint8_t *cut;     /* the page an exact trim ends in, rewritten (NULL: none) */
    size_t cut_len;
    uint64_t scan; /* the next head page to read */
    /* XDEL: its IDs' pages (struct xdel), the binary search's interval, the page read */
    struct xdel *xd;
    uint64_t lo, hi, page;
};

static void large_xd_free(struct xdel *d);

static void xn_free(struct xnative *xn)
{
    if (xn == NULL)
        return;
    large_xd_free(xn->xd);
    free(xn->rootv);
    free(xn->entry);
    free(xn->tail);
    free(xn->cut);
    free(xn);
}

void large_xn_free(struct large_op *o)
{
    xn_free(o->xn);
    o->xn = NULL;
}

int large_stream_len(const struct ls_item *it, uint64_t *n)
{
    struct plist_root root;
    if (!large_is_root(it->vtype, it->value, it->value_len) ||
        plist_root_decode(it->value, it->value_len, &root) < 0 || !(root.flags & PLIST_F_STREAM))
        return 0;
    *n = root.count;
    return 1;
}

/* The whole stream instead: loaded from the root as read, for the handler. */
static void xn_fallback(struct req *r)
{
    struct xnative *xn = r->pl->xn;
    struct ls_item it = {.value = xn->rootv,
                         .value_len = (uint32_t)xn->rootv_len,
                         .expire_ms = xn->expire_ms,
                         .flags = xn->flags,
                         .cas = xn->cas,
                         .vtype = COLL_STREAM};
    ls_get_cb cb = xn->fallback;
    r->c->srv->stats.keyspace_hits--; /* counted by the caller for the native path, and by
                                         the handler's read again */
    r->pl->xn = NULL; /* large_list_read copies what it needs of the root before it returns */
    r->want_type = COLL_STREAM;
    large_list_read(r, 0, &it, cb);
    xn_free(xn);
}

static void xn_fail(struct req *r, int rc)
{
    large_read_fail_reply(r, rc, COLL_STREAM); /* damage, LARGE_ETOOBIG, memory, the engine's */
}

/* A page of the stream: its entry count, or 0 when it is not a page (a missing or empty
 * one is damage). */
static uint64_t xn_page_count(const uint8_t *v, size_t len, size_t *hdr)
{
    uint64_t n = 0;
    size_t k = len > 1 && v[0] == COLL_VERSION ? coll_varint_get(v + 1, len - 1, &n) : 0;
    *hdr = 1 + k;
    return k ? n : 0;
}

static void xn_read(struct req *r, uint64_t page, ls_get_cb cb)
{
    uint8_t pk[PLIST_PAGE_KEY_LEN];
    plist_page_key(r->pl->xn->root.version, page, pk);
    struct resp_arg key = {(char *)pk, sizeof(pk)};
    r->want_type = LARGE_VT_PAGE;
    r->hold_claim = 1; /* the key stays locked until the unit is written */
    mget_one(r, large_page_table(r->c->srv), &key, cb);
}

static void xn_finish(struct req *r);
static void xn_trim_step(struct req *r);

static void xn_tail_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xnative *xn = r->pl->xn;
    size_t hdr;
    if (rc == 0 && (xn->tail_n = xn_page_count(it->value, it->value_len, &hdr)) == 0)
        rc = COLL_EBAD;
    if (rc == 0 && (xn->tail = malloc(it->value_len)) == NULL)
        rc = -ENOMEM;
    if (rc != 0) {
        xn_fail(r, rc);
        return;
    }
    memcpy(xn->tail, it->value, it->value_len);
    xn->tail_len = it->value_len;
    xn_trim_step(r);
}

/* The entries of page v[0..len) (n of them after hdr bytes) below minid: how many. -1
 * when the page does not decode. */
static int64_t xn_below(const uint8_t *v, size_t len, size_t hdr, uint64_t n,
                        const struct stream_id *minid, size_t *cut_at)
{
    size_t at = hdr;
    uint64_t k = 0;
    for (; k < n; k++) {
        struct stream_id id;
        size_t l = stream_entry_span(v + at, len - at, &id);
        if (l == 0)
            return -1;
        if (stream_id_cmp(&id, minid) >= 0)
            break;
        at += l;
    }
    *cut_at = at;
    return (int64_t)k;
}

/* Page v[0..len) (n entries after hdr bytes) without its first k entries, into xn->cut;
 * at: where entry k starts (0: not known). 0, -ENOMEM or COLL_EBAD. */
static int xn_cut(struct xnative *xn, const uint8_t *v, size_t len, size_t hdr, uint64_t n,
                  uint64_t k, size_t at)
{
    if (at == 0) {
        at = hdr;
        for (uint64_t i = 0; i < k; i++) {
            struct stream_id id;
            size_t l = stream_entry_span(v + at, len - at, &id);
            if (l == 0)
                return COLL_EBAD;
            at += l;
        }
    }
    uint8_t h[11];
    h[0] = COLL_VERSION;
    size_t hl = 1 + coll_varint_put(h + 1, n - k);
    if ((xn->cut = malloc(hl + (len - at))) == NULL)
        return -ENOMEM;
    memcpy(xn->cut, h, hl);
    memcpy(xn->cut + hl, v + at, len - at);
    xn->cut_len = hl + (len - at);
    return 0;
}

static void xn_head_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xnative *xn = r->pl->xn;
    const struct large_xtrim *t = &xn->trim;
    size_t hdr;
    uint64_t n = 0;
    if (rc == 0 && (n = xn_page_count(it->value, it->value_len, &hdr)) == 0)
        rc = COLL_EBAD;
    if (rc != 0) {
        xn_fail(r, rc);
        return;
    }
    const uint8_t *v = it->value;
    uint64_t k; /* entries of this page to remove */
    size_t at = 0;
    if (t->kind == LARGE_XTRIM_MAXLEN) {
        uint64_t count = xn->root.count + (xn->entry != NULL) - xn->removed;
        k = count > t->maxlen ? count - t->maxlen : 0;
        if (k > n)
            k = n;
    } else {
        int64_t b = xn_below(v, it->value_len, hdr, n, &t->minid, &at);
        if (b < 0) {
            xn_fail(r, COLL_EBAD);
            return;
        }
        k = (uint64_t)b;
    }
    if (k == n && (!t->approx || t->limit == 0 || xn->removed + n <= t->limit)) {
        xn->dropped++; /* the whole page goes */
        xn->removed += n;
        xn->scan++;
        xn_trim_step(r);
        return;
    }
    if (k && !t->approx) { /* an exact trim ends inside this page: it is rewritten */
        if ((rc = xn_cut(xn, v, it->value_len, hdr, n, k, t->kind == LARGE_XTRIM_MINID ? at : 0)) !=
            0) {
            xn_fail(r, rc);
            return;
        }
        xn->removed += k;
    }
    xn_finish(r);
}

/* The next head page a trim may drop, or the end of the trim. */
static void xn_trim_step(struct req *r)
{
    struct xnative *xn = r->pl->xn;
    const struct large_xtrim *t = &xn->trim;
    if (t->kind == LARGE_XTRIM_NONE) {
        xn_finish(r);
        return;
    }
    if (t->kind == LARGE_XTRIM_MAXLEN &&
        xn->root.count + (xn->entry != NULL) - xn->removed <= t->maxlen) {
        xn_finish(r); /* short enough */
        return;
    }
    /* never the tail page (the stream keeps an entry, the append's page stays); `=` past
     * what one command reads here loads the whole stream */
    if (xn->scan >= xn->root.tail || xn->dropped >= XN_TRIM_PAGES) {
        if (!t->approx)
            xn_fallback(r);
        else
            xn_finish(r);
        return;
    }
    xn_read(r, xn->scan, xn_head_cb);
}

/* The root of xn's stream as root and the meta head m (NULL: as read) say, its groups as
 * read, into out[PLIST_ROOT_LEN + STREAM_META_HEAD_MAX + groups]: its length. */
static size_t xn_root_put(const struct xnative *xn, const struct plist_root *root,
                          const struct stream_meta *m, uint8_t *out)
{
    const uint8_t *meta = xn->rootv + PLIST_ROOT_LEN;
    size_t groups = xn->rootv_len - PLIST_ROOT_LEN - xn->meta_head;
    size_t rl = plist_root_encode(root, out);
    if (m) {
        rl += stream_meta_head_put(out + rl, m);
    } else {
        memcpy(out + rl, meta, xn->meta_head);
        rl += xn->meta_head;
    }
    memcpy(out + rl, meta + xn->meta_head, groups);
    return rl + groups;
}

/* The unit: the pages dropped, the page cut, the tail page or a new one (and the anchor
 * widened), and the root. */
static void xn_finish(struct req *r)
{
    struct server *s = r->c->srv;
    struct xnative *xn = r->pl->xn;
    struct plist_root root = xn->root;
    if (xn->entry == NULL && xn->removed == 0) { /* XTRIM: nothing to do */
        reply_int(r, 0);
        req_done(r);
        return;
    }
    uint32_t cap = (uint32_t)xn->dropped + 4, n = 0;
    struct ls_batch_op *ops = calloc(cap, sizeof(*ops));
    uint8_t(*keys)[PLIST_PAGE_KEY_LEN] = calloc(cap, sizeof(*keys));
    size_t groups = xn->rootv_len - PLIST_ROOT_LEN - xn->meta_head;
    uint8_t *rootv = malloc(PLIST_ROOT_LEN + STREAM_META_HEAD_MAX + groups);
    uint8_t *page = NULL, *anchor = NULL, akey[PLIST_ANCHOR_KEY_LEN];
    int rc = ops && keys && rootv ? 0 : -ENOMEM;
    for (uint64_t i = 0; rc == 0 && i < xn->dropped; i++, n++) {
        plist_page_key(root.version, root.head + i, keys[n]);
        ops[n] = (struct ls_batch_op){
            .del = 1, .table = large_page_table(s), .key = keys[n], .key_len = PLIST_PAGE_KEY_LEN};
    }
    if (rc == 0 && xn->cut) {
        uint32_t k = n++;
        plist_page_key(root.version, root.head + xn->dropped, keys[k]);
        ops[k] = (struct ls_batch_op){.table = large_page_table(s),
                                      .key = keys[k],
                                      .key_len = PLIST_PAGE_KEY_LEN,
                                      .value = xn->cut,
                                      .value_len = xn->cut_len,
                                      .opts = {.vtype = LARGE_VT_PAGE}};
    }
    root.head += xn->dropped;
    root.count = root.count + (xn->entry != NULL) - xn->removed;
    if (rc == 0 && xn->entry) {
        size_t hdr;
        xn_page_count(xn->tail, xn->tail_len, &hdr);
        int fits = xn->tail_n < PLIST_PAGE_ELEMS && xn->tail_len + xn->elen <= large_page_max(s);
        uint64_t no = fits ? root.tail : root.tail + 1;
        uint64_t have = fits ? xn->tail_n : 0;
        size_t body = fits ? xn->tail_len - hdr : 0;
        if ((page = malloc(11 + body + xn->elen)) == NULL) {
            rc = -ENOMEM;
        } else {
            page[0] = COLL_VERSION;
            size_t h = 1 + coll_varint_put(page + 1, have + 1);
            memcpy(page + h, xn->tail + hdr, body);
            memcpy(page + h + body, xn->entry, xn->elen);
            uint32_t k = n++;
            plist_page_key(root.version, no, keys[k]);
            ops[k] = (struct ls_batch_op){.table = large_page_table(s),
                                          .key = keys[k],
                                          .key_len = PLIST_PAGE_KEY_LEN,
                                          .value = page,
                                          .value_len = h + body + xn->elen,
                                          .opts = {.vtype = LARGE_VT_PAGE}};
            root.tail = no;
        }
        if (rc == 0 && root.tail > root.hi) { /* the anchor names the pages' range */
            root.hi += XN_ANCHOR_STEP;
            struct plist_anchor a = {(const uint8_t *)xn->key->ptr, xn->key->len, root.lo, root.hi};
            if ((anchor = malloc(plist_anchor_len(&a))) == NULL) {
                rc = -ENOMEM;
            } else {
                plist_anchor_key(root.version, akey);
                ops[n++] = (struct ls_batch_op){.table = large_anchor_table(s),
                                                .key = akey,
                                                .key_len = PLIST_ANCHOR_KEY_LEN,
                                                .value = anchor,
                                                .value_len = plist_anchor_encode(&a, anchor),
                                                .opts = {.vtype = LARGE_VT_ANCHOR}};
            }
        }
    }
    if (rc == 0) { /* the root: list root, the meta's head (XADD's new one), the groups */
        size_t rl = xn_root_put(xn, &root, xn->entry ? &xn->head : NULL, rootv);
        ops[n++] = (struct ls_batch_op){
            .table = r->db,
            .key = xn->key->ptr,
            .key_len = xn->key->len,
            .value = rootv,
            .value_len = rl,
            .opts = {.expire_ms = xn->expire_ms, .flags = xn->flags, .vtype = COLL_STREAM}};
    }
    if (rc == 0 && ls_batch_bytes(ops, n) > ls_batch_max_bytes(s->eng))
        rc = LS_ETOOBIG; /* a root of many groups: the whole stream's write instead */
    if (rc == 0) {
        if (xn->entry)
            pubsub_notify(r, NOTIFY_STREAM, "xadd", xn->key);
        if (xn->removed)
            pubsub_notify(r, NOTIFY_STREAM, "xtrim", xn->key);
        block_signal(s, r->db, xn->key->ptr, xn->key->len); /* an XREAD BLOCK on it */
        r->step = xn->mode;
        if (xn->entry == NULL)
            r->num = (int64_t)xn->removed;
        rc = large_unit_write(r, xn->key, ops, n, cmd_write_cb);
        if (rc == 0) {
            large_op_free(r);
            req_unlock(r); /* submitted (or parked: released when it is) */
        }
    }
    free(ops);
    free(keys);
    free(rootv);
    free(page);
    free(anchor);
    if (rc == 0)
        return;
    if (rc == LS_ETOOBIG) /* nothing was written: the handler on the whole stream */
        xn_fallback(r);
    else if (rc != 0)
        xn_fail(r, rc);
}

/* Sets up r's native state from the large stream root `it`: NULL when it is not one (or
 * out of memory, or r has state already): the caller loads it instead. */
static struct xnative *xn_new(struct req *r, const struct ls_item *it, const struct resp_arg *key,
                              const struct large_xtrim *t, ls_get_cb fallback)
{
    struct plist_root root;
    struct stream_meta head;
    size_t mh;
    if (r->pl || plist_root_decode(it->value, it->value_len, &root) < 0 ||
        !(root.flags & PLIST_F_STREAM) ||
        (mh = stream_meta_head((const uint8_t *)it->value + PLIST_ROOT_LEN,
                               it->value_len - PLIST_ROOT_LEN, &head)) == 0)
        return NULL;
    struct large_op *o = large_op_get(r);
    struct xnative *xn = o ? calloc(1, sizeof(*xn)) : NULL;
    if (xn && (xn->rootv = malloc(it->value_len)) == NULL) {
        free(xn);
        xn = NULL;
    }
    if (xn == NULL) {
        large_op_free(r);
        return NULL;
    }
    xn->root = root;
    memcpy(xn->rootv, it->value, it->value_len);
    xn->rootv_len = it->value_len;
    xn->meta_head = mh;
    xn->head = head;
    xn->expire_ms = it->expire_ms;
    xn->flags = it->flags;
    xn->cas = it->cas;
    xn->key = key;
    xn->fallback = fallback;
    xn->trim = *t;
    xn->scan = root.head;
    o->xn = xn;
    return xn;
}

int large_stream_meta(const struct ls_item *it, struct stream_meta *m)
{
    struct plist_root root;
    return large_is_root(it->vtype, it->value, it->value_len) &&
           plist_root_decode(it->value, it->value_len, &root) == 0 &&
           (root.flags & PLIST_F_STREAM) &&
           stream_meta_head((const uint8_t *)it->value + PLIST_ROOT_LEN,
                            it->value_len - PLIST_ROOT_LEN, m) != 0;
}

int large_stream_add(struct req *r, const struct ls_item *it, const uint8_t *entry, size_t elen,
                     const struct stream_meta *head, const struct large_xtrim *t,
                     ls_get_cb fallback)
{
    struct xnative *xn = xn_new(r, it, &r->argv[1], t, fallback);
    if (xn == NULL)
        return 0;
    if ((xn->entry = malloc(elen)) == NULL) {
        large_op_free(r);
        return 0;
    }
    memcpy(xn->entry, entry, elen);
    xn->elen = elen;
    xn->head = *head;
    xn->mode = CMD_REPLY_TMP;
    xn_read(r, xn->root.tail, xn_tail_cb);
    return 1;
}

int large_stream_trim(struct req *r, const struct ls_item *it, const struct large_xtrim *t,
                      ls_get_cb fallback)
{
    struct xnative *xn = xn_new(r, it, &r->argv[1], t, fallback);
    if (xn == NULL)
        return 0;
    xn->mode = CMD_REPLY_NUM;
    xn_trim_step(r);
    return 1;
}

/* ---- XRANGE, XREVRANGE, XREAD: the pages of the range ---- */

/* A range read: the entries of [start, end] (the first `count` of them from its start, or
 * with rev from its end; 0: all), found by a binary search over the pages and read from
 * there, handed to cb as a stream record holding only them with the root's meta. */
struct xrange_rd {
    struct plist_root root;
    uint8_t *meta; /* the root's meta, copied */
    size_t meta_len;
    uint64_t expire_ms, cas;
    uint32_t flags;
    struct stream_id start, end;
    int rev;
    uint64_t count;
    ls_get_cb cb;
    uint64_t lo, hi; /* the binary search's interval of pages */
    int searching;
    uint64_t page;         /* the page being read */
    struct coll_buf *runs; /* each page's entries taken (rev: in the order read) */
    size_t nruns;
    uint64_t got;
    size_t bytes, runs_cap;
    int keep_root; /* for a write of the groups only: r->xs_root set (xs_encode) */
    /* the stream's first ID, when its head page was read (r->xs_first) */
    struct stream_id first;
    int have_first;
    int ends; /* the first and the last entries only (XINFO STREAM) */
    /* a page from memory is taken inside mget_one: xr_next loops instead of recursing */
    int looping, waiting, finished, rc;
};

void large_xr_free(struct large_op *o)
{
    struct xrange_rd *q = o->xr;
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->nruns; i++)
        coll_buf_free(&q->runs[i]);
    free(q->runs);
    free(q->meta);
    free(q);
    o->xr = NULL;
}

/* The entries of page v[0..len) cut up: their IDs and offsets (off[n] = len), n of them.
 * 0, COLL_EBAD, -ENOMEM. */
static int xr_page(const uint8_t *v, size_t len, struct stream_id **ids, size_t **off, size_t *n)
{
    size_t hdr;
    uint64_t k = xn_page_count(v, len, &hdr);
    *ids = NULL;
    *off = NULL;
    if (k == 0 || k > len)
        return COLL_EBAD;
    *ids = malloc(k * sizeof(**ids));
    *off = malloc((k + 1) * sizeof(**off));
    if (*ids == NULL || *off == NULL)
        return -ENOMEM;
    size_t at = hdr;
    for (uint64_t i = 0; i < k; i++) {
        size_t l = stream_entry_span(v + at, len - at, &(*ids)[i]);
        if (l == 0 || (i && stream_id_cmp(&(*ids)[i - 1], &(*ids)[i]) >= 0))
            return COLL_EBAD;
        (*off)[i] = at;
        at += l;
    }
    if (at != len)
        return COLL_EBAD;
    (*off)[k] = len;
    *n = (size_t)k;
    return 0;
}

static void xr_step(struct req *r);

/* Takes the entries at v[a, b) (k of them) as the next run. 0, LARGE_ETOOBIG, -ENOMEM. */
static int xr_take(struct xrange_rd *q, const uint8_t *v, size_t a, size_t b, uint64_t k)
{
    if (b <= a)
        return 0;
    if ((q->bytes += b - a) > LARGE_LOAD_MAX)
        return LARGE_ETOOBIG; /* as a whole load (large.c: page_take) */
    if (q->nruns == q->runs_cap) {
        size_t cap = q->runs_cap ? 2 * q->runs_cap : 8;
        struct coll_buf *nr = realloc(q->runs, cap * sizeof(*nr));
        if (nr == NULL)
            return -ENOMEM;
        q->runs = nr;
        q->runs_cap = cap;
    }
    q->runs[q->nruns] = (struct coll_buf){0};
    if (large_buf_append(&q->runs[q->nruns++], v + a, b - a) < 0)
        return -ENOMEM;
    q->got += k;
    return 0;
}

/* The entries taken: the record of them handed to the callback. */
static void xr_done(struct req *r)
{
    struct xrange_rd *q = r->pl->xr;
    struct coll_buf out = {0};
    uint8_t hdr[11];
    hdr[0] = STREAM_VERSION;
    size_t h = 1 + coll_varint_put(hdr + 1, q->got);
    int rc = large_buf_append(&out, hdr, h) < 0 || large_buf_append(&out, q->meta, q->meta_len) < 0
                 ? -ENOMEM
                 : 0;
    for (size_t i = 0; i < q->nruns && rc == 0; i++) {
        const struct coll_buf *b = &q->runs[q->rev ? q->nruns - 1 - i : i];
        if (large_buf_append(&out, b->p, b->len) < 0)
            rc = -ENOMEM;
    }
    if (rc != 0) {
        coll_buf_free(&out);
        xn_fail(r, rc);
        return;
    }
    struct ls_item it = {.value = out.p,
                         .value_len = (uint32_t)out.len,
                         .expire_ms = q->expire_ms,
                         .flags = q->flags,
                         .cas = q->cas,
                         .vtype = COLL_STREAM};
    if (q->keep_root) { /* its groups may be written back: the root alone (xs_encode) */
        if (r->xs_root == NULL && (r->xs_root = malloc(PLIST_ROOT_LEN)) == NULL) {
            coll_buf_free(&out);
            xn_fail(r, -ENOMEM);
            return;
        }
        plist_root_encode(&q->root, r->xs_root);
        r->xs_root_elen = out.len - h - q->meta_len;
    }
    r->xs_partial = 1; /* not the whole stream: never written back whole */
    r->xs_length = q->root.count;
    /* 0-0 when the head page was not read: Redis's entries-read arithmetic compares the
     * first ID only with the IDs delivered (cmd_stream_group.c), and the first of those
     * can equal it only when it came from the head page */
    r->xs_first = q->have_first ? q->first : (struct stream_id){0, 0};
    ls_get_cb cb = q->cb;
    large_op_free(r);
    r->want_type = COLL_STREAM;
    cb(r, 0, &it);
    coll_buf_free(&out);
}

static void xr_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xrange_rd *q = r->pl->xr;
    struct stream_id *ids = NULL;
    size_t *off = NULL, n = 0;
    q->waiting = 0;
    if (rc == 0)
        rc = xr_page(it->value, it->value_len, &ids, &off, &n);
    if (rc == 0 && q->page == q->root.head) {
        q->first = ids[0];
        q->have_first = 1;
    }
    if (rc == 0 && q->searching) {
        /* forward: the first page whose last ID is >= start; rev: the last page whose first
         * ID is <= end */
        if (!q->rev) {
            if (stream_id_cmp(&ids[n - 1], &q->start) < 0)
                q->lo = q->page + 1;
            else
                q->hi = q->page;
        } else {
            if (stream_id_cmp(&ids[0], &q->end) <= 0)
                q->lo = q->page;
            else
                q->hi = q->page - 1;
        }
        if (q->lo >= q->hi) {
            q->searching = 0;
            q->page = q->lo;
        }
    } else if (rc == 0 && q->ends) {
        /* the head page's first entry, then the tail page's last */
        const uint8_t *v = it->value;
        if (q->page == q->root.head)
            rc = xr_take(q, v, off[0], off[1], 1);
        if (rc == 0 && q->page == q->root.tail && (q->page != q->root.head || n > 1))
            rc = xr_take(q, v, off[n - 1], off[n], 1);
        if (q->page == q->root.head && q->root.head != q->root.tail)
            q->page = q->root.tail;
        else
            q->finished = 1;
    } else if (rc == 0) {
        /* the run of this page's entries inside [start, end], up to count in all */
        const uint8_t *v = it->value;
        size_t a = 0, b = n;
        while (a < n && stream_id_cmp(&ids[a], &q->start) < 0)
            a++;
        while (b > a && stream_id_cmp(&ids[b - 1], &q->end) > 0)
            b--;
        if (q->count && b - a > q->count - q->got) {
            if (q->rev)
                a = b - (size_t)(q->count - q->got);
            else
                b = a + (size_t)(q->count - q->got);
        }
        if (b > a)
            rc = xr_take(q, v, off[a], off[b], b - a);
        /* go on while the range may continue past this page */
        int more;
        if (q->count && q->got >= q->count)
            more = 0;
        else if (!q->rev)
            more = stream_id_cmp(&ids[n - 1], &q->end) < 0 && q->page < q->root.tail;
        else
            more = stream_id_cmp(&ids[0], &q->start) > 0 && q->page > q->root.head;
        if (more)
            q->page = q->rev ? q->page - 1 : q->page + 1;
        else
            q->finished = 1;
    }
    free(ids);
    free(off);
    q->rc = rc;
    if (!q->looping)
        xr_step(r); /* from the device: go on from here */
}

/* Reads the pages in turn until the range is taken (a page from memory comes back inside
 * mget_one: this loops rather than recursing once per page, as large.c's read_next). */
static void xr_step(struct req *r)
{
    struct xrange_rd *q = r->pl->xr;
    q->looping = 1;
    while (q->rc == 0 && !q->finished) {
        if (q->searching && q->lo < q->hi)
            q->page = q->rev ? q->lo + (q->hi - q->lo + 1) / 2 : q->lo + (q->hi - q->lo) / 2;
        uint8_t pk[PLIST_PAGE_KEY_LEN];
        plist_page_key(q->root.version, q->page, pk);
        struct resp_arg key = {(char *)pk, sizeof(pk)};
        r->want_type = LARGE_VT_PAGE;
        r->hold_claim = 1;
        q->waiting = 1;
        mget_one(r, large_page_table(r->c->srv), &key, xr_page_cb);
        if (q->waiting) { /* from the device: xr_page_cb goes on */
            q->looping = 0;
            return;
        }
    }
    q->looping = 0;
    if (q->rc != 0)
        xn_fail(r, q->rc);
    else
        xr_done(r);
}

/* Sets up r's range read (NULL when `it` is not a large stream's root, or out of memory);
 * xr_go starts it. */
static struct xrange_rd *xr_new(struct req *r, const struct ls_item *it,
                                const struct stream_id *start, const struct stream_id *end, int rev,
                                uint64_t count, int keep_root, ls_get_cb cb)
{
    struct plist_root root;
    if (r->pl || !large_is_root(it->vtype, it->value, it->value_len) ||
        plist_root_decode(it->value, it->value_len, &root) < 0 || !(root.flags & PLIST_F_STREAM))
        return 0;
    struct large_op *o = large_op_get(r);
    struct xrange_rd *q = o ? calloc(1, sizeof(*q)) : NULL;
    if (q)
        q->meta_len = it->value_len - PLIST_ROOT_LEN;
    if (q && (q->meta = malloc(q->meta_len + 1)) == NULL) {
        free(q);
        q = NULL;
    }
    if (q == NULL) {
        large_op_free(r);
        return NULL;
    }
    o->xr = q;
    memcpy(q->meta, (const uint8_t *)it->value + PLIST_ROOT_LEN, q->meta_len);
    q->root = root;
    q->expire_ms = it->expire_ms;
    q->flags = it->flags;
    q->cas = it->cas;
    q->start = *start;
    q->end = *end;
    q->rev = rev;
    q->count = count;
    q->keep_root = keep_root;
    q->cb = cb;
    q->lo = root.head;
    q->hi = root.tail;
    q->searching = q->lo < q->hi;
    q->page = root.head;
    return q;
}

static void xr_go(struct req *r)
{
    struct xrange_rd *q = r->pl->xr;
    struct stream_meta m;
    if (stream_id_cmp(&q->start, &q->end) > 0 || /* an empty range, or one past the last ID */
        (stream_meta_head(q->meta, q->meta_len, &m) && stream_id_cmp(&q->start, &m.last_id) > 0)) {
        xr_done(r); /* no page read */
        return;
    }
    if (q->ends || (!q->rev && q->start.ms == 0 && q->start.seq == 0)) { /* the first page */
        q->searching = 0;
    } else if (q->rev && q->end.ms == UINT64_MAX && q->end.seq == UINT64_MAX) { /* the last */
        q->searching = 0;
        q->page = q->root.tail;
    }
    xr_step(r);
}

static int xr_start(struct req *r, const struct ls_item *it, const struct stream_id *start,
                    const struct stream_id *end, int rev, uint64_t count, int keep_root,
                    ls_get_cb cb)
{
    if (xr_new(r, it, start, end, rev, count, keep_root, cb) == NULL)
        return 0;
    xr_go(r);
    return 1;
}

int large_stream_range(struct req *r, const struct ls_item *it, const struct stream_id *start,
                       const struct stream_id *end, int rev, uint64_t count, ls_get_cb cb)
{
    return xr_start(r, it, start, end, rev, count, 0, cb);
}

int large_stream_after(struct req *r, const struct ls_item *it, const struct resp_arg *group,
                       uint64_t count, ls_get_cb cb)
{
    struct plist_root root;
    struct stream_id from, end = {UINT64_MAX, UINT64_MAX};
    if (!large_is_root(it->vtype, it->value, it->value_len) ||
        plist_root_decode(it->value, it->value_len, &root) < 0 || !(root.flags & PLIST_F_STREAM) ||
        !stream_meta_group_last((const uint8_t *)it->value + PLIST_ROOT_LEN,
                                it->value_len - PLIST_ROOT_LEN, group->ptr, group->len, &from))
        return 0;
    if (stream_id_incr(&from) < 0) /* after the last possible ID: an empty range */
        end = (struct stream_id){0, 0};
    return xr_start(r, it, &from, &end, 0, count, 1, cb);
}

int large_stream_ends(struct req *r, const struct ls_item *it, ls_get_cb cb)
{
    struct stream_id first = {0, 0}, last = {UINT64_MAX, UINT64_MAX};
    struct xrange_rd *q = xr_new(r, it, &first, &last, 0, 0, 0, cb);
    if (q == NULL)
        return 0;
    q->ends = 1;
    xr_go(r);
    return 1;
}

int large_stream_groups(struct req *r, const struct ls_item *it, ls_get_cb cb)
{
    struct stream_id last = {UINT64_MAX, UINT64_MAX}, first = {0, 0};
    return xr_start(r, it, &last, &first, 0, 0, 1, cb); /* an empty range: no page read */
}

/* ---- XDEL: the pages that hold its IDs rewritten ---- */

/* A page XDEL changes: its entries as read, then without those deleted. */
struct xd_page {
    uint64_t no;
    struct stream_id first, last; /* its IDs as read: an ID between them can only be here */
    uint8_t *v;                   /* [COLL_VERSION][varint n][entries] */
    size_t len;
    uint64_t n;  /* its entries now */
    int changed; /* to be written: an entry deleted, or moved in or out */
};

/* XDEL's state (xnative.xd). */
struct xdel {
    struct stream_id *ids; /* sorted, distinct */
    size_t nids, at;       /* the ID being placed */
    struct xd_page pages[XD_PAGES];
    size_t npages;
    uint64_t removed;
    struct stream_id maxdel;
    int searching, looping, waiting, fallback, rc;
};

static void large_xd_free(struct xdel *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->npages; i++)
        free(d->pages[i].v);
    free(d->ids);
    free(d);
}

/* Removes ID id from page p when it holds it: 1, 0 when not, -ENOMEM or COLL_EBAD. */
static int xd_remove(struct xd_page *p, const struct stream_id *id)
{
    size_t hdr, at;
    uint64_t n = xn_page_count(p->v, p->len, &hdr);
    at = hdr;
    for (uint64_t k = 0; k < n; k++) {
        struct stream_id e;
        size_t l = stream_entry_span(p->v + at, p->len - at, &e);
        if (l == 0)
            return COLL_EBAD;
        int c = stream_id_cmp(&e, id);
        if (c > 0)
            return 0;
        if (c == 0) {
            uint8_t h[11];
            h[0] = COLL_VERSION;
            size_t hl = 1 + coll_varint_put(h + 1, n - 1);
            size_t rest = p->len - at - l;
            uint8_t *nv = malloc(hl + (at - hdr) + rest);
            if (nv == NULL)
                return -ENOMEM;
            memcpy(nv, h, hl);
            memcpy(nv + hl, p->v + hdr, at - hdr);
            memcpy(nv + hl + (at - hdr), p->v + at + l, rest);
            free(p->v);
            p->v = nv;
            p->len = hl + (at - hdr) + rest;
            p->n = n - 1;
            p->changed = 1;
            return 1;
        }
        at += l;
    }
    return 0;
}

/* Places ID d->ids[d->at] in page p (its page, when it is anywhere), then the next ID. */
static int xd_place(struct xdel *d, struct xd_page *p)
{
    const struct stream_id *id = &d->ids[d->at];
    int rc = xd_remove(p, id);
    if (rc == 1) {
        d->removed++;
        if (stream_id_cmp(id, &d->maxdel) > 0)
            d->maxdel = *id;
        rc = 0;
    }
    d->at++;
    return rc;
}

/* The ends of the stream once its emptied pages at either end are gone. */
static void xd_ends(const struct xdel *d, struct plist_root *root)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (size_t i = 0; i < d->npages; i++) {
            if (d->pages[i].n || root->head >= root->tail)
                continue;
            if (d->pages[i].no == root->head) {
                root->head++;
                moved = 1;
            } else if (d->pages[i].no == root->tail) {
                root->tail--;
                moved = 1;
            }
        }
    }
}

/* Moves donor's first (first) or last entry into the emptied page q. 0, -ENOMEM or
 * COLL_EBAD. */
static int xd_move(struct xd_page *donor, struct xd_page *q, int first)
{
    struct stream_id *ids = NULL;
    size_t *off = NULL, n = 0;
    int rc = xr_page(donor->v, donor->len, &ids, &off, &n);
    uint8_t *dv = NULL, *qv = NULL;
    size_t e = first ? 0 : n - 1; /* the entry moved */
    size_t el = rc == 0 ? off[e + 1] - off[e] : 0, body = rc == 0 ? off[n] - off[0] - el : 0;
    if (rc == 0 && ((dv = malloc(11 + body)) == NULL || (qv = malloc(2 + el)) == NULL))
        rc = -ENOMEM;
    if (rc == 0) {
        qv[0] = COLL_VERSION;
        qv[1] = 1; /* varint 1 */
        memcpy(qv + 2, donor->v + off[e], el);
        dv[0] = COLL_VERSION;
        size_t h = 1 + coll_varint_put(dv + 1, n - 1);
        memcpy(dv + h, donor->v + (first ? off[1] : off[0]), body);
        free(q->v);
        *q = (struct xd_page){
            .no = q->no, .first = q->first, .last = q->last, .v = qv, .len = 2 + el, .n = 1};
        q->changed = 1;
        free(donor->v);
        donor->v = dv;
        donor->len = h + body;
        donor->n = n - 1;
        donor->changed = 1;
        dv = qv = NULL;
    }
    free(dv);
    free(qv);
    free(ids);
    free(off);
    return rc;
}

static void xd_fill(struct req *r);
static void xd_finish(struct req *r);

static void xd_donor_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xnative *xn = r->pl->xn;
    struct xdel *d = xn->xd;
    struct stream_id *ids = NULL;
    size_t *off = NULL, n = 0;
    if (rc == 0)
        rc = xr_page(it->value, it->value_len, &ids, &off, &n);
    struct xd_page *p = &d->pages[d->npages];
    if (rc == 0) {
        *p = (struct xd_page){.no = xn->page, .first = ids[0], .last = ids[n - 1], .n = n};
        if ((p->v = malloc(it->value_len)) == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(p->v, it->value, it->value_len);
            p->len = it->value_len;
            d->npages++;
        }
    }
    free(ids);
    free(off);
    d->rc = rc;
    xd_fill(r); /* at most XD_PAGES deep: each call reads a page into d->pages */
}

static struct xd_page *xd_find(struct xdel *d, uint64_t no)
{
    for (size_t i = 0; i < d->npages; i++)
        if (d->pages[i].no == no)
            return &d->pages[i];
    return NULL;
}

/* Pages are never empty: an emptied page between the ends takes the first entry of the page
 * after it when that one has two or more (a queue deleted in ID order then moves its window
 * along), else the last entry of the page before it, which may empty that one in turn.
 * Pages not at hand are read; past XD_PAGES the whole stream is loaded instead. Then the
 * unit is written. */
static void xd_fill(struct req *r)
{
    struct xnative *xn = r->pl->xn;
    struct xdel *d = xn->xd;
    while (d->rc == 0) {
        struct plist_root root = xn->root;
        xd_ends(d, &root);
        struct xd_page *q = NULL;
        for (size_t i = 0; i < d->npages; i++)
            if (d->pages[i].n == 0 && d->pages[i].no >= root.head && d->pages[i].no <= root.tail &&
                (q == NULL || d->pages[i].no < q->no))
                q = &d->pages[i];
        if (q == NULL) {
            xd_finish(r);
            return;
        }
        if (root.head == root.tail) { /* the stream's last entry: a small record instead */
            xn_fallback(r);
            return;
        }
        /* head < q < tail: the ends moved past emptied pages, and q is the lowest */
        struct xd_page *next = xd_find(d, q->no + 1), *prev = NULL;
        uint64_t want = q->no + 1;
        if (next && next->n >= 2) {
            d->rc = xd_move(next, q, 1);
            continue;
        }
        if (next) {
            want = q->no - 1;
            if ((prev = xd_find(d, want)) != NULL) {
                d->rc = xd_move(prev, q, 0);
                continue;
            }
        }
        if (d->npages == XD_PAGES) {
            xn_fallback(r);
            return;
        }
        xn->page = want;
        xn_read(r, xn->page, xd_donor_cb);
        return; /* xd_donor_cb goes on */
    }
    xn_fail(r, d->rc);
}

/* The unit: each page changed (an emptied one at either end deleted; xd_fill filled those
 * between) and the root. */
static void xd_finish(struct req *r)
{
    struct server *s = r->c->srv;
    struct xnative *xn = r->pl->xn;
    struct xdel *d = xn->xd;
    if (d->removed == 0) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    struct plist_root root = xn->root;
    xd_ends(d, &root);
    for (size_t i = 0; i < d->npages; i++)
        if (d->pages[i].n == 0 && d->pages[i].no >= root.head && d->pages[i].no <= root.tail) {
            xn_fallback(r); /* pages are never empty: an emptied one in between, or the last */
            return;
        }
    struct ls_batch_op ops[XD_PAGES + 1];
    uint8_t keys[XD_PAGES][PLIST_PAGE_KEY_LEN];
    size_t groups = xn->rootv_len - PLIST_ROOT_LEN - xn->meta_head;
    uint8_t *rootv = malloc(PLIST_ROOT_LEN + STREAM_META_HEAD_MAX + groups);
    int rc = rootv ? 0 : -ENOMEM;
    uint32_t n = 0;
    for (size_t i = 0; rc == 0 && i < d->npages; i++) {
        const struct xd_page *p = &d->pages[i];
        if (!p->changed)
            continue; /* read to place an ID it did not hold, or a donor not needed */
        plist_page_key(root.version, p->no, keys[n]);
        ops[n] = (struct ls_batch_op){.del = p->n == 0,
                                      .table = large_page_table(s),
                                      .key = keys[n],
                                      .key_len = PLIST_PAGE_KEY_LEN,
                                      .value = p->n ? p->v : NULL,
                                      .value_len = p->n ? p->len : 0,
                                      .opts = {.vtype = LARGE_VT_PAGE}};
        n++;
    }
    if (rc == 0) {
        root.count -= d->removed;
        struct stream_meta m = xn->head;
        if (stream_id_cmp(&d->maxdel, &m.max_deleted) > 0)
            m.max_deleted = d->maxdel;
        ops[n++] = (struct ls_batch_op){
            .table = r->db,
            .key = xn->key->ptr,
            .key_len = xn->key->len,
            .value = rootv,
            .value_len = xn_root_put(xn, &root, &m, rootv),
            .opts = {.expire_ms = xn->expire_ms, .flags = xn->flags, .vtype = COLL_STREAM}};
        if (ls_batch_bytes(ops, n) > ls_batch_max_bytes(s->eng))
            rc = LS_ETOOBIG;
    }
    if (rc == 0) {
        pubsub_notify(r, NOTIFY_STREAM, "xdel", xn->key);
        r->step = CMD_REPLY_NUM;
        r->num = (int64_t)d->removed;
        rc = large_unit_write(r, xn->key, ops, n, cmd_write_cb);
        if (rc == 0) {
            large_op_free(r);
            req_unlock(r); /* submitted (or parked: released when it is) */
        }
    }
    free(rootv);
    if (rc == LS_ETOOBIG) /* nothing was written: the handler on the whole stream */
        xn_fallback(r);
    else if (rc != 0)
        xn_fail(r, rc);
}

static void xd_step(struct req *r);
static void xd_fill(struct req *r);

/* A page of the binary search for the first page whose last ID is >= the ID placed. */
static void xd_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xnative *xn = r->pl->xn;
    struct xdel *d = xn->xd;
    struct stream_id *ids = NULL;
    size_t *off = NULL, n = 0;
    d->waiting = 0;
    if (rc == 0)
        rc = xr_page(it->value, it->value_len, &ids, &off, &n);
    if (rc == 0 && xn->lo < xn->hi) {
        if (stream_id_cmp(&ids[n - 1], &d->ids[d->at]) < 0)
            xn->lo = xn->page + 1;
        else
            xn->hi = xn->page;
    }
    if (rc == 0 && xn->lo >= xn->hi && xn->page == xn->lo) { /* the ID's page, if anywhere */
        d->searching = 0;
        int known = 0;
        for (size_t i = 0; i < d->npages; i++)
            known |= d->pages[i].no == xn->page;
        if (known) { /* a page changed already, whose IDs do not span it: not there */
            d->at++;
        } else if (d->npages == XD_PAGES) {
            d->fallback = 1;
        } else {
            struct xd_page *p = &d->pages[d->npages];
            *p = (struct xd_page){.no = xn->page, .first = ids[0], .last = ids[n - 1], .n = n};
            if ((p->v = malloc(it->value_len)) == NULL) {
                rc = -ENOMEM;
            } else {
                memcpy(p->v, it->value, it->value_len);
                p->len = it->value_len;
                d->npages++;
                rc = xd_place(d, p);
            }
        }
    }
    free(ids);
    free(off);
    d->rc = rc;
    if (!d->looping)
        xd_step(r); /* from the device: go on from here */
}

/* Places the IDs in turn: in a page read already when its IDs span it, else by a binary
 * search over the pages (a page from memory comes back inside mget_one: this loops
 * rather than recursing). */
static void xd_step(struct req *r)
{
    struct xnative *xn = r->pl->xn;
    struct xdel *d = xn->xd;
    d->looping = 1;
    while (d->rc == 0 && !d->fallback && d->at < d->nids) {
        const struct stream_id *id = &d->ids[d->at];
        if (!d->searching) {
            if (stream_id_cmp(id, &xn->head.last_id) > 0) { /* never added, nor those after */
                d->at = d->nids;
                break;
            }
            struct xd_page *p = NULL;
            for (size_t i = 0; i < d->npages && p == NULL; i++)
                if (stream_id_cmp(&d->pages[i].first, id) <= 0 &&
                    stream_id_cmp(id, &d->pages[i].last) <= 0)
                    p = &d->pages[i];
            if (p) {
                d->rc = xd_place(d, p);
                continue;
            }
            xn->lo = xn->root.head;
            xn->hi = xn->root.tail;
            d->searching = 1;
        }
        xn->page = xn->lo < xn->hi ? xn->lo + (xn->hi - xn->lo) / 2 : xn->lo;
        d->waiting = 1;
        xn_read(r, xn->page, xd_page_cb);
        if (d->waiting) { /* from the device: xd_page_cb goes on */
            d->looping = 0;
            return;
        }
    }
    d->looping = 0;
    if (d->rc != 0)
        xn_fail(r, d->rc);
    else if (d->fallback)
        xn_fallback(r);
    else
        xd_fill(r);
}

static int id_order(const void *a, const void *b)
{
    return stream_id_cmp(a, b);
}

int large_stream_del(struct req *r, const struct ls_item *it, const struct stream_id *ids,
                     size_t nids, ls_get_cb fallback)
{
    static const struct large_xtrim none = {.kind = LARGE_XTRIM_NONE};
    if (!large_is_root(it->vtype, it->value, it->value_len))
        return 0;
    struct xdel *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->ids = malloc(nids * sizeof(*ids))) == NULL) {
        free(d);
        return 0;
    }
    memcpy(d->ids, ids, nids * sizeof(*ids));
    qsort(d->ids, nids, sizeof(*ids), id_order);
    for (size_t i = 0; i < nids; i++) /* distinct: an ID given twice is deleted once */
        if (d->nids == 0 || stream_id_cmp(&d->ids[d->nids - 1], &d->ids[i]) != 0)
            d->ids[d->nids++] = d->ids[i];
    struct xnative *xn = xn_new(r, it, &r->argv[1], &none, fallback);
    if (xn == NULL) {
        large_xd_free(d);
        return 0;
    }
    xn->xd = d;
    xd_step(r);
    return 1;
}
