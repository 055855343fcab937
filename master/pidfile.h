/* pidfile: master's pid file, which is also its lock.
 *
 * pidfile_open() creates (or opens) the file, takes an fcntl write lock on
 * it, and writes the caller's pid.  The lock is held as long as master
 * lives, so a second master on the same pid file is refused even when a
 * stale file was left behind by a crash (a stale file has no lock).
 * pidfile_remove() unlinks the file; when the directory does not allow that
 * (master has dropped root) the file is emptied instead.
 *
 * pidfile_open returns the open, locked descriptor (keep it open), or
 * CYRERR_LOCKED with *other_r set when another master holds the lock, or
 * CYRERR_IO; *errstr is then static text.  No allocation.
 */
#ifndef MASTER_PIDFILE_H
#define MASTER_PIDFILE_H

#include <sys/types.h>

int pidfile_open(const char *path, pid_t *other_r, const char **errstr)
    __attribute__((warn_unused_result));
/* Write `pid` into the file: 0 or CYRERR_IO. */
int pidfile_write(int fd, pid_t pid);
void pidfile_remove(const char *path, int fd);

#endif
