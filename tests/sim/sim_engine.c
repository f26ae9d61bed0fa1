/*
 * sim_engine.c - the deterministic simulator of the logstor engine (issue 11).
 *
 * One seed drives everything: the engine's configuration, a random workload, the order
 * in which the simulated device (engine/simdev.h) executes I/O, the wall clock (which
 * also steps backwards), faults, crashes with torn writes, and clean restarts. The same
 * seed replays the same run exactly (`sim_engine --seed N -v` prints every step).
 *
 * The reference model. Every write the workload submits becomes an op with a global,
 * increasing id; a key's timeline is its ops merged with its table's FLUSH ops, opened
 * by a "base" op that states what the key was when this engine instance opened. An op
 * is pending until its callback runs, then acked or failed. It is certain when it is
 * known to be durable: acked in sync mode, or covered by a successful ls_sync in
 * periodic mode (a periodic ack only says the record is in a buffer).
 * - While the engine runs, a read must return exactly the effect of the newest op of
 *   the key not known to have failed when the read was submitted (the index is updated
 *   at submission: read-your-writes).
 * - After a crash and reopen, a key may show the effect of its newest certain op or of
 *   any op after it (pending and failed ones: their outcome is unknown), never anything
 *   older and never a value that was not written.
 * - Expiry: a PUT with expiry x may show its value only while the clock is below x, and
 *   may be absent once the clock has ever reached x; an expired key never shows an
 *   older value (the older ops are not candidates).
 * - Values carry the id of the op that wrote them, the key and their length, and their
 *   bytes are a function of those, so a value read back is checked byte for byte; its
 *   expiry, flags and CAS must be the op's.
 * - Scans must list exactly the keys that are present and not expired; after every
 *   reopen and every full check the engine's own checks run (eng_check).
 * - Corruption (some seeds flip bytes of the durable image at a crash) relaxes this:
 *   a key whose state is not legal is allowed only if the engine reported damage
 *   (recovery counted corrupt blocks, or the read failed with LS_ECORRUPT); a value it
 *   returns must still be one that was written, byte for byte.
 * - Batches (ls_write_batch) show whole or not at all after a reopen. In seeds = 7 mod 8
 *   half of them are ordered (ls_write_opts.ordered): one that shows came with every op
 *   submitted before it (order_check). Those seeds also write two collections the way
 *   logstord writes a large one (a root naming its pages' versions, and the pages a write
 *   changes, as one ordered batch computed from the previous write in flight): after
 *   every reopen the root must name exactly the pages found, and in sync mode be no older
 *   than the last write acknowledged (coll_check).
 * A violation prints the seed, the step and the last steps of the trace, and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "simdev.h"
#include "token.h"

#define MAX_TABLES  4
#define TRACE_LINES 64
#define DRAIN_LIMIT 2000000

enum { K_PUT = 1, K_DEL = 2, K_FLUSH = 3 };
enum { S_PENDING = 0, S_ACKED = 1, S_FAILED = 2 };

struct op {
    uint64_t id;     /* submission order */
    uint64_t vid;    /* the id whose value bytes it carries (a base op keeps the old one) */
    uint64_t expire; /* absolute ms, 0 = none */
    uint64_t cas;    /* from the ack (0 until then) */
    uint32_t vlen, flags;
    uint32_t key;   /* global key number; UINT32_MAX for a FLUSH */
    uint32_t batch; /* 1 + the index of its batch in sim.batches (ls_write_batch); 0: none */
    uint16_t table;
    uint8_t kind, state, synced, base;
};

/* A batch: ops first .. first + n - 1 (distinct keys), written as one unit. */
struct batch {
    uint32_t first, n;
    int ordered; /* ls_write_opts.ordered */
};

struct key {
    uint32_t *ops; /* indexes into sim.ops, in id order */
    uint32_t n, cap;
};

#define MAX_MATCH  8
#define NCOLL      2
#define COLL_PAGES 8

struct obs {
    int present;
    uint64_t vid, expire, cas;
    uint32_t vlen, flags;
    uint32_t nmatch; /* after a reopen: the ops that explain it (newest last) */
    struct op match[MAX_MATCH];
};

struct sim {
    uint64_t seed;
    struct simdev *dev;
    struct ls_config cfg;
    struct ls_engine *e;
    uint32_t ntables, nkeys, nall; /* keys per table, all keys */
    uint32_t max_value;
    struct key *keys;
    struct key flushes[MAX_TABLES];
    struct op *ops;
    uint32_t nops, capops;
    struct batch *batches; /* ls_write_batch calls since the last reopen */
    uint32_t nbatches, capbatches;
    uint64_t next_id;
    uint64_t now_ms, max_ms;
    uint32_t gen;    /* engine instance: callbacks of an earlier one are ignored */
    int crashed;     /* callbacks now carry no information (the client died) */
    int failed;      /* the engine failed (a device write error) */
    int corrupt;     /* the image was damaged on purpose: relaxed checks */
    int read_faults; /* reads may fail with -EIO */
    uint64_t damage; /* corruption the engine reported in this instance */
    uint32_t outstanding;
    struct obs *seen; /* full check: what each key showed */
    uint32_t *scratch;
    uint32_t capscratch;
    uint8_t *vbuf;
    uint32_t busy_run;    /* consecutive puts refused for space */
    uint32_t w[16], wsum; /* the action mix (draw_mix) */
    uint32_t back_pct;    /* % of clock ticks that step back */
    uint32_t large_pct;   /* % of puts larger than a write buffer */
    uint32_t avg_len;     /* typical value size (pick_len) */
    uint64_t capacity;    /* the filesystem's room for data files (0: unlimited) */
    uint32_t profile;     /* seed % 4: the mix's emphasis (draw_mix) */
    uint32_t freed_pct;   /* % chance to crash or restart right after compaction frees */
    uint64_t freed_seen;
    int just_freed;
    uint64_t step;
    /* trace */
    char trace[TRACE_LINES][320];
    uint64_t ntrace;
    int verbose;
    /* totals */
    uint64_t crashes, restarts, checks, reads_checked, puts, dels, flushes_n, faults, batches_n;
    uint64_t mem_reads; /* reads answered at once by ls_get_mem */
    /* collections (coll_write): seeds = 7 mod 8 */
    int colls;
    uint32_t coll_table; /* a table of their own, beyond the model's (scans skip it) */
    struct coll {
        uint64_t serial;           /* the last write's number (never reused) */
        uint64_t page[COLL_PAGES]; /* each page's last write, 0: absent */
        uint64_t acked;            /* the newest write acknowledged in this instance */
        int stale;                 /* a write failed: resynced at the next open */
    } coll[NCOLL];
    uint64_t coll_writes, coll_checked;
    /* the shutdown checkpoint (engine/ckpt.c) */
    uint8_t *stale_ckpt; /* a copy kept at a clean restart, put back before a later open */
    size_t stale_len;
    uint64_t ckpt_opens, ckpt_clean, ckpt_damaged, ckpt_stale, ckpt_journal;
    /* --snapshots: snapshot "s" (engine/snap.c) and rollbacks to it */
    struct key *snapc;  /* per key: the ops that may explain its state at the snapshot */
    struct op *snapops; /* their copies (snapc[k].ops index this) */
    uint32_t nsnapops, capsnapops;
    int snap_busy;  /* being made: the model's candidates are taken */
    int snap_valid; /* made: listed, and snapc describes it */
    uint64_t snaps_made, rollbacks;
};

#define CKPT_FILE "logstor.ckpt" /* engine/ckpt.c */

static struct sim *g_sim;
static int force_profile = -1; /* --profile: every seed runs this mix */
static int run_checkpoints;    /* --checkpoints: checkpoints while running, rolled forward */
static int run_snapshots;      /* --snapshots: snapshots made, dropped, rolled back to */
static uint64_t total_snaps, total_rollbacks;
static uint64_t total_crashes, total_steps, total_checks, total_reads, total_restarts;
static uint64_t total_mem_reads;
static uint64_t total_coll_writes, total_coll_checked;
static uint64_t total_ckpt_opens, total_ckpt_clean, total_ckpt_damaged, total_ckpt_stale,
    total_ckpt_journal;
static struct ls_stats total_st; /* engine counters summed over every instance */

static void add_stats(struct ls_engine *e)
{
    struct ls_stats st;

    ls_get_stats(e, &st);
    total_st.compaction_runs += st.compaction_runs;
    total_st.segments_compacted += st.segments_compacted;
    total_st.segments_freed += st.segments_freed;
    total_st.records_copied += st.records_copied;
    total_st.tombstones_dropped += st.tombstones_dropped;
    total_st.cache_hits += st.cache_hits;
    total_st.write_stalls += st.write_stalls;
    total_st.device_writes += st.device_writes;
    total_st.segments_blanked += st.segments_blanked;
    total_st.checkpoints += st.checkpoints;
    total_st.checkpoints_failed += st.checkpoints_failed;
}

/* ---- randomness, trace, failure ---- */

static uint64_t rnd(struct sim *s, uint64_t n)
{
    return n ? simdev_rand(s->dev) % n : 0;
}

static void trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct sim *s, const char *fmt, ...)
{
    char *line = s->trace[s->ntrace++ % TRACE_LINES];
    va_list ap;
    int n = snprintf(line, 320, "%8" PRIu64 " ", s->step);

    va_start(ap, fmt);
    vsnprintf(line + n, (size_t)(320 - n), fmt, ap);
    va_end(ap);
    if (s->verbose)
        printf("%s\n", line);
}

static void fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    uint64_t from = s->ntrace > TRACE_LINES ? s->ntrace - TRACE_LINES : 0;

    printf("--- last steps of seed %" PRIu64 ":\n", s->seed);
    for (uint64_t i = from; i < s->ntrace && !s->verbose; i++)
        printf("%s\n", s->trace[i % TRACE_LINES]);
    printf("FAIL seed %" PRIu64 " step %" PRIu64 ": ", s->seed, s->step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\nreplay: sim_engine --seed %" PRIu64 " -v\n", s->seed);
    fflush(stdout);
    exit(1);
}

static uint64_t sim_clock(void *arg)
{
    return ((struct sim *)arg)->now_ms;
}

static void sim_log(void *arg, enum ls_log_level lvl, const char *msg)
{
    struct sim *s = arg;

    if (s->verbose || lvl >= LS_LOG_ERROR)
        trace(s, "engine log %d: %s", (int)lvl, msg);
}

/* ---- keys and values ---- */

static uint32_t key_table(const struct sim *s, uint32_t k)
{
    return k / s->nkeys;
}

