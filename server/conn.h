/*
 * conn.h - client connections and their requests.
 *
 * A connection owns an input buffer, an output buffer and a queue of requests in command
 * order. A request (struct req) is also the reply slot of its command: it is created when
 * the command is parsed, filled when the command completes (possibly much later, from an
 * engine callback), and its reply is moved to the output buffer once every earlier request
 * of the connection has completed. So replies leave in command order whatever order the
 * engine completes them in.
 *
 * Ownership: a request belongs to its connection's queue from conn_req_new until it is at
 * the head and done; a connection closed by its peer stays allocated (without a socket)
 * until its last request completes, so engine callbacks never see a freed request.
 *
 * Memory: everything a connection holds (query buffer, requests, reply buffers, values
 * being read for its commands) is charged to its account `mem`, and every open
 * connection's to the server's client_mem; its reply buffers together are bounded by
 * client_output_buffer_limit (out_acct), its requests' arguments by
 * client_query_buffer_limit (reading pauses), its values being read by the pending-reply
 * bound (no command starts past it), the sum over all clients by maxmemory_clients
 * (conn_evict).
 */
#ifndef LS_SERVER_CONN_H
#define LS_SERVER_CONN_H

#include <stdint.h>

#include "logstor.h"
#include "mc.h"
#include "pbuf.h"
#include "resp.h"
#include "stream.h"

struct server;
struct event;
struct req;
struct cmd_def;
struct lockset_claim;
struct lockset_item;
struct txn_multi;
struct txn_wset;
struct pubsub_conn;
struct tk_client;

enum conn_kind { CONN_REDIS = 0, CONN_MEMCACHED = 1 };

#define CONN_RDB_NO_DATA      0x1 /* SYNC leaves the databases out */
#define CONN_RDB_NO_FUNCTIONS 0x2 /* ... and the function libraries */

/* Called when a request may run (its locks granted, cmdlock.c); it must end with req_done. */
typedef void (*req_exec_fn)(struct req *r);

