/* mailbox_reconstruct: rebuilding a mailbox's index and cache from its
 * message files (the reconstruct tool).
 *
 * Under the exclusive and cleanup locks: cyrus.header is read (or, when
 * lost, recreated from the caller's name and unique id and the quota
 * database); then the normal recovery runs (a crash is not damage and is
 * not reported); then every message file (a regular file "<uid>.") is
 * read (size, SHA-1, header length) and matched by UID with the records
 * that can still be read.  Records that match keep their flags, dates and
 * MODSEQ; the rest is reported as a fix: files without a record are added,
 * records without a file dropped, changed files and damaged cache records
 * re-read, wrong counts recounted, keyword bits without a name cleared, a
 * lost cyrus.header rewritten.  When there is something to fix (and this
 * is no dry run), a new index and cache are written and renamed in as a
 * compaction does, with the generation bumped so that sessions resync.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "imap/store/quota.h"

struct rc {
    struct mailbox *mb;
    const char *uniqueid;     /* from mailboxes.db, or NULL */
    mailbox_reconstruct_cb *cb;
    void *rock;
    unsigned nfixes;
};

static void fix(struct rc *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fix(struct rc *rc, const char *fmt, ...)
{
    struct buf b = BUF_INITIALIZER;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rc->nfixes++;
    xsyslog(LOG_NOTICE, "reconstruct", "dir=<%s> fix=<%s>", rc->mb->dir, buf_cstring(&b));
    if (rc->cb) rc->cb(rc->rock, buf_cstring(&b));
    buf_free(&b);
}

/* A message file as read. */
struct msgfile {
    uint32_t uid;
    uint32_t size;
    uint32_t header_size;
    unsigned char guid[MAILBOX_GUID_LEN];
    int64_t mtime;
    int readable;
};

static int cmp_file(const void *a, const void *b)
{
    uint32_t x = ((const struct msgfile *)a)->uid, y = ((const struct msgfile *)b)->uid;
    return x < y ? -1 : x > y;
}

static int cmp_rec(const void *a, const void *b)
{
    uint32_t x = ((const struct mailbox_record *)a)->uid, y = ((const struct mailbox_record *)b)->uid;
    return x < y ? -1 : x > y;
}

/* Map message file `uid`; *lenp = 0 with NULL for an empty file. */
static int map_msg(struct mailbox *mb, uint32_t uid, const char **basep, size_t *lenp,
                   struct stat *st)
{
    char name[32];
    mailbox_msgname(uid, name, sizeof(name));
    *basep = NULL;
    *lenp = 0;
    /* O_NONBLOCK: a FIFO put there meanwhile must not hang us */
    int fd = openat(mb->dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return CYRERR_IO;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || (uint64_t)st->st_size > UINT32_MAX) {
        close(fd);
        return CYRERR_IO;
    }
    if (st->st_size > 0) {
        void *p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return CYRERR_IO;
        }
        *basep = p;
        *lenp = (size_t)st->st_size;
    }
    close(fd);
    return 0;
}

static void unmap_msg(const char *base, size_t len)
{
    if (base) munmap((void *)base, len);
}

static void read_file(struct mailbox *mb, struct msgfile *f)
{
    const char *base;
    size_t len;
    struct stat st;
    if (map_msg(mb, f->uid, &base, &len, &st)) return;
    unsigned int dl = 0;
    if (!EVP_Digest(base ? base : "", len, f->guid, &dl, EVP_sha1(), NULL))
        fatal(EX_TEMPFAIL_CODE, "SHA-1 unavailable");
    f->size = (uint32_t)len;
    f->header_size = (uint32_t)mailbox_header_len(base ? base : "", len);
    f->mtime = (int64_t)st.st_mtime;
    f->readable = 1;
    unmap_msg(base, len);
}

/* Cache record of message `uid` built from its file. */
static int encode_cache(struct mailbox *mb, uint32_t uid, struct buf *out)
{
    const char *base;
    size_t len;
    struct stat st;
    buf_reset(out);
    int r = map_msg(mb, uid, &base, &len, &st);
    if (r) return r;
    mailbox_cache_encoder()(base ? base : "", len, out);
    unmap_msg(base, len);
    return 0;
}

