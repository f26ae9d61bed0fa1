/*
 * config.c - the descriptor table and the parsers built on it.
 *
 * One row per key: everything that reads or writes configuration (file, command line,
 * CONFIG GET/SET, --help, the start-up log, conf/logstor.conf) walks this table, so a key
 * added here is known everywhere at once. Values are validated against the row's bounds
 * before they are stored; a bad value leaves the old one in place. Names accept '-' for
 * '_' so that Redis habits (client-output-buffer-limit) work.
 */
#include "config.h"
#include "logstor.h"
#include "pubsub.h"
#include "rconfig.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(f) offsetof(struct config, f)
#define KIB    1024ULL
#define MIB    (1024ULL * 1024)
#define GIB    (1024ULL * 1024 * 1024)

static const char *const durability_names[] = {"sync", "periodic", NULL};
static const char *const loglevel_names[] = {"debug", "verbose", "notice", "warning", NULL};
/* Index = enum ls_compact_policy (LS_COMPACT_GREEDY 0, LS_COMPACT_COST_BENEFIT 1). */
static const char *const compact_policy_names[] = {"greedy", "cost-benefit", NULL};

/* clang-format off */
static const struct config_desc table[] = {
    {"bind", CONFIG_STR, OFF(bind), 0, 0, "127.0.0.1", NULL, 0,
     "Addresses to listen on, separated by spaces (Redis and memcached listeners)."},
    {"port", CONFIG_INT, OFF(port), 0, 65535, "6379", NULL, 1,
     "TCP port of the Redis protocol listener (0 disables it)."},
    {"memcached_port", CONFIG_INT, OFF(memcached_port), 0, 65535, "11211", NULL, 0,
     "TCP port of the memcached protocol listener (0 disables it)."},
    {"dir", CONFIG_STR, OFF(dir), 0, 0, "./data", NULL, 0,
     "Data directory holding the log files; created if missing (must allow O_DIRECT)."},
    {"salvage", CONFIG_BOOL, OFF(salvage), 0, 1, "no", NULL, 0,
     "Start on a damaged data directory (data files missing, swapped or foreign) anyway."},
    {"rollback", CONFIG_STR, OFF(rollback), 0, 0, "", NULL, 0,
     "Start by rolling the data back to this snapshot (SNAPSHOT CREATE); for one start: "
     "every start given it rolls back again."},
    {"disk_size", CONFIG_SIZE, OFF(disk_size), 4 * MIB, 1ULL << 50, "1gb", NULL, 0,
     "Bytes the data files may occupy in all; compaction reclaims dead records' space."},
    {"durability", CONFIG_ENUM, OFF(durability), 0, 1, "sync", durability_names, 0,
     "sync acknowledges a write once it is on stable storage; periodic once buffered."},
    {"flush_interval_ms", CONFIG_INT, OFF(flush_interval_ms), 1, 60000, "1000", NULL, 0,
     "periodic mode: longest time an acknowledged write stays only in memory."},
    {"checkpoint_interval_ms", CONFIG_INT, OFF(checkpoint_interval_ms), 0, 86400000, "60000",
     NULL, 0,
     "Checkpoint of the index every this many ms when anything was written; a crash restart "
     "reads it and the log written since (0: only at shutdown)."},
    {"checkpoint_bytes", CONFIG_SIZE, OFF(checkpoint_bytes), 0, 1ULL << 50, "1gb", NULL, 0,
     "And a checkpoint as soon as this many bytes were written to the disk since the last "
     "began: bounds what a crash restart reads (0: by time only)."},
    {"databases", CONFIG_INT, OFF(databases), 1, 1024, "16", NULL, 0,
     "Number of Redis databases (engine tables) selectable with SELECT."},
    {"max_key_size", CONFIG_SIZE, OFF(max_key_size), 250, 64 * KIB, "64kb", NULL, 0,
     "Largest key accepted, in bytes."},
    {"max_value_size", CONFIG_SIZE, OFF(max_value_size), 1024, 64 * MIB, "1mb", NULL, 0,
     "Largest value accepted, in bytes (at most 64mb)."},
    {"segment_size", CONFIG_SIZE, OFF(segment_size), 4 * KIB, 64 * MIB, "128kb", NULL, 0,
     "Engine log segment size in bytes (a multiple of 4096)."},
    {"file_size", CONFIG_SIZE, OFF(file_size), 4 * KIB, 4 * GIB - 4 * KIB, "32mb", NULL, 0,
     "Engine data file size in bytes (a multiple of segment_size)."},
    {"write_buffer_size", CONFIG_SIZE, OFF(write_buffer_size), 0, 64 * MIB, "0", NULL, 0,
     "Bytes per engine write buffer (0 means one segment)."},
    {"write_buffers", CONFIG_INT, OFF(write_buffers), 4, 1024, "8", NULL, 0,
     "Number of engine write buffers in the ring."},
    {"group_commit_us", CONFIG_INT, OFF(group_commit_us), 0, 100000, "200", NULL, 0,
     "sync mode: group commit window: two writes in flight, the next after N us (0: several)."},
    {"max_pending_bytes", CONFIG_SIZE, OFF(max_pending_bytes), 1 * MIB, 64 * GIB, "64mb", NULL,
     0, "Bytes of writes allowed to wait for a buffer; past it writes wait (busy_timeout_ms)."},
    {"cache_size", CONFIG_SIZE, OFF(cache_size), 0, 1024 * GIB, "64mb", NULL, 0,
     "Bytes of recently read records the engine keeps in memory (0 disables the cache)."},
    {"cache_writes", CONFIG_BOOL, OFF(cache_writes), 0, 1, "yes", NULL, 0,
     "Records just written go into the record cache too while it has room to spare."},
    {"io_uring_sends", CONFIG_BOOL, OFF(io_uring_sends), 0, 1, "yes", NULL, 0,
     "Replies leave through the engine's io_uring, a loop turn's in one system call (no: write(2) each)."},
    {"scan_cache_size", CONFIG_SIZE, OFF(scan_cache_size), 0, 64 * GIB, "64mb", NULL, 0,
     "Bytes of keys kept for KEYS and SCAN (of records read or written; 8mb at least)."},
    {"queue_depth", CONFIG_INT, OFF(queue_depth), 8, 32768, "256", NULL, 0,
     "io_uring submission queue entries."},
    {"compact_low", CONFIG_INT, OFF(compact_low), 0, UINT32_MAX, "0", NULL, 0,
     "Compaction starts below this many free segments, 0 or >= 16 (0: 16)."},
    {"compact_high", CONFIG_INT, OFF(compact_high), 0, UINT32_MAX, "0", NULL, 0,
     "Compaction runs until this many segments are free (0: low + 8)."},
    {"compact_policy", CONFIG_ENUM, OFF(compact_policy), 0, 1, "greedy", compact_policy_names, 0,
     "Victim choice: greedy (emptiest first) or cost-benefit (old and empty first, LFS)."},
    {"compaction_groups", CONFIG_INT, OFF(compaction_groups), 1, 64, "4", NULL, 0,
     "Token ranges per database that compaction keeps in segments of their own."},
    {"separator_memory", CONFIG_SIZE, OFF(separator_memory), 1 * MIB, 64 * GIB, "8mb", NULL, 0,
     "Bytes of compaction output not yet on disk before compaction pauses."},
    {"busy_timeout_ms", CONFIG_INT, OFF(busy_timeout_ms), 0, 3600000, "30000", NULL, 1,
     "Longest a write waits for free space before it fails as busy (0: fail at once)."},
    {"requirepass", CONFIG_STR, OFF(requirepass), 0, 0, "", NULL, 1,
     "Password clients must give with AUTH or HELLO before other commands (empty: none)."},
    {"protected_mode", CONFIG_BOOL, OFF(protected_mode), 0, 1, "yes", NULL, 1,
     "With no password set, refuse clients that do not connect from a loopback address."},
    {"maxclients", CONFIG_INT, OFF(maxclients), 1, 1000000, "10000", NULL, 1,
     "Most simultaneous client connections; more are refused with an error."},
    {"timeout", CONFIG_INT, OFF(timeout), 0, 100000000, "0", NULL, 1,
     "Close a client idle for this many seconds (0 never)."},
    {"tcp_backlog", CONFIG_INT, OFF(tcp_backlog), 1, 65535, "511", NULL, 0,
     "listen(2) backlog of the listening sockets."},
    {"loglevel", CONFIG_ENUM, OFF(loglevel), 0, 3, "notice", loglevel_names, 1,
     "Least severe level logged: debug, verbose, notice or warning."},
    {"logfile", CONFIG_STR, OFF(logfile), 0, 0, "", NULL, 0,
     "Log file path (empty: standard error); SIGHUP reopens it."},
    {"pidfile", CONFIG_STR, OFF(pidfile), 0, 0, "", NULL, 0,
     "Write the process id to this file at start-up (empty: none)."},
    {"client_query_buffer_limit", CONFIG_SIZE, OFF(client_query_buffer_limit), 1 * MIB,
     4 * GIB, "1gb", NULL, 1,
     "Largest command one client may send (closed past it); reading pauses while its commands in flight hold as much."},
    {"proto_max_bulk_len", CONFIG_SIZE, OFF(proto_max_bulk_len), 1 * MIB, 4 * GIB, "512mb",
     NULL, 1, "Largest bulk string accepted in a request."},
    {"max_multibulk_len", CONFIG_INT, OFF(max_multibulk_len), 16, 16 * MIB, "1048576", NULL,
     1, "Most arguments accepted in one request."},
    {"max_inline_len", CONFIG_SIZE, OFF(max_inline_len), 1 * KIB, 64 * MIB, "64kb", NULL, 1,
     "Longest inline (telnet-style) command line accepted."},
    {"client_output_buffer_limit", CONFIG_SIZE, OFF(client_output_buffer_limit), 1 * MIB,
     64 * GIB, "256mb", NULL, 1,
     "Most bytes all pending replies of one client may hold; past it the client is closed."},
    {"maxmemory_clients", CONFIG_SIZE, OFF(maxmemory_clients), 0, 1024 * GIB, "1gb", NULL, 1,
     "Most bytes all clients' buffers, requests and values being read may hold; past it the largest are closed (0: no limit)."},
    {"max_inflight", CONFIG_INT, OFF(max_inflight), 1, 65536, "1024", NULL, 1,
     "Most commands of one client in flight at once; reading pauses at this cap."},
    {"tracking_table_max_keys", CONFIG_INT, OFF(tracking_table_max_keys), 0, 1000000000, "1000000", NULL, 1,
     "Most keys CLIENT TRACKING remembers; past it the oldest is invalidated (0: no limit)."},
    {"busy_reply_threshold", CONFIG_INT, OFF(busy_reply_threshold), 0, 100000000, "5000", NULL, 1,
     "Milliseconds a script may run without waiting for the device before other clients get -BUSY and SCRIPT KILL works."},
    {"cluster_enabled", CONFIG_BOOL, OFF(cluster_enabled), 0, 1, "no", NULL, 0,
     "Answer as a one-node Redis Cluster owning all slots (CLUSTER SLOTS ..., -CROSSSLOT)."},
    {"notify_keyspace_events", CONFIG_STR, OFF(notify_keyspace_events), 0, 0, "", NULL, 1,
     "Keyspace events published through Pub/Sub, as Redis's letters (K E g $ x n ... A; empty: none)."},
};
/* clang-format on */

