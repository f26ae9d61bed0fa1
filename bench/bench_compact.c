/*
 * bench_compact.c - write amplification and write throughput under compaction (issue 4).
 *
 *   bench_compact [-s disk_mib] [-v value_bytes] [-q inflight] [-d periodic|sync]
 *                 [-w warmup_x] [-m measure_x] [-u pct] [-l uniform|skewed]
 *                 [-p greedy|cost-benefit] [-D parent_dir] [-S seed]
 *                 [-T seconds [-o csv] [-i interval_ms]] [-L low] [-H high] [-g groups]
 *
 * -L, -H and -g set ls_config.compact_low, compact_high (free-segment watermarks) and
 * compaction_groups; by default the engine picks them.
 *
 * Table mode (default): for every cell (load x policy x utilization u of 50, 70, 80, 90 %;
 * -l, -p and -u pick one value each) opens a fresh engine in a new directory under
 * parent_dir (default /tmp: ext4 here, so O_DIRECT works; tmpfs refuses it) with a disk of
 * disk_mib (default 1024), loads keys = u * disk_size / rec once, where rec is the on-disk
 * record size (40-byte header + 16-byte key + value, rounded up to 8: engine/rec.h), then
 * overwrites for warmup_x * disk_size user bytes (default 2) and measures over the next
 * measure_x * disk_size bytes (default 4): WA = delta device_bytes_written / delta
 * user_bytes_written (ls_get_stats), so loading and warm-up do not count. The write
 * backlog is drained before each snapshot (see drain()). Loads: uniform random
 * overwrites; skewed: 90 % of the writes go to the first 10 % of the keys (their tokens
 * are hashes, so the hot keys are spread over every token range and group). Prints one
 * row per cell with the greedy-cleaning model and the target; the other columns
 * are the phase's user, device, separator and compaction MB, the mean device write (KiB),
 * puts/s, puts refused LS_EBUSY and the ms spent waiting for them, the cell's time, vic_u
 * (bytes copied / bytes of the segments compacted: under greedy cleaning WA is about
 * 1/(1-vic_u) when every victim is freed) and the mean number of free segments (the
 * pool compaction keeps is space the data cannot use: it raises the real utilization).
 * BENCH_DEBUG=1 also prints segments compacted and freed, rounds and records copied.
 *
 * Disk size: 1 GiB by default. The engine keeps a pool of 16 free segments (compact_low)
 * plus one open segment per stream, about 26 segments of 128 KiB that data cannot use
 * whatever the disk size: 1.3 % of a 256 MiB disk, enough to raise uniform 90 % greedy
 * from 5.26 (1 GiB) to 5.67 (256 MiB), 0.3 % of 1 GiB, 0.16 % of 2 GiB (5.21). Real
 * disks are larger still; -s 256 runs the table in a quarter of the time.
 *
 * Value size: 1 KiB by default. WA depends on utilization, not on record size, and with
 * 100-byte values the bench is CPU-bound (about 0.55 M puts/s, 90 MB/s) where 1 KiB
 * values reach the device's rate (about 0.4 M puts/s, 450 MB/s here), so the 16 cells
 * take minutes, not a quarter of an hour. -v 100 measures small records.
 *
 * Throughput mode (-T seconds): one cell (default uniform, greedy, 80 %), loaded, then
 * overwritten for the given time; writes a CSV row per interval (default 100 ms):
 * time_s, puts_per_s (completed puts), free_segments, wa_so_far (since the first
 * overwrite) and prints the longest gap between two completed puts (the longest stall).
 *
 * Why periodic durability by default: a put is acknowledged once it is in a write buffer,
 * and with a saturating load the buffers go out as whole 128 KiB segments, so device
 * bytes are records plus one 64-byte buffer header per segment, and WA measures what
 * compaction adds. Sync mode pads every group-commit write to 4 KiB; that padding is
 * counted as device bytes and also fills segments, so it would inflate WA and the real
 * utilization by an amount that depends on the in-flight count, not on compaction (-d
 * sync shows it). Writes are kept in flight (-q, default 64) as in bench_engine.
 *
 * LS_EBUSY from ls_put means no space until compaction frees some (or too much waiting
 * for a buffer): the bench polls and retries and counts the refused puts and the time
 * spent waiting. LS_ENOSPACE (or any other error) ends the cell, which is reported as
 * failed with the error. Exit status: 0 when every cell with a target passes, 1 when one
 * fails, 2 on bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logstor.h"

#define KEY_LEN      16 /* "key:" and 12 digits */
#define REC_HDR      40 /* engine/rec.h REC_HDR_SIZE */
#define MIB          (UINT64_C(1) << 20)
#define SEG_BYTES    (UINT64_C(128) << 10) /* the engine's segment size (DESIGN.md) */
#define CHECK_EVERY  256                   /* puts between clock reads in the submit loop */
#define MAX_INFLIGHT 65536
#define BUSY_LIMIT_NS                                                                              \
    (UINT64_C(30) * 1000000000u) /* one put refused LS_EBUSY this long                             \
                                     ends the run: compaction is stuck */

