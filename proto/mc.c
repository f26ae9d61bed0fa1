/*
 * mc.c - memcached text protocol parser (classic and meta commands) and reply helpers.
 *
 * Modelled on memcached's proto_text.c: find the line, split it on spaces into tokens
 * (tokenize_command), look the command name up, and dispatch with one switch to a small
 * handler per command family. Handlers check the token count as memcached's WANT_TOKENS
 * does (a wrong count is "ERROR", not a CLIENT_ERROR), then keys, then numbers, and use
 * memcached's error texts.
 *
 * Invariants:
 *   1. No byte at or past buf[len] is read; buf is never written.
 *   2. A line is looked at only within lim->max_line bytes, so the result does not depend
 *      on how the input was split into reads.
 *   3. Every length from the input is range-checked (as int32, like memcached's
 *      safe_strtol) before it is added to an offset.
 *   4. MC_DONE is returned only when the whole command, data block included, is in buf.
 *
 * Data blocks. A storage command's block is the announced length plus two bytes. When
 * those two bytes are not "\r\n" the reply is "CLIENT_ERROR bad data chunk" and the whole
 * announced block plus two bytes is consumed (memcached reads exactly that much into the
 * item and then rejects it); the next command starts right after. A block that is too
 * large, or an ms command that fails after its length was parsed, is swallowed the same
 * way without waiting for it: out->consumed is then larger than len (conn_swallow).
 */
#include "mc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MC_MAX_TOKENS 24                  /* memcached's MAX_TOKENS, terminal token included */
#define MC_TOK_CAP    (MC_MAX_KEYS + 2)   /* "gat <exptime> <key>*" */
#define MC_LINE_TOKS  (MC_MAX_TOKENS - 1) /* real tokens a non-get line may have */

static const char mc_e_error[] = "ERROR";
static const char mc_e_format[] = "CLIENT_ERROR bad command line format";
static const char mc_e_chunk[] = "CLIENT_ERROR bad data chunk";
static const char mc_e_large[] = "SERVER_ERROR object too large for cache";
static const char mc_e_delta[] = "CLIENT_ERROR invalid numeric delta argument";
static const char mc_e_exptime[] = "CLIENT_ERROR invalid exptime argument";
static const char mc_e_delete[] = "CLIENT_ERROR bad command line format.  "
                                  "Usage: delete <key> [noreply]";
static const char mc_e_mflags[] = "CLIENT_ERROR options flags are too long";
static const char mc_e_mflag_bad[] = "CLIENT_ERROR invalid flag";
static const char mc_e_mflag_dup[] = "CLIENT_ERROR duplicate flag";
static const char mc_e_toolong[] = "CLIENT_ERROR line too long";

/* The flags memcached 1.6.18 knows (any meta command; each command uses its own). */
static const char mc_meta_letters[] = "bNTRlOPLkstcfvhuqFCMJDI";

struct mc_ctx {
    const char *buf;
    size_t len;
    const struct mc_limits *lim;
    struct mc_cmd *cmd;
    struct mc_parse_out *out;
    size_t line_end; /* index just past the '\n' */
    size_t line_len; /* the line without "\r\n" (the window, if not whole) */
    int whole;       /* the line's newline is in the window */
    uint32_t ntok;   /* tokens on the line; MC_TOK_CAP + 1 means "more than fit" */
    struct mc_str tok[MC_TOK_CAP];
};

static const struct {
    const char *name;
    enum mc_op op;
} mc_ops[] = {
    {"get", MC_GET},
    {"gets", MC_GETS},
    {"gat", MC_GAT},
    {"gats", MC_GATS},
    {"set", MC_SET},
    {"add", MC_ADD},
    {"replace", MC_REPLACE},
    {"append", MC_APPEND},
    {"prepend", MC_PREPEND},
    {"cas", MC_CAS},
    {"delete", MC_DELETE},
    {"incr", MC_INCR},
    {"decr", MC_DECR},
    {"touch", MC_TOUCH},
    {"flush_all", MC_FLUSH_ALL},
    {"stats", MC_STATS},
    {"version", MC_VERSION},
    {"verbosity", MC_VERBOSITY},
    {"quit", MC_QUIT},
    {"mg", MC_MG},
    {"ms", MC_MS},
    {"md", MC_MD},
    {"ma", MC_MA},
    {"mn", MC_MN},
    {"me", MC_ME},
    {"slabs", MC_SLABS_AUTOMOVE},
};

