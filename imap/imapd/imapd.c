/* imapd: main(), the per-connection session loop and the command table.
 *
 * The service skeleton (master/service.h) owns main(): it calls
 * imapd_init() once per process and imapd_serve() for every connection.
 * A connection is one struct imapd_session (imapd.h); its loop reads
 * "tag SP command", looks the command up in the const table below, checks
 * that it is allowed in the session's state and hands it to its handler.
 * The helpers every handler uses (replies, strings, names and rights,
 * sequence sets) live in imapd_util.c.
 *
 * Timeouts: the `timeout` option (minutes; RFC 3501 5.4 asks for at least
 * 30, so smaller values are raised to 30) is the autologout timer of every
 * state.  Test suites that cannot wait half an hour set the environment
 * variable IMAPD_TEST_TIMEOUT_SECONDS, which replaces it outright; it is
 * documented in imapd(8) as meant for tests only, and logged when used.
 *
 * Process-wide state (documented exception): the TLS context and the
 * option values read once in imapd_init().
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "saslglue.h"
#include "tls.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/acl.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"
#include "master/service.h"

#define IMAPD_MIN_TIMEOUT (30 * 60)
#define IMAPD_DEFAULT_MAXMESSAGE (1024ULL * 1024 * 1024)

static SSL_CTX *tls_ctx;          /* NULL: no TLS configured */
static int session_timeout;       /* seconds */

SSL_CTX *imapd_tls_ctx(void)
{
    return tls_ctx;
}

/* ---- the command table ---------------------------------------------------- */

#define NA IMAPD_NOTAUTH
#define AU IMAPD_ST_AUTHED
#define SE IMAPD_SELECTED
#define ANY IMAPD_ST_ANY

static const struct imapd_cmd commands[] = {
    /* any state */
    { "CAPABILITY", imapd_cmd_capability, ANY, IMAPD_CMD_NOREPORT },
    { "NOOP", imapd_cmd_noop, ANY, 0 },
    { "LOGOUT", imapd_cmd_logout, ANY, IMAPD_CMD_NOREPORT },
    { "ID", imapd_cmd_id, ANY, 0 },
    /* not authenticated */
    { "STARTTLS", imapd_cmd_starttls, NA, IMAPD_CMD_NOREPORT },
    { "AUTHENTICATE", imapd_cmd_authenticate, NA, IMAPD_CMD_NOREPORT },
    { "LOGIN", imapd_cmd_login, NA, IMAPD_CMD_NOREPORT },
    /* authenticated */
    { "COMPRESS", imapd_cmd_compress, AU, IMAPD_CMD_NOREPORT },
    { "ENABLE", imapd_cmd_enable, AU, 0 },
    { "NAMESPACE", imapd_cmd_namespace, AU, 0 },
    { "SELECT", imapd_cmd_select, AU, IMAPD_CMD_NOREPORT },
    { "EXAMINE", imapd_cmd_select, AU, IMAPD_CMD_NOREPORT },
    { "CREATE", imapd_cmd_create, AU, 0 },
    { "DELETE", imapd_cmd_delete, AU, 0 },
    { "RENAME", imapd_cmd_rename, AU, 0 },
    { "SUBSCRIBE", imapd_cmd_subscribe, AU, 0 },
    { "UNSUBSCRIBE", imapd_cmd_unsubscribe, AU, 0 },
    { "LIST", imapd_cmd_list, AU, 0 },
    { "LSUB", imapd_cmd_lsub, AU, 0 },
    { "STATUS", imapd_cmd_status, AU, 0 },
    { "APPEND", imapd_cmd_append, AU, 0 },
    { "IDLE", imapd_cmd_idle, AU, 0 },
    { "SETACL", imapd_cmd_setacl, AU, 0 },
    { "DELETEACL", imapd_cmd_deleteacl, AU, 0 },
    { "GETACL", imapd_cmd_getacl, AU, 0 },
    { "LISTRIGHTS", imapd_cmd_listrights, AU, 0 },
    { "MYRIGHTS", imapd_cmd_myrights, AU, 0 },
    { "GETQUOTA", imapd_cmd_getquota, AU, 0 },
    { "GETQUOTAROOT", imapd_cmd_getquotaroot, AU, 0 },
    { "SETQUOTA", imapd_cmd_setquota, AU, 0 },
    { "GETMETADATA", imapd_cmd_getmetadata, AU, 0 },
    { "SETMETADATA", imapd_cmd_setmetadata, AU, 0 },
    { "RECONSTRUCT", imapd_cmd_reconstruct, AU, 0 },
    /* selected */
    { "CHECK", imapd_cmd_check, SE, 0 },
    { "CLOSE", imapd_cmd_close, SE, IMAPD_CMD_NOREPORT },
    { "UNSELECT", imapd_cmd_unselect, SE, IMAPD_CMD_NOREPORT },
    { "EXPUNGE", imapd_cmd_expunge, SE, IMAPD_CMD_UID },
    { "SEARCH", imapd_cmd_search, SE, IMAPD_CMD_UID | IMAPD_CMD_NOEXPUNGE },
    { "FETCH", imapd_cmd_fetch, SE, IMAPD_CMD_UID | IMAPD_CMD_NOEXPUNGE },
    { "STORE", imapd_cmd_store, SE, IMAPD_CMD_UID | IMAPD_CMD_NOEXPUNGE },
    { "COPY", imapd_cmd_copy, SE, IMAPD_CMD_UID },
    { "MOVE", imapd_cmd_move, SE, IMAPD_CMD_UID },
};

