/*
 * simdev.c - the simulator's in-memory device (contract and hardware model: simdev.h).
 *
 * Files are byte arrays in one flat directory. Pending requests sit in an array and
 * are executed in an order the generator picks; executed ones wait in a FIFO until the
 * engine reaps them. Nothing here is fast or clever: a simulated disk is a few MiB.
 */
#include "simdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uio.h"

#define SIM_FD_BASE 100
#define SIM_FILES   4096

struct simfile {
    char name[48];
    uint8_t *data;
    uint64_t size;
    uint64_t gen, id; /* simdev_stamp */
    int exists;
};

struct simdev {
    uint64_t rng[4];
    uint64_t mono_ns;
    struct simfile f[SIM_FILES];
    uint32_t nfiles; /* slots used (a removed file keeps its slot, exists = 0) */
    uint64_t stamps; /* the last file generation or identity given */
    struct uio_req **pend;
    unsigned npend, cappend;
    struct uio_req *done_head, *done_tail;
    int dead, locked;
    int holes; /* simdev_set_holes */
    uint64_t capacity;
    struct simdev_faults faults;
    struct simdev_stats st;
};

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t simdev_rand(struct simdev *d)
{
    uint64_t *s = d->rng, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static uint64_t below(struct simdev *d, uint64_t n)
{
    return n ? simdev_rand(d) % n : 0;
}

static int chance_ppm(struct simdev *d, uint32_t ppm)
{
    return ppm && below(d, 1000000) < ppm;
}

struct simdev *simdev_new(uint64_t seed)
{
    struct simdev *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    for (int i = 0; i < 4; i++) { /* splitmix64 expands the seed */
        uint64_t z = (seed += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        d->rng[i] = z ^ (z >> 31);
    }
    return d;
}

void simdev_free(struct simdev *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->nfiles; i++)
        free(d->f[i].data);
    free(d->pend);
    free(d);
}

unsigned simdev_pending(const struct simdev *d)
{
    return d->npend;
}

void simdev_advance_ns(struct simdev *d, uint64_t ns)
{
    d->mono_ns += ns;
}

uint64_t simdev_mono_ns(const struct simdev *d)
{
    return d->mono_ns;
}

int simdev_dead(const struct simdev *d)
{
    return d->dead;
}

void simdev_set_faults(struct simdev *d, const struct simdev_faults *f)
{
    d->faults = *f;
}

void simdev_set_holes(struct simdev *d, int on)
{
    d->holes = on;
}

void simdev_set_capacity(struct simdev *d, uint64_t bytes)
{
    d->capacity = bytes;
}

void simdev_get_stats(const struct simdev *d, struct simdev_stats *out)
{
    *out = d->st;
}

static struct simfile *file_of(struct simdev *d, int fd)
{
    uint32_t i = (uint32_t)(fd - SIM_FD_BASE);

    return fd >= SIM_FD_BASE && i < d->nfiles && d->f[i].exists ? &d->f[i] : NULL;
}

static struct simfile *file_named(struct simdev *d, const char *name)
{
    for (uint32_t i = 0; i < d->nfiles; i++)
        if (d->f[i].exists && strcmp(d->f[i].name, name) == 0)
            return &d->f[i];
    return NULL;
}

static uint64_t used_bytes(const struct simdev *d)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < d->nfiles; i++)
        if (d->f[i].exists && strncmp(d->f[i].name, "data-", 5) == 0)
            n += d->f[i].size;
    return n;
}

uint64_t simdev_free_bytes(const struct simdev *d)
{
    uint64_t used;

    if (!d->capacity)
        return UINT64_MAX;
    used = used_bytes(d);
    return used >= d->capacity ? 0 : d->capacity - used;
}

static int resize(struct simdev *d, struct simfile *f, uint64_t size)
{
    uint8_t *p;

    if (size <= f->size)
        return 0;
    if (d->capacity && strncmp(f->name, "data-", 5) == 0 && size - f->size > simdev_free_bytes(d))
        return -ENOSPC;
    p = realloc(f->data, size ? size : 1);
    if (!p)
        return -ENOMEM;
    memset(p + f->size, 0, size - f->size);
    f->data = p;
    f->size = size;
    f->gen = ++d->stamps;
    return 0;
}

/* ---- block I/O ---- */

void simdev_queue(struct simdev *d, struct uio_req *r)
{
    if (d->npend == d->cappend) {
        unsigned cap = d->cappend ? d->cappend * 2 : 64;
        struct uio_req **p = realloc(d->pend, cap * sizeof(*p));
        if (!p)
            abort(); /* the simulator cannot go on without its queue */
        d->pend = p;
        d->cappend = cap;
    }
    if (r->op == UIO_TIMEOUT)
        r->sim_due_ns = d->mono_ns + r->timeout_ns;
    d->pend[d->npend++] = r;
}

static void done_push(struct simdev *d, struct uio_req *r, int res)
{
    r->res = res;
    r->next = NULL;
    if (d->done_tail)
        d->done_tail->next = r;
    else
        d->done_head = r;
    d->done_tail = r;
}

