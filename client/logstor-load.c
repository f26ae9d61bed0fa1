/*
 * logstor-load - load an RDB file written by Redis (up to 7.0: RDB version 10) into a
 * running logstord, over RESP.
 *
 *   logstor-load [-h HOST] [-p PORT] [-a PASSWORD] [-w WINDOW] [--skip-unsupported]
 *                [-n] [-v] FILE
 *     -h, -p          the server (127.0.0.1 6379)
 *     -a              AUTH with this password first
 *     -w              most commands in flight (pipelined) at once (default 256; they also
 *                     stop at 8 MiB of command bytes not yet answered)
 *     --skip-unsupported
 *                     collections logstord cannot store yet (streams,
 *                     modules, and hashes and lists in the ziplist/zipmap encodings of
 *                     Redis before 7.0) are skipped without making the exit status
 *                     non-zero
 *     -n              check the file and list what would be loaded; send nothing
 *     -v              print every key loaded
 *
 * The whole file is checked first (signature, version, CRC64: proto/rdb.c), so nothing
 * of a truncated, corrupt or foreign file is loaded. Then each string key is sent as
 * SELECT db (when the database changes; checked before the keys that follow) and
 * SET key value [PXAT expiry]: an existing key is overwritten. Keys already expired are
 * skipped. A hash, list or set is sent as RESTORE key expiry payload REPLACE ABSTTL (a DUMP
 * payload of type 4, 1 or 2 made from it: written as one record, replacing the key). A function
 * library is sent as FUNCTION LOAD REPLACE code. Every other collection is skipped, counted, and
 * named on stderr. Strings written
 * LZF-compressed or as integers by Redis are loaded as the strings they stand for.
 *
 * Exit status: 0 everything loaded; 1 some keys were not (a server error, or collections
 * skipped without --skip-unsupported); 2 usage, I/O, connection or file error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "coll.h"
#include "rdb.h"
#include "rdbcoll.h"
#include "rdbstr.h"

#define LOAD_MAX_LEN      (512u << 20) /* Redis's proto-max-bulk-len */
#define LOAD_WINDOW_MAX   65536
#define LOAD_BYTES_HIGH   (8u << 20)
#define LOAD_ERRORS_SHOWN 10
#define LOAD_DBS_SHOWN    64

struct opts {
    const char *host, *password, *file;
    int port, window, skip_unsupported, dry_run, verbose;
};

/* A command in flight: the key it writes (for the error message). */
struct pend {
    char *key;
    size_t len;
    uint32_t db;
};

struct load {
    struct opts o;
    redisContext *ctx;
    struct pend *ring;
    uint32_t head, n; /* oldest in flight, and how many */
    size_t bytes;     /* command bytes in flight */
    int64_t db;       /* selected database; -1 none yet */
    int db_bad;       /* SELECT of db failed: its keys are failed */
    uint64_t loaded, expired, unsupported, failed, functions;
    uint64_t per_db[LOAD_DBS_SHOWN];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Prints key as redis-cli quotes it: printable bytes as they are, others as \xNN. */
static void put_key(FILE *f, const uint8_t *k, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (k[i] == '"' || k[i] == '\\')
            fprintf(f, "\\%c", k[i]);
        else if (isprint(k[i]))
            fputc(k[i], f);
        else
            fprintf(f, "\\x%02x", k[i]);
    }
    fputc('"', f);
}

static void die_conn(struct load *l)
{
    fprintf(stderr, "logstor-load: %s:%d: %s\n", l->o.host, l->o.port,
            l->ctx->errstr[0] ? l->ctx->errstr : "connection lost");
    exit(2);
}

