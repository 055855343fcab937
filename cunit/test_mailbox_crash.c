/* The crash test of imap/store/mailbox: a child appends (and now and then
 * changes flags, expunges and cleans up) in a loop, beside a helper that
 * appends too (so that they meet in the append queue), and both are killed
 * with SIGKILL after a random 0-20 ms (the helper up to 5 ms later), 100
 * times.  After every kill: every
 * acknowledged UID is there with the right content, every acknowledged
 * expunge holds, every record points to a complete message file and an
 * intact cache record, and reconstruct finds nothing to fix. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"

#define KILLS 100

enum { EV_APPEND = 1, EV_EXPUNGE = 2, EV_EXPUNGE_INTENT = 3 };

struct event {
    uint32_t type;
    uint32_t uid;
    uint32_t round;
    uint32_t n;
};

/* Message `n` of round `round`: sizes vary from a few bytes to ~9 KiB so
 * that writes cross pages. */
static char *content(uint32_t round, uint32_t n, size_t *lenp)
{
    struct buf b = BUF_INITIALIZER;
    buf_printf(&b, "From: crash@example.org\r\nSubject: round %u message %u\r\n\r\n", round, n);
    unsigned lines = (round * 31 + n * 17) % 150;
    for (unsigned i = 0; i < lines; i++)
        buf_printf(&b, "line %u of message %u/%u: the quick brown fox\r\n", i, round, n);
    *lenp = buf_len(&b);
    return buf_release(&b);
}

/* A second appender in the same mailbox: one message at a time, every
 * third with a keyword, so that the two meet in the queue (one-message
 * entries and full batches) and commit each other's messages. */
static void helper(const char *dir, uint32_t round, int wfd)
{
    struct mailbox *mb;
    if (mailbox_open_dir(dir, &mb)) _exit(20);
    const char *kw[] = { "$Helper" };
    for (uint32_t n = 1000000;; n++) {
        struct mailbox_append_msg m;
        memset(&m, 0, sizeof(m));
        char *text = content(round, n, &m.len);
        m.data = text;
        if (n % 3 == 0) {
            m.keywords = kw;
            m.nkeywords = 1;
        }
        struct mailbox_append_result res;
        int r = mailbox_append(mb, &m, 1, 0, &res);
        free(text);
        if (r) _exit(21);
        struct event ev = { EV_APPEND, res.first_uid, round, n };
        if (write(wfd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev)) _exit(23);
    }
}

static void child(const char *dir, uint32_t round, int wfd)
{
    struct mailbox *mb;
    if (mailbox_open_dir(dir, &mb)) _exit(10);
    uint32_t n = 0;
    uint32_t mine[4096];
    size_t nmine = 0;
    for (unsigned step = 0;; step++) {
        if (step % 11 == 5 && nmine) {
            uint32_t uid = mine[(step * 7) % nmine];
            /* say so first: killed before the answer, it may or may not be gone */
            struct event intent = { EV_EXPUNGE_INTENT, uid, round, 0 };
            if (write(wfd, &intent, sizeof(intent)) != (ssize_t)sizeof(intent)) _exit(13);
            size_t ne = 0;
            if (mailbox_expunge(mb, &uid, 1, MAILBOX_EXPUNGE_ANY, NULL, NULL, &ne)) _exit(12);
            struct event ev = { EV_EXPUNGE, uid, round, 0 };
            if (ne && write(wfd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev)) _exit(13);
            continue;
        }
        if (step % 5 == 3 && nmine) {
            struct mailbox_flags fl;
            memset(&fl, 0, sizeof(fl));
            fl.system = step % 2 ? MAILBOX_FLAG_SEEN : MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_SEEN;
            if (mailbox_store(mb, mine, nmine, MAILBOX_STORE_REPLACE, &fl, 0, NULL, NULL, NULL))
                _exit(14);
            continue;
        }
        if (step % 23 == 22) {
            struct mailbox_cleanup_stats cs;
            mailbox_close(&mb);       /* cleanup needs no lock held: reopen */
            if (mailbox_open_dir(dir, &mb)) _exit(10);
            if (mailbox_cleanup(mb, MAILBOX_CLEANUP_COMPACT | MAILBOX_CLEANUP_FORCE, &cs)) _exit(15);
            continue;
        }
        /* a batch of 1 to 3 messages */
        size_t k = 1 + step % 3;
        struct mailbox_append_msg m[3];
        char *texts[3];
        memset(m, 0, sizeof(m));
        for (size_t i = 0; i < k; i++) {
            texts[i] = content(round, n + (uint32_t)i, &m[i].len);
            m[i].data = texts[i];
            m[i].system_flags = i == 1 ? MAILBOX_FLAG_DRAFT : 0;
        }
        struct mailbox_append_result res;
        int r = mailbox_append(mb, m, k, 0, &res);
        for (size_t i = 0; i < k; i++) free(texts[i]);
        if (r) _exit(11);
        for (size_t i = 0; i < k; i++) {
            struct event ev = { EV_APPEND, res.first_uid + (uint32_t)i, round, n + (uint32_t)i };
            if (write(wfd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev)) _exit(13);
            if (nmine < 4096) mine[nmine++] = ev.uid;
        }
        n += (uint32_t)k;
    }
}

