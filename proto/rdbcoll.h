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

#define RDB_TYPE_LIST            1
#define RDB_TYPE_SET             2
#define RDB_TYPE_SET_INTSET      11
#define RDB_TYPE_ZSET            3
#define RDB_TYPE_ZSET_2          5
#define RDB_TYPE_ZSET_LISTPACK   17
#define RDB_TYPE_HASH            4
#define RDB_TYPE_HASH_LISTPACK   16
#define RDB_TYPE_LIST_QUICKLIST2 18

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

/* ---- any collection, by its value type (coll.h's COLL_*) ---- */

/* The RDB type a collection of type vtype is written as (RDB_TYPE_HASH, RDB_TYPE_LIST),
 * or -1 for a type this module does not write. */
int rdbcoll_rdb_type(int vtype);
/* Bytes rdbcoll_put_body writes at most for the small form v[0..n) of type vtype; 0 when it
 * does not parse (a damaged record) or the type is not written. */
size_t rdbcoll_body_bound(int vtype, const uint8_t *v, size_t n);
/* Writes the RDB body (after the type byte and the key) of the collection v[0..n) of type
 * vtype; rdbcoll_body_bound bytes of room. Returns its length, 0 on failure (out of memory). */
size_t rdbcoll_put_body(uint8_t *out, int vtype, const uint8_t *v, size_t n);
/* Reads a collection object of RDB type `type` at p[*pos..n) into its small form in out and
 * its value type in *vtype (hash: types 4 and 16; list: 1 and 18; set: 2 and 11, kept as
 * an intset, sorted, when every member is an integer and there are at most 512; sorted
 * set: 3, 5 and 17, written as 5). Returns as
 * rdbcoll_read_hash; RDBSTR_NOTSTR for a type not read. */
int rdbcoll_read(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                 const struct coll_limits *lim, struct coll_buf *out, uint8_t *vtype);

/* Lists: written as RDB_TYPE_LIST (1: a length, then the elements, which every Redis
 * loads), read from type 1 and RDB_TYPE_LIST_QUICKLIST2 (18: nodes, each a listpack or one
 * plain element, what Redis 7.0 writes). */
size_t rdbcoll_list_bound(size_t enc_len, uint64_t count);
/* Writes the body of list e[0..n) at out. Returns the bytes written. */
size_t rdbcoll_put_list(uint8_t *out, const struct coll_str *e, size_t n);
/* As rdbcoll_read_hash, for a list object of type 1 or 18. */
int rdbcoll_read_list(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                      struct coll_buf *out);

#endif
