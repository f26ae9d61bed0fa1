/*
 * script.c - Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD/EXISTS/FLUSH.
 *
 * The interpreter is LuaJIT's (Debian's libluajit-5.1), run with its JIT compiler off:
 * the language is Lua 5.1, as in Redis, with two things Redis's Lua lacks and this design
 * needs: a coroutine may yield across pcall (a script's redis.call inside pcall() can
 * wait for the device), and the `bit` library is built in. The interpreter alone runs
 * scripts about as fast as Lua 5.1; compiled traces would also skip the debug hooks
 * that a time limit needs.
 *
 * One interpreter serves the server (one thread). Scripts are compiled once, named by the
 * SHA-1 of their body, and kept in a registry table until SCRIPT FLUSH. A run is a
 * coroutine: the script's function, whose environment is a table of its own holding KEYS
 * and ARGV over the protected globals (a script may not create or change globals, and
 * reading an undefined one is an error, as in Redis 7).
 *
 * redis.call and redis.pcall run a command as a child of the EVAL request (txn.c's unit,
 * the machinery EXEC uses): its reply is converted to Lua at once when it completes at
 * once, else the coroutine yields and is resumed with the reply when the command
 * completes (a read from the device). So a script waiting for a read does not stall the
 * event loop. Atomicity: EVAL claims its database as a whole, exclusive (every
 * database when the body mentions SELECT); no other command of that database runs before
 * the script ends, and other databases go on. Durability: the script's writes are kept in
 * the unit's overlay (its commands see them) and written as one batch when it ends, all
 * or nothing after a crash, before EVAL answers; a script whose body names KEYS, SCAN,
 * DBSIZE, RANDOMKEY or FLUSH* writes through instead (those read the engine directly).
 *
 * Replies convert as Redis 7.0 converts them (both RESP versions, redis.setresp); errors
 * carry "script: f_<sha>, on @user_script:<line>." as Redis's do.
 *
 * FUNCTION LOAD runs a library (first line "#!lua name=<lib>") in an environment of its
 * own where redis.register_function collects its functions; FCALL runs one as EVAL runs a
 * script, its keys and arguments passed as the function's two arguments. Libraries live
 * in memory only.
 *
 * A script that computes without calling Redis yields from a count hook every
 * SCRIPT_SLICE_MS and goes on from a timer, so the server keeps serving (Redis instead
 * blocks until lua-time-limit); past busy_reply_threshold other clients get -BUSY until
 * it ends or SCRIPT KILL stops it, as in Redis (cmd_redis.c asks script_busy_error).
 *
 * The libraries scripts see besides Lua's own: bit (LuaJIT's), cjson (luajson.c), cmsgpack
 * (luamsgpack.c), struct (luastruct.c); the globals are then locked (luasandbox.c): read-
 * only tables, no print/loadfile/dofile/debug, no bytecode. A script's first line may be
 * a shebang (#!lua flags=no-writes,...), parsed when it is compiled, its flags kept with
 * the compiled function. FUNCTION DUMP/RESTORE use Redis's payload format (rdbstr.c).
 */
#include "script.h"

#include <errno.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "cmdlock.h"
#include "conn.h"
#include "glob.h"
#include "log.h"
#include "luajson.h"
#include "luamsgpack.h"
#include "luasandbox.h"
#include "luastruct.h"
#include "pubsub.h"
#include "rdbstr.h"
#include "monitor.h"
#include "reply.h"
#include "resp.h"
#include "server.h"
#include "sha1.h"
#include "txn.h"

struct script_eng {
    lua_State *L;
    int fns;                /* registry ref: sha -> compiled function */
    int protect;            /* registry ref: the metatable of run environments */
    struct script_run *cur; /* the run whose coroutine is executing */
    uint64_t nscripts;
    int libs;    /* registry ref: library name -> {code=, select=, functions={name=true}} */
    int funcs;   /* registry ref: function name -> {fn=, lib=, ro=} */
    int loading; /* registry ref of the table collecting a FUNCTION LOAD's functions */
    struct script_run *busy; /* the run past busy_reply_threshold, serving -BUSY meanwhile */
};

struct script_run {
    struct req *r; /* the EVAL request */
    lua_State *co;
    int co_ref, env_ref, fn_ref;
    uint32_t db;
    int resp;            /* redis.setresp: the protocol of the commands' replies */
    int ro;              /* EVAL_RO / EVALSHA_RO */
    int in_call;         /* redis.call is running its command on the stack */
    int line;            /* the last line of the script that ran (line_hook) */
    uint64_t resume_ms;  /* when the coroutine was last resumed (monotonic) */
    uint64_t start_ms;   /* when it last started running without waiting for the device */
    int killed;          /* SCRIPT KILL / FUNCTION KILL asked it to stop */
    int wrote;           /* it ran a write command (SCRIPT KILL: no longer killable) */
    int oom_guard;       /* over maxmemory when it started and not allow-oom: its first
                            write, if one that may add data, is refused with -OOM */
    struct req *waiting; /* the command the coroutine yielded for */
    char fname[43];      /* the name errors give: its sha */
    struct pbuf out;     /* the script's reply, sent once its writes are acknowledged */
};

static const char *const ERR_NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL.";

/* ---- the interpreter ---- */

/* Pushes t.name of the table on top without metamethods (a script's table may carry an
 * __index that raises, _G does: outside a protected call that would end the process). */
static void raw_field(lua_State *L, const char *name)
{
    lua_pushstring(L, name);
    lua_rawget(L, -2);
}

/* Pushes {field = s}: the table form of an error or status reply. */
static void push_field_table(lua_State *L, const char *field, const char *s, size_t n)
{
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, field);
}

/* Pushes an error table for msg, as Redis's luaPushError: "-CODE msg" keeps its code, a
 * bare message, or "-msg" without a space, gets ERR. */
static void push_error(lua_State *L, const char *msg)
{
    char buf[512];
    if (msg[0] == '-' && strchr(msg, ' '))
        snprintf(buf, sizeof(buf), "%s", msg + 1);
    else
        snprintf(buf, sizeof(buf), "ERR %s", msg + (msg[0] == '-'));
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    push_field_table(L, "err", buf, n);
}

static int l_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    const char *e = lua_tostring(L, -1);
    push_error(L, e[0] == '-' ? e : lua_pushfstring(L, "-%s", e));
    return 1;
}

static int l_status_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments");
        return 1;
    }
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    push_field_table(L, "ok", s, n);
    return 1;
}

static int l_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1)
        return luaL_error(L, "wrong number of arguments");
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    char hex[41];
    sha1_hex(s ? s : "", s ? n : 0, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int l_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2) {
        push_error(L, "redis.log() requires two arguments or more.");
        return lua_error(L);
    }
    if (!lua_isnumber(L, 1)) {
        push_error(L, "First argument must be a number (log level).");
        return lua_error(L);
    }
    int level = (int)lua_tonumber(L, 1);
    if (level < 0 || level > 3) {
        push_error(L, "Invalid debug level.");
        return lua_error(L);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int j = 2; j <= argc; j++) {
        size_t n;
        const char *s = lua_tolstring(L, j, &n);
        if (s) {
            if (j > 2)
                luaL_addchar(&b, ' ');
            luaL_addlstring(&b, s, n);
        }
    }
    luaL_pushresult(&b);
    const char *msg = lua_tostring(L, -1);
    if (level == 3)
        log_warning("script: %s", msg);
    else if (level == 2)
        log_notice("script: %s", msg);
    else
        log_verbose("script: %s", msg);
    return 0;
}

/* The registry key of the engine's pointer: a light userdata, so the lookup the hooks do
 * on every line hashes no string. */
static const char ENG_KEY = 0;

static struct script_eng *eng_of(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&ENG_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    struct script_eng *se = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return se;
}

static int l_setresp(lua_State *L)
{
    struct script_run *sr = eng_of(L)->cur;
    if (sr == NULL) {
        push_error(L, "redis.setresp can only be called inside a script invocation");
        return lua_error(L);
    }
    if (lua_gettop(L) != 1) {
        push_error(L, "redis.setresp() requires one argument.");
        return lua_error(L);
    }
    int v = (int)lua_tonumber(L, 1);
    if (v != 2 && v != 3) {
        push_error(L, "RESP version must be 2 or 3.");
        return lua_error(L);
    }
    sr->resp = v;
    return 0;
}

static int l_set_repl(lua_State *L)
{
    if (lua_gettop(L) != 1) {
        push_error(L, "redis.set_repl() requires two arguments.");
        return lua_error(L);
    }
    int flags = (int)lua_tonumber(L, 1);
    if (flags & ~3) {
        push_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or "
                      "REPL_NONE.");
        return lua_error(L);
    }
    return 0; /* no replication: nothing to choose */
}

