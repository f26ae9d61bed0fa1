"""conn_memory.py - a connection's memory is bounded by its limits (run by conn_memory.sh).

1. Flood without reading: one client pipelines 100-byte SETs as fast as the socket takes
   them and reads no reply for 3 s, on the Redis port and (noreply sets) on the memcached
   port. Sync durability keeps commands in flight, so the connection sits at its in-flight
   cap (max_inflight) most of the time. The server must stop reading while it is there:
   its RSS may not grow by more than FLOOD_MARGIN (the query buffer used to grow by nearly
   every byte the client sent, 40 MB/s here), CLIENT LIST must show a small qbuf, and the
   client must then get every reply (nothing dropped, not disconnected).
2. Replies waiting behind a slow command: a SET waits up to 100 ms for its group commit
   while 400 ECHOs of 64 KiB behind it complete; the client reads nothing. Their arguments and
   replies together stay within client_query_buffer_limit + client_output_buffer_limit
   (reading pauses; each pending reply used to have a limit of its own and parsing went on),
   and the client is not closed: it then reads every reply.
3. Output limit: pipelined MGETs naming a 512 KiB value 5 times, never read: a reply that
   takes the client's pending replies past client_output_buffer_limit (2 MiB) closes the
   client, as Redis closes a client past its hard limit. (Pipelined GETs of that value no
   longer get there: no command starts while the pending replies and the values being
   read pass half the limit; mget_memory.py.)
4. maxmemory_clients: with 24 MiB for all clients, a client whose query buffer passes it
   (a 40 MB bulk on its way) is evicted (INFO evicted_clients), the small clients stay.
"""
import os
import socket
import threading
import time

import itlib
from itlib import Resp, check, section, log, encode

MIB = 1 << 20
FLOOD_S = 3.0
FLOOD_MARGIN = 16 * MIB

itlib.begin("conn_memory", time_limit_s=140)
if itlib.IS_REAL:
    itlib.skip("conn_memory measures logstord's RSS and uses its configuration keys")
    itlib.finish()
# checkpoints while running off: one falling in the flood's 3 s adds the index's
# copy-on-write pages to the RSS this measures (connection memory, not checkpoints)
srv = itlib.Server("redis", extra=["--maxmemory_clients", "0"]
                   + ([] if itlib.IS_REAL else ["--checkpoint_interval_ms", "0"])).start()
log("conn_memory: logstord on 127.0.0.1:%d / %d" % (srv.port, srv.mc_port))


def rss():
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    return 0


class Sampler:
    """Samples the server's RSS every 20 ms while running; .peak is the largest seen."""

    def __init__(self):
        self.base = rss()
        self.peak = self.base
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.02)

    def end(self):
        self.stop = True
        self.t.join()
        return self.peak - self.base


