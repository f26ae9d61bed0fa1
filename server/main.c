/*
 * main.c - logstord's entry point: command line, configuration, logging, the engine, the
 * event loop, and an orderly exit.
 *
 *   logstord [config-file] [-c config-file] [--key value ...]
 *            [--help] [--version] [--check-config]
 *
 * Configuration is applied in order: embedded defaults, the file, then `--key value`
 * pairs, so the command line wins. Start-up logs the configuration in effect, listens on
 * both ports, and opens the engine on a thread of its own (loading.c) while the loop
 * answers -LOADING; the engine's recovery progress is logged, then "Ready to accept
 * connections" once the engine is handed over. Exit status: 0 after a clean shutdown, 1 on
 * a configuration or start-up error (a failed engine open included).
 */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "rconfig.h"
#include "conn.h"
#include "loading.h"
#include "lockset.h"
#include "large.h"
#include "log.h"
#include "reaper.h"
#include "logstor.h"
#include "mcserver.h"
#include "net.h"
#include "park.h"
#include "monitor.h"
#include "block.h"
#include "pause.h"
#include "pubsub.h"
#include "script.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

#define TICK_MS 10
#define CRON_MS 100

static void usage(FILE *f)
{
    size_t n;
    const struct config_desc *t = config_table(&n);
    fprintf(f, "Usage: logstord [config-file] [-c config-file] [--key value ...]\n"
               "       logstord --help | --version | --check-config [...]\n\n"
               "Every configuration key can be given on the command line as --key value.\n"
               "Keys (default in brackets; * = can be changed with CONFIG SET):\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-28s [%s]%s\n      %s\n", t[i].name, t[i].def, t[i].runtime ? " *" : "",
                t[i].help);
}

struct args {
    const char *config_file;
    int check_only;
};

/* Parses argv into s->cfg. Returns 0, 1 when the program should exit 0 (help, version),
 * -1 on error (already reported). */
static int parse_args(struct server *s, int argc, char **argv, struct args *a)
{
    char err[512];
    int i = 1;
    if (i < argc && argv[i][0] != '-')
        a->config_file = argv[i++];
    for (int j = i; j < argc; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(argv[j], "--version") == 0 || strcmp(argv[j], "-v") == 0) {
            printf("logstord %s\n", LS_VERSION_STRING);
            return 1;
        }
        if ((strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) && j + 1 < argc)
            a->config_file = argv[++j];
        else if (strcmp(argv[j], "--check-config") == 0)
            a->check_only = 1;
        else if (strncmp(argv[j], "--", 2) == 0)
            j++; /* a --key value pair, applied after the file */
        else {
            fprintf(stderr, "logstord: unexpected argument '%s' (try --help)\n", argv[j]);
            return -1;
        }
    }
    if (a->config_file && config_load_file(&s->cfg, a->config_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "logstord: %s\n", err);
        return -1;
    }
    for (int j = i; j < argc; j++) {
        if (strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) {
            j++;
            continue;
        }
        if (strcmp(argv[j], "--check-config") == 0)
            continue;
        if (j + 1 >= argc) {
            fprintf(stderr, "logstord: %s: missing value\n", argv[j]);
            return -1;
        }
        const char *key = argv[j] + 2;
        if ((config_find(key)
                 ? config_set(&s->cfg, key, argv[j + 1], err, sizeof(err))
                 : rconfig_set_startup(&s->cfg, key, argv[j + 1], err, sizeof(err))) < 0) {
            fprintf(stderr, "logstord: command line: %s\n", err);
            return -1;
        }
        j++;
    }
    if (config_check(&s->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "logstord: %s\n", err);
        return -1;
    }
    return 0;
}

static void log_config(const struct server *s)
{
    size_t n;
    const struct config_desc *t = config_table(&n);
    char val[512];
    log_notice("logstord %s starting, pid %d, configuration %s", LS_VERSION_STRING, (int)getpid(),
               s->config_file ? s->config_file : "(embedded defaults)");
    for (size_t i = 0; i < n; i++) {
        config_format(&s->cfg, &t[i], val, sizeof(val));
        if (strcmp(t[i].name, "requirepass") == 0 && config_requires_auth(&s->cfg))
            snprintf(val, sizeof(val), "(set)");
        log_notice("config %s = %s", t[i].name, val);
    }
}

