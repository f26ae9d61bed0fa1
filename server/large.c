/*
 * large.c - large lists: the hidden tables' layout, loading a large list for a handler,
 * and building and writing a new version (large.h; design in engine/FORMAT.md, "Large
 * form").
 *
 * Ordering, the one rule everything here keeps: a root names only pages that are on disk
 * before it. Pages and the anchor of a new version are invisible until its root is
 * written (no root names the version), so they go first, in as many batches as they
 * need, each after the previous one's acknowledgement, then a barrier (ls_sync: in
 * periodic mode an acknowledgement is not yet durability), then the root. When they fit
 * one batch with the root, they ride in the root's batch instead: all or nothing.
 */
#include "large.h"
#include "large_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "cmd.h"
#include "log.h"
#include "mget.h"
#include "park.h"
#include "pubsub.h"
#include "rconfig.h"
#include "reaper.h"
#include "reply.h"
#include "server.h"
#include "stream.h"
#include "tracking.h"
#include "txn.h"

uint32_t large_page_table(const struct server *s)
{
    return (uint32_t)s->cfg.databases;
}

uint32_t large_anchor_table(const struct server *s)
{
    return (uint32_t)s->cfg.databases + 1;
}

size_t large_page_max(const struct server *s)
{
    return s->cfg.max_value_size < PLIST_PAGE_BYTES ? (size_t)s->cfg.max_value_size
                                                    : PLIST_PAGE_BYTES;
}

uint32_t large_engine_tables(const struct server *s)
{
    return (uint32_t)s->cfg.databases + 2;
}

/* ---- layout ---- */

#define LAYOUT_FILE "logstord.layout"

