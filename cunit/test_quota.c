/* Tests for imap/store/quota (and quota_fix, and quota enforcement by the
 * mailbox module) over both cyrusdb backends. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"
#include "imap/store/quota_fix.h"

static const char *backend;
static int counter;

static const long long UNL[2] = { QUOTA_UNLIMITED, QUOTA_UNLIMITED };

static int setup(const char *be)
{
    backend = be;
    return harness_backend_setup(be, "quota_db: %s\nmboxlist_db: %s\npartition-default: %s/%s-part\nquotawarn: 80\nquotawarnkb: 100\n", be, be, harness_tmpdir(), be);
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
    quota_close();
    return harness_backend_cleanup();
}

/* A fresh quota database for one test; returns its file name. */
static char *fresh(void)
{
    char *fname = xasprintf("%s/%s-%d/quotas.db", harness_tmpdir(), backend, ++counter);
    CU_ASSERT_EQUAL_FATAL(quota_open_backend(backend, fname), 0);
    return fname;
}

static void setlim(const char *root, long long kib, long long msgs)
{
    long long l[2] = { kib, msgs };
    CU_ASSERT_EQUAL(quota_setlimits(root, l), 0);
}

static struct quota get(const char *root)
{
    struct quota q;
    quota_init(&q, NULL);
    CU_ASSERT_EQUAL(quota_read(root, &q), 0);
    return q;
}

/* ---- basics ------------------------------------------------------------- */

