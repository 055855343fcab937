/* msgutil: helpers shared by the message commands of imapd (FETCH, STORE,
 * SEARCH, COPY/MOVE, APPEND, EXPUNGE); not used by the rest of imapd.
 *
 *   - the index record of a message of the view (the view's record number,
 *     checked against the UID, with a search by UID as the fallback);
 *   - a message file's bytes: small files are read into a reusable buffer
 *     with one pread, large ones are mapped (struct msgutil_file);
 *   - flag names <-> MAILBOX_FLAG_* bits, flag lists as STORE and APPEND
 *     read them;
 *   - UID lists in IMAP sequence-set form (COPYUID, APPENDUID);
 *   - \Seen for messages a command puts into a mailbox (APPEND, COPY):
 *     in the index for the owner, in the user's seen database otherwise.
 *
 * Ownership: a struct msgutil_file and a struct msgutil_flags own their
 * memory (msgutil_file_fini, msgutil_flags_fini).  Errors: 0 or a negative
 * CYRERR_* (lib/error.h).
 */
#ifndef IMAP_IMAPD_MSGUTIL_H
#define IMAP_IMAPD_MSGUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "strarray.h"
#include "imap/imapd/imapd.h"
#include "imap/store/mailbox.h"
#include "imap/store/seqset.h"

/* ---- records -------------------------------------------------------------- */

/* The record of view message `m` of `mb` (a lock must be held).
 * CYRERR_NOTFOUND when the record is gone. */
int msgutil_record(struct mailbox *mb, const struct mailbox_view_msg *m,
                   struct mailbox_record *rec) __attribute__((warn_unused_result));

/* ---- message files --------------------------------------------------------- */

/* Files up to this size are read into memory; larger ones are mapped. */
#define MSGUTIL_READ_MAX (128 * 1024)

struct msgutil_file {
    const char *base;          /* the message bytes (borrowed) */
    size_t len;
    void *map;                 /* mapping, or NULL */
    size_t maplen;
    struct buf data;           /* read buffer, reused */
    struct buf path;
};
#define MSGUTIL_FILE_INITIALIZER { NULL, 0, NULL, 0, BUF_INITIALIZER, BUF_INITIALIZER }

/* Make f->base/f->len the message file of `uid` (any previous one is
 * released).  CYRERR_MESSAGE_NONEXISTENT when the file is gone, CYRERR_IO. */
int msgutil_file_open(struct msgutil_file *f, const struct mailbox *mb, uint32_t uid)
    __attribute__((warn_unused_result));
/* Release the mapping (keeps the buffers for reuse). */
void msgutil_file_release(struct msgutil_file *f);
void msgutil_file_fini(struct msgutil_file *f);

/* ---- flags ------------------------------------------------------------------ */

/* MAILBOX_FLAG_* bit of a system flag name ("\Seen", any case), 0 when the
 * name is not one. */
uint32_t msgutil_system_flag(const char *name);

/* A flag list as a client wrote it. */
struct msgutil_flags {
    uint32_t system;           /* MAILBOX_FLAG_* named */
    struct strarray keywords;  /* keyword names (no duplicates, any case) */
    int recent;                /* \Recent was named (ignored: read-only) */
};
#define MSGUTIL_FLAGS_INITIALIZER { 0, STRARRAY_INITIALIZER, 0 }
void msgutil_flags_fini(struct msgutil_flags *fl);

/* Add one flag name to `fl`: 0, or CYRERR_PARSE with the BAD text set for
 * an unknown "\" flag or an invalid keyword. */
int msgutil_flags_add(struct imapd_session *s, struct msgutil_flags *fl,
                      const char *name) __attribute__((warn_unused_result));

/* Read "(" flag *(SP flag) ")" -- the "(" not yet consumed -- and return
 * the character after ")" (or a negative code). */
int msgutil_read_flaglist(struct imapd_session *s, struct msgutil_flags *fl);

/* ---- UID sets ---------------------------------------------------------------- */

/* Append the UIDs (in the order given, runs of consecutive ascending UIDs
 * as "a:b") to `out`: "4,7:9". */
void msgutil_format_uids(const uint32_t *uids, size_t n, struct buf *out);

/* ---- \Seen in a mailbox other than through the view --------------------------- */

/* Does this user keep \Seen of mailbox `mb` (named `intname`) in its
 * index (the owner)? */
int msgutil_seen_in_index(struct imapd_session *s, const struct mailbox *mb,
                          const char *intname);

/* Mark `uids` of mailbox `mb` (named `intname`) \Seen for this user in
 * the seen database, when the user is not its owner (the owner's \Seen
 * goes into the index with the append itself); for the selected mailbox
 * the session's seen set is kept current. */
int msgutil_seen_add(struct imapd_session *s, struct mailbox *mb, const char *intname,
                     const struct seqset *uids) __attribute__((warn_unused_result));

#endif
