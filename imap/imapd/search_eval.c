/* search_eval: evaluating a SEARCH tree over the messages of the view.
 * See search.h.
 *
 * Per message, what a criterion needs is loaded on first use and kept for
 * the rest of the tree: the index record, the cache record (decoded), the
 * message file.  Records and cache records are read under a shared lock
 * held for a batch of messages; message files need no lock (they never
 * change, and no cleanup removes them while the session holds the mailbox
 * open).
 *
 * Text: FROM/TO/CC/BCC/SUBJECT search the decoded values of the cache
 * record; HEADER searches the named fields of the top-level header
 * (RFC 2047 decoded); BODY searches every text part (transfer-decoded,
 * converted from its charset) and the headers of encapsulated messages;
 * TEXT is BODY plus the top-level header.  A header without encoded words
 * and a 7-bit/8-bit text part are searched in their raw bytes when the
 * needle allows it (charset.h's fast path).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "times.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/imapd/search.h"
#include "imap/store/charset.h"
#include "imap/store/mailbox.h"
#include "imap/store/message.h"
#include "imap/store/message_section.h"
#include "imap/store/msgcache.h"

/* ---- preparing ------------------------------------------------------------- */

static int leaf_cost(const struct search_node *n)
{
    switch (n->op) {
    case SEARCH_ALL:
    case SEARCH_SEQSET:
    case SEARCH_UIDSET:
    case SEARCH_FLAG:
    case SEARCH_KEYWORD:
    case SEARCH_RECENT:
    case SEARCH_MODSEQ:
        return SEARCH_COST_VIEW;
    case SEARCH_BEFORE:
    case SEARCH_ON:
    case SEARCH_SINCE:
    case SEARCH_LARGER:
    case SEARCH_SMALLER:
        return SEARCH_COST_RECORD;
    case SEARCH_SENTBEFORE:
    case SEARCH_SENTON:
    case SEARCH_SENTSINCE:
    case SEARCH_FIELD:
        return SEARCH_COST_CACHE;
    default:
        return SEARCH_COST_FILE;
    }
}

static int cmp_cost(const void *a, const void *b)
{
    const struct search_node *x = *(struct search_node *const *)a;
    const struct search_node *y = *(struct search_node *const *)b;
    if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
    /* among file criteria, headers before bodies */
    int bx = x->op == SEARCH_BODY || x->op == SEARCH_TEXT;
    int by = y->op == SEARCH_BODY || y->op == SEARCH_TEXT;
    return bx - by;
}

static void prepare(struct imapd_session *s, struct search_node *n, uint32_t nmsgs,
                    uint32_t maxuid)
{
    if (n->op == SEARCH_AND || n->op == SEARCH_OR || n->op == SEARCH_NOT) {
        n->cost = SEARCH_COST_VIEW;
        for (size_t i = 0; i < n->nkids; i++) {
            prepare(s, n->kids[i], nmsgs, maxuid);
            if (n->kids[i]->cost > n->cost) n->cost = n->kids[i]->cost;
        }
        if (n->nkids > 1) qsort(n->kids, n->nkids, sizeof(*n->kids), cmp_cost);
        return;
    }
    n->cost = leaf_cost(n);
    if (n->op == SEARCH_SEQSET) tok_seqset_resolve(&n->set, nmsgs, &n->resolved);
    if (n->op == SEARCH_UIDSET) tok_seqset_resolve(&n->set, maxuid, &n->resolved);
}

void search_prepare(struct imapd_session *s, struct search_node *root)
{
    uint32_t n = mailbox_view_count(s->sel.view);
    uint32_t maxuid = n ? mailbox_view_msg(s->sel.view, n)->uid : 0;
    prepare(s, root, n, maxuid);
}

/* Keyword names to bits, with the handle's current keyword list. */
static void resolve_keywords(struct mailbox *mb, struct search_node *n)
{
    if (n->op == SEARCH_KEYWORD) {
        uint32_t bit;
        n->kwbit = mailbox_keyword_bit(mb, n->name, 0, &bit) ? -1 : (int32_t)bit;
    }
    for (size_t i = 0; i < n->nkids; i++) resolve_keywords(mb, n->kids[i]);
}

/* ---- one message ------------------------------------------------------------- */

struct eval_ctx {
    struct imapd_session *s;
    struct mailbox *mb;
    uint32_t seq;
    const struct mailbox_view_msg *m;
    int have_rec, rec_err;
    struct mailbox_record rec;
    int have_cache, cache_err;
    struct buf cachebuf;
    struct msgcache *mc;
    int have_file, file_err;
    struct msgutil_file file;
    struct charset_scratch sc;
    struct buf field;            /* scratch for a decoded header value */
    int error;                   /* a store error to report (not per message) */
};

static const struct mailbox_record *get_rec(struct eval_ctx *e)
{
    if (!e->have_rec) {
        e->have_rec = 1;
        e->rec_err = msgutil_record(e->mb, e->m, &e->rec);
    }
    return e->rec_err ? NULL : &e->rec;
}

