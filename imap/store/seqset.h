/* seqset: a set of UIDs kept as sorted, disjoint ranges.
 *
 * The store's compact UID set: the seen state of a mailbox ("1:5,7,9:12"),
 * and whatever else needs a set of message numbers that is mostly runs.
 * Ranges are kept sorted, never overlapping and never adjacent (1:3 and 4:6
 * become 1:6), so the text form is canonical and membership is a bisection.
 * Members are 1 .. UINT32_MAX; 0 is never a member.
 *
 * Unlike tok.h's tok_seqset (a client's sequence set as written, with "*"
 * and "$"), a seqset holds only resolved numbers and changes in place.
 *
 * Ownership: a seqset owns its range array; seqset_free() releases it and
 * leaves an empty set that may be reused.  Errors: seqset_parse() returns
 * CYRERR_PARSE for bad text and CYRERR_LIMIT for too many ranges; the other
 * functions cannot fail (allocation never does).
 */
#ifndef IMAP_STORE_SEQSET_H
#define IMAP_STORE_SEQSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct seqset_range {
    uint32_t low, high;          /* low <= high */
};

struct seqset {
    size_t count, alloc;
    struct seqset_range *ranges;
};

#define SEQSET_INITIALIZER { 0, 0, NULL }

void seqset_init(struct seqset *s);
void seqset_free(struct seqset *s);
void seqset_clear(struct seqset *s);                /* empty, keep memory */
void seqset_copy(struct seqset *dst, const struct seqset *src);

/* Add or remove one number or a range (low > high is taken in order;
 * 0 is ignored: a range 0:n is 1:n). */
void seqset_add(struct seqset *s, uint32_t num);
void seqset_add_range(struct seqset *s, uint32_t low, uint32_t high);
void seqset_remove(struct seqset *s, uint32_t num);
void seqset_remove_range(struct seqset *s, uint32_t low, uint32_t high);
/* dst |= src, dst -= src */
void seqset_union(struct seqset *dst, const struct seqset *src);
void seqset_subtract(struct seqset *dst, const struct seqset *src);

int seqset_contains(const struct seqset *s, uint32_t num);
int seqset_is_empty(const struct seqset *s);
int seqset_equal(const struct seqset *a, const struct seqset *b);
/* How many numbers the set holds. */
uint64_t seqset_cardinality(const struct seqset *s);
/* Smallest and largest member; 0 for an empty set. */
uint32_t seqset_first(const struct seqset *s);
uint32_t seqset_last(const struct seqset *s);
/* Smallest member greater than `num`, or 0 when none. */
uint32_t seqset_next(const struct seqset *s, uint32_t num);

/* Parse "1:5,7,9:12" (the empty string is the empty set).  Ranges may come
 * in any order, overlap, and be written high:low; numbers are plain decimal
 * digits.  0, "*", signs, spaces, empty items and values past UINT32_MAX
 * are refused.  `maxranges` bounds
 * the number of comma-separated items (0 = no bound).  The set is replaced;
 * on error it is left empty. */
int seqset_parse(const char *text, size_t len, size_t maxranges, struct seqset *s)
    __attribute__((warn_unused_result));
/* Append the canonical text ("" for the empty set). */
void seqset_format(const struct seqset *s, struct buf *out);

#endif
