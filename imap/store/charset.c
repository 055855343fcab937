/* charset: charset names and conversion to UTF-8.  See charset.h.
 *
 * US-ASCII, UTF-8 and windows-1252 (which also serves ISO-8859-1) are
 * converted here directly, since they are most of the mail there is; any
 * other charset goes through iconv, with the descriptors kept open in a
 * small cache.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/store/charset.h"
#include "error.h"
#include "xmalloc.h"

#define CHARSET_NAME_MAX 64     /* longer names are not charsets */
#define ICONV_CACHE_SIZE 8

enum cs_kind {
    CS_UNKNOWN = 0,
    CS_ASCII,      /* US-ASCII and "unknown 8-bit": UTF-8 or windows-1252 */
    CS_UTF8,
    CS_WIN1252,
    CS_ICONV
};

/* Names with a direct converter, or an iconv name that serves them better
 * than their own (a superset, or a name glibc does not know). */
static const struct cs_alias {
    const char *name;
    enum cs_kind kind;
    const char *iconv_name;
} cs_aliases[] = {
    { "us-ascii", CS_ASCII, NULL },
    { "ascii", CS_ASCII, NULL },
    { "ansi_x3.4-1968", CS_ASCII, NULL },
    { "ansi-x3.4-1968", CS_ASCII, NULL },
    { "iso646-us", CS_ASCII, NULL },
    { "iso-ir-6", CS_ASCII, NULL },
    { "cp367", CS_ASCII, NULL },
    { "ibm367", CS_ASCII, NULL },
    { "csascii", CS_ASCII, NULL },
    { "us", CS_ASCII, NULL },
    { "x-unknown", CS_ASCII, NULL },
    { "unknown", CS_ASCII, NULL },
    { "unknown-8bit", CS_ASCII, NULL },
    { "x-user-defined", CS_ASCII, NULL },
    { "8bit", CS_ASCII, NULL },
    { "default", CS_ASCII, NULL },
    { "utf-8", CS_UTF8, NULL },
    { "utf8", CS_UTF8, NULL },
    { "unicode-1-1-utf-8", CS_UTF8, NULL },
    { "x-unicode20utf8", CS_UTF8, NULL },
    { "iso-8859-1", CS_WIN1252, NULL },
    { "iso8859-1", CS_WIN1252, NULL },
    { "iso_8859-1", CS_WIN1252, NULL },
    { "iso_8859-1:1987", CS_WIN1252, NULL },
    { "latin1", CS_WIN1252, NULL },
    { "latin-1", CS_WIN1252, NULL },
    { "l1", CS_WIN1252, NULL },
    { "cp819", CS_WIN1252, NULL },
    { "ibm819", CS_WIN1252, NULL },
    { "iso-ir-100", CS_WIN1252, NULL },
    { "csisolatin1", CS_WIN1252, NULL },
    { "windows-1252", CS_WIN1252, NULL },
    { "cp1252", CS_WIN1252, NULL },
    { "x-cp1252", CS_WIN1252, NULL },
    { "gb2312", CS_ICONV, "GB18030" },
    { "csgb2312", CS_ICONV, "GB18030" },
    { "euc-cn", CS_ICONV, "GB18030" },
    { "cn-gb", CS_ICONV, "GB18030" },
    { "gbk", CS_ICONV, "GB18030" },
    { "x-gbk", CS_ICONV, "GB18030" },
    { "ks_c_5601-1987", CS_ICONV, "CP949" },
    { "ks_c_5601", CS_ICONV, "CP949" },
    { "euc-kr", CS_ICONV, "CP949" },
    { "x-euc-kr", CS_ICONV, "CP949" },
    { "korean", CS_ICONV, "CP949" },
    { "shift_jis", CS_ICONV, "CP932" },
    { "shift-jis", CS_ICONV, "CP932" },
    { "sjis", CS_ICONV, "CP932" },
    { "x-sjis", CS_ICONV, "CP932" },
    { "ms_kanji", CS_ICONV, "CP932" },
    { "windows-31j", CS_ICONV, "CP932" },
    { "big5", CS_ICONV, "BIG5-HKSCS" },
    { "x-x-big5", CS_ICONV, "BIG5-HKSCS" },
    { "iso-8859-8-i", CS_ICONV, "ISO-8859-8" },
    { "iso-8859-6-i", CS_ICONV, "ISO-8859-6" },
    { "x-mac-roman", CS_ICONV, "MACINTOSH" },
    { "mac", CS_ICONV, "MACINTOSH" },
    { "windows-874", CS_ICONV, "CP874" },
    { "unicode-1-1-utf-7", CS_ICONV, "UTF-7" },
};

/* windows-1252 0x80..0x9F; the five unassigned bytes map to the C1
 * controls, as the WHATWG encoding standard does. */
static const uint16_t win1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178
};

static struct iconv_slot {
    char *name;             /* lower case; NULL when the slot is free */
    iconv_t cd;             /* (iconv_t)-1: iconv does not know the name */
    unsigned long used;
} iconv_cache[ICONV_CACHE_SIZE];
static unsigned long iconv_clock;

