/* cmd_auth: the commands around a session's security and identity --
 * CAPABILITY, NOOP, LOGOUT, STARTTLS, AUTHENTICATE (with SASL-IR), LOGIN,
 * COMPRESS (RFC 4978), ID (RFC 2971), ENABLE (RFC 5161) and NAMESPACE
 * (RFC 2342).
 *
 * Plaintext passwords (LOGIN, AUTHENTICATE PLAIN/LOGIN) are refused
 * without TLS unless allowplaintext is set; CAPABILITY then says
 * LOGINDISABLED and offers no plaintext mechanism.  Proxy authorization
 * (an authzid different from the authcid) is decided by lib/saslglue:
 * accepted only when the authenticating identity is in proxyservers or
 * admins.  A failed login waits failedloginpause before answering.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "saslglue.h"
#include "strarray.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/namespace.h"

/* Advertised in every state, and once authenticated (the CAPABILITY
 * command lists the latter before login too, as Cyrus does). */
static const char *const caps_always[] = {
    "IMAP4rev1", "LITERAL+", "ID", "ENABLE", NULL
};
static const char *const caps_authed[] = {
    "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN",
    "LIST-EXTENDED", "ACL", "RIGHTS=kxten", "QUOTA", "MULTIAPPEND", "BINARY",
    "ESEARCH", "CONDSTORE", "METADATA", "SPECIAL-USE", "CREATE-SPECIAL-USE", NULL
};

int imapd_sasl_reset(struct imapd_session *s)
{
    struct saslglue_server_params p;
    memset(&p, 0, sizeof(p));
    p.service = "imap";
    p.localip = s->local;
    p.remoteip = s->peer;
    p.allowplaintext = config_getswitch(IMAPOPT_ALLOWPLAINTEXT);
    struct prot_tls_info ti;
    if (s->tls_on && !prot_tls_info(s->prot, &ti)) {
        p.tls_ssf = ti.cipher_bits > 0 ? (unsigned)ti.cipher_bits : 1;
        p.tls_authid = ti.peer_verified ? ti.peer_cn : NULL;
    }
    saslglue_server_free(&s->sasl);
    return saslglue_server_new(&p, &s->sasl);
}

static int suppressed(const struct strarray *sup, const char *cap)
{
    return strarray_find(sup, cap, 0) >= 0;
}

static void add_cap(struct buf *b, const struct strarray *sup, const char *cap)
{
    if (suppressed(sup, cap)) return;
    if (buf_len(b)) buf_putc(b, ' ');
    buf_appendcstr(b, cap);
}

/* `full`: also the extensions of the authenticated state before login --
 * Cyrus answers a CAPABILITY command so (its greeting stays short), and
 * clients such as cyradm decide on LIST-EXTENDED, METADATA or
 * MAILBOX-REFERRALS from that answer, made before they authenticate. */
static const char *capabilities(struct imapd_session *s, int full)
{
    struct strarray sup = STRARRAY_INITIALIZER;
    const char *sv = config_getstring(IMAPOPT_SUPPRESS_CAPABILITIES);
    if (sv) strarray_split(&sup, sv, " \t", 1);
    struct buf *b = &s->scratch;
    buf_reset(b);
#define ADD(cap) add_cap(b, &sup, (cap))

    for (size_t i = 0; caps_always[i]; i++) ADD(caps_always[i]);
    if (s->state == IMAPD_NOTAUTH) {
        if (imapd_tls_ctx() && !s->tls_on) ADD("STARTTLS");
        if (s->sasl && !saslglue_server_plaintext_ok(s->sasl)) ADD("LOGINDISABLED");
        if (s->sasl) {
            const char *mechs = saslglue_server_mechlist(s->sasl, "AUTH=", " AUTH=");
            struct strarray m = STRARRAY_INITIALIZER;
            strarray_split(&m, mechs, " ", 1);
            for (int i = 0; i < m.count; i++) ADD(m.data[i]);
            strarray_free(&m);
        }
        ADD("SASL-IR");
    }
    if (s->state != IMAPD_NOTAUTH || full) {
        if (imapd_idle_enabled()) ADD("IDLE");
        for (size_t i = 0; caps_authed[i]; i++) ADD(caps_authed[i]);
        if (!s->compress_on) ADD("COMPRESS=DEFLATE");
    }
#undef ADD
    strarray_free(&sup);
    return buf_cstring(b);
}

const char *imapd_capabilities(struct imapd_session *s)
{
    return capabilities(s, 0);
}

/* ---- simple commands ------------------------------------------------------------- */

