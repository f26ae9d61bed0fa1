"""diffcmds.py - the command model of the differential test (diff_redis.py): which Redis
commands are drawn and how, which keys a command names, how its replies compare, the
avoid rules of the known failing scenarios, and the race templates.

Everything here is drawn from a random.Random seeded by the test, and nothing depends on
replies or timing, so a seed gives the same commands again. Arguments are bytes; argv[0]
is the command name as sent (its case is drawn too), rules look at it in upper case.
"""
import collections
import time

import itlib

GLOBAL = "global"  # the footprint of a command over a whole database
FILLER_DB = 3      # the database of the filler SETs, which random commands never select
MAX_BATCH = 12     # commands pipelined in one batch at most

# ---------------------------------------------------------------------------------------
# What commands name
# ---------------------------------------------------------------------------------------

# Redis's key positions: name -> (first key, last key (-1: the last argument), step)
KEYPOS = {}
for _n in ("GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN GETRANGE SUBSTR "
           "SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT EXPIRE PEXPIRE EXPIREAT PEXPIREAT "
           "TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TYPE").split():
    KEYPOS[_n.encode()] = (1, 1, 1)
for _n in "MOVE DUMP RESTORE".split():
    KEYPOS[_n.encode()] = (1, 1, 1)
for _n in "RENAME RENAMENX COPY".split():
    KEYPOS[_n.encode()] = (1, 2, 1)
for _n in "OBJECT MEMORY".split():
    KEYPOS[_n.encode()] = (2, 2, 1)
for _n in "MGET DEL UNLINK EXISTS TOUCH".split():
    KEYPOS[_n.encode()] = (1, -1, 1)
for _n in "MSET MSETNX".split():
    KEYPOS[_n.encode()] = (1, -1, 2)
for _n in "SETBIT GETBIT BITCOUNT BITPOS BITFIELD BITFIELD_RO PFADD".split():
    KEYPOS[_n.encode()] = (1, 1, 1)
for _n in "PFCOUNT PFMERGE".split():
    KEYPOS[_n.encode()] = (1, -1, 1)
KEYPOS[b"BITOP"] = (2, -1, 1)
KEYPOS[b"LCS"] = (1, 2, 1)
KEYPOS[b"PFDEBUG"] = (2, 2, 1)
# (name, argument index) pairs that are keys
KEY_ARGS = {(n, i) for n, (f, l, s) in KEYPOS.items() for i in range(f, 40 if l < 0 else l + 1, s)}
# SCAN_FULL is the test's own: SCAN from cursor 0 to the end (see Run.scan_full)
GLOBAL_NAMES = {b"FLUSHDB", b"FLUSHALL", b"DBSIZE", b"KEYS", b"SCAN", b"RANDOMKEY", b"SCAN_FULL",
                b"SWAPDB"}

ARITY = {"GET": 2, "SET": -3, "SETNX": 3, "SETEX": 4, "PSETEX": 4, "GETSET": 3, "GETDEL": 2,
         "GETEX": -2, "MGET": -2, "MSET": -3, "MSETNX": -3, "APPEND": 3, "STRLEN": 2,
         "GETRANGE": 4, "SUBSTR": 4, "SETRANGE": 4, "INCR": 2, "DECR": 2, "INCRBY": 3,
         "DECRBY": 3, "INCRBYFLOAT": 3, "DEL": -2, "UNLINK": -2, "EXISTS": -2, "TOUCH": -2,
         "EXPIRE": -3, "PEXPIRE": -3, "EXPIREAT": -3, "PEXPIREAT": -3, "TTL": 2, "PTTL": 2,
         "EXPIRETIME": 2, "PEXPIRETIME": 2, "PERSIST": 2, "TYPE": 2, "SCAN": -2, "KEYS": 2,
         "RANDOMKEY": 1, "DBSIZE": 1, "FLUSHDB": -1, "FLUSHALL": -1, "SELECT": 2, "PING": -1,
         "ECHO": 2, "PUBLISH": 3, "SPUBLISH": 3, "PUBSUB": -2, "SETBIT": 4, "GETBIT": 3,
         "BITCOUNT": -2, "BITPOS": -3, "BITOP": -4, "BITFIELD": -2, "BITFIELD_RO": -2,
         "PFADD": -2, "PFCOUNT": -2, "PFMERGE": -2, "LCS": -3, "PFDEBUG": 3, "RENAME": 3,
         "RENAMENX": 3, "COPY": -3, "MOVE": 3, "SWAPDB": 3, "DUMP": 2, "RESTORE": -4,
         "OBJECT": -2, "MEMORY": -2, "WAIT": 3}

# logstord's read-modify-write commands (its command table's RM flag; SET with GET and
# GETEX with options are decided by logstord_rmw)
RMW_NAMES = {b"INCR", b"DECR", b"INCRBY", b"DECRBY", b"INCRBYFLOAT", b"APPEND", b"SETRANGE",
             b"GETSET", b"GETDEL", b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT", b"PERSIST",
             b"SETBIT", b"BITFIELD", b"BITOP", b"PFADD", b"PFCOUNT", b"PFMERGE", b"PFDEBUG"}
WRITE_NAMES = {b"SET", b"SETNX", b"SETEX", b"PSETEX", b"MSET", b"MSETNX", b"DEL", b"UNLINK"}


class Cmd:
    """One command: argv (bytes), how its replies compare (kind, see kind_of), and, once
    sent, the database it ran in and the (db, key) pairs it names or GLOBAL."""
    __slots__ = ("argv", "kind", "keys", "name", "db")

    def __init__(self, argv, kind=None):
        self.argv = [a if isinstance(a, bytes) else a.encode() for a in argv]
        self.name = self.argv[0].upper()
        self.kind = kind or kind_of(self.argv)
        self.keys = ()
        self.db = None


def next_db(db, argv):
    """The connection's database after argv (a SELECT of a drawn index, RESET)."""
    n = argv[0].upper()
    if n == b"SELECT" and len(argv) == 2 and argv[1] in (b"0", b"1", b"2", b"3"):
        return int(argv[1])
    if n == b"RESET" and len(argv) == 1:
        return 0
    return db


def cmd_keys(argv, db):
    """The (db, key) pairs argv names, GLOBAL, or () for a connection command."""
    name = argv[0].upper()
    if name in GLOBAL_NAMES:
        return GLOBAL
    pos = KEYPOS.get(name)
    if pos is None:
        return ()
    first, last, step = pos
    last = len(argv) - 1 if last < 0 else min(last, len(argv) - 1)
    out = tuple((db, argv[i]) for i in range(first, last + 1, step))
    other = other_db(argv)
    if other is not None and name == b"MOVE":
        out += ((other, argv[1]),)
    if other is not None and name == b"COPY":
        out = ((db, argv[1]), (other, argv[2]))
    return out


def other_db(argv):
    """The database MOVE or COPY ... DB names (one that parses: a drawn 0..3), or None."""
    name = argv[0].upper()
    if name == b"MOVE" and len(argv) > 2 and argv[2] in (b"0", b"1", b"2", b"3"):
        return int(argv[2])
    found = None
    if name == b"COPY":  # the last DB option wins, as in Redis (an error makes it moot)
        i = 3
        while i < len(argv):
            if argv[i].upper() == b"DB" and i + 1 < len(argv):
                found = int(argv[i + 1]) if argv[i + 1] in (b"0", b"1", b"2", b"3") else None
                i += 1
            i += 1
    return found


