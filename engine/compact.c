/*
 * compact.c - space reclamation: histogram-driven compaction with separation by
 * compaction group.
 *
 * Streams. User writes from every table land together in "mixed" segments (the user
 * stream, wbuf.c). Each table is split by token range (hash slot) into
 * compaction_groups groups; each group has two streams written only by compaction:
 * one for records copied out of mixed segments (first survivors), one for records
 * copied out of group segments (older survivors), so records that outlive a second
 * compaction, the cold ones, gather apart from the lukewarm ones. When free segments
 * are too few for one open segment per stream, a round copies into a single "spill"
 * stream instead (two under cost-benefit: records older than half as many writes as
 * there are keys apart), so compaction can always make progress.
 *
 * Cold writes. Under cost-benefit a PUT whose key's previous record sits in a segment
 * older than twice the age of the mixed segments compaction has been taking (that
 * record outlived a mixed segment) is predicted cold and goes to a second user stream,
 * ucold, so it does not have to be copied out of a mixed segment later. Skewed 80%
 * (90% of writes to 10% of keys): WA 1.82 -> 1.67; the mixed victims are taken at
 * u ~0.15 and nearly all the remaining copying is cold segments taken at u ~0.8 (the
 * cold set is a uniform load of its own). Greedy gains nothing from it (it does not
 * wait for segments to empty by age), so it keeps one user stream. Compacting a segment copies its
 * live records into the streams of their groups, so the separator is compaction itself: a user
 * record is written once when it arrives, and a second time only if it is still live when its mixed
 * segment is compacted. ScyllaDB's separator writes every record twice (once mixed, once into its
 * group's buffer); here a record that dies in its mixed segment (the common case for hot keys) is
 * never written again, and what is copied out of mixed segments is what lived long enough to be
 * cold: group segments collect old data, mixed segments young data, a generational split that
 * lowers write amplification under skew (bench_compact). A group segment holds one table's token
 * range, so FLUSHDB frees it without reading it.
 *
 * Rounds. Compaction starts when free segments fall below the low watermark and runs
 * rounds until they reach the high one. A round picks victims from the histogram of
 * closed segments by free space (seg.c): greedy takes the emptiest, cost-benefit the
 * highest (1-u)*age/(1+u) (u counts live and tombstone bytes; age is the number of
 * segments opened since this one was, i.e. the time since it was written). Sprite LFS
 * took the age of the youngest data instead; here that is the largest rseq, and copies
 * keep their rseq, so a segment of old survivors that holds one young record looked
 * young and was left at high utilization while young mixed segments were cleaned early:
 * with the segment's own age skewed 80% went from WA 2.18 to 1.83 (bench_compact). The
 * age of a segment not written by the user stream (group, cold user) stops counting past
 * 3/4 of the mean age of those segments: their data dies slowly and evenly, like a
 * uniform load, where the emptiest victim is the best one, and an unbounded age made
 * old segments go before emptier ones (skewed 80%, 256 MiB: 1.68 -> 1.60; a cap at the
 * mean 1.61, at half of it 1.63, at 1.5x 1.64; age^1.5 instead 1.85). Both
 * keep only the prefix that yields a net gain of free segments (ScyllaDB's rule). Victims are read
 * (CP_READS at a time, stopped while separator buffers hold more than separator_memory:
 * backpressure on compaction, never on users), their records walked, and each live record, one the
 * index still points at (compare-and-swap on the location, done in the same step as the copy, so
 * there is no window), appended to its group's buffer; the index points at the copy at once (reads
 * are served from the buffer until it is written). At the end of the round every
 * buffer holding copies, and the user's active buffer, is sealed, and a barrier waits
 * until everything appended so far is durable; then the victims are freed, each once
 * no device read is in flight into it (readers count). A victim whose live records
 * could not all be copied (damaged records) is kept and taken out of the histogram.
 * Segments with no live byte and nothing to hide (below) are freed without a read.
 *
 * Pacing. The user stream leaves a reserve of free segments to compaction; below it a
 * write gets LS_EBUSY (transient, counted as a write stall) while compaction can still
 * reclaim something, and LS_ENOSPACE only when no victim set gives a net gain (the disk
 * is truly full of live data); deletes may dip into half the reserve, so a full disk
 * still accepts DEL and FLUSHDB, and writes succeed again once they make room. The
 * net-gain estimate counts bytes; records too large to share a segment defeat it (one
 * 100 KB value per 128 KiB segment: every round copied its victims into as many new
 * segments as it freed, back to back, while every write waited busy). So compaction
 * watches its own progress since users last dropped live data: once its last
 * CP_IDLE_ROUNDS rounds have freed no more segments than their copies filled (closed), it
 * is stuck: no selection, and a write short of room is answered LS_ENOSPACE at once,
 * until a user's write, delete or an expiry drops live data, or a backoff (1 s doubling
 * to 5 min) tries one more round (idle_check). Counting segments opened instead of closed, a round
 * that opens one segment per group stream read as futile under a load that gained (CI: crash_engine
 * compaction busy answered "disk full"). The last two free segments are kept blank on disk
 * (keep_blank), so that a restart finds room for a round even when every other segment holds dead
 * records.
 *
 * The rule that keeps a deleted key deleted. Recovery decides each key by the highest
 * rseq among its records on disk (FORMAT.md). So at every moment, for every key, the
 * newest record on disk must state its current value or its absence. A record that is
 * not the newest of its key can always be dropped. The newest record must survive: a
 * live PUT is copied; a "hider" (a tombstone, a PUT that has expired, a FLUSH) is
 * copied as long as an older record of its key (its table, for a FLUSH) may still
 * exist in some other segment. Only dead PUTs can be such older records, and a segment
 * holds a dead PUT exactly when its PUT bytes exceed its live bytes; each segment keeps
 * the smallest rseq of the PUTs written in it. A hider with rseq r found in victim V is
 * therefore dropped when r < low_water(V) = the smallest min_rseq of the segments other
 * than V that hold a dead PUT, and copied (as a tombstone with its rseq) otherwise.
 * A dead PUT whose key is absent from the index counts as a hider only if it could have
 * expired (its expiry not above expiry_seen_ms, the latest clock at which an entry was
 * judged expired): otherwise its key is absent because of a newer DEL or FLUSH, which
 * may not be durable yet, and a tombstone with the PUT's rseq would outlive that write
 * if it failed or a crash lost it (simulator seed 3635).
 * Victims of the same round count as "other" segments, so a hider never goes before
 * the records it hides. A record older than its table's latest FLUSH is dead. Victims
 * are freed only after a barrier, so that the newer records that made their contents
 * dead are durable first. Tombstones do not accumulate: once the segments that hold
 * older dead PUTs are compacted, low_water passes them.
 *
 * A freed segment's records stay readable by recovery until block 0 of its next use is
 * durable, so its dead PUTs keep counting (stale_min). The PUTs it had copied do not:
 * their copies, same rseq, stand for them. But a copy can die and its segment be freed
 * and reused while the original's segment is still readable; the copy's segment then
 * leaves its stale_min behind (an "orphan") until every segment given up before it has
 * been reused, which covers the original: a copy's segment is always given up after the
 * segments its copies came from (a victim is freed after the round that copied it, and
 * a segment is compacted only after it is closed). Free segments are reused in the
 * order they were given up (seg_rebuild_free), so orphans last about one turn of the
 * free pool. Without this, a key deleted under load came back after a restart.
 */
