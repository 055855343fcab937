/* events: master's EVENTS.  See events.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "master/events.h"
#include "master/spawn.h"
#include "xmalloc.h"

time_t events_next_at(time_t now, int minutes)
{
    struct tm tm;
    localtime_r(&now, &tm);
    for (int day = 0; day < 3; day++) {
        struct tm want = tm;
        want.tm_mday += day;
        want.tm_hour = minutes / 60;
        want.tm_min = minutes % 60;
        want.tm_sec = 0;
        want.tm_isdst = -1;
        time_t t = mktime(&want);
        if (t != (time_t)-1 && t > now) return t;
    }
    return now + 86400;   /* not reached with a sane clock */
}

void events_init(struct events *ev, struct children *children)
{
    memset(ev, 0, sizeof(*ev));
    ev->children = children;
}

static void schedule_first(struct master_event *e, long long now_ms, time_t now_wall)
{
    if (e->at >= 0)
        e->next_wall = events_next_at(now_wall, e->at);
    else
        e->next_ms = now_ms;
}

static struct master_event *event_new(struct events *ev, const struct cyrusconf_entry *ce)
{
    struct master_event *e = xzmalloc(sizeof(*e));
    e->name = xstrdup(ce->name);
    e->entry = ce;
    for (int i = 0; i < ce->argv.count; i++) strarray_append(&e->argv, ce->argv.data[i]);
    e->period = ce->period;
    e->at = ce->at;
    struct master_event **pp = &ev->list;
    while (*pp) pp = &(*pp)->next;
    *pp = e;
    return e;
}

static void event_free(struct master_event *e)
{
    strarray_free(&e->argv);
    free(e->name);
    free(e);
}

static void event_unlink(struct events *ev, struct master_event *e)
{
    for (struct master_event **pp = &ev->list; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            return;
        }
    }
}

void events_free(struct events *ev)
{
    struct master_event *next;
    for (struct master_event *e = ev->list; e; e = next) {
        next = e->next;
        event_free(e);
    }
    ev->list = NULL;
}

void events_start(struct events *ev, const struct cyrusconf *conf, long long now_ms,
                  time_t now_wall)
{
    for (int i = 0; i < conf->count[CYRUSCONF_EVENTS]; i++) {
        struct master_event *e = event_new(ev, conf->entries[CYRUSCONF_EVENTS][i]);
        schedule_first(e, now_ms, now_wall);
    }
}

static void event_retire(struct events *ev, struct master_event *e)
{
    e->retired = 1;
    e->entry = NULL;
    if (e->pid == 0) {
        event_unlink(ev, e);
        event_free(e);
    }
}

void events_reload(struct events *ev, const struct cyrusconf *conf, long long now_ms,
                   time_t now_wall)
{
    struct master_event *next;
    for (struct master_event *e = ev->list; e; e = next) {
        next = e->next;
        if (e->retired) continue;
        const struct cyrusconf_entry *ce = cyrusconf_find(conf, CYRUSCONF_EVENTS, e->name);
        if (ce && cyrusconf_entry_same(e->entry, ce)) {
            e->entry = ce;
            continue;
        }
        xsyslog(LOG_NOTICE, ce ? "event changed" : "event removed", "event=<%s>",
                e->name);
        event_retire(ev, e);
    }
    for (int i = 0; i < conf->count[CYRUSCONF_EVENTS]; i++) {
        const struct cyrusconf_entry *ce = conf->entries[CYRUSCONF_EVENTS][i];
        int found = 0;
        for (struct master_event *e = ev->list; e; e = e->next)
            if (!e->retired && !strcmp(e->name, ce->name)) found = 1;
        if (!found) schedule_first(event_new(ev, ce), now_ms, now_wall);
    }
}

void events_stop(struct events *ev)
{
    struct master_event *next;
    for (struct master_event *e = ev->list; e; e = next) {
        next = e->next;
        if (!e->retired) event_retire(ev, e);
    }
}

static void event_run(struct events *ev, struct master_event *e)
{
    if (e->pid > 0) {
        xsyslog(LOG_WARNING, "event still running, run skipped", "event=<%s> pid=<%ld>",
                e->name, (long)e->pid);
        return;
    }
    char *path = spawn_resolve(e->argv.data[0]);
    if (!path) {
        xsyslog(LOG_ERR, "command not found", "event=<%s> cmd=<%s>", e->name,
                e->argv.data[0]);
        return;
    }
    struct spawn_req req = {
        .name = e->name, .path = path, .argv = e->argv.data,
        .status_fd = -1, .listen_fd = -1, .maxfds = 0,
    };
    pid_t pid = spawn_process(&req);
    free(path);
    if (pid < 0) return;
    e->pid = pid;
    struct child *ch = children_add(ev->children, pid, CHILD_EVENT);
    ch->owner.event = e;
    xsyslog(LOG_INFO, "event started", "event=<%s> pid=<%ld>", e->name, (long)pid);
}

void events_tick(struct events *ev, long long now_ms, time_t now_wall, long long *wake_ms)
{
    for (struct master_event *e = ev->list; e; e = e->next) {
        if (e->retired) continue;
        if (e->at >= 0) {
            if (now_wall >= e->next_wall) {
                event_run(ev, e);
                e->next_wall = events_next_at(now_wall, e->at);
            }
            long long in = (long long)(e->next_wall - now_wall) * 1000;
            if (now_ms + in < *wake_ms) *wake_ms = now_ms + in;
        } else {
            if (now_ms >= e->next_ms) {
                event_run(ev, e);
                e->next_ms += (long long)e->period * 1000;
                if (e->next_ms <= now_ms) e->next_ms = now_ms + (long long)e->period * 1000;
            }
            if (e->next_ms < *wake_ms) *wake_ms = e->next_ms;
        }
    }
}

void events_child_exited(struct events *ev, struct child *ch, int status)
{
    struct master_event *e = ch->owner.event;
    char text[128];
    children_status_text(status, text, sizeof(text));
    xsyslog(children_status_ok(status) ? LOG_INFO : LOG_WARNING, "process exited",
            "event=<%s> pid=<%ld> status=<%s> lifetime_ms=<%lld>", e->name,
            (long)ch->pid, text, children_now_ms() - ch->started_ms);
    e->pid = 0;
    if (e->retired) {
        event_unlink(ev, e);
        event_free(e);
    }
}