static void test_limits(void)
{
    char *fname = fresh();
    struct quota q;
    quota_init(&q, "user.alice");
    CU_ASSERT_STRING_EQUAL(q.root, "user.alice");
    CU_ASSERT_EQUAL(q.limit[QUOTA_STORAGE], QUOTA_UNLIMITED);
    CU_ASSERT_EQUAL(quota_read("user.alice", &q), CYRERR_QUOTAROOT_NONEXISTENT);

    setlim("user.alice", 1000, 50);
    CU_ASSERT_EQUAL(quota_read("user.alice", &q), 0);
    CU_ASSERT_STRING_EQUAL(q.root, "user.alice");
    CU_ASSERT_EQUAL(q.limit[QUOTA_STORAGE], 1000);
    CU_ASSERT_EQUAL(q.limit[QUOTA_MESSAGE], 50);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 0);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 0);
    /* reading into a struct for another root renames it */
    setlim("user.bob", 5, QUOTA_UNLIMITED);
    CU_ASSERT_EQUAL(quota_read("user.bob", &q), 0);
    CU_ASSERT_STRING_EQUAL(q.root, "user.bob");
    CU_ASSERT_EQUAL(q.limit[QUOTA_MESSAGE], QUOTA_UNLIMITED);
    quota_free(&q);
    CU_ASSERT_PTR_NULL(q.root);

    /* roots and limits that are refused */
    long long bad[2] = { -2, 5 };
    CU_ASSERT_EQUAL(quota_setlimits("user.x", bad), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("user", UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("", UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits(NULL, UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("user..x", UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("Example.org!", UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("a!b!", UNL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_setlimits("user.x", NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(quota_read("user.x", &q), CYRERR_QUOTAROOT_NONEXISTENT);
    CU_ASSERT_EQUAL(quota_read("", &q), CYRERR_BADARGS);
    /* a domain's root and a shared root are fine */
    CU_ASSERT_EQUAL(quota_setlimits("example.org!", UNL), 0);
    CU_ASSERT_EQUAL(quota_setlimits("example.org!user.bob", UNL), 0);
    CU_ASSERT_EQUAL(quota_setlimits("shared.news", UNL), 0);
    CU_ASSERT_TRUE(quota_root_valid("example.org!"));
    CU_ASSERT_FALSE(quota_root_valid("!"));

    /* kept across a close and a reopen */
    quota_close();
    CU_ASSERT_EQUAL_FATAL(quota_open_backend(backend, fname), 0);
    struct quota a = get("user.alice");
    CU_ASSERT_EQUAL(a.limit[QUOTA_STORAGE], 1000);
    quota_free(&a);

    CU_ASSERT_STRING_EQUAL(quota_resource_name(QUOTA_STORAGE), "STORAGE");
    CU_ASSERT_STRING_EQUAL(quota_resource_name(QUOTA_MESSAGE), "MESSAGE");
    CU_ASSERT_PTR_NULL(quota_resource_name(QUOTA_NUMRESOURCES));
    CU_ASSERT_EQUAL(quota_resource_from_name("storage"), QUOTA_STORAGE);
    CU_ASSERT_EQUAL(quota_resource_from_name("MESSAGE"), QUOTA_MESSAGE);
    CU_ASSERT_EQUAL(quota_resource_from_name("LEVEL"), -1);
    quota_close();
    free(fname);
}

static void test_check(void)
{
    struct quota q;
    quota_init(&q, "r");
    q.limit[QUOTA_STORAGE] = 1;            /* 1 KiB */
    q.limit[QUOTA_MESSAGE] = 2;
    /* exactly at the limit fits; one more does not */
    CU_ASSERT_EQUAL(quota_check(&q, 1024, 0), 0);
    CU_ASSERT_EQUAL(quota_check(&q, 1025, 0), CYRERR_QUOTA_EXCEEDED);
    CU_ASSERT_EQUAL(quota_check(&q, 0, 2), 0);
    CU_ASSERT_EQUAL(quota_check(&q, 0, 3), CYRERR_QUOTA_EXCEEDED);
    CU_ASSERT_EQUAL(quota_check(&q, 1024, 2), 0);
    q.used[QUOTA_STORAGE] = 1000;
    q.used[QUOTA_MESSAGE] = 1;
    CU_ASSERT_EQUAL(quota_check(&q, 24, 1), 0);
    CU_ASSERT_EQUAL(quota_check(&q, 25, 1), CYRERR_QUOTA_EXCEEDED);
    CU_ASSERT_EQUAL(quota_check(&q, 24, 2), CYRERR_QUOTA_EXCEEDED);
    /* over the limit already (it was lowered): removing always fits,
     * nothing more does */
    q.used[QUOTA_STORAGE] = 5000;
    CU_ASSERT_EQUAL(quota_check(&q, -100, -1), 0);
    CU_ASSERT_EQUAL(quota_check(&q, 0, 0), 0);
    CU_ASSERT_EQUAL(quota_check(&q, 0, 1), 0);   /* messages are under */
    CU_ASSERT_EQUAL(quota_check(&q, 1, 0), CYRERR_QUOTA_EXCEEDED);
    /* a zero limit admits nothing */
    q.used[QUOTA_STORAGE] = 0;
    q.limit[QUOTA_STORAGE] = 0;
    CU_ASSERT_EQUAL(quota_check(&q, 1, 0), CYRERR_QUOTA_EXCEEDED);
    CU_ASSERT_EQUAL(quota_check(&q, 0, 1), 0);
    /* unlimited: anything fits */
    q.limit[QUOTA_STORAGE] = QUOTA_UNLIMITED;
    q.limit[QUOTA_MESSAGE] = QUOTA_UNLIMITED;
    q.used[QUOTA_STORAGE] = LLONG_MAX - 1;
    CU_ASSERT_EQUAL(quota_check(&q, LLONG_MAX, LLONG_MAX), 0);
    CU_ASSERT_EQUAL(quota_percent_used(&q), -1);
    /* huge limits and sums do not overflow into a wrong answer */
    q.limit[QUOTA_STORAGE] = LLONG_MAX;
    CU_ASSERT_EQUAL(quota_check(&q, 1, 0), 0);
    CU_ASSERT_EQUAL(quota_check(&q, LLONG_MAX, 0), CYRERR_QUOTA_EXCEEDED);
    quota_free(&q);
}

static void test_percent_warn(void)
{
    struct quota q;
    quota_init(&q, "r");
    q.limit[QUOTA_STORAGE] = 1000;         /* KiB */
    q.used[QUOTA_STORAGE] = 900 * 1024;
    CU_ASSERT_EQUAL(quota_percent_used(&q), 90);
    CU_ASSERT_EQUAL(quota_resource_percent(&q, QUOTA_STORAGE), 90);
    CU_ASSERT_EQUAL(quota_resource_percent(&q, QUOTA_MESSAGE), -1);
    q.used[QUOTA_STORAGE] = 900 * 1024 - 1;                   /* rounds down */
    CU_ASSERT_EQUAL(quota_percent_used(&q), 89);
    q.limit[QUOTA_MESSAGE] = 10;
    q.used[QUOTA_MESSAGE] = 10;
    CU_ASSERT_EQUAL(quota_percent_used(&q), 100);             /* the tightest */
    q.used[QUOTA_MESSAGE] = 25;
    CU_ASSERT_EQUAL(quota_percent_used(&q), 250);             /* over */
    q.limit[QUOTA_MESSAGE] = 0;
    q.used[QUOTA_MESSAGE] = 0;
    CU_ASSERT_EQUAL(quota_resource_percent(&q, QUOTA_MESSAGE), 100);
    q.limit[QUOTA_MESSAGE] = QUOTA_UNLIMITED;

    /* warnings: storage at 89 % of 1000 KiB, 100 KiB free */
    q.used[QUOTA_STORAGE] = 900 * 1024 - 1;
    CU_ASSERT_TRUE(quota_warn_with(&q, 89, 0));
    CU_ASSERT_FALSE(quota_warn_with(&q, 90, 0));
    q.used[QUOTA_STORAGE] = 900 * 1024;                       /* 100 KiB free */
    CU_ASSERT_TRUE(quota_warn_with(&q, 90, 0));
    CU_ASSERT_FALSE(quota_warn_with(&q, 90, 99));             /* more left than 99 */
    CU_ASSERT_TRUE(quota_warn_with(&q, 90, 100));
    CU_ASSERT_TRUE(quota_warn_with(&q, 90, 2000));            /* limit below warnkb */
    /* messages warn by percentage alone */
    q.used[QUOTA_STORAGE] = 0;
    q.limit[QUOTA_MESSAGE] = 100;
    q.used[QUOTA_MESSAGE] = 95;
    CU_ASSERT_TRUE(quota_warn_with(&q, 90, 1));
    q.used[QUOTA_MESSAGE] = 89;
    CU_ASSERT_FALSE(quota_warn_with(&q, 90, 1));
    /* from the configuration: quotawarn 80, quotawarnkb 100 */
    q.used[QUOTA_MESSAGE] = 80;
    CU_ASSERT_TRUE(quota_warn(&q));
    q.used[QUOTA_MESSAGE] = 0;
    q.used[QUOTA_STORAGE] = 850 * 1024;                       /* 150 KiB free */
    CU_ASSERT_FALSE(quota_warn(&q));
    q.used[QUOTA_STORAGE] = 950 * 1024;
    CU_ASSERT_TRUE(quota_warn(&q));
    /* no limits at all: never */
    quota_free(&q);
    quota_init(&q, "r");
    q.used[QUOTA_STORAGE] = 1LL << 40;
    CU_ASSERT_FALSE(quota_warn_with(&q, 0, 0));
    quota_free(&q);
}

static void test_usage(void)
{
    char *fname = fresh();
    setlim("user.a", 10, 10);
    CU_ASSERT_EQUAL(quota_update_used("user.a", 3000, 2), 0);
    CU_ASSERT_EQUAL(quota_update_used("user.a", 100, 1), 0);
    struct quota q = get("user.a");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 3100);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 3);
    /* updates do not check limits (the caller did) */
    CU_ASSERT_EQUAL(quota_update_used("user.a", 1 << 20, 100), 0);
    /* negative deltas clamp at 0 */
    CU_ASSERT_EQUAL(quota_update_used("user.a", -(1 << 21), -1000), 0);
    quota_free(&q);
    q = get("user.a");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 0);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 0);
    quota_free(&q);
    /* and saturate at the top */
    CU_ASSERT_EQUAL(quota_update_used("user.a", LLONG_MAX, 0), 0);
    CU_ASSERT_EQUAL(quota_update_used("user.a", LLONG_MAX, 0), 0);
    q = get("user.a");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], LLONG_MAX);
    quota_free(&q);

    /* setlimits keeps the usage */
    CU_ASSERT_EQUAL(quota_set_used("user.a", 4096, 4), 0);
    setlim("user.a", 1, QUOTA_UNLIMITED);
    q = get("user.a");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 4096);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 4);
    CU_ASSERT_EQUAL(q.limit[QUOTA_STORAGE], 1);
    CU_ASSERT_EQUAL(q.limit[QUOTA_MESSAGE], QUOTA_UNLIMITED);
    CU_ASSERT_EQUAL(quota_percent_used(&q), 400);
    quota_free(&q);
    CU_ASSERT_EQUAL(quota_set_used("user.a", -1, 0), CYRERR_BADARGS);

    /* no root: nothing is created */
    CU_ASSERT_EQUAL(quota_update_used("user.none", 10, 1), CYRERR_QUOTAROOT_NONEXISTENT);
    CU_ASSERT_EQUAL(quota_set_used("user.none", 10, 1), CYRERR_QUOTAROOT_NONEXISTENT);
    struct quota n;
    quota_init(&n, NULL);
    CU_ASSERT_EQUAL(quota_read("user.none", &n), CYRERR_QUOTAROOT_NONEXISTENT);
    quota_free(&n);

    /* delete */
    CU_ASSERT_EQUAL(quota_delete("user.a"), 0);
    CU_ASSERT_EQUAL(quota_delete("user.a"), CYRERR_QUOTAROOT_NONEXISTENT);
    CU_ASSERT_EQUAL(quota_update_used("user.a", 1, 1), CYRERR_QUOTAROOT_NONEXISTENT);
    /* a new root with the name starts from nothing */
    setlim("user.a", 10, 10);
    q = get("user.a");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 0);
    quota_free(&q);
    quota_close();
    free(fname);
}

