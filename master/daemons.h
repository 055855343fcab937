/* daemons: master's DAEMON entries, one long-running process each.
 *
 * Each entry runs one process, started after the services, and started
 * again when it dies.  A process that dies within DAEMONS_MIN_LIFE_MS of its
 * start counts as a failed start; failed starts in a row are throttled as
 * services are (services_backoff_ms) and logged.  On reload a removed entry
 * gets SIGTERM and is not restarted; a changed one gets SIGTERM and the new
 * command starts once the old process has gone.
 *
 * Memory: struct daemons owns its records; entries are copied.  Errors are
 * logged.
 */
#ifndef MASTER_DAEMONS_H
#define MASTER_DAEMONS_H

#include <sys/types.h>

#include "master/children.h"
#include "master/cyrusconf.h"
#include "strarray.h"

#define DAEMONS_MIN_LIFE_MS 5000

struct master_daemon {
    struct master_daemon *next;
    char *name;
    const struct cyrusconf_entry *entry;   /* borrowed from the conf in force; NULL if retired */
    struct strarray argv;
    pid_t pid;                       /* 0 when not running */
    int retired;
    int failures;
    long long throttled_until_ms;
};

struct daemons {
    struct master_daemon *list;
    struct children *children;
};

void daemons_init(struct daemons *d, struct children *children);
void daemons_free(struct daemons *d);
void daemons_start(struct daemons *d, const struct cyrusconf *conf);
void daemons_reload(struct daemons *d, const struct cyrusconf *conf);
/* Stop restarting anything (shutdown). */
void daemons_stop(struct daemons *d);
void daemons_tick(struct daemons *d, long long now, long long *wake_ms);
void daemons_child_exited(struct daemons *d, struct child *ch, int status);

#endif
