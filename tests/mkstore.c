/* mkstore: a test tool that builds a mail store through the public store
 * API, for the integration tests of the administrative tools
 * (tests/test_tools.py).  No daemon is needed.
 *
 *   mkstore -C imapd.conf create MAILBOX [PARTITION]
 *       create the mailboxes.db entry and the mailbox (internal name); the
 *       mailbox records the quota root governing it, if any; prints its
 *       directory
 *   mkstore -C imapd.conf append MAILBOX FILE...
 *       append each file as one message, with its cache record built here
 *       (msgcache_build); prints "uid=<n>" per message
 *   mkstore -C imapd.conf gen MAILBOX COUNT
 *       append COUNT generated messages (distinct subjects and sizes)
 *   mkstore -C imapd.conf flag MAILBOX FLAG[,FLAG...] UID...
 *       add system flags (seen, deleted, flagged, answered, draft) to the
 *       messages
 *   mkstore -C imapd.conf setquota ROOT STORAGE_KB MESSAGES
 *       make ROOT a quota root with these limits (-1: unlimited), record it
 *       in every mailbox it governs and set its usage from them
 *   mkstore -C imapd.conf setused ROOT BYTES MESSAGES
 *       overwrite a root's stored usage (to make drift for quota -f)
 *   mkstore -C imapd.conf list MAILBOX
 *       one line per message not expunged, in UID order:
 *       "uid=<n> size=<n> flags=<seen,...|-> cache=<ok|bad>", where cache
 *       says whether the cache record decodes and matches the size
 *   mkstore -C imapd.conf status MAILBOX
 *       "exists=<n> uidnext=<n> quota_used=<bytes> quotaroot=<root|->"
 *
 * Exit status 0, or 1 with "mkstore: <what>: <error>" on stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/msgcache.h"
#include "imap/store/quota.h"

static int usage(void)
{
    fprintf(stderr, "usage: mkstore [-C imapd.conf] "
                    "create|append|gen|flag|setquota|setused|list|status ARG...\n");
    return 1;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "mkstore: %s: %s\n", what, error_message(r));
    return 1;
}

static int parse_ll(const char *s, long long min, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min) {
        fprintf(stderr, "mkstore: bad number %s\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int open_mailbox(const char *name, struct mailbox **mbp)
{
    struct mboxlist *ml = NULL;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
    if (r) return r;
    r = mboxlist_lookup_usable(ml, name, &e);
    (void)mboxlist_close(ml);
    if (!r) r = mailbox_open(name, e.partition, mbp);
    mboxlist_entry_free(&e);
    return r;
}

static int do_create(const char *name, const char *partition)
{
    struct mboxlist *ml = NULL;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    if (!partition) partition = config_getstring(IMAPOPT_DEFAULTPARTITION);
    int r = mboxlist_open_config(CYRUSDB_CREATE, &ml);
    if (r) return fail("mailboxes.db", r);
    r = mboxlist_create(ml, name, partition, NULL, config_getstring(IMAPOPT_DEFAULTACL),
                        NULL, &e);
    if (r) {
        (void)mboxlist_close(ml);
        return fail(name, r);
    }
    char *root = quota_findroot(name);
    struct mailbox_create_params p;
    memset(&p, 0, sizeof(p));
    p.uniqueid = e.uniqueid;
    p.quotaroot = root;
    struct mailbox *mb = NULL;
    r = mailbox_create(name, e.partition, &p, &mb);
    free(root);
    mboxlist_entry_free(&e);
    if (r && mboxlist_delete(ml, name)) fprintf(stderr, "mkstore: %s: entry left\n", name);
    (void)mboxlist_close(ml);
    if (r) return fail(name, r);
    printf("%s\n", mailbox_dir(mb));
    mailbox_close(&mb);
    return 0;
}

static int read_file(const char *path, struct buf *out)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return CYRERR_IO;
    char chunk[8192];
    ssize_t n;
    buf_reset(out);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) buf_appendmap(out, chunk, (size_t)n);
    close(fd);
    return n < 0 ? CYRERR_IO : 0;
}

/* Append messages held in `bodies`, each with its cache record. */
static int append_all(const char *name, const struct strarray *bodies)
{
    struct mailbox *mb = NULL;
    int r = open_mailbox(name, &mb);
    if (r) return fail(name, r);
    size_t n = (size_t)bodies->count;
    struct mailbox_append_msg *msgs = xcalloc(n, sizeof(*msgs));
    struct buf *caches = xcalloc(n, sizeof(*caches));
    for (size_t i = 0; i < n; i++) {
        const char *body = bodies->data[i];
        size_t len = strlen(body);
        msgcache_build(body, len, &caches[i]);
        msgs[i].source = MAILBOX_SRC_DATA;
        msgs[i].data = body;
        msgs[i].len = len;
        msgs[i].internaldate = 1700000000 + (time_t)i;
        msgs[i].cache = caches[i].s;
        msgs[i].cache_len = caches[i].len;
    }
    struct mailbox_append_result res;
    r = mailbox_append(mb, msgs, n, 0, &res);
    for (size_t i = 0; i < n; i++) buf_free(&caches[i]);
    free(caches);
    free(msgs);
    mailbox_close(&mb);
    if (r) return fail("append", r);
    for (uint32_t uid = res.first_uid; uid <= res.last_uid; uid++) printf("uid=%u\n", uid);
    return 0;
}

