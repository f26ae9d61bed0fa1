/*
 * luajson.c - the `cjson` library of scripts: JSON to and from Lua values, with the
 * interface and the behaviour of the lua-cjson 2.1.0 that Redis 7.0 embeds.
 *
 * Written here rather than taken from Debian's lua-cjson (2.1.0, unchanged since 2012):
 * that package sizes its output buffer with int arithmetic, so encoding a string longer
 * than about 350 MB overflows the heap (CVE-2022-24834, fixed in Redis's own copy only).
 * This one sizes with size_t, checks every growth, and bounds its output (luabuf.h).
 *
 * Encoding (cjson.encode(v)): nil and cjson.null -> null; booleans; numbers with %.<p>g
 * (p = encode_number_precision, 14 by default), NaN and infinities refused unless
 * encode_invalid_numbers allows them; strings with ", \, / and control characters
 * escaped; a table whose keys are all positive integers is an array (holes as null;
 * an excessively sparse one refused or, with encode_sparse_array(true), an object),
 * any other table an object whose keys must be strings or numbers; an empty table is
 * {}. Nesting deeper than encode_max_depth (1000) is refused.
 *
 * Decoding (cjson.decode(s)): RFC 4627 text -> tables, strings (\uXXXX and surrogate
 * pairs to UTF-8), numbers, booleans and cjson.null; nesting deeper than
 * decode_max_depth (1000) is refused. Errors name the character position as lua-cjson's
 * do ("Expected value but found invalid token at character 1").
 *
 * The settings (encode_max_depth, decode_max_depth, encode_number_precision,
 * encode_keep_buffer, encode_invalid_numbers, decode_invalid_numbers,
 * encode_sparse_array) live in a userdata shared, as an upvalue, by the library's
 * functions; each returns the setting's value after the change.
 */
#include "luajson.h"

#include "luabuf.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_DEFAULT_DEPTH 1000

struct json_cfg {
    int encode_max_depth, decode_max_depth;
    int precision;      /* 1..14 */
    int keep_buffer;    /* keep the encode buffer between calls */
    int enc_invalid;    /* 0 refuse, 1 allow (nan, inf), 2 as null */
    int dec_invalid;    /* accept nan, inf and hexadecimal numbers */
    int sparse_convert; /* an excessively sparse array becomes an object */
    int sparse_ratio, sparse_safe;
    struct luabuf buf;
};

static struct json_cfg *cfg_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static void buf_char(lua_State *L, struct luabuf *b, char c)
{
    luabuf_reserve(L, b, 1);
    b->p[b->len++] = c;
}

/* ---- encoding ---- */

static void encode_value(lua_State *L, struct json_cfg *cfg, int depth);

static void encode_error(lua_State *L, int idx, const char *why)
{
    luaL_error(L, "Cannot serialise %s: %s", luaL_typename(L, idx), why);
}

/* The escape of character c, or NULL when it stands for itself. */
static const char *escape_of(unsigned char c)
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '/':
        return "\\/";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        return NULL;
    }
}

static void encode_string(lua_State *L, struct luabuf *b, int idx)
{
    static const char hex[] = "0123456789abcdef";
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    luabuf_reserve(L, b, n + 2); /* grows further as escapes need */
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (b->cap - b->len < 7) /* the longest escape and the closing quote */
            luabuf_reserve(L, b, 7);
        char *o = b->p + b->len;
        const char *esc = escape_of(c);
        if (esc) {
            o[0] = esc[0];
            o[1] = esc[1];
            b->len += 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            b->len += 6;
        } else {
            o[0] = (char)c;
            b->len++;
        }
    }
    b->p[b->len++] = '"';
}

