/*
 * large.h - large lists on the log (engine/FORMAT.md, "Large form"): a root record under
 * the user key, pages in the hidden page table named by the list's version, an anchor
 * per version in the hidden anchor table. proto/plist.h holds the encodings.
 *
 * Every list command reads through large_list_read: a small list comes to its handler as
 * it is; a large one is loaded (its pages read in order) and handed over in the small
 * form, so every command works on both. A handler's write of a list that no longer fits
 * the small form goes through large_build: a new version's anchor and pages, written
 * ahead of the root when they do not fit one batch with it, and the root in the write the
 * handler would have made. The old version's pages are left to the reaper (reaper.c).
 */
#ifndef LS_SERVER_LARGE_H
#define LS_SERVER_LARGE_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "coll.h"
#include "conn.h"
#include "logstor.h"
#include "plist.h"
#include "stream.h"

struct server;

/* Record tags of the hidden tables' records (ls_write_opts.vtype). */
#define LARGE_VT_PAGE   5
#define LARGE_VT_ANCHOR 6

/* The engine's bound on a record is at least this (main.c), whatever max_value_size is:
 * a hash bucket's page may grow past max_value_size when that is set small. */
#define LARGE_PAGE_RECORD_MAX (UINT32_C(64) << 10)

/* The most a command that needs the whole list (LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE,
 * the blocking pops, SORT, DUMP, COPY, and SYNC) holds of it: past this it is refused. */
#define LARGE_LOAD_MAX (UINT64_C(512) << 20)

/* The engine tables of pages and anchors: after the databases, never named by a command. */
uint32_t large_page_table(const struct server *s);
uint32_t large_anchor_table(const struct server *s);
/* The most bytes a page holds (but for a page of one element): PLIST_PAGE_BYTES, or
 * max_value_size when that is smaller (each page is a record bounded by it). */
size_t large_page_max(const struct server *s);
/* Engine tables to open: the databases and the two hidden ones. */
uint32_t large_engine_tables(const struct server *s);

/* Start-up: before the engine opens, refuses (-1, logged) a `databases` other than the
 * one the directory's hidden tables were laid out for (its file logstord.layout); after
 * it opened, refuses hidden tables that hold keys without that file (a directory used
 * with more databases before), else writes the file. 0 to go on. */
int large_layout_check(struct server *s);
int large_layout_opened(struct server *s);

/* A list key's read, for its handler cb: a large list's pages are read first and cb gets
 * the whole list in the small form (borrowed for the call); anything else goes to cb as
 * it came. For list_read's callback. */
void large_list_read(struct req *r, int rc, const struct ls_item *it, ls_get_cb cb);

/* A collection of type vtype written as the small form enc[0..len): whether it is stored
 * in the large form. A list: past the small form's bounds (128 elements, 8 KiB) or past
 * max_value_size; a hash, set or sorted set: past max_value_size, or past those bounds when
 * Redis would hold it as a hashtable or skiplist (COLL_F_BIG; a sorted set only when its
 * members fit its tree). Not for strings. */
int large_needed(const struct server *s, uint8_t vtype, const uint8_t *enc, size_t len);

/* Page numbers a sorted set's anchor covers below its tree's lowest page, so that its
 * splits seldom widen the anchor. */
#define LARGE_TREE_SPARE 64

/* Whether every member of the sorted set enc[0..len) (a valid small form) is short enough
 * for a tree's pages (ZT_MEMBER_MAX): else past max_value_size it is stored in runs that
 * every command loads. */
int large_zset_tree_fits(const uint8_t *enc, size_t len);
/* Whether r's write (large_part_get's arguments) may change a large sorted set's tree in
 * one batch: a few members, each short enough for the tree. */
int large_zset_part_fits(const struct req *r);

/* Whether a value of type vtype, v[0..n), is a large collection's root. */
static inline int large_is_root(uint8_t vtype, const void *v, size_t n)
{
    return ((vtype >= COLL_HASH && vtype <= COLL_ZSET) || vtype == COLL_STREAM) &&
           plist_is_root(v, n);
}

