/* msgcache: encoding and decoding the cache record.  See msgcache.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "imap/store/msgcache.h"
#include "imap/store/message_imap.h"
#include "error.h"
#include "xmalloc.h"

#define MAGIC "MSGC"
#define MAGIC_LEN 4
#define MAX_PARTS_ACCEPTED (2 * MESSAGE_MAX_PARTS)

struct str {
    const char *s;     /* NULL when absent */
    size_t len;
};

struct msgcache {
    size_t msgsize;
    struct str envelope, bodystructure, body;
    struct message_span *spans;
    size_t nspans;
    struct str fields[MSGCACHE_NFIELDS];
    int has_date;
    time_t date;
};

/* ---- encoding ---------------------------------------------------------- */

static void put_varint(struct buf *out, uint64_t v)
{
    do {
        unsigned char c = v & 0x7F;
        v >>= 7;
        if (v) c |= 0x80;
        buf_putc(out, (char)c);
    } while (v);
}

static void put_str(struct buf *out, const char *s, size_t len)
{
    if (!s) {
        put_varint(out, 0);
        return;
    }
    put_varint(out, (uint64_t)len + 1);
    buf_appendmap(out, s, len);
    buf_putc(out, '\0');
}

static void put_cstr(struct buf *out, const char *s)
{
    put_str(out, s, s ? strlen(s) : 0);
}

static void put_buf(struct buf *out, const struct buf *b)
{
    put_str(out, buf_base(b), buf_len(b));
}

/* First real address's mailbox of a raw address header, or NULL. */
static char *first_mailbox(const char *value)
{
    if (!value) return NULL;
    struct message_address *list = message_address_parse(value, strlen(value));
    char *r = NULL;
    for (struct message_address *a = list; a && !r; a = a->next)
        if (a->mailbox && a->domain) r = xstrdup(a->mailbox);
    message_address_free(&list);
    return r;
}

static void put_decoded(struct buf *out, const char *raw)
{
    if (!raw) {
        put_str(out, NULL, 0);
        return;
    }
    struct buf b = BUF_INITIALIZER;
    charset_decode_mimeheader(raw, strlen(raw), &b);
    put_buf(out, &b);
    buf_free(&b);
}

static void put_fields(struct buf *out, const struct message_part *root)
{
    char *const *h = root->hdr;
    put_varint(out, MSGCACHE_NFIELDS);
    put_decoded(out, h[MESSAGE_HDR_FROM]);
    put_decoded(out, h[MESSAGE_HDR_TO]);
    put_decoded(out, h[MESSAGE_HDR_CC]);
    put_decoded(out, h[MESSAGE_HDR_BCC]);
    put_decoded(out, h[MESSAGE_HDR_SUBJECT]);
    if (h[MESSAGE_HDR_SUBJECT]) {
        struct buf dec = BUF_INITIALIZER, base = BUF_INITIALIZER;
        charset_decode_mimeheader(h[MESSAGE_HDR_SUBJECT],
                                  strlen(h[MESSAGE_HDR_SUBJECT]), &dec);
        message_base_subject(buf_base(&dec), buf_len(&dec), &base);
        put_buf(out, &base);
        buf_free(&dec);
        buf_free(&base);
    } else {
        put_str(out, NULL, 0);
    }
    put_cstr(out, h[MESSAGE_HDR_MESSAGE_ID]);
    put_cstr(out, h[MESSAGE_HDR_IN_REPLY_TO]);
    put_cstr(out, h[MESSAGE_HDR_REFERENCES]);
    const int sorted[3] = { MESSAGE_HDR_FROM, MESSAGE_HDR_TO, MESSAGE_HDR_CC };
    for (int i = 0; i < 3; i++) {
        char *m = first_mailbox(h[sorted[i]]);
        put_cstr(out, m);
        free(m);
    }
}

