/* Tests for imap/store/utf7: modified UTF-7 validation and conversion. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/utf7.h"

static int valid(const char *s, int flags)
{
    return utf7_valid(s, strlen(s), flags) == 0;
}

/* Decode and compare; returns 1 when decoding succeeded with `want`. */
static int decodes_to(const char *s, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    int r = utf7_decode(s, strlen(s), 0, &b);
    int ok = (r == 0 && !strcmp(buf_cstring(&b), want));
    buf_free(&b);
    return ok;
}

static int encodes_to(const char *s, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    int r = utf7_encode(s, strlen(s), &b);
    int ok = (r == 0 && !strcmp(buf_cstring(&b), want));
    buf_free(&b);
    return ok;
}

static void test_valid_names(void)
{
    CU_ASSERT_TRUE(valid("", 0));
    CU_ASSERT_TRUE(valid("INBOX", 0));
    CU_ASSERT_TRUE(valid("&-", 0));
    CU_ASSERT_TRUE(valid("Tom &- Jerry", 0));
    CU_ASSERT_TRUE(valid("&AOk-t&AOk-", 0));
    CU_ASSERT_TRUE(valid("~peter/mail/&U,BTFw-/&ZeVnLIqe-", 0));
    CU_ASSERT_TRUE(valid("&2D3eAA-", 0));          /* surrogate pair */
    CU_ASSERT_TRUE(valid("&AOk-&-", 0));           /* "é&": not a null shift */
    CU_ASSERT_TRUE(valid("&-&AOk-", 0));
    CU_ASSERT_TRUE(valid("&AAk-", 0));             /* a TAB, validly encoded */
}

static void test_invalid_names(void)
{
    CU_ASSERT_FALSE(valid("&", 0));                /* unterminated */
    CU_ASSERT_FALSE(valid("&AOk", 0));
    CU_ASSERT_FALSE(valid("a&AOk-&AOk-", 0));      /* null shift */
    CU_ASSERT_FALSE(valid("&AGE-", 0));            /* encodes 'a' */
    CU_ASSERT_FALSE(valid("&ACY-", 0));            /* encodes '&' */
    CU_ASSERT_FALSE(valid("&AOl-", 0));            /* non-zero padding */
    CU_ASSERT_FALSE(valid("&AOkA-", 0));           /* superfluous character */
    CU_ASSERT_FALSE(valid("&AO-", 0));             /* 12 bits: no unit */
    CU_ASSERT_FALSE(valid("&2D0-", 0));            /* lone high surrogate */
    CU_ASSERT_FALSE(valid("&3gA-", 0));            /* lone low surrogate */
    CU_ASSERT_FALSE(valid("&2D3YPQ-", 0));         /* high + high */
    CU_ASSERT_FALSE(valid("&AOk/-", 0));           /* '/' is not modified BASE64 */
    CU_ASSERT_FALSE(valid("&AOk=-", 0));
    CU_ASSERT_FALSE(valid("a\tb", 0));             /* raw control */
    CU_ASSERT_FALSE(valid("caf\xc3\xa9", 0));      /* raw 8-bit */
    CU_ASSERT_FALSE(valid("a\x7f", 0));
    CU_ASSERT_FALSE(valid("&AAk-", UTF7_NOCONTROL));
    CU_ASSERT_FALSE(valid("&AIA-", UTF7_NOCONTROL)); /* U+0080, C1 control */
    CU_ASSERT_FALSE(valid("&AH8-", UTF7_NOCONTROL)); /* DEL */
    CU_ASSERT_TRUE(valid("&AOk-", UTF7_NOCONTROL));
    /* an embedded NUL ends nothing: the length is what counts */
    CU_ASSERT_NOT_EQUAL(utf7_valid("ab\0cd", 5, 0), 0);
    CU_ASSERT_EQUAL(utf7_valid("&AOk", 4, 0), CYRERR_PARSE);
}

