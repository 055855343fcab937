/* message_imap: a parsed message in IMAP4rev1 syntax (RFC 3501 7.4.2):
 * ENVELOPE, BODY and BODYSTRUCTURE, and the nstring quoting they use.
 *
 * The functions append to a caller's struct buf; the text is ready to send
 * after "ENVELOPE " / "BODYSTRUCTURE " (literals included, as
 * "{n}\r\n" followed by the bytes).
 *
 * Conventions, as Cyrus IMAP writes them:
 *   - values are raw header text, unfolded and trimmed (ENVELOPE does not
 *     decode RFC 2047 encoded words); NUL bytes are dropped;
 *   - a string is quoted when RFC 3501 allows (7-bit, no CR or LF),
 *     with '"' and '\' escaped; otherwise it is sent as a literal;
 *   - media types, subtypes, parameter names, transfer encodings and
 *     disposition types are upper case; parameter values as received;
 *   - an absent Content-Type gives "TEXT" "PLAIN" ("CHARSET" "US-ASCII"),
 *     an absent Content-Transfer-Encoding "7BIT";
 *   - BODYSTRUCTURE carries all four extension fields (MD5 from
 *     Content-MD5, disposition, language, location; NIL when absent);
 *   - a Sender or Reply-To that is absent or has no address takes the
 *     From value (RFC 3501 7.4.2); an address without a domain gets the
 *     host "unspecified-domain" so it cannot pass for a group marker.
 */
#ifndef IMAP_STORE_MESSAGE_IMAP_H
#define IMAP_STORE_MESSAGE_IMAP_H

#include <stddef.h>

#include "buf.h"
#include "imap/store/message.h"

/* Append `s` (len bytes) as an IMAP string: quoted or literal. */
void message_imap_string(struct buf *out, const char *s, size_t len);
/* Append a NUL-terminated string, or NIL for NULL. */
void message_imap_nstring(struct buf *out, const char *s);

/* The address list of a raw header value, as "((...)(...))", or NIL when
 * it holds no address. */
void message_imap_addresses(struct buf *out, const char *value);

/* ENVELOPE of a message entity (the root, or the child of a
 * message/rfc822 part: a part with MESSAGE_PART_MESSAGE). */
void message_imap_envelope(struct buf *out, const struct message_part *msg);

/* BODY (extended = 0) or BODYSTRUCTURE (extended = 1) of a part. */
void message_imap_body(struct buf *out, const struct message_part *part,
                       int extended);

#endif
