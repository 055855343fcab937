/* cyr_info: show and check the imapd.conf configuration.
 *
 *   cyr_info [-C imapd.conf] [-n servicename] COMMAND
 *
 *   conf          options set in the file, as "key: value"
 *   conf-all      every option with its effective value
 *   conf-default  every option with its default
 *   conf-lint     report unknown keys and bad values; exit 1 on errors
 *   options       every option: name, type, default, help (tab-separated)
 *
 * Errors and warnings go to stderr with file:line.  A configuration with
 * errors makes every command but conf-lint exit 75.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "error.h"
#include "libconfig.h"
#include "strarray.h"

static void usage(void)
{
    fprintf(stderr, "usage: cyr_info [-C imapd.conf] [-n servicename] COMMAND\n"
                    "commands:\n"
                    "  conf          options set in the configuration file\n"
                    "  conf-all      every option with its effective value\n"
                    "  conf-default  every option with its default value\n"
                    "  conf-lint     report unknown options and bad values\n"
                    "  options       every option with its type, default and help\n");
    exit(EX_USAGE);
}

static void print_kv(const char *key, const char *value)
{
    if (value && *value)
        printf("%s: %s\n", key, value);
    else
        printf("%s:\n", key);
}

static void print_set(const char *key, const char *value, const char *file, int line,
                      void *rock)
{
    (void)file;
    (void)line;
    (void)rock;
    print_kv(key, value);
}

static void print_all(int defaults)
{
    for (int i = 1; i < IMAPOPT_LAST; i++) {
        const struct imapopt_desc *d = &imapopt_table[i];
        print_kv(d->name, defaults ? d->def : config_getstring((enum imapopt)i));
    }
}

static void print_options(void)
{
    for (int i = 1; i < IMAPOPT_LAST; i++) {
        const struct imapopt_desc *d = &imapopt_table[i];
        const char *def = d->def ? (*d->def ? d->def : "\"\"") : "<none>";
        printf("%s\t%s", d->name, config_type_name(d->type));
        if (d->extra) printf("(%s)", d->extra);
        printf("\t%s\t%s\n", def, d->help);
    }
}

static void print_list(const struct strarray *sa, const char *what)
{
    for (int i = 0; i < sa->count; i++)
        fprintf(stderr, "%s: %s\n", what, sa->data[i]);
}

int main(int argc, char **argv)
{
    const char *file = NULL, *ident = NULL;
    int c;

    while ((c = getopt(argc, argv, "C:n:")) != -1) {
        switch (c) {
        case 'C':
            file = optarg;
            break;
        case 'n':
            ident = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1) usage();
    const char *cmd = argv[optind];

    if (!strcmp(cmd, "options")) {
        print_options();
        if (fflush(stdout) == EOF || ferror(stdout)) {
            fprintf(stderr, "cyr_info: write error on standard output\n");
            return EX_IOERR;
        }
        return 0;
    }
    if (strcmp(cmd, "conf") && strcmp(cmd, "conf-all") && strcmp(cmd, "conf-default") &&
        strcmp(cmd, "conf-lint"))
        usage();

    struct strarray errors = STRARRAY_INITIALIZER;
    struct strarray warnings = STRARRAY_INITIALIZER;
    int r = config_read(file, ident, &errors, &warnings);
    print_list(&warnings, "warning");
    print_list(&errors, "error");
    int lint = !strcmp(cmd, "conf-lint");
    int status = 0;

    if (r) {
        status = lint ? 1 : EX_TEMPFAIL;
        if (!lint) fprintf(stderr, "%s: %s\n", config_filename(), error_message(r));
        else
            printf("%s: %d warning%s, %d error%s\n", config_filename(), warnings.count,
                   warnings.count == 1 ? "" : "s", errors.count,
                   errors.count == 1 ? "" : "s");
    } else if (lint) {
        printf("%s: %d warning%s, no errors\n", config_filename(), warnings.count,
               warnings.count == 1 ? "" : "s");
    } else if (!strcmp(cmd, "conf")) {
        config_foreach_set(print_set, NULL);
    } else {
        print_all(!strcmp(cmd, "conf-default"));
    }

    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "cyr_info: write error on standard output\n");
        status = EX_IOERR;
    }
    strarray_free(&errors);
    strarray_free(&warnings);
    config_reset();
    return status;
}
