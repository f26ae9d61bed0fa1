"""checkpoint.py - restarts from a checkpoint of the index (logstor.ckpt). Run by
checkpoint.sh.

1. A clean stop writes the checkpoint; the start takes the index from it and reads no
   segment, not even their first blocks, since the data files are as the stop left them
   (INFO recovery_from_checkpoint:2, recovery_segments:0), with every key, value, TTL,
   deletion and database as before.
2. While running, checkpoints are written every checkpoint_interval_ms (INFO
   checkpoints); after one (kept aside), more writes, overwrites, deletes and a FLUSHDB
   of another database, then SIGKILL and that checkpoint put back (what a crash right
   after it leaves): the start rolls forward from it through the segments written after
   it (recovery_from_checkpoint:1, recovery_segments > 0) and serves exactly the
   acknowledged state: deleted keys stay deleted, flushed ones gone.
3. A damaged checkpoint (one byte changed) is refused with the reason in the log, and the
   full scan serves the same data.
4. checkpoint_bytes alone (no interval): no checkpoint while less than that was written,
   one once more was, and a crash start rolls forward from it.

logstord only (redis-server has no such file).
"""
import os
import signal
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("checkpoint", time_limit_s=150)
if itlib.IS_REAL:
    itlib.skip("checkpoint: logstord's data directory only")
    itlib.finish()

srv = itlib.Server("redis", durability="sync",
                   extra=["--checkpoint_interval_ms", "300", "--loglevel", "notice"]).start()
log("checkpoint: logstord on 127.0.0.1:%d, dir %s" % (srv.port, srv.dir))
CKPT = os.path.join(srv.dir, "logstor.ckpt")


def info(c):
    out = {}
    for ln in c.call("INFO", "everything")[1].decode().split("\r\n"):
        if ":" in ln and not ln.startswith("#"):
            k, v = ln.split(":", 1)
            out[k] = v
    return out


model = {0: {}, 2: {}}  # db -> key -> value


def apply(c, db, cmds):
    c.call("SELECT", str(db))
    r = itlib.pipeline(c, cmds)
    for cmd, rep in zip(cmds, r):
        if cmd[0] == "SET" and rep == ("+", "OK"):
            model[db][cmd[1]] = cmd[2]
        elif cmd[0] == "DEL" and rep[0] == ":":
            model[db].pop(cmd[1], None)
    c.call("SELECT", "0")
    return r


def same_as_model(what):
    c = Resp(srv.port)
    bad = []
    for db, keys in model.items():
        c.call("SELECT", str(db))
        n = c.call("DBSIZE")
        if n != (":", len(keys)):
            bad.append("db %d: DBSIZE %s, want %d" % (db, n, len(keys)))
        names = sorted(keys)
        for i in range(0, len(names), 500):
            part = names[i:i + 500]
            got = c.call("MGET", *part)[1]
            for k, g in zip(part, got):
                if g[1] != keys[k].encode():
                    bad.append("db %d %s: %r, want %r" % (db, k, g[1], keys[k]))
    c.close()
    check(not bad, what, bad[:5])


section("a clean stop writes the checkpoint; the start reads no segment")
c = Resp(srv.port)
N = 20000
r = apply(c, 0, [("SET", "k:%d" % i, "v:%d" % i) for i in range(N)])
check(all(x == ("+", "OK") for x in r), "%d SETs" % N)
apply(c, 0, [("DEL", "k:%d" % i) for i in range(0, N, 7)])
apply(c, 2, [("SET", "d2:%d" % i, "x%d" % i) for i in range(300)])
check(c.call("SET", "ttl", "t", "EX", "1000") == ("+", "OK"), "SET ttl EX 1000")
model[0]["ttl"] = "t"
c.close()
check(srv.stop() == 0, "SIGTERM: exit 0")
check(os.path.exists(CKPT), "logstor.ckpt written at the stop")
srv.start()
c = Resp(srv.port)
inf = info(c)
check(inf.get("recovery_from_checkpoint") == "2",
      "INFO recovery_from_checkpoint:2 (a clean stop's, segment heads not read)",
      inf.get("recovery_from_checkpoint"))
check(inf.get("recovery_segments") == "0", "no segment read", inf.get("recovery_segments"))
ttl = c.call("TTL", "ttl")
check(ttl[0] == ":" and 990 <= ttl[1] <= 1000, "the TTL is kept", ttl)
c.close()
same_as_model("every key and value as before the stop, deleted keys absent")

