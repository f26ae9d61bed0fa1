"""transactions.py - MULTI/EXEC/DISCARD/WATCH/UNWATCH (issue 12), run by transactions.sh.

1. Replies as Redis 7.0 gives them: +QUEUED, errors while queuing abort EXEC with
   -EXECABORT (nothing runs), runtime errors stay inside EXEC's array and do not stop the
   other commands, nesting and EXEC/DISCARD without MULTI are errors, WATCH inside MULTI
   too, SAVE is refused inside a transaction, a queued SELECT moves the commands after it.
   Before issue 12 logstord answered "unknown command 'MULTI'", ran the queued commands one
   by one anyway and then failed EXEC: a client retrying applied its writes twice.
2. WATCH: EXEC answers a null array (RESP2 *-1, RESP3 _) when a watched key was written
   by another client (Redis port or memcached port), flushed, or expired since WATCH; not
   when it was left alone, nor after UNWATCH; an unwatched key does not matter.
3. Atomic for other clients: transactions that INCR two keys, run by 4 clients while
   readers MGET both, on a server whose reads come from the device (cache_size 0, so the
   INCRs wait for reads and the loop runs other clients meanwhile): every MGET sees the two
   keys equal, and the final values count every transaction.
4. Durable once answered (sync durability): the server is killed (SIGKILL) right after an
   EXEC is answered; after the restart all of its writes are there.
TARGET=redis runs sections 1, 2 and 3 against redis-server.
"""

import itlib
from itlib import Mc, Resp, check, encode, section

itlib.begin("transactions", time_limit_s=150)
srv = itlib.Server("redis", extra=[] if itlib.IS_REAL else ["--cache_size", "0"]).start()
c = Resp(srv.port)

section("queuing, EXECABORT, errors inside EXEC")
OK, QUEUED = ("+", "OK"), ("+", "QUEUED")
c.call("DEL", "a", "b", "s")
check(c.call("MULTI") == OK, "MULTI answers +OK")
got = [c.call("SET", "a", "1"), c.call("INCR", "a"), c.call("INCRBY", "a", "x"),
       c.call("GET", "a")]
check(got == [QUEUED] * 4, "each queued command answers +QUEUED", got)
check(c.call("EXEC") == ("*", [OK, (":", 2), ("-", "ERR value is not an integer or out of range"),
                              ("$", b"2")]),
      "EXEC answers every reply in order, the runtime error inside the array")
check(c.call("EXEC") == ("-", "ERR EXEC without MULTI"), "EXEC without MULTI")
check(c.call("DISCARD") == ("-", "ERR DISCARD without MULTI"), "DISCARD without MULTI")
c.call("MULTI")
check(c.call("MULTI") == ("-", "ERR MULTI calls can not be nested"), "nested MULTI")
check(c.call("SET", "a", "9") == QUEUED, "the transaction goes on after a nested MULTI")
check(c.call("EXEC") == ("*", [OK]), "and runs (a nested MULTI does not abort it)")
c.call("MULTI")
c.call("SET", "a", "10")
r = c.call("NOSUCHCOMMAND", "x")
check(r[0] == "-" and r[1].startswith("ERR unknown command 'NOSUCHCOMMAND'"),
      "an unknown command is refused while queuing", r)
check(c.call("SET", "b") == ("-", "ERR wrong number of arguments for 'set' command"),
      "a wrong arity is refused while queuing")
check(c.call("EXEC") == ("-", "EXECABORT Transaction discarded because of previous errors."),
      "EXEC then answers -EXECABORT")
check(c.call("GET", "a") == ("$", b"9"), "and nothing of the transaction ran")
check(c.call("EXEC") == ("-", "ERR EXEC without MULTI"), "the transaction is over")
c.call("MULTI")
check(c.call("WATCH", "a") == ("-", "ERR WATCH inside MULTI is not allowed"),
      "WATCH inside MULTI")
check(c.call("SAVE") == ("-", "ERR Command not allowed inside a transaction"),
      "SAVE inside MULTI")
