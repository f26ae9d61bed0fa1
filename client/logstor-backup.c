/*
 * logstor-backup - copies a snapshot (SNAPSHOT CREATE name) of a logstor data directory
 * into a new directory that `logstord --dir` opens directly, while the server runs.
 *
 *   logstor-backup [-d DATABASES] [-q] SOURCE_DIR SNAPSHOT DEST_DIR
 *     -d   databases (tables) of the copy; default 16, at least the snapshot's
 *     -q   no progress line
 *
 * The snapshot's file lists every key live at its instant; the records it names sit in
 * segments the server holds for it (never compacted nor reused while the snapshot
 * exists), so they are read straight from SOURCE_DIR's data files while the server goes
 * on writing elsewhere. Every record is verified (its checksum is seeded with the
 * directory's seed and the segment use) before it is written into DEST_DIR through the
 * engine, with its value, expiry, client flags and database; keys expired by now are
 * left out. DEST_DIR is closed cleanly (its shutdown checkpoint written), so the server
 * started on it opens it without reading its log. DEST_DIR must be absent or empty.
 *
 * Exit status: 0 copied; 1 the copy failed (a record could not be read or verified, the
 * destination refused a write): DEST_DIR is then incomplete; 2 usage or setup error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logstor.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void engine_log(void *arg, enum ls_log_level level, const char *msg)
{
    (void)arg;
    if (level <= LS_LOG_WARN)
        fprintf(stderr, "logstor-backup: %s\n", msg);
}

/* 1 when dir is absent or empty, 0 when it holds something, -1 when it cannot be read. */
static int empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int empty = 1;

    if (!d)
        return errno == ENOENT ? 1 : -1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    return empty;
}

/* The bytes of the source's data files: the copy gets room for at least as much. */
static uint64_t data_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t n = 0;
    char path[4200];
    struct stat sb;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "data-", 5) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &sb) == 0)
            n += (uint64_t)sb.st_size;
    }
    closedir(d);
    return n;
}

static int read_geometry(const char *dir, uint32_t *seg, uint32_t *file)
{
    char path[4200];
    unsigned char m[64];
    snprintf(path, sizeof(path), "%s/logstor.meta", dir);
    FILE *f = fopen(path, "rb");
    if (!f || fread(m, 1, 64, f) != 64 || memcmp(m, "LSMETA01", 8) != 0) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    memcpy(seg, m + 12, 4);
    memcpy(file, m + 16, 4);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t tables = 16, seg = 0, file = 0;
    int opt, quiet = 0;
    char err[512];
    uint64_t keys = 0;

    while ((opt = getopt(argc, argv, "d:qh")) != -1) {
        if (opt == 'd') {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > 65536) {
                fprintf(stderr, "logstor-backup: -d wants 1..65536\n");
                return 2;
            }
            tables = (uint32_t)v;
        } else if (opt == 'q') {
            quiet = 1;
        } else {
            fprintf(stderr, "usage: logstor-backup [-d DATABASES] [-q] SOURCE_DIR SNAPSHOT "
                            "DEST_DIR\n");
            return 2;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "usage: logstor-backup [-d DATABASES] [-q] SOURCE_DIR SNAPSHOT DEST_DIR\n");
        return 2;
    }
    const char *src = argv[optind], *name = argv[optind + 1], *dst = argv[optind + 2];
    if (read_geometry(src, &seg, &file) < 0) {
        fprintf(stderr, "logstor-backup: %s is not a logstor data directory\n", src);
        return 2;
    }
    int em = empty_dir(dst);
    if (em <= 0) {
        fprintf(stderr, "logstor-backup: %s %s\n", dst,
                em < 0 ? "cannot be read" : "is not empty: give a new directory");
        return 2;
    }

    struct ls_config c;
    struct ls_engine *e = NULL;
    ls_config_default(&c);
    c.dir = dst;
    c.segment_size = seg;
    c.file_size = file;
    c.tables = tables;
    c.max_key_size = 1u << 20;
    c.max_value_size = ls_max_value(file, c.max_key_size); /* the largest allowed */
    if (c.max_value_size > (64u << 20))
        c.max_value_size = 64u << 20;
    c.durability = LS_PERIODIC;
    c.log = engine_log;
    uint64_t need = data_bytes(src) + (uint64_t)file * 4;
    if (c.disk_size < need)
        c.disk_size = (need + file - 1) / file * file;
    int rc = ls_open(&c, &e);
    if (rc < 0) {
        fprintf(stderr, "logstor-backup: cannot open %s: %s\n", dst, ls_strerror(rc));
        return 2;
    }
    double t0 = now_s();
    rc = ls_snapshot_export(src, name, e, &keys, err, sizeof(err));
    ls_close(e); /* durable, with its shutdown checkpoint */
    if (rc < 0) {
        fprintf(stderr, "logstor-backup: %s (%s)\n", err, ls_strerror(rc));
        fprintf(stderr, "logstor-backup: %s is incomplete\n", dst);
        return rc == LS_ENOTFOUND || rc == LS_EINVAL || rc == LS_EBADTABLE ? 2 : 1;
    }
    if (!quiet)
        printf("logstor-backup: snapshot %s of %s: %llu keys copied into %s in %.2f s\n", name, src,
               (unsigned long long)keys, dst, now_s() - t0);
    return 0;
}
