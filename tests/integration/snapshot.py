"""snapshot.py - SNAPSHOT CREATE/LIST/DROP and logstor-backup (issue 14). Run by snapshot.sh.

1. SNAPSHOT's replies and errors: CREATE answers +OK once the snapshot is durable; a
   duplicate name, a bad name, a wrong arity, an unknown subcommand are refused; LIST
   names it with its keys and the segments it holds (INFO snapshot_held_segments).
2. After the snapshot, churn on a small disk (overwrites with larger values, deletes, a
   FLUSHDB of another database) makes compaction free and reuse segments; the held ones
   are not taken. logstor-backup, run while the server serves, copies the snapshot into a
   new directory; a second logstord started on it serves exactly the state at the
   snapshot's instant (values, TTLs, databases), not the churn after it.
3. A clean restart and a SIGKILL restart of the source keep the snapshot listed and held:
   more churn, then another backup is the same again. A start with --rollback s1 serves
   the state at the snapshot, and so does the full scan after a SIGKILL that follows.
4. SNAPSHOT DROP releases it (:1, then :0; held segments 0; its file gone); a backup of
   it then fails with exit status 2.
5. BGSAVE and SAVE take a snapshot named bgsave-<unix ms>, and the next one drops the
   previous (one listed at a time); INFO rdb_bgsave_in_progress goes back to 0.
6. logstor-backup -t writes the copy as a tar stream (to a file, and to standard output);
   extracted, it is a directory logstord opens, serving the state at the save.

logstord only (redis-server has no snapshots).
"""
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("snapshot", time_limit_s=170)
if itlib.IS_REAL:
    itlib.skip("snapshot: logstord only")
    itlib.finish()

LOGSTORD = os.environ.get("LOGSTORD") or "build/logstord"
BACKUP = os.path.join(os.path.dirname(LOGSTORD), "logstor-backup")
GEOM = ["--disk_size", "24mb", "--file_size", "4mb", "--segment_size", "128kb"]
srv = itlib.Server("redis", durability="sync", extra=GEOM + ["--loglevel", "notice"]).start()
log("snapshot: logstord on 127.0.0.1:%d, dir %s" % (srv.port, srv.dir))


def info(port):
    c = Resp(port)
    out = {}
    for ln in c.call("INFO", "everything")[1].decode().split("\r\n"):
        if ":" in ln and not ln.startswith("#"):
            k, v = ln.split(":", 1)
            out[k] = v
    c.close()
    return out


def run_db(c, db, cmds):
    c.call("SELECT", str(db))
    r = itlib.pipeline(c, cmds)
    c.call("SELECT", "0")
    return r


def compare(port, model, what):
    """model: db -> key -> (value, has_ttl)."""
    c = Resp(port)
    bad = []
    for db, keys in model.items():
        c.call("SELECT", str(db))
        n = c.call("DBSIZE")
        if n != (":", len(keys)):
            bad.append("db %d: DBSIZE %r, want %d" % (db, n, len(keys)))
        names = sorted(keys)
        for i in range(0, len(names), 500):
            part = names[i:i + 500]
            got = c.call("MGET", *part)[1]
            for k, g in zip(part, got):
                if g[1] != keys[k][0].encode():
                    bad.append("db %d %s: %r, want %r" % (db, k, g[1], keys[k][0]))
        for k, (v, ttl) in list(keys.items())[:200]:
            t = c.call("TTL", k)
            if (t[1] > 0) != ttl:
                bad.append("db %d %s: TTL %r" % (db, k, t))
    c.close()
    check(not bad, what, bad[:5])


def backup(name, expect_rc=0):
    dest = tempfile.mkdtemp(prefix="logstor-it-backup-", dir="/tmp")
    out = subprocess.run([BACKUP, srv.dir, name, dest], capture_output=True, text=True, timeout=60)
    check(out.returncode == expect_rc, "logstor-backup %s exits %d" % (name, expect_rc),
          (out.returncode, out.stdout.strip()[-200:], out.stderr.strip()[-300:]))
    return dest


def check_copy(dest, model, what):
    other = itlib.Server("redis", data_dir=dest, extra=GEOM + ["--loglevel", "notice"]).start()
    compare(other.port, model, what)
    other.stop()


