/*
 * luamsgpack.c - the `cmsgpack` library of scripts: MessagePack to and from Lua values,
 * with the interface and the encoding choices of the lua-cmsgpack Redis 7.0 embeds
 * (Debian has no package of it; lua-messagepack is another interface, in pure Lua).
 *
 *   cmsgpack.pack(v1, v2, ...)            the concatenated encodings of its arguments
 *   cmsgpack.unpack(s)                    every object in s, as multiple results
 *   cmsgpack.unpack_one(s [, offset])     next_offset, object (next_offset -1 at the end)
 *   cmsgpack.unpack_limit(s, n [, offset]) next_offset, up to n objects (n 0: all)
 *
 * Encoding: nil (and any type MessagePack lacks) -> nil; booleans; a number equal to
 * an int64 -> the smallest integer form, else float 32 when exact, else float 64;
 * strings -> str (fixstr, str8, str16, str32); a table whose keys are 1..n without a
 * hole -> array (an empty table is an empty array), else map in lua_next order. Tables
 * nested MSGPACK_MAX_NESTING deep encode as nil: a table referring to itself ends there.
 *
 * Decoding takes the types Redis's does (not bin nor ext): str -> strings, integers ->
 * numbers (rounded beyond 2^53; uint64 from 2^63 up negative, through a signed
 * integer, as Redis's), arrays and maps -> tables (a nil key raises). Bounded:
 * an array or map may not announce more elements than the bytes left, and nesting past
 * MSGPACK_MAX_DECODE_DEPTH is refused, so no input makes it allocate more than its own
 * size in Lua values or recurse without limit. Errors: "Missing bytes in input." and
 * "Bad data format in input.", as Redis's.
 */
#include "luamsgpack.h"

#include "luabuf.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MSGPACK_MAX_NESTING      16    /* encoding, as Redis's */
#define MSGPACK_MAX_DECODE_DEPTH 10000 /* decoding: bounds the C and Lua stacks */

/* ---- encoding (into a buffer of its own: a luaL_Buffer wants the stack to itself) ---- */

static int buf_gc(lua_State *L)
{
    luabuf_free(lua_touserdata(L, 1));
    return 0;
}

static void put_be(lua_State *L, struct luabuf *b, unsigned char tag, uint64_t v, int bytes)
{
    char tmp[9];
    tmp[0] = (char)tag;
    for (int i = 0; i < bytes; i++)
        tmp[1 + i] = (char)(v >> (8 * (bytes - 1 - i)));
    luabuf_add(L, b, tmp, (size_t)bytes + 1);
}

static void encode_int(lua_State *L, struct luabuf *b, int64_t n)
{
    if (n >= 0) {
        if (n <= 127)
            put_be(L, b, (unsigned char)n, 0, 0);
        else if (n <= 0xff)
            put_be(L, b, 0xcc, (uint64_t)n, 1);
        else if (n <= 0xffff)
            put_be(L, b, 0xcd, (uint64_t)n, 2);
        else if (n <= 0xffffffffLL)
            put_be(L, b, 0xce, (uint64_t)n, 4);
        else
            put_be(L, b, 0xcf, (uint64_t)n, 8);
    } else {
        if (n >= -32)
            put_be(L, b, (unsigned char)(0xe0 | (n & 0x1f)), 0, 0);
        else if (n >= -128)
            put_be(L, b, 0xd0, (uint64_t)n, 1);
        else if (n >= -32768)
            put_be(L, b, 0xd1, (uint64_t)n, 2);
        else if (n >= -2147483648LL)
            put_be(L, b, 0xd2, (uint64_t)n, 4);
        else
            put_be(L, b, 0xd3, (uint64_t)n, 8);
    }
}

static void encode_number(lua_State *L, struct luabuf *b, double d)
{
    if (!isinf(d) && !isnan(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        (double)(int64_t)d == d) {
        encode_int(L, b, (int64_t)d);
        return;
    }
    float f = (float)d;
    if ((double)f == d) { /* NaN is not: a double, as Redis's */
        uint32_t u;
        memcpy(&u, &f, 4);
        put_be(L, b, 0xca, u, 4);
    } else {
        uint64_t u;
        memcpy(&u, &d, 8);
        put_be(L, b, 0xcb, u, 8);
    }
}

static void encode_string(lua_State *L, struct luabuf *b, const char *s, size_t n)
{
    if (n < 32)
        put_be(L, b, (unsigned char)(0xa0 | n), 0, 0);
    else if (n <= 0xff)
        put_be(L, b, 0xd9, n, 1);
    else if (n <= 0xffff)
        put_be(L, b, 0xda, n, 2);
    else
        put_be(L, b, 0xdb, n, 4);
    luabuf_add(L, b, s, n);
}

/* The length of the table at idx when its keys are exactly 1..n, else -1. */
static long array_len(lua_State *L, int idx)
{
    long count = 0;
    double max = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        double k;
        if (lua_type(L, -2) != LUA_TNUMBER || (k = lua_tonumber(L, -2)) < 1 || floor(k) != k) {
            lua_pop(L, 2);
            return -1;
        }
        if (k > max)
            max = k;
        count++;
    }
    return max == (double)count ? count : -1;
}

