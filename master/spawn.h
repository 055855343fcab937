/* spawn: how master starts a process for a cyrus.conf entry.
 *
 * spawn_resolve() turns the first word of cmd into a path: a word with a
 * '/' is used as it is; a bare name is looked up first in each directory
 * of the CYRUS_SERVICE_PATH environment variable (a colon list, so tests
 * can run binaries from a build tree) and then in the service directory
 * (LIBEXECDIR, the configured $(pkglibexecdir)).
 *
 * spawn_process() forks; the child gets a session of its own (so master
 * can signal everything it started), default signal handling, /dev/null on
 * stdin, the status pipe on STATUS_FD and the listener on LISTEN_FD when
 * given (nothing else of master's stays open), CYRUS_SERVICE=<entry name>
 * in its environment, RLIMIT_NOFILE = maxfds when maxfds > 0, the
 * identity of the service user when master still runs as root, no
 * capabilities, and then execs the command.  When exec fails the child
 * writes the reason to stderr and exits 127 without a status message.
 *
 * Memory: spawn_resolve returns a string the caller frees.  Errors:
 * spawn_resolve returns NULL when nothing executable is found;
 * spawn_process returns -1 (and logs) when fork fails.
 */
#ifndef MASTER_SPAWN_H
#define MASTER_SPAWN_H

#include <sys/types.h>

struct spawn_req {
    const char *name;          /* cyrus.conf entry name (CYRUS_SERVICE) */
    const char *path;          /* from spawn_resolve() */
    char *const *argv;         /* argv[0] is cmd's first word */
    int status_fd;             /* write end for STATUS_FD, or -1 */
    int listen_fd;             /* for LISTEN_FD, or -1 */
    int maxfds;                /* RLIMIT_NOFILE, 0 = unchanged */
};

char *spawn_resolve(const char *cmd0);
pid_t spawn_process(const struct spawn_req *req);

#endif