static int l_true(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int l_false(lua_State *L)
{
    lua_pushboolean(L, 0);
    return 1;
}

static int l_rcall(lua_State *L);

/* redis.call raises a command's error; redis.pcall returns it as a table. Both run the
 * command through l_rcall, which may yield (a C function cannot raise after a yield). */
static const char PRELUDE[] =
    "local rcall = redis.__rcall\n"
    "redis.__rcall = nil\n"
    "local type, rawget, error = type, rawget, error\n"
    "redis.call = function(...)\n"
    "  local r = rcall(...)\n"
    "  if type(r) == 'table' and rawget(r, 'err') ~= nil then error(r, 0) end\n"
    "  return r\n"
    "end\n"
    "redis.pcall = function(...) return rcall(...) end\n"
    /* as Redis 7: pcall catches a command's error table as its message */
    "local rawpcall = pcall\n"
    "local function caught(ok, ...)\n"
    "  if ok then return true, ... end\n"
    "  local e = ...\n"
    "  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then return false, e.err end\n"
    "  return false, e\n"
    "end\n"
    "pcall = function(f, ...) return caught(rawpcall(f, ...)) end\n";

static void set_fn(lua_State *L, const char *name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
}

static void set_num(lua_State *L, const char *name, int v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static struct script_eng *eng_new(void)
{
    struct script_eng *se = calloc(1, sizeof(*se));
    lua_State *L = se ? luaL_newstate() : NULL;
    if (L == NULL) {
        free(se);
        return NULL;
    }
    se->L = L;
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_DBLIBNAME, luaopen_debug);
    open_lib(L, LUA_BITLIBNAME, luaopen_bit);
    open_lib(L, "cjson", luajson_open);
    open_lib(L, "cmsgpack", luamsgpack_open);
    open_lib(L, "struct", luastruct_open);
    lua_pushlightuserdata(L, (void *)&ENG_KEY);
    lua_pushlightuserdata(L, se);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    set_fn(L, "__rcall", l_rcall);
    set_fn(L, "error_reply", l_error_reply);
    set_fn(L, "status_reply", l_status_reply);
    set_fn(L, "sha1hex", l_sha1hex);
    set_fn(L, "log", l_log);
    set_fn(L, "setresp", l_setresp);
    set_fn(L, "set_repl", l_set_repl);
    set_fn(L, "replicate_commands", l_true);
    set_fn(L, "breakpoint", l_false);
    set_fn(L, "debug", l_false);
    set_num(L, "LOG_DEBUG", 0);
    set_num(L, "LOG_VERBOSE", 1);
    set_num(L, "LOG_NOTICE", 2);
    set_num(L, "LOG_WARNING", 3);
    set_num(L, "REPL_NONE", 0);
    set_num(L, "REPL_AOF", 1);
    set_num(L, "REPL_SLAVE", 2);
    set_num(L, "REPL_REPLICA", 2);
    set_num(L, "REPL_ALL", 3);
    lua_setglobal(L, "redis");
    if (luaL_loadbuffer(L, PRELUDE, sizeof(PRELUDE) - 1, "=prelude") || lua_pcall(L, 0, 0, 0)) {
        log_warning("scripting: the prelude failed: %s", lua_tostring(L, -1));
        lua_close(L);
        free(se);
        return NULL;
    }
    luasandbox_lock(L);
    /* a run's environment: KEYS and ARGV of its own, then the globals */
    lua_newtable(L);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, luasandbox_readonly);
    lua_setfield(L, -2, "__newindex");
    se->protect = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    se->fns = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    se->libs = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    se->funcs = luaL_ref(L, LUA_REGISTRYINDEX);
    se->loading = LUA_NOREF;
    return se;
}

static struct script_eng *eng_get(struct server *s)
{
    if (s->scripts == NULL)
        s->scripts = eng_new();
    return s->scripts;
}

void script_server_free(struct server *s)
{
    if (s->scripts) {
        lua_close(s->scripts->L);
        free(s->scripts);
        s->scripts = NULL;
    }
}

static int body_mentions(const char *body, size_t n, const char *const *words)
{
    for (const char *const *w = words; *w; w++) {
        size_t wl = strlen(*w);
        for (size_t i = 1; i + wl < n; i++)
            if ((body[i - 1] == '\'' || body[i - 1] == '"') && body[i + wl] == body[i - 1] &&
                strncasecmp(body + i, *w, wl) == 0)
                return 1;
    }
    return 0;
}

static const char *const WHOLE_DB_WORDS[] = {"keys",    "scan",     "dbsize", "randomkey",
                                             "flushdb", "flushall", NULL};
static const char *const SELECT_WORDS[] = {"select", NULL};

/* A script's shebang flags ("#!lua flags=no-writes,allow-oom" on its first line). A
 * script without a shebang runs in compatibility mode: it may write, and EVAL_RO
 * enforces read-only on its commands only. */
enum {
    SF_COMPAT = 1,
    SF_NO_WRITES = 2,
    SF_ALLOW_OOM = 4,
    SF_ALLOW_STALE = 8,
    SF_NO_CLUSTER = 16,
    SF_CROSS_SLOT = 32,
    /* not shebang flags: what compile() learnt of the body, for EVALSHA, which does not
     * have it at hand */
    SF_WHOLE_DB = 64, /* names KEYS, SCAN, DBSIZE, RANDOMKEY or FLUSH*: writes through */
    SF_SELECT = 128,  /* names SELECT: claims every database */
};

static const struct {
    const char *name;
    int flag;
} SHEBANG_FLAGS[] = {{"no-writes", SF_NO_WRITES},
                     {"allow-oom", SF_ALLOW_OOM},
                     {"allow-stale", SF_ALLOW_STALE},
                     {"no-cluster", SF_NO_CLUSTER},
                     {"allow-cross-slot-keys", SF_CROSS_SLOT}};

/* The flag named by [f, f + n), or 0. */
static int shebang_flag(const char *f, size_t n)
{
    for (size_t i = 0; i < sizeof(SHEBANG_FLAGS) / sizeof(SHEBANG_FLAGS[0]); i++)
        if (strlen(SHEBANG_FLAGS[i].name) == n && memcmp(SHEBANG_FLAGS[i].name, f, n) == 0)
            return SHEBANG_FLAGS[i].flag;
    return 0;
}

/* Parses the flags=a,b,c option [p, end) into *flags. Returns 0, or -1 with err set. */
static int shebang_flags_opt(const char *p, const char *end, int *flags, char *err, size_t errlen)
{
    p += 6;                                         /* "flags=" */
    while (p < end || (p == end && p[-1] == ',')) { /* "flags=" alone: none; "a,": "" */
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c ? c : end;
        int f = shebang_flag(p, (size_t)(e - p));
        if (f == 0) {
            snprintf(err, errlen, "ERR Unexpected flag in script shebang: %.*s", (int)(e - p), p);
            return -1;
        }
        *flags |= f;
        p = e + 1;
    }
    return 0;
}

/* Parses body's shebang, if any: its flags, and the length of its first line (compiled
 * as nothing, keeping the line feed so that line numbers hold). Returns 0, or -1 with
 * Redis's error in err. */
static int shebang_parse(const char *body, size_t n, int *flags, size_t *skip, char *err,
                         size_t errlen)
{
    *flags = SF_COMPAT;
    *skip = 0;
    if (n < 2 || body[0] != '#' || body[1] != '!')
        return 0;
    const char *end = memchr(body, '\n', n);
    if (end == NULL) {
        snprintf(err, errlen, "ERR Invalid script shebang");
        return -1;
    }
    *flags = 0;
    *skip = (size_t)(end - body);
    const char *p = body;
    for (int part = 0;; part++) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (p == w)
            return 0;
        if (part == 0 && (p - w != 5 || memcmp(w, "#!lua", 5) != 0)) {
            snprintf(err, errlen, "ERR Unexpected engine in script shebang: %.*s", (int)(p - w), w);
            return -1;
        }
        if (part > 0 && (p - w < 6 || memcmp(w, "flags=", 6) != 0)) {
            snprintf(err, errlen, "ERR Unknown lua shebang option: %.*s", (int)(p - w), w);
            return -1;
        }
        if (part > 0 && shebang_flags_opt(w, p, flags, err, errlen) < 0)
            return -1;
    }
}

/* Compiles body under its sha and leaves the function on the stack (its flags are
 * kept in the same table, keyed by the function). Returns 0, or -1 with the error reply
 * in err. */
static int compile(struct script_eng *se, const char *body, size_t n, const char *sha, char *err,
                   size_t errlen)
{
    lua_State *L = se->L;
    int flags;
    size_t skip;
    if (shebang_parse(body, n, &flags, &skip, err, errlen) < 0)
        return -1;
    /* no bytecode: luasandbox.c */
    if (luaL_loadbufferx(L, body + skip, n - skip, "@user_script", "t")) {
        snprintf(err, errlen, "ERR Error compiling script (new function): %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    if (body_mentions(body, n, WHOLE_DB_WORDS))
        flags |= SF_WHOLE_DB;
    if (body_mentions(body, n, SELECT_WORDS))
        flags |= SF_SELECT;
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->fns);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, sha);
    lua_pushvalue(L, -2);
    lua_pushinteger(L, flags);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    se->nscripts++;
    return 0;
}

/* The shebang flags of the compiled script on the stack top. */
static int script_flags(struct script_eng *se)
{
    lua_rawgeti(se->L, LUA_REGISTRYINDEX, se->fns);
    lua_pushvalue(se->L, -2);
    lua_rawget(se->L, -2);
    int flags = (int)lua_tointeger(se->L, -1);
    lua_pop(se->L, 2);
    return flags;
}

/* Pushes the function named sha, or nil. */
static void find_fn(struct script_eng *se, const char *sha)
{
    char low[41];
    size_t i;
    for (i = 0; i < 40 && sha[i]; i++)
        low[i] = (char)((sha[i] >= 'A' && sha[i] <= 'Z') ? sha[i] + 32 : sha[i]);
    low[i] = '\0';
    lua_rawgeti(se->L, LUA_REGISTRYINDEX, se->fns);
    lua_getfield(se->L, -1, low);
    lua_remove(se->L, -2);
}

/* ---- replies: Redis protocol to Lua ---- */

/* Reads one CRLF-terminated line at *p (before end): its content in [s, s + n). */
static int resp_line(const char **p, const char *end, const char **s, size_t *n)
{
    const char *q = *p;
    while (q + 1 < end && !(q[0] == '\r' && q[1] == '\n'))
        q++;
    if (q + 1 >= end)
        return -1;
    *s = *p;
    *n = (size_t)(q - *p);
    *p = q + 2;
    return 0;
}

