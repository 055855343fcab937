/* cyrusdb_berkeley: the "berkeley" and "berkeley-nosync" cyrusdb backends,
 * Berkeley DB 5.3 btrees in one transactional environment.  See cyrusdb.h
 * for the interface.
 *
 * Process-wide state (the one place of this module that has any): the
 * environment.  A process has at most one open DB_ENV, in the directory
 * given to cyrusdb_init() (normally <configdirectory>/db; it holds the
 * region files __db.*, the registry __db.register and the logs log.*).
 * Database files are opened by absolute path and may live anywhere; every
 * process that opens a given file must use the same environment directory.
 * The state is guarded by one reader/writer lock: every operation holds it
 * for reading while it uses the environment; opening or closing a handle
 * and (re)opening the environment hold it for writing.  Callbacks of
 * foreach run without it.
 *
 * Crash safety and recovery.  The environment is opened with DB_REGISTER |
 * DB_RECOVER: every process registers in __db.register, and a process that
 * opens the environment after another one died with it open runs normal
 * recovery, which rolls committed transactions forward and uncommitted ones
 * back.  Recovery panics the environment under every other live process;
 * they see DB_RUNRECOVERY on their next call, and this module then closes
 * and reopens the environment and every open handle (the caller's handles
 * stay valid).  An auto-committed operation (txn == NULL) is simply retried;
 * an explicit transaction reports CYRERR_DEADLOCK (it was lost: retry it).
 * Closing a panicked environment leaks its region descriptors; that only
 * happens after a crash.
 *
 * Limits (as in Cyrus): a process killed inside a transaction keeps its
 * locks until recovery, so another process waiting for one of them waits
 * until it is itself restarted; and a process that is blocked on a lock
 * when another process recovers the environment is not woken.  Berkeley
 * DB's failchk could release a dead process's locks without recovery, but
 * here it left region mutexes of processes killed inside the library
 * locked, hanging the next opener, so it is not used.  master restarts
 * its children and ctl_cyrusdb -r runs recovery at startup.
 *
 * exit() closes the environment (an atexit handler), so that a process
 * leaving normally is not taken for a crashed one.
 *
 * A forked child must not use its parent's environment: a fork handler marks
 * it inherited, and the child's first call forgets it (without closing it,
 * which would disturb the parent) and opens its own; handles inherited from
 * the parent keep working in the child.
 *
 * "berkeley" commits are synchronous (no DB_TXN_NOSYNC): a transaction whose
 * commit returned 0 survives a crash of the process or of the machine.
 * "berkeley-nosync" (as Cyrus offered it, for the duplicate delivery and
 * TLS session caches) commits with DB_TXN_WRITE_NOSYNC: the log is written
 * to the kernel at commit but not flushed to the disk, so a committed
 * transaction survives a crash of the process, not of the machine; the
 * files stay consistent either way.  Both share the environment, and one
 * file must always be opened with the same backend.  Deadlocks
 * are detected on every blocked lock request (DB_LOCK_DEFAULT); the losing
 * transaction is aborted here and CYRERR_DEADLOCK returned.  Auto-committed
 * operations are retried a bounded number of times before they give up.
 *
 * Reads in foreach are done in batches through a cursor that is closed
 * before the callbacks run, so a slow callback never holds page locks
 * (without a txn), and a callback may write to the same database.  In a
 * transaction the batch is one record, so that the callback's own writes
 * further on in the range are visited, as with the flat backend.
 */
#include "config.h"

#include <db.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cyrusdb.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

/* environment tuning */
#define BDB_CACHE_BYTES (8u * 1024 * 1024)
#define BDB_MAX_LOCKS 50000
#define BDB_MAX_LOCKERS 10000
#define BDB_MAX_OBJECTS 50000
#define BDB_MAX_TXNS 1000
#define BDB_FILE_MODE 0600

#define BDB_RETRIES 64         /* auto-commit attempts on deadlock */
#define BATCH_RECORDS 256      /* foreach: records per cursor pass */
#define BATCH_BYTES (1u << 20) /* foreach: bytes per cursor pass */

struct bdb_handle {
    const struct cyrusdb_backend *backend; /* first member: see cyrusdb.h */
    DB *db;                                /* NULL while the environment is closed */
    char *fname;                           /* absolute path */
    int flags;                             /* CYRUSDB_* open flags */
    u_int32_t txn_flags;                   /* begin/commit flags: 0 or
                                              DB_TXN_WRITE_NOSYNC */
    struct bdb_handle *prev, *next;        /* bdb.handles */
};

