/*
 * seg.c - data files, segments and their descriptors.
 *
 * The log lives in files data-NNNNNN.lsd of file_size bytes (default 32 MiB), each
 * holding segments of seg_size bytes (default 128 KiB). A segment is named by its global
 * number g: file g / segs_per_file, offset (g % segs_per_file) * seg_size. A byte of the
 * log has the global address g * seg_size + offset, which the index stores.
 *
 * Files are created when a segment inside them is about to be needed (half a file ahead,
 * by a thread: seg_prepare), so the disk budget (disk_size / file_size files) bounds the
 * space used without reserving it up front. A new file is preallocated with fallocate and then
 * written with zeros once (O_DIRECT, 1 MiB at a time): on ext4 a fallocated extent is "unwritten"
 * and the first O_DSYNC write into it must also commit the extent conversion to the journal, which
 * doubles the cost of every group commit; zeroing at creation pays that once per file.
 * The directory is fsynced after a file is created so the file survives a power loss.
 *
 * Free segments sit on a stack with the lowest number on top, so the log fills files
 * in order and stays compact.
 *
 * Closed segments sit in a histogram by free space (size - live - tomb bytes): log-linear
 * buckets, a power of two split into 8 sub-buckets, each a doubly linked list through
 * the descriptors, plus a bitmap of non-empty buckets. Compaction finds the emptiest
 * segments from the top bucket down without a scan, and a change of live bytes moves a
 * descriptor in O(1).
 */
#include "internal.h"
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A data file being made by a thread (seg_prepare, below). */
struct seg_prep {
    pthread_t th;
    uint32_t f;
    int fd, dir_fd, rc;
    uint64_t size;
    atomic_int done;
};

int seg_init(struct seg_mgr *m, const struct ls_config *cfg, int dir_fd)
{
    memset(m, 0, sizeof(*m));
    m->seg_size = cfg->segment_size;
    m->file_size = cfg->file_size;
    m->segs_per_file = cfg->file_size / cfg->segment_size;
    m->nfiles = (uint32_t)(cfg->disk_size / cfg->file_size);
    if (m->nfiles == 0)
        m->nfiles = 1;
    m->nsegs = m->nfiles * m->segs_per_file;
    m->dir_fd = dir_fd;
    m->sim = cfg->sim;
    m->read_only = cfg->read_only;
    m->fds = malloc(sizeof(int) * m->nfiles);
    m->d = calloc(m->nsegs, sizeof(*m->d));
    m->free_stack = malloc(sizeof(uint32_t) * m->nsegs);
    m->sort = malloc(sizeof(*m->sort) * m->nsegs);
    if (!m->fds || !m->d || !m->free_stack || !m->sort) {
        seg_fini(m);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < m->nfiles; i++)
        m->fds[i] = -1;
    m->room_files = UINT32_MAX; /* until the engine has looked (seg_room) */
    for (uint32_t i = 0; i < HB_COUNT; i++)
        m->hhead[i] = SEG_NONE;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        m->d[g].stale_min = UINT64_MAX;
        seg_release(m, g);
    }
    seg_rebuild_free(m);
    return 0;
}

/* ---- histogram ---- */

/* The buckets cover free space below 256 KiB (HB_COUNT): a larger segment's free space
 * is scaled to 128 KiB first (segment_size may be up to 64 MiB; a 1 MiB segment with
 * its records dead went into bucket 96, past the end of hhead, and wrote over the
 * engine). Scaling keeps the order, which is all compaction reads from the buckets. */
#define HB_SCALE (128u << 10)

static uint8_t bucket_of(const struct seg_mgr *m, const struct seg_desc *d)
{
    uint64_t f = seg_free_bytes(m, d);
    uint32_t v, msb;

    if (m->seg_size > HB_SCALE)
        f = f * HB_SCALE / m->seg_size;
    v = (uint32_t)f >> 6;
    if (v < 8)
        return (uint8_t)v;
    msb = 31 - (uint32_t)__builtin_clz(v);
    return (uint8_t)((msb - 2) * 8 + ((v >> (msb - 3)) & 7));
}
/* at most 2^17 free bytes: v at most 2^11, bucket at most (11 - 2) * 8 */
_Static_assert(HB_SCALE == 1u << 17 && (11 - 2) * 8 < HB_COUNT, "the buckets hold HB_SCALE");

