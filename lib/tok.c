/* tok: IMAP-style token reader and writer.  See tok.h. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "prot.h"
#include "tok.h"
#include "xmalloc.h"

/* Quoted strings written out are at most this long; longer text becomes a
 * literal so that a peer's maxquoted never bites. */
#define TOK_QUOTED_MAX 1024
/* Literal data is read into memory in chunks of at most this size, so a
 * lying size never allocates more than what actually arrived (plus one). */
#define TOK_CHUNK 65536

void tok_limits_default(struct tok_limits *lim)
{
    lim->maxword = 131072;
    lim->maxliteral = 1024 * 1024;
    lim->maxswallow = 64 * 1024 * 1024;
    lim->maxdepth = 32;
    lim->maxitems = 100000;
    lim->maxline = 65536;
}

void tok_parser_init(struct tok_parser *tp, struct prot *in,
                     const struct tok_limits *limits)
{
    memset(tp, 0, sizeof(*tp));
    tp->in = in;
    if (limits) tp->limits = *limits;
    else tok_limits_default(&tp->limits);
    tp->last = '\n';
}

void tok_set_literal_cb(struct tok_parser *tp, tok_literal_cb *cb, void *rock)
{
    tp->literal_cb = cb;
    tp->literal_rock = rock;
}

int tok_go_ahead(struct tok_parser *tp, uint64_t size, unsigned flags, void *rock)
{
    (void)size;
    (void)rock;
    if (flags & TOK_LIT_NONSYNC) return 0;
    prot_puts(tp->in, "+ go ahead\r\n");
    int r = prot_flush(tp->in);
    return r < 0 ? r : 0;
}

void tok_parser_fini(struct tok_parser *tp)
{
    tp->in = NULL;
    tp->literal_cb = NULL;
    tp->literal_rock = NULL;
}

/* ---- errors --------------------------------------------------------------- */

const char *tok_err_text(enum tok_err err)
{
    switch (err) {
    case TOK_E_NONE: return "No error";
    case TOK_E_SYNTAX: return "Syntax error";
    case TOK_E_EMPTY: return "Missing argument";
    case TOK_E_WORD_TOO_LONG: return "Word too long";
    case TOK_E_QUOTED_CHAR: return "Invalid character in quoted string";
    case TOK_E_8BIT: return "8-bit character not allowed";
    case TOK_E_BAD_ESCAPE: return "Invalid escape in quoted string";
    case TOK_E_UNTERMINATED: return "Unterminated quoted string";
    case TOK_E_BAD_LITERAL: return "Invalid literal";
    case TOK_E_LITERAL_TOO_LARGE: return "Literal too large";
    case TOK_E_LITERAL_NUL: return "NUL in literal";
    case TOK_E_LITERAL_REFUSED: return "Literal refused";
    case TOK_E_BINARY: return "Binary literal not allowed here";
    case TOK_E_NUMBER: return "Invalid number";
    case TOK_E_SEQSET: return "Invalid sequence set";
    case TOK_E_DEPTH: return "Lists nested too deeply";
    case TOK_E_ITEMS: return "Too many items";
    case TOK_E_LINE_TOO_LONG: return "Line too long";
    case TOK_E_NOT_NIL: return "Expected a string or NIL";
    case TOK_E_EOL: return "Unexpected extra arguments";
    case TOK_E_STREAM: return "Connection error";
    }
    return "Unknown error";
}

enum tok_err tok_error(const struct tok_parser *tp)
{
    return tp->err;
}

const char *tok_errstr(const struct tok_parser *tp)
{
    return tok_err_text(tp->err);
}

static int fail(struct tok_parser *tp, enum tok_err e, int code)
{
    tp->err = e;
    return code;
}

/* ---- characters ------------------------------------------------------------- */

static int stream_error(struct tok_parser *tp)
{
    int e = prot_error(tp->in);
    if (e >= 0 || e == PROT_EOF) e = CYRERR_EOF;
    return fail(tp, TOK_E_STREAM, e);
}

int tok_getc(struct tok_parser *tp)
{
    int c = prot_getc(tp->in);
    if (c < 0) return stream_error(tp);
    tp->last = c;
    return c;
}

void tok_ungetc(struct tok_parser *tp, int c)
{
    if (c < 0) return;
    prot_ungetc(tp->in, c);
    tp->last = -1;
}

int tok_eol(struct tok_parser *tp, int c)
{
    if (c < 0) return c;
    if (c == '\r') {
        c = tok_getc(tp);
        if (c < 0) return c;
    }
    if (c != '\n') return fail(tp, TOK_E_EOL, CYRERR_PARSE);
    return 0;
}