#include "internal.h"
#include "token.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CP_MAX_BATCH   32  /* victims read and copied per round */
#define CP_MAX_FAST    256 /* dead segments freed without a read per round */
#define CP_IDLE_ROUNDS 3   /* rounds without users' changes before judging the gain (idle_check) */
#define CP_READS       4   /* victim reads in flight */
#define CP_ORPHANS     64  /* stale_min left behind by reused segments (merged beyond) */

enum { V_READ, V_READING, V_DONE, V_FAST };

struct victim {
    struct uio_req req;
    struct compactor *cp;
    uint32_t g;
    int state;
    int keep;          /* a record could not be copied: the victim stays */
    uint64_t dead_min; /* smallest rseq of the PUTs it holds that were dead, not copied */
};

struct compactor {
    struct ls_engine *e;
    uint32_t low, high;
    int running;          /* below low: rounds run until high */
    int round;            /* a round is in progress */
    int no_gain;          /* the last selection found nothing to reclaim */
    uint32_t idle_rounds; /* rounds that read victims since users last dropped live data */
    int64_t idle_gain[CP_IDLE_ROUNDS]; /* the last ones' segments freed less filled */
    uint64_t round_closed0;            /* e->comp_segs_closed when this round started */
    int stuck;                         /* they gained nothing: no selection (idle_check) */
    int in_copy;                       /* a copy moves a record: its unlive is not the users' */
    uint64_t stuck_ms;                 /* when stuck was set: one more round stuck_wait ms later */
    uint64_t stuck_wait;               /* 1 s, doubled by each futile try up to 5 min */
    uint64_t futile;                   /* times stuck was set (logged the first time) */
    int dirty;                         /* live bytes dropped since that selection */
    int dead_hint;                     /* some segment's live bytes dropped to zero */
    int copy_err;                      /* a copy failed in this round (no segment, no memory) */
    int spill;          /* this round copies into the spill streams (free space low) */
    uint64_t cold_age;  /* a copied record this many writes old goes to the cold spill */
    uint64_t mixed_age; /* age (segments opened since) of the mixed victims of late */
    uint32_t groups_seen;
    struct victim v[CP_MAX_BATCH + CP_MAX_FAST];
    uint32_t nv, next_read, reads, done;
    uint64_t lw1, lw2; /* the two smallest min_rseq of segments holding a dead PUT */
    uint32_t lw1_seg;
    uint32_t *waiting; /* victims to free once no read targets them */
    uint32_t nwaiting;
    struct orphan {
        uint64_t rseq;     /* the stale_min of a reused segment */
        uint64_t freed_at; /* when that segment was given up */
    } orphan[CP_ORPHANS];
    uint32_t norphans;
    uint64_t hider_bytes; /* hiders copied since the low water's segment was last taken */
    int close_dead;       /* close the streams' open segments holding dead PUTs at the end
                             of this round (one of them holds the low water back) */
    uint32_t avail;       /* free segments this round's selection may plan to fill */
    int use_blanks;       /* this round may take the last blank segments */
    struct uio_req blank; /* clearing block 0 of a free segment (buf: NULL when idle) */
    uint32_t blank_seg;
    int blank_err;     /* the last clearing failed: no retry before the next round */
    double old_age;    /* mean age of the group and cold-user segments at the last selection */
    uint32_t run_want; /* a large record wants a run of this many free segments */
    uint32_t run_first, run_n; /* the window this round frees for it (select_run_window),
                                  then kept for it until taken or run_ready_ms + 1 s */
    uint64_t run_ready_ms;
    int no_run; /* the last request found no window: LS_ENOSPACE until room changes */
    uint64_t runs, compacted, freed, copied, dropped, stalls, sep_bytes, comp_bytes, blanked;
    uint64_t scan_round_ms; /* when the last round that only may find something started */
    int space_wanted;       /* a write was refused for space since (compact_space_error) */
};

static uint64_t low_water(const struct compactor *cp, uint32_t g)
{
    return g == cp->lw1_seg ? cp->lw2 : cp->lw1;
}

static void low_water_add(struct compactor *cp, uint64_t r, uint32_t g)
{
    if (r < cp->lw1) {
        cp->lw2 = cp->lw1;
        cp->lw1 = r;
        cp->lw1_seg = g;
    } else if (r < cp->lw2) {
        cp->lw2 = r;
    }
}

static void compute_low_water(struct compactor *cp)
{
    const struct seg_mgr *m = &cp->e->sm;
    uint64_t oldest = UINT64_MAX; /* the earliest given-up use still readable */
    uint32_t n = 0;

    cp->lw1 = cp->lw2 = UINT64_MAX;
    cp->lw1_seg = SEG_NONE;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        uint64_t r = d->stale_min; /* a freed use recovery would still read */
        if (d->freed_at && d->freed_at < oldest)
            oldest = d->freed_at;
        if (d->state != SEG_FREE && d->state != SEG_CONT && d->put_bytes > d->live &&
            d->min_rseq < r)
            r = d->min_rseq;
        if (r != UINT64_MAX)
            low_water_add(cp, r, g);
    }
    for (uint32_t i = 0; i < cp->norphans; i++) {
        if (oldest >= cp->orphan[i].freed_at)
            continue; /* every segment given up before it has been reused */
        cp->orphan[n++] = cp->orphan[i];
        low_water_add(cp, cp->orphan[i].rseq, SEG_NONE);
    }
    cp->norphans = n;
}

uint32_t compact_orphans(const struct ls_engine *e, uint64_t *rseq, uint64_t *freed_at)
{
    const struct compactor *cp = e->cp;

    if (!cp)
        return 0;
    for (uint32_t i = 0; rseq && i < cp->norphans; i++) {
        rseq[i] = cp->orphan[i].rseq;
        freed_at[i] = cp->orphan[i].freed_at;
    }
    return cp->norphans;
}

static void orphan_add(struct compactor *cp, uint64_t rseq, uint64_t freed_at)
{
    struct orphan o = {.rseq = rseq, .freed_at = freed_at};

    if (cp->norphans == CP_ORPHANS) { /* merge into the last: kept longer, never less */
        struct orphan *l = &cp->orphan[CP_ORPHANS - 1];
        o.rseq = o.rseq < l->rseq ? o.rseq : l->rseq;
        o.freed_at = o.freed_at > l->freed_at ? o.freed_at : l->freed_at;
        cp->norphans--;
    }
    cp->orphan[cp->norphans++] = o;
}

void compact_old_use_gone(struct ls_engine *e, uint32_t g)
{
    struct compactor *cp = e->cp;
    struct seg_desc *d = &e->sm.d[g];

    if (d->stale_min != UINT64_MAX && d->freed_at && cp)
        orphan_add(cp, d->stale_min, d->freed_at);
    d->stale_min = UINT64_MAX;
    d->freed_at = 0;
}

/* May segment g be freed without reading it: nothing live, and nothing in it that
 * still has to hide an older record? */
