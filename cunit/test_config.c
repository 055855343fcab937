/* Tests for lib/libconfig and the option table (lib/imapopts.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"

/* ---- helpers ------------------------------------------------------------ */

/* Write `content` to `name` under the test directory; returns the path
 * (caller frees). */
static char *write_conf(const char *name, const char *content)
{
    char *path = xasprintf("%s/%s", harness_tmpdir(), name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* Does any message in `sa` contain `needle`? */
static int has_msg(const struct strarray *sa, const char *needle)
{
    for (int i = 0; i < sa->count; i++)
        if (strstr(sa->data[i], needle)) return 1;
    return 0;
}

static void dump(const char *what, const struct strarray *sa)
{
    for (int i = 0; i < sa->count; i++)
        fprintf(stderr, "  %s: %s\n", what, sa->data[i]);
}

/* Read `path` for `ident` into fresh arrays. */
struct result {
    int r;
    struct strarray errors;
    struct strarray warnings;
};

static struct result *read_conf(const char *path, const char *ident)
{
    static struct result res;
    strarray_free(&res.errors);
    strarray_free(&res.warnings);
    res.r = config_read(path, ident, &res.errors, &res.warnings);
    return &res;
}

static int cleanup_suite(void)
{
    struct result *res = read_conf("/nonexistent/imapd.conf", NULL);
    strarray_free(&res->errors);
    strarray_free(&res->warnings);
    config_reset();
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

static void test_table(void)
{
    struct buf why = BUF_INITIALIZER;
    CU_ASSERT_EQUAL(IMAPOPT_TIMEOUT, IMAPOPT_timeout);
    CU_ASSERT_EQUAL(IMAPOPT_MBOXLIST_DB, IMAPOPT_mboxlist_db);
    CU_ASSERT(IMAPOPT_LAST > 100);
    for (int i = 1; i < IMAPOPT_LAST; i++) {
        const struct imapopt_desc *d = &imapopt_table[i];
        CU_ASSERT_PTR_NOT_NULL_FATAL(d->name);
        /* sorted, unique, lower case, findable */
        if (i > 1) CU_ASSERT(strcmp(imapopt_table[i - 1].name, d->name) < 0);
        for (const char *p = d->name; *p; p++)
            CU_ASSERT((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        CU_ASSERT_EQUAL(config_lookup(d->name), i);
        CU_ASSERT(d->help && *d->help);
        /* every default parses as its own type */
        if (d->def) {
            int r = config_check_value((enum imapopt)i, d->def, &why);
            CU_ASSERT_EQUAL(r, 0);
            if (r) fprintf(stderr, "default of %s: %s\n", d->name, buf_cstring(&why));
        }
        switch (d->type) {
        case OPT_ENUM:
            CU_ASSERT_PTR_NOT_NULL(d->extra);
            CU_ASSERT_PTR_NOT_NULL(d->def);
            break;
        case OPT_DURATION:
            CU_ASSERT(d->extra && strlen(d->extra) == 1 && strchr("smhd", d->extra[0]));
            break;
        default:
            CU_ASSERT_PTR_NULL(d->extra);
        }
    }
    CU_ASSERT_EQUAL(config_lookup("TimeOut"), IMAPOPT_TIMEOUT);
    CU_ASSERT_EQUAL(config_lookup("lmtp_admins"), IMAPOPT_ZERO);
    CU_ASSERT_EQUAL(config_lookup(""), IMAPOPT_ZERO);
    CU_ASSERT_EQUAL(config_lookup(NULL), IMAPOPT_ZERO);
    CU_ASSERT_EQUAL(config_check_value(IMAPOPT_TIMEOUT, "soon", &why), CYRERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf_cstring(&why), "minutes"));
    CU_ASSERT_EQUAL(config_check_value(IMAPOPT_DELETE_MODE, "later", &why), CYRERR_PARSE);
    CU_ASSERT_STRING_EQUAL(buf_cstring(&why), "expected one of: immediate, delayed");
    CU_ASSERT_EQUAL(config_check_value(IMAPOPT_DELETE_MODE, "later", NULL), CYRERR_PARSE);
    buf_free(&why);
}

static void test_defaults(void)
{
    config_reset();
    CU_ASSERT_PTR_NULL(config_filename());
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 32 * 60);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPTIMEOUT), 10 * 60);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPMINPOLL), 0);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_MUPDATE_RETRY_DELAY), 20);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_IMAPIDLEPOLL), 1);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPEXPIRETIME), -86400);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TLS_SESSION_TIMEOUT), 24 * 3600);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_ALLOWPLAINTEXT), 0);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_DUPLICATESUPPRESSION), 1);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_UNIXHIERARCHYSEP), 1);
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_DELETE_MODE), "delayed");
    CU_ASSERT_EQUAL(config_getenumindex(IMAPOPT_DELETE_MODE), 1);
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_VIRTDOMAINS), "off");
    CU_ASSERT_EQUAL(config_getbytes(IMAPOPT_MAXWORD), 131072);
    CU_ASSERT_EQUAL(config_getbytes(IMAPOPT_MAXMESSAGESIZE), 0);
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_MUPDATE_PORT), 3905);
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_AUTOCREATE_QUOTA), -1);
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_MAXWORD), 131072); /* getint reads BYTES */
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_QUOTAWARN), 90);
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_DEFAULTACL), "anyone lrs");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_ADMINS), "");
    CU_ASSERT_PTR_NULL(config_getstring(IMAPOPT_SERVERNAME));
    CU_ASSERT_PTR_NULL(config_getstring(IMAPOPT_MUPDATE_SERVER));
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_PROXY_AUTHNAME), "proxy");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_TIMEOUT), "32m");
    CU_ASSERT_STRING_EQUAL(config_dir(), "/var/lib/cyrus");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_LMTPSOCKET),
                           "/var/lib/cyrus/socket/lmtp");
    CU_ASSERT_FALSE(config_isset(IMAPOPT_TIMEOUT));
    CU_ASSERT_FALSE(config_is_admin("cyrus"));
    CU_ASSERT_PTR_NULL(config_getpattern("partition-", "default"));
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    CU_ASSERT_STRING_EQUAL(config_servername(), host);
}

