/* mailbox_qbatch: staged append batches -- their description files, the
 * names of cyrus.queue/ and its recovery.  See mailbox_qbatch.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
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

/* ---- queue names ------------------------------------------------------------ */

/* Split "<hex>.<pid>.<n>" off the front of `s`: length of the id and its
 * pid (and counter, when counterp is not NULL), or 0. */
size_t qbatch_parse_id(const char *s, pid_t *pidp, uint32_t *counterp)
{
    const char *p = s;
    size_t hex = 0;
    while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) p++, hex++;
    if (hex != 16 || *p != '.') return 0;
    p++;
    long pid = 0;
    const char *q = p;
    while (*p >= '0' && *p <= '9' && pid < 100000000) pid = pid * 10 + (*p++ - '0');
    if (p == q || *p != '.') return 0;
    p++;
    q = p;
    uint64_t counter = 0;
    while (*p >= '0' && *p <= '9' && counter <= UINT32_MAX)
        counter = counter * 10 + (uint64_t)(*p++ - '0');
    if (p == q || counter > UINT32_MAX) return 0;
    *pidp = (pid_t)pid;
    if (counterp) *counterp = (uint32_t)counter;
    return (size_t)(p - s);
}

void qbatch_stage_name(char *out, size_t len, const char *id, size_t j)
{
    snprintf(out, len, "s.%s.%zu", id, j);
}

/* Remove every file of batch `id` (q, t and its stage files). */
void qbatch_discard(int qfd, const char *id, size_t n)
{
    char name[128];
    snprintf(name, sizeof(name), "q.%s", id);
    unlinkat(qfd, name, 0);
    snprintf(name, sizeof(name), "t.%s", id);
    unlinkat(qfd, name, 0);
    snprintf(name, sizeof(name), "t.%s.0", id);
    unlinkat(qfd, name, 0);
    for (size_t j = 0; j < n; j++) {
        qbatch_stage_name(name, sizeof(name), id, j);
        unlinkat(qfd, name, 0);
    }
}

/* ---- recovery of the queue ----------------------------------------------------------------- */

/* Remove what dead appenders left: unpublished stage and batch files,
 * refusal notes, receipts of committed batches, and published batches
 * nobody waits for.  Uncommitted claims are mailbox_queue_recover()'s. */
void qbatch_sweep(int qfd, const struct strarray *names, uint32_t uidnext)
{
    for (int i = 0; i < names->count; i++) {
        const char *f = strarray_nth(names, i);
        pid_t pid;
        size_t idlen;
        if (f[0] == '\0' || f[1] != '.' || !(idlen = qbatch_parse_id(f + 2, &pid, NULL)))
            continue;
        if (mailbox_pid_alive(pid)) continue;
        if (f[0] == 'd') {
            unlinkat(qfd, f, 0);
        } else if (f[0] == 'c') {
            char *end;
            unsigned long first = f[2 + idlen] == '.' ? strtoul(f + 3 + idlen, &end, 10) : 0;
            if (first && !*end && first < uidnext) unlinkat(qfd, f, 0);
        } else if (f[0] == 'q') {
            if (!f[2 + idlen]) {
                char *id = xstrndup(f + 2, idlen);
                qbatch_discard(qfd, id, qbatch_count(qfd, f));
                free(id);
            }
        } else if (f[0] == 's' || f[0] == 't' || f[0] == 'e' || f[0] == 'm') {
            unlinkat(qfd, f, 0);
        }
    }
}

/* Put back (or drop) batch `id`, claimed as c.<id>.<first> but never
 * committed. */
static void unclaim(struct mailbox *mb, int qfd, const char *cname, const char *id,
                    pid_t pid, uint32_t first)
{
    size_t n = qbatch_count(qfd, cname);
    int alive = mailbox_pid_alive(pid);
    char sname[128], mname[32];
    for (size_t j = 0; j < n; j++) {
        mailbox_msgname(first + (uint32_t)j, mname, sizeof(mname));
        qbatch_stage_name(sname, sizeof(sname), id, j);
        if (alive) {
            if (mailbox_io_renameat(mb->dirfd, mname, qfd, sname, 1) < 0 && errno != ENOENT)
                unlinkat(mb->dirfd, mname, 0);
        } else {
            unlinkat(mb->dirfd, mname, 0);
        }
    }
    if (alive) {
        char qname[128];
        snprintf(qname, sizeof(qname), "q.%s", id);
        if (mailbox_io_renameat(qfd, cname, qfd, qname, 1) == 0) return;
    }
    unlinkat(qfd, cname, 0);
    qbatch_discard(qfd, id, n);
}

int mailbox_queue_recover(struct mailbox *mb, uint32_t *claimed_end)
{
    *claimed_end = 0;
    int qfd = openat(mb->dirfd, MBX_QUEUE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qfd < 0) return errno == ENOENT ? 0 : mailbox_ioerr(mb, "open", MBX_QUEUE_DIR);
    int dfd = dup(qfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        close(qfd);
        return mailbox_ioerr(mb, "opendir", MBX_QUEUE_DIR);
    }
    struct strarray names;
    strarray_init(&names);
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') strarray_append(&names, de->d_name);
    closedir(d);

    /* claims first: they may move message files back into the queue */
    for (int i = 0; i < names.count; i++) {
        const char *f = strarray_nth(&names, i);
        pid_t pid;
        size_t idlen;
        if (f[0] != 'c' || f[1] != '.' || !(idlen = qbatch_parse_id(f + 2, &pid, NULL)) || f[2 + idlen] != '.')
            continue;
        char *end;
        unsigned long first = strtoul(f + 3 + idlen, &end, 10);
        if (*end || first == 0 || first > UINT32_MAX) continue;
        char *id = xstrndup(f + 2, idlen);
        if (first < mb->hdr.uidnext) {
            if (!mailbox_pid_alive(pid)) unlinkat(qfd, f, 0);   /* nobody reads the receipt */
        } else {
            xsyslog(LOG_NOTICE, "mailbox recovery: batch put back",
                    "mailbox=<%s> batch=<%s>", mb->meta.name, id);
            uint64_t stop = first + qbatch_count(qfd, f);
            if (stop > *claimed_end) *claimed_end = stop > UINT32_MAX ? UINT32_MAX : (uint32_t)stop;
            unclaim(mb, qfd, f, id, pid, (uint32_t)first);
        }
        free(id);
    }
    qbatch_sweep(qfd, &names, mb->hdr.uidnext);
    strarray_free(&names);
    close(qfd);
    return 0;
}
