"""large_shapes.py - which hashes and sets take the large form, and reads of one racing its
writes (run by large_shapes.sh).

- A hash Redis keeps as a listpack (200 short fields) and a set it keeps as an intset (300
  integers) stay one record: updates make no versions for the reaper (INFO large_versions
  0, reaper_versions_deleted unchanged). Before, any hash past 128 fields was stored in
  pages and rewritten whole as a new version per update, which outran the reaper.
- A hash of 100 fields of 100 bytes (past 8 KiB, a hashtable in Redis) is in hash
  buckets and 300 HSETs update its buckets in place: still one version, none reaped.
- With the record cache off (roots and buckets read from the device), readers of a large
  hash (HGETALL, HMGET of two fields) race a writer of two fields at once: no reader sees
  an error or one field changed without the other. Before, a read-only command's lock
  went once its root read was submitted, and a write changed a bucket under it
  ("data corruption detected", or half of an HSET seen).
- `redis-cli --rdb` (SYNC) of a large hash that a client writes every millisecond
  succeeds: the dump reads it under the key's shared lock. Before, it read the root
  again after the pages and gave up after 8 changes ("kept changing").
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import itlib
from itlib import Resp, check, section

itlib.begin("large_shapes", time_limit_s=120)
if itlib.IS_REAL:
    itlib.skip("large_shapes: logstord only")
    itlib.finish()
srv = itlib.Server("redis", durability="periodic",
                   extra=["--cache_size", "0", "--cache_writes", "no"]).start()
c = Resp(srv.port)


def info(name):
    return itlib.info_int(srv.port, name) or 0


section("listpack-shaped hash and intset: one record")
c.call("HSET", "lp", *sum((["f%d" % i, "v%d" % i] for i in range(200)), []))
c.call("SADD", "is", *[str(i) for i in range(300)])
check(c.call("OBJECT", "ENCODING", "lp") == ("$", b"listpack"), "200 short fields: listpack")
check(c.call("OBJECT", "ENCODING", "is") == ("$", b"intset"), "300 integers: intset")
reaped0 = info("reaper_versions_deleted")
for i in range(300):
    c.call("HINCRBY", "lp", "f%d" % (i % 200), "1")
    c.call("SADD", "is", str(1000 + i % 50))
check(info("large_versions") == 0, "no version was made", got=info("large_versions"))
check(c.call("HLEN", "lp") == (":", 200) and c.call("SCARD", "is") == (":", 350),
      "counts as written")

section("a hash of 100 fields of 100 bytes: hash buckets, updated in place")
c.call("HSET", "big", *sum((["f%d" % i, "x" * 100] for i in range(100)), []))
check(c.call("OBJECT", "ENCODING", "big") == ("$", b"hashtable"), "hashtable")
check(info("large_versions") == 1, "one version (its buckets)", got=info("large_versions"))
for i in range(300):
    c.call("HSET", "big", "f%d" % (i % 100), "y%d-%s" % (i, "x" * 96))
time.sleep(1.5)  # a reaper pass would have run by now (passes are at least 1 s apart)
check(info("large_versions") == 1 and info("reaper_versions_deleted") == reaped0,
      "still one version, none reaped",
      got=(info("large_versions"), info("reaper_versions_deleted") - reaped0))

section("readers of a large hash against a writer of two fields at once, from the device")
c.call("HSET", "race", *sum((["f%d" % i, "0-" + "z" * 30] for i in range(2000)), []))
stop = [False]
errors, torn, reads, writes = [], [], [0], [0]


def writer():
    w = Resp(srv.port)
    n = 0
    while not stop[0]:
        n += 1
        v = "%d-%s" % (n, "z" * 30)
        rep = w.call("HSET", "race", "f0", v, "f1999", v)
        if rep[0] == "-":
            errors.append(rep)
        writes[0] += 1


def reader(kind):
    r = Resp(srv.port)
    while not stop[0]:
        if kind == "all":
            rep = r.call("HGETALL", "race")
            if rep[0] != "*":
                errors.append(rep)
            else:
                h = {rep[1][i][1]: rep[1][i + 1][1] for i in range(0, len(rep[1]), 2)}
                if h.get(b"f0") != h.get(b"f1999"):
                    torn.append((h.get(b"f0"), h.get(b"f1999")))
        else:
            rep = r.call("HMGET", "race", "f0", "f1999")
            if rep[0] != "*":
                errors.append(rep)
            elif rep[1][0] != rep[1][1]:
                torn.append((rep[1][0], rep[1][1]))
        reads[0] += 1


threads = [threading.Thread(target=writer), threading.Thread(target=reader, args=("all",)),
           threading.Thread(target=reader, args=("two",))]
for t in threads:
    t.start()
time.sleep(4)
stop[0] = True
for t in threads:
    t.join(timeout=30)
itlib.log("%d writes, %d reads" % (writes[0], reads[0]))
check(writes[0] > 50 and reads[0] > 50, "both sides ran", got=(writes[0], reads[0]))
check(not errors, "no error reply", got=str(errors[:2])[:300])
check(not torn, "no read saw one of the two fields written without the other",
      got=str(torn[:2])[:300])
section("redis-cli --rdb (SYNC) of a large hash a client writes all the time")
c.call("DEL", "race")
for at in range(0, 30000, 1000):
    c.call("HSET", "sy", *sum((["f%d" % i, "v%d" % i] for i in range(at, at + 1000)), []))
stop[0] = False


def busy():
    w = Resp(srv.port)
    n = 0
    while not stop[0]:
        w.call("HSET", "sy", "w%d" % (n % 500), str(n))
        n += 1
        time.sleep(0.001)


t = threading.Thread(target=busy)
t.start()
rdb_dir = tempfile.mkdtemp(prefix="logstor-it-shapes-", dir="/tmp")
outs = []
for i in range(2):
    p = subprocess.run(["redis-cli", "-p", str(srv.port), "--rdb", os.path.join(rdb_dir, "d.rdb")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    outs.append((p.returncode, p.stdout[-120:]))
stop[0] = True
t.join(timeout=30)
shutil.rmtree(rdb_dir, True)
check(all(rc == 0 for rc, _ in outs), "both dumps succeed while the hash changes (it is read "
      "under its key's lock, not retried until it holds still)", got=str(outs)[:300])

c.close()
srv.stop()
itlib.finish()