const struct config_desc *config_table(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (char)tolower((unsigned char)*a), y = (char)tolower((unsigned char)*b);
        if (x == '-')
            x = '_';
        if (y == '-')
            y = '_';
        if (x != y)
            return 0;
    }
    return *a == *b;
}

const struct config_desc *config_find(const char *name)
{
    if (name_eq("lua_time_limit", name)) /* Redis's old name, still what clients send */
        name = "busy_reply_threshold";
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (name_eq(table[i].name, name))
            return &table[i];
    return NULL;
}

int config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suf;
        uint64_t mul;
    } units[] = {{"", 1},           {"b", 1},       {"k", 1000},
                 {"kb", KIB},       {"m", 1000000}, {"mb", MIB},
                 {"g", 1000000000}, {"gb", GIB},    {"t", 1000000000000ULL},
                 {"tb", GIB * 1024}};
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].suf) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

static int parse_value(const struct config_desc *d, const char *v, uint64_t *num, char *err,
                       size_t errlen)
{
    switch (d->type) {
    case CONFIG_STR:
        return 0;
    case CONFIG_BOOL:
        if (strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0)
            *num = 1;
        else if (strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0)
            *num = 0;
        else {
            snprintf(err, errlen, "argument must be 'yes' or 'no' for '%s'", d->name);
            return -1;
        }
        return 0;
    case CONFIG_ENUM:
        for (uint64_t i = 0; d->enums[i]; i++) {
            if (strcasecmp(v, d->enums[i]) == 0) {
                *num = i;
                return 0;
            }
        }
        snprintf(err, errlen, "argument '%s' of '%s' must be one of:", v, d->name);
        for (size_t i = 0; d->enums[i]; i++) {
            size_t l = strlen(err);
            snprintf(err + l, errlen - l, " %s", d->enums[i]);
        }
        return -1;
    case CONFIG_INT:
    case CONFIG_SIZE: {
        int rc;
        if (d->type == CONFIG_SIZE) {
            rc = config_parse_size(v, num);
        } else {
            char *end;
            errno = 0;
            *num = strtoull(v, &end, 10);
            rc = (!isdigit((unsigned char)*v) || *end || errno) ? -1 : 0;
        }
        if (rc < 0) {
            snprintf(err, errlen, "invalid %s '%s' for '%s'",
                     d->type == CONFIG_SIZE ? "size" : "number", v, d->name);
            return -1;
        }
        if (*num < d->min || *num > d->max) {
            snprintf(err, errlen, "'%s' must be between %" PRIu64 " and %" PRIu64 " (got %s)",
                     d->name, d->min, d->max, v);
            return -1;
        }
        return 0;
    }
    }
    return -1;
}

