/*
 * ckpt.c - the shutdown checkpoint (logstor.ckpt): a clean restart without a scan.
 *
 * Recovery reads every byte of every used segment (recov.c); at 10 M keys that is
 * seconds, and it grows with the data, values included. A clean shutdown knows the whole
 * state: ls_close, once every write is on disk and none failed, writes the index of
 * every table, the segment descriptors and the counters (rseq, segment sequence, FLUSH
 * rseqs, free clock) to logstor.ckpt (temporary file, fsync, rename, fsync of the
 * directory; checksummed with the directory's seed). The next open reads block 0 of
 * every segment as always (phase 1), and when the checkpoint is whole and agrees with
 * what phase 1 found, takes the index and the descriptors from it instead of reading the
 * segments (phase 2). Either way the open deletes the file (durably) before it returns,
 * so the engine never writes while a checkpoint is on disk: a checkpoint describes the
 * directory exactly as it is, or it is gone. A crash, a failed write or a failed
 * checkpoint leaves no file, and the next open scans the log as before.
 *
 * Agreement with phase 1 (else the checkpoint is ignored, the log says why, and the
 * full scan runs): the same segment geometry and tables; no segment with a use newer
 * than the checkpoint's last sequence number; every segment the checkpoint holds as
 * used (or as the continuation of a large run) holds that same use on disk. Free
 * segments may show an old use (its records are superseded, the checkpoint's
 * descriptor says so and keeps its place in the reuse order) or none.
 *
 * Why this never brings a deleted key back nor loses one: the file is written only
 * after the last write was acknowledged (the engine is closing: nothing changes after),
 * and deleted at the next open before the engine accepts a write. So when it is read,
 * the data files are those it described, unless someone changed them in between (a
 * restored backup, a copied file, damage): phase 1's comparison catches changed uses,
 * the checksum catches a damaged or foreign checkpoint.
 *
 * Layout (little-endian), FORMAT.md "Shutdown checkpoint":
 *   header (CKPT_HDR bytes): magic "LSCKPT01", version, tables, segment size, segment
 *     count, the number of descriptors stored, total length, last segment sequence,
 *     last rseq, free clock, expiry clock, time written;
 *   tables x 8: the rseq of each table's latest FLUSH;
 *   descriptors: (segment number, descriptor) for every segment with a state, a use or
 *     a place in the reuse order, CKPT_DESC bytes each;
 *   per table: entry count (8), then its entries in index order, 24 bytes each (token,
 *     loc, meta: the index entry as it is in memory);
 *   xxh3-64 of everything before, seeded with the directory's seed (8).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "internal.h"
#include "vfs.h"

#define CKPT_NAME    "logstor.ckpt"
#define CKPT_MAGIC   UINT64_C(0x31305450434b534c) /* "LSCKPT01" */
#define CKPT_VERSION 1u
#define CKPT_HDR     80u
#define CKPT_DESC    72u

struct ckpt_hdr {
    uint64_t magic;
    uint32_t version, tables;
    uint32_t seg_size, nsegs;
    uint64_t ndesc;
    uint64_t length;
    uint64_t seq, rseq;
    uint64_t free_clock;
    uint64_t expiry_seen_ms;
    uint64_t written_ms;
};
_Static_assert(sizeof(struct ckpt_hdr) == CKPT_HDR, "checkpoint header");

/* A descriptor as stored: what recovery would rebuild from the segment's records, plus
 * its place in the reuse order (freed_at, stale_min). */
struct ckpt_desc {
    uint32_t g;
    uint32_t live, put_bytes, tomb, group;
    uint16_t run;
    uint8_t state, flags;
    uint64_t seq, min_rseq, max_rseq, max_hider, stale_min, freed_at;
};
_Static_assert(sizeof(struct ckpt_desc) == CKPT_DESC, "checkpoint descriptor");

/* Flags that describe the segment's contents; the others are transient. */
#define CKPT_SEGF (SEGF_EXPIRING | SEGF_STUCK | SEGF_HOT)

static int desc_stored(const struct seg_desc *d)
{
    return d->state != SEG_FREE || d->seq || d->freed_at || d->stale_min != UINT64_MAX;
}

