/*
 * mcserver.h - the memcached protocol front end (text and meta commands) on
 * memcached_port, over the same connections, request queue and key locks as Redis; it
 * always uses table 0.
 */
#ifndef LS_SERVER_MCSERVER_H
#define LS_SERVER_MCSERVER_H

struct conn;
struct req;
struct server;

/* Parses one command from c's input and runs it. Returns 1 when a command was consumed,
 * 0 when more input is needed, -1 when the connection must stop reading. */
int mcs_process_one(struct conn *c);
/* Answers memcached request r a temporary failure and completes it: the text protocol's
 * line (a SERVER_ERROR, sent even with noreply), the binary one's status 0x86. */
void mcs_refuse(struct req *r, const char *line);
/* Frees the memcached front end's state (at exit). */
void mcs_free(struct server *s);

#endif