def kind_of(argv):
    """How the replies to argv compare (the normalizations of diff_redis.py's top comment)."""
    n = argv[0].upper()
    if n in (b"TTL", b"EXPIRETIME") and len(argv) == 2:
        return "ttl_s"
    if n in (b"PTTL", b"PEXPIRETIME") and len(argv) == 2:
        return "ttl_ms"
    if n == b"KEYS" and len(argv) == 2:
        return "sorted"
    if n == b"RANDOMKEY" and len(argv) == 1:
        return "randomkey"
    if n == b"DBSIZE" and len(argv) == 1:
        return "dbsize"
    if n == b"SCAN_FULL":
        return "scan_full"
    if n == b"HELLO":
        return "hello"
    if n == b"DUMP" and len(argv) == 2:
        return "dump"
    if n == b"OBJECT" and len(argv) == 3:
        return {b"ENCODING": "encoding", b"REFCOUNT": "refcount",
                b"IDLETIME": "idletime"}.get(argv[1].upper(), "exact")
    if n == b"MEMORY" and len(argv) >= 3 and argv[1].upper() == b"USAGE":
        return "memusage"
    return "exact"


def logstord_rmw(a):
    """Whether logstord runs a (upper-case name) as a read-modify-write, holding the lock of
    its one key from its read to its write."""
    if a[0] == b"SET":
        return any(w.upper() == b"GET" for w in a[3:])
    if a[0] == b"GETEX":
        return len(a) > 2
    return a[0] in RMW_NAMES


# ---------------------------------------------------------------------------------------
# Redis's own parsing, for the avoid rules
# ---------------------------------------------------------------------------------------
EXPIRE_WORDS = (b"EX", b"PX", b"EXAT", b"PXAT")
LLONG_MAX = (1 << 63) - 1


def redis_int(b):
    """Redis's string2ll: the integer b spells exactly, or None."""
    if not b or len(b) > 20 or not (b.isdigit() or (b[:1] == b"-" and b[1:].isdigit())):
        return None
    if (b[:1] == b"0" and len(b) > 1) or b[:2] == b"-0":
        return None
    v = int(b)
    return v if -LLONG_MAX - 1 <= v <= LLONG_MAX else None


def expire_ok(word, arg):
    """Whether arg is an expire time Redis accepts after word (EX, PX, EXAT, PXAT)."""
    v = redis_int(arg)
    if v is None or v <= 0 or (word in (b"EX", b"EXAT") and v > LLONG_MAX // 1000):
        return False
    ms = v * 1000 if word in (b"EX", b"EXAT") else v
    return not (word in (b"EX", b"PX") and ms > LLONG_MAX - int(time.time() * 1000) - 10 ** 7)


def redis_ext_parse(args, is_set):
    """Redis 7.0's parseExtendedStringArgumentsOrReply over SET's (is_set) or GETEX's
    option words: (no syntax error, [(expire word, argument), ...] in order)."""
    ttl = {b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"PERSIST"}
    flags, exps, i = set(), [], 0
    while i < len(args):
        w, more = args[i].upper(), i + 1 < len(args)
        if w in (b"NX", b"XX") and is_set and not flags & ({b"NX", b"XX"} - {w}):
            flags.add(w)
        elif w == b"GET" and is_set:
            flags.add(w)
        elif w in (b"KEEPTTL", b"PERSIST") and is_set == (w == b"KEEPTTL") and \
                not flags & (ttl - {w}):
            flags.add(w)
        elif w in EXPIRE_WORDS and more and not flags & (ttl - {w}):
            flags.add(w)
            exps.append((w, args[i + 1]))
            i += 1
        else:
            return False, exps
        i += 1
    return True, exps


# ---------------------------------------------------------------------------------------
# Avoid rules. While a scenario is known to fail (diff_redis.KNOWN_FAILING), the random
# scenarios do not draw what its rule matches, so that they pass on main and find what
# else diverges; when the scenario leaves KNOWN_FAILING its inputs are drawn again.
#   AVOID_CMD:   scenario -> predicate over one command (argv, name upper case)
#   AVOID_BATCH: scenario -> predicate over the pipe's commands in flight plus the batch
#                being drawn, after a SELECT of the database of the first of them
#   AVOID_KEYS:  scenario -> keys not drawn
# ---------------------------------------------------------------------------------------
FLOAT_KEYS = (b"k0", b"k1")
BEYOND_44BIT = {b"17592186045", b"17592186045416", b"35184372088832"}


def _set_option_order(a):
    """SET with a syntax error (by Redis's rules) and a bad expire value."""
    if a[0] != b"SET":
        return False
    ok, exps = redis_ext_parse(a[3:], True)
    return not ok and any(not expire_ok(w, v) for w, v in exps)


def _repeated_option(a):
    if a[0] not in (b"SET", b"GETEX"):
        return False
    words = [w.upper() for w in a[3 if a[0] == b"SET" else 2:]]
    return any(words.count(w) > 1 for w in EXPIRE_WORDS + (b"PERSIST",))


def _getex_expire_order(a):
    if a[0] != b"GETEX":
        return False
    ok, exps = redis_ext_parse(a[2:], False)
    return ok and any(not expire_ok(w, v) for w, v in exps)


def _incrbyfloat_nul(a):
    """INCRBYFLOAT only on FLOAT_KEYS, which never get a NUL byte (no SETRANGE, which pads
    with NULs, and no argument holding one)."""
    if a[0] == b"INCRBYFLOAT":
        return len(a) > 1 and a[1] not in FLOAT_KEYS or any(b"\x00" in x for x in a[2:])
    named = {x for i, x in enumerate(a) if (a[0], i) in KEY_ARGS}
    if not named & set(FLOAT_KEYS):
        return False
    return a[0] == b"SETRANGE" or any(b"\x00" in x for i, x in enumerate(a)
                                      if i and (a[0], i) not in KEY_ARGS)


AVOID_CMD = {
    "set_option_order": _set_option_order,
    "repeated_option": _repeated_option,
    "getex_expire_order": _getex_expire_order,
    "expire_option_order": lambda a: a[0] in (b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT")
    and len(a) > 3 and redis_int(a[2]) is None,
    "setrange_empty_offset": lambda a: a[0] == b"SETRANGE" and len(a) == 4 and a[3] == b"" and
    (redis_int(a[2]) or 0) > 1 << 20,
    "scan_empty_cursor": lambda a: a[0] == b"SCAN" and len(a) > 1 and a[1] == b"",
    "incrbyfloat_nul": _incrbyfloat_nul,
    "expire_44bit": lambda a: any(x in BEYOND_44BIT for x in a[2:]),
    "large_value_busy": lambda a: a[0] == b"SETRANGE" and len(a) > 2 and
    (redis_int(a[2]) or 0) > 100000,
    "del_dup_parked": lambda a: a[0] in (b"DEL", b"UNLINK") and len(set(a[1:])) < len(a) - 1,
}


def _flush_rmw(batch):
    """A FLUSHDB/FLUSHALL after a read-modify-write in flight."""
    rmw = False
    for a in batch:
        rmw = rmw or logstord_rmw(a)
        if rmw and a[0] in (b"FLUSHDB", b"FLUSHALL"):
            return True
    return False


def _pipeline_order(batch):
    """A multi-key command naming a key locked by an earlier read-modify-write waits on
    one key's queue and may be overtaken, or overtake, on its other keys; a whole-database
    command waits for nothing. So: after a multi-key command that may wait, no command
    names any of its keys; after a lock or a waiting command, no whole-database command."""
    locked, waiting, db = set(), set(), 0
    for a in batch:
        db = next_db(db, a)
        ks = cmd_keys(a, db)
        if ks == GLOBAL:
            if locked or waiting:
                return True
            continue
        ks = set(ks)
        if ks & waiting:
            return True
        if len(ks) > 1 and ks & locked:
            waiting |= ks
        if logstord_rmw(a) and len(ks) == 1:
            locked |= ks
    return False


def _parked_write_read(batch):
    """A plain write to a key locked by an earlier read-modify-write, then any command
    naming that key."""
    locked, pending, db = set(), set(), 0
    for a in batch:
        db = next_db(db, a)
        ks = cmd_keys(a, db)
        if ks == GLOBAL:
            continue
        ks = set(ks)
        if ks & pending:
            return True
        if a[0] in WRITE_NAMES and not logstord_rmw(a):
            pending |= ks & locked
        if logstord_rmw(a) and len(ks) == 1:
            locked |= ks
    return False


AVOID_BATCH = {
    "flush_rmw": _flush_rmw,
    "pipeline_order": _pipeline_order,
    "parked_write_read": _parked_write_read,
    # index 0 is the SELECT: a HELLO or RESET at index 1 has nothing in flight before it
    "hello_pipeline": lambda batch: any(a[0] in (b"HELLO", b"RESET") for a in batch[2:]),
}
AVOID_KEYS = {"empty_key_scan": [b""]}


# ---------------------------------------------------------------------------------------
# DUMP payloads (the test's own encoder and decoder, to draw RESTOREs and compare DUMPs)
# ---------------------------------------------------------------------------------------
def _crc64_table():
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x95AC9329AC4BC9B5 if c & 1 else c >> 1
        out.append(c)
    return out


CRC64_TABLE = _crc64_table()


def crc64(data):
    """Redis's crc64 (Jones polynomial, reflected, init 0)."""
    c = 0
    for b in data:
        c = CRC64_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c


def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF])
    return b"\x80" + n.to_bytes(4, "big")


