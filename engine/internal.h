/*
 * internal.h - declarations shared by the engine's modules (not part of the API).
 *
 * Module map (bottom-up): uio (io_uring), rec (format), token, idx (B-tree), seg
 * (files, segments, descriptors), wbuf (write buffers, buffered writer, group commit),
 * recov (rebuild the index from the log), logstor.c (the public API, read path, scan,
 * expiry sweep).
 */
#ifndef LS_INTERNAL_H
#define LS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"
#include "logstor.h"
#include "rcache.h"
#include "rec.h"
#include "uio.h"

/* ---- segments (seg.c) ---- */

enum seg_state {
    SEG_FREE = 0, /* holds nothing current; may be allocated */
    SEG_OPEN,     /* a stream's open segment: buffers are being appended */
    SEG_FULL,     /* written; holds records (perhaps none live) */
    SEG_CONT,     /* continuation of a large record run that starts earlier */
    SEG_VICTIM,   /* chosen by compaction: being copied, then freed */
};

enum seg_flags {
    SEGF_EXPIRING = 1,  /* a PUT with an expiry was written here (it may come to hide
                           older records of its key once expired) */
    SEGF_STUCK = 2,     /* compaction could not copy every live record (damaged): kept */
    SEGF_HOT = 4,       /* written by the user stream for writes not predicted cold */
    SEGF_BLANKING = 8,  /* free, its block 0 being cleared (not in the free stack) */
    SEGF_RESERVED = 16, /* free, kept for a large record's run while compaction frees the
                           rest of its window (not in the free stack) */
    SEGF_HEAD = 32,     /* a new use whose first buffer (block 0) is not durable yet: its
                           later buffers are not submitted until it is (wbuf_kick) */
};

/* Free segments kept blank on disk (block 0 holds no header, so recovery finds them
 * free); only a compaction round that cannot gain otherwise takes them (compact.c). */
#define SEG_BLANK_KEEP 2

#define HB_NONE  0xffu
#define HB_COUNT 80u
#define SEG_NONE UINT32_MAX

struct seg_desc {
    uint64_t seq;          /* sequence number of the current use (0: never used) */
    uint64_t min_rseq;     /* smallest rseq of a PUT written in this use (UINT64_MAX: none) */
    uint64_t max_rseq;     /* largest rseq of any record written in this use */
    uint64_t max_hider;    /* largest rseq of a record that may hide others (DEL, FLUSH,
                              PUT with an expiry) written in this use; 0: none */
    uint64_t stale_min;    /* smallest rseq of a dead PUT of an earlier use that recovery
                              would still see (freed, no block 0 of a new use durable
                              yet); UINT64_MAX: none */
    uint64_t freed_at;     /* when an earlier use recovery could still read was given up
                              (seg_mgr.free_clock; 0: none, or its new block 0 is durable) */
    uint32_t live;         /* bytes of records the index points at */
    uint32_t put_bytes;    /* bytes of PUT records written in this use (live + dead) */
    uint32_t tomb;         /* bytes of DEL and FLUSH records written in this use */
    uint32_t group;        /* 0: mixed (user writes); g + 1: compaction group g */
    uint32_t hnext, hprev; /* histogram bucket list */
    uint16_t run;          /* segments in a large run (on its first segment), else 1 */
    uint32_t readers;      /* device reads in flight into this segment (32 bits: one MGET
                              may read one segment more than 65535 times) */
    uint16_t mem_bufs;     /* write buffers of this segment not yet retired */
    uint16_t snaps;        /* named snapshots holding this use: never a victim, never freed
                              (snap.c) */
    uint8_t state;         /* enum seg_state */
    uint8_t flags;         /* enum seg_flags */
    uint8_t hb;            /* histogram bucket, HB_NONE when not listed */
};

struct seg_age {
    uint64_t at;
    uint32_t g;
};

struct seg_mgr {
    uint32_t seg_size, file_size, segs_per_file, nfiles, nsegs;
    int *fds;               /* per file; -1 when not created yet */
    struct simdev *sim;     /* the simulated device (vfs.h), or NULL */
    int read_only;          /* ls_config.read_only: files opened for reading only */
    struct seg_desc *d;     /* nsegs descriptors */
    uint32_t *free_stack;   /* free segments: readable old uses on top, oldest given up
                               first; then unused ones, lowest number on top */
    uint32_t files_made;    /* 1 + the highest data file that exists or was created */
    uint32_t room_files;    /* files the filesystem has room to create beyond those (its
                               free space at the last look; segments of files beyond are
                               not free: a full filesystem is a full disk_size) */
    uint64_t fs_full;       /* times creating a file failed for want of space */
    uint32_t nfree_unmade;  /* of the free segments, those in files not created yet */
    struct seg_prep *prep;  /* the file being made by a thread (seg_prepare), or NULL */
    uint64_t file_stalls;   /* files made on the event loop, or waited for there */
    uint32_t missing_files; /* below files_made (or logstor.seq's count) and absent */
    uint32_t nfree;
    uint32_t nblank;      /* of those, blank on disk (no old use): the bottom of the stack */
    uint64_t free_clock;  /* stamps freed_at */
    struct seg_age *sort; /* scratch for seg_rebuild_free */
    int dir_fd;
    /* histogram of closed (FULL, single) segments by free space: bucket lists and a
     * bitmap of the non-empty buckets */
    uint32_t hhead[HB_COUNT];
    uint64_t hmask[2];
};

