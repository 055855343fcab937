/* imapd: the IMAP4rev1 server of a backend (RFC 3501 and extensions).
 *
 * One process serves one connection at a time (master/service.h); all the
 * state of a connection lives in one struct imapd_session, created when the
 * connection is accepted and freed when it ends.  imapd.c reads each
 * command line's tag and command name, finds the command in a const table
 * (struct imapd_cmd), checks the session state, and calls the handler, which
 * reads its own arguments through s->tp (lib/tok.h) and answers.
 *
 * Contract of a handler (imapd_cmd_fn):
 *   - It is called after "tag SP name" was read; cmd->c is the character
 *     that followed the name (' ' when arguments follow, '\r' or '\n' when
 *     the line ends there; for UID commands the name after "UID").
 *   - It reads its arguments and the end of line (imapd_eol()), does the
 *     work, sends any untagged data, and ends with exactly one tagged reply
 *     (imapd_ok / imapd_no / imapd_no_error / imapd_bad), then returns 0.
 *     The tagged helpers first report pending mailbox changes (EXPUNGE,
 *     EXISTS, RECENT, FETCH FLAGS) as the command's flags allow, so that
 *     they precede the tagged line as RFC 3501 7 requires.
 *   - On a syntax error (any negative result of a tok_* reader, or a check
 *     of its own through imapd_syntax()) it returns that negative code
 *     without replying: the dispatcher then sends "tag BAD <text>" (the
 *     text given to imapd_syntax(), else tok_errstr()), discards the rest of
 *     the line with tok_skip_line(), and goes on with the next command.
 *     Stream failures (CYRERR_EOF, CYRERR_TIMEOUT, CYRERR_IO, CYRERR_TLS)
 *     and CYRERR_PROTOCOL_ERROR end the session.
 *   - s->tp.limits is reset to s->limits before every command, so a handler
 *     may raise tp.limits.maxliteral for its own literals (APPEND:
 *     s->maxmessagesize) without restoring it.
 *
 * Mailbox state: the selected mailbox is s->sel (an open struct mailbox
 * without a lock between commands, and the session's struct mailbox_view
 * that numbers its messages).  A handler that reads records takes the lock
 * itself (mailbox_lock / mailbox_unlock) and must not hold it when it
 * returns.  The view changes only in imapd_report_changes().
 *
 * \Seen: for the owner of a mailbox (its user tree) \Seen is the index's
 * MAILBOX_FLAG_SEEN, changed with mailbox_store() like any flag; for
 * everybody else it lives in the user's seen database (imap/store/seen.h),
 * kept in s->sel.seen and changed with imapd_seen_change().  The
 * imapd_msg_flags() helper gives the flags as this session sees them.
 * \Recent: messages with a UID above s->sel.recent_after, the highest UID
 * shown to this user by an earlier read-write SELECT (kept in the seen
 * database's lastuid), messages arriving later included.  Read-only
 * (EXAMINE) sessions see the same but do not move lastuid.
 *
 * Ownership: the session owns everything it points to (imapd_session_free
 * releases it); strings returned by helpers as const char * are borrowed
 * from the session until the next command.  Errors: helpers return 0 or a
 * negative CYRERR_* as in lib/error.h.
 *
 * Files: imapd.c (main, session loop, dispatch table), imapd_util.c (the
 * reply, string, name, rights and sequence-set helpers below), cmd_auth.c,
 * cmd_mailbox.c and cmd_rename.c (with the private imapd_mbox.h),
 * cmd_list.c, cmd_select.c (SELECT/EXAMINE/CLOSE/UNSELECT/CHECK/IDLE, the
 * change reporting and the message flag helpers), cmd_acl.c, cmd_quota.c,
 * cmd_metadata.c (GETMETADATA/SETMETADATA and the special-use helpers),
 * cmd_admin.c; message
 * commands: cmd_fetch.c, cmd_store.c, cmd_search.c, cmd_copy.c,
 * cmd_append.c, cmd_expunge.c (and their helpers).
 */
