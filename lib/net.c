/* net: socket address parsing, listening and connecting.  See net.h.
 *
 * Parsing rules, beyond the header's summary:
 *   - a bare word of digits is always a port; any other bare word is a
 *     service name when default_port is NULL (cyrus.conf `listen=`), and a
 *     host name using default_port otherwise (`mupdate_server: host`);
 *   - "*" as the host ("*:143") means every address, like a bare port;
 *   - ports are 0..65535 (0 lets the kernel choose: tests listen on it);
 *     service names must be known to getservbyname() or to the small
 *     built-in table below (Debian's /etc/services lacks lmtp and mupdate);
 *   - an IPv6 address needs brackets; a unix path must be absolute and fit
 *     into sun_path.
 *
 * The error text in *errstr is either a string literal or a thread-local
 * buffer that stays valid until the next net_* call in the same thread.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "net.h"
#include "xmalloc.h"

static _Thread_local char net_errbuf[256];

__attribute__((format(printf, 2, 3)))
static const char *net_err(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(net_errbuf, sizeof(net_errbuf), fmt, ap);
    va_end(ap);
    if (errnum && n >= 0 && (size_t)n < sizeof(net_errbuf))
        snprintf(net_errbuf + n, sizeof(net_errbuf) - n, ": %s",
                 strerror(errnum));
    return net_errbuf;
}

/* Services that Debian's /etc/services does not list. */
static const struct {
    const char *name;
    int port;
} builtin_services[] = {
    { "lmtp", 24 },
    { "mupdate", 3905 },
    { "sieve", 4190 },
    { "imap", 143 },
    { "imaps", 993 },
    { "pop3", 110 },
    { "pop3s", 995 },
};

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Port number for a numeric port or a service name; -1 when unknown or out
 * of range. */
static int port_number(const char *port)
{
    if (all_digits(port)) {
        if (strlen(port) > 5) return -1;
        long v = strtol(port, NULL, 10);
        return v > 65535 ? -1 : (int)v;
    }
    struct servent se, *res = NULL;
    char tmp[1024];
    if (getservbyname_r(port, "tcp", &se, tmp, sizeof(tmp), &res) == 0 && res)
        return ntohs((uint16_t)res->s_port);
    for (size_t i = 0; i < sizeof(builtin_services) / sizeof(builtin_services[0]); i++)
        if (!strcasecmp(port, builtin_services[i].name))
            return builtin_services[i].port;
    return -1;
}

/* RFC 6335 5.1: letters, digits and hyphens, starting with a letter here
 * (a leading digit would read as a port; '_' and '.' appear in old
 * /etc/services files). */
static int valid_service_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

static int valid_host(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '[' || c == ']' || c == ':')
            return 0;
    }
    return 1;
}

static int check_port(const char *port, const char *spec, const char **errstr)
{
    if (!*port) {
        *errstr = net_err(0, "missing port in \"%s\"", spec);
        return CYRERR_PARSE;
    }
    if (all_digits(port)) {
        if (port_number(port) < 0) {
            *errstr = net_err(0, "port out of range in \"%s\"", spec);
            return CYRERR_PARSE;
        }
        return 0;
    }
    if (!valid_service_name(port)) {
        *errstr = net_err(0, "invalid port or service name in \"%s\"", spec);
        return CYRERR_PARSE;
    }
    if (port_number(port) < 0) {
        *errstr = net_err(0, "unknown service \"%s\"", port);
        return CYRERR_NOTFOUND;
    }
    return 0;
}

int net_parse_addr(const char *spec, const char *default_port,
                   struct net_addr *addr, const char **errstr)
{
    static const char *dummy;
    if (!errstr) errstr = &dummy;
    memset(addr, 0, sizeof(*addr));
    if (!spec || !*spec) {
        *errstr = "empty address";
        return CYRERR_PARSE;
    }

    if (spec[0] == '/') {
        struct sockaddr_un sun;
        if (strlen(spec) >= sizeof(sun.sun_path)) {
            *errstr = net_err(0, "unix socket path too long: \"%s\"", spec);
            return CYRERR_PARSE;
        }
        addr->is_unix = 1;
        addr->path = xstrdup(spec);
        return 0;
    }
    if (strchr(spec, '/')) {
        *errstr = net_err(0, "unix socket path must be absolute: \"%s\"", spec);
        return CYRERR_PARSE;
    }

