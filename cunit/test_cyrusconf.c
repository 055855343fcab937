/* Tests of master/cyrusconf (the cyrus.conf parser), plus the small pure
 * helpers master builds on it: the status pipe messages, the event clock
 * and the throttling backoff. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cunit/harness.h"
#include "error.h"
#include "master/cyrusconf.h"
#include "master/events.h"
#include "master/services.h"
#include "master/status.h"
#include "strarray.h"
#include "xmalloc.h"

/* ---- helpers ------------------------------------------------------------ */

static struct cyrusconf *parse_ok(const char *text)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = NULL;
    int r = cyrusconf_parse_string(text, "test.conf", &conf, &errors);
    if (r) {
        for (int i = 0; i < errors.count; i++) fprintf(stderr, "  %s\n", errors.data[i]);
    }
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(errors.count, 0);
    CU_ASSERT_PTR_NOT_NULL(conf);
    strarray_free(&errors);
    return conf;
}

/* Expect failure with an error at `line` that contains `text`. */
static void expect_error(const char *conf_text, int line, const char *text)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = (struct cyrusconf *)1;
    int r = cyrusconf_parse_string(conf_text, "test.conf", &conf, &errors);
    CU_ASSERT_EQUAL(r, CYRERR_CONFIG);
    CU_ASSERT_PTR_NULL(conf);
    char *prefix = xasprintf("test.conf:%d: ", line);
    int found = 0;
    for (int i = 0; i < errors.count; i++) {
        if (!strncmp(errors.data[i], prefix, strlen(prefix)) &&
            strstr(errors.data[i], text))
            found = 1;
    }
    if (!found) {
        fprintf(stderr, "\nwanted \"%s...%s\", got:\n", prefix, text);
        for (int i = 0; i < errors.count; i++) fprintf(stderr, "  %s\n", errors.data[i]);
    }
    CU_ASSERT(found);
    free(prefix);
    strarray_free(&errors);
}

/* One SERVICES entry with the given arguments; error on line 2. */
static void expect_service_error(const char *args, const char *text)
{
    char *conf = xasprintf("SERVICES {\n  svc %s\n}\n", args);
    expect_error(conf, 2, text);
    free(conf);
}

static void expect_event_error(const char *args, const char *text)
{
    char *conf = xasprintf("EVENTS {\n  ev %s\n}\n", args);
    expect_error(conf, 2, text);
    free(conf);
}

/* ---- well-formed files -------------------------------------------------- */

static const char *full_conf =
    "# a full example\n"
    "START {\n"
    "  recover cmd=\"ctl_cyrusdb -r\"\n"
    "  second  cmd=\"/bin/true\"   # trailing comment\n"
    "}\n"
    "\n"
    "SERVICES {\n"
    "  imap   cmd=\"imapd -C /etc/imapd.conf -U 30\" listen=\"imap\" prefork=5 maxchild=100\n"
    "  imaps  cmd=\"imapd -s\" listen=993 prefork=1 maxforkrate=20 maxfds=1024\n"
    "  lmtp   cmd=\"lmtpd -a\" listen=\"127.0.0.1:2003\" proto=tcp4\n"
    "  lmtpunix cmd=\"lmtpd\" listen=\"/run/cyrus/socket/lmtp\"\n"
    "  mupdate cmd=\"mupdate -m\" listen=\"[::1]:3905\" prefork=1 proto=tcp6\n"
    "  sieve  cmd=timsieved listen=sieve babysit=1\n"
    "  notify cmd=\"notifyd\" listen=\"localhost:4000\" proto=udp prefork=1\n"
    "}\n"
    "EVENTS {\n"
    "  checkpoint cmd=\"ctl_cyrusdb -c\" period=30\n"
    "  fast       cmd=\"tick\" period=10s\n"
    "  delprune   cmd=\"cyr_expire -E 3\" at=0400\n"
    "  hourly     cmd=\"x\" period=2h\n"
    "  daily      cmd=\"x\" period=1d\n"
    "  minutes    cmd=\"x\" period=5m\n"
    "}\n"
    "DAEMON {\n"
    "  idled cmd=\"idled\"\n"
    "}\n";

