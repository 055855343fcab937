/* pop3d: the POP3 server's main(), session loop and command table.
 * See pop3d.h for how the daemon is split and what the session holds.
 *
 * Process-wide state: the server TLS context (tls_ctx), built once in
 * init() and freed in done().
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
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
#include "master/service.h"
#include "prot.h"
#include "saslglue.h"
#include "tls.h"
#include "xmalloc.h"

#include "imap/pop3d/pop3d.h"

#define EX_CONFIG_CODE 78          /* sysexits EX_CONFIG */
#define POP3_MIN_TIMEOUT (10 * 60) /* RFC 1939 3: at least 10 minutes */

static SSL_CTX *tls_ctx;

SSL_CTX *pop3_tls_ctx(void)
{
    return tls_ctx;
}

/* ---- replies -------------------------------------------------------------- */

static void reply(struct pop3_session *s, const char *status, const char *fmt,
                  va_list ap)
{
    struct buf line = BUF_INITIALIZER;
    buf_appendcstr(&line, status);
    buf_putc(&line, ' ');
    buf_vprintf(&line, fmt, ap);
    if (buf_len(&line) == strlen(status) + 1) buf_truncate(&line, strlen(status));
    /* nothing from a client or a file may break the line */
    for (size_t i = 0; i < buf_len(&line); i++) {
        char c = line.s[i];
        if (c == '\r' || c == '\n' || c == '\0') line.s[i] = ' ';
    }
    buf_appendcstr(&line, "\r\n");
    (void)prot_write(s->p, buf_base(&line), buf_len(&line));
    buf_free(&line);
}

void pop3_ok(struct pop3_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply(s, "+OK", fmt, ap);
    va_end(ap);
}

void pop3_err(struct pop3_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply(s, "-ERR", fmt, ap);
    va_end(ap);
}

/* ---- argument helpers ----------------------------------------------------- */

int pop3_parse_u32(const char *arg, uint32_t *n_r)
{
    uint64_t n = 0;
    if (!arg || !*arg) return -1;
    for (const char *p = arg; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT32_MAX) return -1;
    }
    *n_r = (uint32_t)n;
    return 0;
}

int pop3_msgno(struct pop3_session *s, const char *arg, uint32_t *idx_r)
{
    uint32_t n;
    if (pop3_parse_u32(arg, &n)) {
        pop3_err(s, "Not a number");
        return -1;
    }
    if (n < 1 || n > s->md->count) {
        pop3_err(s, "No such message");
        return -1;
    }
    if (s->md->msgs[n - 1].deleted) {
        pop3_err(s, "Message %u already deleted", n);
        return -1;
    }
    *idx_r = n - 1;
    return 0;
}

/* ---- CAPA, STLS, NOOP, QUIT ------------------------------------------------ */

