/* message_section: part numbers and section contents.  See
 * message_section.h.
 *
 * RFC 3501 9:
 *   section-spec    = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                     "TEXT"
 *   section-part    = nz-number *("." nz-number)
 *   section-text    = section-msgtext / "MIME"
 *   header-list     = "(" header-fld-name *(SP header-fld-name) ")"
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/store/message_section.h"
#include "error.h"
#include "xmalloc.h"

/* ---- flat form ---------------------------------------------------------- */

static void spans_add(const struct message_part *p, struct message_span *sp,
                      size_t *n)
{
    size_t me = (*n)++;
    struct message_span *s = &sp[me];
    s->header_off = p->header_off;
    s->header_len = p->header_len;
    s->body_off = p->body_off;
    s->body_len = p->body_len;
    s->kind = p->kind;
    s->flags = p->flags;
    s->cte = p->cte;
    s->nchildren = (uint32_t)p->nchildren;
    s->type = p->type;
    s->subtype = p->subtype;
    s->charset = p->charset;
    for (int i = 0; i < p->nchildren; i++) spans_add(p->children[i], sp, n);
    sp[me].subtree = (uint32_t)(*n - me);
}

size_t message_spans(const struct message_part *root,
                     struct message_span **spansp)
{
    size_t total = message_count_parts(root), n = 0;
    struct message_span *sp = xcalloc(total ? total : 1, sizeof(*sp));
    if (root) spans_add(root, sp, &n);
    *spansp = sp;
    return n;
}

/* ---- parsing a section spec --------------------------------------------- */

static int match_word(const char *s, size_t len, size_t *i, const char *w)
{
    size_t n = strlen(w);
    if (len - *i < n || strncasecmp(s + *i, w, n)) return 0;
    *i += n;
    return 1;
}

static int parse_header_list(const char *s, size_t len, size_t *i,
                             struct strarray *fields)
{
    if (*i >= len || s[*i] != ' ') return CYRERR_PARSE;
    (*i)++;
    if (*i >= len || s[*i] != '(') return CYRERR_PARSE;
    (*i)++;
    for (;;) {
        struct buf name = BUF_INITIALIZER;
        if (*i < len && s[*i] == '"') {
            for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
                if (s[*i] == '\\' && *i + 1 < len) (*i)++;
                buf_putc(&name, s[*i]);
            }
            if (*i >= len) { buf_free(&name); return CYRERR_PARSE; }
            (*i)++;
        } else {
            size_t st = *i;
            while (*i < len && s[*i] != ' ' && s[*i] != ')' &&
                   s[*i] != '(' && s[*i] != '"' &&
                   (unsigned char)s[*i] > 32 && (unsigned char)s[*i] < 127)
                (*i)++;
            if (*i == st) return CYRERR_PARSE;
            buf_appendmap(&name, s + st, *i - st);
        }
        strarray_appendm(fields, buf_release(&name));
        if (*i >= len) return CYRERR_PARSE;
        if (s[*i] == ')') {
            (*i)++;
            return 0;
        }
        if (s[*i] != ' ') return CYRERR_PARSE;
        (*i)++;
    }
}

int message_section_parse(const char *spec, size_t len,
                          struct message_section *sec)
{
    size_t i = 0;
    sec->part = NULL;
    sec->nparts = 0;
    sec->kind = MESSAGE_SECTION_BODY;
    strarray_init(&sec->fields);

    while (i < len && spec[i] >= '1' && spec[i] <= '9') {
        uint64_t v = 0;
        while (i < len && spec[i] >= '0' && spec[i] <= '9') {
            v = v * 10 + (uint64_t)(spec[i++] - '0');
            if (v > UINT32_MAX) return CYRERR_PARSE;
        }
        if (sec->nparts >= MESSAGE_SECTION_MAX_PARTS) return CYRERR_PARSE;
        sec->part = xreallocarray(sec->part, (size_t)sec->nparts + 1,
                                  sizeof(*sec->part));
        sec->part[sec->nparts++] = (uint32_t)v;
        if (i >= len) return 0;
        if (spec[i] != '.') return CYRERR_PARSE;
        i++;
        if (i >= len) return CYRERR_PARSE;      /* "1." */
    }
    if (i >= len) return sec->nparts ? CYRERR_PARSE : 0;

    if (match_word(spec, len, &i, "HEADER.FIELDS.NOT")) {
        sec->kind = MESSAGE_SECTION_HEADER_FIELDS_NOT;
    } else if (match_word(spec, len, &i, "HEADER.FIELDS")) {
        sec->kind = MESSAGE_SECTION_HEADER_FIELDS;
    } else if (match_word(spec, len, &i, "HEADER")) {
        sec->kind = MESSAGE_SECTION_HEADER;
    } else if (match_word(spec, len, &i, "TEXT")) {
        sec->kind = MESSAGE_SECTION_TEXT;
    } else if (sec->nparts && match_word(spec, len, &i, "MIME")) {
        sec->kind = MESSAGE_SECTION_MIME;
    } else {
        return CYRERR_PARSE;
    }
    if (sec->kind == MESSAGE_SECTION_HEADER_FIELDS ||
        sec->kind == MESSAGE_SECTION_HEADER_FIELDS_NOT) {
        int r = parse_header_list(spec, len, &i, &sec->fields);
        if (r < 0) return r;
    }
    return i == len ? 0 : CYRERR_PARSE;
}

void message_section_fini(struct message_section *sec)
{
    xfree(sec->part);
    sec->nparts = 0;
    strarray_free(&sec->fields);
}

/* ---- finding parts ------------------------------------------------------ */

