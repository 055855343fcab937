/* tok: the IMAP-style token reader and writer (RFC 3501 section 9 grammar).
 *
 * Shared by the IMAP server (reading commands), the MUPDATE server and
 * client, proxies and cyradm (reading server responses).  A struct
 * tok_parser reads from a struct prot; every read is bounded by the limits
 * in tp->limits, which the caller may change between commands (e.g. a larger
 * maxliteral for APPEND).
 *
 * Reading convention (Cyrus's proven style): each reader consumes one token
 * and then the character after it, and returns that character (0..255), so
 * that the caller can check for ' ', ')', '\r' or '\n'.  Readers never skip
 * leading spaces: the grammar puts exactly one SP between arguments.
 * A negative return is an error: a CYRERR_* code (CYRERR_EOF, CYRERR_TIMEOUT
 * and CYRERR_IO come from the stream).  tok_error()/tok_errstr() then tell
 * exactly what went wrong (a distinct enum tok_err per limit and per syntax
 * fault; the text is fit for a "BAD" response).
 *
 * After an error (or when the caller rejects a command), tok_skip_line()
 * discards the rest of the command line, including the data of a
 * non-synchronising literal {n+} that was refused and the data of any
 * further {n+} literals on that line, so that the next command can be read.
 * It knows when the line already ended (the bad byte was the LF, or a
 * refused synchronising literal ended the command).  For this to work, read
 * a command only through tok_* functions (tok_getc() instead of
 * prot_getc()).
 *
 * Literals: on "{n}" (synchronising) the reader checks n against
 * limits.maxliteral, then calls the literal callback with (n, 0) before it
 * reads the data: a server sends "+ go ahead" there (and flushes), or
 * returns a negative CYRERR_* to refuse, which the reader returns without
 * reading the data.  "{n+}" (LITERAL+) calls the callback with
 * TOK_LIT_NONSYNC: it may still refuse (LITERAL- allows {n+} only up to
 * 4096 bytes), and then the data is swallowed by tok_skip_line().  A
 * literal over maxliteral is refused the same way without asking the
 * callback.  "~{n}" (RFC 3516 literal8) is accepted only with TOK_F_BINARY
 * and may hold NUL; other literals read into memory may not.  Without a
 * callback every literal is accepted (a client reading server responses).
 * Literals too large for memory are read in bounded chunks with
 * tok_literal_begin() / tok_literal_read(), or handed over as a struct
 * prot_literal (spilled to a file) by tok_literal_spill(): APPEND.
 *
 * Ownership: strings are returned in caller-owned struct bufs; trees
 * (struct tok_node) and sequence sets belong to the caller and are freed
 * with tok_node_free() / tok_seqset_free().  A tok_parser owns nothing but
 * its state: tok_parser_fini() releases nothing of the prot.
 */
#ifndef LIB_TOK_H
#define LIB_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "prot.h"

/* ---- limits, errors, parser -------------------------------------------- */

struct tok_limits {
    size_t maxword;       /* atom, quoted string, sequence set text: bytes */
    uint64_t maxliteral;  /* literal read into memory (and begun by
                           * tok_literal_begin): bytes */
    uint64_t maxswallow;  /* a refused {n+} literal larger than this is not
                           * discarded: tok_skip_line() says hang up */
    unsigned maxdepth;    /* parenthesised list nesting */
    size_t maxitems;      /* nodes in one tree; ranges in one sequence set */
    size_t maxline;       /* tok_text(): bytes of free text */
};

/* 128 KiB words (Cyrus's maxword/maxquoted), 1 MiB literals in memory,
 * 64 MiB swallow, depth 32, 100,000 items, 64 KiB text. */
void tok_limits_default(struct tok_limits *lim);