static int layout_path(const struct server *s, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s", s->cfg.dir, LAYOUT_FILE);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

int large_layout_check(struct server *s)
{
    char path[4096];
    if (layout_path(s, path, sizeof(path)) < 0)
        return 0; /* no such directory can be opened either: the open says why */
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0; /* a new directory, or one from before large lists: checked once open */
    unsigned long long dbs = 0;
    int ok = fscanf(f, "databases %llu", &dbs) == 1;
    fclose(f);
    if (!ok) {
        log_warning("%s is damaged: it must say which databases setting the directory's "
                    "large lists were laid out for ('databases N')",
                    path);
        return -1;
    }
    if (dbs != (unsigned long long)s->cfg.databases) {
        log_warning("the data directory's large lists are kept in engine tables %llu and "
                    "%llu, laid out for 'databases %llu'; start with that setting "
                    "(changing it once large lists exist is not supported yet)",
                    dbs, dbs + 1, dbs);
        return -1;
    }
    return 0;
}

int large_layout_opened(struct server *s)
{
    char path[4096], tmp[4200];
    if (layout_path(s, path, sizeof(path)) < 0 || access(path, F_OK) == 0)
        return 0;
    uint64_t held = ls_count(s->eng, large_page_table(s)) + ls_count(s->eng, large_anchor_table(s));
    if (held) {
        log_warning("engine tables %u and %u hold %" PRIu64 " keys from databases used before "
                    "(this directory ran with more than %" PRIu64 " databases): start with a "
                    "larger 'databases' setting to keep them",
                    large_page_table(s), large_anchor_table(s), held, (uint64_t)s->cfg.databases);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char line[64];
    int n = snprintf(line, sizeof(line), "databases %" PRIu64 "\n", (uint64_t)s->cfg.databases);
    int ok = fd >= 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) == 0) {
        int dfd = open(s->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        return 0;
    }
    log_warning("cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

/* ---- versions being written: the reaper leaves them alone ---- */

static int writing_add(struct server *s, uint64_t v)
{
    if (s->large_writing_n == s->large_writing_cap) {
        uint32_t cap = s->large_writing_cap ? s->large_writing_cap * 2 : 16;
        uint64_t *p = realloc(s->large_writing, cap * sizeof(*p));
        const void **q = p ? realloc(s->large_writing_owner, cap * sizeof(*q)) : NULL;
        if (p)
            s->large_writing = p;
        if (q == NULL)
            return -1;
        s->large_writing_owner = q;
        s->large_writing_cap = cap;
    }
    s->large_writing_owner[s->large_writing_n] = NULL;
    s->large_writing[s->large_writing_n++] = v;
    return 0;
}

static void writing_drop(struct server *s, uint32_t i)
{
    s->large_writing_n--;
    s->large_writing[i] = s->large_writing[s->large_writing_n];
    s->large_writing_owner[i] = s->large_writing_owner[s->large_writing_n];
}

/* The build's own registration (one a transaction adopted stays until the unit ends). */
static void writing_del(struct server *s, uint64_t v)
{
    for (uint32_t i = 0; i < s->large_writing_n; i++)
        if (s->large_writing[i] == v && s->large_writing_owner[i] == NULL) {
            writing_drop(s, i);
            return;
        }
}

/* A write inside a transaction's or a script's overlay: its root reaches the engine when
 * the unit's writes are submitted, after the write itself is done (a script's writes are
 * acknowledged to it at once): its version stays registered until the unit ends. */
static void writing_adopt(struct server *s, uint64_t v, const void *unit)
{
    for (uint32_t i = 0; i < s->large_writing_n; i++)
        if (s->large_writing[i] == v && s->large_writing_owner[i] == NULL) {
            s->large_writing_owner[i] = unit;
            return;
        }
}

void large_unit_end(struct server *s, const void *unit)
{
    for (uint32_t i = 0; i < s->large_writing_n;)
        if (s->large_writing_owner[i] == unit)
            writing_drop(s, i);
        else
            i++;
}

/* ---- r's state ---- */

static void native_free(struct native *nv);
static void part_free(struct part *pt);

void large_op_free(struct req *r)
{
    struct large_op *o = r->pl;
    r->pl = NULL;
    if (o == NULL)
        return;
    if (o->nv)
        native_free(o->nv);
    if (o->pt)
        part_free(o->pt);
    if (o->zr)
        zread_free(o->zr);
    if (o->xn)
        large_xn_free(o);
    if (o->xr)
        large_xr_free(o);
    coll_buf_free(&o->el);
    free(o->meta);
    for (int i = 0; i < 2; i++) {
        large_build_free(&o->build[i]);
        free(o->copy[i]);
    }
    free(o);
}

struct large_op *large_op_get(struct req *r)
{
    if (r->pl == NULL)
        r->pl = calloc(1, sizeof(*r->pl));
    return r->pl;
}

/* ---- loading ---- */

int large_buf_append(struct coll_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0; /* p may be NULL (an empty bucket) */
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* The reply to a read of a large collection of type vtype that failed with rc; ends r. */
void large_read_fail_reply(struct req *r, int rc, uint8_t vtype)
{
    if (rc == -ENOMEM)
        reply_error(r, "ERR out of memory");
    else if (rc == COLL_EBAD || rc == LS_ENOTFOUND)
        reply_error(r, ERR_LARGE_DAMAGED);
    else if (rc == LARGE_ETOOBIG)
        reply_errorf(r,
                     "ERR the %s is too large for this command (logstord reads the whole %s "
                     "for it, and would hold more than 512 MB)",
                     cmd_type_name(vtype), cmd_type_name(vtype));
    else
        reply_engine_error(r, rc);
    req_done(r);
}

static void load_fail(struct req *r, int rc)
{
    struct large_op *o = r->pl;
    uint8_t vtype = o->vtype;
    if (rc == COLL_EBAD || rc == LS_ENOTFOUND)
        log_warning("a large %s of db %u is damaged: version %llu, page %lld of %lld..%lld "
                    "(%s)",
                    cmd_type_name(vtype), r->db, (unsigned long long)o->root.version,
                    (long long)(o->root.head + o->rd.next - PLIST_MID),
                    (long long)(o->root.head - PLIST_MID), (long long)(o->root.tail - PLIST_MID),
                    rc == LS_ENOTFOUND ? "missing" : "does not decode");
    r->want_type = o->want_type;
    large_op_free(r);
    large_read_fail_reply(r, rc, vtype);
}

/* The small form of n elements encoded end to end in el (pages read one after another),
 * with the root's flags, into *out; sort: a sorted set's buckets, put in its order. 0,
 * -ENOMEM or COLL_EBAD. */
static int small_form(uint8_t flags, uint64_t n, const struct coll_buf *el, int sort,
                      struct coll_buf *out)
{
    uint8_t hdr[11];
    hdr[0] = (uint8_t)(COLL_VERSION | (flags & COLL_F_BIG));
    size_t h = 1 + coll_varint_put(hdr + 1, n);
    *out = (struct coll_buf){0};
    int rc = large_buf_append(out, hdr, h) < 0 || large_buf_append(out, el->p, el->len) < 0
                 ? -2
                 : (sort ? coll_zset_sort_elems(out->p + h, out->len - h, n) : 0);
    if (rc != 0) {
        coll_buf_free(out);
        return rc == -2 ? -ENOMEM : COLL_EBAD;
    }
    return 0;
}

/* A stream's record (proto/stream.h) from its root's meta and its entries, read in
 * order into o->el, into *out: checked whole as any record is. 0, -ENOMEM or COLL_EBAD. */
static int stream_form(const struct large_op *o, struct coll_buf *out)
{
    uint8_t hdr[11];
    hdr[0] = STREAM_VERSION;
    size_t h = 1 + coll_varint_put(hdr + 1, o->got);
    struct stream st;
    *out = (struct coll_buf){0};
    if (large_buf_append(out, hdr, h) < 0 || large_buf_append(out, o->meta, o->meta_len) < 0 ||
        large_buf_append(out, o->el.p, o->el.len) < 0) {
        coll_buf_free(out);
        return -ENOMEM;
    }
    int rc = stream_decode(out->p, out->len, &st);
    stream_free(&st);
    if (rc != 0)
        coll_buf_free(out);
    return rc == 0 ? 0 : rc == -2 ? -ENOMEM : COLL_EBAD;
}

/* Every page read: the list in the small form goes to the handler. */
static void load_finish(struct req *r)
{
    struct large_op *o = r->pl;
    struct coll_buf out;
    if (o->got != o->root.count) {
        load_fail(r, COLL_EBAD);
        return;
    }
    int rc = o->vtype == COLL_STREAM ? stream_form(o, &out)
                                     : small_form(o->root.flags, o->got, &o->el,
                                                  (o->root.flags & PLIST_F_TREE) != 0, &out);
    if (rc != 0) {
        load_fail(r, rc);
        return;
    }
    if (o->vtype == COLL_STREAM) { /* for a write of its groups only (cmd_stream.c) */
        if (r->xs_root == NULL && (r->xs_root = malloc(PLIST_ROOT_LEN)) == NULL) {
            coll_buf_free(&out);
            load_fail(r, -ENOMEM);
            return;
        }
        plist_root_encode(&o->root, r->xs_root);
        r->xs_root_elen = o->el.len;
    }
    struct ls_item it = {.key = NULL,
                         .value = out.p,
                         .value_len = (uint32_t)out.len,
                         .expire_ms = o->expire_ms,
                         .flags = o->flags,
                         .cas = o->cas,
                         .vtype = o->vtype};
    ls_get_cb cb = o->cb;
    r->want_type = o->want_type;
    large_op_free(r); /* the handler may start another list's read */
    cb(r, 0, &it);
    coll_buf_free(&out);
}

/* A page read of root's collection: its elements appended to el, their number to *got.
 * 0, COLL_EBAD (not a page of it: a wrong header, an empty page where only a hash bucket
 * may be empty, more elements than the root counts), LARGE_ETOOBIG or -ENOMEM. */
static int page_take(struct coll_buf *el, uint64_t *got, const struct plist_root *root,
                     const struct ls_item *it)
{
    const uint8_t *v = it->value;
    uint64_t n;
    size_t k = it->value_len > 1 ? coll_varint_get(v + 1, it->value_len - 1, &n) : 0;
    if (k == 0 || v[0] != COLL_VERSION || (n == 0 && !(root->flags & PLIST_F_HASHED)) ||
        n > root->count - *got)
        return COLL_EBAD;
    if (el->len + it->value_len > LARGE_LOAD_MAX)
        return LARGE_ETOOBIG;
    if (large_buf_append(el, v + 1 + k, it->value_len - 1 - k) < 0)
        return -ENOMEM;
    *got += n;
    return 0;
}

static void read_next(struct req *r);

static void page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct page_read *rd = &r->pl->rd;
    rd->waiting = 0;
    if (rc == 0)
        rc = page_take(rd->el, rd->got, rd->root, it);
    if (rc != 0) {
        rd->rc = rc;
        if (!rd->looping)
            rd->fail(r, rc);
        return;
    }
    rd->next++;
    if (!rd->looping)
        read_next(r);
}

/* Reads the pages in order; a page from memory is taken at once (its callback runs
 * inside mget_one), so this loops instead of recursing once per page. */
static void read_next(struct req *r)
{
    struct page_read *rd = &r->pl->rd;
    uint8_t pk[PLIST_PAGE_KEY_LEN];
    rd->looping = 1;
    while (rd->rc == 0 && rd->next < rd->n) {
        plist_page_key(rd->root->version, rd->root->head + (rd->bk ? rd->bk[rd->next] : rd->next),
                       pk);
        struct resp_arg key = {(char *)pk, sizeof(pk)};
        rd->waiting = 1;
        r->want_type = LARGE_VT_PAGE;
        mget_one(r, large_page_table(r->c->srv), &key, page_cb);
        if (rd->waiting) { /* from the device: page_cb goes on */
            rd->looping = 0;
            return;
        }
    }
    rd->looping = 0;
    if (rd->rc != 0)
        rd->fail(r, rd->rc);
    else
        rd->done(r);
}

/* Starts reading pages into r's large_op (allocated): see struct page_read. */
static void read_pages(struct req *r, const struct plist_root *root, const uint64_t *bk, uint64_t n,
                       struct coll_buf *el, uint64_t *got, void (*done)(struct req *r),
                       void (*fail)(struct req *r, int rc))
{
    r->pl->rd = (struct page_read){
        .root = root, .bk = bk, .n = n, .el = el, .got = got, .done = done, .fail = fail};
    r->hold_claim = 1; /* the pages come in steps: the key stays locked until the end */
    read_next(r);
}

void large_list_read(struct req *r, int rc, const struct ls_item *it, ls_get_cb cb)
{
    if (rc != 0 || !large_is_root(it->vtype, it->value, it->value_len)) {
        cb(r, rc, it);
        return;
    }
    struct large_op *o = large_op_get(r);
    if (o == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    o->vtype = it->vtype;
    if (plist_root_decode(it->value, it->value_len, &o->root) < 0 ||
        (it->vtype == COLL_STREAM) != ((o->root.flags & PLIST_F_STREAM) != 0)) {
        o->want_type = r->want_type;
        load_fail(r, COLL_EBAD);
        return;
    }
    if (it->vtype == COLL_STREAM) { /* its meta, after the list root */
        o->meta_len = it->value_len - PLIST_ROOT_LEN;
        if ((o->meta = malloc(o->meta_len + 1)) == NULL) {
            o->want_type = r->want_type;
            load_fail(r, -ENOMEM);
            return;
        }
        memcpy(o->meta, (const uint8_t *)it->value + PLIST_ROOT_LEN, o->meta_len);
    }
    o->cb = cb;
    o->expire_ms = it->expire_ms;
    o->flags = it->flags;
    o->cas = it->cas;
    o->vtype = it->vtype;
    o->want_type = r->want_type;
    read_pages(r, &o->root, NULL, o->root.tail - o->root.head + 1, &o->el, &o->got, load_finish,
               load_fail);
}

static void coll_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    large_list_read(r, rc, it, r->coll_cb);
}

void large_coll_get(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    r->coll_cb = cb;
    r->hold_claim = 1; /* a large one's pages come after its root: see large_part_get */
    cmd_get(r, key, coll_get_cb);
}

static void card_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct plist_root root;
    if (rc == 0 && large_is_root(it->vtype, it->value, it->value_len) &&
        plist_root_decode(it->value, it->value_len, &root) == 0) {
        r->c->srv->stats.keyspace_hits++; /* as coll_read_begin counts it */
        reply_int(r, (int64_t)root.count);
        req_done(r);
        return;
    }
    large_list_read(r, rc, it, r->coll_cb);
}

void large_card_get(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    r->coll_cb = cb;
    r->hold_claim = 1; /* a large one's pages come after its root: see large_part_get */
    cmd_get(r, key, card_cb);
}

/* ---- hashed collections (large hashes and sets): the buckets a command names ----
 *
 * A command that names its fields or members (HGET, HSET, HDEL, SADD, SISMEMBER ...)
 * reads only the buckets they hash to, and its handler runs on that part of the
 * collection as if it were the whole one: what it answers depends on those fields only
 * (HSET's fields added, HDEL's removed, SISMEMBER's answer). Its write of the part comes
 * back here through coll_store (large_part_store): the buckets' pages and the root with
 * the new count, one batch. A write declines (the whole collection is loaded and written
 * as a new version, which picks the number of buckets again) when the buckets are out of
 * balance: more than 128 elements or fewer than a quarter of an element per bucket on
 * average; and inside a transaction or a script, whose writes may not reach the engine
 * as one batch (a read there reads the buckets: a unit's large write puts its pages in the
 * engine ahead, only its root in the unit's overlay, which the root's read consults). */

static int elem_key(uint8_t vtype, const uint8_t *e, size_t n, const uint8_t **k, size_t *kl);

static void part_free(struct part *pt)
{
    coll_buf_free(&pt->el);
    zt_free(&pt->zt);
    free(pt->zq);
    free(pt->zmem);
    free(pt);
}

static int part_balanced(const struct plist_root *root, uint64_t nb)
{
    return root->count <= nb * 128 && (nb == 1 || root->count * 4 >= nb);
}

static void part_done(struct req *r);

static void part_fail(struct req *r, int rc)
{
    struct part *pt = r->pl->pt;
    if (rc == COLL_EBAD || rc == LS_ENOTFOUND)
        log_warning(
            "a large %s of db %u is damaged: version %llu, bucket %llu of %llu (%s)",
            cmd_type_name(pt->vtype), r->db, (unsigned long long)pt->root.version,
            (unsigned long long)(r->pl->rd.next < pt->nbk ? pt->bk[r->pl->rd.next] : pt->nb),
            (unsigned long long)pt->nb, rc == LS_ENOTFOUND ? "missing" : "does not decode");
    uint8_t vtype = pt->vtype;
    r->want_type = pt->want_type;
    large_op_free(r);
    large_read_fail_reply(r, rc, vtype);
}

void large_part_whole(struct req *r)
{
    struct part *pt = r->pl->pt;
    uint8_t rootv[PLIST_ROOT_MAX];
    struct ls_item it = {.value = rootv,
                         .value_len = (uint32_t)plist_root_encode(&pt->root, rootv),
                         .expire_ms = pt->expire_ms,
                         .flags = pt->flags,
                         .cas = pt->cas,
                         .vtype = pt->vtype};
    ls_get_cb cb = pt->cb;
    r->want_type = pt->want_type;
    large_op_free(r);
    large_list_read(r, 0, &it, cb);
}

/* The handler runs on the buckets (and a sorted set's paths) read as if they were the
 * whole collection. */
static void part_run(struct req *r)
{
    struct part *pt = r->pl->pt;
    struct coll_buf v;
    int rc = small_form(pt->root.flags, pt->got, &pt->el, pt->vtype == COLL_ZSET, &v);
    if (rc != 0) {
        part_fail(r, rc);
        return;
    }
    struct ls_item it = {.value = v.p,
                         .value_len = (uint32_t)v.len,
                         .expire_ms = pt->expire_ms,
                         .flags = pt->flags,
                         .cas = pt->cas,
                         .vtype = pt->vtype};
    r->want_type = pt->want_type;
    pt->active = r->part_write; /* its coll_store comes to large_part_store */
    pt->cb(r, 0, &it);          /* r may be gone when it returns */
    coll_buf_free(&v);
}

/* Every bucket read: the handler runs on them (part_run), a sorted set's write once the
 * tree's paths it may change are read too; or, when a hash's or set's write could pass
 * one batch (its buckets, the arguments and their framing, the root), on the whole
 * collection after all (a sorted set's write checks its batch once it is made). */
static void part_done(struct req *r)
{
    struct part *pt = r->pl->pt;
    if (r->part_write && !pt->tree) {
        uint64_t bytes = pt->el.len + (uint64_t)pt->nbk * 64 + 256;
        for (uint32_t i = 2; i < r->argc; i++)
            bytes += r->argv[i].len + 16;
        if (bytes > ls_batch_max_bytes(r->c->srv->eng) / 2) {
            large_part_whole(r);
            return;
        }
    }
    if (!pt->tree || !r->part_write) {
        part_run(r);
        return;
    }
    if (zpart_queries(r, pt) < 0) {
        part_fail(r, -ENOMEM);
        return;
    }
    zread_start(r, &pt->root, &pt->zt, pt->zq, pt->nzq, part_run, part_fail);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void part_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct plist_root root;
    uint64_t nb = 0, bk[PART_MAX_BUCKETS];
    uint32_t nbk = 0;
    int native = rc == 0 && large_is_root(it->vtype, it->value, it->value_len) &&
                 plist_root_decode(it->value, it->value_len, &root) == 0 &&
                 (root.flags & PLIST_F_HASHED); /* in a unit too: large_unit_write */
    if (native) {
        nb = root.tail - root.head + 1;
        native = !r->part_write || part_balanced(&root, nb);
    }
    if (native && it->vtype == COLL_ZSET) /* a sorted set's write: a few members, each of a
                                             length its tree takes (else a new version) */
        native = (root.flags & PLIST_F_TREE) && (!r->part_write || large_zset_part_fits(r));
    for (uint32_t i = r->part_first; native && i < r->argc; i += r->part_step) {
        bk[nbk++] = plist_bucket(r->argv[i].ptr, r->argv[i].len, nb);
        qsort(bk, nbk, sizeof(*bk), cmp_u64);
        uint32_t k = 0;
        for (uint32_t j = 0; j < nbk; j++)
            if (k == 0 || bk[j] != bk[k - 1])
                bk[k++] = bk[j];
        nbk = k;
        if (r->part_step == 0)
            break;
        native = nbk < PART_MAX_BUCKETS || i + r->part_step >= r->argc;
    }
    struct large_op *o = native && r->pl == NULL ? large_op_get(r) : NULL;
    struct part *pt = o ? calloc(1, sizeof(*pt)) : NULL;
    if (pt == NULL) {
        if (o)
            large_op_free(r);
        large_list_read(r, rc, it, r->coll_cb); /* the whole collection */
        return;
    }
    o->pt = pt;
    pt->root = root;
    pt->expire_ms = it->expire_ms;
    pt->cas = it->cas;
    pt->flags = it->flags;
    pt->vtype = it->vtype;
    pt->want_type = r->want_type;
    pt->cb = r->coll_cb;
    pt->nb = nb;
    memcpy(pt->bk, bk, nbk * sizeof(*bk));
    pt->nbk = nbk;
    pt->tree = (root.flags & PLIST_F_TREE) != 0;
    read_pages(r, &pt->root, pt->bk, nbk, &pt->el, &pt->got, part_done, part_fail);
}

struct part *large_part_new(struct req *r, const struct ls_item *it, const struct plist_root *root,
                            ls_get_cb cb)
{
    struct large_op *o = large_op_get(r);
    struct part *pt = o && o->pt == NULL ? calloc(1, sizeof(*pt)) : NULL;
    if (pt == NULL)
        return NULL;
    o->pt = pt;
    pt->root = *root;
    pt->expire_ms = it->expire_ms;
    pt->cas = it->cas;
    pt->flags = it->flags;
    pt->vtype = it->vtype;
    pt->want_type = r->want_type;
    pt->cb = cb;
    pt->nb = root->tail - root->head + 1;
    pt->tree = (root->flags & PLIST_F_TREE) != 0;
    return pt;
}

int large_part_bucket(struct part *pt, const void *m, size_t len)
{
    uint64_t b = plist_bucket(m, len, pt->nb);
    for (uint32_t i = 0; i < pt->nbk; i++)
        if (pt->bk[i] == b)
            return 0;
    if (pt->nbk == PART_MAX_BUCKETS)
        return -1;
    pt->bk[pt->nbk++] = b;
    qsort(pt->bk, pt->nbk, sizeof(*pt->bk), cmp_u64);
    return 0;
}

void large_part_read(struct req *r)
{
    struct part *pt = r->pl->pt;
    read_pages(r, &pt->root, pt->bk, pt->nbk, &pt->el, &pt->got, part_done, part_fail);
}

void large_part_get(struct req *r, const struct resp_arg *key, ls_get_cb cb, uint32_t first,
                    uint32_t step, int write)
{
    r->coll_cb = cb;
    r->part_first = (uint8_t)first;
    r->part_step = (uint8_t)step;
    r->part_write = (uint8_t)write;
    /* The key stays locked from the root's read to the last page's, also for a read-only
     * command (whose lock would go once its first read is submitted): else a write in
     * between changes a bucket under it (a page that disagrees with the root read). */
    r->hold_claim = 1;
    cmd_get(r, key, part_cb);
}

int large_part_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                     const void *enc, size_t len, int cls, const char *event,
                     enum cmd_reply_mode mode)
{
    struct part *pt = r->pl ? r->pl->pt : NULL;
    if (pt == NULL || !pt->active)
        return 0;
    pt->active = 0;
    size_t *off = NULL, n = 0;
    int rc = len ? coll_spans(pt->vtype, enc, len, &off, &n) : 0;
    uint64_t total = pt->root.count - pt->got + n;
    if (rc == 0 && total == 0) { /* the last one went: the key goes (coll_store deletes) */
        free(off);
        return 0;
    }
    /* each element into its bucket's page */
    struct coll_buf pg[PART_MAX_BUCKETS];
    uint64_t cnt[PART_MAX_BUCKETS] = {0};
    uint8_t keys[PART_MAX_BUCKETS][PLIST_PAGE_KEY_LEN], rootv[PLIST_ROOT_MAX], *zmem = NULL;
    struct ls_batch_op *ops = calloc(pt->nbk + 1, sizeof(*ops));
    struct zt_out zout = {0};
    memset(pg, 0, sizeof(pg));
    if (ops == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const uint8_t *k, *e = (const uint8_t *)enc + off[i];
        size_t kl, el = off[i + 1] - off[i];
        uint64_t b;
        if (elem_key(pt->vtype, e, el, &k, &kl) < 0) {
            rc = COLL_EBAD;
            break;
        }
        b = plist_bucket(k, kl, pt->nb);
        uint64_t *at = bsearch(&b, pt->bk, pt->nbk, sizeof(*pt->bk), cmp_u64);
        if (at == NULL) /* a field no argument named: not this command's part */
            rc = COLL_EBAD;
        else if (large_buf_append(&pg[at - pt->bk], e, el) < 0)
            rc = -ENOMEM;
        else
            cnt[at - pt->bk]++;
    }
    free(off);
    uint32_t nops = 0;
    for (uint32_t j = 0; j < pt->nbk && rc == 0; j++) {
        uint8_t hdr[11];
        hdr[0] = COLL_VERSION;
        size_t h = 1 + coll_varint_put(hdr + 1, cnt[j]);
        struct coll_buf v = {0};
        if (large_buf_append(&v, hdr, h) < 0 || large_buf_append(&v, pg[j].p, pg[j].len) < 0) {
            coll_buf_free(&v);
            rc = -ENOMEM;
            break;
        }
        coll_buf_free(&pg[j]);
        pg[j] = v;
        plist_page_key(pt->root.version, pt->root.head + pt->bk[j], keys[j]);
        ops[nops++] = (struct ls_batch_op){.table = large_page_table(r->c->srv),
                                           .key = keys[j],
                                           .key_len = PLIST_PAGE_KEY_LEN,
                                           .value = v.p,
                                           .value_len = v.len,
                                           .opts = {.vtype = LARGE_VT_PAGE}};
    }
    struct plist_root root = pt->root;
    if (rc == 0 && pt->tree) /* a sorted set: its tree's pages too */
        rc = zpart_apply(r, pt, key, enc, len, &root, &ops, &nops, &zout, &zmem);
    uint64_t bytes = 0;
    for (uint32_t j = 0; j < nops && rc == 0; j++)
        bytes += ls_record_size(ops[j].key_len, ops[j].value_len);
    if (rc == 0 &&
        bytes + ls_record_size(key->len, PLIST_ROOT_MAX) > ls_batch_max_bytes(r->c->srv->eng))
        rc = LARGE_ETOOBIG;
    if (rc == COLL_EBAD && pt->tree)
        rc = LARGE_ETOOBIG; /* a path its change took was not read: the whole set instead */
    if (rc == 0) {
        const struct rconfig_live *lv = rconfig_live();
        root.count = total;
        if (len && (((const uint8_t *)enc)[0] & COLL_F_BIG))
            root.flags |= COLL_F_BIG;
        if ((pt->vtype == COLL_HASH && total > lv->hash_max_listpack_entries) ||
            (pt->vtype == COLL_SET && total > lv->set_max_intset_entries) ||
            (pt->vtype == COLL_ZSET && total > lv->zset_max_listpack_entries))
            root.flags |= COLL_F_BIG; /* as Redis converts, by the whole count */
        ops[nops++] = (struct ls_batch_op){
            .table = r->db,
            .key = key->ptr,
            .key_len = key->len,
            .value = rootv,
            .value_len = plist_root_encode(&root, rootv),
            .opts = {.expire_ms = it->expire_ms, .flags = it->flags, .vtype = pt->vtype}};
        r->step = mode;
        if (event) /* published once the batch is submitted, as cmd_put does */
            pubsub_arm(r, cls, event);
        if (pt->vtype == COLL_ZSET)
            block_signal(r->c->srv, r->db, key->ptr, key->len);
        rc = large_unit_write(r, key, ops, nops, cmd_write_cb);
        pubsub_put_submitted(r, key, rc == 0);
    }
    for (uint32_t j = 0; j < pt->nbk; j++)
        coll_buf_free(&pg[j]);
    zt_out_free(&zout);
    free(zmem);
    free(ops);
    if (rc == 0) {
        req_unlock(r);
        return 1;
    }
    if (rc == LARGE_ETOOBIG) { /* too large a change for one batch: a new version */
        large_part_whole(r);
        return 1;
    }
    if (rc == COLL_EBAD)
        reply_error(r, ERR_LARGE_DAMAGED);
    else if (rc == -ENOMEM)
        reply_error(r, "ERR out of memory");
    else
        reply_engine_error(r, rc);
    req_done(r);
    return 1;
}

/* ---- building ---- */

size_t large_stream_root_max(const struct server *s)
{
    /* room in a batch for two pages (XADD's tail and an exact trim's cut) and the rest */
    size_t b = ls_batch_max_bytes(s->eng), room = 2 * large_page_max(s) + 1024;
    size_t m = b > 4 * room ? b - room : b / 4;
    return m < s->cfg.max_value_size ? m : (size_t)s->cfg.max_value_size;
}

/* A stream past a page (8 KiB, or max_value_size when smaller) or 128 entries, with
 * at least one entry (a root counts at least one), whose root (its meta: groups and
 * pending entries) fits large_stream_root_max; else it stays one record. */
static int stream_large_needed(const struct server *s, const uint8_t *enc, size_t len)
{
    uint64_t n;
    if (len < 2 || enc[0] != STREAM_VERSION || coll_varint_get(enc + 1, len - 1, &n) == 0 ||
        n == 0 || (len <= large_page_max(s) && n <= PLIST_PAGE_ELEMS))
        return 0;
    size_t m = stream_meta_len(enc, len);
    return m && PLIST_ROOT_LEN + m <= large_stream_root_max(s);
}

int large_needed(const struct server *s, uint8_t vtype, const uint8_t *enc, size_t len)
{
    uint64_t n;
    if (vtype == COLL_STREAM)
        return stream_large_needed(s, enc, len);
    if (vtype < COLL_HASH || vtype > COLL_ZSET || len < 2 ||
        coll_varint_get(enc + 1, len - 1, &n) == 0)
        return 0;
    if (len > s->cfg.max_value_size)
        return 1;
    /* A hash Redis keeps as a listpack, a set it keeps as an intset (bounded by their
     * hash-max-listpack-* and set-max-intset-entries limits: 512 short fields, 512
     * integers): one record, whose update writes it whole; buckets would too, each time
     * as a new version for the reaper. */
    if (vtype != COLL_LIST && !(enc[0] & COLL_F_BIG))
        return 0;
    /* A sorted set with a member too long for its tree is one record up to max_value_size
     * (past it, runs that every command loads). */
    return !coll_small_fits(n, len) && (vtype != COLL_ZSET || large_zset_tree_fits(enc, len));
}

/* The number of buckets of a hashed collection of n elements taking `bytes`: about
 * LARGE_BUCKET_ELEMS elements and at most a quarter of a page's bytes each on average
 * (small buckets: a point update writes little, and a command naming a few dozen
 * fields still fits one batch), and no
 * more buckets than elements. */
#define LARGE_BUCKET_ELEMS 32

static uint64_t buckets_for(const struct server *s, uint64_t n, uint64_t bytes)
{
    uint64_t nb = (n + LARGE_BUCKET_ELEMS - 1) / LARGE_BUCKET_ELEMS;
    uint64_t quarter = large_page_max(s) / 4, by = (bytes + quarter - 1) / quarter;
    if (by > nb)
        nb = by < n ? by : n; /* large elements: about one a bucket */
    return nb ? nb : 1;
}

/* The field or member of an element's encoding e (a hash's field, a set's member: its
 * first string; a sorted set's member, after its score). */
static int elem_key(uint8_t vtype, const uint8_t *e, size_t n, const uint8_t **k, size_t *kl)
{
    uint64_t l;
    if (vtype == COLL_ZSET) {
        if (n < 8)
            return -1;
        e += 8;
        n -= 8;
    }
    size_t h = coll_varint_get(e, n, &l);
    if (h == 0 || l > n - h)
        return -1;
    *k = e + h;
    *kl = (size_t)l;
    return 0;
}

/* A hashed collection's pages: order[] lists the elements bucket by bucket, per[b] how
 * many bucket b holds. 0, or COLL_EBAD. */
static int hash_layout(uint8_t vtype, const uint8_t *enc, const size_t *off, size_t n, uint64_t nb,
                       size_t *order, size_t *per)
{
    uint64_t *bk = malloc(n * sizeof(*bk));
    size_t *at = calloc(nb + 1, sizeof(*at));
    int rc = bk && at ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const uint8_t *k;
        size_t kl;
        if (elem_key(vtype, enc + off[i], off[i + 1] - off[i], &k, &kl) < 0)
            rc = COLL_EBAD;
        else
            at[(bk[i] = plist_bucket(k, kl, nb)) + 1]++;
    }
    for (uint64_t b = 0; b < nb && rc == 0; b++) {
        per[b] = at[b + 1];
        at[b + 1] += at[b];
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        order[at[bk[i]]++] = i;
    free(bk);
    free(at);
    return rc;
}

int large_build(struct server *s, uint8_t vtype, const void *key, size_t key_len,
                const uint8_t *enc, size_t len, struct large_build *b)
{
    size_t *off = NULL, n = 0, *lens = NULL, *per = NULL, *order = NULL, pages;
    /* a hash Redis would keep as a listpack keeps its insertion order, an intset its
     * order: in runs (past max_value_size only) */
    int hashed = (vtype == COLL_SET || vtype == COLL_HASH) && (enc[0] & COLL_F_BIG);
    /* a sorted set: buckets (member to score) and a tree in score order (large_zset.c) */
    int tree = vtype == COLL_ZSET && large_zset_tree_fits(enc, len);
    struct zt_out zo = {0};
    struct coll_zel *ze = NULL;
    hashed |= tree;
    memset(b, 0, sizeof(*b));
    b->s = s;
    /* a stream: its entries in pages as a list's elements, its meta after the root */
    int stream = vtype == COLL_STREAM;
    size_t meta_off = 0, meta_len = 0;
    int rc = stream ? stream_spans(enc, len, &meta_off, &off, &n)
                    : coll_spans(vtype, enc, len, &off, &n);
    if (rc == 0 && n == 0)
        rc = COLL_EBAD; /* an empty stream stays one record (large_needed) */
    if (rc != 0) {
        free(off);
        return rc == -2 ? -1 : COLL_EBAD;
    }
    if (stream)
        meta_len = off[0] - meta_off;
    uint64_t nb = hashed ? buckets_for(s, n, len) : 0;
    lens = malloc(n * sizeof(*lens));
    order = malloc(n * sizeof(*order));
    per = malloc((hashed && nb > n ? nb : n) * sizeof(*per));
    if (lens == NULL || per == NULL || order == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        lens[i] = off[i + 1] - off[i];
        order[i] = i;
    }
    if (hashed) {
        if ((rc = hash_layout(vtype, enc, off, n, nb, order, per)) != 0)
            goto fail;
        pages = (size_t)nb;
    } else {
        pages = plist_split_raw(lens, n, large_page_max(s), per);
    }
    struct plist_anchor a = {key, key_len, PLIST_MID, PLIST_MID + pages - 1};
    /* room: anchor key + value, then per page its key, header and elements */
    size_t room = PLIST_ANCHOR_KEY_LEN + plist_anchor_len(&a) +
                  pages * (PLIST_PAGE_KEY_LEN + 1 + 10) + (len - off[0]) +
                  (stream ? PLIST_ROOT_LEN + meta_len : 0);
    if (tree) { /* its pages numbered down from the buckets' */
        size_t zn;
        uint8_t zf;
        struct zt_tree t;
        rc = coll_zset_decode(enc, len, 0, &ze, &zn, &zf);
        if (rc == 0 && (rc = zt_new(&t, ze, zn, PLIST_MID - 1)) == 0)
            rc = zt_commit(&t, &zo);
        zt_free(&t);
        if (rc != 0) {
            rc = rc == -2 ? -1 : COLL_EBAD;
            goto fail;
        }
        a.lo = zo.next + 1 - LARGE_TREE_SPARE; /* room to split into */
        for (size_t i = 0; i < zo.nw; i++)
            room += PLIST_PAGE_KEY_LEN + zo.w[i].v.len;
    }
    b->mem = malloc(room);
    b->ops = calloc(pages + zo.nw + 1, sizeof(*b->ops));
    if (b->mem == NULL || b->ops == NULL)
        goto oom;
    b->version = ls_new_version(s->eng);
    if (writing_add(s, b->version) < 0)
        goto oom;
    uint8_t *m = b->mem;
    plist_anchor_key(b->version, m);
    b->ops[0] = (struct ls_batch_op){.table = large_anchor_table(s),
                                     .key = m,
                                     .key_len = PLIST_ANCHOR_KEY_LEN,
                                     .opts = {.vtype = LARGE_VT_ANCHOR}};
    m += PLIST_ANCHOR_KEY_LEN;
    b->ops[0].value = m;
    b->ops[0].value_len = plist_anchor_encode(&a, m);
    m += b->ops[0].value_len;
    for (size_t p = 0, at = 0; p < pages; at += per[p], p++) {
        struct ls_batch_op *op = &b->ops[1 + p];
        plist_page_key(b->version, PLIST_MID + p, m);
        *op = (struct ls_batch_op){.table = large_page_table(s),
                                   .key = m,
                                   .key_len = PLIST_PAGE_KEY_LEN,
                                   .opts = {.vtype = LARGE_VT_PAGE}};
        m += PLIST_PAGE_KEY_LEN;
        /* a page: the small form of its elements, without the header's flags */
        op->value = m;
        m[0] = COLL_VERSION;
        m += 1 + coll_varint_put(m + 1, per[p]);
        for (size_t i = at; i < at + per[p]; i++) {
            memcpy(m, enc + off[order[i]], lens[order[i]]);
            m += lens[order[i]];
        }
        op->value_len = (size_t)(m - (const uint8_t *)op->value);
    }
    for (size_t i = 0; i < zo.nw; i++) {
        struct ls_batch_op *op = &b->ops[1 + pages + i];
        plist_page_key(b->version, zo.w[i].page, m);
        *op = (struct ls_batch_op){.table = large_page_table(s),
                                   .key = m,
                                   .key_len = PLIST_PAGE_KEY_LEN,
                                   .value = m + PLIST_PAGE_KEY_LEN,
                                   .value_len = zo.w[i].v.len,
                                   .opts = {.vtype = LARGE_VT_PAGE}};
        memcpy(m + PLIST_PAGE_KEY_LEN, zo.w[i].v.p, zo.w[i].v.len);
        m += PLIST_PAGE_KEY_LEN + zo.w[i].v.len;
    }
    b->n = (uint32_t)(pages + zo.nw) + 1;
    struct plist_root root = {
        .flags = stream ? PLIST_F_STREAM
                        : (uint8_t)((enc[0] & COLL_F_BIG) | (hashed ? PLIST_F_HASHED : 0)),
        .version = b->version,
        .count = n,
        .head = PLIST_MID,
        .tail = PLIST_MID + pages - 1,
        .lo = a.lo,
        .hi = PLIST_MID + pages - 1};
    if (tree) {
        root.flags |= PLIST_F_TREE;
        root.top = zo.top;
        root.next = zo.next;
        root.depth = zo.depth;
    }
    b->root_len = plist_root_encode(&root, b->root);
    b->rootv = b->root;
    if (stream) { /* the root, then the meta, in mem */
        memcpy(m, b->root, b->root_len);
        memcpy(m + b->root_len, enc + meta_off, meta_len);
        b->rootv = m;
        b->root_len += meta_len;
    }
    zt_out_free(&zo);
    free(ze);
    free(off);
    free(lens);
    free(per);
    free(order);
    return 0;
oom:
    rc = -1;
fail:
    zt_out_free(&zo);
    free(ze);
    free(off);
    free(lens);
    free(per);
    free(order);
    free(b->mem);
    free(b->ops);
    memset(b, 0, sizeof(*b));
    return rc;
}

void large_build_free(struct large_build *b)
{
    if (b->s && b->version)
        writing_del(b->s, b->version);
    free(b->mem);
    free(b->ops);
    memset(b, 0, sizeof(*b));
}

/* ---- writing ahead of the root ---- */

static void flush_next(struct req *r);

static void flush_end(struct req *r, int rc)
{
    struct large_op *o = r->pl;
    o->b = NULL;
    r->writes_ahead = 0;
    o->done(r, rc);
}

static void barrier_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    flush_end(r, rc);
}