static uint8_t state_stored(uint8_t s)
{
    /* at close every open segment is written (the next writer starts a fresh one) and a
     * victim of a round not finished stays as it is on disk, used */
    return s == SEG_OPEN || s == SEG_VICTIM ? SEG_FULL : s;
}

struct fill {
    uint8_t *p;
};

static int put_ent(void *arg, const struct idx_ent *ent)
{
    struct fill *f = arg;

    memcpy(f->p, ent, sizeof(*ent));
    f->p += sizeof(*ent);
    return 0;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ckpt_write(struct ls_engine *e)
{
    struct seg_mgr *m = &e->sm;
    uint32_t nt = e->cfg.tables;
    uint64_t ndesc = 0, nent = 0;
    size_t len;
    uint8_t *buf;
    int rc;

    for (uint32_t g = 0; g < m->nsegs; g++)
        ndesc += (uint64_t)desc_stored(&m->d[g]);
    for (uint32_t t = 0; t < nt; t++)
        nent += idx_count(e->tables[t]);
    len = CKPT_HDR + (size_t)nt * 8 + (size_t)ndesc * CKPT_DESC + (size_t)nt * 8 +
          (size_t)nent * sizeof(struct idx_ent) + 8;
    buf = malloc(len);
    if (!buf) {
        eng_log(e, LS_LOG_WARN,
                "no memory for the shutdown checkpoint (%zu bytes): the next open scans the log",
                len);
        return -ENOMEM;
    }
    struct ckpt_hdr h = {.magic = CKPT_MAGIC,
                         .version = CKPT_VERSION,
                         .tables = nt,
                         .seg_size = m->seg_size,
                         .nsegs = m->nsegs,
                         .ndesc = ndesc,
                         .length = len,
                         .seq = e->seq,
                         .rseq = e->rseq,
                         .free_clock = m->free_clock,
                         .expiry_seen_ms = e->expiry_seen_ms,
                         .written_ms = wall_ms()};
    uint8_t *p = buf;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    memcpy(p, e->flush_rseq, (size_t)nt * 8);
    p += (size_t)nt * 8;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        if (!desc_stored(d))
            continue;
        struct ckpt_desc cd = {.g = g,
                               .live = d->live,
                               .put_bytes = d->put_bytes,
                               .tomb = d->tomb,
                               .group = d->group,
                               .run = d->run,
                               .state = state_stored(d->state),
                               .flags = d->flags & CKPT_SEGF,
                               .seq = d->seq,
                               .min_rseq = d->min_rseq,
                               .max_rseq = d->max_rseq,
                               .max_hider = d->max_hider,
                               .stale_min = d->stale_min,
                               .freed_at = d->freed_at};
        memcpy(p, &cd, sizeof(cd));
        p += sizeof(cd);
    }
    for (uint32_t t = 0; t < nt; t++) {
        uint64_t n = idx_count(e->tables[t]);
        struct fill f = {p + 8};
        memcpy(p, &n, 8);
        idx_scan(e->tables[t], 0, SIZE_MAX, put_ent, &f, NULL, NULL);
        p = f.p;
    }
    uint64_t sum = XXH3_64bits_withSeed(buf, (size_t)(p - buf), e->seed);
    memcpy(p, &sum, 8);
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, CKPT_NAME, buf, len);
    free(buf);
    if (rc < 0)
        eng_log(e, LS_LOG_WARN, "%s/%s could not be written (%s): the next open scans the log",
                e->dir, CKPT_NAME, strerror(-rc));
    return rc;
}

/* Why the checkpoint cannot be used, for the log; NULL when it can. */
static const char *agree(const struct ls_engine *e, const struct ckpt_hdr *h,
                         const struct ckpt_desc *cd, uint64_t ndesc)
{
    const struct seg_mgr *m = &e->sm;
    uint64_t k = 0;

    if (h->tables != e->cfg.tables || h->seg_size != m->seg_size || h->nsegs != m->nsegs)
        return "it was written with another disk_size, segment_size or tables";
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        struct ckpt_desc c = {.g = g, .state = SEG_FREE};
        if (k < ndesc && cd[k].g == g)
            memcpy(&c, &cd[k++], sizeof(c));
        if (d->state != SEG_FREE && d->seq > h->seq)
            return "segments were written after it";
        if (c.state == SEG_FREE)
            continue;
        if (c.state != SEG_FULL && c.state != SEG_CONT)
            return "it holds a segment in an unknown state";
        if (d->state != c.state || d->seq != c.seq)
            return "a segment it lists as used holds another use on disk";
    }
    return k == ndesc ? NULL : "its descriptors are out of order";
}

