"""itlib.py - shared harness for the Python integration tests (standard library only).

Starts a server on free 127.0.0.1 ports in a fresh temp dir, talks RESP2/RESP3 and the
memcached protocol over raw sockets with timeouts, records checks and always kills the
server at exit (atexit, signals, and a global alarm).

TARGET=redis runs the same test against the real thing: redis-server for the Redis
protocol, memcached for the memcached protocol. Otherwise the server is $LOGSTORD (set by
tests/run.sh), which serves both protocols from one process; $LOGSTORD_ARGS (split at
spaces) is added to each logstord's arguments, e.g. "--io_uring_sends no" to run a test
with the other send path.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CALL_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 15.0

TARGET = os.environ.get("TARGET", "logstord")
IS_REAL = TARGET == "redis"

_servers = []
_state = {"checks": 0, "failures": 0, "name": "it"}


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _kill_all():
    for srv in _servers:
        srv.kill()
        srv.cleanup()


def _on_signal(signum, _frame):
    log("FAIL: %s (signal %d): killing the server" %
        ("global time limit reached" if signum == signal.SIGALRM else "interrupted", signum))
    _kill_all()
    os._exit(124 if signum == signal.SIGALRM else 128 + signum)


def _excepthook(etype, value, tb):
    """An exception (a closed connection, a timeout) fails the test with the server's state."""
    import traceback
    traceback.print_exception(etype, value, tb)
    log("FAIL: %s: unexpected %s: %s" % (_state["name"], etype.__name__, value))
    for srv in _servers:
        if srv.proc is not None:
            rc = srv.proc.poll()
            log("     server %s" % ("still running" if rc is None else
                                    "DIED with status %s (negative = signal)" % rc))
            log_tail(srv)
    _kill_all()
    os._exit(1)


def log_tail(srv, nbytes=2000):
    """Prints the last nbytes of srv's log, if it wrote any."""
    try:
        with open(srv.logpath, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            tail = f.read().decode("utf-8", "replace")
        if tail:
            log("     server log tail:\n" + tail)
    except OSError:
        pass


def begin(name, time_limit_s=60):
    """Call first: names the test, arms the global time limit and the cleanup."""
    _state["name"] = name
    sys.excepthook = _excepthook
    atexit.register(_kill_all)
    signal.signal(signal.SIGALRM, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.alarm(int(os.environ.get("IT_TIME_LIMIT", time_limit_s)))


def finish():
    """Call last: prints the tally and exits 0 or 1."""
    _kill_all()
    n, f = _state["checks"], _state["failures"]
    if f:
        log("%s: FAILED %d of %d checks" % (_state["name"], f, n))
        sys.exit(1)
    log("%s: all %d checks passed" % (_state["name"], n))
    sys.exit(0)


def section(s):
    log("-- " + s)


def check(cond, what, got=None, want=None):
    _state["checks"] += 1
    if cond:
        log("ok   %s" % what if got is None else "ok   %-58s -> %r" % (what, got))
    else:
        _state["failures"] += 1
        line = sys._getframe(1).f_lineno
        caller = sys._getframe(1)
        while caller and caller.f_code.co_filename.endswith("itlib.py"):
            caller = caller.f_back
        if caller:
            line = caller.f_lineno
        log("FAIL line %d: %s" % (line, what))
        if want is not None or got is not None:
            log("     want %r" % (want,))
            log("     got  %r" % (got,))
    return cond


def skip(what):
    log("SKIP %s" % what)


# ---- helpers of the load tests (busy_writes.py, compaction_stall.py, concurrency_rule.py,
# parked_overtake.py) ----

def run_threads(fn, n):
    """Runs fn(0..n-1) in n threads; returns their results in order."""
    out = {}
    ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i))) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [out.get(i) for i in range(n)]


