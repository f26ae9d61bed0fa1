/*
 * mcbin.h - the memcached binary protocol (deprecated upstream, still spoken by
 * libmemcached, memtier and older clients): a pure parser of one request packet into the
 * struct mc_cmd of the text protocol (mc.h), and the response writer.
 *
 * A packet is a 24-byte header (magic 0x80, opcode, key length, extras length, data
 * type, vbucket, body length, opaque, CAS, big-endian) and a body: extras, key, value.
 * Each opcode memcached 1.6.18 serves maps to the text command with the same semantics
 * (GET/GETK and quiet forms to get, SET/ADD/REPLACE to set/add/replace or to cas when
 * the header carries a CAS, ...); cmd->bin keeps what the reply needs (opcode, opaque,
 * quiet, key in the reply).
 */
#ifndef LS_MCBIN_H
#define LS_MCBIN_H

#include <stddef.h>
#include <stdint.h>

#include "mc.h"
#include "pbuf.h"

#define MCB_HEADER 24
#define MCB_REQ    0x80
#define MCB_RES    0x81

/* clang-format off */
enum mcb_opcode {
    MCB_GET = 0x00, MCB_SET = 0x01, MCB_ADD = 0x02, MCB_REPLACE = 0x03, MCB_DELETE = 0x04,
    MCB_INCR = 0x05, MCB_DECR = 0x06, MCB_QUIT = 0x07, MCB_FLUSH = 0x08, MCB_GETQ = 0x09,
    MCB_NOOP = 0x0a, MCB_VERSION = 0x0b, MCB_GETK = 0x0c, MCB_GETKQ = 0x0d,
    MCB_APPEND = 0x0e, MCB_PREPEND = 0x0f, MCB_STAT = 0x10, MCB_SETQ = 0x11,
    MCB_ADDQ = 0x12, MCB_REPLACEQ = 0x13, MCB_DELETEQ = 0x14, MCB_INCRQ = 0x15,
    MCB_DECRQ = 0x16, MCB_QUITQ = 0x17, MCB_FLUSHQ = 0x18, MCB_APPENDQ = 0x19,
    MCB_PREPENDQ = 0x1a, MCB_TOUCH = 0x1c, MCB_GAT = 0x1d, MCB_GATQ = 0x1e,
    MCB_GATK = 0x23, MCB_GATKQ = 0x24,
};

enum mcb_status {
    MCB_OK = 0x00, MCB_ENOENT = 0x01, MCB_EEXISTS = 0x02, MCB_E2BIG = 0x03,
    MCB_EINVAL = 0x04, MCB_NOT_STORED = 0x05, MCB_DELTA_BADVAL = 0x06,
    MCB_UNKNOWN = 0x81, MCB_ENOMEM = 0x82, MCB_EINTERNAL = 0x84,
    MCB_ETMPFAIL = 0x86, /* temporary failure: the server is loading */
};
/* clang-format on */

/* Parses the request packet at the start of buf[0..len); the contract of mc_parse (mc.h)
 * with these differences. MC_ERROR: cmd->bin.status is the status to reply and out->err
 * its message (memcached's text for the status); out->err NULL means close without a
 * reply (bad magic). consumed == 0: reply, then close (a malformed packet, as memcached's
 * handle_binary_protocol_error). consumed > len: swallow the rest of the body (a value
 * over lim->max_value: cmd->op and keys[0] are set, as for the text protocol; an unknown
 * opcode). The body is waited for only once the header shows it is within bounds, so no
 * more than MCB_HEADER + 255 + MC_MAX_KEY + lim->max_value bytes are ever needed. */
enum mc_status mcb_parse(const char *buf, size_t len, const struct mc_limits *lim,
                         struct mc_cmd *cmd, struct mc_parse_out *out);

/* Appends a response packet for request b: status, extras, key and value, CAS. */
int mcb_w_response(struct pbuf *o, const struct mc_bin *b, uint16_t status, const void *ext,
                   uint8_t extlen, const void *key, uint16_t klen, const void *val, uint32_t vlen,
                   uint64_t cas);
/* memcached's message for an error status ("Not found", ...). */
const char *mcb_status_text(uint16_t status);

#endif
