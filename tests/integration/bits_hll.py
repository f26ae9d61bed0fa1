"""bits_hll.py - the edges of the bitmap, HyperLogLog and LCS commands (run by bits_hll.sh;
the differential test compares their everyday replies with redis-server's).

- Limits: logstord is started with max_value_size 1mb and proto_max_bulk_len 1mb. The
  last bit a write may address is 8388607 (SETBIT, BITFIELD); past it the write gets
  Redis's "bit offset is not an integer or out of range" and nothing is stored; a read
  past it (GETBIT, BITFIELD_RO, BITCOUNT, BITPOS) answers as for zero padding, up to
  proto_max_bulk_len bytes, where Redis's offset error starts. LCS
  refuses a table over proto_max_bulk_len with Redis's error.
- Values move between the servers: an HLL written by redis-server (sparse and dense),
  SET into logstord, counts the same, grows to the same bytes, and logstord's bytes read
  back in redis-server count the same. Bitmaps built by BITOP/BITFIELD compare too.
- Invalid HLLs: Redis's WRONGTYPE and INVALIDOBJ errors, and the server stays up.
- The HLL header's cached count: invalidated by PFADD, written by PFCOUNT (TTL kept).
- Atomicity under the concurrency rule: 8 clients INCRBY one BITFIELD counter, SETBIT
  distinct bits of one key and PFADD disjoint elements at once; nothing is lost.
"""
import itlib
from itlib import Resp, check, section, log
from diff_redis import RedisServer

itlib.begin("bits_hll", time_limit_s=150)
MAXV = 1 << 20
srv = itlib.Server("redis", extra=[] if itlib.IS_REAL else
                   ["--max_value_size", "1mb", "--proto_max_bulk_len", "2mb"])
srv.start()
ref = RedisServer("redis").start()
log("bits_hll: target %s on 127.0.0.1:%d, reference redis-server on %d" %
    ("redis-server" if srv.real else "logstord", srv.port, ref.port))
c = Resp(srv.port)
rc = Resp(ref.port)
OFFSET_ERR = ("-", "ERR bit offset is not an integer or out of range")
NOT_HLL = ("-", "WRONGTYPE Key is not a valid HyperLogLog string value.")
BAD_HLL = ("-", "INVALIDOBJ Corrupted HLL object detected")


def both(*args):
    """The command on logstord and redis-server; checks the replies are equal."""
    a, b = c.call(*args), rc.call(*args)
    check(a == b, "%s: same reply as redis-server" % " ".join(str(x)[:30] for x in args[:4]),
          a if a != b else None, b if a != b else None)
    return a


section("bit offsets at max_value_size")
if srv.real:
    itlib.skip("limits of logstord's configuration (TARGET=redis)")
