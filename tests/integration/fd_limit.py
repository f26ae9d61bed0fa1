"""fd_limit.py - maxclients and the open-file limit (run by fd_limit.sh).

The server is started under `prlimit --nofile=SOFT:HARD`:
1. Hard limit 100 (it cannot be raised here): maxclients (10000) is lowered to fit, with
   one warning; 90 clients get PONG or "-ERR max number of clients reached", none hangs;
   the server stays idle (accept(2) used to fail with EMFILE in a loop at 100 % CPU, the
   log growing by megabytes a second); CONFIG SET maxclients past the limit is refused.
2. Soft limit 100, hard 20000: the soft limit is raised, 150 clients are served.
3. The limit lowered under a running server (prlimit --pid): accept fails with EMFILE; the
   server backs off (CPU stays low, a few log lines) and accepts again once descriptors
   are free.
"""
import os
import select
import socket
import subprocess
import time

import itlib
from itlib import Resp, check, section, log, encode

itlib.begin("fd_limit", time_limit_s=80)
if itlib.IS_REAL:
    itlib.skip("fd_limit checks logstord's own start-up sizing and log")
    itlib.finish()
TICK = os.sysconf("SC_CLK_TCK")


# Without CAP_SYS_RESOURCE a process cannot raise its hard limit; a root with it can, so
# the server is started without it (setpriv) when the test runs with it.
NOCAP = ["setpriv", "--bounding-set=-sys_resource", "--inh-caps=-sys_resource", "--"]
PROBE = ["prlimit", "--nofile=100:100", "--", "python3", "-c",
         "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))"]


