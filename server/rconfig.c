/*
 * rconfig.c - Redis 7.0's configuration parameters (rconfig.h): the table and Redis's
 * validation of each type.
 *
 * The table lists every parameter `CONFIG GET *` shows on Redis 7.0.15, plus its hidden
 * ones, with Redis's bounds, defaults and flags, so that tools and test suites that read
 * or write them (redis-benchmark, client libraries, Redis's own CONFIG sanity test) get
 * Redis's answers and errors. Values are kept in canonical form (what CONFIG GET shows:
 * memory in bytes, enums in lower case, save as "seconds changes" pairs); a row that has
 * never been set shows its default. The table is process-wide, like the configuration it
 * extends, and touched by the main thread only.
 */
#include "rconfig.h"
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum rc_type {
    RC_BOOL,    /* yes / no */
    RC_INT,     /* an integer within [min, max] */
    RC_OCTAL,   /* the same, written in octal */
    RC_MEM,     /* bytes, with Redis's units (1k = 1000, 1kb = 1024 ...) */
    RC_ENUM,    /* one of enums */
    RC_ENUMS,   /* a set of enums ("nosave now"; "default" is the empty set) */
    RC_STR,     /* any string */
    RC_SAVE,    /* "seconds changes" pairs */
    RC_OOMV,    /* three integers in [-2000, 2000] */
    RC_PCTL,    /* percentiles in [0, 100] */
    RC_AOF,     /* appendonly: only "no" (logstord has no AOF) */
    RC_FSYNC,   /* appendfsync: only what durability is */
    RC_SPECIAL, /* served by a logstord key, or immutable */
};

struct rconfig_desc {
    const char *name;
    enum rc_type type;
    unsigned flags;
    int64_t min, max;
    const char *def;
    const char *const *enums;
    const char *alias_of; /* the parameter this name is another name of, or NULL */
};

/* clang-format off */
static const char *const E_maxmemory_policy[] = {"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction", NULL};
static const char *const E_syslog_facility[] = {"user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", NULL};
static const char *const E_loglevel[] = {"debug", "verbose", "notice", "warning", NULL};
static const char *const E_supervised_mode[] = {"upstart", "systemd", "auto", "no", NULL};
static const char *const E_aof_fsync[] = {"everysec", "always", "no", NULL};
static const char *const E_shutdown_on_sig[] = {"default", "save", "nosave", "now", "force", NULL};
static const char *const E_repl_diskless_load[] = {"disabled", "on-empty-db", "swapdb", NULL};
static const char *const E_tls_auth_clients[] = {"no", "yes", "optional", NULL};
static const char *const E_oom_score_adj[] = {"no", "yes", "relative", "absolute", NULL};
static const char *const E_acl_pubsub_default[] = {"allchannels", "resetchannels", NULL};
static const char *const E_sanitize_dump_payload[] = {"no", "yes", "clients", NULL};
static const char *const E_protected_action[] = {"no", "yes", "local", NULL};
static const char *const E_cluster_preferred_endpoint_type[] = {"ip", "hostname", "unknown-endpoint", NULL};
static const char *const E_propagation_error_behavior[] = {"ignore", "panic", "panic-on-replicas", NULL};