static void test_full_example(void)
{
    struct cyrusconf *c = parse_ok(full_conf);
    if (!c) return;
    CU_ASSERT_STRING_EQUAL(c->file, "test.conf");
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_START], 2);
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_SERVICES], 7);
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_EVENTS], 6);
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_DAEMON], 1);

    /* file order is kept */
    CU_ASSERT_STRING_EQUAL(c->entries[CYRUSCONF_START][0]->name, "recover");
    CU_ASSERT_STRING_EQUAL(c->entries[CYRUSCONF_START][1]->name, "second");
    CU_ASSERT_EQUAL(c->entries[CYRUSCONF_START][1]->line, 4);

    const struct cyrusconf_entry *e = cyrusconf_find(c, CYRUSCONF_SERVICES, "imap");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->line, 8);
    CU_ASSERT_STRING_EQUAL(e->cmd, "imapd -C /etc/imapd.conf -U 30");
    CU_ASSERT_EQUAL(e->argv.count, 5);
    CU_ASSERT_STRING_EQUAL(e->argv.data[0], "imapd");
    CU_ASSERT_STRING_EQUAL(e->argv.data[4], "30");
    CU_ASSERT_PTR_NULL(e->argv.data[5]);
    CU_ASSERT_STRING_EQUAL(e->listen, "imap");
    CU_ASSERT_FALSE(e->addr.is_unix);
    CU_ASSERT_PTR_NULL(e->addr.host);
    CU_ASSERT_STRING_EQUAL(e->addr.port, "imap");
    CU_ASSERT_EQUAL(e->proto, NET_TCP);
    CU_ASSERT_EQUAL(e->prefork, 5);
    CU_ASSERT_EQUAL(e->maxchild, 100);
    CU_ASSERT_EQUAL(e->maxforkrate, 0);
    CU_ASSERT_EQUAL(e->maxfds, 256);
    CU_ASSERT_EQUAL(e->babysit, 0);

    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "imaps");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->addr.port, "993");
    CU_ASSERT_EQUAL(e->maxforkrate, 20);
    CU_ASSERT_EQUAL(e->maxfds, 1024);
    CU_ASSERT_EQUAL(e->maxchild, -1);

    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "lmtp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->addr.host, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(e->addr.port, "2003");
    CU_ASSERT_EQUAL(e->proto, NET_TCP4);

    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "lmtpunix");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_TRUE(e->addr.is_unix);
    CU_ASSERT_STRING_EQUAL(e->addr.path, "/run/cyrus/socket/lmtp");

    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "mupdate");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->addr.host, "::1");
    CU_ASSERT_STRING_EQUAL(e->addr.port, "3905");
    CU_ASSERT_EQUAL(e->proto, NET_TCP6);

    /* babysit: prefork at least 1, maxforkrate 10 when unset */
    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "sieve");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->babysit, 1);
    CU_ASSERT_EQUAL(e->prefork, 1);
    CU_ASSERT_EQUAL(e->maxforkrate, 10);
    CU_ASSERT_EQUAL(e->argv.count, 1);

    e = cyrusconf_find(c, CYRUSCONF_SERVICES, "notify");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->proto, NET_UDP);
    CU_ASSERT_STRING_EQUAL(e->addr.host, "localhost");

    /* events: period in minutes, or with a unit; at */
    e = cyrusconf_find(c, CYRUSCONF_EVENTS, "checkpoint");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->period, 30 * 60);
    CU_ASSERT_EQUAL(e->at, -1);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "fast")->period, 10);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "hourly")->period, 7200);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "daily")->period, 86400);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "minutes")->period, 300);
    e = cyrusconf_find(c, CYRUSCONF_EVENTS, "delprune");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->at, 4 * 60);
    CU_ASSERT_EQUAL(e->period, 0);

    CU_ASSERT_PTR_NOT_NULL(cyrusconf_find(c, CYRUSCONF_DAEMON, "idled"));
    /* lookups are per section */
    CU_ASSERT_PTR_NULL(cyrusconf_find(c, CYRUSCONF_DAEMON, "imap"));
    CU_ASSERT_PTR_NULL(cyrusconf_find(c, CYRUSCONF_SERVICES, "nosuch"));
    CU_ASSERT_PTR_NULL(cyrusconf_find(NULL, CYRUSCONF_SERVICES, "imap"));
    cyrusconf_free(&c);
    CU_ASSERT_PTR_NULL(c);
    cyrusconf_free(&c);   /* harmless twice */
}

static void test_empty_and_comments(void)
{
    struct cyrusconf *c = parse_ok("");
    for (int s = 0; s < CYRUSCONF_NSECTIONS; s++) CU_ASSERT_EQUAL(c->count[s], 0);
    cyrusconf_free(&c);

    c = parse_ok("# only a comment\n\n   \t\n  # indented\nSERVICES {\n}\nSTART{\n}\n");
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_SERVICES], 0);
    cyrusconf_free(&c);

    /* '#' inside quotes is not a comment; after a value it is */
    c = parse_ok("START {\n a cmd=\"echo #1\"#comment\n b cmd=x # c=d\n}\n");
    CU_ASSERT_STRING_EQUAL(cyrusconf_find(c, CYRUSCONF_START, "a")->cmd, "echo #1");
    CU_ASSERT_STRING_EQUAL(cyrusconf_find(c, CYRUSCONF_START, "b")->cmd, "x");
    cyrusconf_free(&c);
}

