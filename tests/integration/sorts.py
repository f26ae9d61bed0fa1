"""sorts.py - SORT and SORT_RO (issue 15), run by sorts.sh; TARGET=redis runs it all
against redis-server 7.0 (every expectation below is Redis's reply).

1. Numeric and ALPHA sorts of lists, sets and sorted sets, ASC/DESC, LIMIT (negative,
   past the end), BY a constant (the native order; a set is sorted ALPHA when STOREd or in
   a script), BY weights in strings and hash fields (missing ones count 0, or first with
   ALPHA; another type counts as missing), GET patterns (#, strings, hash fields, missing:
   nil), STORE (a list, replacing any type, an empty result deleting the destination and
   touching WATCH), SORT_RO.
2. Errors: syntax, LIMIT not an integer, STORE in SORT_RO, a string key (WRONGTYPE), an
   element that is not a number, COMMAND GETKEYS with STORE.
3. Inside MULTI/EXEC and EVAL; logstord only: a large list with BY and GET keys read from
   the device after a restart.
"""
import signal

import itlib
from itlib import Resp, check, section

itlib.begin("sorts", time_limit_s=120)
srv = itlib.Server("redis", extra=[] if itlib.IS_REAL else ["--durability", "sync"]).start()
c = Resp(srv.port)


def flat(reply):
    return [x[1] for x in reply[1]] if reply[0] == "*" else reply


def b(*xs):
    return [x if x is None else x.encode() for x in xs]


section("sorting")
c.call("FLUSHALL")
c.call("RPUSH", "l", "3", "1", "2", "10", "-1.5")
check(flat(c.call("SORT", "l")) == b("-1.5", "1", "2", "3", "10"), "numeric, ascending")
check(flat(c.call("SORT", "l", "DESC")) == b("10", "3", "2", "1", "-1.5"), "DESC")
check(flat(c.call("SORT", "l", "ALPHA")) == b("-1.5", "1", "10", "2", "3"), "ALPHA: by bytes")
check(flat(c.call("SORT", "l", "LIMIT", "1", "2")) == b("1", "2"), "LIMIT 1 2")
check(flat(c.call("SORT", "l", "LIMIT", "-5", "2")) == b("-1.5", "1"), "a negative offset is 0")
check(flat(c.call("SORT", "l", "LIMIT", "3", "-1")) == b("3", "10"), "a negative count: to the end")
check(flat(c.call("SORT", "l", "LIMIT", "9", "2")) == [], "an offset past the end: empty")
check(flat(c.call("SORT", "l", "BY", "nosort")) == b("3", "1", "2", "10", "-1.5"),
      "BY a constant: the list's order")
check(flat(c.call("SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2")) == b("10", "2"),
      "BY a constant, DESC, LIMIT: the list reversed, then the range")
check(flat(c.call("SORT", "nokey")) == [], "an absent key: empty")
c.call("SADD", "s", "b", "a", "c")
check(flat(c.call("SORT", "s", "ALPHA")) == b("a", "b", "c"), "a set, ALPHA")
check(flat(c.call("SORT", "s", "ALPHA", "DESC")) == b("c", "b", "a"), "a set, ALPHA DESC")
c.call("ZADD", "z", "1", "x", "2", "y", "0", "w")
check(flat(c.call("SORT", "z", "BY", "nosort")) == b("w", "x", "y"), "a sorted set: by score")
check(flat(c.call("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2")) == b("y", "x"),
      "a sorted set, DESC, LIMIT")
check(flat(c.call("SORT", "z", "ALPHA", "DESC")) == b("y", "x", "w"), "a sorted set, ALPHA")

section("BY and GET")
for i, w in (("1", "30"), ("2", "10"), ("3", "20"), ("10", "5")):
    c.call("SET", "w_" + i, w)
    c.call("HSET", "h_" + i, "f", str(100 - int(w)), "name", "n" + i)
check(flat(c.call("SORT", "l", "BY", "w_*")) == b("-1.5", "10", "2", "3", "1"),
      "BY string weights (-1.5 has none: 0)")
