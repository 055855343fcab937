/* mailbox_append: appending messages, with group commit.
 *
 * Uncontended (the exclusive lock is free and nothing is queued), the
 * appender takes the lock and writes its messages straight to <uid>.,
 * computing SHA-1, header size and cache record on the way.
 *
 * Contended, it stages its batch in cyrus.queue/ without any lock: a
 * one-message batch without keywords is one file m.<id>.<date>.<flags>.<iq>
 * (written unnamed and linked under that name when complete; where the
 * system cannot, written as t.<id>.0 and renamed); a larger one is
 * s.<id>.<n> files plus a description t.<id> renamed to q.<id>.  Staging
 * syncs nothing: the committer's one sync round covers it.
 *
 * Then it waits: as a reader while a committer is at work (all who wait
 * learn at once whether that commit took their batch), and, when its batch
 * is still queued and the lock free, for the processes of the last commit
 * to queue again ("gathering", below), holding no lock, at most about one
 * commit's time.  Then whoever gets the exclusive lock commits every
 * published batch of a live process at once ("drain"): claim (q.<id> ->
 * c.<id>.<first uid>; an m-file is linked as its <uid>.), move the files
 * into place, and run the common end of a transaction.  The others find
 * their batch committed and return without any sync of their own: the
 * receipt is the claim file (d.<id>.<uid> once synced), or for an m-file
 * the record carrying its append id once the committer has removed the
 * name.
 *
 * The common end (commit_tail): append cache records and index records
 * beyond the committed lengths, write the header, then sync message files,
 * directory, cache and index in one round (submitted together).  See
 * mailbox_int.h for the files and the recovery of what a dead appender
 * leaves.
 *
 * Process-wide state: the id counter, when the process last met another
 * appender, its recent commit time, whether unnamed files work, and the
 * inotify instance of the gathering wait (made again after fork).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"
#include "imap/store/mailbox_qbatch.h"
#include "imap/store/msgcache.h"

#define COPY_CHUNK 65536
#define READ_MAX (256 * 1024)   /* staged files read rather than mapped */
#define NOT_DONE 1
#define ALREADY 2     /* a queued one-message entry was committed already */

/* ---- the cache encoder hook ----------------------------------------------- */

static mailbox_cache_encoder_fn *cache_encoder;

void mailbox_set_cache_encoder(mailbox_cache_encoder_fn *fn)
{
    cache_encoder = fn;
}

mailbox_cache_encoder_fn *mailbox_cache_encoder(void)
{
    return cache_encoder ? cache_encoder : msgcache_build;
}

/* ---- batches ------------------------------------------------------------------- */


int mailbox_pid_alive(pid_t pid)
{
    if (pid <= 0) return 0;
    if (pid == getpid()) return 1;
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Counter of ids and append ids of this process. */
static uint32_t id_counter;

static uint64_t append_token(pid_t pid, uint32_t counter)
{
    return (uint64_t)(uint32_t)pid << 32 | counter;
}

static char *make_id(uint32_t *counterp)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long ns = (unsigned long long)ts.tv_sec * 1000000000ULL +
                            (unsigned long long)ts.tv_nsec;
    *counterp = ++id_counter;
    return xasprintf("%016llx.%d.%u", ns, (int)getpid(), *counterp);
}

/* "m.<id>.<internaldate>.<flags>.<ignorequota>.<from uid>" */
static int parse_mname(const char *f, pid_t *pidp, uint32_t *counterp, size_t *idlenp,
                       int64_t *idatep, uint32_t *flagsp, int *iqp, uint32_t *fromp)
{
    if (f[0] != 'm' || f[1] != '.') return 0;
    size_t idlen = qbatch_parse_id(f + 2, pidp, counterp);
    if (!idlen || f[2 + idlen] != '.') return 0;
    const char *p = f + 3 + idlen;
    char *end;
    errno = 0;
    long long idate = strtoll(p, &end, 10);
    if (errno || end == p || *end != '.') return 0;
    p = end + 1;
    unsigned long fl = strtoul(p, &end, 10);
    if (end == p || *end != '.' || (fl & ~(unsigned long)MAILBOX_FLAGS_SETTABLE)) return 0;
    p = end + 1;
    if ((p[0] != '0' && p[0] != '1') || p[1] != '.') return 0;
    *iqp = p[0] == '1';
    p += 2;
    unsigned long from = strtoul(p, &end, 10);
    if (end == p || *end || from > UINT32_MAX) return 0;
    *fromp = (uint32_t)from;
    *idlenp = idlen;
    *idatep = idate;
    *flagsp = (uint32_t)fl;
    return 1;
}

/* When this process last met another appender (process-wide): for a
 * second after that, appends go through the queue. */
static struct timespec contention_at;

static void note_contention(void)
{
    clock_gettime(CLOCK_MONOTONIC, &contention_at);
}

static int contended_recently(void)
{
    if (!contention_at.tv_sec && !contention_at.tv_nsec) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec - contention_at.tv_sec < 1;
}


/* This process's recent time to commit (seconds, moving average). */
static double commit_secs = 0.001;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_commit_time(double secs)
{
    commit_secs = 0.75 * commit_secs + 0.25 * secs;
}

static int open_queue(struct mailbox *mb)
{
    int fd = openat(mb->dirfd, MBX_QUEUE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mailbox_io_mkdirat(mb->dirfd, MBX_QUEUE_DIR, 0777) < 0 && errno != EEXIST)
            return -1;
        fd = openat(mb->dirfd, MBX_QUEUE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    return fd;
}

/* ---- staging -------------------------------------------------------------------------- */

/* Finds the end of the header: the offset just past the first empty line. */
struct hscan {
    uint64_t pos;
    int state;            /* 0 line start, 1 in a line, 2 CR at line start */
    uint64_t end;         /* 0 until found */
};

static void hscan_feed(struct hscan *h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && !h->end; i++) {
        unsigned char c = p[i];
        if (c == '\n') {
            if (h->state != 1) h->end = h->pos + i + 1;
            h->state = 0;
        } else if (c == '\r') {
            h->state = h->state == 0 ? 2 : 1;
        } else {
            h->state = 1;
        }
    }
    h->pos += n;
}

struct stager {
    EVP_MD_CTX *sha;
    struct hscan hs;
    uint64_t size;
    int hash;
};

static void stager_feed(struct stager *s, const void *p, size_t n)
{
    if (s->hash) EVP_DigestUpdate(s->sha, p, n);
    hscan_feed(&s->hs, p, n);
    s->size += n;
}

