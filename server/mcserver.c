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

#include <event2/event.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "cmdlock.h"
#include "hugemem.h"
#include "log.h"
#include "logstor.h"
#include "mc.h"
#include "mcbin.h"
#include "mget.h"
#include "park.h"
#include "reply.h"
#include "server.h"
#include "tracking.h"

#define MCS_REL_MAX  (60 * 60 * 24 * 30) /* memcached REALTIME_MAXDELTA */
#define MCS_MAX_LINE 2048
#define MCS_VERSION  "1.6.0-logstor-" LS_VERSION_STRING

static const char mcs_e_large[] = "SERVER_ERROR object too large for cache";

/* memcached's command counters, in its stats order (stats_general prints them by name). */
struct mcs_counters {
    uint64_t cmd_get, cmd_set, cmd_flush, cmd_touch, cmd_meta, get_hits, get_misses, get_expired,
        get_flushed, delete_misses, delete_hits, incr_misses, incr_hits, decr_misses, decr_hits,
        cas_misses, cas_hits, cas_badval, touch_hits, touch_misses, store_too_large,
        store_no_memory;
    uint64_t total_items; /* successful stores (printed apart, in memcached's place) */
};
#define MCS_NCOUNTERS 22
static const char *const mcs_counter_names[MCS_NCOUNTERS] = {
    "cmd_get",    "cmd_set",      "cmd_flush",       "cmd_touch",      "cmd_meta",    "get_hits",
    "get_misses", "get_expired",  "get_flushed",     "delete_misses",  "delete_hits", "incr_misses",
    "incr_hits",  "decr_misses",  "decr_hits",       "cas_misses",     "cas_hits",    "cas_badval",
    "touch_hits", "touch_misses", "store_too_large", "store_no_memory"};
_Static_assert(offsetof(struct mcs_counters, total_items) == MCS_NCOUNTERS * sizeof(uint64_t),
               "counter names match the struct");

struct mcs_state {
    struct mcs_counters k;
    /* stats reset: the server-wide counts at the reset */
    uint64_t base_conns, base_rejected, base_read, base_written;
    uint64_t flush_at_ms;  /* flush_all <delay>: table 0 is flushed before the first
                              memcached command at or after this unix time (0: none) */
    struct mcs_ment *ment; /* MCS_MENT_SLOTS entries (below) */
};

/* Per-item state memcached keeps in its item header and the meta commands report: fetched
 * before (mg h), last access (mg l), a win token handed out (W, then Z for others), stale
 * (md I, ms I: X). The engine's index entry is 24 bytes with no spare bits (engine/idx.h),
 * and growing it would cost every key 8 bytes, so this state lives here, in a table of
 * MCS_MENT_SLOTS entries (32 bytes each, two to a cache line: 2 MiB, one huge page where
 * the kernel gives them, allocated with the memcached state): an entry belongs to one
 * version of an item (its CAS), so any write, by either protocol, makes an older entry
 * void. A miss (a key never read or written through this port since the start, or whose
 * entry was reused) reads h0 and l0. Entries holding a win token or a stale mark are
 * reused last: more than MCS_MENT_SLOTS such items at once lose the oldest marks (the
 * item then reads as fresh).
 *
 * Every memcached write's completion records its entry (ment_resolve), a probe at a
 * random place of the table: in 4 KiB pages that was a TLB and a cache miss per set, the
 * largest cost of a memcached set after the engine's own (9% of its CPU at -P16). So the
 * table is one huge page, the key's hash is taken once per request (req->mc_token) and
 * its slot is prefetched when the write is submitted (mcs_put), to be in cache by the
 * completion. */
#define MCS_MENT_SLOTS (1u << 16)
#define MCS_MENT_PROBE 8
#define MENT_FETCHED   1
#define MENT_TOKEN     2 /* a win token was handed out (W): later fetches see Z */
#define MENT_STALE     4 /* invalidated (md I, ms I): fetches see X */

struct mcs_ment {
    uint64_t hash; /* ls_token of the key (0: empty) */
    uint64_t cas;  /* the item version this entry describes */
    uint32_t access_s;
    uint32_t flags;
    uint64_t spare; /* to 32 bytes: an entry never straddles two cache lines */
};
_Static_assert(sizeof(struct mcs_ment) == 32, "two entries to a cache line");
#define MCS_MENT_BYTES ((size_t)MCS_MENT_SLOTS * sizeof(struct mcs_ment))

static uint64_t ment_hash(const struct resp_arg *k)
{
    uint64_t h = ls_token(k->ptr, k->len);
    return h ? h : 1;
}

/* The hash of the request's first key, computed once (its entry is looked at when the
 * write is submitted and again when it completes). */
static uint64_t ment_hash0(struct req *r)
{
    if (r->mc_token == 0)
        r->mc_token = ment_hash(&r->keys[0]);
    return r->mc_token;
}

/* Seconds for the entries' last access, of which only differences are read: the coarse
 * monotonic clock (a tick behind at most, and no clock step moves it), not the precise
 * wall clock that every write's completion read (2% of the server's CPU under pipelined
 * sets, `perf record`). */
static uint32_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

/* The entry of hash h, any version; NULL if none. */
static struct mcs_ment *ment_find(struct mcs_state *st, uint64_t h)
{
    for (uint32_t i = 0; i < MCS_MENT_PROBE; i++) {
        struct mcs_ment *e = &st->ment[(h + i) & (MCS_MENT_SLOTS - 1)];
        if (e->hash == h)
            return e;
    }
    return NULL;
}

/* Brings the first slot of hash h into the cache ahead of its use. */
static void ment_prefetch(struct mcs_state *st, uint64_t h)
{
    __builtin_prefetch(&st->ment[h & (MCS_MENT_SLOTS - 1)], 1);
}

/* The entry of hash h for the item version cas; NULL if none. An entry recorded when a
 * write was submitted is pending (MENT_PENDING | the CAS of the version it replaces, 0 if
 * unknown): the engine names the new CAS only when the write completes, and later
 * commands may read the new item before that. CAS values grow, so the first version read
 * with a larger CAS than the replaced one is the new item (a read submitted before the
 * write, completing after it, still sees the old one). */
#define MENT_PENDING (UINT64_C(1) << 63)
static struct mcs_ment *ment_get(struct mcs_state *st, uint64_t h, uint64_t cas,
                                 struct mcs_ment **any)
{
    struct mcs_ment *e = ment_find(st, h);
    if (e && (e->cas & MENT_PENDING) && cas > (e->cas & ~MENT_PENDING))
        e->cas = cas;
    if (any)
        *any = e; /* the key's entry, of any version (ment_may_record) */
    return e && e->cas == cas ? e : NULL;
}

/* Records the state of hash h for version cas: its entry, else an empty slot, else the
 * oldest unmarked one, else the oldest. */
static void ment_put(struct mcs_state *st, uint64_t h, uint64_t cas, uint32_t access_s,
                     uint32_t flags)
{
    struct mcs_ment *victim = NULL;
    for (uint32_t i = 0; i < MCS_MENT_PROBE; i++) {
        struct mcs_ment *e = &st->ment[(h + i) & (MCS_MENT_SLOTS - 1)];
        if (e->hash == h || e->hash == 0) {
            victim = e;
            break;
        }
        int marked = (e->flags & (MENT_TOKEN | MENT_STALE)) != 0;
        int vmarked = victim && (victim->flags & (MENT_TOKEN | MENT_STALE)) != 0;
        if (victim == NULL || marked < vmarked ||
            (marked == vmarked && e->access_s < victim->access_s))
            victim = e;
    }
    *victim = (struct mcs_ment){h, cas, access_s, flags, 0};
}