static int do_append(const char *name, int nfiles, char **files)
{
    struct strarray bodies = STRARRAY_INITIALIZER;
    struct buf data = BUF_INITIALIZER;
    for (int i = 0; i < nfiles; i++) {
        int r = read_file(files[i], &data);
        if (r) {
            buf_free(&data);
            strarray_free(&bodies);
            return fail(files[i], r);
        }
        if (memchr(data.s, '\0', data.len)) {
            buf_free(&data);
            strarray_free(&bodies);
            fprintf(stderr, "mkstore: %s: NUL byte in message\n", files[i]);
            return 1;
        }
        strarray_append(&bodies, buf_cstring(&data));
    }
    buf_free(&data);
    int rc = append_all(name, &bodies);
    strarray_free(&bodies);
    return rc;
}

static int do_gen(const char *name, const char *count)
{
    long long n;
    if (parse_ll(count, 1, &n) || n > MAILBOX_APPEND_MAX) return usage();
    struct strarray bodies = STRARRAY_INITIALIZER;
    struct buf msg = BUF_INITIALIZER;
    for (long long i = 1; i <= n; i++) {
        buf_reset(&msg);
        buf_printf(&msg,
                   "From: Sender %lld <sender%lld@example.org>\r\n"
                   "To: %s@example.org\r\n"
                   "Subject: generated message %lld\r\n"
                   "Date: Tue, 14 Nov 2023 22:13:%02lld +0000\r\n"
                   "Message-ID: <gen%lld@example.org>\r\n"
                   "\r\n",
                   i, i, name, i, i % 60, i);
        for (long long k = 0; k < i; k++) buf_appendcstr(&msg, "line of body text\r\n");
        strarray_append(&bodies, buf_cstring(&msg));
    }
    buf_free(&msg);
    int rc = append_all(name, &bodies);
    strarray_free(&bodies);
    return rc;
}

static const struct {
    uint32_t bit;
    const char *name;
} flag_names[] = {
    { MAILBOX_FLAG_SEEN, "seen" }, { MAILBOX_FLAG_DELETED, "deleted" },
    { MAILBOX_FLAG_FLAGGED, "flagged" }, { MAILBOX_FLAG_ANSWERED, "answered" },
    { MAILBOX_FLAG_DRAFT, "draft" },
};
#define NFLAGNAMES (sizeof(flag_names) / sizeof(flag_names[0]))

static int do_flag(const char *name, const char *list, int nuids, char **args)
{
    struct mailbox_flags fl;
    memset(&fl, 0, sizeof(fl));
    struct buf w = BUF_INITIALIZER;
    for (const char *p = list;; p++) {
        if (*p && *p != ',') {
            buf_putc(&w, *p);
            continue;
        }
        size_t k;
        for (k = 0; k < NFLAGNAMES && strcmp(buf_cstring(&w), flag_names[k].name); k++)
            ;
        if (k == NFLAGNAMES) {
            fprintf(stderr, "mkstore: unknown flag %s\n", buf_cstring(&w));
            buf_free(&w);
            return 1;
        }
        fl.system |= flag_names[k].bit;
        buf_reset(&w);
        if (!*p) break;
    }
    buf_free(&w);
    uint32_t *uids = xcalloc((size_t)nuids, sizeof(*uids));
    for (int i = 0; i < nuids; i++) {
        long long v;
        if (parse_ll(args[i], 1, &v) || v > UINT32_MAX) {
            free(uids);
            return usage();
        }
        uids[i] = (uint32_t)v;
    }
    struct mailbox *mb = NULL;
    int r = open_mailbox(name, &mb);
    if (!r)
        r = mailbox_store(mb, uids, (size_t)nuids, MAILBOX_STORE_ADD, &fl, 0, NULL, NULL, NULL);
    mailbox_close(&mb);
    free(uids);
    return r ? fail(name, r) : 0;
}

/* ---- quota --------------------------------------------------------------- */

struct setquota_rock {
    const char *root;
    long long bytes, msgs;
    int err;
};

static int setquota_one(void *rock, const struct mboxlist_entry *e)
{
    struct setquota_rock *sq = rock;
    if (e->type & MBOXLIST_TYPEMASK) return 0;
    char *governing = quota_findroot(e->name);
    int mine = governing && !strcmp(governing, sq->root);
    free(governing);
    if (!mine) return 0;
    struct mailbox *mb = NULL;
    int r = mailbox_open(e->name, e->partition, &mb);
    if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
    if (!r) r = mailbox_set_quotaroot(mb, sq->root);
    if (!r) {
        struct mailbox_status st;
        mailbox_status(mb, &st);
        sq->bytes += (long long)st.quota_used;
        sq->msgs += st.exists;
    }
    mailbox_close(&mb);
    if (r) {
        fail(e->name, r);
        sq->err = 1;
    }
    return 0;
}