check(c.call("EXEC")[0] == "-", "EXEC aborts after SAVE was refused")
c.call("MULTI")
c.call("SET", "a", "11")
check(c.call("DISCARD") == OK, "DISCARD answers +OK")
check(c.call("GET", "a") == ("$", b"9"), "a discarded transaction wrote nothing")
c.call("MULTI")
for cmd in (("SELECT", "5"), ("SET", "s", "in5"), ("SELECT", "0"), ("EXISTS", "s")):
    c.call(*cmd)
check(c.call("EXEC") == ("*", [OK, OK, OK, (":", 0)]), "a queued SELECT moves the commands after it")
c.call("SELECT", "5")
check(c.call("GET", "s") == ("$", b"in5"), "the key was written in database 5")
c.call("DEL", "s")
c.call("SELECT", "0")
c.send(encode("SET", "p", "1") + encode("MULTI") + encode("INCR", "p") + encode("INCR", "p") +
       encode("EXEC") + encode("GET", "p"))
got = [c.read() for _ in range(6)]
check(got == [OK, OK, QUEUED, QUEUED, ("*", [(":", 2), (":", 3)]), ("$", b"3")],
      "a pipelined transaction: replies in order, each command once", got)
c.call("MULTI")
check(c.call("EXEC") == ("*", []), "an empty transaction answers an empty array")

section("a transaction's commands see the writes of those before them")
c.call("DEL", "r1", "r2", "r3", "r4", "r5")
script = [
    (("SET", "r1", "hello"), OK), (("APPEND", "r1", " world"), (":", 11)),
    (("GET", "r1"), ("$", b"hello world")), (("STRLEN", "r1"), (":", 11)),
    (("GETRANGE", "r1", "0", "4"), ("$", b"hello")), (("SETRANGE", "r1", "6", "W"), (":", 11)),
    (("GET", "r1"), ("$", b"hello World")), (("SET", "r2", "10", "EX", "100"), OK),
    (("INCRBY", "r2", "5"), (":", 15)), (("PERSIST", "r2"), (":", 1)), (("TTL", "r2"), (":", -1)),
    (("EXISTS", "r1", "r2", "missing"), (":", 2)),
    (("MGET", "r1", "r2", "missing"), ("*", [("$", b"hello World"), ("$", b"15"), ("$", None)])),
    (("DEL", "r1"), (":", 1)), (("GET", "r1"), ("$", None)), (("EXISTS", "r1"), (":", 0)),
    (("DEL", "r1"), (":", 0)), (("SETNX", "r1", "again"), (":", 1)),
    (("MSETNX", "r1", "x", "r3", "y"), (":", 0)), (("GETDEL", "r2"), ("$", b"15")),
    (("GET", "r2"), ("$", None)), (("GETSET", "r1", "new"), ("$", b"again")),
    (("GETEX", "r1", "PX", "100000"), ("$", b"new")), (("PERSIST", "r1"), (":", 1)),
    (("SET", "r4", "v", "NX"), OK), (("SET", "r4", "w", "NX"), ("$", None)),
    (("SET", "r4", "w", "XX", "GET"), ("$", b"v")), (("INCRBYFLOAT", "r5", "1.5"), ("$", b"1.5")),
    (("DECR", "r5"), ("-", "ERR value is not an integer or out of range")),
    (("TYPE", "r4"), ("+", "string")), (("SET", "r6", "gone", "PX", "1"), OK),
    (("MSET", "r6", "a", "r7", "b"), OK), (("GET", "r6"), ("$", b"a")),
]
c.send(encode("MULTI") + b"".join(encode(*cmd) for cmd, _ in script) + encode("EXEC"))
got = [c.read() for _ in range(len(script) + 2)]
check(got[1:-1] == [QUEUED] * len(script), "every command queued")
replies = got[-1][1] if got[-1][0] == "*" else []
bad = [(cmd, want, replies[i] if i < len(replies) else None) for i, (cmd, want) in
       enumerate(script) if i >= len(replies) or replies[i] != want]