struct req {
    struct req *next;    /* connection's queue, command order */
    struct req *lk_next; /* connection's commands waiting to claim (cmdlock.c) */
    struct conn *c;
    struct pbuf buf; /* the reply, while an earlier request is still pending */
    uint8_t done;
    uint8_t proto;          /* RESP version when the command was read: its reply is encoded so,
                               even if a later HELLO changes the connection's */
    uint8_t lk;             /* what it declares besides its keys (CMDLOCK_* flags) */
    uint8_t pooled;         /* allocated from the server's request pool: reusable */
    uint8_t silent;         /* CLIENT REPLY OFF or SKIP when it was read: no reply, pushes only */
    uint8_t mon_feed;       /* fed to MONITOR once it completes (req_done, monitor.c) */
    struct req *pause_next; /* the server's list of commands held by CLIENT PAUSE (pause.c) */
    uint8_t trk_caching;    /* CLIENT CACHING was given for it (tracking.c) */
    uint32_t nparked;       /* writes of this request waiting in park.c (keeps its locks) */
    uint8_t writes_ahead;   /* large.c: it writes in steps (a large collection's pages ahead of
                               its root): a parked step reaching the engine keeps its locks */
    uint32_t mem_bytes;     /* bytes allocated for the request (charged to c->mem) */
    uint32_t db;
    uint32_t read_bytes; /* mget.c: its single-key read in flight, in c->read_bytes */
    ls_get_cb read_cb;   /* mget.c: the handler's callback for that read */
    /* The value type its single-key reads (mget_one, cmd_get) expect: 0 (a string, the
     * default), a COLL_* type, or VT_ANY; a value of another type reads as
     * SRV_EWRONGTYPE. */
    uint8_t want_type;
    uint64_t block_deadline; /* block.c: when its first wait times out (server_mono_ms; 0:
                                never blocked, or no timeout): a wake-up that leaves it
                                waiting does not move it */
    uint8_t block_woken;     /* a blocked command run again (block.c): a key of another type
                                now is waited past, not an error (Redis serves only lists) */
    uint8_t hold_claim;      /* its reads come in steps (SORT_RO's collection, then the keys its
                                patterns name): its locks are kept, and inside EXEC the next
                                command waits, until it is done, not until its first read is
                                submitted (cmdlock_reads_submitted) */
#define VT_ANY 0xFFu
    req_exec_fn exec;
    struct lockset_claim *claim; /* its locks, held or waited for (cmdlock.c) */
    /* An explicit declaration instead of keys/lk (cmdlock.c): items of any databases and
     * modes (EXEC, MOVE, COPY ... DB, SWAPDB). Owned by the request: freed with it. */
    struct lockset_item *lk_items;
    uint32_t lk_nitems;
    /* A command run by EXEC (txn.c): its transaction's EXEC request. Not in the
     * connection's queue; its reply goes to EXEC's. */
    struct req *parent;
    uint8_t txn_advanced; /* it let the transaction's next command start */
    void *child_mem[2];   /* a script's command: its arguments and keys, freed with it */
    /* Keys the request touches (point into argv storage); it declares them (cmdlock.c). */
    struct resp_arg *keys;
    uint32_t nkeys;
    /* Redis: arguments, copied out of the input buffer. */
    struct resp_arg *argv;
    uint32_t argc;
    const struct cmd_def *cmd;
    /* memcached: the parsed command, its strings rebased into this request's storage. */
    struct mc_cmd *mc;
    uint64_t mc_token;   /* mcserver.c: the hash of keys[0] once taken (0: not yet) */
    const char *mc_line; /* mcserver.c: a write's reply line when constant (else in tmp) */
    /* Handler state. */
    int64_t num;
    uint64_t u64;
    uint64_t expire_ms;
    uint32_t flags;
    uint32_t step;
    int pending;
    int err;
    void *aux; /* handler-owned memory, freed by aux_free when set */
    void (*aux_free)(void *);
    /* large.c: a large list's read or write in progress (its pages), freed with r; and
     * the handler's callback a large list's read ends in. */
    struct large_op *pl;
    ls_get_cb coll_cb;
    /* large.c: the root (PLIST_ROOT_LEN bytes) of the large stream last loaded for r, and
     * its entries' bytes: a write that changed its groups only writes a root (cmd_stream.c) */
    uint8_t *xs_root;
    size_t xs_root_elen;
    uint8_t xs_partial; /* the stream read holds only some of its entries: never written whole */
    /* with xs_partial: the whole stream's length and first ID (struct stream's) */
    uint64_t xs_length;
    struct stream_id xs_first;
    /* large.c: the arguments large_part_get's read names (argv[part_first], then every
     * part_step-th; part_step 0: that one only), and whether the command may write; a
     * sorted set's write: whether each member follows its score (1: ZADD) or increment (2:
     * ZADD INCR, ZINCRBY), or neither (0: ZREM) */
    uint8_t part_first, part_step, part_write, part_zadd;
    struct pbuf tmp;
};