enum load { LOAD_UNIFORM, LOAD_SKEWED, LOAD_COUNT };

static const char *const load_names[] = {"uniform", "skewed"};
static const char *const policy_names[] = {"greedy", "cost-benefit"};
static const int util_pcts[] = {50, 70, 80, 90};
/* Greedy cleaning under uniform overwrites (the model), per entry of util_pcts. */
static const double greedy_model[] = {1.26, 1.88, 2.69, 5.18};

struct opts {
    uint64_t disk_size;
    uint32_t value_len;
    int inflight;
    enum ls_durability durability;
    double warmup_x, measure_x;
    int util_pct; /* -1: all */
    int load;     /* -1: all */
    int policy;   /* -1: all */
    const char *parent;
    uint64_t seed;
    double tput_secs; /* > 0: throughput mode */
    const char *csv_path;
    uint32_t interval_ms;
    uint32_t compact_low, compact_high, groups; /* 0: the engine's defaults */
};

struct cell {
    enum load load;
    enum ls_compact_policy policy;
    int util_pct;
};

struct result {
    int rc;             /* 0, or the error that ended the run */
    uint64_t failed_at; /* user bytes of overwrite done when it ended */
    const char *phase;  /* the phase it ended in */
    uint64_t keys;
    double wa; /* over the measurement phase */
    uint64_t user_bytes, device_bytes, sep_bytes, comp_bytes;
    uint64_t device_writes;
    uint64_t busy_puts;     /* puts refused LS_EBUSY at least once (measurement phase) */
    double busy_ms;         /* time spent waiting for those (measurement phase) */
    uint64_t engine_stalls; /* delta of ls_stats.write_stalls (measurement phase) */
    double puts_per_s;      /* measurement phase */
    double secs;            /* whole cell, load included */
    double victim_u;        /* bytes copied / bytes of the segments compacted */
    double free_avg;        /* mean free segments, sampled every CHECK_EVERY puts */
};

