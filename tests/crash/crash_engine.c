/*
 * crash_engine.c - kill -9 at random moments; nothing acknowledged may be lost and no
 * deleted key may come back.
 *
 * Each cycle forks a child that opens the data directory in sync mode and runs puts and
 * deletes over a small key space, up to 48 in flight. Before submitting an operation it
 * reports it on a pipe ('S'), and when the callback says the write is durable it reports
 * the acknowledgement ('A'). The parent reads the pipe, kills the child with SIGKILL after
 * a random delay, reopens the directory itself and checks every key:
 *   - if an operation on the key was acknowledged in this cycle, the key must be in the
 *     state of the last acknowledged operation or of one submitted after it;
 *   - otherwise in its state from the previous cycle or of any operation submitted now.
 * Values are derived from (key, version), so a value is checked byte for byte, and its
 * length varies (a few values exceed a segment and take the large-record path).
 *
 * With CRASH_DISK_MB set (tests/run.sh uses 64), the disk budget is so small that the
 * churn overwrites it many times per cycle: compaction and separation are busy at every
 * kill, and the check covers what they moved and the tombstones they dropped. A write
 * answered LS_EBUSY (waiting for compaction) is retried after a poll.
 *
 * With CRASH_SNAPSHOTS set, the child also drops and takes snapshot "c" (SNAPSHOT
 * CREATE) every few hundred writes, so kills land while one is being made, and compaction
 * runs with segments held. After each kill the parent, once the keys check, copies the
 * snapshot listed (if any) into a new directory (ls_snapshot_export: every record it
 * names verified) and checks every value copied byte for byte. With CRASH_CHECKPOINT_MS
 * the child writes checkpoints while running (checkpoint_interval_ms) and the reopen
 * rolls forward from the last one.
 *
 *   crash_engine [cycles]      default 60, or 400 with SOAK=1
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logstor.h"

#define NKEYS    4000
#define INFLIGHT 48
#define MAXOPS   4096 /* per key per cycle */

/* Every operation has a unique id (a put's id is also its value version), so an ack
 * names exactly one operation. */
struct msg {
    uint8_t type; /* 'S' put submitted, 'D' delete submitted, 'A' acked, 'R' ready */
    uint8_t pad[3];
    uint32_t key;
    uint64_t id;
};

struct op {
    uint64_t id;
    uint64_t result; /* the key's version after the op: the id for a put, 0 for a delete */
    uint8_t acked;
};

struct keyst {
    uint64_t base; /* version present at cycle start, 0 = absent */
    struct op *ops;
    uint32_t nops, cap;
    int last_acked; /* index in ops, -1 none */
};

static struct keyst keys[NKEYS];
static const char *dir;

static void key_name(char *buf, size_t n, uint32_t k)
{
    snprintf(buf, n, "key:%u", k);
}

/* Value of (key, version): length varies, content is a pattern of both. */
static size_t value_len(uint64_t version)
{
    if (version % 997 == 0)
        return 150000 + version % 50000; /* larger than a 128 KiB segment */
    return 16 + (version * 2654435761u) % 3000;
}

static void value_fill(char *v, size_t n, uint32_t k, uint64_t version)
{
    int h = snprintf(v, n, "%u:%llu:", k, (unsigned long long)version);
    for (size_t i = (size_t)h; i < n; i++)
        v[i] = (char)('a' + (i + k + version) % 26);
}

static void config(struct ls_config *c)
{
    ls_config_default(c);
    c->dir = dir;
    c->disk_size = UINT64_C(3) << 30;
    if (getenv("CRASH_DISK_MB"))
        c->disk_size = (uint64_t)atoi(getenv("CRASH_DISK_MB")) << 20;
    c->file_size = 8u << 20;
    c->tables = 2;
    /* CRASH_DURABILITY=periodic shows that the check can fail: acknowledged writes still
     * in a buffer are lost by the kill, and the test must say so. */
    c->durability = getenv("CRASH_DURABILITY") && !strcmp(getenv("CRASH_DURABILITY"), "periodic")
                        ? LS_PERIODIC
                        : LS_SYNC;
    c->flush_interval_ms = 1000;
    /* CRASH_POLICY=cost-benefit: its second user stream and split spill streams */
    if (getenv("CRASH_POLICY") && !strcmp(getenv("CRASH_POLICY"), "cost-benefit"))
        c->compact_policy = LS_COMPACT_COST_BENEFIT;
    if (getenv("CRASH_CHECKPOINT_MS"))
        c->checkpoint_interval_ms = (uint32_t)atoi(getenv("CRASH_CHECKPOINT_MS"));
}

