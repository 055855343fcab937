/* events: master's EVENTS, commands run periodically or at a time of day.
 *
 * An entry with period= runs when master starts (or when the entry appears
 * on reload) and then every period; one with at=HHMM runs every day at that
 * local time.  Runs are forked like any process and reaped by the main loop,
 * so an event never blocks the services.  When a run is due while the
 * previous run of the same entry is still going, it is skipped and logged.
 * A period event that could not run on time (master was busy or suspended)
 * runs once, not once per missed period.  On reload an unchanged entry keeps
 * its schedule; a removed one lets a running run finish.
 *
 * Memory: struct events owns its records.  Errors are logged.
 */
#ifndef MASTER_EVENTS_H
#define MASTER_EVENTS_H

#include <sys/types.h>
#include <time.h>

#include "master/children.h"
#include "master/cyrusconf.h"
#include "strarray.h"

struct master_event {
    struct master_event *next;
    char *name;
    const struct cyrusconf_entry *entry;   /* borrowed; NULL once retired */
    struct strarray argv;
    long period;                /* seconds, 0 for `at` events */
    int at;                     /* minutes after midnight, -1 for period events */
    long long next_ms;          /* period events: monotonic time of next run */
    time_t next_wall;           /* at events: wall-clock time of next run */
    pid_t pid;                  /* the run in progress, or 0 */
    int retired;
};

struct events {
    struct master_event *list;
    struct children *children;
};

void events_init(struct events *ev, struct children *children);
void events_free(struct events *ev);
void events_start(struct events *ev, const struct cyrusconf *conf, long long now_ms,
                  time_t now_wall);
void events_reload(struct events *ev, const struct cyrusconf *conf, long long now_ms,
                   time_t now_wall);
/* Stop scheduling anything (shutdown). */
void events_stop(struct events *ev);
/* Run what is due; lower *wake_ms (monotonic) to the next run. */
void events_tick(struct events *ev, long long now_ms, time_t now_wall, long long *wake_ms);
void events_child_exited(struct events *ev, struct child *ch, int status);

/* The first time after `now` (strictly) when the local clock shows
 * `minutes` after midnight (0..1439).  Pure. */
time_t events_next_at(time_t now, int minutes);

#endif
