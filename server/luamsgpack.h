/*
 * luamsgpack.h - the `cmsgpack` library of scripts (luamsgpack.c).
 */
#ifndef LS_SERVER_LUAMSGPACK_H
#define LS_SERVER_LUAMSGPACK_H

#include <lua.h>

/* Opens the library as the global `cmsgpack` and leaves it on the stack (a
 * lua_CFunction, run it with lua_call; raises only out of memory). */
int luamsgpack_open(lua_State *L);

#endif