static int copy_from_fd(struct stager *s, int in, int out, int use_pread)
{
    char *chunk = xmalloc(COPY_CHUNK);
    off_t off = 0;
    int r = 0;
    for (;;) {
        ssize_t got = use_pread ? pread(in, chunk, COPY_CHUNK, off) : read(in, chunk, COPY_CHUNK);
        if (got < 0 && errno == ESPIPE && use_pread && off == 0) {
            use_pread = 0;    /* a pipe: read it as it comes */
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            r = -1;
            break;
        }
        if (got == 0) break;
        off += got;
        stager_feed(s, chunk, (size_t)got);
        if (s->size > UINT32_MAX) {
            errno = EFBIG;
            r = -1;
            break;
        }
        if (out >= 0 && mailbox_io_write(out, chunk, (size_t)got) < 0) {
            r = -1;
            break;
        }
    }
    free(chunk);
    return r;
}

/* Can this process make unnamed files and name them (O_TMPFILE and
 * /proc/self/fd)?  0 not known yet, 1 yes, -1 no. */
static int tmpfile_state;

static int tmpfile_usable(void)
{
    if (!tmpfile_state)
        tmpfile_state = faccessat(AT_FDCWD, "/proc/self/fd", X_OK, 0) == 0 ? 1 : -1;
    return tmpfile_state > 0;
}

/* Write message `m` to file `name` in directory `qfd` (a stage file, or
 * the message file itself on the direct path), filling `q`.  With
 * `publish`, the file appears only once complete, as `publish`: written
 * unnamed and then linked (so that inode allocation does not hold the
 * directory's lock, and a crash leaves nothing), or where that cannot be
 * done written as `name` and renamed. */
static int stage_one(struct mailbox *mb, int qfd, const char *name,
                     const struct mailbox_append_msg *m, int flags, int meta,
                     struct qmsg *q, const char *publish)
{
    struct stager s;
    memset(&s, 0, sizeof(s));
    s.hash = meta && !m->guid;
    if (s.hash) {
        s.sha = EVP_MD_CTX_new();
        if (!s.sha || !EVP_DigestInit_ex(s.sha, EVP_sha1(), NULL))
            fatal(EX_TEMPFAIL_CODE, "SHA-1 unavailable");
    }
    int r = 0, fd = -1, linked = 0, unnamed = 0;
    if (m->source == MAILBOX_SRC_PATH && (flags & MAILBOX_APPEND_LINK) &&
        mailbox_io_linkat(AT_FDCWD, m->path, qfd, name) == 0) {
        linked = 1;
        fd = openat(qfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || copy_from_fd(&s, fd, -1, 1) < 0) {
            r = mailbox_ioerr(mb, "read", m->path);
            goto out;
        }
    } else {
        if (publish && tmpfile_usable()) {
            fd = mailbox_io_tmpfile(qfd, 0666);
            if (fd >= 0) {
                unnamed = 1;
            } else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
                tmpfile_state = -1;
            } else {
                r = mailbox_ioerr(mb, "create", name);
                goto out;
            }
        }
        if (!unnamed)
            fd = mailbox_io_openat(qfd, name, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0) {
            r = mailbox_ioerr(mb, "create", name);
            goto out;
        }
        if (m->source == MAILBOX_SRC_DATA) {
            if (m->len > UINT32_MAX) {
                r = CYRERR_TOOBIG;
                goto out;
            }
            stager_feed(&s, m->data, m->len);
            if (m->len && mailbox_io_write(fd, m->data, m->len) < 0) {
                r = mailbox_ioerr(mb, "write", name);
                goto out;
            }
        } else {
            int in = m->source == MAILBOX_SRC_PATH
                         ? open(m->path, O_RDONLY | O_CLOEXEC) : m->fd;
            if (in < 0) {
                r = errno == ENOENT ? CYRERR_NOTFOUND : mailbox_ioerr(mb, "open", m->path);
                goto out;
            }
            int cr = copy_from_fd(&s, in, fd, 1);
            int e = errno;
            if (m->source == MAILBOX_SRC_PATH) close(in);
            if (cr < 0) {
                errno = e;
                r = e == EFBIG ? CYRERR_TOOBIG : mailbox_ioerr(mb, "copy", name);
                goto out;
            }
        }
    }
    if (s.size > UINT32_MAX) {
        r = CYRERR_TOOBIG;
        goto out;
    }
    /* start writing now; the committer's fsync then finds little to do */
    if (!linked) (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);

    q->size = (uint32_t)s.size;
    q->header_size = s.hs.end ? (uint32_t)s.hs.end : q->size;
    if (s.hash) {
        unsigned int dl = 0;
        EVP_DigestFinal_ex(s.sha, q->guid, &dl);
    } else if (m->guid) {
        memcpy(q->guid, m->guid, MAILBOX_GUID_LEN);
    }
    q->internaldate = m->internaldate ? (int64_t)m->internaldate : (int64_t)time(NULL);
    q->system_flags = m->system_flags;
    for (size_t k = 0; k < m->nkeywords; k++) strarray_add(&q->keywords, m->keywords[k]);
    if (!meta) {
        /* the committer reads it (one-message queue entry) */
    } else if (m->cache) {
        buf_setmap(&q->cache, m->cache, m->cache_len);
    } else if (m->source == MAILBOX_SRC_DATA) {
        mailbox_cache_encoder()(m->data ? m->data : "", m->len, &q->cache);
    } else if (q->size == 0) {
        mailbox_cache_encoder()("", 0, &q->cache);
    } else {
        int rfd = openat(qfd, name, O_RDONLY | O_CLOEXEC);
        void *p = rfd >= 0 ? mmap(NULL, q->size, PROT_READ, MAP_PRIVATE, rfd, 0) : MAP_FAILED;
        if (rfd >= 0) close(rfd);
        if (p == MAP_FAILED) {
            r = mailbox_ioerr(mb, "map", name);
            goto out;
        }
        mailbox_cache_encoder()(p, q->size, &q->cache);
        munmap(p, q->size);
    }
    if (buf_len(&q->cache) > UINT32_MAX / 2) r = CYRERR_TOOBIG;
    if (!r && publish) {
        if (unnamed ? mailbox_io_linkfd(fd, qfd, publish) < 0
                    : mailbox_io_renameat(qfd, name, qfd, publish, 0) < 0)
            r = mailbox_ioerr(mb, "queue", publish);
    }
out:
    if (fd >= 0) close(fd);
    if (s.sha) EVP_MD_CTX_free(s.sha);
    if (r && !unnamed) unlinkat(qfd, name, 0);
    return r;
}

static int validate_msg(const struct mailbox_append_msg *m)
{
    switch (m->source) {
    case MAILBOX_SRC_DATA:
        if (!m->data && m->len) return CYRERR_BADARGS;
        break;
    case MAILBOX_SRC_PATH:
        if (!m->path || !*m->path) return CYRERR_BADARGS;
        break;
    case MAILBOX_SRC_FD:
        if (m->fd < 0) return CYRERR_BADARGS;
        break;
    default:
        return CYRERR_BADARGS;
    }
    if (m->system_flags & ~MAILBOX_FLAGS_SETTABLE) return CYRERR_BADARGS;
    if (m->nkeywords > MAILBOX_MAX_KEYWORDS || (m->nkeywords && !m->keywords))
        return CYRERR_BADARGS;
    for (size_t k = 0; k < m->nkeywords; k++)
        if (!mailbox_keyword_valid(m->keywords[k])) return CYRERR_BADARGS;
    if (!m->cache && m->cache_len) return CYRERR_BADARGS;
    if (m->cache_len > UINT32_MAX / 2) return CYRERR_TOOBIG;
    return 0;
}

