/*
 * cmd_slowlog.c - SLOWLOG and LATENCY, as Redis 7.0 answers them.
 *
 * What is timed: a command's run on the event loop (from its dispatch until its handler
 * returns: parsing its arguments, taking its locks, building its reply or submitting its
 * engine call), in microseconds, the span Redis times as well. A wait for locks or for the
 * disk is not part of it (Redis has none: it answers from memory); EXEC and scripts count
 * as one command each, their inner commands not.
 *
 * SLOWLOG keeps, newest first, the commands that ran at least slowlog-log-slower-than us
 * (-1: none), at most slowlog-max-len of them; each entry holds at most 32 arguments of at
 * most 128 bytes (longer ones are cut and say how much was cut), as Redis keeps them, so
 * an entry is bounded (about 5 KiB) and the log by slowlog-max-len entries. Passwords
 * (AUTH, HELLO ... AUTH, CONFIG SET requirepass) are logged as "(redacted)".
 *
 * LATENCY keeps, per event ("command", "fast-command"), the last 160 seconds that had a
 * sample at or above latency-monitor-threshold ms (the worst of each second) and the worst
 * ever; LATENCY HISTOGRAM counts every command's run times in power-of-two buckets (from
 * 1 us: 1, 2, 4, ... the upper bounds Redis's HDR histogram reports) while
 * latency-tracking is yes. All of it is process-wide and touched by the main thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd.h"
#include "logstor.h"
#include "pbuf.h"
#include "rconfig.h"
#include "reply.h"

#define SLOWLOG_ARGC_MAX 32
#define SLOWLOG_ARG_MAX  128
#define LATENCY_TS_LEN   160
#define LATENCY_EVENTS   2
#define HIST_BUCKETS     41 /* 1024 ns << 40 is beyond any run */

struct slow_entry {
    struct slow_entry *newer, *older;
    uint64_t id;
    int64_t time_s;
    uint64_t duration_us;
    uint32_t argc;
    char **argv; /* argc strings, each with its length in argl */
    size_t *argl;
    char *peer, *name;
};

static struct {
    struct slow_entry *newest, *oldest;
    uint64_t len;
    uint64_t next_id;
} slowlog;

struct latency_series {
    struct {
        int64_t time_s; /* 0: unused */
        uint64_t ms;
    } samples[LATENCY_TS_LEN];
    unsigned idx; /* next slot to write */
    uint64_t max_ms;
    int used;
};

static const char *const latency_event_names[LATENCY_EVENTS] = {"command", "fast-command"};
static struct latency_series latency_events[LATENCY_EVENTS];

struct cmd_hist {
    uint64_t calls;
    uint64_t bucket[HIST_BUCKETS];
    struct ls_lat_hist *fine; /* INFO latencystats' percentiles; allocated by its first run */
};
static struct cmd_hist *hists; /* one per row of the command table, allocated on first use */

/* Subcommands' histograms (config|get ...), found by their full name: a container's runs
 * count under the subcommand that ran, as in Redis. Bounded by the subcommand tables. */
#define SUB_HISTS_MAX 128
static struct {
    const char *full; /* the static name from a subcommand table (c->last_cmd) */
    struct cmd_hist h;
} sub_hists[SUB_HISTS_MAX];
static size_t nsub_hists;

static void slow_free(struct slow_entry *e)
{
    for (uint32_t i = 0; i < e->argc; i++)
        free(e->argv[i]);
    free(e->argv);
    free(e->argl);
    free(e->peer);
    free(e->name);
    free(e);
}

/* Drops the oldest entries past slowlog-max-len. */
static void slow_trim(uint64_t max)
{
    while (slowlog.len > max) {
        struct slow_entry *e = slowlog.oldest;
        slowlog.oldest = e->newer;
        if (slowlog.oldest)
            slowlog.oldest->older = NULL;
        else
            slowlog.newest = NULL;
        slowlog.len--;
        slow_free(e);
    }
}

/* Whether argument i of a command is a secret Redis logs as "(redacted)". */
static int slow_redacted(const struct cmd_def *d, const struct resp_arg *argv, uint32_t i)
{
    if (strcmp(d->name, "auth") == 0)
        return i >= 1;
    if (strcmp(d->name, "hello") == 0)
        return i >= 3 && cmd_arg_is(&argv[i - 2], "auth");
    if (strcmp(d->name, "config") == 0 && i == 3 && cmd_arg_is(&argv[1], "set"))
        return 0;
    if (strcmp(d->name, "config") == 0 && i >= 3 && i % 2 == 1 && cmd_arg_is(&argv[1], "set"))
        return cmd_arg_is(&argv[i - 1], "requirepass") || cmd_arg_is(&argv[i - 1], "masterauth");
    return 0;
}