    char *host = NULL;
    const char *port = NULL;
    int r;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close) {
            *errstr = net_err(0, "missing ']' in \"%s\"", spec);
            return CYRERR_PARSE;
        }
        host = xstrndup(spec + 1, (size_t)(close - spec - 1));
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            *errstr = net_err(0, "invalid IPv6 address in \"%s\"", spec);
            free(host);
            return CYRERR_PARSE;
        }
        if (close[1] == ':') {
            port = close + 2;
        } else if (close[1] == '\0' && default_port) {
            port = default_port;
        } else if (close[1] == '\0') {
            *errstr = net_err(0, "missing port in \"%s\"", spec);
            free(host);
            return CYRERR_PARSE;
        } else {
            *errstr = net_err(0, "garbage after ']' in \"%s\"", spec);
            free(host);
            return CYRERR_PARSE;
        }
    } else {
        const char *colon = strchr(spec, ':');
        if (colon && strchr(colon + 1, ':')) {
            *errstr = net_err(0, "IPv6 address needs brackets: \"%s\"", spec);
            return CYRERR_PARSE;
        }
        if (colon) {
            if (colon == spec) {
                *errstr = net_err(0, "missing host in \"%s\"", spec);
                return CYRERR_PARSE;
            }
            host = xstrndup(spec, (size_t)(colon - spec));
            port = colon + 1;
            if (!strcmp(host, "*")) xfree(host);
            else if (!valid_host(host)) {
                *errstr = net_err(0, "invalid host in \"%s\"", spec);
                free(host);
                return CYRERR_PARSE;
            }
        } else if (all_digits(spec) || !default_port) {
            port = spec;
        } else {
            if (!valid_host(spec)) {
                *errstr = net_err(0, "invalid host in \"%s\"", spec);
                return CYRERR_PARSE;
            }
            host = xstrdup(spec);
            port = default_port;
        }
    }

    r = check_port(port, spec, errstr);
    if (r) {
        free(host);
        return r;
    }
    addr->host = host;
    addr->port = xstrdup(port);
    return 0;
}

void net_addr_free(struct net_addr *addr)
{
    if (!addr) return;
    xfree(addr->host);
    xfree(addr->port);
    xfree(addr->path);
    addr->is_unix = 0;
}

int net_parse_proto(const char *s)
{
    if (!s) return -1;
    if (!strcasecmp(s, "tcp")) return NET_TCP;
    if (!strcasecmp(s, "tcp4")) return NET_TCP4;
    if (!strcasecmp(s, "tcp6")) return NET_TCP6;
    if (!strcasecmp(s, "udp")) return NET_UDP;
    return -1;
}

int net_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return CYRERR_IO;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? CYRERR_IO : 0;
}

int net_set_cloexec(int fd, int on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) return CYRERR_IO;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, fl) < 0 ? CYRERR_IO : 0;
}

/* ---- addresses as text ------------------------------------------------- */

const char *net_sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf)
{
    char ip[INET6_ADDRSTRLEN];
    if (!sa || len < (socklen_t)sizeof(sa_family_t)) {
        snprintf(buf, NET_ADDRSTRLEN, "unknown");
        return buf;
    }
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        if (len < (socklen_t)sizeof(*s4) ||
            !inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)))
            break;
        snprintf(buf, NET_ADDRSTRLEN, "%s;%u", ip, ntohs(s4->sin_port));
        return buf;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (len < (socklen_t)sizeof(*s6) ||
            !inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)))
            break;
        snprintf(buf, NET_ADDRSTRLEN, "[%s];%u", ip, ntohs(s6->sin6_port));
        return buf;
    }
    case AF_UNIX:
        snprintf(buf, NET_ADDRSTRLEN, "unix");
        return buf;
    default:
        break;
    }
    snprintf(buf, NET_ADDRSTRLEN, "unknown");
    return buf;
}

const char *net_peer_name(int fd, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(buf, NET_ADDRSTRLEN, "unknown");
        return buf;
    }
    return net_sockaddr_str((struct sockaddr *)&ss, len, buf);
}

const char *net_local_name(int fd, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(buf, NET_ADDRSTRLEN, "unknown");
        return buf;
    }
    return net_sockaddr_str((struct sockaddr *)&ss, len, buf);
}

/* ---- resolving --------------------------------------------------------- */

static int resolve(const struct net_addr *addr, int family, int socktype,
                   int passive, struct addrinfo **res, const char **errstr)
{
    char portbuf[16];
    int port = port_number(addr->port ? addr->port : "");
    if (port < 0) {
        *errstr = net_err(0, "unknown port or service \"%s\"",
                          addr->port ? addr->port : "");
        return CYRERR_NOTFOUND;
    }
    snprintf(portbuf, sizeof(portbuf), "%d", port);

    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int gr = getaddrinfo(addr->host, portbuf, &hints, res);
    if (gr != 0) {
        *errstr = net_err(0, "cannot resolve \"%s\": %s",
                          addr->host ? addr->host : "*", gai_strerror(gr));
        return CYRERR_NOTFOUND;
    }
    return 0;
}

