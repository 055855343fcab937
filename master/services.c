/* services: master's SERVICES.  See services.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "master/children.h"
#include "master/services.h"
#include "master/spawn.h"
#include "master/status.h"
#include "net.h"
#include "xmalloc.h"

#define MAX_SOCKETS_PER_ENTRY 8
#define MAX_FORKS_PER_TICK 64

long long services_backoff_ms(int failures)
{
    if (failures < SERVICES_FAIL_BURST) return 0;
    int shift = failures - SERVICES_FAIL_BURST;
    if (shift > 20) return SERVICES_MAX_BACKOFF_MS;
    long long d = 1000LL << shift;
    return d > SERVICES_MAX_BACKOFF_MS ? SERVICES_MAX_BACKOFF_MS : d;
}

void services_init(struct services *s, struct children *children, int backlog)
{
    memset(s, 0, sizeof(*s));
    s->children = children;
    s->backlog = backlog;
}

/* ---- one service -------------------------------------------------------- */

static struct master_service *svc_new(const struct cyrusconf_entry *e)
{
    struct master_service *svc = xzmalloc(sizeof(*svc));
    svc->name = xstrdup(e->name);
    svc->entry = e;
    for (int i = 0; i < e->argv.count; i++) strarray_append(&svc->argv, e->argv.data[i]);
    svc->prefork = e->prefork;
    svc->maxchild = e->maxchild;
    svc->maxforkrate = e->maxforkrate;
    svc->maxfds = e->maxfds;
    svc->listen_fd = -1;
    svc->status_r = svc->status_w = -1;
    svc->poll_status = svc->poll_listen = -1;
    snprintf(svc->listen_name, sizeof(svc->listen_name), "%s", e->listen);
    return svc;
}

static void svc_close_listener(struct master_service *svc)
{
    if (svc->listen_fd >= 0) close(svc->listen_fd);
    svc->listen_fd = -1;
    if (svc->unix_path) {
        unlink(svc->unix_path);
        xfree(svc->unix_path);
    }
}

static void svc_free(struct master_service *svc)
{
    svc_close_listener(svc);
    if (svc->status_r >= 0) close(svc->status_r);
    if (svc->status_w >= 0) close(svc->status_w);
    strarray_free(&svc->argv);
    free(svc->name);
    free(svc);
}

static void unlink_from_list(struct services *s, struct master_service *svc)
{
    for (struct master_service **pp = &s->list; *pp; pp = &(*pp)->next) {
        if (*pp == svc) {
            *pp = svc->next;
            return;
        }
    }
}

static int svc_open_pipe(struct master_service *svc)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        xsyslog(LOG_ERR, "cannot create status pipe", "service=<%s> error=<%s>",
                svc->name, strerror(errno));
        return -1;
    }
    net_set_nonblock(p[0], 1);
    svc->status_r = p[0];
    svc->status_w = p[1];
    return 0;
}

static void svc_set_listener(struct master_service *svc, int fd)
{
    char name[NET_ADDRSTRLEN];
    svc->listen_fd = fd;
    net_set_nonblock(fd, 1);
    net_set_cloexec(fd, 1);
    if (svc->entry && svc->entry->addr.is_unix) {
        snprintf(svc->listen_name, sizeof(svc->listen_name), "%s",
                 svc->entry->addr.path);
    } else {
        net_local_name(fd, name);
        snprintf(svc->listen_name, sizeof(svc->listen_name), "%s", name);
    }
}

static void log_started(const struct master_service *svc)
{
    xsyslog(LOG_NOTICE, "service started",
            "service=<%s> listen=<%s> cmd=<%s> prefork=<%d> maxchild=<%d>", svc->name,
            svc->listen_name, svc->entry ? svc->entry->cmd : "", svc->prefork,
            svc->maxchild);
}

/* Bind the entry's socket(s): the first goes to svc, any more to new
 * services inserted after it.  Logs and schedules a retry on failure. */