static void ahead_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    struct large_op *o = r->pl;
    (void)cas;
    if (rc != 0) {
        flush_end(r, rc);
        return;
    }
    o->at += o->sent;
    o->sent = 0;
    flush_next(r);
}

static void flush_next(struct req *r)
{
    struct large_op *o = r->pl;
    struct large_build *b = o->b;
    struct ls_engine *e = r->c->srv->eng;
    if (o->at == b->n) { /* all ahead: the barrier, then the root may go */
        b->n = 0;
        int rc = ls_sync(e, barrier_cb, r);
        if (rc < 0)
            flush_end(r, rc);
        return;
    }
    uint32_t max = ls_batch_max_bytes(e), k = 0;
    uint64_t bytes = 0;
    while (o->at + k < b->n) {
        uint64_t one = ls_batch_bytes(&b->ops[o->at + k], 1);
        if (k > 0 && bytes + one > max)
            break;
        bytes += one;
        k++;
    }
    o->sent = k;
    int rc = bytes > max ? LS_ETOOBIG : park_batch(r, &b->ops[o->at], k, ahead_cb);
    if (rc == LS_ETOOBIG) { /* one page larger than a batch: a record alone is atomic */
        const struct ls_batch_op *op = &b->ops[o->at];
        rc = ls_put(e, op->table, op->key, op->key_len, op->value, op->value_len, &op->opts,
                    ahead_cb, r);
    }
    if (rc != 0)
        flush_end(r, rc);
}

