/*
 * park.h - engine writes refused as busy wait here instead of failing.
 *
 * The engine answers LS_EBUSY when it cannot take a write right now: too many bytes wait
 * for a write buffer, or no segment is free until compaction frees one. Both pass as the
 * engine makes progress, so the server keeps such a write (a parked write) and submits it
 * again after every ls_poll and ls_tick; the client sees a slower write, not an error.
 * Only a write still refused after busy_timeout_ms gets the busy error. LS_ENOSPACE (the
 * disk is full of live data) and every other code still fail at once.
 *
 * park_put, park_del and park_flush have the contract of ls_put, ls_del and
 * ls_flush_table with the request as the callback's argument: 0 means cb will run
 * exactly once (from the engine once the write is submitted and completes, or from
 * park_retry, park_expire or park_fail_all with the code that ended it, LS_EBUSY after
 * the time limit), a negative code means cb never runs.
 *
 * Order: while a connection has a parked write it starts no new command, and any further
 * write of its commands already running parks behind it, so its writes reach the engine
 * in the order it issued them. A request with a parked write keeps its locks (see
 * req_unlock and lockset.c) until the write is submitted, so the decision it made (SET NX
 * saw the key absent, INCR computed its value) still holds when the write lands: no other
 * command on that key can run in between. Other connections' writes may overtake a
 * refused one after its first moments (park.c explains when).
 */
#ifndef LS_SERVER_PARK_H
#define LS_SERVER_PARK_H

#include <stddef.h>
#include <stdint.h>

#include "logstor.h"

struct req;
struct server;
struct resp_arg;

/* The key and the value are copied when the write is parked. opts may be NULL. */
int park_put(struct req *r, uint32_t table, const struct resp_arg *key, const void *v, size_t n,
             const struct ls_write_opts *opts, ls_write_cb cb);
/* Returns LS_ENOTFOUND (cb never runs) when the key is absent, as ls_del does. */
int park_del(struct req *r, uint32_t table, const struct resp_arg *key, ls_write_cb cb);
int park_flush(struct req *r, uint32_t table, ls_write_cb cb);
/* ls_write_batch's contract (LS_ETOOBIG included: nothing parked, nothing written). */
int park_batch(struct req *r, const struct ls_batch_op *ops, uint32_t n, ls_write_cb cb);

/* Offers the parked writes to the engine in the order they were parked; writes the engine
 * accepts may overtake refused ones of other connections (park.c). Called after ls_poll
 * and ls_tick. */
void park_retry(struct server *s);
/* Fails (with LS_EBUSY) the writes parked for busy_timeout_ms or longer. Called by the
 * cron. */
void park_expire(struct server *s, uint64_t now_ms);
/* Fails every parked write with rc (LS_ECLOSING before the engine closes). */
void park_fail_all(struct server *s, int rc);

#endif