/* A write's completion names its CAS: the entry recorded at its submission takes it;
 * with none, the item is new (accessed now, never fetched) unless a read already
 * recorded it. */
static void ment_resolve(struct mcs_state *st, uint64_t h, uint64_t cas)
{
    struct mcs_ment *e = ment_find(st, h);
    if (e && (e->cas & MENT_PENDING))
        e->cas = cas;
    else if (e == NULL || e->cas != cas)
        ment_put(st, h, cas, now_s(), 0);
}

/* A delete of hash h's key completed with CAS cas: the state of older versions goes (a
 * pending entry belongs to a later write and stays). */
static void ment_drop(struct mcs_state *st, uint64_t h, uint64_t cas)
{
    struct mcs_ment *e = ment_find(st, h);
    if (e && !(e->cas & MENT_PENDING) && e->cas < cas)
        memset(e, 0, sizeof(*e));
}

/* Whether a read of version cas may record its state in e, the key's entry if any: not
 * over a pending entry (a later write's) nor over a newer version's (this read was
 * submitted before that write). */
static int ment_may_record(const struct mcs_ment *e, uint64_t cas)
{
    return e == NULL || (!(e->cas & MENT_PENDING) && e->cas < cas);
}

/* A fetch of version cas of hash h's key (get family, mg without u): fetched, accessed
 * now. */
static void ment_fetched(struct mcs_state *st, uint64_t h, uint64_t cas)
{
    struct mcs_ment *any, *e = ment_get(st, h, cas, &any);
    if (e) {
        e->flags |= MENT_FETCHED;
        e->access_s = now_s();
    } else if (ment_may_record(any, cas)) {
        ment_put(st, h, cas, now_s(), MENT_FETCHED);
    }
}

/* A touch of hash h's key submitted: the same item under a new CAS (ment_resolve), its
 * state kept. (A new item's state is recorded when its write completes: recorded now, a
 * read submitted before the write could take it for the old item.) */
static void ment_touched(struct mcs_state *st, uint64_t h)
{
    struct mcs_ment *e = ment_find(st, h);
    if (e)
        e->cas |= MENT_PENDING;
}