static void cmd_capa(struct pop3_session *s, const char *args)
{
    (void)args;
    int authz = s->state == POP3_AUTHORIZATION;
    int tls_ok = s->tls || !config_getswitch(IMAPOPT_TLS_REQUIRED);

    pop3_ok(s, "List of capabilities follows");
    prot_puts(s->p, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (authz && tls_ok && saslglue_server_plaintext_ok(s->sasl))
        prot_puts(s->p, "USER\r\n");
    if (authz && tls_ok) {
        const char *mechs = saslglue_server_mechlist(s->sasl, NULL, NULL);
        if (mechs && *mechs) prot_printf(s->p, "SASL %s\r\n", mechs);
    }
    if (authz && !s->tls && tls_ctx) prot_puts(s->p, "STLS\r\n");

    long long expire = config_getduration(IMAPOPT_POPEXPIRETIME);
    if (expire < 0)
        prot_puts(s->p, "EXPIRE NEVER\r\n");
    else
        prot_printf(s->p, "EXPIRE %lld\r\n", expire / 86400);
    long long minpoll = config_getduration(IMAPOPT_POPMINPOLL);
    if (minpoll > 0) prot_printf(s->p, "LOGIN-DELAY %lld\r\n", minpoll);
    if (!authz) prot_puts(s->p, "IMPLEMENTATION " PACKAGE_NAME " POP3 " PACKAGE_VERSION "\r\n");
    prot_puts(s->p, ".\r\n");
}

/* Start TLS on the stream (STLS, or at once for -s).  0, or the session
 * must end. */
static int start_tls(struct pop3_session *s)
{
    const char *errstr = NULL;
    int r = prot_starttls(s->p, tls_ctx, 1, &errstr);
    if (r) {
        xsyslog(LOG_NOTICE, "TLS negotiation failed", "peer=<%s> error=<%s: %s>",
                s->conn->peer, error_message(r), errstr ? errstr : "");
        return r;
    }
    s->tls = 1;
    struct prot_tls_info ti;
    if (prot_tls_info(s->p, &ti) == 0) {
        const char *authid = ti.peer_verified ? ti.peer_cn : NULL;
        r = saslglue_server_set_tls(s->sasl, (unsigned)ti.cipher_bits, authid);
        if (r) return r;
        xsyslog(LOG_DEBUG, "starttls", "peer=<%s> version=<%s> cipher=<%s>",
                s->conn->peer, ti.version, ti.cipher);
    }
    return 0;
}

static void cmd_stls(struct pop3_session *s, const char *args)
{
    (void)args;
    if (s->tls) {
        pop3_err(s, "Already successfully executed STLS");
        return;
    }
    if (!tls_ctx) {
        pop3_err(s, "[SYS/PERM] TLS is not available");
        return;
    }
    /* RFC 2595 4: a USER given before STLS is forgotten */
    free(s->pending_user);
    s->pending_user = NULL;
    pop3_ok(s, "Begin TLS negotiation now");
    if (start_tls(s)) s->done = 1;
}

static void cmd_noop(struct pop3_session *s, const char *args)
{
    (void)args;
    pop3_ok(s, "%s", "");
}

static void cmd_quit(struct pop3_session *s, const char *args)
{
    (void)args;
    s->done = 1;
    if (s->state == POP3_TRANSACTION)
        pop3_maildrop_update(s);
    else
        pop3_ok(s, "%s POP3 server signing off", config_servername());
}

/* ---- the command table ---------------------------------------------------- */

typedef void pop3_cmd_fn(struct pop3_session *s, const char *args);

#define ARGS_RAW (-1)   /* the handler parses the rest of the line itself */

struct pop3_command {
    const char *name;
    pop3_cmd_fn *fn;
    unsigned states;     /* POP3_AUTHORIZATION | POP3_TRANSACTION */
    int min_args;        /* or ARGS_RAW */
    int max_args;
};

static const struct pop3_command commands[] = {
    { "CAPA", cmd_capa,        POP3_AUTHORIZATION | POP3_TRANSACTION, 0, 0 },
    { "QUIT", cmd_quit,        POP3_AUTHORIZATION | POP3_TRANSACTION, 0, 0 },
    { "STLS", cmd_stls,        POP3_AUTHORIZATION, 0, 0 },
    { "USER", pop3_cmd_user,   POP3_AUTHORIZATION, ARGS_RAW, 0 },
    { "PASS", pop3_cmd_pass,   POP3_AUTHORIZATION, ARGS_RAW, 0 },
    { "AUTH", pop3_cmd_auth,   POP3_AUTHORIZATION, ARGS_RAW, 0 },
    { "STAT", pop3_cmd_stat,   POP3_TRANSACTION, 0, 0 },
    { "LIST", pop3_cmd_list,   POP3_TRANSACTION, 0, 1 },
    { "RETR", pop3_cmd_retr,   POP3_TRANSACTION, 1, 1 },
    { "TOP",  pop3_cmd_top,    POP3_TRANSACTION, 2, 2 },
    { "DELE", pop3_cmd_dele,   POP3_TRANSACTION, 1, 1 },
    { "RSET", pop3_cmd_rset,   POP3_TRANSACTION, 0, 0 },
    { "UIDL", pop3_cmd_uidl,   POP3_TRANSACTION, 0, 1 },
    { "NOOP", cmd_noop,        POP3_TRANSACTION, 0, 0 },
};

static const struct pop3_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcasecmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static int count_words(const char *p)
{
    int n = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ' && *p != '\t') p++;
    }
    return n;
}

/* One command line (CRLF removed). */
static void dispatch(struct pop3_session *s, char *line)
{
    char *args = line;
    while (*args && *args != ' ' && *args != '\t') args++;
    if (*args) *args++ = '\0';
    else args = NULL;

    if (!*line) {
        pop3_err(s, "Empty command");
        return;
    }
    const struct pop3_command *c = find_command(line);
    if (!c) {
        pop3_err(s, "Unrecognized command");
        return;
    }
    if (!(c->states & s->state)) {
        pop3_err(s, "Command not valid in %s state",
                 s->state == POP3_AUTHORIZATION ? "AUTHORIZATION" : "TRANSACTION");
        return;
    }
    if (c->min_args != ARGS_RAW) {
        int n = args ? count_words(args) : 0;
        if (n < c->min_args) {
            pop3_err(s, "Missing argument");
            return;
        }
        if (n > c->max_args) {
            pop3_err(s, "Unexpected extra argument");
            return;
        }
        if (args) {
            /* a plain "arg" or "arg1 arg2": trim blanks around */
            while (*args == ' ' || *args == '\t') args++;
            size_t len = strlen(args);
            while (len && (args[len - 1] == ' ' || args[len - 1] == '\t'))
                args[--len] = '\0';
            if (!*args) args = NULL;
        }
    }
    c->fn(s, args);
}

