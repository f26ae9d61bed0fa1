/*
 * mcserver.c - memcached text and meta commands over the engine (table 0).
 *
 * The parser (proto/mc.c) hands over one complete command; it is copied into a request
 * (the input buffer is reused) and run under the same rules as Redis commands: replies in
 * command order, and the concurrency rule (lockset.c): every command that writes (set,
 * add, replace, append, prepend, cas, delete, incr, decr, touch, gat, gats, ms, md, ma,
 * mg with T or N) holds its keys exclusively from before its first read until its write
 * is accepted by the engine, so add/replace/ms ME/MR decide on existence with ls_lookup and
 * no other command can come between that test and the write, even a parked one; the
 * reads (get, gets, mg, me) hold them shared until their reads are submitted; flush_all
 * holds table 0 whole until its flush is submitted.
 *
 * Expiry follows memcached: 0 never, negative already expired, up to 30 days relative
 * seconds, beyond that an absolute unix time. CAS values are the engine's per-write
 * `cas`, so any write (touch included) changes an item's CAS.
 */
#include "mcserver.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "cmdlock.h"
#include "log.h"
#include "logstor.h"
#include "mc.h"
#include "mget.h"
#include "park.h"
#include "reply.h"
#include "server.h"
#include "tracking.h"

#define MCS_REL_MAX  (60 * 60 * 24 * 30) /* memcached REALTIME_MAXDELTA */
#define MCS_MAX_LINE 2048
#define MCS_VERSION  "1.6.0-logstor-" LS_VERSION_STRING

/* Keys created by mg N (vivify on miss) whose winner has not stored a value yet: a later
 * mg of such a key reports Z (a win token was already handed out). Bounded; past the
 * bound a vivified key simply does not report Z. */
#define MCS_VIV_MAX 1024

struct mcs_state {
    uint32_t nviv;
    struct {
        char *key;
        size_t len;
    } viv[MCS_VIV_MAX];
};

static int viv_find(const struct server *s, const struct resp_arg *k)
{
    if (s->mcs == NULL)
        return -1;
    for (uint32_t i = 0; i < s->mcs->nviv; i++)
        if (s->mcs->viv[i].len == k->len && memcmp(s->mcs->viv[i].key, k->ptr, k->len) == 0)
            return (int)i;
    return -1;
}

static void viv_add(struct server *s, const struct resp_arg *k)
{
    if (s->mcs == NULL && (s->mcs = calloc(1, sizeof(*s->mcs))) == NULL)
        return;
    if (viv_find(s, k) >= 0 || s->mcs->nviv == MCS_VIV_MAX)
        return;
    char *p = malloc(k->len ? k->len : 1);
    if (p == NULL)
        return;
    memcpy(p, k->ptr, k->len);
    s->mcs->viv[s->mcs->nviv].key = p;
    s->mcs->viv[s->mcs->nviv].len = k->len;
    s->mcs->nviv++;
}

static void viv_forget(struct server *s, const struct resp_arg *k)
{
    int i = viv_find(s, k);
    if (i < 0)
        return;
    free(s->mcs->viv[i].key);
    s->mcs->viv[i] = s->mcs->viv[--s->mcs->nviv];
}

static void viv_clear(struct server *s)
{
    if (s->mcs == NULL)
        return;
    for (uint32_t i = 0; i < s->mcs->nviv; i++)
        free(s->mcs->viv[i].key);
    s->mcs->nviv = 0;
}

void mcs_free(struct server *s)
{
    viv_clear(s);
    free(s->mcs);
    s->mcs = NULL;
}

static int mcs_is_rmw(const struct req *r);

static struct ls_engine *eng(const struct req *r)
{
    return r->c->srv->eng;
}

static uint64_t mcs_expire_ms(int64_t exptime)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > INT32_MAX)
        exptime = INT32_MAX; /* memcached's exptime is 32 bits: year 2038 at most */
    if (exptime <= MCS_REL_MAX)
        return server_unix_ms() + (uint64_t)exptime * 1000;
    return (uint64_t)exptime * 1000;
}

static const struct mc_mflag *mflag(const struct req *r, char f)
{
    for (uint32_t i = 0; i < r->mc->nmflags; i++)
        if (r->mc->mflags[i].f == f)
            return &r->mc->mflags[i];
    return NULL;
}