/* A hash's, set's or sorted set's read (cmd_get under r->want_type) for cb: a large one
 * comes to cb loaded, in the small form (large_list_read). */
void large_coll_get(struct req *r, const struct resp_arg *key, ls_get_cb cb);
/* A hash's or set's read (r->want_type set) for a command that names fields or members:
 * argv[first], and with step > 0 every step-th argument after it (HMGET 1, HSET 2);
 * write: the command may write. A large one (its pages are hash buckets) comes to cb as
 * the part of it those fields fall in, as if that were all of it; the handler's write of
 * that part (coll_store) writes those buckets and the root (large_part_store). Anything
 * else goes to cb as large_coll_get sends it. */
void large_part_get(struct req *r, const struct resp_arg *key, ls_get_cb cb, uint32_t first,
                    uint32_t step, int write);
/* coll_store's first step: when r's handler runs on the part large_part_get read, writes
 * enc[0..len) (the part after the command; len 0: emptied) back to its buckets with the
 * root, keeping it's TTL, publishes event and replies as mode says: returns 1. Returns 0
 * when r has no such part, or when the collection is left empty (coll_store deletes the
 * key). */
int large_part_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                     const void *enc, size_t len, int cls, const char *event,
                     enum cmd_reply_mode mode);
/* The same for HLEN, SCARD, ZCARD: a large one's count is replied from its root (no page
 * read); anything else goes to cb as large_coll_get sends it. */
void large_card_get(struct req *r, const struct resp_arg *key, ls_get_cb cb);

/* A list's records in the large form, built from its small form: the anchor and pages
 * (ops[0..n), in writing order) and the root. */
struct large_build {
    struct ls_batch_op *ops;
    uint32_t n;
    uint64_t version;
    uint8_t root[PLIST_ROOT_MAX];
    const uint8_t *rootv; /* the root's bytes: root, or (a stream's, with its meta) in mem */
    size_t root_len;
    uint8_t *mem; /* the ops' keys and values */
    struct server *s;
};
/* Builds b for the collection of type vtype enc[0..len) (a valid small form) under key. 0,
 * COLL_EBAD, or -1 out of memory. Registers b's version as being written: the reaper leaves it
 * alone until large_build_free. */
int large_build(struct server *s, uint8_t vtype, const void *key, size_t key_len,
                const uint8_t *enc, size_t len, struct large_build *b);
void large_build_free(struct large_build *b);
typedef void (*large_done_fn)(struct req *r, int rc);

/* One key's write in large_write: the list's small form v[0..n) (n 0: delete the key),
 * stored large when it needs to be. */
struct large_put {
    uint32_t db;
    const struct resp_arg *key; /* in r's arguments (they live as long as r) */
    const uint8_t *v;
    size_t n;
    struct ls_write_opts opts;
};
/* Writes puts[0..k) (k 1 or 2, distinct keys) as one unit: one batch
 * with the large ones' roots and whatever of their anchors and pages did not have to go
 * ahead (inside EXEC or a script: in its overlay). WATCH and CLIENT TRACKING see the
 * user keys' writes. done(r, rc, 0) runs once, after the last; r's locks are released
 * once it is submitted. A delete of an absent key counts as done. */
void large_write(struct req *r, const struct large_put *puts, uint32_t k, ls_write_cb done);

/* RENAME of a large list's root v[0..n) to dst: the anchor that names dst instead (its
 * key and value into *op, the bytes in *mem, which the caller frees), so that the reaper
 * finds the root where it went. 0, or -1 (not a valid root, or out of memory). */
int large_rename_anchor(const struct server *s, const uint8_t *v, size_t n,
                        const struct resp_arg *dst, struct ls_batch_op *op, uint8_t **mem);

/* Native commands on a large list's root `it` (read under r's exclusive or shared lock
 * on argv[1]): they read and write only the pages at stake, in one unit. Each returns 1
 * when it took r over (answered, or answering), 0 when r is the caller's still (then the
 * list is to be loaded: large_list_read); a native op that finds its change too large
 * for one unit falls back to fallback with the whole list by itself. */