static void test_corrupt(void)
{
    char *fname = fresh();
    setlim("user.ok", 1, 1);
    quota_close();
    struct cyrusdb *db = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, fname, CYRUSDB_MBOXSORT, &db), 0);
    static const char *const bad[] = {
        "", "1 0 0 -1", "2 0 0 -1 -1", "1 0 0 -1 -1 9", "1 -5 0 -1 -1", "1 0 0 -3 -1",
        "1 x 0 -1 -1", "1 0  0 -1 -1", "1 0 0 -1 -1 ", "1 99999999999999999999 0 -1 -1",
    };
    struct buf k = BUF_INITIALIZER;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&k);
        buf_printf(&k, "user.bad%zu", i);
        CU_ASSERT_EQUAL(cyrusdb_store(db, k.s, k.len, bad[i], strlen(bad[i]), 0, NULL), 0);
    }
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    CU_ASSERT_EQUAL_FATAL(quota_open_backend(backend, fname), 0);
    struct quota q;
    quota_init(&q, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&k);
        buf_printf(&k, "user.bad%zu", i);
        if (quota_read(k.s, &q) != CYRERR_CORRUPT) CU_FAIL(bad[i]);
        if (quota_update_used(k.s, 1, 1) != CYRERR_CORRUPT) CU_FAIL(bad[i]);
    }
    /* setlimits does not overwrite usage it cannot read */
    CU_ASSERT_EQUAL(quota_setlimits("user.bad0", UNL), CYRERR_CORRUPT);
    CU_ASSERT_EQUAL(quota_read("user.ok", &q), 0);
    /* a corrupt root still counts as a root */
    char *root = quota_findroot("user.bad1.x");
    CU_ASSERT_STRING_EQUAL(root ? root : "", "user.bad1");
    free(root);
    quota_free(&q);
    buf_free(&k);
    quota_close();
    free(fname);
}

