/*
 * fence.c - buffers fenced off by a failed write (the file logstor.fence).
 *
 * When a device write fails, the engine fails that buffer and every buffer after it
 * (wbuf.c, fail_from): their writes are reported failed and reverted in memory. But
 * buffers already in flight may still reach the disk, and the failed one may have
 * reached it in part; recovery would then apply records whose writes were reported as
 * failed. So before any failure is reported, the engine writes the list of those
 * buffers, by (segment, offset, segment use), to logstor.fence (atomically, fsynced);
 * recovery and compaction treat a fenced buffer as if it had never been written. A
 * write reported failed therefore never comes back (issue 11, defect 5). If even this
 * file cannot be written (the filesystem refuses everything), the failure is logged
 * and the outcome of those writes after a restart is unknown (README, Durability).
 *
 * An entry is needed while the fenced bytes may still be read: a newer use of its
 * segment is not enough, since losing that use's first write brings the old header back
 * (fence_prune). Entries are kept until there are FENCE_KEEP per segment; an open then
 * drops the ones a newer use has superseded. Entries
 * are kept sorted for binary search; the set is empty (and the check one branch) in a
 * directory that never saw a failed write.
 *
 * File layout (little-endian): magic "LSFENCE1" (8), count (4), reserved (4), count
 * entries of 16 bytes (segment u32, offset u32, sequence number u64), xxh3-64 of all
 * the bytes before it (8).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"
#include "vfs.h"

#define FENCE_NAME  "logstor.fence"
#define FENCE_MAGIC UINT64_C(0x3145434e4546534c) /* "LSFENCE1" */
#define FENCE_HDR   16u

static int ent_cmp(const void *a, const void *b)
{
    const struct fence_ent *x = a, *y = b;

    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int fence_has(const struct ls_engine *e, uint32_t seg, uint32_t off, uint64_t seq)
{
    struct fence_ent k = {.seg = seg, .off = off, .seq = seq};

    return e->nfence && bsearch(&k, e->fence, e->nfence, sizeof(k), ent_cmp) != NULL;
}

static int fence_write(struct ls_engine *e)
{
    size_t len = FENCE_HDR + (size_t)e->nfence * sizeof(struct fence_ent) + 8;
    uint8_t *buf;
    uint64_t magic = FENCE_MAGIC, sum;
    uint32_t n = e->nfence, zero = 0;
    int rc;

    if (!e->nfence) {
        rc = vfs_unlink(e->cfg.sim, e->dir_fd, FENCE_NAME);
        return rc == -ENOENT ? 0 : rc;
    }
    if (!(buf = malloc(len)))
        return -ENOMEM;
    memcpy(buf, &magic, 8);
    memcpy(buf + 8, &n, 4);
    memcpy(buf + 12, &zero, 4);
    memcpy(buf + FENCE_HDR, e->fence, (size_t)n * sizeof(struct fence_ent));
    sum = XXH3_64bits(buf, len - 8);
    memcpy(buf + len - 8, &sum, 8);
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, FENCE_NAME, buf, len);
    free(buf);
    return rc;
}

int fence_load(struct ls_engine *e)
{
    uint8_t hdr[FENCE_HDR], *buf;
    uint64_t magic, sum;
    uint32_t n;
    size_t len;
    int64_t got = vfs_read_file(e->cfg.sim, e->dir_fd, FENCE_NAME, hdr, sizeof(hdr));

    if (got == -ENOENT)
        return 0;
    if (got < 0)
        return (int)got;
    memcpy(&magic, hdr, 8);
    memcpy(&n, hdr + 8, 4);
    if (got != FENCE_HDR || magic != FENCE_MAGIC || n > e->sm.nsegs * 64u)
        goto damaged;
    len = FENCE_HDR + (size_t)n * sizeof(struct fence_ent) + 8;
    if (!(buf = malloc(len)))
        return -ENOMEM;
    got = vfs_read_file(e->cfg.sim, e->dir_fd, FENCE_NAME, buf, len);
    memcpy(&sum, buf + len - 8, 8);
    if (got != (int64_t)len || XXH3_64bits(buf, len - 8) != sum) {
        free(buf);
        goto damaged;
    }
    e->fence = malloc((size_t)(n ? n : 1) * sizeof(struct fence_ent));
    if (!e->fence) {
        free(buf);
        return -ENOMEM;
    }
    memcpy(e->fence, buf + FENCE_HDR, (size_t)n * sizeof(struct fence_ent));
    e->nfence = n;
    free(buf);
    qsort(e->fence, n, sizeof(*e->fence), ent_cmp);
    return 0;
damaged:
    /* Without it, writes reported failed could come back: refuse to guess. */
    eng_log(e, LS_LOG_ERROR,
            "%s/%s is damaged; it lists writes that failed and must stay "
            "invisible",
            e->dir, FENCE_NAME);
    return LS_ECORRUPT;
}

int fence_add(struct ls_engine *e, const struct fence_ent *add, uint32_t n)
{
    struct fence_ent *v = realloc(e->fence, (size_t)(e->nfence + n) * sizeof(*v));
    int rc;

    if (!v)
        return -ENOMEM;
    memcpy(v + e->nfence, add, (size_t)n * sizeof(*v));
    e->fence = v;
    e->nfence += n;
    qsort(e->fence, e->nfence, sizeof(*e->fence), ent_cmp);
    rc = fence_write(e);
    if (rc < 0)
        eng_log(e, LS_LOG_ERROR,
                "cannot record the %u buffers of failed writes in %s/%s (%s): after a "
                "restart their outcome is unknown",
                n, e->dir, FENCE_NAME, ls_strerror(rc));
    return rc;
}

/* Entries kept before any is pruned: FENCE_KEEP per segment. */
#define FENCE_KEEP 16u

int fence_prune(struct ls_engine *e)
{
    uint32_t k = 0;

    /* A newer use of the segment does not make an entry safe to drop: if that use's
     * first write is lost or damaged later (a crash, a failed write, a bad block),
     * recovery can find the fenced buffer's header again at its offset and apply the
     * failed writes' records over what was acknowledged since (the simulator, seed
     * 1010172 with --checkpoints --snapshots: a value whose write was reported failed
     * came back three restarts later, after its entry had been dropped). An entry of an
     * older use never hides a newer use's data (the match includes the use), so entries
     * are kept until there are FENCE_KEEP per segment, far more than write failures
     * leave in practice (each fences at most the buffers in flight, and the engine then
     * refuses writes until a restart). */
    if (e->cfg.read_only || e->nfence <= (uint64_t)e->sm.nsegs * FENCE_KEEP)
        return 0;
    for (uint32_t i = 0; i < e->nfence; i++)
        if (e->fence[i].seg < e->sm.nsegs && e->sm.d[e->fence[i].seg].seq <= e->fence[i].seq)
            e->fence[k++] = e->fence[i];
    if (k == e->nfence)
        return 0;
    e->nfence = k;
    return fence_write(e);
}
