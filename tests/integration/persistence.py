"""persistence.py - data survives SIGTERM and kill -9 (durability sync). Run by
persistence.sh.

1. SIGTERM: write keys (plain, with TTL, deleted, in db 3, a large value, counters),
   SIGTERM must exit 0; a restart on the same dir serves exactly the same data.
2. kill -9 under load, three cycles: 16 client threads write (unique SETs, overwrites,
   INCRs); the server is killed with SIGKILL mid-flight; after each restart every
   acknowledged write must be there (sync mode: a reply means stable storage), and no
   counter may be below its acknowledged value.

This is a logstord test. With TARGET=redis it runs against redis-server with
appendonly yes / appendfsync always, which gives the same guarantee: that validates the
test itself, not Redis.
"""
import signal
import threading
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("persistence", time_limit_s=150)
extra = ["--appendonly", "yes", "--appendfsync", "always"] if itlib.IS_REAL else []
srv = itlib.Server("redis", extra=extra, durability="sync").start()
log("persistence: target %s on 127.0.0.1:%d, dir %s" %
    ("redis-server (appendfsync always)" if srv.real else "logstord --durability sync", srv.port, srv.dir))


# ---- 1. SIGTERM -----------------------------------------------------------------------------
section("clean shutdown (SIGTERM) and restart")
c = Resp(srv.port)
N = 5000
r = itlib.pipeline(c, [("SET", "k:%d" % i, "v:%d" % i) for i in range(N)])
check(all(x == ("+", "OK") for x in r), "%d SETs acknowledged" % N)
r = itlib.pipeline(c, [("SET", "ttl:%d" % i, "t", "EX", "1000") for i in range(100)])
check(all(x == ("+", "OK") for x in r), "100 SET EX 1000 acknowledged")
r = itlib.pipeline(c, [("DEL", "k:%d" % i) for i in range(0, N, 10)])
check(all(x == (":", 1) for x in r), "every 10th key deleted")
r = itlib.pipeline(c, [("SET", "k:%d" % i, "new:%d" % i) for i in range(1, N, 10)])
check(all(x == ("+", "OK") for x in r), "every 10th+1 key overwritten")
check(c.call("SET", "short", "x", "PX", "200") == ("+", "OK"), "SET short PX 200")
check(c.call("SELECT", "3") == ("+", "OK"), "SELECT 3")
r = itlib.pipeline(c, [("SET", "db3:%d" % i, "x%d" % i) for i in range(50)])
check(all(x == ("+", "OK") for x in r), "50 keys in db 3")
check(c.call("SELECT", "0") == ("+", "OK"), "SELECT 0")
big = bytes(range(256)) * 2048  # 512 KiB, every byte value
check(c.call("SET", "big", big) == ("+", "OK"), "SET big (512 KiB, all byte values)")
for _ in range(77):
    c.call("INCR", "counter")
check(c.call("APPEND", "k:1", "+tail")[0] == ":", "APPEND k:1")
c.close()
if not srv.real:
    m = itlib.Mc(srv.mc_port)
    check(m.cmd("set mckey 42 0 5", b"hello") == b"STORED", "memcached: set mckey flags 42")
    m.close()
time.sleep(0.3)

rc = srv.stop(signal.SIGTERM, timeout=20)
check(rc == 0, "SIGTERM: server exits with status 0 within 20 s", rc, 0)
srv.start()
c = Resp(srv.port)


