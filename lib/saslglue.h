/* saslglue: Cyrus SASL (libsasl2) for every daemon and client of the project.
 *
 * Server side: one struct saslglue_server per connection wraps a
 * sasl_conn_t.  It lists the mechanisms on offer, runs an exchange (start,
 * step, or the whole challenge/response loop over a struct prot with
 * saslglue_server_exchange), checks plaintext passwords for LOGIN and
 * USER/PASS, and reports who logged in.  Client side: one struct
 * saslglue_client per outgoing connection (proxies, the mupdate client)
 * authenticates with the credentials the caller read from its options.
 *
 * Options: libsasl2 asks for option "X" (pwcheck_method, mech_list,
 * sasldb_path, auxprop_plugin, log_level, ...); the answer is imapd.conf's
 * "<ident>_sasl_X" (ident = config_ident(), e.g. "imapd") or else "sasl_X",
 * read with config_getpattern().  Options not set there fall back to
 * libsasl2's own defaults and its file <plugindir>/Cyrus.conf, since the
 * application name given to libsasl2 is "Cyrus" as in Cyrus IMAP.
 * sasl_minimum_layer (default 0) is read by this module: mechanisms that
 * cannot reach that SSF together with TLS are not offered.  Security layers
 * (DIGEST-MD5 auth-int/auth-conf, GSSAPI wrapping) are never negotiated,
 * because prot has no SASL layer: the only protection is TLS, and
 * sasl_maximum_layer is ignored.  SASL_SEC_NOANONYMOUS is always set.
 *
 * Realm: the server passes serverfqdn (default config_servername()) to
 * libsasl2 and, unless the caller gives one, no user realm.  So a user
 * "alice" is looked up in sasldb as "alice@<serverfqdn>" (that is what
 * `saslpasswd2 -u <servername> -c alice` creates), and her user id stays
 * "alice".  When the caller gives a user_realm, lookups use that realm and
 * libsasl2 appends "@realm" to user ids that have none.
 *
 * Authorization (proxy login): an authorization identity different from the
 * authentication identity is accepted only when the authentication identity
 * is listed in `admins` or `proxyservers` (space or comma separated);
 * otherwise the exchange fails as a bad authentication and a line is logged.
 *
 * Process-wide state (documented exception to "no globals"): libsasl2 keeps
 * one global plugin table per process.  saslglue_server_init() and
 * saslglue_client_init() run sasl_server_init()/sasl_client_init() once;
 * the _new functions call them when needed, but a daemon should call them in
 * main() before it forks children or starts threads (plugins are loaded
 * once, before any chroot or privilege change).  The option source set with
 * saslglue_set_option_source() is also global: set it before any init.
 * Connection objects may be used from several threads, one object per
 * thread at a time.
 *
 * Errors: functions return 0, SASLGLUE_CONTINUE (positive: more exchange
 * steps follow), or a negative CYRERR_*:
 *   CYRERR_AUTHFAIL      bad credentials, unknown user, refused authzid,
 *                        malformed client data (never says which)
 *   CYRERR_NOTSUPPORTED  mechanism unknown, not offered, or too weak
 *   CYRERR_PERMISSION    plaintext password check on a connection that
 *                        does not allow plaintext
 *   CYRERR_CANCELLED     the client sent "*" (exchange helper)
 *   CYRERR_PARSE         the client sent bad base64 (exchange helper)
 *   CYRERR_SASL          libsasl2 failed for an internal reason (no
 *                        plugins, database unreadable, out of memory)
 * and prot's CYRERR_EOF/TIMEOUT/IO/TOOBIG/TLS from the exchange helper.
 * After a failure the connection object is ready for a new attempt; the
 * text for the client is saslglue_server_errstring() (it never reveals
 * whether a user exists).
 *
 * Logging: failures are logged ("badlogin", "authz refused") with service,
 * peer, mechanism and libsasl2's error detail; libsasl2's own messages go
 * to xsyslog.  Passwords, secrets and exchange data are never logged.
 *
 * Ownership: returned const char * are borrowed from the object and valid
 * until its next call (or until it is freed); _free() functions take a
 * pointer to the caller's pointer and set it to NULL.
 */
#ifndef LIB_SASLGLUE_H
#define LIB_SASLGLUE_H

#include <stddef.h>

struct buf;
struct prot;

/* A positive result: the exchange goes on (a challenge or response to send). */
#define SASLGLUE_CONTINUE 1

/* ---- process-wide ---------------------------------------------------- */