static const struct rconfig_desc table[] = {
    {"rdbchecksum", RC_BOOL, RC_IMMUTABLE, 0, 0, "yes", NULL, NULL},
    {"daemonize", RC_BOOL, RC_IMMUTABLE, 0, 0, "no", NULL, NULL},
    {"io-threads-do-reads", RC_BOOL, RC_IMMUTABLE, 0, 0, "no", NULL, NULL},
    {"always-show-logo", RC_BOOL, RC_IMMUTABLE, 0, 0, "no", NULL, NULL},
    {"protected-mode", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"rdbcompression", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"rdb-del-sync-files", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"activerehashing", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"stop-writes-on-bgsave-error", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"set-proc-title", RC_BOOL, RC_IMMUTABLE, 0, 0, "yes", NULL, NULL},
    {"dynamic-hz", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"lazyfree-lazy-eviction", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"lazyfree-lazy-expire", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"lazyfree-lazy-server-del", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"lazyfree-lazy-user-del", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"lazyfree-lazy-user-flush", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"repl-disable-tcp-nodelay", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"repl-diskless-sync", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"aof-rewrite-incremental-fsync", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"no-appendfsync-on-rewrite", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"cluster-require-full-coverage", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"rdb-save-incremental-fsync", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"aof-load-truncated", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"aof-use-rdb-preamble", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"aof-timestamp-enabled", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"cluster-replica-no-failover", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"cluster-slave-no-failover", RC_BOOL, 0, 0, 0, "no", NULL, "cluster-replica-no-failover"},
    {"replica-lazy-flush", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"slave-lazy-flush", RC_BOOL, 0, 0, 0, "no", NULL, "replica-lazy-flush"},
    {"replica-serve-stale-data", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"slave-serve-stale-data", RC_BOOL, 0, 0, 0, "yes", NULL, "replica-serve-stale-data"},
    {"replica-read-only", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"slave-read-only", RC_BOOL, 0, 0, 0, "yes", NULL, "replica-read-only"},
    {"replica-ignore-maxmemory", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"slave-ignore-maxmemory", RC_BOOL, 0, 0, 0, "yes", NULL, "replica-ignore-maxmemory"},
    {"jemalloc-bg-thread", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"activedefrag", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"syslog-enabled", RC_BOOL, RC_IMMUTABLE, 0, 0, "no", NULL, NULL},
    {"cluster-enabled", RC_BOOL, RC_IMMUTABLE, 0, 0, "no", NULL, NULL},
    {"appendonly", RC_AOF, 0, 0, 0, "no", NULL, NULL},
    {"cluster-allow-reads-when-down", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"cluster-allow-pubsubshard-when-down", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"crash-log-enabled", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"crash-memcheck-enabled", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"use-exit-on-panic", RC_BOOL, RC_HIDDEN, 0, 0, "no", NULL, NULL},
    {"disable-thp", RC_BOOL, RC_IMMUTABLE, 0, 0, "yes", NULL, NULL},
    {"cluster-allow-replica-migration", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"replica-announced", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"latency-tracking", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"aof-disable-auto-gc", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"replica-ignore-disk-write-errors", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"aclfile", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"unixsocket", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"pidfile", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"replica-announce-ip", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"slave-announce-ip", RC_STR, 0, 0, 0, "", NULL, "replica-announce-ip"},
    {"masteruser", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"cluster-announce-ip", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"cluster-config-file", RC_STR, RC_IMMUTABLE, 0, 0, "nodes.conf", NULL, NULL},
    {"cluster-announce-hostname", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"syslog-ident", RC_STR, RC_IMMUTABLE, 0, 0, "redis", NULL, NULL},
    {"dbfilename", RC_STR, RC_PROTECTED, 0, 0, "dump.rdb", NULL, NULL},
    {"appendfilename", RC_STR, RC_IMMUTABLE, 0, 0, "appendonly.aof", NULL, NULL},
    {"appenddirname", RC_STR, RC_IMMUTABLE, 0, 0, "appendonlydir", NULL, NULL},
    {"server_cpulist", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"bio_cpulist", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"aof_rewrite_cpulist", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"bgsave_cpulist", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"ignore-warnings", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"proc-title-template", RC_STR, 0, 0, 0, "{title} {listen-addr} {server-mode}", NULL, NULL},
    {"bind-source-addr", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"logfile", RC_STR, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"masterauth", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"requirepass", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"supervised", RC_ENUM, RC_IMMUTABLE, 0, 0, "no", E_supervised_mode, NULL},
    {"syslog-facility", RC_ENUM, RC_IMMUTABLE, 0, 0, "local0", E_syslog_facility, NULL},
    {"repl-diskless-load", RC_ENUM, 0, 0, 0, "disabled", E_repl_diskless_load, NULL},
    {"loglevel", RC_ENUM, 0, 0, 0, "notice", E_loglevel, NULL},
    {"maxmemory-policy", RC_ENUM, 0, 0, 0, "noeviction", E_maxmemory_policy, NULL},
    {"appendfsync", RC_FSYNC, 0, 0, 0, "everysec", E_aof_fsync, NULL},
    {"oom-score-adj", RC_ENUM, 0, 0, 0, "no", E_oom_score_adj, NULL},
    {"acl-pubsub-default", RC_ENUM, 0, 0, 0, "resetchannels", E_acl_pubsub_default, NULL},
    {"sanitize-dump-payload", RC_ENUM, 0, 0, 0, "no", E_sanitize_dump_payload, NULL},
    {"enable-protected-configs", RC_ENUM, RC_IMMUTABLE, 0, 0, "no", E_protected_action, NULL},
    {"enable-debug-command", RC_ENUM, RC_IMMUTABLE, 0, 0, "no", E_protected_action, NULL},
    {"enable-module-command", RC_ENUM, RC_IMMUTABLE, 0, 0, "no", E_protected_action, NULL},
    {"cluster-preferred-endpoint-type", RC_ENUM, 0, 0, 0, "ip", E_cluster_preferred_endpoint_type, NULL},
    {"propagation-error-behavior", RC_ENUM, 0, 0, 0, "ignore", E_propagation_error_behavior, NULL},
    {"shutdown-on-sigint", RC_ENUMS, 0, 0, 0, "default", E_shutdown_on_sig, NULL},
    {"shutdown-on-sigterm", RC_ENUMS, 0, 0, 0, "default", E_shutdown_on_sig, NULL},
    {"databases", RC_INT, RC_IMMUTABLE, 1, INT32_MAX, "16", NULL, NULL},
    {"port", RC_INT, 0, 0, 65535, "6379", NULL, NULL},
    {"io-threads", RC_INT, RC_IMMUTABLE, 1, 128, "1", NULL, NULL},
    {"auto-aof-rewrite-percentage", RC_INT, 0, 0, INT32_MAX, "100", NULL, NULL},
    {"cluster-replica-validity-factor", RC_INT, 0, 0, INT32_MAX, "10", NULL, NULL},
    {"cluster-slave-validity-factor", RC_INT, 0, 0, INT32_MAX, "10", NULL, "cluster-replica-validity-factor"},
    {"list-max-listpack-size", RC_INT, 0, INT32_MIN, INT32_MAX, "-2", NULL, NULL},
    {"list-max-ziplist-size", RC_INT, 0, INT32_MIN, INT32_MAX, "-2", NULL, "list-max-listpack-size"},
    {"tcp-keepalive", RC_INT, 0, 0, INT32_MAX, "300", NULL, NULL},
    {"cluster-migration-barrier", RC_INT, 0, 0, INT32_MAX, "1", NULL, NULL},
    {"active-defrag-cycle-min", RC_INT, 0, 1, 99, "1", NULL, NULL},
    {"active-defrag-cycle-max", RC_INT, 0, 1, 99, "25", NULL, NULL},
    {"active-defrag-threshold-lower", RC_INT, 0, 0, 1000, "10", NULL, NULL},
    {"active-defrag-threshold-upper", RC_INT, 0, 0, 1000, "100", NULL, NULL},
    {"lfu-log-factor", RC_INT, 0, 0, INT32_MAX, "10", NULL, NULL},
    {"lfu-decay-time", RC_INT, 0, 0, INT32_MAX, "1", NULL, NULL},
    {"replica-priority", RC_INT, 0, 0, INT32_MAX, "100", NULL, NULL},
    {"slave-priority", RC_INT, 0, 0, INT32_MAX, "100", NULL, "replica-priority"},
    {"repl-diskless-sync-delay", RC_INT, 0, 0, INT32_MAX, "5", NULL, NULL},
    {"maxmemory-samples", RC_INT, 0, 1, INT32_MAX, "5", NULL, NULL},
    {"maxmemory-eviction-tenacity", RC_INT, 0, 0, 100, "10", NULL, NULL},
    {"timeout", RC_INT, 0, 0, INT32_MAX, "0", NULL, NULL},
    {"replica-announce-port", RC_INT, 0, 0, 65535, "0", NULL, NULL},
    {"slave-announce-port", RC_INT, 0, 0, 65535, "0", NULL, "replica-announce-port"},
    {"tcp-backlog", RC_INT, RC_IMMUTABLE, 0, INT32_MAX, "511", NULL, NULL},
    {"cluster-port", RC_INT, RC_IMMUTABLE, 0, 65535, "0", NULL, NULL},
    {"cluster-announce-bus-port", RC_INT, 0, 0, 65535, "0", NULL, NULL},
    {"cluster-announce-port", RC_INT, 0, 0, 65535, "0", NULL, NULL},
    {"cluster-announce-tls-port", RC_INT, 0, 0, 65535, "0", NULL, NULL},
    {"repl-timeout", RC_INT, 0, 1, INT32_MAX, "60", NULL, NULL},
    {"repl-ping-replica-period", RC_INT, 0, 1, INT32_MAX, "10", NULL, NULL},
    {"repl-ping-slave-period", RC_INT, 0, 1, INT32_MAX, "10", NULL, "repl-ping-replica-period"},
    {"list-compress-depth", RC_INT, 0, 0, INT32_MAX, "0", NULL, NULL},
    {"rdb-key-save-delay", RC_INT, RC_HIDDEN, INT32_MIN, INT32_MAX, "0", NULL, NULL},
    {"key-load-delay", RC_INT, RC_HIDDEN, INT32_MIN, INT32_MAX, "0", NULL, NULL},
    {"active-expire-effort", RC_INT, 0, 1, 10, "1", NULL, NULL},
    {"hz", RC_INT, 0, 0, INT32_MAX, "10", NULL, NULL},
    {"min-replicas-to-write", RC_INT, 0, 0, INT32_MAX, "0", NULL, NULL},
    {"min-slaves-to-write", RC_INT, 0, 0, INT32_MAX, "0", NULL, "min-replicas-to-write"},
    {"min-replicas-max-lag", RC_INT, 0, 0, INT32_MAX, "10", NULL, NULL},
    {"min-slaves-max-lag", RC_INT, 0, 0, INT32_MAX, "10", NULL, "min-replicas-max-lag"},
    {"watchdog-period", RC_INT, RC_HIDDEN, 0, INT32_MAX, "0", NULL, NULL},
    {"shutdown-timeout", RC_INT, 0, 0, INT32_MAX, "10", NULL, NULL},
    {"repl-diskless-sync-max-replicas", RC_INT, 0, 0, INT32_MAX, "0", NULL, NULL},
    {"maxclients", RC_INT, 0, 1, UINT32_MAX, "10000", NULL, NULL},
    {"unixsocketperm", RC_OCTAL, RC_IMMUTABLE, 0, 0777, "0", NULL, NULL},
    {"socket-mark-id", RC_INT, RC_IMMUTABLE, 0, UINT32_MAX, "0", NULL, NULL},
    {"active-defrag-max-scan-fields", RC_INT, 0, 1, INT64_MAX, "1000", NULL, NULL},
    {"slowlog-max-len", RC_INT, 0, 0, INT64_MAX, "128", NULL, NULL},
    {"acllog-max-len", RC_INT, 0, 0, INT64_MAX, "128", NULL, NULL},
    {"busy-reply-threshold", RC_INT, 0, 0, INT64_MAX, "5000", NULL, NULL},
    {"lua-time-limit", RC_INT, 0, 0, INT64_MAX, "5000", NULL, "busy-reply-threshold"},
    {"cluster-node-timeout", RC_INT, 0, 0, INT64_MAX, "15000", NULL, NULL},
    {"slowlog-log-slower-than", RC_INT, 0, -1, INT64_MAX, "10000", NULL, NULL},
    {"latency-monitor-threshold", RC_INT, 0, 0, INT64_MAX, "0", NULL, NULL},
    {"proto-max-bulk-len", RC_MEM, 0, 1048576, INT64_MAX, "536870912", NULL, NULL},
    {"stream-node-max-entries", RC_INT, 0, 0, INT64_MAX, "100", NULL, NULL},
    {"repl-backlog-size", RC_MEM, 0, 1, INT64_MAX, "1048576", NULL, NULL},
    {"maxmemory", RC_MEM, 0, 0, INT64_MAX, "0", NULL, NULL},
    {"cluster-link-sendbuf-limit", RC_MEM, 0, 0, INT64_MAX, "0", NULL, NULL},
    {"hash-max-listpack-entries", RC_INT, 0, 0, INT64_MAX, "512", NULL, NULL},
    {"hash-max-ziplist-entries", RC_INT, 0, 0, INT64_MAX, "512", NULL, "hash-max-listpack-entries"},
    {"set-max-intset-entries", RC_INT, 0, 0, INT64_MAX, "512", NULL, NULL},
    {"zset-max-listpack-entries", RC_INT, 0, 0, INT64_MAX, "128", NULL, NULL},
    {"zset-max-ziplist-entries", RC_INT, 0, 0, INT64_MAX, "128", NULL, "zset-max-listpack-entries"},
    {"active-defrag-ignore-bytes", RC_MEM, 0, 1, INT64_MAX, "104857600", NULL, NULL},
    {"hash-max-listpack-value", RC_MEM, 0, 0, INT64_MAX, "64", NULL, NULL},
    {"hash-max-ziplist-value", RC_MEM, 0, 0, INT64_MAX, "64", NULL, "hash-max-listpack-value"},
    {"stream-node-max-bytes", RC_MEM, 0, 0, INT64_MAX, "4096", NULL, NULL},
    {"zset-max-listpack-value", RC_MEM, 0, 0, INT64_MAX, "64", NULL, NULL},
    {"zset-max-ziplist-value", RC_MEM, 0, 0, INT64_MAX, "64", NULL, "zset-max-listpack-value"},
    {"hll-sparse-max-bytes", RC_MEM, 0, 0, INT64_MAX, "3000", NULL, NULL},
    {"tracking-table-max-keys", RC_INT, 0, 0, INT64_MAX, "1000000", NULL, NULL},
    {"client-query-buffer-limit", RC_MEM, 0, 1048576, INT64_MAX, "1073741824", NULL, NULL},
    {"maxmemory-clients", RC_MEM, 0, -100, INT64_MAX, "0", NULL, NULL},
    {"repl-backlog-ttl", RC_INT, 0, 0, INT64_MAX, "3600", NULL, NULL},
    {"auto-aof-rewrite-min-size", RC_MEM, 0, 0, INT64_MAX, "67108864", NULL, NULL},
    {"loading-process-events-interval-bytes", RC_INT, RC_HIDDEN, 1024, INT32_MAX, "2097152", NULL, NULL},
    {"tls-port", RC_INT, 0, 0, 65535, "0", NULL, NULL},
    {"tls-session-cache-size", RC_INT, 0, 0, INT32_MAX, "20480", NULL, NULL},
    {"tls-session-cache-timeout", RC_INT, 0, 0, INT32_MAX, "300", NULL, NULL},
    {"tls-cluster", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"tls-replication", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"tls-auth-clients", RC_ENUM, 0, 0, 0, "yes", E_tls_auth_clients, NULL},
    {"tls-prefer-server-ciphers", RC_BOOL, 0, 0, 0, "no", NULL, NULL},
    {"tls-session-caching", RC_BOOL, 0, 0, 0, "yes", NULL, NULL},
    {"tls-cert-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-key-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-key-file-pass", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-client-cert-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-client-key-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-client-key-file-pass", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-dh-params-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-ca-cert-file", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-ca-cert-dir", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-protocols", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-ciphers", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"tls-ciphersuites", RC_STR, 0, 0, 0, "", NULL, NULL},
    {"dir", RC_SPECIAL, RC_PROTECTED, 0, 0, "", NULL, NULL},
    {"save", RC_SAVE, 0, 0, 0, "", NULL, NULL},
    {"client-output-buffer-limit", RC_SPECIAL, 0, 0, 0, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", NULL, NULL},
    {"oom-score-adj-values", RC_OOMV, 0, 0, 0, "0 200 800", NULL, NULL},
    {"notify-keyspace-events", RC_SPECIAL, 0, 0, 0, "", NULL, NULL},
    {"bind", RC_SPECIAL, 0, 0, 0, "127.0.0.1", NULL, NULL},
    {"replicaof", RC_SPECIAL, RC_IMMUTABLE, 0, 0, "", NULL, NULL},
    {"slaveof", RC_SPECIAL, RC_IMMUTABLE, 0, 0, "", NULL, "replicaof"},
    {"latency-tracking-info-percentiles", RC_PCTL, 0, 0, 0, "50 99 99.9", NULL, NULL},
};
/* clang-format on */

#define NROWS (sizeof(table) / sizeof(table[0]))

static char *values[NROWS]; /* set values; NULL shows the default */
static struct rconfig_live live = {10000, 128, 0, 1, 0, 512, 64, 512, 128, 64};

const struct rconfig_live *rconfig_live(void)
{
    return &live;
}

size_t rconfig_count(void)
{
    return NROWS;
}

const struct rconfig_desc *rconfig_at(size_t i)
{
    return i < NROWS ? &table[i] : NULL;
}

const struct rconfig_desc *rconfig_find(const char *name)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strcasecmp(name, table[i].name) == 0)
            return &table[i];
    return NULL;
}