/* The last name looked up and its answer: a search over many messages
 * asks about the same few names again and again. */
static struct {
    char *name;
    enum cs_kind kind;
    iconv_t cd;
} last_lookup;

/* ---- UTF-8 ----------------------------------------------------------- */

size_t charset_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1; v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;        /* no overlongs */
        if (c == 0xED) hi = 0x9F;        /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;        /* nothing above U+10FFFF */
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    size_t i;
    for (i = 1; i <= need; i++) {
        if (i >= n) break;
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (i <= need) {
        /* a maximal invalid subpart: the bytes that were still a prefix */
        *cp = 0xFFFD;
        return i;
    }
    *cp = v;
    return need + 1;
}

void charset_utf8_put(struct buf *out, uint32_t c)
{
    char t[4];
    size_t n;
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    if (c < 0x80) {
        t[0] = (char)c; n = 1;
    } else if (c < 0x800) {
        t[0] = (char)(0xC0 | (c >> 6));
        t[1] = (char)(0x80 | (c & 0x3F)); n = 2;
    } else if (c < 0x10000) {
        t[0] = (char)(0xE0 | (c >> 12));
        t[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        t[2] = (char)(0x80 | (c & 0x3F)); n = 3;
    } else {
        t[0] = (char)(0xF0 | (c >> 18));
        t[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        t[3] = (char)(0x80 | (c & 0x3F)); n = 4;
    }
    buf_appendmap(out, t, n);
}

/* Length of the leading run of ASCII bytes. */
static size_t ascii_prefix(const unsigned char *p, size_t n)
{
    size_t i = 0;
    /* eight bytes at a time while no high bit is set */
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) break;
        i += 8;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

int charset_utf8_valid(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        i += ascii_prefix(p + i, len - i);
        if (i >= len) break;
        uint32_t cp;
        size_t n = charset_utf8_next(p + i, len - i, &cp);
        if (cp == 0xFFFD && !(n == 3 && p[i] == 0xEF && p[i + 1] == 0xBF &&
                              p[i + 2] == 0xBD))
            return 0;
        i += n;
    }
    return 1;
}

void charset_utf8_sanitize(const char *data, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        /* copy valid stretches in one go */
        size_t start = i;
        while (i < len) {
            i += ascii_prefix(p + i, len - i);
            if (i >= len) break;
            uint32_t cp;
            size_t n = charset_utf8_next(p + i, len - i, &cp);
            if (cp == 0xFFFD && !(n == 3 && p[i] == 0xEF &&
                                  p[i + 1] == 0xBF && p[i + 2] == 0xBD))
                break;
            i += n;
        }
        buf_appendmap(out, p + start, i - start);
        if (i < len) {
            uint32_t cp;
            i += charset_utf8_next(p + i, len - i, &cp);
            charset_utf8_put(out, 0xFFFD);
        }
    }
}

/* ---- direct converters ------------------------------------------------ */

static void win1252_to_utf8(const char *data, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)data;
    buf_ensure(out, len * 2);
    out->s[out->len] = '\0';
    size_t i = 0;
    while (i < len) {
        size_t n = ascii_prefix(p + i, len - i);
        buf_appendmap(out, p + i, n);
        i += n;
        while (i < len && p[i] >= 0x80) {
            uint32_t c = p[i] < 0xA0 ? win1252_c1[p[i] - 0x80] : p[i];
            charset_utf8_put(out, c);
            i++;
        }
    }
}

/* US-ASCII as labelled, 8-bit as found: UTF-8 when valid, else 1252. */
static void ascii_to_utf8(const char *data, size_t len, struct buf *out)
{
    size_t n = ascii_prefix((const unsigned char *)data, len);
    if (n == len || charset_utf8_valid(data + n, len - n))
        buf_appendmap(out, data, len);
    else
        win1252_to_utf8(data, len, out);
}

/* ---- iconv -------------------------------------------------------------- */

static void iconv_convert(iconv_t cd, const char *data, size_t len,
                          struct buf *out)
{
    char *in = (char *)data;
    size_t inleft = len;
    int flushed = 0;

    iconv(cd, NULL, NULL, NULL, NULL);      /* initial shift state */
    while (inleft > 0 || !flushed) {
        size_t want = inleft < (1 << 20) ? inleft * 2 + 64 : (1 << 21);
        buf_ensure(out, want);
        char *op = out->s + out->len;
        size_t oleft = out->alloc - out->len - 1;
        size_t r;
        if (inleft > 0) {
            r = iconv(cd, &in, &inleft, &op, &oleft);
        } else {
            r = iconv(cd, NULL, NULL, &op, &oleft);   /* shift back */
            if (r != (size_t)-1) flushed = 1;
        }
        int err = errno;
        out->len = (size_t)(op - out->s);
        out->s[out->len] = '\0';
        if (r != (size_t)-1 || err == E2BIG) continue;
        if (inleft == 0) break;               /* flush failed: give up */
        charset_utf8_put(out, 0xFFFD);
        if (err == EINVAL) break;             /* truncated at the end */
        in++;                                 /* EILSEQ: skip one byte */
        inleft--;
    }
}