#ifndef IMAP_IMAPD_IMAPD_H
#define IMAP_IMAPD_IMAPD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "prot.h"
#include "strarray.h"
#include "tok.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"
#include "imap/store/seqset.h"

struct saslglue_server;
struct seen;
struct service_conn;
struct imapd_session;

/* ---- states and the command table ------------------------------------- */

enum imapd_state {
    IMAPD_NOTAUTH = 0x01,      /* before LOGIN/AUTHENTICATE */
    IMAPD_AUTH = 0x02,         /* logged in, nothing selected */
    IMAPD_SELECTED = 0x04,     /* a mailbox is selected (s->sel.mb) */
    IMAPD_LOGOUT = 0x08,       /* LOGOUT sent, or the session must end */
};
#define IMAPD_ST_ANY (IMAPD_NOTAUTH | IMAPD_AUTH | IMAPD_SELECTED)
#define IMAPD_ST_AUTHED (IMAPD_AUTH | IMAPD_SELECTED)

/* struct imapd_cmd.flags */
#define IMAPD_CMD_UID       0x01  /* may follow "UID" (FETCH, STORE, ...) */
#define IMAPD_CMD_UIDONLY   0x02  /* only after "UID" (UID EXPUNGE) */
#define IMAPD_CMD_NOEXPUNGE 0x04  /* no EXPUNGE responses while it runs,
                                     unless it came as a UID command
                                     (RFC 3501 7.4.1: FETCH, STORE, SEARCH) */
#define IMAPD_CMD_NOREPORT  0x08  /* report no mailbox changes at all
                                     (CAPABILITY, LOGOUT, STARTTLS, ...) */

/* What a handler is told about the command it runs. */
struct imapd_cmdctx {
    const char *tag;           /* the client's tag (borrowed) */
    const char *name;          /* the table's name ("FETCH") */
    const struct imapd_cmd *def;
    int uid;                   /* came as "UID <name>" */
    int c;                     /* character after the name (see the top) */
};

/* 0 when answered; a negative code as described at the top. */
typedef int imapd_cmd_fn(struct imapd_session *s, struct imapd_cmdctx *cmd);

struct imapd_cmd {
    const char *name;          /* upper case; matched case-insensitively */
    imapd_cmd_fn *fn;
    unsigned states;           /* IMAPD_NOTAUTH | ... where it is allowed */
    unsigned flags;            /* IMAPD_CMD_* */
};

/* ---- the session -------------------------------------------------------- */

/* Extensions a client turned on with ENABLE (RFC 5161). */
#define IMAPD_EN_CONDSTORE   0x01
#define IMAPD_EN_QRESYNC     0x02
#define IMAPD_EN_UTF8ACCEPT  0x04

/* The selected mailbox. */
struct imapd_selected {
    char *name;                /* internal name */
    char *extname;             /* as the client named it (our spelling) */
    struct mboxlist_entry entry;
    struct mailbox *mb;        /* open, unlocked between commands */
    struct mailbox_view *view;
    unsigned rights;           /* this user's rights (ACL_*) */
    int readonly;              /* EXAMINE, or no right to change state */
    int is_owner;              /* \Seen in the index (see the top) */
    uint32_t uidvalidity;
    struct seen *seendb;       /* non-owner: the user's seen db, else NULL */
    struct seqset seen;        /* non-owner: UIDs seen, kept current */
    uint32_t recent_after;     /* UIDs above are \Recent (read-write
                                  sessions only; 0 in read-only ones means
                                  none is, see imapd_msg_recent) */
    uint32_t last_exists;      /* EXISTS last reported */
    uint32_t last_recent;      /* RECENT last reported */
    uint32_t last_keywords;    /* keywords in the FLAGS last reported */
};

