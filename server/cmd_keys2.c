/*
 * cmd_keys2.c - the keyspace commands that move, copy or describe a value: RENAME,
 * RENAMENX, COPY, MOVE, SWAPDB, DUMP, RESTORE, OBJECT, MEMORY USAGE and WAIT.
 *
 * Locks (lockset.c's rule). RENAME, RENAMENX and COPY within a database declare their two
 * keys through the table's key positions. MOVE, COPY ... DB n and SWAPDB name items of two
 * databases, so cmd_keys_declare (called by the dispatcher before the claim) gives them an
 * explicit item list: MOVE its key in both databases, exclusive; COPY its source shared and
 * its destination exclusive; SWAPDB both databases whole and exclusive, so it waits for
 * every claim made before it on either and holds back every later one until it is done.
 * Arguments it cannot parse declare nothing special: the handler then replies the error.
 *
 * A transfer (RENAME, MOVE) reads the source, then writes the destination and the source's
 * delete as one engine batch (ls_write_batch: after a crash both or neither; inside EXEC
 * or a script, both go to its overlay and its batch). A value too large for one batch is
 * put first and the source deleted only once the put completed (in sync mode: is
 * durable), holding both keys' locks throughout: the value is never lost, and after a
 * crash between the two writes both keys may exist.
 *
 * SWAPDB renames the two databases' engine tables (ls_swap_tables: a durable map, no copy).
 *
 * OBJECT and MEMORY answer for string values, which are all logstord stores:
 *  - ENCODING: what Redis would say for the value as SET stores it: "int" for the
 *    canonical decimal form of a 64-bit integer of at most 20 bytes, "embstr" up to 44
 *    bytes, "raw" beyond. (Redis also says "raw" for a short value built by APPEND or
 *    SETRANGE, which keeps no trace here.)
 *  - REFCOUNT: 2147483647 for the integers 0..9999 (Redis shares those objects), else 1.
 *  - IDLETIME: 0. logstord keeps no access clock per key (the index holds no room for
 *    one, and a separate table would cost memory per key); 0 keeps "least recently
 *    used" tools from acting on a guess.
 *  - FREQ: Redis's error for a server without an LFU eviction policy: logstord evicts
 *    nothing.
 *  - MEMORY USAGE: the key's record on disk (header, key, value, padding) plus the index
 *    memory per key (the engine's index bytes over its keys, at most 40).
 *
 * WAIT: logstord has no replicas, so the count of replicas that acknowledged is 0 and
 * known at once (Redis would block for the timeout first when asked for more).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "large.h"
#include "coll.h"
#include "lockset.h"
#include "mget.h"
#include "park.h"
#include "rconfig.h"
#include "rdbcoll.h"
#include "rdbstr.h"
#include "reply.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"
#include "txn.h"

#define ERR_NO_KEY     "ERR no such key"
#define ERR_SAME       "ERR source and destination objects are the same"
#define ERR_BUSYKEY    "BUSYKEY Target key name already exists."
#define ERR_BAD_DUMP   "ERR DUMP payload version or checksum are wrong"
#define ERR_BAD_FORMAT "ERR Bad data format"
#define ERR_INT_RANGE  "ERR value is out of range, value must between -2147483648 and 2147483647"

/* What a transfer replies once its writes are done (r->step). */
enum xfer_reply { XFER_OK = 0, XFER_ONE = 1 };
#define XFER_DEL_SRC   1u  /* r->flags: delete argv[1] of r->db after the put */
#define XFER_LOADED    64u /* r->flags: the large list read is loaded (COPY) */
#define XFER_NOKEY_ERR 2u  /* r->flags: a source found gone replies "no such key", else 0 */

/* ---- argument helpers ---- */

