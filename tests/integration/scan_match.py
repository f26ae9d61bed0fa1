"""scan_match.py - KEYS and SCAN ... MATCH ... TYPE ... COUNT against redis-server 7.0,
run by scan_match.sh.

The filter runs in the engine (ls_scan_match) before a key is copied, and glob_match
compares a pattern's literal prefix before the full matcher: both must leave the replies
exactly Redis's. Both servers get the same keys: every string of 0 to 3 bytes over the
pattern alphabet  a b * ? [ ] ^ - \\  (820 keys, the empty one among them) and a few
others (upper case, NUL, a high byte, a long key); some are hashes, lists, sets or sorted
sets (four of them with 2,000 elements); a few expire a moment after they are written, a
few far in the future. Then seeded random patterns over that alphabet (and fixed ones
with escapes, classes, ranges, unterminated classes and trailing backslashes): KEYS
compared as sorted lists, SCAN run from cursor 0 to the end with MATCH / TYPE (known names
in any case, unknown ones) / COUNT compared as sets, and logstord's SCAN must list no key
twice. Then logstord restarts (its key cache is gone: the first scans read the records)
and the comparison runs again. Last, on a small disk, SCAN MATCH/TYPE iterations and KEYS
run while another connection rewrites and deletes keys of its own (compaction moving
records under the scans): every key present throughout is listed exactly once.
SCAN_MATCH_SEED replays a run.
"""
import itertools
import os
import random
import threading
import time

import itlib
from itlib import Resp, check, log, pipeline, section

itlib.begin("scan_match", time_limit_s=150)
seed = int(os.environ.get("SCAN_MATCH_SEED", random.randrange(1 << 30)))
log("seed %d (SCAN_MATCH_SEED replays it)" % seed)
rng = random.Random(seed)

ALPHA = b"ab*?[]^-\\"
keys = [bytes(t) for n in range(4) for t in itertools.product(ALPHA, repeat=n)]
keys += [b"A", b"AB", b"\x00", b"a\x00b", b"\xff", "\u00e9".encode(), b"a" * 300,
         b"ab" * 600]
TYPES = ["string", "hash", "list", "set", "zset"]


def load(c):
    cmds = []
    for i, k in enumerate(keys):
        t = TYPES[i % 11] if i % 11 < len(TYPES) else "string"
        if t == "string":
            cmds.append(("SET", k, "v%d" % i))
        elif t == "hash":
            cmds.append(("HSET", k, "f", "v"))
        elif t == "list":
            cmds.append(("RPUSH", k, "x", "y"))
        elif t == "set":
            cmds.append(("SADD", k, "x"))
        else:
            cmds.append(("ZADD", k, "1", "x"))
        if i % 13 == 5:
            cmds.append(("PEXPIRE", k, "1"))  # gone by the time anything is asked
        elif i % 13 == 7:
            cmds.append(("EXPIRE", k, "100000"))
    for i, t in enumerate(["hash", "list", "set", "zset"]):  # large ones too
        k = b"a" * (i + 4)
        if t == "hash":
            cmds += [("HSET", k, "f%d" % j, "v") for j in range(2000)]
        elif t == "list":
            cmds += [("RPUSH", k, "x%d" % j) for j in range(2000)]
        elif t == "set":
            cmds += [("SADD", k, "x%d" % j) for j in range(2000)]
        else:
            cmds += [("ZADD", k, str(j), "x%d" % j) for j in range(2000)]
    errs = [r for r in pipeline(c, cmds) if r[0] == "-"]
    check(not errs, "load: %d commands, no error" % len(cmds), errs[:3] or None)


def pattern():
    if rng.random() < 0.2:
        return rng.choice(FIXED)
    return bytes(rng.choice(ALPHA[:4] if rng.random() < 0.3 else ALPHA)
                 for _ in range(rng.randint(0, 6)))


FIXED = [b"", b"*", b"**", b"a", b"a*", b"a**", b"*a", b"ab", b"\\", b"a\\", b"\\*",
         b"\\**", b"a\\*", b"[", b"a[", b"[a", b"[]", b"[]]", b"[^]", b"[^a]", b"[a-b]",
         b"[b-a]", b"[\\]]", b"[\\", b"a[-]", b"?", b"??", b"???", b"????", b"*?", b"?*",
         b"a?*", b"ab*", b"ab?", b"A*", b"[A]*", b"\x00", b"a\x00*", b"\xff", b"*\xff*",
         b"a" * 300, b"a" * 299 + b"*", b"ab" * 600, b"ab*ab*ab*ab*ab*ab*b", b"^*", b"-*"]


def keys_sorted(c, pat):
    r = c.call("KEYS", pat)
    if r[0] != "*":
        return r
    return sorted(x[1] for x in r[1])


