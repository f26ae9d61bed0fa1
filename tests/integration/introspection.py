"""introspection.py - server introspection as Redis 7.0 answers it (run by introspection.sh).

ROLE, ACL WHOAMI/LIST, COMMAND COUNT/LIST FILTERBY/GETKEYS/GETKEYSANDFLAGS, CONFIG GET of
the Redis parameters clients read and CONFIG SET's checks (duplicates, odd counts), CLIENT
INFO's Redis 7 fields, CLIENT NO-EVICT and REPLY arguments, NO-EVICT keeping a client from
client eviction, INFO cpu / replication / commandstats / errorstats and which sections
INFO default and INFO all hold. Every expected reply is Redis 7.0.15's: TARGET=redis runs
the same checks against redis-server.
"""
import hashlib
import socket
import time

import itlib
from itlib import Resp, check, section, log

MIB = 1024 * 1024

itlib.begin("introspection", time_limit_s=60)
srv = itlib.Server("redis").start()
log("introspection: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord",
                                                 srv.port))
c = Resp(srv.port)


def expect(args, want):
    got = c.call(*args)
    check(got == want, " ".join(args), got, want)


def flags(*words):
    return ("*", [("+", w) for w in words])


def info_fields(text):
    return dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)


section("ROLE and ACL")
expect(["ROLE"], ("*", [("$", b"master"), (":", 0), ("*", [])]))
expect(["ROLE", "x"], ("-", "ERR wrong number of arguments for 'role' command"))
expect(["ACL", "WHOAMI"], ("$", b"default"))
expect(["ACL", "LIST"], ("*", [("$", b"user default on nopass ~* &* +@all")]))
expect(["ACL", "WHOAMI", "x"], ("-", "ERR wrong number of arguments for 'acl|whoami' command"))
expect(["ACL", "LIST", "x"], ("-", "ERR wrong number of arguments for 'acl|list' command"))
expect(["ACL"], ("-", "ERR wrong number of arguments for 'acl' command"))
expect(["ACL", "FOO"], ("-", "ERR unknown subcommand 'FOO'. Try ACL HELP."))
for pw in ("pass word", "p" * 55, "q" * 56, "r" * 64, "s" * 130):
    c.call("CONFIG", "SET", "requirepass", pw)
    c.call("AUTH", pw)
    line = "user default on #%s ~* &* +@all" % hashlib.sha256(pw.encode()).hexdigest()
    expect(["ACL", "LIST"], ("*", [("$", line.encode())]))
expect(["CONFIG", "SET", "requirepass", ""], ("+", "OK"))

section("COMMAND GETKEYS, GETKEYSANDFLAGS, COUNT, LIST")
expect(["COMMAND", "GETKEYS", "get", "k"], ("*", [("$", b"k")]))
expect(["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"], ("*", [("$", b"a"), ("$", b"b")]))
expect(["COMMAND", "GETKEYS", "mset", "a", "1", "b"], ("*", [("$", b"a"), ("$", b"b")]))
expect(["COMMAND", "GETKEYS", "del", "a", "b", "c"],
       ("*", [("$", b"a"), ("$", b"b"), ("$", b"c")]))
expect(["COMMAND", "GETKEYS", "get"],
       ("-", "ERR wrong number of arguments for 'command|getkeys' command"))
expect(["COMMAND", "GETKEYS", "nosuch", "a"], ("-", "ERR Invalid command specified"))
expect(["COMMAND", "GETKEYS", "ping", "a"], ("-", "ERR The command has no key arguments"))
expect(["COMMAND", "GETKEYS", "get", "k", "x"],
       ("-", "ERR Invalid number of arguments specified for command"))
for args, fl in [(["set", "k", "v"], ["OW", "update"]),
                 (["set", "k", "v", "get"], ["RW", "access", "update"]),
                 (["get", "k"], ["RO", "access"]),
                 (["del", "k"], ["RM", "delete"]),
                 (["incr", "k"], ["RW", "access", "update"]),
                 (["append", "k", "v"], ["RW", "insert"]),
                 (["setnx", "k", "v"], ["OW", "insert"]),
                 (["exists", "k"], ["RO"]),
                 (["expire", "k", "1"], ["RW", "update"]),
                 (["getdel", "k"], ["RW", "access", "delete"])]:
    expect(["COMMAND", "GETKEYSANDFLAGS"] + args, ("*", [("*", [("$", b"k"), flags(*fl)])]))
