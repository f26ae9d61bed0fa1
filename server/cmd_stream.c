/*
 * cmd_stream.c - Redis streams: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD (BLOCK) XSETID
 * XINFO STREAM.
 *
 * A stream is one record under its key, record tag COLL_STREAM, its value the encoding of
 * proto/stream.h (metadata, consumer groups, entries). Every command reads it (one read,
 * as GET's; a key of another type answers WRONGTYPE, an absent key is an empty stream
 * where Redis treats it so) and a write replaces it whole under the key's exclusive lock
 * (lockset.c), keeping its TTL: after a crash a stream is the record before the command or
 * after it. Unlike the other collections a stream left empty stays (Redis keeps it, with
 * its last ID). Cost: one read and one write of the whole stream per change, so a stream
 * is bounded by max_value_size: a change that would pass it is refused with the error of a
 * value too large, the stream unchanged (XTRIM, XADD's MAXLEN and MINID keep it bounded).
 *
 * Trimming with `~` removes exactly what `=` would, up to its LIMIT (default 10000): Redis
 * removes whole nodes of its radix tree only and may leave more entries.
 *
 * XREAD BLOCK waits through block.c: an XADD (any write of the stream) wakes it and it
 * runs again with the IDs it resolved the first time ($: the last ID then), until its
 * deadline, which a wake-up does not move.
 */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "coll.h"
#include "coll_cmd.h"
#include "large.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "cmd_stream.h"
#include "stream.h"

#define TRIM_LIMIT_AUTO 10000 /* Redis: 100 * stream-node-max-entries */

int xs_in_script(const struct req *r)
{
    return r->parent && r->parent->cmd && (r->parent->cmd->flags & CMD_EVAL);
}

void *xs_aux(struct req *r, size_t size)
{
    void *p = calloc(1, size);
    if (p == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return NULL;
    }
    r->aux = p;
    r->aux_free = free;
    return p;
}

/* ---- reading ---- */

/* The stream of a read into *s (empty when the key is absent: *exists 0), or the error
 * replied and r ended: returns 1. */
int xs_stream_of(struct req *r, int rc, const struct ls_item *it, struct stream *s, int *exists)
{
    memset(s, 0, sizeof(*s));
    *exists = 0;
    if (coll_read_begin(r, &rc))
        return 1;
    if (rc != 0)
        return 0;
    int d = stream_decode(it->value, it->value_len, s);
    if (d != 0) {
        coll_decode_failed(r, d, "stream");
        return 1;
    }
    if (r->xs_partial) { /* some of a large stream's entries: its length and first from there */
        s->length = r->xs_length;
        s->first = r->xs_first;
    }
    *exists = 1;
    return 0;
}

void xs_read(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    free(r->xs_root); /* set again when this read loads a large stream (large.c) */
    r->xs_root = NULL;
    r->xs_partial = 0;
    r->want_type = COLL_STREAM;
    large_coll_get(r, key, cb); /* a large stream comes to cb loaded, as one record */
}

/* ---- replies ---- */

int xs_w_id(struct pbuf *o, const struct stream_id *id)
{
    char b[STREAM_ID_MAX];
    return resp_w_bulk(o, b, stream_id_fmt(id, b));
}

void xs_reply_id(struct req *r, const struct stream_id *id)
{
    char b[STREAM_ID_MAX];
    reply_bulk(r, b, stream_id_fmt(id, b));
}

/* One entry: [id, [field, value, ...]]. */
int xs_w_entry(struct pbuf *o, const struct stream_entry *x)
{
    int rc = resp_w_array(o, 2);
    if (rc == 0)
        rc = xs_w_id(o, &x->id);
    if (rc == 0)
        rc = resp_w_array(o, (size_t)(2 * x->fields));
    const uint8_t *pos = x->pairs, *f, *v;
    size_t fl, vl;
    while (rc == 0 && stream_pair_next(x, &pos, &f, &fl, &v, &vl)) {
        rc = resp_w_bulk(o, f, fl);
        if (rc == 0)
            rc = resp_w_bulk(o, v, vl);
    }
    return rc;
}

/* The entries [a, b) of s (rev: from b - 1 down), at most count (0: all) into o. */
int xs_w_range(struct pbuf *o, const struct stream *s, size_t a, size_t b, int rev, uint64_t count)
{
    size_t k = b > a ? b - a : 0;
    if (count && count < k)
        k = (size_t)count;
    int rc = resp_w_array(o, k);
    for (size_t i = 0; i < k && rc == 0; i++)
        rc = xs_w_entry(o, &s->e[rev ? b - 1 - i : a + i]);
    return rc;
}

/* ---- writing ---- */