void mcs_free(struct server *s)
{
    if (s->mcs)
        huge_free(s->mcs->ment, MCS_MENT_BYTES);
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

/* ---- binary protocol replies ----
 *
 * The handlers below speak in text reply lines ("STORED", "NOT_FOUND", an incr's number);
 * for a binary request mcs_line turns each into the response memcached's binary protocol
 * gives for it (status, message, CAS, value), and quiet requests lose their successes.
 * Values (get, gat) and stats are written as packets where they are produced. */

static void bin_packet(struct req *r, struct pbuf *o, uint16_t status, const void *ext,
                       uint8_t elen, const struct mc_str *key, const void *val, size_t vlen,
                       uint64_t cas)
{
    reply_check(r, mcb_w_response(o, &r->mc->bin, status, ext, elen, key ? key->ptr : NULL,
                                  key ? (uint16_t)key->len : 0, val, (uint32_t)vlen, cas));
}

/* A status-only response; errors carry memcached's message (or msg). */
static void bin_status(struct req *r, uint16_t status, const char *msg, uint64_t cas)
{
    if (status == MCB_OK && r->mc->bin.quiet)
        return;
    if (msg == NULL)
        msg = status == MCB_OK ? "" : mcb_status_text(status);
    bin_packet(r, req_out(r), status, NULL, 0, NULL, msg, strlen(msg), cas);
}

/* A get-family hit (flags, the key for GETK/GATK, the value) or miss (quiet: nothing). */
static void bin_value(struct req *r, struct pbuf *o, const struct mc_str *k, int hit,
                      uint32_t flags, const void *val, size_t n, uint64_t cas)
{
    const struct mc_bin *b = &r->mc->bin;
    unsigned char fl[4] = {(unsigned char)(flags >> 24), (unsigned char)(flags >> 16),
                           (unsigned char)(flags >> 8), (unsigned char)flags};
    if (hit)
        bin_packet(r, o, MCB_OK, fl, 4, b->with_key ? k : NULL, b->no_value ? NULL : val,
                   b->no_value ? 0 : n, cas);
    else if (!b->quiet && b->with_key)
        bin_packet(r, o, MCB_ENOENT, NULL, 0, k, NULL, 0, 0);
    else if (!b->quiet)
        bin_packet(r, o, MCB_ENOENT, NULL, 0, NULL, "Not found", 9, 0);
}

static int is_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The binary response for a text reply line of the same command. */
static void bin_line(struct req *r, const char *s, uint64_t cas)
{
    enum mc_op op = r->mc->op;
    if (strcmp(s, "END") == 0)
        return; /* the end of a get: nothing in the binary protocol */
    if (strcmp(s, "STORED") == 0)
        bin_status(r, MCB_OK, NULL, cas);
    else if (!strcmp(s, "DELETED") || !strcmp(s, "OK") || !strcmp(s, "MN"))
        bin_status(r, MCB_OK, NULL, 0); /* memcached: no CAS in these */
    else if (strcmp(s, "TOUCHED") == 0)
        bin_value(r, req_out(r), &r->mc->keys[0], 1, r->flags, NULL, 0, cas);
    else if (strcmp(s, "NOT_STORED") == 0)
        bin_status(r,
                   op == MC_ADD       ? MCB_EEXISTS
                   : op == MC_REPLACE ? MCB_ENOENT
                                      : MCB_NOT_STORED,
                   NULL, 0);
    else if (strcmp(s, "EXISTS") == 0)
        bin_status(r, MCB_EEXISTS, NULL, 0);
    else if (strcmp(s, "NOT_FOUND") == 0)
        bin_status(r, MCB_ENOENT, NULL, 0);
    else if (strcmp(s, "SERVER_ERROR object too large for cache") == 0)
        bin_status(r, MCB_E2BIG, NULL, 0);
    else if (strncmp(s, "CLIENT_ERROR cannot increment", 29) == 0)
        bin_status(r, MCB_DELTA_BADVAL, NULL, 0);
    else if (strncmp(s, "SERVER_ERROR out of memory", 26) == 0)
        bin_status(r, MCB_ENOMEM, NULL, 0);
    else if (strcmp(s, "ERROR") == 0)
        bin_status(r, MCB_UNKNOWN, NULL, 0);
    else if (strncmp(s, "VERSION ", 8) == 0)
        bin_packet(r, req_out(r), MCB_OK, NULL, 0, NULL, s + 8, strlen(s + 8), 0);
    else if (is_digits(s) && !r->mc->bin.quiet) { /* incr/decr: the value, 64 bits */
        uint64_t v = strtoull(s, NULL, 10);
        unsigned char be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (unsigned char)(v >> (56 - 8 * i));
        bin_packet(r, req_out(r), MCB_OK, NULL, 0, NULL, be, 8, cas);
    } else if (!is_digits(s))
        bin_status(r, MCB_EINTERNAL, s, 0);
}

/* The prebuilt reply line in r->tmp, without its "\r\n", into line[64]. */
static void tmp_line(const struct req *r, char *line)
{
    size_t n = r->tmp.len >= 2 ? r->tmp.len - 2 : 0;
    if (n >= 64)
        n = 63;
    memcpy(line, r->tmp.data, n);
    line[n] = '\0';
}

/* Counts the outcome a reply line tells (stats): hits and misses of delete, incr/decr,
 * cas, touch; stores; too-large and out-of-memory refusals. Runs for every reply line: the
 * first byte decides which comparisons can match. */
static void mcs_count(struct req *r, const char *line)
{
    struct mcs_counters *k = &r->c->srv->mcs->k;
    char c0 = line[0];
    int stored = c0 == 'S' && strcmp(line, "STORED") == 0;
    int found = !(c0 == 'N' && strcmp(line, "NOT_FOUND") == 0);
    int digits = c0 >= '0' && c0 <= '9' && is_digits(line);
    switch (r->mc->op) {
    case MC_DELETE:
        k->delete_hits += c0 == 'D' && strcmp(line, "DELETED") == 0;
        k->delete_misses += !found;
        break;
    case MC_INCR:
        k->incr_hits += digits;
        k->incr_misses += !found;
        break;
    case MC_DECR:
        k->decr_hits += digits;
        k->decr_misses += !found;
        break;
    case MC_CAS:
        k->cas_misses += !found;
        k->cas_badval += c0 == 'E' && strcmp(line, "EXISTS") == 0;
        k->cas_hits += stored;
        break;
    case MC_TOUCH:
        k->touch_misses += !found;
        k->touch_hits += c0 == 'T' && strcmp(line, "TOUCHED") == 0;
        break;
    default:
        break;
    }
    k->total_items += stored;
    if (c0 == 'S' && !stored) {
        k->store_too_large += strcmp(line, mcs_e_large) == 0;
        k->store_no_memory += strncmp(line, "SERVER_ERROR out of", 19) == 0;
    }
}

/* Writes a reply line unless the command asked for no reply. */
static void mcs_line(struct req *r, const char *s)
{
    mcs_count(r, s);
    if (r->mc->is_bin)
        bin_line(r, s, 0);
    else if (!r->mc->noreply)
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
    uint32_t hit_before;  /* mg h */
    uint32_t last_access; /* mg l: seconds since */
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
            pbuf_appendf(pb, " h%d", in && in->hit_before);
            break;
        case 'l':
            pbuf_appendf(pb, " l%" PRIu32, in ? in->last_access : 0);
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

/* What a write being submitted does to the item's state (struct mcs_ment): a touch
 * (touch, mg T) keeps it under the new CAS, an ms I that lost to a newer CAS stores a
 * stale item (MCS_U64_STALE in r->u64, with the old item's token); a new item's is
 * recorded when its write completes (ment_resolve). */
#define MCS_U64_STALE (UINT64_C(1) << 63)
#define MCS_U64_TOKEN (UINT64_C(1) << 62) /* low 62 bits: the replaced version's CAS */
static void mcs_track_write(struct req *r)
{
    struct mcs_state *st = r->c->srv->mcs;
    enum mc_op op = r->mc->op;
    if (r->u64 & MCS_U64_STALE)
        ment_put(st, ment_hash0(r), MENT_PENDING | (r->u64 & (MCS_U64_TOKEN - 1)), now_s(),
                 MENT_STALE | ((r->u64 & MCS_U64_TOKEN) ? MENT_TOKEN : 0));
    else if (op == MC_TOUCH || op == MC_MG)
        ment_touched(st, ment_hash0(r));
}

/* Write completion: replies the line prepared at submission (r->mc_line, else r->tmp), or
 * a meta status with the new cas. */
static void mcs_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (rc == 0 && r->mc->op == MC_DELETE)
        ment_drop(r->c->srv->mcs, ment_hash0(r), cas);
    else if (rc == 0)
        ment_resolve(r->c->srv->mcs, ment_hash0(r), cas);
    if (r->step == 1) {
        struct mcs_info in = {cas, r->flags, (uint32_t)r->num, r->expire_ms, 0, 0};
        mcs_meta_status(r, "HD", &in, "ckObt");
    } else {
        char buf[64];
        const char *line = r->mc_line;
        if (line == NULL) {
            tmp_line(r, buf);
            line = buf;
        }
        mcs_count(r, line);
        if (r->mc->is_bin) {
            pbuf_reset(&r->tmp);
            bin_line(r, line, cas);
        } else if (!r->mc->noreply && r->mc_line) {
            reply_check(r, mc_w_line(req_out(r), line));
        } else if (!r->mc->noreply) {
            reply_tmp(r);
        }
    }
    req_done(r);
}

static void mcs_put(struct req *r, const void *v, size_t n, uint64_t expire_ms, uint32_t flags)
{
    struct ls_write_opts o = {.expire_ms = expire_ms, .flags = flags};
    r->flags = flags;
    r->expire_ms = expire_ms;
    ment_prefetch(r->c->srv->mcs, ment_hash0(r)); /* for its completion (ment_resolve) */
    int rc = park_put(r, 0, &r->keys[0], v, n, &o, mcs_write_cb);
    if (rc < 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    mcs_track_write(r);
    req_unlock(r);
}

/* The reply line of a write, sent when it completes: built now in r->tmp ... */
static void mcs_tmp_line(struct req *r, const char *s)
{
    r->mc_line = NULL;
    pbuf_reset(&r->tmp);
    reply_check(r, mc_w_line(&r->tmp, s));
}

/* ... or a constant one, only pointed at (no buffer to allocate and move per write). */
static void mcs_const_line(struct req *r, const char *s)
{
    r->mc_line = s;
    pbuf_reset(&r->tmp);
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
    const struct mc_str *k = &r->mc->keys[i];
    if (rc != 0) {
        s->stats.keyspace_misses++;
        s->mcs->k.get_misses++;
        if (r->mc->is_bin)
            bin_value(r, req_out(r), k, 0, 0, NULL, 0, 0);
        return;
    }
    s->stats.keyspace_hits++;
    s->mcs->k.get_hits++;
    ment_fetched(s->mcs, i == 0 ? ment_hash0(r) : ment_hash(&r->keys[i]), it->cas);
    if (r->mc->is_bin) {
        bin_value(r, req_out(r), k, 1, it->flags, it->val, it->len, it->cas);
        return;
    }
    uint64_t cas = it->cas;
    reply_check(r, mc_w_value(req_out(r), k->ptr, k->len, it->flags, it->val, it->len,
                              r->mc->op == MC_GETS ? &cas : NULL));
}

static void get_done(struct req *r)
{
    mcs_end(r, r->mc->more ? NULL : "END"); /* a piece of a longer line: END comes last */
}

static void mcs_get(struct req *r)
{
    if (r->nkeys == 0) {
        get_done(r);
        return;
    }
    if (mget_start(r, r->keys, r->nkeys, 0, get_emit, get_done) < 0)
        mcs_end(r, "SERVER_ERROR out of memory");
}

/* ---- gat, gats: one key at a time (all of them locked from the start) ---- */

static void gat_next(struct req *r);

static void gat_put_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    const struct mc_str *k = &r->mc->keys[r->u64];
    struct mcs_counters *cnt = &r->c->srv->mcs->k;
    if (rc == 0) {
        uint64_t h = ment_hash(&r->keys[r->u64]);
        ment_resolve(r->c->srv->mcs, h, cas);
        ment_fetched(r->c->srv->mcs, h, cas);
    }
    cnt->touch_hits += rc == 0;
    cnt->get_hits += rc == 0;
    cnt->touch_misses += rc != 0;
    cnt->get_misses += rc != 0;
    if (rc == 0 && r->mc->is_bin)
        bin_value(r, &r->tmp, k, 1, r->flags, r->aux, (size_t)r->num, cas);
    else if (rc == 0)
        reply_check(r, mc_w_value(&r->tmp, k->ptr, k->len, r->flags, r->aux, (size_t)r->num,
                                  r->mc->op == MC_GATS ? &cas : NULL));
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
        struct ls_write_opts o = {.expire_ms = r->expire_ms, .flags = it->flags};
        const struct resp_arg *k = &r->keys[r->u64];
        if (park_put(r, 0, k, it->value, it->value_len, &o, gat_put_cb) == 0) {
            ment_touched(r->c->srv->mcs, ment_hash(k));
            return;
        }
        free(r->aux);
        r->aux = NULL;
    }
    if (rc == LS_ENOTFOUND) {
        r->c->srv->mcs->k.touch_misses++;
        r->c->srv->mcs->k.get_misses++;
    }
    if (rc == LS_ENOTFOUND && r->mc->is_bin)
        bin_value(r, &r->tmp, &r->mc->keys[r->u64], 0, 0, NULL, 0, 0);
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
    mcs_end(r, r->mc->more ? NULL : "END");
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
    mcs_const_line(r, "STORED");
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
    mcs_const_line(r, "DELETED");
    int rc = park_del(r, 0, &r->keys[0], mcs_write_cb);
    if (rc == 0)
        req_unlock(r);
    else if (rc == LS_ENOTFOUND)
        mcs_end(r, "NOT_FOUND");
    else if (rc < 0)
        mcs_end(r, reply_mc_engine_error(rc));
}

