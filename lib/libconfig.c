/* libconfig: the imapd.conf reader and the typed getters.  See libconfig.h.
 *
 * Reading keeps every "key: value" line (lower-cased key, trimmed value,
 * file and line) in file order, plus a hash from each key to its last
 * occurrence.  For each known option the last plain line and the last
 * override line for the current service are remembered; once the whole file
 * is read every option is resolved (override, else plain line, else
 * default) and parsed into `cfg.val`, so that the getters only look up.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "libconfig.h"
#include "log.h"
#include "parse.h"
#include "strarray.h"
#include "xmalloc.h"

/* A logical line longer than this is an error (the file is trusted, but
 * every read is bounded). */
#define CONFIG_MAX_LINE (1024 * 1024)
/* Nesting limit for @include. */
#define CONFIG_MAX_DEPTH 16
/* No suggestion is computed for keys longer than this. */
#define SUGGEST_MAX_LEN 64

struct cfg_line {
    char *key;   /* lower case */
    char *value; /* trimmed */
    char *file;
    int line;
};

struct cfg_value {
    const char *text; /* effective value as text (maybe NULL) */
    char *owned;      /* allocation behind text, when not borrowed */
    long long num;    /* INT, SWITCH, DURATION (seconds), BYTES */
    int idx;          /* ENUM: position in `extra` */
};

/* Process-wide configuration (see the header: read once, then read-only). */
static struct {
    char *filename;
    char *ident;
    struct cfg_line *lines;
    int nlines, alloc;
    struct hash_table last; /* key -> index + 1 of last line */
    int base[IMAPOPT_LAST]; /* index + 1 of last "opt:" line */
    int over[IMAPOPT_LAST]; /* index + 1 of last "ident_opt:" line */
    struct cfg_value val[IMAPOPT_LAST];
    int resolved;
    char *servername;
} cfg;

/* ---- small helpers ------------------------------------------------------ */

const char *config_type_name(enum opt_type type)
{
    switch (type) {
    case OPT_STRING:
        return "string";
    case OPT_INT:
        return "int";
    case OPT_SWITCH:
        return "switch";
    case OPT_ENUM:
        return "enum";
    case OPT_DURATION:
        return "duration";
    case OPT_BYTES:
        return "bytes";
    }
    return "unknown";
}