/* Pushes the Lua value of the reply at *p (Redis 7.0's conversion), advancing *p. */
static int resp_to_lua(lua_State *L, const char **p, const char *end, int depth)
{
    const char *s;
    size_t n;
    if (*p >= end || depth > 64 || !lua_checkstack(L, 8))
        return -1;
    char t = **p;
    (*p)++;
    if (resp_line(p, end, &s, &n) < 0)
        return -1;
    long long len = strtoll(s, NULL, 10);
    switch (t) {
    case ':':
        lua_pushnumber(L, (lua_Number)len);
        return 0;
    case '+':
        push_field_table(L, "ok", s, n);
        return 0;
    case '-': /* counted in the error statistics by the command */
        push_field_table(L, "err", s, n);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return 0;
    case '_':
        lua_pushnil(L);
        return 0;
    case '#':
        lua_pushboolean(L, n && s[0] == 't');
        return 0;
    case ',': {
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)(n < 63 ? n : 63), s);
        lua_createtable(L, 0, 1);
        lua_pushnumber(L, strtod(buf, NULL));
        lua_setfield(L, -2, "double");
        return 0;
    }
    case '(':
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, s, n);
        lua_setfield(L, -2, "big_number");
        return 0;
    case '$':
    case '=':
        if (len < 0) {
            lua_pushboolean(L, 0);
            return 0;
        }
        if (end - *p < len + 2)
            return -1;
        if (t == '=' && len >= 4) {
            lua_createtable(L, 0, 1);
            lua_createtable(L, 0, 2);
            lua_pushlstring(L, *p, 3);
            lua_setfield(L, -2, "format");
            lua_pushlstring(L, *p + 4, (size_t)len - 4);
            lua_setfield(L, -2, "string");
            lua_setfield(L, -2, "verbatim_string");
        } else {
            lua_pushlstring(L, *p, (size_t)len);
        }
        *p += len + 2;
        return 0;
    case '*':
    case '~':
    case '>':
        if (len < 0) {
            lua_pushboolean(L, 0);
            return 0;
        }
        lua_createtable(L, (int)(len < 1024 ? len : 1024), 0);
        for (long long i = 0; i < len; i++) {
            if (resp_to_lua(L, p, end, depth + 1) < 0)
                return -1;
            if (t == '~') { /* a set: {set = {member = true}} */
                lua_pushboolean(L, 1);
                lua_rawset(L, -3);
            } else {
                lua_rawseti(L, -2, (int)i + 1);
            }
        }
        if (t == '~') {
            lua_createtable(L, 0, 1);
            lua_insert(L, -2);
            lua_setfield(L, -2, "set");
        }
        return 0;
    case '%':
        lua_createtable(L, 0, (int)(len < 1024 ? len : 1024));
        for (long long i = 0; i < len; i++) {
            if (resp_to_lua(L, p, end, depth + 1) < 0 || resp_to_lua(L, p, end, depth + 1) < 0)
                return -1;
            lua_rawset(L, -3);
        }
        lua_createtable(L, 0, 1);
        lua_insert(L, -2);
        lua_setfield(L, -2, "map");
        return 0;
    }
    return -1;
}

/* Pushes k's reply (it completed) as a Lua value. */
static void push_reply(lua_State *L, struct req *k)
{
    const char *p = k->buf.data, *end = p + k->buf.len;
    int top = lua_gettop(L);
    if (k->buf.len == 0 || resp_to_lua(L, &p, end, 0) < 0) {
        lua_settop(L, top);
        push_error(L, "the command's reply could not be read");
    }
}

/* ---- replies: Lua to Redis protocol ---- */

static int lua_to_resp(lua_State *L, struct pbuf *o, int proto, int sresp, int depth);

/* An error table's message with the script's position (Redis's luaExtractErrorInformation). */
static void error_reply(struct pbuf *o, const struct script_run *sr, const char *msg, int line)
{
    if (line > 0)
        resp_w_errorf(o, "%s script: %s, on @%s:%d.", msg, sr->fname,
                      sr->env_ref == LUA_NOREF ? "user_function" : "user_script", line);
    else
        resp_w_error(o, msg);
}

static int table_to_resp(lua_State *L, struct pbuf *o, int proto, int sresp, int depth)
{
    raw_field(L, "err");
    if (lua_type(L, -1) == LUA_TSTRING) {
        int rc = resp_w_error(o, lua_tostring(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    lua_pop(L, 1);
    raw_field(L, "ok");
    if (lua_type(L, -1) == LUA_TSTRING) {
        char *st = strdup(lua_tostring(L, -1));
        for (char *c = st; c && *c; c++)
            if (*c == '\r' || *c == '\n')
                *c = ' ';
        int rc = st ? resp_w_simple(o, st) : -ENOMEM;
        free(st);
        lua_pop(L, 1);
        return rc;
    }
    lua_pop(L, 1);
    if (sresp == 3) {
        raw_field(L, "double");
        if (lua_type(L, -1) == LUA_TNUMBER) {
            int rc = resp_w_double(o, proto, lua_tonumber(L, -1));
            lua_pop(L, 1);
            return rc;
        }
        lua_pop(L, 1);
        raw_field(L, "map");
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t n = 0;
            for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
                n++;
            int rc = resp_w_map(o, proto, n);
            for (lua_pushnil(L); rc == 0 && lua_next(L, -2); lua_pop(L, 1)) {
                lua_pushvalue(L, -2);
                rc = lua_to_resp(L, o, proto, sresp, depth + 1); /* the key (popped) */
                if (rc == 0) {
                    lua_pushvalue(L, -1);
                    rc = lua_to_resp(L, o, proto, sresp, depth + 1);
                }
            }
            lua_pop(L, 1);
            return rc;
        }
        lua_pop(L, 1);
        raw_field(L, "set");
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t n = 0;
            for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
                n++;
            int rc = resp_w_set(o, proto, n);
            for (lua_pushnil(L); rc == 0 && lua_next(L, -2); lua_pop(L, 1)) {
                lua_pushvalue(L, -2);
                rc = lua_to_resp(L, o, proto, sresp, depth + 1);
            }
            lua_pop(L, 1);
            return rc;
        }
        lua_pop(L, 1);
    }
    size_t n = 0;
    for (;; n++) { /* an array: up to the first nil */
        lua_rawgeti(L, -1, (int)n + 1);
        int nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil)
            break;
    }
    int rc = resp_w_array(o, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lua_rawgeti(L, -1, (int)i + 1);
        rc = lua_to_resp(L, o, proto, sresp, depth + 1);
    }
    return rc;
}

/* Encodes the value on top of L (popped) for a client speaking proto. */
static int lua_to_resp(lua_State *L, struct pbuf *o, int proto, int sresp, int depth)
{
    int rc;
    if (depth > 64 || !lua_checkstack(L, 8)) {
        lua_pop(L, 1);
        return resp_w_error(o, "ERR reached lua stack limit");
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        rc = resp_w_bulk(o, s, n);
        break;
    }
    case LUA_TBOOLEAN:
        if (sresp == 2)
            rc = lua_toboolean(L, -1) ? resp_w_int(o, 1) : resp_w_null(o, proto);
        else
            rc = resp_w_bool(o, proto, lua_toboolean(L, -1));
        break;
    case LUA_TNUMBER:
        rc = resp_w_int(o, (int64_t)lua_tonumber(L, -1));
        break;
    case LUA_TTABLE:
        rc = table_to_resp(L, o, proto, sresp, depth);
        break;
    default:
        rc = resp_w_null(o, proto);
        break;
    }
    lua_pop(L, 1);
    return rc;
}

/* ---- a run ---- */

static void run_free(struct script_run *sr)
{
    lua_State *L = sr->r->c->srv->scripts->L;
    luaL_unref(L, LUA_REGISTRYINDEX, sr->co_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, sr->env_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, sr->fn_ref);
    pbuf_free(&sr->out);
    free(sr);
}

/* The script ended and its writes are acknowledged (rc 0) or failed: EVAL answers. */
static void run_reply(struct script_run *sr, int rc)
{
    struct req *r = sr->r;
    if (rc != 0 && rc != LS_ENOTFOUND)
        reply_engine_error(r, rc);
    else
        reply_raw(r, sr->out.data, sr->out.len);
    txn_unit_end(r);
    run_free(sr);
    req_done(r);
}

static void run_batch_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    run_reply(txn_unit_script(r), rc);
}

static void run_each_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    struct script_run *sr = txn_unit_script(r);
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND && sr->out.len && sr->out.data[0] != '-') {
        pbuf_reset(&sr->out);
        resp_w_error(&sr->out, "ERR a write of the script failed");
    }
    if (txn_unit_each_done(r))
        run_reply(sr, 0);
}

/* The script's coroutine ended (ok, or an error on its stack): its writes go to the
 * engine, then EVAL answers. */
static void run_end(struct script_run *sr)
{
    struct req *r = sr->r;
    int rc = txn_unit_submit(r, run_batch_cb, run_each_cb);
    if (rc == 1 || rc == 2) {
        req_unlock(r); /* submitted (or parked: released when it is) */
        return;
    }
    run_reply(sr, rc);
}

static int is_user_source(const char *src)
{
    return strcmp(src, "@user_script") == 0 || strcmp(src, "@user_function") == 0;
}

/* The line of the innermost frame of the user's script on co's stack (0: none). */
static int user_line(lua_State *co)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && is_user_source(ar.source))
            return ar.currentline;
    }
    return 0;
}

/* The line hook: the last line of the user's script that ran. A tail call (`return
 * redis.call(...)`) leaves no frame of the script on the stack, yet Redis names its line. */
static void script_stop(lua_State *L)
{
    log_warning("Lua script killed by user with SCRIPT KILL.");
    push_error(L, "Script killed by user with SCRIPT KILL...");
    lua_error(L);
}

static int busy_wait(struct script_eng *se, struct script_run *sr, lua_State *L);

static void line_hook(lua_State *L, lua_Debug *ar)
{
    struct script_eng *se = eng_of(L);
    struct script_run *sr = se->cur;
    if (ar->event == LUA_HOOKCOUNT) { /* a loop on one line makes no line events */
        if (sr && busy_wait(se, sr, L))
            lua_yield(L, 0); /* resumed from the loop (run_slice_cb) */
        return;
    }
    if (sr && sr->killed) /* raised again on every line: a pcall() cannot keep it running */
        script_stop(L);
    if (sr && lua_getinfo(L, "S", ar) && ar->source[0] == '@' && is_user_source(ar->source))
        sr->line = ar->currentline;
}

/* Counts the error the script answers (its result at idx, an error table or a raised
 * error), in INFO errorstats as Redis does, unless a command's error it passes on,
 * counted when the command failed. */
static void count_error(struct script_run *sr, lua_State *co, int idx)
{
    char code[64];
    if (lua_gettop(co) < 1)
        return;
    idx = idx < 0 ? lua_gettop(co) : idx;
    const char *msg = "ERR";
    if (lua_istable(co, idx)) {
        lua_pushstring(co, "ignore_error_stats_update");
        lua_rawget(co, idx);
        int ignore = lua_toboolean(co, -1);
        lua_pushstring(co, "err");
        lua_rawget(co, idx);
        msg = lua_tostring(co, -1);
        lua_pop(co, 2);
        if (ignore)
            cmd_server_stat_failed(sr->r); /* the error was counted when it was refused */
        if (ignore || msg == NULL)
            return;
    } else if (idx == 1) {
        return; /* a value, not an error */
    }
    snprintf(code, sizeof(code), "%.*s", (int)strcspn(msg, " \r\n"), msg);
    sr->r->c->srv->stats.errors++;
    cmd_server_stat_error(sr->r, code[0] ? code : "ERR");
}

