/* pop3_auth: the AUTHORIZATION state's logins -- USER/PASS (RFC 1939 7)
 * and AUTH (RFC 5034, with initial response and "*" cancel).
 *
 * Plaintext passwords (USER/PASS, and the PLAIN/LOGIN mechanisms) are
 * accepted only under TLS unless allowplaintext is set; with tls_required
 * no login of any kind is accepted before TLS.  Failures get an "[AUTH]"
 * response code (RFC 3206) and, after a bad password, a pause of
 * failedloginpause.  Who may authorize as whom (proxy logins) is decided
 * by saslglue.  Once authenticated, pop3_maildrop_open() completes the
 * login; when it refuses, the session stays in AUTHORIZATION with a fresh
 * SASL object.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "saslglue.h"
#include "xmalloc.h"
#include "imap/store/namespace.h"

#include "imap/pop3d/pop3d.h"

#define POP3_USER_MAX 255   /* bytes of a USER argument */

int pop3_auth_reset(struct pop3_session *s)
{
    saslglue_server_free(&s->sasl);
    struct saslglue_server_params sp;
    memset(&sp, 0, sizeof(sp));
    sp.service = "pop";
    /* libsasl2 wants "ip;port"; a unix socket has none */
    sp.localip = strchr(s->conn->local, ';') ? s->conn->local : NULL;
    sp.remoteip = strchr(s->conn->peer, ';') ? s->conn->peer : NULL;
    sp.allowplaintext = config_getswitch(IMAPOPT_ALLOWPLAINTEXT);
    int r = saslglue_server_new(&sp, &s->sasl);
    if (r) {
        xsyslog(LOG_ERR, "SASL setup failed", "peer=<%s> error=<%s>", s->conn->peer,
                error_message(r));
        return r;
    }
    if (s->tls) {
        struct prot_tls_info ti;
        if (prot_tls_info(s->p, &ti) == 0) {
            r = saslglue_server_set_tls(s->sasl, (unsigned)ti.cipher_bits,
                                        ti.peer_verified ? ti.peer_cn : NULL);
            if (r) {
                xsyslog(LOG_ERR, "SASL setup failed", "peer=<%s> error=<%s>",
                        s->conn->peer, error_message(r));
                return r;
            }
        }
    }
    return 0;
}

/* tls_required: nothing before TLS. */
static int auth_allowed(struct pop3_session *s, const char *what)
{
    if (!s->tls && config_getswitch(IMAPOPT_TLS_REQUIRED)) {
        pop3_err(s, "[AUTH] %s command only available under a layer", what);
        return 0;
    }
    return 1;
}

static void failed_pause(void)
{
    long long pause = config_getduration(IMAPOPT_FAILEDLOGINPAUSE);
    if (pause > 0) sleep(pause > 60 ? 60 : (unsigned)pause);
}

/* Authenticated by SASL: open the maildrop, or start over. */
static void login_complete(struct pop3_session *s, const char *how)
{
    const char *uid = saslglue_server_userid(s->sasl);
    if (!uid) {
        pop3_err(s, "[SYS/TEMP] Authentication did not give a user");
        (void)pop3_auth_reset(s);
        return;
    }
    char *userid = xstrdup(uid);
    const char *authid = saslglue_server_authid(s->sasl);
    xsyslog(LOG_NOTICE, "login", "user=<%s> authid=<%s> peer=<%s> mech=<%s> tls=<%d>",
            userid, authid ? authid : userid, s->conn->peer, how, s->tls);

    if (!s->tls && !strcmp(how, "plaintext")) {
        long long pause = config_getduration(IMAPOPT_PLAINTEXTLOGINPAUSE);
        if (pause > 0) sleep(pause > 60 ? 60 : (unsigned)pause);
    }
    if (pop3_maildrop_open(s, userid) == 0) {
        s->userid = userid;
        return;
    }
    free(userid);
    if (pop3_auth_reset(s)) s->done = 1;
}