static int mflag_i64(const struct mc_mflag *m, int64_t *v)
{
    char buf[24];
    if (m == NULL || m->tok.len == 0 || m->tok.len >= sizeof(buf))
        return -1;
    memcpy(buf, m->tok.ptr, m->tok.len);
    buf[m->tok.len] = '\0';
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

static int mflag_u64(const struct mc_mflag *m, uint64_t *v)
{
    char buf[24];
    if (m == NULL || m->tok.len == 0 || m->tok.len >= sizeof(buf) || m->tok.ptr[0] == '-')
        return -1;
    memcpy(buf, m->tok.ptr, m->tok.len);
    buf[m->tok.len] = '\0';
    char *end;
    unsigned long long x = strtoull(buf, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

/* Writes a reply line unless the command asked for no reply. */
static void mcs_line(struct req *r, const char *s)
{
    if (!r->mc->noreply)
        reply_check(r, mc_w_line(req_out(r), s));
}

static void mcs_end(struct req *r, const char *line)
{
    if (line)
        mcs_line(r, line);
    req_done(r);
}

/* ---- meta reply flags ---- */

struct mcs_info {
    uint64_t cas;
    uint32_t flags;
    uint32_t size;
    uint64_t expire_ms;
};

/* Appends " <flag><value>" for each return flag of the request that `which` allows. */
static void mcs_meta_flags(struct req *r, struct pbuf *pb, const struct mcs_info *in,
                           const char *which)
{
    for (uint32_t i = 0; i < r->mc->nmflags; i++) {
        const struct mc_mflag *m = &r->mc->mflags[i];
        if (strchr(which, m->f) == NULL)
            continue;
        switch (m->f) {
        case 'c':
            pbuf_appendf(pb, " c%" PRIu64, in ? in->cas : 0);
            break;
        case 'f':
            pbuf_appendf(pb, " f%" PRIu32, in ? in->flags : 0);
            break;
        case 's':
            pbuf_appendf(pb, " s%" PRIu32, in ? in->size : 0);
            break;
        case 't': {
            int64_t ttl = -1;
            uint64_t now = server_unix_ms();
            if (in && in->expire_ms)
                ttl = in->expire_ms > now ? (int64_t)((in->expire_ms - now + 999) / 1000) : 0;
            pbuf_appendf(pb, " t%" PRId64, ttl);
            break;
        }
        case 'h':
        case 'l':
            pbuf_appendf(pb, " %c0", m->f);
            break;
        case 'k':
            pbuf_appendf(pb, " k%.*s", (int)r->mc->keys[0].len, r->mc->keys[0].ptr);
            break;
        case 'O':
            pbuf_appendf(pb, " O%.*s", (int)m->tok.len, m->tok.ptr);
            break;
        case 'b':
            if (mflag(r, 'k')) /* the returned key is base64 */
                pbuf_append(pb, " b", 2);
            break;
        }
    }
}

/* A whole meta status line ("HD", "NS", "EN", ...) with k/O/b echoed; q suppresses the
 * codes memcached suppresses (EN, NF, HD for most commands). */
static void mcs_meta_status(struct req *r, const char *code, const struct mcs_info *in,
                            const char *which)
{
    if (mflag(r, 'q') &&
        (strcmp(code, "EN") == 0 || strcmp(code, "NF") == 0 || strcmp(code, "HD") == 0))
        return;
    struct pbuf *o = req_out(r);
    reply_check(r, pbuf_append(o, code, strlen(code)));
    mcs_meta_flags(r, o, in, which);
    reply_check(r, pbuf_append(o, "\r\n", 2));
}

/* ---- engine helpers ---- */

/* Write completion: replies r->tmp (prebuilt), or a meta status with the new cas. */
static void mcs_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (r->step == 1) {
        struct mcs_info in = {cas, r->flags, (uint32_t)r->num, r->expire_ms};
        mcs_meta_status(r, "HD", &in, "ckObt");
    } else if (!r->mc->noreply) {
        reply_tmp(r);
    }
    req_done(r);
}

static void mcs_put(struct req *r, const void *v, size_t n, uint64_t expire_ms, uint32_t flags)
{
    struct ls_write_opts o = {expire_ms, flags};
    r->flags = flags;
    r->expire_ms = expire_ms;
    int rc = park_put(r, 0, &r->keys[0], v, n, &o, mcs_write_cb);
    if (rc < 0)
        mcs_end(r, reply_mc_engine_error(rc));
    else
        req_unlock(r);
}

static void mcs_tmp_line(struct req *r, const char *s)
{
    pbuf_reset(&r->tmp);
    reply_check(r, mc_w_line(&r->tmp, s));
}

static int mcs_exists(struct req *r)
{
    struct ls_meta m;
    return ls_lookup(eng(r), 0, r->keys[0].ptr, r->keys[0].len, &m) == 0;
}

/* Reads key i of the request (a read-only command then releases its locks). */
static void mcs_get_key_at(struct req *r, uint32_t i, ls_get_cb cb)
{
    mget_one(r, 0, &r->keys[i], cb);
}

static void mcs_get_key(struct req *r, ls_get_cb cb)
{
    mcs_get_key_at(r, 0, cb);
}

/* ---- get, gets ---- */

static void get_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct server *s = r->c->srv;
    if (rc != 0) {
        s->stats.keyspace_misses++;
        return;
    }
    s->stats.keyspace_hits++;
    const struct mc_str *k = &r->mc->keys[i];
    uint64_t cas = it->cas;
    reply_check(r, mc_w_value(req_out(r), k->ptr, k->len, it->flags, it->val, it->len,
                              r->mc->op == MC_GETS ? &cas : NULL));
}

static void get_done(struct req *r)
{
    mcs_end(r, "END");
}

static void mcs_get(struct req *r)
{
    if (mget_start(r, r->keys, r->nkeys, 0, get_emit, get_done) < 0)
        mcs_end(r, "SERVER_ERROR out of memory");
}

/* ---- gat, gats: one key at a time (all of them locked from the start) ---- */

static void gat_next(struct req *r);

static void gat_put_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc == 0) {
        const struct mc_str *k = &r->mc->keys[r->u64];
        reply_check(r, mc_w_value(&r->tmp, k->ptr, k->len, r->flags, r->aux, (size_t)r->num,
                                  r->mc->op == MC_GATS ? &cas : NULL));
    }
    free(r->aux);
    r->aux = NULL;
    r->u64++;
    gat_next(r);
}