static void run_resume(struct script_run *sr, int nargs)
{
    struct script_eng *se = sr->r->c->srv->scripts;
    lua_State *co = sr->co;
    se->cur = sr;
    sr->resume_ms = server_mono_ms();
    if (nargs) /* resumed with a command's reply: running again from now */
        sr->start_ms = sr->resume_ms;
    if (sr->env_ref != LUA_NOREF) { /* EVAL: the env is the function's, per run */
        lua_rawgeti(co, LUA_REGISTRYINDEX, sr->env_ref);
        lua_rawgeti(co, LUA_REGISTRYINDEX, sr->fn_ref);
        lua_insert(co, -2);
        lua_setfenv(co, -2);
        lua_pop(co, 1);
    }
    int rc = lua_resume(co, nargs);
    se->cur = NULL;
    if (rc == LUA_YIELD && sr->waiting == NULL)
        return; /* its time slice is over: run_slice_cb goes on */
    if (se->busy == sr) {
        se->busy = NULL;
        log_warning("slow script %s: ran %llu ms", sr->fname,
                    (unsigned long long)(server_mono_ms() - sr->start_ms));
    }
    if (rc == LUA_YIELD)
        return; /* waits for sr->waiting */
    count_error(sr, co, rc == 0 ? 1 : -1);
    if (rc == 0) {
        if (lua_gettop(co) == 0)
            lua_pushnil(co);
        lua_settop(co, 1);
        lua_to_resp(co, &sr->out, sr->r->proto, sr->resp, 0);
    } else if (lua_istable(co, -1)) {
        raw_field(co, "err");
        const char *msg = lua_tostring(co, -1);
        int line = user_line(co);
        error_reply(&sr->out, sr, msg ? msg : "ERR unknown error", line ? line : sr->line);
    } else {
        const char *msg = lua_tostring(co, -1);
        char buf[600];
        snprintf(buf, sizeof(buf), "ERR %s", msg ? msg : "execution failure");
        int line = user_line(co);
        error_reply(&sr->out, sr, buf, line ? line : sr->line);
    }
    run_end(sr);
}

/* ---- busy scripts ---- */

static void run_resume(struct script_run *sr, int nargs);

static void run_slice_cb(evutil_socket_t fd, short what, void *arg)
{
    struct script_run *sr = arg;
    struct server *s = sr->r->c->srv;
    (void)fd;
    (void)what;
    run_resume(sr, 0);
    server_after_events(s); /* as every callback ends (server.c) */
}

/* From the count hook, every 100000 instructions: a script that has run a time slice
 * (SCRIPT_SLICE_MS) without waiting for the device yields to the event loop and goes on
 * from the next turn, so the server keeps serving. Once it has run busy_reply_threshold
 * ms, other clients get -BUSY (all but the commands Redis allows then, SCRIPT KILL among
 * them) until it ends, as in Redis. Returns 1 when the script must yield; a killed script
 * stops here with an error. */
#define SCRIPT_SLICE_MS 10
static int busy_wait(struct script_eng *se, struct script_run *sr, lua_State *L)
{
    struct server *s = sr->r->c->srv;
    uint64_t now = server_mono_ms();
    if (sr->killed)
        script_stop(L);
    if (now - sr->resume_ms < SCRIPT_SLICE_MS)
        return 0;
    if (se->busy == NULL && s->cfg.busy_reply_threshold &&
        now - sr->start_ms >= s->cfg.busy_reply_threshold) {
        se->busy = sr;
        log_warning("Slow script detected: still in execution after %llu milliseconds. You "
                    "can try killing the script using the SCRIPT KILL command. Script name is: "
                    "%s.",
                    (unsigned long long)(now - sr->start_ms), sr->fname);
    }
    /* A timer, not an activated event: libevent runs events activated during its
     * callbacks in the same pass, without polling the sockets in between. */
    struct timeval soon = {0, 1};
    return event_base_once(s->base, -1, EV_TIMEOUT, run_slice_cb, sr, &soon) == 0;
}

static const char ERR_BUSY_EVAL[] =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
static const char ERR_BUSY_FUNCTION[] =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

const char *script_busy_error(const struct server *s, const struct req *r)
{
    static const char *const allowed[] = {"auth",    "hello", "quit",    "reset", "shutdown",
                                          "discard", "multi", "unwatch", "watch", NULL};
    const struct script_eng *se = s->scripts;
    const struct cmd_def *d = r->cmd;
    if (se == NULL || se->busy == NULL || d == NULL)
        return NULL;
    if (r->c == se->busy->r->c)
        return NULL; /* pipelined after the script: it waits its turn, as in Redis */
    if (r->argc >= 2 && (d->proc == cmd_script_script || d->proc == cmd_script_function) &&
        (cmd_arg_is(&r->argv[1], "kill") ||
         (d->proc == cmd_script_function && cmd_arg_is(&r->argv[1], "stats"))))
        return NULL;
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(d->name, *a) == 0)
            return NULL;
    return se->busy->env_ref == LUA_NOREF ? ERR_BUSY_FUNCTION : ERR_BUSY_EVAL;
}

/* SCRIPT KILL (is_eval) or FUNCTION KILL. */
static void script_kill(struct req *r, struct script_eng *se, int is_eval)
{
    struct script_run *sr = se->busy;
    if (sr == NULL) {
        reply_error(r, "NOTBUSY No scripts in execution right now.");
    } else if (txn_unit_writes(sr->r) || sr->wrote) {
        reply_error(r, "UNKILLABLE Sorry the script already executed write commands against "
                       "the dataset. You can either wait the script termination or kill the "
                       "server in a hard way using the SHUTDOWN NOSAVE command.");
    } else if (is_eval != (sr->env_ref != LUA_NOREF)) {
        reply_error(r, is_eval ? ERR_BUSY_FUNCTION : ERR_BUSY_EVAL);
    } else {
        sr->killed = 1;
        reply_ok(r);
    }
}

void script_shutdown(struct server *s)
{
    if (s->scripts && s->scripts->busy)
        s->scripts->busy->killed = 1; /* SHUTDOWN NOSAVE stops it */
}

/* ---- redis.call ---- */

/* The command's arguments from the Lua stack, in one block. NULL with an error pushed. */
static struct resp_arg *call_args(lua_State *L, uint32_t *argc)
{
    int n = lua_gettop(L);
    if (n == 0) {
        push_error(L, "Please specify at least one argument for this redis lib call");
        return NULL;
    }
    size_t bytes = (size_t)n * sizeof(struct resp_arg);
    char num[64];
    for (int j = 1; j <= n; j++) {
        int t = lua_type(L, j);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            lua_settop(L, 0);
            push_error(L, "Lua redis lib command arguments must be strings or integers");
            return NULL;
        }
        size_t len;
        if (t == LUA_TNUMBER)
            len = (size_t)snprintf(num, sizeof(num), "%.17g", (double)lua_tonumber(L, j));
        else
            lua_tolstring(L, j, &len);
        bytes += len + 1;
    }
    struct resp_arg *argv = malloc(bytes);
    if (argv == NULL) {
        push_error(L, "out of memory");
        return NULL;
    }
    char *p = (char *)(argv + n);
    for (int j = 1; j <= n; j++) {
        size_t len;
        const char *s;
        if (lua_type(L, j) == LUA_TNUMBER) {
            len = (size_t)snprintf(num, sizeof(num), "%.17g", (double)lua_tonumber(L, j));
            s = num;
        } else {
            s = lua_tolstring(L, j, &len);
        }
        memcpy(p, s, len);
        p[len] = '\0';
        argv[j - 1] = (struct resp_arg){p, len};
        p += len + 1;
    }
    *argc = (uint32_t)n;
    lua_settop(L, 0);
    return argv;
}

/* Why the script may not run d with argc arguments, or NULL. */
static const char *call_refused(const struct script_run *sr, const struct cmd_def *d, uint32_t argc,
                                const struct resp_arg *argv)
{
    if (d == NULL)
        return "Unknown Redis command called from script";
    if ((d->arity > 0 && argc != (uint32_t)d->arity) ||
        (d->arity < 0 && argc < (uint32_t)-d->arity))
        return "Wrong number of args calling Redis command from script";
    if ((d->flags & (CMD_NOSCRIPT | CMD_TXN | CMD_NO_MULTI)) ||
        (d->proc == cmd_cluster_cluster && cmd_arg_is(&argv[1], "reset")))
        return "This Redis command is not allowed from script";
    /* Redis 7.0 refuses its may-replicate commands as well: PFCOUNT (a write here),
     * PUBLISH and SPUBLISH */
    if (sr->ro &&
        ((d->flags & CMD_WRITE) || d->proc == pubsub_cmd_publish || d->proc == pubsub_cmd_spublish))
        return "Write commands are not allowed from read-only scripts.";
    if (sr->oom_guard && !sr->wrote && (d->flags & CMD_DENYOOM))
        return "-" ERR_OOM; /* a script that wrote already cannot stop halfway */
    uint32_t first, step, nk = cmd_keys_find(d, argv, argc, &first, &step);
    for (uint32_t k = 0; k < nk; k++) /* the keys only: a value may be larger */
        if (argv[first + k * step].len > sr->r->c->srv->cfg.max_key_size)
            return "-ERR key exceeds maximum allowed size (max_key_size)";
    return NULL;
}