/* ---- committing --------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Publish refusal of a batch (other appenders read e.<id>.<code>). */
static void refuse_batch(int qfd, struct qbatch *b, int own)
{
    if (!own) {
        char name[160];
        snprintf(name, sizeof(name), "e.%s.%d", b->id, -b->err);
        int fd = mailbox_io_openat(qfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) close(fd);
    }
    qbatch_discard(qfd, b->id, b->n);
    if (b->mname) unlinkat(qfd, b->mname, 0);
}

/* Resolve keyword names to bits (creating them); CYRERR_LIMIT etc. */
static int resolve_keywords(struct mailbox *mb, struct qbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct qmsg *m = &b->msgs[i];
        memset(m->user_flags, 0, sizeof(m->user_flags));
        for (int k = 0; k < m->keywords.count; k++) {
            uint32_t bit;
            int r = mailbox_keyword_bit(mb, strarray_nth(&m->keywords, k), 1, &bit);
            if (r) return r;
            m->user_flags[bit / 32] |= 1u << (bit % 32);
        }
    }
    return 0;
}

#define SYNC_GROUP 64

/* Make durable, all at once: message files <first>..<first+n-1>., the
 * directory, the cache (when written to) and the index. */
static int sync_appended(struct mailbox *mb, size_t n, uint32_t first, int cache)
{
    int fds[SYNC_GROUP + 3], ds[SYNC_GROUP + 3];
    size_t k = 0;
    int r = 0;
    while (k < n && !r) {
        size_t m = 0;
        for (; k < n && m < SYNC_GROUP; k++) {
            char name[32];
            mailbox_msgname(first + (uint32_t)k, name, sizeof(name));
            int fd = openat(mb->dirfd, name, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                r = mailbox_ioerr(mb, "open", name);
                break;
            }
            fds[m] = fd;
            ds[m++] = 0;
        }
        size_t files = m;
        if (!r && k == n) {
            /* the last group also carries directory, cache and index */
            fds[m] = mb->dirfd;
            ds[m++] = 0;
            if (cache) {
                fds[m] = mb->cachefd;
                ds[m++] = 1;
            }
            fds[m] = mb->indexfd;
            ds[m++] = 1;
        }
        if (!r && mailbox_io_sync_many(fds, ds, m) < 0) r = mailbox_ioerr(mb, "fsync", mb->dir);
        for (size_t j = 0; j < files; j++) close(fds[j]);
    }
    return r;
}

/* Move queue file `from` to <uid>. (a stray file of that name is not
 * visible and may be replaced). */
static int move_file(struct mailbox *mb, int qfd, const char *from, uint32_t uid)
{
    char to[32];
    mailbox_msgname(uid, to, sizeof(to));
    if (mailbox_io_renameat(qfd, from, mb->dirfd, to, 1) == 0) return 0;
    if (errno == EEXIST) {
        xsyslog(LOG_WARNING, "mailbox stray message file replaced", "mailbox=<%s> uid=<%u>",
                mb->meta.name, uid);
        if (mailbox_io_renameat(qfd, from, mb->dirfd, to, 0) == 0) return 0;
    }
    return mailbox_ioerr(mb, "rename", from);
}

/* A one-message entry is linked into place, and its queue name removed
 * only once the transaction is committed: should the committer die, the
 * entry is still there for its appender. */
static int link_mfile(struct mailbox *mb, int qfd, const char *mname, uint32_t uid)
{
    char to[32];
    mailbox_msgname(uid, to, sizeof(to));
    if (mailbox_io_linkat(qfd, mname, mb->dirfd, to) == 0) return 0;
    if (errno == EEXIST) {
        xsyslog(LOG_WARNING, "mailbox stray message file replaced", "mailbox=<%s> uid=<%u>",
                mb->meta.name, uid);
        unlinkat(mb->dirfd, to, 0);
        if (mailbox_io_linkat(qfd, mname, mb->dirfd, to) == 0) return 0;
    }
    return mailbox_ioerr(mb, "link", mname);
}

static int move_stage(struct mailbox *mb, int qfd, const char *id, size_t j, uint32_t uid)
{
    char from[128];
    qbatch_stage_name(from, sizeof(from), id, j);
    return move_file(mb, qfd, from, uid);
}

/* The end of every append transaction (txn begun, message files in place
 * as <first>.. <first+n-1>.): append cache records and index records
 * beyond the committed lengths, write the new header, and sync message
 * files, directory, cache and index all at once.  Until that sync returns
 * nothing is acknowledged; a crash before it is repaired by recovery (a
 * process crash: DIRTY is still on disk only if the header was not
 * written, else the records are complete; a power cut: the after-reboot
 * check of the last transaction). */
static int commit_tail(struct mailbox *mb, struct qmsg *const *msgs, size_t n,
                       uint32_t first, uint64_t modseq)
{
    struct mbx_header *h = &mb->hdr;
    struct mbx_header nh = *h;
    int64_t now = (int64_t)time(NULL);
    struct buf cache = BUF_INITIALIZER;
    unsigned char *recs = xzmalloc(n * MBX_RECORD_SIZE);
    uint64_t coff = h->cache_size;
    int r = 0;
    for (size_t k = 0; k < n; k++) {
        const struct qmsg *m = msgs[k];
        struct mailbox_record rec;
        memset(&rec, 0, sizeof(rec));
        rec.recno = h->num_records + (uint32_t)k;
        rec.uid = first + (uint32_t)k;
        rec.system_flags = m->system_flags;
        memcpy(rec.user_flags, m->user_flags, sizeof(rec.user_flags));
        rec.internaldate = m->internaldate;
        rec.modseq = modseq;
        rec.size = m->size;
        rec.header_size = m->header_size;
        rec.cache_offset = coff;
        rec.cache_len = (uint32_t)buf_len(&m->cache);
        rec.cache_sum = mailbox_checksum(buf_base(&m->cache), buf_len(&m->cache));
        memcpy(rec.guid, m->guid, MAILBOX_GUID_LEN);
        rec.last_updated = now;
        rec.append_id = m->token;
        mailbox_rec_encode(&rec, recs + k * MBX_RECORD_SIZE);
        mailbox_hdr_count(&nh, &rec, +1);
        buf_appendbuf(&cache, &m->cache);
        coff += buf_len(&m->cache);
    }
    off_t roff = MBX_HEADER_SIZE + (off_t)h->num_records * MBX_RECORD_SIZE;
    if (buf_len(&cache) &&
        mailbox_io_pwrite(mb->cachefd, buf_base(&cache), buf_len(&cache), (off_t)h->cache_size) < 0) {
        r = mailbox_ioerr(mb, "write", MBX_CACHE_FNAME);
        goto out;
    }
    if (mailbox_io_pwrite(mb->indexfd, recs, n * MBX_RECORD_SIZE, roff) < 0) {
        r = mailbox_ioerr(mb, "write records", MBX_INDEX_FNAME);
        goto out;
    }
    nh.num_records += (uint32_t)n;
    nh.uidnext = first + (uint32_t)n;
    nh.highestmodseq = modseq;
    nh.cache_size = coff;
    nh.seq = h->seq;
    nh.flags = h->flags;
    *h = nh;
    /* the header now, then everything in one sync (see mailbox_int.h) */
    r = mailbox_txn_write_header(mb);
    if (!r) r = sync_appended(mb, n, first, buf_len(&cache) != 0);
out:
    free(recs);
    buf_free(&cache);
    if (r) {
        mailbox_txn_abort(mb);
        return r;
    }
    mb->txn = 0;
    return 0;
}

