/* mboxlist: the list of mailboxes (mailboxes.db) over cyrusdb.
 *
 * One record per mailbox, keyed by its internal name (mboxname.h), in a
 * CYRUSDB_MBOXSORT database so a mailbox's children follow it.  A record
 * says what kind of entry it is, where the mailbox lives, its ACL and its
 * unique id:
 *
 *   local       a mailbox in this server's store (backends, standalone)
 *   REMOTE      a mailbox on `server` (a frontend's copy, fed by mupdate)
 *   RESERVED    a name held while it is being created or moved in
 *   MOVING      a local mailbox being moved to `server`
 *   DELETED     a tombstone
 *
 * Stored value (text, one line, version 1):
 *   "v=1 t=<type> [s=<server>] p=<partition> [u=<uniqueid>] [k=v ...] acl=<acl>"
 * where <type> is "l" (local) or letters from "Rrmd" (remote, reserved,
 * moving, deleted) and <acl> is the Cyrus ACL string to the end of the
 * value.  Fields this version does not know are kept (entry->extra) and
 * written back unchanged, so later versions can add fields.
 *
 * The module never talks to mupdate: a caller that must keep the murder in
 * step wraps the steps (mboxlist_reserve, mboxlist_activate,
 * mboxlist_unreserve, mboxlist_update, mboxlist_remove) with RESERVE,
 * ACTIVATE and DELETE.  High-level helpers (create, rename, setacl) do
 * local work only, each in one transaction.
 *
 * Ownership: an entry filled by this module owns its strings (free with
 * mboxlist_entry_free()); callback entries are borrowed for the call.
 * Errors: CYRERR_MAILBOX_NONEXISTENT, CYRERR_MAILBOX_EXISTS,
 * CYRERR_MAILBOX_RESERVED, CYRERR_BADNAME, CYRERR_BADARGS (bad field),
 * CYRERR_CORRUPT (unreadable record), CYRERR_PARSE (bad dump line), or a
 * cyrusdb error (CYRERR_IO, CYRERR_DEADLOCK: see cyrusdb.h).  A callback's
 * non-zero return stops an iteration and is returned.  No global state:
 * every call goes through a struct mboxlist handle.
 */
#ifndef IMAP_STORE_MBOXLIST_H
#define IMAP_STORE_MBOXLIST_H

#include <stdio.h>

#include "buf.h"
#include "cyrusdb.h"
#include "imap/store/acl.h"
#include "imap/store/namespace.h"

#define MBOXLIST_REMOTE   0x01u
#define MBOXLIST_RESERVED 0x02u
#define MBOXLIST_MOVING   0x04u
#define MBOXLIST_DELETED  0x08u
#define MBOXLIST_TYPEMASK 0x0fu

/* The database file under configdirectory. */
#define MBOXLIST_FNAME "mailboxes.db"

struct mboxlist_entry {
    char *name;        /* internal name */
    unsigned type;     /* MBOXLIST_* flags; 0 = local */
    char *server;      /* REMOTE/MOVING: the server; NULL otherwise */
    char *partition;   /* partition name */
    char *uniqueid;    /* may be NULL (entries learnt from mupdate) */
    char *acl;         /* Cyrus ACL string; never NULL in a stored entry */
    char *extra;       /* unknown "k=v" fields, kept verbatim; or NULL */
};

#define MBOXLIST_ENTRY_INITIALIZER { NULL, 0, NULL, NULL, NULL, NULL, NULL }

void mboxlist_entry_free(struct mboxlist_entry *e);
void mboxlist_entry_copy(struct mboxlist_entry *dst, const struct mboxlist_entry *src);
/* Check every field (name, partition/server syntax, ACL).  0 or an error. */
int mboxlist_entry_check(const struct mboxlist_entry *e)
    __attribute__((warn_unused_result));
/* The stored value of an entry (replaces the contents of `out`). */
void mboxlist_entry_format(const struct mboxlist_entry *e, struct buf *out);
/* Parse a stored value for mailbox `name` into an empty entry.
 * CYRERR_CORRUPT when the value is not understood. */
int mboxlist_entry_parse(const char *name, const char *value, size_t len,
                         struct mboxlist_entry *e)
    __attribute__((warn_unused_result));

/* "server!partition" <-> server and partition.  Without '!' the whole text
 * is the partition and *server is NULL.  The caller frees the results. */
