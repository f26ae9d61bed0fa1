"""client_state.py - MONITOR, CLIENT REPLY, RESET and CLIENT PAUSE (run by client_state.sh).
TARGET=redis runs the same checks against redis-server 7.0, so every expected reply below
is Redis's (monitor lines with their time and address replaced by T and ADDR).

1. MONITOR: the lines of another client's commands in order, Redis's quoting and escaping,
   MULTI/EXEC (the queued commands between them, an aborted EXEC after MULTI), EVAL and
   FCALL with their commands shown as run by "lua", SELECT's database, AUTH and HELLO AUTH
   redacted, administrative commands (CONFIG GET, CLIENT LIST) and refused commands not
   shown, MONITOR twice answers nothing, a monitor is kept off the keyspace, CLIENT LIST
   flags=O, RESET ends monitoring.
2. A monitor that does not read is closed at the output limit; the others go on.
3. CLIENT REPLY OFF/ON/SKIP: silenced replies and errors, SKIP of the next command only,
   ON un-silencing SKIP; pub/sub confirmations and messages still arrive (RESP3 and RESP2).
4. RESET: leaves MULTI, WATCH, subscriptions, MONITOR, CLIENT REPLY OFF (its +RESET is
   sent), RESP3, SELECT and the name; CLIENT NO-EVICT stays.
5. CLIENT PAUSE WRITE: reads run, a write waits (not fails) and completes after UNPAUSE,
   in order with what its client sent after it; a write queued by MULTI waits; flags=b.
   CLIENT PAUSE ALL: every command waits for the timeout, CLIENT UNPAUSE included. A
   paused client that closes is dropped. Argument errors.
"""
import re
import time

import itlib
from itlib import Resp, check, section, log, encode

itlib.begin("client_state", time_limit_s=100)
srv = itlib.Server("redis").start()
port = srv.port
log("client_state: %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord", port))

LINE = re.compile(r"^\d{10}\.\d{6} \[(\d+) ([^\]]+)\] (.*)$")


def mon_line(m):
    """One monitor line as "[db WHO] args", WHO being ADDR for a client and lua for a script."""
    t, v = m.read()
    if t != "+":
        return (t, v)
    x = LINE.match(v)
    if x is None:
        return ("bad line", v)
    who = "lua" if x.group(2) == "lua" else "ADDR"
    return "[%s %s] %s" % (x.group(1), who, x.group(3))


def monitor():
    m = Resp(port)
    check(m.call("MONITOR") == ("+", "OK"), "MONITOR answers +OK")
    return m


def client_flags(c):
    line = c.call("CLIENT", "INFO")[1].decode()
    return re.search(r" flags=(\S+) ", line).group(1)


r = Resp(port)

section("1. MONITOR")
m = monitor()
r.call("SET", "foo", "bar")
r.call("GET", "foo")
check(mon_line(m) == '[0 ADDR] "SET" "foo" "bar"', "SET shown with its arguments")
check(mon_line(m) == '[0 ADDR] "GET" "foo"', "then GET")
r.call("SET", b'a\x01b\\c', b'q"t\n\r\t\x07\x08\xff ')
got = mon_line(m)
want = r'[0 ADDR] "SET" "a\x01b\\c" "q\"t\n\r\t\a\b\xff "'
check(got == want, "arguments quoted and escaped as Redis's sdscatrepr", got, want)
r.call("MULTI")
r.call("SET", "k1", "v1")
r.call("INCR", "n")
r.call("EXEC")
got = [mon_line(m) for _ in range(4)]
want = ['[0 ADDR] "MULTI"', '[0 ADDR] "SET" "k1" "v1"', '[0 ADDR] "INCR" "n"', '[0 ADDR] "EXEC"']
check(got == want, "MULTI, the queued commands as EXEC runs them, EXEC", got, want)
r.call("MULTI")
r.call("NOSUCHCMD")
check(r.call("EXEC")[0] == "-", "EXEC aborted by a queuing error")
got = [mon_line(m), mon_line(m)]
check(got == ['[0 ADDR] "MULTI"', '[0 ADDR] "EXEC"'], "an aborted EXEC: MULTI then EXEC", got)
r.call("EVAL", "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", 1,
       "ek", "ev")
got = [mon_line(m) for _ in range(3)]
want = ['[0 ADDR] "EVAL" "redis.call(\'set\', KEYS[1], ARGV[1]); return redis.call(\'get\', '
        'KEYS[1])" "1" "ek" "ev"', '[0 lua] "set" "ek" "ev"', '[0 lua] "get" "ek"']
