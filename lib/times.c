/* times: date formatting and parsing for the mail protocols.  See times.h. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "error.h"
#include "times.h"

static const char *const wday_names[7] = {"Sun", "Mon", "Tue", "Wed",
                                          "Thu", "Fri", "Sat"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- formatting --------------------------------------------------------- */

/* Broken-down time of `t` as seen at `gmtoff` seconds east of UTC. */
static int breakdown(time_t t, long gmtoff, struct tm *tm)
{
    time_t shifted;
    if (__builtin_add_overflow(t, (time_t)gmtoff, &shifted)) return CYRERR_BADARGS;
    if (!gmtime_r(&shifted, tm)) return CYRERR_BADARGS;
    /* four-digit years only: the protocols cannot carry anything else */
    if (tm->tm_year + 1900 < 0 || tm->tm_year + 1900 > 9999) return CYRERR_BADARGS;
    return 0;
}

static int local_offset(time_t t, long *gmtoff)
{
    struct tm tm;
    if (!localtime_r(&t, &tm)) return CYRERR_BADARGS;
    *gmtoff = tm.tm_gmtoff;
    return 0;
}

static int finish(char *buf, size_t len, int n)
{
    if (n < 0 || (size_t)n >= len) {
        if (len) buf[0] = '\0';
        return CYRERR_BADARGS;
    }
    return 0;
}

static int fail(char *buf, size_t len, int r)
{
    if (len) buf[0] = '\0';
    return r;
}

/* Sign, hours and minutes of an offset for "+hhmm". */
static void zone_parts(long gmtoff, char *sign, long *hh, long *mm)
{
    *sign = gmtoff < 0 ? '-' : '+';
    long a = gmtoff < 0 ? -gmtoff : gmtoff;
    a /= 60;
    *hh = a / 60;
    *mm = a % 60;
}

int times_rfc5322_offset(time_t t, long gmtoff, char *buf, size_t len)
{
    struct tm tm;
    int r = breakdown(t, gmtoff, &tm);
    if (r) return fail(buf, len, r);
    char sign;
    long hh, mm;
    zone_parts(gmtoff, &sign, &hh, &mm);
    int n = snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
                     wday_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, hh, mm);
    return finish(buf, len, n);
}

int times_rfc5322(time_t t, char *buf, size_t len)
{
    long off;
    int r = local_offset(t, &off);
    if (r) return fail(buf, len, r);
    return times_rfc5322_offset(t, off, buf, len);
}

int times_internaldate_offset(time_t t, long gmtoff, char *buf, size_t len)
{
    struct tm tm;
    int r = breakdown(t, gmtoff, &tm);
    if (r) return fail(buf, len, r);
    char sign;
    long hh, mm;
    zone_parts(gmtoff, &sign, &hh, &mm);
    int n = snprintf(buf, len, "%2d-%s-%04d %02d:%02d:%02d %c%02ld%02ld", tm.tm_mday,
                     month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, sign, hh, mm);
    return finish(buf, len, n);
}

int times_internaldate(time_t t, char *buf, size_t len)
{
    long off;
    int r = local_offset(t, &off);
    if (r) return fail(buf, len, r);
    return times_internaldate_offset(t, off, buf, len);
}

int times_iso8601(time_t t, char *buf, size_t len)
{
    struct tm tm;
    int r = breakdown(t, 0, &tm);
    if (r) return fail(buf, len, r);
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return finish(buf, len, n);
}

time_t times_localday(time_t t)
{
    struct tm lt, day;
    if (!localtime_r(&t, &lt)) return t;
    memset(&day, 0, sizeof(day));
    day.tm_year = lt.tm_year;
    day.tm_mon = lt.tm_mon;
    day.tm_mday = lt.tm_mday;
    return timegm(&day);
}

/* ---- parsing helpers ---------------------------------------------------- */

static int is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int mon0)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mon0 == 1 && is_leap(year) ? 29 : days[mon0];
}

/* Read exactly `n` digits (n <= 4) at *sp. */
static int fixed_digits(const char **sp, int n, int *val)
{
    const char *s = *sp;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return CYRERR_PARSE;
        v = v * 10 + (s[i] - '0');
    }
    *sp = s + n;
    *val = v;
    return 0;
}

