/* quota_fix: recompute quota usage from the mailboxes.  See quota_fix.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/quota.h"
#include "imap/store/quota_fix.h"

struct rootinfo {
    char *name;
    int selected;          /* under one of the prefixes: usage is fixed */
    int incomplete;        /* a mailbox could not be read: leave it */
    long long bytes, msgs;
};

struct fix_state {
    struct hash_table roots;       /* name -> struct rootinfo */
    struct rootinfo **order;       /* in database order */
    size_t count, alloc;
    struct strarray prefixes;      /* normalised, never empty */
    quota_fix_cb *cb;
    void *rock;
    int firsterr;
    struct buf key;
};

static void emit(struct fix_state *st, const struct quota_fix_event *ev)
{
    if (st->cb) st->cb(st->rock, ev);
}

static void fail(struct fix_state *st, const char *mailbox, const char *root, int err)
{
    struct quota_fix_event ev = { .kind = QUOTA_FIX_ERROR, .mailbox = mailbox,
                                  .root = root, .error = err };
    if (!st->firsterr) st->firsterr = err;
    xsyslog(LOG_ERR, "quota fix: failed", "mailbox=<%s> root=<%s> error=<%s>",
            mailbox ? mailbox : "", root ? root : "", error_message(err));
    emit(st, &ev);
}

static int prefix_cmp(const char *a, const char *b)
{
    return strcmp(a, b);
}

/* Sorted, without prefixes that a shorter one already covers. */
static void normalise_prefixes(const struct strarray *in, struct strarray *out)
{
    struct strarray tmp = STRARRAY_INITIALIZER;
    for (int i = 0; in && i < in->count; i++) strarray_append(&tmp, in->data[i]);
    if (!tmp.count) strarray_append(&tmp, "");
    strarray_sort(&tmp, prefix_cmp);
    for (int i = 0; i < tmp.count; i++) {
        const char *last = out->count ? out->data[out->count - 1] : NULL;
        if (last && !strncmp(tmp.data[i], last, strlen(last))) continue;
        strarray_append(out, tmp.data[i]);
    }
    strarray_free(&tmp);
}

static int is_selected(const struct fix_state *st, const char *name)
{
    for (int i = 0; i < st->prefixes.count; i++)
        if (!strncmp(name, st->prefixes.data[i], strlen(st->prefixes.data[i]))) return 1;
    return 0;
}

static int load_root(const struct quota *q, void *rock)
{
    struct fix_state *st = rock;
    struct rootinfo *ri = xzmalloc(sizeof(*ri));
    ri->name = xstrdup(q->root);
    ri->selected = is_selected(st, q->root);
    hash_insert(&st->roots, ri->name, ri);
    if (st->count == st->alloc) {
        st->alloc = st->alloc ? st->alloc * 2 : 32;
        st->order = xreallocarray(st->order, st->alloc, sizeof(*st->order));
    }
    st->order[st->count++] = ri;
    return 0;
}

/* The governing root among the loaded ones (as quota_findroot()). */
static struct rootinfo *nearest_root(struct fix_state *st, const char *name)
{
    struct rootinfo *ri;
    buf_setcstr(&st->key, name);
    const char *bang = strchr(name, '!');
    size_t start = bang ? (size_t)(bang - name) + 1 : 0;
    for (;;) {
        if ((ri = hash_lookup(&st->roots, buf_cstring(&st->key)))) return ri;
        const char *s = buf_cstring(&st->key);
        const char *dot = strrchr(s + start, '.');
        if (!dot) break;
        buf_truncate(&st->key, (size_t)(dot - s));
    }
    if (bang) {
        buf_setmap(&st->key, name, start);
        if ((ri = hash_lookup(&st->roots, buf_cstring(&st->key)))) return ri;
    }
    return NULL;
}

static int same(const char *a, const char *b)
{
    if (!a || !*a) return !b || !*b;
    return b && !strcmp(a, b);
}

