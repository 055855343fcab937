/* Tests for the LMTP engine (lmtp/): MAIL FROM / RCPT TO argument parsing
 * (lmtp_addr), the DATA state machine and spool fed byte by byte and in
 * chunks (lmtp_spool), the trace headers, and whole sessions over a
 * socketpair with fake callbacks (lmtpengine): pipelined replies in order,
 * per-recipient results after DATA, limits, timeouts and authentication
 * refusal. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit/harness.h"
#include "buf.h"
#include "error.h"
#include "lmtp/lmtp_addr.h"
#include "lmtp/lmtp_spool.h"
#include "lmtp/lmtpengine.h"
#include "saslglue.h"
#include "xmalloc.h"

/* ---- lmtp_addr ---------------------------------------------------------- */

static void test_path_simple(void)
{
    struct lmtp_path p;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(lmtp_path_parse("<alice@example.org>", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "alice@example.org");
    CU_ASSERT_EQUAL(p.params.count, 0);
    CU_ASSERT_PTR_NULL(lmtp_path_param(&p, "SIZE"));
    lmtp_path_fini(&p);
    lmtp_path_fini(&p); /* twice is harmless */

    /* blanks after the colon, and a bare user without domain */
    CU_ASSERT_EQUAL_FATAL(lmtp_path_parse("  <bob>", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "bob");
    lmtp_path_fini(&p);
}

static void test_path_params(void)
{
    struct lmtp_path p;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(
        lmtp_path_parse("<a@b> SIZE=1234  body=8BITMIME IGNOREQUOTA", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "a@b");
    CU_ASSERT_EQUAL(p.params.count, 3);
    CU_ASSERT_STRING_EQUAL(lmtp_path_param(&p, "size"), "1234");
    CU_ASSERT_STRING_EQUAL(lmtp_path_param(&p, "BODY"), "8BITMIME");
    CU_ASSERT_STRING_EQUAL(lmtp_path_param(&p, "IgnoreQuota"), "");
    CU_ASSERT_PTR_NULL(lmtp_path_param(&p, "SIZ"));
    CU_ASSERT_PTR_NULL(lmtp_path_param(&p, "AUTH"));
    lmtp_path_fini(&p);

    CU_ASSERT_EQUAL(lmtp_path_parse("<a@b> AUTH=<>", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(lmtp_path_param(&p, "AUTH"), "<>");
    lmtp_path_fini(&p);
}

static void test_path_null_and_route(void)
{
    struct lmtp_path p;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(lmtp_path_parse("<>", LMTP_PATH_ALLOW_NULL, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "");
    lmtp_path_fini(&p);
    CU_ASSERT_EQUAL(lmtp_path_parse("<>", 0, &p, &why), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(why);

    CU_ASSERT_EQUAL_FATAL(
        lmtp_path_parse("<@a.example,@b.example:bob@c.example>", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "bob@c.example");
    lmtp_path_fini(&p);
    CU_ASSERT_EQUAL(lmtp_path_parse("<@a.example bob@c>", 0, &p, &why), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_path_parse("<@:bob@c>", 0, &p, &why), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_path_parse("<@a:>", 0, &p, &why), CYRERR_PARSE);
}

static void test_path_quoted(void)
{
    struct lmtp_path p;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(lmtp_path_parse("<\"john \\\"jd\\\" doe\"@x.org>", 0, &p, &why),
                          0);
    CU_ASSERT_STRING_EQUAL(p.addr, "\"john \\\"jd\\\" doe\"@x.org");
    char *local, *domain;
    CU_ASSERT_EQUAL_FATAL(lmtp_addr_split(p.addr, &local, &domain), 0);
    CU_ASSERT_STRING_EQUAL(local, "john \"jd\" doe");
    CU_ASSERT_STRING_EQUAL(domain, "x.org");
    free(local);
    free(domain);
    lmtp_path_fini(&p);

    CU_ASSERT_EQUAL(lmtp_path_parse("<\"open@x>", 0, &p, &why), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_path_parse("<\"a\\", 0, &p, &why), CYRERR_PARSE);
}

static void test_path_errors(void)
{
    static const char *const badones[] = {
        "alice@x",  /* no brackets */
        "<alice@x", /* no '>' */
        "<a b@x>",  /* blank */
        "<a<b@x>",
        "<a(b)@x>",
        "<a\x01@x>", /* control */
        "<alice@x>garbage",
        "<alice@x> =v",
        "<alice@x> SIZE=",
        "<alice@x> SI_ZE=1",
        "<alice@x> SIZE=a=b",
        "<@>",
        "<alice@>",
        "<@x>",
        "",
        "<",
    };
    for (size_t i = 0; i < sizeof(badones) / sizeof(badones[0]); i++) {
        struct lmtp_path p;
        const char *why = NULL;
        int r = lmtp_path_parse(badones[i], LMTP_PATH_ALLOW_NULL, &p, &why);
        CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        CU_ASSERT_PTR_NOT_NULL(why);
        if (r == 0) {
            fprintf(stderr, "accepted: %s\n", badones[i]);
            lmtp_path_fini(&p);
        }
    }
}

static void test_path_8bit(void)
{
    struct lmtp_path p;
    const char *why;
    CU_ASSERT_EQUAL(lmtp_path_parse("<j\xc3\xb6rg@x>", LMTP_PATH_STRICT, &p, &why),
                    CYRERR_PARSE);
    CU_ASSERT_EQUAL_FATAL(lmtp_path_parse("<j\xc3\xb6rg@x>", 0, &p, &why), 0);
    CU_ASSERT_STRING_EQUAL(p.addr, "jXXrg@x");
    lmtp_path_fini(&p);
    /* 8-bit in a parameter is never allowed */
    CU_ASSERT_EQUAL(lmtp_path_parse("<a@x> X=\xc3\xb6", 0, &p, &why), CYRERR_PARSE);
}

static void test_addr_split(void)
{
    char *l, *d;
    CU_ASSERT_EQUAL_FATAL(lmtp_addr_split("bob", &l, &d), 0);
    CU_ASSERT_STRING_EQUAL(l, "bob");
    CU_ASSERT_STRING_EQUAL(d, "");
    free(l);
    free(d);
    CU_ASSERT_EQUAL_FATAL(lmtp_addr_split("bob+box@Example.ORG", &l, &d), 0);
    CU_ASSERT_STRING_EQUAL(l, "bob+box");
    CU_ASSERT_STRING_EQUAL(d, "Example.ORG");
    free(l);
    free(d);
    CU_ASSERT_EQUAL_FATAL(lmtp_addr_split("\"a@b\"@c", &l, &d), 0);
    CU_ASSERT_STRING_EQUAL(l, "a@b");
    CU_ASSERT_STRING_EQUAL(d, "c");
    free(l);
    free(d);
    CU_ASSERT_EQUAL(lmtp_addr_split("@x", &l, &d), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_addr_split("", &l, &d), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_addr_split("\"\"@x", &l, &d), CYRERR_PARSE);
    CU_ASSERT_EQUAL(lmtp_addr_split("\"open@x", &l, &d), CYRERR_PARSE);
    CU_ASSERT_PTR_NULL(l);
}

/* ---- lmtp_spool ---------------------------------------------------------- */

/* Read a whole spool file. */
static void spool_contents(const struct lmtp_spool *sp, uint64_t from, struct buf *out)
{
    char chunk[4096];
    uint64_t off = from;
    buf_reset(out);
    for (;;) {
        ssize_t n = pread(lmtp_spool_fd(sp), chunk, sizeof(chunk), (off_t)off);
        if (n <= 0) break;
        buf_appendmap(out, chunk, (size_t)n);
        off += (uint64_t)n;
    }
}

/* Feed `in` byte by byte; the message must end exactly at `end_at`
 * (index of the first byte after the dot line; -1: at the end). */
static struct lmtp_spool *spool_bytes(const char *in, size_t len, uint64_t max,
                                      unsigned flags, int *finish_r, size_t *used_r)
{
    struct lmtp_spool *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(harness_tmpdir(), max, flags, &sp), 0);
    size_t i;
    int r = LMTP_SPOOL_MORE;
    for (i = 0; i < len && r == LMTP_SPOOL_MORE; i++)
        r = lmtp_spool_feed(sp, (unsigned char)in[i]);
    *used_r = i;
    CU_ASSERT_EQUAL(r, LMTP_SPOOL_DONE);
    CU_ASSERT(lmtp_spool_done(sp));
    *finish_r = lmtp_spool_finish(sp);
    return sp;
}

/* Spool `in` (terminated by the dot line), expect `out` and return stats. */
static void check_spool(const char *in, const char *out, struct lmtp_spool_stats *st_r)
{
    int fr;
    size_t used;
    struct buf got = BUF_INITIALIZER;
    struct lmtp_spool *sp = spool_bytes(in, strlen(in), 0, 0, &fr, &used);
    CU_ASSERT_EQUAL(fr, 0);
    CU_ASSERT_EQUAL(used, strlen(in));
    spool_contents(sp, 0, &got);
    CU_ASSERT_EQUAL(buf_len(&got), strlen(out));
    CU_ASSERT_STRING_EQUAL(buf_cstring(&got), out);
    CU_ASSERT_EQUAL(lmtp_spool_stats(sp)->size, strlen(out));
    CU_ASSERT_EQUAL(lmtp_spool_file_size(sp), strlen(out));
    if (st_r) *st_r = *lmtp_spool_stats(sp);
    lmtp_spool_free(&sp);
    CU_ASSERT_PTR_NULL(sp);
    buf_free(&got);
}

static void test_spool_basic(void)
{
    struct lmtp_spool_stats st;
    check_spool("Subject: hi\r\n\r\nbody\r\n.\r\n", "Subject: hi\r\n\r\nbody\r\n", &st);
    CU_ASSERT_EQUAL(st.lines, 3);
    CU_ASSERT_EQUAL(st.longest_line, 11);
    CU_ASSERT(st.has_separator);
    CU_ASSERT_EQUAL(st.bad_header_lines, 0);
    CU_ASSERT_EQUAL(st.bare_lf + st.bare_cr + st.nul + st.header_8bit + st.body_8bit, 0);

    /* the empty message */
    check_spool(".\r\n", "", &st);
    CU_ASSERT_EQUAL(st.lines, 0);
    CU_ASSERT(!st.has_separator);
}

static void test_spool_unstuffing(void)
{
    check_spool("..leading dot\r\n.\r\n", ".leading dot\r\n", NULL);
    check_spool("...\r\n.\r\n", "..\r\n", NULL);
    check_spool("a\r\n..\r\n.\r\n", "a\r\n.\r\n", NULL);
    /* an unstuffed dot line that is not the end: the dot is dropped */
    check_spool(".x\r\n.\r\n", "x\r\n", NULL);
    /* a dot inside a line or after blanks stays */
    check_spool("a.b\r\n .\r\n.\r\n", "a.b\r\n .\r\n", NULL);
    /* ". " is not the end */
    check_spool(". \r\n.\r\n", " \r\n", NULL);
}

static void test_spool_line_ends(void)
{
    struct lmtp_spool_stats st;
    /* bare LF becomes CRLF; ".\n" also ends the message */
    check_spool("a\nb\n.\n", "a\r\nb\r\n", &st);
    CU_ASSERT_EQUAL(st.bare_lf, 2);
    CU_ASSERT_EQUAL(st.lines, 2);
    /* bare CR is kept and counted */
    check_spool("a\rb\r\n.\r\n", "a\rb\r\n", &st);
    CU_ASSERT_EQUAL(st.bare_cr, 1);
    check_spool("x\r\r\n.\r\n", "x\r\r\n", &st);
    CU_ASSERT_EQUAL(st.bare_cr, 1);
    /* ".\r" followed by something else: the dot goes, the CR stays */
    check_spool(".\rx\r\n.\r\n", "\rx\r\n", &st);
    CU_ASSERT_EQUAL(st.bare_cr, 1);
    /* mixed */
    check_spool("h: v\n\nbody\r\nline\n..\n.\r\n", "h: v\r\n\r\nbody\r\nline\r\n.\r\n",
                &st);
    CU_ASSERT(st.has_separator);
    CU_ASSERT_EQUAL(st.bare_lf, 4);
}

static void test_spool_stops_at_dot(void)
{
    const char *in = "a\r\n.\r\nQUIT\r\n";
    int fr;
    size_t used;
    struct lmtp_spool *sp = spool_bytes(in, strlen(in), 0, 0, &fr, &used);
    CU_ASSERT_EQUAL(used, 6);
    lmtp_spool_free(&sp);

    /* the same with feed_buf in one chunk */
    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(harness_tmpdir(), 0, 0, &sp), 0);
    int done = 0;
    CU_ASSERT_EQUAL(lmtp_spool_feed_buf(sp, in, strlen(in), &done), 6);
    CU_ASSERT(done);
    CU_ASSERT_EQUAL(lmtp_spool_feed_buf(sp, "more", 4, &done), 0);
    CU_ASSERT_EQUAL(lmtp_spool_finish(sp), 0);
    CU_ASSERT_EQUAL(lmtp_spool_stats(sp)->size, 3);
    lmtp_spool_free(&sp);
}

static void test_spool_header_analysis(void)
{
    struct lmtp_spool_stats st;
    const char *in = "From foo\r\nSubject: x\r\n\tcontinued\r\nNo colon here\r\n"
                     "Obs-Name : ok\r\n: empty name\r\n\r\nbody: not a header\r\n.\r\n";
    check_spool(in,
                "From foo\r\nSubject: x\r\n\tcontinued\r\nNo colon here\r\n"
                "Obs-Name : ok\r\n: empty name\r\n\r\nbody: not a header\r\n",
                &st);
    CU_ASSERT_EQUAL(st.bad_header_lines, 3);
    CU_ASSERT(st.has_separator);

    /* a continuation as the first line is bad */
    check_spool(" folded\r\nA: b\r\n\r\n.\r\n", " folded\r\nA: b\r\n\r\n", &st);
    CU_ASSERT_EQUAL(st.bad_header_lines, 1);

    /* no separator: everything is header */
    int fr;
    size_t used;
    const char *nosep = "A: b\r\nC: d\r\n.\r\n";
    struct lmtp_spool *sp = spool_bytes(nosep, strlen(nosep), 0, 0, &fr, &used);
    CU_ASSERT(!lmtp_spool_stats(sp)->has_separator);
    CU_ASSERT_EQUAL(lmtp_spool_body_offset(sp), lmtp_spool_file_size(sp));
    lmtp_spool_free(&sp);
}

static void test_spool_nul_8bit_munge(void)
{
    static const char in[] = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve \0x\r\n.\r\n";
    int fr;
    size_t used;
    struct buf got = BUF_INITIALIZER;

    struct lmtp_spool *sp = spool_bytes(in, sizeof(in) - 1, 0, 0, &fr, &used);
    const struct lmtp_spool_stats *st = lmtp_spool_stats(sp);
    CU_ASSERT_EQUAL(st->header_8bit, 2);
    CU_ASSERT_EQUAL(st->body_8bit, 2);
    CU_ASSERT_EQUAL(st->nul, 1);
    spool_contents(sp, 0, &got);
    CU_ASSERT_EQUAL(buf_len(&got), sizeof(in) - 1 - 3);
    CU_ASSERT(memcmp(buf_base(&got), in, buf_len(&got)) == 0);
    lmtp_spool_free(&sp);

    sp = spool_bytes(in, sizeof(in) - 1, 0, LMTP_SPOOL_MUNGE8BIT, &fr, &used);
    spool_contents(sp, 0, &got);
    CU_ASSERT(memcmp(buf_base(&got), "Subject: cafXX\r\n\r\nna\xc3\xafve \0x\r\n",
                     buf_len(&got)) == 0);
    CU_ASSERT_EQUAL(lmtp_spool_stats(sp)->header_8bit, 2);
    lmtp_spool_free(&sp);
    buf_free(&got);
}

static void test_spool_max_size(void)
{
    const char *in = "0123456789\r\n0123456789\r\n.\r\nNEXT";
    int fr;
    size_t used;
    /* 24 message bytes: a limit of 24 passes, 23 does not */
    struct lmtp_spool *sp = spool_bytes(in, strlen(in), 24, 0, &fr, &used);
    CU_ASSERT_EQUAL(fr, 0);
    lmtp_spool_free(&sp);
    sp = spool_bytes(in, strlen(in), 23, 0, &fr, &used);
    CU_ASSERT_EQUAL(fr, CYRERR_TOOBIG);
    /* read to the end all the same, and counted in full */
    CU_ASSERT_EQUAL(used, strlen(in) - 4);
    CU_ASSERT_EQUAL(lmtp_spool_stats(sp)->size, 24);
    CU_ASSERT(lmtp_spool_file_size(sp) <= 23);
    lmtp_spool_free(&sp);
}

static void test_spool_prepend_and_offsets(void)
{
    struct lmtp_spool *sp = NULL;
    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(harness_tmpdir(), 5, 0, &sp), 0);
    const char *hdr = "Return-Path: <a@b>\r\n";
    lmtp_spool_prepend(sp, hdr, strlen(hdr));
    const char *in = "A: b\r\n\r\nx\r\n.\r\n";
    int done = 0;
    /* the limit counts the message only (here 11 > 5) */
    CU_ASSERT_EQUAL(lmtp_spool_feed_buf(sp, in, strlen(in), &done), strlen(in));
    CU_ASSERT_EQUAL(lmtp_spool_finish(sp), CYRERR_TOOBIG);
    lmtp_spool_free(&sp);

    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(harness_tmpdir(), 11, 0, &sp), 0);
    lmtp_spool_prepend(sp, hdr, strlen(hdr));
    CU_ASSERT_EQUAL(lmtp_spool_feed_buf(sp, in, strlen(in), &done), strlen(in));
    CU_ASSERT_EQUAL(lmtp_spool_finish(sp), 0);
    CU_ASSERT_EQUAL(lmtp_spool_msg_offset(sp), strlen(hdr));
    CU_ASSERT_EQUAL(lmtp_spool_body_offset(sp), strlen(hdr) + 8);
    CU_ASSERT_EQUAL(lmtp_spool_file_size(sp), strlen(hdr) + 11);

    /* copy from an offset into a file */
    char *path = strconcat(harness_tmpdir(), "/copy", (char *)NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(lmtp_spool_copy(sp, lmtp_spool_msg_offset(sp), fd), 0);
    char back[64] = {0};
    CU_ASSERT_EQUAL(pread(fd, back, sizeof(back) - 1, 0), 11);
    CU_ASSERT_STRING_EQUAL(back, "A: b\r\n\r\nx\r\n");
    close(fd);
    /* copying to a bad descriptor fails */
    CU_ASSERT_EQUAL(lmtp_spool_copy(sp, 0, -1), CYRERR_IO);
    free(path);
    lmtp_spool_free(&sp);
}

/* A long message of awkward lines: every way of feeding it gives the same
 * file, and the file crosses the write buffer many times. */
static void test_spool_chunking_equivalence(void)
{
    struct buf in = BUF_INITIALIZER, a = BUF_INITIALIZER, b = BUF_INITIALIZER;
    static const char *const pieces[] = {
        "Header: v\r\n",
        "\r\n",
        "..dot\r\n",
        "bare lf\n",
        "bare\rcr\r\n",
        ".\rx\n",
        "....\r\n",
        "plain text line that is rather long, to fill buffers\r\n",
        "\n",
        "\r\n",
    };
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245 + 12345;
        buf_appendcstr(&in, pieces[(seed >> 16) % 10]);
    }
    buf_appendcstr(&in, ".\r\n");

    int fr;
    size_t used;
    struct lmtp_spool *sp1 = spool_bytes(buf_base(&in), buf_len(&in), 0, 0, &fr, &used);
    CU_ASSERT_EQUAL(fr, 0);
    CU_ASSERT_EQUAL(used, buf_len(&in));
    spool_contents(sp1, 0, &a);
    CU_ASSERT(buf_len(&a) > 3 * 65536);

    struct lmtp_spool *sp2 = NULL;
    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(harness_tmpdir(), 0, 0, &sp2), 0);
    size_t off = 0;
    int done = 0;
    size_t chunk = 1;
    while (!done && off < buf_len(&in)) {
        size_t n = buf_len(&in) - off < chunk ? buf_len(&in) - off : chunk;
        off += lmtp_spool_feed_buf(sp2, buf_base(&in) + off, n, &done);
        chunk = chunk * 3 % 997 + 1;
    }
    CU_ASSERT(done);
    CU_ASSERT_EQUAL(off, buf_len(&in));
    CU_ASSERT_EQUAL(lmtp_spool_finish(sp2), 0);
    spool_contents(sp2, 0, &b);
    CU_ASSERT_EQUAL(buf_cmp(&a, &b), 0);
    CU_ASSERT(memcmp(lmtp_spool_stats(sp1), lmtp_spool_stats(sp2),
                     sizeof(struct lmtp_spool_stats)) == 0);

    /* no bare LF, no lone dot line start, every line CRLF-terminated */
    const char *s = buf_base(&a);
    for (size_t i = 0; i < buf_len(&a); i++)
        if (s[i] == '\n') CU_ASSERT_FATAL(i > 0 && s[i - 1] == '\r');
    lmtp_spool_free(&sp1);
    lmtp_spool_free(&sp2);
    buf_free(&in);
    buf_free(&a);
    buf_free(&b);
}

static void test_spool_bad_dir(void)
{
    struct lmtp_spool *sp = (struct lmtp_spool *)1;
    CU_ASSERT_EQUAL(lmtp_spool_new("/nonexistent/dir/for/spool", 0, 0, &sp), CYRERR_IO);
    CU_ASSERT_PTR_NULL(sp);
    /* the file is unlinked: nothing is left in the directory */
    char *dir = strconcat(harness_tmpdir(), "/empty", (char *)NULL);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(lmtp_spool_new(dir, 0, 0, &sp), 0);
    lmtp_spool_prepend(sp, "x\r\n", 3);
    CU_ASSERT_EQUAL(lmtp_spool_feed(sp, '.'), LMTP_SPOOL_MORE);
    CU_ASSERT_EQUAL(lmtp_spool_feed(sp, '\n'), LMTP_SPOOL_DONE);
    CU_ASSERT_EQUAL(lmtp_spool_finish(sp), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0); /* fails when not empty */
    lmtp_spool_free(&sp);
    free(dir);
}

/* ---- trace headers -------------------------------------------------------- */

static void test_trace_headers(void)
{
    struct buf b = BUF_INITIALIZER;
    lmtp_trace_return_path(&b, "");
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "Return-Path: <>\r\n");
    buf_reset(&b);
    lmtp_trace_received(&b, "mx.example.org", "127.0.0.1;2525", "backend1", 1, 1, "abc-1",
                        1055230861);
    const char *s = buf_cstring(&b);
    static const char want[] = "Received: from mx.example.org ([127.0.0.1])\r\n"
                               "\tby backend1 (Cyrus-style murder) with LMTPSA\r\n"
                               "\tid abc-1; ";
    CU_ASSERT(!strncmp(s, want, strlen(want)));
    CU_ASSERT(strstr(s, "Jun 2003") != NULL);
    CU_ASSERT(!strcmp(s + buf_len(&b) - 2, "\r\n"));
    buf_reset(&b);
    lmtp_trace_received(&b, "h", "[::1];25", "srv", 0, 0, "i", 0);
    CU_ASSERT(strstr(buf_cstring(&b), "from h ([IPv6:::1])") != NULL);
    CU_ASSERT(strstr(buf_cstring(&b), "with LMTP\r\n") != NULL);
    buf_reset(&b);
    lmtp_trace_received(&b, "h", "unix", "srv", 0, 1, "i", 0);
    CU_ASSERT(strstr(buf_cstring(&b), "from h (unix socket)") != NULL);
    CU_ASSERT(strstr(buf_cstring(&b), "with LMTPA\r\n") != NULL);
    buf_free(&b);
}

/* ---- whole sessions -------------------------------------------------------- */

struct lmtp_ctx {
    struct buf message;       /* the last spooled file */
    struct lmtp_message last; /* its description (pointers dead after) */
    uint64_t msg_offset, received_offset, body_offset;
    int deliver_calls;
    int set_results; /* 0: leave results unset */
    int freed;       /* rcpt_free calls */
};

struct lmtp_rcpt_data {
    int n;
};

static void fake_verify(struct lmtp_ctx *ctx, struct lmtp_session *s,
                        struct lmtp_rcpt *rcpt, struct lmtp_status *st)
{
    (void)ctx;
    (void)s;
    rcpt->data = xzmalloc(sizeof(*rcpt->data));
    if (!strncmp(rcpt->addr, "unknown", 7))
        lmtp_status_set(st, 550, "5.1.1", "User unknown");
    else if (!strncmp(rcpt->addr, "moving", 6))
        lmtp_status_set(st, 450, "4.2.1", "Mailbox is moving");
    /* else leave it unset: accepted by default */
}

static void fake_deliver(struct lmtp_ctx *ctx, struct lmtp_session *s,
                         const struct lmtp_message *msg, struct lmtp_status *results)
{
    (void)s;
    ctx->deliver_calls++;
    ctx->last = *msg;
    ctx->msg_offset = msg->msg_offset;
    ctx->received_offset = msg->received_offset;
    ctx->body_offset = msg->body_offset;
    buf_reset(&ctx->message);
    spool_contents(msg->spool, 0, &ctx->message);
    if (!ctx->set_results) return;
    for (size_t i = 0; i < msg->nrcpts; i++) {
        if (!strncmp(msg->rcpts[i]->addr, "quota", 5))
            lmtp_status_set(&results[i], 452, "4.2.2", "Over quota\r\ninjected");
        else
            lmtp_status_set(&results[i], 250, "2.1.5", "Delivered %s",
                            msg->rcpts[i]->addr);
    }
}

static int fake_authenticated(struct lmtp_ctx *ctx, struct lmtp_session *s,
                              const char *userid, const char *authid)
{
    (void)ctx;
    (void)s;
    (void)userid;
    (void)authid;
    return 0;
}

static void fake_rcpt_free(struct lmtp_ctx *ctx, struct lmtp_rcpt *rcpt)
{
    ctx->freed++;
    xfree(rcpt->data);
}

static const struct lmtp_engine_ops fake_ops = {
    .verify_rcpt = fake_verify,
    .deliver = fake_deliver,
    .authenticated = fake_authenticated,
    .rcpt_free = fake_rcpt_free,
};

struct server {
    pthread_t tid;
    int fd; /* the client's end */
    int sfd;
    struct lmtp_engine_params params;
    struct lmtp_ctx ctx;
    int result;
    struct buf in; /* client read buffer */
};

static void *server_main(void *arg)
{
    struct server *sv = arg;
    sv->result = lmtp_session_run(&sv->params, &fake_ops, &sv->ctx, sv->sfd);
    close(sv->sfd);
    return NULL;
}

static void server_params(struct server *sv)
{
    memset(sv, 0, sizeof(*sv));
    sv->params.sasl_service = "lmtp";
    sv->params.servername = "test.example";
    sv->params.localip = "127.0.0.1;24";
    sv->params.remoteip = "127.0.0.1;40000";
    sv->params.trusted = 1;
    sv->params.trace_headers = 1;
    sv->params.timeout = 10;
    sv->params.tmpdir = harness_tmpdir();
    sv->ctx.set_results = 1;
}

static void server_start(struct server *sv)
{
    int pair[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    sv->fd = pair[0];
    sv->sfd = pair[1];
    struct timeval tv = {15, 0};
    setsockopt(sv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CU_ASSERT_FATAL(pthread_create(&sv->tid, NULL, server_main, sv) == 0);
}

/* Wait for the session to end; returns its result. */
static int server_join(struct server *sv)
{
    shutdown(sv->fd, SHUT_WR);
    pthread_join(sv->tid, NULL);
    close(sv->fd);
    buf_free(&sv->in);
    buf_free(&sv->ctx.message);
    return sv->result;
}

static void csend(struct server *sv, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(sv->fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* One reply line without CRLF ("" at EOF), borrowed until the next call. */
static const char *cline(struct server *sv)
{
    static char line[8192];
    for (;;) {
        const char *nl = memchr(buf_base(&sv->in), '\n', buf_len(&sv->in));
        if (nl) {
            size_t n = (size_t)(nl - buf_base(&sv->in));
            if (n >= sizeof(line)) n = sizeof(line) - 1;
            memcpy(line, buf_base(&sv->in), n);
            line[n] = '\0';
            if (n && line[n - 1] == '\r') line[n - 1] = '\0';
            buf_remove(&sv->in, 0, (size_t)(nl - buf_base(&sv->in)) + 1);
            return line;
        }
        char chunk[4096];
        ssize_t r = read(sv->fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return "";
        buf_appendmap(&sv->in, chunk, (size_t)r);
    }
}

#define EXPECT(sv, prefix)                                                               \
    do {                                                                                 \
        const char *l_ = cline(sv);                                                      \
        if (strncmp(l_, (prefix), strlen(prefix)))                                       \
            fprintf(stderr, "\nexpected <%s>, got <%s>\n", (prefix), l_);                \
        CU_ASSERT(!strncmp(l_, (prefix), strlen(prefix)));                               \
    } while (0)

/* Read the LHLO reply; returns the capabilities joined by ' '. */
static char *read_lhlo(struct server *sv)
{
    struct buf caps = BUF_INITIALIZER;
    for (;;) {
        const char *l = cline(sv);
        CU_ASSERT_FATAL(!strncmp(l, "250", 3));
        buf_appendcstr(&caps, l + 4);
        buf_putc(&caps, ' ');
        if (l[3] == ' ') break;
    }
    return buf_release(&caps);
}

static void test_session_pipelined(void)
{
    struct server sv;
    server_params(&sv);
    server_start(&sv);
    EXPECT(&sv, "220 test.example LMTP");
    /* everything up to DATA in one write */
    csend(&sv, "LHLO mx.example.org\r\nMAIL FROM:<sender@x.org> BODY=8BITMIME SIZE=50\r\n"
               "RCPT TO:<a@y>\r\nRCPT TO:<unknown@y>\r\nRCPT TO:<quota@y> IGNOREQUOTA\r\n"
               "RCPT TO:<moving@y>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    char *caps = read_lhlo(&sv);
    CU_ASSERT(strstr(caps, "test.example ") == caps);
    CU_ASSERT(strstr(caps, " PIPELINING ") != NULL);
    CU_ASSERT(strstr(caps, " 8BITMIME ") != NULL);
    CU_ASSERT(strstr(caps, " ENHANCEDSTATUSCODES ") != NULL);
    CU_ASSERT(strstr(caps, " SIZE ") != NULL);
    CU_ASSERT(strstr(caps, "STARTTLS") == NULL); /* no TLS context */
    free(caps);
    EXPECT(&sv, "250 2.1.0 ");
    EXPECT(&sv, "250 2.1.5 ");
    EXPECT(&sv, "550 5.1.1 User unknown");
    EXPECT(&sv, "250 2.1.5 ");
    EXPECT(&sv, "450 4.2.1 ");
    EXPECT(&sv, "250 2.1.5 ");
    EXPECT(&sv, "354 ");
    csend(&sv, "Subject: test\r\n\r\n..dotted\r\nbare\n.\r\nNOOP\r\n");
    EXPECT(&sv, "250 2.1.5 Delivered a@y");
    EXPECT(&sv, "452 4.2.2 Over quota  injected"); /* CRLF in text neutralised */
    EXPECT(&sv, "250 2.1.5 Delivered b@y");
    EXPECT(&sv, "250 2.0.0 "); /* the NOOP */
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 1);
    CU_ASSERT_EQUAL(sv.ctx.last.nrcpts, 3);
    CU_ASSERT_EQUAL(sv.ctx.last.body_8bitmime, 1);
    CU_ASSERT_EQUAL(sv.ctx.last.size_param, 50);
    /* refused recipients were freed at once, accepted ones after DATA */
    CU_ASSERT_EQUAL(sv.ctx.freed, 5);

    const char *m = buf_cstring(&sv.ctx.message);
    static const char want[] = "Return-Path: <sender@x.org>\r\nReceived: from "
                               "mx.example.org ([127.0.0.1])\r\n\tby test.example "
                               "(Cyrus-style murder) with LMTP\r\n\tid ";
    CU_ASSERT(!strncmp(m, want, strlen(want)));
    CU_ASSERT_EQUAL(sv.ctx.received_offset, strlen("Return-Path: <sender@x.org>\r\n"));
    CU_ASSERT(!strncmp(m + sv.ctx.received_offset, "Received:", 9));
    CU_ASSERT_STRING_EQUAL(m + sv.ctx.msg_offset,
                           "Subject: test\r\n\r\n.dotted\r\nbare\r\n");
    CU_ASSERT_STRING_EQUAL(m + sv.ctx.body_offset, ".dotted\r\nbare\r\n");

    /* a second transaction in the same session, null sender */
    csend(&sv, "MAIL FROM:<>\r\nRCPT TO:<c@y>\r\nDATA\r\n");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "354 ");
    csend(&sv, "x\r\n.\r\nQUIT\r\n");
    EXPECT(&sv, "250 2.1.5 Delivered c@y");
    EXPECT(&sv, "221 2.0.0 ");
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 2);
    CU_ASSERT_EQUAL(server_join(&sv), 0);
}

static void test_session_sequence_errors(void)
{
    struct server sv;
    server_params(&sv);
    sv.params.max_errors = 100;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "MAIL FROM:<a@b>\r\n");
    EXPECT(&sv, "503 5.5.1 "); /* before LHLO */
    csend(&sv, "EHLO x\r\n");
    EXPECT(&sv, "500 5.5.1 ");
    csend(&sv, "LHLO bad host\r\n");
    EXPECT(&sv, "501 ");
    csend(&sv, "LHLO\r\n");
    EXPECT(&sv, "501 5.5.4 ");
    csend(&sv, "LHLO x\r\n");
    free(read_lhlo(&sv));
    csend(&sv, "RCPT TO:<a@b>\r\nDATA\r\n");
    EXPECT(&sv, "503 5.5.1 ");
    EXPECT(&sv, "503 5.5.1 ");
    csend(&sv, "MAIL TO:<a@b>\r\nMAIL FROM:a@b\r\nMAIL FROM:<a@b> FOO=1\r\n");
    EXPECT(&sv, "501 5.5.2 ");
    EXPECT(&sv, "501 5.1.7 ");
    EXPECT(&sv, "555 5.5.4 ");
    csend(&sv, "MAIL FROM:<a@b> SIZE=x\r\nMAIL FROM:<a@b> BODY=BINARYMIME\r\n");
    EXPECT(&sv, "501 5.5.4 ");
    EXPECT(&sv, "555 5.5.4 ");
    csend(&sv, "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\n");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "503 5.5.1 Nested");
    EXPECT(&sv, "503 5.5.1 No valid recipients");
    csend(&sv, "RCPT TO:<>\r\nRCPT TO:<a@b> NOTIFY=NEVER\r\nRCPT TO:<unknown>\r\n"
               "DATA\r\n");
    EXPECT(&sv, "501 5.1.3 ");
    EXPECT(&sv, "555 5.5.4 ");
    EXPECT(&sv, "550 5.1.1 ");
    EXPECT(&sv, "503 5.5.1 ");
    csend(&sv, "RSET\r\nRCPT TO:<a@b>\r\nRSET x\r\n");
    EXPECT(&sv, "250 2.0.0 ");
    EXPECT(&sv, "503 5.5.1 "); /* RSET ended the transaction */
    EXPECT(&sv, "501 5.5.4 ");
    csend(&sv, "VRFY a\r\nVRFY\r\nEXPN x\r\nXYZZY\r\nnoop\r\nHELP\r\n");
    EXPECT(&sv, "252 2.3.3 ");
    EXPECT(&sv, "501 5.5.4 ");
    EXPECT(&sv, "502 5.5.1 ");
    EXPECT(&sv, "500 5.5.1 ");
    EXPECT(&sv, "250 2.0.0 ");
    EXPECT(&sv, "214 ");
    csend(&sv, "STARTTLS\r\nQUIT\r\n");
    EXPECT(&sv, "454 4.7.0 "); /* no TLS context */
    EXPECT(&sv, "221 ");
    CU_ASSERT_EQUAL(server_join(&sv), 0);
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 0);
}

static void test_session_limits(void)
{
    struct server sv;
    server_params(&sv);
    sv.params.max_line = 64;
    sv.params.max_rcpts = 2;
    sv.params.max_message_size = 10;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    char longline[200];
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "NOOP ", 5);
    memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
    csend(&sv, longline);
    EXPECT(&sv, "500 5.5.2 ");
    csend(&sv, "LHLO x\r\n");
    char *caps = read_lhlo(&sv);
    CU_ASSERT(strstr(caps, " SIZE 10 ") != NULL);
    free(caps);
    csend(&sv, "MAIL FROM:<a@b> SIZE=11\r\nMAIL FROM:<a@b> SIZE=10\r\n");
    EXPECT(&sv, "552 5.3.4 ");
    EXPECT(&sv, "250 ");
    csend(&sv, "RCPT TO:<a>\r\nRCPT TO:<b>\r\nRCPT TO:<c>\r\nDATA\r\n");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "452 4.5.3 ");
    EXPECT(&sv, "354 ");
    /* 12 bytes: too big for everyone, but read to the end */
    csend(&sv, "0123456789\r\n.\r\nMAIL FROM:<a@b>\r\n");
    EXPECT(&sv, "552 5.3.4 ");
    EXPECT(&sv, "552 5.3.4 ");
    EXPECT(&sv, "250 "); /* the session goes on */
    csend(&sv, "RCPT TO:<a>\r\nDATA\r\n");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "354 ");
    csend(&sv, "01234567\r\n.\r\n"); /* exactly 10 */
    EXPECT(&sv, "250 2.1.5 ");
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 1);
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);
}

