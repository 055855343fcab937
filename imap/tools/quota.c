/* quota: report quota roots and their usage, and fix the usage (-f).
 *
 *   quota [-C imapd.conf] [-d domain] [-f] [-q] [-u] [prefix ...]
 *
 * Lists every quota root whose name starts with one of the prefixes (all
 * roots without any), one line per resource:
 *
 *      Quota   % Used     Used Resource Root
 *      10240       12     1234 STORAGE  user.alice
 *
 * Quota is the limit (KiB for STORAGE, messages for MESSAGE; blank when
 * unlimited), Used the usage in the same unit.  Prefixes are mailbox names
 * as an administrator writes them (hierarchy separator of the server,
 * "user.bob@example.org" for virtual domains); with -u they are userids and
 * stand for those users' INBOXes; -d limits everything to one domain.  -f
 * first recomputes usage from the mailboxes (quota_fix.h) and prints each
 * change; -q leaves out the report.
 *
 * Exit status: 0; 1 when a mailbox or root could not be handled; 64 usage;
 * 74 database error; 75 configuration error.
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
#include "imap/store/namespace.h"
#include "imap/store/quota.h"
#include "imap/store/quota_fix.h"

static struct namespace ns;

static void usage(void)
{
    fprintf(stderr, "usage: quota [-C imapd.conf] [-d domain] [-f] [-q] [-u] [prefix ...]\n");
    exit(EX_USAGE);
}

/* An internal name for display. */
static const char *external(const char *intname, struct buf *out)
{
    if (namespace_to_external(&ns, intname, NULL, out)) buf_setcstr(out, intname);
    return buf_cstring(out);
}

/* An argument as an internal name prefix. */
static char *internal_prefix(const char *arg, int users, const char *domain)
{
    struct buf out = BUF_INITIALIZER;
    char *r = NULL;
    if (users) {
        r = namespace_user_inbox(&ns, arg);
        if (!r) return NULL;
    } else if (!namespace_to_internal(&ns, arg, NULL, &out)) {
        r = buf_release(&out);
    } else {
        /* a partial name ("user.al"): only change the separator */
        for (const char *p = arg; *p; p++) {
            if (ns.hier_sep == '/' && *p == '/') buf_putc(&out, '.');
            else if (ns.hier_sep == '/' && *p == '.') buf_putc(&out, '^');
            else buf_putc(&out, *p);
        }
        r = buf_release(&out);
    }
    buf_free(&out);
    if (domain && !strchr(r, '!')) {
        char *d = strconcat(domain, "!", r, (char *)NULL);
        free(r);
        r = d;
    }
    return r;
}

/* ---- report ---------------------------------------------------------------- */

struct report_rock {
    const struct strarray *prefixes;
    struct buf name;
};

static int matches(const struct strarray *prefixes, const char *root)
{
    if (!prefixes->count) return 1;
    for (int i = 0; i < prefixes->count; i++)
        if (!strncmp(root, prefixes->data[i], strlen(prefixes->data[i]))) return 1;
    return 0;
}

static void report_line(const struct quota *q, int res, const char *extname)
{
    char limit[32] = "", pct[32] = "";
    long long used = q->used[res];
    if (res == QUOTA_STORAGE) used /= 1024;
    if (q->limit[res] >= 0) {
        snprintf(limit, sizeof(limit), "%lld", q->limit[res]);
        snprintf(pct, sizeof(pct), "%d", quota_resource_percent(q, (enum quota_resource)res));
    }
    printf("%8s %8s %8lld %-8s %s\n", limit, pct, used,
           quota_resource_name((enum quota_resource)res), extname);
}

static int report_one(const struct quota *q, void *rock)
{
    struct report_rock *rr = rock;
    if (!matches(rr->prefixes, q->root)) return 0;
    const char *ext = external(q->root, &rr->name);
    int any = 0;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        if (q->limit[i] < 0) continue;
        report_line(q, i, ext);
        any = 1;
    }
    if (!any) report_line(q, QUOTA_STORAGE, ext);
    return 0;
}

/* ---- fix ------------------------------------------------------------------- */