/* ---- large_write ---- */

static void nothing_cb(void *arg, int rc, uint64_t cas)
{
    (void)arg, (void)rc, (void)cas; /* the last write's callback answers */
}

static void write_end_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    ls_write_cb done = r->pl->wdone;
    if (r->parent && txn_batching(r)) /* the root is in the unit's overlay, not yet sent */
        for (uint32_t i = 0; i < r->pl->nput; i++)
            if (r->pl->build[i].version)
                writing_adopt(r->c->srv, r->pl->build[i].version, r->parent);
    reaper_wake(r->c->srv); /* the versions the keys held before, if any, are dead */
    large_op_free(r);       /* the versions written are no longer being written */
    done(r, rc == LS_ENOTFOUND ? 0 : rc, cas);
}

static void write_fail(struct req *r, int rc)
{
    ls_write_cb done = r->pl->wdone;
    large_op_free(r);
    done(r, rc, 0);
}

/* The final unit: every op left, then each key's root, value or delete. */
static void write_final(struct req *r)
{
    struct large_op *o = r->pl;
    struct server *s = r->c->srv;
    uint32_t n = 0;
    for (uint32_t i = 0; i < o->nput; i++)
        n += o->build[i].n + 1;
    struct ls_batch_op *ops = calloc(n, sizeof(*ops));
    if (ops == NULL) {
        write_fail(r, -ENOMEM);
        return;
    }
    n = 0;
    for (uint32_t i = 0; i < o->nput; i++) {
        const struct large_put *p = &o->put[i];
        for (uint32_t j = 0; j < o->build[i].n; j++)
            ops[n++] = o->build[i].ops[j];
        ops[n++] = (struct ls_batch_op){.del = p->n == 0,
                                        .table = p->db,
                                        .key = p->key->ptr,
                                        .key_len = p->key->len,
                                        .value = p->v,
                                        .value_len = p->n,
                                        .opts = p->opts};
    }
    for (uint32_t i = 0; i < n; i++)
        ops[i].opts.ordered = 1; /* a root the key's next write builds on: large_unit_write */
    for (uint32_t i = 0; i < o->nput; i++)
        s->stats.large_new_versions += o->build[i].version != 0;
    int rc = 0;
    if (txn_batching(r)) { /* the overlay: hidden records first, each key's last */
        /* Not a group: a new version may pass one batch, and its pages are new keys that
         * nothing names until its root, which goes last. Failed part way, its writes
         * leave the overlay again: the command answers an error, so none of them stays. */
        uint32_t mark = txn_mark(r);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct resp_arg k = {(char *)ops[i].key, ops[i].key_len};
            ls_write_cb cb = i + 1 == n ? write_end_cb : nothing_cb;
            rc = txn_write(r, ops[i].table, &k, ops[i].value, ops[i].value_len, &ops[i].opts,
                           ops[i].del, cb);
            if (rc == LS_ENOTFOUND && ops[i].del)
                rc = i + 1 == n ? (write_end_cb(r, 0, 0), 1) : 0;
        }
        free(ops);
        if (rc == 1)
            return; /* answered: the last was a delete of an absent key */
        if (rc == 0) {
            req_unlock(r);
        } else {
            txn_rollback(r, mark);
            write_fail(r, rc);
        }
        return;
    }
    for (uint32_t i = 0; i < o->nput; i++) { /* as park_put and park_del do */
        txn_touch(s, o->put[i].db, o->put[i].key->ptr, o->put[i].key->len);
        tracking_invalidate(r, o->put[i].key->ptr, o->put[i].key->len);
    }
    rc = park_batch(r, ops, n, write_end_cb);
    free(ops);
    if (rc == 0)
        req_unlock(r);
    else
        write_fail(r, rc);
}