struct bdb_txn {
    DB_TXN *tid;  /* NULL once the transaction is lost */
    unsigned gen; /* environment generation it belongs to */
};

static struct {
    pthread_rwlock_t lock;
    DB_ENV *env;                /* NULL when closed */
    char *dir;                  /* NULL before cyrusdb_init / after done */
    unsigned gen;               /* bumped at every environment open */
    struct bdb_handle *handles; /* every open handle of the process */
    atomic_int need_reset;      /* DB_RUNRECOVERY seen: reopen */
    atomic_int inherited;       /* env came from the parent (fork) */
} bdb = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static pthread_once_t bdb_once = PTHREAD_ONCE_INIT;

/* ---- helpers ------------------------------------------------------------ */

static struct bdb_handle *H(struct cyrusdb *db)
{
    return (struct bdb_handle *)(void *)db;
}
static struct bdb_txn *T(struct cyrusdb_txn *t)
{
    return (struct bdb_txn *)(void *)t;
}

static void rdlock(void)
{
    pthread_rwlock_rdlock(&bdb.lock);
}
static void wrlock(void)
{
    pthread_rwlock_wrlock(&bdb.lock);
}
static void unlock(void)
{
    pthread_rwlock_unlock(&bdb.lock);
}

static int is_deadlock(int r)
{
    return r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED;
}

/* A short growing pause before retrying an auto-committed operation. */
static void backoff(int attempt)
{
    struct timespec ts = {0, 200000L * (attempt < 20 ? attempt + 1 : 20)};
    nanosleep(&ts, NULL);
}

/* Map a Berkeley DB result to a project error code; log the unexpected. */
static int bdb_error(int r, const char *what, const char *fname)
{
    switch (r) {
    case 0:
        return 0;
    case DB_NOTFOUND:
    case DB_KEYEMPTY:
        return CYRERR_NOTFOUND;
    case DB_KEYEXIST:
        return CYRERR_EXISTS;
    case DB_LOCK_DEADLOCK:
    case DB_LOCK_NOTGRANTED:
        return CYRERR_DEADLOCK;
    case ENOENT:
        return CYRERR_NOTFOUND;
    case EACCES:
    case EPERM:
        return CYRERR_PERMISSION;
    case DB_RUNRECOVERY:
        atomic_store(&bdb.need_reset, 1);
        xsyslog(LOG_WARNING, "DBERROR",
                "backend=<berkeley> op=<%s> db=<%s> "
                "error=<environment needs recovery>",
                what, fname ? fname : "");
        return CYRERR_DEADLOCK;
    case DB_VERIFY_BAD:
    case DB_PAGE_NOTFOUND:
    case DB_SECONDARY_BAD:
        xsyslog(LOG_ERR, "DBERROR", "backend=<berkeley> op=<%s> db=<%s> error=<%s>", what,
                fname ? fname : "", db_strerror(r));
        return CYRERR_CORRUPT;
    default:
        xsyslog(LOG_ERR, "DBERROR", "backend=<berkeley> op=<%s> db=<%s> error=<%s>", what,
                fname ? fname : "", db_strerror(r));
        return CYRERR_IO;
    }
}

static void bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    xsyslog(LOG_WARNING, "DBERROR", "backend=<berkeley> msg=<%s>", msg);
}

static void bdb_msgcall(const DB_ENV *env, const char *msg)
{
    (void)env;
    xsyslog(LOG_INFO, "DBMSG", "backend=<berkeley> msg=<%s>", msg);
}

static int bdb_mboxsort(DB *db, const DBT *a, const DBT *b)
{
    (void)db;
    return cyrusdb_mboxsort_cmp(a->data, a->size, b->data, b->size);
}

static void atfork_child(void)
{
    /* Only this thread exists in the child; the lock may have been held by
     * another thread of the parent at fork time. */
    pthread_rwlock_init(&bdb.lock, NULL);
    if (bdb.env) atomic_store(&bdb.inherited, 1);
}

static void env_close_locked(void);

static void bdb_atexit(void)
{
    /* another thread may be inside an operation (blocked on a lock, say):
     * then leave the environment to recovery rather than wait for it */
    if (pthread_rwlock_trywrlock(&bdb.lock) != 0) return;
    env_close_locked();
    xfree(bdb.dir);
    unlock();
}

