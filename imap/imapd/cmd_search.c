/* cmd_search: SEARCH and UID SEARCH (RFC 3501 6.4.4), with ESEARCH's
 * RETURN options (RFC 4731) and the CONDSTORE MODSEQ criterion (RFC 7162
 * 3.1.5).  This file reads the criteria into a tree (search.h) and sends
 * the answer; search_eval.c evaluates the tree.
 *
 * Keys: ALL, ANSWERED, BCC, BEFORE, BODY, CC, DELETED, DRAFT, FLAGGED,
 * FROM, HEADER, KEYWORD, LARGER, MODSEQ, NEW, NOT, OLD, ON, OR, RECENT,
 * SEEN, SENTBEFORE, SENTON, SENTSINCE, SINCE, SMALLER, SUBJECT, TEXT, TO,
 * UID, UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNKEYWORD, UNSEEN, a
 * sequence set, and parenthesised groups.  Strings are astrings (quoted
 * strings may carry 8-bit text here, literals always may).  CHARSET names
 * any charset the C library's iconv knows; the strings are converted to
 * UTF-8 before they are compiled; an unknown one is NO [BADCHARSET].
 * Nesting and the number of keys are bounded by the session's limits
 * (maxdepth, maxitems).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "times.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/imapd/search.h"
#include "imap/store/acl.h"
#include "imap/store/charset.h"
#include "imap/store/mailbox.h"

/* ---- the tree ------------------------------------------------------------- */

struct search_node *search_node_new(enum search_op op)
{
    struct search_node *n = xzmalloc(sizeof(*n));
    n->op = op;
    n->kwbit = -1;
    n->set = (struct tok_seqset)TOK_SEQSET_INITIALIZER;
    n->resolved = (struct tok_seqset)TOK_SEQSET_INITIALIZER;
    return n;
}

void search_node_add(struct search_node *parent, struct search_node *kid)
{
    if (parent->nkids == parent->akids) {
        parent->akids = parent->akids ? parent->akids * 2 : 4;
        parent->kids = xreallocarray(parent->kids, parent->akids, sizeof(*parent->kids));
    }
    parent->kids[parent->nkids++] = kid;
}

void search_node_free(struct search_node **np)
{
    struct search_node *n = *np;
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) search_node_free(&n->kids[i]);
    free(n->kids);
    free(n->name);
    charset_search_free(&n->needle);
    tok_seqset_free(&n->set);
    tok_seqset_free(&n->resolved);
    free(n);
    *np = NULL;
}

/* ---- parsing ----------------------------------------------------------------- */

struct search_parser {
    struct imapd_session *s;
    char *charset;               /* NULL: US-ASCII / UTF-8 */
    size_t nodes;
    int uses_modseq;
    struct buf word;
};

static const struct {
    const char *name;
    uint32_t flag;
    int want;
} flag_keys[] = {
    { "ANSWERED", MAILBOX_FLAG_ANSWERED, 1 }, { "UNANSWERED", MAILBOX_FLAG_ANSWERED, 0 },
    { "DELETED", MAILBOX_FLAG_DELETED, 1 },   { "UNDELETED", MAILBOX_FLAG_DELETED, 0 },
    { "DRAFT", MAILBOX_FLAG_DRAFT, 1 },       { "UNDRAFT", MAILBOX_FLAG_DRAFT, 0 },
    { "FLAGGED", MAILBOX_FLAG_FLAGGED, 1 },   { "UNFLAGGED", MAILBOX_FLAG_FLAGGED, 0 },
    { "SEEN", MAILBOX_FLAG_SEEN, 1 },         { "UNSEEN", MAILBOX_FLAG_SEEN, 0 },
};

static const struct {
    const char *name;
    enum msgcache_field field;
} field_keys[] = {
    { "FROM", MSGCACHE_FROM }, { "TO", MSGCACHE_TO }, { "CC", MSGCACHE_CC },
    { "BCC", MSGCACHE_BCC },   { "SUBJECT", MSGCACHE_SUBJECT },
};

static const struct {
    const char *name;
    enum search_op op;
} date_keys[] = {
    { "BEFORE", SEARCH_BEFORE },         { "ON", SEARCH_ON },
    { "SINCE", SEARCH_SINCE },           { "SENTBEFORE", SEARCH_SENTBEFORE },
    { "SENTON", SEARCH_SENTON },         { "SENTSINCE", SEARCH_SENTSINCE },
};

