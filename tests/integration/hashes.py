"""hashes.py - Redis hashes (issue 15), run by hashes.sh.

1. Every hash command's replies as Redis 7.0 gives them (HSET counts new fields, HDEL the
   removed ones, the last field's removal deletes the key, HINCRBY/HINCRBYFLOAT and their
   errors, HRANDFIELD with counts, HSCAN with MATCH), in RESP2 and RESP3 (HGETALL a map).
2. Types: a string command on a hash and a hash command on a string answer WRONGTYPE and
   change nothing; MGET of a hash gives nil; TYPE, OBJECT ENCODING (listpack until
   hash-max-listpack-entries/-value are passed, then hashtable), SCAN ... TYPE hash; SET
   over a hash replaces it; EXPIRE/PERSIST keep it a hash.
3. MULTI/EXEC and EVAL run hash commands (a hash written inside EXEC is read back inside
   it), RENAME/COPY/MOVE keep the type, DUMP/RESTORE round-trips it, a keyspace
   subscriber gets hset/hdel/del.
4. logstord only: a hash over max_value_size is refused and unchanged; memcached get of a
   hash is a miss; every hash survives a clean restart and a SIGKILL (sync durability),
   with its fields, TTL and type.
"""
import signal
import time

import itlib
from itlib import Mc, Resp, check, section

itlib.begin("hashes", time_limit_s=150)
extra = [] if itlib.IS_REAL else ["--max_value_size", "65536", "--durability", "sync"]
srv = itlib.Server("redis", extra=extra).start()
c = Resp(srv.port)
WT = ("-", "WRONGTYPE Operation against a key holding the wrong kind of value")


def flat(reply):
    return [x[1] for x in reply[1]]


def as_dict(reply):
    v = flat(reply)
    return {v[i]: v[i + 1] for i in range(0, len(v), 2)}


section("replies")
c.call("FLUSHALL")
check(c.call("HSET", "h", "a", "1", "b", "2") == (":", 2), "HSET of two new fields: 2")
check(c.call("HSET", "h", "a", "10", "c", "3") == (":", 1), "HSET: one new, one updated: 1")
check(c.call("HSET", "h", "a") == ("-", "ERR wrong number of arguments for 'hset' command"),
      "HSET with a field but no value")
check(c.call("HMSET", "h", "d", "4") == ("+", "OK"), "HMSET: +OK")
check(c.call("HSETNX", "h", "a", "x") == (":", 0), "HSETNX of an existing field: 0")
check(c.call("HSETNX", "h", "e", "5") == (":", 1), "HSETNX of a new field: 1")
check(c.call("HGET", "h", "a") == ("$", b"10"), "HGET")
check(c.call("HGET", "h", "zz") == ("$", None), "HGET of an absent field: nil")
check(c.call("HGET", "nokey", "a") == ("$", None), "HGET of an absent key: nil")
check(flat(c.call("HMGET", "h", "a", "zz", "e")) == [b"10", None, b"5"], "HMGET")
check(c.call("HLEN", "h") == (":", 5) and c.call("HLEN", "nokey") == (":", 0), "HLEN")
check(c.call("HEXISTS", "h", "c") == (":", 1) and c.call("HEXISTS", "h", "q") == (":", 0),
      "HEXISTS")
check(c.call("HSTRLEN", "h", "a") == (":", 2) and c.call("HSTRLEN", "h", "q") == (":", 0),
      "HSTRLEN")
check(as_dict(c.call("HGETALL", "h")) == {b"a": b"10", b"b": b"2", b"c": b"3", b"d": b"4",
                                          b"e": b"5"}, "HGETALL")
check(sorted(flat(c.call("HKEYS", "h"))) == [b"a", b"b", b"c", b"d", b"e"], "HKEYS")
check(sorted(flat(c.call("HVALS", "h"))) == [b"10", b"2", b"3", b"4", b"5"], "HVALS")
check(c.call("HINCRBY", "h", "a", "5") == (":", 15), "HINCRBY")
check(c.call("HINCRBY", "h", "new", "-3") == (":", -3), "HINCRBY of a new field starts at 0")
check(c.call("HINCRBY", "h", "a", "x") == ("-", "ERR value is not an integer or out of range"),
      "HINCRBY by a non-integer")
c.call("HSET", "h", "s", "abc")
check(c.call("HINCRBY", "h", "s", "1") == ("-", "ERR hash value is not an integer"),
      "HINCRBY of a non-integer field")
c.call("HSET", "h", "max", str(2 ** 63 - 1))
check(c.call("HINCRBY", "h", "max", "1") == ("-", "ERR increment or decrement would overflow"),
      "HINCRBY overflow")