/* ---- small helpers ---- */

static int mc_eq(struct mc_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static enum mc_status mc_err(struct mc_ctx *c, const char *msg)
{
    c->out->err = msg;
    c->out->consumed = c->line_end;
    return MC_ERROR;
}

/* Replies msg and drops the first piece of a line too long to hold, then the rest of it
 * up to its newline (MC_CONT_SKIP). */
static enum mc_status mc_skip(struct mc_ctx *c, const char *msg)
{
    c->cmd->cont = MC_CONT_SKIP;
    c->out->err = msg;
    c->out->consumed = c->line_len;
    return MC_ERROR;
}

/* Replies msg and skips the line and a data block of vlen bytes plus "\r\n", which may
 * not have arrived yet (memcached's conn_swallow). */
static enum mc_status mc_swallow(struct mc_ctx *c, const char *msg, int32_t vlen)
{
    size_t total = c->line_end + (size_t)vlen + 2;
    c->out->err = msg;
    c->out->consumed = total;
    c->out->need = total > c->len ? total - c->len : 0;
    return MC_ERROR;
}

static enum mc_status mc_done(struct mc_ctx *c, size_t consumed)
{
    c->out->err = NULL;
    c->out->consumed = consumed;
    return MC_DONE;
}

/* A key is 1..MC_MAX_KEY bytes without control characters. */
static int mc_key_ok(struct mc_str k)
{
    if (k.len == 0 || k.len > MC_MAX_KEY)
        return 0;
    for (size_t i = 0; i < k.len; i++) {
        unsigned char b = (unsigned char)k.ptr[i];
        if (b < 0x20 || b == 0x7f)
            return 0;
    }
    return 1;
}

/* Unsigned decimal, digits only, no larger than max. */
static int mc_parse_u64(struct mc_str s, uint64_t max, uint64_t *v)
{
    uint64_t u = 0;
    if (s.len == 0 || s.len > 20)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s.ptr[i] - '0');
        if (u > (max - d) / 10)
            return 0;
        u = u * 10 + d;
    }
    *v = u;
    return 1;
}

/* Signed 32-bit decimal, like memcached's safe_strtol. */
static int mc_parse_i32(struct mc_str s, int32_t *v)
{
    int neg = s.len > 0 && s.ptr[0] == '-';
    struct mc_str d = {s.ptr + neg, s.len - (size_t)neg};
    uint64_t u;
    if (!mc_parse_u64(d, neg ? 2147483648ULL : 2147483647ULL, &u))
        return 0;
    *v = neg ? (int32_t)(-(int64_t)u) : (int32_t)u;
    return 1;
}

/* memcached's set_noreply_maybe: the last token is "noreply". */
static int mc_noreply(const struct mc_ctx *c)
{
    return c->ntok > 0 && mc_eq(c->tok[c->ntok - 1], "noreply");
}

/* ---- classic commands ---- */

/* Reads the keys in buf[pos..stop) into cmd->keys, at most MC_MAX_KEYS. `whole`: stop is
 * the end of the line; otherwise the line goes on past stop and a key cut there is left for
 * the next piece. A piece that does not end the line sets cmd->more and the state for the
 * next call. */
