/* saslglue: Cyrus SASL for the project's daemons and clients.
 * See saslglue.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "saslglue.h"
#include "strarray.h"
#include "xmalloc.h"

/* libsasl2's callback table wants int (*)(void); going through void (*)(void)
 * keeps -Wcast-function-type quiet for these deliberate casts. */
#define SASLGLUE_PROC(f) ((int (*)(void))(void (*)(void))(f))

/* Longest mechanism name (RFC 4422 says 20) we pass on to libsasl2. */
#define MECH_NAME_MAX 20

/* Default longest client response line for the exchange helper. */
#define EXCHANGE_MAXLINE (64 * 1024)

const struct saslglue_proto saslglue_proto_imap = { "+ ", EXCHANGE_MAXLINE };
const struct saslglue_proto saslglue_proto_pop3 = { "+ ", EXCHANGE_MAXLINE };
const struct saslglue_proto saslglue_proto_lmtp = { "334 ", EXCHANGE_MAXLINE };
const struct saslglue_proto saslglue_proto_mupdate = { "", EXCHANGE_MAXLINE };

/* ---- process-wide state ------------------------------------------------
 * server_ready and client_ready are guarded by state_lock.  The option
 * source is written under it but read without it: it is set before any
 * init and before threads start (see the header). */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int server_ready;             /* sasl_server_init succeeded */
static int client_ready;             /* sasl_client_init succeeded */
static saslglue_option_fn *opt_fn;   /* NULL: imapd.conf */
static char *opt_ident;              /* service name for overrides (opt_fn) */
static void *opt_rock;

void saslglue_set_option_source(saslglue_option_fn *fn, const char *ident,
                                void *rock)
{
    pthread_mutex_lock(&state_lock);
    opt_fn = fn;
    free(opt_ident);
    opt_ident = fn ? xstrdupnull(ident) : NULL;
    opt_rock = rock;
    pthread_mutex_unlock(&state_lock);
}

/* The raw value of imapd.conf key `key`, or NULL. */
static const char *opt_raw(const char *key)
{
    if (opt_fn) return opt_fn(key, opt_rock);

    const char *v = config_getpattern(NULL, key);
    if (v) return v;
    /* Keys in the option table (sasl_mech_list, sasl_minimum_layer, ...):
     * config_getstring() gives any type's value as written. */
    enum imapopt o = config_lookup(key);
    if (o != IMAPOPT_ZERO && config_isset(o)) return config_getstring(o);
    return NULL;
}

static const char *opt_service(void)
{
    return opt_fn ? opt_ident : config_ident();
}

/* "<ident>_<name>" if set, else "<name>". */
static const char *opt_get(const char *name)
{
    const char *ident = opt_service();
    if (ident && *ident) {
        char *key = strconcat(ident, "_", name, (char *)NULL);
        const char *v = opt_raw(key);
        free(key);
        if (v) return v;
    }
    return opt_raw(name);
}

const char *saslglue_getopt(const char *option)
{
    if (!option || !*option) return NULL;
    char *name = strconcat("sasl_", option, (char *)NULL);
    const char *v = opt_get(name);
    free(name);
    return v;
}

/* The SSF that sasl_minimum_layer asks for; unparsable values fail closed. */
static unsigned min_layer(void)
{
    const char *v = saslglue_getopt("minimum_layer");
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0 || n > 65535) {
        xsyslog(LOG_ERR, "bad sasl_minimum_layer", "value=<%s>", v);
        return 65535;
    }
    return (unsigned)n;
}

/* Is `id` an element of a list separated by spaces, tabs or commas? */
static int list_contains(const char *list, const char *id)
{
    if (!list || !id || !*id) return 0;
    size_t idlen = strlen(id);
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (n == idlen && !memcmp(p, id, n)) return 1;
        p += n;
    }
    return 0;
}

/* May `authid` act as another user? (admins or proxyservers) */
static int may_proxy(const char *authid)
{
    if (opt_fn)
        return list_contains(opt_get("admins"), authid)
            || list_contains(opt_get("proxyservers"), authid);
    return config_is_admin(authid)
        || list_contains(config_getstring(IMAPOPT_PROXYSERVERS), authid);
}

/* Copy of `s` fit for a log line: control characters become '?', long
 * values are cut.  Written into `b`; returns its C string. */
static const char *log_safe(struct buf *b, const char *s)
{
    buf_reset(b);
    if (!s) return "";
    size_t n = 0;
    for (; *s && n < 256; s++, n++)
        buf_putc(b, iscntrl((unsigned char)*s) ? '?' : *s);
    if (*s) buf_appendcstr(b, "...");
    return buf_cstring(b);
}

