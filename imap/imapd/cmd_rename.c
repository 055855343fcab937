/* cmd_rename: RENAME (RFC 3501 6.3.5) with Cyrus's administrative forms.
 *
 *   RENAME old new            a mailbox and everything below it
 *   RENAME old new partition  the same, moved to another partition (admins)
 *   RENAME name name partition  only a partition move (admins)
 *   RENAME INBOX new          RFC 3501: the messages of INBOX move to a new
 *                             mailbox `new`, INBOX stays, empty; folders
 *                             below INBOX are not touched
 *   RENAME user.a user.b      an admin renames a user (allowusermoves):
 *                             the tree, the ACL entries, seen state,
 *                             subscriptions and private METADATA entries
 *                             follow
 *
 * The source needs the x right, the target's nearest existing ancestor
 * the k right (as CREATE).  mailboxes.db is changed first, in one
 * transaction (mboxlist_rename); then each mailbox directory is moved
 * (rename(2) of the directory, which carries the children that live on
 * the same partition; across file systems the files are copied), and the
 * name kept in cyrus.header is corrected by the store's reconstruct.
 * Quota usage is recounted for the old and new names afterwards, and the
 * tree's METADATA entries (imap/store/annotate.h) move with it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/imapd/imapd_mbox.h"
#include "imap/store/annotate.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "imap/store/quota.h"
#include "imap/store/quota_fix.h"
#include "imap/store/seen.h"
#include "imap/store/subs.h"

/* ---- moving directories ---------------------------------------------------------- */

/* The store's staging directory inside each mailbox directory (see
 * imap/store/mailbox.h): the only subdirectory that is not a child. */
#define STAGING_DIR "cyrus.queue"

static int mkdir_parents(const char *path)
{
    char *p = xstrdup(path);
    int r = 0;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = '\0';
        if (mkdir(p, 0750) < 0 && errno != EEXIST) r = CYRERR_IO;
        *q = '/';
        if (r) break;
    }
    free(p);
    return r;
}

static int copy_file(int sfd, int dfd, const char *name)
{
    int in = openat(sfd, name, O_RDONLY | O_CLOEXEC);
    if (in < 0) return CYRERR_IO;
    int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out < 0) {
        close(in);
        return CYRERR_IO;
    }
    char buf[65536];
    int r = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = CYRERR_IO;
            break;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                r = CYRERR_IO;
                break;
            }
            off += w;
        }
        if (r) break;
    }
    if (!r && fsync(out) < 0) r = CYRERR_IO;
    close(in);
    if (close(out) < 0) r = CYRERR_IO;
    return r;
}

/* Move the plain files of a mailbox (not its child directories). */
static int move_files(const char *from, const char *to)
{
    if (mkdir(to, 0750) < 0 && errno != EEXIST) return CYRERR_IO;
    int sfd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = sfd >= 0 ? fdopendir(dup(sfd)) : NULL;
    int r = (sfd < 0 || dfd < 0 || !d) ? CYRERR_IO : 0;
    struct dirent *de;
    while (!r && d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        struct stat st;
        if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (renameat(sfd, de->d_name, dfd, de->d_name) == 0) continue;
        if (errno != EXDEV) {
            r = CYRERR_IO;
            break;
        }
        r = copy_file(sfd, dfd, de->d_name);
        if (!r) unlinkat(sfd, de->d_name, 0);
    }
    if (d) closedir(d);
    if (!r && dfd >= 0) (void)fsync(dfd);
    /* the appenders' staging directory moves too when it is empty (a
     * non-empty one stays, with the old directory, for its appenders) */
    if (!r && unlinkat(sfd, STAGING_DIR, AT_REMOVEDIR) == 0)
        (void)mkdirat(dfd, STAGING_DIR, 0777);
    if (sfd >= 0) close(sfd);
    if (dfd >= 0) close(dfd);
    if (!r) (void)rmdir(from);   /* stays when children live below */
    return r;
}

static int dir_has_index(const char *dir)
{
    struct buf p = BUF_INITIALIZER;
    buf_printf(&p, "%s/cyrus.index", dir);
    int ok = access(buf_cstring(&p), F_OK) == 0;
    buf_free(&p);
    return ok;
}

/* Move one mailbox's files from its old place to its new one and fix the
 * name recorded in it. */
