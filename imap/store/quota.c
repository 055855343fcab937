/* quota: quota roots in the quota database.  See quota.h.
 *
 * Record format (text, version 1), keyed by the root name:
 *   "1 <used_bytes> <used_msgs> <limit_kib> <limit_msgs>"
 * with -1 for a missing limit.  Every change is a read-modify-write inside
 * one cyrusdb transaction, retried from the start on CYRERR_DEADLOCK, so
 * that concurrent processes never lose an update.
 *
 * Process-wide state (as quota.h documents): the open database handle, its
 * path and backend, and the pid that opened it (a forked child reopens the
 * database on its first call instead of sharing the parent's handle).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mboxname.h"
#include "imap/store/quota.h"
#include "imap/store/txnretry.h"

#define QUOTA_FNAME "quotas.db"
#define QUOTA_VERSION 1
#define QUOTA_RECORD_MAX 200      /* bytes of a stored value */

static struct {
    struct cyrusdb *db;
    char *fname;
    char *backend;
    pid_t pid;
} qdb;

static const char *const resource_names[QUOTA_NUMRESOURCES] = { "STORAGE", "MESSAGE" };

const char *quota_resource_name(enum quota_resource res)
{
    return (res >= 0 && res < QUOTA_NUMRESOURCES) ? resource_names[res] : NULL;
}

int quota_resource_from_name(const char *name)
{
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++)
        if (name && !strcasecmp(name, resource_names[i])) return i;
    return -1;
}

/* ---- the database handle ------------------------------------------------ */

static int reopen(void)
{
    int r = cyrusdb_open(qdb.backend, qdb.fname, CYRUSDB_CREATE | CYRUSDB_MBOXSORT,
                         &qdb.db);
    if (r) {
        qdb.db = NULL;
        xsyslog(LOG_ERR, "quota: cannot open database", "file=<%s> error=<%s>",
                qdb.fname, error_message(r));
        return r;
    }
    qdb.pid = getpid();
    return 0;
}

int quota_open_backend(const char *backend, const char *path)
{
    quota_close();
    if (!backend) backend = cyrusdb_backend_for(IMAPOPT_QUOTA_DB);
    if (!backend || !cyrusdb_backend_known(backend)) return CYRERR_CONFIG;
    if (path) {
        qdb.fname = xstrdup(path);
    } else {
        const char *dir = config_dir();
        if (!dir || !*dir) return CYRERR_CONFIG;
        qdb.fname = strconcat(dir, "/", QUOTA_FNAME, (char *)NULL);
    }
    qdb.backend = xstrdup(backend);
    int r = reopen();
    if (r) quota_close();
    return r;
}

int quota_open(const char *path)
{
    return quota_open_backend(NULL, path);
}

void quota_close(void)
{
    if (qdb.db) {
        int r = cyrusdb_close(qdb.db);
        if (r)
            xsyslog(LOG_ERR, "quota: close failed", "file=<%s> error=<%s>", qdb.fname,
                    error_message(r));
    }
    free(qdb.fname);
    free(qdb.backend);
    memset(&qdb, 0, sizeof(qdb));
}

/* The open database: opened lazily, reopened in a forked child. */
static int get_db(struct cyrusdb **dbp)
{
    int r;
    if (qdb.db && qdb.pid != getpid()) {
        (void)cyrusdb_close(qdb.db);   /* the child's copy only */
        qdb.db = NULL;
        if ((r = reopen())) return r;
    }
    if (!qdb.db) {
        if (qdb.fname) r = reopen();
        else r = quota_open(NULL);
        if (r) return r;
    }
    *dbp = qdb.db;
    return 0;
}

/* ---- records ------------------------------------------------------------- */

void quota_init(struct quota *q, const char *root)
{
    memset(q, 0, sizeof(*q));
    q->root = xstrdupnull(root);
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) q->limit[i] = QUOTA_UNLIMITED;
}

void quota_free(struct quota *q)
{
    free(q->root);
    q->root = NULL;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        q->used[i] = 0;
        q->limit[i] = QUOTA_UNLIMITED;
    }
}

static void set_root(struct quota *q, const char *root, size_t len)
{
    if (q->root && strlen(q->root) == len && !memcmp(q->root, root, len)) return;
    free(q->root);
    q->root = xstrndup(root, len);
}

