/*
 * mcserver.h - the memcached protocol front end (text and meta commands) on
 * memcached_port, over the same connections, request queue and key locks as Redis; it
 * always uses table 0.
 */
#ifndef LS_SERVER_MCSERVER_H
#define LS_SERVER_MCSERVER_H

struct conn;
struct server;

/* Parses one command from c's input and runs it. Returns 1 when a command was consumed,
 * 0 when more input is needed, -1 when the connection must stop reading. */
int mcs_process_one(struct conn *c);
/* Frees the memcached front end's state (at exit). */
void mcs_free(struct server *s);

#endif
