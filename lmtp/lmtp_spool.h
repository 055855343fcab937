/* lmtp_spool: the message of one LMTP DATA command, on its way to disk.
 *
 * The bytes after "354" are fed in (one at a time or in chunks) to a state
 * machine that undoes dot-stuffing, recognises the terminating "." line
 * (".\r\n", also ".\n"), writes every line with CRLF (a bare LF becomes
 * CRLF; a bare CR is kept and counted), and writes the result to an
 * unlinked temporary file: the message is never held whole in memory.
 * Lines written with lmtp_spool_prepend() before the first message byte
 * (Return-Path:, Received:) go to the file too but do not count towards
 * the message size.
 *
 * While it writes, it observes what lmtpd must judge: NUL bytes, 8-bit
 * bytes in the header and the body, header lines that are neither a field
 * ("Name: ...") nor a continuation, and where the header ends.  With
 * LMTP_SPOOL_MUNGE8BIT, 8-bit bytes in the header are written as 'X'
 * (imapd.conf munge8bit).  Judging is for the caller: the spool refuses
 * nothing except a message larger than max_size, which it stops writing
 * (but goes on reading to the final dot so that the protocol stays in step).
 *
 * Ownership: lmtp_spool_new() returns an object that owns its descriptor;
 * lmtp_spool_free() closes it (the file disappears) and sets the pointer
 * to NULL.  Stats are borrowed from the spool.
 *
 * Errors: functions return 0 or a negative CYRERR_*: CYRERR_IO (the file
 * could not be created or written: logged), CYRERR_TOOBIG (the message
 * passed max_size).
 */
#ifndef LMTP_LMTP_SPOOL_H
#define LMTP_LMTP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct lmtp_spool_stats {
    uint64_t size;             /* message bytes after unstuffing and CRLF
                                  normalisation (counted past max_size too) */
    uint64_t lines;            /* message lines */
    uint64_t longest_line;     /* longest line, without its CRLF */
    uint64_t nul;              /* NUL bytes anywhere */
    uint64_t header_8bit;      /* bytes >= 0x80 in the header (before munging) */
    uint64_t body_8bit;        /* bytes >= 0x80 in the body */
    uint64_t bare_lf;          /* LFs without CR (written as CRLF) */
    uint64_t bare_cr;          /* CRs without LF (kept) */
    uint64_t bad_header_lines; /* header lines neither "name:" nor folded */
    int has_separator;         /* an empty line ends the header */
};

#define LMTP_SPOOL_MUNGE8BIT 0x01

/* lmtp_spool_feed results */
#define LMTP_SPOOL_MORE 0 /* go on feeding */
#define LMTP_SPOOL_DONE 1 /* the final "." line was consumed */

struct lmtp_spool;

/* Create a spool on an unlinked temporary file in `tmpdir` (NULL:
 * $TMPDIR or /tmp).  max_size: largest message in bytes, 0 = no limit.
 * Returns 0 or CYRERR_IO. */
int lmtp_spool_new(const char *tmpdir, uint64_t max_size, unsigned flags,
                   struct lmtp_spool **sp_r) __attribute__((warn_unused_result));
void lmtp_spool_free(struct lmtp_spool **sp);

/* Write trace header lines (must end with CRLF) before the message. */
void lmtp_spool_prepend(struct lmtp_spool *sp, const char *data, size_t n);

/* Feed one byte (0..255) of the DATA stream: LMTP_SPOOL_MORE or
 * LMTP_SPOOL_DONE (then stop: bytes after the dot belong to the next
 * command; feeding more is a programming error). */
int lmtp_spool_feed(struct lmtp_spool *sp, int c);
/* Feed up to n bytes; returns how many were consumed, which is less than n
 * only when the final dot line ended inside the chunk (*done is set). */
size_t lmtp_spool_feed_buf(struct lmtp_spool *sp, const void *data, size_t n, int *done);
/* True once LMTP_SPOOL_DONE was returned. */
int lmtp_spool_done(const struct lmtp_spool *sp);

/* After LMTP_SPOOL_DONE: write what is buffered.  Returns 0, CYRERR_TOOBIG
 * or CYRERR_IO (a write failed earlier or now). */
int lmtp_spool_finish(struct lmtp_spool *sp) __attribute__((warn_unused_result));

/* The file (for pread, mmap, sendfile; do not close it, do not rely on its
 * offset) and its layout: [prepended lines][header][blank line][body]. */
int lmtp_spool_fd(const struct lmtp_spool *sp);
uint64_t lmtp_spool_file_size(const struct lmtp_spool *sp);
uint64_t lmtp_spool_msg_offset(const struct lmtp_spool *sp);  /* first message byte */
uint64_t lmtp_spool_body_offset(const struct lmtp_spool *sp); /* after the blank
                                                      line; file size if none */
const struct lmtp_spool_stats *lmtp_spool_stats(const struct lmtp_spool *sp);

/* Copy the file from `offset` to its end to fd (at fd's offset).  0 or
 * CYRERR_IO. */
int lmtp_spool_copy(const struct lmtp_spool *sp, uint64_t offset, int fd)
    __attribute__((warn_unused_result));

#endif