/* Redis getIntFromObjectOrReply: replies (msg, or the standard messages) and returns -1. */
static int arg_int(struct req *r, const struct resp_arg *a, const char *msg, int *out)
{
    long long v;
    if (cmd_arg_ll(a, &v) < 0) {
        reply_error(r, msg ? msg : ERR_NOT_INT);
        return -1;
    }
    if (v < INT_MIN || v > INT_MAX) {
        reply_error(r, msg ? msg : ERR_INT_RANGE);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A database index argument: an int and in range. Replies and returns -1 otherwise. */
static int arg_db(struct req *r, const struct resp_arg *a, const char *msg, uint32_t *db)
{
    int v;
    if (arg_int(r, a, msg, &v) < 0)
        return -1;
    if (v < 0 || (uint64_t)v >= r->c->srv->cfg.databases) {
        reply_error(r, ERR_DB_RANGE);
        return -1;
    }
    *db = (uint32_t)v;
    return 0;
}

/* The same without replying, for the lock declaration. */
static int peek_db(const struct req *r, const struct resp_arg *a, uint32_t *db)
{
    long long v;
    if (cmd_arg_ll(a, &v) < 0 || v < 0 || (uint64_t)v >= r->c->srv->cfg.databases)
        return -1;
    *db = (uint32_t)v;
    return 0;
}

static void reply_done(struct req *r, const char *err)
{
    reply_error(r, err);
    req_done(r);
}

static int fail(struct req *r, const char *err)
{
    reply_error(r, err);
    return -1;
}

static void reply_int_done(struct req *r, int64_t v)
{
    reply_int(r, v);
    req_done(r);
}

static void engine_error_done(struct req *r, int rc)
{
    reply_engine_error(r, rc);
    req_done(r);
}

/* ---- transfers: put the destination, then delete the source ---- */

static void xfer_reply(struct req *r)
{
    if (r->step == XFER_OK)
        reply_ok(r);
    else
        reply_int(r, 1);
    req_done(r);
}

static void xfer_del_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        engine_error_done(r, rc);
    else
        xfer_reply(r);
}

static void xfer_put_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (r->flags & XFER_DEL_SRC)
        r->nparked--;                    /* the hold taken in xfer_put */
    if (rc != 0 && rc != LS_ENOTFOUND) { /* ENOTFOUND: an expiry passed, the put deleted */
        engine_error_done(r, rc);        /* the source is untouched */
        return;
    }
    if (!(r->flags & XFER_DEL_SRC)) {
        xfer_reply(r);
        return;
    }
    rc = park_del(r, r->db, &r->argv[1], xfer_del_cb);
    if (rc == 0) {
        req_unlock(r); /* both writes submitted */
        return;
    }
    if (rc == LS_ENOTFOUND) /* it expired meanwhile */
        xfer_reply(r);
    else
        engine_error_done(r, rc);
}

/* Writes key dst of table db with the item's value, expiry and flags; then, with
 * XFER_DEL_SRC in r->flags, deletes argv[1] of r->db; then replies as r->step says.
 * xfer_hold: a transfer must keep its locks from the put until the delete is submitted
 * (else another command could write the source in between and lose that write to our
 * delete). req_unlock keeps the locks while r->nparked is nonzero, and park.c releases
 * them when a parked write is submitted and the count drops to zero; so the transfer
 * counts one more for itself from the put until its callback. (A hold count of its own in
 * struct req would say this more plainly; conn.c is not ours to change now.) */
static void xfer_put_ignored(void *arg, int rc, uint64_t cas)
{
    (void)arg, (void)rc, (void)cas; /* the delete's callback, after it, replies */
}

/* The put and the delete of a move as one unit: one batch (all or nothing after a crash),
 * or, inside EXEC or a script, both in its overlay (its batch makes them one). Returns 1
 * when done so (the delete's callback replies), 0 when the caller must write them one
 * after the other (too large for one batch). */
