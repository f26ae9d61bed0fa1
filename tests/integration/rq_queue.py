"""rq_queue.py - Python rq 1.13 (python3-rq, from Debian) against logstord (issue 15).

rq keeps queues in lists, jobs in hashes, registries in sorted sets and, on a server of
Redis 5 or later, each job's results in a stream (XADD with MAXLEN 10, read back with
XREVRANGE and XRANGE). A burst worker (`rq worker --burst`, a subprocess that forks a
work horse per job) runs the jobs enqueued from this process:

1. 30 jobs return the right results (job.result, job.latest_result(): the stream), a job
   that raises comes back FAILED with its traceback, a job run again keeps both results
   (job.results(), newest first).
2. logstord only: each result key is a stream of at most 10 entries, and the queue is
   empty once the worker is done.
"""
import os
import subprocess
import tempfile
import textwrap

import itlib
from itlib import check, section

itlib.begin("rq_queue", time_limit_s=160)
try:
    import redis
    import rq
    from rq.job import Job
    from rq.results import Result
except ImportError as e:  # deps.sh installs python3-rq
    check(False, "python3-rq is installed (scripts/deps.sh)", str(e))
    itlib.finish()

srv = itlib.Server("redis").start()
tmp = tempfile.mkdtemp(prefix="logstor-it-rq-", dir="/tmp")
with open(os.path.join(tmp, "rqjobs.py"), "w") as f:
    f.write(textwrap.dedent("""
        def add(x, y):
            return x + y

        def boom():
            raise ValueError("on purpose")
    """))
env = dict(os.environ, PYTHONPATH=tmp)
url = "redis://127.0.0.1:%d/0" % srv.port
conn = redis.Redis(host="127.0.0.1", port=srv.port)
q = rq.Queue("lq", connection=conn)


def work():
    p = subprocess.run(["/usr/bin/python3", "-m", "rq.cli", "worker", "--burst", "--url", url,
                        "lq"], env=env, cwd=tmp, capture_output=True, timeout=120)
    if p.returncode != 0:
        itlib.log(p.stdout.decode(errors="replace")[-2000:])
        itlib.log(p.stderr.decode(errors="replace")[-2000:])
    return p.returncode


section("jobs and their results")
jobs = [q.enqueue("rqjobs.add", i, 100) for i in range(30)]
bad = q.enqueue("rqjobs.boom")
check(work() == 0, "rq worker --burst ran and exited 0")
results = [Job.fetch(j.id, connection=conn) for j in jobs]
check(all(j.get_status() == "finished" for j in results), "every job finished",
      got=[j.get_status() for j in results if j.get_status() != "finished"][:3])
check([j.result for j in results] == [i + 100 for i in range(30)], "every result right",
      got=[j.result for j in results][:5])
lr = results[7].latest_result()
check(lr is not None and lr.type == Result.Type.SUCCESSFUL and lr.return_value == 107,
      "job.latest_result() from the result stream (XREVRANGE)", got=lr)
bj = Job.fetch(bad.id, connection=conn)
check(bj.get_status() == "failed" and "ValueError: on purpose" in (bj.exc_info or ""),
      "a job that raises: failed, with its traceback", got=(bj.get_status(), (bj.exc_info or "")[-80:]))
check(bj.latest_result().type == Result.Type.FAILED, "its result in the stream is FAILED")
# the same job run again: two results in its stream
j0 = results[0]
j0.requeue() if j0.get_status() == "failed" else q.enqueue_job(j0)
check(work() == 0, "a second burst ran the job again")
rs = Job.fetch(j0.id, connection=conn).results()
check(len(rs) == 2 and all(x.return_value == 100 for x in rs) and rs[0].id > rs[1].id,
      "job.results(): both runs, newest first (XRANGE)", got=rs)

if not itlib.IS_REAL:
    section("logstord: what rq left")
    keys = conn.keys("rq:results:*")
    check(len(keys) == 31 and all(conn.type(k) == b"stream" and 1 <= conn.xlen(k) <= 10 for k in keys),
          "31 result keys, each a stream of at most 10 entries", got=len(keys))
    check(conn.llen("rq:queue:lq") == 0, "the queue is empty")
    check(srv.alive(), "server still running")

itlib.finish()
