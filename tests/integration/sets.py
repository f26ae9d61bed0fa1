"""sets.py - Redis sets (issue 15), run by sets.sh.

Replies as Redis 7.0 gives them: SADD/SREM counts, SMEMBERS of an intset in ascending
order and OBJECT ENCODING intset until a non-integer member (then hashtable, for good),
SISMEMBER/SMISMEMBER/SCARD, SPOP and SRANDMEMBER with counts, SMOVE (both sets, the
source deleted when emptied, WRONGTYPE for a string destination), SINTER/SUNION/SDIFF
and their STORE forms (an empty result deletes the destination), SINTERCARD with LIMIT,
SSCAN with MATCH, WRONGTYPE both ways; logstord only: the sets survive SIGKILL.
"""
import signal

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