def verify_snapshot(c, label):
    vals = itlib.pipeline(c, [("GET", "k:%d" % i) for i in range(N)])
    bad = []
    for i, v in enumerate(vals):
        want = ("$", None) if i % 10 == 0 else ("$", b"new:%d" % i + (b"+tail" if i == 1 else b"")) \
            if i % 10 == 1 else ("$", b"v:%d" % i)
        if v != want:
            bad.append((i, v, want))
    check(not bad, "%s: all %d k:* keys have the right value or are absent (deleted)" % (label, N),
          bad[:3] or None)
    ttls = itlib.pipeline(c, [("TTL", "ttl:%d" % i) for i in range(100)])
    check(all(t[0] == ":" and 900 <= t[1] <= 1000 for t in ttls), "%s: 100 ttl:* keys keep a TTL of 900..1000" % label,
          [t for t in ttls if not (t[0] == ":" and 900 <= t[1] <= 1000)][:3] or None)
    check(c.call("GET", "short") in (("$", None), ("_", None)), "%s: short (PX 200) has expired" % label)
    check(c.call("GET", "big") == ("$", big), "%s: big value intact" % label)
    check(c.call("GET", "counter") == ("$", b"77"), "%s: counter == 77" % label, c.call("GET", "counter"))
    check(c.call("SELECT", "3") == ("+", "OK"), "SELECT 3")
    v3 = itlib.pipeline(c, [("GET", "db3:%d" % i) for i in range(50)])
    check(all(v == ("$", b"x%d" % i) for i, v in enumerate(v3)), "%s: 50 keys in db 3" % label)
    check(c.call("DBSIZE") == (":", 50), "%s: DBSIZE in db 3 is 50" % label, c.call("DBSIZE"))
    check(c.call("SELECT", "0") == ("+", "OK"), "SELECT 0")
    want_db0 = N - N // 10 + 100 + 2  # k:*, ttl:*, big, counter
    if c.call("EXISTS", "mckey") == (":", 1):
        want_db0 += 1  # memcached items share db 0 with the Redis protocol
    check(c.call("DBSIZE") == (":", want_db0), "%s: DBSIZE in db 0 is %d" % (label, want_db0), c.call("DBSIZE"))


verify_snapshot(c, "after SIGTERM restart")
c.close()
if srv.real:
    itlib.skip("memcached item across restart (redis-server has no memcached port)")
else:
    m = itlib.Mc(srv.mc_port)
    m.send(b"get mckey\r\n")
    got = m.lines_until(b"END")
    check(got == [(b"VALUE mckey 42 5", b"hello")], "memcached item and its flags survive the restart", got)
    m.close()
# A second clean restart must give the same picture (recovery is repeatable).
rc = srv.stop(signal.SIGTERM, timeout=20)
check(rc == 0, "second SIGTERM: exit status 0", rc, 0)
srv.start()
c = Resp(srv.port)
verify_snapshot(c, "after a second restart")
c.close()

# ---- 2. kill -9 under load ---------------------------------------------------------------------
section("kill -9 under load (sync durability): every acknowledged write survives")
THREADS = 16


class Writer(threading.Thread):
    def __init__(self, idx, cycle):
        super().__init__(daemon=True)
        self.idx, self.cycle = idx, cycle
        self.acked_sets = []      # keys whose SET was acknowledged
        self.last_acked = -1      # last acknowledged value written to last:<idx>
        self.last_sent = -1
        self.incr_acked = 0       # highest INCR reply
        self.incr_sent = 0
        self.stop = False

    def run(self):
        try:
            c = Resp(srv.port, timeout=10)
        except OSError:
            return
        i = 0
        try:
            while not self.stop:
                key = "c%d:t%d:%d" % (self.cycle, self.idx, i)
                r = c.call("SET", key, "val-" + key)
                if r != ("+", "OK"):
                    break
                self.acked_sets.append(key)
                self.last_sent = i
                r = c.call("SET", "last:%d" % self.idx, str(i))
                if r != ("+", "OK"):
                    break
                self.last_acked = i
                self.incr_sent += 1
                r = c.call("INCR", "ctr:%d" % self.idx)
                if r[0] != ":":
                    break
                self.incr_acked = r[1]
                i += 1
        except (OSError, itlib.ProtocolError):
            pass  # the server was killed
        finally:
            c.close()


