"""sets.py - Redis sets (issue 15), run by sets.sh.

Replies as Redis 7.0 gives them: SADD/SREM counts, SMEMBERS of an intset in ascending
order and OBJECT ENCODING intset until a non-integer member (then hashtable, for good),
SISMEMBER/SMISMEMBER/SCARD, SPOP and SRANDMEMBER with counts, SMOVE (both sets, the
source deleted when emptied, WRONGTYPE for a string destination), SINTER/SUNION/SDIFF
and their STORE forms (an empty result deletes the destination), SINTERCARD with LIMIT,
SSCAN with MATCH, WRONGTYPE both ways; logstord only: the sets survive SIGKILL.
"""
import signal
import time

import itlib
from itlib import Resp, check, section

itlib.begin("sets", time_limit_s=100)
extra = [] if itlib.IS_REAL else ["--durability", "sync"]
srv = itlib.Server("redis", extra=extra).start()
c = Resp(srv.port)
WT = ("-", "WRONGTYPE Operation against a key holding the wrong kind of value")


def members(k):
    return [x[1] for x in c.call("SMEMBERS", k)[1]]


section("replies")
c.call("FLUSHALL")
check(c.call("SADD", "i", "30", "-2", "7", "7") == (":", 3), "SADD counts the new members")
check(members("i") == [b"-2", b"7", b"30"], "an intset answers in ascending order", members("i"))
check(c.call("OBJECT", "ENCODING", "i") == ("$", b"intset"), "OBJECT ENCODING intset")
c.call("SADD", "i", "x")
check(c.call("OBJECT", "ENCODING", "i") == ("$", b"hashtable"), "a string member: hashtable")
c.call("SREM", "i", "x")
check(c.call("OBJECT", "ENCODING", "i") == ("$", b"hashtable"), "and it stays so")
check(c.call("SREM", "i", "7", "nope") == (":", 1), "SREM counts the removed")
check(c.call("SCARD", "i") == (":", 2) and c.call("SCARD", "nokey") == (":", 0), "SCARD")
check(c.call("SISMEMBER", "i", "30") == (":", 1) and c.call("SISMEMBER", "i", "7") == (":", 0),
      "SISMEMBER")
check([x[1] for x in c.call("SMISMEMBER", "i", "30", "7", "-2")[1]] == [1, 0, 1], "SMISMEMBER")
c.call("SADD", "a", "1", "2", "3", "4")
c.call("SADD", "b", "3", "4", "5")
check(sorted(x[1] for x in c.call("SINTER", "a", "b")[1]) == [b"3", b"4"], "SINTER")
check(sorted(x[1] for x in c.call("SUNION", "a", "b", "nokey")[1]) ==
      [b"1", b"2", b"3", b"4", b"5"], "SUNION with an absent key")
check(sorted(x[1] for x in c.call("SDIFF", "a", "b")[1]) == [b"1", b"2"], "SDIFF")
check(c.call("SINTER", "a", "nokey") == ("*", []), "SINTER with an absent key: empty")
check(c.call("SINTERSTORE", "dst", "a", "b") == (":", 2) and sorted(members("dst")) == [b"3", b"4"],
      "SINTERSTORE")
check(c.call("SDIFFSTORE", "dst", "a", "a") == (":", 0) and c.call("EXISTS", "dst") == (":", 0),
      "an empty STORE result deletes the destination")
check(c.call("SINTERCARD", "2", "a", "b") == (":", 2), "SINTERCARD")
check(c.call("SINTERCARD", "2", "a", "b", "LIMIT", "1") == (":", 1), "SINTERCARD LIMIT")
check(c.call("SMOVE", "a", "b", "1") == (":", 1) and c.call("SISMEMBER", "b", "1") == (":", 1) and
      c.call("SISMEMBER", "a", "1") == (":", 0), "SMOVE")
check(c.call("SMOVE", "a", "b", "nope") == (":", 0), "SMOVE of a non-member: 0")
c.call("SET", "str", "v")
check(c.call("SMOVE", "a", "str", "2") == WT and c.call("SISMEMBER", "a", "2") == (":", 1),
      "SMOVE onto a string: WRONGTYPE, nothing moves")
