/* bench_store: appending to one mailbox, measured against the disk.
 *
 *   bench_store -d dir [-n messages] [-s size] [-b batch] [-c appenders]
 *               [-t seconds] [-o opens]
 *
 * In `dir` (which should be on the disk under test) it measures, in this
 * order and in the same run:
 *   1. the disk: 4 KiB write + fdatasync of one file, and create + write
 *      (size bytes) + fsync + rename of new files, for -t/2 seconds, before,
 *      between and after the appender runs (each run is compared with the
 *      mean of the measurements around it);
 *   2. one appender appending one message per call, for -t seconds;
 *   3. -c processes appending one message per call each, for -t seconds
 *      (group commit: they share transactions when they collide);
 *   4. filling one mailbox with -n messages of -s bytes, -b per call;
 *   5. bytes of cyrus.index + cyrus.cache per message of that mailbox;
 *   6. opening that mailbox and reading the flags of all its messages
 *      (mailbox_open_dir + mailbox_view_open), -o times.
 * and prints the figures, the appenders' rates as a fraction of the
 * create+write+fsync+rename rate, and whether the targets are met
 * (one appender >= 0.5 of it, -c appenders together > 1.0 of it, open and
 * read all flags < 50 ms).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, r ? error_message(r) : strerror(errno));
    exit(1);
}

/* A message of about `size` bytes, different for every `n`. */
static char *message(unsigned long n, size_t size, size_t *lenp)
{
    struct buf b = BUF_INITIALIZER;
    buf_printf(&b, "Return-Path: <sender%lu@example.org>\r\n"
                   "From: Sender %lu <sender%lu@example.org>\r\n"
                   "To: Recipient <rcpt@example.com>\r\n"
                   "Subject: benchmark message %lu\r\n"
                   "Date: Tue, 10 Jun 2003 09:41:01 +0200\r\n"
                   "Message-ID: <%lu.bench@example.org>\r\n"
                   "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n\r\n", n, n, n, n, n);
    while (buf_len(&b) + 2 < size)
        buf_appendcstr(&b, "The quick brown fox jumps over the lazy dog. 0123456789\r\n");
    buf_truncate(&b, size > 2 ? size - 2 : size);
    buf_appendcstr(&b, "\r\n");
    *lenp = buf_len(&b);
    return buf_release(&b);
}

/* ---- the disk ------------------------------------------------------------ */

static double disk_write_fsync(const char *dir, double secs)
{
    char *p = xasprintf("%s/fsync.test", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die(p, 0);
    char buf[4096];
    memset(buf, 'x', sizeof(buf));
    long n = 0;
    double t0 = now(), t;
    do {
        if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fdatasync(fd) < 0)
            die("write+fsync", 0);
        n++;
    } while ((t = now() - t0) < secs);
    close(fd);
    unlink(p);
    free(p);
    return (double)n / t;
}

static double disk_create_rename(const char *dir, size_t size, double secs)
{
    char *d = xasprintf("%s/rename.test", dir);
    mkdir(d, 0700);
    char *buf = xmalloc(size);
    memset(buf, 'y', size);
    long n = 0;
    double t0 = now(), t;
    do {
        char tmp[64], fin[64];
        snprintf(tmp, sizeof(tmp), "tmp.%ld", n);
        snprintf(fin, sizeof(fin), "%ld.", n);
        char *pt = xasprintf("%s/%s", d, tmp), *pf = xasprintf("%s/%s", d, fin);
        int fd = open(pt, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || write(fd, buf, size) != (ssize_t)size || fsync(fd) < 0 || close(fd) < 0 ||
            rename(pt, pf) < 0)
            die("create+write+fsync+rename", 0);
        free(pt);
        free(pf);
        n++;
    } while ((t = now() - t0) < secs);
    for (long i = 0; i < n; i++) {
        char *pf = xasprintf("%s/%ld.", d, i);
        unlink(pf);
        free(pf);
    }
    rmdir(d);
    free(d);
    free(buf);
    return (double)n / t;
}

/* ---- appenders ------------------------------------------------------------ */

