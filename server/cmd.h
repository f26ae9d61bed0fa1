/*
 * cmd.h - the Redis command table and the helpers its handlers share.
 *
 * A handler receives a request whose arguments are copied (NUL-terminated) into the
 * request, whose arity and authentication were checked, and which holds the locks of its
 * keys (the concurrency rule, lockset.c: shared for a read-only command, exclusive for a
 * write). It keeps them until its writes are submitted (req_unlock, called by cmd_put)
 * and must end, now or from an engine callback, with exactly one reply and req_done(r).
 */
#ifndef LS_SERVER_CMD_H
#define LS_SERVER_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "logstor.h"

#define CMD_WRITE    0x01u
#define CMD_READONLY 0x02u
#define CMD_WHOLE_DB 0x04u /* reads or writes its database as a whole (lockset.c) */
#define CMD_NOAUTH   0x08u /* allowed before AUTH */
#define CMD_FAST     0x10u
#define CMD_ADMIN    0x20u
#define CMD_KEYSPACE 0x40u
#define CMD_CONN     0x80u
#define CMD_ALL_DBS  0x100u /* with CMD_WHOLE_DB: every database (FLUSHALL) */
#define CMD_TXN                                                                                    \
    0x200u                   /* MULTI, EXEC, DISCARD, WATCH, QUIT, RESET: never queued by          \
                                MULTI, run when parsed, claim no lock (txn.c) */
#define CMD_NO_MULTI 0x400u  /* refused inside MULTI (SAVE, SHUTDOWN) */
#define CMD_NOSCRIPT 0x800u  /* refused inside a script (script.c) */
#define CMD_EVAL     0x1000u /* EVAL and friends: the claim is the script's (script.c) */
#define CMD_DENYOOM  0x2000u /* may add data: refused while over maxmemory (server_oom) */
/* Allowed while the engine is being opened (Redis's "loading" flag, loading.c); the others
 * get -LOADING. CMD_LOADING_HELP: only the container's HELP subcommand is (Redis flags
 * OBJECT HELP, MEMORY HELP, SCRIPT HELP ... "loading", not their other subcommands). */
#define CMD_LOADING      0x4000u
#define CMD_LOADING_HELP 0x8000u

struct cmd_def {
    const char *name; /* lower case */
    int arity;        /* Redis convention: -N means at least N */
    uint32_t flags;
    int first_key, last_key, key_step; /* last_key -1: the last argument; key_step 0: a
                                          numkeys argument at first_key; -1 (-2): XREAD's
                                          (XREADGROUP's) keys, after STREAMS */
    req_exec_fn proc;
    const char *group;
    const char *since;
    const char *summary;
};

/* A subcommand of a container command (CLIENT, COMMAND, ACL, SLOWLOG): its name, the full
 * name CLIENT LIST shows as cmd=, its Redis arity counting the container and the
 * subcommand. */
struct subcmd {
    const char *name, *full;
    int arity;
    void (*fn)(struct req *r);
};

/* Builds the lookup table. Returns 0 or -ENOMEM. */
int cmd_init(void);
const struct cmd_def *cmd_table(size_t *n);
/* Parses one command from c's input and dispatches it. Returns 1 when a command was
 * consumed, 0 when more input is needed, -1 when the connection must stop reading. */
int cmd_process_one(struct conn *c);
void cmd_prefetch(struct conn *c); /* hints for pipelined GETs; changes nothing */

/* Runs (or queues, inside MULTI) a request that passed the dispatcher's checks; a command
 * CLIENT PAUSE held comes back here when the pause ends (pause.c). argv/argc: the command
 * as parsed, for the slow log, valid after r is freed (the connection's); NULL when not at
 * hand (a command a pause held: the slow log then shows its name only). */
void cmd_dispatch_run(struct req *r, const struct resp_arg *argv, uint32_t argc);

/* A command EXEC or a script runs (r->parent) is about to start: MONITOR and CLIENT
 * TRACKING see it. */
void cmd_child_started(struct req *k);

/* The keys of a command: how many, the first one's index and the step between them, from
 * its row (first_key, last_key: negative counts from the end, key_step), or, for a row with
 * key_step 0, from the numkeys argument at argv[first_key] (LMPOP, BLMPOP: the keys follow
 * it; none when it is not a valid count, the handler replying the error). */
uint32_t cmd_keys_find(const struct cmd_def *d, const struct resp_arg *argv, uint32_t argc,
                       uint32_t *first, uint32_t *step);

