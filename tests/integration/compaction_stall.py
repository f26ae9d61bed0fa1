"""compaction_stall.py - writes wait for compaction instead of failing (run by
compaction_stall.sh).

logstord runs on a 16 MiB disk (--disk_size 16mb --file_size 4mb: 128 segments). Eight
clients pipeline 60 KiB overwrites of a few keys each, about 12 times the disk in all,
mixed with 4 KiB keys written once (so compaction must copy live records, not only drop
dead segments); live data stays near 4 MiB. Whenever the log runs out of free segments
the engine answers LS_EBUSY until compaction frees one, and the server parks the write
(server/park.c): every SET must answer +OK, a little later, and the last SET of each key
must win. Then 50 clients x 1000 INCR of one key, with SETs still churning the disk,
must leave it at 50000. INFO logstor must show compaction at work (compaction_runs and
segments_freed above 0) and no parked write may have timed out. (With --busy_timeout_ms
0, no parking, the same load gets hundreds of "-ERR server busy" replies.)
Against redis-server (TARGET=redis) there is no disk budget; only the replies are
checked.
"""
import itlib
from itlib import Pushers, Resp, check, check_all_ok, check_last_sets, log, run_threads, section

itlib.begin("compaction_stall", time_limit_s=240)
extra = [] if itlib.IS_REAL else ["--disk_size", "16mb", "--file_size", "4mb"]
srv = itlib.Server("redis", extra=extra).start()
log("compaction_stall: target %s on 127.0.0.1:%d" %
    ("redis-server" if srv.real else "logstord --disk_size 16mb", srv.port))

VAL = 60 * 1024
CLIENTS, ROUNDS, BATCH, KEYS = 8, 8, 50, 4  # 8 x 400 x 60 KiB = 188 MiB written
COLD, COLD_VAL = 8, 4096  # per client and round: 8 x 8 x 8 x 4 KiB = 2 MiB kept


def info():
    return itlib.info(srv.port)


def value(n, rnd, i):
    return itlib.tagged_value(VAL, n, rnd, i)


def cold(n, rnd, j):
    return (b"%d:%d:%d:" % (n, rnd, j)).ljust(COLD_VAL, b"c")


def setter(n):
    c = Resp(srv.port, timeout=60)
    errors, first = 0, None
    for rnd in range(ROUNDS):
        c.send(b"".join(itlib.encode("SET", "s%d:%d" % (n, i % KEYS), value(n, rnd, i))
                        for i in range(BATCH)) +
               b"".join(itlib.encode("SET", "c%d:%d:%d" % (n, rnd, j), cold(n, rnd, j))
                        for j in range(COLD)))
        e, f = itlib.count_not_ok(c, BATCH + COLD)
        errors, first = errors + e, first or f
    c.close()
    return errors, first


section("%d clients pipeline %d overwrites of 60 KiB (12x the disk)" % (CLIENTS, ROUNDS * BATCH))
res = run_threads(setter, CLIENTS)
check_all_ok(res)
check_last_sets(srv.port, "s", CLIENTS, KEYS, BATCH, lambda n, i: value(n, ROUNDS - 1, i),
                "each key holds its last SET")
c = Resp(srv.port, timeout=30)
bad = 0
for n in range(CLIENTS):
    for rnd in range(ROUNDS):
        for j in range(COLD):
            if c.call("GET", "c%d:%d:%d" % (n, rnd, j)) != ("$", cold(n, rnd, j)):
                bad += 1
check(bad == 0, "every key written once still holds its value (%d of %d wrong)" %
      (bad, CLIENTS * ROUNDS * COLD))

section("50 clients x 1000 INCR of one key while 4 clients keep overwriting")


def incr(n):
    c = Resp(srv.port, timeout=60)
    errors, first = 0, None
    for _ in range(10):
        c.send(itlib.encode("INCR", "counter") * 100)
        for _ in range(100):
            r = c.read()
            if r[0] != ":":
                errors += 1
                first = first or r
    c.close()
    return errors, first


pushers = Pushers(srv.port, n=4, batch=20, keys=4, prefix="p")
res = run_threads(incr, 50)
push_errors = pushers.stop().errors
check_all_ok(res, "every INCR answers an integer")
check(c.call("GET", "counter") == ("$", b"50000"), "counter is 50000", c.call("GET", "counter"))
check(not push_errors, "the overwriting SETs all answer +OK (%d errors, first: %r)" %
      (len(push_errors), push_errors[:1]))

if not srv.real:
    section("INFO logstor")
    st = info()
    for k in ("segments_free", "segments_mixed", "segments_group", "compaction_runs",
              "segments_freed", "write_stalls", "write_amplification", "busy_writes_parked",
              "busy_write_timeouts"):
        log("     %s:%s" % (k, st.get(k)))
    check(int(st.get("compaction_runs", 0)) > 0, "compaction ran", st.get("compaction_runs"))
    check(int(st.get("segments_freed", 0)) > 0, "compaction freed segments", st.get("segments_freed"))
    check(st.get("busy_write_timeouts") == "0", "no parked write timed out",
          st.get("busy_write_timeouts"))
    groups = {k: int(v.split("=")[1]) for k, v in st.items() if k.startswith("group_db")}
    check(sum(groups.values()) == int(st.get("segments_group", -1)),
          "INFO's group_dbN_gM lines add up to segments_group (%s)" % st.get("segments_group"),
          sorted(groups.items())[:4])
c.close()
itlib.finish()
