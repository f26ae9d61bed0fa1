"""lists.py - Redis lists and BLPOP & co. (issue 15), run by lists.sh.

1. Replies as Redis 7.0 gives them: pushes count, pops with and without a count (nil and
   null array on an absent key), LRANGE/LINDEX/LSET/LTRIM/LREM/LINSERT/LPOS, LMOVE between
   lists and onto itself, LMPOP, WRONGTYPE both ways, the last element's removal deletes
   the key, OBJECT ENCODING quicklist, TYPE list.
2. Blocking: BLPOP answers at once from a non-empty list, waits on an empty one and is
   woken by a push from another client (the element goes to the first waiter, in order),
   by a push inside MULTI/EXEC and by RENAME of a list onto its key; a timeout answers a
   null array; BLMOVE moves what arrives; inside MULTI a BLPOP does not block; CLIENT
   UNBLOCK ends a wait; a closed blocked client leaves no blocked_clients behind.
3. logstord only: a queue survives SIGKILL (sync durability): every acknowledged push and
   pop is reflected after the restart; a SIGTERM stops the server while a client is blocked
   with no timeout (it hung before).
"""
import signal
import threading
import time

import itlib
from itlib import Resp, check, section

itlib.begin("lists", time_limit_s=150)
extra = [] if itlib.IS_REAL else ["--durability", "sync"]
srv = itlib.Server("redis", extra=extra).start()
c = Resp(srv.port)
WT = ("-", "WRONGTYPE Operation against a key holding the wrong kind of value")


def flat(reply):
    return [x[1] for x in reply[1]]


def info_blocked():
    for ln in c.call("INFO", "clients")[1].decode().split("\r\n"):
        if ln.startswith("blocked_clients:"):
            return int(ln.split(":")[1])
    return -1


def wait_blocked(n, limit=5.0):
    t0 = time.time()
    while info_blocked() != n and time.time() - t0 < limit:
        time.sleep(0.01)
    return info_blocked() == n


section("replies")
c.call("FLUSHALL")
check(c.call("RPUSH", "l", "a", "b", "c") == (":", 3), "RPUSH: the new length")
check(c.call("LPUSH", "l", "x", "y") == (":", 5), "LPUSH")
check(flat(c.call("LRANGE", "l", "0", "-1")) == [b"y", b"x", b"a", b"b", b"c"],
      "LRANGE 0 -1: LPUSH x y puts y first")
check(c.call("LPUSHX", "nokey", "a") == (":", 0) and c.call("EXISTS", "nokey") == (":", 0),
      "LPUSHX of an absent key: 0, nothing made")
check(c.call("LLEN", "l") == (":", 5) and c.call("LLEN", "nokey") == (":", 0), "LLEN")
check(c.call("LINDEX", "l", "-1") == ("$", b"c") and c.call("LINDEX", "l", "9") == ("$", None),
      "LINDEX")
check(c.call("LSET", "l", "1", "X") == ("+", "OK") and c.call("LINDEX", "l", "1") == ("$", b"X"),
      "LSET")
check(c.call("LSET", "l", "9", "X") == ("-", "ERR index out of range"), "LSET out of range")
check(c.call("LSET", "nokey", "0", "X") == ("-", "ERR no such key"), "LSET of an absent key")
check(c.call("LINSERT", "l", "BEFORE", "a", "p") == (":", 6), "LINSERT BEFORE")
check(c.call("LINSERT", "l", "AFTER", "zz", "p") == (":", -1), "LINSERT without the pivot: -1")
check(c.call("LPOS", "l", "p") == (":", 2), "LPOS")
c.call("RPUSH", "l", "p")
check(flat(c.call("LPOS", "l", "p", "COUNT", "0")) == [2, 6], "LPOS COUNT 0: every match")
check(c.call("LPOS", "l", "p", "RANK", "-1") == (":", 6), "LPOS RANK -1")
check(c.call("LREM", "l", "0", "p") == (":", 2), "LREM 0: all")
check(c.call("LPOP", "l") == ("$", b"y") and c.call("RPOP", "l") == ("$", b"c"), "LPOP, RPOP")
check(flat(c.call("LPOP", "l", "2")) == [b"X", b"a"], "LPOP with a count")
check(c.call("LPOP", "nokey") == ("$", None), "LPOP of an absent key: nil")
check(c.call("LPOP", "nokey", "2") == ("*", None), "LPOP count of an absent key: null array")
check(c.call("LPOP", "l", "-1") == ("-", "ERR value is out of range, must be positive"),
      "LPOP negative count")