/* cmd_stream.h */
int xs_encode(struct req *r, const struct ls_item *it, const struct stream *s, struct coll_buf *out)
{
    if (stream_encode(s, out) < 0)
        return -1;
    /* a read of some entries (r->xs_partial) is written back only as its root */
    int other = r->xs_partial ? -2 : large_needed(r->c->srv, COLL_STREAM, out->p, out->len);
    if (it == NULL || r->xs_root == NULL)
        return other;
    /* Loaded from a large stream's root: when its entries are unchanged (a group command),
     * the root alone is rewritten, naming the same pages, with the new meta. */
    size_t elen = 0;
    for (size_t i = 0; i < s->n; i++)
        elen += stream_entry_bytes(&s->e[i]);
    uint64_t n0;
    size_t h = 1 + coll_varint_get(out->p + 1, out->len - 1, &n0);
    if (elen != r->xs_root_elen || elen > it->value_len || elen + h > out->len ||
        memcmp(out->p + out->len - elen, (const uint8_t *)it->value + it->value_len - elen, elen))
        return other;
    size_t mlen = out->len - elen - h;
    if (PLIST_ROOT_LEN + mlen > large_stream_root_max(r->c->srv))
        return r->xs_partial ? -2 : 0; /* groups past a root's bound: one record again */
    uint8_t *p = malloc(PLIST_ROOT_LEN + mlen);
    if (p == NULL)
        return -1;
    memcpy(p, r->xs_root, PLIST_ROOT_LEN);
    memcpy(p + PLIST_ROOT_LEN, out->p + h, mlen);
    free(out->p);
    *out = (struct coll_buf){p, PLIST_ROOT_LEN + mlen, PLIST_ROOT_LEN + mlen};
    return 0;
}

void xs_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
              const struct stream *s, const char *const *events, int nev, enum cmd_reply_mode mode)
{
    struct coll_buf out = {0};
    int large = xs_encode(r, it, s, &out);
    if (large < 0) {
        coll_buf_free(&out);
        reply_error(r, large == -2 ? XS_ERR_PARTIAL : "ERR out of memory");
        req_done(r);
        return;
    }
    if (large) { /* large.c: a new version, its pages, then the root */
        if (it == NULL)
            pubsub_notify(r, NOTIFY_NEW, "new", key);
        for (int i = 0; i < nev; i++)
            pubsub_notify(r, NOTIFY_STREAM, events[i], key);
        block_signal(r->c->srv, r->db, key->ptr, key->len);
        struct large_put p = {r->db,
                              key,
                              out.p,
                              out.len,
                              {.expire_ms = it ? it->expire_ms : 0,
                               .flags = it ? it->flags : 0,
                               .vtype = COLL_STREAM}};
        r->step = mode;
        large_write(r, &p, 1, cmd_write_cb);
        coll_buf_free(&out); /* large_write copied what it keeps */
        return;
    }
    if (it == NULL)
        pubsub_arm(r, NOTIFY_NEW, "new");
    for (int i = 0; i < nev; i++)
        pubsub_arm(r, NOTIFY_STREAM, events[i]);
    /* park_put wakes an XREAD BLOCK on the key (every put signals its key) */
    cmd_put_typed(r, key, out.p, out.len, it ? it->expire_ms : 0, it ? it->flags : 0, COLL_STREAM,
                  mode);
    coll_buf_free(&out); /* the put copied it */
}

/* ---- trimming (XADD, XTRIM) ---- */

enum trim_kind { TRIM_NONE, TRIM_MAXLEN, TRIM_MINID };

struct trim_args {
    enum trim_kind kind;
    int approx;
    long long maxlen, limit; /* limit 0: none */
    struct stream_id minid;
    int nomkstream, id_given, seq_given;
    struct stream_id id;
    uint32_t idpos; /* XADD: the ID's argument */
};