check(got == want, "EVAL first, then its commands run by lua", got, want)
lib = "#!lua name=cslib\nredis.register_function('csf', function() return redis.call('set', 'fk', 'fv') end)"
r.call("FUNCTION", "LOAD", "REPLACE", lib)
r.call("FCALL", "csf", 0)
got = [mon_line(m) for _ in range(3)]
check(got[1:] == ['[0 ADDR] "FCALL" "csf" "0"', '[0 lua] "set" "fk" "fv"'],
      "FCALL, then its command run by lua", got)
r.call("EVAL", "redis.call('select', 4); return redis.call('set', 'sk', 'sv')", 0)
got = [mon_line(m) for _ in range(3)]
check(got[1:] == ['[4 lua] "select" "4"', '[4 lua] "set" "sk" "sv"'],
      "a script's SELECT and its database", got)
r.call("SELECT", 3)
r.call("PING")
r.call("SELECT", 0)
got = [mon_line(m) for _ in range(3)]
check(got == ['[3 ADDR] "SELECT" "3"', '[3 ADDR] "PING"', '[0 ADDR] "SELECT" "0"'],
      "SELECT shows the database it chose", got)
r.call("AUTH", "secret")
r.call("AUTH", "user", "secret")
r.call("AUTH", "a", "b", "c")
r.call("HELLO", "2", "AUTH", "user", "secret", "SETNAME", "nm")
got = [mon_line(m) for _ in range(4)]
want = ['[0 ADDR] "AUTH" "(redacted)"', '[0 ADDR] "AUTH" "(redacted)" "(redacted)"',
        '[0 ADDR] "AUTH" "a" "b" "c"',
        '[0 ADDR] "HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "nm"']
check(got == want, "AUTH and HELLO AUTH secrets redacted (not a refused AUTH's)", got, want)
r.call("CONFIG", "GET", "maxmemory")
r.call("CLIENT", "LIST")
r.call("GET")  # refused for its arity: never ran
r.call("CLIENT", "ID")
check(mon_line(m) == '[0 ADDR] "CLIENT" "ID"',
      "CONFIG GET, CLIENT LIST (administrative) and a refused GET are not shown")
check(client_flags(m) == "O", "CLIENT INFO of a monitor: flags=O")
check(mon_line(m) == '[0 ADDR] "CLIENT" "INFO"', "a monitor sees its own commands too")
m.send(encode("MONITOR"))
check(m.call("PING") == ("+", "PONG"), "MONITOR again answers nothing (next reply is PONG)")
check(mon_line(m) == '[0 ADDR] "PING"', "then the line of its PING")
got = m.call("GET", "foo")
check(got == ("-", "ERR Replica can't interact with the keyspace"),
      "a monitor is kept off the keyspace", got)
m2 = monitor()
check(m.call("RESET") == ("+", "RESET"), "RESET of a monitor")
r.call("ECHO", "after")
check(mon_line(m2) == '[0 ADDR] "RESET"', "the other monitor sees RESET")
check(mon_line(m2) == '[0 ADDR] "ECHO" "after"', "and the next command")
check(m.call("PING") == ("+", "PONG"), "the reset client gets no more lines")
check(client_flags(m) == "N", "and is no longer flagged O")
got = [mon_line(m2), mon_line(m2)]
check(got == ['[0 ADDR] "PING"', '[0 ADDR] "CLIENT" "INFO"'], "which the other monitor sees", got)
m.close()

section("2. a monitor that does not read is closed at the output limit")
itlib.set_output_limit(r, "2mb")  # monitors are normal clients in Redis
slow = Resp(port, rcvbuf=4096)
check(slow.call("MONITOR") == ("+", "OK"), "a slow monitor")
val = "v" * (64 * 1024)
for i in range(400):  # 25 MiB of lines
    r.call("SET", "big", val)
    m2.read()
check(slow.closed_by_server(3.0), "the monitor that does not read was closed")
check(r.call("PING") == ("+", "PONG"), "the server is fine")
r.call("ECHO", "still")
got = [mon_line(m2), mon_line(m2)]
check(got == ['[0 ADDR] "PING"', '[0 ADDR] "ECHO" "still"'],
      "the monitor that reads is still there, in order", [x[:80] for x in got])
r.call("CONFIG", "SET", "client-output-buffer-limit",
       "normal 0 0 0" if srv.real else "1gb")
