/*
 * reaper.c - reclaiming the pages of large lists no root names (reaper.h).
 *
 * One pass is a chain of engine calls, one at a time: scan a run of anchor keys, read an
 * anchor, read its key in each database, and for a dead version delete its pages in
 * batches (paced: at most REAPER_RECORDS_PER_TICK tombstones per tick), then the anchor. Nothing
 * here can make a live list lose a page: a page is deleted only when no database's root
 * names its version after a check no root move interrupted, and a version being written
 * is never checked.
 */
#include "reaper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "large.h"
#include "log.h"
#include "plist.h"
#include "server.h"

#define SCAN_COUNT 64

enum phase {
    PH_IDLE,    /* no pass */
    PH_SCAN,    /* a scan of anchor keys is due */
    PH_ANCHOR,  /* the next anchor of the run is due */
    PH_CHECK,   /* the anchor's key in the next database is due */
    PH_DELETE,  /* the next batch of the dead version's pages is due */
    PH_UNANCHOR /* the dead version's anchor delete is due */
};

struct reaper {
    struct server *s;
    enum phase ph;
    int busy;             /* an engine call's callback is due */
    int want;             /* a pass was asked for */
    uint64_t last_end_ms; /* when the last pass ended (mono) */
    uint64_t cursor;      /* the anchor scan's next cursor (0 after the last run) */
    int scan_done;        /* the scan's last run is in keys */
    uint64_t *keys;       /* versions of the run of anchors scanned */
    uint32_t nkeys, at;
    /* the anchor being checked */
    uint64_t version, lo, hi, page;
    uint8_t *akey; /* its user key */
    size_t aklen;
    uint32_t db;
    uint64_t moves0;
    uint32_t recs; /* tombstones submitted (or page numbers looked up in vain) this tick */
    /* the batch being filled: the dead versions' page tombstones and, after a version's
     * last, its anchor's (several small versions share one batch; a version's anchor goes
     * in the batch of its last pages or after it) */
    struct ls_batch_op pend[REAPER_BATCH];
    uint8_t pkeys[REAPER_BATCH][PLIST_PAGE_KEY_LEN];
    uint32_t npend, pend_pages, pend_versions;
    struct reaper_stats st;
};

static void step(struct reaper *rp);

int reaper_new(struct server *s)
{
    s->reaper = calloc(1, sizeof(*s->reaper));
    if (s->reaper == NULL)
        return -1;
    s->reaper->s = s;
    s->reaper->want = 1; /* start-up: roots may have died while the server was down */
    return 0;
}

void reaper_free(struct server *s)
{
    struct reaper *rp = s->reaper;
    if (rp == NULL)
        return;
    free(rp->keys);
    free(rp->akey);
    free(rp);
    s->reaper = NULL;
}

void reaper_wake(struct server *s)
{
    if (s->reaper)
        s->reaper->want = 1;
}

void reaper_stats(const struct server *s, struct reaper_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (s->reaper) {
        *out = s->reaper->st;
        out->running = s->reaper->ph != PH_IDLE;
    }
}

static int stopping(const struct reaper *rp)
{
    return rp->s->eng == NULL || rp->s->shutdown_asked;
}

static int being_written(const struct server *s, uint64_t v)
{
    for (uint32_t i = 0; i < s->large_writing_n; i++)
        if (s->large_writing[i] == v)
            return 1;
    return 0;
}

static void pass_end(struct reaper *rp)
{
    rp->npend = rp->pend_pages = rp->pend_versions = 0; /* the next pass finds them again */
    rp->ph = PH_IDLE;
    rp->last_end_ms = server_mono_ms();
    rp->st.passes++;
}

/* ---- scanning anchors ---- */

static void scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct reaper *rp = arg;
    rp->busy = 0;
    if (rc != 0) {
        pass_end(rp); /* the next pass tries again */
        return;
    }
    uint64_t *v = n ? realloc(rp->keys, n * sizeof(*v)) : rp->keys;
    if (n && v == NULL) {
        pass_end(rp);
        return;
    }
    rp->keys = v;
    rp->nkeys = 0;
    for (uint32_t i = 0; i < n; i++)
        if (plist_anchor_key_decode(keys[i].key, keys[i].key_len, &v[rp->nkeys]) == 0)
            rp->nkeys++;
    rp->at = 0;
    rp->cursor = next;
    rp->scan_done = next == 0;
    rp->ph = PH_ANCHOR;
    step(rp);
}

/* ---- one anchor ---- */

static void next_anchor(struct reaper *rp)
{
    rp->at++;
    rp->ph = PH_ANCHOR;
}

