"""diff_redis.py - differential test: seeded random command sequences from several
connections, sent to logstord and to redis-server 7.0, replies compared (run by
diff_redis.sh; the command model is in diffcmds.py).

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
  FLUSHDB or FLUSHALL among read-modify-writes (flush_race), SETBIT / BITFIELD INCRBY /
  BITOP / PFADD / PFMERGE / PFCOUNT on shared keys (bits_race), RENAME / RENAMENX / COPY
  among reads and SET NX of the same few keys (rename_race). Replies are then not compared
  with Redis's; the test asks whether some interleaving of the pipes' sequences (each in
  its own order) explains every reply logstord gave and the keys' final state (value,
  has a TTL), as Redis's semantics demand: one NX winner, an INCR that ran before a
  FLUSHDB is gone after it, and so on. The oracle is a third redis-server: the search
  replays candidate interleavings on it, depth first, cutting a branch at the first reply
  that differs, separately for each group of commands that share keys (a FLUSH joins
  all). The same search runs on the reference Redis's replies, as a check of the checker.
  Filler pipes pipeline large plain SETs on keys of their own meanwhile.

Backpressure
  The backpressure and race scenarios run logstord with BACKPRESSURE (a 24 MiB disk of
  4 MiB files, 4 write buffers, max_pending_bytes 1mb: the settings busy_writes.py and
  compaction_stall.py use to reach parked writes and compaction) and values of 16-100
  KiB; such a scenario fails unless INFO busy_writes_parked grew, since otherwise it
  tested nothing it claims to.

Normalizations (the only replies not compared byte for byte)
  - TTL / EXPIRETIME: within 2 s, PTTL / PEXPIRETIME within 2500 ms, when both are >= 0
    (each server reads its own clock; -1 and -2 compare exactly). No relative TTL shorter
    than 1000 s is drawn outside the expiry scenario, so nothing expires on its own, and
    GT / LT go only with absolute times (a relative one could tie with the key's TTL).
  - KEYS: compared as sorted lists (the order is each server's hash or token order).
  - SCAN: the cursor is the engine's token, not Redis's, so SCAN is run to completion on
    both (SCAN_FULL) and the sets of keys returned are compared; a single SCAN is drawn
    only in its error forms, compared exactly.
  - RANDOMKEY: nil on both, or logstord's key exists (EXISTS on Redis right after).
  - DBSIZE: both count keys whose expiry passed until they are reclaimed, each on its
    own schedule, so a different DBSIZE is allowed when logstord's count lies between the
    live keys (KEYS * on Redis) and the larger of Redis's count and the live keys plus
    those the scenario gave a TTL that passed (only the expiry scenario has any).
  - HELLO: errors compared exactly; a reply is compared on its proto field only (server
    version and client id differ by nature).
  - "ERR string exceeds maximum allowed size (...)": the parenthesis names each server's
    own limit (max_value_size, proto-max-bulk-len); the rest compares exactly.
  - DUMP: byte for byte, except where Redis LZF-compressed the string (logstord never
    compresses): then both payloads must hold the same string.
  - OBJECT ENCODING: logstord says what SET would make of the value (int, embstr, raw);
    Redis says "raw" for a value APPEND or SETRANGE built and "embstr" for INCRBYFLOAT's,
    so those two answers are allowed where logstord says embstr or int. OBJECT REFCOUNT:
    Redis's 1 for an integer 0..9999 it did not share (COPY, APPEND, INCRBYFLOAT) is
    allowed where logstord says 2147483647. OBJECT IDLETIME: any count on both (logstord
    keeps no access clock and says 0). MEMORY USAGE: any count on both (sizes differ by
    nature), and Redis's count where logstord says nil when Redis no longer has the key
    (Redis's MEMORY USAGE finds a key whose expiry passed until it is reclaimed). Other
    nils and errors compare exactly.
  - INFO, TIME, LASTSAVE, CLIENT ID/LIST/INFO/KILL, COMMAND, CONFIG, SAVE, SHUTDOWN and
    QUIT are not drawn (their replies describe the server or end the connection).
  Documented differences are not drawn: values over max_value_size (bit offsets past it
  included), keys over max_key_size, Redis types other than strings; LCS only with small
  values (its table is O(len1 * len2) on both servers).

Scenarios: `--list` prints them. By default (make test) every scenario runs except those
in KNOWN_FAILING, each a divergence seen on main with the defect it shows; the random
scenarios also avoid drawing the inputs of a known failing scenario (its avoid rule in
diffcmds.py), so the default run passes on main and finds whatever else diverges. When a
fix lands, remove its name from KNOWN_FAILING: its scenario joins the default run and the
random scenarios draw its inputs again.

  python3 tests/integration/diff_redis.py [--seed N] [--seconds S] [--scenario NAME ...]
        [--fixed NAME ...] [--list] [--trace FILE] [--keep-going]
  env: DIFF_SEED, DIFF_SECONDS (budget of the timed scenarios together, default 60),
       DIFF_SCENARIOS (names, comma separated), DIFF_HISTORY (commands per pipe printed)

On a divergence it prints the seed, scenario, pipe, command, both replies, the last
commands of every pipe and what was still in flight, ends that scenario, runs the others
and exits 1.
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
from diffcmds import (FILLER_DB, GLOBAL, RACES, Cmd, Gen, cli, cli_arg, cmd_keys, next_db,
                      payload, payload_value, show)

# ---------------------------------------------------------------------------------------
# KNOWN FAILING: scenario -> the defect it shows on main. Left out of the default run, and
# the random scenarios avoid their inputs. Remove a name when its fix lands.
# ---------------------------------------------------------------------------------------
KNOWN_FAILING = {
    # none open: each scenario above was one, and runs by default since its fix landed
}
# Divergences by design (README): excluded like the known failures, never 'fixed'.
BY_DESIGN = {
    "expire_44bit": "logstord keeps expiries up to 2^44 - 1 ms (year 2527) and refuses later "
                    "ones with 'ERR invalid expire time' (Redis keeps them; they were cut to "
                    "44 bits, issue 11 item 3)",
}
KNOWN_FAILING.update(BY_DESIGN)

PIPES = 4
HISTORY = int(os.environ.get("DIFF_HISTORY", "12"))
READ_TIMEOUT_S = 90  # a parked write may wait busy_timeout_ms (30 s) before it fails
ORACLE_NODE_LIMIT = 4000
TOO_BIG = "ERR string exceeds maximum allowed size ("
BACKPRESSURE = ["--disk_size", "24mb", "--file_size", "4mb", "--write_buffers", "4",
                "--max_pending_bytes", "1mb"]
KEEP_GOING = False  # --keep-going
TRACE = None        # --trace FILE: every compared command, to find where states parted


class Divergence(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------


RedisServer = itlib.RedisServer


def start_servers(extra, durability):
    """(logstord, reference redis-server, oracle redis-server), started."""
    return (itlib.Server("redis", extra=extra, durability=durability).start(),
            RedisServer("redis").start(), RedisServer("redis").start())


def stop_servers(servers):
    for s in servers:
        rc = s.stop()
        s.cleanup()
        if rc not in (0, None) and s is servers[0]:
            log("     logstord exited with status %s" % rc)


def info(port):
    """INFO all of the server on port, as a dict."""
    c = Resp(port, timeout=READ_TIMEOUT_S)
    try:
        text = c.call("INFO", "all")[1].decode()
    finally:
        c.close()
    return dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)


# ---------------------------------------------------------------------------------------
# Pipes and runs
# ---------------------------------------------------------------------------------------


class Pipe:
    """Connection idx on each server: l (logstord), r (redis-server)."""

    def __init__(self, idx, lport, rport):
        self.idx = idx
        self.l = Resp(lport, timeout=READ_TIMEOUT_S)
        self.r = Resp(rport, timeout=READ_TIMEOUT_S)
        self.db = 0
        self.unread = collections.deque()  # batches sent, replies not read: (step, [Cmd], t)
        self.hist = collections.deque(maxlen=HISTORY)  # (step, Cmd, logstord, redis)

    def close(self):
        self.l.close()
        self.r.close()

    def footprint(self):
        out = set()
        for _, batch, _ in self.unread:
            for c in batch:
                if c.keys == GLOBAL:
                    return GLOBAL
                out.update(c.keys)
        return out

    def in_flight(self):
        """The argv of its unread commands after a SELECT of the first one's database (what
        the avoid rules of batches look at)."""
        db = self.unread[0][1][0].db if self.unread else self.db
        return [[b"SELECT", b"%d" % db]] + [c.argv for _, cmds, _ in self.unread for c in cmds]


class Run:
    """One scenario against one logstord, one reference and one oracle redis-server."""

    def __init__(self, name, seed, servers):
        self.name = name
        self.seed = seed
        self.lsrv, self.rsrv, self.osrv = servers
        self.pipes = [Pipe(i, self.lsrv.port, self.rsrv.port) for i in range(PIPES)]
        self.oracle = Resp(self.osrv.port, timeout=READ_TIMEOUT_S)
        self.step = self.ncmds = self.races = 0
        self.batch_s = 0.0
        self.rest = ()  # the commands after the one compared, in its batch
        self.failed = False  # a divergence was reported and passed over (--keep-going)
        self.short_ttls = 0  # keys given a TTL that passes during the scenario (DBSIZE)
        for p in self.pipes[1::2]:
            self.run_cmd(p, Cmd([b"HELLO", b"3"]))

    def close(self):
        for p in self.pipes:
            p.close()
        self.oracle.close()

    # ---- sending and draining ----
    def send(self, p, cmds):
        """Sends a batch on pipe p of both servers; notes each command's database and keys."""
        for c in cmds:
            c.db = p.db
            c.keys = cmd_keys(c.argv, p.db)
            p.db = next_db(p.db, c.argv)
        data = b"".join(encode(*c.argv) for c in cmds)
        p.l.send(data)
        p.r.send(data)
        p.unread.append((self.step, cmds, time.time()))
        self.ncmds += len(cmds)

    def drain(self, p):
        """Reads and compares the replies of p's unread batches (a whole batch is read
        before the first difference in it is reported)."""
        while p.unread:
            step, cmds, sent = p.unread.popleft()
            ra = [p.l.read() for _ in cmds]
            rb = [p.r.read() for _ in cmds]
            self.batch_s = time.time() - sent
            for i, (c, a, b) in enumerate(zip(cmds, ra, rb)):
                self.rest = cmds[i + 1:]  # what the batch did after c (expired_in_redis)
                p.hist.append((step, c, a, b))
                if TRACE:
                    TRACE.write("%d p%d db%s: %s -> %s | %s\n" %
                                (step, p.idx, c.db, cli(c.argv), show(a), show(b)))
                why = self.compare(p, c, a, b)
                if why:
                    self.diverge(p, c, a, b, why, cmds[i + 1:], step)

    def drain_all(self):
        for p in self.pipes:
            self.drain(p)

    def drain_conflicts(self, p, keys):
        """Drains the other pipes whose unread batches overlap keys (a set or GLOBAL)."""
        for q in self.pipes:
            if q is not p and q.unread:
                fp = q.footprint()
                if keys == GLOBAL or fp == GLOBAL or fp & keys:
                    self.drain(q)

    def run_cmd(self, p, c):
        """Sends one command and compares its replies at once."""
        self.drain(p)
        self.send(p, [c])
        self.drain(p)

    def resync(self):
        """After a divergence (--keep-going): nothing in flight, both servers emptied."""
        for p in self.pipes:
            while p.unread:
                _, cmds, _ = p.unread.popleft()
                for _ in cmds:
                    p.l.read()
                    p.r.read()
        for conn in (self.pipes[0].l, self.pipes[0].r):
            conn.call("FLUSHALL")

    # ---- comparison ----
    def compare(self, p, c, a, b):
        """None when logstord's reply a agrees with Redis's b, else why not."""
        if a[0] == b[0] == "-" and a[1].startswith(TOO_BIG) and b[1].startswith(TOO_BIG):
            return None
        if c.kind == "exact" or a[0] == "-" or b[0] == "-":
            return None if a == b else "replies differ"
        if c.kind in ("ttl_s", "ttl_ms"):
            tol = 2 if c.kind == "ttl_s" else 2500
            if a[0] == b[0] == ":" and (a[1] == b[1] or min(a[1], b[1]) >= 0 and
                                        abs(a[1] - b[1]) <= tol):
                return None
            return "TTLs differ by more than %d" % tol
        if c.kind == "sorted":
            return None if a[0] == b[0] and sorted(a[1]) == sorted(b[1]) else "KEYS differ as sets"
        if c.kind == "randomkey":
            return self.check_randomkey(p, a, b)
        if c.kind == "dbsize":
            return self.check_dbsize(p, a, b)
        if c.kind == "hello":
            return None if a[0] == b[0] and hello_proto(a) == hello_proto(b) else \
                "HELLO replies differ in kind or proto"
        return self.compare_keyspace(p, c, a, b)

    def compare_keyspace(self, p, c, a, b):
        """The normalizations of DUMP, OBJECT and MEMORY USAGE (top comment)."""
        if a == b:
            return None
        if c.kind == "memusage" and a[1] is None and b[0] == ":":
            return None if expired_in_redis(self.rsrv.port, p, c, self.rest) else \
                "MEMORY USAGE: nil, Redis counts the key"
        if c.kind == "dump":
            same = a[0] == b[0] == "$" and a[1] is not None and b[1] is not None and \
                b[1][1:2] == b"\xc3" and payload_value(a[1]) == payload_value(b[1])
            return None if same else "DUMP payloads differ (and not by Redis's LZF alone)"
        if c.kind == "encoding":
            ok = a[0] == b[0] == "$" and (b[1], a[1]) in (
                (b"raw", b"embstr"), (b"raw", b"int"), (b"embstr", b"int"))
            return None if ok else "OBJECT ENCODING differs beyond APPEND/SETRANGE/INCRBYFLOAT's"
        if c.kind == "refcount":
            ok = a == (":", 2147483647) and b == (":", 1)
            return None if ok else "OBJECT REFCOUNT differs beyond an unshared integer's"
        if c.kind in ("idletime", "memusage"):
            ok = a[0] == b[0] == ":" and a[1] >= 0 and b[1] >= 0
            return None if ok else "%s: not both a count" % cli(c.argv[:2])
        raise AssertionError(c.kind)

    @staticmethod
    def check_randomkey(p, a, b):
        if a[0] != b[0] or (a[1] is None) != (b[1] is None):
            return "RANDOMKEY: one is nil, the other not"
        r = p.r.call("EXISTS", a[1]) if a[1] is not None else (":", 1)
        return None if r == (":", 1) else "RANDOMKEY: logstord's key is not in Redis"

    def check_dbsize(self, p, a, b):
        if a == b:
            return None
        live = p.r.call("KEYS", "*")
        n = len(live[1]) if live[0] == "*" else -1
        if a[0] == b[0] == ":" and n <= a[1] <= max(b[1], n + self.short_ttls):
            return None
        return "DBSIZE outside [live keys %d, max(Redis's count, live + %d keys with a short " \
            "TTL)]" % (n, self.short_ttls)

    # ---- reports ----
    def diverge(self, p, c, a, b, why, rest, step):
        lines = ["FAIL %s: logstord and redis-server diverge (%s)" % (self.name, why),
                 "     seed %d, step %d, pipe %d (db %s)" % (self.seed, step, p.idx, c.db),
                 "     command   %s   (its batch answered %.1f s after it was sent)" %
                 (cli(c.argv), self.batch_s),
                 "     logstord  %s" % show(a),
                 "     redis     %s" % show(b)]
        if rest:
            lines.append("     (then in the same batch: %s)" % "; ".join(cli(x.argv) for x in rest))
        lines.append("     logstord INFO: " + self.engine_state())
        lines += self.histories()
        lines.append("     replay: DIFF_SEED=%d python3 tests/integration/diff_redis.py "
                     "--scenario %s" % (self.seed, self.name))
        raise Divergence("\n".join(lines))

    def engine_state(self):
        """The engine's space and backpressure figures, for a report."""
        try:
            i = info(self.lsrv.port)
        except (OSError, ProtocolError) as e:
            return "unavailable (%s)" % e
        return " ".join("%s:%s" % (k, i.get(k)) for k in (
            "segments_total", "segments_free", "live_bytes", "busy_writes_parked",
            "busy_write_timeouts", "compaction_runs"))

    def histories(self):
        lines = []
        for q in self.pipes:
            lines.append("     pipe %d, last %d commands (step: command -> logstord | redis):"
                         % (q.idx, len(q.hist)))
            for step, c, a, b in q.hist:
                lines.append("       %4d: %s -> %s | %s" % (step, cli(c.argv), show(a), show(b)))
            pend = [c for _, cmds, _ in q.unread for c in cmds]
            if pend:
                lines.append("       still in flight: " + "; ".join(cli(c.argv) for c in pend[:12]))
        return lines

    # ---- steps ----
    def random_step(self, gen, fillers):
        """One step of the random scenarios: a batch, a filler batch or a whole-database
        command, then now and then a pipe drained (all drawn from the seed)."""
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
        cmds = [Cmd(a) for a in gen.batch(p.in_flight())]
        db, keys = p.db, set()
        for c in cmds:
            k = cmd_keys(c.argv, db)
            if k == GLOBAL:
                keys = GLOBAL
                break
            keys.update(k)
            db = next_db(db, c.argv)
        self.drain_conflicts(p, keys)
        self.send(p, cmds)

    def global_step(self, gen, p):
        c = Cmd(gen.global_cmd())
        self.drain_all()
        if c.kind == "scan_full":
            self.scan_full(p, c)
        else:
            self.run_cmd(p, c)

    def filler_batch(self, gen, p):
        """Plain SETs of large values on keys of p's own, in FILLER_DB."""
        cmds = [Cmd(a) for a in [[b"SELECT", b"%d" % FILLER_DB]] + gen.filler(p.idx) +
                [[b"SELECT", b"%d" % p.db]]]
        self.drain_conflicts(p, {(FILLER_DB, c.argv[1]) for c in cmds[1:-1]})
        self.send(p, cmds)

    def scan_full(self, p, c):
        """SCAN from cursor 0 until 0 on both servers; compares the sets of keys."""
        self.ncmds += 1
        got = []
        for conn in (p.l, p.r):
            cursor, keys = b"0", set()
            for _ in range(100000):
                rep = conn.call("SCAN", cursor, *c.argv[1:])
                if rep[0] != "*" or len(rep[1]) != 2:
                    keys = rep
                    break
                cursor = rep[1][0][1]
                keys.update(x[1] for x in rep[1][1][1])
                if cursor == b"0":
                    break
            got.append(("*", sorted(keys)) if isinstance(keys, set) else keys)
        c.db = p.db
        p.hist.append((self.step, c, got[0], got[1]))
        if got[0] != got[1]:
            self.diverge(p, c, got[0], got[1], "a full SCAN returns other keys", (), self.step)

    # ---- races ----
    def race_step(self, gen, template, fillers):
        """One race (see the top comment): raises Divergence when logstord's outcome is not
        one Redis's semantics allow. Both servers end with the race's keys deleted."""
        self.step += 1
        self.races += 1
        self.drain_all()
        race = template(gen)
        racers, others = self.pipes[:len(race["seqs"])], self.pipes[len(race["seqs"]):]
        for p in racers:
            self.run_cmd(p, Cmd([b"SELECT", b"%d" % race["db"]]))
        self.send(racers[0], [Cmd(a) for a in race["prelude"]])
        self.drain(racers[0])
        if fillers:
            for q in others:
                self.filler_batch(gen, q)
        seqs = [[Cmd(a) for a in s] for s in race["seqs"]]
        obs = {"l": [], "r": []}
        for side in ("l", "r"):  # all racers of one server at once, then the other's
            for p, s in zip(racers, seqs):
                getattr(p, side).send(b"".join(encode(*c.argv) for c in s))
        for p, s in zip(racers, seqs):
            for side in ("l", "r"):
                obs[side].append([resp2(getattr(p, side).read()) for _ in s])
            p.hist.extend((self.step, c, a, b) for c, a, b in zip(s, obs["l"][-1], obs["r"][-1]))
            self.ncmds += len(s)
        for q in others:
            self.drain(q)
        final = {side: final_state(getattr(racers[0], side), race["keys"]) for side in "lr"}
        for side, who in (("r", "redis-server"), ("l", "logstord")):
            why = self.unexplained(race, seqs, obs[side], final[side])
            if why:
                raise Divergence(self.race_report(race, seqs, obs, final, who, why))
        for conn in (racers[0].l, racers[0].r):
            conn.call("DEL", *race["keys"])

    def unexplained(self, race, seqs, obs, final):
        """None if, for every group of keys, some interleaving explains obs and final;
        else which group none explains."""
        for gkeys, members in key_groups(race["keys"], seqs):
            gseqs = [[seqs[j][i].argv for i in idxs] for j, idxs in enumerate(members)]
            gobs = [[obs[j][i] for i in idxs] for j, idxs in enumerate(members)]
            gfinal = [final[race["keys"].index(k)] for k in gkeys]
            head = [[b"FLUSHALL"], [b"SELECT", b"%d" % race["db"]]] + \
                [a for a in race["prelude"] if a[0] == b"DEL" or a[1] in gkeys]
            if Oracle(self.oracle, head, gseqs, gobs, gkeys, gfinal).search() is False:
                return "no interleaving explains the keys %s" % ", ".join(map(cli_arg, gkeys))
        return None

    def race_report(self, race, seqs, obs, final, who, why):
        lines = ["FAIL %s: %s's outcome of a race is not one Redis allows (%s)" %
                 (self.name, who, why),
                 "     seed %d, step %d, race %s in db %d" % (self.seed, self.step, race["name"],
                                                              race["db"]),
                 "     prelude: " + "; ".join(cli(a) for a in race["prelude"])]
        for j, s in enumerate(seqs):
            lines.append("     pipe %d sent at once (command -> logstord | redis):" % j)
            lines += ["       %s -> %s | %s" % (cli(c.argv), show(a), show(b))
                      for c, a, b in zip(s, obs["l"][j], obs["r"][j])]
        lines.append("     final state (GET, has a TTL) logstord | redis:")
        lines += ["       %s: %s %s | %s %s" % (cli_arg(k), show(a[0]), a[1], show(b[0]), b[1])
                  for k, a, b in zip(race["keys"], final["l"], final["r"])]
        if who == "redis-server":
            lines.append("     (the checker rejected redis-server's own outcome: a test bug)")
        lines.append("     replay: DIFF_SEED=%d python3 tests/integration/diff_redis.py "
                     "--scenario %s (a race may need several runs)" % (self.seed, self.name))
        return "\n".join(lines)


