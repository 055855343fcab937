/* net: socket address parsing, listening and connecting.
 *
 * Address syntax (cyrus.conf `listen=`, imapd.conf server options):
 *   "143"                 port on every address (IPv6 and IPv4)
 *   "imap"                service name from /etc/services
 *   "127.0.0.1:143"       host or IPv4 address and port (or service name)
 *   "localhost:imap"
 *   "[::1]:143"           IPv6 address and port
 *   "/var/run/lmtp.sock"  unix socket (absolute path)
 * Errors are returned as CYRERR_* codes with a message in *errstr (a static
 * or borrowed string; never NULL on error).
 */
#ifndef LIB_NET_H
#define LIB_NET_H

#include <sys/socket.h>
#include <sys/types.h>

struct net_addr {
    int is_unix;          /* a unix socket path */
    char *host;           /* NULL for "any"; without brackets for IPv6 */
    char *port;           /* numeric or service name as written */
    char *path;           /* unix socket path */
};

enum net_proto { NET_TCP, NET_TCP4, NET_TCP6, NET_UDP };

/* Parse `spec`; fills *addr (free with net_addr_free). default_port is used
 * for a bare host when not NULL. */
int net_parse_addr(const char *spec, const char *default_port,
                   struct net_addr *addr, const char **errstr);
void net_addr_free(struct net_addr *addr);
/* Parse "tcp", "tcp4", "tcp6", "udp"; -1 when unknown. */
int net_parse_proto(const char *s);

/* Create listening socket(s) for addr.  Returns the number of sockets put
 * into fds[] (at most maxfds; a wildcard port may give an IPv6 and an IPv4
 * socket), or a negative CYRERR_* with *errstr.  Sets SO_REUSEADDR, and for
 * unix sockets removes a stale socket file first and applies `mode`. */
int net_listen(const struct net_addr *addr, enum net_proto proto, int backlog,
               int mode, int *fds, int maxfds, const char **errstr);

/* Connect to host:port (or a unix path) with a timeout in milliseconds
 * (0 = none).  Returns the connected fd, or a negative CYRERR_* with errstr. */
int net_connect(const struct net_addr *addr, int timeout_ms, const char **errstr);
int net_connect_spec(const char *spec, const char *default_port,
                     int timeout_ms, const char **errstr);

/* Printable "ip;port" / "[ip6];port" / "unix" for a socket address, written
 * into buf (size >= NET_ADDRSTRLEN).  net_peer_name/net_local_name use
 * getpeername/getsockname on fd.  Returns buf. */
#define NET_ADDRSTRLEN 80
const char *net_sockaddr_str(const struct sockaddr *sa, socklen_t len, char *buf);
const char *net_peer_name(int fd, char *buf);
const char *net_local_name(int fd, char *buf);

/* Set/clear O_NONBLOCK; set close-on-exec. */
int net_set_nonblock(int fd, int on);
int net_set_cloexec(int fd, int on);

#endif
