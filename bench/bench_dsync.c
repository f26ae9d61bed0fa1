/*
 * bench_dsync.c - which way of making an O_DIRECT write durable is fastest here?
 *
 * Writes `count` sequential blocks of `size` bytes with O_DIRECT through io_uring, one at
 * a time (the latency a lone sync-mode writer sees), in four ways:
 *   rwf_dsync      one write with RWF_DSYNC (what the engine does)
 *   write+fdatasync  a write linked to an IORING_OP_FSYNC(DATASYNC)
 *   o_dsync        the file opened with O_DSYNC, plain writes
 * each on a file that was zero-filled at creation, and rwf_dsync also on a file that was
 * only fallocated (ext4 "unwritten" extents, whose conversion must also be journaled).
 *
 *   bench_dsync [dir] [count] [size]     defaults: /tmp 2000 4096
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_file(const char *path, size_t bytes, int zero, int extra_flags)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | extra_flags, 0644);
    if (fd < 0 || fallocate(fd, 0, 0, (off_t)bytes) != 0)
        return -1;
    if (zero) {
        void *z;
        if (posix_memalign(&z, 4096, 1 << 20))
            return -1;
        memset(z, 0, 1 << 20);
        for (size_t off = 0; off < bytes; off += 1 << 20)
            if (pwrite(fd, z, 1 << 20, (off_t)off) != 1 << 20)
                return -1;
        free(z);
        fdatasync(fd);
    }
    return fd;
}

enum mode { RWF, LINKED, ODSYNC };

static double run(struct io_uring *ring, int fd, enum mode m, int count, size_t size, void *buf)
{
    double t0 = now_s();
    for (int i = 0; i < count; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        struct io_uring_cqe *cqe;
        int n = 1;
        io_uring_prep_write(sqe, fd, buf, (unsigned)size, (uint64_t)i * size);
        if (m == RWF)
            sqe->rw_flags = RWF_DSYNC;
        if (m == LINKED) {
            sqe->flags |= IOSQE_IO_LINK;
            sqe = io_uring_get_sqe(ring);
            io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
            n = 2;
        }
        io_uring_submit(ring);
        for (int k = 0; k < n; k++) {
            if (io_uring_wait_cqe(ring, &cqe) != 0 || cqe->res < 0) {
                fprintf(stderr, "io error %d\n", cqe ? cqe->res : -1);
                exit(1);
            }
            io_uring_cqe_seen(ring, cqe);
        }
    }
    return (now_s() - t0) / count * 1e6;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int count = argc > 2 ? atoi(argv[2]) : 2000;
    size_t size = argc > 3 ? strtoul(argv[3], NULL, 10) : 4096;
    size_t bytes = (size_t)count * size;
    char path[512];
    struct io_uring ring;
    void *buf;

    if (posix_memalign(&buf, 4096, size) || io_uring_queue_init(8, &ring, 0))
        return 1;
    memset(buf, 'x', size);
    snprintf(path, sizeof(path), "%s/dsync-bench.tmp", dir);
    struct {
        const char *name;
        enum mode m;
        int zero, flags;
    } cases[] = {
        {"rwf_dsync zeroed", RWF, 1, 0},
        {"write+fdatasync zeroed", LINKED, 1, 0},
        {"o_dsync zeroed", ODSYNC, 1, O_DSYNC},
        {"rwf_dsync fallocated-only", RWF, 0, 0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int fd = make_file(path, bytes, cases[c].zero, cases[c].flags);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        double us = run(&ring, fd, cases[c].m, count, size, buf);
        printf("dsync %-26s size=%zu writes=%d us_per_write=%.1f writes_per_s=%.0f\n",
               cases[c].name, size, count, us, 1e6 / us);
        close(fd);
        unlink(path);
    }
    return 0;
}
