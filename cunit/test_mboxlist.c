/* Tests for imap/store/mboxlist over both cyrusdb backends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "error.h"
#include "imap/store/acl.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "imap/store/namespace.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"

/* CU_ASSERT_STRING_EQUAL that fails, rather than crashes, on NULL */
static const char *nn(const char *s) { return s ? s : "(null)"; }
#define ASSERT_STREQ(a, b) CU_ASSERT_STRING_EQUAL(nn(a), nn(b))

static const char *backend;   /* of the running suite */
static int dbcounter;

/* A fresh, empty mailboxes.db for one test. */
static struct mboxlist *fresh(char **fnamep)
{
    struct mboxlist *ml = NULL;
    char *fname = xasprintf("%s/%s-%d/mailboxes.db", harness_tmpdir(), backend,
                            ++dbcounter);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, fname, CYRUSDB_CREATE, &ml), 0);
    if (fnamep) *fnamep = fname;
    else free(fname);
    return ml;
}

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

/* ---- entries ------------------------------------------------------------ */

static void test_entry_format(void)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER, p;
    struct buf b = BUF_INITIALIZER;

    e.name = (char *)"user.alice";
    e.partition = (char *)"default";
    e.uniqueid = (char *)"0123abcd";
    e.acl = (char *)"alice\tlrswipkxtecdan\t";
    mboxlist_entry_format(&e, &b);
    ASSERT_STREQ(buf_cstring(&b),
                           "v=1 t=l p=default u=0123abcd acl=alice\tlrswipkxtecdan\t");
    CU_ASSERT_EQUAL(mboxlist_entry_parse("user.alice", b.s, b.len, &p), 0);
    ASSERT_STREQ(p.partition, "default");
    ASSERT_STREQ(p.uniqueid, "0123abcd");
    ASSERT_STREQ(p.acl, "alice\tlrswipkxtecdan\t");
    CU_ASSERT_EQUAL(p.type, 0);
    CU_ASSERT_PTR_NULL(p.server);
    CU_ASSERT_PTR_NULL(p.extra);
    mboxlist_entry_free(&p);

    /* a remote reservation; an ACL with spaces in an identifier */
    e.type = MBOXLIST_REMOTE | MBOXLIST_RESERVED;
    e.server = (char *)"backend1";
    e.uniqueid = NULL;
    e.acl = (char *)"group:Domain Users\tlr\t";
    mboxlist_entry_format(&e, &b);
    ASSERT_STREQ(buf_cstring(&b),
                           "v=1 t=Rr s=backend1 p=default acl=group:Domain Users\tlr\t");
    CU_ASSERT_EQUAL(mboxlist_entry_parse("user.alice", b.s, b.len, &p), 0);
    CU_ASSERT_EQUAL(p.type, MBOXLIST_REMOTE | MBOXLIST_RESERVED);
    ASSERT_STREQ(p.server, "backend1");
    mboxlist_entry_location(&p, "me", &b);
    ASSERT_STREQ(buf_cstring(&b), "backend1!default");
    mboxlist_entry_free(&p);

    /* fields of a later version survive a parse/format cycle */
    const char *later = "v=1 t=m s=b2 p=p1 u=x future=42 z_9=a=b acl=";
    CU_ASSERT_EQUAL(mboxlist_entry_parse("shared", later, strlen(later), &p), 0);
    ASSERT_STREQ(p.extra, "future=42 z_9=a=b");
    CU_ASSERT_EQUAL(p.type, MBOXLIST_MOVING);
    mboxlist_entry_format(&p, &b);
    ASSERT_STREQ(buf_cstring(&b), later);
    mboxlist_entry_location(&p, "me", &b);
    ASSERT_STREQ(buf_cstring(&b), "b2!p1");
    mboxlist_entry_free(&p);
    CU_ASSERT_PTR_NULL(p.name);

    static const char *const bad[] = {
        "", "v=1 t=l p=default", "t=l v=1 p=default acl=", "v=2 t=l p=d acl=",
        "v=1 p=d acl=", "v=1 t=l acl=", "v=1 t=x p=d acl=", "v=1 t=rr p=d acl=",
        "v=1 t= p=d acl=", "v=1 t=R p=d acl=", "v=1 t=l s=b p=d acl=",
        "v=1 t=l p=d p=e acl=", "v=1 t=l p=d/e acl=", "v=1 t=l p=.. u=x acl=a\tlr",
        "v=1 t=l p=d acl=a\tlr\tb", "v=1 t=l p=d acl=a\tlQ\t", "v=1 t=l p=d u=a/b acl=",
        "v=1 t=l p=d weird acl=", "v=1 t=l p=d =x acl=", "v=1 t=l p=d K=x acl=",
        "v=1 t=l p=d acl=a\tlr\t\nb\tr\t", "v=1  t=l p=d acl=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mboxlist_entry_parse("user.alice", bad[i], strlen(bad[i]), &p) !=
            CYRERR_CORRUPT) {
            fprintf(stderr, "accepted <%s>\n", bad[i]);
            CU_FAIL("bad value accepted");
        }
        CU_ASSERT_PTR_NULL(p.acl);
    }
    const char *ok = "v=1 t=l p=d acl=";
    CU_ASSERT_EQUAL(mboxlist_entry_parse("user..x", ok, strlen(ok), &p), CYRERR_CORRUPT);
    CU_ASSERT_EQUAL(mboxlist_entry_parse("user.a", "v=1 t=l p=d\0 acl=", 17, &p),
                    CYRERR_CORRUPT);

    char *srv, *part;
    CU_ASSERT_EQUAL(mboxlist_parse_location("backend1!default", &srv, &part), 0);
    ASSERT_STREQ(srv, "backend1");
    ASSERT_STREQ(part, "default");
    free(srv);
    free(part);
    CU_ASSERT_EQUAL(mboxlist_parse_location("default", &srv, &part), 0);
    CU_ASSERT_PTR_NULL(srv);
    ASSERT_STREQ(part, "default");
    free(part);
    CU_ASSERT_EQUAL(mboxlist_parse_location("a!b!c", &srv, &part), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_parse_location("a b!c", &srv, &part), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_parse_location("!c", &srv, &part), CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(part);

    char *u1 = mboxlist_make_uniqueid(), *u2 = mboxlist_make_uniqueid();
    CU_ASSERT_EQUAL(strlen(u1), 32);
    CU_ASSERT_EQUAL(strspn(u1, "0123456789abcdef"), 32);
    CU_ASSERT_STRING_NOT_EQUAL(u1, u2);
    free(u1);
    free(u2);
    buf_free(&b);
}

