/* reconstruct: rebuild mailboxes' index and cache from their message files.
 *
 *   reconstruct [-C imapd.conf] [-n] [-r] [-q] [-p partition] mailbox...
 *   reconstruct [-C imapd.conf] [-n] [-r] [-q] -D directory...
 *
 * Mailboxes are internal names ("user.alice.Sent"); their partition comes
 * from mailboxes.db unless -p gives it.  -r also does every mailbox below
 * (from mailboxes.db, or with -D every directory below holding a mailbox).
 * A lost cyrus.header is recreated with the unique id of the mailboxes.db
 * entry (a new one with -p alone, which does not read mailboxes.db) and
 * the nearest quota root of the quota database.
 * -n reports what would be fixed and changes nothing.  Each fix is printed
 * as "<mailbox>: <what>", then one summary line per mailbox (not with -q).
 * Exit status: 0, 1 when something was found to fix under -n, 75 when a
 * mailbox could not be read or written.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"

struct opts {
    int dryrun, recursive, quiet;
    const char *partition;
    int failed, found;
    struct mboxlist *ml;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: reconstruct [-C imapd.conf] [-n] [-r] [-q] [-p partition] mailbox...\n"
            "       reconstruct [-C imapd.conf] [-n] [-r] [-q] -D directory...\n");
    exit(EX_USAGE);
}

static void print_fix(void *rock, const char *fix)
{
    printf("%s: %s\n", (const char *)rock, fix);
}

/* `uniqueid` is the one in mailboxes.db (NULL: unknown), for a lost
 * cyrus.header. */
static void do_dir(struct opts *o, const char *dir, const char *name, const char *uniqueid)
{
    unsigned n = 0;
    const char *label = name ? name : dir;
    int r = mailbox_reconstruct_entry(dir, name, uniqueid,
                                      o->dryrun ? MAILBOX_RECONSTRUCT_DRYRUN : 0, print_fix,
                                      (void *)label, &n);
    if (r) {
        fprintf(stderr, "%s: %s\n", label, error_message(r));
        o->failed = 1;
        return;
    }
    if (n) o->found = 1;
    if (!o->quiet) {
        if (!n) printf("%s: ok\n", label);
        else printf("%s: %u fix%s%s\n", label, n, n == 1 ? "" : "es",
                    o->dryrun ? " needed" : " made");
    }
}

static void do_entry(struct opts *o, const char *name, const char *partition,
                     const char *uniqueid)
{
    struct buf dir = BUF_INITIALIZER;
    int r = mailbox_dir_for(name, partition, &dir);
    if (r) {
        fprintf(stderr, "%s: %s\n", name, error_message(r));
        o->failed = 1;
    } else {
        do_dir(o, buf_cstring(&dir), name, uniqueid);
    }
    buf_free(&dir);
}

static int subtree_cb(void *rock, const struct mboxlist_entry *e)
{
    struct opts *o = rock;
    if (e->type & MBOXLIST_TYPEMASK) return 0;    /* remote, reserved, ... */
    do_entry(o, e->name, o->partition ? o->partition : e->partition, e->uniqueid);
    return 0;
}

static void do_name(struct opts *o, const char *name)
{
    if (o->partition && !o->recursive) {
        /* mailboxes.db is not read: a lost header gets a new unique id */
        do_entry(o, name, o->partition, NULL);
        return;
    }
    if (!o->ml) {
        int r = mboxlist_open_config(CYRUSDB_READONLY, &o->ml);
        if (r) {
            fprintf(stderr, "mailboxes.db: %s (give the partition with -p)\n", error_message(r));
            o->failed = 1;
            o->ml = NULL;
            return;
        }
    }
    if (o->recursive) {
        int r = mboxlist_foreach_subtree(o->ml, name, subtree_cb, o, NULL);
        if (r) {
            fprintf(stderr, "%s: %s\n", name, error_message(r));
            o->failed = 1;
        }
        return;
    }
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_lookup(o->ml, name, &e, NULL);
    if (r) {
        fprintf(stderr, "%s: %s\n", name, error_message(r));
        o->failed = 1;
    } else if (e.type & MBOXLIST_TYPEMASK) {
        fprintf(stderr, "%s: not a local mailbox\n", name);
        o->failed = 1;
    } else {
        do_entry(o, name, e.partition, e.uniqueid);
    }
    mboxlist_entry_free(&e);
}

static int holds_mailbox(const char *dir)
{
    struct stat st;
    char *p = xasprintf("%s/cyrus.header", dir);
    int r = stat(p, &st) == 0;
    free(p);
    if (r) return 1;
    p = xasprintf("%s/cyrus.index", dir);
    r = stat(p, &st) == 0;
    free(p);
    return r;
}

/* -D -r: the directory, then every directory below that holds a mailbox
 * (message files are never directories; cyrus.* entries are skipped). */
static void walk(struct opts *o, const char *dir, int depth)
{
    if (holds_mailbox(dir)) do_dir(o, dir, NULL, NULL);
    if (!o->recursive || depth > 64) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct strarray subs = STRARRAY_INITIALIZER;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strncmp(de->d_name, "cyrus.", 6)) continue;
        char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) strarray_appendm(&subs, p);
        else free(p);
    }
    closedir(d);
    strarray_sort(&subs, NULL);
    for (int i = 0; i < subs.count; i++) walk(o, strarray_nth(&subs, i), depth + 1);
    strarray_free(&subs);
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int dirs = 0, c;
    struct opts o;
    memset(&o, 0, sizeof(o));
    while ((c = getopt(argc, argv, "C:nrqp:D")) != -1) {
        switch (c) {
        case 'C': conf = optarg; break;
        case 'n': o.dryrun = 1; break;
        case 'r': o.recursive = 1; break;
        case 'q': o.quiet = 1; break;
        case 'p': o.partition = optarg; break;
        case 'D': dirs = 1; break;
        default: usage();
        }
    }
    if (optind >= argc) usage();
    log_init("reconstruct", 0);
    config_read_or_exit(conf, "reconstruct");
    for (int i = optind; i < argc; i++) {
        if (dirs) walk(&o, argv[i], 0);
        else do_name(&o, argv[i]);
    }
    if (o.ml) (void)mboxlist_close(o.ml);
    config_reset();
    if (o.failed) return EX_TEMPFAIL;
    return o.dryrun && o.found ? 1 : 0;
}
