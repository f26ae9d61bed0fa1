#!/usr/bin/env bash
# Real clients against logstord (issue 12): redis-py from Debian (python3-redis, run with
# the system's python3), ioredis and BullMQ (issue 15: its Lua scripts, its events stream
# read with XREAD BLOCK) from npm (tests/clients, installed on first use with the pinned
# package-lock.json). Checks in redis_py.py, tests/clients/ioredis_test.js and
# tests/clients/bullmq_test.js.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rc=0
PYTHONDONTWRITEBYTECODE=1 timeout 130 /usr/bin/python3 "$here/redis_py.py" || rc=1
if [ ! -d "$root/tests/clients/node_modules/ioredis" ] || [ ! -d "$root/tests/clients/node_modules/bullmq" ]; then
    (cd "$root/tests/clients" && timeout 300 npm ci --no-audit --no-fund >/dev/null) ||
        { echo "FAIL: npm ci of tests/clients (ioredis, bullmq) failed"; exit 1; }
fi
PYTHONDONTWRITEBYTECODE=1 timeout 60 python3 - "$root" <<'PY' || rc=1
import subprocess, sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import itlib
itlib.begin("ioredis", time_limit_s=50)
srv = itlib.Server("redis").start()
out = subprocess.run(["node", sys.argv[1] + "/tests/clients/ioredis_test.js", str(srv.port)],
                     capture_output=True, text=True, timeout=40)
print(out.stdout, end="")
itlib.check(out.returncode == 0, "ioredis: every check passed", out.stderr[-500:] or None)
itlib.finish()
PY
PYTHONDONTWRITEBYTECODE=1 timeout 90 python3 - "$root" <<'PY' || rc=1
import subprocess, sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import itlib
itlib.begin("bullmq", time_limit_s=80)
srv = itlib.Server("redis").start()
out = subprocess.run(["node", sys.argv[1] + "/tests/clients/bullmq_test.js", str(srv.port)],
                     capture_output=True, text=True, timeout=70)
print(out.stdout, end="")
itlib.check(out.returncode == 0, "bullmq: every check passed", out.stderr[-500:] or None)
itlib.check(srv.alive(), "server still running")
itlib.finish()
PY
exit $rc
