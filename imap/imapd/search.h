/* search: the SEARCH criteria of imapd as a tree, and their evaluation
 * (internal to imapd's SEARCH: cmd_search.c parses, search_eval.c
 * evaluates).
 *
 * A tree is built by cmd_search.c from the client's search keys: AND of
 * the top-level keys and of parenthesised groups, OR and NOT nodes, and
 * leaves.  Before evaluation, search_prepare() orders the children of
 * AND/OR nodes by cost -- criteria answered from the session's view
 * (flags, UIDs, sequence numbers) first, then from the index record
 * (dates, sizes), then from the cache record (decoded From/To/Cc/Bcc/
 * Subject, the Date header), then from the message file (other header
 * fields, bodies) -- so that expensive criteria run only for the messages
 * that survive the cheap ones.
 *
 * search_run() evaluates the tree for every message of the view (the
 * messages expunged but not yet reported excepted) and returns the
 * matching sequence numbers in ascending order.  Records and cache records
 * are read in batches under a shared lock.  Text criteria use the search
 * form of imap/store/charset.h: bodies are transfer-decoded and converted
 * to UTF-8 only when the raw-bytes fast path cannot decide.
 *
 * Ownership: the tree owns everything below it (search_node_free).
 * Errors: 0 or a negative CYRERR_* from the store.
 */
#ifndef IMAP_IMAPD_SEARCH_H
#define IMAP_IMAPD_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tok.h"
#include "imap/imapd/imapd.h"
#include "imap/store/charset.h"
#include "imap/store/msgcache.h"

enum search_op {
    SEARCH_ALL = 0,
    SEARCH_AND,
    SEARCH_OR,
    SEARCH_NOT,
    SEARCH_SEQSET,           /* set: sequence numbers */
    SEARCH_UIDSET,           /* set: UIDs */
    SEARCH_FLAG,             /* flag set (want 1) or not (want 0) */
    SEARCH_KEYWORD,          /* name, want */
    SEARCH_RECENT,           /* want */
    SEARCH_MODSEQ,           /* num: MODSEQ >= num */
    SEARCH_BEFORE,           /* INTERNALDATE, by day */
    SEARCH_ON,
    SEARCH_SINCE,
    SEARCH_LARGER,           /* num */
    SEARCH_SMALLER,
    SEARCH_SENTBEFORE,       /* Date header, by day */
    SEARCH_SENTON,
    SEARCH_SENTSINCE,
    SEARCH_FIELD,            /* field: a decoded header of the cache */
    SEARCH_HEADER,           /* name: any header field, from the file */
    SEARCH_BODY,
    SEARCH_TEXT
};

/* cost classes (what a criterion reads) */
#define SEARCH_COST_VIEW   0
#define SEARCH_COST_RECORD 1
#define SEARCH_COST_CACHE  2
#define SEARCH_COST_FILE   3

struct search_node {
    enum search_op op;
    int want;                       /* FLAG, KEYWORD, RECENT */
    uint32_t flag;                  /* FLAG: MAILBOX_FLAG_* */
    char *name;                     /* KEYWORD, HEADER */
    int32_t kwbit;                  /* KEYWORD: bit, or -1 when unknown */
    enum msgcache_field field;      /* FIELD */
    struct charset_search *needle;  /* FIELD, HEADER, BODY, TEXT */
    time_t day;                     /* date criteria: 00:00 UTC */
    uint64_t num;                   /* LARGER, SMALLER, MODSEQ */
    struct tok_seqset set;          /* SEQSET, UIDSET (as written) */
    struct tok_seqset resolved;     /* ... resolved by search_prepare */
    int cost;                       /* SEARCH_COST_*, by search_prepare */
    struct search_node **kids;      /* AND, OR (2), NOT (1) */
    size_t nkids, akids;
};

struct search_node *search_node_new(enum search_op op);
void search_node_add(struct search_node *parent, struct search_node *kid);
void search_node_free(struct search_node **np);

/* Resolve sets against the view, order children by cost.  Call once per
 * evaluation, before search_run. */
void search_prepare(struct imapd_session *s, struct search_node *root);

/* Matching sequence numbers (ascending) into *out; the highest MODSEQ
 * among them into *maxmodseq (may be NULL). */
int search_run(struct imapd_session *s, struct search_node *root,
               struct imapd_msglist *out, uint64_t *maxmodseq)
    __attribute__((warn_unused_result));

#endif
