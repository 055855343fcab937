/* times: date formats of the mail protocols.
 *
 *   RFC 5322 date-time   "Tue, 10 Jun 2003 09:41:01 +0200"  (Received:, Date:)
 *   IMAP INTERNALDATE    "10-Jun-2003 09:41:01 +0200"       (RFC 3501 date-time)
 *   IMAP search date     "10-Jun-2003"                      (RFC 3501 date)
 *   ISO 8601 UTC         "2003-06-10T07:41:01Z"             (logs, tools)
 *
 * Formatting writes a NUL-terminated string into a caller buffer of at least
 * the TIMES_*_MAX bytes given below and returns 0; it returns CYRERR_BADARGS
 * (with buf set to "" when len > 0) if the buffer is too small or the time
 * cannot be represented.  Names of days and months are always English,
 * whatever the locale.
 *
 * Parsing returns 0 and a time_t in UTC (seconds since the epoch), or
 * CYRERR_PARSE.  Where a zone offset is reported (*gmtoff_r, seconds east of
 * UTC) the pointer may be NULL.
 *
 * Thread-safe: no static buffers, only localtime_r/gmtime_r/timegm.  "Local
 * time" is the process's TZ.
 */
#ifndef LIB_TIMES_H
#define LIB_TIMES_H

#include <time.h>

#define TIMES_RFC5322_MAX 40
#define TIMES_INTERNALDATE_MAX 32
#define TIMES_ISO8601_MAX 32

/* RFC 5322 date-time in local time with its numeric offset. */
int times_rfc5322(time_t t, char *buf, size_t len);
/* RFC 5322 date-time at a given offset (seconds east of UTC). */
int times_rfc5322_offset(time_t t, long gmtoff, char *buf, size_t len);

/* INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz" in local time; the day is
 * space-padded (" 1-Feb-1994 ..."), as Cyrus writes it. */
int times_internaldate(time_t t, char *buf, size_t len);
int times_internaldate_offset(time_t t, long gmtoff, char *buf, size_t len);

/* "yyyy-mm-ddThh:mm:ssZ" */
int times_iso8601(time_t t, char *buf, size_t len);

/* Parse an INTERNALDATE (RFC 3501 date-time, without the quotes): the day
 * is one digit, two digits, or a space and a digit; the month name is
 * case-insensitive; the zone is mandatory.  Strict: the whole string. */
int times_parse_internaldate(const char *s, time_t *t_r, long *gmtoff_r);

/* Parse an IMAP search date "d-Mon-yyyy" or "dd-Mon-yyyy" (without
 * quotes).  *t_r is 00:00:00 UTC of that calendar day, to be compared with
 * times_localday() of a message's date (SEARCH ignores time and zone). */
int times_parse_searchdate(const char *s, time_t *t_r);

/* 00:00:00 UTC of the calendar day that contains `t` in local time. */
time_t times_localday(time_t t);

/* Parse an RFC 5322 Date: header value, leniently: optional weekday (with
 * or without its comma), comments and folding white space anywhere, full
 * or abbreviated month names, 2-digit years (< 50 -> 20xx, else 19xx) and
 * 3-digit years (+1900) per RFC 5322 section 4.3, optional seconds,
 * obsolete zones (UT, GMT, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT; military
 * letters and unknown names count as +0000), a missing time (midnight) or
 * zone (+0000).  Text after the zone is ignored. */
int times_parse_rfc5322(const char *s, time_t *t_r, long *gmtoff_r);

#endif