static void test_quoting(void)
{
    struct cyrusconf *c = parse_ok(
        "START {\n"
        "  a cmd=\"sh -c 'echo a  b; exit 1'\"\n"
        "  b cmd=\"say \\\"hi there\\\" back\\\\slash\"\n"
        "  c cmd=plain\n"
        "}\n");
    const struct cyrusconf_entry *e = cyrusconf_find(c, CYRUSCONF_START, "a");
    CU_ASSERT_EQUAL(e->argv.count, 3);
    CU_ASSERT_STRING_EQUAL(e->argv.data[0], "sh");
    CU_ASSERT_STRING_EQUAL(e->argv.data[1], "-c");
    CU_ASSERT_STRING_EQUAL(e->argv.data[2], "echo a  b; exit 1");
    e = cyrusconf_find(c, CYRUSCONF_START, "b");
    CU_ASSERT_STRING_EQUAL(e->cmd, "say \"hi there\" back\\slash");
    CU_ASSERT_EQUAL(e->argv.count, 3);
    CU_ASSERT_STRING_EQUAL(e->argv.data[1], "hi there");
    CU_ASSERT_STRING_EQUAL(e->argv.data[2], "back\\slash");
    cyrusconf_free(&c);
}

static void test_crlf_and_layout(void)
{
    /* CRLF line ends, tabs, no space before '{', a section reopened */
    struct cyrusconf *c = parse_ok("SERVICES{\r\n\techo\tcmd=\"echod\"\tlisten=2000\r\n}\r\n"
                                   "SERVICES {\r\n two cmd=x listen=2001 \r\n}  \r\n");
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_SERVICES], 2);
    const struct cyrusconf_entry *e = cyrusconf_find(c, CYRUSCONF_SERVICES, "echo");
    CU_ASSERT_STRING_EQUAL(e->listen, "2000");
    CU_ASSERT_STRING_EQUAL(e->cmd, "echod");
    CU_ASSERT_STRING_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "two")->listen, "2001");
    cyrusconf_free(&c);

    /* no newline at the end of the file */
    c = parse_ok("DAEMON {\n d cmd=x\n}");
    CU_ASSERT_EQUAL(c->count[CYRUSCONF_DAEMON], 1);
    cyrusconf_free(&c);
}

static void test_limits_ok(void)
{
    struct cyrusconf *c = parse_ok(
        "SERVICES {\n"
        " a cmd=x listen=1 prefork=10000 maxchild=100000 maxforkrate=100000 maxfds=1048576\n"
        " b cmd=x listen=2 prefork=0 maxchild=-1 maxforkrate=0 maxfds=0 babysit=no\n"
        " c cmd=x listen=3 prefork=3 maxchild=3 maxfds=16 babysit=yes\n"
        " d cmd=x listen=4 babysit=1 maxforkrate=3 prefork=2\n"
        "}\n"
        "EVENTS {\n e cmd=x at=2359\n f cmd=x at=0000\n g cmd=x period=366d\n}\n");
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "a")->prefork, 10000);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "b")->maxfds, 0);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "c")->babysit, 1);
    /* babysit keeps a larger prefork and an explicit maxforkrate */
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "d")->prefork, 2);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_SERVICES, "d")->maxforkrate, 3);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "e")->at, 23 * 60 + 59);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "f")->at, 0);
    CU_ASSERT_EQUAL(cyrusconf_find(c, CYRUSCONF_EVENTS, "g")->period, 366L * 86400);
    cyrusconf_free(&c);
}

/* ---- errors: structure ---------------------------------------------------- */

static void test_error_structure(void)
{
    expect_error("SERVICES {\n a cmd=x listen=1\n} extra\n", 3, "text after '}'");
    expect_error("}\n", 1, "'}' without an open section");
    expect_error("START {\n}\n}\n", 3, "'}' without an open section");
    expect_error("{\n}\n", 1, "section header without a name");
    expect_error("\nSERVICE {\n a cmd=x\n}\n", 2, "unknown section \"SERVICE\"");
    expect_error("services {\n}\n", 1, "unknown section \"services\"");
    expect_error("START { a cmd=x\n}\n", 1, "text after '{'");
    expect_error("START {\nSERVICES {\n}\n", 2, "section SERVICES opened inside section START");
    expect_error("a cmd=x\n", 1, "entry outside a section");
    expect_error("START {\n}\n  a cmd=x\n", 3, "entry outside a section");
    expect_error("\n\nSTART {\n a cmd=x\n", 3, "section START is not closed");
    expect_error("FOO {\n a cmd=x\n", 1, "not closed");
}

