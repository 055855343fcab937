/* store_inject: a test tool that puts mail into users' INBOXes through the
 * public store API, for the integration tests of daemons that read mail
 * (pop3d) before a delivery agent exists.
 *
 *   store_inject -C imapd.conf create USER
 *       create USER's INBOX (mailboxes.db entry and mailbox); prints its
 *       internal name
 *   store_inject -C imapd.conf append USER FILE...
 *       append each file as one message (in one transaction); prints
 *       "uidvalidity=<n> uid=<n>" per message
 *   store_inject -C imapd.conf expunge USER UID...
 *       expunge those messages whatever their flags (another client's
 *       EXPUNGE)
 *   store_inject -C imapd.conf setacl USER IDENTIFIER RIGHTS
 *       SETACL on the INBOX (RIGHTS as in SETACL: "lrs", "+t", "-r")
 *   store_inject -C imapd.conf list USER
 *       one line per message not expunged: "uid=<n> size=<n> flags=<..>"
 *       with flags from "seen,deleted,flagged,answered,draft" or "-"
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"

static int usage(void)
{
    fprintf(stderr, "usage: store_inject [-C imapd.conf] create|append|expunge|setacl|list "
                    "USER [ARG...]\n");
    return 1;
}

static int fail(const char *what, int r)
{
    fprintf(stderr, "store_inject: %s: %s\n", what, error_message(r));
    return 1;
}

/* Look the INBOX up and open it. */
static int open_inbox(const char *inbox, struct mailbox **mbp)
{
    struct mboxlist *ml = NULL;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
    if (r) return r;
    r = mboxlist_lookup_usable(ml, inbox, &e);
    (void)mboxlist_close(ml);
    if (!r) r = mailbox_open(inbox, e.partition, mbp);
    mboxlist_entry_free(&e);
    return r;
}

static int do_create(const char *inbox)
{
    struct mboxlist *ml = NULL;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    const char *part = config_getstring(IMAPOPT_DEFAULTPARTITION);
    int r = mboxlist_open_config(CYRUSDB_CREATE, &ml);
    if (r) return fail("mailboxes.db", r);
    r = mboxlist_create(ml, inbox, part, NULL, config_getstring(IMAPOPT_DEFAULTACL),
                        NULL, &e);
    (void)mboxlist_close(ml);
    if (r) return fail(inbox, r);
    struct mailbox_create_params p;
    memset(&p, 0, sizeof(p));
    p.uniqueid = e.uniqueid;
    struct mailbox *mb = NULL;
    r = mailbox_create(inbox, e.partition, &p, &mb);
    mboxlist_entry_free(&e);
    if (r) return fail(inbox, r);
    mailbox_close(&mb);
    printf("%s\n", inbox);
    return 0;
}

static int do_append(const char *inbox, int n, char **files)
{
    struct mailbox *mb = NULL;
    int r = open_inbox(inbox, &mb);
    if (r) return fail(inbox, r);
    struct mailbox_append_msg *msgs = xcalloc((size_t)n, sizeof(*msgs));
    for (int i = 0; i < n; i++) {
        msgs[i].source = MAILBOX_SRC_PATH;
        msgs[i].path = files[i];
    }
    struct mailbox_append_result res;
    r = mailbox_append(mb, msgs, (size_t)n, 0, &res);
    free(msgs);
    mailbox_close(&mb);
    if (r) return fail("append", r);
    for (uint32_t uid = res.first_uid; uid <= res.last_uid; uid++)
        printf("uidvalidity=%u uid=%u\n", res.uidvalidity, uid);
    return 0;
}

static int do_expunge(const char *inbox, int n, char **args)
{
    uint32_t *uids = xcalloc((size_t)n, sizeof(*uids));
    for (int i = 0; i < n; i++) {
        char *end = NULL;
        unsigned long v = strtoul(args[i], &end, 10);
        if (!*args[i] || *end || v == 0 || v > UINT32_MAX) {
            free(uids);
            fprintf(stderr, "store_inject: bad uid %s\n", args[i]);
            return 1;
        }
        uids[i] = (uint32_t)v;
    }
    struct mailbox *mb = NULL;
    int r = open_inbox(inbox, &mb);
    size_t done = 0;
    if (!r) r = mailbox_expunge(mb, uids, (size_t)n, MAILBOX_EXPUNGE_ANY, NULL, NULL, &done);
    mailbox_close(&mb);
    free(uids);
    if (r) return fail("expunge", r);
    printf("expunged=%zu\n", done);
    return 0;
}

static int do_setacl(const char *inbox, const char *id, const char *rights)
{
    struct mboxlist *ml = NULL;
    int r = mboxlist_open_config(0, &ml);
    if (r) return fail("mailboxes.db", r);
    r = mboxlist_setacl(ml, inbox, id, rights);
    (void)mboxlist_close(ml);
    return r ? fail("setacl", r) : 0;
}

static int do_list(const char *inbox)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { MAILBOX_FLAG_SEEN, "seen" }, { MAILBOX_FLAG_DELETED, "deleted" },
        { MAILBOX_FLAG_FLAGGED, "flagged" }, { MAILBOX_FLAG_ANSWERED, "answered" },
        { MAILBOX_FLAG_DRAFT, "draft" },
    };
    struct mailbox *mb = NULL;
    int r = open_inbox(inbox, &mb);
    if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) {
        mailbox_close(&mb);
        return fail(inbox, r);
    }
    uint32_t n = mailbox_num_records(mb);
    for (uint32_t i = 0; i < n && !r; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r || (rec.system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
        struct buf fl = BUF_INITIALIZER;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (!(rec.system_flags & names[k].bit)) continue;
            if (buf_len(&fl)) buf_putc(&fl, ',');
            buf_appendcstr(&fl, names[k].name);
        }
        printf("uid=%u size=%u flags=%s\n", rec.uid, rec.size,
               buf_len(&fl) ? buf_cstring(&fl) : "-");
        buf_free(&fl);
    }
    mailbox_unlock(mb);
    mailbox_close(&mb);
    return r ? fail("read", r) : 0;
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
    const char *user = argv[optind + 1];
    int nargs = argc - optind - 2;
    char **args = argv + optind + 2;

    log_init("store_inject", 0);
    config_read_or_exit(conf, "store_inject");
    struct namespace ns;
    namespace_from_config(&ns, 0);
    char *inbox = namespace_user_inbox(&ns, user);
    int rc;
    if (!inbox) {
        fprintf(stderr, "store_inject: invalid user %s\n", user);
        rc = 1;
    } else if (!strcmp(cmd, "create") && nargs == 0) {
        rc = do_create(inbox);
    } else if (!strcmp(cmd, "append") && nargs > 0) {
        rc = do_append(inbox, nargs, args);
    } else if (!strcmp(cmd, "expunge") && nargs > 0) {
        rc = do_expunge(inbox, nargs, args);
    } else if (!strcmp(cmd, "setacl") && nargs == 2) {
        rc = do_setacl(inbox, args[0], args[1]);
    } else if (!strcmp(cmd, "list") && nargs == 0) {
        rc = do_list(inbox);
    } else {
        rc = usage();
    }
    free(inbox);
    cyrusdb_done();
    config_reset();
    return rc;
}
