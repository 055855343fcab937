/* Tests for imap/store/seen (and the per-user file layout of userfile.h),
 * over both cyrusdb backends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "xmalloc.h"
#include "imap/store/seen.h"
#include "imap/store/seqset.h"
#include "imap/store/userfile.h"

static const char *backend;
static int counter;

/* Read a configuration with configdirectory in a fresh directory and the
 * suite's backend for the seen state. */
static int setup(const char *be)
{
    backend = be;
    return harness_backend_setup(be, "seenstate_db: %s\nvirtdomains: userid\ndefaultdomain: internal\n", be);
}

static int init_flat(void)
{
    return setup("flat");
}

static int init_berkeley(void)
{
    return setup("berkeley");
}

static int cleanup(void)
{
    return harness_backend_cleanup();
}

static struct seen *fresh(char **fnamep)
{
    struct seen *s = NULL;
    char *fname = xasprintf("%s/%s-%d/x.seen", harness_tmpdir(), backend, ++counter);
    CU_ASSERT_EQUAL_FATAL(seen_open_file(backend, fname, SEEN_CREATE, &s), 0);
    if (fnamep) *fnamep = fname;
    else free(fname);
    return s;
}

static const char *uids_text(const struct seen_data *sd)
{
    static struct buf b = BUF_INITIALIZER;
    buf_reset(&b);
    seqset_format(&sd->uids, &b);
    return buf_cstring(&b);
}

static void set_uids(struct seqset *s, const char *text)
{
    CU_ASSERT_EQUAL(seqset_parse(text, strlen(text), 0, s), 0);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- layout ----------------------------------------------------------- */

static void check_path(const char *userid, int vd, const char *want)
{
    struct buf p = BUF_INITIALIZER;
    int r = userfile_path_in("/cfg", vd, "internal", userid, "seen", &p);
    if (!want) {
        CU_ASSERT_EQUAL(r, CYRERR_INVALID_USER);
        CU_ASSERT_EQUAL(p.len, 0);
    } else {
        CU_ASSERT_EQUAL(r, 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&p), want);
    }
    buf_free(&p);
}

