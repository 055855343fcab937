/* buf: growable byte buffer.  See buf.h. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xmalloc.h"

void buf_init(struct buf *b)
{
    b->s = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_free(struct buf *b)
{
    free(b->s);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->s) b->s[0] = '\0';
}

void buf_ensure(struct buf *b, size_t more)
{
    size_t need = b->len + more + 1; /* +1 for the terminator */
    if (need < b->len) need = (size_t)-1; /* overflow: xrealloc will fail */
    if (need <= b->alloc) return;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need) {
        if (n > ((size_t)-1) / 2) { n = need; break; }
        n *= 2;
    }
    int fresh = b->s == NULL;
    b->s = xrealloc(b->s, n);
    b->alloc = n;
    if (fresh) b->s[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len > b->len) {
        buf_ensure(b, len - b->len);
        memset(b->s + b->len, 0, len - b->len);
    }
    b->len = len;
    if (b->s) b->s[len] = '\0';
}

void buf_appendmap(struct buf *b, const void *p, size_t n)
{
    buf_ensure(b, n);
    if (n) memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void buf_appendcstr(struct buf *b, const char *s)
{
    buf_appendmap(b, s, strlen(s));
}

void buf_appendbuf(struct buf *b, const struct buf *other)
{
    buf_appendmap(b, buf_base(other), other->len);
}

void buf_putc(struct buf *b, char c)
{
    buf_ensure(b, 1);
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

void buf_append_u64(struct buf *b, unsigned long long v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_appendmap(b, tmp + n, sizeof(tmp) - n);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0) { buf_ensure(b, 0); b->s[b->len] = '\0'; return; }
    buf_ensure(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_setcstr(struct buf *b, const char *s)
{
    buf_reset(b);
    buf_appendcstr(b, s);
}

void buf_setmap(struct buf *b, const void *p, size_t n)
{
    buf_reset(b);
    buf_appendmap(b, p, n);
}

void buf_insertmap(struct buf *b, size_t off, const void *p, size_t n)
{
    if (off > b->len) off = b->len;
    buf_ensure(b, n);
    memmove(b->s + off + n, b->s + off, b->len - off);
    if (n) memcpy(b->s + off, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void buf_remove(struct buf *b, size_t off, size_t n)
{
    if (off >= b->len) return;
    if (n > b->len - off) n = b->len - off;
    memmove(b->s + off, b->s + off + n, b->len - off - n);
    b->len -= n;
    b->s[b->len] = '\0';
}

const char *buf_cstring(const struct buf *b)
{
    return b->s ? b->s : "";
}

char *buf_release(struct buf *b)
{
    char *s = b->s ? b->s : xstrdup("");
    buf_init(b);
    return s;
}

int buf_cmp(const struct buf *a, const struct buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->s, b->s, n) : 0;
    if (r) return r;
    return (a->len > b->len) - (a->len < b->len);
}

int buf_equalcstr(const struct buf *b, const char *s)
{
    size_t n = strlen(s);
    return n == b->len && (n == 0 || memcmp(b->s, s, n) == 0);
}

void buf_trim(struct buf *b)
{
    while (b->len && (b->s[b->len - 1] == '\r' || b->s[b->len - 1] == '\n' ||
                      b->s[b->len - 1] == ' ' || b->s[b->len - 1] == '\t'))
        b->len--;
    if (b->s) b->s[b->len] = '\0';
}

void buf_tolower(struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        b->s[i] = (char)tolower((unsigned char)b->s[i]);
}

void buf_toupper(struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        b->s[i] = (char)toupper((unsigned char)b->s[i]);
}
