/* Tests for lib/tok: the IMAP token reader and the string writer.
 *
 * Every reading test drives a real struct prot over a socketpair: a feeder
 * thread plays the client, writing its script either in one go or one byte
 * per write (with the prot reading one byte per read(2)), and waiting for
 * the server's "+ go ahead" where the script says so.  What the parser side
 * sends back is collected, so that continuations can be counted.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "prot.h"
#include "tok.h"
#include "xmalloc.h"

/* ---- the feeder ------------------------------------------------------------ */

enum step_kind { S_END = 0, S_SEND, S_WAIT };
struct step {
    enum step_kind kind;
    const char *data;
    size_t len;
};
#define SEND(s) { S_SEND, (s), sizeof(s) - 1 }
#define WAIT(s) { S_WAIT, (s), sizeof(s) - 1 }
#define END { S_END, NULL, 0 }

struct fx {
    int sv[2];
    struct prot *p;
    struct tok_parser tp;
    pthread_t th;
    const struct step *steps;
    int bytewise;
    struct buf got;          /* everything the parser side sent */
    int feeder_failed;       /* a WAIT step saw something else, or timed out */
    /* literal callback record */
    int cb_calls;
    uint64_t cb_size;
    unsigned cb_flags;
    int cb_refuse;
};

static int wait_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int r;
    do {
        r = poll(&pfd, 1, 5000);
    } while (r < 0 && errno == EINTR);
    return r == 1;
}

static void *feeder_main(void *arg)
{
    struct fx *x = arg;
    int fd = x->sv[1];
    for (const struct step *s = x->steps; s->kind != S_END; s++) {
        if (s->kind == S_SEND) {
            if (x->bytewise) {
                for (size_t i = 0; i < s->len; i++)
                    if (send(fd, s->data + i, 1, MSG_NOSIGNAL) != 1) break;
            } else if (s->len) {
                if (send(fd, s->data, s->len, MSG_NOSIGNAL) != (ssize_t)s->len)
                    break;
            }
        } else {
            /* read exactly what is expected, one byte at a time */
            size_t start = x->got.len;
            while (x->got.len - start < s->len) {
                char c;
                if (!wait_readable(fd) || read(fd, &c, 1) != 1) {
                    x->feeder_failed = 1;
                    break;
                }
                buf_putc(&x->got, c);
            }
            if (x->feeder_failed ||
                memcmp(x->got.s + start, s->data, s->len) != 0) {
                x->feeder_failed = 1;
                break;
            }
        }
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        char tmp[256];
        if (!wait_readable(fd)) break;
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n <= 0) break;
        buf_appendmap(&x->got, tmp, (size_t)n);
    }
    return NULL;
}

static int go_ahead(struct tok_parser *tp, uint64_t size, unsigned flags, void *rock)
{
    struct fx *x = rock;
    x->cb_calls++;
    x->cb_size = size;
    x->cb_flags = flags;
    if (x->cb_refuse) return x->cb_refuse;
    if (!(flags & TOK_LIT_NONSYNC)) {
        prot_puts(tp->in, "+ go ahead\r\n");
        prot_flush(tp->in);
    }
    return 0;
}

static void fx_start(struct fx *x, const struct step *steps, int bytewise,
                     unsigned flags)
{
    memset(x, 0, sizeof(*x));
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, x->sv), 0);
    x->p = prot_new(x->sv[0]);
    prot_set_timeout(x->p, 3);
    if (bytewise) prot_set_maxread(x->p, 1);
    tok_parser_init(&x->tp, x->p, NULL);
    x->tp.flags = flags;
    tok_set_literal_cb(&x->tp, go_ahead, x);
    x->steps = steps;
    x->bytewise = bytewise;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&x->th, NULL, feeder_main, x), 0);
}

/* Stop: returns what the parser side sent (owned by x). */
static const char *fx_finish(struct fx *x)
{
    prot_flush(x->p);
    shutdown(x->sv[0], SHUT_WR);
    pthread_join(x->th, NULL);
    CU_ASSERT_FALSE(x->feeder_failed);
    tok_parser_fini(&x->tp);
    prot_free(&x->p);
    close(x->sv[0]);
    close(x->sv[1]);
    return buf_cstring(&x->got);
}

static void fx_free(struct fx *x)
{
    buf_free(&x->got);
}

/* Run a body for both delivery modes. */
#define BOTH_MODES(bw) for (int bw = 0; bw < 2; bw++)

/* ---- atoms ---------------------------------------------------------------------- */

static void test_atoms(void)
{
    static const struct step steps[] = {
        SEND("a1 FETCH abc]d x+y 1 \\Seen \\* $Fwd INBOX.% *\r\n"),
        SEND("BODY.PEEK[HEADER.FIELDS (Subject \"X-]\")]<0.100> rest\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "a1");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "FETCH");
        /* "]" ends an atom but belongs to an astring */
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ASTRING, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "abc]d");
        /* "+" is not a tag char */
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), '+');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "x");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "y");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "1");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_FLAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "\\Seen");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_FLAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "\\*");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_FLAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "$Fwd");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_LISTMBOX, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "INBOX.%");
        CU_ASSERT_EQUAL(tok_listmbox(&x.tp, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "*");
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_FETCHATT, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b),
                               "BODY.PEEK[HEADER.FIELDS (Subject \"X-]\")]<0.100>");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), '\r');
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
        /* end of stream */
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), CYRERR_EOF);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_STREAM);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_atom_errors(void)
{
    static const struct step steps[] = {
        SEND(" x\r\n"),                  /* empty atom */
        SEND("\\ x\r\n"),                /* a lone backslash flag */
        SEND("caf\xc3\xa9 x\r\n"),       /* 8-bit without the flag */
        SEND("abcdefghijklmnopq x\r\n"), /* over maxword (16) */
        SEND("OK\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxword = 16;
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_EMPTY);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_FLAG, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_EMPTY);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_8BIT);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), CYRERR_TOOBIG);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_WORD_TOO_LONG);
        CU_ASSERT(buf_len(&b) <= 16);
        CU_ASSERT_STRING_EQUAL(tok_errstr(&x.tp), "Word too long");
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "OK");
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }

    /* 8-bit atoms with the flag (UTF8=ACCEPT) */
    static const struct step steps8[] = { SEND("caf\xc3\xa9 \"\xc3\xa9t\xc3\xa9\"\r\n"), END };
    struct fx x;
    struct buf b = BUF_INITIALIZER;
    fx_start(&x, steps8, 0, TOK_F_8BIT);
    CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "caf\xc3\xa9");
    CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), '\r');
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "\xc3\xa9t\xc3\xa9");
    fx_finish(&x);
    fx_free(&x);
    buf_free(&b);
}