static void test_decode(void)
{
    CU_ASSERT_TRUE(decodes_to("INBOX", "INBOX"));
    CU_ASSERT_TRUE(decodes_to("&-", "&"));
    CU_ASSERT_TRUE(decodes_to("a&-b", "a&b"));
    CU_ASSERT_TRUE(decodes_to("&AOk-t&AOk-", "\xc3\xa9t\xc3\xa9"));
    CU_ASSERT_TRUE(decodes_to("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
                              "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
                              "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
    CU_ASSERT_TRUE(decodes_to("&2D3eAA-", "\xf0\x9f\x98\x80"));
    CU_ASSERT_TRUE(decodes_to("&APwgrA-", "\xc3\xbc\xe2\x82\xac"));
    CU_ASSERT_FALSE(decodes_to("&AGE-", "a"));

    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(utf7_decode("&AAk-", 5, UTF7_NOCONTROL, &b), CYRERR_PARSE);
    buf_reset(&b);
    CU_ASSERT_EQUAL(utf7_decode("&AAk-", 5, 0, &b), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "\t");
    /* output is appended */
    CU_ASSERT_EQUAL(utf7_decode("x", 1, 0, &b), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "\tx");
    buf_free(&b);
}

static void test_encode(void)
{
    CU_ASSERT_TRUE(encodes_to("INBOX", "INBOX"));
    CU_ASSERT_TRUE(encodes_to("&", "&-"));
    CU_ASSERT_TRUE(encodes_to("Tom & Jerry", "Tom &- Jerry"));
    CU_ASSERT_TRUE(encodes_to("\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-"));
    CU_ASSERT_TRUE(encodes_to("\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-"));
    CU_ASSERT_TRUE(encodes_to("\xf0\x9f\x98\x80", "&2D3eAA-"));
    CU_ASSERT_TRUE(encodes_to("\xc3\xbc\xe2\x82\xac", "&APwgrA-"));
    CU_ASSERT_TRUE(encodes_to("\t", "&AAk-"));
    CU_ASSERT_TRUE(encodes_to("", ""));

    static const char *const bad[] = {
        "\xc3",                 /* truncated */
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong */
        "\xed\xa0\x80",         /* surrogate */
        "\xf4\x90\x80\x80",     /* past U+10FFFF */
        "\xff",
        "a\x80" "b",            /* stray continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = BUF_INITIALIZER;
        CU_ASSERT_EQUAL(utf7_encode(bad[i], strlen(bad[i]), &b), CYRERR_PARSE);
        buf_free(&b);
    }
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xc0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xe0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_putc(b, (char)(0xf0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/* Random strings of mixed ASCII and non-ASCII round-trip exactly, and
 * every encoding is valid (in particular, never a null shift). */
static void test_roundtrip_random(void)
{
    uint32_t seed = 12345;
    for (int n = 0; n < 3000; n++) {
        struct buf in = BUF_INITIALIZER, enc = BUF_INITIALIZER, dec = BUF_INITIALIZER;
        int len = (int)(seed % 12);
        for (int i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t kind = (seed >> 16) % 5, cp;
            seed = seed * 1103515245u + 12345u;
            uint32_t v = seed >> 8;
            switch (kind) {
            case 0: cp = 0x20 + v % 95; break;              /* printable */
            case 1: cp = '&'; break;
            case 2: cp = 0xa0 + v % 0x700; break;
            case 3: cp = 0x10000 + v % 0x100000; break;
            default:
                cp = 0x3000 + v % 0xa000;
                if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x4e00;
                break;
            }
            put_utf8(&in, cp);
        }
        seed = seed * 1103515245u + 12345u;
        CU_ASSERT_EQUAL_FATAL(utf7_encode(in.s ? in.s : "", in.len, &enc), 0);
        CU_ASSERT_EQUAL(utf7_valid(buf_base(&enc), enc.len, UTF7_NOCONTROL), 0);
        CU_ASSERT_EQUAL(utf7_decode(buf_base(&enc), enc.len, 0, &dec), 0);
        CU_ASSERT_TRUE(buf_cmp(&in, &dec) == 0);
        buf_free(&in);
        buf_free(&enc);
        buf_free(&dec);
    }
}

/* Random bytes from the modified BASE64 alphabet and the shift characters
 * never crash the validator, and anything it accepts decodes and
 * re-encodes to the same text (the encoding is canonical). */
static void test_fuzz_canonical(void)
{
    static const char alpha[] = "&-AOkzZ09+,aG2D3e/.";
    uint32_t seed = 777;
    int accepted = 0;
    for (int n = 0; n < 20000; n++) {
        char s[16];
        seed = seed * 1103515245u + 12345u;
        int len = (int)((seed >> 16) % 15);
        for (int i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
        }
        s[len] = '\0';
        if (utf7_valid(s, (size_t)len, 0)) continue;
        accepted++;
        struct buf dec = BUF_INITIALIZER, enc = BUF_INITIALIZER;
        CU_ASSERT_EQUAL(utf7_decode(s, (size_t)len, 0, &dec), 0);
        CU_ASSERT_EQUAL(utf7_encode(buf_base(&dec), dec.len, &enc), 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&enc), s);
        buf_free(&dec);
        buf_free(&enc);
    }
    CU_ASSERT_TRUE(accepted > 100);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("utf7", NULL, NULL);
    ADD_TEST(s, test_valid_names);
    ADD_TEST(s, test_invalid_names);
    ADD_TEST(s, test_decode);
    ADD_TEST(s, test_encode);
    ADD_TEST(s, test_roundtrip_random);
    ADD_TEST(s, test_fuzz_canonical);
}