static void test_layout(void)
{
    check_path("alice", 0, "/cfg/user/a/alice.seen");
    check_path("Bob", 0, "/cfg/user/b/Bob.seen");
    check_path("9lives", 0, "/cfg/user/q/9lives.seen");
    check_path("john.doe", 0, "/cfg/user/j/john.doe.seen");
    check_path("bob@example.org", 0, "/cfg/user/b/bob@example.org.seen");
    check_path("bob@Example.ORG", 1, "/cfg/domain/e/example.org/user/b/bob.seen");
    check_path("bob@9.example", 1, "/cfg/domain/q/9.example/user/b/bob.seen");
    check_path("bob@internal", 1, "/cfg/user/b/bob.seen");    /* default domain */
    /* nothing can leave the directory or make an odd file name */
    check_path("", 0, NULL);
    check_path("a/b", 0, NULL);
    check_path("../../etc/passwd", 0, NULL);
    check_path("a b", 0, NULL);
    check_path("a\tb", 0, NULL);
    check_path("bob@", 1, NULL);
    check_path("@example.org", 1, NULL);
    check_path("bob@exa/mple.org", 1, NULL);
    char *longname = xzmalloc(USERFILE_NAME_MAX + 2);
    memset(longname, 'x', USERFILE_NAME_MAX + 1);
    check_path(longname, 0, NULL);
    longname[USERFILE_NAME_MAX] = '\0';
    struct buf p = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(userfile_path_in("/cfg", 0, NULL, longname, "seen", &p), 0);
    free(longname);
    CU_ASSERT_EQUAL(userfile_path_in("/cfg", 0, NULL, "a", "x/y", &p), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(userfile_path_in("", 0, NULL, "a", "seen", &p), CYRERR_CONFIG);

    /* the configured place */
    CU_ASSERT_EQUAL(seen_path("carol", &p), 0);
    char *want = xasprintf("%s/user/c/carol.seen", harness_backend_confdir());
    CU_ASSERT_STRING_EQUAL(buf_cstring(&p), want);
    free(want);
    CU_ASSERT_EQUAL(seen_path("dave@example.com", &p), 0);
    want = xasprintf("%s/domain/e/example.com/user/d/dave.seen", harness_backend_confdir());
    CU_ASSERT_STRING_EQUAL(buf_cstring(&p), want);
    free(want);
    buf_free(&p);
    CU_ASSERT_EQUAL(userfile_hash("Zed"), 'z');
    CU_ASSERT_EQUAL(userfile_hash("_x"), 'q');
    CU_ASSERT_EQUAL(userfile_hash(""), 'q');
}

/* ---- record text --------------------------------------------------------- */

static void test_data_text(void)
{
    struct seen_data sd = SEEN_DATA_INITIALIZER;
    struct buf b = BUF_INITIALIZER;
    sd.lastread = 1700000000;
    sd.lastuid = 42;
    sd.lastchange = 1700000001;
    set_uids(&sd.uids, "1:5,7");
    seen_data_format(&sd, &b);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "1 1700000000 42 1700000001 1:5,7");

    struct seen_data p = SEEN_DATA_INITIALIZER;
    CU_ASSERT_EQUAL(seen_data_parse(b.s, b.len, &p), 0);
    CU_ASSERT_EQUAL(p.lastread, 1700000000);
    CU_ASSERT_EQUAL(p.lastuid, 42);
    CU_ASSERT_EQUAL(p.lastchange, 1700000001);
    CU_ASSERT_TRUE(seqset_equal(&p.uids, &sd.uids));

    /* empty set, with or without the separating space */
    CU_ASSERT_EQUAL(seen_data_parse("1 0 0 0 ", 8, &p), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&p.uids));
    CU_ASSERT_EQUAL(seen_data_parse("1 5 6 7", 7, &p), 0);
    CU_ASSERT_EQUAL(p.lastuid, 6);
    seqset_clear(&sd.uids);
    seen_data_format(&sd, &b);
    CU_ASSERT_EQUAL(seen_data_parse(b.s, b.len, &p), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&p.uids));

    static const char *const bad[] = {
        "", "1", "1 2 3", "2 0 0 0 1", "1 0 0 0 0", "1 0 0 0 1:", "1 -1 0 0 ",
        "1 0 4294967296 0 ", "1 0 0 0  1", "1 x 0 0 ", "1 0 0 0 1,*", "1  0 0 0",
        "1 99999999999999999999 0 0 ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (seen_data_parse(bad[i], strlen(bad[i]), &p) != CYRERR_CORRUPT) CU_FAIL(bad[i]);
    seen_data_free(&sd);
    seen_data_free(&p);
    buf_free(&b);
}

/* ---- database ----------------------------------------------------------- */