/* ---- quoted strings --------------------------------------------------------------- */

static void test_quoted(void)
{
    static const struct step steps[] = {
        SEND("\"a\\\"b\\\\c\" \"\" \"x y(z)\"\r\n"),
        SEND("\"bad\\n\" tail\r\n"),           /* bad escape */
        SEND("\"open string\r\n"),             /* unterminated: LF ends it */
        SEND("NEXT \"a\rb\" z\r\n"),           /* CR inside */
        SEND("\"a\0b\" z\r\n"),                /* NUL inside */
        SEND("\"caf\xc3\xa9\" z\r\n"),         /* 8-bit */
        SEND("\"0123456789abcdefXYZ\" z\r\n"), /* too long (16) */
        SEND("LAST\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxword = 16;
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "a\"b\\c");
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), ' ');
        CU_ASSERT_EQUAL(buf_len(&b), 0);
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "x y(z)");
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_BAD_ESCAPE);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_UNTERMINATED);
        /* the line already ended: skipping must not eat "NEXT" */
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NEXT");

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_QUOTED_CHAR);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_QUOTED_CHAR);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_8BIT);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_TOOBIG);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_WORD_TOO_LONG);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "LAST");
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
}

/* ---- NIL, strings, numbers ----------------------------------------------------------- */

static void test_nil_and_strings(void)
{
    static const struct step steps[] = {
        SEND("NIL nil \"NIL\" {3}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("NIL NILX\r\n"),
        SEND("NIL atom\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        int is_nil = -1;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_nstring(&x.tp, &b, &is_nil), ' ');
        CU_ASSERT_EQUAL(is_nil, 1);
        CU_ASSERT_EQUAL(buf_len(&b), 0);
        CU_ASSERT_EQUAL(tok_nstring(&x.tp, &b, &is_nil), ' ');
        CU_ASSERT_EQUAL(is_nil, 1);
        CU_ASSERT_EQUAL(tok_nstring(&x.tp, &b, &is_nil), ' ');
        CU_ASSERT_EQUAL(is_nil, 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NIL");
        CU_ASSERT_EQUAL(tok_nstring(&x.tp, &b, &is_nil), ' ');
        CU_ASSERT_EQUAL(is_nil, 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NIL");
        CU_ASSERT_EQUAL(tok_nstring(&x.tp, &b, &is_nil), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_NOT_NIL);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        /* an astring NIL is just the string "NIL"; a string is no atom */
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NIL");
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_SYNTAX);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "+ go ahead\r\n");
        CU_ASSERT_EQUAL(x.cb_calls, 1);
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_numbers(void)
{
    static const struct step steps[] = {
        SEND("0 4294967295 4294967296 18446744073709551615 12abc\r\n"),
        SEND("4294967296\r\n"),
        SEND("18446744073709551616\r\n"),
        SEND("-1\r\n"),
        SEND("+1\r\n"),
        SEND(" 1\r\n"),
        SEND("007\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_uint32(&x.tp, &u32), ' ');
        CU_ASSERT_EQUAL(u32, 0);
        CU_ASSERT_EQUAL(tok_uint32(&x.tp, &u32), ' ');
        CU_ASSERT_EQUAL(u32, UINT32_MAX);
        CU_ASSERT_EQUAL(tok_uint64(&x.tp, &u64), ' ');
        CU_ASSERT_EQUAL(u64, 4294967296ULL);
        CU_ASSERT_EQUAL(tok_uint64(&x.tp, &u64), ' ');
        CU_ASSERT_EQUAL(u64, UINT64_MAX);
        CU_ASSERT_EQUAL(tok_uint32(&x.tp, &u32), 'a');  /* caller sees garbage */
        CU_ASSERT_EQUAL(u32, 12);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        for (int i = 0; i < 5; i++) {
            u32 = 99;
            int r = i == 1 ? tok_uint64(&x.tp, &u64) : tok_uint32(&x.tp, &u32);
            CU_ASSERT_EQUAL(r, CYRERR_PARSE);
            CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_NUMBER);
            CU_ASSERT_EQUAL(u32, 99);
            CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        }
        CU_ASSERT_EQUAL(tok_uint32(&x.tp, &u32), '\r');
        CU_ASSERT_EQUAL(u32, 7);
        fx_finish(&x);
        fx_free(&x);
    }
}

static void test_number_max(void)
{
    static const struct step steps[] = { SEND("5 7 50 12\r\n"), END };
    struct fx x;
    uint64_t v = 0;
    fx_start(&x, steps, 0, 0);
    CU_ASSERT_EQUAL(tok_number(&x.tp, 5, &v), ' ');
    CU_ASSERT_EQUAL(v, 5);
    CU_ASSERT_EQUAL(tok_number(&x.tp, 5, &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(tok_getc(&x.tp), ' ');
    CU_ASSERT_EQUAL(tok_number(&x.tp, 49, &v), CYRERR_PARSE);
    CU_ASSERT_EQUAL(tok_getc(&x.tp), ' ');
    CU_ASSERT_EQUAL(tok_number(&x.tp, 12, &v), '\r');
    CU_ASSERT_EQUAL(v, 12);
    fx_finish(&x);
    fx_free(&x);
}

static void test_errors_and_defaults(void)
{
    struct tok_limits lim;
    tok_limits_default(&lim);
    CU_ASSERT_EQUAL(lim.maxword, 131072);
    CU_ASSERT(lim.maxliteral > 0);
    CU_ASSERT(lim.maxdepth > 0);
    CU_ASSERT(lim.maxitems > 0);
    /* every error has its own text */
    for (int i = TOK_E_NONE; i <= TOK_E_STREAM; i++) {
        const char *t = tok_err_text((enum tok_err)i);
        CU_ASSERT(strlen(t) > 0);
        for (int j = TOK_E_NONE; j < i; j++)
            CU_ASSERT(strcmp(t, tok_err_text((enum tok_err)j)) != 0);
    }
}

/* ---- literals ------------------------------------------------------------------------- */

static void test_literal_sync(void)
{
    /* The client sends the data only after it has seen "+ go ahead": a
     * parser that read before asking would time out here. */
    static const struct step steps[] = {
        SEND("A1 LOGIN {5}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("al\r\nc {0}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_EQUAL(buf_len(&b), 5);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "al\r\nc");
        CU_ASSERT_EQUAL(x.cb_calls, 1);
        CU_ASSERT_EQUAL(x.cb_size, 5);
        CU_ASSERT_EQUAL(x.cb_flags, 0);
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), '\r');
        CU_ASSERT_EQUAL(buf_len(&b), 0);
        CU_ASSERT_EQUAL(x.cb_calls, 2);
        CU_ASSERT_EQUAL(x.cb_size, 0);
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "+ go ahead\r\n+ go ahead\r\n");
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_go_ahead(void)
{
    static const struct step steps[] = {
        SEND("{3}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("abc {2+}\r\nde\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        tok_set_literal_cb(&x.tp, tok_go_ahead, NULL);
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "abc");
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "de");
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "+ go ahead\r\n");
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_literal_nonsync(void)
{
    static const struct step steps[] = {
        SEND("A1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "alice");
        CU_ASSERT_EQUAL(x.cb_flags, TOK_LIT_NONSYNC);
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), '\r');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "secret");
        CU_ASSERT_EQUAL(x.cb_calls, 2);
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), ""); /* no continuation */
        fx_free(&x);
        buf_free(&b);
    }

    /* without LITERAL+ a {n+} is refused, and its data swallowed */
    static const struct step steps2[] = {
        SEND("A1 LOGIN {5+}\r\nalice x\r\nA2 NOOP\r\n"),
        END,
    };
    struct fx x;
    struct buf b = BUF_INITIALIZER;
    fx_start(&x, steps2, 0, TOK_F_NO_NONSYNC);
    CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
    CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
    CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PARSE);
    CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_BAD_LITERAL);
    CU_ASSERT_EQUAL(x.cb_calls, 0);
    CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
    CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "A2");
    fx_finish(&x);
    fx_free(&x);
    buf_free(&b);
}

