/* ctl_mboxlist: dump mailboxes.db as text, or load such a dump.
 *
 *   ctl_mboxlist [-C imapd.conf] -d [-x] [-p partition] [-f dbfile]
 *   ctl_mboxlist [-C imapd.conf] -u [-f dbfile]
 *
 * -d writes one line per entry to standard output, "<name> TAB <stored
 * value>" (mboxlist.h); -p keeps only the entries on that partition, -x
 * removes the dumped entries from the database after the dump was written.
 * -u reads such lines from standard input and stores them (an entry of the
 * same name is replaced, others are kept).  Every line is checked before
 * anything is stored; any bad line is reported as "<input>:<line>: ..." and
 * nothing is loaded.  The load is one transaction.  -f names the database
 * file (default <configdirectory>/mailboxes.db, backend mboxlist_db).
 *
 * Exit status: 0, 64 usage, 65 bad input, 74 database or I/O error, 75
 * configuration error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"

#define LINE_MAX_BYTES (1024 * 1024)   /* as mboxlist_undump() */
#define MAX_REPORTED 20                /* bad lines listed before giving up */
#define LOAD_ATTEMPTS 100              /* transaction retries on deadlock */

static void usage(void)
{
    fprintf(stderr, "usage: ctl_mboxlist [-C imapd.conf] -d [-x] [-p partition] [-f dbfile]\n"
                    "       ctl_mboxlist [-C imapd.conf] -u [-f dbfile]\n");
    exit(EX_USAGE);
}

static int open_db(const char *dbfile, int flags, struct mboxlist **mlp)
{
    int r;
    if (dbfile)
        r = mboxlist_open(cyrusdb_backend_for(IMAPOPT_MBOXLIST_DB), dbfile, flags, mlp);
    else
        r = mboxlist_open_config(flags, mlp);
    if (r)
        fprintf(stderr, "ctl_mboxlist: cannot open %s: %s\n",
                dbfile ? dbfile : MBOXLIST_FNAME, error_message(r));
    return r;
}

/* ---- dump ------------------------------------------------------------------ */

struct dump_rock {
    const char *partition;
    struct strarray *dumped;
    struct buf value;
    int failed;
};

static int dump_one(void *rock, const struct mboxlist_entry *e)
{
    struct dump_rock *d = rock;
    if (d->partition && (!e->partition || strcmp(e->partition, d->partition))) return 0;
    mboxlist_entry_format(e, &d->value);
    if (printf("%s\t%s\n", e->name, buf_cstring(&d->value)) < 0) return CYRERR_IO;
    strarray_append(d->dumped, e->name);
    return 0;
}

static int remove_all(struct mboxlist *ml, const struct strarray *names)
{
    int r = CYRERR_DEADLOCK;
    for (int attempt = 0; r == CYRERR_DEADLOCK && attempt < LOAD_ATTEMPTS; attempt++) {
        struct cyrusdb_txn *txn = NULL;
        r = mboxlist_begin(ml, &txn);
        if (r) continue;
        for (int i = 0; !r && i < names->count; i++) {
            r = mboxlist_remove(ml, names->data[i], txn);
            if (r == CYRERR_MAILBOX_NONEXISTENT) r = 0;   /* gone meanwhile */
        }
        if (r) mboxlist_abort(ml, txn);
        else r = mboxlist_commit(ml, txn);
    }
    return r;
}

static int do_dump(const char *dbfile, const char *partition, int remove)
{
    struct mboxlist *ml = NULL;
    if (open_db(dbfile, remove ? 0 : CYRUSDB_READONLY, &ml)) return EX_IOERR;
    int r;
    struct strarray dumped = STRARRAY_INITIALIZER;
    if (!partition && !remove) {
        r = mboxlist_dump(ml, NULL, stdout);   /* every record as stored */
    } else {
        struct dump_rock d = { partition, &dumped, BUF_INITIALIZER, 0 };
        r = mboxlist_foreach(ml, "", dump_one, &d, NULL);
        buf_free(&d.value);
        if (!r && (fflush(stdout) == EOF || ferror(stdout))) r = CYRERR_IO;
    }
    int status = 0;
    if (r) {
        fprintf(stderr, "ctl_mboxlist: dump failed: %s\n", error_message(r));
        status = EX_IOERR;
    } else if (remove && dumped.count) {
        r = remove_all(ml, &dumped);
        if (r) {
            fprintf(stderr, "ctl_mboxlist: removing the dumped entries failed: %s\n",
                    error_message(r));
            status = EX_IOERR;
        }
    }
    strarray_free(&dumped);
    if (mboxlist_close(ml) && !status) status = EX_IOERR;
    return status;
}

/* ---- undump ---------------------------------------------------------------- */

/* One line without its LF: 1, 0 at the end, CYRERR_TOOBIG or CYRERR_IO.  A
 * too long line is consumed to its end. */