static int fast_free_ok(const struct compactor *cp, uint32_t g)
{
    const struct ls_engine *e = cp->e;
    const struct seg_desc *d = &e->sm.d[g];

    if (d->live || d->readers || d->mem_bufs || d->snaps)
        return 0;
    if (!d->tomb && !(d->flags & SEGF_EXPIRING))
        return 1;
    if (d->max_hider < low_water(cp, g))
        return 1; /* every hider in it would be dropped by a read: no need to read */
    if (d->group) {
        uint32_t table = ((d->group - 1) % e->ngroups) / e->cfg.compaction_groups;
        if (table < e->cfg.tables && d->max_rseq < e->flush_rseq[table])
            return 1; /* everything in it is older than its table's latest FLUSH */
    }
    return 0;
}

int compact_init(struct ls_engine *e)
{
    struct compactor *cp = calloc(1, sizeof(*cp));
    uint32_t n = e->sm.nsegs;

    if (!cp || !(cp->waiting = malloc(sizeof(uint32_t) * (n ? n : 1)))) {
        free(cp);
        return -ENOMEM;
    }
    cp->e = e;
    cp->low = e->cfg.compact_low ? e->cfg.compact_low : LS_COMPACT_LOW_MIN;
    cp->high = e->cfg.compact_high ? e->cfg.compact_high : cp->low + 8;
    if (cp->high <= cp->low)
        cp->high = cp->low + 1;
    for (uint32_t g = 0; g < n; g++) {
        const struct seg_desc *d = &e->sm.d[g];
        if (d->state != SEG_FREE && d->group && d->group <= e->nstreams &&
            !e->gs[d->group - 1].seen) {
            e->gs[d->group - 1].seen = 1;
            cp->groups_seen++;
        }
    }
    for (uint32_t i = 0; i < e->nck_orphans; i++) /* what a checkpoint left (ckpt.c) */
        orphan_add(cp, e->ck_orphans[i].rseq, e->ck_orphans[i].freed_at);
    free(e->ck_orphans);
    e->ck_orphans = NULL;
    e->nck_orphans = 0;
    e->cp = cp;
    return 0;
}

void compact_free(struct ls_engine *e)
{
    if (!e->cp)
        return;
    free(e->cp->waiting);
    free(e->cp);
    e->cp = NULL;
}

int compact_predict_cold(const struct ls_engine *e, uint16_t table, uint64_t token, uint32_t hash2)
{
    const struct compactor *cp = e->cp;
    struct idx_ent ent;

    if (!cp || !cp->mixed_age || e->cfg.compact_policy != LS_COMPACT_COST_BENEFIT ||
        table >= e->cfg.tables || idx_find(e->tables[table], token, hash2, &ent) != 0)
        return 0;
    /* Twice the age of the mixed victims: 1.67 on skewed 80% (1x: 1.69, 4x: 1.73). */
    return e->seq - e->sm.d[seg_of(&e->sm, idx_loc_addr(ent.loc))].seq >= 2 * cp->mixed_age;
}

uint32_t compact_reserve(const struct ls_engine *e, uint8_t type)
{
    const struct compactor *cp = e->cp;
    uint32_t r = cp->low / 2, g = 2 * cp->groups_seen + 6;

    if (r < g)
        r = g;
    if (r >= cp->low)
        r = cp->low > 1 ? cp->low - 1 : 1;
    return type == REC_PUT ? r : r / 2;
}

int compact_space_error(struct ls_engine *e)
{
    struct compactor *cp = e->cp;

    /* Dead segments (dead_hint) are freed by the next round that may find something, not
     * at once: expired keys dropped by a read or the sweep (no write, so not dirty) left
     * the writes that came before it "disk full" with the space about to be freed (a SET
     * after an MGET of expired keys on a full disk). The write waits for that round. */
    if ((cp->stuck || (cp->no_gain && !cp->dirty)) && !cp->dead_hint && !cp->round &&
        !cp->nwaiting && !e->fifo_head && !segj_pending(e))
        return LS_ENOSPACE; /* nothing to reclaim, and no write, round or release will
                               change it (segments freed wait for the journal: segj.c) */
    cp->stalls++;
    cp->running = 1;
    cp->space_wanted = 1; /* the next round that may find something is not paced */
    return LS_EBUSY;
}

int compact_want_run(struct ls_engine *e, uint32_t n)
{
    struct compactor *cp = e->cp;

    if (cp->no_run && !cp->dirty && !cp->round && !segj_pending(e))
        return LS_ENOSPACE; /* no window could be freed, and nothing changed since */
    cp->no_run = 0;
    if (n > cp->run_want)
        cp->run_want = n;
    cp->stalls++;
    return LS_EBUSY;
}

int compact_may_blank(const struct ls_engine *e)
{
    return e->cp && e->cp->use_blanks;
}

void compact_note_dead(struct ls_engine *e, uint32_t g)
{
    (void)g;
    e->cp->dead_hint = 1;
}

void compact_note_unlive(struct ls_engine *e)
{
    /* Select again. Writes that overwrite or delete are acknowledged later (compact_acked),
     * but keys dropped because they expired (a read, the sweep) write nothing: on a full
     * disk whose last selection found nothing, half its data expiring left every SET
     * "disk full" for good. */
    struct compactor *cp = e->cp;
    cp->dirty = 1;
    if (!cp->in_copy) { /* users changed data: compaction's progress is measured anew */
        cp->idle_rounds = 0;
        cp->stuck = 0;
        cp->stuck_wait = 0;
    }
}

void compact_acked(struct ls_engine *e)
{
    /* Segments whose buffers are all written become candidates: select again. */
    e->cp->dirty = 1;
}

static void run_round_end(struct compactor *cp);
static void run_release(struct compactor *cp);

/* ---- freeing ---- */

static void free_now(struct compactor *cp, uint32_t g)
{
    struct ls_engine *e = cp->e;
    uint32_t run = e->sm.d[g].run ? e->sm.d[g].run : 1;

    /* no cache invalidation: entries are keyed by the segment use (rcache.h) */
    for (uint32_t k = 0; k < run; k++)
        seg_release(&e->sm, g + k);
    cp->freed++;
    /* a window being freed for a large record: kept for it (run_round_end) */
    if (cp->run_n && !cp->round && g >= cp->run_first && g < cp->run_first + cp->run_n)
        for (uint32_t k = 0; k < run; k++)
            if (e->sm.d[g + k].state == SEG_FREE)
                e->sm.d[g + k].flags |= SEGF_RESERVED;
}

/* Released once no read targets it. */
static void free_or_wait(struct compactor *cp, uint32_t g)
{
    if (cp->e->sm.d[g].readers)
        cp->waiting[cp->nwaiting++] = g;
    else
        free_now(cp, g);
}

/* A victim left with nothing live: with checkpoints while running, released only once
 * the segment journal names it durably (segj.c: a crash restart then knows it may hold
 * a use begun after the checkpoint), else at once. The caller rebuilds the free stack. */
static void free_seg(struct compactor *cp, uint32_t g)
{
    struct ls_engine *e = cp->e;

    if (!segj_active(e) || e->sm.d[g].readers) {
        free_or_wait(cp, g); /* journaled once the last reader is done */
        return;
    }
    /* a large run's first segment only: its continuations are released with it, and a
     * crash open takes them as freed with it (ckpt_presume) */
    segj_add(e, g);
}