/* Parses XADD's (xadd) or XTRIM's options from argv[2]; replies the error and returns -1. */
static int trim_parse(struct req *r, struct trim_args *a, int xadd)
{
    memset(a, 0, sizeof(*a));
    int limit_given = 0;
    uint32_t i = 2;
    for (; i < r->argc; i++) {
        uint32_t more = r->argc - 1 - i;
        const struct resp_arg *o = &r->argv[i];
        if (xadd && o->len == 1 && o->ptr[0] == '*') {
            break;
        } else if ((cmd_arg_is(o, "maxlen") || cmd_arg_is(o, "minid")) && more) {
            int minid = cmd_arg_is(o, "minid");
            if (a->kind != TRIM_NONE) {
                reply_error(r, "ERR syntax error, MAXLEN and MINID options at the same time "
                               "are not compatible");
                return -1;
            }
            a->approx = 0;
            const struct resp_arg *nx = &r->argv[i + 1];
            if (more >= 2 && nx->len == 1 && (nx->ptr[0] == '~' || nx->ptr[0] == '=')) {
                a->approx = nx->ptr[0] == '~';
                i++;
            }
            const struct resp_arg *v = &r->argv[i + 1];
            if (minid) {
                if (stream_id_parse(v->ptr, v->len, 0, 1, NULL, &a->minid) < 0) {
                    reply_error(r, ERR_INVALID_ID);
                    return -1;
                }
                a->kind = TRIM_MINID;
            } else {
                if (cmd_arg_ll(v, &a->maxlen) < 0) {
                    reply_error(r, ERR_NOT_INT);
                    return -1;
                }
                if (a->maxlen < 0) {
                    reply_error(r, "ERR The MAXLEN argument must be >= 0.");
                    return -1;
                }
                a->kind = TRIM_MAXLEN;
            }
            i++;
        } else if (cmd_arg_is(o, "limit") && more) {
            if (cmd_arg_ll(&r->argv[i + 1], &a->limit) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            if (a->limit < 0) {
                reply_error(r, "ERR The LIMIT argument must be >= 0.");
                return -1;
            }
            limit_given = 1;
            i++;
        } else if (xadd && cmd_arg_is(o, "nomkstream")) {
            a->nomkstream = 1;
        } else if (xadd) {
            if (stream_id_parse(o->ptr, o->len, 0, 1, &a->seq_given, &a->id) < 0) {
                reply_error(r, ERR_INVALID_ID);
                return -1;
            }
            a->id_given = 1;
            break;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    if (a->limit && a->kind == TRIM_NONE) {
        reply_error(r, "ERR syntax error, LIMIT cannot be used without specifying a trimming "
                       "strategy");
        return -1;
    }
    if (!xadd && a->kind == TRIM_NONE) {
        reply_error(r, "ERR syntax error, XTRIM must be called with a trimming strategy");
        return -1;
    }
    if (limit_given && !a->approx) {
        reply_error(r, "ERR syntax error, LIMIT cannot be used without the special ~ option");
        return -1;
    }
    if (!limit_given)
        a->limit = a->approx ? TRIM_LIMIT_AUTO : 0;
    a->idpos = i;
    return 0;
}

/* Trims s as a says: returns the entries removed. */
static uint64_t trim_apply(struct stream *s, const struct trim_args *a)
{
    size_t k = 0;
    if (a->kind == TRIM_MAXLEN && (uint64_t)s->n > (uint64_t)a->maxlen)
        k = s->n - (size_t)a->maxlen;
    else if (a->kind == TRIM_MINID)
        k = stream_lower_bound(s, &a->minid);
    if (a->limit && (uint64_t)k > (uint64_t)a->limit)
        k = (size_t)a->limit;
    stream_remove(s, 0, k);
    return k;
}

/* ---- XADD ---- */

/* XADD's new ID after last (the stream's greatest): 0 with *id set, or the error. */
static const char *xadd_id(const struct trim_args *a, const struct stream_id *last,
                           struct stream_id *id)
{
    *id = *last;
    if (last->ms == UINT64_MAX && last->seq == UINT64_MAX)
        return "ERR The stream has exhausted the last possible ID, unable to add more items";
    if (!a->id_given) {
        uint64_t now = server_unix_ms();
        if (now > last->ms)
            *id = (struct stream_id){now, 0};
        else
            stream_id_incr(id);
        return NULL;
    }
    if (!a->seq_given) {
        if (a->id.ms == last->ms && last->seq != UINT64_MAX) {
            id->seq = last->seq + 1;
            return NULL;
        }
        if (a->id.ms > last->ms) {
            *id = (struct stream_id){a->id.ms, 0};
            return NULL;
        }
    } else if (stream_id_cmp(&a->id, last) > 0) {
        *id = a->id;
        return NULL;
    }
    return "ERR The ID specified in XADD is equal or smaller than the target stream top item";
}

/* The new entry's pairs, encoded (malloc'd, *bytes long), or NULL out of memory. */
static uint8_t *xadd_pairs(struct req *r, const struct trim_args *a, size_t *bytes)
{
    uint32_t fp = a->idpos + 1;
    size_t n = 0, o = 0;
    for (uint32_t i = fp; i < r->argc; i++)
        n += coll_varint_len(r->argv[i].len) + r->argv[i].len;
    uint8_t *pairs = malloc(n ? n : 1);
    for (uint32_t i = fp; pairs && i < r->argc; i++) {
        o += coll_varint_put(pairs + o, r->argv[i].len);
        memcpy(pairs + o, r->argv[i].ptr, r->argv[i].len);
        o += r->argv[i].len;
    }
    *bytes = n;
    return pairs;
}

static void xadd_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct trim_args *a = r->aux;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    if (!exists && a->nomkstream) {
        reply_null(r);
        req_done(r);
        return;
    }
    struct stream_id id;
    const char *err = xadd_id(a, &s.last_id, &id);
    if (err) {
        stream_free(&s);
        reply_error(r, err);
        req_done(r);
        return;
    }
    size_t bytes;
    uint8_t *pairs = xadd_pairs(r, a, &bytes);
    struct stream_entry x = {id, (r->argc - a->idpos - 1) / 2, pairs, bytes};
    if (pairs == NULL || stream_append(&s, &x) < 0) {
        free(pairs);
        stream_free(&s);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    s.last_id = id;
    s.entries_added++;
    int trimmed = a->kind != TRIM_NONE && trim_apply(&s, a) > 0;
    pbuf_reset(&r->tmp);
    reply_check(r, xs_w_id(&r->tmp, &id));
    static const char *const ev[] = {"xadd", "xtrim"};
    xs_store(r, &r->argv[1], exists ? it : NULL, &s, ev, trimmed ? 2 : 1, CMD_REPLY_TMP);
    free(pairs);
    stream_free(&s);
}

/* A stream's read for a command that may work on a large one's root natively (cb gets
 * the root as it is; large_list_read loads it for the handler). */
void xs_read_root(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    free(r->xs_root);
    r->xs_root = NULL;
    r->xs_partial = 0;
    r->want_type = COLL_STREAM;
    r->hold_claim = 1; /* a large one's pages come after its root */
    cmd_get(r, key, cb);
}

static struct large_xtrim xtrim_of(const struct trim_args *a)
{
    static const enum large_xtrim_kind kind[] = {[TRIM_NONE] = LARGE_XTRIM_NONE,
                                                 [TRIM_MAXLEN] = LARGE_XTRIM_MAXLEN,
                                                 [TRIM_MINID] = LARGE_XTRIM_MINID};
    return (struct large_xtrim){.kind = kind[a->kind],
                                .approx = a->approx,
                                .maxlen = a->maxlen < 0 ? 0 : (uint64_t)a->maxlen,
                                .minid = a->minid,
                                .limit = a->limit < 0 ? 0 : (uint64_t)a->limit};
}

/* XADD on a large stream: its entry appended to the tail page (large_stream.c). */
static void xadd_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct trim_args *a = r->aux;
    struct stream_meta m;
    if (rc == 0 && large_stream_meta(it, &m)) {
        struct stream_id id;
        const char *err = xadd_id(a, &m.last_id, &id);
        r->c->srv->stats.keyspace_hits++; /* as coll_read_begin counts it */
        if (err) {
            reply_error(r, err);
            req_done(r);
            return;
        }
        size_t bytes, elen;
        uint8_t *pairs = xadd_pairs(r, a, &bytes), *e = NULL;
        uint64_t fields = (r->argc - a->idpos - 1) / 2;
        if (pairs && (e = malloc(elen = stream_entry_put(NULL, &id, fields, pairs, bytes))))
            stream_entry_put(e, &id, fields, pairs, bytes);
        free(pairs);
        if (e && elen + 11 > r->c->srv->cfg.max_value_size) { /* no page could hold it */
            free(e);
            reply_error(r, ERR_TOO_BIG);
            req_done(r);
            return;
        }
        if (e) {
            m.last_id = id;
            m.entries_added++;
            struct large_xtrim t = xtrim_of(a);
            pbuf_reset(&r->tmp);
            reply_check(r, xs_w_id(&r->tmp, &id));
            int took = large_stream_add(r, it, e, elen, &m, &t, xadd_cb);
            free(e);
            if (took)
                return;
        }
        r->c->srv->stats.keyspace_hits--; /* xadd_cb counts it */
    }
    large_list_read(r, rc, it, xadd_cb);
}

/* XADD's (xadd) or XTRIM's options parsed into r->aux: NULL with the error replied and r
 * ended. */
static struct trim_args *trim_args_of(struct req *r, int xadd)
{
    struct trim_args *a = xs_aux(r, sizeof(*a));
    if (a == NULL)
        return NULL;
    if (trim_parse(r, a, xadd) < 0) {
        req_done(r);
        return NULL;
    }
    return a;
}

/* XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ... */
void cmd_stream_xadd(struct req *r)
{
    struct trim_args *a = trim_args_of(r, 1);
    if (a == NULL)
        return;
    uint32_t fp = a->idpos + 1;
    if (a->idpos >= r->argc || r->argc - fp < 2 || (r->argc - fp) % 2 != 0) {
        cmd_wrong_args(r);
        req_done(r);
        return;
    }
    if (a->id_given && a->seq_given && a->id.ms == 0 && a->id.seq == 0) {
        reply_error(r, "ERR The ID specified in XADD must be greater than 0-0");
        req_done(r);
        return;
    }
    xs_read_root(r, &r->argv[1], xadd_root_cb);
}

/* ---- XTRIM ---- */

static void xtrim_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    uint64_t k = exists ? trim_apply(&s, r->aux) : 0;
    if (k == 0) {
        stream_free(&s);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    r->num = (int64_t)k;
    static const char *const ev[] = {"xtrim"};
    xs_store(r, &r->argv[1], it, &s, ev, 1, CMD_REPLY_NUM);
    stream_free(&s);
}

static void xtrim_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct large_xtrim t = xtrim_of(r->aux);
    struct stream_meta m;
    if (rc == 0 && large_stream_meta(it, &m)) {
        r->c->srv->stats.keyspace_hits++; /* as coll_read_begin counts it */
        if (large_stream_trim(r, it, &t, xtrim_cb))
            return;
        r->c->srv->stats.keyspace_hits--; /* xtrim_cb counts it */
    }
    large_list_read(r, rc, it, xtrim_cb);
}

/* XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count] */
void cmd_stream_xtrim(struct req *r)
{
    if (trim_args_of(r, 0))
        xs_read_root(r, &r->argv[1], xtrim_root_cb);
}

/* ---- XLEN, XRANGE, XREVRANGE ---- */

static void xlen_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    int exists;
    uint64_t n;
    if (rc == 0 && large_stream_len(it, &n)) { /* a large one's root counts its entries */
        r->c->srv->stats.keyspace_hits++;
        reply_int(r, (int64_t)n);
        req_done(r);
        return;
    }
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    reply_int(r, (int64_t)s.n);
    stream_free(&s);
    req_done(r);
}

