/* charset_search: the search form of text and a substring matcher over it.
 * See charset.h.
 *
 * The search form is UTF-8, simple-case-folded, and (with
 * CHARSET_SEARCH_MERGESPACE) has every run of white space replaced by one
 * space.  A needle matches when its search form is a substring of the
 * text's search form (memmem, glibc's two-way search).
 *
 * Fast path: a needle of ASCII characters without white space can be
 * looked for in ASCII-compatible text without converting it, with an
 * ASCII-case-insensitive Horspool search over the raw bytes: no non-ASCII
 * character folds to ASCII except U+017F LATIN SMALL LETTER LONG S (to
 * "s") and U+212A KELVIN SIGN (to "k"), and a failed raw search falls back
 * to the full path when the needle has one of those letters and the text
 * contains one of those characters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap/store/charset.h"
#include "xmalloc.h"

#include "imap/store/charset_fold.h"

struct charset_search {
    char *needle;          /* search form */
    size_t len;
    int flags;
    int raw_ok;            /* the raw-bytes fast path is exact */
    int has_ks;            /* needle contains 'k' or 's' */
    size_t skip[256];      /* Horspool shifts, indexed by folded byte */
};

static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

uint32_t charset_fold(uint32_t c)
{
    if (c < 0x80) return ascii_lower((unsigned char)c);
    size_t lo = 0, hi = sizeof(fold_runs) / sizeof(fold_runs[0]);
    while (lo < hi) {                 /* last run with first <= c */
        size_t mid = (lo + hi) / 2;
        if (fold_runs[mid].first <= c) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) return c;
    const struct fold_run *r = &fold_runs[lo - 1];
    if (c > r->last || (c - r->first) % r->stride) return c;
    return (uint32_t)((int32_t)c + r->delta);
}

static int is_space_cp(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
    return c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ASCII bytes: 0 = ordinary, 1 = white space */
static const unsigned char ascii_space[128] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1,
};

void charset_search_normalize(const char *utf8, size_t len, int flags,
                              struct buf *out)
{
    const unsigned char *p = (const unsigned char *)utf8;
    const int merge = flags & CHARSET_SEARCH_MERGESPACE;
    int inspace = 0;
    size_t i = 0;

    /* room for the rest of the input at one byte per byte; each non-ASCII
     * character renews that promise before it writes */
    buf_ensure(out, len);
    char *o = out->s + out->len;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80 && !(merge && ascii_space[c])) {
            /* the common case: a run of ASCII that is not white space */
            do {
                *o++ = (char)ascii_lower(c);
                if (++i >= len) break;
                c = p[i];
            } while (c < 0x80 && !(merge && ascii_space[c]));
            inspace = 0;
            continue;
        }
        if (c < 0x80) {                      /* white space, merged */
            if (!inspace) *o++ = ' ';
            inspace = 1;
            i++;
            continue;
        }
        uint32_t cp;
        i += charset_utf8_next(p + i, len - i, &cp);
        out->len = (size_t)(o - out->s);
        buf_ensure(out, len - i + 4);
        if (merge && is_space_cp(cp)) {
            if (!inspace) buf_putc(out, ' ');
            inspace = 1;
        } else {
            charset_utf8_put(out, charset_fold(cp));
            inspace = 0;
        }
        o = out->s + out->len;
    }
    out->len = (size_t)(o - out->s);
    out->s[out->len] = '\0';
}

/* ---- matcher -------------------------------------------------------------- */

struct charset_search *charset_search_new(const char *needle, size_t len,
                                          int flags)
{
    struct charset_search *s = xzmalloc(sizeof(*s));
    struct buf b = BUF_INITIALIZER;
    charset_search_normalize(needle, len, flags, &b);
    s->len = buf_len(&b);
    s->needle = buf_release(&b);
    s->flags = flags;

    s->raw_ok = 1;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->needle[i];
        if (c >= 0x80 || (ascii_space[c] && (flags & CHARSET_SEARCH_MERGESPACE)))
            s->raw_ok = 0;
        if (c == 'k' || c == 's') s->has_ks = 1;
    }
    for (int c = 0; c < 256; c++) s->skip[c] = s->len ? s->len : 1;
    for (size_t i = 0; i + 1 < s->len; i++)
        s->skip[(unsigned char)s->needle[i]] = s->len - 1 - i;
    return s;
}