static void test_error_entries(void)
{
    expect_error("START {\n a-b cmd=x\n}\n", 2, "bad entry name \"a-b\"");
    expect_error("START {\n a_b cmd=x\n}\n", 2, "bad entry name");
    expect_error("SERVICES {\n dup cmd=x listen=1\n dup cmd=y listen=2\n}\n", 3,
                 "dup: entry defined twice in SERVICES (first at line 2)");
    expect_error("START {\n a cmd\n}\n", 2, "\"cmd\" is not of the form key=value");
    expect_error("START {\n a cmd=x junk\n}\n", 2, "\"junk\" is not of the form key=value");
    expect_error("START {\n a cmd=\"x\n}\n", 2, "unterminated quoted value");
    expect_error("START {\n a cmd=\"x\"y\n}\n", 2, "text directly after a quoted value");
    expect_error("START {\n a cmd=x\"y\"\n}\n", 2, "quote inside an unquoted value");
    expect_error("START {\n a cmd=x color=red\n}\n", 2, "a: unknown key \"color\" in START");
    expect_error("START {\n a cmd=x listen=1\n}\n", 2, "unknown key \"listen\" in START");
    expect_error("EVENTS {\n a cmd=x period=1 prefork=1\n}\n", 2,
                 "unknown key \"prefork\" in EVENTS");
    expect_error("DAEMON {\n a cmd=x period=1\n}\n", 2, "unknown key \"period\" in DAEMON");
    expect_error("SERVICES {\n a cmd=x listen=1 at=0100\n}\n", 2,
                 "unknown key \"at\" in SERVICES");
    expect_error("START {\n a cmd=x cmd=y\n}\n", 2, "a: cmd= given twice");
    expect_error("START {\n a cmd=\"\"\n}\n", 2, "a: cmd= has an empty value");
    expect_error("START {\n a cmd=\n}\n", 2, "cmd= has an empty value");
    expect_error("START {\n a cmd=\"   \"\n}\n", 2, "a: cmd is empty");
    expect_error("START {\n a cmd=\"sh -c 'oops\"\n}\n", 2, "unterminated quote in cmd");
    expect_error("START {\n a\n}\n", 2, "a: START entry needs cmd=");
    expect_error("DAEMON {\n a\n}\n", 2, "a: DAEMON entry needs cmd=");
    expect_error("EVENTS {\n a period=5\n}\n", 2, "a: EVENTS entry needs cmd=");
    expect_error("SERVICES {\n a listen=1\n}\n", 2, "a: SERVICES entry needs cmd=");
    expect_error("SERVICES {\n a cmd=x\n}\n", 2, "a: SERVICES entry needs listen=");
}

static void test_error_service_values(void)
{
    expect_service_error("cmd=x listen=\"\"", "listen= has an empty value");
    expect_service_error("cmd=x listen=relative/path", "bad listen address \"relative/path\"");
    expect_service_error("cmd=x listen=\"[::1\"", "bad listen address \"[::1\"");
    expect_service_error("cmd=x listen=\"127.0.0.1:99999\"", "bad listen address");
    expect_service_error("cmd=x listen=no-such-service-name", "bad listen address");
    expect_service_error("cmd=x listen=\"::1:143\"", "bad listen address");
    expect_service_error("cmd=x listen=1 proto=sctp",
                         "proto must be tcp, tcp4, tcp6 or udp, not \"sctp\"");
    expect_service_error("cmd=x listen=1 prefork=-1", "prefork must be a number from 0");
    expect_service_error("cmd=x listen=1 prefork=many", "prefork must be");
    expect_service_error("cmd=x listen=1 prefork=10001", "prefork must be");
    expect_service_error("cmd=x listen=1 prefork=1.5", "prefork must be");
    expect_service_error("cmd=x listen=1 prefork=99999999999999999999", "prefork must be");
    expect_service_error("cmd=x listen=1 maxchild=0", "maxchild must be -1 (no limit)");
    expect_service_error("cmd=x listen=1 maxchild=-2", "maxchild must be");
    expect_service_error("cmd=x listen=1 maxchild=-", "maxchild must be");
    expect_service_error("cmd=x listen=1 maxforkrate=-1", "maxforkrate must be");
    expect_service_error("cmd=x listen=1 maxforkrate=fast", "maxforkrate must be");
    expect_service_error("cmd=x listen=1 maxfds=15", "maxfds must be 0 or from 16");
    expect_service_error("cmd=x listen=1 maxfds=-1", "maxfds must be");
    expect_service_error("cmd=x listen=1 maxfds=2000000", "maxfds must be");
    expect_service_error("cmd=x listen=1 babysit=2", "babysit must be 0 or 1");
    expect_service_error("cmd=x listen=1 babysit=maybe", "babysit must be 0 or 1");
    expect_service_error("cmd=x listen=1 prefork=5 maxchild=4",
                         "prefork=5 is larger than maxchild=4");
    expect_service_error("cmd=x listen=/run/x.sock proto=udp",
                         "proto=udp cannot be used with a unix socket");
}