/* Reads the oldest reply in flight. */
static void read_one(struct load *l)
{
    redisReply *rep;
    if (redisGetReply(l->ctx, (void **)&rep) != REDIS_OK || rep == NULL)
        die_conn(l);
    struct pend *p = &l->ring[l->head];
    if (rep->type == REDIS_REPLY_ERROR) {
        if (l->failed < LOAD_ERRORS_SHOWN) {
            fprintf(stderr, "logstor-load: db %u key ", p->db);
            put_key(stderr, (const uint8_t *)p->key, p->len);
            fprintf(stderr, ": %s\n", rep->str);
        }
        l->failed++;
    } else {
        l->loaded++;
        if (p->db < LOAD_DBS_SHOWN)
            l->per_db[p->db]++;
    }
    freeReplyObject(rep);
    free(p->key);
    p->key = NULL;
    l->head = (l->head + 1) % (uint32_t)l->o.window;
    l->n--;
}

static void drain(struct load *l)
{
    while (l->n > 0)
        read_one(l);
    l->bytes = 0;
}

/* A command answered now (AUTH, SELECT): 0 on +OK, else prints the error. */
static int call_now(struct load *l, int argc, const char **argv, const size_t *lens)
{
    drain(l);
    redisReply *rep = redisCommandArgv(l->ctx, argc, argv, lens);
    if (rep == NULL)
        die_conn(l);
    int ok = rep->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "logstor-load: %s: %s\n", argv[0], rep->str);
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static void select_db(struct load *l, uint32_t db)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", db);
    const char *argv[] = {"SELECT", num};
    size_t lens[] = {6, strlen(num)};
    l->db = db;
    l->db_bad = call_now(l, 2, argv, lens) < 0;
    if (l->db_bad)
        fprintf(stderr, "logstor-load: the keys of database %u are not loaded\n", db);
}

/* Sends one key's command (pipelined; its reply read later), counting its bytes. */
static void send_key_cmd(struct load *l, const struct rdb_entry *e, int argc, const char **argv,
                         const size_t *lens)
{
    while (l->n >= (uint32_t)l->o.window || (l->n > 0 && l->bytes >= LOAD_BYTES_HIGH))
        read_one(l);
    if (l->n == 0)
        l->bytes = 0;
    if (redisAppendCommandArgv(l->ctx, argc, argv, lens) != REDIS_OK)
        die_conn(l);
    struct pend *p = &l->ring[(l->head + l->n) % (uint32_t)l->o.window];
    p->key = malloc(e->key_len ? e->key_len : 1);
    if (p->key == NULL) {
        fprintf(stderr, "logstor-load: out of memory\n");
        exit(2);
    }
    memcpy(p->key, e->key, e->key_len);
    p->len = e->key_len;
    p->db = e->db;
    l->n++;
    l->bytes += e->key_len + e->val_len + 64;
}

static void send_set(struct load *l, const struct rdb_entry *e)
{
    char px[24];
    const char *argv[] = {"SET", (const char *)e->key, (const char *)e->val, "PXAT", px};
    size_t lens[] = {3, e->key_len, e->val_len, 4, 0};
    int argc = 3;
    if (e->expire_ms) {
        lens[4] = (size_t)snprintf(px, sizeof(px), "%llu", (unsigned long long)e->expire_ms);
        argc = 5;
    }
    send_key_cmd(l, e, argc, argv, lens);
}

/* A hash, list or set: RESTORE key expiry payload REPLACE ABSTTL, the payload [its RDB
 * type (4, 1 or 2)][its body][footer] made from its small form. */
static void send_coll(struct load *l, const struct rdb_entry *e, int vtype)
{
    char px[24];
    size_t bound = rdbcoll_body_bound(vtype, e->val, e->val_len), body;
    if (bound == 0) { /* rdb.c made it: never */
        l->failed++;
        return;
    }
    uint8_t *p = malloc(1 + bound + 10);
    if (p == NULL || (body = rdbcoll_put_body(p + 1, vtype, e->val, e->val_len)) == 0) {
        fprintf(stderr, "logstor-load: out of memory\n");
        exit(2);
    }
    p[0] = (uint8_t)rdbcoll_rdb_type(vtype);
    size_t n = rdbstr_put_footer(p, 1 + body);
    const char *argv[] = {"RESTORE", (const char *)e->key, px, (const char *)p, "REPLACE",
                          "ABSTTL"};
    size_t lens[] = {7, e->key_len, 0, n, 7, 6};
    lens[2] = (size_t)snprintf(px, sizeof(px), "%llu", (unsigned long long)e->expire_ms);
    send_key_cmd(l, e, 6, argv, lens);
    free(p);
}

