/* daemons: master's DAEMON entries.  See daemons.h. */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master/daemons.h"
#include "master/services.h"
#include "master/spawn.h"
#include "xmalloc.h"

void daemons_init(struct daemons *d, struct children *children)
{
    memset(d, 0, sizeof(*d));
    d->children = children;
}

static struct master_daemon *daemon_new(struct daemons *d,
                                       const struct cyrusconf_entry *e)
{
    struct master_daemon *dm = xzmalloc(sizeof(*dm));
    dm->name = xstrdup(e->name);
    dm->entry = e;
    for (int i = 0; i < e->argv.count; i++) strarray_append(&dm->argv, e->argv.data[i]);
    struct master_daemon **pp = &d->list;
    while (*pp) pp = &(*pp)->next;
    *pp = dm;
    return dm;
}

static void daemon_free(struct master_daemon *dm)
{
    strarray_free(&dm->argv);
    free(dm->name);
    free(dm);
}

static void daemon_unlink(struct daemons *d, struct master_daemon *dm)
{
    for (struct master_daemon **pp = &d->list; *pp; pp = &(*pp)->next) {
        if (*pp == dm) {
            *pp = dm->next;
            return;
        }
    }
}

void daemons_free(struct daemons *d)
{
    struct master_daemon *next;
    for (struct master_daemon *dm = d->list; dm; dm = next) {
        next = dm->next;
        daemon_free(dm);
    }
    d->list = NULL;
}

void daemons_start(struct daemons *d, const struct cyrusconf *conf)
{
    for (int i = 0; i < conf->count[CYRUSCONF_DAEMON]; i++)
        daemon_new(d, conf->entries[CYRUSCONF_DAEMON][i]);
}

static void daemon_retire(struct daemons *d, struct master_daemon *dm)
{
    dm->retired = 1;
    dm->entry = NULL;
    if (dm->pid > 0) {
        kill(-dm->pid, SIGTERM);
    } else {
        daemon_unlink(d, dm);
        daemon_free(dm);
    }
}

void daemons_reload(struct daemons *d, const struct cyrusconf *conf)
{
    struct master_daemon *next;
    for (struct master_daemon *dm = d->list; dm; dm = next) {
        next = dm->next;
        if (dm->retired) continue;
        const struct cyrusconf_entry *e =
            cyrusconf_find(conf, CYRUSCONF_DAEMON, dm->name);
        if (e && cyrusconf_entry_same(dm->entry, e)) {
            dm->entry = e;
            continue;
        }
        xsyslog(LOG_NOTICE, e ? "daemon changed, restarting" : "daemon removed",
                "daemon=<%s>", dm->name);
        daemon_retire(d, dm);
    }
    for (int i = 0; i < conf->count[CYRUSCONF_DAEMON]; i++) {
        const struct cyrusconf_entry *e = conf->entries[CYRUSCONF_DAEMON][i];
        int found = 0;
        for (struct master_daemon *dm = d->list; dm; dm = dm->next)
            if (!dm->retired && !strcmp(dm->name, e->name)) found = 1;
        if (!found) daemon_new(d, e);
    }
}

void daemons_stop(struct daemons *d)
{
    for (struct master_daemon *dm = d->list; dm; dm = dm->next) {
        dm->retired = 1;
        dm->entry = NULL;
    }
}

/* An older process of the same name is still on its way out. */
static int old_one_running(const struct daemons *d, const struct master_daemon *dm)
{
    for (const struct master_daemon *o = d->list; o; o = o->next)
        if (o != dm && o->retired && o->pid > 0 && !strcmp(o->name, dm->name)) return 1;
    return 0;
}

static void daemon_failed(struct master_daemon *dm, long long now, const char *why)
{
    dm->failures++;
    long long delay = services_backoff_ms(dm->failures);
    if (delay > 0) {
        dm->throttled_until_ms = now + delay;
        xsyslog(LOG_ERR, "daemon throttled",
                "daemon=<%s> failures=<%d> reason=<%s> delay_ms=<%lld>", dm->name,
                dm->failures, why, delay);
    }
}

void daemons_tick(struct daemons *d, long long now, long long *wake_ms)
{
    for (struct master_daemon *dm = d->list; dm; dm = dm->next) {
        if (dm->retired || dm->pid > 0) continue;
        if (old_one_running(d, dm)) continue;
        if (now < dm->throttled_until_ms) {
            if (dm->throttled_until_ms < *wake_ms) *wake_ms = dm->throttled_until_ms;
            continue;
        }
        char *path = spawn_resolve(dm->argv.data[0]);
        if (!path) {
            xsyslog(LOG_ERR, "command not found", "daemon=<%s> cmd=<%s>", dm->name,
                    dm->argv.data[0]);
            daemon_failed(dm, now, "command not found");
            if (!dm->throttled_until_ms || dm->throttled_until_ms <= now)
                dm->throttled_until_ms = now + 1000;
            if (dm->throttled_until_ms < *wake_ms) *wake_ms = dm->throttled_until_ms;
            continue;
        }
        struct spawn_req req = {
            .name = dm->name, .path = path, .argv = dm->argv.data,
            .status_fd = -1, .listen_fd = -1, .maxfds = 0,
        };
        pid_t pid = spawn_process(&req);
        free(path);
        if (pid < 0) {
            dm->throttled_until_ms = now + 1000;
            continue;
        }
        dm->pid = pid;
        struct child *ch = children_add(d->children, pid, CHILD_DAEMON);
        ch->owner.daemon = dm;
        xsyslog(LOG_NOTICE, "daemon started", "daemon=<%s> pid=<%ld> cmd=<%s>",
                dm->name, (long)pid, dm->argv.data[0]);
    }
}

void daemons_child_exited(struct daemons *d, struct child *ch, int status)
{
    struct master_daemon *dm = ch->owner.daemon;
    char text[128];
    long long now = children_now_ms();
    long long life = now - ch->started_ms;
    children_status_text(status, text, sizeof(text));
    dm->pid = 0;
    xsyslog(dm->retired ? LOG_INFO : LOG_WARNING, "process exited",
            "daemon=<%s> pid=<%ld> status=<%s> lifetime_ms=<%lld>", dm->name,
            (long)ch->pid, text, life);
    if (dm->retired) {
        daemon_unlink(d, dm);
        daemon_free(dm);
        return;
    }
    if (life < DAEMONS_MIN_LIFE_MS)
        daemon_failed(dm, now, text);
    else
        dm->failures = 0;
}
