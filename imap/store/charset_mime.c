/* charset_mime: MIME transfer decodings and RFC 2047 encoded words.
 * See charset.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/store/charset.h"
#include "error.h"
#include "xmalloc.h"

#define EW_CHARSET_MAX 64   /* longest charset name in an encoded word */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

enum charset_encoding charset_encoding_parse(const char *value, size_t len)
{
    if (!value) return CHARSET_ENC_NONE;
    while (len && (is_wsp((unsigned char)*value) || *value == '\r' ||
                   *value == '\n')) {
        value++; len--;
    }
    while (len && (is_wsp((unsigned char)value[len - 1]) ||
                   value[len - 1] == '\r' || value[len - 1] == '\n'))
        len--;
    /* a trailing comment, as in "7bit (no encoding)", is ignored */
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '(' || is_wsp((unsigned char)value[i]) ||
            value[i] == ';') {
            len = i;
            break;
        }
    }
    if (!len) return CHARSET_ENC_NONE;
#define IS(s) (len == sizeof(s) - 1 && !strncasecmp(value, s, len))
    if (IS("7bit") || IS("8bit") || IS("binary")) return CHARSET_ENC_NONE;
    if (IS("quoted-printable")) return CHARSET_ENC_QP;
    if (IS("base64")) return CHARSET_ENC_BASE64;
#undef IS
    return CHARSET_ENC_UNKNOWN;
}

/* ---- quoted-printable --------------------------------------------------- */

/* Decode one line's content (no line break), appending. */
static void qp_line(const unsigned char *p, size_t n, struct buf *out)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char *eq = memchr(p + i, '=', n - i);
        size_t run = eq ? (size_t)(eq - (p + i)) : n - i;
        buf_appendmap(out, p + i, run);
        i += run;
        if (i >= n) break;
        int h, l;
        if (i + 2 < n && (h = hexval(p[i + 1])) >= 0 &&
            (l = hexval(p[i + 2])) >= 0) {
            buf_putc(out, (char)(h * 16 + l));
            i += 3;
        } else {
            buf_putc(out, '=');            /* not an escape: keep it */
            i++;
        }
    }
}

void charset_decode_qp(const char *in, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t pos = 0;
    buf_ensure(out, len);
    out->s[out->len] = '\0';
    while (pos < len) {
        const unsigned char *nl = memchr(p + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - p) : len;   /* line content end */
        size_t brk = end;                            /* line break start */
        if (nl && brk > pos && p[brk - 1] == '\r') brk--;
        size_t cend = brk;
        while (cend > pos && is_wsp(p[cend - 1])) cend--;
        if (cend > pos && p[cend - 1] == '=') {
            /* soft line break: the line joins the next one */
            qp_line(p + pos, cend - 1 - pos, out);
        } else {
            qp_line(p + pos, cend - pos, out);
            if (nl) buf_appendmap(out, p + brk, end + 1 - brk);
        }
        pos = nl ? end + 1 : len;
    }
}

/* ---- base64 ------------------------------------------------------------- */

static const signed char b64val[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};   /* value + 1; 0 = not in the alphabet */

/* Emit the bytes of a partial quantum of `n` sextets held in `acc`. */
static void b64_flush(uint32_t acc, int n, struct buf *out)
{
    if (n == 2) {
        buf_putc(out, (char)(acc >> 4));
    } else if (n == 3) {
        buf_putc(out, (char)(acc >> 10));
        buf_putc(out, (char)((acc >> 2) & 0xFF));
    }
}

void charset_decode_base64(const char *in, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    uint32_t acc = 0;
    int n = 0;
    buf_ensure(out, len / 4 * 3 + 3);
    char *o = out->s + out->len;
    for (size_t i = 0; i < len; i++) {
        int v = b64val[p[i]];
        if (!v) {
            if (p[i] == '=' && n) {
                out->len = (size_t)(o - out->s);
                b64_flush(acc, n, out);
                o = out->s + out->len;
                acc = 0;
                n = 0;
            }
            continue;
        }
        acc = (acc << 6) | (uint32_t)(v - 1);
        if (++n == 4) {
            *o++ = (char)(acc >> 16);
            *o++ = (char)((acc >> 8) & 0xFF);
            *o++ = (char)(acc & 0xFF);
            acc = 0;
            n = 0;
        }
    }
    out->len = (size_t)(o - out->s);
    b64_flush(acc, n, out);
    out->s[out->len] = '\0';
}

int charset_decode(enum charset_encoding enc, const char *in, size_t len,
                   struct buf *out)
{
    switch (enc) {
    case CHARSET_ENC_NONE:
        buf_appendmap(out, in, len);
        return 0;
    case CHARSET_ENC_QP:
        charset_decode_qp(in, len, out);
        return 0;
    case CHARSET_ENC_BASE64:
        charset_decode_base64(in, len, out);
        return 0;
    case CHARSET_ENC_UNKNOWN:
        break;
    }
    return CYRERR_NOTSUPPORTED;
}

