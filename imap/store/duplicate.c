/* duplicate: the duplicate delivery database.  See duplicate.h. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/duplicate.h"
#include "imap/store/txnretry.h"

#define DUPLICATE_VERSION 1
#define DUPLICATE_VALUE_MAX 64
#define EXPIRE_BATCH 500           /* deletions per transaction */

struct duplicate {
    struct cyrusdb *db;
    char *fname;
};

int duplicate_open(const char *backend, const char *fname, int flags,
                   struct duplicate **dp)
{
    *dp = NULL;
    if (!backend) backend = cyrusdb_backend_for(IMAPOPT_DUPLICATE_DB);
    if (!backend || !cyrusdb_backend_known(backend)) return CYRERR_CONFIG;
    char *path;
    if (fname) {
        if (!*fname) return CYRERR_BADARGS;
        path = xstrdup(fname);
    } else {
        const char *dir = config_dir();
        if (!dir || !*dir) return CYRERR_CONFIG;
        path = strconcat(dir, "/", DUPLICATE_FNAME, (char *)NULL);
    }
    struct cyrusdb *db = NULL;
    int r = cyrusdb_open(backend, path, (flags & DUPLICATE_CREATE) ? CYRUSDB_CREATE : 0, &db);
    if (r) {
        free(path);
        return r;
    }
    struct duplicate *d = xzmalloc(sizeof(*d));
    d->db = db;
    d->fname = path;
    *dp = d;
    return 0;
}

int duplicate_close(struct duplicate **dp)
{
    struct duplicate *d = *dp;
    if (!d) return 0;
    int r = cyrusdb_close(d->db);
    free(d->fname);
    free(d);
    *dp = NULL;
    return r;
}

/* ---- keys and values -------------------------------------------------------- */

static int make_key(const struct duplicate_key *k, struct buf *key)
{
    if (!k || !k->id || !*k->id || !k->to || !*k->to) return CYRERR_BADARGS;
    const char *extra = k->extra ? k->extra : "";
    if (strlen(k->id) > DUPLICATE_PART_MAX || strlen(k->to) > DUPLICATE_PART_MAX ||
        strlen(extra) > DUPLICATE_PART_MAX)
        return CYRERR_TOOBIG;
    buf_reset(key);
    buf_appendcstr(key, k->id);
    buf_putc(key, '\0');
    buf_appendcstr(key, k->to);
    buf_putc(key, '\0');
    buf_appendcstr(key, extra);
    return 0;
}

/* Split a stored key into its three parts (pointers into `copy`, a
 * NUL-terminated copy of the key).  0 or CYRERR_CORRUPT. */
static int split_key(const char *copy, size_t len, struct duplicate_key *k)
{
    const char *p1 = memchr(copy, '\0', len);
    if (!p1) return CYRERR_CORRUPT;
    size_t rest = len - (size_t)(p1 - copy) - 1;
    const char *p2 = memchr(p1 + 1, '\0', rest);
    if (!p2) return CYRERR_CORRUPT;
    if (memchr(p2 + 1, '\0', len - (size_t)(p2 - copy) - 1)) return CYRERR_CORRUPT;
    k->id = copy;
    k->to = p1 + 1;
    k->extra = p2 + 1;
    if (!*k->id || !*k->to) return CYRERR_CORRUPT;
    return 0;
}

static int parse_value(const char *data, size_t len, time_t *mark, uint32_t *uid)
{
    char tmp[DUPLICATE_VALUE_MAX + 1];
    if (!len || len > DUPLICATE_VALUE_MAX || memchr(data, '\0', len)) return CYRERR_CORRUPT;
    memcpy(tmp, data, len);
    tmp[len] = '\0';
    char *end;
    if (tmp[0] < '0' || tmp[0] > '9') return CYRERR_CORRUPT;
    unsigned long long v = strtoull(tmp, &end, 10);
    if (v != DUPLICATE_VERSION || *end != ' ') return CYRERR_CORRUPT;
    const char *p = end + 1;
    if (*p < '0' || *p > '9') return CYRERR_CORRUPT;
    unsigned long long m = strtoull(p, &end, 10);
    if (*end != ' ' || m > INT64_MAX) return CYRERR_CORRUPT;
    p = end + 1;
    if (*p < '0' || *p > '9') return CYRERR_CORRUPT;
    unsigned long long u = strtoull(p, &end, 10);
    if (*end || u > UINT32_MAX) return CYRERR_CORRUPT;
    if (mark) *mark = (time_t)m;
    if (uid) *uid = (uint32_t)u;
    return 0;
}

/* ---- single records --------------------------------------------------------- */

int duplicate_check(struct duplicate *d, const struct duplicate_key *k, time_t *markp,
                    uint32_t *uidp)
{
    if (!d) return CYRERR_BADARGS;
    struct buf key = BUF_INITIALIZER, data = BUF_INITIALIZER;
    int r = make_key(k, &key);
    if (!r) r = cyrusdb_fetch(d->db, key.s, key.len, &data, NULL);
    if (r == CYRERR_NOTFOUND) {
        r = 0;
    } else if (!r) {
        r = parse_value(data.s, data.len, markp, uidp);
        if (r) {
            /* an unreadable record: deliver rather than lose mail */
            xsyslog(LOG_ERR, "duplicate: corrupt record", "file=<%s> id=<%s>", d->fname,
                    k->id);
            r = 0;
        } else {
            r = 1;
        }
    }
    buf_free(&key);
    buf_free(&data);
    return r;
}