static void ahead_done(struct req *r, int rc);

/* The next large put whose pages must go ahead, or the final unit. */
static void write_ahead(struct req *r)
{
    struct large_op *o = r->pl;
    while (o->ahead < o->nput && o->build[o->ahead].n == 0)
        o->ahead++;
    if (o->ahead == o->nput) {
        write_final(r);
        return;
    }
    uint64_t rest = 0; /* the records of the final unit besides this build's */
    for (uint32_t i = 0; i < o->nput; i++)
        rest += ls_record_size(o->put[i].key->len, o->put[i].n) +
                (i == o->ahead ? 0 : ls_batch_bytes(o->build[i].ops, o->build[i].n));
    struct large_build *b = &o->build[o->ahead];
    /* In a transaction's or script's overlay nothing is known of the batch the unit will
     * make (one, or one record at a time when too large, in no durable order): the pages
     * go ahead to the engine, always, and only the root joins the overlay. */
    if (!txn_batching(r) &&
        ls_batch_bytes(b->ops, b->n) + rest <= ls_batch_max_bytes(r->c->srv->eng)) {
        write_final(r);
        return;
    }
    o->b = b;
    r->writes_ahead = 1; /* its locks stay until the root is submitted (park.c) */
    o->at = 0;
    o->done = ahead_done;
    flush_next(r);
}

static void ahead_done(struct req *r, int rc)
{
    if (rc != 0) {
        write_fail(r, rc);
        return;
    }
    r->pl->ahead++;
    write_ahead(r);
}

void large_write(struct req *r, const struct large_put *puts, uint32_t k, ls_write_cb done)
{
    struct server *s = r->c->srv;
    struct large_op *o = large_op_get(r);
    if (o == NULL) {
        done(r, -ENOMEM, 0);
        return;
    }
    o->wdone = done;
    o->nput = k;
    for (uint32_t i = 0; i < k; i++) {
        struct large_put *p = &o->put[i];
        *p = puts[i];
        if (p->n && large_needed(s, p->opts.vtype, p->v, p->n)) {
            int rc =
                large_build(s, p->opts.vtype, p->key->ptr, p->key->len, p->v, p->n, &o->build[i]);
            if (rc != 0) {
                write_fail(r, rc == COLL_EBAD ? LS_EINVAL : -ENOMEM);
                return;
            }
            p->v = o->build[i].rootv;
            p->n = o->build[i].root_len;
        } else if (p->n) {
            if ((o->copy[i] = malloc(p->n)) == NULL) {
                write_fail(r, -ENOMEM);
                return;
            }
            memcpy(o->copy[i], p->v, p->n);
            p->v = o->copy[i];
        }
    }
    write_ahead(r);
}

int large_rename_anchor(const struct server *s, const uint8_t *v, size_t n,
                        const struct resp_arg *dst, struct ls_batch_op *op, uint8_t **mem)
{
    struct plist_root root;
    if (plist_root_decode(v, n, &root) < 0)
        return -1;
    struct plist_anchor a = {(const uint8_t *)dst->ptr, dst->len, root.lo, root.hi};
    uint8_t *m = malloc(PLIST_ANCHOR_KEY_LEN + plist_anchor_len(&a));
    if (m == NULL)
        return -1;
    plist_anchor_key(root.version, m);
    *op = (struct ls_batch_op){.table = large_anchor_table(s),
                               .key = m,
                               .key_len = PLIST_ANCHOR_KEY_LEN,
                               .value = m + PLIST_ANCHOR_KEY_LEN,
                               .value_len = plist_anchor_encode(&a, m + PLIST_ANCHOR_KEY_LEN),
                               .opts = {.vtype = LARGE_VT_ANCHOR}};
    *mem = m;
    return 0;
}

/* ---- native operations on a large list: only the pages they touch ---- */

/* A unit of writes for one key's list: the hidden records and the root's write last (its
 * callback, cb, answers). In a transaction's overlay, else one batch (WATCH and CLIENT
 * TRACKING told of the key). Returns 0 or an engine error (nothing written). */
int large_unit_write(struct req *r, const struct resp_arg *key, struct ls_batch_op *ops, uint32_t n,
                     ls_write_cb cb)
{
    for (uint32_t i = 0; i < n; i++)
        ops[i].opts.ordered = 1; /* why: below */
    r->c->srv->stats.large_part_writes++;
    if (txn_batching(r)) { /* a group: one batch even if the unit is written one by one */
        int rc = 0;
        txn_group_begin(r);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct resp_arg k = {(char *)ops[i].key, ops[i].key_len};
            rc = txn_write(r, ops[i].table, &k, ops[i].value, ops[i].value_len, &ops[i].opts,
                           ops[i].del, i + 1 == n ? cb : nothing_cb);
            if (rc == LS_ENOTFOUND && ops[i].del && i + 1 < n)
                rc = 0; /* a page already gone */
        }
        txn_group_end(r, rc == 0);
        return rc;
    }
    txn_touch(r->c->srv, r->db, key->ptr, key->len);
    tracking_invalidate(r, key->ptr, key->len);
    /* A native write's pages and root are one batch, and the key's next one is computed
     * from them while they may still be in flight: were the next one to reach the disk
     * first, a crash could keep it and lose this one (recovery applies intact later
     * buffers: FORMAT.md), leaving a root whose pages disagree. Ordered writes never pass
     * an earlier one on the way to the disk (ls_write_opts.ordered). */
    return park_batch(r, ops, n, cb);
}

struct native {
    struct plist_root root;
    uint8_t rootv[PLIST_ROOT_LEN]; /* the root as read: a fallback loads from it */
    uint64_t expire_ms, cas;
    uint32_t flags;
    const struct resp_arg *key;
    ls_get_cb fallback; /* the handler that loads the whole list instead */
    int right;          /* the end: 0 head, 1 tail */
    /* LRANGE/LINDEX */
    uint64_t from, to;     /* element indexes wanted, inclusive */
    int index;             /* LINDEX: one bulk, not an array */
    uint64_t pos;          /* index of the first element of the page read next */
    uint64_t page;         /* page read next */
    struct coll_buf *held; /* backward: pages kept, to emit in order */
    size_t nheld, capheld;
    /* pops */
    uint64_t want; /* elements to pop */
    int trim;      /* LTRIM: popped, not replied */
    /* LMOVE and its kin: the element popped goes to dkey's list (small or absent) */
    int move, to_right;
    const struct resp_arg *dkey;
    uint8_t *elem;
    size_t elen;
    struct native *dst; /* a large destination: its push, done with this pop in one unit */
    int counted;        /* a count was given: an array reply */
    uint64_t got;
    uint64_t emptied;     /* pages emptied */
    struct coll_buf rest; /* the partly popped page's remaining elements (small form) */
    /* LREM, LSET: the pages they change (held, their numbers in held_no), walked from
     * page in the direction of right, pos counting the elements passed */
    uint64_t *held_no;
    uint64_t held_bytes;
    uint64_t left;    /* LREM: removals still allowed (UINT64_MAX: every match) */
    uint64_t removed; /* LREM: removed so far */
    int lset;         /* LSET: the element at index `from` is replaced */
    int looping, waiting, finish, rc;
};

static void native_free(struct native *nv)
{
    if (nv->dst)
        native_free(nv->dst);
    free(nv->elem);
    for (size_t i = 0; i < nv->nheld; i++)
        coll_buf_free(&nv->held[i]);
    free(nv->held);
    free(nv->held_no);
    coll_buf_free(&nv->rest);
    free(nv);
}

/* A new, empty held page (numbered no), or NULL without memory. */
static struct coll_buf *held_next(struct native *nv, uint64_t no)
{
    if (nv->nheld == nv->capheld) {
        size_t cap = nv->capheld ? nv->capheld * 2 : 8;
        struct coll_buf *h = realloc(nv->held, cap * sizeof(*h));
        if (h == NULL)
            return NULL;
        nv->held = h;
        uint64_t *hn = realloc(nv->held_no, cap * sizeof(*hn));
        if (hn == NULL)
            return NULL;
        nv->held_no = hn;
        nv->capheld = cap;
    }
    nv->held_no[nv->nheld] = no;
    struct coll_buf *b = &nv->held[nv->nheld++];
    *b = (struct coll_buf){0};
    return b;
}

/* Give up the native way: the handler gets the whole list (large_list_read). */
static void native_fallback(struct req *r, struct native *nv)
{
    uint8_t rootv[PLIST_ROOT_LEN]; /* nv is freed below */
    memcpy(rootv, nv->rootv, sizeof(rootv));
    struct ls_item it = {.value = rootv,
                         .value_len = PLIST_ROOT_LEN,
                         .expire_ms = nv->expire_ms,
                         .flags = nv->flags,
                         .cas = nv->cas,
                         .vtype = COLL_LIST};
    ls_get_cb cb = nv->fallback;
    large_op_free(r);
    r->want_type = COLL_LIST;
    large_list_read(r, 0, &it, cb);
}

static void native_fail(struct req *r, int rc)
{
    large_op_free(r);
    if (rc == COLL_EBAD || rc == LS_ENOTFOUND)
        reply_error(r, ERR_LARGE_DAMAGED);
    else if (rc == -ENOMEM)
        reply_error(r, "ERR out of memory");
    else
        reply_engine_error(r, rc);
    req_done(r);
}

static struct native *native_new(struct req *r, const struct plist_root *root,
                                 const struct ls_item *it, const struct resp_arg *key,
                                 ls_get_cb fallback)
{
    struct large_op *o = r->pl ? NULL : large_op_get(r);
    struct native *nv = o ? calloc(1, sizeof(*nv)) : NULL;
    if (nv == NULL) {
        large_op_free(r);
        return NULL;
    }
    nv->root = *root;
    memcpy(nv->rootv, it->value, PLIST_ROOT_LEN);
    nv->expire_ms = it->expire_ms;
    nv->cas = it->cas;
    nv->flags = it->flags;
    nv->key = key;
    nv->fallback = fallback;
    o->nv = nv;
    return nv;
}

