/* privs: the service user and dropping root.  See privs.h.
 *
 * Capabilities are set with the raw capget/capset system calls (Linux),
 * so master needs no libcap for its one capability.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"
#include "master/privs.h"
#include "xmalloc.h"

static struct {
    int started_root;
    char *user;
    uid_t uid;
    gid_t gid;
} privs;

int privs_is_root(void)
{
    return privs.started_root;
}

const char *privs_user(void)
{
    return privs.user ? privs.user : "";
}

uid_t privs_uid(void)
{
    return privs.uid;
}

gid_t privs_gid(void)
{
    return privs.gid;
}

int privs_init(const char *user, const char **errstr)
{
    static char msg[256];
    privs.started_root = geteuid() == 0;
    if (!privs.started_root) {
        struct passwd *pw = getpwuid(getuid());
        free(privs.user);
        privs.user = pw ? xstrdup(pw->pw_name) : xasprintf("%ld", (long)getuid());
        privs.uid = getuid();
        privs.gid = getgid();
        return 0;
    }
    if (!user || !*user) user = CYRUS_USER_DEFAULT;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(msg, sizeof(msg),
                 "service user \"%s\" does not exist (create it, e.g. useradd "
                 "--system --user-group cyrus, or name another with -u)", user);
        *errstr = msg;
        return CYRERR_INVALID_USER;
    }
    if (pw->pw_uid == 0) {
        snprintf(msg, sizeof(msg), "refusing to run services as root (user \"%s\")",
                 user);
        *errstr = msg;
        return CYRERR_PERMISSION;
    }
    free(privs.user);
    privs.user = xstrdup(pw->pw_name);
    privs.uid = pw->pw_uid;
    privs.gid = pw->pw_gid;
    return 0;
}

static int set_caps(unsigned long long keep)
{
    struct __user_cap_header_struct hdr;
    struct __user_cap_data_struct data[2];
    memset(&hdr, 0, sizeof(hdr));
    memset(data, 0, sizeof(data));
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    data[0].effective = data[0].permitted = (uint32_t)(keep & 0xffffffffu);
    data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &hdr, data);
}

static int become_user(void)
{
    if (setgroups(0, NULL) < 0 && errno != EPERM) return -1;
    if (initgroups(privs.user, privs.gid) < 0) return -1;
    if (setresgid(privs.gid, privs.gid, privs.gid) < 0) return -1;
    if (setresuid(privs.uid, privs.uid, privs.uid) < 0) return -1;
    return 0;
}

int privs_drop(const char **errstr)
{
    static char msg[256];
    if (!privs.started_root || geteuid() != 0) return 0;

    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0) {
        snprintf(msg, sizeof(msg), "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
        *errstr = msg;
        return CYRERR_PERMISSION;
    }
    if (become_user() < 0) {
        snprintf(msg, sizeof(msg), "cannot become user %s: %s", privs.user,
                 strerror(errno));
        *errstr = msg;
        return CYRERR_PERMISSION;
    }
    prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    if (set_caps(1ULL << CAP_NET_BIND_SERVICE) < 0) {
        /* not fatal: only SIGHUP-added privileged ports are lost */
        set_caps(0);
    }
    /* there is no way back */
    if (setuid(0) == 0 || geteuid() == 0) {
        snprintf(msg, sizeof(msg), "still able to regain root after dropping it");
        *errstr = msg;
        return CYRERR_PERMISSION;
    }
    return 0;
}

int privs_child(void)
{
    if (geteuid() == 0 && privs.started_root) {
        if (privs.uid == 0 || become_user() < 0) return -1;
    }
    if (getuid() != 0) set_caps(0);
    return 0;
}