static int xfer_unit(struct req *r, uint32_t db, const struct resp_arg *dst, const void *v,
                     size_t n, const struct ls_write_opts *o, const struct ls_batch_op *anchor)
{
    const struct resp_arg *src = &r->argv[1];
    int rc = 0;
    if (anchor && ls_record_size(dst->len, n) + ls_record_size(src->len, 0) +
                          ls_record_size(anchor->key_len, anchor->value_len) >
                      ls_batch_max_bytes(r->c->srv->eng)) {
        /* A large collection's root, its anchor and the delete are one unit or nothing:
         * written apart, the anchor would name a key without the root (the reaper then
         * deletes the pages of a live collection) or the root a key its anchor does not. */
        reply_done(r, "ERR the key names are too long to rename this large collection in one "
                      "write (try a shorter destination)");
        return 1;
    }
    if (txn_batching(r)) {
        /* One group (as park_batch below outside a unit), so that a unit written one
         * write at a time cannot leave both names after a crash; too large for a batch,
         * two writes, as outside a unit (xfer_put). */
        uint64_t bytes = ls_record_size(dst->len, n) + ls_record_size(src->len, 0) +
                         (anchor ? ls_record_size(anchor->key_len, anchor->value_len) : 0);
        int grp = bytes <= ls_batch_max_bytes(r->c->srv->eng);
        uint32_t mark = txn_mark(r);
        if (grp)
            txn_group_begin(r);
        if (anchor) { /* a large list renamed: its anchor names the new key (large.c) */
            struct resp_arg ak = {(char *)anchor->key, anchor->key_len};
            rc = txn_write(r, anchor->table, &ak, anchor->value, anchor->value_len, &anchor->opts,
                           0, xfer_put_ignored);
        }
        if (rc == 0)
            rc = park_put(r, db, dst, v, n, o, xfer_put_ignored);
        if (rc == 0)
            rc = park_del(r, r->db, src, xfer_del_cb);
        if (grp)
            txn_group_end(r, rc == 0);
        else if (rc != 0)
            txn_rollback(r, mark);
    } else {
        struct ls_batch_op ops[3] = {
            {.table = db,
             .key = dst->ptr,
             .key_len = dst->len,
             .value = v,
             .value_len = n,
             .opts = *o},
            {.del = 1, .table = r->db, .key = src->ptr, .key_len = src->len}};
        if (anchor)
            ops[2] = *anchor;
        txn_touch(r->c->srv, db, dst->ptr, dst->len); /* WATCH sees both keys change, */
        txn_touch(r->c->srv, r->db, src->ptr, src->len);
        tracking_invalidate(r, dst->ptr, dst->len); /* and CLIENT TRACKING */
        tracking_invalidate(r, src->ptr, src->len);
        rc = park_batch(r, ops, anchor ? 3 : 2, xfer_del_cb);
        if (rc == LS_ETOOBIG)
            return 0;
    }
    if (rc == 0)
        req_unlock(r); /* both submitted (or parked: park.c unlocks) */
    else
        engine_error_done(r, rc);
    return 1;
}

static void xfer_large_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0)
        engine_error_done(r, rc);
    else
        xfer_reply(r);
}

static void xfer_put(struct req *r, uint32_t db, const struct resp_arg *dst, const void *v,
                     size_t n, uint64_t expire_ms, uint32_t flags, uint8_t vtype)
{
    struct ls_write_opts o = {.expire_ms = expire_ms, .flags = flags, .vtype = vtype};
    /* a list, a sorted set or a stream moved into place: a BLPOP, BZPOPMIN, XREAD(GROUP) on
     * it may go on; another type: a blocked XREADGROUP learns its stream went */
    block_signal(r->c->srv, db, dst->ptr, dst->len);
    if (!(r->flags & XFER_DEL_SRC) && large_needed(r->c->srv, vtype, v, n)) {
        struct large_put p = {db, dst, v, n, o}; /* COPY, RESTORE: a version of its own */
        large_write(r, &p, 1, xfer_large_cb);
        return;
    }
    if (n > r->c->srv->cfg.max_value_size) {
        reply_done(r, ERR_TOO_BIG);
        return;
    }
    struct ls_batch_op anchor;
    uint8_t *amem = NULL;
    if (large_is_root(vtype, v, n)) {
        r->c->srv->root_moves++; /* a reaper's check in flight looks again (reaper.c) */
        if (db == r->db && large_rename_anchor(r->c->srv, v, n, dst, &anchor, &amem) < 0) {
            reply_done(r, "ERR out of memory");
            return;
        }
    }
    if ((r->flags & XFER_DEL_SRC) && xfer_unit(r, db, dst, v, n, &o, amem ? &anchor : NULL)) {
        free(amem);
        return;
    }
    free(amem);
    if (r->flags & XFER_DEL_SRC)
        r->nparked++; /* hold the locks until the delete is submitted (see xfer_hold) */
    int rc = park_put(r, db, dst, v, n, &o, xfer_put_cb);
    if (rc < 0) {
        if (r->flags & XFER_DEL_SRC)
            r->nparked--;
        engine_error_done(r, rc);
        return;
    }
    if (!(r->flags & XFER_DEL_SRC))
        req_unlock(r); /* its only write is submitted (or parked: then park.c unlocks) */
}

static void xfer_get_cb(void *arg, int rc, const struct ls_item *it);

static void xfer_loaded_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    r->flags |= XFER_LOADED;
    xfer_get_cb(r, rc, it);
}