def lzf_literal(v):
    """A valid LZF block for v: literal runs, and one back reference (distance 1) for each
    run of a repeated byte, so that both of LZF's forms are read."""
    out, i = bytearray(), 0
    while i < len(v):
        j = i + 1
        while j < len(v) and v[j] == v[i] and j - i < 200:
            j += 1
        if j - i >= 4:  # one literal byte, then copy it j - i - 1 times from distance 1
            out += bytes([0, v[i]])
            n = j - i - 1 - 2
            out += bytes([0xE0, n - 7, 0]) if n >= 7 else bytes([n << 5, 0])
        else:
            out += bytes([j - i - 1]) + v[i:j]
        i = j
    return bytes(out)


def payload(v, how="plain", version=10):
    """A DUMP payload of string v: plain (as Redis writes an uncompressed string: the
    integer encoding for a 32-bit integer), raw (never the integer encoding) or lzf."""
    iv = redis_int(v)
    if how == "plain" and iv is not None and len(v) <= 11 and -2 ** 31 <= iv < 2 ** 31:
        size = 1 if -128 <= iv < 128 else 2 if -32768 <= iv < 32768 else 4
        body = bytes([0xC0 | {1: 0, 2: 1, 4: 2}[size]]) + iv.to_bytes(size, "little", signed=True)
    elif how == "lzf" and v:
        block = lzf_literal(v)
        body = b"\xc3" + rdb_len(len(block)) + rdb_len(len(v)) + block
    else:
        body = rdb_len(len(v)) + v
    data = b"\x00" + body + version.to_bytes(2, "little")
    return data + crc64(data).to_bytes(8, "little")


def lzf_decode(block, n):
    out = bytearray()
    i = 0
    while i < len(block) and len(out) < n:
        c = block[i]
        i += 1
        if c < 32:
            out += block[i:i + c + 1]
            i += c + 1
            continue
        ln = c >> 5
        if ln == 7:
            ln += block[i]
            i += 1
        ref = len(out) - ((c & 0x1F) << 8 | block[i]) - 1
        i += 1
        for k in range(ln + 2):
            out.append(out[ref + k])
    return bytes(out)


def payload_value(p):
    """The string a (valid, string) DUMP payload holds, or None."""
    if len(p) < 12 or p[0] != 0:
        return None

    def length(i):
        b = p[i]
        if b >> 6 == 0 or b >> 6 == 3:
            return b & 0x3F, i + 1, b >> 6 == 3
        if b >> 6 == 1:
            return (b & 0x3F) << 8 | p[i + 1], i + 2, False
        return int.from_bytes(p[i + 1:i + 5], "big"), i + 5, False
    n, i, special = length(1)
    if not special:
        return p[i:i + n]
    if n < 3:
        size = (1, 2, 4)[n]
        return b"%d" % int.from_bytes(p[i:i + size], "little", signed=True)
    clen, i, _ = length(i)
    ulen, i, _ = length(i)
    return lzf_decode(p[i:i + clen], ulen)

# ---------------------------------------------------------------------------------------
# Drawing commands
# ---------------------------------------------------------------------------------------
KEYS = [b"k0", b"k1", b"k2", b"k3", b"k4", b"{t}a", b"{t}b", b"a b", b"", b"k*",
        "\u00e9".encode(), b"\x00k", b"k\r\n", b"L" * 200]
SMALL_VALUES = [b"", b"0", b"1", b"-1", b"7", b"10", b"-100", b"123456789",
                b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
                b"1.5", b"-0.25", b"3.0e3", b"1e400", b"inf", b"nan", b"abc", b" 1", b"1 ",
                b"01", b"+1", b"0x1A", b"hello world", b"\x00\xff\r\n", "\u00e9".encode()]
INTS = [b"0", b"1", b"-1", b"2", b"17", b"-5", b"100", b"1000", b"9223372036854775807",
        b"-9223372036854775808", b"abc", b"1.5", b"", b" 3", b"99999999999999999999", b"+2",
        b"07"]
FLOATS = [b"0", b"1", b"1.5", b"-2.25", b"1e3", b"5e-1", b"0x10", b".5", b"abc", b"inf",
          b"-inf", b"nan", b"", b"1e400", b" 1", b"3.0000000000000001", b"-0", b"1e300",
          b"-1e-300", b"0.1", b"1e17", b"12345678901234567890"]