/* A search string (astring), converted to UTF-8 and compiled. */
static int read_needle(struct search_parser *sp, struct charset_search **out)
{
    int c = tok_astring(&sp->s->tp, &sp->word);
    if (c < 0) return c;
    if (sp->charset) {
        struct buf u = BUF_INITIALIZER;
        if (charset_to_utf8(sp->charset, buf_base(&sp->word), buf_len(&sp->word), &u) < 0) {
            buf_free(&u);
            return imapd_syntax(sp->s, "Cannot convert the search string");
        }
        *out = charset_search_new(buf_base(&u), buf_len(&u), CHARSET_SEARCH_MERGESPACE);
        buf_free(&u);
    } else {
        *out = charset_search_new(buf_base(&sp->word), buf_len(&sp->word),
                                  CHARSET_SEARCH_MERGESPACE);
    }
    return c;
}

static int read_date(struct search_parser *sp, time_t *day)
{
    int c = tok_astring(&sp->s->tp, &sp->word);
    if (c < 0) return c;
    if (times_parse_searchdate(buf_cstring(&sp->word), day) < 0)
        return imapd_syntax(sp->s, "Invalid search date");
    return c;
}

static int parse_key(struct search_parser *sp, struct search_node **out, unsigned depth);

/* Keys separated by SP up to ")" (inside a group) or the end of the line;
 * added to `and`.  Returns the character that ended the list. */
static int parse_keys(struct search_parser *sp, struct search_node *and, unsigned depth,
                      int in_group)
{
    for (;;) {
        struct search_node *kid = NULL;
        int c = parse_key(sp, &kid, depth);
        if (kid) search_node_add(and, kid);
        if (c < 0) return c;
        if (in_group && c == ')') return c;
        if (!in_group && (c == '\r' || c == '\n')) return c;
        if (c != ' ') return imapd_syntax(sp->s, "Invalid search criteria");
    }
}

/* The argument after a key name: the name must have ended with SP. */
#define NEED_ARG()                                                          \
    do {                                                                    \
        if (c != ' ') return imapd_syntax(s, "Missing argument to %s", key); \
    } while (0)

static int parse_named_key(struct search_parser *sp, const char *key, int c,
                           struct search_node **out, unsigned depth)
{
    struct imapd_session *s = sp->s;
    struct search_node *n = NULL;

