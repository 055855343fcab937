/* Tests for lib/prot.c and lib/prot_literal.c over socketpairs: line reading
 * and its limits, getc/ungetc, timeouts, EOF, literals in memory and spilled
 * to disk, copying to a file, buffered writing, write errors, byte counters
 * and DEFLATE.  TLS is tested in test_tls.c. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "cunit/harness.h"
#include "buf.h"
#include "error.h"
#include "prot.h"
#include "xmalloc.h"

/* ---- helpers --------------------------------------------------------- */

static void make_pair(int sv[2])
{
    int r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    CU_ASSERT_FATAL(r == 0);
}

static void write_all(int fd, const void *data, size_t n)
{
    const char *s = data;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s) { write_all(fd, s, strlen(s)); }

/* A thread that writes a buffer to an fd, then closes it if asked. */
struct writer {
    pthread_t tid;
    int fd;
    const char *data;
    size_t len;
    int close_after;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    write_all(w->fd, w->data, w->len);
    if (w->close_after) close(w->fd);
    return NULL;
}

static void writer_start(struct writer *w, int fd, const void *data, size_t len,
                         int close_after)
{
    w->fd = fd;
    w->data = data;
    w->len = len;
    w->close_after = close_after;
    CU_ASSERT_FATAL(pthread_create(&w->tid, NULL, writer_main, w) == 0);
}

static void writer_join(struct writer *w) { pthread_join(w->tid, NULL); }

/* Deterministic test data: text-like (compressible) with some noise. */
static char *make_data(size_t n, unsigned seed)
{
    static const char *words[] = { "mailbox ", "FETCH ", "body ", "alice ",
                                   "INBOX.Sent ", "\r\n", "42 ", "flags " };
    char *d = xmalloc(n);
    unsigned x = seed;
    for (size_t i = 0; i < n;) {
        x = x * 1103515245u + 12345u;
        if ((x >> 16) % 5 == 0) {
            d[i++] = (char)(x >> 8);           /* noise, any byte value */
            continue;
        }
        const char *w = words[(x >> 20) % 8];
        for (; *w && i < n; w++) d[i++] = *w;
    }
    return d;
}

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int fd_readable_now(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    return poll(&pfd, 1, 0) > 0;
}

/* ---- lines ----------------------------------------------------------- */

static void readline_cases(size_t maxread)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    prot_set_maxread(p, maxread);
    struct buf line = BUF_INITIALIZER;

    /* 1000-byte line with no LF for a while, then the LF */
    char *longline = xmalloc(100001);
    memset(longline, 'x', 100000);
    longline[100000] = '\n';

    send_str(sv[1], "a1 NOOP\r\nbare lf\nabcde\nabcdef\nnext\r\n"
                    "abcd\r\nabcde\r\n");
    struct writer w;
    writer_start(&w, sv[1], longline, 100001, 0);

    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "a1 NOOP\r\n");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "bare lf\n");
    /* exactly maxlen bytes before the LF: accepted */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 5), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "abcde\n");
    /* one over: refused, the first maxlen bytes kept, the rest dropped */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 5), CYRERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "abcde");
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_TOOBIG);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 5), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "next\r\n");
    /* the CR counts */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 5), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "abcd\r\n");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 5), CYRERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "abcde");
    /* a line far beyond the buffer: bounded memory, then back in step */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), CYRERR_TOOBIG);
    CU_ASSERT_EQUAL(buf_len(&line), 1000);
    writer_join(&w);

    /* no LF before EOF */
    send_str(sv[1], "after\r\npartial");
    close(sv[1]);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "after\r\n");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), CYRERR_EOF);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "partial");
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_EOF);
    /* EOF is sticky */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), CYRERR_EOF);
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);

    buf_free(&line);
    free(longline);
    prot_free(&p);
    CU_ASSERT_PTR_NULL(p);
    close(sv[0]);
}

static void test_readline_limits(void) { readline_cases(0); }
static void test_readline_bytewise(void) { readline_cases(1); }
static void test_readline_small_reads(void) { readline_cases(3); }

