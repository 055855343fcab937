/* lmtpengine: the LMTP server protocol (RFC 2033), shared by lmtpd (backend
 * delivery into the store) and lmtpproxyd (frontend, forwards to backends).
 *
 * The engine speaks the protocol on one connection and knows nothing about
 * mailboxes: LHLO, MAIL FROM (SIZE=, BODY=7BIT|8BITMIME, AUTH=), RCPT TO
 * (IGNOREQUOTA), DATA (dot-unstuffing, spooled to an unlinked temporary
 * file by lmtp_spool), RSET, NOOP, QUIT, VRFY (252, politely), HELP,
 * STARTTLS and AUTH (Cyrus SASL through saslglue); extensions PIPELINING,
 * 8BITMIME, ENHANCEDSTATUSCODES, SIZE, STARTTLS, AUTH, IGNOREQUOTA.  Replies
 * to pipelined commands are sent together: output is flushed only when no
 * more input is buffered.  After DATA there is one reply per accepted
 * recipient, in RCPT order.
 *
 * The program that uses the engine decides everything about recipients and
 * delivery through struct lmtp_engine_ops: verify_rcpt() at RCPT time,
 * deliver() after DATA (one result per accepted recipient), and optional
 * hooks.  Its own state is a `struct lmtp_ctx` that it defines itself (each
 * program has exactly one definition), and per-recipient state is a
 * `struct lmtp_rcpt_data` it also defines; the engine only passes them on.
 *
 * Trust: a session is "trusted" (pre-authenticated, as Cyrus trusts a unix
 * socket peer and lmtpd -a trusts TCP peers) when params->trusted is set;
 * otherwise MAIL is refused until the client has authenticated with AUTH
 * (430 4.7.0 with soft_noauth, else 530 5.7.0).  Plaintext mechanisms need
 * TLS or allowplaintext; with tls_required, AUTH needs TLS.
 *
 * The message handed to deliver() is the spool file: "Return-Path:
 * <sender>" and a "Received:" line (from <LHLO name> (<peer>) by
 * <servername> with LMTP[S][A] id <id>; <date>) first, then the client's
 * message with CRLF line ends.  The offsets in struct lmtp_message let a
 * proxy forward the message without the Return-Path.
 *
 * Memory: the engine owns the session, the recipients and the message;
 * pointers passed to callbacks are valid during the call (a recipient's
 * during the transaction).  Strings returned by lmtp_session_*() are
 * borrowed from the session.  rcpt->data belongs to the caller, who frees
 * it in ops->rcpt_free().
 *
 * Errors: lmtp_session_run() returns how the session ended: 0 after QUIT,
 * or CYRERR_EOF, CYRERR_TIMEOUT (421 sent), CYRERR_IO, CYRERR_TLS,
 * CYRERR_LIMIT (too many errors; 421 sent).  Protocol errors are replies,
 * never return values.
 */
#ifndef LMTP_LMTPENGINE_H
#define LMTP_LMTPENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "lmtp/lmtp_spool.h"

typedef struct ssl_ctx_st SSL_CTX;

struct lmtp_ctx;       /* defined by the program using the engine */
struct lmtp_rcpt_data; /* likewise: its state for one recipient */
struct lmtp_session;

/* One reply: code 250, enhanced code "2.1.5", text "OK". */
struct lmtp_status {
    int code;          /* 0 = not set */
    char enhanced[16]; /* "x.y.z" (each part at most 3 digits) */
    struct buf text;   /* one line; control characters are sent as ' ' */
};

/* Set a status (enhanced: "x.y.z"; anything longer is a programming
 * error and is cut). */
