/* utf7: IMAP modified UTF-7.  See utf7.h. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "error.h"
#include "imap/store/utf7.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Value of a modified BASE64 character, or -1. */
static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == ',') return 63;
    return -1;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
    char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_appendmap(out, b, n);
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Decode one BASE64 run starting just after '&' at s[*pos]; *pos ends just
 * after the closing '-'.  Emits code points to out when out != NULL. */
static int decode_run(const char *s, size_t len, size_t *pos, int flags,
                      struct buf *out)
{
    uint32_t acc = 0;
    unsigned nbits = 0;
    uint32_t high = 0;        /* pending high surrogate, or 0 */
    size_t i = *pos;
    int units = 0;

    for (;;) {
        if (i >= len) return CYRERR_PARSE;          /* unterminated */
        unsigned char c = (unsigned char)s[i++];
        if (c == '-') break;
        int v = b64val(c);
        if (v < 0) return CYRERR_PARSE;
        acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
        nbits += 6;
        if (nbits < 16) continue;
        nbits -= 16;
        uint32_t unit = (acc >> nbits) & 0xffff;
        units++;
        if (high) {
            if (unit < 0xdc00 || unit > 0xdfff) return CYRERR_PARSE;
            uint32_t cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
            high = 0;
            if (out) put_utf8(out, cp);
            continue;
        }
        if (unit >= 0xd800 && unit <= 0xdbff) {
            high = unit;
            continue;
        }
        if (unit >= 0xdc00 && unit <= 0xdfff) return CYRERR_PARSE;
        /* printable ASCII must represent itself */
        if (unit >= 0x20 && unit <= 0x7e) return CYRERR_PARSE;
        if ((flags & UTF7_NOCONTROL) && is_control(unit)) return CYRERR_PARSE;
        if (out) put_utf8(out, unit);
    }
    if (high) return CYRERR_PARSE;                  /* unpaired surrogate */
    /* leftover bits: fewer than one BASE64 character, all zero */
    if (nbits >= 6) return CYRERR_PARSE;
    if (acc & ((1u << nbits) - 1)) return CYRERR_PARSE;
    if (units == 0 && i - *pos > 1) return CYRERR_PARSE;
    *pos = i;
    return 0;
}

static int walk(const char *s, size_t len, int flags, struct buf *out)
{
    size_t i = 0;
    int after_run = 0;     /* the previous item was a non-empty BASE64 run */

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e) return CYRERR_PARSE;
        if (c != '&') {
            if (out) buf_putc(out, (char)c);
            after_run = 0;
            i++;
            continue;
        }
        i++;
        if (i < len && s[i] == '-') {                /* "&-" is "&" */
            if (out) buf_putc(out, '&');
            after_run = 0;
            i++;
            continue;
        }
        if (after_run) return CYRERR_PARSE;          /* null shift "-&" */
        int r = decode_run(s, len, &i, flags, out);
        if (r) return r;
        after_run = 1;
    }
    return 0;
}

int utf7_valid(const char *s, size_t len, int flags)
{
    return walk(s, len, flags, NULL);
}

int utf7_decode(const char *s, size_t len, int flags, struct buf *out)
{
    return walk(s, len, flags, out);
}

/* Next code point of strict UTF-8 at s[*pos]; -1 when malformed. */
static int32_t next_utf8(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    uint32_t c = s[i];
    uint32_t cp, min;
    int n;

    if (c < 0x80) {
        *pos = i + 1;
        return (int32_t)c;
    } else if ((c & 0xe0) == 0xc0) {
        cp = c & 0x1f; n = 1; min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        cp = c & 0x0f; n = 2; min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        cp = c & 0x07; n = 3; min = 0x10000;
    } else {
        return -1;
    }
    if (len - i - 1 < (size_t)n) return -1;
    for (int k = 1; k <= n; k++) {
        uint32_t cc = s[i + k];
        if ((cc & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *pos = i + 1 + n;
    return (int32_t)cp;
}

struct b64w {
    uint32_t acc;
    unsigned nbits;
};

static void b64_unit(struct b64w *w, struct buf *out, uint32_t unit)
{
    w->acc = ((w->acc << 16) | unit) & 0xffffff;
    w->nbits += 16;
    while (w->nbits >= 6) {
        w->nbits -= 6;
        buf_putc(out, b64chars[(w->acc >> w->nbits) & 0x3f]);
    }
}

static void b64_close(struct b64w *w, struct buf *out)
{
    if (w->nbits)
        buf_putc(out, b64chars[(w->acc << (6 - w->nbits)) & 0x3f]);
    buf_putc(out, '-');
    w->acc = 0;
    w->nbits = 0;
}

int utf7_encode(const char *s, size_t len, struct buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    struct b64w w = { 0, 0 };
    int inrun = 0;
    size_t i = 0;

    while (i < len) {
        int32_t cp = next_utf8(u, len, &i);
        if (cp < 0) return CYRERR_PARSE;
        if (cp >= 0x20 && cp <= 0x7e) {
            if (inrun) {
                b64_close(&w, out);
                inrun = 0;
            }
            if (cp == '&') buf_appendmap(out, "&-", 2);
            else buf_putc(out, (char)cp);
            continue;
        }
        if (!inrun) {
            buf_putc(out, '&');
            inrun = 1;
        }
        if (cp >= 0x10000) {
            uint32_t v = (uint32_t)cp - 0x10000;
            b64_unit(&w, out, 0xd800 + (v >> 10));
            b64_unit(&w, out, 0xdc00 + (v & 0x3ff));
        } else {
            b64_unit(&w, out, (uint32_t)cp);
        }
    }
    if (inrun) b64_close(&w, out);
    return 0;
}
