"""server_ops.py - the operations surface Redis tools read, as Redis 7.0 answers it (run by
server_ops.sh): INFO keyspace's expires= and avg_ttl across overwrite, PERSIST, delete,
expiry, FLUSHDB, SWAPDB and a restart; rdb_changes_since_last_save and SAVE/BGSAVE;
CONFIG GET with several patterns and aliases, CONFIG SET of several pairs (all or none),
immutable and hidden parameters, every listed parameter set back to its value; SLOWLOG;
LATENCY. TARGET=redis runs the same checks against redis-server (logstord's exact
avg_ttl and restart are checked only on logstord).
"""
import shutil
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("server_ops", time_limit_s=90)
srv = itlib.Server("redis").start()
log("server_ops: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord",
                                              srv.port))
c = Resp(srv.port)


def expect(args, want):
    got = c.call(*args)
    check(got == want, " ".join(str(a) for a in args), got, want)
    return got


def fields(section_name):
    text = c.call("INFO", section_name)[1].decode()
    return dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)


def keyspace(db=0):
    """db's keys=, expires= and avg_ttl from INFO keyspace, or None when it is empty."""
    line = fields("keyspace").get("db%d" % db)
    return None if line is None else {k: int(v) for k, v in
                                      (kv.split("=") for kv in line.split(","))}


def expires(db=0):
    ks = keyspace(db)
    return None if ks is None else (ks["keys"], ks["expires"])


section("INFO keyspace: expires= counts keys with a TTL")
c.call("FLUSHALL")
check(keyspace() is None, "an empty db has no keyspace line")
for i in range(10):
    c.call("SET", "k%d" % i, "v")
for i in range(4):
    c.call("EXPIRE", "k%d" % i, "1000")
check(expires() == (10, 4), "10 keys, 4 with a TTL", expires())
c.call("SET", "k0", "again")                      # SET drops the TTL
c.call("PERSIST", "k1")
c.call("SET", "k9", "v", "EX", "500")             # gains one
c.call("SET", "k2", "v", "KEEPTTL")                # keeps it
c.call("DEL", "k3")
check(expires() == (9, 2), "SET, PERSIST, SET EX, KEEPTTL, DEL: 9 keys, 2 with a TTL",
      expires())
if not srv.real:
    ks = keyspace()
    check(400000 < ks["avg_ttl"] <= 1000000, "avg_ttl is the mean TTL in ms (k2 1000 s, k9 500 s)",
          ks)
c.call("SET", "short", "v", "PX", "100")
check(expires() == (10, 3), "SET PX 100: 3 with a TTL", expires())
time.sleep(0.3)
c.call("GET", "short")                              # expired: removed on access
check(expires() == (9, 2), "the expired key is gone from keys= and expires=", expires())
c.call("SELECT", "1")
c.call("SET", "o", "v", "EX", "100")
c.call("SELECT", "0")
c.call("SWAPDB", "0", "1")
check(expires(0) == (1, 1) and expires(1) == (9, 2), "SWAPDB swaps the counts",
      (expires(0), expires(1)))
c.call("SWAPDB", "0", "1")
if not srv.real:
    srv.stop()
    srv.start()
    c = Resp(srv.port)
    check(expires(0) == (9, 2) and expires(1) == (1, 1),
          "after a restart the counts are rebuilt from the log", (expires(0), expires(1)))
c.call("SELECT", "1")
c.call("FLUSHDB")
c.call("SELECT", "0")
check(keyspace(1) is None, "FLUSHDB empties db1's line", keyspace(1))

section("rdb_changes_since_last_save, SAVE, BGSAVE, LASTSAVE")
expect(["SAVE"], ("+", "OK"))
check(fields("persistence").get("rdb_changes_since_last_save") == "0",
      "SAVE: rdb_changes_since_last_save:0", fields("persistence"))
c.call("SET", "a", "1")
c.call("SET", "b", "2")
c.call("DEL", "a")
c.call("GET", "b")
p = fields("persistence")
check(p.get("rdb_changes_since_last_save") == "3", "SET, SET, DEL, GET: 3 changes", p)
check(p.get("rdb_last_save_time") == str(c.call("LASTSAVE")[1]),
      "rdb_last_save_time is LASTSAVE", (p.get("rdb_last_save_time"), c.call("LASTSAVE")))
