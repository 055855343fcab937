/* cmd_select: SELECT, EXAMINE, CLOSE, UNSELECT, CHECK and IDLE, and what
 * goes with a selected mailbox: the report of changes made by others
 * (EXISTS, RECENT, EXPUNGE, FETCH FLAGS), per-user \Seen and \Recent.
 *
 * IDLE (RFC 2177) waits on the socket with poll() and looks at the mailbox
 * every imapidlepoll seconds when that option is set, else every second,
 * so that a delivery is announced within a second; the autologout timer
 * ends an IDLE that lasts longer than `timeout`.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/mailbox.h"
#include "imap/store/seen.h"

/* ---- message helpers ------------------------------------------------------------ */

uint32_t imapd_msg_flags(struct imapd_session *s, const struct mailbox_view_msg *m)
{
    uint32_t f = m->system_flags & MAILBOX_FLAGS_SETTABLE;
    if (!s->sel.is_owner) {
        f &= ~MAILBOX_FLAG_SEEN;
        if (seqset_contains(&s->sel.seen, m->uid)) f |= MAILBOX_FLAG_SEEN;
    }
    return f;
}

int imapd_msg_recent(struct imapd_session *s, uint32_t uid)
{
    return s->state == IMAPD_SELECTED && uid > s->sel.recent_after;
}

void imapd_buf_flags(struct imapd_session *s, const struct mailbox_view_msg *m,
                     struct buf *out)
{
    static const struct { uint32_t bit; const char *name; } sys[] = {
        { MAILBOX_FLAG_ANSWERED, "\\Answered" }, { MAILBOX_FLAG_FLAGGED, "\\Flagged" },
        { MAILBOX_FLAG_DRAFT, "\\Draft" }, { MAILBOX_FLAG_DELETED, "\\Deleted" },
        { MAILBOX_FLAG_SEEN, "\\Seen" },
    };
    uint32_t f = imapd_msg_flags(s, m);
    int first = 1;
    buf_putc(out, '(');
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
        if (!(f & sys[i].bit)) continue;
        if (!first) buf_putc(out, ' ');
        buf_appendcstr(out, sys[i].name);
        first = 0;
    }
    if (imapd_msg_recent(s, m->uid)) {
        if (!first) buf_putc(out, ' ');
        buf_appendcstr(out, "\\Recent");
        first = 0;
    }
    for (uint32_t w = 0; w < MAILBOX_KEYWORD_WORDS; w++) {
        for (uint32_t bits = m->user_flags[w]; bits; bits &= bits - 1) {
            const char *kw = mailbox_keyword_name(s->sel.mb, w * 32 + (uint32_t)__builtin_ctz(bits));
            if (!kw) continue;
            if (!first) buf_putc(out, ' ');
            buf_appendcstr(out, kw);
            first = 0;
        }
    }
    buf_putc(out, ')');
}

int imapd_seen_change(struct imapd_session *s, const struct seqset *uids, int add)
{
    if (s->state != IMAPD_SELECTED || s->sel.is_owner || !s->sel.seendb)
        return CYRERR_BADARGS;
    struct seen_data sd = SEEN_DATA_INITIALIZER;
    const char *uniqueid = mailbox_uniqueid(s->sel.mb);
    int r = add ? seen_add_uids(s->sel.seendb, uniqueid, uids, time(NULL), &sd)
                : seen_remove_uids(s->sel.seendb, uniqueid, uids, time(NULL), &sd);
    if (!r) seqset_copy(&s->sel.seen, &sd.uids);
    seen_data_free(&sd);
    return r;
}

/* Messages of the view above recent_after. */
static uint32_t count_recent(struct imapd_session *s)
{
    uint32_t n = mailbox_view_count(s->sel.view), count = 0;
    /* UIDs ascend: count from the end */
    for (uint32_t q = n; q >= 1; q--) {
        if (mailbox_view_msg(s->sel.view, q)->uid <= s->sel.recent_after) break;
        count++;
    }
    return count;
}

/* ---- the change report ------------------------------------------------------------ */

static void flags_line(struct imapd_session *s);
static void permanent_flags(struct imapd_session *s, struct buf *out);

/* A keyword was defined since the last FLAGS (by this session's STORE or
 * APPEND, or by another session): send FLAGS and PERMANENTFLAGS again, as
 * RFC 3501 7.2.6 lets clients expect and as Cyrus does. */
