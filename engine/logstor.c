/*
 * logstor.c - the engine's public API: open/close, the read path, expiry sweep (scans: scan.c),
 * stats.
 *
 * Opening a directory: take an exclusive lock (LOCK), read or create logstor.meta (format
 * version, sizes, the checksum seed), probe that the filesystem accepts O_DIRECT, open
 * the data files and rebuild the index (recov.c).
 *
 * A get is an index lookup, then one io_uring read of just the blocks that hold the
 * record (or a copy from a write buffer that is not yet on disk), then the checksum and
 * the stored key are verified before the value is handed to the callback. Work that
 * must not run inside the submitting call (callbacks of reads served from memory, acks
 * in periodic mode) is queued and run by ls_poll; the eventfd is poked so the caller's
 * loop comes back. Submissions are batched: a get queues its read and the whole batch
 * goes to the kernel in one io_uring_submit at the next ls_poll.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "token.h"
#include "vfs.h"

#define META_NAME  "logstor.meta"
#define META_MAGIC UINT64_C(0x31304154454d534c) /* "LSMETA01" */

struct meta {
    uint64_t magic;
    uint32_t version;
    uint32_t segment_size;
    uint32_t file_size;
    uint32_t features; /* META_FEAT_* (0 before any existed) */
    uint64_t seed;
    uint64_t created_ms;
    uint64_t reserved[2];
    uint64_t checksum; /* xxh3-64 of bytes 0..55 */
};
_Static_assert(sizeof(struct meta) == 64, "meta is 64 bytes");

void ls_config_default(struct ls_config *c)
{
    memset(c, 0, sizeof(*c));
    c->dir = "./data";
    c->disk_size = UINT64_C(1) << 30;
    c->segment_size = 128u << 10;
    c->file_size = 32u << 20;
    c->tables = 16;
    c->max_key_size = 65536;
    c->max_value_size = 1u << 20;
    c->durability = LS_SYNC;
    c->flush_interval_ms = 100;
    c->write_buffers = 8;
    c->group_commit_us = 0;
    c->max_pending_bytes = UINT64_C(64) << 20;
    c->queue_depth = 256;
    c->cache_size = UINT64_C(64) << 20;
    c->progress_interval_ms = 1000;
    c->compact_policy = LS_COMPACT_GREEDY;
    c->compaction_groups = 4;
    c->separator_memory = UINT64_C(8) << 20;
}

uint64_t eng_now_ms(const struct ls_engine *e)
{
    struct timespec ts;

    if (e->cfg.clock_ms)
        return e->cfg.clock_ms(e->cfg.clock_arg);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t eng_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void eng_expiry_seen(struct ls_engine *e, uint64_t now)
{
    if (now > e->expiry_seen_ms)
        e->expiry_seen_ms = now;
}

void eng_log(const struct ls_engine *e, enum ls_log_level lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!e->cfg.log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->cfg.log(e->cfg.log_arg, lvl, msg);
}

const char *ls_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case LS_ENOTFOUND:
        return "key not found";
    case LS_ECORRUPT:
        return "corrupt data on disk (checksum or format check failed)";
    case LS_EFAILED:
        return "engine failed after a device error; writes refused";
    case LS_ETOOBIG:
        return "key or value too large";
    case LS_EBUSY:
        return "write backlog full";
    case LS_ENOSPACE:
        return "disk full (no free segment within disk_size)";
    case LS_EBADTABLE:
        return "table number out of range";
    case LS_EFORMAT:
        return "data directory has an incompatible format version";
    case LS_ECONFIG:
        return "invalid configuration";
    case LS_ECLOSING:
        return "engine closing";
    case LS_EINVAL:
        return "argument out of range";
    default:
        return rc < 0 && rc > -4096 ? strerror(-rc) : "unknown error";
    }
}

uint64_t ls_max_value(uint64_t file_size, uint32_t key_len)
{
    uint64_t over = BUF_HDR_SIZE + REC_HDR_SIZE + (uint64_t)key_len + 7;

    return file_size > over ? file_size - over : 0;
}

static int check_config(const struct ls_config *c)
{
    if (!c->dir || !*c->dir || c->segment_size < 16384 || c->segment_size % REC_BLOCK ||
        c->file_size < c->segment_size || c->file_size % c->segment_size ||
        c->file_size / c->segment_size > 65535 || c->tables == 0 || c->tables > 65536 ||
        c->write_buffers < 4 || c->write_buffer_size < 8192 || c->write_buffer_size % REC_BLOCK ||
        c->write_buffer_size > c->segment_size || c->max_value_size > (64u << 20) ||
        c->max_key_size == 0 || c->max_key_size > (1u << 20) || c->queue_depth < 8 ||
        c->disk_size < c->file_size || c->disk_size / c->segment_size > (UINT64_C(1) << 32) ||
        c->disk_size > (IDX_ADDR_MASK << 3) || c->compaction_groups == 0 ||
        c->compaction_groups > 64 || (uint64_t)c->tables * c->compaction_groups > 65536 ||
        c->compact_policy > LS_COMPACT_COST_BENEFIT ||
        (c->compact_low && c->compact_low < LS_COMPACT_LOW_MIN) ||
        (c->compact_high && c->compact_high <= c->compact_low) ||
        c->max_value_size > ls_max_value(c->file_size, c->max_key_size))
        return LS_ECONFIG;
    return 0;
}

/* ---- data directory: lock, meta, O_DIRECT probe ---- */

/* Writes logstor.meta: a new one (seed drawn) when fresh, else the directory's own with
 * the features given. */
static int meta_store(struct ls_engine *e, int fresh, uint32_t features)
{
    struct meta m = {.magic = META_MAGIC,
                     .version = REC_FORMAT_VERSION,
                     .segment_size = e->cfg.segment_size,
                     .file_size = e->cfg.file_size,
                     .features = features,
                     .seed = e->seed,
                     .created_ms = fresh ? eng_now_ms(e) : e->meta_created_ms};
    int rc;

    if (fresh && (rc = vfs_random(e->cfg.sim, &m.seed, sizeof(m.seed))) < 0)
        return rc;
    m.checksum = XXH3_64bits(&m, offsetof(struct meta, checksum));
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, META_NAME, &m, sizeof(m));
    if (rc == 0) {
        e->seed = m.seed;
        e->meta_created_ms = m.created_ms;
        e->features = features;
    }
    return rc;
}

static int meta_write(struct ls_engine *e)
{
    return meta_store(e, 1, 0);
}