static void test_getc_ungetc(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);

    /* pushback before anything was read */
    prot_ungetc(p, 'Z');
    CU_ASSERT_EQUAL(prot_getc(p), 'Z');

    const unsigned char data[] = { 'x', 'y', 0, 255, '\n' };
    write_all(sv[1], data, sizeof(data));
    close(sv[1]);
    CU_ASSERT_EQUAL(prot_getc(p), 'x');
    prot_ungetc(p, 'x');
    CU_ASSERT_EQUAL(prot_getc(p), 'x');
    CU_ASSERT_EQUAL(prot_getc(p), 'y');
    prot_ungetc(p, 'q');          /* pushback need not be the byte read */
    CU_ASSERT_EQUAL(prot_getc(p), 'q');
    CU_ASSERT_EQUAL(prot_getc(p), 0);
    CU_ASSERT_EQUAL(prot_getc(p), 255);
    prot_ungetc(p, 255);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 10), 0);
    CU_ASSERT_EQUAL(buf_len(&line), 2);
    CU_ASSERT_EQUAL((unsigned char)line.s[0], 255);
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_EOF);
    prot_ungetc(p, PROT_EOF);     /* no-op */
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    /* pushback still works after EOF */
    prot_ungetc(p, 'e');
    CU_ASSERT_EQUAL(prot_getc(p), 'e');
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
}

static void test_read(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    send_str(sv[1], "0123456789");
    close(sv[1]);
    char b[16];
    CU_ASSERT_EQUAL(prot_read(p, b, 4), 4);
    CU_ASSERT_EQUAL(memcmp(b, "0123", 4), 0);
    CU_ASSERT_EQUAL(prot_input_pending(p), 6);
    CU_ASSERT_EQUAL(prot_read(p, b, sizeof(b)), 6);
    CU_ASSERT_EQUAL(memcmp(b, "456789", 6), 0);
    CU_ASSERT_EQUAL(prot_input_pending(p), 0);
    CU_ASSERT_EQUAL(prot_read(p, b, sizeof(b)), 0);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_EOF);
    CU_ASSERT_EQUAL(prot_bytes_in(p), 10);
    CU_ASSERT_EQUAL(prot_wire_bytes_in(p), 10);
    prot_free(&p);
    close(sv[0]);
}

static void test_input_pending(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_input_pending(p), 0);
    send_str(sv[1], "a NOOP\r\nb NOOP\r\n");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    /* the second line sits in our buffer, not in the kernel */
    CU_ASSERT(prot_input_pending(p) > 0);
    CU_ASSERT(!fd_readable_now(sv[0]));
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "b NOOP\r\n");
    CU_ASSERT_EQUAL(prot_input_pending(p), 0);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* ---- timeouts and EOF --------------------------------------------------- */

static void test_timeout(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 1);
    struct buf line = BUF_INITIALIZER;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_str(sv[1], "half a li");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), CYRERR_TIMEOUT);
    double t = elapsed_since(&t0);
    CU_ASSERT(t >= 0.9 && t < 3.0);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_TIMEOUT);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "half a li");
    CU_ASSERT(strstr(prot_errstr(p), "1 seconds") != NULL);

    /* not sticky: the stream works when the peer wakes up */
    send_str(sv[1], "ne\r\n");
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "ne\r\n");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_TIMEOUT);
    t = elapsed_since(&t0);
    CU_ASSERT(t >= 0.9 && t < 3.0);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_literal_timeout_and_eof(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 1);
    struct prot_literal *lit = (struct prot_literal *)&lit;
    const char *dir = harness_tmpdir();

    /* a literal whose bytes stop coming: in memory, spilled, copied */
    send_str(sv[1], "0123456789");
    CU_ASSERT_EQUAL(prot_read_literal(p, 100, 1000, dir, &lit), CYRERR_TIMEOUT);
    CU_ASSERT_PTR_NULL(lit);
    send_str(sv[1], "0123456789");
    CU_ASSERT_EQUAL(prot_read_literal(p, 100, 10, dir, &lit), CYRERR_TIMEOUT);
    CU_ASSERT_PTR_NULL(lit);
    char *path = xasprintf("%s/copy-timeout", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    send_str(sv[1], "0123456789");
    CU_ASSERT_EQUAL(prot_copy_to_fd(p, 100, fd), CYRERR_TIMEOUT);

    /* and one whose peer goes away */
    send_str(sv[1], "0123456789");
    close(sv[1]);
    CU_ASSERT_EQUAL(prot_read_literal(p, 100, 1000, dir, &lit), CYRERR_EOF);
    CU_ASSERT_PTR_NULL(lit);
    CU_ASSERT_EQUAL(prot_copy_to_fd(p, 5, fd), CYRERR_EOF);
    close(fd);
    unlink(path);
    free(path);
    prot_free(&p);
    close(sv[0]);
}