int mboxlist_parse_location(const char *loc, char **server, char **partition)
    __attribute__((warn_unused_result));
/* "server!partition" of an entry; a local entry uses `localserver`. */
void mboxlist_entry_location(const struct mboxlist_entry *e,
                             const char *localserver, struct buf *out);

/* A fresh unique id: 32 lower-case hex digits (16 random bytes). */
char *mboxlist_make_uniqueid(void);

/* ---- the database ------------------------------------------------------- */

struct mboxlist;

/* Open `fname` with cyrusdb backend `backend` ("berkeley", "flat"); flags
 * are CYRUSDB_CREATE / CYRUSDB_READONLY (MBOXSORT is always added). */
int mboxlist_open(const char *backend, const char *fname, int flags,
                  struct mboxlist **mlp) __attribute__((warn_unused_result));
/* <configdirectory>/mailboxes.db with the mboxlist_db backend. */
int mboxlist_open_config(int flags, struct mboxlist **mlp)
    __attribute__((warn_unused_result));
int mboxlist_close(struct mboxlist *ml);

int mboxlist_begin(struct mboxlist *ml, struct cyrusdb_txn **txnp)
    __attribute__((warn_unused_result));
int mboxlist_commit(struct mboxlist *ml, struct cyrusdb_txn *txn)
    __attribute__((warn_unused_result));
int mboxlist_abort(struct mboxlist *ml, struct cyrusdb_txn *txn);

/* ---- single records (txn may be NULL) ----------------------------------- */

/* Any entry, whatever its type. */
int mboxlist_lookup(struct mboxlist *ml, const char *name,
                    struct mboxlist_entry *e, struct cyrusdb_txn *txn)
    __attribute__((warn_unused_result));
/* Only a usable mailbox: CYRERR_MAILBOX_RESERVED for a reservation,
 * CYRERR_MAILBOX_NONEXISTENT for a tombstone or no entry.  e may be NULL. */
int mboxlist_lookup_usable(struct mboxlist *ml, const char *name,
                           struct mboxlist_entry *e)
    __attribute__((warn_unused_result));
/* Add; CYRERR_MAILBOX_EXISTS when the name has any entry. */
int mboxlist_insert(struct mboxlist *ml, const struct mboxlist_entry *e,
                    struct cyrusdb_txn *txn) __attribute__((warn_unused_result));
/* Replace; CYRERR_MAILBOX_NONEXISTENT when there is no entry. */
int mboxlist_update(struct mboxlist *ml, const struct mboxlist_entry *e,
                    struct cyrusdb_txn *txn) __attribute__((warn_unused_result));
/* Add or replace (a mupdate slave's write). */
int mboxlist_store(struct mboxlist *ml, const struct mboxlist_entry *e,
                   struct cyrusdb_txn *txn) __attribute__((warn_unused_result));
/* Drop the entry; CYRERR_MAILBOX_NONEXISTENT when there is none. */
int mboxlist_remove(struct mboxlist *ml, const char *name,
                    struct cyrusdb_txn *txn) __attribute__((warn_unused_result));

/* ---- the steps a mupdate hook wraps ------------------------------------- */

/* Hold `name` on `partition` (and `server`, for a remote reservation):
 * CYRERR_MAILBOX_EXISTS when the name has any entry. */
int mboxlist_reserve(struct mboxlist *ml, const char *name, const char *server,
                     const char *partition, struct cyrusdb_txn *txn)
    __attribute__((warn_unused_result));
/* Turn the reservation of e->name into entry `e` (not itself reserved):
 * CYRERR_MAILBOX_NONEXISTENT without an entry, CYRERR_MAILBOX_EXISTS when
 * the entry is not a reservation. */
int mboxlist_activate(struct mboxlist *ml, const struct mboxlist_entry *e,
                      struct cyrusdb_txn *txn) __attribute__((warn_unused_result));
/* Drop a reservation (a failed create); CYRERR_MAILBOX_EXISTS when the
 * entry is not a reservation. */
int mboxlist_unreserve(struct mboxlist *ml, const char *name,
                       struct cyrusdb_txn *txn) __attribute__((warn_unused_result));

/* ---- high-level operations, each one transaction ------------------------ */

/* The ACL a new mailbox gets: a user's INBOX (or a folder in a user tree
 * with no existing ancestor) gives the owner every right; otherwise the
 * ACL of the nearest existing ancestor; otherwise `defaultacl` (the
 * option's syntax: "anyone lrs").  Replaces the contents of `acl`. */
