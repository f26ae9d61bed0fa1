/*
 * cmd_sync.c - SYNC and REPLCONF: `redis-cli --rdb FILE` (and anything else that speaks
 * the replication handshake) receives an RDB file of every database, so that a data set
 * can move from logstord to Redis (logstor-load, client/, moves it the other way).
 *
 * The stream: SYNC's reply is "$EOF:<40 random hex characters>\r\n", the RDB file
 * (rdb.c: version 10, AUX fields, the function libraries, per non-empty database SELECTDB
 * and RESIZEDB, each string key with its expiry, EOF, CRC64), then the 40 characters
 * again. REPLCONF rdb-filter-only leaves the databases out (redis-cli --functions-rdb
 * gets the libraries only; --replica, which discards the file, nothing). This is the
 * form Redis uses for diskless replication; redis-cli reads it whatever capabilities it
 * announced. It needs no length up front, so nothing is staged in a file. Once the file
 * is sent the connection closes: logstord does not replicate its writes (a Redis replica
 * pointed at it gets the snapshot, then loses the link and asks again).
 *
 * Asynchrony and bounds: the dump is a state machine driven by its own event (activated
 * when the engine answers or the connection's output drains, and every 100 ms as a
 * safety net), never by a loop on the event loop. It scans one table at a time
 * (ls_scan, RDB_SCAN_COUNT keys per call, their bytes copied), reads the values of a
 * batch with up to RDB_GETS reads in flight, and encodes each value into the
 * connection's output as its read completes. It starts a read only while the output
 * not yet sent plus the records being read stay under RDB_OUT_HIGH (one read at least,
 * so a value larger than that still goes), and waits for the client otherwise: the
 * server's memory for a dump is about RDB_OUT_HIGH plus one batch of keys, whatever the
 * data size, and every other client is served meanwhile. A value that does not fit
 * client_output_buffer_limit ends the dump like any reply would.
 *
 * Consistency: the scan visits each key present for the whole dump exactly once (the
 * engine's scan is ordered by token and resumes after the last token returned); a key
 * written during the dump appears with its old or new value or not at all if it was
 * created or deleted meanwhile; its value and expiry come from one read of one record.
 * Keys already expired are left out. A read or scan error aborts the dump, and so does
 * a damaged record anywhere in the engine during the dump (INFO read_corrupt grew: the
 * scan leaves such a key out, unknown): the connection is closed before the EOF mark, so
 * the client sees a failure instead of a file with keys missing.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cmd.h"
#include "large.h"
#include "lockset.h"
#include "log.h"
#include "rdb.h"
#include "rdbcoll.h"
#include "rdbstr.h"
#include "reply.h"
#include "script.h"
#include "server.h"

#define RDB_SCAN_COUNT 512
#define RDB_GETS       256
#define RDB_OUT_HIGH   (1u << 20)
#define RDB_MARK_LEN   40 /* Redis's RDB_EOF_MARK_SIZE */

struct dump_key {
    struct dump *d;
    uint32_t off, len; /* in d->kbuf */
    uint32_t size;     /* record bytes while its read is in flight */
};

struct dump {
    struct req *r;
    struct conn *c;
    struct server *s;
    struct event *ev;
    uint64_t crc;
    uint32_t db, ndb;
    uint64_t cursor;
    int scan_done;         /* the table's scan returned its last batch */
    int scan_pending;      /* an ls_scan in flight */
    int db_started;        /* SELECTDB written for db */
    struct dump_key *keys; /* the batch being read (keys_cap allocated) */
    uint32_t keys_cap;
    uint8_t *kbuf;
    size_t kbuf_cap;
    uint32_t nkeys, next_key;
    uint32_t gets;      /* reads in flight */
    uint64_t get_bytes; /* their record bytes */
    const char *failed; /* why it stops early: close once nothing is in flight */
    char mark[RDB_MARK_LEN];
    uint64_t keys_sent, t0_ms;
    uint64_t corrupt0; /* the engine's read_corrupt when the dump began */
};