static void test_session_unset_results(void)
{
    struct server sv;
    server_params(&sv);
    sv.ctx.set_results = 0;
    sv.params.trace_headers = 0;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
    free(read_lhlo(&sv));
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "354 ");
    csend(&sv, "hello\r\n.\r\n");
    EXPECT(&sv, "451 4.3.0 ");
    EXPECT(&sv, "451 4.3.0 ");
    /* without trace headers the file is the message */
    CU_ASSERT_STRING_EQUAL(buf_cstring(&sv.ctx.message), "hello\r\n");
    CU_ASSERT_EQUAL(sv.ctx.msg_offset, 0);
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);
}

static void test_session_untrusted(void)
{
    struct server sv;
    server_params(&sv);
    sv.params.trusted = 0;
    sv.params.soft_noauth = 1;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a>\r\n");
    free(read_lhlo(&sv));
    EXPECT(&sv, "430 4.7.0 ");
    EXPECT(&sv, "503 5.5.1 ");
    /* plaintext refused without TLS; unknown mechanisms refused */
    csend(&sv, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH NO-SUCH-MECH\r\nAUTH\r\n");
    EXPECT(&sv, "538 5.7.11 ");
    EXPECT(&sv, "504 5.5.4 ");
    EXPECT(&sv, "501 5.5.4 ");
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);

    server_params(&sv);
    sv.params.trusted = 0;
    sv.params.soft_noauth = 0;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "LHLO x\r\nMAIL FROM:<a@b>\r\n");
    free(read_lhlo(&sv));
    EXPECT(&sv, "530 5.7.0 ");
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);
}

