"""resp_protocol.py - RESP3, inline commands, pipelining in one write, and protocol limits,
over raw sockets (hiredis 0.14 has no RESP3). Run by resp_protocol.sh.

Expected replies are Redis 7's (checked with TARGET=redis against redis-server 7.0).
"""
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("resp_protocol", time_limit_s=60)
srv = itlib.Server("redis").start()
log("resp_protocol: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord", srv.port))


def expect(c, args, want, what=None):
    got = c.call(*args)
    check(got == want, what or " ".join(str(a) for a in args), got, want)
    return got


def map_get(m, key):
    for k, v in m[1]:
        if k[1] in (key, key.encode()):
            return v
    return None


# ---- RESP3 -------------------------------------------------------------------------------
section("HELLO 3 and RESP3 reply types")
c = Resp(srv.port)
expect(c, ["SET", "a", "1"], ("+", "OK"))
h = c.call("HELLO", "3")
check(h[0] == "%", "HELLO 3 replies with a map (%)", h[0], "%")
if h[0] == "%":
    check(map_get(h, "proto") == (":", 3), "HELLO 3 map: proto => :3", map_get(h, "proto"))
    check(map_get(h, "server") is not None and map_get(h, "server")[0] == "$",
          "HELLO 3 map has server (bulk)", map_get(h, "server"))
    check(map_get(h, "version") is not None, "HELLO 3 map has version", map_get(h, "version"))
    check(map_get(h, "id") is not None and map_get(h, "id")[0] == ":", "HELLO 3 map has id (integer)",
          map_get(h, "id"))
    check(map_get(h, "mode") == ("$", b"standalone"), "HELLO 3 map: mode => standalone",
          map_get(h, "mode"))
    check(map_get(h, "role") == ("$", b"master"), "HELLO 3 map: role => master", map_get(h, "role"))
    check(map_get(h, "modules") is not None and map_get(h, "modules")[0] == "*",
          "HELLO 3 map: modules => array", map_get(h, "modules"))
    check(len(h[1]) == 7, "HELLO 3 map has 7 entries", len(h[1]), 7)
expect(c, ["GET", "nokey"], ("_", None), "RESP3 GET missing key => _ (null)")
expect(c, ["GET", "a"], ("$", b"1"))
expect(c, ["MGET", "nokey", "a"], ("*", [("_", None), ("$", b"1")]), "RESP3 MGET => [_, \"1\"]")
expect(c, ["INCRBYFLOAT", "f", "1.5"], ("$", b"1.5"), "RESP3 INCRBYFLOAT => bulk string (as Redis 7)")
expect(c, ["EXISTS", "a"], (":", 1))
expect(c, ["TTL", "a"], (":", -1))
expect(c, ["PING"], ("+", "PONG"))
expect(c, ["ECHO", "x"], ("$", b"x"))
expect(c, ["CLIENT", "GETNAME"], ("_", None), "RESP3 CLIENT GETNAME unset => _")
expect(c, ["SET", "nx", "v", "XX"], ("_", None), "RESP3 SET XX on missing key => _")
expect(c, ["GETDEL", "nokey"], ("_", None))
rk = c.call("RANDOMKEY")
check(rk[0] == "$" and rk[1] in (b"a", b"f"), "RESP3 RANDOMKEY => bulk string", rk)
cg = c.call("CONFIG", "GET", "port")
check(cg == ("%", [(("$", b"port"), ("$", str(srv.port).encode()))]),
      "RESP3 CONFIG GET port => map {port: P}", cg)
t = c.call("TIME")
check(t[0] == "*" and len(t[1]) == 2 and all(x[0] == "$" for x in t[1]),
      "RESP3 TIME => array of two bulk strings", t)
sc = c.call("SCAN", "0", "COUNT", "1000")
check(sc[0] == "*" and len(sc[1]) == 2 and sc[1][0] == ("$", b"0") and sc[1][1][0] == "*",
      "RESP3 SCAN => [cursor, [keys]] (arrays)", sc)
info = c.call("INFO", "server")
check(info[0] in "=" and info[1].startswith(b"txt:# Server"),
      "RESP3 INFO => verbatim string (=) starting 'txt:# Server'", (info[0], info[1][:20]))
ci = c.call("COMMAND", "INFO", "get")
check(ci[0] == "*" and ci[1][0][0] == "*" and ci[1][0][1][2][0] == "~",
      "RESP3 COMMAND INFO get: flags are a set (~)", ci[1][0][1][2] if ci[0] == "*" else ci)
cd = c.call("COMMAND", "DOCS", "get")
check(cd[0] == "%" and cd[1][0][0] == ("$", b"get") and cd[1][0][1][0] == "%",
      "RESP3 COMMAND DOCS get => map {get: map}", cd[0])