/* ---- output ---- */

/* Room for n bytes at the end of the stream's buffer, or NULL (the output limit). */
static uint8_t *out_room(struct dump *d, size_t n)
{
    struct pbuf *o = req_push_out(d->r);
    if (pbuf_reserve(o, n) < 0)
        return NULL;
    return (uint8_t *)o->data + o->len;
}

/* Commits n bytes written at out_room, counted in the file's checksum when crc is set. */
static void out_commit(struct dump *d, size_t n, int crc)
{
    struct pbuf *o = req_push_out(d->r);
    if (crc)
        d->crc = rdbstr_crc64(d->crc, o->data + o->len, n);
    o->len += n;
    conn_mark_write(d->c);
}

/* Bytes of the stream not yet sent: in the output buffer once SYNC's reply is at the head
 * of the queue, else in its own buffer. */
static size_t out_pending(const struct dump *d)
{
    const struct conn *c = d->c;
    if (d->r == c->head)
        return c->out.len - c->out_pos;
    return d->r->buf.len;
}

static void dump_fail(struct dump *d, const char *why)
{
    if (d->failed == NULL)
        d->failed = why;
}

static void kick(void *arg)
{
    struct dump *d = arg;
    event_active(d->ev, 0, 1);
}

/* The header: the EOF-mark reply line, the RDB signature and AUX fields. */
static int dump_begin(struct dump *d)
{
    char ctime[24];
    uint8_t *p = out_room(d, 6 + RDB_MARK_LEN + 2 + RDB_HEADER_LEN + 256);
    if (p == NULL)
        return -1;
    memcpy(p, "$EOF:", 5);
    memcpy(p + 5, d->mark, RDB_MARK_LEN);
    memcpy(p + 5 + RDB_MARK_LEN, "\r\n", 2);
    out_commit(d, 7 + RDB_MARK_LEN, 0);
    p += 7 + RDB_MARK_LEN;
    size_t o = rdb_put_header(p);
    snprintf(ctime, sizeof(ctime), "%llu", (unsigned long long)(server_unix_ms() / 1000));
    o += rdb_put_aux(p + o, "redis-ver", "7.0.0");
    o += rdb_put_aux(p + o, "redis-bits", sizeof(void *) == 8 ? "64" : "32");
    o += rdb_put_aux(p + o, "ctime", ctime);
    o += rdb_put_aux(p + o, "logstor-ver", LS_VERSION_STRING);
    out_commit(d, o, 1);
    if (d->c->rdb_filter & CONN_RDB_NO_FUNCTIONS)
        return 0;
    uint8_t *fn;
    size_t len;
    if (script_functions_rdb(d->s, &fn, &len) < 0)
        return -1;
    p = len ? out_room(d, len) : NULL;
    if (p)
        memcpy(p, fn, len);
    free(fn);
    if (len && p == NULL)
        return -1;
    out_commit(d, len, 1);
    return 0;
}

static int dump_trailer(struct dump *d)
{
    uint8_t *p = out_room(d, RDB_EOF_LEN + RDB_MARK_LEN);
    if (p == NULL)
        return -1;
    rdb_put_eof(p, d->crc);
    memcpy(p + RDB_EOF_LEN, d->mark, RDB_MARK_LEN);
    out_commit(d, RDB_EOF_LEN + RDB_MARK_LEN, 0);
    return 0;
}

/* ---- engine callbacks ---- */

