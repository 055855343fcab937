/* Tests for cyrusdb.  The same test functions run once per backend (suites
 * "cyrusdb-flat", "cyrusdb-berkeley" and "cyrusdb-berkeley-nosync", whose
 * crash test shows that its commits survive a killed process); a few more check one backend's
 * own guarantees (the flat file format, Berkeley deadlocks and recovery).
 * Databases are opened by explicit backend name and path under the
 * harness's temporary directory; no configuration is read. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

static const char *backend; /* of the suite that runs */
static char *suitedir;      /* <tmp>/<backend> */
static char *envdir;        /* <tmp>/env: the Berkeley environment */
static int dbcounter;

static int is_berkeley(void)
{
    return !strncmp(backend, "berkeley", 8);
}

static int suite_setup(const char *name)
{
    backend = name;
    free(suitedir);
    suitedir = xasprintf("%s/%s", harness_tmpdir(), name);
    if (mkdir(suitedir, 0700) < 0 && errno != EEXIST) return 1;
    if (!envdir) envdir = xasprintf("%s/env", harness_tmpdir());
    return 0;
}

static int init_flat(void)
{
    return suite_setup("flat");
}

static int init_berkeley(void)
{
    if (suite_setup("berkeley")) return 1;
    return cyrusdb_init(envdir) ? 1 : 0;
}

static int init_berkeley_nosync(void)
{
    if (suite_setup("berkeley-nosync")) return 1;
    return cyrusdb_init(envdir) ? 1 : 0;
}

static int cleanup_suite(void)
{
    cyrusdb_done();
    xfree(suitedir);
    return 0;
}

static int cleanup_all(void)
{
    cyrusdb_done();
    xfree(suitedir);
    xfree(envdir);
    return 0;
}

/* A fresh database path for this backend (caller frees). */
static char *newpath(const char *name)
{
    return xasprintf("%s/%s-%d.db", suitedir, name, ++dbcounter);
}

static struct cyrusdb *xopen(const char *path, int flags)
{
    struct cyrusdb *db = NULL;
    int r = cyrusdb_open(backend, path, flags, &db);
    CU_ASSERT_EQUAL_FATAL(r, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    return db;
}

static int put(struct cyrusdb *db, const char *k, const char *v, struct cyrusdb_txn *t)
{
    return cyrusdb_store(db, k, strlen(k), v, strlen(v), 0, t);
}

/* 1 when key holds exactly value */
static int has(struct cyrusdb *db, const char *k, const char *v, struct cyrusdb_txn *t)
{
    struct buf b = BUF_INITIALIZER;
    int r = cyrusdb_fetch(db, k, strlen(k), &b, t);
    int ok = !r && buf_len(&b) == strlen(v) && !memcmp(buf_base(&b), v, strlen(v));
    buf_free(&b);
    return ok;
}

static int fetch_rc(struct cyrusdb *db, const char *k, struct cyrusdb_txn *t)
{
    struct buf b = BUF_INITIALIZER;
    int r = cyrusdb_fetch(db, k, strlen(k), &b, t);
    buf_free(&b);
    return r;
}

/* foreach collector: "key=value;" for each record */
struct collect {
    struct buf out;
    int count;
    int stop_after; /* return 42 after this many; 0 = never */
};

static int collect_cb(void *rock, const char *k, size_t kl, const char *v, size_t vl)
{
    struct collect *c = rock;
    buf_appendmap(&c->out, k, kl);
    buf_putc(&c->out, '=');
    buf_appendmap(&c->out, v, vl);
    buf_putc(&c->out, ';');
    c->count++;
    return c->stop_after && c->count >= c->stop_after ? 42 : 0;
}

static char *listing(struct cyrusdb *db, const char *prefix, struct cyrusdb_txn *t)
{
    struct collect c = {BUF_INITIALIZER, 0, 0};
    int r = cyrusdb_foreach(db, prefix, strlen(prefix), collect_cb, &c, t);
    CU_ASSERT_EQUAL(r, 0);
    return buf_release(&c.out);
}

static int count_cb(void *rock, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(int *)rock)++;
    return 0;
}

static int count_all(struct cyrusdb *db)
{
    int n = 0;
    int r = cyrusdb_foreach(db, "", 0, count_cb, &n, NULL);
    return r ? -1 : n;
}

/* Fork a child that runs fn(arg) and exits with its result; returns the
 * child's exit status (or 255 when it did not exit normally). */
static int run_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        int r = fn(arg);
        cyrusdb_done();
        _exit(r & 0xff);
    }
    CU_ASSERT_FATAL(pid > 0);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* ---- backend-independent ----------------------------------------------------- */

static int mbcmp(const char *a, const char *b)
{
    return cyrusdb_mboxsort_cmp(a, strlen(a), b, strlen(b));
}

static void test_mboxsort_cmp(void)
{
    CU_ASSERT_EQUAL(mbcmp("user.a", "user.a"), 0);
    CU_ASSERT(mbcmp("user.a", "user.a.b") < 0);
    CU_ASSERT(mbcmp("user.a.b", "user.a-b") < 0);
    CU_ASSERT(mbcmp("user.a.b", "user.a b") < 0);
    CU_ASSERT(mbcmp("user.a.zzz", "user.a-b") < 0);
    CU_ASSERT(mbcmp("user.a-b", "user.a.b") > 0);
    CU_ASSERT(mbcmp("user.a.b.c", "user.aa") < 0);
    CU_ASSERT(mbcmp("user.b", "user.a.z") > 0);
    CU_ASSERT(mbcmp("", "a") < 0);
    CU_ASSERT(mbcmp("a", "") > 0);
    CU_ASSERT(mbcmp("\xff", "a") > 0);
    CU_ASSERT(mbcmp("a.\xff", "a\x01") < 0);
    /* NUL ranks before '.' */
    CU_ASSERT(cyrusdb_mboxsort_cmp("a\0", 2, "a.", 2) < 0);
    CU_ASSERT(cyrusdb_mboxsort_cmp("a.", 2, "a\0", 2) > 0);
    CU_ASSERT(cyrusdb_mboxsort_cmp("a\0", 2, "a\x01", 2) < 0);
    /* antisymmetric over a set of tricky keys */
    const char *keys[] = {"a",   "a.", "a.b",   "a-b",   "a b",
                          "a/b", "ab", "a\x7f", "a\x80", "b"};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int x = mbcmp(keys[i], keys[j]), y = mbcmp(keys[j], keys[i]);
            CU_ASSERT((x < 0 && y > 0) || (x > 0 && y < 0) ||
                      (x == 0 && y == 0 && i == j));
        }
    }
}

