/* libconfig: imapd.conf, read once per process through one option table.
 *
 * Every option of the project is declared once in imapopts.h (name, type,
 * default, extra, one-line help).  Code reads options only through the typed
 * getters below, by enum value (IMAPOPT_<NAME>, upper case); nothing parses an
 * option by hand.
 *
 * Per-service overrides: after config_read(file, "proxyd"), a line
 * "proxyd_timeout: 45" beats "timeout: 30" for every getter in that process.
 * Pattern options (partition-NAME, NAME_password, ...) are read with
 * config_getpattern().
 *
 * Errors: a bad value for a known option is an error naming file:line:key;
 * config_read() returns CYRERR_CONFIG and fills `errors`.  An unknown key is
 * a warning with file:line and a "did you mean" suggestion.  Programs call
 * config_read_or_exit(), which prints the errors and exits 75 (EX_TEMPFAIL).
 *
 * The configuration is process-wide state owned by this module; strings
 * returned by the getters are borrowed and live until config_reset().
 */
#ifndef LIB_LIBCONFIG_H
#define LIB_LIBCONFIG_H

#include "strarray.h"

enum opt_type {
    OPT_STRING,    /* free text; NULL default allowed */
    OPT_INT,       /* signed integer */
    OPT_SWITCH,    /* yes/no/on/off/true/false/1/0 */
    OPT_ENUM,      /* one of the '|'-separated values in `extra` */
    OPT_DURATION,  /* "30s", "5m", "2h", "1d"; a bare number is in the unit
                      given by `extra` ("s", "m", "h" or "d") */
    OPT_BYTES,     /* "10M", "512K", "1G" or a bare number of bytes */
};

enum imapopt {
    IMAPOPT_ZERO = 0,
#define IMAPOPT(name, type, def, extra, help) IMAPOPT_##name,
#include "imapopts.h"
#undef IMAPOPT
    IMAPOPT_LAST
};

struct imapopt_desc {
    const char *name;     /* lower case, as written in imapd.conf */
    enum opt_type type;
    const char *def;      /* default as text, parsed like a config value; may be NULL */
    const char *extra;    /* enum values or duration unit; NULL otherwise */
    const char *help;
};

/* The table, indexed by enum imapopt (entry 0 is unused). */
extern const struct imapopt_desc imapopt_table[IMAPOPT_LAST];

/* Default location of imapd.conf when no -C is given. */
#define CONFIG_FILENAME SYSCONFDIR "/imapd.conf"

/* Read `file` (NULL = CONFIG_FILENAME) for service `ident` (NULL = none).
 * Errors go to `errors`, warnings to `warnings` (either may be NULL).
 * Returns 0 or CYRERR_CONFIG (a bad value) or CYRERR_IO (unreadable file). */
int config_read(const char *file, const char *ident,
                struct strarray *errors, struct strarray *warnings);
/* config_read(); log warnings; on error print them to stderr and exit 75. */
void config_read_or_exit(const char *file, const char *ident);
/* Forget everything read (tests). */
void config_reset(void);

const char *config_filename(void);     /* the file read */
const char *config_ident(void);        /* the service name, or NULL */

const char *config_getstring(enum imapopt opt);   /* may be NULL */
long long config_getint(enum imapopt opt);
int config_getswitch(enum imapopt opt);
const char *config_getenum(enum imapopt opt);     /* the value as text */
int config_getenumindex(enum imapopt opt);        /* position in `extra` */
long long config_getduration(enum imapopt opt);   /* in seconds */
long long config_getbytes(enum imapopt opt);      /* in bytes */
/* True when the option (or its service override) was set in the file. */
int config_isset(enum imapopt opt);

/* Pattern options: config_getpattern("partition-", "default") reads
 * "partition-default"; config_getpattern(NULL, "backend1_password") reads a
 * key verbatim.  Returns NULL when absent. */
const char *config_getpattern(const char *prefix, const char *name);
/* Convenience: the directory of partition `name`, or NULL. */
const char *config_partitiondir(const char *name);
/* Every key read from the file, in file order, for "key: value" listings:
 * calls fn for each; used by cyr_info. */
void config_foreach_set(void (*fn)(const char *key, const char *value,
                                   const char *file, int line, void *rock),
                        void *rock);

/* Look an option up by name; IMAPOPT_ZERO when unknown. */
enum imapopt config_lookup(const char *name);
/* The nearest known option name to `name` (edit distance), or NULL. */
const char *config_suggest(const char *name);

/* Frequently used shortcuts. */
const char *config_dir(void);          /* configdirectory */
const char *config_servername(void);   /* servername, or the host name */
int config_is_admin(const char *userid);  /* in `admins` */

#endif
