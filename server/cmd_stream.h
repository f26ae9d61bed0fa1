/*
 * cmd_stream.h - what the stream commands (cmd_stream.c: entries; cmd_stream_group.c:
 * consumer groups) share: the read of a stream, its replies and its write.
 */
#ifndef LS_SERVER_CMD_STREAM_H
#define LS_SERVER_CMD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "stream.h"

#define ERR_INVALID_ID "ERR Invalid stream ID specified as stream command argument"
#define ERR_SYNTAX     "ERR syntax error"
#define ERR_NOT_INT    "ERR value is not an integer or out of range"

/* The handler's state (r->aux, freed with r), zeroed; NULL with the error replied and r
 * ended. */
void *xs_aux(struct req *r, size_t size);
/* Whether r runs inside a script (EVAL, FCALL). */
int xs_in_script(const struct req *r);
/* Reads key as a stream (WRONGTYPE for another type) for cb. */
void xs_read(struct req *r, const struct resp_arg *key, ls_get_cb cb);
/* The stream of a read into *s (empty when the key is absent: *exists 0), or the error
 * replied and r ended: returns 1. */
int xs_stream_of(struct req *r, int rc, const struct ls_item *it, struct stream *s, int *exists);

/* Replies into o: an ID (bulk), an entry ([id, [field, value ...]]), the entries [a, b)
 * (rev: from b - 1 down; at most count, 0: all). 0 or the pbuf error. */
int xs_w_id(struct pbuf *o, const struct stream_id *id);
int xs_w_entry(struct pbuf *o, const struct stream_entry *x);
int xs_w_range(struct pbuf *o, const struct stream *s, size_t a, size_t b, int rev, uint64_t count);
void xs_reply_id(struct req *r, const struct stream_id *id);

/* A range bound argument: "(" + a strict ID excludes it (*ex), else "-", "+" or an ID
 * whose missing sequence is `missing`. -1 with the error replied. */
int xs_interval_arg(struct req *r, const struct resp_arg *a, uint64_t missing, struct stream_id *id,
                    int *ex);

/* XREAD's and XREADGROUP's options. */
struct xs_read_opts {
    uint32_t first, n; /* the keys argv[first..first+n), their IDs after them */
    long long count;   /* 0: all */
    long long block;   /* -1: no BLOCK */
    const struct resp_arg *group, *consumer; /* XREADGROUP's GROUP */
    int noack;
};
/* Parses them from argv[1] (group: XREADGROUP's, else GROUP and NOACK are refused): 0, or
 * -1 with Redis's error replied. */
int xs_read_opts_parse(struct req *r, struct xs_read_opts *o, int group);
/* The most entries a stream's reply holds (0: all): COUNT, or 1000 without one once woken
 * from a wait, as Redis serves a blocked XREAD. */
uint64_t xs_count(const struct req *r, const struct xs_read_opts *o);
/* Nothing to serve: answers nil (no BLOCK, inside MULTI) or blocks r on its keys until the
 * deadline of its first wait (block.c), which a wake-up does not move. */
void xs_block(struct req *r, struct xs_read_opts *o);

/* Writes s as the stream under key (it: the record read, NULL when absent), keeping its
 * TTL; events[0..nev) published with the write (class t); replies as mode says (r->num,
 * r->tmp, +OK) once it is acknowledged. */
/* Encodes s, read as it (NULL: absent), for its write into *out (allocated): 0 when out is
 * the value to put (one record, or a large stream's root alone when only its groups
 * changed), 1 when it is the record of a stream to write in the large form (large_write),
 * -1 out of memory, -2 when s came from a read of some of a large stream's entries
 * (r->xs_partial) and is not a write of its groups alone (refused: XS_ERR_PARTIAL). */
#define XS_ERR_PARTIAL "ERR internal error: a partial read of a large stream was to be written"
/* A stream's read whose callback gets a large one's root as it is (a native command, or
 * large_list_read to load it). */
void xs_read_root(struct req *r, const struct resp_arg *key, ls_get_cb cb);
int xs_encode(struct req *r, const struct ls_item *it, const struct stream *s,
              struct coll_buf *out);
void xs_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
              const struct stream *s, const char *const *events, int nev, enum cmd_reply_mode mode);

#endif
