/* Tests for lib/saslglue: real libsasl2 exchanges against a sasldb in a
 * temporary directory, client and server in the same process. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit/harness.h"
#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "saslglue.h"
#include "strarray.h"
#include "xmalloc.h"

#define FQDN "test.example.org"
#define SASLPASSWD2 "/usr/sbin/saslpasswd2"

/* ---- options: a real imapd.conf in the temporary directory -------------- */

static struct strarray conf_keys = STRARRAY_INITIALIZER;
static struct strarray conf_vals = STRARRAY_INITIALIZER;
static char *conf_path;

/* Write imapd.conf from the table and read it as service "imapd". */
static void conf_apply(void)
{
    FILE *f = fopen(conf_path, "w");
    if (!f) abort();
    for (int i = 0; i < conf_keys.count; i++)
        if (conf_vals.data[i])
            fprintf(f, "%s: %s\n", conf_keys.data[i], conf_vals.data[i]);
    if (fclose(f)) abort();
    struct strarray errors = STRARRAY_INITIALIZER;
    int r = config_read(conf_path, "imapd", &errors, NULL);
    for (int i = 0; i < errors.count; i++)
        fprintf(stderr, "config error: %s\n", errors.data[i]);
    strarray_free(&errors);
    if (r) abort();   /* the test wrote a bad file: fix the test */
}

/* Set (value != NULL) or remove an imapd.conf line and re-read the file. */
static void conf_set(const char *key, const char *value)
{
    int i = strarray_find(&conf_keys, key, 0);
    if (i < 0) {
        strarray_append(&conf_keys, key);
        i = strarray_append(&conf_vals, "");
    }
    free(conf_vals.data[i]);
    conf_vals.data[i] = xstrdupnull(value);
    conf_apply();
}

static char *dbpath;
static int have_saslpasswd2;

/* Create `user` in the sasldb with saslpasswd2 (realm FQDN), as an
 * administrator would. */
static int saslpasswd2(const char *user, const char *pass)
{
    int pfd[2];
    if (pipe(pfd)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pfd[0], 0);
        close(pfd[0]);
        close(pfd[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); }
        execl(SASLPASSWD2, "saslpasswd2", "-f", dbpath, "-u", FQDN, "-c",
              "-p", user, (char *)NULL);
        _exit(127);
    }
    close(pfd[0]);
    ssize_t n = write(pfd[1], pass, strlen(pass));
    close(pfd[1]);
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (n != (ssize_t)strlen(pass)) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const struct saslglue_server_params server_plain = {
    .service = "imap", .serverfqdn = FQDN,
    .localip = "127.0.0.1;143", .remoteip = "127.0.0.1;40000",
    .allowplaintext = 1,
};

static const struct saslglue_server_params server_noplain = {
    .service = "imap", .serverfqdn = FQDN,
    .localip = "127.0.0.1;143", .remoteip = "127.0.0.1;40001",
};

static struct saslglue_server *new_server(const struct saslglue_server_params *p)
{
    struct saslglue_server *s = NULL;
    int r = saslglue_server_new(p, &s);
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_PTR_NOT_NULL(s);
    return s;
}

static int suite_init(void)
{
    log_init("test_saslglue", 0);
    const char *tmp = harness_tmpdir();
    dbpath = xasprintf("%s/sasldb2", tmp);
    conf_path = xasprintf("%s/imapd.conf", tmp);
    conf_set("configdirectory", tmp);
    conf_set("servername", FQDN);
    conf_set("sasl_pwcheck_method", "auxprop");
    conf_set("sasl_auxprop_plugin", "sasldb");
    conf_set("sasl_sasldb_path", dbpath);
    conf_set("sasl_mech_list",
             "PLAIN LOGIN DIGEST-MD5 CRAM-MD5 ANONYMOUS EXTERNAL");
    conf_set("admins", "admin cyrus");
    conf_set("proxyservers", "proxy1,proxy2");
    if (saslglue_server_init() || saslglue_client_init()) return 1;

    struct saslglue_server *s = NULL;
    if (saslglue_server_new(&server_plain, &s)) return 1;
    int r = saslglue_server_setpass(s, "alice", "alicepw")
         || saslglue_server_setpass(s, "bob", "bobpw")
         || saslglue_server_setpass(s, "admin", "adminpw")
         || saslglue_server_setpass(s, "proxy2", "proxypw");
    saslglue_server_free(&s);
    if (r) return 1;
    have_saslpasswd2 = access(SASLPASSWD2, X_OK) == 0;
    if (have_saslpasswd2 && saslpasswd2("carol", "carolpw") != 0) return 1;
    return 0;
}

static int suite_cleanup(void)
{
    saslglue_done();
    config_reset();
    strarray_free(&conf_keys);
    strarray_free(&conf_vals);
    xfree(conf_path);
    xfree(dbpath);
    return 0;
}

/* Is `word` one of the space-separated words of `list`? */
static int has_word(const char *list, const char *word)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    strarray_split(&sa, list, " ", 1);
    int found = strarray_find(&sa, word, 0) >= 0;
    strarray_free(&sa);
    return found;
}

/* ---- base64 -------------------------------------------------------------- */

