/* mailbox: one mailbox of the mail store -- its messages, index and cache.
 *
 * A mailbox is a directory under its partition (mboxname_path()) holding
 *
 *   <uid>.          one file per message, named by UID, never rewritten
 *   cyrus.header    name, unique id, quota root and the keyword names (text)
 *   cyrus.index     two 128-byte header slots, then one 128-byte record per
 *                   message in UID order (expunged ones until cleanup)
 *   cyrus.cache     each message's parsed record (msgcache.h), appended
 *   cyrus.changes   record numbers changed in place (for readers' checks)
 *   cyrus.lock      the lock file (never replaced)
 *   cyrus.queue/    messages staged by appenders (group commit)
 *
 * Locking: fcntl open-file-description locks on cyrus.lock.  Byte 0 is the
 * index lock: shared to read records, exclusive to change anything.  Byte 1
 * is held shared by every open handle ("a session holds sequence numbers");
 * cleanup removes files and compacts the index only when it can take byte 1
 * exclusively.  Calls that change the mailbox take the exclusive lock
 * themselves when the handle holds none and release it before returning; a
 * caller that wants several changes under one lock takes it with
 * mailbox_lock().  Changing calls made while holding only the shared lock
 * fail with CYRERR_BADARGS.  Two handles on one mailbox in one process are
 * two lockers: asking one for a lock that conflicts with the other's gives
 * CYRERR_DEADLOCK instead of waiting forever.  A handle must not be used
 * across fork() by both processes.
 *
 * Durability: mailbox_append() returns success only after the message files,
 * the directory, the cache and the index are fsynced (the independent
 * syncs of a transaction are submitted together, then the header is
 * written and synced alone).  An appender that gets the lock at once writes
 * its messages under their final names and commits.  One that finds the
 * lock taken stages its messages in cyrus.queue/ and waits; whoever holds
 * the lock next commits every staged batch in one transaction (group
 * commit), so concurrent appenders share the fsyncs and mostly find their
 * batch committed when their turn comes.  A process killed at any moment
 * leaves a mailbox that the next locker repairs by itself (torn tails are
 * dropped, half-done flag updates recounted, stray files removed):
 * reconstruct is for damage, not for crashes.  See mailbox_int.h for the
 * on-disk protocol.
 *
 * Expunge marks records (with a new MODSEQ); mailbox_cleanup() (also run by
 * mailbox_close() when no other handle has the mailbox open) removes the
 * files and rewrites the index without the expunged records, bumping its
 * generation.  Sessions keep their own numbering in a struct mailbox_view and
 * learn about changes through mailbox_view_update().
 *
 * Ownership: struct mailbox and struct mailbox_view are opaque and freed by
 * mailbox_close() / mailbox_view_free(), which set the caller's pointer to
 * NULL.  Returned const char * are borrowed from the handle (valid until the
 * next lock or close).  Errors: 0 or a negative CYRERR_*
 * (CYRERR_MAILBOX_NONEXISTENT, CYRERR_MAILBOX_EXISTS, CYRERR_BADNAME,
 * CYRERR_PARTITION_UNKNOWN, CYRERR_BADARGS, CYRERR_LIMIT, CYRERR_TOOBIG,
 * CYRERR_QUOTA_EXCEEDED, CYRERR_NOTFOUND, CYRERR_DEADLOCK, CYRERR_CORRUPT:
 * needs reconstruct, CYRERR_IO: logged with errno).
 *
 * Process-wide state (documented here as the style requires): the list of
 * open handles (for the deadlock check), the cache encoder hook, the boot id
 * read once from /proc, the inotify instance of the append gathering (made
 * again after fork), and the I/O fault injector (mailbox_io.h).
 */
#ifndef IMAP_STORE_MAILBOX_H
#define IMAP_STORE_MAILBOX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* ---- flags -------------------------------------------------------------- */

#define MAILBOX_FLAG_ANSWERED 0x01u
#define MAILBOX_FLAG_FLAGGED  0x02u
#define MAILBOX_FLAG_DELETED  0x04u
#define MAILBOX_FLAG_DRAFT    0x08u
#define MAILBOX_FLAG_SEEN     0x10u   /* the owner's \Seen (others: seen db) */
#define MAILBOX_FLAGS_SETTABLE 0x1fu
/* read-only state bits */
#define MAILBOX_FLAG_UNLINKED 0x40000000u  /* expunged and its file removed */
#define MAILBOX_FLAG_EXPUNGED 0x80000000u