const char *rconfig_name(const struct rconfig_desc *d)
{
    return d->name;
}

unsigned rconfig_flags(const struct rconfig_desc *d)
{
    return d->flags;
}

const char *rconfig_native(const struct rconfig_desc *d)
{
    const struct config_desc *n = config_find(d->alias_of ? d->alias_of : d->name);
    return n ? n->name : NULL;
}

/* A row and its aliases share one value: the row the alias names. */
static size_t value_slot(const struct rconfig_desc *d)
{
    if (d->alias_of)
        d = rconfig_find(d->alias_of);
    return (size_t)(d - table);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Redis's string2ll: an optional '-', digits, nothing else, no overflow. */
static int parse_ll(const char *s, int base, int64_t *out)
{
    char *end;
    if (*s == '\0' || *s == ' ' || *s == '+')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int check_int(const struct rconfig_desc *d, const char *v, char *norm, size_t nlen,
                     char *err, size_t errlen)
{
    int64_t x;
    uint64_t u;
    if (d->type == RC_MEM) {
        if (config_parse_size(v, &u) < 0 || u > INT64_MAX)
            return fail(err, errlen, "argument must be a memory value");
        x = (int64_t)u;
    } else if (parse_ll(v, d->type == RC_OCTAL ? 8 : 10, &x) < 0) {
        return fail(err, errlen,
                    d->type == RC_OCTAL ? "argument couldn't be parsed as an octal number"
                                        : "argument couldn't be parsed into an integer");
    }
    if (x < d->min || x > d->max)
        return fail(err, errlen, "argument must be between %" PRId64 " and %" PRId64 " inclusive",
                    d->min, d->max);
    snprintf(norm, nlen, d->type == RC_OCTAL ? "%" PRIo64 : "%" PRId64, x);
    return 0;
}

/* The index of v in d->enums (any case), or -1. */
static int enum_index(const struct rconfig_desc *d, const char *v, size_t len)
{
    for (int i = 0; d->enums[i]; i++)
        if (strlen(d->enums[i]) == len && strncasecmp(d->enums[i], v, len) == 0)
            return i;
    return -1;
}

static int enum_error(const struct rconfig_desc *d, char *err, size_t errlen)
{
    size_t off = (size_t)snprintf(err, errlen, "argument(s) must be one of the following: ");
    for (int i = 0; d->enums[i] && off < errlen; i++)
        off += (size_t)snprintf(err + off, errlen - off, "%s%s", i ? ", " : "", d->enums[i]);
    return -1;
}

/* Calls fn on each word of v between single spaces, as Redis splits a multi-argument
 * value (two spaces in a row make an empty word, which no parser takes); "" has none. */
typedef int (*word_fn)(void *arg, const char *w, size_t len);
static int each_word(const char *v, word_fn fn, void *arg)
{
    if (*v == '\0')
        return 0;
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, " ");
        if (fn(arg, p, n) < 0)
            return -1;
        p += n;
        if (*p == '\0')
            return 0;
    }
}