/* One engine under load: the submit loop's state. */
struct run {
    const struct opts *o;
    struct ls_engine *e;
    uint64_t keys, hot_keys;
    uint32_t rec;
    enum load load;
    uint64_t rng;
    uint64_t free_sum, free_samples; /* free segments sampled by overwrite() */
    char *value;
    int outstanding;
    uint64_t completed, errors;
    uint64_t busy_puts;
    uint64_t busy_ns;
    uint64_t last_tick_ns;
    /* throughput mode */
    FILE *csv;
    uint64_t t0_ns, next_sample_ns, last_done_ns, max_gap_ns;
    uint64_t sample_done, zero_intervals, zero_run, max_zero_run;
    uint64_t user0, device0;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: fast, seedable, good enough to pick keys. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static void key_of(char *buf, uint64_t i)
{
    memcpy(buf, "key:", 4);
    for (int d = KEY_LEN - 1; d >= 4; d--) {
        buf[d] = (char)('0' + i % 10);
        i /= 10;
    }
}

static uint64_t pick_key(struct run *r)
{
    if (r->load == LOAD_UNIFORM)
        return rng_below(&r->rng, r->keys);
    if (rng_below(&r->rng, 10) < 9)
        return rng_below(&r->rng, r->hot_keys);
    return r->hot_keys + rng_below(&r->rng, r->keys - r->hot_keys);
}

static void put_cb(void *arg, int rc, uint64_t cas)
{
    struct run *r = arg;
    (void)cas;
    r->outstanding--;
    r->completed++;
    r->errors += rc != 0;
    if (r->csv) {
        uint64_t t = now_ns();
        if (r->last_done_ns && t - r->last_done_ns > r->max_gap_ns)
            r->max_gap_ns = t - r->last_done_ns;
        r->last_done_ns = t;
    }
}

static uint64_t stats_user(const struct ls_stats *s)
{
    return s->user_bytes_written;
}

/* Throughput mode: one CSV row per elapsed interval. Completions are counted when ls_poll
 * runs their callbacks, so a row covers the puts the engine acknowledged in it; intervals
 * the loop slept through (blocked inside the engine) get rows of 0. */
static void sample(struct run *r, uint64_t t)
{
    uint64_t step = (uint64_t)r->o->interval_ms * 1000000u;
    struct ls_stats st;

    if (!r->csv || t < r->next_sample_ns)
        return;
    ls_get_stats(r->e, &st);
    while (t >= r->next_sample_ns) {
        uint64_t n = r->completed - r->sample_done;
        uint64_t du = stats_user(&st) - r->user0, dd = st.device_bytes_written - r->device0;
        r->sample_done = r->completed;
        fprintf(r->csv, "%.2f,%.0f,%llu,%.3f\n", (double)(r->next_sample_ns - r->t0_ns) / 1e9,
                (double)n * 1e9 / (double)step, (unsigned long long)st.segments_free,
                du ? (double)dd / (double)du : 0.0);
        r->zero_run = n ? 0 : r->zero_run + 1;
        r->zero_intervals += !n;
        if (r->zero_run > r->max_zero_run)
            r->max_zero_run = r->zero_run;
        r->next_sample_ns += step;
    }
}

/* One pass of the event loop: completions, the 10 ms timer the server also runs, the
 * throughput sampler. */
static void service(struct run *r, int wait_ms)
{
    uint64_t t;

    if (wait_ms) {
        struct pollfd p = {.fd = ls_fd(r->e), .events = POLLIN};
        poll(&p, 1, wait_ms);
    }
    ls_poll(r->e);
    t = now_ns();
    if (t - r->last_tick_ns >= 10000000u) {
        ls_tick(r->e);
        r->last_tick_ns = t;
    }
    sample(r, t);
}

static void pump(struct run *r, int max)
{
    while (r->outstanding >= max && r->outstanding > 0) {
        uint64_t before = r->completed;
        service(r, 0);
        if (r->completed == before)
            service(r, 1);
    }
}

/* Submits one put of key i, waiting out LS_EBUSY. Returns 0 or the error that refused
 * it (LS_ENOSPACE: the disk is full and compaction found nothing to free; LS_EBUSY: still
 * refused after BUSY_LIMIT_NS). */
static int put_one(struct run *r, uint64_t i)
{
    char key[KEY_LEN];
    uint64_t t0 = 0;
    int rc;

    key_of(key, i);
    pump(r, r->o->inflight);
    while ((rc = ls_put(r->e, 0, key, KEY_LEN, r->value, r->o->value_len, NULL, put_cb, r)) ==
           LS_EBUSY) {
        if (!t0) {
            t0 = now_ns();
            r->busy_puts++;
        } else if (now_ns() - t0 > BUSY_LIMIT_NS) {
            break;
        }
        service(r, 1);
    }
    if (t0)
        r->busy_ns += now_ns() - t0;
    if (rc != 0)
        return rc;
    r->outstanding++;
    return 0;
}

static int load_keys(struct run *r)
{
    for (uint64_t i = 0; i < r->keys; i++) {
        int rc = put_one(r, i);
        if (rc != 0)
            return rc;
    }
    pump(r, 1);
    return 0;
}

/* Overwrites until `bytes` user bytes (whole records) have been submitted, or for
 * `secs` seconds when secs > 0. Sets *done to the user bytes submitted. */
static int overwrite(struct run *r, uint64_t bytes, double secs, uint64_t *done)
{
    uint64_t deadline = secs > 0 ? now_ns() + (uint64_t)(secs * 1e9) : 0;
    uint64_t n = 0;
    int rc = 0;

    for (;;) {
        if (deadline ? (n % CHECK_EVERY == 0 && now_ns() >= deadline) : n * r->rec >= bytes)
            break;
        if (n % CHECK_EVERY == 0) {
            struct ls_stats st;
            ls_get_stats(r->e, &st);
            r->free_sum += st.segments_free;
            r->free_samples++;
            sample(r, now_ns());
        }
        if ((rc = put_one(r, pick_key(r))) != 0)
            break;
        n++;
    }
    pump(r, 1);
    *done = n * r->rec;
    return rc;
}

static int open_engine(const struct opts *o, enum ls_compact_policy policy, char *dir,
                       struct ls_engine **e)
{
    struct ls_config c;
    int rc;

