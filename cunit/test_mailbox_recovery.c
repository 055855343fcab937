/* Tests for imap/store/mailbox after things went wrong: recovery from a
 * dead writer, from a reboot and from a torn header; every I/O operation of
 * an append (direct and queued), a STORE, an EXPUNGE and a cleanup failing
 * in turn; and reconstruct on damaged mailboxes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cunit/mailbox_fixture.h"
#include "error.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
#include "imap/store/msgcache.h"
#include "imap/store/quota.h"

/* ---- recovery -------------------------------------------------------------------------- */

static void test_recover_dirty(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 4; i++) mbfix_add(mb, i, 0);
    /* a writer "dies" in the middle of a flag change: DIRTY header, one
     * record rewritten, counts not updated, garbage past the end */
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    struct mailbox_status st0;
    mailbox_status(mb, &st0);
    CU_ASSERT_EQUAL(mailbox_txn_begin(mb), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 2, &rec), 0);
    rec.system_flags |= MAILBOX_FLAG_SEEN;
    rec.modseq = st0.highestmodseq + 1;
    CU_ASSERT_EQUAL(mailbox_write_record(mb, &rec), 0);
    char junk[300];
    memset(junk, 0x5a, sizeof(junk));
    CU_ASSERT_EQUAL(pwrite(mb->indexfd, junk, sizeof(junk), MBX_HEADER_SIZE + 4 * MBX_RECORD_SIZE),
                    (ssize_t)sizeof(junk));
    CU_ASSERT_EQUAL(pwrite(mb->cachefd, junk, sizeof(junk), (off_t)mb->hdr.cache_size),
                    (ssize_t)sizeof(junk));
    mb->txn = 0;                 /* forget it, as a killed process would */
    mb->hdr = mb->txn_prev;
    mailbox_lock_raw(mb, MAILBOX_LOCK_NONE, 0);
    mb->lockmode = MAILBOX_LOCK_NONE;

    /* a reader repairs it */
    struct mailbox *r2;
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &r2), 0);
    struct mailbox_status st = mbfix_status(r2);
    CU_ASSERT_EQUAL(st.seen, 1);
    CU_ASSERT_EQUAL(st.highestmodseq, st0.highestmodseq + 1);
    CU_ASSERT_EQUAL(st.num_records, 4);
    struct stat fs;
    char *ipath = xasprintf("%s/cyrus.index", dir);
    CU_ASSERT_EQUAL(stat(ipath, &fs), 0);
    CU_ASSERT_EQUAL(fs.st_size, MBX_HEADER_SIZE + 4 * MBX_RECORD_SIZE);
    free(ipath);
    CU_ASSERT_EQUAL(mbfix_add(r2, 5, 0), 5);
    mailbox_close(&r2);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

static void test_recover_reboot(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    mbfix_add(mb, 2, 0);
    mailbox_close(&mb);
    /* a power cut left a message file that no record names, and temp files */
    char *stray = xasprintf("%s/9.", dir);
    char *tmp = xasprintf("%s/cyrus.index.NEW", dir);
    FILE *f = fopen(stray, "w");
    fputs("junk", f);
    fclose(f);
    f = fopen(tmp, "w");
    fclose(f);
    uint64_t real = mailbox_io_bootid();
    mailbox_io_set_bootid(real ^ 0x1234);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(stray, &st), -1);
    CU_ASSERT_EQUAL(stat(tmp, &st), -1);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 2);
    mailbox_close(&mb);
    mailbox_io_set_bootid(0);
    CU_ASSERT_EQUAL(mailbox_io_bootid(), real);
    free(stray);
    free(tmp);
    free(dir);
}

