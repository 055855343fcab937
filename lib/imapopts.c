/* imapopts: the option table, built from imapopts.h.  See libconfig.h. */
#include "config.h"

#include <stddef.h>

#include "libconfig.h"

const struct imapopt_desc imapopt_table[IMAPOPT_LAST] = {
    [IMAPOPT_ZERO] = {NULL, OPT_STRING, NULL, NULL, NULL},
#define IMAPOPT(id, name, type, def, extra, help)                                        \
    [IMAPOPT_##id] = {#name, OPT_##type, def, extra, help},
#include "imapopts.h"
#undef IMAPOPT
};
