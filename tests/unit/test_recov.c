/*
 * test_recov.c - recovery over damaged data: the engine writes, is closed, the test
 * damages the data files directly (plain pwrite, no O_DIRECT: the engine is closed and the
 * kernel keeps the page cache coherent with its direct reads), and the engine is opened
 * again.
 *
 * Layout used here (FORMAT.md): segment_size 64 KiB, file_size 1 MiB (16 segments a
 * file), disk_size 4 MiB. A put_sync is one device write, i.e. one 4 KiB buffer; the
 * first open writes segment 0 from offset 0, and every reopen starts a fresh segment (the
 * lowest free one). The tests find buffers by walking their headers with the directory's
 * seed (read from logstor.meta) and records by searching for unique value bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "eng_util.h"
#include "internal.h" /* eng_check */
#include "rec.h"

#define SEG_SIZE  (64u << 10)
#define FILE_SIZE (1u << 20)
#define SPF       (FILE_SIZE / SEG_SIZE)

static void recov_config(struct ls_config *c, const char *dir)
{
    small_config(c, dir);
    c->disk_size = 4u << 20;
    c->file_size = FILE_SIZE;
    c->max_value_size = FILE_SIZE / 4; /* a value must fit in a data file */
    c->segment_size = SEG_SIZE;
}

static int setup(void **state)
{
    struct fx *f = fx_open(recov_config);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

/* These tests are about the log scan: the checkpoint of a clean close is dropped, as a
 * crash leaves none (test_ckpt_* test it). */
static void close_engine(struct fx *f)
{
    ls_close(f->e);
    f->e = NULL;
    drop_ckpt(f->dir);
}

static void open_engine(struct fx *f)
{
    assert_int_equal(ls_open(&f->cfg, &f->e), 0);
}

static void reopen(struct fx *f)
{
    close_engine(f);
    open_engine(f);
}

static struct ls_stats stats(struct ls_engine *e)
{
    struct ls_stats st;
    ls_get_stats(e, &st);
    return st;
}

/* ---- direct access to the files ---- */

static int open_file(const char *dir, const char *name, int flags)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    return fd;
}

static int open_data(const char *dir, uint32_t file_no)
{
    char name[32];
    snprintf(name, sizeof(name), "data-%06u.lsd", file_no);
    return open_file(dir, name, O_RDWR);
}

static uint64_t dir_seed(const char *dir)
{
    uint64_t seed;
    int fd = open_file(dir, "logstor.meta", O_RDONLY);
    assert_int_equal(pread(fd, &seed, 8, 24), 8);
    close(fd);
    return seed;
}

/* Reads or writes n bytes at a global log address (segment g, offset). */
static void log_io(const char *dir, uint32_t g, uint32_t off, void *buf, size_t n, int write)
{
    int fd = open_data(dir, g / SPF);
    off_t pos = (off_t)(g % SPF) * SEG_SIZE + off;
    ssize_t r = write ? pwrite(fd, buf, n, pos) : pread(fd, buf, n, pos);
    assert_int_equal(r, (ssize_t)n);
    if (write)
        assert_int_equal(fsync(fd), 0);
    close(fd);
}

static void log_read(const char *dir, uint32_t g, uint32_t off, void *buf, size_t n)
{
    log_io(dir, g, off, buf, n, 0);
}

static void log_write(const char *dir, uint32_t g, uint32_t off, const void *buf, size_t n)
{
    log_io(dir, g, off, (void *)buf, n, 1);
}

static void log_zero(const char *dir, uint32_t g, uint32_t off, size_t n)
{
    void *z = calloc(1, n);
    log_write(dir, g, off, z, n);
    free(z);
}

static void log_flip(const char *dir, uint32_t g, uint32_t off, uint8_t mask)
{
    uint8_t b;
    log_read(dir, g, off, &b, 1);
    b ^= mask;
    log_write(dir, g, off, &b, 1);
}

/* The buffers of segment g, by following their headers from offset 0. */
struct bufinfo {
    uint32_t off;
    struct buf_hdr h;
};
static uint32_t walk_buffers(const char *dir, uint32_t g, struct bufinfo *out, uint32_t max)
{
    uint8_t *seg = malloc(SEG_SIZE);
    uint64_t seed = dir_seed(dir);
    uint32_t n = 0, off = 0;

    log_read(dir, g, 0, seg, SEG_SIZE);
    while (off + REC_BLOCK <= SEG_SIZE && n < max) {
        struct buf_hdr h;
        if (buf_hdr_check(seg + off, seed, &h) != 0)
            break;
        out[n].off = off;
        out[n].h = h;
        n++;
        off += h.length;
    }
    free(seg);
    return n;
}

/* The offset of needle inside segment g (fails if absent). */
static uint32_t find_in_seg(const char *dir, uint32_t g, const char *needle)
{
    uint8_t *seg = malloc(SEG_SIZE);
    log_read(dir, g, 0, seg, SEG_SIZE);
    uint8_t *p = memmem(seg, SEG_SIZE, needle, strlen(needle));
    if (!p)
        fail_msg("\"%s\" not found in segment %u", needle, g);
    uint32_t off = (uint32_t)(p - seg);
    free(seg);
    return off;
}

/* ---- writing helpers ---- */

static void value_of(char *v, size_t n, const char *key, unsigned gen, size_t len)
{
    int w = snprintf(v, n, "VAL-%s-%u-", key, gen);
    for (size_t i = (size_t)w; i < len && i < n - 1; i++)
        v[i] = (char)('a' + i % 26);
    v[len < n - 1 ? len : n - 1] = 0;
}

/* Submits puts key<first>..key<first+n-1> without polling, then syncs: one buffer. */
static void put_group(struct ls_engine *e, const char *prefix, int first, int n, size_t vlen)
{
    struct wres *w = calloc((size_t)n, sizeof(*w));
    char k[32], v[1024];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%03d", prefix, first + i);
        value_of(v, sizeof(v), k, 0, vlen);
        assert_int_equal(ls_put(e, 0, k, strlen(k), v, strlen(v), NULL, wres_cb, &w[i]), 0);
    }
    assert_int_equal(sync_sync(e), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(w[i].done, 1);
        assert_int_equal(w[i].rc, 0);
    }
    free(w);
}

static void check_group(struct ls_engine *e, const char *prefix, int first, int n, size_t vlen,
                        int present)
{
    char k[32], v[1024];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%03d", prefix, first + i);
        value_of(v, sizeof(v), k, 0, vlen);
        check_value(e, 0, k, present ? v : NULL);
    }
}

/* ---- (a) a flipped byte in one record's value ---- */

static void test_corrupt_value(void **state)
{
    struct fx *f = *state;
    char k[16], v[128];

    for (int i = 0; i < 20; i++) { /* one buffer each */
        snprintf(k, sizeof(k), "k%02d", i);
        value_of(v, sizeof(v), k, 0, 100);
        assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
    }
    close_engine(f);
    log_flip(f->dir, 0, find_in_seg(f->dir, 0, "VAL-k07-") + 20, 0x10);
    open_engine(f);

    struct ls_stats st = stats(f->e);
    assert_true(st.recovery_corrupt_blocks >= 1);
    assert_int_equal(st.recovery_records, 19);
    assert_int_equal(ls_count(f->e, 0), 19);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "k%02d", i);
        value_of(v, sizeof(v), k, 0, 100);
        check_value(f->e, 0, k, i == 7 ? NULL : v);
    }
    /* the engine keeps working, and the damage stays confined */
    assert_int_equal(put_sync(f->e, 0, "after", "x", 1, 0), 0);
    reopen(f);
    assert_int_equal(ls_count(f->e, 0), 20);
    check_value(f->e, 0, "after", "x");
    value_of(v, sizeof(v), "k06", 0, 100);
    check_value(f->e, 0, "k06", v);
    check_value(f->e, 0, "k07", NULL);
}

/* A corrupt record inside a multi-record buffer costs only itself: parsing resumes at
 * the next record that verifies (FORMAT.md, recovery step 2). */
