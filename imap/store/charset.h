/* charset: turning message text into UTF-8, and searching it.
 *
 * Four groups of functions:
 *   - charset conversion: any charset iconv knows (plus aliases for the
 *     names mailers really use) to UTF-8; invalid or incomplete sequences
 *     become U+FFFD, so conversion never fails on bad data, only on an
 *     unknown charset name;
 *   - transfer decodings: quoted-printable and base64 (lenient, as RFC 2045
 *     asks of decoders), and RFC 2047 encoded words in header values;
 *   - the search form: UTF-8, simple-case-folded (Unicode CaseFolding.txt,
 *     statuses C and S), optionally with every run of white space merged
 *     into one space (which makes a search match across line folding);
 *   - a substring matcher over that form, with a zero-copy fast path for
 *     ASCII needles over ASCII-compatible text.
 *
 * Output: every function that produces text appends it to a caller's
 * struct buf (it never resets it).  Returned pointers are owned by the
 * caller where the type is `char *` or a struct allocated by a _new().
 *
 * Errors: 0 or a negative CYRERR_* code (lib/error.h).
 *
 * Global state: charset.c keeps a small per-process cache of open iconv
 * descriptors (opening one costs far more than converting a message) and
 * remembers the last charset name it classified.  That is not
 * thread-safe: call these functions from one thread only (the threaded
 * daemon, mupdate, does not use them).
 */
#ifndef IMAP_STORE_CHARSET_H
#define IMAP_STORE_CHARSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- content transfer encodings (RFC 2045 section 6) ---------------- */

enum charset_encoding {
    CHARSET_ENC_NONE = 0, /* 7bit, 8bit, binary, or no header at all */
    CHARSET_ENC_QP,       /* quoted-printable */
    CHARSET_ENC_BASE64,
    CHARSET_ENC_UNKNOWN   /* an x-token or junk: cannot be decoded */
};

/* Classify a Content-Transfer-Encoding value (case-insensitive, white
 * space around it ignored).  NULL or empty gives CHARSET_ENC_NONE. */
enum charset_encoding charset_encoding_parse(const char *value, size_t len);

/* Decode quoted-printable, appending to `out`.  Soft line breaks ("=" at
 * the end of a line, even with white space after it) are removed, "=XX"
 * in either case becomes the byte, a "=" that starts neither is kept as
 * it is, and white space at the end of a line is dropped (RFC 2045 6.7
 * rule 3: it was added in transport).  Hard line breaks are copied. */
void charset_decode_qp(const char *in, size_t len, struct buf *out);

/* Decode base64, appending to `out`.  Characters outside the alphabet are
 * ignored; "=" ends a quantum (so concatenated encodings decode); a
 * missing padding is tolerated; a lone trailing sextet is dropped. */
void charset_decode_base64(const char *in, size_t len, struct buf *out);

/* Decode `in` according to `enc`, appending.  NONE copies.  Returns 0, or
 * CYRERR_NOTSUPPORTED for CHARSET_ENC_UNKNOWN (nothing appended). */
int charset_decode(enum charset_encoding enc, const char *in, size_t len,
                   struct buf *out);

/* ---- charsets ------------------------------------------------------- */

/* 1 when `charset` (a MIME charset name, any case) can be converted. */
int charset_is_known(const char *charset);

/* How a charset relates to ASCII (used by the search fast paths). */
enum charset_class {
    CHARSET_CLASS_OTHER = 0, /* unknown, multi-byte, or stateful */
    CHARSET_CLASS_ASCII8,    /* US-ASCII, or an ASCII-compatible single-byte
                              * charset (ISO-8859-*, windows-125*, KOI8-*) */
    CHARSET_CLASS_UTF8
};
enum charset_class charset_class(const char *charset);

/* Convert `len` bytes in `charset` to UTF-8, appending to `out`.  Invalid
 * sequences become U+FFFD.  A NULL or empty charset means US-ASCII.  For
 * US-ASCII and the "unknown 8-bit" names, 8-bit bytes are read as UTF-8
 * when the whole text is valid UTF-8 and as windows-1252 otherwise (that
 * is what such mail really contains).  ISO-8859-1 is read as its superset
 * windows-1252 (as web browsers do).  Returns 0, or CYRERR_NOTSUPPORTED for
 * an unknown charset (nothing appended). */