/* A process that exits with the environment open would look dead to the
 * next DB_REGISTER open and make it run recovery: exit() closes it. */
static void bdb_setup_once(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
    atexit(bdb_atexit);
}

/* mkdir -p; 0 or CYRERR_IO */
static int mkdirs(const char *path)
{
    char *p = xstrdup(path);
    int r = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0750) < 0 && errno != EEXIST) {
            xsyslog(LOG_ERR, "IOERROR", "op=<mkdir> path=<%s> error=<%s>", p,
                    strerror(errno));
            r = CYRERR_IO;
            break;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    return r;
}

/* An absolute version of `path` without trailing slashes (caller frees). */
static char *abspath(const char *path)
{
    char *r;
    if (path[0] == '/') {
        r = xstrdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) return NULL;
        r = strconcat(cwd, "/", path, (char *)NULL);
        free(cwd);
    }
    size_t n = strlen(r);
    while (n > 1 && r[n - 1] == '/')
        r[--n] = '\0';
    return r;
}

/* ---- environment -------------------------------------------------------- */

/* Open one handle's DB in the current environment (write lock held). */
static int db_open_locked(struct bdb_handle *h)
{
    DB *db = NULL;
    int r = db_create(&db, bdb.env, 0);
    if (r) return bdb_error(r, "db_create", h->fname);
    if (h->flags & CYRUSDB_MBOXSORT) db->set_bt_compare(db, bdb_mboxsort);
    u_int32_t of = DB_THREAD | DB_AUTO_COMMIT;
    if (h->flags & CYRUSDB_CREATE) of |= DB_CREATE;
    if (h->flags & CYRUSDB_READONLY) of |= DB_RDONLY;
    for (int attempt = 0;; attempt++) {
        r = db->open(db, NULL, h->fname, NULL, DB_BTREE, of, BDB_FILE_MODE);
        if (!is_deadlock(r) || attempt >= BDB_RETRIES) break;
        backoff(attempt);
    }
    if (r) {
        db->close(db, 0);
        if (r == ENOENT) return CYRERR_NOTFOUND;
        return bdb_error(r, "open", h->fname);
    }
    h->db = db;
    return 0;
}

/* Close (or, when inherited from a parent process, forget) the environment
 * and every handle's DB (write lock held). */
static void env_close_locked(void)
{
    int forget = atomic_load(&bdb.inherited);
    for (struct bdb_handle *h = bdb.handles; h; h = h->next) {
        if (h->db && !forget) h->db->close(h->db, 0);
        h->db = NULL;
    }
    if (bdb.env && !forget) {
        int r = bdb.env->close(bdb.env, 0);
        if (r && r != DB_RUNRECOVERY)
            xsyslog(LOG_WARNING, "DBERROR",
                    "backend=<berkeley> op=<env close> error=<%s>", db_strerror(r));
    }
    bdb.env = NULL;
    atomic_store(&bdb.inherited, 0);
}

/* Open the environment in bdb.dir, running recovery when a process died in
 * it, and reopen every handle (write lock held). */
static int env_open_locked(void)
{
    int r = mkdirs(bdb.dir);
    if (r) return r;
    for (int attempt = 0;; attempt++) {
        DB_ENV *env = NULL;
        r = db_env_create(&env, 0);
        if (r) return bdb_error(r, "db_env_create", bdb.dir);
        env->set_errcall(env, bdb_errcall);
        env->set_msgcall(env, bdb_msgcall);
        env->set_lk_detect(env, DB_LOCK_DEFAULT);
        env->set_cachesize(env, 0, BDB_CACHE_BYTES, 1);
        env->set_lk_max_locks(env, BDB_MAX_LOCKS);
        env->set_lk_max_lockers(env, BDB_MAX_LOCKERS);
        env->set_lk_max_objects(env, BDB_MAX_OBJECTS);
        env->set_tx_max(env, BDB_MAX_TXNS);
        r = env->open(env, bdb.dir,
                      DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
                          DB_INIT_MPOOL | DB_THREAD | DB_REGISTER | DB_RECOVER,
                      BDB_FILE_MODE);
        if (!r) {
            bdb.env = env;
            break;
        }
        env->close(env, 0);
        if (r != DB_RUNRECOVERY || attempt >= 2)
            return bdb_error(r == DB_RUNRECOVERY ? EIO : r, "env open", bdb.dir);
    }
    bdb.gen++;
    atomic_store(&bdb.need_reset, 0);
    for (struct bdb_handle *h = bdb.handles; h; h = h->next) {
        r = db_open_locked(h);
        if (r)
            xsyslog(LOG_ERR, "DBERROR",
                    "backend=<berkeley> op=<reopen> db=<%s> error=<%s>", h->fname,
                    error_message(r));
    }
    return 0;
}