static void test_recover_torn_header(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    mbfix_add(mb, 2, 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    int slot = mb->slot;
    mailbox_unlock(mb);
    mailbox_close(&mb);
    char *ipath = xasprintf("%s/cyrus.index", dir);
    int fd = open(ipath, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    /* the current slot torn: the other (DIRTY, one transaction back) wins */
    char z[10];
    memset(z, 0xff, sizeof(z));
    CU_ASSERT_EQUAL(pwrite(fd, z, sizeof(z), slot * MBX_SLOT_SIZE + 40), (ssize_t)sizeof(z));
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 1);    /* the last append was not committed */
    CU_ASSERT_EQUAL(st.uidnext, 2);
    mailbox_close(&mb);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "2."));   /* its file is a stray now */
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    /* both slots gone: corrupt, until reconstruct */
    char big[MBX_HEADER_SIZE];
    memset(big, 0, sizeof(big));
    CU_ASSERT_EQUAL(pwrite(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
    close(fd);
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), CYRERR_CORRUPT);
    struct strarray fixes;
    strarray_init(&fixes);
    unsigned n = 0;
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, mbfix_collect_fix, &fixes, &n), 0);
    CU_ASSERT_TRUE(n >= 1);
    strarray_free(&fixes);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 1);
    CU_ASSERT_EQUAL(mbfix_add(mb, 3, 0), 2);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(ipath);
    free(dir);
}

/* A power cut during the one sync of an append: the header reached the
 * disk, the message file did not.  After the reboot the last transaction is
 * undone (its records are checked against their files); older ones stay. */
static void test_recover_power_cut(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    mbfix_add(mb, 2, 0);
    mailbox_close(&mb);
    /* what the disk kept: message 2 empty (its data never written) */
    char *p2 = xasprintf("%s/2.", dir);
    CU_ASSERT_EQUAL(truncate(p2, 0), 0);
    uint64_t real = mailbox_io_bootid();
    mailbox_io_set_bootid(real ^ 0x5555);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 1);
    CU_ASSERT_EQUAL(st.uidnext, 2);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "2."));
    CU_ASSERT_EQUAL(mbfix_add(mb, 3, 0), 2);
    mbfix_add(mb, 4, 0);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);

    /* the same with the cache record lost */
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 3, &rec), 0);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    char *pc = xasprintf("%s/cyrus.cache", dir);
    int fd = open(pc, O_RDWR);
    CU_ASSERT_EQUAL(pwrite(fd, "\0\0\0\0", 4, (off_t)rec.cache_offset), 4);
    close(fd);
    mailbox_io_set_bootid(real ^ 0x6666);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 2);      /* 1 and 2; 3 is the last: undone */
    CU_ASSERT_EQUAL(st.uidnext, 3);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);

    /* damage in an older transaction is not the reboot's business */
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    mbfix_add(mb, 5, 0);
    mailbox_close(&mb);
    char *p1 = xasprintf("%s/1.", dir);
    CU_ASSERT_EQUAL(truncate(p1, 3), 0);
    mailbox_io_set_bootid(real ^ 0x7777);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 3);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 1);
    mailbox_io_set_bootid(0);
    free(p1);
    free(p2);
    free(pc);
    free(dir);
}

/* ---- I/O faults ------------------------------------------------------------------------ */

/* Fail each I/O operation of an append, a store, an expunge and a cleanup in
 * turn: the call fails or succeeds as a whole, and the mailbox is always
 * consistent (reconstruct finds nothing). */
static void test_io_faults(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 3; i++) mbfix_add(mb, i, 0);
    long before = mailbox_io_ops();
    mbfix_add(mb, 4, 0);
    long per_append = mailbox_io_ops() - before;
    CU_ASSERT_TRUE(per_append >= 8);
    int failures = 0;
    for (long k = 1; k <= per_append + 3; k++) {
        struct mailbox_status st0 = mbfix_status(mb);
        char *text = mbfix_msg((int)(100 + k));
        struct mailbox_append_msg m;
        memset(&m, 0, sizeof(m));
        m.data = text;
        m.len = strlen(text);
        mailbox_io_fail_at(k, k % 2 ? EIO : ENOSPC);
        struct mailbox_append_result res;
        int r = mailbox_append(mb, &m, 1, 0, &res);
        int fired = mailbox_io_fault_fired();
        mailbox_io_fail_at(0, 0);
        struct mailbox_status st = mbfix_status(mb);
        if (r) {
            failures++;
            CU_ASSERT_TRUE(fired);
            CU_ASSERT_EQUAL(st.exists, st0.exists);
            CU_ASSERT_EQUAL(st.num_records, st0.num_records);
        } else {
            CU_ASSERT_EQUAL(st.exists, st0.exists + 1);
            CU_ASSERT_EQUAL(res.first_uid, st.uidnext - 1);
        }
        free(text);
        CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    }
    CU_ASSERT_TRUE(failures >= per_append - 3);

    /* stores and expunges */
    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    for (long k = 1; k <= 8; k++) {
        uint32_t uids[] = { 1, 2, 3 };
        fl.system = k % 2 ? MAILBOX_FLAG_FLAGGED : MAILBOX_FLAG_DELETED;
        mailbox_io_fail_at(k, EIO);
        int r = mailbox_store(mb, uids, 3, MAILBOX_STORE_REPLACE, &fl, 0, NULL, NULL, NULL);
        (void)r;
        mailbox_io_fail_at(0, 0);
        CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
        mailbox_io_fail_at(k, EIO);
        r = mailbox_expunge(mb, NULL, 0, 0, NULL, NULL, NULL);
        mailbox_io_fail_at(0, 0);
        CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
        mailbox_io_fail_at(k, EIO);
        struct mailbox_cleanup_stats cs;
        r = mailbox_cleanup(mb, MAILBOX_CLEANUP_COMPACT, &cs);
        mailbox_io_fail_at(0, 0);
        CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
        mbfix_add(mb, (int)(200 + k), MAILBOX_FLAG_DELETED);
    }
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* One append made while another process holds the lock (so it goes
 * through the queue), with the k-th I/O operation failing (0: none). */