/* ---- create, lookup, delete --------------------------------------------- */

static void test_create_lookup(void)
{
    struct mboxlist *ml = fresh(NULL);
    struct mboxlist_entry e, e2;

    CU_ASSERT_EQUAL_FATAL(mboxlist_create(ml, "user.alice", "default", NULL, "anyone lrs",
                                          NULL, &e), 0);
    ASSERT_STREQ(e.name, "user.alice");
    ASSERT_STREQ(e.acl, "alice\tlrswipkxtecdan\t");
    CU_ASSERT_EQUAL(strlen(e.uniqueid), 32);
    CU_ASSERT_EQUAL(e.type, 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.alice", &e2, NULL), 0);
    ASSERT_STREQ(e2.uniqueid, e.uniqueid);
    ASSERT_STREQ(e2.partition, "default");
    mboxlist_entry_free(&e2);

    CU_ASSERT_EQUAL(mboxlist_create(ml, "user.alice", "default", NULL, NULL, NULL, NULL),
                    CYRERR_MAILBOX_EXISTS);
    /* children inherit the parent's ACL */
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", "lr"), 0);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "user.alice.Sent.2024", "p2", NULL, NULL,
                                    NULL, &e2), 0);
    ASSERT_STREQ(e2.acl, "alice\tlrswipkxtecdan\tbob\tlr\t");
    CU_ASSERT_STRING_NOT_EQUAL(e2.uniqueid, e.uniqueid);
    mboxlist_entry_free(&e2);
    mboxlist_entry_free(&e);

    /* shared top level: defaultacl; a user folder without INBOX: owner */
    CU_ASSERT_EQUAL(mboxlist_create(ml, "shared.memo", "default", NULL, "anyone lrs",
                                    "fixed-id_1", &e), 0);
    ASSERT_STREQ(e.acl, "anyone\tlrs\t");
    ASSERT_STREQ(e.uniqueid, "fixed-id_1");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "example.org!user.bob.x", "default", NULL,
                                    "anyone lrs", NULL, &e), 0);
    ASSERT_STREQ(e.acl, "bob@example.org\tlrswipkxtecdan\t");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "top", "default", "fred\tlr\t", NULL, NULL, &e),
                    0);
    ASSERT_STREQ(e.acl, "fred\tlr\t");
    mboxlist_entry_free(&e);

    CU_ASSERT_EQUAL(mboxlist_create(ml, "user..x", "default", NULL, NULL, NULL, &e),
                    CYRERR_BADNAME);
    CU_ASSERT_PTR_NULL(e.name);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "a", "de fault", NULL, NULL, NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "a", "default", "bad", NULL, NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "a", "default", NULL, NULL, "a b", NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "b", "default", NULL, "anyone", NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "a", &e, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "b", &e, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "a/b", &e, NULL), CYRERR_BADNAME);

    CU_ASSERT_EQUAL(mboxlist_delete(ml, "shared.memo"), 0);
    CU_ASSERT_EQUAL(mboxlist_delete(ml, "shared.memo"), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "shared.memo", &e),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "user.alice", NULL), 0);

    /* update needs an entry; insert refuses one */
    struct mboxlist_entry n = MBOXLIST_ENTRY_INITIALIZER;
    n.name = (char *)"new";
    n.partition = (char *)"default";
    n.acl = (char *)"";
    CU_ASSERT_EQUAL(mboxlist_update(ml, &n, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_insert(ml, &n, NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_insert(ml, &n, NULL), CYRERR_MAILBOX_EXISTS);
    n.partition = (char *)"other";
    CU_ASSERT_EQUAL(mboxlist_update(ml, &n, NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "new", &e, NULL), 0);
    ASSERT_STREQ(e.partition, "other");
    mboxlist_entry_free(&e);
    n.type = MBOXLIST_REMOTE;        /* remote without a server */
    CU_ASSERT_EQUAL(mboxlist_store(ml, &n, NULL), CYRERR_BADARGS);
    n.server = (char *)"backend2";
    CU_ASSERT_EQUAL(mboxlist_store(ml, &n, NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "new", &e), 0);
    ASSERT_STREQ(e.server, "backend2");
    mboxlist_entry_free(&e);
    n.type = MBOXLIST_DELETED;
    n.server = NULL;
    CU_ASSERT_EQUAL(mboxlist_store(ml, &n, NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "new", &e), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "new", &e, NULL), 0);
    mboxlist_entry_free(&e);

    /* a transaction spanning several calls, aborted */
    struct cyrusdb_txn *txn = NULL;
    CU_ASSERT_EQUAL_FATAL(mboxlist_begin(ml, &txn), 0);
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "t1", NULL, "default", txn), 0);
    CU_ASSERT_EQUAL(mboxlist_remove(ml, "top", txn), 0);
    CU_ASSERT_EQUAL(mboxlist_abort(ml, txn), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "t1", &e, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "top", &e, NULL), 0);
    mboxlist_entry_free(&e);

    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

