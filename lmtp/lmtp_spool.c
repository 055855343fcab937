/* lmtp_spool: dot-unstuffing, CRLF normalisation and spooling of one LMTP
 * message to an unlinked temporary file.  See lmtp_spool.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "lmtp/lmtp_spool.h"
#include "log.h"
#include "xmalloc.h"

#define SPOOL_WBUF 65536

/* Where we are in the DATA stream. */
enum spool_state {
    S_BOL,    /* at the start of a line */
    S_DOT,    /* after a '.' at the start of a line */
    S_DOT_CR, /* after ".\r" at the start of a line */
    S_MID,    /* inside a line */
    S_CR,     /* after a CR inside a line */
    S_DONE,   /* the final "." line was read */
};

/* Where we are in a header line. */
enum header_state {
    H_START,    /* nothing of this line yet */
    H_NAME,     /* in the field name */
    H_NAME_WSP, /* blanks after the name (obsolete syntax "Name :") */
    H_OK,       /* after the colon, or a continuation line */
    H_BAD,      /* neither */
};

struct lmtp_spool {
    int fd;
    unsigned flags;
    uint64_t max_size;
    enum spool_state state;
    enum header_state hstate;
    int in_header;
    int header_lines; /* header lines seen so far */
    uint64_t line_len;
    int io_error;
    int too_big;
    uint64_t written;     /* bytes given to write(2) so far */
    uint64_t prepended;   /* bytes of lmtp_spool_prepend */
    uint64_t body_offset; /* 0 until known */
    struct lmtp_spool_stats stats;
    char *wbuf;
    size_t wlen;
};

static int open_tmpfile(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return -1;
    /* a file system without O_TMPFILE: create and unlink at once */
    char *path = strconcat(dir, "/lmtpspoolXXXXXX", (char *)NULL);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    free(path);
    return fd;
}

int lmtp_spool_new(const char *tmpdir, uint64_t max_size, unsigned flags,
                   struct lmtp_spool **sp_r)
{
    *sp_r = NULL;
    if (!tmpdir || !*tmpdir) tmpdir = getenv("TMPDIR");
    if (!tmpdir || !*tmpdir) tmpdir = "/tmp";
    int fd = open_tmpfile(tmpdir);
    if (fd < 0) {
        xsyslog(LOG_ERR, "cannot create spool file", "dir=<%s> error=<%s>", tmpdir,
                strerror(errno));
        return CYRERR_IO;
    }
    struct lmtp_spool *sp = xzmalloc(sizeof(*sp));
    sp->fd = fd;
    sp->flags = flags;
    sp->max_size = max_size;
    sp->state = S_BOL;
    sp->hstate = H_START;
    sp->in_header = 1;
    sp->wbuf = xmalloc(SPOOL_WBUF);
    *sp_r = sp;
    return 0;
}

void lmtp_spool_free(struct lmtp_spool **spp)
{
    if (!spp || !*spp) return;
    struct lmtp_spool *sp = *spp;
    if (sp->fd >= 0) close(sp->fd);
    free(sp->wbuf);
    free(sp);
    *spp = NULL;
}

static void flush_wbuf(struct lmtp_spool *sp)
{
    size_t off = 0;
    while (off < sp->wlen && !sp->io_error) {
        ssize_t n = write(sp->fd, sp->wbuf + off, sp->wlen - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            xsyslog(LOG_ERR, "spool write failed", "error=<%s>",
                    n < 0 ? strerror(errno) : "short write");
            sp->io_error = 1;
            break;
        }
        off += (size_t)n;
        sp->written += (uint64_t)n;
    }
    sp->wlen = 0;
}

static inline void put_raw(struct lmtp_spool *sp, char c)
{
    if (sp->io_error) return;
    if (sp->wlen == SPOOL_WBUF) flush_wbuf(sp);
    sp->wbuf[sp->wlen++] = c;
}

void lmtp_spool_prepend(struct lmtp_spool *sp, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_raw(sp, data[i]);
    sp->prepended += n;
}

/* One byte of the message as it goes to the file. */
static inline void emit(struct lmtp_spool *sp, char c)
{
    sp->stats.size++;
    if (sp->too_big) return;
    if (sp->max_size && sp->stats.size > sp->max_size) {
        sp->too_big = 1;
        return;
    }
    put_raw(sp, c);
}

static void header_byte(struct lmtp_spool *sp, unsigned char c)
{
    switch (sp->hstate) {
    case H_START:
        if (c == ' ' || c == '\t')
            sp->hstate = sp->header_lines ? H_OK : H_BAD;
        else if (c > 32 && c < 127 && c != ':')
            sp->hstate = H_NAME;
        else
            sp->hstate = H_BAD;
        break;
    case H_NAME:
        if (c == ':')
            sp->hstate = H_OK;
        else if (c == ' ' || c == '\t')
            sp->hstate = H_NAME_WSP;
        else if (c <= 32 || c >= 127)
            sp->hstate = H_BAD;
        break;
    case H_NAME_WSP:
        if (c == ':')
            sp->hstate = H_OK;
        else if (c != ' ' && c != '\t')
            sp->hstate = H_BAD;
        break;
    case H_OK:
    case H_BAD:
        break;
    }
}

