/* tls_config: TLS contexts from the imapd.conf options.  See tls.h.
 *
 * Kept apart from tls.c so that programs which build contexts from explicit
 * parameters (tests, tools) do not pull the configuration module in. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "error.h"
#include "libconfig.h"
#include "tls.h"

static int is_set(const char *s) { return s && *s; }

int tls_server_ctx_from_config(SSL_CTX **ctx_r, const char **errstr)
{
    struct tls_params tp = { 0 };
    tp.cert_file = config_getstring(IMAPOPT_TLS_SERVER_CERT);
    tp.key_file = config_getstring(IMAPOPT_TLS_SERVER_KEY);
    tp.ca_file = config_getstring(IMAPOPT_TLS_CLIENT_CA_FILE);
    tp.ca_dir = config_getstring(IMAPOPT_TLS_CLIENT_CA_DIR);
    tp.ciphers = config_getstring(IMAPOPT_TLS_CIPHERS);
    tp.versions = config_getstring(IMAPOPT_TLS_VERSIONS);
    tp.prefer_server_ciphers = config_getswitch(IMAPOPT_TLS_PREFER_SERVER_CIPHERS);
    long long timeout = config_getduration(IMAPOPT_TLS_SESSION_TIMEOUT);
    if (timeout > 24 * 3600) timeout = 24 * 3600;
    tp.session_timeout = timeout > 0 ? (int)timeout : 0;

    int have_ca = is_set(tp.ca_file) || is_set(tp.ca_dir);
    const char *certs = config_getenum(IMAPOPT_TLS_CLIENT_CERTS);
    if (certs && !strcmp(certs, "require")) {
        if (!have_ca) {
            *errstr = "tls_client_certs: require needs tls_client_ca_file "
                      "or tls_client_ca_dir";
            return CYRERR_CONFIG;
        }
        tp.verify = TLS_VERIFY_REQUIRE;
    } else if (certs && !strcmp(certs, "optional") && have_ca) {
        tp.verify = TLS_VERIFY_OPTIONAL;
    } else {
        tp.verify = TLS_VERIFY_NONE;
    }
    return tls_server_ctx(&tp, ctx_r, errstr);
}

int tls_client_ctx_from_config(SSL_CTX **ctx_r, const char **errstr)
{
    struct tls_params tp = { 0 };
    tp.cert_file = config_getstring(IMAPOPT_TLS_CLIENT_CERT);
    tp.key_file = config_getstring(IMAPOPT_TLS_CLIENT_KEY);
    tp.ca_file = config_getstring(IMAPOPT_TLS_SERVER_CA_FILE);
    tp.ca_dir = config_getstring(IMAPOPT_TLS_SERVER_CA_DIR);
    tp.ciphers = config_getstring(IMAPOPT_TLS_CIPHERS);
    tp.versions = config_getstring(IMAPOPT_TLS_VERSIONS);
    tp.verify = is_set(tp.ca_file) || is_set(tp.ca_dir) ? TLS_VERIFY_REQUIRE
                                                        : TLS_VERIFY_NONE;
    return tls_client_ctx(&tp, ctx_r, errstr);
}
