/* Tests for lib/tls.c and the TLS side of lib/prot.c: version parsing,
 * context errors, self-signed certificates, handshakes over socketpairs
 * (client in a thread), verification, STARTTLS with injected cleartext, and
 * DEFLATE inside TLS. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cunit/harness.h"
#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "prot.h"
#include "tls.h"
#include "xmalloc.h"

static char *cert_a, *key_a;     /* CN=localhost */
static char *cert_b;             /* CN=other.example, key inside */

static int suite_init(void)
{
    const char *dir = harness_tmpdir();
    const char *err = NULL;
    cert_a = xasprintf("%s/a-cert.pem", dir);
    key_a = xasprintf("%s/a-key.pem", dir);
    cert_b = xasprintf("%s/b.pem", dir);
    if (tls_make_selfsigned(cert_a, key_a, "localhost", 2, &err) ||
        tls_make_selfsigned(cert_b, cert_b, "other.example", 2, &err)) {
        fprintf(stderr, "cannot make test certificates: %s\n", err);
        return 1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    xfree(cert_a);
    xfree(key_a);
    xfree(cert_b);
    return 0;
}

static SSL_CTX *server_ctx(const struct tls_params *extra)
{
    struct tls_params tp = { .cert_file = cert_a, .key_file = key_a };
    if (extra) {
        tp.ca_file = extra->ca_file;
        tp.verify = extra->verify;
        tp.versions = extra->versions;
    }
    SSL_CTX *ctx = NULL;
    const char *err = NULL;
    int r = tls_server_ctx(&tp, &ctx, &err);
    if (r) fprintf(stderr, "server ctx: %s\n", err);
    CU_ASSERT_FATAL(r == 0 && ctx);
    return ctx;
}

static SSL_CTX *client_ctx(const struct tls_params *tp)
{
    SSL_CTX *ctx = NULL;
    const char *err = NULL;
    int r = tls_client_ctx(tp, &ctx, &err);
    if (r) fprintf(stderr, "client ctx: %s\n", err);
    CU_ASSERT_FATAL(r == 0 && ctx);
    return ctx;
}

static void make_pair(int sv[2])
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

static int fd_readable_now(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    return poll(&pfd, 1, 0) > 0;
}

/* ---- tls.c -------------------------------------------------------------- */

static void test_parse_versions(void)
{
    int min, max;
    unsigned long gaps;
    const char *err = NULL;
    CU_ASSERT_EQUAL(tls_parse_versions("tls1_2 tls1_3", &min, &max, &gaps, &err), 0);
    CU_ASSERT_EQUAL(min, TLS1_2_VERSION);
    CU_ASSERT_EQUAL(max, TLS1_3_VERSION);
    CU_ASSERT_EQUAL(gaps, 0);
    CU_ASSERT_EQUAL(tls_parse_versions(NULL, &min, &max, &gaps, &err), 0);
    CU_ASSERT_EQUAL(min, TLS1_2_VERSION);
    CU_ASSERT_EQUAL(tls_parse_versions("TLS1_3", &min, &max, &gaps, &err), 0);
    CU_ASSERT_EQUAL(min, TLS1_3_VERSION);
    CU_ASSERT_EQUAL(max, TLS1_3_VERSION);
    CU_ASSERT_EQUAL(tls_parse_versions("tls1,tls1_3", &min, &max, &gaps, &err), 0);
    CU_ASSERT_EQUAL(min, TLS1_VERSION);
    CU_ASSERT_EQUAL(max, TLS1_3_VERSION);
    CU_ASSERT_EQUAL(gaps, SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2);
    CU_ASSERT_EQUAL(tls_parse_versions("tls1_2 ssl3", &min, &max, &gaps, &err),
                    CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "\"ssl3\"") != NULL);
    CU_ASSERT_EQUAL(tls_parse_versions(" , ", &min, &max, &gaps, &err), CYRERR_CONFIG);
    CU_ASSERT_EQUAL(tls_parse_versions("tls1_2x", &min, &max, &gaps, &err), CYRERR_CONFIG);
}

