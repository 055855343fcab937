/* txnretry: transactions retried on deadlock.  See txnretry.h. */
#include "config.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "cyrusdb.h"
#include "error.h"
#include "log.h"
#include "imap/store/txnretry.h"

/* A short pause that grows with the attempt number and differs between
 * processes (so that two losers do not collide again in step). */
static void backoff(int attempt, uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    long cap = attempt < 10 ? attempt : 10;        /* up to ~10 ms */
    long ns = (long)((*seed >> 8) % 1000u + 1u) * 1000L * cap;
    struct timespec ts = { 0, ns };
    nanosleep(&ts, NULL);
}

int txnretry_run(struct cyrusdb *db, txnretry_fn *fn, void *arg)
{
    uint32_t seed = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)arg;
    int r = CYRERR_DEADLOCK;
    if (!db || !fn) return CYRERR_BADARGS;
    for (int attempt = 0; attempt < TXNRETRY_ATTEMPTS; attempt++) {
        struct cyrusdb_txn *txn = NULL;
        if (attempt) backoff(attempt, &seed);
        r = cyrusdb_begin(db, &txn);
        if (r == CYRERR_DEADLOCK) continue;
        if (r) return r;
        r = fn(db, txn, arg);
        if (r) {
            cyrusdb_abort(db, txn);
            if (r == CYRERR_DEADLOCK) continue;
            return r;
        }
        r = cyrusdb_commit(db, txn);
        if (r != CYRERR_DEADLOCK) return r;
    }
    xsyslog(LOG_ERR, "cyrusdb: transaction given up after deadlocks", "attempts=<%d>",
            TXNRETRY_ATTEMPTS);
    return r;
}