int feat_mark(struct ls_engine *e, uint32_t f)
{
    if ((e->features & f) == f)
        return 0;
    if (e->cfg.read_only)
        return -EROFS;
    int rc = meta_store(e, 0, e->features | f);
    if (rc < 0)
        eng_log(e, LS_LOG_ERROR, "%s/%s: feature bit 0x%x not written: %s", e->dir, META_NAME, f,
                strerror(-rc));
    return rc;
}

int eng_meta_read(struct simdev *sim, int dir_fd, struct eng_meta *out)
{
    struct meta m;
    int64_t n = vfs_read_file(sim, dir_fd, META_NAME, &m, sizeof(m));

    if (n < 0)
        return (int)n;
    if (n != sizeof(m) || m.magic != META_MAGIC ||
        XXH3_64bits(&m, offsetof(struct meta, checksum)) != m.checksum)
        return LS_ECORRUPT;
    if (m.version != REC_FORMAT_VERSION || (m.features & ~META_FEAT_KNOWN))
        return LS_EFORMAT;
    *out = (struct eng_meta){.version = m.version,
                             .segment_size = m.segment_size,
                             .file_size = m.file_size,
                             .features = m.features,
                             .seed = m.seed,
                             .created_ms = m.created_ms};
    return 0;
}

/* Is there anything a previous engine wrote in the directory (its meta file aside)? */
static int dir_has_data(struct ls_engine *e)
{
    char name[32];
    uint32_t nfiles = (uint32_t)(e->cfg.disk_size / e->cfg.file_size);

    if (vfs_exists(e->cfg.sim, e->dir_fd, "logstor.seq") == 1 ||
        vfs_exists(e->cfg.sim, e->dir_fd, "logstor.fence") == 1)
        return 1;
    for (uint32_t f = 0; f < nfiles + 1; f++) {
        snprintf(name, sizeof(name), "data-%06u.lsd", f);
        if (vfs_exists(e->cfg.sim, e->dir_fd, name) == 1)
            return 1;
    }
    return 0;
}

static int meta_load(struct ls_engine *e)
{
    struct eng_meta m;
    int rc = eng_meta_read(e->cfg.sim, e->dir_fd, &m);

    if (rc == -ENOENT && dir_has_data(e)) {
        /* A new meta would bring a new checksum seed: every record on disk would read as
         * damage and be overwritten in time. */
        eng_log(e, LS_LOG_ERROR,
                "%s holds data files but no %s (it holds the checksum seed they were written "
                "with); refusing to start: restore the file from a backup",
                e->dir, META_NAME);
        return LS_ECORRUPT;
    }
    if (rc == -ENOENT && e->cfg.read_only) {
        eng_log(e, LS_LOG_ERROR, "%s: no %s: not a logstor data directory", e->dir, META_NAME);
        return rc;
    }
    if (rc == -ENOENT)
        return meta_write(e);
    if (rc == LS_ECORRUPT)
        eng_log(e, LS_LOG_ERROR, "%s/%s is damaged or not a logstor meta file", e->dir, META_NAME);
    if (rc == LS_EFORMAT)
        eng_log(e, LS_LOG_ERROR,
                "%s: format version differs from this build's (%u), or the directory uses "
                "features this build does not know (logstor.meta)",
                e->dir, REC_FORMAT_VERSION);
    if (rc < 0)
        return rc;
    if (m.segment_size != e->cfg.segment_size || m.file_size != e->cfg.file_size) {
        eng_log(e, LS_LOG_ERROR,
                "%s was created with segment_size %u and file_size %u; configured %u and %u",
                e->dir, m.segment_size, m.file_size, e->cfg.segment_size, e->cfg.file_size);
        return LS_ECONFIG;
    }
    e->seed = m.seed;
    e->meta_created_ms = m.created_ms;
    e->features = m.features;
    return 0;
}

/* ---- segment sequence numbers: reserved in batches (logstor.seq) ---- */

#define SEQ_NAME   "logstor.seq"
#define SEQ_MAGIC  UINT64_C(0x3130514553534c) /* "LSSEQ01": 24 bytes, no file count */
#define SEQ_MAGIC2 UINT64_C(0x3230514553534c) /* "LSSEQ02" */
#define SEQ_BATCH  1024

struct seq_file {
    uint64_t magic;
    uint64_t reserved; /* every number used so far is <= this */
    uint32_t files;    /* data files created so far (LSSEQ02) */
    uint32_t pad;
    uint64_t checksum; /* xxh3-64 of the bytes above */
};

static int seq_write(struct ls_engine *e, uint64_t upto)
{
    struct seq_file sf = {.magic = SEQ_MAGIC2, .reserved = upto, .files = e->sm.files_made};
    int rc;

    sf.checksum = XXH3_64bits(&sf, offsetof(struct seq_file, checksum));
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, SEQ_NAME, &sf, sizeof(sf));
    if (rc == 0)
        e->seq_files = e->sm.files_made;
    return rc;
}

/* Reads logstor.seq: 0 with *reserved and *files set (0 when it is absent), or an error. */
static int seq_read(struct ls_engine *e, uint64_t *reserved, uint32_t *files)
{
    struct seq_file s = {0};
    int64_t n = vfs_read_file(e->cfg.sim, e->dir_fd, SEQ_NAME, &s, sizeof(s));

    *reserved = 0;
    *files = 0;
    if (n == -ENOENT)
        return 0;
    if (n < 0)
        return (int)n;
    uint64_t v1sum; /* LSSEQ01: the checksum sits where LSSEQ02 keeps the file count */
    memcpy(&v1sum, (const char *)&s + 16, sizeof(v1sum));
    if (n == 24 && s.magic == SEQ_MAGIC && XXH3_64bits(&s, 16) == v1sum) {
        *reserved = s.reserved;
        return 0;
    }
    if (n == sizeof(s) && s.magic == SEQ_MAGIC2 &&
        XXH3_64bits(&s, offsetof(struct seq_file, checksum)) == s.checksum) {
        *reserved = s.reserved;
        *files = s.files;
        return 0;
    }
    eng_log(e, LS_LOG_ERROR, "%s/%s is damaged", e->dir, SEQ_NAME);
    return LS_ECORRUPT;
}

int eng_seq_load(struct ls_engine *e)
{
    uint64_t reserved;
    uint32_t files;
    int rc = seq_read(e, &reserved, &files);

    if (rc < 0)
        return rc;
    if (!reserved && e->seq)
        eng_log(e, LS_LOG_WARN, "%s/%s missing: sequence numbers continue from the log", e->dir,
                SEQ_NAME);
    if (reserved > e->seq)
        e->seq = reserved;
    e->seq_reserved = e->seq;
    e->seq_files = files;
    return 0;
}

/* Data files that logstor.seq says were created, or that come before one that exists,
 * and are not there: counted as damage (recovery refuses to open without salvage). */
