"""pubsub.py - Pub/Sub and keyspace notifications (run by pubsub.sh). TARGET=redis runs the
same checks against redis-server 7.0, so every expected reply below is Redis's.

1. RESP2: SUBSCRIBE/UNSUBSCRIBE confirmations and counts, PUBLISH receivers and message
   frames, PING in subscribed mode, the subscribed-mode error, UNSUBSCRIBE/PUNSUBSCRIBE
   with nothing subscribed, RESET leaving subscribed mode.
2. Patterns: PSUBSCRIBE, pmessage frames, a channel matched by a pattern and subscribed
   to directly, PUNSUBSCRIBE; shard channels (SSUBSCRIBE/SPUBLISH/SUNSUBSCRIBE).
3. PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB and their errors.
4. RESP3: confirmations and messages are pushes, any command runs while subscribed, a
   message published by the subscriber itself comes before PUBLISH's reply.
5. Keyspace notifications: CONFIG SET/GET of notify-keyspace-events, the events of SET,
   SET EX, EXPIRE, PERSIST, INCR, APPEND, DEL, new keys, and "expired" for a key with a
   short TTL that is never read (found by the expiry sweep), and for one found by a read.
6. A subscriber is never closed for idling (timeout); an idle client is.
7. A subscriber that does not read is closed at the output buffer limit; the server's
   memory stays bounded and it counts the disconnection in INFO.
8. Subscriptions count in the client's memory: maxmemory_clients evicts a client that
   subscribes to channel after channel (logstord only: Redis counts the names elsewhere).
"""
import socket
import time

import itlib
from itlib import Resp, check, section, log, encode

MIB = 1 << 20

itlib.begin("pubsub", time_limit_s=100)
srv = itlib.Server("redis").start()
port = srv.port
log("pubsub: %s on 127.0.0.1:%d" % ("redis-server" if srv.real else "logstord", port))


def b(*xs):
    return [("$", x.encode() if isinstance(x, str) else x) for x in xs]


def frame(kind, *parts, push=False):
    """A pub/sub frame: bulk strings, or ints for counts, in an array (or a push)."""
    items = []
    for p in parts:
        if p is None:
            items.append(("_", None) if push else ("$", None))
        elif isinstance(p, int):
            items.append((":", p))
        else:
            items.append(("$", p.encode()))
    return (">" if push else "*", [("$", kind.encode())] + items)


def new_client(proto=2):
    c = Resp(port)
    if proto == 3:
        c.call("HELLO", "3")
    return c


pub = new_client()

section("1. RESP2 subscribe, publish, ping, mode error")
sub = new_client()
sub.send(encode("SUBSCRIBE", "chan1", "chan2"))
check(sub.read() == frame("subscribe", "chan1", 1), "SUBSCRIBE confirms chan1 with count 1")
check(sub.read() == frame("subscribe", "chan2", 2), "then chan2 with count 2")
check(pub.call("PUBLISH", "chan1", "hello") == (":", 1), "PUBLISH returns 1 receiver")
check(sub.read() == frame("message", "chan1", "hello"), "the subscriber gets the message")
check(pub.call("PUBLISH", "nobody", "x") == (":", 0), "PUBLISH to no subscriber returns 0")
sub.send(encode("SUBSCRIBE", "chan1"))
check(sub.read() == frame("subscribe", "chan1", 2), "subscribing twice keeps the count")
check(pub.call("PUBLISH", "chan1", "once") == (":", 1), "and delivers once")
check(sub.read() == frame("message", "chan1", "once"), "one message")
sub.send(encode("PING"))
check(sub.read() == ("*", b("pong", "")), "PING in subscribed mode: [pong, '']")
sub.send(encode("PING", "foo"))
check(sub.read() == ("*", b("pong", "foo")), "PING foo in subscribed mode: [pong, foo]")
got = sub.call("GET", "k")
want = ("-", "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
        "/ RESET are allowed in this context")