/* Read between `min` and `max` (<= 4) digits at *sp. */
static int some_digits(const char **sp, int min, int max, int *val, int *count)
{
    const char *s = *sp;
    int v = 0, n = 0;
    while (n < max && isdigit((unsigned char)s[n])) {
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n < min || isdigit((unsigned char)s[n])) return CYRERR_PARSE;
    *sp = s + n;
    *val = v;
    if (count) *count = n;
    return 0;
}

/* A three-letter month name at *sp (case-insensitive). */
static int month3(const char **sp, int *mon0)
{
    for (int i = 0; i < 12; i++) {
        if (!strncasecmp(*sp, month_names[i], 3)) {
            *sp += 3;
            *mon0 = i;
            return 0;
        }
    }
    return CYRERR_PARSE;
}

/* Validate the fields and convert a UTC-relative broken-down time. */
static int make_time(int year, int mon0, int mday, int hour, int min, int sec,
                     long gmtoff, time_t *t_r)
{
    if (year < 1900 || year > 9999) return CYRERR_PARSE;
    if (mon0 < 0 || mon0 > 11) return CYRERR_PARSE;
    if (mday < 1 || mday > days_in_month(year, mon0)) return CYRERR_PARSE;
    if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
        return CYRERR_PARSE;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon0;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec; /* a leap second 60 normalises to the next minute */
    *t_r = timegm(&tm) - (time_t)gmtoff;
    return 0;
}

/* "+hhmm" / "-hhmm" at *sp. */
static int numeric_zone(const char **sp, long *gmtoff)
{
    const char *s = *sp;
    int sign, hh, mm;
    if (*s == '+')
        sign = 1;
    else if (*s == '-')
        sign = -1;
    else
        return CYRERR_PARSE;
    s++;
    if (fixed_digits(&s, 2, &hh) || fixed_digits(&s, 2, &mm)) return CYRERR_PARSE;
    if (mm > 59) return CYRERR_PARSE;
    *gmtoff = sign * (hh * 3600L + mm * 60L);
    *sp = s;
    return 0;
}

/* ---- IMAP dates --------------------------------------------------------- */

int times_parse_internaldate(const char *s, time_t *t_r, long *gmtoff_r)
{
    int mday, mon0, year, hh, mi, ss;
    long off;

    if (!s) return CYRERR_PARSE;
    if (*s == ' ') {
        s++;
        if (fixed_digits(&s, 1, &mday)) return CYRERR_PARSE;
    } else if (some_digits(&s, 1, 2, &mday, NULL)) {
        return CYRERR_PARSE;
    }
    if (*s++ != '-' || month3(&s, &mon0) || *s++ != '-') return CYRERR_PARSE;
    if (fixed_digits(&s, 4, &year) || *s++ != ' ') return CYRERR_PARSE;
    if (fixed_digits(&s, 2, &hh) || *s++ != ':') return CYRERR_PARSE;
    if (fixed_digits(&s, 2, &mi) || *s++ != ':') return CYRERR_PARSE;
    if (fixed_digits(&s, 2, &ss) || *s++ != ' ') return CYRERR_PARSE;
    if (numeric_zone(&s, &off) || *s) return CYRERR_PARSE;

    time_t t;
    if (make_time(year, mon0, mday, hh, mi, ss, off, &t)) return CYRERR_PARSE;
    *t_r = t;
    if (gmtoff_r) *gmtoff_r = off;
    return 0;
}

int times_parse_searchdate(const char *s, time_t *t_r)
{
    int mday, mon0, year;

    if (!s || some_digits(&s, 1, 2, &mday, NULL)) return CYRERR_PARSE;
    if (*s++ != '-' || month3(&s, &mon0) || *s++ != '-') return CYRERR_PARSE;
    if (fixed_digits(&s, 4, &year) || *s) return CYRERR_PARSE;
    time_t t;
    if (make_time(year, mon0, mday, 0, 0, 0, 0, &t)) return CYRERR_PARSE;
    *t_r = t;
    return 0;
}

/* ---- RFC 5322 Date: ----------------------------------------------------- */

/* Skip folding white space and (nested, backslash-quoting) comments.  An
 * unterminated comment runs to the end of the string. */