static void hist_unlink(struct seg_mgr *m, uint32_t g)
{
    struct seg_desc *d = &m->d[g];
    uint8_t b = d->hb;

    if (b == HB_NONE)
        return;
    if (d->hprev != SEG_NONE)
        m->d[d->hprev].hnext = d->hnext;
    else
        m->hhead[b] = d->hnext;
    if (d->hnext != SEG_NONE)
        m->d[d->hnext].hprev = d->hprev;
    if (m->hhead[b] == SEG_NONE)
        m->hmask[b / 64] &= ~(UINT64_C(1) << (b % 64));
    d->hb = HB_NONE;
    d->hnext = d->hprev = SEG_NONE;
}

void seg_hist_update(struct seg_mgr *m, uint32_t g)
{
    struct seg_desc *d = &m->d[g];
    int listed = d->state == SEG_FULL && d->run == 1 && !(d->flags & SEGF_STUCK) && !d->snaps;
    uint8_t b = listed ? bucket_of(m, d) : HB_NONE;

    if (b == d->hb)
        return;
    hist_unlink(m, g);
    if (b == HB_NONE)
        return;
    d->hb = b;
    d->hprev = SEG_NONE;
    d->hnext = m->hhead[b];
    if (d->hnext != SEG_NONE)
        m->d[d->hnext].hprev = g;
    m->hhead[b] = g;
    m->hmask[b / 64] |= UINT64_C(1) << (b % 64);
}

int seg_hist_top(const struct seg_mgr *m, int below)
{
    for (int w = 1; w >= 0; w--) {
        uint64_t bits = m->hmask[w];
        if (below <= w * 64)
            continue;
        if (below < (w + 1) * 64)
            bits &= (UINT64_C(1) << (below - w * 64)) - 1;
        if (bits)
            return w * 64 + 63 - __builtin_clzll(bits);
    }
    return -1;
}

void seg_use(struct seg_mgr *m, uint32_t g, uint64_t seq, uint8_t state, uint32_t group)
{
    struct seg_desc *d = &m->d[g];
    uint16_t mem = d->mem_bufs;
    uint32_t readers = d->readers;
    uint16_t snaps = d->snaps;
    uint64_t stale = d->stale_min, freed_at = d->freed_at;

    hist_unlink(m, g);
    *d = (struct seg_desc){.seq = seq,
                           .min_rseq = UINT64_MAX,
                           .group = group,
                           .hnext = SEG_NONE,
                           .hprev = SEG_NONE,
                           .run = 1,
                           .stale_min = stale,
                           .freed_at = freed_at,
                           .readers = readers,
                           .snaps = snaps,
                           .mem_bufs = mem,
                           .state = state,
                           .hb = HB_NONE};
    seg_hist_update(m, g);
}

void seg_close(struct seg_mgr *m, uint32_t g)
{
    if (m->d[g].state == SEG_OPEN)
        m->d[g].state = SEG_FULL;
    seg_hist_update(m, g);
}

void seg_release(struct seg_mgr *m, uint32_t g)
{
    struct seg_desc *d = &m->d[g];
    /* Its records stay readable by recovery until a new use's block 0 is durable: the
     * dead PUTs among them still need their tombstones. */
    uint64_t stale =
        d->put_bytes > d->live && d->min_rseq < d->stale_min ? d->min_rseq : d->stale_min;

    seg_give_up(m, g);
    seg_use(m, g, d->seq, SEG_FREE, 0);
    d->min_rseq = UINT64_MAX;
    d->stale_min = stale;
}

void seg_give_up(struct seg_mgr *m, uint32_t g)
{
    struct seg_desc *d = &m->d[g];

    if (d->seq && !d->freed_at)
        d->freed_at = ++m->free_clock;
}

void seg_note_record(struct seg_desc *d, uint8_t type, uint32_t size, uint64_t rseq,
                     uint64_t expire_ms)
{
    if (type == REC_PUT) {
        d->put_bytes += size;
        if (rseq < d->min_rseq)
            d->min_rseq = rseq;
        if (expire_ms)
            d->flags |= SEGF_EXPIRING;
    } else {
        d->tomb += size;
    }
    if (rseq > d->max_rseq)
        d->max_rseq = rseq;
    if ((type != REC_PUT || expire_ms) && rseq > d->max_hider)
        d->max_hider = rseq;
}

void seg_fini(struct seg_mgr *m)
{
    if (m->prep) { /* a file being made: let the thread end; a restart completes it */
        pthread_join(m->prep->th, NULL);
        vfs_close(m->sim, m->prep->fd);
        free(m->prep);
    }
    if (m->fds)
        for (uint32_t i = 0; i < m->nfiles; i++)
            vfs_close(m->sim, m->fds[i]);
    free(m->fds);
    free(m->d);
    free(m->free_stack);
    free(m->sort);
    memset(m, 0, sizeof(*m));
}