else:
    last = MAXV * 8 - 1
    r = c.call("SETBIT", "b", str(last), "1")
    check(r == (":", 0), "SETBIT of the last bit of a 1mb value", r)
    check(c.call("STRLEN", "b") == (":", MAXV), "the value is max_value_size long")
    r = c.call("SETBIT", "b", str(last + 1), "1")
    check(r == OFFSET_ERR, "SETBIT one bit further: Redis's offset error", r)
    r = c.call("SETBIT", "b2", str(last + 1), "1")
    check(r == OFFSET_ERR and c.call("EXISTS", "b2") == (":", 0),
          "... and a missing key is not created", r)
    check(c.call("GETBIT", "b", str(last)) == (":", 1), "GETBIT of the last bit")
    check(c.call("GETBIT", "b", str(last + 1)) == (":", 0), "GETBIT past the end reads 0")
    r = c.call("GETBIT", "b", str(2 * MAXV * 8 - 1))
    check(r == (":", 0), "GETBIT of the last bit under proto_max_bulk_len", r)
    r = c.call("GETBIT", "b", str(2 * MAXV * 8))
    check(r == OFFSET_ERR, "GETBIT at proto_max_bulk_len bytes: the offset error", r)
    r = c.call("BITFIELD", "b", "SET", "u8", str(last - 7), "255", "GET", "u8", str(last))
    check(r == ("*", [(":", 1), (":", 128)]), "BITFIELD SET ending on the last bit", r)
    r = c.call("BITFIELD", "b", "SET", "u8", str(last - 6), "255")
    check(r == OFFSET_ERR, "BITFIELD SET crossing the last bit: the offset error", r)
    r = c.call("BITFIELD", "b", "INCRBY", "u8", "#%d" % MAXV, "1")
    check(r == OFFSET_ERR, "BITFIELD INCRBY at #N past the end: the offset error", r)
    r = c.call("BITFIELD_RO", "b", "GET", "u8", "#%d" % (MAXV + 5), "GET", "i64", str(last - 3))
    check(r == ("*", [(":", 0), (":", -(1 << 60))]), "BITFIELD_RO reads past the end as zeros", r)
    check(c.call("BITCOUNT", "b") == (":", 8), "BITCOUNT of the 1mb value", c.call("BITCOUNT", "b"))
    check(c.call("BITPOS", "b", "1") == (":", last - 7), "BITPOS finds the byte at the end")
    check(c.call("BITPOS", "b", "0", "-1") == (":", MAXV * 8), "BITPOS 0 past an open end")
    r = c.call("BITOP", "NOT", "nb", "b")
    check(r == (":", MAXV), "BITOP NOT of a 1mb value writes 1mb", r)
    check(c.call("BITCOUNT", "nb") == (":", MAXV * 8 - 8), "... its complement",
          c.call("BITCOUNT", "nb"))
    c.call("SET", "x", "a" * 800)
    c.call("SET", "y", "b" * 800)
    r = c.call("LCS", "x", "y")
    check(r == ("-", "ERR Insufficient memory, transient memory for LCS exceeds "
                     "proto-max-bulk-len"), "LCS of 800x800 bytes: Redis's table limit", r)
    c.call("SET", "y", "a" * 500)
    check(c.call("LCS", "x", "y", "LEN") == (":", 500), "LCS under the limit answers")
    check(c.call("PING") == ("+", "PONG"), "the server is up")

section("read-modify-writes keep the TTL; BITOP replaces the destination")
for conn in (c, rc):
    conn.call("DEL", "t", "dst", "src")
    conn.call("SET", "t", "\x0f", "EX", "1000")
    conn.call("SET", "dst", "old", "EX", "1000")