static void test_literal_refused(void)
{
    /* sync: the client never sends the data (it got our NO), so nothing is
     * skipped but the end of that line */
    static const struct step steps[] = {
        SEND("A1 LOGIN {5}\r\n"),
        SEND("A2 NOOP\r\n"),
        /* non-sync: the data arrives anyway and is swallowed, with the
         * rest of the command and its further {n+} literals */
        SEND("A3 LOGIN {5+}\r\nal\r\nc {3+}\r\nx\ny more\r\n"),
        SEND("A4 NOOP\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.cb_refuse = CYRERR_PERMISSION;
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PERMISSION);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_LITERAL_REFUSED);
        CU_ASSERT_EQUAL(x.cb_calls, 1);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "A2");
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "A3");
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_PERMISSION);
        CU_ASSERT_EQUAL(x.cb_calls, 2);
        CU_ASSERT_EQUAL(x.cb_flags, TOK_LIT_NONSYNC);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "A4");
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "");
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_literal_limits(void)
{
    static const struct step steps[] = {
        SEND("A1 X {11}\r\n"),                      /* over maxliteral, sync */
        SEND("A2 X {11+}\r\n0123456789a tail\r\n"), /* over, non-sync: swallowed */
        SEND("A3 X {abc}\r\n"),
        SEND("A4 X {}\r\n"),
        SEND("A5 X {5}x\r\n"),
        SEND("A6 X {99999999999999999999}\r\n"),
        SEND("A7 X ~{3}\r\n"),                      /* binary not allowed */
        SEND("A8 X {3+}\r\na\0b\r\n"),              /* NUL in a literal */
        SEND("A9 X {101+}\r\n"),                    /* over maxswallow */
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxliteral = 10;
        x.tp.limits.maxswallow = 100;
        static const struct {
            int rc;
            enum tok_err err;
        } want[] = {
            { CYRERR_TOOBIG, TOK_E_LITERAL_TOO_LARGE },
            { CYRERR_TOOBIG, TOK_E_LITERAL_TOO_LARGE },
            { CYRERR_PARSE, TOK_E_BAD_LITERAL },
            { CYRERR_PARSE, TOK_E_BAD_LITERAL },
            { CYRERR_PARSE, TOK_E_BAD_LITERAL },
            { CYRERR_TOOBIG, TOK_E_LITERAL_TOO_LARGE },
            { CYRERR_PARSE, TOK_E_BINARY },
            { CYRERR_PARSE, TOK_E_LITERAL_NUL },
            { CYRERR_TOOBIG, TOK_E_LITERAL_TOO_LARGE },
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            char tag[8];
            snprintf(tag, sizeof(tag), "A%zu", i + 1);
            CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
            CU_ASSERT_STRING_EQUAL(buf_cstring(&b), tag);
            CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
            int r = tok_astring(&x.tp, &b);
            if (r != want[i].rc || tok_error(&x.tp) != want[i].err)
                fprintf(stderr, "\n%s: got %s/%s\n", tag, error_name(r),
                        tok_errstr(&x.tp));
            CU_ASSERT_EQUAL(r, want[i].rc);
            CU_ASSERT_EQUAL(tok_error(&x.tp), want[i].err);
            if (i + 1 < sizeof(want) / sizeof(want[0]))
                CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        }
        /* a refused {101+} cannot be swallowed within maxswallow: hang up */
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), CYRERR_PROTOCOL_ERROR);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), CYRERR_PROTOCOL_ERROR);
        CU_ASSERT_EQUAL(x.cb_calls, 1); /* only A8 passed the limits */
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "");
        fx_free(&x);
        buf_free(&b);
    }

    /* a non-sync literal whose size does not fit 64 bits: desynchronised */
    static const struct step steps2[] = { SEND("{99999999999999999999+}\r\nxx\r\n"), END };
    struct fx x;
    struct buf b = BUF_INITIALIZER;
    fx_start(&x, steps2, 0, 0);
    CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_TOOBIG);
    CU_ASSERT_EQUAL(tok_skip_line(&x.tp), CYRERR_PROTOCOL_ERROR);
    fx_finish(&x);
    fx_free(&x);
    buf_free(&b);
}