static void test_corrupt_record_in_group(void **state)
{
    struct fx *f = *state;

    put_group(f->e, "a", 0, 10, 100);
    put_group(f->e, "b", 0, 10, 100);
    put_group(f->e, "c", 0, 10, 100);
    close_engine(f);
    log_flip(f->dir, 0, find_in_seg(f->dir, 0, "VAL-b005-") + 30, 0x01);
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 1);
    check_group(f->e, "a", 0, 10, 100, 1);
    check_group(f->e, "b", 0, 5, 100, 1); /* before the damage, same buffer */
    check_value(f->e, 0, "b005", NULL);
    check_group(f->e, "b", 6, 4, 100, 1); /* after it */
    assert_int_equal(stats(f->e).recovery_records, 29);
    check_group(f->e, "c", 0, 10, 100, 1);
}

/* ---- (b) a corrupt buffer header in the middle of a segment ---- */

static void test_corrupt_mid_header(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];

    put_group(f->e, "g0-", 0, 5, 100);
    put_group(f->e, "g1-", 0, 5, 100);
    put_group(f->e, "g2-", 0, 20, 600); /* several blocks: the scan passes its middle */
    put_group(f->e, "g3-", 0, 5, 100);
    put_group(f->e, "g4-", 0, 5, 100);
    close_engine(f);
    uint32_t n = walk_buffers(f->dir, 0, b, 32);
    assert_int_equal(n, 5);
    assert_true(b[2].h.length >= 3 * REC_BLOCK);
    assert_int_equal(b[2].h.count, 20);
    log_flip(f->dir, 0, b[2].off + 20, 0x04); /* the record count field */
    open_engine(f);

    assert_true(stats(f->e).recovery_corrupt_blocks >= 1);
    check_group(f->e, "g0-", 0, 5, 100, 1);
    check_group(f->e, "g1-", 0, 5, 100, 1);
    check_group(f->e, "g2-", 0, 20, 600, 0);
    check_group(f->e, "g3-", 0, 5, 100, 1); /* found at a later 4 KiB boundary */
    check_group(f->e, "g4-", 0, 5, 100, 1);
    assert_int_equal(ls_count(f->e, 0), 20);
}

/* A buffer header whose magic (its first byte) is damaged, in the middle of a segment:
 * its records are lost, but the damage is counted, not taken for the end of what was
 * written (it was: simulator seed 628240 lost a key silently); the buffers after it are
 * read, and so is a segment whose first header has a damaged magic. */
static void test_corrupt_buffer_magic(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];

    put_group(f->e, "m0-", 0, 5, 100);
    put_group(f->e, "m1-", 0, 5, 100);
    put_group(f->e, "m2-", 0, 5, 100);
    close_engine(f);
    uint32_t n = walk_buffers(f->dir, 0, b, 32);
    assert_int_equal(n, 3);
    log_flip(f->dir, 0, b[1].off, 0x01); /* the magic's first byte */
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 1);
    check_group(f->e, "m0-", 0, 5, 100, 1);
    check_group(f->e, "m1-", 0, 5, 100, 0);
    check_group(f->e, "m2-", 0, 5, 100, 1);
    close_engine(f);
    log_flip(f->dir, 0, b[0].off, 0x01); /* and segment 0's first header's */
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 2);
    check_group(f->e, "m2-", 0, 5, 100, 1);
}

/* A damaged header of a segment's first buffer: the other segments are intact, and the
 * damage is counted (a whole segment's data is at stake, it must not go unreported). */
static void test_corrupt_segment_head(void **state)
{
    struct fx *f = *state;

    put_group(f->e, "s0-", 0, 5, 100); /* segment 0 */
    reopen(f);
    put_group(f->e, "s1-", 0, 5, 100); /* segment 1 */
    reopen(f);
    put_group(f->e, "s2-", 0, 5, 100); /* segment 2 */
    close_engine(f);
    log_flip(f->dir, 1, 9, 0x80); /* segment 1, buffer header, seg_seq field */
    open_engine(f);
    check_group(f->e, "s0-", 0, 5, 100, 1);
    check_group(f->e, "s2-", 0, 5, 100, 1);
    struct ls_stats st = stats(f->e);
    if (st.recovery_corrupt_blocks < 1)
        fail_msg("segment 1's damaged head went uncounted (recovery_corrupt_blocks %llu)",
                 (unsigned long long)st.recovery_corrupt_blocks);
}

/* ---- (c) the last buffer never written ---- */

static void test_zero_last_buffer(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];

    put_group(f->e, "z0-", 0, 5, 100);
    put_group(f->e, "z1-", 0, 5, 100);
    put_group(f->e, "z2-", 0, 12, 600);
    close_engine(f);
    uint32_t n = walk_buffers(f->dir, 0, b, 32);
    assert_int_equal(n, 3);
    log_zero(f->dir, 0, b[2].off, b[2].h.length);
    open_engine(f);
    check_group(f->e, "z0-", 0, 5, 100, 1);
    check_group(f->e, "z1-", 0, 5, 100, 1);
    check_group(f->e, "z2-", 0, 12, 600, 0);
    assert_int_equal(ls_count(f->e, 0), 10);
    assert_int_equal(stats(f->e).recovery_corrupt_blocks, 0); /* unwritten is not corrupt */
    /* writing goes on normally */
    put_group(f->e, "z3-", 0, 5, 100);
    reopen(f);
    check_group(f->e, "z0-", 0, 5, 100, 1);
    check_group(f->e, "z3-", 0, 5, 100, 1);

    /* only the tail block of a multi-block buffer missing: a torn write */
    put_group(f->e, "z4-", 0, 12, 600);
    close_engine(f);
    n = walk_buffers(f->dir, 2, b, 32); /* third open: segment 2 */
    assert_int_equal(n, 1);
    assert_true(b[0].h.length >= 2 * REC_BLOCK);
    log_zero(f->dir, 2, b[0].off + b[0].h.length - REC_BLOCK, REC_BLOCK);
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 1);
    /* 648-byte records from offset 64: the first six lie wholly in the first block */
    check_group(f->e, "z4-", 0, 6, 600, 1);
    check_group(f->e, "z4-", 6, 6, 600, 0);
}

/* ---- (c2) a batch whose buffer was torn: all of it or none ---- */

/* Writes prefix<first..first+n-1> (600-byte values) and, with del_key, a delete of it,
 * as one ls_write_batch; waits for its one callback. */
static int batch_group(struct ls_engine *e, const char *prefix, int first, int n,
                       const char *del_key)
{
    struct ls_batch_op ops[24];
    char k[24][32], v[24][1024];
    struct wres w = {0};
    int m = 0;
    for (int i = 0; i < n; i++, m++) {
        snprintf(k[i], sizeof(k[i]), "%s%03d", prefix, first + i);
        value_of(v[i], sizeof(v[i]), k[i], 0, 600);
        ops[m] = (struct ls_batch_op){.table = 0,
                                      .key = k[i],
                                      .key_len = strlen(k[i]),
                                      .value = v[i],
                                      .value_len = strlen(v[i])};
    }
    if (del_key)
        ops[m++] =
            (struct ls_batch_op){.del = 1, .table = 0, .key = del_key, .key_len = strlen(del_key)};
    int rc = ls_write_batch(e, ops, (uint32_t)m, wres_cb, &w);
    if (rc < 0)
        return rc;
    check_group(e, prefix, first, n, 600, 1); /* visible before it is written */
    run_until(e, &w.done);
    return w.rc;
}

