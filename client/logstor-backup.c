/*
 * logstor-backup - copies a snapshot (SNAPSHOT CREATE name) of a logstor data directory
 * into a new directory that `logstord --dir` opens directly, while the server runs.
 *
 *   logstor-backup [-d DATABASES] [-q] SOURCE_DIR SNAPSHOT DEST_DIR
 *   logstor-backup [-d DATABASES] [-q] -t SOURCE_DIR SNAPSHOT TAR_FILE|-
 *     -d   databases (tables) of the copy; default 16, at least the snapshot's; a
 *          directory whose logstord.layout names its databases (logstord's large lists
 *          keep two engine tables after them) gets that many and the two, and the file
 *     -q   no progress line
 *     -t   write a tar stream (POSIX ustar) to TAR_FILE, or to standard output for "-",
 *          instead of a directory: one directory named SNAPSHOT holding the copy's files,
 *          so that `tar -xf TAR -C /somewhere` gives /somewhere/SNAPSHOT, which
 *          `logstord --dir` opens directly. The copy is made in a temporary directory
 *          ($TMPDIR, else /tmp), streamed, then removed.
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
 * Exit status: 0 copied; 1 the copy failed (or the tar stream could not be written) (a record could
 * not be read or verified, the destination refused a write): DEST_DIR is then incomplete; 2 usage
 * or setup error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* ---- -t: the copy as a tar stream ---- */

