/* lmtpengine: the LMTP server protocol (RFC 2033).  See lmtpengine.h.
 *
 * One struct lmtp_session per connection holds everything: the stream, the
 * SASL object, the LHLO name, the authentication state and the current
 * transaction (sender, accepted recipients).  Commands are dispatched from
 * a const table; each handler sends its own reply into prot's buffer, and
 * the loop flushes only when no more input is buffered (PIPELINING).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "lmtp/lmtp_addr.h"
#include "lmtp/lmtp_spool.h"
#include "lmtp/lmtpengine.h"
#include "log.h"
#include "master/service.h"
#include "prot.h"
#include "saslglue.h"
#include "times.h"
#include "xmalloc.h"

struct lmtp_session {
    const struct lmtp_engine_params *params;
    const struct lmtp_engine_ops *ops;
    struct lmtp_ctx *ctx;
    struct prot *p;
    struct saslglue_server *sasl; /* NULL when SASL could not start */
    const char *servername;
    const char *remoteip;
    size_t max_line;
    unsigned max_rcpts;
    unsigned max_errors;
    char id[64];
    unsigned long nmsg; /* messages in this session */
    char *lhlo;         /* NULL until LHLO */
    int trusted;
    int tls;
    char *userid; /* after AUTH */
    char *authid;
    unsigned errors;
    unsigned auth_failures;
    int done;   /* leave the loop */
    int result; /* lmtp_session_run's result */

    /* the transaction */
    int in_mail;
    char *return_path;
    char *auth_param;
    int body_8bitmime;
    uint64_t size_param;
    struct lmtp_rcpt **rcpts;
    size_t nrcpts;
    size_t rcpts_alloc;
};

/* ---- statuses and replies ---------------------------------------------- */

void lmtp_status_set(struct lmtp_status *st, int code, const char *enhanced,
                     const char *fmt, ...)
{
    va_list ap;
    st->code = code;
    snprintf(st->enhanced, sizeof(st->enhanced), "%s", enhanced ? enhanced : "");
    buf_reset(&st->text);
    va_start(ap, fmt);
    buf_vprintf(&st->text, fmt, ap);
    va_end(ap);
}

/* Default enhanced code for a reply code without one. */
static const char *default_enhanced(int code)
{
    if (code >= 500) return "5.0.0";
    if (code >= 400) return "4.0.0";
    return "2.0.0";
}

/* Send "code enh text": text is one line, control characters become ' '. */
static void send_reply(struct lmtp_session *s, int code, const char *enh,
                       const char *text, int more)
{
    struct buf line = BUF_INITIALIZER;
    buf_printf(&line, "%03d%c", code, more ? '-' : ' ');
    if (enh && *enh) buf_printf(&line, "%s ", enh);
    for (const char *t = text; *t; t++) {
        unsigned char c = (unsigned char)*t;
        buf_putc(&line, (c < 32 || c == 127) ? ' ' : (char)c);
    }
    buf_appendcstr(&line, "\r\n");
    prot_write(s->p, buf_base(&line), buf_len(&line));
    buf_free(&line);
}

__attribute__((format(printf, 4, 5))) static void
reply(struct lmtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    struct buf text = BUF_INITIALIZER;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    send_reply(s, code, enh, buf_cstring(&text), 0);
    buf_free(&text);
}

static void send_status(struct lmtp_session *s, const struct lmtp_status *st)
{
    const char *enh = st->enhanced[0] ? st->enhanced : default_enhanced(st->code);
    send_reply(s, st->code, enh, buf_len(&st->text) ? buf_cstring(&st->text) : "OK", 0);
}

/* A client error: the reply, and one more towards max_errors. */
__attribute__((format(printf, 4, 5))) static void
bad(struct lmtp_session *s, int code, const char *enh, const char *fmt, ...)
{
    struct buf text = BUF_INITIALIZER;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    send_reply(s, code, enh, buf_cstring(&text), 0);
    buf_free(&text);
    if (++s->errors >= s->max_errors) {
        reply(s, 421, "4.7.0", "%s Too many errors, closing connection", s->servername);
        xsyslog(LOG_NOTICE, "lmtp too many errors", "peer=<%s> errors=<%u>", s->remoteip,
                s->errors);
        s->result = CYRERR_LIMIT;
        s->done = 1;
    }
}