/* A function library: FUNCTION LOAD REPLACE with its code, answered before the keys that
 * follow are sent. */
static void load_function(struct load *l, const struct rdb_entry *e)
{
    if (l->o.verbose || l->o.dry_run)
        printf("function library, %zu bytes of code\n", e->val_len);
    if (l->o.dry_run) {
        l->functions++;
        return;
    }
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", (const char *)e->val};
    size_t lens[] = {8, 4, 7, e->val_len};
    if (call_now(l, 4, argv, lens) < 0)
        l->failed++;
    else
        l->functions++;
}

/* One object of the file. */
static void load_entry(struct load *l, const struct rdb_entry *e)
{
    if (e->type == RDB_ENTRY_FUNCTION) {
        load_function(l, e);
        return;
    }
    int vtype = e->type == RDB_TYPE_HASH || e->type == RDB_TYPE_HASH_LISTPACK     ? COLL_HASH
                : e->type == RDB_TYPE_LIST || e->type == RDB_TYPE_LIST_QUICKLIST2 ? COLL_LIST
                : e->type == RDB_TYPE_SET || e->type == RDB_TYPE_SET_INTSET       ? COLL_SET
                : e->type == RDB_TYPE_ZSET || e->type == RDB_TYPE_ZSET_2 ||
                        e->type == RDB_TYPE_ZSET_LISTPACK
                    ? COLL_ZSET
                    : COLL_STRING;
    if (e->type != 0 && vtype == COLL_STRING) {
        fprintf(stderr, "logstor-load: skipped %s ", rdbstr_type_name(e->type));
        put_key(stderr, e->key, e->key_len);
        fprintf(stderr,
                " (db %u): only strings, hashes, lists, sets and sorted sets are supported\n",
                e->db);
        l->unsupported++;
        return;
    }
    if (e->expire_ms && e->expire_ms <= now_ms()) {
        l->expired++;
        return;
    }
    if (l->o.verbose || l->o.dry_run) {
        printf("db %u ", e->db);
        put_key(stdout, e->key, e->key_len);
        printf(" %zu bytes%s\n", e->val_len, e->expire_ms ? " (expires)" : "");
    }
    if (l->o.dry_run) {
        l->loaded++;
        if (e->db < LOAD_DBS_SHOWN)
            l->per_db[e->db]++;
        return;
    }
    if ((int64_t)e->db != l->db)
        select_db(l, e->db);
    if (l->db_bad) {
        l->failed++;
        return;
    }
    if (vtype != COLL_STRING)
        send_coll(l, e, vtype);
    else
        send_set(l, e);
}

static void usage(void)
{
    fprintf(stderr, "usage: logstor-load [-h HOST] [-p PORT] [-a PASSWORD] [-w WINDOW] "
                    "[--skip-unsupported] [-n] [-v] FILE\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){"127.0.0.1", NULL, NULL, 6379, 256, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--skip-unsupported") == 0)
            o->skip_unsupported = 1;
        else if (strcmp(a, "-n") == 0)
            o->dry_run = 1;
        else if (strcmp(a, "-v") == 0)
            o->verbose = 1;
        else if (strcmp(a, "-h") == 0 && more)
            o->host = argv[++i];
        else if (strcmp(a, "-p") == 0 && more)
            o->port = atoi(argv[++i]);
        else if (strcmp(a, "-a") == 0 && more)
            o->password = argv[++i];
        else if (strcmp(a, "-w") == 0 && more)
            o->window = atoi(argv[++i]);
        else if (a[0] == '-' || o->file)
            usage();
        else
            o->file = a;
    }
    if (o->file == NULL || o->port <= 0 || o->port > 65535 || o->window < 1 ||
        o->window > LOAD_WINDOW_MAX)
        usage();
}