static enum mc_status mc_get_keys(struct mc_ctx *c, size_t pos, size_t stop, int whole)
{
    struct mc_cmd *cmd = c->cmd;
    size_t i = pos, s;
    while (cmd->nkeys < MC_MAX_KEYS) {
        while (i < stop && c->buf[i] == ' ')
            i++;
        for (s = i; i < stop && c->buf[i] != ' ';)
            i++;
        if (i == s)
            break;
        if (i == stop && !whole) { /* maybe cut: the next piece has it */
            if (i - s > MC_MAX_KEY)
                goto bad;
            i = s;
            break;
        }
        struct mc_str k = {c->buf + s, i - s};
        if (!mc_key_ok(k))
            goto bad;
        cmd->keys[cmd->nkeys++] = k;
    }
    for (s = i; s < stop && c->buf[s] == ' ';)
        s++;
    if (whole && s == stop) {
        cmd->cont = MC_CONT_NONE;
        return mc_done(c, c->line_end);
    }
    cmd->cont = MC_CONT_GET;
    cmd->cont_op = cmd->op;
    cmd->cont_exptime = cmd->exptime;
    cmd->more = 1;
    return mc_done(c, i);
bad:
    cmd->nkeys = 0;
    if (whole) {
        cmd->cont = MC_CONT_NONE;
        return mc_err(c, mc_e_format);
    }
    cmd->cont = MC_CONT_SKIP; /* the rest of the line is dropped up to its newline */
    c->out->err = mc_e_format;
    c->out->consumed = stop;
    return MC_ERROR;
}

/* get/gets <key>*, gat/gats <exptime> <key>*: the first piece of the line (see mc_parse
 * for the pieces). */
static enum mc_status mc_get(struct mc_ctx *c, int touch)
{
    uint32_t first = touch ? 2 : 1;
    if (c->ntok < first + (c->whole ? !touch : 1))
        return c->whole ? mc_err(c, mc_e_error) : mc_skip(c, mc_e_format);
    if (touch) {
        int32_t e;
        if (!mc_parse_i32(c->tok[1], &e))
            return c->whole ? mc_err(c, mc_e_exptime) : mc_skip(c, mc_e_exptime);
        c->cmd->exptime = e;
    }
    struct mc_str last = c->tok[first - 1];
    return mc_get_keys(c, (size_t)(last.ptr + last.len - c->buf), c->line_len, c->whole);
}

/* The next piece of a get line: buf starts where the last piece stopped. */
static enum mc_status mc_get_cont(struct mc_ctx *c)
{
    struct mc_cmd *cmd = c->cmd;
    cmd->op = cmd->cont_op;
    cmd->exptime = cmd->cont_exptime;
    size_t window = c->len <= c->lim->max_line ? c->len : (size_t)c->lim->max_line;
    const char *nl = memchr(c->buf, '\n', window);
    if (nl == NULL && c->len <= c->lim->max_line) {
        c->out->need = 1;
        return MC_MORE;
    }
    if (nl == NULL)
        return mc_get_keys(c, 0, window, 0);
    c->line_len = (size_t)(nl - c->buf);
    c->line_end = c->line_len + 1;
    if (c->line_len > 0 && c->buf[c->line_len - 1] == '\r')
        c->line_len--;
    return mc_get_keys(c, 0, c->line_len, 1);
}

/* set/add/replace/append/prepend <key> <flags> <exptime> <bytes> [noreply], and cas with
 * <cas unique> before [noreply]. */
static enum mc_status mc_store(struct mc_ctx *c, int is_cas)
{
    struct mc_cmd *cmd = c->cmd;
    uint32_t base = is_cas ? 6 : 5;
    int32_t exptime, vlen;
    uint64_t flags;
    if (c->ntok != base && c->ntok != base + 1)
        return mc_err(c, mc_e_error);
    cmd->noreply = mc_noreply(c);
    if (!mc_key_ok(c->tok[1]))
        return mc_err(c, mc_e_format);
    if (!mc_parse_u64(c->tok[2], UINT32_MAX, &flags) || !mc_parse_i32(c->tok[3], &exptime) ||
        !mc_parse_i32(c->tok[4], &vlen) || vlen < 0 || vlen > INT32_MAX - 2)
        return mc_err(c, mc_e_format);
    if (is_cas && !mc_parse_u64(c->tok[5], UINT64_MAX, &cmd->cas))
        return mc_err(c, mc_e_format);
    cmd->keys[0] = c->tok[1]; /* also on "too large": a set then drops the key */
    cmd->nkeys = 1;
    if ((uint32_t)vlen > c->lim->max_value)
        return mc_swallow(c, mc_e_large, vlen);
    size_t total = c->line_end + (size_t)vlen + 2;
    if (c->len < total) {
        c->out->need = total - c->len;
        return MC_MORE;
    }
    if (memcmp(c->buf + total - 2, "\r\n", 2) != 0)
        return mc_swallow(c, mc_e_chunk, vlen);
    cmd->keys[0] = c->tok[1];
    cmd->nkeys = 1;
    cmd->flags = (uint32_t)flags;
    cmd->exptime = exptime;
    cmd->data.ptr = c->buf + c->line_end;
    cmd->data.len = (size_t)vlen;
    return mc_done(c, total);
}