int seg_init(struct seg_mgr *m, const struct ls_config *cfg, int dir_fd);
void seg_fini(struct seg_mgr *m);
/* Opens the data files already present (recovery reads them). Returns 0 or -errno, or
 * LS_ECONFIG when more files exist than the disk budget allows. */
int seg_open_existing(struct seg_mgr *m, void (*log)(void *, enum ls_log_level, const char *),
                      void *log_arg);
/* Rebuilds the free stack from the descriptors (after recovery). */
void seg_rebuild_free(struct seg_mgr *m);
/* Records the filesystem's free space (vfs_free_bytes): data files not created yet are
 * usable only as far as it has room for them. Returns 1 when that changed the segments
 * available (the free stack is rebuilt), else 0. */
int seg_room(struct seg_mgr *m, uint64_t free_bytes);
/* Segments that exist or have room on the filesystem. */
uint32_t seg_usable(const struct seg_mgr *m);
/* Creates the next data file ahead of need, so that the free segments compaction and
 * deletes count on are in files that exist (a filesystem that fills up then finds them
 * there). 0, LS_ENOSPACE (no room: seg_room's rule) or -errno. */
int seg_add_file(struct seg_mgr *m);
/* The same without holding the caller: starts making the next usable file in a thread,
 * or collects the one being made (call it again until the file is there). Under the
 * simulator, seg_add_file. A creation that fails for want of room makes the files not
 * created yet unusable, as seg_alloc's does. */
void seg_prepare(struct seg_mgr *m);
/* Allocates the top of the free stack (the last SEG_BLANK_KEEP blank segments only when
 * may_blank), creating its file if needed. Returns the segment number or LS_ENOSPACE /
 * -errno. */
int64_t seg_alloc(struct seg_mgr *m, int may_blank);
/* Allocates n contiguous free segments inside one file. Returns the first, or
 * LS_ENOSPACE / -errno. */
int64_t seg_alloc_run(struct seg_mgr *m, uint32_t n);
/* File descriptor and file offset of a global byte address. Returns -1 fd when the file
 * does not exist. */
int seg_fd(const struct seg_mgr *m, uint64_t addr, uint64_t *file_off);
static inline uint32_t seg_of(const struct seg_mgr *m, uint64_t addr)
{
    return (uint32_t)(addr / m->seg_size);
}
/* Checks descriptor invariants (free stack matches states). 0 or negative. */
int seg_check(const struct seg_mgr *m);
/* Resets a descriptor for a new use (state OPEN or FULL, sequence number seq). */
void seg_use(struct seg_mgr *m, uint32_t g, uint64_t seq, uint8_t state, uint32_t group);
/* Closes an open segment (OPEN -> FULL) and lists it in the histogram. */
void seg_close(struct seg_mgr *m, uint32_t g);
/* Puts segment g in the histogram bucket its free space calls for (or takes it out when
 * it is not a closed single segment). O(1); call after live/tomb/state change. */
void seg_hist_update(struct seg_mgr *m, uint32_t g);
/* Gives segment g back: FREE, out of the histogram. The caller rebuilds the free stack
 * (seg_rebuild_free) after a batch. */
void seg_release(struct seg_mgr *m, uint32_t g);
/* Stamps the moment segment g's contents were given up (once per use): from then its
 * old records are only what recovery might still read, until a new block 0 is durable. */
void seg_give_up(struct seg_mgr *m, uint32_t g);
/* The highest non-empty histogram bucket, or -1. */
int seg_hist_top(const struct seg_mgr *m, int below);
/* Bytes of a segment's free space counted by the histogram (size - live - tomb). */
static inline uint32_t seg_free_bytes(const struct seg_mgr *m, const struct seg_desc *d)
{
    uint64_t used = (uint64_t)d->live + d->tomb;
    return used >= m->seg_size ? 0 : m->seg_size - (uint32_t)used;
}

/* ---- write buffers (wbuf.c) ---- */

enum { WOP_COPY = 16 }; /* a record copied by compaction (type of a wop) */

struct wop {
    ls_write_cb cb;
    void *arg;
    uint64_t cas;
    uint64_t token;
    uint64_t new_loc;    /* where this record went (0 for flush) */
    struct idx_ent old;  /* the entry it replaced, for revert (WOP_COPY: old.loc) */
    struct idx *flushed; /* REC_FLUSH: the table's tree until the write is acknowledged */
    uint32_t hash2;
    uint16_t table;
    uint8_t type;
    uint8_t had_old;
    uint8_t expiring; /* a PUT with an expiry: its entry may leave the index when it passes */
    uint64_t order;   /* placement order over every stream (a failure reverts newest first) */
};