static long append_for(const char *mbdir, size_t size, double secs, unsigned long base)
{
    struct mailbox *mb;
    int r = mailbox_open_dir(mbdir, &mb);
    if (r) die(mbdir, r);
    long n = 0;
    double t0 = now();
    while (now() - t0 < secs) {
        struct mailbox_append_msg m;
        memset(&m, 0, sizeof(m));
        char *text = message(base + (unsigned long)n, size, &m.len);
        m.data = text;
        r = mailbox_append(mb, &m, 1, 0, NULL);
        free(text);
        if (r) die("append", r);
        n++;
    }
    mailbox_close(&mb);
    return n;
}

static char *new_mailbox(const char *dir, const char *leaf)
{
    char *p = xasprintf("%s/%s", dir, leaf);
    int r = mailbox_create_dir(p, "user.bench", NULL, NULL);
    if (r) die(p, r);
    return p;
}

static uint64_t transactions(const char *mbdir, uint32_t *exists)
{
    struct mailbox *mb;
    int r = mailbox_open_dir(mbdir, &mb);
    if (r) die(mbdir, r);
    struct mailbox_status st;
    r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) die("lock", r);
    mailbox_status(mb, &st);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    if (exists) *exists = st.exists;
    return st.highestmodseq - 1;
}

static double concurrent(const char *mbdir, int procs, size_t size, double secs,
                         double *per_commit)
{
    int go[2], res[2];
    if (pipe(go) < 0 || pipe(res) < 0) die("pipe", 0);
    pid_t *pids = xcalloc((size_t)procs, sizeof(*pids));
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0) die("fork", 0);
        if (pids[i] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) < 0) _exit(1);   /* EOF is the start signal */
            long n = append_for(mbdir, size, secs, (unsigned long)(i + 1) * 100000000UL);
            if (write(res[1], &n, sizeof(n)) != (ssize_t)sizeof(n)) _exit(1);
            _exit(0);
        }
    }
    close(go[0]);
    close(res[1]);
    double t0 = now();
    close(go[1]);   /* everyone starts */
    long total = 0, n;
    while (read(res[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) total += n;
    double t = now() - t0;
    for (int i = 0; i < procs; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) die("appender process failed", 0);
    }
    close(res[0]);
    free(pids);
    uint64_t txns = transactions(mbdir, NULL);
    *per_commit = txns ? (double)total / (double)txns : 0;
    return (double)total / t;
}