/* delete <key> [0] [noreply]: the legacy hold time must be "0". */
static enum mc_status mc_delete(struct mc_ctx *c)
{
    if (c->ntok < 2 || c->ntok > 4)
        return mc_err(c, mc_e_error);
    c->cmd->noreply = mc_noreply(c);
    if (c->ntok > 2) {
        int zero = mc_eq(c->tok[2], "0");
        int nr = c->cmd->noreply;
        if (!((c->ntok == 3 && (zero || nr)) || (c->ntok == 4 && zero && nr)))
            return mc_err(c, mc_e_delete);
    }
    if (!mc_key_ok(c->tok[1]))
        return mc_err(c, mc_e_format);
    c->cmd->keys[0] = c->tok[1];
    c->cmd->nkeys = 1;
    return mc_done(c, c->line_end);
}

/* incr/decr <key> <delta> [noreply] and touch <key> <exptime> [noreply]. */
static enum mc_status mc_key_num(struct mc_ctx *c)
{
    struct mc_cmd *cmd = c->cmd;
    int32_t e;
    if (c->ntok != 3 && c->ntok != 4)
        return mc_err(c, mc_e_error);
    cmd->noreply = mc_noreply(c);
    if (!mc_key_ok(c->tok[1]))
        return mc_err(c, mc_e_format);
    if (cmd->op == MC_TOUCH) {
        if (!mc_parse_i32(c->tok[2], &e))
            return mc_err(c, mc_e_exptime);
        cmd->exptime = e;
    } else if (!mc_parse_u64(c->tok[2], UINT64_MAX, &cmd->delta)) {
        return mc_err(c, mc_e_delta);
    }
    cmd->keys[0] = c->tok[1];
    cmd->nkeys = 1;
    return mc_done(c, c->line_end);
}

static enum mc_status mc_flush_all(struct mc_ctx *c)
{
    int32_t e = 0;
    if (c->ntok > 3)
        return mc_err(c, mc_e_error);
    c->cmd->noreply = mc_noreply(c);
    if (c->ntok != (c->cmd->noreply ? 2u : 1u) && !mc_parse_i32(c->tok[1], &e))
        return mc_err(c, mc_e_exptime); /* memcached 1.6: "invalid exptime argument" */
    c->cmd->exptime = e;
    return mc_done(c, c->line_end);
}

/* stats [arg...]: arg spans every token after "stats" ("detail on"). */
static enum mc_status mc_stats(struct mc_ctx *c)
{
    if (c->ntok > MC_LINE_TOKS)
        return mc_err(c, mc_e_error);
    if (c->ntok > 1) {
        struct mc_str last = c->tok[c->ntok - 1];
        c->cmd->arg.ptr = c->tok[1].ptr;
        c->cmd->arg.len = (size_t)(last.ptr + last.len - c->tok[1].ptr);
    }
    return mc_done(c, c->line_end);
}

/* verbosity <level> [noreply]: the level is an unsigned 32-bit number (memcached caps it
 * at its highest level); "verbosity noreply" is a bad level with noreply, so no reply. */
static enum mc_status mc_verbosity(struct mc_ctx *c)
{
    uint64_t level;
    if (c->ntok != 2 && c->ntok != 3)
        return mc_err(c, mc_e_error);
    c->cmd->noreply = mc_noreply(c);
    if (!mc_parse_u64(c->tok[1], UINT32_MAX, &level))
        return mc_err(c, mc_e_format);
    c->cmd->arg = c->tok[1];
    return mc_done(c, c->line_end);
}

