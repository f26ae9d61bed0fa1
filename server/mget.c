/*
 * mget.c - multi-key reads with bounded memory (issue 11, items 6 and 18).
 *
 * Starting every read of an MGET at once let one command hold an aligned device buffer
 * per key (200 k keys: 1.6 GB) and copy every value before the reply was built (2,000
 * times a 1 MiB key: 2.3 GB). Here the keys are read through a window: a ring of
 * MGET_WINDOW slots holds the reads in flight and the values that arrived before their
 * turn; results are handed to the command's emit function in key order as soon as the
 * ones before them are in (a value in turn is emitted straight from the engine's buffer,
 * without a copy), and its slot is reused.
 *
 * A read is started only while (a) the window has a free slot, (b) the connection has
 * fewer than MGET_CONN_READS multi-key reads in flight, and (c) the reply so far plus the
 * bytes of the connection's reads in flight and values waiting (conn.read_bytes, each
 * counted at its record size, from ls_lookup, until emitted) plus this record stay within
 * client_output_buffer_limit. A command with no read in flight may always start one, so it
 * progresses whatever other commands of its connection hold. A reply that grows past the
 * limit anyway fails its append, which marks the connection for closing, as Redis does
 * past client-output-buffer-limit; the reads then stop and the command ends.
 *
 * Single-key reads (GET, the read-modify-writes, memcached's one-key commands) go through
 * mget_one: a record in memory (write buffer, record cache) is answered at once through
 * ls_get_now, its bytes borrowed until the engine's next poll; otherwise ls_get_now gives the
 * size of the record the read fetches, counted in the same conn.read_bytes until its callback runs,
 * so the connection stops starting commands while its reads in flight are past their bound (conn.c)
 * and maxmemory_clients sees them. (MGET's keys ask ls_lookup first: a key past the budget is not
 * read yet. Lookup and get run in one turn of the loop on the engine's one thread, so the size
 * looked up is the size of the record the read fetches.)
 *
 * Invariants: next_emit <= next_issue <= n and next_issue - next_emit <= cap (the ring's
 * size: MGET_WINDOW, or n when smaller, so a one-key get allocates one slot);
 * the slots of keys [next_emit, next_issue) are READING or READY, all others FREE;
 * inflight counts the READING ones. The command is freed only with nothing in flight,
 * since the engine's callbacks point at its slots.
 */
#include "mget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmdlock.h"
#include "reply.h"
#include "logstor.h"
#include "server.h"
#include "txn.h"

enum { SLOT_FREE = 0, SLOT_READING = 1, SLOT_READY = 2 };

struct mget;

struct mget_slot {
    struct mget *m;
    uint32_t i; /* key index */
    uint8_t state;
    int rc;
    uint64_t bytes; /* counted in the connection's read_bytes */
    char *copy;     /* the value, when it arrived before its turn */
    struct mget_item it;
};

struct mget {
    struct req *r;
    const struct resp_arg *keys;
    uint32_t n, db;
    uint32_t next_issue, next_emit, inflight;
    uint32_t prefetched; /* keys [0, prefetched) were prefetched (prefetch_next) */
    mget_emit_fn emit;
    mget_done_fn done;
    uint32_t cap; /* slots: MGET_WINDOW, or n when fewer */
    uint8_t pumping, stopped, submitted;
    uint8_t all; /* mget_start_all: every key read, whatever the client does */
    struct mget_slot slots[];
};

/* Whether a value of type vtype (not a string) is handed over: every type is for SORT's
 * lookups (VT_ANY), one for a large collection's pages (zread_start). */
static int type_wanted(const struct mget *m, uint8_t vtype)
{
    return m->r->want_type == VT_ANY || vtype == m->r->want_type;
}

static struct mget_slot *slot_of(struct mget *m, uint32_t i)
{
    return &m->slots[i % m->cap];
}

/* Empties a slot, giving its bytes back to the connection's count. */
static void slot_clear(struct mget *m, struct mget_slot *sl)
{
    conn_read_sub(m->r->c, sl->bytes);
    free(sl->copy);
    memset(sl, 0, sizeof(*sl));
}

/* Whether reading should stop: the reply passed the output limit or the client left. */
static int mget_stopped(struct mget *m)
{
    const struct conn *c = m->r->c;
    if (!m->all && (c->overflow || c->closed))
        m->stopped = 1;
    return m->stopped;
}

/* Whether a read of a record of `bytes` may start now (see the design comment). */
static int mget_may_read(const struct mget *m, uint64_t bytes)
{
    const struct req *r = m->r;
    const struct conn *c = r->c;
    if (m->inflight == 0)
        return 1;
    if (c->mget_reads >= MGET_CONN_READS)
        return 0;
    size_t reply = r == c->head ? c->out.len : r->buf.len;
    return reply + c->read_bytes + bytes <= c->srv->cfg.client_output_buffer_limit;
}