int imapd_cmd_capability(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = imapd_eol(s, cmd->c);
    if (r < 0) return r;
    imapd_untagged(s, "CAPABILITY %s", capabilities(s, 1));
    return imapd_ok(s, NULL, "Completed");
}

int imapd_cmd_noop(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = imapd_eol(s, cmd->c);
    if (r < 0) return r;
    return imapd_ok(s, NULL, "Completed");
}

int imapd_cmd_logout(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = imapd_eol(s, cmd->c);
    if (r < 0) return r;
    imapd_untagged(s, "BYE LOGOUT received");
    imapd_ok(s, NULL, "Completed");
    s->state = IMAPD_LOGOUT;
    return 0;
}

/* ---- TLS and compression ----------------------------------------------------------- */

int imapd_cmd_starttls(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = imapd_eol(s, cmd->c);
    if (r < 0) return r;
    if (s->tls_on) return imapd_bad(s, NULL, "Already did a successful STARTTLS");
    if (!imapd_tls_ctx()) return imapd_no(s, NULL, "TLS is not available");
    imapd_ok(s, NULL, "Begin TLS negotiation now");
    const char *err = NULL;
    r = prot_starttls(s->prot, imapd_tls_ctx(), 1, &err);
    if (r) {
        xsyslog(LOG_NOTICE, "STARTTLS failed", "peer=<%s> error=<%s>", s->peer,
                err && *err ? err : error_message(r));
        s->state = IMAPD_LOGOUT;
        return 0;
    }
    s->tls_on = 1;
    r = imapd_sasl_reset(s);
    if (r) {
        xsyslog(LOG_ERR, "SASL reset failed", "peer=<%s> error=<%s>", s->peer,
                error_message(r));
        s->state = IMAPD_LOGOUT;
    }
    return 0;
}

int imapd_cmd_compress(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf alg = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing compression algorithm");
    int c = tok_atom(&s->tp, TOK_CS_ATOM, &alg);
    int r = imapd_eol(s, c);
    if (r < 0) {
        buf_free(&alg);
        return r;
    }
    int deflate = !strcasecmp(buf_cstring(&alg), "DEFLATE");
    buf_free(&alg);
    if (!deflate) return imapd_bad(s, NULL, "Unknown COMPRESS algorithm");
    if (s->compress_on)
        return imapd_no(s, "COMPRESSIONACTIVE", "DEFLATE active via COMPRESS");
    imapd_ok(s, NULL, "DEFLATE active");
    r = prot_start_deflate(s->prot);
    if (r) {
        xsyslog(LOG_ERR, "COMPRESS failed", "peer=<%s> error=<%s>", s->peer,
                error_message(r));
        s->state = IMAPD_LOGOUT;
        return 0;
    }
    s->compress_on = 1;
    return 0;
}

/* ---- logging in --------------------------------------------------------------------- */

int imapd_login_done(struct imapd_session *s, const char *userid, const char *authid,
                     const char *mech)
{
    if (!userid || !*userid) return CYRERR_INVALID_USER;
    free(s->userid);
    free(s->authid);
    s->userid = xstrdup(userid);
    s->authid = xstrdup(authid && *authid ? authid : userid);
    s->isadmin = config_is_admin(s->userid);
    s->isproxyadmin = strcmp(s->userid, s->authid) != 0;
    namespace_from_config(&s->ns, s->isadmin);
    s->ident.userid = s->userid;
    s->ident.groups = &s->groups;
    s->ident.isadmin = s->isadmin;
    s->state = IMAPD_AUTH;
    xsyslog(LOG_NOTICE, "login", "peer=<%s> user=<%s> authid=<%s> mech=<%s> tls=<%d>%s",
            s->peer, s->userid, s->authid, mech ? mech : "", s->tls_on,
            s->isadmin ? " admin=<1>" : "");
    return 0;
}

static void failed_login_pause(void)
{
    long long pause = config_getduration(IMAPOPT_FAILEDLOGINPAUSE);
    if (pause > 0) sleep(pause > 60 ? 60 : (unsigned)pause);
}

static int login_ok(struct imapd_session *s, const char *text)
{
    struct buf code = BUF_INITIALIZER;
    buf_printf(&code, "CAPABILITY %s", imapd_capabilities(s));
    imapd_ok(s, buf_cstring(&code), "%s", text);
    buf_free(&code);
    return 0;
}