/* Writes the entry of key k (it: its value, a large list's loaded into the small form). */
static void emit_entry(struct dump *d, struct dump_key *k, const struct ls_item *it)
{
    size_t bound = rdb_entry_bound(it->key_len, it->value_len);
    if (it->vtype == COLL_STREAM) { /* the RDB stream encoding is not written (README) */
        log_warning("SYNC of client id=%llu: key '%.*s' of db %u is a stream, which logstord "
                    "cannot send in RDB",
                    (unsigned long long)d->c->id, (int)(k->len > 64 ? 64 : k->len),
                    (const char *)d->kbuf + k->off, d->db);
        dump_fail(d, "a stream cannot be sent in RDB");
        return;
    }
    if (it->vtype != COLL_STRING) {
        size_t body = rdbcoll_body_bound(it->vtype, it->value, it->value_len);
        if (body == 0) {
            log_warning("SYNC of client id=%llu: key '%.*s' of db %u: damaged collection",
                        (unsigned long long)d->c->id, (int)(k->len > 64 ? 64 : k->len),
                        (const char *)d->kbuf + k->off, d->db);
            dump_fail(d, "read error");
            return;
        }
        bound = rdb_entry_bound(it->key_len, 0) + body;
    }
    uint8_t *p = out_room(d, RDB_DB_HDR_MAX + bound);
    if (p == NULL) {
        dump_fail(d, "client_output_buffer_limit");
        return;
    }
    size_t o = 0;
    if (!d->db_started) {
        uint64_t nexp = ls_count_expires(d->s->eng, d->db, NULL);
        o = rdb_put_selectdb(p, d->db, ls_count(d->s->eng, d->db), nexp);
        d->db_started = 1;
    }
    if (it->vtype != COLL_STRING) {
        size_t w = rdb_put_coll_entry(p + o, it->key, it->key_len, it->vtype, it->value,
                                      it->value_len, it->expire_ms);
        if (w == 0) {
            dump_fail(d, "out of memory");
            return;
        }
        o += w;
    } else
        o += rdb_put_string_entry(p + o, it->key, it->key_len, it->value, it->value_len,
                                  it->expire_ms);
    out_commit(d, o, 1);
    d->keys_sent++;
}

/* ---- a large list (large.c): its pages read in order, then its root again ----
 * The dump holds no lock: a list changed while its pages were read has another root (every
 * change of a large list rewrites its root, so its cas moves), and is read again, up to
 * LARGE_TRIES times. Until it is written the key counts as a read in flight. */
#define LARGE_TRIES 8

struct dump_large {
    struct dump_key *k;
    struct plist_root root;
    uint64_t expire_ms, cas, next, got;
    struct coll_buf el;
    int tries;
    struct lockset_claim *claim; /* the key, shared: no write changes it while it is read */
};

static void large_end(struct dump_large *lg)
{
    struct dump *d = lg->k->d;
    if (lg->claim)
        lockset_release(d->s->locks, lg->claim);
    d->gets--;
    event_active(d->ev, 0, 1);
    coll_buf_free(&lg->el);
    free(lg);
}

static void large_start(struct dump_large *lg, const struct ls_item *it);

static void large_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct dump_large *lg = arg;
    struct dump *d = lg->k->d;
    if (d->failed || d->c->closed || rc == LS_ENOTFOUND) {
        large_end(lg); /* LS_ENOTFOUND: deleted meanwhile */
        return;
    }
    if (rc != 0) {
        dump_fail(d, "read error");
        large_end(lg);
        return;
    }
    if (it->cas == lg->cas) { /* unchanged while its pages were read */
        uint8_t hdr[11];
        hdr[0] = (uint8_t)(COLL_VERSION | (lg->root.flags & COLL_F_BIG));
        size_t h = 1 + coll_varint_put(hdr + 1, lg->root.count);
        uint8_t *v = malloc(h + lg->el.len);
        if (v == NULL) {
            dump_fail(d, "out of memory");
            large_end(lg);
            return;
        }
        memcpy(v, hdr, h);
        if (lg->el.len)
            memcpy(v + h, lg->el.p, lg->el.len);
        struct ls_item whole = *it;
        whole.value = v;
        whole.value_len = (uint32_t)(h + lg->el.len);
        whole.expire_ms = lg->expire_ms;
        if (lg->got != lg->root.count ||
            ((lg->root.flags & PLIST_F_TREE) && /* a sorted set's buckets: in its order */
             coll_zset_sort_elems(v + h, lg->el.len, lg->got) != 0))
            dump_fail(d, "read error");
        else
            emit_entry(d, lg->k, &whole);
        free(v);
        large_end(lg);
        return;
    }
    if (++lg->tries == LARGE_TRIES) {
        dump_fail(d, "a large collection kept changing while it was read");
        large_end(lg);
        return;
    }
    if (it->vtype != COLL_STREAM && large_is_root(it->vtype, it->value, it->value_len)) {
        large_start(lg, it); /* (a stream, large or not, is refused by emit_entry) */
        return;
    }
    if (!(it->expire_ms && it->expire_ms <= server_unix_ms()))
        emit_entry(d, lg->k, it); /* it is a small value now */
    large_end(lg);
}

