/* pop3_msgcmds: the TRANSACTION state's commands (RFC 1939 5, RFC 2449 TOP
 * and UIDL) over the session's fixed message list.
 *
 * Numbers and sizes come from the list read at login; deleted messages
 * (DELE) are hidden from STAT/LIST/UIDL and refused elsewhere until RSET.
 * RETR and TOP look the message up again by UID under a shared lock: a
 * message expunged by another session meanwhile gives "-ERR".  The message
 * file is opened under that lock and then streamed with no lock held.
 * UIDL is "<uidvalidity>.<uid>" (Cyrus's default uidl_format), stable
 * across sessions as long as the mailbox keeps its UIDVALIDITY.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "prot.h"
#include "xmalloc.h"
#include "imap/store/acl.h"
#include "imap/store/mailbox.h"

#include "imap/pop3d/pop3d.h"

/* ---- STAT, LIST, UIDL ----------------------------------------------------- */

static void totals(const struct pop3_maildrop *md, uint32_t *n_r, uint64_t *octets_r)
{
    uint32_t n = 0;
    uint64_t octets = 0;
    for (uint32_t i = 0; i < md->count; i++) {
        if (md->msgs[i].deleted) continue;
        n++;
        octets += md->msgs[i].size;
    }
    *n_r = n;
    *octets_r = octets;
}

void pop3_cmd_stat(struct pop3_session *s, const char *args)
{
    (void)args;
    uint32_t n;
    uint64_t octets;
    totals(s->md, &n, &octets);
    pop3_ok(s, "%u %llu", n, (unsigned long long)octets);
}

void pop3_cmd_list(struct pop3_session *s, const char *args)
{
    struct pop3_maildrop *md = s->md;
    if (args) {
        uint32_t i;
        if (pop3_msgno(s, args, &i)) return;
        pop3_ok(s, "%u %u", i + 1, md->msgs[i].size);
        return;
    }
    uint32_t n;
    uint64_t octets;
    totals(md, &n, &octets);
    pop3_ok(s, "%u message%s (%llu octets)", n, n == 1 ? "" : "s",
            (unsigned long long)octets);
    for (uint32_t i = 0; i < md->count; i++)
        if (!md->msgs[i].deleted)
            prot_printf(s->p, "%u %u\r\n", i + 1, md->msgs[i].size);
    prot_puts(s->p, ".\r\n");
}

void pop3_cmd_uidl(struct pop3_session *s, const char *args)
{
    struct pop3_maildrop *md = s->md;
    if (args) {
        uint32_t i;
        if (pop3_msgno(s, args, &i)) return;
        pop3_ok(s, "%u %u.%u", i + 1, md->uidvalidity, md->msgs[i].uid);
        return;
    }
    pop3_ok(s, "Unique-ID listing follows");
    for (uint32_t i = 0; i < md->count; i++)
        if (!md->msgs[i].deleted)
            prot_printf(s->p, "%u %u.%u\r\n", i + 1, md->uidvalidity, md->msgs[i].uid);
    prot_puts(s->p, ".\r\n");
}

/* ---- DELE, RSET ------------------------------------------------------------ */

void pop3_cmd_dele(struct pop3_session *s, const char *args)
{
    uint32_t i;
    if (!(s->md->rights & ACL_DELETEMSG)) {
        pop3_err(s, "[SYS/PERM] %s", error_message(CYRERR_PERMISSION));
        return;
    }
    if (pop3_msgno(s, args, &i)) return;
    s->md->msgs[i].deleted = 1;
    s->ndele++;
    pop3_ok(s, "Message %u deleted", i + 1);
}

void pop3_cmd_rset(struct pop3_session *s, const char *args)
{
    (void)args;
    struct pop3_maildrop *md = s->md;
    for (uint32_t i = 0; i < md->count; i++) {
        md->msgs[i].deleted = 0;
        md->msgs[i].retrieved = 0;
    }
    uint32_t n;
    uint64_t octets;
    totals(md, &n, &octets);
    pop3_ok(s, "Maildrop has %u message%s (%llu octets)", n, n == 1 ? "" : "s",
            (unsigned long long)octets);
}

/* ---- RETR, TOP ---------------------------------------------------------------- */

/* Open the file of message i (0-based), checking that it still exists.
 * Returns the descriptor, or -1 after the "-ERR" reply. */
static int open_message(struct pop3_session *s, uint32_t i)
{
    struct pop3_maildrop *md = s->md;
    struct mailbox_record rec;
    int r = mailbox_lock(md->mb, MAILBOX_LOCK_SHARED);
    if (r) {
        xsyslog(LOG_ERR, "cannot lock maildrop", "mailbox=<%s> error=<%s>", md->name,
                error_message(r));
        pop3_err(s, "[SYS/TEMP] Unable to read maildrop: %s", error_message(r));
        return -1;
    }
    r = mailbox_find_uid(md->mb, md->msgs[i].uid, &rec);
    if (r == 0 && (rec.system_flags & (MAILBOX_FLAG_EXPUNGED | MAILBOX_FLAG_UNLINKED)))
        r = CYRERR_NOTFOUND;
    int fd = -1;
    if (r == 0) {
        struct buf path = BUF_INITIALIZER;
        mailbox_message_path(md->mb, md->msgs[i].uid, &path);
        fd = open(buf_cstring(&path), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            xsyslog(LOG_ERR, "cannot open message file", "path=<%s> error=<%s>",
                    buf_cstring(&path), strerror(errno));
            r = CYRERR_IO;
        }
        buf_free(&path);
    }
    mailbox_unlock(md->mb);
    if (r == CYRERR_NOTFOUND)
        pop3_err(s, "Message %u was removed by another session", i + 1);
    else if (r)
        pop3_err(s, "[SYS/TEMP] Unable to read message: %s", error_message(r));
    return r ? -1 : fd;
}

static void send_one(struct pop3_session *s, uint32_t i, long maxlines)
{
    int fd = open_message(s, i);
    if (fd < 0) return;
    if (maxlines < 0)
        pop3_ok(s, "%u octets", s->md->msgs[i].size);
    else
        pop3_ok(s, "Top of message follows");
    int r = pop3_send_message(s->p, fd, maxlines);
    close(fd);
    if (r) {
        /* the reply was started: only closing tells the client */
        xsyslog(LOG_ERR, "message transfer failed", "mailbox=<%s> uid=<%u> error=<%s>",
                s->md->name, s->md->msgs[i].uid, error_message(r));
        s->done = 1;
    }
}

void pop3_cmd_retr(struct pop3_session *s, const char *args)
{
    uint32_t i;
    if (pop3_msgno(s, args, &i)) return;
    send_one(s, i, -1);
    if (!s->done) {
        s->md->msgs[i].retrieved = 1;
        s->nretr++;
    }
}

/* TOP msg n */
void pop3_cmd_top(struct pop3_session *s, const char *args)
{
    const char *sp = strpbrk(args, " \t");
    char *msg = xstrndup(args, (size_t)(sp - args));
    while (*sp == ' ' || *sp == '\t') sp++;
    uint32_t i, lines;
    if (pop3_msgno(s, msg, &i)) {
        free(msg);
        return;
    }
    free(msg);
    if (pop3_parse_u32(sp, &lines)) {
        pop3_err(s, "Invalid number of lines");
        return;
    }
    send_one(s, i, (long)lines);
    if (!s->done) s->ntop++;
}
