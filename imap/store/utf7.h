/* utf7: IMAP modified UTF-7 (RFC 3501 section 5.1.3) for mailbox names.
 *
 * Mailbox names travel and are stored in modified UTF-7: printable US-ASCII
 * stands for itself, "&" is written "&-", and every other character is the
 * modified BASE64 (with "," for "/") of its UTF-16 form between "&" and "-".
 *
 * utf7_valid() is strict: it refuses raw bytes outside 0x20-0x7e, BASE64
 * that encodes a printable ASCII character, a shift sequence that is empty,
 * unterminated, has non-zero or superfluous padding bits, a null shift (two
 * BASE64 runs back to back: "&AOk-&AOk-"), and unpaired UTF-16 surrogates.
 * With UTF7_NOCONTROL it also refuses encoded control characters (U+0000 to
 * U+001F, U+007F to U+009F), which the mail store never accepts in a name.
 *
 * utf7_decode() and utf7_encode() convert to and from UTF-8; each output is
 * appended to a caller-owned struct buf.  utf7_encode() refuses malformed
 * UTF-8 (overlong forms, surrogates, code points past U+10FFFF).
 *
 * All functions return 0, or CYRERR_PARSE for input that is not valid; on
 * error the output buffer holds a partial result that the caller discards.
 */
#ifndef IMAP_STORE_UTF7_H
#define IMAP_STORE_UTF7_H

#include <stddef.h>

#include "buf.h"

#define UTF7_NOCONTROL 0x01   /* also refuse encoded control characters */

int utf7_valid(const char *s, size_t len, int flags)
    __attribute__((warn_unused_result));
/* modified UTF-7 -> UTF-8, appended to out */
int utf7_decode(const char *s, size_t len, int flags, struct buf *out)
    __attribute__((warn_unused_result));
/* UTF-8 -> modified UTF-7, appended to out */
int utf7_encode(const char *s, size_t len, struct buf *out)
    __attribute__((warn_unused_result));

#endif