/* The records that can be read, sorted by UID, duplicates dropped. */
static struct mailbox_record *read_old_records(struct rc *rc, int healthy, size_t *np)
{
    struct mailbox *mb = rc->mb;
    *np = 0;
    size_t n = 0;
    if (healthy) {
        n = mb->hdr.num_records;
    } else if (mb->indexfd >= 0) {
        struct stat st;
        if (fstat(mb->indexfd, &st) == 0 && st.st_size > MBX_HEADER_SIZE) {
            n = (size_t)(st.st_size - MBX_HEADER_SIZE) / MBX_RECORD_SIZE;
            if (mailbox_map_index(mb, MBX_HEADER_SIZE + n * MBX_RECORD_SIZE)) n = 0;
        }
    }
    struct mailbox_record *recs = xmalloc((n ? n : 1) * sizeof(*recs));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = mb->imap + MBX_HEADER_SIZE + i * MBX_RECORD_SIZE;
        if (mailbox_rec_decode(p, (uint32_t)i, &recs[k])) {
            if (healthy) fix(rc, "record %zu damaged: dropped", i);
            continue;
        }
        k++;
    }
    qsort(recs, k, sizeof(*recs), cmp_rec);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && recs[u - 1].uid == recs[i].uid) {
            fix(rc, "uid %u: duplicate record dropped", recs[i].uid);
            continue;
        }
        recs[u++] = recs[i];
    }
    *np = u;
    return recs;
}

/* Could `name` be a message file?  Directories (a child mailbox's, in
 * some layouts), FIFOs, sockets and devices are not, and are left alone.
 * An entry that cannot be examined (a dangling link) is kept: reading it
 * fails and that is reported. */
static int maybe_msgfile(struct mailbox *mb, const char *name)
{
    struct stat st;
    if (fstatat(mb->dirfd, name, &st, 0) < 0) return 1;
    return S_ISREG(st.st_mode);
}

static struct msgfile *list_files(struct mailbox *mb, size_t *np)
{
    size_t n = 0, alloc = 64;
    struct msgfile *files = xmalloc(alloc * sizeof(*files));
    int dfd = dup(mb->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d) {
        rewinddir(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            uint32_t uid = mailbox_parse_msgname(de->d_name);
            if (!uid || !maybe_msgfile(mb, de->d_name)) continue;
            if (n == alloc) {
                alloc *= 2;
                files = xreallocarray(files, alloc, sizeof(*files));
            }
            memset(&files[n], 0, sizeof(files[n]));
            files[n++].uid = uid;
        }
        closedir(d);
    } else if (dfd >= 0) {
        close(dfd);
    }
    qsort(files, n, sizeof(*files), cmp_file);
    *np = n;
    return files;
}

/* Is the cache record of `rec` in the old cache and intact? */
static int cache_ok(struct mailbox *mb, int healthy, const struct mailbox_record *rec,
                    const void **blobp)
{
    *blobp = NULL;
    if (!mb->cmap) return 0;
    uint64_t end = rec->cache_offset + rec->cache_len;
    uint64_t limit = healthy ? mb->hdr.cache_size : mb->cmap_valid;
    if (rec->cache_offset < MBX_CACHE_HDR_SIZE || end > limit) return 0;
    if (mailbox_map_cache(mb, (size_t)end)) return 0;
    const unsigned char *p = mb->cmap + rec->cache_offset;
    if (mailbox_checksum(p, rec->cache_len) != rec->cache_sum) return 0;
    *blobp = p;
    return 1;
}

/* cyrus.header is lost: make it again from what is known elsewhere -- the
 * unique id from mailboxes.db (given by the caller) and the quota root
 * from the quota database (the nearest root, as quota -f finds it).  The
 * keyword names lived only in this file. */
static void recreate_meta(struct rc *rc, const char *name, const char *why)
{
    struct mailbox *mb = rc->mb;
    struct buf note = BUF_INITIALIZER;
    mailbox_meta_free(&mb->meta);
    mailbox_meta_init(&mb->meta);
    mb->meta.name = xstrdup(name);
    if (rc->uniqueid) {
        mb->meta.uniqueid = xstrdup(rc->uniqueid);
        buf_appendcstr(&note, "unique id from mailboxes.db");
    } else {
        mb->meta.uniqueid = mailbox_make_uniqueid();
        buf_appendcstr(&note, "new unique id");
    }
    char *root = NULL;
    int r = quota_lookup_root(name, &root);
    if (r)
        buf_printf(&note, ", quota root unknown (quota database: %s; run quota -f)",
                   error_message(r));
    else if (root)
        buf_printf(&note, ", quota root %s", root);
    else
        buf_appendcstr(&note, ", no quota root");
    mb->meta.quotaroot = root;
    fix(rc, "cyrus.header %s: recreated (%s)", why, buf_cstring(&note));
    buf_free(&note);
}

