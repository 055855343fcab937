/* message: the MIME structure of a message.  See message.h.
 *
 * One forward pass: parse_entity() reads a header block, then the body
 * according to the Content-Type, and returns where the entity ended: at the
 * start of a delimiter line of some enclosing multipart, or at the end of
 * the data.  Every multipart pushes its boundary on a stack that all parts
 * inside it check line by line (only lines starting with "--" need
 * checking, found with memmem), so each byte is looked at a bounded
 * number of times and a missing delimiter anywhere cannot derail the
 * parts around it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/store/message.h"
#include "error.h"
#include "xmalloc.h"

struct parser {
    const char *base;
    size_t len;
    size_t nparts;                         /* entities made so far */
    const char *bounds[MESSAGE_MAX_DEPTH + 1];  /* active boundaries */
    size_t boundlens[MESSAGE_MAX_DEPTH + 1];
    int nbounds;
};

/* A delimiter line found at some offset. */
struct delim {
    int level;         /* index in the boundary stack */
    int close;         /* "--boundary--" */
    size_t next;       /* start of the line after it */
};

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- lines and delimiters ------------------------------------------------- */

static size_t line_end(const struct parser *ps, size_t pos)
{
    const char *nl = memchr(ps->base + pos, '\n', ps->len - pos);
    return nl ? (size_t)(nl - ps->base) + 1 : ps->len;
}

/* Is the line at `pos` a delimiter of an active boundary?  The innermost
 * boundary wins.  RFC 2046 5.1.1: "--" boundary ["--"], then optional
 * white space up to the line break. */
static int check_delim(const struct parser *ps, size_t pos, struct delim *d)
{
    const char *s = ps->base;
    size_t len = ps->len;
    if (pos + 2 > len || s[pos] != '-' || s[pos + 1] != '-') return 0;
    for (int k = ps->nbounds - 1; k >= 0; k--) {
        size_t bl = ps->boundlens[k];
        size_t i = pos + 2;
        if (i + bl > len || memcmp(s + i, ps->bounds[k], bl)) continue;
        i += bl;
        int close = 0;
        if (i + 2 <= len && s[i] == '-' && s[i + 1] == '-') {
            close = 1;
            i += 2;
        }
        while (i < len && (is_wsp(s[i]) || s[i] == '\r')) i++;
        if (i < len && s[i] != '\n') continue;
        d->level = k;
        d->close = close;
        d->next = i < len ? i + 1 : len;
        return 1;
    }
    return 0;
}

/* The start of the next delimiter line at or after the line start `pos`,
 * or the end of the data. */
static size_t next_delim(const struct parser *ps, size_t pos, struct delim *d)
{
    if (!ps->nbounds) return ps->len;
    while (pos < ps->len) {
        if (check_delim(ps, pos, d)) return pos;
        const char *q = memmem(ps->base + pos, ps->len - pos, "\n--", 3);
        if (!q) break;
        pos = (size_t)(q - ps->base) + 1;
    }
    return ps->len;
}

/* Where a body that runs up to the entity end `end` stops: the line break
 * before a delimiter line belongs to the delimiter (RFC 2046). */
static size_t body_stop(const struct parser *ps, size_t start, size_t end)
{
    if (end >= ps->len) return ps->len;
    if (end > start && ps->base[end - 1] == '\n') end--;
    if (end > start && ps->base[end - 1] == '\r') end--;
    return end;
}

static size_t count_lf(const char *p, size_t n)
{
    size_t lf = 0;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        lf++;
        p = nl + 1;
    }
    return lf;
}

/* ---- header block ------------------------------------------------------------ */

/* Is the line [pos, end) a header field ("name:" with a name free of
 * white space and controls)? */
static int is_field_line(const char *s, size_t pos, size_t end)
{
    const char *colon = memchr(s + pos, ':', end - pos);
    if (!colon) return 0;
    size_t n = (size_t)(colon - (s + pos));
    while (n && is_wsp(s[pos + n - 1])) n--;
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[pos + i] <= 32 || s[pos + i] == 127) return 0;
    return 1;
}

/* Find the end of the header block at `start`: returns the body start.
 * *at_delim is set when a delimiter line cut the header short. */
static size_t scan_header(const struct parser *ps, size_t start,
                          int message_level, unsigned *flags, int *at_delim)
{
    const char *s = ps->base;
    size_t pos = start;
    struct delim d;
    *at_delim = 0;
    while (pos < ps->len) {
        if (ps->nbounds && s[pos] == '-' && check_delim(ps, pos, &d)) {
            *at_delim = 1;
            return pos;
        }
        size_t end = line_end(ps, pos);
        size_t n = end - pos;
        if ((n == 1 && s[pos] == '\n') ||
            (n == 2 && s[pos] == '\r' && s[pos + 1] == '\n')) {
            *flags |= MESSAGE_PART_BLANKLINE;
            return end;
        }
        if (is_wsp(s[pos]) || is_field_line(s, pos, end) ||
            (message_level && pos == start && n >= 5 &&
             !memcmp(s + pos, "From ", 5))) {
            pos = end;
            continue;
        }
        /* not a header line: the body starts here */
        *flags |= MESSAGE_PART_BADHEADER;
        return pos;
    }
    return ps->len;
}

