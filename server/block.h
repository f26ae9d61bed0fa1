/*
 * block.h - commands that block until a list has an element (BLPOP, BRPOP, BLMOVE,
 * BRPOPLPUSH): the wait list, the wake-up on a push, the timeout.
 *
 * A blocking command first runs as its non-blocking form. When every list it names is
 * empty it calls block_wait: the request stays unanswered, releases its locks, and its
 * connection starts no other command meanwhile (as Redis blocks the client; the
 * connection's input is still read up to client_query_buffer_limit). A write that pushes
 * to a list (block_signal: LPUSH, RPUSH, LINSERT, LMOVE's destination, ...) makes every
 * request waiting on that key run again from the start, in the order they blocked, from
 * a deferred event (never inside the writer's call): it claims its locks again, reads,
 * and either takes an element or blocks again (at the back of the queue). At the timeout
 * it answers the timeout reply. Inside MULTI or a script the command never blocks: it
 * answers the timeout reply at once, as Redis does.
 *
 * Bound: one blocked request per connection, so at most maxclients wait.
 * Threading: everything runs on the server's event loop thread.
 */
#ifndef LS_SERVER_BLOCK_H
#define LS_SERVER_BLOCK_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct req;

/* How a timeout is answered. */
enum block_reply { BLOCK_NULL_ARRAY, BLOCK_NULL_BULK };

/* Blocks r on its keys argv[first..last] of database r->db until one is signalled, or
 * until timeout_ms have passed since r first blocked (0: forever), when it answers `reply`
 * (-1 when that time has passed already). Releases r's locks.
 * Returns 0, or -1 when r cannot block (inside MULTI or a script, or out of memory):
 * the caller answers the timeout reply itself then. */
int block_wait(struct req *r, uint32_t first, uint32_t last, uint64_t timeout_ms,
               enum block_reply reply);
/* A push to key of database db: the requests waiting on it run again (deferred). */
void block_signal(struct server *s, uint32_t db, const void *key, size_t len);
/* A whole database changed (SWAPDB, FLUSHDB ...): every request waiting on it runs again. */
void block_signal_db(struct server *s, uint32_t db);
/* Parses a blocking command's timeout (seconds, fractions allowed) into ms; replies
 * Redis's error and returns -1 when it is not a non-negative number. */
int block_timeout_arg(struct req *r, const char *p, size_t n, uint64_t *ms);
/* Requests blocked now (INFO blocked_clients). */
uint32_t block_count(const struct server *s);
/* A closed connection's blocked request completes unanswered; from conn_close. */
void block_conn_close(struct conn *c);
/* CLIENT UNBLOCK: answers c's blocked request with the timeout reply (err 0) or
 * "-UNBLOCKED client unblocked via CLIENT UNBLOCK" (err 1). 1 when one was blocked. */
int block_unblock(struct conn *c, int err);
/* Shutdown: every blocked request answers its timeout reply now (a shutdown waits for
 * the requests in flight; a BLPOP without a timeout would hold it forever). */
void block_end(struct server *s);
/* Frees the wait list (at exit). */
void block_free(struct server *s);

#endif
