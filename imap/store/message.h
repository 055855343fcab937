/* message: parsing an RFC 5322 / MIME message into a tree of parts.
 *
 * message_parse() reads a message held in memory (CRLF or bare LF line
 * endings, both accepted; offsets always refer to the bytes given) and
 * builds a tree of struct message_part.  It never fails on message data:
 * whatever is malformed is read the lenient way, in this order of rules:
 *
 *   - a header block ends at the first empty line (which belongs to it),
 *     at the end of the data, at a MIME boundary line, or before the first
 *     line that is neither a field ("name:") nor a continuation (that line
 *     starts the body: the message simply lacked the empty line);
 *   - a missing or invalid Content-Type is text/plain; charset=us-ascii
 *     (message/rfc822 inside multipart/digest);
 *   - a part ends at the next line that is a delimiter of its own or of any
 *     enclosing multipart (the innermost boundary wins when several
 *     multiparts share one); a missing close delimiter ends the multipart
 *     at its parent's next delimiter or at the end of the data;
 *   - a multipart in which no body part is found (no boundary parameter, or
 *     no delimiter line) gets one implicit text/plain part spanning its
 *     whole body, since IMAP requires at least one part;
 *   - limits: parts nested deeper than MESSAGE_MAX_DEPTH, and all parts
 *     after the first MESSAGE_MAX_PARTS, are not split further: such a
 *     multipart or message/rfc822 part is treated as opaque text/plain
 *     (MESSAGE_PART_OPAQUE); header fields that start beyond the first
 *     MESSAGE_MAX_HEADER bytes of a header block are left uninterpreted.
 *
 * Ownership: message_parse() returns a tree owned by the caller, freed with
 * message_free().  All strings in it are owned by the tree.
 *
 * Part numbering (RFC 3501 6.4.5) and section fetches are in
 * message_section.h; ENVELOPE and BODYSTRUCTURE rendering in
 * message_imap.h; the per-message cache record in msgcache.h.
 */
#ifndef IMAP_STORE_MESSAGE_H
#define IMAP_STORE_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "strarray.h"
#include "imap/store/charset.h"

#define MESSAGE_MAX_DEPTH 64               /* nesting of parts */
#define MESSAGE_MAX_PARTS 10000            /* entities in one message */
#define MESSAGE_MAX_HEADER (1024 * 1024)   /* interpreted header bytes */

/* The missing domain of an address such as "To: bob" (what Cyrus
 * reports), so that ENVELOPE never mistakes it for a group marker. */
#define MESSAGE_UNSPECIFIED_DOMAIN "unspecified-domain"

/* A Content-Type or Content-Disposition parameter. */
struct message_param {
    char *attribute;   /* upper case; RFC 2231 sections merged: "NAME*"
                        * (value "charset'lang'%XX...") when extended */
    char *value;       /* as received, quotes and quoted-pairs removed */
    struct message_param *next;
};

/* Header fields kept raw for ENVELOPE (the first ten, in ENVELOPE
 * order) and for threading. */
enum message_hdr {
    MESSAGE_HDR_DATE = 0,
    MESSAGE_HDR_SUBJECT,
    MESSAGE_HDR_FROM,
    MESSAGE_HDR_SENDER,
    MESSAGE_HDR_REPLY_TO,
    MESSAGE_HDR_TO,
    MESSAGE_HDR_CC,
    MESSAGE_HDR_BCC,
    MESSAGE_HDR_IN_REPLY_TO,
    MESSAGE_HDR_MESSAGE_ID,
    MESSAGE_HDR_REFERENCES,
    MESSAGE_HDR_COUNT
};
#define MESSAGE_HDR_ENVELOPE 10   /* fields that make up ENVELOPE */

enum message_kind {
    MESSAGE_KIND_LEAF = 0,   /* anything not split further */
    MESSAGE_KIND_MULTIPART,  /* children: its body parts */
    MESSAGE_KIND_RFC822      /* one child: the encapsulated message */
};

/* part flags */
#define MESSAGE_PART_BLANKLINE  0x01  /* header ended with an empty line */
#define MESSAGE_PART_DEFAULTED  0x02  /* Content-Type missing or invalid */
#define MESSAGE_PART_OPAQUE     0x04  /* over a limit: not split further */
#define MESSAGE_PART_IMPLICIT   0x08  /* made up: no header of its own */
#define MESSAGE_PART_NOCLOSE    0x10  /* multipart without close delimiter */
#define MESSAGE_PART_MESSAGE    0x20  /* an RFC 5322 message (root, or
                                       * encapsulated): env[] is filled */
#define MESSAGE_PART_BADHEADER  0x40  /* header ended by a non-field line */

struct message_part {
    /* Byte ranges, from the start of the data given to message_parse.
     * The header includes its empty line; for a part of a multipart it is
     * the MIME header after the delimiter line. */
    size_t header_off, header_len;
    size_t body_off, body_len;
    size_t body_lines;     /* line breaks in the body (an unterminated
                            * last line is not counted, as in Cyrus) */
    unsigned flags;        /* MESSAGE_PART_* */
    enum message_kind kind;
    int depth;             /* root 0; each part or encapsulation +1 */