static void test_error_event_values(void)
{
    expect_event_error("cmd=x", "ev: EVENTS entry needs period= or at=");
    expect_event_error("cmd=x period=5 at=0100", "give either period= or at=, not both");
    expect_event_error("cmd=x period=0", "period must be a positive number");
    expect_event_error("cmd=x period=0s", "period must be");
    expect_event_error("cmd=x period=-5", "period must be");
    expect_event_error("cmd=x period=10x", "period must be");
    expect_event_error("cmd=x period=s", "period must be");
    expect_event_error("cmd=x period=10ss", "period must be");
    expect_event_error("cmd=x period=367d", "period must be");
    expect_event_error("cmd=x period=99999999999999999999", "period must be");
    expect_event_error("cmd=x at=2400", "at must be a time HHMM");
    expect_event_error("cmd=x at=1260", "at must be");
    expect_event_error("cmd=x at=123", "at must be");
    expect_event_error("cmd=x at=12345", "at must be");
    expect_event_error("cmd=x at=ab00", "at must be");
}

static void test_error_limits(void)
{
    /* a line longer than the limit */
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, "START {\n a cmd=\"");
    for (int i = 0; i < CYRUSCONF_MAX_LINE; i++) buf_putc(&b, 'x');
    buf_appendcstr(&b, "\"\n}\n");
    expect_error(buf_cstring(&b), 2, "line is longer than");

    /* a file larger than the limit */
    buf_reset(&b);
    while (buf_len(&b) <= CYRUSCONF_MAX_FILE) buf_appendcstr(&b, "# filler filler filler\n");
    expect_error(buf_cstring(&b), 0, "file is larger than");
    buf_free(&b);
}

static void test_all_errors_reported(void)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = NULL;
    int r = cyrusconf_parse_string("SERVICES {\n a cmd=x listen=1 prefork=x\n"
                                   " b cmd=x listen=1 maxchild=0\n"
                                   " c cmd=x listen=1\n"
                                   "}\nBOGUS {\n}\n",
                                   "multi.conf", &conf, &errors);
    CU_ASSERT_EQUAL(r, CYRERR_CONFIG);
    CU_ASSERT_PTR_NULL(conf);
    CU_ASSERT_EQUAL(errors.count, 3);
    CU_ASSERT(errors.count > 0 && !strncmp(errors.data[0], "multi.conf:2: ", 14));
    CU_ASSERT(errors.count > 1 && !strncmp(errors.data[1], "multi.conf:3: ", 14));
    CU_ASSERT(errors.count > 2 && !strncmp(errors.data[2], "multi.conf:6: ", 14));
    strarray_free(&errors);

    /* a NULL error list is allowed */
    r = cyrusconf_parse_string("}\n", NULL, &conf, NULL);
    CU_ASSERT_EQUAL(r, CYRERR_CONFIG);
    CU_ASSERT_PTR_NULL(conf);
}

/* ---- files ------------------------------------------------------------- */

static char *write_file(const char *name, const char *data, size_t len)
{
    char *path = strconcat(harness_tmpdir(), "/", name, (char *)NULL);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static void test_files(void)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct cyrusconf *conf = NULL;

    char *path = write_file("good.conf", full_conf, strlen(full_conf));
    CU_ASSERT_EQUAL(cyrusconf_parse_file(path, &conf, &errors), 0);
    CU_ASSERT_PTR_NOT_NULL(conf);
    if (conf) CU_ASSERT_STRING_EQUAL(conf->file, path);
    cyrusconf_free(&conf);
    free(path);

    /* errors name the file's path */
    path = write_file("bad.conf", "START {\n a cmd=x bogus=1\n}\n", 27);
    CU_ASSERT_EQUAL(cyrusconf_parse_file(path, &conf, &errors), CYRERR_CONFIG);
    CU_ASSERT_PTR_NULL(conf);
    CU_ASSERT_EQUAL_FATAL(errors.count, 1);
    char *want = xasprintf("%s:2: a: unknown key \"bogus\"", path);
    CU_ASSERT_NSTRING_EQUAL(errors.data[0], want, strlen(want));
    free(want);
    free(path);
    strarray_free(&errors);

    /* a NUL byte */
    path = write_file("nul.conf", "START {\0}\n", 10);
    CU_ASSERT_EQUAL(cyrusconf_parse_file(path, &conf, &errors), CYRERR_CONFIG);
    CU_ASSERT(errors.count == 1 && strstr(errors.data[0], "NUL byte"));
    free(path);
    strarray_free(&errors);

    /* too large */
    size_t big = CYRUSCONF_MAX_FILE + 10;
    char *data = xmalloc(big);
    memset(data, '#', big);
    path = write_file("big.conf", data, big);
    CU_ASSERT_EQUAL(cyrusconf_parse_file(path, &conf, &errors), CYRERR_CONFIG);
    CU_ASSERT(errors.count == 1 && strstr(errors.data[0], "file is larger than"));
    free(data);
    free(path);
    strarray_free(&errors);

    /* missing */
    path = strconcat(harness_tmpdir(), "/missing.conf", (char *)NULL);
    CU_ASSERT_EQUAL(cyrusconf_parse_file(path, &conf, &errors), CYRERR_IO);
    CU_ASSERT_PTR_NULL(conf);
    CU_ASSERT(errors.count == 1 && strstr(errors.data[0], "cannot open"));
    free(path);
    strarray_free(&errors);

    /* a directory cannot be read */
    CU_ASSERT_EQUAL(cyrusconf_parse_file(harness_tmpdir(), &conf, &errors), CYRERR_IO);
    CU_ASSERT(errors.count == 1 && strstr(errors.data[0], "cannot read"));
    strarray_free(&errors);
}