void msgcache_encode(const char *base, size_t len,
                     const struct message_part *root, struct buf *out)
{
    size_t start = buf_len(out);
    struct buf tmp = BUF_INITIALIZER;
    (void)base;

    buf_appendmap(out, MAGIC, MAGIC_LEN);
    buf_putc(out, (char)MSGCACHE_VERSION);
    put_varint(out, len);

    message_imap_envelope(&tmp, root);
    put_buf(out, &tmp);
    buf_reset(&tmp);
    message_imap_body(&tmp, root, 1);
    put_buf(out, &tmp);
    buf_reset(&tmp);
    message_imap_body(&tmp, root, 0);
    put_buf(out, &tmp);
    buf_free(&tmp);

    struct message_span *sp;
    size_t n = message_spans(root, &sp);
    put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        put_varint(out, (uint64_t)sp[i].kind);
        put_varint(out, (uint64_t)sp[i].cte);
        put_varint(out, sp[i].flags);
        put_varint(out, sp[i].header_off);
        put_varint(out, sp[i].header_len);
        put_varint(out, sp[i].body_off);
        put_varint(out, sp[i].body_len);
        put_varint(out, sp[i].nchildren);
        put_cstr(out, sp[i].type);
        put_cstr(out, sp[i].subtype);
        put_cstr(out, sp[i].charset);
    }
    free(sp);

    put_fields(out, root);
    time_t t;
    const char *date = root->hdr[MESSAGE_HDR_DATE];
    if (date && message_parse_date(date, strlen(date), &t) == 0) {
        buf_putc(out, 1);
        int64_t v = (int64_t)t;
        put_varint(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
    } else {
        buf_putc(out, 0);
    }

    uLong crc = crc32(0L, Z_NULL, 0);
    const unsigned char *rec = (const unsigned char *)buf_base(out) + start;
    size_t reclen = buf_len(out) - start;
    while (reclen) {
        uInt chunk = reclen > (1u << 30) ? (1u << 30) : (uInt)reclen;
        crc = crc32(crc, rec, chunk);
        rec += chunk;
        reclen -= chunk;
    }
    for (int i = 0; i < 4; i++) buf_putc(out, (char)((crc >> (8 * i)) & 0xFF));
}

void msgcache_build(const char *base, size_t len, struct buf *out)
{
    struct message_part *root = NULL;
    if (message_parse(base, len, &root) < 0) {
        /* only a NULL base with a length: describe an empty message */
        base = "";
        len = 0;
        if (message_parse(base, len, &root) < 0) return;
    }
    msgcache_encode(base, len, root, out);
    message_free(&root);
}

/* ---- decoding ---------------------------------------------------------- */

struct reader {
    const unsigned char *p;
    size_t len, pos;
    int bad;
};

static uint64_t get_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->len) break;
        unsigned char c = r->p[r->pos++];
        if (shift == 63 && (c & 0x7E)) break;       /* over 64 bits */
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

static size_t get_size(struct reader *r, uint64_t max)
{
    uint64_t v = get_varint(r);
    if (v > max) {
        r->bad = 1;
        return 0;
    }
    return (size_t)v;
}

static struct str get_str(struct reader *r)
{
    struct str s = { NULL, 0 };
    uint64_t v = get_varint(r);
    if (r->bad || !v) return s;
    uint64_t n = v - 1;
    if (n >= r->len - r->pos || r->p[r->pos + n] != '\0') {
        r->bad = 1;
        return s;
    }
    s.s = (const char *)r->p + r->pos;
    s.len = (size_t)n;
    r->pos += (size_t)n + 1;
    return s;
}

/* Check the pre-order tree shape given by nchildren and fill in subtree
 * sizes.  Returns 0 or CYRERR_CORRUPT. */
static int check_tree(struct message_span *sp, size_t n)
{
    size_t *stack = xcalloc(n, sizeof(*stack));
    uint32_t *rem = xcalloc(n, sizeof(*rem));
    size_t depth = 0;
    int r = 0;
    for (size_t i = 0; i < n && !r; i++) {
        if (i > 0) {
            if (!depth) { r = CYRERR_CORRUPT; break; }   /* two roots */
            rem[stack[depth - 1]]--;
        }
        if (sp[i].kind == MESSAGE_KIND_LEAF && sp[i].nchildren) r = CYRERR_CORRUPT;
        if (sp[i].kind == MESSAGE_KIND_RFC822 && sp[i].nchildren != 1)
            r = CYRERR_CORRUPT;
        if (sp[i].nchildren > n - 1 - i) r = CYRERR_CORRUPT;
        stack[depth++] = i;
        rem[i] = sp[i].nchildren;
        while (depth && !rem[stack[depth - 1]]) {
            size_t top = stack[--depth];
            sp[top].subtree = (uint32_t)(i + 1 - top);
        }
    }
    if (!r && depth) r = CYRERR_CORRUPT;                 /* children missing */
    free(stack);
    free(rem);
    return r;
}

static int in_msg(size_t off, size_t len, size_t msgsize)
{
    return off <= msgsize && len <= msgsize - off;
}