static void svc_bind(struct services *s, struct master_service *svc, long long now)
{
    const struct cyrusconf_entry *e = svc->entry;
    int fds[MAX_SOCKETS_PER_ENTRY];
    const char *err = NULL;
    int n = net_listen(&e->addr, e->proto, s->backlog, 0777, fds,
                       MAX_SOCKETS_PER_ENTRY, &err);
    if (n <= 0) {
        svc->bind_backoff_ms = svc->bind_backoff_ms ? svc->bind_backoff_ms * 2
                                                    : SERVICES_BIND_RETRY_MS;
        if (svc->bind_backoff_ms > 300000) svc->bind_backoff_ms = 300000;
        svc->bind_retry_ms = now + svc->bind_backoff_ms;
        xsyslog(LOG_ERR, "cannot listen",
                "service=<%s> listen=<%s> error=<%s> retry_in=<%llds>", svc->name,
                e->listen, err ? err : error_message(n),
                svc->bind_backoff_ms / 1000);
        return;
    }
    svc->bind_backoff_ms = 0;
    if (e->addr.is_unix) svc->unix_path = xstrdup(e->addr.path);
    if (svc_open_pipe(svc) < 0) {
        for (int i = 0; i < n; i++) close(fds[i]);
        svc_close_listener(svc);
        svc->bind_retry_ms = now + SERVICES_BIND_RETRY_MS;
        return;
    }
    svc_set_listener(svc, fds[0]);
    log_started(svc);
    struct master_service *after = svc;
    for (int i = 1; i < n; i++) {
        struct master_service *sib = svc_new(e);
        if (svc_open_pipe(sib) < 0) {
            close(fds[i]);
            svc_free(sib);
            continue;
        }
        svc_set_listener(sib, fds[i]);
        sib->next = after->next;
        after->next = sib;
        after = sib;
        log_started(sib);
    }
}

struct signal_rock {
    struct master_service *svc;
    int sig;
};

static void signal_one(struct child *ch, void *rock)
{
    struct signal_rock *sr = rock;
    if (ch->kind == CHILD_SERVICE && ch->owner.service == sr->svc) kill(ch->pid, sr->sig);
}

/* Take svc out of service: no more forks; its workers are told to leave. */
static void svc_retire(struct services *s, struct master_service *svc, int close_listener)
{
    svc->retired = 1;
    svc->entry = NULL;
    if (close_listener)
        svc_close_listener(svc);
    else
        svc->listen_fd = -1;   /* handed over to the service that replaces it */
    if (svc->status_w >= 0) {
        close(svc->status_w);
        svc->status_w = -1;
    }
    struct signal_rock sr = { svc, SIGHUP };
    children_foreach(s->children, signal_one, &sr);
    if (svc->nchildren == 0) {
        unlink_from_list(s, svc);
        svc_free(svc);
    }
}

/* ---- forking ------------------------------------------------------------ */

static int svc_time_ok(const struct master_service *svc, long long now)
{
    return now >= svc->throttled_until_ms && now >= svc->next_fork_ms;
}

static int svc_can_fork(const struct master_service *svc, long long now)
{
    return !svc->retired && svc->listen_fd >= 0 && svc->status_w >= 0 &&
           (svc->maxchild < 0 || svc->nchildren < svc->maxchild) &&
           svc_time_ok(svc, now);
}

static void svc_failed_start(struct master_service *svc, long long now, const char *why)
{
    svc->failures++;
    long long delay = services_backoff_ms(svc->failures);
    if (delay > 0) {
        svc->throttled_until_ms = now + delay;
        xsyslog(LOG_ERR, "service throttled",
                "service=<%s> failures=<%d> reason=<%s> delay_ms=<%lld>", svc->name,
                svc->failures, why, delay);
    } else {
        xsyslog(LOG_WARNING, "service failed to start", "service=<%s> failures=<%d> "
                "reason=<%s>", svc->name, svc->failures, why);
    }
}

