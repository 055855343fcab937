/* subs: per-user subscriptions.  See subs.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "xmalloc.h"
#include "imap/store/mboxname.h"
#include "imap/store/namespace.h"
#include "imap/store/subs.h"
#include "imap/store/txnretry.h"
#include "imap/store/userfile.h"

struct subs {
    struct cyrusdb *db;
};

int subs_open_file(const char *backend, const char *fname, int flags, struct subs **sp)
{
    *sp = NULL;
    if (!backend) backend = cyrusdb_backend_for(IMAPOPT_SUBSCRIPTION_DB);
    if (!backend || !cyrusdb_backend_known(backend)) return CYRERR_CONFIG;
    if (!fname || !*fname) return CYRERR_BADARGS;
    int dbflags = CYRUSDB_MBOXSORT | ((flags & SUBS_CREATE) ? CYRUSDB_CREATE : 0);
    struct cyrusdb *db = NULL;
    int r = cyrusdb_open(backend, fname, dbflags, &db);
    if (r) return r;
    struct subs *s = xzmalloc(sizeof(*s));
    s->db = db;
    *sp = s;
    return 0;
}

int subs_path(const char *userid, struct buf *path)
{
    return userfile_path(userid, SUBS_SUFFIX, path);
}

int subs_open(const char *userid, int flags, struct subs **sp)
{
    struct buf path = BUF_INITIALIZER;
    *sp = NULL;
    int r = subs_path(userid, &path);
    if (!r) r = subs_open_file(NULL, buf_cstring(&path), flags, sp);
    buf_free(&path);
    return r;
}

int subs_close(struct subs **sp)
{
    struct subs *s = *sp;
    if (!s) return 0;
    int r = cyrusdb_close(s->db);
    free(s);
    *sp = NULL;
    return r;
}

int subs_add(struct subs *s, const char *mboxname)
{
    if (!s || !mboxname) return CYRERR_BADARGS;
    if (mboxname_valid(mboxname)) return CYRERR_BADNAME;
    return cyrusdb_store(s->db, mboxname, strlen(mboxname), "", 0, 0, NULL);
}

int subs_remove(struct subs *s, const char *mboxname)
{
    if (!s || !mboxname || !*mboxname) return CYRERR_BADARGS;
    return cyrusdb_delete(s->db, mboxname, strlen(mboxname), NULL);
}

int subs_is_subscribed(struct subs *s, const char *mboxname)
{
    if (!s || !mboxname || !*mboxname) return CYRERR_BADARGS;
    struct buf data = BUF_INITIALIZER;
    int r = cyrusdb_fetch(s->db, mboxname, strlen(mboxname), &data, NULL);
    buf_free(&data);
    if (r == CYRERR_NOTFOUND) return 0;
    return r ? r : 1;
}

static int list_one(void *rock, const char *key, size_t keylen, const char *data,
                    size_t datalen)
{
    struct strarray *out = rock;
    (void)data;
    (void)datalen;
    if (memchr(key, '\0', keylen)) return 0;   /* not a name: ignore */
    strarray_appendm(out, xstrndup(key, keylen));
    return 0;
}

static int list_txn(struct subs *s, const char *prefix, struct strarray *out,
                    struct cyrusdb_txn *txn)
{
    if (!prefix) prefix = "";
    return cyrusdb_foreach(s->db, prefix, strlen(prefix), list_one, out, txn);
}

int subs_list(struct subs *s, const char *prefix, struct strarray *out)
{
    if (!s || !out) return CYRERR_BADARGS;
    return list_txn(s, prefix, out, NULL);
}

struct rename_arg {
    struct subs *s;
    const char *oldname, *newname;
    int moved;
};

static int rename_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct rename_arg *a = arg;
    struct strarray names = STRARRAY_INITIALIZER, moved = STRARRAY_INITIALIZER;
    struct buf nn = BUF_INITIALIZER;
    size_t oldlen = strlen(a->oldname);
    a->moved = 0;
    int r = list_txn(a->s, a->oldname, &names, txn);
    /* all deletes first, then all stores: an old name may equal a new one
     * (renaming "a.b" to "a" maps "a.b.b" onto "a.b") */
    for (int i = 0; !r && i < names.count; i++) {
        const char *name = names.data[i];
        if (!mboxname_is_same_or_below(name, a->oldname)) continue;
        r = cyrusdb_delete(db, name, strlen(name), txn);
        buf_setcstr(&nn, a->newname);
        buf_appendcstr(&nn, name + oldlen);
        if (!r && !mboxname_valid(buf_cstring(&nn))) strarray_append(&moved, nn.s);
    }
    for (int i = 0; !r && i < moved.count; i++)
        r = cyrusdb_store(db, moved.data[i], strlen(moved.data[i]), "", 0, 0, txn);
    if (!r) a->moved = moved.count;
    strarray_free(&names);
    strarray_free(&moved);
    buf_free(&nn);
    return r;
}

