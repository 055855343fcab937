/* tls: OpenSSL contexts and self-signed certificates.  See tls.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "tls.h"
#include "xmalloc.h"

/* Error texts: one buffer per thread (see tls.h); truncated when long.  This
 * is a message for logs, never wire data. */
static __thread char tls_errbuf[512];

static const char *seterr(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_errbuf, sizeof(tls_errbuf), fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return tls_errbuf;
}

const char *tls_error_text(const char *what)
{
    size_t used = 0;
    tls_errbuf[0] = '\0';
    if (what) {
        snprintf(tls_errbuf, sizeof(tls_errbuf), "%s", what);
        used = strlen(tls_errbuf);
    }
    const char *data = NULL;
    int flags = 0;
    unsigned long e;
    int n = 0;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (n++ >= 4 || used + 2 >= sizeof(tls_errbuf)) continue;
        const char *lib = NULL, *reason;
        if (ERR_SYSTEM_ERROR(e)) {
            reason = strerror(ERR_GET_REASON(e));
        } else {
            lib = ERR_lib_error_string(e);
            reason = ERR_reason_error_string(e);
        }
        int has_data = (flags & ERR_TXT_STRING) && data && *data;
        int w = snprintf(tls_errbuf + used, sizeof(tls_errbuf) - used,
                         "%s%s%s%s%s%s%s",
                         used ? (n == 1 ? ": " : "; ") : "",
                         lib ? lib : "", lib ? ": " : "",
                         reason ? reason : "unknown error",
                         has_data ? " (" : "", has_data ? data : "",
                         has_data ? ")" : "");
        if (w > 0) used += (size_t)w;
        if (used >= sizeof(tls_errbuf)) used = sizeof(tls_errbuf) - 1;
    }
    if (!tls_errbuf[0]) snprintf(tls_errbuf, sizeof(tls_errbuf), "TLS error");
    return tls_errbuf;
}

/* ---- versions --------------------------------------------------------- */

static const struct {
    const char *name;
    int version;
    unsigned long no_option;
} tls_versions[] = {
    { "tls1", TLS1_VERSION, SSL_OP_NO_TLSv1 },
    { "tls1_0", TLS1_VERSION, SSL_OP_NO_TLSv1 },
    { "tls1_1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1 },
    { "tls1_2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2 },
    { "tls1_3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3 },
};
#define N_VERSIONS (sizeof(tls_versions) / sizeof(tls_versions[0]))

int tls_parse_versions(const char *versions, int *min_r, int *max_r,
                       unsigned long *gaps_r, const char **errstr)
{
    if (!versions) versions = "tls1_2 tls1_3";
    int min = 0, max = 0;
    unsigned long named = 0;    /* SSL_OP_NO_* bits of the named versions */
    const char *s = versions;
    while (*s) {
        size_t len = strcspn(s, " \t,");
        if (len == 0) { s++; continue; }
        size_t i;
        for (i = 0; i < N_VERSIONS; i++) {
            if (strlen(tls_versions[i].name) == len &&
                !strncasecmp(s, tls_versions[i].name, len))
                break;
        }
        if (i == N_VERSIONS) {
            *errstr = seterr("unknown TLS version \"%.*s\" in \"%s\" "
                             "(known: tls1_0 tls1_1 tls1_2 tls1_3)",
                             (int)(len > 40 ? 40 : len), s, versions);
            return CYRERR_CONFIG;
        }
        int v = tls_versions[i].version;
        if (!min || v < min) min = v;
        if (v > max) max = v;
        named |= tls_versions[i].no_option;
        s += len;
    }
    if (!min) {
        *errstr = seterr("no TLS version named in \"%s\"", versions);
        return CYRERR_CONFIG;
    }
    unsigned long gaps = 0;
    for (size_t i = 0; i < N_VERSIONS; i++) {
        int v = tls_versions[i].version;
        if (v > min && v < max && !(named & tls_versions[i].no_option))
            gaps |= tls_versions[i].no_option;
    }
    *min_r = min;
    *max_r = max;
    if (gaps_r) *gaps_r = gaps;
    return 0;
}

/* ---- contexts --------------------------------------------------------- */

static int ctx_common(SSL_CTX *ctx, const struct tls_params *tp,
                      const char **errstr)
{
    int min, max;
    unsigned long gaps;
    int r = tls_parse_versions(tp->versions, &min, &max, &gaps, errstr);
    if (r) return r;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 gaps);
    if (tp->prefer_server_ciphers)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!SSL_CTX_set_min_proto_version(ctx, min) ||
        !SSL_CTX_set_max_proto_version(ctx, max)) {
        *errstr = tls_error_text("cannot set TLS versions");
        return CYRERR_TLS;
    }
    /* TLS 1.0/1.1 need the SHA-1 signatures that security level 1 allows. */
    if (min < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
    if (tp->ciphers && *tp->ciphers &&
        !SSL_CTX_set_cipher_list(ctx, tp->ciphers)) {
        *errstr = tls_error_text("bad tls_ciphers list");
        return CYRERR_CONFIG;
    }
    if (tp->cert_file && *tp->cert_file) {
        const char *key = tp->key_file && *tp->key_file ? tp->key_file
                                                         : tp->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, tp->cert_file) != 1) {
            char *what = xasprintf("cannot load certificate %s", tp->cert_file);
            *errstr = tls_error_text(what);
            free(what);
            return CYRERR_CONFIG;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            char *what = xasprintf("cannot load private key %s", key);
            *errstr = tls_error_text(what);
            free(what);
            return CYRERR_CONFIG;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            char *what = xasprintf("private key %s does not match "
                                   "certificate %s", key, tp->cert_file);
            *errstr = tls_error_text(what);
            free(what);
            return CYRERR_CONFIG;
        }
    }
    const char *caf = tp->ca_file && *tp->ca_file ? tp->ca_file : NULL;
    const char *cad = tp->ca_dir && *tp->ca_dir ? tp->ca_dir : NULL;
    if (caf || cad) {
        if (SSL_CTX_load_verify_locations(ctx, caf, cad) != 1) {
            char *what = xasprintf("cannot load CA certificates from %s%s%s",
                                   caf ? caf : "", caf && cad ? " and " : "",
                                   cad ? cad : "");
            *errstr = tls_error_text(what);
            free(what);
            return CYRERR_CONFIG;
        }
    }
    return 0;
}