static void large_next(struct dump_large *lg);

static void large_page_cb(void *arg, int rc, const struct ls_item *it)
{
    struct dump_large *lg = arg;
    struct dump *d = lg->k->d;
    uint64_t n;
    size_t k = 0;
    if (d->failed || d->c->closed) {
        large_end(lg);
        return;
    }
    if (rc == 0 && it->value_len > 1)
        k = coll_varint_get((const uint8_t *)it->value + 1, it->value_len - 1, &n);
    if (rc == LS_ENOTFOUND || (rc == 0 && k != 0 && n > lg->root.count - lg->got)) {
        lg->next = lg->root.tail + 1; /* it changed (a page gone, a bucket grown): its */
        large_next(lg);               /* root tells, read again */
        return;
    }
    if (rc != 0 || k == 0) {
        dump_fail(d, "read error");
        large_end(lg);
        return;
    }
    size_t add = it->value_len - 1 - k;
    if (lg->el.len + add > LARGE_LOAD_MAX) {
        dump_fail(d, "a collection larger than 512 MB");
        large_end(lg);
        return;
    }
    if (lg->el.cap - lg->el.len < add) {
        size_t cap = lg->el.cap ? lg->el.cap : 65536;
        while (cap - lg->el.len < add)
            cap *= 2;
        uint8_t *q = realloc(lg->el.p, cap);
        if (q == NULL) {
            dump_fail(d, "out of memory");
            large_end(lg);
            return;
        }
        lg->el.p = q;
        lg->el.cap = cap;
    }
    if (add) /* a hash bucket may be empty */
        memcpy(lg->el.p + lg->el.len, (const uint8_t *)it->value + 1 + k, add);
    lg->el.len += add;
    lg->got += n;
    lg->next++;
    large_next(lg);
}

static void large_next(struct dump_large *lg)
{
    struct dump *d = lg->k->d;
    int rc;
    if (lg->next > lg->root.tail) /* every page read: is the root the same? */
        rc = ls_get(d->s->eng, d->db, d->kbuf + lg->k->off, lg->k->len, large_root_cb, lg);
    else {
        uint8_t pk[PLIST_PAGE_KEY_LEN];
        plist_page_key(lg->root.version, lg->next, pk);
        rc = ls_get(d->s->eng, large_page_table(d->s), pk, sizeof(pk), large_page_cb, lg);
    }
    if (rc == LS_ENOTFOUND && lg->next > lg->root.tail) {
        large_end(lg); /* deleted meanwhile */
    } else if (rc == LS_ENOTFOUND) {
        lg->next = lg->root.tail + 1; /* the list changed: its root tells */
        large_next(lg);
    } else if (rc < 0) {
        dump_fail(d, "read error");
        large_end(lg);
    }
}