static void xfer_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == 0 && !(r->flags & (XFER_DEL_SRC | XFER_LOADED)) &&
        large_is_root(it->vtype, it->value, it->value_len)) {
        large_list_read(r, rc, it, xfer_loaded_cb); /* COPY: the whole of it, then a new one */
        return;
    }
    if (rc == LS_ENOTFOUND && (r->flags & XFER_NOKEY_ERR))
        reply_done(r, ERR_NO_KEY);
    else if (rc == LS_ENOTFOUND)
        reply_int_done(r, 0);
    else if (rc != 0)
        engine_error_done(r, rc);
    else
        xfer_put(r, (uint32_t)r->u64, &r->argv[r->num], it->value, it->value_len, it->expire_ms,
                 it->flags, it->vtype);
}

/* Reads argv[1] of r->db, then writes it to argv[dst_arg] of db (xfer_put, with flags),
 * replying as reply says. */
static void xfer_start(struct req *r, uint32_t db, uint32_t dst_arg, uint32_t flags,
                       enum xfer_reply reply)
{
    r->u64 = db;
    r->num = dst_arg;
    r->flags = flags;
    r->step = reply;
    r->want_type = VT_ANY; /* any type moves as it is */
    cmd_get(r, &r->argv[1], xfer_get_cb);
}

/* ---- RENAME, RENAMENX ---- */

static void rename_generic(struct req *r, int nx)
{
    const struct resp_arg *src = &r->argv[1], *dst = &r->argv[2];
    struct ls_meta m;
    if (cmd_keys_lookup(r, r->db, src, &m) != 0) {
        reply_done(r, ERR_NO_KEY);
        return;
    }
    if (src->len == dst->len && memcmp(src->ptr, dst->ptr, src->len) == 0) {
        if (nx)
            reply_int_done(r, 0);
        else {
            reply_ok(r);
            req_done(r);
        }
        return;
    }
    if (nx && cmd_keys_lookup(r, r->db, dst, &m) == 0) {
        reply_int_done(r, 0);
        return;
    }
    xfer_start(r, r->db, 2, XFER_DEL_SRC | XFER_NOKEY_ERR, nx ? XFER_ONE : XFER_OK);
}

void cmd_keys_rename(struct req *r)
{
    rename_generic(r, 0);
}

void cmd_keys_renamenx(struct req *r)
{
    rename_generic(r, 1);
}

/* ---- MOVE ---- */

void cmd_keys_move(struct req *r)
{
    uint32_t db;
    struct ls_meta m;
    if (arg_db(r, &r->argv[2], NULL, &db) < 0) {
        req_done(r);
        return;
    }
    if (db == r->db) {
        reply_done(r, ERR_SAME);
        return;
    }
    if (cmd_keys_lookup(r, r->db, &r->argv[1], &m) != 0 ||
        cmd_keys_lookup(r, db, &r->argv[1], &m) == 0) {
        reply_int_done(r, 0);
        return;
    }
    xfer_start(r, db, 1, XFER_DEL_SRC, XFER_ONE);
}

/* ---- COPY ---- */

/* COPY's options: sets *db (default r->db) and *replace. Replies and returns -1 on error
 * when r is to reply (quiet 0), as Redis parses them: in order, the first error wins. */