/* ---- reading ------------------------------------------------------------ */

static void test_read_good(void)
{
    char *path = write_conf("good.conf", "# a comment\n"
                                         "\n"
                                         "   # an indented comment\n"
                                         "configdirectory: /srv/cyrus   \n"
                                         "  TimeOut :   45\n"
                                         "poptimeout: 1h30m\r\n"
                                         "popminpoll: 2\n"
                                         "imapidlepoll: 5m\n"
                                         "allowplaintext: On\n"
                                         "duplicatesuppression: false\n"
                                         "delete_mode: Immediate\n"
                                         "virtdomains: yes\n"
                                         "serverinfo: off\n"
                                         "maxmessagesize: 10M\n"
                                         "maxword: 65536\n"
                                         "mupdate_port: 3906\n"
                                         "autocreate_quota: -1\n"
                                         "servername: mail.example.org\n"
                                         "defaultacl: anyone lr   admin   lrswipkxtecda\n"
                                         "postuser:\n"
                                         "lmtpsocket: {configdirectory}/lmtp.sock\n"
                                         "syslog_facility: mail\n"
                                         "proxy_password: pa:ss#word\n");
    struct result *res = read_conf(path, "imapd");
    CU_ASSERT_EQUAL(res->r, 0);
    CU_ASSERT_EQUAL(res->errors.count, 0);
    CU_ASSERT_EQUAL(res->warnings.count, 0);
    dump("error", &res->errors);
    dump("warning", &res->warnings);

    CU_ASSERT_STRING_EQUAL(config_filename(), path);
    CU_ASSERT_STRING_EQUAL(config_ident(), "imapd");
    CU_ASSERT_STRING_EQUAL(config_dir(), "/srv/cyrus");
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 45 * 60);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPTIMEOUT), 90 * 60);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPMINPOLL), 120);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_IMAPIDLEPOLL), 300);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_ALLOWPLAINTEXT), 1);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_DUPLICATESUPPRESSION), 0);
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_DELETE_MODE), "immediate");
    CU_ASSERT_EQUAL(config_getenumindex(IMAPOPT_DELETE_MODE), 0);
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_VIRTDOMAINS), "on");
    CU_ASSERT_EQUAL(config_getenumindex(IMAPOPT_VIRTDOMAINS), 2);
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_SERVERINFO), "off");
    CU_ASSERT_EQUAL(config_getbytes(IMAPOPT_MAXMESSAGESIZE), 10 * 1024 * 1024);
    CU_ASSERT_EQUAL(config_getbytes(IMAPOPT_MAXWORD), 65536);
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_MUPDATE_PORT), 3906);
    CU_ASSERT_STRING_EQUAL(config_servername(), "mail.example.org");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_DEFAULTACL),
                           "anyone lr   admin   lrswipkxtecda");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_POSTUSER), "");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_LMTPSOCKET), "/srv/cyrus/lmtp.sock");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_PROXY_PASSWORD), "pa:ss#word");
    CU_ASSERT_TRUE(config_isset(IMAPOPT_TIMEOUT));
    CU_ASSERT_TRUE(config_isset(IMAPOPT_POSTUSER));
    CU_ASSERT_FALSE(config_isset(IMAPOPT_ADMINS));
    /* the value as written is still available */
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_TIMEOUT), "45");
    CU_ASSERT_STRING_EQUAL(config_getpattern(NULL, "timeout"), "45");
    free(path);

    /* reading again forgets the previous file */
    path = write_conf("empty.conf", "");
    res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, 0);
    CU_ASSERT_PTR_NULL(config_ident());
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 32 * 60);
    CU_ASSERT_FALSE(config_isset(IMAPOPT_TIMEOUT));
    CU_ASSERT_PTR_NULL(config_getpattern(NULL, "timeout"));
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_LMTPSOCKET),
                           "/var/lib/cyrus/socket/lmtp");
    free(path);
}

