/* cyrusconf: the parser of cyrus.conf.  See cyrusconf.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "master/cyrusconf.h"
#include "net.h"
#include "strarray.h"
#include "xmalloc.h"

static const char *const section_names[CYRUSCONF_NSECTIONS] = {
    "START", "SERVICES", "EVENTS", "DAEMON",
};

const char *cyrusconf_section_name(enum cyrusconf_section section)
{
    return (unsigned)section < CYRUSCONF_NSECTIONS ? section_names[section] : "?";
}

/* ---- keys ------------------------------------------------------------- */

enum key_id {
    KEY_CMD, KEY_LISTEN, KEY_PROTO, KEY_PREFORK, KEY_MAXCHILD,
    KEY_MAXFORKRATE, KEY_MAXFDS, KEY_BABYSIT, KEY_PERIOD, KEY_AT,
    KEY_COUNT
};

#define IN_START    (1u << CYRUSCONF_START)
#define IN_SERVICES (1u << CYRUSCONF_SERVICES)
#define IN_EVENTS   (1u << CYRUSCONF_EVENTS)
#define IN_DAEMON   (1u << CYRUSCONF_DAEMON)

static const struct {
    const char *name;
    unsigned sections;   /* where the key is allowed */
    unsigned required;   /* where the key must be given */
} keys[KEY_COUNT] = {
    [KEY_CMD] = { "cmd", IN_START | IN_SERVICES | IN_EVENTS | IN_DAEMON,
                  IN_START | IN_SERVICES | IN_EVENTS | IN_DAEMON },
    [KEY_LISTEN] = { "listen", IN_SERVICES, IN_SERVICES },
    [KEY_PROTO] = { "proto", IN_SERVICES, 0 },
    [KEY_PREFORK] = { "prefork", IN_SERVICES, 0 },
    [KEY_MAXCHILD] = { "maxchild", IN_SERVICES, 0 },
    [KEY_MAXFORKRATE] = { "maxforkrate", IN_SERVICES, 0 },
    [KEY_MAXFDS] = { "maxfds", IN_SERVICES, 0 },
    [KEY_BABYSIT] = { "babysit", IN_SERVICES, 0 },
    [KEY_PERIOD] = { "period", IN_EVENTS, 0 },
    [KEY_AT] = { "at", IN_EVENTS, 0 },
};

static int key_lookup(const char *name)
{
    for (int k = 0; k < KEY_COUNT; k++)
        if (!strcmp(keys[k].name, name)) return k;
    return -1;
}

/* ---- parser state ------------------------------------------------------ */

struct parser {
    const char *file;
    int line;
    int section;               /* -1 outside a section */
    int section_line;          /* where the open section began */
    struct strarray *errors;
    int nerrors;
    struct cyrusconf *conf;
};

__attribute__((format(printf, 3, 4)))
static void perr(struct parser *p, int line, const char *fmt, ...)
{
    struct buf b = BUF_INITIALIZER;
    va_list ap;
    buf_printf(&b, "%s:%d: ", p->file, line);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    p->nerrors++;
    if (p->errors) strarray_appendm(p->errors, buf_release(&b));
    buf_free(&b);
}

/* ---- small parsers ---------------------------------------------------- */

/* A decimal int in [min, max]; 0 or -1. */
static int parse_int(const char *s, int min, int max, int *out)
{
    if (!*s) return -1;
    const char *d = s;
    if (*d == '-' || *d == '+') d++;
    if (!*d) return -1;
    for (; *d; d++)
        if (!isdigit((unsigned char)*d)) return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "yes", "on", "true", NULL };
    static const char *const no[] = { "0", "no", "off", "false", NULL };
    for (int i = 0; yes[i]; i++)
        if (!strcasecmp(s, yes[i])) { *out = 1; return 0; }
    for (int i = 0; no[i]; i++)
        if (!strcasecmp(s, no[i])) { *out = 0; return 0; }
    return -1;
}

/* The longest period accepted: a year, in seconds. */
#define PERIOD_MAX (366L * 24 * 3600)