check(c.call("HINCRBYFLOAT", "h", "f", "1.5") == ("$", b"1.5"), "HINCRBYFLOAT")
check(c.call("HINCRBYFLOAT", "h", "f", "0.25") == ("$", b"1.75"), "HINCRBYFLOAT again")
check(c.call("HINCRBYFLOAT", "h", "s", "1") == ("-", "ERR hash value is not a float"),
      "HINCRBYFLOAT of a non-number")
check(c.call("HINCRBYFLOAT", "h", "f", "inf") == ("-", "ERR value is NaN or Infinity"),
      "HINCRBYFLOAT by inf")
check(c.call("HDEL", "h", "a", "zz", "a") == (":", 1), "HDEL counts the fields removed")
check(c.call("HDEL", "nokey", "a") == (":", 0), "HDEL of an absent key: 0")
r = c.call("HRANDFIELD", "h")
check(r[0] == "$" and r[1] in as_dict(c.call("HGETALL", "h")), "HRANDFIELD: a field", r)
check(c.call("HRANDFIELD", "nokey") == ("$", None), "HRANDFIELD of an absent key: nil")
n = c.call("HLEN", "h")[1]
r = flat(c.call("HRANDFIELD", "h", "100"))
check(len(r) == n and len(set(r)) == n, "HRANDFIELD count > size: every field once", r)
r = flat(c.call("HRANDFIELD", "h", "-20"))
check(len(r) == 20, "HRANDFIELD negative count: that many, repeats allowed", len(r))
r = flat(c.call("HRANDFIELD", "h", "2", "WITHVALUES"))
check(len(r) == 4, "HRANDFIELD 2 WITHVALUES: two pairs", r)
check(c.call("HRANDFIELD", "h", "2", "nope") == ("-", "ERR syntax error"), "HRANDFIELD syntax")
r = c.call("HSCAN", "h", "0", "MATCH", "[bc]")
check(r[1][0] == ("$", b"0") and as_dict(("*", r[1][1][1])) == {b"b": b"2", b"c": b"3"},
      "HSCAN 0 MATCH [bc]: cursor 0 and the matching pairs", r)
check(c.call("HSCAN", "h", "x") == ("-", "ERR invalid cursor"), "HSCAN with a bad cursor")
c.call("HSET", "one", "f", "v")
check(c.call("HDEL", "one", "f") == (":", 1) and c.call("EXISTS", "one") == (":", 0),
      "removing the last field deletes the key")
r3 = Resp(srv.port)
r3.call("HELLO", "3")
r = r3.call("HGETALL", "h")
check(r[0] == "%", "RESP3: HGETALL is a map", r[0])
r3.close()

section("types")
c.call("SET", "str", "v")
check(c.call("HSET", "str", "a", "1") == WT, "HSET on a string: WRONGTYPE")
check(c.call("HGET", "str", "a") == WT, "HGET on a string: WRONGTYPE")
check(c.call("GET", "str") == ("$", b"v"), "the string is unchanged")
for cmd in (["GET", "h"], ["APPEND", "h", "x"], ["INCR", "h"], ["STRLEN", "h"],
            ["GETRANGE", "h", "0", "1"], ["SETRANGE", "h", "0", "x"], ["GETSET", "h", "x"],
            ["GETDEL", "h"], ["SETBIT", "h", "1", "1"], ["BITCOUNT", "h"], ["PFADD", "h", "x"],
            ["SET", "h", "x", "GET"]):
    check(c.call(*cmd) == WT, "%s on a hash: WRONGTYPE" % " ".join(cmd))
check(flat(c.call("MGET", "h", "str")) == [None, b"v"], "MGET: a hash is nil")
check(c.call("HLEN", "h") == (":", n), "the hash is unchanged")
check(c.call("TYPE", "h") == ("+", "hash") and c.call("TYPE", "str") == ("+", "string") and
      c.call("TYPE", "nokey") == ("+", "none"), "TYPE")
check(c.call("OBJECT", "ENCODING", "h") == ("$", b"listpack"), "OBJECT ENCODING: listpack")
c.call("HSET", "long", "f", "x" * 65)
check(c.call("OBJECT", "ENCODING", "long") == ("$", b"hashtable"),
      "a value over hash-max-listpack-value: hashtable")
c.call("HSET", "many", *[x for i in range(513) for x in ("f%d" % i, "v")])
check(c.call("OBJECT", "ENCODING", "many") == ("$", b"hashtable"),
      "513 fields (over hash-max-listpack-entries): hashtable")
c.call("HDEL", "many", *["f%d" % i for i in range(500)])
check(c.call("OBJECT", "ENCODING", "many") == ("$", b"hashtable"), "and it never converts back")
r = c.call("SCAN", "0", "TYPE", "hash", "COUNT", "1000")
check(sorted(flat(r[1][1])) == [b"h", b"long", b"many"], "SCAN TYPE hash", r)
r = c.call("SCAN", "0", "TYPE", "string", "COUNT", "1000")
check(flat(r[1][1]) == [b"str"], "SCAN TYPE string", r)
check(c.call("EXPIRE", "long", "100") == (":", 1) and c.call("TYPE", "long") == ("+", "hash") and
      c.call("HGET", "long", "f") == ("$", b"x" * 65), "EXPIRE keeps it a hash")