static int is_ctl(int c)
{
    return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR: any CHAR except atom-specials. */
static int atom_char(const struct tok_parser *tp, int c)
{
    if (c >= 0x80) return (tp->flags & TOK_F_8BIT) != 0;
    if (is_ctl(c)) return 0;
    switch (c) {
    case '(': case ')': case '{': case ' ':
    case '%': case '*': case '"': case '\\': case ']':
        return 0;
    }
    return 1;
}

static int cs_char(const struct tok_parser *tp, enum tok_charset cs, int c)
{
    switch (cs) {
    case TOK_CS_ATOM:
    case TOK_CS_FLAG:
    case TOK_CS_FETCHATT:
        return atom_char(tp, c);
    case TOK_CS_ASTRING:
        return atom_char(tp, c) || c == ']';
    case TOK_CS_TAG:
        return (atom_char(tp, c) || c == ']') && c != '+';
    case TOK_CS_LISTMBOX:
        return atom_char(tp, c) || c == ']' || c == '%' || c == '*';
    case TOK_CS_LISTITEM:
        return atom_char(tp, c) || c == '\\' || c == '%' || c == '*';
    }
    return 0;
}

/* Discard n bytes of literal data. */
static int discard(struct tok_parser *tp, uint64_t n)
{
    char scratch[4096];
    while (n > 0) {
        size_t k = n < sizeof(scratch) ? (size_t)n : sizeof(scratch);
        ssize_t r = prot_read(tp->in, scratch, k);
        if (r <= 0) return stream_error(tp);
        n -= (uint64_t)r;
        if (tp->lit_left >= (uint64_t)r) tp->lit_left -= (uint64_t)r;
        tp->last = -1;
    }
    return 0;
}

/* ---- skipping a line ---------------------------------------------------------- */

int tok_skip_line(struct tok_parser *tp)
{
    if (tp->desync) return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PROTOCOL_ERROR);

    for (;;) {
        if (tp->lit_left) {
            if (tp->lit_left > tp->limits.maxswallow) {
                tp->desync = 1;
                return fail(tp, TOK_E_LITERAL_TOO_LARGE, CYRERR_PROTOCOL_ERROR);
            }
            int r = discard(tp, tp->lit_left);
            if (r) return r;
            tp->lit_left = 0;
            tp->last = -1;
        }
        if (tp->last == '\n') return 0;

        /* Read to the LF, watching for a literal header "{n}" / "{n+}"
         * right before it: data of a {n+} follows without asking and
         * belongs to this command; after {n} the client waits for a
         * continuation that will never come, so the command ends. */
        int state = 0, nonsync = 0, overflow = 0;
        uint64_t n = 0;
        for (;;) {
            int c = tok_getc(tp);
            if (c < 0) return c;
            if (c == '\n') {
                if (state == 3 || state == 4) {
                    if (overflow && nonsync) {
                        tp->desync = 1;
                        return fail(tp, TOK_E_LITERAL_TOO_LARGE,
                                    CYRERR_PROTOCOL_ERROR);
                    }
                    if (nonsync) tp->lit_left = n;
                }
                break;
            }
            if (c == '{') {
                state = 1;
                n = 0;
                nonsync = overflow = 0;
            } else if ((state == 1 || state == 5) && c >= '0' && c <= '9') {
                state = 5;
                if (n > (UINT64_MAX - 9) / 10) overflow = 1;
                else n = n * 10 + (uint64_t)(c - '0');
            } else if (state == 5 && c == '+') {
                nonsync = 1;
                state = 2;
            } else if ((state == 5 || state == 2) && c == '}') {
                state = 3;
            } else if (state == 3 && c == '\r') {
                state = 4;
            } else {
                state = 0;
            }
        }
        if (!tp->lit_left) return 0;
    }
}

int tok_text(struct tok_parser *tp, struct buf *out)
{
    buf_reset(out);
    for (;;) {
        int c = tok_getc(tp);
        if (c < 0) return c;
        if (c == '\n') break;
        if (c == 0) return fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
        /* one byte of slack for the CR of the CRLF */
        if (out->len > tp->limits.maxline)
            return fail(tp, TOK_E_LINE_TOO_LONG, CYRERR_TOOBIG);
        buf_putc(out, (char)c);
    }
    if (out->len && out->s[out->len - 1] == '\r') buf_truncate(out, out->len - 1);
    if (out->len > tp->limits.maxline)
        return fail(tp, TOK_E_LINE_TOO_LONG, CYRERR_TOOBIG);
    return '\n';
}

