/*
 * logstor.h - the public API of the logstor storage engine.
 *
 * logstor is a log-structured key-value engine: every write appends a record to a log
 * of 128 KiB segments kept in preallocated 32 MiB files (O_DIRECT, io_uring), and an
 * in-memory B-tree per table maps each key's token to the place of its newest record.
 * Keys are not kept in memory: a read fetches the record and compares the stored key.
 *
 * Threading: an engine instance belongs to one thread. Every function below must be
 * called from that thread. There are no globals, so a process may run one instance per
 * core with no locks between them.
 *
 * Asynchrony: ls_get, ls_put, ls_del, ls_scan, ls_flush_table and ls_sync return at
 * once. If such a call returns an error, its callback is never called. If it returns 0,
 * its callback is called exactly once, later, from ls_poll (or from ls_close), never
 * from inside the call that submitted it. The engine exposes one file descriptor
 * (ls_fd): when it is readable, call ls_poll. Call ls_tick every few milliseconds
 * (it drives the periodic flush and the expiry sweep).
 *
 * Errors: functions return 0 on success or a negative code: -errno for OS errors, or one
 * of the LS_E* codes below (their own range). ls_strerror names both. Out-parameters are
 * set only on success.
 *
 * Durability (ls_config.durability):
 *   LS_SYNC      a write's callback runs only after the device write that holds its
 *                record is on stable storage. Concurrent writes share device writes.
 *   LS_PERIODIC  a write's callback runs once the record is in a write buffer; buffers
 *                are written at least every flush_interval_ms.
 *
 * Failure: a failed device write puts the engine in a sticky failed state: every later
 * write fails with LS_EFAILED; reads keep being served. Writes that were not yet
 * acknowledged when the failure happened fail too and are not visible to reads.
 *
 * Caveats:
 * - Membership is decided by a 70-bit hash of the key (token + 20 more bits) for
 *   ls_lookup, ls_del and the existence test behind put; ls_get always compares the full
 *   key stored on disk and never returns another key's value.
 * - Values may exceed a segment (up to max_value_size); such a record is written to a
 *   run of contiguous free segments of one file, so it needs that many free segments.
 */
#ifndef LOGSTOR_H
#define LOGSTOR_H

#include <stddef.h>
#include <stdint.h>

#define LS_VERSION_STRING "0.1.0"

/* Engine error codes, in their own range below -10000 (errno values are above it). */
enum ls_error {
    LS_ENOTFOUND = -10001, /* the key is absent (or expired) */
    LS_ECORRUPT = -10002,  /* a checksum or format check failed on data read from disk */
    LS_EFAILED = -10003,   /* sticky failed state after a device error: writes refused */
    LS_ETOOBIG = -10004,   /* key or value larger than its configured limit */
    LS_EBUSY = -10005,     /* transient: too many writes waiting for a buffer, or no free
                              segment until compaction frees one; retry after ls_poll */
    LS_ENOSPACE = -10006,  /* disk full: no free segment and nothing left to reclaim
                              (deletes still work and make room) */
    LS_EBADTABLE = -10007, /* table number out of range */
    LS_EFORMAT = -10008,   /* data directory written by an incompatible format version */
    LS_ECONFIG = -10009,   /* invalid configuration value */
    LS_ECLOSING = -10010,  /* the engine is closing; operation abandoned */
    LS_EINVAL = -10011,    /* an argument out of range (an expiry beyond LS_EXPIRE_MAX) */
};

/* The latest expiry the engine keeps (2^44 - 1 ms: year 2527): the index holds expiries
 * in 44 bits. A write with a later one fails with LS_EINVAL; it is never cut short. */
#define LS_EXPIRE_MAX ((UINT64_C(1) << 44) - 1)

enum ls_durability { LS_SYNC = 0, LS_PERIODIC = 1 };

enum ls_log_level { LS_LOG_DEBUG = 0, LS_LOG_INFO = 1, LS_LOG_WARN = 2, LS_LOG_ERROR = 3 };

/* How compaction picks its victims (engine/compact.c). */
enum ls_compact_policy {
    LS_COMPACT_GREEDY = 0,       /* the emptiest segments first, as long as copying them
                                    gives a net gain of free segments (ScyllaDB) */
    LS_COMPACT_COST_BENEFIT = 1, /* the highest (1-u)*age/(1+u) first (Sprite LFS) */
};

struct ls_engine;
struct simdev;

/* Recovery progress, reported through ls_config.progress while ls_open scans the log. */
struct ls_recovery_progress {
    uint64_t segments_total; /* segments that will be scanned */
    uint64_t segments_done;  /* segments scanned so far */
    uint64_t records;        /* valid records applied so far */
    uint64_t corrupt_blocks; /* torn or corrupt 4 KiB blocks skipped so far */
    uint64_t elapsed_ms;
    int done; /* 1 on the last report */
};

