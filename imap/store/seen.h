/* seen: which messages a user has read, per mailbox.
 *
 * Each user has one seen database (backend from the seenstate_db option)
 * at <configdirectory>/user/<h>/<userid>.seen (see userfile.h for the
 * layout, virtual domains included).  It holds one record per mailbox the
 * user has read, keyed by the mailbox's unique id (so a renamed mailbox
 * keeps its seen state):
 *
 *   "1 <lastread> <lastuid> <lastchange> <uids>"
 *
 * lastread: when the user last looked at the mailbox (seconds since the
 * epoch); lastuid: the highest UID the user has been shown (for \Recent);
 * lastchange: when the seen set last changed; uids: the seen UIDs as a
 * canonical sequence set ("1:5,7,9:12", see seqset.h), possibly empty.
 *
 * Changes that depend on the stored value (adding or removing UIDs) are one
 * read-modify-write transaction, retried on deadlock, so that two sessions
 * of the same user never lose each other's changes.
 *
 * Ownership: struct seen is opaque, freed by seen_close() (which sets the
 * pointer to NULL); struct seen_data owns its seqset (seen_data_free()).
 * Errors: 0 or a negative CYRERR_*: CYRERR_INVALID_USER (userid unusable as
 * a file name), CYRERR_BADARGS (empty unique id), CYRERR_NOTFOUND (no seen
 * file and no SEEN_CREATE), CYRERR_CORRUPT (a record that does not parse),
 * or a cyrusdb error.  No global state.
 */
#ifndef IMAP_STORE_SEEN_H
#define IMAP_STORE_SEEN_H

#include <stdint.h>
#include <time.h>

#include "imap/store/seqset.h"

#define SEEN_SUFFIX "seen"
#define SEEN_UNIQUEID_MAX 255      /* bytes of a key */

struct seen;

struct seen_data {
    time_t lastread;
    uint32_t lastuid;
    time_t lastchange;
    struct seqset uids;
};

#define SEEN_DATA_INITIALIZER { 0, 0, 0, SEQSET_INITIALIZER }

void seen_data_init(struct seen_data *sd);
void seen_data_free(struct seen_data *sd);

/* open flags */
#define SEEN_CREATE 0x01           /* create the file when missing */

/* Open `userid`'s seen database at its configured place. */
int seen_open(const char *userid, int flags, struct seen **sp)
    __attribute__((warn_unused_result));
/* Open an explicit file with an explicit backend (NULL: seenstate_db). */
int seen_open_file(const char *backend, const char *fname, int flags, struct seen **sp)
    __attribute__((warn_unused_result));
/* Close and free; NULL is fine. */
int seen_close(struct seen **sp);

/* The record of a mailbox.  A mailbox never read gives 0 and empty data
 * (all zero, no UIDs).  `sd` is replaced. */
int seen_read(struct seen *s, const char *uniqueid, struct seen_data *sd)
    __attribute__((warn_unused_result));
/* Replace the record. */
int seen_write(struct seen *s, const char *uniqueid, const struct seen_data *sd)
    __attribute__((warn_unused_result));
/* Merge `uids` into / take them out of the seen set, atomically; lastchange
 * becomes `now` when the set changed.  Other fields are kept (a missing
 * record starts empty).  `out` (may be NULL) receives the record as
 * stored.  */
int seen_add_uids(struct seen *s, const char *uniqueid, const struct seqset *uids,
                  time_t now, struct seen_data *out) __attribute__((warn_unused_result));
int seen_remove_uids(struct seen *s, const char *uniqueid, const struct seqset *uids,
                     time_t now, struct seen_data *out)
    __attribute__((warn_unused_result));
/* Forget a mailbox (it was deleted); CYRERR_NOTFOUND when it had none. */
int seen_delete_mailbox(struct seen *s, const char *uniqueid)
    __attribute__((warn_unused_result));

/* Every record, in unique id order.  The records are read first, so cb may
 * change the database; a non-zero return from cb stops and is returned.
 * Records that do not parse are logged and skipped. */
typedef int seen_foreach_cb(void *rock, const char *uniqueid, const struct seen_data *sd);
int seen_foreach(struct seen *s, seen_foreach_cb *cb, void *rock);

/* The text form of a record (for tools and tests): replaces `out`. */
void seen_data_format(const struct seen_data *sd, struct buf *out);
int seen_data_parse(const char *value, size_t len, struct seen_data *sd)
    __attribute__((warn_unused_result));

/* ---- whole users ----------------------------------------------------------- */

/* Path of `userid`'s seen file (replaces `path`). */
int seen_path(const char *userid, struct buf *path) __attribute__((warn_unused_result));
/* Remove the user's seen file (the user was deleted); 0 also when there
 * was none.  No handle may be open on it. */
int seen_delete_user(const char *userid) __attribute__((warn_unused_result));
/* Move the seen state of `olduser` to `newuser` (a user rename): records
 * are copied into the new user's file (replacing ones with the same key)
 * and the old file is removed.  0 also when the old user had none. */
int seen_rename_user(const char *olduser, const char *newuser)
    __attribute__((warn_unused_result));

#endif
