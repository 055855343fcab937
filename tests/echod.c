/* echod: the test daemon of the integration tests, on the service skeleton.
 *
 * On connect it sends one banner line
 *     * echod ready pid=<pid> service=<name> peer=<ip;port> local=<ip;port>
 *       tls=<0|1> n=<connection number in this process>
 *       servername=<the imapd.conf option, as this service sees it>
 *       args=<argv>
 * and then answers each line (at most 4096 bytes) it reads:
 *     QUIT      -> "BYE" and the connection ends
 *     anything  -> "ECHO <line>"
 *
 * Options (besides the skeleton's -C -U -T -s):
 *   -t         threaded mode: one process accepts by itself and serves each
 *              connection in a thread (the contract of mupdate)
 *   -e code    init fails with exit code `code` (a broken service)
 *   -w text    a word echoed in the banner's args (to tell configs apart)
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "libconfig.h"
#include "master/service.h"
#include "net.h"
#include "strarray.h"
#include "xmalloc.h"

#define LINE_MAX_BYTES 4096

static char *args_text;   /* the daemon's own argv, joined; set in init */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void echo_session(int fd, const char *service, const char *peer,
                         const char *local, int tls, unsigned long nth)
{
    struct buf out = BUF_INITIALIZER;
    struct buf line = BUF_INITIALIZER;
    char chunk[512];

    const char *sn = config_getstring(IMAPOPT_servername);
    buf_printf(&out,
               "* echod ready pid=%ld service=%s peer=%s local=%s tls=%d n=%lu "
               "servername=%s args=%s\r\n",
               (long)getpid(), service, peer, local, tls, nth, sn ? sn : "-",
               args_text ? args_text : "");
    if (write_all(fd, buf_base(&out), buf_len(&out))) goto done;

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (buf_len(&line) < LINE_MAX_BYTES) buf_putc(&line, chunk[i]);
                continue;
            }
            buf_trim(&line);
            buf_reset(&out);
            int quit = !strcmp(buf_cstring(&line), "QUIT");
            if (quit)
                buf_appendcstr(&out, "BYE\r\n");
            else
                buf_printf(&out, "ECHO %s\r\n", buf_cstring(&line));
            buf_reset(&line);
            if (write_all(fd, buf_base(&out), buf_len(&out)) || quit) goto done;
        }
    }
done:
    buf_free(&out);
    buf_free(&line);
}

static int echod_init(const struct service_info *info)
{
    int opt;
    while ((opt = getopt(info->argc, info->argv, "te:w:")) != -1) {
        switch (opt) {
        case 'e': return atoi(optarg) ? atoi(optarg) : 1;
        case 't': case 'w': break;
        default: return 64;
        }
    }
    struct strarray sa = STRARRAY_INITIALIZER;
    for (int i = 1; i < info->argc; i++) strarray_append(&sa, info->argv[i]);
    args_text = strarray_join(&sa, ",");
    strarray_free(&sa);
    return 0;
}

static void echod_main(const struct service_info *info, const struct service_conn *conn)
{
    echo_session(conn->fd, info->service, conn->peer, conn->local, conn->tls_wrapped,
                 conn->nth);
}

static void echod_done(const struct service_info *info)
{
    (void)info;
    xfree(args_text);
}

/* ---- threaded mode ------------------------------------------------------ */

struct thread_arg {
    int fd;
    unsigned long nth;
    const struct service_info *info;
};

static void *echo_thread(void *p)
{
    struct thread_arg *ta = p;
    char peer[NET_ADDRSTRLEN], local[NET_ADDRSTRLEN];
    net_peer_name(ta->fd, peer);
    net_local_name(ta->fd, local);
    echo_session(ta->fd, ta->info->service, peer, local, ta->info->tls_wrapped, ta->nth);
    close(ta->fd);
    free(ta);
    return NULL;
}

static int echod_run(const struct service_info *info, int listen_fd)
{
    unsigned long nth = 0;
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = listen_fd, .events = POLLIN },
            { .fd = service_stop_fd(), .events = POLLIN },
        };
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 75;
        }
        if (pfd[1].revents) return 0;
        if (!pfd[0].revents) continue;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        struct thread_arg *ta = xzmalloc(sizeof(*ta));
        ta->fd = fd;
        ta->nth = ++nth;
        ta->info = info;
        pthread_t th;
        if (pthread_create(&th, NULL, echo_thread, ta) != 0) {
            close(fd);
            free(ta);
            continue;
        }
        pthread_detach(th);
    }
}

static const struct service_def echod_prefork = {
    .name = "echod",
    .optstring = "te:w:",
    .init = echod_init,
    .main = echod_main,
    .done = echod_done,
};

static const struct service_def echod_threaded = {
    .name = "echod",
    .optstring = "te:w:",
    .init = echod_init,
    .run = echod_run,
    .done = echod_done,
};

int main(int argc, char **argv)
{
    int threaded = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-t")) threaded = 1;
    return service_run(argc, argv, threaded ? &echod_threaded : &echod_prefork);
}
