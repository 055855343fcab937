/* mailbox_format: encoding of the index header, index records, cache header
 * and cyrus.header, and the small helpers every mailbox file uses.  The
 * layouts are documented in mailbox_int.h. */
#include "config.h"

#include <endian.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"

static const char idx_magic[8] = { 'C', 'Y', 'R', 'I', 'D', 'X', '0', '1' };
static const char cache_magic[8] = { 'C', 'Y', 'R', 'C', 'C', 'H', '0', '1' };
#define META_MAGIC "CYRHDR01"
#define META_MAX   (1024 * 1024)

/* ---- integers and checksums ---------------------------------------------- */

static inline uint64_t le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

/* A fast 32-bit checksum (multiply-xor over 64-bit words; the same value
 * on every architecture).  Detects torn and damaged records; not a MAC. */
uint32_t mailbox_checksum(const void *p, size_t n)
{
    const unsigned char *b = p;
    const uint64_t k = 0xff51afd7ed558ccdULL;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)n * k);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h = (h ^ le64(b + i)) * k;
        h ^= h >> 29;
    }
    uint64_t t = 0;
    for (int s = 0; i < n; i++, s += 8) t |= (uint64_t)b[i] << s;
    h = (h ^ t) * k;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- index header ----------------------------------------------------------- */

void mailbox_hdr_encode(const struct mbx_header *h, unsigned char *out)
{
    memset(out, 0, MBX_SLOT_SIZE);
    memcpy(out, idx_magic, 8);
    out[8] = 0;
    out[9] = MBX_VERSION;
    out[10] = MBX_RECORD_SIZE >> 8;
    out[11] = MBX_RECORD_SIZE & 0xff;
    mailbox_put32(out + 12, h->generation);
    mailbox_put64(out + 16, h->seq);
    mailbox_put32(out + 24, h->uidvalidity);
    mailbox_put32(out + 28, h->uidnext);
    mailbox_put32(out + 32, h->num_records);
    mailbox_put32(out + 36, h->exists);
    mailbox_put32(out + 40, h->expunged);
    mailbox_put32(out + 44, h->unlinked);
    mailbox_put32(out + 48, h->answered);
    mailbox_put32(out + 52, h->flagged);
    mailbox_put32(out + 56, h->deleted);
    mailbox_put32(out + 60, h->seen);
    mailbox_put32(out + 64, h->draft);
    mailbox_put32(out + 68, h->num_keywords);
    mailbox_put64(out + 72, h->highestmodseq);
    mailbox_put64(out + 80, h->quota_used);
    mailbox_put64(out + 88, h->cache_size);
    mailbox_put64(out + 96, h->cache_id);
    mailbox_put32(out + 104, h->flags);
    mailbox_put32(out + 108, h->changes_epoch);
    mailbox_put32(out + 112, h->changes_len);
    mailbox_put64(out + 116, h->bootid);
    mailbox_put32(out + 124, mailbox_checksum(out, 124));
}

int mailbox_hdr_decode(const unsigned char *in, struct mbx_header *h)
{
    if (memcmp(in, idx_magic, 8) != 0) return CYRERR_CORRUPT;
    if (mailbox_get32(in + 124) != mailbox_checksum(in, 124)) return CYRERR_CORRUPT;
    if (in[8] != 0 || in[9] != MBX_VERSION) return CYRERR_CORRUPT;
    if ((in[10] << 8 | in[11]) != MBX_RECORD_SIZE) return CYRERR_CORRUPT;
    h->generation = mailbox_get32(in + 12);
    h->seq = mailbox_get64(in + 16);
    h->uidvalidity = mailbox_get32(in + 24);
    h->uidnext = mailbox_get32(in + 28);
    h->num_records = mailbox_get32(in + 32);
    h->exists = mailbox_get32(in + 36);
    h->expunged = mailbox_get32(in + 40);
    h->unlinked = mailbox_get32(in + 44);
    h->answered = mailbox_get32(in + 48);
    h->flagged = mailbox_get32(in + 52);
    h->deleted = mailbox_get32(in + 56);
    h->seen = mailbox_get32(in + 60);
    h->draft = mailbox_get32(in + 64);
    h->num_keywords = mailbox_get32(in + 68);
    h->highestmodseq = mailbox_get64(in + 72);
    h->quota_used = mailbox_get64(in + 80);
    h->cache_size = mailbox_get64(in + 88);
    h->cache_id = mailbox_get64(in + 96);
    h->flags = mailbox_get32(in + 104);
    h->changes_epoch = mailbox_get32(in + 108);
    h->changes_len = mailbox_get32(in + 112);
    h->bootid = mailbox_get64(in + 116);
    if (h->uidnext == 0 || h->num_records > h->uidnext - 1 ||
        h->num_keywords > MAILBOX_MAX_KEYWORDS || h->cache_size < MBX_CACHE_HDR_SIZE ||
        h->changes_len > MBX_CHANGES_MAX)
        return CYRERR_CORRUPT;
    return 0;
}