static int append_queued_with_fault(struct mailbox *mb, const char *dir, long k, int full,
                                    struct mailbox_append_result *res, long *ops)
{
    int pfd[2];
    CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct mailbox *h;
        if (mailbox_open_dir(dir, &h) || mailbox_lock(h, MAILBOX_LOCK_EXCLUSIVE)) _exit(1);
        if (write(pfd[1], "L", 1) != 1) _exit(1);
        usleep(20000);
        mailbox_unlock(h);
        _exit(0);   /* no close: its cleanup is not this test's */
    }
    close(pfd[1]);
    char c;
    CU_ASSERT_EQUAL(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    const char *kw[] = { "$Queued" };
    char *text = mbfix_msg((int)(300 + k));
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = text;
    m.len = strlen(text);
    if (full) {             /* keywords: a full batch, not a one-message entry */
        m.keywords = kw;
        m.nkeywords = 1;
    }
    long before = mailbox_io_ops();
    mailbox_io_fail_at(k, EIO);
    int r = mailbox_append(mb, &m, 1, 0, res);
    mailbox_io_fail_at(0, 0);
    if (ops) *ops = mailbox_io_ops() - before;
    int status;
    waitpid(pid, &status, 0);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(text);
    return r;
}

/* The fault test for appends that go through the queue (one-message entry
 * and full batch): each operation fails in turn, the append fails or
 * succeeds as a whole, and the queue is left clean. */