/* Overwrite then release a buffer that may have held a secret. */
static void buf_wipe(struct buf *b)
{
    if (b->s) memset(b->s, 0, b->alloc);
    buf_free(b);
}

/* ---- libsasl2 callbacks shared by server and client -------------------- */

static int cb_getopt(void *context, const char *plugin_name,
                     const char *option, const char **result, unsigned *len)
{
    (void)context;
    (void)plugin_name;
    const char *v = saslglue_getopt(option);
    if (!v) return SASL_FAIL;
    *result = v;
    if (len) *len = (unsigned)strlen(v);
    return SASL_OK;
}

/* libsasl2's messages.  Debug, trace and "pass" levels are dropped: the
 * last may contain passwords. */
static int cb_log(void *context, int level, const char *message)
{
    (void)context;
    int prio;
    switch (level) {
    case SASL_LOG_ERR:  prio = LOG_ERR; break;
    case SASL_LOG_WARN: prio = LOG_WARNING; break;
    case SASL_LOG_FAIL:
    case SASL_LOG_NOTE: prio = LOG_NOTICE; break;
    default: return SASL_OK;
    }
    struct buf b = BUF_INITIALIZER;
    xsyslog(prio, "sasl", "detail=<%s>", log_safe(&b, message));
    buf_free(&b);
    return SASL_OK;
}

static sasl_callback_t global_callbacks[] = {
    { SASL_CB_GETOPT, SASLGLUE_PROC(cb_getopt), NULL },
    { SASL_CB_LOG, SASLGLUE_PROC(cb_log), NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

int saslglue_server_init(void)
{
    int r = 0;
    pthread_mutex_lock(&state_lock);
    if (!server_ready) {
        int sr = sasl_server_init(global_callbacks, "Cyrus");
        if (sr == SASL_OK) {
            server_ready = 1;
        } else {
            xsyslog(LOG_ERR, "sasl_server_init failed", "error=<%s>",
                    sasl_errstring(sr, NULL, NULL));
            r = CYRERR_SASL;
        }
    }
    pthread_mutex_unlock(&state_lock);
    return r;
}

int saslglue_client_init(void)
{
    int r = 0;
    pthread_mutex_lock(&state_lock);
    if (!client_ready) {
        int sr = sasl_client_init(global_callbacks);
        if (sr == SASL_OK) {
            client_ready = 1;
        } else {
            xsyslog(LOG_ERR, "sasl_client_init failed", "error=<%s>",
                    sasl_errstring(sr, NULL, NULL));
            r = CYRERR_SASL;
        }
    }
    pthread_mutex_unlock(&state_lock);
    return r;
}

void saslglue_done(void)
{
    pthread_mutex_lock(&state_lock);
    if (server_ready) sasl_server_done();
    if (client_ready) sasl_client_done();
    server_ready = client_ready = 0;
    pthread_mutex_unlock(&state_lock);
}

/* Security properties for one connection: no security layer (prot has
 * none), no anonymous login, no plaintext unless allowed or under TLS. */
static int set_secprops(sasl_conn_t *conn, int plaintext_ok)
{
    sasl_security_properties_t sp;
    memset(&sp, 0, sizeof sp);
    sp.min_ssf = 0;
    sp.max_ssf = 0;
    sp.maxbufsize = 0;
    sp.security_flags = SASL_SEC_NOANONYMOUS;
    if (!plaintext_ok) sp.security_flags |= SASL_SEC_NOPLAINTEXT;
    return sasl_setprop(conn, SASL_SEC_PROPS, &sp);
}

/* ---- base64 -------------------------------------------------------------- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void saslglue_encode64(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len) buf_ensure(out, (len + 2) / 3 * 4);
    for (; len >= 3; p += 3, len -= 3) {
        buf_putc(out, b64chars[p[0] >> 2]);
        buf_putc(out, b64chars[((p[0] & 3) << 4) | (p[1] >> 4)]);
        buf_putc(out, b64chars[((p[1] & 15) << 2) | (p[2] >> 6)]);
        buf_putc(out, b64chars[p[2] & 63]);
    }
    if (len == 1) {
        buf_putc(out, b64chars[p[0] >> 2]);
        buf_putc(out, b64chars[(p[0] & 3) << 4]);
        buf_appendcstr(out, "==");
    } else if (len == 2) {
        buf_putc(out, b64chars[p[0] >> 2]);
        buf_putc(out, b64chars[((p[0] & 3) << 4) | (p[1] >> 4)]);
        buf_putc(out, b64chars[(p[1] & 15) << 2]);
        buf_putc(out, '=');
    }
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int saslglue_decode64(struct buf *out, const char *b64, size_t len)
{
    buf_reset(out);
    if (len % 4) return CYRERR_PARSE;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = b64[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) return CYRERR_PARSE;   /* data after '=' */
            v[k] = b64val(c);
            if (v[k] < 0) return CYRERR_PARSE;
        }
        /* bits that padding drops must be zero (canonical encoding) */
        if (pad == 2 && (v[1] & 15)) return CYRERR_PARSE;
        if (pad == 1 && (v[2] & 3)) return CYRERR_PARSE;
        buf_putc(out, (char)((v[0] << 2) | (v[1] >> 4)));
        if (pad < 2) buf_putc(out, (char)(((v[1] & 15) << 4) | (v[2] >> 2)));
        if (pad < 1) buf_putc(out, (char)(((v[2] & 3) << 6) | v[3]));
    }
    return 0;
}

