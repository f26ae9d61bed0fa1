/*
 * large_int.h - what large.c and large_zset.c share of a request's large-collection
 * state (not for other modules: large.h is the interface).
 */
#ifndef LS_SERVER_LARGE_INT_H
#define LS_SERVER_LARGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"
#include "conn.h"
#include "large.h"
#include "plist.h"
#include "ztree.h"

struct native;
struct zread;
struct xnative;
struct xrange_rd;

#define ERR_LARGE_DAMAGED "ERR data corruption detected while reading the key (large form)"
#define LARGE_ETOOBIG     (-30001)

#define PART_MAX_BUCKETS 64 /* more buckets named: the whole collection instead */

/* Reading pages of one version in steps: pages head..tail in order (bk NULL), or the
 * buckets head + bk[0..n); their elements appended to *el, counted in *got; then done(r),
 * or fail(r, rc) at the first error. */
struct page_read {
    const struct plist_root *root;
    const uint64_t *bk;
    uint64_t n, next; /* pages to read; the index of the next */
    struct coll_buf *el;
    uint64_t *got;
    int looping, waiting, rc;
    void (*done)(struct req *r);
    void (*fail)(struct req *r, int rc);
};

struct large_op {
    /* loading: the root, the pages read so far as one small form being built */
    ls_get_cb cb;
    struct plist_root root;
    uint64_t expire_ms, cas;
    uint32_t flags;
    uint8_t vtype, want_type;
    uint8_t *meta; /* a stream's meta, copied from its root (proto/stream.h) */
    size_t meta_len;
    uint64_t got;        /* elements gathered */
    struct coll_buf el;  /* their encodings, end to end */
    struct page_read rd; /* the pages being read: the load's, or a part's buckets */
    /* writing ahead of a root */
    struct large_build *b;
    uint32_t at;   /* b's next op to write */
    uint32_t sent; /* ops of the batch in flight */
    large_done_fn done;
    /* large_write: its keys' writes, their builds, the batch */
    struct large_put put[2];
    struct large_build build[2];
    uint8_t *copy[2]; /* small values, copied */
    uint32_t nput, ahead;
    ls_write_cb wdone;
    struct native *nv;    /* a native operation's state */
    struct part *pt;      /* a hashed collection's buckets at stake (large_part_get) */
    struct zread *zr;     /* a sorted set's tree being read (large_zset.c) */
    struct xnative *xn;   /* a large stream's native command (large_stream.c) */
    struct xrange_rd *xr; /* a large stream's range being read (large_stream.c) */
};

struct part {
    struct plist_root root;
    uint64_t expire_ms, cas;
    uint32_t flags;
    uint8_t vtype, want_type;
    ls_get_cb cb;
    uint64_t nb;                   /* buckets */
    uint64_t bk[PART_MAX_BUCKETS]; /* the buckets named, ascending, distinct */
    uint32_t nbk;                  /* how many */
    struct coll_buf el;            /* their elements, end to end */
    uint64_t got;                  /* how many */
    int active;
    /* a large sorted set's write: the paths of the keys it may change, read before the
     * handler runs (large_zset.c) */
    int tree;
    struct zt_tree zt;
    struct zt_query *zq;
    size_t nzq;
    uint8_t *zmem; /* the predicted keys' scores and members */
};

struct large_op *large_op_get(struct req *r);
/* The reply to a read of a large collection of type vtype that failed with rc; ends r. */
void large_read_fail_reply(struct req *r, int rc, uint8_t vtype);
int large_buf_append(struct coll_buf *b, const void *p, size_t n);
/* A unit of writes for one key (large.c: unit_write). */
int large_unit_write(struct req *r, const struct resp_arg *key, struct ls_batch_op *ops, uint32_t n,
                     ls_write_cb cb);
/* A part of the large collection whose root, it, decodes to root (r->pl->pt), for cb:
 * NULL out of memory (or r has one). Its buckets are added with large_part_bucket (-1:
 * more than PART_MAX_BUCKETS), and read, then cb run on them (as large_part_get does),
 * with large_part_read. */
struct part *large_part_new(struct req *r, const struct ls_item *it, const struct plist_root *root,
                            ls_get_cb cb);
int large_part_bucket(struct part *pt, const void *m, size_t len);
void large_part_read(struct req *r);
/* The part r's handler was to run on is given up: the whole collection is loaded and the
 * handler runs on it instead. */
void large_part_whole(struct req *r);

/* ---- large_stream.c ---- */

/* Frees o's native stream command state. */
void large_xn_free(struct large_op *o);
void large_xr_free(struct large_op *o);

/* ---- large_zset.c ---- */

/* Reads the pages of root's tree that the queries q[0..nq) need into t (opened from the
 * top), then done(r); fail(r, rc) at the first error. q lives until then. */
void zread_start(struct req *r, const struct plist_root *root, struct zt_tree *t,
                 const struct zt_query *q, size_t nq, void (*done)(struct req *r),
                 void (*fail)(struct req *r, int rc));
void zread_free(struct zread *zr);
/* A sorted set's write on its part (part_done, before the handler): the queries of the
 * paths its change may take (the named members' keys now, and their keys after). 0, or
 * -2; *nq 0 when none. */
int zpart_queries(struct req *r, struct part *pt);
/* The change the handler made (enc[0..len): the part after it) applied to pt's tree and
 * its pages appended to *ops (grown; their memory in *mem), and root updated. 0,
 * COLL_EBAD (a path not read: the whole set instead), -2. */
int zpart_apply(struct req *r, struct part *pt, const struct resp_arg *key, const void *enc,
                size_t len, struct plist_root *root, struct ls_batch_op **ops, uint32_t *nops,
                struct zt_out *out, uint8_t **mem);

#endif