static void test_selfsigned(void)
{
    struct stat st;
    CU_ASSERT_FATAL(stat(key_a, &st) == 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    FILE *f = fopen(cert_a, "r");
    CU_ASSERT_FATAL(f != NULL);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    CU_ASSERT_FATAL(x != NULL);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    CU_ASSERT_STRING_EQUAL(cn, "localhost");
    CU_ASSERT_EQUAL(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    CU_ASSERT_EQUAL(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    CU_ASSERT_EQUAL(X509_check_host(x, "example.com", 0, 0, NULL), 0);
    /* self-signed and valid now */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    CU_ASSERT_EQUAL(X509_verify(x, pub), 1);
    CU_ASSERT(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
    CU_ASSERT(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
    X509_free(x);
    /* the combined file holds a key and a certificate */
    f = fopen(cert_b, "r");
    CU_ASSERT_FATAL(f != NULL);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL(k);
    EVP_PKEY_free(k);
    fclose(f);

    const char *err = NULL;
    char *p = xasprintf("%s/bad.pem", harness_tmpdir());
    CU_ASSERT_EQUAL(tls_make_selfsigned(p, p, "bad name", 1, &err), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(tls_make_selfsigned(p, p, "x,DNS:evil", 1, &err), CYRERR_BADARGS);
    CU_ASSERT_EQUAL(tls_make_selfsigned(p, p, "ok", 0, &err), CYRERR_BADARGS);
    CU_ASSERT(access(p, F_OK) != 0);
    CU_ASSERT_EQUAL(tls_make_selfsigned("/nonexistent/dir/c.pem", "/nonexistent/dir/k.pem",
                                        "localhost", 1, &err), CYRERR_IO);
    CU_ASSERT(strstr(err, "/nonexistent/dir/") != NULL);
    free(p);
}

static void test_ctx_errors(void)
{
    SSL_CTX *ctx = NULL;
    const char *err = NULL;
    struct tls_params tp = { 0 };
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "tls_server_cert") != NULL);
    tp.cert_file = "/nonexistent/cert.pem";
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "/nonexistent/cert.pem") != NULL);
    /* key of another certificate */
    tp.cert_file = cert_a;
    tp.key_file = cert_b;
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    if (!strstr(err, "mismatch")) fprintf(stderr, "key error: %s\n", err);
    CU_ASSERT(strstr(err, "mismatch") != NULL);
    /* a certificate file is not a key */
    tp.key_file = NULL;
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    tp.key_file = key_a;
    tp.ciphers = "NO-SUCH-CIPHER";
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    tp.ciphers = NULL;
    tp.versions = "tls9";
    CU_ASSERT_EQUAL(tls_client_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    tp.versions = NULL;
    tp.ca_file = "/nonexistent/ca.pem";
    CU_ASSERT_EQUAL(tls_client_ctx(&tp, &ctx, &err), CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "/nonexistent/ca.pem") != NULL);
    CU_ASSERT_PTR_NULL(ctx);
    /* and a good one */
    tp.ca_file = cert_a;
    CU_ASSERT_EQUAL(tls_server_ctx(&tp, &ctx, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(ctx);
    tls_ctx_free(&ctx);
    CU_ASSERT_PTR_NULL(ctx);
    tls_ctx_free(&ctx);
}

static int read_conf(const char *text)
{
    char *path = xasprintf("%s/imapd.conf", harness_tmpdir());
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
    struct strarray errors = STRARRAY_INITIALIZER, warnings = STRARRAY_INITIALIZER;
    int r = config_read(path, NULL, &errors, &warnings);
    for (int i = 0; i < errors.count; i++) fprintf(stderr, "conf: %s\n", errors.data[i]);
    strarray_free(&errors);
    strarray_free(&warnings);
    free(path);
    return r;
}

static void test_ctx_from_config(void)
{
    SSL_CTX *ctx = NULL;
    const char *err = NULL;
    char *conf = xasprintf("tls_server_cert: %s\ntls_server_key: %s\n"
                           "tls_versions: tls1_3\ntls_client_certs: optional\n",
                           cert_a, key_a);
    CU_ASSERT_EQUAL_FATAL(read_conf(conf), 0);
    free(conf);
    CU_ASSERT_EQUAL(tls_server_ctx_from_config(&ctx, &err), 0);
    CU_ASSERT_FATAL(ctx != NULL);
    CU_ASSERT_EQUAL(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    /* optional without a client CA: do not ask */
    CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
    /* the default tls_session_timeout (24h) allows resumption */
    CU_ASSERT_EQUAL(SSL_CTX_get_timeout(ctx), 24 * 3600);
    tls_ctx_free(&ctx);
    /* a client without tls_server_ca_file does not verify */
    CU_ASSERT_EQUAL(tls_client_ctx_from_config(&ctx, &err), 0);
    CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
    tls_ctx_free(&ctx);

    conf = xasprintf("tls_server_cert: %s\ntls_server_key: %s\n"
                     "tls_client_ca_file: %s\ntls_client_certs: require\n"
                     "tls_server_ca_file: %s\ntls_session_timeout: 0\n",
                     cert_a, key_a, cert_b, cert_a);
    CU_ASSERT_EQUAL_FATAL(read_conf(conf), 0);
    free(conf);
    CU_ASSERT_EQUAL(tls_server_ctx_from_config(&ctx, &err), 0);
    CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(ctx),
                    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    CU_ASSERT_EQUAL(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    tls_ctx_free(&ctx);
    CU_ASSERT_EQUAL(tls_client_ctx_from_config(&ctx, &err), 0);
    CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    tls_ctx_free(&ctx);

    /* require without a CA, and no certificate at all: errors */
    CU_ASSERT_EQUAL_FATAL(read_conf("tls_server_cert: /x.pem\n"
                                    "tls_client_certs: require\n"), 0);
    CU_ASSERT_EQUAL(tls_server_ctx_from_config(&ctx, &err), CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "tls_client_ca_file") != NULL);
    CU_ASSERT_EQUAL_FATAL(read_conf("tls_versions: tls1_2\n"), 0);
    CU_ASSERT_EQUAL(tls_server_ctx_from_config(&ctx, &err), CYRERR_CONFIG);
    CU_ASSERT(strstr(err, "tls_server_cert") != NULL);
    CU_ASSERT_PTR_NULL(ctx);
    config_reset();
}

/* ---- handshakes ----------------------------------------------------------- */

/* The client side runs in a thread. */
struct client {
    pthread_t tid;
    int fd;
    SSL_CTX *ctx;
    const char *servername;
    size_t maxread;
    int deflate;                  /* start compression after the handshake */
    const char *bulk;             /* send these bytes, then expect them back */
    size_t bulk_len;
    int sync_fd;                  /* tls_pending: say "sent", wait for "done" */
    int idle;                     /* with sync_fd: just wait for "done" */
    /* results */
    int r;
    char errstr[256];
    struct buf reply;
    char subject[128];
    int verified;
    uint64_t wire_out, bytes_out;
    int bulk_ok;
};

static int read_expect(struct prot *p, const char *data, size_t n)
{
    char *b = xmalloc(5000);
    size_t have = 0;
    int ok = 1;
    while (have < n) {
        size_t want = n - have < 5000 ? n - have : 5000;
        ssize_t r = prot_read(p, b, want);
        if (r <= 0 || memcmp(b, data + have, (size_t)r)) {
            ok = 0;
            break;
        }
        have += (size_t)r;
    }
    free(b);
    return ok;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct prot *p = prot_new(c->fd);
    prot_set_timeout(p, 20);
    prot_set_maxread(p, c->maxread);
    const char *err = NULL;
    c->r = prot_starttls_ex(p, c->ctx, 0, c->servername, &err);
    if (c->r) {
        snprintf(c->errstr, sizeof(c->errstr), "%s", err);
        prot_free(&p);
        return NULL;
    }
    struct prot_tls_info info;
    prot_tls_info(p, &info);
    snprintf(c->subject, sizeof(c->subject), "%s",
             info.peer_subject ? info.peer_subject : "");
    c->verified = info.peer_verified;
    if (c->deflate && prot_start_deflate(p)) c->r = CYRERR_INTERNAL;
    if (c->bulk) {
        int ok = prot_write(p, c->bulk, c->bulk_len) == 0 && prot_flush(p) == 0;
        c->bulk_ok = ok && read_expect(p, c->bulk, c->bulk_len);
    } else if (c->sync_fd > 0 && c->idle) {
        char d;
        if (read(c->sync_fd, &d, 1) != 1) c->r = CYRERR_IO;
    } else if (c->sync_fd > 0) {
        /* when the server is ready: two records, then wait until the
         * server has looked */
        char g;
        if (read(c->sync_fd, &g, 1) != 1) c->r = CYRERR_IO;
        (void)prot_puts(p, "first\r\n");
        (void)prot_flush(p);
        (void)prot_puts(p, "second\r\n");
        (void)prot_flush(p);
        char x = 's';
        if (write(c->sync_fd, &x, 1) != 1) c->r = CYRERR_IO;
        if (read(c->sync_fd, &x, 1) != 1) c->r = CYRERR_IO;
    } else {
        (void)prot_puts(p, "a1 hello over TLS\r\n");
        (void)prot_flush(p);
        c->r = prot_readline(p, &c->reply, 1000);
    }
    c->wire_out = prot_wire_bytes_out(p);
    c->bytes_out = prot_bytes_out(p);
    prot_free(&p);
    return NULL;
}

static void client_start(struct client *c, int fd, SSL_CTX *ctx)
{
    c->fd = fd;
    c->ctx = ctx;
    buf_init(&c->reply);
    CU_ASSERT_FATAL(pthread_create(&c->tid, NULL, client_main, c) == 0);
}

static void client_join(struct client *c)
{
    pthread_join(c->tid, NULL);
}

static void roundtrip(size_t maxread)
{
    int sv[2];
    make_pair(sv);
    SSL_CTX *sctx = server_ctx(NULL);
    struct tls_params ctp = { .ca_file = cert_a, .verify = TLS_VERIFY_REQUIRE };
    SSL_CTX *cctx = client_ctx(&ctp);
    struct client c = { .servername = "localhost", .maxread = maxread };
    client_start(&c, sv[1], cctx);

    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    prot_set_maxread(p, maxread);
    const char *err = NULL;
    CU_ASSERT_FALSE(prot_is_tls(p));
    struct prot_tls_info info;
    CU_ASSERT_EQUAL(prot_tls_info(p, &info), CYRERR_NOTFOUND);
    int r = prot_starttls(p, sctx, 1, &err);
    if (r) fprintf(stderr, "server handshake: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(r, 0);
    CU_ASSERT(prot_is_tls(p));
    CU_ASSERT_EQUAL(prot_tls_info(p, &info), 0);
    CU_ASSERT_STRING_EQUAL(info.version, "TLSv1.3");
    CU_ASSERT(info.cipher && strlen(info.cipher) > 0);
    CU_ASSERT(info.cipher_bits >= 128);
    CU_ASSERT_PTR_NULL(info.peer_subject);
    CU_ASSERT_PTR_NULL(info.peer_cn);

    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "a1 hello over TLS\r\n");
    CU_ASSERT_EQUAL(prot_printf(p, "a1 OK %s\r\n", "fine"), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&c.reply), "a1 OK fine\r\n");
    CU_ASSERT_STRING_EQUAL(c.subject, "CN=localhost");
    CU_ASSERT_EQUAL(c.verified, 1);
    /* the client said goodbye with a close_notify: clean EOF */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 1000), CYRERR_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_EOF);
    CU_ASSERT_EQUAL(prot_bytes_in(p), 19);
    CU_ASSERT_EQUAL(prot_bytes_out(p), 12);
    CU_ASSERT(prot_wire_bytes_in(p) > 19);
    CU_ASSERT(prot_wire_bytes_out(p) > 500);      /* certificate and all */
    /* TLS twice is refused */
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), CYRERR_BADARGS);

    buf_free(&line);
    buf_free(&c.reply);
    prot_free(&p);
    tls_ctx_free(&sctx);
    tls_ctx_free(&cctx);
    close(sv[0]);
    close(sv[1]);
}

