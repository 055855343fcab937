/* Tests for imap/store/duplicate (duplicate delivery suppression) over both
 * cyrusdb backends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "xmalloc.h"
#include "imap/store/duplicate.h"

#define DAY 86400
#define NOW ((time_t)1700000000)

static const char *backend;
static int counter;

static int init_flat(void)
{
    backend = "flat";
    return 0;
}

static int init_berkeley(void)
{
    backend = "berkeley";
    char *dir = xasprintf("%s/bdb-env", harness_tmpdir());
    int r = cyrusdb_init(dir);
    free(dir);
    return r ? -1 : 0;
}

static int cleanup_berkeley(void)
{
    cyrusdb_done();
    return 0;
}

static struct duplicate *fresh(char **fnamep)
{
    struct duplicate *d = NULL;
    char *fname = xasprintf("%s/%s-%d/deliver.db", harness_tmpdir(), backend, ++counter);
    CU_ASSERT_EQUAL_FATAL(duplicate_open(backend, fname, DUPLICATE_CREATE, &d), 0);
    if (fnamep) *fnamep = fname;
    else free(fname);
    return d;
}

static void test_mark_check(void)
{
    char *fname;
    struct duplicate *d = fresh(&fname);
    struct duplicate_key k = { "<1@example.org>", "user.alice", NULL };
    time_t mark = 0;
    uint32_t uid = 0;

    CU_ASSERT_EQUAL(duplicate_check(d, &k, &mark, &uid), 0);
    CU_ASSERT_EQUAL(duplicate_mark(d, &k, NOW, 17), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k, &mark, &uid), 1);
    CU_ASSERT_EQUAL(mark, NOW);
    CU_ASSERT_EQUAL(uid, 17);
    CU_ASSERT_EQUAL(duplicate_check(d, &k, NULL, NULL), 1);

    /* every part of the key counts */
    struct duplicate_key other_to = { "<1@example.org>", "user.bob", NULL };
    struct duplicate_key other_id = { "<2@example.org>", "user.alice", NULL };
    struct duplicate_key with_extra = { "<1@example.org>", "user.alice", "sender@x" };
    struct duplicate_key empty_extra = { "<1@example.org>", "user.alice", "" };
    /* the parts cannot run into each other */
    struct duplicate_key shifted = { "<1@example.org>user", ".alice", NULL };
    CU_ASSERT_EQUAL(duplicate_check(d, &other_to, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &other_id, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &with_extra, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &shifted, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &empty_extra, NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_mark(d, &with_extra, NOW + 5, 0), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &with_extra, &mark, &uid), 1);
    CU_ASSERT_EQUAL(mark, NOW + 5);
    CU_ASSERT_EQUAL(uid, 0);

    /* marking again replaces */
    CU_ASSERT_EQUAL(duplicate_mark(d, &k, NOW + 60, 18), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k, &mark, &uid), 1);
    CU_ASSERT_EQUAL(mark, NOW + 60);
    CU_ASSERT_EQUAL(uid, 18);

    /* survives a reopen */
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_EQUAL_FATAL(duplicate_open(backend, fname, 0, &d), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k, &mark, NULL), 1);
    CU_ASSERT_EQUAL(mark, NOW + 60);

    CU_ASSERT_EQUAL(duplicate_unmark(d, &k), 0);
    CU_ASSERT_EQUAL(duplicate_unmark(d, &k), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(duplicate_check(d, &k, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &with_extra, NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    free(fname);
}

static void test_bad_keys(void)
{
    struct duplicate *d = fresh(NULL);
    struct duplicate_key nulls = { NULL, "user.a", NULL };
    struct duplicate_key emptyid = { "", "user.a", NULL };
    struct duplicate_key emptyto = { "<x@y>", "", NULL };
    struct duplicate_key noto = { "<x@y>", NULL, NULL };
    CU_ASSERT_EQUAL(duplicate_mark(d, &nulls, NOW, 1), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(duplicate_mark(d, &emptyid, NOW, 1), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(duplicate_mark(d, &emptyto, NOW, 1), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(duplicate_check(d, &noto, NULL, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(duplicate_check(d, NULL, NULL, NULL), CYRERR_BADARGS);
    struct duplicate_key ok = { "<x@y>", "user.a", NULL };
    CU_ASSERT_EQUAL(duplicate_mark(d, &ok, -1, 1), CYRERR_BADARGS);

    /* a part at the limit is fine, one byte more is refused */
    char *id = xzmalloc(DUPLICATE_PART_MAX + 2);
    memset(id, 'i', DUPLICATE_PART_MAX);
    struct duplicate_key big = { id, "user.a", NULL };
    CU_ASSERT_EQUAL(duplicate_mark(d, &big, NOW, 1), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &big, NULL, NULL), 1);
    id[DUPLICATE_PART_MAX] = 'i';
    CU_ASSERT_EQUAL(duplicate_mark(d, &big, NOW, 1), CYRERR_TOOBIG);
    CU_ASSERT_EQUAL(duplicate_check(d, &big, NULL, NULL), CYRERR_TOOBIG);
    struct duplicate_key bigextra = { "<x@y>", "user.a", id };
    CU_ASSERT_EQUAL(duplicate_mark(d, &bigextra, NOW, 1), CYRERR_TOOBIG);
    free(id);

    /* odd bytes in the parts are kept as they are */
    struct duplicate_key odd = { "<a\tb\\c\r\n@d>", "user.a b", "x\ty" };
    CU_ASSERT_EQUAL(duplicate_mark(d, &odd, NOW, 2), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &odd, NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);

    CU_ASSERT_EQUAL(duplicate_open("nosuch", "/nonexistent/x", 0, &d), CYRERR_CONFIG);
    CU_ASSERT_PTR_NULL(d);
}

struct dump_rock {
    struct buf out;
    int stop_after, calls;
};

static int dump_cb(void *rock, const struct duplicate_key *k, time_t mark, uint32_t uid)
{
    struct dump_rock *r = rock;
    buf_printf(&r->out, "[%s|%s|%s|%lld|%u]", k->id, k->to, k->extra,
               (long long)(mark - NOW), uid);
    if (++r->calls == r->stop_after) return 7;
    return 0;
}

static void test_foreach(void)
{
    struct duplicate *d = fresh(NULL);
    struct duplicate_key a = { "<b@x>", "user.b", NULL };
    struct duplicate_key b = { "<a@x>", "user.z", "env" };
    struct duplicate_key c = { "<a@x>", "user.c", "t\tab" };
    CU_ASSERT_EQUAL(duplicate_mark(d, &a, NOW + 1, 1), 0);
    CU_ASSERT_EQUAL(duplicate_mark(d, &b, NOW + 2, 2), 0);
    CU_ASSERT_EQUAL(duplicate_mark(d, &c, NOW + 3, 3), 0);
    struct dump_rock r = { BUF_INITIALIZER, 0, 0 };
    CU_ASSERT_EQUAL(duplicate_foreach(d, dump_cb, &r), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&r.out),
                           "[<a@x>|user.c|t\tab|3|3][<a@x>|user.z|env|2|2][<b@x>|user.b||1|1]");
    buf_reset(&r.out);
    r.calls = 0;
    r.stop_after = 1;
    CU_ASSERT_EQUAL(duplicate_foreach(d, dump_cb, &r), 7);
    CU_ASSERT_EQUAL(r.calls, 1);
    buf_free(&r.out);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
}

static void test_expire(void)
{
    char *fname;
    struct duplicate *d = fresh(&fname);
    struct duplicate_key k[5] = {
        { "<old@x>", "user.a", NULL }, { "<5d@x>", "user.a", NULL },
        { "<3d@x>", "user.a", NULL }, { "<1d@x>", "user.a", NULL }, { "<now@x>", "user.a", NULL },
    };
    static const time_t age[5] = { 100 * DAY, 5 * DAY, 3 * DAY, 1 * DAY, 0 };
    for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(duplicate_mark(d, &k[i], NOW - age[i], 0), 0);

    /* a damaged value, written behind the module's back */
    struct cyrusdb *db = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, fname, 0, &db), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "junk\0user.a\0", 12, "1 x 0", 5, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    struct duplicate_key junk = { "junk", "user.a", NULL };
    CU_ASSERT_EQUAL(duplicate_check(d, &junk, NULL, NULL), 0);   /* deliver */

    struct duplicate_expire_stats st;
    CU_ASSERT_EQUAL(duplicate_expire(d, -1, NOW, &st), CYRERR_BADARGS);
    /* exactly 3 days old is not older than 3 days */
    CU_ASSERT_EQUAL(duplicate_expire(d, 3, NOW, &st), 0);
    CU_ASSERT_EQUAL(st.seen, 6);
    CU_ASSERT_EQUAL(st.expired, 3);
    CU_ASSERT_EQUAL(st.corrupt, 1);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[1], NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[2], NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[3], NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[4], NULL, NULL), 1);
    /* again: nothing more to do */
    CU_ASSERT_EQUAL(duplicate_expire(d, 3, NOW, &st), 0);
    CU_ASSERT_EQUAL(st.seen, 3);
    CU_ASSERT_EQUAL(st.expired, 0);
    /* 0 days: everything marked before now */
    CU_ASSERT_EQUAL(duplicate_expire(d, 0, NOW, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[3], NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k[4], NULL, NULL), 1);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    free(fname);
}

/* More records than one expiry transaction takes, loaded in one go. */
static void test_expire_many(void)
{
    enum { N = 1203 };
    char *fname;
    struct duplicate *d = fresh(&fname);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    struct cyrusdb *db = NULL;
    struct cyrusdb_txn *txn = NULL;
    struct buf key = BUF_INITIALIZER, val = BUF_INITIALIZER;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, fname, 0, &db), 0);
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &txn), 0);
    for (int i = 0; i < N; i++) {
        buf_reset(&key);
        buf_printf(&key, "<%d@x>", i);
        buf_putc(&key, '\0');
        buf_appendcstr(&key, "user.a");
        buf_putc(&key, '\0');
        buf_reset(&val);
        /* even ones are old */
        buf_printf(&val, "1 %lld %d", (long long)(NOW - (i % 2 ? 0 : 10 * DAY)), i);
        CU_ASSERT_EQUAL(cyrusdb_store(db, key.s, key.len, val.s, val.len, 0, txn), 0);
    }
    CU_ASSERT_EQUAL_FATAL(cyrusdb_commit(db, txn), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    CU_ASSERT_EQUAL_FATAL(duplicate_open(backend, fname, 0, &d), 0);
    struct duplicate_expire_stats st;
    CU_ASSERT_EQUAL(duplicate_expire(d, 7, NOW, &st), 0);
    CU_ASSERT_EQUAL(st.seen, N);
    CU_ASSERT_EQUAL(st.expired, (N + 1) / 2);
    CU_ASSERT_EQUAL(st.corrupt, 0);
    struct duplicate_key k0 = { "<0@x>", "user.a", NULL }, k1 = { "<1@x>", "user.a", NULL };
    struct duplicate_key klast = { "<1202@x>", "user.a", NULL };
    uint32_t uid = 0;
    CU_ASSERT_EQUAL(duplicate_check(d, &k0, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &klast, NULL, NULL), 0);
    CU_ASSERT_EQUAL(duplicate_check(d, &k1, NULL, &uid), 1);
    CU_ASSERT_EQUAL(uid, 1);
    CU_ASSERT_EQUAL(duplicate_expire(d, 7, NOW, &st), 0);
    CU_ASSERT_EQUAL(st.seen, N / 2);
    CU_ASSERT_EQUAL(st.expired, 0);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    buf_free(&key);
    buf_free(&val);
    free(fname);
}