static int move_mailbox(const struct mboxlist_entry *oldentry,
                        const struct mboxlist_entry *newentry)
{
    struct buf od = BUF_INITIALIZER, nd = BUF_INITIALIZER;
    int r = mailbox_dir_for(oldentry->name, oldentry->partition, &od);
    if (!r) r = mailbox_dir_for(newentry->name, newentry->partition, &nd);
    if (r) goto out;
    if (dir_has_index(buf_cstring(&od))) {
        r = mkdir_parents(buf_cstring(&nd));
        if (!r && rename(buf_cstring(&od), buf_cstring(&nd)) < 0) {
            if (errno == EXDEV || errno == ENOTEMPTY || errno == EEXIST)
                r = move_files(buf_cstring(&od), buf_cstring(&nd));
            else
                r = CYRERR_IO;
        }
    } else if (!dir_has_index(buf_cstring(&nd))) {
        /* neither here nor there: nothing to move (a mailbox with lost
         * files), reconstruct below reports it */
    }
    if (!r && dir_has_index(buf_cstring(&nd))) {
        unsigned fixes = 0;
        r = mailbox_reconstruct(buf_cstring(&nd), newentry->name, 0, NULL, NULL, &fixes);
    }
out:
    if (r)
        xsyslog(LOG_ERR, "rename: mailbox files not moved", "from=<%s> to=<%s> error=<%s>",
                buf_cstring(&od), buf_cstring(&nd), error_message(r));
    buf_free(&od);
    buf_free(&nd);
    return r;
}

struct rename_rock {
    int failures;
};

static int rename_cb(void *rock, const struct mboxlist_entry *oldentry,
                     const struct mboxlist_entry *newentry)
{
    struct rename_rock *rr = rock;
    if (oldentry->type & MBOXLIST_TYPEMASK) return 0;   /* no local files */
    if (move_mailbox(oldentry, newentry)) rr->failures++;
    return 0;
}

static void fix_quota(struct imapd_session *s, const char *a, const char *b)
{
    struct strarray prefixes = STRARRAY_INITIALIZER;
    strarray_append(&prefixes, a);
    strarray_append(&prefixes, b);
    int r = quota_fix(s->mbl, &prefixes, NULL, NULL);
    if (r)
        xsyslog(LOG_ERR, "rename: quota recount failed", "from=<%s> to=<%s> error=<%s>", a, b,
                error_message(r));
    strarray_free(&prefixes);
}

/* The METADATA entries of the tree follow it, or (olduser != NULL) the
 * private entries of a renamed user; logged on failure: the mailboxes
 * have moved already. */
static void move_annotations(const char *oldname, const char *newname,
                             const char *olduser, const char *newuser)
{
    struct annotate *a = NULL;
    int r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &a);
    if (!r)
        r = olduser ? annotate_rename_user(a, olduser, newuser)
                    : annotate_rename_mailbox(a, oldname, newname);
    int r2 = annotate_close(&a);
    if (r >= 0) r = r2;
    if (r < 0)
        xsyslog(LOG_ERR, "rename: annotations not moved", "from=<%s> to=<%s> error=<%s>",
                olduser ? olduser : oldname, olduser ? newuser : newname, error_message(r));
}

static int rename_tree(struct imapd_session *s, const char *oldname, const char *newname,
                       const char *partition)
{
    struct rename_rock rr = { 0 };
    /* the selected mailbox keeps working through its open handle, under
     * its new name */
    int r = mboxlist_rename(s->mbl, oldname, newname, partition, rename_cb, &rr);
    if (r) return r;
    if (s->state == IMAPD_SELECTED && s->sel.name &&
        mboxname_is_same_or_below(s->sel.name, oldname)) {
        char *n = strconcat(newname, s->sel.name + strlen(oldname), (char *)NULL);
        free(s->sel.name);
        s->sel.name = n;
    }
    struct subs *sub = NULL;
    if (s->userid && !subs_open(s->userid, 0, &sub)) {
        (void)subs_rename_mailbox(sub, oldname, newname);
        (void)subs_close(&sub);
    }
    fix_quota(s, oldname, newname);
    move_annotations(oldname, newname, NULL, NULL);
    xsyslog(LOG_NOTICE, "mailbox renamed", "from=<%s> to=<%s> partition=<%s> user=<%s>",
            oldname, newname, partition ? partition : "", s->userid);
    return rr.failures ? CYRERR_IO : 0;
}

