"""scripting.py - EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION and FCALL (issue
12), run by scripting.sh.

1. Replies compared with redis-server 7.0 byte for byte: conversions both ways (integers,
   bulks, nil, booleans, arrays cut at the first nil, status and error tables, floats
   truncated), redis.call raising and redis.pcall returning a command's error, pcall()
   catching it as its message, the errors of redis.call's checks with the script's
   position ("script: <sha>, on @user_script:<line>."), protected globals, EVAL_RO
   refusing writes, SELECT inside a script, redis.setresp, SCRIPT LOAD/EXISTS/FLUSH and
   their errors, EVALSHA's NOSCRIPT, numkeys errors. Before issue 12 every one was
   "unknown command".
2. A script reading a key from the device (cache_size 0) yields while it waits; its
   result is right, and a PING of another client is answered meanwhile.
3. Atomic for other clients: scripts that INCR two keys, from 4 clients, while readers
   MGET both: no MGET sees them apart.
4. A script that loops yields every 10 ms (other clients are served), gets other clients
   -BUSY past lua-time-limit, is stopped by SCRIPT KILL (NOTBUSY when none runs), is
   UNKILLABLE once it wrote, and is stopped by SHUTDOWN NOSAVE.
"""
import time

import itlib
from itlib import Resp, check, encode, section

itlib.begin("scripting", time_limit_s=120)
if itlib.IS_REAL:
    itlib.skip("compares logstord with redis-server itself")
    itlib.finish()
srv = itlib.Server("redis", extra=["--cache_size", "0"]).start()
ref = itlib.RedisServer("redis").start()
a, b = Resp(srv.port), Resp(ref.port)