static void test_tls_roundtrip(void) { roundtrip(0); }
static void test_tls_bytewise(void) { roundtrip(1); }

/* Run a handshake expected to fail on at least the client side. */
static void expect_failure(SSL_CTX *sctx, SSL_CTX *cctx, const char *servername,
                           const char *client_err_part)
{
    int sv[2];
    make_pair(sv);
    struct client c = { .servername = servername };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err = NULL;
    int r = prot_starttls(p, sctx, 1, &err);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, CYRERR_TLS);
    if (client_err_part && !strstr(c.errstr, client_err_part))
        fprintf(stderr, "client error: %s\n", c.errstr);
    CU_ASSERT(client_err_part == NULL || strstr(c.errstr, client_err_part) != NULL);
    /* the server failed too, or saw its peer hang up; either way the stream
     * is dead now */
    if (r == 0) {
        struct buf line = BUF_INITIALIZER;
        CU_ASSERT(prot_readline(p, &line, 100) != 0);
        buf_free(&line);
    } else {
        CU_ASSERT(r == CYRERR_TLS || r == CYRERR_EOF);
        CU_ASSERT(err && *err);
        CU_ASSERT_FALSE(prot_is_tls(p));
        CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
        CU_ASSERT(prot_printf(p, "x") != 0);
    }
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
}