static int key_name(const struct sim *s, uint32_t k, char *buf)
{
    uint32_t i = k % s->nkeys;
    int n = sprintf(buf, "t%u:k%u:", key_table(s, k), i);

    for (uint32_t p = 0; p < (i * 7) % 23; p++)
        buf[n++] = (char)('a' + (i + p) % 26);
    buf[n] = 0;
    return n;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* value = vid (8) | key (4) | length (4) | bytes derived from them, 8 at a time */
static void make_value(uint8_t *v, uint64_t vid, uint32_t key, uint32_t len)
{
    uint64_t x = mix(vid ^ ((uint64_t)key << 40) ^ len);
    uint32_t i = 16;

    memcpy(v, &vid, 8);
    memcpy(v + 8, &key, 4);
    memcpy(v + 12, &len, 4);
    for (; i + 8 <= len; i += 8) {
        x += UINT64_C(0x9E3779B97F4A7C15);
        uint64_t z = mix(x);
        memcpy(v + i, &z, 8);
    }
    x = mix(x + 1);
    for (; i < len; i++, x >>= 8)
        v[i] = (uint8_t)x;
}

/* Checks the bytes of a value read for key; returns its vid, or 0 when garbage. */
static uint64_t value_vid(struct sim *s, uint32_t key, const uint8_t *v, uint32_t len)
{
    uint64_t vid;
    uint32_t k, l;

    if (len < 16)
        return 0;
    memcpy(&vid, v, 8);
    memcpy(&k, v + 8, 4);
    memcpy(&l, v + 12, 4);
    if (k != key || l != len || !vid)
        return 0;
    make_value(s->vbuf, vid, key, len);
    return memcmp(s->vbuf, v, len) == 0 ? vid : 0;
}

/* ---- the model ---- */

static uint32_t op_new(struct sim *s, uint8_t kind, uint32_t key, uint16_t table)
{
    if (s->nops == s->capops) {
        s->capops = s->capops ? s->capops * 2 : 1024;
        s->ops = realloc(s->ops, s->capops * sizeof(*s->ops));
        if (!s->ops)
            abort();
    }
    s->ops[s->nops] = (struct op){.id = s->next_id++, .kind = kind, .key = key, .table = table};
    return s->nops++;
}

static void list_add(struct key *l, uint32_t op)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->ops = realloc(l->ops, l->cap * sizeof(*l->ops));
        if (!l->ops)
            abort();
    }
    l->ops[l->n++] = op;
}

/* The key's timeline (op indexes in id order) into s->scratch; returns its length. */
static uint32_t timeline(struct sim *s, uint32_t k)
{
    const struct key *a = &s->keys[k], *b = &s->flushes[key_table(s, k)];
    uint32_t i = 0, j = 0, n = 0;

    if (a->n + b->n > s->capscratch) {
        s->capscratch = (a->n + b->n) * 2;
        s->scratch = realloc(s->scratch, s->capscratch * sizeof(*s->scratch));
        if (!s->scratch)
            abort();
    }
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && s->ops[a->ops[i]].id < s->ops[b->ops[j]].id))
            s->scratch[n++] = a->ops[i++];
        else
            s->scratch[n++] = b->ops[j++];
    }
    return n;
}

static int certain(const struct sim *s, const struct op *o)
{
    return o->state == S_ACKED && (o->base || o->synced || s->cfg.durability == LS_SYNC);
}

/* The op a read submitted now must show: the newest not known to have failed. */
static uint32_t current_op(struct sim *s, uint32_t k)
{
    uint32_t n = timeline(s, k);

    while (n > 1 && s->ops[s->scratch[n - 1]].state == S_FAILED)
        n--;
    return s->scratch[n - 1];
}

/* Does observation ob agree with op o at clock now? */
static int matches(const struct sim *s, const struct op *o, const struct obs *ob)
{
    if (o->kind != K_PUT)
        return !ob->present;
    if (!ob->present)
        return o->expire && s->max_ms >= o->expire;
    return ob->vid == o->vid && ob->vlen == o->vlen && ob->expire == o->expire &&
           ob->flags == o->flags && (!o->expire || s->now_ms < o->expire) &&
           (!o->cas || ob->cas == o->cas);
}

/* After a crash: the newest certain op or any later one. The base ops (what a reopen
 * found, possibly several that explain it alike) all stay candidates until a newer op is
 * certain. Records the ops that match in ob (when it has room) and returns how many. */
static uint32_t legal_after_crash(struct sim *s, uint32_t k, struct obs *ob)
{
    uint32_t n = timeline(s, k), from = 0, nm = 0;

    for (uint32_t i = 0; i < n; i++)
        if (!s->ops[s->scratch[i]].base && certain(s, &s->ops[s->scratch[i]]))
            from = i;
    for (uint32_t i = from; i < n; i++) {
        const struct op *o = &s->ops[s->scratch[i]];
        if (o->state == S_FAILED || !matches(s, o, ob))
            continue; /* a write reported failed never comes back (logstor.void) */
        if (nm == MAX_MATCH) {
            memmove(ob->match, ob->match + 1, (MAX_MATCH - 1) * sizeof(*ob->match));
            nm--;
        }
        ob->match[nm++] = *o;
    }
    ob->nmatch = nm;
    return nm;
}

static void describe(struct sim *s, uint32_t k, const struct obs *ob, char *buf, size_t len)
{
    uint32_t n = timeline(s, k);
    size_t p = 0;

    p += (size_t)snprintf(buf + p, len - p,
                          "key %u saw %s vid %" PRIu64 " exp %" PRIu64 " cas %" PRIu64
                          "; now %" PRIu64 " max %" PRIu64 "; timeline:",
                          k, ob->present ? "value" : "absent", ob->vid, ob->expire, ob->cas,
                          s->now_ms, s->max_ms);
    if (s->e) { /* where the index points */
        char name[64];
        int kl = key_name(s, k, name);
        uint64_t token;
        uint32_t hash2;
        struct idx_ent ent;
        token_of(name, (size_t)kl, &token, &hash2);
        if (idx_find(s->e->tables[key_table(s, k)], token, hash2, &ent) == 0) {
            uint32_t g = seg_of(&s->e->sm, idx_loc_addr(ent.loc));
            p += (size_t)snprintf(buf + p, len - p,
                                  " index: addr %" PRIu64 " size %u seg %u"
                                  " state %u seq %" PRIu64 ";",
                                  idx_loc_addr(ent.loc), idx_loc_size(ent.loc), g,
                                  s->e->sm.d[g].state, s->e->sm.d[g].seq);
        } else {
            p += (size_t)snprintf(buf + p, len - p, " index: none;");
        }
    }
    for (uint32_t i = n > 12 ? n - 12 : 0; i < n && p < len; i++) {
        const struct op *o = &s->ops[s->scratch[i]];
        p += (size_t)snprintf(buf + p, len - p,
                              " [%s id %" PRIu64 " vid %" PRIu64 " exp %" PRIu64 " cas %" PRIu64
                              " %s%s%s]",
                              o->kind == K_PUT   ? "put"
                              : o->kind == K_DEL ? "del"
                                                 : "flush",
                              o->id, o->vid, o->expire, o->cas,
                              o->state == S_ACKED    ? "acked"
                              : o->state == S_FAILED ? "failed"
                                                     : "pending",
                              o->synced ? " synced" : "", o->base ? " base" : "");
    }
}

/* ---- callbacks ---- */

struct wctx {
    struct sim *s;
    uint32_t gen, op;
};

static void write_cb(void *arg, int rc, uint64_t cas)
{
    struct wctx *w = arg;
    struct sim *s = w->s;

    s->outstanding--;
    if (w->gen == s->gen && !s->crashed) {
        struct op *o = &s->ops[w->op];
        if (o->state != S_PENDING)
            fail(s, "op %" PRIu64 ": callback ran twice", o->id);
        o->state = rc == 0 ? S_ACKED : S_FAILED;
        o->cas = rc == 0 && o->kind == K_PUT ? cas : 0;
        if (rc == LS_EFAILED)
            s->failed = 1;
        else if (rc != 0)
            fail(s, "op %" PRIu64 ": write callback rc %d (%s)", o->id, rc, ls_strerror(rc));
    }
    free(w);
}

struct sctx {
    struct sim *s;
    uint32_t gen;
    uint64_t barrier; /* ops with a smaller id are covered */
    int *done;
};

static void sync_cb(void *arg, int rc, uint64_t cas)
{
    struct sctx *c = arg;
    struct sim *s = c->s;

    (void)cas;
    s->outstanding--;
    if (c->gen == s->gen && !s->crashed) {
        if (rc == 0) /* acked or not yet: their acks may run after this callback */
            for (uint32_t i = 0; i < s->nops; i++)
                if (s->ops[i].id < c->barrier)
                    s->ops[i].synced = 1;
        if (rc == LS_EFAILED)
            s->failed = 1;
        else if (rc != 0)
            fail(s, "sync: rc %d", rc);
        if (c->done)
            *c->done = 1;
    }
    free(c);
}

enum { READ_EXACT, READ_RECOVERED };

struct rctx {
    struct sim *s;
    uint32_t gen, key, op; /* op: the expected one (READ_EXACT) */
    int mode;
    int loose; /* submitted after the engine failed: it may have reverted acked writes
                  (periodic mode), so any state a crash could leave is legal */
};

/* The type tag written with value vid (ls_write_opts.vtype): drawn from the id, not the
 * RNG, so that a read checks it without the model keeping it; most values untagged. */
static uint8_t vtag_of(uint64_t vid)
{
    uint64_t h = vid * UINT64_C(0x9E3779B97F4A7C15);
    return (h >> 60) < 10 ? 0 : (uint8_t)(1 + (h >> 40) % LS_VTYPE_MAX);
}

static void check_read(struct sim *s, struct rctx *c, int rc, const struct ls_item *it)
{
    struct obs ob = {0};
    char why[2000];
    int ok;

    if (rc == 0) {
        char name[64];
        int n = key_name(s, c->key, name);
        if (it->key_len != (uint32_t)n || memcmp(it->key, name, (size_t)n) != 0)
            fail(s, "key %u: read returned another key", c->key);
        ob.present = 1;
        ob.vid = value_vid(s, c->key, it->value, it->value_len);
        ob.vlen = it->value_len;
        ob.expire = it->expire_ms;
        ob.flags = it->flags;
        ob.cas = it->cas;
        if (!ob.vid)
            fail(s, "key %u: read returned a value that was never written (%u bytes)", c->key,
                 it->value_len);
        if (it->vtype != vtag_of(ob.vid))
            fail(s, "key %u: read returned type tag %u, written %u", c->key, it->vtype,
                 vtag_of(ob.vid));
    } else if (rc == LS_ECORRUPT && s->corrupt) {
        s->damage++;
        return;
    } else if (rc == -EIO && s->read_faults) {
        return;
    } else if (rc != LS_ENOTFOUND) {
        fail(s, "key %u: read failed: %d (%s)", c->key, rc, ls_strerror(rc));
    }
    s->reads_checked++;
    if (c->mode == READ_RECOVERED || c->loose)
        ok = legal_after_crash(s, c->key, &ob) > 0;
    else
        ok = matches(s, &s->ops[c->op], &ob);
    if (s->seen)
        s->seen[c->key] = ob;
    if (ok || (s->corrupt && s->damage))
        return; /* damage was reported: any value that was written, or none */
    describe(s, c->key, &ob, why, sizeof(why));
    fail(s, "%s read: illegal state: %s", c->mode == READ_RECOVERED ? "recovered" : "live", why);
}