static void test_backend_names(void)
{
    CU_ASSERT_TRUE(cyrusdb_backend_known("berkeley"));
    CU_ASSERT_TRUE(cyrusdb_backend_known("flat"));
    CU_ASSERT_TRUE(cyrusdb_backend_known("berkeley-nosync"));
    CU_ASSERT_FALSE(cyrusdb_backend_known("skiplist"));
    CU_ASSERT_FALSE(cyrusdb_backend_known(""));
    CU_ASSERT_FALSE(cyrusdb_backend_known(NULL));
    struct cyrusdb *db = (struct cyrusdb *)1;
    CU_ASSERT_EQUAL(cyrusdb_open("skiplist", "/tmp/x", CYRUSDB_CREATE, &db),
                    CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(db);
    CU_ASSERT_EQUAL(cyrusdb_open("flat", "", CYRUSDB_CREATE, &db), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_open("flat", NULL, CYRUSDB_CREATE, &db), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_remove("skiplist", "/tmp/x"), CYRERR_BADARGS);
}

static char *slurp(const char *path);

/* Run a tool of the build tree with arguments; returns its exit status. */
static int run_tool(const char *tool, const char *args)
{
    const char *top = getenv("TOP_BUILDDIR");
    char *cmd =
        xasprintf("%s/imap/tools/%s %s 2>/dev/null", top && *top ? top : ".", tool, args);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void test_tools(void)
{
    char *dir = xasprintf("%s/tools", harness_tmpdir());
    char *conf = xasprintf("%s/imapd.conf", dir);
    char *cfgdir = xasprintf("%s/conf", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(cfgdir, 0700), 0);
    FILE *f = fopen(conf, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "configdirectory: %s\n", cfgdir);
    fclose(f);
    const char *text = "shared\\tx\t\\0\nuser.a\tA\nuser.a.b\tB\nuser.a-b\tC\n";
    char *src = xasprintf("%s/mailboxes.db", dir);
    f = fopen(src, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);

    /* flat -> berkeley -> flat gives the same file back */
    char *args = xasprintf("-C %s %s flat %s/mailboxes.db berkeley", conf, src, cfgdir);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 0);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 73); /* exists */
    free(args);
    args = xasprintf("-C %s %s/mailboxes.db berkeley %s/back.db flat", conf, cfgdir, dir);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 0);
    free(args);
    char *back = xasprintf("%s/back.db", dir);
    char *got = slurp(back);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got) CU_ASSERT_STRING_EQUAL(got, text);
    free(got);
    args = xasprintf("-C %s -f %s/mailboxes.db berkeley %s flat", conf, cfgdir, back);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 0);
    free(args);
    args = xasprintf("-C %s %s skiplist %s/x.db flat", conf, src, dir);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 64);
    free(args);
    args = xasprintf("-C %s %s/none.db flat %s/x.db flat", conf, dir, dir);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 66);
    free(args);

    /* checkpoint, then recovery removing a stale temporary file */
    args = xasprintf("-C %s -c", conf);
    CU_ASSERT_EQUAL(run_tool("ctl_cyrusdb", args), 0);
    free(args);
    char *stale = xasprintf("%s/seen.db" CYRUSDB_TMP_MARK "AbC123", cfgdir);
    f = fopen(stale, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    args = xasprintf("-C %s -r", conf);
    CU_ASSERT_EQUAL(run_tool("ctl_cyrusdb", args), 0);
    free(args);
    struct stat st;
    CU_ASSERT_EQUAL(stat(stale, &st), -1);
    args = xasprintf("-C %s -r -c", conf);
    CU_ASSERT_EQUAL(run_tool("ctl_cyrusdb", args), 64);
    free(args);
    /* the converted database is intact after recovery */
    args = xasprintf("-C %s -f %s/mailboxes.db berkeley %s flat", conf, cfgdir, back);
    CU_ASSERT_EQUAL(run_tool("cvt_cyrusdb", args), 0);
    free(args);
    got = slurp(back);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got) CU_ASSERT_STRING_EQUAL(got, text);
    free(got);
    free(stale);
    free(back);
    free(src);
    free(cfgdir);
    free(conf);
    free(dir);
}

/* ---- run over every backend ------------------------------------------------------ */

