/*
 * vfs.c - synchronous file operations on the OS or the simulated device (vfs.h).
 *
 * The OS side is what the engine always did: O_DIRECT data files preallocated with
 * fallocate and zero-filled once (ext4 would otherwise convert unwritten extents in
 * every O_DSYNC group commit), small metadata files replaced by write-fsync-rename,
 * directory fsyncs after every name change. The simulated side forwards to simdev.c,
 * whose operations are atomic and durable when they return.
 */
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "simdev.h"
#include "uio.h"

#define SIM_DIR_FD 3

static int sync_parent(const char *path)
{
    char parent[PATH_MAX];
    char *slash;
    int fd, rc = 0;

    if (strlen(path) >= sizeof(parent))
        return -ENAMETOOLONG;
    strcpy(parent, path);
    while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
        *slash = '\0'; /* trailing slashes */
    slash = strrchr(parent, '/');
    if (!slash)
        strcpy(parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

int vfs_dir_open(struct simdev *sim, const char *path, int read_only, int *dir_fd)
{
    int fd, rc;

    if (sim) {
        *dir_fd = SIM_DIR_FD;
        return simdev_dead(sim) ? -EIO : 0;
    }
    if (read_only) {
        /* nothing to create */
    } else if (mkdir(path, 0755) == 0) {
        if ((rc = sync_parent(path)) < 0)
            return rc;
    } else if (errno != EEXIST) {
        return -errno;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *dir_fd = fd;
    return 0;
}

int vfs_lock(struct simdev *sim, int dir_fd)
{
    if (sim)
        return simdev_lock(sim);
    if (flock(dir_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
    return 0;
}

void vfs_close(struct simdev *sim, int fd)
{
    if (fd < 0)
        return;
    if (sim) {
        if (fd == SIM_DIR_FD)
            simdev_unlock(sim);
        else
            simdev_close(sim, fd);
        return;
    }
    close(fd);
}

int64_t vfs_read_file(struct simdev *sim, int dir_fd, const char *name, void *buf, size_t len)
{
    ssize_t n = 0;
    int fd;

    if (sim)
        return simdev_read_file(sim, name, buf, len);
    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* a large file (the checkpoint) may take several reads */
    size_t got = 0;
    while (got < len && (n = read(fd, (char *)buf + got, len - got)) > 0)
        got += (size_t)n;
    if (n < 0)
        n = -errno;
    else
        n = (ssize_t)got;
    close(fd);
    return n;
}

int vfs_write_atomic(struct simdev *sim, int dir_fd, const char *name, const void *buf, size_t len)
{
    char tmp[64];
    int fd, rc = 0;

    if (sim)
        return simdev_write_file(sim, name, buf, len);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    errno = 0;
    for (size_t done = 0; rc == 0 && done < len;) { /* one write(2) stops at 2 GiB */
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0)
            rc = errno ? -errno : -ENOSPC;
        else
            done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && renameat(dir_fd, tmp, dir_fd, name) != 0)
        rc = -errno;
    if (rc == 0 && fsync(dir_fd) != 0)
        rc = -errno;
    if (rc < 0)
        unlinkat(dir_fd, tmp, 0);
    return rc;
}

int vfs_exists(struct simdev *sim, int dir_fd, const char *name)
{
    if (sim)
        return simdev_exists(sim, name);
    if (faccessat(dir_fd, name, F_OK, 0) == 0)
        return 1;
    return errno == ENOENT ? 0 : -errno;
}

int vfs_unlink(struct simdev *sim, int dir_fd, const char *name)
{
    if (sim)
        return simdev_unlink(sim, name);
    return unlinkat(dir_fd, name, 0) == 0 ? 0 : -errno;
}

int vfs_probe_odirect(struct simdev *sim, int dir_fd)
{
    int fd, rc = 0;
    void *b;

    if (sim)
        return 0;
    fd = openat(dir_fd, ".odirect-probe", O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    b = uio_alloc(4096);
    if (!b) {
        rc = -ENOMEM;
    } else {
        memset(b, 0, 4096);
        errno = 0;
        if (pwrite(fd, b, 4096, 0) != 4096)
            rc = errno ? -errno : -EIO;
        uio_free(b);
    }
    close(fd);
    unlinkat(dir_fd, ".odirect-probe", 0);
    return rc;
}

int vfs_data_open(struct simdev *sim, int dir_fd, const char *name, int create, int read_only,
                  int *fd)
{
    int f;

    if (sim)
        return simdev_open(sim, name, create, create, fd);
    f = openat(dir_fd, name,
               (read_only ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC |
                   (create ? O_CREAT | O_EXCL : 0),
               0644);
    if (f < 0)
        return -errno;
    *fd = f;
    return 0;
}

int64_t vfs_size(struct simdev *sim, int fd)
{
    struct stat st;

    if (sim)
        return simdev_size(sim, fd);
    if (fstat(fd, &st) != 0)
        return -errno;
    return st.st_size;
}

int vfs_stamp(struct simdev *sim, int fd, struct vfs_stamp *out)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (sim)
        return simdev_stamp(sim, fd, &out->size, &out->mtime_ns, &out->ino);
    if (fstat(fd, &st) != 0)
        return -errno;
    out->size = (uint64_t)st.st_size;
    out->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    out->ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
    out->ino = (uint64_t)st.st_ino;
    return 0;
}

int vfs_fill(struct simdev *sim, int fd, uint64_t from, uint64_t size)
{
    const uint32_t chunk = 1u << 20;
    void *z;
    int rc = 0;

    if (sim)
        return simdev_fill(sim, fd, from, size);
    if (fallocate(fd, 0, 0, (off_t)size) != 0)
        return -errno;
    if (!(z = uio_alloc(chunk)))
        return -ENOMEM;
    memset(z, 0, chunk);
    for (uint64_t off = from; off < size && rc == 0; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        errno = 0;
        if (pwrite(fd, z, n, (off_t)off) != (ssize_t)n)
            rc = errno ? -errno : -EIO;
    }
    uio_free(z);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    return rc;
}

int vfs_sync_dir(struct simdev *sim, int dir_fd)
{
    if (sim)
        return simdev_dead(sim) ? -EIO : 0;
    return fsync(dir_fd) == 0 ? 0 : -errno;
}

uint64_t vfs_free_bytes(struct simdev *sim, int dir_fd)
{
    struct statvfs sv;

    if (sim)
        return simdev_free_bytes(sim);
    if (fstatvfs(dir_fd, &sv) != 0)
        return UINT64_MAX;
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

int vfs_random(struct simdev *sim, void *buf, size_t len)
{
    uint8_t *p = buf;

    if (sim) {
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)simdev_rand(sim);
        return 0;
    }
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}