/* ---------------------------------------------------------------- child */

static int out_fd;
static int child_inflight;

static void send_msg(uint8_t type, uint32_t k, uint64_t id)
{
    struct msg m = {.type = type, .key = k, .id = id};
    if (write(out_fd, &m, sizeof(m)) != sizeof(m))
        _exit(4);
}

struct pending {
    uint32_t key;
    uint64_t id;
};

static void child_ack(void *arg, int rc, uint64_t cas)
{
    struct pending *p = arg;
    (void)cas;
    if (rc != 0) {
        fprintf(stderr, "child: write failed: %s\n", ls_strerror(rc));
        _exit(3);
    }
    send_msg('A', p->key, p->id);
    free(p);
    child_inflight--;
}

static void child_pump(struct ls_engine *e, int timeout_ms)
{
    struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
    poll(&p, 1, timeout_ms);
    ls_poll(e);
    ls_tick(e);
}

static void child_submit(struct ls_engine *e, uint64_t *version)
{
    uint32_t k = (uint32_t)(random() % NKEYS);
    char name[32], *val;
    struct pending *p = malloc(sizeof(*p));
    int rc;

    key_name(name, sizeof(name), k);
    p->key = k;
    p->id = ++*version;
    if (random() % 5 == 0) {
        send_msg('D', k, p->id);
        while ((rc = ls_del(e, 0, name, strlen(name), child_ack, p)) == LS_EBUSY)
            child_pump(e, 1);
        if (rc == LS_ENOTFOUND) {
            /* Absent in memory (perhaps deleted by a delete still in flight): nothing is
             * written, so nothing is acknowledged as durable. */
            free(p);
            return;
        }
    } else {
        size_t n = value_len(p->id);
        val = malloc(n);
        value_fill(val, n, k, p->id);
        send_msg('S', k, p->id);
        while ((rc = ls_put(e, 0, name, strlen(name), val, n, NULL, child_ack, p)) == LS_EBUSY)
            child_pump(e, 1);
        free(val);
    }
    if (rc != 0) {
        fprintf(stderr, "child: submit failed: %s\n", ls_strerror(rc));
        _exit(3);
    }
    child_inflight++;
}

static int snap_busy;

static void child_snapped(void *arg, int rc, uint64_t cas)
{
    (void)arg;
    (void)cas;
    if (rc != 0 && rc != -ECANCELED) {
        fprintf(stderr, "child: snapshot failed: %s\n", ls_strerror(rc));
        _exit(3);
    }
    snap_busy = 0;
}

static void child_main(int fd, uint64_t version, unsigned seed)
{
    struct ls_config c;
    struct ls_engine *e;
    int snaps = getenv("CRASH_SNAPSHOTS") != NULL;
    long until_snap = 50 + random() % 400;

    out_fd = fd;
    srandom(seed);
    config(&c);
    if (ls_open(&c, &e) != 0)
        _exit(2);
    send_msg('R', 0, 0);
    for (;;) {
        while (child_inflight < INFLIGHT) {
            child_submit(e, &version);
            if (snaps && !snap_busy && --until_snap <= 0) {
                until_snap = 50 + random() % 400;
                ls_snapshot_drop(e, "c");
                snap_busy = 1;
                if (ls_snapshot_create(e, "c", child_snapped, NULL) != 0)
                    snap_busy = 0;
            }
        }
        child_pump(e, 10);
    }
}

/* ---------------------------------------------------------------- parent */

static void record(const struct msg *m)
{
    struct keyst *ks = &keys[m->key];

    if (m->type == 'S' || m->type == 'D') {
        if (ks->nops == ks->cap) {
            ks->cap = ks->cap ? ks->cap * 2 : 8;
            ks->ops = realloc(ks->ops, ks->cap * sizeof(*ks->ops));
        }
        ks->ops[ks->nops++] = (struct op){.id = m->id, .result = m->type == 'S' ? m->id : 0};
        return;
    }
    /* 'A': the op with that id */
    for (uint32_t i = 0; i < ks->nops; i++) {
        if (!ks->ops[i].acked && ks->ops[i].id == m->id) {
            ks->ops[i].acked = 1;
            if ((int)i > ks->last_acked)
                ks->last_acked = (int)i;
            return;
        }
    }
    fprintf(stderr, "parent: ack for an op never submitted (key %u)\n", m->key);
    exit(1);
}