int mailbox_hdr_pick(const unsigned char *base, int avoid,
                     struct mbx_header *h, int *slotp)
{
    struct mbx_header s[2];
    int ok[2];
    for (int i = 0; i < 2; i++)
        ok[i] = i != avoid && mailbox_hdr_decode(base + i * MBX_SLOT_SIZE, &s[i]) == 0;
    int pick;
    if (ok[0] && ok[1]) pick = s[1].seq > s[0].seq ? 1 : 0;
    else if (ok[0]) pick = 0;
    else if (ok[1]) pick = 1;
    else return CYRERR_CORRUPT;
    *h = s[pick];
    *slotp = pick;
    return 0;
}

/* ---- records ----------------------------------------------------------------- */

void mailbox_rec_encode(const struct mailbox_record *r, unsigned char *out)
{
    memset(out, 0, MBX_RECORD_SIZE);
    mailbox_put32(out + 0, r->uid);
    mailbox_put32(out + 4, r->system_flags);
    mailbox_put64(out + 8, (uint64_t)r->internaldate);
    mailbox_put64(out + 16, r->modseq);
    mailbox_put32(out + 24, r->size);
    mailbox_put32(out + 28, r->header_size);
    mailbox_put64(out + 32, r->cache_offset);
    mailbox_put32(out + 40, r->cache_len);
    mailbox_put32(out + 44, r->cache_sum);
    memcpy(out + 48, r->guid, MAILBOX_GUID_LEN);
    for (int i = 0; i < MAILBOX_KEYWORD_WORDS; i++)
        mailbox_put32(out + 68 + 4 * i, r->user_flags[i]);
    mailbox_put64(out + 100, (uint64_t)r->last_updated);
    mailbox_put64(out + 108, r->append_id);
    mailbox_put32(out + 124, mailbox_checksum(out, 124));
}

int mailbox_rec_decode(const unsigned char *in, uint32_t recno,
                       struct mailbox_record *r)
{
    if (mailbox_get32(in + 124) != mailbox_checksum(in, 124)) return CYRERR_CORRUPT;
    r->recno = recno;
    r->uid = mailbox_get32(in + 0);
    r->system_flags = mailbox_get32(in + 4);
    r->internaldate = (int64_t)mailbox_get64(in + 8);
    r->modseq = mailbox_get64(in + 16);
    r->size = mailbox_get32(in + 24);
    r->header_size = mailbox_get32(in + 28);
    r->cache_offset = mailbox_get64(in + 32);
    r->cache_len = mailbox_get32(in + 40);
    r->cache_sum = mailbox_get32(in + 44);
    memcpy(r->guid, in + 48, MAILBOX_GUID_LEN);
    for (int i = 0; i < MAILBOX_KEYWORD_WORDS; i++)
        r->user_flags[i] = mailbox_get32(in + 68 + 4 * i);
    r->last_updated = (int64_t)mailbox_get64(in + 100);
    r->append_id = mailbox_get64(in + 108);
    if (r->uid == 0) return CYRERR_CORRUPT;
    return 0;
}

void mailbox_hdr_count(struct mbx_header *h, const struct mailbox_record *r, int sign)
{
    uint32_t d = (uint32_t)sign;   /* +1 or wraps to -1 */
    if (r->system_flags & MAILBOX_FLAG_EXPUNGED) {
        h->expunged += d;
        if (r->system_flags & MAILBOX_FLAG_UNLINKED) h->unlinked += d;
        return;
    }
    h->exists += d;
    if (r->system_flags & MAILBOX_FLAG_ANSWERED) h->answered += d;
    if (r->system_flags & MAILBOX_FLAG_FLAGGED) h->flagged += d;
    if (r->system_flags & MAILBOX_FLAG_DELETED) h->deleted += d;
    if (r->system_flags & MAILBOX_FLAG_SEEN) h->seen += d;
    if (r->system_flags & MAILBOX_FLAG_DRAFT) h->draft += d;
    h->quota_used += (uint64_t)(int64_t)sign * r->size;
}