/* ---- the transaction --------------------------------------------------- */

static void rcpt_free(struct lmtp_session *s, struct lmtp_rcpt *rcpt)
{
    if (!rcpt) return;
    if (rcpt->data && s->ops->rcpt_free) s->ops->rcpt_free(s->ctx, rcpt);
    free(rcpt->addr);
    free(rcpt);
}

static void reset_transaction(struct lmtp_session *s)
{
    for (size_t i = 0; i < s->nrcpts; i++)
        rcpt_free(s, s->rcpts[i]);
    s->nrcpts = 0;
    xfree(s->return_path);
    xfree(s->auth_param);
    s->in_mail = 0;
    s->body_8bitmime = 0;
    s->size_param = 0;
}

/* ---- trace headers ----------------------------------------------------- */

/* "ip;port" -> "[ip]", "[ip6];port" -> "[IPv6:ip6]", "unix" -> "unix socket" */
static void peer_comment(struct buf *out, const char *remoteip)
{
    if (!remoteip || !*remoteip || !strcmp(remoteip, "unix")) {
        buf_appendcstr(out, "unix socket");
        return;
    }
    const char *semi = strrchr(remoteip, ';');
    size_t n = semi ? (size_t)(semi - remoteip) : strlen(remoteip);
    if (n >= 2 && remoteip[0] == '[' && remoteip[n - 1] == ']') {
        buf_appendcstr(out, "[IPv6:");
        buf_appendmap(out, remoteip + 1, n - 2);
        buf_putc(out, ']');
    } else {
        buf_putc(out, '[');
        buf_appendmap(out, remoteip, n);
        buf_putc(out, ']');
    }
}

void lmtp_trace_return_path(struct buf *out, const char *return_path)
{
    buf_printf(out, "Return-Path: <%s>\r\n", return_path ? return_path : "");
}

void lmtp_trace_received(struct buf *out, const char *lhlo, const char *remoteip,
                         const char *servername, int tls, int authenticated,
                         const char *id, time_t when)
{
    char date[TIMES_RFC5322_MAX];
    if (times_rfc5322(when, date, sizeof(date))) date[0] = '\0';
    buf_printf(out, "Received: from %s (", lhlo ? lhlo : "unknown");
    peer_comment(out, remoteip);
    buf_printf(out, ")\r\n\tby %s (Cyrus-style murder) with LMTP%s%s\r\n", servername,
               tls ? "S" : "", authenticated ? "A" : "");
    buf_printf(out, "\tid %s; %s\r\n", id, date);
}

/* ---- commands ------------------------------------------------------------ */

static void cmd_lhlo(struct lmtp_session *s, const char *args)
{
    if (!*args) {
        bad(s, 501, "5.5.4", "Syntax: LHLO hostname");
        return;
    }
    for (const char *c = args; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr(".-_:[]", *c)) {
            bad(s, 501, "5.5.2", "Invalid host name in LHLO");
            return;
        }
    }
    reset_transaction(s);
    free(s->lhlo);
    s->lhlo = xstrdup(args);

    struct strarray lines = STRARRAY_INITIALIZER;
    strarray_appendm(&lines, xasprintf("%s", s->servername));
    strarray_append(&lines, "8BITMIME");
    strarray_append(&lines, "ENHANCEDSTATUSCODES");
    strarray_append(&lines, "PIPELINING");
    if (s->params->max_message_size)
        strarray_appendm(&lines, xasprintf("SIZE %" PRIu64, s->params->max_message_size));
    else
        strarray_append(&lines, "SIZE");
    if (s->params->tls_ctx && !s->tls) strarray_append(&lines, "STARTTLS");
    if (s->sasl && !s->userid && (!s->params->tls_required || s->tls)) {
        const char *mechs = saslglue_server_mechlist(s->sasl, NULL, NULL);
        if (*mechs) strarray_appendm(&lines, strconcat("AUTH ", mechs, (char *)NULL));
    }
    strarray_append(&lines, "IGNOREQUOTA");
    for (int i = 0; i < lines.count; i++)
        send_reply(s, 250, NULL, lines.data[i], i + 1 < lines.count);
    strarray_free(&lines);
}

