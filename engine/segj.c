/*
 * segj.c - the segment journal (logstor.segj): which segments were freed, so that a
 * crash restart from a checkpoint reads the first block only of the segments that can
 * hold something written after it.
 *
 * Rolling forward (ckpt.c) must find every segment begun after the checkpoint. Such a
 * segment was free when it was taken: free at the checkpoint (its descriptors say so),
 * or freed after it. Before this journal, phase 1 of recovery read block 0 of every
 * segment to find them: 1.4 s at 5 M values of 4 KiB, growing with the data. Now a
 * segment compaction frees after a round is not given back to the free stack until a
 * block of the journal naming it is durable (compact.c, free_seg); a checkpoint records
 * the serial of the last block durable at its instant T (ckpt_hdr.jdone). A crash open
 * then reads block 0 of the segments the checkpoint holds as free and of those named by
 * the blocks after jdone, and takes every other segment's use from the checkpoint: it
 * held that use at T and was not freed since, so nothing was written into it after T
 * but from the checkpoint's position of an open segment (which phase 2 reads).
 *
 * The file is a ring of SEGJ_SLOTS slots of 8 KiB; block serial s goes to slot
 * s % slots, written twice in the slot (copies A and B, one O_DIRECT RWF_DSYNC write), so
 * that damage to one copy at rest leaves the other, and a write torn by a crash leaves a
 * whole copy of either the new block or the old one. A block (4 KiB): magic, journal id,
 * serial, count, then count segment numbers, and an XXH3 of the rest seeded with the
 * directory's seed in the last 8 bytes. One block is in flight at a time; segments freed
 * meanwhile wait for the next.
 *
 * An open uses the journal only when it proves complete after jdone: same journal id as
 * the checkpoint, no slot with both copies damaged, every serial from jdone to the
 * newest present, and jdone's own block not yet overwritten (fewer than slots blocks
 * since). Else phase 1 reads every segment as before (the log says why), which is always
 * correct. A checkpoint is requested once half the ring was written since the last one
 * (ckpt_tick), so that overwriting stays rare.
 *
 * Only with checkpoints while running (roll_forward, ckpt.c): without them there is no
 * crash restart from a checkpoint and segments are freed at once, as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"
#include "vfs.h"

#define SEGJ_NAME      "logstor.segj"
#define SEGJ_MAGIC     UINT64_C(0x31304a474553534c) /* "LSSEGJ01" */
#define SEGJ_BLOCK     4096u
#define SEGJ_SLOT      (2 * SEGJ_BLOCK)
#define SEGJ_SLOTS     512u /* 4 MiB */
#define SEGJ_SIM_SLOTS 8u   /* the simulator wraps the ring often */
#define SEGJ_HDR       32u
#define SEGJ_MAX       ((SEGJ_BLOCK - SEGJ_HDR - 8) / 4)

struct segj_hdr {
    uint64_t magic, jid, serial;
    uint32_t n, pad;
};
_Static_assert(sizeof(struct segj_hdr) == SEGJ_HDR, "segment journal block header");

struct segj {
    int fd;           /* -1: no journal (segments are freed at once) */
    uint32_t slots;   /* ring size */
    uint64_t jid;     /* this journal's id (random, never 0) */
    uint64_t done;    /* the last block durable: its segments released */
    uint64_t ck_done; /* jdone of the newest durable checkpoint */
    uint32_t *pend;   /* freed, waiting for a block (at most nsegs) */
    uint32_t npend;
    uint32_t fly[SEGJ_MAX]; /* in the block in flight */
    uint32_t nfly;
    int busy, retry;
    uint8_t *buf; /* SEGJ_SLOT bytes, aligned */
    struct uio_req req;
    struct ls_engine *e;
    /* what the open read (NULL once recovery is over) */
    uint8_t *img;     /* slots * SEGJ_BLOCK: each slot's newest valid copy (zeros: none) */
    uint64_t img_max; /* the newest serial found */
    uint64_t img_jid; /* its journal id */
    int img_bad;      /* a slot with both copies damaged, or another journal's blocks */
};

struct sync_req {
    struct uio_req req;
    int res;
};

static void sync_done(struct uio_req *req, int res)
{
    ((struct sync_req *)req->arg)->res = res;
}