/* A content byte of a line (not its CRLF). */
static void content(struct lmtp_spool *sp, unsigned char c)
{
    if (c == 0) sp->stats.nul++;
    if (sp->in_header) {
        header_byte(sp, c);
        if (c >= 0x80) {
            sp->stats.header_8bit++;
            if (sp->flags & LMTP_SPOOL_MUNGE8BIT) c = 'X';
        }
    } else if (c >= 0x80) {
        sp->stats.body_8bit++;
    }
    sp->line_len++;
    emit(sp, (char)c);
}

static void end_of_line(struct lmtp_spool *sp)
{
    emit(sp, '\r');
    emit(sp, '\n');
    sp->stats.lines++;
    if (sp->line_len > sp->stats.longest_line) sp->stats.longest_line = sp->line_len;
    if (sp->in_header) {
        if (sp->line_len == 0) {
            sp->in_header = 0;
            sp->stats.has_separator = 1;
            sp->body_offset = sp->prepended + sp->stats.size;
        } else {
            if (sp->hstate != H_OK) sp->stats.bad_header_lines++;
            sp->header_lines++;
        }
    }
    sp->line_len = 0;
    sp->hstate = H_START;
}

/* A byte inside a line (state S_MID). */
static void mid_byte(struct lmtp_spool *sp, unsigned char c)
{
    if (c == '\r') {
        sp->state = S_CR;
    } else if (c == '\n') {
        sp->stats.bare_lf++;
        end_of_line(sp);
        sp->state = S_BOL;
    } else {
        content(sp, c);
        sp->state = S_MID;
    }
}

int lmtp_spool_feed(struct lmtp_spool *sp, int ci)
{
    unsigned char c = (unsigned char)ci;
    switch (sp->state) {
    case S_BOL:
        if (c == '.')
            sp->state = S_DOT;
        else
            mid_byte(sp, c);
        break;
    case S_DOT:
        /* a dot opening a line is dropped unless it ends the message */
        if (c == '\r')
            sp->state = S_DOT_CR;
        else if (c == '\n')
            sp->state = S_DONE;
        else {
            content(sp, c);
            sp->state = S_MID;
        }
        break;
    case S_DOT_CR:
        if (c == '\n') {
            sp->state = S_DONE;
        } else {
            sp->stats.bare_cr++;
            content(sp, '\r');
            mid_byte(sp, c);
        }
        break;
    case S_MID:
        mid_byte(sp, c);
        break;
    case S_CR:
        if (c == '\n') {
            end_of_line(sp);
            sp->state = S_BOL;
        } else {
            sp->stats.bare_cr++;
            content(sp, '\r');
            mid_byte(sp, c);
        }
        break;
    case S_DONE:
        break;
    }
    return sp->state == S_DONE ? LMTP_SPOOL_DONE : LMTP_SPOOL_MORE;
}

size_t lmtp_spool_feed_buf(struct lmtp_spool *sp, const void *data, size_t n, int *done)
{
    const unsigned char *p = data;
    *done = sp->state == S_DONE;
    for (size_t i = 0; i < n && !*done; i++) {
        if (lmtp_spool_feed(sp, p[i]) == LMTP_SPOOL_DONE) {
            *done = 1;
            return i + 1;
        }
    }
    return *done ? 0 : n;
}

int lmtp_spool_done(const struct lmtp_spool *sp)
{
    return sp->state == S_DONE;
}

int lmtp_spool_finish(struct lmtp_spool *sp)
{
    flush_wbuf(sp);
    if (sp->io_error) return CYRERR_IO;
    if (sp->too_big) return CYRERR_TOOBIG;
    return 0;
}

int lmtp_spool_fd(const struct lmtp_spool *sp)
{
    return sp->fd;
}

uint64_t lmtp_spool_file_size(const struct lmtp_spool *sp)
{
    return sp->written + sp->wlen;
}

uint64_t lmtp_spool_msg_offset(const struct lmtp_spool *sp)
{
    return sp->prepended;
}

uint64_t lmtp_spool_body_offset(const struct lmtp_spool *sp)
{
    if (sp->in_header) return sp->prepended + sp->stats.size;
    return sp->body_offset;
}

const struct lmtp_spool_stats *lmtp_spool_stats(const struct lmtp_spool *sp)
{
    return &sp->stats;
}

int lmtp_spool_copy(const struct lmtp_spool *sp, uint64_t offset, int fd)
{
    char *buf = xmalloc(SPOOL_WBUF);
    int r = 0;
    uint64_t end = sp->written;
    while (offset < end) {
        size_t want = end - offset < SPOOL_WBUF ? (size_t)(end - offset) : SPOOL_WBUF;
        ssize_t n = pread(sp->fd, buf, want, (off_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            r = CYRERR_IO;
            break;
        }
        offset += (uint64_t)n;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                r = CYRERR_IO;
                break;
            }
            done += w;
        }
        if (r) break;
    }
    free(buf);
    return r;
}