/* The row of a command name (any case), or NULL. */
const struct cmd_def *cmd_find(const char *name, size_t len);

/* Argument helpers. */
int cmd_arg_is(const struct resp_arg *a, const char *s);
/* Redis string2ll: optional '-', digits, no spaces, no leading '+' or zeros. */
int cmd_parse_ll(const char *p, size_t n, long long *out);
int cmd_arg_ll(const struct resp_arg *a, long long *out);
int cmd_parse_ld(const char *p, size_t n, long double *out);
/* Formats a long double the way INCRBYFLOAT shows it. Returns the length. */
int cmd_format_ld(char *buf, size_t len, long double v);
/* Replies "ERR wrong number of arguments for '<name>' command". */
void cmd_wrong_args(struct req *r);
/* Parses an expire argument of command `name` in `unit_ms` (1000 or 1); absolute when
 * `abs` is set. Sets the absolute unix ms. Replies and returns -1 on error. */
int cmd_expire_arg(struct req *r, const struct resp_arg *a, uint64_t unit_ms, int abs,
                   const char *name, uint64_t *out_ms);

/* Engine helpers. cmd_put submits a put whose success reply is chosen by mode (+OK, :r->num,
 * or the bytes pre-encoded in r->tmp) and which then ends the request; a submission error
 * is replied at once, except LS_EBUSY: that put waits in park.c and is submitted later.
 * Once the put is submitted (or parked) it releases the request's locks (req_unlock).
 * cmd_get calls cb from the engine, or at once (synchronously) with the submission error
 * such as LS_ENOTFOUND, so callbacks handle both alike; a read-only command's locks are
 * released once its read is submitted; the record's bytes count in the connection's value
 * bytes in flight until cb runs (mget_one). */
enum cmd_reply_mode { CMD_REPLY_OK = 0, CMD_REPLY_NUM = 1, CMD_REPLY_TMP = 2 };
void cmd_put(struct req *r, const struct resp_arg *key, const void *v, size_t n, uint64_t expire_ms,
             uint32_t flags, enum cmd_reply_mode mode);
/* cmd_put of a value of type vtype (VT_*, a collection's encoding). */
void cmd_put_typed(struct req *r, const struct resp_arg *key, const void *v, size_t n,
                   uint64_t expire_ms, uint32_t flags, uint8_t vtype, enum cmd_reply_mode mode);
void cmd_write_cb(void *arg, int rc, uint64_t cas);
void cmd_get(struct req *r, const struct resp_arg *key, ls_get_cb cb);
/* Sets r->tmp to the bulk encoding of p (or the null reply when p is NULL). */
void cmd_tmp_bulk(struct req *r, const void *p, size_t n);
struct ls_engine *cmd_engine(const struct req *r);
/* Redis's name of a value type (TYPE, SCAN TYPE): "string", "hash", "list", "set",
 * "zset"; and back (-1: not a type's name). */
const char *cmd_type_name(uint8_t vtype);
int cmd_type_parse(const struct resp_arg *a);

/* cmd_string.c */
void cmd_string_get(struct req *r);
void cmd_string_set(struct req *r);
void cmd_string_setnx(struct req *r);
void cmd_string_setex(struct req *r);
void cmd_string_psetex(struct req *r);
void cmd_string_getset(struct req *r);
void cmd_string_getdel(struct req *r);
void cmd_string_getex(struct req *r);
void cmd_string_mget(struct req *r);
void cmd_string_mset(struct req *r);
void cmd_string_msetnx(struct req *r);
void cmd_string_append(struct req *r);
void cmd_string_strlen(struct req *r);
void cmd_string_getrange(struct req *r);
void cmd_string_setrange(struct req *r);
void cmd_string_incr(struct req *r);
void cmd_string_decr(struct req *r);
void cmd_string_incrby(struct req *r);
void cmd_string_decrby(struct req *r);
void cmd_string_incrbyfloat(struct req *r);

/* cmd_bits.c, cmd_hll.c, cmd_lcs.c: bitmaps, HyperLogLog, LCS */
void cmd_bits_setbit(struct req *r);
void cmd_bits_getbit(struct req *r);
void cmd_bits_bitcount(struct req *r);
void cmd_bits_bitpos(struct req *r);
void cmd_bits_bitop(struct req *r);
void cmd_bits_bitfield(struct req *r);
void cmd_bits_bitfield_ro(struct req *r);
void cmd_hll_pfadd(struct req *r);
void cmd_hll_pfcount(struct req *r);
void cmd_hll_pfmerge(struct req *r);
void cmd_hll_pfdebug(struct req *r);
void cmd_hll_pfselftest(struct req *r);
void cmd_lcs(struct req *r);
/* Replies err and ends r. */
void cmd_bits_fail(struct req *r, const char *err);
/* A read callback's first step: when rc is an engine error (neither 0 nor LS_ENOTFOUND),
 * replies it, ends r and returns 1 (the callback returns at once); else returns 0. */