    snprintf(dir, 4096, "%s/logstor-compact-XXXXXX", o->parent);
    if (!mkdtemp(dir)) {
        rc = -errno;
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(-rc));
        return rc;
    }
    ls_config_default(&c);
    c.dir = dir;
    c.disk_size = o->disk_size;
    c.durability = o->durability;
    c.cache_size = 0;
    c.compact_policy = policy;
    c.compact_low = o->compact_low;
    c.compact_high = o->compact_high;
    if (o->groups)
        c.compaction_groups = o->groups;
    if (o->value_len > c.max_value_size)
        c.max_value_size = o->value_len;
    rc = ls_open(&c, e);
    if (rc != 0)
        fprintf(stderr, "ls_open %s: %s\n", dir, ls_strerror(rc));
    return rc;
}

static void remove_dir(const char *dir)
{
    char cmd[4200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int run_init(struct run *r, const struct opts *o, const struct cell *c, struct ls_engine *e)
{
    memset(r, 0, sizeof(*r));
    r->o = o;
    r->e = e;
    r->load = c->load;
    r->rng = o->seed;
    r->rec = (REC_HDR + KEY_LEN + o->value_len + 7u) & ~7u;
    r->keys = (uint64_t)((double)c->util_pct / 100.0 * (double)o->disk_size / r->rec);
    r->hot_keys = r->keys / 10 ? r->keys / 10 : 1;
    r->value = malloc(o->value_len ? o->value_len : 1);
    if (!r->value)
        return -ENOMEM;
    memset(r->value, 'v', o->value_len);
    return 0;
}

/* Waits (at most 10 s) until no write waits for a buffer and none is in flight, so that
 * device bytes have caught up with user bytes: in periodic mode a put is acknowledged
 * long before its buffer is written (up to max_pending_bytes, 64 MiB, may wait), and a
 * phase boundary without this would move that backlog from one phase into the next.
 * Only the open buffer (under one segment) stays behind. */
static void drain(struct run *r, struct ls_stats *st)
{
    uint64_t deadline = now_ns() + UINT64_C(10000000000);

    pump(r, 1);
    for (;;) {
        ls_get_stats(r->e, st);
        if ((st->pending_bytes == 0 && st->inflight_writes == 0) || now_ns() > deadline)
            return;
        service(r, 1);
    }
}

/* The measurement phase of a table cell, with its deltas. */
static int measure(struct run *r, struct result *res)
{
    struct ls_stats a, b;
    uint64_t done, t0;
    int rc;

    drain(r, &a);
    r->busy_puts = 0;
    r->busy_ns = 0;
    r->free_sum = r->free_samples = 0;
    t0 = now_ns();
    rc = overwrite(r, (uint64_t)(r->o->measure_x * (double)r->o->disk_size), 0, &done);
    drain(r, &b);
    res->puts_per_s = (double)(done / r->rec) / ((double)(now_ns() - t0) / 1e9);
    res->user_bytes = stats_user(&b) - stats_user(&a);
    res->device_bytes = b.device_bytes_written - a.device_bytes_written;
    res->device_writes = b.device_writes - a.device_writes;
    res->sep_bytes = b.separator_bytes_written - a.separator_bytes_written;
    res->comp_bytes = b.compaction_bytes_written - a.compaction_bytes_written;
    res->engine_stalls = b.write_stalls - a.write_stalls;
    res->busy_puts = r->busy_puts;
    res->busy_ms = (double)r->busy_ns / 1e6;
    res->wa = res->user_bytes ? (double)res->device_bytes / (double)res->user_bytes : 0;
    if (b.segments_compacted > a.segments_compacted)
        res->victim_u = (double)(res->sep_bytes + res->comp_bytes) /
                        (double)((b.segments_compacted - a.segments_compacted) * SEG_BYTES);
    if (getenv("BENCH_DEBUG"))
        fprintf(stderr, "compacted %llu freed %llu runs %llu copied %llu stalls %llu\n",
                (unsigned long long)(b.segments_compacted - a.segments_compacted),
                (unsigned long long)(b.segments_freed - a.segments_freed),
                (unsigned long long)(b.compaction_runs - a.compaction_runs),
                (unsigned long long)(b.records_copied - a.records_copied),
                (unsigned long long)(b.write_stalls - a.write_stalls));
    res->free_avg = r->free_samples ? (double)r->free_sum / (double)r->free_samples : 0;
    if (rc != 0)
        res->failed_at = done;
    return rc;
}

static void run_cell(const struct opts *o, const struct cell *c, struct result *res)
{
    char dir[4096];
    struct ls_engine *e = NULL;
    struct run r;
    uint64_t t0 = now_ns(), done = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = open_engine(o, c->policy, dir, &e)) != 0)
        goto out;
    if ((rc = run_init(&r, o, c, e)) != 0)
        goto out;
    res->keys = r.keys;
    res->phase = "load";
    if ((rc = load_keys(&r)) == 0) {
        res->phase = "warm-up";
        rc = overwrite(&r, (uint64_t)(o->warmup_x * (double)o->disk_size), 0, &done);
        if (rc != 0)
            res->failed_at = done;
    }
    if (rc == 0) {
        res->phase = "measurement";
        rc = measure(&r, res);
    }
    if (rc == 0 && r.errors)
        rc = LS_EFAILED;
    free(r.value);
out:
    ls_close(e);
    if (e || rc != 0)
        remove_dir(dir);
    res->rc = rc;
    res->secs = (double)(now_ns() - t0) / 1e9;
}