m2.close()

section("3. CLIENT REPLY")
c = Resp(port)
c.send(encode("CLIENT", "REPLY", "OFF") + encode("PING", "a") + encode("NOSUCHCMD") +
       encode("CLIENT", "REPLY", "FOO") + encode("SET", "rk", "1") + encode("CLIENT", "REPLY", "ON"))
check(c.read() == ("+", "OK"), "OFF silences replies and errors until ON, whose +OK is sent")
check(c.call("GET", "rk") == ("$", b"1"), "the silenced SET ran")
c.send(encode("CLIENT", "REPLY", "SKIP") + encode("PING", "s1") + encode("PING", "s2"))
check(c.read() == ("$", b"s2"), "SKIP silences the next command only")
c.send(encode("CLIENT", "REPLY", "SKIP") + encode("CLIENT", "REPLY", "SKIP") +
       encode("PING", "t1") + encode("PING", "t2"))
check(c.read() == ("$", b"t2"), "SKIP twice: the second is skipped and skips the next")
c.send(encode("CLIENT", "REPLY", "SKIP") + encode("CLIENT", "REPLY", "ON") + encode("PING"))
check([c.read(), c.read()] == [("+", "OK"), ("+", "PONG")], "ON right after SKIP answers +OK")
check(c.call("CLIENT", "REPLY", "MAYBE") == ("-", "ERR syntax error"), "a bad mode")
c.close()
p3 = Resp(port)
p3.call("HELLO", "3")
p3.send(encode("CLIENT", "REPLY", "OFF") + encode("SUBSCRIBE", "ch") +
        encode("PSUBSCRIBE", "c*"))
got = [p3.read(), p3.read()]
want = [(">", [("$", b"subscribe"), ("$", b"ch"), (":", 1)]),
        (">", [("$", b"psubscribe"), ("$", b"c*"), (":", 2)])]
check(got == want, "RESP3 with replies off: subscribe confirmations still arrive", got)
check(r.call("PUBLISH", "ch", "hello") == (":", 2), "PUBLISH reaches both subscriptions")
got = [p3.read(), p3.read()]
want = [(">", [("$", b"message"), ("$", b"ch"), ("$", b"hello")]),
        (">", [("$", b"pmessage"), ("$", b"c*"), ("$", b"ch"), ("$", b"hello")])]
check(got == want, "and so do the messages", got)
p3.send(encode("GET", "rk") + encode("PUBLISH", "ch", "self") + encode("UNSUBSCRIBE", "ch"))
got = [p3.read(), p3.read(), p3.read()]
want = [(">", [("$", b"message"), ("$", b"ch"), ("$", b"self")]),
        (">", [("$", b"pmessage"), ("$", b"c*"), ("$", b"ch"), ("$", b"self")]),
        (">", [("$", b"unsubscribe"), ("$", b"ch"), (":", 1)])]
check(got == want, "GET and PUBLISH silenced, its own message and UNSUBSCRIBE's push not", got)
p3.close()
p2 = Resp(port)
p2.send(encode("CLIENT", "REPLY", "OFF") + encode("PSUBSCRIBE", "*"))
got = p2.read()
check(got == ("*", [("$", b"psubscribe"), ("$", b"*"), (":", 1)]),
      "RESP2 with replies off: the confirmation arrives", got)
p2.close()

section("4. RESET")
c = Resp(port)
c.call("CLIENT", "SETNAME", "before")
c.call("CLIENT", "NO-EVICT", "ON")
c.call("SELECT", 2)
c.call("WATCH", "wk")
c.call("MULTI")
c.call("SET", "x", "1")
check(c.call("RESET") == ("+", "RESET"), "RESET inside MULTI")
check(c.call("EXEC") == ("-", "ERR EXEC without MULTI"), "MULTI is gone")
line = c.call("CLIENT", "INFO")[1].decode()
check(" name= " in line and " db=0 " in line and " flags=e " in line,
      "name cleared, database 0, NO-EVICT kept (flags=e)", line)
c.call("HELLO", "3")
c.call("SUBSCRIBE", "rc")
c.send(encode("CLIENT", "REPLY", "OFF") + encode("PING") + encode("RESET"))
check(c.read() == ("+", "RESET"), "RESET answers while replies are off")
check(c.call("PING") == ("+", "PONG"), "replies are on again")
check(c.call("HELLO")[0] == "*", "RESP2 again (HELLO's reply is an array)")
check(r.call("PUBLISH", "rc", "x") == (":", 0), "subscriptions are gone")
c.close()