static void read_cb(void *arg, int rc, const struct ls_item *it)
{
    struct rctx *c = arg;
    struct sim *s = c->s;

    s->outstanding--;
    if (c->gen == s->gen && !s->crashed)
        check_read(s, c, rc, it);
    free(c);
}

/* ---- driving the engine ---- */

static void poll_engine(struct sim *s)
{
    if (s->cfg.caller_ends_turns)
        ls_turn_end(s->e); /* logstord's loop: the group commit at the turn's end */
    int rc = ls_poll(s->e);

    if (rc < 0)
        fail(s, "ls_poll: %d", rc);
    if (s->e->failed) /* periodic mode learns of it from no callback */
        s->failed = 1;
    if (compact_freed(s->e) != s->freed_seen) {
        s->freed_seen = compact_freed(s->e);
        s->just_freed = 1; /* a moment worth a crash: step() may take it */
    }
}

/* Runs the device and the engine until *flag is set (or, flag NULL, until nothing of
 * ours is outstanding). */
static void drain(struct sim *s, const int *flag)
{
    for (uint32_t i = 0; flag ? !*flag : s->outstanding != 0; i++) {
        if (i == DRAIN_LIMIT)
            fail(s, "hang: %u callbacks never ran (device pending %u)", s->outstanding,
                 simdev_pending(s->dev));
        if (!simdev_execute(s->dev, 1 + (uint32_t)rnd(s, 4)))
            simdev_advance_ns(s->dev, 100000);
        poll_engine(s);
        if (i % 64 == 63)
            ls_tick(s->e);
    }
}

/* Keys: half the picks go to the hottest eighth of a table. Profile 1 writes table 0
 * (hot, flushed) four times as often as table 1, whose small values, evenly picked,
 * stay live beside the flushed ones in mixed segments. */
static uint32_t pick_key(struct sim *s)
{
    uint32_t t = (uint32_t)rnd(s, s->ntables), hot = s->nkeys / 8 ? s->nkeys / 8 : 1;
    uint32_t i = rnd(s, 2) ? (uint32_t)rnd(s, hot) : (uint32_t)rnd(s, s->nkeys);

    if (s->profile == 1) {
        t = rnd(s, 5) ? 0 : 1;
        if (t == 1)
            i = (uint32_t)rnd(s, s->nkeys);
    }
    return t * s->nkeys + i;
}

/* Value sizes: around avg_len (chosen per seed so the live data fills a share of the
 * disk: compaction must then copy, not only free dead segments), some up to half a write
 * buffer, large_pct of them larger than a write buffer (runs of segments). */
static uint32_t pick_len(struct sim *s, uint32_t k)
{
    uint32_t r = (uint32_t)rnd(s, 100), wb = s->cfg.write_buffer_size, n;

    if (s->profile == 1 && key_table(s, k) == 1)
        return 16 + (uint32_t)rnd(s, 48);
    if (s->profile == 3 && r < 70) /* one size: new records land where old ones were */
        return s->avg_len;
    if (r < 60)
        n = 16 + (uint32_t)rnd(s, s->avg_len);
    else if (r < 90)
        n = s->avg_len + (uint32_t)rnd(s, s->avg_len);
    else if (r < 100 - s->large_pct)
        n = 1000 + (uint32_t)rnd(s, wb / 2);
    else
        n = wb + (uint32_t)rnd(s, s->max_value > wb ? s->max_value - wb : 1);
    return n > s->max_value ? s->max_value : n;
}

static uint64_t pick_expire(struct sim *s)
{
    uint32_t r = (uint32_t)rnd(s, 100);

    if (r < (s->profile == 2 ? 30u : 66u))
        return 0;
    if (r < 76)
        return s->now_ms + 1 + rnd(s, 3000);
    if (r < 80)
        return s->now_ms > 1000 ? s->now_ms - rnd(s, 1000) : 1;
    if (r < 86)
        return s->now_ms + 1000 + rnd(s, 60000);
    if (r < 92)
        return s->now_ms + UINT64_C(86400000) * (1 + rnd(s, 365));
    /* beyond 44 bits of ms (year 2527) and up to Redis's range */
    return (UINT64_C(1) << (44 + rnd(s, 18))) + rnd(s, 1u << 20);
}

static void submitted(struct sim *s, uint32_t op, struct wctx *w)
{
    struct op *o = &s->ops[op];

    if (o->key == UINT32_MAX)
        list_add(&s->flushes[o->table], op);
    else
        list_add(&s->keys[o->key], op);
    w->op = op;
    s->outstanding++;
}

/* A submission error: what the engine may refuse, and what it may not. */
static void refused(struct sim *s, const char *what, int rc)
{
    if (rc == LS_EFAILED) {
        s->failed = 1;
        return;
    }
    if (rc == LS_EBUSY || rc == LS_ENOSPACE) {
        s->busy_run++;
        return;
    }
    fail(s, "%s refused: %d (%s)", what, rc, ls_strerror(rc));
}

static void do_put(struct sim *s)
{
    uint32_t k = pick_key(s), len = pick_len(s, k);
    uint32_t t = key_table(s, k), op = op_new(s, K_PUT, k, (uint16_t)t);
    struct op *o = &s->ops[op];
    struct wctx *w = malloc(sizeof(*w));
    char name[64];
    int n = key_name(s, k, name), rc;

    o->vid = o->id;
    o->vlen = len;
    o->expire = pick_expire(s);
    o->flags = (uint32_t)rnd(s, 3) ? 0 : (uint32_t)simdev_rand(s->dev);
    make_value(s->vbuf, o->vid, k, len);
    struct ls_write_opts wo = {.expire_ms = o->expire, .flags = o->flags, .vtype = vtag_of(o->vid)};
    *w = (struct wctx){.s = s, .gen = s->gen};
    if (o->expire && o->expire <= s->now_ms)
        o->kind = K_DEL; /* already expired: the key ends up absent */
    trace(s, "put %s len %u exp %" PRIu64 " id %" PRIu64, name, len, o->expire, o->id);
    rc = ls_put(s->e, t, name, (size_t)n, s->vbuf, len, &wo, write_cb, w);
    if ((rc == LS_EINVAL) != (o->expire > LS_EXPIRE_MAX))
        fail(s, "put with expiry %" PRIu64 ": rc %d", o->expire, rc);
    if (rc == LS_EINVAL)
        rc = LS_EBUSY; /* refused, as it must be */
    if (rc < 0) {
        s->nops--;
        free(w);
        refused(s, "put", rc);
        return;
    }
    s->busy_run = 0;
    s->puts++;
    submitted(s, op, w);
}

static void do_del(struct sim *s)
{
    uint32_t k = pick_key(s), t = key_table(s, k), op = op_new(s, K_DEL, k, (uint16_t)t);
    struct wctx *w = malloc(sizeof(*w));
    char name[64];
    int n = key_name(s, k, name), rc;

    *w = (struct wctx){.s = s, .gen = s->gen};
    trace(s, "del %s id %" PRIu64, name, s->ops[op].id);
    rc = ls_del(s->e, t, name, (size_t)n, write_cb, w);
    if (rc < 0) {
        s->nops--;
        free(w);
        if (rc == LS_ENOTFOUND) {
            struct obs ob = {0};
            char why[2000];
            if (!s->failed && !matches(s, &s->ops[current_op(s, k)], &ob)) {
                describe(s, k, &ob, why, sizeof(why));
                fail(s, "del said not found: %s", why);
            }
            return;
        }
        refused(s, "del", rc);
        return;
    }
    s->dels++;
    submitted(s, op, w);
}

static void do_flush(struct sim *s)
{
    uint32_t t = s->profile == 1 ? 0 : (uint32_t)rnd(s, s->ntables);
    uint32_t op = op_new(s, K_FLUSH, UINT32_MAX, (uint16_t)t);
    struct wctx *w = malloc(sizeof(*w));
    int rc;

    *w = (struct wctx){.s = s, .gen = s->gen};
    trace(s, "flush table %u id %" PRIu64, t, s->ops[op].id);
    rc = ls_flush_table(s->e, t, write_cb, w);
    if (rc < 0) {
        s->nops--;
        free(w);
        refused(s, "flush", rc);
        return;
    }
    s->flushes_n++;
    submitted(s, op, w);
}

struct bctx {
    struct sim *s;
    uint32_t gen, first, n;
};

static void batch_cb(void *arg, int rc, uint64_t cas)
{
    struct bctx *b = arg;
    struct sim *s = b->s;

    s->outstanding--;
    if (b->gen == s->gen && !s->crashed) {
        for (uint32_t i = 0; i < b->n; i++) {
            struct op *o = &s->ops[b->first + i];
            if (o->state != S_PENDING)
                fail(s, "batch op %" PRIu64 ": callback ran twice", o->id);
            o->state = rc == 0 ? S_ACKED : S_FAILED;
            o->cas = rc == 0 && o->kind == K_PUT && i + 1 == b->n ? cas : 0;
        }
        if (rc == LS_EFAILED)
            s->failed = 1;
        else if (rc != 0)
            fail(s, "batch: callback rc %d (%s)", rc, ls_strerror(rc));
    }
    free(b);
}

