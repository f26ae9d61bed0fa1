/*
 * mcbin.c - memcached binary protocol: request parser and response writer.
 *
 * Written from the protocol's description (memcached's protocol_binary.h field layout and
 * the checks its dispatch makes per opcode), onto the text protocol's struct mc_cmd so
 * that one set of handlers (mcserver.c) serves both. Invariants:
 *   1. No byte at or past buf[len] is read; buf is never written.
 *   2. The body is waited for only after the header passed the per-opcode checks: a
 *      non-storage opcode has no value, a storage opcode's value is at most
 *      lim->max_value, an unknown opcode's body is swallowed unread. So the bytes needed
 *      are bounded whatever the header says.
 *   3. The quiet forms map to their loud ones with bin.quiet set; what quiet suppresses is
 *      the writer's business (mcserver.c), as memcached decides it per reply.
 */
#include "mcbin.h"

#include <errno.h>
#include <string.h>

static uint16_t be16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t be64(const unsigned char *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

const char *mcb_status_text(uint16_t status)
{
    switch (status) {
    case MCB_ENOENT:
        return "Not found";
    case MCB_EEXISTS:
        return "Data exists for key.";
    case MCB_E2BIG:
        return "Too large.";
    case MCB_EINVAL:
        return "Invalid arguments";
    case MCB_NOT_STORED:
        return "Not stored.";
    case MCB_DELTA_BADVAL:
        return "Non-numeric server-side value for incr or decr";
    case MCB_UNKNOWN:
        return "Unknown command";
    case MCB_ENOMEM:
        return "Out of memory";
    case MCB_ETMPFAIL:
        return "Temporary failure";
    default:
        return "Internal error";
    }
}

/* The loud form of a quiet opcode, and whether it was quiet. */
static uint8_t mcb_loud(uint8_t op, uint8_t *quiet)
{
    static const uint8_t pairs[][2] = {
        {MCB_SETQ, MCB_SET},         {MCB_ADDQ, MCB_ADD},     {MCB_REPLACEQ, MCB_REPLACE},
        {MCB_DELETEQ, MCB_DELETE},   {MCB_INCRQ, MCB_INCR},   {MCB_DECRQ, MCB_DECR},
        {MCB_QUITQ, MCB_QUIT},       {MCB_FLUSHQ, MCB_FLUSH}, {MCB_APPENDQ, MCB_APPEND},
        {MCB_PREPENDQ, MCB_PREPEND}, {MCB_GETQ, MCB_GET},     {MCB_GETKQ, MCB_GETK},
        {MCB_GATQ, MCB_GAT},         {MCB_GATKQ, MCB_GATK},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (pairs[i][0] == op) {
            *quiet = 1;
            return pairs[i][1];
        }
    *quiet = 0;
    return op;
}

struct mcb_hdr {
    uint8_t op; /* loud form */
    uint8_t elen;
    uint16_t klen;
    uint32_t blen;
};

/* memcached's per-opcode shape checks (dispatch_bin_command). 1: fine; 0: malformed;
 * -1: unknown opcode. */
static int mcb_shape_ok(const struct mcb_hdr *h)
{
    uint32_t vlen = h->blen - h->klen - h->elen;
    switch (h->op) {
    case MCB_VERSION:
    case MCB_NOOP:
    case MCB_QUIT:
        return h->elen == 0 && h->klen == 0 && h->blen == 0;
    case MCB_FLUSH:
        return h->klen == 0 && h->blen == h->elen && (h->elen == 0 || h->elen == 4);
    case MCB_SET:
    case MCB_ADD:
    case MCB_REPLACE:
        return h->elen == 8 && h->klen != 0;
    case MCB_GET:
    case MCB_GETK:
    case MCB_DELETE:
        return h->elen == 0 && h->klen > 0 && vlen == 0;
    case MCB_INCR:
    case MCB_DECR:
        return h->klen > 0 && h->elen == 20 && vlen == 0;
    case MCB_APPEND:
    case MCB_PREPEND:
        return h->klen > 0 && h->elen == 0;
    case MCB_STAT:
        return h->elen == 0 && vlen == 0;
    case MCB_TOUCH:
    case MCB_GAT:
    case MCB_GATK:
        return h->elen == 4 && h->klen != 0 && vlen == 0;
    default:
        return -1;
    }
}

static enum mc_status mcb_fail(struct mc_cmd *cmd, struct mc_parse_out *out, uint16_t status,
                               size_t consumed, size_t len)
{
    cmd->bin.status = status;
    out->err = mcb_status_text(status);
    out->consumed = consumed;
    out->need = consumed > len ? consumed - len : 0;
    return MC_ERROR;
}

static int mcb_is_storage(uint8_t op)
{
    return op == MCB_SET || op == MCB_ADD || op == MCB_REPLACE || op == MCB_APPEND ||
           op == MCB_PREPEND;
}

/* The text command a loud opcode maps to. */
static enum mc_op mcb_op(uint8_t op, uint64_t cas)
{
    switch (op) {
    case MCB_GET:
    case MCB_GETK:
        return MC_GET;
    case MCB_GAT:
    case MCB_GATK:
        return MC_GAT;
    case MCB_TOUCH:
        return MC_TOUCH;
    case MCB_SET:
        return cas ? MC_CAS : MC_SET;
    case MCB_ADD:
        return cas ? MC_CAS : MC_ADD;
    case MCB_REPLACE:
        return cas ? MC_CAS : MC_REPLACE;
    case MCB_APPEND:
        return MC_APPEND;
    case MCB_PREPEND:
        return MC_PREPEND;
    case MCB_DELETE:
        return MC_DELETE;
    case MCB_INCR:
        return MC_INCR;
    case MCB_DECR:
        return MC_DECR;
    case MCB_QUIT:
        return MC_QUIT;
    case MCB_FLUSH:
        return MC_FLUSH_ALL;
    case MCB_NOOP:
        return MC_MN;
    case MCB_VERSION:
        return MC_VERSION;
    default:
        return MC_STATS;
    }
}

/* Fills cmd from a complete packet whose shape was checked. */
static void mcb_fill(struct mc_cmd *cmd, const struct mcb_hdr *h, const unsigned char *p)
{
    const unsigned char *ext = p + MCB_HEADER;
    const char *key = (const char *)ext + h->elen;
    struct mc_str k = {key, h->klen};
    cmd->op = mcb_op(h->op, cmd->bin.cas);
    cmd->bin.with_key = h->op == MCB_GETK || h->op == MCB_GATK;
    cmd->bin.no_value = h->op == MCB_TOUCH;
    if (h->klen && cmd->op != MC_STATS) {
        cmd->keys[0] = k;
        cmd->nkeys = 1;
    }
    if (cmd->op == MC_STATS)
        cmd->arg = k;
    if (cmd->op == MC_CAS)
        cmd->cas = cmd->bin.cas;
    if (h->op == MCB_SET || h->op == MCB_ADD || h->op == MCB_REPLACE) {
        cmd->flags = be32(ext);
        cmd->exptime = be32(ext + 4);
    } else if (h->elen == 4) { /* touch, gat, flush */
        cmd->exptime = be32(ext);
    } else if (h->elen == 20) { /* incr, decr */
        cmd->delta = be64(ext);
        cmd->bin.initial = be64(ext + 8);
        cmd->bin.incr_exp = be32(ext + 16);
    }
    if (mcb_is_storage(h->op)) {
        cmd->data.ptr = key + h->klen;
        cmd->data.len = h->blen - h->klen - h->elen;
    }
}

enum mc_status mcb_parse(const char *buf, size_t len, const struct mc_limits *lim,
                         struct mc_cmd *cmd, struct mc_parse_out *out)
{
    const unsigned char *p = (const unsigned char *)buf;
    struct mcb_hdr h;
    mc_cmd_reset(cmd);
    cmd->is_bin = 1;
    out->consumed = 0;
    out->need = 0;
    out->err = NULL;
    if (len < MCB_HEADER) {
        out->need = MCB_HEADER - len;
        return MC_MORE;
    }
    if (p[0] != MCB_REQ)
        return MC_ERROR; /* memcached closes at once */
    cmd->bin.opcode = p[1];
    h.op = mcb_loud(p[1], &cmd->bin.quiet);
    h.klen = be16(p + 2);
    h.elen = p[4];
    h.blen = be32(p + 8);
    memcpy(&cmd->bin.opaque, p + 12, 4);
    cmd->bin.cas = be64(p + 16);
    if ((uint64_t)h.klen + h.elen > h.blen)
        return mcb_fail(cmd, out, MCB_UNKNOWN, 0, len);
    int shape = mcb_shape_ok(&h);
    if (shape < 0) /* unknown: reply, swallow the body */
        return mcb_fail(cmd, out, MCB_UNKNOWN, MCB_HEADER + (size_t)h.blen, len);
    if (h.klen > MC_MAX_KEY || !shape)
        return mcb_fail(cmd, out, MCB_EINVAL, 0, len);
    size_t head = MCB_HEADER + (size_t)h.elen + h.klen;
    size_t total = MCB_HEADER + (size_t)h.blen;
    if (h.blen - h.klen - h.elen > lim->max_value) {
        if (len < head) {
            out->need = head - len;
            return MC_MORE;
        }
        cmd->op = h.op == MCB_SET ? MC_SET : MC_APPEND; /* a set drops the old item */
        cmd->keys[0].ptr = buf + MCB_HEADER + h.elen;
        cmd->keys[0].len = h.klen;
        cmd->nkeys = 1;
        return mcb_fail(cmd, out, MCB_E2BIG, total, len);
    }
    if (len < total) {
        out->need = total - len;
        return MC_MORE;
    }
    mcb_fill(cmd, &h, p);
    out->consumed = total;
    return MC_DONE;
}

int mcb_w_response(struct pbuf *o, const struct mc_bin *b, uint16_t status, const void *ext,
                   uint8_t extlen, const void *key, uint16_t klen, const void *val, uint32_t vlen,
                   uint64_t cas)
{
    uint64_t body = (uint64_t)extlen + klen + vlen;
    if (body > UINT32_MAX)
        return -ENOBUFS;
    int rc = pbuf_reserve(o, MCB_HEADER + (size_t)body);
    if (rc)
        return rc;
    unsigned char *h = (unsigned char *)o->data + o->len;
    h[0] = MCB_RES;
    h[1] = b->opcode;
    h[2] = (unsigned char)(klen >> 8);
    h[3] = (unsigned char)klen;
    h[4] = extlen;
    h[5] = 0;
    h[6] = (unsigned char)(status >> 8);
    h[7] = (unsigned char)status;
    put_be32(h + 8, (uint32_t)body);
    memcpy(h + 12, &b->opaque, 4);
    put_be32(h + 16, (uint32_t)(cas >> 32));
    put_be32(h + 20, (uint32_t)cas);
    unsigned char *q = h + MCB_HEADER;
    if (extlen)
        memcpy(q, ext, extlen);
    if (klen)
        memcpy(q + extlen, key, klen);
    if (vlen)
        memcpy(q + extlen + klen, val, vlen);
    o->len += MCB_HEADER + (size_t)body;
    return 0;
}