int cyrusconf_parse_period(const char *s, long *seconds_r)
{
    const char *p = s;
    long v = 0;
    if (!isdigit((unsigned char)*p)) return CYRERR_PARSE;
    for (; isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > PERIOD_MAX) return CYRERR_PARSE;
    }
    long unit;
    switch (*p) {
    case '\0': unit = 60; break;
    case 's': unit = 1; p++; break;
    case 'm': unit = 60; p++; break;
    case 'h': unit = 3600; p++; break;
    case 'd': unit = 86400; p++; break;
    default: return CYRERR_PARSE;
    }
    if (*p) return CYRERR_PARSE;
    if (v > PERIOD_MAX / unit) return CYRERR_PARSE;
    *seconds_r = v * unit;
    return 0;
}

int cyrusconf_parse_at(const char *s, int *minutes_r)
{
    if (strlen(s) != 4) return CYRERR_PARSE;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i])) return CYRERR_PARSE;
    int hh = (s[0] - '0') * 10 + (s[1] - '0');
    int mm = (s[2] - '0') * 10 + (s[3] - '0');
    if (hh > 23 || mm > 59) return CYRERR_PARSE;
    *minutes_r = hh * 60 + mm;
    return 0;
}

int cyrusconf_split_cmd(const char *cmd, struct strarray *argv,
                        const char **errstr)
{
    struct buf word = BUF_INITIALIZER;
    const char *p = cmd;
    int start = argv->count;

    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        buf_reset(&word);
        int have = 0;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *end = strchr(p, q);
                if (!end) {
                    buf_free(&word);
                    strarray_truncate(argv, start);
                    *errstr = "unterminated quote in cmd";
                    return CYRERR_PARSE;
                }
                buf_appendmap(&word, p, (size_t)(end - p));
                p = end + 1;
            } else {
                buf_putc(&word, *p++);
            }
            have = 1;
        }
        if (have) strarray_append(argv, buf_cstring(&word));
    }
    buf_free(&word);
    if (argv->count == start) {
        *errstr = "cmd is empty";
        return CYRERR_PARSE;
    }
    return 0;
}

/* ---- entries ----------------------------------------------------------- */

static void entry_free(struct cyrusconf_entry *e)
{
    if (!e) return;
    free(e->name);
    free(e->cmd);
    strarray_free(&e->argv);
    free(e->listen);
    net_addr_free(&e->addr);
    free(e);
}

static int valid_name(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s)) return 0;
    return 1;
}

/* Apply key=value to entry e; reports its own errors.  */
static void entry_set(struct parser *p, struct cyrusconf_entry *e, int key,
                      const char *value)
{
    const char *err = NULL;
    int iv;

    switch (key) {
    case KEY_CMD:
        e->cmd = xstrdup(value);
        if (cyrusconf_split_cmd(value, &e->argv, &err))
            perr(p, p->line, "%s: %s", e->name, err);
        return;
    case KEY_LISTEN:
        e->listen = xstrdup(value);
        if (net_parse_addr(value, NULL, &e->addr, &err))
            perr(p, p->line, "%s: bad listen address \"%s\": %s", e->name,
                 value, err);
        return;
    case KEY_PROTO:
        iv = net_parse_proto(value);
        if (iv < 0)
            perr(p, p->line, "%s: proto must be tcp, tcp4, tcp6 or udp, not \"%s\"",
                 e->name, value);
        else
            e->proto = (enum net_proto)iv;
        return;
    case KEY_PREFORK:
        if (parse_int(value, 0, 10000, &e->prefork))
            perr(p, p->line, "%s: prefork must be a number from 0 to 10000, not \"%s\"",
                 e->name, value);
        return;
    case KEY_MAXCHILD:
        if (parse_int(value, -1, 100000, &e->maxchild) || e->maxchild == 0)
            perr(p, p->line,
                 "%s: maxchild must be -1 (no limit) or from 1 to 100000, not \"%s\"",
                 e->name, value);
        return;
    case KEY_MAXFORKRATE:
        if (parse_int(value, 0, 100000, &e->maxforkrate))
            perr(p, p->line,
                 "%s: maxforkrate must be a number from 0 to 100000, not \"%s\"",
                 e->name, value);
        return;
    case KEY_MAXFDS:
        if (parse_int(value, 0, 1048576, &e->maxfds) ||
            (e->maxfds > 0 && e->maxfds < 16))
            perr(p, p->line, "%s: maxfds must be 0 or from 16 to 1048576, not \"%s\"",
                 e->name, value);
        return;
    case KEY_BABYSIT:
        if (parse_bool(value, &e->babysit))
            perr(p, p->line, "%s: babysit must be 0 or 1, not \"%s\"", e->name, value);
        return;
    case KEY_PERIOD:
        if (cyrusconf_parse_period(value, &e->period) || e->period == 0)
            perr(p, p->line,
                 "%s: period must be a positive number of minutes or a number with "
                 "unit s, m, h or d, not \"%s\"",
                 e->name, value);
        return;
    case KEY_AT:
        if (cyrusconf_parse_at(value, &e->at))
            perr(p, p->line, "%s: at must be a time HHMM from 0000 to 2359, not \"%s\"",
                 e->name, value);
        return;
    default:
        return;
    }
}

