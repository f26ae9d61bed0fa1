"""large_lists.py - large lists (issue 15: root, pages, anchors, reaper), run by
large_lists.sh.

A seeded random sequence of list commands runs against logstord and redis-server at once,
every reply compared: lists from empty to thousands of elements (past the small form's 128
elements / 8 KiB, so most of the run is on large lists), elements of 1 byte to 20 KiB,
pushes of one element and of thousands (past a batch: the whole list is rewritten), pops
with and without counts (some emptying the list), LRANGE/LINDEX near both ends and in the
middle, LSET and LREM (the pages they change, or the whole list when they empty a page),
the commands that load the whole list (LINSERT, LTRIM of both ends, LPOS, SORT,
LMOVE, DUMP/RESTORE), keyspace moves (RENAME, COPY, MOVE, SWAPDB), DEL, FLUSHDB, MULTI/EXEC.
Along the way logstord is restarted cleanly and killed with SIGKILL (sync durability: every
acknowledged write is on disk), and every list must read back as Redis holds it. At the
end, with every list deleted, the reaper must have removed every page and anchor (INFO
large_pages and large_versions back to 0).
"""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

import itlib
from itlib import RedisServer, Resp, check, section

SEED = int(os.environ.get("LARGE_SEED", "0")) or random.randrange(1, 1 << 30)
STEPS = int(os.environ.get("LARGE_STEPS", "2500"))
itlib.begin("large_lists", time_limit_s=300)
itlib.log("seed %d (LARGE_SEED=%d replays it), %d steps" % (SEED, SEED, STEPS))
rng = random.Random(SEED)

srv = itlib.Server("redis", durability="sync").start()
ref = RedisServer("redis").start()
KEYS = ["l0", "l1", "l2", "l3", "proc"]
state = {"db": 0}


def conns():
    a, b = Resp(srv.port), Resp(ref.port)
    if state["db"]:
        a.call("SELECT", str(state["db"]))
        b.call("SELECT", str(state["db"]))
    return a, b


c, r = conns()
mismatches = [0]


def both(*args, what=None):
    x, y = c.call(*args), r.call(*args)
    if x != y:
        mismatches[0] += 1
        if mismatches[0] <= 5:
            check(False, what or " ".join(str(a)[:40] for a in args[:4]), got=str(x)[:300],
                  want=str(y)[:300])
        if os.environ.get("LARGE_STOP"):
            itlib.log("stopping at the first difference: server log %s" % srv.logpath)
            os.system("cp %s /tmp/large_stop.log" % srv.logpath)
            itlib.finish()
    return x


def elem():
    k = rng.random()
    if k < 0.05:
        return "mark%d" % rng.randrange(3)  # LREM's targets: several on most pages
    if k < 0.07:
        return "B%d-" % rng.randrange(1000) + "x" * rng.randrange(9000, 20000)
    if k < 0.2:
        return "m%d-" % rng.randrange(1000) + "y" * rng.randrange(50, 400)
    return "%d" % rng.randrange(100000)


def full_compare(what):
    for k in KEYS:
        x, y = c.call("LRANGE", k, "0", "-1"), r.call("LRANGE", k, "0", "-1")
        if x != y:
            mismatches[0] += 1
            lx = len(x[1]) if x[0] == "*" and x[1] else x
            ly = len(y[1]) if y[0] == "*" and y[1] else y
            check(False, "%s: %s whole" % (what, k), got=lx, want=ly)
            return False
    return True


def restart(kill):
    global c, r
    c.close()
    if kill:
        srv.kill()
    else:
        srv.stop()
    srv.start()
    c, r = conns()