static void anchor_cb(void *arg, int rc, const struct ls_item *it)
{
    struct reaper *rp = arg;
    struct plist_anchor a;
    rp->busy = 0;
    if (rc != 0 || plist_anchor_decode(it->value, it->value_len, &a) < 0) {
        if (rc == 0)
            log_warning("reaper: anchor of version %llu does not decode: left as it is",
                        (unsigned long long)rp->version);
        next_anchor(rp); /* gone meanwhile (reaped, flushed), or damaged: left alone */
        step(rp);
        return;
    }
    uint8_t *k = malloc(a.key_len ? a.key_len : 1);
    if (k == NULL) {
        next_anchor(rp);
        step(rp);
        return;
    }
    memcpy(k, a.key, a.key_len);
    free(rp->akey);
    rp->akey = k;
    rp->aklen = a.key_len;
    rp->lo = a.lo;
    rp->hi = a.hi;
    rp->db = 0;
    rp->ph = PH_CHECK;
    step(rp);
}

static void dead(struct reaper *rp)
{
    if (rp->s->root_moves != rp->moves0 || being_written(rp->s, rp->version)) {
        next_anchor(rp); /* a root moved while we looked: the next pass looks again */
        return;
    }
    rp->page = rp->lo;
    rp->ph = PH_DELETE;
    log_debug("reaper: version %llu (last under '%.*s') is dead: deleting its pages",
              (unsigned long long)rp->version, (int)(rp->aklen > 64 ? 64 : rp->aklen), rp->akey);
}

static void root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct reaper *rp = arg;
    struct plist_root root;
    rp->busy = 0;
    if (rc == 0 && large_is_root(it->vtype, it->value, it->value_len) &&
        plist_root_decode(it->value, it->value_len, &root) == 0 && root.version == rp->version) {
        next_anchor(rp); /* alive */
    } else if (rc != 0 && rc != LS_ENOTFOUND) {
        next_anchor(rp); /* a read failed: not known to be dead */
    } else if (++rp->db == rp->s->cfg.databases) {
        dead(rp);
    }
    step(rp);
}

static void delete_cb(void *arg, int rc, uint64_t cas)
{
    struct reaper *rp = arg;
    (void)cas;
    rp->busy = 0;
    if (rc != 0) {
        log_warning("reaper: deleting dead versions' pages failed: %s", ls_strerror(rc));
        pass_end(rp);
        return;
    }
    step(rp);
}

/* Submits the batch being filled. 1: submitted (busy: its callback goes on); 0: it was
 * empty; -1: wait for a tick (the tick's budget is spent, or the write buffers are full:
 * kept) or the pass ended (an error). */
static int flush_pend(struct reaper *rp)
{
    if (rp->npend == 0)
        return 0;
    if (rp->recs >= REAPER_RECORDS_PER_TICK)
        return -1; /* paced: the next tick goes on */
    int rc = ls_write_batch(rp->s->eng, rp->pend, rp->npend, delete_cb, rp);
    if (rc == LS_EBUSY)
        return -1;
    if (rc != 0) {
        log_warning("reaper: cannot delete dead versions' pages: %s", ls_strerror(rc));
        pass_end(rp);
        return -1;
    }
    rp->st.pages += rp->pend_pages;
    rp->st.versions += rp->pend_versions;
    rp->recs += rp->npend;
    rp->npend = rp->pend_pages = rp->pend_versions = 0;
    rp->busy = 1;
    return 1;
}

/* A tombstone into the batch being filled (room checked by the caller). */
static void pend_del(struct reaper *rp, uint32_t table, const uint8_t *key, size_t len)
{
    uint8_t *k = rp->pkeys[rp->npend];
    memcpy(k, key, len);
    /* ordered: in periodic mode the root that killed the version may still be in flight
     * (its read was served from memory); a crash must not keep these and lose it */
    rp->pend[rp->npend++] = (struct ls_batch_op){
        .del = 1, .table = table, .key = k, .key_len = (uint32_t)len, .opts = {.ordered = 1}};
}

/* Adds the dead version's next pages that exist to the batch being filled. Returns 1 when
 * the batch is full (flush it), 2 when REAPER_LOOKUPS page numbers were all absent (go on:
 * counted against the tick's budget), 0 when the range is done. */