check(not bad, "EXEC's %d replies are Redis's (each command saw those before it)" % len(script),
      bad[:3])
check(c.call("MGET", "r1", "r2", "r3", "r4", "r5", "r6", "r7") ==
      ("*", [("$", b"new"), ("$", None), ("$", None), ("$", b"w"), ("$", b"1.5"), ("$", b"a"),
             ("$", b"b")]), "after EXEC every key holds what the transaction left")
check(c.call("TTL", "r1") == (":", -1), "and r1 has no expiry (PERSIST in the transaction)")

big = [encode("SET", "big:%d" % i, b"%d:" % i + b"v" * 1024) for i in range(200)]
c.send(encode("MULTI") + b"".join(big) + encode("GET", "big:199") + encode("EXEC"))
got = [c.read() for _ in range(203)]
check(got[-1][0] == "*" and got[-1][1][:200] == [OK] * 200 and
      got[-1][1][200] == ("$", b"199:" + b"v" * 1024),
      "a transaction larger than one write buffer (200 KiB) runs whole")
r = c.call("MGET", *["big:%d" % i for i in range(200)])
check(r[0] == "*" and all(v == ("$", b"%d:" % i + b"v" * 1024) for i, v in enumerate(r[1])),
      "and every write is there")
if not itlib.IS_REAL:
    check(itlib.info_int(srv.port, "txn_unbatched") == 1,
          "INFO txn_unbatched counts it (written record by record)")
c.call("MULTI")
c.call("SET", "kk1", "1")
c.call("KEYS", "kk*")
c.call("DBSIZE")
r = c.call("EXEC")
check(r[0] == "*" and r[1][0] == OK and r[1][1] == ("*", [("$", b"kk1")]),
      "KEYS inside a transaction lists the key SET before it", r)

section("WATCH")
other = Resp(srv.port)
c.call("SET", "w", "1")


def watched_exec(change, what, want_fail, resp3=False):
    x = Resp(srv.port)
    if resp3:
        x.call("HELLO", "3")
    x.call("WATCH", "w")
    change()
    x.call("MULTI")
    x.call("SET", "w", "mine")
    r = x.call("EXEC")
    if want_fail:
        nil = ("_", None) if resp3 else ("*", None)
        check(r == nil, "EXEC fails (null array) when %s" % what, r)
    else:
        check(r == ("*", [OK]), "EXEC runs when %s" % what, r)
    x.close()


watched_exec(lambda: other.call("SET", "w", "2"), "another client SET the key", True)
watched_exec(lambda: other.call("SET", "w", "2"), "another client SET the key (RESP3)", True,
             resp3=True)
watched_exec(lambda: other.call("DEL", "w"), "another client deleted the key", True)
watched_exec(lambda: other.call("SET", "unrelated", "1"), "another key was written", False)
# the two-key writes (one batch each): both keys are touched
c.call("DEL", "w")
other.call("RPUSH", "lsrc", "a", "b")
watched_exec(lambda: other.call("LMOVE", "lsrc", "w", "LEFT", "RIGHT"),
             "LMOVE pushed onto the key", True)
c.call("DEL", "w")
other.call("RPUSH", "lsrc", "a", "b")
c.call("RPUSH", "w", "x")
watched_exec(lambda: other.call("LMOVE", "w", "lsrc", "LEFT", "RIGHT"),
             "LMOVE popped from the key", True)
c.call("DEL", "w")
other.call("SADD", "ssrc", "m")
watched_exec(lambda: other.call("SMOVE", "ssrc", "w", "m"), "SMOVE added to the key", True)
other.call("SADD", "ssrc", "m")
watched_exec(lambda: other.call("SMOVE", "ssrc", "w", "m"),
             "SMOVE of a member the key holds already (it is unchanged)", False)