void compact_journaled(struct ls_engine *e, uint32_t g)
{
    struct seg_desc *d = &e->sm.d[g];

    if (d->state == SEG_VICTIM)
        free_or_wait(e->cp, g);
    e->cp->dirty = 1; /* room came: select again */
}

void compact_reader_done(struct ls_engine *e, uint32_t g)
{
    struct compactor *cp = e->cp;

    for (uint32_t i = 0; i < cp->nwaiting; i++) {
        if (cp->waiting[i] != g)
            continue;
        cp->waiting[i] = cp->waiting[--cp->nwaiting];
        if (segj_active(e)) {
            segj_add(e, g); /* released by the block's completion only */
            return;
        }
        free_now(cp, g);
        seg_rebuild_free(&e->sm);
        return;
    }
}

/* After a round that read victims: has compaction gained anything of late? The segments
 * each of the last CP_IDLE_ROUNDS rounds freed, less those its copies filled (closed),
 * summed; all of them since users last dropped live data. (A first round may gain, its
 * copies going into segments the streams had open; it is the rounds after it that tell:
 * on the 100 KB disk they free exactly what they fill, round after round.) */
static void idle_check(struct compactor *cp, uint32_t freed)
{
    struct ls_engine *e = cp->e;
    int64_t gain = (int64_t)freed - (int64_t)(e->comp_segs_closed - cp->round_closed0), sum = 0;

    cp->idle_gain[cp->idle_rounds++ % CP_IDLE_ROUNDS] = gain;
    if (cp->idle_rounds < CP_IDLE_ROUNDS)
        return;
    for (uint32_t i = 0; i < CP_IDLE_ROUNDS; i++)
        sum += cp->idle_gain[i];
    if (sum > 0)
        return;
    if (!cp->futile++)
        eng_log(e, LS_LOG_WARN,
                "compaction: %u rounds freed no more segments than their copies filled: the "
                "live records do not pack tighter (values near the segment size?); writes "
                "short of room are answered disk full until data is deleted",
                CP_IDLE_ROUNDS);
    cp->stuck = 1;
    cp->stuck_ms = eng_now_ms(e);
    cp->stuck_wait = cp->stuck_wait ? cp->stuck_wait * 2 : 1000;
    if (cp->stuck_wait > 300000)
        cp->stuck_wait = 300000;
}

/* The round's barrier: everything appended before the end of the round is durable. */
static void round_acked(void *arg, int rc, uint64_t cas)
{
    struct compactor *cp = arg;
    struct ls_engine *e = cp->e;
    uint32_t read = 0, freed = 0;

    (void)cas;
    for (uint32_t i = 0; i < cp->nv; i++) {
        uint32_t g = cp->v[i].g;
        struct seg_desc *d = &e->sm.d[g];
        read += cp->v[i].state == V_DONE;
        if (d->state != SEG_VICTIM)
            continue;
        /* Once freed, what recovery could still read of it that needs hiding: its dead
         * PUTs, not the ones copied (a copy with the same rseq decides their keys). */
        if (cp->v[i].state == V_DONE && rc == 0 && !cp->v[i].keep && !d->live && !d->snaps) {
            d->min_rseq = cp->v[i].dead_min;
            seg_give_up(&e->sm, g);
        }
        if (rc != 0 || cp->v[i].keep || d->snaps) {
            /* the engine failed, or a copy did, or a snapshot taken meanwhile holds it:
             * keep it */
            d->state = SEG_FULL;
        } else if (d->live) {
            d->state = SEG_FULL; /* not all copied: stays (stuck when damaged) */
        } else {
            free_seg(cp, g);
            freed++;
            continue;
        }
        seg_hist_update(&e->sm, g);
    }
    if (rc == 0 && read)
        idle_check(cp, freed);
    if (cp->run_n)
        run_round_end(cp);
    seg_rebuild_free(&e->sm);
    cp->round = 0;
    cp->nv = 0;
    cp->use_blanks = 0;
    cp->blank_err = 0;
}

/* Seals every compaction stream's buffer; with close_dead, also closes the open
 * segments that hold dead PUTs, so that a later round can take them. Returns how many
 * it closed. */
static uint32_t seal_streams(struct compactor *cp, int close_dead)
{
    struct ls_engine *e = cp->e;
    uint32_t closed = 0;

    for (uint32_t i = 0; i < e->nstreams + 2; i++) {
        struct stream *st = i < e->nstreams ? &e->gs[i] : &e->spill[i - e->nstreams];
        const struct seg_desc *d = st->cur_seg >= 0 ? &e->sm.d[st->cur_seg] : NULL;
        if (close_dead && d && d->put_bytes > d->live) {
            wbuf_close_stream(e, st);
            closed += st->cur_seg < 0;
        } else {
            wbuf_seal_stream(e, st);
        }
    }
    return closed;
}

static void finish_round(struct compactor *cp)
{
    struct ls_engine *e = cp->e;

    seal_streams(cp, cp->close_dead);
    cp->close_dead = 0;
    if (wbuf_barrier(e, round_acked, cp) < 0)
        round_acked(cp, -ENOMEM, 0);
}

/* ---- copying ---- */

struct copy_ctx {
    struct compactor *cp;
    struct victim *vi;
    uint32_t g; /* the victim */
    uint64_t now;
};

/* The stream a record copied out of victim v goes to: its group's first generation
 * when v is mixed, its second when v is a group segment already. */
static struct stream *stream_of(struct ls_engine *e, uint32_t v, uint16_t table, uint64_t token,
                                uint64_t rseq)
{
    uint32_t gen = e->sm.d[v].group ? e->ngroups : 0;
    struct stream *st = &e->gs[gen + eng_group_of(e, table, token)];

    if (e->cp->spill)
        return &e->spill[e->rseq - rseq >= e->cp->cold_age];
    if (!st->seen) {
        st->seen = 1;
        e->cp->groups_seen++; /* streams that may hold an open segment: the reserve */
    }
    return st;
}

static void count_copy(struct compactor *cp, uint32_t victim, uint32_t size)
{
    if (cp->e->sm.d[victim].group)
        cp->comp_bytes += size;
    else
        cp->sep_bytes += size;
}

/* A hider (tombstone, expired PUT, FLUSH) found in a victim: copied as a tombstone with
 * its rseq while an older record it hides may exist elsewhere, else dropped. */
static void copy_hider(struct copy_ctx *c, const struct rec_view *v, uint64_t token, uint32_t hash2)
{
    struct compactor *cp = c->cp;
    struct ls_engine *e = cp->e;
    struct rec_hdr h = v->h;
    int64_t rc;

    if (h.rseq < low_water(cp, c->g)) {
        cp->dropped++;
        return;
    }
    if (h.type == REC_PUT) {
        h.type = REC_DEL;
        h.value_len = 0;
        h.expire_ms = 0;
        h.flags = 0;
    }
    rc =
        wbuf_copy(e, stream_of(e, c->g, h.table, token, h.rseq), &h, v->key, NULL, token, hash2, 0);
    if (rc < 0) {
        cp->copy_err = (int)rc;
        c->vi->keep = 1; /* its hider is not safe elsewhere */
        return;
    }
    count_copy(cp, c->g, rec_size(h.key_len, 0));
    cp->hider_bytes += rec_size(h.key_len, 0);
    cp->copied++;
}

