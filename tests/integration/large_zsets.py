"""large_zsets.py - large sorted sets stored as hash buckets plus a B+tree in score order
(proto/ztree.h, server/large_zset.c), checked against redis-server, run by large_zsets.sh.

logstord (sync durability, its default max_value_size) runs next to a redis-server; every
command goes to both and the replies are compared byte for byte.

1. Load: sorted sets whose trees are at least 3 levels deep, loaded by ZADDs of 2500
   members, the same into redis-server:
     za   30000 short members, integer scores in [-5000, 5000) (about 3 per score: ties)
     zb   20000 members: short, 100-400 bytes, binary (NUL, 0xff), the empty member;
          integer, fractional, arbitrary (repr of a random double), exponent, tiny,
          denormal, huge, zero and infinite scores (-0 too)
     zt   20000 short members on 200 integer scores (about 100 members per score)
     zlex ~23000 members of 4-7 bytes (1-3 for one in 40) of a-h, 'A', NUL, 0xc3 and 0xff,
          all of score 0: the only key of the BYLEX / ZRANGEBYLEX / ZREVRANGEBYLEX /
          ZLEXCOUNT checks (lex ranges are defined in Redis only when every score is equal)
     zl   4000 members of 253-410 bytes (fractional scores)
     zk   130 members of 600-1000 bytes (grown and shrunk in step 2b)
     zg   100 short members: grows and shrinks across the small form's limit of 128
          members (small <-> tree)
   Depth: a tree node holds at most 128 elements or entries (ZT_PAGE_ELEMS), so past
   128 * 128 = 16384 members a tree has at least 3 levels; zl's elements take at least
   263 bytes, so a 4 KiB page (ZT_PAGE_BYTES) holds at most 15 of them (leaf or interior)
   and past 15^3 = 3375 members zl's tree has at least 4 levels. The test checks the
   ZCARDs, and that redis-server holds them as skiplists.
2. "native stays native": right after the load, once the reaper took the load's old
   versions, 3000 single-member ZADD, ZREM, ZINCRBY and ZPOPMIN/ZPOPMAX (replies compared)
   may write at most 2 new versions (INFO large_versions + reaper_versions_deleted, a sum
   the reaper leaves alone: a version reaped moves from the one to the other), < 48 KiB
   each (user_bytes_written; a new version of za is ~1 MB) and read < 40 records each
   (INFO gets; the whole of za is ~1000); then 600 random reads (ZSCORE ZMSCORE ZRANK
   ZRANGE* ZCOUNT ZLEXCOUNT) must read < 30 records each on average and none 200.
2b. zk grown from 130 to 1500 members by ZADDs of 4-8 members (1-2 with ZKNOWN=0), with
   reads and other writes in between: a page holds at most 6 of its elements, so its tree
   goes from 3 to 5 levels by top splits; its ZADDs may write at most 2 new versions
   (with ZKNOWN=0; else 4-8 long members often pass one batch, by design). Then
   shrunk to 40 members (back to the small form) by pops of 1-16, ZMPOPs and ZREMs of up
   to 8 present members: nodes emptied, the top collapsing level by level. Compared
   whole every 100 steps.
3. A seeded random sequence (ZSTEPS, default 20000) of the native commands on every key
   (ZADD with every combination of NX XX GT LT CH INCR, valid or not, of 1-16 members, a
   member named twice, some invalid scores or odd arguments; ZINCRBY; ZREM of 1-8
   members present or not; ZSCORE ZMSCORE ZRANK ZREVRANK ZCARD ZCOUNT; ZRANGE by rank,
   BYSCORE, BYLEX with REV, LIMIT (negative offsets and counts), WITHSCORES; ZREVRANGE
   ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZLEXCOUNT; ZPOPMIN ZPOPMAX
   with counts 1-16, larger, 0, negative; BZPOPMIN BZPOPMAX BZMPOP with timeout 0.01 (a
   missing key first, sometimes only missing keys); ZMPOP; ranks negative and out of
   range, bounds exclusive, infinite, invalid; syntax errors), and now and then commands
   past the native limits (65-69 members, pops of 17-40: whole-set writes). 15% of them
   go over RESP3 connections (HELLO 3: doubles, [member, score] pairs). Every ZSTEPS/12
   steps a hole of 100-400 elements is punched in the middle of a large set (ZREMs of 8)
   and 12-50 ZADDs of up to 8 new members crowd one score (of zlex: one prefix): leaves and
   interior nodes emptied, and split again and again; these may write at most 2 new
   versions in all. Then every set is compared whole (ZRANGE 0 -1 WITHSCORES, ZCARD,
   DBSIZE); four times along the way logstord is stopped (SIGTERM) or killed (SIGKILL)
   right after a burst of 40 acknowledged writes, and every set must read back as
   redis-server holds it (sync durability).
4. MULTI/EXEC and EVAL (a script running a list of redis.pcall) of random writes and reads
   on the large sets (the whole-set path) compared too.
5. At the end (after a SIGKILL) every set compared whole, then deleted: the reaper must
   remove every page and anchor (INFO large_pages and large_versions back to 0).

Redis's answer is never undefined here (equal scores order by member), so nothing is
sorted before the comparison.

Bugs this test found, fixed (each input is drawn by default; ZKNOWN=0 leaves them out):
  1. A tree's leaves lost the sign of -0 (written by the listpack rule); and, also for
     small sets, -0 is kept where Redis holds the set as a skiplist and stored as 0 where
     it holds a listpack (an integer score), element by element as ZADD converts.
  2. A score bound of "" or "(" is 0 (inclusive, exclusive), as Redis's strtod reads it.
  3. ZRANGE with a second BYSCORE/BYLEX or a second REV is a syntax error, as in Redis.
  4. ZADD/ZINCRBY on a large sorted set whose native write fell back to a new version
     (its pages past one batch, e.g. 8 members of ~1 KiB in a deep tree, or a path not
     read, e.g. a score string of 64 bytes or more) ran its handler again from the wrong
     argument (r->num, the first score's index, was overwritten by the reply's count):
     members dropped, garbage scores.

env: ZSEED replays a run, ZSTEPS sets the random sequence's length (default 20000),
ZSTOP=1 stops at the first difference and prints the last commands sent, ZKNOWN=0 leaves
out the inputs of the bugs above, ZNATIVE sets the number of single-member writes of
step 2 (default 3000).
"""
import collections
import hashlib
import os
import random
import time