enum wbuf_state { WB_FREE, WB_ACTIVE, WB_SEALED, WB_INFLIGHT, WB_DONE };

/* A stream of segments written one after the other: the user stream (mixed segments)
 * or one compaction group's stream. */
struct stream {
    struct wbuf *active; /* the buffer being filled, or NULL */
    int64_t cur_seg;     /* the open segment, -1 if none */
    uint32_t cur_off;    /* next free byte in it (4 KiB aligned) */
    uint32_t group;      /* 0: the user stream; g + 1: compaction group g */
    int seen;            /* has been given a segment (compaction's reserve counts it) */
    int comp;            /* written by compaction (group streams and the spill stream) */
};

struct wbuf {
    struct uio_req req;
    struct ls_engine *e;
    struct stream *st;
    uint8_t *data;
    uint32_t cap;  /* bytes this use may fill (header included) */
    uint32_t used; /* bytes filled, header included */
    uint32_t count;
    uint32_t seg_no;
    uint64_t addr; /* global byte address of data[0] */
    uint64_t seg_seq;
    uint64_t first_rseq;
    uint64_t gen; /* seal order */
    uint64_t open_ms;
    uint64_t first_us; /* its first record (eng_mono_us): commit_latency */
    uint64_t sub_us;   /* its write submitted: write_latency */
    int state;
    int result;
    int large;            /* data allocated for one large record */
    uint8_t ordered;      /* holds an ordered write: submitted once every older buffer is done */
    uint8_t held;         /* an ordered buffer that had to wait (counted once: ordered_waits) */
    uint32_t ordered_end; /* where its last ordered write ends (buf_hdr.ordered_end) */
    struct wop *ops;
    uint32_t nops, capops;
    struct wbuf *next;
};

struct defer_ack {
    ls_write_cb cb;
    void *arg;
    int rc;
    uint64_t cas;
};

struct barrier {
    uint64_t gen; /* completes when every buffer up to gen is acked */
    ls_write_cb cb;
    void *arg;
    struct barrier *next;
};

/* ---- reads (logstor.c) ---- */

struct scan;
struct rd {
    struct uio_req req;
    struct ls_engine *e;
    ls_get_cb cb;
    void *arg;
    uint8_t *buf;
    uint64_t addr; /* log address of the record */
    uint64_t seq;  /* its segment's use when the read started: the record's seed */
    uint32_t skip; /* offset of the record in buf */
    uint32_t size; /* record size (from the index) */
    uint32_t hash2;
    uint16_t table;
    uint8_t from_mem;  /* buf is a heap copy from a write buffer */
    struct scan *scan; /* a scan's span read (scan.c): records want[want_from..want_to) */
    uint32_t want_from, want_to;
    uint8_t expiry; /* a sweep's read of an expired record, for its key (cfg.expired) */
    struct rd *next;
    uint32_t key_len;
    uint8_t key[]; /* copy of the key asked for (gets only) */
};