static void test_session_timeout(void)
{
    struct server sv;
    server_params(&sv);
    sv.params.timeout = 1;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    EXPECT(&sv, "421 4.4.2 ");
    CU_ASSERT_STRING_EQUAL(cline(&sv), ""); /* closed */
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_TIMEOUT);

    /* a timeout in the middle of DATA */
    server_params(&sv);
    sv.params.timeout = 1;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a>\r\nDATA\r\npartial");
    free(read_lhlo(&sv));
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "354 ");
    EXPECT(&sv, "421 4.4.2 ");
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_TIMEOUT);
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 0);
    CU_ASSERT_EQUAL(sv.ctx.freed, 1);
}

static void test_session_eof_in_data(void)
{
    struct server sv;
    server_params(&sv);
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a>\r\nDATA\r\nno end");
    free(read_lhlo(&sv));
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "354 ");
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);
    CU_ASSERT_EQUAL(sv.ctx.deliver_calls, 0);
}

static void test_session_too_many_errors(void)
{
    struct server sv;
    server_params(&sv);
    sv.params.max_errors = 3;
    server_start(&sv);
    EXPECT(&sv, "220 ");
    csend(&sv, "BAD1\r\nBAD2\r\nNOOP\r\nBAD3\r\nNOOP\r\n");
    EXPECT(&sv, "500 ");
    EXPECT(&sv, "500 ");
    EXPECT(&sv, "250 ");
    EXPECT(&sv, "500 ");
    EXPECT(&sv, "421 4.7.0 ");
    CU_ASSERT_STRING_EQUAL(cline(&sv), "");
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_LIMIT);
}

