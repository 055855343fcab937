/* cyrusdb_flat: the "flat" cyrusdb backend, a sorted text file.  See
 * cyrusdb.h for the interface.
 *
 * File format: one record per line, "key<TAB>value<LF>", lines sorted by
 * key (plain byte order, or the MBOXSORT order for databases opened with
 * CYRUSDB_MBOXSORT).  Five bytes are escaped with a backslash so that keys
 * and values may hold any byte: backslash as "\\", TAB as "\t", LF as "\n",
 * CR as "\r" and NUL as "\0".  A file whose lines are not sorted is sorted
 * when read; a line without a TAB or a final LF, an unknown escape, an empty
 * key or a key given twice make the file CYRERR_CORRUPT.
 *
 * Concurrency: every handle keeps the whole file in memory.  Readers check
 * the file's identity (device, inode, size, mtime, ctime) on every call and
 * re-read it under a shared lock when it changed.  A writer takes an
 * exclusive lock from the start of its transaction to its end, makes its
 * changes in memory, and commits by writing a temporary file beside the
 * database ("<file>.cdbtmp.XXXXXX"), fsync, rename over the database, fsync
 * of the directory.  An abort drops the changes.  An auto-committed write is
 * a transaction of its own (so it rewrites the file).  The locks are Linux
 * open-file-description fcntl locks (F_OFD_SETLKW), which also separate two
 * handles of one process; a lock waiter re-opens the file when the path was
 * renamed over while it waited.
 *
 * Threads: a handle may be shared by threads; its state is guarded by a
 * (recursive) mutex.  A transaction belongs to the thread that began it; an
 * auto-committed call of that thread on the same handle joins it, the other
 * threads wait until it ends.  Two handles on one file inside one thread
 * must not overlap a transaction on one with a re-read on the other.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cyrusdb.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

#define FLAT_FILE_MODE 0600
#define FLAT_WRITE_CHUNK (64 * 1024)

struct flat_rec {
    size_t klen, vlen;
    char data[]; /* key bytes, then value bytes */
};

struct flat_ident {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    mode_t mode;
};

struct flat_txn {
    struct flat_db *db;
    int dirty;
};

struct flat_db {
    const struct cyrusdb_backend *backend; /* first member: see cyrusdb.h */
    char *fname;
    int flags;
    pthread_mutex_t mu; /* recursive; guards everything below */
    pthread_cond_t txn_done;
    int fd;     /* the file whose contents are loaded, or -1 */
    int lockfd; /* holds the exclusive lock during a txn, or -1 */
    int loaded;
    struct flat_ident id;   /* identity of the loaded file */
    struct flat_rec **recs; /* sorted */
    size_t nrecs, arecs;
    unsigned long mods;   /* bumped at every change of recs */
    struct flat_txn *txn; /* the open transaction */
    pthread_t owner;      /* the thread that began it */
};

static struct flat_db *F(struct cyrusdb *db)
{
    return (struct flat_db *)(void *)db;
}

/* ---- comparison and search ------------------------------------------------ */