static int l_rcall(lua_State *L)
{
    struct script_run *sr = eng_of(L)->cur;
    uint32_t argc;
    if (sr == NULL) {
        push_error(L, "redis.call/pcall can only be called inside a script invocation");
        return lua_error(L);
    }
    struct resp_arg *argv = call_args(L, &argc);
    if (argv == NULL)
        return 1;
    const struct cmd_def *d = cmd_find(argv[0].ptr, argv[0].len);
    const char *why = call_refused(sr, d, argc, argv);
    if (why) {
        /* as Redis: the refusal is counted now (errorstats, the command's rejected_calls),
         * and the error table says so, so that the script's own error is not counted again */
        char code[64] = "ERR";
        if (why[0] == '-')
            snprintf(code, sizeof(code), "%.*s", (int)strcspn(why + 1, " \r\n"), why + 1);
        struct req none = {.c = sr->r->c}; /* errorstats only: EVAL has not failed */
        sr->r->c->srv->stats.errors++;
        cmd_server_stat_error(&none, code);
        if (d)
            cmd_server_stat_rejected(d->name);
        free(argv);
        push_error(L, why);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ignore_error_stats_update");
        return 1;
    }
    if (d->proc == cmd_server_select) { /* the script's own database, not the client's */
        long long db;
        uint64_t t0 = cmd_server_stat_begin();
        struct req sel = {
            .c = sr->r->c, .parent = sr->r, .cmd = d, .argv = argv, .argc = argc, .exec = d->proc};
        if (cmd_arg_ll(&argv[1], &db) < 0 || db < 0 ||
            (uint64_t)db >= (uint64_t)sr->r->c->srv->cfg.databases) {
            /* counted as a failed SELECT now (errorstats too), as Redis counts it */
            sr->r->c->srv->stats.errors++;
            cmd_server_stat_error(&sel, "ERR");
            push_error(L, "-ERR DB index is out of range");
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "ignore_error_stats_update");
        } else {
            sr->db = (uint32_t)db;
            monitor_feed(&sel); /* "select" as run by "lua" */
            push_field_table(L, "ok", "OK", 2);
        }
        cmd_server_stat_end(sr->r->c, "select", t0);
        free(argv);
        return 1;
    }
    sr->wrote |= (d->flags & CMD_WRITE) != 0;
    struct req *k = txn_unit_child(sr->r, d, sr->db, argv, argc);
    if (k == NULL) {
        push_error(L, "out of memory");
        return 1;
    }
    k->proto = (uint8_t)sr->resp;
    sr->in_call = 1;
    uint64_t t0 = cmd_server_stat_begin(); /* commandstats count a script's commands */
    cmd_child_started(k);                  /* MONITOR shows it as run by "lua" */
    k->exec(k);
    cmd_server_stat_end(sr->r->c, d->name, t0);
    sr->in_call = 0;
    if (k->done) {
        push_reply(L, k);
        req_child_free(k);
        return 1;
    }
    sr->waiting = k;
    return lua_yield(L, 0);
}

void script_child_submitted(struct req *k)
{
    txn_unit_ack(k); /* its writes are in the overlay: done for the script */
}

void script_child_done(struct req *k)
{
    struct script_run *sr = txn_unit_script(k->parent);
    if (sr->in_call || sr->waiting != k)
        return; /* l_rcall sees it done when the command returns */
    sr->waiting = NULL;
    push_reply(sr->co, k);
    req_child_free(k);
    run_resume(sr, 1);
}

/* ---- EVAL and friends ---- */

/* Whether the body names, as a quoted string ('keys' or "keys", any case), one of the
 * commands in words: those reading or writing a database as a whole (the overlay would
 * not be seen: see the design comment), or SELECT. A name built at run time is missed:
 * such a KEYS does not list the script's own earlier writes. */
/* The flags of the compiled script sha (SF_*), or -1 when there is none. */
static int sha_flags(struct script_eng *se, const char *sha, size_t len);

static void find_function(struct script_eng *se, const char *name);

static int sha_flags(struct script_eng *se, const char *sha, size_t len)
{
    char z[41];
    memcpy(z, sha, len < 40 ? len : 40);
    z[len < 40 ? len : 40] = '\0';
    find_fn(se, z);
    int f = lua_isnil(se->L, -1) ? -1 : script_flags(se);
    lua_pop(se->L, 1);
    return f;
}

int script_prepare(struct req *r)
{
    long long nk;
    r->nkeys = 0;
    if (cmd_arg_ll(&r->argv[2], &nk) < 0)
        return 0; /* the handler answers */
    if (nk < 0 || (uint64_t)nk > r->argc - 3)
        return 0;
    const struct resp_arg *body = &r->argv[1];
    int all = 0;
    struct script_eng *se = r->c->srv->scripts;
    if (r->cmd->proc == cmd_script_eval || r->cmd->proc == cmd_script_eval_ro) {
        all = body_mentions(body->ptr, body->len, SELECT_WORDS);
    } else if (se && (r->cmd->proc == cmd_script_fcall || r->cmd->proc == cmd_script_fcall_ro)) {
        find_function(se, body->ptr); /* does its library's code name 'select'? */
        all = 1;
        if (lua_istable(se->L, -1)) {
            lua_getfield(se->L, -1, "lib");
            lua_rawgeti(se->L, LUA_REGISTRYINDEX, se->libs);
            lua_pushvalue(se->L, -2);
            lua_rawget(se->L, -2);
            lua_getfield(se->L, -1, "select");
            all = lua_toboolean(se->L, -1);
            lua_pop(se->L, 4);
        }
        lua_pop(se->L, 1);
    } else { /* EVALSHA: what compile() learnt of its body (unknown: as if it selects) */
        int f = se && body->len == 40 ? sha_flags(se, body->ptr, body->len) : -1;
        all = f < 0 || (f & SF_SELECT);
    }
    r->lk = CMDLOCK_DB_WRITE | CMDLOCK_KEYS_WRITE | (all ? CMDLOCK_ALL_DBS : 0);
    return 0;
}

/* Pushes onto L two arrays of r's arguments: its keys (numkeys from argv[2]), then the
 * rest. */
static void push_key_args(lua_State *L, const struct req *r)
{
    long long nk;
    cmd_arg_ll(&r->argv[2], &nk);
    for (int which = 0; which < 2; which++) {
        uint32_t first = which ? 3 + (uint32_t)nk : 3, n = which ? r->argc - first : (uint32_t)nk;
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            lua_pushlstring(L, r->argv[first + i].ptr, r->argv[first + i].len);
            lua_rawseti(L, -2, (int)i + 1);
        }
    }
}

/* A run of the function on the stack of se->L (popped), named name in its errors, with
 * its coroutine ready (the function on it), or NULL after replying and ending r. */
static struct script_run *run_new(struct req *r, struct script_eng *se, const char *name, int ro,
                                  int batching)
{
    lua_State *L = se->L;
    struct script_run *sr = calloc(1, sizeof(*sr));
    if (sr == NULL || txn_unit_begin(r, sr, batching) < 0) {
        free(sr);
        lua_pop(L, 1);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return NULL;
    }
    sr->r = r;
    sr->db = r->db;
    sr->resp = 2;
    sr->ro = ro;
    sr->env_ref = LUA_NOREF;
    sr->start_ms = server_mono_ms();
    snprintf(sr->fname, sizeof(sr->fname), "%.42s", name);
    pbuf_init(&sr->out, r->c->srv->cfg.client_output_buffer_limit);
    sr->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sr->co = lua_newthread(L);
    sr->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(sr->co, line_hook, LUA_MASKLINE | LUA_MASKCOUNT, 100000);
    lua_rawgeti(sr->co, LUA_REGISTRYINDEX, sr->fn_ref);
    r->c->srv->stats.scripts_run++;
    return sr;
}

/* EVAL: runs the function on the stack of se->L with KEYS and ARGV in its environment. */
static void run_start(struct req *r, struct script_eng *se, const char *sha, int ro, int batching,
                      int oom_guard)
{
    struct script_run *sr = run_new(r, se, sha, ro, batching);
    if (sr == NULL)
        return;
    sr->oom_guard = oom_guard;
    lua_State *L = se->L;
    lua_newtable(L); /* the run's environment */
    push_key_args(L, r);
    lua_setfield(L, -3, "ARGV");
    lua_setfield(L, -2, "KEYS");
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->protect);
    lua_setmetatable(L, -2);
    sr->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    run_resume(sr, 0);
}

static int eval_args(struct req *r)
{
    long long nk;
    if (cmd_arg_ll(&r->argv[2], &nk) < 0) {
        reply_error(r, ERR_NOT_INT);
        return -1;
    }
    if (nk > (long long)r->argc - 3) {
        reply_error(r, "ERR Number of keys can't be greater than number of args");
        return -1;
    }
    if (nk < 0) {
        reply_error(r, "ERR Number of keys can't be negative");
        return -1;
    }
    return 0;
}

static void eval_generic(struct req *r, int by_sha, int ro)
{
    struct script_eng *se = eng_get(r->c->srv);
    const struct resp_arg *body = &r->argv[1];
    char sha[41];
    if (eval_args(r) < 0) {
        req_done(r);
        return;
    }
    if (se == NULL) {
        reply_error(r, "ERR scripting is not available (out of memory)");
        req_done(r);
        return;
    }
    if (by_sha) {
        snprintf(sha, sizeof(sha), "%.*s", (int)(body->len < 40 ? body->len : 40), body->ptr);
        find_fn(se, sha);
        if (lua_isnil(se->L, -1) || body->len != 40) {
            lua_pop(se->L, 1);
            reply_error(r, ERR_NOSCRIPT);
            req_done(r);
            return;
        }
        for (int i = 0; i < 40; i++)
            sha[i] = (char)((sha[i] >= 'A' && sha[i] <= 'Z') ? sha[i] + 32 : sha[i]);
    } else {
        sha1_hex(body->ptr, body->len, sha);
        find_fn(se, sha);
        if (lua_isnil(se->L, -1)) {
            lua_pop(se->L, 1);
            char err[512];
            if (compile(se, body->ptr, body->len, sha, err, sizeof(err)) < 0) {
                reply_error(r, err);
                req_done(r);
                return;
            }
        }
    }
    /* a body that names a whole-database command writes through (compile() noted it, for
     * EVALSHA too) */
    int flags = script_flags(se);
    int batching = !(flags & SF_WHOLE_DB);
    const char *why = NULL;
    if ((flags & SF_NO_CLUSTER) && r->c->srv->cfg.cluster_enabled)
        why = "ERR Can not run script on cluster, 'no-cluster' flag is set.";
    else if (ro && !(flags & (SF_COMPAT | SF_NO_WRITES)))
        why = "ERR Can not execute a script with write flag using *_ro command.";
    else if (!(flags & (SF_COMPAT | SF_ALLOW_OOM | SF_NO_WRITES)) && server_oom(r->c->srv))
        why = "OOM allow-oom flag is not set on the script, can not run it when used memory > "
              "'maxmemory'";
    if (why) {
        lua_pop(se->L, 1);
        reply_error(r, why);
        req_done(r);
        return;
    }
    int allow_oom = !(flags & SF_COMPAT) && (flags & SF_ALLOW_OOM);
    run_start(r, se, sha, ro || (flags & SF_NO_WRITES), batching,
              server_oom(r->c->srv) && !allow_oom);
}

void cmd_script_eval(struct req *r)
{
    eval_generic(r, 0, 0);
}