struct words {
    const struct rconfig_desc *d;
    size_t n;
    int64_t x[64]; /* numbers (save, oom-score-adj-values) */
    double f[64];  /* percentiles */
    unsigned bits; /* RC_ENUMS */
};

static int word_int(void *arg, const char *w, size_t len)
{
    struct words *ws = arg;
    char buf[32];
    if (ws->n >= 64 || len >= sizeof(buf))
        return -1;
    memcpy(buf, w, len);
    buf[len] = '\0';
    return parse_ll(buf, 10, &ws->x[ws->n++]);
}

static int word_double(void *arg, const char *w, size_t len)
{
    struct words *ws = arg;
    char buf[64], *end;
    if (ws->n >= 64 || len >= sizeof(buf))
        return -1;
    memcpy(buf, w, len);
    buf[len] = '\0';
    double f = strtod(buf, &end);
    if (*end || !(f >= 0.0 && f <= 100.0))
        return -1;
    ws->f[ws->n++] = f;
    return 0;
}

static int word_enum(void *arg, const char *w, size_t len)
{
    struct words *ws = arg;
    int i = enum_index(ws->d, w, len);
    if (i < 0)
        return -1;
    ws->bits |= i ? 1u << (i - 1) : 0;
    ws->n++;
    return 0;
}

