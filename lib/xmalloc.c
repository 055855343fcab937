/* xmalloc: allocation that never returns NULL.  See xmalloc.h. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xmalloc.h"

static void __attribute__((noreturn)) oom(void)
{
    static const char msg[] = "fatal: out of memory\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    _exit(EX_TEMPFAIL_CODE);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

void *xzmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) oom();
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size) oom();
    return xzmalloc(nmemb * size);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom();
    return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size) oom();
    return xrealloc(p, nmemb * size);
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

char *xstrdupnull(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *xmemdup(const void *p, size_t n)
{
    void *q = xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

char *strconcat(const char *s, ...)
{
    va_list ap;
    size_t len = 0;
    const char *p;

    va_start(ap, s);
    for (p = s; p; p = va_arg(ap, const char *)) len += strlen(p);
    va_end(ap);

    char *out = xmalloc(len + 1), *w = out;
    va_start(ap, s);
    for (p = s; p; p = va_arg(ap, const char *)) {
        size_t n = strlen(p);
        memcpy(w, p, n);
        w += n;
    }
    va_end(ap);
    *w = '\0';
    return out;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) oom();
    char *out = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}
