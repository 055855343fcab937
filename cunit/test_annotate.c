/* Tests for imap/store/annotate (METADATA entries) over every cyrusdb
 * backend: entry names, get/set/foreach with depths and owners, the
 * limits, and what happens to entries when mailboxes are deleted or
 * renamed and users deleted. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/annotate.h"

static const char *backend;
static int counter;

static int setup(const char *be)
{
    backend = be;
    return harness_backend_setup(be, "annotation_db: %s\n", be);
}

static int init_flat(void)
{
    return setup("flat");
}

static int init_berkeley(void)
{
    return setup("berkeley");
}

static int init_nosync(void)
{
    return setup("berkeley-nosync");
}

static int cleanup(void)
{
    return harness_backend_cleanup();
}

static struct annotate *fresh(void)
{
    struct annotate *a = NULL;
    char *fname =
        xasprintf("%s/%s-%d/annotations.db", harness_tmpdir(), backend, ++counter);
    CU_ASSERT_EQUAL_FATAL(annotate_open(backend, fname, ANNOTATE_CREATE, &a), 0);
    free(fname);
    return a;
}

/* The value of an entry as a string, "-" when it has none. */
static char *get(struct annotate *a, const char *mbox, const char *entry,
                 const char *user)
{
    struct buf v = BUF_INITIALIZER;
    int r = annotate_get(a, mbox, entry, user, &v);
    char *out = r == CYRERR_NOTFOUND ? xstrdup("-")
                : r                  ? xasprintf("E%d", r)
                                     : buf_release(&v);
    buf_free(&v);
    return out;
}

#define ASSERT_GET(a, mbox, entry, user, want)                                           \
    do {                                                                                 \
        char *got_ = get((a), (mbox), (entry), (user));                                  \
        CU_ASSERT_STRING_EQUAL(got_, (want));                                            \
        free(got_);                                                                      \
    } while (0)

static int set(struct annotate *a, const char *mbox, const char *entry, const char *user,
               const char *value)
{
    return annotate_set(a, mbox, entry, user, value, value ? strlen(value) : 0);
}

static int list_cb(void *rock, const char *entry, const char *value, size_t len)
{
    struct strarray *sa = rock;
    char *v = xstrndup(value, len);
    strarray_appendm(sa, xasprintf("%s=%s", entry, v));
    free(v);
    return 0;
}

/* "entry=value" of every entry found, joined by spaces. */
static char *list(struct annotate *a, const char *mbox, const char *entry, int depth,
                  const char *user)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    int r = annotate_foreach(a, mbox, entry, depth, user, list_cb, &sa);
    char *j = r ? xasprintf("E%d", r) : sa.count ? strarray_join(&sa, " ") : xstrdup("");
    strarray_free(&sa);
    return j;
}

#define ASSERT_LIST(a, mbox, entry, depth, user, want)                                   \
    do {                                                                                 \
        char *got_ = list((a), (mbox), (entry), (depth), (user));                        \
        CU_ASSERT_STRING_EQUAL(got_, (want));                                            \
        free(got_);                                                                      \
    } while (0)

