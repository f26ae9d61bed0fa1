/*
 * pause.h - CLIENT PAUSE <ms> [WRITE|ALL] and CLIENT UNPAUSE (Redis 7.0).
 *
 * While a pause is on, a command it covers waits instead of running: every command under
 * ALL, and under WRITE the ones that write or that Redis replicates (EVAL, EVALSHA, FCALL,
 * PUBLISH, SPUBLISH, FUNCTION LOAD/DELETE/FLUSH/RESTORE, and EXEC of a transaction holding
 * one), including commands being queued by MULTI, as Redis 7.0.15 does. The command runs
 * once the pause ends (its time passed, or CLIENT UNPAUSE).
 *
 * Bound: a connection with a held command reads and parses nothing more (Redis blocks the
 * client), so at most one command per connection waits: the wait list is bounded by
 * maxclients.
 *
 * Threading: everything runs on the server's event loop thread.
 */
#ifndef LS_SERVER_PAUSE_H
#define LS_SERVER_PAUSE_H

#include <stdint.h>

struct server;
struct conn;
struct req;

/* CLIENT PAUSE and CLIENT UNPAUSE (cmd_server.c's CLIENT table): reply, no req_done. */
void pause_client_pause(struct req *r);
void pause_client_unpause(struct req *r);
/* Called by the dispatcher once r passed its checks, before it runs or is queued by MULTI:
 * when a pause covers r, holds it (the dispatcher resumes it with cmd_dispatch_run when the
 * pause ends) and returns 1; else returns 0. */
int pause_hold(struct req *r);
/* How many commands CLIENT PAUSE holds (INFO's blocked_clients, as Redis counts them). */
uint32_t pause_held_count(const struct server *s);
/* A closed connection's held command is dropped (completed unrun); from conn_close. */
void pause_conn_close(struct conn *c);
/* Ends any pause at once (shutdown: held commands run, or fail as the server closes). */
void pause_end(struct server *s);
/* Frees the pause state (at exit). */
void pause_free(struct server *s);

#endif