/* One decimal number (optionally negative) followed by a space or the end. */
static int parse_ll(const char **p, long long *out)
{
    const char *s = *p;
    char *end;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) return CYRERR_CORRUPT;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || (*end && *end != ' ')) return CYRERR_CORRUPT;
    *out = v;
    *p = *end ? end + 1 : end;
    return 0;
}

static int parse_record(const char *data, size_t len, struct quota *q)
{
    if (len == 0 || len > QUOTA_RECORD_MAX || memchr(data, '\0', len) || data[len - 1] == ' ')
        return CYRERR_CORRUPT;
    char tmp[QUOTA_RECORD_MAX + 1];
    memcpy(tmp, data, len);
    tmp[len] = '\0';
    const char *p = tmp;
    long long v[5];
    for (int i = 0; i < 5; i++) {
        if (!*p || parse_ll(&p, &v[i])) return CYRERR_CORRUPT;
    }
    if (*p || v[0] != QUOTA_VERSION) return CYRERR_CORRUPT;
    if (v[1] < 0 || v[2] < 0 || v[3] < -1 || v[4] < -1) return CYRERR_CORRUPT;
    q->used[QUOTA_STORAGE] = v[1];
    q->used[QUOTA_MESSAGE] = v[2];
    q->limit[QUOTA_STORAGE] = v[3];
    q->limit[QUOTA_MESSAGE] = v[4];
    return 0;
}

static void format_record(const struct quota *q, struct buf *out)
{
    buf_reset(out);
    buf_printf(out, "%d %lld %lld %lld %lld", QUOTA_VERSION, q->used[QUOTA_STORAGE],
               q->used[QUOTA_MESSAGE], q->limit[QUOTA_STORAGE], q->limit[QUOTA_MESSAGE]);
}

int quota_root_valid(const char *root)
{
    if (!root || !*root) return 0;
    size_t n = strlen(root);
    if (root[n - 1] == '!') {
        /* a domain's root: "example.org!" */
        char *d = xstrndup(root, n - 1);
        int ok = !strchr(d, '!') && mboxname_valid_domain(d) == 0;
        free(d);
        return ok;
    }
    return mboxname_valid(root) == 0;
}

/* Fetch and parse `root` inside txn (may be NULL). */
static int fetch_quota(struct cyrusdb *db, const char *root, struct quota *q,
                       struct cyrusdb_txn *txn)
{
    struct buf data = BUF_INITIALIZER;
    int r = cyrusdb_fetch(db, root, strlen(root), &data, txn);
    if (r == CYRERR_NOTFOUND) r = CYRERR_QUOTAROOT_NONEXISTENT;
    if (!r) {
        r = parse_record(data.s, data.len, q);
        if (r)
            xsyslog(LOG_ERR, "quota: corrupt record", "root=<%s> value=<%.*s>", root,
                    (int)(data.len > 100 ? 100 : data.len), buf_base(&data));
    }
    buf_free(&data);
    return r;
}

static int store_quota(struct cyrusdb *db, const char *root, const struct quota *q,
                       struct cyrusdb_txn *txn)
{
    struct buf data = BUF_INITIALIZER;
    format_record(q, &data);
    int r = cyrusdb_store(db, root, strlen(root), data.s, data.len, 0, txn);
    buf_free(&data);
    return r;
}

/* Run fn in one transaction on the quota database (txnretry.h). */
static int run_txn(txnretry_fn *fn, void *arg)
{
    struct cyrusdb *db;
    int r = get_db(&db);
    if (r) return r;
    return txnretry_run(db, fn, arg);
}

/* ---- reading and changing roots ------------------------------------------ */

int quota_read(const char *root, struct quota *q)
{
    struct cyrusdb *db;
    if (!root || !*root) return CYRERR_BADARGS;
    int r = get_db(&db);
    if (r) return r;
    struct quota tmp;
    quota_init(&tmp, NULL);
    r = fetch_quota(db, root, &tmp, NULL);
    if (r) return r;
    set_root(q, root, strlen(root));
    memcpy(q->used, tmp.used, sizeof(q->used));
    memcpy(q->limit, tmp.limit, sizeof(q->limit));
    return 0;
}

struct setlimits_arg {
    const char *root;
    const long long *limit;
};

