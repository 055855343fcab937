/* cyrusconf: the parser of cyrus.conf, master's list of processes.
 *
 * A pure module: it reads text and builds a struct cyrusconf; it opens no
 * socket and starts no process, so master can parse a new file on SIGHUP and
 * throw it away when it is broken, and the unit tests can feed it anything.
 *
 * Syntax (as in Cyrus):
 *
 *     # comment
 *     SECTION {
 *         name key=value key="quoted value" ...
 *     }
 *
 * SECTION is START, SERVICES, EVENTS or DAEMON.  An entry is one line; its
 * name is letters and digits and is unique within its section.  A value is a
 * bare word or a double-quoted string in which \" and \\ stand for " and \.
 * A '#' outside quotes starts a comment that runs to the end of the line.
 *
 * Keys and their defaults:
 *   START     cmd
 *   SERVICES  cmd listen proto=tcp prefork=0 maxchild=-1 maxforkrate=0
 *             maxfds=256 babysit=0
 *   EVENTS    cmd period=<minutes, or a number with unit s/m/h/d> at=HHMM
 *   DAEMON    cmd
 * cmd is split into words like a shell would for plain words and for '...'
 * and "..." quoting (no variables, no escapes other than in the file value).
 * babysit=1 means prefork at least 1 and maxforkrate 10 when it was 0.
 *
 * Errors: every problem is reported as "file:line: text" in the caller's
 * strarray (all of them, not only the first), and the parse then fails with
 * CYRERR_CONFIG (CYRERR_IO when the file cannot be read); no partial result
 * is returned.  Unknown keys, missing or repeated keys, bad numbers, bad
 * listen addresses, bad sections and unbalanced braces or quotes are errors.
 *
 * Memory: the struct cyrusconf and everything in it belong to the caller,
 * who frees them with cyrusconf_free().
 */
#ifndef MASTER_CYRUSCONF_H
#define MASTER_CYRUSCONF_H

#include "net.h"
#include "strarray.h"

enum cyrusconf_section {
    CYRUSCONF_START,
    CYRUSCONF_SERVICES,
    CYRUSCONF_EVENTS,
    CYRUSCONF_DAEMON,
    CYRUSCONF_NSECTIONS
};

/* Longest line and largest file accepted: anything beyond is an error. */
#define CYRUSCONF_MAX_LINE  8192
#define CYRUSCONF_MAX_FILE  (1024 * 1024)

struct cyrusconf_entry {
    enum cyrusconf_section section;
    char *name;               /* the entry's name */
    int line;                 /* where it was written */
    char *cmd;                /* cmd as written */
    struct strarray argv;     /* cmd split into words (count >= 1) */

    /* SERVICES only */
    char *listen;             /* as written */
    struct net_addr addr;     /* listen, parsed */
    enum net_proto proto;     /* default NET_TCP */
    int prefork;              /* >= 0 */
    int maxchild;             /* -1 (no limit) or >= 1, >= prefork */
    int maxforkrate;          /* forks per second, 0 = no limit */
    int maxfds;               /* RLIMIT_NOFILE of the children, 0 = unchanged */
    int babysit;              /* 0 or 1 */

    /* EVENTS only */
    long period;              /* seconds between runs; 0 when `at` is used */
    int at;                   /* minutes after midnight (0..1439), or -1 */
};

struct cyrusconf {
    char *file;               /* the name used in error messages */
    int count[CYRUSCONF_NSECTIONS];
    struct cyrusconf_entry **entries[CYRUSCONF_NSECTIONS]; /* in file order */
};

/* Parse the file at `path`.  On success (0) *conf_r is set; on failure
 * *conf_r is NULL and `errors` (which may be NULL) holds the messages. */
int cyrusconf_parse_file(const char *path, struct cyrusconf **conf_r,
                         struct strarray *errors)
    __attribute__((warn_unused_result));

/* Parse `text` (NUL-terminated); `name` stands for the file in messages. */
int cyrusconf_parse_string(const char *text, const char *name,
                           struct cyrusconf **conf_r, struct strarray *errors)
    __attribute__((warn_unused_result));

void cyrusconf_free(struct cyrusconf **conf);

/* The entry called `name` in `section`, or NULL. Borrowed. */
const struct cyrusconf_entry *cyrusconf_find(const struct cyrusconf *conf,
                                             enum cyrusconf_section section,
                                             const char *name);

/* True when two entries would run the same processes the same way (used by
 * master on reload to decide whether a service must be restarted). */
int cyrusconf_entry_same(const struct cyrusconf_entry *a,
                         const struct cyrusconf_entry *b);
/* True when two SERVICES entries listen on the same socket. */
int cyrusconf_same_listener(const struct cyrusconf_entry *a,
                            const struct cyrusconf_entry *b);

/* "START", "SERVICES", ... */
const char *cyrusconf_section_name(enum cyrusconf_section section);

/* Split a command line into words: blanks separate words, '...' and "..."
 * group.  Returns 0, or CYRERR_PARSE with *errstr (static text) when a
 * quote is not closed or there is no word at all. */
int cyrusconf_split_cmd(const char *cmd, struct strarray *argv,
                        const char **errstr);

/* Parse an EVENTS period: a number of minutes, or a number followed by one
 * of s, m, h, d.  Returns 0 and *seconds_r, or CYRERR_PARSE. */
int cyrusconf_parse_period(const char *s, long *seconds_r);

/* Parse "HHMM" (0000..2359).  Returns 0 and minutes after midnight in
 * *minutes_r, or CYRERR_PARSE. */
int cyrusconf_parse_at(const char *s, int *minutes_r);

#endif