def expired_in_redis(port, p, c, rest=()):
    """Whether Redis no longer has the key c names (Redis's MEMORY USAGE finds a key whose
    expiry passed but that is not yet reclaimed). Asked on a connection of its own, so
    it sees the state after the rest of c's batch and the batches p sent since: when one
    of those names the key too (seed 1620415738: an MSETNX of it later in the same batch),
    the question has no answer and c is let pass."""
    key = (c.db, c.argv[2])
    if any(x.keys == GLOBAL or key in x.keys for x in rest) or \
            any(x.keys == GLOBAL or key in x.keys for _, cmds, _ in p.unread for x in cmds):
        return True
    x = Resp(port, timeout=READ_TIMEOUT_S)
    try:
        x.call("SELECT", c.db)
        return x.call("EXISTS", c.argv[2]) == (":", 0)
    finally:
        x.close()


def hello_proto(reply):
    """The proto field of a HELLO reply (a RESP3 map or a RESP2 flat array)."""
    pairs = reply[1] if reply[0] == "%" else zip(reply[1][::2], reply[1][1::2])
    return next((v for k, v in pairs if k[1] == b"proto"), None)


def resp2(reply):
    """reply as RESP2 carries it (RESP3 null -> nil bulk), to compare with the oracle's."""
    t, v = reply
    if t == "_":
        return ("$", None)
    if t in "*~" and v is not None:
        return ("*", [resp2(x) for x in v])
    return reply