/* Copies the first n bytes of a write to the image. */
/* Applies bytes [from, to) of a write. */
static void apply_range(struct simdev *d, const struct uio_req *r, uint32_t from, uint32_t to)
{
    struct simfile *f = file_of(d, r->fd);

    if (!f || to <= from)
        return;
    if (r->off + to > f->size && resize(d, f, r->off + to) < 0)
        return;
    memcpy(f->data + r->off + from, (const uint8_t *)r->buf + from, to - from);
    f->gen = ++d->stamps;
}

static void apply_write(struct simdev *d, const struct uio_req *r, uint32_t n)
{
    apply_range(d, r, 0, n);
}

static int exec_write(struct simdev *d, struct uio_req *r)
{
    struct simfile *f = file_of(d, r->fd);

    d->st.writes++;
    if (!f)
        return -EBADF;
    if (chance_ppm(d, d->faults.write_eio_ppm)) {
        d->st.faults++;
        return -EIO;
    }
    if (chance_ppm(d, d->faults.write_enospc_ppm)) {
        d->st.faults++;
        return -ENOSPC;
    }
    if (r->len > 4096 && chance_ppm(d, d->faults.short_write_ppm)) {
        uint32_t n = (uint32_t)(1 + below(d, r->len / 4096 - 1)) * 4096;
        d->st.faults++;
        apply_write(d, r, n);
        return (int)n;
    }
    if (r->off + r->len > f->size && resize(d, f, r->off + r->len) < 0)
        return -ENOSPC;
    apply_write(d, r, r->len);
    return (int)r->len;
}

static int exec_read(struct simdev *d, struct uio_req *r)
{
    struct simfile *f = file_of(d, r->fd);
    uint64_t n;

    d->st.reads++;
    if (!f)
        return -EBADF;
    if (chance_ppm(d, d->faults.read_eio_ppm)) {
        d->st.faults++;
        return -EIO;
    }
    n = r->off >= f->size ? 0 : f->size - r->off;
    if (n > r->len)
        n = r->len;
    memcpy(r->buf, f->data + r->off, n);
    return (int)n;
}

static int execute(struct simdev *d, struct uio_req *r)
{
    if (d->dead)
        return r->op == UIO_TIMEOUT ? -ETIME : -EIO;
    switch (r->op) {
    case UIO_WRITE:
        return exec_write(d, r);
    case UIO_READ:
        return exec_read(d, r);
    case UIO_TIMEOUT:
        return -ETIME;
    default:
        return file_of(d, r->fd) ? 0 : -EBADF;
    }
}

static int eligible(const struct simdev *d, const struct uio_req *r)
{
    return d->dead || r->op != UIO_TIMEOUT || r->sim_due_ns <= d->mono_ns;
}

unsigned simdev_execute(struct simdev *d, unsigned n)
{
    unsigned done = 0;

    while (done < n && d->npend) {
        unsigned ok = 0, pick;
        for (unsigned i = 0; i < d->npend; i++)
            ok += eligible(d, d->pend[i]);
        if (!ok)
            break;
        pick = (unsigned)below(d, ok);
        for (unsigned i = 0; i < d->npend; i++) {
            if (!eligible(d, d->pend[i]) || pick--)
                continue;
            struct uio_req *r = d->pend[i];
            memmove(&d->pend[i], &d->pend[i + 1], (d->npend - i - 1) * sizeof(*d->pend));
            d->npend--;
            done_push(d, r, execute(d, r));
            break;
        }
        done++;
    }
    return done;
}

int simdev_fail_pending(struct simdev *d, unsigned i, int err)
{
    struct uio_req *r;

    if (i >= d->npend)
        return -ENOENT;
    r = d->pend[i];
    memmove(&d->pend[i], &d->pend[i + 1], (d->npend - i - 1) * sizeof(*d->pend));
    d->npend--;
    done_push(d, r, err);
    return 0;
}

struct uio_req *simdev_next_done(struct simdev *d, int wait)
{
    struct uio_req *r;

    if (!d->done_head && wait && d->npend && simdev_execute(d, 1) == 0) {
        /* only timeouts not yet due: a blocked caller waits for the earliest */
        uint64_t due = UINT64_MAX;
        for (unsigned i = 0; i < d->npend; i++)
            if (d->pend[i]->sim_due_ns < due)
                due = d->pend[i]->sim_due_ns;
        d->mono_ns = due;
        simdev_execute(d, 1);
    }
    r = d->done_head;
    if (r) {
        d->done_head = r->next;
        if (!d->done_head)
            d->done_tail = NULL;
    }
    return r;
}

int simdev_peek(struct simdev *d, int fd, uint64_t off, void *buf, size_t len)
{
    struct simfile *f = file_of(d, fd);
    uint64_t n;

    if (!f)
        return -EBADF;
    memset(buf, 0, len);
    n = off >= f->size ? 0 : f->size - off;
    memcpy(buf, f->data + off, n < len ? n : len);
    return 0;
}

