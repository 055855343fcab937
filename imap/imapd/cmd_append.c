/* cmd_append: APPEND (RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502),
 * LITERAL+ (RFC 7888), UIDPLUS's APPENDUID (RFC 4315) and the response
 * codes TRYCREATE, OVERQUOTA and TOOBIG (RFC 4469 / 7889).
 *
 *   APPEND mailbox [SP flag-list] [SP date-time] SP literal
 *          *(SP [flag-list SP] [date-time SP] literal)
 *
 * The target is looked up as soon as its name is read: when it cannot be
 * used, the message literal is refused before the client sends it (a
 * synchronising literal gets no "+", a {n+} one is swallowed) and the
 * command ends with NO ([TRYCREATE] when it does not exist).  A literal
 * larger than maxmessagesize is refused the same way, with NO [TOOBIG].
 * Message literals are read into memory up to APPEND_MEM_MAX bytes and
 * spilled to an unlinked temporary file beyond, never held whole in
 * memory.  Like Cyrus, messages with NUL bytes or bare CR / LF line ends
 * are refused.  All messages of one command are appended as one unit
 * (mailbox_append: all or none, durable before the OK), and are parsed
 * there for their cache records.  Flags need the rights STORE needs
 * ("s" for \Seen, "t" for \Deleted, "w" for the others); flags without
 * the right are dropped, as RFC 4314 allows.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "prot.h"
#include "times.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/seqset.h"

#define APPEND_MEM_MAX (256 * 1024)
#define APPEND_MAX_MESSAGES 1000    /* messages in one MULTIAPPEND */

struct append_msg {
    struct msgutil_flags flags;
    time_t internaldate;         /* 0: now */
    struct prot_literal *lit;
};

struct append_ctx {
    struct imapd_session *s;
    int refuse;                  /* refuse message literals with this code */
    struct append_msg *msgs;
    size_t n, alloc;
};

static void ctx_free(struct append_ctx *ax)
{
    for (size_t i = 0; i < ax->n; i++) {
        msgutil_flags_fini(&ax->msgs[i].flags);
        prot_literal_free(&ax->msgs[i].lit);
    }
    free(ax->msgs);
    ax->msgs = NULL;
    ax->n = ax->alloc = 0;
}

static int append_literal_cb(struct tok_parser *tp, uint64_t size, unsigned flags, void *rock)
{
    struct append_ctx *ax = rock;
    if (ax->refuse) return ax->refuse;
    return imapd_literal_cb(tp, size, flags, ax->s);
}

/* One message: [flag-list SP] [date-time SP] literal.  Returns the
 * character after the literal. */
static int read_message(struct append_ctx *ax, struct append_msg *am)
{
    struct imapd_session *s = ax->s;
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    tok_ungetc(&s->tp, c);
    if (c == '(') {
        c = msgutil_read_flaglist(s, &am->flags);
        if (c < 0) return c;
        if (c != ' ') return imapd_syntax(s, "Missing message literal");
        c = tok_getc(&s->tp);
        if (c < 0) return c;
        tok_ungetc(&s->tp, c);
    }
    if (c == '"') {
        struct buf date = BUF_INITIALIZER;
        c = tok_string(&s->tp, &date);
        if (c >= 0 && times_parse_internaldate(buf_cstring(&date), &am->internaldate, NULL) < 0)
            c = imapd_syntax(s, "Invalid date-time");
        buf_free(&date);
        if (c < 0) return c;
        if (c != ' ') return imapd_syntax(s, "Missing message literal");
        if (am->internaldate == 0) am->internaldate = 1;   /* 0 means "now" below */
    }
    /* only the message literal may be this large */
    s->tp.limits.maxliteral = s->maxmessagesize;
    c = tok_literal_spill(&s->tp, APPEND_MEM_MAX, NULL, &am->lit, NULL);
    s->tp.limits.maxliteral = s->limits.maxliteral;
    return c;
}

/* NUL bytes and bare CR or LF are refused (as Cyrus does). */
static int check_message(struct imapd_session *s, struct prot_literal *lit)
{
    const char *base = prot_literal_base(lit);
    size_t len = (size_t)prot_literal_len(lit);
    if (!base) return imapd_no(s, "SERVERBUG", "Cannot read the message");
    if (!len) return imapd_no(s, NULL, "Message is empty");
    if (memchr(base, '\0', len))
        return imapd_no(s, NULL, "%s", error_message(CYRERR_MESSAGE_CONTAINSNUL));
    for (const char *p = base, *end = base + len; p < end;) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (memchr(p, '\n', (size_t)((cr ? cr : end) - p)) ||       /* LF alone */
            (cr && (cr + 1 >= end || cr[1] != '\n')))                 /* CR alone */
            return imapd_no(s, NULL, "Message contains bare newlines");
        if (!cr) break;
        p = cr + 2;
    }
    return 1;
}

/* Read every message of the command; 0 when the command was answered
 * already (refusals), 1 when the messages are ready, or a negative code
 * for the dispatcher. */
