/* message_address: RFC 5322 address lists, leniently.  See message.h.
 *
 * The parser reads a token stream (atoms, quoted strings, comments, domain
 * literals, specials) and recognises, per element: "phrase <route:addr>",
 * "local@domain (comment)", "phrase: members;" groups, and a bare word
 * (a mailbox without a domain).  Display names keep their encoded words
 * (ENVELOPE returns them raw); quoted strings in them lose their quotes;
 * a comment serves as the name when there is no phrase, as Cyrus does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap/store/message.h"
#include "xmalloc.h"

enum tok_type { T_EOF, T_ATOM, T_QSTR, T_COMMENT, T_DLIT, T_SPECIAL };

struct token {
    enum tok_type type;
    const char *p;     /* content: inside the quotes / parentheses */
    size_t n;
    char c;            /* T_SPECIAL: the character */
    int space;         /* white space (or a comment) came before it */
};

struct lexer {
    const char *s;
    size_t len, pos;
};

static int is_special(char c)
{
    return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void next_token(struct lexer *lx, struct token *t)
{
    const char *s = lx->s;
    size_t i = lx->pos, n = lx->len;
    t->space = 0;
    t->c = 0;
    while (i < n && (is_space(s[i]) || s[i] == '\0')) {
        i++;
        t->space = 1;
    }
    if (i >= n) {
        t->type = T_EOF;
        lx->pos = n;
        return;
    }
    char c = s[i];
    if (c == '(') {
        int depth = 0;
        size_t start = i + 1;
        for (; i < n; i++) {
            if (s[i] == '\\' && i + 1 < n) { i++; continue; }
            if (s[i] == '(') depth++;
            else if (s[i] == ')' && --depth == 0) break;
        }
        t->type = T_COMMENT;
        t->p = s + start;
        t->n = (i < n ? i : n) - start;
        lx->pos = i < n ? i + 1 : n;
        return;
    }
    if (c == '"') {
        size_t start = ++i;
        for (; i < n && s[i] != '"'; i++)
            if (s[i] == '\\' && i + 1 < n) i++;
        t->type = T_QSTR;
        t->p = s + start;
        t->n = (i < n ? i : n) - start;
        lx->pos = i < n ? i + 1 : n;
        return;
    }
    if (c == '[') {
        size_t start = i;
        while (i < n && s[i] != ']') i++;
        if (i < n) i++;
        t->type = T_DLIT;
        t->p = s + start;
        t->n = i - start;
        lx->pos = i;
        return;
    }
    if (is_special(c)) {
        t->type = T_SPECIAL;
        t->c = c;
        t->p = s + i;
        t->n = 1;
        lx->pos = i + 1;
        return;
    }
    size_t start = i;
    while (i < n && !is_space(s[i]) && !is_special(s[i]) && s[i] != '\0') i++;
    t->type = T_ATOM;
    t->p = s + start;
    t->n = i - start;
    lx->pos = i;
}

static void peek_token(const struct lexer *lx, struct token *t)
{
    struct lexer copy = *lx;
    next_token(&copy, t);
}

/* Append text with quoted-pairs resolved. */
static void append_unescaped(struct buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) i++;
        if (p[i] == '\r' || p[i] == '\n') continue;
        buf_putc(b, p[i]);
    }
}

struct builder {
    struct message_address *head, **tail;
};

static void emit(struct builder *bd, const struct buf *name, const char *route,
                 const char *mailbox, const char *domain)
{
    struct message_address *a = xzmalloc(sizeof(*a));
    a->name = name && buf_len(name) ? xstrdup(buf_cstring(name)) : NULL;
    a->route = route ? xstrdup(route) : NULL;
    a->mailbox = xstrdupnull(mailbox);
    a->domain = xstrdupnull(domain);
    *bd->tail = a;
    bd->tail = &a->next;
}

/* State of one element being read. */
struct elem {
    struct buf phrase;    /* display name words */
    struct buf local;     /* the same words, raw, as a local part */
    struct buf comment;   /* first comment */
    int have_comment;
};

static void elem_word(struct elem *e, const struct token *t)
{
    if (t->space && buf_len(&e->phrase)) buf_putc(&e->phrase, ' ');
    if (t->type == T_QSTR) {
        append_unescaped(&e->phrase, t->p, t->n);
        buf_putc(&e->local, '"');
        buf_appendmap(&e->local, t->p, t->n);
        buf_putc(&e->local, '"');
    } else {
        buf_appendmap(&e->phrase, t->p, t->n);
        buf_appendmap(&e->local, t->p, t->n);
    }
}

static void elem_comment(struct elem *e, const struct token *t)
{
    if (e->have_comment) return;
    e->have_comment = 1;
    struct buf tmp = BUF_INITIALIZER;
    append_unescaped(&tmp, t->p, t->n);
    message_unfold(buf_base(&tmp), buf_len(&tmp), &e->comment);
    buf_free(&tmp);
}

/* The name of an element: its phrase, else its first comment. */
static const struct buf *elem_name(const struct elem *e)
{
    return buf_len(&e->phrase) ? &e->phrase : &e->comment;
}

/* Read a domain (atoms, dots, literals) up to a delimiter. */
static void read_domain(struct lexer *lx, struct elem *e, struct buf *dom)
{
    struct token t;
    for (;;) {
        peek_token(lx, &t);
        if (t.type == T_ATOM || t.type == T_DLIT ||
            (t.type == T_SPECIAL && t.c == '.')) {
            buf_appendmap(dom, t.p, t.n);
        } else if (t.type == T_COMMENT) {
            elem_comment(e, &t);
        } else {
            return;
        }
        next_token(lx, &t);
    }
}