static void test_read_write(void)
{
    char *fname;
    struct seen *s = fresh(&fname);
    struct seen_data sd = SEEN_DATA_INITIALIZER, got = SEEN_DATA_INITIALIZER;

    /* a mailbox never read */
    set_uids(&got.uids, "1:3");
    got.lastuid = 9;
    CU_ASSERT_EQUAL(seen_read(s, "mbox-1", &got), 0);
    CU_ASSERT_EQUAL(got.lastuid, 0);
    CU_ASSERT_EQUAL(got.lastread, 0);
    CU_ASSERT_TRUE(seqset_is_empty(&got.uids));

    sd.lastread = 100;
    sd.lastuid = 12;
    sd.lastchange = 90;
    set_uids(&sd.uids, "1:10,12");
    CU_ASSERT_EQUAL(seen_write(s, "mbox-1", &sd), 0);
    CU_ASSERT_EQUAL(seen_read(s, "mbox-1", &got), 0);
    CU_ASSERT_EQUAL(got.lastread, 100);
    CU_ASSERT_EQUAL(got.lastuid, 12);
    CU_ASSERT_EQUAL(got.lastchange, 90);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:10,12");
    /* another mailbox is separate */
    CU_ASSERT_EQUAL(seen_read(s, "mbox-2", &got), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&got.uids));

    /* replace */
    set_uids(&sd.uids, "5");
    CU_ASSERT_EQUAL(seen_write(s, "mbox-1", &sd), 0);
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    CU_ASSERT_PTR_NULL(s);

    /* durable across a reopen */
    CU_ASSERT_EQUAL_FATAL(seen_open_file(backend, fname, 0, &s), 0);
    CU_ASSERT_EQUAL(seen_read(s, "mbox-1", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "5");

    /* bad arguments */
    CU_ASSERT_EQUAL(seen_read(s, "", &got), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(seen_read(s, NULL, &got), CYRERR_BADARGS);
    char *longid = xzmalloc(SEEN_UNIQUEID_MAX + 2);
    memset(longid, 'a', SEEN_UNIQUEID_MAX + 1);
    CU_ASSERT_EQUAL(seen_write(s, longid, &sd), CYRERR_BADARGS);
    longid[SEEN_UNIQUEID_MAX] = '\0';
    CU_ASSERT_EQUAL(seen_write(s, longid, &sd), 0);
    free(longid);

    /* delete a mailbox's record */
    CU_ASSERT_EQUAL(seen_delete_mailbox(s, "mbox-1"), 0);
    CU_ASSERT_EQUAL(seen_delete_mailbox(s, "mbox-1"), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(seen_read(s, "mbox-1", &got), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&got.uids));
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    CU_ASSERT_EQUAL(seen_close(&s), 0);      /* NULL is fine */

    /* without SEEN_CREATE a missing file is an error */
    char *missing = xasprintf("%s/%s-none/y.seen", harness_tmpdir(), backend);
    CU_ASSERT_EQUAL(seen_open_file(backend, missing, 0, &s), CYRERR_NOTFOUND);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(seen_open_file("nosuch", missing, SEEN_CREATE, &s), CYRERR_CONFIG);
    free(missing);
    free(fname);
    seen_data_free(&sd);
    seen_data_free(&got);
}

static void test_add_remove(void)
{
    struct seen *s = fresh(NULL);
    struct seen_data sd = SEEN_DATA_INITIALIZER, got = SEEN_DATA_INITIALIZER;
    struct seqset u = SEQSET_INITIALIZER;

    sd.lastread = 50;
    sd.lastuid = 7;
    CU_ASSERT_EQUAL(seen_write(s, "m", &sd), 0);

    set_uids(&u, "1:3");
    CU_ASSERT_EQUAL(seen_add_uids(s, "m", &u, 100, &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:3");
    CU_ASSERT_EQUAL(got.lastchange, 100);
    set_uids(&u, "2:5,9");
    CU_ASSERT_EQUAL(seen_add_uids(s, "m", &u, 200, NULL), 0);
    set_uids(&u, "1:2");                     /* already seen: no change */
    CU_ASSERT_EQUAL(seen_add_uids(s, "m", &u, 300, &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:5,9");
    CU_ASSERT_EQUAL(got.lastchange, 200);
    set_uids(&u, "3,9,20");
    CU_ASSERT_EQUAL(seen_remove_uids(s, "m", &u, 400, &got), 0);
    CU_ASSERT_EQUAL(seen_read(s, "m", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:2,4:5");
    CU_ASSERT_EQUAL(got.lastchange, 400);
    /* the other fields are kept */
    CU_ASSERT_EQUAL(got.lastread, 50);
    CU_ASSERT_EQUAL(got.lastuid, 7);

    /* removing from a mailbox without a record writes nothing */
    CU_ASSERT_EQUAL(seen_remove_uids(s, "other", &u, 500, &got), 0);
    CU_ASSERT_TRUE(seqset_is_empty(&got.uids));
    CU_ASSERT_EQUAL(seen_delete_mailbox(s, "other"), CYRERR_NOTFOUND);
    /* adding to one creates it */
    CU_ASSERT_EQUAL(seen_add_uids(s, "other", &u, 600, NULL), 0);
    CU_ASSERT_EQUAL(seen_read(s, "other", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "3,9,20");
    CU_ASSERT_EQUAL(got.lastchange, 600);

    CU_ASSERT_EQUAL(seen_add_uids(s, "", &u, 1, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(seen_add_uids(s, "m", NULL, 1, NULL), CYRERR_BADARGS);

    /* two handles on one file: neither loses the other's change */
    struct seen *s2 = NULL;
    char *fname = xasprintf("%s/%s-%d/x.seen", harness_tmpdir(), backend, counter);
    CU_ASSERT_EQUAL_FATAL(seen_open_file(backend, fname, 0, &s2), 0);
    free(fname);
    set_uids(&u, "100");
    CU_ASSERT_EQUAL(seen_add_uids(s, "m", &u, 700, NULL), 0);
    set_uids(&u, "101");
    CU_ASSERT_EQUAL(seen_add_uids(s2, "m", &u, 701, NULL), 0);
    CU_ASSERT_EQUAL(seen_read(s, "m", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:2,4:5,100:101");
    CU_ASSERT_EQUAL(seen_close(&s2), 0);

    CU_ASSERT_EQUAL(seen_close(&s), 0);
    seen_data_free(&sd);
    seen_data_free(&got);
    seqset_free(&u);
}

struct list_rock {
    struct buf out;
    int stop_after;
    int calls;
};

static int list_cb(void *rock, const char *uniqueid, const struct seen_data *sd)
{
    struct list_rock *lr = rock;
    buf_printf(&lr->out, "%s=%s;", uniqueid, uids_text(sd));
    if (++lr->calls == lr->stop_after) return 42;
    return 0;
}

static void test_foreach_corrupt(void)
{
    char *fname;
    struct seen *s = fresh(&fname);
    struct seen_data sd = SEEN_DATA_INITIALIZER, got = SEEN_DATA_INITIALIZER;
    set_uids(&sd.uids, "1");
    CU_ASSERT_EQUAL(seen_write(s, "c", &sd), 0);
    set_uids(&sd.uids, "2:3");
    CU_ASSERT_EQUAL(seen_write(s, "a", &sd), 0);
    CU_ASSERT_EQUAL(seen_write(s, "b", &sd), 0);

    /* a damaged record, written behind the module's back */
    struct cyrusdb *db = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, fname, 0, &db), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "b", 1, "junk", 4, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    struct list_rock lr = { BUF_INITIALIZER, 0, 0 };
    CU_ASSERT_EQUAL(seen_foreach(s, list_cb, &lr), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out), "a=2:3;c=1;");
    CU_ASSERT_EQUAL(seen_read(s, "b", &got), CYRERR_CORRUPT);
    struct seqset u = SEQSET_INITIALIZER;
    set_uids(&u, "9");
    CU_ASSERT_EQUAL(seen_add_uids(s, "b", &u, 1, NULL), CYRERR_CORRUPT);
    /* a write replaces it */
    CU_ASSERT_EQUAL(seen_write(s, "b", &sd), 0);
    CU_ASSERT_EQUAL(seen_read(s, "b", &got), 0);

    /* the callback's return stops the walk */
    buf_reset(&lr.out);
    lr.calls = 0;
    lr.stop_after = 2;
    CU_ASSERT_EQUAL(seen_foreach(s, list_cb, &lr), 42);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out), "a=2:3;b=2:3;");

    CU_ASSERT_EQUAL(seen_close(&s), 0);
    buf_free(&lr.out);
    seqset_free(&u);
    seen_data_free(&sd);
    seen_data_free(&got);
    free(fname);
}

static void test_users(void)
{
    struct seen *s = NULL;
    struct seen_data sd = SEEN_DATA_INITIALIZER, got = SEEN_DATA_INITIALIZER;
    struct buf path = BUF_INITIALIZER, newpath = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(seen_open("erin", 0, &s), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(seen_open("a/b", SEEN_CREATE, &s), CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL_FATAL(seen_open("erin", SEEN_CREATE, &s), 0);
    set_uids(&sd.uids, "1:4");
    CU_ASSERT_EQUAL(seen_write(s, "u1", &sd), 0);
    set_uids(&sd.uids, "7");
    CU_ASSERT_EQUAL(seen_write(s, "u2", &sd), 0);
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    CU_ASSERT_EQUAL(seen_path("erin", &path), 0);
    CU_ASSERT_TRUE(file_exists(buf_cstring(&path)));

    /* rename: records move, the old file goes */
    CU_ASSERT_EQUAL(seen_rename_user("erin", "erin2@example.net"), 0);
    CU_ASSERT_FALSE(file_exists(buf_cstring(&path)));
    CU_ASSERT_EQUAL(seen_path("erin2@example.net", &newpath), 0);
    CU_ASSERT_TRUE(file_exists(buf_cstring(&newpath)));
    CU_ASSERT_EQUAL_FATAL(seen_open("erin2@example.net", 0, &s), 0);
    CU_ASSERT_EQUAL(seen_read(s, "u1", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "1:4");
    CU_ASSERT_EQUAL(seen_read(s, "u2", &got), 0);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), "7");
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    /* a user without seen state renames to nothing */
    CU_ASSERT_EQUAL(seen_rename_user("nobody", "nobody2"), 0);
    CU_ASSERT_EQUAL(seen_open("nobody2", 0, &s), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(seen_rename_user("x/y", "z"), CYRERR_INVALID_USER);

    /* delete */
    CU_ASSERT_EQUAL(seen_delete_user("erin2@example.net"), 0);
    CU_ASSERT_FALSE(file_exists(buf_cstring(&newpath)));
    CU_ASSERT_EQUAL(seen_delete_user("erin2@example.net"), 0);   /* again: fine */
    CU_ASSERT_EQUAL(seen_delete_user(""), CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL(seen_open("erin2@example.net", 0, &s), CYRERR_NOTFOUND);

    buf_free(&path);
    buf_free(&newpath);
    seen_data_free(&sd);
    seen_data_free(&got);
}

/* Forked processes mark UIDs of one mailbox at the same time. */
static void test_concurrent(void)
{
    enum { PROCS = 3, EACH = 30 };
    char *fname;
    struct seen *s = fresh(&fname);
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        CU_ASSERT_FATAL(pids[p] >= 0);
        if (pids[p] == 0) {
            int bad = 0;
            struct seen *cs = NULL;
            struct seqset u = SEQSET_INITIALIZER;
            if (seen_open_file(backend, fname, 0, &cs)) _exit(3);
            for (int i = 0; i < EACH; i++) {
                seqset_clear(&u);
                seqset_add(&u, (uint32_t)(i * PROCS + p + 1));
                if (seen_add_uids(cs, "shared", &u, i, NULL)) bad = 1;
            }
            seqset_free(&u);
            if (seen_close(&cs)) bad = 1;
            cyrusdb_done();
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = -1;
        CU_ASSERT_EQUAL(waitpid(pids[p], &status, 0), pids[p]);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct seen_data got = SEEN_DATA_INITIALIZER;
    CU_ASSERT_EQUAL_FATAL(seen_open_file(backend, fname, 0, &s), 0);
    CU_ASSERT_EQUAL(seen_read(s, "shared", &got), 0);
    char *want = xasprintf("1:%d", PROCS * EACH);
    CU_ASSERT_STRING_EQUAL(uids_text(&got), want);
    free(want);
    CU_ASSERT_EQUAL(seen_close(&s), 0);
    seen_data_free(&got);
    free(fname);
}

static void add_all(CU_pSuite s)
{
    ADD_TEST(s, test_layout);
    ADD_TEST(s, test_data_text);
    ADD_TEST(s, test_read_write);
    ADD_TEST(s, test_add_remove);
    ADD_TEST(s, test_foreach_corrupt);
    ADD_TEST(s, test_users);
    ADD_TEST(s, test_concurrent);
}

void register_tests(void)
{
    add_all(harness_suite("seen-flat", init_flat, cleanup));
    add_all(harness_suite("seen-berkeley", init_berkeley, cleanup));
}