static void gat_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == 0 && (r->aux = malloc(it->value_len ? it->value_len : 1)) != NULL) {
        memcpy(r->aux, it->value, it->value_len);
        r->num = it->value_len;
        r->flags = it->flags;
        struct ls_write_opts o = {r->expire_ms, it->flags};
        const struct resp_arg *k = &r->keys[r->u64];
        if (park_put(r, 0, k, it->value, it->value_len, &o, gat_put_cb) == 0)
            return;
        free(r->aux);
        r->aux = NULL;
    }
    r->u64++;
    gat_next(r);
}

static void gat_next(struct req *r)
{
    if (r->u64 < r->nkeys) {
        mcs_get_key_at(r, (uint32_t)r->u64, gat_get_cb);
        return;
    }
    reply_tmp(r);
    mcs_end(r, "END");
}

static void mcs_gat(struct req *r)
{
    r->expire_ms = mcs_expire_ms(r->mc->exptime);
    r->u64 = 0;
    gat_next(r);
}

/* ---- storage ---- */

static void concat_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND) {
        mcs_end(r, "NOT_STORED");
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    const struct mc_str *d = &r->mc->data;
    size_t n = it->value_len + d->len;
    if (n > r->c->srv->cfg.max_value_size) {
        mcs_end(r, "SERVER_ERROR object too large for cache");
        return;
    }
    char *v = malloc(n ? n : 1);
    if (v == NULL) {
        mcs_end(r, "SERVER_ERROR out of memory");
        return;
    }
    int append = r->mc->op == MC_APPEND || r->num == 'A';
    memcpy(v + (append ? 0 : d->len), it->value, it->value_len);
    memcpy(v + (append ? it->value_len : 0), d->ptr, d->len);
    mcs_put(r, v, n, it->expire_ms, it->flags);
    free(v);
}

static void cas_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND) {
        mcs_end(r, "NOT_FOUND");
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (it->cas != r->mc->cas) {
        mcs_end(r, "EXISTS");
        return;
    }
    mcs_put(r, r->mc->data.ptr, r->mc->data.len, mcs_expire_ms(r->mc->exptime), r->mc->flags);
}

static void mcs_store(struct req *r)
{
    struct mc_cmd *m = r->mc;
    mcs_tmp_line(r, "STORED");
    switch (m->op) {
    case MC_ADD:
    case MC_REPLACE:
        if (mcs_exists(r) != (m->op == MC_REPLACE)) {
            mcs_end(r, "NOT_STORED");
            return;
        }
        break;
    case MC_APPEND:
    case MC_PREPEND:
        mcs_get_key(r, concat_cb);
        return;
    case MC_CAS:
        mcs_get_key(r, cas_cb);
        return;
    default:
        break;
    }
    mcs_put(r, m->data.ptr, m->data.len, mcs_expire_ms(m->exptime), m->flags);
}

/* ---- delete, incr/decr, touch ---- */

static void mcs_delete(struct req *r)
{
    mcs_tmp_line(r, "DELETED");
    int rc = park_del(r, 0, &r->keys[0], mcs_write_cb);
    if (rc == 0)
        req_unlock(r);
    else if (rc == LS_ENOTFOUND)
        mcs_end(r, "NOT_FOUND");
    else if (rc < 0)
        mcs_end(r, reply_mc_engine_error(rc));
}

