/* imapd_util: the helpers every imapd command uses (declared in imapd.h):
 * tagged and untagged replies, error codes, strings, the literal callback,
 * mailbox names and rights, and sequence sets.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "prot.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/namespace.h"

/* ---- replies ---------------------------------------------------------------- */

void imapd_untagged(struct imapd_session *s, const char *fmt, ...)
{
    va_list ap;
    prot_puts(s->prot, "* ");
    va_start(ap, fmt);
    prot_vprintf(s->prot, fmt, ap);
    va_end(ap);
    prot_puts(s->prot, "\r\n");
}

static unsigned report_flags(const struct imapd_session *s)
{
    const struct imapd_cmdctx *c = s->cmd;
    unsigned f = IMAPD_REPORT_EXPUNGE;
    if (c && c->uid) f |= IMAPD_REPORT_UID;
    if (c && c->def && (c->def->flags & IMAPD_CMD_NOEXPUNGE) && !c->uid)
        f &= ~(unsigned)IMAPD_REPORT_EXPUNGE;
    return f;
}

static void tagged(struct imapd_session *s, const char *status, int report,
                   const char *code, const char *fmt, va_list ap)
{
    if (report && !s->no_report && s->state == IMAPD_SELECTED &&
        !(s->cmd && s->cmd->def && (s->cmd->def->flags & IMAPD_CMD_NOREPORT)))
        (void)imapd_report_changes(s, report_flags(s));
    s->no_report = 0;
    const char *tag = buf_len(&s->tag) ? buf_cstring(&s->tag) : "*";
    prot_printf(s->prot, "%s %s ", tag, status);
    if (code && *code) prot_printf(s->prot, "[%s] ", code);
    prot_vprintf(s->prot, fmt, ap);
    prot_puts(s->prot, "\r\n");
    (void)prot_flush(s->prot);
}

int imapd_ok(struct imapd_session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "OK", 1, code, fmt, ap);
    va_end(ap);
    return 0;
}

int imapd_no(struct imapd_session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "NO", 1, code, fmt, ap);
    va_end(ap);
    return 0;
}

int imapd_bad(struct imapd_session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "BAD", 0, code, fmt, ap);
    va_end(ap);
    return 0;
}

const char *imapd_error_code(int err, unsigned flags)
{
    switch (err) {
    case CYRERR_MAILBOX_NONEXISTENT:
        return (flags & IMAPD_ERR_TRYCREATE) ? "TRYCREATE" : "NONEXISTENT";
    case CYRERR_MAILBOX_EXISTS:
    case CYRERR_EXISTS:
        return "ALREADYEXISTS";
    case CYRERR_PERMISSION:
        return "NOPERM";
    case CYRERR_QUOTA_EXCEEDED:
        return "OVERQUOTA";
    case CYRERR_BADNAME:
    case CYRERR_PARTITION_UNKNOWN:
    case CYRERR_MAILBOX_NOTSUPPORTED:
        return "CANNOT";
    case CYRERR_LIMIT:
        return "LIMIT";
    case CYRERR_TOOBIG:
        return "TOOBIG";
    case CYRERR_MAILBOX_RESERVED:
    case CYRERR_MAILBOX_LOCKED:
    case CYRERR_LOCKED:
        return "INUSE";
    case CYRERR_AUTHFAIL:
        return "AUTHENTICATIONFAILED";
    case CYRERR_SERVER_UNAVAILABLE:
    case CYRERR_AGAIN:
    case CYRERR_DEADLOCK:
        return "UNAVAILABLE";
    case CYRERR_IO:
    case CYRERR_INTERNAL:
    case CYRERR_CORRUPT:
        return "SERVERBUG";
    case CYRERR_QUOTAROOT_NONEXISTENT:
    case CYRERR_MESSAGE_NONEXISTENT:
    case CYRERR_USER_NONEXISTENT:
        return "NONEXISTENT";
    }
    return NULL;
}