#define MAILBOX_MAX_KEYWORDS 256           /* user keywords per mailbox */
#define MAILBOX_KEYWORD_WORDS (MAILBOX_MAX_KEYWORDS / 32)
#define MAILBOX_KEYWORD_MAXLEN 200         /* bytes of one keyword name */
#define MAILBOX_GUID_LEN 20                /* SHA-1 of the message file */
#define MAILBOX_APPEND_MAX 100000          /* messages in one append call */

struct mailbox_flags {
    uint32_t system;                          /* MAILBOX_FLAG_* (settable) */
    uint32_t user[MAILBOX_KEYWORD_WORDS];     /* bit n = keyword n */
};

/* One message's index record. */
struct mailbox_record {
    uint32_t recno;            /* position in the index (0-based), not stored */
    uint32_t uid;
    uint32_t system_flags;
    uint32_t user_flags[MAILBOX_KEYWORD_WORDS];
    int64_t internaldate;      /* seconds since the epoch, UTC */
    uint64_t modseq;
    uint32_t size;             /* bytes of the message file */
    uint32_t header_size;      /* bytes of its header, blank line included */
    uint64_t cache_offset;
    uint32_t cache_len;
    uint32_t cache_sum;        /* checksum of the cache record */
    unsigned char guid[MAILBOX_GUID_LEN];
    int64_t last_updated;      /* when the record was last written */
    uint64_t append_id;        /* which append call wrote it (pid << 32 |
                                  counter): the receipt of queued appends */
};

/* The index header as of the last lock. */
struct mailbox_status {
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t exists;           /* messages not expunged */
    uint32_t expunged;         /* expunged records awaiting cleanup */
    uint32_t unlinked;         /* ... of which the files are removed */
    uint32_t answered, flagged, deleted, draft, seen;
    uint32_t num_records;      /* records in the index */
    uint32_t generation;       /* bumped when the index is rewritten */
    uint32_t num_keywords;
    uint64_t highestmodseq;
    uint64_t quota_used;       /* bytes of the messages not expunged */
};

/* ---- creating, opening, locking ----------------------------------------- */

struct mailbox;

/* The directory of mailbox `name` on `partition` (NULL: defaultpartition):
 * partition-NAME + mboxname_path() (hashimapspool honoured).  Replaces the
 * contents of `dir`.  CYRERR_PARTITION_UNKNOWN, CYRERR_BADNAME. */
int mailbox_dir_for(const char *name, const char *partition, struct buf *dir)
    __attribute__((warn_unused_result));

struct mailbox_create_params {
    const char *uniqueid;      /* NULL: a fresh random one */
    uint32_t uidvalidity;      /* 0: the current time */
    const char *quotaroot;     /* NULL: none; else as quota_root_valid()
                                  accepts (a mailbox name or "domain!") */
    uint64_t highestmodseq;    /* starting value (0 = 1) */
};

/* Create the mailbox (its directory and parents as needed).  `p` may be
 * NULL.  CYRERR_MAILBOX_EXISTS when the directory already holds an index.
 * On success *mbp (when not NULL) is an open handle without a lock. */
int mailbox_create(const char *name, const char *partition,
                   const struct mailbox_create_params *p, struct mailbox **mbp)
    __attribute__((warn_unused_result));
/* The same in an explicit directory (tools, tests). */
int mailbox_create_dir(const char *dir, const char *name,
                       const struct mailbox_create_params *p, struct mailbox **mbp)
    __attribute__((warn_unused_result));

/* Open an existing mailbox; the handle holds no index lock. */
int mailbox_open(const char *name, const char *partition, struct mailbox **mbp)
    __attribute__((warn_unused_result));
int mailbox_open_dir(const char *dir, struct mailbox **mbp)
    __attribute__((warn_unused_result));

/* Release the lock, run a cleanup when expunged records wait and no other
 * handle has the mailbox open, and free the handle.  NULL is fine. */
void mailbox_close(struct mailbox **mbp);

/* Remove the mailbox: its files and its directory (kept when child
 * mailboxes live below it).  Takes the exclusive lock; the handle is
 * closed in every case. */