static int env_usable(void)
{
    return bdb.env && !atomic_load(&bdb.need_reset) && !atomic_load(&bdb.inherited);
}

/* Return with the read lock held and a usable environment, reopening it
 * when it panicked or was inherited; or return an error without the lock. */
static int env_enter(void)
{
    for (int attempt = 0;; attempt++) {
        rdlock();
        if (env_usable()) return 0;
        unlock();
        if (attempt >= 3) return CYRERR_IO;
        wrlock();
        int r = 0;
        if (!bdb.dir) {
            r = CYRERR_IO;
            xsyslog(LOG_ERR, "DBERROR",
                    "backend=<berkeley> error=<environment not open>");
        } else if (!env_usable()) {
            env_close_locked();
            r = env_open_locked();
        }
        unlock();
        if (r) return r;
    }
}

int cyrusdb_init(const char *dbdir)
{
    if (!dbdir || !*dbdir) return CYRERR_BADARGS;
    pthread_once(&bdb_once, bdb_setup_once);
    char *dir = abspath(dbdir);
    if (!dir) return CYRERR_IO;
    int r = 0;
    wrlock();
    if (bdb.dir && !strcmp(bdb.dir, dir)) {
        if (!env_usable()) {
            env_close_locked();
            r = env_open_locked();
        }
        free(dir);
    } else if (bdb.dir && bdb.handles && !atomic_load(&bdb.inherited)) {
        xsyslog(LOG_ERR, "DBERROR",
                "backend=<berkeley> error=<environment in use> "
                "dir=<%s> new=<%s>",
                bdb.dir, dir);
        free(dir);
        r = CYRERR_BADARGS;
    } else {
        env_close_locked();
        free(bdb.dir);
        bdb.dir = dir;
        r = env_open_locked();
        if (r) xfree(bdb.dir);
    }
    unlock();
    return r;
}

void cyrusdb_done(void)
{
    wrlock();
    env_close_locked();
    xfree(bdb.dir);
    unlock();
}

const char *cyrusdb_dbdir(void)
{
    return bdb.dir;
}

int cyrusdb_recover(const char *dbdir)
{
    if (!dbdir || !*dbdir) return CYRERR_BADARGS;
    pthread_once(&bdb_once, bdb_setup_once);
    char *dir = abspath(dbdir);
    if (!dir) return CYRERR_IO;
    int r = 0;
    wrlock();
    if (bdb.dir && strcmp(bdb.dir, dir) && bdb.handles && !atomic_load(&bdb.inherited)) {
        free(dir);
        unlock();
        return CYRERR_BADARGS;
    }
    env_close_locked();
    free(bdb.dir);
    bdb.dir = dir;
    /* A new registry makes the next DB_REGISTER open run recovery. */
    char *reg = strconcat(dir, "/__db.register", (char *)NULL);
    if (unlink(reg) < 0 && errno != ENOENT) {
        xsyslog(LOG_ERR, "IOERROR", "op=<unlink> path=<%s> error=<%s>", reg,
                strerror(errno));
        r = CYRERR_IO;
    }
    free(reg);
    if (!r) r = env_open_locked();
    if (r) xfree(bdb.dir);
    unlock();
    if (!r) xsyslog(LOG_NOTICE, "cyrusdb recovered", "dir=<%s>", dbdir);
    return r;
}

int cyrusdb_checkpoint(void)
{
    for (int attempt = 0;; attempt++) {
        int r = env_enter();
        if (r) return r;
        int dbr = bdb.env->txn_checkpoint(bdb.env, 0, 0, 0);
        if (!dbr) dbr = bdb.env->log_archive(bdb.env, NULL, DB_ARCH_REMOVE);
        unlock();
        if (dbr == DB_RUNRECOVERY && attempt < 2) {
            atomic_store(&bdb.need_reset, 1);
            continue;
        }
        return bdb_error(dbr, "checkpoint", bdb.dir);
    }
}