static void encode_number(lua_State *L, struct json_cfg *cfg, int idx)
{
    double d = lua_tonumber(L, idx);
    char tmp[64];
    int n;
    if (isnan(d) || isinf(d)) {
        if (cfg->enc_invalid == 0)
            encode_error(L, idx, "must not be NaN or Inf");
        if (cfg->enc_invalid == 2)
            n = snprintf(tmp, sizeof(tmp), "null");
        else
            n = snprintf(tmp, sizeof(tmp), "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    } else {
        n = snprintf(tmp, sizeof(tmp), "%.*g", cfg->precision, d);
    }
    luabuf_add(L, &cfg->buf, tmp, (size_t)n);
}

/* The length of the table at idx as an array, 0 when empty, or -1 when it is an object
 * (a key that is not a positive integer, or too sparse and converted). */
static long array_length(lua_State *L, struct json_cfg *cfg, int idx)
{
    double max = 0;
    long items = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        double k;
        if (lua_type(L, -2) != LUA_TNUMBER || (k = lua_tonumber(L, -2)) < 1 || floor(k) != k ||
            k > (double)INT32_MAX) {
            lua_pop(L, 2);
            return -1;
        }
        if (k > max)
            max = k;
        items++;
    }
    if (cfg->sparse_ratio > 0 && max > cfg->sparse_safe &&
        max > (double)items * cfg->sparse_ratio) {
        if (!cfg->sparse_convert)
            encode_error(L, idx, "excessively sparse array");
        return -1;
    }
    return (long)max;
}

static void encode_table(lua_State *L, struct json_cfg *cfg, int depth)
{
    int t = lua_gettop(L);
    if (depth > cfg->encode_max_depth)
        luaL_error(L, "Cannot serialise, excessive nesting (%d)", depth);
    if (!lua_checkstack(L, 4))
        luaL_error(L, "Cannot serialise, excessive nesting (%d)", depth);
    long n = array_length(L, cfg, t);
    if (n > 0) {
        buf_char(L, &cfg->buf, '[');
        for (long i = 1; i <= n; i++) {
            if (i > 1)
                buf_char(L, &cfg->buf, ',');
            lua_rawgeti(L, t, (int)i);
            encode_value(L, cfg, depth);
            lua_pop(L, 1);
        }
        buf_char(L, &cfg->buf, ']');
        return;
    }
    buf_char(L, &cfg->buf, '{');
    int first = 1;
    for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
        if (!first)
            buf_char(L, &cfg->buf, ',');
        first = 0;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            encode_string(L, &cfg->buf, -2);
        } else if (kt == LUA_TNUMBER) {
            buf_char(L, &cfg->buf, '"');
            encode_number(L, cfg, -2);
            buf_char(L, &cfg->buf, '"');
        } else {
            encode_error(L, -2, "table key must be a number or string");
        }
        buf_char(L, &cfg->buf, ':');
        encode_value(L, cfg, depth);
    }
    buf_char(L, &cfg->buf, '}');
}

/* Appends the JSON of the value on the stack top (left there). */
static void encode_value(lua_State *L, struct json_cfg *cfg, int depth)
{
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        encode_string(L, &cfg->buf, -1);
        return;
    case LUA_TNUMBER:
        encode_number(L, cfg, -1);
        return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1))
            luabuf_add(L, &cfg->buf, "true", 4);
        else
            luabuf_add(L, &cfg->buf, "false", 5);
        return;
    case LUA_TNIL:
        luabuf_add(L, &cfg->buf, "null", 4);
        return;
    case LUA_TTABLE:
        encode_table(L, cfg, depth + 1);
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, -1) == NULL) {
            luabuf_add(L, &cfg->buf, "null", 4);
            return;
        }
        break;
    default:
        break;
    }
    encode_error(L, -1, "type not supported");
}

static int l_encode(lua_State *L)
{
    struct json_cfg *cfg = cfg_of(L);
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    cfg->buf.len = 0;
    encode_value(L, cfg, 0);
    lua_pushlstring(L, cfg->buf.p, cfg->buf.len);
    if (!cfg->keep_buffer) {
        luabuf_free(&cfg->buf);
    }
    return 1;
}

/* ---- decoding ---- */

struct json_in {
    const char *s, *p, *end;
    struct json_cfg *cfg;
};

static int at(const struct json_in *in)
{
    return (int)(in->p - in->s) + 1;
}