check(flat(c.call("SORT", "l", "BY", "h_*->f", "DESC")) == b("10", "2", "3", "1", "-1.5"),
      "BY hash fields, DESC")
check(flat(c.call("SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->name", "GET", "nokey_*",
                  "LIMIT", "1", "2")) == b("10", "n10", None, "2", "n2", None),
      "GET #, a hash field, a missing key: nil")
check(flat(c.call("SORT", "l", "BY", "w_*", "ALPHA")) == b("-1.5", "2", "3", "1", "10"),
      "BY with ALPHA: weights by bytes, a missing one first")
check(flat(c.call("SORT", "l", "GET", "w_*")) == b(None, "30", "10", "20", "5"),
      "GET without BY: in the elements' order")
check(flat(c.call("SORT", "l", "BY", "h_*", "LIMIT", "0", "2")) == b("-1.5", "1"),
      "BY a key of another type: missing (0, ties by the element)")
check(flat(c.call("SORT", "l", "GET", "fixed")) == [None] * 5, "GET a pattern without *: nil")
c.call("SET", "w_3", "notanumber")
check(c.call("SORT", "l", "BY", "w_*") ==
      ("-", "ERR One or more scores can't be converted into double"), "a weight not a number")
c.call("SET", "w_3", "20")

section("STORE")
check(c.call("SORT", "l", "STORE", "dst") == (":", 5), "STORE: the count")
check(flat(c.call("LRANGE", "dst", "0", "-1")) == b("-1.5", "1", "2", "3", "10"),
      "STORE: a list of the result")
check(c.call("TYPE", "dst") == ("+", "list"), "TYPE list")
c.call("SET", "str", "x")
check(c.call("SORT", "l", "GET", "nokey_*", "LIMIT", "0", "2", "STORE", "str") == (":", 2)
      and flat(c.call("LRANGE", "str", "0", "-1")) == [b"", b""],
      "STORE replaces a string; a missing GET stores an empty string")
check(c.call("SORT", "s", "BY", "nosort", "STORE", "s2") == (":", 3)
      and flat(c.call("LRANGE", "s2", "0", "-1")) == b("a", "b", "c"),
      "a set BY a constant STOREd is sorted ALPHA")
c2 = Resp(srv.port)
c2.call("RPUSH", "foo", "bar")
c2.call("WATCH", "foo")
check(c.call("SORT", "emptylist", "STORE", "foo") == (":", 0)
      and c.call("EXISTS", "foo") == (":", 0), "an empty result deletes the destination")
c2.call("MULTI")
c2.call("PING")
check(c2.call("EXEC") == ("*", None), "... and fails EXEC on a WATCH of it")
c2.close()
check(flat(c.call("SORT_RO", "l", "LIMIT", "0", "1")) == b("-1.5"), "SORT_RO")

section("errors")
check(c.call("SORT", "l", "BOGUS") == ("-", "ERR syntax error"), "an unknown option")
check(c.call("SORT", "l", "LIMIT", "1") == ("-", "ERR syntax error"), "LIMIT with one argument")
check(c.call("SORT", "l", "LIMIT", "a", "1") ==
      ("-", "ERR value is not an integer or out of range"), "LIMIT not an integer")
check(c.call("SORT_RO", "l", "STORE", "x") == ("-", "ERR syntax error"), "STORE in SORT_RO")
c.call("SET", "strkey", "x")
check(c.call("SORT", "strkey")[1].startswith("WRONGTYPE"), "a string: WRONGTYPE")
c.call("RPUSH", "words", "a", "b")
check(c.call("SORT", "words") ==
      ("-", "ERR One or more scores can't be converted into double"), "a word sorted as numbers")
check(flat(c.call("COMMAND", "GETKEYS", "SORT", "abc", "STORE", "x", "STORE", "def")) ==
      b("abc", "def"), "COMMAND GETKEYS: the key and the last STORE")
check(c.call("SORT") == ("-", "ERR wrong number of arguments for 'sort' command"), "arity")
c.call("RPUSH", "rl", "c", "a", "b")
c.call("MSET", "rw_a", "3", "rw_b", "2", "rw_c", "1")
check(flat(c.call("SORT", "rl", "BY", "nosort", "BY", "rw_*")) == b("c", "a", "b"),
      "a constant BY, then a pattern: still not sorted")