static int drain(int fd, uint64_t *max_version, int block_ms)
{
    static char buf[sizeof(struct msg) * 512];
    static size_t have;
    int n = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, block_ms) <= 0)
            return n;
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            return n;
        have += (size_t)r;
        size_t i = 0;
        for (; i + sizeof(struct msg) <= have; i += sizeof(struct msg)) {
            struct msg m;
            memcpy(&m, buf + i, sizeof(m));
            if (m.type == 'R') {
                n++;
                continue;
            }
            record(&m);
            if (m.id > *max_version)
                *max_version = m.id;
        }
        memmove(buf, buf + i, have - i);
        have -= i;
        block_ms = 0;
    }
}

struct check {
    int done, rc;
    uint64_t version;
    uint32_t key;
    int bad;
};

static void check_cb(void *arg, int rc, const struct ls_item *it)
{
    struct check *c = arg;
    c->done = 1;
    c->rc = rc;
    if (rc != 0)
        return;
    unsigned long long v = 0;
    unsigned k = 0;
    if (sscanf(it->value, "%u:%llu:", &k, &v) != 2 || k != c->key) {
        c->bad = 1;
        return;
    }
    c->version = v;
    size_t n = value_len(v);
    char *want = malloc(n);
    value_fill(want, n, k, v);
    c->bad = it->value_len != n || memcmp(it->value, want, n) != 0;
    free(want);
}

static int allowed(const struct keyst *ks, uint64_t seen)
{
    int from = ks->last_acked;

    if (from < 0 && ks->base == seen)
        return 1;
    for (uint32_t i = (uint32_t)(from < 0 ? 0 : from); i < ks->nops; i++)
        if (ks->ops[i].result == seen)
            return 1;
    return 0;
}

/* The snapshot listed, if any, copied into a new directory: every record it names must
 * verify (ls_snapshot_export checks each) and every value copied must be its key's value
 * for some version, byte for byte. */
static int verify_snapshot(struct ls_engine *e)
{
    struct ls_snapshot_info si;
    struct ls_config c;
    struct ls_engine *d;
    char tmpl[] = "/tmp/logstor-crash-copy-XXXXXX", err[256], cmd[200];
    uint64_t n = 0;
    int bad = 0, rc;

    if (ls_snapshot_list(e, &si, 1) == 0)
        return 0;
    if (si.damaged) {
        fprintf(stderr, "snapshot %s damaged after the kill\n", si.name);
        return 1;
    }
    if (!mkdtemp(tmpl))
        return 1;
    config(&c);
    c.dir = tmpl;
    c.checkpoint_interval_ms = 0;
    c.disk_size = UINT64_C(3) << 30;
    if ((rc = ls_open(&c, &d)) != 0) {
        fprintf(stderr, "copy: open failed: %s\n", ls_strerror(rc));
        return 1;
    }
    rc = ls_snapshot_export(dir, si.name, d, &n, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "snapshot copy failed: %s\n", err);
        bad++;
    }
    for (uint32_t k = 0; k < NKEYS && !bad; k++) {
        char name[32];
        struct check ck = {.key = k};
        key_name(name, sizeof(name), k);
        rc = ls_get(d, 0, name, strlen(name), check_cb, &ck);
        if (rc == LS_ENOTFOUND)
            continue;
        while (!ck.done) {
            struct pollfd p = {.fd = ls_fd(d), .events = POLLIN};
            poll(&p, 1, 10);
            ls_poll(d);
        }
        if (ck.rc != 0 || ck.bad) {
            fprintf(stderr, "snapshot copy: key %u %s\n", k,
                    ck.rc ? ls_strerror(ck.rc) : "corrupt");
            bad++;
        }
    }
    printf(" snapshot of %llu keys copied,", (unsigned long long)n);
    ls_close(d);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpl);
    return bad;
}

