/* spawn: fork and exec one process for master.  See spawn.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "master/privs.h"
#include "master/spawn.h"
#include "master/status.h"
#include "strarray.h"
#include "xmalloc.h"

static int is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *spawn_resolve(const char *cmd0)
{
    if (!cmd0 || !*cmd0) return NULL;
    if (strchr(cmd0, '/')) return is_executable(cmd0) ? xstrdup(cmd0) : NULL;

    const char *env = getenv("CYRUS_SERVICE_PATH");
    if (env && *env) {
        struct strarray dirs = STRARRAY_INITIALIZER;
        strarray_split(&dirs, env, ":", 1);
        for (int i = 0; i < dirs.count; i++) {
            char *p = strconcat(dirs.data[i], "/", cmd0, (char *)NULL);
            if (is_executable(p)) {
                strarray_free(&dirs);
                return p;
            }
            free(p);
        }
        strarray_free(&dirs);
    }
    /* the services' directory, then the tools' (ctl_cyrusdb in START) */
    static const char *const dirs[] = { LIBEXECDIR, SBINDIR };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *p = strconcat(dirs[i], "/", cmd0, (char *)NULL);
        if (is_executable(p)) return p;
        free(p);
    }
    return NULL;
}

/* In the child: write a message to stderr without allocating. */
static void child_complain(const char *what, const char *path, int err)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "master: %s %s: %s\n", what, path, strerror(err));
    if (n > 0) {
        ssize_t w = write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        (void)w;
    }
}

/* Put `fd` on `target`, taking care that the source may itself be one of
 * the target numbers; -1 means "leave target closed". */
static int place_fds(int status_fd, int listen_fd)
{
    int s = -1, l = -1;
    if (status_fd >= 0 && (s = fcntl(status_fd, F_DUPFD_CLOEXEC, 10)) < 0) return -1;
    if (listen_fd >= 0 && (l = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10)) < 0) return -1;
    close(STATUS_FD);
    close(LISTEN_FD);
    if (s >= 0 && dup2(s, STATUS_FD) < 0) return -1;
    if (l >= 0 && dup2(l, LISTEN_FD) < 0) return -1;
    return 0;
}

static void reset_signals(void)
{
    static const int sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGCHLD, SIGPIPE,
                                SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) child_exec(const struct spawn_req *req)
{
    reset_signals();
    setsid();

    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0 && devnull != 0) {
        dup2(devnull, 0);
        if (devnull > 2) close(devnull);
    }
    if (place_fds(req->status_fd, req->listen_fd) < 0) {
        child_complain("cannot set up descriptors for", req->path, errno);
        _exit(127);
    }
    /* everything above LISTEN_FD is master's: close it */
    if (close_range(LISTEN_FD + 1, ~0U, 0) < 0) {
        for (int fd = LISTEN_FD + 1; fd < 1024; fd++) close(fd);
    }

    if (req->maxfds > 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rlim_t want = (rlim_t)req->maxfds;
            if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (req->name) setenv("CYRUS_SERVICE", req->name, 1);

    if (privs_child() < 0) {
        child_complain("cannot drop privileges for", req->path, errno);
        _exit(127);
    }
    if (getuid() == 0 || geteuid() == 0) {
        child_complain("refusing to run as root:", req->path, EPERM);
        _exit(127);
    }
    execv(req->path, req->argv);
    child_complain("cannot execute", req->path, errno);
    _exit(127);
}

pid_t spawn_process(const struct spawn_req *req)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        xsyslog(LOG_ERR, "fork failed", "service=<%s> error=<%s>", req->name,
                strerror(errno));
        return -1;
    }
    if (pid == 0) child_exec(req);
    return pid;
}
