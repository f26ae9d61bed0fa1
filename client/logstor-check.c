/*
 * logstor-check - verify and inspect a logstor data directory offline.
 *
 *   logstor-check [-v] [-d] DIR
 *     (default)  verify every segment: buffer headers, record checksums; print totals
 *     -v         one line per used segment (sequence, buffers, records, bytes, damage)
 *     -d         dump every record: segment, offset, type, table, rseq, key, sizes
 *
 * It reads the on-disk format through the engine's own decoders (rec.c), never a second
 * parser, and follows the same rules as recovery (FORMAT.md): a segment is in use when
 * block 0 holds a valid header naming it; buffers are followed by their lengths and must
 * carry the segment's sequence number; a failing block is counted and the scan resumes
 * at the next 4 KiB boundary. Then it runs the engine's own recovery read-only
 * (ls_config.read_only) and reports what recovery would refuse or skip: data files
 * missing, swapped, from another directory or overwritten, logstor.meta missing, damaged
 * headers and records. It takes no lock and writes nothing, so it can inspect a
 * directory while logstord runs (the newest buffers may then be incomplete).
 * Exit status: 0 clean, 1 damage found, 2 usage or I/O error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct totals {
    uint64_t files, segments, used, buffers, records, puts, dels, flushes;
    uint64_t record_bytes, corrupt;
};

struct opts {
    int verbose, dump;
};

static void print_key(const uint8_t *k, uint32_t n)
{
    for (uint32_t i = 0; i < n && i < 80; i++)
        if (isprint(k[i]) && k[i] != '\\')
            putchar(k[i]);
        else
            printf("\\x%02x", k[i]);
    if (n > 80)
        printf("...(%u bytes)", n);
}

static const char *type_name(uint8_t t)
{
    return t == REC_PUT ? "PUT" : t == REC_DEL ? "DEL" : "FLUSH";
}

/* Parses one buffer's records; returns the offset to continue at. */
static uint32_t check_buffer(const uint8_t *seg, uint32_t off, const struct buf_hdr *h,
                             uint64_t seed, uint32_t g, const struct opts *o, struct totals *t,
                             uint64_t *corrupt)
{
    uint32_t pos = off + BUF_HDR_SIZE, end = off + h->length;
    struct rec_view v;

    seed = rec_seed(seed, h->seg_seq);

    t->buffers++;
    for (uint32_t i = 0; i < h->count && pos < end; i++) {
        if (rec_decode(seg + pos, end - pos, seed, &v) != 0) {
            uint32_t next = rec_resync(seg, pos, end, seed); /* same rule as recovery */
            if (next < end || !rec_is_padding(seg + pos, end - pos)) {
                (*corrupt)++;
                if (o->verbose || o->dump)
                    printf("segment %u offset %u: corrupt record\n", g, pos);
            }
            pos = next;
            if (pos < end)
                i--;
            continue;
        }
        t->records++;
        t->record_bytes += v.size;
        t->puts += v.h.type == REC_PUT;
        t->dels += v.h.type == REC_DEL;
        t->flushes += v.h.type == REC_FLUSH;
        if (o->dump) {
            printf("%u:%u %s table=%u rseq=%llu key=", g, pos, type_name(v.h.type), v.h.table,
                   (unsigned long long)v.h.rseq);
            print_key(v.key, v.h.key_len);
            printf(" value_len=%u flags=%u expire_ms=%llu\n", v.h.value_len, v.h.flags,
                   (unsigned long long)v.h.expire_ms);
        }
        pos += v.size;
    }
    return end;
}

static void check_segment(const uint8_t *seg, uint32_t len, uint32_t g, uint64_t seq, uint64_t seed,
                          const struct opts *o, struct totals *t)
{
    uint64_t corrupt = 0, before = t->records;
    uint32_t off = 0;
    struct buf_hdr h;

    while (off + REC_BLOCK <= len) {
        int rc = buf_hdr_check(seg + off, seed, &h);
        if (rc == 0 && h.seg_seq == seq && h.seg_no == g && h.length <= len - off) {
            off = check_buffer(seg, off, &h, seed, g, o, t, &corrupt);
            continue;
        }
        if (rc == LS_ECORRUPT || (rc == 0 && h.seg_seq == seq)) {
            corrupt++;
            if (o->verbose || o->dump)
                printf("segment %u offset %u: corrupt buffer header\n", g, off);
        }
        off += REC_BLOCK;
    }
    t->corrupt += corrupt;
    if (o->verbose)
        printf("segment %u seq=%llu bytes=%u records=%llu corrupt_blocks=%llu\n", g,
               (unsigned long long)seq, len, (unsigned long long)(t->records - before),
               (unsigned long long)corrupt);
}

static int check_file(int dir_fd, uint32_t f, const struct eng_meta *m, const struct opts *o,
                      struct totals *t)
{
    char name[32];
    uint32_t spf = m->file_size / m->segment_size;
    uint8_t *data;
    int fd;