both("SETBIT", "t", "0", "1")
both("BITFIELD", "t", "INCRBY", "u4", "4", "1")
r = c.call("TTL", "t")
check(r[0] == ":" and r[1] > 900, "SETBIT and BITFIELD keep the key's TTL", r)
both("GET", "t")
both("BITOP", "OR", "dst", "t", "nokey")
check(c.call("TTL", "dst") == (":", -1), "BITOP's destination has no TTL", c.call("TTL", "dst"))
both("GET", "dst")
both("BITOP", "AND", "dst", "nokey", "nokey2")
check(c.call("EXISTS", "dst") == (":", 0), "BITOP of empty sources deletes the destination")
both("BITFIELD", "new", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9")
both("GET", "new")
both("BITFIELD", "new", "SET", "u2", "0", "0", "GET", "u2", "0")

section("HyperLogLog values move between the servers")
for n, key in ((5, "hs"), (200, "hm"), (5000, "hd")):
    els = ["el%d" % i for i in range(n)]
    for i in range(0, n, 1000):
        rc.call("PFADD", key, *els[i:i + 1000])
    raw = rc.call("GET", key)[1]
    kind = "dense" if raw[4] == 0 else "sparse"
    c.call("DEL", key)
    c.call("SET", key, raw)
    both("PFCOUNT", key)
    both("GET", key)  # the cached count written by both
    both("PFADD", key, *["new%d" % i for i in range(50)])
    r = both("GET", key)
    check(len(r[1] or b"") > 16, "%d elements from redis-server (%s, %d bytes) grown alike" %
          (n, kind, len(raw)))
    both("PFCOUNT", key)
    mine = c.call("GET", key)[1]
    rc.call("SET", key + "copy", mine)
    check(rc.call("PFCOUNT", key + "copy") == c.call("PFCOUNT", key),
          "logstord's %s bytes count the same in redis-server" % kind)
# a dense source read through mget's window (PFMERGE, PFCOUNT of several keys): under
# ASan, reading its last register touched the byte after the engine's value
both("PFMERGE", "hdm", "hd", "nokey")
both("PFCOUNT", "hdm", "hd")
both("PFCOUNT", "nokey", "hd", "nokey2", "hdm")
both("PFMERGE", "hall", "hs", "hm", "hd")
both("GET", "hall")
both("PFCOUNT", "hs", "hm", "hd", "nokey")
both("PFMERGE", "hsm", "hs", "hm")
both("GET", "hsm")

section("the cached count")
for conn in (c, rc):
    conn.call("DEL", "hc")
    conn.call("PFADD", "hc", "a", "b", "c")
    conn.call("EXPIRE", "hc", "1000")
v = both("GET", "hc")[1]
check(v[15] & 0x80 != 0, "PFADD leaves the cached count invalid", v[8:16].hex())
both("PFCOUNT", "hc")
v = both("GET", "hc")[1]
check(v[8:16] == bytes([3, 0, 0, 0, 0, 0, 0, 0]), "PFCOUNT caches 3 in the header", v[8:16].hex())
r = c.call("TTL", "hc")
check(r[0] == ":" and r[1] > 900, "PFCOUNT's rewrite keeps the TTL", r)

section("invalid HyperLogLog values")
sparse_short = b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80" + b"\x7f\xfe"  # 16383 registers
dense_short = b"HYLL\x00\x00\x00\x00" + b"\x00" * 8 + b"\x00" * 100
for conn in (c, rc):
    conn.call("SET", "s", "not an hll")
    conn.call("SET", "ss", sparse_short)
    conn.call("SET", "ds", dense_short)
    conn.call("SET", "enc", b"HYLL\x02" + b"\x00" * 11)
for args in (("PFADD", "s", "x"), ("PFCOUNT", "s"), ("PFCOUNT", "hc", "s"), ("PFMERGE", "s", "hc"),
             ("PFMERGE", "hc", "s"), ("PFADD", "ds", "x"), ("PFCOUNT", "enc"),
             ("PFADD", "hll-new", "x"), ("GET", "hll-new")):
    r = both(*args)
for args in (("PFCOUNT", "ss"), ("PFCOUNT", "ss", "hc"), ("PFMERGE", "hx", "ss")):
    r = both(*args)
    check(r == BAD_HLL, "%s: INVALIDOBJ" % " ".join(args), r)
check(c.call("PFCOUNT", "s") == NOT_HLL, "a plain string is not an HLL (WRONGTYPE)")
# elements hashing to register 16383 find no opcode: Redis fails after changing the value in
# place for the elements before it; logstord writes the same partial value
both("PFADD", "ss", *["p%d" % i for i in range(3000)])
both("GET", "ss")
check(c.call("PING") == ("+", "PONG"), "the server is up")

r = c.call("PFSELFTEST")
check(r == ("+", "OK"), "PFSELFTEST passes", r)

section("atomic under concurrent clients")


def worker(i):
    w = Resp(srv.port)
    w.send(b"".join(itlib.encode("BITFIELD", "ctr", "INCRBY", "u32", "#0", "1") +
                    itlib.encode("SETBIT", "bits", str(i * 200 + j), "1") +
                    itlib.encode("PFADD", "hp", "w%d:%d" % (i, j)) for j in range(200)))
    errs = sum(1 for _ in range(600) if w.read()[0] == "-")
    w.close()
    return errs


c.call("DEL", "ctr", "bits", "hp")
errs = sum(itlib.run_threads(worker, 8))
check(errs == 0, "no command failed", errs)
r = c.call("BITFIELD", "ctr", "GET", "u32", "0")
check(r == ("*", [(":", 1600)]), "8 x 200 BITFIELD INCRBY: no increment lost", r)
check(c.call("BITCOUNT", "bits") == (":", 1600), "8 x 200 SETBIT of distinct bits: all set")
rc.call("DEL", "hp")
for i in range(8):
    rc.call("PFADD", "hp", *["w%d:%d" % (i, j) for j in range(200)])
check(c.call("PFCOUNT", "hp") == rc.call("PFCOUNT", "hp"),
      "8 x 200 concurrent PFADDs count as redis-server's sequential ones", c.call("PFCOUNT", "hp"))
itlib.finish()