/* Where options come from.  fn(key, rock) returns the value of an
 * imapd.conf key ("sasl_mech_list", "imapd_sasl_mech_list", "admins",
 * "proxyservers", ...) or NULL when unset; the string must stay valid until
 * the source is changed.  `ident` is the service name used for overrides.
 * fn == NULL restores the default: imapd.conf through libconfig.  Meant for
 * tests and tools that have no imapd.conf. */
typedef const char *saslglue_option_fn(const char *key, void *rock);
void saslglue_set_option_source(saslglue_option_fn *fn, const char *ident,
                                void *rock);

/* The value of SASL option `option` ("pwcheck_method" reads
 * "<ident>_sasl_pwcheck_method" or "sasl_pwcheck_method"), or NULL. */
const char *saslglue_getopt(const char *option);

/* sasl_server_init(appname "Cyrus") / sasl_client_init(), once per process.
 * Return 0 or CYRERR_SASL (logged). */
int saslglue_server_init(void) __attribute__((warn_unused_result));
int saslglue_client_init(void) __attribute__((warn_unused_result));
/* Unload libsasl2 (sasl_server_done/sasl_client_done) at exit, after every
 * connection object is freed, so that leak checkers stay quiet.  Not meant
 * to be followed by another init. */
void saslglue_done(void);

/* Strict base64 (RFC 4648, padded, no whitespace).  encode appends to `out`;
 * decode replaces the contents of `out` and returns 0 or CYRERR_PARSE. */
void saslglue_encode64(struct buf *out, const void *data, size_t len);
int saslglue_decode64(struct buf *out, const char *b64, size_t len)
    __attribute__((warn_unused_result));

/* ---- server ------------------------------------------------------------ */

struct saslglue_server;

struct saslglue_server_params {
    const char *service;     /* SASL service name: "imap", "pop", "lmtp",
                                "mupdate" (required) */
    const char *serverfqdn;  /* NULL: config_servername() */
    const char *user_realm;  /* NULL: none (see "Realm" above) */
    const char *localip;     /* "127.0.0.1;143" or NULL */
    const char *remoteip;    /* "127.0.0.1;50123" or NULL */
    unsigned tls_ssf;        /* SSF of the TLS layer; 0 without TLS */
    const char *tls_authid;  /* identity from a verified client certificate
                                (enables EXTERNAL), or NULL */
    int allowplaintext;      /* nonzero: PLAIN/LOGIN even without TLS */
};

/* Create a connection object (initialising libsasl2 if needed).
 * Returns 0 or CYRERR_SASL / CYRERR_BADARGS. */
int saslglue_server_new(const struct saslglue_server_params *params,
                        struct saslglue_server **sp)
    __attribute__((warn_unused_result));
void saslglue_server_free(struct saslglue_server **sp);

/* After STARTTLS: the TLS SSF and optional client certificate identity.
 * Plaintext mechanisms become available.  Returns 0 or CYRERR_SASL. */
int saslglue_server_set_tls(struct saslglue_server *s, unsigned ssf,
                            const char *authid)
    __attribute__((warn_unused_result));

/* Whether plaintext passwords (LOGIN, USER/PASS, PLAIN) may be used on this
 * connection now: allowplaintext was given or TLS is active. */
int saslglue_server_plaintext_ok(const struct saslglue_server *s);

/* The mechanisms on offer, each preceded by `prefix` and separated by `sep`
 * (NULL: "" and " "): ("AUTH=", " AUTH=") for IMAP CAPABILITY,
 * (NULL, NULL) for POP3 CAPA and LMTP EHLO.  "" when none is available.
 * Borrowed until the next call on `s`. */
const char *saslglue_server_mechlist(struct saslglue_server *s,
                                     const char *prefix, const char *sep);

/* Start an exchange with mechanism `mech` and an optional initial response
 * (`in` == NULL: none; `in` != NULL with inlen 0: an empty one).  *out and
 * *outlen receive the challenge (borrowed until the next call).  Returns 0
 * (authenticated), SASLGLUE_CONTINUE (send *out, pass the answer to
 * saslglue_server_step) or an error (see top). */
int saslglue_server_start(struct saslglue_server *s, const char *mech,
                          const void *in, size_t inlen,
                          const void **out, size_t *outlen)
    __attribute__((warn_unused_result));
int saslglue_server_step(struct saslglue_server *s,
                         const void *in, size_t inlen,
                         const void **out, size_t *outlen)
    __attribute__((warn_unused_result));

/* Give up a started exchange (the client cancelled); logged as a failure. */
void saslglue_server_abort(struct saslglue_server *s);

/* Check a plaintext password (LOGIN, USER/PASS).  Returns 0 (logged in as
 * saslglue_server_userid()), CYRERR_AUTHFAIL, CYRERR_PERMISSION (plaintext
 * not allowed on this connection) or CYRERR_SASL. */