section("random sequence")
for step in range(STEPS):
    k = rng.choice(KEYS)
    k2 = rng.choice(KEYS)
    op = rng.random()
    if op < 0.30:
        n = rng.choice([1, 1, 1, 2, 5, 20, 130]) if rng.random() < 0.97 else rng.randrange(1500, 4000)
        both(rng.choice(["LPUSH", "RPUSH"]), k, *[elem() for _ in range(n)])
    elif op < 0.45:
        cmd = rng.choice(["LPOP", "RPOP"])
        if rng.random() < 0.5:
            both(cmd, k)
        else:
            both(cmd, k, str(rng.choice([0, 1, 3, 50, 200, 5000])))
    elif op < 0.60:
        a = rng.randrange(-300, 300)
        b = a + rng.randrange(0, 200) if rng.random() < 0.8 else rng.randrange(-5000, 5000)
        both("LRANGE", k, str(a), str(b))
    elif op < 0.66:
        both("LINDEX", k, str(rng.randrange(-3000, 3000)))
    elif op < 0.69:
        both("LLEN", k)
    elif op < 0.71:
        i = rng.randrange(-50, 50) if rng.random() < 0.5 else rng.randrange(-4000, 4000)
        both("LSET", k, str(i), elem())
    elif op < 0.72:
        both("LINSERT", k, rng.choice(["BEFORE", "AFTER"]), str(rng.randrange(100000)), elem())
    elif op < 0.735:
        x = rng.random()
        target = "mark%d" % rng.randrange(3) if x < 0.7 else str(rng.randrange(100))
        both("LREM", k, str(rng.choice([-40, -5, -2, -1, 0, 1, 2, 5, 40])), target)
    elif op < 0.74:
        x = rng.random()
        if x < 0.4:
            both("LTRIM", k, "0", str(rng.randrange(-300, 3000)))  # the tail only
        elif x < 0.7:
            both("LTRIM", k, str(rng.randrange(-3000, 300)), "-1")  # the head only
        else:
            both("LTRIM", k, str(rng.randrange(0, 100)), str(rng.randrange(-100, 3000)))
    elif op < 0.75:
        both("LPOS", k, str(rng.randrange(100000)), "COUNT", "0")
    elif op < 0.77:
        both(rng.choice(["LMOVE"]), k, k2, rng.choice(["LEFT", "RIGHT"]), rng.choice(["LEFT", "RIGHT"]))
    elif op < 0.78:
        d = k2 if rng.random() < 0.5 else "proc"  # a small destination: LMOVE's native form
        x = rng.random()
        if x < 0.4:
            both("RPOPLPUSH", k, d)
        elif x < 0.7:
            both("BRPOPLPUSH", k, d, "0.01")
        else:
            both("BLMOVE", k, d, rng.choice(["LEFT", "RIGHT"]), rng.choice(["LEFT", "RIGHT"]), "0.01")
        if rng.random() < 0.3:
            both("LTRIM", "proc", "0", "50")
    elif op < 0.785:
        both("SORT", k, "ALPHA", "LIMIT", "0", "20")
    elif op < 0.79:
        d = c.call("DUMP", k)
        check(d == r.call("DUMP", k) or d[0] == "$", "DUMP answers", got=str(d)[:80])
        if d[0] == "$" and d[1] is not None:
            both("RESTORE", k2, "0", d[1], "REPLACE")
    elif op < 0.80:
        if k != k2:
            both(rng.choice(["RENAME", "RENAMENX"]), k, k2)
    elif op < 0.81:
        if k != k2:
            both("COPY", k, k2, *(["REPLACE"] if rng.random() < 0.7 else []))
    elif op < 0.815:
        both("DEL", k)
    elif op < 0.82:
        both("MOVE", k, "5")
        both("SELECT", "5")
        both("MOVE", k, "0")
        both("SELECT", "0")
    elif op < 0.823:
        both("SWAPDB", "0", "5")
        both("SWAPDB", "0", "5")
    elif op < 0.826:
        both("EXPIRE", k, "100000")
        both("PERSIST", k)
    elif op < 0.83:
        both("MULTI")
        for _ in range(rng.randrange(1, 6)):
            kk = rng.choice(KEYS)
            x = rng.random()
            if x < 0.4:
                both("RPUSH", kk, *[elem() for _ in range(rng.randrange(1, 30))])
            elif x < 0.6:
                both("LPOP", kk, str(rng.randrange(1, 40)))
            elif x < 0.7:
                both("LREM", kk, str(rng.randrange(-3, 4)), "mark%d" % rng.randrange(3))
            elif x < 0.8:
                both("LSET", kk, str(rng.randrange(-200, 200)), elem())
            else:
                both("LRANGE", kk, "0", "10")
        both("EXEC")
    elif op < 0.832:
        both("FLUSHDB")
    elif op < 0.836:
        full_compare("step %d" % step)
        restart(kill=rng.random() < 0.5)
        full_compare("step %d after a %s" % (step, "restart"))
    elif op < 0.86:
        both(rng.choice(["BLPOP", "BRPOP"]), k, k2, "0.01")
    elif op < 0.88:
        where = [rng.choice(["LEFT", "RIGHT"]), "COUNT", str(rng.choice([1, 7, 300]))]
        if rng.random() < 0.5:
            both("LMPOP", "2", k, k2, *where)
        else:
            both("BLMPOP", "0.01", "2", k, k2, *where)
    else:
        both("TYPE", k)
    if step % 200 == 199 and not full_compare("step %d" % step):
        break
