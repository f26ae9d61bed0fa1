"""rdb_migrate.py - the Redis migration path in both directions (issue 14), with the real
redis-server 7.0:

  logstord -> Redis: keys of several databases (strings, integers, long compressible and
  binary values, binary keys, an empty string, a HyperLogLog, TTLs, 6000 small keys, an
  expired key) are fetched with `redis-cli --rdb`; redis-server starts on that file and
  must hold every key with its value and TTL (within a tolerance). A SYNC client that does
  not read holds a bounded amount of server memory while other clients are served, and
  the stream it finally reads is a valid RDB of the same keys.

  Redis -> logstord: redis-server is filled the same way plus collections (list, hash,
  sets, sorted set, stream), SAVEs, and logstor-load loads its file into a fresh logstord:
  every string key, value and TTL must match; the collections are named on stderr and
  make the exit status 1 unless --skip-unsupported; a corrupt, truncated or foreign file
  is refused with a clear error and loads nothing.
"""
import os
import random
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (RedisServer, Resp, Server, begin, check, encode, finish, info,  # noqa: E402
                   log, section)

BUILD = os.environ.get("LOGSTOR_BUILD") or "build"
LOAD = os.path.join(BUILD, "logstor-load")
TTL_TOLERANCE_MS = 20000

begin("rdb_migrate", 240)
tmp = Server().dir  # never started: its directory is removed at exit, failed or not


LIB = "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return 'from rdblib' end)"