import itlib
from itlib import RedisServer, Resp, check, encode, section

SEED = int(os.environ.get("ZSEED", "0")) or random.randrange(1, 1 << 30)
STEPS = int(os.environ.get("ZSTEPS", "20000"))
KNOWN = os.environ.get("ZKNOWN", "1") == "1"  # the inputs of the bugs above
# members a native ZADD names at most, by key, with ZKNOWN=0: more of zl's and zk's long
# members may pass one batch, and that fallback was bug 4
ZCAP = {} if KNOWN else {"zl": 3, "zk": 2}
itlib.begin("large_zsets", time_limit_s=170)
itlib.log("seed %d (ZSEED=%d replays it), %d steps" % (SEED, SEED, STEPS))
rng = random.Random(SEED)

srv = itlib.Server("redis", durability="sync").start()
ref = RedisServer("redis").start()

BIG = ["za", "zb", "zt", "zlex", "zl"]  # large from the load on
KEYS = BIG + ["zg", "zk"]
mismatches = [0]
tally = collections.Counter()
history = collections.deque(maxlen=40)  # the last commands sent (ZSTOP prints them)


def conns():
    return Resp(srv.port, timeout=30), Resp(ref.port, timeout=30)


def conns3():
    """A pair of RESP3 connections (HELLO 3): doubles, maps and pairs of their own."""
    a, b = conns()
    a.call("HELLO", "3")
    b.call("HELLO", "3")
    return a, b


c, r = conns()
c3, r3 = conns3()


def show(x):
    return str(x)[:400]


def desc(args):
    out = []
    for a in args[:14]:
        s = a.decode("latin-1") if isinstance(a, bytes) else str(a)
        out.append(repr(s) if len(s) <= 24 else repr(s[:20]) + "..(%d)" % len(s))
    return " ".join(out) + (" ... (%d args)" % len(args) if len(args) > 14 else "")


def differ(what, got, want):
    mismatches[0] += 1
    if mismatches[0] <= 5:
        check(False, what, got=show(got), want=show(want))
    if os.environ.get("ZSTOP"):
        itlib.log("stopping at the first difference (seed %d); the last commands sent:" % SEED)
        for h in history:
            itlib.log("   " + desc(h))
        itlib.log("server log %s" % srv.logpath)
        os.system("cp %s /tmp/large_zsets_stop.log" % srv.logpath)
        itlib.finish()


def both(*args, what=None, resp3=False):
    tally[str(args[0]).upper() + (" (RESP3)" if resp3 else "")] += 1
    history.append(args + ("(RESP3)",) if resp3 else args)
    cx, rx = (c3, r3) if resp3 else (c, r)
    x, y = cx.call(*args), rx.call(*args)
    if x != y:
        differ((what or desc(args)) + (" (RESP3)" if resp3 else ""), x, y)
    return y


rq = Resp(ref.port, timeout=30)  # the arguments' choices: never inside a MULTI


def rcall(*args):
    """The reference's answer alone (the arguments' choice, never compared)."""
    return rq.call(*args)


# ---- whole sets, compared raw (a 30000-member reply parsed by Resp takes ~0.2 s) ----

def raw_reply(conn, *args):
    """The reply of a command whose answer is an array of bulk strings (or nil), as bytes."""
    conn.send(encode(*args))
    buf = conn.buf
    pos = 0

    def need_line(p):
        nonlocal buf
        while True:
            i = buf.find(b"\r\n", p)
            if i >= 0:
                return i
            d = conn.sock.recv(1 << 20)
            if not d:
                raise itlib.ProtocolError("connection closed by server")
            buf += d

    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = conn.sock.recv(1 << 20)
            if not d:
                raise itlib.ProtocolError("connection closed by server")
            buf += d

    i = need_line(0)
    head = buf[:i]
    pos = i + 2
    if head[:1] == b"*" and int(head[1:]) > 0:
        for _ in range(int(head[1:])):
            i = need_line(pos)
            if buf[pos:pos + 1] != b"$":
                raise itlib.ProtocolError("not a bulk string: %r" % buf[pos:pos + 40])
            n = int(buf[pos + 1:i])
            pos = i + 2 + max(n, 0) + (2 if n >= 0 else 0)
            need(pos)
    out, conn.buf = bytes(buf[:pos]), buf[pos:]
    return out


def first_difference(x, y):
    """Where two raw replies part: the element index and the elements there."""
    def items(b):
        out, p = [], b.find(b"\r\n") + 2
        while p < len(b):
            i = b.find(b"\r\n", p)
            n = int(b[p + 1:i])
            out.append(b[i + 2:i + 2 + n])
            p = i + 4 + n
        return out
    a, b = items(x), items(y)
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return "element %d of %d/%d: logstord %r, redis %r (before: %r)" % (
                i, len(a), len(b), a[i][:60], b[i][:60], [e[:30] for e in a[max(0, i - 3):i]])
    return "lengths %d and %d (logstord's last %r, redis's last %r)" % (
        len(a), len(b), [e[:30] for e in a[-3:]], [e[:30] for e in b[-3:]])


