/*
 * loading.c - the engine is opened on a thread of its own while the loop serves.
 *
 * ls_open scans the whole log before it returns (engine/recov.c), which takes seconds to
 * minutes on a large directory. Redis accepts connections while it loads and answers
 * -LOADING; so does logstord: main.c listens first, then loading_start runs ls_open on
 * the opening thread, and the loop keeps serving what needs no engine (cmd_redis.c and
 * mcserver.c refuse the rest while s->eng is NULL).
 *
 * Ownership and hand-over. An engine belongs to one thread at a time (logstor.h). The
 * opening thread owns it inside ls_open; when ls_open returns, the thread stores the result
 * (rc, engine) under mu and writes the eventfd the loop watches. From then on the thread
 * never touches the engine: the loop's callback reads the result under mu (the mutex is
 * the memory barrier that makes the engine's state visible) and sets s->eng. The
 * progress callback runs on the opening thread and only copies its report under mu (INFO
 * reads it) and logs, as the synchronous start-up did.
 *
 * The opening thread does not exit at the hand-over: it waits until loading_free, after
 * ls_close. io_uring ties the work a thread submitted (its io-wq workers) to that thread
 * and cancels it when the thread exits, so the thread that set the ring up stays until
 * the engine is closed; waiting costs only its stack.
 *
 * Invariants: s->eng is NULL until the hand-over and set only by the loop's thread; the
 * fields under mu are written by the opening thread once (finished, rc, eng) or often
 * (p), and read by the loop; `handed` is the loop's alone.
 */
#include "loading.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

/* The engine reports this often (INFO's progress moves at this step); the log keeps one
 * line a second, as before. */
#define LOADING_REPORT_MS 100
#define LOADING_LOG_MS    1000

struct loading {
    struct server *s;
    struct ls_config cfg; /* the copy ls_open reads; dir points at dir below */
    char *dir;
    loading_done_fn done;
    int efd;          /* eventfd: written once ls_open has returned */
    struct event *ev; /* the loop's watch on efd */
    pthread_t th;
    int started;            /* th runs */
    int handed;             /* the loop took the result (loop's thread only) */
    uint64_t start_unix_s;  /* INFO loading_start_time */
    uint64_t start_mono_ms; /* for s->recovery_ms */
    uint64_t next_log_ms;   /* opening thread only: elapsed_ms of the next progress line */
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* finished, release */
    struct ls_recovery_progress p; /* under mu: the last report */
    int finished, rc;              /* under mu */
    struct ls_engine *eng;         /* under mu: the opened engine, until handed over */
    int release;                   /* under mu: the opening thread may exit */
};

/* Opening thread. */
static void on_progress(void *arg, const struct ls_recovery_progress *p)
{
    struct loading *l = arg;
    pthread_mutex_lock(&l->mu);
    l->p = *p;
    pthread_mutex_unlock(&l->mu);
    if (!p->done && p->elapsed_ms < l->next_log_ms)
        return;
    l->next_log_ms = p->elapsed_ms + LOADING_LOG_MS;
    log_notice("recovery: %llu/%llu segments, %llu records, %llu corrupt blocks, %llu ms%s",
               (unsigned long long)p->segments_done, (unsigned long long)p->segments_total,
               (unsigned long long)p->records, (unsigned long long)p->corrupt_blocks,
               (unsigned long long)p->elapsed_ms, p->done ? " (done)" : "");
}