static int setlimits_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct setlimits_arg *a = arg;
    struct quota q;
    quota_init(&q, NULL);
    int r = fetch_quota(db, a->root, &q, txn);
    if (r == CYRERR_QUOTAROOT_NONEXISTENT) {
        quota_init(&q, NULL);   /* a new root: no usage yet */
        r = 0;
    }
    if (r) return r;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++)
        q.limit[i] = a->limit[i] < 0 ? QUOTA_UNLIMITED : a->limit[i];
    return store_quota(db, a->root, &q, txn);
}

int quota_setlimits(const char *root, const long long limit[QUOTA_NUMRESOURCES])
{
    if (!quota_root_valid(root) || !limit) return CYRERR_BADARGS;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++)
        if (limit[i] < QUOTA_UNLIMITED) return CYRERR_BADARGS;
    struct setlimits_arg a = { root, limit };
    return run_txn(setlimits_fn, &a);
}

static int delete_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    const char *root = arg;
    int r = cyrusdb_delete(db, root, strlen(root), txn);
    return r == CYRERR_NOTFOUND ? CYRERR_QUOTAROOT_NONEXISTENT : r;
}

int quota_delete(const char *root)
{
    if (!root || !*root) return CYRERR_BADARGS;
    return run_txn(delete_fn, (void *)root);
}

/* Next shorter candidate root of `name` in `key` ("a.b.c" -> "a.b"); 0 when
 * the name is top level.  The domain part ("d!") is never cut. */
static int cut_component(struct buf *key)
{
    const char *s = buf_cstring(key);
    const char *bang = strchr(s, '!');
    const char *start = bang ? bang + 1 : s;
    const char *dot = strrchr(start, '.');
    if (!dot) return 0;
    buf_truncate(key, (size_t)(dot - s));
    return 1;
}

int quota_lookup_root(const char *mboxname, char **root_r)
{
    *root_r = NULL;
    if (!mboxname || !*mboxname) return CYRERR_BADARGS;
    struct cyrusdb *db;
    int r = get_db(&db);
    if (r) return r;
    struct buf key = BUF_INITIALIZER, data = BUF_INITIALIZER;
    buf_setcstr(&key, mboxname);
    for (;;) {
        r = cyrusdb_fetch(db, key.s, key.len, &data, NULL);
        if (r != CYRERR_NOTFOUND) break;
        if (!cut_component(&key)) break;
    }
    /* a domain's own root governs all its mailboxes */
    const char *bang = strchr(mboxname, '!');
    if (r == CYRERR_NOTFOUND && bang && bang[1]) {
        buf_setmap(&key, mboxname, (size_t)(bang - mboxname) + 1);
        r = cyrusdb_fetch(db, key.s, key.len, &data, NULL);
    }
    if (!r) {
        *root_r = buf_release(&key);
    } else if (r == CYRERR_NOTFOUND) {
        r = 0;
    } else {
        xsyslog(LOG_ERR, "quota: findroot failed", "mailbox=<%s> error=<%s>", mboxname,
                error_message(r));
    }
    buf_free(&key);
    buf_free(&data);
    return r;
}

char *quota_findroot(const char *mboxname)
{
    char *root;
    if (quota_lookup_root(mboxname, &root)) return NULL;
    return root;
}

/* ---- usage ----------------------------------------------------------------- */

/* limit in the unit of `used` (bytes for STORAGE); LLONG_MAX when it cannot
 * be represented (i.e. no practical limit). */
static long long limit_in_units(const struct quota *q, int res)
{
    long long l = q->limit[res];
    if (res == QUOTA_STORAGE) {
        if (l > LLONG_MAX / 1024) return LLONG_MAX;
        l *= 1024;
    }
    return l;
}

int quota_check(const struct quota *q, long long delta_bytes, long long delta_msgs)
{
    long long delta[QUOTA_NUMRESOURCES] = { delta_bytes, delta_msgs };
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        if (delta[i] <= 0 || q->limit[i] < 0) continue;
        long long sum;
        if (__builtin_add_overflow(q->used[i], delta[i], &sum)) return CYRERR_QUOTA_EXCEEDED;
        if (sum > limit_in_units(q, i)) return CYRERR_QUOTA_EXCEEDED;
    }
    return 0;
}

static long long add_clamped(long long used, long long delta)
{
    long long sum;
    if (__builtin_add_overflow(used, delta, &sum)) return delta > 0 ? LLONG_MAX : 0;
    return sum < 0 ? 0 : sum;
}

struct update_arg {
    const char *root;
    long long delta[QUOTA_NUMRESOURCES];
    int set;          /* set outright instead of adding */
};