expect(c, ["NOSUCHCMD"], ("-", "ERR unknown command 'NOSUCHCMD', with args beginning with: "))
h2 = c.call("HELLO", "2")
check(h2[0] == "*" and len(h2[1]) == 14, "HELLO 2 switches back: flat array of 14", h2[0])
expect(c, ["GET", "nokey"], ("$", None), "after HELLO 2, GET missing key => $-1")
cg = c.call("CONFIG", "GET", "port")
check(cg == ("*", [("$", b"port"), ("$", str(srv.port).encode())]),
      "RESP2 CONFIG GET port => flat array", cg)
h = c.call("HELLO", "3", "SETNAME", "r3client")
check(h[0] == "%", "HELLO 3 SETNAME => map", h[0])
expect(c, ["CLIENT", "GETNAME"], ("$", b"r3client"))
expect(c, ["HELLO", "4"], ("-", "NOPROTO unsupported protocol version"))
c.close()

section("HELLO 3 with AUTH (requirepass)")
asrv = itlib.Server("redis", extra=["--requirepass", "pw"]).start()
a = Resp(asrv.port)
expect(a, ["GET", "x"], ("-", "NOAUTH Authentication required."))
r = a.call("HELLO", "3", "AUTH", "default", "bad")
check(r == ("-", "WRONGPASS invalid username-password pair or user is disabled."),
      "HELLO 3 AUTH default bad => WRONGPASS", r)
