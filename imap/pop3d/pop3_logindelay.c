/* pop3_logindelay: popminpoll and poppollpadding -- how often one user may
 * log in to POP3 (RFC 2449 LOGIN-DELAY).
 *
 * Each user has a small allowance of logins: `padding` at most
 * (poppollpadding, default 1), one taken per login, one given back every
 * `minpoll` seconds.  With padding 1 this is exactly "no two logins less
 * than popminpoll apart"; a larger padding lets a client poll faster now
 * and then while keeping the long-term rate.
 *
 * The state is one line "1 <t0> <tokens>" in
 * <configdirectory>/user/<h>/<userid>.pop3 (userfile.h): `tokens` were
 * available at time `t0` (a clock that went back moves t0 back to now, so
 * no refill is counted for the jump).  It is read and rewritten in place under an
 * exclusive fcntl lock, so two logins at once cannot both take the last
 * token.  The file is not fsynced: a crash can at worst forget one login.
 * A record that cannot be parsed counts as a full allowance.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "imap/store/userfile.h"

#include "imap/pop3d/pop3d.h"

#define LOGINDELAY_SUFFIX "pop3"
#define RECORD_MAX 128

/* mkdir -p of the directories above `path`. */
static int make_parents(const char *path)
{
    struct buf dir = BUF_INITIALIZER;
    buf_setcstr(&dir, path);
    int r = 0;
    for (size_t i = 1; i < buf_len(&dir); i++) {
        if (dir.s[i] != '/') continue;
        dir.s[i] = '\0';
        if (mkdir(dir.s, 0750) < 0 && errno != EEXIST) {
            xsyslog(LOG_ERR, "cannot create directory", "path=<%s> error=<%s>", dir.s,
                    strerror(errno));
            r = CYRERR_IO;
            break;
        }
        dir.s[i] = '/';
    }
    buf_free(&dir);
    return r;
}

static int lock_fd(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (fcntl(fd, F_OFD_SETLKW, &fl) == 0) return 0;
        if (errno != EINTR) return CYRERR_IO;
    }
}

int pop3_logindelay_take(const char *userid, time_t now, long minpoll, int padding,
                         long *wait_r)
{
    if (minpoll <= 0) return 1;
    if (padding < 1) padding = 1;

    struct buf path = BUF_INITIALIZER;
    int r = userfile_path(userid, LOGINDELAY_SUFFIX, &path);
    if (r) {
        buf_free(&path);
        return r;
    }
    int fd = open(buf_cstring(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 && errno == ENOENT) {
        r = make_parents(buf_cstring(&path));
        if (!r) fd = open(buf_cstring(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    }
    if (fd < 0) {
        if (!r) {
            xsyslog(LOG_ERR, "cannot open login delay record", "path=<%s> error=<%s>",
                    buf_cstring(&path), strerror(errno));
            r = CYRERR_IO;
        }
        buf_free(&path);
        return r;
    }
    if (lock_fd(fd)) {
        xsyslog(LOG_ERR, "cannot lock login delay record", "path=<%s> error=<%s>",
                buf_cstring(&path), strerror(errno));
        close(fd);
        buf_free(&path);
        return CYRERR_IO;
    }

    /* the stored allowance, or a full one */
    char rec[RECORD_MAX + 1];
    ssize_t n = pread(fd, rec, RECORD_MAX, 0);
    long long t0 = now;
    long long tokens = padding;
    if (n > 0) {
        rec[n] = '\0';
        long long a, b;
        int v;
        char end;
        if (sscanf(rec, "%d %lld %lld%c", &v, &a, &b, &end) == 4 && v == 1 &&
            end == '\n' && b >= 0) {
            t0 = a;
            tokens = b;
        }
    }
    if (t0 > now) t0 = now;   /* the clock went back: no refill meanwhile */
    long long refill = ((long long)now - t0) / minpoll;
    if (tokens + refill >= padding) {
        tokens = padding;
        t0 = now;
    } else {
        tokens += refill;
        t0 += refill * minpoll;
    }

    int allowed = tokens >= 1;
    if (allowed) tokens--;
    else if (wait_r) *wait_r = (long)(t0 + minpoll - now);
    /* written after a refusal too: it may carry a corrected t0 */
    char line[RECORD_MAX];
    int len = snprintf(line, sizeof(line), "1 %lld %lld\n", t0, tokens);
    if (pwrite(fd, line, (size_t)len, 0) != len || ftruncate(fd, len) < 0) {
        xsyslog(LOG_ERR, "cannot write login delay record", "path=<%s> error=<%s>",
                buf_cstring(&path), strerror(errno));
        r = CYRERR_IO;
    }
    close(fd);   /* releases the lock */
    buf_free(&path);
    if (r) return r;
    return allowed;
}