static int check_save(const char *v, char *norm, size_t nlen, char *err, size_t errlen)
{
    struct words ws = {0};
    if (each_word(v, word_int, &ws) < 0 || ws.n % 2)
        return fail(err, errlen, "Invalid save parameters");
    size_t off = 0;
    norm[0] = '\0';
    for (size_t i = 0; i < ws.n; i++) {
        if (ws.x[i] < (i % 2 ? 0 : 1))
            return fail(err, errlen, "Invalid save parameters");
        off += (size_t)snprintf(norm + off, off < nlen ? nlen - off : 0, "%s%" PRId64, i ? " " : "",
                                ws.x[i]);
    }
    return 0;
}

static int check_oomv(const char *v, char *norm, size_t nlen, char *err, size_t errlen)
{
    struct words ws = {0};
    if (each_word(v, word_int, &ws) < 0 && ws.n <= 3)
        return fail(err, errlen,
                    "Invalid oom-score-adj-values, elements must be between -2000 "
                    "and 2000.");
    if (ws.n != 3)
        return fail(err, errlen, "wrong number of arguments");
    for (int i = 0; i < 3; i++)
        if (ws.x[i] < -2000 || ws.x[i] > 2000)
            return fail(err, errlen,
                        "Invalid oom-score-adj-values, elements must be between "
                        "-2000 and 2000.");
    snprintf(norm, nlen, "%" PRId64 " %" PRId64 " %" PRId64, ws.x[0], ws.x[1], ws.x[2]);
    return 0;
}

