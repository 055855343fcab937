/* cmd_quota: the QUOTA commands of RFC 2087 (GETQUOTA, GETQUOTAROOT,
 * SETQUOTA) with the STORAGE (KiB) and MESSAGE resources.
 *
 * Quota roots are mailbox names, spoken in the client's namespace (an
 * admin's names are the internal ones).  GETQUOTA is for admins and for
 * roots inside the user's own tree; GETQUOTAROOT needs the r right on the
 * mailbox; SETQUOTA is for admins only.  SETQUOTA with an empty list
 * removes the root.  After a root is created or removed, the mailboxes
 * below it are pointed at their new root and its usage is recounted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "strarray.h"
#include "tok.h"
#include "imap/imapd/imapd.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "imap/store/namespace.h"
#include "imap/store/quota.h"
#include "imap/store/quota_fix.h"

/* " (STORAGE u l MESSAGE u l)" of a root: only resources with a limit. */
static void put_quota(struct imapd_session *s, const char *extroot, const struct quota *q)
{
    prot_puts(s->prot, "* QUOTA ");
    imapd_put_astring(s, extroot);
    prot_puts(s->prot, " (");
    int first = 1;
    for (int res = 0; res < QUOTA_NUMRESOURCES; res++) {
        if (q->limit[res] == QUOTA_UNLIMITED) continue;
        long long used = q->used[res];
        if (res == QUOTA_STORAGE) used /= 1024;   /* KiB, rounded down as Cyrus */
        prot_printf(s->prot, "%s%s %lld %lld", first ? "" : " ",
                    quota_resource_name((enum quota_resource)res), used, q->limit[res]);
        first = 0;
    }
    prot_puts(s->prot, ")\r\n");
}

/* The internal root of a root name as the client wrote it. */
static int root_intname(struct imapd_session *s, const char *ext, struct buf *out)
{
    int r = imapd_intname(s, ext, out);
    if (r) {
        /* a domain root "example.org!" or an already internal name */
        if (!quota_root_valid(ext)) return CYRERR_BADNAME;
        buf_setcstr(out, ext);
    }
    return 0;
}

int imapd_cmd_getquota(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, root = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing quota root");
    int c = tok_astring(&s->tp, &ext);
    int r = imapd_eol(s, c);
    if (r < 0) goto out;
    r = root_intname(s, buf_cstring(&ext), &root);
    if (!r && !s->isadmin &&
        !(s->userid && namespace_user_owns(&s->ns, s->userid, buf_cstring(&root))))
        r = CYRERR_PERMISSION;
    struct quota q;
    quota_init(&q, buf_cstring(&root));
    if (!r) r = quota_read(buf_cstring(&root), &q);
    if (r) {
        r = imapd_no_error(s, r, 0);
    } else {
        put_quota(s, buf_cstring(&ext), &q);
        r = imapd_ok(s, NULL, "Completed");
    }
    quota_free(&q);
out:
    buf_free(&ext);
    buf_free(&root);
    return r;
}

int imapd_cmd_getquotaroot(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, name = BUF_INITIALIZER, extroot = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &ext);
    int r = imapd_eol(s, c);
    if (r < 0) goto out;
    r = imapd_lookup(s, buf_cstring(&ext), ACL_READ, &name, NULL, NULL);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    char *root = quota_findroot(buf_cstring(&name));
    struct quota q;
    quota_init(&q, root ? root : "");
    int have = root && !quota_read(root, &q);
    prot_puts(s->prot, "* QUOTAROOT ");
    imapd_put_astring(s, buf_cstring(&ext));
    if (have) {
        if (imapd_extname(s, root, &extroot)) buf_setcstr(&extroot, root);
        prot_puts(s->prot, " ");
        imapd_put_astring(s, buf_cstring(&extroot));
    }
    prot_puts(s->prot, "\r\n");
    if (have) put_quota(s, buf_cstring(&extroot), &q);
    quota_free(&q);
    free(root);
    r = imapd_ok(s, NULL, "Completed");
out:
    buf_free(&ext);
    buf_free(&name);
    buf_free(&extroot);
    return r;
}

static void fix_log(void *rock, const struct quota_fix_event *ev)
{
    (void)rock;
    if (ev->kind == QUOTA_FIX_ERROR)
        xsyslog(LOG_ERR, "quota fix failed", "mailbox=<%s> root=<%s> error=<%s>",
                ev->mailbox ? ev->mailbox : "", ev->root ? ev->root : "",
                error_message(ev->error));
}

int imapd_cmd_setquota(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, root = BUF_INITIALIZER;
    struct tok_node *list = NULL;
    long long limits[QUOTA_NUMRESOURCES];
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) limits[i] = QUOTA_UNLIMITED;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing quota root");
    int c = tok_astring(&s->tp, &ext);
    if (c == ' ') c = tok_list(&s->tp, &list);
    else if (c >= 0) c = imapd_syntax(s, "Missing resource limits");
    int r = imapd_eol(s, c);
    if (r < 0) goto out;
    if (list->count % 2) {
        r = imapd_syntax(s, "Resource limits must come in pairs");
        goto out;
    }
    for (size_t i = 0; i < list->count; i += 2) {
        const char *res = tok_node_str(list->items[i]);
        uint64_t v;
        if (list->items[i]->kind != TOK_NODE_ATOM || !res ||
            tok_node_number(list->items[i + 1], &v) || v > (uint64_t)INT64_MAX / 2) {
            r = imapd_syntax(s, "Invalid resource limit");
            goto out;
        }
        int k = quota_resource_from_name(res);
        if (k < 0) {
            r = imapd_no(s, "CANNOT", "Unsupported quota resource %s", res);
            goto out;
        }
        limits[k] = (long long)v;
    }
    if (!s->isadmin) {
        r = imapd_no_error(s, CYRERR_PERMISSION, 0);
        goto out;
    }
    r = root_intname(s, buf_cstring(&ext), &root);
    /* a root is an existing mailbox, or a whole domain ("example.org!") */
    int domain_root = buf_len(&root) && buf_cstring(&root)[buf_len(&root) - 1] == '!';
    if (!r && !domain_root && mboxlist_lookup_usable(s->mbl, buf_cstring(&root), NULL))
        r = CYRERR_MAILBOX_NONEXISTENT;
    if (!r) {
        if (list->count) {
            r = quota_setlimits(buf_cstring(&root), limits);
        } else {
            r = quota_delete(buf_cstring(&root));
            if (r == CYRERR_QUOTAROOT_NONEXISTENT || r == CYRERR_NOTFOUND) r = 0;
        }
    }
    if (!r) {
        struct strarray prefixes = STRARRAY_INITIALIZER;
        strarray_append(&prefixes, buf_cstring(&root));
        r = quota_fix(s->mbl, &prefixes, fix_log, NULL);
        strarray_free(&prefixes);
        xsyslog(LOG_NOTICE, "quota set", "root=<%s> storage=<%lld> message=<%lld> user=<%s>",
                buf_cstring(&root), limits[QUOTA_STORAGE], limits[QUOTA_MESSAGE], s->userid);
    }
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    tok_node_free(&list);
    buf_free(&ext);
    buf_free(&root);
    return r;
}
