/*
 * cmd_redis.c - the Redis command table, parsing and dispatch.
 *
 * One table row per command: name, arity, flags, key positions, handler, and the group /
 * since / summary that COMMAND INFO and COMMAND DOCS report, so clients (redis-cli,
 * redis-py, hiredis-based tools) discover exactly what we implement.
 *
 * Dispatch order follows Redis's processCommand: unknown command, arity, authentication.
 * The arguments are then copied out of the input buffer into the request (the buffer is
 * reused as soon as the batch is parsed, while the request may wait for its locks or the
 * engine), its keys are collected from the row's key positions, and the request runs under
 * the concurrency rule (lockset.c, cmdlock.c): it declares those keys, read or written as
 * its flags say (CMD_WRITE: written), and with CMD_WHOLE_DB its whole database (FLUSHDB
 * writes it; DBSIZE, SCAN, KEYS, RANDOMKEY read it; CMD_ALL_DBS: every database), and runs
 * once they are granted.
 *
 * While the engine is being opened (loading.c) only the commands Redis flags "loading"
 * run (CMD_LOADING); the others get -LOADING, after the checks Redis makes before its
 * own (unknown command, arity, authentication, OOM), and inside MULTI that refusal makes
 * EXEC abort, as in Redis.
 */
#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdlock.h"
#include "log.h"
#include "mget.h"
#include "monitor.h"
#include "park.h"
#include "pause.h"
#include "pubsub.h"
#include "reply.h"
#include "script.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

#define W  CMD_WRITE
#define RO CMD_READONLY
#define DB CMD_WHOLE_DB
#define AL CMD_ALL_DBS
#define NA CMD_NOAUTH
#define F  CMD_FAST
#define AD CMD_ADMIN
#define KS CMD_KEYSPACE
#define CN CMD_CONN
#define LD CMD_LOADING
#define LH CMD_LOADING_HELP