static void test_configured_path(void)
{
    char *dir = xasprintf("%s/%s-conf", harness_tmpdir(), backend);
    char *conf = xasprintf("%s/%s-dup.conf", harness_tmpdir(), backend);
    FILE *f = fopen(conf, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "configdirectory: %s\nduplicate_db: %s\n", dir, backend);
    fclose(f);
    config_reset();
    CU_ASSERT_EQUAL_FATAL(config_read(conf, NULL, NULL, NULL), 0);
    struct duplicate *d = NULL;
    CU_ASSERT_EQUAL(duplicate_open(NULL, NULL, 0, &d), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL_FATAL(duplicate_open(NULL, NULL, DUPLICATE_CREATE, &d), 0);
    struct duplicate_key k = { "<c@x>", "user.c", NULL };
    CU_ASSERT_EQUAL(duplicate_mark(d, &k, NOW, 3), 0);
    CU_ASSERT_EQUAL(duplicate_close(&d), 0);
    /* it is the file the layout says, in the configured format */
    char *path = xasprintf("%s/%s", dir, DUPLICATE_FNAME);
    struct cyrusdb *db = NULL;
    struct buf v = BUF_INITIALIZER;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, path, 0, &db), 0);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "<c@x>\0user.c\0", 13, &v, NULL), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&v), "1 1700000000 3");
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    buf_free(&v);
    free(path);
    free(dir);
    free(conf);
    config_reset();
}

static void add_all(CU_pSuite s)
{
    ADD_TEST(s, test_mark_check);
    ADD_TEST(s, test_bad_keys);
    ADD_TEST(s, test_foreach);
    ADD_TEST(s, test_expire);
    ADD_TEST(s, test_expire_many);
    ADD_TEST(s, test_configured_path);
}

void register_tests(void)
{
    add_all(harness_suite("duplicate-flat", init_flat, NULL));
    add_all(harness_suite("duplicate-berkeley", init_berkeley, cleanup_berkeley));
}
