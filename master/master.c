/* master: the process supervisor of every host of the murder.
 *
 *   master [-C imapd.conf] [-M cyrus.conf] [-p pidfile] [-d | -D] [-l backlog]
 *          [-u user] [-V]
 *
 * It reads cyrus.conf (master/cyrusconf.c), runs the START entries to
 * completion, binds every listener, drops root (master/privs.c), and then
 * loops: reap children, read their status, run due events, fork what the
 * services need, sleep in ppoll until a signal, a status message, a waiting
 * connection or a timer.  The policy of each kind of entry lives in its own
 * file (services.c, daemons.c, events.c); this file holds the order of
 * things: startup, the main loop, reload and shutdown.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "master/children.h"
#include "master/cyrusconf.h"
#include "master/daemons.h"
#include "master/events.h"
#include "master/pidfile.h"
#include "master/privs.h"
#include "master/services.h"
#include "master/signals.h"
#include "master/spawn.h"
#include "strarray.h"
#include "xmalloc.h"

#define CYRUS_CONF_DEFAULT SYSCONFDIR "/cyrus.conf"
#define PIDFILE_DEFAULT "/run/cyrus/master.pid"
#define BACKLOG_DEFAULT 32
#define SHUTDOWN_GRACE_MS 10000
#define MAX_SLEEP_MS 60000

struct master {
    const char *imapd_conf;        /* -C, or NULL */
    char *cyrus_conf;              /* -M, made absolute */
    char *pidfile;                 /* -p, made absolute */
    int daemonize;                 /* -d */
    int debug;                     /* -D */
    int backlog;                   /* -l */
    const char *user;              /* -u */

    struct cyrusconf *conf;        /* the configuration in force */
    struct children children;
    struct services services;
    struct daemons daemons;
    struct events events;
    int pidfd;
    int ready_fd;                  /* -d: tells the parent we are up */
};

static void __attribute__((noreturn)) usage(void)
{
    fprintf(stderr,
            "usage: master [-C imapd.conf] [-M cyrus.conf] [-p pidfile] [-d | -D] "
            "[-l backlog] [-u user] [-V]\n");
    exit(EX_TEMPFAIL_CODE);
}

static char *absolute(const char *path)
{
    if (path[0] == '/') return xstrdup(path);
    char *cwd = getcwd(NULL, 0);
    if (!cwd) return xstrdup(path);
    char *p = strconcat(cwd, "/", path, (char *)NULL);
    free(cwd);
    return p;
}

static void parse_args(struct master *m, int argc, char **argv)
{
    const char *conf = CYRUS_CONF_DEFAULT, *pidfile = PIDFILE_DEFAULT;
    int opt;
    m->backlog = BACKLOG_DEFAULT;
    while ((opt = getopt(argc, argv, "C:M:p:dDl:u:V")) != -1) {
        switch (opt) {
        case 'C': m->imapd_conf = optarg; break;
        case 'M': conf = optarg; break;
        case 'p': pidfile = optarg; break;
        case 'd': m->daemonize = 1; break;
        case 'D': m->debug = 1; break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 65535) {
                fprintf(stderr, "master: -l needs a number from 1 to 65535\n");
                exit(EX_TEMPFAIL_CODE);
            }
            m->backlog = (int)v;
            break;
        }
        case 'u': m->user = optarg; break;
        case 'V':
            printf("master %s\n", PACKAGE_STRING);
            exit(0);
        default: usage();
        }
    }
    if (optind != argc || (m->daemonize && m->debug)) usage();
    m->cyrus_conf = absolute(conf);
    m->pidfile = absolute(pidfile);
}

/* ---- startup helpers -------------------------------------------------- */

static struct cyrusconf *read_cyrus_conf_or_exit(const char *path)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = NULL;
    if (cyrusconf_parse_file(path, &conf, &errors)) {
        for (int i = 0; i < errors.count; i++) {
            xsyslog(LOG_ERR, "cyrus.conf error", "error=<%s>", errors.data[i]);
            fprintf(stderr, "master: %s\n", errors.data[i]);
        }
        strarray_free(&errors);
        exit(EX_TEMPFAIL_CODE);
    }
    strarray_free(&errors);
    return conf;
}

/* Fork into the background; the parent exits 0 once the child says it is
 * ready, or 75 when the child dies first.  Returns the child's end of the
 * readiness pipe. */
static int daemonize(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) fatal(EX_TEMPFAIL_CODE, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) fatal(EX_TEMPFAIL_CODE, "fork: %s", strerror(errno));
    if (pid > 0) {
        char c;
        close(p[1]);
        ssize_t n;
        do n = read(p[0], &c, 1); while (n < 0 && errno == EINTR);
        _exit(n == 1 ? 0 : EX_TEMPFAIL_CODE);
    }
    close(p[0]);
    setsid();
    return p[1];
}

static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
}