check(got == want, "GET in subscribed RESP2 mode is refused", got, want)
got = sub.call("CLIENT", "LIST")
check(got[0] == "-" and "'client|list'" in got[1], "a subcommand is named cmd|sub", got)
sub.send(encode("UNSUBSCRIBE"))
got = [sub.read(), sub.read()]
check(sorted(x[1][1][1] for x in got) == [b"chan1", b"chan2"] and
      [x[1][2] for x in got] == [(":", 1), (":", 0)] and
      all(x[1][0] == ("$", b"unsubscribe") for x in got),
      "UNSUBSCRIBE with no argument leaves every channel (any order), counting down", got)
check(sub.call("PING") == ("+", "PONG"), "PING after the last unsubscribe: +PONG")
check(sub.call("UNSUBSCRIBE") == frame("unsubscribe", None, 0),
      "UNSUBSCRIBE with nothing subscribed: [unsubscribe, nil, 0]")
check(sub.call("PUNSUBSCRIBE") == frame("punsubscribe", None, 0),
      "PUNSUBSCRIBE with nothing subscribed: [punsubscribe, nil, 0]")
check(sub.call("UNSUBSCRIBE", "x") == frame("unsubscribe", "x", 0),
      "UNSUBSCRIBE of a channel not subscribed")
sub.call("SUBSCRIBE", "r1")
check(sub.call("RESET") == ("+", "RESET"), "RESET in subscribed mode")
check(sub.call("GET", "nokey") == ("$", None), "after RESET commands run again")
check(pub.call("PUBLISH", "r1", "x") == (":", 0), "RESET unsubscribed the connection")
check(sub.call("SUBSCRIBE") == ("-", "ERR wrong number of arguments for 'subscribe' command"),
      "SUBSCRIBE without a channel")
sub.close()

section("2. patterns and shard channels")
ps = new_client()
check(ps.call("PSUBSCRIBE", "foo.*") == frame("psubscribe", "foo.*", 1), "PSUBSCRIBE foo.*")
check(ps.call("SUBSCRIBE", "foo.bar") == frame("subscribe", "foo.bar", 2),
      "SUBSCRIBE counts channels and patterns together")
check(pub.call("PUBLISH", "foo.bar", "m1") == (":", 2), "a channel matched both ways: 2")
got = [ps.read(), ps.read()]
check(got == [frame("message", "foo.bar", "m1"), frame("pmessage", "foo.*", "foo.bar", "m1")],
      "message first, then pmessage", got)
check(pub.call("PUBLISH", "foo.baz", "m2") == (":", 1), "a channel matched by the pattern")
check(ps.read() == frame("pmessage", "foo.*", "foo.baz", "m2"), "pmessage with the pattern")
check(pub.call("PUBLISH", "Foo.baz", "m3") == (":", 0), "pattern matching is case-sensitive")
check(ps.call("PSUBSCRIBE", "a?[xy]") == frame("psubscribe", "a?[xy]", 3), "a glob pattern")
check(pub.call("PUBLISH", "a1y", "m4") == (":", 1), "? and [xy] match")
check(ps.read() == frame("pmessage", "a?[xy]", "a1y", "m4"), "pmessage of the glob")
check(ps.call("PUNSUBSCRIBE", "foo.*") == frame("punsubscribe", "foo.*", 2), "PUNSUBSCRIBE one")
check(pub.call("PUBLISH", "foo.baz", "m5") == (":", 0), "no longer matched")
check(ps.call("SSUBSCRIBE", "sh1") == frame("ssubscribe", "sh1", 1),
      "SSUBSCRIBE counts shard channels apart")
check(pub.call("SPUBLISH", "sh1", "s1") == (":", 1), "SPUBLISH reaches it")
check(ps.read() == frame("smessage", "sh1", "s1"), "as an smessage")
check(pub.call("PUBLISH", "sh1", "s2") == (":", 0), "PUBLISH does not reach shard channels")
check(pub.call("SPUBLISH", "foo.bar", "s3") == (":", 0),
      "SPUBLISH reaches neither channels nor patterns")