static void file_name(char *buf, size_t n, uint32_t f)
{
    snprintf(buf, n, "data-%06u.lsd", f);
}

static int file_open(struct seg_mgr *m, uint32_t f, int create)
{
    char name[32];

    file_name(name, sizeof(name), f);
    return vfs_data_open(m->sim, m->dir_fd, name, create, m->read_only, &m->fds[f]);
}

/* The bookkeeping of file f's creation once its zeroing and the directory's sync ended
 * with rc: counted as made, or closed and removed on failure. Returns rc. */
static int file_made(struct seg_mgr *m, uint32_t f, int rc)
{
    char name[32];

    if (rc == 0)
        m->nfree_unmade -= m->nfree_unmade >= m->segs_per_file ? m->segs_per_file : m->nfree_unmade;
    if (rc == 0 && f + 1 > m->files_made) {
        uint32_t made = f + 1 - m->files_made;
        m->files_made = f + 1;           /* logstor.seq records it with the next number */
        if (m->room_files != UINT32_MAX) /* the room it took */
            m->room_files = m->room_files > made ? m->room_files - made : 0;
    }
    if (rc < 0) {
        vfs_close(m->sim, m->fds[f]);
        m->fds[f] = -1;
        file_name(name, sizeof(name), f);
        vfs_unlink(m->sim, m->dir_fd, name);
    }
    return rc;
}

/* Zeroes open file f and syncs the directory here, on the caller's thread, then does the
 * bookkeeping (file_made). Returns its outcome. */
static int file_fill_here(struct seg_mgr *m, uint32_t f)
{
    int rc = vfs_fill(m->sim, m->fds[f], 0, m->file_size);

    if (rc == 0)
        rc = vfs_sync_dir(m->sim, m->dir_fd);
    return file_made(m, f, rc);
}

static int file_create(struct seg_mgr *m, uint32_t f)
{
    int rc = file_open(m, f, 1);

    m->file_stalls++;
    return rc < 0 ? rc : file_fill_here(m, f);
}

/* ---- files made ahead, off the event loop ----
 *
 * Zeroing a 32 MiB file takes tens of milliseconds; done on the event loop it held every
 * write acknowledged in the meantime (memtier at a fixed 3,700 SETs/s: p99.99 75 ms when
 * a file was made during the run, 14 ms when none was). seg_prepare makes the next file
 * in a thread of its own (fallocate, zeros, fdatasync, the directory's fsync: plain
 * system calls on a descriptor nothing else uses yet) while the loop goes on; the file
 * joins the log only once all of that succeeded. The loop collects the result at a later
 * seg_prepare, or waits for it when it needs a segment of that file first (the old
 * stall, now only when writes outrun the thread). A crash during preparation leaves a
 * file that holds no record (nothing is written to it before it is made): a restart
 * finds it short and completes it, or full size with zeros. The simulator makes files at
 * once (seg_add_file): its device has no time to save. */
static void *prep_main(void *arg)
{
    struct seg_prep *p = arg;
    int rc = vfs_fill(NULL, p->fd, 0, p->size);

    if (rc == 0)
        rc = vfs_sync_dir(NULL, p->dir_fd);
    p->rc = rc;
    atomic_store_explicit(&p->done, 1, memory_order_release);
    return NULL;
}

/* Ends the running preparation if it is done (or waits for it: wait). Returns 1 and sets
 * *rc to its outcome when it ended, else 0. */
static int prep_finish(struct seg_mgr *m, int wait, int *rc)
{
    struct seg_prep *p = m->prep;

    if (!wait && !atomic_load_explicit(&p->done, memory_order_acquire))
        return 0;
    pthread_join(p->th, NULL);
    m->prep = NULL;
    m->fds[p->f] = p->fd;
    *rc = file_made(m, p->f, p->rc);
    free(p);
    return 1;
}

int seg_open_existing(struct seg_mgr *m, void (*log)(void *, enum ls_log_level, const char *),
                      void *log_arg)
{
    char name[32], msg[160];
    int rc;

    for (uint32_t f = 0; f < m->nfiles; f++) {
        int64_t size;
        rc = file_open(m, f, 0);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            return rc;
        m->files_made = f + 1;
        if ((size = vfs_size(m->sim, m->fds[f])) < 0)
            return (int)size;
        if ((uint64_t)size < m->file_size && !m->read_only) {
            /* A crash while the file was being created: finish creating it. Nothing was
             * written to a file before it was complete, so its contents are zeros. */
            uint64_t from = (uint64_t)size & ~(uint64_t)(REC_BLOCK - 1);
            if (log) {
                file_name(name, sizeof(name), f);
                snprintf(msg, sizeof(msg), "%s is short (%lld bytes): completing it", name,
                         (long long)size);
                log(log_arg, LS_LOG_WARN, msg);
            }
            if ((rc = vfs_fill(m->sim, m->fds[f], from, m->file_size)) < 0)
                return rc;
        }
    }
    file_name(name, sizeof(name), m->nfiles);
    if (vfs_exists(m->sim, m->dir_fd, name) == 1) {
        snprintf(msg, sizeof(msg), "%s exists but disk_size allows only %u files", name, m->nfiles);
        if (log)
            log(log_arg, LS_LOG_ERROR, msg);
        return LS_ECONFIG;
    }
    return 0;
}