/* The transaction of a drain: batches[] are accepted, keywords resolved. */
static int commit_batches(struct mailbox *mb, int qfd, struct qbatch **bs, size_t nb,
                          uint64_t *modseqp)
{
    int r = mailbox_txn_begin(mb);
    if (r) return r;
    uint32_t first = mb->hdr.uidnext, uid = first;
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    size_t total = 0;
    for (size_t i = 0; i < nb; i++) {
        char from[128], to[160];
        bs[i]->first_uid = uid;
        if (bs[i]->mname) {
            /* a one-message entry is claimed by moving it into place */
            uid++;
            total++;
            continue;
        }
        snprintf(from, sizeof(from), "q.%s", bs[i]->id);
        snprintf(to, sizeof(to), "c.%s.%u", bs[i]->id, uid);
        if (mailbox_io_renameat(qfd, from, qfd, to, 1) < 0) {
            r = mailbox_ioerr(mb, "claim", from);
            mailbox_txn_abort(mb);
            return r;
        }
        uid += (uint32_t)bs[i]->n;
        total += bs[i]->n;
    }
    struct qmsg **all = xmalloc(total * sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < bs[i]->n; j++) {
            all[k++] = &bs[i]->msgs[j];
            if (r) continue;
            if (bs[i]->mname) r = link_mfile(mb, qfd, bs[i]->mname, bs[i]->first_uid);
            else r = move_stage(mb, qfd, bs[i]->id, j, bs[i]->first_uid + (uint32_t)j);
        }
    if (r) {
        free(all);
        mailbox_txn_abort(mb);
        return r;
    }
    r = commit_tail(mb, all, total, first, modseq);
    free(all);
    if (!r) *modseqp = modseq;
    return r;
}

/* The record a one-message entry became, found by its append id among the
 * records with UIDs from `from_uid` on (the UIDs it could have got). */