def compare_key(k, what):
    x = raw_reply(c, "ZRANGE", k, "0", "-1", "WITHSCORES")
    y = raw_reply(r, "ZRANGE", k, "0", "-1", "WITHSCORES")
    cx, cy = c.call("ZCARD", k), r.call("ZCARD", k)
    tally["whole"] += 1
    ok = True
    if x != y:
        differ("%s: %s whole (ZRANGE 0 -1 WITHSCORES)" % (what, k), first_difference(x, y), "the same")
        ok = False
    if cx != cy:
        differ("%s: ZCARD %s" % (what, k), cx, cy)
        ok = False
    return ok


def full_compare(what):
    ok = all([compare_key(k, what) for k in KEYS])
    x, y = c.call("DBSIZE"), r.call("DBSIZE")
    if x != y:
        differ("%s: DBSIZE" % what, x, y)
        ok = False
    return ok


# ---- members and scores, by key ----

LEX_ALPHA = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"A", b"\x00", b"\xc3", b"\xff"]


def lex_member(i):
    """zlex's member i: 4-7 bytes (1-3 for one in 40), the same bytes for the same i."""
    x = int.from_bytes(hashlib.blake2b(b"%d" % i, digest_size=8).digest(), "little")
    n = 1 + i % 3 if i % 40 == 0 else 4 + i % 4
    out = []
    for _ in range(n):
        out.append(LEX_ALPHA[x % len(LEX_ALPHA)])
        x //= len(LEX_ALPHA)
    return b"".join(out)


def long_member(i):
    """zl's member i: 253-410 bytes."""
    return b"L%04d:" % i + b"x" * (250 + (i * 53) % 150)


def huge_member(i):
    """zk's member i: 600-1000 bytes (a tree page holds 3-6 of them)."""
    return b"K%04d:" % i + b"k" * (594 + (i * 61) % 400)


def zb_member():
    x = rng.random()
    if x < 0.10:
        i = rng.randrange(2000)
        return b"B%d:" % i + b"y" * (100 + (i * 37) % 300)
    if x < 0.13:
        return b"\x00b%d\xff" % rng.randrange(500)
    if x < 0.135:
        return b""
    return b"b%d" % rng.randrange(30000)


MEMBER = {
    "za": lambda: b"a%d" % rng.randrange(40000),
    "zb": zb_member,
    "zt": lambda: b"t%d" % rng.randrange(25000),
    "zlex": lambda: lex_member(rng.randrange(30000)),
    "zl": lambda: long_member(rng.randrange(5000)),
    "zg": lambda: b"g%d" % rng.randrange(300),
    "zk": lambda: huge_member(rng.randrange(3000)),
}


def known_zero(s):
    """A score of -0 as it is, with ZKNOWN=1; else without its sign (see the docstring)."""
    return s if KNOWN else s.lstrip("-")


def mixed_score():
    x = rng.random()
    if x < 0.30:
        return "%d" % rng.randrange(-10000, 10000)
    if x < 0.45:
        return "%s" % (rng.randrange(-40000, 40000) / 4)
    if x < 0.62:
        return repr(rng.uniform(-10000, 10000))
    if x < 0.68:
        return "%.3e" % rng.uniform(-10000, 10000)
    if x < 0.72:
        return known_zero(rng.choice(["-0", "0", "+0", "0.0", "-0.0"]))
    if x < 0.76:
        return rng.choice(["-inf", "+inf", "inf", "-INF", "+Inf"])
    if x < 0.79:
        return rng.choice(["1e-300", "-1e-300", "5e-324", "-5e-324", "2.2250738585072014e-308"])
    if x < 0.81:
        return rng.choice(["1.7976931348623157e308", "-1.7976931348623157e308", "1e20", "-123456789012345678"])
    if x < 0.85:
        return "0.%d" % rng.randrange(1, 100)
    return "%d" % rng.randrange(-50, 50)


SCORE = {
    "za": lambda: "%d" % rng.randrange(-5000, 5000),
    "zb": mixed_score,
    "zt": lambda: "%d" % rng.randrange(200) if rng.random() < 0.9 else "%s" % (rng.randrange(800) / 4),
    "zlex": lambda: known_zero(rng.choice(["0", "0", "0", "-0", "0.0", "+0"])),
    "zl": lambda: "%s" % (rng.randrange(-20000, 20000) / 8) if rng.random() < 0.8 else repr(rng.uniform(-3000, 3000)),
    "zg": lambda: "%d" % rng.randrange(-100, 100),
    "zk": lambda: "%d" % rng.randrange(-1000, 1000) if rng.random() < 0.7 else repr(rng.uniform(-1000, 1000)),
}
# a score bound's centre and the width of a range of about 100-300 elements
CENTRE = {
    "za": lambda: rng.randrange(-5100, 5100), "zb": lambda: rng.choice([rng.randrange(-10100, 10100), rng.randrange(-60, 60)]),
    "zt": lambda: rng.randrange(-2, 202), "zlex": lambda: rng.choice([-1, 0, 1]),
    "zl": lambda: rng.randrange(-2600, 2600), "zg": lambda: rng.randrange(-110, 110),
    "zk": lambda: rng.randrange(-1100, 1100),
}
WIDTH = {"za": 60, "zb": 150, "zt": 3, "zlex": 1, "zl": 200, "zg": 60, "zk": 100}


def incr_of(k):
    if k == "zlex":
        return known_zero(rng.choice(["0", "-0"]))
    x = rng.random()
    if x < 0.04:
        return rng.choice(["inf", "-inf"])
    if x < 0.06:
        return rng.choice(["abc", "", "1.5x", "nan"])
    if x < 0.5:
        return "%d" % rng.randrange(-20, 20)
    if x < 0.7:
        return "%s" % (rng.randrange(-100, 100) / 4)
    if k in ("za", "zt", "zg", "zk"):
        return "%d" % rng.randrange(-3, 3)
    return repr(rng.uniform(-100, 100))