#undef NA
#undef AU
#undef SE
#undef ANY

static const struct imapd_cmd *find_command(const char *name, int uid)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const struct imapd_cmd *c = &commands[i];
        if (strcasecmp(c->name, name)) continue;
        if (uid && !(c->flags & (IMAPD_CMD_UID | IMAPD_CMD_UIDONLY))) return NULL;
        if (!uid && (c->flags & IMAPD_CMD_UIDONLY)) return NULL;
        return c;
    }
    return NULL;
}

/* ---- process start ---------------------------------------------------------- */

static int imapd_init(const struct service_info *info)
{
    long long t = config_getduration(IMAPOPT_TIMEOUT);
    if (t < IMAPD_MIN_TIMEOUT) t = IMAPD_MIN_TIMEOUT;
    const char *env = getenv("IMAPD_TEST_TIMEOUT_SECONDS");
    if (env && atoi(env) > 0) {
        t = atoi(env);
        xsyslog(LOG_NOTICE, "test timeout in use", "seconds=<%lld>", t);
    }
    session_timeout = t > 0x7fffffff ? 0x7fffffff : (int)t;

    /* A process serves many sessions: keep the big arrays of one (a
     * SELECT's view of 100,000 messages is 5 MB) in the heap for the next
     * one instead of mapping fresh zeroed pages for every SELECT. */
    (void)mallopt(M_MMAP_THRESHOLD, 16 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 32 << 20);

    if (saslglue_server_init()) {
        xsyslog(LOG_ERR, "SASL initialisation failed", "service=<imap>");
        return 75;
    }

    const char *errstr = NULL;
    if (config_getstring(IMAPOPT_TLS_SERVER_CERT)) {
        int r = tls_server_ctx_from_config(&tls_ctx, &errstr);
        if (r) {
            xsyslog(LOG_ERR, "TLS context failed", "error=<%s>", errstr ? errstr : "");
            tls_ctx = NULL;
        }
    }
    if (info->tls_wrapped && !tls_ctx) {
        xsyslog(LOG_ERR, "imaps needs TLS", "error=<%s>",
                "no usable tls_server_cert/tls_server_key");
        return 75;
    }
    return 0;
}

static void imapd_done(const struct service_info *info)
{
    (void)info;
    tls_ctx_free(&tls_ctx);
    quota_close();
    saslglue_done();
}

/* ---- sessions ---------------------------------------------------------------- */

static struct imapd_session *session_new(const struct service_conn *conn)
{
    struct imapd_session *s = xzmalloc(sizeof(*s));
    s->conn = conn;
    s->prot = prot_new(conn->fd);
    s->peer = xstrdup(conn->peer);
    s->local = xstrdup(conn->local);
    s->timeout = session_timeout;
    prot_set_timeout(s->prot, s->timeout);

