/* harness_backend: the set-up shared by the store suites that run once per
 * cyrusdb backend (seen, subscriptions, quota, annotations).  See
 * harness.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cunit/harness.h"
#include "cyrusdb.h"
#include "libconfig.h"
#include "xmalloc.h"

static char *confdir;   /* of the suite that runs (freed at the next set-up) */

int harness_backend_setup(const char *backend, const char *fmt, ...)
{
    struct buf text = BUF_INITIALIZER;
    free(confdir);
    confdir = xasprintf("%s/%s-conf", harness_tmpdir(), backend);
    buf_printf(&text, "configdirectory: %s\n", confdir);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        buf_vprintf(&text, fmt, ap);
        va_end(ap);
    }
    char *conf = xasprintf("%s/%s-imapd.conf", harness_tmpdir(), backend);
    FILE *f = fopen(conf, "w");
    int r = f ? 0 : -1;
    if (f) {
        if (fputs(buf_cstring(&text), f) == EOF) r = -1;
        if (fclose(f) == EOF) r = -1;
    }
    buf_free(&text);
    if (!r) {
        config_reset();
        r = config_read(conf, NULL, NULL, NULL) ? -1 : 0;
    }
    free(conf);
    if (!r && !strncmp(backend, "berkeley", 8)) {
        char *env = xasprintf("%s/%s-env", harness_tmpdir(), backend);
        r = cyrusdb_init(env) ? -1 : 0;
        free(env);
    }
    return r;
}

const char *harness_backend_confdir(void)
{
    return confdir;
}

int harness_backend_cleanup(void)
{
    cyrusdb_done();
    config_reset();
    return 0;
}
