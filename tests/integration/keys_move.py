"""keys_move.py - the keyspace commands that move values, at their edges (run by
keys_move.sh; their plain replies are compared with Redis's by the differential test).

1. DUMP/RESTORE with redis-server both ways: values DUMPed by redis-server 7.0 (integer
   encodings, plain and LZF-compressed strings, binary, 200 KiB) RESTOREd into logstord
   read back the same, and logstord's payloads RESTORE into redis-server. Payloads that
   Redis does not compress must be byte for byte Redis's.
2. Damaged payloads (a flipped bit, a newer RDB version, cut short, too short, empty)
   get Redis's errors; list, hash and set payloads from redis-server are restored (the
   data types, issue 15), a stream's gets a clear error;
   the server stays up. RESTORE's TTL, ABSTTL, REPLACE and BUSYKEY. MEMORY USAGE is the
   record (40-byte header, key, value, padding to 8) plus at most 40 bytes of index.
3. MOVE and COPY ... DB across databases keep the value and the TTL.
4. SWAPDB survives a clean restart and a kill -9 (sync mode): the swapped databases,
   and writes made after the swap, are where they were.
5. Under the concurrency rule, from 8 connections at once: RENAMENX among 12 slots,
   MOVE between databases 0-2 and SWAPDB of them, and COPY REPLACE + DEL, never lose or
   duplicate a value (each value is unique; the final multiset over all slots and
   databases must be the start's; COPY makes copies under other names, deleted again).
"""
import random
import signal
import threading

import itlib
from itlib import Resp, check, log, section

itlib.begin("keys_move", time_limit_s=150)
if itlib.IS_REAL:
    log("keys_move: a logstord test (it compares with redis-server itself)")
    itlib.finish()


class Ref(itlib.Server):
    """redis-server, the reference for payloads."""

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]


srv = itlib.Server("redis", durability="sync").start()
ref = Ref("redis").start()
c = Resp(srv.port)
r = Resp(ref.port)

# ---- 1. DUMP/RESTORE both ways --------------------------------------------------------------
section("DUMP/RESTORE between redis-server and logstord")
VALUES = [b"", b"0", b"7", b"-128", b"-129", b"32767", b"32768", b"-2147483648", b"2147483648",
          b"012", b"hello", b"a" * 30, b"abc" * 100, bytes(range(256)), b"x" * 16383, b"y" * 16384,
          bytes(random.Random(7).randrange(256) for _ in range(5000)), b"z" * 200 * 1024]
for i, v in enumerate(VALUES):
    name = "v%d(%d bytes)" % (i, len(v))
    r.call("SET", "k", v)
    rp = r.call("DUMP", "k")[1]
    check(c.call("RESTORE", "k", "0", rp, "REPLACE") == ("+", "OK"), "RESTORE of Redis's " + name)
    check(c.call("GET", "k") == ("$", v), "logstord reads it back: " + name)
    lp = c.call("DUMP", "k")[1]
    compressed = len(rp) > 1 and rp[1] == 0xC3
    if not compressed:
        check(lp == rp, "logstord's DUMP is Redis's bytes: " + name)
    check(r.call("RESTORE", "k2", "0", lp, "REPLACE") == ("+", "OK"), "Redis RESTOREs ours: " + name)
    check(r.call("GET", "k2") == ("$", v), "Redis reads it back: " + name)

# ---- 2. damaged payloads, other types, options ----------------------------------------------
section("damaged payloads and types logstord does not store")
r.call("SET", "k", "hello world")
good = r.call("DUMP", "k")[1]
BAD = "ERR DUMP payload version or checksum are wrong"
flipped = bytearray(good)
flipped[3] ^= 0x10
newer = bytearray(good)
newer[-10] = 11
for what, p in [("a flipped bit", bytes(flipped)), ("RDB version 11", bytes(newer)),
                ("cut short", good[:-3]), ("9 bytes", good[:9]), ("empty", b"")]:
    check(c.call("RESTORE", "bad", "0", p) == ("-", BAD), "payload with " + what)
