/* lmtptestd: the LMTP engine on the service skeleton, with a fake delivery,
 * for the integration tests (tests/test_lmtp_engine.py).  Not installed.
 *
 * Each accepted message is "delivered" by writing the spool file (trace
 * headers included) for every recipient to
 *     <outbox>/<address>/<message id>-<n>.eml
 * next to a <same>.env file of "key=value" lines that describe what the
 * engine reported (envelope, parameters, spool statistics, authentication).
 * The .eml file appears (by rename) after the .env file.
 *
 * Per-recipient results are chosen by the local part, to test the engine:
 *   unknown    RCPT: 550 5.1.1        reserved   RCPT: 450 4.2.1
 *   fail4xx    after DATA: 451 4.3.0  fail5xx    after DATA: 554 5.3.0
 *   overquota  after DATA: 452 4.2.2 (delivered when RCPT had IGNOREQUOTA)
 * A message with NUL bytes is refused for everybody (554 5.6.0), as lmtpd
 * does; a login as a user whose name starts with "denied" is refused by
 * the authentication hook.
 *
 * Options (besides the skeleton's -C -U -T -s):
 *   -a          trust TCP peers (no AUTH needed), as lmtpd -a
 *   -d dir      the outbox (default: $LMTPTESTD_DIR, else
 *               <configdirectory>/lmtptestd)
 *   -t seconds  idle timeout of a session (default 300)
 * Unix socket peers are always trusted.  STARTTLS is offered when
 * tls_server_cert is set.
 *
 * Process-wide state (one service per process): the options and the TLS
 * context, set in init.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "lmtp/lmtp_addr.h"
#include "lmtp/lmtpengine.h"
#include "log.h"
#include "master/service.h"
#include "saslglue.h"
#include "tls.h"
#include "xmalloc.h"

static int opt_preauth;
static char *outbox;
static int opt_timeout = LMTP_DEFAULT_TIMEOUT;
static SSL_CTX *tls_ctx;
static int have_sasl;

struct lmtp_ctx {
    const struct service_conn *conn;
};

struct lmtp_rcpt_data {
    char *local; /* the local part */
};

static void test_verify_rcpt(struct lmtp_ctx *ctx, struct lmtp_session *s,
                             struct lmtp_rcpt *rcpt, struct lmtp_status *st)
{
    (void)ctx;
    (void)s;
    char *local = NULL, *domain = NULL;
    if (lmtp_addr_split(rcpt->addr, &local, &domain)) {
        lmtp_status_set(st, 550, "5.1.3", "Bad address");
        return;
    }
    free(domain);
    rcpt->data = xzmalloc(sizeof(*rcpt->data));
    rcpt->data->local = local;
    if (!strcmp(local, "unknown"))
        lmtp_status_set(st, 550, "5.1.1", "User unknown");
    else if (!strcmp(local, "reserved"))
        lmtp_status_set(st, 450, "4.2.1", "Mailbox is being moved, try again later");
    else
        lmtp_status_set(st, 250, "2.1.5", "OK");
}

static void test_rcpt_free(struct lmtp_ctx *ctx, struct lmtp_rcpt *rcpt)
{
    (void)ctx;
    free(rcpt->data->local);
    xfree(rcpt->data);
}

static int test_authenticated(struct lmtp_ctx *ctx, struct lmtp_session *s,
                              const char *userid, const char *authid)
{
    (void)ctx;
    (void)s;
    (void)authid;
    return !strncmp(userid, "denied", 6);
}

/* A file name for an address: [A-Za-z0-9._@+-], others become '_'. */
static char *safe_name(const char *addr)
{
    char *s = xstrdup(*addr ? addr : "_");
    for (char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._@+-",
                    *c))
            *c = '_';
    if (s[0] == '.') s[0] = '_';
    return s;
}

static int write_file(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return CYRERR_IO;
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            return CYRERR_IO;
        }
        data += w;
        n -= (size_t)w;
    }
    return close(fd) ? CYRERR_IO : 0;
}

static void describe(struct buf *env, struct lmtp_session *s,
                     const struct lmtp_message *msg, const struct lmtp_rcpt *rcpt)
{
    const struct lmtp_spool_stats *st = msg->stats;
    const char *userid = lmtp_session_userid(s);
    buf_printf(
        env,
        "id=%s\nrcpt=%s\nreturn_path=%s\nauth_param=%s\nbody=%s\n"
        "size_param=%" PRIu64 "\nignorequota=%d\n",
        msg->id, rcpt->addr, msg->return_path, msg->auth_param ? msg->auth_param : "",
        msg->body_8bitmime ? "8BITMIME" : "7BIT", msg->size_param, rcpt->ignorequota);
    buf_printf(env,
               "size=%" PRIu64 "\nlines=%" PRIu64 "\nnul=%" PRIu64
               "\nheader_8bit=%" PRIu64 "\nbody_8bit=%" PRIu64 "\nbare_lf=%" PRIu64
               "\nbare_cr=%" PRIu64 "\nbad_header_lines=%" PRIu64 "\nhas_separator=%d\n",
               st->size, st->lines, st->nul, st->header_8bit, st->body_8bit, st->bare_lf,
               st->bare_cr, st->bad_header_lines, st->has_separator);
    buf_printf(env,
               "file_size=%" PRIu64 "\nreceived_offset=%" PRIu64 "\nmsg_offset=%" PRIu64
               "\nbody_offset=%" PRIu64 "\n",
               msg->size, msg->received_offset, msg->msg_offset, msg->body_offset);
    buf_printf(env, "userid=%s\ntrusted=%d\ntls=%d\nlhlo=%s\nnrcpts=%zu\n",
               userid ? userid : "", lmtp_session_trusted(s), lmtp_session_is_tls(s),
               lmtp_session_lhlo(s) ? lmtp_session_lhlo(s) : "", msg->nrcpts);
}