static int proto_family(enum net_proto proto)
{
    return proto == NET_TCP4 ? AF_INET : proto == NET_TCP6 ? AF_INET6 : AF_UNSPEC;
}

static int is_v4mapped(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void set_port(struct sockaddr *sa, uint16_t port_n)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = port_n;
    else if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = port_n;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) return ((struct sockaddr_in *)&ss)->sin_port;
    if (ss.ss_family == AF_INET6) return ((struct sockaddr_in6 *)&ss)->sin6_port;
    return 0;
}

/* ---- listening --------------------------------------------------------- */

static int listen_unix(const struct net_addr *addr, enum net_proto proto,
                       int backlog, int mode, int *fds, int maxfds,
                       const char **errstr)
{
    struct sockaddr_un sun;
    struct stat st;
    int stream = proto != NET_UDP;

    if (maxfds < 1) {
        *errstr = "no room for a socket";
        return CYRERR_BADARGS;
    }
    if (!addr->path || addr->path[0] != '/' ||
        strlen(addr->path) >= sizeof(sun.sun_path)) {
        *errstr = "invalid unix socket path";
        return CYRERR_BADARGS;
    }
    if (lstat(addr->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *errstr = net_err(0, "%s exists and is not a socket", addr->path);
            return CYRERR_EXISTS;
        }
        if (unlink(addr->path) < 0 && errno != ENOENT) {
            *errstr = net_err(errno, "unlink %s", addr->path);
            return CYRERR_IO;
        }
    }

    int fd = socket(AF_UNIX, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *errstr = net_err(errno, "socket");
        return CYRERR_IO;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, addr->path, strlen(addr->path) + 1);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *errstr = net_err(errno, "bind %s", addr->path);
        close(fd);
        return CYRERR_IO;
    }
    if (mode > 0 && chmod(addr->path, (mode_t)mode) < 0) {
        *errstr = net_err(errno, "chmod %s", addr->path);
        close(fd);
        unlink(addr->path);
        return CYRERR_IO;
    }
    if (stream && listen(fd, backlog) < 0) {
        *errstr = net_err(errno, "listen %s", addr->path);
        close(fd);
        unlink(addr->path);
        return CYRERR_IO;
    }
    fds[0] = fd;
    return 1;
}

/* One socket for one resolved address: 1 = made, 0 = skipped (IPv6 is not
 * available here), <0 = error. */