    if (!strcasecmp(key, "ALL")) {
        *out = search_node_new(SEARCH_ALL);
        return c;
    }
    for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++)
        if (!strcasecmp(key, flag_keys[i].name)) {
            n = *out = search_node_new(SEARCH_FLAG);
            n->flag = flag_keys[i].flag;
            n->want = flag_keys[i].want;
            return c;
        }
    if (!strcasecmp(key, "RECENT") || !strcasecmp(key, "OLD")) {
        n = *out = search_node_new(SEARCH_RECENT);
        n->want = !strcasecmp(key, "RECENT");
        return c;
    }
    if (!strcasecmp(key, "NEW")) {   /* RECENT UNSEEN */
        n = *out = search_node_new(SEARCH_AND);
        struct search_node *k = search_node_new(SEARCH_RECENT);
        k->want = 1;
        search_node_add(n, k);
        k = search_node_new(SEARCH_FLAG);
        k->flag = MAILBOX_FLAG_SEEN;
        search_node_add(n, k);
        return c;
    }
    if (!strcasecmp(key, "KEYWORD") || !strcasecmp(key, "UNKEYWORD")) {
        NEED_ARG();
        c = tok_atom(&s->tp, TOK_CS_ATOM, &sp->word);
        if (c < 0) return c;
        n = *out = search_node_new(SEARCH_KEYWORD);
        n->want = !strcasecmp(key, "KEYWORD");
        n->name = xstrdup(buf_cstring(&sp->word));
        return c;
    }
    for (size_t i = 0; i < sizeof(field_keys) / sizeof(field_keys[0]); i++)
        if (!strcasecmp(key, field_keys[i].name)) {
            NEED_ARG();
            n = *out = search_node_new(SEARCH_FIELD);
            n->field = field_keys[i].field;
            return read_needle(sp, &n->needle);
        }
    if (!strcasecmp(key, "BODY") || !strcasecmp(key, "TEXT")) {
        NEED_ARG();
        n = *out = search_node_new(!strcasecmp(key, "BODY") ? SEARCH_BODY : SEARCH_TEXT);
        return read_needle(sp, &n->needle);
    }
    if (!strcasecmp(key, "HEADER")) {
        NEED_ARG();
        c = tok_astring(&s->tp, &sp->word);
        if (c < 0) return c;
        if (c != ' ') return imapd_syntax(s, "Missing argument to HEADER");
        char *name = xstrdup(buf_cstring(&sp->word));
        /* the fields the cache holds decoded are read from there */
        for (size_t i = 0; i < sizeof(field_keys) / sizeof(field_keys[0]); i++)
            if (!strcasecmp(name, field_keys[i].name)) {
                n = *out = search_node_new(SEARCH_FIELD);
                n->field = field_keys[i].field;
                free(name);
                name = NULL;
                break;
            }
        if (name) {
            n = *out = search_node_new(SEARCH_HEADER);
            n->name = name;
        }
        return read_needle(sp, &n->needle);
    }
    for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++)
        if (!strcasecmp(key, date_keys[i].name)) {
            NEED_ARG();
            n = *out = search_node_new(date_keys[i].op);
            return read_date(sp, &n->day);
        }
    if (!strcasecmp(key, "LARGER") || !strcasecmp(key, "SMALLER")) {
        NEED_ARG();
        n = *out = search_node_new(!strcasecmp(key, "LARGER") ? SEARCH_LARGER : SEARCH_SMALLER);
        return tok_uint64(&s->tp, &n->num);
    }
    if (!strcasecmp(key, "MODSEQ")) {
        NEED_ARG();
        /* MODSEQ [entry-name entry-type-req] mod-sequence-valzer */
        int d = tok_getc(&s->tp);
        if (d < 0) return d;
        tok_ungetc(&s->tp, d);
        if (d == '"') {
            c = tok_astring(&s->tp, &sp->word);
            if (c < 0) return c;
            if (c != ' ') return imapd_syntax(s, "Invalid MODSEQ criterion");
            c = tok_atom(&s->tp, TOK_CS_ATOM, &sp->word);
            if (c < 0) return c;
            if (c != ' ' || (strcasecmp(buf_cstring(&sp->word), "priv") &&
                             strcasecmp(buf_cstring(&sp->word), "shared") &&
                             strcasecmp(buf_cstring(&sp->word), "all")))
                return imapd_syntax(s, "Invalid MODSEQ criterion");
        }
        n = *out = search_node_new(SEARCH_MODSEQ);
        sp->uses_modseq = 1;
        return tok_uint64(&s->tp, &n->num);
    }
    if (!strcasecmp(key, "UID")) {
        NEED_ARG();
        n = *out = search_node_new(SEARCH_UIDSET);
        return tok_seqset(&s->tp, 0, &n->set);
    }
    if (!strcasecmp(key, "NOT")) {
        NEED_ARG();
        n = *out = search_node_new(SEARCH_NOT);
        struct search_node *k = NULL;
        c = parse_key(sp, &k, depth + 1);
        if (k) search_node_add(n, k);
        return c;
    }
    if (!strcasecmp(key, "OR")) {
        NEED_ARG();
        n = *out = search_node_new(SEARCH_OR);
        for (int i = 0; i < 2; i++) {
            struct search_node *k = NULL;
            c = parse_key(sp, &k, depth + 1);
            if (k) search_node_add(n, k);
            if (c < 0) return c;
            if (i == 0 && c != ' ') return imapd_syntax(s, "Missing argument to OR");
        }
        return c;
    }
    return imapd_syntax(s, "Invalid search key %s", key);
}