def can_raise_hard(prefix):
    return subprocess.run(prefix + PROBE, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


WRAP = []
if can_raise_hard([]):
    WRAP = NOCAP if not can_raise_hard(NOCAP) else None


class LimitedServer(itlib.Server):
    def __init__(self, nofile, extra):
        super().__init__("redis", extra=extra)
        self.nofile = nofile

    def argv(self):
        return WRAP + ["prlimit", "--nofile=" + self.nofile, "--"] + super().argv()


def cpu_s(srv):
    with open("/proc/%d/stat" % srv.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def log_text(srv):
    with open(srv.logpath, "rb") as f:
        return f.read().decode("utf-8", "replace")


def open_clients(port, n, wait=2.0):
    """n connections, each sends PING; returns (sockets, the first reply line of each, or
    b"(no reply)" for those not answered within `wait` seconds in all)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"PING\r\n")
        s.setblocking(False)
        socks.append(s)
    got = {}
    deadline = time.time() + wait
    while len(got) < n and time.time() < deadline:
        ready, _, _ = select.select([s for s in socks if s not in got], [], [], 0.1)
        for s in ready:
            try:
                got[s] = s.recv(100).split(b"\r\n")[0] or b"(closed)"
            except OSError as e:
                got[s] = ("(%s)" % e).encode()
    return socks, [got.get(s, b"(no reply)") for s in socks]


def close_all(socks):
    for s in socks:
        s.close()


ARGS = ["--disk_size", "64mb", "--loglevel", "notice"]  # 2 data files: 34 descriptors kept

def hard_limit():
    """Hard limit 100: maxclients is lowered to fit, nothing spins."""
    srv = LimitedServer("100:100", ARGS).start()
    text = log_text(srv)
    check(text.count("maxclients lowered from 10000 to 66") == 1,
          "one warning: maxclients lowered from 10000 to 66")
    admin = Resp(srv.port)
    r = admin.call("CONFIG", "GET", "maxclients")
    check(r == ("*", [("$", b"maxclients"), ("$", b"66")]), "CONFIG GET maxclients", r)
    size0, cpu0 = os.path.getsize(srv.logpath), cpu_s(srv)
    socks, replies = open_clients(srv.port, 90)
    time.sleep(2.0)
    cpu = cpu_s(srv) - cpu0
    grown = os.path.getsize(srv.logpath) - size0
    pong = replies.count(b"+PONG")
    refused = replies.count(b"-ERR max number of clients reached")
    log("     %d PONG, %d refused, other: %r" % (pong, refused, sorted(set(replies) - {
        b"+PONG", b"-ERR max number of clients reached"})))
    check(pong == 65 and refused == 25, "65 clients served besides the admin, 25 refused (%d, %d)"
          % (pong, refused))
    check(cpu < 0.5, "the server stays idle meanwhile (%.2f s of CPU in 2 s)" % cpu)
    check(grown < 4096, "its log grows by less than 4 KiB (%d bytes)" % grown)
    close_all(socks)
    time.sleep(0.3)
    check(admin.call("PING") == ("+", "PONG"), "the admin client is still served")
    r = admin.call("CONFIG", "SET", "maxclients", "1000")
    want = ("-", "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating "
            "system is not able to handle the specified number of clients, try with 66")
    check(r == want, "CONFIG SET maxclients 1000 is refused", r, want)
    check(admin.call("CONFIG", "SET", "maxclients", "50") == ("+", "OK"), "lowering it is fine")
    check(admin.call("CONFIG", "SET", "maxclients", "66") == ("+", "OK"), "and back to 66")
    c = Resp(srv.port)
    check(c.call("PING") == ("+", "PONG"), "a new client is served once the others left")
    c.close()
    admin.close()
    srv.stop()


section("hard limit 100: maxclients lowered to fit")
if WRAP is None:
    itlib.skip("this process can raise its hard open-file limit even without CAP_SYS_RESOURCE")
else:
    hard_limit()

section("soft limit 100, hard 20000: the soft limit is raised")
srv = LimitedServer("100:20000", ARGS).start()
check("open file limit raised from 100 to 10034" in log_text(srv),
      "logged: open file limit raised from 100 to 10034")
cpu0 = cpu_s(srv)
socks, replies = open_clients(srv.port, 150)
check(replies.count(b"+PONG") == 150, "150 clients served (%d)" % replies.count(b"+PONG"))
check(cpu_s(srv) - cpu0 < 0.5, "without spinning")
close_all(socks)
srv.stop()

section("the limit lowered under a running server: accept backs off")
srv = itlib.Server("redis", extra=ARGS).start()
nfd = len(os.listdir("/proc/%d/fd" % srv.proc.pid))
lim = nfd + 5
subprocess.run(["prlimit", "--pid", str(srv.proc.pid), "--nofile=%d:" % lim], check=True)
size0, cpu0 = os.path.getsize(srv.logpath), cpu_s(srv)
socks, replies = open_clients(srv.port, 40, wait=3.0)
cpu = cpu_s(srv) - cpu0
grown = os.path.getsize(srv.logpath) - size0
pong = replies.count(b"+PONG")
log("     limit %d descriptors (%d in use at start): %d of 40 clients served" % (lim, nfd, pong))
check(1 <= pong <= 8, "a few clients are served, the others wait in the backlog (%d)" % pong)
check(cpu < 0.5, "the server does not spin on EMFILE (%.2f s of CPU in 3 s)" % cpu)
check(grown < 4096, "its log grows by less than 4 KiB (%d bytes)" % grown)
text = log_text(srv)
check("accept failed" in text and "Too many open files" in text, "the failure is logged")
close_all(socks)
subprocess.run(["prlimit", "--pid", str(srv.proc.pid), "--nofile=1024:"], check=True)
ok = False
t0 = time.time()
while time.time() - t0 < 5 and not ok:
    try:
        c = Resp(srv.port, timeout=1)
        ok = c.call("PING") == ("+", "PONG")
        c.close()
    except (OSError, itlib.ProtocolError):
        time.sleep(0.2)
check(ok, "once descriptors are free, new clients are served again (%.1f s)" % (time.time() - t0))
check(srv.alive(), "the server is still up")
itlib.finish()
