/* Tests for lib/parse: strict numbers, switches, durations, byte sizes. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cunit/harness.h"
#include "error.h"
#include "parse.h"

static void test_uint32(void)
{
    uint32_t v = 7;
    CU_ASSERT_EQUAL(parse_uint32("0", &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(parse_uint32("4294967295", &v), 0);
    CU_ASSERT_EQUAL(v, UINT32_MAX);
    CU_ASSERT_EQUAL(parse_uint32("000123", &v), 0);
    CU_ASSERT_EQUAL(v, 123);

    v = 99;
    const char *bad[] = {
        "",    "4294967296", "99999999999999999999", "-1", "+1", " 1", "1 ", "1a", "0x10",
        "1.0", "１"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(parse_uint32(bad[i], &v), CYRERR_PARSE);
        CU_ASSERT_EQUAL(v, 99); /* untouched on error */
    }
    CU_ASSERT_EQUAL(parse_uint32(NULL, &v), CYRERR_PARSE);
}

static void test_uint64(void)
{
    uint64_t v = 0;
    CU_ASSERT_EQUAL(parse_uint64("18446744073709551615", &v), 0);
    CU_ASSERT_EQUAL(v, UINT64_MAX);
    CU_ASSERT_EQUAL(parse_uint64("4294967296", &v), 0);
    CU_ASSERT_EQUAL(v, 4294967296ULL);
    CU_ASSERT_EQUAL(parse_uint64("18446744073709551616", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint64("184467440737095516150", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint64("-0", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint64("", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint64("12\n", &v), CYRERR_PARSE);
}

static void test_int64(void)
{
    int64_t v = 0;
    CU_ASSERT_EQUAL(parse_int64("9223372036854775807", &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MAX);
    CU_ASSERT_EQUAL(parse_int64("-9223372036854775808", &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MIN);
    CU_ASSERT_EQUAL(parse_int64("-1", &v), 0);
    CU_ASSERT_EQUAL(v, -1);
    CU_ASSERT_EQUAL(parse_int64("-0", &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(parse_int64("9223372036854775808", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_int64("-9223372036854775809", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_int64("-", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_int64("--1", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_int64("+1", &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_int64("1-", &v), CYRERR_PARSE);
}

static void test_uint32_prefix(void)
{
    uint32_t v;
    const char *end = NULL;
    CU_ASSERT_EQUAL(parse_uint32_prefix("123:456", &v, &end), 0);
    CU_ASSERT_EQUAL(v, 123);
    CU_ASSERT_STRING_EQUAL(end, ":456");
    CU_ASSERT_EQUAL(parse_uint32_prefix("4294967295)", &v, &end), 0);
    CU_ASSERT_STRING_EQUAL(end, ")");
    CU_ASSERT_EQUAL(parse_uint32_prefix("4294967296", &v, &end), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint32_prefix(":1", &v, &end), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_uint32_prefix("", &v, NULL), CYRERR_PARSE);
}

static void test_switch(void)
{
    const char *on[] = {"yes", "YES", "On", "true", "TRUE", "t", "1"};
    const char *off[] = {"no", "No", "OFF", "false", "f", "F", "0"};
    const char *bad[] = {"", "y", "n", "2", "yes ", " no", "enable", "offf", "01"};
    int v;
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        v = -1;
        CU_ASSERT_EQUAL(parse_switch(on[i], &v), 0);
        CU_ASSERT_EQUAL(v, 1);
    }
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        v = -1;
        CU_ASSERT_EQUAL(parse_switch(off[i], &v), 0);
        CU_ASSERT_EQUAL(v, 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -1;
        CU_ASSERT_EQUAL(parse_switch(bad[i], &v), CYRERR_PARSE);
        CU_ASSERT_EQUAL(v, -1);
    }
}

static void test_duration(void)
{
    static const struct {
        const char *s;
        char unit;
        int64_t want;
    } good[] = {
        {"30s", 's', 30},    {"5m", 's', 300},       {"2h", 's', 7200},
        {"1d", 's', 86400},  {"1h30m", 's', 5400},   {"1d2h3m4s", 'm', 93784},
        {"90", 's', 90},     {"90", 'm', 5400},      {"2", 'h', 7200},
        {"3", 'd', 259200},  {"0", 'm', 0},          {"1H30M", 's', 5400},
        {"-1", 'd', -86400}, {"-1h30m", 's', -5400}, {"1m1m", 's', 120},
        {"007s", 's', 7},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -12345;
        int r = parse_duration(good[i].s, good[i].unit, &v);
        CU_ASSERT_EQUAL(r, 0);
        CU_ASSERT_EQUAL(v, good[i].want);
        if (r || v != good[i].want)
            fprintf(stderr, "duration '%s' -> r=%d v=%lld\n", good[i].s, r, (long long)v);
    }
    static const char *const bad[] = {
        "",
        "-",
        "s",
        "m5",
        "5x",
        "1h30",
        "1.5h",
        " 5m",
        "5m ",
        "5 m",
        "1h-30m",
        "--1",
        "+5s",
        "9223372036854775807m",
        "106751991167301d",
        "9223372036854775807s1s",
        "5w",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = -12345;
        int r = parse_duration(bad[i], 's', &v);
        CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        CU_ASSERT_EQUAL(v, -12345);
        if (r != CYRERR_PARSE) fprintf(stderr, "duration '%s' accepted\n", bad[i]);
    }
    int64_t v;
    /* the largest exact value is fine; no default unit forbids bare numbers */
    CU_ASSERT_EQUAL(parse_duration("9223372036854775807s", 's', &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MAX);
    CU_ASSERT_EQUAL(parse_duration("45", 0, &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_duration("45s", 0, &v), 0);
    CU_ASSERT_EQUAL(parse_duration("45", 'x', &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(parse_duration(NULL, 's', &v), CYRERR_PARSE);
}

static void test_bytesize(void)
{
    static const struct {
        const char *s;
        uint64_t want;
    } good[] = {
        {"0", 0},
        {"100", 100},
        {"100B", 100},
        {"100b", 100},
        {"512K", 512ULL << 10},
        {"512k", 512ULL << 10},
        {"10M", 10ULL << 20},
        {"10MB", 10ULL << 20},
        {"10mb", 10ULL << 20},
        {"10 MB", 10ULL << 20},
        {"1G", 1ULL << 30},
        {"1GiB", 1ULL << 30},
        {"2T", 2ULL << 40},
        {"16777215T", 16777215ULL << 40},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 1;
        int r = parse_bytesize(good[i].s, &v);
        CU_ASSERT_EQUAL(r, 0);
        CU_ASSERT_EQUAL(v, good[i].want);
        if (r || v != good[i].want) fprintf(stderr, "size '%s' -> r=%d\n", good[i].s, r);
    }
    static const char *const bad[] = {
        "",
        "M",
        "-1",
        "1.5M",
        "10X",
        "10MM",
        "10 ",
        " 10",
        "10MB ",
        "10BB",
        "16777216T",
        "18446744073709551616",
        "17179869184G",
        "1i",
        "1KiX",
        "10Mi",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 1;
        int r = parse_bytesize(bad[i], &v);
        CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        CU_ASSERT_EQUAL(v, 1);
        if (r != CYRERR_PARSE) fprintf(stderr, "size '%s' accepted\n", bad[i]);
    }
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("parse", NULL, NULL);
    ADD_TEST(s, test_uint32);
    ADD_TEST(s, test_uint64);
    ADD_TEST(s, test_int64);
    ADD_TEST(s, test_uint32_prefix);
    ADD_TEST(s, test_switch);
    ADD_TEST(s, test_duration);
    ADD_TEST(s, test_bytesize);
}
