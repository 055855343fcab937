/* prot: buffered protocol stream with timeouts, TLS and DEFLATE.  See prot.h.
 *
 * Layout of the layers, from the caller down:
 *
 *   read:  in[] <- inflate (zin, zinbuf) <- SSL_read (rbio) <- read(fd)
 *   write: out[] -> deflate (zout, zoutbuf) -> SSL_write (wbio) -> send(fd)
 *
 * TLS runs over a pair of memory BIOs: prot itself moves the ciphertext
 * between the socket and OpenSSL.  That keeps every wait on the socket in one
 * place (wait_fd: poll with the stream's timeout), lets the socket stay in
 * whatever blocking mode its owner chose, and keeps SIGPIPE away (send with
 * MSG_NOSIGNAL).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "error.h"
#include "prot.h"
#include "tls.h"
#include "xmalloc.h"

#define TLSBUF_SIZE 32768               /* ciphertext to and from the socket */
#define TLS_CHUNK 16384                 /* plaintext per SSL_write: one record */
#define ZIN_SIZE (PROT_BUFSIZE + 1)     /* compressed input; holds leftovers */
#define ZOUT_SIZE PROT_BUFSIZE          /* compressed output */
#define ZCHUNK_MAX (1u << 30)           /* zlib counts in uInt */

struct prot {
    int fd;
    int timeout;              /* seconds; 0 = wait forever */
    size_t maxread;           /* per read(2); 0 = no limit */
    int error;                /* last read failure (CYRERR_*), 0 = none */
    int werror;               /* sticky write failure */
    int not_socket;           /* send() said ENOTSOCK: use write() */
    struct buf errmsg;        /* detail of the last failure */

    /* in[in_pos..in_len) is unread input; data is filled from in[1] on, so
     * in[0] always has room for one byte of pushback. */
    unsigned char *in;
    size_t in_pos, in_len;

    unsigned char *out;       /* out[0..out_len) waits to be sent */
    size_t out_len;
    struct buf fmt;           /* prot_vprintf's scratch for long output */

    uint64_t bytes_in, bytes_out, wire_in, wire_out;

    /* TLS, when ssl is set */
    SSL *ssl;
    BIO *rbio, *wbio;         /* owned by ssl */
    unsigned char *tlsbuf;    /* ciphertext staging, TLSBUF_SIZE */
    char *peer_subject;
    char *peer_cn;
    int peer_verified;

    /* DEFLATE, when zin is set (zout is then set too) */
    z_stream *zin, *zout;
    unsigned char *zinbuf, *zoutbuf;
    int z_more;               /* the last inflate filled its output: more may
                                 come out without new input */
    int z_ended;              /* the peer ended its deflate stream */
    int z_dirty;              /* deflate holds input not yet sync-flushed */
};

