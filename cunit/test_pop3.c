/* Tests for the pop3d modules that stand alone: pop3_send (a message as a
 * dot-stuffed POP3 body, RETR and TOP) and pop3_logindelay (popminpoll
 * with poppollpadding). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "libconfig.h"
#include "prot.h"
#include "xmalloc.h"

#include "imap/pop3d/pop3d.h"

static int counter;

/* A file holding `len` bytes of `data`; returns an fd open for reading. */
static int message_fd(const char *data, size_t len)
{
    char *path = xasprintf("%s/msg.%d", harness_tmpdir(), ++counter);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
    CU_ASSERT_FATAL(lseek(fd, 0, SEEK_SET) == 0);
    free(path);
    return fd;
}

/* Run pop3_send_message over a message; the bytes written go to `out`. */
static int send_to_buf(const char *data, size_t len, long maxlines, struct buf *out)
{
    int in = message_fd(data, len);
    char *path = xasprintf("%s/out.%d", harness_tmpdir(), ++counter);
    int ofd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(ofd >= 0);
    struct prot *p = prot_new(ofd);
    int r = pop3_send_message(p, in, maxlines);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    prot_free(&p);
    close(in);

    buf_reset(out);
    char chunk[4096];
    CU_ASSERT_FATAL(lseek(ofd, 0, SEEK_SET) == 0);
    ssize_t n;
    while ((n = read(ofd, chunk, sizeof(chunk))) > 0) buf_appendmap(out, chunk, (size_t)n);
    close(ofd);
    free(path);
    return r;
}

static void check_send(const char *msg, long maxlines, const char *expect)
{
    struct buf out = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(send_to_buf(msg, strlen(msg), maxlines, &out), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&out), expect);
    buf_free(&out);
}

static void test_send_plain(void)
{
    check_send("Subject: x\r\n\r\nhello\r\nworld\r\n", -1,
               "Subject: x\r\n\r\nhello\r\nworld\r\n.\r\n");
    /* empty message: just the terminator */
    check_send("", -1, ".\r\n");
}

static void test_send_dot_stuffing(void)
{
    check_send("A: b\r\n\r\n.hidden\r\n.\r\n..two\r\nmid.dle\r\n", -1,
               "A: b\r\n\r\n..hidden\r\n..\r\n...two\r\nmid.dle\r\n.\r\n");
    /* a dot on the very first line too */
    check_send(".x: y\r\n\r\nz\r\n", -1, "..x: y\r\n\r\nz\r\n.\r\n");
}

static void test_send_line_endings(void)
{
    /* bare LF gets its CR; a missing last line end is added */
    check_send("A: b\n\nline\n.dot\nlast", -1,
               "A: b\r\n\r\nline\r\n..dot\r\nlast\r\n.\r\n");
    /* a last line ending in a bare CR gets only the LF */
    check_send("A: b\r\n\r\nx\r", -1, "A: b\r\n\r\nx\r\n.\r\n");
}

static void test_send_top(void)
{
    const char *m = "From: a\r\nTo: b\r\n\r\none\r\n.two\r\nthree\r\n";
    check_send(m, 0, "From: a\r\nTo: b\r\n\r\n.\r\n");
    check_send(m, 1, "From: a\r\nTo: b\r\n\r\none\r\n.\r\n");
    check_send(m, 2, "From: a\r\nTo: b\r\n\r\none\r\n..two\r\n.\r\n");
    check_send(m, 3, "From: a\r\nTo: b\r\n\r\none\r\n..two\r\nthree\r\n.\r\n");
    check_send(m, 100, "From: a\r\nTo: b\r\n\r\none\r\n..two\r\nthree\r\n.\r\n");
    /* no blank line: the whole message is header */
    check_send("From: a\r\nTo: b\r\n", 0, "From: a\r\nTo: b\r\n.\r\n");
    /* bare LF blank line ends the header too */
    check_send("From: a\n\nbody\nmore\n", 1, "From: a\r\n\r\nbody\r\n.\r\n");
}

/* Lines and dots across the 64 KiB read chunks. */
static void test_send_large(void)
{
    struct buf msg = BUF_INITIALIZER, expect = BUF_INITIALIZER, out = BUF_INITIALIZER;
    buf_appendcstr(&msg, "Subject: big\r\n\r\n");
    buf_appendcstr(&expect, "Subject: big\r\n\r\n");
    /* fill up to just before the first chunk end, so that a LF ends at
     * byte 65535 and the next chunk starts with a '.' */
    while (buf_len(&msg) < 65536 - 80) {
        buf_appendcstr(&msg, "0123456789012345678901234567890123456789\r\n");
        buf_appendcstr(&expect, "0123456789012345678901234567890123456789\r\n");
    }
    size_t pad = 65536 - buf_len(&msg) - 2;
    for (size_t i = 0; i < pad; i++) {
        buf_putc(&msg, 'x');
        buf_putc(&expect, 'x');
    }
    buf_appendcstr(&msg, "\r\n");
    buf_appendcstr(&expect, "\r\n");
    CU_ASSERT_EQUAL(buf_len(&msg), 65536);
    for (int i = 0; i < 3000; i++) {
        buf_appendcstr(&msg, ".dot line\n");
        buf_appendcstr(&expect, "..dot line\r\n");
    }
    buf_appendcstr(&expect, ".\r\n");
    CU_ASSERT_EQUAL(send_to_buf(buf_base(&msg), buf_len(&msg), -1, &out), 0);
    CU_ASSERT_EQUAL(buf_len(&out), buf_len(&expect));
    CU_ASSERT(buf_cmp(&out, &expect) == 0);

    /* a CR at the end of one chunk and its LF at the start of the next */
    buf_reset(&msg);
    buf_reset(&expect);
    buf_appendcstr(&msg, "A: b\r\n\r\n");
    while (buf_len(&msg) < 65535) buf_putc(&msg, 'y');
    buf_setcstr(&expect, buf_cstring(&msg));
    buf_appendcstr(&msg, "\r\n.z\r\n");
    buf_appendcstr(&expect, "\r\n..z\r\n.\r\n");
    CU_ASSERT_EQUAL(msg.s[65535], '\r');
    CU_ASSERT_EQUAL(send_to_buf(buf_base(&msg), buf_len(&msg), -1, &out), 0);
    CU_ASSERT(buf_cmp(&out, &expect) == 0);
    buf_free(&msg);
    buf_free(&expect);
    buf_free(&out);
}