check(mismatches[0] == 0, "every reply as Redis gives it (seed %d)" % SEED, got=mismatches[0])
full_compare("the end")

section("LSET and LREM write the pages they change, not the list")
# A 20,000-element list (~160 pages): LSET in the middle and LREM of a few elements used
# to load it whole and write it again as a new version (INFO large_new_versions); now they
# write the pages at stake and the root (well under one page's worth a change).
both("DEL", "lr")
for i in range(0, 20000, 1000):
    both("RPUSH", "lr", *[("mark%d" % (j % 3) if j % 997 == 0 else "e%d" % j) for j in range(i, i + 1000)])
v0 = itlib.info_int(srv.port, "large_new_versions")
w0 = itlib.info_int(srv.port, "user_bytes_written")
for i in (10000, -10000, 5, -5, 19999, 123):
    both("LSET", "lr", str(i), "set%d" % i)
both("LSET", "lr", "20000", "x")  # out of range
both("LREM", "lr", "1", "mark0")
both("LREM", "lr", "-2", "mark1")
both("LREM", "lr", "0", "mark2")
both("LREM", "lr", "0", "nothing")
both("LREM", "lr", "3", "e10500")
v1 = itlib.info_int(srv.port, "large_new_versions")
w1 = itlib.info_int(srv.port, "user_bytes_written")
check(v1 == v0, "no new version of the list (large_new_versions %d -> %d)" % (v0, v1))
check(w1 - w0 < 300 * 1024, "%d bytes written for 11 changes (the list is ~200 KB)" % (w1 - w0))
check(c.call("LRANGE", "lr", "0", "-1") == r.call("LRANGE", "lr", "0", "-1"),
      "the list reads as Redis holds it")
both("DEL", "lr")

section("CLIENT TRACKING sees user keys only")
trk = socket.create_connection(("127.0.0.1", srv.port))
trk.sendall(itlib.encode("HELLO", "3") + itlib.encode("CLIENT", "TRACKING", "on", "BCAST"))
time.sleep(0.3)
trk.recv(100000)
w = Resp(srv.port)
w.call("MULTI")
w.call("RPUSH", "tracked", *["e%d" % i for i in range(300)])
w.call("EXEC")
w.close()
time.sleep(0.3)
trk.settimeout(1.0)
try:
    pushed = trk.recv(100000)
except socket.timeout:
    pushed = b""
trk.close()
check(b"invalidate\r\n*1\r\n$7\r\ntracked\r\n" in pushed,
      "a BCAST client is told of the list's key, not of its pages and anchor", got=pushed[:200])
c.call("DEL", "tracked")