/* OPTIONAL verification: record the result, never fail the handshake. */
static int verify_keep_going(int ok, X509_STORE_CTX *store)
{
    (void)store;
    (void)ok;
    return 1;
}

int tls_server_ctx(const struct tls_params *tp, SSL_CTX **ctx_r,
                   const char **errstr)
{
    if (!tp->cert_file || !*tp->cert_file) {
        *errstr = seterr("no server certificate configured (tls_server_cert)");
        return CYRERR_CONFIG;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *errstr = tls_error_text("cannot create TLS server context");
        return CYRERR_TLS;
    }
    int r = ctx_common(ctx, tp, errstr);
    if (r) {
        SSL_CTX_free(ctx);
        return r;
    }
    static const unsigned char sid_ctx[] = "cyrus-murder";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (tp->session_timeout > 0) {
        SSL_CTX_set_timeout(ctx, tp->session_timeout);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    switch (tp->verify) {
    case TLS_VERIFY_NONE:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        break;
    case TLS_VERIFY_OPTIONAL:
        /* Ask; a certificate that fails verification does not end the
         * handshake, but peer_verified stays 0. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
        break;
    case TLS_VERIFY_REQUIRE:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
                                SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    }
    if (tp->verify != TLS_VERIFY_NONE && tp->ca_file && *tp->ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tp->ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    *ctx_r = ctx;
    return 0;
}

int tls_client_ctx(const struct tls_params *tp, SSL_CTX **ctx_r,
                   const char **errstr)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *errstr = tls_error_text("cannot create TLS client context");
        return CYRERR_TLS;
    }
    int r = ctx_common(ctx, tp, errstr);
    if (r) {
        SSL_CTX_free(ctx);
        return r;
    }
    if (tp->verify != TLS_VERIFY_NONE &&
        !(tp->ca_file && *tp->ca_file) && !(tp->ca_dir && *tp->ca_dir) &&
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
        *errstr = tls_error_text("cannot load the default CA store");
        SSL_CTX_free(ctx);
        return CYRERR_CONFIG;
    }
    switch (tp->verify) {
    case TLS_VERIFY_NONE:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        break;
    case TLS_VERIFY_OPTIONAL:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
        break;
    case TLS_VERIFY_REQUIRE:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        break;
    }
    *ctx_r = ctx;
    return 0;
}

void tls_ctx_free(SSL_CTX **ctxp)
{
    if (!ctxp || !*ctxp) return;
    SSL_CTX_free(*ctxp);
    *ctxp = NULL;
}

/* ---- self-signed certificates ----------------------------------------- */

static int cn_is_safe(const char *cn)
{
    if (!cn || !*cn || strlen(cn) > 64) return 0;
    for (const char *s = cn; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr(".-_:*", *s)) return 0;
    }
    return 1;
}

static int cn_is_ip(const char *cn)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, cn, addr) == 1 || inet_pton(AF_INET6, cn, addr) == 1;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (!ext) return 0;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, int days)
{
    X509 *x = X509_new();
    if (!x) return NULL;
    unsigned char serial[8];
    if (RAND_bytes(serial, sizeof(serial)) != 1) goto fail;
    serial[0] &= 0x7f;               /* positive */
    serial[0] |= 0x01;               /* and not zero */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn) goto fail;
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    if (!sn) goto fail;
    if (!X509_set_version(x, X509_VERSION_3)) goto fail;
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -300)) goto fail;
    if (!X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL)) goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    if (!X509_set_issuer_name(x, name)) goto fail;
    if (!X509_set_pubkey(x, key)) goto fail;

    char *san;
    if (!strcasecmp(cn, "localhost"))
        san = xasprintf("DNS:%s,IP:127.0.0.1,IP:::1", cn);
    else if (cn_is_ip(cn))
        san = xasprintf("IP:%s", cn);
    else
        san = xasprintf("DNS:%s", cn);
    int ok = add_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
             add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(x, NID_subject_key_identifier, "hash") &&
             add_ext(x, NID_authority_key_identifier, "keyid:always") &&
             add_ext(x, NID_subject_alt_name, san);
    free(san);
    if (!ok) goto fail;
    if (!X509_sign(x, key, EVP_sha256())) goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

