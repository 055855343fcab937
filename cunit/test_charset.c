/* Tests for imap/store/charset: conversion, transfer decodings, RFC 2047,
 * the search form and the matcher. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/charset.h"
#include "xmalloc.h"

/* Compare and say what differed, since CU_ASSERT shows only the text. */
#define CHECK_STR(got, want)                                               \
    do {                                                                   \
        const char *g_ = (got), *w_ = (want);                              \
        if (strcmp(g_, w_))                                                \
            fprintf(stderr, "\n%s:%d: got <%s> want <%s>\n", __FILE__,    \
                    __LINE__, g_, w_);                                     \
        CU_ASSERT_STRING_EQUAL(g_, w_);                                    \
    } while (0)

static void check_header(const char *in, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    charset_decode_mimeheader(in, strlen(in), &b);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

static void check_conv(const char *charset, const char *in, size_t len,
                       const char *want)
{
    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(charset_to_utf8(charset, in, len, &b), 0);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

/* ---- RFC 2047 ------------------------------------------------------------ */

/* RFC 2047 section 8, "Examples". */
static void test_rfc2047_examples(void)
{
    check_header("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
                 "Keith Moore <moore@cs.utk.edu>");
    check_header("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
                 "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>");
    check_header("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
                 "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
    check_header("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
                 "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
                 "If you can read this you understand the example.");
    check_header("Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n"
                 "    (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
                 "Nathaniel Borenstein <nsb@thumper.bellcore.com>    ("
                 "\xd7\x9d\xd7\x95\xd7\x9c\xd7\xa9 \xd7\x9f\xd7\x91 "
                 "\xd7\x99\xd7\x9c\xd7\x98\xd7\xa4\xd7\xa0)");
    /* the table of section 8: white space between adjacent encoded words
     * is not displayed */
    check_header("(=?ISO-8859-1?Q?a?=)", "(a)");
    check_header("(=?ISO-8859-1?Q?a?= b)", "(a b)");
    check_header("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)");
    check_header("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)");
    check_header("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)");
    check_header("(=?ISO-8859-1?Q?a_b?=)", "(a b)");
    check_header("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)");
}

static void test_rfc2047_lenient(void)
{
    /* a UTF-8 character split over two words survives */
    check_header("=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?=", "caf\xc3\xa9");
    check_header("=?UTF-8?B?w6k=?= =?utf-8?b?w6k=?=", "\xc3\xa9\xc3\xa9");
    /* RFC 2231 language suffix */
    check_header("=?utf-8*en?Q?hi?=", "hi");
    /* unknown charset, bad encoding, unterminated: kept as they are */
    check_header("=?x-no-such-charset?Q?abc?=", "=?x-no-such-charset?Q?abc?=");
    check_header("=?utf-8?X?abc?=", "=?utf-8?X?abc?=");
    check_header("=?utf-8?Q?abc", "=?utf-8?Q?abc");
    check_header("=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=");
    check_header("a = b =? c ?= d", "a = b =? c ?= d");
    /* an encoded word glued to text, as broken mailers write it */
    check_header("Re:=?utf-8?Q?caf=C3=A9?=", "Re:caf\xc3\xa9");
    /* text between words is kept, unfolded */
    check_header("=?utf-8?Q?a?= x\r\n =?utf-8?Q?b?=", "a x b");
    /* Q: "=" not followed by two hex digits stays */
    check_header("=?utf-8?Q?100=?=", "100=");
    check_header("=?utf-8?Q?=ZZ?=", "=ZZ");
    /* raw 8-bit: valid UTF-8 kept, anything else read as windows-1252 */
    check_header("caf\xc3\xa9", "caf\xc3\xa9");
    check_header("caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac");
    /* invalid bytes inside a UTF-8 encoded word */
    check_header("=?utf-8?Q?a=FFb?=", "a\xef\xbf\xbd" "b");
    check_header("", "");
}

/* ---- charsets ------------------------------------------------------------- */

static void test_convert(void)
{
    check_conv("iso-8859-1", "caf\xe9", 4, "caf\xc3\xa9");
    check_conv("ISO_8859-1", "caf\xe9", 4, "caf\xc3\xa9");
    check_conv("latin1", "\xa0", 1, "\xc2\xa0");
    check_conv("windows-1252", "\x80\x96\x94", 3,
               "\xe2\x82\xac\xe2\x80\x93\xe2\x80\x9d");
    check_conv("cp1252", "\x81", 1, "\xc2\x81");   /* unassigned: C1 */
    check_conv("utf-8", "caf\xc3\xa9", 5, "caf\xc3\xa9");
    check_conv("UTF8", "a\xff" "b", 3, "a\xef\xbf\xbd" "b");
    check_conv("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", 6,
               "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    check_conv("KOI8-R", "abc", 3, "abc");
    check_conv("iso-8859-8", "\xed\xe5", 2, "\xd7\x9d\xd7\x95");
    check_conv("gb2312", "\xd6\xd0\xce\xc4", 4, "\xe4\xb8\xad\xe6\x96\x87");
    check_conv("iso-2022-jp", "\x1b$B$3$s$K$A$O\x1b(B", 16,
               "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf");
    /* cut inside the final escape sequence: one U+FFFD at the end */
    check_conv("iso-2022-jp", "\x1b$B$3$s$K$A$O\x1b(B", 15,
               "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf"
               "\xef\xbf\xbd");
    check_conv("utf-16le", "h\0i\0", 4, "hi");
    /* us-ascii as labelled, 8-bit as found */
    check_conv("us-ascii", "plain", 5, "plain");
    check_conv("us-ascii", "caf\xc3\xa9", 5, "caf\xc3\xa9");
    check_conv("us-ascii", "caf\xe9", 4, "caf\xc3\xa9");
    check_conv(NULL, "x", 1, "x");
    check_conv("", "x", 1, "x");
    check_conv(" utf-8 ", "x", 1, "x");
    check_conv("unknown-8bit", "caf\xe9", 4, "caf\xc3\xa9");
    /* invalid and truncated sequences through iconv */
    check_conv("shift_jis", "a\x82", 2, "a\xef\xbf\xbd");
    check_conv("euc-jp", "\xff" "a", 2, "\xef\xbf\xbd" "a");

    /* unknown charsets, and names iconv must never see */
    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(charset_to_utf8("x-no-such", "abc", 3, &b),
                    CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(charset_to_utf8("UTF-8//TRANSLIT", "abc", 3, &b),
                    CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(charset_to_utf8("../../etc/passwd", "abc", 3, &b),
                    CYRERR_NOTSUPPORTED);
    char *longname = xmalloc(200);
    memset(longname, 'a', 199);
    longname[199] = '\0';
    CU_ASSERT_EQUAL(charset_to_utf8(longname, "abc", 3, &b),
                    CYRERR_NOTSUPPORTED);
    free(longname);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    charset_to_utf8_lenient("x-no-such", "caf\xe9", 4, &b);
    CHECK_STR(buf_cstring(&b), "caf\xc3\xa9");
    buf_free(&b);

    CU_ASSERT_TRUE(charset_is_known("ISO-8859-15"));
    CU_ASSERT_TRUE(charset_is_known("windows-1251"));
    CU_ASSERT_FALSE(charset_is_known("x-no-such"));
    CU_ASSERT_EQUAL(charset_class("UTF-8"), CHARSET_CLASS_UTF8);
    CU_ASSERT_EQUAL(charset_class("iso-8859-2"), CHARSET_CLASS_ASCII8);
    CU_ASSERT_EQUAL(charset_class("koi8-r"), CHARSET_CLASS_ASCII8);
    CU_ASSERT_EQUAL(charset_class(NULL), CHARSET_CLASS_ASCII8);
    CU_ASSERT_EQUAL(charset_class("utf-16"), CHARSET_CLASS_OTHER);
    CU_ASSERT_EQUAL(charset_class("x-no-such"), CHARSET_CLASS_OTHER);

    /* more charsets than the iconv cache holds, twice over */
    const char *many[] = { "iso-8859-2", "iso-8859-3", "iso-8859-4",
                           "iso-8859-5", "iso-8859-6", "iso-8859-7",
                           "iso-8859-9", "iso-8859-13", "iso-8859-15",
                           "koi8-u", "windows-1250", "windows-1251" };
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
            check_conv(many[i], "abc", 3, "abc");
        CU_ASSERT_FALSE(charset_is_known("x-no-such"));
    }
}

static void test_utf8(void)
{
    CU_ASSERT_TRUE(charset_utf8_valid("", 0));
    CU_ASSERT_TRUE(charset_utf8_valid("abc\xc3\xa9\xf0\x90\x90\x80", 9));
    CU_ASSERT_TRUE(charset_utf8_valid("\xef\xbf\xbd", 3));   /* U+FFFD */
    CU_ASSERT_FALSE(charset_utf8_valid("\xc0\xaf", 2));       /* overlong */
    CU_ASSERT_FALSE(charset_utf8_valid("\xed\xa0\x80", 3));   /* surrogate */
    CU_ASSERT_FALSE(charset_utf8_valid("\xf4\x90\x80\x80", 4)); /* > 10FFFF */
    CU_ASSERT_FALSE(charset_utf8_valid("\xe2\x82", 2));       /* truncated */
    CU_ASSERT_FALSE(charset_utf8_valid("\x80", 1));

    struct buf b = BUF_INITIALIZER;
    /* one U+FFFD per maximal invalid subpart */
    charset_utf8_sanitize("a\xe2\x82" "b\xc0\xaf" "c\xe2\x82", 9, &b);
    CHECK_STR(buf_cstring(&b), "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
                               "c\xef\xbf\xbd");
    buf_reset(&b);
    charset_utf8_put(&b, 0x41);
    charset_utf8_put(&b, 0xE9);
    charset_utf8_put(&b, 0x20AC);
    charset_utf8_put(&b, 0x10400);
    charset_utf8_put(&b, 0xD800);
    charset_utf8_put(&b, 0x110000);
    CHECK_STR(buf_cstring(&b), "A\xc3\xa9\xe2\x82\xac\xf0\x90\x90\x80"
                               "\xef\xbf\xbd\xef\xbf\xbd");
    buf_free(&b);
}

/* ---- transfer encodings --------------------------------------------------- */

static void check_qp(const char *in, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    charset_decode_qp(in, strlen(in), &b);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

static void test_qp(void)
{
    check_qp("=41=4a=4A", "AJJ");
    check_qp("caf=C3=A9\r\n", "caf\xc3\xa9\r\n");
    /* soft line breaks, also with white space after the "=" */
    check_qp("foo=\r\nbar", "foobar");
    check_qp("foo=  \r\nbar", "foobar");
    check_qp("foo=\nbar\n", "foobar\n");
    check_qp("end=", "end");
    check_qp("end=\r\n", "end");
    /* trailing white space added in transport goes */
    check_qp("abc  \r\nd\t\n", "abc\r\nd\n");
    /* "=" that starts no escape is kept */
    check_qp("a=ZZb", "a=ZZb");
    check_qp("a=4", "a=4");
    check_qp("a=", "a");
    check_qp("x=3D=3d", "x==");
    check_qp("", "");
    check_qp("\r\n\r\n", "\r\n\r\n");
    struct buf b = BUF_INITIALIZER;
    charset_decode_qp("a=00b", 5, &b);
    CU_ASSERT_EQUAL(buf_len(&b), 3);
    CU_ASSERT_EQUAL(memcmp(buf_base(&b), "a\0b", 3), 0);
    buf_free(&b);
}

static void check_b64(const char *in, const char *want, size_t wantlen)
{
    struct buf b = BUF_INITIALIZER;
    charset_decode_base64(in, strlen(in), &b);
    CU_ASSERT_EQUAL(buf_len(&b), wantlen);
    CU_ASSERT_EQUAL(memcmp(buf_base(&b), want, wantlen), 0);
    buf_free(&b);
}

static void test_base64(void)
{
    check_b64("SGVsbG8=", "Hello", 5);
    check_b64("SGVsbG8", "Hello", 5);                  /* no padding */
    check_b64("SGVs\r\nbG8=\r\n", "Hello", 5);
    check_b64("SG*V!s b\x80G8=", "Hello", 5);          /* garbage ignored */
    check_b64("QQ==QQ==", "AA", 2);                    /* concatenated */
    check_b64("QUJDR", "ABC", 3);                      /* lone sextet */
    check_b64("AAEC", "\0\1\2", 3);
    check_b64("////", "\xff\xff\xff", 3);
    check_b64("", "", 0);
    check_b64("====", "", 0);
    check_b64("SGVsbG8gd29ybGQ=", "Hello world", 11);

    CU_ASSERT_EQUAL(charset_encoding_parse("base64", 6), CHARSET_ENC_BASE64);
    CU_ASSERT_EQUAL(charset_encoding_parse(" Quoted-Printable\r\n", 19),
                    CHARSET_ENC_QP);
    CU_ASSERT_EQUAL(charset_encoding_parse("7bit (no encoding)", 18),
                    CHARSET_ENC_NONE);
    CU_ASSERT_EQUAL(charset_encoding_parse("8BIT", 4), CHARSET_ENC_NONE);
    CU_ASSERT_EQUAL(charset_encoding_parse("binary", 6), CHARSET_ENC_NONE);
    CU_ASSERT_EQUAL(charset_encoding_parse(NULL, 0), CHARSET_ENC_NONE);
    CU_ASSERT_EQUAL(charset_encoding_parse("", 0), CHARSET_ENC_NONE);
    CU_ASSERT_EQUAL(charset_encoding_parse("x-uuencode", 10),
                    CHARSET_ENC_UNKNOWN);
    CU_ASSERT_EQUAL(charset_encoding_parse("base64x", 7), CHARSET_ENC_UNKNOWN);

    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(charset_decode(CHARSET_ENC_UNKNOWN, "x", 1, &b),
                    CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(charset_decode(CHARSET_ENC_NONE, "x=41", 4, &b), 0);
    CU_ASSERT_EQUAL(charset_decode(CHARSET_ENC_QP, "x=41", 4, &b), 0);
    CU_ASSERT_EQUAL(charset_decode(CHARSET_ENC_BASE64, "QQ", 2, &b), 0);
    CHECK_STR(buf_cstring(&b), "x=41xAA");
    buf_free(&b);
}

/* ---- search form ------------------------------------------------------------ */

static void check_norm(const char *in, int flags, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    charset_search_normalize(in, strlen(in), flags, &b);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

static void test_normalize(void)
{
    const int M = CHARSET_SEARCH_MERGESPACE;
    check_norm("HeLLo  \r\n\t World", M, "hello world");
    check_norm("HeLLo  \r\n World", 0, "hello  \r\n world");
    check_norm("\xc3\x80\xc3\x89\xc3\x8e", M, "\xc3\xa0\xc3\xa9\xc3\xae");
    check_norm("\xce\xa3\xce\x91\xce\xa3", M, "\xcf\x83\xce\xb1\xcf\x83");
    check_norm("\xcf\x82", M, "\xcf\x83");                 /* final sigma */
    check_norm("\xc3\x9f", M, "\xc3\x9f");                 /* sharp s stays */
    check_norm("\xe1\xba\x9e", M, "\xc3\x9f");             /* capital sharp s */
    check_norm("\xe2\x84\xaa", M, "k");                    /* Kelvin sign */
    check_norm("\xc5\xbf", M, "s");                        /* long s */
    check_norm("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", M,
               "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    check_norm("\xf0\x90\x90\x80", M, "\xf0\x90\x90\xa8"); /* Deseret */
    check_norm("a\xc2\xa0\xe3\x80\x80" "b", M, "a b");     /* NBSP, ideographic */
    check_norm("a\xff" "B", M, "a\xef\xbf\xbd" "b");
    check_norm("\xc8\xba", M, "\xe2\xb1\xa5");             /* grows: 2 -> 3 */
    check_norm("", M, "");

    CU_ASSERT_EQUAL(charset_fold('A'), 'a');
    CU_ASSERT_EQUAL(charset_fold('z'), 'z');
    CU_ASSERT_EQUAL(charset_fold('@'), '@');
    CU_ASSERT_EQUAL(charset_fold(0x100), 0x101);
    CU_ASSERT_EQUAL(charset_fold(0x101), 0x101);
    CU_ASSERT_EQUAL(charset_fold(0x130), 0x130);   /* no simple folding */
    CU_ASSERT_EQUAL(charset_fold(0xB5), 0x3BC);    /* micro sign */
    CU_ASSERT_EQUAL(charset_fold(0xFF21), 0xFF41); /* fullwidth A */
    CU_ASSERT_EQUAL(charset_fold(0x1E921), 0x1E943);
    CU_ASSERT_EQUAL(charset_fold(0x10FFFF), 0x10FFFF);
    /* folding is idempotent over the BMP */
    for (uint32_t c = 0; c < 0x10000; c++)
        if (charset_fold(charset_fold(c)) != charset_fold(c)) {
            CU_FAIL("fold not idempotent");
            break;
        }
}

static void test_matcher(void)
{
    const int M = CHARSET_SEARCH_MERGESPACE;
    struct charset_search *s = charset_search_new("WORLD", 5, M);
    size_t nl;
    CHECK_STR(charset_search_needle(s, &nl), "world");
    CU_ASSERT_EQUAL(nl, 5);
    CU_ASSERT_TRUE(charset_search_match(s, "hello world", 11));
    CU_ASSERT_FALSE(charset_search_match(s, "hello worl", 10));
    CU_ASSERT_FALSE(charset_search_match(s, "", 0));
    charset_search_free(&s);
    CU_ASSERT_PTR_NULL(s);
    charset_search_free(&s);

    s = charset_search_new("", 0, M);
    CU_ASSERT_TRUE(charset_search_match(s, "", 0));
    CU_ASSERT_TRUE(charset_search_match(s, "x", 1));
    charset_search_free(&s);

    /* across line folding, once both sides are in search form */
    s = charset_search_new("foo   bar", 9, M);
    struct buf b = BUF_INITIALIZER;
    charset_search_normalize("FOO\r\n\tBAR", 9, M, &b);
    CU_ASSERT_TRUE(charset_search_match(s, buf_base(&b), buf_len(&b)));
    charset_search_free(&s);
    buf_free(&b);
}

/* The raw fast path must agree with the full path: random ASCII texts
 * over a small alphabet (so that matches happen), against a naive search. */
static void test_matcher_random(void)
{
    unsigned seed = 12345;
    const char alpha[] = "abAB c\r\n";
    struct charset_scratch sc = CHARSET_SCRATCH_INITIALIZER;
    for (int round = 0; round < 3000; round++) {
        char text[64], needle[8];
        seed = seed * 1103515245 + 12345;
        size_t tl = (seed >> 16) % 60;
        for (size_t i = 0; i < tl; i++) {
            seed = seed * 1103515245 + 12345;
            text[i] = alpha[(seed >> 16) % 6];   /* letters and space */
        }
        seed = seed * 1103515245 + 12345;
        size_t nlen = 1 + (seed >> 16) % 5;
        for (size_t i = 0; i < nlen; i++) {
            seed = seed * 1103515245 + 12345;
            needle[i] = alpha[(seed >> 16) % 4]; /* letters only */
        }
        /* naive, case-insensitive */
        int want = 0;
        for (size_t i = 0; i + nlen <= tl && !want; i++) {
            size_t k = 0;
            while (k < nlen && (text[i + k] | 0x20) == (needle[k] | 0x20)) k++;
            want = k == nlen;
        }
        struct charset_search *s = charset_search_new(needle, nlen, 0);
        int got = charset_search_body(s, text, tl, CHARSET_ENC_NONE,
                                      "us-ascii", &sc);
        int got8 = charset_search_body(s, text, tl, CHARSET_ENC_NONE,
                                       "utf-8", &sc);
        if (got != want || got8 != want) {
            CU_FAIL("raw search disagrees with naive search");
            fprintf(stderr, "\nneedle <%.*s> text <%.*s> want %d\n",
                    (int)nlen, needle, (int)tl, text, want);
            charset_search_free(&s);
            break;
        }
        charset_search_free(&s);
    }
    charset_scratch_free(&sc);
}

static void test_search_body(void)
{
    const int M = CHARSET_SEARCH_MERGESPACE;
    struct charset_scratch sc = CHARSET_SCRATCH_INITIALIZER;
    struct charset_search *s;

    /* base64 of ISO-8859-1 "Un Caf\xe9 noir" */
    s = charset_search_new("CAF\xc3\x89", 5, M);
    CU_ASSERT_TRUE(charset_search_body(s, "VW4gQ2Fm6SBub2ly\r\n", 18,
                                       CHARSET_ENC_BASE64, "iso-8859-1",
                                       &sc));
    CU_ASSERT_FALSE(charset_search_body(s, "VW4gQ2Fm6SBub2ly\r\n", 18,
                                        CHARSET_ENC_NONE, "iso-8859-1", &sc));
    charset_search_free(&s);

    /* a word split by a QP soft line break, and one across real lines */
    s = charset_search_new("hello world", 11, M);
    CU_ASSERT_TRUE(charset_search_body(s, "say HEL=\r\nLO\r\n  World!", 23,
                                       CHARSET_ENC_QP, "us-ascii", &sc));
    CU_ASSERT_FALSE(charset_search_body(s, "say HEL=\r\nLO\r\n  World!", 23,
                                        CHARSET_ENC_NONE, "us-ascii", &sc));
    charset_search_free(&s);

    /* raw fast path, any case, and the needle at the very end */
    s = charset_search_new("needle", 6, M);
    struct buf big = BUF_INITIALIZER;
    for (int i = 0; i < 20000; i++) buf_appendcstr(&big, "haystack hay ");
    CU_ASSERT_FALSE(charset_search_body(s, buf_base(&big), buf_len(&big),
                                        CHARSET_ENC_NONE, NULL, &sc));
    buf_appendcstr(&big, "NeEdLe");
    CU_ASSERT_TRUE(charset_search_body(s, buf_base(&big), buf_len(&big),
                                       CHARSET_ENC_NONE, NULL, &sc));
    CU_ASSERT_TRUE(charset_search_body(s, buf_base(&big), buf_len(&big),
                                       CHARSET_ENC_NONE, "utf-8", &sc));
    CU_ASSERT_TRUE(charset_search_body(s, buf_base(&big), buf_len(&big),
                                       CHARSET_ENC_NONE, "x-no-such", &sc));
    buf_free(&big);
    charset_search_free(&s);

    /* Kelvin sign and long s fold to ASCII: the fast path must not miss */
    s = charset_search_new("5 k", 3, 0);
    CU_ASSERT_TRUE(charset_search_body(s, "at 5 \xe2\x84\xaa", 8,
                                       CHARSET_ENC_NONE, "utf-8", &sc));
    charset_search_free(&s);
    s = charset_search_new("last", 4, M);
    CU_ASSERT_TRUE(charset_search_body(s, "la\xc5\xbft", 5,
                                       CHARSET_ENC_NONE, "utf-8", &sc));
    CU_ASSERT_FALSE(charset_search_body(s, "la\xc5\xbet", 5,
                                        CHARSET_ENC_NONE, "utf-8", &sc));
    charset_search_free(&s);

    /* non-ASCII needles: KOI8-R text, UTF-16 text */
    s = charset_search_new("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
                           12, M);
    CU_ASSERT_TRUE(charset_search_body(s, "\xf0\xd2\xc9\xd7\xc5\xd4!", 7,
                                       CHARSET_ENC_NONE, "koi8-r", &sc));
    CU_ASSERT_FALSE(charset_search_body(s, "\xf0\xd2\xc9\xd7\xc5\xd4!", 7,
                                        CHARSET_ENC_NONE, "iso-8859-1", &sc));
    charset_search_free(&s);
    s = charset_search_new("HI", 2, M);
    CU_ASSERT_TRUE(charset_search_body(s, "h\0i\0", 4, CHARSET_ENC_NONE,
                                       "utf-16le", &sc));
    charset_search_free(&s);

    /* header values: decoded first */
    s = charset_search_new("gr\xc3\xbc\xc3\x9f" "e", 7, M);
    const char *h = "=?utf-8?q?GR=C3=9C=C3=9FE?= =?utf-8?q?_aus?=";
    CU_ASSERT_TRUE(charset_search_mimeheader(s, h, strlen(h), &sc));
    CU_ASSERT_FALSE(charset_search_mimeheader(s, "gruesse", 7, &sc));
    charset_search_free(&s);

    struct buf out = BUF_INITIALIZER;
    charset_body_searchform("SGVsbG8gIFdPUkxE", 16, CHARSET_ENC_BASE64,
                            "utf-8", M, &sc, &out);
    CHECK_STR(buf_cstring(&out), "hello world");
    buf_free(&out);
    charset_scratch_free(&sc);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("charset", NULL, NULL);
    ADD_TEST(s, test_rfc2047_examples);
    ADD_TEST(s, test_rfc2047_lenient);
    ADD_TEST(s, test_convert);
    ADD_TEST(s, test_utf8);
    ADD_TEST(s, test_qp);
    ADD_TEST(s, test_base64);
    ADD_TEST(s, test_normalize);
    ADD_TEST(s, test_matcher);
    ADD_TEST(s, test_matcher_random);
    ADD_TEST(s, test_search_body);
}