/* ---- open and read all flags -------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void open_and_read(const char *mbdir, int times, double *best, double *median,
                          uint32_t *count)
{
    double *ms = xcalloc((size_t)times, sizeof(double));
    for (int i = 0; i < times; i++) {
        double t0 = now();
        struct mailbox *mb;
        int r = mailbox_open_dir(mbdir, &mb);
        if (r) die("open", r);
        struct mailbox_view *v;
        r = mailbox_view_open(mb, &v);
        if (r) die("view", r);
        uint32_t seen = 0;
        for (uint32_t s = 1; s <= mailbox_view_count(v); s++)
            if (mailbox_view_msg(v, s)->system_flags & MAILBOX_FLAG_SEEN) seen++;
        *count = mailbox_view_count(v);
        ms[i] = (now() - t0) * 1000;
        mailbox_view_free(&v);
        mailbox_close(&mb);
        if (seen > *count) die("impossible", 0);
    }
    qsort(ms, (size_t)times, sizeof(double), cmp_double);
    *best = ms[0];
    *median = ms[times / 2];
    free(ms);
}

static off_t file_size(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    off_t s = stat(p, &st) == 0 ? st.st_size : 0;
    free(p);
    return s;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_store -d dir [-n messages] [-s size] [-b batch] "
                    "[-c appenders] [-t seconds] [-o opens]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long count = 100000, batch = 100;
    size_t size = 2048;
    int procs = 4, opens = 7, c;
    double secs = 3;
    while ((c = getopt(argc, argv, "d:n:s:b:c:t:o:")) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': count = atol(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        case 'b': batch = atol(optarg); break;
        case 'c': procs = atoi(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'o': opens = atoi(optarg); break;
        default: usage();
        }
    }
    if (!dir || count < 1 || batch < 1 || batch > MAILBOX_APPEND_MAX || size < 64 ||
        procs < 1 || procs > 64 || secs <= 0 || opens < 1)
        usage();

    printf("bench/store: %ld messages of %zu bytes in %s\n", count, size, dir);
    /* the disk's rates are measured between the appender runs and each run
     * is compared with the mean of the two measurements around it, so that
     * a busy machine skews both alike */
    double wf = disk_write_fsync(dir, secs / 2);
    double ref0 = disk_create_rename(dir, size, secs / 2);

    char *one = new_mailbox(dir, "single");
    long n1 = append_for(one, size, secs, 0);
    double r1 = (double)n1 / secs;
    double ref1 = disk_create_rename(dir, size, secs / 2);

    char *many = new_mailbox(dir, "concurrent");
    double per_commit;
    double rc = concurrent(many, procs, size, secs, &per_commit);
    double ref2 = disk_create_rename(dir, size, secs / 2);
    wf = (wf + disk_write_fsync(dir, secs / 2)) / 2;
    double cwr = (ref0 + ref1 + ref2) / 3;
    double q1 = r1 / ((ref0 + ref1) / 2), qc = rc / ((ref1 + ref2) / 2);

    printf("disk: 4 KiB write+fdatasync            %8.0f /s\n", wf);
    printf("disk: create+write+fsync+rename %5zu B %8.0f /s   (%.0f, %.0f, %.0f: the reference)\n",
           size, cwr, ref0, ref1, ref2);
    printf("1 appender, 1 message per append:       %8.0f msg/s = %.2f of the disk\n", r1, q1);
    printf("%d appenders, 1 message per append:      %8.0f msg/s = %.2f of the disk "
           "(%.1f messages per commit)\n", procs, rc, qc, per_commit);

    char *big = new_mailbox(dir, "fill");
    struct mailbox *mb;
    int r = mailbox_open_dir(big, &mb);
    if (r) die(big, r);
    struct mailbox_append_msg *msgs = xcalloc((size_t)batch, sizeof(*msgs));
    char **texts = xcalloc((size_t)batch, sizeof(*texts));
    double t0 = now();
    for (long done = 0; done < count;) {
        long k = count - done < batch ? count - done : batch;
        for (long i = 0; i < k; i++) {
            memset(&msgs[i], 0, sizeof(msgs[i]));
            texts[i] = message((unsigned long)(done + i), size, &msgs[i].len);
            msgs[i].data = texts[i];
            msgs[i].system_flags = (done + i) % 3 ? MAILBOX_FLAG_SEEN : 0;
        }
        r = mailbox_append(mb, msgs, (size_t)k, 0, NULL);
        for (long i = 0; i < k; i++) free(texts[i]);
        if (r) die("append", r);
        done += k;
    }
    double tf = now() - t0;
    mailbox_close(&mb);
    free(msgs);
    free(texts);
    printf("fill: %ld messages, %ld per append:   %8.0f msg/s (%.1f s)\n", count, batch,
           (double)count / tf, tf);

    off_t isz = file_size(big, "cyrus.index"), csz = file_size(big, "cyrus.cache");
    printf("index+cache: %.0f bytes per message (index %.0f, cache %.0f)\n",
           (double)(isz + csz) / (double)count, (double)isz / (double)count,
           (double)csz / (double)count);

    double best, median;
    uint32_t seen_count = 0;
    open_and_read(big, opens, &best, &median, &seen_count);
    printf("open + read all flags of %u messages:  best %.1f ms, median %.1f ms\n", seen_count,
           best, median);

    printf("targets: 1 appender >= 0.5 of the disk: %s; %d appenders > 1.0: %s; "
           "open+flags < 50 ms: %s\n", q1 >= 0.5 ? "met" : "NOT met", procs,
           qc > 1.0 ? "met" : "NOT met", median < 50 ? "met" : "NOT met");
    free(one);
    free(many);
    free(big);
    return 0;
}
