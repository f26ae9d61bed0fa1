/*
 * uio.c - io_uring submission/completion for O_DIRECT block I/O.
 *
 * Design: one ring per engine instance, an eventfd registered with it so the caller's
 * event loop learns of completions; the same eventfd is written by uio_wake so that
 * deferred engine work (callbacks that must not run inside the submitting call) gets
 * the loop's attention too. Requests that do not get an SQE wait in a FIFO; the number
 * in the kernel never exceeds the ring depth, so the CQ (twice the SQ) cannot overflow.
 *
 * The simulated backend (simdev.h) replaces the ring: requests go to the simulator's
 * device, which executes them when the simulator says so; uio_reap delivers what it
 * executed. One branch per call when off.
 *
 * Fault injection replaces the Nth write/read by a completion carrying an error (or a
 * write of fewer bytes followed by an error, "torn"); it costs one branch when off.
 */
#include "uio.h"

#include "simdev.h"

#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(((struct uio_req *)0)->ts) == sizeof(struct __kernel_timespec),
               "uio_req.ts mirrors __kernel_timespec");

struct uio {
    struct io_uring ring;
    struct simdev *sim; /* the simulated backend, or NULL */
    int efd;
    unsigned depth;
    unsigned in_kernel;                      /* SQEs handed to the kernel, not yet completed */
    unsigned unsubmitted;                    /* SQEs prepared but not yet io_uring_submit'ed */
    unsigned inflight;                       /* every request whose callback has not run */
    struct uio_req *wait_head, *wait_tail;   /* waiting for an SQE */
    struct uio_req *fault_head, *fault_tail; /* fault-injected completions */
    int faults_on;
    int hold;    /* uio_submit leaves prepared SQEs to the next uio_flush (uio_hold) */
    int unwoken; /* uio_flush_quiet left completions the eventfd was not woken for */
    struct uio_faults faults;
    uint64_t writes, reads;
};

int uio_open(unsigned depth, struct simdev *sim, struct uio **out)
{
    struct uio *u = calloc(1, sizeof(*u));
    int rc;

    if (!u)
        return -ENOMEM;
    u->depth = depth;
    u->efd = -1;
    if (sim) {
        u->sim = sim;
        *out = u;
        return 0;
    }
    u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->efd < 0) {
        rc = -errno;
        goto fail_free;
    }
    rc = io_uring_queue_init(depth, &u->ring, 0);
    if (rc < 0)
        goto fail_efd;
    rc = io_uring_register_eventfd(&u->ring, u->efd);
    if (rc < 0)
        goto fail_ring;
    *out = u;
    return 0;
fail_ring:
    io_uring_queue_exit(&u->ring);
fail_efd:
    close(u->efd);
fail_free:
    free(u);
    return rc;
}

void uio_close(struct uio *u)
{
    if (!u)
        return;
    while (u->inflight)
        if (uio_reap(u, 1) < 0)
            break;
    if (!u->sim) {
        io_uring_queue_exit(&u->ring);
        close(u->efd);
    }
    free(u);
}

int uio_fd(const struct uio *u)
{
    return u->efd;
}