static int parse_u64_value(const void *p, size_t n, uint64_t *out)
{
    const char *s = p;
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void incr_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND) {
        mcs_end(r, "NOT_FOUND");
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    uint64_t v;
    if (parse_u64_value(it->value, it->value_len, &v) < 0) {
        mcs_end(r, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        return;
    }
    if (r->mc->op == MC_INCR)
        v += r->mc->delta; /* wraps at 2^64, as memcached does */
    else
        v = v > r->mc->delta ? v - r->mc->delta : 0;
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
    mcs_tmp_line(r, buf);
    mcs_put(r, buf, (size_t)n, it->expire_ms, it->flags);
}

static void touch_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND) {
        mcs_end(r, "NOT_FOUND");
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    mcs_tmp_line(r, "TOUCHED");
    mcs_put(r, it->value, it->value_len, mcs_expire_ms(r->mc->exptime), it->flags);
}

/* ---- flush_all, stats, version ---- */

static void flush_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    mcs_end(r, rc == 0 || rc == LS_ENOTFOUND ? "OK" : reply_mc_engine_error(rc));
}

static void mcs_flush_all(struct req *r)
{
    tracking_flush(r->c->srv); /* database 0's keys: CLIENT TRACKING clients are told */
    int rc = park_flush(r, 0, flush_cb);
    if (rc < 0)
        flush_cb(r, rc, 0);
    else
        req_unlock(r); /* the flush is submitted (or parked): later commands may start */
}

static int mcs_arg_is(const struct req *r, const char *s)
{
    return r->mc->arg.len == strlen(s) && memcmp(r->mc->arg.ptr, s, r->mc->arg.len) == 0;
}

static void mcs_stats(struct req *r)
{
    struct server *s = r->c->srv;
    struct ls_stats st;
    ls_get_stats(s->eng, &st);
    struct pbuf *o = req_out(r);
    uint64_t up = (server_mono_ms() - s->start_mono_ms) / 1000;
    if (r->mc->arg.len == 0) {
        reply_check(r, pbuf_appendf(
                           o,
                           "STAT pid %d\r\nSTAT uptime %" PRIu64 "\r\nSTAT time %" PRIu64
                           "\r\nSTAT version %s\r\nSTAT pointer_size %d\r\nSTAT curr_connections %u"
                           "\r\nSTAT total_connections %" PRIu64 "\r\nSTAT cmd_get %" PRIu64
                           "\r\nSTAT cmd_set %" PRIu64 "\r\nSTAT get_hits %" PRIu64
                           "\r\nSTAT get_misses %" PRIu64 "\r\nSTAT curr_items %" PRIu64
                           "\r\nSTAT bytes %" PRIu64 "\r\nSTAT bytes_read %" PRIu64
                           "\r\nSTAT bytes_written %" PRIu64 "\r\nSTAT limit_maxbytes %" PRIu64
                           "\r\nSTAT threads 1\r\n",
                           (int)getpid(), up, server_unix_ms() / 1000, MCS_VERSION,
                           (int)(sizeof(void *) * 8), s->nconns, s->stats.connections_received,
                           st.gets, st.puts, s->stats.keyspace_hits, s->stats.keyspace_misses,
                           ls_count(s->eng, 0), st.live_bytes, s->stats.net_input_bytes,
                           s->stats.net_output_bytes, s->cfg.disk_size));
        /* The engine's space figures, under their INFO logstor names. */
        reply_check(r, pbuf_appendf(o,
                                    "STAT segments_total %" PRIu64 "\r\nSTAT segments_free %" PRIu64
                                    "\r\nSTAT live_bytes %" PRIu64
                                    "\r\nSTAT write_amplification %.2f\r\nEND\r\n",
                                    st.segments_total, st.segments_free, st.live_bytes,
                                    st.write_amplification));
    } else if (r->mc->arg.len == 8 && memcmp(r->mc->arg.ptr, "settings", 8) == 0) {
        reply_check(r,
                    pbuf_appendf(o,
                                 "STAT maxbytes %" PRIu64 "\r\nSTAT maxconns %" PRIu64
                                 "\r\nSTAT tcpport %" PRIu64 "\r\nSTAT item_size_max %" PRIu64
                                 "\r\nSTAT cas_enabled yes\r\nSTAT durability %s\r\nEND\r\n",
                                 s->cfg.disk_size, s->cfg.maxclients, s->cfg.memcached_port,
                                 s->cfg.max_value_size, s->cfg.durability ? "periodic" : "sync"));
    } else if (mcs_arg_is(r, "items") || mcs_arg_is(r, "slabs") || mcs_arg_is(r, "sizes") ||
               mcs_arg_is(r, "conns")) {
        reply_check(r, mc_w_line(o, "END")); /* no slab allocator: nothing to list */
    } else {
        mcs_end(r, "ERROR");
        return;
    }
    req_done(r);
}

