/* privs: master's identity: the user services run as, and dropping root.
 *
 * When master starts as root it binds its listeners and then becomes the
 * service user (CYRUS_USER_DEFAULT, "cyrus", or master -u) for good:
 * supplementary groups, gid and uid are all changed.  It keeps exactly one
 * capability, CAP_NET_BIND_SERVICE, so that a service added on SIGHUP can
 * still bind a port below 1024; processes it starts lose it at exec (and
 * spawn clears it before exec anyway).  A service user with uid 0 is
 * refused.  When master does not start as root, services run as master's
 * own user and nothing changes.
 *
 * Process-wide state: the chosen user (set once by privs_init).
 * Errors: privs_init and privs_drop return 0 or a CYRERR_* with a message in
 * *errstr (a static or borrowed string).
 */
#ifndef MASTER_PRIVS_H
#define MASTER_PRIVS_H

#include <sys/types.h>

/* Choose the service user.  `user` is master -u or NULL for the default.
 * When not root: records the current identity and ignores `user`. */
int privs_init(const char *user, const char **errstr);

int privs_is_root(void);               /* master started as root */
const char *privs_user(void);          /* the service user's name */
uid_t privs_uid(void);
gid_t privs_gid(void);

/* In master, after binding: become the service user (no-op when not
 * root). */
int privs_drop(const char **errstr);

/* In a child before exec: when still root, become the service user;
 * then clear every capability.  Returns 0 or -1 (errno set). */
int privs_child(void);

#endif
