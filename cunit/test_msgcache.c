/* Tests for imap/store/msgcache: the per-message cache record. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/message.h"
#include "imap/store/message_imap.h"
#include "imap/store/message_section.h"
#include "imap/store/msgcache.h"
#include "xmalloc.h"

#define CHECK_STR(got, want)                                               \
    do {                                                                   \
        const char *g_ = (got), *w_ = (want);                              \
        if (!g_) g_ = "(null)";                                            \
        if (strcmp(g_, w_))                                                \
            fprintf(stderr, "\n%s:%d: got <%s> want <%s>\n", __FILE__,    \
                    __LINE__, g_, w_);                                     \
        CU_ASSERT_STRING_EQUAL(g_, w_);                                    \
    } while (0)

static const char msg[] =
    "From: =?utf-8?Q?J=C3=B6rg?= <Joerg@Example.COM>, b@x.org\r\n"
    "To: Group: a@x.org;, t@x.org\r\n"
    "Subject: Re: [list] =?iso-8859-1?q?caf=E9?=\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "Message-ID: <m1@x>\r\n"
    "References: <r1@x>\r\n <r2@x>\r\n"
    "Content-Type: multipart/mixed; boundary=B\r\n"
    "\r\n"
    "--B\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=E9\r\n"
    "--B\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: in\r\n"
    "\r\n"
    "x\r\n"
    "--B--\r\n";

static void test_roundtrip(void)
{
    size_t len = strlen(msg);
    struct message_part *root = NULL;
    CU_ASSERT_EQUAL_FATAL(message_parse(msg, len, &root), 0);
    struct buf rec = BUF_INITIALIZER;
    buf_appendcstr(&rec, "prefix");          /* encode appends */
    msgcache_encode(msg, len, root, &rec);
    CU_ASSERT_EQUAL(memcmp(buf_base(&rec), "prefix", 6), 0);
    struct buf rec2 = BUF_INITIALIZER;
    msgcache_build(msg, len, &rec2);
    CU_ASSERT_EQUAL(buf_len(&rec2), buf_len(&rec) - 6);
    CU_ASSERT_EQUAL(memcmp(buf_base(&rec2), buf_base(&rec) + 6,
                           buf_len(&rec2)), 0);

    struct msgcache *mc = NULL;
    CU_ASSERT_EQUAL_FATAL(msgcache_decode(buf_base(&rec2), buf_len(&rec2),
                                          &mc), 0);
    CU_ASSERT_EQUAL(msgcache_msgsize(mc), len);

    /* the strings are what message_imap renders */
    struct buf want = BUF_INITIALIZER;
    size_t l;
    message_imap_envelope(&want, root);
    CHECK_STR(msgcache_envelope(mc, &l), buf_cstring(&want));
    CU_ASSERT_EQUAL(l, buf_len(&want));
    buf_reset(&want);
    message_imap_body(&want, root, 1);
    CHECK_STR(msgcache_bodystructure(mc, NULL), buf_cstring(&want));
    buf_reset(&want);
    message_imap_body(&want, root, 0);
    CHECK_STR(msgcache_body(mc, NULL), buf_cstring(&want));
    buf_free(&want);

    /* the part table equals the tree's */
    struct message_span *sp;
    size_t n = message_spans(root, &sp), cn;
    const struct message_span *csp = msgcache_spans(mc, &cn);
    CU_ASSERT_EQUAL_FATAL(cn, n);
    CU_ASSERT_EQUAL(n, 4);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(csp[i].header_off, sp[i].header_off);
        CU_ASSERT_EQUAL(csp[i].header_len, sp[i].header_len);
        CU_ASSERT_EQUAL(csp[i].body_off, sp[i].body_off);
        CU_ASSERT_EQUAL(csp[i].body_len, sp[i].body_len);
        CU_ASSERT_EQUAL(csp[i].kind, sp[i].kind);
        CU_ASSERT_EQUAL(csp[i].flags, sp[i].flags);
        CU_ASSERT_EQUAL(csp[i].cte, sp[i].cte);
        CU_ASSERT_EQUAL(csp[i].nchildren, sp[i].nchildren);
        CU_ASSERT_EQUAL(csp[i].subtree, sp[i].subtree);
        CHECK_STR(csp[i].type, sp[i].type);
        CHECK_STR(csp[i].subtype, sp[i].subtype);
        CU_ASSERT_EQUAL(!csp[i].charset, !sp[i].charset);
        if (sp[i].charset) CHECK_STR(csp[i].charset, sp[i].charset);
    }
    free(sp);

    /* BODY[1] and BINARY[1] served from the record, no parse */
    struct message_section sec;
    CU_ASSERT_EQUAL(message_section_parse("1", 1, &sec), 0);
    struct buf scratch = BUF_INITIALIZER;
    const char *d;
    size_t dl;
    CU_ASSERT_EQUAL(message_section_fetch(msg, len, csp, cn, &sec, 0,
                                          &scratch, &d, &dl), 0);
    CU_ASSERT_EQUAL(dl, 6);
    CU_ASSERT_EQUAL(memcmp(d, "caf=E9", 6), 0);
    CU_ASSERT_EQUAL(message_section_fetch(msg, len, csp, cn, &sec,
                                          MESSAGE_SECTION_BINARY, &scratch,
                                          &d, &dl), 0);
    CU_ASSERT_EQUAL(dl, 4);
    CU_ASSERT_EQUAL(memcmp(d, "caf\xe9", 4), 0);
    /* spans that point past the message data are refused */
    CU_ASSERT_EQUAL(message_section_fetch(msg, 10, csp, cn, &sec, 0,
                                          &scratch, &d, &dl), CYRERR_CORRUPT);
    message_section_fini(&sec);
    CU_ASSERT_EQUAL(message_section_parse("2.HEADER", 8, &sec), 0);
    CU_ASSERT_EQUAL(message_section_fetch(msg, len, csp, cn, &sec, 0,
                                          &scratch, &d, &dl), 0);
    CU_ASSERT_EQUAL(dl, 15);
    CU_ASSERT_EQUAL(memcmp(d, "Subject: in\r\n\r\n", 15), 0);
    message_section_fini(&sec);
    buf_free(&scratch);

    /* decoded fields for search and sort */
    CHECK_STR(msgcache_field(mc, MSGCACHE_FROM, NULL),
              "J\xc3\xb6rg <Joerg@Example.COM>, b@x.org");
    CHECK_STR(msgcache_field(mc, MSGCACHE_SUBJECT, NULL),
              "Re: [list] caf\xc3\xa9");
    CHECK_STR(msgcache_field(mc, MSGCACHE_BASESUBJECT, NULL), "caf\xc3\xa9");
    CHECK_STR(msgcache_field(mc, MSGCACHE_TO, NULL), "Group: a@x.org;, t@x.org");
    CU_ASSERT_PTR_NULL(msgcache_field(mc, MSGCACHE_CC, &l));
    CU_ASSERT_EQUAL(l, 0);
    CU_ASSERT_PTR_NULL(msgcache_field(mc, MSGCACHE_BCC, NULL));
    CHECK_STR(msgcache_field(mc, MSGCACHE_MESSAGE_ID, NULL), "<m1@x>");
    CU_ASSERT_PTR_NULL(msgcache_field(mc, MSGCACHE_IN_REPLY_TO, NULL));
    CHECK_STR(msgcache_field(mc, MSGCACHE_REFERENCES, NULL), "<r1@x> <r2@x>");
    CHECK_STR(msgcache_field(mc, MSGCACHE_SORT_FROM, NULL), "Joerg");
    CHECK_STR(msgcache_field(mc, MSGCACHE_SORT_TO, NULL), "a");
    CU_ASSERT_PTR_NULL(msgcache_field(mc, MSGCACHE_SORT_CC, NULL));
    CU_ASSERT_PTR_NULL(msgcache_field(mc, MSGCACHE_NFIELDS, NULL));
    time_t t;
    CU_ASSERT_EQUAL(msgcache_date(mc, &t), 0);
    CU_ASSERT_EQUAL(t, 760686745);

    msgcache_free(&mc);
    CU_ASSERT_PTR_NULL(mc);
    msgcache_free(&mc);
    message_free(&root);
    buf_free(&rec);
    buf_free(&rec2);
}