/* ---- literals ----------------------------------------------------------- */

static void test_literal_memory(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    char *data = make_data(5000, 1);
    data[10] = '\0';
    write_all(sv[1], data, 5000);
    send_str(sv[1], " after\r\n");

    struct prot_literal *lit = NULL;
    CU_ASSERT_EQUAL_FATAL(prot_read_literal(p, 5000, 5000, NULL, &lit), 0);
    CU_ASSERT(prot_literal_in_memory(lit));
    CU_ASSERT_EQUAL(prot_literal_fd(lit), -1);
    CU_ASSERT_EQUAL(prot_literal_len(lit), 5000);
    const char *base = prot_literal_base(lit);
    CU_ASSERT_EQUAL(memcmp(base, data, 5000), 0);
    CU_ASSERT_EQUAL(base[5000], '\0');
    char b[100];
    CU_ASSERT_EQUAL(prot_literal_pread(lit, b, 100, 4950), 50);
    CU_ASSERT_EQUAL(memcmp(b, data + 4950, 50), 0);
    CU_ASSERT_EQUAL(prot_literal_pread(lit, b, 100, 5000), 0);

    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), " after\r\n");

    /* an empty literal */
    prot_literal_free(&lit);
    CU_ASSERT_PTR_NULL(lit);
    CU_ASSERT_EQUAL(prot_read_literal(p, 0, 10, NULL, &lit), 0);
    CU_ASSERT_EQUAL(prot_literal_len(lit), 0);
    CU_ASSERT_STRING_EQUAL(prot_literal_base(lit), "");
    prot_literal_free(&lit);

    buf_free(&line);
    free(data);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_literal_spill(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    char *dir = xasprintf("%s/spill", harness_tmpdir());
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);

    const size_t n = 300000;
    char *data = make_data(n + 8, 2);
    memcpy(data + n, "tail\r\n", 6);
    struct writer w;
    writer_start(&w, sv[1], data, n + 6, 0);

    struct prot_literal *lit = NULL;
    CU_ASSERT_EQUAL_FATAL(prot_read_literal(p, n, 1000, dir, &lit), 0);
    writer_join(&w);
    CU_ASSERT(!prot_literal_in_memory(lit));
    CU_ASSERT(prot_literal_fd(lit) >= 0);
    CU_ASSERT_EQUAL(prot_literal_len(lit), n);
    /* the spill file has no name in the directory, even while in use */
    CU_ASSERT_EQUAL(count_entries(dir), 0);
    const char *base = prot_literal_base(lit);
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    CU_ASSERT_EQUAL(memcmp(base, data, n), 0);
    CU_ASSERT_PTR_EQUAL(prot_literal_base(lit), base);
    char b[64];
    CU_ASSERT_EQUAL(prot_literal_pread(lit, b, 64, 123456), 64);
    CU_ASSERT_EQUAL(memcmp(b, data + 123456, 64), 0);

    /* copy it out and compare */
    char *path = xasprintf("%s/../spill-copy", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(prot_literal_copy_to_fd(lit, fd), 0);
    struct stat st;
    CU_ASSERT(fstat(fd, &st) == 0 && (size_t)st.st_size == n);
    char *back = xmalloc(n);
    CU_ASSERT_EQUAL(pread(fd, back, n, 0), (ssize_t)n);
    CU_ASSERT_EQUAL(memcmp(back, data, n), 0);
    close(fd);
    unlink(path);
    prot_literal_free(&lit);
    CU_ASSERT_EQUAL(count_entries(dir), 0);

    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "tail\r\n");

    /* a spill directory that does not exist: CYRERR_IO, stream in step */
    char *nodir = xasprintf("%s/does-not-exist", dir);
    send_str(sv[1], "0123456789after\r\n");
    CU_ASSERT_EQUAL(prot_read_literal(p, 10, 5, nodir, &lit), CYRERR_IO);
    CU_ASSERT_PTR_NULL(lit);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "after\r\n");

    free(nodir);
    buf_free(&line);
    free(back);
    free(path);
    free(data);
    free(dir);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_copy_to_fd(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    const size_t n = 200000;
    char *data = make_data(n + 16, 3);
    memcpy(data + n, "x\r\n0123456789y\r\n", 16);
    struct writer w;
    writer_start(&w, sv[1], data, n + 16, 0);

    char *path = xasprintf("%s/copy", harness_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    /* a byte already buffered counts too */
    int c = prot_getc(p);
    CU_ASSERT_EQUAL(c, (unsigned char)data[0]);
    prot_ungetc(p, c);
    CU_ASSERT_EQUAL(prot_copy_to_fd(p, n, fd), 0);
    writer_join(&w);
    char *back = xmalloc(n + 1);
    CU_ASSERT_EQUAL(pread(fd, back, n + 1, 0), (ssize_t)n);
    CU_ASSERT_EQUAL(memcmp(back, data, n), 0);
    close(fd);

    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "x\r\n");

    /* a write error on the file: reported, and the bytes still consumed */
    fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(prot_copy_to_fd(p, 10, fd), CYRERR_IO);
    close(fd);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "y\r\n");
    CU_ASSERT_EQUAL(prot_copy_to_fd(p, 10, -1), CYRERR_BADARGS);

    unlink(path);
    free(path);
    free(back);
    free(data);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* ---- writing ----------------------------------------------------------- */