/* Percentiles as Redis shows them: %f with the trailing zeros (and '.') cut. */
static int check_pctl(const char *v, char *norm, size_t nlen, char *err, size_t errlen)
{
    struct words ws = {0};
    if (each_word(v, word_double, &ws) < 0)
        return fail(err, errlen, "Invalid latency-tracking-info-percentiles parameters");
    size_t off = 0;
    norm[0] = '\0';
    for (size_t i = 0; i < ws.n && off < nlen; i++) {
        char f[64];
        int n = snprintf(f, sizeof(f), "%f", ws.f[i]);
        while (n > 1 && f[n - 1] == '0')
            f[--n] = '\0';
        if (n > 1 && f[n - 1] == '.')
            f[--n] = '\0';
        off += (size_t)snprintf(norm + off, nlen - off, "%s%s", i ? " " : "", f);
    }
    return 0;
}

static int check_enums(const struct rconfig_desc *d, const char *v, char *norm, size_t nlen,
                       char *err, size_t errlen)
{
    struct words ws = {.d = d};
    if (each_word(v, word_enum, &ws) < 0 || ws.n == 0)
        return enum_error(d, err, errlen);
    if ((ws.bits & 3u) == 3u) /* save and nosave */
        return fail(err, errlen, "shutdown options SAVE and NOSAVE can't be used simultaneously");
    size_t off = 0;
    snprintf(norm, nlen, "default");
    for (int i = 1; d->enums[i] && off < nlen; i++)
        if (ws.bits & (1u << (i - 1)))
            off += (size_t)snprintf(norm + off, nlen - off, "%s%s", off ? " " : "", d->enums[i]);
    return 0;
}

