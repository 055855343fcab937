/* strarray: a growable array of owned C strings.
 *
 * The array owns every string in it (they are copied in, or handed over with
 * the _take variants) and frees them in strarray_free().  strarray_nth()
 * returns a borrowed pointer.  `data` is always NULL-terminated once anything
 * was added, so it can be passed to execv().
 */
#ifndef LIB_STRARRAY_H
#define LIB_STRARRAY_H

#include <stddef.h>

struct strarray {
    int count;
    int alloc;
    char **data;
};

#define STRARRAY_INITIALIZER { 0, 0, NULL }

void strarray_init(struct strarray *sa);
void strarray_free(struct strarray *sa);
void strarray_truncate(struct strarray *sa, int newlen);

int strarray_append(struct strarray *sa, const char *s);      /* returns index */
int strarray_appendm(struct strarray *sa, char *s);           /* takes s */
int strarray_add(struct strarray *sa, const char *s);         /* append if absent */
void strarray_insert(struct strarray *sa, int idx, const char *s);
void strarray_set(struct strarray *sa, int idx, const char *s);
char *strarray_remove(struct strarray *sa, int idx);           /* caller frees */
const char *strarray_nth(const struct strarray *sa, int idx);  /* NULL if out of range */
int strarray_find(const struct strarray *sa, const char *s, int start);
int strarray_find_case(const struct strarray *sa, const char *s, int start);
void strarray_sort(struct strarray *sa, int (*cmp)(const char *, const char *));
void strarray_uniq(struct strarray *sa);  /* drop adjacent duplicates */

/* Split `s` on any character in `sep`; with `trim`, skip empty fields and
 * strip spaces/tabs around each. */
void strarray_split(struct strarray *sa, const char *s, const char *sep, int trim);
/* Join with `sep`; the caller frees the result. */
char *strarray_join(const struct strarray *sa, const char *sep);

#endif
