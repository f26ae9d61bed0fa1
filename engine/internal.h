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

#include <stdint.h>

#include "idx.h"
#include "logstor.h"
#include "rcache.h"
#include "rec.h"
#include "uio.h"

/* ---- segments (seg.c) ---- */

enum seg_state {
    SEG_FREE = 0, /* holds nothing current; may be allocated */
    SEG_OPEN,     /* the active segment: buffers are being appended */
    SEG_FULL,     /* written; holds records (perhaps none live) */
    SEG_CONT,     /* continuation of a large record run that starts earlier */
};

struct seg_desc {
    uint64_t seq;  /* sequence number of the current use (0: never used) */
    uint32_t live; /* bytes of records the index points at */
    uint8_t state; /* enum seg_state */
    uint8_t pad;
    uint16_t run; /* segments in a large run (on its first segment), else 1 */
};

struct seg_mgr {
    uint32_t seg_size, file_size, segs_per_file, nfiles, nsegs;
    int *fds;             /* per file; -1 when not created yet */
    struct seg_desc *d;   /* nsegs descriptors */
    uint32_t *free_stack; /* free segments, lowest number on top */
    uint32_t nfree;
    int dir_fd;
};

int seg_init(struct seg_mgr *m, const struct ls_config *cfg, int dir_fd);
void seg_fini(struct seg_mgr *m);
/* Opens the data files already present (recovery reads them). Returns 0 or -errno, or
 * LS_ECONFIG when more files exist than the disk budget allows. */
int seg_open_existing(struct seg_mgr *m, void (*log)(void *, enum ls_log_level, const char *),
                      void *log_arg);
/* Rebuilds the free stack from the descriptors (after recovery). */
void seg_rebuild_free(struct seg_mgr *m);
/* Allocates the lowest free segment, creating its file if needed. Returns the segment
 * number or LS_ENOSPACE / -errno. */
int64_t seg_alloc(struct seg_mgr *m);
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

/* ---- write buffers (wbuf.c) ---- */

struct wop {
    ls_write_cb cb;
    void *arg;
    uint64_t cas;
    uint64_t token;
    uint64_t new_loc;    /* where this record went (0 for flush) */
    struct idx_ent old;  /* the entry it replaced, for revert */
    struct idx *flushed; /* REC_FLUSH: the table's tree until the write is acknowledged */
    uint32_t hash2;
    uint16_t table;
    uint8_t type;
    uint8_t had_old;
};

enum wbuf_state { WB_FREE, WB_ACTIVE, WB_SEALED, WB_INFLIGHT, WB_DONE };

struct wbuf {
    struct uio_req req;
    struct ls_engine *e;
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
    int state;
    int result;
    int large; /* data allocated for one large record */
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
    uint32_t skip; /* offset of the record in buf */
    uint32_t size; /* record size (from the index) */
    uint32_t hash2;
    uint16_t table;
    uint8_t from_mem; /* buf is a heap copy from a write buffer */
    struct scan *scan;
    uint32_t scan_idx;
    struct rd *next;
    uint32_t key_len;
    uint8_t key[]; /* copy of the key asked for (gets only) */
};

struct ls_engine {
    struct ls_config cfg;
    char *dir;
    int dir_fd, lock_fd;
    uint64_t seed;
    struct uio *u;
    struct seg_mgr sm;
    struct idx **tables;
    struct rcache *cache;
    /* write path */
    uint64_t seq;          /* last segment sequence number used */
    uint64_t seq_reserved; /* numbers up to this one are reserved in logstor.seq */
    uint64_t rseq;         /* last record sequence number used */
    int64_t cur_seg;       /* the open segment, -1 if none */
    uint32_t cur_off;      /* next free byte in it (4 KiB aligned) */
    struct wbuf *active;
    struct wbuf *fifo_head, *fifo_tail; /* sealed, in flight or done: in gen order */
    struct wbuf *free_bufs;
    uint32_t nbufs, inflight;
    uint64_t waiting_bytes; /* sealed, not yet submitted */
    uint64_t gen;
    uint64_t acked_gen;
    uint64_t failed_gen; /* first failed buffer's gen, UINT64_MAX while healthy */
    int failed, last_error;
    int flush_wanted, woken;
    int gc_armed; /* the group-commit window timer is pending */
    int gc_due;   /* the window has closed: seal at the next chance */
    struct uio_req gc_req;
    struct barrier *barriers;
    /* deferred work, run by ls_poll */
    struct defer_ack *acks;
    uint32_t nacks, capacks;
    struct rd *ready_head, *ready_tail;
    struct scan *scans_ready;
    /* sweep */
    uint32_t sweep_table;
    uint64_t sweep_cursor;
    uint64_t last_flush_check_ms;
    int closing;
    struct ls_stats st;
};

uint64_t eng_now_ms(const struct ls_engine *e);
void eng_log(const struct ls_engine *e, enum ls_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one record through the buffered writer and updates the index. */
struct wrec {
    uint8_t type;
    uint16_t table;
    const void *key;
    uint32_t key_len;
    const void *value;
    uint32_t value_len;
    uint32_t flags;
    uint64_t expire_ms;
    uint64_t token;
    uint32_t hash2;
};
int wbuf_append(struct ls_engine *e, const struct wrec *r, ls_write_cb cb, void *arg);
/* Seals the active buffer (if it holds records) and submits what the ring allows. */
void wbuf_flush(struct ls_engine *e);
/* Submits sealed buffers while the ring has room. */
void wbuf_kick(struct ls_engine *e);
/* Registers a barrier over everything appended so far. */
int wbuf_barrier(struct ls_engine *e, ls_write_cb cb, void *arg);
/* Copies `size` bytes at addr from a write buffer not yet retired; 1 if found. */
int wbuf_read_mem(struct ls_engine *e, uint64_t addr, uint32_t size, uint8_t *dst);
void wbuf_free_all(struct ls_engine *e);
void eng_defer_ack(struct ls_engine *e, ls_write_cb cb, void *arg, int rc, uint64_t cas);
/* Adds (sign > 0) or takes off a record's bytes to/from its segment's live count. */
void eng_live(struct ls_engine *e, uint64_t loc, int sign);
static inline void eng_unlive(struct ls_engine *e, uint64_t loc)
{
    eng_live(e, loc, -1);
}
/* Removes every entry of a table, taking their bytes off the live counts. */
void eng_flush_table(struct ls_engine *e, uint16_t table);

/* ---- the data directory's meta file (logstor.c) ---- */
struct eng_meta {
    uint32_t version, segment_size, file_size;
    uint64_t seed, created_ms;
};
/* The next segment sequence number. Numbers are reserved in batches in logstor.seq
 * (written and fsynced before any number of a batch is used), so that after a crash a
 * number is never handed out twice, even when the segment that last used it lost its
 * first block. Returns 0 or -errno. */
int eng_seq_next(struct ls_engine *e, uint64_t *out);
/* Raises e->seq above every number a previous run may have used. */
int eng_seq_load(struct ls_engine *e);

/* Reads dir_fd/logstor.meta. Returns 0, -errno, LS_ECORRUPT (damaged) or LS_EFORMAT. */
int eng_meta_read(int dir_fd, struct eng_meta *out);

/* ---- recovery (recov.c) ---- */
int recov_run(struct ls_engine *e);

#endif