struct ls_engine {
    struct ls_config cfg;
    char *dir;
    int dir_fd;
    uint64_t seed;
    uint64_t meta_created_ms; /* logstor.meta's, kept when a feature bit rewrites it */
    uint32_t features;        /* logstor.meta's feature bits (META_FEAT_*) */
    struct uio *u;
    struct seg_mgr sm;
    struct idx **tables; /* physical tables (the records' table field) */
    uint32_t *tmap;      /* logical table (the API's) -> physical (tmap.c) */
    struct rcache *cache;
    /* write path */
    uint64_t seq;            /* last segment sequence number used */
    uint64_t seq_reserved;   /* numbers up to this one are reserved in logstor.seq */
    uint32_t seq_files;      /* data files logstor.seq records as created */
    uint64_t rseq;           /* last record sequence number used */
    uint64_t op_order;       /* the last wop's placement order (wbuf.c) */
    struct stream user;      /* user writes: mixed segments */
    struct stream ucold;     /* user writes predicted cold (compact_predict_cold): their
                                key's previous record outlived the mixed segments that
                                compaction takes; mixed segments too (group 0) */
    struct stream *gs;       /* compaction streams: 2 * ngroups, two generations per group:
                                gs[g] takes records copied out of mixed segments (first
                                survivors), gs[ngroups + g] those copied out of group
                                segments (older survivors); a stream's label is index + 1 */
    uint32_t nstreams;       /* 2 * ngroups */
    struct stream spill[2];  /* compaction's streams when free segments are too few for
                                one open segment per group (mixed, group 0): [1] takes
                                records older than cold_age, [0] the others */
    uint32_t ngroups;        /* tables * compaction_groups */
    uint64_t *flush_rseq;    /* per table: rseq of its latest FLUSH record (0: none) */
    uint64_t expiry_seen_ms; /* the latest clock at which an entry was judged expired (or
                              * recovery ran): a key can be absent from the index because
                              * its PUT expired only if that PUT's expiry is not above it */
    struct compactor *cp;    /* compact.c */
    struct wbuf *fifo_head, *fifo_tail; /* sealed, in flight or done: in gen order */
    struct wbuf *free_bufs;
    uint32_t nbufs, inflight;
    uint64_t waiting_bytes; /* sealed, not yet submitted */
    uint64_t group_bytes;   /* record bytes in compaction buffers not yet retired */
    uint32_t group_bufs;    /* compaction buffers in use (not counted against users) */
    uint32_t user_bufs;     /* user buffers in use (bounded by max_pending_bytes) */
    uint64_t gen;
    uint64_t acked_gen;
    uint64_t comp_segs_closed; /* segments compaction's streams filled and closed */
    uint64_t failed_gen;       /* first failed buffer's gen, UINT64_MAX while healthy */
    int failed, last_error;
    int flush_wanted, woken;
    int poll_wanted;     /* caller_polls: work for the caller's ls_poll_pending */
    int idx_reclaim;     /* a checkpoint released its index snapshots: ls_tick frees the nodes
                            they held, in steps (idx_snap_reclaim) */
    int gc_armed;        /* the group-commit window timer is pending */
    int gc_due;          /* the window's timer fired since the last group-commit seal (heavy
                          load: cleared too when nothing waits) */
    uint64_t gc_seal_ns; /* uio_mono_ns of the last group-commit seal */
    uint64_t gc_seals;   /* group-commit seals so far; gc_arm_seals: at the timer's arming */
    uint64_t gc_arm_seals;
    int gc_join;      /* heavy: a completion left the device idle; its clients join */
    int gc_heavy;     /* the load judged heavy (wbuf.c gc_judge) */
    uint64_t gc_recs; /* records appended since gc_judged_ns */
    uint64_t gc_judged_ns;
    struct uio_req gc_req;
    struct barrier *barriers;
    /* deferred work, run by ls_poll */
    struct defer_ack *acks;
    uint32_t nacks, capacks;
    struct rd *ready_head, *ready_tail;
    /* scans (scan.c) */
    struct kcache *kcache; /* keys read ahead; allocated by the first read-ahead */
    struct scan_pos {
        uint32_t table;
        uint64_t cursor;
    } scan_ring[8]; /* cursors recent scans returned: a scan from one reads ahead */
    uint32_t scan_ring_next;
    uint32_t scans_ahead; /* scans with read-ahead records still to read (at most one) */
    struct scan_wait *scan_waiters, *scan_waiters_tail; /* sequential scans waiting for it */
    /* sweep */
    uint32_t sweep_table;
    uint64_t sweep_cursor;
    int report_expired;         /* ls_report_expired */
    uint32_t expiry_reads;      /* sweep reads in flight to report an expired key */
    uint64_t expiry_read_bytes; /* and their records' bytes */
    uint64_t last_flush_check_ms;
    int closing;
    uint64_t fs_full_logged;  /* sm.fs_full when last said */
    uint64_t room_checked_ms; /* when the filesystem's free space was last looked at */
    struct ckpt_run *ckrun;   /* the checkpoint under way (ckpt.c), or NULL */
    struct snap *snaps;       /* named snapshots (snap.c) */
    uint32_t nsnaps;
    struct snap_op *snapop; /* the snapshot being made, or NULL */
    uint64_t ck_last_ms;    /* when the last one began */
    uint64_t ck_last_rseq;  /* e->rseq then: nothing written since, none is due */
    uint64_t ck_last_bytes; /* st.device_bytes_written then (cfg.checkpoint_bytes) */
    struct ck_orphan {
        uint64_t rseq, freed_at;
    } * ck_orphans; /* compaction's orphans from the checkpoint, for compact_init */
    uint32_t nck_orphans;
    struct segj *sj;         /* the segment journal (segj.c) */
    struct fence_ent *fence; /* fenced buffers, sorted (fence.c) */
    uint32_t nfence;
    struct ls_stats st;
};

/* ---- the shutdown checkpoint (ckpt.c) ---- */

/* Writes logstor.ckpt from the engine's state; only when every write is on disk and no
 * other will follow (ls_close). 0 or -errno (logged; the next open scans the log). */
int ckpt_write(struct ls_engine *e);
/* Checkpoints while running (cfg.checkpoint_interval_ms): begins one when due, and moves
 * the one under way on (serializes a step of the index snapshots; once the barrier over
 * the writes before it is in, writes the file on a thread). From ls_tick. */
void ckpt_tick(struct ls_engine *e);
/* Gives up the checkpoint under way (before anything that frees or replaces a table's
 * tree, and at close), and the snapshot being made (snap_abort). */
void ckpt_abort(struct ls_engine *e);

/* One run of the checkpoint writer, for snap.c: the state at this instant, serialized
 * over ticks and written to fname (in the data directory) once every write before it is
 * durable. start: NULL and *rc when it cannot begin. step: 0 under way, 1 written,
 * -ECANCELED (a write before it failed) or -errno. done frees a finished run and returns
 * the entries it held; abort gives one up (before a tree it snapshots is freed). */