static void set_errmsg(struct prot *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_errmsg(struct prot *p, const char *fmt, ...)
{
    va_list ap;
    buf_reset(&p->errmsg);
    va_start(ap, fmt);
    buf_vprintf(&p->errmsg, fmt, ap);
    va_end(ap);
}

static int is_sticky(int err)
{
    return err == CYRERR_EOF || err == CYRERR_IO || err == CYRERR_TLS;
}

/* ---- life cycle --------------------------------------------------------- */

struct prot *prot_new(int fd)
{
    struct prot *p = xzmalloc(sizeof(*p));
    p->fd = fd;
    p->in = xmalloc(PROT_BUFSIZE + 1);
    p->in_pos = p->in_len = 1;
    p->out = xmalloc(PROT_BUFSIZE);
    buf_init(&p->errmsg);
    buf_init(&p->fmt);
    return p;
}

static void tls_teardown(struct prot *p)
{
    if (p->ssl) SSL_free(p->ssl);      /* frees both BIOs */
    p->ssl = NULL;
    p->rbio = p->wbio = NULL;
    xfree(p->tlsbuf);
    xfree(p->peer_subject);
    xfree(p->peer_cn);
    p->peer_verified = 0;
}

static void deflate_teardown(struct prot *p)
{
    if (p->zin) {
        inflateEnd(p->zin);
        xfree(p->zin);
    }
    if (p->zout) {
        deflateEnd(p->zout);
        xfree(p->zout);
    }
    xfree(p->zinbuf);
    xfree(p->zoutbuf);
}

static int tls_flush_wbio(struct prot *p);

void prot_free(struct prot **pp)
{
    if (!pp || !*pp) return;
    struct prot *p = *pp;
    (void)prot_flush(p);
    if (p->ssl && !p->werror && p->error != CYRERR_TLS &&
        SSL_is_init_finished(p->ssl)) {
        /* Send our close_notify (never after a fatal TLS error); do not
         * wait for the peer's. */
        ERR_clear_error();
        (void)SSL_shutdown(p->ssl);
        (void)tls_flush_wbio(p);
        ERR_clear_error();
    }
    tls_teardown(p);
    deflate_teardown(p);
    free(p->in);
    free(p->out);
    buf_free(&p->errmsg);
    buf_free(&p->fmt);
    free(p);
    *pp = NULL;
}

int prot_fd(const struct prot *p) { return p->fd; }
void prot_set_timeout(struct prot *p, int seconds) { p->timeout = seconds > 0 ? seconds : 0; }
void prot_set_maxread(struct prot *p, size_t n) { p->maxread = n; }
int prot_error(const struct prot *p) { return p->error; }
const char *prot_errstr(const struct prot *p) { return buf_cstring(&p->errmsg); }
uint64_t prot_bytes_in(const struct prot *p) { return p->bytes_in; }
uint64_t prot_bytes_out(const struct prot *p) { return p->bytes_out; }
uint64_t prot_wire_bytes_in(const struct prot *p) { return p->wire_in; }
uint64_t prot_wire_bytes_out(const struct prot *p) { return p->wire_out; }
int prot_is_tls(const struct prot *p) { return p->ssl != NULL; }
int prot_is_deflate(const struct prot *p) { return p->zin != NULL; }

/* ---- the socket ---------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the fd is ready for `events`, at most the stream's timeout.
 * 0 when ready (or when poll reports an error condition, which the next
 * read or send will then name), else CYRERR_TIMEOUT or CYRERR_IO. */
static int wait_fd(struct prot *p, short events)
{
    long long deadline = p->timeout ? now_ms() + (long long)p->timeout * 1000 : 0;
    for (;;) {
        int ms = -1;
        if (deadline) {
            long long left = deadline - now_ms();
            ms = left > 0 ? (int)(left > INT_MAX ? INT_MAX : left) : 0;
        }
        struct pollfd pfd = { .fd = p->fd, .events = events };
        int r = poll(&pfd, 1, ms);
        if (r > 0) return 0;
        if (r == 0) {
            set_errmsg(p, "no %s for %d seconds",
                       events == POLLIN ? "input" : "progress writing",
                       p->timeout);
            return CYRERR_TIMEOUT;
        }
        if (errno != EINTR) {
            set_errmsg(p, "poll: %s", strerror(errno));
            return CYRERR_IO;
        }
    }
}

/* >0 bytes, 0 at EOF, or CYRERR_TIMEOUT / CYRERR_IO. */
static ssize_t raw_read(struct prot *p, void *buf, size_t n)
{
    if (p->maxread && n > p->maxread) n = p->maxread;
    for (;;) {
        int r = wait_fd(p, POLLIN);
        if (r) return r;
        ssize_t got = read(p->fd, buf, n);
        if (got > 0) {
            p->wire_in += (uint64_t)got;
            return got;
        }
        if (got == 0) return 0;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        if (errno == ECONNRESET) {
            set_errmsg(p, "connection reset by peer");
            return 0;
        }
        set_errmsg(p, "read: %s", strerror(errno));
        return CYRERR_IO;
    }
}

/* Write all n bytes or fail with CYRERR_IO / CYRERR_TIMEOUT. */
static int raw_write(struct prot *p, const void *data, size_t n)
{
    const char *s = data;
    while (n) {
        ssize_t w;
        if (!p->not_socket) {
            w = send(p->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno == ENOTSOCK) {
                p->not_socket = 1;
                continue;
            }
        } else {
            w = write(p->fd, s, n);
        }
        if (w > 0) {
            s += w;
            n -= (size_t)w;
            p->wire_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(p, POLLOUT);
            if (r) return r;
            continue;
        }
        set_errmsg(p, "write: %s", w < 0 ? strerror(errno) : "no progress");
        return CYRERR_IO;
    }
    return 0;
}

/* ---- TLS record layer ---------------------------------------------------- */

/* Describe the current OpenSSL failure in errmsg. */
static void tls_set_error(struct prot *p, const char *what)
{
    long vr = p->ssl ? SSL_get_verify_result(p->ssl) : X509_V_OK;
    buf_setcstr(&p->errmsg, tls_error_text(what));
    if (vr != X509_V_OK)
        buf_printf(&p->errmsg, " (certificate: %s)",
                   X509_verify_cert_error_string(vr));
}

/* Send whatever OpenSSL queued in the write BIO. */
static int tls_flush_wbio(struct prot *p)
{
    for (;;) {
        int n = BIO_read(p->wbio, p->tlsbuf, TLSBUF_SIZE);
        if (n <= 0) return 0;
        int r = raw_write(p, p->tlsbuf, (size_t)n);
        if (r) return r;
    }
}

/* Feed the read BIO from the socket: >0, 0 at EOF, or an error. */
static ssize_t tls_feed(struct prot *p)
{
    ssize_t got = raw_read(p, p->tlsbuf, TLSBUF_SIZE);
    if (got > 0 && BIO_write(p->rbio, p->tlsbuf, (int)got) != (int)got) {
        set_errmsg(p, "TLS: cannot buffer input");
        return CYRERR_TLS;
    }
    return got;
}

static ssize_t tls_read(struct prot *p, void *buf, size_t n)
{
    if (n > INT_MAX) n = INT_MAX;
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(p->ssl, buf, (int)n);
        int err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ &&
            err != SSL_ERROR_ZERO_RETURN)
            tls_set_error(p, "TLS read failed");
        /* Reading can queue output too (alerts, key updates, tickets). */
        int wr = tls_flush_wbio(p);
        if (wr && !p->werror) p->werror = wr;
        if (r > 0) return r;
        switch (err) {
        case SSL_ERROR_WANT_READ: {
            ssize_t got = tls_feed(p);
            if (got <= 0) return got;
            continue;
        }
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        default:
            return CYRERR_TLS;
        }
    }
}