static void copy_record(void *arg, const struct rec_view *v, uint64_t addr)
{
    struct copy_ctx *c = arg;
    struct compactor *cp = c->cp;
    struct ls_engine *e = cp->e;
    uint16_t table = v->h.table;
    uint64_t token = 0, loc = idx_make_loc(addr, v->size);
    uint32_t hash2 = 0;
    struct idx_ent ent;
    int found;
    int64_t nl;

    if (table >= e->cfg.tables || v->h.rseq < e->flush_rseq[table]) {
        /* Hidden by a newer FLUSH of its table, and left behind: a dead PUT that
         * recovery still reads until the segment is reused, so it holds the FLUSH back
         * like any other (uncounted, a later round dropped the FLUSH and a restart read
         * the flushed keys again). */
        if (v->h.type == REC_PUT && v->h.rseq < c->vi->dead_min)
            c->vi->dead_min = v->h.rseq;
        return;
    }
    if (v->h.type == REC_FLUSH) {
        copy_hider(c, v, 0, 0);
        return;
    }
    token_of(v->key, v->h.key_len, &token, &hash2);
    found = idx_find(e->tables[table], token, hash2, &ent) == 0;
    if (v->h.type == REC_DEL) {
        if (!found)
            copy_hider(c, v, token, hash2); /* else a newer PUT hides what it hid */
        return;
    }
    if (!found || ent.loc != loc) {
        /* Dead. When its key is absent and it carries an expiry, it may be the key's
         * newest record, dropped from the index once expired: then it hides the older
         * ones, whatever the clock says now (a clock set back made it look unexpired,
         * it was dropped, and a restart brought the older value back). Only if it could
         * have expired: else the key is absent because of a newer DEL or FLUSH, perhaps
         * not durable yet, and a tombstone with this PUT's rseq would delete it for
         * good if that write never lands (seed 3635: a batch's DEL lost in a crash took
         * an acknowledged PUT with it, through this copy). */
        if (v->h.rseq < c->vi->dead_min)
            c->vi->dead_min = v->h.rseq;
        if (!found && v->h.expire_ms && v->h.expire_ms <= e->expiry_seen_ms)
            copy_hider(c, v, token, hash2);
        return;
    }
    if (idx_meta_expire(ent.meta) && idx_meta_expire(ent.meta) <= c->now) {
        if (idx_remove(e->tables[table], token, hash2, NULL) < 0) {
            c->vi->keep = 1; /* no memory for a snapshot's copy: the entry stays here */
            return;
        }
        eng_expiry_seen(e, c->now);
        eng_unlive(e, loc);
        e->st.expired_dropped++;
        eng_expired(e, table, v->key, v->h.key_len);
        /* The PUT stays readable here until the segment is reused, and the hider copied
         * for it is not a PUT: it is dropped once its rseq is below the low water, which
         * this segment must therefore hold back (else a restart under a clock set back
         * reads the expired PUT as current: simulator seed 601349). */
        if (v->h.rseq < c->vi->dead_min)
            c->vi->dead_min = v->h.rseq;
        copy_hider(c, v, token, hash2);
        return;
    }
    struct rec_hdr h = v->h; /* the copy keeps the PUT's type tag (rec_decode strips it) */
    h.type = (uint8_t)(h.type | (v->vtag << REC_VTAG_SHIFT));
    nl = wbuf_copy(e, stream_of(e, c->g, table, token, v->h.rseq), &h, v->key, v->value, token,
                   hash2, loc);
    if (nl < 0) {
        cp->copy_err = (int)nl; /* stays live in the victim, which is kept */
        c->vi->keep = 1;
        return;
    }
    int cas = idx_cas_loc(e->tables[table], token, hash2, loc, (uint64_t)nl);
    if (cas == 0) {
        eng_live(e, (uint64_t)nl, +1);
        cp->in_copy = 1;
        eng_unlive(e, loc);
        cp->in_copy = 0;
    } else if (cas == -ENOMEM) { /* the entry still names this copy: the victim is kept */
        cp->copy_err = cas;
        c->vi->keep = 1;
    }
    count_copy(cp, c->g, v->size);
    cp->copied++;
}

static void pump(struct compactor *cp);

static void victim_read_done(struct uio_req *req, int res)
{
    struct victim *vi = req->arg;
    struct compactor *cp = vi->cp;
    struct ls_engine *e = cp->e;
    struct copy_ctx c = {.cp = cp, .vi = vi, .g = vi->g, .now = eng_now_ms(e)};
    struct seg_desc *d = &e->sm.d[vi->g];

    cp->reads--;
    vi->state = V_DONE;
    if (res == (int)e->sm.seg_size && !e->failed && !e->closing) {
        uint32_t bad = seg_walk(e, req->buf, e->sm.seg_size, vi->g, copy_record, &c);
        cp->compacted++;
        if (d->live && !cp->copy_err) {
            eng_log(e, LS_LOG_ERROR,
                    "compaction: segment %u keeps %u live bytes it could not copy (%u damaged "
                    "blocks); it stays in use",
                    vi->g, d->live, bad);
            d->flags |= SEGF_STUCK;
        }
    } else if (!e->closing && !e->failed) {
        eng_log(e, LS_LOG_ERROR, "compaction: reading segment %u failed: %s", vi->g,
                ls_strerror(res < 0 ? res : -EIO));
        d->flags |= SEGF_STUCK;
        vi->keep = 1;
    } else {
        vi->keep = 1;
    }
    uio_free(req->buf);
    req->buf = NULL;
    cp->done++;
    pump(cp);
}

static void pump(struct compactor *cp)
{
    struct ls_engine *e = cp->e;

    while (cp->round && cp->next_read < cp->nv && cp->reads < CP_READS && !e->failed &&
           !e->closing && !cp->copy_err && wbuf_group_bytes(e) < e->cfg.separator_memory) {
        struct victim *vi = &cp->v[cp->next_read++];
        uint64_t off;
        if (vi->state != V_READ)
            continue;
        vi->req = (struct uio_req){
            .cb = victim_read_done, .arg = vi, .len = e->sm.seg_size, .op = UIO_READ};
        vi->req.buf = uio_alloc(e->sm.seg_size);
        vi->req.fd = seg_fd(&e->sm, (uint64_t)vi->g * e->sm.seg_size, &off);
        if (!vi->req.buf || vi->req.fd < 0) {
            uio_free(vi->req.buf);
            vi->req.buf = NULL;
            vi->state = V_DONE;
            vi->keep = 1;
            cp->done++;
            continue;
        }
        vi->req.off = off;
        vi->state = V_READING;
        cp->reads++;
        e->st.compaction_read_bytes += e->sm.seg_size;
        uio_queue(e->u, &vi->req);
    }
    if (cp->reads)
        uio_submit(e->u);
    if (cp->round == 1 && !cp->reads &&
        (cp->done == cp->nv || (cp->copy_err && cp->next_read < cp->nv))) {
        /* Victims not read (a copy failed) go back untouched. */
        for (uint32_t i = 0; i < cp->nv; i++)
            if (cp->v[i].state == V_READ) {
                cp->v[i].state = V_DONE;
                cp->v[i].keep = 1;
            }
        cp->done = cp->nv;
        cp->round = 2; /* waiting for the barrier */
        finish_round(cp);
    }
}