/* USER name */
void pop3_cmd_user(struct pop3_session *s, const char *args)
{
    if (!args) {
        pop3_err(s, "Missing argument");
        return;
    }
    if (!auth_allowed(s, "USER")) return;
    if (!saslglue_server_plaintext_ok(s->sasl)) {
        pop3_err(s, "[AUTH] USER command only available under a layer");
        return;
    }
    while (*args == ' ' || *args == '\t') args++;
    size_t len = strlen(args);
    while (len && (args[len - 1] == ' ' || args[len - 1] == '\t')) len--;
    int ok = len > 0 && len <= POP3_USER_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)args[i];
        if (c <= ' ' || c == 0x7f) ok = 0;
    }
    char *user = xstrndup(args, len);
    if (ok) {
        struct namespace ns;
        namespace_from_config(&ns, 0);
        char *inbox = namespace_user_inbox(&ns, user);
        ok = inbox != NULL;
        free(inbox);
    }
    if (!ok) {
        free(user);
        pop3_err(s, "[AUTH] Invalid user");
        return;
    }
    free(s->pending_user);
    s->pending_user = user;
    pop3_ok(s, "Name is a valid mailbox");
}

/* PASS password: the whole rest of the line (it may hold blanks). */
void pop3_cmd_pass(struct pop3_session *s, const char *args)
{
    if (!s->pending_user) {
        pop3_err(s, "[AUTH] Must give USER command");
        return;
    }
    if (!args) {
        pop3_err(s, "Missing argument");
        return;
    }
    char *user = s->pending_user;
    s->pending_user = NULL;
    int r = saslglue_server_checkpass(s->sasl, user, args);
    free(user);
    switch (r) {
    case 0:
        login_complete(s, "plaintext");
        return;
    case CYRERR_AUTHFAIL:
        failed_pause();
        pop3_err(s, "[AUTH] Invalid login");
        return;
    case CYRERR_PERMISSION:
        pop3_err(s, "[AUTH] Plaintext passwords are only accepted under TLS");
        return;
    default:
        pop3_err(s, "[SYS/TEMP] Unable to check passwords now");
        return;
    }
}

/* AUTH, AUTH mechanism [initial-response] */
void pop3_cmd_auth(struct pop3_session *s, const char *args)
{
    if (!auth_allowed(s, "AUTH")) return;
    char *copy = xstrdup(args ? args : "");
    char *save = NULL;
    char *mech = strtok_r(copy, " \t", &save);
    char *initial = mech ? strtok_r(NULL, " \t", &save) : NULL;
    char *extra = initial ? strtok_r(NULL, " \t", &save) : NULL;

    if (!mech) {
        /* the old discovery form (draft-myers-sasl-pop3), still used */
        const char *list = saslglue_server_mechlist(s->sasl, NULL, "\r\n");
        pop3_ok(s, "List of supported mechanisms follows");
        if (list && *list) prot_printf(s->p, "%s\r\n", list);
        prot_puts(s->p, ".\r\n");
        free(copy);
        return;
    }
    if (extra) {
        pop3_err(s, "Unexpected extra argument");
        free(copy);
        return;
    }
    free(s->pending_user);
    s->pending_user = NULL;

    int r = saslglue_server_exchange(s->sasl, s->p, &saslglue_proto_pop3, mech,
                                     initial);
    switch (r) {
    case 0: {
        const char *m = saslglue_server_mech(s->sasl);
        char *name = xstrdup(m ? m : mech);
        login_complete(s, name);
        free(name);
        break;
    }
    case CYRERR_CANCELLED:
        pop3_err(s, "[AUTH] Client canceled authentication");
        break;
    case CYRERR_PARSE:
        pop3_err(s, "[AUTH] Invalid base64 data");
        break;
    case CYRERR_NOTSUPPORTED:
        pop3_err(s, "[AUTH] Mechanism %s is not available", mech);
        break;
    case CYRERR_AUTHFAIL:
        failed_pause();
        pop3_err(s, "[AUTH] Authentication failed");
        break;
    case CYRERR_TOOBIG:
        pop3_err(s, "[AUTH] Response too long");
        break;
    case CYRERR_EOF:
    case CYRERR_IO:
    case CYRERR_TLS:
    case CYRERR_TIMEOUT:
        s->done = 1;
        break;
    default:
        pop3_err(s, "[SYS/TEMP] Authentication is not available now");
        if (pop3_auth_reset(s)) s->done = 1;
        break;
    }
    free(copy);
}
