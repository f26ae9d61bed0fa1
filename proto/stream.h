/*
 * stream.h - Redis streams on the log: entry IDs and the record a stream is stored as.
 * Pure functions over byte buffers (no engine), unit-tested alone (tests/unit/test_stream.c).
 *
 * Design (engine/FORMAT.md, "Streams"): a small stream is ONE record under its key, record
 * tag COLL_STREAM (7), holding its metadata, its consumer groups and every entry; each
 * command that changes it reads it whole and writes it whole under the key's exclusive
 * lock, as the small form of the other collections (proto/coll.h). So after a crash a
 * stream is the record before a command or the one after it, never a mix. A stream past a
 * page (8 KiB) or 128 entries takes the paged form (a root and pages of entries: the
 * functions at the end; server/large_stream.c), whose writes are one unit each too.
 *
 * Encoding (all varints LEB128, as coll.h's):
 *
 *   byte 0     STREAM_VERSION
 *   varint     n, the entries
 *   varint x2  last_id (ms, seq): the greatest ID ever added (XADD's floor)
 *   varint     entries_added: entries ever added
 *   varint x2  max_deleted_id: the greatest ID deleted (XDEL) or trimmed
 *   varint     g, consumer groups, each:
 *                varint len, name; varint x2 last delivered ID; varint entries_read + 1
 *                (modulo 2^64, so 0 is Redis's -1: not known); varint c, consumers, each: varint
 * len, name, varint seen_ms; varint p, pending entries in ID order, each: varint x2 ID, varint
 * consumer (its index), varint delivery_ms, varint deliveries entries    n times, in ID order:
 * varint x2 ID, varint k (field-value pairs), then k times varint len, field, varint len, value
 *
 * Every decoder checks lengths against the buffer and the entries' order: a record that
 * fails is reported as -1 (the server replies with an error, never reads past).
 */
#ifndef LS_PROTO_STREAM_H
#define LS_PROTO_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coll.h"

#define STREAM_VERSION 1

/* Longest "ms-seq" text: two 20-digit numbers and the dash. */
#define STREAM_ID_MAX 42

struct stream_id {
    uint64_t ms, seq;
};

int stream_id_cmp(const struct stream_id *a, const struct stream_id *b);
/* The next (previous) ID: 0, or -1 past the last (before the first) possible one. */
int stream_id_incr(struct stream_id *id);
int stream_id_decr(struct stream_id *id);
/* Writes "ms-seq" (not terminated) into buf[STREAM_ID_MAX]; returns its length. */
size_t stream_id_fmt(const struct stream_id *id, char *buf);

/* Parses an ID argument as Redis does: "ms-seq", "ms" (seq = missing_seq), and unless
 * strict "-" (0-0) and "+" (the greatest ID). With seq_given non-NULL, "ms-*" is accepted
 * too (XADD: *seq_given 0, seq 0). Returns 0, or -1 for anything else. */
int stream_id_parse(const char *p, size_t n, uint64_t missing_seq, int strict, int *seq_given,
                    struct stream_id *id);

/* One entry: its field-value pairs stay encoded (pairs[0..pairs_len), `fields` pairs),
 * borrowed from the record or from the caller (a new entry). */
struct stream_entry {
    struct stream_id id;
    uint64_t fields;
    const uint8_t *pairs;
    size_t pairs_len;
};

struct stream_consumer {
    const uint8_t *name;
    size_t name_len;
    uint64_t seen_ms;
    uint64_t pending; /* its entries in the group's PEL (computed by the decoder) */
};

struct stream_pending {
    struct stream_id id;
    uint64_t consumer; /* index into the group's consumers */
    uint64_t delivery_ms, deliveries;
};

struct stream_group {
    const uint8_t *name;
    size_t name_len;
    struct stream_id last_id;
    int64_t entries_read; /* -1: not known */
    struct stream_consumer *cons;
    size_t ncons, cons_cap;
    struct stream_pending *pel; /* in ID order */
    size_t npel, pel_cap;
};

/* A decoded stream: arrays owned (stream_free), bytes borrowed from the record. */
struct stream {
    struct stream_id last_id, max_deleted;
    uint64_t entries_added;
    struct stream_entry *e;
    size_t n, cap;
    /* The whole stream's entry count and first ID (0-0: none) as it was read: n and e[0]
     * when decoded whole. A read of some of a large stream's entries (server/large_stream.c)
     * sets them from its root and head page; there first is 0-0 when the head page was not
     * read, which only an entry of that page could compare equal to. Not kept up to date by
     * the calls below that add or remove entries. */
    uint64_t length;
    struct stream_id first;
    struct stream_group *g;
    size_t ng, gcap;
};

/* Decodes v[0..len) into s (zeroed first). 0, -1 (damaged), or -2 (out of memory). */
int stream_decode(const uint8_t *v, size_t len, struct stream *s);
/* Encodes s into out (replacing its contents). 0 or -1 (out of memory). */
int stream_encode(const struct stream *s, struct coll_buf *out);
void stream_free(struct stream *s);