/* 1 if `c` may appear in a charset name handed to iconv. */
static int name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == ':' || c == '+' || c == '(' || c == ')';
}

static iconv_t iconv_lookup(const char *name, size_t len,
                            const char *iconv_name)
{
    struct iconv_slot *victim = &iconv_cache[0];
    for (int i = 0; i < ICONV_CACHE_SIZE; i++) {
        struct iconv_slot *s = &iconv_cache[i];
        if (s->name && strlen(s->name) == len &&
            !strncasecmp(s->name, name, len)) {
            s->used = ++iconv_clock;
            return s->cd;
        }
        if (!s->name || s->used < victim->used) victim = s;
        if (!victim->name) break;
    }
    if (victim->name) {
        if (victim->cd != (iconv_t)-1) iconv_close(victim->cd);
        free(victim->name);
        xfree(last_lookup.name);       /* it may name this descriptor */
    }
    victim->name = xstrndup(name, len);
    for (char *q = victim->name; *q; q++)
        if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
    victim->cd = iconv_open("UTF-8", iconv_name ? iconv_name : victim->name);
    victim->used = ++iconv_clock;
    return victim->cd;
}

static enum cs_kind cs_lookup_uncached(const char *charset, iconv_t *cdp);

/* Classify a charset name; for CS_ICONV also give the open descriptor. */
static enum cs_kind cs_lookup(const char *charset, iconv_t *cdp)
{
    if (!charset) return CS_ASCII;
    if (last_lookup.name && !strcmp(last_lookup.name, charset)) {
        *cdp = last_lookup.cd;
        return last_lookup.kind;
    }
    iconv_t cd = (iconv_t)-1;
    enum cs_kind kind = cs_lookup_uncached(charset, &cd);
    /* (an iconv answer stays valid while its cache slot does:
     * iconv_lookup() forgets it when it reuses a slot) */
    if (strlen(charset) <= CHARSET_NAME_MAX) {
        free(last_lookup.name);
        last_lookup.name = xstrdup(charset);
        last_lookup.kind = kind;
        last_lookup.cd = cd;
    }
    *cdp = cd;
    return kind;
}

static enum cs_kind cs_lookup_uncached(const char *charset, iconv_t *cdp)
{
    size_t len = strlen(charset);
    while (len && (charset[0] == ' ' || charset[0] == '\t')) {
        charset++; len--;
    }
    while (len && (charset[len - 1] == ' ' || charset[len - 1] == '\t'))
        len--;
    if (!len) return CS_ASCII;
    if (len > CHARSET_NAME_MAX) return CS_UNKNOWN;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)charset[i])) return CS_UNKNOWN;

    const char *iconv_name = NULL;
    for (size_t i = 0; i < sizeof(cs_aliases) / sizeof(cs_aliases[0]); i++) {
        const struct cs_alias *a = &cs_aliases[i];
        if (strlen(a->name) == len && !strncasecmp(a->name, charset, len)) {
            if (a->kind != CS_ICONV) return a->kind;
            iconv_name = a->iconv_name;
            break;
        }
    }
    iconv_t cd = iconv_lookup(charset, len, iconv_name);
    if (cd == (iconv_t)-1) return CS_UNKNOWN;
    *cdp = cd;
    return CS_ICONV;
}

int charset_is_known(const char *charset)
{
    iconv_t cd;
    return cs_lookup(charset, &cd) != CS_UNKNOWN;
}

int charset_to_utf8(const char *charset, const char *data, size_t len,
                    struct buf *out)
{
    iconv_t cd = (iconv_t)-1;
    switch (cs_lookup(charset, &cd)) {
    case CS_ASCII:
        ascii_to_utf8(data, len, out);
        return 0;
    case CS_UTF8:
        charset_utf8_sanitize(data, len, out);
        return 0;
    case CS_WIN1252:
        win1252_to_utf8(data, len, out);
        return 0;
    case CS_ICONV:
        iconv_convert(cd, data, len, out);
        return 0;
    case CS_UNKNOWN:
        break;
    }
    return CYRERR_NOTSUPPORTED;
}

void charset_to_utf8_lenient(const char *charset, const char *data,
                             size_t len, struct buf *out)
{
    if (charset_to_utf8(charset, data, len, out) < 0)
        ascii_to_utf8(data, len, out);
}

enum charset_class charset_class(const char *charset)
{
    iconv_t cd;
    switch (cs_lookup(charset, &cd)) {
    case CS_UTF8:
        return CHARSET_CLASS_UTF8;
    case CS_ASCII:
    case CS_WIN1252:
        return CHARSET_CLASS_ASCII8;
    case CS_ICONV:
        while (*charset == ' ' || *charset == '\t') charset++;
        if (!strncasecmp(charset, "iso-8859-", 9) ||
            !strncasecmp(charset, "windows-125", 11) ||
            !strncasecmp(charset, "cp125", 5) ||
            !strncasecmp(charset, "koi8-", 5))
            return CHARSET_CLASS_ASCII8;
        return CHARSET_CLASS_OTHER;
    case CS_UNKNOWN:
        break;
    }
    return CHARSET_CLASS_OTHER;
}