int mboxlist_default_acl(struct mboxlist *ml, const char *name,
                         const char *defaultacl, struct buf *acl)
    __attribute__((warn_unused_result));
/* Create a local entry.  acl NULL: mboxlist_default_acl() with `defaultacl`;
 * uniqueid NULL: a fresh one.  The created entry is copied to `out` when
 * not NULL.  Parent checks and permissions are the caller's. */
int mboxlist_create(struct mboxlist *ml, const char *name, const char *partition,
                    const char *acl, const char *defaultacl, const char *uniqueid,
                    struct mboxlist_entry *out) __attribute__((warn_unused_result));
/* Remove an entry of any type. */
int mboxlist_delete(struct mboxlist *ml, const char *name)
    __attribute__((warn_unused_result));

/* Called after a rename commits, once per moved entry, parents first. */
typedef int mboxlist_rename_cb(void *rock, const struct mboxlist_entry *oldentry,
                               const struct mboxlist_entry *newentry);
/* Rename `oldname` and everything below it to `newname` (RFC 3501 RENAME
 * moves inferiors too), atomically.  newpartition NULL keeps each entry's
 * partition.  Renaming one user's INBOX to another's (user.a -> user.b)
 * also renames the owner's identifier "a" to "b" in every moved ACL.
 * Refused: a missing source (NONEXISTENT), an existing target or target
 * child (EXISTS), a reservation in the subtree (RESERVED), a target below
 * the source or an invalid name (BADNAME). */
int mboxlist_rename(struct mboxlist *ml, const char *oldname, const char *newname,
                    const char *newpartition, mboxlist_rename_cb *cb, void *rock)
    __attribute__((warn_unused_result));
/* SETACL/DELETEACL on one mailbox: `rights` as in acl_string_set(). */
int mboxlist_setacl(struct mboxlist *ml, const char *name, const char *identifier,
                    const char *rights) __attribute__((warn_unused_result));
/* Replace the whole ACL (validated). */
int mboxlist_set_aclstring(struct mboxlist *ml, const char *name, const char *acl)
    __attribute__((warn_unused_result));

/* ---- listing ------------------------------------------------------------ */

typedef int mboxlist_foreach_cb(void *rock, const struct mboxlist_entry *e);
/* Every entry whose name starts with `prefix` ("" for all), in name order.
 * Records that cannot be parsed are logged and skipped. */
int mboxlist_foreach(struct mboxlist *ml, const char *prefix,
                     mboxlist_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn);
/* `name` and every mailbox below it. */
int mboxlist_foreach_subtree(struct mboxlist *ml, const char *name,
                             mboxlist_foreach_cb *cb, void *rock,
                             struct cyrusdb_txn *txn);

#define MBOXLIST_FIND_RESERVED 0x01   /* also list reservations */
#define MBOXLIST_FIND_DELETED  0x02   /* also list tombstones */

typedef int mboxlist_find_cb(void *rock, const struct mboxlist_entry *e,
                             const char *extname, unsigned myrights);
/* LIST: every mailbox whose external name (for who->userid in `ns`)
 * matches `pattern` and on which `who` holds all of `need` (0: ACL_LOOKUP).
 * The user's own INBOX tree comes first, then the rest in name order.
 * `owner_rights` are the implicit rights of owners (implicit_owner_rights). */
int mboxlist_findall(struct mboxlist *ml, const struct namespace *ns,
                     const struct acl_identity *who, unsigned owner_rights,
                     const char *pattern, unsigned need, int flags,
                     mboxlist_find_cb *cb, void *rock);

/* ---- dump / undump (ctl_mboxlist -d / -u) -------------------------------- */

/* One line per entry: "<name> TAB <stored value> LF", in name order.  Only
 * names starting with `prefix` (NULL or "" for all). */
int mboxlist_dump(struct mboxlist *ml, const char *prefix, FILE *out)
    __attribute__((warn_unused_result));
/* Read lines written by mboxlist_dump and store them (replacing entries of
 * the same name), in transactions of a few hundred lines.  A line that is
 * not valid stops the load with CYRERR_PARSE; its number is put in *lineno
 * (when not NULL), and earlier lines stay stored. */
int mboxlist_undump(struct mboxlist *ml, FILE *in, long *lineno)
    __attribute__((warn_unused_result));

#endif