def long_score():
    """A valid score of 64 bytes or more (known bug 4 with ZKNOWN=1)."""
    return rng.choice(["1" + "0" * 70, "-2." + "5" * 70, "0." + "0" * 66 + "1", "+" + "7" * 64])


def bad_score():
    return rng.choice(["abc", "", "1.5.5", "nan", "1e400", "-1e999", "0x10", " 1", "1 ", "(1", "inf1"])


# ---- command arguments ----

def card(k):
    x = rcall("ZCARD", k)
    return x[1] if x[0] == ":" else 0


def rank_pair(n):
    """start, stop of a ZRANGE by rank: near the head, the tail, the middle, out of range,
    negative; mostly a range of at most ~100 elements."""
    x = rng.random()
    if x < 0.25:
        a = rng.randrange(-5, 12)
    elif x < 0.45:
        a = -rng.randrange(1, 40)
    elif x < 0.6:
        a = n - rng.randrange(-5, 40)
    elif x < 0.85:
        a = rng.randrange(0, max(1, n))
    elif x < 0.93:
        a = rng.choice([-100000000, 100000000, -n - rng.randrange(0, 5), n, n + 1])
    else:
        a = rng.randrange(-n - 50, n + 50)
    y = rng.random()
    if y < 0.75:
        b = a + rng.randrange(-3, 100)
        if a < 0 <= b:  # a negative start: a negative stop too, else it spans the whole set
            b = rng.randrange(-3, 0) if rng.random() < 0.7 else rng.randrange(0, 20)
    elif y < 0.85:
        b = rng.choice([-1, -2, 0, 1, n - 1, n, 100000000, -100000000])
    else:
        b = rng.randrange(-n - 50, n + 50)
    # keep the reply small: at most ~400 elements
    ea, eb = (a if a >= 0 else n + a), (b if b >= 0 else n + b)
    if eb - max(ea, 0) > 400:
        b = max(ea, 0) + rng.randrange(0, 400)
        if b < n and rng.random() < 0.5:
            b = b - n  # as a negative index
            if b >= 0:
                b = -1
    return str(a), str(b)


def score_bounds(k):
    """lo, hi (inclusive, exclusive, infinite, rarely invalid) and whether the range can be
    large (infinite bounds, a wide span: such ranges take a LIMIT with a count >= 0)."""
    lo = CENTRE[k]()
    w = WIDTH[k]
    hi = lo + rng.choice([0, 0, rng.uniform(0, w), rng.randrange(0, w + 1), -1])

    def fmt(v):
        x = rng.random()
        s = ("%d" % v) if isinstance(v, int) or v == int(v) else repr(v)
        if x < 0.35:
            return "(" + s
        return s

    slo, shi = fmt(lo), fmt(hi)
    wide = k == "zlex"  # every score 0: a range holding 0 holds the whole set
    x = rng.random()
    if x < 0.06:
        slo, wide = rng.choice(["-inf", "(-inf", "-INF"]), True
    elif x < 0.12:
        shi, wide = rng.choice(["+inf", "inf", "(+inf"]), True
    elif x < 0.14:
        slo, shi, wide = "-inf", "+inf", True
    elif x < 0.15:
        slo, shi, wide = "+inf", "-inf", False
    elif x < 0.16:
        slo = rng.choice(["abc", "((1", "", "1x", "nan", "("])
        if slo in ("", "(") and not KNOWN:
            slo = "(("
        # "" and "(" are valid: Redis reads them as 0 and (0, so the range runs from 0 to
        # hi, which can hold much of a set (zt's (0, 105]: 116 records read without a LIMIT)
        wide = slo in ("", "(")
    elif x < 0.19:
        slo, shi = rng.choice(["-0", "0", "(0", "(-0"]), rng.choice(["-0", "0", "(0", "(-0", "0.5", "(1e-300"])
    elif x < 0.21 and k not in ("zlex",):
        wide = True
        shi = str(lo + rng.randrange(w * 10, w * 100))
    return slo, shi, wide


def lex_prefix(n):
    return lex_member(rng.randrange(30000))[:n]


def lex_bounds():
    """lo, hi and whether the range can be large."""
    x = rng.random()
    if x < 0.55:  # both within one 2-byte prefix: at most ~150 of 20000 members
        p = lex_prefix(2)
        lo = p + lex_prefix(rng.randrange(0, 3))
        hi = p + lex_prefix(rng.randrange(0, 3))
        if rng.random() < 0.4:
            hi = p + b"\xff"
        return rng.choice([b"[", b"("]) + lo, rng.choice([b"[", b"("]) + hi, False
    if x < 0.75:
        return rng.choice([b"[", b"("]) + lex_prefix(rng.randrange(1, 4)), \
            rng.choice([b"[", b"("]) + lex_prefix(rng.randrange(1, 4)), True
    if x < 0.85:
        return b"-", rng.choice([b"[", b"("]) + lex_prefix(rng.randrange(1, 3)), True
    if x < 0.93:
        return rng.choice([b"[", b"("]) + lex_prefix(rng.randrange(1, 3)), b"+", True
    if x < 0.96:
        return rng.choice([(b"-", b"+"), (b"+", b"-"), (b"[", b"("), (b"(", b"["), (b"[", b"+")]) + (True,)
    return rng.choice([b"a", b"", b"[a", b"-x", b"+"]), rng.choice([b"b", b"[b", b"(", b"+a"]), False