static void test_batch_torn(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];

    assert_int_equal(put_sync(f->e, 0, "gone", "G1", 2, 0), 0);
    assert_int_equal(batch_group(f->e, "w0-", 0, 4, NULL), 0);
    assert_int_equal(batch_group(f->e, "w1-", 0, 12, "gone"), 0);
    check_value(f->e, 0, "gone", NULL);
    close_engine(f);
    uint32_t n = walk_buffers(f->dir, 0, b, 32);
    assert_int_equal(n, 3);
    assert_true(b[2].h.length >= 2 * REC_BLOCK);
    /* A torn write: the batch's last block never reached the disk. Its first six records
     * lie wholly in the first block, and they verify; without the batch they came back
     * while the others did not (and "gone" stayed deleted only by luck of placement). */
    log_zero(f->dir, 0, b[2].off + b[2].h.length - REC_BLOCK, REC_BLOCK);
    open_engine(f);
    check_group(f->e, "w0-", 0, 4, 600, 1); /* an earlier batch, whole: all of it */
    check_group(f->e, "w1-", 0, 12, 600, 0);
    check_value(f->e, 0, "gone", "G1"); /* its delete was part of the lost batch */
    assert_int_equal(ls_count(f->e, 0), 5);

    /* whole batches survive a restart and compaction-free reopen; the engine goes on */
    assert_int_equal(batch_group(f->e, "w2-", 0, 12, "gone"), 0);
    reopen(f);
    check_group(f->e, "w2-", 0, 12, 600, 1);
    check_value(f->e, 0, "gone", NULL);

    /* after SWAPDB a batch names databases, as ls_put does (keys_move found it writing
     * to the engine's table of the old number) */
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);
    assert_int_equal(batch_group(f->e, "w3-", 0, 2, NULL), 0);
    check_group(f->e, "w3-", 0, 2, 600, 1);
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);
    check_group(f->e, "w3-", 0, 2, 600, 0); /* they are database 0's of then: now 1 */
    assert_int_equal(ls_swap_tables(f->e, 0, 1), 0);

    /* a batch larger than a write buffer is refused whole */
    struct ls_batch_op big[2];
    static char v[40000];
    memset(v, 'x', sizeof(v));
    for (int i = 0; i < 2; i++)
        big[i] = (struct ls_batch_op){
            .key = i ? "b1" : "b0", .key_len = 2, .value = v, .value_len = sizeof(v)};
    assert_int_equal(ls_write_batch(f->e, big, 2, wres_cb, NULL), LS_ETOOBIG);
    assert_true(ls_batch_max_bytes(f->e) < 2 * ls_record_size(2, sizeof(v)));
    check_value(f->e, 0, "b0", NULL);
    assert_int_equal(ls_write_batch(f->e, big, 0, wres_cb, NULL), LS_EINVAL);
}

/* Damage inside a batch drops the whole batch, also the members after the damage:
 * recovery dropped only those before it, and applied the rest as a batch of its own (or,
 * when the damage took the first record, the rest as the whole batch). */
static void test_batch_damaged(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];

    assert_int_equal(put_sync(f->e, 0, "gone", "G1", 2, 0), 0);
    assert_int_equal(batch_group(f->e, "d0-", 0, 6, "gone"), 0);
    assert_int_equal(batch_group(f->e, "d1-", 0, 6, NULL), 0);
    assert_int_equal(batch_group(f->e, "d2-", 0, 6, NULL), 0);
    close_engine(f);
    assert_int_equal(walk_buffers(f->dir, 0, b, 32), 4);
    /* 648-byte records after the 64-byte header: a byte of a key flipped in the first
     * record of d0-, in the third of d1- */
    log_flip(f->dir, 0, b[1].off + BUF_HDR_SIZE + 44, 0x10);
    log_flip(f->dir, 0, b[2].off + BUF_HDR_SIZE + 2 * 648 + 44, 0x10);
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 2);
    check_group(f->e, "d0-", 0, 6, 600, 0);
    check_value(f->e, 0, "gone", "G1"); /* its delete was the damaged batch's last */
    check_group(f->e, "d1-", 0, 6, 600, 0);
    check_group(f->e, "d2-", 0, 6, 600, 1); /* the batch after them is whole */
}

/* Puts prefix000..n-1 (600-byte values) without polling: into the active buffer. */
static void put_nopoll(struct ls_engine *e, const char *prefix, int n, struct wres *w)
{
    char k[32], v[1024];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%03d", prefix, i);
        value_of(v, sizeof(v), k, 0, 600);
        assert_int_equal(ls_put(e, 0, k, strlen(k), v, strlen(v), NULL, wres_cb, &w[i]), 0);
    }
}

/* One buffer: plain puts u-000..002, then a batch (o-000, o-001, del "gone"), ordered or
 * not, then plain puts t-000..001; then a byte of u-001 flipped, as a power loss that
 * kept the buffer's later blocks and lost an earlier one leaves it. An ordered batch must
 * not survive u-001: recovery drops everything up to the header's ordered_end (u-002 and
 * the batch) and keeps what follows (t-). A plain batch is kept, as before. */
static void ordered_after_damage(struct fx *f, int ordered)
{
    struct ls_batch_op ops[3];
    char k[2][32], v[2][1024];
    struct wres wu[3] = {{0}}, wt[2] = {{0}}, wb = {0};
    struct bufinfo b[32];

    assert_int_equal(put_sync(f->e, 0, "gone", "G1", 2, 0), 0);
    put_nopoll(f->e, "u-", 3, wu);
    for (int i = 0; i < 2; i++) {
        snprintf(k[i], sizeof(k[i]), "o-%03d", i);
        value_of(v[i], sizeof(v[i]), k[i], 0, 600);
        ops[i] = (struct ls_batch_op){.table = 0,
                                      .key = k[i],
                                      .key_len = strlen(k[i]),
                                      .value = v[i],
                                      .value_len = strlen(v[i]),
                                      .opts.ordered = (uint8_t)ordered};
    }
    ops[2] = (struct ls_batch_op){
        .del = 1, .table = 0, .key = "gone", .key_len = 4, .opts.ordered = (uint8_t)ordered};
    assert_int_equal(ls_write_batch(f->e, ops, 3, wres_cb, &wb), 0);
    put_nopoll(f->e, "t-", 2, wt);
    assert_int_equal(sync_sync(f->e), 0);
    assert_int_equal(wb.rc, 0);
    close_engine(f);
    uint32_t n = walk_buffers(f->dir, 0, b, 32);
    assert_int_equal(n, 2); /* "gone", then the rest in one buffer */
    assert_int_equal(b[1].h.count, 8);
    if (ordered) /* where the batch ends: after the header, 3 puts and 2 puts, then a del */
        assert_true(b[1].h.ordered_end > BUF_HDR_SIZE + 5 * 600 &&
                    b[1].h.ordered_end < BUF_HDR_SIZE + 5 * 700);
    else
        assert_int_equal(b[1].h.ordered_end, 0);
    log_flip(f->dir, 0, find_in_seg(f->dir, 0, "VAL-u-001-") + 20, 0x10);
    open_engine(f);
    assert_true(stats(f->e).recovery_corrupt_blocks >= 1);
    char val[1024];
    value_of(val, sizeof(val), "u-000", 0, 600);
    check_value(f->e, 0, "u-000", val);
    check_value(f->e, 0, "u-001", NULL);
    value_of(val, sizeof(val), "u-002", 0, 600);
    check_value(f->e, 0, "u-002", ordered ? NULL : val);
    check_group(f->e, "o-", 0, 2, 600, !ordered);
    check_value(f->e, 0, "gone", ordered ? "G1" : NULL);
    check_group(f->e, "t-", 0, 2, 600, 1);
}

static void test_ordered_after_damage(void **state)
{
    ordered_after_damage(*state, 1);
}

static void test_plain_after_damage(void **state)
{
    ordered_after_damage(*state, 0);
}

/* ---- (d) a torn write through fault injection ---- */

struct multi {
    int n, done, bad;
    int rc_first;
};
static void multi_cb(void *arg, int rc, uint64_t cas)
{
    struct multi *m = arg;
    (void)cas;
    if (m->done == 0)
        m->rc_first = rc;
    if (rc != m->rc_first)
        m->bad++;
    m->done++;
}