struct conn {
    struct server *srv;
    struct conn *prev, *next; /* server's connection list */
    struct conn *wnext;       /* server's write list */
    struct conn *fnext;       /* server's free list */
    uint64_t id;
    int fd;
    enum conn_kind kind;
    struct event *rev, *wev;
    struct event *kev; /* no fd: made active to run the read path from the loop (conn_kick).
                          Never event_active(rev): an I/O event made active while not
                          added is not re-registered by event_add until its callback ran,
                          so the socket was no longer watched and the client stalled. */
    struct pbuf in;
    size_t in_pos;    /* parsed bytes at the front of `in` (dropped rarely: conn.c) */
    size_t pf_end;    /* bytes of `in` before it were looked ahead at (cmd_prefetch) */
    size_t in_need;   /* set by the parser when it returns 0: bytes missing, 0 unknown */
    size_t in_want;   /* in_stuck: unparsed bytes needed before parsing is worth a try */
    int in_stuck;     /* the unparsed bytes hold no complete command */
    int eof;          /* the peer shut down its sending side: answer, then close */
    uint64_t swallow; /* memcached: input bytes still to discard */
    struct pbuf out;
    size_t out_pos; /* bytes of `out` already sent */
    /* Replies handed to the engine's ring (ls_send, conn.c "Sending"): `out` as it was
     * then, untouched until the send's callback; `out` starts afresh meanwhile. */
    struct pbuf sending;
    size_t sending_pos;
    struct ls_send *send_req;  /* made at the first send */
    int send_busy;             /* a send is in the ring: the connection is not freed */
    int send_fd;               /* closed by the send's callback if the connection closed */
    struct pbuf_acct mem;      /* all of this connection's memory; parent: s->client_mem */
    struct pbuf_acct out_acct; /* its reply buffers (client_output_buffer_limit); -> mem */
    size_t req_mem;            /* bytes of its requests (arguments), part of mem */
    struct req *head, *tail;   /* requests in command order */
    uint32_t inflight;         /* requests not yet done */
    uint32_t nreqs;            /* requests in the queue */
    uint32_t nparked;          /* writes waiting in park.c: no new command starts meanwhile */
    struct resp_arg *argv;     /* parse scratch */
    uint32_t argv_cap;
    struct mc_cmd *mcc; /* parse scratch (memcached) */
    uint8_t mc_binary;  /* memcached: 0 not known yet, 1 text, 2 binary (its first byte) */
    int proto;          /* 2 or 3 */
    uint32_t db;
    int authed;
    int close_after_reply; /* QUIT, protocol error: close once the output is sent */
    int closed;            /* socket closed; waiting for in-flight requests */
    int read_paused;
    int in_write_list;
    int in_free_list;
    int in_process;
    /* The clock read that ended the command just dispatched in this conn_process pass
     * (monotonic us), 0 at the start of a pass: the next command's start (cmd_redis.c). */
    uint64_t clk_us;
    int overflow; /* output limit hit: close once the request completes */
    int no_evict; /* CLIENT NO-EVICT on: conn_evict passes it over */
    int monitor;  /* in the server's MONITOR list (monitor.c) */
    /* CLIENT REPLY (conn_reply_mode): OFF, and SKIP pending for the next command read. */
    uint8_t reply_off, reply_skip;
    struct pbuf sink;      /* where a silenced reply goes: limit 1, so nothing is ever kept */
    struct req *pause_req; /* its command held by CLIENT PAUSE: it starts no other meanwhile */
    struct req *block_req; /* its command blocked on a list (block.c): the same */
    struct tk_client *trk; /* CLIENT TRACKING state (tracking.c), NULL when off */
    uint32_t trk_refs;     /* tracking clients redirecting to it (tracking.c) */
    char *name;
    char *lib_name, *lib_ver;
    char addr[64]; /* peer ip:port */
    char laddr[64];
    uint64_t created_ms;
    uint64_t last_ms;      /* last interaction: bytes read or sent (monotonic) */
    uint64_t out_moved_ms; /* replies last left for the client (monotonic) */
    uint8_t out_blocked;   /* the last write found the socket full (EAGAIN) */
    uint32_t out_queued;   /* the socket's send queue (SIOCOUTQ) at out_moved_ms, blocked */
    uint64_t out_asked_ms; /* when SIOCOUTQ was last asked, blocked (conn_out_stalled) */
    const char *last_cmd;

    struct req *lk_head, *lk_tail; /* commands not yet granted their locks (cmdlock.c) */
    struct txn_multi *multi;       /* between MULTI and EXEC: the queued commands (txn.c) */
    struct txn_wset *watch;        /* its WATCHed keys (txn.c) */
    uint64_t park_pass;  /* park.c: the last retry pass that found one of its writes refused */
    uint32_t mget_reads; /* mget.c: reads in flight for its multi-key reads */
    /* Value bytes in flight: records being read for its commands (at their record size)
     * and values read ahead of their turn (mget.c), part of mem (conn_read_add). */
    uint64_t read_bytes;

    /* pubsub.c: its subscriptions and the pushes held while a reply is in progress
     * (NULL until it first subscribes); freed by pubsub_conn_close. */
    struct pubsub_conn *ps;

    /* cmd_sync.c: SYNC is streaming an RDB to it. No later command of the connection
     * starts (it is a replica now, and the stream is its reply). on_drain, when set, is
     * called after each write of its output and when it closes: the stream's producer
     * waits for its output to drain (it must only schedule work, never write from it). */
    int replica;
    uint8_t rdb_filter; /* REPLCONF rdb-filter-only: CONN_RDB_NO_* bits */
    void (*on_drain)(void *arg);
    void *on_drain_arg;
};