static int find_token(struct mailbox *mb, uint64_t token, uint32_t from_uid,
                      struct mailbox_record *rec)
{
    uint32_t lo = 0, hi = mb->hdr.num_records;
    if (!hi) return CYRERR_NOTFOUND;
    if (mailbox_map_index(mb, MBX_HEADER_SIZE + (size_t)hi * MBX_RECORD_SIZE)) return CYRERR_CORRUPT;
    while (lo < hi) {                 /* first record with uid >= from_uid */
        uint32_t mid = lo + (hi - lo) / 2;
        if (mailbox_get32(mb->imap + MBX_HEADER_SIZE + (size_t)mid * MBX_RECORD_SIZE) < from_uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo; i < mb->hdr.num_records; i++) {
        if (mailbox_read_record(mb, i, rec)) return CYRERR_CORRUPT;
        if (rec->append_id == token) return 0;
    }
    return CYRERR_NOTFOUND;
}

/* Read a one-message entry m.<...> into `b`: NOT_DONE when the name is
 * not one, CYRERR_CANCELLED (and the file removed) when its appender died. */
static int load_mfile(struct mailbox *mb, int qfd, const char *fname, struct qbatch *b)
{
    pid_t pid;
    uint32_t counter, flags;
    size_t idlen;
    int64_t idate;
    int iq;
    uint32_t from;
    if (!parse_mname(fname, &pid, &counter, &idlen, &idate, &flags, &iq, &from)) return NOT_DONE;
    memset(b, 0, sizeof(*b));
    b->id = xstrndup(fname + 2, idlen);
    b->pid = pid;
    b->mname = xstrdup(fname);
    b->flags = iq ? MAILBOX_APPEND_IGNOREQUOTA : 0;
    if (!mailbox_pid_alive(pid)) {
        unlinkat(qfd, fname, 0);
        return CYRERR_CANCELLED;
    }
    b->n = 1;
    b->msgs = xcalloc(1, sizeof(*b->msgs));
    struct qmsg *m = &b->msgs[0];
    strarray_init(&m->keywords);
    /* committed already by someone who died before removing its name? */
    struct mailbox_record rec;
    if (find_token(mb, append_token(pid, counter), from, &rec) == 0) {
        unlinkat(qfd, fname, 0);
        b->first_uid = rec.uid;
        return ALREADY;
    }
    m->internaldate = idate;
    m->system_flags = flags;
    m->token = append_token(pid, counter);
    int fd = openat(qfd, fname, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size > UINT32_MAX) {
        if (fd >= 0) close(fd);
        return mailbox_ioerr(mb, "open", fname);
    }
    size_t len = (size_t)st.st_size;
    const char *base = "";
    void *p = NULL;
    char *copy = NULL;
    if (len && len <= READ_MAX) {
        /* small: read it (a mapping costs more to set up and tear down) */
        copy = xmalloc(len);
        size_t got = 0;
        while (got < len) {
            ssize_t k = pread(fd, copy + got, len - got, (off_t)got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (got != len) {
            free(copy);
            close(fd);
            return mailbox_ioerr(mb, "read", fname);
        }
        base = copy;
    } else if (len) {
        p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return mailbox_ioerr(mb, "map", fname);
        }
        base = p;
    }
    close(fd);
    unsigned int dl = 0;
    if (!EVP_Digest(base, len, m->guid, &dl, EVP_sha1(), NULL))
        fatal(EX_TEMPFAIL_CODE, "SHA-1 unavailable");
    m->size = (uint32_t)len;
    m->header_size = (uint32_t)mailbox_header_len(base, len);
    mailbox_cache_encoder()(base, len, &m->cache);
    if (p) munmap(p, len);
    free(copy);
    b->bytes = len;
    return 0;
}

/* Commit every published batch of a live process.  The batch `own_id`
 * (ours) gets its outcome in *own_res / return value; *own_done says
 * whether it was dealt with. */
static int drain(struct mailbox *mb, int qfd, const char *own_id,
                 struct mailbox_append_result *own_res, int *own_done)
{
    *own_done = 0;
    double t0 = mono_now();
    int dfd = dup(qfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return mailbox_ioerr(mb, "opendir", MBX_QUEUE_DIR);
    }
    rewinddir(d);
    struct strarray names = { 0 };
    strarray_init(&names);
    struct strarray others;
    strarray_init(&others);
    struct dirent *de;
    while ((de = readdir(d))) {
        if ((de->d_name[0] == 'q' || de->d_name[0] == 'm') && de->d_name[1] == '.')
            strarray_append(&names, de->d_name);
        else if (de->d_name[0] != '.')
            strarray_append(&others, de->d_name);
    }
    closedir(d);
    qbatch_sweep(qfd, &others, mb->hdr.uidnext);
    strarray_free(&others);
    if (names.count > 1)
        qsort(names.data, (size_t)names.count, sizeof(char *), cmp_str);

    size_t nb = 0;
    struct qbatch *all = xcalloc((size_t)names.count + 1, sizeof(*all));
    struct qbatch **ok = xcalloc((size_t)names.count + 1, sizeof(*ok));
    size_t nok = 0;
    struct qbatch *own = NULL;
    int r = 0;

    for (int i = 0; i < names.count; i++) {
        const char *fname = strarray_nth(&names, i);
        if (fname[0] == 'm') {
            struct qbatch *b = &all[nb];
            int lr = load_mfile(mb, qfd, fname, b);
            if (lr == NOT_DONE) continue;          /* not an entry */
            nb++;
            int is_own = !strcmp(b->id, own_id);
            if (is_own) own = b;
            if (lr == ALREADY) {
                b->err = ALREADY;                  /* not to commit again */
                continue;
            }
            if (lr) {
                b->err = lr;
                if (lr != CYRERR_CANCELLED) refuse_batch(qfd, b, is_own);
                continue;
            }
            ok[nok++] = b;
            continue;
        }
        pid_t pid;
        size_t idlen = qbatch_parse_id(fname + 2, &pid, NULL);
        if (!idlen || fname[2 + idlen]) continue;   /* not ours to judge */
        struct qbatch *b = &all[nb++];
        b->id = xstrdup(fname + 2);
        b->pid = pid;
        int is_own = !strcmp(b->id, own_id);
        if (!is_own && !mailbox_pid_alive(pid)) {
            /* its appender died before hearing back: nobody waits for it */
            qbatch_discard(qfd, b->id, qbatch_count(qfd, fname));
            b->err = CYRERR_CANCELLED;
            b->n = 0;
            continue;
        }
        int lr = qbatch_load(qfd, fname, b);
        if (lr == CYRERR_NOTFOUND) {
            b->err = CYRERR_NOTFOUND;
            continue;
        }
        /* the append ids its appender gave the messages: the counter of
         * the batch id, then one each */
        uint32_t counter;
        if (!lr && qbatch_parse_id(b->id, &pid, &counter))
            for (size_t j = 0; j < b->n; j++)
                b->msgs[j].token = append_token(b->pid, counter + 1 + (uint32_t)j);
        if (lr) {
            xsyslog(LOG_ERR, "mailbox queued batch unreadable", "mailbox=<%s> batch=<%s>",
                    mb->meta.name, b->id);
            b->err = lr;
        }
        for (size_t j = 0; j < b->n && !b->err; j++) {
            char sname[128];
            struct stat st;
            qbatch_stage_name(sname, sizeof(sname), b->id, j);
            if (fstatat(qfd, sname, &st, 0) < 0 || (uint64_t)st.st_size != b->msgs[j].size)
                b->err = CYRERR_CORRUPT;
        }
        if (is_own) own = b;
        if (b->err) {
            refuse_batch(qfd, b, is_own);
            continue;
        }
        ok[nok++] = b;
    }
    strarray_free(&names);

    /* quota, keywords and UID space, batch by batch */
    struct mailbox_quota mq;
    r = mailbox_quota_begin(mb, &mq);
    if (r) goto out;
    size_t naccepted = 0;
    uint64_t uids_left = (uint64_t)UINT32_MAX - mb->hdr.uidnext;
    for (size_t i = 0; i < nok; i++) {
        struct qbatch *b = ok[i];
        if (!(b->flags & MAILBOX_APPEND_IGNOREQUOTA))
            b->err = mailbox_quota_fits(&mq, (long long)b->bytes, (long long)b->n);
        if (!b->err && b->n > uids_left) b->err = CYRERR_LIMIT;
        if (!b->err) b->err = resolve_keywords(mb, b);
        if (b->err) {
            refuse_batch(qfd, b, b == own);
            continue;
        }
        mailbox_quota_take(&mq, (long long)b->bytes, (long long)b->n);
        uids_left -= b->n;
        ok[naccepted++] = b;
    }
    mailbox_quota_end(&mq);

    uint64_t modseq = 0;
    if (nb > 1) note_contention();
    if (naccepted) {
        r = commit_batches(mb, qfd, ok, naccepted, &modseq);
        if (r) goto out;   /* recovery has put the batches back */
        note_commit_time(mono_now() - t0);
        /* receipts say "synced": an m-file's name goes (the record is its
         * receipt), a claim c.<id>.<uid> becomes d.<id>.<uid> */
        for (size_t i = 0; i < naccepted; i++) {
            if (ok[i]->mname) {
                unlinkat(qfd, ok[i]->mname, 0);
            } else if (ok[i] != own) {
                char cname[160], dname[160];
                snprintf(cname, sizeof(cname), "c.%s.%u", ok[i]->id, ok[i]->first_uid);
                snprintf(dname, sizeof(dname), "d.%s.%u", ok[i]->id, ok[i]->first_uid);
                (void)renameat(qfd, cname, qfd, dname);
            }
        }
        long long bytes = 0, msgs = 0;
        for (size_t i = 0; i < naccepted; i++) {
            bytes += (long long)ok[i]->bytes;
            msgs += (long long)ok[i]->n;
        }
        (void)mailbox_quota_charge(mb, bytes, msgs);
    }
    if (own && own->err == ALREADY) {
        struct mailbox_record rec;
        *own_done = 1;
        if (mailbox_find_uid(mb, own->first_uid, &rec) == 0) {
            own_res->uidvalidity = mb->hdr.uidvalidity;
            own_res->first_uid = own_res->last_uid = rec.uid;
            own_res->modseq = rec.modseq;
        }
    } else if (own) {
        *own_done = 1;
        if (own->err) {
            r = own->err;
        } else {
            own_res->uidvalidity = mb->hdr.uidvalidity;
            own_res->first_uid = own->first_uid;
            own_res->last_uid = own->first_uid + (uint32_t)own->n - 1;
            own_res->modseq = modseq;
            if (!own->mname) {
                char cname[160];
                snprintf(cname, sizeof(cname), "c.%s.%u", own->id, own->first_uid);
                unlinkat(qfd, cname, 0);
            }
        }
    }
out:
    for (size_t i = 0; i < nb; i++) qbatch_free(&all[i]);
    free(all);
    free(ok);
    return r;
}

/* After taking the lock: has our batch been dealt with by someone else?
 * 0 (committed: *res filled), NOT_DONE (still queued), or an error. */
static int collect(struct mailbox *mb, int qfd, const struct qbatch *b, uint32_t from,
                   struct mailbox_append_result *res)
{
    char name[128];
    snprintf(name, sizeof(name), "q.%s", b->id);
    if (faccessat(qfd, b->mname ? b->mname : name, F_OK, 0) == 0) {
        struct mailbox_record rec;
        if (!b->mname || find_token(mb, b->msgs[0].token, from, &rec)) return NOT_DONE;
        /* committed by one who died before removing the name, maybe
         * before its sync ended: make sure of it ourselves */
        int r = sync_appended(mb, 1, rec.uid, 1);
        if (r) return r;
        unlinkat(qfd, b->mname, 0);
        res->uidvalidity = mb->hdr.uidvalidity;
        res->first_uid = res->last_uid = rec.uid;
        res->modseq = rec.modseq;
        return 0;
    }
    if (b->mname) {
        /* the name goes once the commit is synced: the record is the
         * receipt (a refusal e.<id>.<code> is looked for below) */
        struct mailbox_record rec;
        if (find_token(mb, b->msgs[0].token, from, &rec) == 0) {
            res->uidvalidity = mb->hdr.uidvalidity;
            res->first_uid = res->last_uid = rec.uid;
            res->modseq = rec.modseq;
            return 0;
        }
    }
    int dfd = dup(qfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return mailbox_ioerr(mb, "opendir", MBX_QUEUE_DIR);
    }
    rewinddir(d);
    size_t idlen = strlen(b->id);
    int r = CYRERR_INTERNAL;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *f = de->d_name;
        if ((f[0] != 'c' && f[0] != 'd' && f[0] != 'e') || f[1] != '.' ||
            strncmp(f + 2, b->id, idlen) || f[2 + idlen] != '.')
            continue;
        char *end;
        unsigned long v = strtoul(f + 3 + idlen, &end, 10);
        if (*end || v > UINT32_MAX) continue;
        if (f[0] == 'e') {
            r = v > 0 && v < 100000 ? -(int)v : CYRERR_INTERNAL;
            unlinkat(qfd, f, 0);
            break;
        }
        uint32_t first = (uint32_t)v;
        if (first == 0 || (uint64_t)first + b->n > mb->hdr.uidnext) continue;   /* not committed */
        /* d.: synced by the committer; c.: it died before saying so */
        if (f[0] == 'c' && (r = sync_appended(mb, b->n, first, 1))) break;
        res->uidvalidity = mb->hdr.uidvalidity;
        res->first_uid = first;
        res->last_uid = first + (uint32_t)b->n - 1;
        struct mailbox_record rec;
        res->modseq = mailbox_find_uid(mb, first, &rec) == 0 ? rec.modseq : mb->hdr.highestmodseq;
        unlinkat(qfd, f, 0);
        r = 0;
        break;
    }
    closedir(d);
    if (r == CYRERR_INTERNAL) {
        /* a committer died with it: it was never committed */
        xsyslog(LOG_ERR, "mailbox queued batch lost", "mailbox=<%s> batch=<%s>",
                mb->meta.name, b->id);
        r = CYRERR_IO;
    }
    return r;
}

/* Size of a message before it is copied (for the quota check). */
static int source_size(const struct mailbox_append_msg *m, uint64_t *sizep)
{
    struct stat st;
    switch (m->source) {
    case MAILBOX_SRC_DATA:
        *sizep = m->len;
        return 0;
    case MAILBOX_SRC_PATH:
        if (stat(m->path, &st) < 0) return errno == ENOENT ? CYRERR_NOTFOUND : CYRERR_IO;
        break;
    default:
        if (fstat(m->fd, &st) < 0) return CYRERR_BADARGS;
        break;
    }
    *sizep = (uint64_t)st.st_size;
    return 0;
}

/* Nobody else is appending and we hold the exclusive lock: write the
 * message files under their final names and commit, without the queue. */
static int append_direct(struct mailbox *mb, const struct mailbox_append_msg *msgs, size_t n,
                         int flags, struct mailbox_append_result *res)
{
    if ((uint64_t)mb->hdr.uidnext + n > UINT32_MAX) return CYRERR_LIMIT;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t sz;
        int r = source_size(&msgs[i], &sz);
        if (r) return r;
        if (sz > UINT32_MAX) return CYRERR_TOOBIG;
        bytes += sz;
    }
    struct mailbox_quota mq;
    int r = mailbox_quota_begin(mb, &mq);
    if (r) return r;
    if (!(flags & MAILBOX_APPEND_IGNOREQUOTA))
        r = mailbox_quota_fits(&mq, (long long)bytes, (long long)n);
    mailbox_quota_end(&mq);
    if (r) return r;