/* The length field of a binary-safe string key, or NULL (a C string). */
static size_t *str_len_field(struct config *cfg, const struct config_desc *d)
{
    return d->offset == OFF(requirepass) ? &cfg->requirepass_len : NULL;
}

const char *config_binary_value(const struct config *cfg, const struct config_desc *d, size_t *len)
{
    size_t *lenp = str_len_field((struct config *)cfg, d);
    if (lenp == NULL)
        return NULL;
    *len = *lenp;
    return *(char *const *)((const char *)cfg + d->offset);
}

/* Stores a copy of value[0..len) (NUL-terminated) in a CONFIG_STR field. */
static int set_str(struct config *cfg, const struct config_desc *d, const char *value, size_t len,
                   char *err, size_t errlen)
{
    size_t *lenp = str_len_field(cfg, d);
    if (lenp == NULL && memchr(value, '\0', len) != NULL) {
        snprintf(err, errlen, "'%s' cannot contain a NUL byte", d->name);
        return -1;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(s, value, len);
    s[len] = '\0';
    char **field = (char **)((char *)cfg + d->offset);
    free(*field);
    *field = s;
    if (lenp)
        *lenp = len;
    return 0;
}

/* notify_keyspace_events: Redis's class letters, kept in canonical order (CONFIG GET
 * shows "AKE" for "KEA", as Redis does) and as flags. */
static int set_notify(struct config *cfg, const struct config_desc *d, const char *value, char *err,
                      size_t errlen)
{
    char canon[32];
    int flags = pubsub_notify_parse(value);
    if (flags < 0) {
        snprintf(err, errlen, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        return -1;
    }
    pubsub_notify_format(flags, canon, sizeof(canon));
    if (set_str(cfg, d, canon, strlen(canon), err, errlen) < 0)
        return -1;
    cfg->notify_flags = flags;
    return 0;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    return config_set_len(cfg, name, value, strlen(value), err, errlen);
}

int config_set_len(struct config *cfg, const char *name, const char *value, size_t len, char *err,
                   size_t errlen)
{
    const struct config_desc *d = config_find(name);
    if (d == NULL) {
        snprintf(err, errlen, "unknown configuration key '%s'", name);
        return -1;
    }
    uint64_t num = 0;
    if (d->type != CONFIG_STR && strlen(value) != len) {
        snprintf(err, errlen, "invalid value for '%s' (a NUL byte)", d->name);
        return -1;
    }
    if (parse_value(d, value, &num, err, errlen) < 0)
        return -1;
    char *field = (char *)cfg + d->offset;
    if (d->offset == OFF(notify_keyspace_events))
        return set_notify(cfg, d, value, err, errlen);
    switch (d->type) {
    case CONFIG_STR:
        return set_str(cfg, d, value, len, err, errlen);
    case CONFIG_BOOL:
    case CONFIG_ENUM:
        *(int *)field = (int)num;
        break;
    case CONFIG_INT:
    case CONFIG_SIZE:
        *(uint64_t *)field = num;
        break;
    }
    return 0;
}

int config_requires_auth(const struct config *cfg)
{
    return cfg->requirepass_len > 0;
}

int config_check(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->disk_size < cfg->file_size) {
        snprintf(err, errlen,
                 "'disk_size' (%" PRIu64
                 ") must hold at least one data file of 'file_size' (%" PRIu64 ")",
                 cfg->disk_size, cfg->file_size);
        return -1;
    }
    if (cfg->max_value_size > ls_max_value(cfg->file_size, (uint32_t)cfg->max_key_size)) {
        /* such a value could never be written: it would wait for space and fail busy */
        snprintf(err, errlen,
                 "'max_value_size' (%" PRIu64 ") must fit in one data file: at most %" PRIu64
                 " with 'file_size' %" PRIu64,
                 cfg->max_value_size, ls_max_value(cfg->file_size, (uint32_t)cfg->max_key_size),
                 cfg->file_size);
        return -1;
    }
    if (cfg->compact_low && cfg->compact_low < LS_COMPACT_LOW_MIN) {
        snprintf(err, errlen,
                 "'compact_low' (%" PRIu64
                 ") must be 0 (automatic) or at least %d: a compaction round at high "
                 "utilization needs that many free segments",
                 cfg->compact_low, LS_COMPACT_LOW_MIN);
        return -1;
    }
    if (cfg->compact_low && cfg->compact_high && cfg->compact_high <= cfg->compact_low) {
        snprintf(err, errlen,
                 "'compact_high' (%" PRIu64 ") must be above 'compact_low' (%" PRIu64 ")",
                 cfg->compact_high, cfg->compact_low);
        return -1;
    }
    return 0;
}

int config_defaults(struct config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (config_set(cfg, table[i].name, table[i].def, err, sizeof(err)) < 0)
            return -ENOMEM;
    return 0;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].type == CONFIG_STR) {
            char **p = (char **)((char *)cfg + table[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

void config_format(const struct config *cfg, const struct config_desc *d, char *buf, size_t len)
{
    const char *field = (const char *)cfg + d->offset;
    switch (d->type) {
    case CONFIG_STR: {
        const char *s = *(char *const *)field;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case CONFIG_BOOL:
        snprintf(buf, len, "%s", *(const int *)field ? "yes" : "no");
        break;
    case CONFIG_ENUM:
        snprintf(buf, len, "%s", d->enums[*(const int *)field]);
        break;
    case CONFIG_INT:
    case CONFIG_SIZE:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
        break;
    }
}

/* Splits a line into key and value: the value is the rest of the line, trimmed, with one
 * level of double or single quotes removed. Returns 0, 1 for a blank/comment line, -1. */
static int split_line(char *line, char **key, char **val, const char **why)
{
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 1;
    *key = p;
    while (*p && !isspace((unsigned char)*p))
        p++;
    if (*p)
        *p++ = '\0';
    while (isspace((unsigned char)*p))
        p++;
    char *end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (end > p && (*p == '"' || *p == '\'')) {
        if (end - p < 2 || end[-1] != *p) {
            *why = "unbalanced quotes in value";
            return -1;
        }
        end[-1] = '\0';
        p++;
    }
    *val = p;
    return 0;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], why[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof(line) - 1 && line[l - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *key, *val;
        const char *reason = NULL;
        int s = split_line(line, &key, &val, &reason);
        if (s == 1)
            continue;
        if (s < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, reason);
            rc = -1;
            break;
        }
        if ((config_find(key) ? config_set(cfg, key, val, why, sizeof(why))
                              : rconfig_set_startup(cfg, key, val, why, sizeof(why))) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}