/* ---- server ---------------------------------------------------------------- */

struct saslglue_server {
    sasl_conn_t *conn;
    sasl_callback_t callbacks[2];
    char *service;
    char *serverfqdn;
    char *user_realm;
    char *localip;
    char *remoteip;
    char *tls_authid;
    unsigned tls_ssf;
    int allowplaintext;
    int in_progress;          /* an exchange was started, not finished */
    char *mech;               /* mechanism of the current or last exchange */
    char *userid;             /* set once authenticated */
    char *authid;
    const char *errstring;    /* static text for the client */
    struct buf mechs;         /* last mechanism list */
};

static const char *peer(const struct saslglue_server *s)
{
    return s->remoteip ? s->remoteip : "local";
}

static int server_proxy_policy(sasl_conn_t *conn, void *context,
                               const char *requested_user, unsigned rlen,
                               const char *auth_identity, unsigned alen,
                               const char *def_realm, unsigned urlen,
                               struct propctx *propctx)
{
    (void)propctx;
    struct saslglue_server *s = context;
    if (rlen == alen && !memcmp(requested_user, auth_identity, alen))
        return SASL_OK;

    char *authid = xstrndup(auth_identity, alen);
    char *authzid = xstrndup(requested_user, rlen);
    int ok = may_proxy(authid);
    if (!ok && def_realm && urlen) {
        /* "proxy@realm" also matches a list entry "proxy" */
        char *realm = xstrndup(def_realm, urlen);
        size_t n = strlen(authid), rl = strlen(realm);
        if (n > rl + 1 && authid[n - rl - 1] == '@' &&
            !strcmp(authid + n - rl, realm)) {
            authid[n - rl - 1] = '\0';
            ok = may_proxy(authid);
            authid[n - rl - 1] = '@';
        }
        free(realm);
    }

    struct buf b1 = BUF_INITIALIZER, b2 = BUF_INITIALIZER;
    if (ok) {
        xsyslog(LOG_INFO, "proxy authorization", "service=<%s> remote=<%s> "
                "authid=<%s> userid=<%s>", s->service, peer(s),
                log_safe(&b1, authid), log_safe(&b2, authzid));
    } else {
        xsyslog(LOG_NOTICE, "authz refused", "service=<%s> remote=<%s> "
                "authid=<%s> authzid=<%s> reason=<not an admin or proxy server>",
                s->service, peer(s), log_safe(&b1, authid),
                log_safe(&b2, authzid));
        sasl_seterror(conn, SASL_NOLOG, "authorization identity refused");
    }
    buf_free(&b1);
    buf_free(&b2);
    free(authid);
    free(authzid);
    return ok ? SASL_OK : SASL_BADAUTH;
}

static int plaintext_ok(const struct saslglue_server *s)
{
    return s->allowplaintext || s->tls_ssf > 0;
}

int saslglue_server_plaintext_ok(const struct saslglue_server *s)
{
    return plaintext_ok(s);
}

/* Apply the TLS state and security properties to s->conn. */
static int server_setprops(struct saslglue_server *s)
{
    sasl_ssf_t ssf = s->tls_ssf;
    if (sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ssf) != SASL_OK)
        return CYRERR_SASL;
    if (sasl_setprop(s->conn, SASL_AUTH_EXTERNAL, s->tls_authid) != SASL_OK)
        return CYRERR_SASL;
    if (set_secprops(s->conn, plaintext_ok(s)) != SASL_OK)
        return CYRERR_SASL;
    return 0;
}

/* (Re)create the sasl_conn_t: after a failure nothing of the old
 * exchange survives. */