int cmd_bits_read_failed(struct req *r, int rc);

/* cmd_hash.c */
void cmd_hash_hset(struct req *r);
void cmd_hash_hmset(struct req *r);
void cmd_hash_hsetnx(struct req *r);
void cmd_hash_hdel(struct req *r);
void cmd_hash_hincrby(struct req *r);
void cmd_hash_hincrbyfloat(struct req *r);
void cmd_hash_hget(struct req *r);
void cmd_hash_hmget(struct req *r);
void cmd_hash_hexists(struct req *r);
void cmd_hash_hstrlen(struct req *r);
void cmd_hash_hlen(struct req *r);
void cmd_hash_hkeys(struct req *r);
void cmd_hash_hvals(struct req *r);
void cmd_hash_hgetall(struct req *r);
void cmd_hash_hrandfield(struct req *r);
void cmd_hash_hscan(struct req *r);
/* HSCAN/SSCAN/ZSCAN's cursor (argv[from - 1]) and options from argv[from]: r->u64 is the
 * MATCH pattern's index (0: none). Replies the error and returns -1 when bad. */
int cmd_coll_scan_args(struct req *r, uint32_t from);

/* cmd_list.c */
void cmd_list_lpush(struct req *r);
void cmd_list_rpush(struct req *r);
void cmd_list_lpushx(struct req *r);
void cmd_list_rpushx(struct req *r);
void cmd_list_lpop(struct req *r);
void cmd_list_rpop(struct req *r);
void cmd_list_llen(struct req *r);
void cmd_list_lindex(struct req *r);
void cmd_list_lset(struct req *r);
void cmd_list_lrange(struct req *r);
void cmd_list_ltrim(struct req *r);
void cmd_list_lrem(struct req *r);
void cmd_list_linsert(struct req *r);
void cmd_list_lpos(struct req *r);
void cmd_list_lmove(struct req *r);
void cmd_list_rpoplpush(struct req *r);
void cmd_list_blmove(struct req *r);
void cmd_list_brpoplpush(struct req *r);
void cmd_list_blpop(struct req *r);
void cmd_list_brpop(struct req *r);
void cmd_list_lmpop(struct req *r);
void cmd_list_blmpop(struct req *r);

/* cmd_set.c */
void cmd_set_sadd(struct req *r);
void cmd_set_srem(struct req *r);
void cmd_set_smembers(struct req *r);
void cmd_set_scard(struct req *r);
void cmd_set_sismember(struct req *r);
void cmd_set_smismember(struct req *r);
void cmd_set_spop(struct req *r);
void cmd_set_srandmember(struct req *r);
void cmd_set_sscan(struct req *r);
void cmd_set_sinter(struct req *r);
void cmd_sort_sort(struct req *r); /* cmd_sort.c */
void cmd_sort_ro(struct req *r);
/* SORT's STORE destination in argv (as COMMAND GETKEYS reports it), or 0. */
uint32_t cmd_sort_store_key(const struct resp_arg *argv, uint32_t argc);
void cmd_set_sunion(struct req *r);
void cmd_set_sdiff(struct req *r);
void cmd_set_sinterstore(struct req *r);
void cmd_set_sunionstore(struct req *r);
void cmd_set_sdiffstore(struct req *r);
void cmd_set_sintercard(struct req *r);
void cmd_set_smove(struct req *r);

