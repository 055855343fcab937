/* Tests for imap/store/acl: rights strings, ACL strings, effective rights. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/acl.h"
#include "strarray.h"
#include "xmalloc.h"

/* CU_ASSERT_STRING_EQUAL that fails, rather than crashes, on NULL */
static const char *nn(const char *s) { return s ? s : "(null)"; }
#define ASSERT_STREQ(a, b) CU_ASSERT_STRING_EQUAL(nn(a), nn(b))

static unsigned rights_of(const char *s)
{
    unsigned r = 0xdeadbeef;
    CU_ASSERT_EQUAL(acl_rights_parse(s, &r, NULL), 0);
    return r;
}

static const char *fmt(unsigned rights)
{
    static char out[ACL_RIGHTS_STRMAX];
    acl_rights_format(rights, out);
    return out;
}

static void test_rights_letters(void)
{
    CU_ASSERT_EQUAL(rights_of(""), 0);
    CU_ASSERT_EQUAL(rights_of("l"), ACL_LOOKUP);
    CU_ASSERT_EQUAL(rights_of("lrswipkxtean"), ACL_ALL);
    CU_ASSERT_EQUAL(rights_of("lrswipkxtecdan"), ACL_ALL);
    CU_ASSERT_EQUAL(rights_of("0123456789"), ACL_FULL & ~ACL_ALL);
    ASSERT_STREQ(fmt(ACL_ALL), "lrswipkxtecdan");
    ASSERT_STREQ(fmt(ACL_FULL), "lrswipkxtecdan0123456789");
    ASSERT_STREQ(fmt(0), "");
    ASSERT_STREQ(fmt(ACL_LOOKUP | ACL_READ | ACL_SETSEEN), "lrs");

    /* legacy macros (RFC 4314 2.1.1, Cyrus deleteright "c") */
    CU_ASSERT_EQUAL(rights_of("c"), ACL_CREATE | ACL_DELETEMBOX);
    CU_ASSERT_EQUAL(rights_of("d"), ACL_DELETEMSG | ACL_EXPUNGE);
    CU_ASSERT_EQUAL(rights_of("ck"), ACL_CREATE); /* a member given: macro ignored */
    CU_ASSERT_EQUAL(rights_of("dt"), ACL_DELETEMSG);
    CU_ASSERT_EQUAL(rights_of("lrscd"),
                    ACL_LOOKUP | ACL_READ | ACL_SETSEEN | ACL_LEGACY_C | ACL_LEGACY_D);
    /* output adds a macro when any member is present */
    ASSERT_STREQ(fmt(ACL_CREATE), "kc");
    ASSERT_STREQ(fmt(ACL_DELETEMBOX), "xc");
    ASSERT_STREQ(fmt(ACL_EXPUNGE), "ed");
    ASSERT_STREQ(fmt(ACL_LOOKUP | ACL_ADMIN), "la");

    unsigned r;
    enum acl_mode mode;
    CU_ASSERT_EQUAL(acl_rights_parse("lrz", &r, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_rights_parse("L", &r, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_rights_parse(" l", &r, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_rights_parse("+l", &r, NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_rights_parse("+lr", &r, &mode), 0);
    CU_ASSERT_EQUAL(mode, ACL_MODE_ADD);
    CU_ASSERT_EQUAL(r, ACL_LOOKUP | ACL_READ);
    CU_ASSERT_EQUAL(acl_rights_parse("-w", &r, &mode), 0);
    CU_ASSERT_EQUAL(mode, ACL_MODE_REMOVE);
    CU_ASSERT_EQUAL(r, ACL_WRITE);
    CU_ASSERT_EQUAL(acl_rights_parse("lrs", &r, &mode), 0);
    CU_ASSERT_EQUAL(mode, ACL_MODE_SET);
    CU_ASSERT_EQUAL(acl_rights_parse("+-l", &r, &mode), CYRERR_BADARGS);
}

static void test_parse_format(void)
{
    struct acl acl;
    struct buf b = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(acl_parse("alice\tlrswipkxtecdan\tanyone\tlrs\t-bob\tr\t", &acl), 0);
    CU_ASSERT_EQUAL(acl.count, 3);
    ASSERT_STREQ(acl.entries[2].id, "-bob");
    CU_ASSERT_EQUAL(acl_get(&acl, "alice"), ACL_ALL);
    CU_ASSERT_EQUAL(acl_get(&acl, "anyone"), ACL_LOOKUP | ACL_READ | ACL_SETSEEN);
    CU_ASSERT_EQUAL(acl_get(&acl, "nobody"), 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "alice\tlrswipkxtecdan\tanyone\tlrs\t-bob\tr\t");
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl.count, 0);

    /* legacy input is normalised; duplicates merge */
    CU_ASSERT_EQUAL(acl_parse("fred\tlrscd\tfred\tw\t", &acl), 0);
    CU_ASSERT_EQUAL(acl.count, 1);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "fred\tlrswkxtecd\t");
    acl_free(&acl);

    CU_ASSERT_EQUAL(acl_parse("", &acl), 0);
    CU_ASSERT_EQUAL(acl.count, 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "");
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_parse(NULL, &acl), 0);
    acl_free(&acl);

    static const char *const bad[] = {
        "alice", "alice\tlrs", "alice\tlrz\t", "\tlrs\t", "a\tl\tb", "a\x01\tl\t",
        "-\tl\t", "a\tl\tb\tq\t",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(acl_parse(bad[i], &acl), CYRERR_PARSE);
        CU_ASSERT_EQUAL(acl.count, 0);
        CU_ASSERT_PTR_NULL(acl.entries);
    }
    buf_free(&b);
}

static void test_set_remove(void)
{
    struct acl acl = ACL_INITIALIZER;
    struct buf b = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(acl_set(&acl, "alice", ACL_MODE_SET, ACL_ALL), 0);
    CU_ASSERT_EQUAL(acl_set(&acl, "bob", ACL_MODE_ADD, ACL_LOOKUP), 0);
    CU_ASSERT_EQUAL(acl_set(&acl, "bob", ACL_MODE_ADD, ACL_READ), 0);
    CU_ASSERT_EQUAL(acl_get(&acl, "bob"), ACL_LOOKUP | ACL_READ);
    CU_ASSERT_EQUAL(acl_set(&acl, "alice", ACL_MODE_REMOVE, ACL_ADMIN), 0);
    CU_ASSERT_EQUAL(acl_get(&acl, "alice"), ACL_ALL & ~ACL_ADMIN);
    CU_ASSERT_EQUAL(acl_set(&acl, "-carol", ACL_MODE_SET, ACL_READ), 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "alice\tlrswipkxtecdn\tbob\tlr\t-carol\tr\t");

    /* removing every right removes the entry */
    CU_ASSERT_EQUAL(acl_set(&acl, "bob", ACL_MODE_REMOVE, ACL_LOOKUP | ACL_READ), 0);
    CU_ASSERT_EQUAL(acl.count, 2);
    CU_ASSERT_EQUAL(acl_set(&acl, "alice", ACL_MODE_SET, 0), 0);
    CU_ASSERT_EQUAL(acl.count, 1);
    CU_ASSERT_EQUAL(acl_remove(&acl, "-carol"), 0);
    CU_ASSERT_EQUAL(acl_remove(&acl, "-carol"), CYRERR_NOTFOUND);
    CU_ASSERT_EQUAL(acl.count, 0);
    /* removing rights from an absent identifier adds nothing */
    CU_ASSERT_EQUAL(acl_set(&acl, "dave", ACL_MODE_REMOVE, ACL_READ), 0);
    CU_ASSERT_EQUAL(acl.count, 0);

    CU_ASSERT_EQUAL(acl_set(&acl, "", ACL_MODE_SET, ACL_READ), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_set(&acl, "-", ACL_MODE_SET, ACL_READ), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_set(&acl, "a\tb", ACL_MODE_SET, ACL_READ), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_set(&acl, "a\nb", ACL_MODE_SET, ACL_READ), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl_set(&acl, "x", ACL_MODE_SET, 1u << 30), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl.count, 0);
    char *longid = xmalloc(600);
    memset(longid, 'u', 599);
    longid[599] = '\0';
    CU_ASSERT_FALSE(acl_valid_identifier(longid));
    free(longid);
    CU_ASSERT_TRUE(acl_valid_identifier("group:Domain Users"));
    CU_ASSERT_TRUE(acl_valid_identifier("-anyone"));
    acl_free(&acl);

    /* the string form, as SETACL/DELETEACL use it */
    char *s = xstrdup("alice\tlrswipkxtecdan\t");
    CU_ASSERT_EQUAL(acl_string_set(&s, "bob", "lrs"), 0);
    CU_ASSERT_EQUAL(acl_string_set(&s, "bob", "+w"), 0);
    CU_ASSERT_EQUAL(acl_string_set(&s, "alice", "-a"), 0);
    ASSERT_STREQ(s, "alice\tlrswipkxtecdn\tbob\tlrsw\t");
    CU_ASSERT_EQUAL(acl_string_set(&s, "bob", ""), 0);
    ASSERT_STREQ(s, "alice\tlrswipkxtecdn\t");
    CU_ASSERT_EQUAL(acl_string_set(&s, "bob", "lrQ"), CYRERR_BADARGS);
    ASSERT_STREQ(s, "alice\tlrswipkxtecdn\t");
    free(s);
    s = xstrdup("broken");
    CU_ASSERT_EQUAL(acl_string_set(&s, "bob", "l"), CYRERR_PARSE);
    ASSERT_STREQ(s, "broken");
    free(s);
    buf_free(&b);
}

static void test_myrights(void)
{
    struct acl acl;
    struct strarray groups = STRARRAY_INITIALIZER;
    strarray_append(&groups, "group:staff");
    const unsigned owner_rights = rights_of("lkxan");

    CU_ASSERT_EQUAL(acl_parse("alice\tlrswipkxtecdan\tanyone\tl\tbob\tlrs\t"
                              "-bob\ts\tgroup:staff\tw\t-anyone\tx\t"
                              "anonymous\tr\t", &acl), 0);
    struct acl_identity alice = { "alice", NULL, 0 };
    struct acl_identity bob = { "bob", NULL, 0 };
    struct acl_identity carol = { "carol", &groups, 0 };
    struct acl_identity anon = { NULL, NULL, 0 };
    struct acl_identity anon2 = { "anonymous", NULL, 0 };
    struct acl_identity admin = { "cyrus", NULL, 1 };

    /* -anyone x removes x even from alice */
    CU_ASSERT_EQUAL(acl_myrights(&acl, &alice, 0, 0), ACL_ALL & ~ACL_DELETEMBOX);
    /* positive lrs minus negative s */
    CU_ASSERT_EQUAL(acl_myrights(&acl, &bob, 0, 0), ACL_LOOKUP | ACL_READ);
    CU_ASSERT_EQUAL(acl_myrights(&acl, &carol, 0, 0), ACL_LOOKUP | ACL_WRITE);
    CU_ASSERT_EQUAL(acl_myrights(&acl, &anon, 0, 0), ACL_LOOKUP | ACL_READ);
    CU_ASSERT_EQUAL(acl_myrights(&acl, &anon2, 0, 0), ACL_LOOKUP | ACL_READ);
    /* anonymous never owns anything */
    CU_ASSERT_EQUAL(acl_myrights(&acl, &anon, 1, owner_rights), ACL_LOOKUP | ACL_READ);
    /* owners always keep the implicit rights, negative entries or not */
    CU_ASSERT_EQUAL(acl_myrights(&acl, &alice, 1, owner_rights), ACL_ALL);
    CU_ASSERT_EQUAL(acl_myrights(&acl, &bob, 1, owner_rights),
                    ACL_LOOKUP | ACL_READ | owner_rights);
    CU_ASSERT_EQUAL(acl_myrights(&acl, &admin, 0, 0), ACL_FULL);
    CU_ASSERT_EQUAL(acl_myrights(NULL, &admin, 0, 0), ACL_FULL);
    CU_ASSERT_EQUAL(acl_myrights(NULL, &bob, 0, 0), 0);
    acl_free(&acl);

    CU_ASSERT_EQUAL(acl_myrights_str("bob\tlr\t", &bob, 0, 0), ACL_LOOKUP | ACL_READ);
    CU_ASSERT_EQUAL(acl_myrights_str("bob\tlr", &bob, 0, 0), 0);
    CU_ASSERT_EQUAL(acl_myrights_str("bob\tlr", &bob, 1, owner_rights), owner_rights);
    CU_ASSERT_EQUAL(acl_myrights_str("", &admin, 0, 0), ACL_FULL);
    /* identifiers are exact: no prefix matches */
    CU_ASSERT_EQUAL(acl_myrights_str("bo\tlr\tbobby\tw\t", &bob, 0, 0), 0);

    CU_ASSERT_TRUE(acl_identity_matches(&carol, "group:staff"));
    CU_ASSERT_FALSE(acl_identity_matches(&carol, "group:admins"));
    CU_ASSERT_FALSE(acl_identity_matches(&bob, "anonymous"));
    CU_ASSERT_TRUE(acl_identity_matches(&anon, "anyone"));
    strarray_free(&groups);
}

static void test_default_and_listrights(void)
{
    struct acl acl;
    struct buf b = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(acl_default("alice", "anyone lrs", &acl), 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "alice\tlrswipkxtecdan\t");
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_default(NULL, "anyone lrs", &acl), 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "anyone\tlrs\t");
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_default(NULL, "  anyone lrs  group:staff lrswi ", &acl), 0);
    acl_format(&acl, &b);
    ASSERT_STREQ(buf_cstring(&b), "anyone\tlrs\tgroup:staff\tlrswi\t");
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_default(NULL, "", &acl), 0);
    CU_ASSERT_EQUAL(acl.count, 0);
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_default(NULL, NULL, &acl), 0);
    acl_free(&acl);
    CU_ASSERT_EQUAL(acl_default(NULL, "anyone", &acl), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl.count, 0);
    CU_ASSERT_EQUAL(acl_default(NULL, "anyone lrQ", &acl), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(acl.count, 0);
    CU_ASSERT_EQUAL(acl_default("-x", NULL, &acl), CYRERR_BADARGS);

    struct strarray lr = STRARRAY_INITIALIZER;
    acl_listrights(0, 0, &lr);
    char *j = strarray_join(&lr, " ");
    ASSERT_STREQ(j, " l r s w i p k x t e a n 0 1 2 3 4 5 6 7 8 9 c d");
    free(j);
    strarray_free(&lr);
    acl_listrights(1, ACL_LOOKUP | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN | ACL_ANNOTATE,
                   &lr);
    ASSERT_STREQ(strarray_nth(&lr, 0), "lkxan");
    j = strarray_join(&lr, " ");
    ASSERT_STREQ(j, "lkxan r s w i p t e 0 1 2 3 4 5 6 7 8 9 d");
    free(j);
    strarray_free(&lr);
    buf_free(&b);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("acl", NULL, NULL);
    ADD_TEST(s, test_rights_letters);
    ADD_TEST(s, test_parse_format);
    ADD_TEST(s, test_set_remove);
    ADD_TEST(s, test_myrights);
    ADD_TEST(s, test_default_and_listrights);
}