/* Binary DELETE with a CAS: only the item with that CAS goes. */
static void bin_delete_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc != 0) {
        mcs_end(r, rc == LS_ENOTFOUND ? "NOT_FOUND" : reply_mc_engine_error(rc));
        return;
    }
    if (it->cas != r->mc->bin.cas) {
        mcs_end(r, "EXISTS");
        return;
    }
    mcs_delete(r);
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
    const struct mc_bin *b = &r->mc->bin;
    char buf[24];
    if (rc == LS_ENOTFOUND && r->mc->is_bin && b->incr_exp != 0xffffffffu) {
        /* binary incr/decr on a miss creates the item with the initial value */
        int n = snprintf(buf, sizeof(buf), "%" PRIu64, b->initial);
        mcs_tmp_line(r, buf);
        mcs_put(r, buf, (size_t)n, mcs_expire_ms(b->incr_exp), 0);
        return;
    }
    if (rc == LS_ENOTFOUND) {
        mcs_end(r, "NOT_FOUND");
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (r->mc->is_bin && b->cas && b->cas != it->cas) {
        mcs_end(r, "EXISTS");
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
    mcs_const_line(r, "TOUCHED");
    mcs_put(r, it->value, it->value_len, mcs_expire_ms(r->mc->exptime), it->flags);
}

/* ---- flush_all, stats, version ---- */

static void flush_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    mcs_end(r, rc == 0 || rc == LS_ENOTFOUND ? "OK" : reply_mc_engine_error(rc));
}

/* flush_all [delay]: a delay schedules the flush (memcached: items stored before the
 * deadline are gone after it, later ones stay); mcs_dispatch runs it before the first
 * command at or after the deadline. Without a delay, a scheduled one is cancelled. */
static void mcs_flush_all(struct req *r)
{
    struct mcs_state *st = r->c->srv->mcs;
    if (r->mc->exptime > 0) {
        st->flush_at_ms = mcs_expire_ms(r->mc->exptime);
        mcs_end(r, "OK");
        return;
    }
    st->flush_at_ms = 0;
    tracking_flush(r->c->srv); /* database 0's keys: CLIENT TRACKING clients are told */
    int rc = park_flush(r, 0, flush_cb);
    if (rc < 0)
        flush_cb(r, rc, 0);
    else
        req_unlock(r); /* the flush is submitted (or parked): later commands may start */
}

/* A set or ms whose value is too large: the old item goes (a client that failed to update
 * must not read the old value back), then the error is replied. */
static void drop_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (rc == 0)
        ment_drop(r->c->srv->mcs, ment_hash0(r), cas);
    mcs_end(r, "SERVER_ERROR object too large for cache");
}

static void mcs_drop_run(struct req *r)
{
    int rc = park_del(r, 0, &r->keys[0], drop_cb);
    if (rc == 0)
        req_unlock(r);
    else if (rc == LS_ENOTFOUND)
        drop_cb(r, 0, 0);
    else if (rc < 0)
        drop_cb(r, rc, 0);
}

static int mcs_arg_is(const struct req *r, const char *s)
{
    return r->mc->arg.len == strlen(s) && memcmp(r->mc->arg.ptr, s, r->mc->arg.len) == 0;
}

/* The text stats in r->tmp ("STAT <name> <value>" lines, "END") as binary STAT packets:
 * one per stat (key: the name, value: the value), then an empty one. */
static void bin_stats(struct req *r)
{
    const char *p = r->tmp.data, *end = r->tmp.data + r->tmp.len;
    struct pbuf *o = req_out(r);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ls = p;
        p = nl ? nl + 1 : end;
        if (le > ls && le[-1] == '\r')
            le--;
        if ((size_t)(le - ls) < 5 || memcmp(ls, "STAT ", 5) != 0)
            continue;
        ls += 5;
        const char *sp = memchr(ls, ' ', (size_t)(le - ls));
        struct mc_str name = {ls, sp ? (size_t)(sp - ls) : (size_t)(le - ls)};
        const char *v = sp ? sp + 1 : le;
        bin_packet(r, o, MCB_OK, NULL, 0, &name, v, (size_t)(le - v), 0);
    }
    pbuf_reset(&r->tmp);
    bin_packet(r, o, MCB_OK, NULL, 0, NULL, NULL, 0, 0);
}

#define STAT_U64(o, name, v) pbuf_appendf(o, "STAT " name " %" PRIu64 "\r\n", (uint64_t)(v))

static void stat_names(struct pbuf *o, const char *const *names, size_t n, const char *one)
{
    for (size_t i = 0; i < n; i++)
        pbuf_appendf(o, "STAT %s %d\r\n", names[i], one && strcmp(names[i], one) == 0);
}

/* memcached's general stats, in its order: the keys a memcached 1.6.18 prints without an
 * LRU crawler or maintainer (logstor has no LRU: an item stays until it expires, is
 * deleted or flushed, so lru_crawler_*, lru_maintainer_juggles, evicted_active and the
 * segmented-LRU moves are absent, as in memcached started with no_lru_crawler,
 * no_lru_maintainer). Counters of memcached commands are true counts since the start or
 * the last `stats reset`; connection and byte counts are the whole server's (both
 * protocols). Fixed, with why: get_expired and get_flushed 0 (the engine answers a miss
 * for an absent, expired or flushed key alike); auth_* 0 (no SASL); evictions, reclaimed
 * and the slab/LRU/hash internals 0 (no slabs, no eviction: a full disk refuses writes);
 * threads 1 (one event loop). */
