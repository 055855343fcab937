/* quota_fix: recompute quota usage from the mailboxes (quota -f).
 *
 * Usage in the quota database is kept incrementally by the mailbox code;
 * when it has drifted (a crash between an index commit and the quota
 * update, a root created over existing mailboxes, a restored backup), this
 * walks mailboxes.db and the mailboxes themselves and puts it right:
 *
 *   - every local mailbox whose name starts with one of the prefixes is
 *     opened; its governing root is the nearest quota root above it (the
 *     mailbox itself, an ancestor, or its domain's root "example.org!"),
 *     and when the root recorded in its cyrus.header differs, the header is
 *     corrected (ROOT event);
 *   - every quota root whose name starts with one of the prefixes gets the
 *     sum of the bytes and message counts of the mailboxes it governs, and
 *     where that differs from what was stored the stored usage is replaced
 *     (USAGE event, one per resource).
 *
 * A mailbox that cannot be opened is reported (ERROR event) and its root is
 * left unchanged.  Usage changed by deliveries while the walk runs may be
 * off by those deliveries: run it when the server is quiet, or again.
 *
 * The quota database is the process-wide one of quota.h; mailboxes are
 * opened with mailbox_open() (partitions from the configuration).  Events
 * point at borrowed strings valid for the call.  Returns 0, or the first
 * error met (the walk goes on after a mailbox error).
 */
#ifndef IMAP_STORE_QUOTA_FIX_H
#define IMAP_STORE_QUOTA_FIX_H

#include "strarray.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"

enum quota_fix_kind {
    QUOTA_FIX_ROOT,        /* mailbox's recorded root changed */
    QUOTA_FIX_USAGE,       /* a root's stored usage changed */
    QUOTA_FIX_ERROR        /* a mailbox or root could not be handled */
};

struct quota_fix_event {
    enum quota_fix_kind kind;
    const char *mailbox;           /* ROOT, ERROR (NULL for a root's error) */
    const char *root;              /* ROOT: new root or NULL; USAGE, ERROR */
    const char *oldroot;           /* ROOT: previous root or NULL */
    enum quota_resource resource;  /* USAGE */
    long long oldvalue, newvalue;  /* USAGE: bytes or messages */
    int error;                     /* ERROR */
};

typedef void quota_fix_cb(void *rock, const struct quota_fix_event *ev);

/* Fix the roots and mailboxes under `prefixes` (internal names or name
 * prefixes; NULL or empty: everything).  cb may be NULL. */
int quota_fix(struct mboxlist *ml, const struct strarray *prefixes, quota_fix_cb *cb,
              void *rock) __attribute__((warn_unused_result));

#endif
