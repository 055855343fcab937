/* Tests for lib/net: address parsing, listening, connecting, names. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cunit/harness.h"
#include "error.h"
#include "net.h"
#include "xmalloc.h"

/* ---- parsing ------------------------------------------------------------ */

struct parse_case {
    const char *spec;
    const char *defport;
    int rc;              /* 0, CYRERR_PARSE or CYRERR_NOTFOUND */
    int is_unix;
    const char *host;    /* expected host (NULL = any) */
    const char *port;
    const char *path;
};

static const struct parse_case parse_cases[] = {
    { "143", NULL, 0, 0, NULL, "143", NULL },
    { "0", NULL, 0, 0, NULL, "0", NULL },
    { "65535", NULL, 0, 0, NULL, "65535", NULL },
    { "imap", NULL, 0, 0, NULL, "imap", NULL },
    { "lmtp", NULL, 0, 0, NULL, "lmtp", NULL },
    { "mupdate", NULL, 0, 0, NULL, "mupdate", NULL },
    { "sieve", NULL, 0, 0, NULL, "sieve", NULL },
    { "127.0.0.1:143", NULL, 0, 0, "127.0.0.1", "143", NULL },
    { "localhost:imap", NULL, 0, 0, "localhost", "imap", NULL },
    { "localhost:mupdate", NULL, 0, 0, "localhost", "mupdate", NULL },
    { "*:2000", NULL, 0, 0, NULL, "2000", NULL },
    { "[::1]:143", NULL, 0, 0, "::1", "143", NULL },
    { "[::]:143", NULL, 0, 0, "::", "143", NULL },
    { "[::1]", "3905", 0, 0, "::1", "3905", NULL },
    { "localhost", "3905", 0, 0, "localhost", "3905", NULL },
    { "mupdate.example.org", "3905", 0, 0, "mupdate.example.org", "3905", NULL },
    { "127.0.0.1:24", "3905", 0, 0, "127.0.0.1", "24", NULL },
    { "2005", "3905", 0, 0, NULL, "2005", NULL },
    { "/var/run/lmtp.sock", NULL, 0, 1, NULL, NULL, "/var/run/lmtp.sock" },
    /* garbage */
    { "", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { ":", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { ":143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[::1", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[::1]", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[::1]:", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[::1]143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[notv6]:143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "[]:143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "host:", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "host:", "143", CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "::1:143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "127.0.0.1:65536", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "70000", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "0000000143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "127.0.0.1:-1", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "127.0.0.1:1 43", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "bad host:143", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "lmtp.sock/x", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "./lmtp.sock", NULL, CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "run/lmtp", "24", CYRERR_PARSE, 0, NULL, NULL, NULL },
    { "no-such-service-xyz", NULL, CYRERR_NOTFOUND, 0, NULL, NULL, NULL },
    { "localhost:no-such-service-xyz", NULL, CYRERR_NOTFOUND, 0, NULL, NULL, NULL },
};

static void test_parse_matrix(void)
{
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *pc = &parse_cases[i];
        struct net_addr a;
        const char *err = NULL;
        int r = net_parse_addr(pc->spec, pc->defport, &a, &err);
        if (r != pc->rc)
            fprintf(stderr, "\nspec <%s>: got %s, want %s (%s)\n", pc->spec,
                    error_name(r), error_name(pc->rc), err ? err : "");
        CU_ASSERT_EQUAL(r, pc->rc);
        if (r) {
            CU_ASSERT_PTR_NOT_NULL(err);
            if (err) CU_ASSERT(strlen(err) > 0);
            CU_ASSERT_PTR_NULL(a.host);
            CU_ASSERT_PTR_NULL(a.port);
            CU_ASSERT_PTR_NULL(a.path);
            continue;
        }
        CU_ASSERT_EQUAL(a.is_unix, pc->is_unix);
        if (pc->host) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(a.host);
            CU_ASSERT_STRING_EQUAL(a.host, pc->host);
        } else {
            CU_ASSERT_PTR_NULL(a.host);
        }
        if (pc->port) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(a.port);
            CU_ASSERT_STRING_EQUAL(a.port, pc->port);
        } else {
            CU_ASSERT_PTR_NULL(a.port);
        }
        if (pc->path) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(a.path);
            CU_ASSERT_STRING_EQUAL(a.path, pc->path);
        } else {
            CU_ASSERT_PTR_NULL(a.path);
        }
        net_addr_free(&a);
        CU_ASSERT_PTR_NULL(a.host);
        CU_ASSERT_PTR_NULL(a.port);
    }
}

