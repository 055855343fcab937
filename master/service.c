/* service: the skeleton of every daemon run by master.  See service.h.
 *
 * Process-wide state (one per process, as there is one service per
 * process): the stop flag and the self-pipe that SIGHUP writes to.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "master/service.h"
#include "master/status.h"
#include "net.h"
#include "strarray.h"
#include "xmalloc.h"

static volatile sig_atomic_t stop_requested;
static int stop_pipe[2] = { -1, -1 };

int service_stop_fd(void)
{
    return stop_pipe[0];
}

int service_stopping(void)
{
    return stop_requested != 0;
}

static void on_sighup(int sig)
{
    (void)sig;
    int saved = errno;
    stop_requested = 1;
    if (stop_pipe[1] >= 0) {
        ssize_t n = write(stop_pipe[1], "x", 1);
        (void)n;
    }
    errno = saved;
}

static void setup_signals(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        fatal(EX_TEMPFAIL_CODE, "pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sighup;
    sa.sa_flags = SA_RESTART;   /* a connection being served goes on */
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);
}

/* ---- options ----------------------------------------------------------- */

__attribute__((noreturn, format(printf, 2, 3)))
static void usage_error(const char *name, const char *fmt, ...)
{
    struct buf b = BUF_INITIALIZER;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    fatal(EX_TEMPFAIL_CODE, "%s: %s (usage: %s [-C imapd.conf] [-U uses] "
          "[-T timeout] [-s] [daemon options])", name, buf_cstring(&b), name);
}

static int number_arg(const char *name, int opt, const char *arg)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < 0 || v > INT_MAX)
        usage_error(name, "-%c needs a number >= 0, not \"%s\"", opt, arg);
    return (int)v;
}

static void parse_options(int argc, char **argv, const struct service_def *def,
                          struct service_info *info, struct strarray *rest)
{
    char *optstring = strconcat("+:C:U:T:sV", def->optstring ? def->optstring : "",
                                (char *)NULL);
    int opt;
    strarray_append(rest, argc > 0 ? argv[0] : def->name);
    opterr = 0;
    optind = 1;
    while ((opt = getopt(argc, argv, optstring)) != -1) {
        switch (opt) {
        case 'C': info->config_file = optarg; break;
        case 'U': info->max_uses = number_arg(def->name, opt, optarg); break;
        case 'T': info->idle_timeout = number_arg(def->name, opt, optarg); break;
        case 's': info->tls_wrapped = 1; break;
        case 'V':
            printf("%s %s\n", def->name, PACKAGE_STRING);
            fflush(stdout);
            free(optstring);
            strarray_free(rest);
            exit(0);
        case '?':
            free(optstring);
            usage_error(def->name, "unknown option -%c", optopt);
        case ':':
            free(optstring);
            usage_error(def->name, "option -%c needs a value", optopt);
        default: {
            /* one of the daemon's own options: hand it on */
            char o[3] = { '-', (char)opt, 0 };
            const char *spec = def->optstring ? strchr(def->optstring, opt) : NULL;
            strarray_append(rest, o);
            if (spec && spec[1] == ':' && optarg) strarray_append(rest, optarg);
            break;
        }
        }
    }
    for (int i = optind; i < argc; i++) strarray_append(rest, argv[i]);
    free(optstring);
    optind = 1;
    info->argc = rest->count;
    info->argv = rest->data;
}

/* ---- the environment master gives us ---------------------------------- */

static void check_descriptors(const char *name)
{
    struct stat st;
    if (fstat(STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode) ||
        fstat(LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode))
        fatal(EX_TEMPFAIL_CODE,
              "%s must be started by master (no status pipe on fd %d and "
              "listening socket on fd %d)", name, STATUS_FD, LISTEN_FD);
    net_set_cloexec(STATUS_FD, 1);
    net_set_cloexec(LISTEN_FD, 1);
}