def final_state(conn, keys):
    """[(GET reply, has a TTL)] of keys."""
    conn.send(b"".join(encode("GET", k) + encode("PTTL", k) for k in keys))
    reps = [resp2(conn.read()) for _ in range(2 * len(keys))]
    return [(reps[2 * i], reps[2 * i + 1][1] >= 0) for i in range(len(keys))]


def key_groups(keys, seqs):
    """[(keys of a group, per pipe the indexes of its commands)] for the groups of keys
    that commands join (a whole-database command joins all)."""
    parent = {k: k for k in keys}

    def find(k):
        while parent[k] != k:
            k = parent[k]
        return k

    def named(argv):
        ks = cmd_keys(argv, 0)
        return list(keys) if ks == GLOBAL else [k for _, k in ks]

    for s in seqs:
        for c in s:
            ks = named(c.argv)
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
    roots = collections.OrderedDict()
    for k in keys:
        roots.setdefault(find(k), []).append(k)
    return [(gkeys, [[i for i, c in enumerate(s) if named(c.argv) and find(named(c.argv)[0]) == root]
                     for s in seqs]) for root, gkeys in roots.items()]


class Oracle:
    """Depth-first search on the oracle redis-server for an interleaving of seqs (each in
    its own order) that gives the replies obs and the final state; head resets the state.
    Each node replays head and its prefix: simple, and cheap at these sizes."""

    def __init__(self, conn, head, seqs, obs, keys, final):
        self.conn, self.head, self.seqs, self.obs = conn, head, seqs, obs
        self.keys, self.final = keys, final
        self.nodes = 0

    def replay(self, order, leaf):
        cmds = self.head + [self.seqs[j][i] for j, i in order]
        tail = [x for k in self.keys for x in ([b"GET", k], [b"PTTL", k])] if leaf else []
        self.conn.send(b"".join(encode(*c) for c in cmds + tail))
        reps = [self.conn.read() for _ in cmds + tail]
        return reps[len(cmds) - 1], reps[len(cmds):]

    def dfs(self, order, pos):
        if all(p == len(s) for p, s in zip(pos, self.seqs)):
            _, tail = self.replay(order, True)
            return [(tail[2 * i], tail[2 * i + 1][1] >= 0) for i in range(len(self.keys))] == \
                self.final
        for j, s in enumerate(self.seqs):
            if pos[j] == len(s):
                continue
            self.nodes += 1
            if self.nodes > ORACLE_NODE_LIMIT:
                raise TimeoutError
            o2 = order + [(j, pos[j])]
            if self.replay(o2, False)[0] == self.obs[j][pos[j]] and \
                    self.dfs(o2, pos[:j] + [pos[j] + 1] + pos[j + 1:]):
                return True
        return False

    def search(self):
        """True or False; None when ORACLE_NODE_LIMIT nodes did not settle it (logged,
        and counted as explained)."""
        try:
            return self.dfs([], [0] * len(self.seqs))
        except TimeoutError:
            log("     (a race check gave up after %d interleavings)" % ORACLE_NODE_LIMIT)
            return None