/* ---- roots ---------------------------------------------------------------- */

struct list_rock {
    struct buf out;
    int stop_after, calls;
};

static int list_cb(const struct quota *q, void *rock)
{
    struct list_rock *lr = rock;
    buf_printf(&lr->out, "%s ", q->root);
    /* the callback may change the database */
    if (quota_update_used(q->root, 1, 1)) return -1;
    if (++lr->calls == lr->stop_after) return 5;
    return 0;
}

static void test_foreach(void)
{
    char *fname = fresh();
    static const char *const roots[] = { "user.b", "user.a.x", "user.a", "user.a2",
                                         "shared", "user.a-b", "example.org!user.c",
                                         "example.org!" };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) setlim(roots[i], 1, 1);
    struct list_rock lr = { BUF_INITIALIZER, 0, 0 };
    CU_ASSERT_EQUAL(quota_foreach(NULL, list_cb, &lr), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out),
                           "example.org! example.org!user.c shared user.a user.a.x "
                           "user.a-b user.a2 user.b ");
    buf_reset(&lr.out);
    CU_ASSERT_EQUAL(quota_foreach("user.a", list_cb, &lr), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out), "user.a user.a.x user.a-b user.a2 ");
    struct quota q = get("user.a.x");
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 2);                /* both walks updated it */
    quota_free(&q);
    buf_reset(&lr.out);
    lr.calls = 0;
    lr.stop_after = 2;
    CU_ASSERT_EQUAL(quota_foreach("", list_cb, &lr), 5);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out), "example.org! example.org!user.c ");
    buf_reset(&lr.out);
    CU_ASSERT_EQUAL(quota_foreach("nothing", list_cb, &lr), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&lr.out), "");
    buf_free(&lr.out);
    quota_close();
    free(fname);
}

static void check_root(const char *mbox, const char *want)
{
    char *got = quota_findroot(mbox);
    if (!want) {
        CU_ASSERT_PTR_NULL(got);
    } else {
        CU_ASSERT_STRING_EQUAL(got ? got : "(null)", want);
    }
    free(got);
}

