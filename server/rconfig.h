/*
 * rconfig.h - Redis 7.0's configuration parameters as CONFIG GET/SET know them: one row
 * per parameter of Redis 7.0.15 (its name, type, bounds, default, immutable / protected /
 * hidden flags). A row whose name is also a logstord key (maxclients, timeout,
 * maxmemory-clients ...) is served by that key (config.c); lua-time-limit is an alias of
 * busy-reply-threshold; appendonly and appendfsync answer from logstord's durability and
 * take only the value that describes it. Every other row is accepted, validated as Redis
 * validates it, kept and shown back, and has no effect (README lists them), except
 * slowlog-log-slower-than, slowlog-max-len and latency-monitor-threshold, which
 * SLOWLOG and LATENCY read (rconfig_live), with latency-tracking.
 */
#ifndef LS_SERVER_RCONFIG_H
#define LS_SERVER_RCONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct rconfig_desc;

#define RC_IMMUTABLE 1u /* CONFIG SET refuses it: "can't set immutable config" */
#define RC_HIDDEN    2u /* CONFIG GET lists it only when asked by its exact name */
#define RC_PROTECTED 4u /* CONFIG SET refuses it: "can't set protected config" */

/* The values SLOWLOG and LATENCY read on every command (kept in step by rconfig_store). */
struct rconfig_live {
    int64_t slowlog_slower_than_us; /* -1: off; 0: every command */
    uint64_t slowlog_max_len;
    uint64_t latency_threshold_ms; /* 0: off */
    int latency_tracking;          /* per-command histograms (LATENCY HISTOGRAM) */
    uint64_t maxmemory;            /* bytes; 0: no limit (noeviction: server_oom) */
    uint64_t hash_max_listpack_entries, hash_max_listpack_value; /* OBJECT ENCODING's rule */
    uint64_t set_max_intset_entries;
    uint64_t zset_max_listpack_entries, zset_max_listpack_value;
};
const struct rconfig_live *rconfig_live(void);

/* The table: n rows; rconfig_at(i) for i < n. */
size_t rconfig_count(void);
const struct rconfig_desc *rconfig_at(size_t i);
/* The row of a Redis parameter name (any case), or NULL. */
const struct rconfig_desc *rconfig_find(const char *name);
const char *rconfig_name(const struct rconfig_desc *d);
unsigned rconfig_flags(const struct rconfig_desc *d);
/* The logstord key (config.h) that holds this parameter's value, or NULL when the
 * parameter keeps its own. */
const char *rconfig_native(const struct rconfig_desc *d);

/* Validates value for d as Redis 7.0 does and writes its canonical form (as CONFIG GET
 * shows it) into norm. Returns 0, or -1 with Redis's reason in err. Not for rows with a
 * logstord key (rconfig_native). cfg is read for appendonly/appendfsync. */
int rconfig_check(const struct rconfig_desc *d, const struct config *cfg, const char *value,
                  char *norm, size_t normlen, char *err, size_t errlen);
/* d's row number (an alias has its own: Redis's CONFIG SET takes a name and its alias
 * together, only the same name twice is a duplicate). */
size_t rconfig_index(const struct rconfig_desc *d);
/* Keeps a value rconfig_check accepted, in two steps so that CONFIG SET of several
 * parameters can fail before it changes any: rconfig_prepare copies norm (NULL when out
 * of memory), rconfig_commit installs the copy (taking ownership; it cannot fail). */
char *rconfig_prepare(const char *norm);
void rconfig_commit(const struct rconfig_desc *d, char *prepared);
/* A Redis parameter in the configuration file or on the command line (a redis.conf can be
 * used as is): one of logstord's keys by its Redis name, appendfsync mapped onto the
 * durability key (always: sync; everysec: periodic every 1000 ms; no: periodic), several
 * save lines adding up as in Redis, any other parameter checked and kept as CONFIG SET
 * keeps it. Refused, with the reason in err: an unknown name, a bad value, and what
 * logstord cannot do (appendonly yes, daemonize yes, replicaof). Returns 0 or -1. */
int rconfig_set_startup(struct config *cfg, const char *name, const char *value, char *err,
                        size_t errlen);
/* d's current value as CONFIG GET shows it (not for rows with a logstord key). */
void rconfig_value(const struct rconfig_desc *d, const struct config *cfg, char *buf, size_t len);

#endif
