"""cluster_mode.py - a one-node cluster view for cluster-aware clients (issue 12), run by
cluster_mode.sh with the system's python3 (redis-py's RedisCluster from python3-redis).

1. Without cluster_enabled, CLUSTER and READONLY answer redis-server's error.
2. With it: CLUSTER SLOTS/SHARDS/NODES/INFO/MYID describe one master owning 0-16383 at the
   port the client used; KEYSLOT as redis-server computes it; a multi-key command across
   slots is refused with -CROSSSLOT before it runs (also inside MULTI: EXECABORT), keys
   sharing a {hash tag} work; READONLY/READWRITE/ASKING answer +OK.
3. redis-py's RedisCluster discovers the node and runs commands; memtier_benchmark
   --cluster-mode (its path in MEMTIER, when set) runs a set/get load with no error.
"""
import os
import subprocess

import redis
from redis.cluster import RedisCluster

import itlib
from itlib import Resp, check, section

itlib.begin("cluster_mode", time_limit_s=150)
ref = itlib.RedisServer("redis").start()
cref = itlib.RedisServer("redis", extra=["--cluster-enabled", "yes"])  # for KEYSLOT
while cref.port > 55535:  # a cluster node's bus port is its port + 10000
    cref.port = itlib.free_port()
cref.start()
plain = itlib.Server("redis").start()
r, p = Resp(ref.port), Resp(plain.port)

section("cluster support disabled")
for cmd in (("CLUSTER", "INFO"), ("READONLY",), ("READWRITE",)):
    check(p.call(*cmd) == r.call(*cmd), "%s answers as redis-server's" % " ".join(cmd), p.call(*cmd))

section("one node owning every slot")
srv = itlib.Server("redis", extra=["--cluster_enabled", "yes"]).start()
c = Resp(srv.port)
myid = c.call("CLUSTER", "MYID")
check(myid[0] == "$" and len(myid[1]) == 40, "CLUSTER MYID is a 40-character id", myid)
slots = c.call("CLUSTER", "SLOTS")
check(slots == ("*", [("*", [(":", 0), (":", 16383),
                             ("*", [("$", b"127.0.0.1"), (":", srv.port), myid, ("*", [])])])]),
      "CLUSTER SLOTS: 0-16383 on this node", slots)
shards = c.call("CLUSTER", "SHARDS")
check(shards[0] == "*" and len(shards[1]) == 1 and (":", 16383) in shards[1][0][1][1][1],
      "CLUSTER SHARDS: one shard", shards)
nodes = c.call("CLUSTER", "NODES")[1].decode()
check(nodes.startswith(myid[1].decode() + " 127.0.0.1:%d@" % srv.port) and
      "myself,master" in nodes and nodes.endswith("connected 0-16383\n"), "CLUSTER NODES", nodes)
info = c.call("CLUSTER", "INFO")[1].decode()
check("cluster_state:ok" in info and "cluster_slots_assigned:16384" in info, "CLUSTER INFO")
for key in ("foo", "{user1000}.following", "", "a{}b"):
    check(c.call("CLUSTER", "KEYSLOT", key) == Resp(cref.port).call("CLUSTER", "KEYSLOT", key),
          "KEYSLOT %r as redis-server computes it" % key)
check(c.call("MSET", "a", "1", "b", "2") == ("-", "CROSSSLOT Keys in request don't hash to the same slot"),
      "MSET across slots: -CROSSSLOT")
check(c.call("EXISTS", "a") == (":", 0), "and nothing was written")
check(c.call("MSET", "{u}a", "1", "{u}b", "2") == ("+", "OK"), "MSET of one hash tag works")
c.call("MULTI")
c.call("MGET", "a", "b")
check(c.call("EXEC")[0] == "-", "a cross-slot command inside MULTI makes EXEC fail")
for cmd in ("READONLY", "READWRITE", "ASKING"):
    check(c.call(cmd) == ("+", "OK"), "%s answers +OK" % cmd)

section("cluster clients")
rc = RedisCluster(host="127.0.0.1", port=srv.port)
rc.set("k1", "v1")
rc.mset_nonatomic({"k2": "v2", "k3": "v3"})
check(rc.get("k1") == b"v1" and rc.get("k3") == b"v3", "redis-py RedisCluster sets and gets")
rc.close()
memtier = os.environ.get("MEMTIER")
if memtier:
    out = subprocess.run([memtier, "-s", "127.0.0.1", "-p", str(srv.port), "--cluster-mode",
                          "-t", "2", "-c", "4", "-n", "2000", "--hide-histogram"],
                         capture_output=True, text=True, timeout=90)
    tot = [ln for ln in out.stdout.splitlines() if ln.startswith("Totals")]
    check(out.returncode == 0 and tot, "memtier_benchmark --cluster-mode runs (%s)" %
          (tot[0].split()[1] + " ops/s" if tot else "no totals"), out.stderr[-400:])
else:
    itlib.skip("memtier_benchmark --cluster-mode: MEMTIER not set")
itlib.finish()