static void test_tls_verify_failures(void)
{
    SSL_CTX *sctx = server_ctx(NULL);
    /* a CA that did not sign the server's certificate */
    struct tls_params ctp = { .ca_file = cert_b, .verify = TLS_VERIFY_REQUIRE };
    SSL_CTX *cctx = client_ctx(&ctp);
    expect_failure(sctx, cctx, "localhost", "certificate verify failed");
    tls_ctx_free(&cctx);
    /* the right CA, the wrong name */
    ctp.ca_file = cert_a;
    cctx = client_ctx(&ctp);
    expect_failure(sctx, cctx, "wrong.example", "hostname mismatch");
    /* an IP address the certificate names is accepted; one it does not is not */
    expect_failure(sctx, cctx, "10.1.2.3", "IP address mismatch");
    tls_ctx_free(&cctx);
    /* OPTIONAL: a client that goes on, knowing the result */
    ctp.ca_file = cert_b;
    ctp.verify = TLS_VERIFY_OPTIONAL;
    cctx = client_ctx(&ctp);
    int sv[2];
    make_pair(sv);
    struct client c = { .servername = "localhost" };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), 0);
    CU_ASSERT_EQUAL(prot_puts(p, "ok\r\n"), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    CU_ASSERT_STRING_EQUAL(c.subject, "CN=localhost");
    CU_ASSERT_EQUAL(c.verified, 0);
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&cctx);
    tls_ctx_free(&sctx);
}