static void report_keywords(struct imapd_session *s)
{
    uint32_t nk = mailbox_num_keywords(s->sel.mb);
    if (nk == s->sel.last_keywords) return;
    s->sel.last_keywords = nk;
    flags_line(s);
    struct buf b = BUF_INITIALIZER;
    permanent_flags(s, &b);
    imapd_untagged(s, "OK [%s] Ok", buf_cstring(&b));
    buf_free(&b);
}

static void vanished(struct imapd_session *s, int r)
{
    xsyslog(LOG_NOTICE, "selected mailbox vanished", "mailbox=<%s> user=<%s> error=<%s>",
            s->sel.name ? s->sel.name : "", s->userid ? s->userid : "",
            error_message(r));
    prot_puts(s->prot, "* BYE Selected mailbox was deleted or replaced\r\n");
    (void)prot_flush(s->prot);
    imapd_unselect(s);
    s->state = IMAPD_LOGOUT;
}

int imapd_report_changes(struct imapd_session *s, unsigned flags)
{
    if (s->state != IMAPD_SELECTED || !s->sel.view) return 0;
    struct mailbox_view_changes ch;
    memset(&ch, 0, sizeof(ch));
    int r = mailbox_view_update(s->sel.view,
                                (flags & IMAPD_REPORT_EXPUNGE) ? MAILBOX_VIEW_EXPUNGE : 0,
                                &ch);
    if (!r && ch.uidvalidity_changed) r = CYRERR_MAILBOX_NONEXISTENT;
    if (r) {
        mailbox_view_changes_free(&ch);
        if (r == CYRERR_MAILBOX_NONEXISTENT || r == CYRERR_NOTFOUND) {
            vanished(s, r);
            return r;
        }
        xsyslog(LOG_ERR, "mailbox update failed", "mailbox=<%s> error=<%s>",
                s->sel.name, error_message(r));
        return r;
    }
    report_keywords(s);
    for (size_t i = 0; i < ch.nexpunged; i++)
        prot_printf(s->prot, "* %u EXPUNGE\r\n", ch.expunged_seqs[i]);
    uint32_t exists = mailbox_view_count(s->sel.view);
    uint32_t recent = count_recent(s);
    if (exists != s->sel.last_exists || ch.exists_changed) {
        prot_printf(s->prot, "* %u EXISTS\r\n", exists);
        if (recent != s->sel.last_recent || ch.exists_changed)
            prot_printf(s->prot, "* %u RECENT\r\n", recent);
    } else if (recent != s->sel.last_recent) {
        prot_printf(s->prot, "* %u RECENT\r\n", recent);
    }
    s->sel.last_exists = exists;
    s->sel.last_recent = recent;

    struct buf b = BUF_INITIALIZER;
    for (size_t i = 0; i < ch.nchanged; i++) {
        const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, ch.changed_seqs[i]);
        if (!m) continue;
        buf_reset(&b);
        imapd_buf_flags(s, m, &b);
        if (flags & IMAPD_REPORT_UID) buf_printf(&b, " UID %u", m->uid);
        /* RFC 7162 3.2: with CONDSTORE on, MODSEQ comes with every FLAGS */
        if (s->enabled & IMAPD_EN_CONDSTORE)
            buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)m->modseq);
        prot_printf(s->prot, "* %u FETCH (FLAGS %s)\r\n", ch.changed_seqs[i],
                    buf_cstring(&b));
    }
    buf_free(&b);
    mailbox_view_changes_free(&ch);
    return 0;
}

/* ---- CONDSTORE ------------------------------------------------------------------- */

void imapd_enable_condstore(struct imapd_session *s, unsigned want)
{
    if (!(want & IMAPD_EN_CONDSTORE) || (s->enabled & IMAPD_EN_CONDSTORE)) return;
    s->enabled |= IMAPD_EN_CONDSTORE;
    /* RFC 7162 3.1: a CONDSTORE enabling command while a mailbox is
     * selected gets the HIGHESTMODSEQ of that mailbox */
    if (s->state == IMAPD_SELECTED && s->sel.view)
        imapd_untagged(s, "OK [HIGHESTMODSEQ %llu] Ok",
                       (unsigned long long)mailbox_view_highestmodseq(s->sel.view));
}

