/* log: logging to syslog, and to stderr in the foreground or under test.
 *
 * Messages follow one shape: a fixed event text, then key=<value> pairs, e.g.
 *   xsyslog(LOG_NOTICE, "login", "user=<%s> mech=<%s>", user, mech);
 * logs "login: user=<alice> mech=<PLAIN>".  Never pass a password, a SASL
 * secret or an authentication exchange to these functions.
 *
 * log_init() opens syslog with the program name and pid; the facility comes
 * from the `syslog_facility` option once the configuration is read
 * (log_set_facility).  Output also goes to stderr when log_init() is given
 * LOG_STDERR, or when the environment variable CYRUS_LOG_STDERR is set (the
 * integration tests set it, since test machines have no syslog daemon).
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdarg.h>
#include <syslog.h>

#define LOG_STDERR 0x01   /* also write to stderr */

void log_init(const char *ident, int flags);
void log_set_facility(const char *name);    /* "local6", "mail", ...; unknown = ignored */
int log_facility_from_name(const char *name); /* -1 when unknown */
const char *log_ident(void);

void xsyslog(int prio, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xvsyslog(int prio, const char *event, const char *fmt, va_list ap);

/* Log at LOG_CRIT and exit with `code` (a sysexits value, usually 75). */
void fatal(int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

#endif