static void test_bad_values(void)
{
    char *path =
        write_conf("bad.conf", "timeout: soon\n"                      /* 1 */
                               "allowplaintext: maybe\n"              /* 2 */
                               "delete_mode: later\n"                 /* 3 */
                               "maxmessagesize: 10Q\n"                /* 4 */
                               "mupdate_port: 99999999999999999999\n" /* 5 */
                               "maxword: -1\n"                        /* 6 */
                               "quotawarn: 9O\n"                      /* 7 */
                               "poptimeout:\n"                        /* 8 */
                               "virtdomains: sometimes\n"             /* 9 */
                               "admins: alice\n" /* 10: good lines are still read */
                               "imapidlepoll: 1.5s\n"); /* 11 */
    struct result *res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 10);
    CU_ASSERT_EQUAL(res->warnings.count, 0);
    static const struct {
        int line;
        const char *key;
    } want[] = {
        {1, "timeout"},        {2, "allowplaintext"}, {3, "delete_mode"},
        {4, "maxmessagesize"}, {5, "mupdate_port"},   {6, "maxword"},
        {7, "quotawarn"},      {8, "poptimeout"},     {9, "virtdomains"},
        {11, "imapidlepoll"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *msg = xasprintf("%s:%d: bad value for option '%s'", path, want[i].line,
                              want[i].key);
        CU_ASSERT_TRUE(has_msg(&res->errors, msg));
        if (!has_msg(&res->errors, msg)) fprintf(stderr, "missing: %s\n", msg);
        free(msg);
    }
    CU_ASSERT_TRUE(has_msg(&res->errors, "'soon': expected a duration"));
    CU_ASSERT_TRUE(has_msg(&res->errors, "expected yes or no"));
    CU_ASSERT_TRUE(has_msg(&res->errors, "expected one of: off, userid, on"));
    /* bad values do not take effect; the rest of the file does */
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 32 * 60);
    CU_ASSERT_FALSE(config_isset(IMAPOPT_TIMEOUT));
    CU_ASSERT_STRING_EQUAL(config_getenum(IMAPOPT_DELETE_MODE), "delayed");
    CU_ASSERT_TRUE(config_is_admin("alice"));
    free(path);
}