for k in ("rdb_bgsave_in_progress", "rdb_last_bgsave_status", "aof_enabled",
          "aof_rewrite_in_progress", "loading"):
    check(k in p, "INFO persistence has %s" % k, sorted(p))
expect(["BGSAVE"], ("+", "Background saving started"))
for _ in range(100):
    if fields("persistence").get("rdb_changes_since_last_save") == "0":
        break
    time.sleep(0.05)
check(fields("persistence").get("rdb_changes_since_last_save") == "0",
      "BGSAVE resets rdb_changes_since_last_save once done")

section("CONFIG GET with several patterns, aliases and hidden parameters")


def cfg(*args):
    got = c.call("CONFIG", "GET", *args)
    items = [v.decode() for _, v in got[1]]
    return items


def cfgd(*args):
    return dict(zip(*[iter(cfg(*args))] * 2))


items = cfg("maxmemory", "maxmemory*", "bind", "*of")
names = items[0::2]
check(len(names) == len(set(names)), "no parameter twice", names)
check({"maxmemory", "maxmemory-samples", "maxmemory-clients", "maxmemory-policy", "bind",
       "slaveof", "replicaof"} <= set(names), "maxmemory*, bind and *of (name and alias)", names)
allcfg = dict(zip(*[iter(cfg("*"))] * 2))
check("key-load-delay" not in allcfg, "a hidden parameter is not listed by *")
check(cfg("key-load-delay") == ["key-load-delay", "0"], "but answers to its exact name",
      cfg("key-load-delay"))
check(cfg("lua-time-limit") == ["lua-time-limit", allcfg["busy-reply-threshold"]],
      "lua-time-limit is busy-reply-threshold", cfg("lua-time-limit"))

section("CONFIG SET of several pairs: all or none")
backup = ["maxmemory", allcfg["maxmemory"], "repl-backlog-size", allcfg["repl-backlog-size"],
          "save", allcfg["save"]]
expect(["CONFIG", "SET", "maxmemory", "10000001", "repl-backlog-size", "10mb", "save",
        "3000 5"], ("+", "OK"))
check(cfgd("maxmemory", "repl-backlog-size", "save") ==
      {"maxmemory": "10000001", "repl-backlog-size": "10485760", "save": "3000 5"},
      "the three values, in canonical form", cfgd("maxmemory", "repl-backlog-size", "save"))
pre = "ERR CONFIG SET failed (possibly related to argument '%s') - "
expect(["CONFIG", "SET", "maxmemory", "5", "maxmemory-clients", "200%", "hz", "x"],
       ("-", pre % "maxmemory-clients" + "percentage argument must be less or equal to 100"))
expect(["CONFIG", "SET", "maxmemory", "5", "save", "100"],
       ("-", pre % "save" + "Invalid save parameters"))
check(cfg("maxmemory") == ["maxmemory", "10000001"], "a refused CONFIG SET changed nothing",
      cfg("maxmemory"))
expect(["CONFIG", "SET"] + backup, ("+", "OK"))
for args, why in [
        (["maxmemory-policy", "lru"], "argument(s) must be one of the following: volatile-lru, "
         "volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, "
         "allkeys-random, noeviction"),
        (["activerehashing", "maybe"], "argument must be 'yes' or 'no'"),
        (["hz", "-1"], "argument must be between 0 and 2147483647 inclusive"),
        (["hz", "ten"], "argument couldn't be parsed into an integer"),
        (["maxmemory", "lots"], "argument must be a memory value"),
        (["oom-score-adj-values", "1 2 3000"],
         "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        (["shutdown-on-sigterm", "save nosave"],
         "shutdown options SAVE and NOSAVE can't be used simultaneously"),
        (["daemonize", "yes"], "can't set immutable config"),
        (["databases", "16"], "can't set immutable config"),
        (["dbfilename", "x.rdb"], "can't set protected config")]:
    expect(["CONFIG", "SET"] + args, ("-", pre % args[0] + why))
expect(["CONFIG", "SET", "lua-time-limit", "100", "busy-reply-threshold", "100"], ("+", "OK"))
expect(["CONFIG", "SET", "save", "1  1"], ("-", pre % "save" + "Invalid save parameters"))
expect(["CONFIG", "SET", "busy-reply-threshold", allcfg["busy-reply-threshold"]], ("+", "OK"))
expect(["CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LRU", "shutdown-on-sigint", "now nosave"],
       ("+", "OK"))