int mailbox_delete(struct mailbox **mbp);

enum mailbox_lockmode {
    MAILBOX_LOCK_NONE = 0,
    MAILBOX_LOCK_SHARED,
    MAILBOX_LOCK_EXCLUSIVE
};

/* Take the index lock (waiting for it) and refresh the header, repairing
 * what a crashed writer left.  Changing a held lock's mode releases it
 * first.  CYRERR_MAILBOX_NONEXISTENT when the mailbox was deleted. */
int mailbox_lock(struct mailbox *mb, enum mailbox_lockmode mode)
    __attribute__((warn_unused_result));
void mailbox_unlock(struct mailbox *mb);
enum mailbox_lockmode mailbox_lockmode(const struct mailbox *mb);

/* ---- what an open mailbox tells ------------------------------------------ */

const char *mailbox_name(const struct mailbox *mb);
const char *mailbox_dir(const struct mailbox *mb);
const char *mailbox_uniqueid(const struct mailbox *mb);
const char *mailbox_quotaroot(const struct mailbox *mb);   /* or NULL */
void mailbox_status(const struct mailbox *mb, struct mailbox_status *st);

/* Change the quota root recorded in cyrus.header (NULL: none).  Usage is
 * not moved between roots: that is the quota tool's business.  Roots are
 * checked with quota_root_valid() (a domain's root "example.org!" too);
 * CYRERR_BADNAME for others. */
int mailbox_set_quotaroot(struct mailbox *mb, const char *root)
    __attribute__((warn_unused_result));

/* Keywords: names are IMAP atoms not starting with '\\', compared without
 * regard to case, at most MAILBOX_KEYWORD_MAXLEN bytes. */
int mailbox_keyword_valid(const char *name);
uint32_t mailbox_num_keywords(const struct mailbox *mb);
const char *mailbox_keyword_name(const struct mailbox *mb, uint32_t bit);
/* Bit of keyword `name`; with `create` a new one is added (exclusive lock
 * needed).  CYRERR_NOTFOUND (unknown, !create), CYRERR_BADARGS (invalid
 * name), CYRERR_LIMIT (MAILBOX_MAX_KEYWORDS reached). */
int mailbox_keyword_bit(struct mailbox *mb, const char *name, int create,
                        uint32_t *bitp) __attribute__((warn_unused_result));

/* ---- records (a lock must be held) --------------------------------------- */

uint32_t mailbox_num_records(const struct mailbox *mb);
/* CYRERR_NOTFOUND beyond the end, CYRERR_CORRUPT for a damaged record. */
int mailbox_read_record(struct mailbox *mb, uint32_t recno,
                        struct mailbox_record *rec)
    __attribute__((warn_unused_result));
/* The record of `uid` (expunged ones too); CYRERR_NOTFOUND. */
int mailbox_find_uid(struct mailbox *mb, uint32_t uid, struct mailbox_record *rec)
    __attribute__((warn_unused_result));
/* The cache record of a message, replacing the contents of `out`.
 * CYRERR_CORRUPT when it does not match its checksum. */
int mailbox_read_cache(struct mailbox *mb, const struct mailbox_record *rec,
                       struct buf *out) __attribute__((warn_unused_result));
/* Path of a message file (whether or not it exists). */
void mailbox_message_path(const struct mailbox *mb, uint32_t uid, struct buf *path);

/* ---- appending ------------------------------------------------------------ */

enum mailbox_source {
    MAILBOX_SRC_DATA = 0,      /* data/len in memory */
    MAILBOX_SRC_PATH,          /* a file to copy */
    MAILBOX_SRC_FD             /* an open file, read from offset 0 (a pipe:
                                  read to its end) */
};

struct mailbox_append_msg {
    enum mailbox_source source;
    const char *data;  size_t len;       /* MAILBOX_SRC_DATA */
    const char *path;                    /* MAILBOX_SRC_PATH */
    int fd;                              /* MAILBOX_SRC_FD */
    time_t internaldate;                 /* 0: now */
    uint32_t system_flags;               /* MAILBOX_FLAGS_SETTABLE bits */
    const char *const *keywords;         /* names, created as needed */
    size_t nkeywords;
    const void *cache; size_t cache_len; /* parsed record; NULL: the encoder
                                            builds it from the message */
    const unsigned char *guid;           /* known SHA-1 (COPY), or NULL */
};

