/* cmd_copy: COPY, UID COPY (RFC 3501 6.4.7), MOVE and UID MOVE (RFC 6851),
 * with UIDPLUS's COPYUID (RFC 4315).
 *
 * The messages keep their INTERNALDATE and flags (those the user may set
 * in the target: "w" for keywords and \Answered/\Flagged/\Draft, "t" for
 * \Deleted, "s" for \Seen) and are \Recent in the target as new messages
 * are.  The target gets the source's cache record and GUID (no reparse)
 * and, when it lives on the same partition, a hard link to the message
 * file (MAILBOX_APPEND_LINK), so a COPY costs one index append.  All
 * messages go in as one append (atomic) up to COPY_BATCH messages; larger
 * sets are copied in several appends.  Quota is the store's to check
 * (NO [OVERQUOTA]); a missing target is NO [TRYCREATE].
 *
 * MOVE is the copy followed by the expunge of the source messages (with
 * or without \Deleted); the COPYUID goes into an untagged OK before the
 * EXPUNGE responses, as RFC 6851 4.3 asks.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "strarray.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/seqset.h"

#define COPY_BATCH 10000

struct copy_msg {
    struct mailbox_record rec;
    uint32_t seen;               /* \Seen as this user sees it */
    size_t coff, clen;           /* cache record in copy_set.cache */
    size_t kwoff, nkw;           /* keyword pointers in copy_set.kwptr */
    int path;                    /* index in copy_set.paths */
};

struct copy_set {
    struct copy_msg *msgs;
    size_t n;
    struct buf cache;
    struct strarray kwnames;     /* the source's keyword names */
    const char **kwptr;
    size_t nkwptr, akwptr;
    struct strarray paths;
};

static void copy_set_free(struct copy_set *cs)
{
    free(cs->msgs);
    buf_free(&cs->cache);
    strarray_free(&cs->kwnames);
    free(cs->kwptr);
    strarray_free(&cs->paths);
    memset(cs, 0, sizeof(*cs));
}

/* Read what the copy needs of messages ml[first .. first+n) of the source. */
static int load_source(struct imapd_session *s, const struct imapd_msglist *ml,
                       size_t first, size_t n, struct copy_set *cs)
{
    struct mailbox *mb = s->sel.mb;
    struct buf tmp = BUF_INITIALIZER, path = BUF_INITIALIZER;
    cs->msgs = xzmalloc((n ? n : 1) * sizeof(*cs->msgs));
    int r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) return r;
    for (uint32_t b = 0; b < mailbox_num_keywords(mb); b++) {
        const char *kw = mailbox_keyword_name(mb, b);
        strarray_append(&cs->kwnames, kw ? kw : "");
    }
    for (size_t i = 0; i < n && !r; i++) {
        const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, ml->seq[first + i]);
        struct copy_msg *cm = &cs->msgs[cs->n];
        r = msgutil_record(mb, m, &cm->rec);
        if (r == CYRERR_NOTFOUND) {
            r = 0;   /* gone (expunged and cleaned up): nothing to copy */
            continue;
        }
        if (!r) r = mailbox_read_cache(mb, &cm->rec, &tmp);
        if (r) break;
        cm->seen = imapd_msg_flags(s, m) & MAILBOX_FLAG_SEEN;
        cm->coff = buf_len(&cs->cache);
        cm->clen = buf_len(&tmp);
        buf_appendbuf(&cs->cache, &tmp);
        cm->kwoff = cs->nkwptr;
        for (int b = 0; b < cs->kwnames.count; b++) {
            if (!(cm->rec.user_flags[b / 32] & (1u << (b % 32)))) continue;
            if (!*cs->kwnames.data[b]) continue;
            if (cs->nkwptr == cs->akwptr) {
                cs->akwptr = cs->akwptr ? cs->akwptr * 2 : 64;
                cs->kwptr = xreallocarray(cs->kwptr, cs->akwptr, sizeof(*cs->kwptr));
            }
            cs->kwptr[cs->nkwptr++] = cs->kwnames.data[b];
            cm->nkw++;
        }
        mailbox_message_path(mb, cm->rec.uid, &path);
        cm->path = strarray_append(&cs->paths, buf_cstring(&path));
        cs->n++;
    }
    mailbox_unlock(mb);
    buf_free(&tmp);
    buf_free(&path);
    return r;
}

/* Copy one batch into `target`; the source and target UIDs are added. */
static int copy_batch(struct imapd_session *s, struct mailbox *target, const char *intname,
                      unsigned trights, const struct copy_set *cs,
                      struct mailbox_append_result *res)
{
    int seen_index = msgutil_seen_in_index(s, target, intname);
    uint32_t keep = 0;
    if (trights & ACL_WRITE)
        keep |= MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DRAFT;
    if (trights & ACL_DELETEMSG) keep |= MAILBOX_FLAG_DELETED;
    struct mailbox_append_msg *am = xzmalloc((cs->n ? cs->n : 1) * sizeof(*am));
    for (size_t i = 0; i < cs->n; i++) {
        const struct copy_msg *cm = &cs->msgs[i];
        am[i].source = MAILBOX_SRC_PATH;
        am[i].path = cs->paths.data[cm->path];
        am[i].internaldate = (time_t)cm->rec.internaldate;
        am[i].system_flags = cm->rec.system_flags & keep;
        if (cm->seen && seen_index && (trights & ACL_SETSEEN))
            am[i].system_flags |= MAILBOX_FLAG_SEEN;
        if (trights & ACL_WRITE) {
            am[i].keywords = cs->kwptr + cm->kwoff;
            am[i].nkeywords = cm->nkw;
        }
        am[i].cache = buf_base(&cs->cache) + cm->coff;
        am[i].cache_len = cm->clen;
        am[i].guid = cm->rec.guid;
    }
    int r = mailbox_append(target, am, cs->n, MAILBOX_APPEND_LINK, res);
    free(am);
    if (r) return r;
    if (!seen_index && (trights & ACL_SETSEEN)) {
        struct seqset seen = SEQSET_INITIALIZER;
        for (size_t i = 0; i < cs->n; i++)
            if (cs->msgs[i].seen) seqset_add(&seen, res->first_uid + (uint32_t)i);
        r = msgutil_seen_add(s, target, intname, &seen);
        seqset_free(&seen);
    }
    return r;
}