/* ---- meta commands ---- */

/* mg N on a miss: the empty item is written; this client gets the win token (W). */
static void mg_viv_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    struct mcs_info in = {cas, 0, 0, r->expire_ms};
    struct pbuf *o = req_out(r);
    int v = mflag(r, 'v') != NULL;
    reply_check(r, pbuf_append(o, v ? "VA 0" : "HD", v ? 4 : 2));
    mcs_meta_flags(r, o, &in, "cfhklOstb");
    reply_check(r, pbuf_append(o, v ? " W\r\n\r\n" : " W\r\n", v ? 6 : 4));
    req_done(r);
}

static int mg_vivify(struct req *r)
{
    int64_t ttl;
    if (mflag_i64(mflag(r, 'N'), &ttl) < 0)
        return 0;
    r->expire_ms = mcs_expire_ms(ttl);
    struct ls_write_opts o = {r->expire_ms, 0};
    if (park_put(r, 0, &r->keys[0], "", 0, &o, mg_viv_cb) < 0)
        return 0;
    viv_add(r->c->srv, &r->keys[0]);
    req_unlock(r);
    return 1;
}

static void mg_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND && mg_vivify(r))
        return;
    if (rc == LS_ENOTFOUND) {
        r->c->srv->stats.keyspace_misses++;
        mcs_meta_status(r, "EN", NULL, "kOb");
        req_done(r);
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    r->c->srv->stats.keyspace_hits++;
    struct mcs_info in = {it->cas, it->flags, it->value_len, it->expire_ms};
    const struct mc_mflag *t = mflag(r, 'T');
    int64_t ttl;
    int touch = t && mflag_i64(t, &ttl) == 0;
    if (touch)
        in.expire_ms = mcs_expire_ms(ttl);
    /* A touch replies once its write completes, so the reply is built in r->tmp. */
    struct pbuf *o = touch ? &r->tmp : req_out(r);
    int v = mflag(r, 'v') != NULL;
    if (v)
        reply_check(r, pbuf_appendf(o, "VA %" PRIu32, it->value_len));
    else if (mflag(r, 'q') && !mflag(r, 'c') && !mflag(r, 'f') && !mflag(r, 's') &&
             !mflag(r, 't') && !mflag(r, 'k') && !mflag(r, 'O'))
        o = NULL; /* q: a bare HD is suppressed */
    else
        reply_check(r, pbuf_append(o, "HD", 2));
    if (o) {
        mcs_meta_flags(r, o, &in, "cfhklOstb");
        if (viv_find(r->c->srv, &r->keys[0]) >= 0)
            reply_check(r, pbuf_append(o, " Z", 2));
        reply_check(r, pbuf_append(o, "\r\n", 2));
        if (v) {
            reply_check(r, pbuf_append(o, it->value, it->value_len));
            reply_check(r, pbuf_append(o, "\r\n", 2));
        }
    }
    if (touch) {
        r->step = 0;
        struct ls_write_opts wo = {in.expire_ms, it->flags};
        int prc = park_put(r, 0, &r->keys[0], it->value, it->value_len, &wo, mcs_write_cb);
        if (prc == 0) {
            req_unlock(r);
            return;
        }
        pbuf_reset(&r->tmp);
        mcs_end(r, reply_mc_engine_error(prc));
        return;
    }
    req_done(r);
}

static void ms_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    uint64_t want;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (mflag_u64(mflag(r, 'C'), &want) == 0 && (rc != 0 || it->cas != want)) {
        mcs_meta_status(r, rc != 0 ? "NF" : "EX", NULL, "kOb");
        req_done(r);
        return;
    }
    if (r->num == 'A' || r->num == 'P') {
        if (rc != 0) {
            mcs_meta_status(r, "NS", NULL, "kOb");
            req_done(r);
            return;
        }
        concat_cb(r, rc, it);
        return;
    }
    mcs_put(r, r->mc->data.ptr, r->mc->data.len, r->expire_ms, r->flags);
}

