/* lmtpd: the backend delivery agent -- what its files share (internal to
 * lmtpd; no other program includes this header).
 *
 *   lmtpd.c          main() on the service skeleton, options, the engine's
 *                    callbacks, who the sender is for ACL checks
 *   lmtpd_rcpt.c     recipient addresses -> mailbox names, mailboxes.db
 *                    lookups, the checks done at RCPT time
 *   lmtpd_deliver.c  one message to all its recipients after DATA
 *
 * Recipients (as Cyrus lmtpd): "user[+detail][@domain]".  The local part up
 * to '+' is lower-cased with lmtp_downcase_rcpt; the domain counts only with
 * virtdomains (and is dropped when it is defaultdomain).  user's INBOX must
 * exist (else 550 5.1.1).  The detail, split at the hierarchy separator, names
 * a folder below the INBOX; the message goes there when that mailbox exists
 * (lmtp_fuzzy_mailbox_match: the closest existing one) and the sender has the
 * 'p' right on it, else to the INBOX.  When the part before '+' equals the
 * postuser option (default empty: "+shared.memo"), the detail names a shared
 * mailbox, which must exist and grant the sender 'p'.
 *
 * Process-wide state (one delivery service per process): the configuration
 * read once (struct lmtpd_config) and the database handles (struct
 * lmtpd_store), both owned by lmtpd.c and passed to the other files.
 *
 * Errors: functions return 0 or a negative CYRERR_*; lmtpd_status_for()
 * turns a code into the reply sent to the client.
 */
#ifndef LMTP_LMTPD_H
#define LMTP_LMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "strarray.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"
#include "lmtp/lmtpengine.h"

struct duplicate;

/* The options lmtpd uses, read once in init. */
struct lmtpd_config {
    struct namespace ns;       /* hierarchy separator, virtdomains */
    int downcase_rcpt;         /* lmtp_downcase_rcpt */
    int fuzzy_match;           /* lmtp_fuzzy_mailbox_match */
    int over_quota_perm;       /* lmtp_over_quota_perm_failure */
    int strict_quota;          /* lmtp_strict_quota */
    int duplicate_suppression; /* duplicatesuppression */
    int single_instance;       /* singleinstancestore */
    int reject8bit;            /* reject8bit */
    const char *postuser;      /* postuser ("" by default) */
    unsigned owner_rights;     /* implicit_owner_rights */
};

void lmtpd_config_read(struct lmtpd_config *cfg);

/* The databases, opened on first use and kept for the life of the process
 * (a handle that failed is opened again next time). */
struct lmtpd_store {
    struct mboxlist *ml;
    struct duplicate *dup;
    int dup_failed;            /* logged once */
};

int lmtpd_store_mboxlist(struct lmtpd_store *st, struct mboxlist **ml_r)
    __attribute__((warn_unused_result));
/* NULL when the duplicate database cannot be opened (delivery goes on
 * without suppression). */
struct duplicate *lmtpd_store_duplicate(struct lmtpd_store *st);
void lmtpd_store_close(struct lmtpd_store *st);

/* ---- recipients (lmtpd_rcpt.c) ------------------------------------------ */

/* A recipient address resolved to mailbox names. */
struct lmtpd_addr {
    char *userid;        /* "alice" or "alice@example.org"; NULL: shared */
    char *inbox;         /* user's INBOX (internal name); NULL: shared */
    char *target;        /* the detail mailbox: user.alice.lists or
                            shared.memo; NULL when there is no usable detail */
    struct strarray boxes;  /* the detail's components, internal form */
    char *domain;        /* virtual domain, or NULL */
};

/* Parse `rcpt` (as in RCPT TO, without <>).  CYRERR_MAILBOX_NONEXISTENT
 * when it cannot name any mailbox (bad local part, shared address without
 * a detail). */
int lmtpd_addr_parse(const struct lmtpd_config *cfg, const char *rcpt,
                     struct lmtpd_addr *a) __attribute__((warn_unused_result));
void lmtpd_addr_fini(struct lmtpd_addr *a);

/* Who sends: ACL checks are made for this identity. */
struct lmtpd_sender {
    const char *userid;  /* NULL or "anonymous" for anonymous */
};

/* Look up mailbox `name` for delivery: 0 with *e filled (free it with
 * mboxlist_entry_free) for a local mailbox; CYRERR_MAILBOX_NONEXISTENT (no
 * entry, tombstone), CYRERR_MAILBOX_RESERVED, CYRERR_MAILBOX_MOVED (being
 * moved away), CYRERR_MAILBOX_NOTSUPPORTED (remote entry), or a database
 * error.  With `sender`, also check the 'p' right: CYRERR_PERMISSION when
 * the sender may see the mailbox but not post, CYRERR_MAILBOX_NONEXISTENT
 * when it may not even see it. */
int lmtpd_lookup(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                 const char *name, const struct lmtpd_sender *sender,
                 struct mboxlist_entry *e) __attribute__((warn_unused_result));

/* Is the quota root governing `name` full (lmtp_strict_quota: would
 * `size` more bytes exceed it)?  0 or CYRERR_QUOTA_EXCEEDED. */
int lmtpd_quota_full(const struct lmtpd_config *cfg, const char *name,
                     uint64_t size);

/* The RCPT TO checks: the INBOX (or shared mailbox) exists here, is not
 * reserved or moving, is not over quota (unless IGNOREQUOTA) and, for a
 * shared mailbox and when `sender` is given, grants 'p'.  Sets *status. */
void lmtpd_verify_rcpt(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                       const struct lmtpd_addr *a, const struct lmtpd_sender *sender,
                       int ignorequota, struct lmtp_status *status);

/* The mailbox a message for `a` goes to, for `sender`: the detail mailbox
 * when it exists and grants 'p' (fuzzy match when configured), else the
 * INBOX.  *name_r (caller frees) and *e (free with mboxlist_entry_free) are
 * set on success; errors as lmtpd_lookup() for the final mailbox. */
int lmtpd_resolve(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                  const struct lmtpd_addr *a, const struct lmtpd_sender *sender,
                  char **name_r, struct mboxlist_entry *e)
    __attribute__((warn_unused_result));

/* The reply for error `r` (0: 250 2.1.5).  `shared`: the recipient is a
 * shared mailbox (the text says "Mailbox unknown" instead of "User
 * unknown"). */
void lmtpd_status_for(const struct lmtpd_config *cfg, int r, int shared,
                      struct lmtp_status *st);

/* ---- delivery (lmtpd_deliver.c) ----------------------------------------- */

struct lmtp_rcpt_data {
    struct lmtpd_addr addr;
};

/* Deliver `msg` to every recipient (msg->rcpts[i]->data set by RCPT) and
 * set results[i]; a 250 is set only once the message is durable in that
 * recipient's mailbox. */
void lmtpd_deliver(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                   const struct lmtp_message *msg, const struct lmtpd_sender *sender,
                   struct lmtp_status *results);

#endif