static int parse_key(struct search_parser *sp, struct search_node **out, unsigned depth)
{
    struct imapd_session *s = sp->s;
    *out = NULL;
    if (depth > s->tp.limits.maxdepth) return imapd_syntax(s, "Search criteria nested too deeply");
    if (++sp->nodes > s->tp.limits.maxitems) return imapd_syntax(s, "Too many search criteria");
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c == '(') {
        struct search_node *and = *out = search_node_new(SEARCH_AND);
        c = parse_keys(sp, and, depth + 1, 1);
        if (c < 0) return c;
        return tok_getc(&s->tp);   /* after ")" */
    }
    tok_ungetc(&s->tp, c);
    if ((c >= '0' && c <= '9') || c == '*') {
        struct search_node *n = *out = search_node_new(SEARCH_SEQSET);
        return tok_seqset(&s->tp, 0, &n->set);
    }
    c = tok_atom(&s->tp, TOK_CS_ATOM, &sp->word);
    if (c < 0) return c;
    char *key = xstrdup(buf_cstring(&sp->word));
    c = parse_named_key(sp, key, c, out, depth);
    free(key);
    return c;
}

/* ---- ESEARCH RETURN options ------------------------------------------------------ */

#define RET_MIN   0x01
#define RET_MAX   0x02
#define RET_ALL   0x04
#define RET_COUNT 0x08

static int parse_return(struct search_parser *sp, unsigned *ret)
{
    struct imapd_session *s = sp->s;
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c != '(') return imapd_syntax(s, "Invalid RETURN options");
    c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c == ')') {
        *ret = RET_ALL;
        return tok_getc(&s->tp);
    }
    tok_ungetc(&s->tp, c);
    for (;;) {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &sp->word);
        if (c < 0) return c;
        const char *w = buf_cstring(&sp->word);
        if (!strcasecmp(w, "MIN")) *ret |= RET_MIN;
        else if (!strcasecmp(w, "MAX")) *ret |= RET_MAX;
        else if (!strcasecmp(w, "ALL")) *ret |= RET_ALL;
        else if (!strcasecmp(w, "COUNT")) *ret |= RET_COUNT;
        else return imapd_syntax(s, "Unknown RETURN option %s", w);
        if (c == ')') return tok_getc(&s->tp);
        if (c != ' ') return imapd_syntax(s, "Invalid RETURN options");
    }
}

/* [RETURN (...) SP] [CHARSET x SP] keys EOL */
static int parse_search(struct search_parser *sp, struct search_node *root, int *esearch,
                        unsigned *ret, int *badcharset)
{
    struct imapd_session *s = sp->s;
    for (int leading = 0; leading < 2; leading++) {
        int c = tok_getc(&s->tp);
        if (c < 0) return c;
        tok_ungetc(&s->tp, c);
        if (c != 'r' && c != 'R' && c != 'c' && c != 'C') break;
        c = tok_atom(&s->tp, TOK_CS_ATOM, &sp->word);
        if (c < 0) return c;
        const char *w = buf_cstring(&sp->word);
        if (!*esearch && !sp->charset && !strcasecmp(w, "RETURN")) {
            if (c != ' ') return imapd_syntax(s, "Missing RETURN options");
            *esearch = 1;
            c = parse_return(sp, ret);
            if (c < 0) return c;
            if (c != ' ') return imapd_syntax(s, "Missing search criteria");
            continue;
        }
        if (!sp->charset && !strcasecmp(w, "CHARSET")) {
            if (c != ' ') return imapd_syntax(s, "Missing charset");
            c = tok_astring(&s->tp, &sp->word);
            if (c < 0) return c;
            if (c != ' ') return imapd_syntax(s, "Missing search criteria");
            const char *cs = buf_cstring(&sp->word);
            if (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "US-ASCII") ||
                !strcasecmp(cs, "UTF8"))
                ;   /* strings are taken as they are */
            else if (charset_is_known(cs))
                sp->charset = xstrdup(cs);
            else
                *badcharset = 1;   /* answered once the line is read */
            leading = 1;   /* RETURN cannot follow CHARSET */
            continue;
        }
        /* a key that starts with one of those letters (CC, ...) */
        char *key = xstrdup(w);
        struct search_node *kid = NULL;
        c = parse_named_key(sp, key, c, &kid, 1);
        free(key);
        if (kid) search_node_add(root, kid);
        if (c < 0) return c;
        if (c == '\r' || c == '\n') return c;
        if (c != ' ') return imapd_syntax(s, "Invalid search criteria");
        return parse_keys(sp, root, 1, 0);
    }
    return parse_keys(sp, root, 1, 0);
}