struct acked {
    uint32_t uid, round, n;
    int expunged;             /* 1 maybe (intent seen), 2 acknowledged */
};

static int cmp_acked(const void *a, const void *b)
{
    uint32_t x = ((const struct acked *)a)->uid, y = ((const struct acked *)b)->uid;
    return x < y ? -1 : x > y;
}

/* Take one event into the list of acknowledged appends; returns its type. */
static uint32_t note(struct acked **ap, size_t *np, size_t *allocp, const struct event *ev,
                     uint32_t *expunges)
{
    struct acked *a = *ap;
    if (ev->type == EV_APPEND) {
        if (*np == *allocp) {
            *allocp *= 2;
            a = *ap = xreallocarray(a, *allocp, sizeof(*a));
        }
        a[(*np)++] = (struct acked){ ev->uid, ev->round, ev->n, 0 };
    } else {
        for (size_t i = 0; i < *np; i++)
            if (a[i].uid == ev->uid && a[i].expunged < 2)
                a[i].expunged = ev->type == EV_EXPUNGE ? 2 : 1;
        if (ev->type == EV_EXPUNGE) (*expunges)++;
    }
    return ev->type;
}

static void fix_printer(void *rock, const char *text)
{
    (void)rock;
    fprintf(stderr, "  unexpected fix: %s\n", text);
}