static int util_index(int pct)
{
    for (size_t i = 0; i < sizeof(util_pcts) / sizeof(util_pcts[0]); i++)
        if (util_pcts[i] == pct)
            return (int)i;
    return -1;
}

/* The target for a cell; returns 0 when the cell has none. */
static int cell_target(const struct cell *c, double *target)
{
    int ui = util_index(c->util_pct);

    if (c->load == LOAD_UNIFORM && ui >= 0) {
        *target = greedy_model[ui] + 0.2;
        return 1;
    }
    if (c->load == LOAD_SKEWED && c->util_pct == 80) {
        *target = 1.6;
        return 1;
    }
    return 0;
}

static void print_header(const struct opts *o)
{
    printf("compact disk_mib=%llu value=%u rec=%u inflight=%d durability=%s warmup_x=%g "
           "measure_x=%g seed=%llu compact_low=%u compact_high=%u groups=%u (0: default)\n",
           (unsigned long long)(o->disk_size / MIB), o->value_len,
           (REC_HDR + KEY_LEN + o->value_len + 7u) & ~7u, o->inflight,
           o->durability == LS_SYNC ? "sync" : "periodic", o->warmup_x, o->measure_x,
           (unsigned long long)o->seed, o->compact_low, o->compact_high, o->groups);
    printf("%-8s %-12s %3s %8s %6s %6s %6s %-6s %8s %8s %8s %8s %6s %9s %8s %7s %6s %5s %5s\n",
           "load", "policy", "u%", "keys", "WA", "model", "target", "result", "user_MB", "dev_MB",
           "sep_MB", "comp_MB", "wr_KiB", "puts/s", "busy", "busy_ms", "secs", "vic_u", "free");
}