static void stats_general(struct req *r, struct pbuf *o)
{
    static const char *const zero1[] = {
        "response_obj_oom", "response_obj_count",  "response_obj_bytes", "read_buf_count",
        "read_buf_bytes",   "read_buf_bytes_free", "read_buf_oom",       "reserved_fds"};
    static const char *const zero2[] = {"listen_disabled_num",
                                        "time_in_listen_disabled_us",
                                        "threads",
                                        "conn_yields",
                                        "hash_power_level",
                                        "hash_bytes",
                                        "hash_is_expanding",
                                        "slab_reassign_rescues",
                                        "slab_reassign_chunk_rescues",
                                        "slab_reassign_evictions_nomem",
                                        "slab_reassign_inline_reclaim",
                                        "slab_reassign_busy_items",
                                        "slab_reassign_busy_deletes",
                                        "slab_reassign_running",
                                        "slabs_moved",
                                        "malloc_fails",
                                        "log_worker_dropped",
                                        "log_worker_written",
                                        "log_watcher_skipped",
                                        "log_watcher_sent",
                                        "log_watchers",
                                        "unexpected_napi_ids",
                                        "round_robin_fallback"};
    static const char *const zero3[] = {"slab_global_page_pool",
                                        "expired_unfetched",
                                        "evicted_unfetched",
                                        "evictions",
                                        "reclaimed",
                                        "crawler_reclaimed",
                                        "crawler_items_checked",
                                        "lrutail_reflocked"};
    struct server *s = r->c->srv;
    const struct mcs_state *st = s->mcs;
    struct ls_stats es;
    struct rusage ru;
    server_engine_stats(s, &es); /* zeros while loading */
    getrusage(RUSAGE_SELF, &ru);
    uint64_t up = (server_mono_ms() - s->start_mono_ms) / 1000;
    pbuf_appendf(o,
                 "STAT pid %d\r\nSTAT uptime %" PRIu64 "\r\nSTAT time %" PRIu64
                 "\r\nSTAT version %s\r\nSTAT libevent %s\r\nSTAT pointer_size %d"
                 "\r\nSTAT rusage_user %ld.%06ld\r\nSTAT rusage_system %ld.%06ld\r\n",
                 (int)getpid(), up, server_unix_ms() / 1000, MCS_VERSION, event_get_version(),
                 (int)(sizeof(void *) * 8), (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
                 (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    STAT_U64(o, "max_connections", s->cfg.maxclients);
    STAT_U64(o, "curr_connections", s->nconns);
    STAT_U64(o, "total_connections", s->stats.connections_received - st->base_conns);
    STAT_U64(o, "rejected_connections", s->stats.rejected_connections - st->base_rejected);
    STAT_U64(o, "connection_structures", s->nconns);
    stat_names(o, zero1, sizeof(zero1) / sizeof(zero1[0]), NULL);
    const uint64_t *kv = &st->k.cmd_get;
    for (size_t i = 0; i < MCS_NCOUNTERS; i++)
        pbuf_appendf(o, "STAT %s %" PRIu64 "\r\n", mcs_counter_names[i], kv[i]);
    STAT_U64(o, "auth_cmds", 0);
    STAT_U64(o, "auth_errors", 0);
    STAT_U64(o, "bytes_read", s->stats.net_input_bytes - st->base_read);
    STAT_U64(o, "bytes_written", s->stats.net_output_bytes - st->base_written);
    STAT_U64(o, "limit_maxbytes", s->cfg.disk_size);
    STAT_U64(o, "accepting_conns", 1);
    stat_names(o, zero2, sizeof(zero2) / sizeof(zero2[0]), "threads");
    STAT_U64(o, "bytes", es.live_bytes);
    STAT_U64(o, "curr_items", server_engine_count(s, 0));
    STAT_U64(o, "total_items", st->k.total_items);
    stat_names(o, zero3, sizeof(zero3) / sizeof(zero3[0]), NULL);
    reply_check(r, pbuf_appendf(o, "END\r\n"));
}

/* The engine's space figures, under their INFO logstor names ("stats logstor"). */
static void stats_logstor(struct req *r, struct pbuf *o)
{
    struct ls_stats es;
    server_engine_stats(r->c->srv, &es);
    reply_check(r, pbuf_appendf(o,
                                "STAT segments_total %" PRIu64 "\r\nSTAT segments_free %" PRIu64
                                "\r\nSTAT live_bytes %" PRIu64
                                "\r\nSTAT write_amplification %.2f\r\nEND\r\n",
                                es.segments_total, es.segments_free, es.live_bytes,
                                es.write_amplification));
}

static void stats_settings(struct req *r, struct pbuf *o)
{
    struct server *s = r->c->srv;
    reply_check(r, pbuf_appendf(o,
                                "STAT maxbytes %" PRIu64 "\r\nSTAT maxconns %" PRIu64
                                "\r\nSTAT tcpport %" PRIu64 "\r\nSTAT udpport 0"
                                "\r\nSTAT domain_socket NULL\r\nSTAT evictions off"
                                "\r\nSTAT item_size_max %" PRIu64 "\r\nSTAT cas_enabled yes"
                                "\r\nSTAT auth_enabled_sasl no\r\nSTAT binding_protocol "
                                "auto-negotiate\r\nSTAT num_threads 1\r\nSTAT flush_enabled yes"
                                "\r\nSTAT shutdown_command no\r\nSTAT durability %s\r\nEND\r\n",
                                s->cfg.disk_size, s->cfg.maxclients, s->cfg.memcached_port,
                                s->cfg.max_value_size, s->cfg.durability ? "periodic" : "sync"));
}

/* One pseudo slab class (1) holding every item, so that tools reading "stats items" and
 * "stats slabs" (memcdump, monitoring) find them. Sizes are the engine's live bytes. */
static void stats_class(struct req *r, struct pbuf *o, int slabs)
{
    struct server *s = r->c->srv;
    struct ls_stats es;
    server_engine_stats(s, &es);
    uint64_t n = server_engine_count(s, 0);
    if (n && !slabs)
        pbuf_appendf(o,
                     "STAT items:1:number %" PRIu64 "\r\nSTAT items:1:number_hot 0"
                     "\r\nSTAT items:1:number_warm 0\r\nSTAT items:1:number_cold %" PRIu64
                     "\r\nSTAT items:1:age 0\r\nSTAT items:1:mem_requested %" PRIu64
                     "\r\nSTAT items:1:evicted 0\r\nSTAT items:1:outofmemory %" PRIu64
                     "\r\nSTAT items:1:reclaimed 0\r\n",
                     n, n, es.live_bytes, s->mcs->k.store_no_memory);
    if (n && slabs)
        pbuf_appendf(o,
                     "STAT 1:chunk_size %" PRIu64 "\r\nSTAT 1:used_chunks %" PRIu64
                     "\r\nSTAT 1:mem_requested %" PRIu64 "\r\n",
                     s->cfg.max_value_size, n, es.live_bytes);
    if (slabs)
        pbuf_appendf(o, "STAT active_slabs %d\r\nSTAT total_malloced %" PRIu64 "\r\n", n ? 1 : 0,
                     es.live_bytes);
    reply_check(r, pbuf_appendf(o, "END\r\n"));
}

/* memcached's "stats conns": a group of lines per open memcached connection, by fd. */
static void stats_conns(struct req *r, struct pbuf *o)
{
    uint64_t now = server_mono_ms();
    for (struct conn *c = r->c->srv->conns; c; c = c->next) {
        if (c->kind != CONN_MEMCACHED || c->closed)
            continue;
        pbuf_appendf(o,
                     "STAT %d:addr tcp:%s\r\nSTAT %d:listen_addr tcp:%s\r\nSTAT %d:state %s"
                     "\r\nSTAT %d:secs_since_last_cmd %" PRIu64 "\r\n",
                     c->fd, c->addr, c->fd, c->laddr, c->fd,
                     c == r->c ? "conn_parse_cmd" : "conn_waiting", c->fd,
                     (now - c->last_ms) / 1000);
    }
    reply_check(r, pbuf_appendf(o, "END\r\n"));
}

#define MC_CACHEDUMP_MAX 4096 /* keys per cachedump: about memcached's 2 MB of reply */
/* stats cachedump <class> <limit>: memcdump's key listing. Class 1 holds every item (see
 * stats_items); one scan of table 0 lists up to limit keys (0 or past MC_CACHEDUMP_MAX:
 * MC_CACHEDUMP_MAX), each "ITEM <key> [<bytes> b; <expiry> s]" with the record's size on disk
 * (the value's length is not in the index) and the absolute expiry (0: none). */
static void cachedump_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n,
                         uint64_t next)
{
    struct req *r = arg;
    struct pbuf *o = r->mc->is_bin ? &r->tmp : req_out(r);
    (void)next;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct ls_meta m = {0, 0};
        ls_lookup(eng(r), 0, keys[i].key, keys[i].key_len, &m);
        pbuf_appendf(o, "ITEM %.*s [%" PRIu32 " b; %" PRIu64 " s]\r\n", (int)keys[i].key_len,
                     (const char *)keys[i].key, m.record_size, keys[i].expire_ms / 1000);
    }
    reply_check(r, pbuf_appendf(o, "END\r\n"));
    if (r->mc->is_bin)
        bin_stats(r);
    req_done(r);
}

/* 1 if the request is "stats cachedump <class> <limit>" (then it is answered). */
static int stats_cachedump(struct req *r, struct pbuf *o)
{
    unsigned cls = 0, limit = 0;
    char arg[64];
    size_t n = r->mc->arg.len < sizeof(arg) - 1 ? r->mc->arg.len : sizeof(arg) - 1;
    memcpy(arg, r->mc->arg.ptr, n);
    arg[n] = '\0';
    if (sscanf(arg, "cachedump %u %u", &cls, &limit) != 2)
        return 0;
    if (cls != 1 || server_engine_count(r->c->srv, 0) == 0) { /* (none while loading) */
        reply_check(r, pbuf_appendf(o, "END\r\n"));
        if (r->mc->is_bin)
            bin_stats(r);
        req_done(r);
        return 1;
    }
    if (limit == 0 || limit > MC_CACHEDUMP_MAX)
        limit = MC_CACHEDUMP_MAX;
    int rc = ls_scan(eng(r), 0, 0, limit, cachedump_cb, r);
    if (rc < 0)
        cachedump_cb(r, rc, NULL, 0, 0);
    return 1;
}

/* stats reset: memcached zeroes its counters (not the item counts). */
static void stats_reset(struct server *s)
{
    struct mcs_state *st = s->mcs;
    memset(&st->k, 0, sizeof(st->k));
    st->base_conns = s->stats.connections_received;
    st->base_rejected = s->stats.rejected_connections;
    st->base_read = s->stats.net_input_bytes;
    st->base_written = s->stats.net_output_bytes;
}

/* Groups answered with a status line only ("RESET", "OK"): 1 if arg is one. */
static int stats_simple(struct req *r, struct pbuf *o)
{
    if (mcs_arg_is(r, "reset"))
        stats_reset(r->c->srv);
    else if (!mcs_arg_is(r, "detail on") && !mcs_arg_is(r, "detail off"))
        return 0; /* (detail on/off: accepted; per-prefix stats are not collected) */
    if (!r->mc->is_bin)
        reply_check(r, mc_w_line(o, mcs_arg_is(r, "reset") ? "RESET" : "OK"));
    return 1;
}

static void mcs_stats(struct req *r)
{
    struct pbuf *o = r->mc->is_bin ? &r->tmp : req_out(r); /* binary: converted below */
    if (r->mc->arg.len == 0)
        stats_general(r, o);
    else if (mcs_arg_is(r, "settings"))
        stats_settings(r, o);
    else if (mcs_arg_is(r, "items") || mcs_arg_is(r, "slabs"))
        stats_class(r, o, mcs_arg_is(r, "slabs"));
    else if (mcs_arg_is(r, "conns"))
        stats_conns(r, o);
    else if (mcs_arg_is(r, "logstor"))
        stats_logstor(r, o);
    else if (mcs_arg_is(r, "sizes") || mcs_arg_is(r, "detail dump"))
        reply_check(r, pbuf_appendf(o, "END\r\n")); /* no size histogram, no prefixes */
    else if (stats_cachedump(r, o))
        return; /* answered (or will be, from its scan) */
    else if (!stats_simple(r, o)) {
        if (r->mc->is_bin)
            bin_status(r, MCB_ENOENT, NULL, 0); /* memcached: an unknown group is Not found */
        else
            mcs_line(r, "ERROR");
        req_done(r);
        return;
    }
    if (r->mc->is_bin)
        bin_stats(r);
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
    struct mcs_info in = {cas, 0, 0, r->expire_ms, 0, 0};
    struct pbuf *o = req_out(r);
    int v = mflag(r, 'v') != NULL;
    ment_resolve(r->c->srv->mcs, ment_hash0(r), cas);
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
    struct ls_write_opts o = {.expire_ms = r->expire_ms, .flags = 0};
    if (park_put(r, 0, &r->keys[0], "", 0, &o, mg_viv_cb) < 0)
        return 0;
    ment_put(r->c->srv->mcs, ment_hash0(r), MENT_PENDING, now_s(), MENT_TOKEN);
    req_unlock(r);
    return 1;
}

/* An mg hit's item state (see struct mcs_ment): h and l as before this fetch, then the
 * fetch itself (unless u); the marks memcached appends after the flags: Z (a win token
 * is out), X (stale), W (this client wins: the item is stale and no token is out yet, or
 * R<secs> and its TTL is below secs). */
static void mg_state(struct req *r, const struct ls_item *it, struct mcs_info *in, char *marks)
{
    struct mcs_state *st = r->c->srv->mcs;
    struct mcs_ment *any, *e = ment_get(st, ment_hash0(r), it->cas, &any);
    uint32_t fl = e ? e->flags : 0, now = now_s();
    int64_t secs;
    in->hit_before = (fl & MENT_FETCHED) != 0;
    in->last_access = e && now > e->access_s ? now - e->access_s : 0;
    int win = (fl & (MENT_STALE | MENT_TOKEN)) == MENT_STALE;
    uint64_t now_ms = server_unix_ms();
    if (!(fl & MENT_TOKEN) && mflag_i64(mflag(r, 'R'), &secs) == 0 && it->expire_ms != 0 &&
        it->expire_ms < mcs_expire_ms(secs) && it->expire_ms > now_ms)
        win = 1;
    marks[0] = '\0';
    if (fl & MENT_TOKEN)
        strcat(marks, " Z");
    if (fl & MENT_STALE)
        strcat(marks, " X");
    if (win)
        strcat(marks, " W");
    if (mflag(r, 'u') == NULL)
        fl |= MENT_FETCHED;
    if (win)
        fl |= MENT_TOKEN;
    if (e) {
        e->flags = fl;
        e->access_s = mflag(r, 'u') ? e->access_s : now;
    } else if (ment_may_record(any, it->cas)) {
        ment_put(st, ment_hash0(r), it->cas, now, fl);
    }
}

static void mg_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND && mg_vivify(r))
        return;
    if (rc == LS_ENOTFOUND) {
        r->c->srv->stats.keyspace_misses++;
        r->c->srv->mcs->k.get_misses++;
        mcs_meta_status(r, "EN", NULL, "kOb");
        req_done(r);
        return;
    }
    if (rc != 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    r->c->srv->stats.keyspace_hits++;
    r->c->srv->mcs->k.get_hits++;
    struct mcs_info in = {it->cas, it->flags, it->value_len, it->expire_ms, 0, 0};
    char marks[8];
    mg_state(r, it, &in, marks);
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
        reply_check(r, pbuf_append(o, marks, strlen(marks)));
        reply_check(r, pbuf_append(o, "\r\n", 2));
        if (v) {
            reply_check(r, pbuf_append(o, it->value, it->value_len));
            reply_check(r, pbuf_append(o, "\r\n", 2));
        }
    }
    if (touch) {
        r->step = 0;
        struct ls_write_opts wo = {.expire_ms = in.expire_ms, .flags = it->flags};
        int prc = park_put(r, 0, &r->keys[0], it->value, it->value_len, &wo, mcs_write_cb);
        if (prc == 0) {
            mcs_track_write(r);
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
    int has_c = mflag_u64(mflag(r, 'C'), &want) == 0;
    if (has_c && rc == 0 && want < it->cas && mflag(r, 'I')) {
        /* ms I: a CAS older than the item's still stores, as a stale item keeping the
         * TTL and the win token of the one it replaces (memcached's set_stale) */
        struct mcs_ment *e = ment_get(r->c->srv->mcs, ment_hash0(r), it->cas, NULL);
        r->u64 = MCS_U64_STALE | (e && (e->flags & MENT_TOKEN) ? MCS_U64_TOKEN : 0) |
                 (it->cas & (MCS_U64_TOKEN - 1));
        r->expire_ms = it->expire_ms;
    } else if (has_c && (rc != 0 || it->cas != want)) {
        mcs_meta_status(r, rc != 0 ? "NF" : "EX", NULL, "ckOb");
        req_done(r);
        return;
    }
    if (r->num == 'A' || r->num == 'P') {
        if (rc != 0) {
            mcs_meta_status(r, "NS", NULL, "ckOb");
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
        mcs_meta_status(r, "NS", NULL, "ckOb");
        req_done(r);
        return;
    }
    r->num = (int64_t)r->mc->data.len;
    mcs_put(r, r->mc->data.ptr, r->mc->data.len, r->expire_ms, r->flags);
}

/* md's write: a delete, or (I) the item rewritten as stale under a new CAS. */
static void md_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    if (rc != 0 && rc != LS_ENOTFOUND) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    if (rc == 0 && mflag(r, 'I'))
        ment_resolve(r->c->srv->mcs, ment_hash0(r), cas);
    else if (rc == 0)
        ment_drop(r->c->srv->mcs, ment_hash0(r), cas);
    mcs_meta_status(r, "HD", NULL, "kOb");
    req_done(r);
}

/* md I [T<ttl>]: the item is not deleted but marked stale, with a new CAS and, with T, a
 * new TTL (memcached's stale-while-revalidate: the next mg sees X and one client W). */
static void md_stale(struct req *r, const struct ls_item *it)
{
    int64_t ttl;
    uint64_t exp = it->expire_ms;
    if (mflag_i64(mflag(r, 'T'), &ttl) == 0)
        exp = mcs_expire_ms(ttl);
    struct ls_write_opts o = {.expire_ms = exp, .flags = it->flags};
    int rc = park_put(r, 0, &r->keys[0], it->value, it->value_len, &o, md_write_cb);
    if (rc < 0) {
        mcs_end(r, reply_mc_engine_error(rc));
        return;
    }
    ment_put(r->c->srv->mcs, ment_hash0(r), MENT_PENDING | it->cas, now_s(), MENT_STALE);
    req_unlock(r);
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
    } else if (mflag(r, 'C') && it->cas != want) {
        mcs_meta_status(r, "EX", NULL, "kOb");
        req_done(r);
    } else if (mflag(r, 'I')) {
        md_stale(r, it);
    } else {
        md_del(r);
    }
}