section("3. PUBSUB introspection")
ps2 = new_client()
ps2.call("SUBSCRIBE", "foo.bar")
ps2.call("PSUBSCRIBE", "a?[xy]")
ps2.call("PSUBSCRIBE", "zz*")
got = pub.call("PUBSUB", "CHANNELS")
check(got[0] == "*" and sorted(got[1]) == b("foo.bar"), "PUBSUB CHANNELS", got)
check(pub.call("PUBSUB", "CHANNELS", "f*") == ("*", b("foo.bar")), "PUBSUB CHANNELS f*")
check(pub.call("PUBSUB", "CHANNELS", "x*") == ("*", []), "PUBSUB CHANNELS x*: none")
got = pub.call("PUBSUB", "NUMSUB", "foo.bar", "nope")
check(got == ("*", b("foo.bar") + [(":", 2)] + b("nope") + [(":", 0)]), "PUBSUB NUMSUB", got)
check(pub.call("PUBSUB", "NUMSUB") == ("*", []), "PUBSUB NUMSUB with no channel")
check(pub.call("PUBSUB", "NUMPAT") == (":", 2), "PUBSUB NUMPAT counts unique patterns")
check(pub.call("PUBSUB", "SHARDCHANNELS") == ("*", b("sh1")), "PUBSUB SHARDCHANNELS")
check(pub.call("PUBSUB", "SHARDNUMSUB", "sh1") == ("*", b("sh1") + [(":", 1)]),
      "PUBSUB SHARDNUMSUB")
errs = [(("PUBSUB",), "ERR wrong number of arguments for 'pubsub' command"),
        (("PUBSUB", "FOO"), "ERR unknown subcommand 'FOO'. Try PUBSUB HELP."),
        (("PUBSUB", "NUMPAT", "x"), "ERR wrong number of arguments for 'pubsub|numpat' command"),
        (("PUBSUB", "CHANNELS", "a", "b"),
         "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."),
        (("PUBLISH", "a"), "ERR wrong number of arguments for 'publish' command")]
for args, want in errs:
    got = pub.call(*args)
    check(got == ("-", want), " ".join(args), got, want)
help_lines = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help."]
got = pub.call("PUBSUB", "HELP")
check(got == ("*", [("+", x) for x in help_lines]), "PUBSUB HELP", got)
ps.close()
ps2.close()
check(itlib.wait_until(lambda: pub.call("PUBSUB", "NUMPAT") == (":", 0)),
      "closing a subscriber drops its patterns")
check(pub.call("PUBSUB", "CHANNELS") == ("*", []), "and its channels")

section("4. RESP3 pushes")
s3 = new_client(3)
check(s3.call("SUBSCRIBE", "c3") == frame("subscribe", "c3", 1, push=True),
      "RESP3 SUBSCRIBE confirmation is a push")
check(s3.call("SET", "k3", "v") == ("+", "OK"), "any command runs while subscribed in RESP3")
check(s3.call("GET", "k3") == ("$", b"v"), "GET while subscribed in RESP3")
check(pub.call("PUBLISH", "c3", "hi") == (":", 1), "PUBLISH to a RESP3 subscriber")
check(s3.read() == frame("message", "c3", "hi", push=True), "the message is a push")
s3.send(encode("PUBLISH", "c3", "self"))
got = [s3.read(), s3.read()]
check(got == [frame("message", "c3", "self", push=True), (":", 1)],
      "publishing to itself: the push comes before PUBLISH's reply", got)
check(s3.call("PING") == ("+", "PONG"), "PING in RESP3 subscribed mode is +PONG")
check(s3.call("UNSUBSCRIBE", "zz") == frame("unsubscribe", "zz", 1, push=True),
      "UNSUBSCRIBE confirmation is a push")
check(s3.call("UNSUBSCRIBE") == frame("unsubscribe", "c3", 0, push=True), "the last one")
check(s3.call("PUNSUBSCRIBE") == frame("punsubscribe", None, 0, push=True),
      "nothing subscribed: a push with a RESP3 null")
s3.close()