/* Prints a cell's row; returns 1 when it has a target and misses it. */
static int print_row(const struct cell *c, const struct result *res)
{
    int ui = util_index(c->util_pct);
    double target = 0;
    int has_target = cell_target(c, &target), fail;
    char model_s[16] = "-", target_s[16] = "-", wa_s[16];
    const char *verdict;

    if (ui >= 0)
        snprintf(model_s, sizeof(model_s), "%.2f", greedy_model[ui]);
    if (has_target)
        snprintf(target_s, sizeof(target_s), "%.2f", target);
    snprintf(wa_s, sizeof(wa_s), "%.2f", res->wa);
    fail = res->rc != 0 || (has_target && res->wa > target);
    verdict = fail ? "FAIL" : has_target ? "PASS" : "-";
    printf("%-8s %-12s %3d %8llu %6s %6s %6s %-6s %8.0f %8.0f %8.0f %8.0f %6.1f %9.0f %8llu "
           "%7.0f %6.1f %5.3f %5.1f\n",
           load_names[c->load], policy_names[c->policy], c->util_pct, (unsigned long long)res->keys,
           res->rc ? "-" : wa_s, model_s, target_s, verdict, (double)res->user_bytes / 1e6,
           (double)res->device_bytes / 1e6, (double)res->sep_bytes / 1e6,
           (double)res->comp_bytes / 1e6,
           (double)res->device_bytes / 1024.0 / (double)(res->device_writes + !res->device_writes),
           res->puts_per_s, (unsigned long long)res->busy_puts, res->busy_ms, res->secs,
           res->victim_u, res->free_avg);
    if (res->rc != 0)
        printf("  ^ run ended in %s: %s after %.0f MB of its user writes\n",
               res->phase ? res->phase : "open",
               res->rc == LS_EBUSY ? "LS_EBUSY for 30 s" : ls_strerror(res->rc),
               (double)res->failed_at / 1e6);
    fflush(stdout);
    return fail && (has_target || res->rc != 0);
}

static int run_table(const struct opts *o)
{
    int one[1] = {o->util_pct}, failed = 0, cells = 0;
    const int *utils = o->util_pct >= 0 ? one : util_pcts;
    size_t nutils = o->util_pct >= 0 ? 1 : sizeof(util_pcts) / sizeof(util_pcts[0]);
    uint64_t t0 = now_ns();

    print_header(o);
    for (int l = 0; l < LOAD_COUNT; l++) {
        for (int p = 0; p <= LS_COMPACT_COST_BENEFIT; p++) {
            if ((o->load >= 0 && o->load != l) || (o->policy >= 0 && o->policy != p))
                continue;
            for (size_t ui = 0; ui < nutils; ui++) {
                struct cell c = {(enum load)l, (enum ls_compact_policy)p, utils[ui]};
                struct result res;
                run_cell(o, &c, &res);
                failed += print_row(&c, &res);
                cells++;
            }
        }
    }
    printf("compact cells=%d failed=%d secs=%.0f\n", cells, failed, (double)(now_ns() - t0) / 1e9);
    return failed ? 1 : 0;
}