/* ---- atoms ---------------------------------------------------------------------- */

static int put_limited(struct tok_parser *tp, struct buf *out, int c)
{
    if (out->len >= tp->limits.maxword)
        return fail(tp, TOK_E_WORD_TOO_LONG, CYRERR_TOOBIG);
    buf_putc(out, (char)c);
    return 0;
}

/* A "[...]" section of a fetch attribute; '[' was stored.  Returns the
 * character after the closing ']'. */
static int read_section(struct tok_parser *tp, struct buf *out)
{
    int inquote = 0;
    for (;;) {
        int c = tok_getc(tp);
        if (c < 0) return c;
        if (c == '\r' || c == '\n' || c == 0) return fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
        if (c >= 0x80 && !(tp->flags & TOK_F_8BIT)) return fail(tp, TOK_E_8BIT, CYRERR_PARSE);
        int r = put_limited(tp, out, c);
        if (r) return r;
        if (inquote) {
            if (c == '\\') {
                c = tok_getc(tp);
                if (c < 0) return c;
                if (c != '"' && c != '\\') return fail(tp, TOK_E_BAD_ESCAPE, CYRERR_PARSE);
                if ((r = put_limited(tp, out, c))) return r;
            } else if (c == '"') {
                inquote = 0;
            }
        } else if (c == '"') {
            inquote = 1;
        } else if (c == ']') {
            return tok_getc(tp);
        }
    }
}

int tok_atom(struct tok_parser *tp, enum tok_charset cs, struct buf *out)
{
    buf_reset(out);
    int c = tok_getc(tp);
    if (c < 0) return c;
    if (cs == TOK_CS_FLAG && c == '\\') {
        buf_putc(out, '\\');
        c = tok_getc(tp);
        if (c == '*') {
            buf_putc(out, '*');
            return tok_getc(tp);
        }
        if (c < 0) return c;
        if (!atom_char(tp, c)) return fail(tp, TOK_E_EMPTY, CYRERR_PARSE);
    }
    for (;;) {
        if (c < 0) return c;
        if ((cs == TOK_CS_FETCHATT || cs == TOK_CS_LISTITEM) && c == '[') {
            int r = put_limited(tp, out, c);
            if (r) return r;
            c = read_section(tp, out);
            continue;
        }
        if (!cs_char(tp, cs, c)) break;
        int r = put_limited(tp, out, c);
        if (r) return r;
        c = tok_getc(tp);
    }
    if (c >= 0x80) return fail(tp, TOK_E_8BIT, CYRERR_PARSE);
    if (out->len == 0) return fail(tp, TOK_E_EMPTY, CYRERR_PARSE);
    return c;
}

/* ---- quoted strings and literals ----------------------------------------------- */

/* The opening '"' was consumed. */
static int read_quoted(struct tok_parser *tp, struct buf *out)
{
    for (;;) {
        int c = tok_getc(tp);
        if (c < 0) return c;
        if (c == '"') break;
        if (c == '\\') {
            c = tok_getc(tp);
            if (c < 0) return c;
            if (c != '"' && c != '\\') return fail(tp, TOK_E_BAD_ESCAPE, CYRERR_PARSE);
        } else if (c == '\n') {
            return fail(tp, TOK_E_UNTERMINATED, CYRERR_PARSE);
        } else if (c == '\r') {
            int next = tok_getc(tp);
            if (next < 0) return next;
            if (next == '\n') return fail(tp, TOK_E_UNTERMINATED, CYRERR_PARSE);
            tok_ungetc(tp, next);
            tp->last = '\r';
            return fail(tp, TOK_E_QUOTED_CHAR, CYRERR_PARSE);
        } else if (c == 0) {
            return fail(tp, TOK_E_QUOTED_CHAR, CYRERR_PARSE);
        } else if (c >= 0x80 && !(tp->flags & TOK_F_8BIT)) {
            return fail(tp, TOK_E_8BIT, CYRERR_PARSE);
        }
        int r = put_limited(tp, out, c);
        if (r) return r;
    }
    return tok_getc(tp);
}

/* Read a literal header whose first character c ('{' or '~') was consumed,
 * check it against the limits and run the callback.  On success the data
 * is pending in tp->lit_left. */