def limit_args(wide):
    off = rng.choice([0, 0, 0, 1, 2, 5, 17, 100, -1, -5, 1000000])
    cnt = rng.choice([0, 1, 3, 10, 50, 120]) if wide else rng.choice([-1, -7, 0, 1, 2, 10, 50, 200])
    return ["LIMIT", str(off), str(cnt)]


def zadd_args(k):
    flags = []
    if rng.random() < 0.45:
        flags = rng.sample(["NX", "XX", "GT", "LT", "CH", "INCR"], rng.choice([1, 1, 1, 2, 2, 3]))
        if rng.random() < 0.05:
            flags.append(rng.choice(flags))  # repeated
    x = rng.random()
    n = (min(rng.choice([1, 1, 1, 2, 3, 4, 5, 8, 12, 16]), ZCAP.get(k, 16)) if x < 0.97 else
         rng.randrange(65, 70))
    if "INCR" in flags and rng.random() < 0.85:
        n = 1
    pairs = []
    for _ in range(n):
        s = SCORE[k]() if "INCR" not in flags else incr_of(k)
        if rng.random() < 0.02:
            s = bad_score()
        elif KNOWN and rng.random() < 0.01:
            s = long_score()
        pairs += [s, MEMBER[k]()]
    if len(pairs) >= 4 and rng.random() < 0.08:  # a member named twice
        pairs[-1] = pairs[1]
    if rng.random() < 0.01:
        pairs = pairs[:-1]  # an odd number of arguments
    if k == "zlex":  # every score stays 0 (+-0): no GT/LT/INCR surprises either way
        pairs = [("0" if i % 2 == 0 and pairs[i] not in ("0", "-0", "+0", "0.0") else pairs[i])
                 for i in range(len(pairs))]
    return ["ZADD", k] + flags + pairs


def pop_count():
    x = rng.random()
    if x < 0.3:
        return []
    if x < 0.6:
        return [str(rng.randrange(1, 5))]
    if x < 0.9:
        return [str(rng.randrange(5, 17))]
    if x < 0.95:
        return [str(rng.randrange(17, 41))]
    return [rng.choice(["0", "-1", "x"])]


def read_op(k):
    """A random read of k (args)."""
    x = rng.random()
    n = card(k)
    if x < 0.10:
        return ["ZSCORE", k, MEMBER[k]()]
    if x < 0.16:
        return ["ZMSCORE", k] + [MEMBER[k]() for _ in range(rng.randrange(1, 10))]
    if x < 0.26:
        return [rng.choice(["ZRANK", "ZREVRANK"]), k, MEMBER[k]()]
    if x < 0.28:
        return ["ZCARD", k]
    if x < 0.42:
        a, b = rank_pair(n)
        args = ["ZRANGE", k, a, b]
        if rng.random() < 0.35:
            args.append("REV")
        if rng.random() < 0.5:
            args.append("WITHSCORES")
        if rng.random() < 0.15:
            rng.shuffle(args[4:])
        return args
    if x < 0.47:
        a, b = rank_pair(n)
        return ["ZREVRANGE", k, a, b] + (["WITHSCORES"] if rng.random() < 0.5 else [])
    if k == "zlex" and x < 0.80:
        lo, hi, wide = lex_bounds()
        y = rng.random()
        if y < 0.2:
            return ["ZLEXCOUNT", k, lo, hi]
        lim = limit_args(wide) if wide or rng.random() < 0.4 else []
        if y < 0.55:
            rev = rng.random() < 0.4
            if rev and rng.random() < 0.9:
                lo, hi = hi, lo
            args = ["ZRANGE", k, lo, hi, "BYLEX"] + (["REV"] if rev else []) + lim
            return args
        if y < 0.75:
            return ["ZRANGEBYLEX", k, lo, hi] + lim
        return ["ZREVRANGEBYLEX", k, hi, lo] + lim
    lo, hi, wide = score_bounds(k)
    y = rng.random()
    if y < 0.25:
        return ["ZCOUNT", k, lo, hi]
    lim = limit_args(wide) if wide or rng.random() < 0.4 else []
    ws = ["WITHSCORES"] if rng.random() < 0.5 else []
    if y < 0.65:
        rev = rng.random() < 0.4
        if rev and rng.random() < 0.92:
            lo, hi = hi, lo
        args = ["ZRANGE", k, lo, hi, "BYSCORE"] + (["REV"] if rev else [])
        opts = [lim, ws]
        rng.shuffle(opts)
        return args + opts[0] + opts[1]
    if y < 0.85:
        return ["ZRANGEBYSCORE", k, lo, hi] + ws + lim
    return ["ZREVRANGEBYSCORE", k, hi, lo] + ws + lim