section("SNAPSHOT CREATE, its errors, LIST")
c = Resp(srv.port)
N = 6000
model = {0: {}, 2: {}}
run_db(c, 0, [("SET", "k:%d" % i, "v:%d" % i) for i in range(N)])
run_db(c, 0, [("DEL", "k:%d" % i) for i in range(0, N, 9)])
run_db(c, 0, [("SET", "t:%d" % i, "ttl:%d" % i, "EX", "3000") for i in range(300)])
run_db(c, 2, [("SET", "d2:%d" % i, "two:%d" % i) for i in range(500)])
for i in range(N):
    if i % 9:
        model[0]["k:%d" % i] = ("v:%d" % i, False)
for i in range(300):
    model[0]["t:%d" % i] = ("ttl:%d" % i, True)
for i in range(500):
    model[2]["d2:%d" % i] = ("two:%d" % i, False)
check(c.call("SNAPSHOT", "CREATE", "s1") == ("+", "OK"), "SNAPSHOT CREATE s1: +OK")
check(c.call("SNAPSHOT", "CREATE", "s1")[0] == "-", "a second s1 is refused",
      c.call("SNAPSHOT", "CREATE", "s1"))
check(c.call("SNAPSHOT", "CREATE", "../x")[0] == "-", "a name with '/' is refused")
check(c.call("SNAPSHOT", "CREATE")[0] == "-", "CREATE without a name: an error")
check(c.call("SNAPSHOT", "NOPE")[1].startswith("ERR unknown subcommand"),
      "an unknown subcommand: Redis's error")
lst = c.call("SNAPSHOT", "LIST")
check(lst[0] == "*" and len(lst[1]) == 1 and (b"s1" in [x[1] for x in lst[1][0][1]]),
      "LIST names s1", lst)
inf = info(srv.port)
held0 = int(inf.get("snapshot_held_segments", "0"))
check(inf.get("snapshots") == "1" and held0 > 0, "INFO snapshots:1, segments held (%d)" % held0)

section("churn after it: compaction reuses what the snapshot does not hold")
before = int(inf.get("segments_compacted", "0")) + int(inf.get("segments_freed", "0"))
for r in range(10):
    run_db(c, 0, [("SET", "k:%d" % i, "r%d:%s" % (r, "x" * 400)) for i in range(N)])
run_db(c, 0, [("DEL", "k:%d" % i) for i in range(0, N, 2)])
run_db(c, 0, [("SET", "new:%d" % i, "n") for i in range(1000)])
c.call("SELECT", "2")
check(c.call("FLUSHDB") == ("+", "OK"), "FLUSHDB of db 2 after the snapshot")
c.call("SELECT", "0")
inf = info(srv.port)
compacted = int(inf.get("segments_compacted", "0")) + int(inf.get("segments_freed", "0"))
check(compacted > before, "compaction ran (%d segments compacted or freed)" % (compacted - before))
check(int(inf.get("snapshot_held_segments", "0")) == held0, "the held segments stay held",
      inf.get("snapshot_held_segments"))
dest = backup("s1")
check_copy(dest, model, "the copy serves the state at the snapshot, not the churn after it")

section("restarts keep it")
check(srv.stop() == 0, "SIGTERM: exit 0")
srv.start()
lst = Resp(srv.port).call("SNAPSHOT", "LIST")
check(len(lst[1]) == 1, "listed after a clean restart", lst)
check(int(info(srv.port).get("snapshot_held_segments", "0")) == held0, "held after it")
c = Resp(srv.port)
for r in range(4):
    run_db(c, 0, [("SET", "k:%d" % i, "again%d:%s" % (r, "y" * 500)) for i in range(N)])
c.close()
srv.stop(sig=signal.SIGKILL)
srv.start()
check(len(Resp(srv.port).call("SNAPSHOT", "LIST")[1]) == 1, "listed after SIGKILL")
c = Resp(srv.port)
for r in range(3):
    run_db(c, 0, [("SET", "k:%d" % i, "more%d:%s" % (r, "z" * 500)) for i in range(N)])
dest = backup("s1")
check_copy(dest, model, "a copy after both restarts and more churn: the same state")