static void test_entry_names(void)
{
    struct buf c = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(annotate_entry_canon("/shared/comment", &c), ANNOTATE_SHARED);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&c), "/shared/comment");
    CU_ASSERT_EQUAL(annotate_entry_canon("/Private/Vendor/X/Y", &c), ANNOTATE_PRIVATE);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&c), "/private/vendor/x/y");
    CU_ASSERT_EQUAL(annotate_entry_canon("/shared", &c), ANNOTATE_SHARED);
    CU_ASSERT_EQUAL(annotate_entry_canon("/private", &c), ANNOTATE_PRIVATE);
    CU_ASSERT_EQUAL(annotate_entry_canon("/shared/with space", &c), ANNOTATE_SHARED);

    const char *bad[] = {"",
                         "/",
                         "shared/comment",
                         "/sharedx",
                         "/sharedx/a",
                         "/other/a",
                         "/shared/",
                         "/shared//a",
                         "/shared/a/",
                         "/shared/*",
                         "/shared/a%",
                         "/shared/\x01",
                         "/shared/caf\xc3\xa9",
                         "/shared/a\x7f",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        CU_ASSERT_EQUAL(annotate_entry_canon(bad[i], &c), CYRERR_BADARGS);
        CU_ASSERT_EQUAL(buf_len(&c), 0);
    }
    CU_ASSERT_EQUAL(annotate_entry_canon(NULL, &c), CYRERR_BADARGS);
    struct buf longname = BUF_INITIALIZER;
    buf_appendcstr(&longname, "/shared/");
    while (buf_len(&longname) <= ANNOTATE_ENTRY_MAX)
        buf_putc(&longname, 'x');
    CU_ASSERT_EQUAL(annotate_entry_canon(buf_cstring(&longname), &c), CYRERR_TOOBIG);
    buf_truncate(&longname, ANNOTATE_ENTRY_MAX);
    CU_ASSERT_EQUAL(annotate_entry_canon(buf_cstring(&longname), &c), ANNOTATE_SHARED);

    CU_ASSERT_EQUAL(annotate_entry_depth("/shared"), 0);
    CU_ASSERT_EQUAL(annotate_entry_depth("/shared/comment"), 1);
    CU_ASSERT_EQUAL(annotate_entry_depth("/private/vendor/a/b"), 3);
    CU_ASSERT_EQUAL(annotate_entry_below("/shared/a/b", "/shared/a"), 1);
    CU_ASSERT_EQUAL(annotate_entry_below("/shared/a/b/c", "/shared"), 3);
    CU_ASSERT_EQUAL(annotate_entry_below("/shared/a", "/shared/a"), 0);
    CU_ASSERT_EQUAL(annotate_entry_below("/shared/ab", "/shared/a"), -1);
    CU_ASSERT_EQUAL(annotate_entry_below("/shared", "/shared/a"), -1);
    CU_ASSERT_EQUAL(annotate_entry_below("/private/a", "/shared"), -1);
    buf_free(&c);
    buf_free(&longname);
}

static void test_get_set(void)
{
    struct annotate *a = fresh();
    ASSERT_GET(a, "user.alice", "/shared/comment", NULL, "-");
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, "hello"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "alice", "mine"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "bob", "bob's"), 0);
    CU_ASSERT_EQUAL(set(a, "", "/shared/comment", NULL, "server"), 0);
    CU_ASSERT_EQUAL(set(a, "", "/shared/admin", "whoever", "root@example"), 0);

    /* names are compared without regard to case; owners are separate */
    ASSERT_GET(a, "user.alice", "/SHARED/Comment", NULL, "hello");
    ASSERT_GET(a, "user.alice", "/shared/comment", "bob", "hello");
    ASSERT_GET(a, "user.alice", "/private/comment", "alice", "mine");
    ASSERT_GET(a, "user.alice", "/private/comment", "bob", "bob's");
    ASSERT_GET(a, "user.alice", "/private/comment", "carol", "-");
    ASSERT_GET(a, "", "/shared/comment", NULL, "server");
    ASSERT_GET(a, "", "/shared/admin", NULL, "root@example");
    ASSERT_GET(a, "user.bob", "/shared/comment", NULL, "-");

    /* replace, empty value, remove (twice: not an error) */
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, "again"), 0);
    ASSERT_GET(a, "user.alice", "/shared/comment", NULL, "again");
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, ""), 0);
    ASSERT_GET(a, "user.alice", "/shared/comment", NULL, "");
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, NULL), 0);
    ASSERT_GET(a, "user.alice", "/shared/comment", NULL, "-");
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, NULL), 0);

    /* values are bytes: NUL, CR, LF and 8-bit survive */
    static const char bin[] = "a\0b\r\n\xff";
    CU_ASSERT_EQUAL(
        annotate_set(a, "user.alice", "/shared/vendor/x/bin", NULL, bin, sizeof(bin) - 1),
        0);
    struct buf v = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(annotate_get(a, "user.alice", "/shared/vendor/x/bin", NULL, &v), 0);
    CU_ASSERT_EQUAL(buf_len(&v), sizeof(bin) - 1);
    CU_ASSERT_EQUAL(memcmp(buf_base(&v), bin, sizeof(bin) - 1), 0);

    /* bad input */
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", NULL, "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "", "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared", NULL, "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/a//b", NULL, "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/elsewhere/a", NULL, "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(set(a, "user..alice", "/shared/comment", NULL, "x"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(set(a, NULL, "/shared/comment", NULL, "x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_get(a, "user.alice", "/shared/*", NULL, &v), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_get(a, "user.alice", "/private/comment", NULL, &v),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_get(NULL, "user.alice", "/shared/comment", NULL, &v),
                    CYRERR_BADARGS);
    buf_free(&v);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
}