static int read_literal_header(struct tok_parser *tp, int c, uint64_t *size,
                               unsigned *lflags)
{
    unsigned f = 0;
    if (c == '~') {
        if (!(tp->flags & TOK_F_BINARY)) return fail(tp, TOK_E_BINARY, CYRERR_PARSE);
        f |= TOK_LIT_BINARY;
        c = tok_getc(tp);
        if (c < 0) return c;
        if (c != '{') return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);
    }
    uint64_t n = 0;
    int digits = 0, overflow = 0;
    for (;;) {
        c = tok_getc(tp);
        if (c < 0) return c;
        if (c < '0' || c > '9') break;
        if (++digits > 40) return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);
        if (n > (UINT64_MAX - 9) / 10) overflow = 1;
        else n = n * 10 + (uint64_t)(c - '0');
    }
    if (!digits) return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);
    if (c == '+') {
        f |= TOK_LIT_NONSYNC;
        c = tok_getc(tp);
        if (c < 0) return c;
    }
    if (c != '}') return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);
    c = tok_getc(tp);
    if (c == '\r') c = tok_getc(tp);
    if (c < 0) return c;
    if (c != '\n') return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);

    /* The header is complete: a {n+} literal's data is on its way now,
     * whatever we decide, so a refusal must leave it to be swallowed. */
    int nonsync = (f & TOK_LIT_NONSYNC) != 0;
    if (overflow) {
        if (nonsync) tp->desync = 1;
        return fail(tp, TOK_E_LITERAL_TOO_LARGE, CYRERR_TOOBIG);
    }
    if (nonsync && (tp->flags & TOK_F_NO_NONSYNC)) {
        tp->lit_left = n;
        return fail(tp, TOK_E_BAD_LITERAL, CYRERR_PARSE);
    }
    if (n > tp->limits.maxliteral) {
        if (nonsync) tp->lit_left = n;
        return fail(tp, TOK_E_LITERAL_TOO_LARGE, CYRERR_TOOBIG);
    }
    if (tp->literal_cb) {
        int r = tp->literal_cb(tp, n, f, tp->literal_rock);
        if (r) {
            if (r > 0) r = CYRERR_PERMISSION;
            if (nonsync) tp->lit_left = n;
            return fail(tp, TOK_E_LITERAL_REFUSED, r);
        }
    }
    tp->lit_left = n;
    *size = n;
    if (lflags) *lflags = f;
    return 0;
}

/* The data of an accepted literal into out; returns the next character. */
static int read_literal_data(struct tok_parser *tp, uint64_t size, unsigned f,
                             struct buf *out)
{
    while (tp->lit_left > 0) {
        size_t k = tp->lit_left < TOK_CHUNK ? (size_t)tp->lit_left : TOK_CHUNK;
        buf_ensure(out, k);
        ssize_t r = prot_read(tp->in, out->s + out->len, k);
        if (r <= 0) return stream_error(tp);
        out->len += (size_t)r;
        out->s[out->len] = '\0';
        tp->lit_left -= (uint64_t)r;
        tp->last = -1;
    }
    (void)size;
    if (!(f & TOK_LIT_BINARY) && memchr(out->s ? out->s : "", 0, out->len))
        return fail(tp, TOK_E_LITERAL_NUL, CYRERR_PARSE);
    return tok_getc(tp);
}

static int read_literal(struct tok_parser *tp, int c, struct buf *out)
{
    uint64_t size = 0;
    unsigned f = 0;
    int r = read_literal_header(tp, c, &size, &f);
    if (r) return r;
    return read_literal_data(tp, size, f, out);
}

/* First character c consumed: a quoted string or a literal, else -1 (not a
 * string: c is still to be looked at). */
static int read_string_if(struct tok_parser *tp, int c, struct buf *out, int *is_literal)
{
    if (is_literal) *is_literal = 0;
    if (c == '"') return read_quoted(tp, out);
    if (c == '{' || c == '~') {
        if (is_literal) *is_literal = 1;
        return read_literal(tp, c, out);
    }
    return -1;
}

static int astring_cs(struct tok_parser *tp, enum tok_charset cs, struct buf *out)
{
    buf_reset(out);
    int c = tok_getc(tp);
    if (c < 0) return c;
    int r = read_string_if(tp, c, out, NULL);
    if (r != -1) return r;
    tok_ungetc(tp, c);
    return tok_atom(tp, cs, out);
}

int tok_astring(struct tok_parser *tp, struct buf *out)
{
    return astring_cs(tp, TOK_CS_ASTRING, out);
}

int tok_listmbox(struct tok_parser *tp, struct buf *out)
{
    return astring_cs(tp, TOK_CS_LISTMBOX, out);
}

