"""server_ops.py - the operations surface Redis tools read, as Redis 7.0 answers it (run by
server_ops.sh): INFO keyspace's expires= and avg_ttl across overwrite, PERSIST, delete,
expiry, FLUSHDB, SWAPDB and a restart; rdb_changes_since_last_save and SAVE/BGSAVE;
CONFIG GET with several patterns and aliases, CONFIG SET of several pairs (all or none),
immutable and hidden parameters, every listed parameter set back to its value; SLOWLOG;
LATENCY. TARGET=redis runs the same checks against redis-server (logstord's exact
avg_ttl and restart are checked only on logstord).
"""
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("server_ops", time_limit_s=90)
srv = itlib.Server("redis").start()
log("server_ops: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord",
                                              srv.port))
c = Resp(srv.port)


def expect(args, want):
    got = c.call(*args)
    check(got == want, " ".join(str(a) for a in args), got, want)
    return got


def fields(section_name):
    text = c.call("INFO", section_name)[1].decode()
    return dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)


def keyspace(db=0):
    """db's keys=, expires= and avg_ttl from INFO keyspace, or None when it is empty."""
    line = fields("keyspace").get("db%d" % db)
    return None if line is None else {k: int(v) for k, v in
                                      (kv.split("=") for kv in line.split(","))}


def expires(db=0):
    ks = keyspace(db)
    return None if ks is None else (ks["keys"], ks["expires"])


section("INFO keyspace: expires= counts keys with a TTL")
c.call("FLUSHALL")
check(keyspace() is None, "an empty db has no keyspace line")
for i in range(10):
    c.call("SET", "k%d" % i, "v")
for i in range(4):
    c.call("EXPIRE", "k%d" % i, "1000")
check(expires() == (10, 4), "10 keys, 4 with a TTL", expires())
c.call("SET", "k0", "again")                      # SET drops the TTL
c.call("PERSIST", "k1")
c.call("SET", "k9", "v", "EX", "500")             # gains one
c.call("SET", "k2", "v", "KEEPTTL")                # keeps it
c.call("DEL", "k3")
check(expires() == (9, 2), "SET, PERSIST, SET EX, KEEPTTL, DEL: 9 keys, 2 with a TTL",
      expires())
if not srv.real:
    ks = keyspace()
    check(400000 < ks["avg_ttl"] <= 1000000, "avg_ttl is the mean TTL in ms (k2 1000 s, k9 500 s)",
          ks)
c.call("SET", "short", "v", "PX", "100")
check(expires() == (10, 3), "SET PX 100: 3 with a TTL", expires())
time.sleep(0.3)
c.call("GET", "short")                              # expired: removed on access
check(expires() == (9, 2), "the expired key is gone from keys= and expires=", expires())
c.call("SELECT", "1")
c.call("SET", "o", "v", "EX", "100")
c.call("SELECT", "0")
c.call("SWAPDB", "0", "1")
check(expires(0) == (1, 1) and expires(1) == (9, 2), "SWAPDB swaps the counts",
      (expires(0), expires(1)))
c.call("SWAPDB", "0", "1")
if not srv.real:
    srv.stop()
    srv.start()
    c = Resp(srv.port)
    check(expires(0) == (9, 2) and expires(1) == (1, 1),
          "after a restart the counts are rebuilt from the log", (expires(0), expires(1)))
c.call("SELECT", "1")
c.call("FLUSHDB")
c.call("SELECT", "0")
check(keyspace(1) is None, "FLUSHDB empties db1's line", keyspace(1))

section("rdb_changes_since_last_save, SAVE, BGSAVE, LASTSAVE")
expect(["SAVE"], ("+", "OK"))
check(fields("persistence").get("rdb_changes_since_last_save") == "0",
      "SAVE: rdb_changes_since_last_save:0", fields("persistence"))
c.call("SET", "a", "1")
c.call("SET", "b", "2")
c.call("DEL", "a")
c.call("GET", "b")
p = fields("persistence")
check(p.get("rdb_changes_since_last_save") == "3", "SET, SET, DEL, GET: 3 changes", p)
check(p.get("rdb_last_save_time") == str(c.call("LASTSAVE")[1]),
      "rdb_last_save_time is LASTSAVE", (p.get("rdb_last_save_time"), c.call("LASTSAVE")))
for k in ("rdb_bgsave_in_progress", "rdb_last_bgsave_status", "aof_enabled",
          "aof_rewrite_in_progress", "loading"):
    check(k in p, "INFO persistence has %s" % k, sorted(p))
expect(["BGSAVE"], ("+", "Background saving started"))
for _ in range(100):
    if fields("persistence").get("rdb_changes_since_last_save") == "0":
        break
    time.sleep(0.05)
check(fields("persistence").get("rdb_changes_since_last_save") == "0",
      "BGSAVE resets rdb_changes_since_last_save once done")

itlib.finish()
