/* tls: OpenSSL contexts for servers and clients, and test certificates.
 *
 * A daemon builds one SSL_CTX at start-up (tls_server_ctx, or the
 * imapd.conf-driven tls_server_ctx_from_config in tls_config.c) and hands it
 * to prot_starttls() for every connection; a proxy or the mupdate client
 * builds a client context the same way.  Contexts are reference counted by
 * OpenSSL and may be shared by threads; free with tls_ctx_free().
 *
 * All contexts refuse renegotiation and TLS-level compression (COMPRESS
 * DEFLATE is done by prot instead).
 *
 * Errors: functions return 0 or a negative CYRERR_* code (CYRERR_CONFIG for a
 * bad parameter such as an unknown version name or a missing certificate,
 * CYRERR_TLS for an OpenSSL failure, CYRERR_IO for a file that cannot be
 * written) and set *errstr to a readable text built from the parameters and
 * the OpenSSL error queue (which is cleared).  The text never contains key
 * material.  *errstr is borrowed: thread-local storage valid until the next
 * tls_* call in the same thread.
 */
#ifndef LIB_TLS_H
#define LIB_TLS_H

#include <openssl/ssl.h>

enum tls_verify {
    TLS_VERIFY_NONE = 0,   /* server: do not ask for a client certificate;
                              client: accept any server certificate */
    TLS_VERIFY_OPTIONAL,   /* server: ask for a client certificate, verify it
                              when given, continue without one (the result is
                              in prot_tls_info().peer_verified);
                              client: verify, but do not fail the handshake */
    TLS_VERIFY_REQUIRE,    /* fail the handshake unless the peer presents a
                              certificate that verifies against the CAs (and,
                              for a client, matches the server name given to
                              prot_starttls_ex) */
};

struct tls_params {
    const char *cert_file;   /* PEM certificate chain to present; required for
                                a server, optional for a client */
    const char *key_file;    /* PEM private key; NULL = inside cert_file */
    const char *ca_file;     /* PEM CAs trusted to verify the peer, or NULL */
    const char *ca_dir;      /* hashed CA directory (c_rehash), or NULL; when
                                a client verifies and both are NULL, the
                                system's default CA store is used */
    const char *ciphers;     /* OpenSSL cipher list for TLS <= 1.2; NULL =
                                OpenSSL's default */
    const char *versions;    /* e.g. "tls1_2 tls1_3" (space or comma
                                separated; names: tls1_0 (or tls1), tls1_1,
                                tls1_2, tls1_3); NULL = "tls1_2 tls1_3" */
    enum tls_verify verify;
    int prefer_server_ciphers; /* a server picks from its own order */
    int session_timeout;     /* seconds a server lets clients resume a session
                                (session cache and TLS 1.3 tickets); 0 = no
                                resumption */
};

/* Parse a versions string into OpenSSL version numbers (TLS1_2_VERSION...):
 * the lowest and highest named version, and in *gaps_r the SSL_OP_NO_*
 * options that exclude versions between them that were not named.
 * Returns 0 or CYRERR_CONFIG (unknown or unsupported name, empty list). */
int tls_parse_versions(const char *versions, int *min_r, int *max_r,
                       unsigned long *gaps_r, const char **errstr);

/* Build a context.  *ctx_r is set only on success. */
int tls_server_ctx(const struct tls_params *tp, SSL_CTX **ctx_r,
                   const char **errstr);
int tls_client_ctx(const struct tls_params *tp, SSL_CTX **ctx_r,
                   const char **errstr);

/* The same from imapd.conf (tls_config.c).  A server reads tls_server_cert,
 * tls_server_key, tls_client_ca_file and tls_client_ca_dir (to verify client
 * certificates), tls_client_certs (off|optional|require: optional asks only
 * when a client CA is configured; require without one is CYRERR_CONFIG),
 * tls_ciphers, tls_prefer_server_ciphers, tls_versions and
 * tls_session_timeout; without tls_server_cert it gets CYRERR_CONFIG.
 * A client (proxy to a backend, mupdate client) reads tls_client_cert,
 * tls_client_key, tls_server_ca_file and tls_server_ca_dir, tls_ciphers and
 * tls_versions, and verifies the server (TLS_VERIFY_REQUIRE) exactly when
 * tls_server_ca_file or tls_server_ca_dir is set. */
int tls_server_ctx_from_config(SSL_CTX **ctx_r, const char **errstr);
int tls_client_ctx_from_config(SSL_CTX **ctx_r, const char **errstr);

/* Drop the caller's reference and set *ctxp to NULL (NULL is fine). */
void tls_ctx_free(SSL_CTX **ctxp);

/* Write a new EC P-256 key (mode 0600) to keyfile and a self-signed X.509v3
 * certificate for common_name, valid from now for `days` days, to certfile
 * (keyfile may equal certfile: then both go into that one file).  The
 * certificate can serve as its own CA (so a client can verify it with
 * ca_file = certfile); its subjectAltName holds DNS:common_name, or
 * IP:common_name for an address, and for "localhost" also IP:127.0.0.1 and
 * IP:::1.  common_name may hold letters, digits and ".-_:*" only.
 * Files are written to a temporary name and renamed into place.
 * Returns 0, CYRERR_BADARGS, CYRERR_TLS or CYRERR_IO. */
int tls_make_selfsigned(const char *certfile, const char *keyfile,
                        const char *common_name, int days,
                        const char **errstr);

/* Text for the current OpenSSL error queue, prefixed with `what` (which may be
 * NULL), e.g. "cannot load key /x: ... no start line"; clears the queue.
 * Borrowed thread-local storage, as *errstr above.  Used by prot too. */
const char *tls_error_text(const char *what);

#endif
