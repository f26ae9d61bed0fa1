"""txn_crash.py - transactions and scripts are all-or-nothing across crashes (issue 12),
run by txn_crash.sh. Half the units below are MULTI/EXEC, half EVAL of a script doing the
same writes.

Clients run transactions that each write the same G keys (a group) with the transaction's
own tag, 1 KiB values (so one transaction's writes span several 4 KiB blocks and, without
the unit, could straddle two device writes), some with a DEL of a marker key and an INCR;
the server is killed with SIGKILL at a random moment, restarted, and every group must
hold one tag in all its keys: the writes of a transaction are there together or not at
all. Each transaction also INCRs the group's counter, whose reply is the transaction's
place in the order the server applied them: a transaction answered before the kill must
be there (sync durability), so the counter is never below the highest place a client saw
acknowledged, and when it equals an acknowledged place the keys hold that transaction's
tag (counter and keys together). CYCLES (default 12) changes the number of kills.
"""
import os
import random
import threading
import time

import itlib
from itlib import Resp, check, encode, section

itlib.begin("txn_crash", time_limit_s=200)
if itlib.IS_REAL:
    itlib.skip("kills logstord")
    itlib.finish()
CYCLES = int(os.environ.get("CYCLES", 12))
GROUPS, G, CLIENTS = 4, 8, 4
VALUE = 1024
rng = random.Random(int(os.environ.get("SEED", time.time())))
DURABILITY = os.environ.get("DURABILITY", "sync")  # periodic: only the all-or-nothing check
srv = itlib.Server("redis", durability=DURABILITY).start()


def group_keys(g):
    return ["g%d:k%d" % (g, i) for i in range(G)]


SCRIPT = ("for i = 1, #KEYS - 2 do redis.call('set', KEYS[i], ARGV[1]) end\n"
          "local n = redis.call('incr', KEYS[#KEYS - 1])\n"
          "if ARGV[2] == 'del' then redis.call('del', KEYS[#KEYS])\n"
          "else redis.call('set', KEYS[#KEYS], ARGV[2]) end\n"
          "return n")


def script(tag, g):
    """The same writes as tx(), as one EVAL: its reply is the group's counter."""
    v = (b"%d:" % tag).ljust(VALUE, b"x")
    keys = group_keys(g) + ["g%d:n" % g, "g%d:marker" % g]
    return encode("EVAL", SCRIPT, len(keys), *keys, v, "del" if tag % 3 == 0 else tag)


def tx(tag, g):
    v = (b"%d:" % tag).ljust(VALUE, b"x")
    body = [encode("SET", k, v) for k in group_keys(g)]
    body.append(encode("INCR", "g%d:n" % g))
    if tag % 3 == 0:
        body.append(encode("DEL", "g%d:marker" % g))
    else:
        body.append(encode("SET", "g%d:marker" % g, tag))
    return encode("MULTI") + b"".join(body) + encode("EXEC"), len(body)


acked = {}  # group -> {place in the apply order (the INCR's reply): tag}, acknowledged
lock = threading.Lock()
stop = threading.Event()
next_tag = [1]


def client(i):
    try:
        c = Resp(srv.port, timeout=10)
        while not stop.is_set():
            with lock:
                tag = next_tag[0]
                next_tag[0] += 1
            g = rng.randrange(GROUPS)
            if tag % 2:  # a script
                c.send(script(tag, g))
                r = c.read()
                if r[0] == ":":
                    with lock:
                        acked.setdefault(g, {})[r[1]] = tag
                continue
            req, n = tx(tag, g)
            c.send(req)
            replies = [c.read() for _ in range(n + 2)]
            if replies[-1][0] == "*" and len(replies[-1][1]) == n:
                with lock:
                    acked.setdefault(g, {})[replies[-1][1][G][1]] = tag
    except (OSError, itlib.ProtocolError):
        pass  # killed


torn, lost, cycles, tags_seen = [], [], 0, 0
for cycle in range(CYCLES):
    stop.clear()
    ts = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in ts:
        t.start()
    time.sleep(0.05 + rng.random() * 0.4)
    srv.kill()
    stop.set()
    for t in ts:
        t.join()
    srv.start()
    c = Resp(srv.port, timeout=20)
    for g in range(GROUPS):
        r = c.call("MGET", *(group_keys(g) + ["g%d:n" % g]))
        vals = [v[1] for v in r[1][:G]]
        place = int(r[1][G][1] or 0)
        tags = set(v.split(b":")[0] if v else None for v in vals)
        if len(tags) != 1:
            torn.append((cycle, g, sorted(str(t) for t in tags)))
            continue
        tag = tags.pop()
        tag = int(tag) if tag else 0
        tags_seen += tag > 0
        done = acked.get(g, {})
        if DURABILITY != "sync":
            pass  # acknowledged writes of the last flush interval may be lost
        elif done and place < max(done):
            lost.append((cycle, g, "counter %d below acknowledged %d" % (place, max(done))))
        elif place in done and done[place] != tag:
            lost.append((cycle, g, "counter %d is tag %d's, keys hold %d" % (place, done[place], tag)))
    c.close()
    cycles += 1
section("%s durability: %d kills, %d transactions sent" % (DURABILITY, cycles, next_tag[0] - 1))
check(not torn, "every group holds one transaction's tag in all its keys (torn: %d)" % len(torn),
      torn[:3])
check(not lost, "no group is older than a transaction acknowledged before the kill", lost[:3])
check(tags_seen > 0, "transactions were written (%d group checks found one)" % tags_seen)
itlib.finish()