struct ckpt_run *ckpt_run_start(struct ls_engine *e, const char *fname, int *rc);
int ckpt_run_step(struct ls_engine *e, struct ckpt_run *r);
uint64_t ckpt_run_done(struct ls_engine *e, struct ckpt_run *r);
void ckpt_run_abort(struct ls_engine *e, struct ckpt_run *r);

/* Reads a checkpoint file (a snapshot's) from fd, checked with seed (its directory's),
 * fills geom and calls fn for every index entry of every (physical) table in order, with
 * the sequence number of the use of the segment the entry's record is in. Stops at fn's
 * first non-zero return and returns it; else 0, LS_ECORRUPT or -errno. */
struct ckpt_geom {
    uint32_t tables, seg_size, nsegs;
    uint64_t rseq, written_ms;
};
typedef int (*ckpt_entry_fn)(void *arg, uint32_t table, const struct idx_ent *ent,
                             uint64_t seg_seq);
int ckpt_file_entries(int fd, uint64_t seed, struct ckpt_geom *geom, ckpt_entry_fn fn, void *arg);

/* Rolling back to a snapshot (snap.c): takes the index and the descriptors of the
 * segments the snapshot holds from its file fname, every other segment free (its block 0
 * to be cleared by the caller: held[g] 0), entries expired by now left out. pos[g]: where
 * records appended after the snapshot begin in a held segment open then (UINT32_MAX:
 * none). *keys: entries taken. 0, LS_ECORRUPT (a held segment holds another use, or the
 * file is damaged) or -errno. */
int ckpt_rollback_apply(struct ls_engine *e, const char *fname, uint64_t now, uint8_t *held,
                        uint32_t *pos, uint64_t *keys);

/* snap.c: named snapshots (ls_snapshot_*). tick advances the one being made; abort gives
 * it up (its caller told at the next tick, or by snap_close); open applies the holds of
 * the snapshots listed in logstor.snaps after recovery; close tells a caller whose
 * snapshot was given up; free releases the list. */
void snap_tick(struct ls_engine *e);
/* At open, after snap_open and compact_init: rolls back to snapshot name (the config's,
 * or the one a rollback interrupted by a crash names in logstor.rollback). 0 or an error
 * (the open fails; the marker stays, so the next open finishes it). */
int snap_rollback(struct ls_engine *e, const char *name);
void snap_abort(struct ls_engine *e);
int snap_open(struct ls_engine *e);
void snap_close(struct ls_engine *e);
void snap_free(struct ls_engine *e);

/* What recovery rolls forward from a checkpoint (recov.c). */
struct ckpt_info {
    uint64_t rseq;          /* the last rseq at the checkpoint: records at or below it that
                               come later are compaction's copies */
    uint8_t *changed;       /* per segment: the use the checkpoint knew is gone (freed and
                               reused, or blanked); its entries must have moved */
    uint32_t *from;         /* per segment to roll forward: the offset its records after the
                               checkpoint start at (0: the whole segment); UINT32_MAX: none */
    uint64_t seq;           /* the last segment sequence number at the checkpoint */
    struct ckpt_view *view; /* read by ckpt_clean_open, for ckpt_load */
    int skip;               /* phase 1 skipped: a clean close's, no data file changed */
};

/* Before phase 1 of recovery: reads logstor.ckpt into ci (ckpt_load takes it from there);
 * 1 (ci->skip) when it is a clean close's and every data file has the size, times and
 * inode it had then, so that phase 1 need not read the first block of every segment
 * (the open then fails rather than scan if the file cannot be applied); else 0. */
int ckpt_clean_open(struct ls_engine *e, struct ckpt_info *ci);
/* After ckpt_clean_open read a checkpoint written while running: fills cand[] (nsegs)
 * with the segments phase 1 must read (free at the checkpoint, or freed after it as the
 * segment journal says) and gives every other segment the use the checkpoint lists (it
 * cannot have changed). NULL, or why not ("" when there is nothing to say); nothing is
 * changed then. */
const char *ckpt_presume(struct ls_engine *e, const struct ckpt_info *ci, uint8_t *cand);
/* Frees what ckpt_clean_open read when ckpt_load will not run. */
void ckpt_info_free(struct ckpt_info *ci);

/* After phase 1 of recovery (or instead of it: ci->skip): takes the index and the
 * descriptors from logstor.ckpt when it is whole and agrees with the segments found (1; *records:
 * entries loaded; ci tells what to roll forward, its arrays the caller frees), else 0 (logged when
 * a file was there). blank0[g]: phase 1 read block 0 of segment g as zeros. -errno when the open
 * must fail. */
int ckpt_load(struct ls_engine *e, uint64_t now, const uint8_t *blank0, uint64_t *records,
              struct ckpt_info *ci);

/* Checkpoints while running are on (cfg.checkpoint_interval_ms or checkpoint_bytes):
 * crash restarts roll forward from them. */
int eng_roll_forward(const struct ls_engine *e);
/* Submits what is queued and waits until nothing is in flight. 0 or -errno. */
int eng_io_wait(struct ls_engine *e);

/* ---- the segment journal (segj.c) ---- */

/* Before recovery: opens logstor.segj and reads it (not read-only, with checkpoints while
 * running only). 0 or -errno. */
