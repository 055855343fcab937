/* mailbox_cleanup: removing expunged messages for good, and the builder of
 * new index/cache files that compaction and reconstruct share.
 *
 * Cleanup runs only when no other handle has the mailbox open (the session
 * lock byte), unless forced, and one at a time (the cleanup lock byte).
 *   1. unlink: under a shared lock list the expunged records whose files
 *      remain; remove the files (no lock), fsync the directory, then mark
 *      the records UNLINKED in one short exclusive transaction;
 *   2. compact (past a threshold): copy the records that are not
 *      expunged-and-unlinked, with their cache records, into
 *      cyrus.index.NEW / cyrus.cache.NEW, a few thousand records per shared
 *      lock so that writers are never held up long; then under the
 *      exclusive lock catch up with what changed meanwhile (the change log,
 *      or a MODSEQ compare when the log restarted; new records at the end),
 *      write the header with generation + 1 and rename both files in.
 * Readers notice the new index file at their next lock and follow by UID.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"

#define CHUNK 4096
#define DROPPED UINT32_MAX

/* ---- the builder ------------------------------------------------------------ */

int mailbox_builder_start(struct mailbox *mb, struct mbx_builder *b)
{
    memset(b, 0, sizeof(*b));
    b->ifd = b->cfd = -1;
    b->cache_id = mailbox_random64();
    b->coff = MBX_CACHE_HDR_SIZE;
    b->ifd = mailbox_io_openat(mb->dirfd, MBX_INDEX_NEW, O_RDWR | O_CREAT | O_TRUNC, 0666);
    if (b->ifd < 0) return mailbox_ioerr(mb, "create", MBX_INDEX_NEW);
    b->cfd = mailbox_io_openat(mb->dirfd, MBX_CACHE_NEW, O_RDWR | O_CREAT | O_TRUNC, 0666);
    if (b->cfd < 0) {
        int r = mailbox_ioerr(mb, "create", MBX_CACHE_NEW);
        mailbox_builder_abort(mb, b);
        return r;
    }
    unsigned char zero[MBX_HEADER_SIZE];
    memset(zero, 0, sizeof(zero));
    buf_appendmap(&b->ibuf, zero, sizeof(zero));
    unsigned char ch[MBX_CACHE_HDR_SIZE];
    mailbox_cachehdr_encode(b->cache_id, ch);
    buf_appendmap(&b->cbuf, ch, sizeof(ch));
    return 0;
}

int mailbox_builder_add(struct mailbox *mb, struct mbx_builder *b,
                        struct mailbox_record *rec, const void *blob, size_t len)
{
    rec->recno = b->nrec++;
    rec->cache_offset = b->coff;
    rec->cache_len = (uint32_t)len;
    rec->cache_sum = mailbox_checksum(blob ? blob : "", len);
    b->coff += len;
    unsigned char enc[MBX_RECORD_SIZE];
    mailbox_rec_encode(rec, enc);
    buf_appendmap(&b->ibuf, enc, sizeof(enc));
    if (len) buf_appendmap(&b->cbuf, blob, len);
    if (buf_len(&b->ibuf) + buf_len(&b->cbuf) > (4u << 20)) return mailbox_builder_flush(mb, b);
    return 0;
}

int mailbox_builder_flush(struct mailbox *mb, struct mbx_builder *b)
{
    if (buf_len(&b->ibuf)) {
        if (mailbox_io_pwrite(b->ifd, buf_base(&b->ibuf), buf_len(&b->ibuf), b->iend) < 0)
            return mailbox_ioerr(mb, "write", MBX_INDEX_NEW);
        b->iend += (off_t)buf_len(&b->ibuf);
        buf_reset(&b->ibuf);
    }
    if (buf_len(&b->cbuf)) {
        if (mailbox_io_pwrite(b->cfd, buf_base(&b->cbuf), buf_len(&b->cbuf), b->cend) < 0)
            return mailbox_ioerr(mb, "write", MBX_CACHE_NEW);
        b->cend += (off_t)buf_len(&b->cbuf);
        buf_reset(&b->cbuf);
    }
    return 0;
}

int mailbox_builder_rewrite(struct mailbox *mb, struct mbx_builder *b,
                            const struct mailbox_record *rec)
{
    int r = mailbox_builder_flush(mb, b);
    if (r) return r;
    unsigned char enc[MBX_RECORD_SIZE];
    mailbox_rec_encode(rec, enc);
    if (mailbox_io_pwrite(b->ifd, enc, sizeof(enc),
                          MBX_HEADER_SIZE + (off_t)rec->recno * MBX_RECORD_SIZE) < 0)
        return mailbox_ioerr(mb, "write", MBX_INDEX_NEW);
    return 0;
}

