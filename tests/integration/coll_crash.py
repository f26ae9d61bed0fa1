"""coll_crash.py - kill -9 during hash, list, set and sorted-set writes (issue 15); run by
coll_crash.sh.

Writers in sync mode, one command in flight each, each on keys of its own: HSET (of up to
5 fields)/HDEL on hashes, RPUSH/LPOP/LMOVE on two lists (LMOVE moves an element between them in one batch),
SADD/SREM and SMOVE on sets, ZADD/ZINCRBY/ZREM on sorted sets, XADD (MAXLEN)/XDEL/
XREADGROUP/XACK on a stream with a consumer group; a model keeps every key's
state after its last acknowledged command, and the state the command in flight would
give. Checkpoints are taken every 50 ms, so kills land in them too. After each SIGKILL
the restarted server must hold, for every writer, the state after its last acknowledged
command or after the one in flight, across all the keys that command touched at once
(LMOVE/SMOVE: both keys old or both new, never the element in both or in neither), and
its TYPE. Several cycles, each with a random kill delay. The hashes, the first sets and
the sorted sets grow past the small form (hundreds of fields and members; max_value_size
2 KiB for the sorted sets), so kills land in the large form's writes too: a bucket and
its root in one batch, a rewrite's pages ahead of its root.

logstord only.
"""
import os
import random
import signal
import threading
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("coll_crash", time_limit_s=150)
if itlib.IS_REAL:
    itlib.skip("coll_crash: logstord only")
    itlib.finish()

CYCLES = int(os.environ.get("COLL_CRASH_CYCLES", "10"))
WRITERS = 4
rnd = random.Random(int(os.environ.get("COLL_CRASH_SEED", "0")) or None)
srv = itlib.Server("redis", durability="sync",
                   extra=["--checkpoint_interval_ms", "50", "--checkpoint_bytes", "256kb",
                          "--disk_size", "64mb", "--file_size", "4mb",
                          "--max_value_size", "2kb"]).start()


def keys_of(w):
    return {"h": "h:%d" % w, "la": "la:%d" % w, "lb": "lb:%d" % w, "sa": "sa:%d" % w,
            "sb": "sb:%d" % w, "z": "z:%d" % w, "x": "x:%d" % w}


def empty_stream():
    """A stream's model: entries (id, value), its last ID's ms, its group's last delivered
    ID's ms (IDs are "ms-1"), the group's pending IDs."""
    return {"e": [], "last": 0, "g": 0, "pel": []}


def empty_state():
    return {"h": {}, "la": [], "lb": [], "sa": set(), "sb": set(), "z": {}, "x": empty_stream()}


def copy_state(s):
    return {"h": dict(s["h"]), "la": list(s["la"]), "lb": list(s["lb"]), "sa": set(s["sa"]),
            "sb": set(s["sb"]), "z": dict(s["z"]),
            "x": {"e": list(s["x"]["e"]), "last": s["x"]["last"], "g": s["x"]["g"],
                  "pel": list(s["x"]["pel"])}}