static int server_open(struct saslglue_server *s)
{
    if (s->conn) sasl_dispose(&s->conn);
    s->in_progress = 0;
    int sr = sasl_server_new(s->service, s->serverfqdn, s->user_realm,
                             s->localip, s->remoteip, s->callbacks, 0,
                             &s->conn);
    if (sr != SASL_OK) {
        xsyslog(LOG_ERR, "sasl_server_new failed", "service=<%s> error=<%s>",
                s->service, sasl_errstring(sr, NULL, NULL));
        s->conn = NULL;
        return CYRERR_SASL;
    }
    int r = server_setprops(s);
    if (r) {
        xsyslog(LOG_ERR, "sasl_setprop failed", "service=<%s> error=<%s>",
                s->service, sasl_errdetail(s->conn));
        sasl_dispose(&s->conn);
    }
    return r;
}

int saslglue_server_new(const struct saslglue_server_params *params,
                        struct saslglue_server **sp)
{
    *sp = NULL;
    if (!params || !params->service || !*params->service)
        return CYRERR_BADARGS;
    int r = saslglue_server_init();
    if (r) return r;

    struct saslglue_server *s = xzmalloc(sizeof *s);
    s->service = xstrdup(params->service);
    /* NULL (no servername, no host name): libsasl2 asks gethostname() */
    s->serverfqdn = xstrdupnull(params->serverfqdn ? params->serverfqdn
                                                   : config_servername());
    s->user_realm = xstrdupnull(params->user_realm);
    s->localip = xstrdupnull(params->localip);
    s->remoteip = xstrdupnull(params->remoteip);
    s->tls_authid = xstrdupnull(params->tls_authid);
    s->tls_ssf = params->tls_ssf;
    s->allowplaintext = !!params->allowplaintext;
    s->callbacks[0].id = SASL_CB_PROXY_POLICY;
    s->callbacks[0].proc = SASLGLUE_PROC(server_proxy_policy);
    s->callbacks[0].context = s;
    s->callbacks[1].id = SASL_CB_LIST_END;

    r = server_open(s);
    if (r) {
        saslglue_server_free(&s);
        return r;
    }
    *sp = s;
    return 0;
}

void saslglue_server_free(struct saslglue_server **sp)
{
    struct saslglue_server *s = *sp;
    if (!s) return;
    if (s->conn) sasl_dispose(&s->conn);
    free(s->service);
    free(s->serverfqdn);
    free(s->user_realm);
    free(s->localip);
    free(s->remoteip);
    free(s->tls_authid);
    free(s->mech);
    free(s->userid);
    free(s->authid);
    buf_free(&s->mechs);
    free(s);
    *sp = NULL;
}

int saslglue_server_set_tls(struct saslglue_server *s, unsigned ssf,
                            const char *authid)
{
    s->tls_ssf = ssf;
    free(s->tls_authid);
    s->tls_authid = xstrdupnull(authid);
    /* a fresh conn: libsasl2 reads the external properties at start */
    return server_open(s);
}

const char *saslglue_server_mechlist(struct saslglue_server *s,
                                     const char *prefix, const char *sep)
{
    buf_reset(&s->mechs);
    if (!s->conn || min_layer() > s->tls_ssf) return buf_cstring(&s->mechs);
    const char *list = NULL;
    unsigned len = 0;
    int count = 0;
    int sr = sasl_listmech(s->conn, NULL, prefix ? prefix : "",
                           sep ? sep : " ", "", &list, &len, &count);
    if (sr == SASL_OK && list && count > 0) buf_setmap(&s->mechs, list, len);
    return buf_cstring(&s->mechs);
}

/* Text for the client, per libsasl2 result; never names the cause of an
 * authentication failure. */
static const char *client_text(int sr)
{
    switch (sr) {
    case SASL_NOMECH:  return "mechanism not supported";
    case SASL_TOOWEAK: return "mechanism too weak for this connection";
    case SASL_ENCRYPT: return "encryption needed to use mechanism";
    case SASL_NOMEM:
    case SASL_FAIL:
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL: return "temporary authentication failure";
    default:           return "authentication failed";
    }
}

static int map_server_error(int sr)
{
    switch (sr) {
    case SASL_NOMECH:
    case SASL_TOOWEAK:
    case SASL_ENCRYPT: return CYRERR_NOTSUPPORTED;
    case SASL_NOMEM:
    case SASL_FAIL:
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL: return CYRERR_SASL;
    default:           return CYRERR_AUTHFAIL;
    }
}