static int listen_one(const struct addrinfo *ai, int wildcard, uint16_t port_n,
                      int backlog, int *fd_r, const char **errstr)
{
    char name[NET_ADDRSTRLEN];
    struct sockaddr_storage ss;
    int on = 1;

    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (port_n) set_port((struct sockaddr *)&ss, port_n);
    net_sockaddr_str((struct sockaddr *)&ss, ai->ai_addrlen, name);

    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        if (ai->ai_family == AF_INET6 &&
            (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
            return 0;
        *errstr = net_err(errno, "socket for %s", name);
        return CYRERR_IO;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        *errstr = net_err(errno, "SO_REUSEADDR on %s", name);
        close(fd);
        return CYRERR_IO;
    }
    if (ai->ai_family == AF_INET6 && !is_v4mapped(ai->ai_addr) &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
        *errstr = net_err(errno, "IPV6_V6ONLY on %s", name);
        close(fd);
        return CYRERR_IO;
    }
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0) {
        int e = errno;
        close(fd);
        /* A host without IPv6 addresses cannot bind "::" or "::1": on a
         * wildcard listen the IPv4 socket is enough. */
        if (ai->ai_family == AF_INET6 && wildcard &&
            (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
            return 0;
        *errstr = net_err(e, "bind %s", name);
        return CYRERR_IO;
    }
    if (ai->ai_socktype == SOCK_STREAM && listen(fd, backlog) < 0) {
        *errstr = net_err(errno, "listen %s", name);
        close(fd);
        return CYRERR_IO;
    }
    *fd_r = fd;
    return 1;
}

int net_listen(const struct net_addr *addr, enum net_proto proto, int backlog,
               int mode, int *fds, int maxfds, const char **errstr)
{
    static const char *dummy;
    if (!errstr) errstr = &dummy;
    if (!addr || !fds) {
        *errstr = "no address";
        return CYRERR_BADARGS;
    }
    if (addr->is_unix)
        return listen_unix(addr, proto, backlog, mode, fds, maxfds, errstr);

    int socktype = proto == NET_UDP ? SOCK_DGRAM : SOCK_STREAM;
    struct addrinfo *res = NULL;
    int r = resolve(addr, proto_family(proto), socktype, 1, &res, errstr);
    if (r) return r;

    /* IPv6 first, so that "::" and "0.0.0.0" come out in a stable order. */
    int n = 0;
    uint16_t port_n = 0;
    int wildcard = addr->host == NULL;
    for (int pass = 0; pass < 2 && r == 0; pass++) {
        for (struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
            if ((pass == 0) != (ai->ai_family == AF_INET6)) continue;
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
            if (n >= maxfds) {
                *errstr = "too many addresses for the socket table";
                r = CYRERR_LIMIT;
                break;
            }
            int fd = -1;
            int k = listen_one(ai, wildcard, port_n, backlog, &fd, errstr);
            if (k < 0) {
                r = k;
            } else if (k > 0) {
                fds[n++] = fd;
                /* Port 0: every socket of this address shares the port the
                 * kernel chose for the first one. */
                if (!port_n) port_n = bound_port(fd);
            }
        }
    }
    freeaddrinfo(res);
    if (r == 0 && n == 0) {
        *errstr = net_err(0, "no usable address for \"%s\"",
                          addr->host ? addr->host : "*");
        r = CYRERR_NOTFOUND;
    }
    if (r < 0) {
        while (n > 0) close(fds[--n]);
        return r;
    }
    return n;
}

/* ---- connecting -------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect fd to sa within timeout_ms (<0: no limit).  0 or an errno. */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len,
                      int timeout_ms)
{
    if (net_set_nonblock(fd, 1) < 0) return errno ? errno : EIO;
    if (connect(fd, sa, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return errno;

    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) return ETIMEDOUT;
            wait = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int k = poll(&pfd, 1, wait);
        if (k < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (k == 0) continue; /* the deadline check above ends the loop */
        int err = 0;
        socklen_t elen = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return errno;
        return err;
    }
}

static int connect_unix(const struct net_addr *addr, int timeout_ms,
                        const char **errstr)
{
    struct sockaddr_un sun;
    if (!addr->path || strlen(addr->path) >= sizeof(sun.sun_path)) {
        *errstr = "invalid unix socket path";
        return CYRERR_BADARGS;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, addr->path, strlen(addr->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *errstr = net_err(errno, "socket");
        return CYRERR_IO;
    }
    int e = connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun),
                       timeout_ms > 0 ? timeout_ms : -1);
    if (e == 0 && net_set_nonblock(fd, 0) < 0) e = errno ? errno : EIO;
    if (e) {
        close(fd);
        *errstr = net_err(e, "connect %s", addr->path);
        if (e == ETIMEDOUT) return CYRERR_TIMEOUT;
        if (e == EAGAIN) return CYRERR_AGAIN;
        return CYRERR_SERVER_UNAVAILABLE;
    }
    return fd;
}

int net_connect(const struct net_addr *addr, int timeout_ms, const char **errstr)
{
    static const char *dummy;
    if (!errstr) errstr = &dummy;
    if (!addr) {
        *errstr = "no address";
        return CYRERR_BADARGS;
    }
    if (addr->is_unix) return connect_unix(addr, timeout_ms, errstr);

    struct addrinfo *res = NULL;
    int r = resolve(addr, AF_UNSPEC, SOCK_STREAM, 0, &res, errstr);
    if (r) return r;

    int naddr = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) naddr++;

    /* The timeout covers the whole call: each address gets an equal share
     * of what is left, so one black hole cannot starve the others. */
    long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    int fd = -1, last_err = 0, timed_out = 0;
    char name[NET_ADDRSTRLEN] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next, naddr--) {
        int slice = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            slice = (int)(left / naddr);
            if (slice < 1) slice = 1;
        }
        net_sockaddr_str(ai->ai_addr, ai->ai_addrlen, name);
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        int e = connect_fd(fd, ai->ai_addr, ai->ai_addrlen, slice);
        if (e == 0 && net_set_nonblock(fd, 0) < 0) e = errno ? errno : EIO;
        if (e == 0) break;
        if (e == ETIMEDOUT) timed_out = 1;
        last_err = e;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) return fd;

    const char *host = addr->host ? addr->host : "localhost";
    if (timed_out) {
        *errstr = net_err(0, "connect to %s:%s timed out", host, addr->port);
        return CYRERR_TIMEOUT;
    }
    *errstr = net_err(last_err, "connect to %s:%s (%s)", host, addr->port, name);
    return CYRERR_SERVER_UNAVAILABLE;
}

int net_connect_spec(const char *spec, const char *default_port,
                     int timeout_ms, const char **errstr)
{
    struct net_addr addr;
    int r = net_parse_addr(spec, default_port, &addr, errstr);
    if (r) return r;
    r = net_connect(&addr, timeout_ms, errstr);
    net_addr_free(&addr);
    return r;
}