static int do_setquota(const char *root, const char *kb, const char *count)
{
    long long limit[QUOTA_NUMRESOURCES];
    if (parse_ll(kb, -1, &limit[QUOTA_STORAGE]) || parse_ll(count, -1, &limit[QUOTA_MESSAGE]))
        return usage();
    int r = quota_setlimits(root, limit);
    if (r) return fail(root, r);
    struct mboxlist *ml = NULL;
    r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
    if (r) return fail("mailboxes.db", r);
    struct setquota_rock sq = { root, 0, 0, 0 };
    r = mboxlist_foreach_subtree(ml, root, setquota_one, &sq, NULL);
    (void)mboxlist_close(ml);
    if (r) return fail(root, r);
    if (sq.err) return 1;
    r = quota_set_used(root, sq.bytes, sq.msgs);
    return r ? fail(root, r) : 0;
}

static int do_setused(const char *root, const char *bytes, const char *msgs)
{
    long long b, m;
    if (parse_ll(bytes, 0, &b) || parse_ll(msgs, 0, &m)) return usage();
    int r = quota_set_used(root, b, m);
    return r ? fail(root, r) : 0;
}

/* ---- reading ------------------------------------------------------------- */

static const char *cache_state(struct mailbox *mb, const struct mailbox_record *rec,
                               struct buf *cache)
{
    if (mailbox_read_cache(mb, rec, cache)) return "bad";
    struct msgcache *mc = NULL;
    if (msgcache_decode(cache->s, cache->len, &mc)) return "bad";
    int ok = msgcache_msgsize(mc) == rec->size;
    msgcache_free(&mc);
    return ok ? "ok" : "bad";
}

static int do_list(const char *name)
{
    struct mailbox *mb = NULL;
    int r = open_mailbox(name, &mb);
    if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) {
        mailbox_close(&mb);
        return fail(name, r);
    }
    struct buf cache = BUF_INITIALIZER, fl = BUF_INITIALIZER;
    uint32_t n = mailbox_num_records(mb);
    for (uint32_t i = 0; i < n && !r; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r || (rec.system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
        buf_reset(&fl);
        for (size_t k = 0; k < NFLAGNAMES; k++) {
            if (!(rec.system_flags & flag_names[k].bit)) continue;
            if (buf_len(&fl)) buf_putc(&fl, ',');
            buf_appendcstr(&fl, flag_names[k].name);
        }
        printf("uid=%u size=%u flags=%s cache=%s\n", rec.uid, rec.size,
               buf_len(&fl) ? buf_cstring(&fl) : "-", cache_state(mb, &rec, &cache));
    }
    buf_free(&cache);
    buf_free(&fl);
    mailbox_unlock(mb);
    mailbox_close(&mb);
    return r ? fail("read", r) : 0;
}

static int do_status(const char *name)
{
    struct mailbox *mb = NULL;
    int r = open_mailbox(name, &mb);
    if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) {
        mailbox_close(&mb);
        return fail(name, r);
    }
    struct mailbox_status st;
    mailbox_status(mb, &st);
    const char *root = mailbox_quotaroot(mb);
    printf("exists=%u uidnext=%u quota_used=%llu quotaroot=%s\n", st.exists, st.uidnext,
           (unsigned long long)st.quota_used, root ? root : "-");
    mailbox_unlock(mb);
    mailbox_close(&mb);
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+C:")) != -1) {
        if (opt == 'C') conf = optarg;
        else return usage();
    }
    if (argc - optind < 2) return usage();
    const char *cmd = argv[optind];
    const char *arg = argv[optind + 1];
    int nargs = argc - optind - 2;
    char **args = argv + optind + 2;

    log_init("mkstore", 0);
    config_read_or_exit(conf, "mkstore");
    int rc;
    if (!strcmp(cmd, "create") && nargs <= 1) rc = do_create(arg, nargs ? args[0] : NULL);
    else if (!strcmp(cmd, "append") && nargs > 0) rc = do_append(arg, nargs, args);
    else if (!strcmp(cmd, "gen") && nargs == 1) rc = do_gen(arg, args[0]);
    else if (!strcmp(cmd, "flag") && nargs >= 2) rc = do_flag(arg, args[0], nargs - 1, args + 1);
    else if (!strcmp(cmd, "setquota") && nargs == 2) rc = do_setquota(arg, args[0], args[1]);
    else if (!strcmp(cmd, "setused") && nargs == 2) rc = do_setused(arg, args[0], args[1]);
    else if (!strcmp(cmd, "list") && nargs == 0) rc = do_list(arg);
    else if (!strcmp(cmd, "status") && nargs == 0) rc = do_status(arg);
    else rc = usage();
    quota_close();
    cyrusdb_done();
    config_reset();
    return rc;
}
