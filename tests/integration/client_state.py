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
if srv.real:
    r.call("CONFIG", "SET", "client-output-buffer-limit", "normal 2mb 0 0")
else:
    r.call("CONFIG", "SET", "client-output-buffer-limit", "2mb")
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
check(r.call("CLIENT", "PAUSE", "60000", "WRITE") == ("+", "OK"), "CLIENT PAUSE 60000 WRITE")
w = Resp(port)
check(w.call("GET", "pk") == ("$", b"old"), "a read runs during a WRITE pause")
n = 200
w.send(encode("SET", "pk", "new") + b"".join(encode("INCR", "pn") for _ in range(n)) +
       encode("GET", "pk"))
time.sleep(0.3)
check(r.call("GET", "pk") == ("$", b"old"), "the write waits")
info = [ln for ln in r.call("CLIENT", "LIST")[1].decode().split("\n") if " cmd=set " in ln]
check(len(info) == 1 and " flags=b " in info[0], "the paused client is flagged b", info)
m3 = Resp(port)
m3.call("MULTI")
m3.send(encode("SET", "pm", "1"))
time.sleep(0.2)
check(r.call("CLIENT", "UNPAUSE") == ("+", "OK"), "CLIENT UNPAUSE")
got = [w.read() for _ in range(n + 2)]
check(got[0] == ("+", "OK") and got[1:n + 1] == [(":", i + 1) for i in range(n)] and
      got[-1] == ("$", b"new"), "after UNPAUSE the write and everything sent after it ran, in order")
check(m3.read() == ("+", "QUEUED"), "a write queued by MULTI waited, then was queued")
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
r.close()
itlib.finish()