    /* Content-Type: upper case, never NULL */
    char *type, *subtype;
    struct message_param *params;
    char *charset;         /* decoded charset parameter, or NULL */
    char *boundary;        /* decoded boundary parameter, or NULL */

    /* other MIME fields, raw (unfolded, trimmed), NULL when absent */
    char *id, *description, *md5, *location;
    char *encoding;        /* upper case; NULL when absent (7BIT) */
    enum charset_encoding cte;
    char *disposition;     /* upper case */
    struct message_param *disp_params;
    struct strarray language;

    /* MESSAGE_PART_MESSAGE only: raw unfolded values, NULL when absent */
    char *hdr[MESSAGE_HDR_COUNT];

    struct message_part **children;
    int nchildren;
};

/* Parse `len` bytes at `base`.  Returns 0 and the tree in *rootp, or
 * CYRERR_BADARGS for a NULL base with a length.  Never fails otherwise. */
int message_parse(const char *base, size_t len, struct message_part **rootp);
void message_free(struct message_part **rootp);

/* Number of entities in the tree (root and encapsulated messages
 * included). */
size_t message_count_parts(const struct message_part *root);

/* First parameter named `attr` (case-insensitive, exact: "NAME" does not
 * find "NAME*"); borrowed value or NULL. */
const char *message_param_get(const struct message_param *p,
                              const char *attr);

/* The value of parameter `attr` decoded: plain "ATTR", or RFC 2231
 * "ATTR*" percent-decoded and converted to UTF-8.  Caller frees; NULL when
 * absent. */
char *message_param_decode(const struct message_param *p, const char *attr);

/* Parse a Content-Type value (message_param.c).  Returns 0 with the type
 * and subtype (upper case) and the parameters, all owned by the caller, or
 * CYRERR_PARSE (nothing returned) when there is no "type/subtype". */
int message_parse_content_type(const char *value, size_t len, char **typep,
                               char **subtypep,
                               struct message_param **paramsp);
/* Parse a Content-Disposition value likewise (type upper case). */
int message_parse_disposition(const char *value, size_t len, char **dispp,
                              struct message_param **paramsp);
void message_param_free(struct message_param **pp);

/* ---- header fields (message_header.c) ---------------------------------- */

/* One field of a header block, as message_header_next() finds it. */
struct message_field {
    const char *name;  size_t namelen;    /* without the colon */
    const char *value; size_t valuelen;   /* raw, folded, no final break */
    const char *line;  size_t linelen;    /* whole field with its breaks */
};

/* Iterate over the fields of a header block (`hdr`, `len`: for instance a
 * part's header range).  *pos starts at 0.  Returns 1 with *f filled, or
 * 0 at the end (the empty line, or the end of the block).  Lines that are
 * not fields are skipped. */
int message_header_next(const char *hdr, size_t len, size_t *pos,
                        struct message_field *f);

/* Find the first field named `name` (case-insensitive); append its value
 * unfolded and trimmed to `value` (when not NULL).  Returns 1 if found. */
int message_header_get(const char *hdr, size_t len, const char *name,
                       struct buf *value);

/* Append a raw value unfolded (CR and LF removed) and trimmed of white
 * space at both ends. */
void message_unfold(const char *value, size_t len, struct buf *out);

/* Parse an RFC 5322 date-time (also the obsolete forms: two-digit years,
 * zone names, missing seconds or day-of-week, comments).  Returns 0 with
 * *tp set (UTC seconds), or CYRERR_PARSE. */
int message_parse_date(const char *s, size_t len, time_t *tp);

/* The RFC 5256 base subject of a decoded (UTF-8) subject, appended:
 * leading "Re:", "Fw:", "Fwd:" and "[blob]" prefixes, trailing "(fwd)",
 * the "[fwd: ...]" wrapper removed and white space collapsed. */
void message_base_subject(const char *subject, size_t len, struct buf *out);

/* ---- addresses (message_address.c) ------------------------------------- */

/* One element of an address list.  A group start has mailbox = the group
 * name and domain = NULL; a group end has mailbox = domain = NULL. */
struct message_address {
    char *name;        /* display name or comment, raw; NULL when none */
    char *route;       /* obsolete source route "@a,@b"; NULL when none */
    char *mailbox;     /* local part, as written (quotes kept) */
    char *domain;      /* MESSAGE_UNSPECIFIED_DOMAIN when missing */
    struct message_address *next;
};

/* Parse an RFC 5322 address-list (obsolete forms included: routes, empty
 * elements, missing domains, unterminated groups).  Returns the list
 * (caller frees with message_address_free) or NULL for an empty list. */
struct message_address *message_address_parse(const char *s, size_t len);
void message_address_free(struct message_address **ap);

#endif
