/* duplicate: the duplicate delivery database (duplicatesuppression).
 *
 * lmtpd records every delivery of a message with a Message-ID to a mailbox,
 * and does not deliver the same Message-ID to the same mailbox twice.  A
 * record is keyed by the Message-ID, the recipient (the target mailbox's
 * internal name) and an optional third part (an envelope detail such as the
 * return path, for callers that want a narrower match), and holds when the
 * delivery was marked and the UID it got (0 when unknown):
 *
 *   key    "<id>\0<to>\0<extra>"        (extra "" when none)
 *   value  "1 <mark> <uid>"
 *
 * Old records are removed by duplicate_expire() (cyr_expire -E <days>).
 * The database is <configdirectory>/deliver.db with the duplicate_db
 * backend, or an explicit file.
 *
 * Ownership: struct duplicate is opaque, freed by duplicate_close() (which
 * sets the pointer to NULL); keys passed in are borrowed, keys passed to
 * callbacks are borrowed for the call.  Errors: 0 or a negative CYRERR_*:
 * CYRERR_BADARGS (missing id or recipient), CYRERR_TOOBIG (a part longer
 * than DUPLICATE_PART_MAX: the caller delivers without suppression),
 * CYRERR_CORRUPT, or a cyrusdb error.  No global state.
 */
#ifndef IMAP_STORE_DUPLICATE_H
#define IMAP_STORE_DUPLICATE_H

#include <stdint.h>
#include <time.h>

#define DUPLICATE_FNAME "deliver.db"
#define DUPLICATE_PART_MAX 1000    /* bytes of each key part */

struct duplicate;

struct duplicate_key {
    const char *id;                /* Message-ID, not empty */
    const char *to;                /* recipient mailbox, not empty */
    const char *extra;             /* NULL or "" when unused */
};

#define DUPLICATE_CREATE 0x01      /* create the file when missing */

/* Open `fname` with `backend`; NULL for either: the configured one. */
int duplicate_open(const char *backend, const char *fname, int flags,
                   struct duplicate **dp) __attribute__((warn_unused_result));
int duplicate_close(struct duplicate **dp);

/* Was this delivery marked?  1 (with *markp and *uidp set when not NULL),
 * 0 when not, or a negative error. */
int duplicate_check(struct duplicate *d, const struct duplicate_key *k, time_t *markp,
                    uint32_t *uidp);
/* Record a delivery at time `mark` (replacing an earlier record). */
int duplicate_mark(struct duplicate *d, const struct duplicate_key *k, time_t mark,
                   uint32_t uid) __attribute__((warn_unused_result));
/* Forget a delivery; CYRERR_NOTFOUND when there was none. */
int duplicate_unmark(struct duplicate *d, const struct duplicate_key *k)
    __attribute__((warn_unused_result));

struct duplicate_expire_stats {
    unsigned long seen;            /* records looked at */
    unsigned long expired;         /* records removed */
    unsigned long corrupt;         /* unreadable records (also removed) */
};

/* Remove every record marked more than `days` days before `now` (mark <
 * now - days * 86400).  A record marked again while the expiry runs is
 * kept.  `st` may be NULL. */
int duplicate_expire(struct duplicate *d, int days, time_t now,
                     struct duplicate_expire_stats *st) __attribute__((warn_unused_result));

/* Every record in key order (for dumps); the records are read first, so
 * cb may change the database.  Unreadable records are skipped. */
typedef int duplicate_foreach_cb(void *rock, const struct duplicate_key *k, time_t mark,
                                 uint32_t uid);
int duplicate_foreach(struct duplicate *d, duplicate_foreach_cb *cb, void *rock);

#endif