enum tok_err {
    TOK_E_NONE = 0,
    TOK_E_SYNTAX,        /* unexpected character */
    TOK_E_EMPTY,         /* an atom or number was expected, nothing came */
    TOK_E_WORD_TOO_LONG, /* atom / quoted / sequence set over maxword */
    TOK_E_QUOTED_CHAR,   /* CR (not before LF) or NUL inside a quoted string */
    TOK_E_8BIT,          /* 8-bit byte without TOK_F_8BIT */
    TOK_E_BAD_ESCAPE,    /* backslash not followed by '"' or '\' */
    TOK_E_UNTERMINATED,  /* quoted string not closed before end of line */
    TOK_E_BAD_LITERAL,   /* malformed literal header ("{abc}", "{5}x") */
    TOK_E_LITERAL_TOO_LARGE, /* over maxliteral (or not representable) */
    TOK_E_LITERAL_NUL,   /* NUL inside a non-binary literal */
    TOK_E_LITERAL_REFUSED,   /* the literal callback refused */
    TOK_E_BINARY,        /* ~{n} without TOK_F_BINARY */
    TOK_E_NUMBER,        /* not a number, or out of range */
    TOK_E_SEQSET,        /* malformed sequence set */
    TOK_E_DEPTH,         /* lists nested deeper than maxdepth */
    TOK_E_ITEMS,         /* more than maxitems nodes / ranges */
    TOK_E_LINE_TOO_LONG, /* tok_text() over maxline */
    TOK_E_NOT_NIL,       /* an atom where only NIL or a string may be */
    TOK_E_EOL,           /* extra characters where the line should end */
    TOK_E_STREAM,        /* EOF, timeout or I/O error on the stream */
};

/* Parser flags */
#define TOK_F_8BIT    0x01  /* 8-bit bytes in atoms and quoted (UTF8=ACCEPT) */
#define TOK_F_BINARY  0x02  /* accept ~{n} literal8 */
#define TOK_F_NO_NONSYNC 0x04 /* refuse {n+} as a syntax error */

/* Literal callback flags */
#define TOK_LIT_NONSYNC 0x01
#define TOK_LIT_BINARY  0x02

struct tok_parser;
/* Called after a literal header was read and accepted by the limits, before
 * the data.  Return 0 to accept (a server writes "+ go ahead\r\n" and
 * flushes when !(flags & TOK_LIT_NONSYNC)), or a negative CYRERR_* code to
 * refuse; the reader then returns that code with TOK_E_LITERAL_REFUSED. */
typedef int tok_literal_cb(struct tok_parser *tp, uint64_t size,
                           unsigned flags, void *rock);

/* A ready-made callback for servers: accepts every literal, and for a
 * synchronising one writes "+ go ahead\r\n" to tp->in (the same
 * bidirectional stream) and flushes.  rock is unused. */
int tok_go_ahead(struct tok_parser *tp, uint64_t size, unsigned flags, void *rock);

struct tok_parser {
    struct prot *in;
    struct tok_limits limits;
    unsigned flags;              /* TOK_F_* */
    tok_literal_cb *literal_cb;  /* may be NULL */
    void *literal_rock;
    /* private state */
    int last;                    /* last byte consumed, -1 when unknown */
    uint64_t lit_left;           /* literal data not yet read */
    int desync;                  /* the stream cannot be resynchronised */
    enum tok_err err;
};

void tok_parser_init(struct tok_parser *tp, struct prot *in,
                     const struct tok_limits *limits /* NULL: defaults */);
void tok_set_literal_cb(struct tok_parser *tp, tok_literal_cb *cb, void *rock);
void tok_parser_fini(struct tok_parser *tp);

enum tok_err tok_error(const struct tok_parser *tp);
const char *tok_errstr(const struct tok_parser *tp);   /* static text */
const char *tok_err_text(enum tok_err err);           /* static text */

/* ---- characters and lines ------------------------------------------------ */

int tok_getc(struct tok_parser *tp);           /* byte, or negative error */
void tok_ungetc(struct tok_parser *tp, int c);
/* c is the character a reader returned: accept "\r\n" or "\n" (the CR, if
 * c is CR, and the LF are consumed).  0, or CYRERR_PARSE (TOK_E_EOL) when
 * anything else is there; a negative c is passed through. */
int tok_eol(struct tok_parser *tp, int c);
/* Discard the rest of the current command line (see the top).  0 when the
 * next command can be read; CYRERR_PROTOCOL_ERROR when the stream cannot be
 * resynchronised (a refused {n+} over maxswallow, an unreadable literal
 * size): the caller should say BYE and close; or a stream error. */
int tok_skip_line(struct tok_parser *tp);
/* Free text up to the end of the line (response text), CRLF consumed and not
 * stored; returns '\n'.  Bounded by limits.maxline. */
int tok_text(struct tok_parser *tp, struct buf *out);

