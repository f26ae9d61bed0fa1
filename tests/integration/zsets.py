"""zsets.py - Redis sorted sets (issue 15), run by zsets.sh.

Replies as Redis 7.0 gives them: ZADD and its options (NX XX GT LT CH INCR) and errors,
ZINCRBY, ZSCORE/ZMSCORE, ZRANK/ZREVRANK, the ZRANGE family (ranks, BYSCORE with exclusive
and infinite bounds, BYLEX, REV, LIMIT, WITHSCORES in RESP2 and RESP3), ZRANGESTORE,
ZCOUNT/ZLEXCOUNT, ZREMRANGEBY*, ZPOPMIN/ZPOPMAX, ZMPOP, BZPOPMIN woken by a ZADD,
ZUNIONSTORE with WEIGHTS and AGGREGATE over a sorted set and a set, ZINTER, ZDIFF,
ZINTERCARD, OBJECT ENCODING listpack then skiplist, WRONGTYPE; logstord only: a
leaderboard survives SIGKILL.
"""
import signal
import time

import itlib
from itlib import Resp, check, section

itlib.begin("zsets", time_limit_s=100)
extra = [] if itlib.IS_REAL else ["--durability", "sync"]
srv = itlib.Server("redis", extra=extra).start()
c = Resp(srv.port)
WT = ("-", "WRONGTYPE Operation against a key holding the wrong kind of value")


def vals(reply):
    return [x[1] for x in reply[1]]


section("replies")
c.call("FLUSHALL")
check(c.call("ZADD", "z", "1", "a", "2", "b", "3", "c") == (":", 3), "ZADD: 3 added")
check(c.call("ZADD", "z", "CH", "5", "a", "4", "d") == (":", 2), "ZADD CH: added + changed")
check(c.call("ZADD", "z", "NX", "9", "a") == (":", 0) and c.call("ZSCORE", "z", "a") == ("$", b"5"),
      "ZADD NX leaves an existing member")
check(c.call("ZADD", "z", "XX", "9", "new") == (":", 0) and c.call("ZSCORE", "z", "new")[1] is None,
      "ZADD XX adds nothing")
check(c.call("ZADD", "z", "GT", "CH", "1", "a") == (":", 0) and
      c.call("ZADD", "z", "GT", "CH", "6", "a") == (":", 1), "ZADD GT")
check(c.call("ZADD", "z", "INCR", "1.5", "b") == ("$", b"3.5"), "ZADD INCR")
check(c.call("ZADD", "z", "NX", "INCR", "1", "b") == ("$", None), "ZADD NX INCR on a member: nil")
check(c.call("ZADD", "z", "NX", "XX", "1", "q")[1].startswith("ERR XX and NX"), "NX with XX")
check(c.call("ZADD", "z", "x", "q") == ("-", "ERR value is not a valid float"), "a bad score")
check(c.call("ZADD", "z", "nan", "q") == ("-", "ERR value is not a valid float"), "NaN")
check(c.call("ZINCRBY", "z", "-0.5", "b") == ("$", b"3"), "ZINCRBY")
# z: c 3, b 3, d 4, a 6
check(vals(c.call("ZRANGE", "z", "0", "-1")) == [b"b", b"c", b"d", b"a"],
      "ZRANGE: by score, then member")
check(vals(c.call("ZRANGE", "z", "0", "1", "WITHSCORES")) == [b"b", b"3", b"c", b"3"],
      "WITHSCORES (RESP2: flat)")
check(vals(c.call("ZREVRANGE", "z", "0", "0")) == [b"a"], "ZREVRANGE")
check(vals(c.call("ZRANGEBYSCORE", "z", "(3", "+inf")) == [b"d", b"a"], "ZRANGEBYSCORE (3 +inf")
check(vals(c.call("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2")) ==
      [b"d", b"c"], "ZRANGE BYSCORE REV LIMIT")
check(c.call("ZRANGEBYSCORE", "z", "x", "1") == ("-", "ERR min or max is not a float"),
      "a bad score bound")
c.call("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d")
check(vals(c.call("ZRANGEBYLEX", "lex", "(a", "[c")) == [b"b", b"c"], "ZRANGEBYLEX")
check(c.call("ZLEXCOUNT", "lex", "-", "+") == (":", 4), "ZLEXCOUNT - +")
check(c.call("ZRANGEBYLEX", "lex", "a", "c") == ("-", "ERR min or max not valid string range item"),
      "a bad lex bound")
check(c.call("ZCOUNT", "z", "3", "4") == (":", 3), "ZCOUNT")
check(c.call("ZRANK", "z", "d") == (":", 2) and c.call("ZREVRANK", "z", "d") == (":", 1) and
      c.call("ZRANK", "z", "zz") == ("$", None), "ZRANK, ZREVRANK")
check([x[1] for x in c.call("ZMSCORE", "z", "a", "zz")[1]] == [b"6", None], "ZMSCORE")
check(c.call("ZCARD", "z") == (":", 4), "ZCARD")
check(c.call("ZRANGESTORE", "dst", "z", "0", "1") == (":", 2) and
      vals(c.call("ZRANGE", "dst", "0", "-1")) == [b"b", b"c"], "ZRANGESTORE")