struct imapd_session {
    /* connection */
    struct prot *prot;         /* the client stream (both directions) */
    struct tok_parser tp;      /* reads commands from prot */
    struct tok_limits limits;  /* per-command defaults (see the top) */
    uint64_t maxmessagesize;   /* APPEND literal limit (maxmessagesize; 0
                                  = our default bound of 1 GiB) */
    const struct service_conn *conn;
    char *peer;                /* "ip;port" */
    char *local;
    int tls_on;                /* STARTTLS done or implicit TLS (-s) */
    int compress_on;           /* COMPRESS=DEFLATE active */
    int idling;                /* inside IDLE */
    int timeout;               /* autologout seconds (timeout option) */
    unsigned enabled;          /* IMAPD_EN_* */
    unsigned wflags;           /* TOK_W_* for strings we send */

    /* authentication */
    enum imapd_state state;
    struct saslglue_server *sasl;
    char *userid;              /* who the session acts as, or NULL */
    char *authid;              /* whose credentials were checked */
    int isadmin;               /* userid is in admins */
    int isproxyadmin;          /* authid is a proxy server acting as userid */
    struct strarray groups;    /* group identifiers of the user (none yet) */
    struct acl_identity ident; /* points into the fields above */
    unsigned owner_rights;     /* implicit_owner_rights */
    struct namespace ns;       /* the user's view of names */

    /* store */
    struct mboxlist *mbl;      /* mailboxes.db, open for the session */
    struct imapd_selected sel; /* valid in IMAPD_SELECTED */

    /* current command */
    struct buf tag;
    const struct imapd_cmdctx *cmd;
    struct buf badtext;        /* text for the dispatcher's BAD, or empty */
    int no_report;             /* a handler's request: the next tagged
                                  reply reports no changes */
    struct buf scratch;        /* for the helpers' borrowed strings */
};

/* ---- replies ------------------------------------------------------------ */