static void test_send_read_error(void)
{
    /* a directory cannot be read: CYRERR_IO, and no terminator is sent */
    int dfd = open(harness_tmpdir(), O_RDONLY | O_DIRECTORY);
    CU_ASSERT_FATAL(dfd >= 0);
    char *path = xasprintf("%s/out.err", harness_tmpdir());
    int ofd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(ofd >= 0);
    struct prot *p = prot_new(ofd);
    CU_ASSERT_EQUAL(pop3_send_message(p, dfd, -1), CYRERR_IO);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    prot_free(&p);
    struct stat st;
    CU_ASSERT_EQUAL(fstat(ofd, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    close(ofd);
    close(dfd);
    free(path);
}

/* ---- login delay ---------------------------------------------------------- */

static char *confdir;

static int delay_init(void)
{
    confdir = xasprintf("%s/conf", harness_tmpdir());
    char *conf = xasprintf("%s/imapd.conf", harness_tmpdir());
    FILE *f = fopen(conf, "w");
    if (!f) return -1;
    fprintf(f, "configdirectory: %s\nvirtdomains: userid\n", confdir);
    fclose(f);
    config_reset();
    int r = config_read(conf, NULL, NULL, NULL);
    free(conf);
    return r ? -1 : 0;
}

static int delay_cleanup(void)
{
    config_reset();
    free(confdir);
    confdir = NULL;
    return 0;
}

static void test_delay_minpoll(void)
{
    long wait = -1;
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1000, 60, 1, &wait), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1030, 60, 1, &wait), 0);
    CU_ASSERT_EQUAL(wait, 30);
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1059, 60, 1, &wait), 0);
    CU_ASSERT_EQUAL(wait, 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1060, 60, 1, &wait), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1061, 60, 1, &wait), 0);
    CU_ASSERT_EQUAL(wait, 59);
    /* another user is not affected */
    CU_ASSERT_EQUAL(pop3_logindelay_take("bob", 1061, 60, 1, NULL), 1);
    /* minpoll 0: no limit, nothing recorded */
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1062, 0, 1, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("alice", 1062, 60, 1, NULL), 0);

    /* the record is where userfile.h says, in the documented form */
    char *path = xasprintf("%s/user/a/alice.pop3", confdir);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[64] = "";
    CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
    CU_ASSERT_STRING_EQUAL(line, "1 1060 0\n");
    fclose(f);
    free(path);
}

static void test_delay_padding(void)
{
    long wait = 0;
    /* three in reserve: three quick logins, then one per minpoll */
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5000, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5001, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5002, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5003, 60, 3, &wait), 0);
    CU_ASSERT_EQUAL(wait, 57);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5060, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 5061, 60, 3, NULL), 0);
    /* a long pause refills to the cap, not beyond */
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 9000, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 9000, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 9000, 60, 3, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("carol", 9000, 60, 3, NULL), 0);
}

static void test_delay_bad_record_and_clock(void)
{
    /* a damaged record counts as a full allowance */
    char *dir = xasprintf("%s/user/d", confdir);
    mkdir(dir, 0750);
    char *path = xasprintf("%s/dave.pop3", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("garbage 12\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(pop3_logindelay_take("dave", 7000, 60, 1, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("dave", 7001, 60, 1, NULL), 0);
    /* the clock goes back: no refill for the time "before" */
    long wait = 0;
    CU_ASSERT_EQUAL(pop3_logindelay_take("dave", 6000, 60, 1, &wait), 0);
    CU_ASSERT_EQUAL(wait, 60);
    CU_ASSERT_EQUAL(pop3_logindelay_take("dave", 6060, 60, 1, NULL), 1);
    free(path);
    free(dir);

    /* a userid that cannot be a file name */
    CU_ASSERT_EQUAL(pop3_logindelay_take("../x", 1, 60, 1, NULL), CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL(pop3_logindelay_take("", 1, 60, 1, NULL), CYRERR_INVALID_USER);
}

static void test_delay_domains(void)
{
    /* virtual domains: records of same local part in two domains differ */
    CU_ASSERT_EQUAL(pop3_logindelay_take("eve@example.org", 100, 60, 1, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("eve@example.net", 100, 60, 1, NULL), 1);
    CU_ASSERT_EQUAL(pop3_logindelay_take("eve@example.org", 101, 60, 1, NULL), 0);
    char *path = xasprintf("%s/domain/e/example.org/user/e/eve.pop3", confdir);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    free(path);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("pop3_send", NULL, NULL);
    ADD_TEST(s, test_send_plain);
    ADD_TEST(s, test_send_dot_stuffing);
    ADD_TEST(s, test_send_line_endings);
    ADD_TEST(s, test_send_top);
    ADD_TEST(s, test_send_large);
    ADD_TEST(s, test_send_read_error);

    s = harness_suite("pop3_logindelay", delay_init, delay_cleanup);
    ADD_TEST(s, test_delay_minpoll);
    ADD_TEST(s, test_delay_padding);
    ADD_TEST(s, test_delay_bad_record_and_clock);
    ADD_TEST(s, test_delay_domains);
}