/* Reads page `page` of nv's list; cb gets it. The key stays locked meanwhile. */
static void page_read(struct req *r, struct native *nv, uint64_t page, ls_get_cb cb)
{
    uint8_t pk[PLIST_PAGE_KEY_LEN];
    plist_page_key(nv->root.version, page, pk);
    struct resp_arg key = {(char *)pk, sizeof(pk)};
    r->want_type = LARGE_VT_PAGE; /* checked when the read completes: left so */
    r->hold_claim = 1;
    mget_one(r, large_page_table(r->c->srv), &key, cb);
}

/* A list page read (rc its read's result): its elements (*e malloc'd, pointing into it),
 * or an error (*e NULL); a page missing or not decoding (an empty one among them) is
 * logged as damage. */
static int page_decode(struct req *r, int rc, const struct ls_item *it, struct coll_str **e,
                       size_t *n)
{
    *e = NULL;
    if (rc == 0) {
        rc = coll_list_decode(it->value, it->value_len, 0, e, n);
        if (rc == -2)
            rc = -ENOMEM;
        else if (rc != 0 || *n == 0)
            rc = COLL_EBAD;
        if (rc != 0) {
            free(*e);
            *e = NULL;
        }
    }
    if (rc == COLL_EBAD || rc == LS_ENOTFOUND) {
        const struct native *nv = r->pl->nv;
        log_warning("a large list of db %u is damaged: version %llu, a page of %lld..%lld %s",
                    r->db, (unsigned long long)nv->root.version,
                    (long long)(nv->root.head - PLIST_MID), (long long)(nv->root.tail - PLIST_MID),
                    rc == LS_ENOTFOUND ? "missing" : "does not decode");
    }
    return rc;
}

/* A page read: its elements (e malloc'd, pointing into it), or the error replied. */
static int page_of(struct req *r, int rc, const struct ls_item *it, struct coll_str **e, size_t *n)
{
    rc = page_decode(r, rc, it, e, n);
    if (rc != 0) {
        native_fail(r, rc);
        return -1;
    }
    return 0;
}

/* -- LRANGE, LINDEX -- */

static void range_emit(struct req *r, struct native *nv, const struct coll_str *e, size_t n,
                       uint64_t pos)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = pos + i;
        if (x >= nv->from && x <= nv->to)
            reply_check(r, resp_w_bulk(&r->tmp, e[i].p, e[i].len));
    }
}

static void range_done(struct req *r)
{
    large_op_free(r);
    reply_tmp(r);
    req_done(r);
}

static void range_page_cb(void *arg, int rc, const struct ls_item *it);

static void range_next(struct req *r)
{
    struct native *nv = r->pl->nv;
    page_read(r, nv, nv->page, range_page_cb);
}

static void range_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct native *nv = r->pl->nv;
    struct coll_str *e = NULL;
    size_t n = 0;
    if (page_of(r, rc, it, &e, &n) < 0)
        return;
    if (!nv->right) { /* forward from the head */
        range_emit(r, nv, e, n, nv->pos);
        nv->pos += n;
        free(e);
        if (nv->pos > nv->to || nv->page == nv->root.tail) {
            range_done(r);
            return;
        }
        nv->page++;
    } else {          /* backward from the tail: keep the pages, emit in order at the end */
        nv->pos -= n; /* the index of this page's first element */
        struct coll_buf *h = held_next(nv, nv->page);
        if (h == NULL || coll_list_encode(e, n, h) < 0) {
            free(e);
            native_fail(r, -ENOMEM);
            return;
        }
        free(e);
        if (nv->pos <= nv->from || nv->page == nv->root.head) {
            uint64_t pos = nv->pos;
            for (size_t k = nv->nheld; k-- > 0;) {
                struct coll_str *pe = NULL;
                size_t pn = 0;
                if (coll_list_decode(nv->held[k].p, nv->held[k].len, 0, &pe, &pn) != 0) {
                    native_fail(r, -ENOMEM);
                    return;
                }
                range_emit(r, nv, pe, pn, pos);
                pos += pn;
                free(pe);
            }
            range_done(r);
            return;
        }
        nv->page--;
    }
    range_next(r);
}

/* Decodes a large list's root and makes negative indexes count from its end (Redis's
 * rule): 0, or -1 when the root does not decode. */
static int root_indexes(const struct ls_item *it, struct plist_root *root, int64_t *start,
                        int64_t *stop)
{
    if (plist_root_decode(it->value, it->value_len, root) < 0)
        return -1;
    int64_t n = (int64_t)root->count;
    if (*start < 0)
        *start += n;
    if (*stop < 0)
        *stop += n;
    return 0;
}

int large_range(struct req *r, const struct ls_item *it, int64_t start, int64_t stop, int index,
                ls_get_cb fallback)
{
    struct plist_root root;
    if (root_indexes(it, &root, &start, &stop) < 0)
        return 0;
    int64_t n = (int64_t)root.count;
    if (index && (start < 0 || start >= n))
        start = n; /* LINDEX out of range: nil */
    if (start < 0)
        start = 0;
    if (stop >= n)
        stop = n - 1;
    pbuf_reset(&r->tmp);
    if (start > stop || start >= n) { /* nothing in range */
        reply_check(r, index ? resp_w_null(&r->tmp, r->proto) : resp_w_array(&r->tmp, 0));
        reply_tmp(r);
        req_done(r);
        return 1;
    }
    struct native *nv = native_new(r, &root, it, &r->argv[1], fallback);
    if (nv == NULL)
        return 0;
    nv->from = (uint64_t)start;
    nv->to = (uint64_t)stop;
    nv->index = index;
    if (!index)
        reply_check(r, resp_w_array(&r->tmp, (size_t)(stop - start + 1)));
    /* from the nearer end */
    nv->right = (uint64_t)start > root.count - 1 - (uint64_t)stop;
    nv->page = nv->right ? root.tail : root.head;
    nv->pos = nv->right ? root.count : 0;
    range_next(r);
    return 1;
}

/* -- pushes -- */

/* Widens the root's anchor range to cover [lo, hi] (with room for 63 more pages at the
 * end pushed), writing the anchor into *op. Returns 1 when the anchor must be written. */
static int anchor_widen(struct req *r, struct native *nv, uint64_t lo, uint64_t hi,
                        struct ls_batch_op *op, uint8_t *mem)
{
    struct plist_root *root = &nv->root;
    if (lo >= root->lo && hi <= root->hi)
        return 0;
    if (lo < root->lo)
        root->lo = lo > 63 ? lo - 63 : 0;
    if (hi > root->hi)
        root->hi = hi < UINT64_MAX - 63 ? hi + 63 : UINT64_MAX;
    struct plist_anchor a = {(const uint8_t *)nv->key->ptr, nv->key->len, root->lo, root->hi};
    plist_anchor_key(root->version, mem);
    *op = (struct ls_batch_op){.table = large_anchor_table(r->c->srv),
                               .key = mem,
                               .key_len = PLIST_ANCHOR_KEY_LEN,
                               .value = mem + PLIST_ANCHOR_KEY_LEN,
                               .value_len = plist_anchor_encode(&a, mem + PLIST_ANCHOR_KEY_LEN),
                               .opts = {.vtype = LARGE_VT_ANCHOR}};
    return 1;
}

static void native_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        reply_engine_error(r, rc);
    else
        reply_tmp(r);
    req_done(r);
}

/* The push's new elements in list order (LPUSH a b c: c b a), borrowed from argv. */
static struct coll_str *push_elems(struct req *r, int right, size_t *k)
{
    size_t add = r->argc - 2;
    struct coll_str *e = malloc((add ? add : 1) * sizeof(*e));
    if (e == NULL)
        return NULL;
    for (size_t i = 0; i < add; i++) {
        const struct resp_arg *a = &r->argv[2 + i];
        e[right ? i : add - 1 - i] = (struct coll_str){(const uint8_t *)a->ptr, a->len};
    }
    *k = add;
    return e;
}

struct pagebuf { /* pages being written: keys and encodings */
    uint8_t keys[PLIST_PAGE_KEY_LEN];
    struct coll_buf enc;
};

#define POP_MAX_PAGES 64 /* pages a native pop may empty (tombstones in its batch) */

static uint32_t pop_ops(struct req *r, struct native *nv, struct ls_batch_op *ops,
                        uint8_t (*keys)[PLIST_PAGE_KEY_LEN], uint8_t *rootv);