static void test_base64_vectors(void)
{
    static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba",
                                      "foobar" };
    static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
                                       "Zm9vYmE=", "Zm9vYmFy" };
    struct buf b = BUF_INITIALIZER;
    for (int i = 0; i < 7; i++) {
        buf_reset(&b);
        saslglue_encode64(&b, in[i], strlen(in[i]));
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), out[i]);
        CU_ASSERT_EQUAL(saslglue_decode64(&b, out[i], strlen(out[i])), 0);
        CU_ASSERT_STRING_EQUAL(buf_cstring(&b), in[i]);
    }
    /* binary with NULs and high bytes round-trips */
    unsigned char bin[256];
    for (int i = 0; i < 256; i++) bin[i] = (unsigned char)(255 - i);
    struct buf enc = BUF_INITIALIZER;
    saslglue_encode64(&enc, bin, sizeof bin);
    CU_ASSERT_EQUAL(buf_len(&enc), 344);
    CU_ASSERT_EQUAL(saslglue_decode64(&b, buf_base(&enc), buf_len(&enc)), 0);
    CU_ASSERT_EQUAL(buf_len(&b), 256);
    CU_ASSERT_EQUAL(memcmp(buf_base(&b), bin, 256), 0);
    /* encode appends */
    buf_setcstr(&enc, "+ ");
    saslglue_encode64(&enc, "hi", 2);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&enc), "+ aGk=");
    buf_free(&b);
    buf_free(&enc);
}

static void test_base64_bad(void)
{
    static const char *const bad[] = {
        "Zg=",        /* length not a multiple of 4 */
        "Zm9",
        "Zg=a",       /* data after padding */
        "Z===",       /* too much padding */
        "====",
        "Zg==Zm9v",   /* padding in the middle */
        "Zh==",       /* non-canonical: dropped bits set */
        "Zm9=",
        "Zm9v!A==",   /* bad character */
        "Zm 9",       /* whitespace */
        "Zm9v\r\n",
        "Zm-_",       /* base64url alphabet */
    };
    struct buf b = BUF_INITIALIZER;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_setcstr(&b, "junk");
        CU_ASSERT_EQUAL(saslglue_decode64(&b, bad[i], strlen(bad[i])),
                        CYRERR_PARSE);
    }
    /* a NUL inside the counted text is not base64 either */
    CU_ASSERT_EQUAL(saslglue_decode64(&b, "Zm\0v", 4), CYRERR_PARSE);
    buf_free(&b);
}

/* ---- options --------------------------------------------------------------- */

static void test_getopt_override(void)
{
    conf_set("sasl_test_x", "base");
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("test_x"), "base");
    conf_set("imapd_sasl_test_x", "override");
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("test_x"), "override");
    /* another service's override does not apply */
    conf_set("pop3d_sasl_test_y", "other");
    CU_ASSERT_PTR_NULL(saslglue_getopt("test_y"));
    CU_ASSERT_PTR_NULL(saslglue_getopt(""));
    CU_ASSERT_PTR_NULL(saslglue_getopt(NULL));
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("pwcheck_method"), "auxprop");
    conf_set("imapd_sasl_test_x", NULL);
    conf_set("sasl_test_x", NULL);
}

/* ---- mechanism lists --------------------------------------------------------- */

static void test_mechlist_plaintext(void)
{
    struct saslglue_server *s = new_server(&server_noplain);
    const char *l = saslglue_server_mechlist(s, NULL, NULL);
    CU_ASSERT_FALSE(has_word(l, "PLAIN"));
    CU_ASSERT_FALSE(has_word(l, "LOGIN"));
    CU_ASSERT_TRUE(has_word(l, "DIGEST-MD5"));
    CU_ASSERT_TRUE(has_word(l, "CRAM-MD5"));
    CU_ASSERT_FALSE(has_word(l, "ANONYMOUS"));
    CU_ASSERT_FALSE(has_word(l, "EXTERNAL"));
    CU_ASSERT_FALSE(saslglue_server_plaintext_ok(s));

    /* after STARTTLS: plaintext is fine, still no ANONYMOUS */
    CU_ASSERT_EQUAL(saslglue_server_set_tls(s, 256, NULL), 0);
    CU_ASSERT_TRUE(saslglue_server_plaintext_ok(s));
    l = saslglue_server_mechlist(s, NULL, NULL);
    CU_ASSERT_TRUE(has_word(l, "PLAIN"));
    CU_ASSERT_TRUE(has_word(l, "LOGIN"));
    CU_ASSERT_TRUE(has_word(l, "DIGEST-MD5"));
    CU_ASSERT_FALSE(has_word(l, "ANONYMOUS"));
    CU_ASSERT_FALSE(has_word(l, "EXTERNAL"));
    /* a client certificate adds EXTERNAL */
    CU_ASSERT_EQUAL(saslglue_server_set_tls(s, 256, "alice"), 0);
    l = saslglue_server_mechlist(s, NULL, NULL);
    CU_ASSERT_TRUE(has_word(l, "EXTERNAL"));
    saslglue_server_free(&s);
    CU_ASSERT_PTR_NULL(s);

    /* allowplaintext without TLS */
    s = new_server(&server_plain);
    l = saslglue_server_mechlist(s, NULL, NULL);
    CU_ASSERT_TRUE(has_word(l, "PLAIN"));
    CU_ASSERT_TRUE(has_word(l, "LOGIN"));
    CU_ASSERT_FALSE(has_word(l, "ANONYMOUS"));
    /* IMAP CAPABILITY form */
    l = saslglue_server_mechlist(s, "AUTH=", " AUTH=");
    CU_ASSERT_TRUE(has_word(l, "AUTH=PLAIN"));
    CU_ASSERT_TRUE(has_word(l, "AUTH=DIGEST-MD5"));
    CU_ASSERT_FALSE(has_word(l, "PLAIN"));
    CU_ASSERT_EQUAL(strncmp(l, "AUTH=", 5), 0);
    saslglue_server_free(&s);

    /* TLS given at creation */
    struct saslglue_server_params p = server_noplain;
    p.tls_ssf = 128;
    s = new_server(&p);
    CU_ASSERT_TRUE(has_word(saslglue_server_mechlist(s, NULL, NULL), "PLAIN"));
    saslglue_server_free(&s);
    saslglue_server_free(&s);   /* NULL is fine */
}

