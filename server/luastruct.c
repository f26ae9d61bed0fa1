/*
 * luastruct.c - the `struct` library of scripts: binary packing of numbers and strings
 * with the interface of Roberto Ierusalimschy's struct 0.2 that Redis 7.0 embeds
 * (Debian has no package of it).
 *
 *   struct.pack(fmt, v1, v2, ...)   the string of the values laid out by fmt
 *   struct.unpack(fmt, s [, pos])   the values read from s at pos (1), then the position
 *                                   after the last byte read
 *   struct.size(fmt)                the bytes fmt lays out (no s or c0 in it)
 *
 * Format: '<' little endian, '>' big endian, '=' native, '!n' align fields to n bytes
 * (a power of 2; '!' alone: the machine's), ' ' ignored; fields 'b'/'B' signed/unsigned
 * char, 'h'/'H' short, 'l'/'L' long, 'T' size_t, 'i'/'I' int of n bytes ('in', 1..32,
 * default 4), 'f' float, 'd' double, 's' zero-terminated string, 'cn' a string of n
 * bytes ('c0' in unpack: the length is the previous value read; in pack: the whole
 * string), 'x' a zero byte.
 *
 * Integers are converted from and to Lua numbers through 64 bits: a field wider than
 * 8 bytes is sign- or zero-filled when packed, and only its low 8 bytes are read.
 */
#include "luastruct.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STRUCT_MAX_INT 32 /* bytes of the widest integer field */

struct fmt_state {
    int little;   /* little endian */
    int maxalign; /* 1: no alignment */
};