static int by_age_desc(const void *a, const void *b)
{
    const struct seg_age *x = a, *y = b;

    return x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

/* Free segments whose old use recovery could still read (freed_at set) go on top, the
 * one given up first on top: reusing them in that order bounds how long a freed use
 * stays readable, which the tombstones that hide its dead PUTs wait for (compact.c).
 * Below them the unused ones, lowest number on top, so files fill in order. */
static int file_usable(const struct seg_mgr *m, uint32_t f)
{
    /* a file being made has its space already: the filesystem's free space, looked at
     * meanwhile, no longer counts it (with less than a file left its segments left the
     * free stack, and came back only at the next rebuild after it was made) */
    return m->fds[f] >= 0 || f < m->files_made || (m->prep && m->prep->f == f) ||
           f - m->files_made < m->room_files;
}

uint32_t seg_usable(const struct seg_mgr *m)
{
    uint32_t n = 0;

    for (uint32_t f = 0; f < m->nfiles; f++)
        n += file_usable(m, f) ? m->segs_per_file : 0;
    return n;
}

int seg_room(struct seg_mgr *m, uint64_t free_bytes)
{
    uint64_t room = free_bytes / m->file_size;
    uint32_t before = seg_usable(m);

    m->room_files = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
    if (seg_usable(m) == before)
        return 0;
    seg_rebuild_free(m);
    return 1;
}

void seg_rebuild_free(struct seg_mgr *m)
{
    uint32_t n = 0;

    m->nfree = m->nfree_unmade = 0;
    for (uint32_t g = m->nsegs; g-- > 0;) {
        if (m->d[g].state != SEG_FREE || (m->d[g].flags & (SEGF_BLANKING | SEGF_RESERVED)) ||
            !file_usable(m, g / m->segs_per_file))
            continue;
        m->nfree_unmade += m->fds[g / m->segs_per_file] < 0;
        if (m->d[g].freed_at)
            m->sort[n++] = (struct seg_age){.at = m->d[g].freed_at, .g = g};
        else
            m->free_stack[m->nfree++] = g;
    }
    m->nblank = m->nfree;
    qsort(m->sort, n, sizeof(*m->sort), by_age_desc);
    for (uint32_t i = 0; i < n; i++)
        m->free_stack[m->nfree++] = m->sort[i].g;
}

/* Creates segment g's file when it does not exist yet. A filesystem without room for it
 * makes every file not created yet unusable (LS_ENOSPACE, like a full disk_size: deletes
 * and compaction go on in the files there are) until seg_room sees room again; retrying
 * the creation at every allocation blocked the loop for seconds per DEL. */
/* A failed creation: no room on the filesystem makes every file not created yet
 * unusable (see ensure_file). Returns the code for the caller. */
static int create_failed(struct seg_mgr *m, int rc)
{
    if (rc == -ENOSPC || rc == -EDQUOT) {
        m->fs_full++;
        m->room_files = 0;
        seg_rebuild_free(m);
        return LS_ENOSPACE;
    }
    return rc;
}

static int ensure_file(struct seg_mgr *m, uint32_t g)
{
    uint32_t f = g / m->segs_per_file;
    int rc;

    if (m->fds[f] >= 0)
        return 0;
    if (m->prep && m->prep->f == f) {
        m->file_stalls++;
        prep_finish(m, 1, &rc);
    } else {
        rc = file_create(m, f);
    }
    return rc < 0 ? create_failed(m, rc) : 0;
}

void seg_prepare(struct seg_mgr *m)
{
    int rc;

    if (m->prep) {
        if (prep_finish(m, 0, &rc) && rc < 0)
            create_failed(m, rc);
        return;
    }
    if (m->sim || m->read_only) {
        seg_add_file(m);
        return;
    }
    uint32_t f = 0;
    while (f < m->nfiles && m->fds[f] >= 0)
        f++;
    if (f == m->nfiles || !file_usable(m, f))
        return;
    struct seg_prep *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    if ((rc = file_open(m, f, 1)) < 0) {
        free(p);
        create_failed(m, rc);
        return;
    }
    *p = (struct seg_prep){.f = f, .fd = m->fds[f], .dir_fd = m->dir_fd, .size = m->file_size};
    atomic_init(&p->done, 0);
    m->fds[f] = -1; /* not part of the log until made */
    m->prep = p;
    if (pthread_create(&p->th, NULL, prep_main, p) != 0) {
        m->prep = NULL; /* no thread: make it here, as before */
        m->fds[f] = p->fd;
        m->file_stalls++;
        free(p);
        if ((rc = file_fill_here(m, f)) < 0)
            create_failed(m, rc);
    }
}

int seg_add_file(struct seg_mgr *m)
{
    for (uint32_t f = 0; f < m->nfiles; f++)
        if (m->fds[f] < 0)
            return file_usable(m, f) ? ensure_file(m, f * m->segs_per_file) : LS_ENOSPACE;
    return LS_ENOSPACE;
}

int64_t seg_alloc(struct seg_mgr *m, int may_blank)
{
    uint32_t g;
    int rc;

    if (m->nfree == 0 || (m->nfree <= m->nblank && m->nblank <= SEG_BLANK_KEEP && !may_blank))
        return LS_ENOSPACE;
    g = m->free_stack[m->nfree - 1];
    rc = ensure_file(m, g);
    if (rc < 0)
        return rc;
    m->nfree--;
    if (m->nblank > m->nfree)
        m->nblank = m->nfree; /* it was blank */
    return g;
}

int64_t seg_alloc_run(struct seg_mgr *m, uint32_t n)
{
    uint32_t spf = m->segs_per_file;
    int rc;

    if (n == 0 || n > spf)
        return LS_ENOSPACE;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        uint32_t have = 0;
        if (!file_usable(m, f))
            continue;
        for (uint32_t i = 0; i < spf; i++) {
            uint32_t g = f * spf + i;
            have = m->d[g].state == SEG_FREE && !(m->d[g].flags & SEGF_BLANKING) ? have + 1 : 0;
            if (have < n)
                continue;
            g -= n - 1;
            rc = ensure_file(m, g);
            if (rc < 0)
                return rc;
            for (uint32_t k = 0; k < n; k++)
                m->d[g + k].state = SEG_CONT; /* caller sets the first */
            seg_rebuild_free(m);
            return g;
        }
    }
    return LS_ENOSPACE;
}

