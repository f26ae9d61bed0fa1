"""half_close.py - replies to a client that half-closes (run by half_close.sh).

A client sends its commands, then shutdown(SHUT_WR), then reads until the server closes.
redis-server and memcached answer every command before closing; so must logstord, whose
writes complete later than the read that sees the end of input (sync durability: the SET
waits for its device write). A partial command at the end is dropped; the connection
still closes. The server must close the connection once it has answered (not hang).
"""
import socket
import time

import itlib
from itlib import check, section, log, encode

itlib.begin("half_close", time_limit_s=60)
srv = itlib.Server("redis").start()
mc = itlib.Server("memcached").start() if srv.real else srv
log("half_close: target %s on 127.0.0.1:%d / %d" % (
    "redis-server + memcached" if srv.real else "logstord", srv.port, mc.mc_port))


def exchange(port, payload):
    """Sends payload, shuts down the write side, returns (everything read until the
    server closed, whether it closed within 10 s)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    out, closed = b"", False
    deadline = time.time() + 10
    try:
        while time.time() < deadline:
            d = s.recv(1 << 16)
            if not d:
                closed = True
                break
            out += d
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, closed


section("Redis port")
out, closed = exchange(srv.port, encode("SET", "hc:k", "v1") + encode("GET", "hc:k"))
check(out == b"+OK\r\n$2\r\nv1\r\n", "SET + GET then SHUT_WR: both replies", out)
check(closed, "the server closes the connection after the replies")

n = 2000
payload = b"".join(encode("SET", "hc:%d" % i, "x" * 100) for i in range(n)) + \
    encode("INCR", "hc:ctr") + encode("GET", "hc:1999")
out, closed = exchange(srv.port, payload)
want = b"+OK\r\n" * n + b":1\r\n$100\r\n" + b"x" * 100 + b"\r\n"
check(out == want, "%d pipelined SETs, INCR, GET then SHUT_WR: every reply (%d of %d bytes)"
      % (n, len(out), len(want)))
check(closed, "closed after them")

out, closed = exchange(srv.port, encode("SET", "hc:p", "v") + b"*2\r\n$3\r\nGET\r\n$4\r\nhc")
check(out == b"+OK\r\n", "a trailing partial command is dropped, the complete one answered",
      out)
check(closed, "closed after the reply")

c = itlib.Resp(srv.port)
check(c.call("GET", "hc:k") == ("$", b"v1"), "the SET is there")
check(c.call("GET", "hc:ctr") == ("$", b"1"), "the INCR counted once")
c.close()

section("memcached port")
out, closed = exchange(mc.mc_port, b"set hc:m 0 0 2\r\nv2\r\nget hc:m\r\n")
check(out == b"STORED\r\nVALUE hc:m 0 2\r\nv2\r\nEND\r\n", "set + get then SHUT_WR", out)
check(closed, "the server closes the connection after the replies")
out, closed = exchange(mc.mc_port, b"".join(b"set hc:n%d 0 0 1 noreply\r\nx\r\n" % i
                                            for i in range(500)) + b"get hc:n499\r\n")
check(out == b"VALUE hc:n499 0 1\r\nx\r\nEND\r\n", "500 noreply sets + get then SHUT_WR", out)
check(closed, "closed after it")
check(srv.alive() and mc.alive(), "the server is still up")
itlib.finish()
