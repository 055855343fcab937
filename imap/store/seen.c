/* seen: per-user seen state.  See seen.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/seen.h"
#include "imap/store/txnretry.h"
#include "imap/store/userfile.h"

#define SEEN_VERSION 1

struct seen {
    struct cyrusdb *db;
    char *fname;
};

void seen_data_init(struct seen_data *sd)
{
    memset(sd, 0, sizeof(*sd));
}

void seen_data_free(struct seen_data *sd)
{
    seqset_free(&sd->uids);
    memset(sd, 0, sizeof(*sd));
}

static void seen_data_reset(struct seen_data *sd)
{
    sd->lastread = 0;
    sd->lastuid = 0;
    sd->lastchange = 0;
    seqset_clear(&sd->uids);
}

/* ---- record text ---------------------------------------------------------- */

void seen_data_format(const struct seen_data *sd, struct buf *out)
{
    buf_reset(out);
    buf_printf(out, "%d %lld %u %lld ", SEEN_VERSION, (long long)sd->lastread, sd->lastuid,
               (long long)sd->lastchange);
    seqset_format(&sd->uids, out);
}

/* An unsigned decimal number at *p, then a space or the end of the text. */
static int parse_u64(const char **p, const char *end, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9') return CYRERR_CORRUPT;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v > (max - (uint64_t)(*s - '0')) / 10) return CYRERR_CORRUPT;
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (s < end) {
        if (*s != ' ') return CYRERR_CORRUPT;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int seen_data_parse(const char *value, size_t len, struct seen_data *sd)
{
    const char *p = value, *end = value + len;
    uint64_t v[4];
    static const uint64_t max[4] = { 1000000, INT64_MAX, UINT32_MAX, INT64_MAX };

    seen_data_reset(sd);
    for (int i = 0; i < 4; i++) {
        if (parse_u64(&p, end, max[i], &v[i])) return CYRERR_CORRUPT;
        if (i < 3 && p == end) return CYRERR_CORRUPT;
    }
    if (v[0] != SEEN_VERSION) return CYRERR_CORRUPT;
    if (seqset_parse(p, (size_t)(end - p), 0, &sd->uids)) return CYRERR_CORRUPT;
    sd->lastread = (time_t)v[1];
    sd->lastuid = (uint32_t)v[2];
    sd->lastchange = (time_t)v[3];
    return 0;
}

/* ---- opening ------------------------------------------------------------- */

int seen_open_file(const char *backend, const char *fname, int flags, struct seen **sp)
{
    *sp = NULL;
    if (!backend) backend = cyrusdb_backend_for(IMAPOPT_SEENSTATE_DB);
    if (!backend || !cyrusdb_backend_known(backend)) return CYRERR_CONFIG;
    if (!fname || !*fname) return CYRERR_BADARGS;
    struct cyrusdb *db = NULL;
    int r = cyrusdb_open(backend, fname, (flags & SEEN_CREATE) ? CYRUSDB_CREATE : 0, &db);
    if (r) return r;
    struct seen *s = xzmalloc(sizeof(*s));
    s->db = db;
    s->fname = xstrdup(fname);
    *sp = s;
    return 0;
}

int seen_path(const char *userid, struct buf *path)
{
    return userfile_path(userid, SEEN_SUFFIX, path);
}

int seen_open(const char *userid, int flags, struct seen **sp)
{
    struct buf path = BUF_INITIALIZER;
    *sp = NULL;
    int r = seen_path(userid, &path);
    if (!r) r = seen_open_file(NULL, buf_cstring(&path), flags, sp);
    buf_free(&path);
    return r;
}

int seen_close(struct seen **sp)
{
    struct seen *s = *sp;
    if (!s) return 0;
    int r = cyrusdb_close(s->db);
    free(s->fname);
    free(s);
    *sp = NULL;
    return r;
}

/* ---- records ------------------------------------------------------------- */

static int key_ok(const char *uniqueid)
{
    return uniqueid && *uniqueid && strlen(uniqueid) <= SEEN_UNIQUEID_MAX;
}

/* Fetch and parse; a missing record is empty data. */
static int fetch(struct seen *s, const char *uniqueid, struct seen_data *sd,
                 struct cyrusdb_txn *txn)
{
    struct buf data = BUF_INITIALIZER;
    int r = cyrusdb_fetch(s->db, uniqueid, strlen(uniqueid), &data, txn);
    if (r == CYRERR_NOTFOUND) {
        seen_data_reset(sd);
        r = 0;
    } else if (!r) {
        r = seen_data_parse(data.s, data.len, sd);
        if (r)
            xsyslog(LOG_ERR, "seen: corrupt record", "file=<%s> uniqueid=<%s>", s->fname,
                    uniqueid);
    }
    buf_free(&data);
    return r;
}

static int store(struct seen *s, const char *uniqueid, const struct seen_data *sd,
                 struct cyrusdb_txn *txn)
{
    struct buf data = BUF_INITIALIZER;
    seen_data_format(sd, &data);
    int r = cyrusdb_store(s->db, uniqueid, strlen(uniqueid), data.s, data.len, 0, txn);
    buf_free(&data);
    return r;
}

int seen_read(struct seen *s, const char *uniqueid, struct seen_data *sd)
{
    if (!s || !key_ok(uniqueid)) return CYRERR_BADARGS;
    return fetch(s, uniqueid, sd, NULL);
}

int seen_write(struct seen *s, const char *uniqueid, const struct seen_data *sd)
{
    if (!s || !key_ok(uniqueid) || !sd) return CYRERR_BADARGS;
    return store(s, uniqueid, sd, NULL);
}

struct modify_arg {
    struct seen *s;
    const char *uniqueid;
    const struct seqset *uids;
    int add;
    time_t now;
    struct seen_data sd;
};

static int modify_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct modify_arg *a = arg;
    (void)db;
    int r = fetch(a->s, a->uniqueid, &a->sd, txn);
    if (r) return r;
    uint64_t before = seqset_cardinality(&a->sd.uids);
    if (a->add) seqset_union(&a->sd.uids, a->uids);
    else seqset_subtract(&a->sd.uids, a->uids);
    /* both operations only grow or only shrink the set */
    if (seqset_cardinality(&a->sd.uids) != before) a->sd.lastchange = a->now;
    else return 0;   /* nothing to write */
    return store(a->s, a->uniqueid, &a->sd, txn);
}

static int modify(struct seen *s, const char *uniqueid, const struct seqset *uids,
                  int add, time_t now, struct seen_data *out)
{
    if (!s || !key_ok(uniqueid) || !uids) return CYRERR_BADARGS;
    struct modify_arg a = { s, uniqueid, uids, add, now, SEEN_DATA_INITIALIZER };
    int r = txnretry_run(s->db, modify_fn, &a);
    if (!r && out) {
        seen_data_free(out);
        *out = a.sd;
    } else {
        seen_data_free(&a.sd);
    }
    return r;
}

int seen_add_uids(struct seen *s, const char *uniqueid, const struct seqset *uids,
                  time_t now, struct seen_data *out)
{
    return modify(s, uniqueid, uids, 1, now, out);
}

int seen_remove_uids(struct seen *s, const char *uniqueid, const struct seqset *uids,
                     time_t now, struct seen_data *out)
{
    return modify(s, uniqueid, uids, 0, now, out);
}

int seen_delete_mailbox(struct seen *s, const char *uniqueid)
{
    if (!s || !key_ok(uniqueid)) return CYRERR_BADARGS;
    return cyrusdb_delete(s->db, uniqueid, strlen(uniqueid), NULL);
}

/* ---- listing ------------------------------------------------------------- */

struct seen_item {
    char *key;
    struct seen_data sd;
};

struct collect_rock {
    const char *fname;
    struct seen_item *items;
    size_t count, alloc;
};

static int collect_one(void *rock, const char *key, size_t keylen, const char *data,
                       size_t datalen)
{
    struct collect_rock *c = rock;
    struct seen_data sd = SEEN_DATA_INITIALIZER;
    if (seen_data_parse(data, datalen, &sd)) {
        xsyslog(LOG_ERR, "seen: corrupt record skipped", "file=<%s> uniqueid=<%.*s>",
                c->fname, (int)keylen, key);
        seen_data_free(&sd);
        return 0;
    }
    if (c->count == c->alloc) {
        c->alloc = c->alloc ? c->alloc * 2 : 16;
        c->items = xreallocarray(c->items, c->alloc, sizeof(*c->items));
    }
    c->items[c->count].key = xstrndup(key, keylen);
    c->items[c->count].sd = sd;
    c->count++;
    return 0;
}

int seen_foreach(struct seen *s, seen_foreach_cb *cb, void *rock)
{
    if (!s || !cb) return CYRERR_BADARGS;
    struct collect_rock c = { s->fname, NULL, 0, 0 };
    int r = cyrusdb_foreach(s->db, "", 0, collect_one, &c, NULL);
    for (size_t i = 0; i < c.count; i++) {
        if (!r) r = cb(rock, c.items[i].key, &c.items[i].sd);
        free(c.items[i].key);
        seen_data_free(&c.items[i].sd);
    }
    free(c.items);
    return r;
}

/* ---- whole users ------------------------------------------------------------ */

int seen_delete_user(const char *userid)
{
    struct buf path = BUF_INITIALIZER;
    int r = seen_path(userid, &path);
    if (!r) {
        r = cyrusdb_remove(cyrusdb_backend_for(IMAPOPT_SEENSTATE_DB), buf_cstring(&path));
        if (r == CYRERR_NOTFOUND) r = 0;
        if (r)
            xsyslog(LOG_ERR, "seen: cannot remove user's file", "user=<%s> error=<%s>",
                    userid, error_message(r));
    }
    buf_free(&path);
    return r;
}

struct copy_arg {
    struct seen *to;
    struct collect_rock *from;
};

static int copy_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct copy_arg *a = arg;
    (void)db;
    int r = 0;
    for (size_t i = 0; !r && i < a->from->count; i++)
        r = store(a->to, a->from->items[i].key, &a->from->items[i].sd, txn);
    return r;
}