# ---------------------------------------------------------------------------------------
# Scenario bodies
# ---------------------------------------------------------------------------------------

# fixed sequences, pipelined on pipe 0 and compared command by command
FIXED = {
    "flush_rmw": [
        [b"SET", b"k", b"5"], [b"INCR", b"k"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"5"], [b"APPEND", b"k", b"x"], [b"FLUSHALL"], [b"EXISTS", b"k"],
        [b"SET", b"k", b"1.5"], [b"INCRBYFLOAT", b"k", b"1"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"abc"], [b"SETRANGE", b"k", b"1", b"Z"], [b"FLUSHDB"], [b"STRLEN", b"k"],
        [b"SET", b"k", b"v"], [b"GETSET", b"k", b"w"], [b"FLUSHDB"], [b"GET", b"k"],
        [b"SET", b"k", b"v"], [b"EXPIRE", b"k", b"1000"], [b"FLUSHDB"], [b"TTL", b"k"]],
    "pipeline_order": [
        [b"FLUSHALL"], [b"SET", b"x", b"1"], [b"INCRBY", b"x", b"2"], [b"DEL", b"x", b"y"],
        [b"SET", b"y", b"9"], [b"GET", b"y"], [b"SET", b"a", b"1"], [b"INCR", b"a"],
        [b"MSET", b"a", b"5", b"b", b"2"], [b"EXISTS", b"b"], [b"APPEND", b"a", b"x"], [b"DEL", b"a"],
        [b"KEYS", b"*"], [b"GET", b"y"]],
    "hello_pipeline": [
        [b"SET", b"a", b"xxxxxxx"], [b"HELLO", b"2"], [b"MGET", b"a", b"nokey"], [b"HELLO", b"3"],
        [b"MGET", b"a", b"nokey"], [b"HELLO", b"2"], [b"RESET"], [b"MGET", b"a", b"nokey"]],
    "expire_44bit": [
        [b"SET", b"k", b"v", b"PXAT", b"17592186045416"], [b"GET", b"k"], [b"PTTL", b"k"],
        [b"SET", b"k", b"v", b"PXAT", b"35184372088832"], [b"PEXPIRETIME", b"k"],
        [b"SET", b"k", b"v"], [b"EXPIREAT", b"k", b"17592186045"], [b"EXISTS", b"k"]],
    "empty_key_scan": [
        [b"FLUSHALL"], [b"SET", b"", b"v"], [b"KEYS", b"*"], [b"SCAN_FULL"], [b"RANDOMKEY"],
        [b"DBSIZE"]],
    "incrbyfloat_nul": [
        [b"SET", b"k", b"\x00x"], [b"INCRBYFLOAT", b"k", b"1"], [b"SET", b"k", b"1\x00"],
        [b"INCRBYFLOAT", b"k", b"1"], [b"SET", b"k", b"1"], [b"INCRBYFLOAT", b"k", b"2\x00x"],
        [b"GET", b"k"]],
    "client_kill_skipme": [
        [b"SET", b"k", b"v"], [b"CLIENT", b"KILL", b"SKIPME", b"maybe"], [b"GET", b"k"]],
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
        [b"SET", b"k", b"v"], [b"EXPIRE", b"k", b"abc", b"BOGUS"],
        [b"PEXPIRE", b"k", b"1.5", b"NX", b"XX"], [b"EXPIREAT", b"k", b"", b"GT", b"LT"]],
    "setrange_empty_offset": [
        [b"SET", b"k", b"v"], [b"SETRANGE", b"k", b"2000000", b""],
        [b"SETRANGE", b"k", b"9223372036854775807", b""], [b"SETRANGE", b"nokey", b"2000000", b""]],
    "scan_empty_cursor": [[b"SET", b"k", b"v"], [b"SCAN", b"", b"COUNT", b"100"]],
    "keyspace_moves": [
        [b"FLUSHALL"], [b"SET", b"a", b"1", b"EX", b"5000"], [b"RENAME", b"a", b"b"], [b"TTL", b"b"],
        [b"RENAME", b"a", b"b"], [b"RENAMENX", b"b", b"b"], [b"SET", b"c", b"x"],
        [b"RENAMENX", b"b", b"c"], [b"RENAME", b"b", b"c"], [b"GET", b"c"], [b"TTL", b"c"],
        [b"COPY", b"c", b"d", b"DB", b"1"], [b"MOVE", b"c", b"1"], [b"MOVE", b"c", b"2"],
        [b"SELECT", b"2"], [b"GET", b"c"], [b"TTL", b"c"], [b"SWAPDB", b"2", b"0"], [b"GET", b"c"],
        [b"SELECT", b"0"], [b"GET", b"c"], [b"KEYS", b"*"], [b"SWAPDB", b"0", b"1"], [b"KEYS", b"*"],
        [b"DBSIZE"], [b"SWAPDB", b"1", b"x"], [b"SWAPDB", b"y", b"99"], [b"SWAPDB", b"0", b"16"],
        [b"COPY", b"d", b"d"], [b"COPY", b"d", b"d", b"DB", b"0"], [b"COPY", b"d", b"e", b"DB", b"2",
                                                                   b"REPLACE", b"DB", b"0"],
        [b"GET", b"e"], [b"MOVE", b"d", b"0"], [b"MOVE", b"d", b"9999999999"]],
    "keyspace_dump": [
        [b"FLUSHALL"], [b"SET", b"i", b"-129"], [b"DUMP", b"i"], [b"SET", b"s", b"z" * 300],
        [b"DUMP", b"s"], [b"DUMP", b"nokey"], [b"OBJECT", b"ENCODING", b"i"],
        [b"OBJECT", b"ENCODING", b"s"], [b"OBJECT", b"REFCOUNT", b"i"], [b"OBJECT", b"FREQ", b"i"],
        [b"OBJECT", b"FREQ", b"nokey"], [b"OBJECT", b"IDLETIME", b"nokey"],
        [b"RESTORE", b"r", b"0", payload(b"hello", "lzf")], [b"GET", b"r"],
        [b"RESTORE", b"r", b"0", payload(b"x")], [b"RESTORE", b"r", b"0", payload(b"x", version=11),
                                                  b"REPLACE"],
        [b"RESTORE", b"r", b"0", payload(b"12", "raw"), b"REPLACE"], [b"OBJECT", b"ENCODING", b"r"],
        [b"RESTORE", b"r", b"1", payload(b"y"), b"REPLACE", b"ABSTTL"], [b"EXISTS", b"r"],
        [b"RESTORE", b"r", b"5000000", payload(b"y")], [b"PTTL", b"r"],
        [b"RESTORE", b"t", b"0", b"\x00" * 10], [b"GET", b"t"], [b"WAIT", b"0", b"0"],
        [b"WAIT", b"1", b"1"], [b"MEMORY", b"USAGE", b"nokey"], [b"OBJECT", b"HELP"]],
}


