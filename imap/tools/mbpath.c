/* mbpath: print the directory of mailboxes.
 *
 *   mbpath [-C imapd.conf] [-p partition] [-q] [-s] mailbox...
 *
 * For each internal mailbox name, its partition comes from mailboxes.db
 * (unless -p gives it) and its directory from the partition and the name
 * (hashimapspool honoured).  -s prints only directories that hold a
 * mailbox.  Errors go to stderr ("<mailbox>: <error>"), not with -q; the
 * exit status is 75 when any name failed.
 */
#include "config.h"

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
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"

static void usage(void)
{
    fprintf(stderr, "usage: mbpath [-C imapd.conf] [-p partition] [-q] [-s] mailbox...\n");
    exit(EX_USAGE);
}

static int exists_there(const char *dir)
{
    char *p = xasprintf("%s/cyrus.index", dir);
    struct stat st;
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *partition = NULL;
    int quiet = 0, stat_only = 0, c;
    while ((c = getopt(argc, argv, "C:p:qs")) != -1) {
        switch (c) {
        case 'C': conf = optarg; break;
        case 'p': partition = optarg; break;
        case 'q': quiet = 1; break;
        case 's': stat_only = 1; break;
        default: usage();
        }
    }
    if (optind >= argc) usage();
    log_init("mbpath", 0);
    config_read_or_exit(conf, "mbpath");

    struct mboxlist *ml = NULL;
    int failed = 0;
    struct buf dir = BUF_INITIALIZER;
    for (int i = optind; i < argc; i++) {
        const char *name = argv[i];
        struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
        const char *part = partition;
        int r = 0;
        if (!part) {
            if (!ml) r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
            if (r) {
                ml = NULL;
            } else {
                r = mboxlist_lookup(ml, name, &e, NULL);
                if (!r && (e.type & MBOXLIST_TYPEMASK)) r = CYRERR_MAILBOX_NOTSUPPORTED;
                part = e.partition;
            }
        }
        if (!r) r = mailbox_dir_for(name, part, &dir);
        if (!r && stat_only && !exists_there(buf_cstring(&dir))) r = CYRERR_MAILBOX_NONEXISTENT;
        if (r) {
            if (!quiet) fprintf(stderr, "%s: %s\n", name, error_message(r));
            failed = 1;
        } else {
            printf("%s\n", buf_cstring(&dir));
        }
        mboxlist_entry_free(&e);
    }
    buf_free(&dir);
    if (ml) (void)mboxlist_close(ml);
    config_reset();
    return failed ? EX_TEMPFAIL : 0;
}