expect(["COMMAND", "COUNT", "x"], ("-", "ERR wrong number of arguments for 'command|count' command"))
expect(["COMMAND", "LIST", "FILTERBY", "PATTERN", "getra*"], ("*", [("$", b"getrange")]))
expect(["COMMAND", "LIST", "FILTERBY", "PATTERN", "set"], ("*", [("$", b"set")]))
expect(["COMMAND", "LIST", "FILTERBY", "ACLCAT", "no_such_category"], ("*", []))
expect(["COMMAND", "LIST", "FILTERBY", "MODULE", "no_such_module"], ("*", []))
for bad in (["x"], ["FILTERBY", "x"], ["FILTERBY", "x", "y"], ["FILTERBY", "PATTERN"]):
    expect(["COMMAND", "LIST"] + bad, ("-", "ERR syntax error"))
listed = {v for _, v in c.call("COMMAND", "LIST")[1]}
check({b"set", b"client|list", b"config|get", b"command|getkeys"} <= listed,
      "COMMAND LIST names commands and subcommands (client|list, config|get)")
subs = {v for _, v in c.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "config|*")[1]}
check({b"config|get", b"config|set", b"config|resetstat"} <= subs and b"config" not in subs,
      "COMMAND LIST FILTERBY PATTERN config|* lists config's subcommands", sorted(subs))

section("CONFIG GET and SET")
expect(["CONFIG", "GET", "maxmemory"], ("*", [("$", b"maxmemory"), ("$", b"0")]))
expect(["CONFIG", "GET", "maxmemory-policy"],
       ("*", [("$", b"maxmemory-policy"), ("$", b"noeviction")]))
expect(["CONFIG", "GET", "save"], ("*", [("$", b"save"), ("$", b"")]))
expect(["CONFIG", "GET", "appendonly"], ("*", [("$", b"appendonly"), ("$", b"no")]))
got = c.call("CONFIG", "GET", "maxmemory-clients")
check(got[0] == "*" and len(got[1]) == 2 and got[1][0] == ("$", b"maxmemory-clients"),
      "CONFIG GET maxmemory-clients answers under the name asked", got)
expect(["CONFIG", "SET", "maxmemory", "0"], ("+", "OK"))
expect(["CONFIG", "SET", "maxmemory", "0", "maxmemory", "0"],
       ("-", "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"))
expect(["CONFIG", "SET", "loglevel", "notice", "LOGLEVEL", "notice"],
       ("-", "ERR CONFIG SET failed (possibly related to argument 'LOGLEVEL') - duplicate parameter"))
expect(["CONFIG", "SET", "nosuch", "1", "loglevel", "notice", "loglevel", "notice"],
       ("-", "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"))
expect(["CONFIG", "SET", "loglevel", "notice", "x"], ("-", "ERR syntax error"))
expect(["CONFIG", "SET", "loglevel"],
       ("-", "ERR wrong number of arguments for 'config|set' command"))
expect(["CONFIG", "SET", "loglevel", "notice"], ("+", "OK"))

section("CLIENT INFO, NO-EVICT, REPLY")
line = c.call("CLIENT", "INFO")[1].decode()
f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
for k in ("rbs", "rbp", "obl", "argv-mem", "multi-mem", "tot-mem"):
    check(k in f, "CLIENT INFO has %s=" % k, line)
check(f.get("cmd") == "client|info", "CLIENT INFO: cmd=client|info", f.get("cmd"))
check(f.get("qbuf") == "26", "CLIENT INFO: qbuf=26 (the command being run)", f.get("qbuf"))
check((f.get("oll"), f.get("omem")) == ("0", "0"), "CLIENT INFO: oll=0 omem=0",
      (f.get("oll"), f.get("omem")))
check(f.get("flags") == "N", "CLIENT INFO: flags=N", f.get("flags"))
order = [kv.split("=", 1)[0] for kv in line.split()]
want_order = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub",
              "ssub", "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl",
              "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp"]
check(order[:len(want_order)] == want_order, "CLIENT INFO: Redis 7.0's fields in order", order)
expect(["CLIENT", "NO-EVICT", "maybe"], ("-", "ERR syntax error"))
expect(["CLIENT", "REPLY", "maybe"], ("-", "ERR syntax error"))
expect(["CLIENT", "REPLY", "on"], ("+", "OK"))
expect(["CLIENT", "NO-EVICT", "on"], ("+", "OK"))
line = c.call("CLIENT", "INFO")[1].decode()
check(" flags=e " in line, "CLIENT NO-EVICT on: flags=e", line)