static int note_missing_files(struct ls_engine *e)
{
    uint64_t reserved;
    uint32_t files, want;
    int rc = seq_read(e, &reserved, &files);

    if (rc < 0)
        return rc;
    want = files > e->sm.files_made ? files : e->sm.files_made;
    for (uint32_t f = 0; f < want; f++) {
        if (f < e->sm.nfiles && e->sm.fds[f] >= 0)
            continue;
        eng_log(e, LS_LOG_ERROR, "%s/data-%06u.lsd is missing (%u data files were created)", e->dir,
                f, want);
        e->sm.missing_files++;
    }
    return 0;
}

int eng_seq_next(struct ls_engine *e, uint64_t *out)
{
    if (e->seq + 1 > e->seq_reserved || e->sm.files_made != e->seq_files) {
        /* a new batch, or a new data file to record (so a missing one is noticed) */
        uint64_t upto = e->seq + 1 > e->seq_reserved ? e->seq + SEQ_BATCH : e->seq_reserved;
        int rc = seq_write(e, upto);
        if (rc < 0) {
            eng_log(e, LS_LOG_ERROR, "cannot write %s/%s: %s", e->dir, SEQ_NAME, strerror(-rc));
            return rc;
        }
        e->seq_reserved = upto;
    }
    *out = ++e->seq;
    return 0;
}

static int probe_odirect(struct ls_engine *e)
{
    int rc = vfs_probe_odirect(e->cfg.sim, e->dir_fd);

    if (rc < 0)
        eng_log(e, LS_LOG_ERROR, "%s: the filesystem refuses O_DIRECT (%s)", e->dir, strerror(-rc));
    return rc;
}

static int dir_open(struct ls_engine *e)
{
    int rc = vfs_dir_open(e->cfg.sim, e->dir, e->cfg.read_only, &e->dir_fd);

    if (rc < 0) {
        eng_log(e, LS_LOG_ERROR, "cannot open or create %s: %s", e->dir, strerror(-rc));
        return rc;
    }
    if (e->cfg.read_only)
        return 0; /* inspection: takes no lock, so it works beside a running server */
    rc = vfs_lock(e->cfg.sim, e->dir_fd);
    if (rc == -EWOULDBLOCK) {
        eng_log(e, LS_LOG_ERROR, "%s is in use by another process", e->dir);
        return -EBUSY;
    }
    if (rc < 0)
        eng_log(e, LS_LOG_ERROR, "cannot lock %s: %s", e->dir, strerror(-rc));
    return rc;
}

static int tables_new(struct ls_engine *e)
{
    e->tables = calloc(e->cfg.tables, sizeof(*e->tables));
    if (!e->tables)
        return -ENOMEM;
    for (uint32_t i = 0; i < e->cfg.tables; i++)
        if (!(e->tables[i] = idx_new()))
            return -ENOMEM;
    return 0;
}

static int streams_new(struct ls_engine *e)
{
    e->ngroups = e->cfg.tables * e->cfg.compaction_groups;
    e->nstreams = 2 * e->ngroups;
    e->gs = calloc(e->nstreams, sizeof(*e->gs));
    e->flush_rseq = calloc(e->cfg.tables, sizeof(*e->flush_rseq));
    if (!e->gs || !e->flush_rseq)
        return -ENOMEM;
    e->user = e->ucold = (struct stream){.cur_seg = -1};
    e->spill[0] = e->spill[1] = (struct stream){.cur_seg = -1, .comp = 1};
    for (uint32_t i = 0; i < e->nstreams; i++)
        e->gs[i] = (struct stream){.cur_seg = -1, .group = i + 1, .comp = 1};
    return 0;
}

static void engine_free(struct ls_engine *e)
{
    if (e->tables)
        for (uint32_t i = 0; i < e->cfg.tables; i++)
            idx_free(e->tables[i]);
    free(e->tables);
    free(e->tmap);
    compact_free(e);
    segj_free(e);
    free(e->gs);
    free(e->flush_rseq);
    free(e->fence);
    free(e->ck_orphans);
    snap_free(e);
    rcache_free(e->cache);
    eng_scan_free(e);
    wbuf_free_all(e);
    seg_fini(&e->sm);
    uio_close(e->u);
    vfs_close(e->cfg.sim, e->dir_fd);
    free(e->dir);
    free(e);
}

static void look_for_room(struct ls_engine *e, int opening);

int ls_open(const struct ls_config *cfg, struct ls_engine **out)
{
    struct ls_engine *e;
    int rc;

    struct ls_config c;

    if (!cfg)
        return LS_ECONFIG;
    c = *cfg;
    if (c.write_buffer_size == 0)
        c.write_buffer_size = c.segment_size;
    if (check_config(&c) < 0)
        return LS_ECONFIG;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->cfg = c;
    e->dir = strdup(cfg->dir);
    e->cfg.dir = e->dir;
    e->dir_fd = -1;
    e->report_expired = 1;
    e->failed_gen = UINT64_MAX;
    if (!e->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = dir_open(e)) < 0 || (rc = meta_load(e)) < 0 ||
        (!c.read_only && (rc = probe_odirect(e)) < 0))
        goto fail;
    if ((rc = uio_open(cfg->queue_depth, cfg->sim, &e->u)) < 0) {
        eng_log(e, LS_LOG_ERROR, "io_uring setup failed: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = seg_init(&e->sm, &e->cfg, e->dir_fd)) < 0 || (rc = tables_new(e)) < 0 ||
        (rc = eng_tmap_load(e)) < 0 || (rc = streams_new(e)) < 0)
        goto fail;
    e->cache = rcache_new(c.cache_size); /* NULL (no cache) when it cannot be had */
    if ((rc = seg_open_existing(&e->sm, cfg->log, cfg->log_arg)) < 0 ||
        (rc = note_missing_files(e)) < 0 || (rc = fence_load(e)) < 0 || (rc = segj_open(e)) < 0 ||
        (rc = recov_run(e)) < 0 || (rc = segj_start(e)) < 0 || (rc = eng_seq_load(e)) < 0 ||
        (rc = fence_prune(e)) < 0 || (rc = snap_open(e)) < 0 || (rc = compact_init(e)) < 0 ||
        (!c.read_only && (rc = snap_rollback(e, c.rollback)) < 0))
        goto fail;
    if (!c.read_only)
        look_for_room(e, 1);
    /* the first checkpoint while running is due an interval after the open, not at the
     * first write (its buffer and the index's copy-on-write then came with every start) */
    e->ck_last_ms = eng_now_ms(e);
    e->ck_last_bytes = e->st.device_bytes_written;
    *out = e;
    return 0;
fail:
    engine_free(e);
    return rc;
}