def write_op(k, blocking=True):
    """A random write of k (args)."""
    x = rng.random()
    if x < 0.45:
        return zadd_args(k)
    if x < 0.57:
        return ["ZINCRBY", k, incr_of(k), MEMBER[k]()]
    if x < 0.77:
        n = rng.choice([1, 1, 1, 2, 3, 5, 8]) if rng.random() < 0.97 else rng.randrange(9, 20)
        ms = [MEMBER[k]() for _ in range(n)]
        if n > 1 and rng.random() < 0.1:
            ms[-1] = ms[0]  # a member named twice
        return ["ZREM", k] + ms
    if x < 0.87:
        return [rng.choice(["ZPOPMIN", "ZPOPMAX"]), k] + pop_count()
    if x < 0.92 and blocking:
        ks = ([b"nokey"] if rng.random() < 0.3 else []) + [k]
        if rng.random() < 0.02:
            ks = [b"nokey"]
        return [rng.choice(["BZPOPMIN", "BZPOPMAX"])] + ks + ["0.01"]
    if x < 0.96:
        ks = ([b"nokey"] if rng.random() < 0.3 else []) + [k]
        cnt = pop_count()
        tail = [rng.choice(["MIN", "MAX"])] + (["COUNT"] + cnt if cnt else [])
        if blocking and rng.random() < 0.4:
            return ["BZMPOP", "0.01", str(len(ks))] + ks + tail
        return ["ZMPOP", str(len(ks))] + ks + tail
    # syntax errors of the native commands
    return rng.choice([
        ["ZRANGE", k, "0", "5", "LIMIT", "0", "1"],
        ["ZRANGE", k, "[a", "[b", "BYLEX", "WITHSCORES"],
        ["ZRANGE", k, "0"],
        ["ZRANGEBYSCORE", k, "0", "1", "LIMIT", "0"],
        ["ZRANGEBYSCORE", k, "0", "1", "LIMIT", "x", "1"],
        ["ZRANK", k],
        ["ZADD", k, "NX", "XX", "1", "m"],
        ["ZADD", k, "GT", "LT", "1", "m"],
        ["ZADD", k, "INCR", "1", "m", "2", "n"],
        ["ZADD", k, "1"],
        ["ZADD", k],
        ["ZINCRBY", k, "1"],
        ["ZPOPMIN", k, "1", "2"],
        ["ZMPOP", "0", k, "MIN"],
        ["ZMPOP", "1", k, "MID"],
        ["ZMPOP", "1", k, "MIN", "COUNT", "0"],
        ["BZPOPMIN", k, "-1"],
        ["ZCOUNT", k, "(" if KNOWN else "((", "1"],
        ["ZLEXCOUNT", k, "a", "[b"],
    ] + ([["ZRANGE", k, "0", "1", "BYSCORE", "BYLEX"], ["ZRANGE", k, "(1", "5", "BYSCORE", "BYSCORE"],
          ["ZRANGE", k, "0", "1", "REV", "REV"]] if KNOWN else []))


def op(k):
    return write_op(k) if rng.random() < 0.5 else read_op(k)


fills = [0]