static void test_syntax_errors(void)
{
    char *path = write_conf("syntax.conf", "timeout 30\n"
                                           ": value\n"
                                           "two words: x\n"
                                           "admins: root\n");
    struct result *res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 3);
    char *m1 = xasprintf("%s:1: syntax error", path);
    char *m2 = xasprintf("%s:2: syntax error", path);
    char *m3 = xasprintf("%s:3: syntax error", path);
    CU_ASSERT_TRUE(has_msg(&res->errors, m1));
    CU_ASSERT_TRUE(has_msg(&res->errors, m2));
    CU_ASSERT_TRUE(has_msg(&res->errors, m3));
    CU_ASSERT_TRUE(config_is_admin("root"));
    free(m1);
    free(m2);
    free(m3);
    free(path);
}

static void test_unknown_keys(void)
{
    char *path = write_conf("unknown.conf", "allowplaintxt: yes\n"
                                            "zzzqqqxxx: 1\n"
                                            "imap_allowplaintxt: yes\n"
                                            "TIMEOTU: 5\n"
                                            "lmtp_admins: bob\n");
    struct result *res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, 0); /* warnings only */
    CU_ASSERT_EQUAL(res->warnings.count, 4);
    if (res->warnings.count != 4) dump("warning", &res->warnings);
    char *m = xasprintf(
        "%s:1: unknown option 'allowplaintxt' (did you mean 'allowplaintext'?)", path);
    CU_ASSERT_TRUE(has_msg(&res->warnings, m));
    free(m);
    m = xasprintf("%s:2: unknown option 'zzzqqqxxx'", path);
    CU_ASSERT_TRUE(has_msg(&res->warnings, m));
    free(m);
    CU_ASSERT_FALSE(has_msg(&res->warnings, "'zzzqqqxxx' (did you mean"));
    m = xasprintf(
        "%s:3: unknown option 'imap_allowplaintxt' (did you mean 'imap_allowplaintext'?)",
        path);
    CU_ASSERT_TRUE(has_msg(&res->warnings, m));
    free(m);
    m = xasprintf("%s:4: unknown option 'timeotu' (did you mean 'timeout'?)", path);
    CU_ASSERT_TRUE(has_msg(&res->warnings, m));
    free(m);
    /* unknown keys are kept (an old Cyrus config may carry them) */
    CU_ASSERT_STRING_EQUAL(config_getpattern(NULL, "zzzqqqxxx"), "1");
    /* the unknown allowplaintxt does not switch allowplaintext on */
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_ALLOWPLAINTEXT), 0);

    CU_ASSERT_STRING_EQUAL(config_suggest("timeot"), "timeout");
    CU_ASSERT_STRING_EQUAL(config_suggest("ADMINZ"), "admins");
    CU_ASSERT_STRING_EQUAL(config_suggest("mupdate_sever"), "mupdate_server");
    CU_ASSERT_STRING_EQUAL(config_suggest("unixheirarchysep"), "unixhierarchysep");
    CU_ASSERT_PTR_NULL(config_suggest("x"));
    CU_ASSERT_PTR_NULL(config_suggest("completely_different"));
    CU_ASSERT_PTR_NULL(config_suggest(""));
    CU_ASSERT_PTR_NULL(config_suggest(NULL));
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CU_ASSERT_PTR_NULL(config_suggest(longname));
    free(path);
}

static void test_overrides(void)
{
    char *path = write_conf("override.conf", "timeout: 40\n"
                                             "proxyd_timeout: 45\n"
                                             "admins: alice, carol\n"
                                             "lmtp_admins: bob\n"
                                             "proxyd_allowplaintext: yes\n"
                                             "pop3d_poptimeout: 20\n"
                                             "imapd_timeout: 2h\n");
    struct result *res = read_conf(path, "proxyd");
    CU_ASSERT_EQUAL(res->r, 0);
    CU_ASSERT_EQUAL(res->warnings.count, 0); /* overrides for any service are known */
    dump("warning", &res->warnings);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 45 * 60);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_ALLOWPLAINTEXT), 1);
    CU_ASSERT_TRUE(config_isset(IMAPOPT_ALLOWPLAINTEXT));
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPTIMEOUT), 10 * 60);
    CU_ASSERT_TRUE(config_is_admin("alice"));
    CU_ASSERT_TRUE(config_is_admin("carol"));
    CU_ASSERT_FALSE(config_is_admin("bob"));
    CU_ASSERT_FALSE(config_is_admin("ali"));
    CU_ASSERT_FALSE(config_is_admin(""));
    CU_ASSERT_FALSE(config_is_admin(NULL));

    res = read_conf(path, "imapd");
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 2 * 3600);
    CU_ASSERT_EQUAL(config_getswitch(IMAPOPT_ALLOWPLAINTEXT), 0);

    res = read_conf(path, "lmtp");
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 40 * 60);
    CU_ASSERT_TRUE(config_is_admin("bob"));
    CU_ASSERT_FALSE(config_is_admin("alice"));

    res = read_conf(path, "POP3D"); /* the ident is case-insensitive too */
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_POPTIMEOUT), 20 * 60);
    free(path);

    /* a bad value in an override is an error even for another service */
    path = write_conf("override-bad.conf", "imapd_timeout: 5\n"
                                           "pop3d_allowplaintext: perhaps\n");
    res = read_conf(path, "imapd");
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    char *m = xasprintf("%s:2: bad value for option 'pop3d_allowplaintext'", path);
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 5 * 60);
    free(path);
}