/* ---- the mupdate steps -------------------------------------------------- */

static void test_reserve_activate(void)
{
    struct mboxlist *ml = fresh(NULL);
    struct mboxlist_entry e;

    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "user.carol", NULL, "default", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "user.carol", &e),
                    CYRERR_MAILBOX_RESERVED);
    CU_ASSERT_PTR_NULL(e.name);
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "user.carol", NULL, "default", NULL),
                    CYRERR_MAILBOX_EXISTS);
    CU_ASSERT_EQUAL(mboxlist_create(ml, "user.carol", "default", NULL, NULL, NULL, NULL),
                    CYRERR_MAILBOX_EXISTS);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.carol", "x", "l"), CYRERR_MAILBOX_RESERVED);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.carol", &e, NULL), 0);
    CU_ASSERT_EQUAL(e.type, MBOXLIST_RESERVED);
    ASSERT_STREQ(e.acl, "");

    struct mboxlist_entry act = MBOXLIST_ENTRY_INITIALIZER;
    act.name = (char *)"user.carol";
    act.partition = (char *)"default";
    act.uniqueid = (char *)"abc";
    act.acl = (char *)"carol\tlrswipkxtecdan\t";
    act.type = MBOXLIST_RESERVED;
    CU_ASSERT_EQUAL(mboxlist_activate(ml, &act, NULL), CYRERR_BADARGS);
    act.type = 0;
    CU_ASSERT_EQUAL(mboxlist_activate(ml, &act, NULL), 0);
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "user.carol", &e), 0);
    ASSERT_STREQ(e.uniqueid, "abc");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_activate(ml, &act, NULL), CYRERR_MAILBOX_EXISTS);
    CU_ASSERT_EQUAL(mboxlist_unreserve(ml, "user.carol", NULL), CYRERR_MAILBOX_EXISTS);
    act.name = (char *)"nothere";
    CU_ASSERT_EQUAL(mboxlist_activate(ml, &act, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_unreserve(ml, "nothere", NULL), CYRERR_MAILBOX_NONEXISTENT);

    /* a failed create: reserve, then drop the reservation */
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "user.dan", "backend1", "p", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.dan", &e, NULL), 0);
    CU_ASSERT_EQUAL(e.type, MBOXLIST_RESERVED | MBOXLIST_REMOTE);
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_unreserve(ml, "user.dan", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.dan", &e, NULL),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "bad..name", NULL, "p", NULL), CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "ok", NULL, "p/q", NULL), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

/* ---- rename ------------------------------------------------------------- */

static int collect_names(void *rock, const struct mboxlist_entry *e)
{
    strarray_append(rock, e->name);
    return 0;
}

static char *all_names(struct mboxlist *ml)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    CU_ASSERT_EQUAL(mboxlist_foreach(ml, "", collect_names, &sa, NULL), 0);
    char *s = strarray_join(&sa, " ");
    strarray_free(&sa);
    return s;
}

static int rename_log(void *rock, const struct mboxlist_entry *o,
                      const struct mboxlist_entry *n)
{
    struct strarray *sa = rock;
    strarray_appendm(sa,
                     strconcat(o->name, ">", n->name, "@", n->partition, (char *)NULL));
    return 0;
}

static int rename_fail(void *rock, const struct mboxlist_entry *o,
                       const struct mboxlist_entry *n)
{
    (void)rock;
    (void)o;
    (void)n;
    return -7;
}

static void mk(struct mboxlist *ml, const char *name, const char *acl)
{
    int r = mboxlist_create(ml, name, "default", acl, "anyone lrs", NULL, NULL);
    if (r) fprintf(stderr, "create %s: %s\n", name, error_name(r));
    CU_ASSERT_EQUAL(r, 0);
}

static void test_rename(void)
{
    struct mboxlist *ml = fresh(NULL);
    struct strarray log = STRARRAY_INITIALIZER;
    struct mboxlist_entry e, old;
    char *s;

    mk(ml, "user.bob", NULL);
    mk(ml, "user.bob.a", "bob\tlrs\t-bob\tw\tfred\tlr\t");
    mk(ml, "user.bob.a.b", NULL);
    mk(ml, "user.bob b", NULL);
    mk(ml, "user.bobby", NULL);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.bob.a.b", &old, NULL), 0);

    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.bob", "user.carol", NULL, rename_log, &log),
                    0);
    s = strarray_join(&log, " ");
    ASSERT_STREQ(s, "user.bob>user.carol@default user.bob.a>user.carol.a@default "
                              "user.bob.a.b>user.carol.a.b@default");
    free(s);
    s = all_names(ml);
    ASSERT_STREQ(s, "user.bob b user.bobby user.carol user.carol.a user.carol.a.b");
    free(s);
    /* the owner's identifier follows a user rename; the unique id stays */
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.carol.a", &e, NULL), 0);
    ASSERT_STREQ(e.acl, "carol\tlrs\t-carol\tw\tfred\tlr\t");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.carol.a.b", &e, NULL), 0);
    ASSERT_STREQ(e.uniqueid, old.uniqueid);
    ASSERT_STREQ(e.acl, "carol\tlrs\t-carol\tw\tfred\tlr\t");   /* inherited */
    mboxlist_entry_free(&e);
    mboxlist_entry_free(&old);

    /* a folder rename keeps ACLs as they are and may change partition */
    strarray_truncate(&log, 0);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol.a", "user.bobby.z", "p2", rename_log,
                                    &log), 0);
    s = strarray_join(&log, " ");
    ASSERT_STREQ(s, "user.carol.a>user.bobby.z@p2 user.carol.a.b>user.bobby.z.b@p2");
    free(s);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.bobby.z", &e, NULL), 0);
    ASSERT_STREQ(e.acl, "carol\tlrs\t-carol\tw\tfred\tlr\t");
    mboxlist_entry_free(&e);

    /* refusals leave everything as it was */
    char *before = all_names(ml);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.bobby", NULL, NULL, NULL),
                    CYRERR_MAILBOX_EXISTS);
    mk(ml, "user.dave.q", NULL);
    mk(ml, "user.carol.q", NULL);
    free(before);
    before = all_names(ml);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.dave", NULL, NULL, NULL),
                    CYRERR_MAILBOX_EXISTS);                 /* a child collides */
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.carol.x", NULL, NULL, NULL),
                    CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.carol", NULL, NULL, NULL),
                    CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.nobody", "user.x", NULL, NULL, NULL),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user..x", NULL, NULL, NULL),
                    CYRERR_BADNAME);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.y", "p/2", NULL, NULL),
                    CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "user.carol.r", NULL, "default", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", "user.y", NULL, NULL, NULL),
                    CYRERR_MAILBOX_RESERVED);
    CU_ASSERT_EQUAL(mboxlist_unreserve(ml, "user.carol.r", NULL), 0);
    s = all_names(ml);
    ASSERT_STREQ(s, before);
    free(s);
    free(before);
    /* a too long result is refused as a whole */
    char *longname = xmalloc(MBOXNAME_MAX + 1);
    memset(longname, 'l', MBOXNAME_MAX - 1);
    memcpy(longname, "top.", 4);
    longname[MBOXNAME_MAX - 1] = '\0';     /* valid, but not with ".q" after it */
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "user.carol", longname, NULL, NULL, NULL),
                    CYRERR_BADNAME);
    free(longname);

    /* a parent moving onto a name that its own subtree frees */
    mk(ml, "x.q", NULL);
    mk(ml, "x.q.q", NULL);
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "x.q", "x", NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "x", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "x.q", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "x.q.q", &e, NULL), CYRERR_MAILBOX_NONEXISTENT);

    /* a callback error is reported after the rename committed */
    CU_ASSERT_EQUAL(mboxlist_rename(ml, "x", "w", NULL, rename_fail, NULL), -7);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "w.q", NULL), 0);
    strarray_free(&log);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

