/* cmd_store: STORE and UID STORE (RFC 3501 6.4.6), with FLAGS, +FLAGS,
 * -FLAGS, their .SILENT forms and the CONDSTORE modifier UNCHANGEDSINCE
 * (RFC 7162 3.1.3).
 *
 * Rights (RFC 4314): \Seen needs "s", \Deleted "t", the other flags and
 * keywords "w".  +FLAGS/-FLAGS naming a flag without its right is refused
 * (NO [NOPERM], nothing changed); FLAGS leaves the kinds of flags the user
 * may not change as they are.  \Seen of the mailbox owner is an index flag;
 * other users' \Seen lives in their seen database (imapd_seen_change).
 * Keywords are created on first use, up to MAILBOX_MAX_KEYWORDS
 * (NO [LIMIT] beyond).  Unless .SILENT, every message of the set is
 * answered with "* n FETCH (FLAGS (...))" (UID with UID STORE, MODSEQ when
 * CONDSTORE is in use).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/seqset.h"

struct store_args {
    enum mailbox_store_op op;
    int silent;
    uint64_t unchangedsince;   /* 0: none */
    int has_unchangedsince;
    struct msgutil_flags flags;
};

/* ---- parsing ---------------------------------------------------------------- */

static int parse_modifiers(struct imapd_session *s, struct store_args *a)
{
    struct buf name = BUF_INITIALIZER;
    int c;
    for (;;) {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &name);
        if (c < 0) break;
        if (strcasecmp(buf_cstring(&name), "UNCHANGEDSINCE") || c != ' ') {
            c = imapd_syntax(s, "Unknown STORE modifier");
            break;
        }
        c = tok_uint64(&s->tp, &a->unchangedsince);
        if (c < 0) break;
        a->has_unchangedsince = 1;
        if (c == ')') {
            c = tok_getc(&s->tp);
            break;
        }
        if (c != ' ') {
            c = imapd_syntax(s, "Invalid STORE modifiers");
            break;
        }
    }
    buf_free(&name);
    return c;
}

static int parse_store(struct imapd_session *s, struct tok_seqset *set, struct store_args *a)
{
    int c = tok_seqset(&s->tp, 0, set);
    if (c < 0) return c;
    if (c != ' ') return imapd_syntax(s, "Missing STORE arguments");
    c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c == '(') {
        c = parse_modifiers(s, a);
        if (c < 0) return c;
        if (c != ' ') return imapd_syntax(s, "Missing STORE item");
    } else {
        tok_ungetc(&s->tp, c);
    }
    struct buf item = BUF_INITIALIZER;
    c = tok_atom(&s->tp, TOK_CS_ATOM, &item);
    if (c < 0) {
        buf_free(&item);
        return c;
    }
    const char *p = buf_cstring(&item);
    a->op = MAILBOX_STORE_REPLACE;
    if (*p == '+') a->op = MAILBOX_STORE_ADD, p++;
    else if (*p == '-') a->op = MAILBOX_STORE_REMOVE, p++;
    int ok = 1;
    if (!strcasecmp(p, "FLAGS.SILENT")) a->silent = 1;
    else if (strcasecmp(p, "FLAGS")) ok = 0;
    buf_free(&item);
    if (!ok) return imapd_syntax(s, "Invalid STORE item");
    if (c != ' ') return imapd_syntax(s, "Missing flags");

    c = tok_getc(&s->tp);
    if (c < 0) return c;
    tok_ungetc(&s->tp, c);
    if (c == '(') return msgutil_read_flaglist(s, &a->flags);
    /* flag *(SP flag) without parentheses */
    struct buf name = BUF_INITIALIZER;
    for (;;) {
        c = tok_atom(&s->tp, TOK_CS_FLAG, &name);
        if (c < 0) break;
        int r = msgutil_flags_add(s, &a->flags, buf_cstring(&name));
        if (r) {
            c = r;
            break;
        }
        if (c != ' ') break;
    }
    buf_free(&name);
    return c;
}

/* ---- doing it ---------------------------------------------------------------- */

struct store_rock {
    struct imapd_session *s;
    struct seqset modified;    /* UIDs left alone (UNCHANGEDSINCE) */
};

static void store_cb(void *rock, const struct mailbox_record *rec,
                     enum mailbox_store_outcome outcome)
{
    struct store_rock *sr = rock;
    if (outcome == MAILBOX_STORE_MODIFIED) {
        seqset_add(&sr->modified, rec->uid);
        return;
    }
    mailbox_view_apply(sr->s->sel.view, rec);
}

