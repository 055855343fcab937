/* mailbox_flags: changing records in place -- STORE of flags and EXPUNGE.
 *
 * Both compute the new records first, then in one transaction log their
 * numbers in cyrus.changes (for readers), rewrite them (contiguous runs in
 * one write each) with the transaction's MODSEQ, adjust the header counts
 * and commit.  Expunge only marks records; mailbox_cleanup() removes them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"
#include "imap/store/mailbox_io.h"

struct change {
    struct mailbox_record rec;          /* the new record */
    enum mailbox_store_outcome outcome;
    uint32_t old_flags;
    uint32_t old_user[MAILBOX_KEYWORD_WORDS];
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted copy of a UID list without duplicates or zeros. */
static uint32_t *sorted_uids(const uint32_t *uids, size_t n, size_t *outn)
{
    uint32_t *s = xmalloc((n ? n : 1) * sizeof(*s));
    memcpy(s, uids, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] && (k == 0 || s[k - 1] != s[i])) s[k++] = s[i];
    *outn = k;
    return s;
}

/* Rewrite the changed records (ascending recno): log, then runs. */
static int write_changes(struct mailbox *mb, const struct change *ch, size_t n)
{
    uint32_t *recnos = xmalloc(n * sizeof(*recnos));
    size_t nlog = 0;
    for (size_t i = 0; i < n; i++)
        if (ch[i].outcome == MAILBOX_STORE_CHANGED) recnos[nlog++] = ch[i].rec.recno;
    int r = mailbox_changes_log(mb, recnos, nlog);
    free(recnos);
    if (r) return r;
    unsigned char *buf = xmalloc(n * MBX_RECORD_SIZE);
    size_t i = 0;
    while (i < n && !r) {
        if (ch[i].outcome != MAILBOX_STORE_CHANGED) {
            i++;
            continue;
        }
        size_t j = i, len = 0;
        while (j < n && ch[j].outcome == MAILBOX_STORE_CHANGED &&
               ch[j].rec.recno == ch[i].rec.recno + (j - i)) {
            mailbox_rec_encode(&ch[j].rec, buf + len);
            len += MBX_RECORD_SIZE;
            j++;
        }
        off_t off = MBX_HEADER_SIZE + (off_t)ch[i].rec.recno * MBX_RECORD_SIZE;
        if (mailbox_io_pwrite(mb->indexfd, buf, len, off) < 0)
            r = mailbox_ioerr(mb, "write records", MBX_INDEX_FNAME);
        i = j;
    }
    free(buf);
    return r;
}

/* Apply the changes: counts, records, MODSEQ, commit. */
static int commit_changes(struct mailbox *mb, struct change *ch, size_t n, uint64_t modseq)
{
    int r = mailbox_txn_begin(mb);
    if (r) return r;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].outcome != MAILBOX_STORE_CHANGED) continue;
        struct mailbox_record old = ch[i].rec;
        old.system_flags = ch[i].old_flags;
        mailbox_hdr_count(&mb->hdr, &old, -1);
        mailbox_hdr_count(&mb->hdr, &ch[i].rec, +1);
    }
    r = write_changes(mb, ch, n);
    if (r) {
        mailbox_txn_abort(mb);
        return r;
    }
    mb->hdr.highestmodseq = modseq;
    return mailbox_txn_commit(mb);
}

static int flags_valid(const struct mailbox *mb, const struct mailbox_flags *f)
{
    if (f->system & ~MAILBOX_FLAGS_SETTABLE) return 0;
    uint32_t nk = (uint32_t)mb->meta.keywords.count;
    for (uint32_t w = 0; w < MAILBOX_KEYWORD_WORDS; w++) {
        uint32_t bits = f->user[w];
        if (!bits) continue;
        for (uint32_t b = 0; b < 32; b++)
            if ((bits >> b & 1) && w * 32 + b >= nk) return 0;
    }
    return 1;
}