static void test_patterns(void)
{
    char *path =
        write_conf("patterns.conf", "partition-default: /var/spool/cyrus/mail\n"
                                    "Partition-Other: /srv/other\n"
                                    "metapartition-default: /var/spool/cyrus/meta\n"
                                    "backend1_password: s3cret\n"
                                    "backend1_mechs: PLAIN\n"
                                    "sasl_pwcheck_method: saslauthd\n"
                                    "sasl_auto_transition: yes\n"
                                    "sasl_saslauthd_path: /run/saslauthd/mux\n"
                                    "imap_sasl_mech_list: PLAIN\n"
                                    "lmtp_sasl_mech_list: EXTERNAL\n"
                                    "lmtp_sasl_log_level: 7\n");
    struct result *res = read_conf(path, "imap");
    CU_ASSERT_EQUAL(res->r, 0);
    CU_ASSERT_EQUAL(res->warnings.count, 0);
    dump("warning", &res->warnings);
    CU_ASSERT_STRING_EQUAL(config_partitiondir("default"), "/var/spool/cyrus/mail");
    CU_ASSERT_STRING_EQUAL(config_partitiondir("OTHER"), "/srv/other");
    CU_ASSERT_PTR_NULL(config_partitiondir("missing"));
    CU_ASSERT_STRING_EQUAL(config_getpattern("metapartition-", "default"),
                           "/var/spool/cyrus/meta");
    CU_ASSERT_STRING_EQUAL(config_getpattern(NULL, "backend1_password"), "s3cret");
    CU_ASSERT_STRING_EQUAL(config_getpattern("", "backend1_mechs"), "PLAIN");
    CU_ASSERT_STRING_EQUAL(config_getpattern("sasl_", "auto_transition"), "yes");
    CU_ASSERT_STRING_EQUAL(config_getpattern("sasl_", "saslauthd_path"),
                           "/run/saslauthd/mux");
    CU_ASSERT_STRING_EQUAL(config_getpattern("lmtp_sasl_", "log_level"), "7");
    CU_ASSERT_PTR_NULL(config_getpattern("sasl_", "nothing"));
    CU_ASSERT_PTR_NULL(config_getpattern("sasl_", NULL));
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_SASL_PWCHECK_METHOD), "saslauthd");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_SASL_MECH_LIST), "PLAIN");
    free(path);
}

static void test_include(void)
{
    char *third = write_conf("inc/third.conf", "servername: third.example\n");
    char *sub = write_conf("inc/sub/extra.conf", "timeout: 50\n"
                                                 "@include: ../third.conf\n"
                                                 "allowplaintext: nope\n");
    char *main_conf = write_conf("inc/main.conf", "timeout: 40\n"
                                                  "admins: a\n"
                                                  "@include: sub/extra.conf\n"
                                                  "admins: b\n");
    struct result *res = read_conf(main_conf, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 1);
    /* an error in an included file names that file and its line */
    char *m = xasprintf("inc/sub/extra.conf:3: bad value for option 'allowplaintext'");
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 50 * 60);
    CU_ASSERT_STRING_EQUAL(config_servername(), "third.example");
    CU_ASSERT_TRUE(config_is_admin("b"));
    CU_ASSERT_FALSE(config_is_admin("a"));

    /* a missing include is an error with file:line */
    char *missing = write_conf("inc/missing.conf",
                               "\n@include: nothere.conf\n@INCLUDE:\nadmins: z\n");
    res = read_conf(missing, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 2);
    m = xasprintf("%s:2: cannot include '%s/inc/nothere.conf': No such file or directory",
                  missing, harness_tmpdir());
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    m = xasprintf("%s:3: syntax error: @include needs a file name", missing);
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    CU_ASSERT_TRUE(config_is_admin("z"));
    free(third);
    free(sub);
    free(main_conf);
    free(missing);
}

