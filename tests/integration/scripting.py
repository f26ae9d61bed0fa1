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
   -BUSY past lua-time-limit (not the commands its own client pipelined after it: they
   wait), is stopped by SCRIPT KILL (NOTBUSY when none runs), is UNKILLABLE once it
   wrote, and is stopped by SHUTDOWN NOSAVE.
5. The sandbox (read-only library tables and globals, Redis's error texts, no print/
   loadfile/dofile/debug, no bytecode), shebang flags and their errors, EVAL_RO and
   PFCOUNT, and the cjson, cmsgpack, struct and bit libraries compared with redis-server
   byte for byte; scripts' errors in INFO errorstats as Redis counts them; decoding
   depth and announced lengths bounded.
6. FUNCTION DUMP/RESTORE and their policies and errors compared with redis-server, and a
   payload of each server restored in the other.
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
    ("FCALL", "myget", "1", "fk"), ("FCALL", "MyGet", "1", "fk"), ("FCALL_RO", "myget", "1", "fk"), ("FCALL_RO", "myset", "1", "fk", "x"),
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
    ("FUNCTION", "HELP"), ("FUNCTION", "HELP", "x"),
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

section("FUNCTION DUMP and RESTORE compared with redis-server, payloads moved both ways")
L1 = "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"
L2 = "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)"
L1B = "#!lua name=lib1\nredis.register_function('f1b', function() return 11 end)"
L3 = "#!lua name=lib3\nredis.register_function('f1', function() return 3 end)"


def restore_steps(c):
    """The replies of a sequence of DUMPs and RESTOREs on server c."""
    out = [c.call("FUNCTION", "FLUSH"), c.call("FUNCTION", "DUMP"), c.call("FUNCTION", "LOAD", L1)]
    d1 = c.call("FUNCTION", "DUMP")[1]
    out += [d1, c.call("FUNCTION", "RESTORE", d1), c.call("FUNCTION", "RESTORE", d1, "REPLACE"),
            c.call("FUNCTION", "RESTORE", d1, "BAD"), c.call("FUNCTION", "RESTORE", d1, "APPEND", "x"),
            c.call("FUNCTION", "RESTORE"), c.call("FUNCTION", "DUMP", "x"),
            c.call("FUNCTION", "RESTORE", d1[:-1] + b"x"), c.call("FUNCTION", "RESTORE", "short"),
            c.call("FUNCTION", "RESTORE", b"\x00" + d1[1:-10] + d1[-10:]),
            c.call("FUNCTION", "LOAD", L2)]
    d12 = c.call("FUNCTION", "DUMP")[1]
    out += [c.call("FUNCTION", "FLUSH"), c.call("FUNCTION", "LOAD", L3),
            c.call("FUNCTION", "RESTORE", d12), c.call("FCALL", "f1", "0"),  # f1 collides: none
            c.call("FUNCTION", "RESTORE", d12, "FLUSH"), c.call("FCALL", "f1", "0"),
            c.call("FCALL", "f2", "0"), c.call("FUNCTION", "LOAD", "REPLACE", L1B),
            c.call("FUNCTION", "RESTORE", d12, "REPLACE"), c.call("FCALL", "f1", "0"),
            c.call("FCALL", "f1b", "0"), c.call("FUNCTION", "STATS")]
    return out


ra, rb = restore_steps(a), restore_steps(b)
d = [(i, x, y) for i, (x, y) in enumerate(zip(ra, rb)) if x != y]
check(not d, "%d DUMP/RESTORE steps answer as redis-server does" % len(ra), d[:3])
for src, dst, what in ((b, a, "redis-server's payload restores in logstord"),
                       (a, b, "logstord's payload restores in redis-server")):
    src.call("FUNCTION", "FLUSH")
    dst.call("FUNCTION", "FLUSH")
    src.call("FUNCTION", "LOAD", L1 + "\n-- " + "x" * 200)  # redis-server compresses it (LZF)
    payload = src.call("FUNCTION", "DUMP")[1]
    check(dst.call("FUNCTION", "RESTORE", payload) == ("+", "OK") and
          dst.call("FCALL", "f1", "0") == (":", 1), what)
a.call("FUNCTION", "FLUSH")
b.call("FUNCTION", "FLUSH")