static void test_store_fetch_delete(void)
{
    char *path = newpath("basic");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct buf b = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(put(db, "alpha", "1", NULL), 0);
    CU_ASSERT_TRUE(has(db, "alpha", "1", NULL));
    CU_ASSERT_EQUAL(put(db, "alpha", "22", NULL), 0);
    CU_ASSERT_TRUE(has(db, "alpha", "22", NULL));
    buf_setcstr(&b, "stale");
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "beta", 4, &b, NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "alph", 4, &b, NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "alphaa", 6, &b, NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(put(db, "beta", "b", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "alpha", 5, NULL), 0);
    CU_ASSERT_EQUAL(fetch_rc(db, "alpha", NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "alpha", 5, NULL), CYRERR_NOTFOUND);
    CU_ASSERT_TRUE(has(db, "beta", "b", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    /* persisted; and a missing database without CREATE is NOTFOUND */
    db = xopen(path, 0);
    CU_ASSERT_TRUE(has(db, "beta", "b", NULL));
    CU_ASSERT_EQUAL(fetch_rc(db, "alpha", NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(count_all(db), 1);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    char *missing = newpath("missing");
    struct cyrusdb *none = NULL;
    CU_ASSERT_EQUAL(cyrusdb_open(backend, missing, 0, &none), CYRERR_NOTFOUND);
    CU_ASSERT_PTR_NULL(none);
    /* CREATE makes the directories too */
    char *deep = xasprintf("%s/d1/d2/deep.db", suitedir);
    db = xopen(deep, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(count_all(db), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    buf_free(&b);
    free(deep);
    free(missing);
    free(path);
}

static void test_nooverwrite(void)
{
    char *path = newpath("noover");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(put(db, "k", "v1", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k", 1, "v2", 2, CYRUSDB_NOOVERWRITE, NULL),
                    CYRERR_EXISTS);
    CU_ASSERT_TRUE(has(db, "k", "v1", NULL));
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k2", 2, "v2", 2, CYRUSDB_NOOVERWRITE, NULL), 0);
    CU_ASSERT_TRUE(has(db, "k2", "v2", NULL));
    /* inside a transaction EXISTS does not end it */
    struct cyrusdb_txn *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k", 1, "v3", 2, CYRUSDB_NOOVERWRITE, t),
                    CYRERR_EXISTS);
    CU_ASSERT_EQUAL(put(db, "k3", "v3", t), 0);
    CU_ASSERT_EQUAL(cyrusdb_commit(db, t), 0);
    CU_ASSERT_TRUE(has(db, "k", "v1", NULL));
    CU_ASSERT_TRUE(has(db, "k3", "v3", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_bad_args(void)
{
    char *path = newpath("badargs");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct buf b = BUF_INITIALIZER;
    struct cyrusdb *x = NULL;
    CU_ASSERT_EQUAL(cyrusdb_open(backend, path, 0x100, &x), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "", 0, "v", 1, 0, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_store(db, NULL, 3, "v", 1, 0, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k", 1, NULL, 5, 0, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k", 1, "v", 1, 0x40, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "", 0, &b, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "k", 1, NULL, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "", 0, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "", 0, NULL, NULL, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, NULL, 2, count_cb, NULL, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_begin(db, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_commit(db, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_abort(db, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_close(NULL), 0);
    CU_ASSERT_EQUAL(count_all(db), 0);
    CU_ASSERT_EQUAL(put(db, "k", "v", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    /* read-only handles read but refuse writes */
    db = xopen(path, CYRUSDB_READONLY);
    CU_ASSERT_TRUE(has(db, "k", "v", NULL));
    CU_ASSERT_EQUAL(put(db, "k", "w", NULL), CYRERR_PERMISSION);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "k", 1, NULL), CYRERR_PERMISSION);
    CU_ASSERT_TRUE(has(db, "k", "v", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    buf_free(&b);
    free(path);
}

static const char *const binkeys[] = {
    "a\tb", "a\nb", "\\", "\\t", "tab\t", "\r\n", "\xff\xfe", "back\\slash\\",
};

static void binval(struct buf *b, size_t i)
{
    buf_reset(b);
    for (int c = 0; c < 256; c++)
        buf_putc(b, (char)((c + (int)i) & 0xff));
    buf_appendcstr(b, "\t\n\\0\\");
}

static void test_binary(void)
{
    char *path = newpath("binary");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct buf v = BUF_INITIALIZER, got = BUF_INITIALIZER;
    size_t n = sizeof(binkeys) / sizeof(binkeys[0]);
    for (size_t i = 0; i < n; i++) {
        binval(&v, i);
        CU_ASSERT_EQUAL(cyrusdb_store(db, binkeys[i], strlen(binkeys[i]), buf_base(&v),
                                      buf_len(&v), 0, NULL),
                        0);
    }
    /* keys with NUL bytes, one a prefix of the other */
    CU_ASSERT_EQUAL(cyrusdb_store(db, "n\0ul", 4, "x\0y", 3, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "n\0", 2, "\0", 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "n", 1, "plain", 5, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    db = xopen(path, 0);
    for (size_t i = 0; i < n; i++) {
        binval(&v, i);
        CU_ASSERT_EQUAL(cyrusdb_fetch(db, binkeys[i], strlen(binkeys[i]), &got, NULL), 0);
        CU_ASSERT_EQUAL(buf_cmp(&got, &v), 0);
    }
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "n\0ul", 4, &got, NULL), 0);
    CU_ASSERT(buf_len(&got) == 3 && !memcmp(buf_base(&got), "x\0y", 3));
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "n\0", 2, &got, NULL), 0);
    CU_ASSERT(buf_len(&got) == 1 && buf_base(&got)[0] == '\0');
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "n\0u", 3, &got, NULL), CYRERR_NOTFOUND);
    CU_ASSERT_TRUE(has(db, "n", "plain", NULL));
    CU_ASSERT_EQUAL(count_all(db), (int)n + 3);
    /* prefix with a NUL in it */
    struct collect c = {BUF_INITIALIZER, 0, 0};
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "n\0", 2, collect_cb, &c, NULL), 0);
    CU_ASSERT_EQUAL(c.count, 2);
    CU_ASSERT(buf_len(&c.out) == 14 &&
              !memcmp(buf_base(&c.out), "n\0=\0;n\0ul=x\0y;", 14));
    buf_free(&c.out);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);

    if (!is_berkeley()) {
        /* every record is one line in the file */
        FILE *f = fopen(path, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        int lines = 0, ch;
        while ((ch = fgetc(f)) != EOF)
            if (ch == '\n') lines++;
        fclose(f);
        CU_ASSERT_EQUAL(lines, (int)n + 3);
    }
    buf_free(&v);
    buf_free(&got);
    free(path);
}

static void test_empty_value(void)
{
    char *path = newpath("empty");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k", 1, "", 0, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "n", 1, NULL, 0, 0, NULL), 0);
    buf_setcstr(&b, "junk");
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "k", 1, &b, NULL), 0);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "");
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "n", 1, &b, NULL), 0);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    db = xopen(path, 0);
    char *l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "k=;n=;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    buf_free(&b);
    free(path);
}

static void test_foreach_prefix(void)
{
    char *path = newpath("prefix");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    const char *keys[] = {"abd", "b", "a", "abc", "ba", "ab"};
    for (size_t i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(put(db, keys[i], keys[i], NULL), 0);
    char *l = listing(db, "ab", NULL);
    CU_ASSERT_STRING_EQUAL(l, "ab=ab;abc=abc;abd=abd;");
    free(l);
    l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "a=a;ab=ab;abc=abc;abd=abd;b=b;ba=ba;");
    free(l);
    l = listing(db, "abc", NULL);
    CU_ASSERT_STRING_EQUAL(l, "abc=abc;");
    free(l);
    l = listing(db, "zz", NULL);
    CU_ASSERT_STRING_EQUAL(l, "");
    free(l);
    l = listing(db, "abcd", NULL);
    CU_ASSERT_STRING_EQUAL(l, "");
    free(l);
    l = listing(db, "0", NULL);
    CU_ASSERT_STRING_EQUAL(l, "");
    free(l);

    /* early stop: the callback's value comes back */
    struct collect c = {BUF_INITIALIZER, 0, 2};
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "", 0, collect_cb, &c, NULL), 42);
    CU_ASSERT_EQUAL(c.count, 2);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&c.out), "a=a;ab=ab;");
    buf_free(&c.out);
    c.count = 0;
    c.stop_after = 1;
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "b", 1, collect_cb, &c, NULL), 42);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&c.out), "b=b;");
    buf_free(&c.out);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* Store keys (in the given order) and check foreach returns `expect`. */