int segj_open(struct ls_engine *e);
/* For a crash open from a checkpoint naming journal jid at block jdone: marks in cand[]
 * the segments freed after it. NULL, or why the journal cannot tell (then every
 * segment's head is read). */
const char *segj_candidates(struct ls_engine *e, uint64_t jid, uint64_t jdone, uint8_t *cand);
/* After recovery: makes the file if needed and readies the journal. 0 or -errno. */
int segj_start(struct ls_engine *e);
void segj_free(struct ls_engine *e);
/* Frees go through the journal (else they are released at once). */
int segj_active(const struct ls_engine *e);
/* Journals segment g (a compaction victim with nothing live): compact_journaled(e, g)
 * once a block naming it is durable. */
void segj_add(struct ls_engine *e, uint32_t g);
/* Issues the next block (retries a failed one). */
void segj_tick(struct ls_engine *e);
/* The journal's id and its last durable block, for a checkpoint's header (0s: none). */
void segj_ids(const struct ls_engine *e, uint64_t *jid, uint64_t *jdone);
/* A checkpoint naming (jid, jdone) is durable. */
void segj_ckpt_durable(struct ls_engine *e, uint64_t jid, uint64_t jdone);
/* Half the ring was written since the newest durable checkpoint: one is due. */
int segj_pressure(const struct ls_engine *e);
/* Segments waiting for a block or in the one in flight. */
uint32_t segj_pending(const struct ls_engine *e);

uint64_t eng_now_ms(const struct ls_engine *e);
/* The monotonic clock in us, for the latency statistics only (never for a decision). */
uint64_t eng_mono_us(void);
/* Notes that entries were judged expired (or recovery dropped expired PUTs) at clock now:
 * raises e->expiry_seen_ms, which compaction reads (compact.c, copy_record). */
void eng_expiry_seen(struct ls_engine *e, uint64_t now);
/* Looks at the filesystem's free space again (seg_room) when data files remain to be
 * created: compaction plans its rounds on free segments that must really be there. */
