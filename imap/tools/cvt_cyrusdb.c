/* cvt_cyrusdb: copy every record of a database into a new database, usually
 * of another backend:
 *
 *   cvt_cyrusdb [-C imapd.conf] [-f] [-M] <old db> <old backend> <new db> <new backend>
 *
 * The old database is opened read-only.  The new one must not exist unless
 * -f is given (then it is removed first).  Records are copied in key order,
 * in transactions of CVT_BATCH records; when anything fails the partial new
 * database is removed and the exit status is EX_TEMPFAIL (75).  -M (implied
 * when a file is named mailboxes.db, quotas.db or *.sub) opens both with the
 * mailbox sort order.
 * Berkeley databases use the environment in <configdirectory>/db.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"

#define CVT_BATCH 1000

struct copy {
    struct cyrusdb *to;
    struct cyrusdb_txn *txn;
    unsigned long count;
    int err;
};

static int copy_cb(void *rock, const char *key, size_t keylen, const char *data,
                   size_t datalen)
{
    struct copy *c = rock;
    if (!c->txn) {
        c->err = cyrusdb_begin(c->to, &c->txn);
        if (c->err) return c->err;
    }
    c->err =
        cyrusdb_store(c->to, key, keylen, data, datalen, CYRUSDB_NOOVERWRITE, c->txn);
    if (c->err) return c->err;
    if (++c->count % CVT_BATCH == 0) {
        struct cyrusdb_txn *t = c->txn;
        c->txn = NULL;
        c->err = cyrusdb_commit(c->to, t);
    }
    return c->err;
}

static void usage(void)
{
    fprintf(stderr, "usage: cvt_cyrusdb [-C imapd.conf] [-f] [-M] "
                    "<old db> <old backend> <new db> <new backend>\n"
                    "backends: berkeley, flat\n");
    exit(EX_USAGE);
}

/* Is `path` a database that the store opens in mailbox order: mailboxes.db,
 * quotas.db (quota.c) or a subscription file <user>.sub (subs.c)? */
static int is_mboxsort_db(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t len = strlen(base);
    return !strcmp(base, "mailboxes.db") || !strcmp(base, "quotas.db") ||
           (len > 4 && !strcmp(base + len - 4, ".sub"));
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int force = 0, mboxsort = 0, opt;
    while ((opt = getopt(argc, argv, "C:fM")) != -1) {
        switch (opt) {
        case 'C':
            conf = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'M':
            mboxsort = 1;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 4) usage();
    const char *oldpath = argv[optind], *oldbe = argv[optind + 1];
    const char *newpath = argv[optind + 2], *newbe = argv[optind + 3];

    log_init("cvt_cyrusdb", 0);
    config_read_or_exit(conf, "cvt_cyrusdb"); /* prints its errors itself */
    log_init("cvt_cyrusdb", LOG_STDERR);

    if (!cyrusdb_backend_known(oldbe) || !cyrusdb_backend_known(newbe)) {
        fprintf(stderr, "cvt_cyrusdb: unknown backend %s\n",
                cyrusdb_backend_known(oldbe) ? newbe : oldbe);
        usage();
    }
    struct stat ost, nst;
    if (stat(oldpath, &ost) < 0) {
        fprintf(stderr, "cvt_cyrusdb: %s: %s\n", oldpath, strerror(errno));
        return EX_NOINPUT;
    }
    if (stat(newpath, &nst) == 0) {
        if (nst.st_dev == ost.st_dev && nst.st_ino == ost.st_ino) {
            fprintf(stderr, "cvt_cyrusdb: %s and %s are the same file\n", oldpath,
                    newpath);
            return EX_USAGE;
        }
        if (!force) {
            fprintf(stderr, "cvt_cyrusdb: %s exists (use -f to replace it)\n", newpath);
            return EX_CANTCREAT;
        }
        int r = 0;
        if (!strncmp(newbe, "berkeley", 8) && !cyrusdb_dbdir()) {
            /* cyrusdb_remove() does not open the environment by itself */
            char *dbdir = strconcat(config_dir(), "/db", (char *)NULL);
            r = cyrusdb_init(dbdir);
            free(dbdir);
        }
        if (!r) r = cyrusdb_remove(newbe, newpath);
        if (r && r != CYRERR_NOTFOUND) {
            fprintf(stderr, "cvt_cyrusdb: cannot remove %s: %s\n", newpath,
                    error_message(r));
            return EX_CANTCREAT;
        }
    }
    if (is_mboxsort_db(oldpath) || is_mboxsort_db(newpath)) mboxsort = 1;
    int flags = mboxsort ? CYRUSDB_MBOXSORT : 0;

    struct cyrusdb *from = NULL;
    int r = cyrusdb_open(oldbe, oldpath, flags | CYRUSDB_READONLY, &from);
    if (r) {
        fprintf(stderr, "cvt_cyrusdb: cannot open %s (%s): %s\n", oldpath, oldbe,
                error_message(r));
        return r == CYRERR_NOTFOUND ? EX_NOINPUT : EX_TEMPFAIL;
    }
    struct copy c = {NULL, NULL, 0, 0};
    r = cyrusdb_open(newbe, newpath, flags | CYRUSDB_CREATE, &c.to);
    if (r) {
        fprintf(stderr, "cvt_cyrusdb: cannot create %s (%s): %s\n", newpath, newbe,
                error_message(r));
        cyrusdb_close(from);
        return EX_CANTCREAT;
    }
    r = cyrusdb_foreach(from, "", 0, copy_cb, &c, NULL);
    if (!r && c.err) r = c.err;
    if (c.txn) {
        if (r)
            cyrusdb_abort(c.to, c.txn);
        else
            r = cyrusdb_commit(c.to, c.txn);
    }
    int cr = cyrusdb_close(c.to);
    if (!r) r = cr;
    cyrusdb_close(from);
    if (r) {
        fprintf(stderr, "cvt_cyrusdb: converting %s to %s failed: %s\n", oldpath, newpath,
                error_message(r));
        cyrusdb_remove(newbe, newpath);
        cyrusdb_done();
        return EX_TEMPFAIL;
    }
    xsyslog(LOG_NOTICE, "cvt_cyrusdb converted",
            "from=<%s> from_backend=<%s> to=<%s> "
            "to_backend=<%s> records=<%lu>",
            oldpath, oldbe, newpath, newbe, c.count);
    cyrusdb_done();
    return 0;
}