struct reader {
    pthread_t tid;
    int fd;
    size_t want;
    char *got;
    size_t len;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    r->got = xmalloc(r->want + 1);
    while (r->len < r->want) {
        ssize_t n = read(r->fd, r->got + r->len, r->want - r->len);
        if (n <= 0) break;
        r->len += (size_t)n;
    }
    return NULL;
}

static void test_write_buffered(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[1]);
    CU_ASSERT_EQUAL(prot_printf(p, "* %d EXISTS\r\n", 42), 0);
    CU_ASSERT_EQUAL(prot_puts(p, "a OK done\r\n"), 0);
    /* buffered: nothing on the wire until the flush */
    CU_ASSERT(!fd_readable_now(sv[0]));
    CU_ASSERT_EQUAL(prot_wire_bytes_out(p), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    char b[64];
    ssize_t n = read(sv[0], b, sizeof(b));
    CU_ASSERT_EQUAL(n, 24);
    CU_ASSERT_EQUAL(memcmp(b, "* 42 EXISTS\r\na OK done\r\n", 24), 0);
    CU_ASSERT_EQUAL(prot_bytes_out(p), 24);
    CU_ASSERT_EQUAL(prot_wire_bytes_out(p), 24);
    CU_ASSERT_EQUAL(prot_flush(p), 0);   /* nothing to send is fine */
    CU_ASSERT(!fd_readable_now(sv[0]));

    /* a full buffer goes out without a flush */
    char *fill = make_data(PROT_BUFSIZE, 4);
    CU_ASSERT_EQUAL(prot_write(p, "<", 1), 0);
    CU_ASSERT_EQUAL(prot_write(p, fill, PROT_BUFSIZE - 1), 0);
    CU_ASSERT(fd_readable_now(sv[0]));
    CU_ASSERT_EQUAL(prot_wire_bytes_out(p), 24 + PROT_BUFSIZE);

    /* mixed small and large writes and long printf output keep order */
    struct reader r = { .fd = sv[0], .want = PROT_BUFSIZE + 3 + 1000000 + 100001 + 2 };
    CU_ASSERT_FATAL(pthread_create(&r.tid, NULL, reader_main, &r) == 0);
    char *big = make_data(1000000, 5);
    char *longstr = xmalloc(100001);
    memset(longstr, 'L', 100000);
    longstr[100000] = '\0';
    CU_ASSERT_EQUAL(prot_write(p, "abc", 3), 0);
    CU_ASSERT_EQUAL(prot_write(p, big, 1000000), 0);
    CU_ASSERT_EQUAL(prot_printf(p, "%s!\r\n", longstr), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    pthread_join(r.tid, NULL);
    CU_ASSERT_EQUAL_FATAL(r.len, r.want);
    CU_ASSERT_EQUAL(r.got[0], '<');
    CU_ASSERT_EQUAL(memcmp(r.got + 1, fill, PROT_BUFSIZE - 1), 0);
    const char *s = r.got + PROT_BUFSIZE;
    CU_ASSERT_EQUAL(memcmp(s, "abc", 3), 0);
    CU_ASSERT_EQUAL(memcmp(s + 3, big, 1000000), 0);
    CU_ASSERT_EQUAL(memcmp(s + 1000003, longstr, 100000), 0);
    CU_ASSERT_EQUAL(memcmp(s + 1100003, "!\r\n", 3), 0);
    uint64_t total = 24 + r.want;
    CU_ASSERT_EQUAL(prot_bytes_out(p), total);
    CU_ASSERT_EQUAL(prot_wire_bytes_out(p), total);

    free(r.got);
    free(big);
    free(longstr);
    free(fill);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_write_peer_closed(void)
{
    /* No SIGPIPE handler here on purpose: a SIGPIPE would kill the test. */
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[1]);
    close(sv[0]);
    char *big = make_data(200000, 6);
    int r = prot_write(p, big, 200000);
    if (r == 0) r = prot_flush(p);
    CU_ASSERT_EQUAL(r, CYRERR_IO);
    CU_ASSERT(strstr(prot_errstr(p), "pipe") || strstr(prot_errstr(p), "reset"));
    /* sticky */
    CU_ASSERT_EQUAL(prot_printf(p, "x\r\n"), CYRERR_IO);
    CU_ASSERT_EQUAL(prot_flush(p), CYRERR_IO);
    /* reading a closed peer is EOF */
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_EOF);
    free(big);
    prot_free(&p);
    close(sv[1]);
}

