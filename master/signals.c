/* signals: master's signal flags.  See signals.h. */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "master/signals.h"

static volatile sig_atomic_t got_chld, got_hup, got_term;
static sigset_t wait_mask;

static void on_signal(int sig)
{
    switch (sig) {
    case SIGCHLD: got_chld = 1; break;
    case SIGHUP: got_hup = 1; break;
    case SIGTERM:
    case SIGINT: got_term = sig; break;
    default: break;
    }
}

void signals_init(void)
{
    static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
    struct sigaction sa;
    sigset_t block;

    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigdelset(&wait_mask, sigs[i]);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_mask = block;
    sa.sa_flags = SA_NOCLDSTOP;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);

    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);
}

const sigset_t *signals_waitmask(void)
{
    return &wait_mask;
}

unsigned signals_take(unsigned which)
{
    unsigned r = 0;
    if ((which & SIGNALS_CHLD) && got_chld) { got_chld = 0; r |= SIGNALS_CHLD; }
    if ((which & SIGNALS_HUP) && got_hup) { got_hup = 0; r |= SIGNALS_HUP; }
    if ((which & SIGNALS_TERM) && got_term) r |= SIGNALS_TERM;   /* sticky */
    return r;
}

int signals_term_signo(void)
{
    return got_term;
}
