"""large_backup_versions.py - a copy made by logstor-backup must never hand out a version
a list of the copy already uses (found by a review of the large lists; fixed in
ls_snapshot_export: the copy's records take sequence numbers above the source's).

ls_snapshot_export re-puts every record into a fresh engine, so the copy's record
sequence numbers restart near the number of records copied, while the roots keep the
versions of the source. ls_new_version in the copy then returns numbers the source
already gave out: a list created in the copy can take the version of a copied list and
overwrite its pages and anchor (the copied list reads another list's elements; the
reaper later deletes the pages of both). Run: python3 tests/integration/large_backup_versions.py
"""
import os
import shutil
import subprocess
import tempfile

import itlib
from itlib import Resp, check, pipeline, section

itlib.begin("large_backup_versions", time_limit_s=120)
srv = itlib.Server("redis", durability="sync").start()
c = Resp(srv.port)
section("source: 3000 strings, then 40 large lists")
pipeline(c, [["SET", "s%d" % i, "v"] for i in range(3000)])
for i in range(40):
    c.call("RPUSH", "old%d" % i, *["old%d-%d" % (i, j) for j in range(300)])
    pipeline(c, [["SET", "t%d" % j, "v"] for j in range(i % 7)])
check(c.call("SNAPSHOT", "CREATE", "s1") == ("+", "OK"), "SNAPSHOT CREATE")
backup = os.path.join(os.path.dirname(os.environ.get("LOGSTORD") or "build/logstord"),
                      "logstor-backup")
copy_dir = tempfile.mkdtemp(prefix="logstor-it-copy-", dir="/tmp")
out = subprocess.run([backup, "-q", srv.dir, "s1", copy_dir], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, timeout=120)
check(out.returncode == 0, "logstor-backup", got=out.stdout[-300:])
c.close()
srv.stop()

section("the copy: 400 new large lists, then the 40 copied ones read back")
copy = itlib.Server("redis", durability="sync", data_dir=copy_dir).start()
cc = Resp(copy.port)
for i in range(400):
    cc.call("RPUSH", "new%d" % i, *["new%d-%d" % (i, j) for j in range(300)])
    if i % 3 == 0:
        cc.call("SET", "u%d" % i, "v")
bad = []
for i in range(40):
    want = ("*", [("$", ("old%d-%d" % (i, j)).encode()) for j in range(300)])
    if cc.call("LRANGE", "old%d" % i, "0", "-1") != want:
        bad.append("old%d" % i)
check(not bad, "every copied list intact after lists were created in the copy",
      got="%d wrong: %s" % (len(bad), bad[:5]), want="0 wrong")
cc.close()
copy.stop()
shutil.rmtree(copy_dir, ignore_errors=True)
itlib.finish()