static int copy_opts(struct req *r, int quiet, uint32_t *db, int *replace)
{
    *db = r->db;
    *replace = 0;
    for (uint32_t j = 3; j < r->argc; j++) {
        if (cmd_arg_is(&r->argv[j], "replace")) {
            *replace = 1;
        } else if (cmd_arg_is(&r->argv[j], "db") && j + 1 < r->argc) {
            int rc = quiet ? peek_db(r, &r->argv[j + 1], db) : arg_db(r, &r->argv[j + 1], NULL, db);
            if (rc < 0)
                return -1;
            j++;
        } else {
            if (!quiet)
                reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

void cmd_keys_copy(struct req *r)
{
    uint32_t db;
    int replace;
    struct ls_meta m;
    const struct resp_arg *src = &r->argv[1], *dst = &r->argv[2];
    if (copy_opts(r, 0, &db, &replace) < 0) {
        req_done(r);
        return;
    }
    if (db == r->db && src->len == dst->len && memcmp(src->ptr, dst->ptr, src->len) == 0) {
        reply_done(r, ERR_SAME);
        return;
    }
    if (cmd_keys_lookup(r, r->db, src, &m) != 0 ||
        (!replace && cmd_keys_lookup(r, db, dst, &m) == 0)) {
        reply_int_done(r, 0);
        return;
    }
    xfer_start(r, db, 2, 0, XFER_ONE);
}

/* ---- SWAPDB ---- */

void cmd_keys_swapdb(struct req *r)
{
    int a, b; /* both parsed before either is range-checked, as Redis does */
    uint64_t ndb = r->c->srv->cfg.databases;
    if (arg_int(r, &r->argv[1], "ERR invalid first DB index", &a) < 0 ||
        arg_int(r, &r->argv[2], "ERR invalid second DB index", &b) < 0) {
        req_done(r);
        return;
    }
    if (a < 0 || b < 0 || (uint64_t)a >= ndb || (uint64_t)b >= ndb) {
        reply_done(r, ERR_DB_RANGE);
        return;
    }
    if (a != b)
        txn_touch_swap(r->c->srv, (uint32_t)a, (uint32_t)b); /* WATCH */
    r->c->srv->root_moves++; /* large lists' roots change databases (reaper.c) */
    int rc = ls_swap_tables(cmd_engine(r), (uint32_t)a, (uint32_t)b);
    if (rc < 0) {
        reply_engine_error(r, rc);
    } else {
        reply_ok(r);
        block_signal_db(r->c->srv, (uint32_t)a); /* a list may be there now */
        block_signal_db(r->c->srv, (uint32_t)b);
    }
    req_done(r);
}

/* ---- the lock declaration of MOVE, COPY ... DB and SWAPDB ---- */

static uint32_t declare_items(const struct req *r, struct lockset_item *it)
{
    uint32_t db, db2;
    int replace;
    const struct resp_arg *k1 = &r->argv[1], *k2 = r->argc > 2 ? &r->argv[2] : NULL;
    if (r->cmd->proc == cmd_keys_move && peek_db(r, k2, &db) == 0 && db != r->db) {
        it[0] = (struct lockset_item){r->db, LOCKSET_EXCLUSIVE, 0, k1->ptr, k1->len};
        it[1] = (struct lockset_item){db, LOCKSET_EXCLUSIVE, 0, k1->ptr, k1->len};
        return 2;
    }
    if (r->cmd->proc == cmd_keys_copy && copy_opts((struct req *)r, 1, &db, &replace) == 0 &&
        db != r->db) {
        it[0] = (struct lockset_item){r->db, LOCKSET_SHARED, 0, k1->ptr, k1->len};
        it[1] = (struct lockset_item){db, LOCKSET_EXCLUSIVE, 0, k2->ptr, k2->len};
        return 2;
    }
    if (r->cmd->proc == cmd_keys_swapdb && peek_db(r, k1, &db) == 0 && peek_db(r, k2, &db2) == 0) {
        it[0] = (struct lockset_item){db, LOCKSET_EXCLUSIVE, 1, NULL, 0};
        it[1] = (struct lockset_item){db2, LOCKSET_EXCLUSIVE, 1, NULL, 0};
        return 2; /* the same database twice is merged by the lockset */
    }
    return 0;
}

int cmd_keys_declare(struct req *r)
{
    struct lockset_item it[2];
    if (r->cmd == NULL || r->argc < 3)
        return 0;
    uint32_t n = declare_items(r, it);
    if (n == 0)
        return 0;
    r->lk_items = malloc(n * sizeof(*it));
    if (r->lk_items == NULL) {
        reply_error(r, "ERR out of memory");
        return -1;
    }
    memcpy(r->lk_items, it, n * sizeof(*it));
    r->lk_nitems = n;
    return 0;
}

/* ---- DUMP, RESTORE ---- */

/* A read of a key-describing command that found nothing (nil) or failed: replies, ends
 * the request and returns 1. */
static int read_failed(struct req *r, int rc)
{
    if (rc == 0)
        return 0;
    if (rc == LS_ENOTFOUND) {
        reply_null(r);
        req_done(r);
    } else {
        engine_error_done(r, rc);
    }
    return 1;
}

static void dump_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    if (large_is_root(it->vtype, it->value, it->value_len)) {
        large_list_read(r, rc, it, dump_get_cb); /* comes back whole, in the small form */
        return;
    }
    if (it->vtype == COLL_STREAM) {
        reply_done(r, "ERR DUMP of a stream is not supported by logstord");
        return;
    }
    if (it->vtype != COLL_STRING) { /* [RDB type][its body][version, CRC64] */
        size_t bound = rdbcoll_body_bound(it->vtype, it->value, it->value_len), body;
        uint8_t *q;
        if (bound == 0 || rdbcoll_rdb_type(it->vtype) < 0) {
            reply_done(r, "ERR data corruption detected while reading the key");
            return;
        }
        if ((q = malloc(1 + bound + 10)) == NULL ||
            (body = rdbcoll_put_body(q + 1, it->vtype, it->value, it->value_len)) == 0) {
            free(q);
            reply_done(r, "ERR out of memory");
            return;
        }
        q[0] = (uint8_t)rdbcoll_rdb_type(it->vtype);
        size_t qn = rdbstr_put_footer(q, 1 + body);
        reply_bulk(r, q, qn);
        free(q);
        req_done(r);
        return;
    }
    uint8_t *p = malloc(rdbstr_dump_bound(it->value_len));
    if (p == NULL) {
        reply_done(r, "ERR out of memory");
        return;
    }
    size_t n = rdbstr_dump(it->value, it->value_len, p);
    reply_bulk(r, p, n);
    free(p);
    req_done(r);
}

void cmd_keys_dump(struct req *r)
{
    r->want_type = VT_ANY;
    r->hold_claim = 1; /* a large collection's pages come after its root: the key stays
                          locked until they are read (else a write changes them between) */
    cmd_get(r, &r->argv[1], dump_get_cb);
}

struct restore_opts {
    int replace, absttl;
    long long ttl;
};

static int restore_opts(struct req *r, struct restore_opts *o)
{
    int idle = 0, freq = 0;
    long long v;
    memset(o, 0, sizeof(*o));
    for (uint32_t j = 4; j < r->argc; j++) {
        const struct resp_arg *a = &r->argv[j];
        int more = j + 1 < r->argc;
        if (cmd_arg_is(a, "replace")) {
            o->replace = 1;
        } else if (cmd_arg_is(a, "absttl")) {
            o->absttl = 1;
        } else if (cmd_arg_is(a, "idletime") && more && !freq) {
            if (cmd_arg_ll(&r->argv[++j], &v) < 0)
                return fail(r, ERR_NOT_INT);
            if (v < 0)
                return fail(r, "ERR Invalid IDLETIME value, must be >= 0");
            idle = 1; /* accepted and checked; logstord keeps no access clock */
        } else if (cmd_arg_is(a, "freq") && more && !idle) {
            if (cmd_arg_ll(&r->argv[++j], &v) < 0)
                return fail(r, ERR_NOT_INT);
            if (v < 0 || v > 255)
                return fail(r, "ERR Invalid FREQ value, must be >= 0 and <= 255");
            freq = 1;
        } else {
            return fail(r, ERR_SYNTAX);
        }
    }
    return 0;
}

/* Decodes the payload and replies its error. Returns 0 with *v (caller frees) and *vtype
 * (COLL_STRING, or COLL_HASH: *v is the hash's encoding). */
static int restore_decode(struct req *r, uint8_t **v, size_t *n, uint8_t *vtype)
{
    int type = 0;
    const struct resp_arg *p = &r->argv[3];
    size_t max = r->c->srv->cfg.max_value_size;
    int rc = rdbstr_restore((const uint8_t *)p->ptr, p->len, max, v, n, &type);
    *vtype = COLL_STRING;
    if (rc == RDBSTR_NOTSTR) { /* a collection this build stores: hash, list */
        const struct rconfig_live *lv = rconfig_live();
        struct coll_limits lim = {lv->hash_max_listpack_entries, lv->hash_max_listpack_value};
        struct coll_buf out = {0};
        size_t pos = 1; /* the footer was checked; the body ends before it */
        /* a collection may outgrow max_value_size (large.c stores it in pages); the
         * payload, which client_query_buffer_limit bounds, bounds what it decodes to: an
         * LZF-compressed string expands at most about 90 times (an integer element 2.67
         * times, an intset's 3.5), and no more than a command may load of a collection */
        uint64_t cmax = (uint64_t)(p->len > max ? p->len : max) * 128;
        if (cmax > LARGE_LOAD_MAX)
            cmax = LARGE_LOAD_MAX;
        rc = rdbcoll_read((const uint8_t *)p->ptr, p->len - 10, &pos, type, (size_t)cmax, &lim,
                          &out, vtype);
        if (rc == RDBSTR_OK && pos != p->len - 10)
            rc = RDBSTR_BADDATA;
        if (rc == RDBSTR_OK) {
            *v = out.p;
            *n = out.len;
            return 0;
        }
        *vtype = COLL_STRING;
        coll_buf_free(&out);
    }
    if (rc == RDBSTR_OK)
        return 0;
    if (rc == RDBSTR_BADSUM)
        reply_error(r, ERR_BAD_DUMP);
    else if (rc == RDBSTR_NOTSTR)
        reply_errorf(r,
                     "ERR Bad data format: the payload holds a %s, which logstord does not "
                     "store yet",
                     rdbstr_type_name(type));
    else if (rc == RDBSTR_TOOBIG)
        reply_error(r, ERR_TOO_BIG);
    else if (rc == RDBSTR_NOMEM)
        reply_error(r, "ERR out of memory");
    else
        reply_error(r, ERR_BAD_FORMAT);
    return -1;
}

static void restore_del_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        engine_error_done(r, rc);
    else {
        reply_ok(r);
        req_done(r);
    }
}

/* An expiry already past: the key ends up absent (deleted under REPLACE), reply OK. */
static void restore_expired(struct req *r, int replace)
{
    int rc = replace ? park_del(r, r->db, &r->argv[1], restore_del_cb) : LS_ENOTFOUND;
    if (rc == 0) {
        req_unlock(r);
        return;
    }
    restore_del_cb(r, rc == LS_ENOTFOUND ? 0 : rc, 0);
}

void cmd_keys_restore(struct req *r)
{
    struct restore_opts o;
    struct ls_meta m;
    uint8_t *v = NULL, vtype = 0;
    size_t n = 0;
    if (restore_opts(r, &o) < 0)
        goto done;
    if (!o.replace && cmd_keys_lookup(r, r->db, &r->argv[1], &m) == 0) {
        reply_error(r, ERR_BUSYKEY);
        goto done;
    }
    if (cmd_arg_ll(&r->argv[2], &o.ttl) < 0) {
        reply_error(r, ERR_NOT_INT);
        goto done;
    }
    if (o.ttl < 0) {
        reply_error(r, "ERR Invalid TTL value, must be >= 0");
        goto done;
    }
    if (restore_decode(r, &v, &n, &vtype) < 0)
        goto done;
    uint64_t now = server_unix_ms(), when = (uint64_t)o.ttl;
    if (o.ttl && !o.absttl)
        when = (uint64_t)o.ttl > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)o.ttl;
    if (when && when <= now) {
        free(v);
        restore_expired(r, o.replace);
        return;
    }
    if (when > LS_EXPIRE_MAX) {
        reply_error(r, "ERR invalid expire time in 'restore' command");
        goto done;
    }
    r->step = XFER_OK;
    r->flags = 0;
    xfer_put(r, r->db, &r->argv[1], v, n, when, 0, vtype);
    free(v); /* park_put copied it */
    return;
done:
    free(v);
    req_done(r);
}

