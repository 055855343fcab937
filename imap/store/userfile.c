/* userfile: paths of per-user databases.  See userfile.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "libconfig.h"
#include "xmalloc.h"
#include "imap/store/namespace.h"
#include "imap/store/userfile.h"

char userfile_hash(const char *name)
{
    char c = name ? name[0] : '\0';
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    return (c >= 'a' && c <= 'z') ? c : 'q';
}

/* A local part usable as the start of a file name. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > USERFILE_NAME_MAX) return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '/') return 0;
    }
    return 1;
}

int userfile_path_in(const char *topdir, int virtdomains, const char *defaultdomain,
                     const char *userid, const char *suffix, struct buf *path)
{
    struct namespace ns = NAMESPACE_INITIALIZER;
    char *local = NULL, *domain = NULL;

    if (!topdir || !*topdir) return CYRERR_CONFIG;
    if (!suffix || !*suffix || strchr(suffix, '/')) return CYRERR_BADARGS;
    ns.virtdomains = virtdomains;
    ns.defaultdomain = (defaultdomain && *defaultdomain) ? defaultdomain : NULL;
    if (namespace_split_userid(&ns, userid, &local, &domain)) return CYRERR_INVALID_USER;
    int r = CYRERR_INVALID_USER;
    if (!name_ok(local) || (domain && strchr(domain, '/'))) goto done;

    buf_reset(path);
    buf_appendcstr(path, topdir);
    if (domain)
        buf_printf(path, "/domain/%c/%s", userfile_hash(domain), domain);
    buf_printf(path, "/user/%c/%s.%s", userfile_hash(local), local, suffix);
    r = 0;
done:
    free(local);
    free(domain);
    return r;
}

int userfile_path(const char *userid, const char *suffix, struct buf *path)
{
    const char *vd = config_getenum(IMAPOPT_VIRTDOMAINS);
    int virtdomains = vd && strcmp(vd, "off") != 0;
    return userfile_path_in(config_dir(), virtdomains,
                            config_getstring(IMAPOPT_DEFAULTDOMAIN), userid, suffix,
                            path);
}
