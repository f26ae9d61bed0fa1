/*
 * coll_cmd.h - what the collection commands (cmd_hash.c, cmd_list.c, cmd_set.c,
 * cmd_zset.c) share: the first step of a read's callback, the write (or delete) of a
 * collection's new record, numkeys arguments and a random source.
 */
#ifndef LS_SERVER_COLL_CMD_H
#define LS_SERVER_COLL_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"

/* A read's callback, first step: an engine error (or WRONGTYPE, except for a blocked
 * command run again, which waits past a key of another type as Redis does: it becomes
 * LS_ENOTFOUND in *rc) is replied and r ended (returns 1); else counts the keyspace hit or
 * miss and returns 0. */
int coll_read_begin(struct req *r, int *rc);

/* Replies the error of a small form that does not decode (d: COLL_EBAD or -2 for out of
 * memory) and ends r. */
void coll_decode_failed(struct req *r, int d, const char *what);

/* Writes enc[0..len) as the collection of type vtype under key, keeping the TTL and flags
 * of the item read (it NULL: absent, a "new" event), or, with len 0, deletes the key (when
 * it existed: event, then "del"); event (of notify class cls, may be NULL) is published
 * with the write; replies as mode says (r->num, r->tmp, +OK) once it is acknowledged. */
void coll_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                const void *enc, size_t len, uint8_t vtype, int cls, const char *event,
                enum cmd_reply_mode mode);

/* LMOVE, SMOVE: writes the destination dk (a put of dv[0..dn)) and the source sk (a put of
 * sv[0..sn), or its delete when sn is 0) as one unit: one batch (all or nothing after a
 * crash), inside EXEC or a script both in its overlay, and when too large for a batch one
 * after the other. done(r, rc, 0) runs once, after the last (rc 0 for an absent source
 * deleted meanwhile); r's locks are released once both are submitted. */
void coll_write_pair(struct req *r, const struct resp_arg *dk, const void *dv, size_t dn,
                     const struct ls_write_opts *dopt, const struct resp_arg *sk, const void *sv,
                     size_t sn, const struct ls_write_opts *sopt, ls_write_cb done);

/* A STORE command's destination (SINTERSTORE, ZRANGESTORE ...): replaced by enc[0..len),
 * without TTL, whatever it held; with len 0 deleted (when there); replies r->num. */
void coll_store_dest(struct req *r, const struct resp_arg *key, const void *enc, size_t len,
                     uint8_t vtype, int cls, const char *event);

#define ERR_NUMKEYS      "ERR numkeys should be greater than 0"
#define ERR_NUMKEYS_OVER "ERR Number of keys can't be greater than number of args"

/* The numkeys argument at argv[at]: 1..argc-at-1 into *n, or the error replied (msg_bad
 * for a value below 1 or not a number, msg_over for more than the arguments) and r ended:
 * returns -1. */
int coll_numkeys(struct req *r, uint32_t at, const char *msg_bad, const char *msg_over,
                 long long *n);

/* LMPOP/ZMPOP's arguments from argv[at] (numkeys): numkeys key [key ...] A|B [COUNT n]
 * where A and B name the two ends (left/right, min/max): *nk, *b (1: the second end) and
 * *count (1 without COUNT), or the error replied and r ended: -1. */
int coll_mpop_args(struct req *r, uint32_t at, const char *a, const char *b, long long *nk,
                   int *is_b, long long *count);

/* HRANDFIELD/ZRANDMEMBER key [count [WITH]]: the count (0 without one) into r->num, or
 * Redis's error replied and r ended (-1). */
int coll_randcount_args(struct req *r, const char *with);

/* A 64-bit pseudo-random number (xorshift, seeded from the clock): SPOP, HRANDFIELD ... */
uint64_t coll_rand(void);

#endif