    tok_limits_default(&s->limits);
    long long maxword = config_getbytes(IMAPOPT_MAXWORD);
    if (maxword > 0) s->limits.maxword = (size_t)maxword;
    long long maxquoted = config_getbytes(IMAPOPT_MAXQUOTED);
    if (maxquoted > 0 && (size_t)maxquoted > s->limits.maxword)
        s->limits.maxword = (size_t)maxquoted;
    long long maxmsg = config_getbytes(IMAPOPT_MAXMESSAGESIZE);
    s->maxmessagesize = maxmsg > 0 ? (uint64_t)maxmsg : IMAPD_DEFAULT_MAXMESSAGE;
    tok_parser_init(&s->tp, s->prot, &s->limits);
    tok_set_literal_cb(&s->tp, imapd_literal_cb, s);

    s->state = IMAPD_NOTAUTH;
    strarray_init(&s->groups);
    unsigned owner = 0;
    if (acl_rights_parse(config_getstring(IMAPOPT_IMPLICIT_OWNER_RIGHTS) ?
                         config_getstring(IMAPOPT_IMPLICIT_OWNER_RIGHTS) : "",
                         &owner, NULL))
        owner = ACL_LOOKUP | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN | ACL_ANNOTATE;
    s->owner_rights = owner;
    namespace_from_config(&s->ns, 0);
    return s;
}

static void session_free(struct imapd_session *s)
{
    imapd_unselect(s);
    if (s->mbl) (void)mboxlist_close(s->mbl);
    saslglue_server_free(&s->sasl);
    tok_parser_fini(&s->tp);
    prot_free(&s->prot);
    free(s->peer);
    free(s->local);
    free(s->userid);
    free(s->authid);
    strarray_free(&s->groups);
    buf_free(&s->tag);
    buf_free(&s->badtext);
    buf_free(&s->scratch);
    free(s);
}

static int is_stream_error(int r)
{
    return r == CYRERR_EOF || r == CYRERR_TIMEOUT || r == CYRERR_IO || r == CYRERR_TLS;
}

/* The connection is ending because of a stream condition. */
static void stream_end(struct imapd_session *s, int r)
{
    if (r == CYRERR_TIMEOUT) {
        prot_puts(s->prot, "* BYE Autologout; idle for too long\r\n");
        (void)prot_flush(s->prot);
        xsyslog(LOG_INFO, "autologout", "peer=<%s> user=<%s>", s->peer,
                s->userid ? s->userid : "");
    } else if (r != CYRERR_EOF) {
        xsyslog(LOG_INFO, "connection lost", "peer=<%s> error=<%s>", s->peer,
                error_message(r));
    }
    s->state = IMAPD_LOGOUT;
}

static void protocol_bye(struct imapd_session *s)
{
    prot_puts(s->prot, "* BYE Protocol error: cannot resynchronise\r\n");
    (void)prot_flush(s->prot);
    s->state = IMAPD_LOGOUT;
}

/* BAD for the current command, then discard the rest of its line. */
static void bad_and_skip(struct imapd_session *s, const char *text)
{
    s->no_report = 1;
    imapd_bad(s, NULL, "%s", text);
    int r = tok_skip_line(&s->tp);
    if (r == CYRERR_PROTOCOL_ERROR) protocol_bye(s);
    else if (r < 0) stream_end(s, r);
}

static const char *state_refusal(const struct imapd_session *s, const struct imapd_cmd *c)
{
    if (s->state == IMAPD_NOTAUTH) return "Please login first";
    if (c->states == IMAPD_NOTAUTH) return "Already logged in";
    return "Please select a mailbox first";
}