static void test_tls_client_cert(void)
{
    struct tls_params stp = { .ca_file = cert_b, .verify = TLS_VERIFY_REQUIRE };
    SSL_CTX *sctx = server_ctx(&stp);
    /* a client with the certificate the server trusts */
    struct tls_params ctp = { .cert_file = cert_b };
    SSL_CTX *cctx = client_ctx(&ctp);
    int sv[2];
    make_pair(sv);
    struct client c = { 0 };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    int r = prot_starttls(p, sctx, 1, &err);
    if (r) fprintf(stderr, "client cert handshake: %s\n", err);
    CU_ASSERT_EQUAL(r, 0);
    struct prot_tls_info info;
    CU_ASSERT_EQUAL(prot_tls_info(p, &info), 0);
    CU_ASSERT_STRING_EQUAL(info.peer_subject ? info.peer_subject : "", "CN=other.example");
    CU_ASSERT_STRING_EQUAL(info.peer_cn ? info.peer_cn : "", "other.example");
    CU_ASSERT_EQUAL(info.peer_verified, 1);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_EQUAL(prot_puts(p, "ok\r\n"), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    buf_free(&line);
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&cctx);

    /* a client without one is refused by the server (in TLS 1.3 the client
     * learns it at its first read) */
    ctp.cert_file = NULL;
    cctx = client_ctx(&ctp);
    make_pair(sv);
    struct client c2 = { 0 };
    client_start(&c2, sv[1], cctx);
    p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    r = prot_starttls(p, sctx, 1, &err);
    CU_ASSERT_EQUAL(r, CYRERR_TLS);
    CU_ASSERT(strstr(err, "certificate") != NULL);
    client_join(&c2);
    CU_ASSERT(c2.r != 0);
    buf_free(&c2.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&cctx);
    tls_ctx_free(&sctx);
}