def punch(k):
    """A hole in the middle of k: 100-400 elements in rank order removed by ZREMs of 8
    (native: leaves, and for zl interior nodes, emptied and dropped), then the ranks around
    it read."""
    n = card(k)
    if n < 1000:
        return
    a = rng.randrange(n // 4, 3 * n // 4)
    ms = [x[1] for x in rcall("ZRANGE", k, str(a), str(a + rng.randrange(100, 400)))[1]]
    rng.shuffle(ms)
    for i in range(0, len(ms), 8):
        both("ZREM", k, *ms[i:i + 8])
    both("ZRANGE", k, str(a - 40), str(a + 40), "WITHSCORES")
    both("ZRANGE", k, str(a - 40 - n), str(a + 40 - n), "REV")
    both("ZCOUNT", k, "-inf", "+inf")


def fill(k):
    """12-50 ZADDs of up to 8 new members crowded at one score (for zlex, after one prefix):
    native, one leaf's neighbourhood splits again and again, its parents too."""
    n = card(k)
    if n < 2:
        return
    a = rng.randrange(n)
    at = rcall("ZRANGE", k, str(a), str(a), "WITHSCORES")[1]
    sc, pre = at[1][1], at[0][1][:rng.choice([1, 3, 8])]
    for _ in range(rng.randrange(12, 50)):
        args = []
        for _ in range(min(rng.randrange(1, 9), ZCAP.get(k, 8))):
            fills[0] += 1
            m = pre + b"~F%d" % fills[0] if k == "zlex" else (
                long_member(fills[0])[:-4] + b"~F%d" % fills[0] if k == "zl" else b"F%d" % fills[0])
            args += [sc, m]
        both("ZADD", k, *args)
    both("ZRANGE", k, str(a - 40), str(a + 40), "WITHSCORES")
    both("ZRANK", k, b"F%d" % fills[0] if k not in ("zlex", "zl") else m)
    both("ZCOUNT", k, sc, sc)


def native_step(k):
    """One single-member write of the native path."""
    x = rng.random()
    if x < 0.4:
        return ["ZADD", k, SCORE[k](), MEMBER[k]()]
    if x < 0.65:
        return ["ZREM", k, MEMBER[k]()]
    if x < 0.85:
        return ["ZINCRBY", k, rng.choice(["1", "-1", "0.5", "-3"]) if k != "zlex" else "0", MEMBER[k]()]
    return [rng.choice(["ZPOPMIN", "ZPOPMAX"]), k]


def versions_made():
    """Versions written so far by this server process: a reaped one moves from
    large_versions to reaper_versions_deleted."""
    i = itlib.info(srv.port)
    return int(i["large_versions"]) + int(i["reaper_versions_deleted"])


restarts = [0]
made = [0, 0]  # versions written before the current process; its baseline


def restart(kill):
    global c, r, c3, r3
    made[0] += versions_made() - made[1]
    c.close()
    if kill:
        srv.kill()
    else:
        rc = srv.stop()
        check(rc == 0, "a clean stop (SIGTERM) exits 0", got=rc)
    srv.start()
    r.close()
    c, r = conns()
    c3.close()
    r3.close()
    c3, r3 = conns3()
    made[1] = versions_made()
    restarts[0] += 1


# ---- 1. load ----

section("load")
t0 = time.time()
LOAD = {
    "za": (30000, lambda i: b"a%d" % i, 40000),
    "zb": (20000, None, None),
    "zt": (20000, lambda i: b"t%d" % i, 25000),
    "zlex": (24000, lex_member, 30000),
    "zl": (4000, long_member, 5000),
    "zg": (100, lambda i: b"g%d" % i, 300),
    "zk": (130, huge_member, 3000),
}
for k in KEYS:
    want, mk, space = LOAD[k]
    if mk is None:  # zb: its generator's members, distinct
        seen = set()
        ms = []
        while len(ms) < want:
            m = zb_member()
            if m not in seen:
                seen.add(m)
                ms.append(m)
    else:
        ms = list({mk(i): None for i in rng.sample(range(space), want)})
    for i in range(0, len(ms), 2500):
        args = []
        for m in ms[i:i + 2500]:
            s = SCORE[k]()
            if k == "zb" and rng.random() < 0.3:
                s = "%d" % rng.randrange(-10000, 10000)
            args += [s, m]
        both("ZADD", k, *args)
sizes = {k: card(k) for k in KEYS}
itlib.log("loaded in %.1f s: %s" % (time.time() - t0, " ".join("%s:%d" % kv for kv in sizes.items())))
check(all(sizes[k] > 16384 for k in ("za", "zb", "zt", "zlex")),
      "za zb zt zlex past 128 * 128 members (trees of 3 levels or more)",
      got={k: sizes[k] for k in ("za", "zb", "zt", "zlex")})
check(sizes["zl"] > 3375, "zl past 15^3 members of 253+ bytes (a tree of 4 levels or more)",
      got=sizes["zl"])
check(full_compare("after the load"), "every set as redis-server holds it after the load")
enc = {k: r.call("OBJECT", "ENCODING", k)[1] for k in BIG}
check(all(v == b"skiplist" for v in enc.values()), "redis-server holds them as skiplists", got=enc)

# ---- 2. native writes write no new version ----

section("single-member writes stay native")
deadline = time.time() + 60  # 20 s was once too short beside a soak
while time.time() < deadline and itlib.info_int(srv.port, "large_versions") > len(BIG) + 1:
    time.sleep(0.1)  # the load's replaced versions reaped
settled = itlib.info_int(srv.port, "large_versions")
check(settled == len(BIG) + 1, "the load's old versions reaped: one anchor per large set (zk too)",
      got=settled, want=len(BIG) + 1)
NATIVE = int(os.environ.get("ZNATIVE", "3000"))
v0 = versions_made()
b0 = itlib.info_int(srv.port, "user_bytes_written")
g0 = itlib.info_int(srv.port, "gets")
t1 = time.time()
for i in range(NATIVE):
    both(*native_step(BIG[i % len(BIG)]))
dt = time.time() - t1
v1 = versions_made()
b1 = itlib.info_int(srv.port, "user_bytes_written")
g1 = itlib.info_int(srv.port, "gets")
check(v1 - v0 <= 2, "%d single-member ZADD/ZREM/ZINCRBY/ZPOP write at most 2 new versions" % NATIVE,
      got=v1 - v0)
per = (b1 - b0) / NATIVE
check(per < 48 * 1024, "they write < 48 KiB each on average (a new version: ~1 MB)",
      got="%.0f bytes" % per)
check((g1 - g0) / NATIVE < 40, "they read < 40 records each on average (root, buckets, paths; "
      "the whole of za: ~1000)", got="%.1f" % ((g1 - g0) / NATIVE))
itlib.log("%d native writes in %.1f s (%.2f ms per command pair), %.0f bytes written each" %
          (NATIVE, dt, 1000 * dt / NATIVE, per))
# the reads: engine gets (pages and roots read) per command


def command_gets():
    """The engine's gets but the reaper's (a pass reads each anchor and its root), from one
    INFO: the records the commands read."""
    inf = itlib.info(srv.port)
    return int(inf["gets"]) - int(inf.get("reaper_gets", 0))


reads, total, nreads = [], 0, 600
for i in range(nreads):
    args = read_op(BIG[i % len(BIG)])
    ga = command_gets()
    both(*args)
    d = command_gets() - ga
    total += d
    reads.append((d, desc(args)))
reads.sort(key=lambda w: -w[0])
ok = check(total / nreads < 30 and reads[0][0] < 200,
           "%d random reads read < 30 records each on average, none 200 (a whole set: 600-1100)" %
           nreads, got="average %.1f, most %d (%s)" % (total / nreads, reads[0][0], reads[0][1]))
if not ok:
    for d, what in reads[:6]:
        itlib.log("FAIL+    %d records: %s" % (d, what))
check(full_compare("after the native writes"), "every set as redis-server holds it after them")

# ---- 2b. a deep tree grown and shrunk by native writes ----

section("zk grown to 5 levels and shrunk back by native writes")
v0 = versions_made()
t1 = time.time()
i = zadd_versions = 0
while card("zk") < 1500:  # a page holds at most 6 of zk's elements: 1296 need 5 levels
    i += 1
    nz = rng.randrange(4, 9) if KNOWN else rng.randrange(1, 3)
    vz = versions_made()
    both("ZADD", "zk", *[a for _ in range(nz) for a in (SCORE["zk"](), MEMBER["zk"]())])
    zadd_versions += versions_made() - vz
    if i % 3 == 0:
        both(*read_op("zk"), resp3=rng.random() < 0.2)
    if i % 7 == 0:
        both(*write_op("zk", blocking=False))
    if i % 100 == 0:
        compare_key("zk", "zk growing (%d ZADDs)" % i)
grown = card("zk")
check(compare_key("zk", "zk grown"), "zk grown to %d members (past 6^4: 5 levels) as redis-server holds it" % grown)
v1 = versions_made()
i = 0
while card("zk") > 40:  # back to the small form
    i += 1
    x = rng.random()
    if x < 0.35:
        both(rng.choice(["ZPOPMIN", "ZPOPMAX"]), "zk", str(rng.randrange(1, 17)))
    elif x < 0.5:
        both("ZMPOP", "1", "zk", rng.choice(["MIN", "MAX"]), "COUNT", str(rng.randrange(1, 17)))
    elif x < 0.85:
        n = card("zk")
        a = rng.randrange(n)
        ms = [m[1] for m in rcall("ZRANGE", "zk", str(a), str(a + rng.randrange(0, 20)))[1]]
        both("ZREM", "zk", *rng.sample(ms, min(len(ms), rng.randrange(1, 9))))
    else:
        both(*read_op("zk"), resp3=rng.random() < 0.2)
    if i % 50 == 0:
        compare_key("zk", "zk shrinking (%d steps)" % i)
v2 = versions_made()
check(compare_key("zk", "zk shrunk"), "zk shrunk to %d members as redis-server holds it" % card("zk"))
itlib.log("zk: grown to %d members, new versions %d (%d by its ZADDs of %s members); shrunk, new "
          "versions %d; %.1f s" % (grown, v1 - v0, zadd_versions, "4-8" if KNOWN else "1-2", v2 - v1,
                                   time.time() - t1))
if not KNOWN:
    check(zadd_versions <= 2, "zk's ZADDs of 1-2 members wrote at most 2 new versions", got=zadd_versions)

# ---- 3. the random sequence ----

section("random sequence")
made[1] = versions_made()
whole_cmds = 0
t2 = time.time()
every = max(100, STEPS // 12)
pf = [0]  # versions written by punch() and fill()
for step in range(STEPS):
    k = rng.choice(KEYS + BIG)  # zg and zk half as often
    args = op(k)
    if (args[0] in ("ZADD", "ZREM") and len(args) > 2 + 16) or \
            (args[0] in ("ZPOPMIN", "ZPOPMAX") and len(args) == 3 and args[2].isdigit() and int(args[2]) > 16):
        whole_cmds += 1
    both(*args, resp3=rng.random() < 0.15)
    if step % every == every - 1:
        vp = versions_made()
        punch(rng.choice(BIG))
        fill(rng.choice(BIG))
        pf[0] += versions_made() - vp
        full_compare("step %d" % (step + 1))
        q = (step + 1) // every
        if q % 3 == 0 and restarts[0] < 4:
            for _ in range(40):  # a burst of acknowledged writes, then the stop
                both(*write_op(rng.choice(BIG), blocking=False))
            kill = restarts[0] % 2 == 1
            restart(kill)
            ok = full_compare("step %d after a %s" % (step + 1, "SIGKILL" if kill else "SIGTERM"))
            check(ok, "every set as redis-server holds it after a %s (step %d)" %
                  ("SIGKILL" if kill else "SIGTERM and restart", step + 1))
        itlib.log("step %d (%.0f s): sizes %s" % (step + 1, time.time() - t2,
                                                  " ".join("%s:%d" % (x, card(x)) for x in KEYS)))
made[0] += versions_made() - made[1]
itlib.log("random sequence: %d steps in %.0f s, %d restarts; %d new versions written, %d commands "
          "past the native limits" % (STEPS, time.time() - t2, restarts[0], made[0], whole_cmds))
if restarts[0] < 2:  # a short run (ZSTEPS small): stop and kill once each anyway
    for kill in (False, True):
        for _ in range(40):
            both(*write_op(rng.choice(BIG), blocking=False))
        restart(kill)
        check(full_compare("after a %s" % ("SIGKILL" if kill else "SIGTERM")),
              "every set as redis-server holds it after a %s" % ("SIGKILL" if kill else "SIGTERM"))
check(mismatches[0] == 0, "every reply as redis-server gives it (seed %d)" % SEED, got=mismatches[0])
check(pf[0] <= 2, "holes punched and filled by ZREM/ZADD of 8 members write at most 2 new versions",
      got=pf[0])

# ---- 4. MULTI/EXEC and EVAL: the whole-set path ----

section("MULTI/EXEC and EVAL")
m0 = mismatches[0]
for _ in range(12):
    k = rng.choice(BIG)
    both("MULTI")
    for _ in range(rng.randrange(2, 7)):
        both(*(write_op(k, blocking=rng.random() < 0.2) if rng.random() < 0.6 else read_op(k)))
    both("EXEC")
SCRIPT = """local out = {}
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local args = {}
  for j = 1, n do args[j] = ARGV[i + j] end
  out[#out + 1] = redis.pcall(unpack(args))
  i = i + n + 1
end
return out"""
for _ in range(12):
    k = rng.choice(BIG)
    argv = []
    for _ in range(rng.randrange(2, 7)):
        a = write_op(k, blocking=False) if rng.random() < 0.6 else read_op(k)
        argv += [str(len(a))] + a
    both("EVAL", SCRIPT, "1", k, *argv, what="EVAL of %s" % desc(argv))
check(mismatches[0] == m0, "MULTI/EXEC and EVAL on large sets as redis-server runs them",
      got=mismatches[0] - m0)
check(full_compare("after MULTI/EXEC and EVAL"), "every set as redis-server holds it after them")

# ---- 5. the end ----

section("the end")
restart(True)
check(full_compare("the end, after a SIGKILL"), "every set as redis-server holds it at the end")
itlib.log("%d commands compared in %.0f s: %s" % (sum(tally.values()), time.time() - t0, " ".join(
    "%s %d" % kv for kv in sorted(tally.items()))))
check(c.call("DEL", *KEYS)[0] == ":", "DEL of every set")
deadline = time.time() + 30
while time.time() < deadline:
    p, v = itlib.info_int(srv.port, "large_pages"), itlib.info_int(srv.port, "large_versions")
    if p == 0 and v == 0:
        break
    time.sleep(0.2)
check((p, v) == (0, 0), "every page and anchor reaped after DEL (large_pages, large_versions)",
      got=(p, v))
check(srv.alive(), "the server is still up")
itlib.finish()
