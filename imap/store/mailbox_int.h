/* mailbox_int: what the files of the mailbox module share (not for other
 * modules): the handle, the on-disk formats and the transaction protocol.
 *
 * ---- cyrus.index ---------------------------------------------------------
 * Two header slots of 128 bytes (offsets 0 and 128), then records of 128
 * bytes from offset 256.  Sizes divide 4096 and 512: no record or slot ever
 * straddles a page or a sector.  All integers big-endian.
 *
 * Slot:  0 magic "CYRIDX01"   8 u16 version(1) 10 u16 record size(128)
 *       12 u32 generation    16 u64 seq         24 u32 uidvalidity
 *       28 u32 uidnext       32 u32 num_records 36 u32 exists
 *       40 u32 expunged      44 u32 unlinked    48 u32 answered
 *       52 u32 flagged       56 u32 deleted     60 u32 seen
 *       64 u32 draft         68 u32 num_keywords
 *       72 u64 highestmodseq 80 u64 quota_used  88 u64 cache_size
 *       96 u64 cache_id     104 u32 flags (1 = DIRTY)
 *      108 u32 changes_epoch 112 u32 changes_len 116 u64 boot id
 *      124 u32 checksum
 * (expunged counts every expunged record still in the index, unlinked
 * those whose message file is already removed.)
 * The valid slot with the higher seq is the header.
 *
 * Record:  0 u32 uid    4 u32 system flags     8 i64 internaldate
 *         16 u64 modseq 24 u32 size           28 u32 header size
 *         32 u64 cache offset  40 u32 cache length  44 u32 cache checksum
 *         48 guid[20]   68 u32 user flags[8]   100 i64 last updated
 *        108 u64 append id     116 reserved[8]  124 u32 checksum
 *
 * ---- cyrus.cache: a 32-byte header ("CYRCCH01", u32 version, u32 0,
 * u64 cache id, u32 0, u32 checksum) then the records, back to back.  The
 * index header's cache_size is the committed length; the cache id ties the
 * cache to its index (both are replaced together by compaction).
 *
 * ---- cyrus.changes: big-endian u32 record numbers, one per record changed
 * in place; the index header says how many are valid (changes_len) and
 * which series they belong to (changes_epoch, bumped when the log restarts).
 * Never fsynced: it only tells live readers what to re-read.
 *
 * ---- the write protocol (exclusive lock held) -----------------------------
 * begin:  write the header with DIRTY and seq+1 into the other slot;
 * then:   write message files, cache and records (appended beyond the
 *         committed lengths, or records rewritten in place after logging
 *         their numbers in cyrus.changes), and sync all of them (appends:
 *         message files, directory, cache and index, submitted together);
 * commit: write the clean header with seq+2 into the original slot, fsync.
 * Appends write the header before their one merged sync (message files,
 * directory, cache and index together), so that a transaction costs one
 * round trip to the disk; a power cut during that sync may keep the header
 * without what it describes, which the after-reboot recovery detects: the
 * records the header adds to the other slot's (the state before the
 * transaction) are checked against their cache records and message files,
 * and on any mismatch the other slot is taken.
 * A locker that finds DIRTY (a writer died) runs mailbox_recover(): cut
 * the index and cache to the committed lengths, recount the header from the
 * records, put back or drop half-committed queue batches, restart the change
 * log.  A header written during another boot triggers the same, plus a scan
 * for stray message files, since a power cut may have kept some writes and
 * not others.
 *
 * ---- cyrus.queue/: appenders' staging area -------------------------------
 *   t.<id>        batch description being written
 *   q.<id>        batch ready: s.<id>.<n> are its messages
 *   c.<id>.<uid>  batch claimed by a committer, first UID <uid>; committed
 *                 when <uid> < uidnext, else to be put back (recovery)
 *   d.<id>.<uid>  a claim whose commit is synced (the appender's receipt)
 *   e.<id>.<err>  batch refused with CYRERR code -<err>
 *   m.<id>.<internaldate>.<flags>.<ignorequota>.<from uid>
 *                 a one-message batch without keywords or cache record,
 *                 described by its name (one file instead of two), written
 *                 as an unnamed file (O_TMPFILE) and linked under this
 *                 name once complete (where that cannot be done: written
 *                 as t.<id>.0 and renamed).  The committer parses it and
 *                 links it as <uid>.; the record's append id (pid << 32 |
 *                 counter of <id>), found among the UIDs from <from uid>
 *                 on, is the appender's receipt, and the committer removes
 *                 the name once the commit is synced (a name still there
 *                 beside its record: the committer died, maybe before its
 *                 sync, and the appender syncs the message itself)
 * <id> = <16 hex digits of time in ns>.<pid>.<counter>; the messages of a
 * q. batch get the append ids of the counters that follow.  Files of dead
 * processes are removed; committed claims are the appenders' receipts.
 * How appenders meet (who commits, and the short wait for the appenders of
 * the last commit to queue again, holding no lock) is mailbox_append.c's
 * business: nothing on disk depends on it.
 */
