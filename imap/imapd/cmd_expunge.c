/* cmd_expunge: EXPUNGE and UID EXPUNGE (RFC 3501 6.4.3, RFC 4315 2.1), and
 * the silent expunge of CLOSE (imapd_expunge_deleted).
 *
 * The store marks the records expunged (mailbox_expunge); the EXPUNGE
 * responses then come from the change reporting (imapd_report_changes),
 * which numbers them as RFC 3501 7.4.1 asks: in decreasing order of
 * sequence numbers, so that each number is valid when the client reads it.
 */
#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"

int imapd_expunge_deleted(struct imapd_session *s, const struct tok_seqset *uids_or_null,
                          int send_untagged)
{
    if (s->state != IMAPD_SELECTED || !s->sel.mb) return CYRERR_BADARGS;
    int r = 0;
    if (uids_or_null) {
        struct imapd_msglist ml = IMAPD_MSGLIST_INITIALIZER;
        r = imapd_msglist_resolve(s, uids_or_null, 1, &ml);
        if (!r && ml.count) {
            uint32_t *uids = xmalloc(ml.count * sizeof(*uids));
            for (size_t i = 0; i < ml.count; i++)
                uids[i] = mailbox_view_msg(s->sel.view, ml.seq[i])->uid;
            r = mailbox_expunge(s->sel.mb, uids, ml.count, 0, NULL, NULL, NULL);
            free(uids);
        }
        imapd_msglist_free(&ml);
    } else {
        r = mailbox_expunge(s->sel.mb, NULL, 0, 0, NULL, NULL, NULL);
    }
    if (r) return r;
    if (send_untagged) {
        unsigned f = IMAPD_REPORT_EXPUNGE;
        if (s->cmd && s->cmd->uid) f |= IMAPD_REPORT_UID;
        return imapd_report_changes(s, f);
    }
    /* CLOSE: the session leaves the mailbox; drop the messages unreported */
    return mailbox_view_update(s->sel.view, MAILBOX_VIEW_EXPUNGE, NULL);
}

int imapd_cmd_expunge(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct tok_seqset set = TOK_SEQSET_INITIALIZER;
    int c = cmd->c;
    if (cmd->uid) {
        if (c != ' ') return imapd_syntax(s, "Missing UID set");
        c = tok_seqset(&s->tp, 0, &set);
    }
    int r = imapd_eol(s, c);
    if (r < 0) {
        tok_seqset_free(&set);
        return r;
    }
    if (s->sel.readonly) {
        tok_seqset_free(&set);
        return imapd_no(s, NULL, "Mailbox is read-only");
    }
    r = imapd_check_selected_rights(s, ACL_EXPUNGE);
    if (!r) r = imapd_expunge_deleted(s, cmd->uid ? &set : NULL, 1);
    tok_seqset_free(&set);
    if (r == CYRERR_PARSE) return r;
    if (r) return imapd_no_error(s, r, 0);
    return imapd_ok(s, NULL, "Completed");
}