static void test_tls_version_mismatch(void)
{
    struct tls_params stp = { .versions = "tls1_2" };
    SSL_CTX *sctx = server_ctx(&stp);
    struct tls_params ctp = { .versions = "tls1_3" };
    SSL_CTX *cctx = client_ctx(&ctp);
    expect_failure(sctx, cctx, NULL, NULL);
    tls_ctx_free(&cctx);
    /* TLS 1.2 when both allow it */
    ctp.versions = "tls1_2";
    cctx = client_ctx(&ctp);
    int sv[2];
    make_pair(sv);
    struct client c = { 0 };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), 0);
    struct prot_tls_info info;
    CU_ASSERT_EQUAL(prot_tls_info(p, &info), 0);
    CU_ASSERT_STRING_EQUAL(info.version, "TLSv1.2");
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_EQUAL(prot_puts(p, "ok\r\n"), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    buf_free(&line);
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&cctx);
    tls_ctx_free(&sctx);
}

static void test_tls_timeout(void)
{
    int sv[2];
    make_pair(sv);
    SSL_CTX *sctx = server_ctx(NULL);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 1);
    const char *err;
    time_t t0 = time(NULL);
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), CYRERR_TIMEOUT);
    CU_ASSERT(time(NULL) - t0 <= 3);
    CU_ASSERT_FALSE(prot_is_tls(p));
    /* the stream is dead: no cleartext after a failed handshake */
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT(prot_puts(p, "x") != 0);
    prot_free(&p);
    /* a peer that hangs up mid-handshake */
    close(sv[1]);
    p = prot_new(sv[0]);
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), CYRERR_EOF);
    CU_ASSERT(strstr(err, "handshake") != NULL);
    prot_free(&p);
    close(sv[0]);
    tls_ctx_free(&sctx);
}

/* STARTTLS after cleartext, with a command injected behind it. */
struct st_client {
    pthread_t tid;
    int fd;
    SSL_CTX *ctx;
    int r;
};

static void *st_client_main(void *arg)
{
    struct st_client *c = arg;
    struct prot *p = prot_new(c->fd);
    prot_set_timeout(p, 20);
    struct buf line = BUF_INITIALIZER;
    const char *err;
    /* one packet: the STARTTLS command and a command meant to run later */
    c->r = CYRERR_INTERNAL;
    if (prot_puts(p, "a STARTTLS\r\nb INJECTED\r\n") || prot_flush(p)) goto out;
    if (prot_readline(p, &line, 100) || !buf_equalcstr(&line, "a OK Begin TLS\r\n"))
        goto out;
    if (prot_starttls_ex(p, c->ctx, 0, "localhost", &err)) goto out;
    if (prot_puts(p, "c NOOP\r\n") || prot_flush(p)) goto out;
    if (prot_readline(p, &line, 100) || !buf_equalcstr(&line, "c OK\r\n")) goto out;
    c->r = 0;
out:
    buf_free(&line);
    prot_free(&p);
    return NULL;
}

