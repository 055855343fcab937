/* txnretry: run a read-modify-write on a cyrusdb inside one transaction,
 * again from the start when the database reports a deadlock.
 *
 * cyrusdb.h says a CYRERR_DEADLOCK inside a transaction means the work was
 * lost and must be redone; every store module that changes records (quota,
 * seen, subscriptions, duplicate delivery) needs that loop, so it lives
 * here once.  The callback does the reads and writes through the txn it is
 * given and returns 0 to commit or an error to abort (an error other than
 * CYRERR_DEADLOCK is returned as it is, without retrying).  No state.
 */
#ifndef IMAP_STORE_TXNRETRY_H
#define IMAP_STORE_TXNRETRY_H

#include "cyrusdb.h"

/* Attempts before giving up with CYRERR_DEADLOCK. */
#define TXNRETRY_ATTEMPTS 1000

typedef int txnretry_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg);

/* Begin, fn, commit; on deadlock back off briefly and start over.
 * Returns 0, fn's error, or a cyrusdb error. */
int txnretry_run(struct cyrusdb *db, txnretry_fn *fn, void *arg)
    __attribute__((warn_unused_result));

#endif