static void test_io_faults_queued(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    for (int full = 0; full <= 1; full++) {
        long ops = 0;
        struct mailbox_append_result res;
        /* twice: the first one also creates the keyword */
        CU_ASSERT_EQUAL(append_queued_with_fault(mb, dir, 0, full, &res, &ops), 0);
        CU_ASSERT_EQUAL(append_queued_with_fault(mb, dir, 0, full, &res, &ops), 0);
        CU_ASSERT_TRUE(ops >= 8);
        int failures = 0;
        for (long k = 1; k <= ops + 1; k++) {
            struct mailbox_status st0 = mbfix_status(mb);
            int r = append_queued_with_fault(mb, dir, k, full, &res, NULL);
            struct mailbox_status st = mbfix_status(mb);
            if (r) {
                failures++;
                CU_ASSERT_EQUAL(st.exists, st0.exists);
            } else {
                CU_ASSERT_EQUAL(st.exists, st0.exists + 1);
                CU_ASSERT_EQUAL(res.first_uid, st.uidnext - 1);
            }
            CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
        }
        CU_ASSERT_TRUE(failures >= ops - 3);
    }
    /* nothing stays behind in the queue */
    CU_ASSERT_NOT_EQUAL(mbfix_add(mb, 999, 0), 0);
    mailbox_close(&mb);
    char *cmd = xasprintf("test -z \"$(ls -A %s/cyrus.queue)\"", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(cmd);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(dir);
}

/* ---- reconstruct ----------------------------------------------------------------------- */

static void test_reconstruct(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    for (int i = 1; i <= 6; i++) mbfix_add(mb, i, i == 2 ? MAILBOX_FLAG_FLAGGED : 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec2;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 2, &rec2), 0);
    struct mailbox_record rec4;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 4, &rec4), 0);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);

    /* damage: a file gone, a file without record, a changed file, a bad
     * cache record */
    char *p3 = xasprintf("%s/3.", dir);
    char *p9 = xasprintf("%s/9.", dir);
    char *p5 = xasprintf("%s/5.", dir);
    char *pc = xasprintf("%s/cyrus.cache", dir);
    CU_ASSERT_EQUAL(unlink(p3), 0);
    char *text9 = mbfix_msg(9);
    FILE *f = fopen(p9, "w");
    fputs(text9, f);
    fclose(f);
    f = fopen(p5, "a");
    fputs("more\r\n", f);
    fclose(f);
    int fd = open(pc, O_RDWR);
    CU_ASSERT_EQUAL(pwrite(fd, "X", 1, (off_t)rec4.cache_offset + 3), 1);
    close(fd);

    struct strarray fixes;
    strarray_init(&fixes);
    unsigned n = 0;
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, MAILBOX_RECONSTRUCT_DRYRUN, mbfix_collect_fix,
                                        &fixes, &n), 0);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(fixes.count, 4);
    CU_ASSERT_EQUAL(strarray_find(&fixes, "uid 3: message file missing: record removed", 0) >= 0, 1);
    CU_ASSERT_EQUAL(strarray_find(&fixes, "uid 9: message file without record: added", 0) >= 0, 1);
    CU_ASSERT_EQUAL(strarray_find(&fixes, "uid 5: message file differs from its record: record updated", 0) >= 0, 1);
    CU_ASSERT_EQUAL(strarray_find(&fixes, "uid 4: cache record damaged: rebuilt", 0) >= 0, 1);
    strarray_free(&fixes);
    /* the dry run changed nothing */
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 4);

    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 6);    /* 1 2 4 5 6 9 */
    CU_ASSERT_EQUAL(st.uidnext, 10);
    CU_ASSERT_EQUAL(st.flagged, 1);   /* uid 2 kept its flag */
    CU_ASSERT_EQUAL(st.generation, 2);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    struct mailbox_record rec;
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 2, &rec), 0);
    CU_ASSERT_EQUAL(rec.modseq, rec2.modseq);
    CU_ASSERT_EQUAL(rec.internaldate, rec2.internaldate);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 9, &rec), 0);
    CU_ASSERT_EQUAL(rec.size, strlen(text9));
    struct buf cache = BUF_INITIALIZER, want = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
    msgcache_build(text9, strlen(text9), &want);
    CU_ASSERT_EQUAL(buf_cmp(&cache, &want), 0);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 4, &rec), 0);
    CU_ASSERT_EQUAL(mailbox_read_cache(mb, &rec, &cache), 0);
    CU_ASSERT_EQUAL(mailbox_find_uid(mb, 3, &rec), CYRERR_NOTFOUND);
    mailbox_unlock(mb);
    mailbox_close(&mb);

    /* lost index and header: rebuilt from the files, given the name */
    char *pi = xasprintf("%s/cyrus.index", dir);
    char *ph = xasprintf("%s/cyrus.header", dir);
    CU_ASSERT_EQUAL(unlink(pi), 0);
    CU_ASSERT_EQUAL(unlink(ph), 0);
    CU_ASSERT_EQUAL(mailbox_open_dir(dir, &mb), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, NULL, NULL, &n), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, "user.test", 0, NULL, NULL, &n), 0);
    CU_ASSERT_TRUE(n >= 2);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_EQUAL(mbfix_status(mb).exists, 6);
    CU_ASSERT_STRING_EQUAL(mailbox_name(mb), "user.test");
    mailbox_close(&mb);

    char *none = xasprintf("%s/no/such/dir", harness_tmpdir());
    CU_ASSERT_EQUAL(mailbox_reconstruct(none, "user.x", 0, NULL, NULL, &n),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0x10, NULL, NULL, &n), CYRERR_BADARGS);
    free(none);
    buf_free(&cache);
    buf_free(&want);
    free(text9);
    free(p3);
    free(p9);
    free(p5);
    free(pc);
    free(pi);
    free(ph);
    free(dir);
}