/* ---- OBJECT ---- */

/* The encoding Redis gives the value as SET stores it. */
static const char *str_encoding(const char *v, size_t n, long long *ival)
{
    if (n <= 20 && cmd_parse_ll(v, n, ival) == 0)
        return "int";
    return n <= 44 ? "embstr" : "raw";
}

static void object_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    long long iv = -1;
    if (read_failed(r, rc))
        return;
    if (it->vtype != COLL_STRING) {
        const char *e = coll_encoding(it->vtype, it->value, it->value_len);
        if (r->step == 0)
            reply_bulk(r, e, strlen(e));
        else
            reply_int(r, 1);
        req_done(r);
        return;
    }
    const char *enc = str_encoding(it->value, it->value_len, &iv);
    if (r->step == 0)
        reply_bulk(r, enc, strlen(enc));
    else
        reply_int(r, enc[0] == 'i' && iv >= 0 && iv < 10000 ? INT_MAX : 1);
    req_done(r);
}

static void object_help(struct req *r)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help."};
    reply_lines(r, lines, sizeof(lines) / sizeof(lines[0]));
}

static const char *const object_subs[] = {"encoding", "refcount", "idletime", "freq", "help"};

/* Replies Redis's error for an unknown subcommand or a wrong count; returns the index of
 * a known one with the right count, or -1. */