check(c.call("RPOP", "l") == ("$", b"b") and c.call("EXISTS", "l") == (":", 0),
      "popping the last element deletes the key")
c.call("RPUSH", "r", "1", "2", "3", "4", "5")
check(c.call("LTRIM", "r", "1", "-2") == ("+", "OK") and
      flat(c.call("LRANGE", "r", "0", "-1")) == [b"2", b"3", b"4"], "LTRIM")
check(c.call("LMOVE", "r", "r2", "LEFT", "RIGHT") == ("$", b"2") and
      flat(c.call("LRANGE", "r2", "0", "-1")) == [b"2"], "LMOVE to another list")
check(c.call("RPOPLPUSH", "r", "r") == ("$", b"4") and
      flat(c.call("LRANGE", "r", "0", "-1")) == [b"4", b"3"], "RPOPLPUSH onto itself rotates")
check(c.call("LMOVE", "nokey", "r", "LEFT", "LEFT") == ("$", None), "LMOVE from nothing: nil")
r = c.call("LMPOP", "2", "nokey", "r", "LEFT", "COUNT", "5")
check(r == ("*", [("$", b"r"), ("*", [("$", b"4"), ("$", b"3")])]), "LMPOP: the first non-empty",
      r)
check(c.call("LMPOP", "0", "r", "LEFT")[1].startswith("ERR numkeys"), "LMPOP numkeys 0")
c.call("SET", "s", "v")
check(c.call("LPUSH", "s", "a") == WT and c.call("LRANGE", "s", "0", "1") == WT,
      "a list command on a string: WRONGTYPE")
c.call("RPUSH", "q", "a")
check(c.call("GET", "q") == WT, "GET of a list: WRONGTYPE")
check(c.call("TYPE", "q") == ("+", "list") and
      c.call("OBJECT", "ENCODING", "q") == ("$", b"quicklist"), "TYPE list, OBJECT ENCODING")
check(c.call("RPOPLPUSH", "q", "s") == WT and c.call("LLEN", "q") == (":", 1),
      "RPOPLPUSH onto a string: WRONGTYPE, the element stays")

section("blocking")
c.call("DEL", "bq", "bq2")
check(c.call("RPUSH", "bq", "now") == (":", 1), "a list with an element")
check(c.call("BLPOP", "bq", "1") == ("*", [("$", b"bq"), ("$", b"now")]), "BLPOP answers at once")
t0 = time.time()
check(c.call("BLPOP", "bq", "0.2") == ("*", None), "BLPOP on an empty list: a null array at the timeout")
check(0.15 <= time.time() - t0 < 2.0, "after about the timeout", time.time() - t0)
w1, w2 = Resp(srv.port), Resp(srv.port)
# a blocked BLPOP whose key is written but not with an element (a string set and deleted
# again, four times a second) keeps the deadline of its first wait
t_sent = time.time()  # before the send: the server's 1 s cannot have begun earlier
w1.send(itlib.encode("BLPOP", "bqw", "1"))
check(wait_blocked(1), "BLPOP blocked with a timeout of 1 s")
t0 = time.time()
while time.time() - t0 < 2.5 and wait_blocked(1, 0.25):
    c.call("SET", "bqw", "x")
    c.call("DEL", "bqw")
    time.sleep(0.25)