/* Record a failed attempt: log it, set the client text, reset the conn. */
static int server_failed(struct saslglue_server *s, int sr, const char *why)
{
    struct buf b1 = BUF_INITIALIZER, b2 = BUF_INITIALIZER,
               b3 = BUF_INITIALIZER;
    const char *user = NULL;
    const void *v = NULL;
    if (s->conn && sasl_getprop(s->conn, SASL_AUTHUSER, &v) == SASL_OK)
        user = v;
    const char *detail = why ? why : s->conn ? sasl_errdetail(s->conn)
                                             : sasl_errstring(sr, NULL, NULL);
    xsyslog(LOG_NOTICE, "badlogin", "service=<%s> remote=<%s> mech=<%s> "
            "user=<%s> error=<%s>", s->service, peer(s),
            log_safe(&b1, s->mech ? s->mech : ""), log_safe(&b2, user),
            log_safe(&b3, detail));
    buf_free(&b1);
    buf_free(&b2);
    buf_free(&b3);
    s->errstring = client_text(sr);
    int r = map_server_error(sr);
    if (server_open(s)) r = CYRERR_SASL;
    return r;
}

/* Copy the identities out of a successful exchange. */
static int server_succeeded(struct saslglue_server *s)
{
    const void *user = NULL, *auth = NULL;
    s->in_progress = 0;
    if (sasl_getprop(s->conn, SASL_USERNAME, &user) != SASL_OK || !user ||
        !*(const char *)user)
        return server_failed(s, SASL_FAIL, "no user name after success");
    if (sasl_getprop(s->conn, SASL_AUTHUSER, &auth) != SASL_OK || !auth ||
        !*(const char *)auth)
        auth = user;
    free(s->userid);
    free(s->authid);
    s->userid = xstrdup(user);
    s->authid = xstrdup(auth);
    s->errstring = NULL;
    return 0;
}

static int server_result(struct saslglue_server *s, int sr, const char *out,
                         unsigned outlen, const void **outp, size_t *outlenp)
{
    *outp = NULL;
    *outlenp = 0;
    if (sr == SASL_CONTINUE) {
        *outp = out ? out : "";
        *outlenp = out ? outlen : 0;
        return SASLGLUE_CONTINUE;
    }
    if (sr == SASL_OK) return server_succeeded(s);
    return server_failed(s, sr, NULL);
}

static int valid_mech_name(const char *mech)
{
    size_t n = mech ? strlen(mech) : 0;
    if (n == 0 || n > MECH_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)mech[i];
        if (!isalnum(c) && c != '-' && c != '_') return 0;
    }
    return 1;
}

int saslglue_server_start(struct saslglue_server *s, const char *mech,
                          const void *in, size_t inlen,
                          const void **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (s->userid) {
        s->errstring = "already authenticated";
        return CYRERR_AUTHFAIL;
    }
    free(s->mech);
    s->mech = xstrdupnull(mech);
    if (!s->conn && server_open(s)) {
        s->errstring = client_text(SASL_FAIL);
        return CYRERR_SASL;
    }
    if (!valid_mech_name(mech)) {
        return server_failed(s, SASL_NOMECH, "invalid mechanism name");
    }
    if (min_layer() > s->tls_ssf)
        return server_failed(s, SASL_TOOWEAK, "sasl_minimum_layer not met");
    if (inlen > UINT_MAX)
        return server_failed(s, SASL_BADPROT, "initial response too long");

    const char *sout = NULL;
    unsigned soutlen = 0;
    s->in_progress = 1;
    int sr = sasl_server_start(s->conn, mech, in, (unsigned)inlen, &sout,
                               &soutlen);
    return server_result(s, sr, sout, soutlen, out, outlen);
}

int saslglue_server_step(struct saslglue_server *s, const void *in,
                         size_t inlen, const void **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!s->in_progress || !s->conn) {
        s->errstring = "no authentication in progress";
        return CYRERR_AUTHFAIL;
    }
    if (inlen > UINT_MAX)
        return server_failed(s, SASL_BADPROT, "response too long");
    const char *sout = NULL;
    unsigned soutlen = 0;
    int sr = sasl_server_step(s->conn, in ? in : "", (unsigned)inlen, &sout,
                              &soutlen);
    return server_result(s, sr, sout, soutlen, out, outlen);
}

/* End a started exchange for a reason outside libsasl2: logged as a failed
 * login; `text` is for the client. */
static void server_abandon(struct saslglue_server *s, const char *why,
                           const char *text)
{
    if (s->in_progress) (void)server_failed(s, SASL_BADAUTH, why);
    s->errstring = text;
}

void saslglue_server_abort(struct saslglue_server *s)
{
    server_abandon(s, "cancelled by client", "authentication cancelled");
}