/* One read or RWF_DSYNC write, waited for (the open). 0 or -errno. */
static int sync_io(struct ls_engine *e, int fd, uint8_t op, void *buf, uint64_t off, uint32_t len)
{
    struct sync_req r = {.res = -EIO};

    r.req = (struct uio_req){.cb = sync_done,
                             .arg = &r,
                             .buf = buf,
                             .off = off,
                             .len = len,
                             .fd = fd,
                             .op = op,
                             .dsync = op == UIO_WRITE};
    uio_queue(e->u, &r.req);
    int rc = eng_io_wait(e);
    if (rc < 0)
        return rc;
    return r.res == (int)len ? 0 : r.res < 0 ? r.res : -EIO;
}

/* Fills j->buf with block s naming n segments (from g), both copies. */
static void fill_block(struct segj *j, uint64_t s, const uint32_t *g, uint32_t n)
{
    struct segj_hdr h = {.magic = SEGJ_MAGIC, .jid = j->jid, .serial = s, .n = n};

    memset(j->buf, 0, SEGJ_BLOCK);
    memcpy(j->buf, &h, sizeof(h));
    if (n)
        memcpy(j->buf + SEGJ_HDR, g, sizeof(uint32_t) * n);
    uint64_t sum = XXH3_64bits_withSeed(j->buf, SEGJ_BLOCK - 8, j->e->seed);
    memcpy(j->buf + SEGJ_BLOCK - 8, &sum, 8);
    memcpy(j->buf + SEGJ_BLOCK, j->buf, SEGJ_BLOCK);
}

static int block_ok(const uint8_t *b, uint64_t seed, uint32_t slot, uint32_t slots,
                    struct segj_hdr *h)
{
    uint64_t sum;

