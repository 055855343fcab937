/* lmtpd: the backend delivery agent.  LMTP (the engine in lmtpengine.c) on
 * the service skeleton, delivering into the local mail store.
 *
 *   lmtpd [-C imapd.conf] [-U uses] [-T timeout] [-s] [-a] [-D]
 *
 * -a trusts clients on TCP sockets as clients on unix sockets are always
 * trusted: they may send mail without AUTH (Cyrus's -a).  -D is accepted
 * for compatibility and ignored.  STARTTLS is offered when tls_server_cert
 * is set; AUTH when Cyrus SASL has mechanisms.
 *
 * Who the sender is (for the 'p' right on +detail folders and shared
 * mailboxes):
 *   - a client authenticated as a user that is neither in `admins` nor in
 *     `proxyservers`: that user;
 *   - a trusted client, or one authenticated as an admin or proxy server
 *     (lmtpproxyd): the MAIL FROM AUTH= parameter when given ("<>" is
 *     anonymous), else "anonymous" for a trusted client and the
 *     authenticated user for the others.
 * At RCPT time the AUTH= parameter is not known yet, so a shared mailbox's
 * 'p' right is checked there only for a final identity (an ordinary user,
 * or anonymous on a trusted session); it is always checked again at
 * delivery.
 *
 * Process-wide state (one service per process, as master runs it): the
 * configuration, the -a flag, the TLS context and the database handles.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "saslglue.h"
#include "tls.h"
#include "xmalloc.h"
#include "imap/store/acl.h"
#include "imap/store/duplicate.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"
#include "lmtp/lmtpd.h"
#include "lmtp/lmtpengine.h"
#include "master/service.h"

static struct lmtpd_config cfg;
static struct lmtpd_store store;
static int opt_preauth;
static SSL_CTX *tls_ctx;
static int have_sasl;

struct lmtp_ctx {
    const struct service_conn *conn;
    struct buf sender;      /* scratch for the decoded AUTH= identity */
};

/* ---- configuration and databases ----------------------------------------- */

void lmtpd_config_read(struct lmtpd_config *c)
{
    memset(c, 0, sizeof(*c));
    namespace_from_config(&c->ns, 0);
    c->downcase_rcpt = config_getswitch(IMAPOPT_LMTP_DOWNCASE_RCPT);
    c->fuzzy_match = config_getswitch(IMAPOPT_LMTP_FUZZY_MAILBOX_MATCH);
    c->over_quota_perm = config_getswitch(IMAPOPT_LMTP_OVER_QUOTA_PERM_FAILURE);
    c->strict_quota = config_getswitch(IMAPOPT_LMTP_STRICT_QUOTA);
    c->duplicate_suppression = config_getswitch(IMAPOPT_DUPLICATESUPPRESSION);
    c->single_instance = config_getswitch(IMAPOPT_SINGLEINSTANCESTORE);
    c->reject8bit = config_getswitch(IMAPOPT_REJECT8BIT);
    c->postuser = config_getstring(IMAPOPT_POSTUSER);
    if (!c->postuser) c->postuser = "";
    const char *owner = config_getstring(IMAPOPT_IMPLICIT_OWNER_RIGHTS);
    if (!owner || acl_rights_parse(owner, &c->owner_rights, NULL)) {
        xsyslog(LOG_WARNING, "lmtpd bad implicit_owner_rights", "value=<%s>",
                owner ? owner : "");
        c->owner_rights = ACL_LOOKUP | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN | ACL_ANNOTATE;
    }
}

int lmtpd_store_mboxlist(struct lmtpd_store *st, struct mboxlist **ml_r)
{
    if (!st->ml) {
        int r = mboxlist_open_config(0, &st->ml);
        if (r) {
            st->ml = NULL;
            xsyslog(LOG_ERR, "lmtpd cannot open mailboxes.db", "error=<%s>",
                    error_message(r));
            return r;
        }
    }
    *ml_r = st->ml;
    return 0;
}

struct duplicate *lmtpd_store_duplicate(struct lmtpd_store *st)
{
    if (!st->dup) {
        int r = duplicate_open(NULL, NULL, DUPLICATE_CREATE, &st->dup);
        if (r) {
            st->dup = NULL;
            if (!st->dup_failed)
                xsyslog(LOG_ERR, "lmtpd cannot open the duplicate database",
                        "error=<%s>", error_message(r));
            st->dup_failed = 1;
        }
    }
    return st->dup;
}

void lmtpd_store_close(struct lmtpd_store *st)
{
    if (st->ml) (void)mboxlist_close(st->ml);
    st->ml = NULL;
    if (st->dup) (void)duplicate_close(&st->dup);
}

/* ---- the sender ----------------------------------------------------------- */

/* Is userid in the space/comma separated list? */
static int in_list(const char *list, const char *userid)
{
    if (!list || !userid) return 0;
    size_t n = strlen(userid);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ',') p++;
        if ((size_t)(p - start) == n && n && !strncmp(start, userid, n)) return 1;
    }
    return 0;
}

