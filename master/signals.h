/* signals: how master learns of SIGCHLD, SIGHUP, SIGTERM and SIGINT.
 *
 * The handlers only set flags.  The signals stay blocked except while master
 * waits in ppoll() with signals_waitmask(), so a signal can never slip in
 * between checking the flags and going to sleep.  SIGPIPE is ignored.
 *
 * Process-wide state: the flags (one set per process, by nature).
 */
#ifndef MASTER_SIGNALS_H
#define MASTER_SIGNALS_H

#include <signal.h>

enum {
    SIGNALS_CHLD = 1 << 0,
    SIGNALS_HUP = 1 << 1,
    SIGNALS_TERM = 1 << 2,   /* SIGTERM or SIGINT */
};

/* Install the handlers and block the signals. */
void signals_init(void);
/* The mask to wait with (everything unblocked). */
const sigset_t *signals_waitmask(void);
/* Return the pending flags among `which` and clear them. */
unsigned signals_take(unsigned which);
/* The signal number behind the last SIGNALS_TERM (for the log). */
int signals_term_signo(void);

#endif