static void large_start(struct dump_large *lg, const struct ls_item *it)
{
    struct dump *d = lg->k->d;
    if (plist_root_decode(it->value, it->value_len, &lg->root) < 0) {
        log_warning("SYNC of client id=%llu: key '%.*s' of db %u: damaged large list",
                    (unsigned long long)d->c->id, (int)(lg->k->len > 64 ? 64 : lg->k->len),
                    (const char *)d->kbuf + lg->k->off, d->db);
        dump_fail(d, "read error");
        large_end(lg);
        return;
    }
    lg->expire_ms = it->expire_ms;
    lg->cas = it->cas;
    lg->next = lg->root.head;
    lg->got = 0;
    lg->el.len = 0;
    large_next(lg);
}

/* The key's shared lock granted after a wait: its root is read again (next past tail),
 * and large_root_cb starts from it (its cas differs from the zero recorded) or emits what
 * the key holds now. */
static void large_granted(void *arg)
{
    struct dump_large *lg = arg;
    lg->next = 1;
    lg->root.tail = 0;
    large_next(lg);
}

static void get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct dump_key *k = arg;
    struct dump *d = k->d;
    d->gets--;
    d->get_bytes -= k->size;
    conn_read_sub(d->c, k->size);
    event_active(d->ev, 0, 1);
    if (d->failed || d->c->closed || rc == LS_ENOTFOUND)
        return; /* LS_ENOTFOUND: deleted since the scan */
    if (rc != 0) {
        log_warning("SYNC of client id=%llu: reading key '%.*s' of db %u failed: %s",
                    (unsigned long long)d->c->id, (int)(k->len > 64 ? 64 : k->len),
                    (const char *)d->kbuf + k->off, d->db, ls_strerror(rc));
        dump_fail(d, "read error");
        return;
    }
    if (it->expire_ms && it->expire_ms <= server_unix_ms())
        return;
    if (it->vtype != COLL_STREAM && large_is_root(it->vtype, it->value, it->value_len)) {
        struct dump_large *lg = calloc(1, sizeof(*lg));
        if (lg == NULL) {
            dump_fail(d, "out of memory");
            return;
        }
        lg->k = k;
        d->gets++; /* its pages are reads in flight too */
        /* Read under the key's shared lock, as a command would: a large collection written
         * all the time (a bucket and its root per HSET) would otherwise change under
         * every one of the reads of it. Without a lock (none to be had), as before. */
        struct lockset_item li = {
            .db = d->db, .mode = LOCKSET_SHARED, .key = d->kbuf + k->off, .key_len = k->len};
        int granted = lockset_claim(d->s->locks, &li, 1, large_granted, lg, &lg->claim);
        if (granted == 0)
            return; /* large_granted goes on */
        if (granted < 0)
            lg->claim = NULL;
        large_start(lg, it);
        return;
    }
    emit_entry(d, k, it);
}

static void scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct dump *d = arg;
    d->scan_pending = 0;
    event_active(d->ev, 0, 1);
    if (rc < 0) {
        log_warning("SYNC of client id=%llu: scanning db %u failed: %s",
                    (unsigned long long)d->c->id, d->db, ls_strerror(rc));
        dump_fail(d, "scan error");
        return;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += keys[i].key_len;
    if (n > d->keys_cap) {
        struct dump_key *nk = realloc(d->keys, n * sizeof(*nk));
        if (nk == NULL) {
            dump_fail(d, "out of memory");
            return;
        }
        d->keys = nk;
        d->keys_cap = n;
    }
    if (bytes > d->kbuf_cap) {
        uint8_t *kb = realloc(d->kbuf, bytes);
        if (kb == NULL) {
            dump_fail(d, "out of memory");
            return;
        }
        d->kbuf = kb;
        d->kbuf_cap = bytes;
    }
    uint64_t now = server_unix_ms();
    size_t off = 0;
    d->nkeys = d->next_key = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (keys[i].expire_ms && keys[i].expire_ms <= now)
            continue;
        memcpy(d->kbuf + off, keys[i].key, keys[i].key_len);
        d->keys[d->nkeys++] = (struct dump_key){d, (uint32_t)off, keys[i].key_len, 0};
        off += keys[i].key_len;
    }
    d->cursor = next;
    d->scan_done = next == 0;
}