/* ---- cache header ---------------------------------------------------------------- */

void mailbox_cachehdr_encode(uint64_t cache_id, unsigned char *out)
{
    memset(out, 0, MBX_CACHE_HDR_SIZE);
    memcpy(out, cache_magic, 8);
    mailbox_put32(out + 8, MBX_VERSION);
    mailbox_put64(out + 16, cache_id);
    mailbox_put32(out + 28, mailbox_checksum(out, 28));
}

int mailbox_cachehdr_decode(const unsigned char *in, uint64_t *idp)
{
    if (memcmp(in, cache_magic, 8) != 0) return CYRERR_CORRUPT;
    if (mailbox_get32(in + 28) != mailbox_checksum(in, 28)) return CYRERR_CORRUPT;
    if (mailbox_get32(in + 8) != MBX_VERSION) return CYRERR_CORRUPT;
    *idp = mailbox_get64(in + 16);
    return 0;
}

/* ---- cyrus.header ------------------------------------------------------------------ */

void mailbox_meta_init(struct mbx_meta *m)
{
    memset(m, 0, sizeof(*m));
    strarray_init(&m->keywords);
}

void mailbox_meta_free(struct mbx_meta *m)
{
    xfree(m->name);
    xfree(m->uniqueid);
    xfree(m->quotaroot);
    strarray_free(&m->keywords);
}

void mailbox_meta_format(const struct mbx_meta *m, struct buf *out)
{
    buf_reset(out);
    buf_printf(out, "%s\nname\t%s\nuniqueid\t%s\n", META_MAGIC,
               m->name ? m->name : "", m->uniqueid ? m->uniqueid : "");
    if (m->quotaroot && *m->quotaroot) buf_printf(out, "quotaroot\t%s\n", m->quotaroot);
    for (int i = 0; i < m->keywords.count; i++)
        buf_printf(out, "keyword\t%s\n", strarray_nth(&m->keywords, i));
    uint32_t sum = mailbox_checksum(buf_base(out), buf_len(out));
    buf_printf(out, "sum\t%08x\n", sum);
}

static int meta_text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

int mailbox_meta_parse(const char *text, size_t len, struct mbx_meta *m)
{
    mailbox_meta_free(m);
    mailbox_meta_init(m);
    size_t mlen = strlen(META_MAGIC);
    if (len < mlen + 1 || memcmp(text, META_MAGIC, mlen) != 0 || text[mlen] != '\n')
        return CYRERR_CORRUPT;
    size_t pos = mlen + 1;
    int have_sum = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl) goto bad;
        size_t linelen = (size_t)(nl - line);
        const char *tab = memchr(line, '\t', linelen);
        if (!tab) goto bad;
        size_t klen = (size_t)(tab - line);
        const char *val = tab + 1;
        size_t vlen = linelen - klen - 1;
        if (!meta_text_ok(val, vlen)) goto bad;
        if (klen == 3 && !memcmp(line, "sum", 3)) {
            char hex[9];
            if (vlen != 8) goto bad;
            memcpy(hex, val, 8);
            hex[8] = '\0';
            char *end;
            unsigned long want = strtoul(hex, &end, 16);
            if (*end || want != mailbox_checksum(text, pos)) goto bad;
            if (nl + 1 != text + len) goto bad;
            have_sum = 1;
            break;
        }
        char *v = xstrndup(val, vlen);
        if (klen == 4 && !memcmp(line, "name", 4)) {
            free(m->name);
            m->name = v;
        } else if (klen == 8 && !memcmp(line, "uniqueid", 8)) {
            free(m->uniqueid);
            m->uniqueid = v;
        } else if (klen == 9 && !memcmp(line, "quotaroot", 9)) {
            free(m->quotaroot);
            m->quotaroot = vlen ? v : (free(v), NULL);
        } else if (klen == 7 && !memcmp(line, "keyword", 7)) {
            if (!mailbox_keyword_valid(v) || m->keywords.count >= MAILBOX_MAX_KEYWORDS) {
                free(v);
                goto bad;
            }
            strarray_appendm(&m->keywords, v);
        } else {
            free(v);    /* a field of a later version */
        }
        pos += linelen + 1;
    }
    if (!have_sum || !m->name || !*m->name || !m->uniqueid) goto bad;
    return 0;