/* Recreating a lost cyrus.header: the unique id given (as from
 * mailboxes.db), system flags, dates and MODSEQs from cyrus.index; the
 * keyword names are gone with the file, so their bits are cleared. */
static void test_reconstruct_lost_header(void)
{
    char *dir = mbfix_dir();
    struct mailbox_create_params cp = { "0123abcd-known", 0, NULL, 0 };
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_create_dir(dir, "user.test", &cp, &mb), 0);
    mbfix_add(mb, 1, MAILBOX_FLAG_SEEN);
    mbfix_add(mb, 2, MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_ANSWERED);
    char *text = mbfix_msg(3);
    static const char *const kw[] = { "$Label1", "Work" };
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = text;
    m.len = strlen(text);
    m.system_flags = MAILBOX_FLAG_DRAFT;
    m.keywords = kw;
    m.nkeywords = 2;
    struct mailbox_append_result res;
    CU_ASSERT_EQUAL(mailbox_append(mb, &m, 1, 0, &res), 0);
    free(text);
    struct mailbox_record before[3];
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    for (uint32_t u = 1; u <= 3; u++) CU_ASSERT_EQUAL(mailbox_find_uid(mb, u, &before[u - 1]), 0);
    CU_ASSERT_NOT_EQUAL(before[2].user_flags[0], 0);
    mailbox_unlock(mb);
    mailbox_close(&mb);

    char *ph = xasprintf("%s/cyrus.header", dir);
    CU_ASSERT_EQUAL(unlink(ph), 0);
    CU_ASSERT_NOT_EQUAL(mailbox_open_dir(dir, &mb), 0);
    unsigned n = 0;
    CU_ASSERT_EQUAL(mailbox_reconstruct_entry(dir, "user.test", "", 0, NULL, NULL, &n),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_reconstruct_entry(dir, "user.test", "two words", 0, NULL, NULL, &n),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, NULL, NULL, &n), CYRERR_BADARGS);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "cyrus.header"));

    struct strarray fixes;
    strarray_init(&fixes);
    CU_ASSERT_EQUAL(mailbox_reconstruct_entry(dir, "user.test", "0123abcd-known",
                                              MAILBOX_RECONSTRUCT_DRYRUN, mbfix_collect_fix, &fixes,
                                              &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(fixes.count, 3);
    CU_ASSERT_EQUAL(strarray_find(&fixes, "cyrus.header missing: recreated (unique id from "
                                          "mailboxes.db, no quota root)", 0), 0);
    CU_ASSERT_TRUE(strarray_find(&fixes, "2 keyword names missing from cyrus.header: "
                                         "unrecoverable, their flags cleared", 0) >= 0);
    CU_ASSERT_TRUE(strarray_find(&fixes, "uid 3: keyword bits without a name cleared", 0) >= 0);
    CU_ASSERT_FALSE(mbfix_file_exists(dir, "cyrus.header"));   /* dry run */
    strarray_free(&fixes);

    CU_ASSERT_EQUAL(mailbox_reconstruct_entry(dir, "user.test", "0123abcd-known", 0, NULL,
                                              NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_uniqueid(mb), "0123abcd-known");
    CU_ASSERT_STRING_EQUAL(mailbox_name(mb), "user.test");
    CU_ASSERT_PTR_NULL(mailbox_quotaroot(mb));
    CU_ASSERT_EQUAL(mailbox_num_keywords(mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 3);
    CU_ASSERT_EQUAL(st.seen, 1);
    CU_ASSERT_EQUAL(st.flagged, 1);
    CU_ASSERT_EQUAL(st.answered, 1);
    CU_ASSERT_EQUAL(st.draft, 1);
    CU_ASSERT_EQUAL(st.num_keywords, 0);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_SHARED), 0);
    for (uint32_t u = 1; u <= 3; u++) {
        struct mailbox_record rec;
        CU_ASSERT_EQUAL(mailbox_find_uid(mb, u, &rec), 0);
        CU_ASSERT_EQUAL(rec.system_flags, before[u - 1].system_flags);
        CU_ASSERT_EQUAL(rec.internaldate, before[u - 1].internaldate);
        for (int w = 0; w < MAILBOX_KEYWORD_WORDS; w++) CU_ASSERT_EQUAL(rec.user_flags[w], 0);
        if (u < 3) {
            CU_ASSERT_EQUAL(rec.modseq, before[u - 1].modseq);
        } else {
            CU_ASSERT_TRUE(rec.modseq > before[u - 1].modseq);   /* its flags changed */
        }
    }
    /* new keywords start again from bit 0 */
    uint32_t bit = 99;
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "Fresh", 1, &bit), CYRERR_BADARGS); /* shared lock */
    mailbox_unlock(mb);
    CU_ASSERT_EQUAL(mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE), 0);
    CU_ASSERT_EQUAL(mailbox_keyword_bit(mb, "Fresh", 1, &bit), 0);
    CU_ASSERT_EQUAL(bit, 0);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);

    /* a header that cannot be read is not replaced */
    char *pa = xasprintf("%s/header.away", dir);
    CU_ASSERT_EQUAL(rename(ph, pa), 0);
    CU_ASSERT_EQUAL(mkdir(ph, 0700), 0);
    CU_ASSERT_EQUAL(mailbox_reconstruct_entry(dir, "user.test", "0123abcd-known", 0, NULL,
                                              NULL, &n), CYRERR_IO);
    CU_ASSERT_EQUAL(rmdir(ph), 0);
    CU_ASSERT_EQUAL(rename(pa, ph), 0);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    free(pa);
    free(ph);
    free(dir);
}