/* 2 to 6 puts and deletes of distinct keys, any tables, as one ls_write_batch. */
static void do_batch(struct sim *s)
{
    struct ls_batch_op bo[6];
    char names[6][64];
    uint8_t *vals[6] = {0};
    uint32_t n = 2 + (uint32_t)rnd(s, 5), first = s->nops, budget;
    int too_far = 0, rc;

    budget = ls_batch_max_bytes(s->e) / n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = pick_key(s), t = key_table(s, k);
        for (uint32_t j = 0; j < i; j++)
            if (s->ops[first + j].key == k)
                k = UINT32_MAX;
        if (k == UINT32_MAX) { /* a repeated key: fewer ops */
            n = i;
            break;
        }
        int kl = key_name(s, k, names[i]);
        uint32_t op = op_new(s, rnd(s, 4) ? K_PUT : K_DEL, k, (uint16_t)t);
        struct op *o = &s->ops[op];
        o->batch = s->nbatches + 1;
        bo[i] = (struct ls_batch_op){
            .del = o->kind == K_DEL, .table = t, .key = names[i], .key_len = (size_t)kl};
        if (o->kind == K_DEL)
            continue;
        uint32_t len = pick_len(s, k), room = budget - ls_record_size((size_t)kl, 0) - 8;
        o->vid = o->id;
        o->vlen = len > room ? room : len;
        o->expire = pick_expire(s);
        too_far |= o->expire > LS_EXPIRE_MAX;
        vals[i] = malloc(o->vlen ? o->vlen : 1);
        make_value(vals[i], o->vid, k, o->vlen);
        bo[i].value = vals[i];
        bo[i].value_len = o->vlen;
        bo[i].opts = (struct ls_write_opts){.expire_ms = o->expire, .vtype = vtag_of(o->vid)};
        if (o->expire && o->expire <= s->now_ms)
            o->kind = K_DEL; /* already expired: the key ends up absent */
    }
    /* In one seed of 8 (none of regress*.txt's), half the batches are ordered: no draw,
     * so the other seeds replay as before. order_check holds them to it. */
    int ordered = s->seed % 8 == 7 && n && (s->ops[first].id & 1);
    for (uint32_t i = 0; i < n; i++)
        bo[i].opts.ordered = (uint8_t)ordered;
    struct bctx *b = malloc(sizeof(*b));
    *b = (struct bctx){.s = s, .gen = s->gen, .first = first, .n = n};
    trace(s, "%sbatch of %u from id %" PRIu64, ordered ? "ordered " : "", n,
          n ? s->ops[first].id : 0);
    for (uint32_t i = 0; i < n; i++)
        trace(s, "  batch %s %s len %u exp %" PRIu64 " id %" PRIu64,
              s->ops[first + i].kind == K_PUT ? "put" : "del", names[i], s->ops[first + i].vlen,
              s->ops[first + i].expire, s->ops[first + i].id);
    rc = n < 2 ? LS_EBUSY : ls_write_batch(s->e, bo, n, batch_cb, b);
    for (uint32_t i = 0; i < 6; i++)
        free(vals[i]);
    if (n >= 2 && ((rc == LS_EINVAL && !too_far) || (rc == 0 && too_far)))
        fail(s, "batch with an expiry past 2^44: rc %d", rc);
    if (rc < 0) {
        s->nops = first;
        free(b);
        if (rc != LS_EINVAL && n >= 2)
            refused(s, "batch", rc);
        return;
    }
    if (s->nbatches == s->capbatches) {
        s->capbatches = s->capbatches ? s->capbatches * 2 : 64;
        s->batches = realloc(s->batches, s->capbatches * sizeof(*s->batches));
        if (!s->batches)
            abort();
    }
    s->batches[s->nbatches++] = (struct batch){first, n, ordered};
    for (uint32_t i = 0; i < n; i++)
        list_add(&s->keys[s->ops[first + i].key], first + i);
    s->outstanding++;
    s->busy_run = 0;
    s->batches_n++;
}

/* After a reopen: a batch shows whole or not at all. A key whose state only its op in
 * the batch explains shows the batch; a key whose state only older ops explain shows
 * none of it (a key showing a later op says nothing: the later write may have survived
 * a batch that did not). Both in one batch: it was torn. */
static void batch_check(struct sim *s)
{
    for (uint32_t b = 0; b < s->nbatches; b++) {
        int shown = -1, hidden = -1;
        for (uint32_t i = 0; i < s->batches[b].n; i++) {
            const struct op *o = &s->ops[s->batches[b].first + i];
            const struct obs *ob = &s->seen[o->key];
            uint32_t same = 0, older = 0;
            for (uint32_t m = 0; m < ob->nmatch; m++) {
                same += ob->match[m].id == o->id;
                older += ob->match[m].id < o->id;
            }
            if (ob->nmatch && same == ob->nmatch)
                shown = (int)i;
            if (ob->nmatch && older == ob->nmatch)
                hidden = (int)i;
        }
        if (shown >= 0 && hidden >= 0) {
            const struct op *a = &s->ops[s->batches[b].first + (uint32_t)shown];
            const struct op *h = &s->ops[s->batches[b].first + (uint32_t)hidden];
            const struct obs *ho = &s->seen[h->key];
            trace(s, "key %u seen: present %d vid %" PRIu64 " len %u exp %" PRIu64, h->key,
                  ho->present, ho->vid, ho->vlen, ho->expire);
            for (uint32_t m = 0; m < ho->nmatch; m++)
                trace(s, "  explained by id %" PRIu64, ho->match[m].id);
            {
                char buf[2048];
                describe(s, h->key, &s->seen[h->key], buf, sizeof(buf));
                fprintf(stderr, "%s\n", buf);
                describe(s, a->key, &s->seen[a->key], buf, sizeof(buf));
                fprintf(stderr, "%s\n", buf);
            }
            ho = &s->seen[a->key];
            trace(s, "key %u seen: present %d vid %" PRIu64 " len %u exp %" PRIu64, a->key,
                  ho->present, ho->vid, ho->vlen, ho->expire);
            for (uint32_t m = 0; m < ho->nmatch; m++)
                trace(s, "  explained by id %" PRIu64, ho->match[m].id);
            fail(s,
                 "batch of %u torn: key %u shows its op id %" PRIu64 ", key %u shows "
                 "what came before its op id %" PRIu64,
                 s->batches[b].n, a->key, a->id, h->key, h->id);
        }
    }
}

/* The key's state as observed is explained only by ops older than o: o was lost. */
static int op_lost(const struct sim *s, const struct op *o)
{
    const struct obs *ob = &s->seen[o->key];
    uint32_t older = 0;
    for (uint32_t m = 0; m < ob->nmatch; m++)
        older += ob->match[m].id < o->id;
    return ob->nmatch && older == ob->nmatch;
}

/* After a reopen: an ordered batch (ls_write_opts.ordered) that shows never reached the
 * disk ahead of an op submitted before it, so no such op was lost. (An unordered write
 * may survive an earlier one lost in flight: recovery applies intact later buffers.) */
static void order_check(struct sim *s)
{
    const struct op *lost = NULL;
    for (uint32_t i = 0; i < s->nops && !lost; i++) {
        const struct op *o = &s->ops[i];
        if (!o->base && o->state != S_FAILED && o->kind != K_FLUSH && op_lost(s, o))
            lost = o;
    }
    for (uint32_t b = 0; lost && b < s->nbatches; b++) {
        const struct batch *bt = &s->batches[b];
        const struct op *f = &s->ops[bt->first];
        if (!bt->ordered || f->id < lost->id)
            continue;
        for (uint32_t i = 0; i < bt->n; i++) {
            const struct op *o = &s->ops[bt->first + i];
            const struct obs *ob = &s->seen[o->key];
            uint32_t same = 0;
            for (uint32_t m = 0; m < ob->nmatch; m++)
                same += ob->match[m].id == o->id;
            if (ob->nmatch && same == ob->nmatch)
                fail(s,
                     "ordered batch from id %" PRIu64 " (key %u shows it) survived op id %" PRIu64
                     " (key %u), lost",
                     f->id, o->key, lost->id, lost->key);
        }
    }
}

/* ---- collections: a root and pages, written together as ordered batches ----
 *
 * What logstord does with a large collection (server/large.c): each write is one batch of
 * the pages it changes (or deletes) and the root, which names every page's version, and
 * is computed from the previous write while that may still be in flight, so it is
 * ordered (ls_write_opts.ordered). After any crash the root found must name exactly the
 * pages found (torn: "data corruption" in logstord), and in sync mode be no older than
 * the last write acknowledged. */

static int coll_key(uint32_t c, int page, char *buf)
{
    return page < 0 ? sprintf(buf, "c%u:root", c) : sprintf(buf, "c%u:p%d", c, page);
}

static uint32_t coll_page_len(uint64_t serial, uint32_t page)
{
    return 16 + (uint32_t)(mix(serial * 31 + page) % 200);
}

static void coll_page_value(uint8_t *v, uint32_t c, uint32_t page, uint64_t serial)
{
    uint32_t n = coll_page_len(serial, page);
    memcpy(v, &serial, 8);
    memcpy(v + 8, &c, 4);
    memcpy(v + 12, &page, 4);
    for (uint32_t i = 16; i < n; i++)
        v[i] = (uint8_t)(serial + i * 7);
}

struct cctx {
    struct sim *s;
    uint32_t gen, c;
    uint64_t serial;
};

static void coll_cb(void *arg, int rc, uint64_t cas)
{
    struct cctx *x = arg;
    struct sim *s = x->s;

    (void)cas;
    s->outstanding--;
    if (x->gen == s->gen && !s->crashed) {
        if (rc == 0 && x->serial > s->coll[x->c].acked)
            s->coll[x->c].acked = x->serial;
        else if (rc != 0)
            s->coll[x->c].stale = 1; /* reverted in memory: the model no longer knows */
    }
    free(x);
}

static void coll_write(struct sim *s)
{
    uint32_t c = (uint32_t)rnd(s, NCOLL), n = 1 + (uint32_t)rnd(s, 3), np = 0;
    struct coll *m = &s->coll[c];
    struct ls_batch_op ops[COLL_PAGES + 1];
    char names[COLL_PAGES + 1][32];
    uint8_t vals[COLL_PAGES][216], root[8 * (COLL_PAGES + 1)];
    uint64_t page[COLL_PAGES], serial = m->serial + 1;

    if (m->stale || s->failed)
        return;
    memcpy(page, m->page, sizeof(page));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = (uint32_t)rnd(s, COLL_PAGES);
        int dup = 0;
        for (uint32_t j = 0; j < np; j++)
            dup |= ops[j].key_len == (size_t)coll_key(c, (int)p, names[np]) &&
                   memcmp(ops[j].key, names[np], ops[j].key_len) == 0;
        if (dup)
            continue;
        int del = page[p] && rnd(s, 4) == 0;
        int kl = coll_key(c, (int)p, names[np]);
        ops[np] = (struct ls_batch_op){.del = del,
                                       .table = s->coll_table,
                                       .key = names[np],
                                       .key_len = (size_t)kl,
                                       .opts = {.ordered = 1}};
        if (!del) {
            coll_page_value(vals[np], c, p, serial);
            ops[np].value = vals[np];
            ops[np].value_len = coll_page_len(serial, p);
        }
        page[p] = del ? 0 : serial;
        np++;
    }
    memcpy(root, &serial, 8);
    memcpy(root + 8, page, sizeof(page));
    ops[np] = (struct ls_batch_op){.table = s->coll_table,
                                   .key = names[np],
                                   .key_len = (size_t)coll_key(c, -1, names[np]),
                                   .value = root,
                                   .value_len = sizeof(root),
                                   .opts = {.ordered = 1}};
    struct cctx *x = malloc(sizeof(*x));
    *x = (struct cctx){.s = s, .gen = s->gen, .c = c, .serial = serial};
    int rc = ls_write_batch(s->e, ops, np + 1, coll_cb, x);
    trace(s, "collection %u write %" PRIu64 " (%u pages): rc %d", c, serial, np, rc);
    if (rc < 0) { /* refused (busy, no space): nothing written */
        free(x);
        return;
    }
    s->outstanding++;
    m->serial = serial;
    memcpy(m->page, page, sizeof(page));
    s->coll_writes++;
}