/* cmd_zset.c */
void cmd_zset_zadd(struct req *r);
void cmd_zset_zincrby(struct req *r);
void cmd_zset_zrem(struct req *r);
void cmd_zset_zscore(struct req *r);
void cmd_zset_zmscore(struct req *r);
void cmd_zset_zcard(struct req *r);
void cmd_zset_zrank(struct req *r);
void cmd_zset_zrevrank(struct req *r);
void cmd_zset_zrange(struct req *r);
void cmd_zset_zrangestore(struct req *r);
void cmd_zset_zrevrange(struct req *r);
void cmd_zset_zrangebyscore(struct req *r);
void cmd_zset_zrevrangebyscore(struct req *r);
void cmd_zset_zrangebylex(struct req *r);
void cmd_zset_zrevrangebylex(struct req *r);
void cmd_zset_zcount(struct req *r);
void cmd_zset_zlexcount(struct req *r);
void cmd_zset_zremrangebyrank(struct req *r);
void cmd_zset_zremrangebyscore(struct req *r);
void cmd_zset_zremrangebylex(struct req *r);
void cmd_zset_zpopmin(struct req *r);
void cmd_zset_zpopmax(struct req *r);
void cmd_zset_bzpopmin(struct req *r);
void cmd_zset_bzpopmax(struct req *r);
void cmd_zset_zmpop(struct req *r);
void cmd_zset_bzmpop(struct req *r);
void cmd_zset_zrandmember(struct req *r);
void cmd_zset_zscan(struct req *r);
void cmd_stream_xadd(struct req *r);
void cmd_stream_xtrim(struct req *r);
void cmd_stream_xlen(struct req *r);
void cmd_stream_xrange(struct req *r);
void cmd_stream_xrevrange(struct req *r);
void cmd_stream_xdel(struct req *r);
void cmd_stream_xsetid(struct req *r);
void cmd_stream_xread(struct req *r);
void cmd_stream_xinfo(struct req *r);
void cmd_stream_xgroup(struct req *r);
void cmd_stream_xreadgroup(struct req *r);
void cmd_stream_xack(struct req *r);
void cmd_stream_xpending(struct req *r);
void cmd_stream_xclaim(struct req *r);
void cmd_stream_xautoclaim(struct req *r);
/* Where XREAD's (group: XREADGROUP's) keys are, after STREAMS: 1 with the first key's
 * index and their count, 0 when the arguments are not well formed (cmd_stream.c). */
int cmd_stream_keys(const struct resp_arg *argv, uint32_t argc, int group, uint32_t *first,
                    uint32_t *n);
void cmd_zset_zunion(struct req *r);
void cmd_zset_zinter(struct req *r);
void cmd_zset_zdiff(struct req *r);
void cmd_zset_zunionstore(struct req *r);
void cmd_zset_zinterstore(struct req *r);
void cmd_zset_zdiffstore(struct req *r);
void cmd_zset_zintercard(struct req *r);

/* cmd_keys.c */
void cmd_keys_del(struct req *r);
void cmd_keys_exists(struct req *r);
void cmd_keys_expire(struct req *r);
void cmd_keys_pexpire(struct req *r);
void cmd_keys_expireat(struct req *r);
void cmd_keys_pexpireat(struct req *r);
void cmd_keys_ttl(struct req *r);
void cmd_keys_pttl(struct req *r);
void cmd_keys_expiretime(struct req *r);
void cmd_keys_pexpiretime(struct req *r);
void cmd_keys_persist(struct req *r);
void cmd_keys_type(struct req *r);
void cmd_keys_scan(struct req *r);
void cmd_keys_keys(struct req *r);
void cmd_keys_randomkey(struct req *r);
void cmd_keys_dbsize(struct req *r);
void cmd_keys_flushdb(struct req *r);
void cmd_keys_flushall(struct req *r);
/* Existence and metadata of key k in database db from the index (no I/O); an expired
 * entry counts as absent. Returns 0 or LS_ENOTFOUND (or another engine code). */
int cmd_keys_lookup(struct req *r, uint32_t db, const struct resp_arg *k, struct ls_meta *m);

/* cmd_keys2.c */
void cmd_keys_rename(struct req *r);
void cmd_keys_renamenx(struct req *r);
void cmd_keys_copy(struct req *r);
void cmd_keys_move(struct req *r);
void cmd_keys_swapdb(struct req *r);
void cmd_keys_dump(struct req *r);
void cmd_keys_restore(struct req *r);
void cmd_keys_object(struct req *r);
void cmd_keys_memory(struct req *r);
void cmd_keys_wait(struct req *r);
/* Called by the dispatcher before the claim: gives MOVE, COPY ... DB n and SWAPDB, which
 * touch two databases, their explicit lock items (r->lk_items). Other requests, and
 * arguments it cannot parse (the handler replies the error), are left as they are.
 * Returns 0, or -1 after replying (out of memory). */
int cmd_keys_declare(struct req *r);

/* cmd_sync.c: SYNC streams an RDB of every database (redis-cli --rdb); REPLCONF. */
void cmd_sync_sync(struct req *r);
void cmd_sync_replconf(struct req *r);