int imapd_cmd_login(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf user = BUF_INITIALIZER, pass = BUF_INITIALIZER;
    int r;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing user name");
    int c = tok_astring(&s->tp, &user);
    if (c == ' ') c = tok_astring(&s->tp, &pass);
    else if (c >= 0) c = imapd_syntax(s, "Missing password");
    r = imapd_eol(s, c);
    if (r < 0) goto out;

    if (!saslglue_server_plaintext_ok(s->sasl)) {
        r = imapd_no(s, "PRIVACYREQUIRED", "Login only available under a layer");
        goto out;
    }
    r = saslglue_server_checkpass(s->sasl, buf_cstring(&user), buf_cstring(&pass));
    if (!r) r = imapd_login_done(s, saslglue_server_userid(s->sasl),
                                 saslglue_server_authid(s->sasl), "LOGIN");
    if (r) {
        failed_login_pause();
        if (r == CYRERR_PERMISSION)
            r = imapd_no(s, "PRIVACYREQUIRED", "Login only available under a layer");
        else if (r == CYRERR_SASL)
            r = imapd_no(s, "UNAVAILABLE", "Authentication service unavailable");
        else
            r = imapd_no(s, "AUTHENTICATIONFAILED", "Login failed: authentication failure");
        goto out;
    }
    r = login_ok(s, "User logged in");
out:
    /* the password does not linger in memory */
    if (pass.s) memset(pass.s, 0, pass.alloc);
    buf_free(&user);
    buf_free(&pass);
    return r;
}

int imapd_cmd_authenticate(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mech = BUF_INITIALIZER, initial = BUF_INITIALIZER;
    int has_initial = 0, r;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mechanism");
    int c = tok_atom(&s->tp, TOK_CS_ATOM, &mech);
    if (c == ' ') {
        c = tok_atom(&s->tp, TOK_CS_ASTRING, &initial);
        has_initial = 1;
    }
    r = imapd_eol(s, c);
    if (r < 0) goto out;

    buf_toupper(&mech);
    r = saslglue_server_exchange(s->sasl, s->prot, &saslglue_proto_imap,
                                 buf_cstring(&mech),
                                 has_initial ? buf_cstring(&initial) : NULL);
    if (!r) r = imapd_login_done(s, saslglue_server_userid(s->sasl),
                                 saslglue_server_authid(s->sasl), buf_cstring(&mech));
    switch (r) {
    case 0: {
        struct buf text = BUF_INITIALIZER;
        buf_printf(&text, "Success (%s)", s->tls_on ? "tls protection" : "no protection");
        r = login_ok(s, buf_cstring(&text));
        buf_free(&text);
        break;
    }
    case CYRERR_CANCELLED:
        r = imapd_bad(s, NULL, "Client canceled authentication");
        break;
    case CYRERR_PARSE:
        r = imapd_bad(s, NULL, "Invalid base64 string");
        break;
    case CYRERR_TOOBIG:
        r = imapd_bad(s, NULL, "Authentication response too long");
        break;
    case CYRERR_EOF: case CYRERR_TIMEOUT: case CYRERR_IO: case CYRERR_TLS:
        break;   /* the dispatcher ends the session */
    case CYRERR_NOTSUPPORTED:
        r = imapd_no(s, "CANNOT", "Mechanism %s not available", buf_cstring(&mech));
        break;
    case CYRERR_PERMISSION:
        failed_login_pause();
        r = imapd_no(s, "PRIVACYREQUIRED", "Mechanism only available under a layer");
        break;
    case CYRERR_SASL:
        r = imapd_no(s, "UNAVAILABLE", "Authentication service unavailable");
        break;
    default:
        failed_login_pause();
        r = imapd_no(s, "AUTHENTICATIONFAILED", "%s",
                     saslglue_server_errstring(s->sasl));
        break;
    }
out:
    if (initial.s) memset(initial.s, 0, initial.alloc);
    buf_free(&mech);
    buf_free(&initial);
    return r;
}

/* ---- ID, ENABLE, NAMESPACE ------------------------------------------------------ */

#define ID_MAX_PAIRS 30
#define ID_MAX_KEY 30
#define ID_MAX_VALUE 1024

static int id_check(struct imapd_session *s, const struct tok_node *list, struct buf *log)
{
    if (list->count % 2) return imapd_syntax(s, "ID list must hold field/value pairs");
    if (list->count / 2 > ID_MAX_PAIRS) return imapd_syntax(s, "Too many ID fields");
    for (size_t i = 0; i < list->count; i += 2) {
        const struct tok_node *k = list->items[i], *v = list->items[i + 1];
        if (k->kind != TOK_NODE_STRING || buf_len(&k->val) > ID_MAX_KEY)
            return imapd_syntax(s, "Invalid ID field name");
        if (v->kind == TOK_NODE_NIL) {
            buf_printf(log, "%s%s=NIL", buf_len(log) ? " " : "", buf_cstring(&k->val));
            continue;
        }
        if (v->kind != TOK_NODE_STRING || buf_len(&v->val) > ID_MAX_VALUE)
            return imapd_syntax(s, "Invalid ID field value");
        buf_printf(log, "%s%s=\"", buf_len(log) ? " " : "", buf_cstring(&k->val));
        /* only printable bytes go to the log */
        for (size_t j = 0; j < buf_len(&v->val) && j < 200; j++) {
            char ch = buf_base(&v->val)[j];
            buf_putc(log, (ch >= 0x20 && ch < 0x7f && ch != '"') ? ch : '?');
        }
        buf_putc(log, '"');
    }
    return 0;
}