int tok_string(struct tok_parser *tp, struct buf *out)
{
    buf_reset(out);
    int c = tok_getc(tp);
    if (c < 0) return c;
    int r = read_string_if(tp, c, out, NULL);
    if (r != -1) return r;
    return fail(tp, c == ' ' || c == '\r' || c == '\n' ? TOK_E_EMPTY : TOK_E_SYNTAX,
                CYRERR_PARSE);
}

int tok_nstring(struct tok_parser *tp, struct buf *out, int *is_nil)
{
    *is_nil = 0;
    buf_reset(out);
    int c = tok_getc(tp);
    if (c < 0) return c;
    int r = read_string_if(tp, c, out, NULL);
    if (r != -1) return r;
    tok_ungetc(tp, c);
    c = tok_atom(tp, TOK_CS_ASTRING, out);
    if (c < 0) return c;
    if (strcasecmp(buf_cstring(out), "NIL") != 0)
        return fail(tp, TOK_E_NOT_NIL, CYRERR_PARSE);
    buf_reset(out);
    *is_nil = 1;
    return c;
}

/* ---- numbers ---------------------------------------------------------------------- */

int tok_number(struct tok_parser *tp, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;
    int digits = 0;
    int c;
    for (;;) {
        c = tok_getc(tp);
        if (c < 0) return c;
        if (c < '0' || c > '9') break;
        uint64_t d = (uint64_t)(c - '0');
        if (d > max || n > (max - d) / 10) return fail(tp, TOK_E_NUMBER, CYRERR_PARSE);
        n = n * 10 + d;
        digits++;
    }
    if (!digits) return fail(tp, TOK_E_NUMBER, CYRERR_PARSE);
    *out = n;
    return c;
}

int tok_uint32(struct tok_parser *tp, uint32_t *out)
{
    uint64_t v = 0;
    int c = tok_number(tp, UINT32_MAX, &v);
    if (c >= 0) *out = (uint32_t)v;
    return c;
}

int tok_uint64(struct tok_parser *tp, uint64_t *out)
{
    return tok_number(tp, UINT64_MAX, out);
}

/* ---- streaming literals -------------------------------------------------------------- */

int tok_literal_begin(struct tok_parser *tp, uint64_t *size, unsigned *flags)
{
    int c = tok_getc(tp);
    if (c < 0) return c;
    if (c != '{' && c != '~') return fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
    return read_literal_header(tp, c, size, flags);
}

long tok_literal_read(struct tok_parser *tp, void *buf, size_t n)
{
    if (!tp->lit_left || !n) return 0;
    if (n > tp->lit_left) n = (size_t)tp->lit_left;
    if (n > TOK_CHUNK * 16) n = TOK_CHUNK * 16;
    ssize_t r = prot_read(tp->in, buf, n);
    if (r <= 0) return stream_error(tp);
    tp->lit_left -= (uint64_t)r;
    tp->last = -1;
    return (long)r;
}

int tok_literal_end(struct tok_parser *tp)
{
    if (tp->lit_left) {
        int r = discard(tp, tp->lit_left);
        if (r) return r;
        tp->lit_left = 0;
    }
    return tok_getc(tp);
}

/* ---- sequence sets --------------------------------------------------------------------- */

static void seqset_add(struct tok_seqset *set, uint32_t low, uint32_t high)
{
    if (set->count == set->alloc) {
        set->alloc = set->alloc ? set->alloc * 2 : 8;
        set->ranges = xreallocarray(set->ranges, set->alloc, sizeof(*set->ranges));
    }
    set->ranges[set->count].low = low;
    set->ranges[set->count].high = high;
    set->count++;
}

static void seqset_reset(struct tok_seqset *set)
{
    set->count = 0;
    set->is_dollar = 0;
    set->is_resolved = 0;
}

/* seq-number = nz-number / "*": 0 for "*", -1 on error; *sp advanced. */
static int64_t seq_number(const char **sp)
{
    const char *s = *sp;
    if (*s == '*') {
        *sp = s + 1;
        return TOK_SEQ_STAR;
    }
    if (*s < '1' || *s > '9') return -1;
    uint64_t n = 0;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (uint64_t)(*s - '0');
        if (n > UINT32_MAX) return -1;
        s++;
    }
    *sp = s;
    return (int64_t)n;
}