static void cmd_helo(struct lmtp_session *s, const char *args)
{
    (void)args;
    bad(s, 500, "5.5.1", "This is LMTP: use LHLO");
}

/* SIZE=digits: 0 or CYRERR_PARSE */
static int parse_size(const char *v, uint64_t *size_r)
{
    uint64_t n = 0;
    if (!*v || strlen(v) > 19) return CYRERR_PARSE;
    for (; *v; v++) {
        if (!isdigit((unsigned char)*v)) return CYRERR_PARSE;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *size_r = n;
    return 0;
}

static void cmd_mail(struct lmtp_session *s, const char *args)
{
    struct lmtp_path path;
    const char *why;

    if (!s->lhlo) {
        bad(s, 503, "5.5.1", "Send LHLO first");
        return;
    }
    if (s->in_mail) {
        bad(s, 503, "5.5.1", "Nested MAIL command");
        return;
    }
    if (!s->trusted && !s->userid) {
        if (s->params->soft_noauth)
            reply(s, 430, "4.7.0", "Authentication required");
        else
            reply(s, 530, "5.7.0", "Authentication required");
        return;
    }
    if (strncasecmp(args, "FROM:", 5)) {
        bad(s, 501, "5.5.2", "Syntax: MAIL FROM:<address>");
        return;
    }
    unsigned flags =
        LMTP_PATH_ALLOW_NULL | (s->params->strict_rfc2821 ? LMTP_PATH_STRICT : 0);
    if (lmtp_path_parse(args + 5, flags, &path, &why)) {
        bad(s, 501, "5.1.7", "Bad sender address: %s", why);
        return;
    }
    uint64_t size = 0;
    int body8 = 0;
    const char *auth = NULL;
    for (int i = 0; i < path.params.count; i++) {
        const char *prm = path.params.data[i];
        const char *eq = strchr(prm, '=');
        size_t klen = eq ? (size_t)(eq - prm) : strlen(prm);
        const char *val = eq ? eq + 1 : NULL;
        if (klen == 4 && !strncasecmp(prm, "SIZE", 4) && val) {
            if (parse_size(val, &size)) {
                bad(s, 501, "5.5.4", "Invalid SIZE parameter");
                goto out;
            }
        } else if (klen == 4 && !strncasecmp(prm, "BODY", 4) && val) {
            if (!strcasecmp(val, "8BITMIME"))
                body8 = 1;
            else if (!strcasecmp(val, "7BIT"))
                body8 = 0;
            else {
                bad(s, 555, "5.5.4", "Unsupported BODY type %s", val);
                goto out;
            }
        } else if (klen == 4 && !strncasecmp(prm, "AUTH", 4) && val) {
            auth = val;
        } else {
            bad(s, 555, "5.5.4", "Unsupported parameter %.*s", (int)klen, prm);
            goto out;
        }
    }
    if (s->params->max_message_size && size > s->params->max_message_size) {
        reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
        goto out;
    }
    s->in_mail = 1;
    s->return_path = xstrdup(path.addr);
    s->auth_param = xstrdupnull(auth);
    s->body_8bitmime = body8;
    s->size_param = size;
    reply(s, 250, "2.1.0", "OK");
out:
    lmtp_path_fini(&path);
}

static void cmd_rcpt(struct lmtp_session *s, const char *args)
{
    struct lmtp_path path;
    const char *why;

    if (!s->in_mail) {
        bad(s, 503, "5.5.1", "Need MAIL command");
        return;
    }
    if (strncasecmp(args, "TO:", 3)) {
        bad(s, 501, "5.5.2", "Syntax: RCPT TO:<address>");
        return;
    }
    unsigned flags = s->params->strict_rfc2821 ? LMTP_PATH_STRICT : 0;
    if (lmtp_path_parse(args + 3, flags, &path, &why)) {
        bad(s, 501, "5.1.3", "Bad recipient address: %s", why);
        return;
    }
    int ignorequota = 0;
    for (int i = 0; i < path.params.count; i++) {
        if (!strcasecmp(path.params.data[i], "IGNOREQUOTA")) {
            ignorequota = 1;
        } else {
            const char *prm = path.params.data[i];
            const char *eq = strchr(prm, '=');
            int klen = eq ? (int)(eq - prm) : (int)strlen(prm);
            bad(s, 555, "5.5.4", "Unsupported parameter %.*s", klen, prm);
            lmtp_path_fini(&path);
            return;
        }
    }
    if (s->nrcpts >= s->max_rcpts) {
        reply(s, 452, "4.5.3", "Too many recipients");
        lmtp_path_fini(&path);
        return;
    }

    struct lmtp_rcpt *rcpt = xzmalloc(sizeof(*rcpt));
    rcpt->addr = path.addr;
    path.addr = NULL;
    rcpt->ignorequota = ignorequota;
    lmtp_path_fini(&path);

    struct lmtp_status st = {0, "", BUF_INITIALIZER};
    if (s->ops->verify_rcpt) s->ops->verify_rcpt(s->ctx, s, rcpt, &st);
    if (st.code == 0) lmtp_status_set(&st, 250, "2.1.5", "OK");
    send_status(s, &st);
    if (st.code >= 200 && st.code < 300) {
        if (s->nrcpts == s->rcpts_alloc) {
            s->rcpts_alloc = s->rcpts_alloc ? 2 * s->rcpts_alloc : 8;
            s->rcpts = xreallocarray(s->rcpts, s->rcpts_alloc, sizeof(*s->rcpts));
        }
        s->rcpts[s->nrcpts++] = rcpt;
    } else {
        rcpt_free(s, rcpt);
    }
    buf_free(&st.text);
}

/* Read the message after 354 into sp.  0 when the final dot was read,
 * else the stream's error (the session ends). */
static int read_message(struct lmtp_session *s, struct lmtp_spool *sp)
{
    for (;;) {
        int c = prot_getc(s->p);
        if (c == PROT_EOF) {
            int r = prot_error(s->p);
            return r ? r : CYRERR_EOF;
        }
        if (lmtp_spool_feed(sp, c) == LMTP_SPOOL_DONE) return 0;
    }
}

static void deliver_message(struct lmtp_session *s, struct lmtp_spool *sp,
                            const char *msgid, uint64_t received_offset, int spool_r,
                            struct lmtp_status *results)
{
    const struct lmtp_spool_stats *stats = lmtp_spool_stats(sp);
    if (spool_r == CYRERR_TOOBIG) {
        for (size_t i = 0; i < s->nrcpts; i++)
            lmtp_status_set(&results[i], 552, "5.3.4",
                            "Message size exceeds fixed maximum message size");
    } else if (spool_r) {
        for (size_t i = 0; i < s->nrcpts; i++)
            lmtp_status_set(&results[i], 451, "4.3.0",
                            "Local error in processing: cannot spool the message");
    } else {
        struct lmtp_message msg = {
            .id = msgid,
            .return_path = s->return_path,
            .auth_param = s->auth_param,
            .body_8bitmime = s->body_8bitmime,
            .size_param = s->size_param,
            .rcpts = s->rcpts,
            .nrcpts = s->nrcpts,
            .received = time(NULL),
            .spool = sp,
            .fd = lmtp_spool_fd(sp),
            .size = lmtp_spool_file_size(sp),
            .received_offset = received_offset,
            .msg_offset = lmtp_spool_msg_offset(sp),
            .body_offset = lmtp_spool_body_offset(sp),
            .stats = stats,
        };
        s->ops->deliver(s->ctx, s, &msg, results);
    }
    for (size_t i = 0; i < s->nrcpts; i++) {
        if (results[i].code == 0)
            lmtp_status_set(&results[i], 451, "4.3.0",
                            "Local error in processing: no delivery result");
    }
    xsyslog(LOG_INFO, "lmtp message",
            "id=<%s> from=<%s> rcpts=<%zu> size=<%" PRIu64 "> nul=<%" PRIu64
            "> header8bit=<%" PRIu64 "> result=<%s>",
            msgid, s->return_path, s->nrcpts, stats->size, stats->nul, stats->header_8bit,
            spool_r ? error_name(spool_r) : "spooled");
}

static void cmd_data(struct lmtp_session *s, const char *args)
{
    if (*args) {
        bad(s, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (!s->in_mail) {
        bad(s, 503, "5.5.1", "Need MAIL command");
        return;
    }
    if (s->nrcpts == 0) {
        bad(s, 503, "5.5.1", "No valid recipients");
        return;
    }
    struct lmtp_spool *sp = NULL;
    unsigned flags = s->params->munge8bit ? LMTP_SPOOL_MUNGE8BIT : 0;
    if (lmtp_spool_new(s->params->tmpdir, s->params->max_message_size, flags, &sp)) {
        reply(s, 451, "4.3.0", "Local error in processing: cannot create spool file");
        return;
    }
    char msgid[96];
    snprintf(msgid, sizeof(msgid), "%s-%lu", s->id, ++s->nmsg);
    uint64_t received_offset = 0;
    if (s->params->trace_headers) {
        struct buf hdr = BUF_INITIALIZER;
        lmtp_trace_return_path(&hdr, s->return_path);
        received_offset = buf_len(&hdr);
        lmtp_trace_received(&hdr, s->lhlo, s->remoteip, s->servername, s->tls,
                            s->userid != NULL, msgid, time(NULL));
        lmtp_spool_prepend(sp, buf_base(&hdr), buf_len(&hdr));
        buf_free(&hdr);
    }

    send_reply(s, 354, NULL, "Go ahead, end with <CRLF>.<CRLF>", 0);
    int r = prot_flush(s->p);
    if (!r) r = read_message(s, sp);
    if (r) {
        if (r == CYRERR_TIMEOUT)
            reply(s, 421, "4.4.2",
                  "%s Timeout while reading the message, closing "
                  "connection",
                  s->servername);
        xsyslog(LOG_NOTICE, "lmtp message aborted", "peer=<%s> error=<%s>", s->remoteip,
                error_name(r));
        lmtp_spool_free(&sp);
        s->result = r;
        s->done = 1;
        return;
    }
    int spool_r = lmtp_spool_finish(sp);
    struct lmtp_status *results = xcalloc(s->nrcpts, sizeof(*results));
    deliver_message(s, sp, msgid, received_offset, spool_r, results);
    for (size_t i = 0; i < s->nrcpts; i++) {
        send_status(s, &results[i]);
        buf_free(&results[i].text);
    }
    free(results);
    lmtp_spool_free(&sp);
    reset_transaction(s);
}

static void cmd_rset(struct lmtp_session *s, const char *args)
{
    if (*args) {
        bad(s, 501, "5.5.4", "Syntax: RSET");
        return;
    }
    reset_transaction(s);
    reply(s, 250, "2.0.0", "OK");
}

static void cmd_noop(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 250, "2.0.0", "OK");
}

static void cmd_quit(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 221, "2.0.0", "%s closing connection", s->servername);
    s->result = 0;
    s->done = 1;
}

static void cmd_vrfy(struct lmtp_session *s, const char *args)
{
    if (!*args) {
        bad(s, 501, "5.5.4", "Syntax: VRFY address");
        return;
    }
    reply(s, 252, "2.3.3",
          "Cannot VRFY user, but will accept the message and "
          "attempt delivery");
}

static void cmd_expn(struct lmtp_session *s, const char *args)
{
    (void)args;
    bad(s, 502, "5.5.1", "EXPN is not available");
}

static void cmd_help(struct lmtp_session *s, const char *args)
{
    (void)args;
    reply(s, 214, "2.0.0",
          "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP "
          "STARTTLS AUTH");
}

static void cmd_starttls(struct lmtp_session *s, const char *args)
{
    if (*args) {
        bad(s, 501, "5.5.4", "Syntax: STARTTLS");
        return;
    }
    if (s->tls) {
        bad(s, 503, "5.5.1", "TLS already active");
        return;
    }
    if (!s->params->tls_ctx) {
        bad(s, 454, "4.7.0", "TLS not available");
        return;
    }
    if (s->in_mail) {
        bad(s, 503, "5.5.1", "STARTTLS not permitted during a mail transaction");
        return;
    }
    reply(s, 220, "2.0.0", "Ready to start TLS");
    const char *err = NULL;
    int r = prot_starttls(s->p, s->params->tls_ctx, 1, &err);
    if (r) {
        xsyslog(LOG_NOTICE, "lmtp starttls failed", "peer=<%s> error=<%s>", s->remoteip,
                err ? err : error_message(r));
        s->result = r;
        s->done = 1;
        return;
    }
    s->tls = 1;
    /* RFC 3207: forget what the client told us in clear */
    reset_transaction(s);
    xfree(s->lhlo);
    struct prot_tls_info info;
    if (s->sasl && prot_tls_info(s->p, &info) == 0 &&
        saslglue_server_set_tls(s->sasl, (unsigned)info.cipher_bits, NULL)) {
        xsyslog(LOG_ERR, "lmtp sasl tls setup failed", "peer=<%s>", s->remoteip);
    }
}

/* ---- AUTH ---------------------------------------------------------------- */

static int new_sasl(struct lmtp_session *s)
{
    const char *remote = s->params->remoteip;
    const char *local = s->params->localip;
    struct saslglue_server_params sp = {
        .service = s->params->sasl_service ? s->params->sasl_service : "lmtp",
        .serverfqdn = s->servername,
        .localip = local && strcmp(local, "unix") ? local : NULL,
        .remoteip = remote && strcmp(remote, "unix") ? remote : NULL,
        .tls_ssf = 0,
        .allowplaintext = s->params->allowplaintext,
    };
    struct prot_tls_info info;
    if (s->tls && prot_tls_info(s->p, &info) == 0)
        sp.tls_ssf = (unsigned)info.cipher_bits;
    return saslglue_server_new(&sp, &s->sasl);
}

static int is_plaintext_mech(const char *mech)
{
    return !strcasecmp(mech, "PLAIN") || !strcasecmp(mech, "LOGIN");
}

static void auth_failed(struct lmtp_session *s)
{
    if (s->done) return;
    if (++s->auth_failures >= LMTP_MAX_AUTH_FAILURES) {
        reply(s, 421, "4.7.0",
              "%s Too many authentication failures, closing "
              "connection",
              s->servername);
        s->result = CYRERR_LIMIT;
        s->done = 1;
    }
}

static void cmd_auth(struct lmtp_session *s, const char *args)
{
    if (s->userid) {
        bad(s, 503, "5.5.1", "Already authenticated");
        return;
    }
    if (s->in_mail) {
        bad(s, 503, "5.5.1", "AUTH not permitted during a mail transaction");
        return;
    }
    if (!s->sasl) {
        reply(s, 454, "4.7.0", "Authentication not available");
        return;
    }
    if (s->params->tls_required && !s->tls) {
        bad(s, 538, "5.7.11", "Encryption required for authentication");
        return;
    }
    const char *sp = strchr(args, ' ');
    char *mech = sp ? xstrndup(args, (size_t)(sp - args)) : xstrdup(args);
    const char *initial = sp ? sp + 1 : NULL;
    if (!*mech || (initial && (!*initial || strchr(initial, ' ')))) {
        bad(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
        free(mech);
        return;
    }
    if (is_plaintext_mech(mech) && !saslglue_server_plaintext_ok(s->sasl)) {
        bad(s, 538, "5.7.11",
            "Encryption required for requested authentication "
            "mechanism");
        free(mech);
        return;
    }

    int r = saslglue_server_exchange(s->sasl, s->p, &saslglue_proto_lmtp, mech, initial);
    if (r == 0) {
        const char *userid = saslglue_server_userid(s->sasl);
        const char *authid = saslglue_server_authid(s->sasl);
        if (s->ops->authenticated && s->ops->authenticated(s->ctx, s, userid, authid)) {
            xsyslog(LOG_NOTICE, "lmtp login refused", "peer=<%s> user=<%s> mech=<%s>",
                    s->remoteip, userid, mech);
            saslglue_server_free(&s->sasl);
            if (new_sasl(s)) s->sasl = NULL;
            reply(s, 535, "5.7.8", "Authentication credentials invalid");
            auth_failed(s);
        } else {
            s->userid = xstrdup(userid);
            s->authid = xstrdupnull(authid);
            xsyslog(LOG_NOTICE, "lmtp login",
                    "peer=<%s> user=<%s> authid=<%s> "
                    "mech=<%s> tls=<%d>",
                    s->remoteip, s->userid, s->authid ? s->authid : "", mech, s->tls);
            reply(s, 235, "2.7.0", "Authentication successful");
        }
        free(mech);
        return;
    }
    free(mech);
    switch (r) {
    case CYRERR_NOTSUPPORTED:
        bad(s, 504, "5.5.4", "Unrecognized authentication type");
        break;
    case CYRERR_PERMISSION:
        bad(s, 538, "5.7.11",
            "Encryption required for requested authentication "
            "mechanism");
        break;
    case CYRERR_CANCELLED:
        reply(s, 501, "5.0.0", "Authentication cancelled");
        break;
    case CYRERR_PARSE:
        bad(s, 501, "5.5.2", "Invalid base64 data");
        auth_failed(s);
        break;
    case CYRERR_TOOBIG:
        bad(s, 500, "5.5.6", "Authentication exchange line is too long");
        break;
    case CYRERR_SASL:
        reply(s, 454, "4.7.0", "Temporary authentication failure");
        break;
    case CYRERR_TIMEOUT:
        reply(s, 421, "4.4.2", "%s Idle timeout, closing connection", s->servername);
        s->result = r;
        s->done = 1;
        break;
    case CYRERR_EOF:
    case CYRERR_IO:
    case CYRERR_TLS:
        s->result = r;
        s->done = 1;
        break;
    default:
        reply(s, 535, "5.7.8", "Authentication credentials invalid");
        auth_failed(s);
        break;
    }
}

/* ---- the command loop ---------------------------------------------------- */

struct lmtp_command {
    const char *name;
    void (*fn)(struct lmtp_session *s, const char *args);
};

static const struct lmtp_command commands[] = {
    {"LHLO", cmd_lhlo}, {"MAIL", cmd_mail},         {"RCPT", cmd_rcpt},
    {"DATA", cmd_data}, {"RSET", cmd_rset},         {"NOOP", cmd_noop},
    {"QUIT", cmd_quit}, {"VRFY", cmd_vrfy},         {"EXPN", cmd_expn},
    {"HELP", cmd_help}, {"STARTTLS", cmd_starttls}, {"AUTH", cmd_auth},
    {"HELO", cmd_helo}, {"EHLO", cmd_helo},
};

/* One command line (without its CRLF). */
static void dispatch(struct lmtp_session *s, const char *line, size_t len)
{
    if (memchr(line, '\0', len)) {
        bad(s, 500, "5.5.2", "Syntax error: NUL in command");
        return;
    }
    const char *sp = strchr(line, ' ');
    size_t vlen = sp ? (size_t)(sp - line) : len;
    const char *args = sp ? sp + 1 : "";
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strlen(commands[i].name) == vlen &&
            !strncasecmp(commands[i].name, line, vlen)) {
            commands[i].fn(s, args);
            return;
        }
    }
    if (vlen == 0)
        bad(s, 500, "5.5.2", "Syntax error: empty command");
    else
        bad(s, 500, "5.5.1", "Unknown command");
}