/* ---- handles -------------------------------------------------------------- */

static int open_common(const struct cyrusdb_backend *be, u_int32_t txn_flags,
                       const char *fname, int flags, struct cyrusdb **dbp)
{
    *dbp = NULL;
    struct bdb_handle *h = xzmalloc(sizeof(*h));
    h->backend = be;
    h->txn_flags = txn_flags;
    h->flags = flags;
    h->fname = abspath(fname);
    if (!h->fname) {
        free(h);
        return CYRERR_IO;
    }
    int r;
    for (int attempt = 0;; attempt++) {
        r = env_enter();
        if (r) break;
        unlock();
        wrlock();
        if (env_usable()) {
            r = db_open_locked(h);
            if (!r) {
                h->next = bdb.handles;
                if (h->next) h->next->prev = h;
                bdb.handles = h;
            }
        } else {
            r = CYRERR_DEADLOCK; /* the environment went away: again */
        }
        unlock();
        if (r != CYRERR_DEADLOCK || attempt >= 3) break;
    }
    if (r) {
        free(h->fname);
        free(h);
        return r;
    }
    *dbp = (struct cyrusdb *)(void *)h;
    return 0;
}

static int bdb_open(const char *fname, int flags, struct cyrusdb **dbp)
{
    return open_common(&cyrusdb_berkeley, 0, fname, flags, dbp);
}

static int bdb_open_nosync(const char *fname, int flags, struct cyrusdb **dbp)
{
    return open_common(&cyrusdb_berkeley_nosync, DB_TXN_WRITE_NOSYNC, fname, flags, dbp);
}

static int bdb_close(struct cyrusdb *db)
{
    struct bdb_handle *h = H(db);
    int r = 0;
    wrlock();
    if (h->prev)
        h->prev->next = h->next;
    else
        bdb.handles = h->next;
    if (h->next) h->next->prev = h->prev;
    if (h->db && !atomic_load(&bdb.inherited)) {
        /* DB_NOSYNC: every change is in the transaction log already (and
         * flushed for "berkeley"); the pages reach the file at the next
         * checkpoint, and recovery replays the log after a crash.  Syncing
         * here cost a session an fdatasync per database it had open. */
        int dbr = h->db->close(h->db, DB_NOSYNC);
        if (dbr && dbr != DB_RUNRECOVERY) r = bdb_error(dbr, "close", h->fname);
    }
    unlock();
    free(h->fname);
    free(h);
    return r;
}

static int bdb_remove(const char *fname)
{
    char *path = abspath(fname);
    if (!path) return CYRERR_IO;
    int r;
    for (int attempt = 0;; attempt++) {
        r = env_enter();
        if (r) break;
        int busy = 0;
        for (struct bdb_handle *h = bdb.handles; h; h = h->next)
            if (!strcmp(h->fname, path)) busy = 1;
        if (busy) {
            unlock();
            r = CYRERR_LOCKED;
            break;
        }
        int dbr = bdb.env->dbremove(bdb.env, NULL, path, NULL, DB_AUTO_COMMIT);
        unlock();
        if ((is_deadlock(dbr) || dbr == DB_RUNRECOVERY) && attempt < BDB_RETRIES) {
            if (dbr == DB_RUNRECOVERY) atomic_store(&bdb.need_reset, 1);
            backoff(attempt);
            continue;
        }
        r = dbr == ENOENT ? CYRERR_NOTFOUND : bdb_error(dbr, "remove", path);
        break;
    }
    free(path);
    return r;
}

/* ---- transactions ------------------------------------------------------- */

static int bdb_begin(struct cyrusdb *db, struct cyrusdb_txn **txnp)
{
    u_int32_t txn_flags = H(db)->txn_flags;
    for (int attempt = 0;; attempt++) {
        int r = env_enter();
        if (r) return r;
        DB_TXN *tid = NULL;
        int dbr = bdb.env->txn_begin(bdb.env, NULL, &tid, txn_flags);
        unsigned gen = bdb.gen;
        unlock();
        if (!dbr) {
            struct bdb_txn *t = xzmalloc(sizeof(*t));
            t->tid = tid;
            t->gen = gen;
            *txnp = (struct cyrusdb_txn *)(void *)t;
            return 0;
        }
        r = bdb_error(dbr, "begin", NULL);
        if (r != CYRERR_DEADLOCK || attempt >= 3) return r;
    }
}