static void engine_log(void *arg, enum ls_log_level level, const char *msg)
{
    (void)arg;
    static const int map[] = {LOG_DEBUG, LOG_NOTICE, LOG_WARNING, LOG_WARNING};
    log_msg(level <= LS_LOG_ERROR ? map[level] : LOG_WARNING, "engine: %s", msg);
}

static void on_engine(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    server_poll_engine(s, 0);
    server_after_events(s);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    /* follows CONFIG SET; and while a command waits (a blocked XREADGROUP learns that its
     * stream expired) */
    ls_report_expired(s->eng, pubsub_wants_expired(s) || block_count(s) > 0);
    ls_tick(s->eng);
    reaper_tick(s); /* large lists' pages no root names (reaper.c) */
    park_retry(s);
    server_after_events(s);
}

/* Once a second, past 128 MiB resident: when RSS is more than twice what the server
 * accounts for (index, record cache budget, clients) plus 64 MiB, give the free heap back.
 * A whole-collection command frees its elements and pages in pieces among long-lived
 * allocations, and glibc returns only the top of the heap by itself: building a
 * 10 M-member sorted set left 809 MiB resident for 15 MiB of index (and RSS is what
 * maxmemory checks). Not mallinfo2 to decide: it walks every free chunk (45 ms with two
 * million), a stall each second. malloc_trim costs as much, so one that gave back less
 * than a tenth of RSS doubles the wait before the next (1 s up to a minute). */