int seg_fd(const struct seg_mgr *m, uint64_t addr, uint64_t *file_off)
{
    uint64_t f = addr / m->file_size;

    if (f >= m->nfiles)
        return -1;
    *file_off = addr % m->file_size;
    return m->fds[f];
}

int seg_check(const struct seg_mgr *m)
{
    uint32_t nfree = 0;

    for (uint32_t g = 0; g < m->nsegs; g++)
        nfree += m->d[g].state == SEG_FREE;
    if (nfree < m->nfree)
        return -1;
    for (uint32_t i = 0; i < m->nfree; i++)
        if (m->d[m->free_stack[i]].state != SEG_FREE ||
            (m->d[m->free_stack[i]].flags & (SEGF_BLANKING | SEGF_RESERVED)) ||
            (i < m->nblank) != !m->d[m->free_stack[i]].freed_at)
            return -2; /* blank ones, and only they, at the bottom */
    for (uint32_t i = 1; i < m->nfree; i++) {
        const struct seg_desc *lo = &m->d[m->free_stack[i - 1]], *hi = &m->d[m->free_stack[i]];
        if (lo->freed_at && !hi->freed_at)
            return -3; /* readable old uses are reused first */
        if (lo->freed_at && hi->freed_at > lo->freed_at)
            return -3; /* the one given up first on top */
        if (!hi->freed_at && m->free_stack[i] > m->free_stack[i - 1])
            return -3; /* unused ones: lowest number on top */
    }
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        int listed = d->state == SEG_FULL && d->run == 1 && !(d->flags & SEGF_STUCK) && !d->snaps;
        if (listed != (d->hb != HB_NONE) || (listed && d->hb != bucket_of(m, d)))
            return -4;
    }
    for (uint32_t b = 0; b < HB_COUNT; b++) {
        int n = 0;
        for (uint32_t g = m->hhead[b]; g != SEG_NONE && n >= 0; g = m->d[g].hnext, n++)
            if (m->d[g].hb != b)
                return -5;
        if ((n > 0) != !!(m->hmask[b / 64] & (UINT64_C(1) << (b % 64))))
            return -6;
    }
    return 0;
}