void simdev_crash(struct simdev *d)
{
    for (unsigned i = 0; i < d->npend && !d->dead; i++) {
        struct uio_req *r = d->pend[i];
        uint32_t unit = below(d, 4) ? 4096 : 512, n;
        if (r->op != UIO_WRITE)
            continue;
        switch (below(d, 3)) {
        case 0:
            d->st.dropped++;
            break;
        case 1:
            d->st.kept++;
            apply_write(d, r, r->len);
            break;
        default:
            n = r->len / unit > 1 ? (uint32_t)(1 + below(d, r->len / unit - 1)) * unit : 0;
            d->st.torn++;
            apply_write(d, r, n);
            if (d->holes && n && below(d, 2)) { /* and units after a hole reached it too */
                uint32_t gap = (uint32_t)(1 + below(d, (r->len - n) / unit)) * unit;
                apply_range(d, r, n + gap, r->len);
                d->st.holes++;
            }
            break;
        }
    }
    d->dead = 1;
}

void simdev_revive(struct simdev *d)
{
    d->dead = 0;
    d->locked = 0; /* the process that held it is gone */
}

void simdev_corrupt(struct simdev *d, unsigned n)
{
    uint32_t cand[SIM_FILES], nc = 0;

    for (uint32_t i = 0; i < d->nfiles; i++)
        if (d->f[i].exists && d->f[i].size &&
            (strncmp(d->f[i].name, "data-", 5) == 0 || strcmp(d->f[i].name, "logstor.segj") == 0))
            cand[nc++] = i;
    for (unsigned k = 0; k < n && nc; k++) {
        struct simfile *f = &d->f[cand[below(d, nc)]];
        f->data[below(d, f->size)] ^= (uint8_t)(1 + below(d, 255));
        d->st.corrupted++;
    }
}

/* ---- files ---- */

int simdev_open(struct simdev *d, const char *name, int create, int excl, int *fd)
{
    struct simfile *f = file_named(d, name);

    if (d->dead)
        return -EIO;
    if (f && excl)
        return -EEXIST;
    if (!f && !create)
        return -ENOENT;
    if (!f) {
        if (d->nfiles == SIM_FILES || strlen(name) >= sizeof(f->name))
            return -ENFILE;
        f = &d->f[d->nfiles++];
        memset(f, 0, sizeof(*f));
        strcpy(f->name, name);
        f->exists = 1;
        f->id = ++d->stamps;
    }
    *fd = SIM_FD_BASE + (int)(f - d->f);
    return 0;
}

int simdev_close(struct simdev *d, int fd)
{
    return file_of(d, fd) ? 0 : -EBADF;
}

int64_t simdev_size(struct simdev *d, int fd)
{
    struct simfile *f = file_of(d, fd);

    return f ? (int64_t)f->size : -EBADF;
}

int simdev_stamp(struct simdev *d, int fd, uint64_t *size, uint64_t *gen, uint64_t *id)
{
    struct simfile *f = file_of(d, fd);

    if (!f)
        return -EBADF;
    *size = f->size;
    *gen = f->gen;
    *id = f->id;
    return 0;
}

int simdev_fill(struct simdev *d, int fd, uint64_t from, uint64_t size)
{
    struct simfile *f = file_of(d, fd);
    int rc;

    if (d->dead)
        return -EIO;
    if (!f)
        return -EBADF;
    if ((rc = resize(d, f, size)) < 0)
        return rc;
    if (from < f->size)
        memset(f->data + from, 0, (size < f->size ? size : f->size) - from);
    f->gen = ++d->stamps;
    return 0;
}

int64_t simdev_read_file(struct simdev *d, const char *name, void *buf, size_t len)
{
    struct simfile *f = file_named(d, name);

    if (d->dead)
        return -EIO;
    if (!f)
        return -ENOENT;
    if (len > f->size)
        len = f->size;
    memcpy(buf, f->data, len);
    return (int64_t)len;
}

int simdev_write_file(struct simdev *d, const char *name, const void *buf, size_t len)
{
    struct simfile *f = file_named(d, name);
    int fd, rc;

    if (d->dead)
        return -EIO;
    if (!f) {
        if ((rc = simdev_open(d, name, 1, 0, &fd)) < 0)
            return rc;
        f = file_of(d, fd);
    }
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, buf, len);
    free(f->data);
    f->data = p;
    f->size = len;
    return 0;
}

int64_t simdev_file_size(struct simdev *d, const char *name)
{
    struct simfile *f = file_named(d, name);

    return f ? (int64_t)f->size : -ENOENT;
}

int simdev_unlink(struct simdev *d, const char *name)
{
    struct simfile *f = file_named(d, name);

    if (d->dead)
        return -EIO;
    if (!f)
        return -ENOENT;
    free(f->data);
    f->data = NULL;
    f->size = 0;
    f->exists = 0;
    return 0;
}

int simdev_exists(struct simdev *d, const char *name)
{
    return file_named(d, name) != NULL;
}

int simdev_lock(struct simdev *d)
{
    if (d->locked)
        return -EWOULDBLOCK;
    d->locked = 1;
    return 0;
}

void simdev_unlock(struct simdev *d)
{
    d->locked = 0;
}
