/* quota: quota roots, usage and limits (RFC 2087 / RFC 9208 STORAGE and
 * MESSAGE), kept in the quota database (<configdirectory>/quotas.db, backend
 * from the quota_db option).
 *
 * A quota root is a mailbox name (e.g. "user.alice"); it governs that mailbox
 * and every mailbox below it that has no nearer root.  Usage is kept up to
 * date incrementally: the mailbox code calls quota_update_used() in the same
 * critical section (under the mailbox lock) in which it appends or expunges,
 * after quota_check() said the append fits.  `quota -f` recomputes usage from
 * the mailboxes when it has drifted.
 *
 * Units: used[QUOTA_STORAGE] is in bytes; limit[QUOTA_STORAGE] is in KiB, as
 * IMAP speaks it.  MESSAGE usage and limit are counts.  QUOTA_UNLIMITED (-1)
 * means no limit for that resource.
 *
 * The database handle is process-wide, opened by quota_open() (or lazily on
 * first use with the configured path) and closed by quota_close().
 * Functions return 0 or a negative CYRERR_* (CYRERR_QUOTAROOT_NONEXISTENT,
 * CYRERR_QUOTA_EXCEEDED, CYRERR_IO, ...).
 *
 * (API fixed by the lead so the mailbox code and the quota code can be
 * written in parallel; quota.c may add functions but keeps these.)
 */
#ifndef IMAP_STORE_QUOTA_H
#define IMAP_STORE_QUOTA_H

enum quota_resource {
    QUOTA_STORAGE = 0,
    QUOTA_MESSAGE = 1,
    QUOTA_NUMRESOURCES
};

#define QUOTA_UNLIMITED (-1LL)

struct quota {
    char *root;                                /* owned */
    long long used[QUOTA_NUMRESOURCES];        /* bytes, messages */
    long long limit[QUOTA_NUMRESOURCES];       /* KiB, messages; or QUOTA_UNLIMITED */
};

/* Open the quota database at `path` (NULL: <configdirectory>/quotas.db with
 * the quota_db backend).  quota_close() closes it. */
int quota_open(const char *path);
void quota_close(void);

void quota_init(struct quota *q, const char *root);
void quota_free(struct quota *q);

/* Read a root's limits and usage; CYRERR_QUOTAROOT_NONEXISTENT if none. */
int quota_read(const char *root, struct quota *q);
/* Create or change a root's limits (QUOTA_UNLIMITED removes one limit);
 * usage is kept.  quota_delete() removes the root. */
int quota_setlimits(const char *root, const long long limit[QUOTA_NUMRESOURCES]);
int quota_delete(const char *root);

/* The quota root governing mailbox `mboxname` (the mailbox itself or its
 * nearest ancestor that is a root), as a new string; NULL when none. */
char *quota_findroot(const char *mboxname);

/* Would adding delta bytes/messages exceed a limit?  0 or
 * CYRERR_QUOTA_EXCEEDED.  Negative deltas always fit. */
int quota_check(const struct quota *q, long long delta_bytes, long long delta_msgs);
/* Atomically add to a root's usage (negative to subtract; never below 0). */
int quota_update_used(const char *root, long long delta_bytes, long long delta_msgs);
/* Set usage outright (quota -f). */
int quota_set_used(const char *root, long long bytes, long long msgs);

/* Usage as a percentage of the tightest limit (for quotawarn); -1 if none. */
int quota_percent_used(const struct quota *q);

/* Call cb for every root whose name starts with prefix, in order. */
int quota_foreach(const char *prefix,
                  int (*cb)(const struct quota *q, void *rock), void *rock);

/* ---- added with the implementation -------------------------------------- */

/* quota_open() with an explicit cyrusdb backend (NULL: the quota_db
 * option).  A forked child reopens the database by itself on its first
 * call; the handle is meant for one thread. */
int quota_open_backend(const char *backend, const char *path);

/* quota_findroot() telling "no root" (0, *root_r NULL) from a database
 * that cannot be read (its error); *root_r belongs to the caller. */
int quota_lookup_root(const char *mboxname, char **root_r)
    __attribute__((warn_unused_result));

/* Can `root` be a quota root: a valid mailbox name, or a domain's root
 * "example.org!"?  quota_setlimits() refuses others with CYRERR_BADARGS
 * (as it does limits below QUOTA_UNLIMITED). */
int quota_root_valid(const char *root);

/* "STORAGE" / "MESSAGE" (NULL when out of range), and back (case
 * insensitive; -1 when unknown). */
const char *quota_resource_name(enum quota_resource res);
int quota_resource_from_name(const char *name);

/* Usage of one resource as a percentage of its limit (rounded down; a
 * limit of 0 counts as 100 %); -1 without a limit. */
int quota_resource_percent(const struct quota *q, enum quota_resource res);

/* Should the user be warned (quotawarn): some resource is at or above
 * `warnpct` percent of its limit -- for STORAGE only when also at most
 * `warnkb` KiB remain, unless warnkb is 0 or the limit itself is below
 * warnkb.  quota_warn() takes both from the quotawarn and quotawarnkb
 * options. */
int quota_warn_with(const struct quota *q, int warnpct, long long warnkb);
int quota_warn(const struct quota *q);

#endif