struct ls_config {
    const char *dir;         /* data directory; created if missing */
    uint64_t disk_size;      /* bytes the data files may occupy in all */
    uint32_t segment_size;   /* bytes; multiple of 4096; default 128 KiB */
    uint32_t file_size;      /* bytes; multiple of segment_size; default 32 MiB */
    uint32_t tables;         /* number of tables (Redis databases); default 16 */
    uint32_t max_key_size;   /* bytes; default 65536 */
    uint32_t max_value_size; /* bytes; default 1 MiB; at most 64 MiB and at most
                                ls_max_value(file_size, max_key_size) */
    enum ls_durability durability;
    uint32_t flush_interval_ms; /* periodic mode: longest time a record stays buffered */
    uint32_t write_buffer_size; /* bytes per write buffer; 0 (default) = segment_size */
    uint32_t write_buffers;     /* buffers in the ring (>= 4); default 8 */
    uint32_t group_commit_us;   /* sync mode: 0 (default) seals a group-commit write at
                                   every poll while the ring has room; N > 0 sends one
                                   at once to an idle device, and while one is in flight
                                   the next once N us have passed since the last such
                                   seal (under a heavy load, N us after a record first
                                   waits, and a completion that leaves none sends
                                   nothing before then), two in flight at most.
                                   Measured: 3x fewer device writes (less padding) but
                                   half the puts/s at 64 in flight. */
    uint64_t max_pending_bytes; /* bytes of writes allowed to wait for a buffer; past
                                   this, writes fail with LS_EBUSY; default 64 MiB */
    uint32_t queue_depth;       /* io_uring entries; default 256 */
    uint64_t cache_size;        /* bytes of recently read records kept in memory;
                                   default 64 MiB; 0 disables the cache */
    uint64_t scan_cache_size;   /* bytes of the scans' key cache (keys of records read
                                   or written, for KEYS and SCAN), allocated by the first
                                   scan that reads a record; 0: 8 MiB (the least) */
    int cache_writes;           /* 1: records just written go into the cache too while it
                                   has room to spare (nothing evicted for them); 0 (the
                                   engine's default): only records read, and the new
                                   versions of cached ones */
    /* Compaction (space reclamation). Watermarks count free segments; 0 picks the
     * default (low LS_COMPACT_LOW_MIN, high low + 8, whatever the disk size: the pool is
     * space the data cannot use; uniform 90% on 2 GiB, bench_compact: 5.21, was 5.48
     * with a pool of 1/128 of the segments).
     * Compaction starts below low and runs until high. A low
     * under LS_COMPACT_LOW_MIN is refused (LS_ECONFIG): at high utilization a round needs
     * that many free segments for its copies before it frees its victims. Free segments
     * are space compaction cannot use for data, so the pool does not grow with the disk. */
    uint32_t compact_low;
    uint32_t compact_high;
#define LS_COMPACT_LOW_MIN 16
    enum ls_compact_policy compact_policy; /* default LS_COMPACT_GREEDY */
    uint32_t compaction_groups;            /* token ranges per table; default 4, <= 64 */
    uint64_t separator_memory;             /* bytes of separator (compaction output) buffers not yet
                                              on disk before compaction pauses; default 8 MiB */
    /* Optional clock for expiry (unix time in ms); NULL uses CLOCK_REALTIME. */
    uint64_t (*clock_ms)(void *arg);
    void *clock_arg;
    /* Optional log callback (the engine never prints). */
    void (*log)(void *arg, enum ls_log_level level, const char *msg);
    void *log_arg;
    /* Optional recovery progress callback, called from ls_open. */
    void (*progress)(void *arg, const struct ls_recovery_progress *p);
    void *progress_arg;
    uint32_t progress_interval_ms; /* default 1000 */
    /* Checkpoints of the index while running (ckpt.c): one every this many ms when
     * anything was written since the last; a crash restart then reads the checkpoint
     * and the segments written after it. 0 (default): only at a clean close, and the
     * next open uses it only when nothing was written after it (unless checkpoint_bytes
     * is set). sim_engine --checkpoints checks them against its model. */
    uint32_t checkpoint_interval_ms;
    /* And one as soon as this many bytes were written to the device since the last began
     * (user writes and compaction's), whatever the interval: it bounds what a crash
     * restart reads after the checkpoint. 0 (default): by time only. */
    uint64_t checkpoint_bytes;
    /* Optional: called once for each key the engine finds expired and drops from its
     * index (Redis's "expired" keyspace event), with the key's bytes borrowed for the
     * call. Called from the engine's thread, from inside the call that found it: ls_get,
     * ls_lookup, ls_del and ls_put (the key given), ls_poll (compaction, or the key read
     * for a sweep report) and ls_tick; never while ls_close runs. The callback must not
     * call into the engine. A key whose expiry a read's record check finds first (the
     * index said live) is reported when it is dropped, later. Reports that cost work
     * (the sweep reads each expired record to learn its key; a put looks its key up)
     * happen only while ls_report_expired is on. */
    void (*expired)(void *arg, uint32_t table, const void *key, size_t key_len);
    void *expired_arg;
    /* Open a damaged directory anyway: data files that are missing, swapped, from another
     * directory or overwritten are counted and logged, their segments treated as free
     * (and so overwritten later). Without it such an open fails with LS_ECORRUPT. */
    int salvage;
    /* Open to inspect only (logstor-check): no lock, nothing written or created, no
     * compaction; damage is counted and logged, never refused. Only reads may follow. */
    int read_only;
    /* Roll back to this named snapshot while opening (ls_snapshot_create): the tables
     * become what they were at its instant, durably, before ls_open returns; every
     * segment it does not hold is cleared. Refused (LS_EINVAL) while other snapshots
     * exist. An open interrupted during a rollback finishes it at the next open, whatever
     * this says. NULL or "": none. */
    const char *rollback;
    /* The caller polls: work queued by a call (a read to submit, a callback to run) makes
     * ls_wants_poll true instead of waking ls_fd, and the caller calls ls_poll itself once
     * its batch of calls ends (an event loop, at the end of every callback) or ls_wake to
     * be woken through ls_fd after all. Saves an eventfd write, a wake-up and an eventfd
     * read per GET from the device. 0 (default): ls_fd is woken. */
    int caller_polls;
    /* The caller calls ls_turn_end at the end of every turn of its loop, once every event
     * that turn had is handled. In sync mode the group commit (the write buffer sealed
     * and sent with every record the turn added) then runs there, rather than at the
     * next wake-up of ls_fd, which each put asked for: per group commit that saves an
     * eventfd write, a turn of the caller's loop (an epoll_wait that polls again every
     * socket it had just returned) and the eventfd read, and the commit leaves one turn
     * earlier. 0 (default): ls_fd is woken. */
    int caller_ends_turns;
    /* Tests only: run on the simulator's in-memory device (engine/simdev.h, tests/sim)
     * instead of the OS; NULL (default) uses the OS. */
    struct simdev *sim;
};