    struct qmsg *q = xcalloc(n, sizeof(*q));
    struct qmsg **ptrs = xmalloc(n * sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        strarray_init(&q[i].keywords);
        ptrs[i] = &q[i];
        for (size_t k = 0; k < msgs[i].nkeywords && !r; k++) {
            uint32_t bit;
            r = mailbox_keyword_bit(mb, msgs[i].keywords[k], 1, &bit);
            if (!r) q[i].user_flags[bit / 32] |= 1u << (bit % 32);
        }
    }
    if (!r) r = mailbox_txn_begin(mb);
    if (r) goto out;
    uint32_t first = mb->hdr.uidnext;
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    bytes = 0;
    for (size_t i = 0; i < n && !r; i++) {
        char name[32];
        mailbox_msgname(first + (uint32_t)i, name, sizeof(name));
        unlinkat(mb->dirfd, name, 0);   /* nothing at or past uidnext is real */
        uint32_t uflags[MAILBOX_KEYWORD_WORDS];
        memcpy(uflags, q[i].user_flags, sizeof(uflags));
        r = stage_one(mb, mb->dirfd, name, &msgs[i], flags, 1, &q[i], NULL);
        memcpy(q[i].user_flags, uflags, sizeof(uflags));
        q[i].token = append_token(getpid(), ++id_counter);
        bytes += q[i].size;
    }
    if (r) {
        mailbox_txn_abort(mb);   /* recovery removes the files written */
        goto out;
    }
    double t0 = mono_now();
    r = commit_tail(mb, ptrs, n, first, modseq);
    if (r) goto out;
    note_commit_time(mono_now() - t0);
    (void)mailbox_quota_charge(mb, (long long)bytes, (long long)n);
    res->uidvalidity = mb->hdr.uidvalidity;
    res->first_uid = first;
    res->last_uid = first + (uint32_t)n - 1;
    res->modseq = modseq;
out:
    for (size_t i = 0; i < n; i++) {
        strarray_free(&q[i].keywords);
        buf_free(&q[i].cache);
    }
    free(q);
    free(ptrs);
    return r;
}

/* Are batches of other appenders waiting in the queue?  (Under the lock;
 * leftovers of dead appenders found on the way are removed.) */