static int flags_empty(const struct mailbox_flags *f)
{
    if (f->system) return 0;
    for (int i = 0; i < MAILBOX_KEYWORD_WORDS; i++)
        if (f->user[i]) return 0;
    return 1;
}

/* Keyword bits of the names in a->flags (lock held exclusively). */
static int keyword_bits(struct mailbox *mb, const struct store_args *a,
                        struct mailbox_flags *out)
{
    for (int i = 0; i < a->flags.keywords.count; i++) {
        uint32_t bit;
        int r = mailbox_keyword_bit(mb, a->flags.keywords.data[i],
                                    a->op != MAILBOX_STORE_REMOVE, &bit);
        if (r == CYRERR_NOTFOUND) continue;   /* removing an unknown keyword */
        if (r) return r;
        out->user[bit / 32] |= 1u << (bit % 32);
    }
    return 0;
}

/* Change the index flags; *store_seen: the index \Seen is this user's. */
static int store_index(struct imapd_session *s, const struct store_args *a,
                       const uint32_t *uids, size_t n, uint32_t allowed_sys,
                       int allow_kw, struct store_rock *sr)
{
    struct mailbox *mb = s->sel.mb;
    int r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
    if (r) return r;
    struct mailbox_flags want;
    memset(&want, 0, sizeof(want));
    want.system = a->flags.system & allowed_sys;
    if (allow_kw) r = keyword_bits(mb, a, &want);
    if (r) goto out;

    int full = allowed_sys == (MAILBOX_FLAGS_SETTABLE) && allow_kw;
    if (a->op != MAILBOX_STORE_REPLACE || full) {
        if (a->op != MAILBOX_STORE_REPLACE && flags_empty(&want)) goto out;
        r = mailbox_store(mb, uids, n, a->op, &want, a->unchangedsince, store_cb, sr, NULL);
        goto out;
    }
    /* FLAGS with some kinds of flags out of reach: add what was named, then
     * remove the rest of what may be changed */
    struct mailbox_flags rm;
    memset(&rm, 0, sizeof(rm));
    rm.system = allowed_sys & ~want.system;
    if (allow_kw)
        for (int i = 0; i < MAILBOX_KEYWORD_WORDS; i++) rm.user[i] = ~want.user[i];
    if (!flags_empty(&want))
        r = mailbox_store(mb, uids, n, MAILBOX_STORE_ADD, &want, a->unchangedsince,
                          store_cb, sr, NULL);
    if (!r && !flags_empty(&rm)) {
        /* messages left alone by UNCHANGEDSINCE stay so */
        uint32_t *left = xmalloc((n ? n : 1) * sizeof(*left));
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!seqset_contains(&sr->modified, uids[i])) left[k++] = uids[i];
        uint64_t since = flags_empty(&want) ? a->unchangedsince : 0;
        r = mailbox_store(mb, left, k, MAILBOX_STORE_REMOVE, &rm, since, store_cb, sr, NULL);
        free(left);
    }
out:
    mailbox_unlock(mb);
    return r;
}