section("sandbox, shebang flags and libraries compared with redis-server")
# A library function in tail position (`return cjson.encode(x)`) loses its name and
# position in LuaJIT's error messages; the cases that raise call it from a local first.
SANDBOX = [
    "setmetatable(_G, {})", "local g = getmetatable(_G); g.__index = {}",
    "redis.call = function() return 1 end", "cjson.encode = function() return 1 end",
    "cmsgpack.pack = function() return 1 end", "bit.lshift = function() return 1 end",
    "string.rep = nil", "math.x = 1", "_G.redis = 1", "redis = 1", "print('x')", "loadfile('x')",
    "dofile('x')", "return type(debug)", "return redis.call('get', 'sk')",
    "local f = loadstring(string.dump(function() return 1 end)); return type(f)",
    "local ok, e = pcall(function() return foo end); return {tostring(ok), e}",
    "return redis.pcall('cluster', 'reset', 'hard')",
]
LIBS = [
    "rawset(redis, 'call', 1)", "rawset(_G, 'x', 1)", "return redis.call('publish', 'c', 'm')",
    "return cjson.encode({1, 2, 'x', {3}, true, false})", "return cjson.encode({})",
    "return cjson.encode({a = {b = {}}})", "return cjson.encode('a/b\\\"c\\\\\\n\\t\\1\\127')",
    "return cjson.encode({0.1, 1/3, 1e15, -0.5, 123456789012345})",
    "return cjson.encode({[1] = 1, [3] = 3})", "return cjson.encode(cjson.null)",
    "local ok, e = pcall(cjson.encode, {[1] = 1, [20] = 3}); return e",
    "local ok, e = pcall(cjson.encode, {[true] = 1}); return e",
    "local ok, e = pcall(cjson.encode, 0/0); return e",
    "cjson.encode_invalid_numbers(true); local s = cjson.encode({0/0 == 0/0, 1/0}); "
    "cjson.encode_invalid_numbers(false); return s",
    "cjson.encode_max_depth(2); local ok, e = pcall(cjson.encode, {{{}}}); "
    "cjson.encode_max_depth(1000); return e",
    "return {cjson.encode_sparse_array()}", "return cjson.encode_keep_buffer(false)",
    "return cjson.encode_keep_buffer(true)", "return cjson.encode_number_precision()",
    "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
    "local t = cjson.decode('{\"a\": [1, {\"b\": \"c\"}], \"n\": null}'); "
    "return {t.a[1], t.a[2].b, type(t.n)}",
    "return cjson.decode([[\"\\u00e9\\ud83d\\ude00\\/\\n\"]])", "return cjson.decode('[01, 0x10]')",
    "local ok, e = pcall(cjson.decode, ''); return e",
    "local ok, e = pcall(cjson.decode, '[1, 2'); return e",
    "local ok, e = pcall(cjson.decode, '{\"a\" 1}'); return e",
    "local ok, e = pcall(cjson.decode, '\"abc'); return e",
    "local ok, e = pcall(cjson.decode, [[\"\\ud800\"]]); return e",
    "local ok, e = pcall(cjson.decode, string.rep('[', 1001) .. string.rep(']', 1001)); return e",
    "return #cjson.decode(string.rep('[', 999) .. string.rep(']', 999))",
    "local e = cmsgpack.pack(0.1, -1099511627776, 1, 127, 128, 65536, 2^32, -1, -33, -129, "
    "-32769, -2^31 - 1, 1.5, 2^63, 0/0, 'x', string.rep('a', 40), string.rep('b', 300), true, "
    "false, nil, {}, {1, 2}, {a = 1}) "
    "local h = '' for i = 1, #e do h = h .. string.format('%02x', e:byte(i)) end return h",
    "local t = {} for i = 1, 70000 do t[i] = i end return #cmsgpack.pack(t)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1, 2}, {x = 'y'}))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}",
    "local ok, e = pcall(cmsgpack.unpack_one, cmsgpack.pack(1), 10); return e",
    "local ok, e = pcall(cmsgpack.unpack_limit, cmsgpack.pack(1), -1); return e",
    "local ok, e = pcall(cmsgpack.unpack, '\\145'); return e",
    "local ok, e = pcall(cmsgpack.unpack, '\\193'); return e",
    "local ok, e = pcall(cmsgpack.unpack, '\\196\\1a'); return e",
    "local ok, e = pcall(cmsgpack.unpack, '\\221\\255\\255\\255\\255'); return e",
    "return tostring(cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255'))",
    "local s = struct.pack('<hHbBlLTfdi2I3', -2, 65535, -1, 255, -3, 7, 9, 1.5, 2.25, -2, 70000) "
    "local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h",
    "local s = struct.pack('>sc3c0x!4bi', 'ab', 'xyz', 'qq', 1, 2) "
    "local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h",
    "return {struct.unpack('>i4hc0', struct.pack('>i4hc0', -5, 3, 'abc'))}",
    "return {struct.unpack('>I8i16', struct.pack('>I8i16', 2^53, -7))}",
    "return {struct.unpack('>i4', 'abcdefgh', 5)}", "return {struct.unpack('i0I0', 'abc')}",
    "return struct.pack('i0b', 5, 1)", "return {struct.size('>i4hbd'), struct.size('!i4hbd')}",
    "local ok, e = pcall(struct.unpack, '>i4', 'abcdefgh', 6); return e",
    "local ok, e = pcall(struct.size, 's'); return e", "local ok, e = pcall(struct.pack, 'i33', 1); return e",
    "local ok, e = pcall(struct.pack, '!3i', 1); return e",
    "local ok, e = pcall(struct.unpack, 's', 'abc'); return e",
    "return {bit.tobit(0xffffffff), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.lshift(1, 31), bit.tohex(-1)}",
]
SHEBANG = [
    ("EVAL", "#!not-lua\nreturn 1", "0"), ("EVAL", "#!lua\nreturn 1", "0"),
    ("EVAL", "#!lua badger=data\nreturn 1", "0"), ("EVAL", "#!lua flags=allow-oom,what?\nreturn 1", "0"),
    ("EVAL", "#!lua flags=no-writes,\nreturn 1", "0"), ("EVAL", "#!lua flags=\nreturn 2", "0"),
    ("EVAL", "#!lua", "0"), ("EVAL", "#!lua  flags=no-writes,allow-stale  \nreturn 3", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'sk')", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('pfcount', 'hll')", "0"),
    ("EVAL_RO", "#!lua\nreturn 1", "0"), ("EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"),
    ("EVAL_RO", "return redis.call('pfcount', 'hll')", "0"),
    ("SCRIPT", "LOAD", "#!lua x\nreturn 1"), ("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 5"),
    ("EVALSHA_RO", "2ac3b5b7c81c8e5e4f9c3d4f5b1c8d3bc43a6de3", "0"),
]
cases = [("EVAL", body, "0") for body in SANDBOX + LIBS] + SHEBANG
d = [(cmd, x, y) for cmd in cases for x, y in [(a.call(*cmd), b.call(*cmd))] if x != y]
check(not d, "%d scripts on the sandbox, shebangs and libraries answer as redis-server does"
      % len(cases), d[:3])