/* Read cyrus.header, or recreate it when it is missing or damaged and the
 * caller said which mailbox this is.  A header that cannot be read (I/O
 * error) is not replaced: that would lose its keyword names for good. */
static int meta_fixes(struct rc *rc, const char *name, int *meta_changed)
{
    struct mailbox *mb = rc->mb;
    *meta_changed = 0;
    struct mbx_meta m;
    mailbox_meta_init(&m);
    int r = mailbox_meta_read(mb->dirfd, &m);
    if (!r) {
        mailbox_meta_free(&mb->meta);
        mb->meta = m;
    } else {
        mailbox_meta_free(&m);
        if (r != CYRERR_NOTFOUND && r != CYRERR_CORRUPT) return r;
        if (!name) return CYRERR_BADARGS;   /* cannot know what it is */
        recreate_meta(rc, name, r == CYRERR_NOTFOUND ? "missing" : "damaged");
        *meta_changed = 1;
    }
    if (name && strcmp(mb->meta.name, name)) {
        fix(rc, "cyrus.header names mailbox %s: renamed to %s", mb->meta.name, name);
        free(mb->meta.name);
        mb->meta.name = xstrdup(name);
        *meta_changed = 1;
    }
    return 0;
}

static int rebuild(struct rc *rc, const char *name, int flags)
{
    struct mailbox *mb = rc->mb;
    /* cyrus.header first: the index is judged by itself, so that a lost
     * header does not make a sound index look damaged */
    int meta_changed;
    int r = meta_fixes(rc, name, &meta_changed);
    if (r) return r;
    int need = 0;
    r = mailbox_refresh_index(mb, &need);
    if (!r && need) r = mailbox_recover(mb, 0);
    int healthy = r == 0;
    if (r == CYRERR_MAILBOX_NONEXISTENT && mb->indexfd < 0) {
        fix(rc, "cyrus.index missing: created");
    } else if (r) {
        fix(rc, "cyrus.index unusable (%s): rebuilt", error_message(r));
    }
    if (!healthy) {
        /* keep what the broken files still tell */
        if (mb->indexfd < 0) {
            mb->indexfd = openat(mb->dirfd, MBX_INDEX_FNAME, O_RDONLY | O_CLOEXEC);
            mb->cachefd = openat(mb->dirfd, MBX_CACHE_FNAME, O_RDONLY | O_CLOEXEC);
        }
        struct mbx_header old;
        int slot;
        memset(&old, 0, sizeof(old));
        if (mb->indexfd >= 0 && mailbox_map_index(mb, MBX_HEADER_SIZE) == 0 &&
            mailbox_hdr_pick(mb->imap, -1, &old, &slot) == 0) {
            mb->hdr = old;
        } else {
            memset(&mb->hdr, 0, sizeof(mb->hdr));
            mb->hdr.uidvalidity = (uint32_t)time(NULL);
            mb->hdr.uidnext = 1;
            mb->hdr.highestmodseq = 1;
        }
        if (mb->cachefd >= 0) {
            struct stat st;
            if (fstat(mb->cachefd, &st) == 0 && st.st_size >= MBX_CACHE_HDR_SIZE)
                (void)mailbox_map_cache(mb, (size_t)st.st_size);
        }
    }
    uint32_t nkw = (uint32_t)mb->meta.keywords.count;
    if (nkw < mb->hdr.num_keywords)
        fix(rc, "%u keyword names missing from cyrus.header: unrecoverable, their flags cleared",
            mb->hdr.num_keywords - nkw);

    size_t nold, nfiles;
    struct mailbox_record *old = read_old_records(rc, healthy, &nold);
    struct msgfile *files = list_files(mb, &nfiles);
    for (size_t i = 0; i < nfiles; i++) read_file(mb, &files[i]);

    struct mbx_header base = mb->hdr;
    uint64_t newmodseq = base.highestmodseq + 1;
    for (size_t i = 0; i < nold; i++)
        if (old[i].modseq >= newmodseq) newmodseq = old[i].modseq + 1;
    int64_t now = (int64_t)time(NULL);

    /* the records to write, with a flag for "cache must be rebuilt" */
    size_t cap = nold + nfiles + 1, nnew = 0;
    struct mailbox_record *out = xmalloc(cap * sizeof(*out));
    unsigned char *recache = xzmalloc(cap);
    struct mbx_header count;
    memset(&count, 0, sizeof(count));

    uint32_t tidied = 0;
    size_t i = 0, j = 0;
    while (i < nold || j < nfiles) {
        struct mailbox_record *o = i < nold ? &old[i] : NULL;
        struct msgfile *f = j < nfiles ? &files[j] : NULL;
        if (f && !f->readable) {
            fix(rc, "uid %u: message file unreadable: ignored", f->uid);
            j++;
            continue;
        }
        if (o && (!f || o->uid < f->uid)) {
            i++;
            if (!(o->system_flags & MAILBOX_FLAG_EXPUNGED)) {
                fix(rc, "uid %u: message file missing: record removed", o->uid);
                continue;
            }
            /* expunged and its file gone (a cleanup may have been cut short
             * before marking it): normal, only tidied if we rewrite */
            if (!(o->system_flags & MAILBOX_FLAG_UNLINKED)) tidied++;
            o->system_flags |= MAILBOX_FLAG_UNLINKED;
            out[nnew++] = *o;
            continue;
        }
        if (!o || f->uid < o->uid) {
            j++;
            struct mailbox_record rec;
            memset(&rec, 0, sizeof(rec));
            rec.uid = f->uid;
            rec.internaldate = f->mtime;
            rec.modseq = newmodseq;
            rec.size = f->size;
            rec.header_size = f->header_size;
            memcpy(rec.guid, f->guid, MAILBOX_GUID_LEN);
            rec.last_updated = now;
            fix(rc, "uid %u: message file without record: added", f->uid);
            recache[nnew] = 1;
            out[nnew++] = rec;
            continue;
        }
        /* both */
        i++;
        j++;
        struct mailbox_record rec = *o;
        if (rec.size != f->size || memcmp(rec.guid, f->guid, MAILBOX_GUID_LEN)) {
            fix(rc, "uid %u: message file differs from its record: record updated", f->uid);
            rec.size = f->size;
            rec.header_size = f->header_size;
            memcpy(rec.guid, f->guid, MAILBOX_GUID_LEN);
            rec.modseq = newmodseq;
            recache[nnew] = 1;
        } else if (rec.header_size != f->header_size) {
            fix(rc, "uid %u: header size corrected", f->uid);
            rec.header_size = f->header_size;
        }
        if (rec.system_flags & MAILBOX_FLAG_UNLINKED) {
            fix(rc, "uid %u: file of an expunged message still present: kept for cleanup", f->uid);
            rec.system_flags &= ~MAILBOX_FLAG_UNLINKED;
        }
        if (rec.system_flags & ~(MAILBOX_FLAGS_SETTABLE | MAILBOX_FLAG_EXPUNGED | MAILBOX_FLAG_UNLINKED)) {
            fix(rc, "uid %u: unknown flag bits cleared", f->uid);
            rec.system_flags &= MAILBOX_FLAGS_SETTABLE | MAILBOX_FLAG_EXPUNGED;
        }
        for (uint32_t w = 0; w < MAILBOX_KEYWORD_WORDS; w++) {
            uint32_t valid = nkw >= (w + 1) * 32 ? 0xffffffffu
                           : nkw <= w * 32 ? 0 : (1u << (nkw - w * 32)) - 1;
            if (rec.user_flags[w] & ~valid) {
                fix(rc, "uid %u: keyword bits without a name cleared", f->uid);
                rec.user_flags[w] &= valid;
                rec.modseq = newmodseq;
            }
        }
        const void *blob;
        if (!recache[nnew] && !cache_ok(mb, healthy, &rec, &blob)) {
            if (!(rec.system_flags & MAILBOX_FLAG_EXPUNGED))
                fix(rc, "uid %u: cache record damaged: rebuilt", f->uid);
            recache[nnew] = 1;
        }
        out[nnew++] = rec;
    }
    if (healthy && !rc->nfixes) {
        for (size_t k = 0; k < nnew; k++) mailbox_hdr_count(&count, &out[k], +1);
        const struct mbx_header *h = &mb->hdr;
        if (count.exists != h->exists || count.expunged != h->expunged ||
            count.unlinked - tidied != h->unlinked || count.answered != h->answered ||
            count.flagged != h->flagged || count.deleted != h->deleted ||
            count.seen != h->seen || count.draft != h->draft ||
            count.quota_used != h->quota_used || nnew != h->num_records)
            fix(rc, "header counts differ from the records: recounted");
    }

    if (!rc->nfixes || (flags & MAILBOX_RECONSTRUCT_DRYRUN)) goto done;

    if (meta_changed || mb->meta.keywords.count != (int)base.num_keywords) {
        r = mailbox_meta_write(mb->dirfd, &mb->meta);
        if (r) goto done;
    }
    base.num_keywords = nkw;
    struct mbx_builder b;
    r = mailbox_builder_start(mb, &b);
    if (r) goto done;
    struct buf blob = BUF_INITIALIZER;
    for (size_t k = 0; k < nnew && !r; k++) {
        const void *p = NULL;
        size_t len = 0;
        if (!recache[k] && cache_ok(mb, healthy, &out[k], &p)) {
            len = out[k].cache_len;
        } else if (!(out[k].system_flags & MAILBOX_FLAG_UNLINKED)) {
            r = encode_cache(mb, out[k].uid, &blob);
            p = buf_base(&blob);
            len = buf_len(&blob);
        }
        if (!r) r = mailbox_builder_add(mb, &b, &out[k], p, len);
    }
    buf_free(&blob);
    struct mbx_header nh;
    if (!r) r = mailbox_builder_finish(mb, &b, &base, &nh);
    if (r) {
        mailbox_builder_abort(mb, &b);
        goto done;
    }
    if (mb->cachefd < 0 || mb->indexfd < 0) {
        /* nothing to replace atomically: just put the new files in */
        if (mailbox_io_renameat(mb->dirfd, MBX_CACHE_NEW, mb->dirfd, MBX_CACHE_FNAME, 0) < 0 ||
            mailbox_io_renameat(mb->dirfd, MBX_INDEX_NEW, mb->dirfd, MBX_INDEX_FNAME, 0) < 0 ||
            mailbox_io_fsync(mb->dirfd) < 0)
            r = mailbox_ioerr(mb, "rename", MBX_INDEX_NEW);
        if (!r) r = mailbox_open_files(mb);
    } else {
        r = mailbox_install_new_files(mb);
    }
    if (!r && mailbox_io_mkdirat(mb->dirfd, MBX_QUEUE_DIR, 0777) < 0 && errno != EEXIST)
        r = mailbox_ioerr(mb, "mkdir", MBX_QUEUE_DIR);
    if (!r && healthy && nh.quota_used != base.quota_used)
        (void)mailbox_quota_charge(mb, (long long)nh.quota_used - (long long)base.quota_used,
                                   (long long)nh.exists - (long long)base.exists);
done:
    free(out);
    free(recache);
    free(old);
    free(files);
    return r;
}