/* ---- ACLs --------------------------------------------------------------- */

static void test_setacl(void)
{
    struct mboxlist *ml = fresh(NULL);
    struct mboxlist_entry e;

    mk(ml, "user.alice", NULL);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", "lr"), 0);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", "+wd"), 0);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", "-l"), 0);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "-anyone", "p"), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.alice", &e, NULL), 0);
    ASSERT_STREQ(e.acl, "alice\tlrswipkxtecdan\tbob\trwted\t-anyone\tp\t");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", ""), 0);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "bob", "lrX"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.alice", "", "lr"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_setacl(ml, "user.nobody", "bob", "lr"),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.alice", &e, NULL), 0);
    ASSERT_STREQ(e.acl, "alice\tlrswipkxtecdan\t-anyone\tp\t");
    mboxlist_entry_free(&e);

    CU_ASSERT_EQUAL(mboxlist_set_aclstring(ml, "user.alice", "x\tl\t"), 0);
    CU_ASSERT_EQUAL(mboxlist_set_aclstring(ml, "user.alice", "x\tl"), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(mboxlist_set_aclstring(ml, "user.zzz", "x\tl\t"),
                    CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.alice", &e, NULL), 0);
    ASSERT_STREQ(e.acl, "x\tl\t");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

/* ---- listing ------------------------------------------------------------ */

static int find_log(void *rock, const struct mboxlist_entry *e, const char *ext,
                    unsigned rights)
{
    (void)e;
    (void)rights;
    strarray_append(rock, ext);
    return 0;
}

static char *find(struct mboxlist *ml, const struct namespace *ns, const char *user,
                  int isadmin, const char *pattern, unsigned need, int flags)
{
    struct strarray groups = STRARRAY_INITIALIZER;
    strarray_append(&groups, "group:staff");
    struct acl_identity who = { user, &groups, isadmin };
    struct strarray out = STRARRAY_INITIALIZER;
    unsigned owner_rights;
    CU_ASSERT_EQUAL(acl_rights_parse("lkxan", &owner_rights, NULL), 0);
    int r = mboxlist_findall(ml, ns, &who, owner_rights, pattern, need, flags,
                             find_log, &out);
    CU_ASSERT_EQUAL(r, 0);
    char *s = strarray_join(&out, "|");
    strarray_free(&out);
    strarray_free(&groups);
    return s;
}

#define CHECK_FIND(ml, ns, user, admin, pat, need, flags, want) do { \
        char *got_ = find((ml), (ns), (user), (admin), (pat), (need), (flags)); \
        if (strcmp(got_, (want))) \
            fprintf(stderr, "find %s as %s: <%s>, want <%s>\n", (pat), \
                    (user) ? (user) : "-", got_, (want)); \
        ASSERT_STREQ(got_, (want)); \
        free(got_); \
    } while (0)

static int stop_after_two(void *rock, const struct mboxlist_entry *e, const char *ext,
                          unsigned rights)
{
    (void)e;
    (void)ext;
    (void)rights;
    int *n = rock;
    return ++*n == 2 ? 42 : 0;
}

static void test_findall(void)
{
    struct mboxlist *ml = fresh(NULL);

    mk(ml, "user.alice", NULL);
    mk(ml, "user.alice.Sent", NULL);
    mk(ml, "user.alice.Trash", "alice\tlr\t"); /* the owner keeps l via owner rights */
    mk(ml, "user.alice.x", "-alice\tl\t");     /* negative l: owner rights still give l */
    mk(ml, "user.bob", NULL);
    mk(ml, "user.bob.forall", "bob\tlrswipkxtecdan\talice\tlr\t");
    mk(ml, "user.bob.staff", "group:staff\tlr\t");
    mk(ml, "shared", "anyone\tlrs\t");
    mk(ml, "shared.memo", "anyone\tl\t");
    mk(ml, "secret", "cyrus\tlrswipkxtecdan\t");
    mk(ml, "example.org!user.alice", "alice@example.org\tlrswipkxtecdan\tanyone\tl\t");
    mk(ml, "example.org!shared", "anyone\tlr\t");
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "shared.coming", NULL, "default", NULL), 0);

    struct namespace ns = NAMESPACE_INITIALIZER;
    CHECK_FIND(ml, &ns, "alice", 0, "*", 0, 0,
               "INBOX|INBOX.Sent|INBOX.Trash|INBOX.x|shared|shared.memo|"
               "user.bob.forall|user.bob.staff");
    CHECK_FIND(ml, &ns, "alice", 0, "%", 0, 0, "INBOX|shared");
    CHECK_FIND(ml, &ns, "alice", 0, "inbox.%", 0, 0, "INBOX.Sent|INBOX.Trash|INBOX.x");
    CHECK_FIND(ml, &ns, "alice", 0, "user.bob.*", 0, 0, "user.bob.forall|user.bob.staff");
    CHECK_FIND(ml, &ns, "alice", 0, "user.%", 0, 0, "");
    CHECK_FIND(ml, &ns, "alice", 0, "shared.*", 0, 0, "shared.memo");
    CHECK_FIND(ml, &ns, "alice", 0, "nothing.*", 0, 0, "");
    /* rights beyond l: r is needed for SELECT-like listings */
    CHECK_FIND(ml, &ns, "alice", 0, "*", ACL_READ, 0,
               "INBOX|INBOX.Sent|INBOX.Trash|shared|user.bob.forall|user.bob.staff");
    CHECK_FIND(ml, &ns, "alice", 0, "shared*", 0, MBOXLIST_FIND_RESERVED,
               "shared|shared.memo");                 /* no rights on a reservation */
    CHECK_FIND(ml, &ns, "cyrus", 1, "shared*", 0, MBOXLIST_FIND_RESERVED,
               "shared|shared.coming|shared.memo");
    CHECK_FIND(ml, &ns, "cyrus", 1, "shared*", 0, 0, "shared|shared.memo");
    CHECK_FIND(ml, &ns, NULL, 0, "*", 0, 0, "shared|shared.memo|user.bob.staff");
    /* an admin sees everything (but names with a domain need virtdomains) */
    CHECK_FIND(ml, &ns, "cyrus", 1, "*", 0, 0,
               "secret|shared|shared.memo|user.alice|user.alice.Sent|user.alice.Trash|"
               "user.alice.x|user.bob|user.bob.forall|user.bob.staff");

    ns.altnamespace = 1;
    ns.hier_sep = '/';
    CHECK_FIND(ml, &ns, "alice", 0, "*", 0, 0,
               "INBOX|Sent|Trash|x|Shared Folders/shared|Shared Folders/shared/memo|"
               "Other Users/bob/forall|Other Users/bob/staff");
    CHECK_FIND(ml, &ns, "alice", 0, "Other Users/bob/%", 0, 0,
               "Other Users/bob/forall|Other Users/bob/staff");
    CHECK_FIND(ml, &ns, "alice", 0, "%", 0, 0, "INBOX|Sent|Trash|x");

    struct namespace vd = NAMESPACE_INITIALIZER;
    vd.virtdomains = 1;
    CHECK_FIND(ml, &vd, "alice@example.org", 0, "*", 0, 0, "INBOX|shared");
    CHECK_FIND(ml, &vd, "bob@example.org", 0, "*", 0, 0, "shared|user.alice");
    CHECK_FIND(ml, &vd, "carol", 0, "*", 0, 0, "shared|shared.memo|user.bob.staff");
    CHECK_FIND(ml, &vd, "bob@example.org", 0, "user.%", 0, 0, "user.alice");
    vd.isadmin = 1;
    CHECK_FIND(ml, &vd, "cyrus", 1, "user.alice*", 0, 0,
               "user.alice@example.org|user.alice|user.alice.Sent|user.alice.Trash|"
               "user.alice.x");

    int n = 0;
    struct acl_identity who = { "alice", NULL, 0 };
    CU_ASSERT_EQUAL(mboxlist_findall(ml, &ns, &who, 0, "*", 0, 0, stop_after_two, &n),
                    42);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