/* Every record: complete file matching size and SHA-1, readable cache. */
static int check_records(struct mailbox *mb)
{
    int bad = 0;
    struct buf path = BUF_INITIALIZER, cache = BUF_INITIALIZER;
    for (uint32_t i = 0; i < mailbox_num_records(mb); i++) {
        struct mailbox_record rec;
        if (mailbox_read_record(mb, i, &rec)) {
            bad++;
            continue;
        }
        if (rec.system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        mailbox_message_path(mb, rec.uid, &path);
        FILE *f = fopen(buf_cstring(&path), "r");
        if (!f) {
            bad++;
            continue;
        }
        char *data = xmalloc(rec.size + 1);
        size_t got = fread(data, 1, rec.size + 1, f);
        fclose(f);
        unsigned char g[20];
        unsigned int gl = 0;
        EVP_Digest(data, got, g, &gl, EVP_sha1(), NULL);
        if (got != rec.size || memcmp(g, rec.guid, 20)) bad++;
        free(data);
        if (mailbox_read_cache(mb, &rec, &cache)) bad++;
    }
    buf_free(&path);
    buf_free(&cache);
    return bad;
}

static void test_crash_kill_loop(void)
{
    char *dir = xasprintf("%s/crash/user/crash", harness_tmpdir());
    CU_ASSERT_EQUAL_FATAL(mailbox_create_dir(dir, "user.crash", NULL, NULL), 0);
    size_t nacked = 0, alloc = 1024;
    struct acked *acked = xmalloc(alloc * sizeof(*acked));
    unsigned seed = 20240601;
    int total_bad = 0, kills = 0;
    uint32_t expunges = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (uint32_t round = 0; round < KILLS; round++) {
        int pfd[2];
        CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, round, pfd[1]);
            _exit(0);
        }
        pid_t hpid = fork();
        CU_ASSERT_FATAL(hpid >= 0);
        if (hpid == 0) {
            close(pfd[0]);
            helper(dir, round, pfd[1]);
            _exit(0);
        }
        close(pfd[1]);
        /* every tenth round waits for a first acknowledgement, so that the
         * test always gets somewhere however slow the disk is today */
        struct event ev;
        int got_first = 0;
        if (round % 10 == 0) {
            while (!got_first && read(pfd[0], &ev, sizeof(ev)) == (ssize_t)sizeof(ev))
                got_first = note(&acked, &nacked, &alloc, &ev, &expunges) == EV_APPEND;
        }
        long delay_us = (long)(rand_r(&seed) % 20001);
        struct timespec d = { 0, delay_us * 1000 };
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        /* the helper lives on a little, or dies first */
        struct timespec hd = { 0, (long)(rand_r(&seed) % 5001) * 1000 };
        nanosleep(&hd, NULL);
        kill(hpid, SIGKILL);
        int status;
        CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status)) {
            fprintf(stderr, "  child exited with %d in round %u\n", WEXITSTATUS(status), round);
            total_bad++;
        } else {
            kills++;
        }
        CU_ASSERT_EQUAL(waitpid(hpid, &status, 0), hpid);
        if (WIFEXITED(status)) {
            fprintf(stderr, "  helper exited with %d in round %u\n", WEXITSTATUS(status), round);
            total_bad++;
        }
        while (read(pfd[0], &ev, sizeof(ev)) == (ssize_t)sizeof(ev))
            note(&acked, &nacked, &alloc, &ev, &expunges);
        close(pfd[0]);
        qsort(acked, nacked, sizeof(*acked), cmp_acked);

        /* the survivor's view */
        struct mailbox *mb;
        int r = mailbox_open_dir(dir, &mb);
        CU_ASSERT_EQUAL_FATAL(r, 0);
        CU_ASSERT_EQUAL_FATAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
        int bad = check_records(mb);
        for (size_t i = 0; i < nacked; i++) {
            struct mailbox_record rec;
            r = mailbox_find_uid(mb, acked[i].uid, &rec);
            if (acked[i].expunged == 2) {
                if (r == 0 && !(rec.system_flags & MAILBOX_FLAG_EXPUNGED)) bad++;
                continue;
            }
            if (acked[i].expunged == 1 && (r == CYRERR_NOTFOUND ||
                                           (r == 0 && (rec.system_flags & MAILBOX_FLAG_EXPUNGED))))
                continue;
            if (r || (rec.system_flags & MAILBOX_FLAG_EXPUNGED)) {
                fprintf(stderr, "  acknowledged uid %u missing (round %u)\n", acked[i].uid, round);
                bad++;
                continue;
            }
            size_t len;
            char *text = content(acked[i].round, acked[i].n, &len);
            unsigned char g[20];
            unsigned int gl = 0;
            EVP_Digest(text, len, g, &gl, EVP_sha1(), NULL);
            if (rec.size != len || memcmp(g, rec.guid, 20)) bad++;
            free(text);
        }
        mailbox_unlock(mb);
        mailbox_close(&mb);
        unsigned nfixes = 0;
        CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, MAILBOX_RECONSTRUCT_DRYRUN, fix_printer,
                                            NULL, &nfixes), 0);
        if (bad || nfixes)
            fprintf(stderr, "  round %u (killed after %ld us): %d bad, %u fixes\n", round,
                    delay_us, bad, nfixes);
        total_bad += bad + (int)nfixes;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "  %d kills, %zu acknowledged appends, %u expunges, %.1f s\n", kills, nacked,
            expunges, secs);
    CU_ASSERT_EQUAL(total_bad, 0);
    CU_ASSERT_EQUAL(kills, KILLS);
    CU_ASSERT_TRUE(nacked >= KILLS / 10);

    /* what the dead left in the queue goes with the next append */
    struct mailbox *mb;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = "Subject: last\r\n\r\n";
    m.len = strlen(m.data);
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, NULL), 0);
    mailbox_close(&mb);
    char *q = xasprintf("%s/cyrus.queue", dir);
    DIR *d = opendir(q);
    int left = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                fprintf(stderr, "  left in queue: %s\n", de->d_name);
                left++;
            }
        closedir(d);
    }
    CU_ASSERT_EQUAL(left, 0);
    free(q);
    free(acked);
    free(dir);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("mailbox_crash", NULL, NULL);
    ADD_TEST(s, test_crash_kill_loop);
}
