"""expiry_space.py - on a full disk, the space of keys that expired is given back to the
writes that follow (run by expiry_space.sh).

logstord runs with --disk_size 64mb. The test fills it with 10 KB values that all expire
at one instant (PXAT) until a SET answers "disk full", waits for that instant, and sends
an MGET of every key (which finds them expired and drops them, leaving their segments
dead) and a SET in one write. Compaction frees dead segments in its next round that may
find something (on the engine's timer); the SET came before it, found compaction with
nothing to gain and nothing written since, and was answered "disk full" at once, with the
whole disk about to be free. Checked: the SET after the MGET answers +OK.

Then a second server is filled with keys of which every other one expires: no segment
becomes dead, but half the disk is. Dropping expired keys writes nothing, so compaction,
whose last selection had found nothing to gain, never selected again: every SET stayed
"disk full" for good. Checked: SETs made a second after the expiry answer +OK. Against
redis-server (TARGET=redis) there is no disk budget: only the replies are checked.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itlib
from itlib import check, log, section, encode

itlib.begin("expiry_space", time_limit_s=100)
extra = [] if itlib.IS_REAL else ["--disk_size", "64mb"]
srv = itlib.Server("redis", extra=extra).start()
log("expiry_space: target %s on 127.0.0.1:%d" % (
    "redis-server" if srv.real else "logstord --disk_size 64mb", srv.port))
r = itlib.Resp(srv.port, timeout=30)


def fill(conn, server, set_of):
    """Sends SETs (set_of(i, at) gives the i-th's arguments) 50 at a time until one is
    refused or 0.5 s before `at`, 5 s from now; returns (SETs sent, at)."""
    at = int(time.time() * 1000) + 5000
    n, first = 0, None
    while first is None and n < 20000 and time.time() * 1000 < at - 500:
        conn.send(b"".join(encode(*set_of(n + j, at)) for j in range(50)))
        for _ in range(50):
            v = conn.read()
            if v[0] == "-" and first is None:
                first = v
        n += 50
    log("expiry_space: %d SETs, first error %r" % (n, first))
    if not server.real:
        check(first == ("-", "OOM command not allowed: disk full"), "the disk filled up", first)
    return n, at


section("fill the disk with keys that expire together")
val = "v" * 10000
n, at = fill(r, srv, lambda i, at: ("SET", "e%d" % i, val, "PXAT", str(at)))

section("a SET right after an MGET of the expired keys")
time.sleep(max(0.0, at / 1000.0 - time.time()) + 0.001)
r.send(encode("MGET", *["e%d" % i for i in range(n)]) + encode("SET", "after", val))
m = r.read()
check(m[0] == "*" and len(m[1]) == n and all(x == ("$", None) for x in m[1]),
      "the MGET finds every key expired", m[0])
check(r.read() == ("+", "OK"), "the SET after it answers +OK (their space is free)")
check(r.call("GET", "after") == ("$", val.encode()), "its value reads back")
r.close()

section("a full disk of which half expired")
srv2 = itlib.Server("redis", extra=extra).start()
r = itlib.Resp(srv2.port, timeout=30)
n, at = fill(r, srv2, lambda i, at: ("SET", "h%d" % i, val, "PXAT", str(at)) if i % 2 else
             ("SET", "k%d" % i, val))
time.sleep(max(0.0, at / 1000.0 - time.time()) + 1.0)
bad = [v for v in (r.call("SET", "later%d" % i, val) for i in range(100)) if v != ("+", "OK")]
check(not bad, "100 SETs a second after half the data expired answer +OK", bad[:1])
r.close()
itlib.finish()