/* ---- deferred work and polling ---- */

static void rd_complete(struct rd *r, int res);

static int run_deferred(struct ls_engine *e)
{
    int n = 0;

    for (uint32_t i = 0; i < e->nacks; i++, n++) {
        struct defer_ack a = e->acks[i];
        a.cb(a.arg, a.rc, a.cas);
    }
    e->nacks = 0;
    while (e->ready_head) {
        struct rd *r = e->ready_head;
        e->ready_head = r->next;
        if (!e->ready_head)
            e->ready_tail = NULL;
        rd_complete(r, (int)r->size);
        n++;
    }
    return n;
}

int ls_fd(const struct ls_engine *e)
{
    return uio_fd(e->u);
}

/* quiet: the caller's own poll (ls_poll_pending): the eventfd is left as it is (its
 * wake-up, if any, is still to come and clears it), and a group-commit flush waits for
 * that wake-up. */
static int poll_run(struct ls_engine *e, int quiet)
{
    int n, m;

    e->poll_wanted = 0;
    if (!quiet)
        e->woken = 0;
    n = quiet ? uio_reap_quiet(e->u) : uio_reap(e->u, 0);
    if (n < 0)
        return n;
    m = run_deferred(e);
    compact_tick(e, 0);
    if (!quiet && e->cfg.durability == LS_SYNC && e->flush_wanted)
        wbuf_flush(e);
    else
        wbuf_kick(e);
    return n + m;
}

int ls_poll(struct ls_engine *e)
{
    return poll_run(e, 0);
}

int ls_poll_pending(struct ls_engine *e)
{
    return poll_run(e, 1);
}

static void sweep_step(struct ls_engine *e);

/* Has an active user buffer held records for the flush interval? */
static int buf_due(const struct wbuf *b, uint64_t now, uint32_t interval_ms)
{
    return b && b->count && now - b->open_ms >= interval_ms;
}

/* The filesystem's free space bounds the data files not created yet (seg_room): looked
 * at when opening, every 10 s while disk_size is not all there, and said once when a
 * file could not be created for want of space. */
static void look_for_room(struct ls_engine *e, int opening)
{
    struct seg_mgr *m = &e->sm;
    uint64_t now = eng_now_ms(e);

    if (m->fs_full != e->fs_full_logged) {
        e->fs_full_logged = m->fs_full;
        eng_log(e, LS_LOG_ERROR,
                "%s: the filesystem has no room for another data file: writes are refused as "
                "on a full disk (deletes still work) until space is freed there",
                e->dir);
    }
    if (!opening && (now - e->room_checked_ms < 10000 || seg_usable(m) == m->nsegs))
        return;
    e->room_checked_ms = now;
    if (seg_room(m, vfs_free_bytes(e->cfg.sim, e->dir_fd)) || opening) {
        uint64_t usable = (uint64_t)seg_usable(m) * m->seg_size;
        if (usable < (uint64_t)m->nsegs * m->seg_size)
            eng_log(e, opening ? LS_LOG_WARN : LS_LOG_INFO,
                    "%s: the filesystem has room for %llu MiB of data files, less than "
                    "disk_size (%llu MiB)",
                    e->dir, (unsigned long long)(usable >> 20),
                    (unsigned long long)(((uint64_t)m->nsegs * m->seg_size) >> 20));
    }
}

void eng_refresh_room(struct ls_engine *e)
{
    if (!e->cfg.read_only && e->sm.files_made < e->sm.nfiles)
        seg_room(&e->sm, vfs_free_bytes(e->cfg.sim, e->dir_fd));
}

/* The index nodes a released checkpoint snapshot held, freed 2048 at a time per table and
 * tick (idx_snap_reclaim; ~1 ms at most). Nothing called it: every node changed while a
 * checkpoint scanned was kept until a restart (a million sorted-set pages reaped while
 * one ran: index 7.9 MB where 2.5 MB was live, 68-141 MB after a 10 M-member build). */
static void idx_reclaim_step(struct ls_engine *e)
{
    size_t left = 0;

    if (!e->idx_reclaim)
        return;
    for (uint32_t t = 0; t < e->cfg.tables; t++)
        left += idx_snap_reclaim(e->tables[t], 2048);
    e->idx_reclaim = left != 0;
}

void ls_tick(struct ls_engine *e)
{
    uint64_t now = eng_now_ms(e);

    look_for_room(e, 0);
    if (buf_due(e->user.active, now, e->cfg.flush_interval_ms) ||
        buf_due(e->ucold.active, now, e->cfg.flush_interval_ms)) {
        e->flush_wanted = 1;
        wbuf_flush(e);
    }
    sweep_step(e);
    compact_tick(e, 1);
    segj_tick(e);
    ckpt_tick(e);
    idx_reclaim_step(e);
}

uint64_t ls_new_version(struct ls_engine *e)
{
    return ++e->rseq; /* records take e->rseq + 1 and up: every later one is above it */
}

uint32_t ls_tables(const struct ls_engine *e)
{
    return e->cfg.tables;
}

void ls_close(struct ls_engine *e)
{
    int drained = 0;

    if (!e)
        return;
    e->closing = 1;
    ckpt_abort(e); /* the last one is written below, once everything is on disk */
    snap_close(e); /* a snapshot being made is given up, its caller told */
    for (;;) {
        if (wbuf_user_pending(e)) {
            e->flush_wanted = 1;
            wbuf_flush(e);
        }
        for (uint32_t i = 0; i < e->nstreams && !e->failed; i++)
            wbuf_seal_stream(e, &e->gs[i]);
        for (int i = 0; i < 2 && !e->failed; i++)
            wbuf_seal_stream(e, &e->spill[i]);
        wbuf_kick(e);
        run_deferred(e);
        if (!uio_inflight(e->u) && !e->fifo_head && !e->nacks && !e->ready_head) {
            drained = 1;
            break;
        }
        if (uio_reap(e->u, 1) < 0)
            break;
    }
    /* every write is on disk and none failed: the next open need not scan (ckpt.c) */
    if (drained && !e->failed && !e->cfg.read_only)
        ckpt_write(e);
    engine_free(e);
}

/* ---- reads ---- */

static int check_key(const struct ls_engine *e, uint32_t table, size_t key_len)
{
    if (table >= e->cfg.tables)
        return LS_EBADTABLE;
    if (key_len > e->cfg.max_key_size)
        return LS_ETOOBIG;
    return 0;
}

static int expired(const struct ls_engine *e, uint64_t meta)
{
    uint64_t x = idx_meta_expire(meta);
    return x && x <= eng_now_ms(e);
}

