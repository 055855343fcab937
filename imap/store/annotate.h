/* annotate: mailbox and server annotations, the entries of the IMAP
 * METADATA extension (RFC 5464).
 *
 * One database for the whole server, <configdirectory>/annotations.db
 * (backend from the annotation_db option), or an explicit file.  A record
 * is one entry of one mailbox as one owner sees it:
 *
 *   key    "<mailbox>\0<entry>\0<userid>"
 *   value  the entry's value (any bytes, at most ANNOTATE_VALUE_MAX)
 *
 * <mailbox> is an internal mailbox name, or "" for the server's own
 * entries.  <entry> is the entry name in its canonical form (see
 * annotate_entry_canon()): it starts with "/shared" or "/private".
 * <userid> is "" for /shared entries and the owner's userid for /private
 * ones, so that every user has private entries of their own.  The module
 * knows nothing about rights or about which entries a server offers: the
 * caller (imapd's GETMETADATA / SETMETADATA) decides that; it only keeps
 * names well formed and sizes bounded.
 *
 * Limits: an entry name is at most ANNOTATE_ENTRY_MAX bytes; a value at
 * most ANNOTATE_VALUE_MAX bytes (64 KiB); one owner (a user, or "shared")
 * has at most ANNOTATE_ENTRIES_MAX entries on one mailbox.
 *
 * Ownership: struct annotate is opaque, freed by annotate_close() (which
 * sets the pointer to NULL); strings passed in are borrowed; values are
 * copied into caller-owned struct bufs; strings given to callbacks are
 * borrowed for the call.  Errors: 0 or a negative CYRERR_*: CYRERR_BADARGS
 * (an entry name that is not well formed, a /private entry without a
 * userid), CYRERR_BADNAME (not a valid internal mailbox name),
 * CYRERR_TOOBIG (a value over ANNOTATE_VALUE_MAX), CYRERR_LIMIT (more than
 * ANNOTATE_ENTRIES_MAX entries), CYRERR_NOTFOUND, or a cyrusdb error.
 * No global state.
 */
#ifndef IMAP_STORE_ANNOTATE_H
#define IMAP_STORE_ANNOTATE_H

#include <stddef.h>

#include "buf.h"

#define ANNOTATE_FNAME "annotations.db"
#define ANNOTATE_ENTRY_MAX 1024        /* bytes of an entry name */
#define ANNOTATE_VALUE_MAX (64 * 1024) /* bytes of a value */
#define ANNOTATE_ENTRIES_MAX 1000      /* entries of one owner on one mailbox */

struct annotate;

#define ANNOTATE_CREATE 0x01 /* create the file when missing */

/* Open `fname` with `backend`; NULL for either: the configured one
 * (annotation_db, <configdirectory>/annotations.db). */
int annotate_open(const char *backend, const char *fname, int flags, struct annotate **ap)
    __attribute__((warn_unused_result));
int annotate_close(struct annotate **ap);

/* ---- entry names ---------------------------------------------------------- */

enum annotate_scope { ANNOTATE_SHARED = 1, ANNOTATE_PRIVATE = 2 };

/* Check an entry name and put its canonical form in `out`: it is
 * "/shared" or "/private" alone or followed by "/" and more components;
 * components are not empty (no "//", no trailing "/"); the bytes are
 * printable ASCII (space included) without "*" and "%"; names are
 * compared without regard to case, so the canonical form is lower case.
 * Returns the scope (ANNOTATE_SHARED or ANNOTATE_PRIVATE), or
 * CYRERR_BADARGS (not well formed) or CYRERR_TOOBIG (over
 * ANNOTATE_ENTRY_MAX), and then `out` is empty. */
int annotate_entry_canon(const char *entry, struct buf *out);

/* Number of components below the scope: "/shared" 0, "/shared/comment" 1,
 * "/shared/vendor/x/y" 3.  `entry` must be canonical. */
int annotate_entry_depth(const char *entry);

/* Is canonical `entry` equal to `base` (1), below it (its depth minus
 * base's), or neither (-1)?  Both canonical. */
int annotate_entry_below(const char *entry, const char *base);

/* ---- reading and writing ---------------------------------------------------- */

/* The value of `entry` on `mailbox` ("" for the server) for `userid`
 * (used for /private entries only; may be NULL for /shared ones) into
 * `value`.  CYRERR_NOTFOUND when it has none. */
int annotate_get(struct annotate *a, const char *mailbox, const char *entry,
                 const char *userid, struct buf *value);

/* One change of annotate_write(): value NULL removes the entry.  userid,
 * when not NULL, is the owner of this change's /private entry instead of
 * annotate_write()'s (an admin setting a user's /private/specialuse). */
struct annotate_change {
    const char *entry;
    const char *value;
    size_t len;
    const char *userid;
};

/* Apply `n` changes to the entries of `mailbox` seen by `userid` in one
 * transaction: all or none.  Removing an entry that has no value is not
 * an error.  Checks every entry name, every value's size and the number
 * of entries each owner ends up with (CYRERR_LIMIT). */
int annotate_write(struct annotate *a, const char *mailbox, const char *userid,
                   const struct annotate_change *changes, size_t n)
    __attribute__((warn_unused_result));
/* One change. */
int annotate_set(struct annotate *a, const char *mailbox, const char *entry,
                 const char *userid, const char *value, size_t len)
    __attribute__((warn_unused_result));

/* Call cb for every entry with a value on `mailbox` that is `entry` or
 * below it, at most `maxdepth` levels below (0: the entry alone; -1: any
 * depth), and that `userid` sees (the /shared ones, and its own /private
 * ones), in key order.  cb returns 0 to go on, anything else to stop
 * (returned).  The records are read first, so cb may use the database. */
typedef int annotate_foreach_cb(void *rock, const char *entry, const char *value,
                                size_t len);
int annotate_foreach(struct annotate *a, const char *mailbox, const char *entry,
                     int maxdepth, const char *userid, annotate_foreach_cb *cb,
                     void *rock);

/* ---- mailboxes and users ------------------------------------------------------ */

/* Remove every entry of `mailbox` (every owner's).  Returns the number
 * removed, or a negative error. */
int annotate_delete_mailbox(struct annotate *a, const char *mailbox);
/* A mailbox was renamed: the entries of `oldname` and of every mailbox
 * below it move to `newname` (one transaction; entries a target already
 * had are replaced).  Returns the number moved, or a negative error. */
int annotate_rename_mailbox(struct annotate *a, const char *oldname, const char *newname);
/* Remove every /private entry of `userid`, on every mailbox and the
 * server (a scan of the whole database).  Returns the number removed, or
 * a negative error. */
int annotate_delete_user(struct annotate *a, const char *userid);
/* A user was renamed: its /private entries, on every mailbox and the
 * server, belong to `newuser` now (one transaction; a scan of the whole
 * database).  Returns the number moved, or a negative error. */
int annotate_rename_user(struct annotate *a, const char *olduser, const char *newuser);

#endif
