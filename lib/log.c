/* log: syslog plus optional stderr.  See log.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* Process-wide logging state: one identity per process. */
static struct {
    char ident[64];
    int to_stderr;
    int facility;
} log_state = { "cyrus", 0, LOG_LOCAL6 };

static const struct { const char *name; int value; } facilities[] = {
    { "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON },
    { "daemon", LOG_DAEMON }, { "kern", LOG_KERN }, { "lpr", LOG_LPR },
    { "mail", LOG_MAIL }, { "news", LOG_NEWS }, { "syslog", LOG_SYSLOG },
    { "user", LOG_USER }, { "uucp", LOG_UUCP },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int log_facility_from_name(const char *name)
{
    if (!name) return -1;
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (!strcasecmp(name, facilities[i].name)) return facilities[i].value;
    return -1;
}

void log_init(const char *ident, int flags)
{
    const char *slash = strrchr(ident, '/');
    if (slash) ident = slash + 1;
    snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident);
    const char *env = getenv("CYRUS_LOG_STDERR");
    log_state.to_stderr = (flags & LOG_STDERR) || (env && *env && strcmp(env, "0"));
    closelog();
    openlog(log_state.ident, LOG_PID | LOG_NDELAY, log_state.facility);
}

void log_set_facility(const char *name)
{
    int f = log_facility_from_name(name);
    if (f < 0 || f == log_state.facility) return;
    log_state.facility = f;
    closelog();
    openlog(log_state.ident, LOG_PID | LOG_NDELAY, f);
}

const char *log_ident(void)
{
    return log_state.ident;
}

static const char *prio_name(int prio)
{
    switch (prio & LOG_PRIMASK) {
    case LOG_EMERG: return "emerg";
    case LOG_ALERT: return "alert";
    case LOG_CRIT: return "crit";
    case LOG_ERR: return "error";
    case LOG_WARNING: return "warning";
    case LOG_NOTICE: return "notice";
    case LOG_INFO: return "info";
    default: return "debug";
    }
}

void xvsyslog(int prio, const char *event, const char *fmt, va_list ap)
{
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, event);
    if (fmt && *fmt) {
        buf_appendcstr(&b, ": ");
        buf_vprintf(&b, fmt, ap);
    }
    /* never let a control character from the wire forge a log line */
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.s[i] < 0x20) b.s[i] = '?';
    syslog(prio, "%s", buf_cstring(&b));
    if (log_state.to_stderr) {
        fprintf(stderr, "%s[%d] %s: %s\n", log_state.ident, (int)getpid(),
                prio_name(prio), buf_cstring(&b));
    }
    buf_free(&b);
}

void xsyslog(int prio, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xvsyslog(prio, event, fmt, ap);
    va_end(ap);
}

void fatal(int code, const char *fmt, ...)
{
    va_list ap;
    struct buf b = BUF_INITIALIZER;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    xsyslog(LOG_CRIT, "fatal", "%s", buf_cstring(&b));
    if (!log_state.to_stderr) fprintf(stderr, "%s: fatal: %s\n", log_state.ident, buf_cstring(&b));
    buf_free(&b);
    exit(code);
}