int charset_to_utf8(const char *charset, const char *data, size_t len,
                    struct buf *out);

/* Like charset_to_utf8, but an unknown charset is read as US-ASCII (see
 * above) instead of failing: what a search over unknown text wants. */
void charset_to_utf8_lenient(const char *charset, const char *data,
                             size_t len, struct buf *out);

/* 1 when `data` is entirely valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
int charset_utf8_valid(const char *data, size_t len);

/* Copy UTF-8, replacing each maximal invalid subsequence by U+FFFD. */
void charset_utf8_sanitize(const char *data, size_t len, struct buf *out);

/* Decode one UTF-8 character at `p` (n > 0 bytes available): stores the
 * code point (U+FFFD when invalid) and returns the bytes consumed (>= 1). */
size_t charset_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);

/* Append code point `c` as UTF-8 (invalid values become U+FFFD). */
void charset_utf8_put(struct buf *out, uint32_t c);

/* ---- RFC 2047 header decoding --------------------------------------- */

/* Decode a raw header value to UTF-8, appending to `out`:
 *   - line folding is undone (CR and LF removed, the white space kept);
 *   - encoded words ("=?charset?B|Q?text?=", charset may carry an RFC 2231
 *     "*language") are decoded, including inside words as lenient
 *     mailers write them; white space between two adjacent encoded words
 *     is dropped (RFC 2047 6.2), and adjacent words in one charset are
 *     joined before conversion, so a character split across them survives;
 *   - an encoded word in an unknown charset, or a malformed one, is kept
 *     as it is;
 *   - raw 8-bit text is kept when it is valid UTF-8 and read as
 *     windows-1252 otherwise. */
void charset_decode_mimeheader(const char *in, size_t len, struct buf *out);

/* ---- search form and matching --------------------------------------- */

#define CHARSET_SEARCH_MERGESPACE 0x01 /* white space runs become one " " */

/* Simple case folding of one code point. */
uint32_t charset_fold(uint32_t c);

/* Append the search form of UTF-8 text (invalid input becomes U+FFFD). */
void charset_search_normalize(const char *utf8, size_t len, int flags,
                              struct buf *out);

/* A compiled needle.  Owned by the caller: charset_search_free(). */
struct charset_search;

/* Compile a UTF-8 needle.  An empty needle matches any text. */
struct charset_search *charset_search_new(const char *needle, size_t len,
                                          int flags);
void charset_search_free(struct charset_search **sp);
/* The needle's search form (borrowed). */
const char *charset_search_needle(const struct charset_search *s,
                                  size_t *lenp);

/* 1 when the needle occurs in `text`, which is already in search form
 * (charset_search_normalize with the same flags), else 0. */
int charset_search_match(const struct charset_search *s, const char *text,
                         size_t len);

/* Reusable work space for the functions below, so that a search over many
 * messages does not allocate per message.  Free with
 * charset_scratch_free(). */
struct charset_scratch {
    struct buf decoded;   /* transfer-decoded bytes */
    struct buf utf8;      /* converted to UTF-8 */
    struct buf norm;      /* search form */
};
#define CHARSET_SCRATCH_INITIALIZER \
    { BUF_INITIALIZER, BUF_INITIALIZER, BUF_INITIALIZER }
void charset_scratch_free(struct charset_scratch *sc);

/* Does the needle occur in a body part?  `data` is the part's raw body,
 * `enc` its transfer encoding and `charset` its charset (NULL: US-ASCII;
 * unknown charsets are read leniently).  An undecodable encoding is
 * searched as it stands.  Returns 1 or 0. */
int charset_search_body(const struct charset_search *s, const char *data,
                        size_t len, enum charset_encoding enc,
                        const char *charset, struct charset_scratch *sc);

/* Does the needle occur in a raw header value (RFC 2047 decoded first)? */
int charset_search_mimeheader(const struct charset_search *s,
                              const char *value, size_t len,
                              struct charset_scratch *sc);

/* The search form of a body part, appended to `out` (for indexing). */
void charset_body_searchform(const char *data, size_t len,
                             enum charset_encoding enc, const char *charset,
                             int flags, struct charset_scratch *sc,
                             struct buf *out);

#endif
