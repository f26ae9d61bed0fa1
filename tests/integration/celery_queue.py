"""celery_queue.py - Celery 5.2 (python3-celery, from Debian) against logstord (issue 15).

Celery's Redis broker (kombu) keeps queues in lists popped with BRPOP, unacknowledged
messages in a hash and a sorted set, binds exchanges with sets and uses MULTI/EXEC
pipelines; its Redis result backend stores results in strings and waits on pub/sub. A
worker (`celery worker --pool=solo`, a subprocess) runs tasks sent from this process:

1. 40 tasks (add) all return the right result; a task that raises comes back as its
   exception; a chord-free group of 10 gathers its results.
2. logstord only: the broker's keys are lists, hashes, sets and sorted sets (TYPE), and the
   queue is empty once everything ran.
"""
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import itlib
from itlib import check, section

itlib.begin("celery_queue", time_limit_s=160)
try:
    import celery  # noqa: F401
    import redis
except ImportError as e:  # deps.sh installs python3-celery
    check(False, "python3-celery is installed (scripts/deps.sh)", str(e))
    itlib.finish()

srv = itlib.Server("redis").start()
url = "redis://127.0.0.1:%d" % srv.port
tmp = tempfile.mkdtemp(prefix="logstor-it-celery-", dir="/tmp")
with open(os.path.join(tmp, "ltasks.py"), "w") as f:
    f.write(textwrap.dedent("""
        import os
        from celery import Celery
        app = Celery("ltasks", broker=os.environ["LT_URL"] + "/0",
                     backend=os.environ["LT_URL"] + "/1")
        app.conf.broker_connection_retry_on_startup = True

        @app.task
        def add(x, y):
            return x + y

        @app.task
        def boom():
            raise ValueError("on purpose")
    """))
env = dict(os.environ, LT_URL=url, PYTHONPATH=tmp)
worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ltasks", "worker", "--pool=solo",
                           "--concurrency=1", "--without-gossip", "--without-mingle",
                           "--without-heartbeat", "-l", "warning"],
                          cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
sys.path.insert(0, tmp)
os.environ["LT_URL"] = url
import ltasks  # noqa: E402

try:
    section("tasks through a worker")
    res = [ltasks.add.delay(i, 100) for i in range(40)]
    got = [r.get(timeout=60) for r in res]
    check(got == [i + 100 for i in range(40)], "40 tasks, every result right", got[:5])
    err = ltasks.boom.delay()
    try:
        err.get(timeout=30)
        check(False, "the failing task raises")
    except ValueError as e:
        check("on purpose" in str(e), "the failing task comes back as its exception", str(e))
    from celery import group
    g = group(ltasks.add.s(i, i) for i in range(10))()
    check(g.get(timeout=60) == [2 * i for i in range(10)], "a group of 10 gathers its results")
    if not itlib.IS_REAL:
        section("what the broker keeps")
        r = redis.Redis(host="127.0.0.1", port=srv.port, db=0)
        types = {k.decode(): r.type(k).decode() for k in r.keys("*")}
        check(any(t == "set" for t in types.values()), "bindings in sets", types)
        check(r.llen("celery") == 0, "the queue is empty", r.llen("celery"))
        r.close()
finally:
    worker.terminate()
    try:
        out = worker.communicate(timeout=20)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        worker.kill()
        out = worker.communicate()[0].decode(errors="replace")
    if itlib._state["failures"]:
        itlib.log("worker output:\n" + out[-3000:])
check(srv.alive(), "server still running")
try:
    itlib.finish()
except SystemExit as e:  # Celery's results would unsubscribe from a stopped server at exit
    sys.stdout.flush()
    os._exit(e.code or 0)