int saslglue_server_checkpass(struct saslglue_server *s, const char *user,
                              const char *password)
{
    if (s->userid) {
        s->errstring = "already authenticated";
        return CYRERR_AUTHFAIL;
    }
    free(s->mech);
    s->mech = xstrdup("plaintext");
    if (!plaintext_ok(s)) {
        s->errstring = "plaintext authentication disallowed without TLS";
        return CYRERR_PERMISSION;
    }
    if (!s->conn && server_open(s)) {
        s->errstring = client_text(SASL_FAIL);
        return CYRERR_SASL;
    }
    if (!user || !*user || !password || !*password ||
        strlen(user) > UINT_MAX / 2 || strlen(password) > UINT_MAX / 2)
        return server_failed(s, SASL_BADAUTH, "empty user or password");

    int sr = sasl_checkpass(s->conn, user, (unsigned)strlen(user), password,
                            (unsigned)strlen(password));
    if (sr != SASL_OK) {
        /* sasl_checkpass leaves no authuser: name the one tried */
        struct buf b1 = BUF_INITIALIZER, b2 = BUF_INITIALIZER;
        xsyslog(LOG_NOTICE, "badlogin", "service=<%s> remote=<%s> "
                "mech=<plaintext> user=<%s> error=<%s>", s->service, peer(s),
                log_safe(&b1, user), log_safe(&b2, sasl_errdetail(s->conn)));
        buf_free(&b1);
        buf_free(&b2);
        s->errstring = client_text(sr);
        int r = map_server_error(sr);
        if (r == CYRERR_NOTSUPPORTED) r = CYRERR_AUTHFAIL;
        if (server_open(s)) r = CYRERR_SASL;
        return r;
    }
    return server_succeeded(s);
}

int saslglue_server_setpass(struct saslglue_server *s, const char *user,
                            const char *password)
{
    if (!s->conn || !user || !*user || !password || !*password)
        return CYRERR_BADARGS;
    int sr = sasl_setpass(s->conn, user, password, (unsigned)strlen(password),
                          NULL, 0, SASL_SET_CREATE);
    if (sr != SASL_OK) {
        struct buf b1 = BUF_INITIALIZER, b2 = BUF_INITIALIZER;
        xsyslog(LOG_ERR, "sasl_setpass failed", "user=<%s> error=<%s>",
                log_safe(&b1, user), log_safe(&b2, sasl_errdetail(s->conn)));
        buf_free(&b1);
        buf_free(&b2);
        return CYRERR_SASL;
    }
    return 0;
}

int saslglue_server_exchange(struct saslglue_server *s, struct prot *p,
                             const struct saslglue_proto *proto,
                             const char *mech, const char *initial)
{
    struct buf line = BUF_INITIALIZER, data = BUF_INITIALIZER,
               wire = BUF_INITIALIZER;
    const void *out = NULL;
    size_t outlen = 0;
    int r;

    if (!initial) {
        r = saslglue_server_start(s, mech, NULL, 0, &out, &outlen);
    } else if (!strcmp(initial, "=")) {
        r = saslglue_server_start(s, mech, "", 0, &out, &outlen);
    } else if (saslglue_decode64(&data, initial, strlen(initial))) {
        free(s->mech);
        s->mech = xstrdupnull(mech);
        s->in_progress = 1;
        server_abandon(s, "invalid base64 in initial response",
                       "invalid base64 in initial response");
        r = CYRERR_PARSE;
    } else {
        r = saslglue_server_start(s, mech, buf_base(&data), buf_len(&data),
                                  &out, &outlen);
    }

    while (r == SASLGLUE_CONTINUE) {
        buf_setcstr(&wire, proto->challenge_prefix);
        saslglue_encode64(&wire, out, outlen);
        buf_appendcstr(&wire, "\r\n");
        prot_write(p, buf_base(&wire), buf_len(&wire));
        r = prot_flush(p);
        if (r == 0) r = prot_readline(p, &line, proto->maxline);
        if (r) {
            if (r == PROT_EOF) r = CYRERR_EOF;
            else if (r > 0) r = CYRERR_IO;
            server_abandon(s, error_message(r), error_message(r));
            break;
        }
        buf_trim(&line);    /* CRLF; base64 has no trailing blanks */
        if (buf_equalcstr(&line, "*")) {
            saslglue_server_abort(s);
            r = CYRERR_CANCELLED;
            break;
        }
        if (saslglue_decode64(&data, buf_base(&line), buf_len(&line))) {
            server_abandon(s, "invalid base64 in response",
                           "invalid base64 in response");
            r = CYRERR_PARSE;
            break;
        }
        r = saslglue_server_step(s, buf_base(&data), buf_len(&data), &out,
                                 &outlen);
    }
    buf_wipe(&line);
    buf_wipe(&data);
    buf_wipe(&wire);
    return r;
}

const char *saslglue_server_userid(const struct saslglue_server *s)
{
    return s->userid;
}

