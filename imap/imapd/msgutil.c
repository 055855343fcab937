/* msgutil: helpers shared by imapd's message commands.  See msgutil.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/msgutil.h"
#include "imap/store/mailbox.h"
#include "imap/store/namespace.h"
#include "imap/store/seen.h"
#include "imap/store/seqset.h"

/* ---- records ------------------------------------------------------------- */

int msgutil_record(struct mailbox *mb, const struct mailbox_view_msg *m,
                   struct mailbox_record *rec)
{
    if (m->recno != UINT32_MAX) {
        int r = mailbox_read_record(mb, m->recno, rec);
        if (!r && rec->uid == m->uid) return 0;
        if (r && r != CYRERR_NOTFOUND) return r;
    }
    return mailbox_find_uid(mb, m->uid, rec);
}

/* ---- message files --------------------------------------------------------- */

void msgutil_file_release(struct msgutil_file *f)
{
    if (f->map) munmap(f->map, f->maplen);
    f->map = NULL;
    f->maplen = 0;
    f->base = NULL;
    f->len = 0;
}

void msgutil_file_fini(struct msgutil_file *f)
{
    msgutil_file_release(f);
    buf_free(&f->data);
    buf_free(&f->path);
}

int msgutil_file_open(struct msgutil_file *f, const struct mailbox *mb, uint32_t uid)
{
    msgutil_file_release(f);
    mailbox_message_path(mb, uid, &f->path);
    int fd = open(buf_cstring(&f->path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return CYRERR_MESSAGE_NONEXISTENT;
        xsyslog(LOG_ERR, "message open failed", "path=<%s> error=<%s>",
                buf_cstring(&f->path), strerror(errno));
        return CYRERR_IO;
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = CYRERR_IO;
    } else if (st.st_size == 0) {
        f->base = "";
        f->len = 0;
    } else if (st.st_size <= MSGUTIL_READ_MAX) {
        size_t want = (size_t)st.st_size;
        buf_reset(&f->data);
        buf_ensure(&f->data, want);
        size_t got = 0;
        while (got < want) {
            ssize_t n = pread(fd, f->data.s + got, want - got, (off_t)got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got < want) {
            r = CYRERR_IO;
        } else {
            f->data.len = got;
            f->base = f->data.s;
            f->len = got;
        }
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            r = CYRERR_IO;
        } else {
            f->map = p;
            f->maplen = (size_t)st.st_size;
            f->base = p;
            f->len = f->maplen;
        }
    }
    if (r)
        xsyslog(LOG_ERR, "message read failed", "path=<%s> error=<%s>",
                buf_cstring(&f->path), strerror(errno));
    close(fd);
    return r;
}

/* ---- flags ----------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t bit;
} system_flags[] = {
    { "\\Answered", MAILBOX_FLAG_ANSWERED },
    { "\\Flagged", MAILBOX_FLAG_FLAGGED },
    { "\\Deleted", MAILBOX_FLAG_DELETED },
    { "\\Draft", MAILBOX_FLAG_DRAFT },
    { "\\Seen", MAILBOX_FLAG_SEEN },
};

uint32_t msgutil_system_flag(const char *name)
{
    for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++)
        if (!strcasecmp(name, system_flags[i].name)) return system_flags[i].bit;
    return 0;
}

void msgutil_flags_fini(struct msgutil_flags *fl)
{
    strarray_free(&fl->keywords);
    fl->system = 0;
    fl->recent = 0;
}

int msgutil_flags_add(struct imapd_session *s, struct msgutil_flags *fl, const char *name)
{
    if (name[0] == '\\') {
        uint32_t bit = msgutil_system_flag(name);
        if (bit) {
            fl->system |= bit;
            return 0;
        }
        if (!strcasecmp(name, "\\Recent")) {
            fl->recent = 1;
            return 0;
        }
        return imapd_syntax(s, "Invalid system flag %s", name);
    }
    if (!mailbox_keyword_valid(name))
        return imapd_syntax(s, "Invalid flag name");
    if (strarray_find_case(&fl->keywords, name, 0) < 0)
        strarray_append(&fl->keywords, name);
    return 0;
}

int msgutil_read_flaglist(struct imapd_session *s, struct msgutil_flags *fl)
{
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c != '(') return imapd_syntax(s, "Missing flag list");
    c = tok_getc(&s->tp);
    if (c < 0) return c;
    if (c == ')') return tok_getc(&s->tp);
    tok_ungetc(&s->tp, c);
    struct buf name = BUF_INITIALIZER;
    for (;;) {
        c = tok_atom(&s->tp, TOK_CS_FLAG, &name);
        if (c < 0) break;
        int r = msgutil_flags_add(s, fl, buf_cstring(&name));
        if (r) {
            c = r;
            break;
        }
        if (c == ')') {
            c = tok_getc(&s->tp);
            break;
        }
        if (c != ' ') {
            c = imapd_syntax(s, "Invalid flag list");
            break;
        }
    }
    buf_free(&name);
    return c;
}

/* ---- UID sets ---------------------------------------------------------------- */

void msgutil_format_uids(const uint32_t *uids, size_t n, struct buf *out)
{
    size_t i = 0;
    int first = 1;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && uids[j + 1] == uids[j] + 1) j++;
        if (!first) buf_putc(out, ',');
        first = 0;
        if (j > i) buf_printf(out, "%u:%u", uids[i], uids[j]);
        else buf_printf(out, "%u", uids[i]);
        i = j + 1;
    }
}

/* ---- \Seen outside the view --------------------------------------------------- */

int msgutil_seen_in_index(struct imapd_session *s, const struct mailbox *mb,
                          const char *intname)
{
    if (s->state == IMAPD_SELECTED && s->sel.mb == mb) return s->sel.is_owner;
    return s->userid && namespace_user_owns(&s->ns, s->userid, intname);
}

int msgutil_seen_add(struct imapd_session *s, struct mailbox *mb, const char *intname,
                     const struct seqset *uids)
{
    if (!s->userid || seqset_is_empty(uids)) return 0;
    if (msgutil_seen_in_index(s, mb, intname)) return 0;
    if (s->state == IMAPD_SELECTED && s->sel.mb == mb) return imapd_seen_change(s, uids, 1);
    struct seen *sdb = NULL;
    int r = seen_open(s->userid, SEEN_CREATE, &sdb);
    if (!r) r = seen_add_uids(sdb, mailbox_uniqueid(mb), uids, time(NULL), NULL);
    if (sdb) {
        int r2 = seen_close(&sdb);
        if (!r) r = r2;
    }
    return r;
}