static void test_include_loop(void)
{
    char *a = write_conf("loop/a.conf", "timeout: 40\n@include: b.conf\nadmins: x\n");
    char *b = write_conf("loop/b.conf", "# b\n@include: a.conf\n");
    struct result *res = read_conf(a, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 1);
    CU_ASSERT_TRUE(has_msg(&res->errors, "loop/b.conf:2: include loop"));
    if (res->errors.count != 1) dump("error", &res->errors);
    /* the rest is still read */
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 40 * 60);
    CU_ASSERT_TRUE(config_is_admin("x"));

    char *self = write_conf("loop/self.conf", "@include: self.conf\n");
    res = read_conf(self, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_TRUE(has_msg(&res->errors, "self.conf:1: include loop"));

    /* including the same file twice (not nested) is fine */
    char *inc = write_conf("loop/common.conf", "admins: y\n");
    char *twice =
        write_conf("loop/twice.conf", "@include: common.conf\n@include: common.conf\n");
    res = read_conf(twice, NULL);
    CU_ASSERT_EQUAL(res->r, 0);
    CU_ASSERT_TRUE(config_is_admin("y"));
    free(a);
    free(b);
    free(self);
    free(inc);
    free(twice);
}

struct seen {
    struct strarray lines;
};

static void collect(const char *key, const char *value, const char *file, int line,
                    void *rock)
{
    struct seen *s = rock;
    const char *slash = strrchr(file, '/');
    strarray_appendm(
        &s->lines, xasprintf("%s=%s@%s:%d", key, value, slash ? slash + 1 : file, line));
}

static void test_duplicates(void)
{
    char *path = write_conf("dup.conf", "timeout: 40\n"
                                        "admins: a\n"
                                        "TIMEOUT: 50\n"
                                        "unknownthing: 1\n"
                                        "timeout: 60\n"
                                        "quotawarn: bad\n");
    struct result *res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 60 * 60);
    struct seen s = {STRARRAY_INITIALIZER};
    config_foreach_set(collect, &s);
    CU_ASSERT_EQUAL(s.lines.count, 3);
    CU_ASSERT_STRING_EQUAL(strarray_nth(&s.lines, 0), "admins=a@dup.conf:2");
    CU_ASSERT_STRING_EQUAL(strarray_nth(&s.lines, 1), "unknownthing=1@dup.conf:4");
    CU_ASSERT_STRING_EQUAL(strarray_nth(&s.lines, 2), "timeout=60@dup.conf:5");
    strarray_free(&s.lines);
    free(path);
}

static void test_long_lines(void)
{
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, "suppress_capabilities: ");
    for (int i = 0; i < 20000; i++)
        buf_appendcstr(&b, "CAPABILIT "); /* 200 KB */
    buf_appendcstr(&b, "END\n");
    /* continuation lines join without extra blanks */
    buf_appendcstr(&b, "admins: alice\\\n bob\\\n");
    buf_appendcstr(&b, "  carol\n");
    buf_appendcstr(&b, "defaultacl: anyone lrs\n"); /* line 4 */
    buf_appendcstr(&b, "timeout: ");                /* line 5: too long */
    for (int i = 0; i < 1100000; i++)
        buf_putc(&b, '9');
    buf_appendcstr(&b, "\nquotawarn: 80\n"); /* line 6 */
    char *path = write_conf("long.conf", buf_cstring(&b));
    buf_free(&b);

    struct result *res = read_conf(path, NULL);
    CU_ASSERT_EQUAL(res->r, CYRERR_CONFIG);
    CU_ASSERT_EQUAL(res->errors.count, 1);
    char *m = xasprintf("%s:6: line longer than", path);
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    if (res->errors.count != 1) dump("error", &res->errors);
    const char *caps = config_getstring(IMAPOPT_SUPPRESS_CAPABILITIES);
    CU_ASSERT_PTR_NOT_NULL_FATAL(caps);
    CU_ASSERT_EQUAL(strlen(caps), 200003);
    CU_ASSERT_STRING_EQUAL(caps + 200000, "END");
    CU_ASSERT_STRING_EQUAL(config_getstring(IMAPOPT_ADMINS), "alice bob  carol");
    CU_ASSERT_TRUE(config_is_admin("carol"));
    CU_ASSERT_EQUAL(config_getint(IMAPOPT_QUOTAWARN), 80);
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 32 * 60);
    free(path);
}