int mailbox_store(struct mailbox *mb, const uint32_t *uids, size_t n,
                  enum mailbox_store_op op, const struct mailbox_flags *flags,
                  uint64_t unchangedsince, mailbox_store_cb *cb, void *rock,
                  uint64_t *modseqp)
{
    if (modseqp) *modseqp = 0;
    if (!mb || !flags || (n && !uids)) return CYRERR_BADARGS;
    if (op != MAILBOX_STORE_REPLACE && op != MAILBOX_STORE_ADD && op != MAILBOX_STORE_REMOVE)
        return CYRERR_BADARGS;
    if (flags->system & ~MAILBOX_FLAGS_SETTABLE) return CYRERR_BADARGS;
    int took;
    int r = mailbox_autolock(mb, &took);
    if (r) return r;
    if (!flags_valid(mb, flags)) {
        mailbox_autounlock(mb, took);
        return CYRERR_BADARGS;
    }
    size_t nu;
    uint32_t *su = sorted_uids(uids, n, &nu);
    struct change *ch = xcalloc(nu ? nu : 1, sizeof(*ch));
    size_t nch = 0, nchanged = 0;
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    int64_t now = (int64_t)time(NULL);

    for (size_t i = 0; i < nu; i++) {
        struct mailbox_record rec;
        uint32_t recno;
        if (mailbox_find_recno(mb, su[i], &recno)) continue;
        r = mailbox_read_record(mb, recno, &rec);
        if (r) goto out;
        if (rec.system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        struct change *c = &ch[nch++];
        c->old_flags = rec.system_flags;
        memcpy(c->old_user, rec.user_flags, sizeof(c->old_user));
        if (unchangedsince && rec.modseq > unchangedsince) {
            c->outcome = MAILBOX_STORE_MODIFIED;
            c->rec = rec;
            continue;
        }
        uint32_t sys = rec.system_flags;
        for (int w = 0; w < MAILBOX_KEYWORD_WORDS; w++) {
            switch (op) {
            case MAILBOX_STORE_REPLACE: rec.user_flags[w] = flags->user[w]; break;
            case MAILBOX_STORE_ADD:     rec.user_flags[w] |= flags->user[w]; break;
            case MAILBOX_STORE_REMOVE:  rec.user_flags[w] &= ~flags->user[w]; break;
            }
        }
        switch (op) {
        case MAILBOX_STORE_REPLACE: sys = (sys & ~MAILBOX_FLAGS_SETTABLE) | flags->system; break;
        case MAILBOX_STORE_ADD:     sys |= flags->system; break;
        case MAILBOX_STORE_REMOVE:  sys &= ~flags->system; break;
        }
        rec.system_flags = sys;
        if (sys == c->old_flags && !memcmp(rec.user_flags, c->old_user, sizeof(c->old_user))) {
            c->outcome = MAILBOX_STORE_UNCHANGED;
            c->rec = rec;
            continue;
        }
        rec.modseq = modseq;
        rec.last_updated = now;
        c->rec = rec;
        c->outcome = MAILBOX_STORE_CHANGED;
        nchanged++;
    }
    if (nchanged) {
        r = commit_changes(mb, ch, nch, modseq);
        if (r) goto out;
        if (modseqp) *modseqp = modseq;
    }
    if (cb)
        for (size_t i = 0; i < nch; i++) cb(rock, &ch[i].rec, ch[i].outcome);
out:
    free(ch);
    free(su);
    mailbox_autounlock(mb, took);
    return r;
}

int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, int flags,
                    mailbox_record_cb *cb, void *rock, size_t *nexpunged)
{
    if (nexpunged) *nexpunged = 0;
    if (!mb || (flags & ~MAILBOX_EXPUNGE_ANY) || (n && !uids)) return CYRERR_BADARGS;
    int took;
    int r = mailbox_autolock(mb, &took);
    if (r) return r;
    uint32_t total = mb->hdr.num_records;
    size_t nu = 0;
    uint32_t *su = uids ? sorted_uids(uids, n, &nu) : NULL;
    size_t cap = 16;
    struct change *ch = xcalloc(cap, sizeof(*ch));
    size_t nch = 0;
    uint64_t modseq = mb->hdr.highestmodseq + 1;
    int64_t now = (int64_t)time(NULL);
    long long bytes = 0;

    size_t steps = uids ? nu : total;
    for (size_t i = 0; i < steps; i++) {
        struct mailbox_record rec;
        uint32_t recno = (uint32_t)i;
        if (uids && mailbox_find_recno(mb, su[i], &recno)) continue;
        r = mailbox_read_record(mb, recno, &rec);
        if (r) goto out;
        if (rec.system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        if (!(rec.system_flags & MAILBOX_FLAG_DELETED) && !(uids && (flags & MAILBOX_EXPUNGE_ANY)))
            continue;
        if (nch == cap) {
            cap *= 2;
            ch = xreallocarray(ch, cap, sizeof(*ch));
        }
        struct change *c = &ch[nch++];
        memset(c, 0, sizeof(*c));
        c->old_flags = rec.system_flags;
        rec.system_flags |= MAILBOX_FLAG_EXPUNGED;
        rec.modseq = modseq;
        rec.last_updated = now;
        c->rec = rec;
        c->outcome = MAILBOX_STORE_CHANGED;
        bytes += rec.size;
    }
    if (nch) {
        r = commit_changes(mb, ch, nch, modseq);
        if (r) goto out;
        (void)mailbox_quota_charge(mb, -bytes, -(long long)nch);
        if (nexpunged) *nexpunged = nch;
        if (cb)
            for (size_t i = 0; i < nch; i++) cb(rock, &ch[i].rec);
    }
out:
    free(ch);
    free(su);
    mailbox_autounlock(mb, took);
    return r;
}