    snprintf(name, sizeof(name), "data-%06u.lsd", f);
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    data = uio_alloc(m->file_size);
    if (!data || pread(fd, data, m->file_size, 0) != (ssize_t)m->file_size) {
        fprintf(stderr, "logstor-check: %s: short read or out of memory\n", name);
        uio_free(data);
        close(fd);
        return -EIO;
    }
    t->files++;
    for (uint32_t i = 0; i < spf; i++) {
        struct buf_hdr h;
        uint32_t g = f * spf + i, run = 1;
        t->segments++;
        if (buf_hdr_check(data + (size_t)i * m->segment_size, m->seed, &h) != 0 || h.seg_no != g)
            continue;
        if (h.flags & BUF_LARGE)
            run = (h.length + m->segment_size - 1) / m->segment_size;
        if (run > spf - i)
            run = 1;
        if (run > 1 && (buf_run_reused(data + (size_t)i * m->segment_size, m->segment_size, run, &h,
                                       g, m->seed) &
                        ~BUF_RUN_DAMAGED)) {
            if (o->verbose)
                printf("segment %u: head of a given-up large record, partly reused\n", g);
            continue;
        }
        t->used += run;
        check_segment(data + (size_t)i * m->segment_size, run * m->segment_size, g, h.seg_seq,
                      m->seed, o, t);
        t->segments += run - 1;
        i += run - 1;
    }
    uio_free(data);
    close(fd);
    return 0;
}

/* The highest data file number present (readdir), or -1 when there is none. */
static int64_t last_file(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t last = -1;
    unsigned f;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (sscanf(de->d_name, "data-%6u.lsd", &f) == 1 && (int64_t)f > last)
            last = f;
    closedir(d);
    return last;
}

static void engine_log(void *arg, enum ls_log_level lvl, const char *msg)
{
    (void)arg;
    if (lvl >= LS_LOG_WARN)
        printf("recovery: %s\n", msg);
}

/* Runs the engine's own recovery on the directory, read-only: whatever recovery would
 * skip, refuse or lose, this reports (files missing, swapped, from another directory,
 * damaged headers and records). Returns the damage it counted, or -1. */
static int64_t recovery_verdict(const char *dir, const struct eng_meta *m, int64_t last)
{
    struct ls_config c;
    struct ls_engine *e = NULL;
    struct ls_stats st;
    int rc;

    ls_config_default(&c);
    c.dir = dir;
    c.read_only = 1;
    c.segment_size = m->segment_size;
    c.file_size = m->file_size;
    c.disk_size = (uint64_t)m->file_size * (uint64_t)(last + 1);
    c.tables = 4096; /* records of higher tables are counted, not indexed */
    c.max_key_size = 1u << 20;
    c.max_value_size = 0;
    c.cache_size = 0;
    c.log = engine_log;
    if ((rc = ls_open(&c, &e)) < 0) {
        printf("recovery: the open fails: %s\n", ls_strerror(rc));
        return -1;
    }
    ls_get_stats(e, &st);
    printf("recovery: %llu records, %llu keys, %llu damaged blocks, %llu damaged files\n",
           (unsigned long long)st.recovery_records, (unsigned long long)st.keys,
           (unsigned long long)st.recovery_corrupt_blocks,
           (unsigned long long)st.recovery_damaged_files);
    ls_close(e);
    return (int64_t)(st.recovery_corrupt_blocks + st.recovery_damaged_files);
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct totals t = {0};
    struct eng_meta m;
    int opt, dir_fd, rc;
    int64_t last, damage;

    while ((opt = getopt(argc, argv, "vdh")) != -1) {
        if (opt == 'v')
            o.verbose = 1;
        else if (opt == 'd')
            o.dump = 1;
        else {
            fprintf(stderr, "usage: logstor-check [-v] [-d] DIR\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: logstor-check [-v] [-d] DIR\n");
        return 2;
    }
    dir_fd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        fprintf(stderr, "logstor-check: %s: %s\n", argv[optind], strerror(errno));
        return 2;
    }
    last = last_file(argv[optind]);
    if ((rc = eng_meta_read(NULL, dir_fd, &m)) < 0) {
        fprintf(stderr, "logstor-check: %s/logstor.meta: %s\n", argv[optind], ls_strerror(rc));
        if (last >= 0) {
            printf("DAMAGED: data files without a readable logstor.meta (it holds the checksum "
                   "seed they were written with)\n");
            return 1;
        }
        return 2;
    }
    for (int64_t f = 0; f <= last; f++) {
        rc = check_file(dir_fd, (uint32_t)f, &m, &o, &t);
        if (rc == -ENOENT) {
            printf("data-%06u.lsd: missing\n", (unsigned)f);
            continue;
        }
        if (rc < 0)
            return 2;
    }
    printf("logstor-check %s: format %u, segment %u B, file %u B\n", argv[optind], m.version,
           m.segment_size, m.file_size);
    printf("files=%llu segments=%llu used=%llu buffers=%llu records=%llu (put=%llu del=%llu "
           "flush=%llu) record_bytes=%llu corrupt_blocks=%llu\n",
           (unsigned long long)t.files, (unsigned long long)t.segments, (unsigned long long)t.used,
           (unsigned long long)t.buffers, (unsigned long long)t.records, (unsigned long long)t.puts,
           (unsigned long long)t.dels, (unsigned long long)t.flushes,
           (unsigned long long)t.record_bytes, (unsigned long long)t.corrupt);
    damage = last >= 0 ? recovery_verdict(argv[optind], &m, last) : 0;
    close(dir_fd);
    if (damage < 0 || damage > 0 || t.corrupt) {
        printf("DAMAGED: %s\n", damage < 0 ? "the engine cannot open it"
                                           : "records in damaged blocks or files are lost");
        return 1;
    }
    printf("OK\n");
    return 0;
}