/* Finds the live entry of a key, dropping it (and reporting it) if it has expired. */
static int find_live(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
                     uint64_t token, uint32_t hash2, struct idx_ent *ent)
{
    if (idx_find(e->tables[table], token, hash2, ent) != 0)
        return LS_ENOTFOUND;
    if (expired(e, ent->meta)) {
        eng_expiry_seen(e, eng_now_ms(e));
        if (idx_remove(e->tables[table], token, hash2, NULL) < 0)
            return LS_ENOTFOUND; /* no memory for a snapshot's copy: left for later */
        eng_unlive(e, ent->loc);
        e->st.expired_dropped++;
        eng_expired(e, table, key, key_len);
        return LS_ENOTFOUND;
    }
    return 0;
}

static void rd_done(struct uio_req *req, int res)
{
    rd_complete(req->arg, res);
}

/* Starts reading the record at loc into r->buf (from memory or the device). */
static int rd_start(struct ls_engine *e, struct rd *r, uint64_t loc)
{
    uint64_t addr = idx_loc_addr(loc), off, start, end;
    int fd;

    r->size = idx_loc_size(loc);
    r->addr = addr;
    r->seq = e->sm.d[seg_of(&e->sm, addr)].seq;
    r->buf = malloc(r->size ? r->size : 1);
    if (!r->buf)
        return -ENOMEM;
    if (wbuf_read_mem(e, addr, r->size, r->buf)) {
        e->st.buffer_hits++;
        r->from_mem = 1;
    } else if (rcache_get(e->cache, addr, r->seq, r->size, r->buf)) {
        r->from_mem = 1;
    }
    if (r->from_mem) {
        r->skip = 0;
        eng_ready_push(e, r);
        return 0;
    }
    free(r->buf);
    fd = seg_fd(&e->sm, addr, &off);
    if (fd < 0)
        return LS_ECORRUPT;
    start = off & ~(uint64_t)(REC_BLOCK - 1);
    end = rec_align_block(off + r->size);
    r->buf = uio_alloc(end - start);
    if (!r->buf)
        return -ENOMEM;
    r->skip = (uint32_t)(off - start);
    r->req = (struct uio_req){.cb = rd_done,
                              .arg = r,
                              .buf = r->buf,
                              .off = start,
                              .len = (uint32_t)(end - start),
                              .fd = fd,
                              .op = UIO_READ};
    uio_queue(e->u, &r->req);
    e->sm.d[seg_of(&e->sm, addr)].readers++;
    e->st.device_reads++;
    e->st.device_read_bytes += end - start;
    eng_wake(e);
    return 0;
}

void eng_rd_free(struct rd *r)
{
    if (r->from_mem)
        free(r->buf);
    else
        uio_free(r->buf);
    free(r);
}

/* Decodes and verifies the record of `size` bytes at p, of segment use seq, that a read
 * of table expects to be a PUT (trusted: checked when it came into memory, so its
 * checksum is not computed again). Returns 0 with *v set, or LS_ECORRUPT. */
static int rd_check(const struct ls_engine *e, const uint8_t *p, uint32_t size, uint64_t seq,
                    int trusted, uint32_t table, struct rec_view *v)
{
    if ((trusted ? rec_decode_trusted(p, size, v)
                 : rec_decode(p, size, rec_seed(e->seed, seq), v)) != 0)
        return LS_ECORRUPT;
    if (v->h.type != REC_PUT || v->h.table != table)
        return LS_ECORRUPT;
    return 0;
}

/* Validates the record in r->buf. Returns 0 with *v set, or an error code. */
static int rd_validate(struct rd *r, int res, struct rec_view *v)
{
    if (res < 0)
        return res;
    if (!r->from_mem && (uint32_t)res < r->skip + r->size)
        return -EIO;
    /* the use the index pointed into when the read started, not the segment's use now:
     * a copy served from memory may be validated after its segment was reused */
    return rd_check(r->e, r->buf + r->skip, r->size, r->seq, 0, r->table, v);
}

/* The outcome of a read of key from table whose record checked rc (rd_check): 0 with *it
 * set, LS_ENOTFOUND (another key with the same 70-bit hash, or expired), or the error
 * (LS_ECORRUPT is counted and logged). */
static int rd_item(struct ls_engine *e, int rc, const struct rec_view *v, uint32_t table,
                   const void *key, uint32_t key_len, struct ls_item *it)
{
    if (rc == 0 && (v->h.key_len != key_len || memcmp(v->key, key, key_len) != 0))
        rc = LS_ENOTFOUND; /* another key with the same 70-bit hash */
    if (rc == 0 && v->h.expire_ms && v->h.expire_ms <= eng_now_ms(e))
        rc = LS_ENOTFOUND;
    if (rc == LS_ECORRUPT) {
        e->st.read_corrupt++;
        eng_log(e, LS_LOG_ERROR, "corrupt record read (table %u)", table);
    }
    if (rc == 0)
        *it = (struct ls_item){.key = v->key,
                               .key_len = v->h.key_len,
                               .value = v->value,
                               .value_len = v->h.value_len,
                               .expire_ms = v->h.expire_ms,
                               .flags = v->h.flags,
                               .cas = v->h.rseq,
                               .vtype = v->vtag};
    return rc;
}

void eng_read_release(struct ls_engine *e, uint64_t addr)
{
    uint32_t g = seg_of(&e->sm, addr);

    if (--e->sm.d[g].readers == 0 && e->sm.d[g].state == SEG_VICTIM)
        compact_reader_done(e, g); /* the last reader of a victim frees it */
}

static void rd_complete(struct rd *r, int res)
{
    struct ls_engine *e = r->e;
    struct rec_view v;

    if (r->scan) {
        eng_scan_read_done(r, res);
        return;
    }
    int rc = rd_validate(r, res, &v);

    if (rc == 0 && !r->from_mem)
        rcache_put(e->cache, r->addr, r->seq, r->buf + r->skip, r->size);
    if (!r->from_mem)
        eng_read_release(e, r->addr);
    if (r->expiry) {
        e->expiry_reads--;
        e->expiry_read_bytes -= r->size;
        if (rc == 0)
            eng_expired(e, r->table, v.key, v.h.key_len);
        eng_rd_free(r);
        return;
    }
    struct ls_item it;
    rc = rd_item(e, rc, &v, r->table, r->key, r->key_len, &it);
    r->cb(r->arg, rc, rc == 0 ? &it : NULL);
    eng_rd_free(r);
}

/* The live index entry of key in database *table, which becomes its table (tmap.c).
 * Returns 0 with *ent and *hash2 set, or LS_ENOTFOUND, LS_EBADTABLE, LS_ETOOBIG. */