static void test_literal_eof(void)
{
    static const struct step steps[] = { SEND("{10+}\r\nabc"), END };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_EOF);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_STREAM);
        CU_ASSERT(tok_skip_line(&x.tp) < 0);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
    /* EOF in the middle of a quoted string and of a header */
    static const struct step steps2[] = { SEND("\"abc"), END };
    static const struct step steps3[] = { SEND("{12"), END };
    const struct step *all[] = { steps2, steps3 };
    for (int i = 0; i < 2; i++) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, all[i], 1, 0);
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), CYRERR_EOF);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_literal_binary(void)
{
    static const struct step steps[] = {
        SEND("~{3}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("a\0b ~{2+}\r\n\0\0\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, TOK_F_BINARY);
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), ' ');
        CU_ASSERT_EQUAL(buf_len(&b), 3);
        CU_ASSERT_EQUAL(memcmp(buf_base(&b), "a\0b", 3), 0);
        CU_ASSERT_EQUAL(x.cb_flags, TOK_LIT_BINARY);
        CU_ASSERT_EQUAL(tok_string(&x.tp, &b), '\r');
        CU_ASSERT_EQUAL(buf_len(&b), 2);
        CU_ASSERT_EQUAL(x.cb_flags, TOK_LIT_BINARY | TOK_LIT_NONSYNC);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "+ go ahead\r\n");
        fx_free(&x);
        buf_free(&b);
    }
}

/* tok_literal_read returns what is there (one byte in byte mode) */
static long read_full(struct tok_parser *tp, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        long k = tok_literal_read(tp, buf + got, n - got);
        if (k <= 0) return k;
        got += (size_t)k;
    }
    return (long)got;
}

static void test_literal_streaming(void)
{
    static const struct step steps[] = {
        SEND("A1 APPEND INBOX {26}\r\n"),
        WAIT("+ go ahead\r\n"),
        SEND("abcdefghijklmnopqrstuvwxyz {10+}\r\n0123456789\r\n"),
        SEND("A2 APPEND INBOX {8+}\r\n12345678\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        uint64_t size = 0;
        unsigned lflags = 99;
        char chunk[7];
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxliteral = 30;
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_EQUAL(tok_literal_begin(&x.tp, &size, &lflags), 0);
        CU_ASSERT_EQUAL(size, 26);
        CU_ASSERT_EQUAL(lflags, 0);
        buf_reset(&b);
        long n;
        while ((n = tok_literal_read(&x.tp, chunk, sizeof(chunk))) > 0) {
            CU_ASSERT(n <= (long)sizeof(chunk));
            buf_appendmap(&b, chunk, (size_t)n);
        }
        CU_ASSERT_EQUAL(n, 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "abcdefghijklmnopqrstuvwxyz");
        CU_ASSERT_EQUAL(tok_literal_end(&x.tp), ' ');

        /* read part, then drop the rest */
        CU_ASSERT_EQUAL(tok_literal_begin(&x.tp, &size, &lflags), 0);
        CU_ASSERT_EQUAL(size, 10);
        CU_ASSERT_EQUAL(lflags, TOK_LIT_NONSYNC);
        CU_ASSERT_EQUAL(read_full(&x.tp, chunk, 3), 3);
        CU_ASSERT_EQUAL(memcmp(chunk, "012", 3), 0);
        CU_ASSERT_EQUAL(tok_literal_end(&x.tp), '\r');
        CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);

        /* abandoning a command in the middle of a literal: skip_line
         * drops the data first */
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), ' ');
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), ' ');
        CU_ASSERT_EQUAL(tok_astring(&x.tp, &b), ' ');
        CU_ASSERT_EQUAL(tok_literal_begin(&x.tp, &size, NULL), 0);
        CU_ASSERT_EQUAL(read_full(&x.tp, chunk, 2), 2);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_ATOM, &b), CYRERR_EOF);
        CU_ASSERT_STRING_EQUAL(fx_finish(&x), "+ go ahead\r\n");
        CU_ASSERT_EQUAL(x.cb_calls, 3);
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_literal_spill(void)
{
    static const struct step steps[] = {
        SEND("{5+}\r\nsmall {40+}\r\n0123456789012345678901234567890123456789\r\n"),
        END,
    };
    struct fx x;
    struct prot_literal *lit = NULL;
    fx_start(&x, steps, 0, 0);
    CU_ASSERT_EQUAL(tok_literal_spill(&x.tp, 16, harness_tmpdir(), &lit, NULL), ' ');
    CU_ASSERT_PTR_NOT_NULL_FATAL(lit);
    CU_ASSERT_EQUAL(prot_literal_len(lit), 5);
    CU_ASSERT(prot_literal_in_memory(lit));
    CU_ASSERT_STRING_EQUAL(prot_literal_base(lit), "small");
    prot_literal_free(&lit);
    CU_ASSERT_EQUAL(tok_literal_spill(&x.tp, 16, harness_tmpdir(), &lit, NULL), '\r');
    CU_ASSERT_PTR_NOT_NULL_FATAL(lit);
    CU_ASSERT_EQUAL(prot_literal_len(lit), 40);
    CU_ASSERT_FALSE(prot_literal_in_memory(lit));
    const char *base = prot_literal_base(lit);
    CU_ASSERT_PTR_NOT_NULL(base);
    if (base) CU_ASSERT_EQUAL(memcmp(base, "0123456789012345678901234567890123456789", 40), 0);
    prot_literal_free(&lit);
    CU_ASSERT_EQUAL(tok_eol(&x.tp, '\r'), 0);
    /* not a literal */
    CU_ASSERT_EQUAL(tok_literal_spill(&x.tp, 16, NULL, &lit, NULL), CYRERR_EOF);
    CU_ASSERT_PTR_NULL(lit);
    fx_finish(&x);
    fx_free(&x);
}