static void test_torn_write(void **state)
{
    struct fx *f = *state;
    char k[32], v[1024];

    assert_int_equal(put_sync(f->e, 0, "a", "A1", 2, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "b", "B1", 2, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "c", "C1", 2, 0), 0);
    assert_int_equal(del_sync(f->e, 0, "c"), 0);
    assert_int_equal(put_sync(f->e, 0, "c", "C2", 2, 0), 0);

    struct ls_faults fl = {.tear_write_n = 1, .tear_bytes = REC_BLOCK};
    ls_set_faults(f->e, &fl);
    struct multi m = {0};
    /* one buffer of about 14 KiB: "a" lands in its first block, "b" in its last */
    assert_int_equal(ls_put(f->e, 0, "a", 1, "A2", 2, NULL, multi_cb, &m), 0);
    for (int i = 0; i < 30; i++) {
        snprintf(k, sizeof(k), "t%02d", i);
        value_of(v, sizeof(v), k, 0, 400);
        assert_int_equal(ls_put(f->e, 0, k, strlen(k), v, strlen(v), NULL, multi_cb, &m), 0);
    }
    assert_int_equal(ls_put(f->e, 0, "b", 1, "B2", 2, NULL, multi_cb, &m), 0);
    assert_int_equal(ls_del(f->e, 0, "c", 1, multi_cb, &m), 0);
    check_value(f->e, 0, "c", NULL); /* read-your-writes before the write */
    for (int i = 0; i < 100000 && m.done < 33; i++) {
        struct pollfd p = {.fd = ls_fd(f->e), .events = POLLIN};
        poll(&p, 1, 1);
        ls_poll(f->e);
    }
    assert_int_equal(m.done, 33);
    assert_int_equal(m.bad, 0);
    assert_int_equal(m.rc_first, LS_EFAILED);

    struct ls_stats st = stats(f->e);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_error, -EIO);
    assert_int_equal(ls_put(f->e, 0, "x", 1, "y", 1, NULL, wres_cb, NULL), LS_EFAILED);
    assert_int_equal(ls_del(f->e, 0, "a", 1, wres_cb, NULL), LS_EFAILED);
    assert_int_equal(ls_flush_table(f->e, 0, wres_cb, NULL), LS_EFAILED);
    assert_int_equal(sync_sync(f->e), LS_EFAILED);
    /* reads are served, with the acknowledged values */
    check_value(f->e, 0, "a", "A1");
    check_value(f->e, 0, "b", "B1");
    check_value(f->e, 0, "c", "C2");
    check_value(f->e, 0, "t00", NULL);
    assert_int_equal(ls_count(f->e, 0), 3);

    reopen(f);
    st = stats(f->e);
    assert_int_equal(st.failed, 0);
    /* The torn buffer is fenced off (logstor.fence): its writes were reported failed, so
     * "a", overwritten in its intact first block, keeps its acknowledged value, and the
     * torn blocks are not counted as damage. */
    assert_int_equal(st.recovery_corrupt_blocks, 0);
    check_value(f->e, 0, "a", "A1");
    check_value(f->e, 0, "b", "B1"); /* in the lost part */
    check_value(f->e, 0, "c", "C2");
    check_value(f->e, 0, "t29", NULL);
    assert_int_equal(put_sync(f->e, 0, "d", "D1", 2, 0), 0);
    reopen(f);
    check_value(f->e, 0, "d", "D1");
    check_value(f->e, 0, "b", "B1");
}

/* ---- (e) stale contents ---- */

static void test_stale_blocks(void **state)
{
    struct fx *f = *state;
    struct bufinfo b[32];
    uint8_t blk[REC_BLOCK];

    assert_int_equal(put_sync(f->e, 0, "x", "X1-old", 6, 0), 0); /* segment 0 @0 */
    assert_int_equal(put_sync(f->e, 0, "y", "Y1", 2, 0), 0);     /* segment 0 @4K */
    reopen(f);
    assert_int_equal(put_sync(f->e, 0, "x", "X2-new", 6, 0), 0); /* segment 1 @0 */
    assert_int_equal(del_sync(f->e, 0, "y"), 0);                 /* segment 1 @4K */
    close_engine(f);
    assert_int_equal(walk_buffers(f->dir, 1, b, 32), 2);
    uint64_t seq1 = b[0].h.seg_seq;
    assert_int_equal(walk_buffers(f->dir, 0, b, 32), 2);
    uint64_t seq0 = b[0].h.seg_seq;
    assert_true(seq0 < seq1);

    /* segment 0's first block (x = X1-old), copied as is into segment 1's unused area and
     * into block 0 of a segment never used: its seg_no does not match */
    log_read(f->dir, 0, 0, blk, sizeof(blk));
    log_write(f->dir, 1, 2 * REC_BLOCK, blk, sizeof(blk));
    log_write(f->dir, 5, 0, blk, sizeof(blk));
    /* the same block re-sealed for segment 1, but with the older sequence number */
    uint64_t seed = dir_seed(f->dir);
    buf_hdr_seal(blk, 0, seq0, REC_BLOCK, 1, 1, b[0].h.first_rseq, seed);
    log_write(f->dir, 1, 3 * REC_BLOCK, blk, sizeof(blk));
    /* and with a newer one that is not segment 1's */
    buf_hdr_seal(blk, 0, seq1 + 5, REC_BLOCK, 1, 1, b[0].h.first_rseq, seed);
    log_write(f->dir, 1, 4 * REC_BLOCK, blk, sizeof(blk));
    /* segment 0's second block (y = Y1) re-sealed as the head of a never-used segment
     * with segment 0's sequence number: recovery takes it as a used segment, but its record
     * is older than segment 1's tombstone and must stay hidden by it */
    log_read(f->dir, 0, REC_BLOCK, blk, sizeof(blk));
    buf_hdr_seal(blk, 0, seq0, REC_BLOCK, 1, 7, 0, seed);
    log_write(f->dir, 7, 0, blk, sizeof(blk));
    open_engine(f);

    check_value(f->e, 0, "x", "X2-new");
    check_value(f->e, 0, "y", NULL);
    assert_int_equal(ls_count(f->e, 0), 1);
    assert_int_equal(stats(f->e).recovery_records, 5);
    /* new writes land in segment 2 (lowest free), then 3, 4, 5: over the stale block */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(put_sync(f->e, 0, "z", "Z", 1, 0), 0);
        reopen(f);
    }
    check_value(f->e, 0, "x", "X2-new");
    check_value(f->e, 0, "y", NULL);
    check_value(f->e, 0, "z", "Z");
}

/* A crash can leave a segment whose first buffer never reached the disk while later
 * buffers of the same segment (in flight at the same time, never acknowledged) did.
 * Recovery sees that segment as free. When the engine then reuses it, the new use must
 * carry a sequence number that the stale later buffers do not have; otherwise they are
 * taken as part of the new use and override acknowledged writes. */
static void test_lost_head_then_reuse(void **state)
{
    struct fx *f = *state;

    assert_int_equal(put_sync(f->e, 0, "d", "D1", 2, 0), 0); /* segment 0 */
    assert_int_equal(put_sync(f->e, 0, "k", "K1", 2, 0), 0);
    reopen(f);
    assert_int_equal(put_sync(f->e, 0, "x", "X", 1, 0), 0);       /* segment 1 @0 */
    assert_int_equal(put_sync(f->e, 0, "k", "K-stale", 7, 0), 0); /* segment 1 @4K */
    assert_int_equal(put_sync(f->e, 0, "d", "D-stale", 7, 0), 0); /* segment 1 @8K */
    close_engine(f);
    log_zero(f->dir, 1, 0, REC_BLOCK); /* the first buffer never landed */
    open_engine(f);
    check_value(f->e, 0, "d", "D1");
    check_value(f->e, 0, "k", "K1");
    check_value(f->e, 0, "x", NULL);
    /* acknowledged writes of the new life, in one buffer that reuses segment 1 at offset 0;
     * the stale buffers at 4 KiB and 8 KiB stay */
    struct wres w1 = {0}, w2 = {0};
    assert_int_equal(ls_del(f->e, 0, "d", 1, wres_cb, &w1), 0);
    assert_int_equal(ls_put(f->e, 0, "k", 1, "K2", 2, NULL, wres_cb, &w2), 0);
    assert_int_equal(sync_sync(f->e), 0); /* one buffer, at offset 0 only */
    assert_int_equal(w1.rc, 0);
    assert_int_equal(w2.rc, 0);
    check_value(f->e, 0, "d", NULL);
    check_value(f->e, 0, "k", "K2");
    reopen(f);
    check_value(f->e, 0, "k", "K2"); /* acknowledged overwrite */
    check_value(f->e, 0, "d", NULL); /* acknowledged delete */
    check_value(f->e, 0, "x", NULL);
}

/* ---- (f) the progress callback ---- */

struct prog {
    int calls, dones;
    struct ls_recovery_progress last;
    uint64_t prev_done;
    int regress;
};
static void prog_cb(void *arg, const struct ls_recovery_progress *p)
{
    struct prog *pr = arg;
    if (p->segments_done < pr->prev_done || p->segments_done > p->segments_total)
        pr->regress++;
    pr->prev_done = p->segments_done;
    if (pr->dones)
        pr->regress++; /* nothing may follow the last report */
    pr->calls++;
    pr->dones += p->done != 0;
    pr->last = *p;
}

