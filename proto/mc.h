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

/* clang-format off */
enum mc_op {
    MC_GET, MC_GETS, MC_GAT, MC_GATS, MC_SET, MC_ADD, MC_REPLACE, MC_APPEND, MC_PREPEND,
    MC_CAS, MC_DELETE, MC_INCR, MC_DECR, MC_TOUCH, MC_FLUSH_ALL, MC_STATS, MC_VERSION,
    MC_VERBOSITY, MC_QUIT, MC_SLABS_AUTOMOVE,
    MC_MG, MC_MS, MC_MD, MC_MA, MC_MN, MC_ME,
};
/* clang-format on */

#define MC_MAX_KEY    250 /* memcached's KEY_MAX_LENGTH */
#define MC_MAX_KEYS   256 /* keys in one piece of a get/gets/gat/gats line */
#define MC_MAX_MFLAGS 32  /* flags in one meta command */

struct mc_str {
    const char *ptr;
    size_t len;
};

/* One meta flag: a letter and its optional token (e.g. T30 -> 'T', "30"). */
struct mc_mflag {
    char f;
    struct mc_str tok;
};

/* A binary protocol request (mcbin.c), beside the mc_op it maps to. */
struct mc_bin {
    uint8_t opcode;    /* as received (quiet forms included) */
    uint8_t quiet;     /* a quiet form: no reply on success (get family: on a miss) */
    uint8_t with_key;  /* GETK, GETKQ, GATK, GATKQ: the reply carries the key */
    uint8_t no_value;  /* TOUCH: the reply carries no value */
    uint16_t status;   /* MC_ERROR: the status to reply (out->err is its message) */
    uint32_t opaque;   /* echoed as received */
    uint64_t cas;      /* the request's CAS (0: none) */
    uint64_t initial;  /* incr/decr: the value created on a miss */
    uint32_t incr_exp; /* incr/decr: its expiry; 0xffffffff: no creation on a miss */
};

struct mc_cmd {
    enum mc_op op;
    int is_bin; /* a binary protocol request; bin below */
    struct mc_bin bin;
    uint32_t nkeys;     /* keys[0..nkeys) (the array is last) */
    uint32_t flags;     /* client flags (storage commands) */
    int64_t exptime;    /* storage/touch/gat/flush_all delay, as sent */
    uint64_t cas;       /* cas command */
    uint64_t delta;     /* incr/decr */
    struct mc_str data; /* storage commands: the data block (without \r\n) */
    struct mc_str arg;  /* stats: every token after "stats" ("detail on"), empty if
                           none; verbosity, slabs automove: the level (digits) */
    int noreply;        /* classic commands: the last token is "noreply". Also set on
                           MC_ERROR once known: memcached suppresses error replies to
                           such commands too */
    /* meta commands */
    struct mc_mflag mflags[MC_MAX_MFLAGS]; /* in line order; each flag is a letter, seen
                                              once; tokens are not checked (the caller
                                              interprets them per command) */
    uint32_t nmflags;
    int key_b64; /* meta 'b' flag: key is base64 (decoded by the caller) */
    int more;    /* get family: the line goes on in the next piece (no "END" yet) */
    /* Parser state carried from one call to the next (the caller passes the same cmd for
     * one connection and never writes these): a get line read in pieces, or the rest of
     * a bad line being skipped. */
    int cont;             /* MC_CONT_* */
    enum mc_op cont_op;   /* MC_CONT_GET: the line's command */
    int64_t cont_exptime; /* MC_CONT_GET: gat/gats's exptime */
    /* Last, so that a request's copy holds only the keys it has (mcs_copy: a plain get
     * carries 16 bytes of them, not the 4 KiB of MC_MAX_KEYS). */
    struct mc_str keys[MC_MAX_KEYS]; /* get-family: all keys (gat/gats may have none);
                                        others: keys[0]; mn, flush_all...: none */
};

enum { MC_CONT_NONE, MC_CONT_GET, MC_CONT_SKIP };

struct mc_limits {
    uint32_t max_value; /* largest data block accepted */
    uint32_t max_line;  /* longest command line without its '\n' (memcached: 2048
                           for keys + slack); a get with MC_MAX_KEYS long keys needs
                           about MC_MAX_KEYS * (MC_MAX_KEY + 1) + 16 */
};

/* The 'cont' fields of a fresh mc_cmd (zeroed memory is also fresh). */
void mc_cmd_init(struct mc_cmd *cmd);
/* Clears the per-command fields of cmd (not the 'cont' state): mc_parse and mcb_parse
 * start with it. */
void mc_cmd_reset(struct mc_cmd *cmd);

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
    const char *err; /* static string */
};

/* Parses the first command in buf[0..len). buf is not modified; cmd's strings point into
 * it. Every field of *out is written on every call; *cmd is fully valid only on MC_DONE.
 *
 * MC_MORE: call again with more bytes; need is a lower bound of the bytes missing (for a
 * data block: the rest of it).
 *
 * MC_ERROR: reply out->err (unless cmd->noreply) and drop out->consumed bytes. Three cases:
 *   consumed == 0: a line longer than lim->max_line ("CLIENT_ERROR line too long"):
 *     close the connection (memcached closes without a reply).
 *   consumed <= len: the bad line, and for "CLIENT_ERROR bad data chunk" the data block
 *     and the two bytes after it as announced; the next command follows.
 *   consumed > len: a data block to swallow ("SERVER_ERROR object too large for cache",
 *     or an ms that failed after its length was parsed). For "too large", cmd->op and
 *     cmd->keys[0] (nkeys 1) are set: memcached drops the old item of a set or ms. Drop all len
 * bytes now and the next consumed - len bytes as they arrive (out->need is that number), as
 *     memcached's conn_swallow does.
 *   out->err is NULL when nothing is to be replied: consumed == 0 then means close without
 *   a reply (an unknown command whose last token starts "HTTP/", as memcached does), and
 *   consumed > 0 drops a part of a bad get line being skipped.
 * A wrong number of tokens for a known command is "ERROR", as in memcached.
 * Keys are 1..MC_MAX_KEY bytes without control characters.
 *
 * Get lines have no length limit (memcached's multiget is bounded only by the line, which
 * it reads in pieces): a get/gets/gat/gats line with more than MC_MAX_KEYS keys, or with no
 * newline within lim->max_line bytes, comes back in pieces of at most MC_MAX_KEYS keys and
 * lim->max_line bytes, each a MC_DONE command with cmd->more set except the last (which
 * may have no key). The state between pieces is in *cmd. A bad key in a piece is
 * "CLIENT_ERROR bad command line format"; the rest of that line is then dropped (later
 * calls return MC_ERROR with err NULL until its newline). Pure function of its arguments
 * and *cmd: any thread. */
enum mc_status mc_parse(const char *buf, size_t len, const struct mc_limits *lim,
                        struct mc_cmd *cmd, struct mc_parse_out *out);

/* Appends "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n". */
int mc_w_value(struct pbuf *o, const void *key, size_t klen, uint32_t flags, const void *data,
               size_t n, const uint64_t *cas);
/* Appends s followed by "\r\n". */
int mc_w_line(struct pbuf *o, const char *s);

#endif