/* ---- lines and lists --------------------------------------------------------------------- */

static void test_list_tree(void)
{
    static const struct step steps[] = {
        SEND("(a \"b c\" NIL (d (e)) {3}\r\nx)z () \\Seen \"NIL\" "
             "BODY[HEADER.FIELDS (A B)]<0.5> 42)\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct tok_node *n = NULL;
        fx_start(&x, steps, bw, 0);
        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), '\r');
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(n->kind, TOK_NODE_LIST);
        CU_ASSERT_EQUAL_FATAL(n->count, 10);
        CU_ASSERT(tok_node_is_atom(tok_node_item(n, 0), "A"));
        CU_ASSERT_EQUAL(tok_node_item(n, 1)->kind, TOK_NODE_STRING);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 1)), "b c");
        CU_ASSERT_FALSE(tok_node_item(n, 1)->is_literal);
        CU_ASSERT_EQUAL(tok_node_item(n, 2)->kind, TOK_NODE_NIL);
        CU_ASSERT_PTR_NULL(tok_node_str(tok_node_item(n, 2)));
        const struct tok_node *l = tok_node_item(n, 3);
        CU_ASSERT_EQUAL_FATAL(l->kind, TOK_NODE_LIST);
        CU_ASSERT_EQUAL_FATAL(l->count, 2);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(l, 0)), "d");
        CU_ASSERT_EQUAL(tok_node_item(l, 1)->kind, TOK_NODE_LIST);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(tok_node_item(l, 1), 0)), "e");
        CU_ASSERT_EQUAL(tok_node_item(n, 4)->kind, TOK_NODE_STRING);
        CU_ASSERT(tok_node_item(n, 4)->is_literal);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 4)), "x)z");
        CU_ASSERT_EQUAL(tok_node_item(n, 5)->kind, TOK_NODE_LIST);
        CU_ASSERT_EQUAL(tok_node_item(n, 5)->count, 0);
        CU_ASSERT(tok_node_is_atom(tok_node_item(n, 6), "\\seen"));
        CU_ASSERT_EQUAL(tok_node_item(n, 7)->kind, TOK_NODE_STRING);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 7)), "NIL");
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 8)),
                               "BODY[HEADER.FIELDS (A B)]<0.5>");
        uint64_t v = 0;
        CU_ASSERT_EQUAL(tok_node_number(tok_node_item(n, 9), &v), 0);
        CU_ASSERT_EQUAL(v, 42);
        CU_ASSERT_EQUAL(tok_node_number(tok_node_item(n, 0), &v), CYRERR_PARSE);
        CU_ASSERT_PTR_NULL(tok_node_item(n, 10));
        CU_ASSERT_PTR_NULL(tok_node_item(tok_node_item(n, 0), 0));
        tok_node_free(&n);
        CU_ASSERT_PTR_NULL(n);
        CU_ASSERT_EQUAL(x.cb_calls, 1); /* a server parsing lists asks too */
        fx_finish(&x);
        fx_free(&x);
    }
}

static void test_list_limits(void)
{
    static const struct step steps[] = {
        SEND("(((a)))\r\n"),          /* depth 3: ok */
        SEND("((((a)))) x\r\n"),      /* depth 4: too deep */
        SEND("(1 2 3 4)\r\n"),        /* 5 nodes: ok */
        SEND("(1 2 3 4 5)\r\n"),      /* 6 nodes: too many */
        SEND("(a b\r\n"),             /* unbalanced */
        SEND("(a  b)\r\n"),           /* double space */
        SEND("a)\r\n"),               /* not a list */
        SEND("(\"x)\r\n"),            /* unterminated quote inside */
        SEND("(ok)\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct tok_node *n = NULL;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxdepth = 3;
        x.tp.limits.maxitems = 5;
        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), '\r');
        CU_ASSERT_PTR_NOT_NULL(n);
        tok_node_free(&n);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_LIMIT);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_DEPTH);
        CU_ASSERT_PTR_NULL(n);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), '\r');
        CU_ASSERT_EQUAL(n ? n->count : 0, 4);
        tok_node_free(&n);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_LIMIT);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_ITEMS);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_SYNTAX);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_UNTERMINATED);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);

        CU_ASSERT_EQUAL(tok_list(&x.tp, &n), '\r');
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 0)), "ok");
        tok_node_free(&n);
        fx_finish(&x);
        fx_free(&x);
    }
}