/* Read back record `recno` of the new index. */
int mailbox_builder_read(struct mailbox *mb, struct mbx_builder *b, uint32_t recno,
                         struct mailbox_record *rec)
{
    int r = mailbox_builder_flush(mb, b);
    if (r) return r;
    unsigned char enc[MBX_RECORD_SIZE];
    if (pread(b->ifd, enc, sizeof(enc), MBX_HEADER_SIZE + (off_t)recno * MBX_RECORD_SIZE) !=
        (ssize_t)sizeof(enc))
        return mailbox_ioerr(mb, "read", MBX_INDEX_NEW);
    return mailbox_rec_decode(enc, recno, rec);
}

int mailbox_builder_finish(struct mailbox *mb, struct mbx_builder *b,
                           const struct mbx_header *base, struct mbx_header *out)
{
    int r = mailbox_builder_flush(mb, b);
    if (r) return r;
    struct mbx_header nh = *base;
    nh.exists = nh.expunged = nh.unlinked = 0;
    nh.answered = nh.flagged = nh.deleted = nh.seen = nh.draft = 0;
    nh.quota_used = 0;
    nh.num_records = b->nrec;
    /* recount from what was written */
    size_t len = (size_t)b->nrec * MBX_RECORD_SIZE;
    unsigned char *recs = xmalloc(len ? len : 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(b->ifd, recs + got, len - got, MBX_HEADER_SIZE + (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got != len) {
        free(recs);
        return mailbox_ioerr(mb, "read", MBX_INDEX_NEW);
    }
    uint32_t last = 0;
    for (uint32_t i = 0; i < b->nrec; i++) {
        struct mailbox_record rec;
        if (mailbox_rec_decode(recs + (size_t)i * MBX_RECORD_SIZE, i, &rec) || rec.uid <= last) {
            free(recs);
            xsyslog(LOG_ERR, "mailbox rewrite produced a bad record", "mailbox=<%s> recno=<%u>",
                    mb->meta.name, i);
            return CYRERR_INTERNAL;
        }
        last = rec.uid;
        mailbox_hdr_count(&nh, &rec, +1);
        if (rec.modseq > nh.highestmodseq) nh.highestmodseq = rec.modseq;
    }
    free(recs);
    if (last >= nh.uidnext) nh.uidnext = last + 1;
    nh.cache_size = b->coff;
    nh.cache_id = b->cache_id;
    nh.generation = base->generation + 1;
    nh.changes_epoch = base->changes_epoch + 1;
    nh.changes_len = 0;
    nh.flags = 0;
    nh.bootid = mailbox_io_bootid();
    nh.seq = base->seq + 1;
    unsigned char hdr[MBX_HEADER_SIZE];
    memset(hdr, 0, sizeof(hdr));
    mailbox_hdr_encode(&nh, hdr);
    if (mailbox_io_pwrite(b->ifd, hdr, sizeof(hdr), 0) < 0)
        return mailbox_ioerr(mb, "write", MBX_INDEX_NEW);
    if (mailbox_io_fdatasync(b->cfd) < 0) return mailbox_ioerr(mb, "fdatasync", MBX_CACHE_NEW);
    if (mailbox_io_fdatasync(b->ifd) < 0) return mailbox_ioerr(mb, "fdatasync", MBX_INDEX_NEW);
    close(b->ifd);
    close(b->cfd);
    b->ifd = b->cfd = -1;
    buf_free(&b->ibuf);
    buf_free(&b->cbuf);
    if (out) *out = nh;
    return 0;
}

void mailbox_builder_abort(struct mailbox *mb, struct mbx_builder *b)
{
    if (b->ifd >= 0) close(b->ifd);
    if (b->cfd >= 0) close(b->cfd);
    b->ifd = b->cfd = -1;
    unlinkat(mb->dirfd, MBX_INDEX_NEW, 0);
    unlinkat(mb->dirfd, MBX_CACHE_NEW, 0);
    buf_free(&b->ibuf);
    buf_free(&b->cbuf);
}

/* ---- unlinking ------------------------------------------------------------------ */

static int unlink_phase(struct mailbox *mb, struct mailbox_cleanup_stats *st)
{
    int r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) return r;
    if (mb->hdr.expunged <= mb->hdr.unlinked) {
        mailbox_unlock(mb);
        return 0;
    }
    size_t cap = mb->hdr.expunged - mb->hdr.unlinked, n = 0;
    uint32_t *uids = xmalloc(cap * sizeof(*uids));
    for (uint32_t i = 0; i < mb->hdr.num_records && n < cap; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r) break;
        if ((rec.system_flags & MAILBOX_FLAG_EXPUNGED) && !(rec.system_flags & MAILBOX_FLAG_UNLINKED))
            uids[n++] = rec.uid;
    }
    mailbox_unlock(mb);
    if (r) goto out;

    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        mailbox_msgname(uids[i], name, sizeof(name));
        if (mailbox_io_unlinkat(mb->dirfd, name, 0) == 0 || errno == ENOENT) {
            uids[done++] = uids[i];
        } else {
            (void)mailbox_ioerr(mb, "unlink", name);
        }
    }
    st->unlinked = done;
    if (!done) goto out;
    /* the files must stay gone before the records say so */
    if (mailbox_io_fsync(mb->dirfd) < 0) {
        r = mailbox_ioerr(mb, "fsync", mb->dir);
        goto out;
    }
    r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
    if (r) goto out;
    r = mailbox_txn_begin(mb);
    for (size_t i = 0; i < done && !r; i++) {
        struct mailbox_record rec;
        if (mailbox_find_uid(mb, uids[i], &rec)) continue;
        if (!(rec.system_flags & MAILBOX_FLAG_EXPUNGED) || (rec.system_flags & MAILBOX_FLAG_UNLINKED))
            continue;
        rec.system_flags |= MAILBOX_FLAG_UNLINKED;
        mb->hdr.unlinked++;
        r = mailbox_write_record(mb, &rec);
    }
    if (mb->txn) {
        if (r) mailbox_txn_abort(mb);
        else r = mailbox_txn_commit(mb);
    }
    mailbox_unlock(mb);
