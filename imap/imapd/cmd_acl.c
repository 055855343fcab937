/* cmd_acl: the ACL commands of RFC 4314 -- SETACL, DELETEACL, GETACL,
 * LISTRIGHTS and MYRIGHTS.
 *
 * SETACL, DELETEACL, GETACL and LISTRIGHTS need the a right on the
 * mailbox (admins hold every right); MYRIGHTS needs any right.  SETACL is
 * refused altogether when allowsetacl is off, and a non-admin may not
 * grant rights to "anyone" when anyoneuseracl is off.  A user without the
 * l right is told the mailbox does not exist.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "tok.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/imapd_mbox.h"
#include "imap/store/acl.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"

/* Read "mailbox" [SP astring [SP astring]] with exactly `nargs` more
 * astrings after the mailbox, then the end of line. */
static int read_args(struct imapd_session *s, int c, struct buf *mbox, struct buf *a1,
                     struct buf *a2, int nargs)
{
    if (c != ' ') return imapd_syntax(s, "Missing mailbox name");
    c = tok_astring(&s->tp, mbox);
    if (nargs >= 1) {
        if (c == ' ') c = tok_astring(&s->tp, a1);
        else if (c >= 0) c = imapd_syntax(s, "Missing identifier");
    }
    if (nargs >= 2) {
        if (c == ' ') c = tok_astring(&s->tp, a2);
        else if (c >= 0) c = imapd_syntax(s, "Missing rights");
    }
    return imapd_eol(s, c);
}

static int change_acl(struct imapd_session *s, struct imapd_cmdctx *cmd, int del)
{
    struct buf mbox = BUF_INITIALIZER, id = BUF_INITIALIZER, rights = BUF_INITIALIZER;
    struct buf name = BUF_INITIALIZER;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = read_args(s, cmd->c, &mbox, &id, &rights, del ? 1 : 2);
    if (r < 0) goto out;

    const char *ident = buf_cstring(&id);
    const char *bare = ident[0] == '-' ? ident + 1 : ident;
    if (!del) {
        unsigned bits;
        enum acl_mode mode;
        if (acl_rights_parse(buf_cstring(&rights), &bits, &mode)) {
            r = imapd_bad(s, NULL, "Invalid rights string");
            goto out;
        }
    }
    if (!acl_valid_identifier(ident)) {
        r = imapd_bad(s, NULL, "Invalid identifier");
        goto out;
    }
    if (!del && !config_getswitch(IMAPOPT_ALLOWSETACL)) {
        r = imapd_no(s, "NOPERM", "SETACL is disabled");
        goto out;
    }
    if (!del && !s->isadmin && !strcmp(bare, "anyone") &&
        !config_getswitch(IMAPOPT_ANYONEUSERACL)) {
        r = imapd_no(s, "NOPERM", "Permission denied");
        goto out;
    }
    r = imapd_lookup(s, buf_cstring(&mbox), ACL_ADMIN, &name, &e, NULL);
    if (!r) r = imapd_mbox_murder_check(s);
    if (!r) r = mboxlist_setacl(s->mbl, e.name, ident, del ? "" : buf_cstring(&rights));
    if (del && r == CYRERR_NOTFOUND) r = 0;   /* nothing to remove */
    if (r == CYRERR_BADARGS) {
        r = imapd_bad(s, NULL, "Invalid rights or identifier");
        goto out;
    }
    if (!r)
        xsyslog(LOG_NOTICE, "acl changed", "mailbox=<%s> identifier=<%s> rights=<%s> user=<%s>",
                e.name, ident, del ? "" : buf_cstring(&rights), s->userid);
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    mboxlist_entry_free(&e);
    buf_free(&mbox);
    buf_free(&id);
    buf_free(&rights);
    buf_free(&name);
    return r;
}

int imapd_cmd_setacl(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return change_acl(s, cmd, 0);
}

int imapd_cmd_deleteacl(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return change_acl(s, cmd, 1);
}

int imapd_cmd_getacl(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mbox = BUF_INITIALIZER, name = BUF_INITIALIZER;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    struct acl acl = ACL_INITIALIZER;
    int r = read_args(s, cmd->c, &mbox, NULL, NULL, 0);
    if (r < 0) goto out;
    r = imapd_lookup(s, buf_cstring(&mbox), ACL_ADMIN, &name, &e, NULL);
    if (!r) r = acl_parse(e.acl ? e.acl : "", &acl);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    prot_puts(s->prot, "* ACL ");
    imapd_put_astring(s, buf_cstring(&mbox));
    for (int i = 0; i < acl.count; i++) {
        char letters[ACL_RIGHTS_STRMAX];
        acl_rights_format(acl.entries[i].rights, letters);
        prot_puts(s->prot, " ");
        imapd_put_astring(s, acl.entries[i].id);
        prot_puts(s->prot, " ");
        imapd_put_astring(s, letters);
    }
    prot_puts(s->prot, "\r\n");
    r = imapd_ok(s, NULL, "Completed");
out:
    acl_free(&acl);
    mboxlist_entry_free(&e);
    buf_free(&mbox);
    buf_free(&name);
    return r;
}

int imapd_cmd_listrights(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mbox = BUF_INITIALIZER, id = BUF_INITIALIZER, name = BUF_INITIALIZER;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    struct strarray groups = STRARRAY_INITIALIZER;
    int r = read_args(s, cmd->c, &mbox, &id, NULL, 1);
    if (r < 0) goto out;
    r = imapd_lookup(s, buf_cstring(&mbox), ACL_ADMIN, &name, &e, NULL);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    const char *ident = buf_cstring(&id);
    int isowner = ident[0] != '-' && namespace_user_owns(&s->ns, ident, e.name);
    acl_listrights(isowner, s->owner_rights, &groups);
    prot_puts(s->prot, "* LISTRIGHTS ");
    imapd_put_astring(s, buf_cstring(&mbox));
    prot_puts(s->prot, " ");
    imapd_put_astring(s, ident);
    for (int i = 0; i < groups.count; i++) {
        prot_puts(s->prot, " ");
        if (i == 0 && !*groups.data[i]) prot_puts(s->prot, "\"\"");
        else imapd_put_astring(s, groups.data[i]);
    }
    prot_puts(s->prot, "\r\n");
    r = imapd_ok(s, NULL, "Completed");
out:
    strarray_free(&groups);
    mboxlist_entry_free(&e);
    buf_free(&mbox);
    buf_free(&id);
    buf_free(&name);
    return r;
}

int imapd_cmd_myrights(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mbox = BUF_INITIALIZER, name = BUF_INITIALIZER;
    unsigned rights = 0;
    int r = read_args(s, cmd->c, &mbox, NULL, NULL, 0);
    if (r < 0) goto out;
    r = imapd_lookup(s, buf_cstring(&mbox), 0, &name, NULL, &rights);
    if (!r && !rights) r = CYRERR_MAILBOX_NONEXISTENT;
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    char letters[ACL_RIGHTS_STRMAX];
    acl_rights_format(rights, letters);
    prot_puts(s->prot, "* MYRIGHTS ");
    imapd_put_astring(s, buf_cstring(&mbox));
    prot_puts(s->prot, " ");
    imapd_put_astring(s, letters);
    prot_puts(s->prot, "\r\n");
    r = imapd_ok(s, NULL, "Completed");
out:
    buf_free(&mbox);
    buf_free(&name);
    return r;
}