section("5. CLIENT PAUSE")
errs = [(("CLIENT", "PAUSE", "10", "foo"), "ERR CLIENT PAUSE mode must be WRITE or ALL"),
        (("CLIENT", "PAUSE", "-1"), "ERR timeout is negative"),
        (("CLIENT", "PAUSE", "abc", "WRITE"), "ERR timeout is not an integer or out of range"),
        (("CLIENT", "PAUSE", "10", "WRITE", "x"),
         "ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."),
        (("CLIENT", "PAUSE"), "ERR wrong number of arguments for 'client|pause' command"),
        (("CLIENT", "UNPAUSE", "x"), "ERR wrong number of arguments for 'client|unpause' command")]
for args, want in errs:
    got = r.call(*args)
    check(got == ("-", want), " ".join(args), got, want)
r.call("SET", "pk", "old")
ev = Resp(port)
ev.call("MULTI")
check(ev.call("EVAL", "return 7", 0) == ("+", "QUEUED"), "an EVAL queued before the pause")
check(r.call("CLIENT", "PAUSE", "60000", "WRITE") == ("+", "OK"), "CLIENT PAUSE 60000 WRITE")
ev.send(encode("EXEC"))
w = Resp(port)
check(w.call("GET", "pk") == ("$", b"old"), "a read runs during a WRITE pause")
n = 200
w.send(encode("SET", "pk", "new") + b"".join(encode("INCR", "pn") for _ in range(n)) +
       encode("GET", "pk"))


def paused_set():
    return [ln for ln in r.call("CLIENT", "LIST")[1].decode().split("\n") if " cmd=set " in ln]


info = itlib.wait_until(paused_set)  # the server has read the SET
check(r.call("GET", "pk") == ("$", b"old"), "the write waits")
check(len(info) == 1 and " flags=b " in info[0], "the paused client is flagged b", info)
check(itlib.wait_until(lambda: itlib.info_int(port, "blocked_clients") == 2),
      "INFO blocked_clients counts it and the EXEC")
m3 = Resp(port)
m3.call("MULTI")
m3.send(encode("SET", "pm", "1"))
time.sleep(0.2)
check(r.call("CLIENT", "UNPAUSE") == ("+", "OK"), "CLIENT UNPAUSE")
got = [w.read() for _ in range(n + 2)]
check(got[0] == ("+", "OK") and got[1:n + 1] == [(":", i + 1) for i in range(n)] and
      got[-1] == ("$", b"new"), "after UNPAUSE the write and everything sent after it ran, in order")
check(m3.read() == ("+", "QUEUED"), "a write queued by MULTI waited, then was queued")
check(ev.read() == ("*", [(":", 7)]), "an EXEC of an EVAL (may replicate) waited for UNPAUSE")
ev.close()
check(m3.call("EXEC") == ("*", [("+", "OK")]), "and EXEC runs it")
w.close()
m3.close()
check(r.call("CLIENT", "PAUSE", "400", "ALL") == ("+", "OK"), "CLIENT PAUSE 400 ALL")
t0 = time.time()
a = Resp(port)
a.send(encode("CLIENT", "UNPAUSE"))
b = Resp(port)
check(b.call("PING") == ("+", "PONG"), "PING answers once the pause is over")
el = time.time() - t0
check(0.3 < el < 3, "every command waited for the ALL pause (%.2f s), CLIENT UNPAUSE too" % el)
check(a.read() == ("+", "OK"), "the UNPAUSE that waited")
a.close()
b.close()
r.call("CLIENT", "PAUSE", "60000", "WRITE")
gone = Resp(port)
gone.send(encode("SET", "gone", "1"))
time.sleep(0.2)
gone.close()
time.sleep(0.2)
r.call("CLIENT", "UNPAUSE")
time.sleep(0.2)
check(r.call("PING") == ("+", "PONG"), "a paused client that closed: the server is fine")
check(r.call("GET", "gone") == ("$", None), "and its held write never ran")

section("6. CLIENT TRACKING")


def inval(*keys, resp3=True):
    arr = ("_", None) if keys == (None,) else ("*", [("$", k.encode()) for k in keys])
    if resp3:
        return (">", [("$", b"invalidate"), arr])
    return ("*", [("$", b"message"), ("$", b"__redis__:invalidate"), arr])


