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
 * and ARGV over the protected globals (a script may not create globals, and reading an
 * undefined one is an error, as in Redis 7).
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
 * Not here: SCRIPT KILL and the busy-script time limit (a script that loops without
 * calling Redis blocks the server, as Redis's does before lua-time-limit), FUNCTION/FCALL,
 * and the cjson, cmsgpack and struct libraries.
 */
#include "script.h"

#include <errno.h>
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
#include "log.h"
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
    struct req *waiting; /* the command the coroutine yielded for */
    char fname[43];      /* the name errors give: its sha */
    struct pbuf out;     /* the script's reply, sent once its writes are acknowledged */
};

static const char *const ERR_NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL.";

/* ---- the interpreter ---- */

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

static int l_undefined(lua_State *L)
{
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* Pushes {field = s}: the table form of an error or status reply. */
static void push_field_table(lua_State *L, const char *field, const char *s, size_t n)
{
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, field);
}

/* Pushes an error table for msg, as luaPushError: "-CODE msg" keeps its code, a bare
 * message gets ERR. */
static void push_error(lua_State *L, const char *msg)
{
    char buf[512];
    if (msg[0] == '-')
        snprintf(buf, sizeof(buf), "%s", msg + 1);
    else
        snprintf(buf, sizeof(buf), "ERR %s", msg);
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

static struct script_eng *eng_of(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "logstor.eng");
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
    "pcall = function(f, ...) return caught(rawpcall(f, ...)) end\n"
    "loadfile, dofile, print = nil, nil, nil\n";

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
    lua_pushlightuserdata(L, se);
    lua_setfield(L, LUA_REGISTRYINDEX, "logstor.eng");
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
    /* globals: read-only, and reading an undefined one is an error */
    lua_newtable(L);
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_undefined);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, LUA_GLOBALSINDEX);
    /* a run's environment: KEYS and ARGV of its own, then the globals */
    lua_newtable(L);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    se->protect = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    se->fns = luaL_ref(L, LUA_REGISTRYINDEX);
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

/* Compiles body under its sha and leaves the function on the stack. Returns 0, or -1
 * with the error message on the stack. */
static int compile(struct script_eng *se, const char *body, size_t n, const char *sha)
{
    lua_State *L = se->L;
    if (luaL_loadbuffer(L, body, n, "@user_script"))
        return -1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->fns);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, sha);
    lua_pop(L, 1);
    se->nscripts++;
    return 0;
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
    case '-':
        push_field_table(L, "err", s, n);
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
        resp_w_errorf(o, "%s script: %s, on @user_script:%d.", msg, sr->fname, line);
    else
        resp_w_error(o, msg);
}

static int table_to_resp(lua_State *L, struct pbuf *o, int proto, int sresp, int depth)
{
    lua_getfield(L, -1, "err");
    if (lua_type(L, -1) == LUA_TSTRING) {
        int rc = resp_w_error(o, lua_tostring(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "ok");
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
        lua_getfield(L, -1, "double");
        if (lua_type(L, -1) == LUA_TNUMBER) {
            int rc = resp_w_double(o, proto, lua_tonumber(L, -1));
            lua_pop(L, 1);
            return rc;
        }
        lua_pop(L, 1);
        lua_getfield(L, -1, "map");
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
        lua_getfield(L, -1, "set");
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

/* The line of the innermost frame of the user's script on co's stack (0: none). */
static int user_line(lua_State *co)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && strcmp(ar.source, "@user_script") == 0)
            return ar.currentline;
    }
    return 0;
}

/* The line hook: the last line of the user's script that ran. A tail call (`return
 * redis.call(...)`) leaves no frame of the script on the stack, yet Redis names its line. */
static void line_hook(lua_State *L, lua_Debug *ar)
{
    struct script_run *sr = eng_of(L)->cur;
    if (sr && lua_getinfo(L, "S", ar) && ar->source[0] == '@' &&
        strcmp(ar->source, "@user_script") == 0)
        sr->line = ar->currentline;
}

