/*
 * rec.h - the on-disk format of buffers and records (see FORMAT.md, version 2).
 *
 * A device write is one buffer: a 64-byte header on a 4 KiB boundary followed by records,
 * each 8-byte aligned, padded with zeros to a whole number of 4 KiB blocks. Both the
 * buffer header and every record carry an xxh3-64 checksum seeded with the data
 * directory's secret (logstor.meta), so that bytes a user stored can never be mistaken
 * for a header or a record by recovery.
 */
#ifndef LS_REC_H
#define LS_REC_H

#include <stddef.h>
#include <stdint.h>

#define REC_FORMAT_VERSION 2
#define REC_BLOCK          4096u
#define BUF_MAGIC          0x3142534cu /* "LSB1" little-endian */
#define BUF_HDR_SIZE       64u
#define REC_HDR_SIZE       40u

enum buf_flags { BUF_LARGE = 1 }; /* the buffer holds one record spanning segments */

/* On-disk buffer header, little-endian. */
struct buf_hdr {
    uint32_t magic;      /* BUF_MAGIC */
    uint16_t version;    /* REC_FORMAT_VERSION */
    uint16_t flags;      /* enum buf_flags */
    uint64_t seg_seq;    /* sequence number of the segment's current use */
    uint32_t length;     /* bytes of this buffer on disk, header included, multiple of 4096 */
    uint32_t count;      /* records that follow the header */
    uint32_t seg_no;     /* global segment number the buffer was written to */
    uint32_t group;      /* 0: written by users (mixed); g + 1: compaction group g */
    uint64_t first_rseq; /* rseq of the first record (diagnostics) */
    /* 0, or the offset from the buffer's start where the last ordered write placed in it
     * ends (ls_write_opts.ordered). A write torn by a power loss need not keep a prefix of
     * its blocks; recovery applies no record before this offset once it has met damage in
     * the buffer, so an ordered write never survives one placed before it (recov.c). */
    uint32_t ordered_end;
    uint32_t reserved0;
    uint64_t reserved1;
    uint64_t checksum; /* xxh3-64 (seeded) of bytes 0..55 */
};
_Static_assert(sizeof(struct buf_hdr) == BUF_HDR_SIZE, "buffer header is 64 bytes");
_Static_assert(offsetof(struct buf_hdr, checksum) == 56, "checksum at 56");

enum rec_type { REC_PUT = 1, REC_DEL = 2, REC_FLUSH = 3 };
/* A flag in the type byte on disk: a batch (ls_write_batch) goes on after this record.
 * A batch is written as consecutive records of one buffer, every one but the last with
 * this flag; recovery applies them all or none (FORMAT.md). rec_decode strips it from
 * h.type into rec_view.cont. */
#define REC_F_CONT 0x80u
/* A flag in the type byte on disk: this record continues a batch that an earlier record
 * began (every member but the first). With it recovery knows a member whose batch began
 * in damaged bytes, and drops it instead of applying part of the batch. Batches written
 * before it (no member has it) still end at the first record without REC_F_CONT. */
#define REC_F_MEMB  0x40u
#define REC_F_FLAGS (REC_F_CONT | REC_F_MEMB)
/* Bits 2..5 of the type byte on a PUT: the value's type tag (FORMAT.md, "Collections"):
 * bits 2..4 the value type (0 string: every record written before collections), bit 5
 * REC_F_PAGED (a collection's root whose elements are in pages). Zero on DELs and
 * FLUSHes. rec_decode strips them from h.type into rec_view.vtag (bits 0..3). */
#define REC_VTAG_SHIFT 2
#define REC_VTAG_MASK  0x3cu
#define REC_F_PAGED    0x20u

/* On-disk record header, little-endian, followed by key and value, padded to 8. */
struct rec_hdr {
    uint8_t type;    /* enum rec_type */
    uint8_t version; /* REC_FORMAT_VERSION */
    uint16_t table;  /* table (Redis database) number */
    uint32_t key_len;
    uint32_t value_len;
    uint32_t flags;     /* client flags (memcached) */
    uint64_t rseq;      /* record sequence: unique, increasing per write; newer wins */
    uint64_t expire_ms; /* absolute unix ms, 0 = none */
    uint64_t checksum;  /* xxh3-64 (seeded) of header (this field zero), key, value */
};
_Static_assert(sizeof(struct rec_hdr) == REC_HDR_SIZE, "record header is 40 bytes");
_Static_assert(offsetof(struct rec_hdr, checksum) == 32, "checksum at 32");

