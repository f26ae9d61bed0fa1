/*
 * server.h - the state of one logstord instance: its event loop, its engine, its
 * connections and its counters. Everything hangs off one struct server that is passed
 * around (no process-wide server globals), so that a later version can run one instance
 * per core, each with its own loop and engine.
 */
#ifndef LS_SERVER_SERVER_H
#define LS_SERVER_SERVER_H

#include <stdint.h>

#include "config.h"
#include "pbuf.h"

/* Longest wait for in-flight requests at shutdown before forcing it. */
#define SERVER_SHUTDOWN_MS 30000

struct event_base;
struct event;
struct ls_engine;
struct conn;
struct lockset;
struct net;
struct mcs_state;
struct req;
struct park_op;
struct txn_watches;
struct script_eng;
struct pubsub;
struct monitor;
struct pause;
struct tracking;
struct loading;
struct ls_stats;

struct server_stats {
    uint64_t connections_received;
    uint64_t rejected_connections;
    uint64_t commands_processed;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
    uint64_t expired_keys;
    uint64_t errors;
    uint64_t mc_commands;
    uint64_t output_limit_disconnects;
    uint64_t query_limit_disconnects;
    uint64_t busy_parked;        /* writes the engine refused as busy and that waited (park.c) */
    uint64_t txn_unbatched;      /* transactions too large for one batch: written one by one */
    uint64_t large_part_writes;  /* writes of a large collection's pages at stake and root */
    uint64_t large_new_versions; /* writes of a large collection as a whole new version */
    uint64_t heap_trims;         /* malloc_trim calls that gave free heap back (main.c) */
    uint64_t scripts_run;        /* EVAL/EVALSHA runs started */
    uint64_t busy_timeouts;      /* parked writes that failed busy after busy_timeout_ms */
    uint64_t evicted_clients;    /* closed past maxmemory_clients (conn_evict) */
    uint64_t stall_probes;       /* SIOCOUTQ asked of a full socket (conn_out_stalled) */
};

struct server {
    struct config cfg;
    const char *config_file; /* NULL when running on the embedded defaults */
    const char *executable;
    struct event_base *base;
    struct ls_engine *eng;   /* NULL while the engine is being opened (loading.c) */
    int sends;               /* replies go through eng's ring (io_uring_sends, conn.c) */
    uint64_t sends_queued;   /* sends queued this turn: run_loop runs their callbacks */
    uint32_t sends_held;     /* of those, queued since the ring was last submitted */
    struct loading *loading; /* the opening thread's state (loading.c) */
    int exit_status;         /* main's: 1 after a failed engine open */
    int log_reopen_pending;  /* SIGHUP while loading: reopen the log at the hand-over */
    int pidfile_written;     /* ours to unlink at exit (not another instance's) */
    struct event *eng_ev;
    struct event *tick_ev; /* 10 ms: ls_tick */
    struct event *cron_ev; /* 100 ms: idle timeouts, shutdown progress */
    struct event *sig_ev[4];
    struct net *net;
    struct lockset *locks;       /* the concurrency rule's lock table (lockset.c) */
    struct txn_watches *watches; /* WATCHed keys of every connection (txn.c) */
    struct script_eng *scripts;  /* the Lua interpreter and script cache (script.c) */
    struct mcs_state *mcs;       /* memcached front-end state (mcserver.c) */

    /* large.c: versions of large lists being written (anchor and pages ahead of their
     * root): the reaper leaves them alone. */
    uint64_t *large_writing;
    const void **large_writing_owner; /* NULL, or the EXEC/EVAL unit that adopted it */
    uint32_t large_writing_n, large_writing_cap;
    uint64_t root_moves;   /* MOVE, RENAME, SWAPDB so far: a reaper check spanning one looks
                              again (reaper.c) */
    struct reaper *reaper; /* reaper.c */

    struct conn *conns; /* every open connection (doubly linked) */
    /* Memory held by open connections (buffers, requests; bounded by maxmemory_clients),
     * and by closed ones whose requests are still in flight. */
    struct pbuf_acct client_mem, client_mem_closing;
    uint32_t nconns;
    struct conn *write_list; /* connections with replies to send */
    struct conn *free_list;  /* closed connections waiting to be freed */
    uint64_t next_client_id;
    uint64_t inflight;       /* requests not yet completed, all connections */
    struct req *req_pool[2]; /* freed small requests kept for reuse, by size class (conn.c) */
    uint32_t req_pool_n[2];
    struct park_op *park_head, *park_tail; /* writes waiting for engine space (park.c) */
    uint64_t parked;
    uint64_t park_passes; /* park_retry passes so far */

    int shutdown_asked; /* SIGTERM/SIGINT/SHUTDOWN seen */
    uint64_t shutdown_start_ms;
    uint64_t start_ms; /* unix ms at start-up */
    uint64_t start_mono_ms;
    uint64_t stat_reset_ms;
    struct server_stats stats;
    uint64_t recovery_ms;
    uint64_t last_save_ms;
    uint64_t changes_at_save; /* engine puts + dels when the last SAVE/BGSAVE began */
    uint64_t ops_per_sec;     /* sampled by the cron */
    uint64_t used_memory;     /* the process's RSS, sampled by the cron (server_oom) */
    uint64_t ops_last_cmds, ops_last_ms;
    uint64_t trim_last_ms; /* heap_trim (main.c): when it last looked, */
    uint64_t trim_at_ms;   /* when it last trimmed, */
    uint64_t trim_wait;    /* and how long the next waits (ms) */

    struct pubsub *ps;    /* channel and pattern tables (pubsub.c) */
    struct monitor *mon;  /* MONITOR clients (monitor.c) */
    struct pause *pause;  /* CLIENT PAUSE state and held commands (pause.c) */
    void *block;          /* requests blocked on lists (block.c) */
    struct tracking *trk; /* CLIENT TRACKING tables (tracking.c) */
};

/* Monotonic and unix clocks in milliseconds. */
uint64_t server_mono_ms(void);
uint64_t server_unix_ms(void);

/* ls_poll (ls_poll_pending when `pending`: the loop's own call, not the eventfd's),
 * its error logged, then the parked writes it may let go (park.c). */
void server_poll_engine(struct server *s, int pending);
/* Runs the deferred work every event callback ends with: the engine work our calls
 * queued (caller_polls), send queued replies, free closed connections, advance a
 * requested shutdown. */
void server_after_events(struct server *s);

/* The engine's counters (ls_get_stats), all zero while the engine is being opened. */
void server_engine_stats(const struct server *s, struct ls_stats *st);
/* ls_count of table t, 0 while the engine is being opened. */
uint64_t server_engine_count(const struct server *s, uint32_t t);

/* The process's resident memory in bytes, read now (/proc/self/statm). */
uint64_t server_rss_bytes(void);
/* Whether maxmemory is set and the memory used (sampled every 100 ms) is over it: then
 * commands that may add data are refused with -OOM (maxmemory-policy noeviction; logstord
 * keeps its data on disk and never evicts). */
int server_oom(const struct server *s);

/* Starts a graceful shutdown (stop accepting, finish in-flight requests, close). */
void server_request_shutdown(struct server *s, const char *why);

#endif