void charset_search_free(struct charset_search **sp)
{
    if (!*sp) return;
    free((*sp)->needle);
    xfree(*sp);
}

const char *charset_search_needle(const struct charset_search *s,
                                  size_t *lenp)
{
    if (lenp) *lenp = s->len;
    return s->needle;
}

int charset_search_match(const struct charset_search *s, const char *text,
                         size_t len)
{
    if (!s->len) return 1;
    return memmem(text, len, s->needle, s->len) != NULL;
}

/* ASCII-case-insensitive search of the (folded, ASCII) needle in raw
 * bytes: Horspool with the shift table indexed by the folded byte. */
static int raw_search(const struct charset_search *s, const char *text,
                      size_t n)
{
    const unsigned char *t = (const unsigned char *)text;
    const unsigned char *nd = (const unsigned char *)s->needle;
    size_t m = s->len;
    if (!m) return 1;
    if (n < m) return 0;
    if (m == 1) {
        unsigned char c = nd[0];
        if (memchr(t, c, n)) return 1;
        return c >= 'a' && c <= 'z' && memchr(t, c - 32, n) != NULL;
    }
    size_t last = m - 1;
    unsigned char lastc = nd[last];
    for (size_t j = 0; j + m <= n;) {
        unsigned char c = ascii_lower(t[j + last]);
        if (c == lastc) {
            size_t k = 0;
            while (k < last && ascii_lower(t[j + k]) == nd[k]) k++;
            if (k == last) return 1;
        }
        j += s->skip[c];
    }
    return 0;
}

void charset_scratch_free(struct charset_scratch *sc)
{
    buf_free(&sc->decoded);
    buf_free(&sc->utf8);
    buf_free(&sc->norm);
}

/* Transfer-decode into sc->decoded unless nothing needs doing. */
static void decode_body(const char **datap, size_t *lenp,
                        enum charset_encoding enc, struct charset_scratch *sc)
{
    if (enc != CHARSET_ENC_QP && enc != CHARSET_ENC_BASE64) return;
    buf_reset(&sc->decoded);
    charset_decode(enc, *datap, *lenp, &sc->decoded);
    *datap = buf_base(&sc->decoded);
    *lenp = buf_len(&sc->decoded);
}

/* Search form of already transfer-decoded text into sc->norm. */
static void searchform(const char *data, size_t len, const char *charset,
                       int flags, struct charset_scratch *sc, struct buf *out)
{
    if (charset_class(charset) == CHARSET_CLASS_UTF8) {
        /* the normaliser replaces invalid UTF-8 itself */
        charset_search_normalize(data, len, flags, out);
        return;
    }
    buf_reset(&sc->utf8);
    charset_to_utf8_lenient(charset, data, len, &sc->utf8);
    charset_search_normalize(buf_base(&sc->utf8), buf_len(&sc->utf8), flags,
                             out);
}

int charset_search_body(const struct charset_search *s, const char *data,
                        size_t len, enum charset_encoding enc,
                        const char *charset, struct charset_scratch *sc)
{
    if (!s->len) return 1;
    decode_body(&data, &len, enc, sc);
    if (s->raw_ok && charset_class(charset) != CHARSET_CLASS_OTHER) {
        if (raw_search(s, data, len)) return 1;
        if (!s->has_ks) return 0;
        if (!memmem(data, len, "\xE2\x84\xAA", 3) &&
            !memmem(data, len, "\xC5\xBF", 2))
            return 0;
    }
    buf_reset(&sc->norm);
    searchform(data, len, charset, s->flags, sc, &sc->norm);
    return charset_search_match(s, buf_base(&sc->norm), buf_len(&sc->norm));
}

int charset_search_mimeheader(const struct charset_search *s,
                              const char *value, size_t len,
                              struct charset_scratch *sc)
{
    if (!s->len) return 1;
    buf_reset(&sc->utf8);
    charset_decode_mimeheader(value, len, &sc->utf8);
    buf_reset(&sc->norm);
    charset_search_normalize(buf_base(&sc->utf8), buf_len(&sc->utf8),
                             s->flags, &sc->norm);
    return charset_search_match(s, buf_base(&sc->norm), buf_len(&sc->norm));
}

void charset_body_searchform(const char *data, size_t len,
                             enum charset_encoding enc, const char *charset,
                             int flags, struct charset_scratch *sc,
                             struct buf *out)
{
    decode_body(&data, &len, enc, sc);
    searchform(data, len, charset, flags, sc, out);
}
