/* mailbox_io: counted system calls with fault injection.  See mailbox_io.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/aio_abi.h>

#include "imap/store/mailbox_io.h"

static long io_ops;          /* operations counted so far */
static long io_fail_op;      /* the operation number that fails, or 0 */
static int io_fail_errno;
static int io_fired;

void mailbox_io_fail_at(long nth, int err)
{
    io_fail_op = nth > 0 ? io_ops + nth : 0;
    io_fail_errno = err ? err : EIO;
    io_fired = 0;
}

long mailbox_io_ops(void)
{
    return io_ops;
}

int mailbox_io_fault_fired(void)
{
    int f = io_fired;
    io_fired = 0;
    return f;
}

/* Count one operation; nonzero when it must fail (errno is set). */
static int io_fault(void)
{
    io_ops++;
    if (io_fail_op && io_ops == io_fail_op) {
        io_fail_op = 0;
        io_fired = 1;
        errno = io_fail_errno;
        return 1;
    }
    return 0;
}

int mailbox_io_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    if ((flags & (O_CREAT | O_TRUNC | O_WRONLY | O_RDWR)) && io_fault()) return -1;
    int fd;
    do {
        fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int mailbox_io_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (io_fault()) return -1;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int mailbox_io_write(int fd, const void *buf, size_t n)
{
    if (io_fault()) return -1;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mailbox_io_fsync(int fd)
{
    if (io_fault()) return -1;
    return fsync(fd);
}

int mailbox_io_fdatasync(int fd)
{
    if (io_fault()) return -1;
    return fdatasync(fd);
}

int mailbox_io_renameat(int olddir, const char *oldname, int newdir,
                        const char *newname, int noreplace)
{
    if (io_fault()) return -1;
    if (noreplace) {
        int r = renameat2(olddir, oldname, newdir, newname, RENAME_NOREPLACE);
        if (r == 0 || errno != EINVAL) return r;
        /* file system without RENAME_NOREPLACE: link + unlink */
        if (linkat(olddir, oldname, newdir, newname, 0) < 0) return -1;
        return unlinkat(olddir, oldname, 0);
    }
    return renameat(olddir, oldname, newdir, newname);
}

int mailbox_io_linkat(int olddir, const char *oldname, int newdir,
                      const char *newname)
{
    if (io_fault()) return -1;
    return linkat(olddir, oldname, newdir, newname, 0);
}

int mailbox_io_tmpfile(int dirfd, mode_t mode)
{
#ifdef O_TMPFILE
    if (io_fault()) return -1;
    int fd;
    do {
        fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
#else
    (void)dirfd;
    (void)mode;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

int mailbox_io_linkfd(int fd, int newdir, const char *newname)
{
    if (io_fault()) return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, path, newdir, newname, AT_SYMLINK_FOLLOW);
}

int mailbox_io_unlinkat(int dirfd, const char *name, int flags)
{
    if (io_fault()) return -1;
    return unlinkat(dirfd, name, flags);
}

int mailbox_io_ftruncate(int fd, off_t len)
{
    if (io_fault()) return -1;
    return ftruncate(fd, len);
}

int mailbox_io_mkdirat(int dirfd, const char *name, mode_t mode)
{
    if (io_fault()) return -1;
    return mkdirat(dirfd, name, mode);
}

/* ---- syncing several files at once -------------------------------------------- */

#define AIO_SLOTS 64

static aio_context_t aio_ctx;
static pid_t aio_pid;          /* the process that made aio_ctx */
static int aio_broken;         /* io_setup failed: sync one by one */

static int aio_ready(void)
{
    if (aio_broken) return 0;
    if (aio_ctx && aio_pid == getpid()) return 1;
    aio_ctx = 0;               /* a context is not inherited across fork */
    if (syscall(SYS_io_setup, AIO_SLOTS, &aio_ctx) < 0) {
        aio_ctx = 0;
        if (errno == ENOSYS || errno == EINVAL) aio_broken = 1;
        return 0;
    }
    aio_pid = getpid();
    return 1;
}

static int sync_one(int fd, int datasync)
{
    return datasync ? fdatasync(fd) : fsync(fd);
}

int mailbox_io_sync_many(const int *fds, const int *datasync, size_t n)
{
    int err = 0;
    size_t i = 0;
    while (i < n) {
        struct iocb cb[AIO_SLOTS];
        struct iocb *cbs[AIO_SLOTS];
        size_t k = 0;
        for (; i < n && k < AIO_SLOTS; i++) {
            if (io_fault()) {
                err = errno;
                continue;
            }
            memset(&cb[k], 0, sizeof(cb[k]));
            cb[k].aio_fildes = (uint32_t)fds[i];
            cb[k].aio_lio_opcode = datasync[i] ? IOCB_CMD_FDSYNC : IOCB_CMD_FSYNC;
            cbs[k] = &cb[k];
            k++;
        }
        size_t submitted = 0;
        if (k > 1 && aio_ready()) {
            long r;
            do {
                r = syscall(SYS_io_submit, aio_ctx, (long)k, cbs);
            } while (r < 0 && errno == EINTR);
            if (r > 0) submitted = (size_t)r;
        }
        /* whatever AIO did not take is done here, one by one */
        for (size_t j = submitted; j < k; j++)
            if (sync_one((int)cb[j].aio_fildes,
                         cb[j].aio_lio_opcode == IOCB_CMD_FDSYNC) < 0 && !err)
                err = errno;
        size_t done = 0;
        while (done < submitted) {
            struct io_event ev[AIO_SLOTS];
            long g = syscall(SYS_io_getevents, aio_ctx, (long)(submitted - done),
                             (long)(submitted - done), ev, NULL);
            if (g < 0) {
                if (errno == EINTR) continue;
                /* cannot wait for them: make sure by doing them again */
                for (size_t j = 0; j < submitted; j++)
                    if (sync_one((int)cb[j].aio_fildes,
                                 cb[j].aio_lio_opcode == IOCB_CMD_FDSYNC) < 0 && !err)
                        err = errno;
                break;
            }
            for (long e = 0; e < g; e++)
                if (ev[e].res < 0 && !err) err = (int)-ev[e].res;
            done += (size_t)g;
        }
    }
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- boot id ---------------------------------------------------------------- */

static uint64_t boot_id;
static int boot_id_read;

void mailbox_io_set_bootid(uint64_t id)
{
    boot_id = id;
    boot_id_read = id != 0;
}

/* The first 16 hex digits of /proc/sys/kernel/random/boot_id, or 0 when
 * the system does not say (the after-reboot check is then off). */
uint64_t mailbox_io_bootid(void)
{
    if (boot_id_read) return boot_id;
    boot_id_read = 1;
    boot_id = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f) return 0;
    char line[64];
    if (fgets(line, sizeof(line), f)) {
        uint64_t v = 0;
        int digits = 0;
        for (const char *p = line; *p && digits < 16; p++) {
            int d;
            if (*p >= '0' && *p <= '9') d = *p - '0';
            else if (*p >= 'a' && *p <= 'f') d = *p - 'a' + 10;
            else if (*p >= 'A' && *p <= 'F') d = *p - 'A' + 10;
            else continue;
            v = (v << 4) | (uint64_t)d;
            digits++;
        }
        if (digits == 16) boot_id = v ? v : 1;
    }
    fclose(f);
    return boot_id;
}