static void check_order(int flags, const char *const *keys, size_t n, const char *expect)
{
    char *path = newpath("order");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE | flags);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(cyrusdb_store(db, keys[i], strlen(keys[i]), "", 0, 0, NULL), 0);
    char *l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, expect);
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    /* the order survives a reopen, and every key is found */
    db = xopen(path, flags);
    l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, expect);
    free(l);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_TRUE(has(db, keys[i], "", NULL));
    CU_ASSERT_EQUAL(fetch_rc(db, "user.a.", NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_order_plain(void)
{
    const char *keys[] = {"b", "a.b", "\x80", "a", "ab", "A", "aa", "a-b", "a b"};
    check_order(0, keys, sizeof(keys) / sizeof(keys[0]),
                "A=;a=;a b=;a-b=;a.b=;aa=;ab=;b=;\x80=;");
}

static void test_order_mboxsort(void)
{
    const char *keys[] = {"user.b",     "user.a-b", "user.aa",  "user.a",      "user.a b",
                          "user.a.b.c", "user",     "user.a.b", "user.a.\xff", "shared"};
    check_order(CYRUSDB_MBOXSORT, keys, sizeof(keys) / sizeof(keys[0]),
                "shared=;user=;user.a=;user.a.b=;user.a.b.c=;user.a.\xff=;"
                "user.a b=;user.a-b=;user.aa=;user.b=;");
    /* prefix listing of a mailbox's children */
    char *path = newpath("mboxprefix");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE | CYRUSDB_MBOXSORT);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CU_ASSERT_EQUAL(put(db, keys[i], "x", NULL), 0);
    char *l = listing(db, "user.a.", NULL);
    CU_ASSERT_STRING_EQUAL(l, "user.a.b=x;user.a.b.c=x;user.a.\xff=x;");
    free(l);
    l = listing(db, "user.a", NULL);
    CU_ASSERT_STRING_EQUAL(l, "user.a=x;user.a.b=x;user.a.b.c=x;user.a.\xff=x;"
                              "user.a b=x;user.a-b=x;user.aa=x;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_txn_commit(void)
{
    char *path = newpath("commit");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct cyrusdb *other = xopen(path, 0);
    CU_ASSERT_EQUAL(put(db, "z", "old", NULL), 0);
    struct cyrusdb_txn *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(put(db, "a", "1", t), 0);
    CU_ASSERT_EQUAL(put(db, "b", "2", t), 0);
    CU_ASSERT_EQUAL(put(db, "c", "3", t), 0);
    CU_ASSERT_EQUAL(put(db, "b", "22", t), 0);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "z", 1, t), 0);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "q", 1, t), CYRERR_NOTFOUND);
    /* the transaction sees its own writes */
    CU_ASSERT_TRUE(has(db, "b", "22", t));
    CU_ASSERT_EQUAL(fetch_rc(db, "z", t), CYRERR_NOTFOUND);
    char *l = listing(db, "", t);
    CU_ASSERT_STRING_EQUAL(l, "a=1;b=22;c=3;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_commit(db, t), 0);
    /* visible through another handle, and after reopening */
    l = listing(other, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "a=1;b=22;c=3;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(other), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    db = xopen(path, 0);
    l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "a=1;b=22;c=3;");
    free(l);
    /* an empty transaction */
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    CU_ASSERT_EQUAL(cyrusdb_commit(db, t), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_txn_abort(void)
{
    char *path = newpath("abort");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct cyrusdb *other = xopen(path, 0);
    CU_ASSERT_EQUAL(put(db, "x", "1", NULL), 0);
    CU_ASSERT_EQUAL(put(db, "d", "keep", NULL), 0);
    struct cyrusdb_txn *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    CU_ASSERT_EQUAL(put(db, "x", "2", t), 0);
    CU_ASSERT_EQUAL(put(db, "y", "new", t), 0);
    CU_ASSERT_EQUAL(cyrusdb_delete(db, "d", 1, t), 0);
    CU_ASSERT_TRUE(has(db, "x", "2", t));
    CU_ASSERT_TRUE(has(db, "y", "new", t));
    CU_ASSERT_EQUAL(cyrusdb_abort(db, t), 0);
    CU_ASSERT_TRUE(has(db, "x", "1", NULL));
    CU_ASSERT_TRUE(has(db, "d", "keep", NULL));
    CU_ASSERT_EQUAL(fetch_rc(db, "y", NULL), CYRERR_NOTFOUND);
    char *l = listing(other, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "d=keep;x=1;");
    free(l);
    /* the handle still writes normally afterwards */
    CU_ASSERT_EQUAL(put(db, "y", "later", NULL), 0);
    CU_ASSERT_TRUE(has(other, "y", "later", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(other), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    db = xopen(path, 0);
    l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "d=keep;x=1;y=later;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* foreach in a transaction whose callback rewrites the records it visits */
struct move_rock {
    struct cyrusdb *db;
    struct cyrusdb_txn *txn;
    int seen;
    int err;
};

static int move_cb(void *rock, const char *k, size_t kl, const char *v, size_t vl)
{
    struct move_rock *m = rock;
    char *nk = xasprintf("new/%.*s", (int)kl, k);
    char *key = xstrndup(k, kl);
    m->seen++;
    if (cyrusdb_store(m->db, nk, strlen(nk), v, vl, 0, m->txn)) m->err++;
    if (cyrusdb_delete(m->db, key, kl, m->txn)) m->err++;
    /* a key after the current one, inside the prefix, appears later */
    if (!strcmp(key, "old/2") && cyrusdb_store(m->db, "old/25", 6, "x", 1, 0, m->txn))
        m->err++;
    free(nk);
    free(key);
    return 0;
}

static void test_txn_foreach_writes(void)
{
    char *path = newpath("txnforeach");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    for (int i = 1; i <= 5; i++) {
        char k[16];
        snprintf(k, sizeof(k), "old/%d", i);
        CU_ASSERT_EQUAL(put(db, k, k, NULL), 0);
    }
    struct move_rock m = {db, NULL, 0, 0};
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &m.txn), 0);
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "old/", 4, move_cb, &m, m.txn), 0);
    CU_ASSERT_EQUAL(m.err, 0);
    CU_ASSERT_EQUAL(m.seen, 6);
    CU_ASSERT_EQUAL(cyrusdb_commit(db, m.txn), 0);
    char *l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "new/old/1=old/1;new/old/2=old/2;new/old/25=x;"
                              "new/old/3=old/3;new/old/4=old/4;new/old/5=old/5;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_two_handles(void)
{
    char *path = newpath("two");
    struct cyrusdb *a = xopen(path, CYRUSDB_CREATE);
    struct cyrusdb *b = xopen(path, 0);
    CU_ASSERT_EQUAL(put(a, "k1", "from-a", NULL), 0);
    CU_ASSERT_TRUE(has(b, "k1", "from-a", NULL));
    CU_ASSERT_EQUAL(cyrusdb_delete(b, "k1", 2, NULL), 0);
    CU_ASSERT_EQUAL(fetch_rc(a, "k1", NULL), CYRERR_NOTFOUND);
    struct cyrusdb_txn *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(b, &t), 0);
    CU_ASSERT_EQUAL(put(b, "k2", "from-b", t), 0);
    CU_ASSERT_EQUAL(cyrusdb_commit(b, t), 0);
    CU_ASSERT_TRUE(has(a, "k2", "from-b", NULL));
    CU_ASSERT_EQUAL(put(a, "k3", "3", NULL), 0);
    char *l = listing(b, "k", NULL);
    CU_ASSERT_STRING_EQUAL(l, "k2=from-b;k3=3;");
    free(l);
    CU_ASSERT_EQUAL(cyrusdb_close(a), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(b), 0);
    free(path);
}

struct fork_rock {
    struct cyrusdb *inherited;
    const char *path;
};

/* In a child: read through the inherited handle and a new one, write. */
static int fork_child(void *arg)
{
    struct fork_rock *f = arg;
    if (!has(f->inherited, "parent", "p1", NULL)) return 1;
    if (put(f->inherited, "child", "c1", NULL)) return 2;
    struct cyrusdb *db = NULL;
    if (cyrusdb_open(backend, f->path, 0, &db)) return 3;
    if (!has(db, "child", "c1", NULL)) return 4;
    if (!has(db, "parent", "p1", NULL)) return 5;
    struct cyrusdb_txn *t = NULL;
    if (cyrusdb_begin(db, &t)) return 6;
    if (put(db, "child2", "c2", t)) return 7;
    if (cyrusdb_commit(db, t)) return 8;
    if (cyrusdb_close(db)) return 9;
    return 0;
}

static void test_fork(void)
{
    char *path = newpath("fork");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(put(db, "parent", "p1", NULL), 0);
    struct fork_rock f = {db, path};
    CU_ASSERT_EQUAL(run_child(fork_child, &f), 0);
    /* the parent's open handle sees the child's commits */
    CU_ASSERT_TRUE(has(db, "child", "c1", NULL));
    CU_ASSERT_TRUE(has(db, "child2", "c2", NULL));
    CU_ASSERT_EQUAL(put(db, "parent", "p2", NULL), 0);
    CU_ASSERT_TRUE(has(db, "parent", "p2", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_large_value(void)
{
    char *path = newpath("large");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    struct buf big = BUF_INITIALIZER, got = BUF_INITIALIZER;
    for (size_t i = 0; i < 1024 * 1024; i++)
        buf_putc(&big, (char)((i * 7 + i / 251) & 0xff));
    CU_ASSERT_EQUAL(cyrusdb_store(db, "big", 3, buf_base(&big), buf_len(&big), 0, NULL),
                    0);
    CU_ASSERT_EQUAL(put(db, "small", "s", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "big", 3, &got, NULL), 0);
    CU_ASSERT_EQUAL(buf_cmp(&got, &big), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    db = xopen(path, 0);
    buf_reset(&got);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, "big", 3, &got, NULL), 0);
    CU_ASSERT_EQUAL(buf_cmp(&got, &big), 0);
    struct collect c = {BUF_INITIALIZER, 0, 0};
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "", 0, collect_cb, &c, NULL), 0);
    CU_ASSERT_EQUAL(c.count, 2);
    CU_ASSERT_EQUAL(buf_len(&c.out), 1024 * 1024 + strlen("big=;small=s;"));
    buf_free(&c.out);
    /* a 1 MB key too */
    CU_ASSERT_EQUAL(cyrusdb_store(db, buf_base(&big), buf_len(&big), "k", 1, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_fetch(db, buf_base(&big), buf_len(&big), &got, NULL), 0);
    CU_ASSERT_TRUE(buf_equalcstr(&got, "k"));
    CU_ASSERT_EQUAL(put(db, "big", "now small", NULL), 0);
    CU_ASSERT_TRUE(has(db, "big", "now small", NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    buf_free(&big);
    buf_free(&got);
    free(path);
}

/* foreach checker: keys strictly ascending (plain order), count them */
struct asc_rock {
    struct buf last;
    int count;
    int bad;
};

static int asc_cb(void *rock, const char *k, size_t kl, const char *v, size_t vl)
{
    struct asc_rock *a = rock;
    if (a->count) {
        size_t n = kl < a->last.len ? kl : a->last.len;
        int c = memcmp(a->last.s, k, n);
        if (c > 0 || (c == 0 && a->last.len >= kl)) a->bad++;
    }
    /* values hold the key's number */
    if (vl < 1 || kl < 6 || memcmp(v, k + 3, vl)) a->bad++;
    buf_setmap(&a->last, k, kl);
    a->count++;
    return 0;
}

static void test_many_records(void)
{
    enum { N = 20000, BATCH = 2000 };
    char *path = newpath("many");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    time_t start = time(NULL);
    unsigned x = 12345;
    struct cyrusdb_txn *t = NULL;
    for (int i = 0; i < N; i++) {
        /* a permutation of 0..N-1: (i * 7919) mod N, 7919 prime to N */
        unsigned k = (unsigned)(((unsigned long)i * 7919u) % N);
        char key[32], val[16];
        snprintf(key, sizeof(key), "key%06u", k);
        snprintf(val, sizeof(val), "%06u", k);
        if (i % BATCH == 0) CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
        CU_ASSERT_EQUAL(put(db, key, val, t), 0);
        if (i % BATCH == BATCH - 1) CU_ASSERT_EQUAL_FATAL(cyrusdb_commit(db, t), 0);
    }
    struct asc_rock a = {BUF_INITIALIZER, 0, 0};
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "key", 3, asc_cb, &a, NULL), 0);
    CU_ASSERT_EQUAL(a.count, N);
    CU_ASSERT_EQUAL(a.bad, 0);
    for (int i = 0; i < 200; i++) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % N;
        char key[32], val[16];
        snprintf(key, sizeof(key), "key%06u", k);
        snprintf(val, sizeof(val), "%06u", k);
        CU_ASSERT_TRUE(has(db, key, val, NULL));
    }
    CU_ASSERT_EQUAL(fetch_rc(db, "key020000", NULL), CYRERR_NOTFOUND);
    /* delete the even ones in one transaction */
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    for (int k = 0; k < N; k += 2) {
        char key[32];
        snprintf(key, sizeof(key), "key%06d", k);
        CU_ASSERT_EQUAL(cyrusdb_delete(db, key, strlen(key), t), 0);
    }
    CU_ASSERT_EQUAL(cyrusdb_commit(db, t), 0);
    CU_ASSERT_EQUAL(count_all(db), N / 2);
    /* a prefix in the middle: key0100xx */
    buf_reset(&a.last);
    a.count = a.bad = 0;
    CU_ASSERT_EQUAL(cyrusdb_foreach(db, "key0100", 7, asc_cb, &a, NULL), 0);
    CU_ASSERT_EQUAL(a.count, 50);
    CU_ASSERT_EQUAL(a.bad, 0);
    buf_free(&a.last);
    CU_ASSERT(time(NULL) - start < 20);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* ---- concurrency: threads and processes incrementing one counter ----------------- */

/* Add 1 to the counter "n" in a transaction, retrying deadlocks. */
static int increment(struct cyrusdb *db)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        struct cyrusdb_txn *t = NULL;
        struct buf b = BUF_INITIALIZER;
        int r = cyrusdb_begin(db, &t);
        if (r) return r;
        r = cyrusdb_fetch(db, "n", 1, &b, t);
        long v = r == CYRERR_NOTFOUND ? 0 : atol(buf_cstring(&b));
        if (!r || r == CYRERR_NOTFOUND) {
            char s[32];
            snprintf(s, sizeof(s), "%ld", v + 1);
            r = put(db, "n", s, t);
        }
        buf_free(&b);
        if (!r) {
            r = cyrusdb_commit(db, t);
            if (r != CYRERR_DEADLOCK) return r;
            continue;
        }
        cyrusdb_abort(db, t);
        if (r != CYRERR_DEADLOCK) return r;
    }
    return CYRERR_DEADLOCK;
}

