/* imapd_mbox: mailbox creation and removal shared by imapd's CREATE,
 * DELETE and RENAME (cmd_mailbox.c, cmd_rename.c).  Private to
 * imap/imapd: the message commands use imapd.h only.
 *
 * Every function returns 0 or a negative CYRERR_*; nothing is sent to
 * the client.  Mailbox names are internal names.
 */
#ifndef IMAP_IMAPD_IMAPD_MBOX_H
#define IMAP_IMAPD_IMAPD_MBOX_H

#include "buf.h"
#include "imap/imapd/imapd.h"

/* May this session create `name`?  Checks that no entry of that name
 * exists (CYRERR_MAILBOX_EXISTS), that a user's INBOX is created only by
 * an admin, and that the nearest existing ancestor grants ACL_CREATE (a
 * name without one: admins only) -- CYRERR_PERMISSION.  `partition` is
 * the partition asked for (admins only) or NULL; the partition to use is
 * put in `part_out` (the asked one, else the ancestor's, else
 * defaultpartition); CYRERR_PARTITION_UNKNOWN for one not configured.
 * `ignore` (may be NULL) names a subtree treated as absent when looking
 * for ancestors (the source of a RENAME). */
int imapd_mbox_create_check(struct imapd_session *s, const char *name,
                            const char *partition, const char *ignore,
                            struct buf *part_out)
    __attribute__((warn_unused_result));

/* Create `name` on `partition`: reserve the name in mailboxes.db, create
 * the mailbox files (with the quota root that governs the name), then
 * activate the entry with the default ACL.  Undone on failure. */
int imapd_mbox_create(struct imapd_session *s, const char *name, const char *partition)
    __attribute__((warn_unused_result));

/* Remove one mailbox: its entry, then its files; its quota usage is given
 * back and a quota root of that name is removed. */
int imapd_mbox_delete_one(struct imapd_session *s, const struct mboxlist_entry *e)
    __attribute__((warn_unused_result));

/* Changes to the mailbox list (CREATE, DELETE, RENAME, SETACL) must reach
 * the mupdate master before the client is told OK (DESIGN.md 1).  Until
 * imapd has a mupdate client, a backend with mupdate_server set refuses
 * them: CYRERR_SERVER_UNAVAILABLE (logged); 0 otherwise. */
int imapd_mbox_murder_check(struct imapd_session *s) __attribute__((warn_unused_result));

/* Strip one trailing hierarchy separator from an external name (RFC 3501
 * 6.3.3) in place. */
void imapd_mbox_strip_sep(struct imapd_session *s, struct buf *extname);

#endif