/* ---- blank segments ---- */

static void blank_done(struct uio_req *req, int res)
{
    struct compactor *cp = req->arg;
    struct ls_engine *e = cp->e;
    struct seg_desc *d = &e->sm.d[cp->blank_seg];

    d->flags &= (uint8_t)~SEGF_BLANKING;
    if (res == (int)req->len) {
        e->st.device_bytes_written += req->len;
        e->st.device_writes++;
        cp->blanked++;
        compact_old_use_gone(e, cp->blank_seg); /* its old use is gone, as if reused */
    } else {
        cp->blank_err = 1;
        if (!e->closing) /* a device write failed like any other: sticky */
            eng_fail(e, res < 0 ? res : -EIO, "clearing block 0 of a free segment");
    }
    uio_free(req->buf);
    req->buf = NULL;
    seg_rebuild_free(&e->sm);
}

/* Keeps SEG_BLANK_KEEP free segments blank on disk. Recovery cannot tell a segment that
 * was given up from one in use: it reads every segment with a valid block 0 and sees
 * the freed ones full of dead records and of tombstones that the low water (the oldest
 * dead PUT anywhere) still holds. A restart could then find no free segment at all and
 * answer "disk full" at 10% live data (the 64 MiB crash test, 1 run in 3), where one
 * free segment is enough for a round to copy the tombstones of 32 dead segments and free
 * them. Free segments are used readable ones first, blank ones last, and only a round
 * that cannot gain otherwise takes the last blank ones; when one was taken (or a large
 * record run took it), the oldest given-up free segment, the next in line anyway, gets a
 * zeroed block 0 (4 KiB, O_DSYNC). */
static void keep_blank(struct compactor *cp)
{
    struct ls_engine *e = cp->e;
    struct seg_mgr *m = &e->sm;
    uint64_t off;

    if (cp->blank.buf || cp->blank_err || m->nblank >= SEG_BLANK_KEEP || m->nfree <= m->nblank)
        return;
    uint32_t g = m->free_stack[m->nfree - 1];
    int fd = seg_fd(m, (uint64_t)g * m->seg_size, &off);
    void *buf = uio_alloc(REC_BLOCK);
    if (fd < 0 || !buf) {
        uio_free(buf);
        return;
    }
    memset(buf, 0, REC_BLOCK);
    cp->blank = (struct uio_req){.cb = blank_done,
                                 .arg = cp,
                                 .buf = buf,
                                 .off = off,
                                 .len = REC_BLOCK,
                                 .fd = fd,
                                 .op = UIO_WRITE,
                                 .dsync = 1};
    cp->blank_seg = g;
    m->d[g].flags |= SEGF_BLANKING;
    seg_rebuild_free(m);
    uio_queue(e->u, &cp->blank);
    uio_submit(e->u);
}

/* ---- choosing victims ---- */

static void add_victim(struct compactor *cp, uint32_t g, int fast)
{
    struct seg_desc *d = &cp->e->sm.d[g];

    cp->v[cp->nv++] =
        (struct victim){.cp = cp, .g = g, .state = fast ? V_FAST : V_READ, .dead_min = UINT64_MAX};
    d->state = SEG_VICTIM;
    seg_hist_update(&cp->e->sm, g);
}

/* Segments needed to hold `bytes` of copies. */
static uint32_t need_segs(const struct compactor *cp, uint64_t bytes)
{
    uint32_t usable = cp->e->sm.seg_size - cp->e->sm.seg_size / 32;

    return (uint32_t)((bytes + usable - 1) / usable);
}

struct cand {
    uint32_t g;
    uint32_t used;
    double score;
};

static int cmp_used(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    return x->used < y->used ? -1 : x->used > y->used;
}

/* Keeps the prefix (emptiest first) that gives a net gain of free segments and whose
 * copies fit in the free segments: one more per group stream that may need a new one,
 * or, in a spill round, none. Returns its length. */
static uint32_t open_extra(const struct compactor *cp)
{
    return cp->spill ? cp->cold_age != UINT64_MAX : cp->groups_seen + 1;
}

static uint32_t net_gain_prefix(const struct compactor *cp, const struct cand *c, uint32_t n)
{
    uint32_t nfree = cp->avail, best = 0, extra = open_extra(cp);
    uint64_t bytes = 0;

    for (uint32_t k = 0; k < n; k++) {
        bytes += c[k].used;
        uint32_t need = need_segs(cp, bytes);
        if (need + extra > nfree)
            break;
        if (k + 1 > need)
            best = k + 1;
    }
    return best;
}

/* The segment that holds the low water back (its oldest dead PUT) is often a full one
 * that neither policy would pick: one dead record among old live data. While it stays,
 * every tombstone younger than that record is copied round after round. Once the
 * hiders copied since it was last taken outweigh its live bytes, the cost of moving
 * it, it joins the round (beyond the net-gain prefix, when its copies fit). */
static void add_pinning(struct compactor *cp, const struct cand *c, uint32_t nc)
{
    const struct seg_mgr *m = &cp->e->sm;
    uint32_t g = cp->lw1_seg;
    uint64_t bytes = 0;

    if (g == SEG_NONE || cp->nv >= CP_MAX_BATCH + CP_MAX_FAST)
        return;
    const struct seg_desc *d = &m->d[g];
    if (cp->hider_bytes < (uint64_t)d->live + d->tomb)
        return;
    if (d->state == SEG_OPEN && cp->e->user.cur_seg != (int64_t)g &&
        cp->e->ucold.cur_seg != (int64_t)g) {
        /* A compaction stream's segment that fills slowly: closed at the end of this
         * round, with the other streams' segments that hold dead PUTs (they are next in
         * line), and taken by later rounds. */
        cp->close_dead = 1;
        return;
    }
    if (d->state != SEG_FULL || d->hb == HB_NONE || d->mem_bufs)
        return;
    for (uint32_t i = 0; i < nc; i++)
        bytes += c[i].used;
    bytes += d->live + d->tomb;
    if (need_segs(cp, bytes) + open_extra(cp) > cp->avail)
        return;
    cp->hider_bytes = 0;
    add_victim(cp, g, 0);
}

/* What every round sets before it picks its victims. */
static void round_prologue(struct compactor *cp)
{
    struct ls_engine *e = cp->e;
    struct seg_mgr *m = &e->sm;

    eng_refresh_room(e); /* a full filesystem shrinks what a round may plan on */
    compute_low_water(cp);
    /* Cost-benefit splits a spill round's copies by age: a record older than half as
     * many writes as there are keys goes to the second spill stream. Not when free
     * segments are very few: the second open segment could leave no room for a round
     * (a 64 MiB crash run got to 1 free segment and answered disk full at 10% live). */
    cp->cold_age = UINT64_MAX;
    if (e->cfg.compact_policy == LS_COMPACT_COST_BENEFIT && m->nfree >= 8) {
        uint64_t keys = 0;
        for (uint32_t t = 0; t < e->cfg.tables; t++)
            keys += idx_count(e->tables[t]);
        cp->cold_age = keys / 2;
    }
    cp->nv = 0;
    /* The last blank segments are left alone unless nothing else gives a gain. */
    cp->use_blanks = 0;
    cp->avail = m->nfree - (m->nblank < SEG_BLANK_KEEP ? m->nblank : SEG_BLANK_KEEP);
    /* Too few free segments for one open segment per group: copy into one stream. */
    cp->spill = m->nfree <= 2 * cp->groups_seen + 2;
}