section("CLIENT NO-EVICT keeps a client from client eviction")
check(c.call("CONFIG", "SET", "client-query-buffer-limit", "64mb") == ("+", "OK"),
      "CONFIG SET client-query-buffer-limit 64mb")
check(c.call("CONFIG", "SET", "maxmemory-clients", "24mb") == ("+", "OK"),
      "CONFIG SET maxmemory-clients 24mb")
evicted0 = int(info_fields(c.call("INFO", "stats")[1].decode())["evicted_clients"])
s = socket.create_connection(("127.0.0.1", srv.port))
s.settimeout(10)
s.sendall(b"*3\r\n$6\r\nCLIENT\r\n$8\r\nNO-EVICT\r\n$2\r\non\r\n")
check(s.recv(100) == b"+OK\r\n", "the big client: CLIENT NO-EVICT on")
gone = False
try:
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$40000000\r\n")
    for _ in range(30):
        s.sendall(b"q" * MIB)
    time.sleep(1.0)
    s.setblocking(False)
    gone = s.recv(100) == b""
except BlockingIOError:
    pass
except OSError:  # reset: the server closed it while it was sending
    gone = True
evicted = int(info_fields(c.call("INFO", "stats")[1].decode())["evicted_clients"])
check(evicted == evicted0, "no client evicted (evicted_clients %d -> %d)" % (evicted0, evicted))
check(not gone, "the NO-EVICT client holding 30 MiB is still connected")
s.close()
check(c.call("CONFIG", "SET", "maxmemory-clients", "0") == ("+", "OK"),
      "CONFIG SET maxmemory-clients 0")

section("INFO sections, commandstats, errorstats")
cpu = info_fields(c.call("INFO", "cpu")[1].decode())
check({"used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children",
       "used_cpu_sys_main_thread", "used_cpu_user_main_thread"} <= set(cpu),
      "INFO cpu: Redis's six used_cpu_ fields", sorted(cpu))
repl = info_fields(c.call("INFO", "replication")[1].decode())
check(repl.get("role") == "master" and repl.get("connected_slaves") == "0" and
      len(repl.get("master_replid", "")) == 40 and repl.get("master_repl_offset") == "0",
      "INFO replication: role:master, no replicas, a 40-digit replid", repl)
expect(["CONFIG", "RESETSTAT"], ("+", "OK"))
c.call("SET", "foo", "bar")
c.call("EXPIRE", "foo", "100")
c.call("SET", "n", "x")
c.call("INCR", "n")          # fails: not an integer
c.call("GET")                # rejected: arity
c.call("CLIENT", "ID")
c.call("NOSUCHCOMMAND")
stats = info_fields(c.call("INFO", "commandstats")[1].decode())
for name, calls, rejected, failed in [("expire", 1, 0, 0), ("set", 2, 0, 0), ("incr", 1, 0, 1),
                                      ("get", 0, 1, 0), ("client|id", 1, 0, 0)]:
    v = stats.get("cmdstat_" + name, "")
    ok = v.startswith("calls=%d," % calls) and \
        v.endswith(",rejected_calls=%d,failed_calls=%d" % (rejected, failed))
    check(ok, "INFO commandstats %s: calls=%d rejected_calls=%d failed_calls=%d" %
          (name, calls, rejected, failed), v)
check("cmdstat_del" not in stats, "no line for a command not called")
errs = info_fields(c.call("INFO", "errorstats")[1].decode())
check(errs == {"errorstat_ERR": "count=3"}, "INFO errorstats: errorstat_ERR:count=3", errs)
dflt = c.call("INFO")[1].decode()
allinfo = c.call("INFO", "all")[1].decode()
for sec in ("# Replication", "# CPU", "# Errorstats"):
    check(sec in dflt and sec in allinfo, "INFO and INFO all hold %s" % sec)
check("# Commandstats" not in dflt and "# Commandstats" in allinfo,
      "commandstats only in INFO all")
check(c.call("INFO", "commandSTATS")[1].decode().startswith("# Commandstats"),
      "INFO commandSTATS (any case)")

section("INFO latencystats")
import re  # noqa: E402