void cmd_script_evalsha(struct req *r)
{
    eval_generic(r, 1, 0);
}

void cmd_script_eval_ro(struct req *r)
{
    eval_generic(r, 0, 1);
}

void cmd_script_evalsha_ro(struct req *r)
{
    eval_generic(r, 1, 1);
}

/* "ERR wrong number of arguments for '<container>|<sub>' command". */
static void sub_arity_error(struct req *r, const char *container)
{
    char low[32];
    size_t i;
    const struct resp_arg *sub = &r->argv[1];
    for (i = 0; i < sub->len && i < sizeof(low) - 1; i++)
        low[i] =
            (char)((sub->ptr[i] >= 'A' && sub->ptr[i] <= 'Z') ? sub->ptr[i] + 32 : sub->ptr[i]);
    low[i] = '\0';
    reply_errorf(r, "ERR wrong number of arguments for '%s|%s' command", container, low);
}

/* A HELP reply: lines as status replies. */
static void reply_help(struct req *r, const char *const *lines, size_t n)
{
    reply_array(r, n);
    for (size_t i = 0; i < n; i++)
        reply_simple(r, lines[i]);
}

void cmd_script_script(struct req *r)
{
    struct script_eng *se = eng_get(r->c->srv);
    const struct resp_arg *sub = &r->argv[1];
    if (se == NULL) {
        reply_error(r, "ERR scripting is not available (out of memory)");
    } else if (cmd_arg_is(sub, "load") && r->argc == 3) {
        char sha[41];
        sha1_hex(r->argv[2].ptr, r->argv[2].len, sha);
        find_fn(se, sha);
        int known = !lua_isnil(se->L, -1);
        lua_pop(se->L, 1);
        char err[512];
        if (!known && compile(se, r->argv[2].ptr, r->argv[2].len, sha, err, sizeof(err)) < 0) {
            reply_error(r, err);
        } else {
            if (!known)
                lua_pop(se->L, 1);
            reply_bulk(r, sha, 40);
        }
    } else if (cmd_arg_is(sub, "exists") && r->argc >= 3) {
        reply_array(r, r->argc - 2);
        for (uint32_t i = 2; i < r->argc; i++) {
            int known = 0;
            if (r->argv[i].len == 40) {
                find_fn(se, r->argv[i].ptr);
                known = !lua_isnil(se->L, -1);
                lua_pop(se->L, 1);
            }
            reply_int(r, known);
        }
    } else if (cmd_arg_is(sub, "flush") && r->argc <= 3) {
        if (r->argc == 3 && !cmd_arg_is(&r->argv[2], "async") && !cmd_arg_is(&r->argv[2], "sync")) {
            reply_error(r, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        } else {
            /* runs in progress keep their functions (referenced) */
            luaL_unref(se->L, LUA_REGISTRYINDEX, se->fns);
            lua_newtable(se->L);
            se->fns = luaL_ref(se->L, LUA_REGISTRYINDEX);
            se->nscripts = 0;
            lua_gc(se->L, LUA_GCCOLLECT, 0);
            reply_ok(r);
        }
    } else if (cmd_arg_is(sub, "kill") && r->argc == 2) {
        script_kill(r, se, 1);
    } else if (cmd_arg_is(sub, "help") && r->argc == 2) {
        static const char *const help[] = {
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help."};
        reply_help(r, help, sizeof(help) / sizeof(help[0]));
    } else if (cmd_arg_is(sub, "load") || cmd_arg_is(sub, "exists") || cmd_arg_is(sub, "flush") ||
               cmd_arg_is(sub, "kill") || cmd_arg_is(sub, "help")) {
        sub_arity_error(r, "script");
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try SCRIPT HELP.", sub->ptr);
    }
    req_done(r);
}

uint64_t script_count(const struct server *s)
{
    return s->scripts ? s->scripts->nscripts : 0;
}

/* ---- FUNCTION and FCALL ---- */

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static const char ERR_NAMES[] = "Library names can only contain letters, numbers, or "
                                "underscores(_) and must be at least one character long";

/* The flags of redis.register_function's named form: 1 when no-writes is among them, 0,
 * or -1 for an unknown flag. The flags table is on the stack top. */
static int register_flags(lua_State *L)
{
    int ro = 0;
    if (!lua_istable(L, -1))
        return 0;
    for (int i = 1;; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return ro;
        }
        size_t fl;
        const char *f = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &fl) : NULL;
        int flag = f ? shebang_flag(f, fl) : 0; /* the flags of shebangs */
        lua_pop(L, 1);
        if (flag == 0)
            return -1;
        ro |= flag == SF_NO_WRITES;
    }
}

/* redis.register_function(name, fn) or redis.register_function{function_name=,
 * callback=, flags=}: only while FUNCTION LOAD runs the library. */
static int l_register_function(lua_State *L)
{
    struct script_eng *se = eng_of(L);
    const char *err = NULL;
    int argc = lua_gettop(L), ro = 0;
    if (se->loading == LUA_NOREF)
        err = "redis.register_function can only be called on FUNCTION LOAD command";
    else if (argc < 1 || argc > 2)
        err = "wrong number of arguments to redis.register_function";
    else if (argc == 1 && !lua_istable(L, 1))
        err = "calling redis.register_function with a single argument is only applicable to "
              "Lua table (representing named arguments).";
    if (!err && argc == 1) { /* named arguments: leave name, callback */
        lua_getfield(L, 1, "function_name");
        lua_getfield(L, 1, "callback");
        lua_getfield(L, 1, "flags");
        ro = register_flags(L);
        lua_pop(L, 1);
        lua_remove(L, 1);
        if (ro < 0)
            err = "unknown flag given";
    }
    if (!err && lua_type(L, 1) != LUA_TSTRING)
        err = "first argument to redis.register_function must be a string";
    if (!err && !lua_isfunction(L, 2))
        err = argc == 1 ? "redis.register_function must get a callback argument"
                        : "second argument to redis.register_function must be a function";
    size_t n = 0;
    const char *name = err ? NULL : lua_tolstring(L, 1, &n);
    if (!err && !valid_name(name, n))
        err = ERR_NAMES;
    if (!err) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, se->loading);
        lua_getfield(L, -1, name);
        if (!lua_isnil(L, -1))
            err = "Function already exists in the library";
        lua_pop(L, 1);
        if (!err) {
            lua_createtable(L, 0, 2);
            lua_pushvalue(L, 2);
            lua_setfield(L, -2, "fn");
            lua_pushboolean(L, ro);
            lua_setfield(L, -2, "ro");
            lua_setfield(L, -2, name);
        }
        lua_pop(L, 1);
    }
    if (err) {
        push_error(L, err);
        return lua_error(L);
    }
    return 0;
}

/* Parses "#!<engine> name=<lib>", a library's first line. Returns the name's length (its
 * start in *name), or -1 with the error written to err. */
static int lib_metadata(const char *code, size_t n, const char **name, char *err, size_t errlen)
{
    const char *nl = n >= 2 ? memchr(code, '\n', n) : NULL;
    if (n < 2 || code[0] != '#' || code[1] != '!') {
        snprintf(err, errlen, "ERR Missing library metadata");
        return -1;
    }
    if (nl == NULL) {
        snprintf(err, errlen, "ERR Invalid library metadata");
        return -1;
    }
    const char *p = code + 2, *end = nl, *eng = p;
    while (p < end && *p != ' ')
        p++;
    int englen = (int)(p - eng), namelen = -1;
    for (;;) {
        while (p < end && *p == ' ')
            p++;
        const char *part = p;
        while (p < end && *p != ' ')
            p++;
        if (p == part)
            break;
        if (p - part >= 5 && strncasecmp(part, "name=", 5) == 0) {
            if (namelen >= 0) {
                snprintf(err, errlen,
                         "ERR Invalid metadata value, name argument was given "
                         "multiple times");
                return -1;
            }
            *name = part + 5;
            namelen = (int)(p - part - 5);
        } else {
            snprintf(err, errlen, "ERR Invalid metadata value given: %.*s", (int)(p - part), part);
            return -1;
        }
    }
    if (namelen < 0)
        snprintf(err, errlen, "ERR Library name was not given");
    else if (!valid_name(*name, (size_t)namelen))
        snprintf(err, errlen, "ERR %s", ERR_NAMES);
    else if (englen != 3 || strncasecmp(eng, "lua", 3) != 0)
        snprintf(err, errlen, "ERR Engine '%.*s' not found", englen, eng);
    else
        return namelen;
    return -1;
}

/* Pushes the lowercase of the string at idx: the key of a function in se->funcs (function
 * names are case-insensitive, as in Redis). */
static void push_func_key(lua_State *L, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++)
        luaL_addchar(&b, (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]));
    luaL_pushresult(&b);
}

/* Removes library lib and its functions. */
static void lib_unlink(struct script_eng *se, const char *lib)
{
    lua_State *L = se->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    lua_getfield(L, -1, lib);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "functions");
        lua_rawgeti(L, LUA_REGISTRYINDEX, se->funcs);
        for (lua_pushnil(L); lua_next(L, -3); lua_pop(L, 1)) {
            push_func_key(L, -2);
            lua_pushnil(L);
            lua_rawset(L, -5);
        }
    }
    lua_settop(L, top + 1);
    lua_pushnil(L);
    lua_setfield(L, -2, lib);
    lua_settop(L, top);
}

/* The library environment FUNCTION LOAD runs in: its own redis table offers
 * register_function and log while it loads; afterwards that table is removed, and the
 * library's functions see the full redis table of the globals. */
static void push_load_env(struct script_eng *se)
{
    static const char *const lv[] = {"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"};
    lua_State *L = se->L;
    lua_newtable(L);
    lua_createtable(L, 0, 6);
    lua_pushcfunction(L, l_register_function);
    lua_setfield(L, -2, "register_function");
    lua_pushcfunction(L, l_log);
    lua_setfield(L, -2, "log");
    for (int i = 0; i < 4; i++) {
        lua_pushnumber(L, i);
        lua_setfield(L, -2, lv[i]);
    }
    lua_createtable(L, 0, 1); /* redis.call and the rest do not exist while loading */
    lua_pushcfunction(L, luasandbox_undefined);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "redis");
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->protect);
    lua_setmetatable(L, -2);
}

/* Registers the functions collected in the table at index fns as library lib (code).
 * Returns 0, or -1 with the error reply in err. */