/* ---- interpreting fields ------------------------------------------------------ */

/* A field's value unfolded and trimmed, as a C string: NUL bytes (which
 * no IMAP string may carry) are dropped. */
static char *field_dup(const struct message_field *f)
{
    struct buf b = BUF_INITIALIZER;
    message_unfold(f->value, f->valuelen, &b);
    char *r = buf_release(&b);
    size_t len = strlen(r);
    if (len < f->valuelen && memchr(f->value, '\0', f->valuelen)) {
        free(r);
        buf_reset(&b);
        struct buf raw = BUF_INITIALIZER;
        for (size_t i = 0; i < f->valuelen; i++)
            if (f->value[i]) buf_putc(&raw, f->value[i]);
        message_unfold(buf_base(&raw), buf_len(&raw), &b);
        buf_free(&raw);
        r = buf_release(&b);
    }
    return r;
}

static void set_default_type(struct message_part *part, int digest)
{
    free(part->type);
    free(part->subtype);
    message_param_free(&part->params);
    if (digest) {
        part->type = xstrdup("MESSAGE");
        part->subtype = xstrdup("RFC822");
    } else {
        part->type = xstrdup("TEXT");
        part->subtype = xstrdup("PLAIN");
        part->params = xzmalloc(sizeof(*part->params));
        part->params->attribute = xstrdup("CHARSET");
        part->params->value = xstrdup("US-ASCII");
    }
    part->flags |= MESSAGE_PART_DEFAULTED;
}

static void parse_language(struct message_part *part,
                           const struct message_field *f)
{
    const char *s = f->value;
    size_t n = f->valuelen, i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '(') {
            int depth = 0;
            for (; i < n; i++) {
                if (s[i] == '(') depth++;
                else if (s[i] == ')' && --depth == 0) break;
            }
            i++;
            continue;
        }
        if (c == ',' || is_wsp(c) || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] != ',' && s[j] != '(' && !is_wsp(s[j]) &&
               s[j] != '\r' && s[j] != '\n')
            j++;
        strarray_appendm(&part->language, xstrndup(s + i, j - i));
        i = j;
    }
}

static const char *const hdr_names[MESSAGE_HDR_COUNT] = {
    [MESSAGE_HDR_DATE] = "date",
    [MESSAGE_HDR_SUBJECT] = "subject",
    [MESSAGE_HDR_FROM] = "from",
    [MESSAGE_HDR_SENDER] = "sender",
    [MESSAGE_HDR_REPLY_TO] = "reply-to",
    [MESSAGE_HDR_TO] = "to",
    [MESSAGE_HDR_CC] = "cc",
    [MESSAGE_HDR_BCC] = "bcc",
    [MESSAGE_HDR_IN_REPLY_TO] = "in-reply-to",
    [MESSAGE_HDR_MESSAGE_ID] = "message-id",
    [MESSAGE_HDR_REFERENCES] = "references",
};

/* The MIME field a name stands for ("content-" already matched). */
static void content_field(struct message_part *part,
                          const struct message_field *f, char **ctype,
                          char **cdisp, int *have_lang)
{
    const char *n = f->name + 8;
    size_t nl = f->namelen - 8;
#define IS(s) (nl == sizeof(s) - 1 && !strncasecmp(n, s, nl))
    if (IS("type")) {
        if (!*ctype) *ctype = field_dup(f);
    } else if (IS("transfer-encoding")) {
        if (!part->encoding) {
            /* the mechanism token only: "7bit (comment)" gives "7BIT" */
            part->encoding = field_dup(f);
            char *p = part->encoding;
            for (; *p && !is_wsp(*p) && *p != '(' && *p != ';'; p++)
                if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
            *p = '\0';
            if (!*part->encoding) xfree(part->encoding);
            part->cte = charset_encoding_parse(part->encoding,
                                               part->encoding
                                                   ? strlen(part->encoding)
                                                   : 0);
        }
    } else if (IS("id")) {
        if (!part->id) part->id = field_dup(f);
    } else if (IS("description")) {
        if (!part->description) part->description = field_dup(f);
    } else if (IS("disposition")) {
        if (!*cdisp) *cdisp = field_dup(f);
    } else if (IS("language")) {
        if (!*have_lang) parse_language(part, f);
        *have_lang = 1;
    } else if (IS("location")) {
        if (!part->location) part->location = field_dup(f);
    } else if (IS("md5")) {
        if (!part->md5) part->md5 = field_dup(f);
    }
#undef IS
}