static void test_line_mupdate(void)
{
    static const struct step steps[] = {
        SEND("L01 MAILBOX {10+}\r\nuser.alice {16+}\r\nbackend1!default {21+}\r\n"
             "alice\tlrswipkxtecdan\t\r\n"),
        SEND("* OK MUPDATE \"mupdate-master\" \"Cyrus IMAP\" \"3.6.1\" \"(master)\"\r\n"),
        SEND("* 3 FETCH (FLAGS (\\Seen $X) UID 7 BODY[HEADER] {5}\r\nab\r\nc)\r\n"),
        SEND("\r\n"),
        SEND("* OK [ALERT] it's \"odd\r\n"),
        SEND("* BAD x\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct tok_node *n = NULL;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        tok_set_literal_cb(&x.tp, NULL, NULL); /* a client */
        CU_ASSERT_EQUAL(tok_line(&x.tp, &n), '\n');
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL_FATAL(n->count, 5);
        CU_ASSERT(tok_node_is_atom(tok_node_item(n, 1), "MAILBOX"));
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 2)), "user.alice");
        CU_ASSERT(tok_node_item(n, 2)->is_literal);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 3)), "backend1!default");
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 4)), "alice\tlrswipkxtecdan\t");
        tok_node_free(&n);

        CU_ASSERT_EQUAL(tok_line(&x.tp, &n), '\n');
        CU_ASSERT_EQUAL_FATAL(n->count, 7);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 0)), "*");
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(n, 6)), "(master)");
        tok_node_free(&n);

        CU_ASSERT_EQUAL(tok_line(&x.tp, &n), '\n');
        CU_ASSERT_EQUAL_FATAL(n->count, 4);
        const struct tok_node *att = tok_node_item(n, 3);
        CU_ASSERT_EQUAL_FATAL(att->count, 6);
        CU_ASSERT_EQUAL(tok_node_item(att, 1)->count, 2);
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(att, 4)), "BODY[HEADER]");
        CU_ASSERT_STRING_EQUAL(tok_node_str(tok_node_item(att, 5)), "ab\r\nc");
        tok_node_free(&n);

        CU_ASSERT_EQUAL(tok_line(&x.tp, &n), '\n');
        CU_ASSERT_EQUAL(n->count, 0);
        tok_node_free(&n);

        /* response text is free text, read with tok_text */
        CU_ASSERT_EQUAL(tok_atom(&x.tp, TOK_CS_TAG, &b), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_getc(&x.tp), '*');
        CU_ASSERT_EQUAL(tok_getc(&x.tp), ' ');
        CU_ASSERT_EQUAL(tok_text(&x.tp, &b), '\n');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "BAD x");
        CU_ASSERT_EQUAL(x.cb_calls, 0);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
}

static void test_text_and_eol(void)
{
    static const struct step steps[] = {
        SEND("OK [ALERT] it's \"odd\r\n"),
        SEND("0123456789ABCDEF\r\n"),  /* exactly maxline (16) */
        SEND("0123456789ABCDEF\r\n"),  /* over maxline (10) */
        SEND("x y\r\n"),
        SEND("z\n"),                   /* bare LF is accepted */
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct buf b = BUF_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxline = 100;
        CU_ASSERT_EQUAL(tok_text(&x.tp, &b), '\n');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "OK [ALERT] it's \"odd");
        x.tp.limits.maxline = 16;
        CU_ASSERT_EQUAL(tok_text(&x.tp, &b), '\n');
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "0123456789ABCDEF");
        x.tp.limits.maxline = 10;
        CU_ASSERT_EQUAL(tok_text(&x.tp, &b), CYRERR_TOOBIG);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_LINE_TOO_LONG);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        int c = tok_atom(&x.tp, TOK_CS_ATOM, &b);
        CU_ASSERT_EQUAL(c, ' ');
        CU_ASSERT_EQUAL(tok_eol(&x.tp, c), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_EOL);
        CU_ASSERT_STRING_EQUAL(tok_errstr(&x.tp), "Unexpected extra arguments");
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        c = tok_atom(&x.tp, TOK_CS_ATOM, &b);
        CU_ASSERT_EQUAL(c, '\n');
        CU_ASSERT_EQUAL(tok_eol(&x.tp, c), 0);
        CU_ASSERT_EQUAL(tok_eol(&x.tp, CYRERR_EOF), CYRERR_EOF);
        fx_finish(&x);
        fx_free(&x);
        buf_free(&b);
    }
}

/* ---- sequence sets --------------------------------------------------------------------------- */

static void test_seqset_parse(void)
{
    static const struct {
        const char *s;
        int ok;
        const char *canon;
    } cases[] = {
        { "1", 1, "1" },
        { "1:5", 1, "1:5" },
        { "1:5,7,9:*", 1, "1:5,7,9:*" },
        { "*", 1, "*" },
        { "*:*", 1, "*" },
        { "5:2", 1, "5:2" },
        { "4294967295", 1, "4294967295" },
        { "$", 1, "$" },
        { "0", 0, NULL },
        { "1:0", 0, NULL },
        { "01", 0, NULL },
        { "1:", 0, NULL },
        { ":1", 0, NULL },
        { ",", 0, NULL },
        { "1,", 0, NULL },
        { ",1", 0, NULL },
        { "1,,2", 0, NULL },
        { "1::2", 0, NULL },
        { "1:2:3", 0, NULL },
        { "4294967296", 0, NULL },
        { "99999999999999999999", 0, NULL },
        { "a", 0, NULL },
        { "", 0, NULL },
        { "1 ", 0, NULL },
        { "-1", 0, NULL },
        { "1,$", 0, NULL },
        { "$:1", 0, NULL },
    };
    struct tok_seqset set = TOK_SEQSET_INITIALIZER;
    struct buf b = BUF_INITIALIZER;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = tok_seqset_parse(cases[i].s, TOK_SEQ_DOLLAR, 0, &set);
        if ((r == 0) != cases[i].ok) fprintf(stderr, "\nseqset <%s>: %d\n", cases[i].s, r);
        CU_ASSERT_EQUAL(r == 0, cases[i].ok);
        if (r) {
            CU_ASSERT_EQUAL(r, CYRERR_PARSE);
            CU_ASSERT_EQUAL(set.count, 0);
            continue;
        }
        buf_reset(&b);
        tok_seqset_format(&set, &b);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), cases[i].canon);
    }
    /* "$" only with the flag; the range limit */
    CU_ASSERT_EQUAL(tok_seqset_parse("$", 0, 0, &set), CYRERR_PARSE);
    CU_ASSERT_EQUAL(tok_seqset_parse("1,2,3", 0, 3, &set), 0);
    CU_ASSERT_EQUAL(tok_seqset_parse("1,2,3,4", 0, 3, &set), CYRERR_LIMIT);
    tok_seqset_free(&set);
    buf_free(&b);
}

