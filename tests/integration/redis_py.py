"""redis_py.py - redis-py (Debian's python3-redis) against logstord, the paths it takes by
default (issue 12), run by real_clients.sh with the system's python3:

1. pipeline() is transactional by default (MULTI ... EXEC): results in order, a runtime
   error raised after the others ran, and r.transaction() (WATCH, retry on a changed key)
   from 4 threads incrementing one counter: no increment lost.
2. Lock (EVALSHA scripts: acquire with SET NX PX, release and extend by token): mutual
   exclusion between threads, release by a non-owner refused, extend, the key gone after
   release.
3. register_script: a script object loaded by EVALSHA after NOSCRIPT.
"""
import threading
import time

import redis
from redis.exceptions import LockNotOwnedError, ResponseError

import itlib
from itlib import check, section

itlib.begin("redis_py", time_limit_s=120)
srv = itlib.Server("redis").start()
r = redis.Redis(host="127.0.0.1", port=srv.port)

section("pipeline(transaction=True)")
p = r.pipeline()
p.set("pk", 1).incr("pk").incrby("pk", 5).get("pk")
check(p.execute() == [True, 2, 7, b"7"], "a pipeline's results in order")
p = r.pipeline()
p.set("pe", "x").incr("pe").set("pf", "after")
try:
    p.execute()
    raised = False
except ResponseError:
    raised = True
check(raised and r.get("pf") == b"after",
      "a runtime error is raised after EXEC, and the other commands ran (as in Redis)")
r.set("counter", 0)
N, T = 50, 4


def bump(pipe):
    v = int(pipe.get("counter"))
    pipe.multi()
    pipe.set("counter", v + 1)


def worker(i):
    for _ in range(N):
        r.transaction(bump, "counter")


itlib.run_threads(worker, T)
check(int(r.get("counter")) == N * T,
      "r.transaction() with WATCH from %d threads: %d increments, none lost (%s)" %
      (T, N * T, r.get("counter")))

section("Lock")
inside, overlap, rounds = [0], [0], [0]


def locker(i):
    for _ in range(20):
        with r.lock("res", timeout=5, blocking_timeout=20):
            inside[0] += 1
            if inside[0] > 1:
                overlap[0] += 1
            time.sleep(0.001)
            inside[0] -= 1
            rounds[0] += 1


itlib.run_threads(locker, 4)
check(rounds[0] == 80 and overlap[0] == 0,
      "4 threads x 20 rounds under the lock, never two inside (%d rounds, %d overlaps)" %
      (rounds[0], overlap[0]))
check(r.exists("res") == 0, "the lock's key is gone after the last release")
lk = r.lock("res2", timeout=2)
check(lk.acquire(blocking=False), "acquire")
check(not r.lock("res2", timeout=2).acquire(blocking=False), "a second acquire fails")
check(lk.extend(10) and r.pttl("res2") > 5000, "extend adds to the TTL")
other = r.lock("res2")
other.local.token = b"not-the-owner"
try:
    other.release()
    refused = False
except LockNotOwnedError:
    refused = True
check(refused and r.exists("res2") == 1, "release by a non-owner is refused")
lk.release()
check(r.exists("res2") == 0, "release by the owner deletes the key")

section("register_script")
r.script_flush()
s = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
check(s(keys=["sc"], args=[5]) == 5 and s(keys=["sc"], args=[2]) == 7,
      "a script object runs (EVALSHA, loaded after NOSCRIPT)")
itlib.finish()