int imapd_no_error(struct imapd_session *s, int err, unsigned flags)
{
    const char *text = error_message(err);
    if (err == CYRERR_PERMISSION) text = "Permission denied";
    return imapd_no(s, imapd_error_code(err, flags), "%s", text);
}

int imapd_syntax(struct imapd_session *s, const char *fmt, ...)
{
    va_list ap;
    buf_reset(&s->badtext);
    va_start(ap, fmt);
    buf_vprintf(&s->badtext, fmt, ap);
    va_end(ap);
    return CYRERR_PARSE;
}

int imapd_eol(struct imapd_session *s, int c)
{
    if (c < 0) return c;
    int r = tok_eol(&s->tp, c);
    if (r < 0 && c != '\r' && c != '\n' && !buf_len(&s->badtext))
        return imapd_syntax(s, "Unexpected extra arguments");
    return r;
}

/* ---- strings ---------------------------------------------------------------- */

void imapd_put_astring(struct imapd_session *s, const char *str)
{
    tok_prot_putstring(s->prot, str, strlen(str), s->wflags);
}

void imapd_put_string(struct imapd_session *s, const char *str)
{
    tok_prot_putstring(s->prot, str, strlen(str), s->wflags | TOK_W_NOATOM);
}

void imapd_put_nstring(struct imapd_session *s, const char *str)
{
    tok_prot_putnstring(s->prot, str, s->wflags);
}

void imapd_buf_astring(struct imapd_session *s, struct buf *b, const char *str)
{
    tok_buf_appendcstring(b, str, s->wflags);
}

void imapd_buf_string(struct imapd_session *s, struct buf *b, const char *str)
{
    tok_buf_appendcstring(b, str, s->wflags | TOK_W_NOATOM);
}

void imapd_buf_nstring(struct imapd_session *s, struct buf *b, const char *str)
{
    tok_buf_appendnstring(b, str, s->wflags);
}

int imapd_literal_cb(struct tok_parser *tp, uint64_t size, unsigned flags, void *rock)
{
    (void)rock;
    return tok_go_ahead(tp, size, flags, NULL);
}

/* ---- names and rights ---------------------------------------------------------- */

int imapd_intname(struct imapd_session *s, const char *extname, struct buf *out)
{
    return namespace_to_internal(&s->ns, extname, s->userid, out);
}

int imapd_extname(struct imapd_session *s, const char *intname, struct buf *out)
{
    return namespace_to_external(&s->ns, intname, s->userid, out);
}

unsigned imapd_rights(struct imapd_session *s, const struct mboxlist_entry *e)
{
    if (s->isadmin) return ACL_FULL;
    int owner = s->userid && namespace_user_owns(&s->ns, s->userid, e->name);
    return acl_myrights_str(e->acl ? e->acl : "", &s->ident, owner, s->owner_rights);
}

int imapd_lookup(struct imapd_session *s, const char *extname, unsigned need,
                 struct buf *intname, struct mboxlist_entry *e, unsigned *rights)
{
    struct mboxlist_entry tmp = MBOXLIST_ENTRY_INITIALIZER;
    int r = imapd_intname(s, extname, intname);
    if (r) return r;
    r = mboxlist_lookup(s->mbl, buf_cstring(intname), &tmp, NULL);
    if (r) {
        mboxlist_entry_free(&tmp);
        return r == CYRERR_NOTFOUND ? CYRERR_MAILBOX_NONEXISTENT : r;
    }
    unsigned my = imapd_rights(s, &tmp);
    if (tmp.type & (MBOXLIST_DELETED | MBOXLIST_RESERVED)) r = CYRERR_MAILBOX_NONEXISTENT;
    else if (!(my & ACL_LOOKUP) && (!need || (my & need) != need))
        r = CYRERR_MAILBOX_NONEXISTENT;
    else if (tmp.type & (MBOXLIST_REMOTE | MBOXLIST_MOVING)) r = CYRERR_MAILBOX_MOVED;
    else if ((my & need) != need) r = CYRERR_PERMISSION;
    if (rights) *rights = my;
    if (r || !e) mboxlist_entry_free(&tmp);
    else *e = tmp;
    return r;
}