/* slabs automove <level>: memcached's slab rebalancer knob. logstor has no slab classes;
 * the command is checked as memcached checks it (levels 0..2) and changes nothing. Other
 * slabs subcommands are unknown commands. */
static enum mc_status mc_slabs(struct mc_ctx *c)
{
    uint64_t level;
    if (c->ntok != 3 || !mc_eq(c->tok[1], "automove"))
        return mc_err(c, mc_e_error);
    if (!mc_parse_u64(c->tok[2], UINT32_MAX, &level))
        return mc_err(c, mc_e_format);
    if (level > 2)
        return mc_err(c, mc_e_error);
    c->cmd->arg = c->tok[2];
    return mc_done(c, c->line_end);
}

/* ---- meta commands ---- */

/* Records the flags in tok[first..ntok): a letter and an optional token each. */
static const char *mc_mflags(struct mc_ctx *c, uint32_t first)
{
    uint8_t seen[128] = {0};
    struct mc_cmd *cmd = c->cmd;
    for (uint32_t i = first; i < c->ntok; i++) {
        struct mc_str t = c->tok[i];
        unsigned char f = (unsigned char)t.ptr[0];
        if (f >= 127 || seen[f]++) /* memcached checks repeats first, then the letter */
            return mc_e_mflag_dup;
        if (f == 0 || strchr(mc_meta_letters, f) == NULL)
            return mc_e_mflag_bad;
        if (cmd->nmflags == MC_MAX_MFLAGS)
            return mc_e_mflags;
        struct mc_mflag *m = &cmd->mflags[cmd->nmflags++];
        m->f = (char)f;
        m->tok.ptr = t.ptr + 1;
        m->tok.len = t.len - 1;
        if (f == 'b')
            cmd->key_b64 = 1;
    }
    return NULL;
}

/* mg/md/ma/me <key> <flags>*, mn. */
static enum mc_status mc_meta(struct mc_ctx *c)
{
    if (c->cmd->op == MC_MN)
        return mc_done(c, c->line_end);
    if (c->ntok < 2)
        return mc_err(c, mc_e_error); /* memcached answers a keyless meta command ERROR */
    if (!mc_key_ok(c->tok[1]))
        return mc_err(c, mc_e_format);
    if (c->ntok > MC_LINE_TOKS)
        return mc_err(c, mc_e_mflags);
    const char *e = mc_mflags(c, 2);
    if (e)
        return mc_err(c, e);
    c->cmd->keys[0] = c->tok[1];
    c->cmd->nkeys = 1;
    return mc_done(c, c->line_end);
}

/* ms <key> <datalen> <flags>*, then the data block. The length is parsed first so that
 * any later error can swallow the block, as memcached does. */
static enum mc_status mc_ms(struct mc_ctx *c)
{
    int32_t vlen;
    if (c->ntok < 3)
        return mc_err(c, mc_e_format);
    if (!mc_parse_i32(c->tok[2], &vlen) || vlen < 0 || vlen > INT32_MAX - 2)
        return mc_err(c, mc_e_format);
    if (!mc_key_ok(c->tok[1]))
        return mc_swallow(c, mc_e_format, vlen);
    if (c->ntok > MC_LINE_TOKS)
        return mc_swallow(c, mc_e_mflags, vlen);
    const char *e = mc_mflags(c, 3);
    if (e)
        return mc_swallow(c, e, vlen);
    c->cmd->keys[0] = c->tok[1]; /* also on "too large": ms then drops the key */
    c->cmd->nkeys = 1;
    if ((uint32_t)vlen > c->lim->max_value)
        return mc_swallow(c, mc_e_large, vlen);
    size_t total = c->line_end + (size_t)vlen + 2;
    if (c->len < total) {
        c->out->need = total - c->len;
        return MC_MORE;
    }
    if (memcmp(c->buf + total - 2, "\r\n", 2) != 0)
        return mc_swallow(c, mc_e_chunk, vlen);
    c->cmd->keys[0] = c->tok[1];
    c->cmd->nkeys = 1;
    c->cmd->data.ptr = c->buf + c->line_end;
    c->cmd->data.len = (size_t)vlen;
    return mc_done(c, total);
}

