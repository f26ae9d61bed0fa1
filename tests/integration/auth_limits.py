"""auth_limits.py - requirepass and unauthenticated clients (run by auth_limits.sh).

With a password set, a client that has not authenticated may send at most 10 arguments
per command and bulks of at most 16 KiB (Redis's limits): a larger multibulk count or bulk
length gets "-ERR Protocol error: unauthenticated ..." at once, as soon as the header
arrives, and the connection is closed; the server never waits for (or buffers) the rest.
Once authenticated the usual limits apply. A password is binary safe: one holding a NUL
byte is not matched by its prefix.
"""
import socket

import itlib
from itlib import Resp, check, section, log, encode

itlib.begin("auth_limits", time_limit_s=60)
srv = itlib.Server("redis", extra=["--requirepass", "s3cret"]).start()
log("auth_limits: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord",
                                                srv.port))


def refused(payload, want, what):
    """Sends payload on a fresh unauthenticated connection: want is the error line the
    server must answer with at once, after which it must close the connection."""
    c = Resp(srv.port, timeout=3)
    c.send(payload)
    try:
        r = c.read()
    except socket.timeout:
        r = ("timeout", "no reply within 3 s (the server waits for the rest)")
    except (itlib.ProtocolError, OSError) as e:
        r = ("closed", str(e))
    check(r == ("-", want), what, r, ("-", want))
    check(c.closed_by_server(wait=2.0), what + ": the connection is closed")
    c.close()


section("unauthenticated: multibulk count")
refused(b"*100\r\n", "ERR Protocol error: unauthenticated multibulk length", "*100")
refused(b"*11\r\n", "ERR Protocol error: unauthenticated multibulk length", "*11")
refused(b"*1000000\r\n$3\r\nGET\r\n", "ERR Protocol error: unauthenticated multibulk length",
        "*1000000")
c = Resp(srv.port)
r = c.call(*(["EXISTS"] + ["k%d" % i for i in range(9)]))
check(r == ("-", "NOAUTH Authentication required."), "10 arguments: NOAUTH, not a protocol error",
      r)
check(c.call("PING") == ("-", "NOAUTH Authentication required."), "and the connection stays")
c.close()

section("unauthenticated: bulk length")
refused(b"*2\r\n$4\r\nECHO\r\n$100000000\r\n",
        "ERR Protocol error: unauthenticated bulk length", "$100000000")
refused(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
        "ERR Protocol error: unauthenticated bulk length", "AUTH with a 16385-byte bulk")
c = Resp(srv.port)
r = c.call("ECHO", "x" * 16384)
check(r == ("-", "NOAUTH Authentication required."), "a 16384-byte bulk: NOAUTH", r)
c.close()

section("authenticated: the usual limits")
c = Resp(srv.port)
check(c.call("AUTH", "s3cret") == ("+", "OK"), "AUTH s3cret")
r = c.call(*(["EXISTS"] + ["k%d" % i for i in range(99)]))
check(r == (":", 0), "100 arguments", r)
r = c.call("SET", "big", "v" * 100000)
check(r == ("+", "OK"), "a 100000-byte bulk", r)
check(c.call("STRLEN", "big") == (":", 100000), "stored whole")
# Pipelined: AUTH then a large command in one write.
c2 = Resp(srv.port)
c2.send(encode("AUTH", "s3cret") + encode(*(["EXISTS"] + ["k%d" % i for i in range(49)])))
check(c2.read() == ("+", "OK") and c2.read() == (":", 0),
      "AUTH and a 50-argument command in one write: the limits lift at once")
c2.close()

section("a password with a NUL byte")
r = c.call("CONFIG", "SET", "requirepass", b"abc\x00def")
check(r == ("+", "OK"), "CONFIG SET requirepass abc\\0def", r)
for pw, want in [(b"abc", "WRONGPASS"), (b"abc\x00", "WRONGPASS"), (b"abc\x00deX", "WRONGPASS"),
                 (b"abc\x00defg", "WRONGPASS"), (b"abc\x00def", "OK")]:
    n = Resp(srv.port)
    r = n.call("AUTH", pw)
    ok = r == ("+", "OK") if want == "OK" else (r[0] == "-" and r[1].startswith(want))
    check(ok, "AUTH %r -> %s" % (pw, want), r)
    n.close()
n = Resp(srv.port)
r = n.call("HELLO", "2", "AUTH", "default", "abc")
check(r[0] == "-" and r[1].startswith("WRONGPASS"), "HELLO AUTH default abc -> WRONGPASS", r)
n.close()
r = c.call("CONFIG", "GET", "requirepass")
check(r == ("*", [("$", b"requirepass"), ("$", b"abc\x00def")]),
      "CONFIG GET requirepass gives it whole", r)
c.close()
check(srv.alive(), "the server is still up")
itlib.finish()