static int count_entries(void *rock, const struct mboxlist_entry *e)
{
    (void)e;
    ++*(int *)rock;
    return 0;
}

static void test_foreach_and_corruption(void)
{
    char *fname;
    struct mboxlist *ml = fresh(&fname);
    mk(ml, "user.a", NULL);
    mk(ml, "user.a.b", NULL);
    mk(ml, "user.ab", NULL);
    int n = 0;
    CU_ASSERT_EQUAL(mboxlist_foreach(ml, "user.a", count_entries, &n, NULL), 0);
    CU_ASSERT_EQUAL(n, 3);
    n = 0;
    CU_ASSERT_EQUAL(mboxlist_foreach_subtree(ml, "user.a", count_entries, &n, NULL), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);

    /* a record written by something else that we cannot read */
    struct cyrusdb *db = NULL;
    CU_ASSERT_EQUAL_FATAL(cyrusdb_open(backend, fname, CYRUSDB_MBOXSORT, &db), 0);
    CU_ASSERT_EQUAL(cyrusdb_store(db, "user.a.c", 8, "garbage", 7, 0, NULL), 0);
    CU_ASSERT_EQUAL(cyrusdb_close(db), 0);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, fname, 0, &ml), 0);
    struct mboxlist_entry e;
    CU_ASSERT_EQUAL(mboxlist_lookup(ml, "user.a.c", &e, NULL), CYRERR_CORRUPT);
    n = 0;
    CU_ASSERT_EQUAL(mboxlist_foreach_subtree(ml, "user.a", count_entries, &n, NULL), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    free(fname);
}

