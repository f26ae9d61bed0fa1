"""backup_crash.py - SIGKILL during checkpoints and during logstor-backup copies (issue 14).
Run by backup_crash.sh.

Each cycle, on a small disk with a checkpoint every 50 ms or 256 KiB written (so a kill
lands in one, or just after one, and the restart rolls forward from it):
1. writers overwrite, delete and add keys in sync mode, one command in flight per writer,
   and remember for each key its last acknowledged state and the one in flight;
2. logstor-backup copies snapshot s (taken at the start, its content known) while they
   write; the server is killed with SIGKILL at a random moment of the copy, and restarted
   (recovery, then compaction) while the copy goes on;
3. the copy either fails with exit status 1 (never a partial copy reported as done) or
   completes; a completed copy, served by a second logstord, holds exactly the snapshot;
4. the restarted server holds for every key its last acknowledged state or the one in
   flight at the kill (nothing acknowledged lost, no deleted key back), still lists s, and
   a backup of s made now is exactly the snapshot again.
The restart must have rolled forward from a checkpoint (INFO recovery_from_checkpoint:1)
in at least one cycle, reading only some segment heads (recovery_heads_presumed > 0).

logstord only.
"""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("backup_crash", time_limit_s=170)
if itlib.IS_REAL:
    itlib.skip("backup_crash: logstord only")
    itlib.finish()

LOGSTORD = os.environ.get("LOGSTORD") or "build/logstord"
BACKUP = os.path.join(os.path.dirname(LOGSTORD), "logstor-backup")
GEOM = ["--disk_size", "64mb", "--file_size", "4mb", "--segment_size", "128kb"]
CKPT = ["--checkpoint_interval_ms", "50", "--checkpoint_bytes", "256kb"]
CYCLES = int(os.environ.get("BACKUP_CRASH_CYCLES", "8"))
SNAP_KEYS = 20000
WRITERS = 3
rnd = random.Random(int(os.environ.get("BACKUP_CRASH_SEED", "0")) or None)
seed_note = "seed %s" % os.environ.get("BACKUP_CRASH_SEED", "random")

srv = itlib.Server("redis", durability="sync", extra=GEOM + CKPT + ["--loglevel", "notice"]).start()
log("backup_crash: logstord on 127.0.0.1:%d, dir %s (%s)" % (srv.port, srv.dir, seed_note))


def val(tag, i, n):
    return ("%s:%d:" % (tag, i)).ljust(n, "x")


def dump(port, names):
    """key -> value bytes or None, by MGET."""
    c = Resp(port)
    out = {}
    names = sorted(names)
    for i in range(0, len(names), 500):
        part = names[i:i + 500]
        got = c.call("MGET", *part)[1]
        for k, g in zip(part, got):
            out[k] = g[1]
    c.close()
    return out


section("snapshot s of %d keys" % SNAP_KEYS)
c = Resp(srv.port)
snap = {"s:%d" % i: val("snap", i, 200).encode() for i in range(SNAP_KEYS)}
check(all(r == ("+", "OK") for r in itlib.pipeline(c, [("SET", k, v) for k, v in snap.items()])),
      "the snapshot's keys are written")
check(c.call("SNAPSHOT", "CREATE", "s") == ("+", "OK"), "SNAPSHOT CREATE s")
c.close()


def check_copy(dest, what):
    other = itlib.Server("redis", data_dir=dest, extra=GEOM + ["--loglevel", "notice"]).start()
    got = dump(other.port, snap)
    n = Resp(other.port).call("DBSIZE")
    other.stop()
    bad = [k for k in snap if got.get(k) != snap[k]]
    check(not bad and n == (":", len(snap)), what, (bad[:3], n))


class Writers:
    """WRITERS threads; model: key -> (last acked state, state in flight or 'none').
    A state is a value (bytes) or None (deleted)."""

    def __init__(self, port, cycle):
        self.port = port
        self.cycle = cycle
        self.stop = False
        self.model = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(w,)) for w in range(WRITERS)]
        self.acked = 0

    def run(self, w):
        r = random.Random(rnd.random())
        try:
            c = Resp(self.port, timeout=5)
        except OSError:
            return
        n = 0
        while not self.stop:
            # writer w owns the keys w, w + WRITERS, ...: one command in flight per key
            i = w + WRITERS * r.randrange(3000)
            k = "w:%d" % i
            if r.random() < 0.25:
                new, cmd = None, ("DEL", k)
            else:
                new = val("c%d.%d" % (self.cycle, n), i, r.choice((100, 300, 1500))).encode()
                cmd = ("SET", k, new)
            with self.lock:
                last = self.model.get(k, ("absent", "none"))[0]
                self.model[k] = (last, new)
            try:
                c.call(*cmd)
            except (OSError, itlib.ProtocolError):
                return  # killed: this one stays in flight
            with self.lock:
                self.model[k] = (new, "none")
                self.acked += 1
            n += 1

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        self.stop = True
        for t in self.threads:
            t.join(timeout=20)


