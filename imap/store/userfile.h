/* userfile: where a user's private databases live.
 *
 * Seen state, subscriptions (and later other per-user files) are kept under
 * the configuration directory, spread over one-letter directories as Cyrus
 * does:
 *
 *   <configdirectory>/user/<h>/<userid>.<suffix>
 *   <configdirectory>/domain/<d>/<domain>/user/<h>/<localpart>.<suffix>
 *
 * <h> is the lower-cased first letter of the user's (local) name and <d>
 * that of the domain, 'q' when it is not a letter a-z.  The second form is
 * used with virtual domains (the virtdomains option) for a userid with an
 * "@domain" that is not the default domain (namespace_split_userid()).
 *
 * A userid that cannot be a file name (empty, holding '/', control
 * characters or blanks, or too long) is refused with CYRERR_INVALID_USER,
 * so that no userid reaches outside its directory.  Reads the configuration
 * (configdirectory, virtdomains, defaultdomain); no other state.
 */
#ifndef IMAP_STORE_USERFILE_H
#define IMAP_STORE_USERFILE_H

#include "buf.h"

/* Longest local part accepted, in bytes. */
#define USERFILE_NAME_MAX 200

/* The path of `userid`'s file with `suffix` ("seen", "sub"), replacing the
 * contents of `path`.  0 or CYRERR_INVALID_USER (nothing appended then) or
 * CYRERR_CONFIG (no configdirectory). */
int userfile_path(const char *userid, const char *suffix, struct buf *path)
    __attribute__((warn_unused_result));

/* The same under an explicit top directory instead of configdirectory and
 * an explicit virtual-domains setting (tests, tools). */
int userfile_path_in(const char *topdir, int virtdomains, const char *defaultdomain,
                     const char *userid, const char *suffix, struct buf *path)
    __attribute__((warn_unused_result));

/* The hash letter used above for `name`. */
char userfile_hash(const char *name);

#endif
