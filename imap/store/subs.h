/* subs: a user's mailbox subscriptions (IMAP SUBSCRIBE / LSUB).
 *
 * Each user has one subscription database (backend from the
 * subscription_db option, flat by default) at
 * <configdirectory>/user/<h>/<userid>.sub (userfile.h).  Keys are internal
 * mailbox names (mboxname.h), values are empty; the database is ordered as
 * mailbox names (CYRUSDB_MBOXSORT), so a list comes out with each mailbox's
 * children right after it.  A subscription may name a mailbox that does
 * not exist (RFC 3501 6.3.6): this module does not look at mailboxes.db.
 *
 * Ownership: struct subs is opaque, freed by subs_close() (which sets the
 * pointer to NULL); lists are appended to a caller-owned strarray.
 * Errors: 0 or a negative CYRERR_*: CYRERR_INVALID_USER, CYRERR_BADNAME (not
 * a valid internal name), CYRERR_NOTFOUND (not subscribed; no file and no
 * SUBS_CREATE), or a cyrusdb error.  No global state.
 */
#ifndef IMAP_STORE_SUBS_H
#define IMAP_STORE_SUBS_H

#include "buf.h"
#include "strarray.h"

#define SUBS_SUFFIX "sub"

struct subs;

#define SUBS_CREATE 0x01           /* create the file when missing */

/* Open `userid`'s subscriptions at their configured place. */
int subs_open(const char *userid, int flags, struct subs **sp)
    __attribute__((warn_unused_result));
/* An explicit file and backend (NULL: subscription_db). */
int subs_open_file(const char *backend, const char *fname, int flags, struct subs **sp)
    __attribute__((warn_unused_result));
int subs_close(struct subs **sp);

/* Subscribe (0 also when already subscribed) / unsubscribe
 * (CYRERR_NOTFOUND when not subscribed). */
int subs_add(struct subs *s, const char *mboxname) __attribute__((warn_unused_result));
int subs_remove(struct subs *s, const char *mboxname) __attribute__((warn_unused_result));
/* 1 when subscribed, 0 when not, or a negative error. */
int subs_is_subscribed(struct subs *s, const char *mboxname);

/* Append the subscribed names starting with `prefix` (NULL or "" for all)
 * to `out`, in mailbox order. */
int subs_list(struct subs *s, const char *prefix, struct strarray *out)
    __attribute__((warn_unused_result));

/* A mailbox was renamed: `oldname` and every subscribed name below it move
 * to `newname` (one transaction).  Returns the number of subscriptions
 * moved, or a negative error. */
int subs_rename_mailbox(struct subs *s, const char *oldname, const char *newname);

/* ---- whole users ----------------------------------------------------------- */

int subs_path(const char *userid, struct buf *path) __attribute__((warn_unused_result));
/* Remove the user's file (0 also when there was none). */
int subs_delete_user(const char *userid) __attribute__((warn_unused_result));
/* A user rename: the subscriptions of `olduser` go to `newuser`, with the
 * old user's own mailboxes (its INBOX and below) renamed to the new user's
 * INBOX; the old file is removed.  0 also when the old user had none. */
int subs_rename_user(const char *olduser, const char *newuser)
    __attribute__((warn_unused_result));

#endif