/* cmd_cluster.c */
void cmd_cluster_cluster(struct req *r);
void cmd_cluster_mode(struct req *r);
/* In cluster mode, whether r's keys hash to different slots (-CROSSSLOT). */
int cmd_cluster_crossslot(const struct req *r);

/* cmd_slowlog.c: SLOWLOG and LATENCY, their subcommand tables (COMMAND LIST), and the
 * dispatcher's hook: cmd_slowlog_note(c, d, argv, argc, us) after a command ran on the
 * event loop for us microseconds (cmd_server_stat_begin's clock) logs it if slow, samples the
 * latency monitor and counts it in its histogram. argv must still be the arguments it ran with.
 * cmd_slowlog_reset_stats clears the histograms (CONFIG RESETSTAT). */
void cmd_slowlog_slowlog(struct req *r);
void cmd_slowlog_latency(struct req *r);
void cmd_slowlog_note(const struct conn *c, const struct cmd_def *d, const struct resp_arg *argv,
                      uint32_t argc, uint64_t us);
void cmd_slowlog_reset_stats(void);
/* INFO latencystats: "latency_percentiles_usec_<command>:p50=..,p99=.." for every command
 * (and subcommand) that ran while latency-tracking was on, at the percentiles pctl names
 * (latency-tracking-info-percentiles' value: numbers separated by spaces). */
struct pbuf;
void cmd_slowlog_latencystats(struct pbuf *pb, const char *pctl);
extern const struct subcmd cmd_slowlog_subs[], cmd_latency_subs[];
extern const size_t cmd_slowlog_nsubs, cmd_latency_nsubs;

/* cmd_docs.c: COMMAND DOCS. cmd_docs_reply replies name and Redis's documentation of the
 * command name (a map), or returns -1 (nothing replied) when it has none. */
int cmd_docs_reply(struct req *r, const char *name);
const char *cmd_docs_tree(const char *name);

/* cmd_server.c */
void cmd_server_ping(struct req *r);
void cmd_server_echo(struct req *r);
void cmd_server_quit(struct req *r);
void cmd_server_hello(struct req *r);
void cmd_server_auth(struct req *r);
void cmd_server_select(struct req *r);
void cmd_server_client(struct req *r);
/* The dispatcher's call for a CLIENT command about to run (not queued by MULTI): applies
 * CLIENT REPLY ON|OFF|SKIP to the connection in command order (conn_reply_mode). */
void cmd_server_client_read(struct req *r);
void cmd_server_command(struct req *r);
void cmd_server_info(struct req *r);
void cmd_server_config(struct req *r);
/* Runs r's subcommand (argv[1]) from subs after checking its arity, or replies Redis's
 * unknown-subcommand error naming the container ("Try SLOWLOG HELP."). Ends the request. */
void cmd_server_subcmd_run(struct req *r, const struct subcmd *subs, size_t n,
                           const char *container);
void cmd_server_time(struct req *r);
void cmd_server_shutdown(struct req *r);
void cmd_server_save(struct req *r);
void cmd_server_bgsave(struct req *r);
/* cmd_snapshot.c: SNAPSHOT CREATE/LIST/DROP/HELP. */
void cmd_snapshot(struct req *r);
void cmd_server_lastsave(struct req *r);
void cmd_server_reset(struct req *r);
void cmd_server_role(struct req *r);
/* INFO commandstats and errorstats. Dispatch brackets a command's start with
 * cmd_server_stat_begin (returns the time in microseconds) and cmd_server_stat_end (c's
 * last_cmd names the subcommand that ran, cmd the command; _at: with the end time read
 * already), counts a command refused before
 * it ran with cmd_server_stat_rejected; reply_error reports every error reply with
 * cmd_server_stat_error (a failed call when r was running). */
uint64_t cmd_server_stat_begin(void);
void cmd_server_stat_end(const struct conn *c, const char *cmd, uint64_t t0);
void cmd_server_stat_end_at(const struct conn *c, const char *cmd, uint64_t t0, uint64_t t1);
void cmd_server_stat_rejected(const char *cmd);
void cmd_server_stat_error(const struct req *r, const char *err);
/* r, running, failed with an error already counted in errorstats (a script passing on the
 * refusal of a command it called): its failed_calls only. */
void cmd_server_stat_failed(const struct req *r);
void cmd_server_acl(struct req *r);

#endif