bad:
    mailbox_meta_free(m);
    mailbox_meta_init(m);
    return CYRERR_CORRUPT;
}

int mailbox_meta_read(int dirfd, struct mbx_meta *m)
{
    int fd = openat(dirfd, MBX_HEADER_FNAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? CYRERR_NOTFOUND : CYRERR_IO;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return CYRERR_IO;
    }
    if (st.st_size <= 0 || st.st_size > META_MAX) {
        close(fd);
        return CYRERR_CORRUPT;
    }
    size_t n = (size_t)st.st_size;
    char *text = xmalloc(n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, text + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    int r = got == n ? mailbox_meta_parse(text, n, m) : CYRERR_IO;
    free(text);
    return r;
}

int mailbox_meta_write(int dirfd, const struct mbx_meta *m)
{
    struct buf text = BUF_INITIALIZER;
    mailbox_meta_format(m, &text);
    int r = CYRERR_IO;
    int fd = mailbox_io_openat(dirfd, MBX_HEADER_NEW, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) goto out;
    if (mailbox_io_write(fd, buf_base(&text), buf_len(&text)) < 0 ||
        mailbox_io_fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, MBX_HEADER_NEW, 0);
        errno = e;
        goto out;
    }
    if (close(fd) < 0) goto out;
    if (mailbox_io_renameat(dirfd, MBX_HEADER_NEW, dirfd, MBX_HEADER_FNAME, 0) < 0) {
        int e = errno;
        unlinkat(dirfd, MBX_HEADER_NEW, 0);
        errno = e;
        goto out;
    }
    if (mailbox_io_fsync(dirfd) < 0) goto out;
    r = 0;
out:
    if (r) xsyslog(LOG_ERR, "mailbox header write failed", "name=<%s> error=<%s>",
                   m->name ? m->name : "", strerror(errno));
    buf_free(&text);
    return r;
}

/* ---- keywords --------------------------------------------------------------------- */

int mailbox_keyword_valid(const char *name)
{
    if (!name || !*name || name[0] == '\\') return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++) {
        if (*p <= 0x20 || *p >= 0x7f) return 0;
        if (strchr("(){%*\"\\]", *p)) return 0;
    }
    return n <= MAILBOX_KEYWORD_MAXLEN;
}

/* ---- message files ------------------------------------------------------------------ */

size_t mailbox_header_len(const char *p, size_t n)
{
    int state = 0;   /* 0 line start, 1 in a line, 2 CR at line start */
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (state != 1) return i + 1;
            state = 0;
        } else if (p[i] == '\r') {
            state = state == 0 ? 2 : 1;
        } else {
            state = 1;
        }
    }
    return n;
}

/* ---- names, randomness, errors ----------------------------------------------------- */

uint32_t mailbox_parse_msgname(const char *name)
{
    uint64_t v = 0;
    const char *p = name;
    if (*p < '1' || *p > '9') return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX) return 0;
    }
    if (p[0] != '.' || p[1] != '\0') return 0;
    return (uint32_t)v;
}

void mailbox_msgname(uint32_t uid, char *out, size_t len)
{
    snprintf(out, len, "%u.", uid);
}

uint64_t mailbox_random64(void)
{
    uint64_t v = 0;
    unsigned char *p = (unsigned char *)&v;
    size_t got = 0;
    while (got < sizeof(v)) {
        ssize_t n = getrandom(p + got, sizeof(v) - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fatal(EX_TEMPFAIL_CODE, "getrandom failed: %s", strerror(errno));
        got += (size_t)n;
    }
    return v;
}

char *mailbox_make_uniqueid(void)
{
    return xasprintf("%016llx%016llx", (unsigned long long)mailbox_random64(),
                     (unsigned long long)mailbox_random64());
}

int mailbox_ioerr(const struct mailbox *mb, const char *what, const char *file)
{
    int e = errno;
    xsyslog(LOG_ERR, "mailbox I/O error", "mailbox=<%s> op=<%s> file=<%s> error=<%s>",
            mb && mb->meta.name ? mb->meta.name : (mb && mb->dir ? mb->dir : ""),
            what, file ? file : "", strerror(e));
    errno = e;
    return CYRERR_IO;
}