def flood(port, one, seconds):
    """Sends copies of the command `one` without reading for `seconds`; then completes the
    last partial copy. Returns (socket, commands sent)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    chunk = one * max(1, (256 * 1024) // len(one))
    sent = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            sent += s.send(chunk[sent % len(one):])
        except BlockingIOError:
            time.sleep(0.002)
    s.setblocking(True)
    s.settimeout(30)
    rest = (-sent) % len(one)
    return s, (sent + rest) // len(one), one[len(one) - rest:] if rest else b""


def client_line(c, name):
    r = c.call("CLIENT", "LIST")
    for ln in r[1].decode().splitlines():
        if " name=%s " % name in ln:
            return dict(kv.split("=", 1) for kv in ln.split() if "=" in kv)
    return None


def read_exactly(s, n):
    got = 0
    while got < n:
        d = s.recv(min(1 << 20, n - got))
        if not d:
            break
        got += len(d)
    return got


section("Redis port: a pipelining client that does not read")
admin = Resp(srv.port)
one = encode("SET", "flood", "v" * 100)
s = socket.create_connection(("127.0.0.1", srv.port))
s.sendall(encode("CLIENT", "SETNAME", "flooder"))
check(s.recv(100) == b"+OK\r\n", "the flooder names itself")
smp = Sampler()
s.setblocking(False)
chunk = one * 1000
sent = 0
deadline = time.time() + FLOOD_S
qbuf_peak = 0
next_look = time.time() + 0.5
# a fixed amount as well as a time: RSS grows by the replies that wait (+OK, 5 bytes a SET:
# the client reads none, and reading stops only at half client_output_buffer_limit), so a
# faster machine sent more and crossed the margin (16.5 MB for 3.85 M SETs, 15.1 MB for
# 3.5 M, 14.3 MB at a cap of 3 M). 1 M SETs are 125 MB sent, which the query buffer grew
# by before it was bounded, and 5 MB of replies.
FLOOD_MAX = 1000000 * len(one)
while time.time() < deadline and sent < FLOOD_MAX:
    try:
        sent += s.send(chunk[sent % len(one):])
    except BlockingIOError:
        time.sleep(0.001)
    if time.time() >= next_look:
        f = client_line(admin, "flooder")
        if f:
            qbuf_peak = max(qbuf_peak, int(f["qbuf"]) + int(f["qbuf-free"]))
        next_look = time.time() + 0.5
grown = smp.end()
s.setblocking(True)
s.settimeout(30)
rest = (-sent) % len(one)
n = (sent + rest) // len(one)
log("     sent %d SETs (%.1f MB) in %.0f s, server RSS grew %.1f MB, query buffer peak %d bytes"
    % (n, sent / MIB, FLOOD_S, grown / MIB, qbuf_peak))
check(grown < FLOOD_MARGIN, "RSS grows by less than %d MB while the client floods (%.1f MB)"
      % (FLOOD_MARGIN // MIB, grown / MIB))
check(qbuf_peak <= 2 * MIB, "its query buffer stays small (%d bytes)" % qbuf_peak)
# The replies are read while the rest of the last command goes out: the server reads no
# more of a client whose replies wait (that is the bound), so sending first could wait for
# ever once the socket's buffers are full.
res = {}
reader = threading.Thread(target=lambda: res.setdefault("got", read_exactly(s, 5 * n)))
reader.start()
if rest:
    s.sendall(one[len(one) - rest:])
reader.join()
got = res.get("got", 0)
check(got == 5 * n, "then it reads every reply (%d of %d +OK)" % (got // 5, n))
s.close()

section("memcached port: a noreply flood")
one = b"set flood 0 0 100 noreply\r\n" + b"v" * 100 + b"\r\n"
smp = Sampler()
s, n, rest = flood(srv.mc_port, one, FLOOD_S)
grown = smp.end()
log("     sent %d noreply sets, server RSS grew %.1f MB" % (n, grown / MIB))
check(grown < FLOOD_MARGIN, "RSS grows by less than %d MB (%.1f MB)"
      % (FLOOD_MARGIN // MIB, grown / MIB))
s.sendall(rest + b"mn\r\n")
buf = b""
while not buf.endswith(b"MN\r\n"):
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
check(buf == b"MN\r\n", "then mn answers MN: every set ran, none answered", buf[:80])
s.close()
mc = itlib.Mc(srv.mc_port)
mc.send(b"mg flood s\r\n")
check(mc.line() == b"HD s100", "the key holds a 100-byte value")
mc.close()

srv.stop()

section("replies waiting behind a slow command: one bound for all of them, as in Redis")
# A SET in sync mode waits for its group commit (up to 100 ms here); ECHOs behind it
# complete at once and wait, with their arguments, for it to be answered. The client reads
# nothing.
srv = itlib.Server("redis", extra=[
    "--group_commit_us", "100000", "--cache_size", "0", "--client_query_buffer_limit", "1mb",
    "--client_output_buffer_limit", "2mb", "--maxmemory_clients", "0"]).start()
admin = Resp(srv.port)
smp = Sampler()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", srv.port))
arg = b"e" * (64 * 1024)
n = 400  # 25 MiB of replies
payload = encode("SET", "slow", "x") + encode("ECHO", arg) * n
# Another client keeps writes pending, so every group commit is followed by a 100 ms window.
writer_stop = []


def writer():
    w = Resp(srv.port)
    while not writer_stop:
        w.send(encode("SET", "w", "x") * 20)  # the next 20 arrive while these are pending
        w.send(encode("SET", "w", "x") * 20)
        for _ in range(40):
            w.read()
    w.close()


wt = threading.Thread(target=writer)
wt.start()
time.sleep(0.3)
def send_all():
    try:
        s.sendall(payload)
    except OSError as e:
        log("     the sender got %s" % e)


sender = threading.Thread(target=send_all)
sender.start()
time.sleep(2.0)
grown = smp.end()
writer_stop.append(1)
wt.join()
check(grown < 3 * MIB + FLOOD_MARGIN,
      "RSS grows by less than the query and output limits + %d MB (%.1f MB)"
      % (FLOOD_MARGIN // MIB, grown / MIB))
# As in Redis, replies that wait for the client are not a reason to stop reading it (a
# client may send a whole pipeline before it reads: stopping there left both sides waiting
# for good); past client_output_buffer_limit it is closed.
s.settimeout(30)
want = 5 + n * (len(b"$65536\r\n") + len(arg) + 2)
got = read_exactly(s, want)
sender.join()
check(got < want and "client_output_buffer_limit_disconnections:1\r" in
      admin.call("INFO", "stats")[1].decode(),
      "its replies passed the output limit: the client is closed (%d of %d bytes read)"
      % (got, want))
s.close()
drops0 = itlib.info_int(srv.port, "client_output_buffer_limit_disconnections")

section("a pipeline sent whole before its replies are read (redis-py's pipeline)")
# 6,000 SET k <4 KiB> GET: 24 MB each way, past the bound where a client taking its replies
# slowly is held back and past the socket buffers, within the default output limit. The
# client sends everything, then reads: held back, it waited for us and we for it, for
# good; a client whose replies do not move is read on (as Redis does).
big = itlib.Server("redis", extra=["--durability", "periodic"]).start()
s = socket.create_connection(("127.0.0.1", big.port))
s.settimeout(60)
n, val = 6000, b"p" * 4096
t0 = time.time()
try:
    s.sendall(encode("SET", "pv", val, "GET") * n)
    sent = True
except OSError:
    sent = False
want = len(b"$-1\r\n") + (n - 1) * (len(b"$4096\r\n") + 4096 + 2)
got = read_exactly(s, want) if sent else 0
check(sent and got == want, "it sends the whole pipeline, then reads every reply (%d of %d "
      "bytes)" % (got, want))
# whether it reads is asked of the kernel (SIOCOUTQ) at most once a stall period (100 ms),
# not before each of its commands (that was half the server's CPU on such a pipeline)
probes, ms = itlib.info_int(big.port, "client_output_stall_probes"), (time.time() - t0) * 1000
check(probes <= ms / 100 + 2, "at most one SIOCOUTQ a 100 ms: %d in %.0f ms" % (probes, ms))
s.close()
big.stop()
drops0 = itlib.info_int(srv.port, "client_output_buffer_limit_disconnections")

section("a pipeline whose later command another client waits for (LPUSH for a BLPOP)")
# The client sends 20 GETs of 512 KiB and an LPUSH in one small write, then waits for
# another connection's BLPOP before it reads: its replies pass the bound where a client
# taking them is held back, but it never took any, so it is read on (as in Redis) and the
# LPUSH runs. Held back, both waited for good.
dep = itlib.Server("redis", extra=["--durability", "periodic", "--cache_size", "0"]).start()
adm = Resp(dep.port, timeout=30)
check(adm.call("SET", "big", "b" * (MIB // 2)) == ("+", "OK"), "SET big (512 KiB)")
a = socket.socket()
a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
a.connect(("127.0.0.1", dep.port))
a.sendall(encode("GET", "big") * 20 + encode("LPUSH", "q", "done"))
t0 = time.time()
r = adm.call("BLPOP", "q", "10")
dt = time.time() - t0
check(r == ("*", [("$", b"q"), ("$", b"done")]) and dt < 5,
      "the BLPOP gets the pipeline's LPUSH (%.2f s)" % dt, r)
a.settimeout(30)
want = 20 * (len(b"$524288\r\n") + MIB // 2 + 2) + len(b":1\r\n")
check(read_exactly(a, want) == want, "then the client reads its 21 replies")
a.close()
adm.close()
dep.stop()

section("output limit: pending replies past client_output_buffer_limit close the client")
check(admin.call("SET", "big", "b" * (MIB // 2)) == ("+", "OK"), "a 512 KiB value")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", srv.port))
s.sendall(encode("MGET", *["big"] * 5) * 8)  # replies of 2.5 MiB each, never read
closed = False
t0 = time.time()
while time.time() - t0 < 10 and not closed:
    time.sleep(0.1)
    closed = itlib.info_int(srv.port, "client_output_buffer_limit_disconnections") == drops0 + 1
check(closed, "the client is closed (client_output_buffer_limit_disconnections + 1)")
s.close()
check(admin.call("PING") == ("+", "PONG"), "other clients are served")

section("CONFIG SET client_output_buffer_limit applies to the clients connected before it")
lim = itlib.Server("redis", extra=["--client_output_buffer_limit", "1mb"]).start()
early = Resp(lim.port)  # connected while the limit is 1mb
la = Resp(lim.port)
check(la.call("SET", "v", "v" * (600 * 1024)) == ("+", "OK"), "a 600 KiB value")
check(la.call("CONFIG", "SET", "client_output_buffer_limit", "64mb") == ("+", "OK"),
      "CONFIG SET client_output_buffer_limit 64mb")
r = early.call("MGET", "v", "v")  # a reply of 1.2 MB
check(r == ("*", [("$", b"v" * (600 * 1024))] * 2), "the earlier client gets an MGET's reply "
      "of 1.2 MB (past the old limit, within the new one)", r if r[0] != "*" else len(r[1]))
check(itlib.info_int(lim.port, "client_output_buffer_limit_disconnections") == 0,
      "no client closed at the output limit")
early.close()
la.close()
lim.stop()

section("maxmemory_clients")
check(admin.call("CONFIG", "SET", "maxmemory_clients", "24mb") == ("+", "OK"),
      "CONFIG SET maxmemory_clients 24mb")
check(admin.call("CONFIG", "SET", "client_query_buffer_limit", "64mb") == ("+", "OK"),
      "client_query_buffer_limit 64mb: above it")
small = [Resp(srv.port) for _ in range(3)]
for c in small:
    c.call("PING")
s = socket.create_connection(("127.0.0.1", srv.port))
s.settimeout(10)
# One command with a 40 MB bulk, 30 MB of it sent: its query buffer holds them.
s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$40000000\r\n")
evicted = False
try:
    for _ in range(30):
        s.sendall(b"q" * MIB)
except OSError:
    pass
t0 = time.time()
while time.time() - t0 < 10 and not evicted:
    evicted = "evicted_clients:1\r" in admin.call("INFO", "stats")[1].decode()
    time.sleep(0.1)
check(evicted, "the client whose query buffer passes 24 MiB is evicted (evicted_clients:1)")
check(evicted and s.recv(100) == b"", "its connection is closed")
check(all(c.call("PING") == ("+", "PONG") for c in small), "the small clients stay")
info = admin.call("INFO", "memory")[1].decode()
mem = int(info.split("mem_clients_normal:")[1].split("\r")[0])
check(mem < 24 * MIB, "INFO mem_clients_normal is under the limit (%d)" % mem)
s.close()
for c in small:
    c.close()
admin.close()
check(srv.alive(), "the server is still up")
itlib.finish()