def step(r, w, st):
    """A random command for writer w and the state it gives (st is not changed)."""
    k = keys_of(w)
    nxt = copy_state(st)
    op = r.randrange(14)
    x = nxt["x"]
    if op == 10:  # XADD, the stream kept to 300 entries (past 2 KiB: the paged form)
        x["last"] += 1
        v = "s%d" % r.randrange(10 ** 6)
        x["e"] = (x["e"] + [(x["last"], v)])[-300:]
        return ("XADD", k["x"], "MAXLEN", "300", "%d-1" % x["last"], "f", v), nxt
    if op == 11:
        d = r.choice(x["e"])[0] if x["e"] and r.random() < 0.4 else x["last"] + 5
        x["e"] = [e for e in x["e"] if e[0] != d]
        return ("XDEL", k["x"], "%d-1" % d), nxt
    if op == 12:  # the next entry after the group's last delivered one
        after = [e for e in x["e"] if e[0] > x["g"]]
        if after:
            x["g"] = after[0][0]
            x["pel"].append(after[0][0])
        return ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", k["x"], ">"), nxt
    if op == 13:
        a = x["pel"][0] if x["pel"] else 1
        x["pel"] = [p for p in x["pel"] if p != a]
        return ("XACK", k["x"], "g", "%d-1" % a), nxt
    if op == 0:
        args = ["HSET", k["h"]]
        for _ in range(r.choice([1, 1, 2, 5])):
            f, v = "f%d" % r.randrange(300), "v%d" % r.randrange(10 ** 6)
            nxt["h"][f] = v
            args += [f, v]
        return tuple(args), nxt
    if op == 1:
        f = "f%d" % r.randrange(300)
        nxt["h"].pop(f, None)
        return ("HDEL", k["h"], f), nxt
    if op == 2:
        v = "e%d" % r.randrange(10 ** 6)
        nxt["la"].append(v)
        return ("RPUSH", k["la"], v), nxt
    if op == 3:
        if nxt["la"]:
            nxt["la"].pop(0)
        return ("LPOP", k["la"]), nxt
    if op == 4:
        if nxt["la"]:
            nxt["lb"].insert(0, nxt["la"].pop())
        return ("LMOVE", k["la"], k["lb"], "RIGHT", "LEFT"), nxt
    if op == 5:
        ms = ["m%d" % r.randrange(400) for _ in range(r.choice([1, 1, 3, 6]))]
        nxt["sa"].update(ms)
        return tuple(["SADD", k["sa"]] + ms), nxt
    if op == 6:
        m = "m%d" % r.randrange(400)
        if m in nxt["sa"]:
            nxt["sa"].discard(m)
            nxt["sb"].add(m)
        return ("SMOVE", k["sa"], k["sb"], m), nxt
    if op == 7:
        m = "m%d" % r.randrange(400)
        nxt["sb"].discard(m)
        return ("SREM", k["sb"], m), nxt
    if op == 8:
        m, s = "z%d-member-name" % r.randrange(200), r.randrange(-50, 50)
        nxt["z"][m] = nxt["z"].get(m, 0) + s
        return ("ZINCRBY", k["z"], str(s), m), nxt
    m = "z%d-member-name" % r.randrange(200)
    nxt["z"].pop(m, None)
    return ("ZREM", k["z"], m), nxt


def read_state(c, w):
    k = keys_of(w)
    h = [x[1] for x in c.call("HGETALL", k["h"])[1]]
    z = [x[1] for x in c.call("ZRANGE", k["z"], "0", "-1", "WITHSCORES")[1]]
    xi = [v[1] for v in c.call("XINFO", "STREAM", k["x"])[1]]
    gi = [v[1] for v in c.call("XINFO", "GROUPS", k["x"])[1][0][1]]
    x = {"e": [(int(e[1][0][1].split(b"-")[0]), e[1][1][1][1][1].decode())
               for e in c.call("XRANGE", k["x"], "-", "+")[1]],
         "last": int(xi[xi.index(b"last-generated-id") + 1].split(b"-")[0]),
         "g": int(gi[gi.index(b"last-delivered-id") + 1].split(b"-")[0]),
         "pel": [int(p[1][0][1].split(b"-")[0]) for p in
                 c.call("XPENDING", k["x"], "g", "-", "+", "1000")[1]]}
    return {"x": x, "h": {h[i].decode(): h[i + 1].decode() for i in range(0, len(h), 2)},
            "la": [x[1].decode() for x in c.call("LRANGE", k["la"], "0", "-1")[1]],
            "lb": [x[1].decode() for x in c.call("LRANGE", k["lb"], "0", "-1")[1]],
            "sa": {x[1].decode() for x in c.call("SMEMBERS", k["sa"])[1]},
            "sb": {x[1].decode() for x in c.call("SMEMBERS", k["sb"])[1]},
            "z": {z[i].decode(): float(z[i + 1]) for i in range(0, len(z), 2)}}