/* The samples shipped in conf/ must stay valid. */
static void test_shipped_samples(void)
{
    static const char *const samples[] = {
        "cyrus-standalone.conf", "cyrus-backend.conf", "cyrus-frontend.conf",
        "cyrus-mupdate.conf",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct strarray errors = STRARRAY_INITIALIZER;
        struct cyrusconf *conf = NULL;
        char *path = strconcat(harness_srcdir(), "/conf/", samples[i], (char *)NULL);
        int r = cyrusconf_parse_file(path, &conf, &errors);
        for (int j = 0; j < errors.count; j++) fprintf(stderr, "  %s\n", errors.data[j]);
        CU_ASSERT_EQUAL(r, 0);
        if (conf) {
            CU_ASSERT(conf->count[CYRUSCONF_SERVICES] >= 1);
            CU_ASSERT(conf->count[CYRUSCONF_START] >= 1);
        }
        cyrusconf_free(&conf);
        strarray_free(&errors);
        free(path);
    }
}

/* ---- helpers of the parser ------------------------------------------- */

static void test_split_cmd(void)
{
    struct strarray sa = STRARRAY_INITIALIZER;
    const char *err = NULL;
    CU_ASSERT_EQUAL(cyrusconf_split_cmd("  a  'b c'\t\"d 'e'\" f''g ''", &sa, &err), 0);
    CU_ASSERT_EQUAL(sa.count, 5);
    CU_ASSERT_STRING_EQUAL(sa.data[0], "a");
    CU_ASSERT_STRING_EQUAL(sa.data[1], "b c");
    CU_ASSERT_STRING_EQUAL(sa.data[2], "d 'e'");
    CU_ASSERT_STRING_EQUAL(sa.data[3], "fg");
    CU_ASSERT_STRING_EQUAL(sa.data[4], "");
    strarray_free(&sa);

    CU_ASSERT_EQUAL(cyrusconf_split_cmd("a 'b", &sa, &err), CYRERR_PARSE);
    CU_ASSERT_STRING_EQUAL(err, "unterminated quote in cmd");
    CU_ASSERT_EQUAL(sa.count, 0);   /* nothing half-done is left */
    CU_ASSERT_EQUAL(cyrusconf_split_cmd(" \t ", &sa, &err), CYRERR_PARSE);
    CU_ASSERT_STRING_EQUAL(err, "cmd is empty");
    strarray_free(&sa);
}

static void test_period_and_at(void)
{
    long s = -1;
    int m = -1;
    CU_ASSERT_EQUAL(cyrusconf_parse_period("15", &s), 0);
    CU_ASSERT_EQUAL(s, 900);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("1s", &s), 0);
    CU_ASSERT_EQUAL(s, 1);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("0", &s), 0);   /* the parser refuses 0 */
    CU_ASSERT_EQUAL(s, 0);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("", &s), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("1w", &s), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_period(" 1", &s), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("+1", &s), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_period("527041", &s), CYRERR_PARSE); /* > a year of minutes */

    CU_ASSERT_EQUAL(cyrusconf_parse_at("0930", &m), 0);
    CU_ASSERT_EQUAL(m, 570);
    CU_ASSERT_EQUAL(cyrusconf_parse_at("930", &m), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_at("09:30", &m), CYRERR_PARSE);
    CU_ASSERT_EQUAL(cyrusconf_parse_at("-930", &m), CYRERR_PARSE);
}

static void test_section_names(void)
{
    CU_ASSERT_STRING_EQUAL(cyrusconf_section_name(CYRUSCONF_START), "START");
    CU_ASSERT_STRING_EQUAL(cyrusconf_section_name(CYRUSCONF_SERVICES), "SERVICES");
    CU_ASSERT_STRING_EQUAL(cyrusconf_section_name(CYRUSCONF_EVENTS), "EVENTS");
    CU_ASSERT_STRING_EQUAL(cyrusconf_section_name(CYRUSCONF_DAEMON), "DAEMON");
    CU_ASSERT_STRING_EQUAL(cyrusconf_section_name(CYRUSCONF_NSECTIONS), "?");
}