static int lib_register(struct script_eng *se, int fns, const char *lib, const char *code,
                        size_t code_len, int replacing, char *err, size_t errlen)
{
    lua_State *L = se->L;
    size_t count = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->funcs);
    int funcs = lua_gettop(L);
    for (lua_pushnil(L); lua_next(L, fns); lua_pop(L, 1)) {
        count++;
        push_func_key(L, -2);
        lua_rawget(L, funcs);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "lib");
            int same = replacing && strcmp(lua_tostring(L, -1), lib) == 0;
            lua_pop(L, 1);
            if (!same) {
                snprintf(err, errlen, "ERR Function %s already exists", lua_tostring(L, -3));
                return -1;
            }
        }
        lua_pop(L, 1);
    }
    if (count == 0) {
        snprintf(err, errlen, "ERR No functions registered");
        return -1;
    }
    if (replacing)
        lib_unlink(se, lib);
    lua_createtable(L, 0, 3); /* the library */
    lua_pushlstring(L, code, code_len);
    lua_setfield(L, -2, "code");
    lua_pushboolean(L, body_mentions(code, code_len, SELECT_WORDS));
    lua_setfield(L, -2, "select");
    lua_newtable(L);
    int names = lua_gettop(L);
    for (lua_pushnil(L); lua_next(L, fns); lua_pop(L, 1)) {
        lua_pushstring(L, lib);
        lua_setfield(L, -2, "lib");
        push_func_key(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, funcs);
        lua_pushvalue(L, -2);
        lua_pushboolean(L, 1);
        lua_rawset(L, names);
    }
    lua_setfield(L, -2, "functions");
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    lua_insert(L, -2);
    lua_setfield(L, -2, lib);
    return 0;
}

/* Runs library code[0..n) (FUNCTION LOAD [REPLACE], FUNCTION RESTORE) and registers its
 * functions. Returns 0 with the library's name in lib (libsize bytes), or -1 with the
 * error reply in err. */
static int lib_load(struct script_eng *se, const char *code, size_t n, int replace, char *lib,
                    size_t libsize, char *err, size_t errlen)
{
    lua_State *L = se->L;
    const char *name = NULL;
    int top = lua_gettop(L);
    int nl = lib_metadata(code, n, &name, err, errlen);
    if (nl < 0 || (size_t)nl >= libsize) {
        if (nl >= 0)
            snprintf(err, errlen, "ERR Invalid library metadata");
        return -1;
    }
    memcpy(lib, name, (size_t)nl);
    lib[nl] = '\0';
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    lua_getfield(L, -1, lib);
    int exists = !lua_isnil(L, -1);
    lua_settop(L, top);
    if (exists && !replace) {
        snprintf(err, errlen, "ERR Library '%s' already exists", lib);
        return -1;
    }
    const char *body = memchr(code, '\n', n); /* keeps the line numbers */
    if (luaL_loadbufferx(L, body, n - (size_t)(body - code), "@user_function", "t")) {
        snprintf(err, errlen, "ERR Error compiling function: %s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    push_load_env(se);
    lua_pushvalue(L, -1);
    int env = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setfenv(L, -2);
    lua_newtable(L);
    se->loading = luaL_ref(L, LUA_REGISTRYINDEX);
    int rc = lua_pcall(L, 0, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, env);
    lua_pushnil(L);
    lua_setfield(L, -2, "redis");
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, env);
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->loading);
    luaL_unref(L, LUA_REGISTRYINDEX, se->loading);
    se->loading = LUA_NOREF;
    if (rc) { /* a Lua error gets ERR, as Redis's error handler gives it */
        const char *msg = lua_tostring(L, -2), *errcode = "ERR ";
        if (lua_istable(L, -2)) {
            lua_getfield(L, -2, "err");
            msg = lua_tostring(L, -1);
            errcode = "";
        }
        snprintf(err, errlen, "ERR Error registering functions: %s%s", errcode,
                 msg ? msg : "unknown error");
    } else {
        rc = lib_register(se, lua_gettop(L), lib, code, n, exists, err, errlen);
    }
    lua_settop(L, top);
    return rc ? -1 : 0;
}

/* FUNCTION LOAD [REPLACE] code. Replies. */
static void function_load(struct req *r, struct script_eng *se, const struct resp_arg *code,
                          int replace)
{
    char err[512], lib[256];
    if (lib_load(se, code->ptr, code->len, replace, lib, sizeof(lib), err, sizeof(err)) < 0)
        reply_error(r, err);
    else
        reply_bulk(r, lib, strlen(lib));
}

/* One library of FUNCTION LIST (its table on the stack top, its name k). */
static void list_library(struct req *r, struct script_eng *se, const char *k, size_t kl,
                         int withcode)
{
    lua_State *L = se->L;
    reply_map(r, withcode ? 4 : 3);
    reply_cstr(r, "library_name");
    reply_bulk(r, k, kl);
    reply_cstr(r, "engine");
    reply_cstr(r, "LUA");
    reply_cstr(r, "functions");
    lua_getfield(L, -1, "functions");
    size_t nf = 0;
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
        nf++;
    reply_array(r, nf);
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->funcs);
    for (lua_pushnil(L); lua_next(L, -3); lua_pop(L, 1)) {
        size_t fl;
        const char *f = lua_tolstring(L, -2, &fl);
        push_func_key(L, -2);
        lua_rawget(L, -4);
        lua_getfield(L, -1, "ro");
        int ro = lua_toboolean(L, -1);
        lua_pop(L, 2);
        reply_map(r, 3);
        reply_cstr(r, "name");
        reply_bulk(r, f, fl);
        reply_cstr(r, "description");
        reply_null(r);
        reply_cstr(r, "flags");
        reply_set(r, (size_t)ro);
        if (ro)
            reply_simple(r, "no-writes");
    }
    lua_pop(L, 2);
    if (withcode) {
        reply_cstr(r, "library_code");
        lua_getfield(L, -1, "code");
        size_t cl;
        const char *c = lua_tolstring(L, -1, &cl);
        reply_bulk(r, c, cl);
        lua_pop(L, 1);
    }
}

/* FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]. */
static void function_list(struct req *r, struct script_eng *se)
{
    lua_State *L = se->L;
    int withcode = 0, top = lua_gettop(L);
    const struct resp_arg *pat = NULL;
    for (uint32_t i = 2; i < r->argc; i++) {
        if (cmd_arg_is(&r->argv[i], "withcode")) {
            withcode = 1;
        } else if (cmd_arg_is(&r->argv[i], "libraryname") && !pat) {
            if (i + 1 >= r->argc) {
                reply_error(r, "ERR library name argument was not given");
                return;
            }
            pat = &r->argv[++i];
        } else {
            reply_errorf(r, "ERR Unknown argument %s", r->argv[i].ptr);
            return;
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    size_t n = 0, kl;
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        const char *k = lua_tolstring(L, -2, &kl);
        n += !pat || glob_match(pat->ptr, pat->len, k, kl, 0);
    }
    reply_array(r, n);
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        const char *k = lua_tolstring(L, -2, &kl);
        if (!pat || glob_match(pat->ptr, pat->len, k, kl, 0))
            list_library(r, se, k, kl, withcode);
    }
    lua_settop(L, top);
}

static size_t table_size(lua_State *L, int ref)
{
    size_t n = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
        n++;
    lua_pop(L, 1);
    return n;
}

/* FUNCTION STATS: running_script is the function keeping other clients waiting (-BUSY),
 * as Redis reports the one running; an EVAL there gets -BUSY as in Redis. */
static void function_stats(struct req *r, struct script_eng *se)
{
    const struct script_run *sr = se->busy;
    if (sr && sr->env_ref != LUA_NOREF) {
        reply_error(r, ERR_BUSY_EVAL);
        return;
    }
    reply_map(r, 2);
    reply_cstr(r, "running_script");
    if (sr == NULL) {
        reply_null(r);
    } else {
        reply_map(r, 3);
        reply_cstr(r, "name");
        reply_cstr(r, sr->fname);
        reply_cstr(r, "command");
        reply_array(r, sr->r->argc);
        for (uint32_t i = 0; i < sr->r->argc; i++)
            reply_bulk(r, sr->r->argv[i].ptr, sr->r->argv[i].len);
        reply_cstr(r, "duration_ms");
        reply_int(r, (int64_t)(server_mono_ms() - sr->start_ms));
    }
    reply_cstr(r, "engines");
    reply_map(r, 1);
    reply_cstr(r, "LUA");
    reply_map(r, 2);
    reply_cstr(r, "libraries_count");
    reply_int(r, (int64_t)table_size(se->L, se->libs));
    reply_cstr(r, "functions_count");
    reply_int(r, (int64_t)table_size(se->L, se->funcs));
}

static void function_flush(struct script_eng *se)
{
    lua_State *L = se->L;
    luaL_unref(L, LUA_REGISTRYINDEX, se->libs);
    luaL_unref(L, LUA_REGISTRYINDEX, se->funcs);
    lua_newtable(L);
    se->libs = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    se->funcs = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_gc(L, LUA_GCCOLLECT, 0);
}

/* ---- FUNCTION DUMP and RESTORE ---- */

/* Payloads are Redis 7.0's own (rdbstr.h): a FUNCTION DUMP of either server restores in
 * the other. Each library is [RDB_OPCODE_FUNCTION2][its code as an RDB string], then
 * the RDB version and a CRC64 of all before. */
#define RDB_OPCODE_FUNCTION2 245

int script_functions_rdb(struct server *s, uint8_t **out, size_t *out_len)
{
    struct script_eng *se = s->scripts;
    size_t total = 10, len = 0, n;
    if (se == NULL) { /* no script ever ran: no library */
        *out = malloc(total);
        *out_len = 0;
        return *out ? 0 : -ENOMEM;
    }
    lua_State *L = se->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        lua_getfield(L, -1, "code");
        total += 1 + 9 + lua_objlen(L, -1);
        lua_pop(L, 1);
    }
    uint8_t *buf = malloc(total);
    if (buf == NULL) {
        lua_settop(L, top);
        return -ENOMEM;
    }
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        lua_getfield(L, -1, "code");
        const char *code = lua_tolstring(L, -1, &n);
        buf[len++] = RDB_OPCODE_FUNCTION2;
        len += rdbstr_put_string(buf + len, code, n);
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    *out = buf;
    *out_len = len;
    return 0;
}

