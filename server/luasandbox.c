/*
 * luasandbox.c - the globals of the scripting interpreter made read-only, as Redis 7.0's.
 *
 * Redis 7.0 patches its Lua with a read-only flag on tables; LuaJIT has none, and a
 * __newindex metamethod fires only for keys a table lacks. So every protected table is
 * an empty proxy whose metatable reads through to the real table (__index) and refuses
 * every store (__newindex). The invariants, after luasandbox_lock:
 *
 *   1. The globals table (LUA_GLOBALSINDEX, what `_G` names) holds no key: its
 *      metatable's __index is a hidden table of the real globals, and its __newindex
 *      raises "Attempt to modify a readonly table". Reading a global that does not exist
 *      raises "Script attempted to access nonexistent global variable '<name>'".
 *   2. Each library table among the globals (redis, string, math, table, bit, cjson,
 *      cmsgpack, struct, coroutine) is replaced by its proxy, so `redis.call = f` raises.
 *   3. No script reaches a real metatable: each proxy's and the globals' metatables
 *      carry a __metatable field (what getmetatable returns) that is itself read-only;
 *      so is the string metatable's. setmetatable and rawset refuse every protected
 *      table (a weak-keyed registry set names them) with the same error.
 *   4. print, loadfile, dofile and debug are not globals (debug.setmetatable or
 *      debug.getregistry would undo all of the above); load and loadstring accept source
 *      text only: precompiled bytecode (string.dump's) would bypass the compiler's checks
 *      and can read and write arbitrary memory.
 *
 * A proxy is not iterable with pairs(), as the real table would be; Redis's scripts do
 * not iterate library tables (the Redis test suite does not).
 */
#include "luasandbox.h"

#include <lauxlib.h>

/* The registry key of the weak-keyed set of protected tables. */
static const char RO_SET_KEY = 0;

int luasandbox_readonly(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

/* The same refusal from setmetatable and rawset: without the position, as Redis's. */
static int refuse_protected(lua_State *L)
{
    lua_pushliteral(L, "Attempt to modify a readonly table");
    return lua_error(L);
}

int luasandbox_undefined(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      name ? name : "?");
}

/* Whether the value at idx is a protected table. */
static int is_protected(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return 0;
    lua_pushlightuserdata(L, (void *)&RO_SET_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    int yes = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return yes;
}

static void mark_protected(lua_State *L, int idx)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_pushlightuserdata(L, (void *)&RO_SET_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Pushes an empty table that refuses stores and hides its metatable. */
static void push_sealed_empty(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, luasandbox_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    mark_protected(L, -1);
}

/* Replaces the table on the stack top by its read-only proxy. */
static void make_proxy(lua_State *L)
{
    lua_newtable(L);          /* real proxy */
    lua_createtable(L, 0, 3); /* real proxy mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, luasandbox_readonly);
    lua_setfield(L, -2, "__newindex");
    push_sealed_empty(L);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
    mark_protected(L, -1);
}

/* setmetatable and rawset: the original (the upvalue) unless its first argument is a
 * protected table. */
static int l_guarded(lua_State *L)
{
    if (is_protected(L, 1))
        return refuse_protected(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* load(chunk [, name]) and loadstring(s [, name]) of source text only: LuaJIT's load
 * with mode "t" (the upvalue) returns nil and a message for a binary chunk. */
static int l_load_text(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushliteral(L, "t");
    lua_call(L, 3, LUA_MULTRET);
    return lua_gettop(L);
}

/* Wraps the global fn (in the table at idx) as a closure of f over the original. */
static void wrap_global(lua_State *L, int idx, const char *name, lua_CFunction f)
{
    lua_getfield(L, idx, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, idx, name);
}

static void lock_string_metatable(lua_State *L)
{
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        push_sealed_empty(L);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void luasandbox_lock(lua_State *L)
{
    static const char *const removed[] = {"print", "loadfile", "dofile", "debug", NULL};
    lua_pushlightuserdata(L, (void *)&RO_SET_KEY);
    lua_createtable(L, 0, 32);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);

    int g = lua_gettop(L) + 1;
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_getfield(L, g, "load");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_load_text, 1);
    lua_setfield(L, g, "load");
    lua_pushcclosure(L, l_load_text, 1);
    lua_setfield(L, g, "loadstring");
    wrap_global(L, g, "setmetatable", l_guarded);
    wrap_global(L, g, "rawset", l_guarded);
    for (const char *const *n = removed; *n; n++) {
        lua_pushnil(L);
        lua_setfield(L, g, *n);
    }

    lua_newtable(L); /* the hidden table of the real globals */
    int back = g + 1;
    for (lua_pushnil(L); lua_next(L, g); lua_pop(L, 1)) {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        if (lua_istable(L, -1) && !lua_rawequal(L, -1, g))
            make_proxy(L);
        lua_rawset(L, back);
    }
    for (lua_pushnil(L); lua_next(L, back); lua_pop(L, 1)) { /* empty the globals */
        lua_pushvalue(L, -2);
        lua_pushnil(L);
        lua_rawset(L, g);
    }
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, luasandbox_undefined);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, luasandbox_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, back);

    lua_createtable(L, 0, 3); /* the globals' metatable */
    lua_pushvalue(L, back);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, luasandbox_readonly);
    lua_setfield(L, -2, "__newindex");
    push_sealed_empty(L);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, g);
    mark_protected(L, g);
    mark_protected(L, back);
    lock_string_metatable(L);
    lua_settop(L, g - 1);
}