section("rollback: a start with --rollback s1 serves the state at the snapshot")
c.close()
check(srv.stop() == 0, "SIGTERM: exit 0")
plain = srv.extra
srv.extra = plain + ["--rollback", "s1"]
srv.start()
srv.extra = plain
compare(srv.port, model, "every database as at the snapshot after the rollback")
check(len(Resp(srv.port).call("SNAPSHOT", "LIST")[1]) == 1, "the snapshot stays listed")
c = Resp(srv.port)
check(c.call("SET", "after-rollback", "1") == ("+", "OK"), "writes go on")
c.close()
srv.stop(sig=signal.SIGKILL)
srv.start()  # no checkpoint: the full scan of what the rollback left
model[0]["after-rollback"] = ("1", False)
compare(srv.port, model, "the same after SIGKILL and a full scan, plus the write after it")
c = Resp(srv.port)

section("SNAPSHOT DROP")
check(c.call("SNAPSHOT", "DROP", "s1") == (":", 1), "DROP s1: 1")
check(c.call("SNAPSHOT", "DROP", "s1") == (":", 0), "DROP s1 again: 0")
check(c.call("SNAPSHOT", "LIST") == ("*", []), "LIST is empty")
inf = info(srv.port)
check(inf.get("snapshot_held_segments") == "0", "nothing held", inf.get("snapshot_held_segments"))
check(not os.path.exists(os.path.join(srv.dir, "snap-s1.ckpt")), "its file is gone")
backup("s1", expect_rc=2)

section("BGSAVE and SAVE take a snapshot; the next drops the previous")


def saves():
    return sorted(x[1][1][1].decode() for x in c.call("SNAPSHOT", "LIST")[1]
                  if x[1][1][1].startswith(b"bgsave-"))


check(c.call("BGSAVE") == ("+", "Background saving started"), "BGSAVE: Redis's reply")
for _ in range(200):
    if info(srv.port).get("rdb_bgsave_in_progress") == "0" and saves():
        break
    time.sleep(0.05)
first = saves()
check(len(first) == 1, "a snapshot bgsave-<ms> listed", first)
check(info(srv.port).get("rdb_last_bgsave_status") == "ok", "rdb_last_bgsave_status:ok")
check(c.call("SET", "after-bgsave", "2") == ("+", "OK"), "a write after it")
model[0]["after-bgsave"] = ("2", False)
check(c.call("SAVE") == ("+", "OK"), "SAVE: +OK once durable")
second = saves()
check(len(second) == 1 and second != first, "SAVE's replaced BGSAVE's", (first, second))
check(int(info(srv.port).get("snapshot_held_segments", "0")) > 0, "it holds segments")

section("logstor-backup -t: the copy as a tar stream")
tdir = tempfile.mkdtemp(prefix="logstor-it-tar-", dir="/tmp")
tpath = os.path.join(tdir, "b.tar")
out = subprocess.run([BACKUP, "-t", srv.dir, second[0], tpath], capture_output=True, text=True,
                     timeout=60)
check(out.returncode == 0, "logstor-backup -t to a file exits 0", out.stderr[-300:])
with tarfile.open(tpath) as tf:
    names = tf.getnames()
check(second[0] in names and second[0] + "/logstor.meta" in names,
      "one directory named after the snapshot, holding logstor.meta", names[:6])
subprocess.run(["tar", "-xf", tpath, "-C", tdir], check=True, timeout=60)
check_copy(os.path.join(tdir, second[0]), model, "the extracted tar serves the state at SAVE")
out = subprocess.run([BACKUP, "-t", "-q", srv.dir, second[0], "-"], capture_output=True,
                     timeout=60)
check(out.returncode == 0 and len(out.stdout) > 1024, "logstor-backup -t to standard output",
      (out.returncode, len(out.stdout), out.stderr[-300:]))
with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
    names2 = tf.getnames()
check(names2 == names, "the same members", (names, names2))
out = subprocess.run([BACKUP, "-t", srv.dir, "nope", os.path.join(tdir, "x.tar")],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 2 and not os.path.exists(os.path.join(tdir, "x.tar")),
      "an unknown snapshot: exit 2, no tar file left", (out.returncode, out.stderr[-200:]))
shutil.rmtree(tdir, ignore_errors=True)
c.close()
check(srv.alive(), "server still running")
itlib.finish()