/* After "<": [route ":"] local "@" domain ">" */
static void read_angle(struct lexer *lx, struct elem *e, struct buf *route,
                       struct buf *local, struct buf *dom)
{
    struct token t;
    peek_token(lx, &t);
    if (t.type == T_SPECIAL && t.c == '@') {
        /* obsolete route: "@a,@b:" */
        while (1) {
            next_token(lx, &t);
            if (t.type == T_EOF || (t.type == T_SPECIAL &&
                                    (t.c == ':' || t.c == '>')))
                break;
            if (t.type == T_COMMENT) continue;
            buf_appendmap(route, t.p, t.n);
        }
        if (t.type != T_SPECIAL || t.c != ':') {
            /* no colon after all: it was "<@domain>" */
            buf_reset(route);
            return;
        }
    }
    for (;;) {
        next_token(lx, &t);
        if (t.type == T_EOF) return;
        if (t.type == T_SPECIAL && t.c == '>') return;
        if (t.type == T_SPECIAL && t.c == '@') {
            read_domain(lx, e, dom);
            continue;
        }
        if (t.type == T_COMMENT) {
            elem_comment(e, &t);
        } else if (t.type == T_QSTR) {
            buf_putc(local, '"');
            buf_appendmap(local, t.p, t.n);
            buf_putc(local, '"');
        } else if (t.type == T_ATOM || t.type == T_DLIT ||
                   (t.type == T_SPECIAL && t.c == '.')) {
            if (buf_len(dom)) continue;          /* junk after the domain */
            buf_appendmap(local, t.p, t.n);
        }
        /* anything else inside <> is ignored */
    }
}

/* Skip to the end of the element (",", ";" or the end), picking up a
 * comment to serve as the name. */
static void skip_rest(struct lexer *lx, struct elem *e)
{
    struct token t;
    for (;;) {
        peek_token(lx, &t);
        if (t.type == T_EOF ||
            (t.type == T_SPECIAL && (t.c == ',' || t.c == ';')))
            return;
        if (t.type == T_COMMENT) elem_comment(e, &t);
        next_token(lx, &t);
    }
}

/* Read one element.  Returns 1 when it opened a group. */
static int read_element(struct lexer *lx, struct builder *bd, int in_group)
{
    struct elem e = { BUF_INITIALIZER, BUF_INITIALIZER, BUF_INITIALIZER, 0 };
    struct buf route = BUF_INITIALIZER, local = BUF_INITIALIZER;
    struct buf dom = BUF_INITIALIZER;
    int opened = 0;
    struct token t;

    for (;;) {
        peek_token(lx, &t);
        if (t.type == T_EOF ||
            (t.type == T_SPECIAL && (t.c == ',' || t.c == ';'))) {
            if (buf_len(&e.local))
                emit(bd, &e.comment, NULL, buf_cstring(&e.local),
                     MESSAGE_UNSPECIFIED_DOMAIN);
            break;
        }
        next_token(lx, &t);
        if (t.type == T_ATOM || t.type == T_QSTR || t.type == T_DLIT ||
            (t.type == T_SPECIAL && t.c == '.')) {
            elem_word(&e, &t);
        } else if (t.type == T_COMMENT) {
            elem_comment(&e, &t);
        } else if (t.c == '<') {
            read_angle(lx, &e, &route, &local, &dom);
            skip_rest(lx, &e);
            if (buf_len(&local) || buf_len(&dom) || buf_len(elem_name(&e)))
                emit(bd, elem_name(&e),
                     buf_len(&route) ? buf_cstring(&route) : NULL,
                     buf_cstring(&local),
                     buf_len(&dom) ? buf_cstring(&dom)
                                   : MESSAGE_UNSPECIFIED_DOMAIN);
            break;
        } else if (t.c == ':' && !in_group) {
            emit(bd, NULL, NULL, buf_cstring(&e.phrase), NULL);
            opened = 1;
            break;
        } else if (t.c == '@') {
            read_domain(lx, &e, &dom);
            skip_rest(lx, &e);
            emit(bd, &e.comment, NULL, buf_cstring(&e.local),
                 buf_len(&dom) ? buf_cstring(&dom)
                               : MESSAGE_UNSPECIFIED_DOMAIN);
            break;
        }
        /* stray specials (">", ")", "]", "\", ":" in a group) are
         * ignored */
    }
    buf_free(&e.phrase);
    buf_free(&e.local);
    buf_free(&e.comment);
    buf_free(&route);
    buf_free(&local);
    buf_free(&dom);
    return opened;
}

struct message_address *message_address_parse(const char *s, size_t len)
{
    struct builder bd = { NULL, &bd.head };
    struct lexer lx = { s, len, 0 };
    int in_group = 0;
    struct token t;
    for (;;) {
        peek_token(&lx, &t);
        if (t.type == T_EOF) break;
        if (t.type == T_SPECIAL && t.c == ',') {
            next_token(&lx, &t);
            continue;
        }
        if (t.type == T_SPECIAL && t.c == ';') {
            next_token(&lx, &t);
            if (in_group) emit(&bd, NULL, NULL, NULL, NULL);
            in_group = 0;
            continue;
        }
        size_t before = lx.pos;
        if (read_element(&lx, &bd, in_group)) in_group = 1;
        if (lx.pos == before) next_token(&lx, &t);   /* always progress */
    }
    if (in_group) emit(&bd, NULL, NULL, NULL, NULL);
    return bd.head;
}

void message_address_free(struct message_address **ap)
{
    struct message_address *a = *ap;
    while (a) {
        struct message_address *next = a->next;
        free(a->name);
        free(a->route);
        free(a->mailbox);
        free(a->domain);
        free(a);
        a = next;
    }
    *ap = NULL;
}