static void send_fetches(struct imapd_session *s, const struct imapd_cmdctx *cmd,
                         const struct imapd_msglist *ml, const struct store_rock *sr,
                         int with_modseq)
{
    struct buf out = BUF_INITIALIZER;
    for (size_t i = 0; i < ml->count; i++) {
        const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, ml->seq[i]);
        if (!m || (m->system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
        if (seqset_contains(&sr->modified, m->uid)) continue;
        buf_reset(&out);
        buf_printf(&out, "* %u FETCH (FLAGS ", ml->seq[i]);
        imapd_buf_flags(s, m, &out);
        if (cmd->uid) buf_printf(&out, " UID %u", m->uid);
        if (with_modseq) buf_printf(&out, " MODSEQ (%llu)", (unsigned long long)m->modseq);
        buf_appendcstr(&out, ")\r\n");
        prot_write(s->prot, buf_base(&out), buf_len(&out));
    }
    buf_free(&out);
}

int imapd_cmd_store(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct tok_seqset set = TOK_SEQSET_INITIALIZER;
    struct store_args a;
    memset(&a, 0, sizeof(a));
    a.flags = (struct msgutil_flags)MSGUTIL_FLAGS_INITIALIZER;
    struct imapd_msglist ml = IMAPD_MSGLIST_INITIALIZER;
    struct store_rock sr = { s, SEQSET_INITIALIZER };
    uint32_t *uids = NULL;
    int r;

    if (cmd->c != ' ') {
        r = imapd_syntax(s, "Missing sequence set");
        goto done;
    }
    r = imapd_eol(s, parse_store(s, &set, &a));
    if (r < 0) goto done;
    r = imapd_msglist_resolve(s, &set, cmd->uid, &ml);
    if (r < 0) goto done;

    if (s->sel.readonly) {
        r = imapd_no(s, NULL, "Mailbox is read-only");
        goto done;
    }
    unsigned rights = s->sel.rights;
    int owner = s->sel.is_owner;
    uint32_t allowed_sys = 0;
    if (rights & ACL_WRITE)
        allowed_sys |= MAILBOX_FLAG_ANSWERED | MAILBOX_FLAG_FLAGGED | MAILBOX_FLAG_DRAFT;
    if (rights & ACL_DELETEMSG) allowed_sys |= MAILBOX_FLAG_DELETED;
    if ((rights & ACL_SETSEEN) && owner) allowed_sys |= MAILBOX_FLAG_SEEN;
    int allow_kw = (rights & ACL_WRITE) != 0;
    int allow_seen = (rights & ACL_SETSEEN) != 0;

    /* a named flag without its right */
    uint32_t named = a.flags.system & ~(uint32_t)MAILBOX_FLAG_SEEN;
    if ((named & ~allowed_sys) || (a.flags.keywords.count && !allow_kw) ||
        ((a.flags.system & MAILBOX_FLAG_SEEN) && !allow_seen) ||
        (!allowed_sys && !allow_kw && !allow_seen)) {
        r = imapd_no(s, "NOPERM", "Permission denied");
        goto done;
    }
    if (a.has_unchangedsince) imapd_enable_condstore(s, IMAPD_EN_CONDSTORE);

    uids = xmalloc((ml.count ? ml.count : 1) * sizeof(*uids));
    for (size_t i = 0; i < ml.count; i++)
        uids[i] = mailbox_view_msg(s->sel.view, ml.seq[i])->uid;

    if (ml.count) {
        r = store_index(s, &a, uids, ml.count, allowed_sys, allow_kw, &sr);
        if (!r && !owner && allow_seen &&
            (a.op == MAILBOX_STORE_REPLACE || (a.flags.system & MAILBOX_FLAG_SEEN))) {
            struct seqset chg = SEQSET_INITIALIZER;
            for (size_t i = 0; i < ml.count; i++)
                if (!seqset_contains(&sr.modified, uids[i])) seqset_add(&chg, uids[i]);
            int add = a.op == MAILBOX_STORE_ADD ||
                      (a.op == MAILBOX_STORE_REPLACE && (a.flags.system & MAILBOX_FLAG_SEEN));
            if (!seqset_is_empty(&chg)) r = imapd_seen_change(s, &chg, add);
            seqset_free(&chg);
        }
        if (r) {
            r = imapd_no_error(s, r, 0);
            goto done;
        }
    }

    int with_modseq = (s->enabled & IMAPD_EN_CONDSTORE) != 0;
    if (!a.silent) send_fetches(s, cmd, &ml, &sr, with_modseq);
    if (!seqset_is_empty(&sr.modified)) {
        /* RFC 7162: the UIDs (UID STORE) or numbers (STORE) left alone */
        struct buf code = BUF_INITIALIZER;
        uint32_t *mod = xmalloc(ml.count * sizeof(*mod));
        size_t k = 0;
        for (size_t i = 0; i < ml.count; i++)
            if (seqset_contains(&sr.modified, uids[i]))
                mod[k++] = cmd->uid ? uids[i] : ml.seq[i];
        buf_appendcstr(&code, "MODIFIED ");
        msgutil_format_uids(mod, k, &code);
        free(mod);
        r = imapd_ok(s, buf_cstring(&code), "Conditional STORE failed");
        buf_free(&code);
        goto done;
    }
    r = imapd_ok(s, NULL, "Completed");
done:
    free(uids);
    seqset_free(&sr.modified);
    imapd_msglist_free(&ml);
    tok_seqset_free(&set);
    msgutil_flags_fini(&a.flags);
    return r;
}
