/* message_section: IMAP part numbers and BODY[section] contents
 * (RFC 3501 6.4.5, RFC 3516 BINARY).
 *
 * A message's structure is used here in a flat form, an array of struct
 * message_span in pre-order (the root first, every entity followed by its
 * subtree), which message_spans() makes from a parsed tree and which the
 * cache record (msgcache.h) stores, so that BODY[1.2] is served from
 * offsets without parsing the message again.
 *
 * Part numbers, as RFC 3501 defines them: the parts of a message are the
 * parts of its body when it is multipart, and otherwise its body alone is
 * part 1; the parts of a multipart part are its body parts; the parts of a
 * message/rfc822 part are the parts of the encapsulated message.  HEADER,
 * TEXT and HEADER.FIELDS after a part number need a message/rfc822 part
 * and refer to its encapsulated message; MIME is the part's own header.
 *
 * Errors: CYRERR_PARSE for a bad section spec, CYRERR_NOTFOUND for a part
 * that does not exist (or HEADER/TEXT on a part that is not a message),
 * CYRERR_NOTSUPPORTED when BINARY meets an unknown transfer encoding,
 * CYRERR_CORRUPT when the spans point outside the message data.
 */
#ifndef IMAP_STORE_MESSAGE_SECTION_H
#define IMAP_STORE_MESSAGE_SECTION_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "strarray.h"
#include "imap/store/charset.h"
#include "imap/store/message.h"

struct message_span {
    size_t header_off, header_len;
    size_t body_off, body_len;
    enum message_kind kind;
    unsigned flags;              /* MESSAGE_PART_* */
    enum charset_encoding cte;
    uint32_t nchildren;
    uint32_t subtree;            /* entities in this subtree, itself too */
    const char *type, *subtype;  /* upper case, borrowed */
    const char *charset;         /* borrowed; NULL when none */
};

/* The flat form of a tree: a new array (caller frees) whose strings are
 * borrowed from the tree.  Returns the number of entries. */
size_t message_spans(const struct message_part *root,
                     struct message_span **spansp);

enum message_section_kind {
    MESSAGE_SECTION_BODY = 0,    /* [] whole message, [1.2] part content */
    MESSAGE_SECTION_HEADER,
    MESSAGE_SECTION_HEADER_FIELDS,
    MESSAGE_SECTION_HEADER_FIELDS_NOT,
    MESSAGE_SECTION_TEXT,
    MESSAGE_SECTION_MIME
};

#define MESSAGE_SECTION_MAX_PARTS 256   /* numbers in one part spec */

struct message_section {
    uint32_t *part;              /* part numbers, owned */
    int nparts;
    enum message_section_kind kind;
    struct strarray fields;      /* HEADER.FIELDS[.NOT] names */
};
#define MESSAGE_SECTION_INITIALIZER \
    { NULL, 0, MESSAGE_SECTION_BODY, STRARRAY_INITIALIZER }

/* Parse the text between "[" and "]" of BODY[...] (e.g. "",
 * "1.2.HEADER.FIELDS (From To)", "3.MIME").  Field names may be atoms or
 * quoted strings.  Returns 0 or CYRERR_PARSE; *sec is filled either way
 * and must be released with message_section_fini(). */
int message_section_parse(const char *spec, size_t len,
                          struct message_section *sec);
void message_section_fini(struct message_section *sec);

/* The index in `spans` of the entity a part number list names (the root,
 * for an empty list), or CYRERR_NOTFOUND. */
int message_section_find(const struct message_span *spans, size_t nspans,
                         const uint32_t *part, int nparts, size_t *idxp);

#define MESSAGE_SECTION_BINARY 0x01   /* decode the transfer encoding */

/* The contents of a section of the message at base/len.  On success the
 * result (*datap, *lenp) points either into `base` (no copy) or into
 * `scratch` (HEADER.FIELDS, BINARY decoding), valid until either changes.
 * With MESSAGE_SECTION_BINARY, the section must be a part number list (or
 * empty; else CYRERR_BADARGS); a multipart or message part is returned as
 * it is.  A <partial> range is the caller's to apply. */
int message_section_fetch(const char *base, size_t len,
                          const struct message_span *spans, size_t nspans,
                          const struct message_section *sec, unsigned flags,
                          struct buf *scratch, const char **datap,
                          size_t *lenp);

#endif