def run_fixed(run, seq):
    """seq pipelined on pipe 0; SCAN_FULL, DBSIZE and RANDOMKEY run on their own."""
    p = run.pipes[0]
    for argv in seq:
        run.step += 1
        c = Cmd(argv)
        if c.kind in ("scan_full", "dbsize", "randomkey"):
            run.drain(p)
            run.scan_full(p, c) if c.kind == "scan_full" else run.run_cmd(p, c)
        else:
            run.send(p, [c])
    run.drain(p)


def run_random(run, gen, seconds, fillers):
    """Random steps, and now and then a race of a template not known to fail."""
    races = [t for n, t in RACES.items() if n not in gen.known]
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            if races and gen.rng.random() < 0.03:
                run.race_step(gen, gen.rng.choice(races), fillers)
            else:
                run.random_step(gen, fillers)
        except Divergence as e:
            if not KEEP_GOING:
                raise
            log(str(e))
            run.failed = True
            run.resync()
    run.drain_all()


def run_races(run, gen, name, seconds):
    """Races for the scenario's share of the time (3 at least), and past it until one of
    their writes parked (what the scenario is for; on a loaded machine a share of a few
    seconds could end before any did), for 30 s more at most."""
    t0 = time.time()
    parked0 = parked_writes(run.lsrv.port)
    while True:
        run.race_step(gen, RACES[name], True)
        spent = time.time() - t0
        if spent < seconds or run.races < 3:
            continue
        if spent > seconds + 30 or parked_writes(run.lsrv.port) > parked0:
            break