void eng_refresh_room(struct ls_engine *e);
void eng_log(const struct ls_engine *e, enum ls_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The compaction group of a key: table * compaction_groups + its token range. */
static inline uint32_t eng_group_of(const struct ls_engine *e, uint16_t table, uint64_t token)
{
    uint32_t n = e->cfg.compaction_groups;
    return (uint32_t)table * n + (uint32_t)((token >> 50) * n / 16384);
}

/* Appends one record through the buffered writer and updates the index. */
struct wrec {
    uint8_t type;
    uint8_t cont; /* batch flags: REC_F_CONT (more follow), REC_F_MEMB (not the first) */
    uint16_t table;
    const void *key;
    uint32_t key_len;
    const void *value;
    uint32_t value_len;
    uint32_t flags;
    uint64_t expire_ms;
    uint64_t token;
    uint32_t hash2;
    uint8_t vtag;    /* a PUT's type tag (ls_write_opts.vtype) */
    uint8_t ordered; /* ls_write_opts.ordered */
};
int wbuf_append(struct ls_engine *e, const struct wrec *r, ls_write_cb cb, void *arg);
/* Appends r[0..n) (PUTs and DELs of total bytes, fitting one write buffer) as one batch:
 * consecutive records of one buffer of the user stream, all but the last flagged
 * REC_F_CONT. cb runs once, for the last. */
int wbuf_append_batch(struct ls_engine *e, const struct wrec *r, uint32_t n, uint32_t total,
                      ls_write_cb cb, void *arg);
/* Seals the active buffer (if it holds records) and submits what the ring allows. */
void wbuf_flush(struct ls_engine *e);
/* How group commit judges the load now: 0 no window, 1 light, 2 heavy (ls_stats). */
int wbuf_gc_load(const struct ls_engine *e);
/* Does a user stream's active buffer hold records? */
int wbuf_user_pending(const struct ls_engine *e);
/* Copies a record (compaction) into stream st with its header as given (rseq kept) and
 * returns its new loc (> 0), or a negative code. old_loc (0 for hiders) is where it came
 * from, for revert after a failed write. The index is the caller's business. */
int64_t wbuf_copy(struct ls_engine *e, struct stream *st, const struct rec_hdr *h, const void *key,
                  const void *value, uint64_t token, uint32_t hash2, uint64_t old_loc);
/* Seals stream st's active buffer if it holds records. */
void wbuf_seal_stream(struct ls_engine *e, struct stream *st);
/* Seals the stream's active buffer and closes its open segment (the next append opens
 * another), so that compaction may take the segment. */
void wbuf_close_stream(struct ls_engine *e, struct stream *st);
/* Bytes held by compaction streams: active buffers plus sealed ones not yet acked. */
uint64_t wbuf_group_bytes(const struct ls_engine *e);
/* Submits sealed buffers while the ring has room. */
void wbuf_kick(struct ls_engine *e);
/* Registers a barrier over everything appended so far. */
int wbuf_barrier(struct ls_engine *e, ls_write_cb cb, void *arg);
/* Copies `size` bytes at addr from a write buffer not yet retired; 1 if found. */
int wbuf_read_mem(struct ls_engine *e, uint64_t addr, uint32_t size, uint8_t *dst);
/* The record at addr when a write buffer holds it, else NULL: valid until the next
 * ls_poll, ls_tick or ls_close (buffers are recycled only when their writes are acked). */
const uint8_t *wbuf_peek_mem(const struct ls_engine *e, uint64_t addr, uint32_t size);
void wbuf_free_all(struct ls_engine *e);
void eng_defer_ack(struct ls_engine *e, ls_write_cb cb, void *arg, int rc, uint64_t cas);
/* Enters the sticky failed state after a device error outside the write buffers (writes
 * in flight still complete; new ones are refused). Logs once. */
void eng_fail(struct ls_engine *e, int err, const char *what);
/* Adds (sign > 0) or takes off a record's bytes to/from its segment's live count. */
void eng_live(struct ls_engine *e, uint64_t loc, int sign);
static inline void eng_unlive(struct ls_engine *e, uint64_t loc)
{
    eng_live(e, loc, -1);
}
/* Reads (logstor.c) as scan.c shares them: queue r to complete from ls_poll; give back a
 * device read's hold on the segment of addr; free r and its buffer. */
void eng_ready_push(struct ls_engine *e, struct rd *r);
/* Asks for an ls_poll: wakes ls_fd, or with caller_polls leaves it to the caller
 * (ls_wants_poll). */
void eng_wake(struct ls_engine *e);
/* Wakes ls_fd whatever caller_polls says: a group-commit flush is the loop's next turn,
 * so that it takes the writes of every client that turn serves (one device write for
 * them all, not one per client). */
void eng_wake_fd(struct ls_engine *e);
/* A put asks for the group commit: in sync mode with caller_ends_turns at the end of the
 * caller's turn (ls_turn_end), else at ls_fd's next wake-up. */
void eng_want_flush(struct ls_engine *e);
void eng_read_release(struct ls_engine *e, uint64_t addr);
void eng_rd_free(struct rd *r);
/* scan.c: a scan's read completed (r->scan set); the key cache freed at close. */
void eng_scan_read_done(struct rd *r, int res);
void eng_scan_free(struct ls_engine *e);
/* A record was written at addr of segment use seq (rec[0..size), verified by the write):
 * its key goes into the scan key cache when there is one, so KEYS and SCAN over keys
 * written since the last scan need not read them back. */
void eng_scan_note_put(struct ls_engine *e, uint64_t addr, uint64_t seq, const uint8_t *rec,
                       uint32_t size);
/* Reports a key dropped from the index for its expiry (cfg.expired; not while closing). */
static inline void eng_expired(struct ls_engine *e, uint32_t table, const void *key, size_t n)
{
    if (e->cfg.expired && !e->closing)
        e->cfg.expired(e->cfg.expired_arg, table, key, n);
}
/* Removes every entry of a table, taking their bytes off the live counts. */
void eng_flush_table(struct ls_engine *e, uint16_t table);

/* ---- the data directory's meta file (logstor.c) ---- */
struct eng_meta {
    uint32_t version, segment_size, file_size, features;
    uint64_t seed, created_ms;
};
/* Feature bits of logstor.meta (bytes 20..23): set by the first write that needs them; an
 * engine refuses a directory with a bit it does not know (LS_EFORMAT). */
#define META_FEAT_VTYPE 0x1u /* records with a value type tag (ls_write_opts.vtype) */
#define META_FEAT_KNOWN META_FEAT_VTYPE
/* Sets feature bit f in logstor.meta (rewritten atomically and durably) unless it is set.
 * 0 or -errno (-EROFS on a read-only open). */
int feat_mark(struct ls_engine *e, uint32_t f);
/* The next segment sequence number. Numbers are reserved in batches in logstor.seq
 * (written and fsynced before any number of a batch is used), so that after a crash a
 * number is never handed out twice, even when the segment that last used it lost its
 * first block. Returns 0 or -errno. */
int eng_seq_next(struct ls_engine *e, uint64_t *out);
/* Raises e->seq above every number a previous run may have used. */
int eng_seq_load(struct ls_engine *e);
/* tmap.c: the physical table of an API table number (unchanged when out of range), and
 * loading logstor.tables at open (identity when absent). */
uint32_t eng_phys(const struct ls_engine *e, uint32_t table);
int eng_tmap_load(struct ls_engine *e);
/* Replaces the table map with map[0..n) (identity beyond n), durably first. */
int eng_tmap_set(struct ls_engine *e, const uint32_t *map, uint32_t n);

/* Reads dir_fd/logstor.meta. Returns 0, -errno, LS_ECORRUPT (damaged) or LS_EFORMAT. */
int eng_meta_read(struct simdev *sim, int dir_fd, struct eng_meta *out);

/* ---- buffers fenced off by a failed write (fence.c) ---- */
struct fence_ent {
    uint32_t seg, off; /* the buffer's segment and its offset in it */
    uint64_t seq;      /* the segment use it was written in */
};
_Static_assert(sizeof(struct fence_ent) == 16, "fence entries are 16 bytes on disk");
/* Reads logstor.fence (absent: no entry). 0, -errno or LS_ECORRUPT. */
int fence_load(struct ls_engine *e);
/* Is the buffer at (seg, off) of use seq fenced off? */
int fence_has(const struct ls_engine *e, uint32_t seg, uint32_t off, uint64_t seq);
/* Adds entries and rewrites the file durably before returning. 0 or -errno (logged). */
int fence_add(struct ls_engine *e, const struct fence_ent *v, uint32_t n);
/* After recovery: drops entries whose segment holds a newer use. */
int fence_prune(struct ls_engine *e);

/* ---- consistency (check.c) ---- */
/* Checks the invariants between the index, the descriptors and the free stack (check.c).
 * Returns 0, or -1 with a sentence in why. For tests and the simulator. */
int eng_check(const struct ls_engine *e, char *why, size_t len);

/* ---- recovery (recov.c) ---- */
int recov_run(struct ls_engine *e);
/* Walks the records of a segment image (g's current use, len bytes): fn(arg, record,
 * its address) for every record that verifies. Returns the number of damaged blocks or
 * records skipped. Shared by recovery and compaction. */
typedef void (*seg_walk_fn)(void *arg, const struct rec_view *v, uint64_t addr);
uint32_t seg_walk(struct ls_engine *e, const uint8_t *seg, uint32_t len, uint32_t g, seg_walk_fn fn,
                  void *arg);
/* The same from offset `from` (a buffer boundary) on: the records appended after a
 * checkpoint to a segment open then. */
uint32_t seg_walk_from(struct ls_engine *e, const uint8_t *seg, uint32_t len, uint32_t g,
                       uint32_t from, seg_walk_fn fn, void *arg);
/* Accounts a record written into segment g (put_bytes, tomb, rseq range, flags). */
void seg_note_record(struct seg_desc *d, uint8_t type, uint32_t size, uint64_t rseq,
                     uint64_t expire_ms);

/* ---- compaction (compact.c) ---- */
int compact_init(struct ls_engine *e);
void compact_free(struct ls_engine *e);
/* Drives compaction: starts rounds, issues reads, frees victims. Cheap when idle. */
void compact_tick(struct ls_engine *e, int timer); /* timer: called from ls_tick */
/* Every write acknowledged up to acked_gen: victims waiting on it may be freed. */
void compact_acked(struct ls_engine *e);
/* A device read into segment g finished (readers dropped to zero). */
void compact_reader_done(struct ls_engine *e, uint32_t g);
/* The segment journal named victim g durably (segj.c): it is freed (or waits for its
 * readers). The caller rebuilds the free stack. */
void compact_journaled(struct ls_engine *e, uint32_t g);
/* A segment's live bytes dropped to zero. */
void compact_note_dead(struct ls_engine *e, uint32_t g);
/* A segment's live bytes dropped: a selection may gain now. */
void compact_note_unlive(struct ls_engine *e);
/* Block 0 of a new use of segment g is durable: recovery no longer reads its old use. */
void compact_old_use_gone(struct ls_engine *e, uint32_t g);
/* Compaction's orphans (the stale_min of reused segments still counting): their number;
 * copied to rseq[]/freed_at[] when not NULL (for a checkpoint). */
uint32_t compact_orphans(const struct ls_engine *e, uint64_t *rseq, uint64_t *freed_at);
/* The user stream needs a segment and none is free above the reserve: LS_EBUSY while
 * compaction can reclaim space, LS_ENOSPACE when nothing is left to reclaim. */
int compact_space_error(struct ls_engine *e);
/* A large record needs n contiguous free segments and there is no such run although
 * enough segments are free: compaction frees a window of n (LS_EBUSY meanwhile), or says
 * LS_ENOSPACE when no window can be freed. */
int compact_want_run(struct ls_engine *e, uint32_t n);
/* A large record got its run: a window kept for it goes back to the free stack. */
void compact_run_taken(struct ls_engine *e);
/* May a compaction stream take the last blank segments (a round that needs them)? */
int compact_may_blank(const struct ls_engine *e);
/* Is a PUT of this key likely to outlive a mixed segment (its previous record is older
 * than the mixed segments compaction takes)? Then it goes to the ucold stream. */
int compact_predict_cold(const struct ls_engine *e, uint16_t table, uint64_t token, uint32_t hash2);
/* Free segments the user stream must leave to compaction (type: the record's). */
uint32_t compact_reserve(const struct ls_engine *e, uint8_t type);
void compact_stats(const struct ls_engine *e, struct ls_stats *st);
/* Segments compaction has freed so far (cheap, for the simulator's crash triggers). */
uint64_t compact_freed(const struct ls_engine *e);
/* The low water now: the smallest rseq of a dead PUT that recovery could read, as
 * compaction accounts it (hiders below it may be dropped). For the simulator. */
uint64_t compact_low_water(struct ls_engine *e);

#endif
