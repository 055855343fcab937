/* mailbox_io: the system calls through which the mailbox module changes the
 * disk, with a fault injector for tests.
 *
 * Every call that creates, writes, syncs, renames, links, removes or
 * truncates goes through these wrappers, which count the operations and can
 * be told to fail the Nth one (the way SQLite tests its I/O layer): the
 * tests then check that nothing partial ever becomes visible.
 *
 * Return values are those of the system calls (-1 with errno set), except
 * that the write functions write everything or fail (a short write is
 * reported as -1 with errno EIO, or ENOSPC when the disk said so).
 *
 * Process-wide state: the operation counter and the pending fault, and
 * the AIO context used by mailbox_io_sync_many() (one per process, made
 * again after fork).
 */
#ifndef IMAP_STORE_MAILBOX_IO_H
#define IMAP_STORE_MAILBOX_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int mailbox_io_openat(int dirfd, const char *name, int flags, mode_t mode);
int mailbox_io_pwrite(int fd, const void *buf, size_t n, off_t off);
int mailbox_io_write(int fd, const void *buf, size_t n);
int mailbox_io_fsync(int fd);
int mailbox_io_fdatasync(int fd);
/* renameat2 with RENAME_NOREPLACE when `noreplace` */
int mailbox_io_renameat(int olddir, const char *oldname, int newdir,
                        const char *newname, int noreplace);
int mailbox_io_linkat(int olddir, const char *oldname, int newdir,
                      const char *newname);
/* An unnamed file in directory `dirfd` (O_TMPFILE, opened for writing):
 * it vanishes with its last descriptor until mailbox_io_linkfd() names
 * it.  -1 with errno EOPNOTSUPP (or EISDIR, EINVAL) where the system or
 * the file system cannot. */
int mailbox_io_tmpfile(int dirfd, mode_t mode);
/* Give the open file `fd` (made by mailbox_io_tmpfile()) the name
 * `newname` in `newdir` (fails with EEXIST when it is taken). */
int mailbox_io_linkfd(int fd, int newdir, const char *newname);
int mailbox_io_unlinkat(int dirfd, const char *name, int flags);
int mailbox_io_ftruncate(int fd, off_t len);
int mailbox_io_mkdirat(int dirfd, const char *name, mode_t mode);

/* Sync several files at once: fsync (datasync[i] == 0) or fdatasync each
 * of fds[0..n).  The calls are submitted together (Linux AIO), so that the
 * file system and the disk can merge their flushes; where that is not
 * available they run one after the other.  0 when all succeeded, else -1
 * with errno of a failure (the others have still completed).  Each file
 * counts as one operation for the fault injector. */
int mailbox_io_sync_many(const int *fds, const int *datasync, size_t n);

/* ---- test hooks ---------------------------------------------------------- */

/* Make the nth counted operation from now (1 = the next one) fail once
 * with errno `err`; nth 0 cancels. */
void mailbox_io_fail_at(long nth, int err);
/* Operations counted since the process started. */
long mailbox_io_ops(void);
/* Did the injected fault fire (and reset the indicator)? */
int mailbox_io_fault_fired(void);

/* Pretend the machine booted again (tests of the after-reboot check):
 * replaces the boot id the module compares with (0: read /proc again). */
void mailbox_io_set_bootid(uint64_t id);
uint64_t mailbox_io_bootid(void);

#endif
