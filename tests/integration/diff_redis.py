"""diff_redis.py - differential test: seeded random command sequences from several
connections, sent to logstord and to redis-server 7.0, replies compared (run by
diff_redis.sh).

Why: the other tests check the behaviour someone thought of; this one checks every reply
of every supported Redis command against the reference, on inputs nobody chose (wrong
arity, bad numbers, syntax errors, option mixes, odd keys and values), from several
connections at once, in both durability modes, and under engine backpressure where
writes park (server/park.c) and compaction runs.

How the interleaving stays deterministic
  Each server gets the same PIPES connections (pipes; the odd ones speak RESP3). The
  driver draws, from the seed alone, a sequence of steps. A step sends a batch (1..12
  pipelined commands) on one pipe of both servers and does not wait for the replies. A
  batch has a footprint: the (database, key) pairs its commands name, or "global" for a
  command over a whole database (FLUSHDB, FLUSHALL, DBSIZE, KEYS, SCAN, RANDOMKEY).
  Before a batch is sent, every other pipe whose unread batches overlap its footprint is
  drained: its replies are read from both servers and compared. So the batches in flight
  at one moment name disjoint keys and commute: in whatever order a server runs them,
  every reply is fixed by the sequence, and the two servers must give the same one.
  Within a pipe the order is the pipe's own. When pipes are drained is drawn from the
  seed, not taken from timing, so a seed replays the same command sequence (the servers'
  timing is not replayed: a race may need several runs).

Races (where the order is legitimately free)
  A race step makes 2-3 pipes send conflicting batches at once, after a prelude that
  sets the keys' start values: SET NX / SETNX / MSETNX / SET NX GET on the same fresh keys
  (nx_race), SET XX / GETSET / NX against DEL / GETDEL / EXPIRE -1 (xx_del_race),
  INCR / APPEND / SETRANGE / INCRBYFLOAT / GETDEL / SET GET on the same keys (rmw_race),
  FLUSHDB or FLUSHALL among read-modify-writes (flush_race). Replies are then not compared
  with Redis's; the test asks whether some interleaving of the pipes' sequences (each in
  its own order) explains every reply logstord gave and the keys' final state (value,
  has a TTL), as Redis's semantics demand: one NX winner, an INCR that ran before a
  FLUSHDB is gone after it, and so on. The oracle is a third redis-server: the search
  replays candidate interleavings on it, depth first, cutting a branch at the first reply
  that differs, separately for each group of commands that share keys (a FLUSH joins
  all). The same search runs on the reference Redis's replies, as a check of the checker.
  Filler pipes pipeline large plain SETs on keys of their own meanwhile.

Backpressure
  The *_backpressure and race scenarios run logstord with --disk_size 24mb --file_size
  4mb --write_buffers 4 --max_pending_bytes 1mb (the settings busy_writes.py and
  compaction_stall.py use to reach parked writes and compaction) and values of 16-100
  KiB; such a scenario fails unless INFO busy_writes_parked grew, since otherwise it
  tested nothing it claims to.

Normalizations (the only replies not compared byte for byte)
  - TTL / EXPIRETIME: within 2 s, PTTL / PEXPIRETIME within 2500 ms, when both are >= 0
    (each server reads its own clock; -1 and -2 compare exactly). No relative TTL shorter
    than 1000 s is drawn outside the expiry scenario, so nothing expires on its own.
  - KEYS: compared as sorted lists (the order is each server's hash or token order).
  - SCAN: the cursor is the engine's token, not Redis's, so SCAN is run to completion on
    both (SCAN_FULL) and the sets of keys returned are compared; single-call SCAN is
    drawn only in its error forms, compared exactly.
  - RANDOMKEY: nil on both, or logstord's key exists (EXISTS on Redis right after).
  - DBSIZE: Redis counts a key whose expiry passed until it is touched or the active
    expire cycle reclaims it (SET ... PXAT 1 makes one: Redis stores it expired,
    logstord deletes it at once). So a different DBSIZE is allowed when logstord's count
    lies between the live keys (KEYS * on Redis) and Redis's count.
  - HELLO: errors compared exactly; a map reply is compared on its proto field only
    (server name, version and client id differ by nature).
  - INFO, TIME, LASTSAVE, CLIENT ID/LIST/INFO, COMMAND, CONFIG, SAVE, DEBUG are not
    drawn (their replies describe the server, not the data).
  - "ERR string exceeds maximum allowed size (...)": the parenthesis names each server's
    own limit (max_value_size, proto-max-bulk-len); the rest compares exactly.
  Limits that are documented differences (values over max_value_size, keys over
  max_key_size, Redis types other than strings) are not drawn.

Scenarios: `--list` prints them. By default (make test) every scenario runs except those
in KNOWN_FAILING, each a divergence seen on main with the defect it shows; the random
scenarios also avoid drawing the inputs of a known failing scenario (its avoid rule), so
the default run passes on main and finds whatever else diverges. When a fix lands, remove
its name from KNOWN_FAILING: its scenario joins the default run and the random scenarios
start drawing its inputs again.

  python3 tests/integration/diff_redis.py [--seed N] [--seconds S] [--scenario NAME ...]
  env: DIFF_SEED (seed), DIFF_SECONDS (budget of the timed scenarios, default 60),
       DIFF_SCENARIOS (names, comma separated), DIFF_HISTORY (commands per pipe printed)

On a divergence it prints the seed, scenario, pipe, command, both replies, the last
commands of every pipe and a redis-cli reproduction, ends that scenario and exits 1 at
the end.
"""
import argparse
import collections
import os
import random
import shutil
import sys
import time

import itlib
from itlib import ProtocolError, Resp, encode, log

PIPES = 4
HISTORY = int(os.environ.get("DIFF_HISTORY", "12"))
READ_TIMEOUT_S = 90  # a parked write may wait busy_timeout_ms (30 s) before it fails
ORACLE_NODE_LIMIT = 4000
FILLER_DB = 3
GLOBAL = "global"
KEEP_GOING = False
TRACE = None  # --trace FILE: every compared command, for finding how a state diverged
TOO_BIG = "ERR string exceeds maximum allowed size ("

BACKPRESSURE = ["--disk_size", "24mb", "--file_size", "4mb", "--write_buffers", "4",
                "--max_pending_bytes", "1mb"]

# ---------------------------------------------------------------------------------------
# Known divergences. Each entry: scenario name -> what the defect is. Their scenarios are
# left out of the default run, and the random scenarios avoid their inputs (AVOID below).
# Move a name out of this dict when its fix lands.
# ---------------------------------------------------------------------------------------
KNOWN_FAILING = {
    "set_option_order": "SET checks an expire value while parsing the options; Redis parses "
                        "them all first: SET k v EX abc NX XX answers 'not an integer' "
                        "(Redis: syntax error)",
    "repeated_option": "SET k v EX 100 EX 200 and GETEX k EX 100 EX 200 / GETEX k PERSIST "
                       "PERSIST are syntax errors (Redis: the last one wins)",
    "getex_expire_order": "GETEX checks the expire value before looking the key up: GETEX "
                          "nokey EX abc answers an error (Redis: nil)",
    "expire_option_order": "EXPIRE checks the number before the options: EXPIRE k abc BOGUS "
                           "answers 'not an integer' (Redis: Unsupported option BOGUS)",
    "setrange_empty_offset": "SETRANGE k 2000000 '' answers 'string exceeds maximum allowed "
                             "size' (Redis: the length, nothing is written)",
    "scan_empty_cursor": "SCAN '' answers 'invalid cursor' (Redis reads it as cursor 0)",
    "pipeline_order": "a command waiting for the key lock of the same connection's earlier "
                      "INCR/APPEND/... is overtaken by its later commands: SET x 1; INCRBY x "
                      "2; DEL x y; SET y 9 answers DEL 2 and then y is gone (Redis: 1, y=9)",
    "incrbyfloat_nul": "issue 11 item 13: INCRBYFLOAT reads a value or an increment up to a NUL "
                       "byte: SET k \"\\x00x\"; INCRBYFLOAT k 1 answers 1 (Redis: not a valid "
                       "float)",
    "large_value_busy": "a 500 KB SET on a 24 MiB disk whose live data is a sixth of it "
                        "waits busy_timeout_ms and fails 'ERR server busy, write backlog full "
                        "(retry)' (no run of free segments; compaction stops at its high "
                        "watermark); Redis: OK",
    "del_dup_parked": "DEL/UNLINK naming a key twice counts it twice when the engine is busy "
                      "(the deletes park): DEL k k answers 2 (Redis: 1)",
    "parked_write_read": "under backpressure, a SET or DEL that waited for the key lock of the "
                         "same connection's INCRBY and then parked is overtaken by the GET "
                         "behind it: INCRBY x -40; SET x new; GET x answers the old value "
                         "(Redis: new)",
    "empty_key_scan": "the empty key \"\" is never returned by KEYS, SCAN or RANDOMKEY",
    "nx_race": "issue 11 item 9: SET NX / SETNX / MSETNX decide on existence without a key "
               "lock; a write parked under backpressure lets the other racer win too",
    "xx_del_race": "issue 11 item 9: SET XX / NX against DEL on the same key: both succeed "
                   "with the key still there (decision without a key lock while parked)",
    "flush_rmw": "issue 11 item 10: FLUSHDB/FLUSHALL do not wait for read-modify-writes "
                 "in flight: SET k 5; INCR k; FLUSHDB; GET k answers 6 (Redis: nil)",
    "flush_race": "issue 11 item 10: FLUSHDB racing INCR/APPEND from another connection: "
                  "a write that was acknowledged before the FLUSHDB survives it",
}


