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

/* The overlay of a command run by EXEC (r->parent) in a transaction written as one
 * batch: its writes are kept there until EXEC's last command has run, and its reads look
 * there first. Outside such a transaction they do nothing (txn_write, txn_read: 1) or ask
 * the engine (txn_lookup).
 * txn_write: 1 not taken (write to the engine), or what ls_put/ls_del would return (0:
 * cb(r, rc, cas) will run once the batch is acknowledged). */
int txn_write(struct req *r, uint32_t db, const struct resp_arg *key, const void *v, size_t n,
              const struct ls_write_opts *opts, int del, ls_write_cb cb);
/* ls_lookup's contract. */
int txn_lookup(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_meta *out);
/* 1 not in the overlay (read the engine), LS_ENOTFOUND, or 0 with *out set (borrowed
 * until the transaction ends). */
int txn_read(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_item *out);

/* Drops c's MULTI state and watched keys (RESET, and when c is freed). */
void txn_conn_reset(struct conn *c);
/* Frees the server's watch table (at exit). */
void txn_server_free(struct server *s);

#endif