static void mcs_ms(struct req *r)
{
    const struct mc_mflag *m = mflag(r, 'M');
    int64_t ttl = 0, fl = 0;
    char mode = m && m->tok.len ? m->tok.ptr[0] : 'S';
    if (mode >= 'a' && mode <= 'z')
        mode = (char)(mode - 32);
    if (mflag(r, 'T') && mflag_i64(mflag(r, 'T'), &ttl) < 0) {
        mcs_end(r, "CLIENT_ERROR bad token in command line format");
        return;
    }
    if (mflag(r, 'F') && (mflag_i64(mflag(r, 'F'), &fl) < 0 || fl < 0 || fl > UINT32_MAX)) {
        mcs_end(r, "CLIENT_ERROR bad token in command line format");
        return;
    }
    if (strchr("SEARP", mode) == NULL) {
        mcs_end(r, "CLIENT_ERROR invalid mode for ms STORE");
        return;
    }
    r->step = 1; /* meta status from the write callback */
    r->num = mode;
    r->expire_ms = mcs_expire_ms(ttl);
    r->flags = (uint32_t)fl;
    if (mcs_is_rmw(r)) {
        mcs_get_key(r, ms_cb);
        return;
    }
    if ((mode == 'E' && mcs_exists(r)) || (mode == 'R' && !mcs_exists(r))) {
        mcs_meta_status(r, "NS", NULL, "kOb");
        req_done(r);
        return;
    }
    r->num = (int64_t)r->mc->data.len;
    mcs_put(r, r->mc->data.ptr, r->mc->data.len, r->expire_ms, r->flags);
}

static void md_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        mcs_end(r, reply_mc_engine_error(rc));
    else {
        mcs_meta_status(r, "HD", NULL, "kOb");
        req_done(r);
    }
}

static void md_del(struct req *r)
{
    int rc = park_del(r, 0, &r->keys[0], md_write_cb);
    if (rc == 0)
        req_unlock(r);
    else if (rc == LS_ENOTFOUND) {
        mcs_meta_status(r, "NF", NULL, "kOb");
        req_done(r);
    } else if (rc < 0) {
        mcs_end(r, reply_mc_engine_error(rc));
    }
}

static void md_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    uint64_t want = 0;
    mflag_u64(mflag(r, 'C'), &want);
    if (rc == LS_ENOTFOUND) {
        mcs_meta_status(r, "NF", NULL, "kOb");
        req_done(r);
    } else if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
    } else if (it->cas != want) {
        mcs_meta_status(r, "EX", NULL, "kOb");
        req_done(r);
    } else {
        md_del(r);
    }
}

static void mcs_md(struct req *r)
{
    if (mflag(r, 'C'))
        mcs_get_key(r, md_cb);
    else
        md_del(r);
}

static void ma_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    struct mcs_info in = {cas, r->flags, (uint32_t)r->tmp.len, r->expire_ms};
    if (mflag(r, 'v')) {
        struct pbuf *o = req_out(r);
        reply_check(r, pbuf_appendf(o, "VA %zu", r->tmp.len));
        mcs_meta_flags(r, o, &in, "ctkOb");
        reply_check(r, pbuf_append(o, "\r\n", 2));
        reply_check(r, pbuf_append(o, r->tmp.data, r->tmp.len));
        reply_check(r, pbuf_append(o, "\r\n", 2));
    } else {
        mcs_meta_status(r, "HD", &in, "ctkOb");
    }
    req_done(r);
}

static void ma_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    uint64_t v = 0, delta = 1, want;
    int64_t ttl;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    const struct mc_mflag *m = mflag(r, 'M');
    char mode = m && m->tok.len ? m->tok.ptr[0] : 'I';
    int decr = mode == 'D' || mode == 'd' || mode == '-';
    if (mflag(r, 'D') && mflag_u64(mflag(r, 'D'), &delta) < 0) {
        mcs_end(r, "CLIENT_ERROR bad token in command line format");
        return;
    }
    r->expire_ms = rc == 0 ? it->expire_ms : 0;
    r->flags = rc == 0 ? it->flags : 0;
    if (rc == LS_ENOTFOUND) {
        if (mflag_i64(mflag(r, 'N'), &ttl) < 0) {
            mcs_meta_status(r, "NF", NULL, "kOb");
            req_done(r);
            return;
        }
        r->expire_ms = mcs_expire_ms(ttl);
        if (mflag(r, 'J'))
            mflag_u64(mflag(r, 'J'), &v);
    } else {
        if (mflag_u64(mflag(r, 'C'), &want) == 0 && want != it->cas) {
            mcs_meta_status(r, "EX", NULL, "kOb");
            req_done(r);
            return;
        }
        if (parse_u64_value(it->value, it->value_len, &v) < 0) {
            mcs_end(r, "CLIENT_ERROR cannot increment or decrement non-numeric value");
            return;
        }
        v = decr ? (v > delta ? v - delta : 0) : v + delta;
    }
    if (mflag(r, 'T') && mflag_i64(mflag(r, 'T'), &ttl) == 0)
        r->expire_ms = mcs_expire_ms(ttl);
    pbuf_reset(&r->tmp);
    reply_check(r, pbuf_appendf(&r->tmp, "%" PRIu64, v));
    struct ls_write_opts o = {r->expire_ms, r->flags};
    int prc = park_put(r, 0, &r->keys[0], r->tmp.data, r->tmp.len, &o, ma_write_cb);
    if (prc < 0)
        mcs_end(r, reply_mc_engine_error(prc));
    else
        req_unlock(r);
}