static void test_progress(void **state)
{
    struct fx *f = *state;
    struct prog pr = {0};

    close_engine(f);
    f->cfg.progress = prog_cb;
    f->cfg.progress_arg = &pr;
    f->cfg.progress_interval_ms = 0; /* every segment */
    open_engine(f);                  /* an empty log still ends with done = 1 */
    assert_int_equal(pr.dones, 1);
    assert_int_equal(pr.last.done, 1);
    assert_int_equal(pr.last.segments_total, 0);
    assert_int_equal(pr.last.records, 0);

    for (int s = 0; s < 4; s++) { /* four segments */
        char prefix[8];
        snprintf(prefix, sizeof(prefix), "p%d-", s);
        put_group(f->e, prefix, 0, 10, 100);
        put_group(f->e, prefix, 10, 10, 100);
        reopen(f);
    }
    close_engine(f);
    log_flip(f->dir, 2, find_in_seg(f->dir, 2, "VAL-p2-013-") + 12, 0x02);
    memset(&pr, 0, sizeof(pr));
    open_engine(f);
    struct ls_stats st = stats(f->e);
    assert_int_equal(pr.regress, 0);
    assert_int_equal(pr.dones, 1);
    assert_int_equal(pr.last.done, 1);
    assert_true(pr.calls >= 2); /* per segment, then the final one */
    assert_int_equal(pr.last.segments_total, 4);
    assert_int_equal(pr.last.segments_done, 4);
    assert_int_equal(pr.last.segments_total, st.recovery_segments);
    assert_int_equal(pr.last.records, st.recovery_records);
    assert_int_equal(pr.last.records, 79); /* only the damaged record is lost */
    assert_int_equal(pr.last.corrupt_blocks, st.recovery_corrupt_blocks);
    assert_true(pr.last.corrupt_blocks >= 1);
}

/* ---- (g) a data file of garbage ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void write_garbage(const char *dir, uint32_t file_no, uint64_t seed, int with_magic)
{
    char name[32];
    snprintf(name, sizeof(name), "data-%06u.lsd", file_no);
    int fd = open_file(dir, name, O_RDWR | O_CREAT);
    uint64_t *buf = malloc(FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE / 8; i++)
        buf[i] = rng_next(&seed);
    if (with_magic) /* every segment head starts with the buffer magic */
        for (uint32_t s = 0; s < SPF; s++) {
            uint32_t magic = BUF_MAGIC;
            memcpy((uint8_t *)buf + (size_t)s * SEG_SIZE, &magic, 4);
        }
    assert_int_equal(pwrite(fd, buf, FILE_SIZE, 0), FILE_SIZE);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    free(buf);
}

/* Data files full of bytes this directory did not write (random, or with the buffer
 * magic and failing checksums) are refused: such a file replacing one of ours would lose
 * its records silently. With salvage, the engine takes their segments as free, fills
 * them later and reads back what it wrote. */
static void test_garbage_file(void **state)
{
    struct fx *f = *state;

    put_group(f->e, "r", 0, 10, 100);
    close_engine(f);
    write_garbage(f->dir, 1, 1, 0);
    write_garbage(f->dir, 2, 2, 1);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_ECORRUPT);
    f->cfg.salvage = 1;
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_damaged_files, 2);
    struct ls_stats st = stats(f->e);
    assert_int_equal(ls_count(f->e, 0), 10);
    check_group(f->e, "r", 0, 10, 100, 1);
    assert_int_equal(st.recovery_segments, 1);
    assert_int_equal(st.recovery_records, 10);
    assert_int_equal(st.segments_used, 1);
    assert_int_equal(st.files, 3);
    /* the engine fills the garbage segments later and reads back what it wrote */
    char k[16];
    char v[2000];
    memset(v, 'g', sizeof(v));
    struct wres *w = calloc(600, sizeof(*w));
    for (int i = 0; i < 600; i++) { /* about 18 segments: into file 1 */
        snprintf(k, sizeof(k), "w%03d", i);
        assert_int_equal(ls_put(f->e, 0, k, strlen(k), v, sizeof(v), NULL, wres_cb, &w[i]), 0);
        if (i % 50 == 49)
            run_until(f->e, &w[i].done);
    }
    assert_int_equal(sync_sync(f->e), 0);
    for (int i = 0; i < 600; i++)
        assert_int_equal(w[i].rc, 0);
    free(w);
    reopen(f);
    assert_int_equal(ls_count(f->e, 0), 610);
    check_group(f->e, "r", 0, 10, 100, 1);
    uint32_t len = 0;
    assert_int_equal(get_sync(f->e, 0, "w599", NULL, &len), 0);
    assert_int_equal(len, sizeof(v));
    /* blocks that carry the magic but fail their checksum are damage, and counted */
    st = stats(f->e);
    if (st.recovery_corrupt_blocks < 1)
        fail_msg("forged segment heads went uncounted (recovery_corrupt_blocks %llu)",
                 (unsigned long long)st.recovery_corrupt_blocks);
}

/* A data file shorter than file_size (a crash between its creation and its
 * preallocation) must not make the directory unopenable. */
static void test_short_data_file(void **state)
{
    struct fx *f = *state;

    put_group(f->e, "r", 0, 10, 100);
    close_engine(f);
    int fd = open_file(f->dir, "data-000001.lsd", O_RDWR | O_CREAT);
    close(fd);
    int rc = ls_open(&f->cfg, &f->e);
    if (rc != 0)
        fail_msg("ls_open with an empty data-000001.lsd: %d (%s), want 0", rc, ls_strerror(rc));
    check_group(f->e, "r", 0, 10, 100, 1);
}

/* ---- (h) a deleted key never comes back ---- */

static void test_delete_stays_deleted(void **state)
{
    struct fx *f = *state;
    char v[2000];

    memset(v, 'd', sizeof(v));
    assert_int_equal(put_sync(f->e, 0, "gone", "1", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "back", "1", 1, 0), 0);
    assert_int_equal(put_sync(f->e, 3, "flushed", "1", 1, 0), 0);
    /* cross into later segments within one run: 40 x 4 KiB buffers > 64 KiB */
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof(k), "fill%02d", i);
        assert_int_equal(put_sync(f->e, 1, k, v, sizeof(v), 0), 0);
    }
    assert_true(stats(f->e).segments_used >= 3);
    assert_int_equal(del_sync(f->e, 0, "gone"), 0);
    assert_int_equal(del_sync(f->e, 0, "back"), 0);
    struct wres w = {0};
    assert_int_equal(ls_flush_table(f->e, 3, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, 0);
    reopen(f);
    check_value(f->e, 0, "gone", NULL);
    check_value(f->e, 0, "back", NULL);
    check_value(f->e, 3, "flushed", NULL);
    /* put again in a new segment, delete in yet another */
    assert_int_equal(put_sync(f->e, 0, "back", "2", 1, 0), 0);
    reopen(f);
    check_value(f->e, 0, "back", "2");
    assert_int_equal(del_sync(f->e, 0, "back"), 0);
    reopen(f);
    check_value(f->e, 0, "back", NULL);
    check_value(f->e, 0, "gone", NULL);
    assert_int_equal(ls_count(f->e, 0), 0);
    assert_int_equal(ls_count(f->e, 1), 40);
    assert_int_equal(ls_count(f->e, 3), 0);
}

/* A large record's run is given up once the record is dead, and its segments are reused
 * one at a time in any order. A crash can leave the run's head readable while one of its
 * continuation segments already holds acknowledged writes of a new use: recovery must read
 * that segment as itself, not skip it as part of the dead run. */
