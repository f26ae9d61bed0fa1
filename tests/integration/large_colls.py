"""large_colls.py - large hashes, sets and sorted sets (a root record and pages once the
small form would pass max_value_size; engine/FORMAT.md "Large form"), run by
large_colls.sh.

logstord runs with max_value_size LARGE_MAXVAL (default 1024, the least the config
accepts, so anything over about 1 KiB encoded takes the large form) and sync durability,
next to a redis-server. A seeded random sequence of hash, set and sorted set commands runs
on both, every reply compared: collections from empty to a few thousand members, shrunk
back below the limit, deleted; fields, members and values mostly short, some of 100-400
bytes, rarely 2-5 KiB. Hashes: HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN HSTRLEN
HINCRBY HINCRBYFLOAT HKEYS HVALS HGETALL HRANDFIELD HSCAN. Sets: SADD SREM SISMEMBER
SMISMEMBER SCARD SMEMBERS SPOP SRANDMEMBER SMOVE SINTER SUNION SDIFF (and STORE) SINTERCARD
SSCAN. Sorted sets: ZADD (NX XX GT LT CH INCR) ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZCOUNT
ZRANK ZREVRANK ZRANGE (ranks, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) ZRANGESTORE
ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZLEXCOUNT ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER
ZUNIONSTORE ZINTERSTORE ZDIFFSTORE (a set among the inputs) ZREMRANGEBY* ZSCAN. Keys:
TYPE, OBJECT ENCODING (past 600 members), EXISTS, DEL, UNLINK, EXPIRE/TTL/PERSIST, RENAME,
COPY, MOVE, DUMP/RESTORE, SORT, MULTI/EXEC, WATCH. Every 250 steps every collection is
compared whole, then logstord is restarted, cleanly or by SIGKILL in turn (sync: every
acknowledged write must be there), and compared again. At the end logstord's RDB
(redis-cli --rdb) loads into a fresh redis-server with every collection as logstord holds
it, and once everything is deleted the reaper must remove every page and anchor (INFO
large_pages and large_versions back to 0).

Replies compared other than byte for byte, where Redis's own answer is not fixed:
  - HKEYS HVALS HGETALL SMEMBERS SINTER SUNION SDIFF: sorted (a big hash's or set's order is
    Redis's hash table order).
  - HSCAN SSCAN ZSCAN: run to the end on each server, the union of what they returned.
  - HRANDFIELD, SRANDMEMBER, ZRANDMEMBER: each server's answer checked on its own (count,
    distinct for a positive count, every one a member, its value or score right).
  - SPOP: on a COPY of the set, each server's answer checked on its own (count, members,
    what is left), then the copy is deleted: the sets the sequence goes on with stay the
    same on both servers, so a seed replays.
  - ZRANGE BYLEX and the other lex commands only on "zlex", whose members all have score
    0 (on a mix of scores Redis's answer depends on its skiplist's random levels).
  - Scores are integers and quarters (exact in a double, printed alike by both). No WEIGHTS
    of 0 or below: they make scores of -0, which Redis's listpack stores as the integer 0
    (ZSCORE "0") and logstord keeps as -0 ("-0"), a difference of the small form that
    does not depend on max_value_size.
  - SORT ... ALPHA compares bytes: both servers run in the C locale.
Keys: hashes h0-h2, sets s0-s2 and snum (integers only, for SORT without ALPHA), sorted
sets z0-z2, zd (mostly the STORE commands' destination) and zlex.
env: LARGE_SEED replays a run, LARGE_STEPS its length, LARGE_MAXVAL logstord's
max_value_size, LARGE_STOP=1 stops at the first difference.
"""
import atexit
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter

import itlib
from itlib import RedisServer, Resp, check, section

SEED = int(os.environ.get("LARGE_SEED", "0")) or random.randrange(1, 1 << 30)
STEPS = int(os.environ.get("LARGE_STEPS", "10000"))
MAXVAL = os.environ.get("LARGE_MAXVAL", "1024")
itlib.begin("large_colls", time_limit_s=300)
itlib.log("seed %d (LARGE_SEED=%d replays it), %d steps, max_value_size %s" %
          (SEED, SEED, STEPS, MAXVAL))
rng = random.Random(SEED)
os.environ["LC_ALL"] = "C"  # SORT ALPHA: Redis uses strcoll, logstord compares bytes


def size_bytes(s):
    s = s.strip().lower()
    for unit, mult in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 10 ** 9),
                       ("m", 10 ** 6), ("k", 10 ** 3), ("b", 1)):
        if s.endswith(unit):
            return int(s[:-len(unit)]) * mult
    return int(s)


