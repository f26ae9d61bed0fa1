/*
 * txn.h - Redis transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (txn.c).
 *
 * Between MULTI and EXEC a connection's commands are checked (unknown command, arity,
 * authentication, key size) and queued, not run; an error while queuing makes EXEC answer
 * -EXECABORT. EXEC claims, in one claim under the concurrency rule (lockset.c), every key
 * and database its queued commands declare plus the keys the connection WATCHes, then runs
 * the commands in order, each once the one before it has submitted its writes (or
 * completed), and answers their replies as one array. Other clients see none of its
 * writes before all of them are submitted: they wait for the claim.
 */
#ifndef LS_SERVER_TXN_H
#define LS_SERVER_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "logstor.h"

struct conn;
struct req;
struct server;
struct resp_arg;

/* Command handlers (rows of cmd_redis.c's table). */
void cmd_txn_multi(struct req *r);
void cmd_txn_exec(struct req *r);
void cmd_txn_discard(struct req *r);
void cmd_txn_watch(struct req *r);
void cmd_txn_unwatch(struct req *r);

/* Called by the dispatcher when EXEC is parsed: takes c's queue and watched keys into r
 * and declares EXEC's claim (r->lk_items). Returns 0, or -1 when out of memory. */
int txn_exec_prepare(struct req *r);
/* Whether c is between MULTI and EXEC. */
int txn_in_multi(const struct conn *c);
/* Whether fn holds for one of c's queued commands (0 outside MULTI): CLIENT PAUSE WRITE
 * holds an EXEC that would write. */
struct cmd_def;
typedef int (*txn_cmd_pred)(const struct cmd_def *d, const struct resp_arg *argv, uint32_t argc);
int txn_queued_any(const struct conn *c, txn_cmd_pred fn);
/* A command of c failed its checks: in MULTI, EXEC will answer -EXECABORT. */
void txn_flag_error(struct conn *c);
/* Queues r (checked, in MULTI) for EXEC and answers +QUEUED, or the error that a command
 * not allowed in a transaction gets; ends r. */
void txn_queue(struct req *r);

/* A command run by EXEC (r->parent set) has submitted its writes (nothing parked) or, for
 * a read-only one, its reads: the next one may start. Called by req_unlock and
 * cmdlock_reads_submitted. */
void txn_child_submitted(struct req *r);
/* A command run by EXEC completed (from req_done): its reply joins EXEC's. */
void txn_child_done(struct req *r);

/* A write of key in db was submitted (or parked): the connections watching it will see
 * EXEC fail. Called by park.c for every write, both protocols. */
void txn_touch(struct server *s, uint32_t db, const void *key, size_t len);
/* Database db is about to be emptied (FLUSHDB/FLUSHALL): its watched keys that exist now
 * are touched. */
void txn_touch_db(struct server *s, uint32_t db);
/* Databases a and b are about to be swapped (SWAPDB): a watched key of either is touched
 * when it exists in either (its value changes, or it appears), as Redis does. */
void txn_touch_swap(struct server *s, uint32_t a, uint32_t b);

/* The overlay of a command run by EXEC (r->parent) in a transaction written as one
 * batch: its writes are kept there until EXEC's last command has run, and its reads look
 * there first. Outside such a transaction they do nothing (txn_write, txn_read: 1) or ask
 * the engine (txn_lookup).
 * txn_write: 1 not taken (write to the engine), or what ls_put/ls_del would return (0:
 * cb(r, rc, cas) will run once the batch is acknowledged). */
int txn_write(struct req *r, uint32_t db, const struct resp_arg *key, const void *v, size_t n,
              const struct ls_write_opts *opts, int del, ls_write_cb cb);
/* The writes r puts in the overlay from begin to end are a group: when the unit is too
 * large for one batch and goes to the engine one write at a time, they still go as one
 * batch (a large collection's pages and root changed in place). No-ops outside. */
void txn_group_begin(struct req *r);
/* ok 0: the group failed part way; its writes are taken out of the overlay. */
void txn_group_end(struct req *r, int ok);
/* Where r's overlay ends now (0 outside one), and: its writes from that mark on taken out
 * again (newest first), for a command that failed part way through several writes. */
uint32_t txn_mark(struct req *r);
void txn_rollback(struct req *r, uint32_t mark);
/* Whether r's writes go to such an overlay (they reach the engine as one batch later). */
int txn_batching(const struct req *r);
/* ls_lookup's contract. */
int txn_lookup(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_meta *out);
/* 1 not in the overlay (read the engine), LS_ENOTFOUND, or 0 with *out set (borrowed
 * until the transaction ends). */
int txn_read(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_item *out);

/* ---- the unit a script runs in (script.c) ----
 * A script's redis.call runs its command as a child of the EVAL request, like EXEC's
 * commands: in the unit's overlay while it batches (writes kept, reads looking there
 * first), then written as one batch. */
struct script_run;
struct cmd_def;
/* Makes r (EVAL) the parent of a unit. Returns 0 or -ENOMEM. */
int txn_unit_begin(struct req *r, struct script_run *sr, int batching);
struct script_run *txn_unit_script(const struct req *parent);
/* A child of r for command d in database db with arguments argv[0..argc) (one malloc'd
 * block, owned by the child from now on). Not started: the caller runs k->exec(k), and
 * frees it (req_child_free) once it is done. NULL when out of memory. */
struct req *txn_unit_child(struct req *r, const struct cmd_def *d, uint32_t db,
                           struct resp_arg *argv, uint32_t argc);
/* k submitted its writes into the overlay: they count as done for the script (their
 * callbacks run now); the batch makes them durable at the end. */
void txn_unit_ack(struct req *k);
uint64_t txn_unit_writes(const struct req *r);
/* Sends the overlay's writes: 0 nothing to send (or all completed), 1 batch_cb(r) will run,
 * 2 each_cb(r) will run once per write (too large for one batch: txn_unit_each_done
 * says when the last came), or a negative code (nothing written). */
int txn_unit_submit(struct req *r, ls_write_cb batch_cb, ls_write_cb each_cb);
int txn_unit_each_done(struct req *r);
/* Frees the unit (children, overlay). */
void txn_unit_end(struct req *r);

/* Drops c's MULTI state and watched keys (RESET, and when c is freed). */
void txn_conn_reset(struct conn *c);
/* Frees the server's watch table (at exit). */
void txn_server_free(struct server *s);

#endif