static void test_large_run_partly_reused(void **state)
{
    struct fx *f = *state;
    size_t big_len = 2 * SEG_SIZE + SEG_SIZE / 2; /* a run of three segments */
    char *big = malloc(big_len);
    struct bufinfo b[4];
    uint32_t head = UINT32_MAX;

    memset(big, 'L', big_len);
    assert_int_equal(put_sync(f->e, 0, "k", "K1", 2, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "big", big, big_len, 0), 0);
    assert_int_equal(del_sync(f->e, 0, "big"), 0);
    close_engine(f);
    for (uint32_t g = 0; g < SPF && head == UINT32_MAX; g++)
        if (walk_buffers(f->dir, g, b, 4) > 0 && (b[0].h.flags & BUF_LARGE))
            head = g;
    assert_true(head + 2 < SPF);
    uint64_t head_seq = b[0].h.seg_seq;

    /* segment head+1 reused: one buffer with an acknowledged overwrite of k */
    uint8_t *blk = calloc(1, REC_BLOCK);
    uint64_t seed = dir_seed(f->dir), seq = head_seq + 100, rseq = UINT64_C(1) << 40;
    struct rec_hdr r = {.type = REC_PUT, .key_len = 1, .value_len = 2, .rseq = rseq};
    rec_encode(blk + BUF_HDR_SIZE, &r, "k", "K2", rec_seed(seed, seq));
    buf_hdr_seal(blk, 0, seq, REC_BLOCK, 1, head + 1, rseq, seed);
    log_write(f->dir, head + 1, 0, blk, REC_BLOCK);
    open_engine(f);

    check_value(f->e, 0, "k", "K2");
    check_value(f->e, 0, "big", NULL);
    assert_int_equal(ls_count(f->e, 0), 1);
    /* and new writes go on from there, over the stale head first */
    assert_int_equal(put_sync(f->e, 0, "n", "N", 1, 0), 0);
    reopen(f);
    check_value(f->e, 0, "k", "K2");
    check_value(f->e, 0, "n", "N");
    check_value(f->e, 0, "big", NULL);
    free(blk);
    free(big);
}

/* ---- (i) damaged logstor.meta ---- */

static void test_meta_damaged(void **state)
{
    struct fx *f = *state;
    uint8_t meta[64], bad[64];

    assert_int_equal(put_sync(f->e, 0, "m", "1", 1, 0), 0);
    close_engine(f);
    int fd = open_file(f->dir, "logstor.meta", O_RDWR);
    assert_int_equal(pread(fd, meta, 64, 0), 64);
    for (int byte = 0; byte < 64; byte += 7) { /* a flipped bit anywhere */
        memcpy(bad, meta, 64);
        bad[byte] ^= 0x20;
        assert_int_equal(pwrite(fd, bad, 64, 0), 64);
        struct ls_engine *e = NULL;
        int rc = ls_open(&f->cfg, &e);
        if (rc != LS_ECORRUPT)
            fail_msg("meta byte %d flipped: ls_open %d, want LS_ECORRUPT", byte, rc);
        assert_null(e);
    }
    /* truncated, and empty */
    assert_int_equal(pwrite(fd, meta, 64, 0), 64);
    assert_int_equal(ftruncate(fd, 40), 0);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_ECORRUPT);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_ECORRUPT);
    /* another format version with a correct checksum: LS_EFORMAT */
    memcpy(bad, meta, 64);
    uint32_t ver = REC_FORMAT_VERSION + 1;
    memcpy(bad + 8, &ver, 4);
    uint64_t ck = XXH3_64bits(bad, 56);
    memcpy(bad + 56, &ck, 8);
    assert_int_equal(pwrite(fd, bad, 64, 0), 64);
    assert_int_equal(ls_open(&f->cfg, &f->e), LS_EFORMAT);
    /* restored: everything is back */
    assert_int_equal(pwrite(fd, meta, 64, 0), 64);
    close(fd);
    f->e = NULL;
    open_engine(f);
    check_value(f->e, 0, "m", "1");
}

/* ---- the shutdown checkpoint (engine/ckpt.c) ---- */

static int ckpt_exists(const char *dir)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/logstor.ckpt", dir);
    return stat(p, &sb) == 0;
}

static void ckpt_copy(const char *dir, const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s'", dir, from, dir, to);
    assert_int_equal(system(cmd), 0);
}

static void check_sound(struct ls_engine *e)
{
    char why[256] = "";
    if (eng_check(e, why, sizeof(why)) != 0)
        fail_msg("eng_check: %s", why);
}

/* Writes, overwrites, deletes and a FLUSH, for the checkpoint tests. */
static void ckpt_fill(struct fx *f)
{
    char k[32], v[64];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "c%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
        assert_int_equal(put_sync(f->e, 1, k, v, strlen(v), 0), 0);
    }
    for (int i = 0; i < 300; i += 3) {
        snprintf(k, sizeof(k), "c%d", i);
        assert_int_equal(del_sync(f->e, 0, k), 0);
    }
    for (int i = 1; i < 300; i += 3) {
        snprintf(k, sizeof(k), "c%d", i);
        snprintf(v, sizeof(v), "w%d", i);
        assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
    }
    struct wres w = {0};
    assert_int_equal(ls_flush_table(f->e, 1, wres_cb, &w), 0);
    run_until(f->e, &w.done);
    assert_int_equal(w.rc, 0);
    assert_int_equal(put_sync(f->e, 1, "after-flush", "x", 1, 0), 0);
}

static void ckpt_check(struct fx *f)
{
    char k[32], v[64];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "c%d", i);
        snprintf(v, sizeof(v), "%c%d", i % 3 == 1 ? 'w' : 'v', i);
        check_value(f->e, 0, k, i % 3 == 0 ? NULL : v);
        check_value(f->e, 1, k, NULL);
    }
    check_value(f->e, 1, "after-flush", "x");
    assert_int_equal(ls_count(f->e, 0), 200);
    assert_int_equal(ls_count(f->e, 1), 1);
    check_sound(f->e);
}

/* A clean close writes the checkpoint; the next open takes the index from it, reads no
 * segment (not even their first blocks: the data files are as the close left them),
 * deletes the file, and the engine goes on writing from there. */
static void test_ckpt_clean_restart(void **state)
{
    struct fx *f = *state;

    ckpt_fill(f);
    ls_close(f->e);
    f->e = NULL;
    assert_true(ckpt_exists(f->dir));
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 2);
    assert_false(ckpt_exists(f->dir));
    assert_int_equal(stats(f->e).recovery_segments, 0);
    ckpt_check(f);
    /* the rseq and the segment sequence went on from the checkpoint's: a new write
     * wins over the old ones after a scan too */
    assert_int_equal(put_sync(f->e, 0, "c1", "new", 3, 0), 0);
    close_engine(f); /* scan */
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 0);
    check_value(f->e, 0, "c1", "new");
    check_value(f->e, 0, "c0", NULL);
    check_value(f->e, 1, "c2", NULL);
    check_sound(f->e);
}

/* A checkpoint with one byte changed is not used: the open scans the log and says so. */
static void test_ckpt_damaged(void **state)
{
    struct fx *f = *state;

    ckpt_fill(f);
    ls_close(f->e);
    f->e = NULL;
    int fd = open_file(f->dir, "logstor.ckpt", O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 200), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, 200), 1);
    close(fd);
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 0);
    assert_true(stats(f->e).recovery_segments > 0);
    ckpt_check(f);
}

/* Overwrites and deletes after a checkpoint: compaction moves and frees segments it knew. */
static void churn(struct fx *f)
{
    char k[32], v[64];

    assert_int_equal(del_sync(f->e, 0, "c1"), 0);
    assert_int_equal(put_sync(f->e, 0, "c3", "again", 5, 0), 0);
    for (int r = 0; r < 12; r++)
        for (int i = 600; i < 900; i++) {
            snprintf(k, sizeof(k), "c%d", i);
            snprintf(v, sizeof(v), "%d-%d-%040d", r, i, 0);
            assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
        }
    for (int i = 600; i < 900; i += 2) {
        snprintf(k, sizeof(k), "c%d", i);
        assert_int_equal(del_sync(f->e, 0, k), 0);
    }
}

static void churn_check(struct fx *f)
{
    char k[32], v[64];

    check_value(f->e, 0, "c1", NULL);
    check_value(f->e, 0, "c3", "again");
    check_value(f->e, 0, "c2", "v2");
    check_value(f->e, 0, "c0", NULL);
    check_value(f->e, 1, "c2", NULL);
    for (int i = 600; i < 900; i++) {
        snprintf(k, sizeof(k), "c%d", i);
        snprintf(v, sizeof(v), "%d-%d-%040d", 11, i, 0);
        check_value(f->e, 0, k, i % 2 ? v : NULL);
    }
    check_sound(f->e);
}

