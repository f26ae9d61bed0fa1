/*
 * luabuf.h - a growable output buffer for the scripting libraries (luabuf.c): a
 * luaL_Buffer wants the Lua stack to itself, which an encoder walking tables cannot give.
 */
#ifndef LS_SERVER_LUABUF_H
#define LS_SERVER_LUABUF_H

#include <lua.h>
#include <stddef.h>

#define LUABUF_MAX ((size_t)512 << 20) /* bytes one buffer may hold */

struct luabuf {
    char *p;
    size_t len, cap;
    const char *what; /* names the buffer's user in errors ("Cannot serialise") */
};

/* Makes room for more bytes past b->len; raises a Lua error ("<what>: the result would
 * exceed 512 MB", or out of memory) instead. */
void luabuf_reserve(lua_State *L, struct luabuf *b, size_t more);
/* Appends s[0..n), as luabuf_reserve raises. */
void luabuf_add(lua_State *L, struct luabuf *b, const void *s, size_t n);
/* Frees the bytes (the buffer stays usable, empty). */
void luabuf_free(struct luabuf *b);

#endif