def parked_writes(port):
    return int(info(port).get("busy_writes_parked", 0))


def run_expiry(run, gen, seconds):
    """Short TTLs, read after they passed: expired keys behave as absent everywhere."""
    setup = [[b"FLUSHALL"], [b"SET", b"e1", b"v", b"PX", b"150"], [b"SET", b"e2", b"5", b"EX", b"1"],
             [b"SET", b"e3", b"v"], [b"PEXPIRE", b"e3", b"100"], [b"SETEX", b"e4", b"1", b"abc"],
             [b"PSETEX", b"e5", b"200", b"x"], [b"SET", b"keep", b"v"],
             [b"SET", b"e6", b"v", b"PX", b"100000"], [b"PEXPIRE", b"e6", b"120"],
             [b"SET", b"e7", b"v"], [b"GETEX", b"e7", b"PX", b"100"]]
    run_fixed(run, setup)
    run.short_ttls = 7
    time.sleep(1.3)
    run_fixed(run, [
        [b"GET", b"e1"], [b"EXISTS", b"e1", b"e2", b"e3", b"keep"], [b"TTL", b"e2"],
        [b"PTTL", b"e3"], [b"TYPE", b"e4"], [b"KEYS", b"*"], [b"SCAN_FULL"], [b"RANDOMKEY"],
        [b"INCR", b"e2"], [b"TTL", b"e2"], [b"APPEND", b"e1", b"x"], [b"TTL", b"e1"],
        [b"SETRANGE", b"e5", b"2", b"y"], [b"GET", b"e5"], [b"GETEX", b"e6", b"PERSIST"],
        [b"EXPIRE", b"e7", b"100"], [b"PERSIST", b"e3"], [b"SET", b"e4", b"n", b"XX"],
        [b"SETNX", b"e3", b"n"], [b"GETSET", b"e6", b"n"], [b"MSETNX", b"e7", b"a"],
        [b"GETDEL", b"e4"], [b"STRLEN", b"e6"], [b"DBSIZE"], [b"EXPIRETIME", b"e2"]])


