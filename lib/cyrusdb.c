/* cyrusdb: dispatch from the generic database calls to a backend.  See
 * cyrusdb.h.
 *
 * Every backend handle starts with a pointer to its backend's vtable, so a
 * `struct cyrusdb *` is dispatched by reading that first member; this file
 * never looks further into a handle.  Arguments are checked here once, so
 * the backends may assume a non-NULL handle, a key of at least one byte and
 * a non-NULL data pointer when the length is non-zero.
 *
 * The MBOXSORT order (cyrusdb_mboxsort_cmp) compares keys byte by byte as
 * unsigned values, except that '.' ranks directly after NUL, before every
 * other byte; a key that is a prefix of another sorts first.  So
 *   "user.a" < "user.a\0x" < "user.a.b" < "user.a.b.c" < "user.a b"
 *   < "user.a-b" < "user.aa" < "user.b"
 * and every mailbox's children follow it directly.  Because the order is
 * lexicographic over a per-byte rank, all keys with a given prefix are
 * contiguous and start at the prefix itself (foreach relies on that).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"

static const struct cyrusdb_backend *const backends[] = {
    &cyrusdb_berkeley,
    &cyrusdb_berkeley_nosync,
    &cyrusdb_flat,
};

static const struct cyrusdb_backend *backend_lookup(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (!strcmp(backends[i]->name, name)) return backends[i];
    return NULL;
}

int cyrusdb_backend_known(const char *name)
{
    return backend_lookup(name) != NULL;
}

const char *cyrusdb_backend_for(int imapopt)
{
    if (imapopt <= IMAPOPT_ZERO || imapopt >= IMAPOPT_LAST) return NULL;
    return config_getenum((enum imapopt)imapopt);
}

/* Create the directories leading to `fname` (mkdir -p of its dirname). */
static int make_parents(const char *fname)
{
    char *p = xstrdup(fname);
    int r = 0;
    char *last = strrchr(p, '/');
    struct stat st;
    if (last && last != p) {
        /* the usual case: the directory is there (one stat, no mkdirs) */
        *last = '\0';
        int there = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        *last = '/';
        if (there) {
            free(p);
            return 0;
        }
    }
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0750) < 0 && errno != EEXIST) {
            xsyslog(LOG_ERR, "IOERROR", "op=<mkdir> path=<%s> error=<%s>", p,
                    strerror(errno));
            r = errno == EACCES ? CYRERR_PERMISSION : CYRERR_IO;
            break;
        }
        *s = '/';
    }
    free(p);
    return r;
}

/* The vtable of an open handle: its first member (see the file comment). */
static const struct cyrusdb_backend *handle_backend(struct cyrusdb *db)
{
    return *(const struct cyrusdb_backend *const *)(void *)db;
}

int cyrusdb_open(const char *backend, const char *fname, int flags, struct cyrusdb **dbp)
{
    if (!dbp) return CYRERR_BADARGS;
    *dbp = NULL;
    const struct cyrusdb_backend *be = backend_lookup(backend);
    if (!be || !fname || !*fname) return CYRERR_BADARGS;
    if (flags & ~(CYRUSDB_CREATE | CYRUSDB_MBOXSORT | CYRUSDB_READONLY))
        return CYRERR_BADARGS;
    if ((be == &cyrusdb_berkeley || be == &cyrusdb_berkeley_nosync) && !cyrusdb_dbdir()) {
        /* first Berkeley database of the process: the environment lives in
         * <configdirectory>/db unless the program chose another. */
        const char *cfgdir = config_dir();
        if (!cfgdir || !*cfgdir) return CYRERR_CONFIG;
        char *dir = strconcat(cfgdir, "/db", (char *)NULL);
        int r = cyrusdb_init(dir);
        free(dir);
        if (r) return r;
    }
    if ((flags & CYRUSDB_CREATE) && !(flags & CYRUSDB_READONLY)) {
        int r = make_parents(fname);
        if (r) return r;
    }
    return be->open(fname, flags, dbp);
}

int cyrusdb_close(struct cyrusdb *db)
{
    if (!db) return 0;
    return handle_backend(db)->close(db);
}

int cyrusdb_remove(const char *backend, const char *fname)
{
    const struct cyrusdb_backend *be = backend_lookup(backend);
    if (!be || !fname || !*fname) return CYRERR_BADARGS;
    return be->remove(fname);
}

int cyrusdb_begin(struct cyrusdb *db, struct cyrusdb_txn **txnp)
{
    if (!db || !txnp) return CYRERR_BADARGS;
    *txnp = NULL;
    return handle_backend(db)->begin(db, txnp);
}

int cyrusdb_commit(struct cyrusdb *db, struct cyrusdb_txn *txn)
{
    if (!db || !txn) return CYRERR_BADARGS;
    return handle_backend(db)->commit(db, txn);
}

int cyrusdb_abort(struct cyrusdb *db, struct cyrusdb_txn *txn)
{
    if (!db || !txn) return CYRERR_BADARGS;
    return handle_backend(db)->abort(db, txn);
}

static int key_ok(const char *key, size_t keylen)
{
    return key && keylen > 0;
}

int cyrusdb_fetch(struct cyrusdb *db, const char *key, size_t keylen, struct buf *data,
                  struct cyrusdb_txn *txn)
{
    if (!db || !key_ok(key, keylen) || !data) return CYRERR_BADARGS;
    return handle_backend(db)->fetch(db, key, keylen, data, txn);
}

int cyrusdb_store(struct cyrusdb *db, const char *key, size_t keylen, const char *data,
                  size_t datalen, int flags, struct cyrusdb_txn *txn)
{
    if (!db || !key_ok(key, keylen) || (!data && datalen)) return CYRERR_BADARGS;
    if (flags & ~CYRUSDB_NOOVERWRITE) return CYRERR_BADARGS;
    if (!data) data = "";
    return handle_backend(db)->store(db, key, keylen, data, datalen, flags, txn);
}

int cyrusdb_delete(struct cyrusdb *db, const char *key, size_t keylen,
                   struct cyrusdb_txn *txn)
{
    if (!db || !key_ok(key, keylen)) return CYRERR_BADARGS;
    return handle_backend(db)->delete_(db, key, keylen, txn);
}

int cyrusdb_foreach(struct cyrusdb *db, const char *prefix, size_t prefixlen,
                    cyrusdb_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn)
{
    if (!db || !cb || (!prefix && prefixlen)) return CYRERR_BADARGS;
    if (!prefix) prefix = "";
    return handle_backend(db)->foreach (db, prefix, prefixlen, cb, rock, txn);
}

/* Rank of a byte in the MBOXSORT order: NUL, then '.', then the rest. */
static inline unsigned mboxsort_rank(unsigned char c)
{
    if (c == '.') return 1;
    if (c == 0) return 0;
    return (unsigned)c + 1;
}

int cyrusdb_mboxsort_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca == cb) continue;
        return mboxsort_rank(ca) < mboxsort_rank(cb) ? -1 : 1;
    }
    if (alen == blen) return 0;
    return alen < blen ? -1 : 1;
}