/* Checks that need the whole entry; then apply babysit. */
static void entry_finish(struct parser *p, struct cyrusconf_entry *e,
                         const int *seen)
{
    unsigned bit = 1u << e->section;
    for (int k = 0; k < KEY_COUNT; k++)
        if ((keys[k].required & bit) && !seen[k])
            perr(p, e->line, "%s: %s entry needs %s=", e->name,
                 section_names[e->section], keys[k].name);

    if (e->section == CYRUSCONF_SERVICES) {
        if (e->babysit) {
            if (e->prefork < 1) e->prefork = 1;
            if (e->maxforkrate == 0) e->maxforkrate = 10;
        }
        if (e->maxchild > 0 && e->prefork > e->maxchild)
            perr(p, e->line, "%s: prefork=%d is larger than maxchild=%d", e->name,
                 e->prefork, e->maxchild);
        if (seen[KEY_LISTEN] && e->addr.is_unix && e->proto == NET_UDP)
            perr(p, e->line, "%s: proto=udp cannot be used with a unix socket",
                 e->name);
    }
    if (e->section == CYRUSCONF_EVENTS) {
        if (seen[KEY_PERIOD] && seen[KEY_AT])
            perr(p, e->line, "%s: give either period= or at=, not both", e->name);
        else if (!seen[KEY_PERIOD] && !seen[KEY_AT])
            perr(p, e->line, "%s: EVENTS entry needs period= or at=", e->name);
    }
}

/* Read one value starting at *pp (just after '='); returns it in `out`. */
static int read_value(struct parser *p, const char **pp, struct buf *out)
{
    const char *s = *pp;
    buf_reset(out);
    if (*s == '"') {
        s++;
        for (;;) {
            if (!*s) {
                perr(p, p->line, "unterminated quoted value");
                return -1;
            }
            if (*s == '"') { s++; break; }
            if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) s++;
            buf_putc(out, *s++);
        }
        if (*s && *s != ' ' && *s != '\t' && *s != '#') {
            perr(p, p->line, "text directly after a quoted value");
            return -1;
        }
    } else {
        while (*s && *s != ' ' && *s != '\t' && *s != '#') {
            if (*s == '"') {
                perr(p, p->line, "quote inside an unquoted value");
                return -1;
            }
            buf_putc(out, *s++);
        }
    }
    *pp = s;
    return 0;
}

static void add_entry(struct parser *p, struct cyrusconf_entry *e)
{
    struct cyrusconf *c = p->conf;
    int s = e->section;
    c->entries[s] = xreallocarray(c->entries[s], (size_t)c->count[s] + 1,
                                  sizeof(*c->entries[s]));
    c->entries[s][c->count[s]++] = e;
}