def quiet(c):
    """Nothing is waiting on c: a PING is answered at once."""
    return c.call("PING") == ("+", "PONG")


t3 = Resp(port)
t3.call("HELLO", "3")
check(t3.call("CLIENT", "TRACKING", "on") == ("+", "OK"), "CLIENT TRACKING on (RESP3)")
t3.call("SET", "tk1", "a")  # its own write of a key it has not read: nothing
check(t3.call("GET", "tk1") == ("$", b"a"), "a read remembers the key")
r.call("SET", "tk1", "b")
check(t3.read() == inval("tk1"), "another client's write: an invalidation push")
r.call("SET", "tk1", "c")
check(quiet(t3), "told once: the next write sends nothing until it reads the key again")
t3.call("GET", "tk1")
t3.send(encode("SET", "tk1", "d"))
got = [t3.read(), t3.read()]
check(got == [("+", "OK"), inval("tk1")], "its own write: the reply, then the push", got)
t3.call("MGET", "tk2", "tk3")
r.call("DEL", "tk3")
check(quiet(t3), "DEL of an absent key changes nothing: no invalidation")
r.call("SET", "tk3", "v")
check(t3.read() == inval("tk3"), "MGET's keys are remembered")
t3.call("GET", "tk3")
r.call("DEL", "tk3")
check(t3.read() == inval("tk3"), "DEL invalidates")
t3.call("GET", "tk2")
r.call("MULTI")
r.call("INCR", "tk2")
r.call("EXEC")
check(t3.read() == inval("tk2"), "a write inside EXEC invalidates")
t3.call("GET", "tk4")
r.call("EVAL", "return redis.call('set', KEYS[1], 'x')", 1, "tk4")
check(t3.read() == inval("tk4"), "a script's write invalidates")
t3.call("GET", "tk5")
r.call("FLUSHALL")
check(t3.read() == inval(None), "FLUSHALL: one invalidation with a null (every key)")
check(quiet(t3), "just one for FLUSHALL")
got = t3.call("CLIENT", "TRACKINGINFO")
want = ("%", [(("$", b"flags"), ("~", [("$", b"on")])), (("$", b"redirect"), (":", 0)),
              (("$", b"prefixes"), ("*", []))])
check(got == want, "CLIENT TRACKINGINFO (RESP3)", got)
check(t3.call("CLIENT", "GETREDIR") == (":", 0), "CLIENT GETREDIR: 0 without redirection")
check(itlib.info_int(port, "tracking_clients") == 1, "INFO tracking_clients")
line = t3.call("CLIENT", "INFO")[1].decode()
check(" flags=t " in line and " redir=0 " in line, "CLIENT INFO: flags=t redir=0", line)
check(t3.call("CLIENT", "TRACKING", "on", "NOLOOP") == ("+", "OK"), "NOLOOP")
t3.call("GET", "tk6")
t3.call("SET", "tk6", "x")
check(quiet(t3), "NOLOOP: its own write sends nothing")
check(t3.call("CLIENT", "TRACKING", "off") == ("+", "OK"), "CLIENT TRACKING off")
check(t3.call("CLIENT", "GETREDIR") == (":", -1), "GETREDIR off: -1")

rd = Resp(port)  # RESP2 redirection through __redis__:invalidate
rd_id = rd.call("CLIENT", "ID")[1]
rd.call("SUBSCRIBE", "__redis__:invalidate")
t2 = Resp(port)
check(t2.call("CLIENT", "TRACKING", "on", "REDIRECT", rd_id) == ("+", "OK"), "REDIRECT (RESP2)")
check(t2.call("CLIENT", "GETREDIR") == (":", rd_id), "GETREDIR: the redirection")
t2.call("GET", "rk1")
r.call("SET", "rk1", "v")
check(rd.read() == inval("rk1", resp3=False), "RESP2: a message on __redis__:invalidate")
t2.call("CLIENT", "TRACKING", "off")

b3 = Resp(port)
b3.call("HELLO", "3")
check(b3.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "zz", "PREFIX", "bc:") == ("+", "OK"),
      "BCAST with two prefixes")
r.send(encode("SET", "bc:2", "1") + encode("SET", "bc:1", "1") + encode("SET", "other", "1") +
       encode("SET", "bc:2", "2"))
for _ in range(4):
    r.read()