/* Is the transaction still alive in the current environment?  (read lock
 * held) */
static int txn_alive(struct bdb_txn *t)
{
    if (t->tid && t->gen != bdb.gen) t->tid = NULL;
    return t->tid != NULL;
}

static int bdb_commit(struct cyrusdb *db, struct cyrusdb_txn *txn)
{
    struct bdb_handle *h = H(db);
    struct bdb_txn *t = T(txn);
    int r = env_enter();
    if (r) {
        free(t);
        return r;
    }
    if (!txn_alive(t)) {
        unlock();
        free(t);
        return CYRERR_DEADLOCK;
    }
    int dbr = t->tid->commit(t->tid, h->txn_flags);
    unlock();
    free(t);
    if (!dbr) return 0;
    r = bdb_error(dbr, "commit", h->fname);
    return r == CYRERR_DEADLOCK ? CYRERR_IO : r;
}

static int bdb_abort(struct cyrusdb *db, struct cyrusdb_txn *txn)
{
    struct bdb_handle *h = H(db);
    struct bdb_txn *t = T(txn);
    int r = env_enter();
    if (r) {
        free(t);
        return 0; /* the environment and its transactions are gone */
    }
    int dbr = txn_alive(t) ? t->tid->abort(t->tid) : 0;
    unlock();
    free(t);
    if (dbr == DB_RUNRECOVERY) atomic_store(&bdb.need_reset, 1);
    return dbr && dbr != DB_RUNRECOVERY ? bdb_error(dbr, "abort", h->fname) : 0;
}

/* ---- record operations ---------------------------------------------------- */

enum bdb_op { OP_FETCH, OP_STORE, OP_DELETE };

struct bdb_args {
    enum bdb_op op;
    const char *key;
    size_t keylen;
    const char *data; /* OP_STORE */
    size_t datalen;
    int flags;       /* OP_STORE */
    struct buf *out; /* OP_FETCH */
};

/* One attempt of an operation (read lock held). */
static int bdb_do(struct bdb_handle *h, DB_TXN *tid, const struct bdb_args *a)
{
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *)a->key;
    k.size = (u_int32_t)a->keylen;
    k.flags = DB_DBT_READONLY; /* DB_THREAD wants a memory flag (MBOXSORT) */
    switch (a->op) {
    case OP_FETCH: {
        buf_reset(a->out);
        for (;;) {
            buf_ensure(a->out, v.size > 64 ? v.size : 64);
            v.flags = DB_DBT_USERMEM;
            v.data = a->out->s;
            v.ulen = (u_int32_t)(a->out->alloc - 1 > UINT32_MAX ? UINT32_MAX
                                                                : a->out->alloc - 1);
            int dbr = h->db->get(h->db, tid, &k, &v, 0);
            if (dbr == DB_BUFFER_SMALL) continue;
            if (!dbr) {
                a->out->len = v.size;
                a->out->s[v.size] = '\0';
            }
            return dbr;
        }
    }
    case OP_STORE:
        v.data = (void *)a->data;
        v.size = (u_int32_t)a->datalen;
        return h->db->put(h->db, tid, &k, &v,
                          ((a->flags & CYRUSDB_NOOVERWRITE) ? DB_NOOVERWRITE : 0) |
                              (tid ? 0 : DB_AUTO_COMMIT));
    case OP_DELETE:
        return h->db->del(h->db, tid, &k, tid ? 0 : DB_AUTO_COMMIT);
    }
    return EINVAL;
}

/* A write of its own transaction begun and committed with the handle's
 * txn_flags (DB_AUTO_COMMIT would sync the log); read lock held. */
static int autocommit_flags(struct bdb_handle *h, const struct bdb_args *a)
{
    DB_TXN *tid = NULL;
    int dbr = bdb.env->txn_begin(bdb.env, NULL, &tid, h->txn_flags);
    if (dbr) return dbr;
    dbr = bdb_do(h, tid, a);
    if (dbr) {
        int abr = tid->abort(tid);
        return abr == DB_RUNRECOVERY ? abr : dbr;
    }
    return tid->commit(tid, h->txn_flags);
}