int large_llen(struct req *r, const struct ls_item *it);
/* LRANGE argv[1] start stop, or (index) LINDEX argv[1] start. */
int large_range(struct req *r, const struct ls_item *it, int64_t start, int64_t stop, int index,
                ls_get_cb fallback);
/* LPUSH/RPUSH argv[1] argv[2..]: replies the new length. */
int large_push(struct req *r, const struct ls_item *it, int right, ls_get_cb fallback);
/* Pops count >= 1 elements (count 0 is the caller's) from key's large list, replying as
 * LPOP/RPOP key (one: a bulk; count: an array), BLPOP/BRPOP ([key, element]) or
 * LMPOP/BLMPOP ([key, [elements]]) do. */
enum large_pop_reply { LARGE_POP_ONE, LARGE_POP_COUNT, LARGE_POP_BLOCKING, LARGE_POP_MULTI };
int large_pop(struct req *r, const struct ls_item *it, const struct resp_arg *key, int right,
              enum large_pop_reply mode, uint64_t count, ls_get_cb fallback);

/* LTRIM argv[1] start stop when it trims one end only (returns 0 for both ends, or the
 * whole list: the handler's). */
int large_trim(struct req *r, const struct ls_item *it, int64_t start, int64_t stop,
               ls_get_cb fallback);

/* LREM argv[1] count argv[3]: the pages holding the matches and the root, rewritten in
 * one unit (a page emptied, or pages past half a batch: the whole list, by fallback).
 * LSET argv[1] index argv[3]: the page holding the index and the root. */
int large_lrem(struct req *r, const struct ls_item *it, long long count, ls_get_cb fallback);
int large_lset(struct req *r, const struct ls_item *it, long long index, ls_get_cb fallback);

/* A transaction's or script's unit ended (txn.c): the versions its writes registered are
 * in the engine by now, or never will be. */
void large_unit_end(struct server *s, const void *unit);

/* LMOVE/RPOPLPUSH src dst (and BLMOVE/BRPOPLPUSH once src exists) with src large and
 * distinct from dst: pops src's end page and writes dst (its small form, or its end page
 * and root when it is large) in one unit, replying the element; a small destination the
 * element makes large falls back to the whole lists. */
int large_move(struct req *r, const struct ls_item *it, const struct resp_arg *src,
               const struct resp_arg *dst, int from_right, int to_right, ls_get_cb fallback);

/* Range commands on a large sorted set's tree (large_zset.c): the elements not below lo
 * and below hi (below(x, lo): x comes before the range; below(x, hi): x is not past its
 * end) are ranks [rlo, rhi); with below NULL, every rank. window picks the ranks to read,
 * [*a, *b) (none: *a == *b), done answers with their elements e[0..b-a) (members
 * borrowed for the call). Anything but a tree's root goes to cb as large_coll_get sends
 * it. q is copied; lo and hi must live as long as r. */
struct large_zrange {
    int (*below)(const struct coll_zel *x, const void *arg);
    const void *lo, *hi;
    void (*window)(struct req *r, uint64_t count, uint64_t rlo, uint64_t rhi, uint64_t *a,
                   uint64_t *b);
    void (*done)(struct req *r, const struct coll_zel *e, uint64_t a, uint64_t b, uint64_t count,
                 uint64_t rlo, uint64_t rhi);
};
void large_zrange_get(struct req *r, const struct resp_arg *key, const struct large_zrange *q,
                      ls_get_cb cb);
/* ZRANK of member (an argument of r) in a large sorted set's tree: done(r, found, rank,
 * count); anything else goes to cb as large_coll_get sends it. */
void large_zrank_get(struct req *r, const struct resp_arg *key, const struct resp_arg *member,
                     void (*done)(struct req *r, int found, uint64_t rank, uint64_t count),
                     ls_get_cb cb);

/* A pop of count (lowest, or with max highest) elements from key's sorted set for its
 * handler cb: a large one's comes to cb as the buckets those elements are in, as if they
 * were the whole set (its write is theirs: large_part_store); anything else as
 * large_coll_get sends it. */
void large_zpop_get(struct req *r, const struct resp_arg *key, uint64_t count, int max,
                    ls_get_cb cb);