static int read_line(FILE *in, struct buf *line)
{
    int c, toolong = 0;
    buf_reset(line);
    while ((c = getc(in)) != EOF) {
        if (c == '\n') return toolong ? CYRERR_TOOBIG : 1;
        if (line->len >= LINE_MAX_BYTES) toolong = 1;
        else buf_putc(line, (char)c);
    }
    if (ferror(in)) return CYRERR_IO;
    if (toolong) return CYRERR_TOOBIG;
    return line->len ? 1 : 0;
}

/* Parse one dump line into `e`; on error a short reason. */
static const char *parse_line(const struct buf *line, struct mboxlist_entry *e)
{
    if (memchr(line->s, '\0', line->len)) return "NUL byte in line";
    const char *s = buf_cstring(line);
    const char *tab = strchr(s, '\t');
    if (!tab) return "no TAB between name and value";
    if (tab == s) return "empty mailbox name";
    char *name = xstrndup(s, (size_t)(tab - s));
    const char *why = NULL;
    if (mboxname_valid(name)) why = "invalid mailbox name";
    else if (mboxlist_entry_parse(name, tab + 1, strlen(tab + 1), e))
        why = "invalid entry";
    free(name);
    return why;
}

struct loadlist {
    struct mboxlist_entry *e;
    size_t count, alloc;
};

static void loadlist_free(struct loadlist *l)
{
    for (size_t i = 0; i < l->count; i++) mboxlist_entry_free(&l->e[i]);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

/* Read and check every line.  Returns the number of bad lines (reported on
 * stderr), or -1 after a read error. */
static long read_all(FILE *in, const char *inname, struct loadlist *l)
{
    struct buf line = BUF_INITIALIZER;
    long lineno = 0, bad = 0;
    int r;
    while ((r = read_line(in, &line)) != 0) {
        lineno++;
        const char *why = NULL;
        struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
        if (r == CYRERR_IO) {
            fprintf(stderr, "%s:%ld: read error\n", inname, lineno);
            bad = -1;
            break;
        }
        if (r == CYRERR_TOOBIG) why = "line too long";
        else why = parse_line(&line, &e);
        if (why) {
            if (++bad <= MAX_REPORTED) fprintf(stderr, "%s:%ld: %s\n", inname, lineno, why);
            continue;
        }
        if (bad) {
            mboxlist_entry_free(&e);   /* keep checking, nothing will be loaded */
            continue;
        }
        if (l->count == l->alloc) {
            l->alloc = l->alloc ? l->alloc * 2 : 256;
            l->e = xreallocarray(l->e, l->alloc, sizeof(*l->e));
        }
        l->e[l->count++] = e;
    }
    if (bad > MAX_REPORTED)
        fprintf(stderr, "%s: %ld bad lines in all\n", inname, bad);
    buf_free(&line);
    return bad;
}

static int store_all(struct mboxlist *ml, const struct loadlist *l)
{
    int r = CYRERR_DEADLOCK;
    for (int attempt = 0; r == CYRERR_DEADLOCK && attempt < LOAD_ATTEMPTS; attempt++) {
        struct cyrusdb_txn *txn = NULL;
        r = mboxlist_begin(ml, &txn);
        if (r) continue;
        for (size_t i = 0; !r && i < l->count; i++) r = mboxlist_store(ml, &l->e[i], txn);
        if (r) mboxlist_abort(ml, txn);
        else r = mboxlist_commit(ml, txn);
    }
    return r;
}

static int do_undump(const char *dbfile)
{
    struct loadlist l = { NULL, 0, 0 };
    long bad = read_all(stdin, "stdin", &l);
    if (bad) {
        fprintf(stderr, "ctl_mboxlist: nothing loaded\n");
        loadlist_free(&l);
        return bad < 0 ? EX_IOERR : EX_DATAERR;
    }
    struct mboxlist *ml = NULL;
    if (open_db(dbfile, CYRUSDB_CREATE, &ml)) {
        loadlist_free(&l);
        return EX_IOERR;
    }
    int status = 0;
    int r = store_all(ml, &l);
    if (r) {
        fprintf(stderr, "ctl_mboxlist: load failed, nothing loaded: %s\n", error_message(r));
        status = EX_IOERR;
    }
    if (mboxlist_close(ml) && !status) status = EX_IOERR;
    loadlist_free(&l);
    return status;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *dbfile = NULL, *partition = NULL;
    int dump = 0, undump = 0, remove = 0, c;

    while ((c = getopt(argc, argv, "C:dup:xf:")) != -1) {
        switch (c) {
        case 'C': conf = optarg; break;
        case 'd': dump = 1; break;
        case 'u': undump = 1; break;
        case 'p': partition = optarg; break;
        case 'x': remove = 1; break;
        case 'f': dbfile = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || dump + undump != 1) usage();
    if (undump && (partition || remove)) usage();

    log_init("ctl_mboxlist", 0);
    config_read_or_exit(conf, "ctl_mboxlist");
    log_set_facility(config_getstring(IMAPOPT_SYSLOG_FACILITY));

    int status = dump ? do_dump(dbfile, partition, remove) : do_undump(dbfile);
    cyrusdb_done();
    config_reset();
    return status;
}
