/*
 * check.c - the engine's own consistency check across its structures (tests and the
 * simulator call it; it is O(keys + segments) and allocates one array).
 *
 * What must hold between two engine calls:
 * 1. Each B-tree is sound (idx_check, which includes its expiry counters: the entries
 *    with an expiry and the sum of their expiries, behind INFO keyspace) and the segment
 *    manager is (seg_check).
 * 2. Every index entry points into a segment in use (open, full or a victim being
 *    copied), never into a free segment or the middle of a large run.
 * 3. A segment's live bytes are exactly the sizes of the index entries that point into
 *    it, and the engine's live_bytes their sum: compaction frees on these counts.
 * 4. The record cache holds no stale bytes under a current (address, use) key.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct live_sum {
    const struct ls_engine *e;
    uint64_t *live;
    uint64_t total;
    uint64_t bad_loc;
    uint32_t bad_seg;
};

static int sum_visit(void *arg, const struct idx_ent *ent)
{
    struct live_sum *s = arg;
    const struct seg_mgr *m = &s->e->sm;
    uint64_t addr = idx_loc_addr(ent->loc);
    uint32_t g = seg_of(m, addr);

    if (g >= m->nsegs || m->d[g].state == SEG_FREE || m->d[g].state == SEG_CONT) {
        if (!s->bad_loc) {
            s->bad_loc = ent->loc;
            s->bad_seg = g;
        }
        return 0;
    }
    s->live[g] += idx_loc_size(ent->loc);
    s->total += idx_loc_size(ent->loc);
    return 0;
}

static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (why && len) {
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

struct cache_check {
    const struct ls_engine *e;
    uint64_t bad_addr;
    int bad;
};

/* 4. A cache entry of a segment's current use holds that use's bytes (entries of
 *    earlier uses never match a lookup again; rcache.h). */
static void cache_visit(void *arg, uint64_t addr, uint64_t seq, const uint8_t *rec, uint32_t size)
{
    struct cache_check *cc = arg;
    const struct seg_mgr *m = &cc->e->sm;
    uint32_t g = seg_of(m, addr);
    struct rec_view v;

    if (cc->bad || g >= m->nsegs || m->d[g].seq != seq || m->d[g].state == SEG_FREE)
        return;
    if (rec_decode(rec, size, rec_seed(cc->e->seed, seq), &v) != 0) {
        cc->bad = 1;
        cc->bad_addr = addr;
    }
}

int eng_check(const struct ls_engine *e, char *why, size_t len)
{
    const struct seg_mgr *m = &e->sm;
    struct live_sum s = {.e = e};
    int rc;

    if ((rc = seg_check(m)) != 0)
        return fail(why, len, "seg_check: %d", rc);
    for (uint32_t t = 0; t < e->cfg.tables; t++)
        if ((rc = idx_check(e->tables[t])) != 0)
            return fail(why, len, "idx_check of table %u: %d", t, rc);
    if (!(s.live = calloc(m->nsegs ? m->nsegs : 1, sizeof(*s.live))))
        return fail(why, len, "out of memory");
    for (uint32_t t = 0; t < e->cfg.tables; t++)
        idx_scan(e->tables[t], 0, SIZE_MAX, sum_visit, &s, NULL, NULL);
    rc = 0;
    if (s.bad_loc)
        rc = fail(why, len, "an index entry points into segment %u, state %u", s.bad_seg,
                  s.bad_seg < m->nsegs ? m->d[s.bad_seg].state : 255);
    for (uint32_t g = 0; g < m->nsegs && rc == 0; g++)
        if (s.live[g] != m->d[g].live)
            rc = fail(why, len, "segment %u (state %u): live %u, index holds %llu", g,
                      m->d[g].state, m->d[g].live, (unsigned long long)s.live[g]);
    struct cache_check cc = {.e = e};
    rcache_visit(e->cache, cache_visit, &cc);
    if (rc == 0 && cc.bad)
        rc = fail(why, len,
                  "the record cache holds bytes at address %llu (segment %u) that "
                  "do not decode as its current use",
                  (unsigned long long)cc.bad_addr, seg_of(m, cc.bad_addr));
    if (rc == 0 && s.total != e->st.live_bytes)
        rc = fail(why, len, "live_bytes %llu, index holds %llu",
                  (unsigned long long)e->st.live_bytes, (unsigned long long)s.total);
    free(s.live);
    return rc;
}