/* Tell master; when master has gone away we finish and leave. */
static void report(enum status_code code)
{
    int r = status_send(STATUS_FD, code);
    if (r == CYRERR_EOF) {
        stop_requested = 1;
    } else if (r) {
        xsyslog(LOG_ERR, "status pipe write failed", "error=<%s>", error_message(r));
        stop_requested = 1;
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_STOP };

/* Wait until the listener is readable, the idle timeout passes, or a stop
 * is asked for. */
static enum wait_result wait_listener(int idle_timeout, long long start)
{
    for (;;) {
        if (stop_requested) return WAIT_STOP;
        int timeout = -1;
        if (idle_timeout > 0) {
            long long left = start + (long long)idle_timeout * 1000 - now_ms();
            if (left <= 0) return WAIT_TIMEOUT;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        /* the status pipe's write end reports POLLERR once master, its
         * only reader, is gone: then there is no one to serve for */
        struct pollfd pfd[3] = {
            { .fd = LISTEN_FD, .events = POLLIN },
            { .fd = stop_pipe[0], .events = POLLIN },
            { .fd = STATUS_FD, .events = 0 },
        };
        int n = poll(pfd, 3, timeout);
        if (n < 0 && errno != EINTR)
            fatal(EX_TEMPFAIL_CODE, "poll: %s", strerror(errno));
        if (n > 0 && pfd[2].revents) {
            xsyslog(LOG_NOTICE, "master is gone, exiting", "pid=<%ld>", (long)getpid());
            stop_requested = 1;
            return WAIT_STOP;
        }
        if (n > 0 && pfd[1].revents) return WAIT_STOP;
        if (n > 0 && pfd[0].revents) return WAIT_READY;
    }
}

static int is_datagram_socket(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return 0;
    return type == SOCK_DGRAM;
}

/* Accept one connection; -1 when another process took it first. */
static int accept_one(struct service_conn *conn)
{
    conn->peer_len = sizeof(conn->peer_addr);
    int fd = accept4(LISTEN_FD, (struct sockaddr *)&conn->peer_addr, &conn->peer_len,
                     SOCK_CLOEXEC);
    if (fd < 0) {
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            return -1;
        default:
            fatal(EX_TEMPFAIL_CODE, "accept: %s", strerror(errno));
        }
    }
    conn->fd = fd;
    /* Responses are written whole by prot's buffering; with Nagle on, the
     * tail of a large one would wait for the client's delayed ACK (about
     * 40 ms on Linux) */
    int family = ((struct sockaddr *)&conn->peer_addr)->sa_family;
    if (family == AF_INET || family == AF_INET6) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    net_sockaddr_str((struct sockaddr *)&conn->peer_addr, conn->peer_len, conn->peer);
    conn->local_len = sizeof(conn->local_addr);
    if (getsockname(fd, (struct sockaddr *)&conn->local_addr, &conn->local_len) < 0)
        conn->local_len = 0;
    net_sockaddr_str((struct sockaddr *)&conn->local_addr, conn->local_len,
                     conn->local);
    return 0;
}

/* The prefork loop: returns when the process should exit. */
static void serve_loop(const struct service_def *def, const struct service_info *info)
{
    int datagram = is_datagram_socket(LISTEN_FD);
    unsigned long uses = 0;
    const char *why = "stop";

    for (;;) {
        report(STATUS_AVAILABLE);
        long long start = now_ms();
        struct service_conn conn;
        enum wait_result w;
        for (;;) {
            w = wait_listener(info->idle_timeout, start);
            if (w != WAIT_READY) break;
            memset(&conn, 0, sizeof(conn));
            if (datagram) {
                conn.fd = LISTEN_FD;
                snprintf(conn.peer, sizeof(conn.peer), "unknown");
                net_local_name(LISTEN_FD, conn.local);
                break;
            }
            if (accept_one(&conn) == 0) break;
        }
        if (w == WAIT_TIMEOUT) { why = "idle timeout"; break; }
        if (w == WAIT_STOP) break;

        report(STATUS_BUSY);
        conn.is_datagram = datagram;
        conn.tls_wrapped = info->tls_wrapped;
        conn.nth = ++uses;
        xsyslog(LOG_DEBUG, "accepted connection", "peer=<%s> local=<%s>", conn.peer,
                conn.local);
        def->main(info, &conn);
        if (!datagram) close(conn.fd);

        if (stop_requested) break;
        if (info->max_uses > 0 && uses >= (unsigned long)info->max_uses) {
            why = "use limit";
            break;
        }
    }
    report(STATUS_EXITING);
    xsyslog(LOG_DEBUG, "service process exiting", "reason=<%s> uses=<%lu>", why, uses);
}

int service_run(int argc, char **argv, const struct service_def *def)
{
    struct service_info info;
    struct strarray rest = STRARRAY_INITIALIZER;
    memset(&info, 0, sizeof(info));
    info.name = def->name;
    info.max_uses = SERVICE_DEFAULT_USES;
    info.idle_timeout = SERVICE_DEFAULT_TIMEOUT;

    log_init(def->name, 0);
    parse_options(argc, argv, def, &info, &rest);
    const char *svc = getenv("CYRUS_SERVICE");
    info.service = svc && *svc ? svc : def->name;

    if (!def->main == !def->run)
        fatal(EX_TEMPFAIL_CODE, "%s: a service sets exactly one of main and run",
              def->name);
    check_descriptors(def->name);
    setup_signals();

    config_read_or_exit(info.config_file, info.service);
    log_set_facility(config_getstring(IMAPOPT_syslog_facility));

    if (def->init) {
        int r = def->init(&info);
        if (r) {
            config_reset();
            strarray_free(&rest);
            exit(r);
        }
    }

    int code = 0;
    if (def->run) {
        report(STATUS_SELFSERVE);
        code = def->run(&info, LISTEN_FD);
        report(STATUS_EXITING);
    } else {
        serve_loop(def, &info);
    }

    if (def->done) def->done(&info);
    config_reset();
    strarray_free(&rest);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
    return code;
}