int duplicate_mark(struct duplicate *d, const struct duplicate_key *k, time_t mark,
                   uint32_t uid)
{
    if (!d || mark < 0) return CYRERR_BADARGS;
    struct buf key = BUF_INITIALIZER, data = BUF_INITIALIZER;
    int r = make_key(k, &key);
    if (!r) {
        buf_printf(&data, "%d %lld %u", DUPLICATE_VERSION, (long long)mark, uid);
        r = cyrusdb_store(d->db, key.s, key.len, data.s, data.len, 0, NULL);
    }
    buf_free(&key);
    buf_free(&data);
    return r;
}

int duplicate_unmark(struct duplicate *d, const struct duplicate_key *k)
{
    if (!d) return CYRERR_BADARGS;
    struct buf key = BUF_INITIALIZER;
    int r = make_key(k, &key);
    if (!r) r = cyrusdb_delete(d->db, key.s, key.len, NULL);
    buf_free(&key);
    return r;
}

/* ---- expiry --------------------------------------------------------------- */

struct expire_rock {
    time_t cutoff;
    struct buf *keys;              /* records to remove */
    size_t count, alloc;
    struct duplicate_expire_stats *st;
};

/* Is a stored value older than the cutoff (or unreadable)? */
static int is_expired(const char *data, size_t len, time_t cutoff, int *corrupt)
{
    time_t mark;
    *corrupt = parse_value(data, len, &mark, NULL) != 0;
    return *corrupt || mark < cutoff;
}

static int expire_collect(void *rock, const char *key, size_t keylen, const char *data,
                          size_t datalen)
{
    struct expire_rock *e = rock;
    int corrupt;
    e->st->seen++;
    if (!is_expired(data, datalen, e->cutoff, &corrupt)) return 0;
    if (e->count == e->alloc) {
        e->alloc = e->alloc ? e->alloc * 2 : 64;
        e->keys = xreallocarray(e->keys, e->alloc, sizeof(*e->keys));
    }
    buf_init(&e->keys[e->count]);
    buf_setmap(&e->keys[e->count], key, keylen);
    e->count++;
    return 0;
}

struct expire_batch {
    struct expire_rock *e;
    size_t from, to;
    unsigned long expired, corrupt;
};

static int expire_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct expire_batch *b = arg;
    struct buf data = BUF_INITIALIZER;
    int r = 0;
    b->expired = b->corrupt = 0;
    for (size_t i = b->from; !r && i < b->to; i++) {
        const struct buf *key = &b->e->keys[i];
        /* look again: it may have been marked anew meanwhile */
        r = cyrusdb_fetch(db, key->s, key->len, &data, txn);
        if (r == CYRERR_NOTFOUND) {
            r = 0;
            continue;
        }
        int corrupt = 0;
        if (r || !is_expired(data.s, data.len, b->e->cutoff, &corrupt)) continue;
        r = cyrusdb_delete(db, key->s, key->len, txn);
        if (!r) {
            b->expired++;
            if (corrupt) b->corrupt++;
        }
    }
    buf_free(&data);
    return r;
}

int duplicate_expire(struct duplicate *d, int days, time_t now,
                     struct duplicate_expire_stats *st)
{
    struct duplicate_expire_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof(*st));
    if (!d || days < 0) return CYRERR_BADARGS;
    struct expire_rock e = { now - (time_t)days * 86400, NULL, 0, 0, st };
    int r = cyrusdb_foreach(d->db, "", 0, expire_collect, &e, NULL);
    for (size_t i = 0; !r && i < e.count; i += EXPIRE_BATCH) {
        struct expire_batch b = { &e, i, i + EXPIRE_BATCH < e.count ? i + EXPIRE_BATCH : e.count,
                                  0, 0 };
        r = txnretry_run(d->db, expire_fn, &b);
        if (!r) {
            st->expired += b.expired;
            st->corrupt += b.corrupt;
        }
    }
    for (size_t i = 0; i < e.count; i++) buf_free(&e.keys[i]);
    free(e.keys);
    if (r)
        xsyslog(LOG_ERR, "duplicate: expiry failed", "file=<%s> error=<%s>", d->fname,
                error_message(r));
    else
        xsyslog(LOG_INFO, "duplicate: expired", "file=<%s> seen=<%lu> expired=<%lu>",
                d->fname, st->seen, st->expired);
    return r;
}

/* ---- listing ----------------------------------------------------------- */

struct dup_item {
    struct buf key;
    time_t mark;
    uint32_t uid;
};

struct foreach_rock {
    struct dup_item *items;
    size_t count, alloc;
};

static int foreach_collect(void *rock, const char *key, size_t keylen, const char *data,
                           size_t datalen)
{
    struct foreach_rock *f = rock;
    time_t mark;
    uint32_t uid;
    if (parse_value(data, datalen, &mark, &uid)) return 0;
    if (f->count == f->alloc) {
        f->alloc = f->alloc ? f->alloc * 2 : 64;
        f->items = xreallocarray(f->items, f->alloc, sizeof(*f->items));
    }
    struct dup_item *it = &f->items[f->count++];
    buf_init(&it->key);
    buf_setmap(&it->key, key, keylen);
    it->mark = mark;
    it->uid = uid;
    return 0;
}

int duplicate_foreach(struct duplicate *d, duplicate_foreach_cb *cb, void *rock)
{
    if (!d || !cb) return CYRERR_BADARGS;
    struct foreach_rock f = { NULL, 0, 0 };
    int r = cyrusdb_foreach(d->db, "", 0, foreach_collect, &f, NULL);
    for (size_t i = 0; i < f.count; i++) {
        struct dup_item *it = &f.items[i];
        struct duplicate_key k;
        if (!r && !split_key(buf_cstring(&it->key), it->key.len, &k))
            r = cb(rock, &k, it->mark, it->uid);
        buf_free(&it->key);
    }
    free(f.items);
    return r;
}