/* Throughput mode: load, then overwrite for o->tput_secs with the sampler on. */
static int run_throughput(const struct opts *o)
{
    struct cell c = {o->load >= 0 ? (enum load)o->load : LOAD_UNIFORM,
                     o->policy >= 0 ? (enum ls_compact_policy)o->policy : LS_COMPACT_GREEDY,
                     o->util_pct >= 0 ? o->util_pct : 80};
    char dir[4096];
    struct ls_engine *e = NULL;
    struct ls_stats st;
    struct run r;
    uint64_t done = 0;
    int rc;

    if ((rc = open_engine(o, c.policy, dir, &e)) != 0 || (rc = run_init(&r, o, &c, e)) != 0)
        goto out;
    if ((rc = load_keys(&r)) != 0)
        goto out;
    drain(&r, &st);
    if (!(r.csv = fopen(o->csv_path, "w"))) {
        rc = -errno;
        fprintf(stderr, "%s: %s\n", o->csv_path, strerror(-rc));
        goto out;
    }
    fprintf(r.csv, "time_s,puts_per_s,free_segments,wa_so_far\n");
    r.user0 = stats_user(&st);
    r.device0 = st.device_bytes_written;
    r.t0_ns = now_ns();
    r.next_sample_ns = r.t0_ns + (uint64_t)o->interval_ms * 1000000u;
    r.last_done_ns = r.t0_ns;
    r.sample_done = r.completed;
    rc = overwrite(&r, 0, o->tput_secs, &done);
    sample(&r, now_ns());
    ls_get_stats(e, &st);
    printf("compact throughput load=%s policy=%s u=%d keys=%llu secs=%.1f puts=%llu "
           "puts_per_s=%.0f wa=%.2f longest_stall_ms=%.1f zero_intervals=%llu "
           "longest_zero_run_ms=%llu busy_puts=%llu busy_ms=%.0f engine_stalls=%llu "
           "free_segments_end=%llu result=%s\n",
           load_names[c.load], policy_names[c.policy], c.util_pct, (unsigned long long)r.keys,
           (double)(now_ns() - r.t0_ns) / 1e9, (unsigned long long)(done / r.rec),
           (double)(done / r.rec) / ((double)(now_ns() - r.t0_ns) / 1e9),
           (double)(st.device_bytes_written - r.device0) /
               (double)(stats_user(&st) - r.user0 + !(stats_user(&st) - r.user0)),
           (double)r.max_gap_ns / 1e6, (unsigned long long)r.zero_intervals,
           (unsigned long long)(r.max_zero_run * o->interval_ms), (unsigned long long)r.busy_puts,
           (double)r.busy_ns / 1e6, (unsigned long long)st.write_stalls,
           (unsigned long long)st.segments_free, rc ? ls_strerror(rc) : "ok");
    fclose(r.csv);
out:
    if (rc == 0 && e && r.errors)
        rc = LS_EFAILED;
    if (e)
        free(r.value);
    ls_close(e);
    if (e || rc != 0)
        remove_dir(dir);
    if (rc != 0)
        fprintf(stderr, "throughput run: %s\n", ls_strerror(rc));
    return rc ? 1 : 0;
}

static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -2;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_compact [-s disk_mib] [-v value_bytes] [-q inflight] "
                    "[-d periodic|sync] [-w warmup_x] [-m measure_x] [-u pct] "
                    "[-l uniform|skewed] [-p greedy|cost-benefit] [-D parent_dir] [-S seed] "
                    "[-T seconds [-o csv] [-i interval_ms]] [-L low] [-H high] [-g groups]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int opt;

    *o = (struct opts){.disk_size = 1024 * MIB,
                       .value_len = 1024,
                       .inflight = 64,
                       .durability = LS_PERIODIC,
                       .warmup_x = 2,
                       .measure_x = 4,
                       .util_pct = -1,
                       .load = -1,
                       .policy = -1,
                       .parent = "/tmp",
                       .seed = 1,
                       .csv_path = "compact_throughput.csv",
                       .interval_ms = 100};
    while ((opt = getopt(argc, argv, "s:v:q:d:w:m:u:l:p:D:S:T:o:i:L:H:g:")) != -1) {
        switch (opt) {
        case 's':
            o->disk_size = strtoull(optarg, NULL, 10) * MIB;
            break;
        case 'v':
            o->value_len = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'q':
            o->inflight = atoi(optarg);
            break;
        case 'd':
            o->durability = strcmp(optarg, "sync") == 0 ? LS_SYNC : LS_PERIODIC;
            break;
        case 'w':
            o->warmup_x = atof(optarg);
            break;
        case 'm':
            o->measure_x = atof(optarg);
            break;
        case 'u':
            o->util_pct = atoi(optarg);
            break;
        case 'l':
            o->load = name_index(optarg, load_names, LOAD_COUNT);
            break;
        case 'p':
            o->policy = name_index(optarg, policy_names, 2);
            break;
        case 'D':
            o->parent = optarg;
            break;
        case 'S':
            o->seed = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            o->tput_secs = atof(optarg);
            break;
        case 'o':
            o->csv_path = optarg;
            break;
        case 'i':
            o->interval_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'L':
            o->compact_low = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'H':
            o->compact_high = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'g':
            o->groups = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    if (o->load < -1 || o->policy < -1 || o->disk_size == 0 || o->inflight < 1 ||
        o->inflight > MAX_INFLIGHT || o->util_pct == 0 || o->util_pct > 99 || o->util_pct < -1 ||
        o->warmup_x < 0 || o->measure_x <= 0 || o->interval_ms == 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;

    if (parse_opts(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    return o.tput_secs > 0 ? run_throughput(&o) : run_table(&o);
}