/* An entry line: name key=value ... (s points at the name). */
static void parse_entry(struct parser *p, const char *s)
{
    struct buf word = BUF_INITIALIZER;
    struct buf value = BUF_INITIALIZER;
    int seen[KEY_COUNT] = { 0 };
    int before = p->nerrors;

    while (*s && *s != ' ' && *s != '\t' && *s != '#') buf_putc(&word, *s++);

    struct cyrusconf_entry *e = xzmalloc(sizeof(*e));
    e->section = (enum cyrusconf_section)p->section;
    e->name = buf_release(&word);
    e->line = p->line;
    e->proto = NET_TCP;
    e->maxchild = -1;
    e->maxfds = 256;
    e->at = -1;

    if (!valid_name(e->name))
        perr(p, p->line, "bad entry name \"%s\": only letters and digits", e->name);
    else if (cyrusconf_find(p->conf, e->section, e->name))
        perr(p, p->line, "%s: entry defined twice in %s (first at line %d)", e->name,
             section_names[e->section],
             cyrusconf_find(p->conf, e->section, e->name)->line);

    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') break;
        buf_reset(&word);
        while (*s && *s != '=' && *s != ' ' && *s != '\t' && *s != '#')
            buf_putc(&word, *s++);
        if (*s != '=') {
            perr(p, p->line, "%s: \"%s\" is not of the form key=value", e->name,
                 buf_cstring(&word));
            break;
        }
        s++;
        if (read_value(p, &s, &value)) break;
        const char *k = buf_cstring(&word);
        int key = key_lookup(k);
        if (key < 0 || !(keys[key].sections & (1u << e->section))) {
            perr(p, p->line, "%s: unknown key \"%s\" in %s", e->name, k,
                 section_names[e->section]);
            continue;
        }
        if (seen[key]) {
            perr(p, p->line, "%s: %s= given twice", e->name, k);
            continue;
        }
        seen[key] = 1;
        if (!buf_len(&value)) {
            perr(p, p->line, "%s: %s= has an empty value", e->name, k);
            continue;
        }
        entry_set(p, e, key, buf_cstring(&value));
    }
    if (p->nerrors == before) entry_finish(p, e, seen);

    buf_free(&word);
    buf_free(&value);
    if (p->nerrors == before)
        add_entry(p, e);
    else
        entry_free(e);
}

static int section_lookup(const char *name)
{
    for (int i = 0; i < CYRUSCONF_NSECTIONS; i++)
        if (!strcmp(section_names[i], name)) return i;
    return -1;
}

/* One line, without its newline. */
static void parse_line(struct parser *p, const char *line)
{
    const char *s = line;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s || *s == '#') return;

    if (*s == '}') {
        const char *t = s + 1;
        while (*t == ' ' || *t == '\t' || *t == '\r') t++;
        if (*t && *t != '#') {
            perr(p, p->line, "text after '}'");
        }
        if (p->section == -1)
            perr(p, p->line, "'}' without an open section");
        p->section = -1;
        return;
    }

    /* a section header: WORD { */
    const char *t = s;
    while (*t && *t != ' ' && *t != '\t' && *t != '{' && *t != '#' && *t != '"') t++;
    const char *word_end = t;
    while (*t == ' ' || *t == '\t') t++;
    if (*t == '{') {
        char *name = xstrndup(s, (size_t)(word_end - s));
        const char *after = t + 1;
        while (*after == ' ' || *after == '\t' || *after == '\r') after++;
        int sec = section_lookup(name);
        if (!*name) {
            perr(p, p->line, "section header without a name");
        } else if (sec < 0) {
            perr(p, p->line,
                 "unknown section \"%s\" (START, SERVICES, EVENTS or DAEMON)", name);
        } else if (*after && *after != '#') {
            perr(p, p->line, "text after '{'");
        }
        if (p->section >= 0)
            perr(p, p->line, "section %s opened inside section %s (missing '}'?)",
                 sec >= 0 ? section_names[sec] : name, section_names[p->section]);
        /* go on inside the new section even when it was bad, so that
         * the errors that follow are about the entries themselves */
        p->section = sec >= 0 ? sec : -2;
        p->section_line = p->line;
        free(name);
        return;
    }

    if (p->section == -2) return;   /* entries of an unknown section */
    if (p->section < 0) {
        perr(p, p->line, "entry outside a section");
        return;
    }
    parse_entry(p, s);
}

static void conf_free_entries(struct cyrusconf *c)
{
    for (int s = 0; s < CYRUSCONF_NSECTIONS; s++) {
        for (int i = 0; i < c->count[s]; i++) entry_free(c->entries[s][i]);
        xfree(c->entries[s]);
        c->count[s] = 0;
    }
}

void cyrusconf_free(struct cyrusconf **conf)
{
    if (!conf || !*conf) return;
    conf_free_entries(*conf);
    free((*conf)->file);
    xfree(*conf);
}

int cyrusconf_parse_string(const char *text, const char *name,
                           struct cyrusconf **conf_r, struct strarray *errors)
{
    struct parser p = { 0 };
    p.file = name ? name : "cyrus.conf";
    p.section = -1;
    p.errors = errors;
    p.conf = xzmalloc(sizeof(*p.conf));
    p.conf->file = xstrdup(p.file);
    *conf_r = NULL;

