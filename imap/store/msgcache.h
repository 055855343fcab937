/* msgcache: the per-message cache record.
 *
 * At delivery a message is parsed once (message_parse) and its record is
 * stored (the mailbox module keeps the records in a cache file).  The
 * record holds everything FETCH and SEARCH/SORT need without parsing the
 * message again:
 *   - the ENVELOPE, BODYSTRUCTURE and BODY strings, ready to send;
 *   - the part table (message_section.h spans), so that BODY[1.2],
 *     BODY[1.MIME], HEADER.FIELDS and BINARY are served from offsets, and
 *     a body search knows each part's range, encoding and charset;
 *   - decoded header values for search and sort (below), and the Date
 *     header as a time.
 *
 * Format (version 1), all integers LEB128 varints, strings as a varint
 * (length + 1, or 0 for "absent") then the bytes and a NUL:
 *   "MSGC" version(1 byte) message-size envelope bodystructure body
 *   nparts { kind cte flags hoff hlen boff blen nchildren type subtype
 *            charset }*  nfields { string }*  has-date [zigzag date]
 *   CRC-32 (4 bytes, little endian) of everything before it.
 * A reader skips fields beyond those it knows (nfields), so fields can be
 * added without a new version.
 *
 * Ownership: msgcache_decode() returns a view that borrows the record's
 * bytes (they must outlive it) and is freed with msgcache_free().  All
 * strings it returns are borrowed and NUL-terminated.
 *
 * Errors: msgcache_decode() returns CYRERR_CORRUPT for anything truncated
 * or inconsistent (checksum, lengths, offsets beyond the message, a part
 * table that is not a tree), and CYRERR_NOTSUPPORTED for a record of an
 * unknown version (rebuild it from the message).  It never reads outside
 * the record.
 */
#ifndef IMAP_STORE_MSGCACHE_H
#define IMAP_STORE_MSGCACHE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "imap/store/message.h"
#include "imap/store/message_section.h"

#define MSGCACHE_VERSION 1

/* Decoded header values of the top-level message. */
enum msgcache_field {
    MSGCACHE_FROM = 0,        /* RFC 2047 decoded, unfolded, UTF-8 */
    MSGCACHE_TO,
    MSGCACHE_CC,
    MSGCACHE_BCC,
    MSGCACHE_SUBJECT,
    MSGCACHE_BASESUBJECT,     /* RFC 5256 base subject of SUBJECT */
    MSGCACHE_MESSAGE_ID,      /* raw, unfolded */
    MSGCACHE_IN_REPLY_TO,
    MSGCACHE_REFERENCES,
    MSGCACHE_SORT_FROM,       /* addr-mailbox of the first From address */
    MSGCACHE_SORT_TO,         /* ... first To address */
    MSGCACHE_SORT_CC,         /* ... first Cc address */
    MSGCACHE_NFIELDS
};

/* Append the record of message base/len, parsed as `root`. */
void msgcache_encode(const char *base, size_t len,
                     const struct message_part *root, struct buf *out);

/* Parse base/len and append its record (message_parse + encode). */
void msgcache_build(const char *base, size_t len, struct buf *out);

struct msgcache;

int msgcache_decode(const char *rec, size_t len, struct msgcache **mcp)
    __attribute__((warn_unused_result));
void msgcache_free(struct msgcache **mcp);

/* Size of the message the record describes. */
size_t msgcache_msgsize(const struct msgcache *mc);
const char *msgcache_envelope(const struct msgcache *mc, size_t *lenp);
const char *msgcache_bodystructure(const struct msgcache *mc, size_t *lenp);
const char *msgcache_body(const struct msgcache *mc, size_t *lenp);
/* The part table, in the form message_section_fetch() takes. */
const struct message_span *msgcache_spans(const struct msgcache *mc,
                                          size_t *np);
/* A decoded header value; NULL when the message has no such header. */
const char *msgcache_field(const struct msgcache *mc, enum msgcache_field f,
                           size_t *lenp);
/* The Date header as a time: 0, or CYRERR_NOTFOUND when it is missing or
 * cannot be read. */
int msgcache_date(const struct msgcache *mc, time_t *tp);

#endif