/* ---- answering ------------------------------------------------------------------- */

static void send_search(struct imapd_session *s, const struct imapd_cmdctx *cmd,
                        const struct imapd_msglist *res, int modseq, uint64_t maxmodseq)
{
    struct buf out = BUF_INITIALIZER;
    buf_appendcstr(&out, "* SEARCH");
    for (size_t i = 0; i < res->count; i++) {
        uint32_t v = res->seq[i];
        if (cmd->uid) v = mailbox_view_msg(s->sel.view, v)->uid;
        buf_printf(&out, " %u", v);
        if (buf_len(&out) > 16384) {
            prot_write(s->prot, buf_base(&out), buf_len(&out));
            buf_reset(&out);
        }
    }
    if (modseq && res->count) buf_printf(&out, " (MODSEQ %llu)", (unsigned long long)maxmodseq);
    buf_appendcstr(&out, "\r\n");
    prot_write(s->prot, buf_base(&out), buf_len(&out));
    buf_free(&out);
}

static void send_esearch(struct imapd_session *s, const struct imapd_cmdctx *cmd,
                         const struct imapd_msglist *res, unsigned ret, int modseq,
                         uint64_t maxmodseq)
{
    struct buf out = BUF_INITIALIZER;
    uint32_t *v = xmalloc((res->count ? res->count : 1) * sizeof(*v));
    for (size_t i = 0; i < res->count; i++)
        v[i] = cmd->uid ? mailbox_view_msg(s->sel.view, res->seq[i])->uid : res->seq[i];
    buf_appendcstr(&out, "* ESEARCH (TAG ");
    imapd_buf_string(s, &out, cmd->tag);
    buf_putc(&out, ')');
    if (cmd->uid) buf_appendcstr(&out, " UID");
    if (res->count) {
        if (ret & RET_MIN) buf_printf(&out, " MIN %u", v[0]);
        if (ret & RET_MAX) buf_printf(&out, " MAX %u", v[res->count - 1]);
    }
    if (ret & RET_COUNT) buf_printf(&out, " COUNT %zu", res->count);
    if ((ret & RET_ALL) && res->count) {
        buf_appendcstr(&out, " ALL ");
        msgutil_format_uids(v, res->count, &out);
    }
    if (modseq && res->count)
        buf_printf(&out, " MODSEQ %llu", (unsigned long long)maxmodseq);
    buf_appendcstr(&out, "\r\n");
    prot_write(s->prot, buf_base(&out), buf_len(&out));
    buf_free(&out);
    free(v);
}

int imapd_cmd_search(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct search_parser sp = { s, NULL, 0, 0, BUF_INITIALIZER };
    struct search_node *root = search_node_new(SEARCH_AND);
    struct imapd_msglist res = IMAPD_MSGLIST_INITIALIZER;
    int esearch = 0, badcharset = 0;
    unsigned ret = 0;
    int r;

    if (cmd->c != ' ') {
        r = imapd_syntax(s, "Missing search criteria");
        goto done;
    }
    unsigned saved = s->tp.flags;
    s->tp.flags |= TOK_F_8BIT;
    r = imapd_eol(s, parse_search(&sp, root, &esearch, &ret, &badcharset));
    s->tp.flags = saved;
    if (r < 0) goto done;
    if (badcharset) {
        r = imapd_no(s, "BADCHARSET (US-ASCII UTF-8)", "Unknown charset");
        goto done;
    }
    r = imapd_check_selected_rights(s, ACL_READ);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto done;
    }
    if (sp.uses_modseq) imapd_enable_condstore(s, IMAPD_EN_CONDSTORE);
    uint64_t maxmodseq = 0;
    search_prepare(s, root);
    r = search_run(s, root, &res, &maxmodseq);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto done;
    }
    if (esearch) send_esearch(s, cmd, &res, ret, sp.uses_modseq, maxmodseq);
    else send_search(s, cmd, &res, sp.uses_modseq, maxmodseq);
    r = imapd_ok(s, NULL, "Completed");
done:
    search_node_free(&root);
    imapd_msglist_free(&res);
    free(sp.charset);
    buf_free(&sp.word);
    return r;
}