/* A checkpoint older than the log (what a crash leaves: the last one written while
 * running) is rolled forward: the segments written after it are read, and the index is
 * what a full scan makes of the log. Deleted keys stay deleted, new ones are there,
 * whatever compaction moved meanwhile. */
static void test_ckpt_roll_forward(void **state)
{
    struct fx *f = *state;

    f->cfg.checkpoint_interval_ms = 3600000; /* rolling forward comes with it */
    ckpt_fill(f);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "logstor.ckpt", "old.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 2);
    churn(f);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "old.ckpt", "logstor.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 1);
    assert_true(stats(f->e).recovery_segments > 0);
    churn_check(f);
}

/* The keys journal_setup adds. */
static void pads_check(struct fx *f)
{
    char k[32];
    char pad[201];
    memset(pad, 'c', 200);
    pad[200] = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof(k), "pad%d", i);
        check_value(f->e, 0, k, pad);
    }
    memset(pad, 'k', 200);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "keep%d", i);
        check_value(f->e, 0, k, pad);
    }
}

/* What a crash right after a checkpoint written while running leaves, then the churn:
 * a copy of that checkpoint put back after a close (the log is as a crash at the end
 * would leave it). Compaction freed and reused segments the checkpoint knew as used;
 * the segment journal (engine/segj.c) named them before their reuse. */
/* Reopens f's directory, its checkpoint dropped, with a checkpoint every 256 KiB written
 * on a 16 MiB disk (room: compaction leaves whole segments alone, unless compact_low
 * keeps it always running). */
static void journal_reopen(struct fx *f, uint32_t compact_low)
{
    ls_close(f->e);
    f->e = NULL;
    drop_ckpt(f->dir);
    f->cfg.checkpoint_bytes = 256u << 10;
    f->cfg.disk_size = 16u << 20;
    f->cfg.compact_low = compact_low;
    open_engine(f);
}

/* The value of key n<i> in the review tests (long: 100 more bytes). */
static void n_value(char *v, size_t size, int i, int long_value)
{
    if (long_value)
        snprintf(v, size, "r%d-%d-%0100d", 11, i, 0);
    else
        snprintf(v, size, "new-%d", i);
}

/* Keys n0..n599 that do not hold their n_value. */
static int lost_n_keys(struct fx *f, int long_value)
{
    char k[32], v[200];
    int lost = 0;
    for (int i = 0; i < 600; i++) {
        char *got = NULL;
        uint32_t len = 0;
        snprintf(k, sizeof(k), "n%d", i);
        n_value(v, sizeof(v), i, long_value);
        int rc = get_sync(f->e, 0, k, &got, &len);
        lost += !(rc == 0 && len == strlen(v) && memcmp(got, v, len) == 0);
        if (rc == 0)
            free(got);
    }
    return lost;
}

/* Writes keys <prefix>0 .. <prefix>n-1 of table 0, each 200 bytes of c (a tick after
 * each when tick is set). */
static void put_filled(struct fx *f, const char *prefix, int n, char c, int tick)
{
    char k[32], v[200];
    memset(v, c, sizeof(v));
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "%s%d", prefix, i);
        assert_int_equal(put_sync(f->e, 0, k, v, sizeof(v), 0), 0);
        if (tick)
            ls_tick(f->e);
    }
}

/* Overwrites keys <prefix>0 .. <prefix>n-1 until `more` checkpoints more are written. */
static void until_checkpoints(struct fx *f, const char *prefix, int n, uint64_t more)
{
    char k[32], v[200];
    uint64_t n0 = stats(f->e).checkpoints;
    memset(v, 'p', sizeof(v));
    for (int i = 0; stats(f->e).checkpoints < n0 + more && i < 200000; i++) {
        snprintf(k, sizeof(k), "%s%d", prefix, i % n);
        assert_int_equal(put_sync(f->e, 0, k, v, sizeof(v), 0), 0);
        ls_tick(f->e);
    }
    assert_true(stats(f->e).checkpoints >= n0 + more);
}

static void journal_setup(struct fx *f)
{
    journal_reopen(f, 0);
    ckpt_fill(f);
    put_filled(f, "keep", 1000, 'k', 0); /* never changed: their segments stay as they were */
    until_checkpoints(f, "pad", 500, 1);
    ckpt_copy(f->dir, "logstor.ckpt", "rt.ckpt");
    uint64_t j0 = stats(f->e).segj_writes;
    /* the segments the checkpoint knew die: compaction frees them, and the churn reuses
     * them (freed segments are taken first) */
    for (int r = 0; r < 3; r++)
        put_filled(f, "pad", 500, (char)('a' + r), 0);
    churn(f);
    assert_true(stats(f->e).segj_writes > j0); /* segments were freed after it */
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "rt.ckpt", "logstor.ckpt");
}

/* A crash restart from a checkpoint written while running reads the first block only of
 * the segments free at the checkpoint or named by the journal after it; every other
 * segment's use is the checkpoint's. Before the journal it read every segment's. */
static void test_ckpt_journal(void **state)
{
    struct fx *f = *state;

    journal_setup(f);
    open_engine(f);
    struct ls_stats st = stats(f->e);
    assert_int_equal(st.recovery_from_checkpoint, 1);
    assert_true(st.recovery_heads_presumed > 0);
    churn_check(f);
    pads_check(f);
}

/* A journal with a block after the checkpoint's damaged in both copies cannot tell which
 * segments were reused: the open reads every segment's head (and still rolls forward). */
static void test_ckpt_journal_damaged(void **state)
{
    struct fx *f = *state;

    journal_setup(f);
    int fd = open_file(f->dir, "logstor.segj", O_RDWR);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t junk[8192];
    memset(junk, 0xab, sizeof(junk));
    for (off_t off = 0; off < sb.st_size; off += (off_t)sizeof(junk))
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
    close(fd);
    open_engine(f);
    struct ls_stats st = stats(f->e);
    assert_int_equal(st.recovery_from_checkpoint, 1);
    assert_int_equal(st.recovery_heads_presumed, 0);
    churn_check(f);
    pads_check(f);
    /* a new journal was made: the next checkpoint names it */
    ls_close(f->e);
    f->e = NULL;
    open_engine(f);
    churn_check(f);
}

/* A victim still read when its round ends (a scan's entries are taken long before their
 * reads) is journaled only once its last reader is done: journaled at once, its block
 * could complete and a checkpoint name it as jdone before the reader finished, and the
 * segment then freed and reused after that checkpoint went unnoticed by a crash open
 * (found by review: 592 of 600 acknowledged keys lost). */
static void test_ckpt_journal_reader(void **state)
{
    struct fx *f = *state;
    char k[32], v[200];

    journal_reopen(f, 200); /* compaction always running */
    struct ls_engine *e = f->e;
    struct seg_mgr *m = &e->sm;
    put_filled(f, "a", 600, 'a', 0);
    for (int t = 0; t < 50; t++)
        ls_tick(e);
    uint8_t *held = calloc(m->nsegs, 1);
    uint32_t nheld = 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        if (m->d[g].state == SEG_FULL && m->d[g].live) {
            m->d[g].readers++; /* a scan's read in flight into it */
            held[g] = 1;
            nheld++;
        }
    put_filled(f, "a", 600, 'b', 0);
    int waiting = 0;
    for (int t = 0; t < 20000 && !waiting; t++) {
        ls_tick(e);
        snprintf(k, sizeof(k), "x%d", t % 50);
        assert_int_equal(put_sync(e, 0, k, "x", 1, 0), 0);
        for (uint32_t g = 0; g < m->nsegs; g++)
            if (held[g] && m->d[g].state == SEG_VICTIM && segj_pending(e) == 0)
                waiting++;
    }
    assert_true(waiting > 0);
    until_checkpoints(f, "p", 300, 2);
    ckpt_copy(f->dir, "logstor.ckpt", "rt.ckpt");
    uint64_t ckseq = e->seq;
    uint32_t still = 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        still += held[g] && m->d[g].state == SEG_VICTIM;
    assert_true(still > 0); /* victims waiting for their readers at the checkpoint */
    for (uint32_t g = 0; g < m->nsegs; g++)
        if (held[g])
            eng_read_release(e, (uint64_t)g * m->seg_size); /* the reads complete */
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof(k), "n%d", i);
        n_value(v, sizeof(v), i, 0);
        assert_int_equal(put_sync(e, 0, k, v, strlen(v), 0), 0);
    }
    uint32_t reused = 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        reused += held[g] && m->d[g].state != SEG_FREE && m->d[g].seq > ckseq;
    assert_true(reused > 0); /* and reused after it */
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "rt.ckpt", "logstor.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 1);
    assert_int_equal(lost_n_keys(f, 0), 0);
    free(held);
}