/* ---- RFC 2047 ----------------------------------------------------------- */

struct ew {
    const char *charset; size_t charsetlen;   /* without "*language" */
    char enc;                                 /* 'B' or 'Q' */
    const char *text; size_t textlen;
    size_t len;                               /* whole word */
};

/* Parse an encoded word at p[0] == '='.  Returns 1 on success. */
static int ew_parse(const char *p, size_t n, struct ew *ew)
{
    if (n < 8 || p[0] != '=' || p[1] != '?') return 0;
    size_t i = 2;
    while (i < n && p[i] != '?' && !is_wsp((unsigned char)p[i]) &&
           p[i] != '\r' && p[i] != '\n')
        i++;
    if (i >= n || p[i] != '?' || i == 2 || i - 2 > EW_CHARSET_MAX) return 0;
    ew->charset = p + 2;
    ew->charsetlen = i - 2;
    const char *star = memchr(ew->charset, '*', ew->charsetlen);
    if (star) ew->charsetlen = (size_t)(star - ew->charset);
    if (!ew->charsetlen) return 0;
    if (i + 3 >= n || p[i + 2] != '?') return 0;
    char e = p[i + 1];
    if (e == 'b') e = 'B';
    if (e == 'q') e = 'Q';
    if (e != 'B' && e != 'Q') return 0;
    ew->enc = e;
    i += 3;
    ew->text = p + i;
    while (i + 1 < n) {
        if (p[i] == '?' && p[i + 1] == '=') {
            ew->textlen = (size_t)(p + i - ew->text);
            ew->len = i + 2;
            return 1;
        }
        if (is_wsp((unsigned char)p[i]) || p[i] == '\r' || p[i] == '\n')
            return 0;
        i++;
    }
    return 0;
}

static void ew_decode_q(const char *t, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (t[i] == '_') {
            buf_putc(out, ' ');
        } else if (t[i] == '=' && i + 2 < n &&
                   (h = hexval((unsigned char)t[i + 1])) >= 0 &&
                   (l = hexval((unsigned char)t[i + 2])) >= 0) {
            buf_putc(out, (char)(h * 16 + l));
            i += 2;
        } else {
            buf_putc(out, t[i]);
        }
    }
}

/* Raw (not encoded) header text: unfolded, 8-bit read leniently. */
static void raw_text(const char *p, size_t n, struct buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '\r' && p[j] != '\n') j++;
        if (j > i) charset_to_utf8(NULL, p + i, j - i, out);
        i = j;
        while (i < n && (p[i] == '\r' || p[i] == '\n')) i++;
    }
}

static int all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_wsp((unsigned char)p[i]) && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

/* A run of adjacent encoded words in one charset, not yet converted. */
struct ew_run {
    struct buf bytes;
    char *charset;       /* NUL-terminated copy; NULL when no run */
};

static void ew_run_flush(struct ew_run *r, struct buf *out)
{
    if (!r->charset) return;
    charset_to_utf8_lenient(r->charset, buf_base(&r->bytes),
                            buf_len(&r->bytes), out);
    buf_reset(&r->bytes);
    xfree(r->charset);
}

void charset_decode_mimeheader(const char *in, size_t len, struct buf *out)
{
    struct ew_run run = { BUF_INITIALIZER, NULL };
    size_t text = 0;        /* start of text not yet written */
    size_t pos = 0;
    int after_ew = 0;       /* was the last thing written an encoded word? */

    while (pos < len) {
        const char *q = memchr(in + pos, '=', len - pos);
        if (!q) break;
        pos = (size_t)(q - in);
        struct ew ew;
        if (!ew_parse(in + pos, len - pos, &ew)) {
            pos++;
            continue;
        }
        char *cs = xstrndup(ew.charset, ew.charsetlen);
        if (!charset_is_known(cs)) {
            free(cs);                  /* keep it as text */
            pos += ew.len;
            continue;
        }
        int adjacent = after_ew && all_space(in + text, pos - text);
        if (!(adjacent && run.charset && !strcasecmp(run.charset, cs))) {
            ew_run_flush(&run, out);
            if (!adjacent) raw_text(in + text, pos - text, out);
            run.charset = cs;
            cs = NULL;
        }
        free(cs);
        if (ew.enc == 'B')
            charset_decode_base64(ew.text, ew.textlen, &run.bytes);
        else
            ew_decode_q(ew.text, ew.textlen, &run.bytes);
        pos += ew.len;
        text = pos;
        after_ew = 1;
    }
    ew_run_flush(&run, out);
    raw_text(in + text, len - text, out);
    buf_free(&run.bytes);
}