int seen_rename_user(const char *olduser, const char *newuser)
{
    struct buf oldpath = BUF_INITIALIZER, newpath = BUF_INITIALIZER;
    struct seen *from = NULL, *to = NULL;
    struct collect_rock c = { NULL, NULL, 0, 0 };

    int r = seen_path(olduser, &oldpath);
    if (!r) r = seen_path(newuser, &newpath);
    if (r) goto done;
    if (!strcmp(buf_cstring(&oldpath), buf_cstring(&newpath))) goto done;
    r = seen_open_file(NULL, buf_cstring(&oldpath), 0, &from);
    if (r == CYRERR_NOTFOUND) {
        r = 0;             /* nothing to move */
        goto done;
    }
    if (r) goto done;
    c.fname = from->fname;
    r = cyrusdb_foreach(from->db, "", 0, collect_one, &c, NULL);
    int r2 = seen_close(&from);
    if (!r) r = r2;
    if (r) goto done;
    r = seen_open_file(NULL, buf_cstring(&newpath), SEEN_CREATE, &to);
    if (r) goto done;
    struct copy_arg a = { to, &c };
    r = txnretry_run(to->db, copy_fn, &a);
    r2 = seen_close(&to);
    if (!r) r = r2;
    if (!r) {
        r = cyrusdb_remove(cyrusdb_backend_for(IMAPOPT_SEENSTATE_DB), buf_cstring(&oldpath));
        if (r == CYRERR_NOTFOUND) r = 0;
    }
done:
    if (r)
        xsyslog(LOG_ERR, "seen: cannot rename user", "from=<%s> to=<%s> error=<%s>",
                olduser, newuser, error_message(r));
    for (size_t i = 0; i < c.count; i++) {
        free(c.items[i].key);
        seen_data_free(&c.items[i].sd);
    }
    free(c.items);
    buf_free(&oldpath);
    buf_free(&newpath);
    return r;
}