section("checkpoints while running, then SIGKILL: roll forward")
c = Resp(srv.port)
t0 = time.time()
first = int(info(c).get("checkpoints", "0"))
apply(c, 0, [("SET", "w:%d" % i, "a%d" % i) for i in range(2000)])
while int(info(c).get("checkpoints", "0")) <= first and time.time() - t0 < 20:
    time.sleep(0.05)
inf = info(c)
check(int(inf.get("checkpoints", "0")) > first, "a checkpoint while running (INFO checkpoints)",
      inf.get("checkpoints"))
check(int(inf.get("checkpoint_last_keys", "0")) >= len(model[0]) - 2000,
      "it holds the keys", inf.get("checkpoint_last_keys"))
# Kept aside: the checkpoint a crash right now would leave. Later ones (every 300 ms) may
# hold some of what follows; putting this one back before the start makes the roll-forward
# read all of it, whatever the timing.
with open(CKPT, "rb") as f:
    saved = f.read()
# after it: overwrites, deletes, new keys, a FLUSHDB of db 2
apply(c, 0, [("SET", "k:%d" % i, "after:%d" % i) for i in range(1, N, 3)])
apply(c, 0, [("DEL", "k:%d" % i) for i in range(2, N, 5)])
apply(c, 0, [("SET", "new:%d" % i, "n%d" % i) for i in range(3000)])
c.call("SELECT", "2")
check(c.call("FLUSHDB") == ("+", "OK"), "FLUSHDB of db 2 after the checkpoint")
model[2].clear()
c.call("SELECT", "0")
c.close()
srv.stop(sig=signal.SIGKILL)
with open(CKPT + ".tmp", "wb") as f:
    f.write(saved)
os.rename(CKPT + ".tmp", CKPT)
srv.start()
c = Resp(srv.port)
inf = info(c)
check(inf.get("recovery_from_checkpoint") == "1", "the start rolled forward from the checkpoint",
      inf.get("recovery_from_checkpoint"))
check(int(inf.get("recovery_segments", "0")) > 0, "reading the segments written after it (%s)" %
      inf.get("recovery_segments"))
c.close()
same_as_model("every acknowledged write there, deleted and flushed keys absent")

section("a damaged checkpoint is refused; the scan serves the same data")
check(srv.stop() == 0, "SIGTERM: exit 0")
with open(CKPT, "r+b") as f:
    f.seek(os.path.getsize(CKPT) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x20]))
srv.start()
c = Resp(srv.port)
inf = info(c)
check(inf.get("recovery_from_checkpoint") == "0", "not used", inf.get("recovery_from_checkpoint"))
c.close()
with open(srv.logpath, "rb") as f:
    text = f.read().decode("utf-8", "replace")
check("logstor.ckpt is not used (it is damaged" in text, "the log says why")
same_as_model("the full scan serves the same data")
srv.stop()

section("checkpoint_bytes: a checkpoint once that many bytes were written")
srv2 = itlib.Server("redis", durability="sync",
                    extra=["--checkpoint_interval_ms", "0", "--checkpoint_bytes", "4mb"]).start()
c = Resp(srv2.port)
inf = info(c)
check(inf.get("checkpoint_bytes") == str(4 << 20), "INFO checkpoint_bytes", inf.get("checkpoint_bytes"))
big = "x" * 16384
itlib.pipeline(c, [("SET", "b:%d" % i, big) for i in range(64)])  # 1 MiB
time.sleep(1.0)
check(info(c).get("checkpoints") == "0", "none after 1 MiB of writes",
      info(c).get("checkpoints"))
itlib.pipeline(c, [("SET", "b:%d" % i, big) for i in range(64, 512)])  # 8 MiB in all
t0 = time.time()
while info(c).get("checkpoints") == "0" and time.time() - t0 < 20:
    time.sleep(0.05)
check(int(info(c).get("checkpoints", "0")) >= 1, "one once more than 4 MiB were written",
      info(c).get("checkpoints"))
itlib.pipeline(c, [("DEL", "b:%d" % i) for i in range(0, 512, 2)])
c.close()
srv2.stop(sig=signal.SIGKILL)
srv2.start()
c = Resp(srv2.port)
inf = info(c)
check(inf.get("recovery_from_checkpoint") == "1", "the crash start rolled forward from it",
      inf.get("recovery_from_checkpoint"))
check(c.call("DBSIZE") == (":", 256), "256 keys, the deleted ones absent", c.call("DBSIZE"))
check(c.call("EXISTS", "b:0") == (":", 0) and c.call("GET", "b:1") == ("$", big.encode()),
      "b:0 deleted, b:1 there")
c.close()
srv2.stop()
itlib.finish()