static const char *op_name(enum bdb_op op)
{
    return op == OP_FETCH ? "fetch" : op == OP_STORE ? "store" : "delete";
}

static int bdb_run(struct bdb_handle *h, struct cyrusdb_txn *txn,
                   const struct bdb_args *a)
{
    if (a->keylen > UINT32_MAX || a->datalen > UINT32_MAX) return CYRERR_TOOBIG;
    if (a->op != OP_FETCH && (h->flags & CYRUSDB_READONLY)) return CYRERR_PERMISSION;
    struct bdb_txn *t = T(txn);
    for (int attempt = 0;; attempt++) {
        int r = env_enter();
        if (r) return r;
        if (!h->db) {
            unlock();
            return CYRERR_IO;
        }
        if (t) {
            if (!txn_alive(t)) {
                unlock();
                return CYRERR_DEADLOCK;
            }
            int dbr = bdb_do(h, t->tid, a);
            if (is_deadlock(dbr)) {
                t->tid->abort(t->tid);
                t->tid = NULL;
            } else if (dbr == DB_RUNRECOVERY) {
                t->tid = NULL;
            }
            unlock();
            return bdb_error(dbr, op_name(a->op), h->fname);
        }
        int dbr = h->txn_flags && a->op != OP_FETCH ? autocommit_flags(h, a) : bdb_do(h, NULL, a);
        unlock();
        if ((is_deadlock(dbr) || dbr == DB_RUNRECOVERY) && attempt < BDB_RETRIES) {
            if (dbr == DB_RUNRECOVERY)
                atomic_store(&bdb.need_reset, 1);
            else
                backoff(attempt);
            continue;
        }
        return bdb_error(dbr, op_name(a->op), h->fname);
    }
}

static int bdb_fetch(struct cyrusdb *db, const char *key, size_t keylen, struct buf *data,
                     struct cyrusdb_txn *txn)
{
    struct bdb_args a = {.op = OP_FETCH, .key = key, .keylen = keylen, .out = data};
    int r = bdb_run(H(db), txn, &a);
    if (r) buf_reset(data);
    return r;
}

static int bdb_store(struct cyrusdb *db, const char *key, size_t keylen, const char *data,
                     size_t datalen, int flags, struct cyrusdb_txn *txn)
{
    struct bdb_args a = {.op = OP_STORE,
                         .key = key,
                         .keylen = keylen,
                         .data = data,
                         .datalen = datalen,
                         .flags = flags};
    return bdb_run(H(db), txn, &a);
}

static int bdb_delete(struct cyrusdb *db, const char *key, size_t keylen,
                      struct cyrusdb_txn *txn)
{
    struct bdb_args a = {.op = OP_DELETE, .key = key, .keylen = keylen};
    return bdb_run(H(db), txn, &a);
}

/* ---- foreach ---------------------------------------------------------------- */

/* A batch is a sequence of records: size_t keylen, size_t datalen, key, data. */
static void batch_add(struct buf *batch, const DBT *k, const DBT *v)
{
    size_t kl = k->size, vl = v->size;
    buf_appendmap(batch, &kl, sizeof(kl));
    buf_appendmap(batch, &vl, sizeof(vl));
    buf_appendmap(batch, k->data, kl);
    buf_appendmap(batch, v->data, vl);
}

static int has_prefix(const DBT *k, const char *prefix, size_t prefixlen)
{
    return k->size >= prefixlen && !memcmp(k->data, prefix, prefixlen);
}

/* Read the next batch of records with `prefix`, starting after `resume`
 * (or at the prefix when resume is NULL); *done when the range ended.
 * Returns a Berkeley DB code (read lock held). */