static int queue_pending(struct mailbox *mb)
{
    int qfd = openat(mb->dirfd, MBX_QUEUE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qfd < 0) return 0;
    int dfd = dup(qfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        close(qfd);
        return 0;
    }
    int pending = 0;
    struct strarray others;
    strarray_init(&others);
    struct dirent *de;
    while (!pending && (de = readdir(d))) {
        if ((de->d_name[0] == 'q' || de->d_name[0] == 'm') && de->d_name[1] == '.') pending = 1;
        else if (de->d_name[0] != '.') strarray_append(&others, de->d_name);
    }
    closedir(d);
    if (!pending && others.count) qbatch_sweep(qfd, &others, mb->hdr.uidnext);
    strarray_free(&others);
    close(qfd);
    return pending;
}

/* ---- gathering: waiting for the appenders of the last commit ------------ */

/* Appenders that have just had a group commit append again at once, as a
 * rule (a delivery agent working through its queue, a client uploading a
 * folder).  Were the next commit started the moment the lock is free, it
 * would carry only the batches staged during the last one: those appenders
 * stage while it runs and make up the one after, and the groups alternate
 * at about half the appenders each.  So an appender whose batch is still
 * queued first waits, holding no lock, until every process of the last
 * commit and every process with a batch queued has one queued (again);
 * then one of them commits them all.  The wait ends early when one of them
 * dies or somebody takes the exclusive lock, and lasts at most about as
 * long as one commit (past that a second commit costs less than waiting).
 * A lone appender never waits: the last commit was its own. */

#define GATHER_MAX 32          /* processes followed */
#define GATHER_MIN 0.0002      /* bounds of the wait (seconds) */
#define GATHER_LONGEST 0.002

struct gather {
    size_t n;
    pid_t pid[GATHER_MAX];
    unsigned char staged[GATHER_MAX];   /* has a batch queued */
};

static void gather_add(struct gather *g, pid_t pid, int staged)
{
    if (pid <= 0) return;
    for (size_t i = 0; i < g->n; i++)
        if (g->pid[i] == pid) {
            if (staged) g->staged[i] = 1;
            return;
        }
    if (g->n == GATHER_MAX) return;
    g->pid[g->n] = pid;
    g->staged[g->n++] = (unsigned char)(staged != 0);
}

/* The pid of a published batch's queue name (q. or m.), or 0. */
static pid_t staged_pid(const char *f)
{
    pid_t pid;
    if ((f[0] != 'q' && f[0] != 'm') || f[1] != '.' || !qbatch_parse_id(f + 2, &pid, NULL))
        return 0;
    return pid;
}

/* Follow the processes whose records the last transaction appended (the
 * records at the end of the index with the highest MODSEQ; lock held). */
static void gather_last_commit(struct mailbox *mb, struct gather *g)
{
    uint32_t nr = mb->hdr.num_records;
    for (uint32_t i = nr; i > 0 && nr - i < 4 * GATHER_MAX; i--) {
        struct mailbox_record rec;
        if (mailbox_read_record(mb, i - 1, &rec) || rec.modseq != mb->hdr.highestmodseq)
            break;
        gather_add(g, (pid_t)(rec.append_id >> 32), 0);
    }
}

static void gather_scan(int qfd, struct gather *g)
{
    int dfd = dup(qfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d))) gather_add(g, staged_pid(de->d_name), 1);
    closedir(d);
}

static int gather_complete(const struct gather *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (!g->staged[i]) return 0;
    return 1;
}

/* The inotify instance of the gathering waits (process-wide, made again
 * after fork: closing one waits for the kernel to retire it, which costs
 * more than the wait it serves) and its watch, kept on one queue
 * directory at a time. */
static int gather_ifd = -1;
static pid_t gather_ifd_pid;
static int gather_wd = -1;
static dev_t gather_dev;
static ino_t gather_ino;

/* Watch directory `qfd` (named `path`): the inotify descriptor, or -1. */
static int gather_watch(int qfd, const char *path)
{
    if (gather_ifd >= 0 && gather_ifd_pid != getpid()) {
        close(gather_ifd);                /* the parent's: not ours to read */
        gather_ifd = -1;
    }
    struct stat st;
    if (fstat(qfd, &st) < 0) return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (gather_ifd < 0) {
            gather_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
            if (gather_ifd < 0) return -1;
            gather_ifd_pid = getpid();
            gather_wd = -1;
        }
        if (gather_wd >= 0 && (st.st_dev != gather_dev || st.st_ino != gather_ino)) {
            inotify_rm_watch(gather_ifd, gather_wd);
            gather_wd = -1;
        }
        /* also tells whether the descriptor is still our instance (the
         * watch of a directory watched already keeps its number) */
        uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR;
        int wd = inotify_add_watch(gather_ifd, path, mask);
        if (wd >= 0) {
            gather_wd = wd;
            gather_dev = st.st_dev;
            gather_ino = st.st_ino;
            return gather_ifd;
        }
        if (errno != EBADF && errno != EINVAL) return -1;
        gather_ifd = -1;                  /* closed behind our back */
    }
    return -1;
}

/* Read the pending events: 1 when `own` (our entry) was taken away, since
 * a committer claims a batch by renaming it and removes a one-message
 * entry once it is synced; -1 when events were lost. */
static int gather_events(int ifd, struct gather *g, const char *own)
{
    union {
        struct inotify_event ev;
        char space[4096];
    } u;
    int ret = 0;
    ssize_t len;
    while ((len = read(ifd, u.space, sizeof(u.space))) > 0) {
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= len;) {
            const struct inotify_event *ev = (const void *)(u.space + off);
            off += (ssize_t)sizeof(struct inotify_event) + (ssize_t)ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                if (!ret) ret = -1;
            } else if (ev->wd != gather_wd || !ev->len) {
                continue;
            } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                if (own && !strcmp(ev->name, own)) ret = 1;
            } else if (g) {
                gather_add(g, staged_pid(ev->name), 1);
            }
        }
    }
    return ret;
}

/* Wait until every process followed has a batch queued (see above).
 * `own` is the name of our queue entry. */
static void gather_wait(struct mailbox *mb, int qfd, struct gather *g, const char *own)
{
    if (g->n < 2) return;                 /* nobody but us */
    char *qpath = xasprintf("%s/%s", mb->dir, MBX_QUEUE_DIR);
    int ifd = gather_watch(qfd, qpath);
    free(qpath);
    if (ifd < 0) return;
    (void)gather_events(ifd, NULL, NULL); /* old news */
    gather_scan(qfd, g);                  /* after the watch: nothing is missed */
    for (size_t i = 0; i < g->n; i++)
        if (!g->staged[i] && !mailbox_pid_alive(g->pid[i])) g->staged[i] = 1;
    double limit = commit_secs < GATHER_MIN   ? GATHER_MIN
                   : commit_secs > GATHER_LONGEST ? GATHER_LONGEST
                                                  : commit_secs;
    double end = mono_now() + limit;
    while (!gather_complete(g)) {
        double left = end - mono_now();
        if (left <= 0 || mailbox_lock_holder(mb) == F_WRLCK) break;
        struct pollfd pfd = { .fd = ifd, .events = POLLIN };
        struct timespec ts = { 0, (long)(left * 1e9) };
        if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR) break;
        int ev = gather_events(ifd, g, own);
        if (ev > 0) break;                /* somebody committed us */
        if (ev < 0) gather_scan(qfd, g);
    }
}

