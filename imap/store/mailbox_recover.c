/* mailbox_recover: repairing what a writer that died (or a machine that
 * lost power) left behind, so that no crash ever calls for reconstruct.
 *
 * Run under the exclusive lock when the header says DIRTY (a transaction
 * began and never committed), when it was written during another boot, or
 * when index and cache do not belong together (a compaction died between
 * its two renames).  Steps: pick the header (falling back to the other slot
 * when the chosen one promises records the file does not have), finish a
 * half-done compaction, cut index and cache back to their committed
 * lengths, recount the header from the records, settle the append queue,
 * after a reboot remove message files no record can refer to, and write the
 * repaired header.  Damage beyond that (bad record checksums, a cache
 * shorter than committed) is CYRERR_CORRUPT: reconstruct's job.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"

static const char *mbname(const struct mailbox *mb)
{
    return mb->meta.name ? mb->meta.name : mb->dir;
}

/* cyrus.cache was replaced but cyrus.index not yet: finish with
 * cyrus.index.NEW when it is the index that belongs to the cache. */
static int roll_forward(struct mailbox *mb, uint64_t cache_id)
{
    int fd = openat(mb->dirfd, MBX_INDEX_NEW, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CYRERR_CORRUPT;
    unsigned char buf[MBX_HEADER_SIZE];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    struct stat st;
    int ok = n == (ssize_t)sizeof(buf) && fstat(fd, &st) == 0;
    close(fd);
    struct mbx_header h;
    int slot;
    if (!ok || mailbox_hdr_pick(buf, -1, &h, &slot) || h.cache_id != cache_id ||
        (uint64_t)st.st_size < MBX_HEADER_SIZE + (uint64_t)h.num_records * MBX_RECORD_SIZE)
        return CYRERR_CORRUPT;
    if (mailbox_io_renameat(mb->dirfd, MBX_INDEX_NEW, mb->dirfd, MBX_INDEX_FNAME, 0) < 0 ||
        mailbox_io_fsync(mb->dirfd) < 0)
        return mailbox_ioerr(mb, "rename", MBX_INDEX_NEW);
    xsyslog(LOG_NOTICE, "mailbox recovery: index rewrite completed", "mailbox=<%s>", mbname(mb));
    return mailbox_open_files(mb);
}

/* Records [from, h->num_records) of the last transaction, after a power
 * cut: is everything they describe on disk (records, cache records,
 * message files with their size and SHA-1)? */
static int tail_complete(struct mailbox *mb, const struct mbx_header *h, uint32_t from)
{
    if (mailbox_map_index(mb, MBX_HEADER_SIZE + (size_t)h->num_records * MBX_RECORD_SIZE) ||
        mailbox_map_cache(mb, (size_t)h->cache_size))
        return 0;
    for (uint32_t i = from; i < h->num_records; i++) {
        struct mailbox_record rec;
        if (mailbox_rec_decode(mb->imap + MBX_HEADER_SIZE + (size_t)i * MBX_RECORD_SIZE, i, &rec))
            return 0;
        if (rec.cache_offset < MBX_CACHE_HDR_SIZE ||
            rec.cache_offset + rec.cache_len > h->cache_size ||
            mailbox_checksum(mb->cmap + rec.cache_offset, rec.cache_len) != rec.cache_sum)
            return 0;
        if (rec.system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        char name[32];
        mailbox_msgname(rec.uid, name, sizeof(name));
        int fd = openat(mb->dirfd, name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0) return 0;
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != rec.size) {
            close(fd);
            return 0;
        }
        unsigned char guid[MAILBOX_GUID_LEN];
        unsigned int gl = 0;
        void *p = rec.size ? mmap(NULL, rec.size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
        close(fd);
        if (p == MAP_FAILED) return 0;
        int ok = EVP_Digest(p ? p : "", rec.size, guid, &gl, EVP_sha1(), NULL) &&
                 !memcmp(guid, rec.guid, MAILBOX_GUID_LEN);
        if (p) munmap(p, rec.size);
        if (!ok) return 0;
    }
    return 1;
}

/* Message files "<uid>." with uid >= uidnext, and leftover temp files. */
static void remove_strays(struct mailbox *mb, uint32_t uidnext)
{
    int dfd = dup(mb->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return;
    }
    rewinddir(d);
    /* *.NEW files belong to a compaction or reconstruct still running when
     * someone holds the cleanup lock */
    int cleaning = mb->cleanup_locked ||
                   mailbox_lock_byte(mb->lockfd, MBX_LOCK_CLEANUP, F_WRLCK, 0) != 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint32_t uid = mailbox_parse_msgname(de->d_name);
        int temp = !strcmp(de->d_name, MBX_INDEX_NEW) || !strcmp(de->d_name, MBX_CACHE_NEW) ||
                   !strcmp(de->d_name, MBX_HEADER_NEW);
        if ((uid && uid >= uidnext) || (temp && !cleaning)) {
            xsyslog(LOG_NOTICE, "mailbox recovery: stray file removed",
                    "mailbox=<%s> file=<%s>", mbname(mb), de->d_name);
            mailbox_io_unlinkat(mb->dirfd, de->d_name, 0);
        }
    }
    closedir(d);
    if (!cleaning) (void)mailbox_lock_byte(mb->lockfd, MBX_LOCK_CLEANUP, F_UNLCK, 0);
}

int mailbox_recover(struct mailbox *mb, int flags)
{
    if (mb->lockmode != MAILBOX_LOCK_EXCLUSIVE || mb->txn) return CYRERR_BADARGS;
    uint64_t boot = mailbox_io_bootid();
    int r = mailbox_map_index(mb, MBX_HEADER_SIZE);
    if (r) return r;
    struct mbx_header h;
    int slot;
    r = mailbox_hdr_pick(mb->imap, -1, &h, &slot);
    if (r) return r;
    if (boot && h.bootid != boot) flags |= MBX_RECOVER_BOOT;
    /* a torn slot means a write was cut by more than a process death:
     * look for strays as after a reboot */
    struct mbx_header other;
    if (mailbox_hdr_decode(mb->imap + (slot ^ 1) * MBX_SLOT_SIZE, &other))
        flags |= MBX_RECOVER_BOOT;

    /* index and cache must belong together */
    uint64_t cid = 0;
    if (mailbox_map_cache(mb, MBX_CACHE_HDR_SIZE) == 0 &&
        mailbox_cachehdr_decode(mb->cmap, &cid) == 0 && cid != h.cache_id) {
        r = roll_forward(mb, cid);
        if (r) {
            xsyslog(LOG_ERR, "mailbox index and cache do not match", "mailbox=<%s>", mbname(mb));
            return r;
        }
        r = mailbox_map_index(mb, MBX_HEADER_SIZE);
        if (!r) r = mailbox_hdr_pick(mb->imap, -1, &h, &slot);
        if (r) return r;
    } else if (cid != h.cache_id) {
        xsyslog(LOG_ERR, "mailbox cache header damaged", "mailbox=<%s>", mbname(mb));
        return CYRERR_CORRUPT;
    }

    /* a header that promises more than the files hold was written without
     * what it describes (power cut): the other slot is the last good one */
    uint64_t maxseq = h.seq;
    struct stat ist, cst;
    if (fstat(mb->indexfd, &ist) < 0 || fstat(mb->cachefd, &cst) < 0)
        return mailbox_ioerr(mb, "fstat", MBX_INDEX_FNAME);
    if ((uint64_t)ist.st_size < MBX_HEADER_SIZE + (uint64_t)h.num_records * MBX_RECORD_SIZE ||
        (uint64_t)cst.st_size < h.cache_size) {
        struct mbx_header o;
        int oslot;
        if (mailbox_hdr_pick(mb->imap, slot, &o, &oslot) ||
            (uint64_t)ist.st_size < MBX_HEADER_SIZE + (uint64_t)o.num_records * MBX_RECORD_SIZE ||
            (uint64_t)cst.st_size < o.cache_size || o.cache_id != h.cache_id) {
            xsyslog(LOG_ERR, "mailbox index or cache shorter than committed",
                    "mailbox=<%s>", mbname(mb));
            return CYRERR_CORRUPT;
        }
        xsyslog(LOG_NOTICE, "mailbox recovery: fell back to the previous header",
                "mailbox=<%s>", mbname(mb));
        flags |= MBX_RECOVER_BOOT;
        h = o;
        slot = oslot;
    }

    /* after a power cut, the last transaction may have its header on disk
     * but not all it describes: the other slot holds the state before it */
    if (flags & MBX_RECOVER_BOOT) {
        struct mbx_header o;
        int oslot;
        if (mailbox_hdr_pick(mb->imap, slot, &o, &oslot) == 0 && o.num_records < h.num_records &&
            o.cache_id == h.cache_id && o.generation == h.generation &&
            !tail_complete(mb, &h, o.num_records)) {
            xsyslog(LOG_NOTICE, "mailbox recovery: last transaction incomplete, undone",
                    "mailbox=<%s> records=<%u..%u>", mbname(mb), o.num_records, h.num_records);
            h = o;
            slot = oslot;
        }
    }

    /* cut the torn tails */
    off_t ilen = MBX_HEADER_SIZE + (off_t)h.num_records * MBX_RECORD_SIZE;
    if (ist.st_size > ilen && mailbox_io_ftruncate(mb->indexfd, ilen) < 0)
        return mailbox_ioerr(mb, "truncate", MBX_INDEX_FNAME);
    if ((uint64_t)cst.st_size > h.cache_size &&
        mailbox_io_ftruncate(mb->cachefd, (off_t)h.cache_size) < 0)
        return mailbox_ioerr(mb, "truncate", MBX_CACHE_FNAME);
    r = mailbox_map_index(mb, (size_t)ilen);
    if (r) return r;

    /* recount */
    struct mbx_header nh = h;
    nh.exists = nh.expunged = nh.unlinked = 0;
    nh.answered = nh.flagged = nh.deleted = nh.seen = nh.draft = 0;
    nh.quota_used = 0;
    uint32_t last_uid = 0;
    for (uint32_t i = 0; i < h.num_records; i++) {
        struct mailbox_record rec;
        r = mailbox_rec_decode(mb->imap + MBX_HEADER_SIZE + (size_t)i * MBX_RECORD_SIZE, i, &rec);
        if (r || rec.uid <= last_uid ||
            (!(rec.system_flags & MAILBOX_FLAG_EXPUNGED) &&
             rec.cache_offset + rec.cache_len > h.cache_size)) {
            xsyslog(LOG_ERR, "mailbox record damaged", "mailbox=<%s> recno=<%u>", mbname(mb), i);
            return CYRERR_CORRUPT;
        }
        last_uid = rec.uid;
        mailbox_hdr_count(&nh, &rec, +1);
        if (rec.modseq > nh.highestmodseq) nh.highestmodseq = rec.modseq;
    }
    if (last_uid >= nh.uidnext) nh.uidnext = last_uid + 1;
    if ((uint32_t)mb->meta.keywords.count > nh.num_keywords)
        nh.num_keywords = (uint32_t)mb->meta.keywords.count;
    nh.flags &= ~MBX_HF_DIRTY;
    nh.changes_epoch++;
    nh.changes_len = 0;
    nh.bootid = boot;
    nh.seq = maxseq + 1;

    /* the header we recovered from is current while the queue is settled */
    mb->hdr = nh;
    mb->slot = slot;
    uint32_t claimed_end;
    r = mailbox_queue_recover(mb, &claimed_end);
    if (r) return r;
    /* an append writes <uidnext>., <uidnext+1>., ... in order: what is
     * left of one that never committed starts at uidnext, with holes only
     * where claimed batches were just put back or dropped */
    for (uint32_t u = nh.uidnext; u; u++) {
        char name[32];
        mailbox_msgname(u, name, sizeof(name));
        if (unlinkat(mb->dirfd, name, 0) < 0) {
            if (u < claimed_end) continue;
            break;
        }
        xsyslog(LOG_NOTICE, "mailbox recovery: uncommitted message file removed",
                "mailbox=<%s> file=<%s>", mbname(mb), name);
    }
    if (flags & MBX_RECOVER_BOOT) remove_strays(mb, nh.uidnext);

    int wslot = slot ^ 1;
    r = mailbox_write_slot(mb, &nh, wslot);
    if (!r && mailbox_io_fdatasync(mb->indexfd) < 0)
        r = mailbox_ioerr(mb, "fdatasync", MBX_INDEX_FNAME);
    if (r) return r;
    mb->slot = wslot;
    if (nh.quota_used != h.quota_used || nh.exists != h.exists)
        (void)mailbox_quota_charge(mb, (long long)nh.quota_used - (long long)h.quota_used,
                                   (long long)nh.exists - (long long)h.exists);
    xsyslog(LOG_NOTICE, "mailbox recovered",
            "mailbox=<%s> records=<%u> exists=<%u> uidnext=<%u> modseq=<%llu> boot=<%d>",
            mbname(mb), nh.num_records, nh.exists, nh.uidnext,
            (unsigned long long)nh.highestmodseq, (flags & MBX_RECOVER_BOOT) ? 1 : 0);
    return mailbox_map_cache(mb, (size_t)nh.cache_size);
}
