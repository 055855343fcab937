/* prot: the protocol stream every daemon and client speaks through.
 *
 * One struct prot wraps one connected socket in both directions and hides
 * buffering, read timeouts, TLS and DEFLATE compression.  Reads are bounded:
 * lines by a caller-given maximum, literals by an exact byte count.
 *
 * Errors: reading functions return PROT_EOF (-1) or a negative CYRERR_* and
 * remember the reason, which prot_error() reports (CYRERR_EOF, CYRERR_TIMEOUT,
 * CYRERR_IO, CYRERR_TLS, CYRERR_TOOBIG).  Writes are buffered; a failed write
 * is remembered and reported by prot_flush() and later writes.
 *
 * Ownership: prot_new() does not take the descriptor; prot_free() flushes,
 * ends TLS politely, frees the stream and sets the caller's pointer to NULL,
 * but the caller closes the fd.
 *
 * (The lead fixed this core API so that tok.c and prot.c could be written in
 * parallel.  prot.c may add functions but must keep these.)
 */
#ifndef LIB_PROT_H
#define LIB_PROT_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define PROT_EOF (-1)

struct prot;

struct prot *prot_new(int fd);
void prot_free(struct prot **pp);
int prot_fd(const struct prot *p);

/* Reading */
int prot_getc(struct prot *p);               /* 0..255, or PROT_EOF */
void prot_ungetc(struct prot *p, int c);     /* one byte of pushback is always possible */
ssize_t prot_read(struct prot *p, void *buf, size_t n); /* >=1 byte, 0 at EOF, <0 error */
/* Read one line up to and including LF into `line` (reset first), keeping the
 * CRLF.  Returns 0, or CYRERR_TOOBIG when more than maxlen bytes come without
 * a LF (the rest of that line is consumed and dropped), CYRERR_EOF,
 * CYRERR_TIMEOUT, CYRERR_IO. */
int prot_readline(struct prot *p, struct buf *line, size_t maxlen);
int prot_error(const struct prot *p);        /* why the last read failed */
int prot_input_pending(const struct prot *p);/* bytes buffered (incl. inside TLS/zlib) */
void prot_set_timeout(struct prot *p, int seconds);   /* 0 = wait forever */

/* Writing (buffered) */
int prot_write(struct prot *p, const void *data, size_t n);
int prot_puts(struct prot *p, const char *s);
int prot_printf(struct prot *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int prot_vprintf(struct prot *p, const char *fmt, va_list ap);
int prot_flush(struct prot *p);

#endif
