/*
 * plist.c - the large form's root, page keys and anchors (plist.h).
 */
#include "plist.h"

#include <string.h>
#include <xxhash.h>

#include "coll.h"

static void put64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int plist_is_root(const uint8_t *v, size_t n)
{
    return n > 0 && (v[0] & 0x0f) == PLIST_ROOT_VERSION;
}

size_t plist_root_len(const struct plist_root *r)
{
    return r->flags & PLIST_F_TREE ? PLIST_ROOT_MAX : PLIST_ROOT_LEN;
}

int plist_root_decode(const uint8_t *v, size_t n, struct plist_root *out)
{
    if (!plist_is_root(v, n))
        return -1;
    out->flags = (uint8_t)(v[0] & 0xf0);
    if (out->flags & PLIST_F_STREAM) { /* its meta follows (proto/stream.h) */
        if (n < PLIST_ROOT_LEN || (out->flags & (PLIST_F_HASHED | PLIST_F_TREE)))
            return -1;
    } else if (n != plist_root_len(out)) {
        return -1;
    }
    out->version = plist_get64le(v + 1);
    out->count = plist_get64le(v + 9);
    out->head = plist_get64le(v + 17);
    out->tail = plist_get64le(v + 25);
    out->lo = plist_get64le(v + 33);
    out->hi = plist_get64le(v + 41);
    if (out->version == 0 || out->count == 0 || out->head > out->tail ||
        (!(out->flags & PLIST_F_HASHED) && out->tail - out->head >= out->count) ||
        out->lo > out->head || out->tail > out->hi)
        return -1;
    out->top = out->next = out->depth = 0;
    if (out->flags & PLIST_F_TREE) {
        out->top = plist_get64le(v + 49);
        out->next = plist_get64le(v + 57);
        out->depth = plist_get64le(v + 65);
        if (!(out->flags & PLIST_F_HASHED) || out->depth == 0 || out->depth > 32 ||
            out->next >= out->top || out->top >= out->head || out->next + 1 < out->lo)
            return -1;
    }
    return 0;
}

size_t plist_root_encode(const struct plist_root *r, uint8_t *out)
{
    out[0] = (uint8_t)(PLIST_ROOT_VERSION | (r->flags & 0xf0));
    plist_put64le(out + 1, r->version);
    plist_put64le(out + 9, r->count);
    plist_put64le(out + 17, r->head);
    plist_put64le(out + 25, r->tail);
    plist_put64le(out + 33, r->lo);
    plist_put64le(out + 41, r->hi);
    if (!(r->flags & PLIST_F_TREE))
        return PLIST_ROOT_LEN;
    plist_put64le(out + 49, r->top);
    plist_put64le(out + 57, r->next);
    plist_put64le(out + 65, r->depth);
    return PLIST_ROOT_MAX;
}

void plist_page_key(uint64_t version, uint64_t page, uint8_t *out)
{
    put64be(out, version);
    put64be(out + 8, page);
}

void plist_anchor_key(uint64_t version, uint8_t *out)
{
    put64be(out, version);
}

int plist_anchor_key_decode(const uint8_t *k, size_t n, uint64_t *version)
{
    if (n != PLIST_ANCHOR_KEY_LEN)
        return -1;
    *version = get64be(k);
    return 0;
}

size_t plist_anchor_len(const struct plist_anchor *a)
{
    return coll_varint_len(a->key_len) + a->key_len + 16;
}

size_t plist_anchor_encode(const struct plist_anchor *a, uint8_t *out)
{
    size_t o = coll_varint_put(out, a->key_len);
    memcpy(out + o, a->key, a->key_len);
    o += a->key_len;
    plist_put64le(out + o, a->lo);
    plist_put64le(out + o + 8, a->hi);
    return o + 16;
}

int plist_anchor_decode(const uint8_t *v, size_t n, struct plist_anchor *out)
{
    uint64_t kl;
    size_t k = coll_varint_get(v, n, &kl);
    if (k == 0 || kl > n - k || n - k - kl != 16)
        return -1;
    out->key = v + k;
    out->key_len = (size_t)kl;
    out->lo = plist_get64le(v + k + kl);
    out->hi = plist_get64le(v + k + kl + 8);
    return out->lo <= out->hi ? 0 : -1;
}

uint64_t plist_bucket(const void *p, size_t n, uint64_t nb)
{
    return XXH3_64bits(p, n) % nb;
}

size_t plist_page_bytes(const size_t *len, size_t n)
{
    size_t b = 1 + coll_varint_len(n);
    for (size_t i = 0; i < n; i++)
        b += coll_varint_len(len[i]) + len[i];
    return b;
}

/* Splits elements whose encodings take enc(len[i]) bytes each (see plist_split). */
static size_t split(const size_t *len, size_t n, size_t max, size_t *per, int raw)
{
    size_t pages = 0, k = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t el = raw ? len[i] : coll_varint_len(len[i]) + len[i];
        if (k > 0 && (k == PLIST_PAGE_ELEMS || 1 + coll_varint_len(k + 1) + bytes + el > max)) {
            per[pages++] = k;
            k = 0;
            bytes = 0;
        }
        k++;
        bytes += el;
    }
    if (k > 0)
        per[pages++] = k;
    return pages;
}

size_t plist_split(const size_t *len, size_t n, size_t max, size_t *per)
{
    return split(len, n, max, per, 0);
}

size_t plist_split_raw(const size_t *enc, size_t n, size_t max, size_t *per)
{
    return split(enc, n, max, per, 1);
}
