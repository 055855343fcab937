/* cmd_admin: administrative IMAP beyond the RFCs, as Cyrus offers it:
 * RECONSTRUCT mailbox [RECURSIVE] (admins only) rebuilds the index and
 * cache of a mailbox (and, with RECURSIVE, of every mailbox below it) from
 * its message files, as the reconstruct tool does.  Each fix is logged.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "strarray.h"
#include "tok.h"
#include "imap/imapd/imapd.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"

static void log_fix(void *rock, const char *fix)
{
    xsyslog(LOG_NOTICE, "reconstruct fix", "mailbox=<%s> fix=<%s>", (const char *)rock, fix);
}

static int collect(void *rock, const struct mboxlist_entry *e)
{
    if (!(e->type & MBOXLIST_TYPEMASK)) strarray_append(rock, e->name);
    return 0;
}

static int reconstruct_one(struct imapd_session *s, const char *name, unsigned *fixes)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    struct buf dir = BUF_INITIALIZER;
    int r = mboxlist_lookup_usable(s->mbl, name, &e);
    if (!r) r = mailbox_dir_for(e.name, e.partition, &dir);
    if (!r) {
        unsigned n = 0;
        /* the session must not hold the mailbox while it is rebuilt */
        if (s->state == IMAPD_SELECTED && s->sel.name && !strcmp(s->sel.name, name))
            imapd_unselect(s);
        r = mailbox_reconstruct_entry(buf_cstring(&dir), e.name, e.uniqueid, 0, log_fix,
                                      (void *)e.name, &n);
        *fixes += n;
    }
    buf_free(&dir);
    mboxlist_entry_free(&e);
    return r;
}

int imapd_cmd_reconstruct(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, name = BUF_INITIALIZER, opt = BUF_INITIALIZER;
    int recursive = 0;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &ext);
    if (c == ' ') {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &opt);
        if (c >= 0 && strcasecmp(buf_cstring(&opt), "RECURSIVE"))
            c = imapd_syntax(s, "Unknown RECONSTRUCT option");
        recursive = 1;
    }
    int r = imapd_eol(s, c);
    if (r < 0) goto out;
    if (!s->isadmin) {
        r = imapd_no_error(s, CYRERR_PERMISSION, 0);
        goto out;
    }
    r = imapd_lookup(s, buf_cstring(&ext), 0, &name, NULL, NULL);
    struct strarray names = STRARRAY_INITIALIZER;
    if (!r) {
        if (recursive) r = mboxlist_foreach_subtree(s->mbl, buf_cstring(&name), collect,
                                                    &names, NULL);
        else strarray_append(&names, buf_cstring(&name));
    }
    unsigned fixes = 0;
    for (int i = 0; !r && i < names.count; i++) r = reconstruct_one(s, names.data[i], &fixes);
    strarray_free(&names);
    if (!r)
        xsyslog(LOG_NOTICE, "reconstruct", "mailbox=<%s> recursive=<%d> fixes=<%u> user=<%s>",
                buf_cstring(&name), recursive, fixes, s->userid);
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    buf_free(&ext);
    buf_free(&name);
    buf_free(&opt);
    return r;
}