# keys written before this run's first cycle: known state (absent), carried over
state = {}
presumed_seen = 0
ckpt_opens = 0
copy_durations = []
for cycle in range(CYCLES):
    section("cycle %d: SIGKILL during a backup copy and checkpoints" % cycle)
    wr = Writers(srv.port, cycle)
    wr.model = {k: (v, "none") for k, v in state.items()}
    wr.start()
    time.sleep(0.3 + rnd.random() * 0.5)  # checkpoints come and go meanwhile
    dest = tempfile.mkdtemp(prefix="logstor-it-bk-", dir="/tmp")
    t0 = time.time()
    bk = subprocess.Popen([BACKUP, "-q", srv.dir, "s", dest], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    # the first cycle measures the copy; later ones kill within its duration
    delay = (rnd.random() * min(copy_durations)) if copy_durations else 0.05
    time.sleep(delay)
    srv.stop(sig=signal.SIGKILL)
    wr.join()
    srv.start()  # while the copy goes on: the restart must not reuse what s holds
    out, err = bk.communicate(timeout=120)
    dt = time.time() - t0
    log("cycle %d: killed %.3f s into the copy, %d writes acknowledged; backup exit %d after %.2f s"
        % (cycle, delay, wr.acked, bk.returncode, dt))
    check(bk.returncode in (0, 1), "logstor-backup exits 0 or 1 when the server dies under it",
          (bk.returncode, err[-300:]))
    if bk.returncode == 0:
        copy_durations.append(dt)
        check_copy(dest, "cycle %d: the copy made across the kill is exactly the snapshot" % cycle)
    shutil.rmtree(dest, ignore_errors=True)

    inf = itlib.info(srv.port)
    ckpt_opens += inf.get("recovery_from_checkpoint") == "1"
    presumed_seen += int(inf.get("recovery_heads_presumed", "0"))
    log("cycle %d: restart from checkpoint %s, segment heads read %s, presumed %s"
        % (cycle, inf.get("recovery_from_checkpoint"), inf.get("recovery_heads_read"),
           inf.get("recovery_heads_presumed")))
    got = dump(srv.port, wr.model)
    bad = []
    for k, (last, flying) in wr.model.items():
        g = got.get(k)
        ok = [last] + ([] if flying == "none" else [flying])
        ok = [None if x == "absent" else x for x in ok]
        if g not in ok:
            bad.append((k, g[:20] if g else g, [x[:20] if x else x for x in ok]))
        state[k] = g
    check(not bad, "cycle %d: every key holds its last acknowledged state or the one in flight "
          "(%d keys)" % (cycle, len(wr.model)), bad[:4])
    snap_now = dump(srv.port, list(snap)[:2000])
    check(all(snap_now[k] == snap[k] for k in snap_now), "the snapshot's keys (never written "
          "since) are all there")
    lst = Resp(srv.port).call("SNAPSHOT", "LIST")
    check(lst[0] == "*" and len(lst[1]) == 1, "s is still listed after the kill", lst)
    dest = tempfile.mkdtemp(prefix="logstor-it-bk-", dir="/tmp")
    r = subprocess.run([BACKUP, "-q", srv.dir, "s", dest], capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0, "a backup after the restart succeeds", r.stderr[-300:])
    if r.returncode == 0:
        check_copy(dest, "cycle %d: the backup after the restart is exactly the snapshot" % cycle)
    shutil.rmtree(dest, ignore_errors=True)

section("the restarts rolled forward from checkpoints written while running")
check(ckpt_opens > 0, "at least one restart rolled forward from a checkpoint (%d of %d)"
      % (ckpt_opens, CYCLES))
check(presumed_seen > 0, "and took segments' uses from it without reading their heads (%d)"
      % presumed_seen)
srv.stop()
itlib.finish()
