"""uring_sends.py - replies through the engine's io_uring (run by uring_sends.sh).

With io_uring_sends (the default) the replies of one turn of the server's loop leave in
the io_uring_enter that carries the turn's other I/O, not in a write(2) per connection:
the write system calls the kernel counts for the process (/proc/PID/io syscw) stay far
below one per reply, where io_uring_sends no makes one per reply or more. The replies
are the same: a client that pipelines more than its socket holds gets every reply in
order (the sends that find the socket full wait for EV_WRITE), and clients that close
with replies on their way never see another client's (a descriptor is not closed while a
send that names it may still be unsubmitted). A long turn's replies do not all wait for
its end: they go to the kernel 8 at a time.
"""
import socket
import time

import itlib
from itlib import check, section, log, encode

itlib.begin("uring_sends", time_limit_s=200)


def syscw(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("syscw:"):
                return int(line.split()[1])
    return 0


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(min(1 << 20, n - len(out)))
        if not d:
            break
        out += d
    return out


def lockstep(port, pid, nclients=20, rounds=100):
    """nclients connections send one GET each, then all read: a turn answers many.
    Returns (replies, write system calls made meanwhile, all replies right)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(nclients)]
    want = b"$5\r\nvalue\r\n"
    ok = True
    w0 = syscw(pid)
    for _ in range(rounds):
        for s in socks:
            s.sendall(encode("GET", "us:k"))
        for s in socks:
            ok = ok and recv_exact(s, len(want)) == want
    w1 = syscw(pid)
    for s in socks:
        s.close()
    return nclients * rounds, w1 - w0, ok


def load_held(port, lines):
    """A connection that has sent all of a SCRIPT LOAD of `lines` statements but its last
    10 bytes (the server compiles it, on the loop, once they come), and those bytes."""
    body = "local x = 0\n" + "x = x + 1\n" * lines + "return x\n"
    msg = encode("SCRIPT", "LOAD", body)
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(msg[:-10])
    return s, msg[-10:]


def compile_seconds(port, lines):
    """How long a SCRIPT LOAD of `lines` statements takes, sent whole."""
    s, end = load_held(port, lines)
    time.sleep(0.5 + lines / 4e6)  # the server has read all but the last bytes
    t0 = time.time()
    s.sendall(end)
    ok = recv_exact(s, 47).startswith(b"$40\r\n")
    s.close()
    return time.time() - t0 if ok else 0.0


def batch_before_turn_end(port):
    """The replies of a long turn leave 8 at a time (conn.c SEND_BATCH), not all at its
    end. While the loop compiles a script (SCRIPT LOAD of 1 M lines, about 0.25 s here), 8
    clients send a GET and then a ninth the last bytes of a script 4 times that size; the
    next turn serves the 8 (epoll hands them over in the order they came), then compiles
    the big one. The 8 replies come before that compilation, not with its reply.
    The sizes scale with the machine: the small script must compile for 0.2 s at least
    (the GETs arrive meanwhile), and the gap is judged against the big one's time."""
    section("a turn's replies leave 8 at a time, not all at its end")
    lines, t1 = 1000000, compile_seconds(port, 1000000)
    while 0 < t1 < 0.2 and lines < 8000000:
        lines *= 2
        t1 = compile_seconds(port, lines)
    log("  a SCRIPT LOAD of %d lines compiles in %.2f s" % (lines, t1))
    a, a_end = load_held(port, lines)
    b, b_end = load_held(port, 4 * lines)
    gets = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(8)]
    time.sleep(1 + lines / 1e6)  # the server has read all but the last bytes of both
    a.sendall(a_end)
    time.sleep(0.05)  # compiling a's script
    for g in gets:
        g.sendall(encode("GET", "us:k"))
        time.sleep(0.002)  # one after the other, in this order
    b.sendall(b_end)
    want = b"$5\r\nvalue\r\n"
    got = [recv_exact(g, len(want)) for g in gets]
    t_get = time.time()
    b_reply = recv_exact(b, 47)  # $40 and the SHA-1
    gap = time.time() - t_get
    least = 0.3 * 4 * t1  # b compiles in about 4 * t1
    check(t1 > 0 and got == [want] * 8 and b_reply.startswith(b"$40\r\n") and gap >= least,
          "8 GETs served in the turn before a compilation of about %.1f s: their replies "
          "%.2f s before its reply (>= %.2f s; all at the turn's end: about 0)"
          % (4 * t1, gap, least), got[:1])
    check(recv_exact(a, 47).startswith(b"$40\r\n"), "the first script's reply", None)
    for x in gets + [a, b]:
        x.close()


