/* service: the skeleton of every daemon that master runs.
 *
 * A daemon is a thin file that describes itself in a struct service_def and
 * hands its main() to the skeleton:
 *
 *     static const struct service_def echod = {
 *         .name = "echod", .init = echod_init, .main = echod_main,
 *     };
 *     int main(int argc, char **argv) { return service_run(argc, argv, &echod); }
 *
 * service_run() parses the options every service takes, reads imapd.conf
 * once (config_read_or_exit; the override ident is the cyrus.conf entry's
 * name, which master passes in CYRUS_SERVICE, as in Cyrus: "imaps_foo: x"
 * applies to the entry called imaps; outside master the daemon's own name),
 * opens the log, calls init() once, and then loops:
 *
 *     tell master "available" -> wait for a connection on LISTEN_FD ->
 *     accept -> tell master "busy" -> main() -> close the connection
 *
 * until the use limit (-U) is reached, no connection came for the idle
 * timeout (-T), master asked the process to stop (SIGHUP: a process that
 * is serving a connection finishes it first), or master has died (the
 * status pipe has no reader left).  It then tells master
 * "exiting", calls done() and exits 0.  SIGTERM keeps its default action.
 *
 * Threaded services (mupdate) set run() instead of main(): after init() the
 * skeleton tells master STATUS_SELFSERVE and calls run() with the listening
 * socket; run() accepts and serves connections by itself and returns when
 * service_stop_fd() becomes readable (master's SIGHUP) or on a fatal error;
 * its return value is the exit code.  master starts such a service at boot
 * when it has prefork=1, and replaces it when it dies.
 *
 * Options taken by the skeleton (from cmd= in cyrus.conf, as in Cyrus):
 *   -C file     imapd.conf to read (default: the compiled-in path)
 *   -U uses     connections per process before it exits (default 250; 0 = no limit)
 *   -T seconds  exit after that long without a connection (default 60; 0 = never)
 *   -s          the listener is TLS-wrapped (imaps, pop3s): conn->tls_wrapped
 *   -V          print the version and exit (works outside master)
 * Every other option must be in def->optstring; those, and any operands,
 * are handed to init() in info->argv (argv[0] first) for the daemon's own
 * getopt.  def->optstring must not reuse the letters above.
 *
 * Memory: the structs passed to the callbacks are owned by the skeleton and
 * live for the whole process (service_info) or for the call (service_conn).
 * Errors: problems with the environment (not started by master, bad
 * option, unreadable imapd.conf) are fatal and exit 75 before the first
 * status message, which master counts as a failed start.
 */
#ifndef MASTER_SERVICE_H
#define MASTER_SERVICE_H

#include <sys/socket.h>

#include "net.h"

struct service_info {
    const char *name;          /* def->name: the log ident */
    const char *service;       /* the cyrus.conf entry (CYRUS_SERVICE), or
                                  name: the imapd.conf override ident */
    const char *config_file;   /* -C, or NULL for the default */
    int max_uses;              /* -U; 0 = no limit */
    int idle_timeout;          /* -T in seconds; 0 = none */
    int tls_wrapped;           /* -s */
    int argc;                  /* argv[0], then the daemon's own options */
    char **argv;               /* and operands; NULL-terminated */
};

struct service_conn {
    int fd;                    /* the connection; closed by the skeleton.  For
                                  a udp service: the socket itself (do not
                                  close it; read one datagram) */
    int is_datagram;           /* udp service */
    int tls_wrapped;           /* the listener is TLS-wrapped (-s) */
    unsigned long nth;         /* 1 for the first connection of the process */
    char peer[NET_ADDRSTRLEN];  /* "ip;port", "[ip6];port" or "unix" */
    char local[NET_ADDRSTRLEN];
    struct sockaddr_storage peer_addr;
    socklen_t peer_len;        /* 0 when unknown (udp, unix) */
    struct sockaddr_storage local_addr;
    socklen_t local_len;
};

struct service_def {
    const char *name;          /* program name, e.g. "imapd" */
    const char *optstring;     /* the daemon's own getopt options, or NULL */
    /* Once per process, after imapd.conf is read; nonzero = exit with
     * that code (before the first status message). May be NULL. */
    int (*init)(const struct service_info *info);
    /* One connection (prefork services). */
    void (*main)(const struct service_info *info, const struct service_conn *conn);
    /* The whole life of a threaded service; returns the exit code. */
    int (*run)(const struct service_info *info, int listen_fd);
    /* Before a normal exit. May be NULL. */
    void (*done)(const struct service_info *info);
};

/* The daemon's main(). Returns only the process's exit code. */
int service_run(int argc, char **argv, const struct service_def *def);

/* A descriptor that becomes readable when master has asked this process to
 * stop (SIGHUP); for the poll loop of a threaded service or a long
 * connection that wants to end early.  -1 before service_run(). */
int service_stop_fd(void);
/* True once a stop was asked for. */
int service_stopping(void);

#define SERVICE_DEFAULT_USES 250
#define SERVICE_DEFAULT_TIMEOUT 60

#endif