static void test_write_timeout(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[1]);
    prot_set_timeout(p, 1);
    char *big = make_data(1 << 20, 7);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = 0;
    for (int i = 0; i < 64 && !r; i++) r = prot_write(p, big, 1 << 20);
    if (!r) r = prot_flush(p);
    CU_ASSERT_EQUAL(r, CYRERR_TIMEOUT);
    double t = elapsed_since(&t0);
    CU_ASSERT(t >= 0.9 && t < 3.0);
    CU_ASSERT_EQUAL(prot_flush(p), CYRERR_TIMEOUT);
    free(big);
    prot_set_timeout(p, 1);
    prot_free(&p);      /* must not hang: the write error is sticky */
    close(sv[0]);
    close(sv[1]);
}

/* A descriptor that is not a socket falls back to write(). */
static void test_pipe(void)
{
    int pfd[2];
    CU_ASSERT_FATAL(pipe(pfd) == 0);
    struct prot *w = prot_new(pfd[1]);
    struct prot *r = prot_new(pfd[0]);
    CU_ASSERT_EQUAL(prot_printf(w, "over a pipe %s\r\n", "ok"), 0);
    CU_ASSERT_EQUAL(prot_flush(w), 0);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(r, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "over a pipe ok\r\n");
    buf_free(&line);
    prot_free(&w);
    prot_free(&r);
    close(pfd[0]);
    close(pfd[1]);
}

/* ---- DEFLATE ------------------------------------------------------------ */