check(c.call("EXISTS", "bad") == (":", 0), "no key made from a damaged payload")
r.call("RPUSH", "l", "a", "b")
r.call("HSET", "h", "f", "v")
r.call("SADD", "s", "m")
r.call("XADD", "x", "*", "f", "v")
for key, typ, read in [("l", "list", ("LRANGE", "0", "-1")), ("h", "hash", ("HGETALL",)),
                       ("s", "set", ("SMEMBERS",))]:  # the collections (issue 15) move too
    rep = c.call("RESTORE", "t", "0", r.call("DUMP", key)[1])
    check(rep == ("+", "OK") and c.call("TYPE", "t") == ("+", typ) and
          c.call(read[0], "t", *read[1:]) == r.call(read[0], key, *read[1:]),
          "a %s payload from redis-server is restored" % typ, rep)
    c.call("DEL", "t")
rep = c.call("RESTORE", "t", "0", r.call("DUMP", "x")[1])
check(rep[0] == "-" and "stream" in rep[1], "a stream payload gets a clear error", rep)
check(c.call("PING") == ("+", "PONG"), "the server is up")
check(c.call("RESTORE", "t", "0", good) == ("+", "OK"), "RESTORE")
check(c.call("RESTORE", "t", "0", good) == ("-", "BUSYKEY Target key name already exists."),
      "RESTORE onto an existing key: BUSYKEY")
check(c.call("RESTORE", "t", "5000000", good, "REPLACE") == ("+", "OK"), "RESTORE REPLACE TTL")
pttl = c.call("PTTL", "t")[1]
check(4990000 <= pttl <= 5000000, "TTL is the payload's relative ms", pttl)
check(c.call("RESTORE", "t", "1", good, "REPLACE", "ABSTTL") == ("+", "OK"),
      "RESTORE ABSTTL in the past")
check(c.call("EXISTS", "t") == (":", 0), "... deletes the key, as Redis does")
check(c.call("RESTORE", "t", "0", good, "IDLETIME", "100", "FREQ", "1") == ("-", "ERR syntax error"),
      "IDLETIME with FREQ: syntax error")

section("MEMORY USAGE: the record plus an index entry")
for n in (5, 10000):
    c.call("SET", "mu", b"m" * n)
    got = c.call("MEMORY", "USAGE", "mu")[1]
    check(n + 40 + 2 <= got <= n + 40 + 2 + 8 + 40, "MEMORY USAGE of a %d-byte value" % n, got)
check(c.call("MEMORY", "USAGE", "nokey") == ("$", None), "MEMORY USAGE of an absent key: nil")

# ---- 3. MOVE and COPY across databases ------------------------------------------------------
section("MOVE and COPY ... DB")
c.call("FLUSHALL")
c.call("SET", "m", "moved", "EX", "1000")
check(c.call("MOVE", "m", "2") == (":", 1), "MOVE m 2")
check(c.call("EXISTS", "m") == (":", 0), "gone from db 0")
c.call("SELECT", "2")
check(c.call("GET", "m") == ("$", b"moved"), "in db 2")
check(990 <= c.call("TTL", "m")[1] <= 1000, "with its TTL")
c.call("SET", "m2", "other")
c.call("SELECT", "0")
c.call("SET", "m2", "src")
check(c.call("MOVE", "m2", "2") == (":", 0), "MOVE onto an existing key: 0")
check(c.call("GET", "m2") == ("$", b"src"), "the source stays")
check(c.call("COPY", "m2", "m2", "DB", "2") == (":", 0), "COPY onto an existing key: 0")
check(c.call("COPY", "m2", "m2", "DB", "2", "REPLACE") == (":", 1), "COPY ... DB 2 REPLACE")
c.call("SELECT", "2")
check(c.call("GET", "m2") == ("$", b"src"), "copied over db 2's key")
c.call("SELECT", "0")
check(c.call("GET", "m2") == ("$", b"src"), "the source stays")

# ---- 4. SWAPDB across restarts --------------------------------------------------------------
section("SWAPDB survives restarts")
c.call("FLUSHALL")
for db in range(3):
    c.call("SELECT", str(db))
    for i in range(50):
        c.call("SET", "s%d" % i, "db%d-%d" % (db, i))