void lmtp_status_set(struct lmtp_status *st, int code, const char *enhanced,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct lmtp_rcpt {
    char *addr;                  /* as in RCPT TO, without <> */
    int ignorequota;             /* the IGNOREQUOTA parameter was given */
    struct lmtp_rcpt_data *data; /* the caller's, set in verify_rcpt */
};

struct lmtp_message {
    const char *id;                 /* id of this message in logs and Received */
    const char *return_path;        /* MAIL FROM address; "" for <> */
    const char *auth_param;         /* MAIL FROM AUTH= value (xtext), or NULL */
    int body_8bitmime;              /* BODY=8BITMIME */
    uint64_t size_param;            /* SIZE=, 0 when not given */
    struct lmtp_rcpt *const *rcpts; /* accepted recipients, in RCPT order */
    size_t nrcpts;
    time_t received;                      /* when DATA ended */
    const struct lmtp_spool *spool;       /* for lmtp_spool_copy() */
    int fd;                               /* the spool file (pread; do not close) */
    uint64_t size;                        /* the whole file */
    uint64_t received_offset;             /* start of the Received: line */
    uint64_t msg_offset;                  /* the client's first byte */
    uint64_t body_offset;                 /* after the header's blank line, or size */
    const struct lmtp_spool_stats *stats; /* NUL, 8-bit, bad header lines */
};

struct lmtp_engine_ops {
    /* RCPT TO.  Set *st to accept (2xx; the default when st is left unset)
     * or refuse (4xx/5xx, e.g. 550 5.1.1 unknown user, 450 4.2.1 mailbox
     * being moved).  rcpt->data may be set, also on refusal (rcpt_free is
     * called).  NULL: every recipient is accepted. */
    void (*verify_rcpt)(struct lmtp_ctx *ctx, struct lmtp_session *s,
                        struct lmtp_rcpt *rcpt, struct lmtp_status *st);
    /* After DATA: set results[i] for msg->rcpts[i].  Results left unset
     * are sent as 451 4.3.0.  Required. */
    void (*deliver)(struct lmtp_ctx *ctx, struct lmtp_session *s,
                    const struct lmtp_message *msg, struct lmtp_status *results);
    /* A SASL login succeeded as userid (authid checked the credentials).
     * Return 0 to keep it, nonzero to refuse it (535 5.7.8).  May be NULL. */
    int (*authenticated)(struct lmtp_ctx *ctx, struct lmtp_session *s, const char *userid,
                         const char *authid);
    /* Free rcpt->data at the end of the transaction.  May be NULL. */
    void (*rcpt_free)(struct lmtp_ctx *ctx, struct lmtp_rcpt *rcpt);
};

struct lmtp_engine_params {
    const char *sasl_service;  /* SASL service name: "lmtp" */
    const char *servername;    /* greeting and Received; NULL: config_servername() */
    const char *localip;       /* "ip;port" (or "unix"), for SASL and logs */
    const char *remoteip;      /* "ip;port", "[ip6];port" or "unix" */
    int trusted;               /* pre-authenticated (unix socket, -a) */
    int tls_wrapped;           /* TLS from the first byte (lmtps) */
    SSL_CTX *tls_ctx;          /* NULL: no STARTTLS */
    int tls_required;          /* AUTH only under TLS */
    int allowplaintext;        /* PLAIN/LOGIN without TLS */
    int soft_noauth;           /* missing AUTH: 430 4.7.0, else 530 5.7.0 */
    int strict_rfc2821;        /* refuse 8-bit envelope addresses (else 'X') */
    int munge8bit;             /* 8-bit header bytes written as 'X' */
    int trace_headers;         /* add Return-Path: and Received: */
    uint64_t max_message_size; /* 0 = unlimited */
    unsigned max_rcpts;        /* per transaction; 0 = LMTP_DEFAULT_MAX_RCPTS */
    size_t max_line;           /* longest command line; 0 = LMTP_DEFAULT_MAX_LINE */
    int timeout;               /* idle seconds before 421; 0 = none */
    unsigned max_errors;       /* bad commands before 421; 0 = default */
    const char *tmpdir;        /* spool directory; NULL: $TMPDIR or /tmp */
};

#define LMTP_DEFAULT_MAX_RCPTS 1000
#define LMTP_DEFAULT_MAX_LINE 16384 /* AUTH lines need 12288 (RFC 4954) */
#define LMTP_DEFAULT_TIMEOUT 300
#define LMTP_DEFAULT_MAX_ERRORS 20
#define LMTP_MAX_AUTH_FAILURES 5

/* Defaults from imapd.conf: servername, maxmessagesize, allowplaintext,
 * soft_noauth, lmtp_strict_rfc2821, munge8bit, tls_required, temp_path,
 * trace_headers on, sasl_service "lmtp", timeout LMTP_DEFAULT_TIMEOUT.
 * The caller sets the connection's fields (ips, trusted, TLS). */
void lmtp_engine_params_from_config(struct lmtp_engine_params *params);

/* The connection's part of params, for a daemon on master/service.h:
 * localip and remoteip (borrowed from conn, which must outlive the session),
 * tls_wrapped, and trusted when the peer came over a unix socket (as Cyrus
 * trusts it) or when preauth_tcp is set (lmtpd -a). */
struct service_conn;
void lmtp_engine_params_for_conn(struct lmtp_engine_params *params,
                                 const struct service_conn *conn, int preauth_tcp);

/* Serve one connection on fd until QUIT, EOF, a timeout or a fatal error.
 * Does not close fd. */
int lmtp_session_run(const struct lmtp_engine_params *params,
                     const struct lmtp_engine_ops *ops, struct lmtp_ctx *ctx, int fd);

/* About the session, for the callbacks. */
int lmtp_session_trusted(const struct lmtp_session *s);
/* The SASL identity (authorization id) after AUTH, NULL otherwise. */
const char *lmtp_session_userid(const struct lmtp_session *s);
const char *lmtp_session_authid(const struct lmtp_session *s);
int lmtp_session_is_tls(const struct lmtp_session *s);
const char *lmtp_session_lhlo(const struct lmtp_session *s); /* or NULL */
const char *lmtp_session_remoteip(const struct lmtp_session *s);
const char *lmtp_session_id(const struct lmtp_session *s);

/* The trace lines as the engine writes them (for unit tests, and for a
 * proxy that builds its own): "Return-Path: <addr>" and the folded
 * "Received: from <lhlo> ([ip]) by <servername> (Cyrus-style murder) with
 * LMTP[S][A] id <id>; <RFC 5322 date>", each ending in CRLF.  remoteip as
 * in the params ("ip;port", "[ip6];port", "unix").  Append to out. */
void lmtp_trace_return_path(struct buf *out, const char *return_path);
void lmtp_trace_received(struct buf *out, const char *lhlo, const char *remoteip,
                         const char *servername, int tls, int authenticated,
                         const char *id, time_t when);

#endif