/* ---- the session ---------------------------------------------------------- */

static void end_session(struct pop3_session *s)
{
    if (s->md) pop3_maildrop_close(s);
    if (s->userid)
        xsyslog(LOG_INFO, "logout", "user=<%s> peer=<%s> retr=<%lu> top=<%lu> dele=<%lu>",
                s->userid, s->conn->peer, s->nretr, s->ntop, s->ndele);
    saslglue_server_free(&s->sasl);
    prot_free(&s->p);
    free(s->pending_user);
    free(s->userid);
}

static void pop3_main(const struct service_info *info, const struct service_conn *conn)
{
    (void)info;
    struct pop3_session sess;
    struct pop3_session *s = &sess;
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    s->state = POP3_AUTHORIZATION;
    s->p = prot_new(conn->fd);

    long long timeout = config_getduration(IMAPOPT_POPTIMEOUT);
    if (timeout < POP3_MIN_TIMEOUT) timeout = POP3_MIN_TIMEOUT;
    if (timeout > 24 * 3600) timeout = 24 * 3600;
    prot_set_timeout(s->p, (int)timeout);

    if (pop3_auth_reset(s)) {
        pop3_err(s, "[SYS/TEMP] Authentication is not available");
        goto out;
    }
    if (conn->tls_wrapped) {
        if (!tls_ctx || start_tls(s)) goto out;
    }
    pop3_ok(s, "%s " PACKAGE_NAME " POP3 server ready", config_servername());

    struct buf line = BUF_INITIALIZER;
    while (!s->done) {
        if (!prot_input_pending(s->p) && prot_flush(s->p)) break;
        int r = prot_readline(s->p, &line, POP3_MAXLINE);
        if (r == CYRERR_TOOBIG) {
            pop3_err(s, "Line too long");
            continue;
        }
        if (r == CYRERR_TIMEOUT) {
            pop3_err(s, "[SYS/TEMP] Autologout; idle for too long");
            break;
        }
        if (r) break;       /* EOF or I/O: drop the session, change nothing */
        /* drop the CRLF (a bare LF is accepted too) */
        size_t len = buf_len(&line);
        while (len && (line.s[len - 1] == '\n' || line.s[len - 1] == '\r')) len--;
        buf_truncate(&line, len);
        if (memchr(buf_base(&line), '\0', buf_len(&line))) {
            pop3_err(s, "Invalid character in command");
            continue;
        }
        dispatch(s, (char *)buf_cstring(&line));
    }
    buf_free(&line);
    (void)prot_flush(s->p);
out:
    end_session(s);
}

/* ---- process ---------------------------------------------------------------- */

static int pop3_init(const struct service_info *info)
{
    if (saslglue_server_init()) {
        xsyslog(LOG_ERR, "SASL initialisation failed", "service=<%s>", info->service);
        return EX_CONFIG_CODE;
    }
    if (config_getstring(IMAPOPT_TLS_SERVER_CERT) || info->tls_wrapped) {
        const char *errstr = NULL;
        int r = tls_server_ctx_from_config(&tls_ctx, &errstr);
        if (r) {
            xsyslog(LOG_ERR, "TLS unavailable", "service=<%s> error=<%s>",
                    info->service, errstr ? errstr : error_message(r));
            tls_ctx = NULL;
            if (info->tls_wrapped) {
                saslglue_done();
                return EX_CONFIG_CODE;
            }
        }
    }
    return 0;
}

static void pop3_done(const struct service_info *info)
{
    (void)info;
    tls_ctx_free(&tls_ctx);
    saslglue_done();
    cyrusdb_done();
}

static const struct service_def pop3d = {
    .name = "pop3d",
    .init = pop3_init,
    .main = pop3_main,
    .done = pop3_done,
};

int main(int argc, char **argv)
{
    return service_run(argc, argv, &pop3d);
}