static int native_little(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Reads a decimal number at *fmt (df when there is none). */
static size_t get_num(lua_State *L, const char **fmt, size_t df)
{
    if (!is_digit(**fmt))
        return df;
    int a = 0;
    do {
        if (a > INT32_MAX / 10 || a * 10 > INT32_MAX - (**fmt - '0'))
            luaL_error(L, "integral size overflow");
        a = a * 10 + (*((*fmt)++) - '0');
    } while (is_digit(**fmt));
    return (size_t)a;
}

static void bad_option(lua_State *L, char opt)
{
    luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
}

/* The size of the field of option opt, reading its count from *fmt. */
static size_t opt_size(lua_State *L, char opt, const char **fmt)
{
    switch (opt) {
    case 'B':
    case 'b':
        return 1;
    case 'H':
    case 'h':
        return sizeof(short);
    case 'L':
    case 'l':
        return sizeof(long);
    case 'T':
        return sizeof(size_t);
    case 'f':
        return sizeof(float);
    case 'd':
        return sizeof(double);
    case 'x':
        return 1;
    case 'c':
        return get_num(L, fmt, 1);
    case 'i':
    case 'I': {
        size_t sz = get_num(L, fmt, sizeof(int));
        if (sz > STRUCT_MAX_INT)
            luaL_error(L, "integral size %d is larger than limit of %d", (int)sz, STRUCT_MAX_INT);
        return sz;
    }
    default:
        return 0; /* 's' and the controls */
    }
}

/* Padding needed before a field of size at position len. */
static size_t gap(lua_State *L, const struct fmt_state *h, size_t size, size_t len)
{
    size_t align = size;
    if (align <= 1 || h->maxalign <= 1)
        return 0;
    if (align > (size_t)h->maxalign)
        align = (size_t)h->maxalign;
    if ((align & (align - 1)) != 0)
        luaL_argerror(L, 1, "format asks for alignment not power of 2");
    return (align - (len & (align - 1))) & (align - 1);
}

/* Handles the control options; returns 1 when opt was one. */
static int control(lua_State *L, char opt, const char **fmt, struct fmt_state *h)
{
    struct cstruct {
        char c;
        union {
            double d;
            void *p;
            lua_Number n;
            long l;
        } u;
    };
    switch (opt) {
    case ' ':
        return 1;
    case '>':
        h->little = 0;
        return 1;
    case '<':
        h->little = 1;
        return 1;
    case '=':
        h->little = native_little();
        return 1;
    case '!': {
        size_t a = get_num(L, fmt, offsetof(struct cstruct, u));
        if (a == 0 || (a & (a - 1)) != 0)
            luaL_error(L, "alignment %d is not a power of 2", (int)a);
        h->maxalign = (int)a;
        return 1;
    }
    default:
        return 0;
    }
}

/* Reads the next field of *fmt, applying the control options on the way: its option,
 * its size, and the padding before it at position pos. Returns 0 at the end of fmt. */
static int next_field(lua_State *L, const char **fmt, struct fmt_state *h, size_t pos, char *opt,
                      size_t *size, size_t *pad)
{
    while (**fmt) {
        char o = *(*fmt)++;
        if (control(L, o, fmt, h))
            continue;
        *opt = o;
        *size = opt_size(L, o, fmt);
        *pad = gap(L, h, *size, pos);
        return 1;
    }
    return 0;
}

static int is_int_opt(char opt)
{
    return strchr("bBhHlLTiI", opt) != NULL;
}

static void put_int(luaL_Buffer *b, lua_Number n, int little, size_t size)
{
    uint64_t v = n < 0 ? (uint64_t)(int64_t)n : (uint64_t)n;
    unsigned char fill = n < 0 ? 0xff : 0x00;
    char buf[STRUCT_MAX_INT];
    for (size_t i = 0; i < size; i++) {
        unsigned char byte = i < 8 ? (unsigned char)(v >> (8 * i)) : fill;
        buf[little ? i : size - 1 - i] = (char)byte;
    }
    luaL_addlstring(b, buf, size);
}

/* Copies the size bytes (at most 8) of a float or double from p to out in the byte order
 * little asks for (from or to the machine's). */
static void float_bytes(const void *p, void *out, int little, size_t size)
{
    char buf[8];
    memcpy(buf, p, size);
    if (little != native_little())
        for (size_t i = 0; i < size / 2; i++) {
            char t = buf[i];
            buf[i] = buf[size - 1 - i];
            buf[size - 1 - i] = t;
        }
    memcpy(out, buf, size);
}

static void put_float(luaL_Buffer *b, const void *p, int little, size_t size)
{
    char buf[8];
    float_bytes(p, buf, little, size);
    luaL_addlstring(b, buf, size);
}

/* Packs argument arg by option opt of size size. */
static void pack_one(lua_State *L, luaL_Buffer *b, char opt, size_t size, int arg, int little)
{
    if (is_int_opt(opt)) {
        put_int(b, luaL_checknumber(L, arg), little, size);
    } else if (opt == 'f') {
        float f = (float)luaL_checknumber(L, arg);
        put_float(b, &f, little, sizeof(f));
    } else if (opt == 'd') {
        double d = luaL_checknumber(L, arg);
        put_float(b, &d, little, sizeof(d));
    } else if (opt == 'c' || opt == 's') {
        size_t l;
        const char *s = luaL_checklstring(L, arg, &l);
        if (opt == 'c' && size == 0)
            size = l;
        if (opt == 'c') /* sic: the next argument's number, as Redis's */
            luaL_argcheck(L, l >= size, arg + 1, "string too short");
        luaL_addlstring(b, s, opt == 'c' ? size : l);
        if (opt == 's')
            luaL_addchar(b, '\0');
    } else {
        bad_option(L, opt);
    }
}

static int l_pack(lua_State *L)
{
    luaL_Buffer b;
    struct fmt_state h = {native_little(), 1};
    const char *fmt = luaL_checkstring(L, 1);
    int arg = 2;
    size_t total = 0, size, pad;
    char opt;
    luaL_buffinit(L, &b); /* nothing else is pushed while it is in use */
    while (next_field(L, &fmt, &h, total, &opt, &size, &pad)) {
        total += pad;
        while (pad-- > 0)
            luaL_addchar(&b, '\0');
        if (opt == 'x') {
            luaL_addchar(&b, '\0');
            total++;
            continue;
        }
        if (opt == 's' || (opt == 'c' && size == 0)) { /* their length is the string's */
            size_t l;
            luaL_checklstring(L, arg, &l);
            total += l + (opt == 's');
        } else {
            total += size;
        }
        pack_one(L, &b, opt, size, arg++, h.little);
    }
    luaL_pushresult(&b);
    return 1;
}

static lua_Number get_int(const char *p, int little, int is_signed, size_t size)
{
    uint64_t v = 0;
    size_t n = size < 8 ? size : 8;
    for (size_t i = 0; i < n; i++) {
        unsigned char byte = (unsigned char)p[little ? i : size - 1 - i];
        v |= (uint64_t)byte << (8 * i);
    }
    if (n == 0) /* 'i0': no bytes, 0 */
        return 0;
    if (is_signed) {
        if (n < 8) {
            int shift = (int)(64 - 8 * n);
            return (lua_Number)((int64_t)(v << shift) >> shift);
        }
        return (lua_Number)(int64_t)v;
    }
    return (lua_Number)v;
}

/* Pushes the field of option opt at data + pos (checked to hold size bytes); returns
 * the bytes it took. */
static size_t unpack_one(lua_State *L, char opt, size_t size, const char *data, size_t pos,
                         size_t ld, int little)
{
    if (is_int_opt(opt)) {
        lua_pushnumber(L, get_int(data + pos, little, opt >= 'a', size));
    } else if (opt == 'f') {
        float f;
        float_bytes(data + pos, &f, little, sizeof(f));
        lua_pushnumber(L, f);
    } else if (opt == 'd') {
        double d;
        float_bytes(data + pos, &d, little, sizeof(d));
        lua_pushnumber(L, d);
    } else if (opt == 'c') {
        if (size == 0) { /* the length is the previous value */
            if (lua_gettop(L) == 0 || !lua_isnumber(L, -1))
                luaL_error(L, "format 'c0' needs a previous size");
            lua_Number n = lua_tonumber(L, -1);
            lua_pop(L, 1);
            luaL_argcheck(L, n >= 0 && n <= (lua_Number)(ld - pos), 2, "data string too short");
            size = (size_t)n;
        }
        lua_pushlstring(L, data + pos, size);
    } else if (opt == 's') {
        const char *e = memchr(data + pos, '\0', ld - pos);
        if (e == NULL)
            luaL_error(L, "unfinished string in data");
        size = (size_t)(e - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
    } else {
        bad_option(L, opt);
    }
    return size;
}

static int l_unpack(lua_State *L)
{
    struct fmt_state h = {native_little(), 1};
    const char *fmt = luaL_checkstring(L, 1);
    size_t ld;
    const char *data = luaL_checklstring(L, 2, &ld);
    lua_Number start = luaL_optnumber(L, 3, 1);
    luaL_argcheck(L, start >= 1, 3, "offset must be 1 or greater");
    size_t pos = (size_t)start - 1, size, pad;
    char opt;
    lua_settop(L, 2);
    while (next_field(L, &fmt, &h, pos, &opt, &size, &pad)) {
        pos += pad;
        luaL_argcheck(L, pos <= ld && size <= ld - pos, 2, "data string too short");
        if (!lua_checkstack(L, 2))
            luaL_error(L, "too many results");
        if (opt == 'x') {
            pos += size;
            continue;
        }
        pos += unpack_one(L, opt, size, data, pos, ld, h.little);
    }
    lua_pushnumber(L, (lua_Number)pos + 1);
    return lua_gettop(L) - 2;
}

static int l_size(lua_State *L)
{
    struct fmt_state h = {native_little(), 1};
    const char *fmt = luaL_checkstring(L, 1);
    size_t pos = 0, size, pad;
    char opt;
    while (next_field(L, &fmt, &h, pos, &opt, &size, &pad)) {
        pos += pad;
        if (opt == 's')
            luaL_argerror(L, 1, "option 's' has no fixed size");
        if (opt == 'c' && size == 0)
            luaL_argerror(L, 1, "option 'c0' has no fixed size");
        if (!is_int_opt(opt) && !strchr("fdcx", opt))
            bad_option(L, opt);
        pos += size;
    }
    lua_pushnumber(L, (lua_Number)pos);
    return 1;
}

int luastruct_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"pack", l_pack}, {"unpack", l_unpack}, {"size", l_size}, {NULL, NULL}};
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
    lua_pushvalue(L, -1);
    lua_setglobal(L, "struct");
    return 1;
}
