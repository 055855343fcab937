/* pidfile: master's pid file and lock.  See pidfile.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "master/pidfile.h"

static char errbuf[300];

static int lock_fd(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return fcntl(fd, F_SETLK, &fl);
}

static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

int pidfile_open(const char *path, pid_t *other_r, const char **errstr)
{
    *other_r = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(errbuf, sizeof(errbuf), "cannot open pid file %s: %s", path,
                 strerror(errno));
        *errstr = errbuf;
        return CYRERR_IO;
    }
    if (lock_fd(fd) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            *other_r = read_pid(fd);
            snprintf(errbuf, sizeof(errbuf),
                     "another master is running with pid file %s (pid %ld)", path,
                     (long)*other_r);
            *errstr = errbuf;
            close(fd);
            return CYRERR_LOCKED;
        }
        snprintf(errbuf, sizeof(errbuf), "cannot lock pid file %s: %s", path,
                 strerror(e));
        *errstr = errbuf;
        close(fd);
        return CYRERR_IO;
    }
    return fd;
}

int pidfile_write(int fd, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
    if (ftruncate(fd, 0) < 0) return CYRERR_IO;
    if (pwrite(fd, buf, (size_t)n, 0) != n) return CYRERR_IO;
    return 0;
}

void pidfile_remove(const char *path, int fd)
{
    if (fd < 0) return;
    if (unlink(path) < 0) {
        if (ftruncate(fd, 0) < 0) {
            /* nothing more to do: the lock goes with the process */
        }
    }
    close(fd);
}