static void test_parse_edge(void)
{
    struct net_addr a;
    const char *err = NULL;
    CU_ASSERT_EQUAL(net_parse_addr(NULL, NULL, &a, &err), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(err);
    /* errstr may be NULL */
    CU_ASSERT_EQUAL(net_parse_addr(":", NULL, &a, NULL), CYRERR_PARSE);

    /* a unix path must fit into sun_path */
    struct sockaddr_un sun;
    char *longpath = xmalloc(sizeof(sun.sun_path) + 10);
    memset(longpath, 'x', sizeof(sun.sun_path) + 9);
    longpath[0] = '/';
    longpath[sizeof(sun.sun_path) + 9] = '\0';
    CU_ASSERT_EQUAL(net_parse_addr(longpath, NULL, &a, &err), CYRERR_PARSE);
    free(longpath);

    /* the error names what was wrong */
    CU_ASSERT_EQUAL(net_parse_addr("127.0.0.1:99999", NULL, &a, &err), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "range"));
    CU_ASSERT_EQUAL(net_parse_addr("sock/rel", NULL, &a, &err), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "absolute"));
    CU_ASSERT_EQUAL(net_parse_addr("[::1", NULL, &a, &err), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "]"));

    net_addr_free(NULL);
}

static void test_parse_proto(void)
{
    CU_ASSERT_EQUAL(net_parse_proto("tcp"), NET_TCP);
    CU_ASSERT_EQUAL(net_parse_proto("TCP4"), NET_TCP4);
    CU_ASSERT_EQUAL(net_parse_proto("tcp6"), NET_TCP6);
    CU_ASSERT_EQUAL(net_parse_proto("udp"), NET_UDP);
    CU_ASSERT_EQUAL(net_parse_proto("sctp"), -1);
    CU_ASSERT_EQUAL(net_parse_proto(""), -1);
    CU_ASSERT_EQUAL(net_parse_proto(NULL), -1);
}

/* ---- names ---------------------------------------------------------------- */

static void test_sockaddr_str(void)
{
    char buf[NET_ADDRSTRLEN];
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    s4.sin_port = htons(143);
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str((struct sockaddr *)&s4, sizeof(s4), buf),
                           "127.0.0.1;143");

    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(3905);
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str((struct sockaddr *)&s6, sizeof(s6), buf),
                           "[::1];3905");
    inet_pton(AF_INET6, "fe80::1:2", &s6.sin6_addr);
    s6.sin6_port = htons(65535);
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str((struct sockaddr *)&s6, sizeof(s6), buf),
                           "[fe80::1:2];65535");

    struct sockaddr_un su;
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str((struct sockaddr *)&su, sizeof(su), buf),
                           "unix");

    /* truncated or missing addresses */
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str(NULL, 0, buf), "unknown");
    CU_ASSERT_STRING_EQUAL(net_sockaddr_str((struct sockaddr *)&s4, 4, buf), "unknown");

    /* a pipe has no peer */
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_STRING_EQUAL(net_peer_name(p[0], buf), "unknown");
    CU_ASSERT_STRING_EQUAL(net_local_name(p[0], buf), "unknown");
    close(p[0]);
    close(p[1]);
}