def scan_full(c, opts):
    """SCAN from 0 to the end: (sorted keys, duplicates) or the error reply."""
    got, cursor, calls = [], b"0", 0
    while True:
        r = c.call("SCAN", cursor, *opts)
        if r[0] != "*":
            return r, []
        cursor = r[1][0][1]
        got += [x[1] for x in r[1][1][1]]
        calls += 1
        if cursor == b"0" or calls > 100000:
            break
    dups = sorted(k for k in set(got) if got.count(k) > 1)
    return sorted(set(got)), dups


def compare(what, rounds):
    bad = hits = 0
    for _ in range(rounds):
        p = pattern()
        a, b = keys_sorted(lc, p), keys_sorted(rc, p)
        hits += len(b) > 0
        if a != b:
            bad += 1
            check(False, "%s: KEYS %r as Redis" % (what, p), a, b)
            if bad > 10:
                return
    check(bad == 0, "%s: KEYS of %d patterns as Redis (%d match some key)" % (what, rounds, hits))
    for _ in range(rounds // 4):
        opts = []
        if rng.random() < 0.8:
            opts += ["MATCH", pattern()]
        if rng.random() < 0.5:
            opts += ["COUNT", str(rng.choice([1, 2, 3, 10, 37, 100, 1000, 100000]))]
        if rng.random() < 0.4:
            opts += ["TYPE", rng.choice(TYPES + ["STRING", "Hash", "none", "stream", "bogus", ""])]
        (a, dups), (b, _) = scan_full(lc, opts), scan_full(rc, opts)
        if a != b or dups:
            bad += 1
            check(a == b, "%s: SCAN %r as Redis" % (what, opts), a, b)
            check(not dups, "%s: SCAN %r lists no key twice" % (what, opts), dups)
            if bad > 10:
                return
    check(bad == 0, "%s: SCAN of %d option sets as Redis, no key twice" % (what, rounds // 4))


ref = itlib.RedisServer().start()
srv = itlib.Server("redis", durability="sync").start()
rc, lc = Resp(ref.port), Resp(srv.port)
section("load")
load(rc)
load(lc)
time.sleep(0.1)  # the PEXPIRE 1 keys are gone
check(lc.call("DBSIZE")[0] == ":", "DBSIZE answers")
section("compare")
compare("written", 1500)
section("restart")
check(srv.stop() == 0, "logstord stops cleanly")
srv = itlib.Server("redis", durability="sync", data_dir=srv.dir).start()
lc = Resp(srv.port)
compare("after restart", 1500)

section("churn")
# SCAN MATCH iterations and KEYS on a small disk while another connection rewrites and
# deletes keys of its own with 16 KiB values (compaction moves records under the scans):
# every stable key, present throughout, is listed exactly once by each iteration, and no
# churning key matches the stable keys' pattern.
check(srv.stop() == 0, "logstord stops cleanly after the scans")
srv = itlib.Server("redis", durability="sync",
                   extra=["--disk_size", "24mb", "--file_size", "4mb"]).start()
lc = Resp(srv.port)
STABLE = 3000
pipeline(lc, [("SET", "s:%d" % i, "v" * (i % 50), "EX", "100000") if i % 2 else
              ("HSET", "s:%d" % i, "f", "v") for i in range(STABLE)])
stop = []


def churn(_i):
    c = Resp(srv.port)
    big = b"x" * 16384
    n = 0
    while not stop:
        pipeline(c, [("SET", "c:%d" % ((n + j) % 500), big) for j in range(20)] +
                 [("DEL", "c:%d" % ((n * 7 + j) % 500)) for j in range(5)])
        n += 20


t = threading.Thread(target=churn, args=(0,))
t.start()
bad = []
iterations = 0
deadline = time.time() + 8
while time.time() < deadline and len(bad) < 5:
    opts = ["MATCH", rng.choice([b"s:*", b"s:[0-9]*", b"s:?*"]),
            "COUNT", str(rng.choice([1, 7, 100, 5000]))]
    if rng.random() < 0.5:
        opts += ["TYPE", rng.choice(["string", "hash"])]
    got, cursor = [], b"0"
    while True:
        r = lc.call("SCAN", cursor, *opts)
        cursor = r[1][0][1]
        got += [x[1] for x in r[1][1][1]]
        if cursor == b"0":
            break
    want = sorted(b"s:%d" % i for i in range(STABLE)
                  if "TYPE" not in opts or (opts[-1] == "string") == (i % 2 == 1))
    if sorted(got) != want:
        bad.append((opts, len(got), len(set(got)), len(want)))
    k = keys_sorted(lc, b"s:*")
    if k != sorted(b"s:%d" % i for i in range(STABLE)):
        bad.append(("KEYS s:*", len(k)))
    iterations += 1
stop.append(1)
t.join()
check(not bad, "churn: %d SCAN iterations and KEYS list every stable key once" % iterations,
      bad or None)
check((itlib.info_int(srv.port, "segments_compacted") or 0) > 0,
      "churn: compaction ran meanwhile", itlib.info_int(srv.port, "segments_compacted"))
itlib.finish()