def latstats():
    return info_fields(c.call("INFO", "latencystats")[1].decode())


expect(["CONFIG", "SET", "latency-tracking", "yes"], ("+", "OK"))
expect(["CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9"], ("+", "OK"))
expect(["CONFIG", "RESETSTAT"], ("+", "OK"))
c.call("SET", "a", "b")
c.call("GET", "a")
c.call("CLIENT", "ID")
ls = latstats()
pat = r"p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}"
for name in ("set", "get", "client|id"):
    v = ls.get("latency_percentiles_usec_" + name, "")
    check(re.fullmatch(pat, v) is not None, "latency_percentiles_usec_%s: p50=,p99=,p99.9= "
          "in us with 3 decimals" % name, v)
v = ls.get("latency_percentiles_usec_set", "")
nums = [float(x.split("=")[1]) for x in v.split(",")] if v else []
check(nums == sorted(nums), "p50 <= p99 <= p99.9", v)
check("latency_percentiles_usec_del" not in ls, "no line for a command not run")
check("# Latencystats" not in c.call("INFO")[1].decode() and
      "# Latencystats" in c.call("INFO", "all")[1].decode(),
      "in INFO all, not in INFO default")
expect(["CONFIG", "SET", "latency-tracking-info-percentiles", "0.0 50.0 100.0"], ("+", "OK"))
v = latstats().get("latency_percentiles_usec_set", "")
check(re.fullmatch(r"p0=[\d.]+,p50=[\d.]+,p100=[\d.]+", v) is not None,
      "the percentiles follow latency-tracking-info-percentiles (0 50 100)", v)
expect(["CONFIG", "RESETSTAT"], ("+", "OK"))
check("latency_percentiles_usec_set" not in latstats(), "CONFIG RESETSTAT clears them")
expect(["CONFIG", "SET", "latency-tracking", "no"], ("+", "OK"))
c.call("SET", "a", "b")
check(c.call("INFO", "latencystats")[1].decode().strip() == "# Latencystats",
      "latency-tracking no: the section is empty")
expect(["CONFIG", "SET", "latency-tracking", "yes"], ("+", "OK"))
expect(["CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9"], ("+", "OK"))

if not srv.real:
    section("INFO logstor: where a durable write's time goes")
    for i in range(20):  # sync mode: each waits for its group commit
        c.call("SET", "lat:%d" % i, "v" * 100)
    lg = info_fields(c.call("INFO", "logstor")[1].decode())

    def hist(name):
        return dict(kv.split("=") for kv in lg.get(name, "").split(",") if "=" in kv)

    w, cm = hist("device_write_latency_usec"), hist("commit_latency_usec")
    check(set(w) == {"p50", "p99", "p99.9", "max", "count"} and set(cm) == set(w),
          "device_write_latency_usec and commit_latency_usec: p50, p99, p99.9, max, count",
          (lg.get("device_write_latency_usec"), lg.get("commit_latency_usec")))
    if set(w) == {"p50", "p99", "p99.9", "max", "count"} and set(cm) == set(w):
        check(int(w["count"]) == int(lg["device_writes"]) and int(w["count"]) >= 1,
              "one device write latency per device write (%s, %s)" % (w["count"],
                                                                       lg["device_writes"]))
        check(20 <= int(cm["count"]) <= int(w["count"]),
              "a commit latency per user buffer written: at least one per SET here (%s)"
              % cm["count"])
        for h in (w, cm):
            v = [int(h[k]) for k in ("p50", "p99", "p99.9", "max")]
            check(v == sorted(v) and v[0] > 0, "p50 <= p99 <= p99.9 <= max, all above 0", h)
    # one client's SETs one after another: each its own group-commit seal, a light load
    check(lg.get("group_commit_load") == "light",
          "group_commit_load: light under one client's SETs (sync, group_commit_us 200)",
          lg.get("group_commit_load"))
    check(int(lg.get("group_commit_seals", "0")) >= 20,
          "group_commit_seals: at least one per SET", lg.get("group_commit_seals"))
    check(lg.get("group_commit_judged_heavy") == "0" and
          lg.get("group_commit_judged_light", "").isdigit(),
          "group_commit_judged_light/heavy: never judged heavy",
          (lg.get("group_commit_judged_light"), lg.get("group_commit_judged_heavy")))

c.close()
check(srv.alive(), "the server is still up")
itlib.finish()