/* ---- atoms, strings, numbers ---------------------------------------------- */

enum tok_charset {
    TOK_CS_ATOM,      /* ATOM-CHAR: command names, keywords */
    TOK_CS_ASTRING,   /* ATOM-CHAR / "]": the atom form of an astring */
    TOK_CS_TAG,       /* ASTRING-CHAR except "+" */
    TOK_CS_LISTMBOX,  /* list-char: ATOM-CHAR / "%" / "*" / "]" */
    TOK_CS_FLAG,      /* optional leading "\" then ATOM-CHAR; "\*" too */
    TOK_CS_FETCHATT,  /* ATOM-CHAR plus "[...]" sections that may hold SP,
                       * parentheses and quoted strings: BODY[HEADER.FIELDS
                       * (A B)]<0.10> */
    TOK_CS_LISTITEM,  /* TOK_CS_FETCHATT plus backslash, "%", "*": atoms of
                       * tok_list()/tok_line() (flags, "*", BODY[...]) */
};

/* A non-empty atom of charset cs.  TOK_E_EMPTY when the first character is
 * not in the set (that character is consumed, as always). */
int tok_atom(struct tok_parser *tp, enum tok_charset cs, struct buf *out);
/* astring = atom / quoted / literal (TOK_CS_ASTRING atoms). */
int tok_astring(struct tok_parser *tp, struct buf *out);
/* list-mailbox = list-char atom / quoted / literal. */
int tok_listmbox(struct tok_parser *tp, struct buf *out);
/* string = quoted / literal. */
int tok_string(struct tok_parser *tp, struct buf *out);
/* nstring = "NIL" (any case, as an atom: *is_nil = 1, out empty) / string.
 * The quoted "NIL" is a string (*is_nil = 0). */
int tok_nstring(struct tok_parser *tp, struct buf *out, int *is_nil);
/* number: 1*DIGIT, no sign, up to max (UINT32_MAX for IMAP4rev1 numbers). */
int tok_number(struct tok_parser *tp, uint64_t max, uint64_t *out);
int tok_uint32(struct tok_parser *tp, uint32_t *out);
int tok_uint64(struct tok_parser *tp, uint64_t *out);

/* Streaming literal: the next token must be a literal; reads its header,
 * checks maxliteral (skip that check with a bigger tp->limits.maxliteral),
 * runs the callback and returns 0 with *size set (and *flags TOK_LIT_*,
 * may be NULL).  Then tok_literal_read() returns up to n bytes (>0), 0 when
 * all data was read, or a negative error; tok_literal_end() discards what
 * is left of the data and returns the character after the literal. */
int tok_literal_begin(struct tok_parser *tp, uint64_t *size, unsigned *flags);
long tok_literal_read(struct tok_parser *tp, void *buf, size_t n);
int tok_literal_end(struct tok_parser *tp);

/* Literal into a struct prot_literal (prot.h): the next token must be a
 * literal; its header is read and checked as for tok_literal_begin(), then
 * the data is read in memory up to mem_max bytes, else spilled to an
 * unlinked file in tmpdir (NULL = $TMPDIR).  Returns the character after
 * the literal with *lit_r set (the caller frees it), or an error with
 * *lit_r NULL.  Unlike in-memory strings, NUL bytes are not checked here
 * (APPEND checks the message itself). */
int tok_literal_spill(struct tok_parser *tp, size_t mem_max, const char *tmpdir,
                      struct prot_literal **lit_r, unsigned *flags);

/* ---- sequence sets ----------------------------------------------------------- */

#define TOK_SEQ_STAR 0           /* "*" in a range bound */
#define TOK_SEQ_DOLLAR 0x01      /* accept "$" (RFC 5182 SEARCHRES) */

struct tok_seqrange {
    uint32_t low, high;          /* as written: low may exceed high; 0 = "*" */
};

struct tok_seqset {
    size_t count, alloc;
    struct tok_seqrange *ranges;
    int is_dollar;               /* the set was "$" (no ranges) */
    int is_resolved;             /* sorted, merged, without "*" */
};

#define TOK_SEQSET_INITIALIZER { 0, 0, NULL, 0, 0 }

/* Read a sequence set (an atom) and parse it into *set (reset first). */
int tok_seqset(struct tok_parser *tp, unsigned flags, struct tok_seqset *set);
/* Parse a NUL-terminated string.  0, CYRERR_PARSE, or CYRERR_LIMIT when it
 * has more than maxranges ranges (0 = no limit). */