big = "1" + "0" * 150
c.call("RPUSH", "ln", "5", big, "2")
check(flat(c.call("SORT", "ln")) == b("2", "5", big), "a 151-digit number sorts as a number")
c.call("RPUSH", "bl", "a" * 70000, "b")
check(flat(c.call("SORT", "bl", "BY", "w_*", "ALPHA")) == b("a" * 70000, "b") and
      flat(c.call("SORT", "bl", "ALPHA", "GET", "w_*")) == [None, None],
      "a pattern naming a key too long for any: missing, not an error")
check(c.call("COMMAND", "GETKEYSANDFLAGS", "SORT", "a", "STORE", "b") ==
      ("*", [("*", [("$", b"a"), ("*", [("+", "RO"), ("+", "access")])]),
             ("*", [("$", b"b"), ("*", [("+", "OW"), ("+", "update")])])]),
      "GETKEYSANDFLAGS: the key read, the STORE key overwritten")

section("MULTI/EXEC and scripts")
c.call("MULTI")
c.call("RPUSH", "tl", "2", "1")
c.call("SORT", "tl")
r = c.call("EXEC")
check(r[0] == "*" and flat(r[1][1]) == b("1", "2"), "SORT in EXEC sees the list pushed before it",
      r)
check(flat(c.call("EVAL", "return redis.call('sort', KEYS[1], 'by', 'nosort')", "1", "s")) ==
      b("a", "b", "c"), "a set BY a constant in a script: sorted ALPHA")
check(flat(c.call("EVAL", "return redis.call('sort', KEYS[1], 'by', 'w_*', 'get', 'h_*->name')",
                  "1", "l")) == b(None, "n10", "n2", "n3", "n1"),
      "BY and GET in a script (a missing GET: false in Lua, nil in the reply)")

if not itlib.IS_REAL:
    section("a large list, BY and GET read from the device after a restart")
    n = 3000
    cmds = [("RPUSH", "big") + tuple(str(i) for i in range(j, min(j + 500, n)))
            for j in range(0, n, 500)]
    for cmd in cmds:
        c.call(*cmd)
    for j in range(0, n, 500):
        c.send(b"".join(itlib.encode("SET", "bw_%d" % i, str((i * 7919) % n)) for i in range(j, min(j + 500, n))))
        for _ in range(j, min(j + 500, n)):
            c.read()
        c.send(b"".join(itlib.encode("HSET", "bh_%d" % i, "v", "val%d" % i) for i in range(j, min(j + 500, n))))
        for _ in range(j, min(j + 500, n)):
            c.read()
    want = sorted(range(n), key=lambda i: ((i * 7919) % n, str(i)))
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    c = Resp(srv.port)
    # the keys are read from the device now: SORT_RO in MULTI must see the state before the
    # SET queued after it (its pattern reads come after its first read)
    c.call("MULTI")
    c.call("SORT_RO", "big", "BY", "bw_*", "GET", "bh_*->v", "LIMIT", "0", "3")
    c.call("HSET", "bh_%d" % want[0], "v", "NEW")
    r = c.call("EXEC")
    check(r[0] == "*" and flat(r[1][0]) == [b"val%d" % i for i in want[:3]],
          "SORT_RO in MULTI does not see the write queued after it", r)
    c.call("HSET", "bh_%d" % want[0], "v", "val%d" % want[0])
    got = flat(c.call("SORT", "big", "BY", "bw_*", "GET", "bh_*->v"))
    check(got == [b"val%d" % i for i in want], "3000 elements BY string keys GET hash fields, "
          "after a SIGKILL", got[:4])
    check(c.call("SORT", "big", "BY", "bw_*", "LIMIT", "10", "5", "STORE", "bigdst") == (":", 5)
          and flat(c.call("LRANGE", "bigdst", "0", "-1")) == [str(i).encode() for i in want[10:15]],
          "LIMIT and STORE of it")
c.close()
itlib.finish()