/* "* " fmt CRLF. */
void imapd_untagged(struct imapd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Tagged replies for the current command: "tag OK [code] text".  code is
 * the response code without brackets ("READ-WRITE", "UIDNEXT 5") or NULL.
 * OK and NO report pending mailbox changes first (unless s->no_report or
 * the command's IMAPD_CMD_NOREPORT).  All return 0 (so a handler may
 * `return imapd_ok(...)`) and flush the output. */
int imapd_ok(struct imapd_session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int imapd_no(struct imapd_session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int imapd_bad(struct imapd_session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* imapd_no_error flags */
#define IMAPD_ERR_TRYCREATE 0x01   /* a missing target mailbox is
                                      [TRYCREATE] (COPY, MOVE, APPEND) */

/* "tag NO [CODE] text" for a CYRERR_* code, with the RFC 5530 / RFC 4315
 * response code clients expect: NONEXISTENT (or TRYCREATE), ALREADYEXISTS,
 * NOPERM, OVERQUOTA, CANNOT (bad names), LIMIT, INUSE, TOOBIG,
 * UNAVAILABLE, SERVERBUG.  Returns 0. */
int imapd_no_error(struct imapd_session *s, int err, unsigned flags);
/* The response code for an error (without brackets), or NULL. */
const char *imapd_error_code(int err, unsigned flags);

/* A syntax error found by a handler: remember `text` for the dispatcher's
 * BAD and return CYRERR_PARSE (return it from the handler). */
int imapd_syntax(struct imapd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Check that the line ends at `c` (the character a reader returned):
 * 0, or a negative code to return from the handler. */
int imapd_eol(struct imapd_session *s, int c);

/* IMAP strings in our replies (tok.h rules, with s->wflags): an astring
 * (atom when possible), a string (never an atom), an nstring (NIL for
 * NULL), a mailbox name (external name, astring).  To s->prot, or
 * appended to a buf. */
void imapd_put_astring(struct imapd_session *s, const char *str);
void imapd_put_string(struct imapd_session *s, const char *str);
void imapd_put_nstring(struct imapd_session *s, const char *str);
void imapd_buf_astring(struct imapd_session *s, struct buf *b, const char *str);
void imapd_buf_string(struct imapd_session *s, struct buf *b, const char *str);
void imapd_buf_nstring(struct imapd_session *s, struct buf *b, const char *str);

/* The literal callback installed on s->tp (rock = the session): accepts
 * {n+} (LITERAL+) and answers "+ go ahead" to {n}.  Handlers need not call
 * it; it is here for those that install another and chain to it. */
int imapd_literal_cb(struct tok_parser *tp, uint64_t size, unsigned flags,
                     void *rock);

/* ---- names and rights ------------------------------------------------- */

/* External (client) name <-> internal name for this user; replace `out`.
 * CYRERR_BADNAME. */
int imapd_intname(struct imapd_session *s, const char *extname, struct buf *out)
    __attribute__((warn_unused_result));
int imapd_extname(struct imapd_session *s, const char *intname, struct buf *out)
    __attribute__((warn_unused_result));

/* This user's rights on a mailbox entry (admins: every right). */
unsigned imapd_rights(struct imapd_session *s, const struct mboxlist_entry *e);

/* Look up the mailbox a client named and check rights: fills `intname`
 * and `e` (when not NULL; the caller frees it with mboxlist_entry_free)
 * and *rights (may be NULL).  Errors: CYRERR_BADNAME;
 * CYRERR_MAILBOX_NONEXISTENT when there is no usable local mailbox or the
 * user may not even see it (no ACL_LOOKUP and none of `need`);
 * CYRERR_PERMISSION when it lacks a right of `need`; CYRERR_MAILBOX_MOVED
 * for a remote entry. */
int imapd_lookup(struct imapd_session *s, const char *extname, unsigned need,
                 struct buf *intname, struct mboxlist_entry *e, unsigned *rights)
    __attribute__((warn_unused_result));

/* 0 when the user holds every right of `need` on the selected mailbox,
 * else CYRERR_PERMISSION (CYRERR_BADARGS when nothing is selected). */
int imapd_check_selected_rights(struct imapd_session *s, unsigned need)
    __attribute__((warn_unused_result));

/* A handle on mailbox `e` for a command that works on a mailbox other
 * than through the view (APPEND, COPY target, STATUS): the selected
 * mailbox's own handle when it is the same mailbox (two handles on one
 * mailbox in one process would deadlock), else a new one.  Give it back
 * with imapd_mailbox_put(), which closes only a handle it opened. */
int imapd_mailbox_get(struct imapd_session *s, const struct mboxlist_entry *e,
                      struct mailbox **mbp) __attribute__((warn_unused_result));
void imapd_mailbox_put(struct imapd_session *s, struct mailbox **mbp);

/* ---- the selected mailbox: messages ------------------------------------- */

/* A client's sequence set resolved against the view: message sequence
 * numbers, ascending, without duplicates. */
struct imapd_msglist {
    uint32_t *seq;
    size_t count, alloc;
};
#define IMAPD_MSGLIST_INITIALIZER { NULL, 0, 0 }
void imapd_msglist_free(struct imapd_msglist *ml);

/* Resolve `set` as sequence numbers (uid == 0) or UIDs (uid != 0) against
 * the view of the selected mailbox.  Sequence numbers: "*" is the last
 * message; a number outside 1..EXISTS (or "*" in an empty mailbox) is a
 * syntax error (returns CYRERR_PARSE with the BAD text set: RFC 3501 9,
 * seq-number).  UIDs: "*" is the highest UID in the view (in an empty view
 * it matches nothing); UIDs not in the view are ignored.  Messages expunged
 * but not yet reported stay addressable. */
int imapd_msglist_resolve(struct imapd_session *s, const struct tok_seqset *set,
                          int uid, struct imapd_msglist *out)
    __attribute__((warn_unused_result));

/* Flags of a message as this session sees them (\Seen per user,
 * MAILBOX_FLAG_* bits) and whether it is \Recent. */
uint32_t imapd_msg_flags(struct imapd_session *s, const struct mailbox_view_msg *m);
int imapd_msg_recent(struct imapd_session *s, uint32_t uid);
/* Append "(\Answered \Seen kw ...)" for a message (with \Recent). */
void imapd_buf_flags(struct imapd_session *s, const struct mailbox_view_msg *m,
                     struct buf *out);

/* Non-owners: add or remove UIDs from the user's \Seen set of the selected
 * mailbox (seen db, durable on return).  Owners change MAILBOX_FLAG_SEEN
 * with mailbox_store() instead; calling this as owner is CYRERR_BADARGS. */
int imapd_seen_change(struct imapd_session *s, const struct seqset *uids, int add)
    __attribute__((warn_unused_result));

/* imapd_report_changes flags */
#define IMAPD_REPORT_EXPUNGE 0x01  /* EXPUNGE responses may be sent */
#define IMAPD_REPORT_UID     0x02  /* unsolicited FETCH carries UID */

/* Catch the view up with the mailbox and send what changed: EXPUNGE (when
 * allowed), EXISTS, RECENT, "* n FETCH (FLAGS (...))" for flags others
 * changed.  Called by the tagged reply helpers and by IDLE; a handler
 * that changes flags itself calls mailbox_view_apply() for the records it
 * reports, so they are not reported twice.  Nothing happens when no
 * mailbox is selected.  0 or an error (a vanished mailbox: the session
 * sends BYE and ends). */
int imapd_report_changes(struct imapd_session *s, unsigned flags);
/* Turn CONDSTORE on (when `want` has IMAPD_EN_CONDSTORE) the first time,
 * sending the selected mailbox's HIGHESTMODSEQ as RFC 7162 3.1 asks. */
void imapd_enable_condstore(struct imapd_session *s, unsigned want);

/* ---- implemented by the message commands (cmd_expunge.c) ---------------- */

/* Expunge the messages with \Deleted in the selected mailbox (only those
 * among `uids_or_null` when not NULL), needs ACL_EXPUNGE (the caller has
 * checked); with send_untagged, report them as EXPUNGE responses, else
 * drop them from the view silently (CLOSE).  0 or an error. */
int imapd_expunge_deleted(struct imapd_session *s,
                          const struct tok_seqset *uids_or_null, int send_untagged)
    __attribute__((warn_unused_result));

/* ---- session and mailbox selection (cmd_select.c) ----------------------- */

/* Leave the selected mailbox (close view and handle; no expunge). */
void imapd_unselect(struct imapd_session *s);
/* IDLE is offered (imapidlepoll is not 0). */
int imapd_idle_enabled(void);

/* ---- login (cmd_auth.c) -------------------------------------------------- */

/* Record a successful login as `userid` (authenticated as `authid`): sets
 * the state, admin flags, namespace and ACL identity; logs it.  0, or an
 * error when the userid cannot be used (then the caller answers NO). */
int imapd_login_done(struct imapd_session *s, const char *userid,
                     const char *authid, const char *mech)
    __attribute__((warn_unused_result));
/* (Re)create s->sasl for the connection's current TLS state (at the
 * start and after STARTTLS).  0 or CYRERR_SASL. */
int imapd_sasl_reset(struct imapd_session *s) __attribute__((warn_unused_result));
/* The capability list for the current state, as the greeting and the
 * tagged OK of a login carry it, without "CAPABILITY" and without a
 * trailing space ("IMAP4rev1 LITERAL+ ..."); borrowed.  (The CAPABILITY
 * command adds the authenticated state's extensions before login.) */
const char *imapd_capabilities(struct imapd_session *s);

/* ---- special use (RFC 6154; cmd_metadata.c) ---------------------------- */

/* A mailbox's special use is its owner's private METADATA entry
 * IMAPD_SPECIALUSE_ENTRY: the canonical list of uses ("\Junk \Trash"),
 * set with CREATE ... (USE (...)) or SETMETADATA, shown by LIST to the
 * owner only. */
#define IMAPD_SPECIALUSE_ENTRY "/private/specialuse"
/* imapd_specialuse_* result: refused, answer NO [USEATTR] with `why`. */
#define IMAPD_SPECIALUSE_REFUSED 1

/* The canonical form of a list of uses (`len` bytes of `text`, separated
 * by spaces; the backslash may be left out; any case) into `out`: each use
 * once, spelled as registered, in the order given; empty when `text` has
 * none.  0, or IMAPD_SPECIALUSE_REFUSED with the reason in `why` (an
 * unknown use, \All or \Flagged). */
int imapd_specialuse_canon(const char *text, size_t len, struct buf *out, struct buf *why);

struct annotate;
/* May this session give mailbox `intname` the uses `canon` (canonical;
 * "" to remove them)?  Sets `owner` to the userid whose entry holds them
 * (the owner of the user tree `intname` is in).  0; IMAPD_SPECIALUSE_REFUSED
 * with `why` (not a user's mailbox; a use another mailbox of the owner
 * has); CYRERR_PERMISSION (neither the owner nor an admin); or a database
 * error. */
int imapd_specialuse_check(struct imapd_session *s, struct annotate *a,
                           const char *intname, const char *canon, struct buf *owner,
                           struct buf *why) __attribute__((warn_unused_result));

/* ---- process-wide (imapd.c) ---------------------------------------------- */

/* The TLS server context built once at start-up from imapd.conf, or NULL
 * when TLS is not configured (then STARTTLS is not offered).  The one piece
 * of process-wide state of imapd besides the configuration. */
SSL_CTX *imapd_tls_ctx(void);

/* ---- command handlers --------------------------------------------------- */

/* cmd_auth.c */
imapd_cmd_fn imapd_cmd_capability, imapd_cmd_noop, imapd_cmd_logout,
    imapd_cmd_starttls, imapd_cmd_authenticate, imapd_cmd_login,
    imapd_cmd_compress, imapd_cmd_id, imapd_cmd_enable, imapd_cmd_namespace;
/* cmd_mailbox.c */
imapd_cmd_fn imapd_cmd_create, imapd_cmd_delete, imapd_cmd_rename,
    imapd_cmd_subscribe, imapd_cmd_unsubscribe, imapd_cmd_status;
/* cmd_list.c */
imapd_cmd_fn imapd_cmd_list, imapd_cmd_lsub;
/* cmd_select.c */
imapd_cmd_fn imapd_cmd_select, imapd_cmd_close, imapd_cmd_unselect,
    imapd_cmd_check, imapd_cmd_idle;
/* cmd_acl.c */
imapd_cmd_fn imapd_cmd_setacl, imapd_cmd_deleteacl, imapd_cmd_getacl,
    imapd_cmd_listrights, imapd_cmd_myrights;
/* cmd_quota.c */
imapd_cmd_fn imapd_cmd_getquota, imapd_cmd_getquotaroot, imapd_cmd_setquota;
/* cmd_metadata.c (RFC 5464) */
imapd_cmd_fn imapd_cmd_getmetadata, imapd_cmd_setmetadata;
/* cmd_admin.c */
imapd_cmd_fn imapd_cmd_reconstruct;

/* The message commands (cmd_fetch.c, cmd_store.c, cmd_search.c,
 * cmd_copy.c, cmd_append.c, cmd_expunge.c); cmd->uid tells the UID form.
 * imapd_cmd_copy serves COPY, imapd_cmd_move MOVE (RFC 6851);
 * imapd_cmd_expunge serves EXPUNGE and UID EXPUNGE (RFC 4315). */
imapd_cmd_fn imapd_cmd_fetch, imapd_cmd_store, imapd_cmd_search,
    imapd_cmd_copy, imapd_cmd_move, imapd_cmd_expunge, imapd_cmd_append;

#endif
