/* Tests for imap/store/message*: MIME parsing, ENVELOPE/BODYSTRUCTURE,
 * part numbers and sections, headers, addresses, dates.
 *
 * Expected ENVELOPE and BODYSTRUCTURE strings are written by hand from the
 * RFC 3501 grammar (section 9), whose relevant lines are quoted where they
 * are used; every rendered string is also checked against that grammar by
 * a small validating parser (validate_body below). */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "imap/store/message.h"
#include "imap/store/message_imap.h"
#include "imap/store/message_section.h"
#include "strarray.h"
#include "xmalloc.h"

#define CHECK_STR(got, want)                                               \
    do {                                                                   \
        const char *g_ = (got), *w_ = (want);                              \
        if (strcmp(g_, w_))                                                \
            fprintf(stderr, "\n%s:%d:\n got <%s>\nwant <%s>\n", __FILE__, \
                    __LINE__, g_, w_);                                     \
        CU_ASSERT_STRING_EQUAL(g_, w_);                                    \
    } while (0)

/* ---- an RFC 3501 grammar checker for BODY / BODYSTRUCTURE -------------- */

struct vp {
    const char *s;
    size_t n, i;
};

static int v_lit(struct vp *v, const char *w)
{
    size_t l = strlen(w);
    if (v->n - v->i < l || memcmp(v->s + v->i, w, l)) return 0;
    v->i += l;
    return 1;
}