static const struct imapopt_desc *desc_of(enum imapopt opt)
{
    if ((int)opt <= IMAPOPT_ZERO || opt >= IMAPOPT_LAST)
        fatal(EX_SOFTWARE, "config: option number %d out of range", (int)opt);
    return &imapopt_table[opt];
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Trim blanks in place at both ends; returns the new start. */
static char *trim(char *s)
{
    while (is_blank((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && is_blank((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Position (0-based) of `value` among the '|'-separated `choices`
 * (case-insensitive), or -1. */
static int enum_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int i = 0;
    const char *p = choices;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vlen && !strncasecmp(p, value, n)) return i;
        if (!bar) return -1;
        p = bar + 1;
        i++;
    }
}

/* The idx-th choice of `choices`, allocated. */
static char *enum_choice(const char *choices, int idx)
{
    const char *p = choices;
    for (int i = 0; i < idx; i++) {
        const char *bar = strchr(p, '|');
        if (!bar) return xstrdup("");
        p = bar + 1;
    }
    const char *bar = strchr(p, '|');
    return bar ? xstrndup(p, (size_t)(bar - p)) : xstrdup(p);
}

/* Parse `value` as the type of `d`.  Stores the number or enum position;
 * on failure explains in `why` (if not NULL). */
static int parse_value(const struct imapopt_desc *d, const char *value, long long *num,
                       int *idx, struct buf *why)
{
    int64_t i64;
    uint64_t u64;
    int sw;

    switch (d->type) {
    case OPT_STRING:
        return 0;
    case OPT_INT:
        if (!parse_int64(value, &i64)) {
            *num = i64;
            return 0;
        }
        if (why) buf_setcstr(why, "expected an integer");
        return CYRERR_PARSE;
    case OPT_SWITCH:
        if (!parse_switch(value, &sw)) {
            *num = sw;
            return 0;
        }
        if (why) buf_setcstr(why, "expected yes or no (also on/off, true/false, 1/0)");
        return CYRERR_PARSE;
    case OPT_ENUM: {
        const char *choices = d->extra ? d->extra : "";
        int k = enum_index(choices, value);
        if (k < 0 && !parse_switch(value, &sw))
            k = enum_index(choices, sw ? "on" : "off");
        if (k >= 0) {
            *idx = k;
            return 0;
        }
        if (why) {
            buf_setcstr(why, "expected one of: ");
            for (const char *p = choices; *p; p++) {
                if (*p == '|')
                    buf_appendcstr(why, ", ");
                else
                    buf_putc(why, *p);
            }
        }
        return CYRERR_PARSE;
    }
    case OPT_DURATION: {
        char unit = d->extra && *d->extra ? d->extra[0] : 's';
        if (!parse_duration(value, unit, &i64)) {
            *num = i64;
            return 0;
        }
        if (why) {
            static const struct {
                char c;
                const char *name;
            } units[] = {
                {'s', "seconds"},
                {'m', "minutes"},
                {'h', "hours"},
                {'d', "days"},
            };
            const char *uname = "seconds";
            for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
                if (units[k].c == unit) uname = units[k].name;
            buf_setcstr(why, "expected a duration such as 30s, 5m, 1h30m or 2d, "
                             "or a number of ");
            buf_appendcstr(why, uname);
        }
        return CYRERR_PARSE;
    }
    case OPT_BYTES:
        if (!parse_bytesize(value, &u64) && u64 <= (uint64_t)LLONG_MAX) {
            *num = (long long)u64;
            return 0;
        }
        if (why)
            buf_setcstr(why,
                        "expected a size such as 512K, 10M or 1G, or a number of bytes");
        return CYRERR_PARSE;
    }
    if (why) buf_setcstr(why, "option of unknown type");
    return CYRERR_PARSE;
}

int config_check_value(enum imapopt opt, const char *value, struct buf *why)
{
    long long num;
    int idx;
    if (!value) {
        if (why) buf_setcstr(why, "no value");
        return CYRERR_PARSE;
    }
    return parse_value(desc_of(opt), value, &num, &idx, why);
}

/* ---- lookup and suggestions --------------------------------------------- */

static int desc_cmp(const void *key, const void *elem)
{
    const struct imapopt_desc *d = elem;
    return strcasecmp(key, d->name);
}

enum imapopt config_lookup(const char *name)
{
    if (!name) return IMAPOPT_ZERO;
    /* the table is sorted by name (checked by a unit test) */
    const struct imapopt_desc *d = bsearch(name, imapopt_table + 1, IMAPOPT_LAST - 1,
                                           sizeof(imapopt_table[0]), desc_cmp);
    return d ? (enum imapopt)(d - imapopt_table) : IMAPOPT_ZERO;
}

/* Optimal string alignment distance (edits and adjacent transpositions),
 * case-insensitive.  Both strings are at most SUGGEST_MAX_LEN long. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *config_suggest(const char *name)
{
    if (!name) return NULL;
    size_t n = strlen(name);
    if (n == 0 || n > SUGGEST_MAX_LEN) return NULL;
    /* how far off a name may be and still be a plausible typo */
    int limit = n < 4 ? 1 : n < 8 ? 2 : 3;
    const char *best = NULL;
    int bestd = limit + 1;
    for (int i = 1; i < IMAPOPT_LAST; i++) {
        const char *cand = imapopt_table[i].name;
        size_t cl = strlen(cand);
        if (cl > SUGGEST_MAX_LEN) continue;
        if ((cl > n ? cl - n : n - cl) > (size_t)limit) continue;
        int dist = edit_distance(name, cand);
        if (dist < bestd) {
            bestd = dist;
            best = cand;
        }
    }
    return best;
}

/* A service name as used in "SERVICE_option": letters, digits, '-', '_'. */
static int valid_service(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_') return 0;
    }
    return 1;
}

/* If `key` is "SERVICE_<known option>", return the option and the length
 * of SERVICE; else IMAPOPT_ZERO. */
static enum imapopt split_override(const char *key, size_t *svclen)
{
    for (const char *p = strchr(key, '_'); p; p = strchr(p + 1, '_')) {
        enum imapopt o = config_lookup(p + 1);
        if (o != IMAPOPT_ZERO && valid_service(key, (size_t)(p - key))) {
            *svclen = (size_t)(p - key);
            return o;
        }
    }
    return IMAPOPT_ZERO;
}

static int has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* Keys accepted verbatim for config_getpattern(). */
static int is_pattern(const char *key)
{
    if (has_prefix(key, "partition-") && key[10]) return 1;
    if (has_prefix(key, "metapartition-") && key[14]) return 1;
    if (has_prefix(key, "sasl_") && key[5]) return 1;
    if (has_suffix(key, "_password") || has_suffix(key, "_mechs")) return 1;
    /* SERVICE_sasl_*: per-service SASL options */
    const char *s = strstr(key, "_sasl_");
    if (s && s[6] && valid_service(key, (size_t)(s - key))) return 1;
    return 0;
}

/* A suggestion for an unknown key, possibly "SERVICE_<option>"; caller frees. */
static char *suggest_key(const char *key)
{
    const char *s = config_suggest(key);
    if (s) return xstrdup(s);
    for (const char *p = strchr(key, '_'); p; p = strchr(p + 1, '_')) {
        if (!valid_service(key, (size_t)(p - key))) continue;
        s = config_suggest(p + 1);
        if (s) return xasprintf("%.*s_%s", (int)(p - key), key, s);
    }
    return NULL;
}

/* ---- state -------------------------------------------------------------- */

static void free_values(void)
{
    for (int i = 0; i < IMAPOPT_LAST; i++) {
        free(cfg.val[i].owned);
        memset(&cfg.val[i], 0, sizeof(cfg.val[i]));
    }
    xfree(cfg.servername);
    cfg.resolved = 0;
}

void config_reset(void)
{
    free_values();
    for (int i = 0; i < cfg.nlines; i++) {
        free(cfg.lines[i].key);
        free(cfg.lines[i].value);
        free(cfg.lines[i].file);
    }
    xfree(cfg.lines);
    cfg.nlines = cfg.alloc = 0;
    if (cfg.last.buckets) hash_free(&cfg.last, NULL);
    memset(&cfg.last, 0, sizeof(cfg.last));
    memset(cfg.base, 0, sizeof(cfg.base));
    memset(cfg.over, 0, sizeof(cfg.over));
    xfree(cfg.filename);
    xfree(cfg.ident);
}

/* Store a line; returns its index + 1. */
static int add_line(const char *key, const char *value, const char *file, int line)
{
    if (cfg.nlines == cfg.alloc) {
        cfg.alloc = cfg.alloc ? cfg.alloc * 2 : 64;
        cfg.lines = xreallocarray(cfg.lines, (size_t)cfg.alloc, sizeof(cfg.lines[0]));
    }
    struct cfg_line *l = &cfg.lines[cfg.nlines++];
    l->key = xstrdup(key);
    l->value = xstrdup(value);
    l->file = xstrdup(file);
    l->line = line;
    hash_insert(&cfg.last, key, (void *)(intptr_t)cfg.nlines);
    return cfg.nlines;
}

/* The text of the effective value of `opt`, before expansion. */
static const char *raw_value(enum imapopt opt)
{
    int i = cfg.over[opt] ? cfg.over[opt] : cfg.base[opt];
    return i ? cfg.lines[i - 1].value : imapopt_table[opt].def;
}

static void resolve_one(enum imapopt opt)
{
    const struct imapopt_desc *d = &imapopt_table[opt];
    struct cfg_value *v = &cfg.val[opt];
    const char *text = raw_value(opt);
    static const char cdir[] = "{configdirectory}";

    v->text = text;
    if (!text) return;
    if (d->type == OPT_STRING && opt != IMAPOPT_CONFIGDIRECTORY &&
        has_prefix(text, cdir)) {
        const char *dir = cfg.val[IMAPOPT_CONFIGDIRECTORY].text;
        v->owned = strconcat(dir ? dir : "", text + strlen(cdir), (char *)NULL);
        v->text = v->owned;
        return;
    }
    /* values from the file were checked when read; a default that does not
     * parse is caught by the unit tests and reads as 0 here */
    if (parse_value(d, text, &v->num, &v->idx, NULL)) {
        v->num = 0;
        v->idx = 0;
    }
    if (d->type == OPT_ENUM) {
        v->owned = enum_choice(d->extra ? d->extra : "", v->idx);
        v->text = v->owned;
    }
}

static void resolve_all(void)
{
    free_values();
    resolve_one(IMAPOPT_CONFIGDIRECTORY);
    for (int i = 1; i < IMAPOPT_LAST; i++)
        if (i != IMAPOPT_CONFIGDIRECTORY) resolve_one((enum imapopt)i);

    const char *sn = cfg.val[IMAPOPT_SERVERNAME].text;
    if (sn && *sn) {
        cfg.servername = xstrdup(sn);
    } else {
        char host[HOST_NAME_MAX + 1];
        if (gethostname(host, sizeof(host)) != 0) strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        cfg.servername = xstrdup(host);
    }
    cfg.resolved = 1;
}

static void ensure_resolved(void)
{
    if (!cfg.resolved) resolve_all();
}

/* ---- reading ------------------------------------------------------------ */

struct reader {
    struct strarray *errors;
    struct strarray *warnings;
    struct strarray stack; /* real paths of the files being read */
    int nerrors;
};

static void report(struct reader *rd, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct reader *rd, int is_error, const char *fmt, ...)
{
    struct buf b = BUF_INITIALIZER;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    struct strarray *dst = is_error ? rd->errors : rd->warnings;
    if (is_error) rd->nerrors++;
    if (dst)
        strarray_appendm(dst, buf_release(&b));
    else
        buf_free(&b);
}

static int read_file(struct reader *rd, const char *path, const char *from, int fromline);

/* Quote at most 64 characters of a value in a message. */
#define VALUE_SHOWN 64

static void handle_include(struct reader *rd, const char *file, int line,
                           const char *value)
{
    char *target;
    if (value[0] == '/') {
        target = xstrdup(value);
    } else {
        const char *slash = strrchr(file, '/');
        target = slash ? xasprintf("%.*s/%s", (int)(slash - file), file, value)
                       : xstrdup(value);
    }
    read_file(rd, target, file, line);
    free(target);
}

static void handle_line(struct reader *rd, const char *file, int line, char *text)
{
    char *s = trim(text);
    if (!*s || *s == '#') return;

    char *colon = strchr(s, ':');
    if (!colon) {
        report(rd, 1, "%s:%d: syntax error: expected 'key: value'", file, line);
        return;
    }
    *colon = '\0';
    char *key = trim(s);
    char *value = trim(colon + 1);
    if (!*key) {
        report(rd, 1, "%s:%d: syntax error: no option name before ':'", file, line);
        return;
    }
    for (char *p = key; *p; p++) {
        if (is_blank((unsigned char)*p) || !isprint((unsigned char)*p)) {
            report(rd, 1,
                   "%s:%d: syntax error: option name '%s' contains blanks "
                   "or control characters",
                   file, line, key);
            return;
        }
    }
    lower(key);

    if (!strcmp(key, "@include")) {
        if (!*value)
            report(rd, 1, "%s:%d: syntax error: @include needs a file name", file, line);
        else
            handle_include(rd, file, line, value);
        return;
    }

    size_t svclen = 0;
    enum imapopt opt = config_lookup(key);
    int is_override = 0;
    if (opt == IMAPOPT_ZERO) {
        opt = split_override(key, &svclen);
        is_override = opt != IMAPOPT_ZERO;
    }

    if (opt != IMAPOPT_ZERO) {
        struct buf why = BUF_INITIALIZER;
        long long num;
        int idx;
        if (parse_value(&imapopt_table[opt], value, &num, &idx, &why)) {
            report(rd, 1, "%s:%d: bad value for option '%s': '%.*s'%s: %s", file, line,
                   key, VALUE_SHOWN, value, strlen(value) > VALUE_SHOWN ? "..." : "",
                   buf_cstring(&why));
            buf_free(&why);
            return;
        }
        buf_free(&why);
        int i = add_line(key, value, file, line);
        if (!is_override)
            cfg.base[opt] = i;
        else if (cfg.ident && strlen(cfg.ident) == svclen &&
                 !strncmp(cfg.ident, key, svclen))
            cfg.over[opt] = i;
        return;
    }

    add_line(key, value, file, line);
    if (is_pattern(key)) return;
    char *sugg = suggest_key(key);
    if (sugg)
        report(rd, 0, "%s:%d: unknown option '%s' (did you mean '%s'?)", file, line, key,
               sugg);
    else
        report(rd, 0, "%s:%d: unknown option '%s'", file, line, key);
    free(sugg);
}

/* Read one physical line into `b` (appending); returns 1 when a line was
 * read, 0 at end of file.  Sets *toolong when the logical line exceeds
 * CONFIG_MAX_LINE (the rest of the physical line is consumed). */
static int read_physical(FILE *f, struct buf *b, int *toolong)
{
    int c, got = 0;
    while ((c = getc(f)) != EOF) {
        got = 1;
        if (c == '\n') break;
        if (buf_len(b) >= CONFIG_MAX_LINE) {
            *toolong = 1;
            continue;
        }
        buf_putc(b, (char)c);
    }
    return got;
}

static int read_file(struct reader *rd, const char *path, const char *from, int fromline)
{
    if (rd->stack.count >= CONFIG_MAX_DEPTH) {
        report(rd, 1, "%s:%d: too many nested includes (at '%s')", from, fromline, path);
        return CYRERR_CONFIG;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        if (from)
            report(rd, 1, "%s:%d: cannot include '%s': %s", from, fromline, path,
                   strerror(e));
        else
            report(rd, 1, "%s: cannot read: %s", path, strerror(e));
        return CYRERR_IO;
    }
    char *real = realpath(path, NULL);
    if (!real) real = xstrdup(path);
    if (strarray_find(&rd->stack, real, 0) >= 0) {
        report(rd, 1, "%s:%d: include loop: '%s' is already being read", from, fromline,
               path);
        free(real);
        fclose(f);
        return CYRERR_CONFIG;
    }
    strarray_appendm(&rd->stack, real);

    struct buf b = BUF_INITIALIZER;
    int lineno = 0;
    for (;;) {
        int start = lineno + 1, toolong = 0, any = 0;
        buf_reset(&b);
        /* a logical line: physical lines joined while they end in '\' */
        while (read_physical(f, &b, &toolong)) {
            any = 1;
            lineno++;
            if (buf_len(&b) && b.s[buf_len(&b) - 1] == '\r')
                buf_truncate(&b, buf_len(&b) - 1);
            if (buf_len(&b) && b.s[buf_len(&b) - 1] == '\\') {
                buf_truncate(&b, buf_len(&b) - 1);
                continue;
            }
            break;
        }
        if (!any) break;
        if (toolong) {
            report(rd, 1, "%s:%d: line longer than %d bytes", path, start,
                   CONFIG_MAX_LINE);
            continue;
        }
        if (memchr(buf_base(&b), '\0', buf_len(&b))) {
            report(rd, 1, "%s:%d: line contains a NUL byte", path, start);
            continue;
        }
        handle_line(rd, path, start, (char *)buf_cstring(&b));
    }
    if (ferror(f)) report(rd, 1, "%s: read error: %s", path, strerror(errno));
    buf_free(&b);
    fclose(f);
    free(strarray_remove(&rd->stack, rd->stack.count - 1));
    return 0;
}

int config_read(const char *file, const char *ident, struct strarray *errors,
                struct strarray *warnings)
{
    config_reset();
    if (!file) file = CONFIG_FILENAME;
    cfg.filename = xstrdup(file);
    cfg.ident = ident && *ident ? xstrdup(ident) : NULL;
    if (cfg.ident) lower(cfg.ident);
    hash_init(&cfg.last, 256, 0);

    struct reader rd = {errors, warnings, STRARRAY_INITIALIZER, 0};
    int r = read_file(&rd, file, NULL, 0);
    strarray_free(&rd.stack);
    resolve_all();
    if (r == CYRERR_IO) return CYRERR_IO;
    return rd.nerrors ? CYRERR_CONFIG : 0;
}

void config_read_or_exit(const char *file, const char *ident)
{
    struct strarray errors = STRARRAY_INITIALIZER;
    struct strarray warnings = STRARRAY_INITIALIZER;
    int r = config_read(file, ident, &errors, &warnings);
    for (int i = 0; i < warnings.count; i++) {
        xsyslog(LOG_WARNING, "config warning", "msg=<%s>", warnings.data[i]);
        fprintf(stderr, "warning: %s\n", warnings.data[i]);
    }
    if (r) {
        for (int i = 0; i < errors.count; i++) {
            xsyslog(LOG_ERR, "config error", "msg=<%s>", errors.data[i]);
            fprintf(stderr, "error: %s\n", errors.data[i]);
        }
        fprintf(stderr, "%s: configuration errors, exiting\n", config_filename());
        strarray_free(&errors);
        strarray_free(&warnings);
        exit(EX_TEMPFAIL);
    }
    strarray_free(&errors);
    strarray_free(&warnings);
    log_set_facility(config_getstring(IMAPOPT_SYSLOG_FACILITY));
}

/* ---- getters ------------------------------------------------------------ */

const char *config_filename(void)
{
    return cfg.filename;
}

const char *config_ident(void)
{
    return cfg.ident;
}

static const struct cfg_value *typed(enum imapopt opt, enum opt_type want,
                                     enum opt_type alt, const char *getter)
{
    const struct imapopt_desc *d = desc_of(opt);
    if (d->type != want && d->type != alt)
        fatal(EX_SOFTWARE, "config: %s() on option '%s' of type %s", getter, d->name,
              config_type_name(d->type));
    ensure_resolved();
    return &cfg.val[opt];
}

const char *config_getstring(enum imapopt opt)
{
    desc_of(opt);
    ensure_resolved();
    return cfg.val[opt].text;
}

long long config_getint(enum imapopt opt)
{
    return typed(opt, OPT_INT, OPT_BYTES, "config_getint")->num;
}

int config_getswitch(enum imapopt opt)
{
    return (int)typed(opt, OPT_SWITCH, OPT_SWITCH, "config_getswitch")->num;
}

const char *config_getenum(enum imapopt opt)
{
    const char *t = typed(opt, OPT_ENUM, OPT_ENUM, "config_getenum")->text;
    return t ? t : "";
}

int config_getenumindex(enum imapopt opt)
{
    return typed(opt, OPT_ENUM, OPT_ENUM, "config_getenumindex")->idx;
}

long long config_getduration(enum imapopt opt)
{
    return typed(opt, OPT_DURATION, OPT_DURATION, "config_getduration")->num;
}

long long config_getbytes(enum imapopt opt)
{
    return typed(opt, OPT_BYTES, OPT_INT, "config_getbytes")->num;
}

int config_isset(enum imapopt opt)
{
    desc_of(opt);
    return cfg.base[opt] || cfg.over[opt];
}

const char *config_getpattern(const char *prefix, const char *name)
{
    if (!name || !cfg.last.buckets) return NULL;
    char *key = strconcat(prefix ? prefix : "", name, (char *)NULL);
    lower(key);
    intptr_t i = (intptr_t)hash_lookup(&cfg.last, key);
    free(key);
    return i ? cfg.lines[i - 1].value : NULL;
}

const char *config_partitiondir(const char *name)
{
    return config_getpattern("partition-", name);
}

void config_foreach_set(void (*fn)(const char *key, const char *value, const char *file,
                                   int line, void *rock),
                        void *rock)
{
    for (int i = 0; i < cfg.nlines; i++) {
        const struct cfg_line *l = &cfg.lines[i];
        if ((intptr_t)hash_lookup(&cfg.last, l->key) != i + 1) continue;
        fn(l->key, l->value, l->file, l->line, rock);
    }
}

const char *config_dir(void)
{
    return config_getstring(IMAPOPT_CONFIGDIRECTORY);
}

const char *config_servername(void)
{
    ensure_resolved();
    return cfg.servername;
}

int config_is_admin(const char *userid)
{
    if (!userid || !*userid) return 0;
    const char *list = config_getstring(IMAPOPT_ADMINS);
    if (!list) return 0;
    size_t n = strlen(userid);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ',')
            p++;
        if ((size_t)(p - start) == n && !strncmp(start, userid, n)) return 1;
    }
    return 0;
}