# Expiry arguments. Relative ones are 1000 s or more (nothing expires by itself during a
# scenario: the expiry scenario covers that), or zero, negative, not numbers or
# overflowing (errors or immediate deletes); seconds and milliseconds never name the same
# duration. BEYOND_44BIT ones are the expire_44bit scenario's.
REL_S = [b"1000", b"5000", b"100000", b"0", b"-1", b"-1000", b"abc", b"", b"1.5",
         b"9223372036854775807", b"9223372036854775"]
REL_MS = [b"1000123", b"100000456", b"0", b"-1", b"abc", b"9223372036854775807",
          b"9223372036854775000"]
ABS_S = [b"1", b"1000000000", b"4102444800", b"4102444801", b"0", b"-5", b"abc", b"17592186045"]
ABS_MS = [b"1", b"1000000000000", b"4102444800000", b"4102444800123", b"0", b"-5", b"abc",
          b"17592186045416", b"35184372088832"]
EXPIRE_ARGS = {b"EX": REL_S, b"PX": REL_MS, b"EXAT": ABS_S, b"PXAT": ABS_MS}
# HyperLogLog keys: the PF commands name them most of the time, so that they grow past the
# sparse encoding; GETs of them compare Redis's bytes. Elements come from a pool large
# enough to promote a key to dense within a run.
HLL_KEYS = [b"hll0", b"hll1", b"hll2"]
# Bit offsets: small ones, and the error forms (past proto-max-bulk-len for both servers;
# offsets between max_value_size and 512 MB are a documented difference, never drawn).
BIT_OFFSETS = [b"-1", b"abc", b"", b"4294967296", b"9223372036854775807", b"1.5", b"+1"]
BF_TYPES = [b"i1", b"u1", b"i5", b"u8", b"i8", b"u16", b"i31", b"u32", b"i63", b"u63", b"i64",
            b"u64", b"i65", b"i0", b"x8", b"", b"I8", b"u"]
PATTERN_PARTS = [b"*", b"?", b"k", b"k*", b"[k]", b"[a-z]", b"[^k]", b"[!k]", b"\\k", b"*b",
                 b"{t}", b"[", b"]", b"[]", b"a b", b"\\", b"-", b"[k-a]", b"[\\]]", b"0",
                 "\u00e9".encode(), b"\x00", b"\r\n"]


