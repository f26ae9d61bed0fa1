/*
 * luajson.h - the `cjson` library of scripts (luajson.c).
 */
#ifndef LS_SERVER_LUAJSON_H
#define LS_SERVER_LUAJSON_H

#include <lua.h>

/* Opens the library as the global `cjson` and leaves it on the stack (a lua_CFunction,
 * run it with lua_call; raises only out of memory). */
int luajson_open(lua_State *L);

#endif