/* The largest value one data file of file_size bytes holds beside a key of key_len
 * bytes (a record never spans files). ls_open refuses a max_value_size above
 * ls_max_value(file_size, max_key_size) with LS_ECONFIG. */
uint64_t ls_max_value(uint64_t file_size, uint32_t key_len);

/* Fills *cfg with the defaults (dir "./data", disk_size 1 GiB, sync durability). */
void ls_config_default(struct ls_config *cfg);

/* Opens (creating if needed) the data directory and rebuilds the index by scanning the
 * log. Returns 0 and sets *out, or a negative code (LS_ECONFIG, LS_EFORMAT, -errno; an
 * O_DIRECT refusal is -EINVAL with the directory named through the log callback). */
int ls_open(const struct ls_config *cfg, struct ls_engine **out);

/* Flushes every buffered write, waits for every in-flight I/O (running their callbacks),
 * closes the files and frees the engine. Safe on NULL. */
void ls_close(struct ls_engine *e);

/* The descriptor to watch for readability (an eventfd). */
int ls_fd(const struct ls_engine *e);

/* Processes completions and runs callbacks. Call when ls_fd is readable. Returns the
 * number of callbacks run, or a negative code. */
int ls_poll(struct ls_engine *e);
/* With caller_polls: 1 when calls since the last ls_poll queued work that only ls_poll
 * does (the engine did not wake ls_fd for it); always 0 without. */
int ls_wants_poll(const struct ls_engine *e);
/* Held submissions: with on, the I/O the engine starts (reads, buffer writes) is prepared
 * but handed to the kernel only by ls_submit (or once the ring is full, or when the
 * engine itself waits), so that a caller that polls after each of its events passes the
 * I/O of a whole turn of its loop in one system call. A caller that holds must call
 * ls_submit before it blocks. Off by default. */
void ls_hold_submissions(struct ls_engine *e, int on);
/* Hands the I/O held so far to the kernel, and wakes ls_fd for completions an
 * ls_submit_quiet left unpolled. Returns 0 or a negative code. */
int ls_submit(struct ls_engine *e);
/* ls_submit without waking ls_fd for what completes during the call (sends complete
 * there, ls_send): returns 1 when completions wait, and the caller must then call
 * ls_poll_pending (or ls_submit before it blocks: nothing else wakes it for them); 0
 * when none; or a negative code. */
int ls_submit_quiet(struct ls_engine *e);
/* With caller_ends_turns: the caller's loop ended a turn. Runs the group commit its puts
 * asked for (sync mode). The caller then polls if ls_wants_poll says so, and submits
 * (ls_submit) before it blocks. */
