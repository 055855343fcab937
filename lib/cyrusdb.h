/* cyrusdb: the small key/value database interface every store uses.
 *
 * A database is a sorted map of byte-string keys to byte-string values.
 * Backends: "berkeley" (Berkeley DB 5.x btree in a transactional environment
 * under <configdirectory>/db, safe for many processes, recoverable after a
 * crash), "berkeley-nosync" (the same, but a commit is not flushed to the
 * disk: it survives a crash of the process, not of the machine; for caches
 * such as the duplicate delivery db) and "flat" (a sorted text file, one
 * record per line, rewritten atomically on commit; for tests and debugging).
 * Which backend a database uses comes from its imapd.conf option
 * (mboxlist_db, seenstate_db, subscription_db, quota_db, duplicate_db,
 * ptscache_db, ...), read through cyrusdb_backend_for().
 *
 * Transactions: pass txn = NULL for a single auto-committed operation, or
 * begin one with cyrusdb_begin() and end it with cyrusdb_commit() or
 * cyrusdb_abort().  A transaction belongs to one database handle and one
 * thread.  CYRERR_DEADLOCK from any call inside a transaction means the
 * transaction was aborted; retry it from the start (the handle must still be
 * ended with cyrusdb_abort(), which then only frees it).  A failed commit
 * also ends the transaction.  Keys are at least one byte long.
 *
 * Returns 0, CYRERR_NOTFOUND, CYRERR_EXISTS (store with CYRUSDB_NOOVERWRITE),
 * CYRERR_DEADLOCK, CYRERR_IO, CYRERR_CORRUPT, CYRERR_BADARGS,
 * CYRERR_PERMISSION (a write through a CYRUSDB_READONLY handle), CYRERR_TOOBIG
 * or CYRERR_LOCKED.  Data fetched
 * is copied into a caller-owned struct buf.
 */
#ifndef LIB_CYRUSDB_H
#define LIB_CYRUSDB_H

#include <stddef.h>

#include "buf.h"

struct cyrusdb;      /* an open database */
struct cyrusdb_txn;  /* a transaction on it */

/* open flags */
#define CYRUSDB_CREATE    0x01  /* create the file (and its directories)
                                   when missing */
#define CYRUSDB_MBOXSORT  0x02  /* order keys as mailbox names: '.' sorts
                                   before every other character, so a
                                   mailbox's children follow it directly */
#define CYRUSDB_READONLY  0x04

/* Temporary files of a commit (flat backend) are named <file><MARK>XXXXXX;
 * ctl_cyrusdb -r removes those a crash left behind. */
#define CYRUSDB_TMP_MARK ".cdbtmp."

/* store flags */
#define CYRUSDB_NOOVERWRITE 0x01

/* Process-wide environment setup for the Berkeley backend: `dbdir` is
 * normally <configdirectory>/db.  Call once before opening "berkeley"
 * databases (cyrusdb_open calls it with the configured directory when it was
 * not).  cyrusdb_done() closes the environment. */
int cyrusdb_init(const char *dbdir);
void cyrusdb_done(void);
/* Run recovery on the environment (ctl_cyrusdb -r); no other process may use
 * it meanwhile.  Checkpoint and remove old logs (ctl_cyrusdb -c). */
int cyrusdb_recover(const char *dbdir);
int cyrusdb_checkpoint(void);
/* The environment directory given to cyrusdb_init(), or NULL (borrowed). */
const char *cyrusdb_dbdir(void);

/* The backend name configured for a database option, e.g.
 * cyrusdb_backend_for(IMAPOPT_MBOXLIST_DB) -> "berkeley".  Takes an int so
 * this header does not need libconfig.h. */
const char *cyrusdb_backend_for(int imapopt);
/* Is `name` a known backend ("berkeley", "flat")? */
int cyrusdb_backend_known(const char *name);

int cyrusdb_open(const char *backend, const char *fname, int flags,
                 struct cyrusdb **dbp) __attribute__((warn_unused_result));
int cyrusdb_close(struct cyrusdb *db);
/* Delete a database file (no handle may be open on it in any process);
 * CYRERR_NOTFOUND when it does not exist. */
int cyrusdb_remove(const char *backend, const char *fname);

int cyrusdb_begin(struct cyrusdb *db, struct cyrusdb_txn **txnp)
    __attribute__((warn_unused_result));
int cyrusdb_commit(struct cyrusdb *db, struct cyrusdb_txn *txn)
    __attribute__((warn_unused_result));
int cyrusdb_abort(struct cyrusdb *db, struct cyrusdb_txn *txn);

int cyrusdb_fetch(struct cyrusdb *db, const char *key, size_t keylen,
                  struct buf *data, struct cyrusdb_txn *txn);
int cyrusdb_store(struct cyrusdb *db, const char *key, size_t keylen,
                  const char *data, size_t datalen, int flags,
                  struct cyrusdb_txn *txn);
int cyrusdb_delete(struct cyrusdb *db, const char *key, size_t keylen,
                   struct cyrusdb_txn *txn);   /* CYRERR_NOTFOUND if absent */

/* Call cb for every record whose key starts with prefix, in key order.  cb
 * returns 0 to go on, anything else to stop (foreach returns that value).
 * cb must not write to the same database unless it passed a txn here, and
 * then only through that txn. */
typedef int cyrusdb_foreach_cb(void *rock, const char *key, size_t keylen,
                               const char *data, size_t datalen);
int cyrusdb_foreach(struct cyrusdb *db, const char *prefix, size_t prefixlen,
                    cyrusdb_foreach_cb *cb, void *rock,
                    struct cyrusdb_txn *txn);

/* Key comparison used by CYRUSDB_MBOXSORT databases: bytes compare as
 * unsigned values except that '.' ranks right after NUL, before every other
 * byte; a key that is a prefix of another sorts first.  So "user.a" <
 * "user.a.b" < "user.a b" < "user.a-b" < "user.aa". */
int cyrusdb_mboxsort_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* The backend vtable (one file per backend: cyrusdb_berkeley.c, cyrusdb_flat.c).
 * Every backend's handle begins with a `const struct cyrusdb_backend *`
 * pointing at its own vtable: cyrusdb_*() dispatch on it. */
struct cyrusdb_backend {
    const char *name;
    int (*open)(const char *fname, int flags, struct cyrusdb **dbp);
    int (*close)(struct cyrusdb *db);
    int (*begin)(struct cyrusdb *db, struct cyrusdb_txn **txnp);
    int (*commit)(struct cyrusdb *db, struct cyrusdb_txn *txn);
    int (*abort)(struct cyrusdb *db, struct cyrusdb_txn *txn);
    int (*fetch)(struct cyrusdb *db, const char *key, size_t keylen,
                 struct buf *data, struct cyrusdb_txn *txn);
    int (*store)(struct cyrusdb *db, const char *key, size_t keylen,
                 const char *data, size_t datalen, int flags,
                 struct cyrusdb_txn *txn);
    int (*delete_)(struct cyrusdb *db, const char *key, size_t keylen,
                   struct cyrusdb_txn *txn);
    int (*foreach)(struct cyrusdb *db, const char *prefix, size_t prefixlen,
                   cyrusdb_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn);
    int (*remove)(const char *fname);
};

extern const struct cyrusdb_backend cyrusdb_berkeley;
extern const struct cyrusdb_backend cyrusdb_berkeley_nosync;
extern const struct cyrusdb_backend cyrusdb_flat;

#endif