static void push_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    /* a push (r->pl->nv), or the destination side of a move (the source's dst) */
    struct native *src = r->pl->nv->dst ? r->pl->nv : NULL;
    struct native *nv = src ? src->dst : r->pl->nv;
    struct coll_str *old = NULL, *nw = NULL, *all = NULL;
    size_t on = 0, k = 0;
    struct pagebuf *pg = NULL;
    struct ls_batch_op *ops = NULL;
    size_t *lens = NULL, *per = NULL, npages = 0, extra = 0;
    uint8_t *amem = NULL;
    uint8_t(*skeys)[PLIST_PAGE_KEY_LEN] = NULL;
    if (page_of(r, rc, it, &old, &on) < 0)
        return;
    amem = malloc(PLIST_ANCHOR_KEY_LEN + 10 + nv->key->len + 16);
    if (src) { /* the element the source gave up */
        if ((nw = malloc(sizeof(*nw))) != NULL)
            nw[0] = (struct coll_str){src->elem, src->elen};
        k = 1;
    } else {
        nw = push_elems(r, nv->right, &k);
    }
    all = malloc((on + k) * sizeof(*all));
    lens = malloc((on + k) * sizeof(*lens));
    per = malloc((on + k) * sizeof(*per));
    if (nw == NULL || all == NULL || lens == NULL || per == NULL || amem == NULL)
        goto oom;
    /* The end page keeps its elements and takes as many new ones as fit next to them; the
     * rest go to new pages beyond it. Split from the end page outward: for LPUSH the
     * elements in reverse order, so that the pages nearest the old ones are the full ones. */
    size_t n = on + k;
    for (size_t i = 0; i < n; i++) { /* outward order: the end page's first */
        if (nv->right)
            all[i] = i < on ? old[i] : nw[i - on];
        else
            all[i] = i < on ? old[on - 1 - i] : nw[k - 1 - (i - on)];
        lens[i] = all[i].len;
    }
    /* the end page: its old elements and the new ones that fit with them */
    size_t keep = on;
    while (keep < n && keep < PLIST_PAGE_ELEMS &&
           plist_page_bytes(lens, keep + 1) <= large_page_max(r->c->srv))
        keep++;
    npages = keep > on ? 1 : 0; /* the end page rewritten */
    extra = n > keep ? plist_split(lens + keep, n - keep, large_page_max(r->c->srv), per) : 0;
    pg = calloc(npages + extra, sizeof(*pg));
    ops = calloc(npages + extra + 2 + (src ? POP_MAX_PAGES + 2 : 0), sizeof(*ops));
    if (src)
        skeys = malloc((POP_MAX_PAGES + 1) * sizeof(*skeys));
    if (pg == NULL || ops == NULL || (src && skeys == NULL))
        goto oom;
    uint64_t end = nv->right ? nv->root.tail : nv->root.head;
    uint32_t nops = 0;
    size_t at = keep;
    /* new pages, outward: page j gets number end +/- (j + 1) */
    for (size_t j = 0; j < extra; j++) {
        struct coll_str *chunk = all + at;
        size_t cn = per[j];
        if (!nv->right) { /* back to list order */
            for (size_t a = 0, b = cn - 1; a < b; a++, b--) {
                struct coll_str t = chunk[a];
                chunk[a] = chunk[b];
                chunk[b] = t;
            }
        }
        uint64_t no = nv->right ? end + j + 1 : end - j - 1;
        plist_page_key(nv->root.version, no, pg[j].keys);
        if (coll_list_encode(chunk, cn, &pg[j].enc) < 0)
            goto oom;
        ops[nops++] = (struct ls_batch_op){.table = large_page_table(r->c->srv),
                                           .key = pg[j].keys,
                                           .key_len = PLIST_PAGE_KEY_LEN,
                                           .value = pg[j].enc.p,
                                           .value_len = pg[j].enc.len,
                                           .opts = {.vtype = LARGE_VT_PAGE}};
        at += cn;
    }
    if (npages) { /* the end page, in list order */
        struct pagebuf *e = &pg[extra];
        if (!nv->right)
            for (size_t a = 0, b = keep - 1; a < b; a++, b--) {
                struct coll_str t = all[a];
                all[a] = all[b];
                all[b] = t;
            }
        plist_page_key(nv->root.version, end, e->keys);
        if (coll_list_encode(all, keep, &e->enc) < 0)
            goto oom;
        ops[nops++] = (struct ls_batch_op){.table = large_page_table(r->c->srv),
                                           .key = e->keys,
                                           .key_len = PLIST_PAGE_KEY_LEN,
                                           .value = e->enc.p,
                                           .value_len = e->enc.len,
                                           .opts = {.vtype = LARGE_VT_PAGE}};
    }
    uint64_t newend = nv->right ? end + extra : end - extra;
    if (anchor_widen(r, nv, nv->right ? nv->root.head : newend, nv->right ? newend : nv->root.tail,
                     &ops[nops], amem))
        nops++;
    if (nv->right)
        nv->root.tail = newend;
    else
        nv->root.head = newend;
    nv->root.count += k;
    uint8_t rootv[PLIST_ROOT_LEN];
    plist_root_encode(&nv->root, rootv);
    ops[nops++] = (struct ls_batch_op){
        .table = r->db,
        .key = nv->key->ptr,
        .key_len = nv->key->len,
        .value = rootv,
        .value_len = PLIST_ROOT_LEN,
        .opts = {.expire_ms = nv->expire_ms, .flags = nv->flags, .vtype = COLL_LIST}};
    uint8_t srootv[PLIST_ROOT_LEN];
    uint64_t bytes = ls_batch_bytes(ops, nops);
    int rc2 = 0;
    if (bytes + (src ? ls_batch_max_bytes(r->c->srv->eng) / 4 : 0) >
        ls_batch_max_bytes(r->c->srv->eng)) {
        rc2 = 1;      /* too large for one unit: the whole list is rewritten instead */
    } else if (src) { /* a move: the source's pop, then this push, one unit */
        pbuf_reset(&r->tmp);
        reply_check(r, resp_w_bulk(&r->tmp, src->elem, src->elen));
        nops += pop_ops(r, src, ops + nops, skeys, srootv);
        pubsub_notify(r, NOTIFY_LIST, nv->right ? "rpush" : "lpush", nv->key);
        block_signal(r->c->srv, r->db, nv->key->ptr, nv->key->len);
        txn_touch(r->c->srv, r->db, nv->key->ptr, nv->key->len);
        tracking_invalidate(r, nv->key->ptr, nv->key->len);
        rc2 = large_unit_write(r, src->key, ops, nops, native_write_cb);
        if (rc2 == 0)
            req_unlock(r);
    } else {
        pbuf_reset(&r->tmp);
        reply_check(r, resp_w_int(&r->tmp, (int64_t)nv->root.count));
        pubsub_notify(r, NOTIFY_LIST, nv->right ? "rpush" : "lpush", nv->key);
        block_signal(r->c->srv, r->db, nv->key->ptr, nv->key->len);
        rc2 = large_unit_write(r, nv->key, ops, nops, native_write_cb);
        if (rc2 == 0)
            req_unlock(r);
    }
    goto out;
oom:
    rc2 = -ENOMEM;
out:
    if (pg)
        for (size_t j = 0; j < npages + extra; j++)
            coll_buf_free(&pg[j].enc);
    free(pg);
    free(ops);
    free(old);
    free(nw);
    free(all);
    free(lens);
    free(per);
    free(amem);
    free(skeys);
    if (rc2 == 1)
        native_fallback(r, src ? src : nv);
    else if (rc2 != 0)
        native_fail(r, rc2);
    else
        large_op_free(r);
}

int large_push(struct req *r, const struct ls_item *it, int right, ls_get_cb fallback)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0)
        return 0;
    struct native *nv = native_new(r, &root, it, &r->argv[1], fallback);
    if (nv == NULL)
        return 0;
    nv->right = right;
    page_read(r, nv, right ? root.tail : root.head, push_page_cb);
    return 1;
}

/* -- pops -- */

/* The pop's records into ops (keys and root bytes in keys[] and rootv), and its events.
 * Returns their count. */
static uint32_t pop_ops(struct req *r, struct native *nv, struct ls_batch_op *ops,
                        uint8_t (*keys)[PLIST_PAGE_KEY_LEN], uint8_t *rootv)
{
    struct plist_root *root = &nv->root;
    uint32_t nops = 0;
    int emptied_all = nv->got == root->count;
    pubsub_notify(r, NOTIFY_LIST, nv->trim ? "ltrim" : nv->right ? "rpop" : "lpop", nv->key);
    if (emptied_all) {
        /* the root's delete: its version is dead, the reaper takes the pages */
        ops[nops++] = (struct ls_batch_op){
            .del = 1, .table = r->db, .key = nv->key->ptr, .key_len = nv->key->len};
        pubsub_notify(r, NOTIFY_GENERIC, "del", nv->key);
        reaper_wake(r->c->srv);
        return nops;
    }
    uint64_t end = nv->right ? root->tail : root->head;
    for (uint64_t j = 0; j < nv->emptied; j++) {
        uint64_t no = nv->right ? end - j : end + j;
        plist_page_key(root->version, no, keys[nops]);
        ops[nops] = (struct ls_batch_op){.del = 1,
                                         .table = large_page_table(r->c->srv),
                                         .key = keys[nops],
                                         .key_len = PLIST_PAGE_KEY_LEN};
        nops++;
    }
    uint64_t partial = nv->right ? end - nv->emptied : end + nv->emptied;
    if (nv->rest.len) { /* the page popped in part keeps the rest */
        plist_page_key(root->version, partial, keys[nops]);
        ops[nops] = (struct ls_batch_op){.table = large_page_table(r->c->srv),
                                         .key = keys[nops],
                                         .key_len = PLIST_PAGE_KEY_LEN,
                                         .value = nv->rest.p,
                                         .value_len = nv->rest.len,
                                         .opts = {.vtype = LARGE_VT_PAGE}};
        nops++;
    }
    if (nv->right)
        root->tail = partial;
    else
        root->head = partial;
    root->count -= nv->got;
    plist_root_encode(root, rootv);
    ops[nops++] = (struct ls_batch_op){
        .table = r->db,
        .key = nv->key->ptr,
        .key_len = nv->key->len,
        .value = rootv,
        .value_len = PLIST_ROOT_LEN,
        .opts = {.expire_ms = nv->expire_ms, .flags = nv->flags, .vtype = COLL_LIST}};
    return nops;
}

static void pop_write(struct req *r, struct native *nv)
{
    struct ls_batch_op ops[POP_MAX_PAGES + 2];
    uint8_t keys[POP_MAX_PAGES + 1][PLIST_PAGE_KEY_LEN];
    uint8_t rootv[PLIST_ROOT_LEN];
    if (nv->trim) {
        pbuf_reset(&r->tmp);
        reply_check(r, resp_w_simple(&r->tmp, "OK"));
    }
    uint32_t nops = pop_ops(r, nv, ops, keys, rootv);
    int rc = large_unit_write(r, nv->key, ops, nops, native_write_cb);
    large_op_free(r);
    if (rc == 0) {
        req_unlock(r);
        return;
    }
    reply_engine_error(r, rc);
    req_done(r);
}

/* -- LMOVE: a large source, a small (or absent) destination -- */

static void pop_page_cb(void *arg, int rc, const struct ls_item *it);

static void move_dst_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct native *nv = r->pl->nv;
    struct coll_str *e = NULL;
    size_t n = 0;
    if (rc != 0 && rc != LS_ENOTFOUND) { /* WRONGTYPE too: the element stays where it was */
        large_op_free(r);
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    if (rc == 0 && plist_is_root(it->value, it->value_len)) {
        /* a large destination: its end page takes the element (push_page_cb), and the
         * source's pop goes in the same unit */
        struct native *dn = calloc(1, sizeof(*dn));
        if (dn == NULL || plist_root_decode(it->value, it->value_len, &dn->root) < 0) {
            free(dn);
            native_fallback(r, nv);
            return;
        }
        memcpy(dn->rootv, it->value, PLIST_ROOT_LEN);
        dn->expire_ms = it->expire_ms;
        dn->cas = it->cas;
        dn->flags = it->flags;
        dn->key = nv->dkey;
        dn->right = nv->to_right;
        nv->dst = dn;
        page_read(r, dn, dn->right ? dn->root.tail : dn->root.head, push_page_cb);
        return;
    }
    int d = rc == 0 ? coll_list_decode(it->value, it->value_len, 1, &e, &n) : 0;
    if (rc != 0 && (e = malloc(sizeof(*e))) == NULL)
        d = -2;
    if (d != 0) {
        native_fail(r, d == -2 ? -ENOMEM : COLL_EBAD);
        return;
    }
    struct coll_str x = {nv->elem, nv->elen};
    if (nv->to_right) {
        e[n] = x;
    } else {
        memmove(e + 1, e, n * sizeof(*e));
        e[0] = x;
    }
    struct coll_buf dst = {0};
    int enc = coll_list_encode(e, n + 1, &dst);
    free(e);
    if (enc < 0) {
        native_fail(r, -ENOMEM);
        return;
    }
    if (large_needed(r->c->srv, COLL_LIST, dst.p,
                     dst.len)) { /* the destination outgrows the small form */
        coll_buf_free(&dst);
        native_fallback(r, nv);
        return;
    }
    struct ls_batch_op ops[POP_MAX_PAGES + 3];
    uint8_t keys[POP_MAX_PAGES + 1][PLIST_PAGE_KEY_LEN];
    uint8_t rootv[PLIST_ROOT_LEN];
    pbuf_reset(&r->tmp);
    reply_check(r, resp_w_bulk(&r->tmp, nv->elem, nv->elen));
    uint32_t nops = pop_ops(r, nv, ops, keys, rootv);
    ops[nops++] = (struct ls_batch_op){.table = r->db,
                                       .key = nv->dkey->ptr,
                                       .key_len = nv->dkey->len,
                                       .value = dst.p,
                                       .value_len = dst.len,
                                       .opts = {.expire_ms = rc == 0 ? it->expire_ms : 0,
                                                .flags = rc == 0 ? it->flags : 0,
                                                .vtype = COLL_LIST}};
    pubsub_notify(r, NOTIFY_LIST, nv->to_right ? "rpush" : "lpush", nv->dkey);
    block_signal(r->c->srv, r->db, nv->dkey->ptr, nv->dkey->len);
    txn_touch(r->c->srv, r->db, nv->dkey->ptr, nv->dkey->len);
    tracking_invalidate(r, nv->dkey->ptr, nv->dkey->len);
    int wrc = large_unit_write(r, nv->key, ops, nops, native_write_cb);
    coll_buf_free(&dst);
    large_op_free(r);
    if (wrc == 0) {
        req_unlock(r);
        return;
    }
    reply_engine_error(r, wrc);
    req_done(r);
}

