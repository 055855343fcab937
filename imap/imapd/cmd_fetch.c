/* cmd_fetch: FETCH and UID FETCH (RFC 3501 6.4.5), with BINARY (RFC 3516)
 * and the CONDSTORE parts (MODSEQ item, CHANGEDSINCE modifier; RFC 7162).
 *
 * Items: the macros ALL, FAST, FULL; FLAGS, UID, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial>,
 * BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT, BINARY[...],
 * BINARY.PEEK[...], BINARY.SIZE[...], MODSEQ.  A partial may be <o.n> or
 * <o> (from o to the end); the reply names it <o>.
 *
 * Where the data comes from: UID, FLAGS and MODSEQ from the session's view
 * (no lock, no I/O); INTERNALDATE and RFC822.SIZE from the index record;
 * ENVELOPE, BODY, BODYSTRUCTURE and the part table from the cache record
 * (never a reparse); section contents from the message file (read or
 * mapped), written out with exact literal counts.  Records and cache
 * records are read in batches under a shared lock that is released before
 * anything is written to the client, so a slow client never holds up
 * writers.  Sections of the top-level message ([], HEADER, TEXT,
 * HEADER.FIELDS) need no cache record: the record's header size says where
 * the body starts.
 *
 * \Seen: a non-PEEK body item (BODY[...], BINARY[...], RFC822,
 * RFC822.TEXT) in a read-write session with the "s" right marks the
 * messages \Seen first, in one store, and their replies then carry FLAGS.
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
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"
#include "imap/store/message_section.h"
#include "imap/store/msgcache.h"
#include "imap/store/seqset.h"

enum fetch_kind {
    FK_UID,
    FK_FLAGS,
    FK_INTERNALDATE,
    FK_SIZE,
    FK_ENVELOPE,
    FK_BODY,               /* BODY without a section */
    FK_BODYSTRUCTURE,
    FK_MODSEQ,
    FK_SECTION,            /* BODY[...], BINARY[...], RFC822[.HEADER|.TEXT] */
    FK_BINARY_SIZE
};

struct fetch_item {
    enum fetch_kind kind;
    int binary;                  /* decode the transfer encoding */
    int sets_seen;
    struct message_section sec;
    char *name;                  /* reply name, without the partial */
    int partial;                 /* <o.n> or <o> given */
    uint64_t origin, count;      /* count UINT64_MAX: to the end */
};

#define NEED_RECORD 0x01
#define NEED_CACHE  0x02
#define NEED_FILE   0x04

struct fetch_req {
    struct fetch_item *items;
    size_t n, alloc;
    unsigned need;
    int sets_seen;
    int has_uid, has_flags, has_modseq;
    int has_changedsince;
    uint64_t changedsince;
};

static void req_free(struct fetch_req *rq)
{
    for (size_t i = 0; i < rq->n; i++) {
        message_section_fini(&rq->items[i].sec);
        free(rq->items[i].name);
    }
    free(rq->items);
    memset(rq, 0, sizeof(*rq));
}

static struct fetch_item *add_item(struct fetch_req *rq, enum fetch_kind kind)
{
    if (rq->n == rq->alloc) {
        rq->alloc = rq->alloc ? rq->alloc * 2 : 8;
        rq->items = xreallocarray(rq->items, rq->alloc, sizeof(*rq->items));
    }
    struct fetch_item *it = &rq->items[rq->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->sec = (struct message_section)MESSAGE_SECTION_INITIALIZER;
    switch (kind) {
    case FK_UID: rq->has_uid = 1; break;
    case FK_FLAGS: rq->has_flags = 1; break;
    case FK_MODSEQ: rq->has_modseq = 1; break;
    case FK_INTERNALDATE:
    case FK_SIZE: rq->need |= NEED_RECORD; break;
    case FK_ENVELOPE:
    case FK_BODY:
    case FK_BODYSTRUCTURE: rq->need |= NEED_RECORD | NEED_CACHE; break;
    case FK_SECTION:
    case FK_BINARY_SIZE: rq->need |= NEED_RECORD | NEED_FILE; break;
    }
    return it;
}

/* ---- parsing -------------------------------------------------------------- */

/* The section spec of an attribute "NAME[spec]<p>": finds the "]" that
 * closes it (quoted field names may hold "]"). */
static int split_section(const char *att, size_t *open, size_t *close)
{
    const char *lb = strchr(att, '[');
    if (!lb) return 0;
    *open = (size_t)(lb - att);
    int inq = 0;
    for (const char *p = lb + 1; *p; p++) {
        if (inq) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') inq = 0;
        } else if (*p == '"') {
            inq = 1;
        } else if (*p == ']') {
            *close = (size_t)(p - att);
            return 1;
        }
    }
    return -1;
}