prior_acked = {}     # key -> value, from earlier cycles
prior_ctr = {}       # thread idx -> (acked, sent) cumulated
prior_last = {}
for cycle in range(3):
    writers = [Writer(t, cycle) for t in range(THREADS)]
    for w in writers:
        w.start()
    time.sleep(1.5)
    srv.stop(signal.SIGKILL, timeout=10)
    for w in writers:
        w.stop = True
        w.join(15)
    acked = sum(len(w.acked_sets) for w in writers)
    log("     cycle %d: %d acknowledged SETs from %d clients before kill -9" % (cycle, acked, THREADS))
    check(acked > 100, "cycle %d: clients got more than 100 writes acknowledged" % cycle, acked)
    t0 = time.time()
    srv.start()
    log("     restart took %.2f s" % (time.time() - t0))
    c = Resp(srv.port, timeout=30)
    keys = [k for w in writers for k in w.acked_sets]
    missing = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        vals = itlib.pipeline(c, [("GET", k) for k in chunk])
        missing += [(k, v) for k, v in zip(chunk, vals) if v != ("$", b"val-" + k.encode())]
    check(not missing, "cycle %d: all %d acknowledged SETs present with their value" % (cycle, len(keys)),
          "%d missing/wrong, e.g. %r" % (len(missing), missing[:3]) if missing else None)
    old = list(prior_acked.items())
    vals = itlib.pipeline(c, [("GET", k) for k, _ in old]) if old else []
    lost = [(k, v) for (k, want), v in zip(old, vals) if v != ("$", want)]
    check(not lost, "cycle %d: acknowledged SETs of earlier cycles still present (%d)" % (cycle, len(old)),
          lost[:3] or None)
    for w in writers:
        prior_acked.update((k, b"val-" + k.encode()) for k in w.acked_sets)
    bad = []
    for w in writers:
        r = c.call("GET", "last:%d" % w.idx)
        v = int(r[1]) if r[0] == "$" and r[1] is not None else -1
        lo = w.last_acked if w.last_acked >= 0 else prior_last.get(w.idx, -1)
        if v < lo or v > max(w.last_sent, lo):
            bad.append((w.idx, v, w.last_acked, w.last_sent))
        if w.last_acked >= 0:
            prior_last[w.idx] = w.last_acked
        r = c.call("GET", "ctr:%d" % w.idx)
        ctr = int(r[1]) if r[0] == "$" and r[1] is not None else 0
        acked_total = max(w.incr_acked, prior_ctr.get(w.idx, (0, 0))[0])
        sent_total = prior_ctr.get(w.idx, (0, 0))[1] + w.incr_sent
        if ctr < acked_total or ctr > sent_total:
            bad.append(("ctr", w.idx, ctr, acked_total, sent_total))
        prior_ctr[w.idx] = (ctr, ctr)
    check(not bad, "cycle %d: overwritten keys and INCR counters are at least their acknowledged value"
          % cycle, bad[:3] or None)
    check(c.call("PING") == ("+", "PONG"), "cycle %d: server answers after recovery" % cycle)
    c.close()

section("SHUTDOWN command")
c = Resp(srv.port)
check(c.call("SET", "final", "yes") == ("+", "OK"), "SET final yes")
c.send(itlib.encode("SHUTDOWN"))
try:
    r = c.read()
except (itlib.ProtocolError, OSError) as e:
    r = ("closed", str(e))
check(r[0] == "closed", "SHUTDOWN: the connection is closed with no reply", r)
c.close()
try:
    rc = srv.proc.wait(timeout=20)
except Exception:
    rc = "still running"
srv.proc = None if rc != "still running" else srv.proc
check(rc == 0, "SHUTDOWN: the server exits with status 0", rc, 0)
srv.kill()
srv.start()
c = Resp(srv.port)
check(c.call("GET", "final") == ("$", b"yes"), "after SHUTDOWN and restart: final == yes")
c.close()

section("SIGTERM with 1000 slow writes queued: exits at once, acknowledged data intact")
# Each queued ZADD of 200 members rewrites a 20,000-member set (too many pages for a write
# of its own part). Shutdown waited for every command already parsed, 58 s here, and
# forced, ran on inside the engine's close; now commands not started are not run.
c = Resp(srv.port, timeout=60)
for b in range(20):
    c.call(*(["ZADD", "slow"] + sum([[str(i), "m%d" % i] for i in range(b * 1000, (b + 1) * 1000)],
                                    [])))
check(c.call("ZCARD", "slow") == (":", 20000), "a sorted set of 20,000 members")
c.send(b"".join(itlib.encode(*(["ZADD", "slow"] + sum([[str(i), "n%d_%d" % (j, i)]
                                                       for i in range(200)], [])))
                for j in range(1000)))
time.sleep(0.5)
t0 = time.time()
rc = srv.stop(signal.SIGTERM, timeout=20)
took = time.time() - t0
check(rc == 0 and took < 5, "SIGTERM: exit status 0 within 5 s (%.2f s)" % took, rc, 0)
c.close()
srv.start()
c = Resp(srv.port)
n = c.call("ZCARD", "slow")
check(n[0] == ":" and n[1] >= 20000 and (n[1] - 20000) % 200 == 0,
      "after restart: the 20,000 members and whole ZADDs only", n)
c.close()
rc = srv.stop(signal.SIGTERM, timeout=20)
check(rc == 0, "final SIGTERM: exit status 0", rc, 0)
itlib.finish()