struct cget {
    int done, rc;
    uint32_t len;
    uint8_t v[256];
};

static void cget_cb(void *arg, int rc, const struct ls_item *it)
{
    struct cget *g = arg;
    g->done = 1;
    g->rc = rc;
    if (rc == 0) {
        g->len = it->value_len < sizeof(g->v) ? (uint32_t)it->value_len : (uint32_t)sizeof(g->v);
        memcpy(g->v, it->value, g->len);
    }
}

static int coll_get(struct sim *s, uint32_t c, int page, struct cget *g)
{
    char name[32];
    int n = coll_key(c, page, name);

    *g = (struct cget){0};
    s->outstanding++;
    int rc = ls_get(s->e, s->coll_table, name, (size_t)n, cget_cb, g);
    if (rc < 0) {
        s->outstanding--;
        return rc;
    }
    drain(s, &g->done);
    s->outstanding--;
    return g->rc;
}

/* After a reopen: each collection's root names exactly the pages found. */
static void coll_check(struct sim *s)
{
    for (uint32_t c = 0; c < NCOLL && s->colls; c++) {
        struct coll *m = &s->coll[c];
        struct cget g;
        uint64_t serial = 0, page[COLL_PAGES] = {0};
        int rc = coll_get(s, c, -1, &g), unsure = 0;
        if (rc == 0 && g.len == 8 * (COLL_PAGES + 1)) {
            memcpy(&serial, g.v, 8);
            memcpy(page, g.v + 8, sizeof(page));
        } else if (rc == 0) {
            fail(s, "collection %u: its root has %u bytes", c, g.len);
        } else if (rc != LS_ENOTFOUND) {
            unsure = 1; /* a read fault */
        }
        for (uint32_t p = 0; p < COLL_PAGES && !unsure; p++) {
            rc = coll_get(s, c, (int)p, &g);
            uint64_t found = 0;
            if (rc == 0) {
                uint8_t want[216];
                memcpy(&found, g.v, 8);
                coll_page_value(want, c, p, found);
                if (g.len != coll_page_len(found, p) || memcmp(want, g.v, g.len) != 0)
                    fail(s, "collection %u page %u: its value is not write %" PRIu64 "'s", c, p,
                         found);
            } else if (rc != LS_ENOTFOUND) {
                unsure = 1;
                break;
            }
            if (found != page[p])
                fail(s,
                     "collection %u torn: its root (write %" PRIu64
                     ") names page %u of write %" PRIu64 ", the page found is of write %" PRIu64
                     " (0: absent)",
                     c, serial, p, page[p], found);
        }
        if (unsure) {
            m->stale = 1;
            continue;
        }
        if (s->cfg.durability == LS_SYNC && !run_snapshots && serial < m->acked)
            fail(s,
                 "collection %u: write %" PRIu64
                 " was acknowledged, the root found is write %" PRIu64,
                 c, m->acked, serial);
        memcpy(m->page, page, sizeof(page));
        m->acked = serial;
        m->stale = 0;
        s->coll_checked++;
    }
}

static void start_read(struct sim *s, uint32_t k, int mode)
{
    struct rctx *c = malloc(sizeof(*c));
    char name[64];
    int n = key_name(s, k, name), rc;

    *c = (struct rctx){.s = s, .gen = s->gen, .key = k, .mode = mode, .loose = s->failed};
    if (mode == READ_EXACT)
        c->op = current_op(s, k);
    s->outstanding++;
    if (k & 1) { /* half the keys try memory first, as GET does (no draw: seeds replay) */
        struct ls_item it;
        rc = ls_get_mem(s->e, key_table(s, k), name, (size_t)n, &it);
        if (rc != 1) {
            s->mem_reads += rc == 0;
            read_cb(c, rc, rc == 0 ? &it : NULL);
            return;
        }
    }
    rc = ls_get(s->e, key_table(s, k), name, (size_t)n, read_cb, c);
    if (rc < 0) /* refused at once: LS_ENOTFOUND (absent) is the answer */
        read_cb(c, rc, NULL);
}

static int *sync_start(struct sim *s, int *done)
{
    struct sctx *c = malloc(sizeof(*c));
    int rc;

    *c = (struct sctx){.s = s, .gen = s->gen, .barrier = s->next_id, .done = done};
    s->outstanding++;
    rc = ls_sync(s->e, sync_cb, c);
    if (rc < 0) {
        s->outstanding--;
        free(c);
        return NULL;
    }
    return done;
}

/* ---- checks ---- */

struct scan_state {
    uint8_t *present;
    int done, rc;
    uint64_t next;
    uint32_t table;
    struct sim *s;
};

static void scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct scan_state *st = arg;
    struct sim *s = st->s;

    st->done = 1;
    st->rc = rc;
    st->next = next;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        char name[64], want[64];
        uint32_t idx, len = keys[i].key_len < 63 ? keys[i].key_len : 63;
        memcpy(name, keys[i].key, len);
        name[len] = 0;
        if (sscanf(name, "t%*u:k%u:", &idx) != 1 || idx >= s->nkeys)
            fail(s, "scan of table %u returned a key we never wrote", st->table);
        /* the whole key, this table's: not another record's, nor bytes written over it */
        uint32_t k = st->table * s->nkeys + idx;
        if ((uint32_t)key_name(s, k, want) != keys[i].key_len ||
            memcmp(want, keys[i].key, keys[i].key_len) != 0)
            fail(s, "scan of table %u returned key '%.*s', not '%s'", st->table, (int)len, name,
                 want);
        else if (st->present[k])
            fail(s, "scan of table %u listed key %u twice", st->table, k);
        st->present[k] = 1;
    }
}

/* The filter of odd tables' scans (ls_scan_match): keys whose number is not a multiple
 * of 3. */
static int scan_filter(void *marg, const void *key, uint32_t key_len, uint8_t vtype)
{
    char name[64];
    uint32_t idx, len = key_len < 63 ? key_len : 63;

    (void)marg;
    (void)vtype;
    memcpy(name, key, len);
    name[len] = 0;
    return sscanf(name, "t%*u:k%u:", &idx) != 1 || idx % 3 != 0;
}

/* A full scan of every table must list exactly the keys present and not expired (in odd
 * tables, through a filter that leaves out a third of them). */
static void scan_check(struct sim *s)
{
    struct scan_state st = {.s = s};

    if (s->failed || s->corrupt || s->read_faults)
        return;
    st.present = calloc(s->nall, 1);
    for (st.table = 0; st.table < s->ntables; st.table++) {
        st.next = 0;
        do {
            st.done = 0;
            if (ls_scan_match(s->e, st.table, st.next, 1 + (uint32_t)rnd(s, 40),
                              st.table % 2 ? scan_filter : NULL, NULL, scan_cb, &st) < 0)
                fail(s, "ls_scan refused");
            drain(s, &st.done);
            if (st.rc != 0)
                goto out; /* a read fault */
        } while (st.next);
    }
    for (uint32_t k = 0; k < s->nall; k++) {
        /* after a reopen, what the reads saw; else what the model says now */
        struct op cur = s->ops[current_op(s, k)], *o = &cur;
        if (s->seen)
            cur = (struct op){.kind = s->seen[k].present ? K_PUT : K_DEL,
                              .expire = s->seen[k].expire};
        int want = o->kind == K_PUT && (!o->expire || o->expire > s->now_ms) &&
                   !(k / s->nkeys % 2 && k % s->nkeys % 3 == 0); /* filtered out */
        if (o->kind == K_PUT && o->expire && s->max_ms >= o->expire)
            continue; /* dropped once expired, or alive again after the clock went back */
        if (want != st.present[k] && !s->failed) {
            struct obs ob = {.present = st.present[k]};
            char why[2000];
            describe(s, k, &ob, why, sizeof(why));
            fail(s, "scan %s key %u: %s", want ? "missed" : "listed", k, why);
        }
    }
out:
    free(st.present);
}

/* The rule that keeps deleted keys deleted (compact.c), checked against the device
 * image: a freed segment that recovery would still read may hold dead PUTs; each must
 * be at or above the low water (or be live elsewhere as a copy with its rseq), else a
 * hider that covers it may be dropped and a restart brings it back. */
struct stale_walk {
    struct sim *s;
    uint64_t lw;
    uint32_t g;
};

static uint64_t live_rseq(struct sim *s, uint16_t table, const uint8_t *key, uint32_t klen)
{
    struct ls_engine *e = s->e;
    uint64_t token, off;
    uint32_t hash2;
    struct idx_ent ent;
    struct rec_view v;
    uint8_t *buf;
    int fd;

    token_of(key, klen, &token, &hash2);
    if (table >= e->cfg.tables || idx_find(e->tables[table], token, hash2, &ent) != 0)
        return 0;
    uint64_t addr = idx_loc_addr(ent.loc), rseq = 0;
    uint32_t size = idx_loc_size(ent.loc);
    buf = malloc(size);
    if (!wbuf_read_mem(e, addr, size, buf) && (fd = seg_fd(&e->sm, addr, &off)) >= 0)
        simdev_peek(s->dev, fd, off, buf, size);
    if (rec_decode(buf, size, rec_seed(e->seed, e->sm.d[seg_of(&e->sm, addr)].seq), &v) == 0)
        rseq = v.h.rseq;
    free(buf);
    return rseq;
}

static void stale_visit(void *arg, const struct rec_view *v, uint64_t addr)
{
    struct stale_walk *w = arg;

    (void)addr;
    if (v->h.type != REC_PUT || v->h.rseq >= w->lw)
        return;
    if (live_rseq(w->s, v->h.table, v->key, v->h.key_len) == v->h.rseq)
        return; /* copied, and the copy is live */
    fail(w->s,
         "freed segment %u (readable until reused) holds a dead PUT, rseq %" PRIu64
         ", below the low water %" PRIu64 ": a hider over it may be dropped",
         w->g, v->h.rseq, w->lw);
}