static const char *fsync_of(const struct config *cfg)
{
    return cfg->durability == 0 ? "always" : "everysec"; /* sync : periodic */
}

static int check_bool(const char *v, char *norm, size_t nlen, char *err, size_t errlen)
{
    if (strcasecmp(v, "yes") != 0 && strcasecmp(v, "no") != 0)
        return fail(err, errlen, "argument must be 'yes' or 'no'");
    snprintf(norm, nlen, "%s", strcasecmp(v, "yes") == 0 ? "yes" : "no");
    return 0;
}

int rconfig_check(const struct rconfig_desc *d, const struct config *cfg, const char *value,
                  char *norm, size_t normlen, char *err, size_t errlen)
{
    int i;
    switch (d->type) {
    case RC_BOOL:
        return check_bool(value, norm, normlen, err, errlen);
    case RC_INT:
    case RC_OCTAL:
    case RC_MEM:
        return check_int(d, value, norm, normlen, err, errlen);
    case RC_ENUM:
        if ((i = enum_index(d, value, strlen(value))) < 0)
            return enum_error(d, err, errlen);
        snprintf(norm, normlen, "%s", d->enums[i]);
        return 0;
    case RC_ENUMS:
        return check_enums(d, value, norm, normlen, err, errlen);
    case RC_SAVE:
        return check_save(value, norm, normlen, err, errlen);
    case RC_OOMV:
        return check_oomv(value, norm, normlen, err, errlen);
    case RC_PCTL:
        return check_pctl(value, norm, normlen, err, errlen);
    case RC_AOF:
        if (check_bool(value, norm, normlen, err, errlen) < 0)
            return -1;
        if (strcmp(norm, "no") == 0)
            return 0;
        return fail(err, errlen,
                    "logstord has no AOF: every write goes to its log on disk "
                    "(see the durability key)");
    case RC_FSYNC:
        if ((i = enum_index(d, value, strlen(value))) < 0)
            return enum_error(d, err, errlen);
        if (strcmp(d->enums[i], fsync_of(cfg)) == 0) {
            snprintf(norm, normlen, "%s", d->enums[i]);
            return 0;
        }
        return fail(err, errlen,
                    "logstord syncs as its durability key says, set at start-up "
                    "(sync: always, periodic: everysec)");
    case RC_STR:
        snprintf(norm, normlen, "%s", value);
        return 0;
    case RC_SPECIAL:
        break;
    }
    return fail(err, errlen, "can't set immutable config");
}

