/* ctl_cyrusdb: maintenance of the Berkeley DB environment in
 * <configdirectory>/db.
 *
 *   ctl_cyrusdb [-C imapd.conf] -r    recover the environment (run from the
 *                                      START section of cyrus.conf, before any
 *                                      service uses a database), and remove
 *                                      temporary files that crashed commits of
 *                                      flat databases left in configdirectory
 *   ctl_cyrusdb [-C imapd.conf] -c    checkpoint the environment and remove
 *                                      log files no longer needed (from the
 *                                      EVENTS section, every few minutes)
 *
 * Exit status 0, EX_USAGE (64) or EX_TEMPFAIL (75).
 */
#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <ftw.h>
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

static unsigned long tidied;

/* Is `name` <something>.cdbtmp.XXXXXX, a flat commit's temporary file? */
static int is_stale_tmp(const char *name)
{
    const char *m = strstr(name, CYRUSDB_TMP_MARK);
    if (!m || m == name) return 0;
    const char *tail = m + strlen(CYRUSDB_TMP_MARK);
    return strlen(tail) == 6 && !strchr(tail, '/');
}

static int tidy_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag != FTW_F || !S_ISREG(st->st_mode)) return 0;
    if (!is_stale_tmp(path + ftw->base)) return 0;
    if (unlink(path) == 0) {
        tidied++;
        xsyslog(LOG_NOTICE, "ctl_cyrusdb removed stale file", "path=<%s>", path);
    } else {
        xsyslog(LOG_WARNING, "ctl_cyrusdb cannot remove stale file", "path=<%s>", path);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ctl_cyrusdb [-C imapd.conf] -r | -c\n"
            "  -r  recover the database environment (no other process may use it)\n"
            "  -c  checkpoint the database environment and remove old logs\n");
    exit(EX_USAGE);
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int op = 0, opt;
    while ((opt = getopt(argc, argv, "C:rc")) != -1) {
        switch (opt) {
        case 'C':
            conf = optarg;
            break;
        case 'r':
        case 'c':
            if (op && op != opt) usage();
            op = opt;
            break;
        default:
            usage();
        }
    }
    if (!op || optind != argc) usage();

    log_init("ctl_cyrusdb", 0); /* errors are also printed below */
    config_read_or_exit(conf, "ctl_cyrusdb");
    const char *cfgdir = config_dir();
    if (!cfgdir || !*cfgdir) {
        fprintf(stderr, "ctl_cyrusdb: configdirectory is not set\n");
        return EX_TEMPFAIL;
    }
    /* a mistyped configdirectory must not get a fresh, empty environment:
     * <configdirectory>/db may be created, configdirectory itself not */
    struct stat st;
    errno = 0;
    if (stat(cfgdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ctl_cyrusdb: configdirectory %s: %s\n", cfgdir,
                errno ? strerror(errno) : "not a directory");
        return EX_TEMPFAIL;
    }
    char *dbdir = strconcat(cfgdir, "/db", (char *)NULL);
    int r;
    if (op == 'r') {
        xsyslog(LOG_NOTICE, "ctl_cyrusdb recovering", "dir=<%s>", dbdir);
        r = cyrusdb_recover(dbdir);
        if (!r && nftw(cfgdir, tidy_one, 16, FTW_PHYS) < 0)
            xsyslog(LOG_WARNING, "ctl_cyrusdb cannot walk", "dir=<%s>", cfgdir);
        if (!r)
            xsyslog(LOG_NOTICE, "ctl_cyrusdb recovered", "dir=<%s> stale_files=<%lu>",
                    dbdir, tidied);
    } else {
        r = cyrusdb_init(dbdir);
        if (!r) r = cyrusdb_checkpoint();
        if (!r) xsyslog(LOG_INFO, "ctl_cyrusdb checkpointed", "dir=<%s>", dbdir);
    }
    cyrusdb_done();
    if (r) {
        fprintf(stderr, "ctl_cyrusdb: %s %s failed: %s\n",
                op == 'r' ? "recovery of" : "checkpoint of", dbdir, error_message(r));
        free(dbdir);
        return EX_TEMPFAIL;
    }
    free(dbdir);
    return 0;
}
