/*
 * vfs.h - the engine's synchronous file operations, on the OS or on the simulator's
 * device (simdev.h).
 *
 * Every system call the engine makes on its data directory goes through here (block
 * I/O goes through uio.h), so that a run on the simulated device touches no real file.
 * Each function takes the device (NULL: the OS) and returns 0 (or a count) or -errno.
 */
#ifndef LS_VFS_H
#define LS_VFS_H

#include <stddef.h>
#include <stdint.h>

struct simdev;

/* Opens the directory, creating it when missing unless read_only (and then fsyncing its
 * parent, so the new directory survives a power loss). */
int vfs_dir_open(struct simdev *sim, const char *path, int read_only, int *dir_fd);
/* Takes the directory's exclusive lock (flock on the directory itself: deleting a file
 * in it cannot release it). -EWOULDBLOCK when another process holds it. */
int vfs_lock(struct simdev *sim, int dir_fd);
void vfs_close(struct simdev *sim, int fd);
/* Reads up to len bytes of a small file. -ENOENT when absent. */
int64_t vfs_read_file(struct simdev *sim, int dir_fd, const char *name, void *buf, size_t len);
/* Replaces a small file atomically and durably (temporary file, fsync, rename, fsync
 * of the directory). */
int vfs_write_atomic(struct simdev *sim, int dir_fd, const char *name, const void *buf, size_t len);
/* 1 when the name exists, 0 when not, or -errno. */
int vfs_exists(struct simdev *sim, int dir_fd, const char *name);
int vfs_unlink(struct simdev *sim, int dir_fd, const char *name);
/* Checks that the filesystem accepts O_DIRECT writes. */
int vfs_probe_odirect(struct simdev *sim, int dir_fd);
/* Opens a data file for O_DIRECT reads and writes (reads only with read_only); create
 * makes a new one (fails with -EEXIST when it exists). */
int vfs_data_open(struct simdev *sim, int dir_fd, const char *name, int create, int read_only,
                  int *fd);
int64_t vfs_size(struct simdev *sim, int fd);
/* What tells that a file changed: size, modification and change times, inode (the
 * simulator's device: a counter bumped by every write, and the file's slot). */
struct vfs_stamp {
    uint64_t size, mtime_ns, ctime_ns, ino;
};
int vfs_stamp(struct simdev *sim, int fd, struct vfs_stamp *st);
/* Allocates the file up to size bytes and zeroes [from, size), durably. */
int vfs_fill(struct simdev *sim, int fd, uint64_t from, uint64_t size);
int vfs_sync_dir(struct simdev *sim, int dir_fd);
/* Bytes the filesystem holding the directory can still give (UINT64_MAX: unknown). */
uint64_t vfs_free_bytes(struct simdev *sim, int dir_fd);
/* Fills buf with random bytes (the simulator's generator under simulation). */
int vfs_random(struct simdev *sim, void *buf, size_t len);

#endif
