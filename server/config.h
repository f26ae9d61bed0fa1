/*
 * config.h - logstord's configuration: one descriptor table (name, type, bounds, default,
 * one-sentence help, runtime-settable flag) drives the config file parser, the `--key
 * value` command-line overrides, `--help`, CONFIG GET/SET and the start-up summary.
 */
#ifndef LS_SERVER_CONFIG_H
#define LS_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config {
    char *bind;
    uint64_t port;
    uint64_t memcached_port;
    char *dir;
    uint64_t disk_size;
    int durability; /* enum ls_durability */
    uint64_t flush_interval_ms;
    uint64_t checkpoint_interval_ms;
    uint64_t checkpoint_bytes;
    uint64_t databases;
    uint64_t max_key_size;
    uint64_t max_value_size;
    uint64_t segment_size;
    uint64_t file_size;
    uint64_t write_buffer_size;
    uint64_t write_buffers;
    uint64_t group_commit_us;
    uint64_t max_pending_bytes;
    uint64_t queue_depth;
    uint64_t cache_size;
    int cache_writes;
    int io_uring_sends; /* replies leave through the engine's ring (conn.c "Sending") */
    uint64_t scan_cache_size;
    uint64_t compact_low; /* free-segment watermarks; 0 = the engine's default */
    uint64_t compact_high;
    int compact_policy; /* enum ls_compact_policy */
    uint64_t compaction_groups;
    uint64_t separator_memory;
    uint64_t busy_timeout_ms; /* longest a write waits for space before failing busy */
    char *requirepass;        /* binary safe: CONFIG SET may give it NUL bytes */
    size_t requirepass_len;   /* its length; 0: no password */
    int protected_mode;
    int salvage;
    char *rollback; /* a snapshot to roll back to while opening ("" none) */
    uint64_t maxclients;
    uint64_t timeout;
    uint64_t tcp_backlog;
    int loglevel; /* enum log_level */
    char *logfile;
    char *pidfile;
    uint64_t client_query_buffer_limit;
    uint64_t proto_max_bulk_len;
    uint64_t max_multibulk_len;
    uint64_t max_inline_len;
    uint64_t client_output_buffer_limit;
    uint64_t maxmemory_clients;
    uint64_t max_inflight;
    uint64_t tracking_table_max_keys; /* keys CLIENT TRACKING remembers (tracking.c) */
    int cluster_enabled;              /* answer as a one-node cluster (cmd_cluster.c) */
    uint64_t busy_reply_threshold;    /* ms a script may run without yielding before -BUSY */
    char *notify_keyspace_events;     /* canonical class letters (pubsub.c), "" when off */
    int notify_flags;                 /* the same as NOTIFY_* bits */
};

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_SIZE, CONFIG_BOOL, CONFIG_ENUM };

struct config_desc {
    const char *name;
    enum config_type type;
    size_t offset;            /* of the field in struct config */
    uint64_t min, max;        /* numbers: inclusive bounds */
    const char *def;          /* default, as it would be written in the file */
    const char *const *enums; /* CONFIG_ENUM: NULL-terminated names, index = value */
    int runtime;              /* 1 when CONFIG SET may change it */
    const char *help;         /* one sentence */
};

/* The descriptor table and its length. */
const struct config_desc *config_table(size_t *n);
const struct config_desc *config_find(const char *name);

/* Fills cfg with the defaults. Returns 0 or -ENOMEM. */
int config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/* Sets one key from its text form. On error returns -1 and writes the reason into err. */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* The same for a value of len bytes that may hold NUL bytes (CONFIG SET): requirepass
 * keeps them (binary safe, as in Redis), any other key refuses them. */
int config_set_len(struct config *cfg, const char *name, const char *value, size_t len, char *err,
                   size_t errlen);

/* Parses a redis.conf-style file ("key value" lines, '#' comments, values may be quoted).
 * On error returns -1 with err = "file:line: reason". */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Writes the current value of d into buf (as CONFIG GET shows it). */
void config_format(const struct config *cfg, const struct config_desc *d, char *buf, size_t len);

/* Checks the rules that involve several keys (disk_size holds a file_size, compact_high
 * above compact_low). Returns 0, or -1 with the reason in err. */
int config_check(const struct config *cfg, char *err, size_t errlen);

/* 1 when requirepass is set: clients must authenticate. */
int config_requires_auth(const struct config *cfg);
/* For a binary-safe string key (requirepass): sets *len to its length and returns its
 * bytes; NULL for every other key (a C string: config_format). */
const char *config_binary_value(const struct config *cfg, const struct config_desc *d, size_t *len);

/* Parses "64mb", "1g", "4096" (Redis units: k=1000 kb=1024 ...). Returns 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);

#endif