void cmd_stream_xlen(struct req *r)
{
    xs_read_root(r, &r->argv[1], xlen_cb); /* a large one: its root */
}

/* XRANGE's parsed arguments (r->aux). */
struct xrange {
    struct stream_id start, end;
    long long count; /* -1: all */
    int rev;
};

static void xrange_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xrange *q = r->aux;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    if (!exists) {
        reply_array(r, 0);
    } else if (q->count == 0) {
        reply_null_array(r);
    } else {
        size_t a = stream_lower_bound(&s, &q->start), b = a;
        if (stream_id_cmp(&q->start, &q->end) <= 0) {
            struct stream_id e1 = q->end;
            b = stream_id_incr(&e1) == 0 ? stream_lower_bound(&s, &e1) : s.n;
        }
        pbuf_reset(&r->tmp);
        reply_check(r,
                    xs_w_range(&r->tmp, &s, a, b, q->rev, q->count < 0 ? 0 : (uint64_t)q->count));
        reply_tmp(r);
    }
    stream_free(&s);
    req_done(r);
}

/* A large stream: only the pages of the range are read (large_stream.c). */
static void xrange_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xrange *q = r->aux;
    static const struct stream_id none_lo = {UINT64_MAX, UINT64_MAX}, none_hi = {0, 0};
    if (rc == 0 && q->count == 0 && /* COUNT 0: the reply needs no entry */
        large_stream_range(r, it, &none_lo, &none_hi, q->rev, 0, xrange_cb))
        return;
    if (rc == 0 && q->count != 0 &&
        large_stream_range(r, it, &q->start, &q->end, q->rev, q->count < 0 ? 0 : (uint64_t)q->count,
                           xrange_cb))
        return;
    large_list_read(r, rc, it, xrange_cb);
}