def run_loaded(run, gen, seconds, body):
    """Rounds of: body's setup batch on pipe 0 (drained), filler batches on every pipe,
    body's batches on pipe 0, all drained; body(gen, n) -> (setup, [batch, ...])."""
    t0 = time.time()
    n = 0
    while time.time() - t0 < seconds or n < 3:
        n += 1
        run.step += 1
        setup, batches = body(gen, n)
        if setup:
            run.send(run.pipes[0], [Cmd(a) for a in setup])
            run.drain_all()
        for q in run.pipes:
            run.filler_batch(gen, q)
        for b in batches:
            run.send(run.pipes[0], [Cmd(a) for a in b])
        run.drain_all()


def body_del_dup(gen, n):
    """SET k, then DEL/UNLINK naming k two to four times, then EXISTS k."""
    out = []
    for i in range(6):
        k = b"dup:%d" % i
        out += [[b"SET", k, gen.big_value(40, 60)],
                [gen.pick([b"DEL", b"UNLINK"])] + [k] * gen.rng.randint(2, 4), [b"EXISTS", k]]
    return None, [out]


def body_parked_write_read(gen, n):
    """INCRBY x (an error: x holds no number), SET x or DEL x, then GET x: the write
    waits for INCRBY's lock and parks behind pipe 0's own filler batch."""
    keys = [b"pw:%d" % i for i in range(4)]
    cmds = []
    for i, k in enumerate(keys):
        cmds += [[b"INCRBY", k, b"-40"], [b"SET", k, b"new%d" % n] if i % 2 else [b"DEL", k]]
    return [[b"SET", k, gen.big_value(40, 50)] for k in keys], [cmds, [[b"GET", k] for k in keys]]


def run_large_value(run, gen, seconds):
    """Churn of 16-100 KiB values among small ones, with a 500 KB SET every 50 batches:
    each must answer as Redis does (OK)."""
    rng = gen.rng
    for rnd in range(600):
        cmds = [[b"SET", b"s%d" % rng.randrange(2000), b"s" * rng.randint(10, 3000)]
                if rng.random() < 0.5 else
                [b"SET", b"k%d" % rng.randrange(20), b"v" * rng.randint(16000, 100000)]
                for _ in range(20)]
        if rnd % 50 == 49:
            cmds.append([b"SET", b"big", b"b" * 500000])
        run.step += 1
        run.send(run.pipes[0], [Cmd(a) for a in cmds])
        run.drain(run.pipes[0])


Scenario = collections.namedtuple("Scenario", "body extra durability share desc")
SCENARIOS = collections.OrderedDict([
    ("random_sync", Scenario(lambda r, g, s: run_random(r, g, s, False), [], "sync", 0.2,
                             "random commands from 4 pipes, small values, durability sync")),
    ("random_periodic", Scenario(lambda r, g, s: run_random(r, g, s, False), [], "periodic", 0.15,
                                 "the same with durability periodic")),
    ("backpressure_sync", Scenario(lambda r, g, s: run_random(r, g, s, True), BACKPRESSURE, "sync",
                                   0.25, "random commands, 16-100 KiB values and filler SETs on "
                                   "a 24 MiB disk: writes park, compaction runs")),
    ("backpressure_periodic", Scenario(lambda r, g, s: run_random(r, g, s, True), BACKPRESSURE,
                                       "periodic", 0.15, "the same with durability periodic")),
    ("expiry", Scenario(run_expiry, [], "sync", 0, "short TTLs, read after they passed")),
    ("large_value_busy", Scenario(run_large_value, BACKPRESSURE + ["--busy_timeout_ms", "3000"],
                                  "sync", 0, "500 KB SETs among 16-100 KiB churn, 24 MiB disk")),
    ("del_dup_parked", Scenario(lambda r, g, s: run_loaded(r, g, s, body_del_dup), BACKPRESSURE,
                                "sync", 0.03, "DEL/UNLINK k k while the writes park")),
    ("parked_write_read", Scenario(lambda r, g, s: run_loaded(r, g, s, body_parked_write_read),
                                   BACKPRESSURE, "periodic", 0.03,
                                   "INCRBY x; SET/DEL x; GET x behind a parked filler batch")),
])
for _n, _share in (("rmw_race", 0.08), ("nx_race", 0.07), ("xx_del_race", 0.05),
                   ("flush_race", 0.05), ("bits_race", 0.05), ("rename_race", 0.07)):
    SCENARIOS[_n] = Scenario(lambda r, g, s, n=_n: run_races(r, g, n, s), BACKPRESSURE, "sync",
                             _share, "races: " + (RACES[_n].__doc__ or "").split("\n")[0])
