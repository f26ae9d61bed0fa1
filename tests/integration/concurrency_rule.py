"""concurrency_rule.py - the server's concurrency rule (server/lockset.c) seen from clients
(issue 11 items 9 and 10; run by concurrency_rule.sh).

Every command takes the locks of the keys it reads and writes before it reads and keeps
them until its writes are accepted by the engine; FLUSHDB/FLUSHALL/flush_all wait for the
commands in flight on their database and hold new ones back. logstord runs with a tiny
write backlog (--max_pending_bytes 1mb --write_buffers 4) and background pushers keep it
full, so writes are refused as busy and parked (server/park.c) while the races run:
- SET NX raced by two clients: never both OK (issue 11 item 9: 13-32 of 200 were);
- SET XX raced with DEL: no outcome that no serial order gives (both succeed and the key
  is still there, or both fail);
- memcached add/add and replace/delete: the same;
- DEL naming a key several times counts it once even when its deletes park (the later
  ones used to count the key again: 2 to 4 instead of 1, a few in a thousand);
- the pipeline SET k 5; INCR k; FLUSHDB; GET k answers nil for the GET (item 10; it
  answered 6), and the same for FLUSHALL and memcached flush_all.
TARGET=redis runs the same checks against redis-server and memcached.
"""
import threading

import itlib
from itlib import Mc, Pushers, Resp, check, encode, log, section

itlib.begin("concurrency_rule", time_limit_s=200)
extra = [] if itlib.IS_REAL else ["--max_pending_bytes", "1mb", "--write_buffers", "4"]
srv = itlib.Server("redis", extra=extra).start()
msrv = srv if not srv.real else itlib.Server("memcached").start()
log("concurrency_rule: target %s on 127.0.0.1:%d" %
    ("redis-server" if srv.real else "logstord", srv.port))

KEYS, BATCH = 200, 5


def parked():
    return 0 if srv.real else itlib.info_int(srv.port, "busy_writes_parked")


