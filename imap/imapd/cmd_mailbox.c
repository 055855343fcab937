/* cmd_mailbox: CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE and STATUS, and the
 * creation and removal helpers of imapd_mbox.h.
 *
 * Behaviour where RFC 3501 leaves a choice, as Cyrus does it:
 *   - CREATE does not create missing intermediate mailboxes (LIST shows
 *     them as \Noselect \HasChildren); a trailing separator is dropped.
 *   - CREATE takes an optional partition argument, for admins only.
 *   - CREATE name (USE (\Sent ...)) (RFC 6154 CREATE-SPECIAL-USE) stores the
 *     special use as the owner's /private/specialuse METADATA entry; it is
 *     checked before the mailbox is made (NO [USEATTR]: an unknown use,
 *     \All or \Flagged, a use another mailbox of the owner has, a shared
 *     mailbox or an INBOX; see imapd_specialuse_check()), and the mailbox
 *     is removed again when the entry cannot be stored.
 *   - Only admins create top-level mailboxes and users' INBOXes; a user
 *     creates below a mailbox on which it holds the k right.
 *   - DELETE of a mailbox with children deletes it alone; DELETE of a
 *     user's INBOX (admins only) deletes the whole user: every mailbox of
 *     the tree, the user's quota root, seen state, subscriptions and
 *     private METADATA entries.  A deleted mailbox's METADATA entries go
 *     with it.
 *   - Deletion is immediate (delete_mode=delayed is not implemented).
 *   - SUBSCRIBE needs an existing mailbox unless allowallsubscribe is set;
 *     UNSUBSCRIBE of a name not subscribed succeeds.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
#include "imap/store/seen.h"
#include "imap/store/subs.h"

/* ---- helpers of imapd_mbox.h ------------------------------------------------ */

/* Remove the METADATA entries of a deleted mailbox (mailbox != NULL) or
 * the private entries of a deleted user; a failure is logged only: the
 * mailbox is gone either way. */
static void drop_annotations(const char *mailbox, const char *user)
{
    struct annotate *a = NULL;
    int r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &a);
    if (!r)
        r = mailbox ? annotate_delete_mailbox(a, mailbox) : annotate_delete_user(a, user);
    int r2 = annotate_close(&a);
    if (r >= 0) r = r2;
    if (r < 0)
        xsyslog(LOG_ERR, "annotations not removed", "mailbox=<%s> user=<%s> error=<%s>",
                mailbox ? mailbox : "", user ? user : "", error_message(r));
}

void imapd_mbox_strip_sep(struct imapd_session *s, struct buf *extname)
{
    size_t n = buf_len(extname);
    if (n > 1 && buf_base(extname)[n - 1] == s->ns.hier_sep) buf_truncate(extname, n - 1);
}

int imapd_mbox_murder_check(struct imapd_session *s)
{
    const char *mupdate = config_getstring(IMAPOPT_MUPDATE_SERVER);
    if (!mupdate || !*mupdate) return 0;
    xsyslog(LOG_ERR, "mailbox change refused: no mupdate client",
            "mupdate_server=<%s> user=<%s>", mupdate, s->userid ? s->userid : "");
    return CYRERR_SERVER_UNAVAILABLE;
}

static int usable_type(unsigned type)
{
    return !(type & (MBOXLIST_DELETED | MBOXLIST_RESERVED));
}