static void mget_cb(void *arg, int rc, const struct ls_item *it);

/* Prefetches the next LS_PREFETCH_MAX keys once the issue reaches them, so that their
 * lookups' cache misses overlap (ls_prefetch_key: a hint, nothing changes). */
static void prefetch_next(struct mget *m)
{
    struct ls_engine *e = m->r->c->srv->eng;
    if (e == NULL || m->next_issue < m->prefetched || m->n - m->next_issue < 2)
        return;
    struct ls_prefetch pf = {.n = 0};
    uint32_t end = m->n - m->next_issue > LS_PREFETCH_MAX ? m->next_issue + LS_PREFETCH_MAX : m->n;
    for (uint32_t i = m->next_issue; i < end; i++)
        ls_prefetch_key(e, m->db, m->keys[i].ptr, m->keys[i].len, &pf);
    ls_prefetch_records(e, &pf);
    m->prefetched = end;
}

/* Starts the read of the next key if the bounds allow. Returns 1 when the key was taken
 * (read started, or answered at once), 0 when it must wait. */
static int mget_issue_one(struct mget *m)
{
    prefetch_next(m);
    const struct resp_arg *k = &m->keys[m->next_issue];
    struct conn *c = m->r->c;
    struct ls_engine *e = c->srv->eng;
    struct ls_meta meta;
    struct ls_item ov;
    int rc = txn_read(m->r, m->db, k, &ov); /* inside EXEC: its own writes first */
    if (rc == 0 && ov.vtype && !type_wanted(m, ov.vtype))
        rc = SRV_EWRONGTYPE; /* multi-key reads are of strings, but SORT's */
    if (rc != 1) {
        struct mget_slot *sl = slot_of(m, m->next_issue);
        *sl = (struct mget_slot){.m = m, .i = m->next_issue, .state = SLOT_READY, .rc = rc};
        if (rc == 0)
            sl->it =
                (struct mget_item){ov.flags, 0, ov.expire_ms, ov.value, ov.value_len, ov.vtype};
        m->next_issue++;
        return 1;
    }
    /* With no read in flight every slot before this one is ready and is emitted in this
     * pump, before the engine's next poll: a record in memory can be lent, not copied; one
     * on the device is read at once (nothing bounds a first read) from the same lookup. */
    if (m->inflight == 0) {
        struct mget_slot *sl = slot_of(m, m->next_issue);
        uint32_t size = 0;
        *sl = (struct mget_slot){.m = m, .i = m->next_issue, .state = SLOT_READY};
        m->next_issue++;
        rc = ls_get_now(e, m->db, k->ptr, k->len, &ov, mget_cb, sl, &size);
        if (rc == 1) {
            sl->state = SLOT_READING;
            sl->bytes = size;
            conn_read_add(c, sl->bytes);
            c->mget_reads++;
            m->inflight++;
            return 1;
        }
        sl->rc = rc == 0 && ov.vtype && !type_wanted(m, ov.vtype) ? SRV_EWRONGTYPE : rc;
        if (sl->rc == 0)
            sl->it = (struct mget_item){ov.flags, ov.cas,       ov.expire_ms,
                                        ov.value, ov.value_len, ov.vtype};
        return 1;
    }
    rc = ls_lookup(e, m->db, k->ptr, k->len, &meta);
    if (rc == 0 && !mget_may_read(m, meta.record_size))
        return 0;
    struct mget_slot *sl = slot_of(m, m->next_issue);
    *sl = (struct mget_slot){.m = m, .i = m->next_issue, .state = SLOT_READY, .rc = rc};
    m->next_issue++;
    if (rc == 0)
        rc = ls_get(e, m->db, k->ptr, k->len, mget_cb, sl);
    if (rc < 0) {
        sl->rc = rc;
        return 1;
    }
    sl->state = SLOT_READING;
    sl->bytes = meta.record_size;
    conn_read_add(c, sl->bytes);
    c->mget_reads++;
    m->inflight++;
    return 1;
}

/* Hands over the results in turn. Returns how many. */
static uint32_t mget_emit_ready(struct mget *m)
{
    uint32_t k = 0;
    while (m->next_emit < m->next_issue) {
        struct mget_slot *sl = slot_of(m, m->next_emit);
        if (sl->state != SLOT_READY)
            break;
        if (!mget_stopped(m))
            m->emit(m->r, sl->i, sl->rc, sl->rc == 0 ? &sl->it : NULL);
        slot_clear(m, sl);
        m->next_emit++;
        k++;
    }
    return k;
}

/* Frees the command (nothing is in flight) and completes it. */
static void mget_finish(struct mget *m)
{
    struct req *r = m->r;
    mget_done_fn done = m->done;
    for (uint32_t i = m->next_emit; i < m->next_issue; i++)
        slot_clear(m, slot_of(m, i)); /* stopped: results not handed over */
    if (!m->submitted)
        cmdlock_reads_submitted(r);
    free(m);
    done(r);
}