static void test_starttls_drops_cleartext(void)
{
    int sv[2];
    make_pair(sv);
    SSL_CTX *sctx = server_ctx(NULL);
    struct tls_params ctp = { .ca_file = cert_a, .verify = TLS_VERIFY_REQUIRE };
    SSL_CTX *cctx = client_ctx(&ctp);
    struct st_client c = { .fd = sv[1], .ctx = cctx };
    CU_ASSERT_FATAL(pthread_create(&c.tid, NULL, st_client_main, &c) == 0);

    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "a STARTTLS\r\n");
    /* the injected command was read along with it */
    CU_ASSERT(prot_input_pending(p) > 0);
    CU_ASSERT_EQUAL(prot_puts(p, "a OK Begin TLS\r\n"), 0);
    const char *err;
    int r = prot_starttls(p, sctx, 1, &err);
    if (r) fprintf(stderr, "starttls: %s\n", err);
    CU_ASSERT_EQUAL(r, 0);
    /* the first command under TLS is the client's, not the injected one */
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "c NOOP\r\n");
    CU_ASSERT_EQUAL(prot_puts(p, "c OK\r\n"), 0);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    pthread_join(c.tid, NULL);
    CU_ASSERT_EQUAL(c.r, 0);
    buf_free(&line);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&sctx);
    tls_ctx_free(&cctx);
}

/* Records that arrived together: the second waits inside TLS while the
 * kernel has nothing; prot_input_pending must say so. */
static void test_tls_pending(void)
{
    int sv[2], sync[2];
    make_pair(sv);
    make_pair(sync);
    SSL_CTX *sctx = server_ctx(NULL);
    struct tls_params ctp = { 0 };
    SSL_CTX *cctx = client_ctx(&ctp);
    struct client c = { .sync_fd = sync[1] };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    CU_ASSERT_EQUAL_FATAL(prot_starttls(p, sctx, 1, &err), 0);
    /* only now may the client write, so that no record of it is read
     * together with the end of the handshake */
    CU_ASSERT_EQUAL(write(sync[0], "g", 1), 1);
    char x;
    CU_ASSERT_EQUAL(read(sync[0], &x, 1), 1);     /* both records sent */
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "first\r\n");
    CU_ASSERT(!fd_readable_now(sv[0]));
    CU_ASSERT(prot_input_pending(p) > 0);
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), 0);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&line), "second\r\n");
    CU_ASSERT_EQUAL(prot_input_pending(p), 0);
    CU_ASSERT_EQUAL(write(sync[0], "d", 1), 1);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    buf_free(&line);
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    close(sync[0]);
    close(sync[1]);
    tls_ctx_free(&sctx);
    tls_ctx_free(&cctx);
}

/* A forged record on the wire: a TLS error, and the stream is dead. */
static void test_tls_bad_record(void)
{
    int sv[2], sync[2];
    make_pair(sv);
    make_pair(sync);
    SSL_CTX *sctx = server_ctx(NULL);
    struct tls_params ctp = { 0 };
    SSL_CTX *cctx = client_ctx(&ctp);
    struct client c = { .sync_fd = sync[1], .idle = 1 };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    CU_ASSERT_EQUAL_FATAL(prot_starttls(p, sctx, 1, &err), 0);
    /* an application-data record whose authentication tag is wrong */
    static const unsigned char forged[] = {
        0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
        30, 31, 32 };
    CU_ASSERT_EQUAL(write(sv[1], forged, sizeof(forged)), (ssize_t)sizeof(forged));
    struct buf line = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(prot_readline(p, &line, 100), CYRERR_TLS);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_TLS);
    CU_ASSERT(strlen(prot_errstr(p)) > 0);
    CU_ASSERT_EQUAL(prot_getc(p), PROT_EOF);
    CU_ASSERT_EQUAL(prot_error(p), CYRERR_TLS);
    prot_free(&p);      /* no close_notify after a fatal error */
    CU_ASSERT_EQUAL(write(sync[0], "d", 1), 1);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    buf_free(&line);
    buf_free(&c.reply);
    close(sv[0]);
    close(sv[1]);
    close(sync[0]);
    close(sync[1]);
    tls_ctx_free(&sctx);
    tls_ctx_free(&cctx);
}