int tok_seqset_parse(const char *s, unsigned flags, size_t maxranges,
                     struct tok_seqset *set)
{
    seqset_reset(set);
    if ((flags & TOK_SEQ_DOLLAR) && !strcmp(s, "$")) {
        set->is_dollar = 1;
        return 0;
    }
    for (;;) {
        int64_t low = seq_number(&s);
        if (low < 0) goto bad;
        int64_t high = low;
        if (*s == ':') {
            s++;
            high = seq_number(&s);
            if (high < 0) goto bad;
        }
        if (maxranges && set->count >= maxranges) {
            seqset_reset(set);
            return CYRERR_LIMIT;
        }
        seqset_add(set, (uint32_t)low, (uint32_t)high);
        if (*s == '\0') return 0;
        if (*s != ',') goto bad;
        s++;
    }
bad:
    seqset_reset(set);
    return CYRERR_PARSE;
}

int tok_seqset(struct tok_parser *tp, unsigned flags, struct tok_seqset *set)
{
    struct buf word = BUF_INITIALIZER;
    seqset_reset(set);
    /* Read the whole atom, so that "1:5abc" is one bad set rather than a
     * good one followed by garbage. */
    int c = tok_getc(tp);
    while (c >= 0 && (cs_char(tp, TOK_CS_LISTMBOX, c) || c == '$')) {
        if (word.len >= tp->limits.maxword) {
            buf_free(&word);
            return fail(tp, TOK_E_WORD_TOO_LONG, CYRERR_TOOBIG);
        }
        buf_putc(&word, (char)c);
        c = tok_getc(tp);
    }
    if (c >= 0) {
        int r = tok_seqset_parse(buf_cstring(&word), flags, tp->limits.maxitems, set);
        if (r == CYRERR_LIMIT) c = fail(tp, TOK_E_ITEMS, r);
        else if (r) c = fail(tp, TOK_E_SEQSET, r);
    }
    buf_free(&word);
    return c;
}

static int range_cmp(const void *a, const void *b)
{
    const struct tok_seqrange *x = a, *y = b;
    if (x->low != y->low) return x->low < y->low ? -1 : 1;
    if (x->high != y->high) return x->high < y->high ? -1 : 1;
    return 0;
}

void tok_seqset_resolve(const struct tok_seqset *in, uint32_t star,
                        struct tok_seqset *out)
{
    seqset_reset(out);
    for (size_t i = 0; i < in->count; i++) {
        uint32_t lo = in->ranges[i].low == TOK_SEQ_STAR ? star : in->ranges[i].low;
        uint32_t hi = in->ranges[i].high == TOK_SEQ_STAR ? star : in->ranges[i].high;
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        seqset_add(out, lo, hi);
    }
    if (out->count > 1)
        qsort(out->ranges, out->count, sizeof(*out->ranges), range_cmp);
    size_t w = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (w > 0 && (out->ranges[w - 1].high == UINT32_MAX ||
                      out->ranges[i].low <= out->ranges[w - 1].high + 1)) {
            if (out->ranges[i].high > out->ranges[w - 1].high)
                out->ranges[w - 1].high = out->ranges[i].high;
        } else {
            out->ranges[w++] = out->ranges[i];
        }
    }
    out->count = w;
    out->is_dollar = in->is_dollar;
    out->is_resolved = 1;
}

int tok_seqset_contains(const struct tok_seqset *set, uint32_t num, uint32_t star)
{
    if (set->is_resolved) {
        size_t lo = 0, hi = set->count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (num < set->ranges[mid].low) hi = mid;
            else if (num > set->ranges[mid].high) lo = mid + 1;
            else return 1;
        }
        return 0;
    }
    for (size_t i = 0; i < set->count; i++) {
        uint32_t a = set->ranges[i].low == TOK_SEQ_STAR ? star : set->ranges[i].low;
        uint32_t b = set->ranges[i].high == TOK_SEQ_STAR ? star : set->ranges[i].high;
        if (a > b) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        if (num >= a && num <= b) return 1;
    }
    return 0;
}

static void seq_put(struct buf *out, uint32_t n)
{
    if (n == TOK_SEQ_STAR) buf_putc(out, '*');
    else buf_printf(out, "%u", n);
}

void tok_seqset_format(const struct tok_seqset *set, struct buf *out)
{
    if (set->is_dollar) {
        buf_putc(out, '$');
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        if (i) buf_putc(out, ',');
        seq_put(out, set->ranges[i].low);
        if (set->ranges[i].high != set->ranges[i].low) {
            buf_putc(out, ':');
            seq_put(out, set->ranges[i].high);
        }
    }
}

void tok_seqset_free(struct tok_seqset *set)
{
    free(set->ranges);
    memset(set, 0, sizeof(*set));
}

/* ---- lists as trees ----------------------------------------------------------------------- */