# ---- avoid rules: what the random scenarios do not draw while a defect is known ----
EXPIRE_WORDS = (b"EX", b"PX", b"EXAT", b"PXAT")
LLONG_MAX = (1 << 63) - 1


def redis_int(b):
    """Redis's string2ll: the integer b spells exactly, or None."""
    if not b or len(b) > 20 or not (b.isdigit() or (b[:1] == b"-" and b[1:].isdigit())):
        return None
    if (b[:1] == b"0" and len(b) > 1) or b[:2] in (b"-0",):
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
    flags, exps, i = set(), [], 0
    while i < len(args):
        w, more = args[i].upper(), i + 1 < len(args)
        ttl = {b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"PERSIST"}
        if w == b"NX" and is_set and b"XX" not in flags:
            flags.add(w)
        elif w == b"XX" and is_set and b"NX" not in flags:
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


FLOAT_KEYS = (b"k0", b"k1")


def _avoid_incrbyfloat_nul(a):
    """INCRBYFLOAT only on FLOAT_KEYS, which never get a NUL byte (no SETRANGE, which pads
    with NULs, and no argument holding one)."""
    if a[0] == b"INCRBYFLOAT":
        return len(a) > 1 and a[1] not in FLOAT_KEYS or any(b"\x00" in x for x in a[2:])
    named = [x for i, x in enumerate(a) if (a[0], i) in KEY_ARGS]
    if not set(named) & set(FLOAT_KEYS):
        return False
    return a[0] == b"SETRANGE" or any(b"\x00" in x for i, x in enumerate(a)
                                      if i and (a[0], i) not in KEY_ARGS)


KEY_ARGS = set()  # (command, argument index) pairs that are keys: filled from KEYPOS below


def _avoid_set_option_order(a):
    if a[0] != b"SET":
        return False
    ok, exps = redis_ext_parse(a[3:], True)
    return not ok and any(not expire_ok(w, v) for w, v in exps)


def _avoid_repeated_option(a):
    if a[0] not in (b"SET", b"GETEX"):
        return False
    words = [w.upper() for w in a[3 if a[0] == b"SET" else 2:]]
    return any(words.count(w) > 1 for w in EXPIRE_WORDS + (b"PERSIST",))


def _avoid_getex_expire_order(a):
    if a[0] != b"GETEX":
        return False
    ok, exps = redis_ext_parse(a[2:], False)
    return ok and any(not expire_ok(w, v) for w, v in exps)


def _avoid_expire_option_order(a):
    return (a[0] in (b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT") and len(a) > 3 and
            redis_int(a[2]) is None)


def _avoid_setrange_empty(a):
    return a[0] == b"SETRANGE" and len(a) == 4 and a[3] == b"" and redis_int(a[2]) is not None \
        and redis_int(a[2]) > 1 << 20


# scenario name -> predicate over one command (argv, argv[0] upper case)
AVOID_CMD = {
    "set_option_order": _avoid_set_option_order,
    "repeated_option": _avoid_repeated_option,
    "getex_expire_order": _avoid_getex_expire_order,
    "expire_option_order": _avoid_expire_option_order,
    "setrange_empty_offset": _avoid_setrange_empty,
    "scan_empty_cursor": lambda a: a[0] == b"SCAN" and len(a) > 1 and a[1] == b"",
    "incrbyfloat_nul": lambda a: _avoid_incrbyfloat_nul(a),
}
AVOID_CMD["large_value_busy"] = lambda a: a[0] == b"SETRANGE" and len(a) > 2 and \
    (redis_int(a[2]) or 0) > 100000
AVOID_CMD["del_dup_parked"] = lambda a: a[0] in (b"DEL", b"UNLINK") and len(set(a[1:])) < len(a) - 1
# scenario name -> predicate over a batch (list of argv)
AVOID_BATCH = {}
# scenario name -> keys not drawn
AVOID_KEYS = {"empty_key_scan": [b""]}


def _avoid_flush_rmw(batch):
    """A FLUSHDB/FLUSHALL after a read-modify-write in the same batch (item 10)."""
    seen_rmw = False
    for a in batch:
        if a[0] in RMW_NAMES:
            seen_rmw = True
        elif a[0] in (b"FLUSHDB", b"FLUSHALL") and seen_rmw:
            return True
    return False


AVOID_BATCH["flush_rmw"] = _avoid_flush_rmw


def _avoid_pipeline_order(batch):
    """Reorderings within a pipeline (pipeline_order): a multi-key command that names a
    key locked by an earlier read-modify-write of the batch waits on one key's queue and
    may be overtaken, or overtake, on its other keys; a whole-database command does not
    wait at all. So: after a multi-key command that may wait, no command names any of its
    keys; after a lock or a waiting command, no whole-database command."""
    locked, waiting, db = set(), set(), 0
    for a in batch:
        if a[0] == b"SELECT" and len(a) == 2 and a[1] in (b"0", b"1", b"2", b"3"):
            db = int(a[1])
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


def logstord_rmw(a):
    """Whether logstord runs a as a read-modify-write holding its key's lock (its command
    table's RM flag, SET with GET, GETEX with options)."""
    n = a[0]
    if n == b"SET":
        return any(w.upper() == b"GET" for w in a[3:])
    if n == b"GETEX":
        return len(a) > 2
    return n in RMW_NAMES and n != b"SET" and n != b"GETEX"


AVOID_BATCH["pipeline_order"] = _avoid_pipeline_order

WRITE_NAMES = {b"SET", b"SETNX", b"SETEX", b"PSETEX", b"MSET", b"MSETNX", b"DEL", b"UNLINK"}


def _avoid_parked_write_read(batch):
    """A plain write to a key locked by an earlier read-modify-write in flight, then any
    command naming that key (parked_write_read)."""
    locked, pending, db = set(), set(), 0
    for a in batch:
        if a[0] == b"SELECT" and len(a) == 2 and a[1] in (b"0", b"1", b"2", b"3"):
            db = int(a[1])
        ks = cmd_keys(a, db)
        if ks == GLOBAL:
            continue
        ks = set(ks)
        if ks & pending:
            return True
        if a[0] in WRITE_NAMES and not logstord_rmw(a) and ks & locked:
            pending |= ks & locked
        if logstord_rmw(a) and len(ks) == 1:
            locked |= ks
    return False


AVOID_BATCH["parked_write_read"] = _avoid_parked_write_read

RMW_NAMES = {b"INCR", b"DECR", b"INCRBY", b"DECRBY", b"INCRBYFLOAT", b"APPEND", b"SETRANGE",
             b"GETSET", b"GETDEL", b"GETEX", b"EXPIRE", b"PEXPIRE", b"EXPIREAT",
             b"PEXPIREAT", b"PERSIST", b"SET"}

# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------


class RedisServer(itlib.Server):
    """redis-server with no persistence, on a free loopback port (stopped by PID)."""

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]


def start_servers(extra, durability):
    l = itlib.Server("redis", extra=extra, durability=durability).start()
    r = RedisServer("redis").start()
    o = RedisServer("redis").start()
    return l, r, o


def stop_servers(servers):
    for s in servers:
        rc = s.stop()
        s.cleanup()
        if rc not in (0, None, "timeout") and s is servers[0]:
            log("     logstord exited with status %s" % rc)


def info_field(port, name):
    text = Resp(port, timeout=READ_TIMEOUT_S).call("INFO", "all")[1].decode()
    for ln in text.split("\r\n"):
        if ln.startswith(name + ":"):
            return int(ln.split(":", 1)[1])
    return None


# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------


def show_bytes(b):
    if b is None:
        return "nil"
    if len(b) > 64:
        return "%r...(%d bytes)" % (b[:32], len(b))
    return repr(b)


def show(reply):
    """A reply tuple, with long strings cut."""
    t, v = reply
    if isinstance(v, bytes):
        return "%s%s" % (t, show_bytes(v))
    if isinstance(v, list):
        return "%s[%s]" % (t, ", ".join(show(x) if isinstance(x, tuple) and len(x) == 2 and
                                        isinstance(x[0], str) else repr(x) for x in v[:12]) +
                           (", ..." if len(v) > 12 else ""))
    return "%s%r" % (t, v)


def cli_arg(a):
    """One argument in redis-cli's quoting."""
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


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


class Cmd:
    """One command: argv (bytes, argv[0] upper case as sent unless the case was drawn),
    how its replies compare (kind), and the (db, key) pairs it names or GLOBAL."""
    __slots__ = ("argv", "kind", "keys", "name", "db")

    def __init__(self, argv, kind="exact"):
        self.argv = [a if isinstance(a, bytes) else a.encode() for a in argv]
        self.name = self.argv[0].upper()
        self.kind = kind
        self.keys = ()
        self.db = None

    def __repr__(self):
        return cli(self.argv)