static void stale_check(struct sim *s)
{
    struct ls_engine *e = s->e;
    struct stale_walk w = {.s = s, .lw = compact_low_water(e)};
    uint8_t *seg = malloc(e->sm.seg_size);

    for (uint32_t g = 0; g < e->sm.nsegs && !s->corrupt; g++) {
        const struct seg_desc *d = &e->sm.d[g];
        uint64_t off;
        int fd;
        if (d->state != SEG_FREE || !d->freed_at || !d->seq ||
            (fd = seg_fd(&e->sm, (uint64_t)g * e->sm.seg_size, &off)) < 0)
            continue;
        simdev_peek(s->dev, fd, off, seg, e->sm.seg_size);
        w.g = g;
        seg_walk(e, seg, e->sm.seg_size, g, stale_visit, &w);
    }
    free(seg);
}

static void engine_check(struct sim *s, const char *when)
{
    char why[256];

    if (eng_check(s->e, why, sizeof(why)) != 0)
        fail(s, "eng_check %s: %s", when, why);
    if (!s->failed)
        stale_check(s);
}

/* Reads every key (mode READ_RECOVERED after a reopen) and runs the engine's checks. */
static void full_check(struct sim *s, int mode)
{
    trace(s, "full check (%s)", mode == READ_RECOVERED ? "recovered" : "live");
    for (uint32_t k = 0; k < s->nall; k++)
        start_read(s, k, mode);
    drain(s, NULL);
    scan_check(s);
    engine_check(s, "after a full check");
    s->checks++;
}

/* ---- instances: open, crash, restart ---- */

static void set_faults(struct sim *s)
{
    struct simdev_faults f = {0};
    uint32_t r = (uint32_t)rnd(s, 100);

    s->read_faults = 0;
    if (r < 4)
        f.write_eio_ppm = 1000 + (uint32_t)rnd(s, 20000);
    else if (r < 7)
        f.write_enospc_ppm = 1000 + (uint32_t)rnd(s, 20000);
    else if (r < 10)
        f.short_write_ppm = 1000 + (uint32_t)rnd(s, 20000);
    else if (r < 14) {
        f.read_eio_ppm = 1000 + (uint32_t)rnd(s, 20000);
        s->read_faults = 1;
    }
    if (r < 14) {
        s->faults++;
        trace(s, "faults: write eio %u enospc %u short %u read eio %u (ppm)", f.write_eio_ppm,
              f.write_enospc_ppm, f.short_write_ppm, f.read_eio_ppm);
    }
    simdev_set_faults(s->dev, &f);
}

/* The ops that explain each key's state as just observed become its base ops: an
 * absent key may be absent because of a delete or because its PUT expired (and then
 * that PUT may show again after the clock went back), so both stay candidates. */
static void rebase(struct sim *s)
{
    s->nops = 0;
    for (uint32_t t = 0; t < MAX_TABLES; t++)
        s->flushes[t].n = 0;
    for (uint32_t k = 0; k < s->nall; k++) {
        const struct obs *ob = &s->seen[k];
        uint32_t nm = ob->nmatch ? ob->nmatch : 1;
        s->keys[k].n = 0;
        for (uint32_t i = 0; i < nm; i++) {
            uint32_t op = op_new(s, K_DEL, k, (uint16_t)key_table(s, k));
            struct op *o = &s->ops[op];
            if (ob->nmatch) {
                *o = ob->match[i];
                o->id = s->next_id - 1;
                o->key = k;
                o->table = (uint16_t)key_table(s, k);
            } else if (ob->present) { /* a damaged instance: what it showed */
                o->kind = K_PUT;
                o->vid = ob->vid;
                o->vlen = ob->vlen;
                o->expire = ob->expire;
                o->flags = ob->flags;
                o->cas = ob->cas;
            }
            if (o->kind == K_FLUSH)
                o->kind = K_DEL;
            o->state = S_ACKED;
            o->base = 1;
            o->synced = 0;
            list_add(&s->keys[k], op);
        }
    }
}

static void snap_reopened(struct sim *s);
static void rollback_model(struct sim *s);

static void open_engine(struct sim *s)
{
    struct simdev_faults none = {0};
    struct ls_stats st;
    int rc;

    simdev_set_faults(s->dev, &none);
    s->read_faults = 0;
    s->gen++;
    s->crashed = s->failed = 0;
    s->freed_seen = 0;
    s->damage = 0;
    rc = ls_open(&s->cfg, &s->e);
    if (s->cfg.rollback && rc == 0) {
        rollback_model(s);
    } else if (s->cfg.rollback && rc == LS_ENOSPACE) {
        /* no room for its tombstones: refused with the directory as it was */
        trace(s, "rollback refused for want of room");
        s->cfg.rollback = NULL;
        rc = ls_open(&s->cfg, &s->e);
    }
    if (rc == LS_ECORRUPT && s->corrupt) {
        /* the damage hit what recovery needs to trust a file (a run's head, say): the
         * open is refused, as designed, until the user asks for salvage */
        trace(s, "open refused on the damaged image: salvage");
        s->cfg.salvage = 1;
        rc = ls_open(&s->cfg, &s->e);
        s->cfg.salvage = 0;
    }
    if (rc < 0)
        fail(s, "ls_open: %d (%s)", rc, ls_strerror(rc));
    if (run_snapshots)
        snap_reopened(s);
    ls_get_stats(s->e, &st);
    s->damage = st.recovery_corrupt_blocks;
    if (st.recovery_from_checkpoint) {
        s->ckpt_opens++;
        s->ckpt_clean += st.recovery_from_checkpoint == 2;
        s->ckpt_journal += st.recovery_heads_presumed != 0;
        trace(s, "opened from a checkpoint%s",
              st.recovery_from_checkpoint == 2 ? " without reading segment heads" : "");
    } else if (s->stale_ckpt) {
        /* the scan took the last rseq from the log, possibly below the kept checkpoint's:
         * the engine deleted the file it did not use for that reason, and a copy of an
         * older one put back by hand is outside what it promises */
        free(s->stale_ckpt);
        s->stale_ckpt = NULL;
    }

    trace(s, "open: %" PRIu64 " records, %" PRIu64 " corrupt blocks, %" PRIu64 " segments",
          st.recovery_records, st.recovery_corrupt_blocks, st.recovery_segments);
    if (st.recovery_corrupt_blocks && !s->corrupt) {
        /* torn writes are damage too, but only in blocks of unacknowledged buffers;
         * the model checks what matters: no acknowledged write lost */
    }
    s->seen = calloc(s->nall, sizeof(*s->seen));
    full_check(s, READ_RECOVERED);
    if (!s->corrupt) {
        batch_check(s);
        order_check(s);
        coll_check(s);
    }
    s->nbatches = 0;
    rebase(s);
    free(s->seen);
    s->seen = NULL;
    set_faults(s);
}

static void crash(struct sim *s)
{
    trace(s, "CRASH (device pending %u)", simdev_pending(s->dev));
    simdev_crash(s->dev);
    if (s->seed % 16 == 0 && rnd(s, 2)) {
        simdev_corrupt(s->dev, 1 + (uint32_t)rnd(s, 3));
        s->corrupt = 1;
        trace(s, "corrupted the image");
    }
    s->crashed = 1;
    add_stats(s->e);
    ls_close(s->e);
    s->e = NULL;
    if (s->outstanding)
        fail(s, "%u callbacks did not run in ls_close", s->outstanding);
    simdev_revive(s->dev);
    if (s->stale_ckpt) {
        /* a checkpoint older than the log (a user restoring one, say): the open rolls
         * forward from it through everything written since, or scans the log */
        simdev_write_file(s->dev, CKPT_FILE, s->stale_ckpt, s->stale_len);
        free(s->stale_ckpt);
        s->stale_ckpt = NULL;
        s->ckpt_stale++;
        trace(s, "an older checkpoint put back");
    }
    s->crashes++;
    open_engine(s);
}

/* After a clean close: sometimes damages the checkpoint it wrote (the open must scan the
 * log instead), sometimes keeps a copy for a later crash to put back. Chosen by the
 * seed and the restart's number, not drawn, so that seeds replay as before. */
static void ckpt_tamper(struct sim *s)
{
    int64_t n = simdev_file_size(s->dev, CKPT_FILE);
    uint64_t h =
        (s->seed + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ s->restarts * UINT64_C(0xBF58476D1CE4E5B9);

    h ^= h >> 31;
    if (n <= 0 || h % 8 > 1)
        return;
    uint8_t *b = malloc((size_t)n);
    if (!b || simdev_read_file(s->dev, CKPT_FILE, b, (size_t)n) != n)
        fail(s, "reading %s back failed", CKPT_FILE);
    if (h % 8 == 0) {
        b[(h >> 8) % (uint64_t)n] ^= (uint8_t)(1u << (h >> 40) % 8);
        simdev_write_file(s->dev, CKPT_FILE, b, (size_t)n);
        free(b);
        s->ckpt_damaged++;
        trace(s, "one bit of the checkpoint flipped");
        return;
    }
    free(s->stale_ckpt);
    s->stale_ckpt = b;
    s->stale_len = (size_t)n;
}

/* ---- snapshots (--snapshots) ---- */

struct snctx {
    struct sim *s;
    uint32_t gen;
};

static void snap_cb(void *arg, int rc, uint64_t cas)
{
    struct snctx *c = arg;
    struct sim *s = c->s;
    (void)cas;
    if (c->gen == s->gen) {
        s->snap_busy = 0;
        s->snap_valid = rc == 0;
        if (rc == 0)
            s->snaps_made++;
        trace(s, "snapshot s %s (%d)", rc == 0 ? "made" : "not made", rc);
    }
    free(c);
}

/* The snapshot holds, for each key, what the index held at the call: the newest op not
 * known to have failed (a write before it that fails makes the snapshot fail too); when
 * that is one of the base ops a reopen left, any of them. */
static void snap_capture(struct sim *s)
{
    s->nsnapops = 0;
    for (uint32_t k = 0; k < s->nall; k++) {
        uint32_t n = timeline(s, k), cur = current_op(s, k);
        s->snapc[k].n = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t o = s->scratch[i];
            if (o != cur && !(s->ops[cur].base && s->ops[o].base))
                continue;
            if (s->nsnapops == s->capsnapops) {
                s->capsnapops = s->capsnapops ? s->capsnapops * 2 : 1024;
                s->snapops = realloc(s->snapops, s->capsnapops * sizeof(*s->snapops));
                if (!s->snapops)
                    abort();
            }
            s->snapops[s->nsnapops] = s->ops[o];
            list_add(&s->snapc[k], s->nsnapops++);
        }
    }
}

