/*
 * pubsub.h - Redis Pub/Sub: channels, patterns, shard channels, the subscribed mode of a
 * RESP2 connection, RESP3 push messages, and keyspace notifications
 * (notify-keyspace-events) published on __keyspace@<db>__:<key> and
 * __keyevent@<db>__:<event>.
 *
 * Threading: everything runs on the server's event loop thread.
 *
 * Bounds: a message pushed to a subscriber is charged to its reply buffers, limited by
 * client_output_buffer_limit; a subscriber past it is closed from the deferred pass
 * (pubsub_after_events) and counted in INFO's client_output_buffer_limit_disconnections.
 * Subscriptions are charged to the connection's memory (maxmemory_clients).
 */
#ifndef LS_SERVER_PUBSUB_H
#define LS_SERVER_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct req;
struct resp_arg;

/* Keyspace event classes: the bits of Redis 7.0 (the letters of notify-keyspace-events). */
#define NOTIFY_KEYSPACE (1 << 0)  /* K */
#define NOTIFY_KEYEVENT (1 << 1)  /* E */
#define NOTIFY_GENERIC  (1 << 2)  /* g */
#define NOTIFY_STRING   (1 << 3)  /* $ */
#define NOTIFY_LIST     (1 << 4)  /* l */
#define NOTIFY_SET      (1 << 5)  /* s */
#define NOTIFY_HASH     (1 << 6)  /* h */
#define NOTIFY_ZSET     (1 << 7)  /* z */
#define NOTIFY_EXPIRED  (1 << 8)  /* x */
#define NOTIFY_EVICTED  (1 << 9)  /* e */
#define NOTIFY_STREAM   (1 << 10) /* t */
#define NOTIFY_KEY_MISS (1 << 11) /* m (not part of A) */
#define NOTIFY_MODULE   (1 << 13) /* d */
#define NOTIFY_NEW      (1 << 14) /* n (not part of A) */
#define NOTIFY_ALL                                                                                 \
    (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH | NOTIFY_ZSET |       \
     NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE)

/* Parses a class string ("KEA", "Ex"). Returns the flags, or -1 for an unknown letter. */
int pubsub_notify_parse(const char *s);
/* Writes the canonical form of flags (Redis's: "AKE", "gKE") into buf (>= 20 bytes). */
void pubsub_notify_format(int flags, char *buf, size_t len);

/* Creates and frees the server's channel and pattern tables (s->ps). 0 or -ENOMEM. */
int pubsub_init(struct server *s);
void pubsub_free(struct server *s);

/* Command handlers (cmd_redis.c's table). */
void pubsub_cmd_subscribe(struct req *r);
void pubsub_cmd_unsubscribe(struct req *r);
void pubsub_cmd_psubscribe(struct req *r);
void pubsub_cmd_punsubscribe(struct req *r);
void pubsub_cmd_ssubscribe(struct req *r);
void pubsub_cmd_sunsubscribe(struct req *r);
void pubsub_cmd_publish(struct req *r);
void pubsub_cmd_spublish(struct req *r);
void pubsub_cmd_pubsub(struct req *r);

/* Whether c has a subscription (Redis's CLIENT_PUBSUB): such a client is never closed
 * for idling (timeout). */
int pubsub_subscribed(const struct conn *c);
/* RESP2 subscribed mode (called before a command runs, after arity and auth): when c is
 * subscribed in RESP2 and the command is not one the mode allows, replies Redis's error
 * and returns -1; else 0. */
int pubsub_check_mode(struct req *r);
/* PING of a RESP2 subscribed connection: replies ["pong", arg or ""] and returns 1; 0
 * when the connection is not in that mode (the caller replies as usual). */
int pubsub_ping(struct req *r);

/* Connection hooks. pubsub_conn_reset drops every subscription of c without a reply
 * (RESET); pubsub_conn_close also its pushes not yet moved to the output and its state
 * (conn_close); both are safe on any connection. pubsub_conn_drained
 * moves pushes held while a request was in progress to the output, right after the reply
 * of the request conn.c just drained (so a push never lands inside a reply). */
void pubsub_conn_reset(struct conn *c);
void pubsub_conn_close(struct conn *c);
void pubsub_conn_drained(struct conn *c);
/* Pushes n bytes to c (MONITOR's lines) as a message is pushed: between replies, charged
 * to c's output limit, past which c is closed by the deferred pass; p NULL: a push that
 * could not be built within that limit (c is closed all the same). */
void pubsub_push(struct conn *c, const void *p, size_t n);
/* The deferred pass (server_after_events): closes the subscribers whose pushes passed
 * their output limit. */
void pubsub_after_events(struct server *s);

/* Keyspace notifications of a command: event of class type on key in r's database (a
 * no-op unless notify-keyspace-events enables it). A subscriber on r's own connection
 * gets it before r's reply, as in Redis. */
void pubsub_notify(struct req *r, int type, const char *event, const struct resp_arg *key);
/* Whether a "new" event (class n) is on and key is absent now (an index lookup, made
 * only then): ask before submitting a write that may create key. */
int pubsub_key_absent(struct req *r, const struct resp_arg *key);
/* The events of the write cmd_put is about to submit for r (at most PUBSUB_ARMED, in
 * the order Redis sends them: "new", then the command's, then "expire"). Arm them just
 * before calling cmd_put: cmd_put publishes them once the write is submitted
 * (pubsub_put_submitted) and drops them when it refuses the write. pubsub_arm_new arms
 * "new" when key is absent now (an index lookup, made only when class n is on). */
#define PUBSUB_ARMED 4
void pubsub_arm(struct req *r, int type, const char *event);
void pubsub_arm_new(struct req *r, const struct resp_arg *key);
/* Called by cmd_put: publishes (ok) or drops what was armed for r. */
void pubsub_put_submitted(struct req *r, const struct resp_arg *key, int ok);
/* The same without a request (the engine's expiry reports). */
void pubsub_notify_db(struct server *s, int type, const char *event, uint32_t db, const void *key,
                      size_t key_len);
/* The engine's expired-key callback (ls_config.expired; arg is the server): publishes
 * "expired" (INFO's expired_keys counts from the engine's expired_dropped) and wakes the
 * commands blocked on the key (block_signal). */
void pubsub_engine_expired(void *arg, uint32_t table, const void *key, size_t key_len);
/* Whether the engine should read the keys of the entries its sweep expires (the only
 * expiry reports that cost a read): class x with K or E on. */
int pubsub_wants_expired(const struct server *s);

#endif
