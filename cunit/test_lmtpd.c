/* Tests for lmtpd's recipient handling (lmtp/lmtpd_rcpt.c): addresses to
 * mailbox names, lookups with mailbox types and ACLs, +detail resolution
 * (fuzzy matching included), quota checks and the reply codes.  The
 * databases are flat files in the test's directory; lmtpd.c's store
 * functions are replaced by the ones below. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "xmalloc.h"
#include "imap/store/acl.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"
#include "lmtp/lmtpd.h"

static struct mboxlist *test_ml;

/* lmtpd.c's, for the code under test */
int lmtpd_store_mboxlist(struct lmtpd_store *st, struct mboxlist **ml_r)
{
    (void)st;
    if (!test_ml) return CYRERR_IO;
    *ml_r = test_ml;
    return 0;
}

struct duplicate *lmtpd_store_duplicate(struct lmtpd_store *st)
{
    (void)st;
    return NULL;
}

static void default_cfg(struct lmtpd_config *cfg)
{
    struct namespace ns = NAMESPACE_INITIALIZER;
    memset(cfg, 0, sizeof(*cfg));
    cfg->ns = ns;
    cfg->ns.defaultdomain = "example.com";
    cfg->downcase_rcpt = 1;
    cfg->postuser = "";
    cfg->owner_rights = ACL_LOOKUP | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN | ACL_ANNOTATE;
}

/* Parse and describe: "inbox|target|userid" or "error:<name>". */
static char *parse(const struct lmtpd_config *cfg, const char *rcpt)
{
    struct lmtpd_addr a;
    int r = lmtpd_addr_parse(cfg, rcpt, &a);
    if (r) return xasprintf("error:%s", error_name(r));
    char *s = xasprintf("%s|%s|%s", a.inbox ? a.inbox : "-", a.target ? a.target : "-",
                        a.userid ? a.userid : "-");
    lmtpd_addr_fini(&a);
    return s;
}

#define EXPECT_PARSE(cfg, rcpt, want)                                   \
    do {                                                                \
        char *got_ = parse((cfg), (rcpt));                              \
        CU_ASSERT_STRING_EQUAL(got_, (want));                           \
        if (strcmp(got_, (want)))                                       \
            fprintf(stderr, "\n%s: got %s want %s\n", (rcpt), got_, (want)); \
        free(got_);                                                     \
    } while (0)

static void test_addr_users(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    EXPECT_PARSE(&cfg, "alice", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "alice@example.org", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "Alice@Example.ORG", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "john.doe", "user.john^doe|-|john.doe");
    EXPECT_PARSE(&cfg, "\"alice\"@example.org", "user.alice|-|alice");
    cfg.downcase_rcpt = 0;
    EXPECT_PARSE(&cfg, "Alice+Lists", "user.Alice|user.Alice.Lists|Alice");
    /* not a mailbox anybody can have */
    EXPECT_PARSE(&cfg, "", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "@example.org", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "\"unbalanced@example.org", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "anyone", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "anonymous+x", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "a^b", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "a/b", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "a%b", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, ".alice", "user.^alice|-|.alice");
}

static void test_addr_detail(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    EXPECT_PARSE(&cfg, "ALICE+Lists.Work", "user.alice|user.alice.Lists.Work|alice");
    EXPECT_PARSE(&cfg, "alice+", "user.alice|-|alice");
    /* a detail that cannot be a folder is dropped: the INBOX */
    EXPECT_PARSE(&cfg, "alice+a..b", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "alice+.a", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "alice+a/b", "user.alice|-|alice");
    EXPECT_PARSE(&cfg, "alice+a+b", "user.alice|user.alice.a+b|alice");
    EXPECT_PARSE(&cfg, "alice+x^y", "user.alice|user.alice.x^y|alice");
    /* UTF-8 in the detail is stored as modified UTF-7 */
    EXPECT_PARSE(&cfg, "alice+caf\xc3\xa9", "user.alice|user.alice.caf&AOk-|alice");
    EXPECT_PARSE(&cfg, "alice+bad\xff", "user.alice|-|alice");
    /* with the '/' separator a '.' is part of a level */
    cfg.ns.hier_sep = '/';
    EXPECT_PARSE(&cfg, "alice+lists/work", "user.alice|user.alice.lists.work|alice");
    EXPECT_PARSE(&cfg, "alice+a.b", "user.alice|user.alice.a^b|alice");
    EXPECT_PARSE(&cfg, "alice+a^b", "user.alice|-|alice");
}