int tok_seqset_parse(const char *s, unsigned flags, size_t maxranges,
                     struct tok_seqset *set);
/* Resolve "*" to `star` (the highest number in use), order each range,
 * sort and merge into *out (reset first; may not be `in`). */
void tok_seqset_resolve(const struct tok_seqset *in, uint32_t star,
                        struct tok_seqset *out);
/* Does the set hold num?  `star` is the value of "*"; a resolved set is
 * searched by bisection and ignores star.  "$" holds nothing. */
int tok_seqset_contains(const struct tok_seqset *set, uint32_t num, uint32_t star);
/* Append the set in IMAP syntax ("1:5,7,9:*"). */
void tok_seqset_format(const struct tok_seqset *set, struct buf *out);
void tok_seqset_free(struct tok_seqset *set);

/* ---- parenthesised lists as trees ------------------------------------------ */

enum tok_node_kind { TOK_NODE_ATOM, TOK_NODE_STRING, TOK_NODE_NIL, TOK_NODE_LIST };

struct tok_node {
    enum tok_node_kind kind;
    int is_literal;              /* STRING: came as a literal */
    struct buf val;              /* ATOM, STRING: the bytes */
    size_t count;                /* LIST: number of items */
    struct tok_node **items;     /* LIST: the items */
};

/* The next token must be "(": read the list with everything nested in it.
 * Items are atoms (TOK_CS_LISTITEM), NIL, quoted strings,
 * literals and lists; depth and node count are bounded (TOK_E_DEPTH,
 * TOK_E_ITEMS).  On error *out is NULL. */
int tok_list(struct tok_parser *tp, struct tok_node **out);
/* Read items separated by SP up to the end of the line (CRLF consumed) into
 * one LIST node: a response line such as MUPDATE's
 * `L01 MAILBOX {10+} ...` or `* 3 FETCH (...)`.  Returns '\n'. */
int tok_line(struct tok_parser *tp, struct tok_node **out);
void tok_node_free(struct tok_node **np);
/* Helpers: item i of a LIST or NULL; atom/string text or NULL; is it the
 * atom `s` (case-insensitive)?; a number from an atom (0 or CYRERR_PARSE). */
const struct tok_node *tok_node_item(const struct tok_node *n, size_t i);
const char *tok_node_str(const struct tok_node *n);
int tok_node_is_atom(const struct tok_node *n, const char *s);
int tok_node_number(const struct tok_node *n, uint64_t *out);

/* ---- writing IMAP strings ---------------------------------------------------- */

#define TOK_W_NONSYNC 0x01   /* literals as {n+} (MUPDATE, LITERAL+ peers) */
#define TOK_W_8BIT    0x02   /* 8-bit bytes may go into a quoted string */
#define TOK_W_NOATOM  0x04   /* never as an atom: quoted at least */
#define TOK_W_BINARY  0x08   /* data with NUL as ~{n} (else still {n}) */

enum tok_wform { TOK_WF_ATOM, TOK_WF_QUOTED, TOK_WF_LITERAL };

/* Which form tok_buf_appendstring() would use: an atom when the bytes are
 * a non-empty ATOM-CHAR run (7-bit, at most 1024) other than "NIL"; quoted
 * when they are 7-bit (8-bit with TOK_W_8BIT) text without CR, LF, NUL, at
 * most 1024 bytes; a literal otherwise.  A client that may not send {n+} must check
 * for TOK_WF_LITERAL and wait for the continuation itself. */
enum tok_wform tok_string_form(const void *s, size_t n, unsigned flags);
enum tok_wform tok_buf_appendstring(struct buf *b, const void *s, size_t n,
                                    unsigned flags);
void tok_buf_appendcstring(struct buf *b, const char *s, unsigned flags);
/* nstring: NIL for NULL, else a string (quoted or literal, never an atom). */
void tok_buf_appendnstring(struct buf *b, const char *s, unsigned flags);
/* The same, written to a prot.  Returns prot_write's result. */
int tok_prot_putstring(struct prot *out, const void *s, size_t n, unsigned flags);
int tok_prot_putnstring(struct prot *out, const char *s, unsigned flags);

#endif