static void command_loop(struct lmtp_session *s)
{
    struct buf line = BUF_INITIALIZER;
    while (!s->done) {
        if (!prot_input_pending(s->p) && prot_flush(s->p)) {
            s->result = CYRERR_IO;
            break;
        }
        int r = prot_readline(s->p, &line, s->max_line);
        if (r == CYRERR_TOOBIG) {
            bad(s, 500, "5.5.2", "Line too long");
            continue;
        }
        if (r == CYRERR_TIMEOUT) {
            reply(s, 421, "4.4.2", "%s Idle timeout, closing connection", s->servername);
            s->result = r;
            break;
        }
        if (r) {
            s->result = r == PROT_EOF ? CYRERR_EOF : r;
            break;
        }
        size_t len = buf_len(&line);
        const char *base = buf_base(&line);
        if (len && base[len - 1] == '\n') len--;
        if (len && base[len - 1] == '\r') len--;
        buf_truncate(&line, len);
        dispatch(s, buf_cstring(&line), len);
    }
    buf_free(&line);
}

void lmtp_engine_params_from_config(struct lmtp_engine_params *params)
{
    memset(params, 0, sizeof(*params));
    params->sasl_service = "lmtp";
    params->servername = config_servername();
    params->allowplaintext = config_getswitch(IMAPOPT_ALLOWPLAINTEXT);
    params->soft_noauth = config_getswitch(IMAPOPT_SOFT_NOAUTH);
    params->strict_rfc2821 = config_getswitch(IMAPOPT_LMTP_STRICT_RFC2821);
    params->munge8bit =
        config_getswitch(IMAPOPT_MUNGE8BIT) && !config_getswitch(IMAPOPT_REJECT8BIT);
    params->tls_required = config_getswitch(IMAPOPT_TLS_REQUIRED);
    long long max = config_getbytes(IMAPOPT_MAXMESSAGESIZE);
    params->max_message_size = max > 0 ? (uint64_t)max : 0;
    params->tmpdir = config_getstring(IMAPOPT_TEMP_PATH);
    params->trace_headers = 1;
    params->timeout = LMTP_DEFAULT_TIMEOUT;
}