/* Write via a temporary file in the same directory, then rename. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert,
                     const char **errstr)
{
    char *tmp = xasprintf("%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        *errstr = seterr("cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return CYRERR_IO;
    }
    int r = 0;
    FILE *f = NULL;
    if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
        *errstr = seterr("cannot write %s: %s", tmp, strerror(errno));
        if (!f) close(fd);
        r = CYRERR_IO;
        goto out;
    }
    if ((key && !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) ||
        (cert && !PEM_write_X509(f, cert))) {
        *errstr = tls_error_text("cannot encode PEM");
        fclose(f);
        r = CYRERR_TLS;
        goto out;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        *errstr = seterr("cannot write %s: %s", tmp, strerror(errno));
        fclose(f);
        r = CYRERR_IO;
        goto out;
    }
    if (fclose(f) != 0) {
        *errstr = seterr("cannot write %s: %s", tmp, strerror(errno));
        r = CYRERR_IO;
        goto out;
    }
    if (rename(tmp, path) < 0) {
        *errstr = seterr("cannot rename %s to %s: %s", tmp, path,
                         strerror(errno));
        r = CYRERR_IO;
    }
out:
    if (r) unlink(tmp);
    free(tmp);
    return r;
}

int tls_make_selfsigned(const char *certfile, const char *keyfile,
                        const char *common_name, int days,
                        const char **errstr)
{
    if (!certfile || !keyfile || days <= 0 || !cn_is_safe(common_name)) {
        *errstr = seterr("bad arguments for a self-signed certificate "
                         "(need cert and key files, days > 0, and a common "
                         "name of letters, digits and .-_:*)");
        return CYRERR_BADARGS;
    }
    ERR_clear_error();
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key) {
        *errstr = tls_error_text("cannot generate an EC P-256 key");
        return CYRERR_TLS;
    }
    X509 *cert = make_cert(key, common_name, days);
    int r;
    if (!cert) {
        *errstr = tls_error_text("cannot build the certificate");
        r = CYRERR_TLS;
    } else if (!strcmp(certfile, keyfile)) {
        r = write_pem(certfile, 0600, key, cert, errstr);
    } else {
        r = write_pem(keyfile, 0600, key, NULL, errstr);
        if (!r) r = write_pem(certfile, 0644, NULL, cert, errstr);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return r;
}