    struct buf line = BUF_INITIALIZER;
    const char *s = text;
    size_t total = strlen(text);
    if (total > CYRUSCONF_MAX_FILE) {
        perr(&p, 0, "file is larger than %d bytes", CYRUSCONF_MAX_FILE);
        s = "";
    }
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        size_t body = n;
        if (body && s[body - 1] == '\r') body--;   /* CRLF files */
        p.line++;
        if (body > CYRUSCONF_MAX_LINE) {
            perr(&p, p.line, "line is longer than %d bytes", CYRUSCONF_MAX_LINE);
        } else {
            buf_setmap(&line, s, body);
            parse_line(&p, buf_cstring(&line));
        }
        s += n;
        if (*s == '\n') s++;
    }
    buf_free(&line);

    if (p.section != -1)
        perr(&p, p.section_line, "section %s is not closed with '}'",
             p.section >= 0 ? section_names[p.section] : "(unknown)");

    if (p.nerrors) {
        cyrusconf_free(&p.conf);
        return CYRERR_CONFIG;
    }
    *conf_r = p.conf;
    return 0;
}

int cyrusconf_parse_file(const char *path, struct cyrusconf **conf_r,
                         struct strarray *errors)
{
    *conf_r = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errors)
            strarray_appendm(errors, xasprintf("%s: cannot open: %s", path,
                                               strerror(errno)));
        return CYRERR_IO;
    }
    struct buf text = BUF_INITIALIZER;
    char chunk[8192];
    int r = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (errors)
                strarray_appendm(errors, xasprintf("%s: cannot read: %s", path,
                                                   strerror(errno)));
            r = CYRERR_IO;
            break;
        }
        if (n == 0) break;
        if (buf_len(&text) + (size_t)n > CYRUSCONF_MAX_FILE) {
            if (errors)
                strarray_appendm(errors, xasprintf("%s: file is larger than %d bytes",
                                                   path, CYRUSCONF_MAX_FILE));
            r = CYRERR_CONFIG;
            break;
        }
        buf_appendmap(&text, chunk, (size_t)n);
    }
    close(fd);
    if (!r && memchr(buf_base(&text), '\0', buf_len(&text))) {
        if (errors)
            strarray_appendm(errors, xasprintf("%s: file contains a NUL byte", path));
        r = CYRERR_CONFIG;
    }
    if (!r) r = cyrusconf_parse_string(buf_cstring(&text), path, conf_r, errors);
    buf_free(&text);
    return r;
}

const struct cyrusconf_entry *cyrusconf_find(const struct cyrusconf *conf,
                                             enum cyrusconf_section section,
                                             const char *name)
{
    if (!conf || (unsigned)section >= CYRUSCONF_NSECTIONS) return NULL;
    for (int i = 0; i < conf->count[section]; i++)
        if (!strcmp(conf->entries[section][i]->name, name))
            return conf->entries[section][i];
    return NULL;
}

static int streq_null(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return !strcmp(a, b);
}

int cyrusconf_same_listener(const struct cyrusconf_entry *a,
                            const struct cyrusconf_entry *b)
{
    return a->proto == b->proto && a->addr.is_unix == b->addr.is_unix &&
           streq_null(a->addr.host, b->addr.host) &&
           streq_null(a->addr.port, b->addr.port) &&
           streq_null(a->addr.path, b->addr.path);
}

int cyrusconf_entry_same(const struct cyrusconf_entry *a,
                         const struct cyrusconf_entry *b)
{
    if (a->section != b->section || strcmp(a->name, b->name)) return 0;
    if (a->argv.count != b->argv.count) return 0;
    for (int i = 0; i < a->argv.count; i++)
        if (strcmp(a->argv.data[i], b->argv.data[i])) return 0;
    if (a->section == CYRUSCONF_SERVICES) {
        return cyrusconf_same_listener(a, b) && a->prefork == b->prefork &&
               a->maxchild == b->maxchild && a->maxforkrate == b->maxforkrate &&
               a->maxfds == b->maxfds && a->babysit == b->babysit;
    }
    if (a->section == CYRUSCONF_EVENTS)
        return a->period == b->period && a->at == b->at;
    return 1;
}