static const struct msgcache *get_cache(struct eval_ctx *e)
{
    if (!e->have_cache) {
        e->have_cache = 1;
        e->cache_err = CYRERR_NOTFOUND;
        const struct mailbox_record *rec = get_rec(e);
        if (rec) {
            e->cache_err = mailbox_read_cache(e->mb, rec, &e->cachebuf);
            if (!e->cache_err)
                e->cache_err = msgcache_decode(buf_base(&e->cachebuf), buf_len(&e->cachebuf),
                                               &e->mc);
        }
    }
    return e->cache_err ? NULL : e->mc;
}

static int get_file(struct eval_ctx *e)
{
    if (!e->have_file) {
        e->have_file = 1;
        e->file_err = msgutil_file_open(&e->file, e->mb, e->m->uid);
    }
    return e->file_err == 0;
}

static void ctx_reset(struct eval_ctx *e, uint32_t seq, const struct mailbox_view_msg *m)
{
    e->seq = seq;
    e->m = m;
    e->have_rec = e->have_cache = e->have_file = 0;
    msgcache_free(&e->mc);
    if (e->file.base) msgutil_file_release(&e->file);
}

static int day_cmp(time_t msgday, time_t day)
{
    return msgday < day ? -1 : msgday > day;
}

static int sent_day(struct eval_ctx *e, time_t *day)
{
    const struct msgcache *mc = get_cache(e);
    time_t t;
    if (!mc || msgcache_date(mc, &t) < 0) {
        /* no usable Date header: the arrival time stands in (as Cyrus) */
        const struct mailbox_record *rec = get_rec(e);
        if (!rec) return 0;
        t = (time_t)rec->internaldate;
    }
    *day = times_localday(t);
    return 1;
}

/* Is the top-level header, with encoded words decoded, a match? */
static int match_header_block(struct eval_ctx *e, const struct charset_search *nd,
                              const char *h, size_t len)
{
    if (!memmem(h, len, "=?", 2))
        return charset_search_body(nd, h, len, CHARSET_ENC_NONE, NULL, &e->sc);
    return charset_search_mimeheader(nd, h, len, &e->sc);
}

static int match_header_field(struct eval_ctx *e, const struct search_node *n)
{
    const struct mailbox_record *rec = get_rec(e);
    if (!rec || !get_file(e)) return 0;
    size_t hlen = rec->header_size <= e->file.len ? rec->header_size : e->file.len;
    size_t pos = 0, nlen = strlen(n->name);
    struct message_field f;
    while (message_header_next(e->file.base, hlen, &pos, &f)) {
        if (f.namelen != nlen || strncasecmp(f.name, n->name, nlen)) continue;
        if (charset_search_mimeheader(n->needle, f.value, f.valuelen, &e->sc)) return 1;
    }
    return 0;
}

/* BODY (with_header 0) or TEXT (1) */
static int match_text(struct eval_ctx *e, const struct search_node *n, int with_header)
{
    const struct mailbox_record *rec = get_rec(e);
    const struct msgcache *mc = get_cache(e);
    if (!rec || !mc || !get_file(e)) return 0;
    const char *base = e->file.base;
    size_t len = e->file.len < rec->size ? e->file.len : rec->size;
    size_t nspans;
    const struct message_span *sp = msgcache_spans(mc, &nspans);
    if (!nspans) return 0;

    /* the common case in one pass: a single text part, no encoded words */
    if (with_header && nspans == 1 && sp[0].kind == MESSAGE_KIND_LEAF &&
        sp[0].cte == CHARSET_ENC_NONE && !strcmp(sp[0].type, "TEXT") &&
        charset_class(sp[0].charset) != CHARSET_CLASS_OTHER &&
        sp[0].header_off == 0 && sp[0].header_len <= len &&
        !memmem(base, sp[0].header_len, "=?", 2))
        return charset_search_body(n->needle, base, len, CHARSET_ENC_NONE, sp[0].charset,
                                   &e->sc);

    for (size_t i = 0; i < nspans; i++) {
        const struct message_span *p = &sp[i];
        if (p->header_off > len || p->header_len > len - p->header_off ||
            p->body_off > len || p->body_len > len - p->body_off)
            continue;
        /* headers: the top-level one for TEXT, encapsulated messages' always */
        if ((p->flags & MESSAGE_PART_MESSAGE) && (i > 0 || with_header) && p->header_len &&
            match_header_block(e, n->needle, base + p->header_off, p->header_len))
            return 1;
        if (p->kind != MESSAGE_KIND_LEAF || strcmp(p->type, "TEXT")) continue;
        if (charset_search_body(n->needle, base + p->body_off, p->body_len, p->cte,
                                p->charset, &e->sc))
            return 1;
    }
    return 0;
}