static int key_cmp(const struct flat_db *db, const char *a, size_t alen, const char *b,
                   size_t blen)
{
    if (db->flags & CYRUSDB_MBOXSORT) return cyrusdb_mboxsort_cmp(a, alen, b, blen);
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int rec_cmp(const struct flat_db *db, const struct flat_rec *a,
                   const struct flat_rec *b)
{
    return key_cmp(db, a->data, a->klen, b->data, b->klen);
}

/* Index of the first record >= key (upper: > key); *found when equal. */
static size_t search(const struct flat_db *db, const char *key, size_t klen, int upper,
                     int *found)
{
    size_t lo = 0, hi = db->nrecs;
    if (found) *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct flat_rec *r = db->recs[mid];
        int c = key_cmp(db, r->data, r->klen, key, klen);
        if (c < 0 || (upper && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (found && !upper && lo < db->nrecs) {
        const struct flat_rec *r = db->recs[lo];
        *found = !key_cmp(db, r->data, r->klen, key, klen);
    }
    return lo;
}

static struct flat_rec *rec_new(const char *key, size_t klen, const char *val,
                                size_t vlen)
{
    struct flat_rec *r = xmalloc(sizeof(*r) + klen + vlen + 1);
    r->klen = klen;
    r->vlen = vlen;
    memcpy(r->data, key, klen);
    if (vlen) memcpy(r->data + klen, val, vlen);
    r->data[klen + vlen] = '\0';
    return r;
}

static void recs_free(struct flat_rec **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i]);
    free(recs);
}

static void drop_contents(struct flat_db *db)
{
    recs_free(db->recs, db->nrecs);
    db->recs = NULL;
    db->nrecs = db->arecs = 0;
    db->loaded = 0;
    db->mods++;
}

/* ---- file identity and locking ----------------------------------------------- */

static void ident_of(const struct stat *st, struct flat_ident *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
    id->ctime = st->st_ctim;
    id->mode = st->st_mode & 07777;
}

static int ident_same(const struct stat *st, const struct flat_ident *id)
{
    return st->st_dev == id->dev && st->st_ino == id->ino && st->st_size == id->size &&
           st->st_mtim.tv_sec == id->mtime.tv_sec &&
           st->st_mtim.tv_nsec == id->mtime.tv_nsec &&
           st->st_ctim.tv_sec == id->ctime.tv_sec &&
           st->st_ctim.tv_nsec == id->ctime.tv_nsec;
}

static int lock_fd(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (fcntl(fd, F_OFD_SETLKW, &fl) == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static int io_error(const char *op, const char *path)
{
    int e = errno;
    xsyslog(LOG_ERR, "IOERROR", "op=<%s> path=<%s> error=<%s>", op, path, strerror(e));
    return e == EACCES || e == EPERM ? CYRERR_PERMISSION : CYRERR_IO;
}

/* Open the file at the path and lock it with `type`, re-opening until the
 * locked file is still the one at the path.  Returns 0 with *fdp and *st,
 * CYRERR_NOTFOUND, CYRERR_PERMISSION or CYRERR_IO. */
static int open_locked(struct flat_db *db, short type, int *fdp, struct stat *st)
{
    int oflags = ((db->flags & CYRUSDB_READONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    for (;;) {
        int fd = open(db->fname, oflags);
        if (fd < 0) {
            if (errno == ENOENT) return CYRERR_NOTFOUND;
            return io_error("open", db->fname);
        }
        if (lock_fd(fd, type) < 0) {
            int r = io_error("lock", db->fname);
            close(fd);
            return r;
        }
        struct stat sp;
        if (fstat(fd, st) < 0) {
            int r = io_error("fstat", db->fname);
            close(fd);
            return r;
        }
        if (stat(db->fname, &sp) == 0 && sp.st_dev == st->st_dev &&
            sp.st_ino == st->st_ino) {
            *fdp = fd;
            return 0;
        }
        close(fd); /* replaced while we waited: lock the new one */
    }
}

/* Make the loaded file's descriptor `fd` (closing the previous one). */
static void pin_fd(struct flat_db *db, int fd)
{
    if (db->fd >= 0 && db->fd != fd && db->fd != db->lockfd) close(db->fd);
    db->fd = fd;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

static int fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    int r = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) r = io_error("fsync", dir);
    if (fd >= 0) close(fd);
    free(dir);
    return r;
}

/* ---- parsing and writing ------------------------------------------------------ */

/* Unescape [p, end) into out; returns bytes written or -1 on a bad escape. */
static long unescape(const char *p, const char *end, char *out)
{
    char *o = out;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        if (++p == end) return -1;
        switch (*p++) {
        case '\\':
            *o++ = '\\';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case '0':
            *o++ = '\0';
            break;
        default:
            return -1;
        }
    }
    return (long)(o - out);
}

static void escape(struct buf *out, const char *p, size_t n)
{
    const char *end = p + n, *run = p;
    for (; p < end; p++) {
        const char *e;
        switch (*p) {
        case '\\':
            e = "\\\\";
            break;
        case '\t':
            e = "\\t";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\0':
            e = "\\0";
            break;
        default:
            continue;
        }
        buf_appendmap(out, run, (size_t)(p - run));
        buf_appendmap(out, e, 2);
        run = p + 1;
    }
    buf_appendmap(out, run, (size_t)(end - run));
}

static int qsort_cmp(const void *a, const void *b, void *db)
{
    return rec_cmp(db, *(struct flat_rec *const *)a, *(struct flat_rec *const *)b);
}

/* Parse a whole file into a sorted record array. */
static int parse(const struct flat_db *db, const char *p, size_t len,
                 struct flat_rec ***recsp, size_t *np, size_t *allocp)
{
    const char *end = p + len;
    struct flat_rec **recs = NULL;
    size_t n = 0, alloc = 0;
    int sorted = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *tab = nl ? memchr(p, '\t', (size_t)(nl - p)) : NULL;
        if (!tab) goto corrupt;
        struct flat_rec *r = xmalloc(sizeof(*r) + (size_t)(nl - p));
        long kl = unescape(p, tab, r->data);
        long vl = kl > 0 ? unescape(tab + 1, nl, r->data + kl) : -1;
        if (vl < 0) {
            free(r);
            goto corrupt;
        }
        r->klen = (size_t)kl;
        r->vlen = (size_t)vl;
        r->data[kl + vl] = '\0';
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            recs = xreallocarray(recs, alloc, sizeof(*recs));
        }
        if (n && sorted && rec_cmp(db, recs[n - 1], r) >= 0) sorted = 0;
        recs[n++] = r;
        p = nl + 1;
    }
    if (!sorted) {
        qsort_r(recs, n, sizeof(*recs), qsort_cmp, (void *)db);
        for (size_t i = 1; i < n; i++)
            if (!rec_cmp(db, recs[i - 1], recs[i])) goto corrupt;
    }
    *recsp = recs;
    *np = n;
    *allocp = alloc;
    return 0;
corrupt:
    recs_free(recs, n);
    xsyslog(LOG_ERR, "DBERROR", "backend=<flat> db=<%s> error=<malformed file>",
            db->fname);
    return CYRERR_CORRUPT;
}

/* Read and parse the whole file behind fd (locked by the caller). */
static int load(struct flat_db *db, int fd, const struct stat *st)
{
    struct buf b = BUF_INITIALIZER;
    buf_ensure(&b, (size_t)st->st_size);
    for (;;) {
        buf_ensure(&b, FLAT_WRITE_CHUNK);
        ssize_t n = pread(fd, b.s + b.len, b.alloc - b.len - 1, (off_t)b.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int r = io_error("read", db->fname);
            buf_free(&b);
            return r;
        }
        if (n == 0) break;
        b.len += (size_t)n;
    }
    struct flat_rec **recs;
    size_t n, alloc;
    int r = parse(db, buf_base(&b), buf_len(&b), &recs, &n, &alloc);
    buf_free(&b);
    if (r) return r;
    drop_contents(db);
    db->recs = recs;
    db->nrecs = n;
    db->arecs = alloc;
    db->loaded = 1;
    ident_of(st, &db->id);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write the records to a new file and rename it over the database.  Returns
 * 0 with *fdp open on the new file and *st its identity. */
static int write_file(struct flat_db *db, int *fdp, struct stat *st)
{
    char *tmp = strconcat(db->fname, CYRUSDB_TMP_MARK "XXXXXX", (char *)NULL);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int r = io_error("create", tmp);
        free(tmp);
        return r;
    }
    const char *failed = NULL;
    mode_t mode = db->loaded && db->id.mode ? db->id.mode : FLAT_FILE_MODE;
    if (fchmod(fd, mode) < 0) failed = "fchmod";
    struct buf out = BUF_INITIALIZER;
    for (size_t i = 0; !failed && i <= db->nrecs; i++) {
        if (i < db->nrecs) {
            const struct flat_rec *r = db->recs[i];
            escape(&out, r->data, r->klen);
            buf_putc(&out, '\t');
            escape(&out, r->data + r->klen, r->vlen);
            buf_putc(&out, '\n');
        }
        if (buf_len(&out) >= FLAT_WRITE_CHUNK || (i == db->nrecs && buf_len(&out))) {
            if (write_all(fd, buf_base(&out), buf_len(&out)) < 0) failed = "write";
            buf_reset(&out);
        }
    }
    buf_free(&out);
    if (!failed && fsync(fd) < 0) failed = "fsync";
    if (!failed && rename(tmp, db->fname) < 0) failed = "rename";
    if (failed) {
        int r = io_error(failed, tmp);
        close(fd);
        unlink(tmp);
        free(tmp);
        return r;
    }
    free(tmp);
    int r = fsync_dir(db->fname);
    if (!r && fstat(fd, st) < 0) r = io_error("fstat", db->fname);
    if (r) {
        close(fd);
        return r;
    }
    *fdp = fd;
    return 0;
}

static int create_file(const char *fname)
{
    int fd = open(fname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, FLAT_FILE_MODE);
    if (fd < 0) return errno == EEXIST ? 0 : io_error("create", fname);
    int r = fsync(fd) < 0 ? io_error("fsync", fname) : 0;
    close(fd);
    return r ? r : fsync_dir(fname);
}

/* ---- state ------------------------------------------------------------------------ */

static void db_lock(struct flat_db *db)
{
    pthread_mutex_lock(&db->mu);
}
static void db_unlock(struct flat_db *db)
{
    pthread_mutex_unlock(&db->mu);
}

static int own_txn(const struct flat_db *db)
{
    return db->txn && pthread_equal(db->owner, pthread_self());
}

/* Wait until no other thread has a transaction open on the handle. */
static void wait_others(struct flat_db *db)
{
    while (db->txn && !own_txn(db))
        pthread_cond_wait(&db->txn_done, &db->mu);
}

/* Bring the memory up to date with the file (mutex held, no own txn). */
static int refresh(struct flat_db *db)
{
    struct stat st;
    if (stat(db->fname, &st) < 0) {
        if (errno == ENOENT) return CYRERR_NOTFOUND;
        return io_error("stat", db->fname);
    }
    if (db->loaded && ident_same(&st, &db->id)) return 0;
    int fd;
    int r = open_locked(db, F_RDLCK, &fd, &st);
    if (r) return r;
    if (!db->loaded || !ident_same(&st, &db->id)) r = load(db, fd, &st);
    lock_fd(fd, F_UNLCK);
    if (!r)
        pin_fd(db, fd);
    else
        close(fd);
    return r;
}

/* Begin a transaction (mutex held). */
static int txn_start(struct flat_db *db, struct flat_txn **tp)
{
    if (db->flags & CYRUSDB_READONLY) return CYRERR_PERMISSION;
    wait_others(db);
    if (db->txn) return CYRERR_LOCKED; /* this thread already has one */
    int fd;
    struct stat st;
    int r = open_locked(db, F_WRLCK, &fd, &st);
    if (r == CYRERR_NOTFOUND && (db->flags & CYRUSDB_CREATE)) {
        r = create_file(db->fname);
        if (!r) r = open_locked(db, F_WRLCK, &fd, &st);
    }
    if (r) return r;
    if (!db->loaded || !ident_same(&st, &db->id)) {
        r = load(db, fd, &st);
        if (r) {
            lock_fd(fd, F_UNLCK);
            close(fd);
            return r;
        }
        pin_fd(db, fd);
    }
    db->lockfd = fd;
    struct flat_txn *t = xzmalloc(sizeof(*t));
    t->db = db;
    db->txn = t;
    db->owner = pthread_self();
    *tp = t;
    return 0;
}

/* End the transaction: commit (write the file) or drop the changes. */
static int txn_end(struct flat_db *db, struct flat_txn *t, int commit)
{
    int r = 0;
    if (commit && t->dirty) {
        int nfd;
        struct stat st;
        r = write_file(db, &nfd, &st);
        if (!r) {
            pin_fd(db, nfd);
            ident_of(&st, &db->id);
        }
    }
    if ((!commit && t->dirty) || r) drop_contents(db);
    lock_fd(db->lockfd, F_UNLCK);
    if (db->lockfd != db->fd) close(db->lockfd);
    db->lockfd = -1;
    db->txn = NULL;
    free(t);
    pthread_cond_broadcast(&db->txn_done);
    return r;
}

/* ---- backend entry points ---------------------------------------------------------- */

static int flat_open(const char *fname, int flags, struct cyrusdb **dbp)
{
    *dbp = NULL;
    if ((flags & CYRUSDB_CREATE) && !(flags & CYRUSDB_READONLY)) {
        int r = create_file(fname);
        if (r) return r;
    }
    struct flat_db *db = xzmalloc(sizeof(*db));
    db->backend = &cyrusdb_flat;
    db->fname = xstrdup(fname);
    db->flags = flags;
    db->fd = db->lockfd = -1;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_cond_init(&db->txn_done, NULL);
    int r = refresh(db);
    if (r) {
        cyrusdb_flat.close((struct cyrusdb *)(void *)db);
        return r;
    }
    *dbp = (struct cyrusdb *)(void *)db;
    return 0;
}

static int flat_close(struct cyrusdb *handle)
{
    struct flat_db *db = F(handle);
    db_lock(db);
    if (db->txn) txn_end(db, db->txn, 0);
    db_unlock(db);
    if (db->fd >= 0) close(db->fd);
    recs_free(db->recs, db->nrecs);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->txn_done);
    free(db->fname);
    free(db);
    return 0;
}