int imapd_mbox_create_check(struct imapd_session *s, const char *name,
                            const char *partition, const char *ignore,
                            struct buf *part_out)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = mboxlist_lookup(s->mbl, name, &e, NULL);
    if (!r) {
        r = (e.type & MBOXLIST_RESERVED) ? CYRERR_MAILBOX_RESERVED : CYRERR_MAILBOX_EXISTS;
        if (e.type & MBOXLIST_DELETED) r = 0;
        mboxlist_entry_free(&e);
        if (r) return r;
    } else if (r != CYRERR_MAILBOX_NONEXISTENT && r != CYRERR_NOTFOUND) {
        return r;
    }
    if (partition && !s->isadmin) return CYRERR_PERMISSION;
    if (mboxname_isusermailbox(name, 1) && !s->isadmin) return CYRERR_PERMISSION;

    /* the nearest existing ancestor decides */
    char *parent = mboxname_parent(name);
    int found = 0;
    r = 0;
    while (parent) {
        if (!(ignore && mboxname_is_same_or_below(parent, ignore)) &&
            !mboxlist_lookup(s->mbl, parent, &e, NULL)) {
            if (usable_type(e.type)) {
                found = 1;
                break;
            }
            mboxlist_entry_free(&e);
        }
        char *up = mboxname_parent(parent);
        free(parent);
        parent = up;
    }
    free(parent);
    if (found) {
        if (!(imapd_rights(s, &e) & ACL_CREATE)) r = CYRERR_PERMISSION;
        if (!partition && e.partition) buf_setcstr(part_out, e.partition);
        mboxlist_entry_free(&e);
    } else if (!s->isadmin) {
        r = CYRERR_PERMISSION;
    }
    if (r) return r;
    if (partition) buf_setcstr(part_out, partition);
    if (!buf_len(part_out)) {
        const char *def = config_getstring(IMAPOPT_DEFAULTPARTITION);
        buf_setcstr(part_out, def ? def : "default");
    }
    if (!config_partitiondir(buf_cstring(part_out))) return CYRERR_PARTITION_UNKNOWN;
    return 0;
}

int imapd_mbox_create(struct imapd_session *s, const char *name, const char *partition)
{
    struct buf acl = BUF_INITIALIZER;
    const char *defacl = config_getstring(IMAPOPT_DEFAULTACL);
    int r = mboxlist_default_acl(s->mbl, name, defacl ? defacl : "", &acl);
    if (r) {
        buf_free(&acl);
        return r;
    }
    r = mboxlist_reserve(s->mbl, name, NULL, partition, NULL);
    if (r) {
        buf_free(&acl);
        return r;
    }
    char *uniqueid = mboxlist_make_uniqueid();
    char *root = quota_findroot(name);
    struct mailbox_create_params p;
    memset(&p, 0, sizeof(p));
    p.uniqueid = uniqueid;
    p.quotaroot = root;
    struct mailbox *mb = NULL;
    r = mailbox_create(name, partition, &p, &mb);
    if (!r) {
        struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
        e.name = (char *)name;
        e.partition = (char *)partition;
        e.uniqueid = uniqueid;
        e.acl = (char *)buf_cstring(&acl);
        r = mboxlist_activate(s->mbl, &e, NULL);
        if (r) {
            int r2 = mailbox_delete(&mb);
            if (r2)
                xsyslog(LOG_ERR, "cannot undo mailbox creation", "mailbox=<%s> error=<%s>",
                        name, error_message(r2));
        }
    }
    mailbox_close(&mb);
    if (r) {
        int r2 = mboxlist_unreserve(s->mbl, name, NULL);
        if (r2 && r2 != CYRERR_MAILBOX_EXISTS)
            xsyslog(LOG_ERR, "cannot drop reservation", "mailbox=<%s> error=<%s>", name,
                    error_message(r2));
    } else {
        xsyslog(LOG_NOTICE, "mailbox created", "mailbox=<%s> partition=<%s> user=<%s>",
                name, partition, s->userid);
    }
    free(uniqueid);
    free(root);
    buf_free(&acl);
    return r;
}

int imapd_mbox_delete_one(struct imapd_session *s, const struct mboxlist_entry *e)
{
    struct mailbox *mb = NULL;
    if (s->state == IMAPD_SELECTED && s->sel.name && !strcmp(s->sel.name, e->name))
        imapd_unselect(s);
    int r = mailbox_open(e->name, e->partition, &mb);
    if (r && r != CYRERR_MAILBOX_NONEXISTENT && r != CYRERR_NOTFOUND) return r;
    r = mboxlist_delete(s->mbl, e->name);
    if (r) {
        mailbox_close(&mb);
        return r;
    }
    if (mb) {
        struct mailbox_status st;
        int took = mailbox_lockmode(mb) == MAILBOX_LOCK_NONE &&
                   !mailbox_lock(mb, MAILBOX_LOCK_SHARED);
        mailbox_status(mb, &st);
        if (took) mailbox_unlock(mb);
        const char *root = mailbox_quotaroot(mb);
        if (root && (st.quota_used || st.exists))
            (void)quota_update_used(root, -(long long)st.quota_used, -(long long)st.exists);
        r = mailbox_delete(&mb);
        if (r)
            xsyslog(LOG_ERR, "mailbox files not removed", "mailbox=<%s> error=<%s>",
                    e->name, error_message(r));
    }
    struct quota q;
    quota_init(&q, e->name);
    if (!quota_read(e->name, &q)) (void)quota_delete(e->name);
    quota_free(&q);
    drop_annotations(e->name, NULL);
    xsyslog(LOG_NOTICE, "mailbox deleted", "mailbox=<%s> user=<%s>", e->name, s->userid);
    return 0;
}