/* An interval bound: "(" + a strict ID excludes it; -1 with the error replied. */
int xs_interval_arg(struct req *r, const struct resp_arg *a, uint64_t missing, struct stream_id *id,
                    int *ex)
{
    *ex = a->len > 1 && a->ptr[0] == '(';
    int bad = *ex ? stream_id_parse(a->ptr + 1, a->len - 1, missing, 1, NULL, id)
                  : stream_id_parse(a->ptr, a->len, missing, 0, NULL, id);
    if (bad < 0)
        reply_error(r, ERR_INVALID_ID);
    return bad;
}

static void xrange_generic(struct req *r, int rev)
{
    struct xrange *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    q->rev = rev;
    q->count = -1;
    int sx, ex;
    if (xs_interval_arg(r, &r->argv[rev ? 3 : 2], 0, &q->start, &sx) < 0)
        goto fail;
    if (sx && stream_id_incr(&q->start) < 0) {
        reply_error(r, "ERR invalid start ID for the interval");
        goto fail;
    }
    if (xs_interval_arg(r, &r->argv[rev ? 2 : 3], UINT64_MAX, &q->end, &ex) < 0)
        goto fail;
    if (ex && stream_id_decr(&q->end) < 0) {
        reply_error(r, "ERR invalid end ID for the interval");
        goto fail;
    }
    for (uint32_t j = 4; j < r->argc; j++) {
        if (cmd_arg_is(&r->argv[j], "count") && j + 1 < r->argc) {
            if (cmd_arg_ll(&r->argv[j + 1], &q->count) < 0) {
                reply_error(r, ERR_NOT_INT);
                goto fail;
            }
            if (q->count < 0)
                q->count = 0;
            j++;
        } else {
            reply_error(r, ERR_SYNTAX);
            goto fail;
        }
    }
    xs_read_root(r, &r->argv[1], xrange_root_cb);
    return;
fail:
    req_done(r);
}