got = w1.read()
check(got == ("*", None) and 0.9 < time.time() - t_sent < 2.0,
      "its timeout answers after ~1 s: wake-ups that bring nothing do not move it",
      (got, time.time() - t_sent))
w1.send(itlib.encode("BLPOP", "bq2", "bq", "5"))
time.sleep(0.05)
w2.send(itlib.encode("BRPOP", "bq", "5"))
check(wait_blocked(2), "two clients blocked (INFO blocked_clients)")
check(c.call("PING") == ("+", "PONG"), "the server serves others meanwhile")
c.call("RPUSH", "bq", "first", "second")
got1, got2 = w1.read(), w2.read()
check(got1 == ("*", [("$", b"bq"), ("$", b"first")]), "the first to block gets the first element",
      got1)
check(got2 == ("*", [("$", b"bq"), ("$", b"second")]), "the second gets the next", got2)
check(wait_blocked(0), "none blocked")
w1.send(itlib.encode("BLPOP", "bq", "5"))
check(wait_blocked(1), "blocked again")
c.call("MULTI")
c.call("LPUSH", "bq", "in-exec")
c.call("EXEC")
check(w1.read() == ("*", [("$", b"bq"), ("$", b"in-exec")]), "woken by a push inside EXEC")
w1.send(itlib.encode("BLPOP", "moved", "5"))
check(wait_blocked(1), "blocked on a key that does not exist")
c.call("RPUSH", "tmp", "m")
c.call("RENAME", "tmp", "moved")
check(w1.read() == ("*", [("$", b"moved"), ("$", b"m")]), "woken by RENAME of a list onto it")
w1.send(itlib.encode("BLMOVE", "src", "dst", "LEFT", "RIGHT", "5"))
check(wait_blocked(1), "BLMOVE blocked")
c.call("LPUSH", "src", "mv")
check(w1.read() == ("$", b"mv") and flat(c.call("LRANGE", "dst", "0", "-1")) == [b"mv"],
      "BLMOVE moves what arrives")
c.call("MULTI")
c.call("BLPOP", "empty", "0")
check(c.call("EXEC") == ("*", [("*", None)]), "inside MULTI a BLPOP does not block")
w1.send(itlib.encode("CLIENT", "ID"))
wid = w1.read()[1]
w1.send(itlib.encode("BLPOP", "empty", "0"))
check(wait_blocked(1), "blocked with no timeout")
check(c.call("CLIENT", "UNBLOCK", str(wid)) == (":", 1), "CLIENT UNBLOCK: 1")
check(w1.read() == ("*", None), "the unblocked client gets the timeout reply")
w1.send(itlib.encode("BLPOP", "empty", "0"))
check(wait_blocked(1), "blocked again")
w1.close()
check(wait_blocked(0), "a closed blocked client leaves nothing blocked")
w2.close()

if not itlib.IS_REAL:
    section("a queue survives SIGKILL")
    c.call("DEL", "jobs")
    for i in range(300):
        c.call("RPUSH", "jobs", "job:%d" % i)
    popped = [c.call("LPOP", "jobs")[1] for _ in range(120)]
    check(popped == [b"job:%d" % i for i in range(120)], "120 popped in order")
    c.close()
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    c = Resp(srv.port)
    got = flat(c.call("LRANGE", "jobs", "0", "-1"))
    check(got == [b"job:%d" % i for i in range(120, 300)],
          "after SIGKILL the queue holds exactly what was pushed and not popped", len(got))
    check(c.call("TYPE", "jobs") == ("+", "list"), "and is a list")
    b = Resp(srv.port)
    b.send(itlib.encode("BLPOP", "never", "0"))
    check(wait_blocked(1), "a client blocked without a timeout")
    c.close()
    t0 = time.time()
    check(srv.stop() == 0 and time.time() - t0 < 10, "SIGTERM: the server stops anyway (exit 0)",
          time.time() - t0)
    srv.start()
    c = Resp(srv.port)
c.close()
check(srv.alive(), "server still running")
itlib.finish()