static int v_peek(const struct vp *v, char c)
{
    return v->i < v->n && v->s[v->i] == c;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE / literal = "{" number "}" CRLF
 * *CHAR8; the content goes to `out` when not NULL. */
static int v_string(struct vp *v, struct buf *out)
{
    if (out) buf_reset(out);
    if (v_peek(v, '"')) {
        v->i++;
        while (v->i < v->n && v->s[v->i] != '"') {
            unsigned char c = (unsigned char)v->s[v->i];
            if (c == '\\') {
                if (v->i + 1 >= v->n) return 0;
                c = (unsigned char)v->s[++v->i];
                if (c != '"' && c != '\\') return 0;
            } else if (!c || c >= 0x80 || c == '\r' || c == '\n') {
                return 0;
            }
            if (out) buf_putc(out, (char)c);
            v->i++;
        }
        if (v->i >= v->n) return 0;
        v->i++;
        return 1;
    }
    if (!v_peek(v, '{')) return 0;
    v->i++;
    size_t len = 0, digits = 0;
    while (v->i < v->n && v->s[v->i] >= '0' && v->s[v->i] <= '9') {
        len = len * 10 + (size_t)(v->s[v->i++] - '0');
        digits++;
    }
    if (!digits || !v_lit(v, "}\r\n") || v->n - v->i < len) return 0;
    if (memchr(v->s + v->i, '\0', len)) return 0;
    if (out) buf_appendmap(out, v->s + v->i, len);
    v->i += len;
    return 1;
}

static int v_nstring(struct vp *v)
{
    return v_lit(v, "NIL") || v_string(v, NULL);
}

static int v_number(struct vp *v)
{
    size_t st = v->i;
    while (v->i < v->n && v->s[v->i] >= '0' && v->s[v->i] <= '9') v->i++;
    return v->i > st;
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil */
static int v_params(struct vp *v)
{
    if (v_lit(v, "NIL")) return 1;
    if (!v_lit(v, "(")) return 0;
    do {
        if (!v_string(v, NULL) || !v_lit(v, " ") || !v_string(v, NULL))
            return 0;
    } while (v_lit(v, " "));
    return v_lit(v, ")");
}

/* address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
 * env-from = "(" 1*address ")" / nil */
static int v_addresses(struct vp *v)
{
    if (v_lit(v, "NIL")) return 1;
    if (!v_lit(v, "(")) return 0;
    int n = 0;
    while (v_lit(v, "(")) {
        for (int k = 0; k < 4; k++)
            if ((k && !v_lit(v, " ")) || !v_nstring(v)) return 0;
        if (!v_lit(v, ")")) return 0;
        n++;
    }
    return n && v_lit(v, ")");
}

/* envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *            env-reply-to SP env-to SP env-cc SP env-bcc SP
 *            env-in-reply-to SP env-message-id ")" */
static int v_envelope(struct vp *v)
{
    if (!v_lit(v, "(") || !v_nstring(v) || !v_lit(v, " ") || !v_nstring(v))
        return 0;
    for (int k = 0; k < 6; k++)
        if (!v_lit(v, " ") || !v_addresses(v)) return 0;
    return v_lit(v, " ") && v_nstring(v) && v_lit(v, " ") && v_nstring(v) &&
           v_lit(v, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int v_ext_tail(struct vp *v)
{
    /* body-fld-dsp = "(" string SP body-fld-param ")" / nil */
    if (!v_lit(v, "NIL")) {
        if (!v_lit(v, "(") || !v_string(v, NULL) || !v_lit(v, " ") ||
            !v_params(v) || !v_lit(v, ")"))
            return 0;
    }
    /* body-fld-lang = nstring / "(" string *(SP string) ")" */
    if (!v_lit(v, " ")) return 0;
    if (v_lit(v, "(")) {
        do {
            if (!v_string(v, NULL)) return 0;
        } while (v_lit(v, " "));
        if (!v_lit(v, ")")) return 0;
    } else if (!v_nstring(v)) {
        return 0;
    }
    /* body-fld-loc = nstring */
    return v_lit(v, " ") && v_nstring(v);
}

/* body = "(" (body-type-1part / body-type-mpart) ")" */
static int v_body(struct vp *v, int ext)
{
    if (!v_lit(v, "(")) return 0;
    if (v_peek(v, '(')) {
        /* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
        while (v_peek(v, '('))
            if (!v_body(v, ext)) return 0;
        if (!v_lit(v, " ") || !v_string(v, NULL)) return 0;
        if (ext && (!v_lit(v, " ") || !v_params(v) || !v_lit(v, " ") ||
                    !v_ext_tail(v)))
            return 0;
        return v_lit(v, ")");
    }
    struct buf type = BUF_INITIALIZER, sub = BUF_INITIALIZER;
    int ok = v_string(v, &type) && v_lit(v, " ") && v_string(v, &sub);
    /* body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
     *               body-fld-enc SP body-fld-octets */
    ok = ok && v_lit(v, " ") && v_params(v) && v_lit(v, " ") &&
         v_nstring(v) && v_lit(v, " ") && v_nstring(v) && v_lit(v, " ") &&
         v_string(v, NULL) && v_lit(v, " ") && v_number(v);
    if (ok && !strcasecmp(buf_cstring(&type), "MESSAGE") &&
        !strcasecmp(buf_cstring(&sub), "RFC822")) {
        /* body-type-msg = media-message SP body-fields SP envelope
         *                 SP body SP body-fld-lines */
        ok = v_lit(v, " ") && v_envelope(v) && v_lit(v, " ") &&
             v_body(v, ext) && v_lit(v, " ") && v_number(v);
    } else if (ok && !strcasecmp(buf_cstring(&type), "TEXT")) {
        /* body-type-text = media-text SP body-fields SP body-fld-lines */
        ok = v_lit(v, " ") && v_number(v);
    }
    /* body-ext-1part = body-fld-md5 [SP body-fld-dsp ...] */
    if (ok && ext)
        ok = v_lit(v, " ") && v_nstring(v) && v_lit(v, " ") && v_ext_tail(v);
    buf_free(&type);
    buf_free(&sub);
    return ok && v_lit(v, ")");
}

static int validate_body(const char *s, size_t n, int ext)
{
    struct vp v = { s, n, 0 };
    return v_body(&v, ext) && v.i == n;
}

static int validate_envelope(const char *s, size_t n)
{
    struct vp v = { s, n, 0 };
    return v_envelope(&v) && v.i == n;
}

/* ---- helpers ---------------------------------------------------------- */

static size_t lines_of(const char *p, size_t n)
{
    size_t l = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n') l++;
    return l;
}

/* Structural invariants of a parsed part; returns the number of parts. */
static size_t check_part(const char *base, size_t len,
                         const struct message_part *p, size_t lo, size_t hi,
                         int *bad)
{
#define INV(cond)                                                        \
    do {                                                                 \
        if (!(cond)) {                                                   \
            if (!*bad)                                                   \
                fprintf(stderr, "\ninvariant failed: %s (part at %zu)\n", \
                        #cond, p->header_off);                           \
            *bad = 1;                                                    \
        }                                                                \
    } while (0)
    INV(p->header_off >= lo);
    INV(p->body_off == p->header_off + p->header_len);
    INV(p->body_off + p->body_len <= hi);
    INV(hi <= len);
    INV(p->type && p->subtype);
    INV(p->depth <= MESSAGE_MAX_DEPTH);
    INV(p->body_lines == lines_of(base + p->body_off, p->body_len));
    if (p->kind == MESSAGE_KIND_MULTIPART) INV(p->nchildren >= 1);
    if (p->kind == MESSAGE_KIND_RFC822) {
        INV(p->nchildren == 1);
        INV(p->children[0]->flags & MESSAGE_PART_MESSAGE);
        INV(p->children[0]->header_off == p->body_off);
    }
    if (p->kind == MESSAGE_KIND_LEAF) INV(p->nchildren == 0);
    size_t n = 1, pos = p->body_off;
    for (int i = 0; i < p->nchildren; i++) {
        const struct message_part *c = p->children[i];
        INV(c->depth == p->depth + 1);
        INV(c->header_off >= pos);
        n += check_part(base, len, c, pos, p->body_off + p->body_len, bad);
        pos = c->body_off + c->body_len;
    }
    return n;
#undef INV
}

/* Parse, check invariants and the grammar of what is rendered. */
static struct message_part *parse_checked(const char *msg, size_t len)
{
    struct message_part *root = NULL;
    CU_ASSERT_EQUAL_FATAL(message_parse(msg, len, &root), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int bad = 0;
    size_t n = check_part(msg, len, root, 0, len, &bad);
    CU_ASSERT_FALSE(bad);
    CU_ASSERT_EQUAL(n, message_count_parts(root));
    CU_ASSERT(n <= MESSAGE_MAX_PARTS + 1);
    struct buf b = BUF_INITIALIZER;
    message_imap_body(&b, root, 1);
    CU_ASSERT_TRUE(validate_body(buf_base(&b), buf_len(&b), 1));
    buf_reset(&b);
    message_imap_body(&b, root, 0);
    CU_ASSERT_TRUE(validate_body(buf_base(&b), buf_len(&b), 0));
    buf_reset(&b);
    message_imap_envelope(&b, root);
    CU_ASSERT_TRUE(validate_envelope(buf_base(&b), buf_len(&b)));
    buf_free(&b);
    return root;
}

static char *render(const struct message_part *p, int what)
{
    struct buf b = BUF_INITIALIZER;
    if (what == 'E') message_imap_envelope(&b, p);
    else message_imap_body(&b, p, what == 'S');
    return buf_release(&b);
}

static void check_render(const struct message_part *p, int what,
                         const char *want)
{
    char *s = render(p, what);
    CHECK_STR(s ? s : "", want);
    free(s);
}

static char *lf_only(const char *s)
{
    struct buf b = BUF_INITIALIZER;
    for (; *s; s++)
        if (*s != '\r') buf_putc(&b, *s);
    return buf_release(&b);
}

/* ---- hand-checked messages --------------------------------------------- */

static const char simple_msg[] =
    "From: Joe <joe@example.com>\r\n"
    "To: a@b.c\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "Hello\r\n";

static void test_simple_defaults(void)
{
    struct message_part *root = parse_checked(simple_msg, strlen(simple_msg));
    /* No Content-Type: RFC 2045 5.2 default, rendered as
     * body-type-text = media-text SP body-fields SP body-fld-lines */
    check_render(root, 'S',
                 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                 "\"7BIT\" 7 1 NIL NIL NIL NIL)");
    check_render(root, 'B',
                 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                 "\"7BIT\" 7 1)");
    /* env-sender and env-reply-to default to env-from (RFC 3501 7.4.2);
     * absent Date, Cc, Bcc, In-Reply-To, Message-ID are NIL */
    check_render(root, 'E',
                 "(NIL \"hi\" ((\"Joe\" NIL \"joe\" \"example.com\")) "
                 "((\"Joe\" NIL \"joe\" \"example.com\")) "
                 "((\"Joe\" NIL \"joe\" \"example.com\")) "
                 "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL)");
    CU_ASSERT(root->flags & MESSAGE_PART_DEFAULTED);
    CU_ASSERT(root->flags & MESSAGE_PART_BLANKLINE);
    CU_ASSERT_EQUAL(root->header_len, strlen(simple_msg) - 7);
    message_free(&root);
    CU_ASSERT_PTR_NULL(root);
    message_free(&root);
}

static const char nested_msg[] =
    "From: \"Smith, John\" <john@example.com>\r\n"
    "To: Team: ann@example.com, Bob <bob@example.com>;, carol@example.com\r\n"
    "Cc: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\r\n"
    "Subject: =?utf-8?B?SGVsbG8=?= world\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "Message-ID: <B27397-0100000@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9\r\n"
    "--inner\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>caf\xc3\xa9</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: inner@example.org\r\n"
    "Subject: inside\r\n"
    "\r\n"
    "Inner body\r\n"
    "--outer\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    "Content-ID: <id1@example.com>\r\n"
    "Content-Description: some data\r\n"
    "Content-Language: en, de\r\n"
    "Content-Location: http://example.com/a.bin\r\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    "\r\n"
    "AAEC\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

/* The inner message's ENVELOPE, used twice below. */
#define INNER_ENV                                                          \
    "(NIL \"inside\" ((NIL NIL \"inner\" \"example.org\")) "               \
    "((NIL NIL \"inner\" \"example.org\")) "                               \
    "((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL)"

static void test_nested_exact(void)
{
    struct message_part *root = parse_checked(nested_msg, strlen(nested_msg));
    /* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
     * body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
     *                   [SP body-fld-loc *(SP body-extension)]]]
     * body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
     *                   [SP body-fld-loc *(SP body-extension)]]]
     * body-fld-lang   = nstring / "(" string *(SP string) ")"
     * body-type-msg   = media-message SP body-fields SP envelope
     *                   SP body SP body-fld-lines */
    check_render(root, 'S',
        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
        "\"QUOTED-PRINTABLE\" 9 0 NIL NIL NIL NIL)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 0 "
        "NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL NIL)"
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 54 " INNER_ENV " "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 "
        "NIL NIL NIL NIL) 3 NIL NIL NIL NIL)"
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") "
        "\"<id1@example.com>\" \"some data\" \"BASE64\" 4 "
        "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"ATTACHMENT\" (\"FILENAME\" \"a.bin\")) "
        "(\"en\" \"de\") \"http://example.com/a.bin\") "
        "\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)");
    check_render(root, 'B',
        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
        "\"QUOTED-PRINTABLE\" 9 0)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 0) "
        "\"ALTERNATIVE\")"
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 54 " INNER_ENV " "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0) "
        "3)"
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") "
        "\"<id1@example.com>\" \"some data\" \"BASE64\" 4) \"MIXED\")");
    /* ENVELOPE values are raw: the encoded words stay encoded.  A group
     * (RFC 3501 7.4.2): start (NIL NIL "name" NIL), end (NIL NIL NIL NIL). */
    check_render(root, 'E',
        "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" "
        "\"=?utf-8?B?SGVsbG8=?= world\" "
        "((\"Smith, John\" NIL \"john\" \"example.com\")) "
        "((\"Smith, John\" NIL \"john\" \"example.com\")) "
        "((\"Smith, John\" NIL \"john\" \"example.com\")) "
        "((NIL NIL \"Team\" NIL)(NIL NIL \"ann\" \"example.com\")"
        "(\"Bob\" NIL \"bob\" \"example.com\")(NIL NIL NIL NIL)"
        "(NIL NIL \"carol\" \"example.com\")) "
        "((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.com\")) "
        "NIL NIL \"<B27397-0100000@example.com>\")");

    /* the tree itself */
    CU_ASSERT_EQUAL(root->nchildren, 3);
    CU_ASSERT_EQUAL(message_count_parts(root), 7);
    const struct message_part *alt = root->children[0];
    CU_ASSERT_EQUAL(alt->kind, MESSAGE_KIND_MULTIPART);
    CU_ASSERT_EQUAL(alt->children[0]->cte, CHARSET_ENC_QP);
    CHECK_STR(alt->children[0]->charset, "utf-8");
    CU_ASSERT_EQUAL(root->children[1]->kind, MESSAGE_KIND_RFC822);
    CU_ASSERT_EQUAL(root->children[2]->cte, CHARSET_ENC_BASE64);
    CU_ASSERT_FALSE(root->flags & MESSAGE_PART_NOCLOSE);
    message_free(&root);

    /* the same with bare LF line endings: same shape, LF sizes */
    char *lf = lf_only(nested_msg);
    root = parse_checked(lf, strlen(lf));
    char *s = render(root, 'B');
    CHECK_STR(s,
        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
        "\"QUOTED-PRINTABLE\" 9 0)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 0) "
        "\"ALTERNATIVE\")"
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 51 " INNER_ENV " "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0) "
        "3)"
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") "
        "\"<id1@example.com>\" \"some data\" \"BASE64\" 4) \"MIXED\")");
    free(s);
    message_free(&root);
    free(lf);
}

/* ---- sections ----------------------------------------------------------- */

struct fetched {
    int r;
    char *data;
    size_t len;
};

static struct fetched fetch(const char *msg, const char *spec, unsigned flags)
{
    struct fetched f = { 0, NULL, 0 };
    size_t len = strlen(msg);
    struct message_part *root = NULL;
    CU_ASSERT_EQUAL(message_parse(msg, len, &root), 0);
    struct message_span *sp;
    size_t n = message_spans(root, &sp);
    CU_ASSERT_EQUAL(n, message_count_parts(root));
    struct message_section sec;
    f.r = message_section_parse(spec, strlen(spec), &sec);
    if (f.r == 0) {
        struct buf scratch = BUF_INITIALIZER;
        const char *d;
        size_t dl;
        f.r = message_section_fetch(msg, len, sp, n, &sec, flags, &scratch,
                                    &d, &dl);
        if (f.r == 0) {
            f.data = xmemdup(d, dl + 1);
            f.data[dl] = '\0';
            f.len = dl;
            /* the result lies in the message or in the scratch buffer */
            CU_ASSERT(dl == 0 || (d >= msg && d + dl <= msg + len) ||
                      (d >= buf_base(&scratch) &&
                       d + dl <= buf_base(&scratch) + buf_len(&scratch)));
        }
        buf_free(&scratch);
    }
    message_section_fini(&sec);
    free(sp);
    message_free(&root);
    return f;
}

static void check_section(const char *msg, const char *spec, unsigned flags,
                          const char *want, size_t wantlen)
{
    struct fetched f = fetch(msg, spec, flags);
    CU_ASSERT_EQUAL(f.r, 0);
    if (f.r == 0) {
        CU_ASSERT_EQUAL(f.len, wantlen);
        if (f.len != wantlen || memcmp(f.data, want, wantlen))
            fprintf(stderr, "\nsection %s:\n got <%s>\nwant <%.*s>\n", spec,
                    f.data, (int)wantlen, want);
        CU_ASSERT_EQUAL(memcmp(f.data, want, wantlen < f.len ? wantlen : f.len),
                        0);
    } else {
        fprintf(stderr, "\nsection %s: %s\n", spec, error_name(f.r));
    }
    free(f.data);
}

#define SECTION(msg, spec, want) \
    check_section(msg, spec, 0, want, sizeof(want) - 1)

static void check_section_error(const char *msg, const char *spec,
                                unsigned flags, int want)
{
    struct fetched f = fetch(msg, spec, flags);
    CU_ASSERT_EQUAL(f.r, want);
    if (f.r != want)
        fprintf(stderr, "\nsection %s: %s, want %s\n", spec, error_name(f.r),
                error_name(want));
    free(f.data);
}

static void test_sections(void)
{
    const char *m = nested_msg;
    /* RFC 3501 6.4.5: multipart parts are numbered, nested parts after a
     * period; a message/rfc822 part's numbers go into the encapsulated
     * message; MIME is a part's own header. */
    SECTION(m, "1.1", "caf=C3=A9");
    SECTION(m, "1.2", "<p>caf\xc3\xa9</p>");
    SECTION(m, "1.MIME",
            "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
    SECTION(m, "2",
            "From: inner@example.org\r\nSubject: inside\r\n\r\nInner body");
    SECTION(m, "2.MIME", "Content-Type: message/rfc822\r\n\r\n");
    SECTION(m, "2.HEADER", "From: inner@example.org\r\nSubject: inside\r\n\r\n");
    SECTION(m, "2.TEXT", "Inner body");
    SECTION(m, "2.1", "Inner body");
    SECTION(m, "2.1.MIME", "From: inner@example.org\r\nSubject: inside\r\n\r\n");
    SECTION(m, "2.HEADER.FIELDS (SUBJECT)", "Subject: inside\r\n\r\n");
    SECTION(m, "3", "AAEC");
    SECTION(m, "3.mime",
            "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
            "Content-ID: <id1@example.com>\r\n"
            "Content-Description: some data\r\n"
            "Content-Language: en, de\r\n"
            "Content-Location: http://example.com/a.bin\r\n"
            "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\n");
    /* the blank line is included in all header fetches; fields keep the
     * message's order, not the list's */
    SECTION(m, "HEADER.FIELDS (Subject FROM)",
            "From: \"Smith, John\" <john@example.com>\r\n"
            "Subject: =?utf-8?B?SGVsbG8=?= world\r\n\r\n");
    SECTION(m, "HEADER.FIELDS (\"Message-ID\" X-None)",
            "Message-ID: <B27397-0100000@example.com>\r\n\r\n");
    SECTION(m, "HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID "
               "MIME-Version)",
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n");
    SECTION(m, "HEADER.FIELDS (X-None)", "\r\n");

    struct fetched f = fetch(m, "TEXT", 0);
    CU_ASSERT_EQUAL(f.r, 0);
    CU_ASSERT(f.len > 20 && !strncmp(f.data, "preamble\r\n--outer\r\n", 19));
    const char *tail = "--outer--\r\nepilogue\r\n";
    CU_ASSERT(f.len > strlen(tail) &&
              !strcmp(f.data + f.len - strlen(tail), tail));
    free(f.data);
    f = fetch(m, "HEADER", 0);
    CU_ASSERT_EQUAL(f.len, (size_t)(strstr(m, "\r\n\r\n") + 4 - m));
    free(f.data);
    f = fetch(m, "", 0);
    CU_ASSERT_EQUAL(f.len, strlen(m));
    free(f.data);

    /* BINARY (RFC 3516): the transfer encoding undone */
    check_section(m, "3", MESSAGE_SECTION_BINARY, "\0\1\2", 3);
    check_section(m, "1.1", MESSAGE_SECTION_BINARY, "caf\xc3\xa9", 5);
    check_section(m, "1.2", MESSAGE_SECTION_BINARY, "<p>caf\xc3\xa9</p>", 12);
    f = fetch(m, "1", MESSAGE_SECTION_BINARY);     /* multipart: as is */
    CU_ASSERT_EQUAL(f.r, 0);
    CU_ASSERT(f.len > 0 && !strncmp(f.data, "--inner\r\n", 9));
    free(f.data);
    check_section_error(m, "HEADER", MESSAGE_SECTION_BINARY, CYRERR_BADARGS);

    /* parts that do not exist */
    check_section_error(m, "4", 0, CYRERR_NOTFOUND);
    check_section_error(m, "1.3", 0, CYRERR_NOTFOUND);
    check_section_error(m, "3.1", 0, CYRERR_NOTFOUND);
    check_section_error(m, "2.2", 0, CYRERR_NOTFOUND);
    check_section_error(m, "1.HEADER", 0, CYRERR_NOTFOUND);
    check_section_error(m, "3.TEXT", 0, CYRERR_NOTFOUND);
    check_section_error(m, "4294967295", 0, CYRERR_NOTFOUND);

    /* a single-part message has a part 1: its body */
    SECTION(simple_msg, "1", "Hello\r\n");
    SECTION(simple_msg, "1.MIME",
            "From: Joe <joe@example.com>\r\nTo: a@b.c\r\nSubject: hi\r\n\r\n");
    check_section_error(simple_msg, "2", 0, CYRERR_NOTFOUND);
    check_section_error(simple_msg, "1.1", 0, CYRERR_NOTFOUND);
    check_section_error(simple_msg, "1.TEXT", 0, CYRERR_NOTFOUND);

    /* an unknown transfer encoding cannot be decoded */
    const char *xenc = "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
    check_section_error(xenc, "1", MESSAGE_SECTION_BINARY,
                        CYRERR_NOTSUPPORTED);
    SECTION(xenc, "1", "begin\r\n");
}

static void test_section_parse(void)
{
    struct message_section sec;
    CU_ASSERT_EQUAL(message_section_parse("1.2.3.HEADER.FIELDS (From \"To\")",
                                          31, &sec), 0);
    CU_ASSERT_EQUAL(sec.nparts, 3);
    CU_ASSERT_EQUAL(sec.part[2], 3);
    CU_ASSERT_EQUAL(sec.kind, MESSAGE_SECTION_HEADER_FIELDS);
    CU_ASSERT_EQUAL(sec.fields.count, 2);
    CHECK_STR(strarray_nth(&sec.fields, 1), "To");
    message_section_fini(&sec);

    const struct {
        const char *spec;
        int ok;
        enum message_section_kind kind;
    } cases[] = {
        { "", 1, MESSAGE_SECTION_BODY },
        { "HEADER", 1, MESSAGE_SECTION_HEADER },
        { "text", 1, MESSAGE_SECTION_TEXT },
        { "4.2.2.1", 1, MESSAGE_SECTION_BODY },
        { "1.MIME", 1, MESSAGE_SECTION_MIME },
        { "HEADER.FIELDS.NOT (a b c)", 1, MESSAGE_SECTION_HEADER_FIELDS_NOT },
        { "MIME", 0, 0 },
        { "0", 0, 0 },
        { "1.0", 0, 0 },
        { "01", 0, 0 },
        { "1.", 0, 0 },
        { "1..2", 0, 0 },
        { "1.FOO", 0, 0 },
        { "HEADER.FIELDS", 0, 0 },
        { "HEADER.FIELDS ()", 0, 0 },
        { "HEADER.FIELDS (a", 0, 0 },
        { "HEADER.FIELDS (a) ", 0, 0 },
        { "HEADER.FIELDS  (a)", 0, 0 },
        { "HEADER.FIELDS (\"a)", 0, 0 },
        { "TEXTX", 0, 0 },
        { "4294967296", 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = message_section_parse(cases[i].spec, strlen(cases[i].spec),
                                      &sec);
        if ((r == 0) != cases[i].ok)
            fprintf(stderr, "\nsection spec <%s>: %d\n", cases[i].spec, r);
        CU_ASSERT_EQUAL(r == 0, cases[i].ok);
        if (r == 0) CU_ASSERT_EQUAL(sec.kind, cases[i].kind);
        if (r != 0) CU_ASSERT_EQUAL(r, CYRERR_PARSE);
        message_section_fini(&sec);
    }
    /* too many part numbers */
    struct buf b = BUF_INITIALIZER;
    for (int i = 0; i < MESSAGE_SECTION_MAX_PARTS + 1; i++)
        buf_appendcstr(&b, i ? ".1" : "1");
    CU_ASSERT_EQUAL(message_section_parse(buf_base(&b), buf_len(&b), &sec),
                    CYRERR_PARSE);
    message_section_fini(&sec);
    buf_free(&b);
}

/* ---- malformed messages ------------------------------------------------- */

static void test_no_boundary(void)
{
    /* no boundary parameter: one implicit text/plain part, whole body */
    const char *m = "Content-Type: multipart/alternative;\r\n\r\nBlah blah\r\n";
    struct message_part *root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->kind, MESSAGE_KIND_MULTIPART);
    CU_ASSERT_EQUAL(root->nchildren, 1);
    CU_ASSERT(root->children[0]->flags & MESSAGE_PART_IMPLICIT);
    check_render(root, 'S',
                 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                 "\"7BIT\" 11 1 NIL NIL NIL NIL) \"ALTERNATIVE\" NIL NIL NIL "
                 "NIL)");
    message_free(&root);
    SECTION(m, "1", "Blah blah\r\n");
    SECTION(m, "1.MIME", "");

    /* a boundary that never occurs: likewise */
    m = "Content-Type: multipart/mixed; boundary=X_\r\n\r\n--X\r\n\r\nhi\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 1);
    CU_ASSERT_EQUAL(root->children[0]->body_len, 11);
    message_free(&root);

    /* a close delimiter before any part */
    m = "Content-Type: multipart/mixed; boundary=X\r\n\r\npre\r\n--X--\r\nepi\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 1);
    CU_ASSERT_EQUAL(root->children[0]->body_len, strlen(m) - 45);
    message_free(&root);
}

static void test_missing_close(void)
{
    /* the inner multipart is never closed: the outer delimiter ends it,
     * and the outer one is not closed either */
    const char *m =
        "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
        "--out\r\n"
        "Content-Type: multipart/alternative; boundary=in\r\n\r\n"
        "--in\r\n\r\none\r\n"
        "--in\r\n\r\ntwo\r\n"
        "--out\r\n\r\nthree\r\n";
    struct message_part *root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 2);
    CU_ASSERT(root->flags & MESSAGE_PART_NOCLOSE);
    CU_ASSERT_EQUAL(root->children[0]->nchildren, 2);
    CU_ASSERT(root->children[0]->flags & MESSAGE_PART_NOCLOSE);
    message_free(&root);
    SECTION(m, "1.2", "two");
    SECTION(m, "2", "three\r\n");       /* runs to the end of the data */

    /* empty parts between adjacent delimiters (msg_37 style) */
    m = "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\n--B\r\nContent-Type: text/x-one\r\n\r\nBlah\r\n--B--\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 2);
    CU_ASSERT_EQUAL(root->children[0]->body_len, 0);
    CU_ASSERT_EQUAL(root->children[0]->header_len, 0);
    CHECK_STR(root->children[1]->subtype, "X-ONE");
    message_free(&root);

    /* a part header cut short by a delimiter */
    m = "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/html\r\n--B--\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 1);
    CHECK_STR(root->children[0]->subtype, "HTML");
    CU_ASSERT_EQUAL(root->children[0]->body_len, 0);
    message_free(&root);

    /* an inner multipart with the outer's boundary (msg_15 style): the
     * innermost multipart claims the delimiters */
    m = "Content-Type: multipart/mixed; boundary=S\r\n\r\n"
        "--S\r\nContent-Type: multipart/alternative; boundary=S\r\n\r\n"
        "--S\r\n\r\na\r\n--S\r\n\r\nb\r\n--S--\r\n"
        "--S\r\nContent-Type: image/gif\r\n\r\nGIF\r\n--S--\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->nchildren, 2);
    CU_ASSERT_EQUAL(root->children[0]->nchildren, 2);
    CHECK_STR(root->children[1]->type, "IMAGE");
    message_free(&root);
    SECTION(m, "1.2", "b");
    SECTION(m, "2", "GIF");
}

/* Every prefix of a message parses, within bounds, to valid syntax. */
static void test_truncated(void)
{
    size_t len = strlen(nested_msg);
    for (size_t n = 0; n <= len; n++) {
        char *copy = xmemdup(nested_msg, n ? n : 1);  /* exact size: ASan */
        struct message_part *root = parse_checked(copy, n);
        message_free(&root);
        free(copy);
    }
}

/* Deterministic random damage never breaks the parser. */
static void test_mutations(void)
{
    size_t len = strlen(nested_msg);
    unsigned seed = 4242;
    const char pick[] = "-\r\n:;=\"()<>@\\ \x80\xff\0";
    for (int round = 0; round < 400; round++) {
        char *m = xmemdup(nested_msg, len);
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245 + 12345;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245 + 12345;
            m[at] = pick[(seed >> 16) % (sizeof(pick) - 1)];
        }
        struct message_part *root = parse_checked(m, len);
        message_free(&root);
        free(m);
    }
}

static void test_no_separator(void)
{
    /* RFC 5322 wants an empty line; a line that is no header field starts
     * the body (msg_35 style) */
    const char *m = "From: a@b.c\r\nSubject: x\r\nthis is not a header\r\nmore\r\n";
    struct message_part *root = parse_checked(m, strlen(m));
    CU_ASSERT(root->flags & MESSAGE_PART_BADHEADER);
    CU_ASSERT_FALSE(root->flags & MESSAGE_PART_BLANKLINE);
    CU_ASSERT_EQUAL(root->body_len, 28);
    message_free(&root);
    SECTION(m, "HEADER", "From: a@b.c\r\nSubject: x\r\n");
    /* "except in the case of a message which has no body and no blank
     * line": no blank line is made up */
    SECTION(m, "HEADER.FIELDS (subject)", "Subject: x\r\n");
    SECTION(m, "TEXT", "this is not a header\r\nmore\r\n");

    /* a header and nothing else */
    m = "Subject: only\r\n";
    root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->header_len, strlen(m));
    CU_ASSERT_EQUAL(root->body_len, 0);
    CHECK_STR(root->hdr[MESSAGE_HDR_SUBJECT], "only");
    message_free(&root);
    m = "Subject: no line end";
    root = parse_checked(m, strlen(m));
    CHECK_STR(root->hdr[MESSAGE_HDR_SUBJECT], "no line end");
    message_free(&root);
    SECTION(m, "HEADER.FIELDS (Subject)", "Subject: no line end\r\n");

    /* an mbox "From " line is kept in the header */
    m = "From joe@x Mon Jan  1 00:00:00 2001\r\nSubject: s\r\n\r\nbody";
    root = parse_checked(m, strlen(m));
    CHECK_STR(root->hdr[MESSAGE_HDR_SUBJECT], "s");
    CU_ASSERT_EQUAL(root->body_len, 4);
    message_free(&root);

    /* empty message, and a body only */
    root = parse_checked("", 0);
    check_render(root, 'E', "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    message_free(&root);
    root = parse_checked("\r\nbody", 6);
    CU_ASSERT_EQUAL(root->body_len, 4);
    message_free(&root);
    CU_ASSERT_EQUAL(message_parse(NULL, 5, &root), CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(root);
}

static void test_8bit_header(void)
{
    static const char m[] = "Subject: caf\xe9 \"q\" \\\r\n"
                            "From: J\xc3\xb6rg <j@x.org>\r\n"
                            "Message-ID: <a\0b@x>\r\n\r\nx";
    struct message_part *root = parse_checked(m, sizeof(m) - 1);
    /* RFC 3501: quoted strings are 7-bit without CR/LF, so 8-bit values
     * are literals; '"' and '\' are escaped in quoted strings; NUL is
     * not allowed at all */
    check_render(root, 'E',
                 "(NIL {10}\r\ncaf\xe9 \"q\" \\ "
                 "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) "
                 "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) "
                 "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) "
                 "NIL NIL NIL NIL \"<ab@x>\")");
    message_free(&root);

    struct buf b = BUF_INITIALIZER;
    message_imap_string(&b, "a\"b\\c", 5);
    buf_putc(&b, ' ');
    message_imap_string(&b, "two\r\nlines", 10);
    buf_putc(&b, ' ');
    message_imap_nstring(&b, NULL);
    buf_putc(&b, ' ');
    message_imap_nstring(&b, "");
    buf_putc(&b, ' ');
    message_imap_addresses(&b, "");
    CHECK_STR(buf_cstring(&b),
              "\"a\\\"b\\\\c\" {10}\r\ntwo\r\nlines NIL \"\" NIL");
    buf_free(&b);
}

static void test_envelope_rules(void)
{
    /* present but empty: "" for strings; Sender without an address
     * falls back to From; Reply-To given is used */
    const char *m = "Subject:\r\nDate: \r\nSender: \r\n"
                    "Reply-To: r@x.org\r\nFrom: f@x.org\r\n"
                    "In-Reply-To: <p@x>\r\nTo: undisclosed-recipients:;\r\n"
                    "Bcc: b@x.org (Blind)\r\nCc: <@r1,@r2:c@x.org>\r\n\r\n";
    struct message_part *root = parse_checked(m, strlen(m));
    check_render(root, 'E',
                 "(\"\" \"\" ((NIL NIL \"f\" \"x.org\")) "
                 "((NIL NIL \"f\" \"x.org\")) ((NIL NIL \"r\" \"x.org\")) "
                 "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
                 "((NIL \"@r1,@r2\" \"c\" \"x.org\")) "
                 "((\"Blind\" NIL \"b\" \"x.org\")) \"<p@x>\" NIL)");
    message_free(&root);

    /* folded values are unfolded; the first of repeated fields counts */
    m = "Subject: one\r\n two\r\nSubject: second\r\n\r\n";
    root = parse_checked(m, strlen(m));
    CHECK_STR(root->hdr[MESSAGE_HDR_SUBJECT], "one two");
    message_free(&root);
}

/* ---- limits --------------------------------------------------------------- */

static int max_depth(const struct message_part *p)
{
    int d = p->depth;
    for (int i = 0; i < p->nchildren; i++) {
        int c = max_depth(p->children[i]);
        if (c > d) d = c;
    }
    return d;
}

static void test_depth_bomb(void)
{
    /* 10,000 nested multiparts, each with its own boundary */
    const int levels = 10000;
    struct buf b = BUF_INITIALIZER;
    for (int i = 0; i < levels; i++)
        buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                       "--b%d\r\n", i, i);
    buf_appendcstr(&b, "\r\ninnermost\r\n");
    for (int i = levels - 1; i >= 0; i--) buf_printf(&b, "--b%d--\r\n", i);
    struct message_part *root = parse_checked(buf_base(&b), buf_len(&b));
    CU_ASSERT_EQUAL(max_depth(root), MESSAGE_MAX_DEPTH);
    CU_ASSERT_EQUAL(message_count_parts(root), MESSAGE_MAX_DEPTH + 1);
    const struct message_part *p = root;
    while (p->nchildren) p = p->children[0];
    CU_ASSERT(p->flags & MESSAGE_PART_OPAQUE);
    CHECK_STR(p->type, "TEXT");
    /* the opaque part ends at its parent's close delimiter */
    CU_ASSERT(p->body_off + p->body_len < buf_len(&b));
    message_free(&root);

    /* nested message/rfc822 */
    buf_reset(&b);
    for (int i = 0; i < levels; i++)
        buf_appendcstr(&b, "Content-Type: message/rfc822\r\n\r\n");
    buf_appendcstr(&b, "Subject: deep\r\n\r\nbody\r\n");
    root = parse_checked(buf_base(&b), buf_len(&b));
    CU_ASSERT_EQUAL(max_depth(root), MESSAGE_MAX_DEPTH);
    message_free(&root);

    /* one boundary for every level */
    buf_reset(&b);
    for (int i = 0; i < levels; i++)
        buf_appendcstr(&b, "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
                           "--x\r\n");
    root = parse_checked(buf_base(&b), buf_len(&b));
    message_free(&root);
    buf_free(&b);
}

static void test_many_parts(void)
{
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for (int i = 0; i < 3 * MESSAGE_MAX_PARTS; i++)
        buf_printf(&b, "--p\r\n\r\npart %d\r\n", i);
    buf_appendcstr(&b, "--p--\r\n");
    struct message_part *root = parse_checked(buf_base(&b), buf_len(&b));
    CU_ASSERT(message_count_parts(root) <= MESSAGE_MAX_PARTS);
    CU_ASSERT(message_count_parts(root) >= MESSAGE_MAX_PARTS - 1);
    CU_ASSERT_EQUAL(root->body_off + root->body_len, buf_len(&b));
    message_free(&root);
    buf_free(&b);
}

static void test_huge_header(void)
{
    /* 1.5 MB of header fields: fields past MESSAGE_MAX_HEADER are not
     * interpreted, but the header still ends at its empty line */
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, "From: a@b.c\r\n");
    char junk[1001];
    memset(junk, 'j', 1000);
    junk[1000] = '\0';
    for (int i = 0; i < 1500; i++) buf_printf(&b, "X-Junk: %s\r\n", junk);
    buf_appendcstr(&b, "Subject: late\r\nContent-Type: text/html\r\n\r\nbody");
    struct message_part *root = parse_checked(buf_base(&b), buf_len(&b));
    CU_ASSERT_PTR_NOT_NULL(root->hdr[MESSAGE_HDR_FROM]);
    CU_ASSERT_PTR_NULL(root->hdr[MESSAGE_HDR_SUBJECT]);
    CHECK_STR(root->subtype, "PLAIN");
    CU_ASSERT_EQUAL(root->body_len, 4);
    CU_ASSERT_EQUAL(root->header_len, buf_len(&b) - 4);
    message_free(&root);

    /* one folded 1 MB field */
    buf_reset(&b);
    buf_appendcstr(&b, "Subject: x");
    for (int i = 0; i < 15000; i++)
        buf_appendcstr(&b, "\r\n abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrst"
                           "uvwxyzabcdefghij");
    buf_appendcstr(&b, "\r\n\r\nbody");
    root = parse_checked(buf_base(&b), buf_len(&b));
    CU_ASSERT_PTR_NOT_NULL(root->hdr[MESSAGE_HDR_SUBJECT]);
    CU_ASSERT(strlen(root->hdr[MESSAGE_HDR_SUBJECT]) <= MESSAGE_MAX_HEADER);
    CU_ASSERT_EQUAL(root->body_len, 4);
    message_free(&root);
    buf_free(&b);
}

static void test_digest_and_params(void)
{
    /* multipart/digest: parts default to message/rfc822 */
    const char *m = "Content-Type: multipart/digest; boundary=D\r\n\r\n"
                    "--D\r\n\r\nSubject: one\r\n\r\n1\r\n--D--\r\n";
    struct message_part *root = parse_checked(m, strlen(m));
    CU_ASSERT_EQUAL(root->children[0]->kind, MESSAGE_KIND_RFC822);
    check_render(root->children[0], 'B',
                 "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 "
                 "(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
                 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                 "\"7BIT\" 1 0) 2)");
    message_free(&root);

    /* RFC 2231 continuations and an extended boundary (msg_33 style);
     * comments and odd spacing in Content-Type */
    m = "Content-Type: (c) Multipart/Mixed (c) ; (c)\r\n"
        " boundary*=\"us-ascii'en'a%20b\";\r\n"
        " title*0*=us-ascii'en'This%20is%20;\r\n title*1=\"fun!\";"
        " NAME = \"q\\\"x\" ; junk; x=\r\n\r\n"
        "--a b\r\n\r\nin\r\n--a b--\r\n";
    root = parse_checked(m, strlen(m));
    CHECK_STR(root->boundary, "a b");
    CU_ASSERT_EQUAL(root->nchildren, 1);
    CHECK_STR(root->subtype, "MIXED");
    CHECK_STR(message_param_get(root->params, "TITLE*"),
              "us-ascii'en'This%20is%20fun!");
    char *t = message_param_decode(root->params, "title");
    CHECK_STR(t, "This is fun!");
    free(t);
    CHECK_STR(message_param_get(root->params, "name"), "q\"x");
    CHECK_STR(message_param_get(root->params, "x"), "");
    CU_ASSERT_PTR_NULL(message_param_get(root->params, "junk"));
    CU_ASSERT_PTR_NULL(message_param_decode(root->params, "none"));
    message_free(&root);
    SECTION(m, "1", "in");

    /* an invalid Content-Type is the default; encodings are tokens */
    m = "Content-Type: text; charset=us-ascii\r\n"
        "Content-Transfer-Encoding: Base64 (really)\r\n\r\nQQ==";
    root = parse_checked(m, strlen(m));
    CU_ASSERT(root->flags & MESSAGE_PART_DEFAULTED);
    CHECK_STR(root->encoding, "BASE64");
    CU_ASSERT_EQUAL(root->cte, CHARSET_ENC_BASE64);
    message_free(&root);

    char *type, *sub;
    struct message_param *params;
    CU_ASSERT_EQUAL(message_parse_content_type("/plain", 6, &type, &sub,
                                               &params), CYRERR_PARSE);
    CU_ASSERT_EQUAL(message_parse_content_type("text/", 5, &type, &sub,
                                               &params), CYRERR_PARSE);
    CU_ASSERT_EQUAL(message_parse_content_type("image/png;a*1=x;a*0=y", 21,
                                               &type, &sub, &params), 0);
    CHECK_STR(type, "IMAGE");
    CHECK_STR(params->attribute, "A");
    CHECK_STR(params->value, "yx");
    free(type);
    free(sub);
    message_param_free(&params);
    CU_ASSERT_EQUAL(message_parse_disposition("inline", 6, &type, &params), 0);
    CHECK_STR(type, "INLINE");
    CU_ASSERT_PTR_NULL(params);
    free(type);
}

/* ---- headers, addresses, dates ------------------------------------------ */

static void test_header_fields(void)
{
    const char *h = "A: 1\r\n"
                    " cont\r\n"
                    "Bad Name: x\r\n"
                    "no colon\r\n"
                    "B :2\r\n"
                    "\r\n"
                    "C: after\r\n";
    size_t pos = 0;
    struct message_field f;
    CU_ASSERT_TRUE(message_header_next(h, strlen(h), &pos, &f));
    CU_ASSERT_EQUAL(f.namelen, 1);
    CU_ASSERT_EQUAL(f.valuelen, 9);
    CU_ASSERT_EQUAL(f.linelen, 13);
    CU_ASSERT_TRUE(message_header_next(h, strlen(h), &pos, &f));
    CU_ASSERT_EQUAL(strncmp(f.name, "B", f.namelen), 0);
    CU_ASSERT_FALSE(message_header_next(h, strlen(h), &pos, &f));
    CU_ASSERT_FALSE(message_header_next(h, strlen(h), &pos, &f));

    struct buf v = BUF_INITIALIZER;
    CU_ASSERT_TRUE(message_header_get(h, strlen(h), "a", &v));
    CHECK_STR(buf_cstring(&v), "1 cont");
    buf_reset(&v);
    CU_ASSERT_TRUE(message_header_get(h, strlen(h), "b", NULL));
    CU_ASSERT_FALSE(message_header_get(h, strlen(h), "C", &v));
    message_unfold("  a\r\n\tb \r\n", 10, &v);
    CHECK_STR(buf_cstring(&v), "a\tb");
    buf_free(&v);
}

static void check_addr(const char *in, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    message_imap_addresses(&b, in);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

static void test_addresses(void)
{
    check_addr("a@b", "((NIL NIL \"a\" \"b\"))");
    check_addr("\"Q, Joe\" <joe@x.org>", "((\"Q, Joe\" NIL \"joe\" \"x.org\"))");
    check_addr("joe@x.org (Joe Q)", "((\"Joe Q\" NIL \"joe\" \"x.org\"))");
    check_addr("(Joe) <joe@x.org>", "((\"Joe\" NIL \"joe\" \"x.org\"))");
    check_addr("Joe   Q.  Public <j@x.org>",
               "((\"Joe Q. Public\" NIL \"j\" \"x.org\"))");
    check_addr("a@b (c (d) e)", "((\"c (d) e\" NIL \"a\" \"b\"))");
    check_addr("<@r1,@r2:joe@x.org>", "((NIL \"@r1,@r2\" \"joe\" \"x.org\"))");
    check_addr("G: a@b, c@d;, e@f",
               "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")"
               "(NIL NIL NIL NIL)(NIL NIL \"e\" \"f\"))");
    check_addr("G: a@b", "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")"
                         "(NIL NIL NIL NIL))");        /* unterminated */
    check_addr("bob", "((NIL NIL \"bob\" \"unspecified-domain\"))");
    check_addr("\"john doe\"@example.com",
               "((NIL NIL \"\\\"john doe\\\"\" \"example.com\"))");
    check_addr("Joe <joe@x.org", "((\"Joe\" NIL \"joe\" \"x.org\"))");
    check_addr("=?utf-8?q?J=C3=B6rg?= <j@x.org>",
               "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.org\"))");
    check_addr("a@[1.2.3.4]", "((NIL NIL \"a\" \"[1.2.3.4]\"))");
    check_addr("a . b @ x . org", "((NIL NIL \"a.b\" \"x.org\"))");
    check_addr("", "NIL");
    check_addr(" , ,, ", "NIL");
    check_addr("<>", "NIL");
    check_addr(NULL, "NIL");

    /* junk must never crash and always give valid syntax */
    const char *junk[] = { "<<>>@@;;::", "\"unterminated", "(((", "@", ";",
                           ":", "a@", "@b", "<a@b>>>", "\\", "[a", "a:b:c;;",
                           "\"\\", "<@a,@b", "x <@a:>", "a\0b" };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct buf b = BUF_INITIALIZER;
        buf_putc(&b, '(');
        message_imap_addresses(&b, junk[i]);
        /* wrap it as an envelope's address field to validate it */
        struct buf env = BUF_INITIALIZER;
        buf_appendcstr(&env, "(NIL NIL ");
        buf_appendmap(&env, buf_base(&b) + 1, buf_len(&b) - 1);
        buf_appendcstr(&env, " NIL NIL NIL NIL NIL NIL NIL)");
        CU_ASSERT_TRUE(validate_envelope(buf_base(&env), buf_len(&env)));
        buf_free(&env);
        buf_free(&b);
    }

    struct message_address *a = message_address_parse("x@y, G:;", 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CHECK_STR(a->mailbox, "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a->next);
    CHECK_STR(a->next->mailbox, "G");
    CU_ASSERT_PTR_NULL(a->next->domain);
    message_address_free(&a);
    CU_ASSERT_PTR_NULL(a);
}

static void check_date(const char *s, int ok, time_t want)
{
    time_t t = 0;
    int r = message_parse_date(s, strlen(s), &t);
    CU_ASSERT_EQUAL(r == 0, ok);
    if (ok && t != want)
        fprintf(stderr, "\ndate <%s>: got %lld want %lld\n", s, (long long)t,
                (long long)want);
    if (ok) CU_ASSERT_EQUAL(t, want);
    if (!ok) CU_ASSERT_EQUAL(r, CYRERR_PARSE);
}

static void test_dates(void)
{
    check_date("Mon, 7 Feb 1994 21:52:25 -0800 (PST)", 1, 760686745);
    check_date("01 Jan 2001 00:01+0000", 1, 978307260);
    check_date("Fri, 20 Apr 2001 19:35:02 -0400", 1, 987809702);
    check_date("Fri, 20 Apr 2001 19:35:02 EDT", 1, 987809702);
    check_date("20 apr 01 23:35:02 GMT", 1, 987809702);
    check_date("Thu, 1 Jan 1970 00:00:00 +0000", 1, 0);
    check_date("1 Jan 70 00:00 UT", 1, 0);
    check_date("31 Dec 1969 23:59:59 Z", 1, -1);
    check_date("Sat, 29 Feb 2020 12:00:00 +0100", 1, 1582974000);
    check_date("1 Jan 2001", 1, 978307200);             /* no time */
    check_date("Mon Jan  1 00:00:00 2001", 1, 978307200); /* asctime */
    check_date("(comment) 1 (x) Jan 2001 00:00:00 A", 1, 978307200);
    check_date("", 0, 0);
    check_date("garbage", 0, 0);
    check_date("1 Foo 2001 00:00:00", 0, 0);
    check_date("Jan 2001", 0, 0);
}

static void check_base(const char *in, const char *want)
{
    struct buf b = BUF_INITIALIZER;
    message_base_subject(in, strlen(in), &b);
    CHECK_STR(buf_cstring(&b), want);
    buf_free(&b);
}

static void test_base_subject(void)
{
    /* RFC 5256 section 2.1 */
    check_base("Hello", "Hello");
    check_base("Re: Hello", "Hello");
    check_base("RE: re:Fwd: [list] fw: Hello (fwd)", "Hello");
    check_base("Re [x]: Hello", "Hello");
    check_base("RE : x", "x");
    check_base("[fwd: Re: test]", "test");
    check_base("[PATCH]", "[PATCH]");
    check_base("[PATCH] fix it", "fix it");
    check_base("  spaced\t\tout  ", "spaced out");
    check_base("Re:", "");
    check_base("", "");
}

/* ---- the corpus ----------------------------------------------------------- */

static char *read_file(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct buf b = BUF_INITIALIZER;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_appendmap(&b, chunk, n);
    fclose(f);
    *lenp = buf_len(&b);
    char *r = buf_release(&b);
    return r ? r : xstrdup("");
}

static char *to_crlf(const char *s, size_t len, size_t *outlen)
{
    struct buf b = BUF_INITIALIZER;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) buf_putc(&b, '\r');
        buf_putc(&b, s[i]);
    }
    *outlen = buf_len(&b);
    char *r = buf_release(&b);
    return r ? r : xstrdup("");
}

/* Fetch every part (and its MIME header) of a parsed message. */
static void fetch_all_parts(const char *msg, size_t len,
                            const struct message_span *sp, size_t n)
{
    struct buf scratch = BUF_INITIALIZER;
    /* walk the numbering: try 1..nchildren+1 at each level, breadth 1 */
    const char *specs[] = { "", "HEADER", "TEXT", "1", "1.MIME", "2", "1.1",
                            "2.1", "1.2", "HEADER.FIELDS (From Subject)",
                            "1.1.1", "3", "2.HEADER", "2.TEXT" };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct message_section sec;
        CU_ASSERT_EQUAL(message_section_parse(specs[i], strlen(specs[i]),
                                              &sec), 0);
        const char *d;
        size_t dl;
        int r = message_section_fetch(msg, len, sp, n, &sec, 0, &scratch,
                                      &d, &dl);
        CU_ASSERT(r == 0 || r == CYRERR_NOTFOUND);
        if (r == 0)
            CU_ASSERT(dl == 0 || (d >= msg && d + dl <= msg + len) ||
                      (d >= buf_base(&scratch) &&
                       d + dl <= buf_base(&scratch) + buf_len(&scratch)));
        r = message_section_fetch(msg, len, sp, n, &sec,
                                  MESSAGE_SECTION_BINARY, &scratch, &d, &dl);
        CU_ASSERT(r == 0 || r == CYRERR_NOTFOUND || r == CYRERR_BADARGS ||
                  r == CYRERR_NOTSUPPORTED);
        message_section_fini(&sec);
    }
    buf_free(&scratch);
}

static void test_corpus(void)
{
    const char *corpus = harness_corpusdir();
    if (!corpus) {
        fprintf(stderr, "\n(no ../shared/corpus: corpus test skipped)\n");
        return;
    }
    char *dirname = strconcat(corpus, "/mime", (char *)NULL);
    DIR *d = opendir(dirname);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct strarray names = STRARRAY_INITIALIZER;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "msg_", 4)) strarray_append(&names, de->d_name);
    closedir(d);
    strarray_sort(&names, strcmp);
    CU_ASSERT(names.count >= 48);

    for (int i = 0; i < names.count; i++) {
        char *path = strconcat(dirname, "/", names.data[i], (char *)NULL);
        size_t len, clen;
        char *msg = read_file(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
        char *crlf = to_crlf(msg, len, &clen);

        struct message_part *a = parse_checked(msg, len);
        struct message_part *b = parse_checked(crlf, clen);
        /* CRLF or LF, the structure is the same */
        CU_ASSERT_EQUAL(message_count_parts(a), message_count_parts(b));
        char *sa = render(a, 'E'), *sb = render(b, 'E');
        CU_ASSERT_STRING_EQUAL(sa, sb);
        free(sa);
        free(sb);

        struct message_span *sp;
        size_t n = message_spans(b, &sp);
        fetch_all_parts(crlf, clen, sp, n);
        for (size_t k = 0; k < n; k++)
            CU_ASSERT_EQUAL(sp[k].subtree >= 1 && k + sp[k].subtree <= n, 1);
        free(sp);
        message_free(&a);
        message_free(&b);
        free(crlf);
        free(msg);
        free(path);
    }
    strarray_free(&names);
    free(dirname);
}

/* A few corpus messages whose shape is known (Python's email test data,
 * where the same messages are checked). */
static void test_corpus_shapes(void)
{
    const char *corpus = harness_corpusdir();
    if (!corpus) return;
    const struct {
        const char *file;
        const char *spec;        /* a section and what it must hold */
        const char *want;
        int nparts;              /* entities in the tree */
    } cases[] = {
        /* message/rfc822 as the top-level type */
        { "msg_11.txt", "1.1", "Here is the body of the message.\n", 2 },
        /* no empty line after the header */
        { "msg_35.txt", "TEXT",
          "counter to RFC 2822, there's no separating newline here\n", 1 },
        /* the same boundary inside and outside */
        { "msg_15.txt", "2.MIME",
          "Content-type: image/gif; name=\"xx.gif\";\n"
          " x-mac-creator=\"6F676C65\";\n x-mac-type=\"47494666\"\n"
          "Content-disposition: attachment\n"
          "Content-transfer-encoding: base64\n\n", 5 },
        /* no header/body separator inside a part */
        { "msg_47.txt", "1", "bar\n", 3 },
        /* adjacent delimiters */
        { "msg_37.txt", "3", "Blah\n", 8 },
        /* a group in To: */
        { "msg_36.txt", "2.1.MIME",
          "Content-Type: Message/External-body;\n"
          "\taccess-type=\"mail-server\";\n"
          "\tserver=\"mailserv@ietf.org\"\n\n", 5 },
        /* an RFC 2231 boundary */
        { "msg_33.txt", "2", "part 2\n", 3 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = strconcat(corpus, "/mime/", cases[i].file, (char *)NULL);
        size_t len;
        char *msg = read_file(path, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
        struct message_part *root = parse_checked(msg, len);
        if ((int)message_count_parts(root) != cases[i].nparts)
            fprintf(stderr, "\n%s: %zu parts\n", cases[i].file,
                    message_count_parts(root));
        CU_ASSERT_EQUAL((int)message_count_parts(root), cases[i].nparts);
        message_free(&root);
        check_section(msg, cases[i].spec, 0, cases[i].want,
                      strlen(cases[i].want));
        free(msg);
        free(path);
    }
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("message", NULL, NULL);
    ADD_TEST(s, test_simple_defaults);
    ADD_TEST(s, test_nested_exact);
    ADD_TEST(s, test_sections);
    ADD_TEST(s, test_section_parse);
    ADD_TEST(s, test_no_boundary);
    ADD_TEST(s, test_missing_close);
    ADD_TEST(s, test_truncated);
    ADD_TEST(s, test_mutations);
    ADD_TEST(s, test_no_separator);
    ADD_TEST(s, test_8bit_header);
    ADD_TEST(s, test_envelope_rules);
    ADD_TEST(s, test_depth_bomb);
    ADD_TEST(s, test_many_parts);
    ADD_TEST(s, test_huge_header);
    ADD_TEST(s, test_digest_and_params);
    ADD_TEST(s, test_header_fields);
    ADD_TEST(s, test_addresses);
    ADD_TEST(s, test_dates);
    ADD_TEST(s, test_base_subject);
    ADD_TEST(s, test_corpus);
    ADD_TEST(s, test_corpus_shapes);
}