static struct tok_node *node_new(enum tok_node_kind kind)
{
    struct tok_node *n = xzmalloc(sizeof(*n));
    n->kind = kind;
    return n;
}

static void node_append(struct tok_node *list, struct tok_node *item)
{
    list->items = xreallocarray(list->items, list->count + 1, sizeof(*list->items));
    list->items[list->count++] = item;
}

void tok_node_free(struct tok_node **np)
{
    struct tok_node *n = *np;
    if (!n) return;
    for (size_t i = 0; i < n->count; i++) tok_node_free(&n->items[i]);
    free(n->items);
    buf_free(&n->val);
    free(n);
    *np = NULL;
}

static int read_list_body(struct tok_parser *tp, unsigned depth, size_t *nodes,
                          struct tok_node *list);

/* One item whose first character c was consumed; returns the character
 * after it.  *out is set even on error (for the caller to free). */
static int read_item(struct tok_parser *tp, int c, unsigned depth, size_t *nodes,
                     struct tok_node **out)
{
    *out = NULL;
    if (++*nodes > tp->limits.maxitems) return fail(tp, TOK_E_ITEMS, CYRERR_LIMIT);
    if (c == '(') {
        if (depth + 1 > tp->limits.maxdepth) return fail(tp, TOK_E_DEPTH, CYRERR_LIMIT);
        *out = node_new(TOK_NODE_LIST);
        return read_list_body(tp, depth + 1, nodes, *out);
    }
    if (c == '"' || c == '{' || c == '~') {
        *out = node_new(TOK_NODE_STRING);
        return read_string_if(tp, c, &(*out)->val, &(*out)->is_literal);
    }
    *out = node_new(TOK_NODE_ATOM);
    tok_ungetc(tp, c);
    c = tok_atom(tp, TOK_CS_LISTITEM, &(*out)->val);
    if (c >= 0 && !strcasecmp(buf_cstring(&(*out)->val), "NIL")) {
        (*out)->kind = TOK_NODE_NIL;
        buf_free(&(*out)->val);
    }
    return c;
}

/* After "(": items separated by SP up to ")"; returns the character after. */
static int read_list_body(struct tok_parser *tp, unsigned depth, size_t *nodes,
                          struct tok_node *list)
{
    int c = tok_getc(tp);
    if (c == ')') return tok_getc(tp);
    for (;;) {
        if (c < 0) return c;
        struct tok_node *item = NULL;
        c = read_item(tp, c, depth, nodes, &item);
        if (item) node_append(list, item);
        if (c < 0) return c;
        if (c == ')') return tok_getc(tp);
        if (c != ' ') return fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
        c = tok_getc(tp);
    }
}

int tok_list(struct tok_parser *tp, struct tok_node **out)
{
    *out = NULL;
    int c = tok_getc(tp);
    if (c < 0) return c;
    if (c != '(') return fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
    size_t nodes = 0;
    struct tok_node *n = NULL;
    c = read_item(tp, c, 0, &nodes, &n);
    if (c < 0) tok_node_free(&n);
    *out = n;
    return c;
}

int tok_line(struct tok_parser *tp, struct tok_node **out)
{
    struct tok_node *line = node_new(TOK_NODE_LIST);
    size_t nodes = 0;
    *out = NULL;
    int c = tok_getc(tp);
    for (;;) {
        if (c < 0) break;
        if (c == '\r' || c == '\n') {
            c = tok_eol(tp, c);
            if (c == 0) c = '\n';
            break;
        }
        struct tok_node *item = NULL;
        c = read_item(tp, c, 0, &nodes, &item);
        if (item) node_append(line, item);
        if (c < 0) break;
        if (c == ' ') c = tok_getc(tp);
        else if (c != '\r' && c != '\n') {
            c = fail(tp, TOK_E_SYNTAX, CYRERR_PARSE);
            break;
        }
    }
    if (c < 0) tok_node_free(&line);
    *out = line;
    return c;
}

const struct tok_node *tok_node_item(const struct tok_node *n, size_t i)
{
    if (!n || n->kind != TOK_NODE_LIST || i >= n->count) return NULL;
    return n->items[i];
}

const char *tok_node_str(const struct tok_node *n)
{
    if (!n || (n->kind != TOK_NODE_ATOM && n->kind != TOK_NODE_STRING)) return NULL;
    return buf_cstring(&n->val);
}

int tok_node_is_atom(const struct tok_node *n, const char *s)
{
    return n && n->kind == TOK_NODE_ATOM && !strcasecmp(buf_cstring(&n->val), s);
}