static void svc_fork(struct services *s, struct master_service *svc, long long now)
{
    if (svc->maxforkrate > 0) svc->next_fork_ms = now + 1000 / svc->maxforkrate;

    char *path = spawn_resolve(svc->argv.data[0]);
    if (!path) {
        xsyslog(LOG_ERR, "command not found", "service=<%s> cmd=<%s>", svc->name,
                svc->argv.data[0]);
        svc_failed_start(svc, now, "command not found");
        return;
    }
    struct spawn_req req = {
        .name = svc->name,
        .path = path,
        .argv = svc->argv.data,
        .status_fd = svc->status_w,
        .listen_fd = svc->listen_fd,
        .maxfds = svc->maxfds,
    };
    pid_t pid = spawn_process(&req);
    free(path);
    if (pid < 0) {
        svc->next_fork_ms = now + 1000;   /* fork failed: the host is short */
        return;
    }
    struct child *ch = children_add(s->children, pid, CHILD_SERVICE);
    ch->owner.service = svc;
    svc->nchildren++;
    svc->navail++;
    xsyslog(LOG_DEBUG, "process started", "service=<%s> pid=<%ld>", svc->name,
            (long)pid);
}

void services_tick(struct services *s, long long now, long long *wake_ms)
{
    for (struct master_service *svc = s->list; svc; svc = svc->next) {
        if (svc->retired) continue;
        if (svc->listen_fd < 0) {
            if (now >= svc->bind_retry_ms) svc_bind(s, svc, now);
            if (svc->listen_fd < 0) {
                if (svc->bind_retry_ms < *wake_ms) *wake_ms = svc->bind_retry_ms;
                continue;
            }
        }
        int forks = 0;
        while (svc->navail < svc->prefork && svc_can_fork(svc, now) &&
               forks++ < MAX_FORKS_PER_TICK)
            svc_fork(s, svc, now);
        int want_more = svc->navail < svc->prefork || svc->navail == 0;
        int room = svc->maxchild < 0 || svc->nchildren < svc->maxchild;
        if (want_more && room && !svc_time_ok(svc, now)) {
            long long t = svc->throttled_until_ms > svc->next_fork_ms
                              ? svc->throttled_until_ms
                              : svc->next_fork_ms;
            if (t < *wake_ms) *wake_ms = t;
        } else if (want_more && room && forks > MAX_FORKS_PER_TICK) {
            if (now + 10 < *wake_ms) *wake_ms = now + 10;
        }
    }
}

/* ---- status messages ---------------------------------------------------- */

static int counts_available(enum child_state st)
{
    return st == CHILD_STARTING || st == CHILD_AVAILABLE || st == CHILD_SELFSERVE;
}

static void handle_msg(struct services *s, struct master_service *svc,
                       const struct status_msg *msg)
{
    struct child *ch = children_find(s->children, msg->pid);
    if (!ch || ch->kind != CHILD_SERVICE || ch->owner.service != svc) {
        xsyslog(LOG_WARNING, "status from unknown process", "service=<%s> pid=<%ld>",
                svc->name, (long)msg->pid);
        return;
    }
    if (!ch->reported) {
        ch->reported = 1;
        if (svc->failures >= SERVICES_FAIL_BURST)
            xsyslog(LOG_NOTICE, "service recovered", "service=<%s>", svc->name);
        svc->failures = 0;
        svc->throttled_until_ms = 0;
    }
    enum child_state next;
    switch (msg->code) {
    case STATUS_AVAILABLE: next = CHILD_AVAILABLE; break;
    case STATUS_BUSY: next = CHILD_BUSY; break;
    case STATUS_EXITING: next = CHILD_EXITING; break;
    case STATUS_SELFSERVE: next = CHILD_SELFSERVE; break;
    default: return;
    }
    if (ch->state == CHILD_SELFSERVE && next != CHILD_EXITING) return;
    if (ch->state == CHILD_EXITING) return;   /* nothing brings it back */
    svc->navail += counts_available(next) - counts_available(ch->state);
    ch->state = next;
    if (next == CHILD_SELFSERVE)
        xsyslog(LOG_INFO, "threaded service ready", "service=<%s> pid=<%ld>", svc->name,
                (long)ch->pid);
}