/* Emits what is in turn and starts what the bounds allow, until neither moves; ends the
 * command once everything was emitted (or reading stopped) and nothing is in flight. */
static void mget_pump(struct mget *m)
{
    if (m->pumping)
        return;
    m->pumping = 1;
    for (;;) {
        uint32_t moved = mget_emit_ready(m);
        while (!mget_stopped(m) && m->next_issue < m->n && m->next_issue - m->next_emit < m->cap &&
               mget_issue_one(m))
            moved++;
        if (m->inflight == 0 && (m->next_emit == m->n || m->stopped)) {
            mget_finish(m);
            return;
        }
        if (!m->submitted && m->next_issue == m->n) {
            m->submitted = 1;
            cmdlock_reads_submitted(m->r); /* may run other requests */
        }
        if (moved == 0)
            break;
    }
    m->pumping = 0;
}

static void mget_cb(void *arg, int rc, const struct ls_item *it)
{
    struct mget_slot *sl = arg;
    struct mget *m = sl->m;
    struct conn *c = m->r->c;
    m->inflight--;
    c->mget_reads--;
    sl->state = SLOT_READY;
    if (rc == 0 && it->vtype && !type_wanted(m, it->vtype))
        rc = SRV_EWRONGTYPE;
    sl->rc = rc;
    if (rc == 0 && !mget_stopped(m)) {
        sl->it = (struct mget_item){it->flags, it->cas,       it->expire_ms,
                                    it->value, it->value_len, it->vtype};
        if (sl->i == m->next_emit && !m->pumping) {
            m->emit(m->r, sl->i, 0, &sl->it); /* in turn: straight from the engine */
            slot_clear(m, sl);
            m->next_emit++;
        } else if ((sl->copy = malloc(it->value_len ? it->value_len : 1)) == NULL) {
            sl->rc = -ENOMEM;
        } else {
            memcpy(sl->copy, it->value, it->value_len);
            sl->it.val = sl->copy;
            conn_read_sub(c, sl->bytes);
            conn_read_add(c, it->value_len);
            sl->bytes = it->value_len;
        }
    }
    mget_pump(m); /* may free m */
    conn_resume(c);
}

static int start(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
                 mget_emit_fn emit, mget_done_fn done, int all)
{
    uint32_t cap = n < MGET_WINDOW ? (n ? n : 1) : MGET_WINDOW;
    struct mget *m = calloc(1, sizeof(*m) + cap * sizeof(struct mget_slot));
    if (m == NULL)
        return -ENOMEM;
    m->cap = cap;
    m->r = r;
    m->keys = keys;
    m->n = n;
    m->db = db;
    m->emit = emit;
    m->done = done;
    m->all = all;
    mget_pump(m);
    return 0;
}

int mget_start(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
               mget_emit_fn emit, mget_done_fn done)
{
    return start(r, keys, n, db, emit, done, 0);
}

int mget_start_all(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
                   mget_emit_fn emit, mget_done_fn done)
{
    return start(r, keys, n, db, emit, done, 1);
}

/* Whether r takes item it (of its key) as it is: the type it wants. */
static int type_ok(const struct req *r, const struct ls_item *it)
{
    return r->want_type == VT_ANY || it->vtype == r->want_type;
}

/* Engine callback of mget_one: gives the record's bytes back, then runs the handler's. */
static void mget_one_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct conn *c = r->c; /* freed only by the deferred pass, after this callback */
    conn_read_sub(c, r->read_bytes);
    r->read_bytes = 0;
    if (rc == 0 && !type_ok(r, it)) {
        rc = SRV_EWRONGTYPE;
        it = NULL;
    }
    r->read_cb(r, rc, it);
    conn_resume(c);
}

void mget_one(struct req *r, uint32_t db, const struct resp_arg *key, ls_get_cb cb)
{
    struct conn *c = r->c;
    struct ls_engine *e = c->srv->eng;
    struct ls_item ov;
    int rc = txn_read(r, db, key, &ov); /* inside EXEC: its own writes first */
    if (rc == 0 && !type_ok(r, &ov))
        rc = SRV_EWRONGTYPE;
    if (rc != 1) {
        cb(r, rc, rc == 0 ? &ov : NULL);
        return;
    }
    uint32_t size = 0;
    r->read_cb = cb; /* the engine calls back only from ls_poll, never inside the call */
    rc = ls_get_now(e, db, key->ptr, key->len, &ov, mget_one_cb, r, &size);
    if (rc == 0 && !type_ok(r, &ov))
        rc = SRV_EWRONGTYPE;
    if (rc != 1) { /* from memory (answered now), or refused */
        cb(r, rc, rc == 0 ? &ov : NULL);
        return;
    }
    r->read_bytes = size;
    conn_read_add(c, size);
    cmdlock_reads_submitted(r); /* may run other requests */
}