/* ---- dump / undump ------------------------------------------------------ */

static char *dump_to_string(struct mboxlist *ml, const char *prefix)
{
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&data, &size);
    CU_ASSERT_EQUAL(mboxlist_dump(ml, prefix, f), 0);
    fclose(f);
    return data;
}

static int undump_string(struct mboxlist *ml, const char *text, long *lineno)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    int r = mboxlist_undump(ml, f, lineno);
    fclose(f);
    return r;
}

static void test_dump_undump(void)
{
    struct mboxlist *ml = fresh(NULL);
    mk(ml, "user.alice", NULL);
    mk(ml, "user.alice.&AOk-t&AOk-", "group:Domain Users\tlr\t-bob\tw\t");
    mk(ml, "example.org!user.bob", NULL);
    mk(ml, "shared", "");
    CU_ASSERT_EQUAL(mboxlist_reserve(ml, "user.res", "backend9", "p9", NULL), 0);
    const char *later = "v=1 t=m s=b2 p=p1 u=x future=42 acl=anyone\tl\t";
    struct mboxlist_entry e;
    CU_ASSERT_EQUAL(mboxlist_entry_parse("moving", later, strlen(later), &e), 0);
    CU_ASSERT_EQUAL(mboxlist_store(ml, &e, NULL), 0);
    mboxlist_entry_free(&e);

    char *d1 = dump_to_string(ml, NULL);
    /* one line per entry, name TAB value */
    int lines = 0;
    for (const char *p = d1; *p; p++) lines += (*p == '\n');
    CU_ASSERT_EQUAL(lines, 6);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(d1, "moving\tv=1 t=m s=b2 p=p1 u=x future=42 acl=anyone\tl\t\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d1, "user.res\tv=1 t=Rr s=backend9 p=p9 acl=\n"));
    char *d1u = dump_to_string(ml, "user.");
    CU_ASSERT_PTR_NULL(strstr(d1u, "shared"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d1u, "user.alice\t"));
    free(d1u);

    struct mboxlist *ml2 = fresh(NULL);
    long lineno = -1;
    CU_ASSERT_EQUAL(undump_string(ml2, d1, &lineno), 0);
    CU_ASSERT_EQUAL(lineno, 0);
    char *d2 = dump_to_string(ml2, NULL);
    ASSERT_STREQ(d1, d2);
    free(d2);

    /* undump replaces entries of the same name; bad lines stop it */
    CU_ASSERT_EQUAL(undump_string(ml2, "shared\tv=1 t=l p=other acl=\n", &lineno), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml2, "shared", &e, NULL), 0);
    ASSERT_STREQ(e.partition, "other");
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(
        undump_string(ml2, "n1\tv=1 t=l p=d acl=\nno tab here\nn2\tv=1 t=l p=d acl=\n",
                      &lineno),
        CYRERR_PARSE);
    CU_ASSERT_EQUAL(lineno, 2);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml2, "n1", &e, NULL), 0);   /* earlier lines stay */
    mboxlist_entry_free(&e);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml2, "n2", &e, NULL), CYRERR_MAILBOX_NONEXISTENT);
    CU_ASSERT_EQUAL(undump_string(ml2, "a..b\tv=1 t=l p=d acl=\n", &lineno),
                    CYRERR_PARSE);
    CU_ASSERT_EQUAL(lineno, 1);
    CU_ASSERT_EQUAL(undump_string(ml2, "ok\tv=1 t=l p=d acl=x\n", &lineno), CYRERR_PARSE);
    CU_ASSERT_EQUAL(undump_string(ml2, "", &lineno), 0);
    /* a last line without LF still counts */
    CU_ASSERT_EQUAL(undump_string(ml2, "n3\tv=1 t=l p=d acl=", &lineno), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup(ml2, "n3", &e, NULL), 0);
    mboxlist_entry_free(&e);

    /* many entries cross the batch boundary */
    struct buf big = BUF_INITIALIZER;
    for (int i = 0; i < 1234; i++)
        buf_printf(&big, "user.u%04d\tv=1 t=l p=default u=%x acl=u%04d\tlrs\t\n", i, i,
                   i);
    CU_ASSERT_EQUAL(undump_string(ml2, buf_cstring(&big), &lineno), 0);
    int n = 0;
    CU_ASSERT_EQUAL(mboxlist_foreach(ml2, "user.u", count_entries, &n, NULL), 0);
    CU_ASSERT_EQUAL(n, 1234);
    buf_free(&big);

    free(d1);
    CU_ASSERT_EQUAL(mboxlist_close(ml2), 0);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
}