static void test_findroot(void)
{
    char *fname = fresh();
    setlim("user.alice", 1, 1);
    setlim("user.alice.big", 1, 1);
    setlim("shared", 1, 1);
    setlim("example.org!", 1, 1);
    setlim("example.org!user.bob", 1, 1);
    check_root("user.alice", "user.alice");
    check_root("user.alice.Sent", "user.alice");
    check_root("user.alice.Sent.2024", "user.alice");
    check_root("user.alice.big", "user.alice.big");
    check_root("user.alice.big.x", "user.alice.big");
    check_root("user.alice.bigger", "user.alice");
    check_root("user.alicex", NULL);                /* not a child */
    check_root("user.carol", NULL);
    check_root("shared.news.today", "shared");
    check_root("example.org!user.bob.Trash", "example.org!user.bob");
    check_root("example.org!user.dave", "example.org!");   /* the domain's root */
    check_root("example.org!shared", "example.org!");
    check_root("other.net!user.alice", NULL);       /* other domains are separate */
    check_root("", NULL);
    check_root(NULL, NULL);
    /* the same, telling "none" from a failure */
    char *root = (char *)"junk";
    CU_ASSERT_EQUAL(quota_lookup_root("example.org!user.dave.x", &root), 0);
    CU_ASSERT_STRING_EQUAL(root ? root : "(null)", "example.org!");
    free(root);
    root = (char *)"junk";
    CU_ASSERT_EQUAL(quota_lookup_root("user.carol", &root), 0);
    CU_ASSERT_PTR_NULL(root);
    root = (char *)"junk";
    CU_ASSERT_EQUAL(quota_lookup_root("", &root), CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(root);
    quota_close();
    free(fname);
}

/* ---- many writers ------------------------------------------------------ */

static void test_concurrent(void)
{
    enum { PROCS = 4, EACH = 40 };
    char *fname = fresh();
    setlim("user.c", QUOTA_UNLIMITED, QUOTA_UNLIMITED);
    /* the children inherit the open database: each must reopen its own */
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        CU_ASSERT_FATAL(pids[p] >= 0);
        if (pids[p] == 0) {
            int bad = 0;
            for (int i = 0; i < EACH; i++) {
                /* +3 then -1: a lost update shows in the total */
                if (quota_update_used("user.c", 3, 1)) bad = 1;
                if (i % 4 == 0 && quota_update_used("user.c", -1, 0)) bad = 1;
            }
            quota_close();
            cyrusdb_done();
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = -1;
        CU_ASSERT_EQUAL(waitpid(pids[p], &status, 0), pids[p]);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* the parent's handle still works */
    struct quota q = get("user.c");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], PROCS * (EACH * 3 - EACH / 4));
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], PROCS * EACH);
    quota_free(&q);
    quota_close();
    free(fname);
}

/* ---- the mailbox module enforces and keeps usage --------------------------- */

/* A message of exactly `size` bytes. */
static char *message_of(size_t size)
{
    static const char head[] = "Subject: q\r\n\r\n";
    char *m = xmalloc(size + 1);
    memset(m, 'x', size);
    memcpy(m, head, sizeof(head) - 1 < size ? sizeof(head) - 1 : size);
    m[size] = '\0';
    return m;
}

static int append_size(struct mailbox *mb, size_t size, uint32_t flags, int appflags)
{
    char *text = message_of(size);
    struct mailbox_append_msg m;
    memset(&m, 0, sizeof(m));
    m.data = text;
    m.len = size;
    m.system_flags = flags;
    struct mailbox_append_result res;
    int r = mailbox_append(mb, &m, 1, appflags, &res);
    free(text);
    return r;
}

static void test_mailbox_enforces(void)
{
    char *fname = fresh();
    char *name = xasprintf("user.q%d", counter);
    setlim(name, 1, 3);                                     /* 1 KiB, 3 messages */
    struct mailbox_create_params p = { NULL, 0, name, 0 };
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_create(name, NULL, &p, &mb), 0);
    CU_ASSERT_EQUAL(append_size(mb, 512, 0, 0), 0);
    CU_ASSERT_EQUAL(append_size(mb, 512, MAILBOX_FLAG_DELETED, 0), 0);   /* at the limit */
    struct quota q = get(name);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1024);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 2);
    quota_free(&q);
    CU_ASSERT_EQUAL(append_size(mb, 20, 0, 0), CYRERR_QUOTA_EXCEEDED);
    q = get(name);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1024);           /* unchanged */
    quota_free(&q);

    /* expunge gives the space back */
    size_t n = 0;
    CU_ASSERT_EQUAL(mailbox_expunge(mb, NULL, 0, 0, NULL, NULL, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    q = get(name);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 512);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 1);
    quota_free(&q);
    CU_ASSERT_EQUAL(append_size(mb, 100, 0, 0), 0);
    CU_ASSERT_EQUAL(append_size(mb, 100, 0, 0), 0);
    /* the message limit */
    CU_ASSERT_EQUAL(append_size(mb, 100, 0, 0), CYRERR_QUOTA_EXCEEDED);
    /* an append that ignores quota is still counted */
    CU_ASSERT_EQUAL(append_size(mb, 1000, 0, MAILBOX_APPEND_IGNOREQUOTA), 0);
    q = get(name);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1712);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 4);
    CU_ASSERT_TRUE(quota_warn_with(&q, 90, 0));
    quota_free(&q);
    /* raising the limit lets mail in again */
    setlim(name, 10, QUOTA_UNLIMITED);
    CU_ASSERT_EQUAL(append_size(mb, 100, 0, 0), 0);
    /* and without a root nothing is enforced */
    CU_ASSERT_EQUAL(quota_delete(name), 0);
    CU_ASSERT_EQUAL(append_size(mb, 20000, 0, 0), 0);
    mailbox_close(&mb);
    free(name);
    quota_close();
    free(fname);
}