static const uint8_t *map_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "logstor-load: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    *n = (size_t)st.st_size;
    if (*n == 0) {
        fprintf(stderr, "logstor-load: %s: not an RDB file (empty)\n", path);
        exit(2);
    }
    void *p = mmap(NULL, *n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "logstor-load: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return p;
}

static void connect_server(struct load *l)
{
    struct timeval tv = {10, 0};
    l->ctx = redisConnectWithTimeout(l->o.host, l->o.port, tv);
    if (l->ctx == NULL || l->ctx->err) {
        fprintf(stderr, "logstor-load: cannot connect to %s:%d: %s\n", l->o.host, l->o.port,
                l->ctx ? l->ctx->errstr : "out of memory");
        exit(2);
    }
    redisSetTimeout(l->ctx, (struct timeval){60, 0});
    if (l->o.password) {
        const char *argv[] = {"AUTH", l->o.password};
        size_t lens[] = {4, strlen(l->o.password)};
        if (call_now(l, 2, argv, lens) < 0)
            exit(2);
    }
}

static void report(const struct load *l, double secs)
{
    printf("%s: %llu keys %s", l->o.file, (unsigned long long)l->loaded,
           l->o.dry_run ? "to load" : "loaded");
    const char *sep = " (";
    for (int i = 0; i < LOAD_DBS_SHOWN; i++) {
        if (l->per_db[i]) {
            printf("%sdb %d: %llu", sep, i, (unsigned long long)l->per_db[i]);
            sep = ", ";
        }
    }
    printf("%s, %llu function libraries, in %.2f s; %llu expired skipped, %llu unsupported "
           "skipped, %llu failed\n",
           sep[0] == ',' ? ")" : "", (unsigned long long)l->functions, secs,
           (unsigned long long)l->expired, (unsigned long long)l->unsupported,
           (unsigned long long)l->failed);
    if (l->unsupported)
        fprintf(stderr,
                "logstor-load: %llu objects skipped: collections other than hashes, lists and sets "
                "are not "
                "supported by logstord yet%s\n",
                (unsigned long long)l->unsupported,
                l->o.skip_unsupported ? "" : " (--skip-unsupported accepts that)");
}

int main(int argc, char **argv)
{
    struct load l;
    memset(&l, 0, sizeof(l));
    parse_args(argc, argv, &l.o);
    l.db = -1;
    size_t n;
    const uint8_t *p = map_file(l.o.file, &n);
    struct rdb_reader rd;
    if (rdb_reader_open(&rd, p, n, LOAD_MAX_LEN) < 0) {
        fprintf(stderr, "logstor-load: %s: %s\n", l.o.file, rd.err);
        return 2;
    }
    if (!rd.crc_checked)
        fprintf(stderr,
                "logstor-load: %s: no checksum in the file (saved with rdbchecksum "
                "no, or RDB version %d): not verified\n",
                l.o.file, rd.version);
    l.ring = calloc((size_t)l.o.window, sizeof(*l.ring));
    if (l.ring == NULL)
        return 2;
    if (!l.o.dry_run)
        connect_server(&l);
    uint64_t t0 = now_ms();
    struct rdb_entry e;
    int rc;
    while ((rc = rdb_next(&rd, &e)) == 1) {
        load_entry(&l, &e);
        rdb_entry_free(&e);
    }
    if (!l.o.dry_run)
        drain(&l);
    if (rc < 0) {
        fprintf(stderr, "logstor-load: %s: %s (%llu keys were loaded before it)\n", l.o.file,
                rd.err, (unsigned long long)l.loaded);
        return 2;
    }
    report(&l, (double)(now_ms() - t0) / 1000.0);
    if (l.ctx)
        redisFree(l.ctx);
    free(l.ring);
    return l.failed || (l.unsupported && !l.o.skip_unsupported) ? 1 : 0;
}