/* ---- line, tokens, dispatch ---- */

/* memcached's tokenize_command: split on ' ' only, empty tokens skipped. */
static void mc_tokenize(struct mc_ctx *c, size_t line_len)
{
    size_t i = 0;
    c->ntok = 0;
    while (i < line_len) {
        while (i < line_len && c->buf[i] == ' ')
            i++;
        if (i == line_len)
            break;
        size_t s = i;
        while (i < line_len && c->buf[i] != ' ')
            i++;
        if (c->ntok == MC_TOK_CAP) {
            c->ntok = MC_TOK_CAP + 1;
            return;
        }
        c->tok[c->ntok].ptr = c->buf + s;
        c->tok[c->ntok].len = i - s;
        c->ntok++;
    }
}

static int mc_lookup(struct mc_str name, enum mc_op *op)
{
    for (size_t i = 0; i < sizeof(mc_ops) / sizeof(mc_ops[0]); i++) {
        if (mc_eq(name, mc_ops[i].name)) {
            *op = mc_ops[i].op;
            return 1;
        }
    }
    return 0;
}

static enum mc_status mc_dispatch(struct mc_ctx *c)
{
    struct mc_cmd *cmd = c->cmd;
    if (c->ntok == 0)
        return mc_err(c, mc_e_error);
    if (!mc_lookup(c->tok[0], &cmd->op)) {
        struct mc_str last = c->tok[(c->ntok > MC_TOK_CAP ? MC_TOK_CAP : c->ntok) - 1];
        if (c->whole && last.len >= 5 && memcmp(last.ptr, "HTTP/", 5) == 0)
            return MC_ERROR; /* an HTTP request: memcached hangs up without a reply */
        return c->whole ? mc_err(c, mc_e_error) : MC_ERROR;
    }
    if (!c->whole && cmd->op > MC_GATS)
        return MC_ERROR; /* no newline within max_line: close */
    if (c->ntok > MC_TOK_CAP && cmd->op > MC_GATS)
        return mc_err(c, cmd->op >= MC_MG ? mc_e_mflags : mc_e_error);
    switch (cmd->op) {
    case MC_GET:
    case MC_GETS:
        return mc_get(c, 0);
    case MC_GAT:
    case MC_GATS:
        return mc_get(c, 1);
    case MC_SET:
    case MC_ADD:
    case MC_REPLACE:
    case MC_APPEND:
    case MC_PREPEND:
        return mc_store(c, 0);
    case MC_CAS:
        return mc_store(c, 1);
    case MC_DELETE:
        return mc_delete(c);
    case MC_INCR:
    case MC_DECR:
    case MC_TOUCH:
        return mc_key_num(c);
    case MC_FLUSH_ALL:
        return mc_flush_all(c);
    case MC_STATS:
        return mc_stats(c);
    case MC_VERSION:
    case MC_QUIT:
        return mc_done(c, c->line_end);
    case MC_VERBOSITY:
        return mc_verbosity(c);
    case MC_SLABS_AUTOMOVE:
        return mc_slabs(c);
    case MC_MS:
        return mc_ms(c);
    case MC_MG:
    case MC_MD:
    case MC_MA:
    case MC_MN:
    case MC_ME:
        return mc_meta(c);
    }
    return mc_err(c, mc_e_error);
}

void mc_cmd_reset(struct mc_cmd *cmd)
{
    cmd->nkeys = 0;
    cmd->flags = 0;
    cmd->exptime = 0;
    cmd->cas = 0;
    cmd->delta = 0;
    cmd->data.ptr = NULL;
    cmd->data.len = 0;
    cmd->arg.ptr = NULL;
    cmd->arg.len = 0;
    cmd->noreply = 0;
    cmd->nmflags = 0;
    cmd->key_b64 = 0;
    cmd->more = 0;
    cmd->is_bin = 0;
    memset(&cmd->bin, 0, sizeof(cmd->bin));
}