#ifndef IMAP_STORE_MAILBOX_INT_H
#define IMAP_STORE_MAILBOX_INT_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "strarray.h"
#include "imap/store/mailbox.h"
#include "imap/store/quota.h"

#define MBX_INDEX_FNAME    "cyrus.index"
#define MBX_INDEX_NEW      "cyrus.index.NEW"
#define MBX_CACHE_FNAME    "cyrus.cache"
#define MBX_CACHE_NEW      "cyrus.cache.NEW"
#define MBX_HEADER_FNAME   "cyrus.header"
#define MBX_HEADER_NEW     "cyrus.header.NEW"
#define MBX_CHANGES_FNAME  "cyrus.changes"
#define MBX_LOCK_FNAME     "cyrus.lock"
#define MBX_QUEUE_DIR      "cyrus.queue"

#define MBX_SLOT_SIZE      128
#define MBX_HEADER_SIZE    256
#define MBX_RECORD_SIZE    128
#define MBX_CACHE_HDR_SIZE 32
#define MBX_VERSION        1

#define MBX_HF_DIRTY       0x01u

/* change log: restarted past this many entries */
#define MBX_CHANGES_MAX    (1u << 20)

/* index lock bytes in cyrus.lock */
#define MBX_LOCK_INDEX     0
#define MBX_LOCK_SESSION   1
#define MBX_LOCK_CLEANUP   2    /* whoever writes *.NEW files */

struct mbx_header {
    uint64_t seq;
    uint32_t generation;
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t num_records;
    uint32_t exists, expunged, unlinked, answered, flagged, deleted, seen, draft;
    uint32_t num_keywords;
    uint64_t highestmodseq;
    uint64_t quota_used;
    uint64_t cache_size;
    uint64_t cache_id;
    uint32_t flags;
    uint32_t changes_epoch;
    uint32_t changes_len;
    uint64_t bootid;
};

/* What cyrus.header holds. */
struct mbx_meta {
    char *name;
    char *uniqueid;
    char *quotaroot;          /* NULL when none */
    struct strarray keywords;
};

struct mailbox {
    struct mbx_meta meta;
    ino_t meta_ino;           /* cyrus.header as loaded */
    time_t meta_mtime;
    char *dir;
    int dirfd;
    int lockfd;
    dev_t lock_dev;
    ino_t lock_ino;
    int indexfd;              /* -1 until first lock */
    ino_t index_ino;
    int cachefd;
    int changesfd;            /* -1 until needed */
    const unsigned char *imap;  size_t imap_len;   /* index mapping */
    size_t imap_valid;        /* bytes known to exist in the index file */
    const unsigned char *cmap;  size_t cmap_len;   /* cache mapping */
    size_t cmap_valid;
    enum mailbox_lockmode lockmode;
    int cleanup_locked;       /* this handle holds the cleanup lock byte */
    struct mbx_header hdr;    /* header as of the last lock, or being built */
    int slot;                 /* slot that holds hdr on disk */
    /* transaction */
    int txn;
    struct mbx_header txn_prev;
    /* registry of open handles in this process */
    struct mailbox *next_open;
};

/* ---- mailbox_format.c ------------------------------------------------------ */

uint32_t mailbox_checksum(const void *p, size_t n);
/* Big-endian fields of the index, inline: a SELECT decodes every record. */
static inline void mailbox_put32(unsigned char *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, sizeof(v));
}
static inline void mailbox_put64(unsigned char *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, sizeof(v));
}
static inline uint32_t mailbox_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return be32toh(v);
}
static inline uint64_t mailbox_get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return be64toh(v);
}

void mailbox_hdr_encode(const struct mbx_header *h, unsigned char *out);
/* 0 or CYRERR_CORRUPT (magic, version, checksum) */
int mailbox_hdr_decode(const unsigned char *in, struct mbx_header *h);
/* Pick the valid slot with the higher seq from the first 256 bytes;
 * `avoid` (0/1) excludes a slot, -1 none.  CYRERR_CORRUPT when none. */
