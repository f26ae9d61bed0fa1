/*
 * net.h - listening sockets and accepting clients: one listener per bind address and
 * protocol, maxclients, protected mode, and the idle-timeout sweep.
 */
#ifndef LS_SERVER_NET_H
#define LS_SERVER_NET_H

struct server;

/* Opens the Redis and memcached listeners named by the configuration. Returns 0, or -1
 * with the reason logged. */
int net_listen(struct server *s);
/* Closes every listener (shutdown: stop accepting). Safe to call twice. */
void net_close(struct server *s);
/* Closes clients idle for longer than `timeout` seconds (called from the cron). */
void net_sweep_idle(struct server *s);

#endif