/* Removes dir and the files in it (the temporary copy; it has no subdirectory). */
static void rm_flat(const char *dir)
{
    char path[4200];
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d) {
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A header field: width-1 octal digits, zero-padded, then a NUL. */
static void octal(unsigned char *f, int width, uint64_t v)
{
    f[width - 1] = '\0';
    for (int i = width - 2; i >= 0; i--, v >>= 3)
        f[i] = (unsigned char)('0' + (v & 7));
}

/* One POSIX ustar header block for a regular file or directory. */
static void tar_header(unsigned char h[512], const char *name, uint64_t size, int dir,
                       uint64_t mtime)
{
    memset(h, 0, 512);
    memcpy(h, name, strnlen(name, 99));
    octal(h + 100, 8, dir ? 0755u : 0644u);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, mtime);
    h[156] = dir ? '5' : '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    octal(h + 148, 7, sum); /* six digits, a NUL, then the space left there */
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Streams dir's regular files under top/ to out, then two zero blocks, and removes dir.
 * 0, or -1 with err filled. */
static int tar_dir(const char *dir, const char *top, int out, char *err, size_t errlen)
{
    static unsigned char buf[1 << 20];
    unsigned char h[512];
    char *names[256], path[8448], member[600];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        snprintf(err, errlen, "cannot read %.400s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL && n < 256)
        if (de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    uint64_t mtime = (uint64_t)time(NULL);
    snprintf(member, sizeof(member), "%s/", top);
    tar_header(h, member, 0, 1, mtime);
    if (write_all(out, h, 512) < 0)
        rc = -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            snprintf(err, errlen, "cannot read %.400s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = -2;
            break;
        }
        snprintf(member, sizeof(member), "%s/%s", top, names[i]);
        tar_header(h, member, (uint64_t)sb.st_size, 0, mtime);
        if (write_all(out, h, 512) < 0)
            rc = -1;
        uint64_t left = (uint64_t)sb.st_size;
        while (rc == 0 && left) {
            ssize_t got = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
            if (got <= 0) {
                snprintf(err, errlen, "cannot read %.400s: %s", path,
                         got ? strerror(errno) : "short");
                rc = -2;
                break;
            }
            left -= (uint64_t)got;
            size_t pad = (size_t)(left ? 0 : (512 - (uint64_t)sb.st_size % 512) % 512);
            memset(buf + got, 0, pad);
            if (write_all(out, buf, (size_t)got + pad) < 0)
                rc = -1;
        }
        close(fd);
    }
    memset(h, 0, 512);
    for (int z = 0; z < 2 && rc == 0; z++)
        if (write_all(out, h, 512) < 0)
            rc = -1;
    if (rc == -1)
        snprintf(err, errlen, "writing the tar stream: %s", strerror(errno));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    rm_flat(dir);
    return rc < 0 ? -1 : 0;
}

/* The databases setting of logstord.layout in dir (large.c), 0 when it has none. */
static long read_layout(const char *dir)
{
    char path[4200];
    long n = 0;
    if (snprintf(path, sizeof(path), "%.4096s/logstord.layout", dir) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "databases %ld", &n) != 1 || n < 1 || n > 65534)
        n = 0;
    fclose(f);
    return n;
}

static int write_layout(const char *dir, long dbs)
{
    char path[4200];
    if (snprintf(path, sizeof(path), "%.4096s/logstord.layout", dir) < 0)
        return -1;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fprintf(f, "databases %ld\n", dbs) > 0;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint32_t tables = 16, seg = 0, file = 0;
    int opt, quiet = 0, tar = 0, dbs_given = 0;
    char err[512];
    uint64_t keys = 0;

    while ((opt = getopt(argc, argv, "d:qth")) != -1) {
        if (opt == 'd') {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > 65536) {
                fprintf(stderr, "logstor-backup: -d wants 1..65536\n");
                return 2;
            }
            tables = (uint32_t)v;
            dbs_given = 1;
        } else if (opt == 'q') {
            quiet = 1;
        } else if (opt == 't') {
            tar = 1;
        } else {
            opt = '?';
            break;
        }
    }
    if (opt == '?' || argc - optind != 3) {
        fprintf(stderr, "usage: logstor-backup [-d DATABASES] [-q] SOURCE_DIR SNAPSHOT DEST_DIR\n"
                        "       logstor-backup [-d DATABASES] [-q] -t SOURCE_DIR SNAPSHOT "
                        "TAR_FILE|-\n");
        return 2;
    }
    const char *src = argv[optind], *name = argv[optind + 1], *dst = argv[optind + 2];
    if (read_geometry(src, &seg, &file) < 0) {
        fprintf(stderr, "logstor-backup: %s is not a logstor data directory\n", src);
        return 2;
    }
    /* logstord's large lists live in two engine tables after the databases, named in
     * logstord.layout: the copy has them too, and the file */
    long layout_dbs = read_layout(src);
    if (layout_dbs > 0) {
        if (dbs_given && tables != (uint32_t)layout_dbs) {
            fprintf(stderr,
                    "logstor-backup: %s holds large lists laid out for %ld databases: "
                    "-d must be %ld\n",
                    src, layout_dbs, layout_dbs);
            return 2;
        }
        tables = (uint32_t)layout_dbs + 2;
    }
    const char *tar_out = NULL;
    char tmp[4200];
    int tar_fd = -1;
    if (tar) { /* the copy goes to a temporary directory, then into the stream */
        tar_out = dst;
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/logstor-backup-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "logstor-backup: cannot make a directory in %s: %s\n",
                    td && *td ? td : "/tmp", strerror(errno));
            return 2;
        }
        dst = tmp;
        tar_fd = strcmp(tar_out, "-") ? open(tar_out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : 1;
        if (tar_fd < 0) {
            fprintf(stderr, "logstor-backup: cannot write %s: %s\n", tar_out, strerror(errno));
            rmdir(tmp);
            return 2;
        }
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
        if (tar) {
            rm_flat(dst);
            if (tar_fd != 1)
                unlink(tar_out);
        }
        return 2;
    }
    double t0 = now_s();
    rc = ls_snapshot_export(src, name, e, &keys, err, sizeof(err));
    ls_close(e); /* durable, with its shutdown checkpoint */
    if (rc >= 0 && layout_dbs > 0 && write_layout(dst, layout_dbs) < 0) {
        snprintf(err, sizeof(err), "cannot write logstord.layout in the copy: %s", strerror(errno));
        rc = -EIO;
    }
    if (rc < 0) {
        fprintf(stderr, "logstor-backup: %s (%s)\n", err, ls_strerror(rc));
        if (tar) {
            rm_flat(dst);
            if (tar_fd != 1)
                unlink(tar_out);
        } else {
            fprintf(stderr, "logstor-backup: %s is incomplete\n", dst);
        }
        return rc == LS_ENOTFOUND || rc == LS_EINVAL || rc == LS_EBADTABLE ? 2 : 1;
    }
    if (tar) {
        int trc = tar_dir(dst, name, tar_fd, err, sizeof(err));
        if ((tar_fd != 1 && close(tar_fd) < 0) || trc < 0) {
            fprintf(stderr, "logstor-backup: %s\n", trc < 0 ? err : strerror(errno));
            return 1;
        }
        dst = tar_out;
    }
    if (!quiet)
        fprintf(tar && !strcmp(dst, "-") ? stderr : stdout,
                "logstor-backup: snapshot %s of %s: %llu keys copied into %s in %.2f s\n", name,
                src, (unsigned long long)keys, dst, now_s() - t0);
    return 0;
}