for mode in ("yes", "no"):
    section("io_uring_sends %s" % mode)
    srv = itlib.Server("redis", extra=["--io_uring_sends", mode]).start()
    c = itlib.Resp(srv.port)
    check(c.call("SET", "us:k", "value") == ("+", "OK"), "SET")
    n, w, ok = lockstep(srv.port, srv.proc.pid)
    check(ok, "%d GETs from 20 clients in lockstep: every reply right" % n)
    per = w / n
    log("  %d replies, %d write system calls (%.2f a reply)" % (n, w, per))
    if mode == "yes":
        check(per < 0.5, "through the ring: %.2f write calls a reply (< 0.5)" % per)
    else:
        check(per >= 0.9, "write(2) each: %.2f write calls a reply (>= 0.9)" % per)

    # a pipeline whose replies are more than the sockets hold, read once it is all sent
    big = "v" * 10000
    check(c.call("SET", "us:big", big) == ("+", "OK"), "SET of 10,000 bytes")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    n = 2000
    s.sendall(b"".join(encode("GET", "us:big") for _ in range(n)))
    one = b"$10000\r\n" + big.encode() + b"\r\n"
    got = recv_exact(s, len(one) * n)
    check(got == one * n, "%d pipelined GETs of 10,000 bytes (more than the sockets hold): every "
          "reply, in order (%d of %d bytes)" % (n, len(got), len(one) * n))
    s.close()

    # clients that close with replies on their way; each next client gets its own
    good = True
    for i in range(40):
        a = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        a.sendall(b"".join(encode("GET", "us:big") for _ in range(200)))
        a.close()
        b = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        key, val = "us:own:%d" % i, "mine-%d" % i
        b.sendall(encode("SET", key, val) + encode("GET", key))
        want = b"+OK\r\n$%d\r\n%s\r\n" % (len(val), val.encode())
        got = recv_exact(b, len(want))
        good = good and got == want
        b.close()
    check(good, "40 clients closed with 200 replies of 10,000 bytes on their way: each next "
          "client got exactly its own replies")
    if mode == "yes":
        batch_before_turn_end(srv.port)
    check(c.call("PING") == ("+", "PONG"), "the server still answers")
    c.close()
    srv.stop()

    # a client that reads steadily but slower than the replies come, its GETs granted
    # together when a lock frees: held back, never closed at its output limit
    srv = itlib.Server("redis", extra=["--io_uring_sends", mode, "--client_output_buffer_limit",
                                       "16mb", "--cache_size", "0", "--durability", "periodic"]).start()
    c = itlib.Resp(srv.port, timeout=60)
    nk = 20000
    for first in range(0, nk, 2000):
        c.send(b"".join(encode("SET", "k:%d" % i, b"x" * 100) for i in range(first, first + 2000)))
        itlib.count_not_ok(c, 2000)
    half = 512 * 1024
    check(c.call("SET", "pile", b"a" * half) == ("+", "OK"), "SET pile (512 KiB)")
    c.call("SAVE")  # the MGET below reads from the device: it holds pile's lock a while
    m = itlib.Resp(srv.port, timeout=120)
    m.send(encode("MGET", *(["k:%d" % i for i in range(nk)] + ["pile"])))
    w = itlib.Resp(srv.port, timeout=120)
    w.send(encode("SET", "pile", b"b" * half))  # waits for the MGET
    t0 = time.time()
    while itlib.info_int(srv.port, "commands_waiting_for_locks") < 1 and time.time() - t0 < 10:
        time.sleep(0.005)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    n = 100
    s.sendall(encode("GET", "pile") * n)  # they wait for the SET
    one = b"$%d\r\n" % half + b"b" * half + b"\r\n"
    got, t0 = bytearray(), time.time()
    while len(got) < n * len(one):
        d = s.recv(65536)  # 64 KiB each 5 ms: 13 MB/s
        if not d:
            break
        got += d
        time.sleep(0.005)
    check(bytes(got) == one * n, "%d GETs of 512 KiB read at 13 MB/s through a 16mb output limit: every "
          "reply (%d of %d bytes in %.1f s)" % (n, len(got), n * len(one), time.time() - t0))
    check(itlib.info_int(srv.port, "client_output_buffer_limit_disconnections") == 0,
          "no client closed at the output limit")
    for x in (s, m, w, c):
        x.close()
    srv.stop()

itlib.finish()