void ls_turn_end(struct ls_engine *e);
/* ls_poll for that work, when ls_fd did not wake the caller: the same, except that it
 * leaves ls_fd as it is (reading it would cost a system call that finds nothing). */
int ls_poll_pending(struct ls_engine *e);
/* Socket sends through the engine's ring: a caller whose loop holds submissions hands
 * the replies of a whole turn to the kernel with its reads and writes, in one
 * io_uring_enter (ls_submit), instead of a write(2) per connection. A send never waits
 * for room in the socket: a full one completes with -EAGAIN (the caller then waits for
 * writability itself), so a send is done once submitted (its callback runs at the next
 * ls_poll or ls_poll_pending) and a connection that stops reading ties up nothing of the
 * ring. The request belongs to the engine from ls_send until its callback, which gets
 * the bytes sent (possibly fewer than asked) or -errno; the descriptor must stay open
 * until then (the kernel looks it up at submission). */
struct ls_send;
typedef void (*ls_send_cb)(void *arg, int res);
/* NULL on ENOMEM. One request serves one send at a time, again and again. */
struct ls_send *ls_send_new(ls_send_cb cb, void *arg);
void ls_send_free(struct ls_send *s);
void ls_send(struct ls_engine *e, struct ls_send *s, int fd, const void *buf, uint32_t len);

/* With caller_polls: wakes ls_fd for the work ls_wants_poll reports (a caller that stops
 * polling for now, so that the work is not left waiting). */
void ls_wake(struct ls_engine *e);

/* Drives timers: periodic flush and a bounded step of the expiry sweep. Call every few
 * milliseconds (the server uses 10 ms). */
void ls_tick(struct ls_engine *e);

/* With cfg.expired set, on (the default) also reports the expiries that cost work: the
 * sweep reads each expired record for its key (at most LS_EXPIRY_READS reads and about
 * LS_EXPIRY_READ_BYTES of records at once; the sweep waits for them) and a put looks up
 * the key it may overwrite expired. Off, those keys are dropped unreported. Cheap to call
 * often. */
#define LS_EXPIRY_READS      512
#define LS_EXPIRY_READ_BYTES (UINT64_C(4) << 20)
void ls_report_expired(struct ls_engine *e, int on);

/* A stored item, borrowed by a callback for the duration of the call only. */
struct ls_item {
    const void *key;
    uint32_t key_len;
    const void *value;
    uint32_t value_len;
    uint64_t expire_ms; /* absolute unix ms, 0 = no expiry */
    uint32_t flags;     /* opaque client flags (memcached) */
    uint64_t cas;       /* unique per write; stable while the value is unchanged */
    uint8_t vtype;      /* the value's type tag, as written (ls_write_opts) */
};

/* Index-only metadata of a key (no I/O). */
struct ls_meta {
    uint64_t expire_ms;   /* 0 = no expiry */
    uint32_t record_size; /* bytes on disk, header included */
};

/* A value's type tag: 0 for a plain value (every record written before tags existed
 * reads as 0); 1..LS_VTYPE_MAX are the caller's (logstord: Redis's data types). Kept in
 * the record header (FORMAT.md "Collections"), copied by compaction, returned by reads
 * (ls_item) and scans (ls_scan_key); the engine gives it no other meaning. The first
 * write of a nonzero tag to a directory marks it in logstor.meta (a feature bit) so that
 * engines that do not know tags refuse the directory. */
#define LS_VTYPE_MAX 15

struct ls_write_opts {
    uint64_t expire_ms; /* absolute unix ms, 0 = no expiry */
    uint32_t flags;     /* opaque client flags kept with the item */
    uint8_t vtype;      /* type tag, 0..LS_VTYPE_MAX (0: a plain value) */
    /* 1: the write never reaches the device ahead of a write submitted before it, so
     * after a crash it is found only with every earlier write that was not lost to
     * overwriting (a write computed from state still in flight: a large collection's
     * pages and root). Without it, recovery may keep an intact later buffer and lose an
     * earlier one (FORMAT.md). In a batch (ls_write_batch) any op's flag orders the
     * whole batch, deletes' included. Its cost: its buffer waits for every earlier one. */
    uint8_t ordered;
};

/* rc is 0 with item set, LS_ENOTFOUND, LS_ECORRUPT, or -errno. */
typedef void (*ls_get_cb)(void *arg, int rc, const struct ls_item *item);
/* rc is 0 (cas set for puts), LS_EFAILED, LS_ENOTFOUND (ls_del of an absent key never
 * gets here: it fails at submission), or -errno. */
typedef void (*ls_write_cb)(void *arg, int rc, uint64_t cas);