/* ---- the state machine ---- */

static void dump_free(struct dump *d)
{
    if (d->c->on_drain_arg == d) {
        d->c->on_drain = NULL;
        d->c->on_drain_arg = NULL;
    }
    event_free(d->ev);
    free(d->keys);
    free(d->kbuf);
    free(d);
}

/* Ends the request: after the trailer, or early (the connection is closed). */
static uint64_t read_corrupt(struct server *s)
{
    struct ls_stats st;
    ls_get_stats(s->eng, &st);
    return st.read_corrupt;
}

static void dump_end(struct dump *d)
{
    struct req *r = d->r;
    struct conn *c = d->c;
    uint64_t ms = server_mono_ms() - d->t0_ms;
    /* The scan leaves out a key whose record it finds damaged (it cannot learn the key),
     * counting it in read_corrupt: a file without it would look complete. */
    if (d->failed == NULL && read_corrupt(d->s) != d->corrupt0)
        dump_fail(d, "damaged records found during the dump (INFO read_corrupt; see the log)");
    if (d->failed == NULL && dump_trailer(d) < 0)
        dump_fail(d, "client_output_buffer_limit");
    if (d->failed) {
        log_warning("SYNC of client id=%llu addr=%s stopped after %llu keys: %s",
                    (unsigned long long)c->id, c->addr, (unsigned long long)d->keys_sent,
                    d->failed);
        if (!c->closed)
            conn_close(c, d->failed);
    } else {
        log_notice("SYNC of client id=%llu addr=%s: sent an RDB of %llu keys in %llu ms",
                   (unsigned long long)c->id, c->addr, (unsigned long long)d->keys_sent,
                   (unsigned long long)ms);
        c->close_after_reply = 1; /* no replication follows */
    }
    r->aux = NULL;
    dump_free(d);
    req_done(r);
}

static void dump_gets(struct dump *d)
{
    while (d->next_key < d->nkeys && d->gets < RDB_GETS &&
           (d->gets == 0 || out_pending(d) + d->get_bytes < RDB_OUT_HIGH)) {
        struct dump_key *k = &d->keys[d->next_key++];
        uint32_t size = 0;
        int rc = ls_get_sized(d->s->eng, d->db, d->kbuf + k->off, k->len, get_cb, k, &size);
        if (rc == LS_ENOTFOUND)
            continue;
        if (rc < 0) {
            dump_fail(d, "read error");
            return;
        }
        k->size = size;
        d->gets++;
        d->get_bytes += size;
        conn_read_add(d->c, size); /* the client's memory, as its GETs' reads are */
    }
}

static void dump_step(struct dump *d)
{
    if (d->c->closed)
        dump_fail(d, "connection closed");
    else if (d->s->shutdown_asked)
        dump_fail(d, "server shutting down");
    if (d->failed) {
        if (d->gets == 0 && !d->scan_pending)
            dump_end(d);
        return;
    }
    if (d->scan_pending || out_pending(d) >= RDB_OUT_HIGH)
        return; /* the engine or the client calls back */
    dump_gets(d);
    if (d->failed || d->next_key < d->nkeys || d->gets > 0)
        return;
    while (d->db < d->ndb && (d->scan_done || ls_count(d->s->eng, d->db) == 0)) {
        d->db++; /* the next table (an empty one is passed over) */
        d->cursor = 0;
        d->scan_done = 0;
        d->db_started = 0;
    }
    if (d->db >= d->ndb) {
        dump_end(d);
        return;
    }
    int rc = ls_scan(d->s->eng, d->db, d->cursor, RDB_SCAN_COUNT, scan_cb, d);
    if (rc < 0)
        dump_fail(d, "scan error");
    else
        d->scan_pending = 1;
}