static void test_seqset_match(void)
{
    struct tok_seqset set = TOK_SEQSET_INITIALIZER, res = TOK_SEQSET_INITIALIZER;
    struct buf b = BUF_INITIALIZER;
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("1:5,7,9:*", 0, 0, &set), 0);
    static const uint32_t yes[] = { 1, 3, 5, 7, 9, 10 };
    static const uint32_t no[] = { 0, 6, 8, 11, 4000000000u };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        CU_ASSERT(tok_seqset_contains(&set, yes[i], 10));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        CU_ASSERT_FALSE(tok_seqset_contains(&set, no[i], 10));
    }
    /* "*:4" is 4:max; "100:*" with max 50 holds 50..100 */
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("*:4", 0, 0, &set), 0);
    CU_ASSERT(tok_seqset_contains(&set, 4, 10));
    CU_ASSERT(tok_seqset_contains(&set, 10, 10));
    CU_ASSERT_FALSE(tok_seqset_contains(&set, 3, 10));
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("100:*", 0, 0, &set), 0);
    CU_ASSERT(tok_seqset_contains(&set, 50, 50));
    CU_ASSERT_FALSE(tok_seqset_contains(&set, 49, 50));

    /* resolve: ordered, merged, bisected */
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("9,5:2,3,7:8,*,1", 0, 0, &set), 0);
    tok_seqset_resolve(&set, 20, &res);
    CU_ASSERT(res.is_resolved);
    tok_seqset_format(&res, &b);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "1:5,7:9,20");
    for (uint32_t n = 0; n <= 22; n++) {
        int want = (n >= 1 && n <= 5) || (n >= 7 && n <= 9) || n == 20;
        CU_ASSERT_EQUAL(tok_seqset_contains(&res, n, 0), want);
        CU_ASSERT_EQUAL(tok_seqset_contains(&set, n, 20), want);
    }
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("4294967295,1:4294967294", 0, 0, &set), 0);
    tok_seqset_resolve(&set, 7, &res);
    buf_reset(&b);
    tok_seqset_format(&res, &b);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "1:4294967295");
    CU_ASSERT(tok_seqset_contains(&res, UINT32_MAX, 0));

    /* "$" holds nothing by itself */
    CU_ASSERT_EQUAL_FATAL(tok_seqset_parse("$", TOK_SEQ_DOLLAR, 0, &set), 0);
    CU_ASSERT(set.is_dollar);
    CU_ASSERT_FALSE(tok_seqset_contains(&set, 1, 10));
    tok_seqset_free(&set);
    tok_seqset_free(&res);
    buf_free(&b);
}

static void test_seqset_stream(void)
{
    static const struct step steps[] = {
        SEND("1:5,7 *:* 1:5abc\r\n"),
        SEND("1,2,3,4 x\r\n"),
        SEND("$ 0\r\n"),
        END,
    };
    BOTH_MODES(bw) {
        struct fx x;
        struct tok_seqset set = TOK_SEQSET_INITIALIZER;
        fx_start(&x, steps, bw, 0);
        x.tp.limits.maxitems = 3;
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, 0, &set), ' ');
        CU_ASSERT_EQUAL(set.count, 2);
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, 0, &set), ' ');
        CU_ASSERT_EQUAL(set.count, 1);
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, 0, &set), CYRERR_PARSE);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_SEQSET);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, 0, &set), CYRERR_LIMIT);
        CU_ASSERT_EQUAL(tok_error(&x.tp), TOK_E_ITEMS);
        CU_ASSERT_EQUAL(tok_skip_line(&x.tp), 0);
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, TOK_SEQ_DOLLAR, &set), ' ');
        CU_ASSERT(set.is_dollar);
        CU_ASSERT_EQUAL(tok_seqset(&x.tp, 0, &set), CYRERR_PARSE);
        tok_seqset_free(&set);
        fx_finish(&x);
        fx_free(&x);
    }
}

/* ---- writing ---------------------------------------------------------------------------------- */

static void test_writer_forms(void)
{
    struct buf b = BUF_INITIALIZER;
#define FORM(s, flags, want_form, want_text) do { \
        buf_reset(&b); \
        CU_ASSERT_EQUAL(tok_buf_appendstring(&b, (s), sizeof(s) - 1, (flags)), (want_form)); \
        CU_ASSERT_EQUAL(buf_len(&b), sizeof(want_text) - 1); \
        CU_ASSERT_EQUAL(memcmp(buf_base(&b), (want_text), sizeof(want_text) - 1), 0); \
    } while (0)
    FORM("INBOX", 0, TOK_WF_ATOM, "INBOX");
    FORM("user.alice", 0, TOK_WF_ATOM, "user.alice");
    FORM("INBOX", TOK_W_NOATOM, TOK_WF_QUOTED, "\"INBOX\"");
    FORM("", 0, TOK_WF_QUOTED, "\"\"");
    FORM("NIL", 0, TOK_WF_QUOTED, "\"NIL\"");
    FORM("nil", 0, TOK_WF_QUOTED, "\"nil\"");
    FORM("a b", 0, TOK_WF_QUOTED, "\"a b\"");
    FORM("a]", 0, TOK_WF_QUOTED, "\"a]\"");
    FORM("50%", 0, TOK_WF_QUOTED, "\"50%\"");
    FORM("a\"b\\c", 0, TOK_WF_QUOTED, "\"a\\\"b\\\\c\"");
    FORM("alice\tlrs\t", 0, TOK_WF_QUOTED, "\"alice\tlrs\t\"");
    FORM("a\r\nb", 0, TOK_WF_LITERAL, "{4}\r\na\r\nb");
    FORM("a\r\nb", TOK_W_NONSYNC, TOK_WF_LITERAL, "{4+}\r\na\r\nb");
    FORM("caf\xc3\xa9", 0, TOK_WF_LITERAL, "{5}\r\ncaf\xc3\xa9");
    FORM("caf\xc3\xa9", TOK_W_8BIT, TOK_WF_QUOTED, "\"caf\xc3\xa9\"");
    FORM("a\0b", 0, TOK_WF_LITERAL, "{3}\r\na\0b");
    FORM("a\0b", TOK_W_BINARY, TOK_WF_LITERAL, "~{3}\r\na\0b");