#define MAILBOX_APPEND_IGNOREQUOTA 0x01
#define MAILBOX_APPEND_LINK        0x02  /* hard-link a MAILBOX_SRC_PATH file
                                            into the mailbox when possible
                                            (it must not change later) */

struct mailbox_append_result {
    uint32_t uidvalidity;
    uint32_t first_uid, last_uid;        /* consecutive, one per message */
    uint64_t modseq;
};

/* Append `n` messages as one unit (all or none, as MULTIAPPEND needs).
 * Returns after they are durable.  CYRERR_QUOTA_EXCEEDED, CYRERR_LIMIT
 * (keywords, UIDs), CYRERR_TOOBIG (a message of 4 GiB or more). */
int mailbox_append(struct mailbox *mb, const struct mailbox_append_msg *msgs,
                   size_t n, int flags, struct mailbox_append_result *res)
    __attribute__((warn_unused_result));

/* Builds a message's cache record when the caller gives none.  The default
 * is msgcache_build(); NULL restores it. */
typedef void mailbox_cache_encoder_fn(const char *base, size_t len, struct buf *out);
void mailbox_set_cache_encoder(mailbox_cache_encoder_fn *fn);
mailbox_cache_encoder_fn *mailbox_cache_encoder(void);

/* ---- flags and expunge ----------------------------------------------------- */

enum mailbox_store_op {
    MAILBOX_STORE_REPLACE = 0,
    MAILBOX_STORE_ADD,
    MAILBOX_STORE_REMOVE
};

enum mailbox_store_outcome {
    MAILBOX_STORE_CHANGED = 0,   /* record written with the new MODSEQ */
    MAILBOX_STORE_UNCHANGED,     /* flags were already so */
    MAILBOX_STORE_MODIFIED       /* MODSEQ above UNCHANGEDSINCE: left alone */
};

typedef void mailbox_store_cb(void *rock, const struct mailbox_record *rec,
                              enum mailbox_store_outcome outcome);

/* Change the flags of the listed UIDs (any order; unknown and expunged
 * UIDs are skipped).  unchangedsince 0 means no condition (RFC 7162).
 * cb (may be NULL) is called per found message after the change is
 * durable; *modseqp (may be NULL) gets the MODSEQ given to the changes. */
int mailbox_store(struct mailbox *mb, const uint32_t *uids, size_t n,
                  enum mailbox_store_op op, const struct mailbox_flags *flags,
                  uint64_t unchangedsince, mailbox_store_cb *cb, void *rock,
                  uint64_t *modseqp) __attribute__((warn_unused_result));

#define MAILBOX_EXPUNGE_ANY 0x01   /* also messages without \Deleted (MOVE) */

typedef void mailbox_record_cb(void *rock, const struct mailbox_record *rec);

/* Expunge: uids NULL means every message with \Deleted (EXPUNGE); else the
 * listed ones that have \Deleted (UID EXPUNGE) or all listed ones with
 * MAILBOX_EXPUNGE_ANY.  cb per expunged record; *nexpunged may be NULL. */
int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, int flags,
                    mailbox_record_cb *cb, void *rock, size_t *nexpunged)
    __attribute__((warn_unused_result));

#define MAILBOX_CLEANUP_FORCE   0x01  /* even while other handles are open */
#define MAILBOX_CLEANUP_COMPACT 0x02  /* rewrite the index even when few
                                         records are expunged */

struct mailbox_cleanup_stats {
    int deferred;              /* other handles open: nothing done */
    size_t unlinked;           /* message files removed */
    size_t dropped;            /* records removed by compaction */
    int compacted;
};

/* Remove the files of expunged messages and, past a threshold (an eighth of
 * the records) or with MAILBOX_CLEANUP_COMPACT, rewrite index and cache
 * without them.  The handle must hold no lock.  Readers are blocked only
 * for the final step (catching up with changes made meanwhile + rename). */
int mailbox_cleanup(struct mailbox *mb, int flags, struct mailbox_cleanup_stats *st)
    __attribute__((warn_unused_result));

/* ---- a session's view ------------------------------------------------------ */