/* Opening thread: ls_open, hand the result over, wait for loading_free. */
static void *open_main(void *arg)
{
    struct loading *l = arg;
    struct ls_engine *e = NULL;
    int rc = ls_open(&l->cfg, &e);
    pthread_mutex_lock(&l->mu);
    l->finished = 1;
    l->rc = rc;
    l->eng = rc == 0 ? e : NULL;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    uint64_t one = 1;
    while (write(l->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&l->mu);
    while (!l->release)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Takes ls_open's result (the loop's thread; finished is set). */
static int take_result(struct loading *l)
{
    pthread_mutex_lock(&l->mu);
    int rc = l->rc;
    struct ls_engine *e = l->eng;
    l->eng = NULL;
    pthread_mutex_unlock(&l->mu);
    l->handed = 1;
    l->s->eng = e;
    l->s->recovery_ms = server_mono_ms() - l->start_mono_ms;
    return rc;
}

static void on_opened(evutil_socket_t fd, short what, void *arg)
{
    struct loading *l = arg;
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warning("loading: eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&l->mu);
    int finished = l->finished;
    pthread_mutex_unlock(&l->mu);
    if (!finished || l->handed)
        return;
    event_del(l->ev);
    int rc = take_result(l);
    l->done(l->s, rc);
    server_after_events(l->s);
}

int loading_start(struct server *s, const struct ls_config *cfg, loading_done_fn done)
{
    struct loading *l = calloc(1, sizeof(*l));
    if (l == NULL)
        goto fail;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->s = s;
    l->done = done;
    l->cfg = *cfg;
    l->efd = -1;
    l->dir = strdup(cfg->dir);
    if (l->dir == NULL)
        goto fail;
    l->cfg.dir = l->dir;
    l->cfg.progress = on_progress;
    l->cfg.progress_arg = l;
    l->cfg.progress_interval_ms = LOADING_REPORT_MS;
    l->start_unix_s = server_unix_ms() / 1000;
    l->start_mono_ms = server_mono_ms();
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0)
        goto fail;
    l->ev = event_new(s->base, l->efd, EV_READ | EV_PERSIST, on_opened, l);
    if (l->ev == NULL || event_add(l->ev, NULL) < 0)
        goto fail;
    s->loading = l;
    int rc = pthread_create(&l->th, NULL, open_main, l);
    if (rc != 0) {
        errno = rc;
        goto fail;
    }
    l->started = 1;
    return 0;
fail:
    log_warning("cannot start the engine's opening thread: %s", strerror(errno));
    if (l) {
        s->loading = l;
        loading_free(s);
    }
    return -1;
}

int loading_active(const struct server *s)
{
    return s->loading != NULL && !s->loading->handed;
}

int loading_wait(struct server *s)
{
    struct loading *l = s->loading;
    if (l == NULL || l->handed)
        return 0;
    pthread_mutex_lock(&l->mu);
    while (!l->finished)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return take_result(l);
}

void loading_free(struct server *s)
{
    struct loading *l = s->loading;
    if (l == NULL)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->release = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        ls_close(l->eng); /* opened but never handed over (not reached through main) */
    }
    if (l->ev)
        event_free(l->ev);
    if (l->efd >= 0)
        close(l->efd);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
    s->loading = NULL;
}

void loading_info(const struct server *s, struct pbuf *pb)
{
    if (!loading_active(s))
        return;
    struct loading *l = s->loading;
    pthread_mutex_lock(&l->mu);
    struct ls_recovery_progress p = l->p;
    pthread_mutex_unlock(&l->mu);
    /* Redis's arithmetic (INFO persistence while loading), with bytes counted in whole
     * segments: the engine reports segments scanned. */
    uint64_t seg = l->cfg.segment_size;
    uint64_t total = p.segments_total * seg, loaded = p.segments_done * seg;
    uint64_t remaining = 1;
    double perc = 0;
    if (total) {
        perc = (double)loaded / (double)total * 100;
        remaining = total - loaded;
    }
    uint64_t elapsed = server_unix_ms() / 1000 - l->start_unix_s;
    uint64_t eta = elapsed == 0 ? 1 : elapsed * remaining / (loaded + 1);
    pbuf_appendf(pb,
                 "loading_start_time:%" PRIu64 "\r\nloading_total_bytes:%" PRIu64
                 "\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:%" PRIu64
                 "\r\nloading_loaded_perc:%.2f\r\nloading_eta_seconds:%" PRIu64 "\r\n",
                 l->start_unix_s, total, loaded, perc, eta);
}