static void me_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc != 0) {
        mcs_end(r, rc == LS_ENOTFOUND ? "EN" : reply_mc_engine_error(rc));
        return;
    }
    int64_t exp = -1;
    uint64_t now = server_unix_ms();
    if (it->expire_ms)
        exp = it->expire_ms > now ? (int64_t)((it->expire_ms - now) / 1000) : 0;
    reply_check(r, pbuf_appendf(req_out(r),
                                "ME %.*s exp=%" PRId64 " la=0 cas=%" PRIu64
                                " fetch=no cls=1 size=%" PRIu32 "\r\n",
                                (int)r->mc->keys[0].len, r->mc->keys[0].ptr, exp, it->cas,
                                it->value_len + it->key_len));
    req_done(r);
}

/* ---- dispatch ---- */

static void mcs_run(struct req *r)
{
    struct mc_cmd *m = r->mc;
    switch (m->op) {
    case MC_GET:
    case MC_GETS:
        mcs_get(r);
        return;
    case MC_GAT:
    case MC_GATS:
        mcs_gat(r);
        return;
    case MC_SET:
    case MC_ADD:
    case MC_REPLACE:
    case MC_APPEND:
    case MC_PREPEND:
    case MC_CAS:
        mcs_store(r);
        return;
    case MC_DELETE:
        mcs_delete(r);
        return;
    case MC_INCR:
    case MC_DECR:
        mcs_get_key(r, incr_cb);
        return;
    case MC_TOUCH:
        mcs_get_key(r, touch_cb);
        return;
    case MC_FLUSH_ALL:
        mcs_flush_all(r);
        return;
    case MC_STATS:
        mcs_stats(r);
        return;
    case MC_VERSION:
        mcs_end(r, "VERSION " MCS_VERSION);
        return;
    case MC_VERBOSITY:
        mcs_end(r, "OK");
        return;
    case MC_QUIT:
        r->c->close_after_reply = 1;
        req_done(r);
        return;
    case MC_MG:
        mcs_get_key(r, mg_cb);
        return;
    case MC_MS:
        mcs_ms(r);
        return;
    case MC_MD:
        mcs_md(r);
        return;
    case MC_MA:
        mcs_get_key(r, ma_cb);
        return;
    case MC_MN:
        reply_check(r, mc_w_line(req_out(r), "MN"));
        req_done(r);
        return;
    case MC_ME:
        mcs_get_key(r, me_cb);
        return;
    }
    mcs_end(r, "ERROR");
}

static int mcs_is_rmw(const struct req *r)
{
    const struct mc_mflag *m;
    switch (r->mc->op) {
    case MC_APPEND:
    case MC_PREPEND:
    case MC_CAS:
    case MC_INCR:
    case MC_DECR:
    case MC_TOUCH:
    case MC_MA:
        return 1;
    case MC_MG:
        return mflag(r, 'T') != NULL || mflag(r, 'N') != NULL;
    case MC_MD:
        return mflag(r, 'C') != NULL;
    case MC_MS:
        m = mflag(r, 'M');
        return mflag(r, 'C') != NULL || (m && m->tok.len && strchr("AaPp", m->tok.ptr[0]) != NULL);
    default:
        return 0;
    }
}

/* What the command declares to the concurrency rule besides its keys. */
static uint8_t mcs_lock_flags(const struct req *r)
{
    switch (r->mc->op) {
    case MC_GET:
    case MC_GETS:
    case MC_ME:
        return 0; /* reads its keys */
    case MC_MG:
        return mcs_is_rmw(r) ? CMDLOCK_KEYS_WRITE : 0;
    case MC_FLUSH_ALL:
        return CMDLOCK_DB_WRITE;
    default:
        return CMDLOCK_KEYS_WRITE;
    }
}