/* Native commands on a large stream's root `it` (large_stream.c; FORMAT.md, "Streams"):
 * each returns 1 when it took r over (answering), 0 when r is the caller's still (then
 * the stream is to be loaded whole: large_list_read); one that finds its change too large
 * for one unit loads the whole stream for fallback itself. */
enum large_xtrim_kind { LARGE_XTRIM_NONE, LARGE_XTRIM_MAXLEN, LARGE_XTRIM_MINID };
struct large_xtrim {
    enum large_xtrim_kind kind;
    int approx; /* ~: whole pages only, at most limit entries (0: no limit) */
    uint64_t maxlen;
    struct stream_id minid;
    uint64_t limit;
};
/* The largest root of a large stream: a record (max_value_size) that fits one batch with
 * two pages (a root and the pages XADD changes are one unit, and RENAME writes it with its
 * anchor and a delete): ~111 KiB by default. A stream whose groups would pass it is one
 * record (bounded by max_value_size). */
size_t large_stream_root_max(const struct server *s);
/* Its length (1), or 0 when `it` is not a large stream's root. */
int large_stream_len(const struct ls_item *it, uint64_t *n);
/* Its meta's head (1: last ID, entries added...), or 0 when it is not a large stream's root. */
int large_stream_meta(const struct ls_item *it, struct stream_meta *m);
/* XADD argv[1]: appends entry[0..elen) (encoded: proto/stream.h), head the meta's head after
 * it, then trims as t says; replies r->tmp (the ID, prepared by the caller). */
int large_stream_add(struct req *r, const struct ls_item *it, const uint8_t *entry, size_t elen,
                     const struct stream_meta *head, const struct large_xtrim *t,
                     ls_get_cb fallback);
/* XDEL argv[1] ids[0..nids) on a large stream: the pages that hold them rewritten with the
 * root (one unit), or fallback with the whole stream; replies the entries deleted. 0 when
 * `it` is not a large stream's root (or out of memory). */
int large_stream_del(struct req *r, const struct ls_item *it, const struct stream_id *ids,
                     size_t nids, ls_get_cb fallback);
/* XTRIM argv[1] as t says (kind not NONE); replies the entries removed. */
int large_stream_trim(struct req *r, const struct ls_item *it, const struct large_xtrim *t,
                      ls_get_cb fallback);

/* XRANGE/XREVRANGE/XREAD on a large stream: the entries of [start, end] (start <= end;
 * the first count of them from the start, rev: from the end; 0: all) go to cb as a stream
 * record of those entries only, with the root's meta (its IDs, groups): for a reply,
 * never to be written back. 0 when `it` is not a large stream's root (or out of memory). */
int large_stream_range(struct req *r, const struct ls_item *it, const struct stream_id *start,
                       const struct stream_id *end, int rev, uint64_t count, ls_get_cb cb);

/* XREADGROUP `>` on a large stream: the first count (0: all) entries after the last ID
 * delivered to group go to cb as large_stream_range's do, with r->xs_root set as
 * large_stream_groups's, and r->xs_length and r->xs_first the stream's length and first
 * ID (struct stream's; the first 0-0 when the head page was not read). 0 when `it` is not
 * a large stream's root or has no such group. */
int large_stream_after(struct req *r, const struct ls_item *it, const struct resp_arg *group,
                       uint64_t count, ls_get_cb cb);

/* XINFO STREAM on a large stream: cb gets a record of its first and last entries (one when
 * it has one) with the root's meta, and r->xs_length and r->xs_first set. 0 when `it` is not
 * a large stream's root. */
int large_stream_ends(struct req *r, const struct ls_item *it, ls_get_cb cb);

/* XACK, XPENDING on a large stream: cb gets a record of no entries with the root's meta
 * (its groups), and r->xs_root set, so that a write of the groups writes the root alone
 * (cmd_stream.c, xs_encode). 0 when `it` is not a large stream's root. */
int large_stream_groups(struct req *r, const struct ls_item *it, ls_get_cb cb);

/* Frees r's large-list state (conn.c, with r). */
void large_op_free(struct req *r);

#endif