enum { WORKERS = 3, INCREMENTS = 20 };

struct worker {
    struct cyrusdb *db;
    int err;
};

static void *thread_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < INCREMENTS && !w->err; i++)
        w->err = increment(w->db);
    return NULL;
}

static int process_worker(void *arg)
{
    const char *path = arg;
    struct cyrusdb *db = NULL;
    if (cyrusdb_open(backend, path, 0, &db)) return 1;
    for (int i = 0; i < INCREMENTS; i++)
        if (increment(db)) return 2;
    return cyrusdb_close(db) ? 3 : 0;
}

static void test_concurrent_increments(void)
{
    char *path = newpath("counter");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    /* threads sharing one handle */
    pthread_t th[WORKERS];
    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].db = db;
        w[i].err = 0;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, thread_worker, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(w[i].err, 0);
    }
    char expect[32];
    snprintf(expect, sizeof(expect), "%d", WORKERS * INCREMENTS);
    CU_ASSERT_TRUE(has(db, "n", expect, NULL));

    /* processes with their own handles */
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            int r = process_worker(path);
            cyrusdb_done();
            _exit(r);
        }
        CU_ASSERT_FATAL(pids[i] > 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        int st;
        CU_ASSERT_EQUAL(waitpid(pids[i], &st, 0), pids[i]);
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    snprintf(expect, sizeof(expect), "%d", 2 * WORKERS * INCREMENTS);
    CU_ASSERT_TRUE(has(db, "n", expect, NULL));
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* ---- crash: SIGKILL a writer at random moments ------------------------------------ */

enum { CRASH_KEYS = 3 };

/* The child: transactions of CRASH_KEYS records "t<i>/<j>" and a marker
 * "m<i>", each reported on the pipe after its commit returned. */
static void crash_child(const char *path, int first, int fd)
{
    if (is_berkeley() && cyrusdb_init(envdir)) _exit(10);
    struct cyrusdb *db = NULL;
    if (cyrusdb_open(backend, path, CYRUSDB_CREATE, &db)) _exit(11);
    for (int i = first; i < first + 100000; i++) {
        struct cyrusdb_txn *t = NULL;
        if (cyrusdb_begin(db, &t)) _exit(12);
        char k[32], v[32];
        snprintf(v, sizeof(v), "%d", i);
        for (int j = 0; j < CRASH_KEYS; j++) {
            snprintf(k, sizeof(k), "t%07d/%d", i, j);
            if (put(db, k, v, t)) _exit(13);
        }
        snprintf(k, sizeof(k), "m%07d", i);
        if (put(db, k, v, t)) _exit(14);
        if (cyrusdb_commit(db, t)) _exit(15);
        if (write(fd, &i, sizeof(i)) != sizeof(i)) _exit(16);
    }
    _exit(17);
}

struct crash_check {
    int groups[4096]; /* records seen per transaction number (mod) */
    int markers;
    int records;
    int max;
};

static int crash_cb(void *rock, const char *k, size_t kl, const char *v, size_t vl)
{
    struct crash_check *c = rock;
    char *val = xstrndup(v, vl);
    int i = atoi(val);
    free(val);
    if (i > c->max) c->max = i;
    c->groups[i % 4096]++;
    c->records++;
    if (kl && k[0] == 'm') c->markers++;
    return 0;
}

static void test_crash(void)
{
    char *path = newpath("crash");
    int next = 0, reported_max = -1;
    unsigned seed = 4242;
    for (int round = 0; round < 4; round++) {
        int p[2];
        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        /* a Berkeley parent leaves the environment before the child dies in
         * it; opening it again afterwards runs recovery */
        if (is_berkeley()) cyrusdb_done();
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            crash_child(path, next, p[1]);
        }
        CU_ASSERT_FATAL(pid > 0);
        close(p[1]);
        seed = seed * 1103515245u + 12345u;
        int want = 3 + (int)((seed >> 8) % 40);
        int got = 0, i;
        while (got < want && read(p[0], &i, sizeof(i)) == sizeof(i)) {
            got++;
            reported_max = i;
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)((seed >> 8) % 3000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
        CU_ASSERT_TRUE(WIFSIGNALED(st));
        /* everything reported before the kill was committed */
        while (read(p[0], &i, sizeof(i)) == sizeof(i))
            reported_max = i;
        close(p[0]);
        CU_ASSERT_FATAL(reported_max >= 0);

        if (is_berkeley()) CU_ASSERT_EQUAL_FATAL(cyrusdb_init(envdir), 0);
        struct cyrusdb *db = xopen(path, 0);
        struct crash_check *c = xzmalloc(sizeof(*c));
        CU_ASSERT_EQUAL(cyrusdb_foreach(db, "", 0, crash_cb, c, NULL), 0);
        /* every transaction is whole, and every reported one is there */
        for (int g = 0; g <= c->max; g++)
            CU_ASSERT_EQUAL(c->groups[g % 4096], CRASH_KEYS + 1);
        CU_ASSERT(c->max >= reported_max && c->max <= reported_max + 1);
        CU_ASSERT_EQUAL(c->markers, c->max + 1);
        CU_ASSERT_EQUAL(c->records, (c->max + 1) * (CRASH_KEYS + 1));
        char k[32], v[32];
        snprintf(k, sizeof(k), "m%07d", reported_max);
        snprintf(v, sizeof(v), "%d", reported_max);
        CU_ASSERT_TRUE(has(db, k, v, NULL));
        next = c->max + 1;
        free(c);
        CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
        if (next >= 4000) break; /* the groups table wraps */
    }
    free(path);
}

static void test_remove(void)
{
    char *path = newpath("remove");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(put(db, "k", "v", NULL), 0);
    if (is_berkeley()) CU_ASSERT_EQUAL(cyrusdb_remove(backend, path), CYRERR_LOCKED);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    CU_ASSERT_EQUAL(cyrusdb_remove(backend, path), 0);
    struct cyrusdb *none = NULL;
    CU_ASSERT_EQUAL(cyrusdb_open(backend, path, 0, &none), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(cyrusdb_remove(backend, path), CYRERR_NOTFOUND);
    db = xopen(path, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(count_all(db), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* ---- flat only ----------------------------------------------------------------------
 */

static char *slurp(const char *path)
{
    struct buf b = BUF_INITIALIZER;
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    int c;
    while ((c = fgetc(f)) != EOF)
        buf_putc(&b, (char)c);
    fclose(f);
    return buf_release(&b);
}

static void spit(const char *path, const char *text)
{
    char *tmp = xasprintf("%s.spit", path);
    FILE *f = fopen(tmp, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    CU_ASSERT_EQUAL(rename(tmp, path), 0);
    free(tmp);
}

static void test_flat_format(void)
{
    char *dir = xasprintf("%s/format", suitedir);
    char *path = xasprintf("%s/format.db", dir);
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "a\tb", 3, "c\nd\r", 4, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "k\\", 2, "", 0, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "n\0", 2, "\0z", 2, 0, NULL), 0);
    char *text = slurp(path);
    CU_ASSERT_STRING_EQUAL(text, "a\\tb\tc\\nd\\r\nk\\\\\t\nn\\0\t\\0z\n");
    free(text);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    /* no temporary file is left behind */
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        CU_ASSERT_STRING_EQUAL(de->d_name, "format.db");
        files++;
    }
    closedir(d);
    CU_ASSERT_EQUAL(files, 1);
    free(path);
    free(dir);
}

static void test_flat_corrupt(void)
{
    const char *bad[] = {
        "nokeytab\n", "a\tb", "a\\x\tb\n", "a\t1\na\t2\n", "\t1\n", "a\t1\\\n",
    };
    char *path = newpath("corrupt");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spit(path, bad[i]);
        struct cyrusdb *db = NULL;
        CU_ASSERT_EQUAL(cyrusdb_open("flat", path, 0, &db), CYRERR_CORRUPT);
        CU_ASSERT_PTR_NULL(db);
    }
    /* an unsorted file is read in order */
    spit(path, "b\t2\na\t1\nc\\t\t3\n");
    struct cyrusdb *db = xopen(path, 0);
    char *l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "a=1;b=2;c\t=3;");
    free(l);
    /* a file replaced behind the handle's back is re-read */
    spit(path, "x\t9\n");
    l = listing(db, "", NULL);
    CU_ASSERT_STRING_EQUAL(l, "x=9;");
    free(l);
    /* and a corrupt replacement is reported, not half-read */
    spit(path, "y\t1\nbroken\n");
    CU_ASSERT_EQUAL(fetch_rc(db, "y", NULL), CYRERR_CORRUPT);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* ---- Berkeley only ------------------------------------------------------------------
 */

struct dl_rock {
    struct cyrusdb *db;
    const char *first, *second;
    pthread_barrier_t *barrier;
    int result;
};

static void *deadlock_thread(void *arg)
{
    struct dl_rock *d = arg;
    struct cyrusdb_txn *t = NULL;
    d->result = cyrusdb_begin(d->db, &t);
    if (d->result) {
        pthread_barrier_wait(d->barrier);
        return NULL;
    }
    d->result = put(d->db, d->first, "mine", t);
    pthread_barrier_wait(d->barrier);
    if (!d->result) d->result = put(d->db, d->second, "mine", t);
    if (!d->result)
        d->result = cyrusdb_commit(d->db, t);
    else
        cyrusdb_abort(d->db, t);
    return NULL;
}

static void test_berkeley_deadlock(void)
{
    char *path = newpath("deadlock");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE);
    /* enough records that the two keys live on different pages */
    struct cyrusdb_txn *t = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_begin(db, &t), 0);
    char val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%05d", i);
        CU_ASSERT_EQUAL(put(db, k, val, t), 0);
    }
    CU_ASSERT_EQUAL(cyrusdb_commit(db, t), 0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct dl_rock a = {db, "k00000", "k01999", &barrier, -1};
    struct dl_rock b = {db, "k01999", "k00000", &barrier, -1};
    pthread_t ta, tb;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&ta, NULL, deadlock_thread, &a), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&tb, NULL, deadlock_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    /* exactly one lost, with DEADLOCK; the other committed */
    int lost = (a.result == CYRERR_DEADLOCK) + (b.result == CYRERR_DEADLOCK);
    int won = (a.result == 0) + (b.result == 0);
    CU_ASSERT_EQUAL(lost, 1);
    CU_ASSERT_EQUAL(won, 1);
    CU_ASSERT_TRUE(has(db, "k00000", "mine", NULL));
    CU_ASSERT_TRUE(has(db, "k01999", "mine", NULL));
    CU_ASSERT_EQUAL(count_all(db), 2000);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* A child that commits one record, writes another in an open transaction,
 * tells the parent, and waits to be killed. */