c.call("SET", "w", "1")
other.call("SET", "rsrc", "x")
watched_exec(lambda: other.call("RENAME", "rsrc", "w"), "RENAME onto the key", True)
c.call("SET", "w", "1")
watched_exec(lambda: other.call("RENAME", "w", "rdst"), "RENAME of the key away", True)
other.call("DEL", "lsrc", "ssrc", "rsrc", "rdst")
c.call("SET", "w", "1")
watched_exec(lambda: None, "nothing changed", False)
c.call("SET", "w", "1")
watched_exec(lambda: other.call("FLUSHDB"), "the database was flushed", True)
c.call("SET", "w", "1")
watched_exec(lambda: other.call("FLUSHALL"), "every database was flushed", True)
watched_exec(lambda: other.call("FLUSHDB"), "a database without the key was flushed", False)
c.call("SET", "w", "1", "PX", "1000")  # alive at WATCH even after a slow commit
watched_exec(lambda: __import__("time").sleep(1.2), "the key expired since WATCH", True)
c.call("SET", "w", "1")
watched_exec(lambda: other.call("EXPIRE", "w", "100"), "another client set its expiry", True)
# SWAPDB: a watched key that exists in either database is touched (Redis's rule)
watched_exec(lambda: other.call("SWAPDB", "0", "1"), "SWAPDB swapped its database away", True)
other.call("SWAPDB", "0", "1")
other.call("SELECT", "1")
other.call("SET", "w", "in1")
other.call("SELECT", "0")
c.call("DEL", "w")
watched_exec(lambda: other.call("SWAPDB", "0", "1"),
             "SWAPDB brought the key in from the other database", True)
other.call("SWAPDB", "0", "1")
other.call("SELECT", "1")
other.call("DEL", "w")
other.call("SELECT", "0")
c.call("SET", "w", "1")
watched_exec(lambda: other.call("SWAPDB", "2", "3"), "SWAPDB of two other databases", False)
x = Resp(srv.port)
x.call("WATCH", "w")
other.call("SET", "w", "3")
check(x.call("UNWATCH") == OK, "UNWATCH answers +OK")
x.call("MULTI")
x.call("GET", "w")
check(x.call("EXEC") == ("*", [("$", b"3")]), "after UNWATCH a changed key does not matter")
x.call("WATCH", "w")
x.call("SET", "w", "4")  # its own write counts too, as in Redis
x.call("MULTI")
x.call("GET", "w")
check(x.call("EXEC") == ("*", None), "the watcher's own write fails its EXEC too")
x.call("WATCH", "w")
x.call("MULTI")
x.call("GET", "w")
x.call("DISCARD")
other.call("SET", "w", "5")
x.call("MULTI")
x.call("GET", "w")
check(x.call("EXEC") == ("*", [("$", b"5")]), "DISCARD unwatches")
x.close()
if not itlib.IS_REAL:  # one server serves both protocols: memcached writes to database 0
    m = Mc(srv.mc_port)
    watched_exec(lambda: m.cmd(b"set w 0 0 2", b"mc") == b"STORED", "a memcached client set it",
                 True)
    m.close()

section("atomic for other clients: INCR x; INCR y in transactions, MGET x y meanwhile")
c.call("MSET", "x", "0", "y", "0")
c.call("SAVE")  # on the device: the INCRs read it back (cache_size 0)
TX, CLIENTS = 150, 4
errors = []


def tx_unit(w):
    w.send(encode("MULTI") + encode("INCR", "x") + encode("INCR", "y") + encode("EXEC"))
    got = [w.read() for _ in range(4)]
    if got[3][0] != "*" or len(got[3][1]) != 2:
        errors.append(got)


torn, reads = itlib.pair_apart(srv.port, tx_unit, TX, CLIENTS)
check(not errors, "every EXEC answers two replies", errors[:2])
check(not torn, "no MGET saw x and y apart (%d MGETs)" % reads, torn[:3])
check(c.call("MGET", "x", "y") == ("*", [("$", b"%d" % (TX * CLIENTS))] * 2),
      "x and y count every transaction (%d)" % (TX * CLIENTS))