/* FUNCTION DUMP. Replies. */
static void function_dump(struct req *r)
{
    uint8_t *out;
    size_t len;
    if (script_functions_rdb(r->c->srv, &out, &len) < 0) {
        reply_error(r, "ERR out of memory");
        return;
    }
    len = rdbstr_put_footer(out, len);
    reply_bulk(r, out, len);
    free(out);
}

/* A registry ref to a shallow copy of the table of ref. */
static int copy_table(lua_State *L, int ref)
{
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, -6);
    }
    lua_pop(L, 1);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

enum restore_policy { RESTORE_APPEND, RESTORE_REPLACE, RESTORE_FLUSH };

/* Before loading a library of a RESTORE (code[0..n)): under APPEND a library of that
 * name must not exist; under REPLACE the existing one goes (not one this RESTORE loaded:
 * loading it again fails as a duplicate). Returns 0, or -1 with err set. */
static int restore_make_room(struct script_eng *se, const char *code, size_t n,
                             enum restore_policy policy, int loaded, char *err, size_t errlen)
{
    lua_State *L = se->L;
    const char *name;
    char lib[256];
    int nl = lib_metadata(code, n, &name, err, errlen);
    if (nl < 0 || (size_t)nl >= sizeof(lib) || policy == RESTORE_FLUSH)
        return 0; /* lib_load reports a bad header */
    memcpy(lib, name, (size_t)nl);
    lib[nl] = '\0';
    lua_rawgeti(L, LUA_REGISTRYINDEX, loaded);
    lua_getfield(L, -1, lib);
    int mine = !lua_isnil(L, -1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->libs);
    lua_getfield(L, -1, lib);
    int exists = !lua_isnil(L, -1);
    lua_pop(L, 4);
    if (!exists || mine)
        return 0;
    if (policy == RESTORE_APPEND) {
        snprintf(err, errlen, "ERR Library %s already exists", lib);
        return -1;
    }
    lib_unlink(se, lib);
    return 0;
}

/* Loads every library of payload p[0..n) (its footer checked; each library's code at most
 * max_code bytes). Returns 0, or -1 with err set; the libraries are then in an
 * undefined state (the caller restores them). */
static int restore_libraries(struct script_eng *se, const uint8_t *p, size_t n, size_t max_code,
                             enum restore_policy policy, char *err, size_t errlen)
{
    lua_State *L = se->L;
    size_t pos = 0, end = n - 10;
    int rc = 0;
    lua_newtable(L); /* the names this RESTORE loaded */
    int loaded = luaL_ref(L, LUA_REGISTRYINDEX);
    while (rc == 0 && pos < end) {
        uint8_t *code;
        size_t len;
        char lib[256];
        if (p[pos++] != RDB_OPCODE_FUNCTION2) {
            snprintf(err, errlen, "ERR given type is not a function");
            rc = -1;
        } else if (rdbstr_read_string(p, n, &pos, max_code, &code, &len) != RDBSTR_OK) {
            snprintf(err, errlen, "ERR failed loading the given functions payload");
            rc = -1;
        } else {
            rc = restore_make_room(se, (char *)code, len, policy, loaded, err, errlen);
            if (rc == 0)
                rc = lib_load(se, (char *)code, len, 0, lib, sizeof(lib), err, errlen);
            if (rc == 0) {
                lua_rawgeti(L, LUA_REGISTRYINDEX, loaded);
                lua_pushboolean(L, 1);
                lua_setfield(L, -2, lib);
                lua_pop(L, 1);
            }
            free(code);
        }
    }
    luaL_unref(L, LUA_REGISTRYINDEX, loaded);
    return rc;
}

/* FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all the payload's libraries, or none
 * (the tables of libraries and functions are copied first and put back on an error).
 * Replies. */
static void function_restore(struct req *r, struct script_eng *se)
{
    lua_State *L = se->L;
    enum restore_policy policy = RESTORE_APPEND;
    const struct resp_arg *pl = &r->argv[2];
    char err[512];
    if (r->argc > 4) {
        reply_errorf(r,
                     "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try "
                     "FUNCTION HELP.",
                     r->argv[1].ptr);
        return;
    }
    if (r->argc == 4 && cmd_arg_is(&r->argv[3], "replace"))
        policy = RESTORE_REPLACE;
    else if (r->argc == 4 && cmd_arg_is(&r->argv[3], "flush"))
        policy = RESTORE_FLUSH;
    else if (r->argc == 4 && !cmd_arg_is(&r->argv[3], "append")) {
        reply_error(r, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or "
                       "REPLACE.");
        return;
    }
    if (rdbstr_check_footer((const uint8_t *)pl->ptr, pl->len) != RDBSTR_OK) {
        reply_error(r, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    int old_libs = copy_table(L, se->libs), old_funcs = copy_table(L, se->funcs);
    if (policy == RESTORE_FLUSH)
        function_flush(se);
    /* a library decompressed is no longer than a FUNCTION LOAD could send */
    size_t max_code = (size_t)r->c->srv->cfg.proto_max_bulk_len;
    if (restore_libraries(se, (const uint8_t *)pl->ptr, pl->len, max_code, policy, err,
                          sizeof(err)) < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, se->libs);
        luaL_unref(L, LUA_REGISTRYINDEX, se->funcs);
        se->libs = old_libs;
        se->funcs = old_funcs;
        reply_error(r, err);
        return;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, old_libs);
    luaL_unref(L, LUA_REGISTRYINDEX, old_funcs);
    reply_ok(r);
}

static void function_help(struct req *r)
{
    static const char *const help[] = {
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME "
        "argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored "
        "using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a "
        "restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
        "abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
        "replace the old",
        "      libraries with the new libraries (notice that even on this option there is a "
        "chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help."};
    reply_help(r, help, sizeof(help) / sizeof(help[0]));
}

void cmd_script_function(struct req *r)
{
    struct script_eng *se = eng_get(r->c->srv);
    const struct resp_arg *sub = &r->argv[1];
    int replace = r->argc == 4 && cmd_arg_is(&r->argv[2], "replace");
    if (se == NULL) {
        reply_error(r, "ERR scripting is not available (out of memory)");
    } else if (cmd_arg_is(sub, "load") && r->argc >= 3) {
        if (r->argc > 4 || (r->argc == 4 && !replace))
            reply_errorf(r, "ERR Unknown option given: %s", r->argv[2].ptr);
        else
            function_load(r, se, &r->argv[r->argc - 1], replace);
    } else if (cmd_arg_is(sub, "delete") && r->argc == 3) {
        lua_rawgeti(se->L, LUA_REGISTRYINDEX, se->libs);
        lua_getfield(se->L, -1, r->argv[2].ptr);
        int exists = !lua_isnil(se->L, -1);
        lua_pop(se->L, 2);
        if (exists)
            lib_unlink(se, r->argv[2].ptr);
        if (exists)
            reply_ok(r);
        else
            reply_error(r, "ERR Library not found");
    } else if (cmd_arg_is(sub, "flush") && r->argc <= 3) {
        if (r->argc == 3 && !cmd_arg_is(&r->argv[2], "async") && !cmd_arg_is(&r->argv[2], "sync")) {
            reply_error(r, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        } else {
            function_flush(se);
            reply_ok(r);
        }
    } else if (cmd_arg_is(sub, "list")) {
        function_list(r, se);
    } else if (cmd_arg_is(sub, "kill") && r->argc == 2) {
        script_kill(r, se, 0);
    } else if (cmd_arg_is(sub, "stats") && r->argc == 2) {
        function_stats(r, se);
    } else if (cmd_arg_is(sub, "dump") && r->argc == 2) {
        function_dump(r);
    } else if (cmd_arg_is(sub, "help") && r->argc == 2) {
        function_help(r);
    } else if (cmd_arg_is(sub, "restore") && r->argc >= 3) {
        function_restore(r, se);
    } else if (cmd_arg_is(sub, "load") || cmd_arg_is(sub, "delete") || cmd_arg_is(sub, "flush") ||
               cmd_arg_is(sub, "kill") || cmd_arg_is(sub, "stats") || cmd_arg_is(sub, "dump") ||
               cmd_arg_is(sub, "restore") || cmd_arg_is(sub, "help")) {
        sub_arity_error(r, "function");
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try FUNCTION HELP.", sub->ptr);
    }
    req_done(r);
}

/* Pushes funcs[name] (or nil). */
static void find_function(struct script_eng *se, const char *name)
{
    lua_rawgeti(se->L, LUA_REGISTRYINDEX, se->funcs);
    lua_pushstring(se->L, name);
    push_func_key(se->L, -1);
    lua_remove(se->L, -2);
    lua_rawget(se->L, -2);
    lua_remove(se->L, -2);
}

/* FCALL's checks: NULL, or the error (the function's entry is on the stack top). */
static const char *fcall_refused(struct req *r, lua_State *L, int ro, long long *nk)
{
    if (!lua_istable(L, -1))
        return "ERR Function not found";
    if (cmd_arg_ll(&r->argv[2], nk) < 0)
        return "ERR Bad number of keys provided";
    if (*nk > (long long)r->argc - 3)
        return "ERR Number of keys can't be greater than number of args";
    if (*nk < 0)
        return "ERR Number of keys can't be negative";
    lua_getfield(L, -1, "ro");
    int fro = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (ro && !fro)
        return "ERR Can not execute a script with write flag using *_ro command.";
    return NULL;
}

static void fcall_generic(struct req *r, int ro)
{
    struct script_eng *se = eng_get(r->c->srv);
    long long nk = 0;
    const char *why = "ERR scripting is not available (out of memory)";
    if (se) {
        find_function(se, r->argv[1].ptr);
        why = fcall_refused(r, se->L, ro, &nk);
        if (why)
            lua_pop(se->L, 1);
    }
    if (why) {
        reply_error(r, why);
        req_done(r);
        return;
    }
    lua_State *L = se->L;
    lua_getfield(L, -1, "ro");
    int fro = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "fn");
    lua_remove(L, -2);
    struct script_run *sr = run_new(r, se, r->argv[1].ptr, ro || fro, 1);
    if (sr == NULL)
        return;
    push_key_args(sr->co, r); /* FCALL passes keys and args as arguments */
    run_resume(sr, 2);
}

void cmd_script_fcall(struct req *r)
{
    fcall_generic(r, 0);
}

void cmd_script_fcall_ro(struct req *r)
{
    fcall_generic(r, 1);
}