/* ---- selecting -------------------------------------------------------------------- */

void imapd_unselect(struct imapd_session *s)
{
    struct imapd_selected *sel = &s->sel;
    if (sel->mb && !sel->readonly && sel->seendb && sel->view) {
        /* remember what this user has been shown, for \Recent */
        uint32_t n = mailbox_view_count(sel->view);
        uint32_t top = n ? mailbox_view_msg(sel->view, n)->uid : 0;
        struct seen_data sd = SEEN_DATA_INITIALIZER;
        const char *uniqueid = mailbox_uniqueid(sel->mb);
        if (!seen_read(sel->seendb, uniqueid, &sd) && top > sd.lastuid) {
            sd.lastuid = top;
            sd.lastread = time(NULL);
            if (seen_write(sel->seendb, uniqueid, &sd))
                xsyslog(LOG_WARNING, "seen state not written", "mailbox=<%s>", sel->name);
        }
        seen_data_free(&sd);
    }
    mailbox_view_free(&sel->view);
    mailbox_close(&sel->mb);
    if (sel->seendb) (void)seen_close(&sel->seendb);
    seqset_free(&sel->seen);
    mboxlist_entry_free(&sel->entry);
    free(sel->name);
    free(sel->extname);
    memset(sel, 0, sizeof(*sel));
    if (s->state == IMAPD_SELECTED) s->state = IMAPD_AUTH;
}

/* PERMANENTFLAGS for the rights held. */
static void permanent_flags(struct imapd_session *s, struct buf *out)
{
    struct imapd_selected *sel = &s->sel;
    buf_appendcstr(out, "PERMANENTFLAGS (");
    size_t start = buf_len(out);
    if (!sel->readonly) {
        if (sel->rights & ACL_WRITE) {
            buf_appendcstr(out, "\\Answered \\Flagged \\Draft");
            uint32_t nk = mailbox_num_keywords(sel->mb);
            for (uint32_t i = 0; i < nk; i++) {
                const char *kw = mailbox_keyword_name(sel->mb, i);
                if (kw) buf_printf(out, " %s", kw);
            }
        }
        if (sel->rights & ACL_DELETEMSG)
            buf_printf(out, "%s\\Deleted", buf_len(out) > start ? " " : "");
        if (sel->rights & ACL_SETSEEN)
            buf_printf(out, "%s\\Seen", buf_len(out) > start ? " " : "");
        if (sel->rights & ACL_WRITE) buf_appendcstr(out, " \\*");
    }
    buf_putc(out, ')');
}

static void flags_line(struct imapd_session *s)
{
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, "FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen");
    uint32_t nk = mailbox_num_keywords(s->sel.mb);
    for (uint32_t i = 0; i < nk; i++) {
        const char *kw = mailbox_keyword_name(s->sel.mb, i);
        if (kw) buf_printf(&b, " %s", kw);
    }
    buf_putc(&b, ')');
    imapd_untagged(s, "%s", buf_cstring(&b));
    buf_free(&b);
}

/* Open the mailbox, view and seen state into s->sel. */
static int open_selected(struct imapd_session *s, int examine)
{
    struct imapd_selected *sel = &s->sel;
    int r = mailbox_open(sel->entry.name, sel->entry.partition, &sel->mb);
    if (r == CYRERR_NOTFOUND) r = CYRERR_MAILBOX_NONEXISTENT;
    if (!r) r = mailbox_view_open(sel->mb, &sel->view);
    if (r) return r;
    struct mailbox_status st;
    mailbox_status(sel->mb, &st);
    sel->uidvalidity = st.uidvalidity;
    sel->is_owner = s->userid && namespace_user_owns(&s->ns, s->userid, sel->name);
    sel->readonly = examine ||
        !(sel->rights & (ACL_WRITE | ACL_SETSEEN | ACL_DELETEMSG | ACL_EXPUNGE | ACL_INSERT));

    seqset_init(&sel->seen);
    if (s->userid && strcmp(s->userid, "anonymous") &&
        !seen_open(s->userid, SEEN_CREATE, &sel->seendb)) {
        struct seen_data sd = SEEN_DATA_INITIALIZER;
        if (!seen_read(sel->seendb, mailbox_uniqueid(sel->mb), &sd)) {
            sel->recent_after = sd.lastuid;
            if (!sel->is_owner) seqset_copy(&sel->seen, &sd.uids);
            if (!sel->readonly) {
                uint32_t top = st.uidnext ? st.uidnext - 1 : 0;
                if (top > sd.lastuid) {
                    sd.lastuid = top;
                    sd.lastread = time(NULL);
                    if (seen_write(sel->seendb, mailbox_uniqueid(sel->mb), &sd))
                        xsyslog(LOG_WARNING, "seen state not written", "mailbox=<%s>",
                                sel->name);
                }
            }
        }
        seen_data_free(&sd);
    } else {
        /* no seen db: nothing is recent, non-owners see nothing as seen */
        sel->recent_after = st.uidnext ? st.uidnext - 1 : 0;
    }
    return 0;
}

