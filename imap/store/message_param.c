/* message_param: Content-Type and Content-Disposition values, with their
 * parameters (RFC 2045 5.1, RFC 2183, RFC 2231).  See message.h.
 *
 * Leniency: white space and comments are allowed anywhere between tokens;
 * an unquoted parameter value may contain any character but white space,
 * ";", "(" and '"' (mailers put "/", "@" and "=" there unquoted); a
 * parameter without "=" is dropped.  RFC 2231 continuations ("NAME*0",
 * "NAME*1*", ...) are merged into one parameter, "NAME" or (when any
 * section is extended) "NAME*" whose value keeps the "charset'language'"
 * prefix and the %XX encoding, so nothing is lost for the client.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/store/message.h"
#include "error.h"
#include "xmalloc.h"

#define RFC2231_MAX_SECTION 999

static int is_tspecial(char c)
{
    return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int is_token_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 32 && u < 127 && !is_tspecial(c);
}

/* Skip white space, line breaks and (nested) comments. */
static size_t skip_cfws(const char *s, size_t len, size_t i)
{
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else if (c == '(') {
            int depth = 0;
            for (; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len) { i++; continue; }
                if (s[i] == '(') depth++;
                else if (s[i] == ')' && --depth == 0) { i++; break; }
            }
        } else {
            break;
        }
    }
    return i;
}

static size_t token_len(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && is_token_char(s[j])) j++;
    return j - i;
}

static char *upper_dup(const char *s, size_t n)
{
    char *r = xstrndup(s, n);
    for (char *p = r; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    return r;
}

void message_param_free(struct message_param **pp)
{
    struct message_param *p = *pp;
    while (p) {
        struct message_param *next = p->next;
        free(p->attribute);
        free(p->value);
        free(p);
        p = next;
    }
    *pp = NULL;
}

/* ---- RFC 2231 merging ------------------------------------------------------ */

/* If `attr` is "BASE*N" or "BASE*N*", give BASE's length, N, and whether
 * the section is extended; else return 0. */
static int section_of(const char *attr, size_t *baselen, int *num, int *ext)
{
    const char *star = strchr(attr, '*');
    if (!star || star == attr) return 0;
    const char *p = star + 1;
    if (*p < '0' || *p > '9') return 0;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (*p - '0');
        if (n > RFC2231_MAX_SECTION) return 0;
        p++;
    }
    if (*p == '*') { *ext = 1; p++; }
    else *ext = 0;
    if (*p) return 0;
    *baselen = (size_t)(star - attr);
    *num = n;
    return 1;
}

/* Percent-encode what an extended value cannot hold literally. */
static void pct_encode(struct buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (is_token_char((char)c) && c != '*' && c != '\'' && c != '%')
            buf_putc(out, (char)c);
        else
            buf_printf(out, "%%%02X", c);
    }
}

/* Merge the sections of the parameter group starting at `first` (whose
 * base name is base/baselen) into one new parameter. */
static struct message_param *merge_group(struct message_param *first,
                                         const char *base, size_t baselen)
{
    /* collect the sections in order of their number */
    int maxn = -1, extended = 0;
    for (struct message_param *p = first; p; p = p->next) {
        size_t bl; int n, ext;
        if (section_of(p->attribute, &bl, &n, &ext) && bl == baselen &&
            !strncmp(p->attribute, base, baselen)) {
            if (n > maxn) maxn = n;
            if (ext) extended = 1;
        }
    }
    struct message_param **sec = xcalloc((size_t)maxn + 1, sizeof(*sec));
    int *secext = xcalloc((size_t)maxn + 1, sizeof(*secext));
    for (struct message_param *p = first; p; p = p->next) {
        size_t bl; int n, ext;
        if (section_of(p->attribute, &bl, &n, &ext) && bl == baselen &&
            !strncmp(p->attribute, base, baselen) && !sec[n]) {
            sec[n] = p;
            secext[n] = ext;
        }
    }
    struct buf v = BUF_INITIALIZER;
    for (int n = 0; n <= maxn; n++) {
        if (!sec[n]) continue;
        if (!extended || secext[n]) {
            if (extended && n == 0 && !strchr(sec[n]->value, '\''))
                buf_appendcstr(&v, "''");
            buf_appendcstr(&v, sec[n]->value);
        } else {
            if (n == 0) buf_appendcstr(&v, "''");
            pct_encode(&v, sec[n]->value);
        }
    }
    free(sec);
    free(secext);
    struct message_param *m = xzmalloc(sizeof(*m));
    m->attribute = xmalloc(baselen + 2);
    memcpy(m->attribute, base, baselen);
    m->attribute[baselen] = extended ? '*' : '\0';
    m->attribute[baselen + 1] = '\0';
    m->value = buf_release(&v);
    return m;
}