static int sub_find(struct req *r, const char *const *subs, size_t nsubs, const char *cmd)
{
    const struct resp_arg *sub = &r->argv[1];
    for (size_t i = 0; i < nsubs; i++) {
        if (!cmd_arg_is(sub, subs[i]))
            continue;
        int help = strcmp(subs[i], "help") == 0;
        if ((help && r->argc != 2) || (!help && r->argc < 3) ||
            (!help && r->argc > 3 && strcmp(cmd, "MEMORY") != 0)) {
            reply_errorf(r, "ERR wrong number of arguments for '%s|%s' command",
                         strcmp(cmd, "MEMORY") == 0 ? "memory" : "object", subs[i]);
            return -1;
        }
        return (int)i;
    }
    reply_errorf(r, "ERR unknown subcommand '%.128s'. Try %s HELP.", sub->ptr, cmd);
    return -1;
}

void cmd_keys_object(struct req *r)
{
    struct ls_meta m;
    int i = sub_find(r, object_subs, sizeof(object_subs) / sizeof(object_subs[0]), "OBJECT");
    if (i < 0 || i == 4) {
        if (i == 4)
            object_help(r);
        req_done(r);
        return;
    }
    if (i <= 1) { /* ENCODING, REFCOUNT: they depend on the value */
        r->step = (uint32_t)i;
        r->want_type = VT_ANY;
        cmd_get(r, &r->argv[2], object_get_cb);
        return;
    }
    if (cmd_keys_lookup(r, r->db, &r->argv[2], &m) != 0)
        reply_null(r);
    else if (i == 2)
        reply_int(r, 0);
    else
        reply_error(r, "ERR An LFU maxmemory policy is not selected, access frequency not "
                       "tracked. Please note that when switching between policies at runtime "
                       "LRU and LFU data will take some time to adjust.");
    req_done(r);
}