/* A partition move of one mailbox (its children stay where they are). */
static int move_partition(struct imapd_session *s, const struct mboxlist_entry *e,
                          const char *partition)
{
    if (!config_partitiondir(partition)) return CYRERR_PARTITION_UNKNOWN;
    if (e->partition && !strcmp(e->partition, partition)) return 0;
    if (s->state == IMAPD_SELECTED && s->sel.name && !strcmp(s->sel.name, e->name))
        imapd_unselect(s);
    struct mboxlist_entry ne = MBOXLIST_ENTRY_INITIALIZER;
    mboxlist_entry_copy(&ne, e);
    free(ne.partition);
    ne.partition = xstrdup(partition);
    struct buf od = BUF_INITIALIZER, nd = BUF_INITIALIZER;
    int r = mailbox_dir_for(e->name, e->partition, &od);
    if (!r) r = mailbox_dir_for(ne.name, ne.partition, &nd);
    if (!r) r = mkdir_parents(buf_cstring(&nd));
    if (!r) r = move_files(buf_cstring(&od), buf_cstring(&nd));
    if (!r) r = mboxlist_update(s->mbl, &ne, NULL);
    if (!r)
        xsyslog(LOG_NOTICE, "mailbox moved", "mailbox=<%s> partition=<%s> user=<%s>", e->name,
                partition, s->userid);
    buf_free(&od);
    buf_free(&nd);
    mboxlist_entry_free(&ne);
    return r;
}

/* ---- RENAME INBOX ------------------------------------------------------------------ */