section("SYNC (redis-cli --rdb) into redis-server")
rdb_dir = tempfile.mkdtemp(prefix="logstor-it-rdb-", dir="/tmp")
rc = subprocess.run(["redis-cli", "-p", str(srv.port), "--rdb", os.path.join(rdb_dir, "d.rdb")],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
check(rc.returncode == 0, "redis-cli --rdb of large lists", got=rc.stdout[-200:])


def same_lists(other):
    """Whether server `other` holds every list as logstord does (in the current database)."""
    oc = Resp(other.port)
    if state["db"]:
        oc.call("SELECT", str(state["db"]))
    same = all(oc.call("LRANGE", k, "0", "-1") == c.call("LRANGE", k, "0", "-1") for k in KEYS)
    oc.close()
    other.stop()
    return same


loaded = RedisServer("redis", extra=["--dbfilename", "d.rdb"], data_dir=rdb_dir).start()
check(same_lists(loaded), "redis-server loads the RDB with every list as logstord holds it")
shutil.rmtree(rdb_dir, ignore_errors=True)

section("SNAPSHOT and logstor-backup")
backup = os.path.join(os.path.dirname(os.environ.get("LOGSTORD") or "build/logstord"),
                      "logstor-backup")
check(c.call("SNAPSHOT", "CREATE", "ll") == ("+", "OK"), "SNAPSHOT CREATE")
copy_dir = tempfile.mkdtemp(prefix="logstor-it-copy-", dir="/tmp")
out = subprocess.run([backup, "-q", srv.dir, "ll", copy_dir], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, timeout=120)
check(out.returncode == 0, "logstor-backup copies a directory with large lists",
      got=out.stdout[-300:])
c.call("SNAPSHOT", "DROP", "ll")
copy = itlib.Server("redis", durability="sync", data_dir=copy_dir).start()
check(same_lists(copy), "the copy opens with every list as the server holds it")
shutil.rmtree(copy_dir, ignore_errors=True)

section("after SIGKILL")
restart(kill=True)
check(full_compare("after SIGKILL"), "every list as Redis holds it after SIGKILL")
lens = [c.call("LLEN", k)[1] for k in KEYS]
itlib.log("lengths at the end: %s; INFO large_pages %d, large_versions %d" % (
    lens, itlib.info_int(srv.port, "large_pages"), itlib.info_int(srv.port, "large_versions")))

section("reaper")
c.call("FLUSHALL")
deadline = time.time() + 30
while time.time() < deadline:
    if itlib.info_int(srv.port, "large_pages") == 0 and itlib.info_int(srv.port, "large_versions") == 0:
        break
    time.sleep(0.2)
check(itlib.info_int(srv.port, "large_pages") == 0, "every page reaped after FLUSHALL",
      got=itlib.info_int(srv.port, "large_pages"))
check(itlib.info_int(srv.port, "large_versions") == 0, "every anchor reaped after FLUSHALL",
      got=itlib.info_int(srv.port, "large_versions"))
c.call("RPUSH", "big", *[str(i) for i in range(5000)])
c.call("DEL", "big")
deadline = time.time() + 30
while time.time() < deadline and itlib.info_int(srv.port, "large_pages") > 0:
    time.sleep(0.2)
check(itlib.info_int(srv.port, "large_pages") == 0, "a deleted large list's pages reaped",
      got=itlib.info_int(srv.port, "large_pages"))
check(srv.alive(), "the server is still up")
section("RENAME of a large list whose unit (root, anchor, delete) passes one write batch")
# Before the fix the rename went ahead as two writes without the anchor: the anchor kept
# the old name, and the reaper's next pass deleted the pages of the live list.
lc = Resp(srv.port)
src, dst = "a" * 45000, "b" * 45000
lc.call("RPUSH", src, *["x%d" % i for i in range(300)])
x = lc.call("RENAME", src, dst)
check(x[0] == "-" and "too long" in x[1], "refused: the key names are too long", got=x)
itlib.reaper_pass(srv.port)
got = lc.call("LRANGE", src, "0", "-1")
check(got[0] == "*" and len(got[1]) == 300 and got[1][299] == ("$", b"x299"),
      "the list is whole under its name after a reaper pass", got=str(got)[:80])
check(lc.call("RENAME", src, "short") == ("+", "OK") and lc.call("LLEN", "short") == (":", 300),
      "and renames to a shorter name")
lc.close()

itlib.finish()