check(cfgd("maxmemory-policy", "shutdown-on-sigint") ==
      {"maxmemory-policy": "allkeys-lru", "shutdown-on-sigint": "nosave now"},
      "enums in canonical form", cfg("maxmemory-policy", "shutdown-on-sigint"))
expect(["CONFIG", "SET", "maxmemory-policy", "noeviction", "shutdown-on-sigint", "default"],
       ("+", "OK"))

section("CONFIG sanity: every parameter listed can be set back to its value")
# Redis's own list of what its CONFIG sanity test does not set back (immutable or special)
skip = set("""rdbchecksum daemonize io-threads-do-reads tcp-backlog always-show-logo
    syslog-enabled cluster-enabled disable-thp aclfile unixsocket pidfile syslog-ident
    appendfilename appenddirname supervised syslog-facility databases io-threads logfile
    unixsocketperm replicaof slaveof requirepass server_cpulist bio_cpulist
    aof_rewrite_cpulist bgsave_cpulist set-proc-title cluster-config-file cluster-port
    oom-score-adj oom-score-adj-values enable-protected-configs enable-debug-command
    enable-module-command dbfilename dir socket-mark-id""".split())
skip |= {k for k in allcfg if k.startswith("tls-")}
bad = []
for k, v in allcfg.items():
    if k not in skip:
        got = c.call("CONFIG", "SET", k, v)
        if got != ("+", "OK"):
            bad.append((k, v, got))
check(bad == [], "CONFIG SET of each value CONFIG GET * shows", bad)
after = dict(zip(*[iter(cfg("*"))] * 2))
check(after == allcfg, "and CONFIG GET * shows the same afterwards",
      {k: (v, after.get(k)) for k, v in allcfg.items() if after.get(k) != v})
if not srv.real:
    check(cfgd("appendfsync", "appendonly") == {"appendfsync": "always", "appendonly": "no"},
          "appendfsync always (durability sync), appendonly no", cfg("appendfsync", "appendonly"))
    expect(["CONFIG", "SET", "appendfsync", "everysec"],
           ("-", pre % "appendfsync" + "logstord syncs as its durability key says, set at "
            "start-up (sync: always, periodic: everysec)"))
    expect(["CONFIG", "SET", "disk_size", allcfg["disk_size"]], ("+", "OK"))
    expect(["CONFIG", "SET", "disk_size", "1tb"], ("-", pre % "disk_size" +
                                                   "can't set immutable config"))