def race(conn, cmd_a, cmd_b, read):
    """Two connections send cmd_a(i) and cmd_b(i) for KEYS keys, BATCH keys at a time
    (both start each batch together); returns the two lists of replies."""
    gate = threading.Barrier(2)
    out = [None, None]

    def run(n, cmd):
        c = conn()
        got = []
        for first in range(0, KEYS, BATCH):
            gate.wait()
            c.send(b"".join(cmd(i) for i in range(first, first + BATCH)))
            got += [read(c) for _ in range(BATCH)]
        c.close()
        out[n] = got

    ts = [threading.Thread(target=run, args=(0, cmd_a)), threading.Thread(target=run, args=(1, cmd_b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def resp_conn():
    return Resp(srv.port, timeout=60)


def mc_conn():
    return Mc(msrv.mc_port, timeout=60)


def resp_read(c):
    return c.read()


def mc_read(c):
    return c.line()


def mc_cmd(line, data=None):
    return line.encode() + b"\r\n" + (b"" if data is None else data + b"\r\n")


def preset(prefix):
    c = resp_conn()
    c.send(b"".join(encode("SET", "%s%d" % (prefix, i), "old") for i in range(KEYS)))
    itlib.count_not_ok(c, KEYS)
    return c


def mc_values(prefix):
    """The value of each key prefix<i> (None when absent), read through the memcached port."""
    c = mc_conn()
    vals = []
    for i in range(KEYS):
        c.send(b"get %s%d\r\n" % (prefix.encode(), i))
        got = c.lines_until(b"END")
        vals.append(got[0][1] if got else None)
    c.close()
    return vals


pushers = None if srv.real else Pushers(srv.port)
p0 = parked()

section("SET NX raced by two clients under a full write backlog: one winner per key")
a, b = race(resp_conn, lambda i: encode("SET", "lock:%d" % i, "a", "NX"),
            lambda i: encode("SET", "lock:%d" % i, "b", "NX"), resp_read)
ok = ("+", "OK")
both = sum(1 for x, y in zip(a, b) if x == ok and y == ok)
none = sum(1 for x, y in zip(a, b) if x != ok and y != ok)
check(both == 0 and none == 0, "exactly one OK per key (%d keys with two, %d with none)" %
      (both, none))
c = resp_conn()
vals = [c.call("GET", "lock:%d" % i)[1] for i in range(KEYS)]
wrong = sum(1 for i in range(KEYS) if vals[i] != (b"a" if a[i] == ok else b"b"))
check(wrong == 0, "each key holds its winner's value (%d wrong)" % wrong)

section("SETNX and MSETNX raced the same way")
a, b = race(resp_conn, lambda i: encode("SETNX", "snx:%d" % i, "a"),
            lambda i: encode("MSETNX", "snx:%d" % i, "b", "msnx:%d" % i, "b"), resp_read)
both = sum(1 for x, y in zip(a, b) if x == (":", 1) and y == (":", 1))
check(both == 0, "SETNX and MSETNX never both succeed (%d keys)" % both)

section("SET XX raced with DEL: an outcome some serial order gives")
preset("xx:").close()
a, b = race(resp_conn, lambda i: encode("SET", "xx:%d" % i, "new", "XX"),
            lambda i: encode("DEL", "xx:%d" % i), resp_read)
vals = [c.call("GET", "xx:%d" % i)[1] for i in range(KEYS)]
bad = []
for i in range(KEYS):
    set_ok, deleted = a[i] == ok, b[i] == (":", 1)
    # SET XX then DEL: OK, 1, gone. DEL then SET XX: nil, 1, gone.
    if not deleted or vals[i] is not None:
        bad.append((i, a[i], b[i], vals[i]))
check(not bad, "DEL always deletes and the key is gone (%d keys otherwise)" % len(bad), bad[:3])

section("memcached add raced with add: one STORED per key")
a, b = race(mc_conn, lambda i: mc_cmd("add mlock:%d 0 0 1" % i, b"a"),
            lambda i: mc_cmd("add mlock:%d 0 0 1" % i, b"b"), mc_read)
both = sum(1 for x, y in zip(a, b) if x == b"STORED" and y == b"STORED")
none = sum(1 for x, y in zip(a, b) if x != b"STORED" and y != b"STORED")
check(both == 0 and none == 0, "exactly one STORED per key (%d keys with two, %d with none)" %
      (both, none))
vals = mc_values("mlock:")
wrong = sum(1 for i in range(KEYS) if vals[i] != (b"a" if a[i] == b"STORED" else b"b"))
check(wrong == 0, "each key holds its winner's value (%d wrong)" % wrong)

section("memcached replace raced with delete")
m = mc_conn()
m.send(b"".join(mc_cmd("set mrd:%d 0 0 3" % i, b"old") for i in range(KEYS)))
check(all(m.line() == b"STORED" for _ in range(KEYS)), "keys set")
m.close()
a, b = race(mc_conn, lambda i: mc_cmd("replace mrd:%d 0 0 3" % i, b"new"),
            lambda i: mc_cmd("delete mrd:%d" % i), mc_read)
vals = mc_values("mrd:")
bad = [(i, a[i], b[i], vals[i]) for i in range(KEYS) if b[i] != b"DELETED" or vals[i] is not None]
check(not bad, "delete always deletes and the key is gone (%d keys otherwise)" % len(bad), bad[:3])

section("DEL naming a key several times counts it once, also when its deletes park")
c2 = resp_conn()
bad = []
for rnd in range(50):
    c2.send(b"".join(encode("SET", "dd:%d" % i, "v") for i in range(100)))
    itlib.count_not_ok(c2, 100)
    c2.send(b"".join(encode("DEL", *(["dd:%d" % i] * 4)) for i in range(100)))
    bad += [r for r in (c2.read() for _ in range(100)) if r != (":", 1)]
c2.close()
check(not bad, "5000 DEL k k k k answer 1 (%d did not, first %r)" % (len(bad), bad[:1]))

if not srv.real:
    n = parked() - p0
    check(n > 0, "writes were parked during the races, so they raced the parked path (%d)" % n)

section("SET k 5; INCR k; FLUSHDB; GET k in one pipeline: the GET answers nil")
for flush in ("FLUSHDB", "FLUSHALL"):
    wrong = []
    for run in range(20):
        c2 = resp_conn()
        c2.send(encode("SET", "fk", "5") + encode("INCR", "fk") + encode(flush) + encode("GET", "fk"))
        got = [c2.read() for _ in range(4)]
        c2.close()
        if got != [ok, (":", 6), ok, ("$", None)]:
            wrong.append(got)
    check(not wrong, "%s: 20 runs answer OK, 6, OK, nil (%d did not)" % (flush, len(wrong)),
          wrong[:1])

section("memcached: set k 5; incr k 1; flush_all; get k in one pipeline: a miss")
wrong = []
for run in range(20):
    m = mc_conn()
    m.send(mc_cmd("set fk 0 0 1", b"5") + mc_cmd("incr fk 1") + mc_cmd("flush_all") +
           mc_cmd("get fk"))
    got = [m.line() for _ in range(4)]
    m.close()
    if got != [b"STORED", b"6", b"OK", b"END"]:
        wrong.append(got)
check(not wrong, "20 runs answer STORED, 6, OK, END (%d did not)" % len(wrong), wrong[:1])

if pushers:
    pushers.stop()
    check(not pushers.errors, "the pushers' %d SETs all answer +OK (%d errors, first %r)" %
          (pushers.sets, len(pushers.errors), pushers.errors[:1]))

c = resp_conn()
check(c.call("PING") == ("+", "PONG"), "server still answers")
c.close()
itlib.finish()