static void svc_read_status(struct services *s, struct master_service *svc)
{
    unsigned char buf[STATUS_MSG_SIZE * 64];
    if (svc->status_r < 0 || svc->status_eof) return;
    for (;;) {
        memcpy(buf, svc->pending, svc->npending);
        ssize_t n = read(svc->status_r, buf + svc->npending,
                         sizeof(buf) - svc->npending);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;   /* EAGAIN: drained */
        if (n == 0) {
            svc->status_eof = 1;
            return;
        }
        size_t total = svc->npending + (size_t)n, off = 0;
        for (; off + STATUS_MSG_SIZE <= total; off += STATUS_MSG_SIZE) {
            struct status_msg msg;
            if (status_decode(buf + off, &msg)) {
                xsyslog(LOG_ERR, "malformed status message", "service=<%s>",
                        svc->name);
                off = total;   /* cannot resynchronise: drop the rest */
                break;
            }
            handle_msg(s, svc, &msg);
        }
        svc->npending = off < total ? total - off : 0;
        memcpy(svc->pending, buf + off, svc->npending);
    }
}

void services_read_status(struct services *s)
{
    for (struct master_service *svc = s->list; svc; svc = svc->next)
        svc_read_status(s, svc);
}

void services_child_exited(struct services *s, struct child *ch, int status)
{
    struct master_service *svc = ch->owner.service;
    char text[128];
    long long now = children_now_ms();
    children_status_text(status, text, sizeof(text));

    if (counts_available(ch->state)) svc->navail--;
    svc->nchildren--;
    int ok = children_status_ok(status);
    int expected = svc->retired || ok;
    xsyslog(expected ? LOG_INFO : LOG_WARNING, "process exited",
            "service=<%s> pid=<%ld> status=<%s> state=<%s> lifetime_ms=<%lld>", svc->name,
            (long)ch->pid, text,
            ch->state == CHILD_BUSY      ? "busy"
            : ch->state == CHILD_STARTING ? "starting"
            : ch->state == CHILD_EXITING  ? "exiting"
                                          : "available",
            now - ch->started_ms);
    if (!ch->reported && !svc->retired) svc_failed_start(svc, now, text);

    if (svc->retired && svc->nchildren == 0) {
        svc_read_status(s, svc);
        unlink_from_list(s, svc);
        svc_free(svc);
    }
}

/* ---- polling ------------------------------------------------------------ */

static size_t add_pfd(struct services *s, int fd)
{
    if (s->npfds == s->apfds) {
        s->apfds = s->apfds ? s->apfds * 2 : 16;
        s->pfds = xreallocarray(s->pfds, s->apfds, sizeof(*s->pfds));
    }
    s->pfds[s->npfds].fd = fd;
    s->pfds[s->npfds].events = POLLIN;
    s->pfds[s->npfds].revents = 0;
    return s->npfds++;
}

struct pollfd *services_pollfds(struct services *s, long long now, size_t *n)
{
    s->npfds = 0;
    for (struct master_service *svc = s->list; svc; svc = svc->next) {
        svc->poll_status = svc->poll_listen = -1;
        if (svc->status_r >= 0 && !svc->status_eof)
            svc->poll_status = (int)add_pfd(s, svc->status_r);
        if (svc->navail == 0 && svc_can_fork(svc, now))
            svc->poll_listen = (int)add_pfd(s, svc->listen_fd);
    }
    *n = s->npfds;
    return s->pfds;
}

