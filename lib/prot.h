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
 *
 * Details that hold for every function below:
 * - Layers, from the caller down: plaintext buffers -> DEFLATE (RFC 4978,
 *   raw deflate) -> TLS -> the socket.  Compression is always inside TLS.
 * - Timeouts (prot_set_timeout) bound every wait for the peer: a read that
 *   gets no byte for that long fails with CYRERR_TIMEOUT, and so does a write
 *   that the peer does not drain for that long.  A timeout is not sticky: the
 *   next call tries again.  EOF, CYRERR_IO and CYRERR_TLS are sticky.
 * - Signals: writes to sockets use send(MSG_NOSIGNAL), so a closed peer gives
 *   CYRERR_IO, never SIGPIPE (a pipe or file descriptor falls back to
 *   write()).  EINTR is retried.
 * - Reads from the descriptor are bounded by the buffer (PROT_BUFSIZE); a
 *   DEFLATE stream is inflated into that same fixed buffer, so a
 *   decompression bomb costs time, never memory.
 * - A struct prot is used by one thread at a time.
 */
#ifndef LIB_PROT_H
#define LIB_PROT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* OpenSSL's context type, declared as <openssl/ssl.h> does (C11 allows the
 * repeated typedef), so that users of prot need not include OpenSSL. */
typedef struct ssl_ctx_st SSL_CTX;

#define PROT_EOF (-1)
#define PROT_BUFSIZE 32768   /* each direction's plaintext buffer */

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
 * CYRERR_TIMEOUT, CYRERR_IO.
 * Precisely: at most maxlen bytes may precede the LF (a CR counts), so a
 * returned line is at most maxlen + 1 bytes.  After CYRERR_TOOBIG, `line`
 * holds the first maxlen bytes (e.g. to find an IMAP tag for the BAD
 * reply).  After another error it holds the bytes of the unfinished line
 * that did arrive. */
int prot_readline(struct prot *p, struct buf *line, size_t maxlen);
int prot_error(const struct prot *p);        /* why the last read failed */
/* Nonzero when input is buffered in user space (plaintext, undecoded TLS
 * records or TLS plaintext, unread DEFLATE input or output): an IDLE or
 * select loop must read before it polls the fd.  Not an exact byte count;
 * 0 means a poll on prot_fd() tells whether more can be read.  (A partial
 * TLS record counts as pending, so a read may then wait for its rest.) */
int prot_input_pending(const struct prot *p);
void prot_set_timeout(struct prot *p, int seconds);   /* 0 = wait forever */