# (first key, last key (-1: all), step), Redis's key positions
KEYPOS = {}
for _n in ("GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN GETRANGE SUBSTR "
           "SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT EXPIRE PEXPIRE EXPIREAT PEXPIREAT "
           "TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TYPE").split():
    KEYPOS[_n.encode()] = (1, 1, 1)
for _n in "MGET DEL UNLINK EXISTS TOUCH".split():
    KEYPOS[_n.encode()] = (1, -1, 1)
for _n in "MSET MSETNX".split():
    KEYPOS[_n.encode()] = (1, -1, 2)
for _n, (_f, _l, _s) in KEYPOS.items():
    for _i in range(_f, 40 if _l < 0 else _l + 1, _s):
        KEY_ARGS.add((_n, _i))
GLOBAL_NAMES = {b"FLUSHDB", b"FLUSHALL", b"DBSIZE", b"KEYS", b"SCAN", b"RANDOMKEY", b"SCAN_FULL"}

ARITY = {"GET": 2, "SET": -3, "SETNX": 3, "SETEX": 4, "PSETEX": 4, "GETSET": 3, "GETDEL": 2,
         "GETEX": -2, "MGET": -2, "MSET": -3, "MSETNX": -3, "APPEND": 3, "STRLEN": 2,
         "GETRANGE": 4, "SUBSTR": 4, "SETRANGE": 4, "INCR": 2, "DECR": 2, "INCRBY": 3,
         "DECRBY": 3, "INCRBYFLOAT": 3, "DEL": -2, "UNLINK": -2, "EXISTS": -2, "TOUCH": -2,
         "EXPIRE": -3, "PEXPIRE": -3, "EXPIREAT": -3, "PEXPIREAT": -3, "TTL": 2, "PTTL": 2,
         "EXPIRETIME": 2, "PEXPIRETIME": 2, "PERSIST": 2, "TYPE": 2, "SCAN": -2, "KEYS": 2,
         "RANDOMKEY": 1, "DBSIZE": 1, "FLUSHDB": -1, "FLUSHALL": -1, "SELECT": 2, "PING": -1,
         "ECHO": 2}


def cmd_keys(argv, db):
    """The (db, key) pairs argv names, GLOBAL, or () (connection commands)."""
    name = argv[0].upper()
    if name in GLOBAL_NAMES:
        return GLOBAL
    pos = KEYPOS.get(name)
    if pos is None:
        return ()
    first, last, step = pos
    last = len(argv) - 1 if last < 0 else min(last, len(argv) - 1)
    return tuple((db, argv[i]) for i in range(first, last + 1, step))


KEYS = [b"k0", b"k1", b"k2", b"k3", b"k4", b"{t}a", b"{t}b", b"a b", b"", b"k*",
        "\u00e9".encode(), b"\x00k"]
DBS = [0, 0, 0, 1, 2]
SMALL_VALUES = [b"", b"0", b"1", b"-1", b"7", b"10", b"-100", b"123456789",
                b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
                b"1.5", b"-0.25", b"3.0e3", b"1e400", b"inf", b"nan", b"abc", b" 1", b"1 ",
                b"01", b"+1", b"0x1A", b"hello world", b"\x00\xff\r\n", "\u00e9".encode()]
INTS = [b"0", b"1", b"-1", b"2", b"17", b"-5", b"100", b"1000", b"9223372036854775807",
        b"-9223372036854775808", b"abc", b"1.5", b"", b" 3", b"99999999999999999999", b"+2",
        b"07"]
FLOATS = [b"0", b"1", b"1.5", b"-2.25", b"1e3", b"5e-1", b"0x10", b".5", b"abc", b"inf",
          b"-inf", b"nan", b"", b"1e400", b" 1", b"3.0000000000000001", b"-0"]
# expiry arguments: relative ones are at least 1000 s (nothing expires by itself during a
# scenario), or zero / negative / not numbers / overflowing (errors or immediate deletes)
REL_S = [b"1000", b"5000", b"100000", b"0", b"-1", b"-1000", b"abc", b"", b"1.5",
         b"9223372036854775807", b"9223372036854775"]
REL_MS = [b"1000123", b"100000456", b"0", b"-1", b"abc", b"9223372036854775807",
          b"9223372036854775000"]
ABS_S = [b"1", b"1000000000", b"4102444800", b"4102444801", b"0", b"-5", b"abc"]
ABS_MS = [b"1", b"1000000000000", b"4102444800000", b"4102444800123", b"0", b"-5", b"abc"]
PATTERN_PARTS = [b"*", b"?", b"k", b"k*", b"[k]", b"[a-z]", b"[^k]", b"[!k]", b"\\k", b"*b",
                 b"{t}", b"[", b"]", b"[]", b"a b", b"\\", b"-", b"[k-a]", b"[\\]]", b"0",
                 "\u00e9".encode(), b"\x00"]
MAX_BATCH = 12