void lmtp_engine_params_for_conn(struct lmtp_engine_params *params,
                                 const struct service_conn *conn, int preauth_tcp)
{
    int is_unix = (conn->local_len > 0 && conn->local_addr.ss_family == AF_UNIX) ||
                  !strcmp(conn->peer, "unix");
    params->localip = conn->local;
    params->remoteip = conn->peer;
    params->tls_wrapped = conn->tls_wrapped;
    params->trusted = is_unix || preauth_tcp;
}

int lmtp_session_run(const struct lmtp_engine_params *params,
                     const struct lmtp_engine_ops *ops, struct lmtp_ctx *ctx, int fd)
{
    struct lmtp_session s;
    memset(&s, 0, sizeof(s));
    s.params = params;
    s.ops = ops;
    s.ctx = ctx;
    s.servername = params->servername ? params->servername : config_servername();
    s.remoteip = params->remoteip ? params->remoteip : "unknown";
    s.max_line = params->max_line ? params->max_line : LMTP_DEFAULT_MAX_LINE;
    s.max_rcpts = params->max_rcpts ? params->max_rcpts : LMTP_DEFAULT_MAX_RCPTS;
    s.max_errors = params->max_errors ? params->max_errors : LMTP_DEFAULT_MAX_ERRORS;
    s.trusted = params->trusted;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s.id, sizeof(s.id), "%lx-%lx-%lx", (unsigned long)ts.tv_sec,
             (unsigned long)getpid(), (unsigned long)(ts.tv_nsec / 1000));

    s.p = prot_new(fd);
    prot_set_timeout(s.p, params->timeout);
    if (params->tls_wrapped) {
        const char *err = NULL;
        int r = params->tls_ctx ? prot_starttls(s.p, params->tls_ctx, 1, &err)
                                : CYRERR_CONFIG;
        if (r) {
            xsyslog(LOG_NOTICE, "lmtp tls handshake failed", "peer=<%s> error=<%s>",
                    s.remoteip, err ? err : error_message(r));
            prot_free(&s.p);
            return r == CYRERR_CONFIG ? CYRERR_TLS : r;
        }
        s.tls = 1;
    }
    if (new_sasl(&s)) {
        xsyslog(LOG_ERR, "lmtp sasl unavailable", "peer=<%s>", s.remoteip);
        s.sasl = NULL;
    }

    xsyslog(LOG_DEBUG, "lmtp session", "peer=<%s> trusted=<%d> tls=<%d> id=<%s>",
            s.remoteip, s.trusted, s.tls, s.id);
    reply(&s, 220, NULL, "%s LMTP Cyrus-style server ready", s.servername);
    command_loop(&s);
    (void)prot_flush(s.p);

    reset_transaction(&s);
    free(s.rcpts);
    free(s.lhlo);
    free(s.userid);
    free(s.authid);
    saslglue_server_free(&s.sasl);
    prot_free(&s.p);
    return s.result;
}

/* ---- queries for the callbacks ------------------------------------------ */

int lmtp_session_trusted(const struct lmtp_session *s)
{
    return s->trusted;
}
const char *lmtp_session_userid(const struct lmtp_session *s)
{
    return s->userid;
}
const char *lmtp_session_authid(const struct lmtp_session *s)
{
    return s->authid;
}
int lmtp_session_is_tls(const struct lmtp_session *s)
{
    return s->tls;
}
const char *lmtp_session_lhlo(const struct lmtp_session *s)
{
    return s->lhlo;
}
const char *lmtp_session_remoteip(const struct lmtp_session *s)
{
    return s->remoteip;
}
const char *lmtp_session_id(const struct lmtp_session *s)
{
    return s->id;
}
