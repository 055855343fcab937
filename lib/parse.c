/* parse: strict number, switch, duration and size parsers.  See parse.h. */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "parse.h"

/* Accumulate the digits at *sp into *val, failing above `max`.  Returns the
 * number of digits read (0 when none), or -1 on overflow. */
static int scan_digits(const char **sp, uint64_t max, uint64_t *val)
{
    const char *s = *sp;
    uint64_t v = 0;
    int n = 0;

    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
        s++;
        n++;
    }
    *sp = s;
    *val = v;
    return n;
}

int parse_uint64(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || scan_digits(&s, UINT64_MAX, &v) <= 0 || *s) return CYRERR_PARSE;
    *out = v;
    return 0;
}

int parse_uint32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (!s || scan_digits(&s, UINT32_MAX, &v) <= 0 || *s) return CYRERR_PARSE;
    *out = (uint32_t)v;
    return 0;
}

int parse_uint32_prefix(const char *s, uint32_t *out, const char **end_r)
{
    uint64_t v;
    if (!s || scan_digits(&s, UINT32_MAX, &v) <= 0) return CYRERR_PARSE;
    *out = (uint32_t)v;
    if (end_r) *end_r = s;
    return 0;
}

int parse_int64(const char *s, int64_t *out)
{
    int neg = 0;
    uint64_t v;

    if (!s) return CYRERR_PARSE;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    /* the magnitude of INT64_MIN is INT64_MAX + 1 */
    uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (scan_digits(&s, max, &v) <= 0 || *s) return CYRERR_PARSE;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

int parse_switch(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "on", "true", "t", "1"};
    static const char *const no[] = {"no", "off", "false", "f", "0"};

    if (!s) return CYRERR_PARSE;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return CYRERR_PARSE;
}

/* Seconds in a duration unit, 0 when `c` is not one. */
static uint64_t unit_seconds(char c)
{
    switch (tolower((unsigned char)c)) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return 0;
    }
}

int parse_duration(const char *s, char defunit, int64_t *out)
{
    int neg = 0;
    uint64_t total = 0;
    int groups = 0;

    if (!s) return CYRERR_PARSE;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s) return CYRERR_PARSE;

    while (*s) {
        uint64_t n;
        if (scan_digits(&s, INT64_MAX, &n) <= 0) return CYRERR_PARSE;
        uint64_t mult;
        if (*s) {
            mult = unit_seconds(*s);
            if (!mult) return CYRERR_PARSE;
            s++;
        } else {
            /* a trailing bare number is allowed only as the whole value */
            if (groups > 0 || !defunit) return CYRERR_PARSE;
            mult = unit_seconds(defunit);
            if (!mult) return CYRERR_PARSE;
        }
        if (n > (uint64_t)INT64_MAX / mult) return CYRERR_PARSE;
        n *= mult;
        if (total > (uint64_t)INT64_MAX - n) return CYRERR_PARSE;
        total += n;
        groups++;
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

int parse_bytesize(const char *s, uint64_t *out)
{
    uint64_t n;

    if (!s || scan_digits(&s, UINT64_MAX, &n) <= 0) return CYRERR_PARSE;
    const char *digits_end = s;
    while (*s == ' ' || *s == '\t')
        s++;
    if (s != digits_end && !*s) return CYRERR_PARSE; /* trailing blanks */

    unsigned shift = 0;
    int have_unit = 0;
    switch (toupper((unsigned char)*s)) {
    case 'K':
        shift = 10;
        have_unit = 1;
        break;
    case 'M':
        shift = 20;
        have_unit = 1;
        break;
    case 'G':
        shift = 30;
        have_unit = 1;
        break;
    case 'T':
        shift = 40;
        have_unit = 1;
        break;
    default:
        break;
    }
    if (have_unit) {
        s++;
        if (*s == 'i' || *s == 'I') {
            s++;
            if (*s != 'b' && *s != 'B') return CYRERR_PARSE;
        }
    }
    if (*s == 'b' || *s == 'B') s++;
    if (*s) return CYRERR_PARSE;
    if (shift && n > (UINT64_MAX >> shift)) return CYRERR_PARSE;
    *out = n << shift;
    return 0;
}