static void heap_trim(struct server *s, uint64_t now)
{
    if (now - s->trim_last_ms < 1000 || s->used_memory < (UINT64_C(128) << 20))
        return;
    s->trim_last_ms = now;
    if (now - s->trim_at_ms < s->trim_wait)
        return;
    struct ls_stats st;
    ls_get_stats(s->eng, &st);
    uint64_t expect =
        st.index_bytes + s->cfg.cache_size + s->client_mem.used + s->client_mem_closing.used;
    if (s->used_memory < 2 * expect + (UINT64_C(64) << 20))
        return;
    uint64_t before = s->used_memory;
    malloc_trim(0);
    s->trim_at_ms = now;
    s->stats.heap_trims++;
    s->used_memory = server_rss_bytes();
    if (s->used_memory > before - before / 10)
        s->trim_wait = s->trim_wait ? (s->trim_wait * 2 > 60000 ? 60000 : s->trim_wait * 2) : 1000;
    else
        s->trim_wait = 0;
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    uint64_t now = server_mono_ms();
    if (now - s->ops_last_ms >= 1000) {
        uint64_t cmds = s->stats.commands_processed + s->stats.mc_commands;
        s->ops_per_sec = (cmds - s->ops_last_cmds) * 1000 / (now - s->ops_last_ms);
        s->ops_last_cmds = cmds;
        s->ops_last_ms = now;
    }
    s->used_memory = server_rss_bytes(); /* maxmemory (server_oom) */
    heap_trim(s, now);
    net_sweep_idle(s);
    conn_sweep_held(s);
    park_expire(s, now);
    if (s->shutdown_asked && now - s->shutdown_start_ms > SERVER_SHUTDOWN_MS) {
        log_warning("shutdown: %llu requests still in flight after %d ms, forcing",
                    (unsigned long long)s->inflight, SERVER_SHUTDOWN_MS);
        event_base_loopbreak(s->base);
    }
    server_after_events(s);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    (void)what;
    if (sig == SIGHUP) {
        if (loading_active(s))
            s->log_reopen_pending = 1; /* the opening thread may be writing to the log */
        else
            log_reopen();
        return;
    }
    server_request_shutdown(s, sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_after_events(s);
}

static void write_pidfile(struct server *s)
{
    if (s->cfg.pidfile == NULL || s->cfg.pidfile[0] == '\0')
        return;
    FILE *f = fopen(s->cfg.pidfile, "w");
    if (f == NULL) {
        log_warning("cannot write pidfile %s: %s", s->cfg.pidfile, strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    s->pidfile_written = 1;
}

/* The engine's configuration, from logstord's. */
static void engine_config(struct server *s, struct ls_config *lc)
{
    ls_config_default(lc);
    lc->dir = s->cfg.dir;
    lc->disk_size = s->cfg.disk_size;
    lc->segment_size = (uint32_t)s->cfg.segment_size;
    lc->file_size = (uint32_t)s->cfg.file_size;
    lc->tables = large_engine_tables(s); /* the databases, then large lists' pages, anchors */
    lc->max_key_size = (uint32_t)s->cfg.max_key_size;
    lc->salvage = s->cfg.salvage;
    lc->rollback = s->cfg.rollback;
    /* The server bounds every value a client gives by max_value_size itself; the engine's
     * bound leaves a large collection's page room above it when it is set small (a hash
     * bucket holds 4 KiB or less on average, and an element at most max_value_size). */
    lc->max_value_size =
        (uint32_t)(s->cfg.max_value_size > LARGE_PAGE_RECORD_MAX ? s->cfg.max_value_size
                                                                 : LARGE_PAGE_RECORD_MAX);
    lc->durability = s->cfg.durability ? LS_PERIODIC : LS_SYNC;
    lc->flush_interval_ms = (uint32_t)s->cfg.flush_interval_ms;
    lc->checkpoint_interval_ms = (uint32_t)s->cfg.checkpoint_interval_ms;
    lc->checkpoint_bytes = s->cfg.checkpoint_bytes;
    if (s->cfg.write_buffer_size)
        lc->write_buffer_size = (uint32_t)s->cfg.write_buffer_size;
    lc->write_buffers = (uint32_t)s->cfg.write_buffers;
    lc->group_commit_us = (uint32_t)s->cfg.group_commit_us;
    lc->max_pending_bytes = s->cfg.max_pending_bytes;
    lc->queue_depth = (uint32_t)s->cfg.queue_depth;
    lc->cache_size = s->cfg.cache_size;
    lc->cache_writes = s->cfg.cache_writes;
    lc->scan_cache_size = s->cfg.scan_cache_size;
    lc->compact_low = (uint32_t)s->cfg.compact_low;
    lc->compact_high = (uint32_t)s->cfg.compact_high;
    lc->compact_policy = s->cfg.compact_policy ? LS_COMPACT_COST_BENEFIT : LS_COMPACT_GREEDY;
    lc->compaction_groups = (uint32_t)s->cfg.compaction_groups;
    lc->separator_memory = s->cfg.separator_memory;
    lc->log = engine_log; /* from the opening thread too: log.c writes each line at once */
    lc->expired = pubsub_engine_expired; /* "expired" keyspace events (never from ls_open) */
    lc->expired_arg = s;
    lc->caller_polls = 1;      /* server_after_events polls it at the end of every callback */
    lc->caller_ends_turns = 1; /* run_loop: ls_turn_end */
}

/* ls_open failed: the error start-up has always printed, and exit status 1. */
static void engine_failed(struct server *s, int rc)
{
    log_warning("cannot open the engine in %s: %s", s->cfg.dir, ls_strerror(rc));
    s->exit_status = 1;
}

/* ls_open returned and its result was handed over to the loop's thread (loading.c): watch
 * the engine's descriptor, start the tick, and say so; or stop after a failed open. */
static void engine_opened(struct server *s, int rc)
{
    struct timeval tick = {0, TICK_MS * 1000};
    if (s->log_reopen_pending) {
        s->log_reopen_pending = 0;
        log_reopen();
    }
    if (rc < 0) {
        engine_failed(s, rc);
        server_request_shutdown(s, "engine open failed");
        return;
    }
    if (large_layout_opened(s) < 0) {
        s->exit_status = 1;
        server_request_shutdown(s, "start-up failed");
        return;
    }
    log_notice("engine open in %s: %llu keys, recovered in %llu ms", s->cfg.dir,
               (unsigned long long)ls_count(s->eng, 0), (unsigned long long)s->recovery_ms);
    if (s->shutdown_asked)
        return; /* the loop is ending: teardown closes the engine */
    s->eng_ev = event_new(s->base, ls_fd(s->eng), EV_READ | EV_PERSIST, on_engine, s);
    if (s->eng_ev == NULL || event_add(s->eng_ev, NULL) < 0 || event_add(s->tick_ev, &tick) < 0) {
        log_warning("start-up failed: cannot watch the engine");
        s->exit_status = 1;
        server_request_shutdown(s, "start-up failed");
        return;
    }
    ls_hold_submissions(s->eng, 1); /* run_loop hands a turn's I/O over at once */
    s->sends = s->cfg.io_uring_sends;
    write_pidfile(s);
    log_notice("Ready to accept connections");
}

/* Hands the turn's I/O to the kernel. Replies sent through the ring (conn.c "Sending")
 * complete within the call: their callbacks run now (a socket that was full waits for
 * EV_WRITE, a connection closed meanwhile is freed), and what they queue goes out in a
 * further call, a few rounds at most before it is left to the eventfd. */
#define SUBMIT_QUIET_ROUNDS 3

static void submit_turn(struct server *s)
{
    for (int i = 0; s->eng; i++) {
        /* the last round wakes the eventfd for completions as usual: nothing is missed */
        int last = i == SUBMIT_QUIET_ROUNDS;
        int rc = last ? ls_submit(s->eng) : ls_submit_quiet(s->eng);
        s->sends_held = 0; /* submitted: conn_send counts its batch afresh */
        if (rc < 0) {
            log_warning("engine: submitting I/O failed (retried at the next turn)");
            if (!last)
                (void)ls_submit(s->eng); /* wakes ls_fd for what the quiet one left */
            return;
        }
        if (last || (rc == 0 && s->sends_queued == 0))
            return;
        s->sends_queued = 0;
        server_poll_engine(s, 1); /* no eventfd read: it was not woken for these */
        server_after_events(s);
    }
}

/* libevent's loop, one turn at a time: the engine is polled after each event (its reads
 * queued, not yet submitted), and the I/O of the whole turn goes to the kernel in one
 * io_uring_enter after it. One per read before: with 32 clients reading from the device,
 * a third of the server's time went to those calls and the device notifications they
 * caused. The turn's end is also where a sync group commit leaves (ls_turn_end), with
 * the writes of every client the turn served: it left at the next turn, which the engine
 * woke its eventfd for, an epoll_wait and two eventfd calls per commit more. */
static void run_loop(struct server *s)
{
    for (;;) {
        int rc = event_base_loop(s->base, EVLOOP_ONCE);
        if (s->eng) {
            ls_turn_end(s->eng);
            if (ls_wants_poll(s->eng))
                server_after_events(s); /* what the commit queued (a buffer to send) */
        }
        submit_turn(s);
        if (rc != 0 || event_base_got_break(s->base) || event_base_got_exit(s->base))
            return;
    }
}

static int setup_loop(struct server *s)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct timeval cron = {0, CRON_MS * 1000};
    s->base = event_base_new();
    if (s->base == NULL)
        return -1;
    s->tick_ev = event_new(s->base, -1, EV_PERSIST, on_tick, s); /* added with the engine */
    s->used_memory = server_rss_bytes();
    s->cron_ev = event_new(s->base, -1, EV_PERSIST, on_cron, s);
    if (!s->tick_ev || !s->cron_ev || event_add(s->cron_ev, &cron) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        s->sig_ev[i] = evsignal_new(s->base, sigs[i], on_signal, s);
        if (s->sig_ev[i] == NULL || event_add(s->sig_ev[i], NULL) < 0)
            return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void teardown(struct server *s)
{
    s->sends = 0; /* write(2) from here: sends still in the ring complete in ls_close */
    /* Send what can still be sent, then drop every connection. */
    for (struct conn *c = s->conns; c; c = c->next)
        conn_flush(c);
    park_fail_all(s, LS_ECLOSING); /* writes still waiting for space are not submitted */
    ls_close(s->eng); /* completes engine operations still in flight, flushes buffers */
    s->eng = NULL;
    loading_free(s); /* the opening thread ends once the engine is closed */
    for (struct conn *c = s->conns; c; c = c->next)
        conn_flush(c);
    while (s->conns)
        conn_close(s->conns, "server shutdown");
    server_after_events(s);
    pubsub_free(s); /* after the last connection closed, before the loop is freed */
    monitor_free(s);
    pause_free(s);
    block_free(s);
    tracking_free(s);
    net_close(s);
    for (size_t i = 0; i < sizeof(s->sig_ev) / sizeof(s->sig_ev[0]); i++)
        if (s->sig_ev[i])
            event_free(s->sig_ev[i]);
    if (s->eng_ev)
        event_free(s->eng_ev);
    event_free(s->tick_ev);
    event_free(s->cron_ev);
    event_base_free(s->base);
    lockset_free(s->locks);
    reaper_free(s); /* after ls_close: its callbacks ran by then */
    free(s->large_writing);
    free(s->large_writing_owner);
    txn_server_free(s);
    script_server_free(s);
    conn_pool_free(s);
    mcs_free(s);
    /* A failed open (say, of a directory another instance has locked) wrote no pidfile:
     * the file there may be that instance's. */
    if (s->pidfile_written)
        unlink(s->cfg.pidfile);
}

int main(int argc, char **argv)
{
    static struct server srv; /* static only to keep a large struct off the stack */
    struct server *s = &srv;
    struct args a = {0};
    if (config_defaults(&s->cfg) < 0)
        return 1;
    int rc = parse_args(s, argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 1 : 0;
    s->config_file = a.config_file;
    s->executable = argv[0];
    if (a.check_only) {
        printf("configuration OK%s%s\n", a.config_file ? ": " : "",
               a.config_file ? a.config_file : "");
        return 0;
    }
    if (log_open(s->cfg.logfile, s->cfg.loglevel) < 0) {
        fprintf(stderr, "logstord: cannot open log file %s: %s\n", s->cfg.logfile, strerror(errno));
        return 1;
    }
    log_config(s);
    s->start_ms = server_unix_ms();
    s->start_mono_ms = server_mono_ms();
    s->ops_last_ms = s->start_mono_ms;
    s->locks = lockset_new((uint32_t)s->cfg.databases);
    if (s->locks == NULL || cmd_init() < 0 || pubsub_init(s) < 0 || reaper_new(s) < 0)
        return 1;
    if (net_size_maxclients(s) < 0)
        return 1;
    struct ls_config lc;
    engine_config(s, &lc);
    if (large_layout_check(s) < 0)
        return 1;
    /* Listen first, then open the engine on its own thread: clients connect at once and
     * get -LOADING (SERVER_ERROR loading) until the engine is handed over (loading.c). */
    if (setup_loop(s) < 0 || net_listen(s) < 0 || loading_start(s, &lc, engine_opened) < 0) {
        log_warning("start-up failed");
        return 1;
    }
    run_loop(s);
    if (loading_active(s)) { /* a shutdown during loading: ls_open cannot be interrupted */
        for (struct conn *c = s->conns; c; c = c->next)
            conn_flush(c); /* no client waits for the recovery: none touched the engine */
        while (s->conns)
            conn_close(s->conns, "server shutdown");
        server_after_events(s);
        /* SIGTERM and SIGINT get their default action back: a second one ends the process
         * at once, which leaves the directory as a crash would (recovery is crash-safe). */
        event_del(s->sig_ev[0]);
        event_del(s->sig_ev[1]);
        log_notice("waiting for the engine's recovery to end before closing it (a second "
                   "SIGTERM or SIGINT stops at once)");
        int orc = loading_wait(s);
        if (s->log_reopen_pending)
            log_reopen(); /* a SIGHUP while loading */
        if (orc < 0)
            engine_failed(s, orc);
    }
    log_notice("closing the engine (flushing write buffers)");
    teardown(s);
    log_notice("logstord is now ready to exit, bye bye...");
    config_free(&s->cfg);
    log_close();
    return s->exit_status;
}