/* ---- CREATE ----------------------------------------------------------------------- */

/* RFC 3501 6.3.3: CREATE makes the superior names that are needed, as
 * Cyrus does: every missing ancestor of `name` below its nearest existing
 * ancestor becomes a mailbox (on the same partition).  A user's INBOX is
 * never made this way, and nothing is when no ancestor exists (a new
 * top-level tree, which only admins may start). */
static int create_ancestors(struct imapd_session *s, const char *name,
                            const char *partition)
{
    struct strarray missing = STRARRAY_INITIALIZER;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int found = 0, r = 0;
    char *parent = mboxname_parent(name);
    while (parent) {
        if (!mboxlist_lookup(s->mbl, parent, &e, NULL)) {
            int usable = usable_type(e.type);
            mboxlist_entry_free(&e);
            if (usable) {
                found = 1;
                break;
            }
        }
        if (mboxname_isusermailbox(parent, 1)) break;
        strarray_append(&missing, parent);
        char *up = mboxname_parent(parent);
        free(parent);
        parent = up;
    }
    free(parent);
    for (int i = missing.count - 1; found && i >= 0 && !r; i--) {
        r = imapd_mbox_create(s, missing.data[i], partition);
        if (r == CYRERR_MAILBOX_EXISTS) r = 0;   /* made meanwhile */
    }
    strarray_free(&missing);
    return r;
}

/* The arguments of CREATE. */
struct create_args {
    struct buf name;      /* external */
    struct buf partition;
    struct buf use;       /* the USE list's words, space-separated */
    int has_partition, has_use;
};

/* One "(" name SP value *(SP name SP value) ")" parameter list of RFC 4466:
 * PARTITION astring (Cyrus's), USE "(" [use *(SP use)] ")" (RFC 6154; a
 * single use without the parentheses too, as Cyrus takes it). */
static int create_params(struct imapd_session *s, const struct tok_node *list,
                         struct create_args *ca)
{
    if (list->count % 2) return imapd_syntax(s, "Invalid mailbox parameters");
    for (size_t i = 0; i < list->count; i += 2) {
        const struct tok_node *name = list->items[i], *val = list->items[i + 1];
        if ((tok_node_is_atom(name, "PARTITION") && ca->has_partition) ||
            (tok_node_is_atom(name, "USE") && ca->has_use))
            return imapd_syntax(s, "Mailbox parameter given twice");
        if (tok_node_is_atom(name, "PARTITION") && val->kind != TOK_NODE_LIST &&
            val->kind != TOK_NODE_NIL) {
            buf_setcstr(&ca->partition, tok_node_str(val));
            ca->has_partition = 1;
        } else if (tok_node_is_atom(name, "USE")) {
            ca->has_use = 1;
            size_t n = val->kind == TOK_NODE_LIST ? val->count : 1;
            for (size_t k = 0; k < n; k++) {
                const struct tok_node *u = val->kind == TOK_NODE_LIST ? val->items[k] : val;
                if (u->kind != TOK_NODE_ATOM)
                    return imapd_syntax(s, "Invalid special-use attribute");
                if (buf_len(&ca->use)) buf_putc(&ca->use, ' ');
                buf_appendcstr(&ca->use, tok_node_str(u));
            }
        } else {
            return imapd_syntax(s, "Unsupported mailbox parameters");
        }
    }
    return 0;
}

/* "name", "name SP partition" (a partition as an astring) or "name SP
 * params" (create_params()), then the end of the line. */