void cmd_stream_xrange(struct req *r)
{
    xrange_generic(r, 0);
}

void cmd_stream_xrevrange(struct req *r)
{
    xrange_generic(r, 1);
}

/* ---- XDEL ---- */

static void xdel_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    if (!exists) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    uint64_t deleted = 0;
    for (uint32_t j = 2; j < r->argc; j++) {
        struct stream_id id;
        if (stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id) < 0) {
            stream_free(&s);
            reply_error(r, ERR_INVALID_ID);
            req_done(r);
            return;
        }
    }
    for (uint32_t j = 2; j < r->argc; j++) {
        struct stream_id id;
        stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id);
        size_t i = stream_lower_bound(&s, &id);
        if (i < s.n && stream_id_cmp(&s.e[i].id, &id) == 0) {
            stream_remove(&s, i, i + 1);
            if (stream_id_cmp(&id, &s.max_deleted) > 0)
                s.max_deleted = id;
            deleted++;
        }
    }
    if (deleted == 0) {
        stream_free(&s);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    r->num = (int64_t)deleted;
    static const char *const ev[] = {"xdel"};
    xs_store(r, &r->argv[1], it, &s, ev, 1, CMD_REPLY_NUM);
    stream_free(&s);
}

/* A large stream: the pages of its IDs rewritten with the root (large_stream.c). An invalid
 * ID takes the whole read, whose handler replies the error as Redis does, after the key. */
static void xdel_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream_meta m;
    if (rc == 0 && large_stream_meta(it, &m)) {
        uint32_t k = r->argc - 2, j = 0;
        struct stream_id *ids = malloc(k * sizeof(*ids));
        while (ids && j < k &&
               stream_id_parse(r->argv[2 + j].ptr, r->argv[2 + j].len, 0, 1, NULL, &ids[j]) == 0)
            j++;
        int native = 0;
        if (ids && j == k) {
            r->c->srv->stats.keyspace_hits++; /* as coll_read_begin counts it */
            native = large_stream_del(r, it, ids, k, xdel_cb);
            if (!native)
                r->c->srv->stats.keyspace_hits--; /* xdel_cb counts it */
        }
        free(ids);
        if (native)
            return;
    }
    large_list_read(r, rc, it, xdel_cb);
}

/* XDEL key id [id ...] */
void cmd_stream_xdel(struct req *r)
{
    xs_read_root(r, &r->argv[1], xdel_root_cb);
}

/* ---- XSETID ---- */

struct xsetid {
    struct stream_id id, maxdel;
    long long added; /* -1: not given */
};

static void xsetid_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xsetid *q = r->aux;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    const char *err = NULL;
    if (!exists)
        err = "ERR no such key";
    else if (s.n && stream_id_cmp(&q->id, &s.e[s.n - 1].id) < 0)
        err = "ERR The ID specified in XSETID is smaller than the target stream top item";
    else if (s.n && q->added != -1 && (uint64_t)s.n > (uint64_t)q->added)
        err = "ERR The entries_added specified in XSETID is smaller than the target stream length";
    if (err) {
        stream_free(&s);
        reply_error(r, err);
        req_done(r);
        return;
    }
    s.last_id = q->id;
    if (q->added != -1)
        s.entries_added = (uint64_t)q->added;
    if (q->maxdel.ms || q->maxdel.seq)
        s.max_deleted = q->maxdel;
    static const char *const ev[] = {"xsetid"};
    xs_store(r, &r->argv[1], it, &s, ev, 1, CMD_REPLY_OK);
    stream_free(&s);
}

/* XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id] */
void cmd_stream_xsetid(struct req *r)
{
    struct xsetid *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    q->added = -1;
    if (stream_id_parse(r->argv[2].ptr, r->argv[2].len, 0, 1, NULL, &q->id) < 0) {
        reply_error(r, ERR_INVALID_ID);
        goto fail;
    }
    for (uint32_t i = 3; i < r->argc; i += 2) {
        int more = i + 1 < r->argc;
        if (cmd_arg_is(&r->argv[i], "entriesadded") && more) {
            if (cmd_arg_ll(&r->argv[i + 1], &q->added) < 0) {
                reply_error(r, ERR_NOT_INT);
                goto fail;
            }
            if (q->added < 0) {
                reply_error(r, "ERR entries_added must be positive");
                goto fail;
            }
        } else if (cmd_arg_is(&r->argv[i], "maxdeletedid") && more) {
            if (stream_id_parse(r->argv[i + 1].ptr, r->argv[i + 1].len, 0, 1, NULL, &q->maxdel) <
                0) {
                reply_error(r, ERR_INVALID_ID);
                goto fail;
            }
            if (stream_id_cmp(&q->id, &q->maxdel) < 0) {
                reply_error(r, "ERR The ID specified in XSETID is smaller than the provided "
                               "max_deleted_entry_id");
                goto fail;
            }
        } else {
            reply_error(r, ERR_SYNTAX);
            goto fail;
        }
    }
    xs_read(r, &r->argv[1], xsetid_cb);
    return;
fail:
    req_done(r);
}

/* ---- XREAD ---- */

/* Where XREAD's (XREADGROUP's) STREAMS keys are: 1 with *first (the first key) and *n set,
 * parsing its options as Redis does; 0 when the arguments are not well formed (the
 * handler replies the error). */
int cmd_stream_keys(const struct resp_arg *argv, uint32_t argc, int group, uint32_t *first,
                    uint32_t *n)
{
    for (uint32_t i = 1; i < argc; i++) {
        uint32_t more = argc - i - 1;
        const struct resp_arg *o = &argv[i];
        if ((cmd_arg_is(o, "block") || cmd_arg_is(o, "count")) && more) {
            i++;
        } else if (cmd_arg_is(o, "streams") && more) {
            if (more % 2 != 0)
                return 0;
            *first = i + 1;
            *n = more / 2;
            return 1;
        } else if (group && cmd_arg_is(o, "group") && more >= 2) {
            i += 2;
        } else if (group && cmd_arg_is(o, "noack")) {
            continue;
        } else {
            return 0;
        }
    }
    return 0;
}

/* XREAD's state (r->aux), kept across the runs of a blocked XREAD. */
struct xread {
    struct xs_read_opts o;
    uint32_t at;           /* the key being read */
    int resolved;          /* ids[] hold the IDs resolved ($ at the first run) */
    uint32_t served;       /* streams with entries in r->tmp */
    struct stream_id *ids; /* after which each key's entries are read */
};

static void xread_free(void *p)
{
    struct xread *x = p;
    free(x->ids);
    free(x);
}

static void xread_next(struct req *r);

static void xread_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xread *x = r->aux;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    const struct resp_arg *idarg = &r->argv[x->o.first + x->o.n + x->at];
    const char *err = NULL;
    if (!x->resolved) {
        if (idarg->len == 1 && idarg->ptr[0] == '$')
            x->ids[x->at] = s.last_id; /* 0-0 when absent */
        else if (idarg->len == 1 && idarg->ptr[0] == '>')
            err = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
                  "<group> <consumer> option.";
        else if (stream_id_parse(idarg->ptr, idarg->len, 0, 1, NULL, &x->ids[x->at]) < 0)
            err = ERR_INVALID_ID;
    }
    if (err) {
        stream_free(&s);
        reply_error(r, err);
        req_done(r);
        return;
    }
    struct stream_id from = x->ids[x->at];
    if (s.n && stream_id_cmp(&s.e[s.n - 1].id, &from) > 0) {
        size_t a = stream_id_incr(&from) == 0 ? stream_lower_bound(&s, &from) : s.n;
        const struct resp_arg *key = &r->argv[x->o.first + x->at];
        int wrc = 0;
        if (r->proto == 2)
            wrc = resp_w_array(&r->tmp, 2);
        if (wrc == 0)
            wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
        if (wrc == 0)
            wrc = xs_w_range(&r->tmp, &s, a, s.n, 0, xs_count(r, &x->o));
        reply_check(r, wrc);
        x->served++;
    }
    stream_free(&s);
    x->at++;
    xread_next(r);
}