/* Raw-deflate data the way a peer would, with a sync flush at the end. */
static void zcompress(struct buf *out, const void *data, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    CU_ASSERT_FATAL(deflateInit2(&z, 9, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    unsigned char chunk[16384];
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        deflate(&z, Z_SYNC_FLUSH);
        buf_appendmap(out, chunk, sizeof(chunk) - z.avail_out);
    } while (z.avail_out == 0);
    deflateEnd(&z);
}

static void test_deflate_wire_format(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[1]);
    CU_ASSERT_EQUAL(prot_puts(p, "a OK DEFLATE active\r\n"), 0);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    CU_ASSERT(prot_is_deflate(p));
    CU_ASSERT_EQUAL(prot_start_deflate(p), CYRERR_BADARGS);
    /* the OK went out uncompressed, before anything else */
    char b[4096];
    ssize_t n = read(sv[0], b, sizeof(b));
    CU_ASSERT_EQUAL(n, 21);
    CU_ASSERT_EQUAL(memcmp(b, "a OK DEFLATE active\r\n", 21), 0);

    const char *text = "* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (FLAGS (\\Seen))\r\n";
    CU_ASSERT_EQUAL(prot_puts(p, text), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    n = read(sv[0], b, sizeof(b));
    CU_ASSERT_FATAL(n > 4);
    /* Z_SYNC_FLUSH ends with an empty stored block */
    CU_ASSERT_EQUAL(memcmp(b + n - 4, "\x00\x00\xff\xff", 4), 0);
    CU_ASSERT(n < (ssize_t)strlen(text));
    /* and all of it decodes now, with an independent raw inflater */
    z_stream z;
    memset(&z, 0, sizeof(z));
    CU_ASSERT_FATAL(inflateInit2(&z, -15) == Z_OK);
    char out[4096];
    z.next_in = (Bytef *)b;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = sizeof(out);
    CU_ASSERT_EQUAL(inflate(&z, Z_SYNC_FLUSH), Z_OK);
    CU_ASSERT_EQUAL(sizeof(out) - z.avail_out, strlen(text));
    CU_ASSERT_EQUAL(memcmp(out, text, strlen(text)), 0);
    inflateEnd(&z);
    CU_ASSERT_EQUAL(prot_bytes_out(p), 21 + strlen(text));
    CU_ASSERT_EQUAL(prot_wire_bytes_out(p), 21 + (size_t)n);
    /* an empty flush sends nothing */
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    CU_ASSERT(!fd_readable_now(sv[0]));
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* A client reads the OK and the first compressed bytes in one read. */
static void test_deflate_leftover_is_compressed(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    struct buf wire = BUF_INITIALIZER, line = BUF_INITIALIZER;
    buf_appendcstr(&wire, "a OK DEFLATE active\r\n");
    zcompress(&wire, "* BYE compressed\r\n", 18);
    write_all(sv[1], buf_base(&wire), buf_len(&wire));
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "a OK DEFLATE active\r\n");
    CU_ASSERT(prot_input_pending(p) > 0);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    CU_ASSERT(prot_input_pending(p) > 0);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "* BYE compressed\r\n");
    CU_ASSERT_EQUAL(prot_bytes_in(p), 21 + 18);
    CU_ASSERT_EQUAL(prot_wire_bytes_in(p), buf_len(&wire));
    buf_free(&wire);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* Input that inflates beyond the buffer stays inside zlib, not the kernel. */
static void test_deflate_pending(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    const size_t n = 100000;
    char *data = xmalloc(n);
    memset(data, 'x', n - 2);
    memcpy(data + n - 2, "\r\n", 2);
    struct buf wire = BUF_INITIALIZER;
    zcompress(&wire, data, n);
    CU_ASSERT(buf_len(&wire) < 1000);
    write_all(sv[1], buf_base(&wire), buf_len(&wire));

    char *got = xmalloc(n);
    ssize_t r = prot_read(p, got, n);
    CU_ASSERT(r > 0 && r < (ssize_t)n);
    CU_ASSERT(!fd_readable_now(sv[0]));
    CU_ASSERT(prot_input_pending(p) > 0);
    size_t have = r > 0 ? (size_t)r : 0;
    while (have < n && prot_input_pending(p) > 0) {
        r = prot_read(p, got + have, n - have);
        if (r <= 0) break;
        have += (size_t)r;
    }
    CU_ASSERT_EQUAL(have, n);
    CU_ASSERT_EQUAL(memcmp(got, data, n), 0);
    CU_ASSERT_EQUAL(prot_input_pending(p), 0);
    free(got);
    free(data);
    buf_free(&wire);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* 16 MB of zeros compress to a few KB: reading them must not grow memory;
 * the line reader drops them and stays in step. */
static void test_deflate_bomb(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    const size_t n = 16 << 20;
    char *zeros = xzmalloc(n + 8);
    memcpy(zeros + n, "\nnext\r\n", 7);
    struct buf wire = BUF_INITIALIZER;
    zcompress(&wire, zeros, n + 7);
    free(zeros);
    CU_ASSERT(buf_len(&wire) < 64 * 1024);
    struct writer w;
    writer_start(&w, sv[1], buf_base(&wire), buf_len(&wire), 0);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), CYRERR_TOOBIG);
    CU_ASSERT_EQUAL(buf_len(&line), 1000);
    CU_ASSERT(line.alloc < 64 * 1024);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "next\r\n");
    CU_ASSERT_EQUAL(prot_bytes_in(p), n + 7);
    writer_join(&w);
    buf_free(&line);
    buf_free(&wire);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_deflate_corrupt(void)
{
    int sv[2];
    make_pair(sv);
    struct prot *p = prot_new(sv[0]);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    /* BTYPE 11 is reserved: invalid deflate data */
    write_all(sv[1], "\xff\xff\xff\xff garbage", 12);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), CYRERR_IO);
    CU_ASSERT(strstr(prot_errstr(p), "DEFLATE") != NULL);
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_IO);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