static void encode_value(lua_State *L, struct luabuf *b, int idx, int level);

static void encode_table(lua_State *L, struct luabuf *b, int idx, int level)
{
    long n = array_len(L, idx);
    if (n >= 0) {
        if (n < 16)
            put_be(L, b, (unsigned char)(0x90 | n), 0, 0);
        else if (n <= 0xffff)
            put_be(L, b, 0xdc, (uint64_t)n, 2);
        else
            put_be(L, b, 0xdd, (uint64_t)n, 4);
        for (long i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (int)i);
            encode_value(L, b, lua_gettop(L), level + 1);
            lua_pop(L, 1);
        }
        return;
    }
    long count = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1))
        count++;
    if (count < 16)
        put_be(L, b, (unsigned char)(0x80 | count), 0, 0);
    else if (count <= 0xffff)
        put_be(L, b, 0xde, (uint64_t)count, 2);
    else
        put_be(L, b, 0xdf, (uint64_t)count, 4);
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        int top = lua_gettop(L);
        encode_value(L, b, top - 1, level + 1);
        encode_value(L, b, top, level + 1);
    }
}

/* Appends the encoding of the value at idx (an absolute index). */
static void encode_value(lua_State *L, struct luabuf *b, int idx, int level)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        put_be(L, b, lua_toboolean(L, idx) ? 0xc3 : 0xc2, 0, 0);
        return;
    case LUA_TNUMBER:
        encode_number(L, b, lua_tonumber(L, idx));
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        encode_string(L, b, s, n);
        return;
    }
    case LUA_TTABLE:
        if (level < MSGPACK_MAX_NESTING) {
            if (!lua_checkstack(L, 4))
                luaL_error(L, "cmsgpack: out of Lua stack");
            encode_table(L, b, idx, level);
            return;
        }
        break;
    default:
        break;
    }
    put_be(L, b, 0xc0, 0, 0);
}

static int l_pack(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc == 0)
        return luaL_argerror(L, 0, "MessagePack pack needs input.");
    struct luabuf *b = lua_newuserdata(L, sizeof(*b)); /* freed by its __gc on an error */
    *b = (struct luabuf){.what = "MessagePack pack"};
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setmetatable(L, -2);
    for (int i = 1; i <= argc; i++)
        encode_value(L, b, i, 0);
    lua_pushlstring(L, b->p, b->len);
    luabuf_free(b);
    return 1;
}

/* ---- decoding ---- */

struct mp_in {
    const unsigned char *p, *end;
};

static void need(lua_State *L, const struct mp_in *in, size_t n)
{
    if ((size_t)(in->end - in->p) < n)
        luaL_error(L, "Missing bytes in input.");
}

static uint64_t get_be(lua_State *L, struct mp_in *in, int bytes)
{
    need(L, in, (size_t)bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | in->p[i];
    in->p += bytes;
    return v;
}

static void decode_value(lua_State *L, struct mp_in *in, int depth);

static void decode_bytes(lua_State *L, struct mp_in *in, size_t n)
{
    need(L, in, n);
    lua_pushlstring(L, (const char *)in->p, n);
    in->p += n;
}

static void decode_array(lua_State *L, struct mp_in *in, uint64_t n, int depth)
{
    if (n > (uint64_t)(in->end - in->p)) /* every element takes a byte at least */
        luaL_error(L, "Missing bytes in input.");
    lua_createtable(L, (int)n, 0);
    for (uint64_t i = 1; i <= n; i++) {
        decode_value(L, in, depth + 1);
        lua_rawseti(L, -2, (int)i);
    }
}

static void decode_map(lua_State *L, struct mp_in *in, uint64_t n, int depth)
{
    if (n > (uint64_t)(in->end - in->p) / 2)
        luaL_error(L, "Missing bytes in input.");
    lua_createtable(L, 0, (int)n);
    for (uint64_t i = 0; i < n; i++) {
        decode_value(L, in, depth + 1);
        decode_value(L, in, depth + 1);
        lua_settable(L, -3); /* the new table has no metatable; a nil key raises */
    }
}

static void decode_float(lua_State *L, struct mp_in *in, int bytes)
{
    uint64_t v = get_be(L, in, bytes);
    if (bytes == 4) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        lua_pushnumber(L, f);
    } else {
        double d;
        memcpy(&d, &v, 8);
        lua_pushnumber(L, d);
    }
}

/* Sign-extends the bytes-byte value v. */
static int64_t sign_extend(uint64_t v, int bytes)
{
    int shift = 64 - 8 * bytes;
    return (int64_t)(v << shift) >> shift;
}