static void holder_child(const char *path, int fd)
{
    struct cyrusdb *db = NULL;
    struct cyrusdb_txn *t = NULL;
    if (cyrusdb_open("berkeley", path, 0, &db)) _exit(1);
    if (put(db, "committed", "yes", NULL)) _exit(2);
    if (cyrusdb_begin(db, &t)) _exit(3);
    if (put(db, "uncommitted", "no", t)) _exit(4);
    if (put(db, "shared", "child", t)) _exit(5);
    if (write(fd, "x", 1) != 1) _exit(6);
    for (;;)
        pause();
}

static int opener_child(void *arg)
{
    (void)arg;
    /* a new process entering the environment notices the dead one */
    if (cyrusdb_init(envdir)) return 1;
    return 0;
}

/* The test process keeps the environment open while another process dies
 * in it holding locks; a third process's open recovers the environment,
 * and this process carries on transparently (its open transaction is lost). */
static int live_recovery(void *arg)
{
    const char *path = arg;
    struct cyrusdb *db = NULL;
    if (cyrusdb_init(envdir)) return 19;
    if (cyrusdb_open("berkeley", path, CYRUSDB_CREATE, &db)) return 20;
    if (put(db, "shared", "parent", NULL)) return 21;
    /* this process's own transaction, on another database (so that it
     * does not block the child) */
    char *minepath = xasprintf("%s.mine", path);
    struct cyrusdb *minedb = NULL;
    struct cyrusdb_txn *mine = NULL;
    int r = cyrusdb_open("berkeley", minepath, CYRUSDB_CREATE, &minedb);
    free(minepath);
    if (r) return 35;
    if (cyrusdb_begin(minedb, &mine)) return 22;
    if (put(minedb, "parent-txn", "lost", mine)) return 23;
    int p[2];
    if (pipe(p)) return 24;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        holder_child(path, p[1]);
    }
    char c;
    if (read(p[0], &c, 1) != 1) return 25;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(p[1]);
    if (run_child(opener_child, NULL) != 0) return 26;
    /* the open transaction is gone; the handle works */
    if (put(minedb, "parent-txn2", "x", mine) != CYRERR_DEADLOCK) return 27;
    if (cyrusdb_abort(minedb, mine)) return 36;
    if (fetch_rc(minedb, "parent-txn", NULL) != CYRERR_NOTFOUND) return 31;
    if (cyrusdb_close(minedb)) return 37;
    if (!has(db, "committed", "yes", NULL)) return 28;
    if (fetch_rc(db, "uncommitted", NULL) != CYRERR_NOTFOUND) return 29;
    if (!has(db, "shared", "parent", NULL)) return 30;
    if (put(db, "shared", "after", NULL)) return 32;
    if (!has(db, "shared", "after", NULL)) return 33;
    if (cyrusdb_close(db)) return 34;
    return 0;
}