/* A large stream: only the pages after the ID are read (large_stream.c). */
static void xread_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xread *x = r->aux;
    struct stream_meta m;
    if (rc == 0 && large_stream_meta(it, &m)) {
        const struct resp_arg *idarg = &r->argv[x->o.first + x->o.n + x->at];
        struct stream_id from = m.last_id; /* `$`, and an ID xread_cb refuses: none read */
        if (x->resolved)
            from = x->ids[x->at];
        else if (!(idarg->len == 1 && idarg->ptr[0] == '$') &&
                 stream_id_parse(idarg->ptr, idarg->len, 0, 1, NULL, &from) < 0)
            from = m.last_id;
        struct stream_id end = {UINT64_MAX, UINT64_MAX};
        if (stream_id_incr(&from) < 0) /* after the last possible ID: an empty range */
            end = (struct stream_id){0, 0};
        if (large_stream_range(r, it, &from, &end, 0, xs_count(r, &x->o), xread_cb))
            return;
    }
    large_list_read(r, rc, it, xread_cb);
}

static void xread_next(struct req *r)
{
    struct xread *x = r->aux;
    if (x->at < x->o.n) {
        r->hold_claim = 1; /* the keys are read one after the other */
        xs_read_root(r, &r->argv[x->o.first + x->at], xread_root_cb);
        return;
    }
    x->resolved = 1;
    if (x->served) {
        if (r->proto == 2)
            reply_array(r, x->served);
        else
            reply_map(r, x->served);
        reply_tmp(r);
        req_done(r);
        return;
    }
    xs_block(r, &x->o);
}

uint64_t xs_count(const struct req *r, const struct xs_read_opts *o)
{
    if (o->count == 0 && r->block_woken)
        return 1000; /* Redis's XREAD_BLOCKED_DEFAULT_COUNT */
    return (uint64_t)o->count;
}

void xs_block(struct req *r, struct xs_read_opts *o)
{
    /* no BLOCK, inside MULTI, or past the deadline of its first wait: Redis's null */
    if (o->block < 0 || r->parent ||
        block_wait(r, o->first, o->first + o->n - 1, (uint64_t)o->block, BLOCK_NULL_ARRAY) < 0) {
        reply_null_array(r);
        req_done(r);
    }
}

int xs_read_opts_parse(struct req *r, struct xs_read_opts *o, int group)
{
    o->block = -1;
    for (uint32_t i = 1; i < r->argc; i++) {
        uint32_t more = r->argc - i - 1;
        const struct resp_arg *a = &r->argv[i];
        const char *err = NULL;
        if (cmd_arg_is(a, "block") && more) {
            if (xs_in_script(r)) {
                reply_errorf(r, "ERR %.*s command is not allowed with BLOCK option from scripts",
                             (int)r->argv[0].len, r->argv[0].ptr);
                return -1;
            }
            i++;
            if (cmd_arg_ll(&r->argv[i], &o->block) < 0)
                err = "ERR timeout is not an integer or out of range";
            else if (o->block < 0)
                err = "ERR timeout is negative";
        } else if (cmd_arg_is(a, "count") && more) {
            i++;
            if (cmd_arg_ll(&r->argv[i], &o->count) < 0)
                err = ERR_NOT_INT;
            else if (o->count < 0)
                o->count = 0;
        } else if (cmd_arg_is(a, "streams") && more) {
            if (more % 2 != 0) {
                err = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must "
                      "be specified.";
            } else {
                o->first = i + 1;
                o->n = more / 2;
                break;
            }
        } else if (cmd_arg_is(a, "group") && more >= 2) {
            if (!group)
                err = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD "
                      "instead.";
            o->group = &r->argv[i + 1];
            o->consumer = &r->argv[i + 2];
            i += 2;
        } else if (cmd_arg_is(a, "noack")) {
            if (!group)
                err = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD "
                      "instead.";
            o->noack = 1;
        } else {
            err = ERR_SYNTAX;
        }
        if (err) {
            reply_error(r, err);
            return -1;
        }
    }
    if (o->n == 0) {
        reply_error(r, ERR_SYNTAX);
        return -1;
    }
    if (group && o->group == NULL) {
        reply_error(r, "ERR Missing GROUP option for XREADGROUP");
        return -1;
    }
    return 0;
}

/* XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...] */
void cmd_stream_xread(struct req *r)
{
    struct xread *x = r->aux;
    if (x && x->resolved) { /* a blocked XREAD woken: the IDs it resolved at its first run */
        x->at = x->served = 0;
        pbuf_reset(&r->tmp);
        xread_next(r);
        return;
    }
    if ((x = xs_aux(r, sizeof(*x))) == NULL)
        return;
    r->aux_free = xread_free;
    if (xs_read_opts_parse(r, &x->o, 0) < 0)
        goto fail;
    if ((x->ids = calloc(x->o.n, sizeof(*x->ids))) == NULL) {
        reply_error(r, "ERR out of memory");
        goto fail;
    }
    pbuf_reset(&r->tmp); /* each ID is parsed when its key was read, as Redis */
    xread_next(r);
    return;
fail:
    req_done(r);
}
