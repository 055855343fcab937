/* mailbox_view: a session's numbered view of a mailbox and its catching up
 * with other processes' changes (EXISTS, EXPUNGE, FETCH FLAGS).
 *
 * A view holds, per message the session knows, its UID, record number,
 * MODSEQ and flags, in UID order (sequence number = position + 1), plus
 * the point of the index it has seen: index file (inode, generation),
 * number of records, change-log series and length.  An update then reads
 *   - the header;
 *   - the records appended since (new messages);
 *   - the records named in the change log since (flag changes, expunges);
 * and only when the index file was replaced (compaction, reconstruct) or
 * the change log restarted does it compare every record, by UID.
 * Expunged messages stay numbered (marked) until the session may be told.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "xmalloc.h"
#include "imap/store/mailbox_int.h"

struct mailbox_view {
    struct mailbox *mb;
    struct mailbox_view_msg *msgs;
    uint32_t count, alloc;
    uint32_t npending;        /* entries marked expunged, not yet reported */
    /* the point of the index seen */
    ino_t ino;
    uint32_t generation;
    uint32_t nrecords;
    uint32_t changes_epoch, changes_len;
    uint32_t uidvalidity;
    uint32_t last_uid;        /* highest UID among the records seen */
    uint64_t highestmodseq;
};

struct u32vec {
    uint32_t *v;
    size_t n, alloc;
};