static void interpret_header(const struct parser *ps,
                             struct message_part *part, int digest_child)
{
    const char *h = ps->base + part->header_off;
    size_t hlen = part->header_len < MESSAGE_MAX_HEADER ? part->header_len
                                                        : MESSAGE_MAX_HEADER;
    size_t pos = 0;
    struct message_field f;
    char *ctype = NULL, *cdisp = NULL;
    int have_lang = 0;

    while (message_header_next(h, hlen, &pos, &f)) {
        if (f.namelen > 8 && !strncasecmp(f.name, "content-", 8)) {
            content_field(part, &f, &ctype, &cdisp, &have_lang);
        } else if (part->flags & MESSAGE_PART_MESSAGE) {
            for (int i = 0; i < MESSAGE_HDR_COUNT; i++) {
                if (strlen(hdr_names[i]) == f.namelen &&
                    !strncasecmp(f.name, hdr_names[i], f.namelen)) {
                    if (!part->hdr[i]) part->hdr[i] = field_dup(&f);
                    break;
                }
            }
        }
    }
    if (!ctype || message_parse_content_type(ctype, strlen(ctype),
                                             &part->type, &part->subtype,
                                             &part->params) < 0)
        set_default_type(part, digest_child);
    if (cdisp && message_parse_disposition(cdisp, strlen(cdisp),
                                           &part->disposition,
                                           &part->disp_params) < 0)
        part->disposition = NULL;
    free(ctype);
    free(cdisp);
    part->charset = message_param_decode(part->params, "CHARSET");
    part->boundary = message_param_decode(part->params, "BOUNDARY");
}

/* Past a limit: read the part as text, whatever it said it was. */
static void make_opaque(struct message_part *part)
{
    set_default_type(part, 0);
    part->flags &= ~(unsigned)MESSAGE_PART_DEFAULTED;
    part->flags |= MESSAGE_PART_OPAQUE;
    part->kind = MESSAGE_KIND_LEAF;
    free(part->charset);
    part->charset = xstrdup("us-ascii");
    xfree(part->boundary);
}

/* ---- the tree ---------------------------------------------------------------- */

static struct message_part *new_part(struct parser *ps, int depth)
{
    struct message_part *p = xzmalloc(sizeof(*p));
    p->depth = depth;
    ps->nparts++;
    return p;
}

static void add_child(struct message_part *parent, struct message_part *child)
{
    parent->children = xreallocarray(parent->children,
                                     (size_t)parent->nchildren + 1,
                                     sizeof(*parent->children));
    parent->children[parent->nchildren++] = child;
}

/* Set the body length and line count of a part whose entity ended at
 * `end`.  A container's line breaks are its children's plus those of
 * the bytes between them, so every byte is counted once. */
static void finish_body(const struct parser *ps, struct message_part *part,
                        size_t end)
{
    const char *s = ps->base;
    size_t stop = body_stop(ps, part->body_off, end);
    size_t lf = 0, pos = part->body_off;
    part->body_len = stop - part->body_off;
    for (int i = 0; i < part->nchildren; i++) {
        const struct message_part *c = part->children[i];
        if (c->header_off < pos || c->body_off + c->body_len > stop)
            continue;                    /* cannot happen; stay safe */
        lf += count_lf(s + pos, c->header_off - pos);
        lf += count_lf(s + c->header_off, c->header_len);
        lf += c->body_lines;
        pos = c->body_off + c->body_len;
    }
    lf += count_lf(s + pos, stop - pos);
    /* as Cyrus and Dovecot count them: line ends, so an unterminated last
     * line (the CRLF before a boundary belongs to the boundary) is not one */
    part->body_lines = lf;
}

/* A text/plain part without a header covering [start, end). */
static void add_implicit_child(struct parser *ps, struct message_part *parent,
                               size_t start, size_t end)
{
    struct message_part *c = new_part(ps, parent->depth + 1);
    c->header_off = c->body_off = start;
    c->flags = MESSAGE_PART_IMPLICIT;
    set_default_type(c, 0);
    c->charset = xstrdup("us-ascii");
    finish_body(ps, c, end);
    add_child(parent, c);
}

static size_t parse_entity(struct parser *ps, struct message_part *part,
                           size_t pos, int is_message, int digest_child);

