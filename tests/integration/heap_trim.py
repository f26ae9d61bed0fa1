"""heap_trim.py - the heap a whole-collection command frees is given back (run by heap_trim.sh).

Four sorted sets of 500,000 members, ZUNIONSTORE of them into a fifth (each a whole-set
write: its elements and pages are allocated and freed in pieces), then DEL of all five.
glibc returns only the top of the heap by itself: the server stayed at its peak resident
size (a 10 M-member build: 809 MiB for 15 MiB of index). The cron now calls malloc_trim
once a second when RSS is past 128 MiB and more than twice what the server accounts for
plus 64 MiB, backing off up to a minute while trims give little back (INFO heap_trims),
so within 20 s of the DEL the server's RSS must fall below 220 MiB (before: 357 MiB at the
peak and after the DEL; now about 240 and 160).
"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itlib
from itlib import Resp, check, section

itlib.begin("heap_trim", time_limit_s=110)
srv = itlib.Server("redis", durability="periodic").start()
c = Resp(srv.port, timeout=120)


def rss_mib():
    with open("/proc/%d/status" % srv.proc.pid) as f:
        return int([l for l in f if l.startswith("VmRSS")][0].split()[1]) // 1024


section("4 x 500,000 members, ZUNIONSTORE, DEL")
n = 500000
for j in range(4):
    args = ["ZADD", "zp%d" % j]
    for i in range(n):
        args += [str(i * 4 + j), "m%d" % (i * 4 + j)]
    check(c.call(*args) == (":", n), "ZADD of %d members into zp%d" % (n, j))
check(c.call("ZUNIONSTORE", "zbig", "4", "zp0", "zp1", "zp2", "zp3") == (":", 4 * n),
      "ZUNIONSTORE of the four")
peak = rss_mib()
check(c.call("DEL", "zp0", "zp1", "zp2", "zp3", "zbig") == (":", 5), "DEL of all five")
after = peak
for _ in range(200):
    time.sleep(0.1)
    after = rss_mib()
    if after < 220:
        break
trims = itlib.info_int(srv.port, "heap_trims") or 0
itlib.log("RSS %d MiB after the union, %d MiB after the DEL; heap_trims %d" % (peak, after, trims))
check(peak >= 192, "the union took memory (%d MiB resident: the test needs past 128)" % peak)
check(after < 220, "RSS falls below 220 MiB within 20 s (%d -> %d MiB; 357 -> 357 before)" % (peak, after))
check(trims >= 1, "INFO heap_trims counts it (%d)" % trims)
c.close()
itlib.finish()