const char *saslglue_server_authid(const struct saslglue_server *s)
{
    return s->authid;
}

const char *saslglue_server_mech(const struct saslglue_server *s)
{
    return s->userid ? s->mech : NULL;
}

unsigned saslglue_server_ssf(const struct saslglue_server *s)
{
    const void *v = NULL;
    if (!s->userid || !s->conn) return 0;
    if (sasl_getprop(s->conn, SASL_SSF, &v) != SASL_OK || !v) return 0;
    return *(const sasl_ssf_t *)v;
}

const char *saslglue_server_errstring(const struct saslglue_server *s)
{
    return s->errstring ? s->errstring : "authentication failed";
}

/* ---- client ---------------------------------------------------------------- */

struct saslglue_client {
    sasl_conn_t *conn;
    sasl_callback_t callbacks[6];
    char *authname;
    char *authzid;           /* "" when acting as authname */
    char *password;          /* NULL: none */
    char *realm;
    sasl_secret_t *secret;   /* handed to libsasl2, rebuilt per request */
    char *mech;
    struct buf mechs;        /* normalised server list */
    struct buf error;        /* last error detail */
};

static int client_getsimple(void *context, int id, const char **result,
                            unsigned *len)
{
    struct saslglue_client *c = context;
    const char *v;
    switch (id) {
    case SASL_CB_AUTHNAME: v = c->authname; break;
    case SASL_CB_USER:     v = c->authzid; break;
    default: return SASL_BADPARAM;
    }
    *result = v;
    if (len) *len = (unsigned)strlen(v);
    return SASL_OK;
}

static void secret_wipe(struct saslglue_client *c)
{
    if (!c->secret) return;
    memset(c->secret, 0, sizeof(sasl_secret_t) + c->secret->len);
    xfree(c->secret);
}

static int client_getsecret(sasl_conn_t *conn, void *context, int id,
                            sasl_secret_t **psecret)
{
    (void)conn;
    struct saslglue_client *c = context;
    if (id != SASL_CB_PASS || !c->password) return SASL_BADPARAM;
    size_t n = strlen(c->password);
    secret_wipe(c);
    /* sasl_secret_t ends in data[1]: room for the bytes and a NUL */
    c->secret = xzmalloc(sizeof(sasl_secret_t) + n + 1);
    c->secret->len = n;
    memcpy(c->secret->data, c->password, n);
    *psecret = c->secret;
    return SASL_OK;
}

static int client_getrealm(void *context, int id, const char **availrealms,
                           const char **result)
{
    struct saslglue_client *c = context;
    if (id != SASL_CB_GETREALM) return SASL_BADPARAM;
    if (c->realm) *result = c->realm;
    else if (availrealms && availrealms[0]) *result = availrealms[0];
    else *result = "";
    return SASL_OK;
}

int saslglue_client_new(const struct saslglue_client_params *params,
                        struct saslglue_client **cp)
{
    *cp = NULL;
    if (!params || !params->service || !*params->service ||
        !params->serverfqdn || !*params->serverfqdn ||
        !params->authname || !*params->authname)
        return CYRERR_BADARGS;
    int r = saslglue_client_init();
    if (r) return r;

    struct saslglue_client *c = xzmalloc(sizeof *c);
    c->authname = xstrdup(params->authname);
    c->authzid = xstrdup(params->authzid ? params->authzid : "");
    c->password = xstrdupnull(params->password);
    c->realm = xstrdupnull(params->realm);

    int i = 0;
    c->callbacks[i++] = (sasl_callback_t){
        SASL_CB_AUTHNAME, SASLGLUE_PROC(client_getsimple), c };
    c->callbacks[i++] = (sasl_callback_t){
        SASL_CB_USER, SASLGLUE_PROC(client_getsimple), c };
    if (c->password)
        c->callbacks[i++] = (sasl_callback_t){
            SASL_CB_PASS, SASLGLUE_PROC(client_getsecret), c };
    c->callbacks[i++] = (sasl_callback_t){
        SASL_CB_GETREALM, SASLGLUE_PROC(client_getrealm), c };
    c->callbacks[i] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };

    /* Acting as someone else: only mechanisms that carry an authzid (LOGIN
     * would silently log in as the authname itself). */
    unsigned flags = 0;
    if (*c->authzid && strcmp(c->authzid, c->authname)) flags |= SASL_NEED_PROXY;
    int sr = sasl_client_new(params->service, params->serverfqdn,
                             params->localip, params->remoteip, c->callbacks,
                             flags, &c->conn);
    if (sr == SASL_OK) {
        sasl_ssf_t ssf = params->tls_ssf;
        sr = sasl_setprop(c->conn, SASL_SSF_EXTERNAL, &ssf);
        if (sr == SASL_OK)
            sr = set_secprops(c->conn,
                              params->allowplaintext || params->tls_ssf > 0);
    }
    if (sr != SASL_OK) {
        xsyslog(LOG_ERR, "sasl_client_new failed", "service=<%s> error=<%s>",
                params->service, sasl_errstring(sr, NULL, NULL));
        saslglue_client_free(&c);
        return CYRERR_SASL;
    }
    *cp = c;
    return 0;
}

