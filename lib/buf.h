/* buf: the one growable byte buffer of the project.
 *
 * A struct buf holds bytes that may include NULs; buf_cstring() returns them
 * NUL-terminated (the terminator is always kept in spare space, so the call
 * never allocates).  A buf is initialised with BUF_INITIALIZER or
 * buf_init(); buf_free() releases its memory and leaves an empty buffer that
 * may be reused.  Pointers returned by buf_base()/buf_cstring() are borrowed
 * and become invalid at the next call that changes the buffer.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *s;       /* NULL until the first byte is added */
    size_t len;    /* bytes in use, not counting the terminator */
    size_t alloc;  /* bytes allocated */
};

#define BUF_INITIALIZER { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                    /* len = 0, keep memory */
void buf_ensure(struct buf *b, size_t more);      /* room for `more` bytes */
void buf_truncate(struct buf *b, size_t len);     /* shrink (or zero-extend) */

void buf_appendmap(struct buf *b, const void *p, size_t n);
void buf_appendcstr(struct buf *b, const char *s);
void buf_appendbuf(struct buf *b, const struct buf *other);
void buf_putc(struct buf *b, char c);
/* The decimal digits of v (a fast path for protocol output). */
void buf_append_u64(struct buf *b, unsigned long long v);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_setcstr(struct buf *b, const char *s);
void buf_setmap(struct buf *b, const void *p, size_t n);
void buf_insertmap(struct buf *b, size_t off, const void *p, size_t n);
void buf_remove(struct buf *b, size_t off, size_t n);

static inline size_t buf_len(const struct buf *b) { return b->len; }
static inline const char *buf_base(const struct buf *b) { return b->s ? b->s : ""; }
const char *buf_cstring(const struct buf *b);

/* Hand the NUL-terminated contents to the caller (who frees them) and
 * leave the buffer empty. */
char *buf_release(struct buf *b);

int buf_cmp(const struct buf *a, const struct buf *b);
int buf_equalcstr(const struct buf *b, const char *s);

void buf_trim(struct buf *b);     /* strip trailing CR/LF, spaces and tabs */
void buf_tolower(struct buf *b);
void buf_toupper(struct buf *b);

#endif