/* mboxlist_open_config: <configdirectory>/mailboxes.db, mboxlist_db backend */
static void test_open_config(void)
{
    char *dir = xasprintf("%s/cfg-%s", harness_tmpdir(), backend);
    char *conf = xasprintf("%s.conf", dir);
    FILE *f = fopen(conf, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "configdirectory: %s\nmboxlist_db: %s\n", dir, backend);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(config_read(conf, NULL, NULL, NULL), 0);

    struct mboxlist *ml = NULL;
    CU_ASSERT_NOT_EQUAL(mboxlist_open_config(0, &ml), 0);   /* no file, no CREATE */
    CU_ASSERT_PTR_NULL(ml);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open_config(CYRUSDB_CREATE, &ml), 0);
    mk(ml, "user.cfg", NULL);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    char *fname = xasprintf("%s/%s", dir, MBOXLIST_FNAME);
    CU_ASSERT_EQUAL_FATAL(mboxlist_open(backend, fname, 0, &ml), 0);
    CU_ASSERT_EQUAL(mboxlist_lookup_usable(ml, "user.cfg", NULL), 0);
    CU_ASSERT_EQUAL(mboxlist_close(ml), 0);
    config_reset();
    free(fname);
    free(conf);
    free(dir);
}

void register_tests(void)
{
    static const struct {
        const char *name;
        CU_InitializeFunc init;
        CU_CleanupFunc cleanup;
    } suites[] = {
        { "mboxlist-flat", init_flat, NULL },
        { "mboxlist-berkeley", init_berkeley, cleanup_berkeley },
    };
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        CU_pSuite s = harness_suite(suites[i].name, suites[i].init, suites[i].cleanup);
        ADD_TEST(s, test_entry_format);
        ADD_TEST(s, test_create_lookup);
        ADD_TEST(s, test_reserve_activate);
        ADD_TEST(s, test_rename);
        ADD_TEST(s, test_setacl);
        ADD_TEST(s, test_findall);
        ADD_TEST(s, test_foreach_and_corruption);
        ADD_TEST(s, test_dump_undump);
        ADD_TEST(s, test_open_config);
    }
}
