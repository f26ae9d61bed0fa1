/*
 * mget.h - reading values for commands with bounded memory. Several keys (MGET and the
 * memcached get family): at most MGET_WINDOW reads of one command and MGET_CONN_READS of
 * one connection in flight, results handed over in key order as soon as they can be, and
 * no read started while the reply so far plus the values being read would pass the
 * connection's output limit (the first read of a command excepted, so that it always
 * progresses). One key (mget_one): the read counts in the connection's value bytes in
 * flight (conn.read_bytes), which hold back its next commands (conn.c).
 */
#ifndef LS_SERVER_MGET_H
#define LS_SERVER_MGET_H

#include <stdint.h>

#include "conn.h"

#define MGET_WINDOW     64  /* reads of one command in flight or waiting for their turn */
#define MGET_CONN_READS 256 /* reads of one connection's multi-key commands in flight */

struct mget_item {
    uint32_t flags;
    uint64_t cas;
    uint64_t expire_ms;
    const char *val; /* borrowed for the emit call */
    uint32_t len;
    uint8_t vtype; /* a COLL_* type: not a string only when the request wants any type */
};

/* (A key holding another type than a string gives rc SRV_EWRONGTYPE, unless r->want_type
 * is VT_ANY: then every type is handed over, it->vtype telling which.)
 * Called for key i, in key order, once it and every key before it were read: rc is 0
 * (it set), LS_ENOTFOUND, or another engine code (it NULL). Not called for the keys left
 * unread after the connection hit its output limit or closed. */
typedef void (*mget_emit_fn)(struct req *r, uint32_t i, int rc, const struct mget_item *it);
/* Called once, after the last emit; it must complete the request. */
typedef void (*mget_done_fn)(struct req *r);

/* Reads keys[0..n) (borrowed until done runs) of table db. Emits and done run later from
 * engine callbacks, or before mget_start returns when no read had to wait for the device.
 * Calls cmdlock_reads_submitted(r) once every read is submitted. Returns 0, or -ENOMEM
 * with nothing called. */
int mget_start(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
               mget_emit_fn emit, mget_done_fn done);
/* mget_start that reads and emits every key even after the connection passed its output
 * limit or closed: for reads a command needs whole (a sorted set's tree pages), which in
 * an EXEC or a script must not fail part way because of the client. */
int mget_start_all(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
                   mget_emit_fn emit, mget_done_fn done);

/* Reads key (borrowed for the call) of table db for a single-key command: cb(r, ...) runs
 * once, from the engine, or before mget_one returns with the submission error (such as
 * LS_ENOTFOUND), so callbacks handle both alike. The record's bytes count in
 * r->c->read_bytes while the read is in flight. Calls cmdlock_reads_submitted(r) once the
 * read is submitted (a read-only command releases its locks). */
void mget_one(struct req *r, uint32_t db, const struct resp_arg *key, ls_get_cb cb);

#endif
