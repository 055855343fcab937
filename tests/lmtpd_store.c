/* lmtpd_store: a test tool that prepares and inspects the mail store through
 * the public store API, for tests/test_lmtpd.py and bench/lmtp.  Names are
 * internal mailbox names ("user.alice", "shared.memo", "example.org!user.bob").
 *
 *   lmtpd_store -C imapd.conf create NAME [PARTITION]
 *       create the mailbox (mailboxes.db entry with the default ACL, and the
 *       mailbox itself, under the quota root that governs it)
 *   lmtpd_store -C imapd.conf setacl NAME IDENTIFIER RIGHTS
 *       as IMAP SETACL ("" removes the identifier)
 *   lmtpd_store -C imapd.conf settype NAME local|reserved|moving|remote [SERVER]
 *       change the mailboxes.db entry's type (what a move or a mupdate
 *       slave would leave)
 *   lmtpd_store -C imapd.conf setquota ROOT STORAGE_KIB|- MESSAGES|-
 *       set the limits of quota root ROOT ("-": unlimited) and make it the
 *       quota root of ROOT and every mailbox below it
 *   lmtpd_store -C imapd.conf getquota ROOT
 *       "storage=<bytes used> messages=<messages used>"
 *   lmtpd_store -C imapd.conf list NAME
 *       first "exists=<n> uidnext=<n>", then one line per message not
 *       expunged: "uid=<n> size=<n> guid=<hex> check=<result> path=<file>"
 *       (the path to the end of the line) where result is "ok" when the file exists, has the record's size,
 *       its SHA-1 is the GUID and the cache record describes it, or says
 *       what is wrong
 *   lmtpd_store -C imapd.conf mkmany PREFIX COUNT
 *       create the INBOXes PREFIX0 .. PREFIX<COUNT-1> (benchmarks)
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/msgcache.h"
#include "imap/store/quota.h"

static int usage(void)
{
    fprintf(stderr, "usage: lmtpd_store [-C imapd.conf] "
                    "create|setacl|settype|setquota|getquota|list|mkmany ARG...\n");
    return 1;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "lmtpd_store: %s: %s\n", what, error_message(r));
    return 1;
}

static int open_ml(int flags, struct mboxlist **mlp)
{
    int r = mboxlist_open_config(flags, mlp);
    if (r) fprintf(stderr, "lmtpd_store: mailboxes.db: %s\n", error_message(r));
    return r;
}

static int create_one(struct mboxlist *ml, const char *name, const char *part)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    if (!part) part = config_getstring(IMAPOPT_DEFAULTPARTITION);
    int r = mboxlist_create(ml, name, part, NULL, config_getstring(IMAPOPT_DEFAULTACL), NULL,
                            &e);
    if (r) return fail(name, r);
    struct mailbox_create_params p;
    memset(&p, 0, sizeof(p));
    p.uniqueid = e.uniqueid;
    char *root = quota_findroot(name);
    p.quotaroot = root;
    struct mailbox *mb = NULL;
    r = mailbox_create(name, e.partition, &p, &mb);
    free(root);
    mboxlist_entry_free(&e);
    if (r) return fail(name, r);
    mailbox_close(&mb);
    return 0;
}

static int do_create(const char *name, const char *part)
{
    struct mboxlist *ml = NULL;
    if (open_ml(CYRUSDB_CREATE, &ml)) return 1;
    int r = create_one(ml, name, part);
    (void)mboxlist_close(ml);
    return r;
}

static int do_mkmany(const char *prefix, const char *count)
{
    long n = strtol(count, NULL, 10);
    struct mboxlist *ml = NULL;
    if (n <= 0 || open_ml(CYRUSDB_CREATE, &ml)) return 1;
    int r = 0;
    for (long i = 0; i < n && !r; i++) {
        char *name = xasprintf("%s%ld", prefix, i);
        r = create_one(ml, name, NULL);
        free(name);
    }
    (void)mboxlist_close(ml);
    return r;
}

static int do_setacl(const char *name, const char *id, const char *rights)
{
    struct mboxlist *ml = NULL;
    if (open_ml(0, &ml)) return 1;
    int r = mboxlist_setacl(ml, name, id, rights);
    (void)mboxlist_close(ml);
    return r ? fail(name, r) : 0;
}

static int do_settype(const char *name, const char *type, const char *server)
{
    unsigned t;
    if (!strcmp(type, "local")) t = 0;
    else if (!strcmp(type, "reserved")) t = MBOXLIST_RESERVED;
    else if (!strcmp(type, "moving")) t = MBOXLIST_MOVING;
    else if (!strcmp(type, "remote")) t = MBOXLIST_REMOTE;
    else return usage();
    if ((t == MBOXLIST_MOVING || t == MBOXLIST_REMOTE) && !server) return usage();
    struct mboxlist *ml = NULL;
    if (open_ml(0, &ml)) return 1;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_lookup(ml, name, &e, NULL);
    if (!r) {
        e.type = t;
        free(e.server);
        e.server = t & (MBOXLIST_MOVING | MBOXLIST_REMOTE) ? xstrdup(server) : NULL;
        r = mboxlist_update(ml, &e, NULL);
    }
    mboxlist_entry_free(&e);
    (void)mboxlist_close(ml);
    return r ? fail(name, r) : 0;
}

struct rootrock {
    const char *root;
    int r;
};

static int set_root(void *rock, const struct mboxlist_entry *e)
{
    struct rootrock *rr = rock;
    if (e->type) return 0;
    struct mailbox *mb = NULL;
    int r = mailbox_open(e->name, e->partition, &mb);
    if (!r) r = mailbox_set_quotaroot(mb, rr->root);
    mailbox_close(&mb);
    if (r) {
        fprintf(stderr, "lmtpd_store: %s: %s\n", e->name, error_message(r));
        rr->r = r;
    }
    return 0;
}

static long long limit_arg(const char *s)
{
    if (!strcmp(s, "-")) return QUOTA_UNLIMITED;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return *s && !*end && v >= 0 ? v : -2;
}

static int do_setquota(const char *root, const char *storage, const char *messages)
{
    long long limits[QUOTA_NUMRESOURCES];
    limits[QUOTA_STORAGE] = limit_arg(storage);
    limits[QUOTA_MESSAGE] = limit_arg(messages);
    if (limits[QUOTA_STORAGE] < -1 || limits[QUOTA_MESSAGE] < -1) return usage();
    int r = quota_setlimits(root, limits);
    if (r) return fail(root, r);
    struct mboxlist *ml = NULL;
    if (open_ml(0, &ml)) return 1;
    struct rootrock rr = { root, 0 };
    r = mboxlist_foreach_subtree(ml, root, set_root, &rr, NULL);
    (void)mboxlist_close(ml);
    if (r) return fail(root, r);
    return rr.r ? 1 : 0;
}

static int do_getquota(const char *root)
{
    struct quota q;
    quota_init(&q, root);
    int r = quota_read(root, &q);
    if (!r)
        printf("storage=%lld messages=%lld\n", q.used[QUOTA_STORAGE], q.used[QUOTA_MESSAGE]);
    quota_free(&q);
    return r ? fail(root, r) : 0;
}

/* Check one message file against its record. */
static const char *check_file(struct mailbox *mb, const struct mailbox_record *rec,
                              const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "missing";
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != rec->size) {
        close(fd);
        return "size";
    }
    const char *why = NULL;
    void *p = rec->size ? mmap(NULL, rec->size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    close(fd);
    if (p == MAP_FAILED) return "unreadable";
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(p ? p : "", rec->size, sha, &dl, EVP_sha1(), NULL);
    if (dl != MAILBOX_GUID_LEN || memcmp(sha, rec->guid, MAILBOX_GUID_LEN)) why = "guid";
    struct buf cache = BUF_INITIALIZER;
    struct msgcache *mc = NULL;
    if (!why && mailbox_read_cache(mb, rec, &cache)) why = "cache";
    if (!why && msgcache_decode(buf_base(&cache), buf_len(&cache), &mc)) why = "cache";
    if (!why && msgcache_msgsize(mc) != rec->size) why = "cachesize";
    msgcache_free(&mc);
    buf_free(&cache);
    if (p) munmap(p, rec->size);
    return why ? why : "ok";
}