sha = a.call("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 5")[1].decode()
check(a.call("EVALSHA_RO", sha, "0") == b.call("EVALSHA_RO", sha, "0") == (":", 5),
      "EVALSHA_RO runs a script loaded with flags=no-writes")
for c in (a, b):
    c.call("CONFIG", "RESETSTAT")
for body in ("return redis.error_reply('MY_ERR_CODE custom msg')", "return redis.error_reply('')",
             "return redis.call('select', 99)", "return redis.pcall('select', 99)",
             "return {err='bad thing'}", "return foo", "return redis.call('incr', 'sk')"):
    a.call("EVAL", body, "0")
    b.call("EVAL", body, "0")
a.call("EVAL_RO", "return redis.call('set', 'a', 1)", "0")
b.call("EVAL_RO", "return redis.call('set', 'a', 1)", "0")


def errorstats(c):
    """INFO errorstats's lines, sorted, and total_error_replies."""
    info = c.call("INFO", "errorstats")[1].decode().split("\r\n")
    total = [x for x in c.call("INFO", "stats")[1].decode().split("\r\n")
             if x.startswith("total_error_replies:")]
    return sorted(x for x in info if x.startswith("errorstat_")) + total


check(errorstats(a) == errorstats(b), "scripts' errors counted in INFO errorstats as redis-server "
      "counts them", errorstats(a), errorstats(b))

section("the sandbox holds across scripts, bounded decoding")
check(a.call("EVAL", "return redis.call('ping')", "0") == ("+", "PONG"),
      "redis.call still works after the scripts that tried to replace it")
r = a.call("EVAL", "return cmsgpack.unpack(string.rep('\\145', 20000) .. '\\1')", "0")
check(r[0] == "-" and "nested too deep" in r[1], "cmsgpack refuses 20000 nested arrays", r)
r = a.call("EVAL", "return #cmsgpack.unpack('\\221\\255\\255\\255\\255' .. string.rep('\\0', 3))", "0")
check(r[0] == "-" and "Missing bytes" in r[1], "an array announcing more elements than bytes", r)
r = a.call("EVAL", "return cjson.decode(string.rep('[', 100000))", "0")
check(r[0] == "-" and "too many nested" in r[1], "cjson refuses 100000 nested arrays", r)
check(a.call("PING") == ("+", "PONG"), "the server is up")
a.call("SCRIPT", "FLUSH")
for j in range(3):
    a.call("SCRIPT", "LOAD", "return %d" % j)