static void test_entry_same(void)
{
    struct cyrusconf *a = parse_ok(
        "SERVICES {\n s cmd=\"x -a\" listen=127.0.0.1:1000 prefork=1\n"
        " t cmd=x listen=/run/t\n}\nEVENTS {\n e cmd=x period=5\n}\n");
    struct cyrusconf *b = parse_ok(
        "SERVICES {\n   s  cmd=\"x  -a\"  listen=\"127.0.0.1:1000\" prefork=1 # same\n"
        " t cmd=x listen=/run/t prefork=2\n}\nEVENTS {\n e cmd=x period=5m\n}\n");
    struct cyrusconf *c = parse_ok(
        "SERVICES {\n s cmd=\"x -b\" listen=127.0.0.1:1001\n"
        " t cmd=x listen=/run/u\n}\nEVENTS {\n e cmd=x period=6\n}\n");
    const struct cyrusconf_entry *as = cyrusconf_find(a, CYRUSCONF_SERVICES, "s");
    const struct cyrusconf_entry *bs = cyrusconf_find(b, CYRUSCONF_SERVICES, "s");
    const struct cyrusconf_entry *cs = cyrusconf_find(c, CYRUSCONF_SERVICES, "s");
    const struct cyrusconf_entry *at = cyrusconf_find(a, CYRUSCONF_SERVICES, "t");
    const struct cyrusconf_entry *bt = cyrusconf_find(b, CYRUSCONF_SERVICES, "t");
    const struct cyrusconf_entry *ct = cyrusconf_find(c, CYRUSCONF_SERVICES, "t");
    CU_ASSERT_TRUE(cyrusconf_entry_same(as, bs));       /* only layout differs */
    CU_ASSERT_FALSE(cyrusconf_entry_same(as, cs));
    CU_ASSERT_FALSE(cyrusconf_entry_same(as, at));      /* other name */
    CU_ASSERT_TRUE(cyrusconf_same_listener(as, bs));
    CU_ASSERT_FALSE(cyrusconf_same_listener(as, cs));
    CU_ASSERT_FALSE(cyrusconf_entry_same(at, bt));      /* prefork changed */
    CU_ASSERT_TRUE(cyrusconf_same_listener(at, bt));    /* ... same socket */
    CU_ASSERT_FALSE(cyrusconf_same_listener(at, ct));
    CU_ASSERT_FALSE(cyrusconf_same_listener(as, at));   /* inet vs unix */
    /* period=5 (minutes) and 5m are the same; 6 is not */
    CU_ASSERT_TRUE(cyrusconf_entry_same(cyrusconf_find(a, CYRUSCONF_EVENTS, "e"),
                                        cyrusconf_find(b, CYRUSCONF_EVENTS, "e")));
    CU_ASSERT_FALSE(cyrusconf_entry_same(cyrusconf_find(a, CYRUSCONF_EVENTS, "e"),
                                         cyrusconf_find(c, CYRUSCONF_EVENTS, "e")));
    cyrusconf_free(&a);
    cyrusconf_free(&b);
    cyrusconf_free(&c);
}

/* ---- status messages, event clock, backoff ------------------------------- */