check(c.call("ZREMRANGEBYSCORE", "dst", "-inf", "+inf") == (":", 2) and
      c.call("EXISTS", "dst") == (":", 0), "ZREMRANGEBYSCORE empties and deletes")
check(vals(c.call("ZPOPMIN", "z")) == [b"b", b"3"], "ZPOPMIN")
check(vals(c.call("ZPOPMAX", "z", "2")) == [b"a", b"6", b"d", b"4"], "ZPOPMAX 2")
r = c.call("ZMPOP", "2", "nokey", "z", "MIN")
check(r == ("*", [("$", b"z"), ("*", [("*", [("$", b"c"), ("$", b"3")])])]), "ZMPOP", r)
check(c.call("EXISTS", "z") == (":", 0), "popping the last member deletes the key")
c.call("ZADD", "s1", "1", "x", "2", "y")
c.call("SADD", "plain", "y", "w")
check(c.call("ZUNIONSTORE", "u", "2", "s1", "plain", "WEIGHTS", "2", "10") == (":", 3) and
      vals(c.call("ZRANGE", "u", "0", "-1", "WITHSCORES")) == [b"x", b"2", b"w", b"10", b"y", b"14"],
      "ZUNIONSTORE of a sorted set and a set (scores 1) with WEIGHTS")
check(vals(c.call("ZINTER", "2", "s1", "plain", "AGGREGATE", "MAX", "WITHSCORES")) == [b"y", b"2"],
      "ZINTER AGGREGATE MAX")
check(vals(c.call("ZDIFF", "2", "s1", "plain")) == [b"x"], "ZDIFF")
check(c.call("ZINTERCARD", "2", "s1", "plain") == (":", 1), "ZINTERCARD")
check(c.call("OBJECT", "ENCODING", "s1") == ("$", b"listpack"), "OBJECT ENCODING listpack")
c.call("ZADD", "big", *[x for i in range(129) for x in (str(i), "m%d" % i)])
check(c.call("OBJECT", "ENCODING", "big") == ("$", b"skiplist"), "129 members: skiplist")
c.call("SET", "str", "v")
check(c.call("ZADD", "str", "1", "a") == WT and c.call("GET", "s1") == WT, "WRONGTYPE both ways")
check(c.call("TYPE", "s1") == ("+", "zset"), "TYPE zset")
r3 = Resp(srv.port)
r3.call("HELLO", "3")
r = r3.call("ZRANGE", "s1", "0", "-1", "WITHSCORES")
check(r[0] == "*" and r[1][0][0] == "*" and r[1][0][1][1][0] == ",",
      "RESP3 WITHSCORES: [member, double] pairs", r)
r3.close()

section("a score of -0 (Redis: 0 in a listpack, kept as -0 in a skiplist; replies as computed)")
c.call("ZADD", "nz", "0", "a", "1", "b", "-0", "c")
check(vals(c.call("ZRANGE", "nz", "0", "-1", "WITHSCORES")) == [b"a", b"0", b"c", b"0", b"b", b"1"],
      "listpack: -0 stored as 0")
check(c.call("ZADD", "nz3", "INCR", "-0", "c") == ("$", b"-0") and
      c.call("ZSCORE", "nz3", "c") == ("$", b"0"), "ZADD INCR -0 replies -0, stores 0")
c.call("ZUNIONSTORE", "nzd", "1", "nz", "WEIGHTS", "-1")
check(vals(c.call("ZRANGE", "nzd", "0", "-1", "WITHSCORES")) == [b"b", b"-1", b"a", b"0", b"c", b"0"],
      "ZUNIONSTORE WEIGHTS -1: 0 times -1 stored as 0")
c.call("ZADD", "nzbig", *sum((["%d" % i, "m%d" % i] for i in range(200)), []))
c.call("ZADD", "nzbig", "-0", "x")
check(c.call("ZSCORE", "nzbig", "x") == ("$", b"-0"), "skiplist: -0 kept")

section("BZPOPMIN")
w = Resp(srv.port)
w.send(itlib.encode("BZPOPMIN", "bz", "5"))
time.sleep(0.2)
c.call("ZADD", "bz", "7", "late")
check(w.read() == ("*", [("$", b"bz"), ("$", b"late"), ("$", b"7")]), "woken by ZADD")
check(c.call("BZPOPMIN", "bz", "0.1") == ("*", None), "a timeout: null array")
w.close()

if not itlib.IS_REAL:
    section("SIGKILL")
    c.call("ZADD", "board", *[x for i in range(500) for x in (str(i * 3 % 101), "p%d" % i)])
    want = vals(c.call("ZRANGE", "board", "0", "-1", "WITHSCORES"))
    c.close()
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    c = Resp(srv.port)
    check(vals(c.call("ZRANGE", "board", "0", "-1", "WITHSCORES")) == want,
          "the leaderboard is back after SIGKILL, in order")
c.close()
check(srv.alive(), "server still running")
itlib.finish()