static void test_no_date_and_8bit(void)
{
    const char *m = "Subject: caf\xe9\r\nDate: someday\r\n\r\nbody";
    struct buf rec = BUF_INITIALIZER;
    msgcache_build(m, strlen(m), &rec);
    struct msgcache *mc;
    CU_ASSERT_EQUAL_FATAL(msgcache_decode(buf_base(&rec), buf_len(&rec), &mc),
                          0);
    time_t t;
    CU_ASSERT_EQUAL(msgcache_date(mc, &t), CYRERR_NOTFOUND);
    CHECK_STR(msgcache_field(mc, MSGCACHE_SUBJECT, NULL), "caf\xc3\xa9");
    CHECK_STR(msgcache_envelope(mc, NULL),
              "(\"someday\" {4}\r\ncaf\xe9 NIL NIL NIL NIL NIL NIL NIL NIL)");
    msgcache_free(&mc);
    buf_free(&rec);

    /* an empty message has a record too */
    msgcache_build("", 0, &rec);
    CU_ASSERT_EQUAL_FATAL(msgcache_decode(buf_base(&rec), buf_len(&rec), &mc),
                          0);
    size_t n;
    msgcache_spans(mc, &n);
    CU_ASSERT_EQUAL(n, 1);
    msgcache_free(&mc);
    buf_free(&rec);
}

static void fix_crc(char *rec, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const unsigned char *)rec, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        rec[len - 4 + i] = (char)((crc >> (8 * i)) & 0xFF);
}