int subs_rename_mailbox(struct subs *s, const char *oldname, const char *newname)
{
    if (!s || !oldname || !newname) return CYRERR_BADARGS;
    if (mboxname_valid(oldname) || mboxname_valid(newname)) return CYRERR_BADNAME;
    if (!strcmp(oldname, newname)) return 0;
    struct rename_arg a = { s, oldname, newname, 0 };
    int r = txnretry_run(s->db, rename_fn, &a);
    return r ? r : a.moved;
}

/* ---- whole users ------------------------------------------------------------ */

int subs_delete_user(const char *userid)
{
    struct buf path = BUF_INITIALIZER;
    int r = subs_path(userid, &path);
    if (!r) {
        r = cyrusdb_remove(cyrusdb_backend_for(IMAPOPT_SUBSCRIPTION_DB), buf_cstring(&path));
        if (r == CYRERR_NOTFOUND) r = 0;
        if (r)
            xsyslog(LOG_ERR, "subs: cannot remove user's file", "user=<%s> error=<%s>",
                    userid, error_message(r));
    }
    buf_free(&path);
    return r;
}

struct store_arg {
    const struct strarray *names;
    const char *oldinbox, *newinbox;
};

static int store_all_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct store_arg *a = arg;
    struct buf nn = BUF_INITIALIZER;
    int r = 0;
    for (int i = 0; !r && i < a->names->count; i++) {
        const char *name = a->names->data[i];
        if (a->oldinbox && a->newinbox && mboxname_is_same_or_below(name, a->oldinbox)) {
            buf_setcstr(&nn, a->newinbox);
            buf_appendcstr(&nn, name + strlen(a->oldinbox));
        } else {
            buf_setcstr(&nn, name);
        }
        if (mboxname_valid(buf_cstring(&nn))) continue;
        r = cyrusdb_store(db, nn.s, nn.len, "", 0, 0, txn);
    }
    buf_free(&nn);
    return r;
}

int subs_rename_user(const char *olduser, const char *newuser)
{
    struct buf oldpath = BUF_INITIALIZER, newpath = BUF_INITIALIZER;
    struct strarray names = STRARRAY_INITIALIZER;
    struct subs *from = NULL, *to = NULL;
    struct namespace ns;
    char *oldinbox = NULL, *newinbox = NULL;

    int r = subs_path(olduser, &oldpath);
    if (!r) r = subs_path(newuser, &newpath);
    if (r) goto done;
    if (!strcmp(buf_cstring(&oldpath), buf_cstring(&newpath))) goto done;
    r = subs_open_file(NULL, buf_cstring(&oldpath), 0, &from);
    if (r == CYRERR_NOTFOUND) {
        r = 0;
        goto done;
    }
    if (r) goto done;
    r = subs_list(from, NULL, &names);
    int r2 = subs_close(&from);
    if (!r) r = r2;
    if (r) goto done;

    namespace_from_config(&ns, 0);
    oldinbox = namespace_user_inbox(&ns, olduser);
    newinbox = namespace_user_inbox(&ns, newuser);
    r = subs_open_file(NULL, buf_cstring(&newpath), SUBS_CREATE, &to);
    if (r) goto done;
    struct store_arg a = { &names, oldinbox, newinbox };
    r = txnretry_run(to->db, store_all_fn, &a);
    r2 = subs_close(&to);
    if (!r) r = r2;
    if (!r) {
        r = cyrusdb_remove(cyrusdb_backend_for(IMAPOPT_SUBSCRIPTION_DB),
                           buf_cstring(&oldpath));
        if (r == CYRERR_NOTFOUND) r = 0;
    }
done:
    if (r)
        xsyslog(LOG_ERR, "subs: cannot rename user", "from=<%s> to=<%s> error=<%s>",
                olduser, newuser, error_message(r));
    free(oldinbox);
    free(newinbox);
    strarray_free(&names);
    buf_free(&oldpath);
    buf_free(&newpath);
    return r;
}