/* A view numbers the messages the session knows (sequence numbers 1..n)
 * and changes only in mailbox_view_update(), which reports what happened
 * since: expunged messages (only when allowed: RFC 3501 7.4.1), new ones,
 * and flag changes.  A view follows its handle across index rewrites by
 * UID.  Views do not lock by themselves beyond the call. */
struct mailbox_view;

struct mailbox_view_msg {
    uint32_t uid;
    uint32_t recno;            /* in the current index file */
    uint64_t modseq;
    uint32_t system_flags;     /* MAILBOX_FLAG_EXPUNGED: expunged, not yet
                                  reported to the session */
    uint32_t user_flags[MAILBOX_KEYWORD_WORDS];
};

struct mailbox_view_changes {
    uint32_t *expunged_seqs;   /* in the order to send EXPUNGE (descending) */
    uint32_t *expunged_uids;   /* the same messages' UIDs */
    size_t nexpunged;
    uint32_t exists;           /* message count after the update */
    int exists_changed;
    uint32_t *changed_seqs;    /* flags changed, ascending, new numbering */
    size_t nchanged;
    uint64_t highestmodseq;
    int uidvalidity_changed;   /* the mailbox was replaced: end the session */
};

/* Build a view of the messages not expunged (takes a shared lock unless one
 * is held). */
int mailbox_view_open(struct mailbox *mb, struct mailbox_view **vp)
    __attribute__((warn_unused_result));
void mailbox_view_free(struct mailbox_view **vp);

#define MAILBOX_VIEW_EXPUNGE 0x01   /* EXPUNGE responses may be sent now */

/* Catch up with the index: reads the header, the new records and the
 * records changed in place, never the whole index (except after a rewrite
 * or when the change log was reset).  `ch` is filled (free it with
 * mailbox_view_changes_free) and may be NULL. */
int mailbox_view_update(struct mailbox_view *v, int flags,
                        struct mailbox_view_changes *ch)
    __attribute__((warn_unused_result));
void mailbox_view_changes_free(struct mailbox_view_changes *ch);

uint32_t mailbox_view_count(const struct mailbox_view *v);
/* Message `seq` (1-based), or NULL out of range. */
const struct mailbox_view_msg *mailbox_view_msg(const struct mailbox_view *v,
                                                uint32_t seq);
/* Sequence number of `uid`, or 0. */
uint32_t mailbox_view_seq(const struct mailbox_view *v, uint32_t uid);
uint64_t mailbox_view_highestmodseq(const struct mailbox_view *v);
/* Take a record the session itself changed into the view, so that the next
 * update does not report it (STORE .SILENT). */
void mailbox_view_apply(struct mailbox_view *v, const struct mailbox_record *rec);

/* ---- reconstruct ----------------------------------------------------------- */

#define MAILBOX_RECONSTRUCT_DRYRUN 0x01   /* report, change nothing */

typedef void mailbox_reconstruct_cb(void *rock, const char *fix);

/* Rebuild the index and cache of the mailbox in `dir` from its message
 * files ("<uid>." regular files; other entries, directories included, are
 * left alone), keeping flags, dates and MODSEQs of records that still
 * match their files.  `name` names the mailbox when cyrus.header is lost
 * (may be NULL otherwise).  Each fix is reported through cb (may be NULL)
 * and counted in *nfixes.  Nothing is written when nothing needs fixing.
 *
 * A lost or damaged cyrus.header is recreated with `name`, the nearest
 * quota root of the quota database (quota_lookup_root()) and a new unique
 * id; its keyword names cannot be recovered, so their bits are cleared
 * (system flags, dates and MODSEQs survive in cyrus.index).  A header
 * that cannot be read (CYRERR_IO) is left as it is and the call fails. */
int mailbox_reconstruct(const char *dir, const char *name, int flags,
                        mailbox_reconstruct_cb *cb, void *rock, unsigned *nfixes)
    __attribute__((warn_unused_result));
/* The same, given what mailboxes.db says: `uniqueid` (may be NULL) is put
 * in a recreated cyrus.header instead of a new one.  CYRERR_BADARGS when
 * it is empty or not one printable word. */
int mailbox_reconstruct_entry(const char *dir, const char *name, const char *uniqueid,
                              int flags, mailbox_reconstruct_cb *cb, void *rock,
                              unsigned *nfixes) __attribute__((warn_unused_result));

#endif