static int child_of(const struct message_span *sp, size_t n, size_t parent,
                    uint32_t num, size_t *out)
{
    if (num == 0 || num > sp[parent].nchildren) return 0;
    size_t i = parent + 1;
    for (uint32_t k = 1; k < num; k++) {
        if (i >= n || !sp[i].subtree) return 0;
        i += sp[i].subtree;
    }
    if (i >= n) return 0;
    *out = i;
    return 1;
}

/* Part `num` of the message entity `m`. */
static int part_of_message(const struct message_span *sp, size_t n, size_t m,
                           uint32_t num, size_t *out)
{
    if (sp[m].kind == MESSAGE_KIND_MULTIPART)
        return child_of(sp, n, m, num, out);
    if (num != 1) return 0;
    *out = m;
    return 1;
}

int message_section_find(const struct message_span *spans, size_t nspans,
                         const uint32_t *part, int nparts, size_t *idxp)
{
    if (!nspans) return CYRERR_NOTFOUND;
    size_t cur = 0;
    for (int i = 0; i < nparts; i++) {
        size_t next, m;
        int ok;
        if (i == 0)
            ok = part_of_message(spans, nspans, 0, part[i], &next);
        else if (spans[cur].kind == MESSAGE_KIND_MULTIPART)
            ok = child_of(spans, nspans, cur, part[i], &next);
        else if (spans[cur].kind == MESSAGE_KIND_RFC822)
            ok = child_of(spans, nspans, cur, 1, &m) &&
                 part_of_message(spans, nspans, m, part[i], &next);
        else
            ok = 0;
        if (!ok) return CYRERR_NOTFOUND;
        cur = next;
    }
    *idxp = cur;
    return 0;
}

/* ---- contents ----------------------------------------------------------- */

static int in_bounds(size_t off, size_t n, size_t len)
{
    return off <= len && n <= len - off;
}

static void header_fields(const char *h, size_t hlen, int blank,
                          const struct strarray *names, int negate,
                          struct buf *out)
{
    size_t pos = 0;
    struct message_field f;
    while (message_header_next(h, hlen, &pos, &f)) {
        int hit = 0;
        for (int i = 0; i < names->count && !hit; i++) {
            const char *nm = names->data[i];
            hit = strlen(nm) == f.namelen && !strncasecmp(nm, f.name, f.namelen);
        }
        if (hit == !negate) {
            buf_appendmap(out, f.line, f.linelen);
            /* a last field without a line break still gets one */
            if (!f.linelen || f.line[f.linelen - 1] != '\n')
                buf_appendcstr(out, "\r\n");
        }
    }
    if (blank) {
        if (hlen >= 2 && h[hlen - 2] == '\r' && h[hlen - 1] == '\n')
            buf_appendcstr(out, "\r\n");
        else
            buf_putc(out, '\n');
    }
}

int message_section_fetch(const char *base, size_t len,
                          const struct message_span *spans, size_t nspans,
                          const struct message_section *sec, unsigned flags,
                          struct buf *scratch, const char **datap,
                          size_t *lenp)
{
    size_t idx;
    int r = message_section_find(spans, nspans, sec->part, sec->nparts, &idx);
    if (r < 0) return r;
    const struct message_span *sp = &spans[idx];
    if (!in_bounds(sp->header_off, sp->header_len, len) ||
        !in_bounds(sp->body_off, sp->body_len, len))
        return CYRERR_CORRUPT;

    if ((flags & MESSAGE_SECTION_BINARY) && sec->kind != MESSAGE_SECTION_BODY)
        return CYRERR_BADARGS;

    if (sec->kind == MESSAGE_SECTION_BODY) {
        if (!sec->nparts) {
            *datap = base;
            *lenp = len;
            return 0;
        }
        *datap = base + sp->body_off;
        *lenp = sp->body_len;
        if ((flags & MESSAGE_SECTION_BINARY) &&
            sp->kind == MESSAGE_KIND_LEAF && sp->cte != CHARSET_ENC_NONE) {
            buf_reset(scratch);
            r = charset_decode(sp->cte, *datap, *lenp, scratch);
            if (r < 0) return r;
            *datap = buf_base(scratch);
            *lenp = buf_len(scratch);
        }
        return 0;
    }
    if (sec->kind == MESSAGE_SECTION_MIME) {
        *datap = base + sp->header_off;
        *lenp = sp->header_len;
        return 0;
    }
    /* HEADER, HEADER.FIELDS[.NOT], TEXT: of a message */
    if (sec->nparts) {
        size_t m;
        if (sp->kind != MESSAGE_KIND_RFC822 ||
            !child_of(spans, nspans, idx, 1, &m))
            return CYRERR_NOTFOUND;
        sp = &spans[m];
        if (!in_bounds(sp->header_off, sp->header_len, len) ||
            !in_bounds(sp->body_off, sp->body_len, len))
            return CYRERR_CORRUPT;
    }
    switch (sec->kind) {
    case MESSAGE_SECTION_HEADER:
        *datap = base + sp->header_off;
        *lenp = sp->header_len;
        return 0;
    case MESSAGE_SECTION_TEXT:
        *datap = base + sp->body_off;
        *lenp = sp->body_len;
        return 0;
    case MESSAGE_SECTION_HEADER_FIELDS:
    case MESSAGE_SECTION_HEADER_FIELDS_NOT:
        buf_reset(scratch);
        header_fields(base + sp->header_off, sp->header_len,
                      (sp->flags & MESSAGE_PART_BLANKLINE) != 0, &sec->fields,
                      sec->kind == MESSAGE_SECTION_HEADER_FIELDS_NOT, scratch);
        *datap = buf_base(scratch);
        *lenp = buf_len(scratch);
        return 0;
    default:
        break;
    }
    return CYRERR_INTERNAL;
}