static int verify(uint64_t *acked_total)
{
    struct ls_config c;
    struct ls_engine *e;
    struct check *chk = calloc(NKEYS, sizeof(*chk));
    int rc, bad = 0;

    config(&c);
    if ((rc = ls_open(&c, &e)) != 0) {
        fprintf(stderr, "reopen failed: %s\n", ls_strerror(rc));
        return -1;
    }
    for (uint32_t k = 0; k < NKEYS; k++) {
        char name[32];
        key_name(name, sizeof(name), k);
        chk[k].key = k;
        rc = ls_get(e, 0, name, strlen(name), check_cb, &chk[k]);
        if (rc == LS_ENOTFOUND) {
            chk[k].done = 1;
            chk[k].rc = rc;
        } else if (rc != 0) {
            fprintf(stderr, "get failed: %s\n", ls_strerror(rc));
            return -1;
        }
        if (k % 256 == 255 || k == NKEYS - 1) {
            for (uint32_t j = k - (k % 256); j <= k; j++)
                while (!chk[j].done) {
                    struct pollfd p = {.fd = ls_fd(e), .events = POLLIN};
                    poll(&p, 1, 10);
                    ls_poll(e);
                }
        }
    }
    for (uint32_t k = 0; k < NKEYS; k++) {
        struct keyst *ks = &keys[k];
        uint64_t seen = chk[k].rc == 0 ? chk[k].version : 0;
        if (chk[k].rc != 0 && chk[k].rc != LS_ENOTFOUND) {
            fprintf(stderr, "key %u: read error %s\n", k, ls_strerror(chk[k].rc));
            bad++;
        } else if (chk[k].bad) {
            fprintf(stderr, "key %u: value corrupt\n", k);
            bad++;
        } else if (!allowed(ks, seen)) {
            fprintf(stderr,
                    "key %u: found version %llu; last acked op #%d (result %llu), "
                    "base %llu, %u ops\n",
                    k, (unsigned long long)seen, ks->last_acked,
                    ks->last_acked >= 0 ? (unsigned long long)ks->ops[ks->last_acked].result : 0ULL,
                    (unsigned long long)ks->base, ks->nops);
            bad++;
        }
        for (uint32_t i = 0; i < ks->nops; i++)
            *acked_total += ks->ops[i].acked;
        ks->base = seen;
        ks->nops = 0;
        ks->last_acked = -1;
    }
    if (getenv("CRASH_SNAPSHOTS"))
        bad += verify_snapshot(e);
    struct ls_stats st;
    ls_get_stats(e, &st);
    printf(" recovered %llu records in %llu ms (segment heads: %llu read, %llu taken from the "
           "checkpoint), %llu torn/corrupt blocks skipped,",
           (unsigned long long)st.recovery_records, (unsigned long long)st.recovery_ms,
           (unsigned long long)st.recovery_heads_read,
           (unsigned long long)st.recovery_heads_presumed,
           (unsigned long long)st.recovery_corrupt_blocks);
    ls_close(e);
    free(chk);
    return bad;
}

static int run_cycle(int cycle, uint64_t *version, uint64_t *acked_total)
{
    int p[2];
    pid_t pid;
    uint64_t maxv = *version;
    int status;

    if (pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        child_main(p[1], *version, (unsigned)(cycle * 7919 + 1));
    }
    close(p[1]);
    /* wait until the child has opened the directory, then a random delay */
    int ready = 0;
    for (int i = 0; i < 3000 && !ready; i++)
        ready = drain(p[0], &maxv, 10) > 0 || ready;
    long delay_ms = 5 + random() % 250;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        drain(p[0], &maxv, 5);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < delay_ms);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    drain(p[0], &maxv, 0);
    close(p[0]);
    if (!WIFSIGNALED(status)) {
        fprintf(stderr, "child exited on its own (status %d)\n", WEXITSTATUS(status));
        return -1;
    }
    *version = maxv + 1;
    printf("cycle %d: killed after %ld ms,", cycle, delay_ms);
    int bad = verify(acked_total);
    printf(" %s\n", bad == 0 ? "ok" : "FAILED");
    fflush(stdout);
    return bad;
}

int main(int argc, char **argv)
{
    int cycles = getenv("SOAK") ? 400 : 60;
    char tmpl[] = "/tmp/logstor-crash-XXXXXX";
    uint64_t version = 1, acked = 0;
    int failed = 0;

    if (argc > 1)
        cycles = atoi(argv[1]);
    dir = mkdtemp(tmpl);
    if (!dir)
        return 1;
    srandom((unsigned)time(NULL));
    for (uint32_t k = 0; k < NKEYS; k++)
        keys[k].last_acked = -1;
    for (int i = 1; i <= cycles && !failed; i++)
        failed = run_cycle(i, &version, &acked) != 0;
    printf("crash test: %d cycles, %llu acknowledged writes checked: %s\n", cycles,
           (unsigned long long)acked, failed ? "FAILED" : "passed");
    if (!failed) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "data directory kept for inspection: %s\n", dir);
    }
    return failed;
}