/* Entries named like message files that are not regular files (a child
 * mailbox's directory, a FIFO) are no messages: never reported, never
 * removed, and a FIFO does not hang the scan. */
static void test_reconstruct_ignores_non_files(void)
{
    char *dir;
    struct mailbox *mb = mbfix_new(&dir);
    mbfix_add(mb, 1, 0);
    mbfix_add(mb, 2, MAILBOX_FLAG_SEEN);
    mailbox_close(&mb);
    char *p7 = xasprintf("%s/7.", dir);
    char *p7f = xasprintf("%s/7./cyrus.header", dir);
    char *p8 = xasprintf("%s/8.", dir);
    CU_ASSERT_EQUAL(mkdir(p7, 0700), 0);
    FILE *f = fopen(p7f, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("a child's\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(mkfifo(p8, 0600), 0);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    unsigned n = 9;
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 0);

    /* nor when the index is rebuilt from the files */
    char *pi = xasprintf("%s/cyrus.index", dir);
    CU_ASSERT_EQUAL(unlink(pi), 0);
    struct strarray fixes;
    strarray_init(&fixes);
    CU_ASSERT_EQUAL(mailbox_reconstruct(dir, NULL, 0, mbfix_collect_fix, &fixes, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_TRUE(strarray_find(&fixes, "uid 1: message file without record: added", 0) >= 0);
    CU_ASSERT_TRUE(strarray_find(&fixes, "uid 2: message file without record: added", 0) >= 0);
    strarray_free(&fixes);
    CU_ASSERT_EQUAL(mbfix_reconstruct_dry(dir), 0);
    CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(dir, &mb), 0);
    struct mailbox_status st = mbfix_status(mb);
    CU_ASSERT_EQUAL(st.exists, 2);
    CU_ASSERT_EQUAL(st.uidnext, 3);
    mailbox_close(&mb);
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "7./cyrus.header"));
    CU_ASSERT_TRUE(mbfix_file_exists(dir, "8."));
    free(pi);
    free(p8);
    free(p7f);
    free(p7);
    free(dir);
}

/* A quota database of the suite's own: reconstruct looks quota roots up
 * when it recreates a header (never the system's configured one). */
static int suite_init(void)
{
    char *db = xasprintf("%s/quotas.db", harness_tmpdir());
    int r = quota_open_backend("flat", db);
    free(db);
    return r ? -1 : 0;
}

static int suite_cleanup(void)
{
    quota_close();
    return 0;
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("mailbox_recovery", suite_init, suite_cleanup);
    ADD_TEST(s, test_recover_dirty);
    ADD_TEST(s, test_recover_reboot);
    ADD_TEST(s, test_recover_torn_header);
    ADD_TEST(s, test_recover_power_cut);
    ADD_TEST(s, test_io_faults);
    ADD_TEST(s, test_io_faults_queued);
    ADD_TEST(s, test_reconstruct);
    ADD_TEST(s, test_reconstruct_lost_header);
    ADD_TEST(s, test_reconstruct_ignores_non_files);
}