int saslglue_server_checkpass(struct saslglue_server *s, const char *user,
                              const char *password)
    __attribute__((warn_unused_result));

/* Store a password for `user` in the configured auxprop store (sasldb),
 * creating the user: for tools and test fixtures.  0 or CYRERR_SASL. */
int saslglue_server_setpass(struct saslglue_server *s, const char *user,
                            const char *password)
    __attribute__((warn_unused_result));

/* How the protocol frames a server-side exchange. */
struct saslglue_proto {
    const char *challenge_prefix; /* before each base64 challenge */
    size_t maxline;               /* longest client response line */
};
extern const struct saslglue_proto saslglue_proto_imap;    /* "+ " */
extern const struct saslglue_proto saslglue_proto_pop3;    /* "+ " */
extern const struct saslglue_proto saslglue_proto_lmtp;    /* "334 " */
extern const struct saslglue_proto saslglue_proto_mupdate; /* "" */

/* Run a whole exchange on `p`: start `mech` with `initial` (the client's
 * initial response as base64 text, "=" for an empty one, NULL for none),
 * then while more is needed send "<prefix><base64>\r\n", flush, and read one
 * line of base64 (at most proto->maxline bytes).  A line "*" cancels:
 * CYRERR_CANCELLED.  Bad base64: CYRERR_PARSE.  The final result (OK/NO/BAD
 * line) is for the caller to send.  Returns 0 or an error (see top). */
int saslglue_server_exchange(struct saslglue_server *s, struct prot *p,
                             const struct saslglue_proto *proto,
                             const char *mech, const char *initial)
    __attribute__((warn_unused_result));

/* Results, once authenticated (NULL before).  userid is the identity the
 * session acts as (the authorization id, canonicalised); authid is the one
 * whose credentials were checked; they differ for proxy logins. */
const char *saslglue_server_userid(const struct saslglue_server *s);
const char *saslglue_server_authid(const struct saslglue_server *s);
const char *saslglue_server_mech(const struct saslglue_server *s);
/* SSF of the SASL security layer: always 0 here (see top); add the TLS SSF
 * for the protection of the session. */
unsigned saslglue_server_ssf(const struct saslglue_server *s);
/* Text for the client about the last failure ("authentication failed",
 * ...); safe to send, never names the cause more precisely. */
const char *saslglue_server_errstring(const struct saslglue_server *s);

/* ---- client ------------------------------------------------------------ */

struct saslglue_client;

struct saslglue_client_params {
    const char *service;     /* SASL service of the peer ("imap", ...) */
    const char *serverfqdn;  /* the peer's host name (required) */
    const char *localip;     /* "ip;port" or NULL */
    const char *remoteip;    /* "ip;port" or NULL */
    const char *authname;    /* authenticate as (required) */
    const char *authzid;     /* act as; NULL or "" = authname */
    const char *password;    /* NULL: only mechanisms without one work */
    const char *realm;       /* NULL: the first the server offers */
    unsigned tls_ssf;        /* SSF of the TLS layer; 0 without TLS */
    int allowplaintext;      /* nonzero: PLAIN/LOGIN even without TLS */
};

/* Copies what it needs from params.  Returns 0 or CYRERR_SASL/BADARGS. */
int saslglue_client_new(const struct saslglue_client_params *params,
                        struct saslglue_client **cp)
    __attribute__((warn_unused_result));
void saslglue_client_free(struct saslglue_client **cp);

/* Choose a mechanism among `server_mechs` (names separated by spaces,
 * commas or quotes, as the server advertised them): the first of `prefer`
 * (same syntax; NULL: none) that works, else libsasl2's choice.  *mech_r is
 * the chosen name; *out and *outlen the initial response (*out == NULL: none,
 * *outlen == 0 with *out != NULL: an empty one).  Returns 0 or
 * SASLGLUE_CONTINUE (either way send the command and read the server's
 * answer), CYRERR_NOTSUPPORTED (no common mechanism) or CYRERR_SASL. */
int saslglue_client_start(struct saslglue_client *c, const char *server_mechs,
                          const char *prefer, const char **mech_r,
                          const void **out, size_t *outlen)
    __attribute__((warn_unused_result));
/* Answer a server challenge (or the data the server sent with its success
 * reply).  Returns 0, SASLGLUE_CONTINUE or CYRERR_AUTHFAIL/CYRERR_SASL. */
int saslglue_client_step(struct saslglue_client *c, const void *in,
                         size_t inlen, const void **out, size_t *outlen)
    __attribute__((warn_unused_result));
/* Text of the last client failure (for logs). */
const char *saslglue_client_errstring(const struct saslglue_client *c);

#endif