static void print_fix(void *rock, const struct quota_fix_event *ev)
{
    struct buf a = BUF_INITIALIZER, b = BUF_INITIALIZER;
    int *errors = rock;
    switch (ev->kind) {
    case QUOTA_FIX_ROOT: {
        /* every name as the report shows it (external) */
        struct buf c = BUF_INITIALIZER;
        printf("%s: quota root %s --> %s\n", external(ev->mailbox, &a),
               ev->oldroot ? external(ev->oldroot, &b) : "(none)",
               ev->root ? external(ev->root, &c) : "(none)");
        buf_free(&c);
        break;
    }
    case QUOTA_FIX_USAGE:
        printf("%s: %s usage was %lld, now %lld\n", external(ev->root, &a),
               quota_resource_name(ev->resource), ev->oldvalue, ev->newvalue);
        break;
    case QUOTA_FIX_ERROR:
        (*errors)++;
        if (ev->mailbox)
            fprintf(stderr, "quota: %s: %s\n", external(ev->mailbox, &a),
                    error_message(ev->error));
        else
            fprintf(stderr, "quota: root %s: %s\n",
                    ev->root ? external(ev->root, &b) : "(all)", error_message(ev->error));
        break;
    }
    buf_free(&a);
    buf_free(&b);
}

static int do_fix(const struct strarray *prefixes, int *errors)
{
    struct mboxlist *ml = NULL;
    int r = mboxlist_open_config(CYRUSDB_READONLY, &ml);
    if (r) {
        fprintf(stderr, "quota: cannot open %s: %s\n", MBOXLIST_FNAME, error_message(r));
        return EX_IOERR;
    }
    r = quota_fix(ml, prefixes, print_fix, errors);
    if (r && !*errors) {
        fprintf(stderr, "quota: fix failed: %s\n", error_message(r));
        (*errors)++;
    }
    if (fflush(stdout) == EOF) (*errors)++;
    (void)mboxlist_close(ml);
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *domain = NULL;
    int fix = 0, quiet = 0, users = 0, c;

    while ((c = getopt(argc, argv, "C:d:fqu")) != -1) {
        switch (c) {
        case 'C': conf = optarg; break;
        case 'd': domain = optarg; break;
        case 'f': fix = 1; break;
        case 'q': quiet = 1; break;
        case 'u': users = 1; break;
        default: usage();
        }
    }

    log_init("quota", 0);
    config_read_or_exit(conf, "quota");
    log_set_facility(config_getstring(IMAPOPT_SYSLOG_FACILITY));
    namespace_from_config(&ns, 1);

    struct strarray prefixes = STRARRAY_INITIALIZER;
    int status = 0, errors = 0;
    for (int i = optind; i < argc; i++) {
        char *p = internal_prefix(argv[i], users, domain);
        if (!p) {
            fprintf(stderr, "quota: %s: %s\n", argv[i], error_message(CYRERR_INVALID_USER));
            status = EX_USAGE;
            continue;
        }
        strarray_appendm(&prefixes, p);
    }
    if (domain && !prefixes.count) strarray_appendm(&prefixes, strconcat(domain, "!", (char *)NULL));
    if (status) goto out;

    int r = quota_open(NULL);
    if (r) {
        fprintf(stderr, "quota: cannot open the quota database: %s\n", error_message(r));
        status = EX_IOERR;
        goto out;
    }
    if (fix && (status = do_fix(&prefixes, &errors))) goto out;
    if (!quiet) {
        struct report_rock rr = { &prefixes, BUF_INITIALIZER };
        printf("%8s %8s %8s %-8s %s\n", "Quota", "% Used", "Used", "Resource", "Root");
        r = quota_foreach("", report_one, &rr);
        buf_free(&rr.name);
        if (r) {
            fprintf(stderr, "quota: cannot read the quota database: %s\n", error_message(r));
            status = EX_IOERR;
        }
    }
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "quota: write error on standard output\n");
        if (!status) status = EX_IOERR;
    }
    if (!status && errors) status = 1;
out:
    quota_close();
    cyrusdb_done();
    strarray_free(&prefixes);
    config_reset();
    return status;
}