section("5. keyspace notifications")
check(pub.call("CONFIG", "SET", "notify-keyspace-events", "KEA") == ("+", "OK"), "CONFIG SET KEA")
got = pub.call("CONFIG", "GET", "notify-keyspace-events")
check(got[0] in "*%" and len(got[1]) in (1, 2) and b"AKE" in str(got[1]).encode(),
      "CONFIG GET shows the canonical AKE", got)
for given, shown in (("nKEA", "AKE"), ("Kgn", "gnK"), ("mE$xK", "$xKEm"), ("", ""),
                     ("g$lshzxetdKE", "AKE")):
    pub.call("CONFIG", "SET", "notify-keyspace-events", given)
    got = pub.call("CONFIG", "GET", "notify-keyspace-events")[1]
    check(got[1] == ("$", shown.encode()), "notify-keyspace-events %r shows as %r" %
          (given, shown), got)
got = pub.call("CONFIG", "SET", "notify-keyspace-events", "KQ")
check(got[0] == "-" and "Invalid event class character. Use 'Ag$lshzxeKEtmdn'." in got[1],
      "an unknown class letter is refused", got)
db = 9
ev = new_client()
ev.call("SELECT", str(db))
check(ev.call("PSUBSCRIBE", "__key*@%d__:*" % db) == frame("psubscribe", "__key*@%d__:*" % db, 1),
      "PSUBSCRIBE the keyspace and keyevent channels")
w = new_client()
w.call("SELECT", str(db))
w.call("DEL", "ka", "kb", "kc")
pat = "__key*@%d__:*" % db


def events(n):
    out = []
    for _ in range(n):
        r = ev.read()
        out.append(tuple(x[1].decode() for x in r[1][2:]))
    return out


def sp(key, e):
    return [("__keyspace@%d__:%s" % (db, key), e), ("__keyevent@%d__:%s" % (db, e), key)]


w.call("SET", "ka", "1")
check(events(2) == sp("ka", "set"), "SET: set on both channels")
w.call("SET", "ka", "2", "EX", "100")
check(events(4) == sp("ka", "set") + sp("ka", "expire"), "SET EX: set then expire")
w.call("PERSIST", "ka")
check(events(2) == sp("ka", "persist"), "PERSIST: persist")
w.call("EXPIRE", "ka", "100")
check(events(2) == sp("ka", "expire"), "EXPIRE: expire")
w.call("INCR", "kb")
check(events(2) == sp("kb", "incrby"), "INCR: incrby")
w.call("APPEND", "kb", "x")
check(events(2) == sp("kb", "append"), "APPEND: append")
w.call("DEL", "ka", "kb", "kc")
check(events(4) == sp("ka", "del") + sp("kb", "del"), "DEL: del per deleted key")
w.call("SET", "big", "x" * 10, "XX")
w.call("PUBLISH", "marker", "m")
me = new_client(3)  # RESP3: its own write's events come before the write's reply
me.call("SELECT", str(db))
me.call("SUBSCRIBE", "__keyevent@%d__:incrby" % db)
me.send(encode("INCRBY", "kme", "5"))
got = [me.read(), me.read()]
check(got == [frame("message", "__keyevent@%d__:incrby" % db, "kme", push=True), (":", 5)],
      "RESP3: the event of its own INCRBY, then the reply", got)
me.call("DEL", "kme")
me.close()
check(events(4) == sp("kme", "incrby") + sp("kme", "del"), "the pattern subscriber saw them too")
check(pub.call("CONFIG", "SET", "notify-keyspace-events", "En") == ("+", "OK"), "CONFIG SET En")
w.call("SET", "kn", "1")
w.call("SET", "kn", "2")
w.call("SET", "kn2", "1")
check(events(2) == [("__keyevent@%d__:new" % db, "kn"), ("__keyevent@%d__:new" % db, "kn2")],
      "new: only when a key is created")
w.call("DEL", "kn", "kn2")