static void dump_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct dump *d = arg;
    struct server *s = d->s;
    (void)fd;
    (void)what;
    dump_step(d);
    server_after_events(s);
}

static void mark_new(char *mark)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[RDB_MARK_LEN];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t x = server_unix_ms() ^ ((uint64_t)(uintptr_t)mark << 16);
        for (size_t i = 0; i < sizeof(rnd); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[i] = (uint8_t)x;
        }
    }
    for (size_t i = 0; i < RDB_MARK_LEN; i++)
        mark[i] = hex[rnd[i] & 15];
}

void cmd_sync_sync(struct req *r)
{
    struct conn *c = r->c;
    struct dump *d = calloc(1, sizeof(*d));
    struct timeval tv = {0, 100 * 1000};
    if (d == NULL || (d->ev = event_new(c->srv->base, -1, EV_PERSIST, dump_on_event, d)) == NULL ||
        event_add(d->ev, &tv) < 0) {
        if (d && d->ev)
            event_free(d->ev);
        free(d);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    d->r = r;
    d->c = c;
    d->s = c->srv;
    d->ndb = (uint32_t)c->srv->cfg.databases;
    d->t0_ms = server_mono_ms();
    d->corrupt0 = read_corrupt(d->s);
    if (c->rdb_filter & CONN_RDB_NO_DATA)
        d->db = d->ndb; /* REPLCONF rdb-filter-only: no database */
    mark_new(d->mark);
    c->replica = 1;
    c->on_drain = kick;
    c->on_drain_arg = d;
    if (dump_begin(d) < 0)
        dump_fail(d, "client_output_buffer_limit");
    log_notice("SYNC of client id=%llu addr=%s: streaming an RDB of every database",
               (unsigned long long)c->id, c->addr);
    kick(d);
}

/* REPLCONF option value ...: what redis-cli --rdb and a replica send before SYNC. */
void cmd_sync_replconf(struct req *r)
{
    if (r->argc % 2 == 0) {
        reply_error(r, ERR_SYNTAX);
        req_done(r);
        return;
    }
    for (uint32_t i = 1; i < r->argc; i += 2) {
        const struct resp_arg *o = &r->argv[i], *v = &r->argv[i + 1];
        long long x;
        if (cmd_arg_is(o, "ack") || cmd_arg_is(o, "getack")) {
            req_done(r); /* no reply, as Redis */
            return;
        }
        if (cmd_arg_is(o, "listening-port") || cmd_arg_is(o, "rdb-only")) {
            if (cmd_arg_ll(v, &x) < 0 || (cmd_arg_is(o, "rdb-only") && (x < 0 || x > 1))) {
                reply_error(r,
                            cmd_arg_is(o, "rdb-only") ? "ERR value is out of range" : ERR_NOT_INT);
                req_done(r);
                return;
            }
        } else if (cmd_arg_is(o, "rdb-filter-only")) {
            /* What to include, as Redis: nothing listed is neither data nor functions
             * (redis-cli --replica), "functions" the libraries only (--functions-rdb). */
            uint8_t filter = CONN_RDB_NO_DATA | CONN_RDB_NO_FUNCTIONS;
            char *tok, *save = NULL;
            for (tok = strtok_r(v->ptr, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                if (strcasecmp(tok, "functions") != 0) {
                    reply_errorf(r, "ERR Unsupported rdb-filter-only option: %s", tok);
                    req_done(r);
                    return;
                }
                filter &= (uint8_t)~CONN_RDB_NO_FUNCTIONS;
            }
            r->c->rdb_filter = filter;
        } else if (!cmd_arg_is(o, "capa") && !cmd_arg_is(o, "ip-address")) {
            reply_errorf(r, "ERR Unrecognized REPLCONF option: %s", o->ptr);
            req_done(r);
            return;
        }
    }
    reply_ok(r);
    req_done(r);
}