static void test_mechlist_minimum_layer(void)
{
    conf_set("sasl_minimum_layer", "128");
    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_STRING_EQUAL(saslglue_server_mechlist(s, NULL, NULL), "");
    const void *out;
    size_t outlen;
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "\0alice\0alicepw", 14,
                                          &out, &outlen),
                    CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(saslglue_server_set_tls(s, 256, NULL), 0);
    CU_ASSERT_TRUE(has_word(saslglue_server_mechlist(s, NULL, NULL), "PLAIN"));
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "\0alice\0alicepw", 14,
                                          &out, &outlen), 0);
    saslglue_server_free(&s);
    /* a service override of it */
    conf_set("imapd_sasl_minimum_layer", "0");
    s = new_server(&server_plain);
    CU_ASSERT_TRUE(has_word(saslglue_server_mechlist(s, NULL, NULL), "PLAIN"));
    saslglue_server_free(&s);
    conf_set("imapd_sasl_minimum_layer", NULL);
    conf_set("sasl_minimum_layer", NULL);
}

static void test_default_servername(void)
{
    /* no serverfqdn: servername from imapd.conf is the realm */
    struct saslglue_server_params p = server_plain;
    p.serverfqdn = NULL;
    struct saslglue_server *s = new_server(&p);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
    conf_set("servername", "elsewhere.example.org");
    s = new_server(&p);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"),
                    CYRERR_AUTHFAIL);
    saslglue_server_free(&s);
    conf_set("servername", FQDN);
}

/* ---- in-process client <-> server exchanges ------------------------------- */

struct run {
    const char *user, *authzid, *pass;
    const char *offer;      /* server list given to the client; NULL: real */
    const char *prefer;
    int plain_ok;           /* server allowplaintext */
    int steps;              /* server challenges sent */
    char mech[32];          /* chosen */
};

/* Run a whole exchange between a fresh client and server `s`.  Returns the
 * server's final result (or the client's failure). */
static int run_exchange(struct saslglue_server *s, struct run *run)
{
    struct saslglue_client_params cp = {
        .service = "imap", .serverfqdn = FQDN,
        .localip = "127.0.0.1;40000", .remoteip = "127.0.0.1;143",
        .authname = run->user, .authzid = run->authzid,
        .password = run->pass, .allowplaintext = 1,
    };
    struct saslglue_client *c = NULL;
    CU_ASSERT_EQUAL_FATAL(saslglue_client_new(&cp, &c), 0);
    char *offer = xstrdup(run->offer ? run->offer
                                     : saslglue_server_mechlist(s, NULL, NULL));
    const char *mech = NULL;
    const void *cout = NULL, *sout = NULL;
    size_t coutlen = 0, soutlen = 0;
    run->steps = 0;
    run->mech[0] = '\0';
    int cr = saslglue_client_start(c, offer, run->prefer, &mech, &cout,
                                   &coutlen);
    free(offer);
    int r = cr;
    if (cr >= 0) {
        snprintf(run->mech, sizeof run->mech, "%s", mech);
        r = saslglue_server_start(s, mech, cout, coutlen, &sout, &soutlen);
        while (r == SASLGLUE_CONTINUE && run->steps < 10) {
            run->steps++;
            cr = saslglue_client_step(c, sout, soutlen, &cout, &coutlen);
            if (cr < 0) {
                saslglue_server_abort(s);
                r = cr;
                break;
            }
            r = saslglue_server_step(s, cout, coutlen, &sout, &soutlen);
        }
    }
    saslglue_client_free(&c);
    CU_ASSERT_PTR_NULL(c);
    return r;
}

static void test_plain_success(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    struct run run = { .user = "alice", .pass = "alicepw", .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(run.mech, "PLAIN");
    CU_ASSERT_EQUAL(run.steps, 0);    /* initial response, no challenge */
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    CU_ASSERT_STRING_EQUAL(saslglue_server_authid(s), "alice");
    CU_ASSERT_STRING_EQUAL(saslglue_server_mech(s), "PLAIN");
    CU_ASSERT_EQUAL(saslglue_server_ssf(s), 0);
    /* a second AUTHENTICATE is refused */
    const void *out;
    size_t outlen;
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "\0bob\0bobpw", 10,
                                          &out, &outlen), CYRERR_AUTHFAIL);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
}