static void live_update(const struct rconfig_desc *d, const char *norm)
{
    if (strcmp(d->name, "slowlog-log-slower-than") == 0)
        live.slowlog_slower_than_us = strtoll(norm, NULL, 10);
    else if (strcmp(d->name, "slowlog-max-len") == 0)
        live.slowlog_max_len = strtoull(norm, NULL, 10);
    else if (strcmp(d->name, "latency-monitor-threshold") == 0)
        live.latency_threshold_ms = strtoull(norm, NULL, 10);
    else if (strcmp(d->name, "latency-tracking") == 0)
        live.latency_tracking = strcmp(norm, "yes") == 0;
    else if (strcmp(d->name, "maxmemory") == 0)
        live.maxmemory = strtoull(norm, NULL, 10);
    else if (!strcmp(d->name, "hash-max-listpack-entries") ||
             !strcmp(d->name, "hash-max-ziplist-entries"))
        live.hash_max_listpack_entries = strtoull(norm, NULL, 10);
    else if (!strcmp(d->name, "hash-max-listpack-value") ||
             !strcmp(d->name, "hash-max-ziplist-value"))
        live.hash_max_listpack_value = strtoull(norm, NULL, 10);
    else if (!strcmp(d->name, "set-max-intset-entries"))
        live.set_max_intset_entries = strtoull(norm, NULL, 10);
    else if (!strcmp(d->name, "zset-max-listpack-entries") ||
             !strcmp(d->name, "zset-max-ziplist-entries"))
        live.zset_max_listpack_entries = strtoull(norm, NULL, 10);
    else if (!strcmp(d->name, "zset-max-listpack-value") ||
             !strcmp(d->name, "zset-max-ziplist-value"))
        live.zset_max_listpack_value = strtoull(norm, NULL, 10);
}

size_t rconfig_index(const struct rconfig_desc *d)
{
    return (size_t)(d - table);
}

char *rconfig_prepare(const char *norm)
{
    return strdup(norm);
}

void rconfig_commit(const struct rconfig_desc *d, char *prepared)
{
    size_t slot = value_slot(d);
    free(values[slot]);
    values[slot] = prepared;
    live_update(&table[slot], prepared);
}

void rconfig_value(const struct rconfig_desc *d, const struct config *cfg, char *buf, size_t len)
{
    size_t slot = value_slot(d);
    if (d->type == RC_FSYNC)
        snprintf(buf, len, "%s", fsync_of(cfg));
    else
        snprintf(buf, len, "%s", values[slot] ? values[slot] : table[slot].def);
}

/* appendfsync in a file: the durability it asks for. */
static int startup_fsync(struct config *cfg, const char *value, char *err, size_t errlen)
{
    char norm[32];
    const struct rconfig_desc *d = rconfig_find("appendfsync");
    int i = enum_index(d, value, strlen(value));
    if (i < 0)
        return enum_error(d, err, errlen);
    snprintf(norm, sizeof(norm), "%s", d->enums[i]);
    if (strcmp(norm, "always") == 0)
        return config_set(cfg, "durability", "sync", err, errlen);
    if (strcmp(norm, "everysec") == 0 &&
        config_set(cfg, "flush_interval_ms", "1000", err, errlen) < 0)
        return -1;
    return config_set(cfg, "durability", "periodic", err, errlen);
}

/* What a file may set that logstord cannot do: NULL, or why. */
static const char *startup_refused(const struct rconfig_desc *d, const char *value)
{
    if ((strcmp(d->name, "replicaof") == 0 || strcmp(d->name, "slaveof") == 0) && *value)
        return "logstord has no replication";
    if (strcmp(d->name, "daemonize") == 0 && strcasecmp(value, "yes") == 0)
        return "logstord does not daemonize itself (run it under a service manager)";
    return NULL;
}

int rconfig_set_startup(struct config *cfg, const char *name, const char *value, char *err,
                        size_t errlen)
{
    static int file_saves; /* a save line after the first adds its points to the others */
    const struct rconfig_desc *d = rconfig_find(name);
    char norm[512], why[256];
    if (d == NULL)
        return fail(err, errlen, "unknown configuration key '%s'", name);
    if (rconfig_native(d))
        return config_set(cfg, rconfig_native(d), value, err, errlen);
    if (d->type == RC_FSYNC)
        return startup_fsync(cfg, value, err, errlen);
    const char *no = startup_refused(d, value);
    if (no)
        return fail(err, errlen, "'%s %s': %s", name, value, no);
    if (d->type == RC_SPECIAL) /* replicaof "" */
        return 0;
    if (rconfig_check(d, cfg, value, norm, sizeof(norm), why, sizeof(why)) < 0)
        return fail(err, errlen, "invalid value for '%s': %s", name, why);
    char joined[1024], cur[512];
    snprintf(joined, sizeof(joined), "%s", norm);
    if (d->type == RC_SAVE && norm[0] && file_saves++) {
        rconfig_value(d, cfg, cur, sizeof(cur));
        if ((size_t)snprintf(joined, sizeof(joined), "%s%s%s", cur, cur[0] ? " " : "", norm) >=
            sizeof(cur))
            return fail(err, errlen, "too many save points");
    }
    char *copy = rconfig_prepare(joined);
    if (copy == NULL)
        return fail(err, errlen, "out of memory");
    rconfig_commit(d, copy);
    return 0;
}