class Gen:
    """Draws commands from rng. big: 16-100 KiB values part of the time. known: the names
    of the known failing scenarios, whose avoid rules apply."""

    def __init__(self, rng, big, known=()):
        self.rng = rng
        self.big = big
        self.known = set(known)
        self.avoid_cmd = [(n, AVOID_CMD[n]) for n in sorted(self.known) if n in AVOID_CMD]
        self.avoid_batch = [(n, AVOID_BATCH[n]) for n in sorted(self.known) if n in AVOID_BATCH]
        self.keys = [k for k in KEYS if not any(k in AVOID_KEYS.get(n, ()) for n in self.known)]
        self.avoided = collections.Counter()  # draws refused, by avoid rule
        self.nval = 0
        self.table = [
            (10, self.g_get), (14, self.g_set), (3, self.g_setnx), (2, self.g_setex),
            (3, self.g_getset), (3, self.g_getdel), (5, self.g_getex), (4, self.g_mget),
            (4, self.g_mset), (3, self.g_msetnx), (4, self.g_append), (2, self.g_strlen),
            (3, self.g_getrange), (3, self.g_setrange), (8, self.g_incr), (3, self.g_incrbyfloat),
            (5, self.g_del), (3, self.g_exists), (7, self.g_expire), (4, self.g_ttl),
            (2, self.g_persist), (2, self.g_type), (1, self.g_select), (1, self.g_conn),
            (1, self.g_unknown), (1, self.g_scan_err), (1, self.g_pubsub),
            (3, self.g_setbit), (3, self.g_bitcount), (3, self.g_bitop), (4, self.g_bitfield),
            (5, self.g_pfadd), (3, self.g_pfcount), (2, self.g_pfmerge), (3, self.g_hll_get),
            (0 if big else 2, self.g_lcs),
            (3, self.g_rename), (3, self.g_copy),
            (2, self.g_move), (2, self.g_dump), (3, self.g_restore), (2, self.g_object),
            (1, self.g_memory), (1, self.g_wait),
        ]
        self.total = sum(w for w, _ in self.table)

    # ---- small draws ----
    def pick(self, seq):
        return self.rng.choice(seq)

    def key(self):
        return self.pick(self.keys)

    def case(self, word):
        """word, sometimes in mixed case (commands and options are case-insensitive)."""
        if self.rng.random() < 0.1:
            return bytes(c ^ 0x20 if chr(c).isalpha() and self.rng.random() < 0.5 else c
                         for c in word)
        return word

    def big_value(self, lo_kib=16, hi_kib=100, *tag):
        """A value of lo..hi KiB that starts with a number of its own (so a wrong one shows)."""
        self.nval += 1
        return itlib.tagged_value(self.rng.randint(lo_kib * 1024, hi_kib * 1024), self.nval, *tag)

    def value(self):
        r = self.rng.random()
        if self.big and r < 0.3:
            return self.big_value()
        if r < 0.75:
            return self.pick(SMALL_VALUES)
        return bytes(self.rng.choice(b"ab01 \r\n\x00\xff-.") for _ in range(self.rng.randint(1, 300)))

    def small_value(self):
        return self.pick(SMALL_VALUES) if self.rng.random() < 0.7 else b"x" * self.rng.randint(1, 64)

    def int_arg(self):
        return self.pick(INTS) if self.rng.random() < 0.4 else b"%d" % self.rng.randint(-50, 50)

    def pattern(self):
        return b"".join(self.pick(PATTERN_PARTS) for _ in range(self.rng.randint(1, 3)))

    def options(self, words, counts):
        """Option words drawn from words (an expire word with its argument)."""
        out = []
        for _ in range(self.pick(counts)):
            w = self.pick(words)
            out.append(self.case(w))
            if w in EXPIRE_ARGS:
                out.append(self.pick(EXPIRE_ARGS[w]))
        return out

    # ---- commands ----
    def g_get(self):
        return [b"GET", self.key()]

    def g_set(self):
        out = [b"SET", self.key(), self.value()] + self.options(
            [b"NX", b"XX", b"GET", b"GET", b"KEEPTTL", b"EX", b"PX", b"EXAT", b"PXAT", b"BOGUS"],
            [0, 0, 1, 1, 1, 2, 2, 3])
        if self.rng.random() < 0.05:
            out.append(self.pick(EXPIRE_WORDS))  # with no argument
        return out

    def g_setnx(self):
        return [b"SETNX", self.key(), self.value()]

    def g_setex(self):
        if self.rng.random() < 0.5:
            return [b"SETEX", self.key(), self.pick(REL_S), self.value()]
        return [b"PSETEX", self.key(), self.pick(REL_MS), self.value()]

    def g_getset(self):
        return [b"GETSET", self.key(), self.value()]

    def g_getdel(self):
        return [b"GETDEL", self.key()]

    def g_getex(self):
        return [b"GETEX", self.key()] + self.options(
            [b"PERSIST", b"EX", b"PX", b"EXAT", b"PXAT", b"BOGUS", b"KEEPTTL"], [0, 1, 1, 1, 2])

    def g_mget(self):
        return [b"MGET"] + [self.key() for _ in range(self.rng.randint(1, 5))]

    def g_mset(self):
        return [self.pick([b"MSET", b"MSET", b"MSETNX"])] + \
            [x for _ in range(self.rng.randint(1, 3)) for x in (self.key(), self.value())]

    def g_msetnx(self):
        return [b"MSETNX"] + [x for _ in range(self.rng.randint(1, 3))
                              for x in (self.key(), self.value())]

    def g_append(self):
        return [b"APPEND", self.key(), self.small_value()]

    def g_strlen(self):
        return [b"STRLEN", self.key()]

    def g_getrange(self):
        def idx():
            return self.pick(INTS) if self.rng.random() < 0.2 else b"%d" % self.rng.randint(-20, 20)
        return [self.pick([b"GETRANGE", b"SUBSTR"]), self.key(), idx(), idx()]

    def g_setrange(self):
        off = (self.pick([b"-1", b"abc", b"", b"500000", b"9223372036854775807"])
               if self.rng.random() < 0.15 else b"%d" % self.rng.randint(0, 40))
        val = b"" if self.rng.random() < 0.1 else self.small_value()
        return [b"SETRANGE", self.key(), off, b"z" if off == b"500000" and not val else val]

    def g_incr(self):
        if self.rng.random() < 0.4:
            return [self.pick([b"INCR", b"DECR"]), self.key()]
        return [self.pick([b"INCRBY", b"DECRBY"]), self.key(), self.int_arg()]

    def g_incrbyfloat(self):
        arg = (self.pick(FLOATS) if self.rng.random() < 0.5 else
               b"%.3f" % (self.rng.randint(-5000, 5000) / 100.0))
        return [b"INCRBYFLOAT", self.key(), arg]

    def g_del(self):
        return [self.pick([b"DEL", b"UNLINK"])] + [self.key() for _ in range(self.rng.randint(1, 4))]

    def g_exists(self):
        return [self.pick([b"EXISTS", b"TOUCH"])] + [self.key() for _ in range(self.rng.randint(1, 4))]

    def g_expire(self):
        name = self.pick([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
        arg = {b"EXPIRE": REL_S, b"PEXPIRE": REL_MS, b"EXPIREAT": ABS_S, b"PEXPIREAT": ABS_MS}[name]
        # GT and LT only with absolute times: a relative time equal to the one a key got a
        # moment before ties or not depending on whether the clock ticked in between
        opts = [b"NX", b"XX", b"GT", b"LT", b"BOGUS"] if name.endswith(b"AT") else \
            [b"NX", b"XX", b"BOGUS"]
        return [name, self.key(), self.pick(arg)] + self.options(opts, [0, 0, 1, 1, 2])

    def g_ttl(self):
        return [self.pick([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"]), self.key()]

    def g_persist(self):
        return [b"PERSIST", self.key()]

    def g_type(self):
        return [b"TYPE", self.key()]

    def g_select(self):
        if self.rng.random() < 0.7:
            return [b"SELECT", b"%d" % self.pick([0, 0, 1, 2])]
        return [b"SELECT", self.pick([b"16", b"-1", b"abc", b"1.5", b"", b"99999999999999999999",
                                      b"00", b"+1"])]

    def g_conn(self):
        r = self.rng.random()
        if r < 0.3:
            return [b"PING"] + ([self.value()] if self.rng.random() < 0.5 else [])
        if r < 0.5:
            return [b"ECHO", self.value()]
        if r < 0.7:
            return [b"CLIENT", b"SETNAME", self.pick([b"c1", b"a b", b"", b"x"])]
        if r < 0.75:
            return [b"CLIENT", b"GETNAME"]
        if r < 0.82:
            return [b"HELLO"] + self.pick([[b"2"], [b"3"], [b"4"], [b"abc"], [b"3", b"SETNAME", b"h"],
                                           [b"2", b"AUTH", b"default", b"pw"], [b"3", b"BOGUS"]])
        if r < 0.85:
            return [b"RESET"]
        return [b"AUTH"] + [self.pick([b"pw", b"default", b""]) for _ in range(self.rng.randint(1, 2))]

    def g_unknown(self):
        return [self.pick([b"NOSUCHCMD", b"GETT", b"SETX"])] + \
            [self.key() for _ in range(self.rng.randint(0, 3))]

    def g_pubsub(self):
        """PUBLISH and PUBSUB introspection (nobody subscribes here: 0 receivers, no
        channels) and their errors; never SUBSCRIBE (it would change the connection's mode)."""
        ch = self.pick([b"ch", b"k0", b"__keyspace@0__:k0", b"", b"a b"])
        return self.pick([
            [b"PUBLISH", ch, self.small_value()], [b"SPUBLISH", ch, self.small_value()],
            [b"PUBSUB", b"NUMSUB", ch, b"x"], [b"PUBSUB", b"NUMSUB"], [b"PUBSUB", b"NUMPAT"],
            [b"PUBSUB", b"CHANNELS"], [b"PUBSUB", b"CHANNELS", self.pattern()],
            [b"PUBSUB", b"SHARDCHANNELS"], [b"PUBSUB", b"SHARDNUMSUB", ch],
            [b"PUBSUB", b"NUMPAT", b"x"], [b"PUBSUB", b"CHANNELS", b"a", b"b"],
            [b"PUBSUB", self.pick([b"nosuch", b"numsubx", b""])], [b"PUBSUB", b"help"],
        ])

    def g_scan_err(self):
        """SCAN in its error forms (a single SCAN's keys and cursor are not comparable)."""
        return self.pick([
            [b"SCAN", b"abc"], [b"SCAN", b"0", b"COUNT", b"0"], [b"SCAN", b"0", b"COUNT", b"abc"],
            [b"SCAN", b"0", b"MATCH"], [b"SCAN", b"0", b"FOO", b"bar"], [b"SCAN", b"", b"COUNT", b"0"],
            [b"SCAN", b"0", b"COUNT", b"-1"], [b"SCAN", b"0x1"], [b"SCAN", b" 0"],
        ])

    # ---- bitmaps, HyperLogLog, LCS ----
    def bit_offset(self, hi=2000):
        return self.pick(BIT_OFFSETS) if self.rng.random() < 0.05 else \
            b"%d" % self.rng.randint(0, hi)

    def g_setbit(self):
        if self.rng.random() < 0.5:
            return [b"GETBIT", self.key(), self.bit_offset()]
        bit = self.pick([b"0", b"1", b"1"]) if self.rng.random() < 0.95 else \
            self.pick([b"2", b"-1", b"x", b""])
        return [b"SETBIT", self.key(), self.bit_offset(), bit]

    def range_args(self):
        """[start [end [BYTE|BIT]]] as BITCOUNT and BITPOS take them (wrong forms too)."""
        def idx():
            return self.pick(INTS) if self.rng.random() < 0.1 else b"%d" % self.rng.randint(-90, 90)
        out = [idx() for _ in range(self.pick([0, 1, 2, 2, 2]))]
        if len(out) == 2 and self.rng.random() < 0.5:
            out.append(self.case(self.pick([b"BIT", b"BYTE", b"BIT", b"bogus"])))
        if self.rng.random() < 0.03:
            out.append(b"extra")
        return out

    def g_bitcount(self):
        if self.rng.random() < 0.5:
            return [b"BITCOUNT", self.key()] + self.range_args()
        bit = self.pick([b"0", b"1"]) if self.rng.random() < 0.95 else self.pick([b"2", b"x"])
        return [b"BITPOS", self.key(), bit] + self.range_args()

    def g_bitop(self):
        op = self.pick([b"AND", b"OR", b"XOR", b"NOT", b"NOT", b"and", b"bogus"])
        n = 1 if op.upper() == b"NOT" and self.rng.random() < 0.9 else self.rng.randint(1, 4)
        return [b"BITOP", op, self.key()] + [self.key() for _ in range(n)]

    def bf_op(self):
        sub = self.pick([b"GET", b"GET", b"SET", b"INCRBY", b"INCRBY", b"OVERFLOW"]) \
            if self.rng.random() < 0.97 else b"BOGUS"
        if sub == b"OVERFLOW":
            return [self.case(sub), self.case(self.pick([b"WRAP", b"SAT", b"FAIL"]) if
                                              self.rng.random() < 0.95 else b"bad")]
        t = self.pick(BF_TYPES[:11]) if self.rng.random() < 0.95 else self.pick(BF_TYPES)
        off = self.bit_offset(300) if self.rng.random() < 0.8 else b"#%d" % self.rng.randint(0, 20)
        out = [self.case(sub), t, off]
        if sub in (b"SET", b"INCRBY"):
            out.append(self.int_arg() if self.rng.random() < 0.3 else
                       b"%d" % self.rng.randint(-(1 << 40), 1 << 40))
        return out

    def g_bitfield(self):
        name = b"BITFIELD" if self.rng.random() < 0.8 else b"BITFIELD_RO"
        return [name, self.key()] + [x for _ in range(self.rng.randint(0, 4)) for x in self.bf_op()]

    def hll_key(self):
        return self.pick(HLL_KEYS) if self.rng.random() < 0.8 else self.key()

    def g_pfadd(self):
        n = self.pick([0, 1, 1, 3, 10, 50, 200, 3000])
        top = self.pick([30, 3000, 100000]) if n < 3000 else 10 ** 6  # 3000 distinct: dense
        return [b"PFADD", self.hll_key()] + [b"e%d" % self.rng.randint(0, top) for _ in range(n)]

    def g_pfcount(self):
        return [b"PFCOUNT"] + [self.hll_key() for _ in range(self.pick([1, 1, 1, 2, 3]))]

    def g_pfmerge(self):
        return [b"PFMERGE"] + [self.hll_key() for _ in range(self.rng.randint(1, 4))]

    def g_hll_get(self):
        """The bytes of an HLL key (Redis's encoding compared byte for byte)."""
        k = self.pick(HLL_KEYS)
        if self.rng.random() < 0.2:
            return [b"PFDEBUG", self.case(self.pick([b"ENCODING", b"DECODE", b"GETREG", b"TODENSE",
                                                     b"BOGUS"])), self.hll_key()]
        return self.pick([[b"GET", k], [b"GET", k], [b"STRLEN", k], [b"GETRANGE", k, b"0", b"15"]])

    def g_lcs(self):
        opts = self.options([b"LEN", b"IDX", b"WITHMATCHLEN", b"MINMATCHLEN", b"BOGUS"],
                            [0, 0, 1, 1, 2, 3])
        out = []
        for w in opts:
            out.append(w)
            if w.upper() == b"MINMATCHLEN" and self.rng.random() < 0.95:
                out.append(self.pick([b"0", b"1", b"2", b"4", b"-1", b"x"]))
        return [b"LCS", self.key(), self.key()] + out
    # ---- keyspace: RENAME, COPY, MOVE, DUMP/RESTORE, OBJECT, MEMORY, WAIT ----
    def db_arg(self):
        """A database argument: mostly 0-2 (never FILLER_DB), else an error form."""
        if self.rng.random() < 0.85:
            return b"%d" % self.rng.randrange(3)
        return self.pick([b"16", b"-1", b"abc", b"", b"1.5", b"99999999999", b"01"])

    def g_rename(self):
        k = self.key()
        return [self.pick([b"RENAME", b"RENAMENX"]), k, k if self.rng.random() < 0.1 else self.key()]

    def g_copy(self):
        out = [b"COPY", self.key(), self.key()]
        for _ in range(self.pick([0, 1, 1, 2, 2, 3])):
            r = self.rng.random()
            if r < 0.45:
                out += [self.case(b"DB"), self.db_arg()]
            elif r < 0.85:
                out.append(self.case(b"REPLACE"))
            else:
                out.append(self.pick([b"DB", b"BOGUS"]))
        return out

    def g_move(self):
        return [b"MOVE", self.key(), self.db_arg()]

    def g_dump(self):
        return [b"DUMP", self.key()]

    def restore_payload(self):
        v = self.small_value()
        r = self.rng.random()
        if r < 0.7:
            return payload(v, self.pick(["plain", "raw", "lzf"]))
        p = bytearray(payload(v))
        if r < 0.8:
            p[self.rng.randrange(len(p))] ^= 1 << self.rng.randrange(8)  # a flipped bit
            return bytes(p)
        if r < 0.87:
            return payload(v, version=self.pick([9, 11, 256]))
        if r < 0.95:
            return bytes(p[:self.rng.randrange(len(p))])
        return self.pick([b"", b"x", b"\x00" * 10])

    def g_restore(self):
        ttl = self.pick([b"0", b"0", b"0", b"1000000", b"100000000", b"-1", b"abc", b""])
        out = [b"RESTORE", self.key(), ttl, self.restore_payload()]
        for _ in range(self.pick([0, 0, 1, 1, 2, 3])):
            w = self.pick([b"REPLACE", b"REPLACE", b"ABSTTL", b"IDLETIME", b"FREQ", b"BOGUS"])
            out.append(self.case(w))
            if w == b"IDLETIME":
                out.append(self.pick([b"0", b"100", b"-1", b"abc"]))
            elif w == b"FREQ":
                out.append(self.pick([b"0", b"255", b"256", b"-1", b"abc"]))
        if b"ABSTTL" in [x.upper() for x in out[4:]] and ttl not in (b"0", b"-1", b"abc", b""):
            out[2] = self.pick([b"1", b"1000000000000", b"4102444800000"])  # past, past, future
        return out

    def g_object(self):
        r = self.rng.random()
        if r < 0.85:
            sub = self.pick([b"ENCODING", b"ENCODING", b"REFCOUNT", b"IDLETIME", b"FREQ"])
            return [b"OBJECT", self.case(sub), self.key()]
        return self.pick([[b"OBJECT", b"HELP"], [b"OBJECT", b"BOGUS", b"k0"], [b"OBJECT", b"ENCODING"],
                          [b"OBJECT", b"ENCODING", b"k0", b"k1"], [b"OBJECT", b"HELP", b"x"]])

    def g_memory(self):
        out = [b"MEMORY", self.case(b"USAGE"), self.key()]
        if self.rng.random() < 0.3:
            out += self.pick([[b"SAMPLES", b"5"], [b"SAMPLES", b"0"], [b"SAMPLES", b"-1"],
                              [b"SAMPLES", b"abc"], [b"SAMPLES"], [b"BOGUS", b"1"]])
        return out

    def g_wait(self):
        # never a count above 0 with timeout 0: Redis would wait for replicas forever
        return [b"WAIT"] + self.pick([[b"0", b"0"], [b"0", b"100"], [b"1", b"1"], [b"abc", b"0"],
                                      [b"0", b"-1"], [b"0", b"abc"], [b"-1", b"0"]])

    def wrong_arity(self, argv):
        """argv cut or padded to an argument count its command refuses (or argv)."""
        arity = ARITY.get(argv[0].decode().upper())
        if arity is None or arity == -1:
            return argv
        if arity > 0:
            n = self.pick([x for x in range(1, arity + 3) if x != arity])
        else:
            n = self.rng.randint(1, -arity - 1)
        return (argv + [b"x"] * n)[:n]

    # ---- commands, batches, whole-database commands ----
    def command(self):
        """argv of one command that names keys or none (not a whole database)."""
        for _ in range(50):
            x = self.rng.randrange(self.total)
            for w, fn in self.table:
                x -= w
                if x < 0:
                    argv = fn()
                    break
            if self.rng.random() < 0.03:
                argv = self.wrong_arity(argv)
            argv[0] = self.case(argv[0])
            hit = next((n for n, f in self.avoid_cmd if f([argv[0].upper()] + argv[1:])), None)
            if hit is None:
                return argv
            self.avoided[hit] += 1
        return [b"PING"]

    def batch(self, before):
        """1..MAX_BATCH commands to pipeline, now and then with a FLUSH or KEYS among them.
        before: the pipe's commands still in flight after a SELECT of their database; a
        command that would make before + batch match an avoid rule is drawn again."""
        before = [[x[0].upper()] + x[1:] for x in before]
        out = []
        n = self.rng.randint(1, MAX_BATCH)
        flush_at = self.rng.randrange(n) if self.rng.random() < 0.05 else -1
        for i in range(n):
            for _ in range(10):
                if i == flush_at:
                    a = self.pick([[b"FLUSHDB"], [b"FLUSHALL"], [b"FLUSHDB", b"ASYNC"],
                                   [b"KEYS", self.pattern()]])
                else:
                    a = self.command()
                up = before + [[x[0].upper()] + x[1:] for x in out + [a]]
                hit = next((name for name, f in self.avoid_batch if f(up)), None)
                if hit is None:
                    out.append(a)
                    break
                self.avoided[hit] += 1
        return out or [[b"PING"]]

    def global_cmd(self):
        """argv of one command over the whole database (run as a step of its own)."""
        r = self.rng.random()
        if r < 0.25:
            return [b"DBSIZE"]
        if r < 0.4:
            return [b"RANDOMKEY"]
        if r < 0.6:
            return [b"KEYS", self.pattern() if self.rng.random() < 0.8 else b"*"]
        if r < 0.8:
            out = [b"SCAN_FULL"]
            if self.rng.random() < 0.5:
                out += [b"MATCH", self.pattern()]
            if self.rng.random() < 0.5:
                out += [b"COUNT", b"%d" % self.rng.randint(1, 20)]
            if self.rng.random() < 0.2:
                out += [b"TYPE", self.pick([b"string", b"STRING", b"list", b"bogus"])]
            return out
        if r < 0.86:
            return [b"FLUSHDB"] + ([self.pick([b"SYNC", b"ASYNC", b"async", b"BOGUS"])]
                                   if self.rng.random() < 0.3 else [])
        if r < 0.93:
            return [b"FLUSHALL"] + ([self.pick([b"SYNC", b"ASYNC", b"x y"])]
                                    if self.rng.random() < 0.3 else [])
        # SWAPDB of the random commands' databases (never FILLER_DB), or an error form
        return [b"SWAPDB", self.db_arg(), self.db_arg()]

    def filler(self, idx):
        """Plain SETs of 30-100 KiB values on pipe idx's own keys in FILLER_DB."""
        return [[b"SET", b"fill:%d:%d" % (idx, self.rng.randrange(6)), self.big_value(30, 100)]
                for _ in range(self.rng.randint(4, 12))]


# ---------------------------------------------------------------------------------------
# Race templates: each returns {name, db, keys, prelude, seqs}: the prelude runs first on
# one pipe, then seqs[j] is pipelined on pipe j, all at once (see Run.race_step).
# ---------------------------------------------------------------------------------------


def race_value(gen, tag):
    if gen.big and gen.rng.random() < 0.7:
        return gen.big_value(20, 90, tag)
    gen.nval += 1
    return b"v%d:%d" % (tag, gen.nval)


def per_key_seqs(gen, keys, nr, ops, per_key=(1, 1)):
    """For each of nr pipes: per key, per_key ops drawn by ops(key, pipe), shuffled."""
    seqs = []
    for r in range(nr):
        s = [ops(k, r) for k in keys for _ in range(gen.rng.randint(*per_key))]
        gen.rng.shuffle(s)
        seqs.append(s)
    return seqs


def t_nx(gen):
    """SET NX / SETNX / MSETNX / SET NX GET on the same fresh keys: one winner each."""
    rng = gen.rng
    keys = [b"nx:%d" % i for i in range(rng.randint(6, 16))]

    def op(k, r):
        v = race_value(gen, r)
        return rng.choice([[b"SET", k, v, b"NX"], [b"SETNX", k, v], [b"SET", k, v, b"NX", b"GET"],
                           [b"SET", k, v, b"NX", b"PX", b"100000000"], [b"MSETNX", k, v],
                           [b"SET", k, v, b"NX", b"EXAT", b"4102444800"]])
    seqs = per_key_seqs(gen, keys, rng.choice([2, 2, 3]), op)
    for s in seqs:  # an MSETNX over two keys, now and then
        if rng.random() < 0.5:
            a, b = rng.sample(keys, 2)
            s.insert(rng.randint(0, len(s)), [b"MSETNX", a, race_value(gen, 7), b, race_value(gen, 7)])
    return {"name": "nx", "db": rng.choice([0, 1]), "keys": keys, "prelude": [[b"DEL"] + keys],
            "seqs": seqs}


def t_xx_del(gen):
    """SET XX / NX / GETSET against DEL / GETDEL / UNLINK / EXPIRE -1 on the same keys."""
    rng = gen.rng
    keys = [b"xd:%d" % i for i in range(rng.randint(4, 10))]
    prelude = [[b"DEL"] + keys] + [[b"SET", k, race_value(gen, 9)] for k in keys
                                   if rng.random() < 0.8]

    def op(k, r):
        v = race_value(gen, r)
        return rng.choice([[b"SET", k, v, b"XX"], [b"SET", k, v, b"XX", b"GET"], [b"DEL", k],
                           [b"GETDEL", k], [b"UNLINK", k], [b"SET", k, v, b"NX"], [b"SETNX", k, v],
                           [b"EXPIRE", k, b"-1"], [b"EXISTS", k], [b"SET", k, v, b"XX", b"KEEPTTL"],
                           [b"GETSET", k, v]])
    return {"name": "xx_del", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": per_key_seqs(gen, keys, rng.choice([2, 2, 3]), op, (1, 2))}


def t_rmw(gen):
    """INCR / APPEND / SETRANGE / GETSET / GETDEL / SET GET / EXPIRE ... on the same keys."""
    rng = gen.rng
    keys = [b"rmw:%d" % i for i in range(rng.randint(3, 8))]
    prelude = [[b"DEL"] + keys] + [[b"SET", k, rng.choice([b"10", b"-3", b"abc", b"1.5"])]
                                   for k in keys if rng.random() < 0.8]
    # SETRANGE pads with NULs, which INCRBYFLOAT misreads while incrbyfloat_nul is known
    fl = [b"INCRBY", b"2"] if "incrbyfloat_nul" in gen.known else [b"INCRBYFLOAT", b"1.5"]

    def op(k, r):
        return rng.choice([[b"INCR", k], [b"INCRBY", k, b"%d" % rng.randint(-9, 9)], [b"DECR", k],
                           [b"APPEND", k, b"a%d" % r], [b"SETRANGE", k, b"%d" % rng.randint(0, 4), b"z%d" % r],
                           [fl[0], k, fl[1]], [b"GETSET", k, b"%d" % r], [b"GETDEL", k],
                           [b"SET", k, b"%d" % (r + 5), b"GET"], [b"EXPIRE", k, b"100000"],
                           [b"PERSIST", k], [b"GETEX", k, b"PX", b"100000000"], [b"STRLEN", k],
                           [b"GET", k]])
    return {"name": "rmw", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": per_key_seqs(gen, keys, rng.choice([2, 2, 3]), op, (1, 2))}


def t_flush(gen):
    """FLUSHDB or FLUSHALL among read-modify-writes of another pipe."""
    rng = gen.rng
    keys = [b"fl:a", b"fl:b"]
    prelude = [[b"DEL"] + keys, [b"SET", b"fl:a", b"5"], [b"SET", b"fl:b", b"x"]]
    ops = [[b"INCR", b"fl:a"], [b"INCRBY", b"fl:a", b"3"], [b"APPEND", b"fl:b", b"y"],
           [b"GET", b"fl:a"], [b"SETNX", b"fl:b", b"n"], [b"INCRBYFLOAT", b"fl:a", b"0.5"],
           [b"SET", b"fl:a", b"7", b"XX"], [b"GETSET", b"fl:b", b"g"], [b"EXISTS", b"fl:a"]]
    a = [rng.choice(ops) for _ in range(rng.randint(2, 4))]
    b = [rng.choice(ops) for _ in range(rng.randint(1, 3))]
    b.insert(rng.randint(0, len(b)), [rng.choice([b"FLUSHDB", b"FLUSHDB", b"FLUSHALL"])])
    return {"name": "flush", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": [a, b]}


def t_bits(gen):
    """SETBIT / BITFIELD INCRBY / BITOP / PFADD / PFMERGE on the same keys: each atomic."""
    rng = gen.rng
    bkeys = [b"bit:%d" % i for i in range(rng.randint(2, 3))]
    hkeys = [b"pf:%d" % i for i in range(rng.randint(1, 2))]
    prelude = [[b"DEL"] + bkeys + hkeys] + [[b"SET", k, b"\x0f\xf0"] for k in bkeys
                                            if rng.random() < 0.5]

    def op(k, r):
        if k in hkeys:
            return rng.choice([[b"PFADD", k] + [b"r%d:%d" % (r, rng.randint(0, 40))
                                                for _ in range(rng.randint(1, 30))],
                               [b"PFCOUNT", k], [b"PFMERGE", k, rng.choice(hkeys)],
                               [b"GET", k]])
        off = b"%d" % rng.randint(0, 24)
        return rng.choice([[b"SETBIT", k, off, rng.choice([b"0", b"1"])], [b"GETBIT", k, off],
                           [b"BITFIELD", k, b"INCRBY", b"u8", b"#%d" % rng.randint(0, 2), b"7"],
                           [b"BITFIELD", k, b"OVERFLOW", b"FAIL", b"INCRBY", b"i4", b"0", b"3"],
                           [b"BITOP", rng.choice([b"OR", b"XOR", b"AND"]), k, rng.choice(bkeys)],
                           [b"BITCOUNT", k], [b"APPEND", k, b"\x01"]])
    return {"name": "bits", "db": rng.choice([0, 1]), "keys": bkeys + hkeys, "prelude": prelude,
            "seqs": per_key_seqs(gen, bkeys + hkeys, rng.choice([2, 2, 3]), op, (1, 2))}


def t_rename(gen):
    """RENAME / RENAMENX / COPY [REPLACE] among a few keys that other pipes read and set:
    each a read-modify-write of two keys (a value is never lost or doubled by a race)."""
    rng = gen.rng
    keys = [b"mv:%d" % i for i in range(rng.randint(3, 5))]
    prelude = [[b"DEL"] + keys] + [[b"SET", k, race_value(gen, 8)] for k in keys
                                   if rng.random() < 0.8]

    def op(r):
        a, b = rng.sample(keys, 2)
        return rng.choice([[b"RENAME", a, b], [b"RENAMENX", a, b], [b"RENAMENX", a, b],
                           [b"COPY", a, b], [b"COPY", a, b, b"REPLACE"], [b"GET", a],
                           [b"SET", a, race_value(gen, r), b"NX"], [b"SET", a, race_value(gen, r)],
                           [b"EXISTS", a, b]])
    seqs = [[op(r) for _ in range(rng.randint(2, 4))] for r in range(rng.choice([2, 2, 3]))]
    return {"name": "rename", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": seqs}


RACES = {"nx_race": t_nx, "xx_del_race": t_xx_del, "rmw_race": t_rmw, "flush_race": t_flush,
         "bits_race": t_bits, "rename_race": t_rename}

# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------


def show(reply):
    """A reply tuple (itlib.Resp's), long strings cut."""
    t, v = reply
    if isinstance(v, bytes):
        return "%s%s" % (t, repr(v) if len(v) <= 64 else "%r...(%d bytes)" % (v[:32], len(v)))
    if isinstance(v, list):
        items = [show(x) if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str)
                 else repr(x) for x in v[:12]]
        return "%s[%s%s]" % (t, ", ".join(items), ", ..." if len(v) > 12 else "")
    return "%s%r" % (t, v)


def cli_arg(a):
    """One argument in redis-cli's quoting (a long one cut)."""
    if isinstance(a, str):
        a = a.encode()
    if len(a) > 64:
        return "<%d bytes: %s...>" % (len(a), cli_arg(a[:16]))
    if a and all(33 <= c < 127 and c not in b"\"'\\" for c in a):
        return a.decode()
    out = []
    for c in a:
        if c in b"\"\\":
            out.append("\\" + chr(c))
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return '"%s"' % "".join(out)


def cli(argv):
    return " ".join(cli_arg(a) for a in argv)