static int batch_read(struct bdb_handle *h, DB_TXN *tid, const char *prefix,
                      size_t prefixlen, const struct buf *resume, struct buf *batch,
                      int *done)
{
    DBC *c = NULL;
    buf_reset(batch);
    *done = 0;
    int dbr = h->db->cursor(h->db, tid, &c, 0);
    if (dbr) return dbr;
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.flags = DB_DBT_REALLOC;
    v.flags = DB_DBT_REALLOC;
    const char *start = resume ? buf_base(resume) : prefix;
    size_t startlen = resume ? buf_len(resume) : prefixlen;
    if (startlen) {
        k.data = xmemdup(start, startlen);
        k.size = (u_int32_t)startlen;
        dbr = c->get(c, &k, &v, DB_SET_RANGE);
        if (!dbr && resume && k.size == startlen && !memcmp(k.data, start, startlen))
            dbr = c->get(c, &k, &v, DB_NEXT);
    } else {
        dbr = c->get(c, &k, &v, DB_FIRST);
    }
    size_t n = 0;
    while (!dbr) {
        if (!has_prefix(&k, prefix, prefixlen)) {
            *done = 1;
            break;
        }
        batch_add(batch, &k, &v);
        /* inside a transaction one record at a time, so that the callback
         * sees what it wrote further on in the range */
        if (tid || ++n >= BATCH_RECORDS || buf_len(batch) >= BATCH_BYTES) break;
        dbr = c->get(c, &k, &v, DB_NEXT);
    }
    if (dbr == DB_NOTFOUND) {
        *done = 1;
        dbr = 0;
    }
    int cr = c->close(c);
    if (!dbr) dbr = cr;
    free(k.data);
    free(v.data);
    return dbr;
}

static int bdb_foreach(struct cyrusdb *db, const char *prefix, size_t prefixlen,
                       cyrusdb_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn)
{
    struct bdb_handle *h = H(db);
    struct bdb_txn *t = T(txn);
    struct buf batch = BUF_INITIALIZER, resume = BUF_INITIALIZER;
    int have_resume = 0, done = 0, r = 0, attempt = 0;
    if (prefixlen > UINT32_MAX) return CYRERR_TOOBIG;
    while (!done) {
        r = env_enter();
        if (r) break;
        if (!h->db) {
            unlock();
            r = CYRERR_IO;
            break;
        }
        int dbr;
        if (t) {
            if (!txn_alive(t)) {
                unlock();
                r = CYRERR_DEADLOCK;
                break;
            }
            dbr = batch_read(h, t->tid, prefix, prefixlen, have_resume ? &resume : NULL,
                             &batch, &done);
            if (is_deadlock(dbr)) {
                t->tid->abort(t->tid);
                t->tid = NULL;
            } else if (dbr == DB_RUNRECOVERY) {
                t->tid = NULL;
            }
        } else {
            dbr = batch_read(h, NULL, prefix, prefixlen, have_resume ? &resume : NULL,
                             &batch, &done);
        }
        unlock();
        if (dbr) {
            if (!t && (is_deadlock(dbr) || dbr == DB_RUNRECOVERY) &&
                attempt++ < BDB_RETRIES) {
                if (dbr == DB_RUNRECOVERY)
                    atomic_store(&bdb.need_reset, 1);
                else
                    backoff(attempt);
                done = 0;
                continue;
            }
            r = bdb_error(dbr, "foreach", h->fname);
            break;
        }
        /* the callbacks run without any lock held */
        const char *p = buf_base(&batch), *end = p + buf_len(&batch);
        const char *lastkey = NULL;
        size_t lastlen = 0;
        while (p < end) {
            size_t kl, vl;
            memcpy(&kl, p, sizeof(kl));
            memcpy(&vl, p + sizeof(kl), sizeof(vl));
            const char *kp = p + 2 * sizeof(size_t);
            r = cb(rock, kp, kl, kp + kl, vl);
            if (r) goto out;
            lastkey = kp;
            lastlen = kl;
            p = kp + kl + vl;
        }
        if (lastkey) {
            buf_setmap(&resume, lastkey, lastlen);
            have_resume = 1;
        }
    }
out:
    buf_free(&batch);
    buf_free(&resume);
    return r;
}

const struct cyrusdb_backend cyrusdb_berkeley = {
    .name = "berkeley",
    .open = bdb_open,
    .close = bdb_close,
    .begin = bdb_begin,
    .commit = bdb_commit,
    .abort = bdb_abort,
    .fetch = bdb_fetch,
    .store = bdb_store,
    .delete_ = bdb_delete,
    .foreach = bdb_foreach,
    .remove = bdb_remove,
};

const struct cyrusdb_backend cyrusdb_berkeley_nosync = {
    .name = "berkeley-nosync",
    .open = bdb_open_nosync,
    .close = bdb_close,
    .begin = bdb_begin,
    .commit = bdb_commit,
    .abort = bdb_abort,
    .fetch = bdb_fetch,
    .store = bdb_store,
    .delete_ = bdb_delete,
    .foreach = bdb_foreach,
    .remove = bdb_remove,
};
