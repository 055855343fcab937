/* strarray: growable array of owned strings.  See strarray.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "strarray.h"
#include "xmalloc.h"

void strarray_init(struct strarray *sa)
{
    sa->count = 0;
    sa->alloc = 0;
    sa->data = NULL;
}

void strarray_free(struct strarray *sa)
{
    for (int i = 0; i < sa->count; i++) free(sa->data[i]);
    free(sa->data);
    strarray_init(sa);
}

void strarray_truncate(struct strarray *sa, int newlen)
{
    if (newlen < 0) newlen = 0;
    for (int i = newlen; i < sa->count; i++) xfree(sa->data[i]);
    if (newlen < sa->count) sa->count = newlen;
}

static void grow(struct strarray *sa, int need)
{
    if (need + 1 <= sa->alloc) return;
    int n = sa->alloc ? sa->alloc : 8;
    while (n < need + 1) n *= 2;
    sa->data = xreallocarray(sa->data, (size_t)n, sizeof(char *));
    for (int i = sa->alloc; i < n; i++) sa->data[i] = NULL;
    sa->alloc = n;
}

int strarray_appendm(struct strarray *sa, char *s)
{
    grow(sa, sa->count + 1);
    sa->data[sa->count] = s;
    sa->data[++sa->count] = NULL;
    return sa->count - 1;
}

int strarray_append(struct strarray *sa, const char *s)
{
    return strarray_appendm(sa, xstrdup(s));
}

int strarray_add(struct strarray *sa, const char *s)
{
    int i = strarray_find(sa, s, 0);
    return i >= 0 ? i : strarray_append(sa, s);
}

void strarray_insert(struct strarray *sa, int idx, const char *s)
{
    if (idx < 0) idx = 0;
    if (idx >= sa->count) { strarray_append(sa, s); return; }
    grow(sa, sa->count + 1);
    memmove(sa->data + idx + 1, sa->data + idx,
            sizeof(char *) * (size_t)(sa->count - idx));
    sa->data[idx] = xstrdup(s);
    sa->data[++sa->count] = NULL;
}

void strarray_set(struct strarray *sa, int idx, const char *s)
{
    if (idx < 0) return;
    while (sa->count <= idx) strarray_append(sa, "");
    free(sa->data[idx]);
    sa->data[idx] = xstrdup(s);
}

char *strarray_remove(struct strarray *sa, int idx)
{
    if (idx < 0 || idx >= sa->count) return NULL;
    char *s = sa->data[idx];
    memmove(sa->data + idx, sa->data + idx + 1,
            sizeof(char *) * (size_t)(sa->count - idx - 1));
    sa->data[--sa->count] = NULL;
    return s;
}

const char *strarray_nth(const struct strarray *sa, int idx)
{
    if (idx < 0 || idx >= sa->count) return NULL;
    return sa->data[idx];
}

int strarray_find(const struct strarray *sa, const char *s, int start)
{
    for (int i = start < 0 ? 0 : start; i < sa->count; i++)
        if (!strcmp(sa->data[i], s)) return i;
    return -1;
}

int strarray_find_case(const struct strarray *sa, const char *s, int start)
{
    for (int i = start < 0 ? 0 : start; i < sa->count; i++)
        if (!strcasecmp(sa->data[i], s)) return i;
    return -1;
}

static int sort_tramp(const void *a, const void *b, void *rock)
{
    int (*cmp)(const char *, const char *) = *(int (**)(const char *, const char *))rock;
    return cmp(*(char *const *)a, *(char *const *)b);
}

void strarray_sort(struct strarray *sa, int (*cmp)(const char *, const char *))
{
    if (sa->count < 2) return;
    int (*c)(const char *, const char *) = cmp ? cmp : strcmp;
    qsort_r(sa->data, (size_t)sa->count, sizeof(char *), sort_tramp, &c);
}

void strarray_uniq(struct strarray *sa)
{
    for (int i = 1; i < sa->count;) {
        if (!strcmp(sa->data[i - 1], sa->data[i])) free(strarray_remove(sa, i));
        else i++;
    }
}

void strarray_split(struct strarray *sa, const char *s, const char *sep, int trim)
{
    if (!s) return;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, sep);
        const char *start = p, *end = p + n;
        if (trim) {
            while (start < end && (*start == ' ' || *start == '\t')) start++;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        }
        if (!trim || end > start)
            strarray_appendm(sa, xstrndup(start, (size_t)(end - start)));
        if (!p[n]) break;
        p += n + 1;
    }
}

char *strarray_join(const struct strarray *sa, const char *sep)
{
    struct buf b = BUF_INITIALIZER;
    for (int i = 0; i < sa->count; i++) {
        if (i) buf_appendcstr(&b, sep);
        buf_appendcstr(&b, sa->data[i]);
    }
    return buf_release(&b);
}