section("maxmemory (noeviction): over it, what may add data is refused with -OOM")
OOM = ("-", "OOM command not allowed when used memory > 'maxmemory'.")
adm = Resp(srv.port)
c.call("SET", "m", "1")
check(adm.call("CONFIG", "SET", "maxmemory", "1") == OK, "CONFIG SET maxmemory 1")
check(c.call("SET", "m", "2") == OOM, "SET is refused", c.call("SET", "m", "2"))
check(c.call("APPEND", "m", "2") == OOM and c.call("INCR", "m") == OOM, "APPEND and INCR too")
check(c.call("GET", "m") == ("$", b"1"), "GET still works")
check(c.call("DEL", "m") == (":", 1), "DEL still works (it frees)")
c.call("MULTI")
check(c.call("SET", "m", "3") == OOM, "queueing inside MULTI is refused")
check(c.call("GET", "m") == OOM, "any command, as Redis")
check(c.call("DISCARD") == OK, "DISCARD is not refused")
adm.call("CONFIG", "SET", "maxmemory", "0")
c.call("SET", "m", "v")
c.call("MULTI")
c.call("GET", "m")
c.call("PING")
adm.call("CONFIG", "SET", "maxmemory", "1")
check(c.call("EXEC") == ("*", [("$", b"v"), ("+", "PONG")]),
      "EXEC of reads queued before runs over maxmemory")
adm.call("CONFIG", "SET", "maxmemory", "0")
c.call("MULTI")
c.call("SET", "m", "w")
c.call("GET", "m")
adm.call("CONFIG", "SET", "maxmemory", "1")
r = c.call("EXEC")
check(r == ("-", "EXECABORT Transaction discarded because of: " + OOM[1]),
      "EXEC with a write queued before is refused: EXECABORT ... OOM", r)
check(c.call("GET", "m") == ("$", b"v"), "and none of it ran")
check(c.call("PING") == ("+", "PONG"), "the client left MULTI")
check(adm.call("CONFIG", "SET", "maxmemory", "0") == OK and c.call("SET", "m", "x") == OK,
      "maxmemory 0: writes again")

section("an EXEC refused before it runs ends the transaction (EXECABORT ... BUSY)")
check(adm.call("CONFIG", "SET", "busy-reply-threshold", "10") == OK, "busy-reply-threshold 10")
busy = Resp(srv.port)
c.call("SET", "xx", "1")
c.call("MULTI")
c.call("INCR", "xx")
busy.send(encode("EVAL", "while true do end", "0"))
__import__("time").sleep(0.2)
r = c.call("EXEC")
check(r[0] == "-" and r[1].startswith("EXECABORT Transaction discarded because of: BUSY "),
      "EXEC during a busy script: EXECABORT ... BUSY", r)
check(adm.call("SCRIPT", "KILL") == OK, "SCRIPT KILL")
check(busy.read()[0] == "-", "the script ends with an error")
check(c.call("PING", "asdf") == ("$", b"asdf") and c.call("GET", "xx") == ("$", b"1"),
      "the client left MULTI and nothing of it ran")
adm.call("CONFIG", "SET", "busy-reply-threshold", "5000")
busy.close()
adm.close()

if not itlib.IS_REAL:
    section("durable once answered: SIGKILL right after EXEC's reply")
    c.send(encode("MULTI") + b"".join(encode("SET", "d:%d" % i, "v%d" % i) for i in range(50)) +
           encode("DEL", "w") + encode("EXEC"))
    got = [c.read() for _ in range(53)]
    check(got[-1][0] == "*" and len(got[-1][1]) == 51, "EXEC of 51 writes answered")
    srv.kill()
    srv.start()
    c = Resp(srv.port)
    r = c.call("MGET", *["d:%d" % i for i in range(50)])
    check(r == ("*", [("$", b"v%d" % i) for i in range(50)]) and
          c.call("EXISTS", "w") == (":", 0), "after the restart every write of the transaction is there")
c.close()
itlib.finish()
