"""bench/streams_load.py PORT PID N - large-stream loads for bench/streams.sh (issue 15).

Fills stream `s` with N entries (XADD pipelined, 1,000 a round trip), then runs on it:
  xadd      the fill itself (pipelined XADDs)
  xrg       XREADGROUP GROUP g c COUNT 10 STREAMS s > and XACK of what it delivered
  xrg+xdel  the same, then XDEL of the 10 IDs (ack-and-delete)
  xinfo     XINFO GROUPS s (a dashboard's lag poll)
Prints one line per load: name ops ops/s us_cpu_per_op (the server's utime+stime from
/proc/PID/stat around the load, over its operations). Uses redis-py (Debian's
python3-redis).
"""
import os
import sys
import time

import redis

port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(port=port, socket_timeout=600)
tick = os.sysconf("SC_CLK_TCK")


def cpu():
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / tick


def timed(name, ops, fn):
    c0, t0 = cpu(), time.time()
    fn()
    t, c = time.time() - t0, cpu() - c0
    print("%s %d %.0f %.1f" % (name, ops, ops / t, c / ops * 1e6), flush=True)


def fill():
    p = r.pipeline(transaction=False)
    for i in range(1, n + 1):
        p.xadd("s", {"f": "v%d" % i, "pad": "x" * 40}, id="%d-1" % i)
        if i % 1000 == 0:
            p.execute()
    p.execute()


timed("xadd", n, fill)
r.xgroup_create("s", "g", "0")
ROUNDS = max(10, min(2000, n // 40))  # each xrg load takes 10 entries a round


def xrg(delete):
    def run():
        for _ in range(ROUNDS):
            got = r.xreadgroup("g", "c", {"s": ">"}, count=10)
            ids = [e[0] for e in got[0][1]] if got else []
            if ids:
                r.xack("s", "g", *ids)
                if delete:
                    r.xdel("s", *ids)
    return run


timed("xrg", ROUNDS, xrg(False))
timed("xrg+xdel", ROUNDS, xrg(True))
timed("xinfo", ROUNDS, lambda: [r.xinfo_groups("s") for _ in range(ROUNDS)])