static int delete_some(struct reaper *rp)
{
    struct server *s = rp->s;
    uint32_t pt = large_page_table(s), looked = 0;
    while (rp->npend < REAPER_BATCH && looked++ < REAPER_LOOKUPS && rp->page <= rp->hi &&
           rp->page >= rp->lo) {
        struct ls_meta m;
        uint8_t key[PLIST_PAGE_KEY_LEN];
        plist_page_key(rp->version, rp->page, key);
        rp->page++;
        if (ls_lookup(s->eng, pt, key, sizeof(key), &m) == 0) {
            pend_del(rp, pt, key, sizeof(key));
            rp->pend_pages++;
        }
        if (rp->page == 0)
            return 0; /* hi was UINT64_MAX */
    }
    if (rp->npend == REAPER_BATCH)
        return 1;
    if (rp->page <= rp->hi && looked > REAPER_LOOKUPS) {
        rp->recs += REAPER_BATCH; /* a run of absent pages: paced like a batch */
        return 2;
    }
    return 0;
}

/* Runs the pass until an engine call is out, the tick's budget is spent, or it ends. */
static void step(struct reaper *rp)
{
    struct server *s = rp->s;
    while (!rp->busy && rp->ph != PH_IDLE) {
        if (stopping(rp)) {
            rp->ph = PH_IDLE;
            return;
        }
        int rc;
        switch (rp->ph) {
        case PH_IDLE:
            return;
        case PH_SCAN:
            rp->busy = 1;
            rc = ls_scan(s->eng, large_anchor_table(s), rp->cursor, SCAN_COUNT, scan_cb, rp);
            if (rc != 0) {
                rp->busy = 0;
                pass_end(rp);
            }
            return;
        case PH_ANCHOR:
            if (rp->at == rp->nkeys) {
                if (rp->npend) { /* the run's tombstones before the next scan or the end */
                    if (flush_pend(rp) != 1)
                        return;
                    continue;
                }
                if (rp->scan_done)
                    pass_end(rp);
                else
                    rp->ph = PH_SCAN;
                continue;
            }
            rp->version = rp->keys[rp->at];
            if (being_written(s, rp->version)) {
                rp->at++;
                continue;
            }
            {
                uint8_t ak[PLIST_ANCHOR_KEY_LEN];
                plist_anchor_key(rp->version, ak);
                rp->busy = 1;
                /* before the read: the engine resolves it now, so a RENAME after this
                 * point must make the check start over */
                rp->moves0 = s->root_moves;
                rc = ls_get(s->eng, large_anchor_table(s), ak, sizeof(ak), anchor_cb, rp);
                rp->st.gets += rc == 0; /* as the engine's gets count it */
            }
            if (rc != 0) {
                rp->busy = 0;
                rp->at++;
            }
            continue;
        case PH_CHECK:
            rp->busy = 1;
            rc = ls_get(s->eng, rp->db, rp->akey, rp->aklen, root_cb, rp);
            rp->st.gets += rc == 0;
            if (rc == LS_ENOTFOUND) {
                rp->busy = 0;
                if (++rp->db == s->cfg.databases)
                    dead(rp);
            } else if (rc != 0) {
                rp->busy = 0;
                next_anchor(rp);
            }
            continue;
        case PH_DELETE:
            if (rp->recs >= REAPER_RECORDS_PER_TICK)
                return; /* paced: the next tick goes on */
            rc = delete_some(rp);
            if (rc == 1) { /* full */
                if (flush_pend(rp) != 1)
                    return;
            } else if (rc == 0) {
                rp->ph = PH_UNANCHOR;
            }
            continue;
        case PH_UNANCHOR: {
            if (rp->npend == REAPER_BATCH) {
                if (flush_pend(rp) != 1)
                    return;
                continue;
            }
            uint8_t ak[PLIST_ANCHOR_KEY_LEN];
            plist_anchor_key(rp->version, ak);
            pend_del(rp, large_anchor_table(s), ak, sizeof(ak));
            rp->pend_versions++;
            next_anchor(rp);
            continue;
        }
        }
    }
}

void reaper_tick(struct server *s)
{
    struct reaper *rp = s->reaper;
    if (rp == NULL || s->eng == NULL || stopping(rp))
        return;
    rp->recs = 0;
    if (rp->ph != PH_IDLE) {
        step(rp);
        return;
    }
    uint64_t now = server_mono_ms();
    int due = rp->want ? now - rp->last_end_ms >= REAPER_MIN_GAP_MS
                       : now - rp->last_end_ms >= REAPER_INTERVAL_MS;
    if (!due || ls_count(s->eng, large_anchor_table(s)) == 0) {
        if (due)
            rp->want = 0;
        return;
    }
    rp->want = 0;
    rp->cursor = 0;
    rp->nkeys = rp->at = 0;
    rp->scan_done = 0;
    rp->ph = PH_SCAN;
    step(rp);
}