/* Copies argument i as the log keeps it: cut at SLOWLOG_ARG_MAX bytes. */
static char *slow_arg(const struct cmd_def *d, const struct resp_arg *argv, uint32_t i, size_t *len)
{
    char tail[64] = "";
    const char *p = argv[i].ptr;
    size_t n = argv[i].len;
    if (slow_redacted(d, argv, i)) {
        p = "(redacted)";
        n = strlen(p);
    } else if (n > SLOWLOG_ARG_MAX) {
        snprintf(tail, sizeof(tail), "... (%zu more bytes)", n - SLOWLOG_ARG_MAX);
        n = SLOWLOG_ARG_MAX;
    }
    size_t t = strlen(tail);
    char *s = malloc(n + t + 1);
    if (s) {
        memcpy(s, p, n);
        memcpy(s + n, tail, t + 1);
        *len = n + t;
    }
    return s;
}

static struct slow_entry *slow_entry_new(const struct conn *c, const struct cmd_def *d,
                                         const struct resp_arg *argv, uint32_t argc)
{
    uint32_t keep = argc > SLOWLOG_ARGC_MAX ? SLOWLOG_ARGC_MAX : argc;
    struct slow_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || !(e->argv = calloc(keep, sizeof(*e->argv))) ||
        !(e->argl = calloc(keep, sizeof(*e->argl))) || !(e->peer = strdup(c->addr)) ||
        !(e->name = strdup(c->name ? c->name : "")))
        goto fail;
    for (e->argc = 0; e->argc < keep; e->argc++) {
        uint32_t i = e->argc;
        char more[64];
        if (keep < argc && i == keep - 1) {
            snprintf(more, sizeof(more), "... (%u more arguments)", argc - keep + 1);
            e->argv[i] = strdup(more);
            e->argl[i] = strlen(more);
        } else {
            e->argv[i] = slow_arg(d, argv, i, &e->argl[i]);
        }
        if (e->argv[i] == NULL)
            goto fail;
    }
    return e;
fail:
    if (e)
        slow_free(e);
    return NULL;
}

static void slow_push(const struct conn *c, const struct cmd_def *d, const struct resp_arg *argv,
                      uint32_t argc, uint64_t us)
{
    const struct rconfig_live *lv = rconfig_live();
    if (lv->slowlog_slower_than_us < 0 || us < (uint64_t)lv->slowlog_slower_than_us ||
        strcmp(d->name, "exec") == 0) /* Redis: EXEC is not logged */
        return;
    struct slow_entry *e = slow_entry_new(c, d, argv, argc);
    if (e == NULL)
        return; /* out of memory: the entry is not kept, the command is unaffected */
    e->id = slowlog.next_id++;
    e->time_s = (int64_t)time(NULL);
    e->duration_us = us;
    e->older = slowlog.newest;
    if (slowlog.newest)
        slowlog.newest->newer = e;
    else
        slowlog.oldest = e;
    slowlog.newest = e;
    slowlog.len++;
    slow_trim(lv->slowlog_max_len);
}