int imapd_check_selected_rights(struct imapd_session *s, unsigned need)
{
    if (s->state != IMAPD_SELECTED || !s->sel.mb) return CYRERR_BADARGS;
    return (s->sel.rights & need) == need ? 0 : CYRERR_PERMISSION;
}

int imapd_mailbox_get(struct imapd_session *s, const struct mboxlist_entry *e,
                      struct mailbox **mbp)
{
    *mbp = NULL;
    if (s->state == IMAPD_SELECTED && s->sel.mb && s->sel.name &&
        !strcmp(s->sel.name, e->name)) {
        *mbp = s->sel.mb;
        return 0;
    }
    int r = mailbox_open(e->name, e->partition, mbp);
    if (r == CYRERR_NOTFOUND) r = CYRERR_MAILBOX_NONEXISTENT;
    return r;
}

void imapd_mailbox_put(struct imapd_session *s, struct mailbox **mbp)
{
    if (!*mbp) return;
    if (*mbp == s->sel.mb) {
        if (mailbox_lockmode(*mbp) != MAILBOX_LOCK_NONE) mailbox_unlock(*mbp);
        *mbp = NULL;
        return;
    }
    mailbox_close(mbp);
}

/* ---- sequence sets ------------------------------------------------------------- */

void imapd_msglist_free(struct imapd_msglist *ml)
{
    free(ml->seq);
    ml->seq = NULL;
    ml->count = ml->alloc = 0;
}

static void msglist_add(struct imapd_msglist *ml, uint32_t seq)
{
    if (ml->count == ml->alloc) {
        ml->alloc = ml->alloc ? ml->alloc * 2 : 64;
        ml->seq = xreallocarray(ml->seq, ml->alloc, sizeof(*ml->seq));
    }
    ml->seq[ml->count++] = seq;
}

int imapd_msglist_resolve(struct imapd_session *s, const struct tok_seqset *set,
                          int uid, struct imapd_msglist *out)
{
    out->count = 0;
    if (s->state != IMAPD_SELECTED || !s->sel.view) return CYRERR_BADARGS;
    if (set->is_dollar) return imapd_syntax(s, "Search result variable not supported");
    uint32_t n = mailbox_view_count(s->sel.view);
    struct tok_seqset res = TOK_SEQSET_INITIALIZER;

    if (!uid) {
        for (size_t i = 0; i < set->count; i++) {
            const struct tok_seqrange *r = &set->ranges[i];
            uint32_t lo = r->low == TOK_SEQ_STAR ? n : r->low;
            uint32_t hi = r->high == TOK_SEQ_STAR ? n : r->high;
            if (lo == 0 || hi == 0 || lo > n || hi > n)
                return imapd_syntax(s, "Invalid message sequence number");
        }
        tok_seqset_resolve(set, n, &res);
        for (size_t i = 0; i < res.count; i++)
            for (uint64_t q = res.ranges[i].low; q <= res.ranges[i].high && q <= n; q++)
                if (q) msglist_add(out, (uint32_t)q);
        tok_seqset_free(&res);
        return 0;
    }

    if (n == 0) return 0;
    uint32_t maxuid = mailbox_view_msg(s->sel.view, n)->uid;
    tok_seqset_resolve(set, maxuid, &res);
    /* walk the view and the ranges together: both are ascending */
    size_t ri = 0;
    for (uint32_t q = 1; q <= n && ri < res.count; q++) {
        uint32_t u = mailbox_view_msg(s->sel.view, q)->uid;
        while (ri < res.count && res.ranges[ri].high < u) ri++;
        if (ri < res.count && res.ranges[ri].low <= u) msglist_add(out, q);
    }
    tok_seqset_free(&res);
    return 0;
}