static int flat_remove(const char *fname)
{
    if (unlink(fname) < 0) {
        if (errno == ENOENT) return CYRERR_NOTFOUND;
        return io_error("unlink", fname);
    }
    return fsync_dir(fname);
}

static int flat_begin(struct cyrusdb *handle, struct cyrusdb_txn **txnp)
{
    struct flat_db *db = F(handle);
    struct flat_txn *t = NULL;
    db_lock(db);
    int r = txn_start(db, &t);
    db_unlock(db);
    if (!r) *txnp = (struct cyrusdb_txn *)(void *)t;
    return r;
}

/* Is txn the open transaction of this thread on db?  (mutex held) */
static int txn_valid(struct flat_db *db, struct cyrusdb_txn *txn)
{
    return own_txn(db) && (void *)db->txn == (void *)txn;
}

static int flat_commit(struct cyrusdb *handle, struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    db_lock(db);
    int r = txn_valid(db, txn) ? txn_end(db, db->txn, 1) : CYRERR_BADARGS;
    db_unlock(db);
    return r;
}

static int flat_abort(struct cyrusdb *handle, struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    db_lock(db);
    int r = txn_valid(db, txn) ? txn_end(db, db->txn, 0) : CYRERR_BADARGS;
    db_unlock(db);
    return r;
}