got = b3.read()
check(got == inval("bc:1", "bc:2"), "BCAST: the prefix's keys, sorted, once each", got)
check(quiet(b3), "keys outside the prefixes: nothing")
got = b3.call("CLIENT", "TRACKINGINFO")
check(got[1][0] == (("$", b"flags"), ("~", [("$", b"on"), ("$", b"bcast")])) and
      got[1][2] == (("$", b"prefixes"), ("*", [("$", b"bc:"), ("$", b"zz")])),
      "TRACKINGINFO: bcast and the prefixes", got)
b3.close()

o3 = Resp(port)
o3.call("HELLO", "3")
o3.call("CLIENT", "TRACKING", "on", "OPTIN")
o3.call("GET", "oi1")
o3.call("CLIENT", "CACHING", "yes")
o3.call("GET", "oi2")
o3.call("GET", "oi3")
r.call("MSET", "oi1", "x", "oi2", "x", "oi3", "x")
check(o3.read() == inval("oi2"), "OPTIN: only the read after CLIENT CACHING yes")
check(quiet(o3), "and only that one")
o3.close()

errs = [(("CLIENT", "TRACKING", "maybe"), "ERR syntax error"),
        (("CLIENT", "TRACKING", "on", "foo"), "ERR syntax error"),
        (("CLIENT", "TRACKING", "on", "REDIRECT", "x"), "ERR value is not an integer or out of range"),
        (("CLIENT", "TRACKING", "on", "REDIRECT", "999999"),
         "ERR The client ID you want redirect to does not exist"),
        (("CLIENT", "TRACKING", "on", "PREFIX", "a"), "ERR PREFIX option requires BCAST mode to be enabled"),
        (("CLIENT", "TRACKING", "on", "BCAST", "OPTIN"), "ERR OPTIN and OPTOUT are not compatible with BCAST"),
        (("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"), "ERR You can't specify both OPTIN mode and OPTOUT mode"),
        (("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
         "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."),
        (("CLIENT", "CACHING", "yes"),
         "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"),
        (("CLIENT", "TRACKING"), "ERR wrong number of arguments for 'client|tracking' command")]
e = Resp(port)
for args, want in errs:
    got = e.call(*args)
    check(got == ("-", want), " ".join(args), got, want)
e.call("CLIENT", "TRACKING", "on", "OPTIN")
errs = [(("CLIENT", "CACHING", "no"), "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."),
        (("CLIENT", "CACHING", "maybe"), "ERR syntax error"),
        (("CLIENT", "TRACKING", "on", "OPTOUT"),
         "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."),
        (("CLIENT", "TRACKING", "on", "BCAST"),
         "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")]
for args, want in errs:
    got = e.call(*args)
    check(got == ("-", want), " ".join(args), got, want)
e.call("CLIENT", "CACHING", "yes")
got = e.call("CLIENT", "TRACKINGINFO")
want = ("*", [("$", b"flags"), ("*", [("$", b"on"), ("$", b"optin"), ("$", b"caching-yes")]),
              ("$", b"redirect"), (":", 0), ("$", b"prefixes"), ("*", [])])
check(got == want, "TRACKINGINFO in RESP2, OPTIN with CACHING yes", got)
check(e.call("RESET") == ("+", "RESET"), "RESET")
check(client_flags(e) == "N", "RESET ends tracking (flags=N)")
e.close()

br = Resp(port)
br_id = br.call("CLIENT", "ID")[1]
t3.call("CLIENT", "TRACKING", "on", "REDIRECT", br_id)
t3.call("GET", "brk")
br.close()
time.sleep(0.2)
r.call("SET", "brk", "1")
check(t3.read() == (">", [("$", b"tracking-redir-broken"), (":", br_id)]),
      "the redirection's client went away: tracking-redir-broken")
line = t3.call("CLIENT", "INFO")[1].decode()
check(" flags=tR " in line, "CLIENT INFO: flags=tR", line)
t3.call("CLIENT", "TRACKING", "off")

section("7. the tracking table is bounded (tracking-table-max-keys)")
r.call("CONFIG", "SET", "tracking-table-max-keys", "2")
t3.call("CLIENT", "TRACKING", "on")
t3.send(encode("GET", "mk1") + encode("GET", "mk2") + encode("GET", "mk3") + encode("PING"))
got = [t3.read() for _ in range(5)]
pushes = [x for x in got if x[0] == ">"]
check(len(pushes) == 1 and pushes[0] in [inval("mk1"), inval("mk2"), inval("mk3")],
      "a third key makes the table forget one, invalidated", got)
r.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
t3.close()
r.close()
itlib.finish()