static int find_key(struct ls_engine *e, uint32_t *table, const void *key, size_t key_len,
                    struct idx_ent *ent, uint32_t *hash2)
{
    uint64_t token;

    *table = eng_phys(e, *table);
    int rc = check_key(e, *table, key_len);
    if (rc < 0)
        return rc;
    token_of(key, key_len, &token, hash2);
    return find_live(e, *table, key, key_len, token, *hash2, ent);
}

/* Starts the read of key's record at loc (table already mapped) for ls_get's callback. */
static int rd_begin(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
                    uint32_t hash2, uint64_t loc, ls_get_cb cb, void *arg)
{
    struct rd *r = calloc(1, sizeof(*r) + key_len);
    if (!r)
        return -ENOMEM;
    *r = (struct rd){.e = e,
                     .cb = cb,
                     .arg = arg,
                     .hash2 = hash2,
                     .table = (uint16_t)table,
                     .key_len = (uint32_t)key_len};
    memcpy(r->key, key, key_len);
    int rc = rd_start(e, r, loc);
    if (rc < 0) {
        free(r);
        return rc;
    }
    e->st.gets++;
    return 0;
}

int ls_get_sized(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_get_cb cb,
                 void *arg, uint32_t *record_size)
{
    struct idx_ent ent;
    uint32_t hash2;
    int rc = find_key(e, &table, key, key_len, &ent, &hash2);

    if (rc == 0)
        rc = rd_begin(e, table, key, key_len, hash2, ent.loc, cb, arg);
    if (rc == 0 && record_size)
        *record_size = idx_loc_size(ent.loc);
    return rc;
}

int ls_get_now(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
               struct ls_item *out, ls_get_cb cb, void *arg, uint32_t *record_size)
{
    struct idx_ent ent;
    struct rec_view v;
    uint32_t hash2;
    int rc = find_key(e, &table, key, key_len, &ent, &hash2);

    if (rc < 0)
        return rc;
    uint64_t addr = idx_loc_addr(ent.loc);
    uint32_t size = idx_loc_size(ent.loc);
    uint64_t seq = e->sm.d[seg_of(&e->sm, addr)].seq;
    const uint8_t *p = wbuf_peek_mem(e, addr, size);
    if (p)
        e->st.buffer_hits++;
    else if (!(p = rcache_peek(e->cache, addr, seq, size))) {
        /* on the device: the read starts from the entry found, not from a second lookup */
        if (cb && (rc = rd_begin(e, table, key, key_len, hash2, ent.loc, cb, arg)) < 0)
            return rc;
        if (cb && record_size)
            *record_size = size;
        return 1;
    }
    e->st.gets++;
    rc = rd_check(e, p, size, seq, 1, table, &v); /* checked when it came into memory */
    return rd_item(e, rc, &v, table, key, (uint32_t)key_len, out);
}

void ls_prefetch_key(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
                     struct ls_prefetch *pf)
{
    struct idx_ent ent;
    uint64_t token;
    uint32_t hash2;

    if (pf->n >= LS_PREFETCH_MAX)
        return;
    table = eng_phys(e, table);
    if (check_key(e, table, key_len) < 0)
        return;
    token_of(key, key_len, &token, &hash2);
    if (idx_find(e->tables[table], token, hash2, &ent) != 0)
        return;
    uint64_t addr = idx_loc_addr(ent.loc);
    rcache_prefetch_slot(e->cache, addr);
    pf->addr[pf->n] = addr;
    pf->size[pf->n++] = idx_loc_size(ent.loc);
}

void ls_prefetch_records(struct ls_engine *e, struct ls_prefetch *pf)
{
    for (uint32_t i = 0; i < pf->n; i++)
        rcache_prefetch_rec(e->cache, pf->addr[i], pf->size[i]);
    pf->n = 0;
}

int ls_get_mem(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
               struct ls_item *out)
{
    return ls_get_now(e, table, key, key_len, out, NULL, NULL, NULL);
}

int ls_get(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_get_cb cb,
           void *arg)
{
    return ls_get_sized(e, table, key, key_len, cb, arg, NULL);
}

int ls_lookup(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
              struct ls_meta *out)
{
    struct idx_ent ent;
    uint32_t hash2;
    int rc = find_key(e, &table, key, key_len, &ent, &hash2);

    if (rc < 0)
        return rc;
    out->expire_ms = idx_meta_expire(ent.meta);
    out->record_size = idx_loc_size(ent.loc);
    return 0;
}

/* ---- writes ---- */

static int write_rec(struct ls_engine *e, struct wrec *r, ls_write_cb cb, void *arg)
{
    int rc;

    if (e->closing)
        return LS_ECLOSING;
    if (e->failed)
        return LS_EFAILED;
    if (e->cfg.read_only)
        return LS_EINVAL;
    rc = wbuf_append(e, r, cb, arg);
    if (rc == 0 && r->type == REC_PUT)
        e->st.puts++;
    else if (rc == 0)
        e->st.dels++;
    return rc;
}

int ls_put(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, const void *value,
           size_t value_len, const struct ls_write_opts *opts, ls_write_cb cb, void *arg)
{
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    struct wrec r = {.type = REC_PUT,
                     .table = (uint16_t)table,
                     .key = key,
                     .key_len = (uint32_t)key_len,
                     .value = value,
                     .value_len = (uint32_t)value_len};
    int rc = check_key(e, table, key_len);

    if (rc < 0)
        return rc;
    if (value_len > e->cfg.max_value_size)
        return LS_ETOOBIG;
    if (opts) {
        if (opts->expire_ms > LS_EXPIRE_MAX || opts->vtype > LS_VTYPE_MAX)
            return LS_EINVAL;
        r.expire_ms = opts->expire_ms;
        r.flags = opts->flags;
        r.vtag = opts->vtype;
        r.ordered = opts->ordered;
        if (r.vtag && (rc = feat_mark(e, META_FEAT_VTYPE)) < 0)
            return rc;
    }
    token_of(key, key_len, &r.token, &r.hash2);
    if (e->cfg.expired && e->report_expired) {
        struct idx_ent old; /* an expired entry it replaces is reported (and dropped) */
        find_live(e, table, key, key_len, r.token, r.hash2, &old);
    }
    if (r.expire_ms && r.expire_ms <= eng_now_ms(e)) {
        /* Already expired: the key ends up absent, like Redis's SET with a past EXAT.
         * A tombstone is written even when the index holds no entry: an older record
         * of the key may still be on disk (one that expired, or one whose delete is not
         * durable yet), and after a restart with the clock set back it would come back
         * over this acknowledged write (the simulator found it, seed 37). */
        r.type = REC_DEL;
        r.value_len = 0;
        r.expire_ms = 0;
        r.vtag = 0;
    }
    return write_rec(e, &r, cb, arg);
}