#undef FORM
    char *longs = xmalloc(2001);
    memset(longs, 'x', 2000);
    longs[2000] = '\0';
    CU_ASSERT_EQUAL(tok_string_form(longs, 2000, 0), TOK_WF_LITERAL);
    CU_ASSERT_EQUAL(tok_string_form(longs, 1000, 0), TOK_WF_ATOM);
    free(longs);

    buf_reset(&b);
    tok_buf_appendnstring(&b, NULL, 0);
    buf_putc(&b, ' ');
    tok_buf_appendnstring(&b, "abc", 0);
    buf_putc(&b, ' ');
    tok_buf_appendcstring(&b, "abc", 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NIL \"abc\" abc");
    buf_free(&b);
}

static void test_writer_round_trip(void)
{
    static const struct {
        const char *s;
        size_t len;
    } strs[] = {
#define S(x) { (x), sizeof(x) - 1 }
        S("INBOX"), S(""), S("NIL"), S("a \"quoted\" \\ thing"),
        S("line1\r\nline2"), S("caf\xc3\xa9"), S("}{+"), S("(paren)"),
        S("user.alice"), S("x]"), S("\t"), S("Mixed Case 123"),
#undef S
    };
    const size_t nstrs = sizeof(strs) / sizeof(strs[0]);
    static const unsigned flagsets[] = { 0, TOK_W_NONSYNC, TOK_W_NOATOM | TOK_W_8BIT };
    for (size_t f = 0; f < 3; f++) {
        /* one command line of every string, written through a prot */
        int sv[2];
        CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        struct prot *w = prot_new(sv[1]);
        for (size_t i = 0; i < nstrs; i++) {
            if (i) prot_write(w, " ", 1);
            CU_ASSERT(tok_prot_putstring(w, strs[i].s, strs[i].len, flagsets[f]) >= 0);
        }
        prot_write(w, " ", 1);
        tok_prot_putnstring(w, NULL, flagsets[f]);
        prot_write(w, " ", 1);
        tok_prot_putnstring(w, "NIL", flagsets[f]);
        prot_write(w, "\r\n", 2);
        CU_ASSERT_EQUAL(prot_flush(w), 0);
        prot_free(&w);
        shutdown(sv[1], SHUT_WR);

        struct prot *r = prot_new(sv[0]);
        prot_set_timeout(r, 3);
        struct tok_parser tp;
        struct buf b = BUF_INITIALIZER;
        tok_parser_init(&tp, r, NULL);
        tp.flags = TOK_F_8BIT;
        for (size_t i = 0; i < nstrs; i++) {
            CU_ASSERT_EQUAL(tok_astring(&tp, &b), ' ');
            CU_ASSERT_EQUAL(buf_len(&b), strs[i].len);
            CU_ASSERT_EQUAL(memcmp(buf_base(&b), strs[i].s, strs[i].len), 0);
        }
        int is_nil = 0;
        CU_ASSERT_EQUAL(tok_nstring(&tp, &b, &is_nil), ' ');
        CU_ASSERT(is_nil);
        CU_ASSERT_EQUAL(tok_nstring(&tp, &b, &is_nil), '\r');
        CU_ASSERT_FALSE(is_nil);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), "NIL");
        CU_ASSERT_EQUAL(tok_eol(&tp, '\r'), 0);
        buf_free(&b);
        tok_parser_fini(&tp);
        prot_free(&r);
        close(sv[0]);
        close(sv[1]);
    }
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("tok", NULL, NULL);
    ADD_TEST(s, test_atoms);
    ADD_TEST(s, test_atom_errors);
    ADD_TEST(s, test_quoted);
    ADD_TEST(s, test_nil_and_strings);
    ADD_TEST(s, test_numbers);
    ADD_TEST(s, test_number_max);
    ADD_TEST(s, test_errors_and_defaults);
    ADD_TEST(s, test_literal_sync);
    ADD_TEST(s, test_go_ahead);
    ADD_TEST(s, test_literal_nonsync);
    ADD_TEST(s, test_literal_refused);
    ADD_TEST(s, test_literal_limits);
    ADD_TEST(s, test_literal_eof);
    ADD_TEST(s, test_literal_binary);
    ADD_TEST(s, test_literal_streaming);
    ADD_TEST(s, test_literal_spill);
    ADD_TEST(s, test_list_tree);
    ADD_TEST(s, test_list_limits);
    ADD_TEST(s, test_line_mupdate);
    ADD_TEST(s, test_text_and_eol);

    ADD_TEST(s, test_seqset_parse);
    ADD_TEST(s, test_seqset_match);
    ADD_TEST(s, test_seqset_stream);
    ADD_TEST(s, test_writer_forms);
    ADD_TEST(s, test_writer_round_trip);
}