static int do_list(const char *name)
{
    struct mboxlist *ml = NULL;
    if (open_ml(CYRUSDB_READONLY, &ml)) return 1;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_lookup(ml, name, &e, NULL);
    (void)mboxlist_close(ml);
    if (r) return fail(name, r);
    struct mailbox *mb = NULL;
    r = mailbox_open(name, e.partition, &mb);
    mboxlist_entry_free(&e);
    if (r) return fail(name, r);
    r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) {
        mailbox_close(&mb);
        return fail(name, r);
    }
    struct mailbox_status ms;
    mailbox_status(mb, &ms);
    printf("exists=%u uidnext=%u\n", ms.exists, ms.uidnext);
    struct buf path = BUF_INITIALIZER;
    uint32_t n = mailbox_num_records(mb);
    for (uint32_t i = 0; i < n && !r; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r || (rec.system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
        mailbox_message_path(mb, rec.uid, &path);
        char hex[2 * MAILBOX_GUID_LEN + 1];
        for (int k = 0; k < MAILBOX_GUID_LEN; k++)
            snprintf(hex + 2 * k, 3, "%02x", rec.guid[k]);
        printf("uid=%u size=%u guid=%s check=%s path=%s\n", rec.uid, rec.size, hex,
               check_file(mb, &rec, buf_cstring(&path)), buf_cstring(&path));
    }
    buf_free(&path);
    mailbox_close(&mb);
    return r ? fail(name, r) : 0;
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "C:")) != -1) {
        if (opt == 'C') conf = optarg;
        else return usage();
    }
    argc -= optind;
    argv += optind;
    if (argc < 2) return usage();
    log_init("lmtpd_store", 0);
    config_read_or_exit(conf, "lmtpd_store");
    const char *cmd = argv[0];
    int r;
    if (!strcmp(cmd, "create") && (argc == 2 || argc == 3))
        r = do_create(argv[1], argc == 3 ? argv[2] : NULL);
    else if (!strcmp(cmd, "setacl") && argc == 4)
        r = do_setacl(argv[1], argv[2], argv[3]);
    else if (!strcmp(cmd, "settype") && (argc == 3 || argc == 4))
        r = do_settype(argv[1], argv[2], argc == 4 ? argv[3] : NULL);
    else if (!strcmp(cmd, "setquota") && argc == 4)
        r = do_setquota(argv[1], argv[2], argv[3]);
    else if (!strcmp(cmd, "getquota") && argc == 2)
        r = do_getquota(argv[1]);
    else if (!strcmp(cmd, "list") && argc == 2)
        r = do_list(argv[1]);
    else if (!strcmp(cmd, "mkmany") && argc == 3)
        r = do_mkmany(argv[1], argv[2]);
    else
        r = usage();
    quota_close();
    cyrusdb_done();
    return r;
}