check(c.call("PERSIST", "long") == (":", 1) and c.call("TTL", "long") == (":", -1) and
      c.call("TYPE", "long") == ("+", "hash"), "PERSIST too")
c.call("SET", "many", "now a string")
check(c.call("TYPE", "many") == ("+", "string"), "SET over a hash replaces it")

section("transactions, scripts, moves, DUMP/RESTORE, keyspace events")
c.call("MULTI")
c.call("HSET", "tx", "a", "1")
c.call("HINCRBY", "tx", "a", "2")
c.call("HGETALL", "tx")
c.call("TYPE", "tx")
r = c.call("EXEC")
check(r == ("*", [(":", 1), (":", 3), ("*", [("$", b"a"), ("$", b"3")]), ("+", "hash")]),
      "EXEC: a hash written and read back inside the transaction", r)
r = c.call("EVAL", "redis.call('HSET', KEYS[1], 'x', ARGV[1]); "
           "return redis.call('HGET', KEYS[1], 'x')", "1", "sc", "42")
check(r == ("$", b"42"), "EVAL runs HSET and HGET", r)
r = c.call("EVAL", "return redis.pcall('HGET', KEYS[1], 'x')", "1", "str")
check(r[0] == "-" and "WRONGTYPE" in r[1], "a script's pcall gets WRONGTYPE", r)
check(c.call("RENAME", "sc", "sc2") == ("+", "OK") and c.call("TYPE", "sc2") == ("+", "hash") and
      c.call("HGET", "sc2", "x") == ("$", b"42"), "RENAME keeps the hash")
check(c.call("COPY", "sc2", "sc3") == (":", 1) and c.call("HGET", "sc3", "x") == ("$", b"42"),
      "COPY keeps it")
check(c.call("MOVE", "sc3", "3") == (":", 1), "MOVE to db 3")
c.call("SELECT", "3")
check(c.call("TYPE", "sc3") == ("+", "hash"), "it is a hash in db 3")
c.call("SELECT", "0")
d = c.call("DUMP", "h")
check(d[0] == "$" and d[1][0] in (4, 16), "DUMP of a hash: an RDB hash payload", d[1][:4])
check(c.call("RESTORE", "h2", "0", d[1]) == ("+", "OK"), "RESTORE")
check(as_dict(c.call("HGETALL", "h2")) == as_dict(c.call("HGETALL", "h")), "the same hash back")
if not itlib.IS_REAL:
    sub = Resp(srv.port)
    c.call("CONFIG", "SET", "notify-keyspace-events", "KEA")
    sub.call("SUBSCRIBE", "__keyevent@0__:hset", "__keyevent@0__:hdel", "__keyevent@0__:del")
    sub.read()  # the confirmations of the other two channels
    sub.read()
    c.call("HSET", "ev", "f", "v")
    c.call("HDEL", "ev", "f")
    got = [sub.read()[1][1][1] for _ in range(3)]
    check(got == [b"__keyevent@0__:hset", b"__keyevent@0__:hdel", b"__keyevent@0__:del"],
          "keyspace events hset, hdel, del", got)
    c.call("CONFIG", "SET", "notify-keyspace-events", "")
    sub.close()

if not itlib.IS_REAL:
    section("logstord: limits, memcached, restarts")
    r = c.call("HSET", "h", "big", "y" * 70000)
    check(r[0] == "-", "a hash over max_value_size is refused", r)
    check(c.call("HEXISTS", "h", "big") == (":", 0), "and unchanged")
    m = Mc(srv.mc_port)
    check(m.cmd("get h") == b"END", "memcached get of a hash: a miss")
    m.close()
    c.call("HSET", "ttlh", "a", "1")
    c.call("EXPIRE", "ttlh", "1000")
    want = {k: as_dict(c.call("HGETALL", k)) for k in ("h", "h2", "long", "tx", "sc2", "ttlh")}
    c.close()
    for how in ("SIGTERM", "SIGKILL"):
        srv.stop(sig=signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        srv.start()
        c = Resp(srv.port)
        got = {k: as_dict(c.call("HGETALL", k)) for k in want}
        check(got == want, "after %s every hash is back with its fields" % how)
        check(all(c.call("TYPE", k) == ("+", "hash") for k in want), "and is a hash")
        t = c.call("TTL", "ttlh")[1]
        check(990 <= t <= 1000, "and keeps its TTL", t)
        check(c.call("GET", "h") == WT, "and GET still answers WRONGTYPE")
        c.close()
        c = Resp(srv.port)
check(srv.alive(), "server still running")
itlib.finish()
