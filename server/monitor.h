/*
 * monitor.h - MONITOR: clients that receive a line for every command the server runs.
 *
 * Threading: everything runs on the server's event loop thread.
 *
 * Bounds: a line is pushed to each monitor like a pub/sub message (pubsub_push): charged
 * to its reply buffers, limited by client_output_buffer_limit; a monitor that does not
 * read is closed past it. There are at most maxclients monitors.
 */
#ifndef LS_SERVER_MONITOR_H
#define LS_SERVER_MONITOR_H

struct server;
struct conn;
struct req;

/* Frees the server's monitor list (at exit). */
void monitor_free(struct server *s);
/* MONITOR (cmd_redis.c's table). */
void monitor_cmd(struct req *r);
/* Feeds r's command to every monitor, as Redis 7.0's replicationFeedMonitors shows it:
 * "+<unix s>.<us> [<db> <addr>] "arg" ...", with "lua" for the address of a command a
 * script runs (r->parent is EVAL's or FCALL's), AUTH's and HELLO ... AUTH's secrets shown
 * as "(redacted)", and nothing for the administrative commands Redis hides (CONFIG, CLIENT
 * KILL, SHUTDOWN, ...). Dispatch feeds a command once it completed (EXEC after the
 * commands it ran), EVAL and FCALL when they start, their commands and EXEC's as they
 * start. A no-op without monitors. */
void monitor_feed(struct req *r);
/* Whether c is a monitor (CLIENT LIST's flag O). */
int monitor_is(const struct conn *c);
/* c stops monitoring (RESET, conn_close); safe on any connection. */
void monitor_conn_reset(struct conn *c);

#endif