static void select_victims(struct compactor *cp, int fast_only)
{
    struct ls_engine *e = cp->e;
    struct seg_mgr *m = &e->sm;
    struct cand c[CP_MAX_BATCH], gr[CP_MAX_BATCH];
    uint32_t nc = 0, ngr = 0, nfast = 0;
    int cb = e->cfg.compact_policy == LS_COMPACT_COST_BENEFIT;
    double old_sum = 0; /* ages of the closed segments not written by the user stream */
    uint32_t old_n = 0;

    round_prologue(cp);
    /* Large runs and damaged segments are not in the histogram: free dead runs here. */
    if (cp->dead_hint)
        for (uint32_t g = 0; g < m->nsegs && nfast < CP_MAX_FAST; g++)
            if (m->d[g].state == SEG_FULL && (m->d[g].run > 1 || (m->d[g].flags & SEGF_STUCK)) &&
                fast_free_ok(cp, g)) {
                add_victim(cp, g, 1);
                nfast++;
            }
    for (int b = seg_hist_top(m, HB_COUNT); b >= 0; b = seg_hist_top(m, b)) {
        uint32_t next;
        for (uint32_t g = m->hhead[b]; g != SEG_NONE; g = next) {
            struct seg_desc *d = &m->d[g];
            uint32_t used = d->live + d->tomb;
            next = d->hnext;
            if (d->mem_bufs)
                continue; /* a write into it is still in flight */
            if (nfast < CP_MAX_FAST && fast_free_ok(cp, g)) {
                add_victim(cp, g, 1);
                nfast++;
                continue;
            }
            if (fast_only || used >= m->seg_size)
                continue;
            if (ngr < CP_MAX_BATCH) /* the emptiest, in bucket order */
                gr[ngr++] = (struct cand){g, used, 0};
            if (!cb)
                continue;
            double u = (double)used / m->seg_size;
            double age = (double)(e->seq - d->seq) + 1;
            if (!(d->flags & SEGF_HOT)) {
                /* group or cold user: age capped (Rounds, above) */
                old_sum += age;
                old_n++;
                if (cp->old_age > 0 && age > 0.75 * cp->old_age)
                    age = 0.75 * cp->old_age;
            }
            double score = (1 - u) * age / (1 + u);
            uint32_t k = nc < CP_MAX_BATCH ? nc++ : CP_MAX_BATCH;
            if (k == CP_MAX_BATCH && score <= c[k - 1].score)
                continue;
            if (k == CP_MAX_BATCH)
                k--;
            while (k > 0 && c[k - 1].score < score) {
                c[k] = c[k - 1];
                k--;
            }
            c[k] = (struct cand){g, used, score};
        }
        if (!fast_only && !cb && ngr == CP_MAX_BATCH && (nfast == CP_MAX_FAST || !cp->dead_hint))
            break; /* greedy: the emptiest are found */
    }
    cp->dead_hint = 0;
    if (old_n)
        cp->old_age = old_sum / old_n;
    if (!fast_only) {
        struct cand *pick = cb ? c : gr;
        nc = cb ? nc : ngr;
        qsort(pick, nc, sizeof(*pick), cmp_used);
        uint32_t k = net_gain_prefix(cp, pick, nc);
        if (!k && cb) {
            /* The best scores may all be old, nearly full segments with no net gain
             * between them (seen after a restart on a small disk: "disk full" at 40%
             * utilization): take the emptiest instead. */
            pick = gr;
            nc = ngr;
            qsort(pick, nc, sizeof(*pick), cmp_used);
            k = net_gain_prefix(cp, pick, nc);
        }
        if (!k && !cp->spill) {
            cp->spill = 1; /* no gain with one open segment per group: spill */
            k = net_gain_prefix(cp, pick, nc);
        }
        if (!k && cp->avail < m->nfree) {
            cp->use_blanks = 1; /* e.g. after a restart that found only the blank ones */
            cp->avail = m->nfree;
            k = net_gain_prefix(cp, pick, nc);
        }
        nc = k;
        for (uint32_t i = 0; i < nc; i++) {
            const struct seg_desc *d = &m->d[pick[i].g];
            uint64_t age = e->seq - d->seq;
            if (d->flags & SEGF_HOT)
                cp->mixed_age = cp->mixed_age ? (cp->mixed_age * 15 + age) / 16 : age;
            add_victim(cp, pick[i].g, 0);
        }
        add_pinning(cp, pick, nc);
        cp->no_gain = cp->nv == 0;
        cp->dirty = 0;
        /* Nothing to gain among closed segments: the dead data may sit in the streams'
         * open segments (one per group stream, a large share of a small disk). */
        if (cp->no_gain && seal_streams(cp, 1))
            cp->no_gain = 0;
    }
}

/* A large record needs n contiguous free segments of one file (seg_alloc_run) and the
 * free ones are scattered: compaction frees a window for it. The window of n segments,
 * free or closed single ones, whose closed segments hold the fewest bytes, and whose
 * copies fit in the free segments outside it; its free segments are kept out of the copies'
 * way (SEGF_RESERVED) until the round ends. Returns 1 when victims were chosen. (A 500 KB
 * SET on a disk 5/6 dead waited busy_timeout_ms and failed "server busy".) */
static int window_usable(const struct seg_desc *d)
{
    if (d->state == SEG_FREE)
        return !(d->flags & (SEGF_BLANKING | SEGF_RESERVED));
    return d->state == SEG_FULL && d->run == 1 && !(d->flags & SEGF_STUCK) && !d->mem_bufs &&
           !d->readers && d->hb != HB_NONE;
}

static int select_run_window(struct compactor *cp, uint32_t n)
{
    struct seg_mgr *m = &cp->e->sm;
    uint32_t spf = m->segs_per_file, best = SEG_NONE, best_free = 0;
    uint64_t best_cost = UINT64_MAX;

    if (cp->run_n) { /* an earlier window nobody took */
        run_release(cp);
        seg_rebuild_free(m);
        cp->avail = m->nfree - (m->nblank < SEG_BLANK_KEEP ? m->nblank : SEG_BLANK_KEEP);
    }
    for (uint32_t f = 0; f < m->nfiles; f++) {
        if (m->fds[f] < 0)
            continue;
        for (uint32_t g0 = f * spf; g0 + n <= (f + 1) * spf; g0++) {
            uint64_t cost = 0;
            uint32_t nfree = 0, k;
            for (k = 0; k < n && window_usable(&m->d[g0 + k]); k++) {
                nfree += m->d[g0 + k].state == SEG_FREE;
                cost += m->d[g0 + k].live + m->d[g0 + k].tomb;
            }
            if (k == n && cost < best_cost) {
                best = g0;
                best_cost = cost;
                best_free = nfree;
            }
        }
    }
    if (best == SEG_NONE || need_segs(cp, best_cost) + open_extra(cp) + best_free > cp->avail)
        return 0;
    for (uint32_t k = 0; k < n; k++) {
        struct seg_desc *d = &m->d[best + k];
        if (d->state == SEG_FREE)
            d->flags |= SEGF_RESERVED;
        else
            add_victim(cp, best + k, fast_free_ok(cp, best + k));
    }
    cp->run_first = best;
    cp->run_n = n;
    seg_rebuild_free(m);
    return 1;
}