/* ---- MEMORY ---- */

static void memory_help(struct req *r)
{
    static const char *const lines[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help."};
    reply_lines(r, lines, sizeof(lines) / sizeof(lines[0]));
}

/* The index's memory per key at most (DESIGN.md's budget: under 40 bytes, B-tree
 * included): a nearly empty index's fixed nodes over its few keys would say kilobytes. */
#define MEMORY_INDEX_PER_KEY 40

static void memory_usage(struct req *r)
{
    struct ls_meta m;
    struct ls_stats st;
    long long samples;
    for (uint32_t j = 3; j < r->argc; j += 2) {
        if (!cmd_arg_is(&r->argv[j], "samples") || j + 1 >= r->argc) {
            reply_error(r, ERR_SYNTAX);
            return;
        }
        if (cmd_arg_ll(&r->argv[j + 1], &samples) < 0) {
            reply_error(r, ERR_NOT_INT);
            return;
        }
        if (samples < 0) {
            reply_error(r, ERR_SYNTAX);
            return;
        }
    }
    if (cmd_keys_lookup(r, r->db, &r->argv[2], &m) != 0) {
        reply_null(r);
        return;
    }
    ls_get_stats(cmd_engine(r), &st);
    uint64_t per_key = st.keys ? (st.index_bytes + st.keys - 1) / st.keys : MEMORY_INDEX_PER_KEY;
    if (per_key > MEMORY_INDEX_PER_KEY) /* a nearly empty index: its fixed nodes dominate */
        per_key = MEMORY_INDEX_PER_KEY;
    reply_int(r, (int64_t)(m.record_size + per_key));
}

static const char *const memory_subs[] = {"usage", "help"};

void cmd_keys_memory(struct req *r)
{
    int i = sub_find(r, memory_subs, sizeof(memory_subs) / sizeof(memory_subs[0]), "MEMORY");
    if (i == 0)
        memory_usage(r);
    else if (i == 1)
        memory_help(r);
    req_done(r);
}

/* ---- WAIT ---- */

void cmd_keys_wait(struct req *r)
{
    long long n, timeout;
    if (cmd_arg_ll(&r->argv[1], &n) < 0)
        reply_error(r, ERR_NOT_INT);
    else if (cmd_arg_ll(&r->argv[2], &timeout) < 0)
        reply_error(r, "ERR timeout is not an integer or out of range");
    else if (timeout < 0)
        reply_error(r, "ERR timeout is negative");
    else
        reply_int(r, 0);
    req_done(r);
}