static void mcs_md(struct req *r)
{
    if (mflag(r, 'C') || mflag(r, 'I'))
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
    struct mcs_info in = {cas, r->flags, (uint32_t)r->tmp.len, r->expire_ms, 0, 0};
    ment_resolve(r->c->srv->mcs, ment_hash0(r), cas);
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
    struct ls_write_opts o = {.expire_ms = r->expire_ms, .flags = r->flags};
    int prc = park_put(r, 0, &r->keys[0], r->tmp.data, r->tmp.len, &o, ma_write_cb);
    if (prc < 0) {
        mcs_end(r, reply_mc_engine_error(prc));
        return;
    }
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
        if (m->is_bin && m->bin.cas)
            mcs_get_key(r, bin_delete_cb);
        else
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
    case MC_SLABS_AUTOMOVE:
        mcs_end(r, "OK");
        return;
    case MC_QUIT:
        if (m->is_bin)
            bin_status(r, MCB_OK, NULL, 0); /* QUITQ: none */
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
        mcs_end(r, "MN");
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
        return mflag(r, 'C') != NULL || mflag(r, 'I') != NULL;
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

_Static_assert(offsetof(struct mc_cmd, nmflags) ==
                   offsetof(struct mc_cmd, mflags) + MC_MAX_MFLAGS * sizeof(struct mc_mflag),
               "mcs_copy leaves out the tail of mflags: nmflags follows it");

/* Copies the parsed command and its bytes into a new request. The key array (with
 * base64 keys decoded) is kept after the mc_cmd. */
static struct req *mcs_copy(struct conn *c, const struct mc_cmd *cmd, const char *raw, size_t n)
{
    uint32_t nk = cmd->nkeys;
    size_t head =
        (offsetof(struct mc_cmd, keys) + (size_t)nk * sizeof(struct mc_str) + 7) & ~(size_t)7;
    size_t bytes =
        head + (size_t)nk * sizeof(struct resp_arg) + n + (nk ? cmd->keys[0].len : 0) + 1;
    void *mem;
    struct req *r = conn_req_new(c, bytes, &mem);
    if (r == NULL)
        return NULL;
    struct mc_cmd *m = mem; /* only its first nk keys exist (the array is the struct's tail) */
    struct resp_arg *keys = (struct resp_arg *)((char *)mem + head);
    char *copy = (char *)(keys + nk), *dec = copy + n;
    /* Two pieces, leaving out the meta flags the command does not have: copied whole the
     * struct was a kilobyte a command, the largest part of a plain set's dispatch. Only
     * mflags[0..nmflags) is ever read. */
    size_t used = offsetof(struct mc_cmd, mflags) + (size_t)cmd->nmflags * sizeof(cmd->mflags[0]);
    size_t rest = offsetof(struct mc_cmd, nmflags), end = head < sizeof(*m) ? head : sizeof(*m);
    memcpy(m, cmd, used);
    memcpy((char *)m + rest, (const char *)cmd + rest, end - rest);
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

static struct mcs_state *mcs_state_of(struct server *s)
{
    if (s->mcs == NULL && (s->mcs = calloc(1, sizeof(*s->mcs))) != NULL &&
        (s->mcs->ment = huge_calloc(MCS_MENT_BYTES)) == NULL) {
        free(s->mcs);
        s->mcs = NULL;
    }
    return s->mcs;
}

static void mcs_dispatch(struct conn *c, const struct mc_cmd *cmd, const char *raw, size_t n,
                         req_exec_fn exec);

/* Counts a command as memcached's cmd_* stats do (a get counts each key). */
static void mcs_count_cmd(struct mcs_state *st, const struct mc_cmd *cmd)
{
    struct mcs_counters *k = &st->k;
    switch (cmd->op) {
    case MC_GAT:
    case MC_GATS:
        k->cmd_touch += cmd->nkeys;
        /* fall through */
    case MC_GET:
    case MC_GETS:
        k->cmd_get += cmd->nkeys;
        break;
    case MC_SET:
    case MC_ADD:
    case MC_REPLACE:
    case MC_APPEND:
    case MC_PREPEND:
    case MC_CAS:
        k->cmd_set++;
        break;
    case MC_TOUCH:
        k->cmd_touch++;
        break;
    case MC_FLUSH_ALL:
        k->cmd_flush++;
        break;
    case MC_MG:
        k->cmd_get++;
        k->cmd_meta++;
        break;
    case MC_MS:
        k->cmd_set++;
        k->cmd_meta++;
        break;
    case MC_MD:
    case MC_MA:
    case MC_MN:
    case MC_ME:
        k->cmd_meta++;
        break;
    default:
        break;
    }
}

/* The scheduled flush: a flush_all, not counted as a command again. */
static void mcs_due_flush_run(struct req *r)
{
    mcs_run(r);
}

/* A flush_all <delay> whose deadline has passed runs before the command being dispatched,
 * as a flush_all noreply of this connection (so in order with its commands). */
static void mcs_due_flush(struct conn *c)
{
    static struct mc_cmd fl; /* one thread; only read by mcs_copy */
    struct mcs_state *st = c->srv->mcs;
    if (st->flush_at_ms == 0 || server_unix_ms() < st->flush_at_ms)
        return;
    st->flush_at_ms = 0;
    fl.op = MC_FLUSH_ALL;
    fl.noreply = 1;
    mcs_dispatch(c, &fl, "", 0, mcs_due_flush_run);
}

/* Whether op may run while the engine is being opened (loading.c): what reads no item. */
static int mcs_loading_ok(enum mc_op op)
{
    return op == MC_VERSION || op == MC_STATS || op == MC_VERBOSITY || op == MC_QUIT ||
           op == MC_MN || op == MC_SLABS_AUTOMOVE;
}

void mcs_refuse(struct req *r, const char *line)
{
    if (r->mc->is_bin)
        bin_status(r, MCB_ETMPFAIL, NULL, 0);
    else
        reply_check(r, mc_w_line(req_out(r), line));
    req_done(r);
}

/* The refusal while loading: SERVER_ERROR loading, sent even with noreply (memcached sends
 * its errors so); binary: status 0x86, temporary failure. */
static void mcs_loading(struct req *r)
{
    mcs_refuse(r, "SERVER_ERROR loading");
}

static void mcs_dispatch(struct conn *c, const struct mc_cmd *cmd, const char *raw, size_t n,
                         req_exec_fn exec)
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
    if (s->eng == NULL && (exec != mcs_run || !mcs_loading_ok(cmd->op))) {
        mcs_loading(r);
        return;
    }
    if (exec == mcs_run)
        mcs_count_cmd(s->mcs, cmd);
    if (exec == mcs_run && r->nkeys > 0)      /* a get hit, a write's completion: ment_* */
        ment_prefetch(s->mcs, ment_hash0(r)); /* in flight with the lock's and the read's */
    r->exec = exec;
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

/* A binary request that failed to parse: its error response. */
static void mcs_bin_error(struct conn *c, const struct mc_cmd *m, const char *msg)
{
    struct req *r = conn_req_new(c, 0, NULL);
    if (r == NULL)
        return;
    reply_check(r, mcb_w_response(req_out(r), &m->bin, m->bin.status, NULL, 0, NULL, 0, msg,
                                  (uint32_t)strlen(msg), 0));
    req_done(r);
}

/* A parse error: its reply (none for noreply), or the too-large set/ms that drops the key. */
static void mcs_parse_error(struct conn *c, const struct mc_parse_out *po, const char *buf)
{
    const struct mc_cmd *m = c->mcc;
    int large =
        m->is_bin ? m->bin.status == MCB_E2BIG : po->err && strcmp(po->err, mcs_e_large) == 0;
    if (large && m->nkeys == 1 && (m->op == MC_SET || m->op == MC_MS)) {
        size_t n = (size_t)(m->keys[0].ptr + m->keys[0].len - buf);
        mcs_dispatch(c, m, buf, n, mcs_drop_run);
        return;
    }
    if (po->err && m->is_bin)
        mcs_bin_error(c, m, po->err);
    else if (po->err && !m->noreply)
        mcs_error(c, po->err);
}

/* Per connection: the parse scratch (c->mcc, freed by conn.c) and the protocol
 * (c->mc_binary, in struct conn: beside the kilobytes of the scratch it was one more cache
 * line to miss per command), chosen by the connection's first byte as memcached does: 0x80
 * is a binary request's magic, anything else starts a text command. */
static struct mc_cmd *mcs_cmd_of(struct conn *c)
{
    if (c->mcc == NULL) {
        struct mc_cmd *m = calloc(1, sizeof(*m));
        if (m == NULL)
            return NULL;
        mc_cmd_init(m);
        c->mcc = m;
    }
    return c->mcc;
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
    if (mcs_cmd_of(c) == NULL || mcs_state_of(c->srv) == NULL)
        return -1;
    struct mc_limits lim = {(uint32_t)c->srv->cfg.max_value_size, MCS_MAX_LINE};
    struct mc_parse_out po = {0};
    const char *buf = c->in.data + c->in_pos;
    size_t len = c->in.len - c->in_pos;
    if (c->mc_binary == 0 && len > 0)
        c->mc_binary = (unsigned char)buf[0] == MCB_REQ ? 2 : 1;
    enum mc_status st = c->mc_binary == 2 ? mcb_parse(buf, len, &lim, c->mcc, &po)
                                          : mc_parse(buf, len, &lim, c->mcc, &po);
    if (st == MC_MORE) {
        c->in_need = po.need; /* conn.c reads at least this much before parsing again */
        return 0;
    }
    mcs_due_flush(c);
    if (st == MC_ERROR) {
        mcs_parse_error(c, &po, buf);
        if (po.consumed == 0) { /* a line too long, or an HTTP request: hang up */
            c->close_after_reply = 1;
            c->in_pos = c->in.len;
            conn_mark_write(c);
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
    mcs_dispatch(c, c->mcc, buf, po.consumed, mcs_run);
    return 1;
}
