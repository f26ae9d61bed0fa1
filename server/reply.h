/*
 * reply.h - writing a request's reply: the RESP encoders applied to the request's reply
 * buffer in the connection's protocol version, with the output limit checked in one place
 * (a failed append marks the connection for closing, as Redis does past
 * client-output-buffer-limit), and the engine's error codes turned into Redis errors.
 */
#ifndef LS_SERVER_REPLY_H
#define LS_SERVER_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct req;
struct pbuf;

void reply_simple(struct req *r, const char *s);
void reply_ok(struct req *r);
void reply_error(struct req *r, const char *s); /* s includes the code: "ERR ..." */
void reply_errorf(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_int(struct req *r, int64_t v);
void reply_bulk(struct req *r, const void *p, size_t n);
void reply_cstr(struct req *r, const char *s);
void reply_null(struct req *r);
void reply_null_array(struct req *r);
void reply_array(struct req *r, size_t n);
void reply_map(struct req *r, size_t pairs);
void reply_set(struct req *r, size_t n);
void reply_double(struct req *r, double d);
void reply_verbatim(struct req *r, const void *p, size_t n);
/* An array of simple strings, one per line (a HELP subcommand's reply). */
void reply_lines(struct req *r, const char *const *lines, size_t n);
/* Appends raw bytes (pre-encoded replies, memcached lines). */
void reply_raw(struct req *r, const void *p, size_t n);
/* Appends the reply prebuilt in r->tmp and frees it: moved without a copy when it can be,
 * and never counted twice against the output limit. */
void reply_tmp(struct req *r);
/* Records a failed append (output limit) on the connection. */
void reply_check(struct req *r, int rc);

/* The Redis error for an engine code (LS_E* or -errno), e.g. "-OOM ... disk full". */
void reply_engine_error(struct req *r, int rc);
/* The memcached line for an engine code ("SERVER_ERROR out of space", ...). */
const char *reply_mc_engine_error(int rc);

/* Standard errors. */
#define ERR_SYNTAX    "ERR syntax error"
#define ERR_NOT_INT   "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT "ERR value is not a valid float"
#define ERR_OVERFLOW  "ERR increment or decrement would overflow"
#define ERR_DB_RANGE  "ERR DB index is out of range"
#define ERR_TOO_BIG   "ERR string exceeds maximum allowed size (max_value_size)"
#define ERR_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
/* A read found the key holding a value of another type than the command works on (the
 * server's code, beside the engine's LS_E* ones; reply_engine_error answers
 * ERR_WRONGTYPE). */
#define SRV_EWRONGTYPE  (-20001)
#define ERR_KEY_TOO_BIG "ERR key exceeds maximum allowed size (max_key_size)"
#define ERR_NOAUTH      "NOAUTH Authentication required."
#define ERR_OOM         "OOM command not allowed when used memory > 'maxmemory'."
#define ERR_LOADING     "LOADING Redis is loading the dataset in memory"
#define ERR_WRONGPASS   "WRONGPASS invalid username-password pair or user is disabled."

#endif
