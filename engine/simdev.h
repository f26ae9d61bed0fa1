/*
 * simdev.h - an in-memory device for the deterministic simulator (tests/sim).
 *
 * When ls_config.sim points at a simdev, the engine does no system call for its data:
 * every file operation (vfs.c) and every block I/O (uio.c) goes to this device, and the
 * device executes block I/O only when the simulator says so (simdev_execute), in the
 * order the simulator's random generator picks, so one seed replays one run exactly.
 *
 * The model of the hardware:
 * - A request is "pending" from uio_queue until the simulator executes it; executing a
 *   write makes its bytes durable (the engine writes with RWF_DSYNC), executing a read
 *   copies the bytes durable at that moment. Its completion is then delivered (its
 *   callback runs) at the engine's next uio_reap, so the process may die between the
 *   device finishing a write and the engine learning of it.
 * - simdev_crash is a power loss: every write still pending keeps none of its bytes,
 *   all of them, or a prefix torn at a 4 KiB or 512 B boundary, chosen by the seed.
 *   The device is then dead: every later request and file operation fails with -EIO
 *   and changes nothing, so the engine can be closed (its callbacks run, with errors)
 *   without touching the surviving image. simdev_revive powers it up again.
 * - Synchronous file operations (the meta and sequence files, creating a data file)
 *   are atomic and durable when they return, as their fsync/rename sequences are.
 * - Faults, at rates chosen by the simulator: a write fails (EIO or ENOSPC, nothing
 *   written), a write is short (a prefix written, then the rest fails), a read fails;
 *   simdev_corrupt flips bytes of the durable image; a filesystem capacity makes file
 *   creation fail with ENOSPC.
 *
 * Not thread-safe; one device per simulated machine. File descriptors handed out are
 * small integers that mean nothing to the OS.
 */
#ifndef LS_SIMDEV_H
#define LS_SIMDEV_H

#include <stddef.h>
#include <stdint.h>

struct simdev;
struct uio_req;

/* A new device with no files; seed drives every choice it makes. NULL on ENOMEM. */
struct simdev *simdev_new(uint64_t seed);
void simdev_free(struct simdev *d);

/* The device's random generator (xoshiro256**), for the simulator's own choices. */
uint64_t simdev_rand(struct simdev *d);

/* ---- the simulator's side ---- */

/* Requests queued and not yet executed. */
unsigned simdev_pending(const struct simdev *d);
/* Executes up to n pending requests, each picked at random among those eligible (a
 * timeout is eligible once the device's monotonic clock reaches its deadline).
 * Returns how many it executed. Their callbacks run at the engine's next uio_reap. */
unsigned simdev_execute(struct simdev *d, unsigned n);
/* Completes pending request i (in queueing order) with error err, writing nothing:
 * a targeted fault for tests. Returns 0, or -ENOENT when there is no such request. */
int simdev_fail_pending(struct simdev *d, unsigned i, int err);
/* Advances the device's monotonic clock (timeouts). */
void simdev_advance_ns(struct simdev *d, uint64_t ns);
uint64_t simdev_mono_ns(const struct simdev *d);

/* Copies len bytes of the durable image of file fd at off (zeros past its end). 0 or
 * -EBADF. For the simulator's checks; no fault applies. */
int simdev_peek(struct simdev *d, int fd, uint64_t off, void *buf, size_t len);

/* Power loss (see above). */
void simdev_crash(struct simdev *d);
void simdev_revive(struct simdev *d);
int simdev_dead(const struct simdev *d);

struct simdev_faults {
    uint32_t write_eio_ppm;    /* a write fails with -EIO, nothing written */
    uint32_t write_enospc_ppm; /* a write fails with -ENOSPC, nothing written */
    uint32_t short_write_ppm;  /* a write writes a prefix and reports a short count */
    uint32_t read_eio_ppm;     /* a read fails with -EIO */
};
void simdev_set_faults(struct simdev *d, const struct simdev_faults *f);
/* Flips n random bytes in the written part of random data files (names data-*). */
void simdev_corrupt(struct simdev *d, unsigned n);
/* Bytes the data files may take in all; creating or growing a file beyond fails with
 * -ENOSPC. 0: unlimited. */
void simdev_set_capacity(struct simdev *d, uint64_t bytes);
/* A write torn by simdev_crash may also keep units after a hole, not only a prefix: the
 * device writes a request's sectors in no promised order (off by default: it draws more,
 * so seeds that do not set it replay as before). */
void simdev_set_holes(struct simdev *d, int on);

struct simdev_stats {
    uint64_t writes, reads, torn, dropped, kept, faults, corrupted, holes;
};
void simdev_get_stats(const struct simdev *d, struct simdev_stats *out);

/* ---- the engine's side (uio.c and vfs.c) ---- */

/* Takes a request; it stays pending until executed. */
void simdev_queue(struct simdev *d, struct uio_req *r);
/* Pops one executed request whose completion has not been delivered (its result in
 * r->res), or NULL. With wait set and none executed, executes one first (the device
 * always makes progress for a caller that blocks). */
struct uio_req *simdev_next_done(struct simdev *d, int wait);

/* Synchronous file operations in the device's one directory. Return 0 (or a count)
 * or -errno. */
int simdev_open(struct simdev *d, const char *name, int create, int excl, int *fd);
int simdev_close(struct simdev *d, int fd);
int64_t simdev_size(struct simdev *d, int fd);
/* The file's size, a count that every change of its data bumps (writes, torn ones
 * included, and growth; not simdev_corrupt: damage at rest changes no time stamp) and an
 * identity that a file deleted and made again does not keep. */
int simdev_stamp(struct simdev *d, int fd, uint64_t *size, uint64_t *gen, uint64_t *id);
/* Sets the file's size to size, zeroing bytes from `from` on. */
int simdev_fill(struct simdev *d, int fd, uint64_t from, uint64_t size);
int64_t simdev_read_file(struct simdev *d, const char *name, void *buf, size_t len);
int simdev_write_file(struct simdev *d, const char *name, const void *buf, size_t len);
int simdev_unlink(struct simdev *d, const char *name);
/* Size of the named file (also while the device is dead), or -ENOENT. */
int64_t simdev_file_size(struct simdev *d, const char *name);
int simdev_exists(struct simdev *d, const char *name);
/* Bytes left under the capacity (UINT64_MAX when unlimited). */
uint64_t simdev_free_bytes(const struct simdev *d);
/* Directory lock: 0, or -EWOULDBLOCK when held. */
int simdev_lock(struct simdev *d);
void simdev_unlock(struct simdev *d);

#endif