/* Create the pid file's directory when it is missing (owned by the service
 * user, so that master can remove the file after dropping root). */
static void make_piddir(const char *pidfile)
{
    char *dir = xstrdup(pidfile);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        struct stat st;
        if (stat(dir, &st) < 0 && errno == ENOENT && mkdir(dir, 0755) == 0 &&
            privs_is_root()) {
            if (chown(dir, privs_uid(), privs_gid()) < 0)
                xsyslog(LOG_WARNING, "cannot chown pid directory", "dir=<%s> error=<%s>",
                        dir, strerror(errno));
        }
    }
    free(dir);
}

/* ---- the children ----------------------------------------------------- */

static void reap(struct master *m)
{
    struct child_exit *exits;
    size_t n;
    signals_take(SIGNALS_CHLD);
    children_reap(&exits, &n);
    /* every message a dead child wrote is in its pipe by now: read them
     * all before counting the deaths, so the counts stay exact */
    services_read_status(&m->services);
    for (size_t i = 0; i < n; i++) {
        struct child *ch = children_find(&m->children, exits[i].pid);
        if (!ch) {
            xsyslog(LOG_DEBUG, "reaped unknown process", "pid=<%ld>", (long)exits[i].pid);
            continue;
        }
        switch (ch->kind) {
        case CHILD_SERVICE: services_child_exited(&m->services, ch, exits[i].status); break;
        case CHILD_DAEMON: daemons_child_exited(&m->daemons, ch, exits[i].status); break;
        case CHILD_EVENT: events_child_exited(&m->events, ch, exits[i].status); break;
        case CHILD_START: break;
        }
        children_remove(&m->children, ch);
    }
    free(exits);
}

static void signal_child(struct child *ch, void *rock)
{
    int sig = *(int *)rock;
    /* every child leads its own session: reach what it started, too */
    if (kill(-ch->pid, sig) < 0) kill(ch->pid, sig);
}

static void wait_ms(long long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    ppoll(NULL, 0, &ts, signals_waitmask());
}

static void __attribute__((noreturn)) shutdown_and_exit(struct master *m)
{
    xsyslog(LOG_NOTICE, "shutting down", "signal=<%d> processes=<%zu>",
            signals_term_signo(), children_count(&m->children));
    services_close_listeners(&m->services);
    daemons_stop(&m->daemons);
    events_stop(&m->events);

    int sig = SIGTERM;
    children_foreach(&m->children, signal_child, &sig);
    long long deadline = children_now_ms() + SHUTDOWN_GRACE_MS;
    for (;;) {
        reap(m);
        if (children_count(&m->children) == 0) break;
        long long left = deadline - children_now_ms();
        if (left <= 0) break;
        wait_ms(left < 100 ? left : 100);
    }
    if (children_count(&m->children) > 0) {
        xsyslog(LOG_WARNING, "processes did not stop in time, killing them",
                "processes=<%zu>", children_count(&m->children));
        sig = SIGKILL;
        children_foreach(&m->children, signal_child, &sig);
        while (children_count(&m->children) > 0) {
            int status;
            pid_t pid = waitpid(-1, &status, 0);
            if (pid < 0 && errno == EINTR) continue;
            if (pid < 0) break;   /* ECHILD: nothing left */
            struct child *ch = children_find(&m->children, pid);
            if (ch) children_remove(&m->children, ch);
        }
    }

    services_free(&m->services);
    daemons_free(&m->daemons);
    events_free(&m->events);
    children_free(&m->children);
    cyrusconf_free(&m->conf);
    pidfile_remove(m->pidfile, m->pidfd);
    xsyslog(LOG_NOTICE, "master exited", "pid=<%ld>", (long)getpid());
    free(m->pidfile);
    free(m->cyrus_conf);
    config_reset();
    exit(0);
}

/* START: each entry to completion, in order; failures are logged. */
static void run_start(struct master *m)
{
    for (int i = 0; i < m->conf->count[CYRUSCONF_START]; i++) {
        const struct cyrusconf_entry *e = m->conf->entries[CYRUSCONF_START][i];
        char *path = spawn_resolve(e->argv.data[0]);
        if (!path) {
            xsyslog(LOG_ERR, "START entry failed", "name=<%s> error=<command not found: %s>",
                    e->name, e->argv.data[0]);
            continue;
        }
        struct spawn_req req = {
            .name = e->name, .path = path, .argv = e->argv.data,
            .status_fd = -1, .listen_fd = -1, .maxfds = 0,
        };
        pid_t pid = spawn_process(&req);
        free(path);
        if (pid < 0) continue;
        struct child *ch = children_add(&m->children, pid, CHILD_START);
        xsyslog(LOG_INFO, "START entry running", "name=<%s> pid=<%ld>", e->name, (long)pid);
        for (;;) {
            int status;
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                char text[128];
                children_status_text(status, text, sizeof(text));
                xsyslog(children_status_ok(status) ? LOG_INFO : LOG_ERR,
                        children_status_ok(status) ? "START entry done" : "START entry failed",
                        "name=<%s> status=<%s>", e->name, text);
                children_remove(&m->children, ch);
                break;
            }
            if (signals_take(SIGNALS_TERM)) shutdown_and_exit(m);
            signals_take(SIGNALS_CHLD);
            wait_ms(1000);
        }
    }
}