static void test_fd_flags(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL(net_set_nonblock(p[0], 1), 0);
    CU_ASSERT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CU_ASSERT_EQUAL(net_set_nonblock(p[0], 0), 0);
    CU_ASSERT_FALSE(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CU_ASSERT_EQUAL(net_set_cloexec(p[0], 1), 0);
    CU_ASSERT(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    CU_ASSERT_EQUAL(net_set_cloexec(p[0], 0), 0);
    CU_ASSERT_FALSE(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    close(p[0]);
    close(p[1]);
    CU_ASSERT_EQUAL(net_set_nonblock(p[0], 1), CYRERR_IO);
    CU_ASSERT_EQUAL(net_set_cloexec(p[0], 1), CYRERR_IO);
}

/* ---- listening and connecting ------------------------------------------------ */

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

static int sock_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    return ss.ss_family;
}

static int is_cloexec(int fd)
{
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/* Accept on lfd, exchange a line both ways with cfd, check names. */
static void round_trip(int lfd, int cfd, const char *peer_prefix)
{
    char name[NET_ADDRSTRLEN], name2[NET_ADDRSTRLEN];
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    CU_ASSERT_EQUAL_FATAL(poll(&pfd, 1, 5000), 1);
    int afd = accept(lfd, NULL, NULL);
    CU_ASSERT_FATAL(afd >= 0);
    CU_ASSERT_EQUAL(write(cfd, "ping\n", 5), 5);
    char buf[16] = "";
    CU_ASSERT_EQUAL(read(afd, buf, sizeof(buf)), 5);
    CU_ASSERT_EQUAL(memcmp(buf, "ping\n", 5), 0);
    CU_ASSERT_EQUAL(write(afd, "pong\n", 5), 5);
    CU_ASSERT_EQUAL(read(cfd, buf, sizeof(buf)), 5);
    CU_ASSERT_EQUAL(memcmp(buf, "pong\n", 5), 0);

    /* the client is blocking again, and close-on-exec */
    CU_ASSERT_FALSE(fcntl(cfd, F_GETFL) & O_NONBLOCK);
    CU_ASSERT(is_cloexec(cfd));

    /* server's peer = client's local address and vice versa */
    net_peer_name(afd, name);
    net_local_name(cfd, name2);
    CU_ASSERT_STRING_EQUAL(name, name2);
    CU_ASSERT_EQUAL(strncmp(name, peer_prefix, strlen(peer_prefix)), 0);
    net_peer_name(cfd, name);
    net_local_name(afd, name2);
    CU_ASSERT_STRING_EQUAL(name, name2);
    close(afd);
}

static void test_listen_connect_v4(void)
{
    struct net_addr a;
    const char *err = NULL;
    int fds[4];
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("127.0.0.1:0", NULL, &a, &err), 0);
    int n = net_listen(&a, NET_TCP, 16, 0, fds, 4, &err);
    net_addr_free(&a);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(sock_family(fds[0]), AF_INET);
    CU_ASSERT(is_cloexec(fds[0]));
    int on = 0;
    socklen_t olen = sizeof(on);
    CU_ASSERT_EQUAL(getsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &on, &olen), 0);
    CU_ASSERT(on != 0);

    int port = local_port(fds[0]);
    CU_ASSERT(port > 0);
    char name[NET_ADDRSTRLEN], expect[NET_ADDRSTRLEN];
    snprintf(expect, sizeof(expect), "127.0.0.1;%d", port);
    CU_ASSERT_STRING_EQUAL(net_local_name(fds[0], name), expect);

    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    int cfd = net_connect_spec(spec, NULL, 2000, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    CU_ASSERT_STRING_EQUAL(net_peer_name(cfd, name), expect);
    round_trip(fds[0], cfd, "127.0.0.1;");
    close(cfd);

    /* no timeout at all works too */
    cfd = net_connect_spec(spec, NULL, 0, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    round_trip(fds[0], cfd, "127.0.0.1;");
    close(cfd);

    /* host name plus default port */
    snprintf(spec, sizeof(spec), "%d", port);
    cfd = net_connect_spec("localhost", spec, 2000, &err);
    if (cfd >= 0) {
        round_trip(fds[0], cfd, "");
        close(cfd);
    } else {
        /* "localhost" may resolve to ::1 only on odd hosts */
        CU_ASSERT_EQUAL(cfd, CYRERR_SERVER_UNAVAILABLE);
    }

    /* the same address again: in use */
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("127.0.0.1:0", NULL, &a, &err), 0);
    free(a.port);
    a.port = xasprintf("%d", port);
    int fds2[2];
    n = net_listen(&a, NET_TCP, 16, 0, fds2, 2, &err);
    net_addr_free(&a);
    CU_ASSERT_EQUAL(n, CYRERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bind"));
    close(fds[0]);
}

static int have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    int ok = bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0;
    close(fd);
    return ok;
}

static void test_listen_connect_v6(void)
{
    if (!have_ipv6()) {
        fprintf(stderr, "(no IPv6 loopback: skipped) ");
        return;
    }
    struct net_addr a;
    const char *err = NULL;
    int fds[4];
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("[::1]:0", NULL, &a, &err), 0);
    int n = net_listen(&a, NET_TCP, 16, 0, fds, 4, &err);
    net_addr_free(&a);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(sock_family(fds[0]), AF_INET6);
    int v6only = 0;
    socklen_t olen = sizeof(v6only);
    CU_ASSERT_EQUAL(getsockopt(fds[0], IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen), 0);
    CU_ASSERT(v6only != 0);

    int port = local_port(fds[0]);
    char spec[64], name[NET_ADDRSTRLEN], expect[NET_ADDRSTRLEN];
    snprintf(spec, sizeof(spec), "[::1]:%d", port);
    snprintf(expect, sizeof(expect), "[::1];%d", port);
    CU_ASSERT_STRING_EQUAL(net_local_name(fds[0], name), expect);
    int cfd = net_connect_spec(spec, NULL, 2000, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    CU_ASSERT_STRING_EQUAL(net_peer_name(cfd, name), expect);
    round_trip(fds[0], cfd, "[::1];");
    close(cfd);
    close(fds[0]);

    /* tcp4 cannot listen on an IPv6 address */
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("[::1]:0", NULL, &a, &err), 0);
    n = net_listen(&a, NET_TCP4, 16, 0, fds, 4, &err);
    net_addr_free(&a);
    CU_ASSERT(n < 0);
    CU_ASSERT_PTR_NOT_NULL(err);
}

static void test_listen_wildcard(void)
{
    struct net_addr a;
    const char *err = NULL;
    int fds[4];
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("0", NULL, &a, &err), 0);
    int n = net_listen(&a, NET_TCP, 16, 0, fds, 4, &err);
    CU_ASSERT_FATAL(n >= 1 && n <= 2);
    int port = local_port(fds[0]);
    int seen4 = 0, seen6 = 0;
    for (int i = 0; i < n; i++) {
        CU_ASSERT(is_cloexec(fds[i]));
        CU_ASSERT_EQUAL(local_port(fds[i]), port); /* one port for both */
        int fam = sock_family(fds[i]);
        if (fam == AF_INET) seen4++;
        if (fam == AF_INET6) {
            seen6++;
            int v6only = 0;
            socklen_t olen = sizeof(v6only);
            getsockopt(fds[i], IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen);
            CU_ASSERT(v6only != 0);
        }
    }
    CU_ASSERT_EQUAL(seen4, 1);
    CU_ASSERT_EQUAL(seen6, n - 1);
    if (have_ipv6()) CU_ASSERT_EQUAL(n, 2);

    /* the IPv4 socket takes IPv4 loopback connections */
    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    int cfd = net_connect_spec(spec, NULL, 2000, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    for (int i = 0; i < n; i++)
        if (sock_family(fds[i]) == AF_INET) round_trip(fds[i], cfd, "127.0.0.1;");
    close(cfd);
    for (int i = 0; i < n; i++) close(fds[i]);

    /* tcp4 gives one IPv4 socket; a table of one fd is too small for tcp */
    n = net_listen(&a, NET_TCP4, 16, 0, fds, 4, &err);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(sock_family(fds[0]), AF_INET);
    close(fds[0]);
    if (have_ipv6()) {
        n = net_listen(&a, NET_TCP, 16, 0, fds, 1, &err);
        CU_ASSERT_EQUAL(n, CYRERR_LIMIT);
    }
    net_addr_free(&a);
}

static void test_connect_refused(void)
{
    /* find a free port: listen on it, then close */
    struct net_addr a;
    const char *err = NULL;
    int fds[1];
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("127.0.0.1:0", NULL, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(net_listen(&a, NET_TCP, 1, 0, fds, 1, &err), 1);
    net_addr_free(&a);
    int port = local_port(fds[0]);
    close(fds[0]);

    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    err = NULL;
    int r = net_connect_spec(spec, NULL, 2000, &err);
    CU_ASSERT_EQUAL(r, CYRERR_SERVER_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err) CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused"));

    r = net_connect_spec("127.0.0.1:", NULL, 2000, &err);
    CU_ASSERT_EQUAL(r, CYRERR_PARSE);
}

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_connect_timeout(void)
{
    /* A listener that never accepts, with its queue filled: further SYNs
     * are dropped on Linux, so a connect hangs until our timeout. */
    struct net_addr a;
    const char *err = NULL;
    int lfd;
    CU_ASSERT_EQUAL_FATAL(net_parse_addr("127.0.0.1:0", NULL, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(net_listen(&a, NET_TCP, 0, 0, &lfd, 1, &err), 1);
    net_addr_free(&a);
    int port = local_port(lfd);
    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);

    int fill[16], nfill = 0, r = 0;
    long long t0 = 0, elapsed = 0;
    for (nfill = 0; nfill < 16; nfill++) {
        t0 = ms_now();
        r = net_connect_spec(spec, NULL, 300, &err);
        elapsed = ms_now() - t0;
        if (r < 0) break;
        fill[nfill] = r;
    }
    CU_ASSERT_EQUAL(r, CYRERR_TIMEOUT);
    CU_ASSERT(elapsed >= 250);
    CU_ASSERT(elapsed < 2000);
    if (r == CYRERR_TIMEOUT) CU_ASSERT_PTR_NOT_NULL(strstr(err, "timed out"));
    for (int i = 0; i < nfill; i++) close(fill[i]);
    close(lfd);
}

static void test_unix_socket(void)
{
    const char *dir = harness_tmpdir();
    char *path = strconcat(dir, "/net.sock", (char *)NULL);
    struct net_addr a;
    const char *err = NULL;
    int fds[2];
    struct stat st;

    /* a regular file in the way is never removed */
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(net_parse_addr(path, NULL, &a, &err), 0);
    CU_ASSERT(a.is_unix);
    CU_ASSERT_EQUAL(net_listen(&a, NET_TCP, 16, 0600, fds, 2, &err), CYRERR_EXISTS);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a socket"));
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT(S_ISREG(st.st_mode));
    unlink(path);

    CU_ASSERT_EQUAL_FATAL(net_listen(&a, NET_TCP, 16, 0600, fds, 2, &err), 1);
    CU_ASSERT(is_cloexec(fds[0]));
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

    /* a stale socket (listener gone) is replaced, and the mode applies */
    close(fds[0]);
    CU_ASSERT_EQUAL_FATAL(net_listen(&a, NET_TCP, 16, 0666, fds, 2, &err), 1);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0666);

    int cfd = net_connect(&a, 1000, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    char name[NET_ADDRSTRLEN];
    CU_ASSERT_STRING_EQUAL(net_peer_name(cfd, name), "unix");
    round_trip(fds[0], cfd, "unix");
    close(cfd);
    cfd = net_connect_spec(path, NULL, 0, &err);
    CU_ASSERT_FATAL(cfd >= 0);
    round_trip(fds[0], cfd, "unix");
    close(cfd);
    close(fds[0]);

    /* nobody listening: refused */
    cfd = net_connect(&a, 1000, &err);
    CU_ASSERT_EQUAL(cfd, CYRERR_SERVER_UNAVAILABLE);
    unlink(path);
    cfd = net_connect(&a, 1000, &err);
    CU_ASSERT_EQUAL(cfd, CYRERR_SERVER_UNAVAILABLE);
    net_addr_free(&a);

    /* a missing directory */
    char *bad = strconcat(dir, "/no/such/dir/sock", (char *)NULL);
    CU_ASSERT_EQUAL_FATAL(net_parse_addr(bad, NULL, &a, &err), 0);
    CU_ASSERT_EQUAL(net_listen(&a, NET_TCP, 16, 0600, fds, 2, &err), CYRERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bind"));
    net_addr_free(&a);
    free(bad);
    free(path);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("net", NULL, NULL);
    ADD_TEST(s, test_parse_matrix);
    ADD_TEST(s, test_parse_edge);
    ADD_TEST(s, test_parse_proto);
    ADD_TEST(s, test_sockaddr_str);
    ADD_TEST(s, test_fd_flags);
    ADD_TEST(s, test_listen_connect_v4);
    ADD_TEST(s, test_listen_connect_v6);
    ADD_TEST(s, test_listen_wildcard);
    ADD_TEST(s, test_connect_refused);
    ADD_TEST(s, test_connect_timeout);
    ADD_TEST(s, test_unix_socket);
}