static int copy_or_move(struct imapd_session *s, struct imapd_cmdctx *cmd, int move)
{
    struct tok_seqset set = TOK_SEQSET_INITIALIZER;
    struct buf extname = BUF_INITIALIZER, intname = BUF_INITIALIZER;
    struct mboxlist_entry entry = MBOXLIST_ENTRY_INITIALIZER;
    struct imapd_msglist ml = IMAPD_MSGLIST_INITIALIZER;
    struct mailbox *target = NULL;
    uint32_t *srcuids = NULL, *dstuids = NULL;
    size_t ncopied = 0;
    uint32_t uidvalidity = 0;
    int r, c;

    if (cmd->c != ' ') {
        r = imapd_syntax(s, "Missing sequence set");
        goto done;
    }
    c = tok_seqset(&s->tp, 0, &set);
    if (c == ' ') c = tok_astring(&s->tp, &extname);
    else if (c >= 0) c = imapd_syntax(s, "Missing mailbox name");
    r = imapd_eol(s, c);
    if (r < 0) goto done;
    r = imapd_msglist_resolve(s, &set, cmd->uid, &ml);
    if (r < 0) goto done;

    unsigned need = ACL_READ;
    if (move) {
        if (s->sel.readonly) {
            r = imapd_no(s, NULL, "Mailbox is read-only");
            goto done;
        }
        need |= ACL_DELETEMSG | ACL_EXPUNGE;
    }
    r = imapd_check_selected_rights(s, need);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto done;
    }
    unsigned trights = 0;
    r = imapd_lookup(s, buf_cstring(&extname), ACL_INSERT, &intname, &entry, &trights);
    if (!r) r = imapd_mailbox_get(s, &entry, &target);
    if (r) {
        r = imapd_no_error(s, r, IMAPD_ERR_TRYCREATE);
        goto done;
    }

    srcuids = xmalloc((ml.count ? ml.count : 1) * sizeof(*srcuids));
    dstuids = xmalloc((ml.count ? ml.count : 1) * sizeof(*dstuids));
    for (size_t first = 0; first < ml.count && !r; first += COPY_BATCH) {
        size_t n = ml.count - first < COPY_BATCH ? ml.count - first : COPY_BATCH;
        struct copy_set cs;
        memset(&cs, 0, sizeof(cs));
        r = load_source(s, &ml, first, n, &cs);
        if (!r && cs.n) {
            struct mailbox_append_result res;
            r = copy_batch(s, target, buf_cstring(&intname), trights, &cs, &res);
            if (!r) {
                uidvalidity = res.uidvalidity;
                for (size_t i = 0; i < cs.n; i++) {
                    srcuids[ncopied] = cs.msgs[i].rec.uid;
                    dstuids[ncopied++] = res.first_uid + (uint32_t)i;
                }
            }
        }
        copy_set_free(&cs);
    }
    imapd_mailbox_put(s, &target);
    if (r) {
        r = imapd_no_error(s, r, IMAPD_ERR_TRYCREATE);
        goto done;
    }

    struct buf code = BUF_INITIALIZER;
    if (ncopied) {
        buf_printf(&code, "COPYUID %u ", uidvalidity);
        msgutil_format_uids(srcuids, ncopied, &code);
        buf_putc(&code, ' ');
        msgutil_format_uids(dstuids, ncopied, &code);
    }
    if (!move) {
        r = imapd_ok(s, ncopied ? buf_cstring(&code) : NULL, "Completed");
        buf_free(&code);
        goto done;
    }
    if (ncopied) imapd_untagged(s, "OK [%s] Moved", buf_cstring(&code));
    buf_free(&code);
    r = mailbox_expunge(s->sel.mb, srcuids, ncopied, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL);
    if (!r) {
        unsigned f = IMAPD_REPORT_EXPUNGE | (cmd->uid ? IMAPD_REPORT_UID : 0);
        r = imapd_report_changes(s, f);
    }
    if (r) r = imapd_no_error(s, r, 0);
    else r = imapd_ok(s, NULL, "Completed");
done:
    if (target) imapd_mailbox_put(s, &target);
    free(srcuids);
    free(dstuids);
    imapd_msglist_free(&ml);
    mboxlist_entry_free(&entry);
    tok_seqset_free(&set);
    buf_free(&extname);
    buf_free(&intname);
    return r;
}

int imapd_cmd_copy(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return copy_or_move(s, cmd, 0);
}

int imapd_cmd_move(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return copy_or_move(s, cmd, 1);
}
