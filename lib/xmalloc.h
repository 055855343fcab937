/* xmalloc: allocation that never returns NULL.
 *
 * Every allocation in the project goes through these helpers.  Running out of
 * memory is fatal: the process logs "out of memory" and exits with EX_TEMPFAIL
 * (75), so callers never check for NULL.  Returned memory belongs to the
 * caller and is released with free().
 */
#ifndef LIB_XMALLOC_H
#define LIB_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xzmalloc(size_t n);                 /* zero-filled */
void *xcalloc(size_t nmemb, size_t size); /* overflow-checked, zero-filled */
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrdupnull(const char *s);         /* NULL stays NULL */
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* printf into a freshly allocated string */
char *strconcat(const char *s, ...) __attribute__((sentinel));
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free *p and set it to NULL. */
#define xfree(p) do { free(p); (p) = NULL; } while (0)

/* Exit code used when the environment is broken (sysexits EX_TEMPFAIL). */
#define EX_TEMPFAIL_CODE 75

#endif