int imapd_cmd_select(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int examine = !strcmp(cmd->name, "EXAMINE");
    struct buf name = BUF_INITIALIZER, intname = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &name);
    int condstore = 0;
    if (c == ' ') {
        /* select-params (RFC 4466): only (CONDSTORE) is known */
        struct tok_node *params = NULL;
        c = tok_list(&s->tp, &params);
        if (c >= 0) {
            for (size_t i = 0; i < params->count && c >= 0; i++) {
                if (tok_node_is_atom(params->items[i], "CONDSTORE"))
                    condstore = 1;
                else
                    c = imapd_syntax(s, "Invalid SELECT parameter");
            }
        }
        tok_node_free(&params);
    }
    int r = imapd_eol(s, c);
    if (r < 0) {
        buf_free(&name);
        return r;
    }

    /* RFC 3501 6.3.1: a SELECT deselects first, even when it fails */
    imapd_unselect(s);

    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    unsigned rights = 0;
    r = imapd_lookup(s, buf_cstring(&name), ACL_READ, &intname, &e, &rights);
    if (r) {
        buf_free(&name);
        buf_free(&intname);
        return imapd_no_error(s, r, 0);
    }
    struct imapd_selected *sel = &s->sel;
    sel->entry = e;
    sel->name = xstrdup(buf_cstring(&intname));
    sel->rights = rights;
    if (imapd_extname(s, sel->name, &name)) buf_setcstr(&name, sel->name);
    sel->extname = xstrdup(buf_cstring(&name));
    buf_free(&name);
    buf_free(&intname);

    r = open_selected(s, examine);
    if (r) {
        xsyslog(LOG_ERR, "cannot open mailbox", "mailbox=<%s> error=<%s>",
                sel->entry.name, error_message(r));
        imapd_unselect(s);
        return imapd_no_error(s, r, 0);
    }
    s->state = IMAPD_SELECTED;

    struct mailbox_status st;
    mailbox_status(sel->mb, &st);
    uint32_t exists = mailbox_view_count(sel->view);
    uint32_t recent = count_recent(s);
    sel->last_exists = exists;
    sel->last_recent = recent;
    uint32_t unseen = 0;
    for (uint32_t q = 1; q <= exists; q++) {
        if (!(imapd_msg_flags(s, mailbox_view_msg(sel->view, q)) & MAILBOX_FLAG_SEEN)) {
            unseen = q;
            break;
        }
    }

    sel->last_keywords = mailbox_num_keywords(sel->mb);
    flags_line(s);
    struct buf b = BUF_INITIALIZER;
    permanent_flags(s, &b);
    imapd_untagged(s, "OK [%s] Ok", buf_cstring(&b));
    buf_free(&b);
    imapd_untagged(s, "%u EXISTS", exists);
    imapd_untagged(s, "%u RECENT", recent);
    if (unseen) imapd_untagged(s, "OK [UNSEEN %u] Ok", unseen);
    imapd_untagged(s, "OK [UIDVALIDITY %u] Ok", st.uidvalidity);
    imapd_untagged(s, "OK [UIDNEXT %u] Ok", st.uidnext);
    /* RFC 7162 3.1.2.1: on every SELECT and EXAMINE, as Cyrus does */
    imapd_untagged(s, "OK [HIGHESTMODSEQ %llu] Ok",
                   (unsigned long long)mailbox_view_highestmodseq(sel->view));
    if (condstore) s->enabled |= IMAPD_EN_CONDSTORE;
    return imapd_ok(s, sel->readonly ? "READ-ONLY" : "READ-WRITE", "Completed");
}