static void test_plain_wrong_password(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    struct run run = { .user = "alice", .pass = "wrong", .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    CU_ASSERT_STRING_EQUAL(saslglue_server_errstring(s),
                           "authentication failed");
    /* another user's password does not work either */
    run.pass = "bobpw";
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    /* the same object accepts a later, correct attempt */
    run.pass = "alicepw";
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
}

static void test_plain_unknown_user(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    struct run run = { .user = "mallory", .pass = "alicepw", .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    /* same text as a wrong password: no user enumeration */
    CU_ASSERT_STRING_EQUAL(saslglue_server_errstring(s),
                           "authentication failed");
    /* the realm is the server's FQDN: the same name in another realm is
     * another user */
    run.user = "alice@other.example.org";
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    run.user = "alice@" FQDN;
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    saslglue_server_free(&s);
}

static void test_login_multistep(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    struct run run = { .user = "bob", .pass = "bobpw", .prefer = "LOGIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(run.mech, "LOGIN");
    CU_ASSERT_TRUE(run.steps >= 2);   /* Username:, Password: */
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "bob");
    CU_ASSERT_STRING_EQUAL(saslglue_server_mech(s), "LOGIN");
    saslglue_server_free(&s);

    s = new_server(&server_plain);
    run.pass = "alicepw";
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    saslglue_server_free(&s);
}

static void test_digest_md5(void)
{
    /* a challenge-response mechanism works without TLS or allowplaintext */
    struct saslglue_server *s = new_server(&server_noplain);
    struct run run = { .user = "alice", .pass = "alicepw",
                       .prefer = "DIGEST-MD5" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(run.mech, "DIGEST-MD5");
    CU_ASSERT_TRUE(run.steps >= 2);   /* challenge, rspauth */
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    CU_ASSERT_EQUAL(saslglue_server_ssf(s), 0);   /* no security layer */
    saslglue_server_free(&s);

    s = new_server(&server_noplain);
    run.pass = "nope";
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    saslglue_server_free(&s);
}

static void test_proxy_authz(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    /* an ordinary user may not act as another */
    struct run run = { .user = "alice", .authzid = "bob", .pass = "alicepw",
                       .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    /* ... but may name herself */
    run.authzid = "alice";
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);

    /* an admin may */
    s = new_server(&server_plain);
    run = (struct run){ .user = "admin", .authzid = "bob", .pass = "adminpw",
                        .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "bob");
    CU_ASSERT_STRING_EQUAL(saslglue_server_authid(s), "admin");
    saslglue_server_free(&s);

    /* so may a proxy server (comma-separated list), also with LOGIN-less
     * DIGEST-MD5 */
    s = new_server(&server_noplain);
    run = (struct run){ .user = "proxy2", .authzid = "alice",
                        .pass = "proxypw", .prefer = "DIGEST-MD5" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    CU_ASSERT_STRING_EQUAL(saslglue_server_authid(s), "proxy2");
    saslglue_server_free(&s);

    /* a proxy server with a wrong password gets nowhere */
    s = new_server(&server_plain);
    run = (struct run){ .user = "proxy2", .authzid = "alice",
                        .pass = "wrong", .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    saslglue_server_free(&s);

    /* a service override of proxyservers applies */
    conf_set("imapd_proxyservers", "bob");
    s = new_server(&server_plain);
    run = (struct run){ .user = "bob", .authzid = "alice", .pass = "bobpw",
                        .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
    s = new_server(&server_plain);
    run = (struct run){ .user = "proxy2", .authzid = "alice",
                        .pass = "proxypw", .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    saslglue_server_free(&s);
    conf_set("imapd_proxyservers", NULL);
}

static const char *table_source(const char *key, void *rock)
{
    const char *const *kv = rock;
    for (; kv[0]; kv += 2)
        if (!strcmp(kv[0], key)) return kv[1];
    return NULL;
}

/* Options from a caller's function instead of imapd.conf. */
static void test_option_source(void)
{
    const char *kv[] = {
        "sasl_pwcheck_method", "saslauthd",
        "lmtpd_sasl_pwcheck_method", "auxprop",
        "sasl_auxprop_plugin", "sasldb",
        "sasl_sasldb_path", dbpath,
        "sasl_minimum_layer", "lots",
        "proxyservers", "alice",
        NULL, NULL,
    };
    saslglue_set_option_source(table_source, "lmtpd", (void *)kv);
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("pwcheck_method"), "auxprop");
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("sasldb_path"), dbpath);
    CU_ASSERT_PTR_NULL(saslglue_getopt("mech_list"));  /* not from imapd.conf */
    /* an unparsable minimum layer fails closed */
    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_STRING_EQUAL(saslglue_server_mechlist(s, NULL, NULL), "");
    saslglue_server_free(&s);
    kv[9] = "0";
    /* the proxy lists come from the same source */
    s = new_server(&server_plain);
    struct run run = { .user = "alice", .authzid = "bob", .pass = "alicepw",
                       .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "bob");
    saslglue_server_free(&s);
    s = new_server(&server_plain);
    run = (struct run){ .user = "admin", .authzid = "bob", .pass = "adminpw",
                        .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    saslglue_server_free(&s);

    saslglue_set_option_source(NULL, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(saslglue_getopt("pwcheck_method"), "auxprop");
    CU_ASSERT_PTR_NOT_NULL(saslglue_getopt("mech_list"));
    s = new_server(&server_plain);
    CU_ASSERT_TRUE(has_word(saslglue_server_mechlist(s, NULL, NULL), "PLAIN"));
    saslglue_server_free(&s);
}

static void test_bad_mechanisms(void)
{
    struct saslglue_server *s = new_server(&server_noplain);
    const void *out;
    size_t outlen;
    /* PLAIN is not offered without TLS here */
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "\0alice\0alicepw", 14,
                                          &out, &outlen), CYRERR_NOTSUPPORTED);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    CU_ASSERT_STRING_NOT_EQUAL(saslglue_server_errstring(s),
                               "authentication failed");
    CU_ASSERT_EQUAL(saslglue_server_start(s, "ANONYMOUS", "x", 1, &out,
                                          &outlen), CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "NO-SUCH-MECH", NULL, 0, &out,
                                          &outlen), CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "", NULL, 0, &out, &outlen),
                    CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN LOGIN", NULL, 0, &out,
                                          &outlen), CYRERR_NOTSUPPORTED);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "ABCDEFGHIJKLMNOPQRSTU", NULL, 0,
                                          &out, &outlen), CYRERR_NOTSUPPORTED);
    /* a step without a started exchange */
    CU_ASSERT_EQUAL(saslglue_server_step(s, "x", 1, &out, &outlen),
                    CYRERR_AUTHFAIL);
    /* EXTERNAL needs a client certificate */
    CU_ASSERT_EQUAL(saslglue_server_start(s, "EXTERNAL", "", 0, &out, &outlen),
                    CYRERR_NOTSUPPORTED);
    saslglue_server_free(&s);

    /* bad PLAIN message */
    s = new_server(&server_plain);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "alice", 5, &out,
                                          &outlen), CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "PLAIN", "", 0, &out, &outlen),
                    CYRERR_AUTHFAIL);
    /* mechanism names are case-insensitive */
    CU_ASSERT_EQUAL(saslglue_server_start(s, "plain", "\0alice\0alicepw", 14,
                                          &out, &outlen), 0);
    saslglue_server_free(&s);
}