def pair_apart(port, unit, units, clients, readers=2):
    """Atomicity of a two-key unit: clients (threads) each run unit(conn) units times,
    where a unit INCRs x and y as one (a transaction, a script), while readers MGET x y
    in a loop. Returns (MGETs that saw x and y apart, MGETs in all)."""
    torn, reads = [], [0]
    stop = threading.Event()

    def writer(_i):
        w = Resp(port, timeout=30)
        for _ in range(units):
            unit(w)
        w.close()

    def reader():
        rd = Resp(port, timeout=30)
        while not stop.is_set():
            r = rd.call("MGET", "x", "y")
            reads[0] += 1
            if r[1][0] != r[1][1]:
                torn.append(r)
        rd.close()

    rt = [threading.Thread(target=reader) for _ in range(readers)]
    for t in rt:
        t.start()
    run_threads(writer, clients)
    stop.set()
    for t in rt:
        t.join()
    return torn, reads[0]


def tagged_value(size, *tag):
    """A value of size bytes that starts with its tag ("a:b:c:"), so a wrong one is seen."""
    t = b"".join(b"%d:" % x for x in tag)
    return t + b"v" * (size - len(t))


def count_not_ok(c, n):
    """Reads n replies: (how many were not +OK, the first such reply or None)."""
    errors, first = 0, None
    for _ in range(n):
        r = c.read()
        if r != ("+", "OK"):
            errors += 1
            first = first or r
    return errors, first


def check_all_ok(res, what="every SET answers +OK"):
    """res: (errors, first bad reply) per client, as the setters return them."""
    errors = sum(e for e, _ in res)
    return check(errors == 0, "%s (%d errors, first: %r)" %
                 (what, errors, next((f for _, f in res if f), None)))


def set_output_limit(c, value, redis_class="normal"):
    """CONFIG SET of the output buffer limit over connection c: logstord's one limit, or
    redis-server's hard limit of a client class (no soft limit)."""
    arg = "%s %s 0 0" % (redis_class, value) if IS_REAL else value
    return c.call("CONFIG", "SET", "client-output-buffer-limit", arg)


def info(port):
    """INFO all as a dict of strings (logstord or redis-server)."""
    c = Resp(port, timeout=30)
    text = c.call("INFO", "all")[1].decode()
    c.close()
    return dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)


def info_int(port, name):
    """An integer field of INFO all, or None when the server has no such field."""
    v = info(port).get(name)
    return None if v is None else int(v)


def wait_until(cond, limit=5.0, step=0.01):
    """Polls cond() until it is true or `limit` seconds have passed; returns its last value.
    For what the server does after a reply or a close, instead of a fixed sleep."""
    deadline = time.time() + limit
    v = cond()
    while not v and time.time() < deadline:
        time.sleep(step)
        v = cond()
    return v


def only_client(c, limit=5.0):
    """Waits until connection c is the server's only client (earlier ones' closes, the
    readiness probe's among them, processed); returns whether it is."""
    def alone():
        text = c.call("INFO", "clients")[1].decode()
        return "connected_clients:1\r\n" in text
    return wait_until(alone, limit)


def reaper_pass(port, timeout_s=10):
    """Starts a pass of logstord's reaper (a large list made and deleted: DEL wakes it) and
    waits until it has run to its end, at most timeout_s."""
    c = Resp(port)
    passes = info_int(port, "reaper_passes")
    c.call("RPUSH", "__reaper_wake", *["x"] * 200)
    c.call("DEL", "__reaper_wake")
    c.close()
    deadline = time.time() + timeout_s
    while time.time() < deadline and (info_int(port, "reaper_passes") == passes or
                                      info_int(port, "reaper_running")):
        time.sleep(0.05)