/* A unique id fit for cyrus.header: one printable word. */
static int uniqueid_ok(const char *s)
{
    if (!*s || strlen(s) > 128) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) return 0;
    return 1;
}

int mailbox_reconstruct(const char *dir, const char *name, int flags,
                        mailbox_reconstruct_cb *cb, void *rock, unsigned *nfixes)
{
    return mailbox_reconstruct_entry(dir, name, NULL, flags, cb, rock, nfixes);
}

int mailbox_reconstruct_entry(const char *dir, const char *name, const char *uniqueid,
                              int flags, mailbox_reconstruct_cb *cb, void *rock,
                              unsigned *nfixes)
{
    if (nfixes) *nfixes = 0;
    if (!dir || !*dir || (flags & ~MAILBOX_RECONSTRUCT_DRYRUN)) return CYRERR_BADARGS;
    if (uniqueid && !uniqueid_ok(uniqueid)) return CYRERR_BADARGS;
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) return CYRERR_MAILBOX_NONEXISTENT;
    struct mailbox *mb;
    int r = mailbox_handle_attach(dir, &mb);
    if (r) return r;
    r = mailbox_lock_byte(mb->lockfd, MBX_LOCK_CLEANUP, F_WRLCK, 1);
    if (!r) mb->cleanup_locked = 1;
    if (!r) r = mailbox_lock_raw(mb, MAILBOX_LOCK_EXCLUSIVE, 1);
    if (r) {
        mailbox_handle_free(mb);
        return r;
    }
    mb->lockmode = MAILBOX_LOCK_EXCLUSIVE;
    struct rc rc = { mb, uniqueid, cb, rock, 0 };
    r = rebuild(&rc, name, flags);
    if (nfixes) *nfixes = rc.nfixes;
    mailbox_handle_free(mb);
    return r;
}
