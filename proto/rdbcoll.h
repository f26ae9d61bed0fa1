/*
 * rdbcoll.h - Redis collections in the RDB encoding (DUMP/RESTORE payloads, the RDB file
 * SYNC streams and logstor-load reads), to and from the small form of proto/coll.h. Pure
 * functions over byte buffers, unit-tested alone (tests/unit/test_rdbcoll.c, against
 * payloads redis-server 7.0.15 produced).
 *
 * Hashes are written as RDB_TYPE_HASH (4): a length, then field and value strings (the
 * integer encoding where Redis uses it, LZF where Redis would compress), which every Redis
 * loads (it converts small ones to a listpack itself). They are read from type 4 and from
 * RDB_TYPE_HASH_LISTPACK (16: one RDB string holding a listpack, what Redis 7.0 writes for
 * a small hash).
 */
#ifndef LS_PROTO_RDBCOLL_H
#define LS_PROTO_RDBCOLL_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"

#define RDB_TYPE_HASH          4
#define RDB_TYPE_HASH_LISTPACK 16

/* Bytes rdbcoll_put_hash writes at most for a hash whose small-form encoding is enc_len
 * bytes holding count pairs. */
size_t rdbcoll_hash_bound(size_t enc_len, uint64_t count);
/* Writes h's RDB_TYPE_HASH body (the length, then the pairs; not the type byte) at out.
 * Returns the bytes written. */
size_t rdbcoll_put_hash(uint8_t *out, const struct coll_hash *h);

/* Reads the body of a hash object of RDB type `type` (4 or 16) at p[*pos..n), advancing
 * *pos, into out (its small-form encoding, lim as coll_hash_update takes it), every field
 * and value at most max_len bytes and the encoding at most max_len bytes in all. Returns
 * RDBSTR_OK, RDBSTR_NOTSTR (another type), RDBSTR_BADDATA (malformed: a listpack whose
 * sizes, entries or terminator disagree), RDBSTR_TOOBIG or RDBSTR_NOMEM. */
int rdbcoll_read_hash(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                      const struct coll_limits *lim, struct coll_buf *out);

#endif
