/*
 * tracking.h - client-side caching (Redis 7.0's CLIENT TRACKING): the keys a client read
 * are remembered, and a write of one of them sends that client an invalidation message:
 * a RESP3 push ["invalidate", [key]], or, redirected (REDIRECT <id>) to a RESP2 client
 * subscribed to anything, a message on __redis__:invalidate. BCAST mode sends the keys
 * written under the client's prefixes instead, once per event loop pass. A flush sends
 * a null (every key is invalid).
 *
 * Bound: the table of remembered keys holds at most tracking_table_max_keys keys (Redis's
 * tracking-table-max-keys); past it the oldest key is forgotten and its clients are sent
 * its invalidation, as Redis does. Messages are pushed like pub/sub messages
 * (pubsub_push): charged to the receiver's output limit.
 *
 * Threading: everything runs on the server's event loop thread.
 */
#ifndef LS_SERVER_TRACKING_H
#define LS_SERVER_TRACKING_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct req;
struct pbuf;

/* CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO (cmd_server.c's CLIENT table): reply,
 * no req_done. */
void tracking_client_tracking(struct req *r);
void tracking_client_caching(struct req *r);
void tracking_client_getredir(struct req *r);
void tracking_client_trackinginfo(struct req *r);

/* The dispatcher's call for a command about to run (a top-level one, or one EXEC or a
 * script runs: r->parent): remembers the keys of a read-only command for its client when
 * it tracks them (CLIENT CACHING taken into account), before the read, so that no write
 * after it can be missed. */
void tracking_remember(struct req *r);
/* The dispatcher's call once a top-level command is read to run (not queued): takes the
 * CLIENT CACHING flag into r (its commands and a script's see it) and clears it after any
 * command but CLIENT outside MULTI, as Redis. */
void tracking_command_read(struct req *r);
/* A write of key in any database was decided by r (park.c, txn.c): its tracking clients
 * are sent its invalidation (not r's own client with NOLOOP), and it is queued for the
 * BCAST clients of its prefixes. */
void tracking_invalidate(struct req *r, const void *key, size_t len);
/* Clients with CLIENT TRACKING on (INFO clients). */
uint32_t tracking_clients(const struct server *s);
/* Whether any client tracks keys (park.c asks before an index lookup it needs only then). */
int tracking_on(const struct server *s);
/* A flush (FLUSHDB, FLUSHALL, flush_all): every tracking client gets a null and the table
 * is emptied. */
void tracking_flush(struct server *s);

/* CLIENT LIST: its flags (t, R, B appended at *p, returns the new end) and redir=. */
char *tracking_flags(const struct conn *c, char *p);
long long tracking_redir(const struct conn *c);
/* c stops tracking (RESET); tracking_conn_close also breaks the redirections to c. */
void tracking_conn_reset(struct conn *c);
void tracking_conn_close(struct conn *c);
/* Frees the tables (at exit). */
void tracking_free(struct server *s);

#endif