/* clang-format off */
static const struct cmd_def cmds[] = {
    /* connection and server */
    {"ping", -1, F | CN, 0, 0, 0, cmd_server_ping, "connection", "1.0.0", "Returns the server's liveliness response."},
    {"echo", 2, F | CN | LD, 0, 0, 0, cmd_server_echo, "connection", "1.0.0", "Returns the given string."},
    {"quit", -1, NA | F | CN | CMD_TXN | LD, 0, 0, 0, cmd_server_quit, "connection", "1.0.0", "Closes the connection."},
    {"hello", -1, NA | F | CN | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_server_hello, "connection", "6.0.0", "Handshakes with the server."},
    {"auth", -2, NA | F | CN | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_server_auth, "connection", "1.0.0", "Authenticates the connection."},
    {"select", 2, F | CN | LD, 0, 0, 0, cmd_server_select, "connection", "1.0.0", "Changes the selected database."},
    {"client", -2, CN | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_server_client, "connection", "2.4.0", "A container for client connection commands."},
    {"reset", 1, NA | F | CN | CMD_TXN | LD, 0, 0, 0, cmd_server_reset, "connection", "6.2.0", "Resets the connection."},
    {"command", -1, CN | LD, 0, 0, 0, cmd_server_command, "server", "2.8.13", "Returns detailed information about all commands."},
    {"info", -1, LD, 0, 0, 0, cmd_server_info, "server", "1.0.0", "Returns information and statistics about the server."},
    {"config", -2, AD | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_server_config, "server", "2.0.0", "A container for server configuration commands."},
    {"time", 1, F | LD, 0, 0, 0, cmd_server_time, "server", "2.6.0", "Returns the server time."},
    {"shutdown", -1, AD | CMD_NO_MULTI | LD, 0, 0, 0, cmd_server_shutdown, "server", "1.0.0", "Flushes the engine and shuts down the server."},
    {"save", 1, AD | CMD_NO_MULTI, 0, 0, 0, cmd_server_save, "server", "1.0.0", "Takes a durable snapshot of every database (bgsave-<unix ms>), dropping the previous save."},
    {"bgsave", -1, AD | CMD_NOSCRIPT, 0, 0, 0, cmd_server_bgsave, "server", "1.0.0", "Starts a snapshot of every database (bgsave-<unix ms>), dropping the previous save once durable."},
    {"lastsave", 1, F | LD, 0, 0, 0, cmd_server_lastsave, "server", "1.0.0", "Returns the unix time of the last completed save."},
    {"snapshot", -2, AD | CMD_NOSCRIPT | CMD_NO_MULTI, 0, 0, 0, cmd_snapshot, "server", "7.0.0", "Creates, lists and drops point-in-time snapshots (logstor)."},
    {"monitor", 1, AD | CMD_NOSCRIPT | LD, 0, 0, 0, monitor_cmd, "server", "1.0.0", "Listens for all requests received by the server in real-time."},
    {"role", 1, F | LD, 0, 0, 0, cmd_server_role, "server", "2.8.12", "Returns the replication role."},
    {"sync", 1, AD | CMD_NO_MULTI | CMD_NOSCRIPT, 0, 0, 0, cmd_sync_sync, "server", "1.0.0", "Streams an RDB file of every database (redis-cli --rdb), then closes the connection."},
    {"replconf", -1, AD | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_sync_replconf, "server", "3.0.0", "Sets replication options before SYNC."},
    {"slowlog", -2, AD | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_slowlog_slowlog, "server", "2.2.12", "A container for slow log commands."},
    {"latency", -2, AD | CMD_NOSCRIPT | LD, 0, 0, 0, cmd_slowlog_latency, "server", "2.8.13", "A container for latency diagnostics commands."},
    {"acl", -2, LD, 0, 0, 0, cmd_server_acl, "server", "6.0.0", "A container for Access List Control commands."},
    {"dbsize", 1, RO | F | DB, 0, 0, 0, cmd_keys_dbsize, "server", "1.0.0", "Returns the number of keys in the database."},
    {"flushdb", -1, W | DB, 0, 0, 0, cmd_keys_flushdb, "server", "1.0.0", "Removes all keys from the current database."},
    {"flushall", -1, W | DB | AL, 0, 0, 0, cmd_keys_flushall, "server", "1.0.0", "Removes all keys from all databases."},
    /* cluster (cmd_cluster.c): a one-node cluster with cluster_enabled */
    {"cluster", -2, LH, 0, 0, 0, cmd_cluster_cluster, "cluster", "3.0.0", "A container for Redis Cluster commands."},
    {"readonly", 1, F | CN | LD, 0, 0, 0, cmd_cluster_mode, "cluster", "3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node."},
    {"readwrite", 1, F | CN | LD, 0, 0, 0, cmd_cluster_mode, "cluster", "3.0.0", "Enables read-write queries for a connection to a Reids Cluster replica node."},
    {"asking", 1, F | CN, 0, 0, 0, cmd_cluster_mode, "cluster", "3.0.0", "Signals that a cluster client is following an -ASK redirect."},
    /* transactions (txn.c) */
    {"multi", 1, F | CMD_TXN | LD, 0, 0, 0, cmd_txn_multi, "transactions", "1.2.0", "Starts a transaction."},
    {"exec", 1, CMD_TXN | LD, 0, 0, 0, cmd_txn_exec, "transactions", "1.2.0", "Executes all commands in a transaction."},
    {"discard", 1, F | CMD_TXN | LD, 0, 0, 0, cmd_txn_discard, "transactions", "2.0.0", "Discards a transaction."},
    {"watch", -2, F | CMD_TXN | LD, 1, -1, 1, cmd_txn_watch, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction."},
    {"unwatch", 1, F | LD, 0, 0, 0, cmd_txn_unwatch, "transactions", "2.2.0", "Forgets about watched keys of a transaction."},
    /* scripting (script.c) */
    {"eval", -3, CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_eval, "scripting", "2.6.0", "Executes a server-side Lua script."},
    {"evalsha", -3, CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_evalsha, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest."},
    {"eval_ro", -3, RO | CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_eval_ro, "scripting", "7.0.0", "Executes a read-only server-side Lua script."},
    {"evalsha_ro", -3, RO | CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_evalsha_ro, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest."},
    {"fcall", -3, CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_fcall, "scripting", "7.0.0", "Invokes a function."},
    {"fcall_ro", -3, RO | CMD_NOSCRIPT | CMD_EVAL, 0, 0, 0, cmd_script_fcall_ro, "scripting", "7.0.0", "Invokes a read-only function."},
    {"function", -2, CMD_NOSCRIPT | LH, 0, 0, 0, cmd_script_function, "scripting", "7.0.0", "A container for function commands."},
    {"script", -2, CMD_NOSCRIPT | LH, 0, 0, 0, cmd_script_script, "scripting", "2.6.0", "A container for Lua scripts management commands."},
    /* strings */
    {"get", 2, RO | F, 1, 1, 1, cmd_string_get, "string", "1.0.0", "Returns the string value of a key."},
    {"set", -3, W | CMD_DENYOOM, 1, 1, 1, cmd_string_set, "string", "1.0.0", "Sets the string value of a key, ignoring its type."},
    {"setnx", 3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_setnx, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist."},
    {"setex", 4, W | CMD_DENYOOM, 1, 1, 1, cmd_string_setex, "string", "2.0.0", "Sets the string value and expiration time of a key."},
    {"psetex", 4, W | CMD_DENYOOM, 1, 1, 1, cmd_string_psetex, "string", "2.6.0", "Sets the string value and expiration time in milliseconds of a key."},
    {"getset", 3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_getset, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value."},
    {"getdel", 2, W | F, 1, 1, 1, cmd_string_getdel, "string", "6.2.0", "Returns the string value of a key after deleting the key."},
    {"getex", -2, W | F, 1, 1, 1, cmd_string_getex, "string", "6.2.0", "Returns the string value of a key after setting its expiration time."},
    {"mget", -2, RO | F, 1, -1, 1, cmd_string_mget, "string", "1.0.0", "Atomically returns the string values of one or more keys."},
    {"mset", -3, W | CMD_DENYOOM, 1, -1, 2, cmd_string_mset, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys."},
    {"msetnx", -3, W | CMD_DENYOOM, 1, -1, 2, cmd_string_msetnx, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist."},
    {"append", 3, W | CMD_DENYOOM, 1, 1, 1, cmd_string_append, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist."},
    {"strlen", 2, RO | F, 1, 1, 1, cmd_string_strlen, "string", "2.2.0", "Returns the length of a string value."},
    {"getrange", 4, RO, 1, 1, 1, cmd_string_getrange, "string", "2.4.0", "Returns a substring of the string stored at a key."},
    {"substr", 4, RO, 1, 1, 1, cmd_string_getrange, "string", "1.0.0", "Returns a substring from a string value."},
    {"setrange", 4, W | CMD_DENYOOM, 1, 1, 1, cmd_string_setrange, "string", "2.2.0", "Overwrites a part of a string value with another by an offset."},
    {"incr", 2, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_incr, "string", "1.0.0", "Increments the integer value of a key by one."},
    {"decr", 2, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_decr, "string", "1.0.0", "Decrements the integer value of a key by one."},
    {"incrby", 3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_incrby, "string", "1.0.0", "Increments the integer value of a key by a number."},
    {"decrby", 3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_decrby, "string", "1.0.0", "Decrements a number from the integer value of a key."},
    {"incrbyfloat", 3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_string_incrbyfloat, "string", "2.6.0", "Increment the floating point value of a key by a number."},
    /* bitmaps, HyperLogLog, LCS (cmd_bits.c, cmd_hll.c, cmd_lcs.c) */
    {"setbit", 4, W | CMD_DENYOOM, 1, 1, 1, cmd_bits_setbit, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."},
    {"getbit", 3, RO | F, 1, 1, 1, cmd_bits_getbit, "bitmap", "2.2.0", "Returns a bit value by offset."},
    {"bitcount", -2, RO, 1, 1, 1, cmd_bits_bitcount, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string."},
    {"bitpos", -3, RO, 1, 1, 1, cmd_bits_bitpos, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string."},
    {"bitop", -4, W | CMD_DENYOOM, 2, -1, 1, cmd_bits_bitop, "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result."},
    {"bitfield", -2, W | CMD_DENYOOM, 1, 1, 1, cmd_bits_bitfield, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings."},
    {"bitfield_ro", -2, RO | F, 1, 1, 1, cmd_bits_bitfield_ro, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings."},
    {"pfadd", -2, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hll_pfadd, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."},
    {"pfcount", -2, W, 1, -1, 1, cmd_hll_pfcount, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."},
    {"pfmerge", -2, W | CMD_DENYOOM, 1, -1, 1, cmd_hll_pfmerge, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key."},
    {"pfdebug", 3, W | AD, 2, 2, 1, cmd_hll_pfdebug, "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values."},
    {"pfselftest", 1, AD, 0, 0, 0, cmd_hll_pfselftest, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values."},
    {"lcs", -3, RO, 1, 2, 1, cmd_lcs, "string", "7.0.0", "Finds the longest common substring."},
    /* keys */
    {"del", -2, W | KS, 1, -1, 1, cmd_keys_del, "generic", "1.0.0", "Deletes one or more keys."},
    {"unlink", -2, W | KS | F, 1, -1, 1, cmd_keys_del, "generic", "4.0.0", "Asynchronously deletes one or more keys."},
    {"exists", -2, RO | KS | F, 1, -1, 1, cmd_keys_exists, "generic", "1.0.0", "Determines whether one or more keys exist."},
    {"touch", -2, RO | KS | F, 1, -1, 1, cmd_keys_exists, "generic", "3.2.1", "Returns the number of existing keys out of those specified."},
    {"expire", -3, W | KS | F, 1, 1, 1, cmd_keys_expire, "generic", "1.0.0", "Sets the expiration time of a key in seconds."},
    {"pexpire", -3, W | KS | F, 1, 1, 1, cmd_keys_pexpire, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds."},
    {"expireat", -3, W | KS | F, 1, 1, 1, cmd_keys_expireat, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp."},
    {"pexpireat", -3, W | KS | F, 1, 1, 1, cmd_keys_pexpireat, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"ttl", 2, RO | KS | F, 1, 1, 1, cmd_keys_ttl, "generic", "1.0.0", "Returns the expiration time in seconds of a key."},
    {"pttl", 2, RO | KS | F, 1, 1, 1, cmd_keys_pttl, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key."},
    {"expiretime", 2, RO | KS | F, 1, 1, 1, cmd_keys_expiretime, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp."},
    {"pexpiretime", 2, RO | KS | F, 1, 1, 1, cmd_keys_pexpiretime, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"persist", 2, W | KS | F, 1, 1, 1, cmd_keys_persist, "generic", "2.2.0", "Removes the expiration time of a key."},
    {"hset", -4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hash_hset, "hash", "2.0.0", "Creates or modifies the value of a field in a hash."},
    {"hmset", -4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hash_hmset, "hash", "2.0.0", "Sets the values of multiple fields."},
    {"hsetnx", 4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hash_hsetnx, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist."},
    {"hdel", -3, W | F, 1, 1, 1, cmd_hash_hdel, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."},
    {"hincrby", 4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hash_hincrby, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."},
    {"hincrbyfloat", 4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_hash_hincrbyfloat, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."},
    {"hget", 3, RO | F, 1, 1, 1, cmd_hash_hget, "hash", "2.0.0", "Returns the value of a field in a hash."},
    {"hmget", -3, RO | F, 1, 1, 1, cmd_hash_hmget, "hash", "2.0.0", "Returns the values of all fields in a hash."},
    {"hexists", 3, RO | F, 1, 1, 1, cmd_hash_hexists, "hash", "2.0.0", "Determines whether a field exists in a hash."},
    {"hstrlen", 3, RO | F, 1, 1, 1, cmd_hash_hstrlen, "hash", "3.2.0", "Returns the length of the value of a field."},
    {"hlen", 2, RO | F, 1, 1, 1, cmd_hash_hlen, "hash", "2.0.0", "Returns the number of fields in a hash."},
    {"hkeys", 2, RO, 1, 1, 1, cmd_hash_hkeys, "hash", "2.0.0", "Returns all fields in a hash."},
    {"hvals", 2, RO, 1, 1, 1, cmd_hash_hvals, "hash", "2.0.0", "Returns all values in a hash."},
    {"hgetall", 2, RO, 1, 1, 1, cmd_hash_hgetall, "hash", "2.0.0", "Returns all fields and values in a hash."},
    {"hrandfield", -2, RO, 1, 1, 1, cmd_hash_hrandfield, "hash", "6.2.0", "Returns one or more random fields from a hash."},
    {"hscan", -3, RO, 1, 1, 1, cmd_hash_hscan, "hash", "2.8.0", "Iterates over fields and values of a hash."},
    {"lpush", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_list_lpush, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist."},
    {"rpush", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_list_rpush, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist."},
    {"lpushx", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_list_lpushx, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists."},
    {"rpushx", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_list_rpushx, "list", "2.2.0", "Appends an element to a list only when the list exists."},
    {"lpop", -2, W | F, 1, 1, 1, cmd_list_lpop, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."},
    {"rpop", -2, W | F, 1, 1, 1, cmd_list_rpop, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."},
    {"llen", 2, RO | F, 1, 1, 1, cmd_list_llen, "list", "1.0.0", "Returns the length of a list."},
    {"lindex", 3, RO, 1, 1, 1, cmd_list_lindex, "list", "1.0.0", "Returns an element from a list by its index."},
    {"lset", 4, W | CMD_DENYOOM, 1, 1, 1, cmd_list_lset, "list", "1.0.0", "Sets the value of an element in a list by its index."},
    {"lrange", 4, RO, 1, 1, 1, cmd_list_lrange, "list", "1.0.0", "Returns a range of elements from a list."},
    {"ltrim", 4, W, 1, 1, 1, cmd_list_ltrim, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."},
    {"lrem", 4, W, 1, 1, 1, cmd_list_lrem, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed."},
    {"linsert", 5, W | CMD_DENYOOM, 1, 1, 1, cmd_list_linsert, "list", "2.2.0", "Inserts an element before or after another element in a list."},
    {"lpos", -3, RO, 1, 1, 1, cmd_list_lpos, "list", "6.0.6", "Returns the index of matching elements in a list."},
    {"lmove", 5, W | CMD_DENYOOM, 1, 2, 1, cmd_list_lmove, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."},
    {"rpoplpush", 3, W | CMD_DENYOOM, 1, 2, 1, cmd_list_rpoplpush, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."},
    {"blpop", -3, W | CMD_NOSCRIPT, 1, -2, 1, cmd_list_blpop, "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."},
    {"brpop", -3, W | CMD_NOSCRIPT, 1, -2, 1, cmd_list_brpop, "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."},
    {"blmove", 6, W | CMD_DENYOOM | CMD_NOSCRIPT, 1, 2, 1, cmd_list_blmove, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."},
    {"brpoplpush", 4, W | CMD_DENYOOM | CMD_NOSCRIPT, 1, 2, 1, cmd_list_brpoplpush, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."},
    {"lmpop", -4, W, 1, 0, 0, cmd_list_lmpop, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped."},
    {"blmpop", -5, W, 2, 0, 0, cmd_list_blmpop, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."},
    {"sadd", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_set_sadd, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist."},
    {"srem", -3, W | F, 1, 1, 1, cmd_set_srem, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed."},
    {"smembers", 2, RO, 1, 1, 1, cmd_set_smembers, "set", "1.0.0", "Returns all members of a set."},
    {"scard", 2, RO | F, 1, 1, 1, cmd_set_scard, "set", "1.0.0", "Returns the number of members in a set."},
    {"sismember", 3, RO | F, 1, 1, 1, cmd_set_sismember, "set", "1.0.0", "Determines whether a member belongs to a set."},
    {"smismember", -3, RO | F, 1, 1, 1, cmd_set_smismember, "set", "6.2.0", "Determines whether multiple members belong to a set."},
    {"spop", -2, W | F, 1, 1, 1, cmd_set_spop, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."},
    {"srandmember", -2, RO, 1, 1, 1, cmd_set_srandmember, "set", "1.0.0", "Get one or multiple random members from a set"},
    {"sscan", -3, RO, 1, 1, 1, cmd_set_sscan, "set", "2.8.0", "Iterates over members of a set."},
    {"sinter", -2, RO, 1, -1, 1, cmd_set_sinter, "set", "1.0.0", "Returns the intersect of multiple sets."},
    {"sunion", -2, RO, 1, -1, 1, cmd_set_sunion, "set", "1.0.0", "Returns the union of multiple sets."},
    {"sdiff", -2, RO, 1, -1, 1, cmd_set_sdiff, "set", "1.0.0", "Returns the difference of multiple sets."},
    {"sinterstore", -3, W | CMD_DENYOOM, 1, -1, 1, cmd_set_sinterstore, "set", "1.0.0", "Stores the intersect of multiple sets in a key."},
    {"sunionstore", -3, W | CMD_DENYOOM, 1, -1, 1, cmd_set_sunionstore, "set", "1.0.0", "Stores the union of multiple sets in a key."},
    {"sdiffstore", -3, W | CMD_DENYOOM, 1, -1, 1, cmd_set_sdiffstore, "set", "1.0.0", "Stores the difference of multiple sets in a key."},
    {"sintercard", -3, RO, 1, 0, 0, cmd_set_sintercard, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets."},
    {"smove", 4, W | F, 1, 2, 1, cmd_set_smove, "set", "1.0.0", "Moves a member from one set to another."},
    {"zadd", -4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_zset_zadd, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."},
    {"zincrby", 4, W | F | CMD_DENYOOM, 1, 1, 1, cmd_zset_zincrby, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set."},
    {"zrem", -3, W | F, 1, 1, 1, cmd_zset_zrem, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."},
    {"zscore", 3, RO | F, 1, 1, 1, cmd_zset_zscore, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set."},
    {"zmscore", -3, RO | F, 1, 1, 1, cmd_zset_zmscore, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set."},
    {"zcard", 2, RO | F, 1, 1, 1, cmd_zset_zcard, "sorted-set", "1.2.0", "Returns the number of members in a sorted set."},
    {"zrank", 3, RO | F, 1, 1, 1, cmd_zset_zrank, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores."},
    {"zrevrank", 3, RO | F, 1, 1, 1, cmd_zset_zrevrank, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores."},
    {"zrange", -4, RO, 1, 1, 1, cmd_zset_zrange, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes."},
    {"zrangestore", -5, W | CMD_DENYOOM, 1, 2, 1, cmd_zset_zrangestore, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key."},
    {"zrevrange", -4, RO, 1, 1, 1, cmd_zset_zrevrange, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order."},
    {"zrangebyscore", -4, RO, 1, 1, 1, cmd_zset_zrangebyscore, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores."},
    {"zrevrangebyscore", -4, RO, 1, 1, 1, cmd_zset_zrevrangebyscore, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order."},
    {"zrangebylex", -4, RO, 1, 1, 1, cmd_zset_zrangebylex, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range."},
    {"zrevrangebylex", -4, RO, 1, 1, 1, cmd_zset_zrevrangebylex, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order."},
    {"zcount", 4, RO | F, 1, 1, 1, cmd_zset_zcount, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range."},
    {"zlexcount", 4, RO | F, 1, 1, 1, cmd_zset_zlexcount, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range."},
    {"zremrangebyrank", 4, W, 1, 1, 1, cmd_zset_zremrangebyrank, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."},
    {"zremrangebyscore", 4, W, 1, 1, 1, cmd_zset_zremrangebyscore, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."},
    {"zremrangebylex", 4, W, 1, 1, 1, cmd_zset_zremrangebylex, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."},
    {"zpopmin", -2, W | F, 1, 1, 1, cmd_zset_zpopmin, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."},
    {"zpopmax", -2, W | F, 1, 1, 1, cmd_zset_zpopmax, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."},
    {"bzpopmin", -3, W | F | CMD_NOSCRIPT, 1, -2, 1, cmd_zset_bzpopmin, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."},
    {"bzpopmax", -3, W | F | CMD_NOSCRIPT, 1, -2, 1, cmd_zset_bzpopmax, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."},
    {"zmpop", -4, W, 1, 0, 0, cmd_zset_zmpop, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."},
    {"bzmpop", -5, W, 2, 0, 0, cmd_zset_bzmpop, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."},
    {"zrandmember", -2, RO, 1, 1, 1, cmd_zset_zrandmember, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set."},
    {"zscan", -3, RO, 1, 1, 1, cmd_zset_zscan, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set."},
    {"xadd", -5, W | F | CMD_DENYOOM, 1, 1, 1, cmd_stream_xadd, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist."},
    {"xtrim", -4, W, 1, 1, 1, cmd_stream_xtrim, "stream", "5.0.0", "Deletes messages from the beginning of a stream."},
    {"xlen", 2, RO | F, 1, 1, 1, cmd_stream_xlen, "stream", "5.0.0", "Return the number of messages in a stream."},
    {"xrange", -4, RO, 1, 1, 1, cmd_stream_xrange, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs."},
    {"xrevrange", -4, RO, 1, 1, 1, cmd_stream_xrevrange, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order."},
    {"xdel", -3, W | F, 1, 1, 1, cmd_stream_xdel, "stream", "5.0.0", "Returns the number of messages after removing them from a stream."},
    {"xsetid", -3, W | F | CMD_DENYOOM, 1, 1, 1, cmd_stream_xsetid, "stream", "5.0.0", "An internal command for replicating stream values."},
    {"xread", -4, RO, 1, 0, -1, cmd_stream_xread, "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise."},
    {"xinfo", -2, RO, 2, 2, 1, cmd_stream_xinfo, "stream", "5.0.0", "A container for stream introspection commands."},
    {"xgroup", -2, W, 2, 2, 1, cmd_stream_xgroup, "stream", "5.0.0", "A container for consumer groups commands."},
    {"xreadgroup", -7, W, 1, 0, -2, cmd_stream_xreadgroup, "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise."},
    {"xack", -4, W | F, 1, 1, 1, cmd_stream_xack, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."},
    {"xpending", -3, RO, 1, 1, 1, cmd_stream_xpending, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list."},
    {"xclaim", -6, W | F, 1, 1, 1, cmd_stream_xclaim, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."},
    {"xautoclaim", -6, W | F, 1, 1, 1, cmd_stream_xautoclaim, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."},
    {"zunion", -3, RO, 1, 0, 0, cmd_zset_zunion, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets."},
    {"zinter", -3, RO, 1, 0, 0, cmd_zset_zinter, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets."},
    {"zdiff", -3, RO, 1, 0, 0, cmd_zset_zdiff, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets."},
    {"zunionstore", -4, W | CMD_DENYOOM, 1, -1, 1, cmd_zset_zunionstore, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key."},
    {"zinterstore", -4, W | CMD_DENYOOM, 1, -1, 1, cmd_zset_zinterstore, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key."},
    {"zdiffstore", -4, W | CMD_DENYOOM, 1, -1, 1, cmd_zset_zdiffstore, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key."},
    {"zintercard", -3, RO, 1, 0, 0, cmd_zset_zintercard, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets."},
    {"type", 2, RO | KS | F, 1, 1, 1, cmd_keys_type, "generic", "1.0.0", "Determines the type of value stored at a key."},
    {"scan", -2, RO | KS | DB, 0, 0, 0, cmd_keys_scan, "generic", "2.8.0", "Iterates over the key names in the database."},
    {"sort", -2, W | DB | CMD_DENYOOM, 1, 1, 1, cmd_sort_sort, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result."},
    {"sort_ro", -2, RO | DB, 1, 1, 1, cmd_sort_ro, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set."},
    {"keys", 2, RO | KS | DB, 0, 0, 0, cmd_keys_keys, "generic", "1.0.0", "Returns all key names that match a pattern."},
    {"randomkey", 1, RO | KS | DB, 0, 0, 0, cmd_keys_randomkey, "generic", "1.0.0", "Returns a random key name from the database."},
    /* pub/sub (pubsub.c): channels are not keys here, so they take no locks */
    {"subscribe", -2, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_subscribe, "pubsub", "2.0.0", "Listens for messages published to channels."},
    {"unsubscribe", -1, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_unsubscribe, "pubsub", "2.0.0", "Stops listening to messages posted to channels."},
    {"psubscribe", -2, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_psubscribe, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns."},
    {"punsubscribe", -1, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_punsubscribe, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns."},
    {"ssubscribe", -2, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_ssubscribe, "pubsub", "7.0.0", "Listens for messages published to shard channels."},
    {"sunsubscribe", -1, CMD_NOSCRIPT | LD, 0, 0, 0, pubsub_cmd_sunsubscribe, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels."},
    {"publish", 3, F | LD, 0, 0, 0, pubsub_cmd_publish, "pubsub", "2.0.0", "Posts a message to a channel."},
    {"spublish", 3, F | LD, 0, 0, 0, pubsub_cmd_spublish, "pubsub", "7.0.0", "Post a message to a shard channel"},
    {"pubsub", -2, LD, 0, 0, 0, pubsub_cmd_pubsub, "pubsub", "2.8.0", "A container for Pub/Sub commands."},
    {"rename", 3, W | KS, 1, 2, 1, cmd_keys_rename, "generic", "1.0.0", "Renames a key and overwrites the destination."},
    {"renamenx", 3, W | KS | F, 1, 2, 1, cmd_keys_renamenx, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist."},
    {"copy", -3, W | KS | CMD_DENYOOM, 1, 2, 1, cmd_keys_copy, "generic", "6.2.0", "Copies the value of a key to a new key."},
    {"move", 3, W | KS | F, 1, 1, 1, cmd_keys_move, "generic", "1.0.0", "Moves a key to another database."},
    {"swapdb", 3, W | KS | F, 0, 0, 0, cmd_keys_swapdb, "server", "4.0.0", "Swaps two Redis databases."},
    {"dump", 2, RO | KS, 1, 1, 1, cmd_keys_dump, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key."},
    {"restore", -4, W | KS | CMD_DENYOOM, 1, 1, 1, cmd_keys_restore, "generic", "2.6.0", "Creates a key from the serialized representation of a value."},
    {"object", -2, RO | KS | LH, 2, 2, 1, cmd_keys_object, "generic", "2.2.3", "A container for object introspection commands."},
    {"memory", -2, RO | LH, 2, 2, 1, cmd_keys_memory, "server", "4.0.0", "A container for memory diagnostics commands."},
    {"wait", 3, 0, 0, 0, 0, cmd_keys_wait, "generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."},
};
/* clang-format on */

#define CMD_COUNT    (sizeof(cmds) / sizeof(cmds[0]))
#define CMD_HASH_CAP 512 /* power of two, > 2 * CMD_COUNT */

static const struct cmd_def *cmd_hash[CMD_HASH_CAP];

_Static_assert(CMD_HASH_CAP > 2 * (sizeof(cmds) / sizeof(cmds[0])), "command hash too small");

static uint32_t cmd_name_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)tolower((unsigned char)p[i]);
        h *= 16777619u;
    }
    return h;
}

int cmd_init(void)
{
    memset(cmd_hash, 0, sizeof(cmd_hash));
    for (size_t i = 0; i < CMD_COUNT; i++) {
        uint32_t h = cmd_name_hash(cmds[i].name, strlen(cmds[i].name)) & (CMD_HASH_CAP - 1);
        while (cmd_hash[h])
            h = (h + 1) & (CMD_HASH_CAP - 1);
        cmd_hash[h] = &cmds[i];
    }
    return 0;
}

const struct cmd_def *cmd_table(size_t *n)
{
    *n = CMD_COUNT;
    return cmds;
}

static const struct cmd_def *cmd_lookup(const char *p, size_t n)
{
    uint32_t h = cmd_name_hash(p, n) & (CMD_HASH_CAP - 1);
    while (cmd_hash[h]) {
        const struct cmd_def *d = cmd_hash[h];
        if (strlen(d->name) == n && strncasecmp(d->name, p, n) == 0)
            return d;
        h = (h + 1) & (CMD_HASH_CAP - 1);
    }
    return NULL;
}

const struct cmd_def *cmd_find(const char *name, size_t len)
{
    return cmd_lookup(name, len);
}

int cmd_arg_is(const struct resp_arg *a, const char *s)
{
    size_t n = strlen(s);
    return a->len == n && strncasecmp(a->ptr, s, n) == 0;
}

int cmd_parse_ll(const char *p, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return -1;
    size_t i = 0;
    int neg = 0;
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return -1;
    }
    if (p[i] == '0' && n > i + 1)
        return -1;
    if (p[i] == '0' && neg)
        return -1;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return -1;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return -1;
        *out = (long long)v;
    }
    return 0;
}

int cmd_arg_ll(const struct resp_arg *a, long long *out)
{
    return cmd_parse_ll(a->ptr, a->len, out);
}

int cmd_parse_ld(const char *p, size_t n, long double *out)
{
    char buf[5120];
    if (n == 0 || n >= sizeof(buf) || isspace((unsigned char)p[0]))
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    /* end must be at the last byte: a NUL inside the argument stops strtold early and
     * would leave "1\0junk" read as 1 (Redis: not a valid float). */
    if (end != buf + n || (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) ||
        isnan(v))
        return -1;
    *out = v;
    return 0;
}

int cmd_format_ld(char *buf, size_t len, long double v)
{
    /* Redis: %.17Lf then strip trailing zeros (and the dot). */
    int n = snprintf(buf, len, "%.17Lf", v);
    if (n <= 0 || (size_t)n >= len)
        return snprintf(buf, len, "%.17Lg", v);
    if (strchr(buf, '.')) {
        while (n > 0 && buf[n - 1] == '0')
            n--;
        if (n > 0 && buf[n - 1] == '.')
            n--;
        buf[n] = '\0';
    }
    if (strcmp(buf, "-0") == 0) {
        buf[0] = '0';
        buf[1] = '\0';
        n = 1;
    }
    return n;
}

void cmd_wrong_args(struct req *r)
{
    reply_errorf(r, "ERR wrong number of arguments for '%s' command",
                 r->cmd ? r->cmd->name : "unknown");
}

int cmd_expire_arg(struct req *r, const struct resp_arg *a, uint64_t unit_ms, int abs,
                   const char *name, uint64_t *out_ms)
{
    long long v;
    if (cmd_arg_ll(a, &v) < 0) {
        reply_error(r, ERR_NOT_INT);
        return -1;
    }
    if (v <= 0 || (unit_ms > 1 && v > LLONG_MAX / (long long)unit_ms)) {
        reply_errorf(r, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    uint64_t ms = (uint64_t)v * unit_ms;
    if (!abs) {
        uint64_t now = server_unix_ms();
        if (ms > (uint64_t)LLONG_MAX - now) {
            reply_errorf(r, "ERR invalid expire time in '%s' command", name);
            return -1;
        }
        ms += now;
    }
    if (ms > LS_EXPIRE_MAX) { /* the engine keeps 44 bits of ms (year 2527); never cut */
        reply_errorf(r, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    *out_ms = ms;
    return 0;
}

struct ls_engine *cmd_engine(const struct req *r)
{
    return r->c->srv->eng;
}

void cmd_write_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc == 0 || rc == LS_ENOTFOUND) { /* ENOTFOUND: an already-expired put deleted */
        if (r->step == CMD_REPLY_OK)
            reply_ok(r);
        else if (r->step == CMD_REPLY_NUM)
            reply_int(r, r->num);
        else
            reply_tmp(r);
    } else {
        reply_engine_error(r, rc);
    }
    req_done(r);
}

void cmd_put(struct req *r, const struct resp_arg *key, const void *v, size_t n, uint64_t expire_ms,
             uint32_t flags, enum cmd_reply_mode mode)
{
    cmd_put_typed(r, key, v, n, expire_ms, flags, 0, mode);
}

void cmd_put_typed(struct req *r, const struct resp_arg *key, const void *v, size_t n,
                   uint64_t expire_ms, uint32_t flags, uint8_t vtype, enum cmd_reply_mode mode)
{
    struct ls_write_opts o = {.expire_ms = expire_ms, .flags = flags, .vtype = vtype};
    r->step = mode;
    if (n > r->c->srv->cfg.max_value_size) {
        pubsub_put_submitted(r, key, 0);
        reply_error(r, ERR_TOO_BIG);
        req_done(r);
        return;
    }
    int rc = park_put(r, r->db, key, v, n, &o, cmd_write_cb);
    pubsub_put_submitted(r, key, rc >= 0); /* the keyspace events armed for this write */
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    req_unlock(r);
}

void cmd_get(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    mget_one(r, r->db, key, cb);
}

/* by record tag (5 and 6 are the large form's internal pages and anchors) */
static const char *const type_names[] = {"string", "hash", "list", "set",
                                         "zset",   NULL,   NULL,   "stream"};

const char *cmd_type_name(uint8_t vtype)
{
    return vtype < sizeof(type_names) / sizeof(type_names[0]) && type_names[vtype]
               ? type_names[vtype]
               : "none";
}

int cmd_type_parse(const struct resp_arg *a)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (type_names[i] && cmd_arg_is(a, type_names[i]))
            return (int)i;
    return -1;
}

void cmd_tmp_bulk(struct req *r, const void *p, size_t n)
{
    pbuf_reset(&r->tmp);
    int rc = p ? resp_w_bulk(&r->tmp, p, n) : resp_w_null(&r->tmp, r->proto);
    reply_check(r, rc);
}

static void cmd_unknown(struct req *r)
{
    char args[160];
    size_t n = 0;
    args[0] = '\0';
    for (uint32_t i = 1; i < r->argc && n < 128; i++) {
        int w = snprintf(args + n, sizeof(args) - n, "'%.*s' ", (int)(128 - n), r->argv[i].ptr);
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= sizeof(args))
            n = sizeof(args) - 1;
    }
    reply_errorf(r, "ERR unknown command '%.128s', with args beginning with: %s", r->argv[0].ptr,
                 args);
}

uint32_t cmd_keys_find(const struct cmd_def *d, const struct resp_arg *argv, uint32_t argc,
                       uint32_t *first, uint32_t *step)
{
    *first = 0;
    *step = 1;
    if (d == NULL || d->first_key == 0 || (uint32_t)d->first_key >= argc)
        return 0;
    if (d->key_step < 0) { /* XREAD, XREADGROUP: the keys follow STREAMS */
        uint32_t n;
        return cmd_stream_keys(argv, argc, d->key_step == -2, first, &n) ? n : 0;
    }
    if (d->key_step == 0) { /* argv[first_key] is numkeys, the keys follow it */
        long long n;
        uint32_t at = (uint32_t)d->first_key;
        if (cmd_arg_ll(&argv[at], &n) < 0 || n < 1 || (uint64_t)n > argc - at - 1)
            return 0; /* the handler replies the error */
        *first = at + 1;
        return (uint32_t)n;
    }
    uint32_t last =
        d->last_key < 0 ? (uint32_t)((int64_t)argc + d->last_key) : (uint32_t)d->last_key;
    if (last >= argc)
        last = argc - 1;
    if (last < (uint32_t)d->first_key)
        return 0;
    *first = (uint32_t)d->first_key;
    *step = (uint32_t)d->key_step;
    return (last - *first) / *step + 1;
}

/* Copies the arguments (and the key list) into a new request. */
static struct req *cmd_req_new(struct conn *c, const struct cmd_def *d, struct resp_arg *argv,
                               uint32_t argc)
{
    uint32_t kfirst, kstep, nkeys = cmd_keys_find(d, argv, argc, &kfirst, &kstep);
    size_t bytes = (size_t)(argc + nkeys) * sizeof(struct resp_arg);
    for (uint32_t i = 0; i < argc; i++)
        bytes += argv[i].len + 1;
    void *mem;
    struct req *r = conn_req_new(c, bytes, &mem);
    if (r == NULL)
        return NULL;
    r->argv = mem;
    r->keys = r->argv + argc;
    char *p = (char *)(r->keys + nkeys);
    for (uint32_t i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        p[argv[i].len] = '\0';
        r->argv[i].ptr = p;
        r->argv[i].len = argv[i].len;
        p += argv[i].len + 1;
    }
    r->argc = argc;
    r->cmd = d;
    for (uint32_t k = 0; k < nkeys; k++)
        r->keys[k] = r->argv[kfirst + k * kstep];
    r->nkeys = nkeys;
    return r;
}

static int cmd_check(struct req *r)
{
    const struct cmd_def *d = r->cmd;
    struct conn *c = r->c;
    if (d == NULL) {
        cmd_unknown(r);
        return -1;
    }
    if ((d->arity > 0 && r->argc != (uint32_t)d->arity) ||
        (d->arity < 0 && r->argc < (uint32_t)-d->arity) ||
        (d->key_step == 2 && (r->argc - 1) % 2 != 0)) {
        cmd_wrong_args(r);
        return -1;
    }
    if (!c->authed && !(d->flags & CMD_NOAUTH)) {
        reply_error(r, ERR_NOAUTH);
        return -1;
    }
    if (pubsub_check_mode(r) < 0) /* RESP2 subscribed mode */
        return -1;
    for (uint32_t i = 0; i < r->nkeys; i++) {
        if (r->keys[i].len > c->srv->cfg.max_key_size) {
            reply_error(r, ERR_KEY_TOO_BIG);
            return -1;
        }
    }
    return 0;
}

/* What the command declares to the concurrency rule besides its keys. */
static uint8_t cmd_lock_flags(const struct cmd_def *d)
{
    uint8_t lk = (d->flags & CMD_WRITE) ? CMDLOCK_KEYS_WRITE : 0;
    if (d->flags & CMD_WHOLE_DB)
        lk |= (d->flags & CMD_WRITE) ? CMDLOCK_DB_WRITE : CMDLOCK_DB_READ;
    if (d->flags & CMD_ALL_DBS)
        lk |= CMDLOCK_ALL_DBS;
    return lk;
}

/* Refuses r before it runs with error err (its code included). Inside MULTI a refused
 * command makes EXEC abort; a refused EXEC ends the transaction, as Redis's
 * execCommandAbort: "EXECABORT Transaction discarded because of: <err>". */
static void cmd_reject(struct req *r, const char *err)
{
    struct conn *c = r->c;
    if (r->cmd) /* Redis 7.0 counts every refusal before the call (rejectCommand) */
        cmd_server_stat_rejected(r->cmd->name);
    if (r->cmd && r->cmd->proc == cmd_txn_exec && txn_in_multi(c)) {
        txn_conn_reset(c);
        reply_errorf(r, "EXECABORT Transaction discarded because of: %s", err);
    } else {
        txn_flag_error(c);
        reply_error(r, err);
    }
    req_done(r);
}

/* Whether r may run while the engine is being opened (s->eng NULL, loading.c): Redis 7.0's
 * "loading" commands, which touch no key. */
static int cmd_loading_ok(const struct req *r)
{
    const struct cmd_def *d = r->cmd;
    if (d->flags & CMD_LOADING)
        return 1;
    return (d->flags & CMD_LOADING_HELP) && r->argc == 2 && cmd_arg_is(&r->argv[1], "help");
}

static void cmd_dispatch(struct conn *c, struct resp_arg *argv, uint32_t argc)
{
    struct server *s = c->srv;
    const struct cmd_def *d = cmd_lookup(argv[0].ptr, argv[0].len);
    struct req *r = cmd_req_new(c, d, argv, argc);
    if (r == NULL) {
        log_warning("out of memory for a request of client id=%llu", (unsigned long long)c->id);
        conn_close(c, "out of memory");
        return;
    }
    s->stats.commands_processed++;
    c->last_cmd = d ? d->name : "unknown";
    if (cmd_check(r) < 0) {
        txn_flag_error(c); /* in MULTI: EXEC answers -EXECABORT */
        if (d)
            cmd_server_stat_rejected(d->name);
        req_done(r);
        return;
    }
    const char *busy = script_busy_error(s, r);
    if (busy) {
        cmd_reject(r, busy);
        return;
    }
    if (c->monitor && ((d->flags & (CMD_WRITE | CMD_READONLY | CMD_EVAL)) ||
                       d->proc == pubsub_cmd_publish || d->proc == pubsub_cmd_spublish)) {
        /* Redis: a monitor is a replica, kept off the keyspace */
        txn_flag_error(c);
        cmd_server_stat_rejected(d->name);
        reply_error(r, "ERR Replica can't interact with the keyspace");
        req_done(r);
        return;
    }
    if (cmd_cluster_crossslot(r)) {
        cmd_reject(r, "CROSSSLOT Keys in request don't hash to the same slot");
        return;
    }
    if (server_oom(s) && ((d->flags & CMD_DENYOOM) || (txn_in_multi(c) && !(d->flags & CMD_TXN)))) {
        cmd_reject(r, ERR_OOM); /* as Redis: what may add data is refused, and queueing */
        return;
    }
    if (s->eng == NULL && !cmd_loading_ok(r)) { /* before queueing: EXEC then aborts */
        cmd_reject(r, ERR_LOADING);
        return;
    }
    cmd_dispatch_run(r, argv, argc);
}

void cmd_child_started(struct req *k)
{
    monitor_feed(k);
    tracking_remember(k);
}

void cmd_dispatch_run(struct req *r, const struct resp_arg *argv, uint32_t argc)
{
    struct conn *c = r->c;
    const struct cmd_def *d = r->cmd;
    struct resp_arg name;
    if (argv == NULL) { /* only a command a pause held: no strlen per command otherwise */
        name = (struct resp_arg){(char *)d->name, strlen(d->name)};
        argv = &name;
        argc = 1;
    }
    if (pause_hold(r)) /* CLIENT PAUSE: runs (or is queued) once the pause ends */
        return;
    if (txn_in_multi(c) && !(d->flags & CMD_TXN)) {
        txn_queue(r);
        return;
    }
    if (d->proc == cmd_server_client)
        cmd_server_client_read(r); /* CLIENT REPLY applies in command order */
    tracking_command_read(r);      /* CLIENT CACHING: this command's */
    tracking_remember(r);          /* before its read: no later write can be missed */
    if (d->flags & CMD_EVAL)
        monitor_feed(r); /* before the commands it runs, as Redis */
    else
        r->mon_feed = 1; /* once it completed (req_done) */
    r->exec = d->proc;
    if (d->flags & CMD_TXN) { /* txn.c: run now, claiming nothing (EXEC: its own claim) */
        r->nkeys = 0;
        if (d->proc == cmd_txn_exec && txn_exec_prepare(r) < 0) {
            conn_close(c, "out of memory");
            req_done(r);
            return;
        }
    } else if (d->flags & CMD_EVAL) {
        script_prepare(r);
    } else {
        r->lk = cmd_lock_flags(d);
        if (cmd_keys_declare(r) < 0) { /* MOVE, COPY ... DB, SWAPDB: two databases' items */
            req_done(r);
            return;
        }
    }
    /* Pipelined commands run back to back: the clock read that ended the previous one
     * starts this one (its parse, well under a microsecond, is then counted in it), one
     * clock_gettime per command instead of two. */
    uint64_t t0 = c->clk_us ? c->clk_us : cmd_server_stat_begin();
    cmdlock_start(r); /* r may be freed by now; argv (the connection's) is still valid */
    uint64_t t1 = cmd_server_stat_begin();
    c->clk_us = t1;
    cmd_server_stat_end_at(c, d->name, t0, t1);
    cmd_slowlog_note(c, d, argv, argc, t1 > t0 ? t1 - t0 : 0);
}

/* Argument slots a connection keeps between commands (16 bytes each). */
#define CMD_ARGV_KEEP 1024

static int cmd_grow_argv(struct conn *c, uint32_t want)
{
    if (want > c->srv->cfg.max_multibulk_len)
        return -1;
    uint32_t cap = c->argv_cap ? c->argv_cap : 16;
    while (cap < want)
        cap *= 2;
    struct resp_arg *a = realloc(c->argv, (size_t)cap * sizeof(*a));
    if (a == NULL)
        return -1;
    c->argv = a;
    c->argv_cap = cap;
    return 0;
}

/* Pipelined GETs: when the unparsed input starts with two or more whole GETs (RESP
 * arrays: an inline command may be unescaped in place, so it is never parsed twice), their
 * keys are looked up now and their cached records asked of the CPU, so that the cache
 * misses of the lookups overlap (ls_prefetch_key). A hint only: the commands are parsed
 * and run afterwards as always. Under redis-benchmark GET -P 16 the record cache slot and
 * the record were two dependent misses per GET. */
void cmd_prefetch(struct conn *c)
{
    const struct config *cfg = &c->srv->cfg;
    struct resp_limits lim = {3, cfg->proto_max_bulk_len, (uint32_t)cfg->max_inline_len, 0};
    struct resp_arg argv[3], keys[LS_PREFETCH_MAX];
    struct resp_parse_out po;
    uint32_t n = 0;
    size_t pos = c->in_pos;

    if (!c->authed || c->srv->eng == NULL || pos < c->pf_end) /* loading; or done for these */
        return;
    while (n < LS_PREFETCH_MAX && pos < c->in.len && c->in.data[pos] == '*') {
        if (resp_parse(c->in.data + pos, c->in.len - pos, &lim, argv, 3, &po) != RESP_DONE ||
            po.argc != 2 || argv[0].len != 3 || strncasecmp(argv[0].ptr, "get", 3) != 0)
            break;
        keys[n++] = argv[1];
        pos += po.consumed;
    }
    c->pf_end = pos; /* a connection paused after each command looks at each GET once */
    if (n < 2)
        return;
    struct ls_prefetch pf = {.n = 0};
    for (uint32_t i = 0; i < n; i++)
        ls_prefetch_key(c->srv->eng, c->db, keys[i].ptr, keys[i].len, &pf);
    ls_prefetch_records(c->srv->eng, &pf);
}

int cmd_process_one(struct conn *c)
{
    const struct config *cfg = &c->srv->cfg;
    struct resp_limits lim = {(uint32_t)cfg->max_multibulk_len, cfg->proto_max_bulk_len,
                              (uint32_t)cfg->max_inline_len, !c->authed};
    struct resp_parse_out po;
    enum resp_status st;
    if (c->argv == NULL && cmd_grow_argv(c, 16) < 0)
        return -1;
    for (;;) {
        memset(&po, 0, sizeof(po));
        st = resp_parse(c->in.data + c->in_pos, c->in.len - c->in_pos, &lim, c->argv, c->argv_cap,
                        &po);
        if (st == RESP_MORE && po.need == 0 && po.argc > c->argv_cap) {
            if (cmd_grow_argv(c, po.argc) < 0) {
                st = RESP_ERROR;
                po.err = "Protocol error: invalid multibulk length";
                break;
            }
            continue;
        }
        break;
    }
    if (st == RESP_MORE) {
        c->in_need = po.need; /* conn.c reads at least this much before parsing again */
        return 0;
    }
    if (st == RESP_ERROR) {
        struct req *r = conn_req_new(c, 0, NULL);
        if (r) {
            reply_errorf(r, "ERR %s", po.err ? po.err : "Protocol error");
            req_done(r);
        }
        log_verbose("client id=%llu addr=%s: %s", (unsigned long long)c->id, c->addr,
                    po.err ? po.err : "protocol error");
        c->close_after_reply = 1;
        c->in_pos = c->in.len;
        return -1;
    }
    c->in_pos += po.consumed;
    if (po.argc == 0)
        return 1;
    cmd_dispatch(c, c->argv, po.argc);
    if (c->argv_cap > CMD_ARGV_KEEP) { /* do not keep a huge command's scratch */
        free(c->argv);
        c->argv = NULL;
        c->argv_cap = 0;
    }
    return 1;
}