uint64_t uio_mono_ns(const struct uio *u)
{
    struct timespec ts;

    if (u->sim)
        return simdev_mono_ns(u->sim);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

unsigned uio_inflight(const struct uio *u)
{
    return u->inflight;
}

void uio_set_faults(struct uio *u, const struct uio_faults *f)
{
    u->faults = *f;
    u->faults_on = f->fail_write_n || f->fail_read_n || f->tear_write_n;
    u->writes = u->reads = 0;
}

void uio_wake(struct uio *u)
{
    uint64_t one = 1;
    ssize_t n;

    if (u->sim)
        return; /* the simulator polls the engine */
    n = write(u->efd, &one, sizeof(one));
    (void)n; /* EAGAIN means the counter is already non-zero: the loop will wake */
}

static void fault_complete(struct uio *u, struct uio_req *r, int res)
{
    r->res = res;
    r->next = NULL;
    if (u->fault_tail)
        u->fault_tail->next = r;
    else
        u->fault_head = r;
    u->fault_tail = r;
    uio_wake(u);
}

/* Returns 1 when the fault injector took the request over. */
static int fault_check(struct uio *u, struct uio_req *r)
{
    struct uio_faults *f = &u->faults;
    int err = f->error ? f->error : EIO;

    if (r->op == UIO_WRITE) {
        u->writes++;
        if (f->fail_write_n && u->writes == f->fail_write_n) {
            fault_complete(u, r, -err);
            return 1;
        }
        if (f->tear_write_n && u->writes == f->tear_write_n && f->tear_bytes < r->len) {
            /* Write the first tear_bytes for real, then report the failure. */
            struct uio_req tmp = *r;
            ssize_t n = 0;
            if (f->tear_bytes)
                n = pwrite(tmp.fd, tmp.buf, f->tear_bytes, (off_t)tmp.off);
            (void)n;
            fault_complete(u, r, -err);
            return 1;
        }
    } else if (r->op == UIO_READ) {
        u->reads++;
        if (f->fail_read_n && u->reads == f->fail_read_n) {
            fault_complete(u, r, -err);
            return 1;
        }
    }
    return 0;
}

static int prep(struct uio *u, struct uio_req *r)
{
    struct io_uring_sqe *sqe;

    if (u->in_kernel + u->unsubmitted >= u->depth)
        return -EBUSY;
    sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return -EBUSY;
    switch (r->op) {
    case UIO_READ:
        io_uring_prep_read(sqe, r->fd, r->buf, r->len, r->off);
        break;
    case UIO_WRITE:
        io_uring_prep_write(sqe, r->fd, r->buf, r->len, r->off);
        if (r->dsync)
            sqe->rw_flags = RWF_DSYNC;
        break;
    case UIO_SEND:
        io_uring_prep_send(sqe, r->fd, r->buf, r->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    case UIO_TIMEOUT:
        r->ts.tv_sec = (int64_t)(r->timeout_ns / 1000000000u);
        r->ts.tv_nsec = (long long)(r->timeout_ns % 1000000000u);
        io_uring_prep_timeout(sqe, (struct __kernel_timespec *)&r->ts, 0, 0);
        break;
    default:
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, r);
    u->unsubmitted++;
    return 0;
}

void uio_queue(struct uio *u, struct uio_req *r)
{
    u->inflight++;
    if (u->faults_on && fault_check(u, r))
        return;
    if (u->sim) {
        if (r->op == UIO_SEND) { /* no socket is simulated: sent at once, reaped as a fault */
            ssize_t n = send(r->fd, r->buf, r->len, MSG_DONTWAIT | MSG_NOSIGNAL);
            fault_complete(u, r, n < 0 ? -errno : (int)n);
            return;
        }
        simdev_queue(u->sim, r);
        return;
    }
    if (!u->wait_head && prep(u, r) == 0)
        return;
    r->next = NULL;
    if (u->wait_tail)
        u->wait_tail->next = r;
    else
        u->wait_head = r;
    u->wait_tail = r;
}

static int submit(struct uio *u, int force)
{
    int rc;

    if (u->sim)
        return 0;
    while (u->wait_head && prep(u, u->wait_head) == 0) {
        u->wait_head = u->wait_head->next;
        if (!u->wait_head)
            u->wait_tail = NULL;
    }
    if (!u->unsubmitted)
        return 0;
    if (u->hold && !force && !u->wait_head)
        return 0; /* the caller flushes at the end of its loop's turn (a full ring goes now) */
    do
        rc = io_uring_submit(&u->ring);
    while (rc == -EINTR);
    if (rc < 0)
        return rc;
    u->in_kernel += (unsigned)rc;
    u->unsubmitted -= (unsigned)rc;
    return 0;
}

int uio_submit(struct uio *u)
{
    return submit(u, 0);
}

/* The caller may block after this, so completions that a quiet flush left in the CQ
 * without a wake-up (a caller that did not reap them, or a quiet flush between its reap
 * and this one) wake the eventfd now: otherwise they waited for some other event. */
int uio_flush(struct uio *u)
{
    int rc = submit(u, 1);
    if (u->unwoken && !u->sim) {
        u->unwoken = 0;
        if (io_uring_cq_ready(&u->ring) > 0)
            uio_wake(u);
    }
    return rc;
}

int uio_flush_quiet(struct uio *u)
{
    if (u->sim)
        return u->fault_head != NULL;
    io_uring_cq_eventfd_toggle(&u->ring, false);
    int rc = submit(u, 1);
    io_uring_cq_eventfd_toggle(&u->ring, true);
    /* The flag's store before the tail's load: the kernel posts a completion, then reads
     * the flag, so a store still buffered here could let one posted meanwhile go unseen
     * by both sides (found by a review; only io-wq posts from another CPU). */
    atomic_thread_fence(memory_order_seq_cst);
    if (io_uring_cq_ready(&u->ring) > 0)
        u->unwoken = 1; /* cleared when the CQ is reaped empty, or by uio_flush */
    if (rc < 0)
        return rc; /* what completed before the failure is still owed its wake-up */
    return u->unwoken || u->fault_head != NULL;
}

void uio_hold(struct uio *u, int on)
{
    u->hold = on;
}

static int run_faults(struct uio *u)
{
    int n = 0;

    while (u->fault_head) {
        struct uio_req *r = u->fault_head;
        u->fault_head = r->next;
        if (!u->fault_head)
            u->fault_tail = NULL;
        u->inflight--;
        r->cb(r, r->res);
        n++;
    }
    return n;
}

static int reap_sim(struct uio *u, int wait)
{
    struct uio_req *r;
    int n = run_faults(u);

    while ((r = simdev_next_done(u->sim, wait && n == 0))) {
        u->inflight--;
        r->cb(r, r->res);
        n++;
    }
    return n;
}

static int reap(struct uio *u, int wait, int read_efd)
{
    struct io_uring_cqe *cqe;
    uint64_t junk;
    int n = 0, rc;
    ssize_t rd;

    if (u->sim)
        return reap_sim(u, wait);
    if (read_efd) {
        rd = read(u->efd, &junk, sizeof(junk));
        (void)rd;
    }
    n += run_faults(u);
    if (wait && n == 0)
        uio_flush(u); /* about to wait: nothing may stay held */
    if (wait && n == 0 && u->in_kernel) {
        do
            rc = io_uring_wait_cqe(&u->ring, &cqe);
        while (rc == -EINTR);
        if (rc < 0)
            return rc;
    }
    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        struct uio_req *r = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        u->in_kernel--;
        u->inflight--;
        r->cb(r, res);
        n++;
    }
    u->unwoken = 0; /* the CQ is empty */
    if (u->wait_head)
        uio_submit(u);
    return n;
}

int uio_reap(struct uio *u, int wait)
{
    return reap(u, wait, 1);
}

int uio_reap_quiet(struct uio *u)
{
    return reap(u, 0, 0);
}

void *uio_alloc(size_t n)
{
    void *p = NULL;

    n = (n + 4095) & ~(size_t)4095;
    if (n == 0)
        n = 4096;
    if (posix_memalign(&p, 4096, n) != 0)
        return NULL;
    return p;
}

void uio_free(void *p)
{
    free(p);
}