/* Deterministic, compressible data. */
static char *make_data(size_t n)
{
    static const char *words[] = { "From: ", "alice@example.org", "\r\n",
                                   "Subject: ", "hello ", "world ", "=3D", "42" };
    char *d = xmalloc(n);
    unsigned x = 7;
    for (size_t i = 0; i < n;) {
        x = x * 1103515245u + 12345u;
        if ((x >> 16) % 7 == 0) {
            d[i++] = (char)(x >> 9);
            continue;
        }
        for (const char *w = words[(x >> 20) % 8]; *w && i < n; w++) d[i++] = *w;
    }
    return d;
}

/* TLS first, then COMPRESS: several MB each way. */
static void test_tls_deflate_bulk(void)
{
    int sv[2];
    make_pair(sv);
    SSL_CTX *sctx = server_ctx(NULL);
    struct tls_params ctp = { .ca_file = cert_a, .verify = TLS_VERIFY_REQUIRE };
    SSL_CTX *cctx = client_ctx(&ctp);
    const size_t n = 4 << 20;
    char *data = make_data(n);
    struct client c = { .servername = "localhost", .deflate = 1,
                        .bulk = data, .bulk_len = n };
    client_start(&c, sv[1], cctx);
    struct prot *p = prot_new(sv[0]);
    prot_set_timeout(p, 20);
    const char *err;
    CU_ASSERT_EQUAL_FATAL(prot_starttls(p, sctx, 1, &err), 0);
    CU_ASSERT_EQUAL(prot_start_deflate(p), 0);
    /* compression cannot be followed by TLS */
    CU_ASSERT_EQUAL(prot_starttls(p, sctx, 1, &err), CYRERR_BADARGS);
    CU_ASSERT(read_expect(p, data, n));
    /* send back in pieces of varying size with flushes */
    int ok = 1;
    for (size_t off = 0; ok && off < n;) {
        size_t len = (off % 77777) + 1;
        if (len > n - off) len = n - off;
        ok = prot_write(p, data + off, len) == 0;
        if (ok && off % 3 == 0) ok = prot_flush(p) == 0;
        off += len;
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(prot_flush(p), 0);
    client_join(&c);
    CU_ASSERT_EQUAL(c.r, 0);
    CU_ASSERT(c.bulk_ok);
    CU_ASSERT_EQUAL(c.bytes_out, n);
    /* compressed before encryption (ciphertext does not compress) */
    CU_ASSERT(c.wire_out < n / 2);
    CU_ASSERT(prot_wire_bytes_out(p) < n / 2);
    CU_ASSERT_EQUAL(prot_bytes_in(p), n);
    CU_ASSERT_EQUAL(prot_bytes_out(p), n);
    free(data);
    buf_free(&c.reply);
    prot_free(&p);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(&sctx);
    tls_ctx_free(&cctx);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("tls", suite_init, suite_cleanup);
    ADD_TEST(s, test_parse_versions);
    ADD_TEST(s, test_selfsigned);
    ADD_TEST(s, test_ctx_errors);
    ADD_TEST(s, test_ctx_from_config);
    ADD_TEST(s, test_tls_roundtrip);
    ADD_TEST(s, test_tls_bytewise);
    ADD_TEST(s, test_tls_verify_failures);
    ADD_TEST(s, test_tls_client_cert);
    ADD_TEST(s, test_tls_version_mismatch);
    ADD_TEST(s, test_tls_timeout);
    ADD_TEST(s, test_starttls_drops_cleartext);
    ADD_TEST(s, test_tls_pending);
    ADD_TEST(s, test_tls_bad_record);
    ADD_TEST(s, test_tls_deflate_bulk);
}