out:
    free(uids);
    return r;
}

/* ---- compaction ------------------------------------------------------------------- */

static int keep_record(const struct mailbox_record *rec)
{
    return !((rec->system_flags & MAILBOX_FLAG_EXPUNGED) &&
             (rec->system_flags & MAILBOX_FLAG_UNLINKED));
}

/* Copy record `rec` (of the current index) into the builder. */
static int copy_record(struct mailbox *mb, struct mbx_builder *b, struct mailbox_record *rec)
{
    const void *blob = NULL;
    if (rec->cache_len) {
        uint64_t end = rec->cache_offset + rec->cache_len;
        if (end > mb->hdr.cache_size || mailbox_map_cache(mb, (size_t)end)) return CYRERR_CORRUPT;
        blob = mb->cmap + rec->cache_offset;
    }
    return mailbox_builder_add(mb, b, rec, blob, rec->cache_len);
}

static int compact(struct mailbox *mb, struct mailbox_cleanup_stats *st)
{
    int r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (r) return r;
    uint32_t gen = mb->hdr.generation, epoch = mb->hdr.changes_epoch;
    uint32_t clen = mb->hdr.changes_len, n0 = mb->hdr.num_records;
    uint64_t modseq0 = mb->hdr.highestmodseq;
    ino_t ino = mb->index_ino;
    struct mbx_builder b;
    r = mailbox_builder_start(mb, &b);
    if (r) {
        mailbox_unlock(mb);
        return r;
    }
    uint32_t *newpos = xmalloc((n0 ? n0 : 1) * sizeof(*newpos));
    for (uint32_t i = 0; i < n0 && !r; i++) {
        if (i && i % CHUNK == 0) {
            /* let writers in between chunks */
            mailbox_unlock(mb);
            r = mailbox_builder_flush(mb, &b);
            if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
            if (r) break;
            if (mb->index_ino != ino || mb->hdr.generation != gen) {
                r = CYRERR_AGAIN;
                break;
            }
        }
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r) break;
        if (!keep_record(&rec)) {
            newpos[i] = DROPPED;
            continue;
        }
        r = copy_record(mb, &b, &rec);
        newpos[i] = rec.recno;
    }
    if (mb->lockmode != MAILBOX_LOCK_NONE) mailbox_unlock(mb);
    if (!r) r = mailbox_builder_flush(mb, &b);
    if (!r && (mailbox_io_fdatasync(b.ifd) < 0 || mailbox_io_fdatasync(b.cfd) < 0))
        r = mailbox_ioerr(mb, "fdatasync", MBX_INDEX_NEW);
    if (!r) r = mailbox_lock(mb, MAILBOX_LOCK_EXCLUSIVE);
    if (r) goto fail;
    if (mb->index_ino != ino || mb->hdr.generation != gen) {
        r = CYRERR_AGAIN;
        goto fail_locked;
    }

    /* catch up: records changed in place since the snapshot ... */
    uint32_t *changed = NULL;
    size_t nchanged = 0;
    if (mb->hdr.changes_epoch == epoch &&
        mailbox_changes_read(mb, clen, mb->hdr.changes_len, &changed) == 0) {
        nchanged = mb->hdr.changes_len - clen;
    } else {
        changed = xmalloc((n0 ? n0 : 1) * sizeof(*changed));
        for (uint32_t i = 0; i < n0; i++) {
            struct mailbox_record rec;
            r = mailbox_read_record(mb, i, &rec);
            if (r) break;
            if (rec.modseq > modseq0) changed[nchanged++] = i;
        }
    }
    for (size_t i = 0; i < nchanged && !r; i++) {
        uint32_t recno = changed[i];
        if (recno >= n0 || newpos[recno] == DROPPED) continue;
        struct mailbox_record cur, nrec;
        r = mailbox_read_record(mb, recno, &cur);
        if (!r) r = mailbox_builder_read(mb, &b, newpos[recno], &nrec);
        if (r) break;
        cur.recno = nrec.recno;
        cur.cache_offset = nrec.cache_offset;
        cur.cache_len = nrec.cache_len;
        cur.cache_sum = nrec.cache_sum;
        r = mailbox_builder_rewrite(mb, &b, &cur);
    }
    free(changed);
    /* ... and records appended since */
    for (uint32_t i = n0; i < mb->hdr.num_records && !r; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (!r && keep_record(&rec)) r = copy_record(mb, &b, &rec);
    }
    struct mbx_header nh;
    uint32_t before = mb->hdr.num_records;
    if (!r) r = mailbox_builder_finish(mb, &b, &mb->hdr, &nh);
    if (!r) r = mailbox_install_new_files(mb);
    if (r) goto fail_locked;
    st->compacted = 1;
    st->dropped = before - nh.num_records;
    xsyslog(LOG_INFO, "mailbox compacted", "mailbox=<%s> records=<%u> dropped=<%zu>",
            mb->meta.name, nh.num_records, st->dropped);
    mailbox_unlock(mb);
    free(newpos);
    return 0;