static int read_create_args(struct imapd_session *s, int c, struct create_args *ca)
{
    if (c != ' ') return imapd_syntax(s, "Missing mailbox name");
    c = tok_astring(&s->tp, &ca->name);
    if (c == ' ') {
        int next = tok_getc(&s->tp);
        if (next < 0) return next;
        tok_ungetc(&s->tp, next);
        if (next == '(') {
            struct tok_node *list = NULL;
            c = tok_list(&s->tp, &list);
            if (c >= 0) {
                int r = create_params(s, list, ca);
                if (r < 0) c = r;
            }
            tok_node_free(&list);
        } else {
            c = tok_astring(&s->tp, &ca->partition);
            ca->has_partition = 1;
        }
    }
    return imapd_eol(s, c);
}

/* RFC 6154 3: the uses asked for, checked before the mailbox is made.
 * 0 (with the canonical list in `canon` and the entry's owner), or
 * answered (1). */
static int create_use_check(struct imapd_session *s, struct annotate *a,
                            const char *name, const struct create_args *ca,
                            struct buf *canon, struct buf *owner)
{
    struct buf why = BUF_INITIALIZER;
    int r = imapd_specialuse_canon(buf_base(&ca->use), buf_len(&ca->use), canon, &why);
    if (!r && buf_len(canon))
        r = imapd_specialuse_check(s, a, name, buf_cstring(canon), owner, &why);
    if (r == IMAPD_SPECIALUSE_REFUSED)
        imapd_no(s, "USEATTR", "%s", buf_cstring(&why));
    else if (r)
        imapd_no_error(s, r, 0);
    buf_free(&why);
    return r != 0;
}

/* Store the uses of a new mailbox; when that fails the mailbox goes
 * again (RFC 6154 3: it must not be created). */
static int create_use_store(struct imapd_session *s, struct annotate *a,
                            const char *name, const char *canon, const char *owner)
{
    int r = annotate_set(a, name, IMAPD_SPECIALUSE_ENTRY, owner, canon, strlen(canon));
    if (!r) return 0;
    xsyslog(LOG_ERR, "special use not stored", "mailbox=<%s> error=<%s>", name,
            error_message(r));
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    if (!mboxlist_lookup(s->mbl, name, &e, NULL)) {
        int r2 = imapd_mbox_delete_one(s, &e);
        if (r2)
            xsyslog(LOG_ERR, "cannot undo mailbox creation", "mailbox=<%s> error=<%s>",
                    name, error_message(r2));
    }
    mboxlist_entry_free(&e);
    return r;
}

int imapd_cmd_create(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct create_args ca;
    memset(&ca, 0, sizeof(ca));
    struct buf name = BUF_INITIALIZER, usepart = BUF_INITIALIZER;
    struct buf canon = BUF_INITIALIZER, owner = BUF_INITIALIZER;
    struct annotate *a = NULL;
    int r = read_create_args(s, cmd->c, &ca);
    if (r < 0) goto out;
    imapd_mbox_strip_sep(s, &ca.name);
    r = imapd_intname(s, buf_cstring(&ca.name), &name);
    if (!r) r = imapd_mbox_murder_check(s);
    if (!r && !strcasecmp(buf_cstring(&ca.name), "INBOX") && !s->isadmin)
        r = CYRERR_MAILBOX_EXISTS;   /* RFC 3501 6.3.3: INBOX always exists */
    if (!r)
        r = imapd_mbox_create_check(s, buf_cstring(&name),
                                    ca.has_partition ? buf_cstring(&ca.partition) : NULL,
                                    NULL, &usepart);
    if (!r && ca.has_use) {
        r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &a);
        if (!r && create_use_check(s, a, buf_cstring(&name), &ca, &canon, &owner)) {
            r = 0;
            goto out;
        }
    }
    if (!r) r = create_ancestors(s, buf_cstring(&name), buf_cstring(&usepart));
    if (!r) r = imapd_mbox_create(s, buf_cstring(&name), buf_cstring(&usepart));
    if (!r && buf_len(&canon))
        r = create_use_store(s, a, buf_cstring(&name), buf_cstring(&canon),
                             buf_cstring(&owner));
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    if (annotate_close(&a))
        xsyslog(LOG_ERR, "annotations db close failed", "user=<%s>", s->userid);
    buf_free(&ca.name);
    buf_free(&ca.partition);
    buf_free(&ca.use);
    buf_free(&name);
    buf_free(&usepart);
    buf_free(&canon);
    buf_free(&owner);
    return r;
}