uint32_t ls_record_size(size_t key_len, size_t value_len)
{
    return rec_size((uint32_t)key_len, (uint32_t)value_len);
}

uint64_t ls_batch_bytes(const struct ls_batch_op *ops, uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += rec_size((uint32_t)ops[i].key_len, ops[i].del ? 0 : (uint32_t)ops[i].value_len);
    return total;
}

uint32_t ls_batch_max_bytes(const struct ls_engine *e)
{
    return e->cfg.write_buffer_size - BUF_HDR_SIZE;
}

/* Fills r for one batch op, as ls_put/ls_del would. Returns 0 or a code. */
static int batch_rec(struct ls_engine *e, const struct ls_batch_op *op, uint64_t now,
                     struct wrec *r)
{
    uint32_t table = eng_phys(e, op->table); /* the database's table (tmap.c) */
    int rc = check_key(e, table, op->key_len);

    if (rc < 0)
        return rc;
    *r = (struct wrec){.type = op->del ? REC_DEL : REC_PUT,
                       .table = (uint16_t)table,
                       .key = op->key,
                       .key_len = (uint32_t)op->key_len,
                       .ordered = op->opts.ordered};
    token_of(op->key, op->key_len, &r->token, &r->hash2);
    if (op->del)
        return 0;
    if (op->value_len > e->cfg.max_value_size)
        return LS_ETOOBIG;
    if (op->opts.expire_ms > LS_EXPIRE_MAX || op->opts.vtype > LS_VTYPE_MAX)
        return LS_EINVAL;
    if (op->opts.vtype && (rc = feat_mark(e, META_FEAT_VTYPE)) < 0)
        return rc;
    if (op->opts.expire_ms && op->opts.expire_ms <= now) {
        r->type = REC_DEL; /* already expired: as ls_put */
        return 0;
    }
    r->value = op->value;
    r->value_len = (uint32_t)op->value_len;
    r->expire_ms = op->opts.expire_ms;
    r->flags = op->opts.flags;
    r->vtag = op->opts.vtype;
    return 0;
}

int ls_write_batch(struct ls_engine *e, const struct ls_batch_op *ops, uint32_t n, ls_write_cb cb,
                   void *arg)
{
    uint64_t total = 0, now = eng_now_ms(e);
    struct wrec *r;
    int rc = 0;

    if (e->closing)
        return LS_ECLOSING;
    if (e->failed)
        return LS_EFAILED;
    if (e->cfg.read_only || n == 0)
        return LS_EINVAL;
    if (ls_batch_bytes(ops, n) > ls_batch_max_bytes(e))
        return LS_ETOOBIG;
    if (!(r = malloc(n * sizeof(*r))))
        return -ENOMEM;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = batch_rec(e, &ops[i], now, &r[i]);
        r[i].cont = (uint8_t)((i + 1 < n ? REC_F_CONT : 0) | (i ? REC_F_MEMB : 0));
    }
    if (rc == 0) {
        total = 0;
        for (uint32_t i = 0; i < n; i++)
            total += rec_size(r[i].key_len, r[i].value_len);
        rc = wbuf_append_batch(e, r, n, (uint32_t)total, cb, arg);
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (r[i].type == REC_PUT)
            e->st.puts++;
        else
            e->st.dels++;
    }
    free(r);
    return rc;
}

int ls_del(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_write_cb cb,
           void *arg)
{
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    struct wrec r = {
        .type = REC_DEL, .table = (uint16_t)table, .key = key, .key_len = (uint32_t)key_len};
    struct idx_ent ent;
    int rc = check_key(e, table, key_len);

    if (rc < 0)
        return rc;
    token_of(key, key_len, &r.token, &r.hash2);
    if ((rc = find_live(e, table, key, key_len, r.token, r.hash2, &ent)) < 0)
        return rc;
    return write_rec(e, &r, cb, arg);
}

int ls_flush_table(struct ls_engine *e, uint32_t table, ls_write_cb cb, void *arg)
{
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    struct wrec r = {.type = REC_FLUSH, .table = (uint16_t)table};

    if (table >= e->cfg.tables)
        return LS_EBADTABLE;
    return write_rec(e, &r, cb, arg);
}

int ls_sync(struct ls_engine *e, ls_write_cb cb, void *arg)
{
    return wbuf_barrier(e, cb, arg);
}

void eng_wake_fd(struct ls_engine *e)
{
    if (e->woken)
        return;
    e->woken = 1;
    uio_wake(e->u);
}

void eng_want_flush(struct ls_engine *e)
{
    e->flush_wanted = 1;
    if (!e->cfg.caller_ends_turns || e->cfg.durability != LS_SYNC)
        eng_wake_fd(e); /* the loop's next turn, after every client's writes */
}

void eng_wake(struct ls_engine *e)
{
    if (e->cfg.caller_polls)
        e->poll_wanted = 1;
    else
        eng_wake_fd(e);
}

int ls_wants_poll(const struct ls_engine *e)
{
    return e->poll_wanted;
}

void ls_hold_submissions(struct ls_engine *e, int on)
{
    uio_hold(e->u, on);
    if (!on)
        uio_flush(e->u);
}

int ls_submit(struct ls_engine *e)
{
    return uio_flush(e->u);
}

int ls_submit_quiet(struct ls_engine *e)
{
    return uio_flush_quiet(e->u);
}

struct ls_send {
    struct uio_req req;
    ls_send_cb cb;
    void *arg;
};

static void send_done(struct uio_req *req, int res)
{
    struct ls_send *s = req->arg;
    s->cb(s->arg, res);
}

struct ls_send *ls_send_new(ls_send_cb cb, void *arg)
{
    struct ls_send *s = calloc(1, sizeof(*s));
    if (s) {
        s->cb = cb;
        s->arg = arg;
    }
    return s;
}

void ls_send_free(struct ls_send *s)
{
    free(s);
}

void ls_send(struct ls_engine *e, struct ls_send *s, int fd, const void *buf, uint32_t len)
{
    s->req = (struct uio_req){
        .cb = send_done, .arg = s, .buf = (void *)buf, .len = len, .fd = fd, .op = UIO_SEND};
    uio_queue(e->u, &s->req);
    uio_submit(e->u); /* held submissions: only prepared, ls_submit hands it over */
}

void ls_turn_end(struct ls_engine *e)
{
    if (e->flush_wanted && e->cfg.durability == LS_SYNC && !e->failed)
        wbuf_flush(e);
}

void ls_wake(struct ls_engine *e)
{
    if (e->poll_wanted)
        eng_wake_fd(e);
}

