/*
 * mc.h - the memcached text protocol: classic and meta commands. A pure parser over a
 * byte buffer (no sockets, no engine, no allocation), plus reply helpers.
 *
 * A command is one line ended by "\r\n" (a bare "\n" is accepted as memcached does);
 * storage commands (set add replace append prepend cas, ms) are followed by a data block
 * of the announced length and "\r\n". mc_parse returns the command only once the data
 * block is complete, so the caller never sees half a command.
 */
#ifndef LS_MC_H
#define LS_MC_H

#include <stddef.h>
#include <stdint.h>

#include "pbuf.h"

enum mc_op {
    MC_GET, MC_GETS, MC_GAT, MC_GATS, MC_SET, MC_ADD, MC_REPLACE, MC_APPEND, MC_PREPEND,
    MC_CAS, MC_DELETE, MC_INCR, MC_DECR, MC_TOUCH, MC_FLUSH_ALL, MC_STATS, MC_VERSION,
    MC_VERBOSITY, MC_QUIT,
    MC_MG, MC_MS, MC_MD, MC_MA, MC_MN, MC_ME,
};

#define MC_MAX_KEY 250      /* memcached's KEY_MAX_LENGTH */
#define MC_MAX_KEYS 256     /* keys in one get/gets/gat line */
#define MC_MAX_MFLAGS 32    /* flags in one meta command */

struct mc_str {
    const char *ptr;
    size_t len;
};

/* One meta flag: a letter and its optional token (e.g. T30 -> 'T', "30"). */
struct mc_mflag {
    char f;
    struct mc_str tok;
};

struct mc_cmd {
    enum mc_op op;
    struct mc_str keys[MC_MAX_KEYS]; /* get-family: all keys; others: keys[0] */
    uint32_t nkeys;
    uint32_t flags;           /* client flags (storage commands) */
    int64_t exptime;          /* storage/touch/gat/flush_all delay, as sent */
    uint64_t cas;             /* cas command */
    uint64_t delta;           /* incr/decr */
    struct mc_str data;       /* storage commands: the data block (without \r\n) */
    struct mc_str arg;        /* stats: the optional argument; verbosity: the level */
    int noreply;
    /* meta commands */
    struct mc_mflag mflags[MC_MAX_MFLAGS];
    uint32_t nmflags;
    int key_b64;              /* meta 'b' flag: key is base64 (decoded by the caller) */
};

struct mc_limits {
    uint32_t max_value;       /* largest data block accepted */
    uint32_t max_line;        /* longest command line (memcached: 2048 for keys + slack) */
};

enum mc_status {
    MC_DONE = 1,   /* a command parsed; out->consumed set */
    MC_MORE = 0,   /* need more input; out->need is a lower bound (0 if unknown) */
    MC_ERROR = -1, /* bad command: reply out->err (a whole reply line without \r\n, e.g.
                      "ERROR" or "CLIENT_ERROR bad data chunk") and skip out->consumed
                      bytes (0 means the connection must be closed, as memcached does
                      for a line too long to resync) */
};

struct mc_parse_out {
    size_t consumed;
    size_t need;
    const char *err;
};

enum mc_status mc_parse(const char *buf, size_t len, const struct mc_limits *lim,
                        struct mc_cmd *cmd, struct mc_parse_out *out);

/* Appends "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n". */
int mc_w_value(struct pbuf *o, const void *key, size_t klen, uint32_t flags, const void *data,
               size_t n, const uint64_t *cas);
/* Appends s followed by "\r\n". */
int mc_w_line(struct pbuf *o, const char *s);

#endif