/* Gives the window's segments back to the free stack (the caller rebuilds it). */
static void run_release(struct compactor *cp)
{
    struct seg_mgr *m = &cp->e->sm;

    for (uint32_t k = 0; k < cp->run_n; k++)
        m->d[cp->run_first + k].flags &= (uint8_t)~SEGF_RESERVED;
    cp->run_n = 0;
}

/* The round that frees the window ended: its segments now free stay kept for the large
 * record (the retried write takes them, compact_run_taken) for a second at most, so that
 * other allocations do not take them first. */
static void run_round_end(struct compactor *cp)
{
    struct seg_mgr *m = &cp->e->sm;

    for (uint32_t k = 0; k < cp->run_n; k++)
        if (m->d[cp->run_first + k].state == SEG_FREE)
            m->d[cp->run_first + k].flags |= SEGF_RESERVED;
    cp->run_ready_ms = eng_now_ms(cp->e);
    cp->run_want = 0;
}

void compact_run_taken(struct ls_engine *e)
{
    if (e->cp && e->cp->run_n && !e->cp->round) {
        run_release(e->cp);
        seg_rebuild_free(&e->sm);
    }
}

static void start_round(struct compactor *cp, int fast_only)
{
    if (cp->run_want && !fast_only) {
        round_prologue(cp);
        if (!select_run_window(cp, cp->run_want)) {
            cp->run_want = 0; /* no window can be freed: the write fails as no space */
            cp->no_run = 1;
        }
    }
    if (!cp->nv)
        select_victims(cp, fast_only);
    if (!cp->nv)
        return;
    cp->runs++;
    cp->round = 1;
    cp->round_closed0 = cp->e->comp_segs_closed;
    cp->next_read = cp->reads = cp->done = 0;
    cp->copy_err = 0;
    for (uint32_t i = 0; i < cp->nv; i++)
        if (cp->v[i].state == V_FAST)
            cp->done++;
    pump(cp);
}

void compact_tick(struct ls_engine *e, int timer)
{
    struct compactor *cp = e->cp;
    uint32_t nfree = e->sm.nfree;

    if (!cp || e->failed || e->closing)
        return;
    /* The pool compaction works with lives in files that exist: the next file is made
     * before the existing ones run out, so a full filesystem leaves the pool in place;
     * half a file ahead, so that its thread (seg_prepare) is done before writes need it. */
    if ((e->sm.nfree_unmade && !e->cfg.read_only &&
         e->sm.nfree - e->sm.nfree_unmade < cp->high + e->sm.segs_per_file / 2) ||
        e->sm.prep)
        seg_prepare(&e->sm);
    keep_blank(cp);
    if (cp->round == 1) {
        pump(cp);
        return;
    }
    if (cp->round)
        return;
    if (cp->run_n && eng_now_ms(e) - cp->run_ready_ms > 1000) {
        run_release(cp); /* the large write did not come back for its window */
        seg_rebuild_free(&e->sm);
    }
    if (nfree < cp->low)
        cp->running = 1;
    else if (nfree >= cp->high)
        cp->running = 0;
    /* Rounds that are needed start at once; the ones that only may find something (a
     * selection again after one that found nothing, freeing dead segments) scan every
     * descriptor, so they wait for the timer, and for one millisecond per 8192 segments
     * since the last of them: a round costs three passes over the descriptors, and on a
     * 64 GiB disk (524,288 segments) the timer's 68 rounds a second took 70% of the
     * server's time under SETs that overwrite a few keys (1.13 us of CPU a SET at 1 GiB,
     * 7.2 us at 64 GiB). A round frees up to CP_MAX_FAST dead segments: at that pace,
     * 2 GiB a second at 64 GiB. A write refused for space since the last one lifts the
     * pacing for the next (a small busy_timeout_ms must not run out behind it). */
    if (cp->stuck && eng_now_ms(e) - cp->stuck_ms >= cp->stuck_wait)
        cp->stuck = 0; /* one more try (the clock stepping back: at once) */
    if (cp->run_want || (cp->running && !cp->no_gain && !cp->stuck)) {
        start_round(cp, 0);
        return;
    }
    uint64_t now = eng_now_ms(e);
    int select = cp->running && cp->dirty && !cp->stuck; /* else only dead ones to free */
    if (!timer || !(select || cp->dead_hint) ||
        (!cp->space_wanted && now - cp->scan_round_ms < e->sm.nsegs / 8192))
        return;
    cp->scan_round_ms = now;
    cp->space_wanted = 0;
    start_round(cp, !select);
}

void compact_stats(const struct ls_engine *e, struct ls_stats *st)
{
    const struct compactor *cp = e->cp;
    const struct seg_mgr *m = &e->sm;

    st->separator_bytes_written = cp->sep_bytes;
    st->compaction_bytes_written = cp->comp_bytes;
    st->compaction_runs = cp->runs;
    st->segments_compacted = cp->compacted;
    st->compaction_stuck = cp->futile;
    st->segments_freed = cp->freed;
    st->segments_blanked = cp->blanked;
    st->records_copied = cp->copied;
    st->tombstones_dropped = cp->dropped;
    st->write_stalls = cp->stalls;
    st->compaction_active = cp->round != 0;
    st->segments_mixed = st->segments_group = st->tomb_bytes = 0;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        if (d->state == SEG_FREE || d->state == SEG_CONT)
            continue;
        if (d->group)
            st->segments_group++;
        else
            st->segments_mixed++;
        st->tomb_bytes += d->tomb;
    }
    st->write_amplification =
        st->user_bytes_written ? (double)st->device_bytes_written / st->user_bytes_written : 0;
}

uint64_t compact_low_water(struct ls_engine *e)
{
    if (!e->cp)
        return 0;
    compute_low_water(e->cp);
    return e->cp->lw1;
}

uint64_t compact_freed(const struct ls_engine *e)
{
    return e->cp ? e->cp->freed : 0;
}

uint64_t ls_group_segments(const struct ls_engine *e, uint32_t table, uint32_t group)
{
    uint64_t n = 0;
    uint32_t id;

    if (table >= e->cfg.tables || group >= e->cfg.compaction_groups)
        return 0;
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    id = table * e->cfg.compaction_groups + group + 1;
    for (uint32_t g = 0; g < e->sm.nsegs; g++)
        n += e->sm.d[g].state != SEG_FREE && e->sm.d[g].state != SEG_CONT &&
             (e->sm.d[g].group == id || e->sm.d[g].group == id + e->ngroups);
    return n;
}