static void test_status_messages(void)
{
    unsigned char buf[STATUS_MSG_SIZE];
    struct status_msg msg;
    status_encode(buf, STATUS_BUSY, 4242, 7);
    CU_ASSERT_EQUAL(status_decode(buf, &msg), 0);
    CU_ASSERT_EQUAL(msg.code, STATUS_BUSY);
    CU_ASSERT_EQUAL(msg.pid, 4242);
    CU_ASSERT_EQUAL(msg.seq, 7u);

    status_encode(buf, STATUS_AVAILABLE, 1, 0);
    buf[0] ^= 0xff;   /* bad magic */
    CU_ASSERT_EQUAL(status_decode(buf, &msg), CYRERR_PROTOCOL_ERROR);
    status_encode(buf, (enum status_code)9, 1, 0);
    CU_ASSERT_EQUAL(status_decode(buf, &msg), CYRERR_PROTOCOL_ERROR);
    status_encode(buf, (enum status_code)0, 1, 0);
    CU_ASSERT_EQUAL(status_decode(buf, &msg), CYRERR_PROTOCOL_ERROR);
    status_encode(buf, STATUS_EXITING, 0, 0);
    CU_ASSERT_EQUAL(status_decode(buf, &msg), CYRERR_PROTOCOL_ERROR);
    status_encode(buf, STATUS_EXITING, -5, 0);
    CU_ASSERT_EQUAL(status_decode(buf, &msg), CYRERR_PROTOCOL_ERROR);

    /* through a real pipe, as a service sends them */
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL(status_send(p[1], STATUS_AVAILABLE), 0);
    CU_ASSERT_EQUAL(status_send(p[1], STATUS_SELFSERVE), 0);
    CU_ASSERT_EQUAL(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
    CU_ASSERT_EQUAL(status_decode(buf, &msg), 0);
    CU_ASSERT_EQUAL(msg.code, STATUS_AVAILABLE);
    CU_ASSERT_EQUAL(msg.pid, getpid());
    uint32_t seq1 = msg.seq;
    CU_ASSERT_EQUAL(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
    CU_ASSERT_EQUAL(status_decode(buf, &msg), 0);
    CU_ASSERT_EQUAL(msg.code, STATUS_SELFSERVE);
    CU_ASSERT_EQUAL(msg.seq, seq1 + 1);
    close(p[0]);
    /* master gone: the send reports it instead of killing the process */
    CU_ASSERT_EQUAL(status_send(p[1], STATUS_BUSY), CYRERR_EOF);
    close(p[1]);
    CU_ASSERT_EQUAL(status_send(p[1], STATUS_BUSY), CYRERR_IO);

    CU_ASSERT_STRING_EQUAL(status_code_name(STATUS_AVAILABLE), "available");
    CU_ASSERT_STRING_EQUAL(status_code_name(STATUS_BUSY), "busy");
    CU_ASSERT_STRING_EQUAL(status_code_name(STATUS_EXITING), "exiting");
    CU_ASSERT_STRING_EQUAL(status_code_name(STATUS_SELFSERVE), "selfserve");
    CU_ASSERT_STRING_EQUAL(status_code_name((enum status_code)77), "unknown");
}

static void test_events_next_at(void)
{
    char *old = xstrdupnull(getenv("TZ"));
    setenv("TZ", "UTC", 1);
    tzset();
    /* 2023-11-14 22:13:20 UTC */
    time_t now = 1700000000;
    time_t day = now - now % 86400;
    CU_ASSERT_EQUAL(events_next_at(now, 23 * 60), day + 23 * 3600);
    CU_ASSERT_EQUAL(events_next_at(now, 4 * 60), day + 86400 + 4 * 3600);
    /* exactly now: strictly later, so tomorrow */
    CU_ASSERT_EQUAL(events_next_at(day + 600, 10), day + 86400 + 600);
    CU_ASSERT_EQUAL(events_next_at(day + 599, 10), day + 600);
    CU_ASSERT_EQUAL(events_next_at(day, 0), day + 86400);
    CU_ASSERT_EQUAL(events_next_at(day + 86399, 1439), day + 86400 + 86340);
    if (old) setenv("TZ", old, 1); else unsetenv("TZ");
    tzset();
    free(old);
}

static void test_backoff(void)
{
    CU_ASSERT_EQUAL(services_backoff_ms(0), 0);
    CU_ASSERT_EQUAL(services_backoff_ms(SERVICES_FAIL_BURST - 1), 0);
    CU_ASSERT_EQUAL(services_backoff_ms(SERVICES_FAIL_BURST), 1000);
    CU_ASSERT_EQUAL(services_backoff_ms(SERVICES_FAIL_BURST + 1), 2000);
    CU_ASSERT_EQUAL(services_backoff_ms(SERVICES_FAIL_BURST + 3), 8000);
    CU_ASSERT_EQUAL(services_backoff_ms(SERVICES_FAIL_BURST + 10), SERVICES_MAX_BACKOFF_MS);
    CU_ASSERT_EQUAL(services_backoff_ms(1000000), SERVICES_MAX_BACKOFF_MS);
}

void register_tests(void)
{
    CU_pSuite s = harness_suite("cyrusconf", NULL, NULL);
    ADD_TEST(s, test_full_example);
    ADD_TEST(s, test_empty_and_comments);
    ADD_TEST(s, test_quoting);
    ADD_TEST(s, test_crlf_and_layout);
    ADD_TEST(s, test_limits_ok);
    ADD_TEST(s, test_error_structure);
    ADD_TEST(s, test_error_entries);
    ADD_TEST(s, test_error_service_values);
    ADD_TEST(s, test_error_event_values);
    ADD_TEST(s, test_error_limits);
    ADD_TEST(s, test_all_errors_reported);
    ADD_TEST(s, test_files);
    ADD_TEST(s, test_shipped_samples);
    ADD_TEST(s, test_split_cmd);
    ADD_TEST(s, test_period_and_at);
    ADD_TEST(s, test_section_names);
    ADD_TEST(s, test_entry_same);

    s = harness_suite("master_helpers", NULL, NULL);
    ADD_TEST(s, test_status_messages);
    ADD_TEST(s, test_events_next_at);
    ADD_TEST(s, test_backoff);
}