/* ---- quota -f --------------------------------------------------------------- */

static struct mboxlist *ml;

static void make_mailbox(const char *name, const char *root, int nmsgs, size_t size)
{
    CU_ASSERT_EQUAL(mboxlist_create(ml, name, "default", NULL, "anyone lrs", NULL, NULL), 0);
    struct mailbox_create_params p = { NULL, 0, root, 0 };
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_create(name, "default", &p, &mb), 0);
    for (int i = 0; i < nmsgs; i++) CU_ASSERT_EQUAL(append_size(mb, size, 0, 0), 0);
    mailbox_close(&mb);
}

static void set_header_root(const char *name, const char *root)
{
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_open(name, "default", &mb), 0);
    CU_ASSERT_EQUAL(mailbox_set_quotaroot(mb, root), 0);
    mailbox_close(&mb);
}

static char *header_root(const char *name)
{
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_open(name, "default", &mb), 0);
    char *r = xstrdupnull(mailbox_quotaroot(mb));
    mailbox_close(&mb);
    return r;
}

static void fix_cb(void *rock, const struct quota_fix_event *ev)
{
    struct buf *out = rock;
    switch (ev->kind) {
    case QUOTA_FIX_ROOT:
        buf_printf(out, "root %s %s>%s\n", ev->mailbox, ev->oldroot ? ev->oldroot : "-",
                   ev->root ? ev->root : "-");
        break;
    case QUOTA_FIX_USAGE:
        buf_printf(out, "usage %s %s %lld>%lld\n", ev->root, quota_resource_name(ev->resource),
                   ev->oldvalue, ev->newvalue);
        break;
    case QUOTA_FIX_ERROR:
        buf_printf(out, "error %s %s\n", ev->mailbox ? ev->mailbox : "-",
                   ev->root ? ev->root : "-");
        break;
    }
}