static void test_addr_domains(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    cfg.ns.virtdomains = 1;
    EXPECT_PARSE(&cfg, "bob@Example.ORG", "example.org!user.bob|-|bob@example.org");
    EXPECT_PARSE(&cfg, "bob@example.com", "user.bob|-|bob");
    EXPECT_PARSE(&cfg, "bob", "user.bob|-|bob");
    EXPECT_PARSE(&cfg, "bob+x@example.org",
                 "example.org!user.bob|example.org!user.bob.x|bob@example.org");
    EXPECT_PARSE(&cfg, "bob@bad_domain!", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "+shared.memo@example.org", "-|example.org!shared.memo|-");
    EXPECT_PARSE(&cfg, "+shared.memo@example.com", "-|shared.memo|-");
}

static void test_addr_shared(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    EXPECT_PARSE(&cfg, "+shared.memo", "-|shared.memo|-");
    EXPECT_PARSE(&cfg, "+shared", "-|shared|-");
    EXPECT_PARSE(&cfg, "+", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "+a..b", "error:CYRERR_MAILBOX_NONEXISTENT");
    /* a user's mailbox is not reached this way */
    EXPECT_PARSE(&cfg, "+user.alice", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "+user", "error:CYRERR_MAILBOX_NONEXISTENT");
    cfg.postuser = "Bb";
    EXPECT_PARSE(&cfg, "bb+shared.memo", "-|shared.memo|-");
    EXPECT_PARSE(&cfg, "BB+shared.memo", "-|shared.memo|-");
    EXPECT_PARSE(&cfg, "bb", "error:CYRERR_MAILBOX_NONEXISTENT");
    EXPECT_PARSE(&cfg, "+shared.memo", "error:CYRERR_MAILBOX_NONEXISTENT");
    cfg.downcase_rcpt = 0;
    EXPECT_PARSE(&cfg, "Bb+shared.memo", "-|shared.memo|-");
    EXPECT_PARSE(&cfg, "bb+shared.memo", "user.bb|user.bb.shared.memo|bb");
}

static void expect_status(const struct lmtpd_config *cfg, int r, int shared, int code,
                          const char *enhanced, const char *text)
{
    struct lmtp_status st;
    memset(&st, 0, sizeof(st));
    lmtpd_status_for(cfg, r, shared, &st);
    CU_ASSERT_EQUAL(st.code, code);
    CU_ASSERT_STRING_EQUAL(st.enhanced, enhanced);
    if (text) CU_ASSERT_STRING_EQUAL(buf_cstring(&st.text), text);
    buf_free(&st.text);
}

static void test_status(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    expect_status(&cfg, 0, 0, 250, "2.1.5", "Ok");
    expect_status(&cfg, CYRERR_MAILBOX_NONEXISTENT, 0, 550, "5.1.1", "User unknown");
    expect_status(&cfg, CYRERR_MAILBOX_NONEXISTENT, 1, 550, "5.1.1", "Mailbox unknown");
    expect_status(&cfg, CYRERR_PERMISSION, 1, 550, "5.7.1", NULL);
    expect_status(&cfg, CYRERR_QUOTA_EXCEEDED, 0, 452, "4.2.2", "Over quota");
    expect_status(&cfg, CYRERR_MAILBOX_RESERVED, 0, 450, "4.2.1", NULL);
    expect_status(&cfg, CYRERR_MAILBOX_MOVED, 0, 450, "4.2.1", NULL);
    expect_status(&cfg, CYRERR_MAILBOX_NOTSUPPORTED, 0, 451, "4.3.0", NULL);
    expect_status(&cfg, CYRERR_MESSAGE_CONTAINSNUL, 0, 554, "5.6.0", NULL);
    expect_status(&cfg, CYRERR_TOOBIG, 0, 552, "5.3.4", NULL);
    expect_status(&cfg, CYRERR_IO, 0, 451, "4.3.0", NULL);
    expect_status(&cfg, CYRERR_DEADLOCK, 0, 451, "4.3.0", NULL);
    cfg.over_quota_perm = 1;
    expect_status(&cfg, CYRERR_QUOTA_EXCEEDED, 0, 552, "5.2.2", "Over quota");
}