static void do_snapshot(struct sim *s)
{
    if (s->snap_busy || s->failed)
        return;
    if (s->snap_valid) {
        int rc = ls_snapshot_drop(s->e, "s");
        trace(s, "snapshot s dropped (%d)", rc);
        if (rc != 0)
            fail(s, "SNAPSHOT DROP of a made snapshot: %d (%s)", rc, ls_strerror(rc));
        s->snap_valid = 0;
    }
    snap_capture(s);
    struct snctx *c = malloc(sizeof(*c));
    *c = (struct snctx){.s = s, .gen = s->gen};
    int rc = ls_snapshot_create(s->e, "s", snap_cb, c);
    trace(s, "snapshot s begun (%d)", rc);
    if (rc != 0) {
        free(c);
        return;
    }
    s->snap_busy = 1;
}

/* After a reopen: the snapshot is listed exactly when it was made (one being made when
 * the engine went may or may not have been listed). */
static void snap_reopened(struct sim *s)
{
    struct ls_snapshot_info si;
    uint32_t n = ls_snapshot_list(s->e, &si, 1);

    if (n && si.damaged && !s->corrupt)
        fail(s, "snapshot s damaged after a reopen");
    if (n && si.damaged) {
        /* the image was damaged on purpose (a segment it holds lost its first block, say):
         * reported, and dropped like any other */
        trace(s, "snapshot s damaged by the corruption: dropped");
        if (ls_snapshot_drop(s->e, "s") != 0)
            fail(s, "a damaged snapshot could not be dropped");
        s->snap_busy = 0;
        s->snap_valid = 0;
        return;
    }
    if (s->snap_valid && !n)
        fail(s, "snapshot s made, but not listed after a reopen");
    if (!s->snap_valid && !s->snap_busy && n)
        fail(s, "snapshot s listed after a reopen, but never made");
    s->snap_valid = n == 1;
    s->snap_busy = 0;
}

static void open_engine(struct sim *s);

/* A clean restart that rolls back to snapshot s: the model becomes what it captured. */
static void rollback(struct sim *s)
{
    int done = 0;

    trace(s, "clean restart rolling back to snapshot s");
    if (sync_start(s, &done))
        drain(s, &done);
    add_stats(s->e);
    ls_close(s->e);
    s->e = NULL;
    if (s->outstanding)
        fail(s, "%u callbacks did not run in ls_close", s->outstanding);
    if (!s->snap_valid) { /* given up at the close: a plain restart */
        open_engine(s);
        return;
    }
    s->cfg.rollback = "s";
    open_engine(s);
    s->cfg.rollback = NULL;
}

/* The rollback was done: the model becomes what the snapshot captured. */
static void rollback_model(struct sim *s)
{
    s->rollbacks++;
    s->nops = 0;
    for (uint32_t t = 0; t < MAX_TABLES; t++)
        s->flushes[t].n = 0;
    for (uint32_t k = 0; k < s->nall; k++) {
        s->keys[k].n = 0;
        for (uint32_t i = 0; i < s->snapc[k].n; i++) {
            uint32_t op = op_new(s, K_DEL, k, (uint16_t)key_table(s, k));
            struct op *o = &s->ops[op];
            *o = s->snapops[s->snapc[k].ops[i]];
            o->id = s->next_id - 1;
            o->key = k;
            o->table = (uint16_t)key_table(s, k);
            if (o->kind == K_FLUSH)
                o->kind = K_DEL;
            o->state = S_ACKED;
            o->base = 1;
            o->synced = 0;
            o->batch = 0;
            list_add(&s->keys[k], op);
        }
    }
    s->nbatches = 0;
    free(s->stale_ckpt); /* a checkpoint from before the rollback describes another state */
    s->stale_ckpt = NULL;
}

static void restart(struct sim *s)
{
    int done = 0;

    trace(s, "clean restart");
    if (sync_start(s, &done))
        drain(s, &done);
    add_stats(s->e);
    ls_close(s->e);
    s->e = NULL;
    if (s->outstanding)
        fail(s, "%u callbacks did not run in ls_close", s->outstanding);
    s->restarts++;
    ckpt_tamper(s);
    open_engine(s);
}

static void tick(struct sim *s)
{
    uint32_t r = (uint32_t)rnd(s, 100);

    if (r < s->back_pct) {
        uint64_t back = 1 + rnd(s, 5000);
        s->now_ms = s->now_ms > back ? s->now_ms - back : 1;
        trace(s, "clock steps back %" PRIu64 " ms", back);
    } else if (r < s->back_pct + 2) {
        s->now_ms += rnd(s, 3600000);
    } else {
        s->now_ms += 1 + rnd(s, 30);
    }
    if (s->now_ms > s->max_ms)
        s->max_ms = s->now_ms;
    simdev_advance_ns(s->dev, rnd(s, 2000000));
    ls_tick(s->e);
}

/* The workload's mix: each seed draws a weight per action from these ranges, so some
 * seeds keep many reads in flight on a slow device, some crash every few steps, some
 * run long enough for compaction to cycle the disk many times. */
enum act {
    A_PUT,
    A_DEL,
    A_GET,
    A_FLUSH,
    A_SYNC,
    A_SCAN,
    A_IO,
    A_POLL,
    A_TICK,
    A_CRASH,
    A_RESTART,
    A_CHECK,
    A_BATCH,
    A_N
};
static const uint32_t act_range[A_N][2] = {
    [A_PUT] = {150, 400}, [A_DEL] = {20, 150}, [A_GET] = {40, 300},  [A_FLUSH] = {0, 8},
    [A_SYNC] = {0, 20},   [A_SCAN] = {0, 3},   [A_IO] = {60, 400},   [A_POLL] = {10, 80},
    [A_TICK] = {30, 200}, [A_CRASH] = {0, 10}, [A_RESTART] = {0, 3}, [A_CHECK] = {0, 2},
    [A_BATCH] = {0, 60},
};

static void draw_mix(struct sim *s)
{
    s->wsum = 0;
    for (int i = 0; i < A_N; i++) {
        s->w[i] = act_range[i][0] + (uint32_t)rnd(s, act_range[i][1] - act_range[i][0] + 1);
        s->wsum += s->w[i];
    }
    s->large_pct = 1 + (uint32_t)rnd(s, 3);
    s->freed_pct = rnd(s, 2) ? 0 : (uint32_t)rnd(s, 30);
    switch (s->profile) {
    case 1: /* flushes of few tables, large runs: FLUSH records against compaction */
        s->w[A_FLUSH] += 10 + (uint32_t)rnd(s, 40);
        s->large_pct += (uint32_t)rnd(s, 8);
        s->w[A_CRASH] = (uint32_t)rnd(s, 2); /* long instances: compaction cycles the disk */
        s->w[A_RESTART] = (uint32_t)rnd(s, 2);
        break;
    case 2: /* expiries and a clock that steps back */
        s->back_pct += 10 + (uint32_t)rnd(s, 20);
        s->w[A_TICK] += 100;
        break;
    case 3: /* many reads in flight on a slow device */
        s->w[A_GET] += 200;
        s->w[A_IO] = 30 + (uint32_t)rnd(s, 40);
        break;
    }
    s->wsum = 0;
    for (int i = 0; i < A_N; i++)
        s->wsum += s->w[i];
    if (!s->w[A_CRASH] && !s->w[A_RESTART]) {
        s->w[A_CRASH] = 1;
        s->wsum++;
    }
}