void services_handle_poll(struct services *s, long long now)
{
    for (struct master_service *svc = s->list; svc; svc = svc->next) {
        if (svc->poll_status >= 0 && s->pfds[svc->poll_status].revents)
            svc_read_status(s, svc);
    }
    for (struct master_service *svc = s->list; svc; svc = svc->next) {
        if (svc->poll_listen >= 0 && s->pfds[svc->poll_listen].revents &&
            svc->navail == 0 && svc_can_fork(svc, now))
            svc_fork(s, svc, now);
        svc->poll_status = svc->poll_listen = -1;
    }
}

/* ---- configuration ------------------------------------------------------ */

static void start_entry(struct services *s, const struct cyrusconf_entry *e, long long now)
{
    struct master_service *svc = svc_new(e);
    /* append, to keep cyrus.conf order */
    struct master_service **pp = &s->list;
    while (*pp) pp = &(*pp)->next;
    *pp = svc;
    svc_bind(s, svc, now);
}

void services_start(struct services *s, const struct cyrusconf *conf)
{
    long long now = children_now_ms();
    for (int i = 0; i < conf->count[CYRUSCONF_SERVICES]; i++)
        start_entry(s, conf->entries[CYRUSCONF_SERVICES][i], now);
}

static int has_active(const struct services *s, const char *name)
{
    for (const struct master_service *svc = s->list; svc; svc = svc->next)
        if (!svc->retired && !strcmp(svc->name, name)) return 1;
    return 0;
}

void services_reload(struct services *s, const struct cyrusconf *conf)
{
    long long now = children_now_ms();
    struct master_service *next;
    for (struct master_service *svc = s->list; svc; svc = next) {
        next = svc->next;
        if (svc->retired) continue;
        const struct cyrusconf_entry *e =
            cyrusconf_find(conf, CYRUSCONF_SERVICES, svc->name);
        if (!e) {
            xsyslog(LOG_NOTICE, "service removed", "service=<%s> listen=<%s>",
                    svc->name, svc->listen_name);
            svc_retire(s, svc, 1);
            continue;
        }
        if (cyrusconf_entry_same(svc->entry, e)) {
            svc->entry = e;
            continue;
        }
        xsyslog(LOG_NOTICE, "service changed, restarting", "service=<%s>", svc->name);
        if (svc->listen_fd >= 0 && cyrusconf_same_listener(svc->entry, e)) {
            /* keep the socket: no connection is refused meanwhile */
            struct master_service *fresh = svc_new(e);
            if (svc_open_pipe(fresh) < 0) {
                svc_free(fresh);
                svc->entry = e;
                continue;
            }
            svc_set_listener(fresh, svc->listen_fd);
            fresh->unix_path = svc->unix_path;
            svc->unix_path = NULL;
            fresh->next = svc->next;
            svc->next = fresh;
            next = fresh->next;
            log_started(fresh);
            svc_retire(s, svc, 0);
        } else {
            svc_retire(s, svc, 1);
        }
    }
    for (int i = 0; i < conf->count[CYRUSCONF_SERVICES]; i++) {
        const struct cyrusconf_entry *e = conf->entries[CYRUSCONF_SERVICES][i];
        if (!has_active(s, e->name)) start_entry(s, e, now);
    }
}

void services_close_listeners(struct services *s)
{
    for (struct master_service *svc = s->list; svc; svc = svc->next) {
        svc_close_listener(svc);
        svc->retired = 1;
        svc->entry = NULL;
    }
}

void services_free(struct services *s)
{
    struct master_service *next;
    for (struct master_service *svc = s->list; svc; svc = next) {
        next = svc->next;
        svc_free(svc);
    }
    s->list = NULL;
    free(s->pfds);
    s->pfds = NULL;
    s->npfds = s->apfds = 0;
}

int services_count_active(const struct services *s)
{
    int n = 0;
    for (const struct master_service *svc = s->list; svc; svc = svc->next)
        if (!svc->retired) n++;
    return n;
}