r = a.call("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "authed3")
check(r[0] == "%" and map_get(r, "proto") == (":", 3), "HELLO 3 AUTH default pw SETNAME authed3 => map, proto 3", r[0])
expect(a, ["GET", "x"], ("_", None), "authenticated, RESP3: GET x => _")
expect(a, ["CLIENT", "GETNAME"], ("$", b"authed3"))
a.close()
a = Resp(asrv.port)
r = a.call("HELLO", "3")
check(r[0] == "-" and r[1].startswith("NOAUTH HELLO must be called with the client already authenticated"),
      "HELLO 3 without AUTH on a protected server => NOAUTH HELLO must be called ...", r)
expect(a, ["AUTH", "pw"], ("+", "OK"))
a.close()
asrv.kill()

# ---- inline commands -----------------------------------------------------------------------
section("inline commands (as telnet and redis-cli send them)")


def raw(data, nreplies, port=None):
    c = Resp(port or srv.port)
    c.send(data)
    out = [c.read() for _ in range(nreplies)]
    return c, out


c, out = raw(b"PING\r\n", 1)
check(out == [("+", "PONG")], "inline PING\\r\\n => +PONG", out)
c.close()
c, out = raw(b"SET inl b\r\nGET inl\r\n", 2)
check(out == [("+", "OK"), ("$", b"b")], "inline SET inl b / GET inl in one write", out)
c.close()
c, out = raw(b"SET \"a b\" \"c\\nd\"\r\nGET \"a b\"\r\n", 2)
check(out == [("+", "OK"), ("$", b"c\nd")], "inline with double quotes and \\n escape", out)
c.close()
c, out = raw(b"PING\nPING\r\n\r\nECHO 'x y'\n", 3)
check(out == [("+", "PONG"), ("+", "PONG"), ("$", b"x y")],
      "inline with bare \\n, an empty line (ignored) and single quotes", out)
c.close()
c, out = raw(b"  set   sp    1  \r\nget sp\r\n", 2)
check(out == [("+", "OK"), ("$", b"1")], "inline with extra spaces", out)
c.close()
c, out = raw(b"GET\r\n", 1)
check(out == [("-", "ERR wrong number of arguments for 'get' command")], "inline GET with no key", out)
c.close()
c = Resp(srv.port)
c.send(b"SET \"a b\r\n")
r = c.read()
check(r == ("-", "ERR Protocol error: unbalanced quotes in request"), "inline unbalanced quotes", r)
check(c.closed_by_server(), "connection closed after unbalanced quotes")
c.close()
# Mixed inline and multibulk in one write.
c, out = raw(b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n", 3)
check(out == [("+", "PONG"), ("$", b"hi"), ("+", "PONG")], "inline and multibulk mixed in one write", out)
c.close()

# ---- pipelining in one write -------------------------------------------------------------------
section("pipelining: hundreds of commands in one write")
c = Resp(srv.port)
N = 500
payload = b"".join(encode_args for encode_args in (
    itlib.encode("SET", "pl%d" % i, "v%d" % i) + itlib.encode("GET", "pl%d" % i) + itlib.encode("INCR", "plc")
    for i in range(N)))
c.send(payload)
bad = []
for i in range(N):
    r1, r2, r3 = c.read(), c.read(), c.read()
    if r1 != ("+", "OK") or r2 != ("$", b"v%d" % i) or r3 != (":", i + 1):
        bad.append((i, r1, r2, r3))
check(not bad, "%d SET/GET/INCR triples (%d bytes, one write) answered in order" % (N, len(payload)),
      bad[:1] or None)
# The same, split at awkward places: one byte at a time for a few commands.
data = itlib.encode("SET", "split", "x" * 100) + itlib.encode("GET", "split") + b"PING\r\n"
for i in range(len(data)):
    c.send(data[i:i + 1])
out = [c.read(), c.read(), c.read()]
check(out == [("+", "OK"), ("$", b"x" * 100), ("+", "PONG")], "commands sent one byte per write",
      out if out[0] != ("+", "OK") else None)
# Runs of GETs in one write (the server looks their keys up ahead, cmd_prefetch): present,
# missing, expired, of another type, binary, GET with a wrong arity, lower case, and an
# inline GET of the same key between runs; the replies as one by one.
c.call("DEL", "plh", "plexp")
c.call("HSET", "plh", "f", "v")
c.call("SET", "plexp", "gone", "PX", "1")
c.call("SET", b"pl\r\nbin\x00", b"b\x00\r\n")
time.sleep(0.05)
run = [("GET", "pl%d" % i) for i in range(0, 40, 3)] + [("GET", "plnone"), ("GET", "plexp"),
                                                         ("get", "plh"), ("GET", b"pl\r\nbin\x00"),
                                                         ("GET", "pl1", "extra"), ("GET", "pl2")]
want = [("$", b"v%d" % i) for i in range(0, 40, 3)] + [
    ("$", None), ("$", None), ("-", "WRONGTYPE Operation against a key holding the wrong kind of value"),
    ("$", b"b\x00\r\n"), ("-", "ERR wrong number of arguments for 'get' command"), ("$", b"v2")]
data = b"".join(itlib.encode(*a) for a in run)
c.send(data + b"GET pl4\r\n" + data)
out = [c.read() for _ in range(2 * len(run) + 1)]
check(out == want + [("$", b"v4")] + want, "%d GETs of every kind in one write, twice, an inline GET "
      "between" % (2 * len(run)), out if out != want + [("$", b"v4")] + want else None)
check(c.call("EXISTS", "plexp") == (":", 0), "the expired key read in the run is gone")
# Inline pipeline.
c.send(b"".join(b"INCR inlc\r\n" for _ in range(300)))
vals = [c.read() for _ in range(300)]
check(vals == [(":", i + 1) for i in range(300)], "300 inline INCR in one write answered 1..300")
c.close()

# ---- limits ----------------------------------------------------------------------------------
section("protocol errors and limits (error then close)")


def expect_close(data, want_err, what):
    c = Resp(srv.port)
    c.send(data)
    try:
        r = c.read()
    except (itlib.ProtocolError, OSError) as e:
        r = ("closed", str(e))
    check(r == ("-", want_err), what, r, ("-", want_err))
    check(c.closed_by_server(), what + ": connection closed")
    c.close()


expect_close(b"*1\r\n$2147483648\r\n", "ERR Protocol error: invalid bulk length",
             "bulk length 2147483648 (beyond 512 MiB)")
expect_close(b"*1\r\n$99999999999999999999\r\n", "ERR Protocol error: invalid bulk length",
             "bulk length overflowing 64 bits")
expect_close(b"*2147483648\r\n", "ERR Protocol error: invalid multibulk length",
             "multibulk count 2147483648 (too many arguments)")
expect_close(b"*abc\r\n", "ERR Protocol error: invalid multibulk length", "multibulk count 'abc'")
expect_close(b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length", "bulk length 'abc'")
expect_close(b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length", "bulk length -5")
expect_close(b"*1\r\n+foo\r\n", "ERR Protocol error: expected '$', got '+'", "'+' where '$' is expected")
expect_close(b"A" * 70000, "ERR Protocol error: too big inline request", "70000-byte inline line")
c, out = raw(b"*0\r\n*-1\r\nPING\r\n", 1)
check(out == [("+", "PONG")], "*0 and *-1 are ignored, the next command is served", out)
c.close()
# A huge multibulk count that is below the hard limit must not make the server allocate it
# up front: the server stays responsive to others while the client sends nothing more.
c = Resp(srv.port)
c.send(b"*1000000\r\n")
d = Resp(srv.port)
expect(d, ["PING"], ("+", "PONG"), "another client is served while one announced 1e6 arguments")
c.close()
# A large value works (1 MiB - 1 KiB, under every default max_value_size).
d.send(itlib.encode("SET", "bigv", b"z" * (1024 * 1023)))
check(d.read() == ("+", "OK"), "SET of a 1023 KiB value")
r = d.call("STRLEN", "bigv")
check(r == (":", 1024 * 1023), "STRLEN of it", r)
# A client that sends a request and closes at once does not hurt the server.
for _ in range(20):
    x = Resp(srv.port)
    x.send(itlib.encode("SET", "gone", "1") + b"*3\r\n$3\r\nSET\r\n")
    x.close()
time.sleep(0.2)
expect(d, ["PING"], ("+", "PONG"), "server alive after 20 clients closed mid-command")
expect(d, ["GET", "gone"], ("$", b"1"))
d.close()
check(srv.alive(), "server process still running")

itlib.finish()