static size_t parse_multipart(struct parser *ps, struct message_part *part)
{
    size_t body = part->body_off;
    struct delim d;
    int digest = !strcmp(part->subtype, "DIGEST");
    size_t end;

    if (!part->boundary || !*part->boundary) {
        end = next_delim(ps, body, &d);
        add_implicit_child(ps, part, body, end);
        return end;
    }
    int me = ps->nbounds++;
    ps->bounds[me] = part->boundary;
    ps->boundlens[me] = strlen(part->boundary);

    end = next_delim(ps, body, &d);
    if (end >= ps->len || d.level != me || d.close) {
        /* no body part at all: everything is preamble */
        if (end < ps->len && d.level == me) {
            ps->nbounds--;                      /* skip the epilogue */
            size_t stop = next_delim(ps, d.next, &d);
            add_implicit_child(ps, part, body, stop);
            return stop;
        }
        ps->nbounds--;
        if (end >= ps->len) part->flags |= MESSAGE_PART_NOCLOSE;
        add_implicit_child(ps, part, body, end);
        return end;
    }
    for (;;) {
        /* d is a delimiter of ours; a body part starts after it */
        if (ps->nparts >= MESSAGE_MAX_PARTS) {
            ps->nbounds--;          /* the rest is not split any further */
            part->flags |= MESSAGE_PART_NOCLOSE;
            return next_delim(ps, d.next, &d);
        }
        struct message_part *child = new_part(ps, part->depth + 1);
        add_child(part, child);
        size_t cend = parse_entity(ps, child, d.next, 0, digest);
        if (cend >= ps->len || !check_delim(ps, cend, &d)) {
            ps->nbounds--;
            part->flags |= MESSAGE_PART_NOCLOSE;
            return ps->len;
        }
        if (d.level != me) {
            /* an enclosing multipart's delimiter: ours was never closed */
            ps->nbounds--;
            part->flags |= MESSAGE_PART_NOCLOSE;
            return cend;
        }
        if (d.close) {
            ps->nbounds--;
            return next_delim(ps, d.next, &d);  /* the epilogue */
        }
    }
}

/* Parse the entity whose header starts at `pos`; return where it ends. */
static size_t parse_entity(struct parser *ps, struct message_part *part,
                           size_t pos, int is_message, int digest_child)
{
    struct delim d;
    int at_delim;
    if (is_message) part->flags |= MESSAGE_PART_MESSAGE;
    part->header_off = pos;
    part->body_off = scan_header(ps, pos, is_message, &part->flags, &at_delim);
    part->header_len = part->body_off - pos;
    interpret_header(ps, part, digest_child);

    int container = !strcmp(part->type, "MULTIPART") ||
                    (!strcmp(part->type, "MESSAGE") &&
                     !strcmp(part->subtype, "RFC822"));
    if (container && (part->depth >= MESSAGE_MAX_DEPTH ||
                      ps->nparts >= MESSAGE_MAX_PARTS - 1))
        make_opaque(part);

    size_t end;
    if (at_delim) {
        end = part->body_off;
        if (!strcmp(part->type, "MULTIPART"))
            add_implicit_child(ps, part, part->body_off, end);
        if (!strcmp(part->type, "MESSAGE") && !strcmp(part->subtype, "RFC822"))
            make_opaque(part);
        if (part->nchildren) part->kind = MESSAGE_KIND_MULTIPART;
    } else if (!strcmp(part->type, "MULTIPART")) {
        part->kind = MESSAGE_KIND_MULTIPART;
        end = parse_multipart(ps, part);
    } else if (!strcmp(part->type, "MESSAGE") &&
               !strcmp(part->subtype, "RFC822")) {
        part->kind = MESSAGE_KIND_RFC822;
        struct message_part *inner = new_part(ps, part->depth + 1);
        add_child(part, inner);
        end = parse_entity(ps, inner, part->body_off, 1, 0);
    } else {
        end = next_delim(ps, part->body_off, &d);
    }
    finish_body(ps, part, end);
    return end;
}

int message_parse(const char *base, size_t len, struct message_part **rootp)
{
    *rootp = NULL;
    if (!base && len) return CYRERR_BADARGS;
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.base = base ? base : "";
    ps.len = len;
    struct message_part *root = new_part(&ps, 0);
    parse_entity(&ps, root, 0, 1, 0);
    *rootp = root;
    return 0;
}

void message_free(struct message_part **rootp)
{
    struct message_part *p = *rootp;
    if (!p) return;
    for (int i = 0; i < p->nchildren; i++) message_free(&p->children[i]);
    free(p->children);
    free(p->type);
    free(p->subtype);
    message_param_free(&p->params);
    free(p->charset);
    free(p->boundary);
    free(p->id);
    free(p->description);
    free(p->md5);
    free(p->location);
    free(p->encoding);
    free(p->disposition);
    message_param_free(&p->disp_params);
    strarray_free(&p->language);
    for (int i = 0; i < MESSAGE_HDR_COUNT; i++) free(p->hdr[i]);
    free(p);
    *rootp = NULL;
}

size_t message_count_parts(const struct message_part *root)
{
    if (!root) return 0;
    size_t n = 1;
    for (int i = 0; i < root->nchildren; i++)
        n += message_count_parts(root->children[i]);
    return n;
}