static int read_spans(struct reader *r, struct msgcache *mc)
{
    size_t n = get_size(r, MAX_PARTS_ACCEPTED);
    if (r->bad || !n || n > r->len - r->pos) return CYRERR_CORRUPT;
    mc->spans = xcalloc(n, sizeof(*mc->spans));
    mc->nspans = n;
    for (size_t i = 0; i < n && !r->bad; i++) {
        struct message_span *s = &mc->spans[i];
        s->kind = (enum message_kind)get_size(r, MESSAGE_KIND_RFC822);
        s->cte = (enum charset_encoding)get_size(r, CHARSET_ENC_UNKNOWN);
        s->flags = (unsigned)get_size(r, 0xFFFF);
        s->header_off = get_size(r, mc->msgsize);
        s->header_len = get_size(r, mc->msgsize);
        s->body_off = get_size(r, mc->msgsize);
        s->body_len = get_size(r, mc->msgsize);
        s->nchildren = (uint32_t)get_size(r, MAX_PARTS_ACCEPTED);
        struct str t = get_str(r), st = get_str(r), cs = get_str(r);
        if (r->bad) break;
        if (!t.s || !st.s ||
            !in_msg(s->header_off, s->header_len, mc->msgsize) ||
            !in_msg(s->body_off, s->body_len, mc->msgsize))
            return CYRERR_CORRUPT;
        s->type = t.s;
        s->subtype = st.s;
        s->charset = cs.s;
    }
    if (r->bad) return CYRERR_CORRUPT;
    return check_tree(mc->spans, n);
}

int msgcache_decode(const char *rec, size_t len, struct msgcache **mcp)
{
    *mcp = NULL;
    if (!rec || len < MAGIC_LEN + 1 + 4 || memcmp(rec, MAGIC, MAGIC_LEN))
        return CYRERR_CORRUPT;
    const unsigned char *u = (const unsigned char *)rec;
    size_t body = len - 4;
    uLong want = (uLong)u[body] | (uLong)u[body + 1] << 8 |
                 (uLong)u[body + 2] << 16 | (uLong)u[body + 3] << 24;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < body;) {
        uInt chunk = body - off > (1u << 30) ? (1u << 30) : (uInt)(body - off);
        crc = crc32(crc, u + off, chunk);
        off += chunk;
    }
    if ((crc & 0xFFFFFFFFUL) != want) return CYRERR_CORRUPT;
    if (u[MAGIC_LEN] != MSGCACHE_VERSION) return CYRERR_NOTSUPPORTED;

    struct reader r = { u, body, MAGIC_LEN + 1, 0 };
    struct msgcache *mc = xzmalloc(sizeof(*mc));
    int ret = CYRERR_CORRUPT;
    mc->msgsize = get_size(&r, SIZE_MAX);
    mc->envelope = get_str(&r);
    mc->bodystructure = get_str(&r);
    mc->body = get_str(&r);
    if (r.bad || !mc->envelope.s || !mc->bodystructure.s || !mc->body.s)
        goto out;
    if ((ret = read_spans(&r, mc)) < 0) goto out;
    ret = CYRERR_CORRUPT;
    size_t nf = get_size(&r, 1024);
    for (size_t i = 0; i < nf && !r.bad; i++) {
        struct str s = get_str(&r);
        if (i < MSGCACHE_NFIELDS) mc->fields[i] = s;
    }
    if (r.bad || r.pos >= r.len) goto out;
    mc->has_date = r.p[r.pos++];
    if (mc->has_date > 1) goto out;
    if (mc->has_date) {
        uint64_t z = get_varint(&r);
        mc->date = (time_t)(int64_t)((z >> 1) ^ (~(z & 1) + 1));
    }
    if (r.bad || r.pos != r.len) goto out;
    *mcp = mc;
    return 0;
out:
    msgcache_free(&mc);
    return ret;
}

void msgcache_free(struct msgcache **mcp)
{
    if (!*mcp) return;
    free((*mcp)->spans);
    xfree(*mcp);
}

size_t msgcache_msgsize(const struct msgcache *mc)
{
    return mc->msgsize;
}

static const char *str_out(const struct str *s, size_t *lenp)
{
    if (lenp) *lenp = s->len;
    return s->s;
}

const char *msgcache_envelope(const struct msgcache *mc, size_t *lenp)
{
    return str_out(&mc->envelope, lenp);
}

const char *msgcache_bodystructure(const struct msgcache *mc, size_t *lenp)
{
    return str_out(&mc->bodystructure, lenp);
}

const char *msgcache_body(const struct msgcache *mc, size_t *lenp)
{
    return str_out(&mc->body, lenp);
}

const struct message_span *msgcache_spans(const struct msgcache *mc,
                                          size_t *np)
{
    *np = mc->nspans;
    return mc->spans;
}

const char *msgcache_field(const struct msgcache *mc, enum msgcache_field f,
                           size_t *lenp)
{
    if ((int)f < 0 || f >= MSGCACHE_NFIELDS) {
        if (lenp) *lenp = 0;
        return NULL;
    }
    return str_out(&mc->fields[f], lenp);
}

int msgcache_date(const struct msgcache *mc, time_t *tp)
{
    if (!mc->has_date) return CYRERR_NOTFOUND;
    *tp = mc->date;
    return 0;
}