static void test_external(void)
{
    struct saslglue_server_params p = server_noplain;
    p.tls_ssf = 256;
    p.tls_authid = "alice";
    struct saslglue_server *s = new_server(&p);
    const void *out;
    size_t outlen;
    /* EXTERNAL as the certificate's identity */
    CU_ASSERT_EQUAL(saslglue_server_start(s, "EXTERNAL", "", 0, &out, &outlen),
                    0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
    /* and the proxy policy applies to it too */
    s = new_server(&p);
    CU_ASSERT_EQUAL(saslglue_server_start(s, "EXTERNAL", "bob", 3, &out,
                                          &outlen), CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    saslglue_server_free(&s);
}

static void test_checkpass(void)
{
    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "wrong"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "nobody", "alicepw"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", ""),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "", "alicepw"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "bob", "alicepw"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    CU_ASSERT_STRING_EQUAL(saslglue_server_authid(s), "alice");
    /* only once */
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "bob", "bobpw"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);

    /* no plaintext without TLS unless allowed */
    s = new_server(&server_noplain);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"),
                    CYRERR_PERMISSION);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    CU_ASSERT_EQUAL(saslglue_server_set_tls(s, 256, NULL), 0);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
}

static void test_saslpasswd2_user(void)
{
    if (!have_saslpasswd2) {
        CU_FAIL("saslpasswd2 not installed (apt-get install sasl2-bin)");
        return;
    }
    /* carol was created by the administrator's tool, not by us */
    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "carol", "wrong"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "carol", "carolpw"), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "carol");
    saslglue_server_free(&s);
    s = new_server(&server_noplain);
    struct run run = { .user = "carol", .pass = "carolpw",
                       .prefer = "CRAM-MD5" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), 0);
    CU_ASSERT_STRING_EQUAL(run.mech, "CRAM-MD5");
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "carol");
    saslglue_server_free(&s);
}

static void test_user_realm(void)
{
    /* an explicit user realm: lookups use it and user ids carry it */
    struct saslglue_server_params p = server_plain;
    p.serverfqdn = "other-host.example.org";
    p.user_realm = FQDN;
    struct saslglue_server *s = new_server(&p);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice@" FQDN);
    saslglue_server_free(&s);
    /* without it, the server FQDN is the realm: alice is unknown there */
    p.user_realm = NULL;
    s = new_server(&p);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "alicepw"),
                    CYRERR_AUTHFAIL);
    saslglue_server_free(&s);
}

/* ---- client side --------------------------------------------------------------- */

static struct saslglue_client *new_client(const char *user, const char *pass,
                                          int plain_ok)
{
    struct saslglue_client_params cp = {
        .service = "imap", .serverfqdn = FQDN, .authname = user,
        .password = pass, .allowplaintext = plain_ok,
    };
    struct saslglue_client *c = NULL;
    CU_ASSERT_EQUAL(saslglue_client_new(&cp, &c), 0);
    return c;
}