check(pub.call("CONFIG", "SET", "notify-keyspace-events", "Ex") == ("+", "OK"), "CONFIG SET Ex")
t0 = time.time()
w.call("PSETEX", "kx", "100", "1")
got = events(1)
dt = time.time() - t0
check(got == [("__keyevent@%d__:expired" % db, "kx")],
      "expired for a key never read (the expiry sweep), after %.2f s" % dt, got)
check(w.call("EXISTS", "kx") == (":", 0), "the key is gone")
w.call("PSETEX", "ky", "50", "1")
time.sleep(0.2)
w.call("GET", "ky")
check(events(1) == [("__keyevent@%d__:expired" % db, "ky")], "expired for a key found by a read")
w.call("PUBLISH", "__keyevent@%d__:marker" % db, "end")
got = events(1)
check(got == [("__keyevent@%d__:marker" % db, "end")], "expired was published once", got)
pub.call("CONFIG", "SET", "notify-keyspace-events", "")
ev.close()
w.close()

section("6. an idle subscriber outlives the idle timeout")
check(pub.call("CONFIG", "SET", "timeout", "1") == ("+", "OK"), "CONFIG SET timeout 1")
idle_sub, idle = new_client(), new_client()
idle_sub.call("SUBSCRIBE", "later")
time.sleep(2.5)
check(idle.closed_by_server(0.1), "an idle client is closed after the timeout")
pub.close()
pub = new_client()  # it idled too
check(pub.call("PUBLISH", "later", "m") == (":", 1), "the idle subscriber is still there")
check(idle_sub.read() == frame("message", "later", "m"), "and gets the message")
pub.call("CONFIG", "SET", "timeout", "0")
idle_sub.close()

section("7. a subscriber that does not read is closed at the output limit")
itlib.set_output_limit(pub, "2mb", "pubsub")
slow = Resp(port, rcvbuf=4096)
slow.call("SUBSCRIBE", "flood")
other = new_client()
other.call("SUBSCRIBE", "flood")
msg = "m" * (64 * 1024)
rss0 = None if srv.real else itlib.info_int(port, "used_memory_rss")
n = 400  # 25 MiB in all: past the limit plus what the socket buffers hold
got = 0
for i in range(n):  # one at a time: the reading subscriber keeps up
    got += pub.call("PUBLISH", "flood", msg)[1]
    other.read()
check(got < 2 * n, "some messages no longer reached the slow subscriber (%d of %d)" %
      (got - n, n))
check(slow.closed_by_server(3.0), "the subscriber that does not read was closed")
check(other.call("PING", "x") == ("*", b("pong", "x")), "the reading subscriber is still there")
if not srv.real:
    lim = itlib.info_int(port, "client_output_buffer_limit_disconnections")
    check(lim is not None and lim >= 1, "INFO counts the output limit disconnection", lim)
    rss1 = itlib.info_int(port, "used_memory_rss")
    check(rss1 - rss0 < 24 * MIB, "the server's RSS grew by %.1f MiB (< 24)" %
          ((rss1 - rss0) / MIB))
other.close()

section("8. subscriptions count in a client's memory (maxmemory_clients)")
if srv.real:  # Redis 7.0 counts only its dict entries (~32 bytes each), not the names
    itlib.skip("redis-server does not count channel names in a client's memory")
    pub.close()
    itlib.finish()
pub.call("CONFIG", "SET", "maxmemory-clients", "4mb")
big = new_client()
evicted = False
for batch in range(400):  # up to 40000 channels of 200 bytes, confirmations read
    names = ["%0200d" % (batch * 100 + i) for i in range(100)]
    try:
        big.send(encode("SUBSCRIBE", *names))
        for _ in names:
            big.read()
    except (OSError, itlib.ProtocolError):
        evicted = True
        break
check(evicted, "a client subscribing to many channels is evicted past maxmemory_clients "
      "(after %d channels)" % (batch * 100))
pub.call("CONFIG", "SET", "maxmemory-clients", "0")
time.sleep(0.1)
got = pub.call("PUBSUB", "NUMSUB", "%0200d" % 0)
check(got == ("*", b("%0200d" % 0) + [(":", 0)]), "its subscriptions went with it", got)
pub.close()
itlib.finish()