static void test_fix(void)
{
    char *fname = fresh();
    char *mlname = xasprintf("%s/%s-%d/mailboxes.db", harness_tmpdir(), backend, counter);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, mlname, CYRUSDB_CREATE, &ml), 0);
    setlim("user.fa", 1000, QUOTA_UNLIMITED);
    setlim("user.fa.big", QUOTA_UNLIMITED, 10);
    setlim("user.fz", 5, 5);                                /* no mailboxes */

    make_mailbox("user.fa", "user.fa", 2, 300);
    make_mailbox("user.fa.Sent", "user.fa", 1, 200);
    make_mailbox("user.fa.big", "user.fa.big", 1, 1000);
    make_mailbox("user.fb", NULL, 1, 50);
    struct mboxlist_entry remote = MBOXLIST_ENTRY_INITIALIZER;
    remote.name = (char *)"user.fc";
    remote.type = MBOXLIST_REMOTE;
    remote.server = (char *)"backend2";
    remote.partition = (char *)"default";
    remote.acl = (char *)"";
    CU_ASSERT_EQUAL(mboxlist_store(ml, &remote, NULL), 0);

    /* the mailbox code kept usage as it went */
    struct quota q = get("user.fa");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 800);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 3);
    quota_free(&q);

    /* nothing to fix */
    struct buf ev = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), "");

    /* damage: usage drifted, headers name the wrong roots */
    CU_ASSERT_EQUAL(quota_set_used("user.fa", 5, 99), 0);
    CU_ASSERT_EQUAL(quota_set_used("user.fz", 77, 7), 0);
    set_header_root("user.fa.Sent", "user.bogus");
    set_header_root("user.fb", "user.fa");
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev),
                           "root user.fa.Sent user.bogus>user.fa\n"
                           "root user.fb user.fa>-\n"
                           "usage user.fa STORAGE 5>800\n"
                           "usage user.fa MESSAGE 99>3\n"
                           "usage user.fz STORAGE 77>0\n"
                           "usage user.fz MESSAGE 7>0\n");
    q = get("user.fa");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 800);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 3);
    quota_free(&q);
    q = get("user.fa.big");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1000);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 1);
    quota_free(&q);
    char *hr = header_root("user.fa.Sent");
    CU_ASSERT_STRING_EQUAL(hr ? hr : "(null)", "user.fa");
    free(hr);
    hr = header_root("user.fb");
    CU_ASSERT_PTR_NULL(hr);
    free(hr);
    buf_reset(&ev);
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), "");

    /* a new root over existing mailboxes takes them over */
    setlim("user.fb", 100, 100);
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev),
                           "root user.fb ->user.fb\n"
                           "usage user.fb STORAGE 0>50\n"
                           "usage user.fb MESSAGE 0>1\n");
    buf_reset(&ev);

    /* only the roots under the prefixes are fixed */
    CU_ASSERT_EQUAL(quota_set_used("user.fa", 1, 1), 0);
    CU_ASSERT_EQUAL(quota_set_used("user.fz", 2, 2), 0);
    struct strarray pre = STRARRAY_INITIALIZER;
    strarray_append(&pre, "user.fz");
    strarray_append(&pre, "user.fz.sub");                  /* covered by the first */
    CU_ASSERT_EQUAL(quota_fix(ml, &pre, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev),
                           "usage user.fz STORAGE 2>0\nusage user.fz MESSAGE 2>0\n");
    q = get("user.fa");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1);
    quota_free(&q);
    buf_reset(&ev);

    /* a mailbox that cannot be read leaves its root alone */
    CU_ASSERT_EQUAL(mboxlist_create(ml, "user.fa.ghost", "default", NULL, "anyone lrs", NULL,
                                    NULL), 0);
    strarray_truncate(&pre, 0);
    strarray_append(&pre, "user.fa");
    CU_ASSERT_NOT_EQUAL(quota_fix(ml, &pre, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), "error user.fa.ghost user.fa\n");
    q = get("user.fa");
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 1);             /* left as it was */
    quota_free(&q);

    strarray_free(&pre);
    buf_free(&ev);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    ml = NULL;
    quota_close();
    free(mlname);
    free(fname);
}

/* A domain's root "example.org!" is a root like the others for the
 * mailbox module and quota -f. */
static void test_domain_root(void)
{
    char *fname = fresh();
    char *mlname = xasprintf("%s/%s-%d/mailboxes.db", harness_tmpdir(), backend, counter);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, mlname, CYRUSDB_CREATE, &ml), 0);
    char *dom = xasprintf("d%d.example.org!", counter);
    char *inbox = xasprintf("%suser.dom", dom);
    char *other = xasprintf("%suser.other", dom);
    setlim(dom, 100, 10);

    /* created under the domain's root */
    CU_ASSERT_EQUAL(mboxlist_create(ml, inbox, "default", NULL, "anyone lrs", NULL, NULL), 0);
    struct mailbox_create_params p = { NULL, 0, dom, 0 };
    struct mailbox *mb = NULL;
    CU_ASSERT_EQUAL_FATAL(mailbox_create(inbox, "default", &p, &mb), 0);
    CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(mb), dom);
    CU_ASSERT_EQUAL(append_size(mb, 300, 0, 0), 0);
    struct quota q = get(dom);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 300);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 1);
    quota_free(&q);
    /* what quota_root_valid() refuses, the mailbox refuses too */
    static const char *const bad[] = { "!", "a!b!", "Example.org!", "user..x", "user" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_FALSE(quota_root_valid(bad[i]));
        if (mailbox_set_quotaroot(mb, bad[i]) != CYRERR_BADNAME) CU_FAIL(bad[i]);
    }
    CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(mb), dom);
    CU_ASSERT_EQUAL(mailbox_set_quotaroot(mb, NULL), 0);
    CU_ASSERT_PTR_NULL(mailbox_quotaroot(mb));
    mailbox_close(&mb);
    struct mailbox_create_params bp = { NULL, 0, "a!b!", 0 };
    CU_ASSERT_EQUAL(mailbox_create(other, "default", &bp, &mb), CYRERR_BADNAME);
    CU_ASSERT_PTR_NULL(mb);

    /* quota -f puts the domain's root back and recounts it */
    CU_ASSERT_EQUAL(quota_set_used(dom, 0, 0), 0);
    struct buf ev = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    struct buf want = BUF_INITIALIZER;
    buf_printf(&want, "root %s ->%s\nusage %s STORAGE 0>300\nusage %s MESSAGE 0>1\n", inbox,
               dom, dom, dom);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), buf_cstring(&want));
    char *hr = header_root(inbox);
    CU_ASSERT_STRING_EQUAL(hr ? hr : "(null)", dom);
    free(hr);
    buf_reset(&ev);
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), "");

    buf_free(&ev);
    buf_free(&want);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    ml = NULL;
    quota_close();
    free(other);
    free(inbox);
    free(dom);
    free(mlname);
    free(fname);
}