static void test_client_choice(void)
{
    const char *mech;
    const void *out;
    size_t outlen;
    struct saslglue_client *c = new_client("alice", "alicepw", 1);
    CU_ASSERT_EQUAL(saslglue_client_start(c, "PLAIN LOGIN DIGEST-MD5",
                                          "LOGIN PLAIN", &mech, &out, &outlen),
                    SASLGLUE_CONTINUE);
    CU_ASSERT_STRING_EQUAL(mech, "LOGIN");
    CU_ASSERT_PTR_NULL(out);      /* LOGIN has no initial response */
    saslglue_client_free(&c);

    /* the caller's order wins over the server's */
    c = new_client("alice", "alicepw", 1);
    CU_ASSERT_TRUE(saslglue_client_start(c, "LOGIN PLAIN", "PLAIN LOGIN",
                                         &mech, &out, &outlen) >= 0);
    CU_ASSERT_STRING_EQUAL(mech, "PLAIN");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);  /* PLAIN sends one */
    CU_ASSERT_EQUAL(outlen, 14);
    CU_ASSERT_EQUAL(memcmp(out, "\0alice\0alicepw", 14), 0);
    saslglue_client_free(&c);

    /* preferred ones the server lacks are skipped; quoted lists (MUPDATE's
     * AUTH line) are understood */
    c = new_client("alice", "alicepw", 1);
    CU_ASSERT_TRUE(saslglue_client_start(c, "\"PLAIN\" \"LOGIN\"",
                                         "GSSAPI, LOGIN", &mech, &out,
                                         &outlen) >= 0);
    CU_ASSERT_STRING_EQUAL(mech, "LOGIN");
    saslglue_client_free(&c);

    /* no preference: libsasl2 picks the strongest */
    c = new_client("alice", "alicepw", 1);
    CU_ASSERT_TRUE(saslglue_client_start(c, "PLAIN DIGEST-MD5 LOGIN", NULL,
                                         &mech, &out, &outlen) >= 0);
    CU_ASSERT_STRING_EQUAL(mech, "DIGEST-MD5");
    saslglue_client_free(&c);

    /* nothing in common */
    c = new_client("alice", "alicepw", 1);
    CU_ASSERT_EQUAL(saslglue_client_start(c, "GSSAPI X-FOO", "PLAIN", &mech,
                                          &out, &outlen), CYRERR_NOTSUPPORTED);
    CU_ASSERT_PTR_NULL(mech);
    CU_ASSERT_EQUAL(saslglue_client_start(c, "", NULL, &mech, &out, &outlen),
                    CYRERR_NOTSUPPORTED);
    saslglue_client_free(&c);

    /* the client does not send a password in the clear unless allowed */
    c = new_client("alice", "alicepw", 0);
    CU_ASSERT_EQUAL(saslglue_client_start(c, "PLAIN LOGIN", "PLAIN", &mech,
                                          &out, &outlen), CYRERR_NOTSUPPORTED);
    saslglue_client_free(&c);
    c = new_client("alice", "alicepw", 0);
    CU_ASSERT_TRUE(saslglue_client_start(c, "PLAIN CRAM-MD5", "PLAIN", &mech,
                                         &out, &outlen) >= 0);
    CU_ASSERT_STRING_EQUAL(mech, "CRAM-MD5");
    saslglue_client_free(&c);

    /* acting as another user: LOGIN cannot say so, so it is never chosen */
    struct saslglue_client_params pp = {
        .service = "imap", .serverfqdn = FQDN, .authname = "proxy2",
        .authzid = "alice", .password = "proxypw", .allowplaintext = 1,
    };
    CU_ASSERT_EQUAL(saslglue_client_new(&pp, &c), 0);
    CU_ASSERT_TRUE(saslglue_client_start(c, "LOGIN PLAIN", "LOGIN PLAIN",
                                         &mech, &out, &outlen) >= 0);
    CU_ASSERT_STRING_EQUAL(mech, "PLAIN");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(outlen, 20);
    CU_ASSERT_EQUAL(memcmp(out, "alice\0proxy2\0proxypw", 20), 0);
    saslglue_client_free(&c);
    CU_ASSERT_EQUAL(saslglue_client_new(&pp, &c), 0);
    CU_ASSERT_EQUAL(saslglue_client_start(c, "LOGIN", NULL, &mech, &out,
                                          &outlen), CYRERR_NOTSUPPORTED);
    saslglue_client_free(&c);

    /* bad parameters */
    struct saslglue_client_params cp = { .service = "imap",
                                         .serverfqdn = FQDN };
    CU_ASSERT_EQUAL(saslglue_client_new(&cp, &c), CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(c);
    struct saslglue_server_params sp = { .service = NULL };
    struct saslglue_server *s = NULL;
    CU_ASSERT_EQUAL(saslglue_server_new(&sp, &s), CYRERR_BADARGS);
    CU_ASSERT_PTR_NULL(s);
}

/* ---- the prot exchange helper ------------------------------------------------ */

struct wire {
    int fds[2];             /* [0] server side, [1] client side */
    struct prot *p;         /* on fds[0] */
};

static void wire_open(struct wire *w)
{
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, w->fds), 0);
    w->p = prot_new(w->fds[0]);
    prot_set_timeout(w->p, 5);
}

static void wire_close(struct wire *w)
{
    prot_free(&w->p);
    close(w->fds[0]);
    if (w->fds[1] >= 0) close(w->fds[1]);
}

/* What the client side would send next (written ahead: the socket buffers
 * it until the server reads). */
static void client_says(struct wire *w, const char *text)
{
    size_t n = strlen(text);
    CU_ASSERT_EQUAL((size_t)write(w->fds[1], text, n), n);
}

/* Everything the server wrote so far. */
static char *client_hears(struct wire *w)
{
    struct buf b = BUF_INITIALIZER;
    char tmp[512];
    int fl = fcntl(w->fds[1], F_GETFL);
    fcntl(w->fds[1], F_SETFL, fl | O_NONBLOCK);
    ssize_t n;
    while ((n = read(w->fds[1], tmp, sizeof tmp)) > 0) buf_appendmap(&b, tmp, n);
    fcntl(w->fds[1], F_SETFL, fl);
    return buf_release(&b);
}

