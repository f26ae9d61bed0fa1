/*
 * uio.h - the block I/O core: io_uring submission and completion with one eventfd.
 *
 * Requests are embedded in the caller's structures; the I/O core allocates nothing per
 * request. Once a request is submitted it belongs to the I/O core until its callback
 * runs; the callback runs exactly once, from uio_reap, never from the submitting call.
 * Requests that find the submission queue full wait in a FIFO and go out in order.
 */
#ifndef LS_UIO_H
#define LS_UIO_H

#include <stddef.h>
#include <stdint.h>

struct uio;
struct uio_req;

/* res is the byte count (>= 0) or -errno; a short read or write is reported as is. */
typedef void (*uio_cb)(struct uio_req *req, int res);

/* UIO_SEND: a socket send of len bytes from buf that never waits for room (MSG_DONTWAIT:
 * a full socket completes with -EAGAIN), so it holds its ring slot only while it is
 * issued; off and the alignment rules do not apply. */
enum uio_op { UIO_READ, UIO_WRITE, UIO_FSYNC, UIO_TIMEOUT, UIO_SEND };

struct uio_req {
    uio_cb cb;
    void *arg;
    void *buf;    /* O_DIRECT: 4 KiB aligned (uio_alloc) */
    uint64_t off; /* file offset: 4 KiB aligned */
    uint32_t len; /* multiple of 4 KiB */
    int fd;
    uint8_t op;          /* enum uio_op */
    uint8_t dsync;       /* write with RWF_DSYNC */
    int res;             /* internal: result of a fault-injected completion */
    uint64_t timeout_ns; /* UIO_TIMEOUT: completes (-ETIME) after this long */
    uint64_t sim_due_ns; /* internal (simulated device: a timeout's deadline) */
    struct {
        int64_t tv_sec;
        long long tv_nsec;
    } ts;                 /* internal (__kernel_timespec) */
    struct uio_req *next; /* internal */
};

struct uio_faults {
    uint64_t fail_write_n, fail_read_n, tear_write_n;
    uint32_t tear_bytes;
    int error;
};

struct simdev;
/* Opens a ring of `depth` entries with an eventfd. Returns 0 or -errno. With sim set,
 * opens the simulated backend instead (simdev.h): requests go to that device, there is
 * no ring and no eventfd (uio_fd returns -1), and the simulator orders completions. */
int uio_open(unsigned depth, struct simdev *sim, struct uio **out);
void uio_close(struct uio *u);
int uio_fd(const struct uio *u);
/* The clock UIO_TIMEOUT's deadlines are kept in (CLOCK_MONOTONIC; the simulated device's
 * own clock with sim), in nanoseconds. */
uint64_t uio_mono_ns(const struct uio *u);

/* Queues a request (submitted to the kernel at the next uio_submit). */
void uio_queue(struct uio *u, struct uio_req *r);
/* Passes queued requests to the kernel. Returns 0 or -errno (the requests stay queued). */
int uio_submit(struct uio *u);
/* Held submissions (uio_hold on): uio_submit only prepares SQEs, unless the ring is full;
 * uio_flush submits whatever is prepared. A caller that polls after each of its events
 * flushes once per turn of its loop, so one io_uring_enter carries the reads of every
 * client served in that turn (one per read before: 0.85 a GET from the device). Waiting
 * in uio_reap flushes first. Completions a quiet flush left unreaped wake the eventfd
 * here, since the caller may block next. */
int uio_flush(struct uio *u);
/* uio_flush with the eventfd kept quiet for what completes within the call (a socket
 * send does): returns 1 when completions wait for uio_reap_quiet, which the caller must
 * run (only a later uio_flush signals them), 0 when none, or -errno. */
int uio_flush_quiet(struct uio *u);
void uio_hold(struct uio *u, int on);
/* Runs completions. wait != 0 blocks until at least one completes (when any is in
 * flight). Returns the number of callbacks run or -errno. Drains the eventfd. */
int uio_reap(struct uio *u, int wait);
/* uio_reap(u, 0) without reading the eventfd: for a poll the caller runs of its own
 * accord (ls_poll_pending), when the eventfd did not wake it. A completion signalled
 * meanwhile leaves the eventfd readable: the next uio_reap clears it. */
int uio_reap_quiet(struct uio *u);
/* Makes the eventfd readable so the caller's loop calls back soon. */
void uio_wake(struct uio *u);
/* Requests submitted whose callbacks have not run yet. */
unsigned uio_inflight(const struct uio *u);
/* Fault injection (tests). Counters start from this call. */
void uio_set_faults(struct uio *u, const struct uio_faults *f);

/* Allocates n bytes aligned to 4 KiB (n rounded up). Free with uio_free. NULL on ENOMEM. */
void *uio_alloc(size_t n);
void uio_free(void *p);

#endif