void mc_cmd_init(struct mc_cmd *cmd)
{
    cmd->cont = MC_CONT_NONE;
    cmd->cont_op = MC_GET;
    cmd->cont_exptime = 0;
}

/* Drops the rest of a bad get line up to its newline, without a reply. */
static enum mc_status mc_skip_rest(const char *buf, size_t len, struct mc_cmd *cmd,
                                   struct mc_parse_out *out)
{
    const char *nl = memchr(buf, '\n', len);
    if (len == 0) {
        out->need = 1;
        return MC_MORE;
    }
    if (nl != NULL)
        cmd->cont = MC_CONT_NONE;
    out->consumed = nl ? (size_t)(nl - buf) + 1 : len;
    return MC_ERROR;
}

enum mc_status mc_parse(const char *buf, size_t len, const struct mc_limits *lim,
                        struct mc_cmd *cmd, struct mc_parse_out *out)
{
    /* Not an initializer: that would zero tok[], 4 KiB a command (2/3 of this function's
     * time in a memcached set); only tok[0..ntok) is ever read. */
    struct mc_ctx c;
    c.buf = buf;
    c.len = len;
    c.lim = lim;
    c.cmd = cmd;
    c.out = out;
    c.line_end = 0;
    c.line_len = 0;
    c.whole = 0;
    c.ntok = 0;
    out->consumed = 0;
    out->need = 0;
    out->err = NULL;
    mc_cmd_reset(cmd);
    if (cmd->cont == MC_CONT_SKIP)
        return mc_skip_rest(buf, len, cmd, out);
    if (cmd->cont == MC_CONT_GET)
        return mc_get_cont(&c);
    size_t window = len <= lim->max_line ? len : (size_t)lim->max_line + 1;
    const char *nl = window ? memchr(buf, '\n', window) : NULL;
    if (!nl && len <= lim->max_line) {
        out->need = 1;
        return MC_MORE;
    }
    if (!nl) {
        /* No newline within max_line: only a get line may go on (in pieces). */
        c.line_len = lim->max_line;
        mc_tokenize(&c, c.line_len);
        out->err = mc_e_toolong;
        return mc_dispatch(&c);
    }
    size_t line_len = (size_t)(nl - buf);
    c.line_end = line_len + 1;
    c.whole = 1;
    /* As memcached: strip a '\r' only from a line of two bytes or more. */
    if (line_len > 1 && buf[line_len - 1] == '\r')
        line_len--;
    c.line_len = line_len;
    mc_tokenize(&c, line_len);
    return mc_dispatch(&c);
}

/* ---- replies ---- */

int mc_w_value(struct pbuf *o, const void *key, size_t klen, uint32_t flags, const void *data,
               size_t n, const uint64_t *cas)
{
    char tail[72]; /* " <flags> <bytes> <cas>\r\n" by hand: snprintf was ~2% of a GET */
    size_t t = 0;
    tail[t++] = ' ';
    t += pbuf_fmt_u64(tail + t, flags);
    tail[t++] = ' ';
    t += pbuf_fmt_u64(tail + t, n);
    if (cas) {
        tail[t++] = ' ';
        t += pbuf_fmt_u64(tail + t, *cas);
    }
    tail[t++] = '\r';
    tail[t++] = '\n';
    size_t total = 6 + klen + t + n + 2;
    if (klen > SIZE_MAX / 4 || n > SIZE_MAX / 4)
        return -ENOBUFS;
    int rc = pbuf_reserve(o, total);
    if (rc)
        return rc;
    char *p = o->data + o->len;
    memcpy(p, "VALUE ", 6);
    memcpy(p + 6, key, klen);
    memcpy(p + 6 + klen, tail, t);
    if (n)
        memcpy(p + 6 + klen + t, data, n);
    memcpy(p + total - 2, "\r\n", 2);
    o->len += total;
    return 0;
}

int mc_w_line(struct pbuf *o, const char *s)
{
    size_t n = strlen(s);
    int rc = pbuf_reserve(o, n + 2);
    if (rc)
        return rc;
    memcpy(o->data + o->len, s, n);
    memcpy(o->data + o->len + n, "\r\n", 2);
    o->len += n + 2;
    return 0;
}