static void test_exchange_plain(void)
{
    struct wire w;
    wire_open(&w);
    struct saslglue_server *s = new_server(&server_plain);
    /* initial response: done without a challenge */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", "AGFsaWNlAGFsaWNlcHc="),
                    0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    char *heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "");
    free(heard);
    saslglue_server_free(&s);

    /* no initial response: an empty challenge first */
    s = new_server(&server_plain);
    client_says(&w, "AGJvYgBib2Jwdw==\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", NULL), 0);
    heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "+ \r\n");
    free(heard);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "bob");
    saslglue_server_free(&s);

    /* MUPDATE: no prefix at all, LF-only line ending accepted */
    s = new_server(&server_plain);
    client_says(&w, "AGJvYgBib2Jwdw==\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_mupdate,
                                             "PLAIN", NULL), 0);
    heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "\r\n");
    free(heard);
    saslglue_server_free(&s);

    /* wrong password through the helper */
    s = new_server(&server_plain);
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", "AGFsaWNlAHdyb25n"),
                    CYRERR_AUTHFAIL);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    /* "=" is an empty initial response: not valid PLAIN */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", "="), CYRERR_AUTHFAIL);
    /* bad base64 in the initial response */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", "AGFsaWNl!"),
                    CYRERR_PARSE);
    heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "");
    free(heard);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    saslglue_server_free(&s);
    wire_close(&w);
}

static void test_exchange_login_lmtp(void)
{
    struct wire w;
    wire_open(&w);
    struct saslglue_server_params p = server_plain;
    p.service = "lmtp";
    struct saslglue_server *s = new_server(&p);
    client_says(&w, "YWxpY2U=\r\nYWxpY2Vwdw==\r\n");  /* alice, alicepw */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_lmtp,
                                             "LOGIN", NULL), 0);
    char *heard = client_hears(&w);
    /* "Username:" and "Password:" challenges, with the SMTP prefix */
    CU_ASSERT_STRING_EQUAL(heard, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
    free(heard);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    saslglue_server_free(&s);
    wire_close(&w);
}

static void test_exchange_cancel(void)
{
    struct wire w;
    wire_open(&w);
    struct saslglue_server *s = new_server(&server_plain);
    client_says(&w, "YWxpY2U=\r\n*\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "LOGIN", NULL), CYRERR_CANCELLED);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    CU_ASSERT_STRING_EQUAL(saslglue_server_errstring(s),
                           "authentication cancelled");
    char *heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n");
    free(heard);

    /* cancel at the first challenge */
    client_says(&w, "*\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", NULL), CYRERR_CANCELLED);
    free(client_hears(&w));

    /* bad base64 in a response */
    client_says(&w, "YWxpY2U\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "LOGIN", NULL), CYRERR_PARSE);
    free(client_hears(&w));
    client_says(&w, "not base64 at all\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "PLAIN", NULL), CYRERR_PARSE);
    free(client_hears(&w));
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));

    /* the same object still works afterwards */
    client_says(&w, "YWxpY2U=\r\nYWxpY2Vwdw==\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "LOGIN", NULL), 0);
    CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "alice");
    free(client_hears(&w));
    saslglue_server_free(&s);
    wire_close(&w);
}

static void test_exchange_limits(void)
{
    struct wire w;
    wire_open(&w);
    struct saslglue_server *s = new_server(&server_plain);
    /* a response longer than the protocol's limit */
    struct saslglue_proto small = { "+ ", 16 };
    client_says(&w, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\r\n");
    int r = saslglue_server_exchange(s, w.p, &small, "LOGIN", NULL);
    CU_ASSERT_EQUAL(r, CYRERR_TOOBIG);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    free(client_hears(&w));
    /* unknown mechanism: nothing is sent */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "X-NONE", NULL),
                    CYRERR_NOTSUPPORTED);
    char *heard = client_hears(&w);
    CU_ASSERT_STRING_EQUAL(heard, "");
    free(heard);
    /* the client hangs up mid-exchange */
    client_says(&w, "YWxpY2U=\r\n");
    close(w.fds[1]);
    w.fds[1] = -1;
    r = saslglue_server_exchange(s, w.p, &saslglue_proto_imap, "LOGIN", NULL);
    CU_ASSERT_TRUE(r == CYRERR_EOF || r == CYRERR_IO);
    CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
    saslglue_server_free(&s);
    wire_close(&w);
}

/* A real client on the other end of the socket, in a thread: it answers
 * each challenge line with saslglue_client_step. */
struct peer {
    int fd;
    const char *user, *pass, *mech;
    int result;
};

static void *peer_main(void *arg)
{
    struct peer *pe = arg;
    struct saslglue_client_params cp = {
        .service = "imap", .serverfqdn = FQDN, .authname = pe->user,
        .password = pe->pass, .allowplaintext = 1,
    };
    struct saslglue_client *c = NULL;
    pe->result = saslglue_client_new(&cp, &c);
    if (pe->result) return NULL;
    struct prot *p = prot_new(pe->fd);
    prot_set_timeout(p, 5);
    struct buf line = BUF_INITIALIZER, data = BUF_INITIALIZER,
               enc = BUF_INITIALIZER;
    const char *mech;
    const void *out;
    size_t outlen;
    int r = saslglue_client_start(c, pe->mech, NULL, &mech, &out, &outlen);
    while (r >= 0 && prot_readline(p, &line, 65536) == 0) {
        buf_trim(&line);
        if (strncmp(buf_cstring(&line), "+ ", 2)) { r = CYRERR_PARSE; break; }
        if (saslglue_decode64(&data, buf_cstring(&line) + 2,
                              buf_len(&line) - 2)) {
            r = CYRERR_PARSE;
            break;
        }
        r = saslglue_client_step(c, buf_base(&data), buf_len(&data), &out,
                                 &outlen);
        if (r < 0) break;
        buf_reset(&enc);
        saslglue_encode64(&enc, out, outlen);
        buf_appendcstr(&enc, "\r\n");
        prot_write(p, buf_base(&enc), buf_len(&enc));
        prot_flush(p);
    }
    pe->result = r;
    buf_free(&line);
    buf_free(&data);
    buf_free(&enc);
    prot_free(&p);
    saslglue_client_free(&c);
    return NULL;
}