section("SLOWLOG")
expect(["CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "128"], ("+", "OK"))
expect(["CLIENT", "SETNAME", "opsclient"], ("+", "OK"))
expect(["SLOWLOG", "RESET"], ("+", "OK"))
c.call("SET", "sk", "v" * 200)
c.call("MSET", *["m%d" % (i // 2) if i % 2 == 0 else "x" for i in range(70)])
c.call("AUTH", "nosuchpassword")
got = c.call("SLOWLOG", "GET", "3")
check(got[0] == "*" and len(got[1]) == 3, "SLOWLOG GET 3: three entries", got)
auth, mset, setl = [e[1] for e in got[1]]
check([a[1] for a in auth[3][1]] == [b"AUTH", b"(redacted)"], "AUTH's password is redacted",
      auth[3])
margs = [a[1] for a in mset[3][1]]
check(len(margs) == 32 and margs[-1] == b"... (40 more arguments)" and margs[0] == b"MSET",
      "32 arguments kept, the last says how many more", margs[-3:])
sargs = [a[1] for a in setl[3][1]]
check(sargs == [b"SET", b"sk", b"v" * 128 + b"... (72 more bytes)"],
      "an argument is cut at 128 bytes", sargs)
check(setl[4][1].startswith(b"127.0.0.1:") and setl[5][1] == b"opsclient",
      "the entry names the client's address and name", setl[4:])
check(setl[0] == (":", auth[0][1] - 2) and setl[2][0] == ":", "ids count up; a duration in us",
      (setl[0], auth[0]))
n = c.call("SLOWLOG", "LEN")[1]
check(n == 5, "SLOWLOG LEN counts RESET itself and the commands after it", n)
expect(["CONFIG", "SET", "slowlog-max-len", "3"], ("+", "OK"))
for i in range(5):
    c.call("PING")
check(c.call("SLOWLOG", "LEN") == (":", 3), "slowlog-max-len bounds the log")
check(len(c.call("SLOWLOG", "GET", "-1")[1]) == 3, "SLOWLOG GET -1 returns all")
expect(["SLOWLOG", "GET", "-2"], ("-", "ERR count should be greater than or equal to -1"))
expect(["SLOWLOG", "GET", "x"], ("-", "ERR count should be greater than or equal to -1"))
expect(["SLOWLOG", "Get", "1", "2"], ("-", "ERR unknown subcommand or wrong number of "
                                           "arguments for 'Get'. Try SLOWLOG HELP."))
expect(["SLOWLOG", "LEN", "x"], ("-", "ERR wrong number of arguments for 'slowlog|len' command"))
expect(["SLOWLOG", "FOO"], ("-", "ERR unknown subcommand 'FOO'. Try SLOWLOG HELP."))
expect(["CONFIG", "SET", "slowlog-log-slower-than", "-1"], ("+", "OK"))
c.call("SLOWLOG", "RESET")
c.call("PING")
check(c.call("SLOWLOG", "LEN") == (":", 0), "slowlog-log-slower-than -1 logs nothing")
expect(["CONFIG", "SET", "slowlog-log-slower-than", "10000", "slowlog-max-len", "128"],
       ("+", "OK"))
help_lines = c.call("SLOWLOG", "HELP")[1]
check(help_lines[0] == ("+", "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
      and help_lines[-1] == ("+", "    Prints this help."), "SLOWLOG HELP", help_lines[:1])

section("LATENCY")
expect(["LATENCY", "RESET"], (":", 0))
expect(["CONFIG", "SET", "latency-monitor-threshold", "0"], ("+", "OK"))
doc = c.call("LATENCY", "DOCTOR")[1].decode()
check(doc.startswith("Latency monitoring is off"),
      "LATENCY DOCTOR: disabled", doc[:60])
expect(["LATENCY", "GRAPH", "command"], ("-", "ERR No samples available for event 'command'"))
expect(["LATENCY", "HISTORY", "command"], ("*", []))
expect(["CONFIG", "SET", "latency-monitor-threshold", "100000"], ("+", "OK"))
doc = c.call("LATENCY", "DOCTOR")[1].decode()
check(doc.startswith("No latency spike"), "LATENCY DOCTOR: no spike", doc[:60])
expect(["CONFIG", "SET", "latency-monitor-threshold", "1"], ("+", "OK"))
slow = ["MSET"] + [x for i in range(20000) for x in ("lat%d" % i, "v")]
for _ in range(20):  # until one run takes 1 ms or more
    c.call(*slow)
    latest = c.call("LATENCY", "LATEST")[1]
    if latest:
        break
check(len(latest) == 1 and latest[0][1][0] == ("$", b"command") and
      latest[0][1][2][1] >= 1 and latest[0][1][3][1] >= latest[0][1][2][1],
      "a 20000-key MSET is a 'command' event: LATENCY LATEST (event, time, ms, max)", latest)
hist = c.call("LATENCY", "HISTORY", "command")[1]
check(len(hist) >= 1 and all(len(h[1]) == 2 for h in hist), "LATENCY HISTORY: (time, ms) pairs",
      hist)
graph = c.call("LATENCY", "GRAPH", "command")[1].decode()
rows = graph.split("\n")
n = len(hist)
check(graph.startswith("command - high ") and rows[1] == "-" * 80 and
      all(len(r) == min(n, 80) for r in rows[2:-1] if r) and rows[-1] == "" and
      rows[6] == " " * min(n, 80) and rows[7][-1:] in "0123456789",
      "LATENCY GRAPH: header, rule, 4 rows of sparkline, a blank row, age labels downwards",
      graph)
doc = c.call("LATENCY", "DOCTOR")[1].decode()
check(doc.startswith("Latency spikes recorded") and "1. command: " in doc,
      "LATENCY DOCTOR reports the event", doc[:200])
expect(["LATENCY", "RESET", "nosuch"], (":", 0))
expect(["LATENCY", "RESET", "command"], (":", 1))
expect(["LATENCY", "LATEST"], ("*", []))
expect(["CONFIG", "SET", "latency-monitor-threshold", "0"], ("+", "OK"))
expect(["LATENCY", "FOO"], ("-", "ERR unknown subcommand 'FOO'. Try LATENCY HELP."))
expect(["LATENCY", "HISTORY"], ("-", "ERR wrong number of arguments for 'latency|history' command"))

section("LATENCY HISTOGRAM")
expect(["CONFIG", "RESETSTAT"], ("+", "OK"))
c.call("SET", "h", "1")
c.call("SET", "h", "2")
c.call("CLIENT", "ID")
h = c.call("LATENCY", "HISTOGRAM", "set", "nosuchcommand")
ok = (h[0] == "*" and len(h[1]) == 2 and h[1][0] == ("$", b"set") and
      h[1][1][1][:3] == [("$", b"calls"), (":", 2), ("$", b"histogram_usec")])
buckets = h[1][1][1][3][1] if ok else []
check(ok and buckets and buckets[-1] == (":", 2), "LATENCY HISTOGRAM set: calls 2, cumulative "
      "counts by bucket", h)
names = [v for _, v in c.call("LATENCY", "HISTOGRAM")[1][0::2]]
check(set(names) == {b"config|resetstat", b"set", b"client|id", b"latency|histogram"},
      "LATENCY HISTOGRAM: each command run since CONFIG RESETSTAT, subcommands by full name",
      names)
names = [v for _, v in c.call("LATENCY", "HISTOGRAM", "client")[1][0::2]]
check(names == [b"client|id"], "LATENCY HISTOGRAM client: its subcommands", names)

section("COMMAND: movable keys, ACL categories, every subcommand listed")
expect(["COMMAND", "GETKEYS", "eval", "return 1", "2", "k1", "k2", "arg"],
       ("*", [("$", b"k1"), ("$", b"k2")]))
for bad in ("0", "x", "-1", "5"):
    expect(["COMMAND", "GETKEYS", "eval", "return 1", bad, "a"], ("*", []))
expect(["COMMAND", "GETKEYSANDFLAGS", "eval_ro", "return 1", "1", "k"],
       ("*", [("*", [("$", b"k"), ("*", [("+", "RO"), ("+", "access")])])]))
expect(["COMMAND", "GETKEYSANDFLAGS", "fcall", "f", "1", "k"],
       ("*", [("*", [("$", b"k"), ("*", [("+", "RW"), ("+", "access"), ("+", "update")])])]))
info = c.call("COMMAND", "INFO", "eval", "get")[1]
check(("+", "movablekeys") in info[0][1][2][1] and ("+", "movablekeys") not in info[1][1][2][1],
      "COMMAND INFO: EVAL has movablekeys, GET not", info)
cat = {v for _, v in c.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "scripting")[1]}
check({b"eval", b"evalsha", b"fcall", b"script|kill", b"script|load", b"function|list"} <= cat
      and b"set" not in cat, "ACLCAT scripting: the scripting commands and subcommands", cat)
helps = {v for _, v in c.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "cl*help")[1]}
check(helps == {b"client|help", b"cluster|help"}, "PATTERN cl*help: client|help, cluster|help",
      helps)
subs = {v for _, v in c.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "*l*|*")[1]}
check({b"slowlog|get", b"slowlog|reset", b"latency|doctor", b"latency|histogram"} <= subs,
      "SLOWLOG's and LATENCY's subcommands are listed", subs)

section("COMMAND DOCS: Redis 7.0.15's interface, arguments included; our own summaries")
docs = c.call("COMMAND", "DOCS", "set")[1]
args = dict(zip(*[iter(docs[1][1])] * 2)).get(("$", b"arguments"), ("*", []))[1]
names = [dict(zip(*[iter(a[1])] * 2))[("$", b"name")][1] for a in args]
check(names == [b"key", b"value", b"condition", b"get", b"expiration"],
      "COMMAND DOCS set: its five arguments", names)
summary = dict(zip(*[iter(docs[1][1])] * 2)).get(("$", b"summary"))
check(summary == ("$", b"Sets the string value of a key, ignoring its type."),
      "COMMAND DOCS set: logstord's own summary", summary)


def pairs_of(v):
    return v[1] if v[0] == "%" else list(zip(*[iter(v[1])] * 2))


PROSE = {b"summary", b"complexity", b"history", b"replaced_by"}


def doc_canon(doc, listed):
    """One command's doc without Redis's prose (logstord has its own summaries and copies
    none of it), its subcommands reduced to those in listed and sorted by name."""
    items = []
    for k, v in pairs_of(doc):
        if k[1] in PROSE:
            continue
        if k == ("$", b"subcommands"):
            v = sorted((a, doc_canon(b, listed)) for a, b in pairs_of(v) if a[1] in listed)
            if not v:
                continue
        items.append((k, v))
    return items


def docs_canon(reply, listed):
    """A COMMAND DOCS reply (RESP2 or RESP3) in doc_canon's form."""
    if reply[0] not in ("%", "*") or not reply[1]:
        return reply
    return [(name, doc_canon(doc, listed)) for name, doc in pairs_of(reply)]


if not srv.real and shutil.which("redis-server"):
    ref = itlib.RedisServer("redis").start()
    listed = {v for _, v in c.call("COMMAND", "LIST")[1]}
    tops = sorted(n for n in listed if b"|" not in n)
    bad = []
    for proto in ("2", "3"):
        rc, lc = Resp(ref.port), Resp(srv.port)
        rc.call("HELLO", proto)
        lc.call("HELLO", proto)
        for name in tops:
            want, got = rc.call("COMMAND", "DOCS", name), lc.call("COMMAND", "DOCS", name)
            if not want[1]:
                # logstord's own (SNAPSHOT): documented, with a summary
                if b"summary" not in repr(got).encode():
                    bad.append((proto, name, "no summary"))
                continue
            # Redis documents subcommands logstord lacks: keep those both have, in name
            # order (Redis lists them in its hash table's order, which varies by process)
            want, got = docs_canon(want, listed), docs_canon(got, listed)
            if got != want:
                bad.append((proto, name))
        rc.close()
        lc.close()
    check(bad == [], "COMMAND DOCS of each of logstord's %d commands describes the interface "
          "as redis-server's does, in RESP2 and RESP3" % len(tops), bad[:10])
    ref.stop()

section("INFO fields Redis tools read")
sv, mem, cl, per, st = (fields(x) for x in ("server", "memory", "clients", "persistence", "stats"))
check(len(sv.get("run_id", "")) == 40 and sv.get("run_id") != fields("replication").get(
    "master_replid"), "run_id: 40 hex digits of its own", sv.get("run_id"))
for k in ("configured_hz", "lru_clock", "monotonic_clock", "process_supervised", "redis_git_sha1",
          "redis_build_id", "gcc_version", "io_threads_active"):
    check(k in sv, "INFO server has %s" % k)
for k in ("used_memory_human", "used_memory_peak", "used_memory_peak_human", "total_system_memory",
          "total_system_memory_human", "maxmemory_human", "mem_fragmentation_ratio"):
    check(k in mem, "INFO memory has %s" % k)
check(int(mem["used_memory_peak"]) >= int(mem["used_memory"]) > 0, "used_memory_peak >= used",
      (mem["used_memory_peak"], mem["used_memory"]))
c.call("CONFIG", "SET", "maxmemory", "2gb", "maxmemory-policy", "allkeys-lru")
mem = fields("memory")
check((mem.get("maxmemory"), mem.get("maxmemory_human"), mem.get("maxmemory_policy")) ==
      ("2147483648", "2.00G", "allkeys-lru"), "INFO memory shows CONFIG's maxmemory and policy",
      (mem.get("maxmemory"), mem.get("maxmemory_human"), mem.get("maxmemory_policy")))
c.call("CONFIG", "SET", "maxmemory", "0", "maxmemory-policy", "noeviction")
for k in ("client_recent_max_input_buffer", "client_recent_max_output_buffer", "tracking_clients",
          "clients_in_timeout_table", "blocked_clients"):
    check(k in cl, "INFO clients has %s" % k)
saves = int(per["rdb_saves"])
c.call("SAVE")
per = fields("persistence")
check(int(per["rdb_saves"]) == saves + 1 and per.get("aof_last_write_status") == "ok" and
      per.get("rdb_last_bgsave_status") == "ok", "rdb_saves counts SAVE; write status ok", per)
for k in ("total_forks", "latest_fork_usec", "sync_full", "expired_stale_perc"):
    check(k in st, "INFO stats has %s" % k)
if shutil.which("redis-cli") and shutil.which("stdbuf"):
    import subprocess
    out = subprocess.run(["timeout", "2", "stdbuf", "-o0", "redis-cli", "-p", str(srv.port),
                          "--stat", "-i", "0.3"], capture_output=True, text=True).stdout
    lines = out.splitlines()
    check(len(lines) >= 3 and lines[1].split()[:3] == ["keys", "mem", "clients"] and
          lines[2].split()[0].isdigit(), "redis-cli --stat reads its fields", out[:300])

section("CONFIG SET port: listens on the new port; a port taken rolls every pair back")
import socket
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen(1)
before = cfgd("maxmemory", "client-query-buffer-limit", "save", "port")
expect(["CONFIG", "SET", "maxmemory", "10000001", "save", "100 1", "client-query-buffer-limit",
        "10mb", "port", str(taken.getsockname()[1]), "hz", "20"],
       ("-", pre % "port" + "Unable to listen on this port. Check server logs."))
check(cfgd("maxmemory", "client-query-buffer-limit", "save", "port") == before and
      cfgd("hz") == {"hz": allcfg["hz"]}, "every value is back (and hz after port untouched)",
      cfgd("maxmemory", "client-query-buffer-limit", "save", "port", "hz"))
taken.close()
if not srv.real:
    newport = itlib.free_port()
    expect(["CONFIG", "SET", "port", str(newport)], ("+", "OK"))
    c2 = Resp(newport)
    check(c2.call("PING") == ("+", "PONG"), "a client connects on the new port")
    check(c.call("PING") == ("+", "PONG"), "the clients connected before stay")
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "the old port is closed")
    check(c2.call("CONFIG", "SET", "port", str(srv.port)) == ("+", "OK"), "and back")
    c2.close()
    c3 = Resp(srv.port)
    check(c3.call("PING") == ("+", "PONG"), "the old port listens again")
    c3.close()

section("A redis.conf's parameters in the configuration file and on the command line")
if not srv.real:
    import os
    import subprocess
    conf = os.path.join(srv.dir, "redis-style.conf")
    with open(conf, "w") as f:
        f.write("# as in a redis.conf\ndaemonize no\nsave 900 1\nsave 300 10\n"
                "maxmemory-policy allkeys-lru\nappendonly no\nappendfsync everysec\n"
                "lua-time-limit 3000\nslowlog-max-len 256\ntcp-keepalive 60\n")
    # the harness passes --durability sync: --appendfsync after it overrides it, in order
    rs = itlib.Server("redis", extra=["-c", conf, "--hz", "20", "--appendfsync", "everysec"])
    rs.start()
    rc = Resp(rs.port)
    got = dict(zip(*[iter(v.decode() for _, v in rc.call(
        "CONFIG", "GET", "save", "maxmemory-policy", "appendfsync", "busy-reply-threshold",
        "slowlog-max-len", "tcp-keepalive", "hz", "durability", "flush_interval_ms")[1])] * 2))
    check(got == {"save": "900 1 300 10", "maxmemory-policy": "allkeys-lru",
                  "appendfsync": "everysec", "busy-reply-threshold": "3000",
                  "slowlog-max-len": "256", "tcp-keepalive": "60", "hz": "20",
                  "durability": "periodic", "flush_interval_ms": "1000"},
          "save lines add up, appendfsync everysec is durability periodic, the rest is kept", got)
    rc.close()
    rs.stop()
    binary = os.environ.get("LOGSTORD") or "build/logstord"
    for line, why in [("appendonly yes", "logstord has no AOF"),
                      ("daemonize yes", "does not daemonize"),
                      ("replicaof 10.0.0.1 6379", "no replication"),
                      ("hz many", "couldn't be parsed into an integer")]:
        with open(conf, "w") as f:
            f.write(line + "\n")
        p = subprocess.run([binary, "-c", conf, "--check-config"], capture_output=True, text=True,
                           timeout=10)
        check(p.returncode != 0 and why in p.stderr and ":1:" in p.stderr,
              "refused at start: %s" % line, p.stderr.strip())

itlib.finish()
