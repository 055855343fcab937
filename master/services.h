/* services: master's SERVICES: listeners, worker counts and forking.
 *
 * Each listening socket of a SERVICES entry is one struct master_service
 * (a bare port gives two: IPv6 and IPv4; prefork and maxchild then apply to
 * each, as in Cyrus).  It owns the socket, the status pipe its workers
 * write to, and the exact count of its workers and of those available
 * (see master/status.h for the messages).  The policy:
 *
 *   - keep at least `prefork` workers available, never more than
 *     `maxchild` workers in all;
 *   - with no worker available, watch the listener and fork one when a
 *     connection waits (prefork=0 services start on demand);
 *   - fork no faster than `maxforkrate` per second;
 *   - a worker that dies before its first status message is a failed
 *     start; after SERVICES_FAIL_BURST failed starts in a row the service
 *     is throttled (no forks for 1 s, then 2, 4, ... up to
 *     SERVICES_MAX_BACKOFF_MS) and that is logged; the first status message
 *     of a worker ends the throttling;
 *   - a socket that cannot be bound is logged and retried later.
 *
 * Reload (SIGHUP): entries that are gone are retired (listener closed,
 * workers sent SIGHUP: idle ones leave at once, busy ones after their
 * connection); changed entries are retired and started again, keeping the
 * listening socket when the address did not change; new entries are bound
 * and started.  A retired service is freed when its last worker is gone.
 *
 * Memory: struct services owns every struct master_service; entries are
 * borrowed from the cyrusconf currently in force (services_reload moves
 * them to the new one).  Errors are logged, never returned: master never
 * stops because of one service.
 */
#ifndef MASTER_SERVICES_H
#define MASTER_SERVICES_H

#include <poll.h>
#include <stddef.h>

#include "master/children.h"
#include "master/cyrusconf.h"
#include "master/status.h"
#include "strarray.h"

#define SERVICES_FAIL_BURST 3
#define SERVICES_MAX_BACKOFF_MS 30000
#define SERVICES_BIND_RETRY_MS 5000

struct master_service {
    struct master_service *next;
    char *name;                       /* the entry's name */
    const struct cyrusconf_entry *entry;  /* NULL once retired */
    struct strarray argv;             /* copies of the entry's settings */
    int prefork, maxchild, maxforkrate, maxfds;

    int listen_fd;                    /* -1: not bound (yet) or retired */
    char *unix_path;                  /* unlinked when we close the socket */
    char listen_name[80];             /* for logs */
    int status_r, status_w;           /* the status pipe (-1 when closed) */
    int status_eof;
    unsigned char pending[STATUS_MSG_SIZE];
    size_t npending;

    int nchildren;                    /* workers alive */
    int navail;                       /* of which available */
    int retired;

    long long next_fork_ms;           /* maxforkrate */
    int failures;                     /* failed starts in a row */
    long long throttled_until_ms;
    long long bind_retry_ms;
    long long bind_backoff_ms;

    int poll_status, poll_listen;     /* slots in the poll array, or -1 */
};

struct services {
    struct master_service *list;
    struct children *children;
    int backlog;
    struct pollfd *pfds;
    size_t npfds, apfds;
};

void services_init(struct services *s, struct children *children, int backlog);
/* Close every socket and pipe and free everything (master's exit). */
void services_free(struct services *s);

/* Bind and start every SERVICES entry of conf (at boot). */
void services_start(struct services *s, const struct cyrusconf *conf);
/* Apply a new configuration (see above). */
void services_reload(struct services *s, const struct cyrusconf *conf);
/* Stop listening everywhere (shutdown); workers are left to master. */
void services_close_listeners(struct services *s);

/* Read every status pipe (call after reaping, before handling deaths). */
void services_read_status(struct services *s);
/* A worker died: count it, log it, maybe throttle. */
void services_child_exited(struct services *s, struct child *ch, int status);

/* Fork what is missing; lower *wake_ms to the next time something is due. */
void services_tick(struct services *s, long long now, long long *wake_ms);
/* The descriptors master must poll (status pipes, and listeners of services
 * waiting for an on-demand fork); the array belongs to `s`. */
struct pollfd *services_pollfds(struct services *s, long long now, size_t *n);
/* After poll: read status and fork for waiting connections. */
void services_handle_poll(struct services *s, long long now);

/* Number of services (not retired) and of workers, for logs. */
int services_count_active(const struct services *s);

/* The backoff after `failures` failed starts in a row: 0 below
 * SERVICES_FAIL_BURST, then 1 s doubling up to SERVICES_MAX_BACKOFF_MS. */
long long services_backoff_ms(int failures);

#endif