static void test_exchange_threaded_digest(void)
{
    for (int good = 1; good >= 0; good--) {
        struct wire w;
        wire_open(&w);
        struct peer pe = { .fd = w.fds[1], .user = "bob",
                           .pass = good ? "bobpw" : "badpw",
                           .mech = "DIGEST-MD5" };
        pthread_t t;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, peer_main, &pe), 0);
        struct saslglue_server *s = new_server(&server_noplain);
        int r = saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                         "DIGEST-MD5", NULL);
        /* the peer sees EOF once we shut the socket */
        shutdown(w.fds[0], SHUT_RDWR);
        pthread_join(t, NULL);
        if (good) {
            CU_ASSERT_EQUAL(r, 0);
            CU_ASSERT_STRING_EQUAL(saslglue_server_userid(s), "bob");
            CU_ASSERT_TRUE(pe.result >= 0);
        } else {
            CU_ASSERT_EQUAL(r, CYRERR_AUTHFAIL);
            CU_ASSERT_PTR_NULL(saslglue_server_userid(s));
        }
        saslglue_server_free(&s);
        wire_close(&w);
    }
}

/* ---- logging ------------------------------------------------------------------ */

/* Failures are logged, without the password. */
static void test_no_secrets_logged(void)
{
    char *logfile = xasprintf("%s/log.txt", harness_tmpdir());
    int fd = open(logfile, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    log_init("test_saslglue", LOG_STDERR);

    struct saslglue_server *s = new_server(&server_plain);
    CU_ASSERT_EQUAL(saslglue_server_checkpass(s, "alice", "Sekr1tWrong"),
                    CYRERR_AUTHFAIL);
    struct run run = { .user = "alice", .pass = "Sekr2tWrong",
                       .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    run = (struct run){ .user = "alice", .authzid = "bob", .pass = "alicepw",
                        .prefer = "PLAIN" };
    CU_ASSERT_EQUAL(run_exchange(s, &run), CYRERR_AUTHFAIL);
    saslglue_server_free(&s);
    /* and through the exchange helper, wrong password, then a cancel */
    struct wire w;
    wire_open(&w);
    s = new_server(&server_plain);
    client_says(&w, "YWxpY2U=\r\nU2VrcjN0V3Jvbmc=\r\n");  /* Sekr3tWrong */
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "LOGIN", NULL), CYRERR_AUTHFAIL);
    client_says(&w, "YWxpY2U=\r\n*\r\n");
    CU_ASSERT_EQUAL(saslglue_server_exchange(s, w.p, &saslglue_proto_imap,
                                             "LOGIN", NULL), CYRERR_CANCELLED);
    saslglue_server_free(&s);
    free(client_hears(&w));
    wire_close(&w);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    log_init("test_saslglue", 0);
    struct stat st;
    CU_ASSERT_EQUAL(fstat(fd, &st), 0);
    char *text = xzmalloc(st.st_size + 1);
    CU_ASSERT_EQUAL(pread(fd, text, st.st_size, 0), st.st_size);
    close(fd);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "badlogin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "authz refused"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "user=<alice>"));
    CU_ASSERT_PTR_NULL(strstr(text, "Sekr1t"));
    CU_ASSERT_PTR_NULL(strstr(text, "Sekr2t"));
    CU_ASSERT_PTR_NULL(strstr(text, "Sekr3t"));
    CU_ASSERT_PTR_NULL(strstr(text, "U2VrcjN0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "cancelled by client"));
    CU_ASSERT_PTR_NULL(strstr(text, "alicepw"));
    free(text);
    free(logfile);
}

void register_tests(void)
{
    CU_pSuite b = harness_suite("saslglue_base64", NULL, NULL);
    ADD_TEST(b, test_base64_vectors);
    ADD_TEST(b, test_base64_bad);

    CU_pSuite s = harness_suite("saslglue", suite_init, suite_cleanup);
    ADD_TEST(s, test_getopt_override);
    ADD_TEST(s, test_option_source);
    ADD_TEST(s, test_default_servername);
    ADD_TEST(s, test_mechlist_plaintext);
    ADD_TEST(s, test_mechlist_minimum_layer);
    ADD_TEST(s, test_plain_success);
    ADD_TEST(s, test_plain_wrong_password);
    ADD_TEST(s, test_plain_unknown_user);
    ADD_TEST(s, test_login_multistep);
    ADD_TEST(s, test_digest_md5);
    ADD_TEST(s, test_proxy_authz);
    ADD_TEST(s, test_bad_mechanisms);
    ADD_TEST(s, test_external);
    ADD_TEST(s, test_checkpass);
    ADD_TEST(s, test_saslpasswd2_user);
    ADD_TEST(s, test_user_realm);
    ADD_TEST(s, test_client_choice);
    ADD_TEST(s, test_exchange_plain);
    ADD_TEST(s, test_exchange_login_lmtp);
    ADD_TEST(s, test_exchange_cancel);
    ADD_TEST(s, test_exchange_limits);
    ADD_TEST(s, test_exchange_threaded_digest);
    ADD_TEST(s, test_no_secrets_logged);
}