static void test_berkeley_live_recovery(void)
{
    char *path = newpath("liverecovery");
    /* in a child of its own: a panicked environment cannot be closed
     * without leaking, which the leak checker would report; this process
     * stays out of the environment meanwhile for the same reason */
    cyrusdb_done();
    CU_ASSERT_EQUAL(run_child(live_recovery, path), 0);
    CU_ASSERT_EQUAL_FATAL(cyrusdb_init(envdir), 0);
    struct cyrusdb *db = xopen(path, 0);
    CU_ASSERT_TRUE(has(db, "shared", "after", NULL));
    CU_ASSERT_EQUAL(fetch_rc(db, "uncommitted", NULL), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

static void test_berkeley_checkpoint_recover(void)
{
    char *path = newpath("ckp");
    struct cyrusdb *db = xopen(path, CYRUSDB_CREATE | CYRUSDB_MBOXSORT);
    CU_ASSERT_EQUAL(put(db, "user.a", "1", NULL), 0);
    CU_ASSERT_EQUAL(put(db, "user.a-b", "2", NULL), 0);
    CU_ASSERT_EQUAL(put(db, "user.a.b", "3", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_checkpoint(), 0);
    CU_ASSERT_PTR_NOT_NULL(cyrusdb_dbdir());
    /* recovery with a handle open in this process: the handle survives */
    CU_ASSERT_EQUAL(cyrusdb_recover(envdir), 0);
    CU_ASSERT_TRUE(has(db, "user.a.b", "3", NULL));
    char *l = listing(db, "user.a", NULL);
    CU_ASSERT_STRING_EQUAL(l, "user.a=1;user.a.b=3;user.a-b=2;");
    free(l);
    CU_ASSERT_EQUAL(put(db, "user.b", "4", NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_checkpoint(), 0);
    /* the environment holds its logs */
    DIR *d = opendir(envdir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int logs = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "log.", 4)) logs++;
    closedir(d);
    CU_ASSERT(logs >= 1);
    /* a second environment directory is refused while handles are open */
    char *other = xasprintf("%s/otherenv", harness_tmpdir());
    CU_ASSERT_EQUAL(cyrusdb_init(other), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(cyrusdb_init(envdir), 0);
    free(other);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    free(path);
}

/* ---- registration
 * ---------------------------------------------------------------------- */

#define COMMON_TESTS(X)                                                                  \
    X(test_store_fetch_delete)                                                           \
    X(test_nooverwrite)                                                                  \
    X(test_bad_args)                                                                     \
    X(test_binary)                                                                       \
    X(test_empty_value)                                                                  \
    X(test_foreach_prefix)                                                               \
    X(test_order_plain)                                                                  \
    X(test_order_mboxsort)                                                               \
    X(test_txn_commit)                                                                   \
    X(test_txn_abort)                                                                    \
    X(test_txn_foreach_writes)                                                           \
    X(test_two_handles)                                                                  \
    X(test_fork)                                                                         \
    X(test_large_value)                                                                  \
    X(test_many_records)                                                                 \
    X(test_concurrent_increments)                                                        \
    X(test_crash)                                                                        \
    X(test_remove)

void register_tests(void)
{
    log_init("test_cyrusdb", 0); /* CYRUS_LOG_STDERR=1 shows the logs */
    CU_pSuite s = harness_suite("cyrusdb", NULL, NULL);
    ADD_TEST(s, test_mboxsort_cmp);
    ADD_TEST(s, test_backend_names);
    ADD_TEST(s, test_tools);

    CU_pSuite f = harness_suite("cyrusdb-flat", init_flat, cleanup_suite);
#define ADD_F(fn) ADD_TEST(f, fn);
    COMMON_TESTS(ADD_F)
    ADD_TEST(f, test_flat_format);
    ADD_TEST(f, test_flat_corrupt);

    CU_pSuite b = harness_suite("cyrusdb-berkeley", init_berkeley, cleanup_all);
#define ADD_B(fn) ADD_TEST(b, fn);
    COMMON_TESTS(ADD_B)
    ADD_TEST(b, test_berkeley_deadlock);
    ADD_TEST(b, test_berkeley_live_recovery);
    ADD_TEST(b, test_berkeley_checkpoint_recover);

    CU_pSuite n = harness_suite("cyrusdb-berkeley-nosync", init_berkeley_nosync, cleanup_all);
#define ADD_N(fn) ADD_TEST(n, fn);
    COMMON_TESTS(ADD_N)
}