/* May this authenticated user speak for other senders (AUTH=)? */
static int privileged(const char *userid)
{
    return config_is_admin(userid) ||
           in_list(config_getstring(IMAPOPT_PROXYSERVERS), userid);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 3461 xtext -> out.  0, or -1 when malformed. */
static int xtext_decode(const char *s, struct buf *out)
{
    buf_reset(out);
    for (; *s; s++) {
        if (*s == '+') {
            int hi = hexval(s[1]), lo = hi >= 0 ? hexval(s[2]) : -1;
            if (lo < 0) return -1;
            int c = hi * 16 + lo;
            if (c < 0x21 || c > 0x7e) return -1;
            buf_putc(out, (char)c);
            s += 2;
        } else if (*s < 0x21 || *s > 0x7e || *s == '=') {
            return -1;
        } else {
            buf_putc(out, *s);
        }
    }
    return 0;
}

/* The sender for ACL checks.  auth_param: MAIL FROM's AUTH= value, or
 * NULL; *final is cleared when AUTH= could still change the answer. */
static void find_sender(struct lmtp_ctx *ctx, struct lmtp_session *s, int at_rcpt,
                        const char *auth_param, struct lmtpd_sender *out, int *final)
{
    const char *userid = lmtp_session_userid(s);
    out->userid = NULL;
    *final = 1;
    if (userid && !privileged(userid)) {
        out->userid = userid;
        return;
    }
    if (at_rcpt) {
        /* AUTH= is not known here: anonymous on a trusted session (the
         * usual MTA), no check for admins and proxies */
        out->userid = userid;
        *final = !userid;
        return;
    }
    if (auth_param && *auth_param) {
        if (!strcmp(auth_param, "<>")) return;   /* anonymous */
        if (xtext_decode(auth_param, &ctx->sender) == 0 && ctx->sender.len) {
            out->userid = buf_cstring(&ctx->sender);
            return;
        }
        xsyslog(LOG_NOTICE, "lmtpd bad AUTH parameter", "session=<%s>", lmtp_session_id(s));
        return;
    }
    out->userid = userid;   /* NULL (anonymous) when trusted without AUTH */
}

/* ---- engine callbacks ------------------------------------------------------ */

static void lmtpd_verify_rcpt_cb(struct lmtp_ctx *ctx, struct lmtp_session *s,
                                 struct lmtp_rcpt *rcpt, struct lmtp_status *st)
{
    struct lmtp_rcpt_data *rd = xzmalloc(sizeof(*rd));
    int r = lmtpd_addr_parse(&cfg, rcpt->addr, &rd->addr);
    if (r) {
        free(rd);
        xsyslog(LOG_INFO, "lmtpd recipient refused", "rcpt=<%s> error=<%s>", rcpt->addr,
                error_name(r));
        lmtpd_status_for(&cfg, r, 0, st);
        return;
    }
    rcpt->data = rd;
    struct lmtpd_sender sender;
    int final;
    find_sender(ctx, s, 1, NULL, &sender, &final);
    lmtpd_verify_rcpt(&cfg, &store, &rd->addr, final ? &sender : NULL, rcpt->ignorequota,
                      st);
}

static void lmtpd_deliver_cb(struct lmtp_ctx *ctx, struct lmtp_session *s,
                             const struct lmtp_message *msg, struct lmtp_status *results)
{
    struct lmtpd_sender sender;
    int final;
    find_sender(ctx, s, 0, msg->auth_param, &sender, &final);
    lmtpd_deliver(&cfg, &store, msg, &sender, results);
}

static void lmtpd_rcpt_free_cb(struct lmtp_ctx *ctx, struct lmtp_rcpt *rcpt)
{
    (void)ctx;
    if (!rcpt->data) return;
    lmtpd_addr_fini(&rcpt->data->addr);
    xfree(rcpt->data);
}

static const struct lmtp_engine_ops lmtpd_ops = {
    .verify_rcpt = lmtpd_verify_rcpt_cb,
    .deliver = lmtpd_deliver_cb,
    .authenticated = NULL,
    .rcpt_free = lmtpd_rcpt_free_cb,
};

/* ---- the service --------------------------------------------------------- */

static int lmtpd_init(const struct service_info *info)
{
    int opt;
    optind = 1;
    while ((opt = getopt(info->argc, info->argv, "aD")) != -1) {
        switch (opt) {
        case 'a': opt_preauth = 1; break;
        case 'D': break;
        default: return 64;
        }
    }
    if (optind < info->argc) {
        xsyslog(LOG_ERR, "lmtpd unexpected argument", "arg=<%s>", info->argv[optind]);
        return 64;
    }
    lmtpd_config_read(&cfg);
    if (config_getstring(IMAPOPT_TLS_SERVER_CERT)) {
        const char *err = NULL;
        if (tls_server_ctx_from_config(&tls_ctx, &err)) {
            xsyslog(LOG_ERR, "lmtpd tls setup failed", "error=<%s>", err ? err : "");
            return 75;
        }
    }
    have_sasl = saslglue_server_init() == 0;
    return 0;
}

static void lmtpd_main(const struct service_info *info, const struct service_conn *conn)
{
    (void)info;
    struct lmtp_engine_params params;
    lmtp_engine_params_from_config(&params);
    lmtp_engine_params_for_conn(&params, conn, opt_preauth);
    params.tls_ctx = tls_ctx;
    struct lmtp_ctx ctx = { .conn = conn, .sender = BUF_INITIALIZER };
    int r = lmtp_session_run(&params, &lmtpd_ops, &ctx, conn->fd);
    buf_free(&ctx.sender);
    xsyslog(LOG_DEBUG, "lmtpd session ended", "peer=<%s> result=<%s>", conn->peer,
            r ? error_name(r) : "quit");
}

static void lmtpd_done(const struct service_info *info)
{
    (void)info;
    lmtpd_store_close(&store);
    quota_close();
    tls_ctx_free(&tls_ctx);
    if (have_sasl) saslglue_done();
}

static const struct service_def lmtpd_service = {
    .name = "lmtpd",
    .optstring = "aD",
    .init = lmtpd_init,
    .main = lmtpd_main,
    .done = lmtpd_done,
};

int main(int argc, char **argv)
{
    return service_run(argc, argv, &lmtpd_service);
}