fail_locked:
    mailbox_unlock(mb);
fail:
    mailbox_builder_abort(mb, &b);
    free(newpos);
    return r == CYRERR_AGAIN ? 0 : r;   /* someone rewrote it meanwhile */
}

int mailbox_cleanup(struct mailbox *mb, int flags, struct mailbox_cleanup_stats *st)
{
    struct mailbox_cleanup_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof(*st));
    if (!mb || (flags & ~(MAILBOX_CLEANUP_FORCE | MAILBOX_CLEANUP_COMPACT))) return CYRERR_BADARGS;
    if (mb->lockmode != MAILBOX_LOCK_NONE || mb->txn) return CYRERR_BADARGS;
    int r;
    if (!(flags & MAILBOX_CLEANUP_FORCE)) {
        r = mailbox_lock_byte(mb->lockfd, MBX_LOCK_SESSION, F_WRLCK, 0);
        if (r == CYRERR_LOCKED) {
            st->deferred = 1;
            return 0;
        }
        if (r) return mailbox_ioerr(mb, "lock", MBX_LOCK_FNAME);
        (void)mailbox_lock_byte(mb->lockfd, MBX_LOCK_SESSION, F_RDLCK, 0);
    }
    r = mailbox_lock_byte(mb->lockfd, MBX_LOCK_CLEANUP, F_WRLCK, 0);
    if (r == CYRERR_LOCKED) {
        st->deferred = 1;
        return 0;
    }
    if (r) return mailbox_ioerr(mb, "lock", MBX_LOCK_FNAME);
    mb->cleanup_locked = 1;
    r = unlink_phase(mb, st);
    if (!r && mb->hdr.unlinked &&
        ((flags & MAILBOX_CLEANUP_COMPACT) || (uint64_t)mb->hdr.unlinked * 8 >= mb->hdr.num_records))
        r = compact(mb, st);
    (void)mailbox_lock_byte(mb->lockfd, MBX_LOCK_CLEANUP, F_UNLCK, 0);
    mb->cleanup_locked = 0;
    return r;
}