/* The index of the first entry whose ID is >= id (n when none). */
size_t stream_lower_bound(const struct stream *s, const struct stream_id *id);

/* Appends an entry (its pairs borrowed). 0 or -1 (out of memory). */
int stream_append(struct stream *s, const struct stream_entry *x);
/* Removes entries [a, b). */
void stream_remove(struct stream *s, size_t a, size_t b);

/* One field-value pair of an entry; *pos starts at x->pairs. 1 with the pair set, 0 at
 * the end (the decoder checked every pair). */
int stream_pair_next(const struct stream_entry *x, const uint8_t **pos, const uint8_t **f,
                     size_t *flen, const uint8_t **v, size_t *vlen);

/* The bytes stream_encode gives an entry of these pairs (for the size check before a
 * write): pairs_len plus its ID and count. */
size_t stream_entry_bytes(const struct stream_entry *x);

/* Groups are kept in name order and a group's consumers too (Redis's radix trees list them
 * so); a group's pending entries in ID order. Names are borrowed. */

/* The group named name, or NULL. */
struct stream_group *stream_group_find(struct stream *s, const void *name, size_t len);
/* Adds a group: its index, -1 when one has that name, -2 out of memory. */
ssize_t stream_group_add(struct stream *s, const void *name, size_t len,
                         const struct stream_id *last_id, int64_t entries_read);
void stream_group_del(struct stream *s, size_t gi);

/* The consumer's index in g, or -1. */
ssize_t stream_consumer_find(const struct stream_group *g, const void *name, size_t len);
/* The consumer's index, added (seen now_ms, *created 1) when absent; -2 out of memory.
 * Pending entries keep their consumers (indexes renumbered). */
ssize_t stream_consumer_add(struct stream_group *g, const void *name, size_t len, uint64_t now_ms,
                            int *created);
/* Removes consumer ci and its pending entries. */
void stream_consumer_del(struct stream_group *g, size_t ci);

/* The index of the first pending entry whose ID is >= id (g->npel when none). */
size_t stream_pel_lower_bound(const struct stream_group *g, const struct stream_id *id);
/* The pending entry of id, or -1. */
ssize_t stream_pel_find(const struct stream_group *g, const struct stream_id *id);
/* Adds a pending entry (id not pending yet). 0 or -2 out of memory. */
int stream_pel_add(struct stream_group *g, const struct stream_id *id, size_t consumer,
                   uint64_t delivery_ms, uint64_t deliveries);
/* Removes pending entry pi. */
void stream_pel_del(struct stream_group *g, size_t pi);
/* Gives pending entry pi to consumer ci. */
void stream_pel_assign(struct stream_group *g, size_t pi, size_t ci);

/* Whether an entry of id is in s. */
int stream_has(const struct stream *s, const struct stream_id *id);

/* ---- the paged form (FORMAT.md, "Streams": a root and pages of entries) ----
 * A large stream's root holds a list root (proto/plist.h, flag PLIST_F_STREAM) followed by
 * the record's "meta": the bytes between its entry count and its entries (last ID, entries
 * added, max deleted ID, groups), verbatim. Its pages are list pages whose elements are
 * entries encoded as in the record (ID, k, pairs: self-delimiting, no length prefix). */

/* The length of the entry encoded at p[0..len) and its ID, or 0 when it is not one. */
size_t stream_entry_span(const uint8_t *p, size_t len, struct stream_id *id);
/* A valid record v[0..len) cut up: its meta starts at *meta_off, entry i at (*off)[i]
 * (*count entries; (*off)[*count] = len; *off allocated). 0, -1 damaged, -2 out of memory. */
int stream_spans(const uint8_t *v, size_t len, size_t *meta_off, size_t **off, size_t *count);

/* The length of the meta of record v[0..len) (walked, not checked: 0 when it runs past
 * the end). */
size_t stream_meta_len(const uint8_t *v, size_t len);
/* The fixed head of the meta (the groups follow it). */
struct stream_meta {
    struct stream_id last_id, max_deleted;
    uint64_t entries_added;
};
/* Parses the meta's head from m[0..len): its length (the groups start there), 0 damaged. */
size_t stream_meta_head(const uint8_t *m, size_t len, struct stream_meta *out);
/* The last delivered ID of the group named name[0..nlen) of meta m[0..len) into *last:
 * 1, or 0 when there is no such group or the meta runs past its end. */
int stream_meta_group_last(const uint8_t *m, size_t len, const void *name, size_t nlen,
                           struct stream_id *last);
/* Encodes the head into out[STREAM_META_HEAD_MAX]; returns its length. */
#define STREAM_META_HEAD_MAX 50
size_t stream_meta_head_put(uint8_t *out, const struct stream_meta *m);
/* Encodes an entry into out (NULL: only counts); returns its length. */
size_t stream_entry_put(uint8_t *out, const struct stream_id *id, uint64_t fields,
                        const uint8_t *pairs, size_t pairs_len);

#endif