static void vec_push(struct u32vec *a, uint32_t x)
{
    if (a->n == a->alloc) {
        a->alloc = a->alloc ? a->alloc * 2 : 16;
        a->v = xreallocarray(a->v, a->alloc, sizeof(*a->v));
    }
    a->v[a->n++] = x;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void msg_set(struct mailbox_view_msg *m, const struct mailbox_record *r)
{
    m->uid = r->uid;
    m->recno = r->recno;
    m->modseq = r->modseq;
    m->system_flags = r->system_flags & MAILBOX_FLAGS_SETTABLE;
    memcpy(m->user_flags, r->user_flags, sizeof(m->user_flags));
}

static void view_append(struct mailbox_view *v, const struct mailbox_record *r)
{
    if (v->count == v->alloc) {
        v->alloc = v->alloc ? v->alloc * 2 : 64;
        v->msgs = xreallocarray(v->msgs, v->alloc, sizeof(*v->msgs));
    }
    msg_set(&v->msgs[v->count++], r);
}

static void view_mark(struct mailbox_view *v, const struct mailbox *mb)
{
    v->ino = mb->index_ino;
    v->generation = mb->hdr.generation;
    v->nrecords = mb->hdr.num_records;
    v->changes_epoch = mb->hdr.changes_epoch;
    v->changes_len = mb->hdr.changes_len;
    v->highestmodseq = mb->hdr.highestmodseq;
}

/* index of `uid` among the entries, or -1 */
static long find_uid(const struct mailbox_view *v, uint32_t uid)
{
    uint32_t lo = 0, hi = v->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->msgs[mid].uid == uid) return mid;
        if (v->msgs[mid].uid < uid) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int take_lock(struct mailbox *mb, int *took)
{
    *took = 0;
    if (mb->lockmode != MAILBOX_LOCK_NONE) return 0;
    int r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (!r) *took = 1;
    return r;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22   /* Linux 5.14; older kernels say EINVAL */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Fault in the whole pages of a large new array in one call: a view of
 * 100,000 messages is 1,400 pages, and a page fault each is what a SELECT
 * spent most of its time on in a fresh process. */
static void prefault(void *p, size_t len)
{
    if (len < (256u << 10)) return;
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    uintptr_t e = ((uintptr_t)p + len) & ~((uintptr_t)pg - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}

int mailbox_view_open(struct mailbox *mb, struct mailbox_view **vp)
{
    *vp = NULL;
    int took;
    int r = take_lock(mb, &took);
    if (r) return r;
    /* every record is read: map the index's pages in one call rather than
     * one page fault each (a 100,000-message index has 3,000 pages) */
    size_t need = MBX_HEADER_SIZE + (size_t)mb->hdr.num_records * MBX_RECORD_SIZE;
    if (mb->hdr.num_records > 1024 && !mailbox_map_index(mb, need))
        (void)madvise((void *)mb->imap, need, MADV_POPULATE_READ);
    struct mailbox_view *v = xzmalloc(sizeof(*v));
    v->mb = mb;
    v->alloc = mb->hdr.exists + 16;
    v->msgs = xmalloc(v->alloc * sizeof(*v->msgs));
    prefault(v->msgs, v->alloc * sizeof(*v->msgs));
    for (uint32_t i = 0; i < mb->hdr.num_records; i++) {
        struct mailbox_record rec;
        r = mailbox_read_record(mb, i, &rec);
        if (r) break;
        v->last_uid = rec.uid;
        if (!(rec.system_flags & MAILBOX_FLAG_EXPUNGED)) view_append(v, &rec);
    }
    v->uidvalidity = mb->hdr.uidvalidity;
    view_mark(v, mb);
    if (took) mailbox_unlock(mb);
    if (r) {
        mailbox_view_free(&v);
        return r;
    }
    *vp = v;
    return 0;
}

void mailbox_view_free(struct mailbox_view **vp)
{
    struct mailbox_view *v = *vp;
    if (!v) return;
    free(v->msgs);
    free(v);
    *vp = NULL;
}

void mailbox_view_changes_free(struct mailbox_view_changes *ch)
{
    if (!ch) return;
    free(ch->expunged_seqs);
    free(ch->expunged_uids);
    free(ch->changed_seqs);
    memset(ch, 0, sizeof(*ch));
}

/* Entry `i` against its current record `rec` (NULL: gone from the index). */
static void compare(struct mailbox_view *v, long i, const struct mailbox_record *rec,
                    struct u32vec *changed)
{
    struct mailbox_view_msg *m = &v->msgs[i];
    if (m->system_flags & MAILBOX_FLAG_EXPUNGED) return;   /* already pending */
    if (!rec || (rec->system_flags & MAILBOX_FLAG_EXPUNGED)) {
        m->system_flags |= MAILBOX_FLAG_EXPUNGED;
        if (!rec) m->recno = UINT32_MAX;
        v->npending++;
        return;
    }
    m->recno = rec->recno;
    if (rec->modseq != m->modseq) {
        msg_set(m, rec);
        vec_push(changed, m->uid);
    }
}

/* The index file was replaced: walk it and the view together by UID. */
static int resync_by_uid(struct mailbox_view *v, struct u32vec *changed)
{
    struct mailbox *mb = v->mb;
    uint32_t i = 0;
    for (uint32_t k = 0; k < mb->hdr.num_records; k++) {
        struct mailbox_record rec;
        int r = mailbox_read_record(mb, k, &rec);
        if (r) return r;
        while (i < v->count && v->msgs[i].uid < rec.uid) compare(v, i++, NULL, changed);
        if (i < v->count && v->msgs[i].uid == rec.uid) {
            compare(v, i++, &rec, changed);
        } else if (rec.uid > v->last_uid && !(rec.system_flags & MAILBOX_FLAG_EXPUNGED)) {
            view_append(v, &rec);
            i = v->count;
        }
        if (rec.uid > v->last_uid) v->last_uid = rec.uid;
    }
    while (i < v->count) compare(v, i++, NULL, changed);
    return 0;
}

/* Same file, but the change log cannot tell: compare every entry. */
static int compare_all(struct mailbox_view *v, struct u32vec *changed, int *fallback)
{
    struct mailbox *mb = v->mb;
    for (uint32_t i = 0; i < v->count; i++) {
        struct mailbox_view_msg *m = &v->msgs[i];
        if (m->system_flags & MAILBOX_FLAG_EXPUNGED) continue;
        struct mailbox_record rec;
        int r = mailbox_read_record(mb, m->recno, &rec);
        if (r) return r;
        if (rec.uid != m->uid) {
            *fallback = 1;
            return 0;
        }
        compare(v, i, &rec, changed);
    }
    return 0;
}

static int apply_log(struct mailbox_view *v, struct u32vec *changed)
{
    struct mailbox *mb = v->mb;
    uint32_t *recnos;
    int r = mailbox_changes_read(mb, v->changes_len, mb->hdr.changes_len, &recnos);
    if (r) return r;
    size_t n = mb->hdr.changes_len - v->changes_len;
    qsort(recnos, n, sizeof(*recnos), cmp_u32);
    for (size_t j = 0; j < n && !r; j++) {
        if (j && recnos[j] == recnos[j - 1]) continue;
        if (recnos[j] >= v->nrecords) continue;   /* new records come next */
        struct mailbox_record rec;
        r = mailbox_read_record(mb, recnos[j], &rec);
        if (r) break;
        long i = find_uid(v, rec.uid);
        if (i >= 0) compare(v, i, &rec, changed);
    }
    free(recnos);
    return r;
}

int mailbox_view_update(struct mailbox_view *v, int flags, struct mailbox_view_changes *ch)
{
    struct mailbox_view_changes dummy;
    if (!ch) ch = &dummy;
    memset(ch, 0, sizeof(*ch));
    if (!v || (flags & ~MAILBOX_VIEW_EXPUNGE)) return CYRERR_BADARGS;
    struct mailbox *mb = v->mb;
    int took;
    int r = take_lock(mb, &took);
    if (r) return r;
    uint32_t before = v->count;
    struct u32vec changed = { 0 };

    if (mb->hdr.uidvalidity != v->uidvalidity) {
        ch->uidvalidity_changed = 1;
        goto done;
    }
    int full = mb->index_ino != v->ino || mb->hdr.generation != v->generation;
    if (!full) {
        if (mb->hdr.changes_epoch != v->changes_epoch || mb->hdr.changes_len < v->changes_len) {
            r = compare_all(v, &changed, &full);
        } else if (mb->hdr.changes_len > v->changes_len) {
            if (apply_log(v, &changed)) r = compare_all(v, &changed, &full);
        }
        if (!r && !full) {
            for (uint32_t k = v->nrecords; k < mb->hdr.num_records && !r; k++) {
                struct mailbox_record rec;
                r = mailbox_read_record(mb, k, &rec);
                if (r) break;
                if (rec.uid <= v->last_uid) continue;
                v->last_uid = rec.uid;
                if (!(rec.system_flags & MAILBOX_FLAG_EXPUNGED)) view_append(v, &rec);
            }
        }
    }
    if (!r && full) r = resync_by_uid(v, &changed);
    if (r) goto done;

    if ((flags & MAILBOX_VIEW_EXPUNGE) && v->npending) {
        ch->expunged_seqs = xmalloc(v->npending * sizeof(uint32_t));
        ch->expunged_uids = xmalloc(v->npending * sizeof(uint32_t));
        for (uint32_t i = v->count; i-- > 0;) {
            if (v->msgs[i].system_flags & MAILBOX_FLAG_EXPUNGED) {
                ch->expunged_seqs[ch->nexpunged] = i + 1;
                ch->expunged_uids[ch->nexpunged++] = v->msgs[i].uid;
            }
        }
        uint32_t k = 0;
        for (uint32_t i = 0; i < v->count; i++)
            if (!(v->msgs[i].system_flags & MAILBOX_FLAG_EXPUNGED)) v->msgs[k++] = v->msgs[i];
        v->count = k;
        v->npending = 0;
    }
    if (changed.n) {
        ch->changed_seqs = xmalloc(changed.n * sizeof(uint32_t));
        for (size_t j = 0; j < changed.n; j++) {
            long i = find_uid(v, changed.v[j]);
            if (i >= 0 && !(v->msgs[i].system_flags & MAILBOX_FLAG_EXPUNGED))
                ch->changed_seqs[ch->nchanged++] = (uint32_t)i + 1;
        }
        qsort(ch->changed_seqs, ch->nchanged, sizeof(uint32_t), cmp_u32);
        size_t k = 0;
        for (size_t j = 0; j < ch->nchanged; j++)
            if (!k || ch->changed_seqs[k - 1] != ch->changed_seqs[j])
                ch->changed_seqs[k++] = ch->changed_seqs[j];
        ch->nchanged = k;
    }
    view_mark(v, mb);
done:
    free(changed.v);
    ch->exists = v->count;
    ch->exists_changed = v->count + ch->nexpunged != before;   /* new messages */
    ch->highestmodseq = mb->hdr.highestmodseq;
    if (took) mailbox_unlock(mb);
    if (r || ch == &dummy) mailbox_view_changes_free(ch);
    return r;
}

uint32_t mailbox_view_count(const struct mailbox_view *v)
{
    return v->count;
}

const struct mailbox_view_msg *mailbox_view_msg(const struct mailbox_view *v, uint32_t seq)
{
    if (seq == 0 || seq > v->count) return NULL;
    return &v->msgs[seq - 1];
}

uint32_t mailbox_view_seq(const struct mailbox_view *v, uint32_t uid)
{
    long i = find_uid(v, uid);
    return i < 0 ? 0 : (uint32_t)i + 1;
}

uint64_t mailbox_view_highestmodseq(const struct mailbox_view *v)
{
    return v->highestmodseq;
}

void mailbox_view_apply(struct mailbox_view *v, const struct mailbox_record *rec)
{
    long i = find_uid(v, rec->uid);
    if (i < 0 || (v->msgs[i].system_flags & MAILBOX_FLAG_EXPUNGED)) return;
    if (rec->system_flags & MAILBOX_FLAG_EXPUNGED) return;   /* told by the update */
    uint32_t recno = v->msgs[i].recno;
    msg_set(&v->msgs[i], rec);
    v->msgs[i].recno = recno;
}