c.call("SELECT", "0")
check(c.call("SWAPDB", "0", "1") == ("+", "OK"), "SWAPDB 0 1")
c.call("SET", "after", "in0")
check(c.call("SWAPDB", "1", "2") == ("+", "OK"), "SWAPDB 1 2")  # 0: old1, 1: old2, 2: old0


def expect_swapped(when):
    x = Resp(srv.port)
    want = {0: 1, 1: 2, 2: 0}
    ok = True
    for db, src in want.items():
        x.call("SELECT", str(db))
        got = [x.call("GET", "s%d" % i) for i in range(50)]
        ok = ok and got == [("$", b"db%d-%d" % (src, i)) for i in range(50)]
        ok = ok and x.call("DBSIZE") == (":", 50 + (db == 0))
    x.call("SELECT", "0")
    check(ok, "%s: db 0 holds old db 1, db 1 old db 2, db 2 old db 0" % when)
    check(x.call("GET", "after") == ("$", b"in0"), "%s: the write after the swap is in db 0" % when)
    x.close()


expect_swapped("before a restart")
c.close()
check(srv.stop() == 0, "SIGTERM: exit 0")
srv.start()
expect_swapped("after SIGTERM and restart")
c = Resp(srv.port)
check(c.call("SWAPDB", "2", "0") == ("+", "OK"), "SWAPDB 2 0")
check(c.call("SWAPDB", "2", "0") == ("+", "OK"), "SWAPDB 2 0 again (back)")
c.close()
srv.stop(signal.SIGKILL)
srv.start()
expect_swapped("after kill -9 and restart")

# ---- 5. concurrent moves under the rule -----------------------------------------------------
section("concurrent RENAMENX, MOVE, SWAPDB and COPY lose and duplicate nothing")
c = Resp(srv.port)
c.call("FLUSHALL")
SLOTS = 12
values = set()
for db in range(3):
    c.call("SELECT", str(db))
    for i in range(0, SLOTS, 2):
        v = b"val-%d-%d" % (db, i)
        c.call("SET", "slot%d" % i, v)
        values.add(v)
c.call("SELECT", "0")


def snapshot():
    """Every value over the three databases, as a sorted list (copies excluded)."""
    x = Resp(srv.port)
    out = []
    for db in range(3):
        x.call("SELECT", str(db))
        keys = x.call("KEYS", "slot*")[1]
        for k in keys:
            out.append(x.call("GET", k[1])[1])
    x.close()
    return sorted(out)


errors = []


def worker(n):
    rng = random.Random(n)
    x = Resp(srv.port, timeout=30)
    try:
        for _ in range(100):
            cmds = []
            for _ in range(rng.randint(1, 8)):
                db = rng.randrange(3)
                cmds.append(("SELECT", str(db)))
                a, b = "slot%d" % rng.randrange(SLOTS), "slot%d" % rng.randrange(SLOTS)
                roll = rng.random()
                if roll < 0.5:
                    cmds.append(("RENAMENX", a, b))
                elif roll < 0.8:
                    cmds.append(("MOVE", a, str(rng.randrange(3))))
                elif roll < 0.85:
                    cmds.append(("SWAPDB", str(rng.randrange(3)), str(rng.randrange(3))))
                else:
                    to = str(rng.randrange(3))
                    cmds.append(("COPY", a, "copy%d" % n, "DB", to, "REPLACE"))
                    cmds += [("SELECT", to), ("DEL", "copy%d" % n)]
            x.send(b"".join(itlib.encode(*a) for a in cmds))
            for a in cmds:
                rep = x.read()
                if rep[0] == "-" and not rep[1].startswith(("ERR no such key",
                                                            "ERR source and destination")):
                    errors.append((a, rep))
    finally:
        x.close()


threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(not errors, "no unexpected error", errors[:3])
final = snapshot()
check(final == sorted(values), "every value once at the end (%d values)" % len(values),
      None if final == sorted(values) else (len(final), len(set(final))))
copies = []
for db in range(3):  # a SWAPDB between a COPY and its DEL may leave a copy in another db
    c.call("SELECT", str(db))
    copies += [c.call("GET", k[1])[1] for k in c.call("KEYS", "copy*")[1]]
check(all(v in values for v in copies), "the copies left (%d) hold values copied" % len(copies))
c.close()
itlib.finish()