check(c.call("SADD", "str", "x") == WT and c.call("SINTER", "a", "str") == WT,
      "a set command on a string: WRONGTYPE")
check(c.call("GET", "a") == WT and c.call("TYPE", "a") == ("+", "set"), "GET of a set, TYPE")
c.call("SADD", "one", "m")
check(c.call("SMOVE", "one", "b", "m") == (":", 1) and c.call("EXISTS", "one") == (":", 0),
      "SMOVE of the last member deletes the source")
c.call("SADD", "p", *["m%d" % i for i in range(50)])
got = [x[1] for x in c.call("SPOP", "p", "10")[1]]
check(len(got) == 10 and len(set(got)) == 10 and c.call("SCARD", "p") == (":", 40),
      "SPOP 10: ten distinct, removed")
check(len(c.call("SRANDMEMBER", "p", "-100")[1]) == 100, "SRANDMEMBER -100: with repeats")
check(len(c.call("SRANDMEMBER", "p", "100")[1]) == 40, "SRANDMEMBER 100: each once")
r = c.call("SSCAN", "p", "0", "MATCH", "m1*", "COUNT", "1000")
check(r[1][0] == ("$", b"0") and all(x[1].startswith(b"m1") for x in r[1][1][1]), "SSCAN MATCH")
check(c.call("SPOP", "nokey") == ("$", None), "SPOP of an absent key: nil")

section("commands naming 100,000s of members take time linear in them")
# Each argument was looked for by scanning the members before it: SADD of 200,000 took
# 34 s, SREM of 100,000 25 s, HSET of 200,000 fields 46 s, HMGET of 100,000 55 s, ZMSCORE
# of 100,000 15 s (the server blocked all along);
# SUNION/SINTER/SDIFF scanned their result for every member read. A table of the members
# by their bytes makes each well under a second; the bound leaves room for a slow machine.
big = ["m%d" % i for i in range(200000)]
for what, args, want in (
        ("SADD of 200,000", ["SADD", "big1"] + big, 200000),
        ("SADD of 200,000, half new", ["SADD", "big2"] + big[100000:] + ["n%d" % i for i in range(100000)], 200000),
        ("SREM of 100,000", ["SREM", "big1"] + big[::2], 100000),
        ("SMISMEMBER of 100,000", ["SMISMEMBER", "big1"] + big[:100000], None),
        ("SUNIONSTORE", ["SUNIONSTORE", "bigu", "big1", "big2"], 250000),
        ("SINTERSTORE", ["SINTERSTORE", "bigi", "big1", "big2"], 50000),
        ("SDIFFSTORE", ["SDIFFSTORE", "bigd", "big2", "big1"], 150000),
        ("HSET of 200,000 fields", ["HSET", "bigh"] + [x for m in big for x in (m, "v")], 200000),
        ("HDEL of 100,000 fields", ["HDEL", "bigh"] + big[::2], 100000),
        ("HMGET of 100,000 fields", ["HMGET", "bigh"] + big[:100000], None),
        ("ZADD of 200,000", ["ZADD", "bigz"] + [x for i, m in enumerate(big) for x in (str(i), m)],
         200000),
        ("ZMSCORE of 100,000", ["ZMSCORE", "bigz"] + big[:100000], None)):
    t0 = time.time()
    got = c.call(*args)
    took = time.time() - t0
    ok = got[0] == "*" and len(got[1]) == 100000 if want is None else got == (":", want)
    check(ok and took < 10, "%s: %s in %.2f s (< 10 s)" % (what, str(got)[:30], took))
c.call("DEL", "big1", "big2", "bigu", "bigi", "bigd", "bigh", "bigz")

if not itlib.IS_REAL:
    section("SIGKILL")
    want = {k: sorted(members(k)) for k in ("a", "b", "p", "i")}
    c.close()
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    c = Resp(srv.port)
    check({k: sorted(members(k)) for k in want} == want, "every set back after SIGKILL")
    check(members("i") == [b"-2", b"30"], "in its order")
c.close()
check(srv.alive(), "server still running")
itlib.finish()
