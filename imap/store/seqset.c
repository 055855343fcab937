/* seqset: sorted disjoint UID ranges.  See seqset.h. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "xmalloc.h"
#include "imap/store/seqset.h"

void seqset_init(struct seqset *s)
{
    memset(s, 0, sizeof(*s));
}

void seqset_free(struct seqset *s)
{
    free(s->ranges);
    memset(s, 0, sizeof(*s));
}

void seqset_clear(struct seqset *s)
{
    s->count = 0;
}

void seqset_copy(struct seqset *dst, const struct seqset *src)
{
    if (dst == src) return;
    dst->count = 0;
    if (src->count > dst->alloc) {
        dst->ranges = xreallocarray(dst->ranges, src->count, sizeof(*dst->ranges));
        dst->alloc = src->count;
    }
    if (src->count) memcpy(dst->ranges, src->ranges, src->count * sizeof(*src->ranges));
    dst->count = src->count;
}

/* Index of the first range whose high is >= num (count when none). */
static size_t first_high_ge(const struct seqset *s, uint64_t num)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ranges[mid].high < num) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Index of the first range whose low is > num (count when none). */
static size_t first_low_gt(const struct seqset *s, uint64_t num)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ranges[mid].low <= num) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Replace ranges [i, j) by the n ranges in `with`. */
static void splice(struct seqset *s, size_t i, size_t j,
                   const struct seqset_range *with, size_t n)
{
    size_t newcount = s->count - (j - i) + n;
    if (newcount > s->alloc) {
        size_t na = s->alloc ? s->alloc * 2 : 8;
        if (na < newcount) na = newcount;
        s->ranges = xreallocarray(s->ranges, na, sizeof(*s->ranges));
        s->alloc = na;
    }
    if (j != i + n)
        memmove(s->ranges + i + n, s->ranges + j, (s->count - j) * sizeof(*s->ranges));
    if (n) memcpy(s->ranges + i, with, n * sizeof(*with));
    s->count = newcount;
}

static void order(uint32_t *low, uint32_t *high)
{
    if (*low > *high) {
        uint32_t t = *low;
        *low = *high;
        *high = t;
    }
    if (*low == 0) *low = 1;
}

void seqset_add_range(struct seqset *s, uint32_t low, uint32_t high)
{
    order(&low, &high);
    if (high == 0) return;
    /* ranges that overlap or touch [low, high] */
    size_t i = first_high_ge(s, (uint64_t)low - 1);
    size_t j = first_low_gt(s, (uint64_t)high + 1);
    struct seqset_range r = { low, high };
    if (i < j) {
        if (s->ranges[i].low < r.low) r.low = s->ranges[i].low;
        if (s->ranges[j - 1].high > r.high) r.high = s->ranges[j - 1].high;
    }
    splice(s, i, j, &r, 1);
}

void seqset_add(struct seqset *s, uint32_t num)
{
    seqset_add_range(s, num, num);
}

void seqset_remove_range(struct seqset *s, uint32_t low, uint32_t high)
{
    order(&low, &high);
    if (high == 0) return;
    size_t i = first_high_ge(s, low);
    size_t j = first_low_gt(s, high);
    if (i >= j) return;
    struct seqset_range keep[2];
    size_t n = 0;
    if (s->ranges[i].low < low) keep[n++] = (struct seqset_range){ s->ranges[i].low, low - 1 };
    if (s->ranges[j - 1].high > high)
        keep[n++] = (struct seqset_range){ high + 1, s->ranges[j - 1].high };
    splice(s, i, j, keep, n);
}

void seqset_remove(struct seqset *s, uint32_t num)
{
    seqset_remove_range(s, num, num);
}

void seqset_union(struct seqset *dst, const struct seqset *src)
{
    if (dst == src) return;
    for (size_t k = 0; k < src->count; k++)
        seqset_add_range(dst, src->ranges[k].low, src->ranges[k].high);
}

void seqset_subtract(struct seqset *dst, const struct seqset *src)
{
    if (dst == src) {
        seqset_clear(dst);
        return;
    }
    for (size_t k = 0; k < src->count && dst->count; k++)
        seqset_remove_range(dst, src->ranges[k].low, src->ranges[k].high);
}

int seqset_contains(const struct seqset *s, uint32_t num)
{
    if (!num) return 0;
    size_t i = first_high_ge(s, num);
    return i < s->count && s->ranges[i].low <= num;
}

int seqset_is_empty(const struct seqset *s)
{
    return s->count == 0;
}

int seqset_equal(const struct seqset *a, const struct seqset *b)
{
    if (a->count != b->count) return 0;
    return !a->count || !memcmp(a->ranges, b->ranges, a->count * sizeof(*a->ranges));
}

uint64_t seqset_cardinality(const struct seqset *s)
{
    uint64_t n = 0;
    for (size_t k = 0; k < s->count; k++)
        n += (uint64_t)s->ranges[k].high - s->ranges[k].low + 1;
    return n;
}

uint32_t seqset_first(const struct seqset *s)
{
    return s->count ? s->ranges[0].low : 0;
}

uint32_t seqset_last(const struct seqset *s)
{
    return s->count ? s->ranges[s->count - 1].high : 0;
}

uint32_t seqset_next(const struct seqset *s, uint32_t num)
{
    if (num == UINT32_MAX) return 0;
    size_t i = first_high_ge(s, (uint64_t)num + 1);
    if (i >= s->count) return 0;
    return s->ranges[i].low > num ? s->ranges[i].low : num + 1;
}

/* A number at *p (digits only, 1..UINT32_MAX); advances *p. */
static int parse_num(const char **p, const char *end, uint32_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (q >= end || *q < '0' || *q > '9') return CYRERR_PARSE;
    while (q < end && *q >= '0' && *q <= '9') {
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > UINT32_MAX) return CYRERR_PARSE;
        q++;
    }
    if (!v) return CYRERR_PARSE;
    *p = q;
    *out = (uint32_t)v;
    return 0;
}

int seqset_parse(const char *text, size_t len, size_t maxranges, struct seqset *s)
{
    const char *p = text, *end = text + len;
    size_t items = 0;
    seqset_clear(s);
    if (!len) return 0;
    for (;;) {
        uint32_t low, high;
        int r = parse_num(&p, end, &low);
        if (r) goto fail;
        high = low;
        if (p < end && *p == ':') {
            p++;
            if ((r = parse_num(&p, end, &high))) goto fail;
        }
        if (maxranges && ++items > maxranges) {
            seqset_clear(s);
            return CYRERR_LIMIT;
        }
        /* text we wrote is sorted: append without a search when it fits */
        if (low <= high && (!s->count || low > (uint64_t)s->ranges[s->count - 1].high + 1)) {
            struct seqset_range rg = { low, high };
            splice(s, s->count, s->count, &rg, 1);
        } else {
            seqset_add_range(s, low, high);
        }
        if (p == end) return 0;
        if (*p != ',') goto fail;
        p++;
    }
fail:
    seqset_clear(s);
    return CYRERR_PARSE;
}

void seqset_format(const struct seqset *s, struct buf *out)
{
    for (size_t k = 0; k < s->count; k++) {
        if (k) buf_putc(out, ',');
        if (s->ranges[k].low == s->ranges[k].high)
            buf_printf(out, "%u", s->ranges[k].low);
        else
            buf_printf(out, "%u:%u", s->ranges[k].low, s->ranges[k].high);
    }
}