static int read_messages(struct append_ctx *ax)
{
    struct imapd_session *s = ax->s;
    int c;
    for (;;) {
        if (ax->n == APPEND_MAX_MESSAGES) return imapd_syntax(s, "Too many messages");
        if (ax->n == ax->alloc) {
            ax->alloc = ax->alloc ? ax->alloc * 2 : 4;
            ax->msgs = xreallocarray(ax->msgs, ax->alloc, sizeof(*ax->msgs));
        }
        struct append_msg *am = &ax->msgs[ax->n++];
        memset(am, 0, sizeof(*am));
        am->flags = (struct msgutil_flags)MSGUTIL_FLAGS_INITIALIZER;
        c = read_message(ax, am);
        if (c < 0) break;
        if (c != ' ') break;
    }
    if (c >= 0) {
        int r = imapd_eol(s, c);
        return r < 0 ? r : 1;
    }

    /* a refused literal: the command ends with NO, the stream stays in step */
    enum tok_err te = tok_error(&s->tp);
    int spill_failed = c == CYRERR_IO && !prot_error(s->prot);
    if (te != TOK_E_LITERAL_TOO_LARGE && te != TOK_E_LITERAL_REFUSED && !spill_failed)
        return c;
    int r = tok_skip_line(&s->tp);
    if (r < 0) return r;
    if (spill_failed) return imapd_no(s, "SERVERBUG", "Cannot store the message");
    if (te == TOK_E_LITERAL_TOO_LARGE)
        return imapd_no(s, "TOOBIG", "Message too large (limit %llu bytes)",
                        (unsigned long long)s->maxmessagesize);
    return imapd_no_error(s, ax->refuse ? ax->refuse : c, IMAPD_ERR_TRYCREATE);
}

static int do_append(struct append_ctx *ax, const struct mboxlist_entry *e,
                     const char *intname, unsigned rights)
{
    struct imapd_session *s = ax->s;
    struct mailbox *mb = NULL;
    int r = imapd_mailbox_get(s, e, &mb);
    if (r) return imapd_no_error(s, r, IMAPD_ERR_TRYCREATE);

    int seen_index = msgutil_seen_in_index(s, mb, intname);
    uint32_t allowed = 0;
    if (rights & ACL_WRITE)
        allowed |= MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DRAFT;
    if (rights & ACL_DELETEMSG) allowed |= MAILBOX_FLAG_DELETED;
    if ((rights & ACL_SETSEEN) && seen_index) allowed |= MAILBOX_FLAG_SEEN;

    struct mailbox_append_msg *msgs = xzmalloc(ax->n * sizeof(*msgs));
    for (size_t i = 0; i < ax->n; i++) {
        struct append_msg *am = &ax->msgs[i];
        msgs[i].source = MAILBOX_SRC_DATA;
        msgs[i].data = prot_literal_base(am->lit);
        msgs[i].len = (size_t)prot_literal_len(am->lit);
        msgs[i].internaldate = am->internaldate;
        msgs[i].system_flags = am->flags.system & allowed;
        if (rights & ACL_WRITE) {
            msgs[i].keywords = (const char *const *)am->flags.keywords.data;
            msgs[i].nkeywords = (size_t)am->flags.keywords.count;
        }
    }
    struct mailbox_append_result res;
    r = mailbox_append(mb, msgs, ax->n, 0, &res);
    free(msgs);
    if (!r && !seen_index && (rights & ACL_SETSEEN)) {
        struct seqset seen = SEQSET_INITIALIZER;
        for (size_t i = 0; i < ax->n; i++)
            if (ax->msgs[i].flags.system & MAILBOX_FLAG_SEEN)
                seqset_add(&seen, res.first_uid + (uint32_t)i);
        r = msgutil_seen_add(s, mb, intname, &seen);
        seqset_free(&seen);
    }
    imapd_mailbox_put(s, &mb);
    if (r) return imapd_no_error(s, r, IMAPD_ERR_TRYCREATE);
    struct buf code = BUF_INITIALIZER;
    buf_printf(&code, "APPENDUID %u ", res.uidvalidity);
    if (res.last_uid > res.first_uid) buf_printf(&code, "%u:%u", res.first_uid, res.last_uid);
    else buf_printf(&code, "%u", res.first_uid);
    r = imapd_ok(s, buf_cstring(&code), "Completed");
    buf_free(&code);
    return r;
}

int imapd_cmd_append(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct append_ctx ax;
    memset(&ax, 0, sizeof(ax));
    ax.s = s;
    struct buf extname = BUF_INITIALIZER, intname = BUF_INITIALIZER;
    struct mboxlist_entry entry = MBOXLIST_ENTRY_INITIALIZER;
    unsigned rights = 0;
    int r;

    tok_set_literal_cb(&s->tp, append_literal_cb, &ax);
    if (cmd->c != ' ') {
        r = imapd_syntax(s, "Missing mailbox name");
        goto done;
    }
    int c = tok_astring(&s->tp, &extname);
    if (c < 0) {
        r = c;
        goto done;
    }
    if (c != ' ') {
        r = imapd_syntax(s, "Missing message literal");
        goto done;
    }
    ax.refuse = imapd_lookup(s, buf_cstring(&extname), ACL_INSERT, &intname, &entry, &rights);
    r = read_messages(&ax);
    for (size_t i = 0; r == 1 && i < ax.n; i++) r = check_message(s, ax.msgs[i].lit);
    if (r == 1) r = do_append(&ax, &entry, buf_cstring(&intname), rights);
done:
    tok_set_literal_cb(&s->tp, imapd_literal_cb, s);
    ctx_free(&ax);
    mboxlist_entry_free(&entry);
    buf_free(&extname);
    buf_free(&intname);
    return r;
}