static struct message_param *merge_sections(struct message_param *list)
{
    struct message_param *out = NULL, **tail = &out;
    struct strarray done = STRARRAY_INITIALIZER;
    for (struct message_param *p = list; p; p = p->next) {
        size_t bl; int n, ext;
        if (!section_of(p->attribute, &bl, &n, &ext)) {
            struct message_param *c = xzmalloc(sizeof(*c));
            c->attribute = xstrdup(p->attribute);
            c->value = xstrdup(p->value);
            *tail = c;
            tail = &c->next;
            continue;
        }
        char *base = xstrndup(p->attribute, bl);
        if (strarray_find(&done, base, 0) < 0) {
            *tail = merge_group(p, base, bl);
            tail = &(*tail)->next;
            strarray_appendm(&done, base);
        } else {
            free(base);
        }
    }
    strarray_free(&done);
    message_param_free(&list);
    return out;
}

/* ---- parsing ----------------------------------------------------------------- */

/* Parse ";"-separated parameters starting at s[i]. */
static struct message_param *parse_params(const char *s, size_t len, size_t i)
{
    struct message_param *list = NULL, **tail = &list;
    int sections = 0;
    for (;;) {
        /* find the next ";" */
        while (i < len && s[i] != ';') {
            if (s[i] == '"') {           /* skip a stray quoted string */
                for (i++; i < len && s[i] != '"'; i++)
                    if (s[i] == '\\') i++;
            }
            if (i < len) i++;
        }
        if (i >= len) break;
        i = skip_cfws(s, len, i + 1);
        size_t alen = 0;
        while (i + alen < len && (is_token_char(s[i + alen])) &&
               s[i + alen] != '=')
            alen++;
        if (!alen) continue;
        size_t astart = i;
        i = skip_cfws(s, len, i + alen);
        if (i >= len || s[i] != '=') continue;
        i = skip_cfws(s, len, i + 1);
        struct buf v = BUF_INITIALIZER;
        if (i < len && s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < len) i++;
                if (s[i] == '\r' || s[i] == '\n') continue;
                buf_putc(&v, s[i]);
            }
            if (i < len) i++;
        } else {
            size_t vs = i;
            while (i < len && s[i] != ';' && s[i] != ' ' && s[i] != '\t' &&
                   s[i] != '\r' && s[i] != '\n' && s[i] != '(' && s[i] != '"')
                i++;
            buf_appendmap(&v, s + vs, i - vs);
        }
        struct message_param *p = xzmalloc(sizeof(*p));
        p->attribute = upper_dup(s + astart, alen);
        p->value = buf_release(&v);
        if (!p->value) p->value = xstrdup("");
        size_t bl; int n, ext;
        if (section_of(p->attribute, &bl, &n, &ext)) sections = 1;
        *tail = p;
        tail = &p->next;
    }
    return sections ? merge_sections(list) : list;
}

int message_parse_content_type(const char *value, size_t len, char **typep,
                               char **subtypep, struct message_param **paramsp)
{
    size_t i = skip_cfws(value, len, 0);
    size_t tl = token_len(value, len, i);
    if (!tl) return CYRERR_PARSE;
    size_t ts = i;
    i = skip_cfws(value, len, i + tl);
    if (i >= len || value[i] != '/') return CYRERR_PARSE;
    i = skip_cfws(value, len, i + 1);
    size_t sl = token_len(value, len, i);
    if (!sl) return CYRERR_PARSE;
    *typep = upper_dup(value + ts, tl);
    *subtypep = upper_dup(value + i, sl);
    *paramsp = parse_params(value, len, i + sl);
    return 0;
}

int message_parse_disposition(const char *value, size_t len, char **dispp,
                              struct message_param **paramsp)
{
    size_t i = skip_cfws(value, len, 0);
    size_t tl = token_len(value, len, i);
    if (!tl) return CYRERR_PARSE;
    *dispp = upper_dup(value + i, tl);
    *paramsp = parse_params(value, len, i + tl);
    return 0;
}

const char *message_param_get(const struct message_param *p, const char *attr)
{
    for (; p; p = p->next)
        if (!strcasecmp(p->attribute, attr)) return p->value;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

char *message_param_decode(const struct message_param *p, const char *attr)
{
    const char *v = message_param_get(p, attr);
    if (v) return xstrdup(v);
    char *ext = strconcat(attr, "*", (char *)NULL);
    v = message_param_get(p, ext);
    free(ext);
    if (!v) return NULL;

    /* charset'language'percent-encoded */
    char *charset = NULL;
    const char *q1 = strchr(v, '\'');
    const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (q2) {
        charset = xstrndup(v, (size_t)(q1 - v));
        v = q2 + 1;
    }
    struct buf raw = BUF_INITIALIZER, out = BUF_INITIALIZER;
    for (; *v; v++) {
        int h, l;
        if (*v == '%' && (h = hexval(v[1])) >= 0 && (l = hexval(v[2])) >= 0) {
            buf_putc(&raw, (char)(h * 16 + l));
            v += 2;
        } else {
            buf_putc(&raw, *v);
        }
    }
    charset_to_utf8_lenient(charset && *charset ? charset : "utf-8",
                            buf_base(&raw), buf_len(&raw), &out);
    free(charset);
    buf_free(&raw);
    char *r = buf_release(&out);
    return r ? r : xstrdup("");
}