/* ---- with a mailboxes.db ------------------------------------------------ */

static int counter;

static int open_db(void)
{
    char *f = xasprintf("%s/mailboxes-%d.db", harness_tmpdir(), ++counter);
    int r = mboxlist_open("flat", f, CYRUSDB_CREATE, &test_ml);
    free(f);
    return r;
}

static void close_db(void)
{
    if (test_ml) (void)mboxlist_close(test_ml);
    test_ml = NULL;
}

static void add(const char *name, const char *acl, unsigned type, const char *server)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    e.name = (char *)name;
    e.partition = (char *)"default";
    e.acl = (char *)acl;
    e.type = type;
    e.server = (char *)server;
    CU_ASSERT_EQUAL_FATAL(mboxlist_store(test_ml, &e, NULL), 0);
}

static int lookup(const struct lmtpd_config *cfg, const char *name, const char *sender)
{
    struct lmtpd_store st;
    memset(&st, 0, sizeof(st));
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    struct lmtpd_sender who = { sender };
    int r = lmtpd_lookup(cfg, &st, name, sender ? &who : NULL, &e);
    if (!r) CU_ASSERT_STRING_EQUAL(e.name, name);
    mboxlist_entry_free(&e);
    return r;
}

static void test_lookup(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    CU_ASSERT_EQUAL_FATAL(open_db(), 0);
    add("user.alice", "alice\tlrswipkxtecda\t", 0, NULL);
    add("user.bob", "bob\tlrswipkxtecda\t", MBOXLIST_RESERVED, NULL);
    add("user.carol", "carol\tlrswipkxtecda\t", MBOXLIST_MOVING, "backend2");
    add("user.dave", "dave\tlrswipkxtecda\t", MBOXLIST_REMOTE, "backend2");
    add("user.eve", "eve\tlrswipkxtecda\t", MBOXLIST_DELETED, NULL);
    add("shared.open", "anyone\tlrsp\t", 0, NULL);
    add("shared.seen", "anyone\tlrs\t", 0, NULL);
    add("shared.hidden", "alice\tlrs\t", 0, NULL);
    add("shared.bobonly", "anyone\tl\tbob\tp\t-carol\tp\t", 0, NULL);

    CU_ASSERT_EQUAL(lookup(&cfg, "user.alice", NULL), 0);
    CU_ASSERT_EQUAL(lookup(&cfg, "user.nobody", NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(lookup(&cfg, "not..valid", NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(lookup(&cfg, "user.bob", NULL), CYRERR_MAILBOX_RESERVED);
    CU_ASSERT_EQUAL(lookup(&cfg, "user.carol", NULL), CYRERR_MAILBOX_MOVED);
    CU_ASSERT_EQUAL(lookup(&cfg, "user.dave", NULL), CYRERR_MAILBOX_NOTSUPPORTED);
    CU_ASSERT_EQUAL(lookup(&cfg, "user.eve", NULL), CYRERR_MAILBOX_NONEXISTENT);

    /* the 'p' right, for a user and for anonymous (NULL or "anonymous") */
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.open", "anonymous"), 0);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.open", "zed"), 0);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.seen", "anonymous"), CYRERR_PERMISSION);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.hidden", "zed"), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.hidden", "alice"), CYRERR_PERMISSION);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.bobonly", "bob"), 0);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.bobonly", "carol"), CYRERR_PERMISSION);
    CU_ASSERT_EQUAL(lookup(&cfg, "shared.bobonly", "anonymous"), CYRERR_PERMISSION);
    /* the owner's implicit rights do not include 'p' */
    CU_ASSERT_EQUAL(lookup(&cfg, "user.alice", "alice"), 0);   /* explicit p */
    close_db();
    /* no database: an error, never a success */
    CU_ASSERT_EQUAL(lookup(&cfg, "user.alice", NULL), CYRERR_IO);
}