check(itlib.info_int(srv.port, "number_of_cached_scripts") == 3,
      "INFO memory number_of_cached_scripts counts the scripts loaded")
a.call("SCRIPT", "FLUSH", "ASYNC")
check(itlib.info_int(srv.port, "number_of_cached_scripts") == 0, "and 0 after SCRIPT FLUSH ASYNC")

section("redis.call bounds keys by max_key_size, not values")
big = "v" * 70000
for c, who in ((a, "logstord"), (b, "redis-server")):
    r = c.call("EVAL", "return redis.call('hset', KEYS[1], 'f', ARGV[1])", "1", "bigv", big)
    check(r == (":", 1), "a 70,000-byte value through redis.call (%s)" % who, r)
    r = c.call("EVAL", "return redis.call('hstrlen', KEYS[1], 'f')", "1", "bigv")
    check(r == (":", 70000), "and it is stored whole (%s)" % who, r)
r = a.call("EVAL", "return redis.call('set', ARGV[1], 'x')", "0", "k" * 70000)
check(r[0] == "-" and "max_key_size" in r[1], "a 70,000-byte key through redis.call is refused", r)

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
# a limit of 1 s: a PING must be answered before it (after it, PING is -BUSY), and a
# shared VM's scheduling can hold a reply past 0.1 s
check(b.call("CONFIG", "SET", "lua-time-limit", "1000") == ("+", "OK"), "CONFIG SET lua-time-limit")
a = Resp(srv.port, timeout=10)
a.send(encode("EVAL", "local i = 0 while true do i = i + 1 end", "0"))
time.sleep(0.05)
t0 = time.time()
check(b.call("PING") == ("+", "PONG") and time.time() - t0 < 0.5,
      "another client is served while the script runs (%.3f s)" % (time.time() - t0))
time.sleep(1.1)
check(b.call("GET", "x") == ("-", "BUSY Redis is busy running a script. You can only call SCRIPT "
                                  "KILL or SHUTDOWN NOSAVE."), "past the limit: -BUSY")
check(b.call("FUNCTION", "KILL")[1].startswith("BUSY"), "FUNCTION KILL does not kill a script")
check(b.call("SCRIPT", "KILL") == ("+", "OK"), "SCRIPT KILL")
r = a.read()
check(r[0] == "-" and "Script killed by user with SCRIPT KILL" in r[1], "the script ends killed", r)
# the PING is read at the script's first yield, 10 ms on: past a 10 ms limit already
check(b.call("CONFIG", "SET", "lua-time-limit", "10") == ("+", "OK"), "CONFIG SET lua-time-limit 10")
a.send(encode("EVAL", "while true do end", "0") + encode("PING"))  # pipelined
time.sleep(0.3)
check(b.call("PING")[1].startswith("BUSY"), "another client gets -BUSY")
check(b.call("SCRIPT", "KILL") == ("+", "OK"), "SCRIPT KILL")
r = a.read()
check(r[0] == "-" and "killed" in r[1], "the pipelined script ends killed", r)
check(a.read() == ("+", "PONG"), "the PING pipelined after it waited for it, not -BUSY")
b.call("CONFIG", "SET", "lua-time-limit", "200")
check(b.call("SCRIPT", "KILL") == ("-", "NOTBUSY No scripts in execution right now."),
      "SCRIPT KILL with none running: NOTBUSY")
a.call("FUNCTION", "LOAD", "REPLACE", "#!lua name=spin\nredis.register_function('spin', "
       "function() while true do end end)")
a.send(encode("FCALL", "spin", "0"))
time.sleep(0.4)
st = b.call("FUNCTION", "STATS")
check(st[0] == "*" and st[1][1][0] == "*" and st[1][1][1][:5] == [
    ("$", b"name"), ("$", b"spin"), ("$", b"command"), ("*", [("$", b"FCALL"), ("$", b"spin"),
                                                             ("$", b"0")]), ("$", b"duration_ms")],
      "FUNCTION STATS names the function running", st)
check(b.call("FUNCTION", "KILL") == ("+", "OK"), "FUNCTION KILL")
r = a.read()
check(r[0] == "-" and "killed" in r[1], "the function ends killed", r)
a.send(encode("EVAL", "redis.call('set', 'w', '1') while true do end", "0"))
time.sleep(0.4)
check(b.call("SCRIPT", "KILL")[1].startswith("UNKILLABLE"), "a script that wrote: UNKILLABLE")
b.send(encode("SHUTDOWN", "NOSAVE"))
r = a.read()
check(r[0] == "-" and "killed" in r[1], "SHUTDOWN NOSAVE stops it", r)
itlib.finish()