static int b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Decodes base64 src into dst (room for len bytes). Returns the length or -1. */
static long b64_decode(const char *src, size_t len, char *dst)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '=')
            break;
        int v = b64_val((unsigned char)src[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    return n > 0 ? n : -1;
}

static void rebase(struct mc_str *s, const char *from, size_t n, char *to)
{
    if (s->ptr >= from && s->ptr <= from + n)
        s->ptr = to + (s->ptr - from);
}

/* Copies the parsed command and its bytes into a new request. The key array (with
 * base64 keys decoded) is kept after the mc_cmd. */
static struct req *mcs_copy(struct conn *c, const struct mc_cmd *cmd, const char *raw, size_t n)
{
    uint32_t nk = cmd->nkeys;
    size_t bytes = sizeof(struct mc_cmd) + (size_t)nk * sizeof(struct resp_arg) + n +
                   (nk ? cmd->keys[0].len : 0) + 1;
    void *mem;
    struct req *r = conn_req_new(c, bytes, &mem);
    if (r == NULL)
        return NULL;
    struct mc_cmd *m = mem;
    struct resp_arg *keys = (struct resp_arg *)(m + 1);
    char *copy = (char *)(keys + nk), *dec = copy + n;
    memcpy(m, cmd, sizeof(*m));
    memcpy(copy, raw, n);
    for (uint32_t i = 0; i < nk; i++)
        rebase(&m->keys[i], raw, n, copy);
    rebase(&m->data, raw, n, copy);
    rebase(&m->arg, raw, n, copy);
    for (uint32_t i = 0; i < m->nmflags; i++)
        rebase(&m->mflags[i].tok, raw, n, copy);
    for (uint32_t i = 0; i < nk; i++) {
        keys[i].ptr = (char *)m->keys[i].ptr;
        keys[i].len = m->keys[i].len;
    }
    if (m->key_b64 && nk == 1) {
        long kl = b64_decode(m->keys[0].ptr, m->keys[0].len, dec);
        if (kl < 0) {
            r->err = 1;
        } else {
            keys[0].ptr = dec;
            keys[0].len = (size_t)kl;
        }
    }
    r->mc = m;
    r->keys = keys;
    r->nkeys = nk;
    r->db = 0;
    return r;
}

static void mcs_dispatch(struct conn *c, const struct mc_cmd *cmd, const char *raw, size_t n)
{
    struct server *s = c->srv;
    struct req *r = mcs_copy(c, cmd, raw, n);
    if (r == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    s->stats.mc_commands++;
    if (r->err) {
        mcs_end(r, "CLIENT_ERROR error decoding key");
        return;
    }
    if (s->mcs && s->mcs->nviv && r->nkeys == 1 && cmd->op != MC_MG && cmd->op != MC_ME &&
        cmd->op != MC_GET && cmd->op != MC_GETS && cmd->op != MC_GAT && cmd->op != MC_GATS)
        viv_forget(s, &r->keys[0]); /* the key was written (or deleted) */
    if (cmd->op == MC_FLUSH_ALL)
        viv_clear(s);
    r->exec = mcs_run;
    r->lk = mcs_lock_flags(r);
    cmdlock_start(r);
}

static void mcs_error(struct conn *c, const char *err)
{
    struct req *r = conn_req_new(c, 0, NULL);
    if (r == NULL)
        return;
    reply_check(r, mc_w_line(req_out(r), err ? err : "ERROR"));
    req_done(r);
}

int mcs_process_one(struct conn *c)
{
    if (c->swallow) {
        size_t avail = c->in.len - c->in_pos;
        size_t d = avail < c->swallow ? avail : (size_t)c->swallow;
        c->in_pos += d;
        c->swallow -= d;
        if (c->swallow) {
            c->in_need = c->swallow;
            return 0;
        }
    }
    if (c->mcc == NULL && (c->mcc = malloc(sizeof(*c->mcc))) == NULL)
        return -1;
    struct mc_limits lim = {(uint32_t)c->srv->cfg.max_value_size, MCS_MAX_LINE};
    struct mc_parse_out po = {0};
    const char *buf = c->in.data + c->in_pos;
    size_t len = c->in.len - c->in_pos;
    enum mc_status st = mc_parse(buf, len, &lim, c->mcc, &po);
    if (st == MC_MORE) {
        c->in_need = po.need; /* conn.c reads at least this much before parsing again */
        return 0;
    }
    if (st == MC_ERROR) {
        mcs_error(c, po.err);
        if (po.consumed == 0) {
            c->close_after_reply = 1;
            c->in_pos = c->in.len;
            return -1;
        }
        if (po.consumed > len) {
            c->swallow = po.consumed - len;
            c->in_pos = c->in.len;
            return 1;
        }
        c->in_pos += po.consumed;
        return 1;
    }
    c->in_pos += po.consumed;
    mcs_dispatch(c, c->mcc, buf, po.consumed);
    return 1;
}