static int parse_number(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    if (*p < '0' || *p > '9') return 0;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > UINT32_MAX) return 0;
    }
    *out = v;
    *pp = p;
    return 1;
}

/* The canonical reply name of a section: "1.2.HEADER.FIELDS (A B)". */
static void section_name(struct imapd_session *s, const struct message_section *sec,
                         struct buf *out)
{
    for (int i = 0; i < sec->nparts; i++)
        buf_printf(out, "%s%u", i ? "." : "", sec->part[i]);
    static const char *const kinds[] = {
        [MESSAGE_SECTION_BODY] = "", [MESSAGE_SECTION_HEADER] = "HEADER",
        [MESSAGE_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
        [MESSAGE_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
        [MESSAGE_SECTION_TEXT] = "TEXT", [MESSAGE_SECTION_MIME] = "MIME",
    };
    if (sec->kind != MESSAGE_SECTION_BODY) {
        if (sec->nparts) buf_putc(out, '.');
        buf_appendcstr(out, kinds[sec->kind]);
    }
    if (sec->kind == MESSAGE_SECTION_HEADER_FIELDS ||
        sec->kind == MESSAGE_SECTION_HEADER_FIELDS_NOT) {
        buf_appendcstr(out, " (");
        for (int i = 0; i < sec->fields.count; i++) {
            if (i) buf_putc(out, ' ');
            imapd_buf_astring(s, out, sec->fields.data[i]);
        }
        buf_putc(out, ')');
    }
}

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...]: `base` is the name before "[". */
static int parse_section_att(struct imapd_session *s, struct fetch_req *rq,
                             const char *att, size_t open, size_t close)
{
    char base[16];
    if (open >= sizeof(base)) return imapd_syntax(s, "Invalid fetch attribute");
    memcpy(base, att, open);
    base[open] = '\0';
    int binary = 0, peek = 0, size = 0;
    if (!strcasecmp(base, "BODY")) ;
    else if (!strcasecmp(base, "BODY.PEEK")) peek = 1;
    else if (!strcasecmp(base, "BINARY")) binary = 1;
    else if (!strcasecmp(base, "BINARY.PEEK")) binary = peek = 1;
    else if (!strcasecmp(base, "BINARY.SIZE")) binary = size = 1;
    else return imapd_syntax(s, "Invalid fetch attribute %s", base);

    struct fetch_item *it = add_item(rq, size ? FK_BINARY_SIZE : FK_SECTION);
    it->binary = binary;
    if (message_section_parse(att + open + 1, close - open - 1, &it->sec) < 0)
        return imapd_syntax(s, "Invalid section");
    if (binary && it->sec.kind != MESSAGE_SECTION_BODY)
        return imapd_syntax(s, "BINARY takes only part numbers");
    if (it->sec.nparts) rq->need |= NEED_CACHE;
    if (!peek && !size) it->sets_seen = rq->sets_seen = 1;

    const char *p = att + close + 1;
    if (*p == '<') {
        if (size) return imapd_syntax(s, "BINARY.SIZE takes no partial");
        p++;
        it->partial = 1;
        it->count = UINT64_MAX;
        if (!parse_number(&p, &it->origin)) return imapd_syntax(s, "Invalid partial");
        if (*p == '.') {
            p++;
            if (!parse_number(&p, &it->count) || it->count == 0)
                return imapd_syntax(s, "Invalid partial");
        }
        if (*p++ != '>') return imapd_syntax(s, "Invalid partial");
    }
    if (*p) return imapd_syntax(s, "Invalid fetch attribute");

    struct buf name = BUF_INITIALIZER;
    buf_appendcstr(&name, size ? "BINARY.SIZE[" : binary ? "BINARY[" : "BODY[");
    section_name(s, &it->sec, &name);
    buf_putc(&name, ']');
    it->name = buf_release(&name);
    return 0;
}

static int parse_att(struct imapd_session *s, struct fetch_req *rq, const char *att)
{
    size_t open, close;
    int sec = split_section(att, &open, &close);
    if (sec < 0) return imapd_syntax(s, "Invalid section");
    if (sec) return parse_section_att(s, rq, att, open, close);

    static const struct {
        const char *name;
        enum fetch_kind kind;
    } simple[] = {
        { "UID", FK_UID }, { "FLAGS", FK_FLAGS },
        { "INTERNALDATE", FK_INTERNALDATE }, { "RFC822.SIZE", FK_SIZE },
        { "ENVELOPE", FK_ENVELOPE }, { "BODY", FK_BODY },
        { "BODYSTRUCTURE", FK_BODYSTRUCTURE }, { "MODSEQ", FK_MODSEQ },
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (!strcasecmp(att, simple[i].name)) {
            add_item(rq, simple[i].kind);
            return 0;
        }

    /* RFC822, RFC822.HEADER, RFC822.TEXT */
    enum message_section_kind k;
    int seen = 1;
    if (!strcasecmp(att, "RFC822")) k = MESSAGE_SECTION_BODY;
    else if (!strcasecmp(att, "RFC822.HEADER")) k = MESSAGE_SECTION_HEADER, seen = 0;
    else if (!strcasecmp(att, "RFC822.TEXT")) k = MESSAGE_SECTION_TEXT;
    else return imapd_syntax(s, "Invalid fetch attribute %s", att);
    struct fetch_item *it = add_item(rq, FK_SECTION);
    it->sec.kind = k;
    it->name = xstrdup(k == MESSAGE_SECTION_BODY ? "RFC822" :
                       k == MESSAGE_SECTION_HEADER ? "RFC822.HEADER" : "RFC822.TEXT");
    if (seen) it->sets_seen = rq->sets_seen = 1;
    return 0;
}

static int parse_macro(struct fetch_req *rq, const char *att)
{
    int all = !strcasecmp(att, "ALL"), fast = !strcasecmp(att, "FAST"),
        full = !strcasecmp(att, "FULL");
    if (!all && !fast && !full) return 0;
    add_item(rq, FK_FLAGS);
    add_item(rq, FK_INTERNALDATE);
    add_item(rq, FK_SIZE);
    if (!fast) add_item(rq, FK_ENVELOPE);
    if (full) add_item(rq, FK_BODY);
    return 1;
}

/* "(CHANGEDSINCE n)" after the attributes; "(" already read. */
static int parse_modifiers(struct imapd_session *s, struct fetch_req *rq)
{
    struct buf name = BUF_INITIALIZER;
    int c;
    for (;;) {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &name);
        if (c < 0) break;
        if (!strcasecmp(buf_cstring(&name), "CHANGEDSINCE") && c == ' ') {
            c = tok_uint64(&s->tp, &rq->changedsince);
            if (c < 0) break;
            rq->has_changedsince = 1;
        } else {
            c = imapd_syntax(s, "Unknown FETCH modifier %s", buf_cstring(&name));
            break;
        }
        if (c == ')') {
            c = tok_getc(&s->tp);
            break;
        }
        if (c != ' ') {
            c = imapd_syntax(s, "Invalid FETCH modifiers");
            break;
        }
    }
    buf_free(&name);
    return c;
}

static int parse_fetch(struct imapd_session *s, struct tok_seqset *set, struct fetch_req *rq)
{
    int c = tok_seqset(&s->tp, 0, set);
    if (c < 0) return c;
    if (c != ' ') return imapd_syntax(s, "Missing fetch attributes");
    struct buf att = BUF_INITIALIZER;
    c = tok_getc(&s->tp);
    if (c == '(') {
        for (;;) {
            c = tok_atom(&s->tp, TOK_CS_FETCHATT, &att);
            if (c < 0) break;
            int r = parse_att(s, rq, buf_cstring(&att));
            if (r < 0) {
                c = r;
                break;
            }
            if (rq->n > s->tp.limits.maxitems) {
                c = imapd_syntax(s, "Too many fetch attributes");
                break;
            }
            if (c == ')') {
                c = tok_getc(&s->tp);
                break;
            }
            if (c != ' ') {
                c = imapd_syntax(s, "Invalid fetch attribute list");
                break;
            }
        }
    } else if (c >= 0) {
        tok_ungetc(&s->tp, c);
        c = tok_atom(&s->tp, TOK_CS_FETCHATT, &att);
        if (c >= 0 && !parse_macro(rq, buf_cstring(&att))) {
            int r = parse_att(s, rq, buf_cstring(&att));
            if (r < 0) c = r;
        }
    }
    buf_free(&att);
    if (c == ' ') {
        c = tok_getc(&s->tp);
        if (c >= 0 && c != '(') return imapd_syntax(s, "Invalid FETCH modifiers");
        if (c >= 0) c = parse_modifiers(s, rq);
    }
    return c;
}

/* ---- \Seen ------------------------------------------------------------------ */

struct seen_rock {
    struct imapd_session *s;
};

static void seen_store_cb(void *rock, const struct mailbox_record *rec,
                          enum mailbox_store_outcome outcome)
{
    struct seen_rock *sr = rock;
    if (outcome != MAILBOX_STORE_MODIFIED) mailbox_view_apply(sr->s->sel.view, rec);
}

/* Mark the messages of ml that are not \Seen yet; their UIDs go to
 * `marked`. */
static int set_seen(struct imapd_session *s, const struct imapd_msglist *ml,
                    const struct fetch_req *rq, struct seqset *marked)
{
    if (!rq->sets_seen || s->sel.readonly || !(s->sel.rights & ACL_SETSEEN)) return 0;
    uint32_t *uids = xmalloc((ml->count ? ml->count : 1) * sizeof(*uids));
    size_t n = 0;
    for (size_t i = 0; i < ml->count; i++) {
        const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, ml->seq[i]);
        if (rq->has_changedsince && m->modseq <= rq->changedsince) continue;
        if (m->system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        if (imapd_msg_flags(s, m) & MAILBOX_FLAG_SEEN) continue;
        uids[n++] = m->uid;
        seqset_add(marked, m->uid);
    }
    int r = 0;
    if (n && s->sel.is_owner) {
        struct mailbox_flags f;
        memset(&f, 0, sizeof(f));
        f.system = MAILBOX_FLAG_SEEN;
        struct seen_rock sr = { s };
        r = mailbox_store(s->sel.mb, uids, n, MAILBOX_STORE_ADD, &f, 0, seen_store_cb, &sr,
                          NULL);
    } else if (n) {
        r = imapd_seen_change(s, marked, 1);
    }
    free(uids);
    return r;
}

/* ---- loading records in batches ------------------------------------------------ */

#define BATCH_MSGS 1024
#define BATCH_CACHE_BYTES (4u * 1024 * 1024)

struct fetch_batch {
    size_t start, n;             /* indices into the message list */
    struct mailbox_record recs[BATCH_MSGS];
    int err[BATCH_MSGS];         /* 0, or why the record is missing */
    size_t coff[BATCH_MSGS], clen[BATCH_MSGS];
    struct buf cache;
    struct buf tmp;
};

static int load_batch(struct imapd_session *s, const struct imapd_msglist *ml,
                      const struct fetch_req *rq, struct fetch_batch *b, size_t start)
{
    b->start = start;
    b->n = 0;
    buf_reset(&b->cache);
    if (!(rq->need & NEED_RECORD)) {
        b->n = ml->count - start < BATCH_MSGS ? ml->count - start : BATCH_MSGS;
        return 0;
    }
    int r = mailbox_lock(s->sel.mb, MAILBOX_LOCK_SHARED);
    if (r) return r;
    while (start + b->n < ml->count && b->n < BATCH_MSGS &&
           buf_len(&b->cache) < BATCH_CACHE_BYTES) {
        size_t i = b->n++;
        const struct mailbox_view_msg *m =
            mailbox_view_msg(s->sel.view, ml->seq[start + i]);
        b->err[i] = msgutil_record(s->sel.mb, m, &b->recs[i]);
        b->clen[i] = 0;
        if (b->err[i] || !(rq->need & NEED_CACHE)) continue;
        if (rq->has_changedsince && m->modseq <= rq->changedsince) continue;
        b->err[i] = mailbox_read_cache(s->sel.mb, &b->recs[i], &b->tmp);
        if (b->err[i]) continue;
        b->coff[i] = buf_len(&b->cache);
        b->clen[i] = buf_len(&b->tmp);
        buf_appendbuf(&b->cache, &b->tmp);
    }
    mailbox_unlock(s->sel.mb);
    return 0;
}

/* ---- one message ------------------------------------------------------------------ */

struct fetch_state {
    struct imapd_session *s;
    const struct imapd_cmdctx *cmd;
    const struct fetch_req *rq;
    struct seqset marked;        /* set \Seen by this command */
    struct buf out;
    struct buf scratch;
    struct msgutil_file file;
    int first;                   /* no item written yet for this message */
    int missing;                 /* some message could not be read */
    int unknown_cte;             /* BINARY met an unknown encoding */
};

static void flush_out(struct fetch_state *st)
{
    if (buf_len(&st->out)) prot_write(st->s->prot, buf_base(&st->out), buf_len(&st->out));
    buf_reset(&st->out);
}

/* Start an item: the separating space unless it is the first. */
static void item_sep(struct fetch_state *st)
{
    if (!st->first) buf_putc(&st->out, ' ');
    st->first = 0;
}

static void put_literal(struct fetch_state *st, const char *data, size_t len, int binary)
{
    int lit8 = binary && memchr(data, '\0', len) != NULL;
    buf_printf(&st->out, "%s{%zu}\r\n", lit8 ? "~" : "", len);
    if (len < 4096) {
        buf_appendmap(&st->out, data, len);
        return;
    }
    flush_out(st);
    prot_write(st->s->prot, data, len);
}

/* The root span of a message known only by its record. */
static void root_span(const struct mailbox_record *rec, const char *base,
                      struct message_span *sp)
{
    memset(sp, 0, sizeof(*sp));
    size_t h = rec->header_size <= rec->size ? rec->header_size : rec->size;
    sp->header_len = h;
    sp->body_off = h;
    sp->body_len = rec->size - h;
    sp->kind = MESSAGE_KIND_LEAF;
    sp->flags = MESSAGE_PART_MESSAGE;
    if (h >= 2 && base[h - 1] == '\n' &&
        (base[h - 2] == '\n' || (h >= 3 && base[h - 2] == '\r' && base[h - 3] == '\n')))
        sp->flags |= MESSAGE_PART_BLANKLINE;
    sp->type = "TEXT";
    sp->subtype = "PLAIN";
}

/* A section item: its data, or NIL when the part does not exist. */
static int put_section(struct fetch_state *st, const struct fetch_item *it,
                       const struct mailbox_record *rec, const struct msgcache *mc)
{
    const struct message_span *spans;
    size_t nspans;
    struct message_span root;
    if (mc) {
        spans = msgcache_spans(mc, &nspans);
    } else {
        root_span(rec, st->file.base, &root);
        spans = &root;
        nspans = 1;
    }
    const char *data = NULL;
    size_t len = 0;
    size_t flen = st->file.len < rec->size ? st->file.len : rec->size;
    int r = message_section_fetch(st->file.base, flen, spans, nspans, &it->sec,
                                  it->binary ? MESSAGE_SECTION_BINARY : 0, &st->scratch,
                                  &data, &len);
    if (r == CYRERR_NOTSUPPORTED) {
        st->unknown_cte = 1;
        return 0;   /* the item is left out (RFC 3516: NO [UNKNOWN-CTE]) */
    }
    item_sep(st);
    if (it->kind == FK_BINARY_SIZE) {
        buf_printf(&st->out, "%s %zu", it->name, r ? (size_t)0 : len);
        return 0;
    }
    buf_appendcstr(&st->out, it->name);
    if (it->partial) {
        buf_printf(&st->out, "<%llu>", (unsigned long long)it->origin);
        if (!r) {
            if (it->origin >= len) {
                len = 0;
            } else {
                data += it->origin;
                len -= (size_t)it->origin;
                if (it->count < len) len = (size_t)it->count;
            }
        }
    }
    buf_putc(&st->out, ' ');
    if (r) {
        buf_appendcstr(&st->out, "NIL");
        return 0;
    }
    put_literal(st, data, len, it->binary);
    return 0;
}

static void put_string_item(struct fetch_state *st, const char *name, const char *v,
                            size_t len)
{
    item_sep(st);
    buf_printf(&st->out, "%s ", name);
    if (v) buf_appendmap(&st->out, v, len);
    else buf_appendcstr(&st->out, "NIL");
}

static void fetch_one(struct fetch_state *st, uint32_t seq,
                      const struct mailbox_view_msg *m, const struct mailbox_record *rec,
                      int rec_err, const char *cache, size_t clen)
{
    struct imapd_session *s = st->s;
    const struct fetch_req *rq = st->rq;
    struct msgcache *mc = NULL;
    int file_ok = 0;

    if (rec_err && (rq->need & NEED_RECORD)) {
        st->missing = 1;
        return;
    }
    if ((rq->need & NEED_CACHE) && msgcache_decode(cache, clen, &mc) < 0) {
        st->missing = 1;
        return;
    }
    if (rq->need & NEED_FILE) {
        if (msgutil_file_open(&st->file, s->sel.mb, m->uid) < 0) {
            st->missing = 1;
            msgcache_free(&mc);
            return;
        }
        file_ok = 1;
    }

    buf_appendcstr(&st->out, "* ");
    buf_append_u64(&st->out, seq);
    buf_appendcstr(&st->out, " FETCH (");
    st->first = 1;
    int want_flags = seqset_contains(&st->marked, m->uid) && !rq->has_flags;
    int want_uid = st->cmd->uid && !rq->has_uid;
    /* RFC 7162 3.2: with CONDSTORE on, FLAGS come with MODSEQ */
    int want_modseq = (rq->has_changedsince || ((s->enabled & IMAPD_EN_CONDSTORE) &&
                                                (want_flags || rq->has_flags))) &&
                      !rq->has_modseq;
    if (want_uid) {
        item_sep(st);
        buf_appendcstr(&st->out, "UID ");
        buf_append_u64(&st->out, m->uid);
    }
    char date[TIMES_INTERNALDATE_MAX];
    for (size_t i = 0; i < rq->n; i++) {
        const struct fetch_item *it = &rq->items[i];
        size_t len;
        const char *v;
        switch (it->kind) {
        case FK_UID:
            item_sep(st);
            buf_appendcstr(&st->out, "UID ");
            buf_append_u64(&st->out, m->uid);
            break;
        case FK_FLAGS:
            item_sep(st);
            buf_appendcstr(&st->out, "FLAGS ");
            imapd_buf_flags(s, m, &st->out);
            break;
        case FK_MODSEQ:
            item_sep(st);
            buf_printf(&st->out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
            break;
        case FK_INTERNALDATE:
            if (times_internaldate((time_t)rec->internaldate, date, sizeof(date)) < 0)
                date[0] = '\0';
            item_sep(st);
            buf_printf(&st->out, "INTERNALDATE \"%s\"", date);
            break;
        case FK_SIZE:
            item_sep(st);
            buf_appendcstr(&st->out, "RFC822.SIZE ");
            buf_append_u64(&st->out, rec->size);
            break;
        case FK_ENVELOPE:
            v = msgcache_envelope(mc, &len);
            put_string_item(st, "ENVELOPE", v, len);
            break;
        case FK_BODY:
            v = msgcache_body(mc, &len);
            put_string_item(st, "BODY", v, len);
            break;
        case FK_BODYSTRUCTURE:
            v = msgcache_bodystructure(mc, &len);
            put_string_item(st, "BODYSTRUCTURE", v, len);
            break;
        case FK_SECTION:
        case FK_BINARY_SIZE:
            if (file_ok) put_section(st, it, rec, mc);
            break;
        }
    }
    if (want_flags) {
        item_sep(st);
        buf_appendcstr(&st->out, "FLAGS ");
        imapd_buf_flags(s, m, &st->out);
    }
    if (want_modseq) {
        item_sep(st);
        buf_printf(&st->out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
    }
    buf_appendcstr(&st->out, ")\r\n");
    flush_out(st);
    msgcache_free(&mc);
    msgutil_file_release(&st->file);
}

/* ---- the command --------------------------------------------------------------------- */

static int run_fetch(struct fetch_state *st, const struct imapd_msglist *ml)
{
    struct imapd_session *s = st->s;
    struct fetch_batch *b = xzmalloc(sizeof(*b));
    int r = 0;
    for (size_t start = 0; start < ml->count && !r; start += b->n) {
        r = load_batch(s, ml, st->rq, b, start);
        if (r) break;
        for (size_t i = 0; i < b->n; i++) {
            uint32_t seq = ml->seq[start + i];
            const struct mailbox_view_msg *m = mailbox_view_msg(s->sel.view, seq);
            if (st->rq->has_changedsince && m->modseq <= st->rq->changedsince) continue;
            fetch_one(st, seq, m, &b->recs[i], b->err[i],
                      buf_base(&b->cache) + b->coff[i], b->clen[i]);
        }
        if (!b->n) break;
    }
    buf_free(&b->cache);
    buf_free(&b->tmp);
    free(b);
    return r;
}

int imapd_cmd_fetch(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct tok_seqset set = TOK_SEQSET_INITIALIZER;
    struct fetch_req rq;
    memset(&rq, 0, sizeof(rq));
    struct imapd_msglist ml = IMAPD_MSGLIST_INITIALIZER;
    struct fetch_state st;
    memset(&st, 0, sizeof(st));
    st.s = s;
    st.cmd = cmd;
    st.rq = &rq;
    st.file = (struct msgutil_file)MSGUTIL_FILE_INITIALIZER;
    int r;

    if (cmd->c != ' ') {
        r = imapd_syntax(s, "Missing sequence set");
        goto done;
    }
    r = imapd_eol(s, parse_fetch(s, &set, &rq));
    if (r < 0) goto done;
    r = imapd_msglist_resolve(s, &set, cmd->uid, &ml);
    if (r < 0) goto done;
    if (rq.has_changedsince || rq.has_modseq) imapd_enable_condstore(s, IMAPD_EN_CONDSTORE);
    if (rq.need & (NEED_CACHE | NEED_FILE)) rq.need |= NEED_RECORD;

    r = imapd_check_selected_rights(s, ACL_READ);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto done;
    }
    r = set_seen(s, &ml, &rq, &st.marked);
    if (!r) r = run_fetch(&st, &ml);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto done;
    }
    if (st.unknown_cte)
        r = imapd_no(s, "UNKNOWN-CTE", "Cannot decode the content transfer encoding");
    else if (st.missing)
        r = imapd_no(s, "EXPUNGEISSUED", "Some of the requested messages no longer exist");
    else
        r = imapd_ok(s, NULL, "Completed");
done:
    req_free(&rq);
    imapd_msglist_free(&ml);
    tok_seqset_free(&set);
    seqset_free(&st.marked);
    buf_free(&st.out);
    buf_free(&st.scratch);
    msgutil_file_fini(&st.file);
    return r;
}
