/*
 * luabuf.c - a growable output buffer for the scripting libraries (luajson.c,
 * luamsgpack.c). Its bytes are malloc'd: an error raised while it is in use leaves them
 * to the owner, who frees them from a __gc metamethod or on the next use.
 */
#include "luabuf.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

void luabuf_reserve(lua_State *L, struct luabuf *b, size_t more)
{
    if (more > LUABUF_MAX || b->len > LUABUF_MAX - more)
        luaL_error(L, "%s: the result would exceed %d MB", b->what, (int)(LUABUF_MAX >> 20));
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        luaL_error(L, "%s: out of memory", b->what);
    b->p = p;
    b->cap = cap;
}

void luabuf_add(lua_State *L, struct luabuf *b, const void *s, size_t n)
{
    luabuf_reserve(L, b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void luabuf_free(struct luabuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