/* Writing (buffered) */
int prot_write(struct prot *p, const void *data, size_t n);
int prot_puts(struct prot *p, const char *s);
int prot_printf(struct prot *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int prot_vprintf(struct prot *p, const char *fmt, va_list ap);
int prot_flush(struct prot *p);

/* ---- additions to the core API ---------------------------------------- */

/* Byte counters: plaintext bytes received from the peer (after TLS and
 * DEFLATE; counted when they reach the read buffer) and accepted from the
 * caller for sending; and the bytes that crossed the socket. */
uint64_t prot_bytes_in(const struct prot *p);
uint64_t prot_bytes_out(const struct prot *p);
uint64_t prot_wire_bytes_in(const struct prot *p);
uint64_t prot_wire_bytes_out(const struct prot *p);

/* The message of the last failure with more detail than its code (e.g. the
 * OpenSSL reason of a failed handshake), or "" when none.  Borrowed until
 * the next call on p. */
const char *prot_errstr(const struct prot *p);

/* Limit every read(2) from the descriptor to n bytes (0 = no limit).  Tests
 * use 1 to feed a stream byte by byte through every layer. */
void prot_set_maxread(struct prot *p, size_t n);

/* Stream exactly n bytes of input to fd (APPEND/LMTP spooling).  Returns 0,
 * or the read error (CYRERR_EOF, CYRERR_TIMEOUT, ...), or CYRERR_IO when
 * writing to fd failed: then the remaining input is still read and dropped,
 * so the protocol stays in step, before CYRERR_IO is returned. */
int prot_copy_to_fd(struct prot *p, uint64_t n, int fd)
    __attribute__((warn_unused_result));

/* ---- literals (prot_literal.c) ---------------------------------------- */

/* A literal of exactly n bytes read off the stream: in memory up to
 * mem_max bytes, else spilled to an unlinked temporary file in tmpdir
 * (NULL = $TMPDIR or /tmp), so no directory entry is ever left behind.
 * The literal belongs to the caller: prot_literal_free(). */
struct prot_literal;

/* Returns 0 with *lit_r set, or the read error (nothing is returned then),
 * or CYRERR_IO when the temporary file could not be created or written (the
 * literal's bytes are still consumed). */
int prot_read_literal(struct prot *p, uint64_t n, size_t mem_max,
                      const char *tmpdir, struct prot_literal **lit_r)
    __attribute__((warn_unused_result));
uint64_t prot_literal_len(const struct prot_literal *lit);
int prot_literal_in_memory(const struct prot_literal *lit);
/* The whole literal as one read-only mapping (memory, or mmap of the file;
 * NUL-terminated when in memory).  Borrowed until prot_literal_free().
 * NULL only when a file cannot be mapped. */
const char *prot_literal_base(struct prot_literal *lit);
/* Copy up to n bytes from offset off into buf: returns the count (0 at the
 * end) or CYRERR_IO.  A streaming alternative to the mapping. */
ssize_t prot_literal_pread(const struct prot_literal *lit, void *buf,
                           size_t n, uint64_t off);
/* Write the whole literal to fd (at its current offset).  0 or CYRERR_IO. */
int prot_literal_copy_to_fd(const struct prot_literal *lit, int fd)
    __attribute__((warn_unused_result));
/* The spill file's descriptor (owned by the literal), or -1 in memory. */
int prot_literal_fd(const struct prot_literal *lit);
void prot_literal_free(struct prot_literal **litp);

/* ---- TLS --------------------------------------------------------------- */

/* Switch the stream to TLS from the next byte on, as server or client, with
 * a context from tls.h (usable right after prot_new() for implicit TLS).
 * Pending output is flushed in clear first (the "OK Begin TLS" reply).
 * Input already buffered in clear beyond the STARTTLS command (or the
 * server's OK) is discarded, never fed to TLS: it was sent before the
 * handshake and could be an injection (RFC 3501 11.1, RFC 2595 3.1).
 * Returns 0, or CYRERR_TLS (handshake failure; the stream is dead
 * afterwards), CYRERR_EOF, CYRERR_TIMEOUT, CYRERR_IO, or CYRERR_BADARGS when
 * TLS or compression is already on.  *errstr: borrowed as prot_errstr(). */
int prot_starttls(struct prot *p, SSL_CTX *ctx, int server,
                  const char **errstr) __attribute__((warn_unused_result));
/* The same; a client also sends `servername` (SNI, may be NULL) and, when
 * its context verifies the server, checks that the certificate matches it. */
int prot_starttls_ex(struct prot *p, SSL_CTX *ctx, int server,
                     const char *servername, const char **errstr)
    __attribute__((warn_unused_result));
int prot_is_tls(const struct prot *p);

struct prot_tls_info {
    const char *version;      /* "TLSv1.3" */
    const char *cipher;       /* "TLS_AES_256_GCM_SHA384" */
    int cipher_bits;          /* secret bits: the SASL SSF */
    const char *peer_subject; /* RFC 2253 subject of the peer's certificate,
                                 or NULL when it sent none */
    const char *peer_cn;      /* its common name, or NULL */
    int peer_verified;        /* the certificate verified against the CAs */
};
/* Fill *info (strings borrowed until prot_free).  0, or CYRERR_NOTFOUND
 * when TLS is not active. */
int prot_tls_info(const struct prot *p, struct prot_tls_info *info);

/* ---- DEFLATE (RFC 4978) ------------------------------------------------ */

/* Compress both directions from the next byte on (raw deflate, 32K window).
 * Pending output is flushed uncompressed first (the "OK DEFLATE active"
 * reply); input already buffered beyond the command (or the OK) is taken as
 * compressed data, since the peer compresses right after that line.  Each
 * prot_flush() ends with a Z_SYNC_FLUSH, so the peer can decode all of it.
 * Returns 0, or CYRERR_BADARGS when already active, or the pending output's
 * write error. */
int prot_start_deflate(struct prot *p) __attribute__((warn_unused_result));
int prot_is_deflate(const struct prot *p);

#endif
