"""large_parked.py - a large collection written in steps keeps its key locked until its root
is written, even when a step waits in the write backlog (run by large_parked.sh).

A write that makes a new version of a large collection (server/large.c: a hash or list
rewritten whole) sends its pages ahead of its root, batch after batch. With a tiny write
backlog (--max_pending_bytes 1mb --write_buffers 4) those batches park (server/park.c);
a parked batch reaching the engine used to release the command's key locks, so the next
pipelined command on the key ran on the old version and its change was lost when the new
root landed (20,000 pipelined 10-field HSETs left 186,560 to 199,480 fields of 200,000).
Every pipelined write must be in the collection afterwards, and writes must have parked.
"""
import itlib
from itlib import Resp, check, log, section

itlib.begin("large_parked", time_limit_s=200)
extra = [] if itlib.IS_REAL else ["--max_pending_bytes", "1mb", "--write_buffers", "4"]
srv = itlib.Server("redis", durability="periodic", extra=extra).start()


def stat(name):
    return itlib.info_int(srv.port, name) or 0


def pipeline(c, cmds, what):
    """Sends cmds in chunks, reads every reply; returns the replies that are errors."""
    bad = []
    for at in range(0, len(cmds), 500):
        chunk = cmds[at:at + 500]
        c.send(b"".join(itlib.encode(*x) for x in chunk))
        for _ in chunk:
            rep = c.read()
            if rep[0] == "-":
                bad.append(rep)
    check(not bad, "%s: every reply a success" % what, got=str(bad[:3]))


c = Resp(srv.port, timeout=120)
parked0 = stat("busy_writes_parked")

section("20,000 pipelined HSETs of 10 fields into one hash (it grows into hash buckets, "
        "rewritten whole as they double)")
N = 20000
cmds = []
for i in range(N):
    args = ["HSET", "h"]
    for j in range(10):
        args += ["f%07d" % (i * 10 + j), "v%07d-%s" % (i * 10 + j, "x" * 40)]
    cmds.append(args)
pipeline(c, cmds, "HSET")
check(c.call("HLEN", "h") == (":", N * 10), "HLEN is every field sent", got=c.call("HLEN", "h"))
got = c.call("HMGET", "h", "f0000000", "f%07d" % (N * 5), "f%07d" % (N * 10 - 1))
check(got[1] == [("$", b"v0000000-" + b"x" * 40), ("$", b"v%07d-%s" % (N * 5, b"x" * 40)),
                 ("$", b"v%07d-%s" % (N * 10 - 1, b"x" * 40))], "fields read back", got=str(got)[:200])

section("40 pipelined RPUSHes of 3,000 elements into one list (each past one batch: the "
        "list rewritten whole, its pages ahead of its root)")
cmds = []
want = 0
for i in range(40):
    cmds.append(["RPUSH", "l"] + ["e%d-%d-%s" % (i, j, "y" * 200) for j in range(3000)])
    want += 3000
pipeline(c, cmds, "RPUSH")
check(c.call("LLEN", "l") == (":", want), "LLEN is every element sent", got=c.call("LLEN", "l"))
last = c.call("LINDEX", "l", "-1")
check(last == ("$", ("e39-2999-" + "y" * 200).encode()), "the last element is the last pushed",
      got=str(last)[:80])

if not itlib.IS_REAL:
    parked = stat("busy_writes_parked") - parked0
    log("large_parked: %d writes parked" % parked)
    check(parked > 0, "writes were parked, so this load tested the backlog (%d)" % parked)
c.close()
itlib.finish()