struct ckpt_view {
    uint8_t *buf;
    size_t len;
    struct ckpt_hdr h;
    const uint64_t *flush_rseq;
    struct ckpt_desc *cd;
    uint8_t *ents; /* the first table's count */
};

/* Reads and checks the file: 1 (v filled), 0 (absent), LS_ECORRUPT (unusable, *why
 * says why), or -errno. */
static int ckpt_read(struct ls_engine *e, struct ckpt_view *v, const char **why)
{
    int64_t got = vfs_read_file(e->cfg.sim, e->dir_fd, CKPT_NAME, &v->h, sizeof(v->h));

    if (got == -ENOENT)
        return 0;
    if (got < 0)
        return (int)got;
    *why = "it is damaged or not this directory's";
    if (got != CKPT_HDR || v->h.magic != CKPT_MAGIC || v->h.version != CKPT_VERSION ||
        v->h.tables != e->cfg.tables || v->h.nsegs != e->sm.nsegs || v->h.ndesc > v->h.nsegs ||
        v->h.length < CKPT_HDR + 8)
        return LS_ECORRUPT;
    uint64_t fixed = CKPT_HDR + (uint64_t)v->h.tables * 16 + v->h.ndesc * CKPT_DESC + 8;
    if (v->h.length < fixed || (v->h.length - fixed) % sizeof(struct idx_ent))
        return LS_ECORRUPT;
    v->len = v->h.length;
    if (!(v->buf = malloc(v->len)))
        return -ENOMEM;
    got = vfs_read_file(e->cfg.sim, e->dir_fd, CKPT_NAME, v->buf, v->len);
    if (got < 0)
        return (int)got;
    uint64_t sum;
    memcpy(&sum, v->buf + v->len - 8, 8);
    if ((uint64_t)got != v->len || XXH3_64bits_withSeed(v->buf, v->len - 8, e->seed) != sum)
        return LS_ECORRUPT;
    v->flush_rseq = (const uint64_t *)(v->buf + CKPT_HDR);
    v->cd = (struct ckpt_desc *)(v->buf + CKPT_HDR + (size_t)v->h.tables * 8);
    v->ents = (uint8_t *)(v->cd + v->h.ndesc);
    /* the entry counts must add up to the length */
    const uint8_t *p = v->ents, *end = v->buf + v->len - 8;
    for (uint32_t t = 0; t < v->h.tables; t++) {
        uint64_t n;
        if (end - p < 8)
            return LS_ECORRUPT;
        memcpy(&n, p, 8);
        if (n > (uint64_t)(end - p - 8) / sizeof(struct idx_ent))
            return LS_ECORRUPT;
        /* in index order, or nothing of it is applied */
        const struct idx_ent *x = (const struct idx_ent *)(const void *)(p + 8);
        for (uint64_t i = 1; i < n; i++)
            if (x[i].token < x[i - 1].token ||
                (x[i].token == x[i - 1].token &&
                 idx_meta_hash2(x[i].meta) <= idx_meta_hash2(x[i - 1].meta)))
                return LS_ECORRUPT;
        p += 8 + n * sizeof(struct idx_ent);
    }
    if (p != end)
        return LS_ECORRUPT;
    for (uint64_t i = 1; i < v->h.ndesc; i++)
        if (v->cd[i].g <= v->cd[i - 1].g)
            return LS_ECORRUPT;
    if (v->h.ndesc && v->cd[v->h.ndesc - 1].g >= v->h.nsegs)
        return LS_ECORRUPT;
    return 1;
}