/* Both ends prot, compressing: several MB each way, read in odd pieces. */
struct bulk_peer {
    pthread_t tid;
    int fd;
    const char *data;
    size_t n;
    size_t maxread;
    int ok;
};

static int read_expect(struct prot *p, const char *data, size_t n)
{
    char *b = xmalloc(7777);
    size_t have = 0;
    int ok = 1;
    while (have < n) {
        size_t want = n - have < 7777 ? n - have : 7777;
        ssize_t r = prot_read(p, b, want);
        if (r <= 0 || memcmp(b, data + have, (size_t)r)) {
            ok = 0;
            break;
        }
        have += (size_t)r;
    }
    free(b);
    return ok;
}

static void *bulk_client(void *arg)
{
    struct bulk_peer *bp = arg;
    struct prot *p = prot_new(bp->fd);
    prot_set_timeout(p, 20);
    prot_set_maxread(p, bp->maxread);
    int ok = prot_start_deflate(p) == 0;
    /* send in uneven pieces, with flushes in between */
    for (size_t off = 0; ok && off < bp->n;) {
        size_t len = (off * 7 + 1000) % 300000 + 1;
        if (len > bp->n - off) len = bp->n - off;
        ok = prot_write(p, bp->data + off, len) == 0;
        if (ok && (off & 1)) ok = prot_flush(p) == 0;
        off += len;
    }
    if (ok) ok = prot_flush(p) == 0;
    if (ok) ok = read_expect(p, bp->data, bp->n);
    bp->ok = ok;
    prot_free(&p);
    return NULL;
}

static void test_deflate_bulk(void)
{
    int sv[2];
    make_pair(sv);
    const size_t n = 3 << 20;
    char *data = make_data(n, 8);
    struct bulk_peer bp = { .fd = sv[1], .data = data, .n = n };
    CU_ASSERT_FATAL(pthread_create(&bp.tid, NULL, bulk_client, &bp) == 0);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    CU_ASSERT(read_expect(p, data, n));
    CU_ASSERT_EQUAL(prot_write(p, data, n), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    pthread_join(bp.tid, NULL);
    CU_ASSERT(bp.ok);
    CU_ASSERT_EQUAL(prot_bytes_in(p), n);
    CU_ASSERT_EQUAL(prot_bytes_out(p), n);
    /* compression really happened */
    CU_ASSERT(prot_wire_bytes_out(p) < n / 2);
    CU_ASSERT(prot_wire_bytes_in(p) < n / 2);
    prot_free(&p);
    free(data);
    close(sv[0]);
    close(sv[1]);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("prot", NULL, NULL);
    ADD_TEST(s, test_readline_limits);
    ADD_TEST(s, test_readline_bytewise);
    ADD_TEST(s, test_readline_small_reads);
    ADD_TEST(s, test_getc_ungetc);
    ADD_TEST(s, test_read);
    ADD_TEST(s, test_input_pending);
    ADD_TEST(s, test_timeout);
    ADD_TEST(s, test_literal_timeout_and_eof);
    ADD_TEST(s, test_literal_memory);
    ADD_TEST(s, test_literal_spill);
    ADD_TEST(s, test_copy_to_fd);
    ADD_TEST(s, test_write_buffered);
    ADD_TEST(s, test_write_peer_closed);
    ADD_TEST(s, test_write_timeout);
    ADD_TEST(s, test_pipe);
    ADD_TEST(s, test_deflate_wire_format);
    ADD_TEST(s, test_deflate_leftover_is_compressed);
    ADD_TEST(s, test_deflate_pending);
    ADD_TEST(s, test_deflate_bomb);
    ADD_TEST(s, test_deflate_corrupt);
    ADD_TEST(s, test_deflate_bulk);
}