int mailbox_hdr_pick(const unsigned char *base, int avoid,
                     struct mbx_header *h, int *slotp);
void mailbox_rec_encode(const struct mailbox_record *r, unsigned char *out);
int mailbox_rec_decode(const unsigned char *in, uint32_t recno,
                       struct mailbox_record *r);
void mailbox_cachehdr_encode(uint64_t cache_id, unsigned char *out);
int mailbox_cachehdr_decode(const unsigned char *in, uint64_t *idp);

void mailbox_meta_init(struct mbx_meta *m);
void mailbox_meta_free(struct mbx_meta *m);
void mailbox_meta_format(const struct mbx_meta *m, struct buf *out);
/* CYRERR_CORRUPT when the text is not a header */
int mailbox_meta_parse(const char *text, size_t len, struct mbx_meta *m);
/* Read cyrus.header of a directory (CYRERR_NOTFOUND when missing). */
int mailbox_meta_read(int dirfd, struct mbx_meta *m);
/* Write it durably: temp file, fsync, rename, fsync of the directory. */
int mailbox_meta_write(int dirfd, const struct mbx_meta *m);

/* Header counts from one record (sign +1 to add, -1 to remove). */
void mailbox_hdr_count(struct mbx_header *h, const struct mailbox_record *r, int sign);

/* Random 64-bit value / unique id (32 hex digits, caller frees). */
uint64_t mailbox_random64(void);
char *mailbox_make_uniqueid(void);

/* Length of a message's header, its empty line included (all of it when
 * there is no empty line). */
size_t mailbox_header_len(const char *p, size_t n);

/* "<uid>." or 0 when `name` is not a message file name. */
uint32_t mailbox_parse_msgname(const char *name);
/* Fill `out` with "<uid>." (at least 16 bytes). */
void mailbox_msgname(uint32_t uid, char *out, size_t len);

/* errno -> CYRERR_IO (logged with the context) */
int mailbox_ioerr(const struct mailbox *mb, const char *what, const char *file);

/* ---- mailbox.c ------------------------------------------------------------ */

/* fcntl (open file description) lock of one byte of cyrus.lock: type
 * F_RDLCK/F_WRLCK/F_UNLCK.  0, CYRERR_LOCKED (not waiting), CYRERR_IO. */
int mailbox_lock_byte(int fd, int byte, short type, int wait);
/* Who holds the index lock against an exclusive request: F_WRLCK (a
 * writer), F_RDLCK (readers only) or F_UNLCK (nobody). */
int mailbox_lock_holder(struct mailbox *mb);
/* Raw fcntl lock of byte 0 (no refresh). */
int mailbox_lock_raw(struct mailbox *mb, enum mailbox_lockmode mode, int wait);
/* mailbox_lock(EXCLUSIVE) without waiting: CYRERR_LOCKED when taken. */
int mailbox_trylock_exclusive(struct mailbox *mb);
/* Map the index / cache so that `need` bytes are covered (re-reads sizes). */
int mailbox_map_index(struct mailbox *mb, size_t need);
int mailbox_map_cache(struct mailbox *mb, size_t need);
/* Close and forget index, cache and change log descriptors/mappings. */
void mailbox_drop_files(struct mailbox *mb);
/* Under a lock: follow a replaced index, read the header and check the
 * files' lengths and keywords; *need says whether recovery is called for. */
int mailbox_refresh(struct mailbox *mb, int *need);
/* The same without cyrus.header (reconstruct reads that one itself). */
int mailbox_refresh_index(struct mailbox *mb, int *need);
/* (Re)open cyrus.index and cyrus.cache after a replacement. */
int mailbox_open_files(struct mailbox *mb);
/* Write header `h` into slot `slot` (no sync). */
int mailbox_write_slot(struct mailbox *mb, const struct mbx_header *h, int slot);
/* Take the exclusive lock when none is held: *took says whether to release.
 * CYRERR_BADARGS under a shared lock. */
int mailbox_autolock(struct mailbox *mb, int *took);
void mailbox_autounlock(struct mailbox *mb, int took);

int mailbox_txn_begin(struct mailbox *mb);
/* Write the clean header (the transaction stays open until synced). */
int mailbox_txn_write_header(struct mailbox *mb);
/* mailbox_txn_write_header() + fdatasync of the index; ends the
 * transaction (aborted when that fails). */
int mailbox_txn_commit(struct mailbox *mb);
/* Give up the transaction: the header is put back and recovery run. */
void mailbox_txn_abort(struct mailbox *mb);

