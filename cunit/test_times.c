/* Tests for lib/times: RFC 5322, INTERNALDATE, search dates, ISO 8601. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cunit/harness.h"
#include "error.h"
#include "times.h"

#define T_2003 ((time_t)1055238061) /* 2003-06-10 09:41:01 UTC, a Tuesday */

/* A fixed local zone (Central European, with DST) without needing tzdata. */
static int set_tz(void)
{
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

static void test_format_rfc5322(void)
{
    char buf[TIMES_RFC5322_MAX];
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Tue, 10 Jun 2003 09:41:01 +0000");
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, 7200, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Tue, 10 Jun 2003 11:41:01 +0200");
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, -(10 * 3600), buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Mon, 9 Jun 2003 23:41:01 -1000");
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, -(3 * 3600 + 1800), buf, sizeof(buf)),
                    0);
    CU_ASSERT_STRING_EQUAL(buf, "Tue, 10 Jun 2003 06:11:01 -0330");
    /* local time: CEST in June */
    CU_ASSERT_EQUAL(times_rfc5322(T_2003, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Tue, 10 Jun 2003 11:41:01 +0200");
    /* and CET in winter */
    CU_ASSERT_EQUAL(times_rfc5322((time_t)760060800, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Tue, 1 Feb 1994 01:00:00 +0100");
    /* the epoch */
    CU_ASSERT_EQUAL(times_rfc5322_offset(0, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "Thu, 1 Jan 1970 00:00:00 +0000");

    /* buffer too small: error and an empty string, never a truncated date */
    char small[10];
    memset(small, 'x', sizeof(small));
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, 0, small, sizeof(small)),
                    CYRERR_BADARGS);
    CU_ASSERT_STRING_EQUAL(small, "");
    /* a year past 9999 cannot be written */
    CU_ASSERT_EQUAL(times_rfc5322_offset((time_t)253402300800LL, 0, buf, sizeof(buf)),
                    CYRERR_BADARGS);
}

static void test_format_internaldate(void)
{
    char buf[TIMES_INTERNALDATE_MAX];
    CU_ASSERT_EQUAL(times_internaldate_offset(T_2003, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "10-Jun-2003 09:41:01 +0000");
    CU_ASSERT_EQUAL(
        times_internaldate_offset((time_t)837596665, -7 * 3600, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "17-Jul-1996 02:44:25 -0700");
    /* a one-digit day is space-padded */
    CU_ASSERT_EQUAL(times_internaldate_offset((time_t)760060800, 0, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, " 1-Feb-1994 00:00:00 +0000");
    CU_ASSERT_EQUAL(times_internaldate(T_2003, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "10-Jun-2003 11:41:01 +0200");
    CU_ASSERT_EQUAL(strlen(buf), 26);

    char small[26];
    CU_ASSERT_EQUAL(times_internaldate_offset(T_2003, 0, small, sizeof(small)),
                    CYRERR_BADARGS);
    CU_ASSERT_STRING_EQUAL(small, "");
}

static void test_format_iso8601(void)
{
    char buf[TIMES_ISO8601_MAX];
    CU_ASSERT_EQUAL(times_iso8601(T_2003, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "2003-06-10T09:41:01Z");
    CU_ASSERT_EQUAL(times_iso8601((time_t)-631152000, buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "1950-01-01T00:00:00Z");
    char small[20];
    CU_ASSERT_EQUAL(times_iso8601(T_2003, small, sizeof(small)), CYRERR_BADARGS);
}

static void test_parse_internaldate(void)
{
    time_t t = 0;
    long off = 1;
    CU_ASSERT_EQUAL(times_parse_internaldate("17-Jul-1996 02:44:25 -0700", &t, &off), 0);
    CU_ASSERT_EQUAL(t, (time_t)837596665);
    CU_ASSERT_EQUAL(off, -25200);
    CU_ASSERT_EQUAL(times_parse_internaldate(" 1-Feb-1994 00:00:00 +0000", &t, &off), 0);
    CU_ASSERT_EQUAL(t, (time_t)760060800);
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(times_parse_internaldate("1-feb-1994 13:00:00 +0100", &t, NULL), 0);
    CU_ASSERT_EQUAL(t, (time_t)760104000);
    CU_ASSERT_EQUAL(times_parse_internaldate("01-FEB-1994 00:00:00 +0000", &t, NULL), 0);
    CU_ASSERT_EQUAL(t, (time_t)760060800);
    CU_ASSERT_EQUAL(times_parse_internaldate("29-Feb-1996 00:00:00 +0000", &t, NULL), 0);
    CU_ASSERT_EQUAL(t, (time_t)825552000);

    static const char *const bad[] = {
        "",
        "17-Jul-1996",
        "17-Jul-1996 02:44:25",
        "17-Jul-1996 02:44:25 0700",
        "17-Jul-96 02:44:25 -0700",
        "32-Jul-1996 02:44:25 -0700",
        "29-Feb-1995 00:00:00 +0000",
        "31-Apr-2000 00:00:00 +0000",
        "0-Jul-1996 02:44:25 -0700",
        "17-Jux-1996 02:44:25 -0700",
        "17 Jul 1996 02:44:25 -0700",
        "17-Jul-1996 24:00:00 +0000",
        "17-Jul-1996 02:60:00 +0000",
        "17-Jul-1996 2:44:25 -0700",
        "17-Jul-1996 02:44:25 -07",
        "17-Jul-1996 02:44:25 -0760",
        "17-Jul-1996 02:44:25 -0700 ",
        " 17-Jul-1996 02:44:25 -0700",
        "  1-Feb-1994 00:00:00 +0000",
        "117-Jul-1996 02:44:25 -0700",
        "17-Jul-1996  02:44:25 -0700",
        "17-Jul-1996 02:44:25 +00000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        int r = times_parse_internaldate(bad[i], &t, &off);
        CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        CU_ASSERT_EQUAL(t, 42);
        if (r != CYRERR_PARSE) fprintf(stderr, "internaldate '%s' accepted\n", bad[i]);
    }
    CU_ASSERT_EQUAL(times_parse_internaldate(NULL, &t, NULL), CYRERR_PARSE);
}

static void test_internaldate_roundtrip(void)
{
    static const long offsets[] = {
        0, 3600, -7 * 3600, 5 * 3600 + 1800, -(9 * 3600 + 1800), 14 * 3600};
    char buf[TIMES_INTERNALDATE_MAX];
    for (time_t t = -1000000000; t < 2000000000; t += 123456789) {
        for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
            time_t back;
            long off;
            CU_ASSERT_EQUAL_FATAL(
                times_internaldate_offset(t, offsets[i], buf, sizeof(buf)), 0);
            CU_ASSERT_EQUAL(times_parse_internaldate(buf, &back, &off), 0);
            CU_ASSERT_EQUAL(back, t);
            CU_ASSERT_EQUAL(off, offsets[i]);
        }
    }
}

static void test_parse_searchdate(void)
{
    time_t t = 0;
    CU_ASSERT_EQUAL(times_parse_searchdate("1-Feb-1994", &t), 0);
    CU_ASSERT_EQUAL(t, (time_t)760060800);
    CU_ASSERT_EQUAL(times_parse_searchdate("01-feb-1994", &t), 0);
    CU_ASSERT_EQUAL(t, (time_t)760060800);
    CU_ASSERT_EQUAL(times_parse_searchdate("10-Jun-2003", &t), 0);
    CU_ASSERT_EQUAL(t, (time_t)1055203200);
    static const char *const bad[] = {
        "",
        "1-Feb-94",
        " 1-Feb-1994",
        "1-Feb-1994 ",
        "31-Apr-2000",
        "1-Feb",
        "1 Feb 1994",
        "1-Febr-1994",
        "100-Feb-1994",
        "1-Feb-19940",
        "\"1-Feb-1994\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        CU_ASSERT_EQUAL(times_parse_searchdate(bad[i], &t), CYRERR_PARSE);
        CU_ASSERT_EQUAL(t, 42);
    }
}

static void test_localday(void)
{
    /* 2003-06-10 23:30 UTC is 2003-06-11 01:30 CEST */
    CU_ASSERT_EQUAL(times_localday((time_t)1055287800), (time_t)1055289600);
    /* 2003-06-10 09:41:01 UTC is the 10th locally too */
    CU_ASSERT_EQUAL(times_localday(T_2003), (time_t)1055203200);
    /* so SEARCH ON 11-Jun-2003 matches the first and not the second */
    time_t on;
    CU_ASSERT_EQUAL(times_parse_searchdate("11-Jun-2003", &on), 0);
    CU_ASSERT_EQUAL(times_localday((time_t)1055287800), on);
    CU_ASSERT_NOT_EQUAL(times_localday(T_2003), on);
}

struct rfc5322_case {
    const char *s;
    time_t want;
    long off;
};

static void test_parse_rfc5322(void)
{
    static const struct rfc5322_case good[] = {
        {"Tue, 10 Jun 2003 09:41:01 +0000", 1055238061, 0},
        {"10 Jun 2003 09:41:01 +0000", 1055238061, 0},
        {"Tue 10 Jun 2003 11:41:01 +0200", 1055238061, 7200},
        {"tue, 10 jun 2003 09:41:01 -0000", 1055238061, 0},
        {"Tuesday, 10 June 2003 09:41:01 +0000", 1055238061, 0},
        {"Tue, 10 Jun 2003 05:41:01 EDT", 1055238061, -4 * 3600},
        {"Tue, 10 Jun 2003 04:41:01 EST", 1055238061, -5 * 3600},
        {"Tue, 10 Jun 2003 04:41:01 CDT", 1055238061, -5 * 3600},
        {"Tue, 10 Jun 2003 03:41:01 CST", 1055238061, -6 * 3600},
        {"Tue, 10 Jun 2003 03:41:01 MDT", 1055238061, -6 * 3600},
        {"Tue, 10 Jun 2003 02:41:01 MST", 1055238061, -7 * 3600},
        {"Tue, 10 Jun 2003 02:41:01 PDT", 1055238061, -7 * 3600},
        {"Tue, 10 Jun 2003 01:41:01 PST", 1055238061, -8 * 3600},
        {"Tue, 10 Jun 2003 09:41:01 GMT", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 UT", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 Z", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 A", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 XYZT", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41 +0000", 1055238060, 0},
        {"Tue, 10 Jun 2003", 1055203200, 0},
        {"Tue, 10 Jun 03 09:41:01 +0000", 1055238061, 0},
        {"Thu, 10 Jun 99 09:41:01 +0000", 929007661, 0},
        {"Sun, 1 Jan 50 00:00:00 +0000", -631152000, 0},
        {"1 Jan 49 00:00:00 +0000", 2493072000LL, 0},
        {"10 Jun 103 09:41:01 +0000", 1055238061, 0},
        {"  (sent) Tue,(day) 10 (x) Jun (y) 2003 (z) 09:41:01 (utc) +0000 (UTC)",
         1055238061, 0},
        {"Tue, 10 Jun 2003 09 : 41 : 01 +0000", 1055238061, 0},
        {"Tue,\r\n 10 Jun 2003\r\n 09:41:01\r\n +0000", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 +0000 (Coordinated (nested) Time)", 1055238061, 0},
        {"Tue, 10-Jun-2003 09:41:01 +0000", 1055238061, 0},
        {"Tue, 10 Jun 2003 09:41:01 +0000 trailing junk", 1055238061, 0},
        {"Sat, 31 Dec 2016 23:59:60 +0000", 1483228800, 0},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        time_t t = 42;
        long off = 42;
        int r = times_parse_rfc5322(good[i].s, &t, &off);
        CU_ASSERT_EQUAL(r, 0);
        CU_ASSERT_EQUAL(t, good[i].want);
        CU_ASSERT_EQUAL(off, good[i].off);
        if (r || t != good[i].want || off != good[i].off)
            fprintf(stderr, "rfc5322 '%s' -> r=%d t=%lld off=%ld\n", good[i].s, r,
                    (long long)t, off);
    }
    static const char *const bad[] = {
        "",
        "garbage",
        "Foo, 10 Jun 2003 09:41:01 +0000",
        "32 Jun 2003 09:41:01 +0000",
        "10 Foo 2003 09:41:01 +0000",
        "10 Jun 2003 25:00:00 +0000",
        "10 Jun 2003 09:61:00 +0000",
        "10 Jun 2003 09:41:01 +0099",
        "10 Jun 2003 09:41:01 +01",
        "10 Jun 3 09:41:01 +0000",
        "10 Jun 20033 09:41:01 +0000",
        "31 Jun 2003 09:41:01 +0000",
        "29 Feb 2100 00:00:00 +0000",
        "Tue,",
        "10 Ju 2003",
        "10 Jun 2003 09:",
        "10 Jun 2003 09:41:",
        "(unterminated 10 Jun 2003",
        "Tue, Jun 10 2003 09:41:01 +0000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 42;
        int r = times_parse_rfc5322(bad[i], &t, NULL);
        CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        CU_ASSERT_EQUAL(t, 42);
        if (r != CYRERR_PARSE) fprintf(stderr, "rfc5322 '%s' accepted\n", bad[i]);
    }
    /* a formatted date parses back */
    char buf[TIMES_RFC5322_MAX];
    time_t t;
    long off;
    CU_ASSERT_EQUAL(times_rfc5322_offset(T_2003, -(3 * 3600 + 1800), buf, sizeof(buf)),
                    0);
    CU_ASSERT_EQUAL(times_parse_rfc5322(buf, &t, &off), 0);
    CU_ASSERT_EQUAL(t, T_2003);
    CU_ASSERT_EQUAL(off, -(3 * 3600 + 1800));
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("times", set_tz, NULL);
    ADD_TEST(s, test_format_rfc5322);
    ADD_TEST(s, test_format_internaldate);
    ADD_TEST(s, test_format_iso8601);
    ADD_TEST(s, test_parse_internaldate);
    ADD_TEST(s, test_internaldate_roundtrip);
    ADD_TEST(s, test_parse_searchdate);
    ADD_TEST(s, test_localday);
    ADD_TEST(s, test_parse_rfc5322);
}