static void skip_ws(struct json_in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

/* Whether [p, end) starts with word. */
static int starts(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

static int number_start(const struct json_in *in);

/* The lua-cjson name of the token at the input position. */
static const char *token_name(const struct json_in *in)
{
    if (in->p >= in->end)
        return "T_END";
    switch (*in->p) {
    case '{':
        return "T_OBJ_BEGIN";
    case '}':
        return "T_OBJ_END";
    case '[':
        return "T_ARR_BEGIN";
    case ']':
        return "T_ARR_END";
    case ',':
        return "T_COMMA";
    case ':':
        return "T_COLON";
    case '"':
        return "T_STRING";
    default:
        break;
    }
    if (starts(in->p, in->end, "true") || starts(in->p, in->end, "false"))
        return "T_BOOLEAN";
    if (starts(in->p, in->end, "null"))
        return "T_NULL";
    if (number_start(in)) {
        char *e;
        strtod(in->p, &e);
        return e == in->p ? "invalid number" : "T_NUMBER";
    }
    return "invalid token";
}

static void decode_error(lua_State *L, const struct json_in *in, const char *expected)
{
    luaL_error(L, "Expected %s but found %s at character %d", expected, token_name(in), at(in));
}

static void decode_value(lua_State *L, struct json_in *in, int depth);

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX (with its surrogate pair) at in->p, past the backslash-u; appends UTF-8 to o.
 * Returns the bytes written, or 0 when invalid. */
static size_t decode_unicode(struct json_in *in, char *o)
{
    if (in->end - in->p < 4)
        return 0;
    long cp = hex4(in->p);
    if (cp < 0)
        return 0;
    in->p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return 0;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (in->end - in->p < 6 || in->p[0] != '\\' || in->p[1] != 'u')
            return 0;
        long lo = hex4(in->p + 2);
        if (lo < 0xdc00 || lo > 0xdfff)
            return 0;
        in->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return utf8_put(o, (unsigned long)cp);
}

/* Pushes the string at in->p (its opening quote). */
static void decode_string(lua_State *L, struct json_in *in)
{
    in->p++; /* the opening quote */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        const char *run = in->p;
        while (in->p < in->end && *in->p != '"' && *in->p != '\\')
            in->p++;
        luaL_addlstring(&b, run, (size_t)(in->p - run));
        if (in->p >= in->end)
            luaL_error(L, "Expected value but found unexpected end of string at character %d",
                       at(in));
        if (*in->p == '"')
            break;
        const char *backslash = in->p++;
        char c = in->p < in->end ? *in->p++ : '\0', u[8];
        const char *rep = NULL;
        switch (c) {
        case '"':
            rep = "\"";
            break;
        case '\\':
            rep = "\\";
            break;
        case '/':
            rep = "/";
            break;
        case 'b':
            rep = "\b";
            break;
        case 'f':
            rep = "\f";
            break;
        case 'n':
            rep = "\n";
            break;
        case 'r':
            rep = "\r";
            break;
        case 't':
            rep = "\t";
            break;
        case 'u': {
            size_t n = decode_unicode(in, u);
            if (n == 0) {
                in->p = backslash;
                luaL_error(L,
                           "Expected value but found invalid unicode escape code at character %d",
                           at(in));
            }
            luaL_addlstring(&b, u, n);
            continue;
        }
        default:
            in->p = backslash;
            luaL_error(L, "Expected value but found invalid escape code at character %d", at(in));
        }
        luaL_addchar(&b, rep[0]);
    }
    in->p++; /* the closing quote */
    luaL_pushresult(&b);
}

/* Whether a number starts at in->p, as lua-cjson reads them: with strtod, from a minus
 * sign or a digit (leading zeros and hexadecimal included), or, while
 * decode_invalid_numbers is on, from '+', inf or nan. */
static int number_start(const struct json_in *in)
{
    const char *p = in->p;
    if (*p == '-' || (*p >= '0' && *p <= '9'))
        return 1;
    return in->cfg->dec_invalid &&
           (*p == '+' || strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0);
}

/* Whether the number at in->p is one JSON refuses (lua-cjson's json_is_invalid_number):
 * a '+', hexadecimal, leading zeros, inf or nan. */
static int number_invalid(const char *p)
{
    if (*p == '+')
        return 1;
    if (*p == '-')
        p++;
    if (*p == '0')
        return (p[1] | 0x20) == 'x' || (p[1] >= '0' && p[1] <= '9');
    if (*p <= '9')
        return 0;
    return strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0;
}

/* Pushes the number at in->p; returns 0, or -1 when there is none. The text is a Lua
 * string, so NUL-terminated: strtod stops inside it. */
static int decode_number(lua_State *L, struct json_in *in)
{
    if (!number_start(in))
        return -1;
    if (!in->cfg->dec_invalid && number_invalid(in->p))
        luaL_error(L, "Expected value but found invalid number at character %d", at(in));
    char *e;
    double d = strtod(in->p, &e);
    if (e == in->p)
        return -1;
    in->p = e;
    lua_pushnumber(L, d);
    return 0;
}

static void decode_container(lua_State *L, struct json_in *in, int depth, int array)
{
    char close = array ? ']' : '}';
    if (depth > in->cfg->decode_max_depth || !lua_checkstack(L, 4))
        luaL_error(L, "Found too many nested data structures (%d) at character %d", depth, at(in));
    in->p++;
    lua_newtable(L);
    skip_ws(in);
    if (in->p < in->end && *in->p == close) {
        in->p++;
        return;
    }
    for (int i = 1;; i++) {
        if (!array) {
            skip_ws(in);
            if (in->p >= in->end || *in->p != '"')
                decode_error(L, in, "object key string");
            decode_string(L, in);
            skip_ws(in);
            if (in->p >= in->end || *in->p != ':')
                decode_error(L, in, "colon");
            in->p++;
        }
        decode_value(L, in, depth);
        if (array)
            lua_rawseti(L, -2, i);
        else
            lua_rawset(L, -3);
        skip_ws(in);
        if (in->p < in->end && *in->p == close) {
            in->p++;
            return;
        }
        if (in->p >= in->end || *in->p != ',')
            decode_error(L, in, array ? "comma or array end" : "comma or object end");
        in->p++;
    }
}

/* Pushes the value at in->p. */
static void decode_value(lua_State *L, struct json_in *in, int depth)
{
    skip_ws(in);
    if (in->p >= in->end)
        decode_error(L, in, "value");
    switch (*in->p) {
    case '{':
        decode_container(L, in, depth + 1, 0);
        return;
    case '[':
        decode_container(L, in, depth + 1, 1);
        return;
    case '"':
        decode_string(L, in);
        return;
    default:
        break;
    }
    if (starts(in->p, in->end, "true")) {
        lua_pushboolean(L, 1);
        in->p += 4;
    } else if (starts(in->p, in->end, "false")) {
        lua_pushboolean(L, 0);
        in->p += 5;
    } else if (starts(in->p, in->end, "null")) {
        lua_pushlightuserdata(L, NULL);
        in->p += 4;
    } else if (decode_number(L, in) < 0) {
        decode_error(L, in, "value");
    }
}

static int l_decode(lua_State *L)
{
    struct json_in in;
    size_t n;
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    in.s = luaL_checklstring(L, 1, &n);
    in.p = in.s;
    in.end = in.s + n;
    in.cfg = cfg_of(L);
    decode_value(L, &in, 0);
    skip_ws(&in);
    if (in.p < in.end)
        decode_error(L, &in, "the end");
    return 1;
}

/* ---- settings ---- */

/* An optional integer setting in [lo, hi] at argument 1: sets *v, pushes it. */
static int int_setting(lua_State *L, int *v, int lo, int hi)
{
    luaL_argcheck(L, lua_gettop(L) <= 1, 1, "found too many arguments");
    if (!lua_isnoneornil(L, 1)) {
        int x = (int)luaL_checkinteger(L, 1);
        if (x < lo || x > hi)
            return luaL_argerror(L, 1,
                                 lua_pushfstring(L, "expected integer between %d and %d", lo, hi));
        *v = x;
    }
    lua_pushinteger(L, *v);
    return 1;
}

/* An optional boolean ("on"/"off" or true/false) at argument idx. */
static void bool_arg(lua_State *L, int idx, int *v)
{
    if (lua_isnoneornil(L, idx))
        return;
    if (lua_isboolean(L, idx)) {
        *v = lua_toboolean(L, idx);
        return;
    }
    static const char *const opts[] = {"off", "on", NULL};
    *v = luaL_checkoption(L, idx, NULL, opts);
}

static int l_encode_max_depth(lua_State *L)
{
    return int_setting(L, &cfg_of(L)->encode_max_depth, 1, INT32_MAX);
}

static int l_decode_max_depth(lua_State *L)
{
    return int_setting(L, &cfg_of(L)->decode_max_depth, 1, INT32_MAX);
}

static int l_encode_number_precision(lua_State *L)
{
    return int_setting(L, &cfg_of(L)->precision, 1, 14);
}

static int l_encode_keep_buffer(lua_State *L)
{
    struct json_cfg *cfg = cfg_of(L);
    luaL_argcheck(L, lua_gettop(L) <= 1, 1, "found too many arguments");
    bool_arg(L, 1, &cfg->keep_buffer);
    if (!cfg->keep_buffer) {
        luabuf_free(&cfg->buf);
    }
    lua_pushboolean(L, cfg->keep_buffer);
    return 1;
}

static int l_encode_invalid_numbers(lua_State *L)
{
    struct json_cfg *cfg = cfg_of(L);
    luaL_argcheck(L, lua_gettop(L) <= 1, 1, "found too many arguments");
    if (lua_type(L, 1) == LUA_TSTRING && strcmp(lua_tostring(L, 1), "null") == 0)
        cfg->enc_invalid = 2;
    else
        bool_arg(L, 1, &cfg->enc_invalid);
    if (cfg->enc_invalid == 2)
        lua_pushliteral(L, "null");
    else
        lua_pushboolean(L, cfg->enc_invalid);
    return 1;
}

static int l_decode_invalid_numbers(lua_State *L)
{
    struct json_cfg *cfg = cfg_of(L);
    luaL_argcheck(L, lua_gettop(L) <= 1, 1, "found too many arguments");
    bool_arg(L, 1, &cfg->dec_invalid);
    lua_pushboolean(L, cfg->dec_invalid);
    return 1;
}

static int l_encode_sparse_array(lua_State *L)
{
    struct json_cfg *cfg = cfg_of(L);
    luaL_argcheck(L, lua_gettop(L) <= 3, 1, "found too many arguments");
    bool_arg(L, 1, &cfg->sparse_convert);
    if (!lua_isnoneornil(L, 2)) {
        int r = (int)luaL_checkinteger(L, 2);
        luaL_argcheck(L, r >= 0, 2, "expected integer between the limits");
        cfg->sparse_ratio = r;
    }
    if (!lua_isnoneornil(L, 3)) {
        int s = (int)luaL_checkinteger(L, 3);
        luaL_argcheck(L, s >= 0, 3, "expected integer between the limits");
        cfg->sparse_safe = s;
    }
    lua_pushboolean(L, cfg->sparse_convert);
    lua_pushinteger(L, cfg->sparse_ratio);
    lua_pushinteger(L, cfg->sparse_safe);
    return 3;
}

static int cfg_gc(lua_State *L)
{
    struct json_cfg *cfg = lua_touserdata(L, 1);
    luabuf_free(&cfg->buf);
    return 0;
}

static int l_new(lua_State *L);

/* Pushes a new cjson table with default settings of its own. */
static void push_library(lua_State *L)
{
    static const luaL_Reg fns[] = {{"encode", l_encode},
                                   {"decode", l_decode},
                                   {"encode_max_depth", l_encode_max_depth},
                                   {"decode_max_depth", l_decode_max_depth},
                                   {"encode_number_precision", l_encode_number_precision},
                                   {"encode_keep_buffer", l_encode_keep_buffer},
                                   {"encode_invalid_numbers", l_encode_invalid_numbers},
                                   {"decode_invalid_numbers", l_decode_invalid_numbers},
                                   {"encode_sparse_array", l_encode_sparse_array},
                                   {"new", l_new},
                                   {NULL, NULL}};
    lua_newtable(L);
    struct json_cfg *cfg = lua_newuserdata(L, sizeof(*cfg));
    *cfg = (struct json_cfg){.encode_max_depth = JSON_DEFAULT_DEPTH,
                             .decode_max_depth = JSON_DEFAULT_DEPTH,
                             .precision = 14,
                             .keep_buffer = 1,
                             .dec_invalid = 1,
                             .sparse_ratio = 2,
                             .sparse_safe = 10,
                             .buf.what = "Cannot serialise"};
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, cfg_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -3, f->name);
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushliteral(L, "cjson");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "2.1.0");
    lua_setfield(L, -2, "_VERSION");
}

static int l_new(lua_State *L)
{
    push_library(L);
    return 1;
}

int luajson_open(lua_State *L)
{
    push_library(L);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cjson");
    return 1;
}