static int no_args(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return imapd_eol(s, cmd->c);
}

int imapd_cmd_close(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = no_args(s, cmd);
    if (r < 0) return r;
    if (!s->sel.readonly && (s->sel.rights & ACL_EXPUNGE)) {
        r = imapd_expunge_deleted(s, NULL, 0);
        if (r && r != CYRERR_NOTSUPPORTED)
            xsyslog(LOG_ERR, "expunge at CLOSE failed", "mailbox=<%s> error=<%s>",
                    s->sel.name, error_message(r));
    }
    imapd_unselect(s);
    return imapd_ok(s, NULL, "Completed");
}

int imapd_cmd_unselect(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = no_args(s, cmd);
    if (r < 0) return r;
    imapd_unselect(s);
    return imapd_ok(s, NULL, "Completed");
}

int imapd_cmd_check(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = no_args(s, cmd);
    if (r < 0) return r;
    return imapd_ok(s, NULL, "Completed");
}

/* ---- IDLE ------------------------------------------------------------------------ */

/* imapidlepoll when set in imapd.conf (0: IDLE is off), else 1 s: this
 * server has no idled to wake it, so Cyrus's 60 s default would delay
 * every announcement by up to a minute. */
static int idle_poll_ms(void)
{
    if (config_isset(IMAPOPT_IMAPIDLEPOLL)) {
        long long secs = config_getduration(IMAPOPT_IMAPIDLEPOLL);
        if (secs <= 0) return 0;
        return secs > 3600 ? 3600 * 1000 : (int)(secs * 1000);
    }
    return 1000;
}

int imapd_idle_enabled(void)
{
    return idle_poll_ms() > 0;
}

int imapd_cmd_idle(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    int r = no_args(s, cmd);
    if (r < 0) return r;
    if (!imapd_idle_enabled()) return imapd_no(s, "CANNOT", "IDLE is disabled");

    /* changes pending before IDLE go out first */
    if (s->state == IMAPD_SELECTED) {
        r = imapd_report_changes(s, IMAPD_REPORT_EXPUNGE);
        if (s->state == IMAPD_LOGOUT) return 0;
    }
    prot_puts(s->prot, "+ idling\r\n");
    if (prot_flush(s->prot) < 0) return prot_error(s->prot) ? prot_error(s->prot) : CYRERR_IO;
    s->idling = 1;

    int interval = idle_poll_ms();
    time_t start = time(NULL);
    struct buf word = BUF_INITIALIZER;
    int result = 0;
    for (;;) {
        if (!prot_input_pending(s->prot)) {
            struct pollfd pfd = { prot_fd(s->prot), POLLIN, 0 };
            int n = poll(&pfd, 1, interval);
            if (n < 0 && errno != EINTR) {
                result = CYRERR_IO;
                break;
            }
            if (n <= 0) {
                if (s->timeout > 0 && time(NULL) - start >= s->timeout) {
                    result = CYRERR_TIMEOUT;
                    break;
                }
                if (s->state == IMAPD_SELECTED) {
                    (void)imapd_report_changes(s, IMAPD_REPORT_EXPUNGE);
                    if (s->state == IMAPD_LOGOUT) break;
                    if (prot_flush(s->prot) < 0) {
                        result = CYRERR_IO;
                        break;
                    }
                }
                continue;
            }
        }
        int c = tok_atom(&s->tp, TOK_CS_ATOM, &word);
        if (c < 0 && (c == CYRERR_EOF || c == CYRERR_TIMEOUT || c == CYRERR_IO ||
                      c == CYRERR_TLS)) {
            result = c;
            break;
        }
        if (c >= 0) c = tok_eol(&s->tp, c);
        s->idling = 0;
        if (c < 0 || strcasecmp(buf_cstring(&word), "DONE")) {
            buf_free(&word);
            return imapd_syntax(s, "Invalid Idle continuation");
        }
        buf_free(&word);
        return imapd_ok(s, NULL, "Completed");
    }
    s->idling = 0;
    buf_free(&word);
    if (s->state == IMAPD_LOGOUT) return 0;
    return result ? result : CYRERR_IO;
}