/* Reads the newest value of key in table. The key and its bytes are borrowed for the
 * call only. Returns 0 (callback will run), LS_ENOTFOUND at once when the index holds no
 * live entry, LS_EBADTABLE, LS_ETOOBIG. */
int ls_get(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_get_cb cb,
           void *arg);
/* ls_get that also sets *record_size (when it returns 0) to the size of the record it
 * reads, as ls_lookup would: one index lookup instead of two for a caller that accounts
 * for the bytes a read brings. */
int ls_get_sized(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_get_cb cb,
                 void *arg, uint32_t *record_size);

/* Reads the newest value of key without I/O when its record is in memory (a write
 * buffer or the record cache): returns 0 with *item set, its bytes borrowed from the
 * engine until the next ls_poll, ls_tick or ls_close (other calls, ls_put with these
 * bytes included, leave them in place); 1 when the record must be read from the device
 * (call ls_get: nothing was started); or the error ls_get's callback would have had,
 * at once (LS_ENOTFOUND, LS_ECORRUPT, LS_EBADTABLE, LS_ETOOBIG). A GET served from
 * memory needs no callback round trip through ls_poll and no copy of the record. */
int ls_get_mem(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
               struct ls_item *item);
/* ls_get_mem that, when the record is on the device, starts its read as ls_get_sized
 * would (cb runs later from ls_poll; *record_size set) and returns 1: one index lookup
 * whichever way the value comes. Returns 0 (answered: *item set, no callback), 1 (read
 * started), or ls_get's errors at once. */
int ls_get_now(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
               struct ls_item *item, ls_get_cb cb, void *arg, uint32_t *record_size);

/* Prefetch hints for a run of reads about to follow one another (pipelined GETs): the
 * misses of their lookups overlap instead of coming one after another. ls_prefetch_key
 * searches the index for key now and asks the CPU for the record cache slot its record
 * would be in, remembering where the record is in *pf (at most LS_PREFETCH_MAX keys; more
 * are ignored); ls_prefetch_records then asks for the cached records themselves and
 * empties *pf. Neither changes anything a caller can see: no expiry is applied, nothing is
 * counted, and a key that is absent, too long or of a bad table is skipped. Start with
 * pf->n = 0. */
#define LS_PREFETCH_MAX 32
struct ls_prefetch {
    uint32_t n;
    uint64_t addr[LS_PREFETCH_MAX];
    uint32_t size[LS_PREFETCH_MAX];
};
void ls_prefetch_key(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
                     struct ls_prefetch *pf);
void ls_prefetch_records(struct ls_engine *e, struct ls_prefetch *pf);

/* Writes key = value. key and value are copied before the call returns. opts may be NULL.
 * A record already past its expiry is treated as a delete. Returns 0 (callback will run),
 * LS_ETOOBIG, LS_EINVAL (expiry past LS_EXPIRE_MAX, a tag past LS_VTYPE_MAX), LS_EFAILED,
 * LS_EBUSY, LS_ENOSPACE, LS_EBADTABLE, or -errno (the first tagged write could not mark
 * logstor.meta). */
int ls_put(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, const void *value,
           size_t value_len, const struct ls_write_opts *opts, ls_write_cb cb, void *arg);

/* Deletes key by writing a tombstone. Returns LS_ENOTFOUND at once (nothing written, no
 * callback) when the key is absent, else as ls_put. */
int ls_del(struct ls_engine *e, uint32_t table, const void *key, size_t key_len, ls_write_cb cb,
           void *arg);

/* One write of a batch (ls_write_batch). */
struct ls_batch_op {
    int del; /* 1: delete the key (a tombstone, whether the key exists or not); 0: put */
    uint32_t table;
    const void *key;
    size_t key_len;
    const void *value; /* put only */
    size_t value_len;
    struct ls_write_opts opts; /* put only */
};

/* Writes ops[0..n) as one unit: after a crash either every one of them is found or
 * none. They are visible to reads at once, in order (a later op on the same key wins),
 * as n ls_put/ls_del calls would be. Keys and values are copied. cb runs once, when the
 * whole batch is acknowledged (sync: on stable storage). Returns 0 (callback will run),
 * LS_ETOOBIG when the records together do not fit one write buffer
 * (ls_batch_max_bytes; write them one by one instead, without the unit), LS_EINVAL (n
 * is 0, or an expiry past LS_EXPIRE_MAX), and the errors of ls_put. */
int ls_write_batch(struct ls_engine *e, const struct ls_batch_op *ops, uint32_t n, ls_write_cb cb,
                   void *arg);
/* The largest batch: record bytes (ls_record_size of each op) one write buffer holds. */
uint32_t ls_batch_max_bytes(const struct ls_engine *e);
/* The bytes a record of this key and value takes in the log. */
uint32_t ls_record_size(size_t key_len, size_t value_len);
/* The record bytes of ops[0..n) as ls_write_batch counts them against ls_batch_max_bytes. */
uint64_t ls_batch_bytes(const struct ls_batch_op *ops, uint32_t n);