static int fix_mailbox(void *rock, const struct mboxlist_entry *e)
{
    struct fix_state *st = rock;
    if (e->type & (MBOXLIST_REMOTE | MBOXLIST_RESERVED | MBOXLIST_DELETED)) return 0;
    struct rootinfo *ri = nearest_root(st, e->name);
    const char *root = ri ? ri->name : NULL;
    struct mailbox *mb = NULL;
    int r = mailbox_open(e->name, e->partition, &mb);
    if (r) {
        if (ri) ri->incomplete = 1;
        fail(st, e->name, root, r);
        return 0;
    }
    const char *cur = mailbox_quotaroot(mb);
    if (!same(cur, root)) {
        char *old = xstrdupnull(cur && *cur ? cur : NULL);
        r = mailbox_set_quotaroot(mb, root);
        if (r) {
            fail(st, e->name, root, r);
        } else {
            struct quota_fix_event ev = { .kind = QUOTA_FIX_ROOT, .mailbox = e->name,
                                          .root = root, .oldroot = old };
            emit(st, &ev);
        }
        free(old);
    }
    if (ri && ri->selected) {
        r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
        if (r) {
            ri->incomplete = 1;
            fail(st, e->name, root, r);
        } else {
            struct mailbox_status s;
            mailbox_status(mb, &s);
            mailbox_unlock(mb);
            ri->bytes += (long long)s.quota_used;
            ri->msgs += (long long)s.exists;
        }
    }
    mailbox_close(&mb);
    return 0;
}

static void fix_root(struct fix_state *st, struct rootinfo *ri)
{
    struct quota q;
    quota_init(&q, ri->name);
    int r = quota_read(ri->name, &q);
    if (r == CYRERR_QUOTAROOT_NONEXISTENT) goto done;   /* removed meanwhile */
    if (r) {
        fail(st, NULL, ri->name, r);
        goto done;
    }
    long long now[QUOTA_NUMRESOURCES] = { ri->bytes, ri->msgs };
    if (q.used[QUOTA_STORAGE] == now[QUOTA_STORAGE] &&
        q.used[QUOTA_MESSAGE] == now[QUOTA_MESSAGE])
        goto done;
    r = quota_set_used(ri->name, ri->bytes, ri->msgs);
    if (r) {
        fail(st, NULL, ri->name, r);
        goto done;
    }
    xsyslog(LOG_NOTICE, "quota fix: usage corrected",
            "root=<%s> bytes=<%lld -> %lld> msgs=<%lld -> %lld>", ri->name,
            q.used[QUOTA_STORAGE], ri->bytes, q.used[QUOTA_MESSAGE], ri->msgs);
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        if (q.used[i] == now[i]) continue;
        struct quota_fix_event ev = { .kind = QUOTA_FIX_USAGE, .root = ri->name,
                                      .resource = (enum quota_resource)i,
                                      .oldvalue = q.used[i], .newvalue = now[i] };
        emit(st, &ev);
    }
done:
    quota_free(&q);
}

static void free_rootinfo(void *p)
{
    struct rootinfo *ri = p;
    free(ri->name);
    free(ri);
}

int quota_fix(struct mboxlist *ml, const struct strarray *prefixes, quota_fix_cb *cb,
              void *rock)
{
    struct fix_state st;
    memset(&st, 0, sizeof(st));
    hash_init(&st.roots, 64, 0);
    normalise_prefixes(prefixes, &st.prefixes);
    st.cb = cb;
    st.rock = rock;

    int r = quota_foreach("", load_root, &st);
    for (int i = 0; !r && i < st.prefixes.count; i++)
        r = mboxlist_foreach(ml, st.prefixes.data[i], fix_mailbox, &st, NULL);
    if (r) {
        fail(&st, NULL, NULL, r);
    } else {
        for (size_t i = 0; i < st.count; i++)
            if (st.order[i]->selected && !st.order[i]->incomplete) fix_root(&st, st.order[i]);
    }
    r = st.firsterr;
    hash_free(&st.roots, free_rootinfo);
    free(st.order);
    strarray_free(&st.prefixes);
    buf_free(&st.key);
    return r;
}
