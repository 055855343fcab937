/* message_header: header fields, dates and base subjects.  See message.h. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "imap/store/message.h"
#include "error.h"
#include "xmalloc.h"

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- fields --------------------------------------------------------------- */

/* End of the line starting at `pos` (index after its LF, or len). */
static size_t line_end(const char *s, size_t len, size_t pos)
{
    const char *nl = memchr(s + pos, '\n', len - pos);
    return nl ? (size_t)(nl - s) + 1 : len;
}

/* Is the line [pos, end) empty (just a line break)? */
static int line_is_blank(const char *s, size_t pos, size_t end)
{
    size_t n = end - pos;
    return (n == 1 && s[pos] == '\n') ||
           (n == 2 && s[pos] == '\r' && s[pos + 1] == '\n') ||
           (n == 1 && s[pos] == '\r');
}

int message_header_next(const char *hdr, size_t len, size_t *pos,
                        struct message_field *f)
{
    while (*pos < len) {
        size_t start = *pos;
        size_t end = line_end(hdr, len, start);
        if (line_is_blank(hdr, start, end)) {
            *pos = len;
            return 0;
        }
        *pos = end;
        if (is_wsp(hdr[start])) continue;            /* stray continuation */
        const char *colon = memchr(hdr + start, ':', end - start);
        if (!colon) continue;                          /* not a field */
        size_t nlen = (size_t)(colon - (hdr + start));
        while (nlen && is_wsp(hdr[start + nlen - 1])) nlen--;
        int bad = !nlen;
        for (size_t i = 0; i < nlen && !bad; i++)
            if ((unsigned char)hdr[start + i] <= 32 || hdr[start + i] == 127)
                bad = 1;
        /* the field runs on over continuation lines */
        while (end < len && is_wsp(hdr[end])) end = line_end(hdr, len, end);
        *pos = end;
        if (bad) continue;
        size_t vend = end;
        if (vend > start && hdr[vend - 1] == '\n') vend--;
        if (vend > start && hdr[vend - 1] == '\r') vend--;
        f->name = hdr + start;
        f->namelen = nlen;
        f->value = colon + 1;
        f->valuelen = vend > (size_t)(colon + 1 - hdr)
                          ? vend - (size_t)(colon + 1 - hdr) : 0;
        f->line = hdr + start;
        f->linelen = end - start;
        return 1;
    }
    return 0;
}

void message_unfold(const char *value, size_t len, struct buf *out)
{
    size_t a = 0, b = len;
    while (a < b && (is_wsp(value[a]) || value[a] == '\r' || value[a] == '\n'))
        a++;
    while (b > a && (is_wsp(value[b - 1]) || value[b - 1] == '\r' ||
                     value[b - 1] == '\n'))
        b--;
    buf_ensure(out, b - a);
    out->s[out->len] = '\0';
    while (a < b) {
        const char *p = value + a;
        size_t n = 0;
        while (a + n < b && p[n] != '\r' && p[n] != '\n') n++;
        buf_appendmap(out, p, n);
        a += n;
        while (a < b && (value[a] == '\r' || value[a] == '\n')) a++;
    }
}

int message_header_get(const char *hdr, size_t len, const char *name,
                       struct buf *value)
{
    size_t pos = 0, nlen = strlen(name);
    struct message_field f;
    while (message_header_next(hdr, len, &pos, &f)) {
        if (f.namelen == nlen && !strncasecmp(f.name, name, nlen)) {
            if (value) message_unfold(f.value, f.valuelen, value);
            return 1;
        }
    }
    return 0;
}

/* ---- dates ---------------------------------------------------------------- */

static const char *const month_names[12] = {
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec"
};