/* The fixed-length forms: nil, booleans, numbers, and the tags with a length. */
static void decode_tagged(lua_State *L, struct mp_in *in, unsigned char t, int depth)
{
    switch (t) {
    case 0xc0:
        lua_pushnil(L);
        return;
    case 0xc2:
        lua_pushboolean(L, 0);
        return;
    case 0xc3:
        lua_pushboolean(L, 1);
        return;
    case 0xca:
        decode_float(L, in, 4);
        return;
    case 0xcb:
        decode_float(L, in, 8);
        return;
    case 0xcc:
        lua_pushnumber(L, (lua_Number)get_be(L, in, 1));
        return;
    case 0xcd:
        lua_pushnumber(L, (lua_Number)get_be(L, in, 2));
        return;
    case 0xce:
        lua_pushnumber(L, (lua_Number)get_be(L, in, 4));
        return;
    case 0xcf: /* through lua_Integer, as Redis's on 64 bits: from 2^63 up negative */
        lua_pushnumber(L, (lua_Number)(int64_t)get_be(L, in, 8));
        return;
    case 0xd0:
        lua_pushnumber(L, (lua_Number)sign_extend(get_be(L, in, 1), 1));
        return;
    case 0xd1:
        lua_pushnumber(L, (lua_Number)sign_extend(get_be(L, in, 2), 2));
        return;
    case 0xd2:
        lua_pushnumber(L, (lua_Number)sign_extend(get_be(L, in, 4), 4));
        return;
    case 0xd3:
        lua_pushnumber(L, (lua_Number)(int64_t)get_be(L, in, 8));
        return;
    case 0xd9:
        decode_bytes(L, in, get_be(L, in, 1));
        return;
    case 0xda:
        decode_bytes(L, in, get_be(L, in, 2));
        return;
    case 0xdb:
        decode_bytes(L, in, get_be(L, in, 4));
        return;
    case 0xdc:
        decode_array(L, in, get_be(L, in, 2), depth);
        return;
    case 0xdd:
        decode_array(L, in, get_be(L, in, 4), depth);
        return;
    case 0xde:
        decode_map(L, in, get_be(L, in, 2), depth);
        return;
    case 0xdf:
        decode_map(L, in, get_be(L, in, 4), depth);
        return;
    default:
        luaL_error(L, "Bad data format in input.");
    }
}

/* Pushes the object at in->p. */
static void decode_value(lua_State *L, struct mp_in *in, int depth)
{
    if (depth > MSGPACK_MAX_DECODE_DEPTH || !lua_checkstack(L, 4))
        luaL_error(L, "Bad data format in input: nested too deep.");
    need(L, in, 1);
    unsigned char t = *in->p++;
    if (t <= 0x7f)
        lua_pushnumber(L, t);
    else if (t >= 0xe0)
        lua_pushnumber(L, (lua_Number)(int8_t)t);
    else if ((t & 0xe0) == 0xa0)
        decode_bytes(L, in, t & 0x1f);
    else if ((t & 0xf0) == 0x90)
        decode_array(L, in, t & 0x0f, depth);
    else if ((t & 0xf0) == 0x80)
        decode_map(L, in, t & 0x0f, depth);
    else
        decode_tagged(L, in, t, depth);
}

/* Decodes up to limit objects (0: all) of argument 1 from offset; pushes next_offset
 * first unless decoding all from 0. */
static int unpack_full(lua_State *L, lua_Integer limit, lua_Integer offset)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (offset < 0 || limit < 0)
        return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.",
                          (int)offset, (int)len); /* sic: Redis's names the length */
    if ((size_t)offset > len)
        return luaL_error(L, "Start offset %d greater than input length %d.", (int)offset,
                          (int)len);
    int all = limit == 0 && offset == 0;
    if (all)
        limit = INT32_MAX;
    struct mp_in in = {(const unsigned char *)s + offset, (const unsigned char *)s + len};
    int base = lua_gettop(L), count = 0;
    if (!all)
        lua_pushnil(L); /* the offset's slot */
    while (in.p < in.end && count < limit) {
        if (!lua_checkstack(L, 8))
            return luaL_error(L, "Too many objects to unpack.");
        decode_value(L, &in, 0);
        count++;
    }
    if (all)
        return count;
    size_t next = (size_t)((const char *)in.p - s);
    lua_pushinteger(L, next == len ? -1 : (lua_Integer)next);
    lua_replace(L, base + 1);
    return count + 1;
}

static int l_unpack(lua_State *L)
{
    return unpack_full(L, 0, 0);
}

static int l_unpack_one(lua_State *L)
{
    return unpack_full(L, 1, luaL_optinteger(L, 2, 0));
}

static int l_unpack_limit(lua_State *L)
{
    return unpack_full(L, luaL_checkinteger(L, 2), luaL_optinteger(L, 3, 0));
}

int luamsgpack_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"unpack", l_unpack},
                                   {"unpack_one", l_unpack_one},
                                   {"unpack_limit", l_unpack_limit},
                                   {NULL, NULL}};
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
    lua_createtable(L, 0, 1); /* pack's buffers' metatable */
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcclosure(L, l_pack, 1);
    lua_setfield(L, -2, "pack");
    lua_pushliteral(L, "lua-cmsgpack");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "0.4.0");
    lua_setfield(L, -2, "_VERSION");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cmsgpack");
    return 1;
}