/* Make the handle ready for a read (mutex held). */
static int read_prepare(struct flat_db *db, struct cyrusdb_txn *txn)
{
    if (txn) return txn_valid(db, txn) ? 0 : CYRERR_BADARGS;
    wait_others(db);
    return own_txn(db) ? 0 : refresh(db);
}

static int flat_fetch(struct cyrusdb *handle, const char *key, size_t keylen,
                      struct buf *data, struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    buf_reset(data);
    db_lock(db);
    int r = read_prepare(db, txn);
    if (!r) {
        int found;
        size_t i = search(db, key, keylen, 0, &found);
        if (found)
            buf_setmap(data, db->recs[i]->data + db->recs[i]->klen, db->recs[i]->vlen);
        else
            r = CYRERR_NOTFOUND;
    }
    db_unlock(db);
    return r;
}

/* Run a write in txn, in this thread's open transaction, or in one of its
 * own (mutex held). */
static int write_op(struct flat_db *db, struct cyrusdb_txn *txn, const char *key,
                    size_t keylen, const char *data, size_t datalen, int flags,
                    int is_delete)
{
    if (db->flags & CYRUSDB_READONLY) return CYRERR_PERMISSION;
    struct flat_txn *t = NULL;
    int own = 0, r = 0;
    if (txn) {
        if (!txn_valid(db, txn)) return CYRERR_BADARGS;
        t = db->txn;
    } else {
        wait_others(db);
        if (own_txn(db)) {
            t = db->txn;
        } else {
            r = txn_start(db, &t);
            if (r) return r;
            own = 1;
        }
    }
    int found;
    size_t i = search(db, key, keylen, 0, &found);
    if (is_delete) {
        if (!found) {
            r = CYRERR_NOTFOUND;
        } else {
            free(db->recs[i]);
            memmove(db->recs + i, db->recs + i + 1,
                    (db->nrecs - i - 1) * sizeof(*db->recs));
            db->nrecs--;
        }
    } else if (found && (flags & CYRUSDB_NOOVERWRITE)) {
        r = CYRERR_EXISTS;
    } else if (found) {
        free(db->recs[i]);
        db->recs[i] = rec_new(key, keylen, data, datalen);
    } else {
        if (db->nrecs == db->arecs) {
            db->arecs = db->arecs ? db->arecs * 2 : 64;
            db->recs = xreallocarray(db->recs, db->arecs, sizeof(*db->recs));
        }
        memmove(db->recs + i + 1, db->recs + i, (db->nrecs - i) * sizeof(*db->recs));
        db->recs[i] = rec_new(key, keylen, data, datalen);
        db->nrecs++;
    }
    if (!r) {
        t->dirty = 1;
        db->mods++;
    }
    if (own) {
        int cr = txn_end(db, t, !r);
        if (!r) r = cr;
    }
    return r;
}