/* ---- DELETE ----------------------------------------------------------------------- */

static int collect_cb(void *rock, const struct mboxlist_entry *e)
{
    struct strarray *names = rock;
    strarray_append(names, e->name);
    return 0;
}

/* An admin deletes user.X: the whole tree, deepest first, then the user's
 * own files. */
static int delete_user(struct imapd_session *s, const char *inbox)
{
    struct strarray names = STRARRAY_INITIALIZER;
    int r = mboxlist_foreach_subtree(s->mbl, inbox, collect_cb, &names, NULL);
    for (int i = names.count - 1; !r && i >= 0; i--) {
        struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
        if (mboxlist_lookup(s->mbl, names.data[i], &e, NULL)) continue;
        r = imapd_mbox_delete_one(s, &e);
        mboxlist_entry_free(&e);
    }
    strarray_free(&names);
    if (r) return r;
    char *user = mboxname_to_userid(inbox);
    if (user) {
        if (seen_delete_user(user))
            xsyslog(LOG_WARNING, "seen state not removed", "user=<%s>", user);
        if (subs_delete_user(user))
            xsyslog(LOG_WARNING, "subscriptions not removed", "user=<%s>", user);
        drop_annotations(NULL, user);
        xsyslog(LOG_NOTICE, "user deleted", "user=<%s> by=<%s>", user, s->userid);
        free(user);
    }
    return 0;
}

int imapd_cmd_delete(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, name = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &ext);
    int r = imapd_eol(s, c);
    if (r < 0) goto out;

    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    r = imapd_lookup(s, buf_cstring(&ext), ACL_DELETEMBOX, &name, &e, NULL);
    if (!r) r = imapd_mbox_murder_check(s);
    if (!r && mboxname_isusermailbox(e.name, 1)) {
        if (!s->isadmin) r = CYRERR_PERMISSION;   /* a user keeps its INBOX */
        else r = delete_user(s, e.name);
    } else if (!r) {
        r = imapd_mbox_delete_one(s, &e);
    }
    mboxlist_entry_free(&e);
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    buf_free(&ext);
    buf_free(&name);
    return r;
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------- */

static int change_sub(struct imapd_session *s, struct imapd_cmdctx *cmd, int add)
{
    struct buf ext = BUF_INITIALIZER, name = BUF_INITIALIZER;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &ext);
    int r = imapd_eol(s, c);
    if (r < 0) goto out;

    r = imapd_intname(s, buf_cstring(&ext), &name);
    if (!r && add && !config_getswitch(IMAPOPT_ALLOWALLSUBSCRIBE))
        r = imapd_lookup(s, buf_cstring(&ext), ACL_LOOKUP, &name, NULL, NULL);
    struct subs *sub = NULL;
    if (!r) r = subs_open(s->userid, SUBS_CREATE, &sub);
    if (!r) {
        r = add ? subs_add(sub, buf_cstring(&name)) : subs_remove(sub, buf_cstring(&name));
        if (!add && r == CYRERR_NOTFOUND) r = 0;
        int r2 = subs_close(&sub);
        if (!r) r = r2;
    }
    r = r ? imapd_no_error(s, r, 0) : imapd_ok(s, NULL, "Completed");
out:
    buf_free(&ext);
    buf_free(&name);
    return r;
}

int imapd_cmd_subscribe(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return change_sub(s, cmd, 1);
}

int imapd_cmd_unsubscribe(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    return change_sub(s, cmd, 0);
}

/* ---- STATUS ------------------------------------------------------------------------ */

enum status_item {
    ST_MESSAGES, ST_RECENT, ST_UIDNEXT, ST_UIDVALIDITY, ST_UNSEEN, ST_HIGHESTMODSEQ, ST_N
};
static const char *const status_names[ST_N] = {
    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"
};