static void run_resume(struct script_run *sr, int nargs)
{
    struct script_eng *se = sr->r->c->srv->scripts;
    lua_State *co = sr->co;
    se->cur = sr;
    lua_rawgeti(co, LUA_REGISTRYINDEX, sr->env_ref); /* the env is the function's, per run */
    lua_rawgeti(co, LUA_REGISTRYINDEX, sr->fn_ref);
    lua_insert(co, -2);
    lua_setfenv(co, -2);
    lua_pop(co, 1);
    int rc = lua_resume(co, nargs);
    se->cur = NULL;
    if (rc == LUA_YIELD)
        return; /* waits for sr->waiting */
    if (rc == 0) {
        if (lua_gettop(co) == 0)
            lua_pushnil(co);
        lua_settop(co, 1);
        lua_to_resp(co, &sr->out, sr->r->proto, sr->resp, 0);
    } else if (lua_istable(co, -1)) {
        lua_getfield(co, -1, "err");
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
    if (d->flags & (CMD_NOSCRIPT | CMD_TXN | CMD_NO_MULTI))
        return "This Redis command is not allowed from script";
    if (sr->ro && (d->flags & CMD_WRITE))
        return "Write commands are not allowed from read-only scripts.";
    for (uint32_t i = 1; i < argc; i++)
        if (d->first_key && i >= (uint32_t)d->first_key &&
            argv[i].len > sr->r->c->srv->cfg.max_key_size)
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
        free(argv);
        push_error(L, why);
        return 1;
    }
    if (d->proc == cmd_server_select) { /* the script's own database, not the client's */
        long long db;
        if (cmd_arg_ll(&argv[1], &db) < 0 || db < 0 ||
            (uint64_t)db >= (uint64_t)sr->r->c->srv->cfg.databases)
            push_error(L, "-ERR DB index is out of range");
        else {
            sr->db = (uint32_t)db;
            push_field_table(L, "ok", "OK", 2);
        }
        free(argv);
        return 1;
    }
    struct req *k = txn_unit_child(sr->r, d, sr->db, argv, argc);
    if (k == NULL) {
        push_error(L, "out of memory");
        return 1;
    }
    k->proto = (uint8_t)sr->resp;
    sr->in_call = 1;
    k->exec(k);
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
    if (r->cmd->proc == cmd_script_eval || r->cmd->proc == cmd_script_eval_ro)
        all = body_mentions(body->ptr, body->len, SELECT_WORDS);
    else /* EVALSHA: the body is known only once it runs; claim as if it selects */
        all = 1;
    r->lk = CMDLOCK_DB_WRITE | CMDLOCK_KEYS_WRITE | (all ? CMDLOCK_ALL_DBS : 0);
    return 0;
}

/* Runs the function on the stack of se->L with r's keys and arguments. */
static void run_start(struct req *r, struct script_eng *se, const char *sha, int ro, int batching)
{
    lua_State *L = se->L;
    long long nk;
    cmd_arg_ll(&r->argv[2], &nk);
    struct script_run *sr = calloc(1, sizeof(*sr));
    if (sr == NULL || txn_unit_begin(r, sr, batching) < 0) {
        free(sr);
        lua_pop(L, 1);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    sr->r = r;
    sr->db = r->db;
    sr->resp = 2;
    sr->ro = ro;
    snprintf(sr->fname, sizeof(sr->fname), "%s", sha);
    pbuf_init(&sr->out, r->c->srv->cfg.client_output_buffer_limit);
    sr->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L); /* the run's environment */
    for (int which = 0; which < 2; which++) {
        uint32_t first = which ? 3 + (uint32_t)nk : 3, n = which ? r->argc - first : (uint32_t)nk;
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            lua_pushlstring(L, r->argv[first + i].ptr, r->argv[first + i].len);
            lua_rawseti(L, -2, (int)i + 1);
        }
        lua_setfield(L, -2, which ? "ARGV" : "KEYS");
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, se->protect);
    lua_setmetatable(L, -2);
    sr->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sr->co = lua_newthread(L);
    sr->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(sr->co, line_hook, LUA_MASKLINE, 0);
    lua_rawgeti(sr->co, LUA_REGISTRYINDEX, sr->fn_ref);
    r->c->srv->stats.scripts_run++;
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
            if (compile(se, body->ptr, body->len, sha) < 0) {
                reply_errorf(r, "ERR Error compiling script (new function): %s",
                             lua_tostring(se->L, -1));
                lua_pop(se->L, 1);
                req_done(r);
                return;
            }
        }
    }
    /* The body of an EVALSHA is not at hand: it writes through when it could name a
     * whole-database command (the registry keeps the function only). */
    int batching = !by_sha && !body_mentions(body->ptr, body->len, WHOLE_DB_WORDS);
    run_start(r, se, sha, ro, batching);
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
        if (!known && compile(se, r->argv[2].ptr, r->argv[2].len, sha) < 0) {
            reply_errorf(r, "ERR Error compiling script (new function): %s",
                         lua_tostring(se->L, -1));
            lua_pop(se->L, 1);
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
        reply_error(r, "NOTBUSY No scripts in execution right now.");
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
        reply_array(r, sizeof(help) / sizeof(help[0]));
        for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
            reply_simple(r, help[i]);
    } else if (cmd_arg_is(sub, "load") || cmd_arg_is(sub, "exists") || cmd_arg_is(sub, "flush") ||
               cmd_arg_is(sub, "kill") || cmd_arg_is(sub, "help")) {
        char low[16];
        size_t i;
        for (i = 0; i < sub->len && i < sizeof(low) - 1; i++)
            low[i] =
                (char)((sub->ptr[i] >= 'A' && sub->ptr[i] <= 'Z') ? sub->ptr[i] + 32 : sub->ptr[i]);
        low[i] = '\0';
        reply_errorf(r, "ERR wrong number of arguments for 'script|%s' command", low);
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try SCRIPT HELP.", sub->ptr);
    }
    req_done(r);
}

uint64_t script_count(const struct server *s)
{
    return s->scripts ? s->scripts->nscripts : 0;
}
