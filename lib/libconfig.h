/* libconfig: imapd.conf, read once per process through one option table.
 *
 * Every option of the project is declared once in imapopts.h (name, type,
 * default, extra, one-line help).  Code reads options only through the typed
 * getters below, by enum value (IMAPOPT_<NAME>, upper case); nothing parses an
 * option by hand.
 *
 * Per-service overrides: after config_read(file, "proxyd"), a line
 * "proxyd_timeout: 45" beats "timeout: 30" for every getter in that process.
 * "SERVICE_<option>" is accepted for any service name (and checked against
 * the option's type); only the one for the current ident takes effect.
 *
 * Pattern options are kept verbatim and read with config_getpattern():
 * partition-NAME, metapartition-NAME, NAME_password and NAME_mechs (murder
 * backends), sasl_* and SERVICE_sasl_* (passed to Cyrus SASL).
 *
 * File format: "key: value" lines; blanks around key and value are
 * trimmed; blank lines and lines starting with '#' are ignored; keys are
 * case-insensitive; a line ending in '\' continues on the next; the last
 * occurrence of a key wins; "@include: path" reads another file (relative
 * paths are taken from the including file's directory).
 *
 * Errors: a bad value for a known option is an error naming file:line:key;
 * config_read() returns CYRERR_CONFIG and fills `errors`.  An unknown key is
 * a warning with file:line and a "did you mean" suggestion.  Programs call
 * config_read_or_exit(), which prints the errors and exits 75 (EX_TEMPFAIL).
 *
 * The configuration is process-wide state owned by this module; strings
 * returned by the getters are borrowed and live until config_reset() or the
 * next config_read().  Before config_read() the getters give the defaults.
 * Read the file once, before starting threads; the getters are then safe to
 * call from any thread.  A typed getter called on an option of another type
 * is a programming error and fatal (config_getstring() works on every type
 * and returns the value as written, or for an ENUM its canonical spelling;
 * config_getint() also reads BYTES).
 * Values of STRING options that start with "{configdirectory}" have it
 * replaced by the configured directory.
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
/* IMAPOPT_<NAME> is the option; IMAPOPT_<name> (as written in the file)
 * is an alias of the same value, since both spellings are in use. */
#define IMAPOPT(id, name, type, def, extra, help) \
    IMAPOPT_##id, IMAPOPT_##name = IMAPOPT_##id,
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
/* Every key read from the file (and its includes) except lines with bad
 * values, for "key: value" listings (cyr_info): calls fn once per key, for
 * its last (effective) occurrence, in file order. */
void config_foreach_set(void (*fn)(const char *key, const char *value,
                                   const char *file, int line, void *rock),
                        void *rock);

/* Look an option up by name; IMAPOPT_ZERO when unknown. */
enum imapopt config_lookup(const char *name);
/* The nearest known option name to `name` (edit distance), or NULL. */
const char *config_suggest(const char *name);

/* Check `value` against the type of `opt` as config_read() would.  Returns
 * 0 or CYRERR_PARSE; on error, when `why` is not NULL, it receives a short
 * explanation ("expected yes or no ...").  */
struct buf;
int config_check_value(enum imapopt opt, const char *value, struct buf *why);
/* "string", "int", "switch", "enum", "duration" or "bytes". */
const char *config_type_name(enum opt_type type);

/* Frequently used shortcuts. */
const char *config_dir(void);          /* configdirectory */
const char *config_servername(void);   /* servername, or the host name */
int config_is_admin(const char *userid);  /* in `admins` */

#endif