/* Index-only existence and metadata. Returns 0 and fills *out, or LS_ENOTFOUND. */
int ls_lookup(struct ls_engine *e, uint32_t table, const void *key, size_t key_len,
              struct ls_meta *out);

/* One key found by a scan, borrowed for the callback only. */
struct ls_scan_key {
    const void *key;
    uint32_t key_len;
    uint64_t expire_ms;
    uint8_t vtype; /* the value's type tag */
};
/* rc 0: keys[0..n) in token order; next_cursor 0 means the scan is complete. */
typedef void (*ls_scan_cb)(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n,
                           uint64_t next_cursor);

/* Ordered scan of a table by token, starting at cursor (0 = beginning), visiting about
 * count entries (more when several keys share a token; at most LS_SCAN_MAX, fewer when
 * the keys their records could hold pass LS_SCAN_MAX_BYTES). Learns each key from its
 * record: from memory when it can, else by device reads in address order that records of
 * one segment share (scan.c). Returns 0 (callback will run) or a negative code. */
#define LS_SCAN_MAX 262144
/* ls_scan with a filter: a key for which match(marg, key, key_len, vtype) returns 0 is
 * left out of the reply (its bytes are never copied). match runs on the engine's thread
 * before the callback, and must not call into the engine. */
typedef int (*ls_scan_match_fn)(void *marg, const void *key, uint32_t key_len, uint8_t vtype);
int ls_scan_match(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count,
                  ls_scan_match_fn match, void *marg, ls_scan_cb cb, void *arg);
/* ... and it stops early once the keys its entries' records could hold (each counted as
 * its record's size less the header, at most max_key_size) add up to this many bytes (at
 * least one key per call; the cursor resumes after the last one). */
#define LS_SCAN_MAX_BYTES (UINT64_C(16) << 20)
int ls_scan(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count, ls_scan_cb cb,
            void *arg);

/* A random live key's scan cursor (its token), for RANDOMKEY: scan from it with count 1.
 * Returns LS_ENOTFOUND on an empty table. */
int ls_random_cursor(struct ls_engine *e, uint32_t table, uint64_t *cursor);

/* Number of entries in table (expired entries not yet swept are counted). */
uint64_t ls_count(const struct ls_engine *e, uint32_t table);

/* Number of entries in table that have an expiry (counted as ls_count counts), and in
 * *expire_sum_ms (may be NULL) the sum of their expiries in absolute unix ms, from which
 * a caller gets the mean time to live. Exact across overwrite, delete, expiry, flush,
 * swap and recovery; O(1). 0 for a table out of range. */
uint64_t ls_count_expires(const struct ls_engine *e, uint32_t table, uint64_t *expire_sum_ms);

/* Deletes every key of table (writes one table-flush record). */
int ls_flush_table(struct ls_engine *e, uint32_t table, ls_write_cb cb, void *arg);

/* Exchanges the contents of tables a and b (Redis SWAPDB): from the return on, every call
 * naming a sees what b held and the reverse. No record is copied: the engine keeps a map
 * from table numbers to its tables, replaced atomically and durably in logstor.tables
 * before this returns (synchronous: two fsyncs), so a swap that returned 0 survives a
 * crash and one that failed left both tables as they were. Operations already submitted
 * complete on the table they named when submitted. Returns 0, LS_EBADTABLE, LS_EFAILED,
 * LS_ECLOSING, LS_EINVAL (read-only open), or -errno (the map file could not be written;
 * nothing changed). */
int ls_swap_tables(struct ls_engine *e, uint32_t a, uint32_t b);

/* Writes out every buffered record; the callback runs when all writes submitted before
 * this call are on stable storage. */
int ls_sync(struct ls_engine *e, ls_write_cb cb, void *arg);

/* A number never returned before in the directory's life: above every record sequence
 * number found at open and every number returned or written before, and below the
 * sequence number of every record written after the call. Only a number some record
 * written later outlives a crash with is guaranteed never to come back (the server's
 * large collections name their pages with one: FORMAT.md "Large form"). */
uint64_t ls_new_version(struct ls_engine *e);

/* The key's token: Redis Cluster hash slot in the top 14 bits, xxh3 below. */
uint64_t ls_token(const void *key, size_t key_len);
/* The Redis Cluster hash slot of key (CRC16 of the key or of its {tag}, mod 16384). */
uint32_t ls_key_slot(const void *key, size_t key_len);

/* A latency histogram: 4 buckets per power of two of microseconds (values 0-3 have one
 * each), so a percentile read from it is at most 25% above the true one; up to 2^31 us. */