int imapd_cmd_id(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    if (cmd->c != ' ') return imapd_syntax(s, "Missing ID parameter list");
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    tok_ungetc(&s->tp, c);
    struct buf log = BUF_INITIALIZER;
    int r;
    if (c == '(') {
        struct tok_node *list = NULL;
        c = tok_list(&s->tp, &list);
        r = imapd_eol(s, c);
        if (!r) r = id_check(s, list, &log);
        tok_node_free(&list);
    } else {
        struct buf nil = BUF_INITIALIZER;
        c = tok_atom(&s->tp, TOK_CS_ATOM, &nil);
        if (c >= 0 && strcasecmp(buf_cstring(&nil), "NIL"))
            c = imapd_syntax(s, "ID parameter must be a list or NIL");
        buf_free(&nil);
        r = imapd_eol(s, c);
    }
    if (r < 0) {
        buf_free(&log);
        return r;
    }
    if (buf_len(&log))
        xsyslog(LOG_INFO, "client id", "peer=<%s> id=<%s>", s->peer, buf_cstring(&log));
    buf_free(&log);

    if (config_getswitch(IMAPOPT_IMAPIDRESPONSE)) {
        struct buf b = BUF_INITIALIZER;
        buf_appendcstr(&b, "ID (\"name\" \"Cyrus-style imapd\"");
        const char *info = config_getenum(IMAPOPT_SERVERINFO);
        if (info && !strcmp(info, "on"))
            buf_appendcstr(&b, " \"version\" \"" PACKAGE_VERSION "\"");
        buf_appendcstr(&b, " \"vendor\" \"Project Cyrus-style\")");
        imapd_untagged(s, "%s", buf_cstring(&b));
        buf_free(&b);
    } else {
        imapd_untagged(s, "ID NIL");
    }
    return imapd_ok(s, NULL, "Completed");
}

int imapd_cmd_enable(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf word = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing capability");
    int c;
    unsigned want = 0;
    do {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &word);
        /* CONDSTORE is the one extension ENABLE can turn on here; other
         * names are accepted and ignored (RFC 5161 3.1) */
        if (c >= 0 && !strcasecmp(buf_cstring(&word), "CONDSTORE"))
            want |= IMAPD_EN_CONDSTORE;
    } while (c == ' ');
    buf_free(&word);
    int r = imapd_eol(s, c);
    if (r < 0) return r;
    imapd_untagged(s, "ENABLED%s", (want & IMAPD_EN_CONDSTORE) ? " CONDSTORE" : "");
    imapd_enable_condstore(s, want);
    return imapd_ok(s, NULL, "Completed");
}

static void ns_part(struct imapd_session *s, struct buf *out, const struct buf *prefix,
                    int disabled)
{
    if (disabled) {
        buf_appendcstr(out, "NIL");
        return;
    }
    buf_appendcstr(out, "((");
    imapd_buf_string(s, out, buf_cstring(prefix));
    buf_printf(out, " \"%c\"))", s->ns.hier_sep);
}

int imapd_cmd_namespace(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = imapd_eol(s, cmd->c);
    if (r < 0) return r;
    struct buf personal = BUF_INITIALIZER, other = BUF_INITIALIZER, shared = BUF_INITIALIZER;
    struct buf out = BUF_INITIALIZER;
    namespace_prefixes(&s->ns, &personal, &other, &shared);
    buf_appendcstr(&out, "NAMESPACE ");
    ns_part(s, &out, &personal, 0);
    buf_putc(&out, ' ');
    ns_part(s, &out, &other, !s->isadmin && config_getswitch(IMAPOPT_DISABLE_USER_NAMESPACE));
    buf_putc(&out, ' ');
    ns_part(s, &out, &shared,
            !s->isadmin && config_getswitch(IMAPOPT_DISABLE_SHARED_NAMESPACE));
    imapd_untagged(s, "%s", buf_cstring(&out));
    buf_free(&personal);
    buf_free(&other);
    buf_free(&shared);
    buf_free(&out);
    return imapd_ok(s, NULL, "Completed");
}