extra = ["--max_value_size", MAXVAL]
if size_bytes(MAXVAL) > 16 << 20:  # max_value_size must fit in one data file (32 MiB)
    extra += ["--file_size", str(-(-2 * size_bytes(MAXVAL) // (128 << 10)) * (128 << 10))]
srv = itlib.Server("redis", durability="sync", extra=extra).start()
ref = RedisServer("redis").start()

H = ["h0", "h1", "h2"]
S = ["s0", "s1", "s2"]
SNUM = "snum"  # integer members only (SORT without ALPHA)
Z = ["z0", "z1", "z2", "zd"]  # zd: mostly the destination of the STORE commands
ZLEX = "zlex"  # every score 0 (the lex commands)
KEYS = H + S + [SNUM] + Z + [ZLEX]
mismatches = [0]
tally = Counter()  # commands compared, by name


def conns():
    return Resp(srv.port, timeout=30), Resp(ref.port, timeout=30)


c, r = conns()


def show(x):
    return str(x)[:300]


def differ(what, got, want):
    mismatches[0] += 1
    if mismatches[0] <= 5:
        check(False, what, got=show(got), want=show(want))
    if os.environ.get("LARGE_STOP"):
        itlib.log("stopping at the first difference (seed %d): server log %s" % (SEED, srv.logpath))
        os.system("cp %s /tmp/large_stop.log" % srv.logpath)
        itlib.finish()


def desc(args):
    return " ".join(str(a)[:40] for a in args[:8]) + (" ... (%d args)" % len(args) if len(args) > 8 else "")


def arr(rep):
    return rep[1] if rep[0] == "*" and rep[1] is not None else None


def srt(rep):
    """An array reply sorted (Redis's order for a big hash or set is its hash table's)."""
    a = arr(rep)
    return ("*", sorted(a)) if a is not None else rep


def pairs(rep):
    """A flat field-value array as sorted pairs."""
    a = arr(rep)
    return ("*", sorted(zip(a[0::2], a[1::2]))) if a is not None and len(a) % 2 == 0 else rep


def both(*args, norm=None, what=None, on=None):
    tally[args[0]] += 1
    cx, rx = on or (c, r)
    x, y = cx.call(*args), rx.call(*args)
    nx, ny = (norm(x), norm(y)) if norm else (x, y)
    if nx != ny:
        differ(what or desc(args), x, y)
    return x


def members_of(k):
    """The reference's members (fields) of k, sorted: a deterministic choice of arguments."""
    t = r.call("TYPE", k)[1]
    if t == "hash":
        return sorted(x[1] for x in r.call("HKEYS", k)[1])
    if t == "set":
        return sorted(x[1] for x in r.call("SMEMBERS", k)[1])
    if t == "zset":
        return [x[1] for x in r.call("ZRANGE", k, "0", "-1")[1]]
    return []


# ---- arguments ----

def member():
    """Mostly short (a few thousand distinct), some of 100-400 bytes, rarely 2-5 KiB; the
    same id gives the same bytes, so removals find what additions put."""
    x = rng.random()
    if x < 0.015:
        i = rng.randrange(40)
        return "X%d:" % i + "x" * (2000 + (i * 7919) % 3000)
    if x < 0.15:
        i = rng.randrange(500)
        return "M%d:" % i + "y" * (100 + (i * 37) % 300)
    if x < 0.55:
        return "%d" % rng.randrange(4000)
    return "m%d" % rng.randrange(4000)


def numeric():
    return "%d" % rng.randrange(-3000, 3000)


def value():
    x = rng.random()
    if x < 0.01:
        return "V" * rng.randrange(2000, 5000)
    if x < 0.15:
        return "w%d-" % rng.randrange(1000) + "v" * rng.randrange(100, 400)
    if x < 0.45:
        return "%d" % rng.randrange(-1000, 1000)
    if x < 0.55:
        return "%s" % (rng.randrange(-4000, 4000) / 4)
    return "v%d" % rng.randrange(100000)


def score():
    if rng.random() < 0.7:
        return "%d" % rng.randrange(-500, 500)
    return "%s" % (rng.randrange(-2000, 2000) / 4)


def bound():
    """A score bound: inclusive, exclusive or infinite."""
    x = rng.random()
    if x < 0.1:
        return rng.choice(["-inf", "+inf"])
    if x < 0.4:
        return "(" + score()
    return score()


def lex_bound():
    x = rng.random()
    if x < 0.15:
        return rng.choice(["-", "+"])
    return rng.choice(["[", "("]) + member()[:rng.choice([1, 2, 3, 30])]


def count_n():
    """How many elements one command adds: mostly a few, sometimes hundreds or thousands."""
    x = rng.random()
    if x < 0.03:
        return rng.randrange(500, 2500)
    return rng.choice([1, 1, 1, 2, 3, 5, 20, 60, 130, 300])


def rank(card):
    """A rank near the head, near the tail or in the middle (negative ones too)."""
    x = rng.random()
    if x < 0.3:
        return rng.randrange(-5, 10)
    if x < 0.6:
        return rng.randrange(-10, 0) if rng.random() < 0.5 else card - rng.randrange(1, 10)
    if x < 0.9:
        return max(0, card // 2 + rng.randrange(-50, 50))
    return rng.randrange(-5000, 5000)


def card_of(k, cmd):
    rep = r.call(cmd, k)
    return rep[1] if rep[0] == ":" else 0


def limit():
    return ["LIMIT", str(rng.choice([0, 0, 1, 5, 100, 1000])), str(rng.choice([-1, 0, 1, 3, 10, 200]))]


# ---- checks of random replies: each server's reply is judged on its own ----

def judge(what, ok_x, ok_y, x, y):
    tally[what.split()[0]] += 1
    if not (ok_x and ok_y):
        differ(what + (" (logstord's reply)" if not ok_x else " (redis-server's reply)"), x, y)


def rand_ok(rep, cnt, has_vals, truth):
    """A HRANDFIELD / SRANDMEMBER / ZRANDMEMBER reply: truth maps each member to its value
    (or score, or None)."""
    if cnt is None:
        if not truth:
            return rep[1] is None
        return rep[0] == "$" and rep[1] in truth
    a = arr(rep)
    if a is None:
        return False
    step = 2 if has_vals else 1
    got = [a[i][1] for i in range(0, len(a), step)]
    want_n = min(cnt, len(truth)) if cnt >= 0 else (abs(cnt) if truth else 0)
    if len(got) != want_n or len(a) != want_n * step:
        return False
    if cnt >= 0 and len(set(got)) != len(got):
        return False
    if any(m not in truth for m in got):
        return False
    if has_vals:
        return all(truth[a[i][1]] == a[i + 1][1] for i in range(0, len(a), 2))
    return True


def hash_truth(k):
    a = arr(r.call("HGETALL", k)) or []
    return {a[i][1]: a[i + 1][1] for i in range(0, len(a), 2)}


def zset_truth(k):
    a = arr(r.call("ZRANGE", k, "0", "-1", "WITHSCORES")) or []
    return {a[i][1]: a[i + 1][1] for i in range(0, len(a), 2)}


def set_truth(k):
    return {x[1]: None for x in (arr(r.call("SMEMBERS", k)) or [])}


def scan_all(conn, args):
    """SCAN-family to the end: the set of what it returned (pairs for HSCAN/ZSCAN)."""
    cur, out, calls = "0", set(), 0
    cmd, key, rest = args[0], args[1], list(args[2:])
    while True:
        rep = conn.call(cmd, key, cur, *rest)
        if rep[0] != "*":
            return rep
        cur = rep[1][0][1].decode()
        items = [x[1] for x in rep[1][1][1]]
        if cmd in ("HSCAN", "ZSCAN"):
            out.update(zip(items[0::2], items[1::2]))
        else:
            out.update(items)
        calls += 1
        if cur == "0":
            return sorted(out)
        if calls > 100000:
            return "no end after %d calls" % calls


def both_scan(*args):
    tally[args[0]] += 1
    x, y = scan_all(c, args), scan_all(r, args)
    if x != y:
        differ("%s to the end" % desc(args), x, y)


# ---- whole collections ----

def whole(conn, k):
    t = conn.call("TYPE", k)
    if t == ("+", "hash"):
        v = pairs(conn.call("HGETALL", k))
    elif t in (("+", "set"),):
        v = srt(conn.call("SMEMBERS", k))
    elif t == ("+", "zset"):
        v = conn.call("ZRANGE", k, "0", "-1", "WITHSCORES")
    else:
        v = None
    return (t, v, conn.call("TTL", k))


def summary(w):
    t, v, ttl = w
    n = len(v[1]) if v and v[0] == "*" and v[1] is not None else v
    return "%s, %s members, TTL %s" % (t[1], n, ttl[1])


def compare_key(k, what, other=None):
    x, y = whole(c, k), whole(other or r, k)
    if x != y:
        differ("%s: %s whole" % (what, k), summary(x), summary(y))
        return False
    return True


def full_compare(what):
    ok = all([compare_key(k, what) for k in KEYS])
    both("DBSIZE", what="%s: DBSIZE" % what)
    return ok


def encoding_check(k):
    """OBJECT ENCODING only past 600 members, where Redis says hashtable or skiplist."""
    t = r.call("TYPE", k)[1]
    n = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD"}.get(t)
    if n and card_of(k, n) > 600:
        both("OBJECT", "ENCODING", k)


restarts = [0]


def restart():
    global c, r
    kill = restarts[0] % 2 == 1
    restarts[0] += 1
    c.close()
    if kill:
        srv.kill()
    else:
        rc = srv.stop()
        check(rc == 0, "a clean stop exits 0", got=rc)
    srv.start()
    c.close()
    r.close()
    c, r = conns()
    return "SIGKILL" if kill else "clean restart"


# ---- the command families ----

def hash_op(k):
    x = rng.random()
    if x < 0.30:
        n = count_n()
        args = []
        for _ in range(n):
            args += [member(), value()]
        both(rng.choice(["HSET", "HSET", "HMSET"]), k, *args)
    elif x < 0.33:
        both("HSETNX", k, member(), value())
    elif x < 0.41:
        both("HGET", k, member())
    elif x < 0.45:
        both("HMGET", k, *[member() for _ in range(rng.choice([1, 3, 20]))])
    elif x < 0.53:
        both("HDEL", k, *[member() for _ in range(rng.choice([1, 1, 2, 10, 100, 600]))])
    elif x < 0.56:
        both("HEXISTS", k, member())
    elif x < 0.58:
        both("HLEN", k)
    elif x < 0.60:
        both("HSTRLEN", k, member())
    elif x < 0.65:
        f = "c%d" % rng.randrange(10) if rng.random() < 0.7 else member()
        both("HINCRBY", k, f, str(rng.randrange(-100, 100)))
    elif x < 0.69:
        f = "c%d" % rng.randrange(10) if rng.random() < 0.7 else member()
        both("HINCRBYFLOAT", k, f, rng.choice(["0.25", "-1.5", "3", "0.75", "-0.5", "10.25"]))
    elif x < 0.72:
        both("HKEYS", k, norm=srt)
    elif x < 0.74:
        both("HVALS", k, norm=srt)
    elif x < 0.77:
        both("HGETALL", k, norm=pairs)
    elif x < 0.81:
        cnt = rng.choice([None, 1, 5, 50, 3000, -1, -7, -300])
        wv = cnt is not None and rng.random() < 0.5
        args = ["HRANDFIELD", k] + ([] if cnt is None else [str(cnt)]) + (["WITHVALUES"] if wv else [])
        xr, yr = c.call(*args), r.call(*args)
        truth = hash_truth(k)
        judge(desc(args), rand_ok(xr, cnt, wv, truth), rand_ok(yr, cnt, wv, truth), xr, yr)
    elif x < 0.85:
        extra = []
        if rng.random() < 0.4:
            extra += ["MATCH", rng.choice(["m1*", "*7", "X*", "c?", "*"])]
        if rng.random() < 0.6:
            extra += ["COUNT", str(rng.choice([5, 100, 1000]))]
        both_scan("HSCAN", k, *extra)
    elif x < 0.87:
        # shrink: delete all but a few fields (back under max_value_size)
        fs = members_of(k)
        keep = rng.randrange(0, 30)
        if len(fs) > keep:
            both("HDEL", k, *rng.sample(fs, len(fs) - keep))
    else:
        both("HGET", k, "c%d" % rng.randrange(10))


def set_op(k):
    x = rng.random()
    others = lambda: [rng.choice(S + [SNUM]) for _ in range(rng.randrange(1, 4))]
    if x < 0.30:
        both("SADD", k, *[member() for _ in range(count_n())])
    elif x < 0.38:
        both("SREM", k, *[member() for _ in range(rng.choice([1, 1, 2, 10, 100, 600]))])
    elif x < 0.43:
        both("SISMEMBER", k, member())
    elif x < 0.46:
        both("SMISMEMBER", k, *[member() for _ in range(rng.choice([1, 4, 30]))])
    elif x < 0.48:
        both("SCARD", k)
    elif x < 0.51:
        both("SMEMBERS", k, norm=srt)
    elif x < 0.55:
        cnt = rng.choice([None, 1, 5, 50, 3000, -1, -7, -300])
        args = ["SRANDMEMBER", k] + ([] if cnt is None else [str(cnt)])
        xr, yr = c.call(*args), r.call(*args)
        truth = set_truth(k)
        judge(desc(args), rand_ok(xr, cnt, False, truth), rand_ok(yr, cnt, False, truth), xr, yr)
    elif x < 0.58:
        spop(k)
    elif x < 0.63:
        both("SMOVE", k, rng.choice(S), member())
    elif x < 0.70:
        both(rng.choice(["SINTER", "SUNION", "SDIFF"]), k, *others(), norm=srt)
    elif x < 0.76:
        both(rng.choice(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), rng.choice(S), k, *others())
    elif x < 0.79:
        ks = [k] + others()
        both("SINTERCARD", str(len(ks)), *ks, *(["LIMIT", str(rng.choice([0, 1, 10, 500]))]
                                                 if rng.random() < 0.5 else []))
    elif x < 0.83:
        extra = []
        if rng.random() < 0.4:
            extra += ["MATCH", rng.choice(["m1*", "*7", "X*", "1??", "*"])]
        if rng.random() < 0.6:
            extra += ["COUNT", str(rng.choice([5, 100, 1000]))]
        both_scan("SSCAN", k, *extra)
    elif x < 0.85:
        ms = members_of(k)
        keep = rng.randrange(0, 30)
        if len(ms) > keep:
            both("SREM", k, *rng.sample(ms, len(ms) - keep))
    elif x < 0.87:
        both("SORT", k, "ALPHA", *(["DESC"] if rng.random() < 0.5 else []), "LIMIT",
             str(rng.choice([0, 0, 10, 500])), str(rng.choice([5, 20, 100])))
    else:
        both("SISMEMBER", k, member())


def snum_op():
    x = rng.random()
    if x < 0.40:
        both("SADD", SNUM, *[numeric() for _ in range(count_n())])
    elif x < 0.5:
        both("SREM", SNUM, *[numeric() for _ in range(rng.choice([1, 5, 100, 800]))])
    elif x < 0.75:
        both("SORT", SNUM, *(["DESC"] if rng.random() < 0.5 else []), "LIMIT",
             str(rng.choice([0, 0, 10, 500])), str(rng.choice([5, 20, 100, 10000])))
    elif x < 0.8:
        both("SORT", SNUM)
    elif x < 0.85:
        spop(SNUM)
    elif x < 0.92:
        both("SMEMBERS", SNUM, norm=srt)
    elif x < 0.94:
        both("SINTERSTORE", SNUM, SNUM, rng.choice(S))
    elif x < 0.97:
        both("SCARD", SNUM)
    else:
        ms = members_of(SNUM)
        keep = rng.randrange(0, 30)
        if len(ms) > keep:
            both("SREM", SNUM, *rng.sample(ms, len(ms) - keep))


def spop(k):
    """SPOP on a copy of k: each server's answer judged on its own."""
    if both("COPY", k, "spop", "REPLACE") != (":", 1):
        return
    truth = set_truth(k)
    cnt = rng.choice([None, 1, 3, 40, 700, 5000])
    args = ["SPOP", "spop"] + ([] if cnt is None else [str(cnt)])
    res = []
    for conn in (c, r):
        rep = conn.call(*args)
        if cnt is None:
            popped = [rep[1]] if rep[0] == "$" and rep[1] is not None else None
            n = 1
        else:
            popped = [m[1] for m in arr(rep)] if arr(rep) is not None else None
            n = min(cnt, len(truth))
        left = sorted(m[1] for m in (arr(conn.call("SMEMBERS", "spop")) or []))
        ok = (popped is not None and len(popped) == n and len(set(popped)) == n and
              all(m in truth for m in popped) and left == sorted(set(truth) - set(popped)))
        res.append((ok, rep))
    judge(desc(args) + " (a copy of %s)" % k, res[0][0], res[1][0], res[0][1], res[1][1])
    both("DEL", "spop")


def zdst():
    return rng.choice(Z + ["zd"] * 4)


def zset_op(k):
    x = rng.random()
    card = card_of(k, "ZCARD")
    if x < 0.24:
        opts = []
        if rng.random() < 0.3:
            opts = rng.sample(["NX", "XX", "GT", "LT", "CH"], rng.randrange(1, 3))
        if rng.random() < 0.1:
            both("ZADD", k, *opts, "INCR", score(), member())
        else:
            args = []
            for _ in range(count_n()):
                args += [score(), member()]
            both("ZADD", k, *opts, *args)
    elif x < 0.30:
        both("ZREM", k, *[member() for _ in range(rng.choice([1, 1, 3, 50, 400]))])
    elif x < 0.34:
        both("ZSCORE", k, member())
    elif x < 0.36:
        both("ZMSCORE", k, *[member() for _ in range(rng.choice([1, 4, 30]))])
    elif x < 0.40:
        both("ZINCRBY", k, score(), member())
    elif x < 0.41:
        both("ZCARD", k)
    elif x < 0.44:
        both("ZCOUNT", k, bound(), bound())
    elif x < 0.47:
        both(rng.choice(["ZRANK", "ZREVRANK"]), k, member())
    elif x < 0.55:
        args = ["ZRANGE", k, str(rank(card)), str(rank(card))]
        if rng.random() < 0.3:
            args.append("REV")
        if rng.random() < 0.5:
            args.append("WITHSCORES")
        both(*args)
    elif x < 0.61:
        rev = rng.random() < 0.4
        args = ["ZRANGE", k, bound(), bound(), "BYSCORE"] + (["REV"] if rev else [])
        if rng.random() < 0.5:
            args += limit()
        if rng.random() < 0.5:
            args.append("WITHSCORES")
        both(*args)
    elif x < 0.64:
        cmd = rng.choice(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"])
        args = [cmd, k, bound(), bound()]
        if rng.random() < 0.5:
            args.append("WITHSCORES")
        if rng.random() < 0.5:
            args += limit()
        both(*args)
    elif x < 0.67:
        dst = zdst()
        if rng.random() < 0.5:
            both("ZRANGESTORE", dst, k, str(rank(card)), str(rank(card)),
                 *(["REV"] if rng.random() < 0.3 else []))
        else:
            both("ZRANGESTORE", dst, k, bound(), bound(), "BYSCORE",
                 *(["REV"] if rng.random() < 0.3 else []), *(limit() if rng.random() < 0.4 else []))
    elif x < 0.71:
        cmd = rng.choice(["ZPOPMIN", "ZPOPMAX"])
        both(cmd, k, *([] if rng.random() < 0.3 else [str(rng.choice([1, 2, 10, 50, 300]))]))
    elif x < 0.73:
        ks = [k] + [rng.choice(Z + [ZLEX]) for _ in range(rng.randrange(0, 3))]
        both("ZMPOP", str(len(ks)), *ks, rng.choice(["MIN", "MAX"]),
             *(["COUNT", str(rng.choice([1, 5, 300]))] if rng.random() < 0.7 else []))
    elif x < 0.79:
        cmd = rng.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])
        srcs = [k] + [rng.choice(Z + Z + [ZLEX] + S + [SNUM]) for _ in range(rng.randrange(0, 3))]
        args = [cmd, zdst(), str(len(srcs))] + srcs
        if cmd != "ZDIFFSTORE":
            if rng.random() < 0.5:
                # no weight 0 or < 0: a score of -0 follows, which Redis's listpack keeps as
                # 0 and logstord as -0 (a difference of the small form, not drawn here)
                args += ["WEIGHTS"] + [str(rng.choice([1, 2, 3])) for _ in srcs]
            if rng.random() < 0.5:
                args += ["AGGREGATE", rng.choice(["SUM", "MIN", "MAX"])]
        both(*args)
    elif x < 0.81:
        if rng.random() < 0.8:  # mostly a narrow range
            lo = rng.randrange(-500, 500)
            both("ZREMRANGEBYSCORE", k, rng.choice(["", "("]) + str(lo),
                 rng.choice(["", "("]) + str(lo + rng.randrange(0, 20)))
        else:
            both("ZREMRANGEBYSCORE", k, bound(), bound())
    elif x < 0.83:
        if rng.random() < 0.5:
            both("ZREMRANGEBYRANK", k, str(rank(card)), str(rank(card)))
        else:  # shrink to a few members
            both("ZREMRANGEBYRANK", k, str(rng.randrange(0, 30)), "-1")
    elif x < 0.87:
        extra = []
        if rng.random() < 0.4:
            extra += ["MATCH", rng.choice(["m1*", "*7", "X*", "1??", "*"])]
        if rng.random() < 0.6:
            extra += ["COUNT", str(rng.choice([5, 100, 1000]))]
        both_scan("ZSCAN", k, *extra)
    elif x < 0.90:
        cnt = rng.choice([None, 1, 5, 50, 3000, -1, -7, -300])
        ws = cnt is not None and rng.random() < 0.5
        args = ["ZRANDMEMBER", k] + ([] if cnt is None else [str(cnt)]) + (["WITHSCORES"] if ws else [])
        xr, yr = c.call(*args), r.call(*args)
        truth = zset_truth(k)
        judge(desc(args), rand_ok(xr, cnt, ws, truth), rand_ok(yr, cnt, ws, truth), xr, yr)
    elif x < 0.92:
        both("SORT", k, "ALPHA", *(["DESC"] if rng.random() < 0.5 else []), "LIMIT",
             str(rng.choice([0, 0, 10, 500])), str(rng.choice([5, 20, 100])))
    else:
        both("ZRANGE", k, "0", "-1", "WITHSCORES")


def zlex_op():
    k = ZLEX
    x = rng.random()
    card = card_of(k, "ZCARD")
    if x < 0.25:
        args = []
        for _ in range(count_n()):
            args += ["0", member()]
        both("ZADD", k, *args)
    elif x < 0.35:
        both("ZREM", k, *[member() for _ in range(rng.choice([1, 3, 50, 400]))])
    elif x < 0.55:
        rev = rng.random() < 0.4
        args = ["ZRANGE", k, lex_bound(), lex_bound(), "BYLEX"] + (["REV"] if rev else [])
        if rng.random() < 0.5:
            args += limit()
        both(*args)
    elif x < 0.65:
        cmd = rng.choice(["ZRANGEBYLEX", "ZREVRANGEBYLEX"])
        both(cmd, k, lex_bound(), lex_bound(), *(limit() if rng.random() < 0.5 else []))
    elif x < 0.72:
        both("ZLEXCOUNT", k, lex_bound(), lex_bound())
    elif x < 0.77:
        both("ZREMRANGEBYLEX", k, lex_bound(), lex_bound())
    elif x < 0.82:
        both("ZRANGESTORE", zdst(), k, lex_bound(), lex_bound(), "BYLEX",
             *(["REV"] if rng.random() < 0.3 else []), *(limit() if rng.random() < 0.4 else []))
    elif x < 0.87:
        both(rng.choice(["ZRANK", "ZREVRANK"]), k, member())
    elif x < 0.92:
        both("ZRANGE", k, str(rank(card)), str(rank(card)), "WITHSCORES")
    elif x < 0.95:
        both(rng.choice(["ZPOPMIN", "ZPOPMAX"]), k, str(rng.choice([1, 10, 200])))
    elif x < 0.985:
        both("ZCARD", k)
    else:
        both("ZREMRANGEBYRANK", k, str(rng.randrange(0, 30)), "-1")


def group_of(k):
    for g in (H, S, Z):
        if k in g:
            return g
    return S if k == SNUM else Z


def key_op():
    k = rng.choice(KEYS)
    g = group_of(k)
    k2 = rng.choice(g)  # never snum or zlex as a destination: they keep their invariant
    x = rng.random()
    if x < 0.10:
        both("TYPE", k)
    elif x < 0.16:
        encoding_check(k)
    elif x < 0.22:
        both("EXISTS", *rng.sample(KEYS, rng.randrange(1, 5)))
    elif x < 0.27:
        both(rng.choice(["DEL", "UNLINK"]), k, *([rng.choice(KEYS)] if rng.random() < 0.3 else []))
    elif x < 0.35:
        if both("EXPIRE", k, "100000") == (":", 1):
            tx, ty = c.call("TTL", k), r.call("TTL", k)
            if not (tx[0] == ":" and ty[0] == ":" and 99000 < tx[1] <= 100000 and 99000 < ty[1] <= 100000):
                differ("TTL %s after EXPIRE 100000" % k, tx, ty)
        both("PERSIST", k)
        both("TTL", k)
    elif x < 0.43:
        if k != k2:
            both(rng.choice(["RENAME", "RENAME", "RENAMENX"]), k, k2)
    elif x < 0.51:
        if k != k2:
            both("COPY", k, k2, *(["REPLACE"] if rng.random() < 0.7 else []))
    elif x < 0.58:
        both("MOVE", k, "1")
        both("SELECT", "1")
        both("TYPE", k)
        both("MOVE", k, "0")
        both("SELECT", "0")
    elif x < 0.70:
        # DUMP payloads differ between servers: each restores its own, under another key
        tally["DUMP"] += 1
        dx, dy = c.call("DUMP", k), r.call("DUMP", k)
        if (dx[1] is None) != (dy[1] is None) or dx[0] != "$" or dy[0] != "$":
            differ("DUMP %s" % k, dx, dy)
        elif dx[1] is not None:
            dst = k2 if rng.random() < 0.6 else "restored"
            tally["RESTORE"] += 1
            rx = c.call("RESTORE", dst, "0", dx[1], "REPLACE")
            ry = r.call("RESTORE", dst, "0", dy[1], "REPLACE")
            if rx != ry:
                differ("RESTORE %s (DUMP of %s)" % (dst, k), rx, ry)
            compare_key(dst, "RESTORE %s (DUMP of %s)" % (dst, k))
            if dst == "restored":
                both("DEL", "restored")
    elif x < 0.80:
        multi()
    elif x < 0.86:
        watch()
    elif x < 0.862:
        both("FLUSHDB")
    else:
        compare_key(k, "key %s" % k)


def multi():
    both("MULTI")
    for _ in range(rng.randrange(1, 6)):
        y = rng.random()
        if y < 0.2:
            both("HSET", rng.choice(H), *[a for _ in range(rng.choice([1, 3, 100])) for a in (member(), value())])
        elif y < 0.35:
            both("SADD", rng.choice(S), *[member() for _ in range(rng.choice([1, 3, 100]))])
        elif y < 0.5:
            both("ZADD", rng.choice(Z), *[a for _ in range(rng.choice([1, 3, 100])) for a in (score(), member())])
        elif y < 0.6:
            both("ZINCRBY", rng.choice(Z), score(), member())
        elif y < 0.7:
            both("HDEL", rng.choice(H), *[member() for _ in range(rng.choice([1, 30]))])
        elif y < 0.8:
            both("ZPOPMIN", rng.choice(Z), str(rng.choice([1, 20])))
        elif y < 0.85:
            both("SCARD", rng.choice(S))
        elif y < 0.9:
            both("HGET", rng.choice(H), member())
        else:
            both("ZRANGE", rng.choice(Z), "0", "5", "WITHSCORES")
    both("EXEC")


def watch():
    k = rng.choice(H + S + Z)
    both("WATCH", k)
    touch = rng.random() < 0.7
    if touch:
        oc, orr = conns()
        g = group_of(k)
        if g is H:
            both("HINCRBY", k, "watched", "1", on=(oc, orr))
        elif g is S:
            both("SADD", k, "w%d" % rng.randrange(1 << 30), on=(oc, orr))
        else:
            both("ZINCRBY", k, "1", "watched", on=(oc, orr))
        oc.close()
        orr.close()
    both("MULTI")
    both("TYPE", k)
    e = both("EXEC")
    if touch and e != ("*", None):
        differ("EXEC after another client wrote the WATCHed %s" % k, e, ("*", None))


section("random sequence")
t0 = time.time()
for step in range(STEPS):
    x = rng.random()
    if x < 0.26:
        hash_op(rng.choice(H))
    elif x < 0.46:
        set_op(rng.choice(S))
    elif x < 0.52:
        snum_op()
    elif x < 0.76:
        zset_op(rng.choice(Z))
    elif x < 0.84:
        zlex_op()
    else:
        key_op()
    if step % 250 == 249:
        full_compare("step %d" % step)
        for k in KEYS:
            encoding_check(k)
        how = restart()
        full_compare("step %d after a %s" % (step, how))
        sizes = []
        for k in KEYS:
            t = r.call("TYPE", k)[1]
            n = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD"}.get(t)
            sizes.append("%s:%s" % (k, card_of(k, n) if n else "-"))
        itlib.log("step %d (%.0f s): %s; sizes %s; large_pages %s" % (
            step + 1, time.time() - t0, how, " ".join(sizes),
            itlib.info_int(srv.port, "large_pages")))
itlib.log("%d commands compared in %.0f s: %s" % (sum(tally.values()), time.time() - t0, " ".join(
    "%s %d" % kv for kv in sorted(tally.items()))))
check(mismatches[0] == 0, "every reply as Redis gives it (seed %d)" % SEED, got=mismatches[0])
check(full_compare("the end"), "every collection as Redis holds it at the end")

section("SYNC (redis-cli --rdb) into redis-server")
rdb_dir = tempfile.mkdtemp(prefix="logstor-it-rdb-", dir="/tmp")
if not os.environ.get("IT_KEEP"):  # also when the load fails (itlib exits at once)
    atexit.register(shutil.rmtree, rdb_dir, True)
rc = subprocess.run(["redis-cli", "-p", str(srv.port), "--rdb", os.path.join(rdb_dir, "d.rdb")],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
check(rc.returncode == 0, "redis-cli --rdb of large collections", got=rc.stdout[-200:])
loaded = RedisServer("redis", extra=["--dbfilename", "d.rdb"], data_dir=rdb_dir).start()
lc = Resp(loaded.port, timeout=30)
same = sum(compare_key(k, "the RDB loaded into redis-server", other=lc) for k in KEYS)
check(same == len(KEYS), "redis-server loads the RDB with every collection as logstord holds it",
      got=same)
lc.close()
loaded.stop()
shutil.rmtree(rdb_dir, ignore_errors=True)

section("after SIGKILL")
restarts[0] = 1
restart()
check(full_compare("after SIGKILL"), "every collection as Redis holds it after SIGKILL")
itlib.log("INFO large_pages %s, large_versions %s" % (
    itlib.info_int(srv.port, "large_pages"), itlib.info_int(srv.port, "large_versions")))

section("reaper")
check(c.call("DEL", *KEYS)[0] == ":", "DEL of every collection")
c.call("FLUSHALL")


def reaped(deadline_s=30):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if itlib.info_int(srv.port, "large_pages") == 0 and itlib.info_int(srv.port, "large_versions") == 0:
            break
        time.sleep(0.2)
    return itlib.info_int(srv.port, "large_pages"), itlib.info_int(srv.port, "large_versions")


p, v = reaped()
check(p == 0, "every page reaped after DEL and FLUSHALL", got=p)
check(v == 0, "every anchor reaped after DEL and FLUSHALL", got=v)
c.call("HSET", "bigh", *[a for i in range(3000) for a in ("f%d" % i, "v%d" % i)])
c.call("SADD", "bigs", *["m%d" % i for i in range(3000)])
c.call("ZADD", "bigz", *[a for i in range(3000) for a in (str(i), "m%d" % i)])
check(c.call("HLEN", "bigh") == (":", 3000) and c.call("SCARD", "bigs") == (":", 3000) and
      c.call("ZCARD", "bigz") == (":", 3000), "a hash, a set and a sorted set of 3000 members")
c.call("DEL", "bigh", "bigs", "bigz")
p, v = reaped()
check(p == 0 and v == 0, "their pages and anchors reaped after DEL", got=(p, v))
check(srv.alive(), "the server is still up")
itlib.finish()