int tok_node_number(const struct tok_node *n, uint64_t *out)
{
    if (!n || n->kind != TOK_NODE_ATOM || n->val.len == 0 || n->val.len > 20)
        return CYRERR_PARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < n->val.len; i++) {
        int c = (unsigned char)n->val.s[i];
        if (c < '0' || c > '9') return CYRERR_PARSE;
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10) return CYRERR_PARSE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- writing -------------------------------------------------------------------------------- */

static int w_atom_char(int c)
{
    if (c >= 0x80 || is_ctl(c)) return 0;
    switch (c) {
    case '(': case ')': case '{': case ' ':
    case '%': case '*': case '"': case '\\': case ']':
        return 0;
    }
    return 1;
}

enum tok_wform tok_string_form(const void *data, size_t n, unsigned flags)
{
    const unsigned char *s = data;
    if (!(flags & TOK_W_NOATOM) && n > 0 && n <= TOK_QUOTED_MAX &&
        !(n == 3 && !strncasecmp((const char *)s, "NIL", 3))) {
        size_t i;
        for (i = 0; i < n && w_atom_char(s[i]); i++)
            ;
        if (i == n) return TOK_WF_ATOM;
    }
    if (n > TOK_QUOTED_MAX) return TOK_WF_LITERAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == 0) return TOK_WF_LITERAL;
        if (s[i] >= 0x80 && !(flags & TOK_W_8BIT)) return TOK_WF_LITERAL;
    }
    return TOK_WF_QUOTED;
}

static void literal_header(struct buf *b, const void *s, size_t n, unsigned flags)
{
    int binary = (flags & TOK_W_BINARY) && memchr(s, 0, n);
    buf_printf(b, "%s{%zu%s}\r\n", binary ? "~" : "", n,
               (flags & TOK_W_NONSYNC) ? "+" : "");
}

enum tok_wform tok_buf_appendstring(struct buf *b, const void *data, size_t n,
                                    unsigned flags)
{
    const char *s = data;
    enum tok_wform form = tok_string_form(s, n, flags);
    switch (form) {
    case TOK_WF_ATOM:
        buf_appendmap(b, s, n);
        break;
    case TOK_WF_QUOTED:
        buf_ensure(b, n + 2);
        buf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == '\\') buf_putc(b, '\\');
            buf_putc(b, s[i]);
        }
        buf_putc(b, '"');
        break;
    case TOK_WF_LITERAL:
        literal_header(b, s, n, flags);
        buf_appendmap(b, s, n);
        break;
    }
    return form;
}

void tok_buf_appendcstring(struct buf *b, const char *s, unsigned flags)
{
    tok_buf_appendstring(b, s, strlen(s), flags);
}

void tok_buf_appendnstring(struct buf *b, const char *s, unsigned flags)
{
    if (!s) buf_appendcstr(b, "NIL");
    else tok_buf_appendstring(b, s, strlen(s), flags | TOK_W_NOATOM);
}

int tok_prot_putstring(struct prot *out, const void *s, size_t n, unsigned flags)
{
    struct buf b = BUF_INITIALIZER;
    int r;
    if (tok_string_form(s, n, flags) == TOK_WF_LITERAL) {
        /* Do not copy a large literal: header, then the data itself. */
        literal_header(&b, s, n, flags);
        r = prot_write(out, b.s, b.len);
        if (r >= 0 && n) r = prot_write(out, s, n);
    } else {
        tok_buf_appendstring(&b, s, n, flags);
        r = prot_write(out, b.s, b.len);
    }
    buf_free(&b);
    return r;
}

int tok_prot_putnstring(struct prot *out, const char *s, unsigned flags)
{
    if (!s) return prot_write(out, "NIL", 3);
    return tok_prot_putstring(out, s, strlen(s), flags | TOK_W_NOATOM);
}

int tok_literal_spill(struct tok_parser *tp, size_t mem_max, const char *tmpdir,
                      struct prot_literal **lit_r, unsigned *flags)
{
    uint64_t size = 0;
    *lit_r = NULL;
    int r = tok_literal_begin(tp, &size, flags);
    if (r) return r;
    r = prot_read_literal(tp->in, size, mem_max, tmpdir, lit_r);
    tp->last = -1;
    if (r) {
        /* CYRERR_IO: the spill file failed, but prot consumed the data. */
        if (r == CYRERR_IO) tp->lit_left = 0;
        *lit_r = NULL;
        return fail(tp, TOK_E_STREAM, r);
    }
    tp->lit_left = 0;
    return tok_getc(tp);
}