#define LS_LAT_BUCKETS 124
struct ls_lat_hist {
    uint64_t count;
    uint64_t max_us;
    uint64_t bucket[LS_LAT_BUCKETS];
};
void ls_lat_add(struct ls_lat_hist *h, uint64_t us);
/* The upper bound of the bucket holding the pct-th percentile (0 < pct <= 100), in us; 0
 * when the histogram is empty. */
uint64_t ls_lat_percentile(const struct ls_lat_hist *h, double pct);

struct ls_stats {
    uint64_t keys;           /* entries over all tables */
    uint64_t index_bytes;    /* memory held by the B-trees */
    uint64_t segments_total; /* segments the disk budget allows */
    uint64_t segments_free;
    uint64_t segments_used;
    uint64_t files;
    uint64_t segments_mixed;          /* in use, written by users (all tables together) */
    uint64_t segments_group;          /* in use, written by compaction (one group each) */
    uint64_t live_bytes;              /* bytes of records the index points at */
    uint64_t tomb_bytes;              /* bytes of tombstones and flush records on disk */
    uint64_t user_bytes_written;      /* record bytes submitted by users */
    uint64_t user_cold_bytes_written; /* of those, predicted cold (cost-benefit; compact.c) */
    uint64_t device_bytes_written;    /* bytes written to the device (padding included) */
    uint64_t device_writes;
    /* compaction: bytes of records copied from user-written (mixed) segments into group
     * segments (the separator), and from group segments into group segments; write
     * amplification is device_bytes_written / user_bytes_written */
    uint64_t separator_bytes_written;
    uint64_t compaction_bytes_written;
    uint64_t compaction_runs;    /* rounds started */
    uint64_t segments_compacted; /* victims read and copied */
    uint64_t compaction_stuck;   /* times its last rounds gained nothing (values too large to
                                    pack tighter): writes short of room get disk full */
    uint64_t segments_freed;     /* victims and dead segments given back */
    uint64_t segments_blanked;   /* free segments whose block 0 was cleared so that a
                                    restart finds them free (compact.c, keep_blank) */
    uint64_t records_copied;
    uint64_t tombstones_dropped;    /* tombstones/expired/flush records not copied */
    uint64_t write_stalls;          /* writes refused LS_EBUSY waiting for space */
    int compaction_active;          /* a round is in progress */
    double write_amplification;     /* device_bytes_written / user_bytes_written */
    uint64_t device_reads;          /* reads of GETs and scans from the device */
    uint64_t device_read_bytes;     /* what they fetched (whole 4 KiB blocks: a record of
                                       4152 bytes reads 8 or 12 KiB) */
    uint64_t compaction_read_bytes; /* victim segments compaction read */
    uint64_t buffer_hits;           /* reads served from a write buffer */
    uint64_t file_stalls;           /* data files made on the event loop, or waited for there
                                       (a thread makes them ahead of need: seg.c) */
    uint64_t read_corrupt;          /* records a GET or a scan found damaged or could not read
                                       (logged; a scan leaves their keys out) */
    uint64_t cache_hits, cache_misses, cache_bytes, cache_entries;
    uint64_t puts, gets, dels;
    uint64_t expired_dropped; /* expired entries removed from memory */
    uint64_t pending_bytes;   /* bytes waiting for a write buffer */
    uint64_t inflight_writes;
    uint64_t failed; /* 1 in the sticky failed state */
    int last_error;  /* the device error that caused it */
    /* recovery */
    uint64_t recovery_ms;
    uint64_t recovery_records;
    uint64_t recovery_corrupt_blocks;
    uint64_t recovery_segments;
    uint64_t recovery_from_checkpoint; /* 1: the last open took the index from a checkpoint
                                          (logstor.ckpt) and rolled forward from it; 2: a
                                          clean close's, every data file unchanged since:
                                          no segment's first block was read either */
    uint64_t checkpoints;              /* written while running */
    uint64_t checkpoints_failed;       /* given up (a failed write, no memory, a FLUSH) */
    uint64_t checkpoint_last_ms;       /* how long the last one took, start to file */
    uint64_t checkpoint_last_keys;     /* entries it held */
    uint64_t recovery_damaged_files;   /* data files missing, swapped, from another directory
                                          or overwritten (the open refuses them unless
                                          salvage is set; see ls_config.salvage) */
    uint64_t recovery_heads_read;      /* segment first blocks the last open read (phase 1:
                                          every segment's, or after a checkpoint while
                                          running only those the segment journal names) */
    uint64_t recovery_heads_presumed;  /* of the others, segments whose use the last open took
                                          from the checkpoint without reading them */
    uint64_t segj_writes;              /* segment journal blocks written (freed segments
                                          named before reuse) */
    uint64_t segj_failures;            /* of those, writes that failed (retried) */
    uint64_t ordered_writes;           /* writes and batches with ls_write_opts.ordered */
    uint64_t ordered_waits;            /* of their buffers, those that waited for an older
                                          one to be done before going to the device */
    /* sync mode with group_commit_us: seals that started a device write for group commit,
     * and how the load was judged at them (wbuf.c gc_judge, every 10 ms or more: heavy at 4
     * records or more per window). group_commit_load: 0 no window (periodic mode,
     * group_commit_us 0), 1 light (the window counts from the last seal), 2 heavy (from
     * when a record first waits; a completion's clients join the next write). */
    uint64_t group_commit_seals;
    uint64_t group_commit_judged_light;
    uint64_t group_commit_judged_heavy;
    int group_commit_load;
    /* Where a durable write's time goes: each device write of a buffer (users' and
     * compaction's), from its submission to its completion; and each user buffer from its
     * first record to its records' callbacks (sync mode: what the oldest client of a group
     * commit waited: the window or the write in flight before its own, its own write, and
     * older buffers still being written, which are acknowledged first; periodic
     * mode: until it is on disk, acknowledged long before). */
    struct ls_lat_hist write_latency;
    struct ls_lat_hist commit_latency;
};
void ls_get_stats(const struct ls_engine *e, struct ls_stats *out);