static void test_missing_file(void)
{
    char *path = xasprintf("%s/does/not/exist.conf", harness_tmpdir());
    struct result *res = read_conf(path, "imapd");
    CU_ASSERT_EQUAL(res->r, CYRERR_IO);
    CU_ASSERT_EQUAL(res->errors.count, 1);
    char *m = xasprintf("%s: cannot read: No such file or directory", path);
    CU_ASSERT_TRUE(has_msg(&res->errors, m));
    free(m);
    /* defaults are in force; NULL arrays are allowed */
    CU_ASSERT_EQUAL(config_getduration(IMAPOPT_TIMEOUT), 32 * 60);
    CU_ASSERT_EQUAL(config_read(path, NULL, NULL, NULL), CYRERR_IO);
    free(path);
}

/* Run fn in a child with stderr silenced; returns its exit status or -1. */
static int in_child(void (*fn)(const void *), const void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 2);
        fn(arg);
        _exit(0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static void child_read_or_exit(const void *arg)
{
    config_read_or_exit(arg, "imapd");
}

static void child_wrong_type(const void *arg)
{
    (void)arg;
    config_getswitch(IMAPOPT_TIMEOUT);
}

static void child_out_of_range(const void *arg)
{
    (void)arg;
    config_getstring((enum imapopt)IMAPOPT_LAST);
}

static void test_fatal_paths(void)
{
    char *bad = write_conf("exit-bad.conf", "timeout: never\n");
    char *warn = write_conf("exit-warn.conf", "timeoutt: 5\n");
    char *missing = xasprintf("%s/no/such.conf", harness_tmpdir());
    CU_ASSERT_EQUAL(in_child(child_read_or_exit, bad), 75);
    CU_ASSERT_EQUAL(in_child(child_read_or_exit, missing), 75);
    CU_ASSERT_EQUAL(in_child(child_read_or_exit, warn), 0);
    CU_ASSERT_EQUAL(in_child(child_wrong_type, NULL), 70);
    CU_ASSERT_EQUAL(in_child(child_out_of_range, NULL), 70);
    free(bad);
    free(warn);
    free(missing);
}

/* ---- the man page and cyr_info ------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    struct buf b = BUF_INITIALIZER;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_appendmap(&b, chunk, n);
    fclose(f);
    return buf_release(&b);
}

/* The source tree: TOP_SRCDIR, else automake's srcdir (the serial test
 * harness exports only that), else the harness's guess. */
static const char *srcdir(void)
{
    const char *s = getenv("TOP_SRCDIR");
    if (!s || !*s) s = getenv("srcdir");
    return s && *s ? s : harness_srcdir();
}

/* The build tree: TOP_BUILDDIR, else the current directory (make check
 * runs the tests from the top of the build tree). */
static const char *builddir(void)
{
    const char *s = getenv("TOP_BUILDDIR");
    return s && *s ? s : ".";
}

static void test_manpage(void)
{
    char *path = xasprintf("%s/man/imapd.conf.5", srcdir());
    char *man = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(man);
    /* every option in the table has its entry ... */
    for (int i = 1; i < IMAPOPT_LAST; i++) {
        char *entry = xasprintf("\n.TP\n.B %s:\n", imapopt_table[i].name);
        int found = strstr(man, entry) != NULL;
        CU_ASSERT_TRUE(found);
        if (!found) fprintf(stderr, "imapd.conf.5 lacks %s\n", imapopt_table[i].name);
        free(entry);
    }
    /* ... and every entry of the OPTIONS section is an option of the table */
    char *section = strstr(man, "\n.SH OPTIONS\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(section);
    char *end = strstr(section + 1, "\n.SH ");
    if (end) *end = '\0';
    for (const char *p = strstr(section, "\n.TP\n.B "); p;
         p = strstr(p + 1, "\n.TP\n.B ")) {
        const char *name = p + 8;
        const char *colon = strchr(name, ':');
        CU_ASSERT_PTR_NOT_NULL_FATAL(colon);
        char *opt = xstrndup(name, (size_t)(colon - name));
        CU_ASSERT_NOT_EQUAL(config_lookup(opt), IMAPOPT_ZERO);
        if (config_lookup(opt) == IMAPOPT_ZERO)
            fprintf(stderr, "imapd.conf.5 documents unknown %s\n", opt);
        free(opt);
    }
    free(man);
    free(path);
}

/* Run cyr_info with `args`; returns the exit status, output in *out. */
static int run_cyr_info(const char *args, char **out)
{
    char *cmd = xasprintf("%s/imap/tools/cyr_info %s 2>&1", builddir(), args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    struct buf b = BUF_INITIALIZER;
    char chunk[4096];
    size_t n;
    while (p && (n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        buf_appendmap(&b, chunk, n);
    int st = p ? pclose(p) : -1;
    *out = buf_release(&b);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cyr_info(void)
{
    char *bin = xasprintf("%s/imap/tools/cyr_info", builddir());
    int present = access(bin, X_OK) == 0;
    free(bin);
    if (!present) {
        fprintf(stderr, "cyr_info not built in %s: skipped\n", builddir());
        return;
    }

    char *good = write_conf(
        "info/good.conf",
        "configdirectory: /srv/x\ntimeout: 40\nlmtp_timeout: 50\ntimeoutt: 1\n");
    char *bad = write_conf("info/bad.conf", "timeout: 40\nallowplaintext: sure\n");
    char *out, *args;

    args = xasprintf("-C %s conf", good);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out, "\nconfigdirectory: /srv/x\ntimeout: 40\nlmtp_timeout: 50\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out, "good.conf:4: unknown option 'timeoutt' (did you mean 'timeout'?)"));
    free(out);
    free(args);

    args = xasprintf("-C %s -n lmtp conf-all", good);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ntimeout: 50\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nlmtpsocket: /srv/x/socket/lmtp\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nservername:\n"));
    free(out);
    free(args);

    args = xasprintf("-C %s conf-default", good);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ntimeout: 32m\n"));
    free(out);
    free(args);

    args = xasprintf("-C %s conf-lint", bad);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out, "bad.conf:2: bad value for option 'allowplaintext'"));
    free(out);
    free(args);

    args = xasprintf("-C %s conf-lint", good);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 0);
    free(out);
    free(args);

    args = xasprintf("-C %s conf", bad);
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 75);
    free(out);
    free(args);

    args = xasprintf("-C %s/info/none.conf conf-all", harness_tmpdir());
    CU_ASSERT_EQUAL(run_cyr_info(args, &out), 75);
    free(out);
    free(args);

    CU_ASSERT_EQUAL(run_cyr_info("options", &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ntimeout\tduration(m)\t32m\t"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out, "\ndelete_mode\tenum(immediate|delayed)\tdelayed\t"));
    free(out);
    CU_ASSERT_EQUAL(run_cyr_info("bogus", &out), 64);
    free(out);
    free(good);
    free(bad);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("config", NULL, cleanup_suite);
    ADD_TEST(s, test_table);
    ADD_TEST(s, test_defaults);
    ADD_TEST(s, test_read_good);
    ADD_TEST(s, test_bad_values);
    ADD_TEST(s, test_syntax_errors);
    ADD_TEST(s, test_unknown_keys);
    ADD_TEST(s, test_overrides);
    ADD_TEST(s, test_patterns);
    ADD_TEST(s, test_include);
    ADD_TEST(s, test_include_loop);
    ADD_TEST(s, test_duplicates);
    ADD_TEST(s, test_long_lines);
    ADD_TEST(s, test_missing_file);
    ADD_TEST(s, test_fatal_paths);
    ADD_TEST(s, test_manpage);
    ADD_TEST(s, test_cyr_info);
}