    memcpy(h, b, sizeof(*h));
    memcpy(&sum, b + SEGJ_BLOCK - 8, 8);
    return h->magic == SEGJ_MAGIC && h->n <= SEGJ_MAX && h->serial && h->jid &&
           h->serial % slots == slot && XXH3_64bits_withSeed(b, SEGJ_BLOCK - 8, seed) == sum;
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Reads the whole ring into j->img. 0, or -errno (the open fails: a read error). */
static int read_ring(struct ls_engine *e, struct segj *j)
{
    size_t len = (size_t)j->slots * SEGJ_SLOT;
    uint8_t *raw = uio_alloc(len);
    int rc = 0;

    j->img = calloc(j->slots, SEGJ_BLOCK);
    if (!raw || !j->img) {
        uio_free(raw);
        return -ENOMEM;
    }
    rc = sync_io(e, j->fd, UIO_READ, raw, 0, (uint32_t)len);
    for (uint32_t k = 0; k < j->slots && rc >= 0; k++) {
        uint64_t best = 0;
        int bad = 0;
        for (int c = 0; c < 2; c++) {
            const uint8_t *b = raw + (size_t)k * SEGJ_SLOT + (size_t)c * SEGJ_BLOCK;
            struct segj_hdr h;
            if (all_zero(b, SEGJ_BLOCK))
                continue;
            if (!block_ok(b, e->seed, k, j->slots, &h)) {
                bad++;
                continue;
            }
            if (j->img_jid && h.jid != j->img_jid) {
                j->img_bad = 1; /* blocks of two journals: not one history */
                continue;
            }
            j->img_jid = h.jid;
            if (h.serial > best) {
                best = h.serial;
                memcpy(j->img + (size_t)k * SEGJ_BLOCK, b, SEGJ_BLOCK);
            }
        }
        if (bad == 2)
            j->img_bad = 1;
        if (best > j->img_max)
            j->img_max = best;
    }
    /* once the ring has gone round, no slot is unwritten: one read as zeros lost its
     * blocks (zeroed), and a newest one could be among them */
    for (uint32_t k = 0; k < j->slots && rc >= 0 && j->img_max >= j->slots; k++)
        if (all_zero(j->img + (size_t)k * SEGJ_BLOCK, SEGJ_BLOCK))
            j->img_bad = 1;
    uio_free(raw);
    return rc < 0 ? rc : 0;
}

int segj_open(struct ls_engine *e)
{
    struct segj *j = calloc(1, sizeof(*j));
    int rc;

    if (!j)
        return -ENOMEM;
    j->fd = -1;
    j->e = e;
    j->slots = e->cfg.sim ? SEGJ_SIM_SLOTS : SEGJ_SLOTS;
    e->sj = j;
    if (e->cfg.read_only || !eng_roll_forward(e))
        return 0; /* recovery scans every segment's head, and nothing is journaled */
    rc = vfs_data_open(e->cfg.sim, e->dir_fd, SEGJ_NAME, 0, 0, &j->fd);
    if (rc == -ENOENT)
        return 0; /* made after recovery */
    if (rc < 0)
        return rc;
    int64_t size = vfs_size(e->cfg.sim, j->fd);
    if (size != (int64_t)j->slots * SEGJ_SLOT) {
        j->img_bad = 1; /* not ours as it is: remade after recovery */
        return size < 0 ? (int)size : 0;
    }
    return read_ring(e, j);
}

const char *segj_candidates(struct ls_engine *e, uint64_t jid, uint64_t jdone, uint8_t *cand)
{
    struct segj *j = e->sj;

    if (!jid || !jdone)
        return "the checkpoint names no segment journal";
    if (!j || !j->img)
        return "the segment journal (" SEGJ_NAME ") is missing";
    if (j->img_bad)
        return "the segment journal has damaged blocks";
    if (j->img_jid != jid)
        return "the segment journal is not the one the checkpoint names";
    if (jdone > j->img_max) {
        j->img_bad = 1; /* an older copy of it: never continued (serials would repeat) */
        return "the segment journal ends before the checkpoint";
    }
    if (j->img_max - jdone >= j->slots)
        return "the segment journal wrapped over the checkpoint's blocks";
    for (uint64_t s = jdone; s <= j->img_max; s++) {
        const uint8_t *b = j->img + (size_t)(s % j->slots) * SEGJ_BLOCK;
        struct segj_hdr h;
        memcpy(&h, b, sizeof(h));
        if (h.serial != s || h.jid != jid) {
            j->img_bad = 1; /* not one history: made anew */
            return "the segment journal misses blocks after the checkpoint";
        }
        if (s == jdone)
            continue;
        const uint32_t *g = (const uint32_t *)(const void *)(b + SEGJ_HDR);
        for (uint32_t i = 0; i < h.n; i++)
            if (g[i] < e->sm.nsegs)
                cand[g[i]] = 1;
    }
    j->ck_done = jdone;
    return NULL;
}

int segj_start(struct ls_engine *e)
{
    struct segj *j = e->sj;
    int rc = 0;

    if (!j || e->cfg.read_only || !eng_roll_forward(e)) {
        if (j) {
            free(j->img);
            j->img = NULL;
        }
        return 0;
    }
    int fresh = j->fd < 0 || j->img_bad || !j->img || !j->img_jid;
    free(j->img);
    j->img = NULL;
    j->pend = malloc(sizeof(uint32_t) * (e->sm.nsegs ? e->sm.nsegs : 1));
    j->buf = uio_alloc(SEGJ_SLOT);
    if (!j->pend || !j->buf)
        return -ENOMEM;
    if (fresh) {
        /* a new journal: zeros, and an id no checkpoint names (the one there was, if any,
         * described a history this journal does not hold: its opens scan every head) */
        if (j->fd < 0)
            rc = vfs_data_open(e->cfg.sim, e->dir_fd, SEGJ_NAME, 1, 0, &j->fd);
        if (rc == 0)
            rc = vfs_fill(e->cfg.sim, j->fd, 0, (uint64_t)j->slots * SEGJ_SLOT);
        if (rc == 0)
            rc = vfs_sync_dir(e->cfg.sim, e->dir_fd);
        while (rc == 0 && !j->jid)
            rc = vfs_random(e->cfg.sim, &j->jid, sizeof(j->jid));
        if (rc == 0) { /* block 1, empty: the id is on disk before a checkpoint names it */
            fill_block(j, 1, NULL, 0);
            rc = sync_io(e, j->fd, UIO_WRITE, j->buf, SEGJ_SLOT, SEGJ_SLOT);
        }
        if (rc < 0) {
            eng_log(e, LS_LOG_WARN,
                    "%s/%s could not be made (%s): crash restarts read the head of every "
                    "segment",
                    e->dir, SEGJ_NAME, strerror(-rc));
            vfs_close(e->cfg.sim, j->fd);
            j->fd = -1;
            return 0;
        }
        j->done = j->ck_done = 1;
        return 0;
    }
    j->jid = j->img_jid;
    j->done = j->img_max;
    if (!j->ck_done || j->ck_done > j->img_max)
        j->ck_done = j->img_max;
    return 0;
}

void segj_free(struct ls_engine *e)
{
    struct segj *j = e->sj;

    if (!j)
        return;
    vfs_close(e->cfg.sim, j->fd);
    free(j->img);
    free(j->pend);
    uio_free(j->buf);
    free(j);
    e->sj = NULL;
}

int segj_active(const struct ls_engine *e)
{
    return e->sj && e->sj->fd >= 0;
}

void segj_ids(const struct ls_engine *e, uint64_t *jid, uint64_t *jdone)
{
    *jid = segj_active(e) ? e->sj->jid : 0;
    *jdone = segj_active(e) ? e->sj->done : 0;
}

void segj_ckpt_durable(struct ls_engine *e, uint64_t jid, uint64_t jdone)
{
    if (segj_active(e) && jid == e->sj->jid && jdone > e->sj->ck_done)
        e->sj->ck_done = jdone;
}

int segj_pressure(const struct ls_engine *e)
{
    const struct segj *j = e->sj;

    return segj_active(e) && j->done - j->ck_done >= j->slots / 2;
}

static void write_done(struct uio_req *req, int res);

static void issue(struct segj *j)
{
    struct ls_engine *e = j->e;

    if (j->busy || !j->npend || e->failed)
        return;
    j->nfly = j->npend < SEGJ_MAX ? j->npend : SEGJ_MAX;
    memcpy(j->fly, j->pend, sizeof(uint32_t) * j->nfly);
    memmove(j->pend, j->pend + j->nfly, sizeof(uint32_t) * (j->npend - j->nfly));
    j->npend -= j->nfly;
    uint64_t s = j->done + 1;
    fill_block(j, s, j->fly, j->nfly);
    j->req = (struct uio_req){.cb = write_done,
                              .arg = j,
                              .buf = j->buf,
                              .off = (s % j->slots) * (uint64_t)SEGJ_SLOT,
                              .len = SEGJ_SLOT,
                              .fd = j->fd,
                              .op = UIO_WRITE,
                              .dsync = 1};
    j->busy = 1;
    uio_queue(e->u, &j->req);
    uio_submit(e->u);
}

static void write_done(struct uio_req *req, int res)
{
    struct segj *j = req->arg;
    struct ls_engine *e = j->e;

    j->busy = 0;
    if (res != (int)SEGJ_SLOT) {
        /* not durable: its segments wait (the same serial is written again, with them,
         * at the next tick; a torn copy of this one names no segment released) */
        e->st.segj_failures++;
        if (!j->retry)
            eng_log(e, LS_LOG_WARN,
                    "%s/%s: a write failed (%s): freed segments wait until it succeeds", e->dir,
                    SEGJ_NAME, res < 0 ? strerror(-res) : "short write");
        memmove(j->pend + j->nfly, j->pend, sizeof(uint32_t) * j->npend);
        memcpy(j->pend, j->fly, sizeof(uint32_t) * j->nfly);
        j->npend += j->nfly;
        j->nfly = 0;
        j->retry = 1;
        return;
    }
    j->retry = 0;
    j->done++;
    e->st.segj_writes++;
    for (uint32_t i = 0; i < j->nfly; i++)
        compact_journaled(e, j->fly[i]);
    j->nfly = 0;
    seg_rebuild_free(&e->sm);
    issue(j);
}

void segj_add(struct ls_engine *e, uint32_t g)
{
    struct segj *j = e->sj;

    j->pend[j->npend++] = g;
    if (!j->retry)
        issue(j);
}

void segj_tick(struct ls_engine *e)
{
    if (segj_active(e))
        issue(e->sj);
}

uint32_t segj_pending(const struct ls_engine *e)
{
    return segj_active(e) ? e->sj->npend + e->sj->nfly : 0;
}