static int tls_write(struct prot *p, const void *data, size_t n)
{
    const char *s = data;
    while (n) {
        int chunk = n > TLS_CHUNK ? TLS_CHUNK : (int)n;
        ERR_clear_error();
        int w = SSL_write(p->ssl, s, chunk);
        if (w <= 0) {
            int err = SSL_get_error(p->ssl, w);
            if (err == SSL_ERROR_WANT_WRITE) {
                int r = tls_flush_wbio(p);
                if (r) return r;
                continue;
            }
            tls_set_error(p, "TLS write failed");
            (void)tls_flush_wbio(p);
            return CYRERR_TLS;
        }
        s += w;
        n -= (size_t)w;
        int r = tls_flush_wbio(p);
        if (r) return r;
    }
    return 0;
}

static ssize_t lower_read(struct prot *p, void *buf, size_t n)
{
    return p->ssl ? tls_read(p, buf, n) : raw_read(p, buf, n);
}

static int lower_write(struct prot *p, const void *data, size_t n)
{
    return p->ssl ? tls_write(p, data, n) : raw_write(p, data, n);
}

/* ---- DEFLATE layer ------------------------------------------------------- */

/* Inflate into dst: >0 bytes, 0 at EOF, or an error. */
static ssize_t inflate_fill(struct prot *p, unsigned char *dst, size_t room)
{
    z_stream *z = p->zin;
    if (p->z_ended) return 0;
    for (;;) {
        if (z->avail_in == 0 && !p->z_more) {
            ssize_t got = lower_read(p, p->zinbuf, ZIN_SIZE);
            if (got <= 0) return got;
            z->next_in = p->zinbuf;
            z->avail_in = (uInt)got;
        }
        z->next_out = dst;
        z->avail_out = (uInt)room;
        int zr = inflate(z, Z_SYNC_FLUSH);
        size_t made = room - z->avail_out;
        p->z_more = z->avail_out == 0;
        if (zr == Z_STREAM_END) {
            p->z_ended = 1;
            p->z_more = 0;
            return (ssize_t)made;
        }
        if (zr == Z_BUF_ERROR) {       /* no progress: needs input */
            p->z_more = 0;
            if (made) return (ssize_t)made;
            continue;
        }
        if (zr != Z_OK) {
            set_errmsg(p, "DEFLATE input: %s", z->msg ? z->msg : "corrupt data");
            return CYRERR_IO;
        }
        if (made) return (ssize_t)made;
    }
}

/* Compress data and pass the output down; `flush` is Z_NO_FLUSH or
 * Z_SYNC_FLUSH. */