/* Move every message of `src` into the (new, empty) mailbox `dst`. */
static int move_messages(struct mailbox *src, struct mailbox *dst)
{
    int r = mailbox_lock(src, MAILBOX_LOCK_SHARED);
    if (r) return r;
    uint32_t n = mailbox_num_records(src);
    struct mailbox_append_msg *msgs = xcalloc(n ? n : 1, sizeof(*msgs));
    struct buf *paths = xcalloc(n ? n : 1, sizeof(*paths));
    struct buf *caches = xcalloc(n ? n : 1, sizeof(*caches));
    struct mailbox_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
    const char ***kws = xcalloc(n ? n : 1, sizeof(*kws));
    uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
    size_t count = 0;
    for (uint32_t i = 0; i < n && !r; i++) {
        struct mailbox_record *rec = &recs[count];
        r = mailbox_read_record(src, i, rec);
        if (r || (rec->system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
        struct mailbox_append_msg *m = &msgs[count];
        mailbox_message_path(src, rec->uid, &paths[count]);
        m->source = MAILBOX_SRC_PATH;
        m->path = buf_cstring(&paths[count]);
        m->internaldate = (time_t)rec->internaldate;
        m->system_flags = rec->system_flags & MAILBOX_FLAGS_SETTABLE;
        m->guid = rec->guid;
        if (!mailbox_read_cache(src, rec, &caches[count])) {
            m->cache = buf_base(&caches[count]);
            m->cache_len = buf_len(&caches[count]);
        }
        size_t nk = 0;
        kws[count] = xcalloc(MAILBOX_MAX_KEYWORDS, sizeof(char *));
        for (uint32_t bit = 0; bit < MAILBOX_MAX_KEYWORDS; bit++) {
            if (!(rec->user_flags[bit / 32] & (1u << (bit % 32)))) continue;
            const char *kw = mailbox_keyword_name(src, bit);
            if (kw) kws[count][nk++] = kw;
        }
        m->keywords = kws[count];
        m->nkeywords = nk;
        uids[count] = rec->uid;
        count++;
    }
    for (size_t done = 0; !r && done < count;) {
        size_t batch = count - done > MAILBOX_APPEND_MAX ? MAILBOX_APPEND_MAX : count - done;
        struct mailbox_append_result res;
        r = mailbox_append(dst, msgs + done, batch,
                           MAILBOX_APPEND_IGNOREQUOTA | MAILBOX_APPEND_LINK, &res);
        done += batch;
    }
    mailbox_unlock(src);
    if (!r && count) r = mailbox_expunge(src, uids, count, MAILBOX_EXPUNGE_ANY, NULL, NULL, NULL);
    for (size_t i = 0; i < (n ? n : 1); i++) {
        buf_free(&paths[i]);
        buf_free(&caches[i]);
        free(kws[i]);
    }
    free(msgs);
    free(paths);
    free(caches);
    free(recs);
    free(kws);
    free(uids);
    return r;
}

static int rename_inbox(struct imapd_session *s, const struct mboxlist_entry *inbox,
                        const char *newname, const char *partition)
{
    int r = imapd_mbox_create(s, newname, partition);
    if (r) return r;
    struct mboxlist_entry ne = MBOXLIST_ENTRY_INITIALIZER;
    struct mailbox *src = NULL, *dst = NULL;
    r = mboxlist_lookup_usable(s->mbl, newname, &ne);
    if (!r) r = imapd_mailbox_get(s, inbox, &src);
    if (!r) r = mailbox_open(ne.name, ne.partition, &dst);
    if (!r) r = move_messages(src, dst);
    mailbox_close(&dst);
    imapd_mailbox_put(s, &src);
    mboxlist_entry_free(&ne);
    if (!r)
        xsyslog(LOG_NOTICE, "INBOX renamed", "inbox=<%s> to=<%s> user=<%s>", inbox->name, newname,
                s->userid);
    return r;
}

/* ---- the command ------------------------------------------------------------------ */

static int do_rename(struct imapd_session *s, const char *oldext, const char *newext0,
                     const char *partition)
{
    struct buf oldname = BUF_INITIALIZER, newname = BUF_INITIALIZER;
    struct buf newext = BUF_INITIALIZER, part = BUF_INITIALIZER;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    buf_setcstr(&newext, newext0);
    imapd_mbox_strip_sep(s, &newext);
    int r = imapd_lookup(s, oldext, ACL_DELETEMBOX, &oldname, &e, NULL);
    if (!r) r = imapd_intname(s, buf_cstring(&newext), &newname);
    if (!r) r = imapd_mbox_murder_check(s);
    if (r) goto out;
    if (partition && strchr(partition, '!')) {
        r = CYRERR_NOTSUPPORTED;   /* server!partition: a move to another backend (XFER) */
        goto out;
    }
    if (partition && !s->isadmin) {
        r = CYRERR_PERMISSION;
        goto out;
    }
    const char *from = buf_cstring(&oldname), *to = buf_cstring(&newname);

    if (!strcmp(from, to)) {
        r = partition ? move_partition(s, &e, partition) : CYRERR_MAILBOX_EXISTS;
        goto out;
    }
    int own_inbox = !strcasecmp(oldext, "INBOX") ||
                    (s->userid && mboxname_isusermailbox(from, 1) &&
                     namespace_user_owns(&s->ns, s->userid, from) && !s->isadmin);
    if (own_inbox) {
        r = imapd_mbox_create_check(s, to, partition, NULL, &part);
        if (!r) r = rename_inbox(s, &e, to, buf_cstring(&part));
        goto out;
    }
    int user_move = mboxname_isusermailbox(from, 1) || mboxname_isusermailbox(to, 1);
    if (user_move) {
        /* only whole users move, by admins, when allowed */
        if (!s->isadmin || !mboxname_isusermailbox(from, 1) ||
            !mboxname_isusermailbox(to, 1) || !config_getswitch(IMAPOPT_ALLOWUSERMOVES)) {
            r = CYRERR_PERMISSION;
            goto out;
        }
    }
    r = imapd_mbox_create_check(s, to, partition, from, &part);
    if (!r) r = rename_tree(s, from, to, partition);
    if (!r && user_move) {
        char *ou = mboxname_to_userid(from), *nu = mboxname_to_userid(to);
        if (ou && nu) {
            if (seen_rename_user(ou, nu))
                xsyslog(LOG_WARNING, "seen state not moved", "from=<%s> to=<%s>", ou, nu);
            if (subs_rename_user(ou, nu))
                xsyslog(LOG_WARNING, "subscriptions not moved", "from=<%s> to=<%s>", ou, nu);
            move_annotations(NULL, NULL, ou, nu);
            struct quota q;
            quota_init(&q, from);
            if (!quota_read(from, &q)) {
                (void)quota_setlimits(to, q.limit);
                (void)quota_delete(from);
                fix_quota(s, from, to);
            }
            quota_free(&q);
        }
        free(ou);
        free(nu);
    }
out:
    mboxlist_entry_free(&e);
    buf_free(&oldname);
    buf_free(&newname);
    buf_free(&newext);
    buf_free(&part);
    return r;
}

int imapd_cmd_rename(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf oldext = BUF_INITIALIZER, newext = BUF_INITIALIZER, part = BUF_INITIALIZER;
    int has_part = 0;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &oldext);
    if (c == ' ') c = tok_astring(&s->tp, &newext);
    else if (c >= 0) c = imapd_syntax(s, "Missing new mailbox name");
    if (c == ' ') {
        c = tok_astring(&s->tp, &part);
        has_part = 1;
    }
    int r = imapd_eol(s, c);
    if (r >= 0) {
        r = do_rename(s, buf_cstring(&oldext), buf_cstring(&newext),
                      has_part ? buf_cstring(&part) : NULL);
        r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
    }
    buf_free(&oldext);
    buf_free(&newext);
    buf_free(&part);
    return r;
}
