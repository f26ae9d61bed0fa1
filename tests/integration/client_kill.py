"""client_kill.py - CLIENT KILL as Redis 7.0 has it (run by client_kill.sh).

Filters ID, TYPE normal|master|replica|slave|pubsub, USER, ADDR, LADDR, SKIPME yes|no and
the old `CLIENT KILL ip:port` form, with Redis's replies and errors. Above all: a bad option
value is an error that kills nothing (SKIPME with anything but yes/no used to close every
connection, the caller's included).
"""
import time

import itlib
from itlib import Resp, check, section, log

itlib.begin("client_kill", time_limit_s=60)
srv = itlib.Server("redis").start()
log("client_kill: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord",
                                                srv.port))


def info(c):
    """(id, addr, laddr) of connection c, from CLIENT INFO."""
    r = c.call("CLIENT", "INFO")
    f = dict(kv.split("=", 1) for kv in r[1].decode().split() if "=" in kv)
    return int(f["id"]), f["addr"], f["laddr"]


def alive(c):
    try:
        return c.call("PING") == ("+", "PONG")
    except (itlib.ProtocolError, OSError):
        return False


def gone(c):
    return c.closed_by_server(wait=2.0)


def clients(n):
    return [Resp(srv.port) for _ in range(n)]


def closeall(cs):
    for c in cs:
        c.close()
    time.sleep(0.2)


me = Resp(srv.port)
check(itlib.only_client(me), "the readiness probe's connection is gone")
my_id, my_addr, my_laddr = info(me)

section("bad option values kill nothing")
others = clients(2)
for c in others:
    check(alive(c), "another client is connected")
for args, want in [
        (("SKIPME", "maybe"), "ERR syntax error"),
        (("SKIPME", "0"), "ERR syntax error"),
        (("ID", str(my_id), "SKIPME", "nope"), "ERR syntax error"),
        (("TYPE", "normal", "SKIPME", "x"), "ERR syntax error"),
        (("TYPE", "bogus"), "ERR Unknown client type 'bogus'"),
        (("USER", "nobody"), "ERR No such user 'nobody'"),
        (("ID", "0"), "ERR client-id should be greater than 0"),
        (("ID", "abc"), "ERR client-id should be greater than 0"),
        (("ID", "-3"), "ERR client-id should be greater than 0"),
        (("ID", "1", "TYPE"), "ERR syntax error"),
        (("NOSUCHFILTER", "1"), "ERR syntax error"),
        (("ADDR", "1.2.3.4:5", "SKIPME"), "ERR syntax error")]:
    r = me.call("CLIENT", "KILL", *args)
    check(r == ("-", want), "CLIENT KILL %s" % " ".join(args), r, ("-", want))
check(alive(me), "the caller is still connected")
check(all(alive(c) for c in others), "the other clients are still connected")

section("TYPE")
for t in ("master", "replica", "slave", "pubsub", "MASTER"):
    r = me.call("CLIENT", "KILL", "TYPE", t)
    check(r == (":", 0), "CLIENT KILL TYPE %s: no such client" % t, r, (":", 0))
check(all(alive(c) for c in others), "nobody was killed")
r = me.call("CLIENT", "KILL", "TYPE", "normal")
check(r == (":", 2), "CLIENT KILL TYPE normal kills the 2 others (SKIPME yes by default)", r,
      (":", 2))
check(all(gone(c) for c in others), "their connections are closed")
check(alive(me), "the caller is not")
closeall(others)

section("USER")
others = clients(2)
for c in others:
    alive(c)
r = me.call("CLIENT", "KILL", "USER", "default")
check(r == (":", 2), "CLIENT KILL USER default kills every other client", r, (":", 2))
check(all(gone(c) for c in others), "their connections are closed")
check(alive(me), "the caller is not")
closeall(others)

section("ADDR, LADDR, ID")
others = clients(2)
ids = [info(c) for c in others]
r = me.call("CLIENT", "KILL", "ADDR", ids[0][1])
check(r == (":", 1), "CLIENT KILL ADDR <one client's addr>", r, (":", 1))
check(gone(others[0]), "that client is closed")
check(alive(others[1]), "the other is not")
r = me.call("CLIENT", "KILL", "LADDR", "10.9.9.9:1")
check(r == (":", 0), "CLIENT KILL LADDR <nobody's>", r, (":", 0))
r = me.call("CLIENT", "KILL", "ID", str(ids[1][0]), "LADDR", "10.9.9.9:1")
check(r == (":", 0), "filters combine: ID of a client AND a laddr it does not have", r, (":", 0))
check(alive(others[1]), "so it is alive")
r = me.call("CLIENT", "KILL", "LADDR", my_laddr)
check(r == (":", 1), "CLIENT KILL LADDR <the listener's address> (skips the caller)", r,
      (":", 1))
check(gone(others[1]), "the other client is closed")
closeall(others)

section("SKIPME no, and the old form")
other = Resp(srv.port)
oid = info(other)
r = me.call("CLIENT", "KILL", "ID", str(my_id), "SKIPME", "yes")
check(r == (":", 0), "CLIENT KILL ID <own> SKIPME yes", r, (":", 0))
r = me.call("CLIENT", "KILL", "1.2.3.4:5")
check(r == ("-", "ERR No such client"), "old form, unknown address", r)
r = other.call("CLIENT", "KILL", oid[1])
check(r == ("+", "OK"), "old form, own address: OK", r)
check(gone(other), "...and the caller is closed after the reply")
other.close()
other = Resp(srv.port)
alive(other)
r = me.call("CLIENT", "KILL", "SKIPME", "no")
check(r == (":", 2), "CLIENT KILL SKIPME no kills everyone, the caller too", r, (":", 2))
check(gone(other), "the other client is closed")
check(gone(me), "the caller is closed after the reply")
other.close()
me.close()

c = Resp(srv.port)
check(alive(c), "the server still serves new clients")
c.close()
itlib.finish()