static int update_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct update_arg *a = arg;
    struct quota q;
    quota_init(&q, NULL);
    int r = fetch_quota(db, a->root, &q, txn);
    if (r) return r;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++)
        q.used[i] = a->set ? a->delta[i] : add_clamped(q.used[i], a->delta[i]);
    return store_quota(db, a->root, &q, txn);
}

int quota_update_used(const char *root, long long delta_bytes, long long delta_msgs)
{
    if (!root || !*root) return CYRERR_BADARGS;
    struct update_arg a = { root, { delta_bytes, delta_msgs }, 0 };
    int r = run_txn(update_fn, &a);
    if (r && r != CYRERR_QUOTAROOT_NONEXISTENT)
        xsyslog(LOG_ERR, "quota: update failed", "root=<%s> bytes=<%lld> msgs=<%lld> error=<%s>",
                root, delta_bytes, delta_msgs, error_message(r));
    return r;
}

int quota_set_used(const char *root, long long bytes, long long msgs)
{
    if (!root || !*root || bytes < 0 || msgs < 0) return CYRERR_BADARGS;
    struct update_arg a = { root, { bytes, msgs }, 1 };
    return run_txn(update_fn, &a);
}

/* used * 100 / limit for one resource; -1 without a limit. */
static int percent_of(const struct quota *q, int res)
{
    if (q->limit[res] < 0) return -1;
    if (q->limit[res] == 0) return 100;
    long double pct = (long double)q->used[res] * 100.0L / (long double)q->limit[res];
    if (res == QUOTA_STORAGE) pct /= 1024.0L;
    if (pct >= (long double)INT_MAX) return INT_MAX;
    return (int)pct;
}

int quota_percent_used(const struct quota *q)
{
    int best = -1;
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        int p = percent_of(q, i);
        if (p > best) best = p;
    }
    return best;
}

int quota_resource_percent(const struct quota *q, enum quota_resource res)
{
    if (res < 0 || res >= QUOTA_NUMRESOURCES) return -1;
    return percent_of(q, res);
}

int quota_warn_with(const struct quota *q, int warnpct, long long warnkb)
{
    for (int i = 0; i < QUOTA_NUMRESOURCES; i++) {
        int p = percent_of(q, i);
        if (p < 0 || p < warnpct) continue;
        if (i == QUOTA_STORAGE && warnkb > 0 && q->limit[i] >= warnkb) {
            long long freekb = q->limit[i] - q->used[i] / 1024;
            if (freekb > warnkb) continue;   /* plenty left in absolute terms */
        }
        return 1;
    }
    return 0;
}

int quota_warn(const struct quota *q)
{
    long long pct = config_getint(IMAPOPT_QUOTAWARN);
    if (pct > INT_MAX) pct = INT_MAX;
    if (pct < 0) pct = 0;
    return quota_warn_with(q, (int)pct, config_getint(IMAPOPT_QUOTAWARNKB));
}

/* ---- listing ----------------------------------------------------------- */

struct collect_rock {
    struct quota *list;
    size_t count, alloc;
};

static int collect_one(void *rock, const char *key, size_t keylen, const char *data,
                       size_t datalen)
{
    struct collect_rock *c = rock;
    struct quota q;
    quota_init(&q, NULL);
    if (parse_record(data, datalen, &q)) {
        xsyslog(LOG_ERR, "quota: corrupt record skipped", "root=<%.*s>", (int)keylen, key);
        return 0;
    }
    if (c->count == c->alloc) {
        c->alloc = c->alloc ? c->alloc * 2 : 16;
        c->list = xreallocarray(c->list, c->alloc, sizeof(*c->list));
    }
    q.root = xstrndup(key, keylen);
    c->list[c->count++] = q;
    return 0;
}

int quota_foreach(const char *prefix, int (*cb)(const struct quota *q, void *rock),
                  void *rock)
{
    struct cyrusdb *db;
    int r = get_db(&db);
    if (r) return r;
    if (!prefix) prefix = "";
    /* collect first, so that cb may change the database */
    struct collect_rock c = { NULL, 0, 0 };
    r = cyrusdb_foreach(db, prefix, strlen(prefix), collect_one, &c, NULL);
    for (size_t i = 0; i < c.count; i++) {
        if (!r) r = cb(&c.list[i], rock);
        quota_free(&c.list[i]);
    }
    free(c.list);
    return r;
}