/* Write the message and its description for one recipient. */
static int store_one(struct lmtp_session *s, const struct lmtp_message *msg, size_t i)
{
    const struct lmtp_rcpt *rcpt = msg->rcpts[i];
    char *name = safe_name(rcpt->addr);
    char *dir = strconcat(outbox, "/", name, (char *)NULL);
    char *base = xasprintf("%s/%s-%zu", dir, msg->id, i);
    char *envpath = strconcat(base, ".env", (char *)NULL);
    char *tmppath = strconcat(base, ".tmp", (char *)NULL);
    char *emlpath = strconcat(base, ".eml", (char *)NULL);
    struct buf env = BUF_INITIALIZER;
    int r = 0;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) r = CYRERR_IO;
    if (!r) {
        describe(&env, s, msg, rcpt);
        r = write_file(envpath, buf_base(&env), buf_len(&env));
    }
    if (!r) {
        int fd = open(tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            r = CYRERR_IO;
        } else {
            r = lmtp_spool_copy(msg->spool, 0, fd);
            if (close(fd) && !r) r = CYRERR_IO;
            if (!r && rename(tmppath, emlpath)) r = CYRERR_IO;
        }
    }
    if (r)
        xsyslog(LOG_ERR, "lmtptestd store failed", "path=<%s> error=<%s>", base,
                strerror(errno));
    buf_free(&env);
    free(name);
    free(dir);
    free(base);
    free(envpath);
    free(tmppath);
    free(emlpath);
    return r;
}

static void test_deliver(struct lmtp_ctx *ctx, struct lmtp_session *s,
                         const struct lmtp_message *msg, struct lmtp_status *results)
{
    (void)ctx;
    for (size_t i = 0; i < msg->nrcpts; i++) {
        const struct lmtp_rcpt *rcpt = msg->rcpts[i];
        const char *local = rcpt->data->local;
        if (msg->stats->nul)
            lmtp_status_set(&results[i], 554, "5.6.0", "Message contains NUL characters");
        else if (!strcmp(local, "fail4xx"))
            lmtp_status_set(&results[i], 451, "4.3.0", "Temporary failure (test)");
        else if (!strcmp(local, "fail5xx"))
            lmtp_status_set(&results[i], 554, "5.3.0", "Permanent failure (test)");
        else if (!strcmp(local, "overquota") && !rcpt->ignorequota)
            lmtp_status_set(&results[i], 452, "4.2.2", "Over quota");
        else if (store_one(s, msg, i))
            lmtp_status_set(&results[i], 451, "4.3.0", "Cannot store the message");
        else
            lmtp_status_set(&results[i], 250, "2.1.5", "Ok delivered to %s", rcpt->addr);
    }
}

static const struct lmtp_engine_ops test_ops = {
    .verify_rcpt = test_verify_rcpt,
    .deliver = test_deliver,
    .authenticated = test_authenticated,
    .rcpt_free = test_rcpt_free,
};

static int lmtptestd_init(const struct service_info *info)
{
    int opt;
    const char *dir = NULL;
    optind = 1;
    while ((opt = getopt(info->argc, info->argv, "ad:t:")) != -1) {
        switch (opt) {
        case 'a':
            opt_preauth = 1;
            break;
        case 'd':
            dir = optarg;
            break;
        case 't':
            opt_timeout = atoi(optarg);
            break;
        default:
            return 64;
        }
    }
    if (!dir) dir = getenv("LMTPTESTD_DIR");
    outbox = dir ? xstrdup(dir) : strconcat(config_dir(), "/lmtptestd", (char *)NULL);
    if (mkdir(outbox, 0755) < 0 && errno != EEXIST) {
        xsyslog(LOG_ERR, "lmtptestd cannot create outbox", "dir=<%s> error=<%s>", outbox,
                strerror(errno));
        return 75;
    }
    if (config_getstring(IMAPOPT_TLS_SERVER_CERT)) {
        const char *err = NULL;
        if (tls_server_ctx_from_config(&tls_ctx, &err)) {
            xsyslog(LOG_ERR, "lmtptestd tls setup failed", "error=<%s>", err);
            return 75;
        }
    }
    have_sasl = saslglue_server_init() == 0;
    return 0;
}

static void lmtptestd_main(const struct service_info *info,
                           const struct service_conn *conn)
{
    (void)info;
    struct lmtp_engine_params params;
    struct lmtp_ctx ctx = {.conn = conn};
    lmtp_engine_params_from_config(&params);
    lmtp_engine_params_for_conn(&params, conn, opt_preauth);
    params.tls_ctx = tls_ctx;
    params.timeout = opt_timeout;
    int r = lmtp_session_run(&params, &test_ops, &ctx, conn->fd);
    xsyslog(LOG_DEBUG, "lmtptestd session ended", "peer=<%s> result=<%s>", conn->peer,
            r ? error_name(r) : "quit");
}

static void lmtptestd_done(const struct service_info *info)
{
    (void)info;
    tls_ctx_free(&tls_ctx);
    if (have_sasl) saslglue_done();
    xfree(outbox);
}

static const struct service_def lmtptestd = {
    .name = "lmtptestd",
    .optstring = "ad:t:",
    .init = lmtptestd_init,
    .main = lmtptestd_main,
    .done = lmtptestd_done,
};

int main(int argc, char **argv)
{
    return service_run(argc, argv, &lmtptestd);
}