static int flat_store(struct cyrusdb *handle, const char *key, size_t keylen,
                      const char *data, size_t datalen, int flags,
                      struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    db_lock(db);
    int r = write_op(db, txn, key, keylen, data, datalen, flags, 0);
    db_unlock(db);
    return r;
}

static int flat_delete(struct cyrusdb *handle, const char *key, size_t keylen,
                       struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    db_lock(db);
    int r = write_op(db, txn, key, keylen, NULL, 0, 0, 1);
    db_unlock(db);
    return r;
}

static int flat_foreach(struct cyrusdb *handle, const char *prefix, size_t prefixlen,
                        cyrusdb_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn)
{
    struct flat_db *db = F(handle);
    struct buf cur = BUF_INITIALIZER;
    db_lock(db);
    int r = read_prepare(db, txn);
    size_t i = r ? 0 : search(db, prefix, prefixlen, 0, NULL);
    while (!r && i < db->nrecs) {
        const struct flat_rec *rec = db->recs[i];
        if (rec->klen < prefixlen || memcmp(rec->data, prefix, prefixlen)) break;
        buf_setmap(&cur, rec->data, rec->klen);
        unsigned long mods = db->mods;
        r = cb(rock, rec->data, rec->klen, rec->data + rec->klen, rec->vlen);
        if (r) break;
        if (db->mods == mods) {
            i++;
            continue;
        }
        /* the callback changed the records: find our place again */
        if (!db->loaded && !own_txn(db)) r = refresh(db);
        if (!r) i = search(db, buf_base(&cur), buf_len(&cur), 1, NULL);
    }
    db_unlock(db);
    buf_free(&cur);
    return r;
}

const struct cyrusdb_backend cyrusdb_flat = {
    .name = "flat",
    .open = flat_open,
    .close = flat_close,
    .begin = flat_begin,
    .commit = flat_commit,
    .abort = flat_abort,
    .fetch = flat_fetch,
    .store = flat_store,
    .delete_ = flat_delete,
    .foreach = flat_foreach,
    .remove = flat_remove,
};