static void test_limits(void)
{
    struct annotate *a = fresh();
    char *big = xzmalloc(ANNOTATE_VALUE_MAX + 2);
    memset(big, 'v', ANNOTATE_VALUE_MAX + 1);
    CU_ASSERT_EQUAL(
        annotate_set(a, "shared.x", "/shared/comment", NULL, big, ANNOTATE_VALUE_MAX + 1),
        CYRERR_TOOBIG);
    ASSERT_GET(a, "shared.x", "/shared/comment", NULL, "-");
    CU_ASSERT_EQUAL(
        annotate_set(a, "shared.x", "/shared/comment", NULL, big, ANNOTATE_VALUE_MAX), 0);
    free(big);

    /* ANNOTATE_ENTRIES_MAX per owner and mailbox, in batches */
    struct annotate_change ch[100];
    char names[100][40];
    int r = 0;
    for (int batch = 0; !r && batch < ANNOTATE_ENTRIES_MAX / 100; batch++) {
        for (int i = 0; i < 100; i++) {
            snprintf(names[i], sizeof(names[i]), "/private/vendor/t/e%d",
                     batch * 100 + i);
            ch[i].entry = names[i];
            ch[i].value = "1";
            ch[i].len = 1;
            ch[i].userid = NULL;
        }
        r = annotate_write(a, "shared.x", "alice", ch, 100);
    }
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(set(a, "shared.x", "/private/vendor/t/one-more", "alice", "1"),
                    CYRERR_LIMIT);
    ASSERT_GET(a, "shared.x", "/private/vendor/t/one-more", "alice", "-");
    /* replacing an existing entry, other owners and other mailboxes are fine */
    CU_ASSERT_EQUAL(set(a, "shared.x", "/private/vendor/t/e5", "alice", "2"), 0);
    CU_ASSERT_EQUAL(set(a, "shared.x", "/private/vendor/t/one-more", "bob", "1"), 0);
    CU_ASSERT_EQUAL(set(a, "shared.y", "/private/vendor/t/one-more", "alice", "1"), 0);

    /* a batch is all or nothing */
    struct annotate_change two[2] = {
        {"/shared/vendor/t/ok", "fine", 4, NULL},
        {"/shared/bad//name", "x", 1, NULL},
    };
    CU_ASSERT_EQUAL(annotate_write(a, "shared.y", NULL, two, 2), CYRERR_BADARGS);
    ASSERT_GET(a, "shared.y", "/shared/vendor/t/ok", NULL, "-");
    CU_ASSERT_EQUAL(annotate_write(a, "shared.y", NULL, two, 0), 0);

    /* a change may name its own owner */
    struct annotate_change mixed[2] = {
        {"/private/vendor/t/mine", "a", 1, NULL},
        {"/private/vendor/t/theirs", "b", 1, "bob"},
    };
    CU_ASSERT_EQUAL(annotate_write(a, "shared.y", "alice", mixed, 2), 0);
    ASSERT_GET(a, "shared.y", "/private/vendor/t/mine", "alice", "a");
    ASSERT_GET(a, "shared.y", "/private/vendor/t/theirs", "bob", "b");
    ASSERT_GET(a, "shared.y", "/private/vendor/t/theirs", "alice", "-");
    CU_ASSERT_EQUAL(annotate_write(a, "shared.y", NULL, NULL, 1), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
}

static void test_foreach(void)
{
    struct annotate *a = fresh();
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, "c"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/vendor/v/a", NULL, "1"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/vendor/v/a/deep", NULL, "2"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/vendorx", NULL, "3"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "alice", "p"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "bob", "q"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice.sub", "/shared/comment", NULL, "child"), 0);
    CU_ASSERT_EQUAL(set(a, "", "/shared/comment", NULL, "server"), 0);

    ASSERT_LIST(a, "user.alice", "/shared", -1, "alice",
                "/shared/comment=c /shared/vendor/v/a=1 /shared/vendor/v/a/deep=2 "
                "/shared/vendorx=3");
    ASSERT_LIST(a, "user.alice", "/shared", 1, "alice",
                "/shared/comment=c /shared/vendorx=3");
    ASSERT_LIST(a, "user.alice", "/shared", 0, "alice", "");
    ASSERT_LIST(a, "user.alice", "/shared/comment", 0, NULL, "/shared/comment=c");
    ASSERT_LIST(a, "user.alice", "/shared/vendor", -1, NULL,
                "/shared/vendor/v/a=1 /shared/vendor/v/a/deep=2");
    ASSERT_LIST(a, "user.alice", "/shared/vendor/v", 1, NULL, "/shared/vendor/v/a=1");
    ASSERT_LIST(a, "user.alice", "/private", -1, "alice", "/private/comment=p");
    ASSERT_LIST(a, "user.alice", "/private", -1, "bob", "/private/comment=q");
    ASSERT_LIST(a, "user.alice", "/private", -1, NULL, "");
    ASSERT_LIST(a, "user.alice", "/Private/COMMENT", 0, "bob", "/private/comment=q");
    ASSERT_LIST(a, "user.alice.sub", "/shared", -1, NULL, "/shared/comment=child");
    ASSERT_LIST(a, "", "/shared", -1, NULL, "/shared/comment=server");
    ASSERT_LIST(a, "user.nobody", "/shared", -1, NULL, "");
    struct strarray sa = STRARRAY_INITIALIZER;
    CU_ASSERT_EQUAL(
        annotate_foreach(a, "user.alice", "/shared/*", -1, NULL, list_cb, &sa),
        CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_foreach(a, "bad..name", "/shared", -1, NULL, list_cb, &sa),
                    CYRERR_BADNAME);
    CU_ASSERT_EQUAL(sa.count, 0);
    strarray_free(&sa);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
}