/* Append record numbers to the change log (within a transaction). */
int mailbox_changes_log(struct mailbox *mb, const uint32_t *recnos, size_t n);
/* Read change log entries [from, to) of the current epoch; caller frees. */
int mailbox_changes_read(struct mailbox *mb, uint32_t from, uint32_t to,
                         uint32_t **recnosp);

/* Binary search of a UID among the records; CYRERR_NOTFOUND. */
int mailbox_find_recno(struct mailbox *mb, uint32_t uid, uint32_t *recnop);
/* Write one record in place (no log, no header). */
int mailbox_write_record(struct mailbox *mb, const struct mailbox_record *rec);

/* Replace index + cache with the files built as MBX_INDEX_NEW and
 * MBX_CACHE_NEW (cache first, then index; the index rename commits). */
int mailbox_install_new_files(struct mailbox *mb);

/* ---- mailbox_cleanup.c: writing a new index + cache ------------------------ */

struct mbx_builder {
    int ifd, cfd;             /* MBX_INDEX_NEW, MBX_CACHE_NEW */
    uint64_t cache_id;
    uint64_t coff;            /* next cache offset */
    uint32_t nrec;            /* records added */
    off_t iend, cend;         /* bytes written so far */
    struct buf ibuf, cbuf;    /* pending writes */
};

int mailbox_builder_start(struct mailbox *mb, struct mbx_builder *b);
/* Add a record (its recno and cache fields are set here) with its cache
 * record. */
int mailbox_builder_add(struct mailbox *mb, struct mbx_builder *b,
                        struct mailbox_record *rec, const void *blob, size_t len);
int mailbox_builder_flush(struct mailbox *mb, struct mbx_builder *b);
int mailbox_builder_read(struct mailbox *mb, struct mbx_builder *b, uint32_t recno,
                         struct mailbox_record *rec);
int mailbox_builder_rewrite(struct mailbox *mb, struct mbx_builder *b,
                            const struct mailbox_record *rec);
/* Recount, write the header (generation, change series and seq of `base`
 * plus one), fsync and close both files.  *out (may be NULL) gets it. */
int mailbox_builder_finish(struct mailbox *mb, struct mbx_builder *b,
                           const struct mbx_header *base, struct mbx_header *out);
void mailbox_builder_abort(struct mailbox *mb, struct mbx_builder *b);

/* The process's open handles (for registry walks). */
struct mailbox *mailbox_open_handles(void);

/* A handle on directory `dir` with its lock file open (created when
 * missing) and the session lock taken, registered, no index read yet
 * (reconstruct).  mailbox_handle_free() undoes it. */
int mailbox_handle_attach(const char *dir, struct mailbox **mbp);
void mailbox_handle_free(struct mailbox *mb);

/* ---- mailbox_recover.c ------------------------------------------------------ */

#define MBX_RECOVER_BOOT 0x01   /* also scan for stray files */

/* Repair what a dead writer left (exclusive lock held). */
int mailbox_recover(struct mailbox *mb, int flags);
/* Does the current header call for recovery? */
int mailbox_needs_recovery(const struct mailbox *mb);

/* ---- mailbox_qbatch.c, mailbox_append.c --------------------------------------- */

/* Settle queue claims after a crash: put back uncommitted batches of live
 * appenders, drop those of dead ones (exclusive lock held, header current).
 * *claimed_end is one past the highest UID an uncommitted claim covered
 * (0 when none): message files up to there may be missing in between. */
int mailbox_queue_recover(struct mailbox *mb, uint32_t *claimed_end);
/* Is process `pid` alive? */
int mailbox_pid_alive(pid_t pid);

/* ---- mailbox_quota.c ----------------------------------------------------------- */

/* Quota of one transaction: read once, checked per batch.  Inactive (every
 * check passes) when the mailbox has no quota root or the root is gone. */
struct mailbox_quota {
    int active;
    struct quota q;
    long long bytes, msgs;    /* taken so far in this transaction */
};
int mailbox_quota_begin(struct mailbox *mb, struct mailbox_quota *mq);
/* 0 or CYRERR_QUOTA_EXCEEDED for adding this much to what was taken */
int mailbox_quota_fits(struct mailbox_quota *mq, long long bytes, long long msgs);
void mailbox_quota_take(struct mailbox_quota *mq, long long bytes, long long msgs);
void mailbox_quota_end(struct mailbox_quota *mq);
/* Add to the root's usage (after a commit); errors are logged. */
int mailbox_quota_charge(struct mailbox *mb, long long bytes, long long msgs);

#endif
