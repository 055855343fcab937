/* pop3d: the POP3 server (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH
 * RFC 5034, response codes RFC 2449/3206) -- what its files share.
 *
 * The daemon is split by concern:
 *   pop3d.c            main() on the service skeleton, the session loop, the
 *                      command table, CAPA, STLS, NOOP, QUIT
 *   pop3_auth.c        USER, PASS, AUTH (SASL with initial response)
 *   pop3_maildrop.c    opening the user's INBOX at login, the UPDATE state
 *                      (expunge at QUIT), closing
 *   pop3_msgcmds.c     STAT, LIST, RETR, TOP, DELE, RSET, UIDL
 *   pop3_send.c        a message file as a dot-stuffed multi-line body
 *   pop3_logindelay.c  popminpoll: the per-user record of recent logins
 *
 * One struct pop3_session holds everything of a connection; it is created
 * and freed by the session loop in pop3d.c.  The maildrop is the INBOX as
 * it was at login: its messages (UID and size) are copied into `msgs` and
 * numbered 1..count for the whole session.  No mailbox lock is held
 * between commands; RETR/TOP take a shared lock only to find the record
 * and open the message file, QUIT lets mailbox_expunge() take the
 * exclusive lock.  The open mailbox handle itself (which defers cleanup of
 * expunged files, see mailbox.h) lives from login to the end.
 *
 * Replies: every handler writes its own "+OK"/"-ERR" line(s) with
 * pop3_ok()/pop3_err(); the loop flushes when no pipelined input is left.
 * A handler sets s->done to end the session after its reply.
 *
 * Process-wide state (documented exception): the server TLS context built
 * once in init (pop3_tls_ctx()).
 */
#ifndef IMAP_POP3D_POP3D_H
#define IMAP_POP3D_POP3D_H

#include <stdint.h>
#include <time.h>

#include "master/service.h"
#include "prot.h"

struct mailbox;
struct saslglue_server;

/* Longest command line accepted (RFC 2449 says 255 octets; AUTH initial
 * responses may be longer, RFC 5034 4). */
#define POP3_MAXLINE 8192

enum pop3_state {
    POP3_AUTHORIZATION = 0x01,
    POP3_TRANSACTION = 0x02,
};

/* One message of the maildrop, as numbered at login. */
struct pop3_msg {
    uint32_t uid;
    uint32_t size;
    unsigned char deleted;     /* DELE (undone by RSET) */
    unsigned char retrieved;   /* RETR: gets \Seen at QUIT (popuseimapflags) */
};

struct pop3_maildrop {
    struct mailbox *mb;        /* open, no index lock between commands */
    char *name;                /* internal name ("user.alice") */
    uint32_t uidvalidity;
    struct pop3_msg *msgs;
    uint32_t count;
    unsigned rights;           /* ACL rights (popuseacl); all when off */
    int useimapflags;          /* popuseimapflags at login */
};

struct pop3_session {
    const struct service_conn *conn;
    struct prot *p;
    struct saslglue_server *sasl;
    enum pop3_state state;
    int tls;                   /* TLS is active (STLS or -s) */
    int done;                  /* end after this command */
    char *pending_user;        /* USER given, PASS awaited */
    char *userid;              /* logged in as (TRANSACTION) */
    struct pop3_maildrop *md;  /* TRANSACTION only */
    unsigned long nretr, ntop, ndele;
};

/* ---- replies (pop3d.c) --------------------------------------------------- */

void pop3_ok(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pop3_err(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The server TLS context, or NULL when TLS is not configured. */
SSL_CTX *pop3_tls_ctx(void);

/* Parse a message number argument: 0 and *idx_r (0-based) for a message
 * that exists and is not deleted; otherwise -1 after replying "-ERR ...". */
int pop3_msgno(struct pop3_session *s, const char *arg, uint32_t *idx_r);
/* A decimal number without sign, at most UINT32_MAX: 0 or -1. */
int pop3_parse_u32(const char *arg, uint32_t *n_r);

/* ---- authorization (pop3_auth.c) ------------------------------------------ */

/* A fresh SASL connection object for the session (at start, after a
 * failed or aborted login, and after STLS).  0 or an error (logged). */
int pop3_auth_reset(struct pop3_session *s);
void pop3_cmd_user(struct pop3_session *s, const char *args);
void pop3_cmd_pass(struct pop3_session *s, const char *args);
void pop3_cmd_auth(struct pop3_session *s, const char *args);

/* ---- the maildrop (pop3_maildrop.c) ---------------------------------------- */

/* Complete a login as `userid`: popminpoll, find and open the INBOX and
 * read its messages, reply "+OK" and enter TRANSACTION; or reply "-ERR"
 * with a response code and return an error (the session stays in
 * AUTHORIZATION). */
int pop3_maildrop_open(struct pop3_session *s, const char *userid);
/* The UPDATE state (QUIT in TRANSACTION): set \Seen (popuseimapflags) and
 * expunge the DELE'd messages, durably, then reply. */
void pop3_maildrop_update(struct pop3_session *s);
/* Forget the maildrop without changing anything (dropped connection). */
void pop3_maildrop_close(struct pop3_session *s);

/* ---- transaction commands (pop3_msgcmds.c, pop3_send.c) -------------------- */

void pop3_cmd_stat(struct pop3_session *s, const char *args);
void pop3_cmd_list(struct pop3_session *s, const char *args);
void pop3_cmd_retr(struct pop3_session *s, const char *args);
void pop3_cmd_top(struct pop3_session *s, const char *args);
void pop3_cmd_dele(struct pop3_session *s, const char *args);
void pop3_cmd_rset(struct pop3_session *s, const char *args);
void pop3_cmd_uidl(struct pop3_session *s, const char *args);

/* Write the message in file `fd` to `p` as a POP3 multi-line body:
 * dot-stuffed, every line ended by CRLF, followed by ".\r\n".  maxlines
 * < 0: the whole message; else the header, the blank line and at most
 * maxlines body lines (TOP).  Returns 0, CYRERR_IO (reading the file) or
 * the stream's write error.  (Exposed for its tests.) */
int pop3_send_message(struct prot *p, int fd, long maxlines);

/* ---- popminpoll (pop3_logindelay.c) ---------------------------------------- */

/* Take one login of `userid` at `now` from its allowance: with
 * `padding` logins in reserve (poppollpadding, at least 1), one more every
 * `minpoll` seconds.  Returns 1 (allowed; recorded), 0 (refused; *wait_r,
 * when not NULL, gets the seconds until the next login is allowed) or a
 * negative CYRERR_* when the record cannot be read or written.  The record
 * is <configdirectory>/user/<h>/<userid>.pop3 (see userfile.h), one line
 * "1 <t0> <tokens>", updated under an fcntl lock. */
int pop3_logindelay_take(const char *userid, time_t now, long minpoll,
                         int padding, long *wait_r);

#endif