static char *resolve(const struct lmtpd_config *cfg, const char *rcpt, const char *sender)
{
    struct lmtpd_store st;
    memset(&st, 0, sizeof(st));
    struct lmtpd_addr a;
    int r = lmtpd_addr_parse(cfg, rcpt, &a);
    if (r) return xasprintf("error:%s", error_name(r));
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    struct lmtpd_sender who = { sender };
    char *name = NULL;
    r = lmtpd_resolve(cfg, &st, &a, &who, &name, &e);
    char *out = r ? xasprintf("error:%s", error_name(r)) : xstrdup(name);
    if (!r) CU_ASSERT_STRING_EQUAL(e.name, name);
    free(name);
    mboxlist_entry_free(&e);
    lmtpd_addr_fini(&a);
    return out;
}

#define EXPECT_RESOLVE(cfg, rcpt, sender, want)                         \
    do {                                                                \
        char *got_ = resolve((cfg), (rcpt), (sender));                  \
        CU_ASSERT_STRING_EQUAL(got_, (want));                           \
        if (strcmp(got_, (want)))                                       \
            fprintf(stderr, "\n%s: got %s want %s\n", (rcpt), got_, (want)); \
        free(got_);                                                     \
    } while (0)

static void test_resolve(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    CU_ASSERT_EQUAL_FATAL(open_db(), 0);
    add("user.alice", "alice\tlrswipkxtecda\t", 0, NULL);
    add("user.alice.lists", "alice\tlrswipkxtecda\tanyone\tp\t", 0, NULL);
    add("user.alice.Mailing Lists", "alice\tlrswipkxtecda\tanyone\tp\t", 0, NULL);
    add("user.alice.Mailing Lists.Work", "alice\tlrswipkxtecda\tanyone\tp\t", 0, NULL);
    add("user.alice.private", "alice\tlrswipkxtecda\t", 0, NULL);
    add("user.alice.frombob", "alice\tlrswipkxtecda\tbob\tp\t", 0, NULL);
    add("user.alice.moving", "anyone\tp\t", MBOXLIST_MOVING, "b2");
    add("user.zoe.x", "anyone\tp\t", 0, NULL);     /* a folder without INBOX */
    add("shared.memo", "anyone\tp\t", 0, NULL);

    EXPECT_RESOLVE(&cfg, "alice", NULL, "user.alice");
    EXPECT_RESOLVE(&cfg, "alice+lists", NULL, "user.alice.lists");
    EXPECT_RESOLVE(&cfg, "alice+private", NULL, "user.alice");
    EXPECT_RESOLVE(&cfg, "alice+nosuch", NULL, "user.alice");
    EXPECT_RESOLVE(&cfg, "alice+frombob", NULL, "user.alice");
    EXPECT_RESOLVE(&cfg, "alice+frombob", "bob", "user.alice.frombob");
    EXPECT_RESOLVE(&cfg, "alice+moving", NULL, "error:CYRERR_MAILBOX_MOVED");
    EXPECT_RESOLVE(&cfg, "alice+LISTS", NULL, "user.alice");
    /* RCPT refuses a user without an INBOX, whatever the detail */
    struct lmtpd_addr a;
    struct lmtpd_store st;
    struct lmtp_status status;
    memset(&st, 0, sizeof(st));
    memset(&status, 0, sizeof(status));
    CU_ASSERT_EQUAL_FATAL(lmtpd_addr_parse(&cfg, "zoe+x", &a), 0);
    lmtpd_verify_rcpt(&cfg, &st, &a, NULL, 1, &status);
    CU_ASSERT_EQUAL(status.code, 550);
    CU_ASSERT_STRING_EQUAL(status.enhanced, "5.1.1");
    lmtpd_addr_fini(&a);
    CU_ASSERT_EQUAL_FATAL(lmtpd_addr_parse(&cfg, "alice+x", &a), 0);
    lmtpd_verify_rcpt(&cfg, &st, &a, NULL, 1, &status);
    CU_ASSERT_EQUAL(status.code, 250);
    lmtpd_addr_fini(&a);
    struct lmtpd_sender anon = { NULL };
    CU_ASSERT_EQUAL_FATAL(lmtpd_addr_parse(&cfg, "+shared.memo", &a), 0);
    lmtpd_verify_rcpt(&cfg, &st, &a, &anon, 1, &status);
    CU_ASSERT_EQUAL(status.code, 250);
    lmtpd_addr_fini(&a);
    buf_free(&status.text);
    EXPECT_RESOLVE(&cfg, "+shared.memo", NULL, "shared.memo");
    EXPECT_RESOLVE(&cfg, "+shared.none", NULL, "error:CYRERR_MAILBOX_NONEXISTENT");

    cfg.fuzzy_match = 1;
    EXPECT_RESOLVE(&cfg, "alice+LISTS", NULL, "user.alice.lists");
    EXPECT_RESOLVE(&cfg, "alice+mailinglists.work", NULL, "user.alice.Mailing Lists.Work");
    EXPECT_RESOLVE(&cfg, "alice+MailingLists.Other.Deeper", NULL, "user.alice.Mailing Lists");
    EXPECT_RESOLVE(&cfg, "alice+lists.x", NULL, "user.alice.lists");
    EXPECT_RESOLVE(&cfg, "alice+PRIVATE", NULL, "user.alice");
    EXPECT_RESOLVE(&cfg, "alice+nothing.like.it", NULL, "user.alice");
    close_db();
}

