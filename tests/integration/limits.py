"""limits.py - connection limits: maxclients and the idle timeout (run by limits.sh).

The server is started with --maxclients 5 --timeout 1 (both are logstord config keys
with Redis's names and meanings):
- the 6th concurrent client gets "-ERR max number of clients reached" and is closed;
  once a client leaves, a new one is accepted;
- a client idle for more than `timeout` seconds is closed; an active one is not, nor one
  still reading a long reply (sending to it counts as activity, as in Redis).
"""
import socket
import time

import itlib
from itlib import Resp, check, section, log, encode

itlib.begin("limits", time_limit_s=60)
srv = itlib.Server("redis", extra=["--maxclients", "5", "--timeout", "1"]).start()
log("limits: target %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord", srv.port))

section("maxclients 5")
conns = [Resp(srv.port)]
check(itlib.only_client(conns[0]), "the readiness probe's connection is gone")
for i in range(5):
    c = conns.pop() if conns and i == 0 else Resp(srv.port)
    r = c.call("PING")
    check(r == ("+", "PONG"), "client %d of 5 is served" % (i + 1), r)
    conns.append(c)
extra = Resp(srv.port)
extra.send(b"PING\r\n")
try:
    r = extra.read()
except (itlib.ProtocolError, OSError) as e:
    r = ("closed", str(e))
check(r == ("-", "ERR max number of clients reached"), "the 6th client is refused", r,
      ("-", "ERR max number of clients reached"))
check(extra.closed_by_server(), "the 6th client's connection is closed")
extra.close()
conns.pop().close()
time.sleep(0.3)
c = Resp(srv.port)
check(c.call("PING") == ("+", "PONG"), "after one client leaves, a new one is accepted")
conns.append(c)
for c in conns:
    c.close()
time.sleep(0.3)

section("timeout 1 (idle clients are closed)")
idle = Resp(srv.port)
busy = Resp(srv.port)
check(idle.call("PING") == ("+", "PONG"), "idle client answers at first")
t0 = time.time()
closed = False
while time.time() - t0 < 4.0:
    check_busy = busy.call("PING")
    if check_busy != ("+", "PONG"):
        break
    if idle.closed_by_server(wait=0.25):
        closed = True
        break
elapsed = time.time() - t0
check(closed and elapsed >= 0.9, "the idle client is closed after about 1 s (%.1f s)" % elapsed)
check(busy.call("PING") == ("+", "PONG"), "a client that keeps sending commands is not closed")
busy.close()
idle.close()

section("timeout 1: a client still reading a long reply is not idle")
c = Resp(srv.port)
check(c.call("SET", "big", "x" * 1000000) == ("+", "OK"), "a 1 MB value")
c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connect: a small window
s.connect(("127.0.0.1", srv.port))
s.settimeout(5)
want = 8 * (1000000 + 12)
s.sendall(encode("GET", "big") * 8)  # 8 MB of replies: more than the kernel buffers hold
got, t0 = 0, time.time()
try:
    while got < want and time.time() - t0 < 20:
        chunk = 0
        while chunk < 256 * 1024 and got < want:
            d = s.recv(65536)
            if not d:
                raise OSError("closed")
            chunk += len(d)
            got += len(d)
        time.sleep(0.1)  # about 2.5 MB/s
except OSError:
    pass
elapsed = time.time() - t0
check(got == want and elapsed > 1.5,
      "read slowly over %.1f s, the replies arrive whole (%d of %d bytes)" % (elapsed, got, want))
s.close()
itlib.finish()