static const struct zone_name {
    const char *name;
    int minutes;
} zone_names[] = {
    { "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 },
    { "est", -300 }, { "edt", -240 }, { "cst", -360 }, { "cdt", -300 },
    { "mst", -420 }, { "mdt", -360 }, { "pst", -480 }, { "pdt", -420 },
};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Read up to `max` digits; returns the count and the value in *v. */
static size_t read_num(const char *s, size_t len, size_t max, int *v)
{
    size_t i = 0;
    *v = 0;
    while (i < len && i < max && s[i] >= '0' && s[i] <= '9')
        *v = *v * 10 + (s[i++] - '0');
    return i;
}

struct date_parts {
    int day, month, year, hour, min, sec, zone;    /* -1: not seen */
    int have_zone;
};

/* A numeric zone "+hhmm" / "-hhmm" at t[0]; returns 1 if it was one. */
static int parse_zone_num(const char *t, size_t n, struct date_parts *d)
{
    int v;
    if (n < 2 || (t[0] != '+' && t[0] != '-')) return 0;
    size_t k = read_num(t + 1, n - 1, 4, &v);
    if (k != 4) return 0;
    int minutes = (v / 100) * 60 + v % 100;
    d->zone = t[0] == '-' ? -minutes : minutes;
    d->have_zone = 1;
    return 1;
}

/* "hh:mm[:ss]" possibly followed by a zone; returns 1 if a time. */
static int parse_time(const char *t, size_t n, struct date_parts *d)
{
    int h, m, s = 0;
    size_t i = read_num(t, n, 2, &h);
    if (!i || i >= n || t[i] != ':') return 0;
    i++;
    size_t k = read_num(t + i, n - i, 2, &m);
    if (k != 2) return 0;
    i += k;
    if (i < n && t[i] == ':') {
        k = read_num(t + i + 1, n - i - 1, 2, &s);
        if (k != 2) return 0;
        i += 1 + k;
    }
    if (h > 23 || m > 59 || s > 60) return 0;
    d->hour = h; d->min = m; d->sec = s > 59 ? 59 : s;
    if (i < n) parse_zone_num(t + i, n - i, d);
    return 1;
}

static void date_token(const char *t, size_t n, struct date_parts *d)
{
    if (parse_zone_num(t, n, d)) return;
    if (t[0] >= '0' && t[0] <= '9') {
        if (memchr(t, ':', n)) {
            if (d->hour < 0) parse_time(t, n, d);
            return;
        }
        int v;
        size_t k = read_num(t, n, 4, &v);
        if (k != n) return;
        if (d->day < 0 && k <= 2 && v >= 1 && v <= 31) {
            d->day = v;
        } else if (d->year < 0) {
            if (k == 2) v += v < 50 ? 2000 : 1900;
            else if (k == 3) v += 1900;
            d->year = v;
        }
        return;
    }
    if (n >= 3 && d->month < 0) {
        for (int i = 0; i < 12; i++) {
            if (!strncasecmp(t, month_names[i], 3)) {
                d->month = i + 1;
                return;
            }
        }
    }
    if (!d->have_zone) {
        for (size_t i = 0; i < sizeof(zone_names) / sizeof(zone_names[0]); i++) {
            if (strlen(zone_names[i].name) == n &&
                !strncasecmp(zone_names[i].name, t, n)) {
                d->zone = zone_names[i].minutes;
                d->have_zone = 1;
                return;
            }
        }
        /* RFC 5322 4.3: military zones are to be read as -0000 */
        if (n == 1 && ((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z')) {
            d->zone = 0;
            d->have_zone = 1;
        }
    }
}

int message_parse_date(const char *s, size_t len, time_t *tp)
{
    struct date_parts d = { -1, -1, -1, -1, -1, -1, 0, 0 };
    size_t i = 0;
    int ntok = 0;
    while (i < len && ntok < 16) {
        char c = s[i];
        if (c == '(') {                 /* comment, possibly nested */
            int depth = 0;
            for (; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len) { i++; continue; }
                if (s[i] == '(') depth++;
                else if (s[i] == ')' && --depth == 0) { i++; break; }
            }
            continue;
        }
        if (is_wsp(c) || c == ',' || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && !is_wsp(s[j]) && s[j] != ',' && s[j] != '(' &&
               s[j] != '\r' && s[j] != '\n')
            j++;
        date_token(s + i, j - i, &d);
        ntok++;
        i = j;
    }
    if (d.day < 0 || d.month < 0 || d.year < 0) return CYRERR_PARSE;
    if (d.hour < 0) d.hour = d.min = d.sec = 0;
    int64_t t = days_from_civil(d.year, (unsigned)d.month, (unsigned)d.day);
    t = t * 86400 + d.hour * 3600 + d.min * 60 + d.sec - (int64_t)d.zone * 60;
    *tp = (time_t)t;
    return 0;
}

/* ---- RFC 5256 base subject ---------------------------------------------- */

/* Length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at s, or 0. */
static size_t blob_len(const char *s, size_t n)
{
    if (!n || s[0] != '[') return 0;
    size_t i = 1;
    while (i < n && s[i] != '[' && s[i] != ']') i++;
    if (i >= n || s[i] != ']') return 0;
    i++;
    while (i < n && s[i] == ' ') i++;
    return i;
}

/* Length of a subj-refwd (("re" / "fw" ["d"]) *WSP *subj-blob ":"), or 0. */
static size_t refwd_len(const char *s, size_t n)
{
    size_t i;
    if (n >= 2 && !strncasecmp(s, "re", 2)) i = 2;
    else if (n >= 3 && !strncasecmp(s, "fwd", 3)) i = 3;
    else if (n >= 2 && !strncasecmp(s, "fw", 2)) i = 2;
    else return 0;
    while (i < n && s[i] == ' ') i++;
    size_t b;
    while ((b = blob_len(s + i, n - i))) i += b;
    if (i < n && s[i] == ':') return i + 1;
    return 0;
}

/* Length of a subj-leader ((*subj-blob subj-refwd) / WSP), or 0. */
static size_t leader_len(const char *s, size_t n)
{
    if (n && s[0] == ' ') return 1;
    size_t i = 0, b;
    while ((b = blob_len(s + i, n - i))) i += b;
    size_t r = refwd_len(s + i, n - i);
    return r ? i + r : 0;
}

void message_base_subject(const char *subject, size_t len, struct buf *out)
{
    struct buf w = BUF_INITIALIZER;
    /* (1) white space runs become one space */
    for (size_t i = 0; i < len; i++) {
        char c = subject[i];
        if (c == '\r' || c == '\n') continue;
        if (is_wsp(c)) {
            if (buf_len(&w) && w.s[w.len - 1] == ' ') continue;
            c = ' ';
        }
        buf_putc(&w, c);
    }
    const char *s = buf_base(&w);
    size_t a = 0, b = buf_len(&w);
    for (;;) {
        /* (2) trailers: "(fwd)" and white space */
        for (;;) {
            if (b > a && s[b - 1] == ' ') { b--; continue; }
            if (b - a >= 5 && !strncasecmp(s + b - 5, "(fwd)", 5)) {
                b -= 5;
                continue;
            }
            break;
        }
        /* (3)-(5) leaders and blobs */
        for (;;) {
            size_t l = leader_len(s + a, b - a);
            if (l) { a += l; continue; }
            size_t bl = blob_len(s + a, b - a);
            if (bl && a + bl < b) { a += bl; continue; }
            break;
        }
        /* (6) "[fwd:" subject "]" */
        if (b - a >= 6 && !strncasecmp(s + a, "[fwd:", 5) && s[b - 1] == ']') {
            a += 5;
            b--;
            continue;
        }
        break;
    }
    buf_appendmap(out, s + a, b - a);
    buf_free(&w);
}