/* ---- named snapshots (snap.c; SNAPSHOT CREATE/LIST/DROP, logstor-backup) ---- */

#define LS_SNAP_NAME_MAX 63 /* letters, digits, '_', '-', '.'; not starting with '.' */
#define LS_SNAP_MAX      16 /* snapshots at once */

struct ls_snapshot_info {
    char name[LS_SNAP_NAME_MAX + 1];
    uint64_t created_ms; /* unix ms */
    uint64_t keys;       /* index entries it holds (keys expired since included) */
    uint64_t segments;   /* segments it holds: never compacted while it exists */
    int damaged;         /* a segment it held was found reused at open: it cannot be read */
};

/* Takes a point-in-time snapshot of every table without stopping writes: the index at
 * this instant, written to its own file once every write before it is durable, and a
 * hold on every segment it names. cb(arg, 0) when it is made and listed (durably), else
 * cb(arg, rc): LS_EFAILED (a write before it failed), -ECANCELED (a FLUSH of a table came
 * first: try again), LS_ECLOSING, -errno. Returns 0 (cb will run), LS_EINVAL (a bad
 * name), -EEXIST, LS_EBUSY (another is being made), -EMLINK (LS_SNAP_MAX exist), -EROFS,
 * LS_EFAILED, LS_ECLOSING, -ENOMEM. */
int ls_snapshot_create(struct ls_engine *e, const char *name, ls_write_cb cb, void *arg);
/* Drops a snapshot: its holds go (compaction may take its segments) and its file is
 * deleted. 0, LS_ENOTFOUND, or -errno (the list could not be rewritten: it stays). */
int ls_snapshot_drop(struct ls_engine *e, const char *name);
/* Fills up to max entries, oldest first; returns how many. */
uint32_t ls_snapshot_list(const struct ls_engine *e, struct ls_snapshot_info *out, uint32_t max);
/* Segments held by at least one snapshot. */
uint64_t ls_snapshot_held_segments(const struct ls_engine *e);
/* Copies snapshot `name` of the directory src_dir (an engine may have it open and go on
 * writing) into dst, an engine the caller opened on another directory with at least as
 * many tables: every key live at the snapshot's instant and not expired now, with its
 * value, expiry and flags, in the same database. Every record is verified before it is
 * copied. Polls dst until every write is done (ls_close it to make it durable and write
 * its checkpoint). 0 (*keys: keys copied), or an error with a sentence in err. */
int ls_snapshot_export(const char *src_dir, const char *name, struct ls_engine *dst, uint64_t *keys,
                       char *err, size_t errlen);
/* The number of tables the engine was opened with. */
uint32_t ls_tables(const struct ls_engine *e);

/* Segments in use by compaction group g of table t (g < compaction_groups). */
uint64_t ls_group_segments(const struct ls_engine *e, uint32_t table, uint32_t group);

/* Names an LS_E* code or a -errno value. */
const char *ls_strerror(int rc);

/* Fault injection for tests: costs one branch when unset. n counts device writes (or
 * reads) from the moment of the call, starting at 1; 0 disables that fault. */
struct ls_faults {
    uint64_t fail_write_n; /* the Nth write completes with -EIO, nothing written */
    uint64_t fail_read_n;  /* the Nth read completes with -EIO */
    uint64_t tear_write_n; /* the Nth write writes only tear_bytes, then fails -EIO */
    uint32_t tear_bytes;   /* multiple of 4096 */
    int error;             /* errno to report instead of EIO (e.g. ENOSPC) */
};
void ls_set_faults(struct ls_engine *e, const struct ls_faults *f);

#endif