def norm(s):
    return {"h": s["h"], "la": s["la"], "lb": s["lb"], "sa": s["sa"], "sb": s["sb"],
            "z": {m: float(v) for m, v in s["z"].items()}, "x": s["x"]}


states = [empty_state() for _ in range(WRITERS)]
c0 = Resp(srv.port)
for w in range(WRITERS):
    c0.call("XGROUP", "CREATE", keys_of(w)["x"], "g", "$", "MKSTREAM")
c0.close()
total_acked = 0
xmax = 0  # the longest stream seen after a cycle


def large_forms_reached():
    sizes = [(len(st["h"]), len(st["sa"]), len(st["z"])) for st in states]
    return (any(h > 128 for h, _, _ in sizes) and any(s > 128 for _, s, _ in sizes)
            and xmax > 128 and any(z > 90 for _, _, z in sizes))


# CYCLES cycles, then more while the collections have not all grown past their small
# forms: every command waits for a sync commit, so a slow disk gets there in more cycles
# (a run of 10 cycles here ended with sorted sets of 93-110 members, the check needing 91)
more_until = time.time() + 60
cycle = 0
while cycle < CYCLES or (not large_forms_reached() and time.time() < more_until):
    section("cycle %d" % cycle)
    flying = [None] * WRITERS
    acked = [0] * WRITERS
    stop = [False]

    def run(w):
        r = random.Random(rnd.random())
        try:
            c = Resp(srv.port, timeout=5)
        except OSError:
            return
        while not stop[0]:
            cmd, nxt = step(r, w, states[w])
            flying[w] = nxt
            try:
                rep = c.call(*cmd)
            except (OSError, itlib.ProtocolError):
                return  # killed: the command stays in flight
            if rep[0] == "-":
                log("writer %d: %r answered %r" % (w, cmd, rep))
                stop[0] = True
                return
            states[w] = nxt
            flying[w] = None
            acked[w] += 1

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(0.2 + rnd.random() * 0.8)
    srv.stop(sig=signal.SIGKILL)
    stop[0] = True
    for t in threads:
        t.join(timeout=20)
    total_acked += sum(acked)
    srv.start()
    c = Resp(srv.port)
    bad = []
    for w in range(WRITERS):
        got = read_state(c, w)
        ok = [norm(states[w])] + ([norm(flying[w])] if flying[w] is not None else [])
        if got not in ok:
            bad.append((w, got, ok))
        else:
            states[w] = {"h": got["h"], "la": got["la"], "lb": got["lb"], "sa": got["sa"],
                         "sb": got["sb"], "z": got["z"], "x": got["x"]}
        xmax = max(xmax, len(states[w]["x"]["e"]))
        for name, want in (("h", "hash"), ("la", "list"), ("sa", "set"), ("z", "zset"),
                           ("x", "stream")):
            t = c.call("TYPE", keys_of(w)[name])
            if got[name] and t != ("+", want):
                bad.append((w, name, t))
    c.close()
    log("cycle %d: %d commands acknowledged" % (cycle, sum(acked)))
    check(not bad, "cycle %d: every writer's keys hold the state after its last acknowledged "
          "command or after the one in flight, together" % cycle, bad[:2])
    cycle += 1
check(total_acked > 100, "writes were acknowledged (%d)" % total_acked)
sizes = [(len(st["h"]), len(st["sa"]), len(st["z"])) for st in states]
log("sizes at the end (hash, set, sorted set) per writer: %s" % sizes)
check(any(h > 128 for h, _, _ in sizes) and any(s > 128 for _, s, _ in sizes),
      "hashes and sets reached the large form (past 128 elements)", sizes)
check(sum(st["x"]["last"] for st in states) > 20,
      "streams were written (XADDs acknowledged: %d)" % sum(st["x"]["last"] for st in states))
check(xmax > 128, "streams reached the paged form (past 128 entries: %d)" % xmax)
check(any(z > 90 for _, _, z in sizes),  # ~25-byte elements: past 2 KiB at ~82 members
      "sorted sets reached the large form (a tree: past max_value_size)", sizes)
srv.stop()
itlib.finish()