int large_move(struct req *r, const struct ls_item *it, const struct resp_arg *src,
               const struct resp_arg *dst, int from_right, int to_right, ls_get_cb fallback)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0)
        return 0;
    struct native *nv = native_new(r, &root, it, src, fallback);
    if (nv == NULL)
        return 0;
    nv->right = from_right;
    nv->to_right = to_right;
    nv->move = 1;
    nv->dkey = dst;
    nv->want = 1;
    page_read(r, nv, from_right ? root.tail : root.head, pop_page_cb);
    return 1;
}

static void pop_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct native *nv = r->pl->nv;
    struct coll_str *e = NULL;
    size_t n = 0;
    if (page_of(r, rc, it, &e, &n) < 0)
        return;
    uint64_t take = nv->want - nv->got < n ? nv->want - nv->got : n;
    for (uint64_t i = 0; i < take; i++) {
        const struct coll_str *x = nv->right ? &e[n - 1 - i] : &e[i];
        if (nv->move) { /* the one element moved: kept for the destination */
            if ((nv->elem = malloc(x->len ? x->len : 1)) == NULL) {
                free(e);
                native_fail(r, -ENOMEM);
                return;
            }
            memcpy(nv->elem, x->p, x->len);
            nv->elen = x->len;
        } else if (!nv->trim) {
            reply_check(r, resp_w_bulk(&r->tmp, x->p, x->len));
        }
    }
    nv->got += take;
    if (take == n) {
        nv->emptied++;
    } else if (coll_list_encode(nv->right ? e : e + take, n - take, &nv->rest) < 0) {
        free(e);
        native_fail(r, -ENOMEM);
        return;
    }
    free(e);
    if (nv->got == nv->want || nv->got == nv->root.count || take < n) {
        if (nv->move) { /* the destination next, under the same locks */
            r->want_type = COLL_LIST;
            mget_one(r, r->db, nv->dkey, move_dst_cb);
            return;
        }
        pop_write(r, nv);
        return;
    }
    if (nv->emptied >= POP_MAX_PAGES) { /* too many pages for one unit: the whole list */
        pbuf_reset(&r->tmp);
        native_fallback(r, nv);
        return;
    }
    uint64_t end = nv->right ? nv->root.tail : nv->root.head;
    page_read(r, nv, nv->right ? end - nv->emptied : end + nv->emptied, pop_page_cb);
}

int large_pop(struct req *r, const struct ls_item *it, const struct resp_arg *key, int right,
              enum large_pop_reply mode, uint64_t count, ls_get_cb fallback)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0 || count == 0)
        return 0;
    struct native *nv = native_new(r, &root, it, key, fallback);
    if (nv == NULL)
        return 0;
    nv->right = right;
    nv->counted = mode != LARGE_POP_ONE;
    nv->want = count < root.count ? count : root.count;
    pbuf_reset(&r->tmp);
    if (mode == LARGE_POP_BLOCKING || mode == LARGE_POP_MULTI) { /* [key, ...] */
        reply_check(r, resp_w_array(&r->tmp, 2));
        reply_check(r, resp_w_bulk(&r->tmp, key->ptr, key->len));
    }
    if (mode == LARGE_POP_COUNT || mode == LARGE_POP_MULTI)
        reply_check(r, resp_w_array(&r->tmp, (size_t)nv->want));
    page_read(r, nv, right ? root.tail : root.head, pop_page_cb);
    return 1;
}

int large_trim(struct req *r, const struct ls_item *it, int64_t start, int64_t stop,
               ls_get_cb fallback)
{
    struct plist_root root;
    if (root_indexes(it, &root, &start, &stop) < 0)
        return 0;
    int64_t n = (int64_t)root.count;
    if (start < 0)
        start = 0;
    if (start > stop || start >= n)
        return 0; /* the whole list goes: the handler deletes it */
    if (stop >= n)
        stop = n - 1;
    uint64_t left = (uint64_t)start, right = (uint64_t)(n - 1 - stop);
    if (left == 0 && right == 0) { /* nothing trimmed: no write (Redis reports the event) */
        pubsub_notify(r, NOTIFY_LIST, "ltrim", &r->argv[1]);
        reply_ok(r);
        req_done(r);
        return 1;
    }
    if (left && right)
        return 0; /* both ends: the handler rewrites the list */
    struct native *nv = native_new(r, &root, it, &r->argv[1], fallback);
    if (nv == NULL)
        return 0;
    nv->right = right > 0;
    nv->trim = 1;
    nv->want = right ? right : left;
    pbuf_reset(&r->tmp);
    page_read(r, nv, nv->right ? root.tail : root.head, pop_page_cb);
    return 1;
}

/* -- LREM, LSET: the pages they change and the root, one unit -- */

static void edit_page_cb(void *arg, int rc, const struct ls_item *it);
static void edit_write(struct req *r, struct native *nv);

/* Reads nv->page and on in nv->right's direction until edit_page_cb finishes or fails;
 * pages from memory come back inside page_read, so this loops instead of recursing. */
static void edit_next(struct req *r)
{
    struct native *nv = r->pl->nv;
    nv->looping = 1;
    while (!nv->rc && !nv->finish) {
        nv->waiting = 1;
        page_read(r, nv, nv->page, edit_page_cb);
        if (nv->waiting) { /* from the device: edit_page_cb goes on */
            nv->looping = 0;
            return;
        }
    }
    nv->looping = 0;
    if (nv->rc == LARGE_ETOOBIG)
        native_fallback(r, nv); /* nothing written: the handler does it on the whole list */
    else if (nv->rc)
        native_fail(r, nv->rc);
    else
        edit_write(r, nv);
}

/* LREM: the page's matches dropped (in the walk's direction, up to nv->left); LSET: the
 * element replaced if the page holds index nv->from. A page changed is held for the
 * write; one emptied, grown past a page, or pages past half a batch: the whole list. */
static int edit_page(struct req *r, struct native *nv, struct coll_str *e, size_t n)
{
    size_t k = n;
    if (nv->lset) {
        if (nv->right)
            nv->pos -= n;
        if (nv->from < nv->pos || nv->from >= nv->pos + n) {
            if (!nv->right)
                nv->pos += n;
            return 0;
        }
        e[nv->from - nv->pos] = (struct coll_str){(const uint8_t *)r->argv[3].ptr, r->argv[3].len};
        nv->finish = 1;
    } else {
        size_t dropped = 0;
        uint8_t *drop = calloc(n, 1);
        if (drop == NULL)
            return -ENOMEM;
        for (size_t j = 0; j < n && nv->left; j++) {
            size_t i = nv->right ? n - 1 - j : j;
            if (e[i].len == r->argv[3].len &&
                (e[i].len == 0 || memcmp(e[i].p, r->argv[3].ptr, e[i].len) == 0)) {
                drop[i] = 1;
                dropped++;
                nv->left--;
            }
        }
        k = 0;
        for (size_t i = 0; i < n; i++)
            if (!drop[i])
                e[k++] = e[i];
        free(drop);
        if (dropped == 0)
            return 0;
        if (k == 0)
            return LARGE_ETOOBIG; /* an emptied page: the list is rewritten */
        nv->removed += dropped;
    }
    struct coll_buf *h = held_next(nv, nv->page);
    if (h == NULL || coll_list_encode(e, k, h) < 0)
        return -ENOMEM;
    nv->held_bytes += h->len + PLIST_PAGE_KEY_LEN + 64;
    if (h->len > large_page_max(r->c->srv) + 16 ||
        nv->held_bytes > ls_batch_max_bytes(r->c->srv->eng) / 2)
        return LARGE_ETOOBIG;
    return 0;
}

static void edit_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct native *nv = r->pl->nv;
    struct coll_str *e = NULL;
    size_t n = 0;
    nv->waiting = 0;
    rc = page_decode(r, rc, it, &e, &n);
    if (rc == 0)
        rc = edit_page(r, nv, e, n);
    free(e);
    nv->rc = rc;
    if (rc == 0 && !nv->finish) {
        if ((!nv->lset && nv->left == 0) || nv->page == (nv->right ? nv->root.head : nv->root.tail))
            nv->finish = 1;
        else
            nv->page = nv->right ? nv->page - 1 : nv->page + 1;
    }
    if (!nv->looping)
        edit_next(r);
}

static void edit_write(struct req *r, struct native *nv)
{
    pbuf_reset(&r->tmp);
    if (!nv->lset && nv->removed == 0) {
        large_op_free(r);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    if (nv->lset)
        reply_check(r, resp_w_simple(&r->tmp, "OK"));
    else
        reply_check(r, resp_w_int(&r->tmp, (int64_t)nv->removed));
    struct ls_batch_op *ops = calloc(nv->nheld + 1, sizeof(*ops));
    uint8_t(*keys)[PLIST_PAGE_KEY_LEN] = malloc((nv->nheld + 1) * sizeof(*keys));
    uint8_t rootv[PLIST_ROOT_LEN];
    int rc = -ENOMEM;
    if (ops && keys) {
        for (size_t i = 0; i < nv->nheld; i++) {
            plist_page_key(nv->root.version, nv->held_no[i], keys[i]);
            ops[i] = (struct ls_batch_op){.table = large_page_table(r->c->srv),
                                          .key = keys[i],
                                          .key_len = PLIST_PAGE_KEY_LEN,
                                          .value = nv->held[i].p,
                                          .value_len = nv->held[i].len,
                                          .opts = {.vtype = LARGE_VT_PAGE}};
        }
        nv->root.count -= nv->removed;
        plist_root_encode(&nv->root, rootv);
        ops[nv->nheld] = (struct ls_batch_op){
            .table = r->db,
            .key = nv->key->ptr,
            .key_len = nv->key->len,
            .value = rootv,
            .value_len = PLIST_ROOT_LEN,
            .opts = {.expire_ms = nv->expire_ms, .flags = nv->flags, .vtype = COLL_LIST}};
        pubsub_notify(r, NOTIFY_LIST, nv->lset ? "lset" : "lrem", nv->key);
        rc = large_unit_write(r, nv->key, ops, (uint32_t)nv->nheld + 1, native_write_cb);
    }
    free(ops);
    free(keys);
    large_op_free(r);
    if (rc == 0) {
        req_unlock(r);
        return;
    }
    if (rc == -ENOMEM)
        reply_error(r, "ERR out of memory");
    else
        reply_engine_error(r, rc);
    req_done(r);
}

int large_lrem(struct req *r, const struct ls_item *it, long long count, ls_get_cb fallback)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0)
        return 0;
    struct native *nv = native_new(r, &root, it, &r->argv[1], fallback);
    if (nv == NULL)
        return 0;
    nv->right = count < 0;
    nv->left = count == 0 ? UINT64_MAX : count < 0 ? (uint64_t)(-(count + 1)) + 1 : (uint64_t)count;
    nv->page = nv->right ? root.tail : root.head;
    edit_next(r);
    return 1;
}

int large_lset(struct req *r, const struct ls_item *it, long long index, ls_get_cb fallback)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0)
        return 0;
    long long n = (long long)root.count;
    if (index < 0)
        index += n;
    if (index < 0 || index >= n) {
        reply_error(r, "ERR index out of range");
        req_done(r);
        return 1;
    }
    struct native *nv = native_new(r, &root, it, &r->argv[1], fallback);
    if (nv == NULL)
        return 0;
    nv->lset = 1;
    nv->from = (uint64_t)index;
    nv->right = nv->from > root.count - 1 - nv->from; /* from the nearer end */
    nv->page = nv->right ? root.tail : root.head;
    nv->pos = nv->right ? root.count : 0;
    edit_next(r);
    return 1;
}

int large_llen(struct req *r, const struct ls_item *it)
{
    struct plist_root root;
    if (plist_root_decode(it->value, it->value_len, &root) < 0)
        return 0;
    reply_int(r, (int64_t)root.count);
    req_done(r);
    return 1;
}