/* ---- reload ------------------------------------------------------------ */

static void reload(struct master *m)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = NULL;
    xsyslog(LOG_NOTICE, "reloading", "file=<%s>", m->cyrus_conf);
    if (cyrusconf_parse_file(m->cyrus_conf, &conf, &errors)) {
        for (int i = 0; i < errors.count; i++)
            xsyslog(LOG_ERR, "cyrus.conf rejected, keeping the old configuration",
                    "error=<%s>", errors.data[i]);
        strarray_free(&errors);
        return;
    }
    strarray_free(&errors);
    services_reload(&m->services, conf);
    daemons_reload(&m->daemons, conf);
    events_reload(&m->events, conf, children_now_ms(), time(NULL));
    cyrusconf_free(&m->conf);
    m->conf = conf;
    xsyslog(LOG_NOTICE, "configuration reloaded", "services=<%d>",
            services_count_active(&m->services));
}

/* ---- the main loop ------------------------------------------------------ */

static void __attribute__((noreturn)) main_loop(struct master *m)
{
    for (;;) {
        if (signals_take(SIGNALS_TERM)) shutdown_and_exit(m);
        if (signals_take(SIGNALS_HUP)) reload(m);
        reap(m);

        long long now = children_now_ms();
        long long wake = now + MAX_SLEEP_MS;
        events_tick(&m->events, now, time(NULL), &wake);
        daemons_tick(&m->daemons, now, &wake);
        services_tick(&m->services, now, &wake);

        size_t n;
        struct pollfd *fds = services_pollfds(&m->services, now, &n);
        long long sleep = wake - now;
        if (sleep < 0) sleep = 0;
        struct timespec ts = { sleep / 1000, (sleep % 1000) * 1000000 };
        int r = ppoll(fds, n, &ts, signals_waitmask());
        if (r < 0 && errno != EINTR)
            xsyslog(LOG_ERR, "poll failed", "error=<%s>", strerror(errno));
        if (r > 0) services_handle_poll(&m->services, children_now_ms());
    }
}

int main(int argc, char **argv)
{
    struct master m;
    const char *err = NULL;
    memset(&m, 0, sizeof(m));
    m.pidfd = -1;
    m.ready_fd = -1;

    parse_args(&m, argc, argv);
    log_init("master", m.debug ? LOG_STDERR : 0);
    config_read_or_exit(m.imapd_conf, "master");
    log_set_facility(config_getstring(IMAPOPT_syslog_facility));
    m.conf = read_cyrus_conf_or_exit(m.cyrus_conf);

    if (privs_init(m.user, &err)) fatal(EX_TEMPFAIL_CODE, "%s", err);
    if (!privs_is_root() && m.user && strcmp(m.user, privs_user()))
        xsyslog(LOG_NOTICE, "not root: services run as master's own user",
                "user=<%s> asked=<%s>", privs_user(), m.user);

    if (m.daemonize) m.ready_fd = daemonize();
    signals_init();

    make_piddir(m.pidfile);
    pid_t other;
    int fd = pidfile_open(m.pidfile, &other, &err);
    if (fd < 0) fatal(EX_TEMPFAIL_CODE, "%s", err);
    m.pidfd = fd;
    if (pidfile_write(m.pidfd, getpid()))
        fatal(EX_TEMPFAIL_CODE, "cannot write pid file %s", m.pidfile);

    children_init(&m.children);
    services_init(&m.services, &m.children, m.backlog);
    daemons_init(&m.daemons, &m.children);
    events_init(&m.events, &m.children);
    xsyslog(LOG_NOTICE, "master starting", "conf=<%s> user=<%s> pid=<%ld>",
            m.cyrus_conf, privs_user(), (long)getpid());

    run_start(&m);
    services_start(&m.services, m.conf);
    if (privs_drop(&err)) {
        pidfile_remove(m.pidfile, m.pidfd);
        fatal(EX_TEMPFAIL_CODE, "cannot drop privileges: %s", err);
    }

    if (m.ready_fd >= 0) {
        ssize_t w = write(m.ready_fd, "1", 1);
        (void)w;
        close(m.ready_fd);
        m.ready_fd = -1;
    }
    if (!m.debug) detach_stdio();

    events_start(&m.events, m.conf, children_now_ms(), time(NULL));
    daemons_start(&m.daemons, m.conf);
    xsyslog(LOG_NOTICE, "master ready", "services=<%d> user=<%s>",
            services_count_active(&m.services), privs_user());
    main_loop(&m);
}