void eng_ready_push(struct ls_engine *e, struct rd *r)
{
    r->next = NULL;
    if (e->ready_tail)
        e->ready_tail->next = r;
    else
        e->ready_head = r;
    e->ready_tail = r;
    eng_wake(e);
}

uint64_t ls_count(const struct ls_engine *e, uint32_t table)
{
    return table < e->cfg.tables ? idx_count(e->tables[eng_phys(e, table)]) : 0;
}

uint64_t ls_count_expires(const struct ls_engine *e, uint32_t table, uint64_t *expire_sum_ms)
{
    if (table >= e->cfg.tables) {
        if (expire_sum_ms)
            *expire_sum_ms = 0;
        return 0;
    }
    return idx_expires(e->tables[eng_phys(e, table)], expire_sum_ms);
}

/* ---- expiry sweep: a bounded step per tick ---- */

#define SWEEP_STEP 512

struct sweep {
    struct ls_engine *e;
    uint64_t now;
    struct idx_ent dead[SWEEP_STEP];
    uint32_t n, cap;
    uint64_t bytes, max_bytes; /* reporting: records to read, and the room for them */
};

static int sweep_visit(void *arg, const struct idx_ent *ent)
{
    struct sweep *s = arg;
    uint64_t x = idx_meta_expire(ent->meta);

    if (x && x <= s->now && s->n < s->cap) {
        s->dead[s->n++] = *ent;
        s->bytes += idx_loc_size(ent->loc);
    }
    /* the walk resumes after this entry (so a record may pass the room once) */
    return s->n == s->cap || s->bytes >= s->max_bytes;
}

void ls_report_expired(struct ls_engine *e, int on)
{
    e->report_expired = on;
}

/* Starts reading an expired entry's record to report its key (rd_complete). The read
 * keeps its segment from being freed, so the entry may be dropped at once. */
static void sweep_report(struct ls_engine *e, uint32_t table, const struct idx_ent *ent)
{
    struct rd *r = calloc(1, sizeof(*r));

    if (!r)
        return;
    *r = (struct rd){.e = e, .table = (uint16_t)table, .expiry = 1};
    if (rd_start(e, r, ent->loc) < 0) {
        free(r);
        return;
    }
    e->expiry_reads++;
    e->expiry_read_bytes += r->size;
}

static void sweep_step(struct ls_engine *e)
{
    struct sweep *s = malloc(sizeof(*s));
    struct idx *t = e->tables[e->sweep_table];
    uint64_t next = 0;
    int done = 0, reporting = e->cfg.expired && e->report_expired;

    if (!s)
        return;
    s->e = e;
    s->now = eng_now_ms(e);
    s->n = 0;
    s->bytes = 0;
    s->cap = SWEEP_STEP;
    s->max_bytes = UINT64_MAX;
    if (reporting) { /* no more expired entries than reads may start (the rest wait) */
        s->cap = LS_EXPIRY_READS - e->expiry_reads;
        s->max_bytes = LS_EXPIRY_READ_BYTES - e->expiry_read_bytes;
    }
    if (s->cap == 0 || e->expiry_read_bytes >= LS_EXPIRY_READ_BYTES) {
        free(s);
        return;
    }
    idx_scan(t, e->sweep_cursor, SWEEP_STEP, sweep_visit, s, &next, &done);
    if (s->n)
        eng_expiry_seen(e, s->now);
    for (uint32_t i = 0; i < s->n; i++) {
        if (reporting)
            sweep_report(e, e->sweep_table, &s->dead[i]);
        if (idx_remove(t, s->dead[i].token, idx_meta_hash2(s->dead[i].meta), NULL) == 0) {
            eng_unlive(e, s->dead[i].loc);
            e->st.expired_dropped++;
        }
    }
    e->sweep_cursor = done ? 0 : next;
    if (done)
        e->sweep_table = (e->sweep_table + 1) % e->cfg.tables;
    free(s);
}

/* ---- stats and faults ---- */

static unsigned lat_bucket(uint64_t us)
{
    if (us < 4)
        return (unsigned)us;
    if (us >= (uint64_t)1 << 31)
        return LS_LAT_BUCKETS - 1;
    unsigned lg = 63u - (unsigned)__builtin_clzll(us); /* 2..30 */
    return 4 * (lg - 1) + (unsigned)((us >> (lg - 2)) & 3);
}

void ls_lat_add(struct ls_lat_hist *h, uint64_t us)
{
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
    h->bucket[lat_bucket(us)]++;
}

uint64_t ls_lat_percentile(const struct ls_lat_hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.999999);
    uint64_t seen = 0;
    for (unsigned i = 0; i < LS_LAT_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= want && h->bucket[i]) {
            if (i < 4)
                return i;
            if (i == LS_LAT_BUCKETS - 1)
                return h->max_us; /* 2^31 us and more */
            unsigned lg = i / 4 + 1, sub = i % 4;
            uint64_t hi = ((uint64_t)(5 + sub) << (lg - 2)) - 1; /* the bucket's last value */
            return hi < h->max_us ? hi : h->max_us;
        }
    }
    return h->max_us;
}

void ls_get_stats(const struct ls_engine *e, struct ls_stats *out)
{
    *out = e->st;
    out->file_stalls = e->sm.file_stalls;
    out->keys = 0;
    out->index_bytes = 0;
    for (uint32_t i = 0; i < e->cfg.tables; i++) {
        out->keys += idx_count(e->tables[i]);
        out->index_bytes += idx_memory(e->tables[i]);
    }
    out->segments_total = seg_usable(&e->sm);
    out->segments_free = e->sm.nfree;
    out->segments_used = out->segments_total - e->sm.nfree;
    out->files = 0;
    for (uint32_t f = 0; f < e->sm.nfiles; f++)
        out->files += e->sm.fds[f] >= 0;
    struct rcache_stats cs;
    rcache_get_stats(e->cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_bytes = cs.bytes;
    out->cache_entries = cs.entries;
    out->pending_bytes = e->waiting_bytes;
    out->inflight_writes = e->inflight;
    out->failed = (uint64_t)e->failed;
    out->last_error = e->last_error;
    out->group_commit_seals = e->gc_seals;
    out->group_commit_load = wbuf_gc_load(e);
    compact_stats(e, out);
}

void ls_set_faults(struct ls_engine *e, const struct ls_faults *f)
{
    struct uio_faults uf = {.fail_write_n = f->fail_write_n,
                            .fail_read_n = f->fail_read_n,
                            .tear_write_n = f->tear_write_n,
                            .tear_bytes = f->tear_bytes,
                            .error = f->error};
    uio_set_faults(e->u, &uf);
}
