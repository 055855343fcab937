/* Tests for imap/store/mailbox with several processes at once: writers
 * and a reader, group commit, the shared commit of staged batches, and an
 * appender that dies while staged.  Helpers: mailbox_fixture.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cunit/mailbox_fixture.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
#include "imap/store/msgcache.h"
#include "imap/store/quota.h"

/* ---- concurrency ------------------------------------------------------------------------ */

/* A child: `n` single appends, expunging every third of its own. */
static void writer_child(const char *dir, int id, int n, int wfd)
{
    struct mailbox *mb;
    if (mailbox_open_dir(dir, &mb)) _exit(10);
    uint32_t mine[400];
    int k = 0;
    for (int i = 0; i < n; i++) {
        char *text = mbfix_msg(id * 10000 + i);
        struct mailbox_append_msg m;
        memset(&m, 0, sizeof(m));
        m.data = text;
        m.len = strlen(text);
        struct mailbox_append_result res;
        int r = mailbox_append(mb, &m, 1, 0, &res);
        free(text);
        if (r) _exit(11);
        mine[k++] = res.first_uid;
        uint32_t rec[2] = { res.first_uid, 0 };
        if (i % 3 == 2) {
            size_t ne = 0;
            if (mailbox_expunge(mb, &mine[k - 2], 1, MAILBOX_EXPUNGE_ANY, NULL, NULL, &ne) || ne != 1)
                _exit(12);
            rec[1] = mine[k - 2];
        }
        if (write(wfd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) _exit(13);
    }
    mailbox_close(&mb);
    _exit(0);
}

static void test_concurrent_writers_and_reader(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mailbox_close(&mb);
    int pfd[2];
    CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
    const int per = 60;
    pid_t kids[2];
    for (int c = 0; c < 2; c++) {
        kids[c] = fork();
        CU_ASSERT_FATAL(kids[c] >= 0);
        if (kids[c] == 0) {
            close(pfd[0]);
            writer_child(dir, c + 1, per, pfd[1]);
        }
    }
    close(pfd[1]);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_view *v;
    CU_ASSERT_EQUAL_FATAL(mailbox_view_open(mb, &v), 0);
    /* the third process reads while they write */
    int done = 0, bad = 0;
    uint32_t reported_expunged = 0;
    uint32_t seen_max = 0;
    while (!done) {
        struct mailbox_view_changes ch;
        if (mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, &ch)) {
            bad++;
            break;
        }
        reported_expunged += (uint32_t)ch.nexpunged;
        for (size_t i = 1; i < ch.nexpunged; i++)
            if (ch.expunged_seqs[i] >= ch.expunged_seqs[i - 1]) bad++;
        mailbox_view_changes_free(&ch);
        for (uint32_t s = 1; s <= mailbox_view_count(v); s++) {
            const struct mailbox_view_msg *m = mailbox_view_msg(v, s);
            if (s > 1 && m->uid <= mailbox_view_msg(v, s - 1)->uid) bad++;
            if (m->uid > seen_max) seen_max = m->uid;
        }
        int status;
        done = 1;
        for (int c = 0; c < 2; c++)
            if (kids[c] > 0 && waitpid(kids[c], &status, WNOHANG) == kids[c]) {
                CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                kids[c] = 0;
            }
        for (int c = 0; c < 2; c++)
            if (kids[c]) done = 0;
        usleep(2000);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* every acknowledged append is there, every acknowledged expunge gone */
    uint32_t rec[2];
    int napp = 0, nexp = 0;
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    while (read(pfd[0], rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        struct mailbox_record r;
        CU_ASSERT_EQUAL(mailbox_find_uid(mb, rec[0], &r), 0);
        napp++;
        if (rec[1]) {
            nexp++;
            CU_ASSERT_EQUAL(mailbox_find_uid(mb, rec[1], &r), 0);
            CU_ASSERT_TRUE(r.system_flags & MAILBOX_FLAG_EXPUNGED);
        }
    }
    struct mailbox_status st;
    mailbox_status(mb, &st);
    mailbox_unlock(mb);
    close(pfd[0]);
    CU_ASSERT_EQUAL(napp, 2 * per);
    CU_ASSERT_EQUAL(st.exists, (uint32_t)(napp - nexp));
    CU_ASSERT_EQUAL(st.uidnext, (uint32_t)napp + 1);
    /* the view agrees with a fresh one */
    CU_ASSERT_EQUAL(mailbox_view_update(v, MAILBOX_VIEW_EXPUNGE, NULL), 0);
    struct mailbox_view *fresh;
    CU_ASSERT_EQUAL_FATAL(mailbox_view_open(mb, &fresh), 0);
    CU_ASSERT_EQUAL(mailbox_view_count(v), mailbox_view_count(fresh));
    for (uint32_t s = 1; s <= mailbox_view_count(fresh) && s <= mailbox_view_count(v); s++) {
        const struct mailbox_view_msg *a = mailbox_view_msg(v, s), *b = mailbox_view_msg(fresh, s);
        CU_ASSERT_EQUAL(a->uid, b->uid);
        CU_ASSERT_EQUAL(a->modseq, b->modseq);
    }
    mailbox_view_free(&fresh);
    mailbox_view_free(&v);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* Several processes appending single messages at once: all get distinct
 * UIDs, and batches are committed together (fewer MODSEQs than messages
 * when they overlap: logged, since timing decides). */
static void test_group_commit(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mailbox_close(&mb);
    const int kids = 4, per = 25;
    pid_t pids[4];
    for (int c = 0; c < kids; c++) {
        pids[c] = fork();
        CU_ASSERT_FATAL(pids[c] >= 0);
        if (pids[c] == 0) {
            struct mailbox *m;
            if (mailbox_open_dir(dir, &m)) _exit(10);
            for (int i = 0; i < per; i++)
                if (mbfix_add(m, c * 1000 + i, 0) == 0) _exit(11);
            mailbox_close(&m);
            _exit(0);
        }
    }
    for (int c = 0; c < kids; c++) {
        int status;
        CU_ASSERT_EQUAL(waitpid(pids[c], &status, 0), pids[c]);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, (uint32_t)(kids * per));
    CU_ASSERT_EQUAL(st.uidnext, (uint32_t)(kids * per) + 1);
    fprintf(stderr, "  %d messages in %llu transactions\n", kids * per,
            (unsigned long long)(st.highestmodseq - 1));
    CU_ASSERT_TRUE(st.highestmodseq - 1 <= (uint64_t)(kids * per));
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* Published batches in the queue (q. and m. entries). */
static int queued_batches(const char *dir)
{
    char *q = xasprintf("%s/%s", dir, MBX_QUEUE_DIR);
    DIR *d = opendir(q);
    free(q);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if ((de->d_name[0] == 'q' || de->d_name[0] == 'm') && de->d_name[1] == '.') n++;
    closedir(d);
    return n;
}

/* A child of test_shared_commit: `per` appends (child 0 two messages a
 * call, child 1 with a keyword, the others one plain message), each
 * acknowledged UID reported as {uid, pid}. */
static void shared_commit_child(const char *dir, int id, int per, int wfd, int gofd)
{
    struct mailbox *mb;
    if (mailbox_open_dir(dir, &mb)) _exit(10);
    char c = 'r';
    if (write(wfd, &c, 1) != 1) _exit(9);   /* ready */
    if (read(gofd, &c, 1) < 0) _exit(9);    /* EOF: the parent holds the lock */
    close(gofd);
    for (int i = 0; i < per; i++) {
        size_t n = id == 0 ? 2 : 1;
        char *texts[2];
        struct mailbox_append_msg m[2];
        memset(m, 0, sizeof(m));
        const char *kw[1] = { "$Shared" };
        for (size_t k = 0; k < n; k++) {
            texts[k] = mbfix_msg(id * 10000 + i * 2 + (int)k);
            m[k].data = texts[k];
            m[k].len = strlen(texts[k]);
            if (id == 1) {
                m[k].keywords = kw;
                m[k].nkeywords = 1;
            }
        }
        struct mailbox_append_result res;
        int r = mailbox_append(mb, m, n, 0, &res);
        for (size_t k = 0; k < n; k++) free(texts[k]);
        if (r || res.last_uid - res.first_uid + 1 != n) _exit(11);
        for (uint32_t u = res.first_uid; u <= res.last_uid; u++) {
            uint32_t rec[2] = { u, (uint32_t)getpid() };
            if (write(wfd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) _exit(12);
        }
    }
    mailbox_close(&mb);
    _exit(0);
}

/* Appenders that find the lock taken stage their batches, and one commit
 * carries all of them (the shared-commit path, one-message entries and
 * described batches mixed); then they go on appending side by side.
 * Every acknowledged UID is there once, written by the process told so. */
static void test_shared_commit(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    enum { KIDS = 5, PER = 20 };
    int pfd[2], go[2];
    CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
    CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
    pid_t pids[KIDS];
    for (int c = 0; c < KIDS; c++) {
        pids[c] = fork();
        CU_ASSERT_FATAL(pids[c] >= 0);
        if (pids[c] == 0) {
            close(pfd[0]);
            close(go[1]);
            shared_commit_child(dir, c, PER, pfd[1], go[0]);
        }
    }
    close(pfd[1]);
    close(go[0]);
    for (int c = 0; c < KIDS; c++) {
        char ready;
        CU_ASSERT_EQUAL_FATAL(read(pfd[0], &ready, 1), 1);
    }
    /* hold the lock until every child has staged its first batch (the
     * children were forked before it was taken: a handle locked at fork
     * time would be one of theirs too) */
    CU_ASSERT_EQUAL_FATAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    close(go[1]);
    int staged = 0;
    for (int t = 0; t < 2000 && (staged = queued_batches(dir)) < KIDS; t++) usleep(5000);
    CU_ASSERT_EQUAL(staged, KIDS);
    mailbox_unlock(mb);

    uint32_t rec[2];
    int got = 0, dups = 0, wrong = 0;
    unsigned char seen[KIDS * PER * 2 + 2];
    memset(seen, 0, sizeof(seen));
    while (read(pfd[0], rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        got++;
        if (rec[0] < 2 || rec[0] >= sizeof(seen)) {
            wrong++;
            continue;
        }
        if (seen[rec[0]]++) dups++;
    }
    close(pfd[0]);
    for (int c = 0; c < KIDS; c++) {
        int status;
        CU_ASSERT_EQUAL(waitpid(pids[c], &status, 0), pids[c]);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const int total = (KIDS + 1) * PER;   /* child 0 appends two a call */
    CU_ASSERT_EQUAL(got, total);
    CU_ASSERT_EQUAL(dups, 0);
    CU_ASSERT_EQUAL(wrong, 0);

    /* every acknowledged UID has its record, written by that process;
     * the first commit after the lock was released carried every child's
     * batch: KIDS batches, KIDS + 1 records, one MODSEQ */
    CU_ASSERT_EQUAL_FATAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_status st;
    mailbox_status(mb, &st);
    CU_ASSERT_EQUAL(st.exists, (uint32_t)total + 1);
    CU_ASSERT_EQUAL(st.uidnext, (uint32_t)total + 2);
    int pid_match = 0;
    uint32_t first_modseq_count = 0;
    struct mailbox_record r0;
    CU_ASSERT_EQUAL_FATAL(mailbox_find_uid(mb, 2, &r0), 0);
    for (uint32_t u = 2; u < st.uidnext; u++) {
        struct mailbox_record r;
        CU_ASSERT_EQUAL_FATAL(mailbox_find_uid(mb, u, &r), 0);
        if (r.modseq == r0.modseq) first_modseq_count++;
        for (int c = 0; c < KIDS; c++)
            if ((pid_t)(r.append_id >> 32) == pids[c]) pid_match++;
    }
    mailbox_unlock(mb);
    CU_ASSERT_EQUAL(pid_match, total);
    CU_ASSERT_EQUAL(first_modseq_count, (uint32_t)KIDS + 1);
    fprintf(stderr, "  %d messages in %llu transactions\n", total,
            (unsigned long long)(st.highestmodseq - 2));
    CU_ASSERT_TRUE(st.highestmodseq - 2 < (uint64_t)(KIDS * PER));
    /* nothing is left in the queue */
    CU_ASSERT_EQUAL(queued_batches(dir), 0);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* A queued batch of a process that died is dropped, not committed. */
static void test_dead_appender(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) _exit(0);
    int status;
    waitpid(pid, &status, 0);
    char *q = xasprintf("%s/cyrus.queue/q.0000000000000001.%d.1", dir, (int)pid);
    char *s = xasprintf("%s/cyrus.queue/s.0000000000000001.%d.1.0", dir, (int)pid);
    FILE *f = fopen(q, "w");
    fputs("CYRQ0001 whatever", f);
    fclose(f);
    f = fopen(s, "w");
    fclose(f);
    CU_ASSERT_EQUAL(mbfix_add(mb, 2, 0), 2);
    struct stat st;
    CU_ASSERT_EQUAL(stat(q, &st), -1);
    CU_ASSERT_EQUAL(stat(s, &st), -1);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 2);
    mailbox_close(&mb);
    free(q);
    free(s);
    free(dir);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("mailbox_concurrency", NULL, NULL);
    ADD_TEST(s, test_concurrent_writers_and_reader);
    ADD_TEST(s, test_group_commit);
    ADD_TEST(s, test_shared_commit);
    ADD_TEST(s, test_dead_appender);
}
