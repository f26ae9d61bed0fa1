/*
 * net.h - listening sockets and accepting clients: one listener per bind address and
 * protocol, maxclients and the open-file limit, protected mode, and the idle-timeout sweep.
 */
#ifndef LS_SERVER_NET_H
#define LS_SERVER_NET_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* Start-up, before the engine opens: makes room for maxclients clients beside the
 * server's own descriptors (net_fd_fit), and lowers maxclients, with one warning, when
 * the open-file limit cannot be raised enough. Returns 0, or -1 (logged) when not even
 * one client fits. */
int net_size_maxclients(struct server *s);
/* How many clients fit in the open-file limit (at most want), raising the limit
 * (RLIMIT_NOFILE: the soft limit up to the hard one, the hard one too when allowed) when
 * fewer fit. Kept for the server: one descriptor per possible data file (disk_size /
 * file_size) and NET_RESERVED_FDS more. Main thread. */
uint64_t net_fd_fit(const struct server *s, uint64_t want);

/* Opens the Redis and memcached listeners named by the configuration. Returns 0, or -1
 * with the reason logged. */
int net_listen(struct server *s);
/* CONFIG SET port: listens on port on every bind address first, then closes the Redis
 * listeners of the old port (0: closes them only). Connected clients stay. Returns 0, or
 * -1 (logged) with the old listeners untouched. Main thread. */
int net_set_port(struct server *s, uint64_t port);
/* Closes every listener (shutdown: stop accepting). Safe to call twice. */
void net_close(struct server *s);
/* Closes clients idle for longer than `timeout` seconds (called from the cron). */
void net_sweep_idle(struct server *s);

#endif
