/* children: master's table of the processes it started.
 *
 * Every process master forks (service workers, DAEMON entries, EVENTS runs,
 * START commands) is recorded here by pid with what it belongs to, so that
 * a status message or a death can be charged to the right owner and counted
 * exactly.  children_reap() collects every exited child (waitpid with
 * WNOHANG until none is left), so no zombie survives a pass of the main
 * loop.
 *
 * Memory: the table owns its struct child records; a record is freed by
 * children_remove().  Owner pointers are borrowed.  No global state.
 */
#ifndef MASTER_CHILDREN_H
#define MASTER_CHILDREN_H

#include <stddef.h>
#include <sys/types.h>

#include "hash.h"

struct master_service;
struct master_daemon;
struct master_event;

enum child_kind { CHILD_SERVICE = 1, CHILD_DAEMON, CHILD_EVENT, CHILD_START };

enum child_state {
    CHILD_STARTING,   /* forked, no message yet: counted as available */
    CHILD_AVAILABLE,  /* waiting in accept */
    CHILD_BUSY,       /* serving a connection */
    CHILD_EXITING,    /* said it is leaving */
    CHILD_SELFSERVE,  /* threaded: accepts by itself for good */
    CHILD_RUNNING,    /* DAEMON, EVENTS and START processes */
};

struct child {
    pid_t pid;
    enum child_kind kind;
    enum child_state state;
    int reported;              /* sent at least one status message */
    long long started_ms;      /* monotonic */
    union {
        struct master_service *service;
        struct master_daemon *daemon;
        struct master_event *event;
    } owner;
};

struct children {
    struct hash_table by_pid;
};

/* One exited child, as collected by children_reap(). */
struct child_exit {
    pid_t pid;
    int status;               /* as from waitpid */
};

void children_init(struct children *c);
/* Frees the records (not the owners). */
void children_free(struct children *c);

/* Record a new child; returns the record (owned by the table). */
struct child *children_add(struct children *c, pid_t pid, enum child_kind kind);
struct child *children_find(const struct children *c, pid_t pid);
void children_remove(struct children *c, struct child *child);
size_t children_count(const struct children *c);

/* Call fn for every child; fn must not add or remove records. */
void children_foreach(const struct children *c,
                      void (*fn)(struct child *child, void *rock), void *rock);

/* Collect every exited child into *exits (grown with xrealloc; *nexits is
 * set).  The caller frees *exits.  Returns the number collected. */
size_t children_reap(struct child_exit **exits, size_t *nexits);

/* "exited 0", "exited 75", "killed by signal 9 (Killed)", ... into buf. */
const char *children_status_text(int status, char *buf, size_t len);
/* True for exit 0. */
int children_status_ok(int status);

/* Milliseconds on the monotonic clock. */
long long children_now_ms(void);

#endif
