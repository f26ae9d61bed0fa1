/*
 * tmap.c - which table holds each database: the table map behind ls_swap_tables.
 *
 * Records name the table they were written to (the "physical" table: the record's table
 * field, its index, its compaction groups, its FLUSH records). The API's table numbers
 * are "logical" (Redis databases); e->tmap maps each logical number to its physical
 * table, identity until a swap. ls_swap_tables (Redis SWAPDB) exchanges two entries, so a
 * swap costs no copy and touches no record: every record stays in the table it was
 * written to, and only the names of the two tables change.
 *
 * Durability: the map lives in `logstor.tables` (FORMAT.md), replaced atomically and
 * durably (vfs_write_atomic: write, fsync, rename, fsync dir) before the swap takes
 * effect in memory. After a crash the map is the old one or the new one, never a mix, and
 * a swap reported done is the new one. Writes are labelled with physical tables, so their
 * order relative to the map file does not matter: a write made before the swap is in the
 * table that the swap renamed, one made after it in the other, whichever of them reaches
 * the disk first. Absent file: identity. A damaged file refuses the open (LS_ECORRUPT):
 * guessing would show one database's keys under another's number.
 *
 * Changing `tables`: a map written for fewer tables is extended with identity; one
 * written for more is accepted only when the tables beyond the new count were never
 * swapped (else their keys would be named by a database that no longer exists).
 */
#include "internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "vfs.h"

#define TMAP_NAME  "logstor.tables"
#define TMAP_MAGIC UINT64_C(0x31454c424154534c) /* "LSTABLE1" */
#define TMAP_HDR   16                           /* magic, count, reserved */
#define TMAP_MAX   65536                        /* the record's table field: 16 bits */

uint32_t eng_phys(const struct ls_engine *e, uint32_t table)
{
    return table < e->cfg.tables && e->tmap ? e->tmap[table] : table;
}

static int tmap_identity(struct ls_engine *e)
{
    e->tmap = malloc(sizeof(*e->tmap) * e->cfg.tables);
    if (!e->tmap)
        return -ENOMEM;
    for (uint32_t i = 0; i < e->cfg.tables; i++)
        e->tmap[i] = i;
    return 0;
}

/* Checks that map[0..n) is a permutation and fits e->cfg.tables (see the comment above).
 * Returns 0 or LS_ECORRUPT / LS_ECONFIG after logging. */
static int tmap_check(struct ls_engine *e, const uint16_t *map, uint32_t n)
{
    uint8_t *seen = calloc(n, 1);
    int rc = 0;

    if (!seen)
        return -ENOMEM;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (map[i] >= n || seen[map[i]])
            rc = LS_ECORRUPT;
        else
            seen[map[i]] = 1;
        if (rc == 0 && i >= e->cfg.tables && map[i] != i)
            rc = LS_ECONFIG;
    }
    free(seen);
    if (rc == LS_ECORRUPT)
        eng_log(e, LS_LOG_ERROR, "%s/%s is damaged (not a permutation)", e->dir, TMAP_NAME);
    if (rc == LS_ECONFIG)
        eng_log(e, LS_LOG_ERROR,
                "%s/%s: databases beyond tables=%u were swapped; configure at least %u tables",
                e->dir, TMAP_NAME, e->cfg.tables, n);
    return rc;
}

/* Parses the file's bytes into e->tmap (identity already there). */
static int tmap_parse(struct ls_engine *e, const uint8_t *buf, size_t len)
{
    uint64_t magic, sum;
    uint32_t n;

    if (len < TMAP_HDR + 8)
        goto damaged;
    memcpy(&magic, buf, 8);
    memcpy(&n, buf + 8, 4);
    if (magic != TMAP_MAGIC || n == 0 || n > TMAP_MAX || len != TMAP_HDR + 2 * (size_t)n + 8)
        goto damaged;
    memcpy(&sum, buf + len - 8, 8);
    if (XXH3_64bits(buf, len - 8) != sum)
        goto damaged;
    const uint16_t *map = (const uint16_t *)(const void *)(buf + TMAP_HDR);
    int rc = tmap_check(e, map, n);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n && i < e->cfg.tables; i++)
        e->tmap[i] = map[i];
    return 0;
damaged:
    eng_log(e, LS_LOG_ERROR, "%s/%s is damaged", e->dir, TMAP_NAME);
    return LS_ECORRUPT;
}

int eng_tmap_load(struct ls_engine *e)
{
    size_t cap = TMAP_HDR + 2 * (size_t)TMAP_MAX + 8;
    int rc = tmap_identity(e);
    if (rc < 0)
        return rc;
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    int64_t n = vfs_read_file(e->cfg.sim, e->dir_fd, TMAP_NAME, buf, cap + 1);
    if (n == -ENOENT)
        rc = 0;
    else if (n < 0)
        rc = (int)n;
    else
        rc = tmap_parse(e, buf, (size_t)n);
    free(buf);
    return rc;
}

static int tmap_write(struct ls_engine *e, const uint32_t *map)
{
    uint32_t n = e->cfg.tables;
    size_t len = TMAP_HDR + 2 * (size_t)n + 8;
    uint8_t *buf = calloc(1, len);
    uint64_t magic = TMAP_MAGIC, sum;

    if (!buf)
        return -ENOMEM;
    memcpy(buf, &magic, 8);
    memcpy(buf + 8, &n, 4);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)map[i];
        memcpy(buf + TMAP_HDR + 2 * (size_t)i, &v, 2);
    }
    sum = XXH3_64bits(buf, len - 8);
    memcpy(buf + len - 8, &sum, 8);
    int rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, TMAP_NAME, buf, len);
    free(buf);
    return rc;
}

int eng_tmap_set(struct ls_engine *e, const uint32_t *map, uint32_t n)
{
    uint32_t *next = malloc(sizeof(*next) * e->cfg.tables);
    if (!next)
        return -ENOMEM;
    for (uint32_t i = 0; i < e->cfg.tables; i++)
        next[i] = i < n && map[i] < e->cfg.tables ? map[i] : i;
    int rc = tmap_write(e, next);
    if (rc < 0) {
        free(next);
        return rc;
    }
    free(e->tmap);
    e->tmap = next;
    return 0;
}

int ls_swap_tables(struct ls_engine *e, uint32_t a, uint32_t b)
{
    if (a >= e->cfg.tables || b >= e->cfg.tables)
        return LS_EBADTABLE;
    if (a == b)
        return 0;
    if (e->cfg.read_only)
        return LS_EINVAL;
    if (e->closing)
        return LS_ECLOSING;
    if (e->failed)
        return LS_EFAILED;
    uint32_t *next = malloc(sizeof(*next) * e->cfg.tables);
    if (!next)
        return -ENOMEM;
    memcpy(next, e->tmap, sizeof(*next) * e->cfg.tables);
    next[a] = e->tmap[b];
    next[b] = e->tmap[a];
    int rc = tmap_write(e, next);
    if (rc < 0) {
        eng_log(e, LS_LOG_ERROR, "cannot write %s/%s: %s", e->dir, TMAP_NAME, ls_strerror(rc));
        free(next);
        return rc;
    }
    free(e->tmap);
    e->tmap = next;
    return 0;
}