def fill(port, with_collections=False):
    """Writes the data set; returns {(db, key): (value, absolute expiry ms or 0)} of its
    string keys and the HLL keys (compared with PFCOUNT too)."""
    c = Resp(port, timeout=30)
    want = {}
    now = int(time.time() * 1000)

    def put(db, key, val, px=None):
        c.call("SELECT", db)
        args = ["SET", key, val] + (["PX", px] if px else [])
        r = c.call(*args)
        assert r == ("+", "OK"), r
        k = key.encode() if isinstance(key, str) else key
        v = val.encode() if isinstance(val, str) else val
        want[(db, k)] = (v, now + px if px else 0)

    put(0, "plain", "hello world")
    put(0, "int", "12345")
    put(0, "neg", "-7")
    put(0, "i32max", "2147483647")
    put(0, "bigint", "2147483648")
    put(0, "lead0", "007")
    put(0, "empty", "")
    put(0, "long", b"abcdefgh" * 8000)  # 64 KB, compressible (Redis writes it LZF)
    put(0, "bin", bytes(range(256)) * 4)
    put(0, b"\x00\xff\r\nbinkey", b"\x00v")
    put(0, "ttl_s", "x", px=3600 * 1000)
    put(0, "ttl_int", "17", px=600 * 1000)
    put(1, "plain", "in db 1")
    put(1, "ttl_long", b"z" * 5000, px=86400 * 1000)
    put(7, "big", bytes((i * 7) & 0xff for i in range(512 * 1024)))
    put(15, "last", "db 15")
    c.call("SELECT", 0)
    r = c.call("PFADD", "hll", *["m%d" % i for i in range(500)])
    assert r == (":", 1), r
    want["pfcount"] = c.call("PFCOUNT", "hll")  # first: it caches the count in the value
    # hashes: a small one with a TTL (listpack in Redis), a large one (hashtable), in db 5
    hashes = want["hashes"] = {}
    c.call("SELECT", 5)
    small = {b"f": b"v", b"n": b"-300", b"big": b"5000000000", b"e": b""}
    c.call("HSET", "h:small", *[x for kv in small.items() for x in kv])
    c.call("PEXPIRE", "h:small", 7200 * 1000)
    hashes[(5, b"h:small")] = (small, now + 7200 * 1000)
    large = {b"field:%d" % i: (b"value-%d-" % i) * (1 + i % 20) for i in range(600)}
    items = [x for kv in large.items() for x in kv]
    for i in range(0, len(items), 200):
        c.call("HSET", "h:large", *items[i:i + 200])
    hashes[(5, b"h:large")] = (large, 0)
    lists = want["lists"] = {}
    c.call("RPUSH", "l:q", "one", "2", "-300", "", "x" * 300)
    c.call("PEXPIRE", "l:q", 5400 * 1000)
    lists[(5, b"l:q")] = ([b"one", b"2", b"-300", b"", b"x" * 300], now + 5400 * 1000)
    sets = want["sets"] = {}
    c.call("SADD", "s:int", "3", "-7", "100000", "5000000000")
    sets[(5, b"s:int")] = ({b"3", b"-7", b"100000", b"5000000000"}, 0)
    c.call("SADD", "s:str", *["m%d" % i for i in range(300)])
    sets[(5, b"s:str")] = ({b"m%d" % i for i in range(300)}, 0)
    zsets = want["zsets"] = {}
    c.call("ZADD", "z:small", "1.5", "a", "-3", "b", "inf", "c")
    zsets[(5, b"z:small")] = [(b"b", b"-3"), (b"a", b"1.5"), (b"c", b"inf")]
    c.call("ZADD", "z:big", *[x for i in range(300) for x in (str(i * 0.25), "m%03d" % i)])
    zsets[(5, b"z:big")] = [(b"m%03d" % i, repr(i * 0.25).rstrip("0").rstrip(".").encode()
                             if i % 4 else b"%d" % (i // 4)) for i in range(300)]
    c.call("SELECT", 0)
    want[(0, b"hll")] = (c.call("GET", "hll")[1], 0)
    # a function library: in the file before the databases, loaded by FUNCTION LOAD
    r = c.call("FUNCTION", "LOAD", LIB)
    assert r == ("$", b"rdblib"), r
    # an expired key: never in a file, or skipped when it is
    c.call("SET", "gone", "x", "PX", 30)
    # many small keys: several scan batches, pipelined
    c.call("SELECT", 2)
    for base in range(0, 6000, 500):
        c.send(b"".join(encode("SET", "k:%d" % i, "v%d" % (i * 31)) for i in range(base, base + 500)))
        for _ in range(500):
            assert c.read() == ("+", "OK")
    for i in range(6000):
        want[(2, b"k:%d" % i)] = (b"v%d" % (i * 31), 0)
    if with_collections:
        c.call("SELECT", 0)
        c.call("RPUSH", "coll_list", "a", "b", "c")
        c.call("HSET", "coll_hash", "f", "v", "g", "w")
        c.call("SADD", "coll_intset", 1, 2, 3)
        c.call("SADD", "coll_set", *["m%d" % i for i in range(200)])
        c.call("ZADD", "coll_zset", 1, "a", "2.5", "b")
        c.call("XADD", "coll_stream", "*", "f", "v")
        c.call("XGROUP", "CREATE", "coll_stream", "g", "0")
        c.call("SELECT", 4)
        c.call("HSET", "coll_db4", "f", "v")
        want["hashes"][(0, b"coll_hash")] = ({b"f": b"v", b"g": b"w"}, 0)
        want["lists"][(0, b"coll_list")] = ([b"a", b"b", b"c"], 0)
        want["sets"][(0, b"coll_intset")] = ({b"1", b"2", b"3"}, 0)
        want["sets"][(0, b"coll_set")] = ({b"m%d" % i for i in range(200)}, 0)
        want["zsets"][(0, b"coll_zset")] = [(b"a", b"1"), (b"b", b"2.5")]
        want["hashes"][(4, b"coll_db4")] = ({b"f": b"v"}, 0)
    time.sleep(0.1)  # "gone" expires
    c.close()
    return want


def compare(port, want, what):
    """Every key of want is on the server at port with its value and TTL; each database
    holds exactly want's keys."""
    want = dict(want)
    pfcount = want.pop("pfcount")
    hashes = want.pop("hashes")
    lists = want.pop("lists")
    sets = want.pop("sets")
    zsets = want.pop("zsets")
    c = Resp(port, timeout=30)
    bad_val, bad_ttl, dbs = [], [], sorted({db for db, _ in want})
    for db in range(16):
        c.call("SELECT", db)
        keys = set(v for _, v in c.call("KEYS", "*")[1])
        exp = set(k for d, k in want if d == db) | set(k for d, k in hashes if d == db) | \
            set(k for d, k in lists if d == db) | set(k for d, k in sets if d == db) | \
            set(k for d, k in zsets if d == db)
        check(keys == exp, "%s: db %d holds exactly the keys expected (%d)" % (what, db, len(exp)),
              None if keys == exp else sorted(keys ^ exp)[:5])
    for db in dbs:
        c.call("SELECT", db)
        items = [(k, v) for (d, k), v in want.items() if d == db]
        for i in range(0, len(items), 500):
            part = items[i:i + 500]
            c.send(b"".join(encode("GET", k) + encode("PEXPIRETIME", k) for k, _ in part))
            for k, (val, exp_ms) in part:
                got, gexp = c.read()[1], c.read()[1]
                if got != val:
                    bad_val.append((db, k, None if got is None else got[:40], val[:40]))
                if (exp_ms == 0) != (gexp == -1) or (exp_ms and abs(gexp - exp_ms) > TTL_TOLERANCE_MS):
                    bad_ttl.append((db, k, gexp, exp_ms))
    check(not bad_val, "%s: every value is the same (%d keys)" % (what, len(want)), bad_val[:3] or None)
    check(not bad_ttl, "%s: every expiry is the same (within %d ms)" % (what, TTL_TOLERANCE_MS),
          bad_ttl[:3] or None)
    bad_hash = []
    for (db, k), (fields, exp_ms) in hashes.items():
        c.call("SELECT", db)
        got = c.call("HGETALL", k)[1]
        got = {got[i][1]: got[i + 1][1] for i in range(0, len(got), 2)}
        gexp = c.call("PEXPIRETIME", k)[1]
        typ = c.call("TYPE", k)
        if got != fields or typ != ("+", "hash") or (exp_ms == 0) != (gexp == -1) or \
                (exp_ms and abs(gexp - exp_ms) > TTL_TOLERANCE_MS):
            bad_hash.append((db, k, typ, len(got), len(fields), gexp, exp_ms))
    check(not bad_hash, "%s: every hash the same, with its TTL (%d)" % (what, len(hashes)),
          bad_hash[:3] or None)
    bad_list = []
    for (db, k), (elems, exp_ms) in lists.items():
        c.call("SELECT", db)
        got = [x[1] for x in c.call("LRANGE", k, 0, -1)[1]]
        gexp = c.call("PEXPIRETIME", k)[1]
        if got != elems or c.call("TYPE", k) != ("+", "list") or (exp_ms == 0) != (gexp == -1) or \
                (exp_ms and abs(gexp - exp_ms) > TTL_TOLERANCE_MS):
            bad_list.append((db, k, got[:3], gexp, exp_ms))
    check(not bad_list, "%s: every list the same, with its TTL (%d)" % (what, len(lists)),
          bad_list[:3] or None)
    bad_set = []
    for (db, k), (members, _) in sets.items():
        c.call("SELECT", db)
        got = set(x[1] for x in c.call("SMEMBERS", k)[1])
        if got != members or c.call("TYPE", k) != ("+", "set"):
            bad_set.append((db, k, len(got), len(members)))
    check(not bad_set, "%s: every set the same (%d)" % (what, len(sets)), bad_set[:3] or None)
    bad_z = []
    for (db, k), pairs in zsets.items():
        c.call("SELECT", db)
        got = [x[1] for x in c.call("ZRANGE", k, 0, -1, "WITHSCORES")[1]]
        got = list(zip(got[0::2], got[1::2]))
        if got != pairs or c.call("TYPE", k) != ("+", "zset"):
            bad_z.append((db, k, got[:3], pairs[:3]))
    check(not bad_z, "%s: every sorted set the same (%d)" % (what, len(zsets)), bad_z[:3] or None)
    c.call("SELECT", 0)
    check(c.call("PFCOUNT", "hll") == pfcount, "%s: PFCOUNT of the HyperLogLog as at the source" % what,
          (c.call("PFCOUNT", "hll"), pfcount))
    check(c.call("FCALL", "rdbf", 0) == ("$", b"from rdblib"), "%s: the function library came along" % what)
    ttl = c.call("PTTL", "ttl_s")[1]
    check(3600 * 1000 - TTL_TOLERANCE_MS < ttl <= 3600 * 1000, "%s: PTTL ttl_s about 1 h" % what, ttl)
    c.close()


def tag_val(i, rnd):
    """An 8 KiB value that names its key and round, random (it does not compress)."""
    t = b"%d:%d:" % (i, rnd)
    return t + random.Random(i * 3 + rnd).randbytes(8192 - len(t))


def load(port, path, *extra):
    p = subprocess.run([LOAD, "-p", str(port)] + list(extra) + [path], capture_output=True,
                       timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---------------------------------------------------------------------------------------
section("logstord -> Redis: redis-cli --rdb, then redis-server on the file")
src = Server().start()
want = fill(src.port)
rdb_dir = os.path.join(tmp, "to_redis")
os.makedirs(rdb_dir)
path = os.path.join(rdb_dir, "dump.rdb")
t0 = time.time()
p = subprocess.run(["redis-cli", "-p", str(src.port), "--rdb", path], capture_output=True,
                   timeout=120)
log("redis-cli --rdb: %d bytes in %.2f s" % (os.path.getsize(path) if os.path.exists(path) else -1,
                                            time.time() - t0))
err = p.stderr.decode(errors="replace")
check(p.returncode == 0 and "Transfer finished with success" in err,
      "redis-cli --rdb exits 0 and reports success", (p.returncode, err[-300:]))
with open(path, "rb") as f:
    head = f.read(9)
check(head == b"REDIS0010", "the file is an RDB of version 10", head)
c = Resp(src.port)
check(c.call("PING") == ("+", "PONG"), "logstord still serves after the SYNC")
check(c.call("REPLCONF", "capa", "eof") == ("+", "OK"), "REPLCONF capa eof answers +OK")
check(c.call("REPLCONF", "capa") == ("-", "ERR syntax error"), "REPLCONF with an odd argument count")
check(c.call("REPLCONF", "nosuch", "1") == ("-", "ERR Unrecognized REPLCONF option: nosuch"),
      "REPLCONF of an unknown option")
check(c.call("REPLCONF", "rdb-filter-only", "functions") == ("+", "OK"), "REPLCONF rdb-filter-only functions")
check(c.call("REPLCONF", "rdb-filter-only", "functions keys") ==
      ("-", "ERR Unsupported rdb-filter-only option: keys"), "REPLCONF rdb-filter-only of an unknown filter")
c.call("MULTI")
check(c.call("SYNC")[0] == "-", "SYNC inside MULTI is refused", None)
c.call("DISCARD")
c.close()
dst = RedisServer(data_dir=rdb_dir, extra=["--dbfilename", "dump.rdb"]).start()
compare(dst.port, want, "redis-server")
rlog = open(dst.logpath, "rb").read().decode(errors="replace")
m = re.search(r"Done loading RDB, keys loaded: (\d+), keys expired: (\d+)", rlog)
check(m is not None and int(m.group(1)) == len(want) - 5 + len(want["hashes"]) + len(want["lists"]) + len(want["sets"]) + len(want["zsets"]), "redis-server's log: every key loaded",
      m.group(0) if m else rlog[-400:])
dst.stop()

fpath = os.path.join(tmp, "functions.rdb")
p = subprocess.run(["redis-cli", "-p", str(src.port), "--functions-rdb", fpath], capture_output=True,
                   timeout=60)
q = subprocess.run([LOAD, "-n", fpath], capture_output=True, timeout=60)
out = q.stdout.decode(errors="replace")
check(p.returncode == 0 and q.returncode == 0 and "0 keys to load, 1 function libraries" in out,
      "redis-cli --functions-rdb: a valid RDB of the library alone", (p.stderr[-200:], out[-200:]))

section("a SYNC client that does not read while keys change: bounded memory, others served, "
        "each key once")
c = Resp(src.port, timeout=30)
c.call("SELECT", 3)
NBIG = 3000  # 8 KiB each: 24 MiB, several scan batches of db 3
for base in range(0, NBIG, 250):
    c.send(b"".join(encode("SET", "big:%d" % i, tag_val(i, 0)) for i in range(base, base + 250)))
    for _ in range(250):
        assert c.read() == ("+", "OK")
slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
slow.settimeout(30)
slow.connect(("127.0.0.1", src.port))
slow.sendall(b"SYNC\r\n")
time.sleep(1.0)
t0 = time.time()
pong = c.call("PING")
check(pong == ("+", "PONG") and time.time() - t0 < 1.0, "another client is served during the dump",
      (pong, time.time() - t0))
lst = c.call("CLIENT", "LIST")[1].decode()
line = next((ln for ln in lst.splitlines() if "cmd=sync" in ln), "")
mem = int(re.search(r"tot-mem=(\d+)", line).group(1)) if line else -1
check(0 < mem < 6 * 1024 * 1024, "the syncing client holds under 6 MiB of server memory (24 MiB to send)",
      mem)
# meanwhile: overwrite a third, delete a tenth, create new keys
c.send(b"".join(encode("SET", "big:%d" % i, tag_val(i, 1)) for i in range(0, NBIG, 3)))
c.send(b"".join(encode("DEL", "big:%d" % i) for i in range(1, NBIG, 10)))
c.send(b"".join(encode("SET", "new:%d" % i, tag_val(i, 2)) for i in range(1000)))
for _ in range(len(range(0, NBIG, 3)) + len(range(1, NBIG, 10)) + 1000):
    c.read()
c.close()
data = b""
while True:
    d = slow.recv(1 << 20)
    if not d:
        break
    data += d
slow.close()
hdr, _, rest = data.partition(b"\r\n")
mark = hdr[5:]
ok = hdr.startswith(b"$EOF:") and len(mark) == 40 and rest.endswith(mark)
check(ok, "the stream is $EOF:<40 bytes>, the file, the mark again", hdr[:50])
stream_path = os.path.join(tmp, "stream.rdb")
with open(stream_path, "wb") as f:
    f.write(rest[:-40])
p = subprocess.run([LOAD, "-n", stream_path], capture_output=True, timeout=60)
out = p.stdout.decode(errors="replace")
check(p.returncode == 0, "logstor-load -n reads the stream as a valid RDB", out[-200:])
seen = {}
for ln in out.splitlines():
    m = re.match(r'db (\d+) "(.*)" \d+ bytes', ln)
    if m:
        k = (int(m.group(1)), m.group(2))
        seen[k] = seen.get(k, 0) + 1
dups = [k for k, n in seen.items() if n > 1]
check(not dups, "no key appears twice in the stream (%d keys)" % len(seen), dups[:5])
deleted = {(3, "big:%d" % i) for i in range(1, NBIG, 10)}
stable = [(db, k.decode()) for db, k in (x for x in want if x not in ("pfcount", "hashes", "lists", "sets", "zsets")) if not k.startswith(b"\x00")]
stable += [(3, "big:%d" % i) for i in range(NBIG) if (3, "big:%d" % i) not in deleted]
stable += [(db, k.decode()) for db, k in want["hashes"]]
stable += [(db, k.decode()) for db, k in want["lists"]]
stable += [(db, k.decode()) for db, k in want["sets"]]
stable += [(db, k.decode()) for db, k in want["zsets"]]
missing = [k for k in stable if k not in seen]
check(not missing, "every key that existed for the whole dump is in it (%d)" % len(stable), missing[:5])
extra = [k for k in seen if k not in set(stable) and k not in deleted and not k[1].startswith("new:")
         and not k[1].startswith("\\x00")]
check(not extra, "nothing else is in it", extra[:5])

section("CLIENT KILL, FLUSHALL and SIGTERM beside a SYNC that is not read")


def stalled_sync():
    sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sk.connect(("127.0.0.1", src.port))
    sk.sendall(b"SYNC\r\n")
    time.sleep(0.5)
    return sk


c = Resp(src.port, timeout=30)
s1 = stalled_sync()
ids = re.findall(r"id=(\d+) [^\n]*cmd=sync", c.call("CLIENT", "LIST")[1].decode())
check(len(ids) == 1 and c.call("CLIENT", "KILL", "ID", ids[0]) == (":", 1), "CLIENT KILL ID of the syncing client",
      ids)
time.sleep(0.3)
check("cmd=sync" not in c.call("CLIENT", "LIST")[1].decode(), "it is gone")
s1.close()
s2 = stalled_sync()
t0 = time.time()
check(c.call("FLUSHALL") == ("+", "OK") and c.call("SET", "a", "b") == ("+", "OK") and time.time() - t0 < 2,
      "FLUSHALL and SET during the dump answer at once", time.time() - t0)
c.close()
t0 = time.time()
rc = src.stop()
check(rc == 0 and time.time() - t0 < 5, "SIGTERM during the stalled dump: the server exits at once, status 0",
      (rc, time.time() - t0))
s2.close()

section("a record damaged on disk while serving: the dump fails instead of leaving its key out")
dmg = Server().start()
c = Resp(dmg.port, timeout=30)
for i in range(200):
    assert c.call("SET", "dmg:%d" % i, b"MARK%05d" % i + b"m" * 3000) == ("+", "OK")
c.close()
dmg.stop()
dmg.start()  # the same directory: nothing in the record cache
hit = 0
for name in sorted(os.listdir(dmg.dir)):
    if name.startswith("data-") and not hit:
        with open(os.path.join(dmg.dir, name), "r+b") as f:
            blob = f.read()
            at = blob.find(b"MARK00042")
            if at >= 0:
                f.seek(at + 20)
                f.write(b"X")
                hit = 1
check(hit, "a byte of dmg:42's value changed in its data file")
dpath = os.path.join(tmp, "damaged.rdb")
p = subprocess.run(["redis-cli", "-p", str(dmg.port), "--rdb", dpath], capture_output=True, timeout=60)
err = p.stderr.decode(errors="replace")
check(p.returncode != 0 and "Transfer finished with success" not in err,
      "redis-cli --rdb fails (the connection closes before the EOF mark)", (p.returncode, err[-200:]))
corrupt = int(info(dmg.port).get("read_corrupt", "0"))
check(corrupt > 0, "INFO read_corrupt counts the damaged record", corrupt)
dlog = open(dmg.logpath, "rb").read().decode(errors="replace")
check("damaged records found during the dump" in dlog, "the log says why the dump stopped", dlog[-300:])
dmg.stop()

# ---------------------------------------------------------------------------------------
section("Redis -> logstord: SAVE, then logstor-load")
rsrc = RedisServer(extra=["--dbfilename", "src.rdb"]).start()
want = fill(rsrc.port, with_collections=True)
r = Resp(rsrc.port, timeout=60)
check(r.call("SAVE") == ("+", "OK"), "redis-server SAVE")
r.close()
rdb = os.path.join(rsrc.dir, "src.rdb")
log("redis-server's SAVE of the same data (and the collections): %d bytes" % os.path.getsize(rdb))
dst = Server().start()
rc, out, err = load(dst.port, rdb)
log(out.strip())
colls = ["coll_stream"]
check(rc == 1, "collections without --skip-unsupported: exit status 1", (rc, err[-300:]))
check(all('"%s"' % k in err for k in colls), "each collection is named on stderr", err[-500:])
check("1 objects skipped" in err, "their count is reported (hashes, lists, sets, sorted sets are loaded)",
      err[-200:])
check(not any('"%s"' % k in err for k in ("coll_hash", "coll_db4", "h:small", "h:large",
                                          "coll_list", "l:q", "coll_intset", "coll_set",
                                          "coll_zset")),
      "no hash, list, set or sorted set is named as skipped", err[-500:])
check(("%d keys loaded" % (len(want) - 5 + len(want["hashes"]) + len(want["lists"]) +
                           len(want["sets"]) + len(want["zsets"]))) in out,
      "every string key, hash, list, set and sorted set is loaded", out)
compare(dst.port, want, "logstord")
rc, out, err = load(dst.port, rdb, "--skip-unsupported")
check(rc == 0, "--skip-unsupported: exit status 0 (loading again overwrites)", (rc, err[-300:]))
compare(dst.port, want, "logstord (loaded twice)")
dst.stop()

section("corrupt, truncated and foreign files are refused and load nothing")
fresh = Server().start()
blob = open(rdb, "rb").read()
cases = [("corrupt", blob[:len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 0x20]) + blob[len(blob) // 2 + 1:],
          "checksum mismatch"),
         ("truncated", blob[:len(blob) - 100], "checksum mismatch"),
         ("foreign", b"*1\r\n$4\r\nPING\r\n" * 10, "not an RDB file"),
         ("newer", b"REDIS0011" + blob[9:], "RDB version 11 is not supported")]
for name, content, msg in cases:
    pth = os.path.join(tmp, name + ".rdb")
    with open(pth, "wb") as f:
        f.write(content)
    rc, out, err = load(fresh.port, pth)
    check(rc == 2 and msg in err, "%s file: exit status 2, '%s'" % (name, msg), (rc, err.strip()[-200:]))
c = Resp(fresh.port)
n = sum(c.call("SELECT", db) and c.call("DBSIZE")[1] for db in range(16))
check(n == 0, "nothing was loaded from them", n)
c.close()
fresh.stop()
rsrc.stop()
finish()
