/*
 * luastruct.h - the `struct` library of scripts (luastruct.c).
 */
#ifndef LS_SERVER_LUASTRUCT_H
#define LS_SERVER_LUASTRUCT_H

#include <lua.h>

/* Opens the library as the global `struct` and leaves it on the stack (a lua_CFunction,
 * run it with lua_call; raises only out of memory). */
int luastruct_open(lua_State *L);

#endif