static void test_session_nul_in_command(void)
{
    struct server sv;
    server_params(&sv);
    server_start(&sv);
    EXPECT(&sv, "220 ");
    int n = (int)write(sv.fd, "NOOP\0x\r\n\r\n", 10);
    CU_ASSERT_EQUAL(n, 10);
    EXPECT(&sv, "500 5.5.2 ");
    EXPECT(&sv, "500 5.5.2 "); /* empty line */
    CU_ASSERT_EQUAL(server_join(&sv), CYRERR_EOF);
}

static int suite_cleanup(void)
{
    saslglue_done();
    return 0;
}

void register_tests(void)
{
    CU_pSuite a = harness_suite("lmtp_addr", NULL, NULL);
    ADD_TEST(a, test_path_simple);
    ADD_TEST(a, test_path_params);
    ADD_TEST(a, test_path_null_and_route);
    ADD_TEST(a, test_path_quoted);
    ADD_TEST(a, test_path_errors);
    ADD_TEST(a, test_path_8bit);
    ADD_TEST(a, test_addr_split);

    CU_pSuite s = harness_suite("lmtp_spool", NULL, NULL);
    ADD_TEST(s, test_spool_basic);
    ADD_TEST(s, test_spool_unstuffing);
    ADD_TEST(s, test_spool_line_ends);
    ADD_TEST(s, test_spool_stops_at_dot);
    ADD_TEST(s, test_spool_header_analysis);
    ADD_TEST(s, test_spool_nul_8bit_munge);
    ADD_TEST(s, test_spool_max_size);
    ADD_TEST(s, test_spool_prepend_and_offsets);
    ADD_TEST(s, test_spool_chunking_equivalence);
    ADD_TEST(s, test_spool_bad_dir);

    CU_pSuite e = harness_suite("lmtpengine", NULL, suite_cleanup);
    ADD_TEST(e, test_trace_headers);
    ADD_TEST(e, test_session_pipelined);
    ADD_TEST(e, test_session_sequence_errors);
    ADD_TEST(e, test_session_limits);
    ADD_TEST(e, test_session_unset_results);
    ADD_TEST(e, test_session_untrusted);
    ADD_TEST(e, test_session_timeout);
    ADD_TEST(e, test_session_eof_in_data);
    ADD_TEST(e, test_session_too_many_errors);
    ADD_TEST(e, test_session_nul_in_command);
}