void saslglue_client_free(struct saslglue_client **cp)
{
    struct saslglue_client *c = *cp;
    if (!c) return;
    if (c->conn) sasl_dispose(&c->conn);
    secret_wipe(c);
    if (c->password) memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->authname);
    free(c->authzid);
    free(c->realm);
    free(c->mech);
    buf_free(&c->mechs);
    buf_free(&c->error);
    free(c);
    *cp = NULL;
}

static int client_failed(struct saslglue_client *c, int sr)
{
    buf_setcstr(&c->error, c->conn ? sasl_errdetail(c->conn)
                                   : sasl_errstring(sr, NULL, NULL));
    switch (sr) {
    case SASL_NOMECH:
    case SASL_TOOWEAK:
    case SASL_ENCRYPT: return CYRERR_NOTSUPPORTED;
    case SASL_BADAUTH:
    case SASL_BADSERV:
    case SASL_BADPROT:
    case SASL_NOAUTHZ:
    case SASL_NOUSER:  return CYRERR_AUTHFAIL;
    default:           return CYRERR_SASL;
    }
}

static int client_result(struct saslglue_client *c, int sr, const char *out,
                         unsigned outlen, const void **outp, size_t *outlenp)
{
    if (sr == SASL_OK || sr == SASL_CONTINUE) {
        *outp = out;
        *outlenp = out ? outlen : 0;
        return sr == SASL_OK ? 0 : SASLGLUE_CONTINUE;
    }
    *outp = NULL;
    *outlenp = 0;
    return client_failed(c, sr);
}

/* Append the mechanism names of `list` to `sa` (separators: blanks,
 * commas, quotes). */
static void split_mechs(struct strarray *sa, const char *list)
{
    if (list) strarray_split(sa, list, " \t\r\n,\"", 1);
}

int saslglue_client_start(struct saslglue_client *c, const char *server_mechs,
                          const char *prefer, const char **mech_r,
                          const void **out, size_t *outlen)
{
    struct strarray offered = STRARRAY_INITIALIZER;
    struct strarray wanted = STRARRAY_INITIALIZER;
    const char *sout = NULL, *chosen = NULL;
    unsigned soutlen = 0;
    int sr = SASL_NOMECH;

    *mech_r = NULL;
    *out = NULL;
    *outlen = 0;
    split_mechs(&offered, server_mechs);
    split_mechs(&wanted, prefer);

    for (int i = 0; i < wanted.count; i++) {
        if (strarray_find_case(&offered, wanted.data[i], 0) < 0) continue;
        sr = sasl_client_start(c->conn, wanted.data[i], NULL, &sout, &soutlen,
                               &chosen);
        if (sr == SASL_OK || sr == SASL_CONTINUE) break;
        if (sr != SASL_NOMECH && sr != SASL_TOOWEAK) break;
    }
    if (sr == SASL_NOMECH || sr == SASL_TOOWEAK) {
        char *all = strarray_join(&offered, " ");
        if (*all)
            sr = sasl_client_start(c->conn, all, NULL, &sout, &soutlen,
                                   &chosen);
        else
            sr = SASL_NOMECH;
        free(all);
    }
    strarray_free(&offered);
    strarray_free(&wanted);

    int r = client_result(c, sr, sout, soutlen, out, outlen);
    if (r >= 0) {
        free(c->mech);
        c->mech = xstrdup(chosen ? chosen : "");
        *mech_r = c->mech;
    }
    return r;
}

int saslglue_client_step(struct saslglue_client *c, const void *in,
                         size_t inlen, const void **out, size_t *outlen)
{
    const char *sout = NULL;
    unsigned soutlen = 0;
    if (inlen > UINT_MAX) return client_failed(c, SASL_BADPROT);
    int sr = sasl_client_step(c->conn, in ? in : "", (unsigned)inlen, NULL,
                              &sout, &soutlen);
    return client_result(c, sr, sout, soutlen, out, outlen);
}

const char *saslglue_client_errstring(const struct saslglue_client *c)
{
    return buf_len(&c->error) ? buf_cstring(&c->error) : "no error";
}
