/* mailbox_qbatch: encoding of staged append batches.  See mailbox_qbatch.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_qbatch.h"

void qbatch_free(struct qbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        strarray_free(&b->msgs[i].keywords);
        buf_free(&b->msgs[i].cache);
    }
    free(b->msgs);
    free(b->id);
    free(b->mname);
    memset(b, 0, sizeof(*b));
}

static void put_u16(struct buf *b, uint16_t v)
{
    unsigned char p[2] = { (unsigned char)(v >> 8), (unsigned char)v };
    buf_appendmap(b, p, 2);
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char p[4];
    mailbox_put32(p, v);
    buf_appendmap(b, p, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
    unsigned char p[8];
    mailbox_put64(p, v);
    buf_appendmap(b, p, 8);
}

void qbatch_encode(const struct qbatch *b, struct buf *out)
{
    buf_reset(out);
    buf_appendmap(out, Q_MAGIC, 8);
    put_u32(out, b->flags);
    put_u32(out, (uint32_t)b->n);
    for (size_t i = 0; i < b->n; i++) {
        const struct qmsg *m = &b->msgs[i];
        put_u64(out, (uint64_t)m->internaldate);
        put_u32(out, m->system_flags);
        put_u32(out, m->size);
        put_u32(out, m->header_size);
        buf_appendmap(out, m->guid, MAILBOX_GUID_LEN);
        put_u32(out, (uint32_t)m->keywords.count);
        for (int k = 0; k < m->keywords.count; k++) {
            const char *kw = strarray_nth(&m->keywords, k);
            put_u16(out, (uint16_t)strlen(kw));
            buf_appendcstr(out, kw);
        }
        put_u32(out, (uint32_t)buf_len(&m->cache));
        buf_appendbuf(out, &m->cache);
    }
    put_u32(out, mailbox_checksum(buf_base(out), buf_len(out)));
}

struct reader {
    const unsigned char *p;
    size_t len, pos;
    int bad;
};

static const unsigned char *take(struct reader *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint32_t take32(struct reader *r)
{
    const unsigned char *p = take(r, 4);
    return p ? mailbox_get32(p) : 0;
}

int qbatch_decode(const unsigned char *data, size_t len, struct qbatch *b)
{
    if (len < 8 + 8 + 4 || memcmp(data, Q_MAGIC, 8) != 0) return CYRERR_CORRUPT;
    if (mailbox_get32(data + len - 4) != mailbox_checksum(data, len - 4)) return CYRERR_CORRUPT;
    struct reader r = { data, len - 4, 8, 0 };
    b->flags = take32(&r);
    uint32_t n = take32(&r);
    if (r.bad || n == 0 || n > MAILBOX_APPEND_MAX) return CYRERR_CORRUPT;
    b->msgs = xcalloc(n, sizeof(*b->msgs));
    b->n = n;
    for (size_t i = 0; i < n; i++) strarray_init(&b->msgs[i].keywords);
    for (size_t i = 0; i < n && !r.bad; i++) {
        struct qmsg *m = &b->msgs[i];
        const unsigned char *p = take(&r, 8);
        m->internaldate = p ? (int64_t)mailbox_get64(p) : 0;
        m->system_flags = take32(&r);
        m->size = take32(&r);
        m->header_size = take32(&r);
        p = take(&r, MAILBOX_GUID_LEN);
        if (p) memcpy(m->guid, p, MAILBOX_GUID_LEN);
        uint32_t nk = take32(&r);
        if (nk > MAILBOX_MAX_KEYWORDS) r.bad = 1;
        for (uint32_t k = 0; k < nk && !r.bad; k++) {
            const unsigned char *lp = take(&r, 2);
            size_t kl = lp ? (size_t)(lp[0] << 8 | lp[1]) : 0;
            const unsigned char *kp = take(&r, kl);
            if (!kp) break;
            char *kw = xstrndup((const char *)kp, kl);
            if (!mailbox_keyword_valid(kw)) r.bad = 1;
            strarray_appendm(&m->keywords, kw);
        }
        uint32_t cl = take32(&r);
        p = take(&r, cl);
        if (p) buf_setmap(&m->cache, p, cl);
        if ((m->system_flags & ~MAILBOX_FLAGS_SETTABLE) || m->header_size > m->size) r.bad = 1;
        b->bytes += m->size;
    }
    if (r.bad || r.pos != r.len) return CYRERR_CORRUPT;
    return 0;
}

int qbatch_load(int qfd, const char *fname, struct qbatch *b)
{
    int fd = openat(qfd, fname, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? CYRERR_NOTFOUND : CYRERR_IO;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size > Q_MAXFILE) {
        close(fd);
        return CYRERR_CORRUPT;
    }
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return CYRERR_IO;
    int r = qbatch_decode(p, len, b);
    munmap(p, len);
    return r;
}

/* Number of messages of the batch described by file `fname`, or 0. */
size_t qbatch_count(int qfd, const char *fname)
{
    unsigned char hdr[16];
    int fd = openat(qfd, fname, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
    close(fd);
    if (n != (ssize_t)sizeof(hdr) || memcmp(hdr, Q_MAGIC, 8) != 0) return 0;
    uint32_t c = mailbox_get32(hdr + 12);
    return c <= MAILBOX_APPEND_MAX ? c : 0;
}