static void collect_fix(void *rock, const char *text)
{
    strarray_append(rock, text);
}

/* reconstruct recreates a lost cyrus.header with the nearest root of the
 * quota database and the unique id it is given, and charges nothing. */
static void test_reconstruct_finds_root(void)
{
    char *fname = fresh();
    char *mlname = xasprintf("%s/%s-%d/mailboxes.db", harness_tmpdir(), backend, counter);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, mlname, CYRUSDB_CREATE, &ml), 0);
    char *top = xasprintf("user.rr%d", counter);
    char *sub = xasprintf("user.rr%d.Sent", counter);
    char *dom = xasprintf("d%d.example.org!", counter);
    char *dbox = xasprintf("%suser.x", dom);
    setlim(top, 100, 10);
    setlim(dom, 100, 10);
    make_mailbox(top, top, 1, 200);
    make_mailbox(sub, top, 2, 100);
    make_mailbox(dbox, dom, 1, 50);

    const char *boxes[3] = { top, sub, dbox };
    const char *roots[3] = { top, top, dom };
    for (int i = 0; i < 3; i++) {
        struct buf dir = BUF_INITIALIZER;
        CU_ASSERT_EQUAL_FATAL(mailbox_dir_for(boxes[i], "default", &dir), 0);
        char *hp = xasprintf("%s/cyrus.header", buf_cstring(&dir));
        CU_ASSERT_EQUAL(unlink(hp), 0);
        struct strarray fixes = STRARRAY_INITIALIZER;
        unsigned n = 0;
        CU_ASSERT_EQUAL(mailbox_reconstruct_entry(buf_cstring(&dir), boxes[i], "id-from-db", 0,
                                                  collect_fix, &fixes, &n), 0);
        CU_ASSERT_EQUAL(n, 1);
        char *want = xasprintf("cyrus.header missing: recreated (unique id from mailboxes.db, "
                               "quota root %s)", roots[i]);
        CU_ASSERT_STRING_EQUAL(fixes.count ? strarray_nth(&fixes, 0) : "", want);
        free(want);
        struct mailbox *mb = NULL;
        CU_ASSERT_EQUAL_FATAL(mailbox_open_dir(buf_cstring(&dir), &mb), 0);
        CU_ASSERT_STRING_EQUAL(mailbox_quotaroot(mb) ? mailbox_quotaroot(mb) : "", roots[i]);
        CU_ASSERT_STRING_EQUAL(mailbox_uniqueid(mb), "id-from-db");
        CU_ASSERT_STRING_EQUAL(mailbox_name(mb), boxes[i]);
        mailbox_close(&mb);
        strarray_free(&fixes);
        free(hp);
        buf_free(&dir);
    }
    /* usage is what it was: nothing charged twice */
    struct quota q = get(top);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 400);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 3);
    quota_free(&q);
    q = get(dom);
    CU_ASSERT_EQUAL(q.used[QUOTA_STORAGE], 50);
    CU_ASSERT_EQUAL(q.used[QUOTA_MESSAGE], 1);
    quota_free(&q);
    struct buf ev = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(quota_fix(ml, NULL, fix_cb, &ev), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&ev), "");
    buf_free(&ev);

    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    ml = NULL;
    quota_close();
    free(dbox);
    free(dom);
    free(sub);
    free(top);
    free(mlname);
    free(fname);
}

static void add_all(CU_pSuite s)
{
    ADD_TEST(s, test_limits);
    ADD_TEST(s, test_check);
    ADD_TEST(s, test_percent_warn);
    ADD_TEST(s, test_usage);
    ADD_TEST(s, test_corrupt);
    ADD_TEST(s, test_foreach);
    ADD_TEST(s, test_findroot);
    ADD_TEST(s, test_concurrent);
    ADD_TEST(s, test_mailbox_enforces);
    ADD_TEST(s, test_fix);
    ADD_TEST(s, test_domain_root);
    ADD_TEST(s, test_reconstruct_finds_root);
}

void register_tests(void)
{
    add_all(harness_suite("quota-flat", init_flat, cleanup));
    add_all(harness_suite("quota-berkeley", init_berkeley, cleanup));
}