/* Read and run one command. */
static void one_command(struct imapd_session *s, struct buf *name)
{
    s->tp.limits = s->limits;
    s->cmd = NULL;
    s->no_report = 0;
    buf_reset(&s->badtext);
    buf_reset(&s->tag);

    int c = tok_atom(&s->tp, TOK_CS_TAG, &s->tag);
    if (c < 0) {
        if (is_stream_error(c)) {
            stream_end(s, c);
            return;
        }
        buf_reset(&s->tag);
        buf_setcstr(&s->tag, "*");
        bad_and_skip(s, tok_error(&s->tp) == TOK_E_EMPTY ? "Invalid tag" : tok_errstr(&s->tp));
        return;
    }
    if (c != ' ') {
        bad_and_skip(s, "Missing command");
        return;
    }
    c = tok_atom(&s->tp, TOK_CS_ATOM, name);
    if (c < 0) {
        if (is_stream_error(c)) {
            stream_end(s, c);
            return;
        }
        bad_and_skip(s, "Invalid command");
        return;
    }
    int uid = 0;
    if (!strcasecmp(buf_cstring(name), "UID")) {
        if (c != ' ') {
                bad_and_skip(s, "Missing UID subcommand");
            return;
        }
        uid = 1;
        c = tok_atom(&s->tp, TOK_CS_ATOM, name);
        if (c < 0) {
            if (is_stream_error(c)) {
                stream_end(s, c);
                return;
            }
            bad_and_skip(s, "Invalid UID subcommand");
            return;
        }
    }
    if (c != ' ' && c != '\r' && c != '\n') {
        bad_and_skip(s, "Invalid command");
        return;
    }
    const struct imapd_cmd *def = find_command(buf_cstring(name), uid);
    if (!def) {
        bad_and_skip(s, uid ? "Unrecognized UID subcommand" : "Unrecognized command");
        return;
    }
    struct imapd_cmdctx ctx = { buf_cstring(&s->tag), def->name, def, uid, c };
    s->cmd = &ctx;
    if (!(def->states & s->state)) {
        bad_and_skip(s, state_refusal(s, def));
        s->cmd = NULL;
        return;
    }

    int r = def->fn(s, &ctx);
    if (r < 0 && s->state != IMAPD_LOGOUT) {
        if (is_stream_error(r)) {
            stream_end(s, r);
        } else if (r == CYRERR_PROTOCOL_ERROR) {
            protocol_bye(s);
        } else {
            const char *text;
            if (buf_len(&s->badtext)) text = buf_cstring(&s->badtext);
            else if (tok_error(&s->tp) != TOK_E_NONE) text = tok_errstr(&s->tp);
            else text = error_message(r);
            struct buf t = BUF_INITIALIZER;
            buf_printf(&t, "%s: %s", def->name, text);
            bad_and_skip(s, buf_cstring(&t));
            buf_free(&t);
        }
    }
    s->cmd = NULL;
    if (prot_flush(s->prot) < 0 && s->state != IMAPD_LOGOUT)
        stream_end(s, prot_error(s->prot) ? prot_error(s->prot) : CYRERR_IO);
}

static void imapd_serve(const struct service_info *info, const struct service_conn *conn)
{
    (void)info;
    struct imapd_session *s = session_new(conn);

    if (conn->tls_wrapped) {
        const char *err = NULL;
        int r = prot_starttls(s->prot, tls_ctx, 1, &err);
        if (r) {
            xsyslog(LOG_NOTICE, "TLS handshake failed", "peer=<%s> error=<%s>",
                    s->peer, err ? err : error_message(r));
            session_free(s);
            return;
        }
        s->tls_on = 1;
    }
    int r = mboxlist_open_config(CYRUSDB_CREATE, &s->mbl);
    if (!r) r = imapd_sasl_reset(s);
    if (r) {
        xsyslog(LOG_ERR, "session setup failed", "peer=<%s> error=<%s>", s->peer,
                error_message(r));
        prot_puts(s->prot, "* BYE Server unavailable, try again later\r\n");
        (void)prot_flush(s->prot);
        session_free(s);
        return;
    }

    prot_printf(s->prot, "* OK [CAPABILITY %s] %s Cyrus-style IMAP server ready\r\n",
                imapd_capabilities(s), config_servername());
    if (prot_flush(s->prot) < 0) {
        session_free(s);
        return;
    }

    struct buf name = BUF_INITIALIZER;
    while (s->state != IMAPD_LOGOUT)
        one_command(s, &name);
    buf_free(&name);
    xsyslog(LOG_INFO, "session end", "peer=<%s> user=<%s> in=<%llu> out=<%llu>",
            s->peer, s->userid ? s->userid : "",
            (unsigned long long)prot_bytes_in(s->prot),
            (unsigned long long)prot_bytes_out(s->prot));
    session_free(s);
}

static const struct service_def imapd_service = {
    .name = "imapd",
    .optstring = NULL,
    .init = imapd_init,
    .main = imapd_serve,
    .done = imapd_done,
};

int main(int argc, char **argv)
{
    return service_run(argc, argv, &imapd_service);
}