/* A record that decodes must be safe to use. */
static void use_record(const struct msgcache *mc, const char *m, size_t len)
{
    size_t n;
    const struct message_span *sp = msgcache_spans(mc, &n);
    CU_ASSERT(n >= 1);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(sp[i].subtree >= 1 && i + sp[i].subtree <= n);
        CU_ASSERT(sp[i].header_off + sp[i].header_len <= msgcache_msgsize(mc));
        CU_ASSERT(sp[i].body_off + sp[i].body_len <= msgcache_msgsize(mc));
    }
    const char *specs[] = { "1", "2", "2.1", "1.MIME", "2.HEADER",
                            "HEADER.FIELDS (Subject)", "3.1.2" };
    struct buf scratch = BUF_INITIALIZER;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct message_section sec;
        CU_ASSERT_EQUAL(message_section_parse(specs[i], strlen(specs[i]),
                                              &sec), 0);
        const char *d;
        size_t dl;
        /* the message given may be shorter than the record claims */
        (void)message_section_fetch(m, len, sp, n, &sec,
                                    MESSAGE_SECTION_BINARY, &scratch, &d, &dl);
        (void)message_section_fetch(m, len, sp, n, &sec, 0, &scratch, &d,
                                    &dl);
        message_section_fini(&sec);
    }
    buf_free(&scratch);
    for (int f = 0; f < MSGCACHE_NFIELDS; f++)
        (void)msgcache_field(mc, (enum msgcache_field)f, NULL);
    CU_ASSERT_PTR_NOT_NULL(msgcache_envelope(mc, NULL));
}

static void test_corrupt(void)
{
    size_t len = strlen(msg);
    struct buf rec = BUF_INITIALIZER;
    msgcache_build(msg, len, &rec);
    size_t rl = buf_len(&rec);
    struct msgcache *mc;

    /* every truncation: corrupt, never a crash (exact-size copies so that
     * ASan sees any overread) */
    for (size_t n = 0; n < rl; n++) {
        char *copy = xmemdup(buf_base(&rec), n ? n : 1);
        CU_ASSERT_EQUAL(msgcache_decode(copy, n, &mc), CYRERR_CORRUPT);
        CU_ASSERT_PTR_NULL(mc);
        free(copy);
    }
    CU_ASSERT_EQUAL(msgcache_decode(NULL, 0, &mc), CYRERR_CORRUPT);

    /* every flipped bit: the checksum catches it */
    char *copy = xmemdup(buf_base(&rec), rl);
    for (size_t i = 0; i < rl; i++) {
        for (int bit = 0; bit < 8; bit++) {
            copy[i] ^= (char)(1 << bit);
            int r = msgcache_decode(copy, rl, &mc);
            CU_ASSERT(r == CYRERR_CORRUPT || r == CYRERR_NOTSUPPORTED);
            msgcache_free(&mc);
            copy[i] ^= (char)(1 << bit);
        }
    }

    /* damage with a valid checksum: rejected, or safe to use */
    int accepted = 0;
    for (size_t i = 0; i + 4 < rl; i++) {
        const unsigned char vals[] = { 0x00, 0x01, 0x7F, 0x80, 0xFF };
        for (size_t v = 0; v < sizeof(vals); v++) {
            char saved = copy[i];
            copy[i] = (char)vals[v];
            fix_crc(copy, rl);
            int r = msgcache_decode(copy, rl, &mc);
            CU_ASSERT(r == 0 || r == CYRERR_CORRUPT ||
                      r == CYRERR_NOTSUPPORTED);
            if (r == 0) {
                accepted++;
                use_record(mc, msg, len);
                msgcache_free(&mc);
            }
            copy[i] = saved;
        }
    }
    CU_ASSERT(accepted > 0);        /* some changes are harmless, e.g. text */
    fix_crc(copy, rl);
    CU_ASSERT_EQUAL(msgcache_decode(copy, rl, &mc), 0);
    msgcache_free(&mc);

    /* another version: not ours to read */
    copy[4] = (char)(MSGCACHE_VERSION + 1);
    fix_crc(copy, rl);
    CU_ASSERT_EQUAL(msgcache_decode(copy, rl, &mc), CYRERR_NOTSUPPORTED);
    copy[0] = 'X';
    fix_crc(copy, rl);
    CU_ASSERT_EQUAL(msgcache_decode(copy, rl, &mc), CYRERR_CORRUPT);
    free(copy);

    /* trailing garbage inside the checksummed area */
    struct buf longer = BUF_INITIALIZER;
    buf_appendmap(&longer, buf_base(&rec), rl - 4);
    buf_appendcstr(&longer, "junk0000");
    fix_crc(longer.s, buf_len(&longer));
    CU_ASSERT_EQUAL(msgcache_decode(buf_base(&longer), buf_len(&longer), &mc),
                    CYRERR_CORRUPT);
    buf_free(&longer);
    buf_free(&rec);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("msgcache", NULL, NULL);
    ADD_TEST(s, test_roundtrip);
    ADD_TEST(s, test_no_date_and_8bit);
    ADD_TEST(s, test_corrupt);
}
