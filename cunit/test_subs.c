/* Tests for imap/store/subs (subscriptions) over both cyrusdb backends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/subs.h"

static const char *backend;
static int counter;

static int setup(const char *be)
{
    backend = be;
    return harness_backend_setup(be, "subscription_db: %s\nvirtdomains: userid\n", be);
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

static struct subs *fresh(char **fnamep)
{
    struct subs *s = NULL;
    char *fname = xasprintf("%s/%s-%d/x.sub", harness_tmpdir(), backend, ++counter);
    CU_ASSERT_EQUAL_FATAL(subs_open_file(backend, fname, SUBS_CREATE, &s), 0);
    if (fnamep) *fnamep = fname;
    else free(fname);
    return s;
}

/* The list (with prefix) joined by spaces. */
static char *listed(struct subs *s, const char *prefix)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    CU_ASSERT_EQUAL(subs_list(s, prefix, &sa), 0);
    char *j = sa.count ? strarray_join(&sa, " ") : xstrdup("");
    strarray_free(&sa);
    return j;
}

#define ASSERT_LIST(s, prefix, want)                     \
    do {                                                 \
        char *got_ = listed((s), (prefix));              \
        CU_ASSERT_STRING_EQUAL(got_, (want));            \
        free(got_);                                      \
    } while (0)