static void step(struct sim *s)
{
    uint32_t r = (uint32_t)rnd(s, s->wsum);
    int a = 0;

    s->step++;
    if (run_snapshots) { /* drawn from the seed and the step: rnd() draws as without */
        uint64_t h =
            (s->seed + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ s->step * UINT64_C(0xBF58476D1CE4E5B9);
        h ^= h >> 29;
        h *= UINT64_C(0x94D049BB133111EB);
        h ^= h >> 32;
        if (h % 300 == 0) {
            do_snapshot(s);
            return;
        }
        if (h % 1500 == 1 && s->snap_valid && !s->failed) {
            rollback(s);
            return;
        }
    }
    if (s->colls && rnd(s, 6) == 0) { /* only these seeds draw for it */
        coll_write(s);
        return;
    }
    if (s->failed && rnd(s, 20) == 0) {
        if (rnd(s, 2))
            crash(s);
        else
            restart(s);
        return;
    }
    while (r >= s->w[a])
        r -= s->w[a++];
    if (s->just_freed) {
        s->just_freed = 0;
        if (rnd(s, 100) < s->freed_pct)
            a = rnd(s, 3) ? A_CRASH : A_RESTART;
    }
    switch (a) {
    case A_PUT:
        do_put(s);
        break;
    case A_DEL:
        do_del(s);
        break;
    case A_GET:
        for (uint32_t n = 1 + (uint32_t)(rnd(s, 4) ? 0 : rnd(s, 8)); n > 0; n--)
            start_read(s, pick_key(s), READ_EXACT);
        break;
    case A_FLUSH:
        do_flush(s);
        break;
    case A_SYNC:
        sync_start(s, NULL);
        break;
    case A_SCAN:
        scan_check(s);
        break;
    case A_IO:
        simdev_execute(s->dev, 1 + (uint32_t)rnd(s, 8));
        poll_engine(s);
        break;
    case A_POLL:
        poll_engine(s);
        break;
    case A_TICK:
        tick(s);
        break;
    case A_CRASH:
        crash(s);
        break;
    case A_RESTART:
        restart(s);
        break;
    case A_BATCH:
        do_batch(s);
        break;
    default:
        full_check(s, READ_EXACT);
        break;
    }
    if (s->busy_run > 20000)
        fail(s, "20000 writes in a row refused for space");
}

/* ---- configuration from the seed ---- */

static void configure(struct sim *s)
{
    struct ls_config *c = &s->cfg;
    uint32_t seg = rnd(s, 2) ? 16384 : 32768, spf = 8u << rnd(s, 3);
    uint32_t segs = 96 + (uint32_t)rnd(s, 160);

    ls_config_default(c);
    c->sim = s->dev;
    c->dir = "sim";
    c->segment_size = seg;
    c->file_size = seg * spf;
    c->disk_size = (uint64_t)c->file_size * ((segs + spf - 1) / spf);
    c->write_buffer_size = rnd(s, 2) ? seg : 8192;
    c->write_buffers = 4 + (uint32_t)rnd(s, 5);
    c->max_pending_bytes = (uint64_t)c->write_buffer_size * (2 + rnd(s, 16));
    c->queue_depth = 8 + (uint32_t)rnd(s, 56);
    c->cache_size = rnd(s, 3) ? 4096 * (1 + rnd(s, 256)) : 0;
    c->durability = rnd(s, 2) ? LS_SYNC : LS_PERIODIC;
    c->group_commit_us = rnd(s, 3) ? 0 : 200;
    c->flush_interval_ms = 5 + (uint32_t)rnd(s, 100);
    c->compact_policy = rnd(s, 2) ? LS_COMPACT_GREEDY : LS_COMPACT_COST_BENEFIT;
    c->compaction_groups = 1 + (uint32_t)rnd(s, 4);
    c->separator_memory = 65536 * (1 + rnd(s, 16));
    s->profile = force_profile >= 0 ? (uint32_t)force_profile : (uint32_t)(s->seed % 4);
    c->tables = s->profile == 1 ? 2 : 1 + (uint32_t)rnd(s, MAX_TABLES);
    if (s->profile == 3) /* small enough to evict, large enough to hold values */
        c->cache_size = 65536 * (1 + rnd(s, 16));
    /* written records cached while there is room (logstord's default) in half the seeds,
     * from the seed's bits so that the draws of earlier seeds stay as they were */
    c->cache_writes = (int)((s->seed >> 2) & 1);
    c->max_key_size = 256;
    c->max_value_size = seg * (1 + (uint32_t)rnd(s, 3));
    if (c->max_value_size > c->file_size - seg)
        c->max_value_size = c->file_size - seg;
    /* --checkpoints: checkpoints while running by time in 3 seeds of 4, by bytes written
     * (checkpoint_bytes) in a third of those and in half of the rest (by the seed, not
     * drawn: seeds replay the same either way) */
    uint64_t ch = (s->seed + 7) * UINT64_C(0x9E3779B97F4A7C15);
    ch ^= ch >> 29;
    c->checkpoint_interval_ms = run_checkpoints && ch % 4 ? 20 + (uint32_t)(ch >> 8) % 400 : 0;
    if (run_checkpoints && (ch % 4 ? (ch >> 40) % 3 == 0 : (ch >> 40) % 2 == 0))
        c->checkpoint_bytes = (UINT64_C(32) << 10) << (ch >> 44) % 5; /* 32 KiB .. 512 KiB */
    /* the server's group commit at its loop's turn ends in 1 seed of 4, by the seed's
     * bits (no draw) */
    c->caller_ends_turns = (int)((s->seed >> 4) % 4 == 1);
    c->clock_ms = sim_clock;
    c->clock_arg = s;
    c->log = sim_log;
    c->log_arg = s;
    s->ntables = c->tables;
    if (s->seed % 8 == 7) { /* collections, in a table of their own (no draw) */
        s->colls = 1;
        s->coll_table = c->tables++;
    }
    s->nkeys = 16 + (uint32_t)rnd(s, 100);
    s->nall = s->ntables * s->nkeys;
    s->max_value = c->max_value_size;
    /* some seeds: a filesystem smaller than disk_size, which fills up behind the engine's
     * back (set after the first open): a full disk where deletes still work */
    uint32_t nfiles = (uint32_t)(c->disk_size / c->file_size);
    s->capacity = 0;
    if (rnd(s, 5) == 0 && nfiles > 4)
        s->capacity = (uint64_t)c->file_size * (3 + rnd(s, nfiles - 3));
    /* live data: 5% to 60% of the disk (of what the filesystem holds) */
    uint64_t room = s->capacity ? s->capacity : c->disk_size;
    s->avg_len = (uint32_t)(room * (5 + rnd(s, 56)) / 100 / s->nall);
    if (s->avg_len > c->write_buffer_size / 4)
        s->avg_len = c->write_buffer_size / 4;
    if (s->avg_len < 32)
        s->avg_len = 32;
    s->now_ms = s->max_ms = UINT64_C(1700000000000) + rnd(s, 1000000);
    s->back_pct = (uint32_t)rnd(s, 12);
    draw_mix(s);
    trace(s,
          "config: avg value %u, seg %u file %u disk %" PRIu64 " wbuf %u x%u pending %" PRIu64
          " qd %u cache %" PRIu64 " %s gc %u policy %s groups %u tables %u keys %u maxval %u",
          s->avg_len, seg, c->file_size, c->disk_size, c->write_buffer_size, c->write_buffers,
          c->max_pending_bytes, c->queue_depth, c->cache_size,
          c->durability == LS_SYNC ? "sync" : "periodic", c->group_commit_us,
          c->compact_policy == LS_COMPACT_GREEDY ? "greedy" : "cost-benefit", c->compaction_groups,
          c->tables, s->nkeys, c->max_value_size);
}

static void run_seed(uint64_t seed, uint64_t steps, int verbose)
{
    struct sim *s = calloc(1, sizeof(*s));

    g_sim = s;
    s->seed = seed;
    s->verbose = verbose;
    s->dev = simdev_new(seed);
    configure(s);
    s->keys = calloc(s->nall, sizeof(*s->keys));
    s->snapc = calloc(s->nall, sizeof(*s->snapc));
    s->vbuf = malloc(s->max_value + 16);
    s->seen = calloc(s->nall, sizeof(*s->seen)); /* first base: every key absent */
    rebase(s);
    free(s->seen);
    s->seen = NULL;
    s->gen = 1;
    if (ls_open(&s->cfg, &s->e) < 0)
        fail(s, "first ls_open failed");
    if (s->colls) /* ordered writes' seeds: torn writes with holes (recov.c, ordered_end) */
        simdev_set_holes(s->dev, 1);
    if (s->capacity) {
        simdev_set_capacity(s->dev, s->capacity);
        trace(s, "filesystem capacity %" PRIu64 " bytes", s->capacity);
    }
    set_faults(s);
    while (s->step < steps)
        step(s);
    restart(s);
    ls_close(s->e);
    total_crashes += s->crashes;
    total_restarts += s->restarts;
    total_steps += s->step;
    total_checks += s->checks;
    total_reads += s->reads_checked;
    total_mem_reads += s->mem_reads;
    total_coll_writes += s->coll_writes;
    total_coll_checked += s->coll_checked;
    total_ckpt_opens += s->ckpt_opens;
    total_ckpt_clean += s->ckpt_clean;
    total_ckpt_damaged += s->ckpt_damaged;
    total_ckpt_stale += s->ckpt_stale;
    total_ckpt_journal += s->ckpt_journal;
    free(s->stale_ckpt);
    if (verbose)
        printf("seed %" PRIu64 ": %" PRIu64 " steps, %" PRIu64 " crashes, %" PRIu64
               " restarts, %" PRIu64 " puts, %" PRIu64 " dels, %" PRIu64 " flushes\n",
               seed, s->step, s->crashes, s->restarts, s->puts, s->dels, s->flushes_n);
    total_snaps += s->snaps_made;
    total_rollbacks += s->rollbacks;
    for (uint32_t k = 0; k < s->nall; k++) {
        free(s->keys[k].ops);
        free(s->snapc[k].ops);
    }
    free(s->snapc);
    free(s->snapops);
    for (uint32_t t = 0; t < MAX_TABLES; t++)
        free(s->flushes[t].ops);
    free(s->keys);
    free(s->ops);
    free(s->batches);
    free(s->scratch);
    free(s->vbuf);
    simdev_free(s->dev);
    free(s);
}

/* Seeds of open bugs (a file of "seed # why" lines): a ranged run skips them, saying so,
 * so that one open bug does not hide the next; --seed N still runs one. */
static uint64_t known[64];
static uint32_t nknown;

static void load_known(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f) {
        fprintf(stderr, "sim_engine: cannot read %s\n", path);
        exit(2);
    }
    while (fgets(line, sizeof(line), f) && nknown < 64)
        if (line[0] >= '0' && line[0] <= '9')
            known[nknown++] = strtoull(line, NULL, 10);
    fclose(f);
}

static int is_known(uint64_t seed)
{
    for (uint32_t i = 0; i < nknown; i++)
        if (known[i] == seed)
            return 1;
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, nseeds = UINT64_MAX, steps = 20000;
    double seconds = 0, t0 = mono_s();
    int verbose = 0, one = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
            one = 1;
        } else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            nseeds = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
            force_profile = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--known") && i + 1 < argc) {
            load_known(argv[++i]);
        } else if (!strcmp(argv[i], "--checkpoints")) {
            run_checkpoints = 1;
        } else if (!strcmp(argv[i], "--snapshots")) {
            run_snapshots = 1;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else {
            fprintf(
                stderr,
                "usage: sim_engine [--seed N | --first N] [--seeds N] [--seconds S] "
                "[--steps N] [--profile 0-3] [--known FILE] [--checkpoints] [--snapshots] [-v]\n"
                "  runs seeds N, N+1, ... until --seeds or --seconds is used up\n");
            return 2;
        }
    }
    if (one)
        nseeds = 1;
    if (!seconds && nseeds == UINT64_MAX)
        nseeds = 1;
    uint64_t n = 0;
    for (; n < nseeds && (!seconds || mono_s() - t0 < seconds); n++) {
        if (!one && is_known(seed + n)) {
            printf("sim_engine: seed %" PRIu64 " skipped: a known open bug (--known)\n", seed + n);
            continue;
        }
        run_seed(seed + n, steps, verbose);
    }
    double dt = mono_s() - t0;
    printf("sim_engine: seeds %" PRIu64 "..%" PRIu64 " passed: %" PRIu64 " steps, %" PRIu64
           " crashes, %" PRIu64 " clean restarts, %" PRIu64 " full checks, %" PRIu64
           " reads checked (%" PRIu64 " from memory at once) in %.1f s (%.0f crashes/s, %.0f "
           "steps/s)\n",
           seed, seed + n - 1, total_steps, total_crashes, total_restarts, total_checks,
           total_reads, total_mem_reads, dt, (double)total_crashes / dt, (double)total_steps / dt);
    printf("checkpoint: %" PRIu64 " written while running (%" PRIu64 " given up), %" PRIu64
           " opens from a checkpoint (%" PRIu64 " without reading segment heads, %" PRIu64
           " reading only those the segment journal named), %" PRIu64
           " damaged ones refused, %" PRIu64 " older ones put back before an open\n",
           total_st.checkpoints, total_st.checkpoints_failed, total_ckpt_opens, total_ckpt_clean,
           total_ckpt_journal, total_ckpt_damaged, total_ckpt_stale);
    if (total_coll_writes)
        printf("collections: %" PRIu64 " ordered writes of a root and its pages, %" PRIu64
               " found whole after a reopen\n",
               total_coll_writes, total_coll_checked);
    if (run_snapshots)
        printf("snapshots: %" PRIu64 " made, %" PRIu64 " rollbacks\n", total_snaps,
               total_rollbacks);
    printf("engine: %" PRIu64 " device writes, %" PRIu64 " compaction rounds, %" PRIu64
           " segments compacted, %" PRIu64 " freed, %" PRIu64 " blanked, %" PRIu64
           " records copied, %" PRIu64 " tombstones dropped, %" PRIu64 " cache hits, %" PRIu64
           " write stalls\n",
           total_st.device_writes, total_st.compaction_runs, total_st.segments_compacted,
           total_st.segments_freed, total_st.segments_blanked, total_st.records_copied,
           total_st.tombstones_dropped, total_st.cache_hits, total_st.write_stalls);
    return 0;
}
