"""mget_memory.py - one MGET cannot take gigabytes (issue 11 items 6 and 18; run by
mget_memory.sh). The server's peak RSS (VmHWM, reset through /proc/PID/clear_refs before
each MGET) is measured around:
1. an MGET of N keys of 100 bytes read from the device (--cache_size 0). Each read holds
   an aligned device buffer until it completes, and all N used to be started at once
   (200 k keys: 1.6 GB); reads are now bounded per command and per connection, so the
   peak may grow by the reply, the request and the lock table only;
2. an MGET naming one 1 MiB key R times, past --client_output_buffer_limit 16mb. Every
   value used to be copied before the reply was built (2,000 times: 2.3 GB); now values
   are put in the reply in key order as they arrive and reading stops at the output limit:
   the connection is closed (as Redis does past client-output-buffer-limit), the server
   keeps serving, and its peak grows by about the limit.
MGET_KEYS, MGET_REPEAT and MGET_LIMIT change N, R and the limit (defaults 50000, 300,
16mb) for figures; against redis-server (TARGET=redis) the test is skipped.
"""
import os
import time

import itlib
from itlib import Resp, check, encode, log, section

itlib.begin("mget_memory", time_limit_s=240)
if itlib.IS_REAL:
    itlib.skip("the memory figures are logstord's")
    itlib.finish()
N = int(os.environ.get("MGET_KEYS", 50000))
R = int(os.environ.get("MGET_REPEAT", 300))
LIMIT = os.environ.get("MGET_LIMIT", "16mb")
LIMIT_MB = int(LIMIT[:-2]) * (1024 if LIMIT.endswith("gb") else 1)
MB = 1024 * 1024


def vm(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1]) * 1024
    return 0


def reset_peak(pid):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


srv = itlib.Server("redis", extra=["--cache_size", "0", "--client_output_buffer_limit", LIMIT,
                                   "--durability", "periodic"]).start()
pid = srv.proc.pid
c = Resp(srv.port, timeout=120)

section("MGET of %d keys of 100 bytes read from the device" % N)
for first in range(0, N, 2000):
    m = min(2000, N - first)
    c.send(b"".join(encode("SET", "k:%d" % i, (b"%d:" % i).ljust(100, b"v"))
                    for i in range(first, first + m)))
    e, bad = itlib.count_not_ok(c, m)
    if e:
        check(False, "SETs answer +OK", bad)
        break
c.call("SAVE")  # every record on the device, none left in a write buffer
time.sleep(0.2)
reset_peak(pid)
base = vm(pid, "VmRSS")
t0 = time.time()
r = c.call("MGET", *["k:%d" % i for i in range(N)])
dt = time.time() - t0
peak = vm(pid, "VmHWM")
vals = r[1] if r[0] == "*" else []
wrong = sum(1 for i, v in enumerate(vals) if v != ("$", (b"%d:" % i).ljust(100, b"v")))
check(len(vals) == N and wrong == 0, "MGET answers the %d values in order (%d wrong)" %
      (N, wrong), r[0])
grew = (peak - base) / MB
log("     RSS %.1f MB before, peak %.1f MB during (+%.1f MB), %.2f s" %
    (base / MB, peak / MB, grew, dt))
check(grew < 96, "peak RSS grew by less than 96 MB (+%.1f MB; %d reads at once took about "
      "%d MB)" % (grew, N, N * 8 // 1024))

section("MGET of one 1 MiB key %d times, past a %s output limit" % (R, LIMIT))
check(c.call("SET", "big", b"B" * MB) == ("+", "OK"), "SET big (1 MiB)")
drops0 = itlib.info_int(srv.port, "client_output_buffer_limit_disconnections")
reset_peak(pid)
base = vm(pid, "VmRSS")
g = Resp(srv.port, timeout=120)
g.send(encode("MGET", *(["big"] * R)))
closed = g.closed_by_server(wait=60)
peak = vm(pid, "VmHWM")
grew = (peak - base) / MB
log("     RSS %.1f MB before, peak %.1f MB during (+%.1f MB); %d bytes of reply received" %
    (base / MB, peak / MB, grew, len(g.buf)))
check(closed, "the connection is closed at the output limit")
check(grew < 2 * LIMIT_MB + 32, "peak RSS grew by less than twice the limit + 32 MB (+%.1f MB; "
      "copying every value took %d MB)" % (grew, R))
drops = itlib.info_int(srv.port, "client_output_buffer_limit_disconnections") - drops0
check(drops == 1, "INFO counts one output-limit disconnection", drops)
g.close()
check(c.call("GET", "k:7") == ("$", b"7:".ljust(100, b"v")), "the server still serves")
check(c.call("MGET", "big", "k:1") == ("*", [("$", b"B" * MB), ("$", b"1:".ljust(100, b"v"))]),
      "an MGET within the limit is answered")
c.close()
itlib.finish()