static void test_add_remove(void)
{
    char *fname;
    struct subs *s = fresh(&fname);
    ASSERT_LIST(s, NULL, "");
    CU_ASSERT_EQUAL(subs_is_subscribed(s, "user.alice"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "user.alice"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "user.alice"), 0);          /* twice: fine */
    CU_ASSERT_EQUAL(subs_add(s, "shared.news"), 0);
    CU_ASSERT_EQUAL(subs_is_subscribed(s, "user.alice"), 1);
    CU_ASSERT_EQUAL(subs_is_subscribed(s, "user.alic"), 0);
    ASSERT_LIST(s, NULL, "shared.news user.alice");

    /* only valid internal names */
    CU_ASSERT_EQUAL(subs_add(s, ""), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(subs_add(s, "user"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(subs_add(s, "user..x"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(subs_add(s, "a/b"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(subs_add(s, NULL), CYRERR_BADARGS);
    ASSERT_LIST(s, NULL, "shared.news user.alice");

    CU_ASSERT_EQUAL(subs_remove(s, "user.alice"), 0);
    CU_ASSERT_EQUAL(subs_remove(s, "user.alice"), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(subs_remove(s, ""), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(subs_is_subscribed(s, "user.alice"), 0);
    CU_ASSERT_EQUAL(subs_close(&s), 0);
    CU_ASSERT_PTR_NULL(s);

    /* kept across a reopen */
    CU_ASSERT_EQUAL_FATAL(subs_open_file(backend, fname, 0, &s), 0);
    ASSERT_LIST(s, NULL, "shared.news");
    CU_ASSERT_EQUAL(subs_close(&s), 0);
    free(fname);

    char *missing = xasprintf("%s/%s-none/y.sub", harness_tmpdir(), backend);
    CU_ASSERT_EQUAL(subs_open_file(backend, missing, 0, &s), CYRERR_NOTFOUND);
    free(missing);
}

static void test_order(void)
{
    struct subs *s = fresh(NULL);
    static const char *const names[] = {
        "user.a2", "user.a.x", "user.a", "shared.z", "user.a.b", "user.a-b",
        "example.org!user.c", "user.a.x.deep",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CU_ASSERT_EQUAL(subs_add(s, names[i]), 0);
    /* mailbox order: a mailbox's children come right after it */
    ASSERT_LIST(s, NULL,
                "example.org!user.c shared.z user.a user.a.b user.a.x user.a.x.deep "
                "user.a-b user.a2");
    ASSERT_LIST(s, "user.a", "user.a user.a.b user.a.x user.a.x.deep user.a-b user.a2");
    ASSERT_LIST(s, "user.a.", "user.a.b user.a.x user.a.x.deep");
    ASSERT_LIST(s, "nothing", "");
    CU_ASSERT_EQUAL(subs_close(&s), 0);
}

static void test_rename_mailbox(void)
{
    struct subs *s = fresh(NULL);
    static const char *const names[] = { "user.a", "user.a.x", "user.a.x.y", "user.a.xy",
                                         "user.a2" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CU_ASSERT_EQUAL(subs_add(s, names[i]), 0);
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "user.a.x", "user.a.z"), 2);
    ASSERT_LIST(s, NULL, "user.a user.a.xy user.a.z user.a.z.y user.a2");
    /* not subscribed: nothing moves */
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "user.b", "user.c"), 0);
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "user.a", "user.a"), 0);
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "user", "user.q"), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "user.a", "bad..name"), CYRERR_BADNAME);

    /* old and new names overlap: shared.a.b -> shared.a maps shared.a.b.b
     * onto shared.a.b, which is itself being moved */
    CU_ASSERT_EQUAL(subs_add(s, "shared.a.b"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "shared.a.b.b"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "shared.a.b.x"), 0);
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "shared.a.b", "shared.a"), 3);
    ASSERT_LIST(s, "shared", "shared.a shared.a.b shared.a.x");
    /* and the other way round: into its own subtree */
    CU_ASSERT_EQUAL(subs_rename_mailbox(s, "shared.a", "shared.a.n"), 3);
    ASSERT_LIST(s, "shared", "shared.a.n shared.a.n.b shared.a.n.x");
    CU_ASSERT_EQUAL(subs_close(&s), 0);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_users(void)
{
    struct subs *s = NULL;
    struct buf path = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(subs_path("fred", &path), 0);
    char *want = xasprintf("%s/user/f/fred.sub", harness_backend_confdir());
    CU_ASSERT_STRING_EQUAL(buf_cstring(&path), want);
    free(want);
    CU_ASSERT_EQUAL(subs_open("fred", 0, &s), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(subs_open("../fred", SUBS_CREATE, &s), CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL_FATAL(subs_open("fred", SUBS_CREATE, &s), 0);
    CU_ASSERT_EQUAL(subs_add(s, "user.fred"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "user.fred.Sent"), 0);
    CU_ASSERT_EQUAL(subs_add(s, "user.fredx"), 0);          /* not fred's */
    CU_ASSERT_EQUAL(subs_add(s, "shared.news"), 0);
    CU_ASSERT_EQUAL(subs_close(&s), 0);
    CU_ASSERT_TRUE(file_exists(buf_cstring(&path)));

    /* the new user may already have subscriptions: they are kept */
    CU_ASSERT_EQUAL_FATAL(subs_open("fred.new@example.com", SUBS_CREATE, &s), 0);
    CU_ASSERT_EQUAL(subs_add(s, "example.com!shared.own"), 0);
    CU_ASSERT_EQUAL(subs_close(&s), 0);

    CU_ASSERT_EQUAL(subs_rename_user("fred", "fred.new@example.com"), 0);
    CU_ASSERT_FALSE(file_exists(buf_cstring(&path)));
    CU_ASSERT_EQUAL_FATAL(subs_open("fred.new@example.com", 0, &s), 0);
    ASSERT_LIST(s, NULL,
                "example.com!shared.own example.com!user.fred^new "
                "example.com!user.fred^new.Sent shared.news user.fredx");
    CU_ASSERT_EQUAL(subs_close(&s), 0);
    CU_ASSERT_EQUAL(subs_path("fred.new@example.com", &path), 0);
    want = xasprintf("%s/domain/e/example.com/user/f/fred.new.sub", harness_backend_confdir());
    CU_ASSERT_STRING_EQUAL(buf_cstring(&path), want);
    free(want);

    CU_ASSERT_EQUAL(subs_rename_user("ghost", "ghost2"), 0);
    CU_ASSERT_EQUAL(subs_open("ghost2", 0, &s), CYRERR_NOTFOUND);

    CU_ASSERT_EQUAL(subs_delete_user("fred.new@example.com"), 0);
    CU_ASSERT_FALSE(file_exists(buf_cstring(&path)));
    CU_ASSERT_EQUAL(subs_delete_user("fred.new@example.com"), 0);
    CU_ASSERT_EQUAL(subs_delete_user("a/b"), CYRERR_INVALID_USER);
    buf_free(&path);
}

static void add_all(CU_pSuite s)
{
    ADD_TEST(s, test_add_remove);
    ADD_TEST(s, test_order);
    ADD_TEST(s, test_rename_mailbox);
    ADD_TEST(s, test_users);
}

void register_tests(void)
{
    add_all(harness_suite("subs-flat", init_flat, cleanup));
    add_all(harness_suite("subs-berkeley", init_berkeley, cleanup));
}