static void test_quota(void)
{
    struct lmtpd_config cfg;
    default_cfg(&cfg);
    char *f = xasprintf("%s/quotas.db", harness_tmpdir());
    CU_ASSERT_EQUAL_FATAL(quota_open_backend("flat", f), 0);
    free(f);
    long long lim[QUOTA_NUMRESOURCES] = { 10, QUOTA_UNLIMITED };   /* 10 KiB */
    CU_ASSERT_EQUAL_FATAL(quota_setlimits("user.alice", lim), 0);
    lim[QUOTA_STORAGE] = QUOTA_UNLIMITED;
    lim[QUOTA_MESSAGE] = 2;
    CU_ASSERT_EQUAL_FATAL(quota_setlimits("user.bob", lim), 0);

    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.nobody", 0), 0);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.alice.sub", 0), 0);
    CU_ASSERT_EQUAL(quota_update_used("user.alice", 10 * 1024 - 1, 1), 0);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.alice", 100000), 0);   /* not strict */
    cfg.strict_quota = 1;
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.alice", 2), CYRERR_QUOTA_EXCEEDED);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.alice", 1), 0);
    cfg.strict_quota = 0;
    CU_ASSERT_EQUAL(quota_update_used("user.alice", 1, 0), 0);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.alice.sub", 0), CYRERR_QUOTA_EXCEEDED);

    CU_ASSERT_EQUAL(quota_update_used("user.bob", 0, 1), 0);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.bob", 0), 0);
    CU_ASSERT_EQUAL(quota_update_used("user.bob", 0, 1), 0);
    CU_ASSERT_EQUAL(lmtpd_quota_full(&cfg, "user.bob", 0), CYRERR_QUOTA_EXCEEDED);
    quota_close();
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("lmtpd-rcpt", NULL, NULL);
    ADD_TEST(s, test_addr_users);
    ADD_TEST(s, test_addr_detail);
    ADD_TEST(s, test_addr_domains);
    ADD_TEST(s, test_addr_shared);
    ADD_TEST(s, test_status);
    ADD_TEST(s, test_lookup);
    ADD_TEST(s, test_resolve);
    ADD_TEST(s, test_quota);
}