static void test_delete_rename(void)
{
    struct annotate *a = fresh();
    CU_ASSERT_EQUAL(set(a, "user.alice", "/shared/comment", NULL, "top"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice", "/private/comment", "bob", "bob's"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice.a", "/shared/comment", NULL, "a"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice.a.b", "/shared/comment", NULL, "ab"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alice.ab", "/shared/comment", NULL, "not below"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alicex", "/shared/comment", NULL, "other"), 0);
    CU_ASSERT_EQUAL(set(a, "", "/private/comment", "bob", "bob server"), 0);

    /* a tree moves, its neighbours stay */
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.alice.a", "user.alice.z"), 2);
    ASSERT_GET(a, "user.alice.a", "/shared/comment", NULL, "-");
    ASSERT_GET(a, "user.alice.a.b", "/shared/comment", NULL, "-");
    ASSERT_GET(a, "user.alice.z", "/shared/comment", NULL, "a");
    ASSERT_GET(a, "user.alice.z.b", "/shared/comment", NULL, "ab");
    ASSERT_GET(a, "user.alice.ab", "/shared/comment", NULL, "not below");
    /* into its own subtree, and a user rename with private entries */
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.alice.z", "user.alice.z.b.c"), 2);
    ASSERT_GET(a, "user.alice.z.b.c", "/shared/comment", NULL, "a");
    ASSERT_GET(a, "user.alice.z.b.c.b", "/shared/comment", NULL, "ab");
    ASSERT_GET(a, "user.alice.z.b", "/shared/comment", NULL, "-");
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.alice", "user.carol"), 5);
    ASSERT_GET(a, "user.carol.z.b.c.b", "/shared/comment", NULL, "ab");
    ASSERT_GET(a, "user.carol", "/private/comment", "bob", "bob's");
    ASSERT_GET(a, "user.carol.ab", "/shared/comment", NULL, "not below");
    ASSERT_GET(a, "user.alicex", "/shared/comment", NULL, "other");
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.nobody", "user.nobody2"), 0);
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.carol", "user.carol"), 0);
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "", "user.x"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_rename_mailbox(a, "user.carol", "bad..name"),
                    CYRERR_BADNAME);

    /* deleting one mailbox leaves its children and the server alone */
    CU_ASSERT_EQUAL(annotate_delete_mailbox(a, "user.carol"), 2);
    ASSERT_GET(a, "user.carol", "/shared/comment", NULL, "-");
    ASSERT_GET(a, "user.carol.ab", "/shared/comment", NULL, "not below");
    CU_ASSERT_EQUAL(annotate_delete_mailbox(a, "user.carol"), 0);
    CU_ASSERT_EQUAL(annotate_delete_mailbox(a, ""), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_delete_mailbox(a, "a..b"), CYRERR_BADNAME);

    /* a user rename: the owner's private entries everywhere */
    CU_ASSERT_EQUAL(set(a, "", "/private/comment", "dan", "dan server"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alicex", "/private/comment", "dan", "dan's"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alicex", "/private/comment", "danny", "not dan"), 0);
    CU_ASSERT_EQUAL(annotate_rename_user(a, "dan", "eve"), 2);
    ASSERT_GET(a, "", "/private/comment", "eve", "dan server");
    ASSERT_GET(a, "user.alicex", "/private/comment", "eve", "dan's");
    ASSERT_GET(a, "user.alicex", "/private/comment", "dan", "-");
    ASSERT_GET(a, "user.alicex", "/private/comment", "danny", "not dan");
    ASSERT_GET(a, "user.alicex", "/shared/comment", NULL, "other");
    CU_ASSERT_EQUAL(annotate_rename_user(a, "nobody", "eve"), 0);
    CU_ASSERT_EQUAL(annotate_rename_user(a, "eve", ""), CYRERR_BADARGS);

    /* a user's private entries everywhere */
    CU_ASSERT_EQUAL(set(a, "user.alicex", "/private/comment", "bob", "b2"), 0);
    CU_ASSERT_EQUAL(set(a, "user.alicex", "/private/comment", "bo", "not bob"), 0);
    CU_ASSERT_EQUAL(annotate_delete_user(a, "bob"), 2);
    ASSERT_GET(a, "", "/private/comment", "bob", "-");
    ASSERT_GET(a, "user.alicex", "/private/comment", "bo", "not bob");
    ASSERT_GET(a, "user.alicex", "/shared/comment", NULL, "other");
    CU_ASSERT_EQUAL(annotate_delete_user(a, ""), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
}

static void test_open(void)
{
    struct annotate *a = NULL;
    /* the configured place: <configdirectory>/annotations.db */
    CU_ASSERT_EQUAL(annotate_open(NULL, NULL, ANNOTATE_CREATE, &a), 0);
    CU_ASSERT_EQUAL(set(a, "", "/shared/comment", NULL, "x"), 0);
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
    char *path = xasprintf("%s/%s", harness_backend_confdir(), ANNOTATE_FNAME);
    CU_ASSERT_EQUAL(annotate_open(backend, path, 0, &a), 0);
    ASSERT_GET(a, "", "/shared/comment", NULL, "x");
    CU_ASSERT_EQUAL(annotate_close(&a), 0);
    free(path);

    char *missing = xasprintf("%s/nowhere/annotations.db", harness_tmpdir());
    CU_ASSERT_NOT_EQUAL(annotate_open(backend, missing, 0, &a), 0);
    CU_ASSERT_PTR_NULL(a);
    free(missing);
    CU_ASSERT_EQUAL(annotate_open("nosuch", NULL, 0, &a), CYRERR_CONFIG);
    CU_ASSERT_EQUAL(annotate_open(backend, "", 0, &a), CYRERR_BADARGS);
}

static void add_all(CU_pSuite s)
{
    ADD_TEST(s, test_entry_names);
    ADD_TEST(s, test_get_set);
    ADD_TEST(s, test_limits);
    ADD_TEST(s, test_foreach);
    ADD_TEST(s, test_delete_rename);
    ADD_TEST(s, test_open);
}

void register_tests(void)
{
    add_all(harness_suite("annotate-flat", init_flat, cleanup));
    add_all(harness_suite("annotate-berkeley", init_berkeley, cleanup));
    add_all(harness_suite("annotate-berkeley-nosync", init_nosync, cleanup));
}