class Pushers:
    """Background load that keeps the engine's write backlog full: n threads each pipeline
    batches of SETs of `size` bytes over a few keys of their own until stop(). Every reply
    that is not +OK is kept in .errors; .sets counts the replies read; .max_batch_s is the
    longest time a batch took from its send to its last reply."""

    def __init__(self, port, n=4, size=60 * 1024, batch=40, keys=20, prefix="push"):
        self.port, self.size, self.batch, self.keys, self.prefix = port, size, batch, keys, prefix
        self.stop_ev = threading.Event()
        self.errors, self.sets, self.max_batch_s = [], 0, 0.0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, n):
        c = Resp(self.port, timeout=60)
        rnd = 0
        while not self.stop_ev.is_set():
            payload = b"".join(encode("SET", "%s%d:%d" % (self.prefix, n, i % self.keys),
                                      tagged_value(self.size, n, rnd, i))
                               for i in range(self.batch))
            t0 = time.time()
            c.send(payload)
            bad = [r for r in (c.read() for _ in range(self.batch)) if r != ("+", "OK")]
            with self.lock:
                self.errors.extend(bad)
                self.sets += self.batch
                self.max_batch_s = max(self.max_batch_s, time.time() - t0)
            rnd += 1
        c.close()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()
        return self


def check_last_sets(port, prefix, clients, keys, batch, want, what):
    """Client n pipelined batch SETs per round of key prefix<n>:<i % keys>: each key must
    hold want(n, last i with i % keys == k)."""
    c = Resp(port, timeout=30)
    bad = 0
    for n in range(clients):
        for k in range(keys):
            last = k + keys * ((batch - 1 - k) // keys)
            if c.call("GET", "%s%d:%d" % (prefix, n, k)) != ("$", want(n, last)):
                bad += 1
    c.close()
    return check(bad == 0, "%s (%d of %d wrong)" % (what, bad, clients * keys))


class Server:
    """One server process. kind is "redis" or "memcached" (which protocol the test needs)."""

    def __init__(self, kind="redis", extra=None, durability="sync", data_dir=None):
        self.kind = kind
        self.extra = list(extra or [])
        self.durability = durability
        self.proc = None
        self.port = free_port()
        self.mc_port = free_port()
        while self.mc_port == self.port:
            self.mc_port = free_port()
        self.own_dir = data_dir is None
        self.dir = data_dir or tempfile.mkdtemp(prefix="logstor-it-", dir="/tmp")
        self.logpath = os.path.join(self.dir, "server.log")
        _servers.append(self)

    @property
    def real(self):
        return IS_REAL

    def argv(self):
        if IS_REAL and self.kind == "redis":
            return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir] + self.extra
        if IS_REAL and self.kind == "memcached":
            root = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses root otherwise
            return ["memcached", "-p", str(self.mc_port), "-U", "0", "-l", "127.0.0.1"] + root + self.extra
        binary = os.environ.get("LOGSTORD") or "build/logstord"
        return [binary, "--port", str(self.port), "--memcached_port", str(self.mc_port),
                "--bind", "127.0.0.1", "--dir", self.dir, "--durability", self.durability,
                "--loglevel", "warning"] + self.extra + os.environ.get("LOGSTORD_ARGS", "").split()

    def spawn(self):
        """Starts the process without waiting for it to answer (start() waits: a PING
        answered PONG, which logstord gives only once its engine is open)."""
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        return self

    def start(self):
        self.spawn()
        deadline = time.time() + READY_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._fail_start("server exited with status %s during start-up" % self.proc.returncode)
            if self._ready():
                return self
            time.sleep(0.05)
        self._fail_start("server not ready after %.0f s" % READY_TIMEOUT_S)

    def _fail_start(self, why):
        log("FAIL: %s: %s" % (" ".join(self.argv()), why))
        try:
            with open(self.logpath, "rb") as f:
                sys.stdout.write(f.read()[-3000:].decode("utf-8", "replace"))
        except OSError:
            pass
        _state["failures"] += 1
        finish()

    def _ready(self):
        try:
            if self.kind == "memcached" and IS_REAL:
                c = Mc(self.mc_port, timeout=1)
                c.send(b"version\r\n")
                ok = c.line().startswith(b"VERSION")
            else:
                c = Resp(self.port, timeout=1)
                if "--requirepass" in self.extra[:-1]:  # AUTH works while logstord loads
                    c.call("AUTH", self.extra[self.extra.index("--requirepass") + 1])
                r = c.call("PING")
                ok = r == ("+", "PONG") or (r[0] == "-" and r[1].startswith("NOAUTH"))
            c.close()
            return ok
        except (OSError, ProtocolError):
            return False

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig and waits for exit; returns the exit code (negative for a signal)."""
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout"
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        if self.own_dir and os.path.isdir(self.dir) and not os.environ.get("IT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class RedisServer(Server):
    """redis-server with no persistence, on a free loopback port (stopped by PID): the
    reference the differential tests compare logstord's replies with."""

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir] + self.extra


