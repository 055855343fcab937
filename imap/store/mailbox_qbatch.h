/* mailbox_qbatch: the description file of a staged append batch in a
 * mailbox's cyrus.queue/ directory, the names of that directory's files
 * and the recovery of what crashed processes leave there (internal to the
 * mailbox code; the names are described in mailbox_int.h).
 *
 * An appender that finds the mailbox lock taken stages its messages and
 * writes one description file per batch: magic, flags, count, then per
 * message INTERNALDATE, flags, sizes, GUID, keywords and cache record, and
 * a checksum.  Whoever holds the lock next decodes the batch and commits it
 * (mailbox_append.c).  Decoding validates everything: a damaged file is
 * CYRERR_CORRUPT, never a crash.  A struct qbatch owns its strings and
 * messages; qbatch_free() releases them and zeroes the struct.
 */
#ifndef IMAP_STORE_MAILBOX_QBATCH_H
#define IMAP_STORE_MAILBOX_QBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "strarray.h"
#include "imap/store/mailbox.h"

#define Q_MAGIC "CYRQ0001"
#define Q_MAXFILE ((size_t)1 << 30)

struct qmsg {
    int64_t internaldate;
    uint32_t system_flags;
    uint32_t size;
    uint32_t header_size;
    unsigned char guid[MAILBOX_GUID_LEN];
    struct strarray keywords;
    struct buf cache;
    uint32_t user_flags[MAILBOX_KEYWORD_WORDS];   /* resolved at commit */
    uint64_t token;           /* the record's append id */
};

struct qbatch {
    char *id;
    pid_t pid;
    uint32_t flags;
    size_t n;
    struct qmsg *msgs;
    uint64_t bytes;
    int err;                  /* refused with this code */
    uint32_t first_uid;
    char *mname;              /* a one-message m-file, or NULL */
};

void qbatch_free(struct qbatch *b);
/* Serialise a batch (with its checksum) into out. */
void qbatch_encode(const struct qbatch *b, struct buf *out);
/* Parse a description: 0 or CYRERR_CORRUPT. */
int qbatch_decode(const unsigned char *data, size_t len, struct qbatch *b);
/* Read and decode file `fname` in directory qfd: 0, CYRERR_NOTFOUND,
 * CYRERR_CORRUPT or CYRERR_IO. */
int qbatch_load(int qfd, const char *fname, struct qbatch *b);
/* Number of messages the file describes, or 0 when unreadable. */
size_t qbatch_count(int qfd, const char *fname);

/* ---- names of cyrus.queue/ ------------------------------------------------ */

/* Split a batch id "<16 hex>.<pid>.<counter>" off the front of `s`: the
 * length of the id (0 when there is none) and its pid (and its counter,
 * when counterp is not NULL). */
size_t qbatch_parse_id(const char *s, pid_t *pidp, uint32_t *counterp);
/* "s.<id>.<j>": the stage file of message j of batch `id`. */
void qbatch_stage_name(char *out, size_t len, const char *id, size_t j);
/* Remove every file of batch `id` (q, t and its n stage files). */
void qbatch_discard(int qfd, const char *id, size_t n);
/* Remove what dead appenders left among `names` (the queue's files):
 * unpublished stage and batch files, refusal notes, receipts of
 * committed batches, and published batches nobody waits for.  Uncommitted
 * claims are mailbox_queue_recover()'s. */
void qbatch_sweep(int qfd, const struct strarray *names, uint32_t uidnext);

#endif