/* Stage a batch in the queue, then commit it with everything else queued
 * (under the lock the caller holds, or once we get it). */
static int append_queued(struct mailbox *mb, const struct mailbox_append_msg *msgs, size_t n,
                         int flags, struct mailbox_append_result *res)
{
    int qfd = open_queue(mb);
    if (qfd < 0) return mailbox_ioerr(mb, "open", MBX_QUEUE_DIR);

    struct qbatch b;
    memset(&b, 0, sizeof(b));
    uint32_t counter;
    b.id = make_id(&counter);
    b.pid = getpid();
    b.flags = (uint32_t)(flags & MAILBOX_APPEND_IGNOREQUOTA);
    b.n = n;
    b.msgs = xcalloc(n, sizeof(*b.msgs));
    for (size_t i = 0; i < n; i++) strarray_init(&b.msgs[i].keywords);
    /* no UID it gets can be below what this handle last saw */
    uint32_t from = mb->hdr.uidnext;
    int r = 0;
    char tname[128], qname[160];
    if (n == 1 && !msgs[0].nkeywords && !msgs[0].cache && !msgs[0].guid) {
        /* one file, described by its name; the committer reads it */
        struct mailbox_append_msg one = msgs[0];
        if (!one.internaldate) one.internaldate = time(NULL);
        snprintf(tname, sizeof(tname), "t.%s.0", b.id);
        snprintf(qname, sizeof(qname), "m.%s.%lld.%u.%d.%u", b.id,
                 (long long)one.internaldate, one.system_flags,
                 (flags & MAILBOX_APPEND_IGNOREQUOTA) ? 1 : 0, from);
        r = stage_one(mb, qfd, tname, &one, flags, 0, &b.msgs[0], qname);
        if (r) goto out;
        b.msgs[0].token = append_token(b.pid, counter);
        b.mname = xstrdup(qname);
        goto wait;
    }
    size_t staged = 0;
    for (; staged < n; staged++) {
        char sname[128];
        qbatch_stage_name(sname, sizeof(sname), b.id, staged);
        r = stage_one(mb, qfd, sname, &msgs[staged], flags, 1, &b.msgs[staged], NULL);
        if (r) break;
        b.msgs[staged].token = append_token(b.pid, ++id_counter);
        b.bytes += b.msgs[staged].size;
    }
    if (r) {
        qbatch_discard(qfd, b.id, staged);
        goto out;
    }
    struct buf desc = BUF_INITIALIZER;
    qbatch_encode(&b, &desc);
    snprintf(tname, sizeof(tname), "t.%s", b.id);
    snprintf(qname, sizeof(qname), "q.%s", b.id);
    int fd = mailbox_io_openat(qfd, tname, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 || mailbox_io_write(fd, buf_base(&desc), buf_len(&desc)) < 0 ||
        mailbox_io_renameat(qfd, tname, qfd, qname, 0) < 0) {
        r = mailbox_ioerr(mb, "queue", tname);
        if (fd >= 0) close(fd);
        buf_free(&desc);
        qbatch_discard(qfd, b.id, n);
        goto out;
    }
    close(fd);
    buf_free(&desc);

wait:;
    int took = 0;
    if (mb->lockmode == MAILBOX_LOCK_NONE) {
        /* wait as a reader while a committer is at work: the appenders
         * waiting behind it all learn at once whether it took their batch
         * too; commit ourselves only when nobody else is about to */
        for (int round = 0; round < 100; round++) {
            r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
            if (r) break;
            r = collect(mb, qfd, &b, from, res);
            struct gather g;
            g.n = 0;
            gather_add(&g, b.pid, 1);
            if (r == NOT_DONE) gather_last_commit(mb, &g);
            mailbox_unlock(mb);
            if (r != NOT_DONE) goto out;
            gather_wait(mb, qfd, &g, b.mname ? b.mname : qname);
            r = mailbox_trylock_exclusive(mb);
            if (r != CYRERR_LOCKED) break;
            if (mailbox_lock_holder(mb) == F_RDLCK) {
                r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);   /* readers leave soon */
                break;
            }
        }
        if (r == CYRERR_LOCKED) r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
        if (r) {
            /* withdraw the batch unless a committer has it already */
            if (mailbox_io_renameat(qfd, qname, qfd, tname, 0) == 0)
                qbatch_discard(qfd, b.id, n);
            goto out;
        }
        took = 1;
    }
    r = collect(mb, qfd, &b, from, res);
    if (r == NOT_DONE) {
        int done = 0;
        r = drain(mb, qfd, b.id, res, &done);
        if (r || !done) {
            if (!r) r = CYRERR_INTERNAL;
            qbatch_discard(qfd, b.id, n);
            if (b.mname) unlinkat(qfd, b.mname, 0);
        }
    }
    mailbox_autounlock(mb, took);
out:
    close(qfd);
    qbatch_free(&b);
    return r;
}

int mailbox_append(struct mailbox *mb, const struct mailbox_append_msg *msgs, size_t n,
                   int flags, struct mailbox_append_result *res)
{
    struct mailbox_append_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof(*res));
    if (!mb || !msgs || n == 0 || n > MAILBOX_APPEND_MAX) return CYRERR_BADARGS;
    if (flags & ~(MAILBOX_APPEND_IGNOREQUOTA | MAILBOX_APPEND_LINK)) return CYRERR_BADARGS;
    if (mb->lockmode == MAILBOX_LOCK_SHARED || mb->txn) return CYRERR_BADARGS;
    for (size_t i = 0; i < n; i++) {
        int r = validate_msg(&msgs[i]);
        if (r) return r;
    }
    /* the caller holds the lock: it appends alone */
    if (mb->lockmode == MAILBOX_LOCK_EXCLUSIVE) return append_direct(mb, msgs, n, flags, res);
    /* others appended beside us a moment ago: stage first, so that
     * whoever holds the lock commits us together with them */
    if (contended_recently()) return append_queued(mb, msgs, n, flags, res);
    /* uncontended: no queue; contended (or others queued): group commit */
    int r = mailbox_trylock_exclusive(mb);
    if (r == CYRERR_LOCKED) {
        note_contention();
        return append_queued(mb, msgs, n, flags, res);
    }
    if (r) return r;
    if (queue_pending(mb)) {
        note_contention();
        r = append_queued(mb, msgs, n, flags, res);
    } else {
        r = append_direct(mb, msgs, n, flags, res);
    }
    mailbox_unlock(mb);
    return r;
}