for _n, _seq in FIXED.items():
    SCENARIOS[_n] = Scenario(lambda r, g, s, q=_seq: run_fixed(r, q), [], "sync", 0,
                             "fixed: " + "; ".join(cli(a) for a in _seq[:4]) + " ...")


MIN_STEPS_TO_JUDGE = 60  # steps after which a backpressure scenario must have parked a write


def run_scenario(name, seed, seconds):
    """Runs one scenario on fresh servers; True when it passed."""
    sc = SCENARIOS[name]
    servers = start_servers(sc.extra, sc.durability)
    log("-- %s (%s): logstord --durability %s %s on port %d, seed %d" %
        (name, sc.desc, sc.durability, " ".join(sc.extra), servers[0].port, seed))
    run = None
    t0 = time.time()
    ok = True
    try:
        run = Run(name, seed, servers)
        parked0 = int(info(servers[0].port).get("busy_writes_parked", 0))
        gen = Gen(random.Random("%d:%s" % (seed, name)), BACKPRESSURE[0] in sc.extra,
                  KNOWN_FAILING)
        sc.body(run, gen, seconds)
        ok = not run.failed
        parked = int(info(servers[0].port).get("busy_writes_parked", 0)) - parked0
        if BACKPRESSURE[0] in sc.extra and parked == 0 and run.step < MIN_STEPS_TO_JUDGE:
            # a race step parks a write about one time in six (rename_race: 26 of 139 steps
            # here); a slow machine ran 17 in CI and none parked: too few to judge the load
            log("WARN %s: no write parked in only %d steps (the machine is slow): the load's "
                "reach is not judged" % (name, run.step))
        elif BACKPRESSURE[0] in sc.extra and parked == 0:
            log("FAIL %s: no write parked (INFO busy_writes_parked did not grow): the load did "
                "not reach the backpressure path this scenario is for" % name)
            ok = False
        log("     %s: %d steps, %d commands, %d races, %d writes parked, %.1f s" %
            (name, run.step, run.ncmds, run.races, parked, time.time() - t0))
        if gen.avoided:
            log("     draws refused by the avoid rules of known failing scenarios: " +
                ", ".join("%s %d" % kv for kv in gen.avoided.most_common()))
    except Divergence as e:
        log(str(e))
        ok = False
    except (OSError, ProtocolError) as e:
        lost_connection(name, seed, run, servers, e)
        ok = False
    finally:
        if run:
            run.close()
        stop_servers(servers)
    log("%s %s" % ("ok  " if ok else "FAIL", name))
    return ok


def lost_connection(name, seed, run, servers, e):
    """Reports a connection that failed (a server died, closed it, or did not answer)."""
    log("FAIL %s: seed %d step %d: %s: %s" % (name, seed, run.step if run else 0,
                                             type(e).__name__, e))
    if run:
        log("\n".join(run.histories()))
    for s, who in zip(servers, ("logstord", "redis-server", "oracle redis-server")):
        if s.proc and s.proc.poll() is not None:
            log("     %s DIED with status %s" % (who, s.proc.returncode))
    itlib.log_tail(servers[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None,
                    help="budget of the timed scenarios together (default 60)")
    ap.add_argument("--scenario", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--fixed", action="append", default=[], metavar="NAME",
                    help="treat the known failing NAME as fixed: the random scenarios draw its "
                    "inputs, and the default run includes it (to check a fix)")
    ap.add_argument("--trace", metavar="FILE", help="write every compared command to FILE")
    ap.add_argument("--keep-going", action="store_true",
                    help="random scenarios: after a divergence, empty both servers and go on")
    args = ap.parse_args()
    if args.list:
        for n, sc in SCENARIOS.items():
            log("%-22s %s" % (n, sc.desc))
            if n in KNOWN_FAILING:
                log("%-22s KNOWN FAILING: %s" % ("", KNOWN_FAILING[n]))
        return 0
    for n in args.fixed:
        KNOWN_FAILING.pop(n, None)
    global KEEP_GOING, TRACE
    KEEP_GOING = args.keep_going
    TRACE = open(args.trace, "w") if args.trace else None
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("LOGSTORD", os.path.join(root, "build", "logstord"))
    if itlib.IS_REAL:
        itlib.skip("diff_redis: TARGET=redis: this test compares logstord with redis-server")
        return 0
    if shutil.which("redis-server") is None:
        log("FAIL diff_redis: redis-server is not installed (scripts/deps.sh installs it)")
        return 1
    seed = args.seed if args.seed is not None else \
        int(os.environ.get("DIFF_SEED") or 0) or int.from_bytes(os.urandom(4), "little")
    seconds = args.seconds if args.seconds is not None else \
        float(os.environ.get("DIFF_SECONDS", "60"))
    names = args.scenario or [n for n in os.environ.get("DIFF_SCENARIOS", "").split(",") if n]
    default = not names
    names = names or [n for n in SCENARIOS if n not in KNOWN_FAILING]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        log("FAIL diff_redis: no scenario %s (--list shows them)" % ", ".join(unknown))
        return 1
    share = sum(SCENARIOS[n].share for n in names) or 1.0
    itlib.begin("diff_redis", time_limit_s=int(seconds * 2 + 60 * len(names) + 60))
    log("diff_redis: seed %d (replay: DIFF_SEED=%d), %.0f s over %s" %
        (seed, seed, seconds, ", ".join(names)))
    failed = [n for n in names if not run_scenario(n, seed, seconds * SCENARIOS[n].share / share)]
    if default:
        log("diff_redis: known failing, not run: %s (--scenario NAME runs one, --list says "
            "what each shows)" % ", ".join(KNOWN_FAILING))
    if failed:
        log("diff_redis: FAILED %s (seed %d)" % (", ".join(failed), seed))
        return 1
    log("diff_redis: all %d scenarios passed (seed %d)" % (len(names), seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
