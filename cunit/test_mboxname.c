/* Tests for imap/store/mboxname (internal names, paths, LIST patterns) and
 * imap/store/namespace (external names). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/mboxname.h"
#include "imap/store/namespace.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"

/* CU_ASSERT_STRING_EQUAL that fails, rather than crashes, on NULL */
static const char *nn(const char *s) { return s ? s : "(null)"; }
#define ASSERT_STREQ(a, b) CU_ASSERT_STRING_EQUAL(nn(a), nn(b))

/* ---- validation --------------------------------------------------------- */

static void test_valid(void)
{
    static const char *const good[] = {
        "user.alice", "user.alice.Sent", "user.alice.Sent Items",
        "shared", "shared.memo", "example.org!user.bob",
        "example.org!shared.memo", "sub.example-1.org!x",
        "user.john^doe", "user.alice.a^b^c", "user.alice.&AOk-t&AOk-",
        "user.alice.Tom &- Jerry", "user.alice.[Gmail].x", "a", "user.x.INBOX",
        "user.alice.~x", "user.alice.$x", "user.bob@example^org",
    };
    static const char *const bad[] = {
        "", ".", "..", ".x", "x.", "x..y", "user..alice", "user.alice.",
        "user", "example.org!user", "user.anyone", "user.anyone.x",
        "user.anonymous", "a/b", "../etc", "user.alice/../../etc",
        "user.alice.\x01", "user.alice.a\tb", "user.alice.a\nb", "user.a\x7f",
        "user.alice.caf\xc3\xa9", "~x", "$x", "a!b!c", "!x", "x!",
        "EXAMPLE.org!x", "../x!user.a", "ex..ample!x", ".ex!x", "ex/a!x",
        "a%b", "a\\b", "a\"b", "a{b", "user.alice.&AGE-", "user.alice.&AOk",
        "user.alice.&AOk-&AOk-", "user.alice.&AAk-", "a;b", "a<b", "a`b",
        "a|b", "user.alice.%",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (mboxname_valid(good[i])) CU_FAIL(good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mboxname_valid(bad[i]) != CYRERR_BADNAME) CU_FAIL(bad[i]);
    }
    CU_ASSERT_EQUAL(mboxname_valid(NULL), CYRERR_BADNAME);

    /* the length limit */
    char *longname = xmalloc(MBOXNAME_MAX + 2);
    memcpy(longname, "user.", 5);
    memset(longname + 5, 'a', MBOXNAME_MAX - 5);
    longname[MBOXNAME_MAX] = '\0';
    CU_ASSERT_EQUAL(mboxname_valid(longname), 0);
    longname[MBOXNAME_MAX] = 'a';
    longname[MBOXNAME_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(mboxname_valid(longname), CYRERR_BADNAME);
    free(longname);

    CU_ASSERT_EQUAL(mboxname_valid_domain("example.org"), 0);
    CU_ASSERT_NOT_EQUAL(mboxname_valid_domain(".."), 0);
    CU_ASSERT_NOT_EQUAL(mboxname_valid_domain("."), 0);
    CU_ASSERT_NOT_EQUAL(mboxname_valid_domain(""), 0);
    CU_ASSERT_NOT_EQUAL(mboxname_valid_domain("a/b"), 0);
    CU_ASSERT_NOT_EQUAL(mboxname_valid_domain("-a.org"), 0);
}

static void test_parts(void)
{
    struct mboxname_parts p;

    CU_ASSERT_EQUAL(mboxname_to_parts("example.org!user.john^doe.Sent.x", &p), 0);
    ASSERT_STREQ(p.domain, "example.org");
    ASSERT_STREQ(p.userid, "john.doe");
    ASSERT_STREQ(p.box, "Sent.x");
    mboxname_parts_free(&p);
    CU_ASSERT_PTR_NULL(p.domain);

    CU_ASSERT_EQUAL(mboxname_to_parts("user.alice", &p), 0);
    CU_ASSERT_PTR_NULL(p.domain);
    ASSERT_STREQ(p.userid, "alice");
    CU_ASSERT_PTR_NULL(p.box);
    mboxname_parts_free(&p);

    CU_ASSERT_EQUAL(mboxname_to_parts("shared.memo", &p), 0);
    CU_ASSERT_PTR_NULL(p.userid);
    ASSERT_STREQ(p.box, "shared.memo");
    mboxname_parts_free(&p);

    CU_ASSERT_EQUAL(mboxname_to_parts("a..b", &p), CYRERR_BADNAME);
    CU_ASSERT_PTR_NULL(p.box);

    char *u = mboxname_to_userid("example.org!user.bob.x");
    ASSERT_STREQ(u, "bob@example.org");
    free(u);
    u = mboxname_to_userid("user.john^doe");
    ASSERT_STREQ(u, "john.doe");
    free(u);
    CU_ASSERT_PTR_NULL(mboxname_to_userid("shared.memo"));
    CU_ASSERT_PTR_NULL(mboxname_to_userid("user"));

    CU_ASSERT_TRUE(mboxname_isusermailbox("user.alice", 1));
    CU_ASSERT_TRUE(mboxname_isusermailbox("user.alice.x", 0));
    CU_ASSERT_FALSE(mboxname_isusermailbox("user.alice.x", 1));
    CU_ASSERT_FALSE(mboxname_isusermailbox("shared.user", 0));
    CU_ASSERT_FALSE(mboxname_isusermailbox("users.alice", 0));

    char *in = mboxname_user_inbox("john.doe", NULL);
    ASSERT_STREQ(in, "user.john^doe");
    free(in);
    in = mboxname_user_inbox("bob", "example.org");
    ASSERT_STREQ(in, "example.org!user.bob");
    free(in);
    CU_ASSERT_PTR_NULL(mboxname_user_inbox("", NULL));
    CU_ASSERT_PTR_NULL(mboxname_user_inbox("a^b", NULL));
    CU_ASSERT_PTR_NULL(mboxname_user_inbox("anyone", NULL));
    CU_ASSERT_PTR_NULL(mboxname_user_inbox("a/b", NULL));
    CU_ASSERT_PTR_NULL(mboxname_user_inbox("bob", "../x"));
}

static void test_hierarchy(void)
{
    char *p = mboxname_parent("user.alice.a.b");
    ASSERT_STREQ(p, "user.alice.a");
    free(p);
    p = mboxname_parent("user.alice.a");
    ASSERT_STREQ(p, "user.alice");
    free(p);
    CU_ASSERT_PTR_NULL(mboxname_parent("user.alice"));
    CU_ASSERT_PTR_NULL(mboxname_parent("shared"));
    CU_ASSERT_PTR_NULL(mboxname_parent("example.org!shared"));
    CU_ASSERT_PTR_NULL(mboxname_parent("example.org!user.bob"));
    p = mboxname_parent("example.org!shared.memo");
    ASSERT_STREQ(p, "example.org!shared");
    free(p);

    CU_ASSERT_TRUE(mboxname_is_descendant("user.alice.a.b", "user.alice"));
    CU_ASSERT_TRUE(mboxname_is_child("user.alice.a", "user.alice"));
    CU_ASSERT_FALSE(mboxname_is_child("user.alice.a.b", "user.alice"));
    CU_ASSERT_FALSE(mboxname_is_descendant("user.alice", "user.alice"));
    CU_ASSERT_FALSE(mboxname_is_descendant("user.alicex", "user.alice"));
    CU_ASSERT_FALSE(mboxname_is_descendant("user.alice.x", "example.org!user.alice"));
    CU_ASSERT_TRUE(mboxname_is_same_or_below("user.alice", "user.alice"));
    CU_ASSERT_TRUE(mboxname_is_same_or_below("user.alice.x", "user.alice"));
    CU_ASSERT_FALSE(mboxname_is_same_or_below("user.alic", "user.alice"));
}

/* ---- paths -------------------------------------------------------------- */

static void test_path(void)
{
    struct buf b = BUF_INITIALIZER;

    CU_ASSERT_EQUAL(mboxname_path("/var/spool/imap", "user.alice.Sent", 0, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/var/spool/imap/user/alice/Sent");
    CU_ASSERT_EQUAL(mboxname_path("/p/", "user.alice.a^b", 0, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/user/alice/a^b");
    CU_ASSERT_EQUAL(mboxname_path("/p", "shared.memo", 0, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/shared/memo");
    CU_ASSERT_EQUAL(mboxname_path("/p", "example.org!user.bob", 0, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/domain/example.org/user/bob");

    CU_ASSERT_EQUAL(mboxname_path("/p", "user.alice.Sent", 1, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/a/user/alice/Sent");
    CU_ASSERT_EQUAL(mboxname_path("/p", "user.Zed", 1, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/z/user/Zed");
    CU_ASSERT_EQUAL(mboxname_path("/p", "user.1x", 1, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/q/user/1x");
    CU_ASSERT_EQUAL(mboxname_path("/p", "shared.memo", 1, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/s/shared/memo");
    CU_ASSERT_EQUAL(mboxname_path("/p", "example.org!user.bob", 1, &b), 0);
    ASSERT_STREQ(buf_cstring(&b), "/p/domain/e/example.org/b/user/bob");

    CU_ASSERT_EQUAL(mboxname_path("/p", "user/../../etc", 0, &b), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    CU_ASSERT_EQUAL(mboxname_path("/p", "..!user.a", 0, &b), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mboxname_path("/p", "user..a", 0, &b), CYRERR_BADNAME);
    buf_free(&b);
}

/* Check that `path` lies strictly below `root`: every component after the
 * root is non-empty and neither "." nor "..". */
static int path_is_below(const char *root, const char *path)
{
    size_t rl = strlen(root);
    if (strncmp(path, root, rl) || path[rl] != '/') return 0;
    struct strarray comps = STRARRAY_INITIALIZER;
    strarray_split(&comps, path + rl + 1, "/", 0);
    int ok = comps.count > 0;
    for (int i = 0; i < comps.count; i++) {
        const char *c = comps.data[i];
        if (!*c || !strcmp(c, ".") || !strcmp(c, "..")) ok = 0;
    }
    strarray_free(&comps);
    return ok;
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Many random and adversarial names: whatever mboxname_valid accepts maps
 * to a path strictly inside the partition, in both layouts. */
static void test_path_fuzz(void)
{
    static const char *const pieces[] = {
        ".", "..", "/", "\\", "%2e", "%2f", "user", "alice", "x", "^", "~",
        "$", "!", "example.org!", "..!", "&", "&-", "&AOk-", "&Lw-", "&AC4-",
        " ", "\t", "\x01", "\xc3\xa9", "*", "%", "@", "-", "a.b", "../..",
        "user.", "domain", "./", "&AC4ALg-", "shared",
    };
    const size_t np = sizeof(pieces) / sizeof(pieces[0]);
    uint32_t seed = 0x9e3779b9u;
    int accepted = 0;
    struct buf name = BUF_INITIALIZER, path = BUF_INITIALIZER;

    for (int n = 0; n < 60000; n++) {
        buf_reset(&name);
        int k = 1 + (int)(rnd(&seed) % 7);
        for (int i = 0; i < k; i++) buf_appendcstr(&name, pieces[rnd(&seed) % np]);
        const char *nm = buf_cstring(&name);
        if (mboxname_valid(nm)) {
            CU_ASSERT_EQUAL(mboxname_path("/part", nm, (int)(n & 1), &path),
                            CYRERR_BADNAME);
            continue;
        }
        accepted++;
        for (int hashed = 0; hashed < 2; hashed++) {
            CU_ASSERT_EQUAL_FATAL(mboxname_path("/part", nm, hashed, &path), 0);
            if (!path_is_below("/part", buf_cstring(&path))) {
                CU_FAIL("path escapes the partition");
                fprintf(stderr, "name <%s> path <%s>\n", nm, buf_cstring(&path));
            }
            /* a component of the name is never a whole ".." */
            CU_ASSERT_PTR_NULL(strstr(buf_cstring(&path), "/../"));
        }
    }
    CU_ASSERT_TRUE(accepted > 1000);
    buf_free(&name);
    buf_free(&path);
}

/* ---- namespaces --------------------------------------------------------- */

static int to_int(const struct namespace *ns, const char *ext, const char *user,
                  const char *want)
{
    struct buf b = BUF_INITIALIZER;
    int r = namespace_to_internal(ns, ext, user, &b);
    int ok = want ? (r == 0 && !strcmp(buf_cstring(&b), want))
                  : (r != 0 && buf_len(&b) == 0);
    if (!ok)
        fprintf(stderr, "to_internal(%s, %s) = %d <%s>, want <%s>\n", ext,
                user ? user : "-", r, buf_cstring(&b), want ? want : "error");
    buf_free(&b);
    return ok;
}

static int to_ext(const struct namespace *ns, const char *in, const char *user,
                  const char *want)
{
    struct buf b = BUF_INITIALIZER;
    int r = namespace_to_external(ns, in, user, &b);
    int ok = want ? (r == 0 && !strcmp(buf_cstring(&b), want))
                  : (r != 0 && buf_len(&b) == 0);
    if (!ok)
        fprintf(stderr, "to_external(%s, %s) = %d <%s>, want <%s>\n", in,
                user ? user : "-", r, buf_cstring(&b), want ? want : "error");
    buf_free(&b);
    return ok;
}

static void test_ns_standard(void)
{
    struct namespace ns = NAMESPACE_INITIALIZER;

    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "alice", "user.alice"));
    CU_ASSERT_TRUE(to_int(&ns, "inbox", "alice", "user.alice"));
    CU_ASSERT_TRUE(to_int(&ns, "InBoX.Sent", "alice", "user.alice.Sent"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob", "alice", "user.bob"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob.x", "alice", "user.bob.x"));
    CU_ASSERT_TRUE(to_int(&ns, "user.alice.x", "alice", "user.alice.x"));
    CU_ASSERT_TRUE(to_int(&ns, "shared.memo", "alice", "shared.memo"));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX.&AOk-t&AOk-", "alice", "user.alice.&AOk-t&AOk-"));
    CU_ASSERT_TRUE(to_int(&ns, "shared", NULL, "shared"));
    CU_ASSERT_TRUE(to_int(&ns, "user.john^doe", "alice", "user.john^doe"));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "john.doe", "user.john^doe"));

    static const char *const bad[] = {
        "", "INBOX.", ".INBOX", "INBOX..x", "user", "a/b", "INBOX.a\tb",
        "INBOX.&AGE-", "INBOX.caf\xc3\xa9", "INBOX.%", "user.anyone",
        "INBOX.a\\b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_TRUE(to_int(&ns, bad[i], "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", NULL, NULL));
    CU_ASSERT_TRUE(to_int(&ns, NULL, "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "a b", NULL));

    CU_ASSERT_TRUE(to_ext(&ns, "user.alice", "alice", "INBOX"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.Sent", "alice", "INBOX.Sent"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob.x", "alice", "user.bob.x"));
    CU_ASSERT_TRUE(to_ext(&ns, "shared.memo", "alice", "shared.memo"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice", NULL, "user.alice"));
    CU_ASSERT_TRUE(to_ext(&ns, "inbox.x", "alice", NULL));  /* clashes */
    CU_ASSERT_TRUE(to_ext(&ns, "user..x", "alice", NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob", "alice", NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "user.john^doe.x", "alice", "user.john^doe.x"));
}

static void test_ns_unixhierarchysep(void)
{
    struct namespace ns = NAMESPACE_INITIALIZER;
    ns.hier_sep = '/';

    CU_ASSERT_TRUE(to_int(&ns, "INBOX/a.b", "alice", "user.alice.a^b"));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX/a^b", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX/", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX//x", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX/..", "alice", "user.alice.^^"));
    CU_ASSERT_TRUE(to_int(&ns, "user/john.doe/x", "alice", "user.john^doe.x"));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "john.doe", "user.john^doe"));
    CU_ASSERT_TRUE(to_int(&ns, "shared.memo", "alice", "shared^memo"));

    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.a^b", "alice", "INBOX/a.b"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.john^doe.x", "alice", "user/john.doe/x"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.john^doe", "john.doe", "INBOX"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.^^", "alice", "INBOX/.."));

    struct buf p = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(mboxname_path("/p", "user.alice.^^", 0, &p), 0);
    ASSERT_STREQ(buf_cstring(&p), "/p/user/alice/^^");
    buf_free(&p);
}

static void test_ns_alt(void)
{
    struct namespace ns = NAMESPACE_INITIALIZER;
    ns.altnamespace = 1;

    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "alice", "user.alice"));
    CU_ASSERT_TRUE(to_int(&ns, "inbox", "alice", "user.alice"));
    CU_ASSERT_TRUE(to_int(&ns, "Sent", "alice", "user.alice.Sent"));
    CU_ASSERT_TRUE(to_int(&ns, "Sent.2024", "alice", "user.alice.Sent.2024"));
    CU_ASSERT_TRUE(to_int(&ns, "Other Users.bob", "alice", "user.bob"));
    CU_ASSERT_TRUE(to_int(&ns, "Other Users.bob.x", "alice", "user.bob.x"));
    CU_ASSERT_TRUE(to_int(&ns, "Shared Folders.shared.memo", "alice", "shared.memo"));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX.x", "alice", "user.alice.INBOX.x"));
    CU_ASSERT_TRUE(to_int(&ns, "Alt Folders.INBOX", "alice", "user.alice.INBOX"));
    CU_ASSERT_TRUE(to_int(&ns, "Other Users", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "Shared Folders", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "Alt Folders", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "Sent", NULL, NULL));
    CU_ASSERT_TRUE(to_int(&ns, "Shared Folders.x", NULL, "x"));

    CU_ASSERT_TRUE(to_ext(&ns, "user.alice", "alice", "INBOX"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.Sent", "alice", "Sent"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob", "alice", "Other Users.bob"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob.x", "alice", "Other Users.bob.x"));
    CU_ASSERT_TRUE(to_ext(&ns, "shared.memo", "alice", "Shared Folders.shared.memo"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.INBOX.x", "alice", "INBOX.x"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.INBOX", "alice", "Alt Folders.INBOX"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.Inbox.y", "alice", "Alt Folders.Inbox.y"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.Other Users", "alice",
                          "Alt Folders.Other Users"));
    ns.altprefix = NULL;
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.INBOX", "alice", NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "user.alice.Shared Folders.x", "alice", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "Alt Folders.INBOX", "alice",
                          "user.alice.Alt Folders.INBOX"));

    /* admins always see the standard namespace */
    ns.isadmin = 1;
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob.x", "admin", "user.bob.x"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob.x", "admin", "user.bob.x"));

    struct buf a = BUF_INITIALIZER, b = BUF_INITIALIZER, c = BUF_INITIALIZER;
    namespace_prefixes(&ns, &a, &b, &c);
    ASSERT_STREQ(buf_cstring(&a), "INBOX.");
    ASSERT_STREQ(buf_cstring(&b), "user.");
    ASSERT_STREQ(buf_cstring(&c), "");
    ns.isadmin = 0;
    ns.hier_sep = '/';
    namespace_prefixes(&ns, &a, &b, &c);
    ASSERT_STREQ(buf_cstring(&a), "");
    ASSERT_STREQ(buf_cstring(&b), "Other Users/");
    ASSERT_STREQ(buf_cstring(&c), "Shared Folders/");
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
}

static void test_ns_virtdomains(void)
{
    struct namespace ns = NAMESPACE_INITIALIZER;
    ns.virtdomains = 1;
    ns.defaultdomain = "example.com";
    char *lp, *dom;

    CU_ASSERT_EQUAL(namespace_split_userid(&ns, "bob@Example.ORG", &lp, &dom), 0);
    ASSERT_STREQ(lp, "bob");
    ASSERT_STREQ(dom, "example.org");
    free(lp);
    free(dom);
    CU_ASSERT_EQUAL(namespace_split_userid(&ns, "bob@EXAMPLE.com", &lp, &dom), 0);
    ASSERT_STREQ(lp, "bob");
    CU_ASSERT_PTR_NULL(dom);
    free(lp);
    CU_ASSERT_EQUAL(namespace_split_userid(&ns, "@x.org", &lp, &dom),
                    CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL(namespace_split_userid(&ns, "bob@../x", &lp, &dom),
                    CYRERR_INVALID_USER);
    CU_ASSERT_EQUAL(namespace_split_userid(&ns, "bo b", &lp, &dom),
                    CYRERR_INVALID_USER);
    CU_ASSERT_PTR_NULL(lp);

    char *in = namespace_user_inbox(&ns, "bob@example.org");
    ASSERT_STREQ(in, "example.org!user.bob");
    free(in);
    in = namespace_user_inbox(&ns, "bob@example.com");
    ASSERT_STREQ(in, "user.bob");
    free(in);
    CU_ASSERT_TRUE(namespace_user_owns(&ns, "bob@example.org", "example.org!user.bob.x"));
    CU_ASSERT_FALSE(namespace_user_owns(&ns, "bob@example.org", "user.bob.x"));
    CU_ASSERT_FALSE(
        namespace_user_owns(&ns, "bob@example.org", "example.org!user.bobby"));

    const char *al = "alice@example.org";
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", al, "example.org!user.alice"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob", al, "example.org!user.bob"));
    CU_ASSERT_TRUE(to_int(&ns, "shared", al, "example.org!shared"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob@other.org", al, NULL));
    CU_ASSERT_TRUE(to_int(&ns, "INBOX", "alice@example.com", "user.alice"));

    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob", al, "user.bob"));
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.alice.x", al, "INBOX.x"));
    CU_ASSERT_TRUE(to_ext(&ns, "other.org!user.bob", al, NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob", al, NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob", "alice", "user.bob"));

    /* a global admin names other domains with a trailing @domain */
    ns.isadmin = 1;
    CU_ASSERT_TRUE(to_int(&ns, "user.bob.Sent@example.org", "admin",
                          "example.org!user.bob.Sent"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob.Sent@EXAMPLE.org", "admin",
                          "example.org!user.bob.Sent"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob", "admin", "user.bob"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob@example.com", "admin", "user.bob"));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob@..", "admin", NULL));
    CU_ASSERT_TRUE(to_int(&ns, "user.bob@", "admin", NULL));
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob.Sent", "admin",
                          "user.bob.Sent@example.org"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob", "admin", "user.bob"));
    /* a domain admin sees its own domain plainly, the default one qualified */
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob", "admin@example.org", "user.bob"));
    CU_ASSERT_TRUE(to_ext(&ns, "user.bob", "admin@example.org", "user.bob@example.com"));

    ns.hier_sep = '/';
    CU_ASSERT_TRUE(to_int(&ns, "user/bob/a.b@example.org", "admin",
                          "example.org!user.bob.a^b"));
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob.a^b", "admin",
                          "user/bob/a.b@example.org"));

    /* without virtdomains an '@' is part of the local part */
    struct namespace plain = NAMESPACE_INITIALIZER;
    CU_ASSERT_EQUAL(namespace_split_userid(&plain, "bob@example.org", &lp, &dom), 0);
    ASSERT_STREQ(lp, "bob@example.org");
    CU_ASSERT_PTR_NULL(dom);
    free(lp);
    CU_ASSERT_TRUE(to_ext(&plain, "example.org!user.bob", "bob", NULL));
}

/* For every namespace flavour, internal -> external -> internal is the
 * identity whenever the first step succeeds. */
static void test_ns_roundtrip(void)
{
    static const char *const names[] = {
        "user.alice", "user.alice.Sent", "user.alice.a^b", "user.bob",
        "user.bob.x.y", "shared", "shared.memo", "user.alice.INBOX",
        "user.alice.INBOX.x", "user.alice.Inbox", "user.alice.Other Users.q",
        "user.john^doe.x", "example.org!user.alice.x", "example.org!shared",
        "example.org!user.bob", "other.org!user.carol.x", "user.alice.&AOk-",
        "user.alice.Alt Folders.x", "Other Users", "user.alice.Shared Folders",
    };
    static const char *const users[] = {
        "alice", "alice@example.org", "bob", "john.doe", NULL,
    };
    int checked = 0;
    for (int flavour = 0; flavour < 32; flavour++) {
        struct namespace ns = NAMESPACE_INITIALIZER;
        ns.hier_sep = (flavour & 1) ? '/' : '.';
        ns.altnamespace = !!(flavour & 2);
        ns.virtdomains = !!(flavour & 4);
        ns.isadmin = !!(flavour & 8);
        if (flavour & 16) ns.defaultdomain = "example.org";
        for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                struct buf ext = BUF_INITIALIZER, back = BUF_INITIALIZER;
                if (!namespace_to_external(&ns, names[i], users[u], &ext)) {
                    int r =
                        namespace_to_internal(&ns, buf_cstring(&ext), users[u], &back);
                    if (r || strcmp(buf_cstring(&back), names[i])) {
                        fprintf(stderr, "flavour %d user %s: %s -> %s -> %s\n",
                                flavour, users[u] ? users[u] : "-", names[i],
                                buf_cstring(&ext), buf_cstring(&back));
                        CU_FAIL("round trip");
                    }
                    checked++;
                }
                buf_free(&ext);
                buf_free(&back);
            }
        }
    }
    CU_ASSERT_TRUE(checked > 300);
}

/* namespace_from_config reads the options it documents. */
static void test_ns_from_config(void)
{
    char *path = xasprintf("%s/ns.conf", harness_tmpdir());
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("unixhierarchysep: yes\naltnamespace: yes\nvirtdomains: userid\n"
          "defaultdomain: example.com\nuserprefix: Others\nsharedprefix: Public\n",
          f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(config_read(path, NULL, NULL, NULL), 0);

    struct namespace ns;
    namespace_from_config(&ns, 0);
    CU_ASSERT_EQUAL(ns.hier_sep, '/');
    CU_ASSERT_TRUE(ns.altnamespace);
    CU_ASSERT_TRUE(ns.virtdomains);
    CU_ASSERT_FALSE(ns.isadmin);
    ASSERT_STREQ(ns.defaultdomain, "example.com");
    ASSERT_STREQ(ns.userprefix, "Others");
    ASSERT_STREQ(ns.sharedprefix, "Public");
    CU_ASSERT_TRUE(to_ext(&ns, "example.org!user.bob.x", "alice@example.org",
                          "Others/bob/x"));
    namespace_from_config(&ns, 1);
    CU_ASSERT_FALSE(ns.altnamespace);      /* admins: standard namespace */
    CU_ASSERT_TRUE(ns.isadmin);

    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("unixhierarchysep: no\naltnamespace: no\nvirtdomains: off\n", f);
    fclose(f);
    config_reset();
    CU_ASSERT_EQUAL_FATAL(config_read(path, NULL, NULL, NULL), 0);
    namespace_from_config(&ns, 0);
    CU_ASSERT_EQUAL(ns.hier_sep, '.');
    CU_ASSERT_FALSE(ns.altnamespace);
    CU_ASSERT_FALSE(ns.virtdomains);
    config_reset();
    free(path);
}

/* ---- patterns ----------------------------------------------------------- */

static int pmatch(const char *pattern, char sep, const char *name)
{
    struct mboxname_pattern *p = mboxname_pattern_compile(pattern, sep);
    int r = mboxname_pattern_match(p, name);
    mboxname_pattern_free(&p);
    CU_ASSERT_PTR_NULL(p);
    return r;
}

static void test_patterns(void)
{
    CU_ASSERT_TRUE(pmatch("*", '.', "INBOX"));
    CU_ASSERT_TRUE(pmatch("*", '.', "user.bob.x"));
    CU_ASSERT_TRUE(pmatch("*", '.', ""));
    CU_ASSERT_TRUE(pmatch("%", '.', "INBOX"));
    CU_ASSERT_FALSE(pmatch("%", '.', "INBOX.Sent"));
    CU_ASSERT_TRUE(pmatch("INBOX.%", '.', "INBOX.Sent"));
    CU_ASSERT_FALSE(pmatch("INBOX.%", '.', "INBOX.Sent.x"));
    CU_ASSERT_FALSE(pmatch("INBOX.%", '.', "INBOX"));
    CU_ASSERT_TRUE(pmatch("INBOX*", '.', "INBOX"));
    CU_ASSERT_TRUE(pmatch("INBOX*", '.', "INBOX.Sent.x"));
    CU_ASSERT_TRUE(pmatch("inbox", '.', "INBOX"));
    CU_ASSERT_TRUE(pmatch("Inbox.%", '.', "INBOX.Sent"));
    CU_ASSERT_TRUE(pmatch("inb*", '.', "INBOX"));
    CU_ASSERT_FALSE(pmatch("inbox.sent", '.', "INBOX.Sent"));  /* only INBOX folds */
    CU_ASSERT_FALSE(pmatch("inboxes", '.', "INBOXES"));
    CU_ASSERT_FALSE(pmatch("sent", '.', "Sent"));
    CU_ASSERT_TRUE(pmatch("user.%.Sent", '.', "user.bob.Sent"));
    CU_ASSERT_FALSE(pmatch("user.%.Sent", '.', "user.bob.x.Sent"));
    CU_ASSERT_TRUE(pmatch("user.*.Sent", '.', "user.bob.x.Sent"));
    CU_ASSERT_TRUE(pmatch("%/%", '/', "a/b"));
    CU_ASSERT_TRUE(pmatch("%", '/', "a.b"));
    CU_ASSERT_FALSE(pmatch("%", '/', "a/b"));
    CU_ASSERT_TRUE(pmatch("a%b", '.', "axxb"));
    CU_ASSERT_FALSE(pmatch("a%b", '.', "ax.xb"));
    CU_ASSERT_TRUE(pmatch("a%*b", '.', "ax.xb"));
    CU_ASSERT_TRUE(pmatch("**%%", '.', "a.b.c"));
    CU_ASSERT_TRUE(pmatch("%%", '.', "abc"));
    CU_ASSERT_FALSE(pmatch("%%", '.', "a.c"));
    CU_ASSERT_TRUE(pmatch("*.%", '.', "a.b.c"));
    CU_ASSERT_TRUE(pmatch("%.%.%", '.', "a.b.c"));
    CU_ASSERT_FALSE(pmatch("%.%.%", '.', "a.b"));
    CU_ASSERT_TRUE(pmatch("", '.', ""));
    CU_ASSERT_FALSE(pmatch("", '.', "a"));
    CU_ASSERT_FALSE(pmatch("abc", '.', "ab"));
    CU_ASSERT_FALSE(pmatch("ab", '.', "abc"));

    /* many names against one compiled pattern; a pathological pattern stays fast */
    struct mboxname_pattern *p = mboxname_pattern_compile("*a*a*a*a*a*a*a*a*b", '.');
    char *aaa = xmalloc(5001);
    memset(aaa, 'a', 5000);
    aaa[5000] = '\0';
    clock_t t0 = clock();
    for (int i = 0; i < 20; i++) CU_ASSERT_FALSE(mboxname_pattern_match(p, aaa));
    aaa[4999] = 'b';
    CU_ASSERT_TRUE(mboxname_pattern_match(p, aaa));
    CU_ASSERT_TRUE((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    free(aaa);
    size_t len = 99;
    ASSERT_STREQ(mboxname_pattern_literal_prefix(p, &len), "");
    CU_ASSERT_EQUAL(len, 0);
    mboxname_pattern_free(&p);

    p = mboxname_pattern_compile("user.%", '.');
    ASSERT_STREQ(mboxname_pattern_literal_prefix(p, &len), "user.");
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_TRUE(mboxname_pattern_may_match_below(p, "user"));
    CU_ASSERT_TRUE(mboxname_pattern_may_match_below(p, "user.bob"));
    CU_ASSERT_FALSE(mboxname_pattern_may_match_below(p, "user.bob."));
    CU_ASSERT_FALSE(mboxname_pattern_may_match_below(p, "shared"));
    mboxname_pattern_free(&p);
    mboxname_pattern_free(&p);   /* NULL is fine */

    p = mboxname_pattern_compile("INBOX.*", '.');
    CU_ASSERT_TRUE(mboxname_pattern_may_match_below(p, "inb"));
    CU_ASSERT_TRUE(mboxname_pattern_may_match_below(p, "INBOX.a.b"));
    CU_ASSERT_FALSE(mboxname_pattern_may_match_below(p, "Shared"));
    mboxname_pattern_free(&p);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("mboxname", NULL, NULL);
    ADD_TEST(s, test_valid);
    ADD_TEST(s, test_parts);
    ADD_TEST(s, test_hierarchy);
    ADD_TEST(s, test_path);
    ADD_TEST(s, test_path_fuzz);
    ADD_TEST(s, test_patterns);
    s = harness_suite("namespace", NULL, NULL);
    ADD_TEST(s, test_ns_standard);
    ADD_TEST(s, test_ns_unixhierarchysep);
    ADD_TEST(s, test_ns_alt);
    ADD_TEST(s, test_ns_virtdomains);
    ADD_TEST(s, test_ns_roundtrip);
    ADD_TEST(s, test_ns_from_config);
}