/* Takes the descriptors and the index from the checkpoint. Returns 0 or -errno (the
 * open fails: a table half loaded cannot be completed by a scan). */
static int ckpt_apply(struct ls_engine *e, const struct ckpt_view *v, uint64_t now,
                      uint64_t *records)
{
    struct seg_mgr *m = &e->sm;
    uint64_t k = 0;

    for (uint32_t g = 0; g < m->nsegs; g++) {
        struct seg_desc *d = &m->d[g];
        if (k < v->h.ndesc && v->cd[k].g == g) {
            const struct ckpt_desc *c = &v->cd[k++];
            seg_use(m, g, c->seq, c->state, c->group);
            d->live = c->live;
            d->put_bytes = c->put_bytes;
            d->tomb = c->tomb;
            d->run = c->run ? c->run : 1;
            d->flags = c->flags & CKPT_SEGF;
            d->min_rseq = c->min_rseq;
            d->max_rseq = c->max_rseq;
            d->max_hider = c->max_hider;
            d->stale_min = c->stale_min;
            d->freed_at = c->freed_at;
        } else {
            /* free, blank or never used: as phase 1 found it when it found it free */
            seg_use(m, g, 0, SEG_FREE, 0);
            d->stale_min = UINT64_MAX;
            d->freed_at = 0;
        }
    }
    e->st.live_bytes = 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        e->st.live_bytes += m->d[g].live;
    m->free_clock = v->h.free_clock;
    memcpy(e->flush_rseq, v->flush_rseq, (size_t)v->h.tables * 8);
    uint8_t *p = v->ents;
    for (uint32_t t = 0; t < v->h.tables; t++) {
        uint64_t n, kept = 0;
        memcpy(&n, p, 8);
        p += 8;
        /* the entries are 8-aligned in the buffer (header, counts and descriptors are
         * multiples of 8): kept in place, the expired ones squeezed out */
        struct idx_ent *ents = (struct idx_ent *)(void *)p;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t x = idx_meta_expire(ents[i].meta);
            if (x && x <= now) /* expired meanwhile: left out, as recovery does */
                eng_unlive(e, ents[i].loc);
            else
                ents[kept++] = ents[i];
        }
        int rc = idx_load(e->tables[t], ents, kept);
        if (rc < 0)
            return rc == -EINVAL ? LS_ECORRUPT : rc;
        *records += kept;
        p += n * sizeof(struct idx_ent);
    }
    for (uint32_t g = 0; g < m->nsegs; g++)
        seg_hist_update(m, g);
    return 0;
}

int ckpt_load(struct ls_engine *e, uint64_t now, uint64_t *records)
{
    struct ckpt_view v = {0};
    const char *why = NULL;
    int rc = ckpt_read(e, &v, &why);
    int present = rc != 0;

    if (rc == 1 && (why = agree(e, &v.h, v.cd, v.h.ndesc)) != NULL)
        rc = LS_ECORRUPT;
    if (rc == 1) {
        rc = ckpt_apply(e, &v, now, records);
        if (rc == 0) {
            if (v.h.seq > e->seq)
                e->seq = v.h.seq;
            e->rseq = v.h.rseq;
            if (v.h.expiry_seen_ms > e->expiry_seen_ms)
                e->expiry_seen_ms = v.h.expiry_seen_ms;
            rc = 1;
        }
    } else if (rc == LS_ECORRUPT) {
        eng_log(e, LS_LOG_WARN, "%s/%s is not used (%s): scanning the log", e->dir, CKPT_NAME, why);
        rc = 0;
    }
    free(v.buf);
    if (rc >= 0 && present && !e->cfg.read_only) {
        /* gone before the first write, so that it never describes a directory that has
         * changed since (a later open would take it for the truth) */
        int u = vfs_unlink(e->cfg.sim, e->dir_fd, CKPT_NAME);
        if (u == 0)
            u = vfs_sync_dir(e->cfg.sim, e->dir_fd);
        if (u < 0 && u != -ENOENT) {
            eng_log(e, LS_LOG_ERROR, "%s/%s could not be deleted: %s", e->dir, CKPT_NAME,
                    strerror(-u));
            return u;
        }
    }
    return rc;
}