/* Frees the server's pool of reusable requests (at exit). */
void conn_pool_free(struct server *s);
/* Creates a connection for an accepted socket (takes ownership of fd). NULL on failure
 * (fd closed). */
struct conn *conn_new(struct server *s, int fd, enum conn_kind kind);
/* Closes the socket at once; the structure is freed once no request is in flight. */
void conn_close(struct conn *c, const char *why);
/* Frees a closed connection with an empty queue (called by the server's deferred pass). */
void conn_free(struct conn *c);
/* Sends what can be sent now; arms the write event for the rest. */
void conn_flush(struct conn *c);
/* Queues c for conn_flush at the end of the current event (pubsub.c's pushes). */
void conn_mark_write(struct conn *c);
/* Stops reading from every connection (shutdown). */
void conn_stop_reading(struct conn *c);
/* Resumes parsing (the commands already buffered first) and reading if the connection may
 * start commands again: after a request completes, a read completes, the output drains,
 * or its last parked write was submitted. Commands held back before their claim
 * (conn_may_claim) are let claim from the read event, so this never runs a command
 * itself; that part applies to a closed connection too (its commands still complete). */
void conn_resume(struct conn *c);
/* Resumes the connections held back whose replies stopped moving (from the cron). */
void conn_sweep_held(struct server *s);
/* Charges bytes of a value being read for one of c's commands to c (read_bytes and mem,
 * so maxmemory_clients sees them), or gives them back. */
void conn_read_add(struct conn *c, uint64_t bytes);
void conn_read_sub(struct conn *c, uint64_t bytes);
/* Whether c's next command waiting to claim (c->lk_head, cmdlock.c) may claim its locks:
 * c's value bytes in flight plus its replies pending are below the pending-reply bound
 * (the one parsing stops at). When no request is ahead of it, only the output buffer's
 * unsent bytes count: replies held behind it cannot leave before it, so it waits for the
 * engine's reads and the client's reading only. Replies do not count once the connection
 * is closed or the server shuts down (nobody waits for them to be read). */
int conn_may_claim(struct conn *c);
/* While the open clients hold more than maxmemory_clients bytes, closes the one holding
 * most, CLIENT NO-EVICT ones excepted (Redis 7's client eviction). Called from the deferred pass
 * (server.c). */
void conn_evict(struct server *s);

/* A new request at the tail of c's queue, with extra bytes of storage after the struct
 * (returned through *extra). NULL on allocation failure. */
struct req *conn_req_new(struct conn *c, size_t extra, void **extra_out);
/* A request for one command of EXEC's transaction (txn.c), in database db: charged to
 * the connection like the others but outside its queue; req_done hands it to txn.c, and
 * req_child_free frees it. NULL on allocation failure. */
struct req *req_child_new(struct req *parent, uint32_t db);
void req_child_free(struct req *r);
/* The buffer this request's reply goes to (the output buffer when it is at the head; a
 * sink that keeps nothing when the reply is silenced by CLIENT REPLY OFF|SKIP). */
struct pbuf *req_out(struct req *r);
/* The same for a push the request sends to its own connection (a subscribe confirmation,
 * a message to itself): never silenced, as Redis's CLIENT_PUSHING. */
struct pbuf *req_push_out(struct req *r);
/* CLIENT REPLY ON|OFF|SKIP for c, applied in command order (the dispatcher calls it when
 * it reads the command, EXEC when it runs it): ON also un-silences r, the request that
 * asked. mode: 0 ON, 1 OFF, 2 SKIP. */
void conn_reply_mode(struct conn *c, struct req *r, int mode);
/* Releases the request's locks early (the concurrency rule, lockset.c): called once its
 * last write is submitted, since the engine makes that write visible to every later read,
 * so the next command on its keys may start while this write is still on its way to the
 * disk. A no-op while the request has a parked write (park.c calls it again once that
 * write is submitted). May run other requests whose locks this grants. */
void req_unlock(struct req *r);
/* Marks the request complete: releases its locks, moves finished replies to the
 * output buffer, and resumes reading when the connection drops below its cap. */
void req_done(struct req *r);

#endif