/* logstor.segj put back as an older copy of itself (same id): the open reads every head
 * ("ends before the checkpoint") and must make a new journal, not go on from the older
 * serial: blocks written then would reuse serials at or below the checkpoint's jdone, and
 * a later crash open from that checkpoint would take them as before it (found by review:
 * 54 of 600 acknowledged keys lost). */
static void test_ckpt_journal_older_copy(void **state)
{
    struct fx *f = *state;
    char k[32], v[200];

    journal_reopen(f, 200);
    put_filled(f, "a", 600, 'a', 0);
    ckpt_copy(f->dir, "logstor.segj", "old.segj");
    uint64_t j0 = stats(f->e).segj_writes;
    for (int r = 0; r < 6; r++)
        put_filled(f, "a", 600, (char)('b' + r), 1);
    until_checkpoints(f, "p", 300, 1);
    assert_true(stats(f->e).segj_writes > j0); /* the copy is older than the checkpoint */
    ckpt_copy(f->dir, "logstor.ckpt", "rt.ckpt");
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "rt.ckpt", "logstor.ckpt");
    ckpt_copy(f->dir, "old.segj", "logstor.segj");
    open_engine(f); /* reads every head: right */
    /* run 2 (checkpoints failing): the a-keys die first (their segments freed in blocks
     * numbered at or below the checkpoint's jdone), the n-keys take those segments, then
     * churn elsewhere carries the journal past jdone */
    f->e->cfg.checkpoint_bytes = 0;
    f->e->cfg.checkpoint_interval_ms = 0;
    uint64_t w2 = stats(f->e).segj_writes;
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof(k), "a%d", i);
        assert_int_equal(del_sync(f->e, 0, k), 0);
    }
    for (int t = 0; t < 200; t++)
        ls_tick(f->e);
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof(k), "n%d", i);
        n_value(v, sizeof(v), i, 1);
        assert_int_equal(put_sync(f->e, 0, k, v, strlen(v), 0), 0);
    }
    for (int r = 0; r < 40 && stats(f->e).segj_writes - w2 < 300; r++)
        put_filled(f, "z", 600, 'z', 1);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "rt.ckpt", "logstor.ckpt");
    open_engine(f);
    assert_int_equal(lost_n_keys(f, 1), 0);
}

/* Without checkpoints while running, the open that reads a checkpoint deletes it, and a
 * checkpoint older than the log (put back by hand) is refused: the log is scanned. */
static void test_ckpt_stale_refused(void **state)
{
    struct fx *f = *state;

    ckpt_fill(f);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "logstor.ckpt", "old.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 2);
    assert_false(ckpt_exists(f->dir));
    assert_int_equal(del_sync(f->e, 0, "c1"), 0);
    assert_int_equal(put_sync(f->e, 0, "c3", "again", 5, 0), 0);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "old.ckpt", "logstor.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 0);
    assert_false(ckpt_exists(f->dir));
    check_value(f->e, 0, "c1", NULL);
    check_value(f->e, 0, "c3", "again");
    check_value(f->e, 0, "c2", "v2");
    check_sound(f->e);
}

/* A clean close's checkpoint is trusted without reading the segments' first blocks only
 * while every data file is as the close left it. A file written since, even with the
 * same bytes and its modification time set back (its change time still moves), or
 * replaced by a copy (another inode), makes the open read every first block and check
 * the checkpoint against them; a segment head damaged that way is then found, and the
 * checkpoint refused. */
static void test_ckpt_clean_files_changed(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    char path[600];

    ckpt_fill(f);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "logstor.ckpt", "clean.ckpt");
    snprintf(path, sizeof(path), "%s/data-000000.lsd", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    uint8_t blk[64];
    log_read(f->dir, 0, 0, blk, sizeof(blk));
    log_write(f->dir, 0, 0, blk, sizeof(blk)); /* same bytes */
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 1);
    ckpt_check(f);
    ls_close(f->e);
    f->e = NULL;

    /* the same file, copied over itself: a new inode */
    char cmd[2600];
    snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s.tmp' && mv '%s.tmp' '%s'", path, path, path, path);
    assert_int_equal(system(cmd), 0);
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 1);
    ckpt_check(f);
    ls_close(f->e);
    f->e = NULL;

    /* an older clean checkpoint put back after that close: the files changed since it
     * (ckpt_fill's deletes were written before; this close wrote nothing, but the opens
     * above did: their checkpoints were deleted, the directory's files are the same) */
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 2);
    assert_int_equal(put_sync(f->e, 0, "c1", "newer", 5, 0), 0);
    ls_close(f->e);
    f->e = NULL;
    ckpt_copy(f->dir, "clean.ckpt", "logstor.ckpt");
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 0); /* stale: refused */
    check_value(f->e, 0, "c1", "newer");
    check_sound(f->e);
}

/* Index nodes changed while a checkpoint scanned its snapshot are freed once it is
 * released (ls_tick's idx_snap_reclaim steps): nothing called idx_snap_reclaim, and a
 * running server's index kept every such node until a restart (sorted-set pages reaped
 * during one checkpoint: 7.9 MB of index for 2.5 MB live). */
static void test_ckpt_index_memory_reclaimed(void **state)
{
    struct fx *f = *state;

    journal_reopen(f, 0);
    put_filled(f, "m", 20000, 'a', 0);
    until_checkpoints(f, "m", 20000, 8); /* overwrites while checkpoints scan */
    for (int t = 0; t < 1000; t++)
        ls_tick(f->e);
    uint64_t running = stats(f->e).index_bytes;
    ls_close(f->e);
    f->e = NULL;
    drop_ckpt(f->dir);
    open_engine(f); /* the same keys, indexed by a full scan */
    uint64_t fresh = stats(f->e).index_bytes;
    print_message("index bytes: %" PRIu64 " running, %" PRIu64 " after a reopen\n", running, fresh);
    assert_true(running <= fresh + fresh / 2);
}

/* A record damaged on disk after a clean close: the checkpoint still points at it, and a
 * read of it reports the damage (LS_ECORRUPT) rather than a wrong value or an older one;
 * every other key reads right. */
static void test_ckpt_record_damaged(void **state)
{
    struct fx *f = *state;
    char v[64];

    memset(v, 'Q', sizeof(v));
    memcpy(v, "unique-bytes-", 13);
    assert_int_equal(put_sync(f->e, 0, "d", "old", 3, 0), 0);
    assert_int_equal(put_sync(f->e, 0, "d", v, sizeof(v), 0), 0);
    assert_int_equal(put_sync(f->e, 0, "e", "fine", 4, 0), 0);
    ls_close(f->e);
    f->e = NULL;
    /* find the value's bytes in segment 0 and change one */
    uint8_t *seg = malloc(SEG_SIZE);
    log_read(f->dir, 0, 0, seg, SEG_SIZE);
    uint8_t *at = memmem(seg, SEG_SIZE, "unique-bytes-", 13);
    assert_non_null(at);
    at[20] ^= 1;
    log_write(f->dir, 0, (uint32_t)(at - seg), at, 32);
    free(seg);
    open_engine(f);
    assert_int_equal(stats(f->e).recovery_from_checkpoint, 1);
    assert_int_equal(get_sync(f->e, 0, "d", NULL, NULL), LS_ECORRUPT);
    check_value(f->e, 0, "e", "fine");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_corrupt_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_in_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_mid_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_segment_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_buffer_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_last_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordered_after_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_after_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_head_then_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_data_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_stays_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_run_partly_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_clean_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_roll_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_journal_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_journal_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_journal_older_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_stale_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_clean_files_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_record_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_index_memory_reclaimed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