static inline uint32_t rec_size(uint32_t key_len, uint32_t value_len)
{
    return (REC_HDR_SIZE + key_len + value_len + 7u) & ~7u;
}
static inline uint64_t rec_align_block(uint64_t n)
{
    return (n + REC_BLOCK - 1) & ~(uint64_t)(REC_BLOCK - 1);
}

/* The seed of a record's checksum: the directory seed mixed with the sequence number of
 * the segment use it was written in, so a record left from an earlier use of a segment
 * can never verify as part of the current one. */
static inline uint64_t rec_seed(uint64_t dir_seed, uint64_t seg_seq)
{
    return dir_seed ^ (seg_seq * UINT64_C(0x9E3779B97F4A7C15));
}

/* Writes a record at dst (room for rec_size bytes, zero padding included). */
void rec_encode(void *dst, const struct rec_hdr *h, const void *key, const void *value,
                uint64_t seed);

/* A decoded record: pointers into the buffer it was decoded from. */
struct rec_view {
    struct rec_hdr h;
    const uint8_t *key;
    const uint8_t *value;
    uint32_t size; /* rec_size */
    uint8_t cont;  /* REC_F_CONT was set: a batch goes on after this record */
    uint8_t memb;  /* REC_F_MEMB was set: a batch began before this record */
    uint8_t vtag;  /* a PUT's type tag: (type byte & REC_VTAG_MASK) >> REC_VTAG_SHIFT */
};

/* Decodes the record at p with at most avail bytes available. Returns 0, or LS_ECORRUPT
 * when the header is implausible, the record runs past avail, or the checksum fails. */
int rec_decode(const void *p, size_t avail, uint64_t seed, struct rec_view *out);
/* rec_decode without the checksum, for a record already checked in memory: one the engine
 * wrote (a write buffer) or read and checked (the record cache). A GET served from memory
 * spent 6% of its time hashing its record again (redis-benchmark GET -P 16). */
int rec_decode_trusted(const void *p, size_t avail, struct rec_view *out);

/* After a corrupt record at offset `from` of buf, finds the next offset (8-byte aligned,
 * below end) where a valid record starts, or returns end. The seeded checksum makes a
 * false match impossible in practice; a cheap header filter keeps the search fast. */
uint32_t rec_resync(const uint8_t *buf, uint32_t from, uint32_t end, uint64_t seed);

/* 1 when p[0..n) is all zeros (the padding at the end of a buffer). */
int rec_is_padding(const uint8_t *p, size_t n);

/* Fills and seals a buffer header at dst (group 0: a mixed segment). */
void buf_hdr_seal(void *dst, uint16_t flags, uint64_t seg_seq, uint32_t length, uint32_t count,
                  uint32_t seg_no, uint64_t first_rseq, uint64_t seed);
/* The same for a buffer of a compaction group's segment (group = g + 1). */
void buf_hdr_seal_group(void *dst, uint16_t flags, uint32_t group, uint32_t ordered_end,
                        uint64_t seg_seq, uint32_t length, uint32_t count, uint32_t seg_no,
                        uint64_t first_rseq, uint64_t seed);

/* Checks the header at p. Returns 0 and copies it to *out, or LS_ECORRUPT (bad checksum,
 * bad fields), or -ENOENT when the block does not start with the magic at all. */
int buf_hdr_check(const void *p, uint64_t seed, struct buf_hdr *out);

/* For the large-record run whose head header is h, at segment head_seg: does the block 0
 * of one of its continuation segments (the k-th at first_blocks + k * stride, k < n) hold
 * a valid header of that segment's own number newer than the run? Then the run was given
 * up and partly reused. Returns that segment's offset k; else the first damaged block 0
 * as k | BUF_RUN_DAMAGED, so the caller may look behind it; else 0. */
#define BUF_RUN_DAMAGED 0x80000000u
uint32_t buf_run_reused(const uint8_t *first_blocks, size_t stride, uint32_t n,
                        const struct buf_hdr *h, uint32_t head_seg, uint64_t seed);

#endif