/* Counts of a mailbox for this user. */
static int status_counts(struct imapd_session *s, const struct mboxlist_entry *e,
                         int need_scan, uint64_t vals[ST_N])
{
    struct mailbox *mb = NULL;
    int r = imapd_mailbox_get(s, e, &mb);
    if (r) return r;
    int owner = s->userid && namespace_user_owns(&s->ns, s->userid, e->name);
    struct seen_data sd = SEEN_DATA_INITIALIZER;
    struct seen *seen = NULL;
    if (need_scan && s->userid && !seen_open(s->userid, 0, &seen)) {
        if (seen_read(seen, mailbox_uniqueid(mb), &sd)) seen_data_init(&sd);
        (void)seen_close(&seen);
    }
    r = mailbox_lock(mb, MAILBOX_LOCK_SHARED);
    if (!r) {
        struct mailbox_status st;
        mailbox_status(mb, &st);
        vals[ST_MESSAGES] = st.exists;
        vals[ST_UIDNEXT] = st.uidnext;
        vals[ST_UIDVALIDITY] = st.uidvalidity;
        vals[ST_HIGHESTMODSEQ] = st.highestmodseq;
        vals[ST_UNSEEN] = owner ? st.exists - (st.seen <= st.exists ? st.seen : st.exists) : 0;
        vals[ST_RECENT] = 0;
        if (need_scan) {
            uint32_t n = mailbox_num_records(mb), unseen = 0, recent = 0;
            for (uint32_t i = 0; i < n && !r; i++) {
                struct mailbox_record rec;
                r = mailbox_read_record(mb, i, &rec);
                if (r || (rec.system_flags & MAILBOX_FLAG_EXPUNGED)) continue;
                if (rec.uid > sd.lastuid) recent++;
                int seenflag = owner ? (rec.system_flags & MAILBOX_FLAG_SEEN) != 0
                                     : seqset_contains(&sd.uids, rec.uid);
                if (!seenflag) unseen++;
            }
            vals[ST_RECENT] = recent;
            vals[ST_UNSEEN] = unseen;
        }
        mailbox_unlock(mb);
    }
    seen_data_free(&sd);
    imapd_mailbox_put(s, &mb);
    return r;
}

int imapd_cmd_status(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ext = BUF_INITIALIZER, name = BUF_INITIALIZER;
    struct tok_node *list = NULL;
    int want[ST_N], order[ST_N], nwant = 0;
    memset(want, 0, sizeof(want));
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &ext);
    if (c == ' ') c = tok_list(&s->tp, &list);
    else if (c >= 0) c = imapd_syntax(s, "Missing status items");
    int r = imapd_eol(s, c);
    if (r < 0) goto out;
    if (!list->count) {
        r = imapd_syntax(s, "Missing status items");
        goto out;
    }
    for (size_t i = 0; i < list->count; i++) {
        int k;
        for (k = 0; k < ST_N; k++)
            if (tok_node_is_atom(list->items[i], status_names[k])) break;
        if (k == ST_N) {
            const char *w = tok_node_str(list->items[i]);
            r = imapd_syntax(s, "Invalid status item %s", w ? w : "");
            goto out;
        }
        if (!want[k]) order[nwant++] = k;
        want[k] = 1;
    }

    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    uint64_t vals[ST_N];
    memset(vals, 0, sizeof(vals));
    if (want[ST_HIGHESTMODSEQ]) s->enabled |= IMAPD_EN_CONDSTORE;  /* RFC 7162 3.1 */
    r = imapd_lookup(s, buf_cstring(&ext), ACL_READ, &name, &e, NULL);
    if (!r) r = status_counts(s, &e, want[ST_RECENT] || want[ST_UNSEEN], vals);
    mboxlist_entry_free(&e);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    prot_puts(s->prot, "* STATUS ");
    imapd_put_astring(s, buf_cstring(&ext));
    prot_puts(s->prot, " (");
    for (int i = 0; i < nwant; i++)
        prot_printf(s->prot, "%s%s %llu", i ? " " : "", status_names[order[i]],
                    (unsigned long long)vals[order[i]]);
    prot_puts(s->prot, ")\r\n");
    r = imapd_ok(s, NULL, "Completed");
out:
    tok_node_free(&list);
    buf_free(&ext);
    buf_free(&name);
    return r;
}