static void latency_add(unsigned ev, uint64_t ms)
{
    struct latency_series *ts = &latency_events[ev];
    int64_t now = (int64_t)time(NULL);
    unsigned prev = (ts->idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
    ts->used = 1;
    if (ms > ts->max_ms)
        ts->max_ms = ms;
    if (ts->samples[prev].time_s == now) { /* one sample per second: its worst */
        if (ms > ts->samples[prev].ms)
            ts->samples[prev].ms = ms;
        return;
    }
    ts->samples[ts->idx].time_s = now;
    ts->samples[ts->idx].ms = ms;
    ts->idx = (ts->idx + 1) % LATENCY_TS_LEN;
}

/* The histogram of the subcommand named full, created on first use (NULL when full). */
static struct cmd_hist *sub_hist(const char *full)
{
    for (size_t i = 0; i < nsub_hists; i++)
        if (sub_hists[i].full == full || strcmp(sub_hists[i].full, full) == 0)
            return &sub_hists[i].h;
    if (nsub_hists == SUB_HISTS_MAX)
        return NULL;
    sub_hists[nsub_hists].full = full;
    return &sub_hists[nsub_hists++].h;
}

static void hist_add(const struct conn *c, const struct cmd_def *d, uint64_t us)
{
    size_t n, len;
    const struct cmd_def *t = cmd_table(&n);
    const char *last = c->last_cmd;
    struct cmd_hist *h;
    if (last && last != d->name && strncmp(last, d->name, len = strlen(d->name)) == 0 &&
        last[len] == '|')
        h = sub_hist(last);
    else if (hists != NULL || (hists = calloc(n, sizeof(*hists))) != NULL)
        h = &hists[d - t];
    else
        return;
    if (h == NULL)
        return;
    uint64_t ns = us * 1000, k = ns < 1024 ? 0 : (uint64_t)(64 - __builtin_clzll(ns >> 10));
    h->calls++;
    h->bucket[k < HIST_BUCKETS ? k : HIST_BUCKETS - 1]++;
    if (h->fine || (h->fine = calloc(1, sizeof(*h->fine))) != NULL)
        ls_lat_add(h->fine, us);
}

void cmd_slowlog_note(const struct conn *c, const struct cmd_def *d, const struct resp_arg *argv,
                      uint32_t argc, uint64_t us)
{
    const struct rconfig_live *lv = rconfig_live();
    if (lv->slowlog_slower_than_us < 0 && lv->latency_threshold_ms == 0 && !lv->latency_tracking)
        return;
    slow_push(c, d, argv, argc, us);
    if (lv->latency_threshold_ms && us / 1000 >= lv->latency_threshold_ms)
        latency_add((d->flags & CMD_FAST) ? 1 : 0, us / 1000);
    if (lv->latency_tracking)
        hist_add(c, d, us);
}

void cmd_slowlog_reset_stats(void)
{
    size_t n;
    cmd_table(&n);
    for (size_t i = 0; hists && i < n; i++)
        free(hists[i].fine);
    if (hists)
        memset(hists, 0, n * sizeof(*hists));
    for (size_t j = 0; j < nsub_hists; j++)
        free(sub_hists[j].h.fine);
    memset(sub_hists, 0, sizeof(sub_hists));
    nsub_hists = 0;
}

/* One command's line of INFO latencystats, as Redis 7.0 prints it (each percentile's name
 * as CONFIG GET shows it: p50, p99.9, p0; the value in us, 3 decimals). Ours come from
 * ls_lat_hist: the upper bound of a bucket at most 25% wide, from the us the dispatcher
 * measured. */
static void latencystats_line(struct pbuf *pb, const char *name, const struct cmd_hist *h,
                              const char *pctl)
{
    if (h->calls == 0 || h->fine == NULL)
        return;
    pbuf_appendf(pb, "latency_percentiles_usec_%s:", name);
    const char *p = pctl;
    for (int first = 1;; first = 0) {
        p += strspn(p, " ");
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        double pct = strtod(p, NULL);
        pbuf_appendf(pb, "%sp%.*s=%.3f", first ? "" : ",", (int)len, p,
                     (double)ls_lat_percentile(h->fine, pct > 0 ? pct : 0.000001));
        p += len;
    }
    pbuf_appendf(pb, "\r\n");
}

void cmd_slowlog_latencystats(struct pbuf *pb, const char *pctl)
{
    size_t n;
    const struct cmd_def *t = cmd_table(&n);
    pbuf_appendf(pb, "# Latencystats\r\n");
    if (!rconfig_live()->latency_tracking)
        return;
    for (size_t i = 0; hists && i < n; i++)
        latencystats_line(pb, t[i].name, &hists[i], pctl);
    for (size_t j = 0; j < nsub_hists; j++)
        latencystats_line(pb, sub_hists[j].full, &sub_hists[j].h, pctl);
}

/* ---- SLOWLOG ---- */

static void help_reply(struct req *r, const char *container, const char *const *lines, size_t n)
{
    char first[128];
    snprintf(first, sizeof(first),
             "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", container);
    reply_array(r, n + 3);
    reply_simple(r, first);
    for (size_t i = 0; i < n; i++)
        reply_simple(r, lines[i]);
    reply_simple(r, "HELP");
    reply_simple(r, "    Prints this help.");
}

static void slowlog_get(struct req *r)
{
    long long count = 10;
    if (r->argc > 3) {
        reply_errorf(r,
                     "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try "
                     "SLOWLOG HELP.",
                     r->argv[1].ptr);
        return;
    }
    if (r->argc == 3) {
        if (cmd_arg_ll(&r->argv[2], &count) < 0 || count < -1) {
            reply_error(r, "ERR count should be greater than or equal to -1");
            return;
        }
    }
    uint64_t n = count == -1 || (uint64_t)count > slowlog.len ? slowlog.len : (uint64_t)count;
    reply_array(r, n);
    struct slow_entry *e = slowlog.newest;
    for (uint64_t i = 0; i < n; i++, e = e->older) {
        reply_array(r, 6);
        reply_int(r, (int64_t)e->id);
        reply_int(r, e->time_s);
        reply_int(r, (int64_t)e->duration_us);
        reply_array(r, e->argc);
        for (uint32_t a = 0; a < e->argc; a++)
            reply_bulk(r, e->argv[a], e->argl[a]);
        reply_cstr(r, e->peer);
        reply_cstr(r, e->name);
    }
}

static void slowlog_help(struct req *r)
{
    static const char *const help[] = {
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog."};
    help_reply(r, "SLOWLOG", help, sizeof(help) / sizeof(help[0]));
}

static void slowlog_len(struct req *r)
{
    reply_int(r, (int64_t)slowlog.len);
}

static void slowlog_reset(struct req *r)
{
    slow_trim(0);
    reply_ok(r);
}

const struct subcmd cmd_slowlog_subs[] = {
    {"get", "slowlog|get", -2, slowlog_get},
    {"len", "slowlog|len", 2, slowlog_len},
    {"reset", "slowlog|reset", 2, slowlog_reset},
    {"help", "slowlog|help", 2, slowlog_help},
};
const size_t cmd_slowlog_nsubs = sizeof(cmd_slowlog_subs) / sizeof(cmd_slowlog_subs[0]);

void cmd_slowlog_slowlog(struct req *r)
{
    cmd_server_subcmd_run(r, cmd_slowlog_subs, cmd_slowlog_nsubs, "SLOWLOG");
}

/* ---- LATENCY ---- */

static int latency_event(const struct resp_arg *a)
{
    for (int i = 0; i < LATENCY_EVENTS; i++)
        if (a->len == strlen(latency_event_names[i]) &&
            memcmp(a->ptr, latency_event_names[i], a->len) == 0)
            return latency_events[i].used ? i : -1;
    return -1;
}

static void latency_latest(struct req *r)
{
    size_t n = 0;
    for (int i = 0; i < LATENCY_EVENTS; i++)
        n += (size_t)latency_events[i].used;
    reply_array(r, n);
    for (int i = 0; i < LATENCY_EVENTS; i++) {
        const struct latency_series *ts = &latency_events[i];
        unsigned last = (ts->idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
        if (!ts->used)
            continue;
        reply_array(r, 4);
        reply_cstr(r, latency_event_names[i]);
        reply_int(r, ts->samples[last].time_s);
        reply_int(r, (int64_t)ts->samples[last].ms);
        reply_int(r, (int64_t)ts->max_ms);
    }
}

static void latency_history(struct req *r)
{
    int ev = latency_event(&r->argv[2]);
    size_t n = 0;
    if (ev < 0) {
        reply_array(r, 0);
        return;
    }
    const struct latency_series *ts = &latency_events[ev];
    for (unsigned j = 0; j < LATENCY_TS_LEN; j++)
        n += ts->samples[j].time_s != 0;
    reply_array(r, n);
    for (unsigned j = 0; j < LATENCY_TS_LEN; j++) {
        unsigned i = (ts->idx + j) % LATENCY_TS_LEN;
        if (ts->samples[i].time_s == 0)
            continue;
        reply_array(r, 2);
        reply_int(r, ts->samples[i].time_s);
        reply_int(r, (int64_t)ts->samples[i].ms);
    }
}

static int latency_reset_event(int i)
{
    if (!latency_events[i].used)
        return 0;
    memset(&latency_events[i], 0, sizeof(latency_events[i]));
    return 1;
}

static void latency_reset(struct req *r)
{
    int64_t n = 0;
    if (r->argc == 2) {
        for (int i = 0; i < LATENCY_EVENTS; i++)
            n += latency_reset_event(i);
    } else {
        for (uint32_t a = 2; a < r->argc; a++) {
            int ev = latency_event(&r->argv[a]);
            n += ev >= 0 ? latency_reset_event(ev) : 0;
        }
    }
    reply_int(r, n);
}

/* Redis's statistics of one event's samples: count, average, mean absolute deviation and
 * the seconds since the oldest. */
struct latency_stats {
    uint64_t samples, avg, mad;
    int64_t period;
};

static struct latency_stats latency_analyze(const struct latency_series *ts)
{
    struct latency_stats ls = {0};
    uint64_t sum = 0;
    int64_t oldest = 0;
    for (unsigned j = 0; j < LATENCY_TS_LEN; j++) {
        if (ts->samples[j].time_s == 0)
            continue;
        ls.samples++;
        sum += ts->samples[j].ms;
        if (oldest == 0 || ts->samples[j].time_s < oldest)
            oldest = ts->samples[j].time_s;
    }
    if (ls.samples == 0)
        return ls;
    ls.avg = sum / ls.samples;
    ls.period = (int64_t)time(NULL) - oldest;
    ls.period = ls.period ? ls.period : 1;
    sum = 0;
    for (unsigned j = 0; j < LATENCY_TS_LEN; j++)
        if (ts->samples[j].time_s)
            sum += ts->samples[j].ms > ls.avg ? ts->samples[j].ms - ls.avg
                                              : ls.avg - ts->samples[j].ms;
    ls.mad = sum / ls.samples;
    return ls;
}

/* The advice LATENCY DOCTOR gives after its event lines (logstord's own words). */
static void latency_advice(struct pbuf *pb, int cmd_event, int fast_event)
{
    const struct rconfig_live *lv = rconfig_live();
    unsigned long long want = (unsigned long long)lv->latency_threshold_ms * 1000;
    pbuf_appendf(pb, "\nWhat to look at:\n\n");
    if (cmd_event && lv->slowlog_slower_than_us < 0)
        pbuf_appendf(pb,
                     "- The slow log is off, so the slow commands behind these spikes are not "
                     "recorded: 'CONFIG SET slowlog-log-slower-than %llu' records those over the "
                     "latency threshold.\n",
                     want);
    else if (cmd_event && (uint64_t)lv->slowlog_slower_than_us / 1000 > lv->latency_threshold_ms)
        pbuf_appendf(pb,
                     "- The slow log records only commands slower than the latency threshold: "
                     "'CONFIG SET slowlog-log-slower-than %llu' lowers it to match.\n",
                     want);
    if (cmd_event)
        pbuf_appendf(pb, "- SLOWLOG GET lists the commands that took longest on the event loop "
                         "and their arguments. In logstord a command's loop time excludes its "
                         "wait for the disk; long ones are usually large values, KEYS, or "
                         "scripts.\n");
    if (fast_event)
        pbuf_appendf(pb, "- Fast commands were slow: the process did not get the CPU (a loaded "
                         "machine, a noisy neighbour, swapping). Check the load, and the "
                         "machine's own latency with 'redis-cli --intrinsic-latency 100'.\n");
}

static void latency_doctor(struct req *r)
{
    struct pbuf pb;
    int used[LATENCY_EVENTS], events = 0;
    pbuf_init(&pb, 0);
    for (int i = 0; i < LATENCY_EVENTS; i++)
        events += used[i] = latency_events[i].used;
    if (events == 0 && rconfig_live()->latency_threshold_ms == 0) {
        pbuf_appendf(&pb, "Latency monitoring is off: nothing was recorded. 'CONFIG SET "
                          "latency-monitor-threshold <milliseconds>' turns it on.\n");
    } else if (events == 0) {
        pbuf_appendf(&pb, "No latency spike over the threshold has been recorded since this "
                          "logstord started.\n");
    } else {
        pbuf_appendf(&pb, "Latency spikes recorded since this logstord started:\n\n");
        for (int i = 0, num = 0; i < LATENCY_EVENTS; i++) {
            if (!used[i])
                continue;
            struct latency_stats ls = latency_analyze(&latency_events[i]);
            pbuf_appendf(&pb,
                         "%d. %s: %" PRIu64 " spikes, average %" PRIu64
                         " ms, mean deviation %" PRIu64 " ms, one every %.2f s; the worst %" PRIu64
                         " ms.\n",
                         ++num, latency_event_names[i], ls.samples, ls.avg, ls.mad,
                         ls.samples ? (double)ls.period / (double)ls.samples : 0.0,
                         latency_events[i].max_ms);
        }
        latency_advice(&pb, used[0], used[1]);
    }
    reply_verbatim(r, pb.data ? pb.data : "", pb.len);
    pbuf_free(&pb);
}

/* LATENCY GRAPH's sparkline: for each chunk of up to 80 samples, 4 rows of "_o#" steps
 * filled with '|' below the top, a blank row, then each sample's age label written
 * downwards ("12s", "3m" ...), as Redis draws it. */
#define GRAPH_COLS 80
#define GRAPH_ROWS 4

struct graph_seq {
    uint64_t v[LATENCY_TS_LEN];
    char label[LATENCY_TS_LEN][24];
    unsigned n;
    uint64_t min, max;
};

static void graph_chunk(struct pbuf *pb, const struct graph_seq *s, unsigned off, unsigned len)
{
    static const char fill[] = "_o#";
    double relmax = s->max - s->min ? (double)(s->max - s->min) : 1.0;
    char row[GRAPH_COLS + 2];
    for (int r = 0; r < GRAPH_ROWS; r++) {
        for (unsigned j = 0; j < len; j++) {
            int step = (int)((double)(s->v[off + j] - s->min) * 3 * GRAPH_ROWS / relmax);
            step = step < 0 ? 0 : step >= 3 * GRAPH_ROWS ? 3 * GRAPH_ROWS - 1 : step;
            int ci = step - (GRAPH_ROWS - r - 1) * 3;
            row[j] = ci >= 0 && ci < 3 ? fill[ci] : ci >= 3 ? '|' : ' ';
        }
        pbuf_appendf(pb, "%.*s\n", (int)len, row);
    }
    pbuf_appendf(pb, "%*s\n", (int)len, "");
    for (size_t ch = 0;; ch++) {
        int any = 0;
        for (unsigned j = 0; j < len; j++) {
            const char *l = s->label[off + j];
            any |= strlen(l) > ch;
            row[j] = strlen(l) > ch ? l[ch] : ' ';
        }
        if (!any)
            break;
        pbuf_appendf(pb, "%.*s\n", (int)len, row);
    }
}

static void latency_graph(struct req *r)
{
    int ev = latency_event(&r->argv[2]);
    if (ev < 0) {
        reply_errorf(r, "ERR No samples available for event '%.128s'", r->argv[2].ptr);
        return;
    }
    const struct latency_series *ts = &latency_events[ev];
    struct graph_seq *s = calloc(1, sizeof(*s));
    struct pbuf pb;
    if (s == NULL) {
        reply_error(r, "ERR out of memory");
        return;
    }
    int64_t now = (int64_t)time(NULL);
    for (unsigned j = 0; j < LATENCY_TS_LEN; j++) {
        unsigned i = (ts->idx + j) % LATENCY_TS_LEN;
        if (ts->samples[i].time_s == 0)
            continue;
        uint64_t v = ts->samples[i].ms;
        int64_t age = now - ts->samples[i].time_s;
        s->min = s->n == 0 || v < s->min ? v : s->min;
        s->max = s->n == 0 || v > s->max ? v : s->max;
        snprintf(s->label[s->n], sizeof(s->label[0]), "%" PRId64 "%s",
                 age < 60      ? age
                 : age < 3600  ? age / 60
                 : age < 86400 ? age / 3600
                               : age / 86400,
                 age < 60      ? "s"
                 : age < 3600  ? "m"
                 : age < 86400 ? "h"
                               : "d");
        s->v[s->n++] = v;
    }
    pbuf_init(&pb, 0);
    pbuf_appendf(
        &pb, "%s - high %" PRIu64 " ms, low %" PRIu64 " ms (all time high %" PRIu64 " ms)\n%.80s\n",
        latency_event_names[ev], s->max, s->min, ts->max_ms,
        "----------------------------------------"
        "----------------------------------------");
    for (unsigned j = 0; j < s->n; j += GRAPH_COLS) {
        if (j)
            pbuf_appendf(&pb, "\n");
        graph_chunk(&pb, s, j, s->n - j < GRAPH_COLS ? s->n - j : GRAPH_COLS);
    }
    reply_verbatim(r, pb.data ? pb.data : "", pb.len);
    pbuf_free(&pb);
    free(s);
}

/* One command's histogram as Redis's map: calls, then histogram_usec mapping each
 * non-empty bucket's upper bound in us to the count of runs up to it (cumulative). */
static void hist_reply(struct req *r, const char *name, const struct cmd_hist *h)
{
    size_t buckets = 0;
    for (int k = 0; k < HIST_BUCKETS; k++)
        buckets += h->bucket[k] != 0;
    reply_cstr(r, name);
    reply_map(r, 2);
    reply_cstr(r, "calls");
    reply_int(r, (int64_t)h->calls);
    reply_cstr(r, "histogram_usec");
    reply_map(r, buckets);
    uint64_t cum = 0;
    for (int k = 0; k < HIST_BUCKETS; k++) {
        if (h->bucket[k] == 0)
            continue;
        cum += h->bucket[k];
        reply_int(r, (int64_t)(((UINT64_C(1024) << k) - 1) / 1000));
        reply_int(r, (int64_t)cum);
    }
}

/* Marks what LATENCY HISTOGRAM's arguments ask for (all when there are none): top[i] for
 * the command table's row i, sub[j] for sub_hists[j], asked by its full name or by its
 * container's. One table lookup per argument, plus a pass over the (bounded) subcommand
 * histograms for an argument that names a container or a subcommand. */
static void hist_mark(const struct req *r, unsigned char *top, unsigned char *sub, size_t n)
{
    const struct cmd_def *t = cmd_table(&n);
    for (uint32_t a = 2; a < r->argc; a++) {
        const struct resp_arg *x = &r->argv[a];
        size_t bar = strcspn(x->ptr, "|");
        const struct cmd_def *d = cmd_find(x->ptr, bar);
        if (d == NULL)
            continue;
        if (bar == x->len)
            top[d - t] = 1;
        for (size_t j = 0; j < nsub_hists; j++) {
            const char *full = sub_hists[j].full;
            if (bar == x->len ? strncasecmp(full, x->ptr, bar) == 0 && full[bar] == '|'
                              : strlen(full) == x->len && strncasecmp(full, x->ptr, x->len) == 0)
                sub[j] = 1;
        }
    }
}

/* The histograms of the commands asked for that ran at least once; a name that is no
 * command is skipped, as in Redis. */
static void latency_histogram(struct req *r)
{
    size_t n, count = 0;
    const struct cmd_def *t = cmd_table(&n);
    unsigned char sub[SUB_HISTS_MAX], *top = malloc(n ? n : 1);
    if (top == NULL) {
        reply_error(r, "ERR out of memory");
        return;
    }
    memset(top, r->argc == 2, n);
    memset(sub, r->argc == 2, sizeof(sub));
    if (r->argc > 2)
        hist_mark(r, top, sub, n);
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            reply_map(r, count);
        for (size_t i = 0; hists && i < n; i++) {
            if (!top[i] || hists[i].calls == 0)
                continue;
            if (pass)
                hist_reply(r, t[i].name, &hists[i]);
            else
                count++;
        }
        for (size_t j = 0; j < nsub_hists; j++) {
            if (!sub[j] || sub_hists[j].h.calls == 0)
                continue;
            if (pass)
                hist_reply(r, sub_hists[j].full, &sub_hists[j].h);
            else
                count++;
        }
    }
    free(top);
}

static void latency_help(struct req *r)
{
    static const char *const help[] = {
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for "
        "the specified command names.",
        "    If no commands are specified then all histograms are replied."};
    help_reply(r, "LATENCY", help, sizeof(help) / sizeof(help[0]));
}

const struct subcmd cmd_latency_subs[] = {
    {"doctor", "latency|doctor", 2, latency_doctor},
    {"graph", "latency|graph", 3, latency_graph},
    {"history", "latency|history", 3, latency_history},
    {"latest", "latency|latest", 2, latency_latest},
    {"reset", "latency|reset", -2, latency_reset},
    {"histogram", "latency|histogram", -2, latency_histogram},
    {"help", "latency|help", 2, latency_help},
};
const size_t cmd_latency_nsubs = sizeof(cmd_latency_subs) / sizeof(cmd_latency_subs[0]);

void cmd_slowlog_latency(struct req *r)
{
    cmd_server_subcmd_run(r, cmd_latency_subs, cmd_latency_nsubs, "LATENCY");
}