class ProtocolError(Exception):
    pass


class Conn:
    """A socket with a read buffer and a timeout on every call. rcvbuf sets SO_RCVBUF
    before connecting: a small window, so that replies not read stay in the server."""

    def __init__(self, port, timeout=CALL_TIMEOUT_S, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise ProtocolError("connection closed by server")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def closed_by_server(self, wait=2.0):
        """True if the server closes the connection within wait seconds (after any data)."""
        self.sock.settimeout(wait)
        try:
            while True:
                d = self.sock.recv(1 << 16)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(CALL_TIMEOUT_S)


class Resp(Conn):
    """RESP2/RESP3 client. Replies are (type char, value) tuples, for instance ("+", "OK"),
    ("-", "ERR ..."), (":", 5), ("$", b"bytes"), ("$", None) for RESP2 nil, ("_", None),
    ("*", [replies]), ("%", [(k, v), ...]), ("~", [...]), (",", "1.5"), ("#", True),
    ("=", b"txt:..."), ("(", int)."""

    def call(self, *args):
        self.send(encode(*args))
        return self.read()

    def read(self):
        ln = self.line()
        if not ln:
            raise ProtocolError("empty reply line")
        t, rest = chr(ln[0]), ln[1:]
        if t in "+-":
            return (t, rest.decode("utf-8", "replace"))
        if t in ":(":
            return (t, int(rest))
        if t == ",":
            return (t, rest.decode())
        if t == "#":
            return (t, rest == b"t")
        if t == "_":
            return (t, None)
        if t in "$=!":
            n = int(rest)
            if n < 0:
                return (t, None)
            d = self.exact(n + 2)[:-2]
            return (t, d)
        if t in "*~>":
            n = int(rest)
            if n < 0:
                return (t, None)
            return (t, [self.read() for _ in range(n)])
        if t == "%":
            n = int(rest)
            return (t, [(self.read(), self.read()) for _ in range(n)])
        if t == "|":
            n = int(rest)
            attrs = [(self.read(), self.read()) for _ in range(n)]
            return ("|", (attrs, self.read()))
        raise ProtocolError("unknown reply type %r in %r" % (t, ln[:80]))


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pipeline(c, cmds, chunk=1000):
    """Sends cmds (argument tuples) on Resp connection c, chunk at a time, and returns
    their replies in order."""
    out = []
    for i in range(0, len(cmds), chunk):
        part = cmds[i:i + chunk]
        c.send(b"".join(encode(*a) for a in part))
        out += [c.read() for _ in part]
    return out


class Mc(Conn):
    """memcached text/meta protocol client over a raw socket."""

    def cmd(self, line, data=None):
        """Sends one command line (and a data block), returns the first reply line."""
        payload = line if isinstance(line, bytes) else line.encode()
        payload += b"\r\n"
        if data is not None:
            payload += data + b"\r\n"
        self.send(payload)
        return self.line()

    def lines_until(self, end=b"END"):
        """Reads reply lines (with their data blocks for VALUE lines) until `end`."""
        out = []
        while True:
            ln = self.line()
            if ln.startswith(b"VALUE "):
                n = int(ln.split()[3])
                out.append((ln, self.exact(n + 2)[:-2]))
            elif ln == end:
                return out
            else:
                out.append((ln, None))
                if ln.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
                    return out
