/*
 * luasandbox.h - read-only globals and libraries for the scripting interpreter
 * (luasandbox.c).
 */
#ifndef LS_SERVER_LUASANDBOX_H
#define LS_SERVER_LUASANDBOX_H

#include <lua.h>

/* Locks L's globals once every library and global is in place: the library tables
 * become read-only proxies, the globals refuse stores and raise on an undefined name,
 * print/loadfile/dofile/debug are removed, load/loadstring take source text only.
 * Raises no error (call it once, at start, outside any protected call). */
void luasandbox_lock(lua_State *L);

/* lua_CFunctions for metatables: "Attempt to modify a readonly table", and "Script
 * attempted to access nonexistent global variable '<argument 2>'" (an __index). */
int luasandbox_readonly(lua_State *L);
int luasandbox_undefined(lua_State *L);

#endif