section("replies compared with redis-server")
CASES = [
    ("EVAL", "return 1", "0"), ("EVAL", "return {1,2,'x',{3},nil,4}", "0"),
    ("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "sk", "v"),
    ("EVAL", "return redis.call('get', KEYS[1])", "1", "sk"),
    ("EVAL", "return redis.call('get', 'nokey')", "0"),
    ("EVAL", "return redis.pcall('incr', 'sk')", "0"), ("EVAL", "return redis.call('incr', 'sk')", "0"),
    ("EVAL", "local a = 1\nreturn redis.call('incr', 'sk')", "0"),
    ("EVAL", "x = 5", "0"), ("EVAL", "return y", "0"), ("EVAL", "return redis.call('nosuch')", "0"),
    ("EVAL", "return redis.call()", "0"), ("EVAL", "return redis.call('get')", "0"),
    ("EVAL", "return redis.call('get', {})", "0"), ("EVAL", "return {err='My Error'}", "0"),
    ("EVAL", "return redis.error_reply('My Error')", "0"),
    ("EVAL", "return redis.error_reply('-X y')", "0"), ("EVAL", "return redis.status_reply('FINE')", "0"),
    ("EVAL", "return {ok='FI\\r\\nNE'}", "0"), ("EVAL", "return 3.99", "0"), ("EVAL", "return -3.99", "0"),
    ("EVAL", "return true", "0"), ("EVAL", "return false", "0"), ("EVAL", "return nil", "0"),
    ("EVAL", "return redis.call('exists', 'sk', 'nokey')", "0"), ("EVAL", "error('boom')", "0"),
    ("EVAL", "error({err='X boom'})", "0"), ("EVAL", "return bit.band(12, 10)", "0"),
    ("EVAL", "return ", "0"), ("EVAL", "return 1", "-1"), ("EVAL", "return 1", "3", "a"),
    ("EVAL", "return 1", "x"), ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"),
    ("EVALSHA", "abc", "0"), ("EVAL_RO", "return redis.call('set','a','b')", "0"),
    ("EVAL_RO", "return redis.call('get','sk')", "0"), ("EVAL", "return redis.sha1hex('')", "0"),
    ("EVAL", "return redis.sha1hex()", "0"),
    ("EVAL", "return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}", "1", "k", "a1", "a2"),
    ("EVAL", "return redis.call('multi')", "0"), ("EVAL", "return redis.call('eval', 'return 1', '0')", "0"),
    ("EVAL", "redis.call('select', 3); redis.call('set', 'in3', 'x'); return redis.call('get','in3')", "0"),
    ("GET", "in3"), ("SELECT", "3"), ("GET", "in3"), ("SELECT", "0"),
    ("EVAL", "return redis.call('select', 99)", "0"),
    ("EVAL", "return pcall(function() redis.call('incr','sk') end)", "0"),
    ("EVAL", "local ok, e = pcall(redis.call, 'incr','sk'); return e", "0"),
    ("EVAL", "return redis.setresp(4)", "0"), ("EVAL", "redis.setresp(3); return redis.call('hello')", "0"),
    ("EVAL", "return redis.call('ping')", "0"), ("EVAL", "return redis.call('type','sk')", "0"),
    ("EVAL", "return redis.call('type','sk').ok", "0"),
    ("EVAL", "redis.log(redis.LOG_WARNING, 'hello'); return 1", "0"), ("EVAL", "redis.log(9, 'hello')", "0"),
    ("EVAL", "return tostring(print)", "0"), ("EVAL", "return tostring(dofile)", "0"),
    ("EVAL", "return math.floor(3.7)", "0"), ("EVAL", "return table.concat({'a','b'}, '-')", "0"),
    ("SCRIPT", "LOAD", "return 'loaded'"),
    ("EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"),
    ("EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"),
    ("SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8", "ffff"),
    ("SCRIPT", "FLUSH", "BAD"), ("SCRIPT", "NOPE"), ("SCRIPT", "LOAD"), ("SCRIPT", "KILL"),
    ("SCRIPT", "FLUSH"), ("EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"),
    ("EVAL", "local t = {} for i=1,10 do t[i] = redis.call('incr', 'ctr') end return t", "0"),
    ("EVAL", "return redis.call('mget', 'ctr', 'nokey', 'sk')", "0"),
    ("EVAL", "redis.call('set','d1','1'); redis.call('del','d1'); return redis.call('exists','d1')", "0"),
    ("EVAL", "redis.call('set','e1','v','px', 100000); return redis.call('pttl','e1') > 0", "0"),
    ("EVAL", "redis.call('append','ap','x'); redis.call('append','ap','y'); return redis.call('get','ap')", "0"),
]
diffs = []
for cmd in CASES:
    ra, rb = a.call(*cmd), b.call(*cmd)
    if ra != rb:
        diffs.append((cmd, ra, rb))
check(not diffs, "%d commands answer as redis-server does (%d differ)" % (len(CASES), len(diffs)),
      diffs[:3])
LIB = ("#!lua name=mylib\n"
       "redis.register_function('myset', function(keys, args) "
       "return redis.call('set', keys[1], args[1]) end)\n"
       "redis.register_function{function_name='myget', callback=function(keys, args) "
       "return redis.call('get', keys[1]) end, flags={'no-writes'}}\n"
       "redis.register_function('myerr', function(keys, args) "
       "return redis.call('incr', keys[1]) end)")
FCASES = [
    ("FUNCTION", "FLUSH"), ("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", LIB),
    ("FUNCTION", "LOAD", "REPLACE", LIB), ("FCALL", "myset", "1", "fk", "val"),
    ("FCALL", "myget", "1", "fk"), ("FCALL_RO", "myget", "1", "fk"), ("FCALL_RO", "myset", "1", "fk", "x"),
    ("FCALL", "myerr", "1", "fk"), ("FCALL", "nosuch", "0"), ("FCALL", "myget", "x"),
    ("FCALL", "myget", "5", "a"), ("FCALL", "myget", "-1"), ("FUNCTION", "LIST"),
    ("FUNCTION", "LIST", "WITHCODE"), ("FUNCTION", "LIST", "LIBRARYNAME", "my*"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "zz*"), ("FUNCTION", "STATS"), ("FUNCTION", "LOAD", "return 1"),
    ("FUNCTION", "LOAD", "#!lua\nreturn 1"), ("FUNCTION", "LOAD", "#!js name=x\nreturn 1"),
    ("FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"), ("FUNCTION", "LOAD", "#!lua name=x\nreturn 1"),
    ("FUNCTION", "LOAD", "#!lua name=x\nredis.call('ping')"),
    ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('myset', function() end)"),
    ("FUNCTION", "LOAD", "#!lua name=b-d\nreturn 1"), ("FUNCTION", "LOAD", "#!lua name=x\nfoo("),
    ("FUNCTION", "DELETE", "nolib"), ("FUNCTION", "DELETE", "mylib"), ("FCALL", "myget", "1", "fk"),
    ("FUNCTION", "KILL"), ("FUNCTION", "FLUSH", "BAD"), ("FUNCTION", "NOPE"), ("FUNCTION", "LOAD"),
]


def sorted_functions(reply):
    """FUNCTION LIST with each library's functions in name order (both servers list them
    in their hash table's order)."""
    if reply[0] != "*" or not reply[1] or reply[1][0][0] != "*":
        return reply
    libs = []
    for lib in reply[1]:
        items = list(lib[1])
        i = items.index(("$", b"functions"))
        items[i + 1] = ("*", sorted(items[i + 1][1], key=lambda f: f[1][1][1]))
        libs.append(("*", items))
    return ("*", libs)


fd = []
for cmd in FCASES:
    ra, rb = a.call(*cmd), b.call(*cmd)
    if cmd[:2] == ("FUNCTION", "LIST"):
        ra, rb = sorted_functions(ra), sorted_functions(rb)
    if ra != rb:
        fd.append((cmd, ra, rb))
check(not fd, "FUNCTION and FCALL: %d commands answer as redis-server does" % len(FCASES), fd[:3])
for proto in (3,):
    a.call("HELLO", proto)
    b.call("HELLO", proto)
    more = [("EVAL", "return true", "0"), ("EVAL", "return false", "0"), ("EVAL", "return nil", "0"),
            ("EVAL", "redis.setresp(3); return redis.call('get', 'nokey')", "0"),
            ("EVAL", "redis.setresp(3); return {double=3.5}", "0"),
            ("EVAL", "redis.setresp(3); return {map={a=1}}", "0"),
            ("EVAL", "redis.setresp(3); return true", "0"), ("EVAL", "return {1, 'x'}", "0")]
    d = [(cmd, x, y) for cmd in more for x, y in [(a.call(*cmd), b.call(*cmd))] if x != y]
    check(not d, "RESP%d: %d more answer as redis-server does" % (proto, len(more)), d[:3])

section("a script waits for the device without stopping the server")
a = Resp(srv.port)
a.call("SET", "disk", "41")
a.call("SAVE")
p = Resp(srv.port)
a.send(encode("EVAL", "local v = redis.call('get', KEYS[1]); redis.call('set', KEYS[1], v + 1); "
              "return redis.call('get', KEYS[1])", "1", "disk"))
check(p.call("PING") == ("+", "PONG"), "another client is answered")
check(a.read() == ("$", b"42"), "the script read 41 from the device and wrote 42")

section("atomic for other clients: INCR x; INCR y in scripts, MGET x y meanwhile")
a.call("MSET", "x", "0", "y", "0")
a.call("SAVE")
N, CLIENTS = 100, 4
SCRIPT = "redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[2])"
torn, reads = itlib.pair_apart(srv.port, lambda w: w.call("EVAL", SCRIPT, "2", "x", "y"), N,
                               CLIENTS)
check(not torn, "no MGET saw x and y apart (%d MGETs)" % reads, torn[:3])
check(a.call("MGET", "x", "y") == ("*", [("$", b"%d" % (N * CLIENTS))] * 2),
      "x and y count every script (%d)" % (N * CLIENTS))
section("a busy script: time slices, -BUSY, SCRIPT KILL")
b = Resp(srv.port, timeout=10)
check(b.call("CONFIG", "SET", "lua-time-limit", "200") == ("+", "OK"), "CONFIG SET lua-time-limit")
a = Resp(srv.port, timeout=10)
a.send(encode("EVAL", "local i = 0 while true do i = i + 1 end", "0"))
time.sleep(0.05)
t0 = time.time()
check(b.call("PING") == ("+", "PONG") and time.time() - t0 < 0.1,
      "another client is served while the script runs (%.3f s)" % (time.time() - t0))
time.sleep(0.3)
check(b.call("GET", "x") == ("-", "BUSY Redis is busy running a script. You can only call SCRIPT "
                                  "KILL or SHUTDOWN NOSAVE."), "past the limit: -BUSY")
check(b.call("FUNCTION", "KILL")[1].startswith("BUSY"), "FUNCTION KILL does not kill a script")
check(b.call("SCRIPT", "KILL") == ("+", "OK"), "SCRIPT KILL")
r = a.read()
check(r[0] == "-" and "Script killed by user with SCRIPT KILL" in r[1], "the script ends killed", r)
check(b.call("SCRIPT", "KILL") == ("-", "NOTBUSY No scripts in execution right now."),
      "SCRIPT KILL with none running: NOTBUSY")
a.send(encode("EVAL", "redis.call('set', 'w', '1') while true do end", "0"))
time.sleep(0.4)
check(b.call("SCRIPT", "KILL")[1].startswith("UNKILLABLE"), "a script that wrote: UNKILLABLE")
b.send(encode("SHUTDOWN", "NOSAVE"))
r = a.read()
check(r[0] == "-" and "killed" in r[1], "SHUTDOWN NOSAVE stops it", r)
itlib.finish()