class Gen:
    """Draws commands from the seed. big: values of 16-100 KiB part of the time."""

    def __init__(self, rng, big, avoid_cmd=(), avoid_batch=(), avoid_keys=()):
        self.rng = rng
        self.keys = [k for k in KEYS if k not in avoid_keys]
        self.big = big
        self.avoid_cmd = list(avoid_cmd)
        self.avoid_batch = list(avoid_batch)
        self.nval = 0
        self.table = [
            (10, self.g_get), (14, self.g_set), (3, self.g_setnx), (2, self.g_setex),
            (3, self.g_getset), (3, self.g_getdel), (5, self.g_getex), (4, self.g_mget),
            (4, self.g_mset), (3, self.g_msetnx), (4, self.g_append), (2, self.g_strlen),
            (3, self.g_getrange), (3, self.g_setrange), (8, self.g_incr), (3, self.g_incrbyfloat),
            (5, self.g_del), (3, self.g_exists), (7, self.g_expire), (4, self.g_ttl),
            (2, self.g_persist), (2, self.g_type), (1, self.g_select), (1, self.g_conn),
            (1, self.g_unknown), (1, self.g_scan_err),
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

    def value(self):
        r = self.rng.random()
        if self.big and r < 0.3:
            self.nval += 1
            size = self.rng.randint(16 * 1024, 100 * 1024)
            return itlib.tagged_value(size, self.nval)
        if r < 0.75:
            return self.pick(SMALL_VALUES)
        n = self.rng.randint(1, 300)
        return bytes(self.rng.choice(b"ab01 \r\n\x00\xff-.") for _ in range(n))

    def small_value(self):
        return self.pick(SMALL_VALUES) if self.rng.random() < 0.7 else b"x" * self.rng.randint(1, 64)

    def int_arg(self):
        return self.pick(INTS) if self.rng.random() < 0.4 else b"%d" % self.rng.randint(-50, 50)

    def pattern(self):
        return b"".join(self.pick(PATTERN_PARTS) for _ in range(self.rng.randint(1, 3)))

    # ---- commands ----
    def g_get(self):
        return [b"GET", self.key()]

    def set_opts(self):
        out = []
        for _ in range(self.pick([0, 0, 1, 1, 1, 2, 2, 3])):
            w = self.pick([b"NX", b"XX", b"GET", b"GET", b"KEEPTTL", b"EX", b"PX", b"EXAT",
                           b"PXAT", b"BOGUS"])
            out.append(self.case(w))
            if w == b"EX":
                out.append(self.pick(REL_S))
            elif w == b"PX":
                out.append(self.pick(REL_MS))
            elif w == b"EXAT":
                out.append(self.pick(ABS_S))
            elif w == b"PXAT":
                out.append(self.pick(ABS_MS))
        if self.rng.random() < 0.05:
            out.append(self.pick([b"EX", b"PX", b"EXAT", b"PXAT"]))  # no argument
        return out

    def g_set(self):
        return [b"SET", self.key(), self.value()] + self.set_opts()

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
        out = [b"GETEX", self.key()]
        for _ in range(self.pick([0, 1, 1, 1, 2])):
            w = self.pick([b"PERSIST", b"EX", b"PX", b"EXAT", b"PXAT", b"BOGUS", b"KEEPTTL"])
            out.append(self.case(w))
            arg = {b"EX": REL_S, b"PX": REL_MS, b"EXAT": ABS_S, b"PXAT": ABS_MS}.get(w)
            if arg:
                out.append(self.pick(arg))
        return out

    def g_mget(self):
        return [b"MGET"] + [self.key() for _ in range(self.rng.randint(1, 5))]

    def g_mset(self):
        out = [b"MSET"]
        for _ in range(self.rng.randint(1, 3)):
            out += [self.key(), self.value()]
        return out

    def g_msetnx(self):
        out = [b"MSETNX"]
        for _ in range(self.rng.randint(1, 3)):
            out += [self.key(), self.value()]
        return out

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
        if off in (b"500000",) and val == b"":
            val = b"z"
        return [b"SETRANGE", self.key(), off, val]

    def g_incr(self):
        r = self.rng.random()
        if r < 0.4:
            return [self.pick([b"INCR", b"DECR"]), self.key()]
        return [self.pick([b"INCRBY", b"DECRBY"]), self.key(), self.int_arg()]

    def g_incrbyfloat(self):
        arg = (self.pick(FLOATS) if self.rng.random() < 0.5 else
               b"%.3f" % (self.rng.randint(-5000, 5000) / 100.0))
        return [b"INCRBYFLOAT", self.key(), arg]

    def g_del(self):
        return ([self.pick([b"DEL", b"UNLINK"])] +
                [self.key() for _ in range(self.rng.randint(1, 4))])

    def g_exists(self):
        return ([self.pick([b"EXISTS", b"TOUCH"])] +
                [self.key() for _ in range(self.rng.randint(1, 4))])

    def g_expire(self):
        name = self.pick([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
        arg = {b"EXPIRE": REL_S, b"PEXPIRE": REL_MS, b"EXPIREAT": ABS_S,
               b"PEXPIREAT": ABS_MS}[name]
        out = [name, self.key(), self.pick(arg)]
        # GT and LT only with absolute times: a relative time equal to the one a key got a
        # moment before ties or not depending on whether the clock ticked in between
        opts = [b"NX", b"XX", b"GT", b"LT", b"BOGUS"] if name.endswith(b"AT") else \
            [b"NX", b"XX", b"BOGUS"]
        for _ in range(self.pick([0, 0, 1, 1, 2])):
            out.append(self.case(self.pick(opts)))
        return out

    def g_ttl(self):
        return [self.pick([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"]), self.key()]

    def g_persist(self):
        return [b"PERSIST", self.key()]

    def g_type(self):
        return [b"TYPE", self.key()]

    def g_select(self):
        if self.rng.random() < 0.7:
            return [b"SELECT", b"%d" % self.pick([0, 0, 1, 2])]
        return [b"SELECT", self.pick([b"16", b"-1", b"abc", b"1.5", b"", b"99999999999999999999"])]

    def g_conn(self):
        r = self.rng.random()
        if r < 0.3:
            return [b"PING"] + ([self.value()] if self.rng.random() < 0.5 else [])
        if r < 0.5:
            return [b"ECHO", self.value()]
        if r < 0.7:
            return [b"CLIENT", b"SETNAME", self.pick([b"c1", b"a b", b"", b"x"])]
        if r < 0.8:
            return [b"CLIENT", b"GETNAME"]
        return [b"AUTH"] + [self.pick([b"pw", b"default", b""]) for _ in range(self.rng.randint(1, 2))]

    def g_unknown(self):
        return [self.pick([b"NOSUCHCMD", b"GETT", b"SETX"])] + \
            [self.key() for _ in range(self.rng.randint(0, 3))]

    def g_scan_err(self):
        return self.pick([
            [b"SCAN", b"abc"], [b"SCAN", b"0", b"COUNT", b"0"], [b"SCAN", b"0", b"COUNT", b"abc"],
            [b"SCAN", b"0", b"MATCH"], [b"SCAN", b"0", b"FOO", b"bar"], [b"SCAN", b""],
            [b"SCAN", b"0", b"COUNT", b"-1"], [b"SCAN", b"0x1"], [b"SCAN", b" 0"],
        ])

    def wrong_arity(self, argv):
        """argv with an argument count its command refuses, or argv if it has none."""
        name = argv[0].decode().upper()
        arity = ARITY.get(name)
        if arity is None:
            return argv
        if arity > 0:
            n = self.pick([x for x in range(1, arity + 3) if x != arity])
        elif -arity > 1:
            n = self.rng.randint(1, -arity - 1)
        else:
            return argv
        args = (argv + [b"x"] * n)[:n]
        return args

    # ---- one command with its kind ----
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
            if not any(f([argv[0].upper()] + argv[1:]) for f in self.avoid_cmd):
                return argv
        return [b"PING"]

    def batch(self, before=()):
        """1..MAX_BATCH commands to pipeline, now and then with a FLUSH or KEYS among
        them; a command that would make `before` (the pipe's commands still in flight,
        starting with a SELECT of their database) plus the batch match an avoid rule is
        drawn again."""
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
                if not any(f(up) for f in self.avoid_batch):
                    out.append(a)
                    break
        return out or [[b"PING"]]

    def global_cmd(self):
        """argv of one command over the whole database (its own step)."""
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
        if r < 0.93:
            return [b"FLUSHDB"] + ([self.pick([b"SYNC", b"ASYNC", b"async", b"BOGUS"])]
                                   if self.rng.random() < 0.3 else [])
        return [b"FLUSHALL"] + ([self.pick([b"SYNC", b"ASYNC", b"x y"])]
                                if self.rng.random() < 0.3 else [])


def kind_of(argv):
    """How replies to argv compare (see the top comment)."""
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
    return "exact"


# ---------------------------------------------------------------------------------------
# Pipes, comparison and the divergence report
# ---------------------------------------------------------------------------------------


class Divergence(Exception):
    pass


class Pipe:
    """Connection idx on each server: l (logstord), r (redis-server)."""

    def __init__(self, idx, lport, rport):
        self.idx = idx
        self.l = Resp(lport, timeout=READ_TIMEOUT_S)
        self.r = Resp(rport, timeout=READ_TIMEOUT_S)
        self.db = 0
        self.resp3 = False
        self.unread = collections.deque()  # batches sent, replies not read: (step, [Cmd])
        self.sent_at = {}  # id(batch) -> time it was sent
        self.hist = collections.deque(maxlen=HISTORY)  # (step, Cmd, logstord, redis)

    def close(self):
        self.l.close()
        self.r.close()

    def footprint(self):
        out = set()
        for _, batch in self.unread:
            for c in batch:
                if c.keys == GLOBAL:
                    return GLOBAL
                out.update(c.keys)
        return out


class Run:
    """One scenario against one logstord, one reference and one oracle redis-server."""

    def __init__(self, name, seed, servers, conns=PIPES):
        self.name = name
        self.seed = seed
        self.lsrv, self.rsrv, self.osrv = servers
        self.pipes = [Pipe(i, self.lsrv.port, self.rsrv.port) for i in range(conns)]
        self.oracle = Resp(self.osrv.port, timeout=READ_TIMEOUT_S)
        self.step = 0
        self.ncmds = 0
        self.races = 0
        self.batch_s = 0.0
        for p in self.pipes:
            if p.idx % 2 == 1:
                self.run_cmd(p, Cmd([b"HELLO", b"3"], "hello"))
                p.resp3 = True

    def close(self):
        for p in self.pipes:
            p.close()
        self.oracle.close()

    def resync(self):
        """After a divergence (--keep-going): both servers emptied, nothing in flight."""
        for p in self.pipes:
            while p.unread:
                _, cmds = p.unread.popleft()
                self.read_side(p, "l", len(cmds))
                self.read_side(p, "r", len(cmds))
        for side in ("l", "r"):
            getattr(self.pipes[0], side).call("FLUSHALL")

    # ---- sending and draining ----
    def send(self, p, cmds, to=("l", "r")):
        """Sends a batch on pipe p; its footprint uses and updates p's database."""
        for c in cmds:
            c.keys = cmd_keys(c.argv, p.db)
            c.db = p.db
            self.track(p, c)
        data = b"".join(encode(*c.argv) for c in cmds)
        for side in to:
            getattr(p, side).send(data)
        p.unread.append((self.step, cmds))
        p.sent_at[id(cmds)] = time.time()

    @staticmethod
    def track(p, c):
        """Follows SELECT, RESET and HELLO, whose outcome the generator knows."""
        n, a = c.name, c.argv
        if n == b"SELECT" and len(a) == 2 and a[1] in (b"0", b"1", b"2", b"3"):
            p.db = int(a[1])
        elif n == b"RESET" and len(a) == 1:
            p.db, p.resp3 = 0, False
        elif n == b"HELLO" and len(a) >= 2 and a[1] in (b"2", b"3"):
            p.resp3 = a[1] == b"3"

    def drain(self, p):
        """Reads and compares the replies of p's unread batches (a whole batch is read
        before the first difference in it is reported)."""
        while p.unread:
            step, cmds = p.unread.popleft()
            sent = p.sent_at.pop(id(cmds), time.time())
            ra = self.read_side(p, "l", len(cmds))
            rb = self.read_side(p, "r", len(cmds))
            self.batch_s = time.time() - sent
            for i, (c, a, b) in enumerate(zip(cmds, ra, rb)):
                p.hist.append((step, c, a, b))
                if TRACE:
                    TRACE.write("%d p%d db%s: %s -> %s | %s\n" % (step, p.idx, c.db, cli(c.argv),
                                                                  show(a), show(b)))
                why = self.compare(p, c, a, b)
                if why:
                    self.diverge(p, c, a, b, why, [x.argv for x in cmds[i + 1:]])

    def drain_all(self):
        for p in self.pipes:
            self.drain(p)

    def drain_conflicts(self, p, keys):
        for q in self.pipes:
            if q is p or not q.unread:
                continue
            fp = q.footprint()
            if keys == GLOBAL or fp == GLOBAL or fp.intersection(keys):
                self.drain(q)

    def run_cmd(self, p, c):
        """Sends one command and compares its replies at once (p must have nothing unread)."""
        self.drain(p)
        self.send(p, [c])
        self.drain(p)

    def read_side(self, p, side, n):
        return [getattr(p, side).read() for _ in range(n)]

    # ---- comparison ----
    def compare(self, p, c, a, b):
        """None when logstord's reply a agrees with Redis's b, else why not."""
        if a[0] == b[0] == "-" and a[1].startswith(TOO_BIG) and b[1].startswith(TOO_BIG):
            return None  # each names its own limit: (max_value_size) / (proto-max-bulk-len)
        if c.kind == "exact" or a[0] == "-" or b[0] == "-":
            return None if a == b else "replies differ"
        if c.kind in ("ttl_s", "ttl_ms"):
            tol = 2 if c.kind == "ttl_s" else 2500
            if a[0] == b[0] == ":" and (a[1] == b[1] or (a[1] >= 0 and b[1] >= 0 and
                                                         abs(a[1] - b[1]) <= tol)):
                return None
            return "TTLs differ by more than %d" % tol
        if c.kind == "sorted":
            if a[0] == b[0] and sorted(a[1]) == sorted(b[1]):
                return None
            return "KEYS differ as sets"
        if c.kind == "randomkey":
            return self.check_randomkey(p, a, b)
        if c.kind == "dbsize":
            return self.check_dbsize(p, a, b)
        if c.kind == "hello":
            return None if a[0] == b[0] and self.hello_proto(a) == self.hello_proto(b) \
                else "HELLO replies differ in kind or proto"
        raise AssertionError(c.kind)

    @staticmethod
    def hello_proto(reply):
        for k, v in (reply[1] if reply[0] == "%" else zip(reply[1][::2], reply[1][1::2])):
            if k[1] in ("proto", b"proto"):
                return v
        return None

    def check_randomkey(self, p, a, b):
        if a[0] != b[0] or (a[1] is None) != (b[1] is None):
            return "RANDOMKEY: one is nil, the other not"
        if a[1] is None:
            return None
        r = p.r.call("EXISTS", a[1])
        return None if r == (":", 1) else "RANDOMKEY: logstord's key is not in Redis (%r)" % (r,)

    def check_dbsize(self, p, a, b):
        if a == b:
            return None
        live = p.r.call("KEYS", "*")
        n = len(live[1]) if live[0] in "*~" else -1
        if a[0] == ":" and n <= a[1] <= b[1]:
            return None
        return "DBSIZE %r outside [live keys %d, Redis's count]" % (a[1], n)

    def diverge(self, p, c, a, b, why, rest=()):
        lines = [
            "FAIL %s: logstord and redis-server diverge (%s)" % (self.name, why),
            "     seed %d, step %d, pipe %d (db %d, %s)" % (self.seed, self.step, p.idx, p.db,
                                                         "RESP3" if p.resp3 else "RESP2"),
            "     command   %s   (its batch answered %.1f s after it was sent)" %
            (cli(c.argv), self.batch_s),
            "     logstord  %s" % show(a),
            "     redis     %s" % show(b),
        ]
        if rest:
            lines.append("     (then in the same batch: %s)" % "; ".join(cli(x) for x in rest))
        lines.append("     logstord INFO: " + self.engine_state())
        lines += self.histories()
        lines.append("     replay: DIFF_SEED=%d python3 tests/integration/diff_redis.py "
                     "--scenario %s" % (self.seed, self.name))
        raise Divergence("\n".join(lines))

    def engine_state(self):
        """The engine's space and backpressure figures, for a divergence report."""
        try:
            text = Resp(self.lsrv.port, timeout=10).call("INFO", "all")[1].decode()
        except (OSError, ProtocolError) as e:
            return "unavailable (%s)" % e
        want = ("segments_total", "segments_free", "live_bytes", "busy_writes_parked",
                "busy_write_timeouts", "compaction_runs")
        return " ".join(ln for ln in text.split("\r\n") if ln.split(":")[0] in want)

    def histories(self):
        lines = []
        for q in self.pipes:
            lines.append("     pipe %d, last %d commands (step: command -> logstord | redis):"
                         % (q.idx, len(q.hist)))
            for step, c, a, b in q.hist:
                lines.append("       %4d: %s -> %s | %s" % (step, cli(c.argv), show(a), show(b)))
            pend = [c for _, cmds in q.unread for c in cmds]
            if pend:
                lines.append("       still in flight: " + "; ".join(cli(c.argv) for c in pend[:12]))
        return lines

    # ---- steps ----
    def random_step(self, gen, fillers):
        self.step += 1
        rng = gen.rng
        p = rng.choice(self.pipes)
        r = rng.random()
        if fillers and r < 0.15:
            self.filler_batch(gen, p)
        elif r < 0.2:
            self.global_step(gen, p)
        else:
            self.batch_step(gen, p)
        if rng.random() < 0.3:
            self.drain(rng.choice(self.pipes))
        for q in self.pipes:
            if len(q.unread) > 3:
                self.drain(q)

    def batch_step(self, gen, p):
        before = [c.argv for _, cmds in p.unread for c in cmds]
        before.insert(0, [b"SELECT", b"%d" % (p.unread[0][1][0].db if p.unread else p.db)])
        argvs = gen.batch(before)
        cmds = [Cmd(a, kind_of(a)) for a in argvs]
        db = p.db
        keys = set()
        for c in cmds:
            k = cmd_keys(c.argv, db)
            if k == GLOBAL:
                keys = GLOBAL
                break
            keys.update(k)
            if c.name == b"SELECT" and len(c.argv) == 2 and c.argv[1] in (b"0", b"1", b"2"):
                db = int(c.argv[1])
        self.drain_conflicts(p, keys)
        self.send(p, cmds)
        self.ncmds += len(cmds)

    def global_step(self, gen, p):
        argv = gen.global_cmd()
        self.drain_all()
        c = Cmd(argv, kind_of(argv))
        self.ncmds += 1
        if c.kind == "scan_full":
            self.scan_full(p, c)
        else:
            self.run_cmd(p, c)

    def filler_batch(self, gen, p):
        """Plain SETs of large values on keys of this pipe's own, in FILLER_DB."""
        back = p.db
        cmds = [Cmd([b"SELECT", b"%d" % FILLER_DB])]
        for _ in range(gen.rng.randint(4, 12)):
            gen.nval += 1
            cmds.append(Cmd([b"SET", b"fill:%d:%d" % (p.idx, gen.rng.randrange(6)),
                             itlib.tagged_value(gen.rng.randint(30, 100) * 1024, gen.nval)]))
        cmds.append(Cmd([b"SELECT", b"%d" % back]))
        self.drain_conflicts(p, {(FILLER_DB, c.argv[1]) for c in cmds[1:-1]})
        self.send(p, cmds)
        self.ncmds += len(cmds)

    def scan_full(self, p, c):
        """SCAN from cursor 0 until 0 on both servers; compares the sets of keys."""
        opts = c.argv[1:]
        got = {}
        for side in ("l", "r"):
            conn = getattr(p, side)
            cursor, keys, calls = b"0", set(), 0
            while True:
                rep = conn.call("SCAN", cursor, *opts)
                calls += 1
                if rep[0] != "*" or len(rep[1]) != 2 or calls > 100000:
                    keys = rep
                    break
                cursor = rep[1][0][1]
                keys.update(x[1] for x in rep[1][1][1])
                if cursor == b"0":
                    break
            got[side] = keys
        a, b = got["l"], got["r"]
        shown_a = ("*", sorted(a)) if isinstance(a, set) else a
        shown_b = ("*", sorted(b)) if isinstance(b, set) else b
        p.hist.append((self.step, c, shown_a, shown_b))
        if a != b:
            self.diverge(p, c, shown_a, shown_b, "a full SCAN returns other keys")

    # ---- races ----
    def race_step(self, gen, template, fillers):
        """Runs one race (see the top comment); raises Divergence when logstord's outcome
        is not one Redis's semantics allow."""
        self.step += 1
        self.races += 1
        self.drain_all()
        race = template(gen)
        nr = len(race["seqs"])
        racers, others = self.pipes[:nr], self.pipes[nr:]
        db = race["db"]
        for p in racers:
            self.run_cmd(p, Cmd([b"SELECT", b"%d" % db]))
        pre = [Cmd(a) for a in race["prelude"]]
        if pre:
            self.send(racers[0], pre)
            self.drain(racers[0])
        if fillers:
            for q in others:
                self.filler_batch(gen, q)
        seqs = [[Cmd(a) for a in s] for s in race["seqs"]]
        for side in ("l", "r"):  # all racers of one server, then the other's
            for p, s in zip(racers, seqs):
                getattr(p, side).send(b"".join(encode(*c.argv) for c in s))
        obs = {"l": [], "r": []}
        for p, s in zip(racers, seqs):
            for side in ("l", "r"):
                obs[side].append([resp2(x) for x in self.read_side(p, side, len(s))])
            for c, a, b in zip(s, obs["l"][-1], obs["r"][-1]):
                p.hist.append((self.step, c, a, b))
        for q in others:
            self.drain(q)
        keys = race["keys"]
        final = {}
        for side in ("l", "r"):
            conn = getattr(racers[0], side)
            conn.send(b"".join(encode("GET", k) + encode("PTTL", k) for k in keys))
            reps = [resp2(conn.read()) for _ in range(2 * len(keys))]
            final[side] = [(reps[2 * i], reps[2 * i + 1][1] >= 0) for i in range(len(keys))]
        seen = {side: self.serializable(db, race, seqs, obs[side], final[side])
                for side in ("r", "l")}
        if seen["r"] is not None:
            raise Divergence(self.race_report(race, seqs, obs, final, "r", seen["r"]) +
                             "\n     (the checker rejected redis-server's own outcome: a test bug)")
        if seen["l"] is not None:
            raise Divergence(self.race_report(race, seqs, obs, final, "l", seen["l"]))
        # both servers back to the same state: the race keys and the fillers' keys go
        for side in ("l", "r"):
            conn = getattr(racers[0], side)
            conn.call("DEL", *keys)
            conn.call("SELECT", FILLER_DB)
            conn.call("DEL", *[b"fill:%d:%d" % (q.idx, i) for q in self.pipes for i in range(6)])
            conn.call("SELECT", db)

    def serializable(self, db, race, seqs, obs, final):
        """None if some interleaving explains obs and final, else a message naming the
        group of keys no interleaving explains."""
        groups = key_groups(race, seqs)
        for gkeys, members in groups:
            gseqs = [[(i, seqs[j][i].argv) for i in idxs] for j, idxs in enumerate(members)]
            gobs = [[obs[j][i] for i in idxs] for j, idxs in enumerate(members)]
            kidx = [race["keys"].index(k) for k in gkeys]
            gfinal = [final[i] for i in kidx]
            gpre = [a for a in race["prelude"] if set(a[1:2]) & set(gkeys) or a[0] == b"DEL"]
            res = self.search(db, gpre, gseqs, gobs, gkeys, gfinal)
            if res is False:
                return "no interleaving explains the keys %s" % ", ".join(cli_arg(k) for k in gkeys)
        return None

    def search(self, db, prelude, seqs, obs, keys, final):
        """Depth-first search for an interleaving on the oracle; True, False, or None when
        the node limit was reached (counted as explained, and logged)."""
        m = len(seqs)
        nodes = [0]
        head = [[b"FLUSHALL"], [b"SELECT", b"%d" % db]] + prelude

        def replay(order, leaf):
            cmds = head + [seqs[j][i][1] for j, i in order]
            tail = [x for k in keys for x in ([b"GET", k], [b"PTTL", k])] if leaf else []
            self.oracle.send(b"".join(encode(*c) for c in cmds + tail))
            reps = [self.oracle.read() for _ in cmds + tail]
            return reps[len(head):len(cmds)], reps[len(cmds):]

        def dfs(order, pos):
            if all(pos[j] == len(seqs[j]) for j in range(m)):
                _, tail = replay(order, True)
                got = [(tail[2 * i], tail[2 * i + 1][1] >= 0) for i in range(len(keys))]
                return got == final
            for j in range(m):
                if pos[j] == len(seqs[j]):
                    continue
                nodes[0] += 1
                if nodes[0] > ORACLE_NODE_LIMIT:
                    raise TimeoutError
                o2 = order + [(j, pos[j])]
                reps, _ = replay(o2, False)
                if reps[-1] != obs[j][pos[j]]:
                    continue
                p2 = list(pos)
                p2[j] += 1
                if dfs(o2, p2):
                    return True
            return False

        try:
            return dfs([], [0] * m)
        except TimeoutError:
            log("     (race check gave up after %d interleavings: counted as explained)"
                % ORACLE_NODE_LIMIT)
            return None

    def race_report(self, race, seqs, obs, final, side, why):
        who = "logstord" if side == "l" else "redis-server"
        lines = ["FAIL %s: %s's outcome of a race is not one Redis allows (%s)" %
                 (self.name, who, why),
                 "     seed %d, step %d, race %s in db %d" % (self.seed, self.step,
                                                              race["name"], race["db"]),
                 "     prelude: " + "; ".join(cli(a) for a in race["prelude"])]
        for j, s in enumerate(seqs):
            lines.append("     pipe %d sent at once (command -> logstord | redis):" % j)
            for c, a, b in zip(s, obs["l"][j], obs["r"][j]):
                lines.append("       %s -> %s | %s" % (cli(c.argv), show(a), show(b)))
        lines.append("     final state (GET, has TTL) logstord | redis:")
        for k, a, b in zip(race["keys"], final["l"], final["r"]):
            lines.append("       %s: %s %s | %s %s" % (cli_arg(k), show(a[0]), a[1], show(b[0]), b[1]))
        lines.append("     replay: DIFF_SEED=%d python3 tests/integration/diff_redis.py "
                     "--scenario %s (a race may need several runs)" % (self.seed, self.name))
        return "\n".join(lines)


def resp2(reply):
    """reply as RESP2 would carry it (RESP3 null -> nil bulk), for the oracle."""
    t, v = reply
    if t == "_":
        return ("$", None)
    if t in "*~" and v is not None:
        return ("*", [resp2(x) for x in v])
    return reply


def key_groups(race, seqs):
    """Groups of race keys that commands join (a FLUSH joins all), each with, per pipe,
    the indexes of its commands."""
    keys = race["keys"]
    parent = {k: k for k in keys}

    def find(k):
        while parent[k] != k:
            k = parent[k]
        return k

    def ckeys(argv):
        k = cmd_keys(argv, 0)
        return list(keys) if k == GLOBAL else [x[1] for x in k]

    for s in seqs:
        for c in s:
            ks = ckeys(c.argv)
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
    roots = collections.OrderedDict()
    for k in keys:
        roots.setdefault(find(k), []).append(k)
    out = []
    for root, gkeys in roots.items():
        members = [[i for i, c in enumerate(s) if ckeys(c.argv) and find(ckeys(c.argv)[0]) == root]
                   for s in seqs]
        out.append((gkeys, members))
    return out


# ---- race templates: each returns {name, db, keys, prelude, seqs} ----


def race_value(gen, tag):
    if gen.big and gen.rng.random() < 0.7:
        gen.nval += 1
        return itlib.tagged_value(gen.rng.randint(20, 90) * 1024, gen.nval, tag)
    gen.nval += 1
    return b"v%d:%d" % (tag, gen.nval)


def t_nx(gen):
    rng = gen.rng
    nkeys, nr = rng.randint(6, 16), rng.choice([2, 2, 3])
    keys = [b"nx:%d" % i for i in range(nkeys)]
    seqs = []
    for r in range(nr):
        s = []
        for k in keys:
            v = race_value(gen, r)
            s.append(rng.choice([[b"SET", k, v, b"NX"], [b"SETNX", k, v], [b"SET", k, v, b"NX", b"GET"],
                                 [b"SET", k, v, b"NX", b"PX", b"100000000"],
                                 [b"MSETNX", k, v], [b"SET", k, v, b"NX", b"EXAT", b"4102444800"]]))
        if rng.random() < 0.5 and nkeys >= 2:  # an MSETNX over two keys
            a, b = rng.sample(keys, 2)
            s.append([b"MSETNX", a, race_value(gen, r), b, race_value(gen, r)])
        rng.shuffle(s)
        seqs.append(s)
    return {"name": "nx", "db": rng.choice([0, 1]), "keys": keys,
            "prelude": [[b"DEL"] + keys], "seqs": seqs}


def t_xx_del(gen):
    rng = gen.rng
    nkeys, nr = rng.randint(4, 10), rng.choice([2, 2, 3])
    keys = [b"xd:%d" % i for i in range(nkeys)]
    prelude = [[b"DEL"] + keys] + [[b"SET", k, race_value(gen, 9)] for k in keys
                                   if rng.random() < 0.8]
    seqs = []
    for r in range(nr):
        s = []
        for k in keys:
            for _ in range(rng.randint(1, 2)):
                v = race_value(gen, r)
                s.append(rng.choice([[b"SET", k, v, b"XX"], [b"SET", k, v, b"XX", b"GET"],
                                     [b"DEL", k], [b"GETDEL", k], [b"UNLINK", k], [b"SET", k, v, b"NX"],
                                     [b"SETNX", k, v], [b"EXPIRE", k, b"-1"], [b"EXISTS", k],
                                     [b"SET", k, v, b"XX", b"KEEPTTL"], [b"GETSET", k, v]]))
        rng.shuffle(s)
        seqs.append(s)
    return {"name": "xx_del", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": seqs}


def t_rmw(gen):
    rng = gen.rng
    nkeys, nr = rng.randint(3, 8), rng.choice([2, 2, 3])
    keys = [b"rmw:%d" % i for i in range(nkeys)]
    prelude = [[b"DEL"] + keys] + [[b"SET", k, rng.choice([b"10", b"-3", b"abc", b"1.5"])]
                                   for k in keys if rng.random() < 0.8]
    seqs = []
    for r in range(nr):
        s = []
        for k in keys:
            for _ in range(rng.randint(1, 2)):
                s.append(rng.choice([[b"INCR", k], [b"INCRBY", k, b"%d" % rng.randint(-9, 9)],
                                     [b"DECR", k], [b"APPEND", k, b"a%d" % r],
                                     [b"SETRANGE", k, b"%d" % rng.randint(0, 4), b"z%d" % r],
                                     [b"INCRBYFLOAT", k, b"1.5"], [b"GETSET", k, b"%d" % r],
                                     [b"GETDEL", k], [b"SET", k, b"%d" % (r + 5), b"GET"],
                                     [b"EXPIRE", k, b"100000"], [b"PERSIST", k],
                                     [b"GETEX", k, b"PX", b"100000000"], [b"STRLEN", k],
                                     [b"GET", k]]))
                if s[-1][0] == b"INCRBYFLOAT" and "incrbyfloat_nul" in KNOWN_FAILING:
                    s[-1] = [b"INCRBY", k, b"2"]  # SETRANGE pads with NULs
        rng.shuffle(s)
        seqs.append(s)
    return {"name": "rmw", "db": rng.choice([0, 1]), "keys": keys, "prelude": prelude,
            "seqs": seqs}


def t_flush(gen):
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


RACES = {"nx_race": t_nx, "xx_del_race": t_xx_del, "rmw_race": t_rmw, "flush_race": t_flush}

# ---------------------------------------------------------------------------------------
# Fixed scenarios: one command sequence on pipe 0, compared command by command.
# ---------------------------------------------------------------------------------------

FIXED = {
    "set_option_order": [
        [b"SET", b"k", b"v", b"EX", b"abc", b"NX", b"XX"], [b"SET", b"k", b"v", b"EX", b"0", b"KEEPTTL"],
        [b"SET", b"k", b"v", b"PXAT", b"-5", b"BOGUS"], [b"GET", b"k"]],
    "repeated_option": [
        [b"SET", b"k", b"v", b"EX", b"100", b"EX", b"200"], [b"TTL", b"k"],
        [b"SET", b"k", b"v", b"PXAT", b"4102444800000", b"PXAT", b"0"],
        [b"GETEX", b"k", b"EX", b"100", b"EX", b"300"], [b"TTL", b"k"],
        [b"GETEX", b"k", b"PERSIST", b"PERSIST"], [b"TTL", b"k"]],
    "getex_expire_order": [
        [b"DEL", b"nokey"], [b"GETEX", b"nokey", b"EX", b"abc"], [b"GETEX", b"nokey", b"EX", b"0"],
        [b"GETEX", b"nokey", b"PXAT", b"-5"]],
    "expire_option_order": [
        [b"SET", b"k", b"v"], [b"EXPIRE", b"k", b"abc", b"BOGUS"], [b"PEXPIRE", b"k", b"1.5", b"NX", b"XX"],
        [b"EXPIREAT", b"k", b"", b"GT", b"LT"]],
    "setrange_empty_offset": [
        [b"SET", b"k", b"v"], [b"SETRANGE", b"k", b"2000000", b""],
        [b"SETRANGE", b"k", b"9223372036854775807", b""], [b"SETRANGE", b"nokey", b"2000000", b""]],
    "scan_empty_cursor": [[b"SET", b"k", b"v"], [b"SCAN", b"", b"COUNT", b"100"]],
    "pipeline_order": [
        [b"FLUSHALL"], [b"SET", b"x", b"1"], [b"INCRBY", b"x", b"2"], [b"DEL", b"x", b"y"],
        [b"SET", b"y", b"9"], [b"GET", b"y"], [b"SET", b"a", b"1"], [b"INCR", b"a"],
        [b"MSET", b"a", b"5", b"b", b"2"], [b"EXISTS", b"b"], [b"APPEND", b"a", b"x"], [b"DEL", b"a"],
        [b"KEYS", b"*"], [b"GET", b"y"]],
    "incrbyfloat_nul": [
        [b"SET", b"k", b"\x00x"], [b"INCRBYFLOAT", b"k", b"1"], [b"SET", b"k", b"1\x00"],
        [b"INCRBYFLOAT", b"k", b"1"], [b"SET", b"k", b"1"], [b"INCRBYFLOAT", b"k", b"2\x00x"],
        [b"GET", b"k"]],
    "empty_key_scan": [
        [b"FLUSHALL"], [b"SET", b"", b"v"], [b"KEYS", b"*"], [b"SCAN_FULL"], [b"RANDOMKEY"],
        [b"DBSIZE"]],
    "flush_rmw": [
        [b"SET", b"k", b"5"], [b"INCR", b"k"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"5"], [b"APPEND", b"k", b"x"], [b"FLUSHALL"], [b"EXISTS", b"k"],
        [b"SET", b"k", b"1.5"], [b"INCRBYFLOAT", b"k", b"1"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"abc"], [b"SETRANGE", b"k", b"1", b"Z"], [b"FLUSHDB"], [b"STRLEN", b"k"],
        [b"SET", b"k", b"v"], [b"GETSET", b"k", b"w"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"v"], [b"EXPIRE", b"k", b"1000"], [b"FLUSHDB"], [b"TTL", b"k"],
    ],
}


def run_fixed(run, seq):
    """seq pipelined on pipe 0; SCAN_FULL, DBSIZE and RANDOMKEY run alone."""
    p = run.pipes[0]
    for argv in seq:
        run.step += 1
        run.ncmds += 1
        c = Cmd(argv, kind_of(argv))
        if c.kind in ("scan_full", "dbsize", "randomkey"):
            run.drain(p)
            run.scan_full(p, c) if c.kind == "scan_full" else run.run_cmd(p, c)
        else:
            run.send(p, [c])
    run.drain(p)


def run_large_value(run):
    """Churn of 16-100 KiB values among small ones on the backpressure disk, with a 500 KB
    SET every 50 batches: each must answer as Redis does (OK)."""
    p = run.pipes[0]
    rng = random.Random(run.seed)
    for rnd in range(600):
        cmds = []
        for _ in range(20):
            if rng.random() < 0.5:
                cmds.append(Cmd([b"SET", b"s%d" % rng.randrange(2000), b"s" * rng.randint(10, 3000)]))
            else:
                cmds.append(Cmd([b"SET", b"k%d" % rng.randrange(20),
                                 b"v" * rng.randint(16000, 100000)]))
        if rnd % 50 == 49:
            cmds.append(Cmd([b"SET", b"big", b"b" * 500000]))
        run.step += 1
        run.ncmds += len(cmds)
        run.send(p, cmds)
        run.drain(p)


def run_del_dup(run, seconds):
    """DEL and UNLINK with repeated keys while filler pipes keep the engine busy."""
    p = run.pipes[0]
    gen = Gen(random.Random(run.seed), True)
    t0 = time.time()
    while time.time() - t0 < seconds:
        for q in run.pipes[1:]:
            for _ in range(3):
                run.filler_batch(gen, q)
        cmds = []
        for i in range(6):
            k = b"dup:%d" % i
            cmds += [Cmd([b"SET", k, itlib.tagged_value(60000, i)]),
                     Cmd([gen.pick([b"DEL", b"UNLINK"]), k, k] + [k] * gen.rng.randint(0, 2)),
                     Cmd([b"EXISTS", k])]
        run.step += 1
        run.ncmds += len(cmds)
        run.send(p, cmds)
        run.drain_all()


def run_parked_write_read(run, seconds):
    """Filler load on every pipe; pipe 0 pipelines INCRBY x (an error: x holds no number),
    then SET x or DEL x, then GET x, behind its own filler batch, so the write parks."""
    p = run.pipes[0]
    gen = Gen(random.Random(run.seed), True)
    t0 = time.time()
    n = 0
    while time.time() - t0 < seconds:
        n += 1
        keys = [b"pw:%d" % i for i in range(4)]
        run.send(p, [Cmd([b"SET", k, itlib.tagged_value(48000, n, i)]) for i, k in enumerate(keys)])
        run.drain_all()
        for q in run.pipes:
            run.filler_batch(gen, q)
        cmds = []
        for i, k in enumerate(keys):
            cmds += [Cmd([b"INCRBY", k, b"-40"]),
                     Cmd([b"SET", k, b"new%d" % n] if i % 2 else [b"DEL", k])]
        run.send(p, cmds)
        run.send(p, [Cmd([b"GET", k]) for k in keys])
        run.step += 1
        run.ncmds += 4 + len(cmds)
        run.drain_all()


def run_expiry(run):
    """Short TTLs, read after they passed: expired keys behave as absent everywhere."""
    p = run.pipes[0]
    setup = [[b"FLUSHALL"], [b"SET", b"e1", b"v", b"PX", b"150"], [b"SET", b"e2", b"5", b"EX", b"1"],
             [b"SET", b"e3", b"v"], [b"PEXPIRE", b"e3", b"100"], [b"SETEX", b"e4", b"1", b"abc"],
             [b"PSETEX", b"e5", b"200", b"x"], [b"SET", b"keep", b"v"],
             [b"SET", b"e6", b"v", b"PX", b"100000"], [b"PEXPIRE", b"e6", b"120"],
             [b"SET", b"e7", b"v"], [b"GETEX", b"e7", b"PX", b"100"]]
    for a in setup:
        run.run_cmd(p, Cmd(a, kind_of(a)))
    time.sleep(1.3)
    after = [[b"GET", b"e1"], [b"EXISTS", b"e1", b"e2", b"e3", b"keep"], [b"TTL", b"e2"],
             [b"PTTL", b"e3"], [b"TYPE", b"e4"], [b"KEYS", b"*"], [b"SCAN_FULL"], [b"RANDOMKEY"],
             [b"INCR", b"e2"], [b"TTL", b"e2"], [b"APPEND", b"e1", b"x"], [b"TTL", b"e1"],
             [b"SETRANGE", b"e5", b"2", b"y"], [b"GET", b"e5"], [b"GETEX", b"e6", b"PERSIST"],
             [b"EXPIRE", b"e7", b"100"], [b"PERSIST", b"e3"], [b"SET", b"e4", b"n", b"XX"],
             [b"SETNX", b"e3", b"n"], [b"GETSET", b"e6", b"n"], [b"MSETNX", b"e7", b"a"],
             [b"GETDEL", b"e4"], [b"STRLEN", b"e6"], [b"DBSIZE"], [b"EXPIRETIME", b"e2"]]
    for a in after:
        run.step += 1
        c = Cmd(a, kind_of(a))
        if c.kind == "scan_full":
            run.scan_full(p, c)
        else:
            run.run_cmd(p, c)
        run.ncmds += 1


# ---------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------

# name -> (kind, logstord extra args, durability, share of DIFF_SECONDS, description)
SCENARIOS = collections.OrderedDict([
    ("random_sync", ("random", [], "sync", 0.2,
                     "random commands from 4 pipes, small values, durability sync")),
    ("random_periodic", ("random", [], "periodic", 0.15,
                         "the same with durability periodic")),
    ("backpressure_sync", ("random_bp", BACKPRESSURE, "sync", 0.25,
                           "random commands with 16-100 KiB values and filler SETs on a "
                           "24 MiB disk: writes park, compaction runs; races that pass")),
    ("backpressure_periodic", ("random_bp", BACKPRESSURE, "periodic", 0.15,
                               "the same with durability periodic")),
    ("rmw_race", ("race", BACKPRESSURE, "sync", 0.08,
                  "INCR/APPEND/SETRANGE/GETDEL/SET GET/... racing on the same keys")),
    ("nx_race", ("race", BACKPRESSURE, "sync", 0.07,
                 "SET NX/SETNX/MSETNX/SET NX GET racing on the same fresh keys")),
    ("xx_del_race", ("race", BACKPRESSURE, "sync", 0.05,
                     "SET XX/NX/GETSET racing DEL/GETDEL/EXPIRE -1 on the same keys")),
    ("flush_race", ("race", BACKPRESSURE, "sync", 0.05,
                    "FLUSHDB/FLUSHALL racing read-modify-writes of another pipe")),
    ("flush_rmw", ("fixed", [], "sync", 0, "SET k 5; INCR k; FLUSHDB; GET k and variants, "
                   "one pipeline")),
    ("expiry", ("expiry", [], "sync", 0, "short TTLs read after they passed")),
    ("parked_write_read", ("parked_write_read", BACKPRESSURE, "periodic", 0.03,
                           "INCRBY x; SET/DEL x; GET x behind a parked filler batch")),
    ("del_dup_parked", ("del_dup", BACKPRESSURE, "sync", 0.03,
                        "DEL/UNLINK k k while the engine is busy")),
    ("large_value_busy", ("large_value", BACKPRESSURE + ["--busy_timeout_ms", "3000"], "sync", 0,
                          "500 KB SETs among 16-100 KiB churn on the 24 MiB disk")),
])
for _n in FIXED:
    if _n not in SCENARIOS:
        SCENARIOS[_n] = ("fixed", [], "sync", 0, KNOWN_FAILING.get(_n, "fixed sequence"))


def avoid_rules(active_known):
    cmd = [AVOID_CMD[n] for n in active_known if n in AVOID_CMD]
    batch = [AVOID_BATCH[n] for n in active_known if n in AVOID_BATCH]
    keys = [k for n in active_known for k in AVOID_KEYS.get(n, ())]
    return cmd, batch, keys


def run_scenario(name, seed, seconds):
    """Runs one scenario; returns True when it passed."""
    kind, extra, durability, _, desc = SCENARIOS[name]
    rng = random.Random("%d:%s" % (seed, name))
    servers = start_servers(extra, durability)
    log("-- %s (%s): logstord --durability %s %s on %d, redis-server on %d, seed %d" %
        (name, desc, durability, " ".join(extra), servers[0].port, servers[1].port, seed))
    run = None
    t0 = time.time()
    ok = True
    try:
        run = Run(name, seed, servers)
        parked0 = info_field(servers[0].port, "busy_writes_parked") or 0
        big = kind in ("random_bp", "race")
        gen = Gen(rng, big, *avoid_rules(KNOWN_FAILING))
        if kind in ("random", "random_bp"):
            races = [RACES[n] for n in RACES if n not in KNOWN_FAILING]
            while time.time() - t0 < seconds:
                try:
                    if races and rng.random() < 0.03:
                        run.race_step(gen, rng.choice(races), kind == "random_bp")
                    else:
                        run.random_step(gen, kind == "random_bp")
                except Divergence as e:
                    if not KEEP_GOING:
                        raise
                    log(str(e))
                    ok = False
                    run.resync()
            run.drain_all()
        elif kind == "race":
            deadline = t0 + seconds
            while time.time() < deadline or run.races < 3:
                run.race_step(gen, RACES[name], True)
        elif kind == "fixed":
            run_fixed(run, FIXED[name])
        elif kind == "expiry":
            run_expiry(run)
        elif kind == "del_dup":
            run_del_dup(run, max(seconds, 3))
        elif kind == "parked_write_read":
            run_parked_write_read(run, max(seconds, 3))
        elif kind == "large_value":
            run_large_value(run)
        parked = (info_field(servers[0].port, "busy_writes_parked") or 0) - parked0
        if BACKPRESSURE[0] in extra and parked == 0:
            log("FAIL %s: no write parked (INFO busy_writes_parked did not grow): the load did "
                "not reach the backpressure path this scenario is for" % name)
            ok = False
        log("     %s: %d steps, %d commands, %d races, %d writes parked, %.1f s" %
            (name, run.step, run.ncmds, run.races, parked, time.time() - t0))
    except Divergence as e:
        log(str(e))
        ok = False
    except (OSError, ProtocolError) as e:
        log("FAIL %s: seed %d step %d: %s: %s" % (name, seed, run.step if run else 0,
                                                 type(e).__name__, e))
        if run:
            log("\n".join(run.histories()))
        for s, who in zip(servers, ("logstord", "redis-server", "oracle redis-server")):
            rc = s.proc.poll() if s.proc else None
            if rc is not None:
                log("     %s DIED with status %s" % (who, rc))
        log_tail(servers[0])
        ok = False
    finally:
        if run:
            run.close()
        stop_servers(servers)
    log("%s %s" % ("ok  " if ok else "FAIL", name))
    return ok


def log_tail(srv):
    try:
        with open(srv.logpath, "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        if tail:
            log("     logstord log tail:\n" + tail)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None,
                    help="budget of the timed scenarios together (default 60)")
    ap.add_argument("--scenario", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--trace", metavar="FILE", help="write every compared command to FILE")
    ap.add_argument("--keep-going", action="store_true",
                    help="random scenarios: after a divergence, empty both servers and go on")
    args = ap.parse_args()
    global KEEP_GOING, TRACE
    KEEP_GOING = args.keep_going
    if args.trace:
        TRACE = open(args.trace, "w")
    if args.list:
        for n, (_, _, _, _, desc) in SCENARIOS.items():
            log("%-22s %s%s" % (n, desc, ("\n%22s KNOWN FAILING: %s" % ("", KNOWN_FAILING[n]))
                                if n in KNOWN_FAILING else ""))
        return 0
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("LOGSTORD", os.path.join(root, "build", "logstord"))
    if itlib.IS_REAL:
        itlib.skip("diff_redis: TARGET=redis: this test compares logstord with redis-server")
        return 0
    if shutil.which("redis-server") is None:
        log("FAIL diff_redis: redis-server is not installed (scripts/deps.sh installs it)")
        return 1
    seed = args.seed if args.seed is not None else int(os.environ.get("DIFF_SEED") or 0) or \
        int.from_bytes(os.urandom(4), "little")
    seconds = args.seconds if args.seconds is not None else float(os.environ.get("DIFF_SECONDS", "60"))
    names = args.scenario or [n for n in os.environ.get("DIFF_SCENARIOS", "").split(",") if n]
    if not names:
        names = [n for n in SCENARIOS if n not in KNOWN_FAILING]
    for n in names:
        if n not in SCENARIOS:
            log("FAIL diff_redis: no scenario %r (--list shows them)" % n)
            return 1
    share = sum(SCENARIOS[n][3] for n in names) or 1.0
    itlib.begin("diff_redis", time_limit_s=int(seconds * 2 + 60 * len(names) + 60))
    log("diff_redis: seed %d (replay: DIFF_SEED=%d), %.0f s over %s" %
        (seed, seed, seconds, ", ".join(names)))
    failed = [n for n in names if not run_scenario(n, seed, seconds * SCENARIOS[n][3] / share)]
    skipped = [n for n in SCENARIOS if n not in names and n in KNOWN_FAILING]
    if skipped:
        log("diff_redis: known failing, not run: %s (--scenario NAME runs one)" % ", ".join(skipped))
    if failed:
        log("diff_redis: FAILED %s (seed %d)" % (", ".join(failed), seed))
        return 1
    log("diff_redis: all %d scenarios passed (seed %d)" % (len(names), seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