static void skip_cfws(const char **sp)
{
    const char *s = *sp;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s != '(') break;
        int depth = 0;
        while (*s) {
            if (*s == '\\' && s[1]) {
                s += 2;
                continue;
            }
            if (*s == '(')
                depth++;
            else if (*s == ')' && --depth == 0) {
                s++;
                break;
            }
            s++;
        }
    }
    *sp = s;
}

/* An alphabetic word at *sp: its start and length. */
static size_t word(const char **sp, const char **start)
{
    const char *s = *sp;
    *start = s;
    while (isalpha((unsigned char)*s))
        s++;
    *sp = s;
    return (size_t)(s - *start);
}

/* Offsets of the obsolete zone names of RFC 5322 section 4.3, in hours. */
static void named_zone(const char *w, size_t n, long *gmtoff)
{
    static const struct {
        const char *name;
        int hours;
    } zones[] = {
        {"UT", 0},   {"UTC", 0},  {"GMT", 0},  {"Z", 0},    {"EST", -5}, {"EDT", -4},
        {"CST", -6}, {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7},
    };
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strlen(zones[i].name) == n && !strncasecmp(w, zones[i].name, n)) {
            *gmtoff = zones[i].hours * 3600L;
            return;
        }
    }
    /* military zones and anything unknown: "-0000", i.e. UTC, unknown local */
    *gmtoff = 0;
}

static int is_weekday(const char *w, size_t n)
{
    if (n < 3) return 0;
    for (int i = 0; i < 7; i++)
        if (!strncasecmp(w, wday_names[i], 3)) return 1;
    return 0;
}

/* The time of day "hh:mm[:ss]", with CFWS allowed around the colons. */
static int time_of_day(const char **sp, int *hh, int *mi, int *ss)
{
    const char *s = *sp;
    if (some_digits(&s, 1, 2, hh, NULL)) return CYRERR_PARSE;
    skip_cfws(&s);
    if (*s++ != ':') return CYRERR_PARSE;
    skip_cfws(&s);
    if (some_digits(&s, 1, 2, mi, NULL)) return CYRERR_PARSE;
    const char *before = s;
    skip_cfws(&s);
    *ss = 0;
    if (*s == ':') {
        s++;
        skip_cfws(&s);
        if (some_digits(&s, 1, 2, ss, NULL)) return CYRERR_PARSE;
    } else {
        s = before;
    }
    *sp = s;
    return 0;
}

int times_parse_rfc5322(const char *s, time_t *t_r, long *gmtoff_r)
{
    int mday, mon0, year, ndigits;
    int hh = 0, mi = 0, ss = 0;
    long off = 0;
    const char *w;
    size_t n;

    if (!s) return CYRERR_PARSE;
    skip_cfws(&s);

    /* optional day of week, with or without its comma */
    if (isalpha((unsigned char)*s)) {
        n = word(&s, &w);
        if (!is_weekday(w, n)) return CYRERR_PARSE;
        skip_cfws(&s);
        if (*s == ',') s++;
        skip_cfws(&s);
    }

    if (some_digits(&s, 1, 2, &mday, NULL)) return CYRERR_PARSE;
    skip_cfws(&s);
    if (*s == '-') s++; /* "10-Jun-2003" from some broken mailers */
    skip_cfws(&s);
    n = word(&s, &w);
    if (n < 3) return CYRERR_PARSE;
    if (month3(&w, &mon0)) return CYRERR_PARSE;
    skip_cfws(&s);
    if (*s == '-') s++;
    skip_cfws(&s);
    if (some_digits(&s, 2, 4, &year, &ndigits)) return CYRERR_PARSE;
    if (ndigits == 2)
        year += year < 50 ? 2000 : 1900;
    else if (ndigits == 3)
        year += 1900;
    skip_cfws(&s);

    if (isdigit((unsigned char)*s)) {
        if (time_of_day(&s, &hh, &mi, &ss)) return CYRERR_PARSE;
        skip_cfws(&s);
        if (*s == '+' || *s == '-') {
            if (numeric_zone(&s, &off)) return CYRERR_PARSE;
        } else if (isalpha((unsigned char)*s)) {
            n = word(&s, &w);
            named_zone(w, n, &off);
        }
    }

    time_t t;
    if (make_time(year, mon0, mday, hh, mi, ss, off, &t)) return CYRERR_PARSE;
    *t_r = t;
    if (gmtoff_r) *gmtoff_r = off;
    return 0;
}