static int eval(struct eval_ctx *e, const struct search_node *n)
{
    const struct mailbox_view_msg *m = e->m;
    const struct mailbox_record *rec;
    time_t day;
    switch (n->op) {
    case SEARCH_ALL:
        return 1;
    case SEARCH_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!eval(e, n->kids[i])) return 0;
        return 1;
    case SEARCH_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (eval(e, n->kids[i])) return 1;
        return 0;
    case SEARCH_NOT:
        return n->nkids ? !eval(e, n->kids[0]) : 0;
    case SEARCH_SEQSET:
        return tok_seqset_contains(&n->resolved, e->seq, 0);
    case SEARCH_UIDSET:
        return tok_seqset_contains(&n->resolved, m->uid, 0);
    case SEARCH_FLAG:
        return ((imapd_msg_flags(e->s, m) & n->flag) != 0) == n->want;
    case SEARCH_KEYWORD: {
        int has = n->kwbit >= 0 &&
                  (m->user_flags[n->kwbit / 32] & (1u << (n->kwbit % 32))) != 0;
        return has == n->want;
    }
    case SEARCH_RECENT:
        return (imapd_msg_recent(e->s, m->uid) != 0) == n->want;
    case SEARCH_MODSEQ:
        return m->modseq >= n->num;
    case SEARCH_BEFORE:
    case SEARCH_ON:
    case SEARCH_SINCE:
        rec = get_rec(e);
        if (!rec) return 0;
        day = times_localday((time_t)rec->internaldate);
        if (n->op == SEARCH_BEFORE) return day_cmp(day, n->day) < 0;
        if (n->op == SEARCH_ON) return day_cmp(day, n->day) == 0;
        return day_cmp(day, n->day) >= 0;
    case SEARCH_LARGER:
    case SEARCH_SMALLER:
        rec = get_rec(e);
        if (!rec) return 0;
        return n->op == SEARCH_LARGER ? rec->size > n->num : rec->size < n->num;
    case SEARCH_SENTBEFORE:
    case SEARCH_SENTON:
    case SEARCH_SENTSINCE:
        if (!sent_day(e, &day)) return 0;
        if (n->op == SEARCH_SENTBEFORE) return day_cmp(day, n->day) < 0;
        if (n->op == SEARCH_SENTON) return day_cmp(day, n->day) == 0;
        return day_cmp(day, n->day) >= 0;
    case SEARCH_FIELD: {
        const struct msgcache *mc = get_cache(e);
        if (!mc) return 0;
        size_t len;
        const char *v = msgcache_field(mc, n->field, &len);
        if (!v) return 0;
        return charset_search_body(n->needle, v, len, CHARSET_ENC_NONE, "UTF-8", &e->sc);
    }
    case SEARCH_HEADER:
        return match_header_field(e, n);
    case SEARCH_BODY:
        return match_text(e, n, 0);
    case SEARCH_TEXT:
        return match_text(e, n, 1);
    }
    return 0;
}

/* ---- the run ------------------------------------------------------------------- */

#define EVAL_BATCH 512

static void add_result(struct imapd_msglist *out, uint32_t seq)
{
    if (out->count == out->alloc) {
        out->alloc = out->alloc ? out->alloc * 2 : 256;
        out->seq = xreallocarray(out->seq, out->alloc, sizeof(*out->seq));
    }
    out->seq[out->count++] = seq;
}

int search_run(struct imapd_session *s, struct search_node *root, struct imapd_msglist *out,
               uint64_t *maxmodseq)
{
    out->count = 0;
    if (maxmodseq) *maxmodseq = 0;
    struct eval_ctx e;
    memset(&e, 0, sizeof(e));
    e.s = s;
    e.mb = s->sel.mb;
    e.file = (struct msgutil_file)MSGUTIL_FILE_INITIALIZER;
    e.sc = (struct charset_scratch)CHARSET_SCRATCH_INITIALIZER;
    uint32_t n = mailbox_view_count(s->sel.view);
    /* criteria of the view alone need the lock only to name keywords */
    uint32_t batch = root->cost > SEARCH_COST_VIEW ? EVAL_BATCH : UINT32_MAX;
    int r = 0;

    for (uint32_t start = 1; start <= n && !r;) {
        uint32_t end = n - start >= batch ? start + batch - 1 : n;
        r = mailbox_lock(e.mb, MAILBOX_LOCK_SHARED);
        if (r) break;
        resolve_keywords(e.mb, root);
        if (batch == UINT32_MAX) mailbox_unlock(e.mb);
        for (uint32_t seq = start; seq <= end; seq++) {
            const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, seq);
            if (m->system_flags & MAILBOX_FLAG_EXPUNGED) continue;
            ctx_reset(&e, seq, m);
            if (eval(&e, root)) {
                add_result(out, seq);
                if (maxmodseq && m->modseq > *maxmodseq) *maxmodseq = m->modseq;
            }
        }
        ctx_reset(&e, 0, NULL);
        if (batch != UINT32_MAX) mailbox_unlock(e.mb);
        if (end == n) break;
        start = end + 1;
    }
    msgcache_free(&e.mc);
    buf_free(&e.cachebuf);
    buf_free(&e.field);
    msgutil_file_fini(&e.file);
    charset_scratch_free(&e.sc);
    return r;
}