static int deflate_write(struct prot *p, const void *data, size_t n, int flush)
{
    z_stream *z = p->zout;
    const unsigned char *s = data;
    do {
        size_t chunk = n > ZCHUNK_MAX ? ZCHUNK_MAX : n;
        int mode = chunk == n ? flush : Z_NO_FLUSH;
        z->next_in = (Bytef *)s;
        z->avail_in = (uInt)chunk;
        do {
            z->next_out = p->zoutbuf;
            z->avail_out = ZOUT_SIZE;
            if (deflate(z, mode) == Z_STREAM_ERROR) {
                set_errmsg(p, "DEFLATE output: stream error");
                return CYRERR_INTERNAL;
            }
            size_t have = ZOUT_SIZE - z->avail_out;
            if (have) {
                int r = lower_write(p, p->zoutbuf, have);
                if (r) return r;
            }
        } while (z->avail_out == 0);
        s += chunk;
        n -= chunk;
    } while (n);
    p->z_dirty = flush == Z_NO_FLUSH;
    return 0;
}

int prot_start_deflate(struct prot *p)
{
    if (p->zin) {
        set_errmsg(p, "compression is already active");
        return CYRERR_BADARGS;
    }
    int r = prot_flush(p);
    if (r) return r;
    p->zin = xzmalloc(sizeof(z_stream));
    p->zout = xzmalloc(sizeof(z_stream));
    if (inflateInit2(p->zin, -MAX_WBITS) != Z_OK) {
        xfree(p->zin);
        xfree(p->zout);
        set_errmsg(p, "cannot start DEFLATE input");
        return CYRERR_INTERNAL;
    }
    if (deflateInit2(p->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS,
                     8, Z_DEFAULT_STRATEGY) != Z_OK) {
        inflateEnd(p->zin);
        xfree(p->zin);
        xfree(p->zout);
        set_errmsg(p, "cannot start DEFLATE output");
        return CYRERR_INTERNAL;
    }
    p->zinbuf = xmalloc(ZIN_SIZE);
    p->zoutbuf = xmalloc(ZOUT_SIZE);
    p->z_more = p->z_ended = p->z_dirty = 0;
    /* What is buffered beyond the COMPRESS line (or the OK) is the first
     * compressed input. */
    size_t left = p->in_len - p->in_pos;
    if (left) {
        memcpy(p->zinbuf, p->in + p->in_pos, left);
        p->bytes_in -= left;
    }
    p->zin->next_in = p->zinbuf;
    p->zin->avail_in = (uInt)left;
    p->in_pos = p->in_len = 1;
    return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* Refill the empty input buffer: >0 bytes, 0 at EOF, or an error; sets
 * p->error on failure. */
static ssize_t fill(struct prot *p)
{
    if (is_sticky(p->error)) return p->error == CYRERR_EOF ? 0 : p->error;
    ssize_t got = p->zin ? inflate_fill(p, p->in + 1, PROT_BUFSIZE)
                         : lower_read(p, p->in + 1, PROT_BUFSIZE);
    if (got > 0) {
        p->in_pos = 1;
        p->in_len = 1 + (size_t)got;
        p->bytes_in += (uint64_t)got;
        if (p->error == CYRERR_TIMEOUT) p->error = 0;
        return got;
    }
    p->error = got == 0 ? CYRERR_EOF : (int)got;
    if (got == 0 && !buf_len(&p->errmsg)) set_errmsg(p, "connection closed");
    return got;
}

int prot_getc(struct prot *p)
{
    if (p->in_pos < p->in_len) return p->in[p->in_pos++];
    if (fill(p) <= 0) return PROT_EOF;
    return p->in[p->in_pos++];
}

void prot_ungetc(struct prot *p, int c)
{
    if (c == PROT_EOF) return;
    if (p->in_pos == 0) {
        /* a second pushback right after a fill: make room if there is some */
        if (p->in_len > PROT_BUFSIZE) return;
        memmove(p->in + 1, p->in, p->in_len);
        p->in_pos = 1;
        p->in_len++;
    }
    p->in[--p->in_pos] = (unsigned char)c;
}

ssize_t prot_read(struct prot *p, void *buf, size_t n)
{
    if (n == 0) return 0;
    if (p->in_pos == p->in_len) {
        ssize_t r = fill(p);
        if (r <= 0) return r;
    }
    size_t avail = p->in_len - p->in_pos;
    if (avail > n) avail = n;
    memcpy(buf, p->in + p->in_pos, avail);
    p->in_pos += avail;
    return (ssize_t)avail;
}

int prot_readline(struct prot *p, struct buf *line, size_t maxlen)
{
    int toobig = 0;
    buf_reset(line);
    for (;;) {
        if (p->in_pos == p->in_len) {
            ssize_t r = fill(p);
            if (r <= 0) return r == 0 ? CYRERR_EOF : (int)r;
        }
        const unsigned char *s = p->in + p->in_pos;
        size_t n = p->in_len - p->in_pos;
        const unsigned char *lf = memchr(s, '\n', n);
        size_t take = lf ? (size_t)(lf - s) + 1 : n;
        if (!toobig) {
            size_t body = lf ? take - 1 : take;    /* bytes before the LF */
            size_t room = maxlen - buf_len(line);
            if (body > room) {
                buf_appendmap(line, s, room);
                toobig = 1;
            } else {
                buf_appendmap(line, s, take);
            }
        }
        p->in_pos += take;
        if (lf) {
            if (!toobig) return 0;
            p->error = CYRERR_TOOBIG;
            set_errmsg(p, "line longer than %zu bytes", maxlen);
            return CYRERR_TOOBIG;
        }
    }
}

int prot_input_pending(const struct prot *p)
{
    size_t n = p->in_len - p->in_pos;
    if (p->zin && (p->zin->avail_in || p->z_more)) n += p->zin->avail_in + 1;
    if (p->ssl) {
        n += (size_t)SSL_pending(p->ssl);
        n += BIO_ctrl_pending(p->rbio);
    }
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- writing ------------------------------------------------------------- */

/* Pass data below the plaintext buffer (compressing when on). */
static int down_write(struct prot *p, const void *data, size_t n, int flush)
{
    int r;
    if (p->zout) {
        if (!n && !(flush == Z_SYNC_FLUSH && p->z_dirty)) return 0;
        r = deflate_write(p, data, n, flush);
    } else {
        r = n ? lower_write(p, data, n) : 0;
    }
    if (r) p->werror = r;
    return r;
}

static int out_drain(struct prot *p, int flush)
{
    size_t n = p->out_len;
    p->out_len = 0;
    return down_write(p, p->out, n, flush);
}

int prot_write(struct prot *p, const void *data, size_t n)
{
    if (p->werror) return p->werror;
    p->bytes_out += n;
    size_t space = PROT_BUFSIZE - p->out_len;
    if (n < space) {
        memcpy(p->out + p->out_len, data, n);
        p->out_len += n;
        return 0;
    }
    const char *s = data;
    if (p->out_len && n < PROT_BUFSIZE) {
        /* top the buffer up, send it, keep the rest */
        memcpy(p->out + p->out_len, s, space);
        p->out_len = PROT_BUFSIZE;
        int r = out_drain(p, Z_NO_FLUSH);
        if (r) return r;
        memcpy(p->out, s + space, n - space);
        p->out_len = n - space;
        return 0;
    }
    /* large: send what is buffered, then the data itself */
    int r = out_drain(p, Z_NO_FLUSH);
    if (r) return r;
    return down_write(p, s, n, Z_NO_FLUSH);
}

int prot_puts(struct prot *p, const char *s)
{
    return prot_write(p, s, strlen(s));
}

int prot_vprintf(struct prot *p, const char *fmt, va_list ap)
{
    if (p->werror) return p->werror;
    size_t space = PROT_BUFSIZE - p->out_len;
    if (space > 1) {
        /* try formatting straight into the output buffer */
        va_list ap2;
        va_copy(ap2, ap);
        int len = vsnprintf((char *)p->out + p->out_len, space, fmt, ap2);
        va_end(ap2);
        if (len < 0) return CYRERR_INTERNAL;
        if ((size_t)len < space) {
            p->out_len += (size_t)len;
            p->bytes_out += (uint64_t)len;
            return 0;
        }
    }
    buf_reset(&p->fmt);
    buf_vprintf(&p->fmt, fmt, ap);
    int r = prot_write(p, buf_base(&p->fmt), buf_len(&p->fmt));
    if (p->fmt.alloc > 4 * PROT_BUFSIZE) buf_free(&p->fmt);
    return r;
}

int prot_printf(struct prot *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = prot_vprintf(p, fmt, ap);
    va_end(ap);
    return r;
}

int prot_flush(struct prot *p)
{
    if (p->werror) return p->werror;
    return out_drain(p, Z_SYNC_FLUSH);
}

/* ---- STARTTLS ------------------------------------------------------------ */

static int tls_handshake(struct prot *p)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(p->ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
        if (r != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            tls_set_error(p, "TLS handshake failed");
        /* send our flight (or our alert) */
        int wr = tls_flush_wbio(p);
        if (wr) return wr;
        if (r == 1) return 0;
        if (err == SSL_ERROR_WANT_WRITE) continue;
        if (err != SSL_ERROR_WANT_READ) return CYRERR_TLS;
        ssize_t got = tls_feed(p);
        if (got == 0) {
            set_errmsg(p, "connection closed during the TLS handshake");
            return CYRERR_EOF;
        }
        if (got < 0) return (int)got;
    }
}

static int is_ip_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void tls_record_peer(struct prot *p)
{
    X509 *peer = SSL_get1_peer_certificate(p->ssl);
    if (!peer) return;
    X509_NAME *name = X509_get_subject_name(peer);
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem && X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(mem, &data);
        p->peer_subject = xstrndup(data, len > 0 ? (size_t)len : 0);
    }
    BIO_free(mem);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    X509_NAME_ENTRY *e = i >= 0 ? X509_NAME_get_entry(name, i) : NULL;
    unsigned char *utf8 = NULL;
    int len = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
    if (len >= 0 && strlen((char *)utf8) == (size_t)len)   /* no NUL inside */
        p->peer_cn = xstrdup((char *)utf8);
    OPENSSL_free(utf8);
    p->peer_verified = SSL_get_verify_result(p->ssl) == X509_V_OK;
    X509_free(peer);
    ERR_clear_error();
}

int prot_starttls_ex(struct prot *p, SSL_CTX *ctx, int server,
                     const char *servername, const char **errstr)
{
    static const char *ignored;
    if (!errstr) errstr = &ignored;
    if (p->ssl || p->zin) {
        set_errmsg(p, "%s is already active", p->ssl ? "TLS" : "compression");
        *errstr = buf_cstring(&p->errmsg);
        return CYRERR_BADARGS;
    }
    int r = p->werror ? p->werror : prot_flush(p);
    if (!r && is_sticky(p->error)) r = p->error;
    if (r) {
        *errstr = buf_len(&p->errmsg) ? buf_cstring(&p->errmsg)
                                      : error_message(r);
        return r;
    }
    /* Cleartext that arrived after the command was sent before the
     * handshake: an injection attempt or a broken peer.  Drop it. */
    p->in_pos = p->in_len = 1;

    ERR_clear_error();
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!ssl || !rbio || !wbio) {
        buf_setcstr(&p->errmsg, tls_error_text("cannot start TLS"));
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        *errstr = buf_cstring(&p->errmsg);
        return CYRERR_TLS;
    }
    BIO_set_mem_eof_return(rbio, -1);   /* empty = "retry", not EOF */
    SSL_set_bio(ssl, rbio, wbio);
    p->ssl = ssl;
    p->rbio = rbio;
    p->wbio = wbio;
    p->tlsbuf = xmalloc(TLSBUF_SIZE);
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (servername && *servername) {
            int ip = is_ip_literal(servername);
            if (!ip) SSL_set_tlsext_host_name(ssl, servername);
            if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
                X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
                if (ip) X509_VERIFY_PARAM_set1_ip_asc(vp, servername);
                else SSL_set1_host(ssl, servername);
            }
        }
    }
    buf_reset(&p->errmsg);
    r = tls_handshake(p);
    if (r) {
        tls_teardown(p);
        /* the stream is in an unknown state: nothing more goes over it */
        p->error = is_sticky(r) ? r : CYRERR_TLS;
        p->werror = r;
        *errstr = buf_len(&p->errmsg) ? buf_cstring(&p->errmsg)
                                      : error_message(r);
        return r;
    }
    tls_record_peer(p);
    *errstr = "";
    return 0;
}

int prot_starttls(struct prot *p, SSL_CTX *ctx, int server, const char **errstr)
{
    return prot_starttls_ex(p, ctx, server, NULL, errstr);
}

int prot_tls_info(const struct prot *p, struct prot_tls_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!p->ssl) return CYRERR_NOTFOUND;
    info->version = SSL_get_version(p->ssl);
    info->cipher = SSL_get_cipher_name(p->ssl);
    info->cipher_bits = SSL_get_cipher_bits(p->ssl, NULL);
    info->peer_subject = p->peer_subject;
    info->peer_cn = p->peer_cn;
    info->peer_verified = p->peer_verified;
    return 0;
}
