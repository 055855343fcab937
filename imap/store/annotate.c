/* annotate: mailbox and server annotations.  See annotate.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cyrusdb.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/annotate.h"
#include "imap/store/mboxname.h"
#include "imap/store/txnretry.h"

struct annotate {
    struct cyrusdb *db;
};

int annotate_open(const char *backend, const char *fname, int flags, struct annotate **ap)
{
    *ap = NULL;
    if (!backend) backend = cyrusdb_backend_for(IMAPOPT_ANNOTATION_DB);
    if (!backend || !cyrusdb_backend_known(backend)) return CYRERR_CONFIG;
    char *path;
    if (fname) {
        if (!*fname) return CYRERR_BADARGS;
        path = xstrdup(fname);
    } else {
        const char *dir = config_dir();
        if (!dir || !*dir) return CYRERR_CONFIG;
        path = strconcat(dir, "/", ANNOTATE_FNAME, (char *)NULL);
    }
    struct cyrusdb *db = NULL;
    int r =
        cyrusdb_open(backend, path, (flags & ANNOTATE_CREATE) ? CYRUSDB_CREATE : 0, &db);
    free(path);
    if (r) return r;
    struct annotate *a = xzmalloc(sizeof(*a));
    a->db = db;
    *ap = a;
    return 0;
}

int annotate_close(struct annotate **ap)
{
    struct annotate *a = *ap;
    if (!a) return 0;
    int r = cyrusdb_close(a->db);
    free(a);
    *ap = NULL;
    return r;
}

/* ---- entry names ------------------------------------------------------------ */

static enum annotate_scope scope_of(const char *canon)
{
    return strncmp(canon, "/shared", 7) == 0 ? ANNOTATE_SHARED : ANNOTATE_PRIVATE;
}

int annotate_entry_canon(const char *entry, struct buf *out)
{
    buf_reset(out);
    if (!entry) return CYRERR_BADARGS;
    size_t len = strlen(entry);
    if (len > ANNOTATE_ENTRY_MAX) return CYRERR_TOOBIG;
    if (len < 2 || entry[0] != '/' || entry[len - 1] == '/') return CYRERR_BADARGS;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)entry[i];
        if (c < 0x20 || c >= 0x7f || c == '*' || c == '%' ||
            (c == '/' && entry[i + 1] == '/')) {
            buf_reset(out);
            return CYRERR_BADARGS;
        }
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        buf_putc(out, (char)c);
    }
    const char *s = buf_cstring(out);
    if (!strncmp(s, "/shared", 7) && (s[7] == '\0' || s[7] == '/'))
        return ANNOTATE_SHARED;
    if (!strncmp(s, "/private", 8) && (s[8] == '\0' || s[8] == '/'))
        return ANNOTATE_PRIVATE;
    buf_reset(out);
    return CYRERR_BADARGS;
}

int annotate_entry_depth(const char *entry)
{
    int n = 0;
    for (const char *p = entry; *p; p++)
        if (*p == '/') n++;
    return n > 0 ? n - 1 : 0;
}

int annotate_entry_below(const char *entry, const char *base)
{
    size_t blen = strlen(base);
    if (strncmp(entry, base, blen)) return -1;
    if (entry[blen] == '\0') return 0;
    if (entry[blen] != '/') return -1;
    return annotate_entry_depth(entry) - annotate_entry_depth(base);
}

/* ---- keys ------------------------------------------------------------------- */

static int check_mailbox(const char *mailbox)
{
    if (!mailbox) return CYRERR_BADARGS;
    if (*mailbox && mboxname_valid(mailbox)) return CYRERR_BADNAME;
    return 0;
}

/* The owner part of a key: "" for /shared entries. */
static int owner_of(enum annotate_scope scope, const char *userid, const char **owner)
{
    if (scope == ANNOTATE_SHARED) {
        *owner = "";
        return 0;
    }
    if (!userid || !*userid) return CYRERR_BADARGS;
    *owner = userid;
    return 0;
}

static void make_key(struct buf *key, const char *mailbox, const char *entry,
                     const char *owner)
{
    buf_reset(key);
    buf_appendcstr(key, mailbox);
    buf_putc(key, '\0');
    buf_appendcstr(key, entry);
    buf_putc(key, '\0');
    buf_appendcstr(key, owner);
}

/* A key split into its parts (pointers into a NUL-terminated copy). */
struct key_parts {
    char *copy;
    const char *mailbox, *entry, *owner;
};

static int split_key(const char *key, size_t keylen, struct key_parts *kp)
{
    const char *z1 = memchr(key, '\0', keylen);
    if (!z1) return -1;
    const char *z2 = memchr(z1 + 1, '\0', keylen - (size_t)(z1 + 1 - key));
    if (!z2) return -1;
    if (memchr(z2 + 1, '\0', keylen - (size_t)(z2 + 1 - key))) return -1;
    kp->copy = xmalloc(keylen + 1);
    memcpy(kp->copy, key, keylen);
    kp->copy[keylen] = '\0';
    kp->mailbox = kp->copy;
    kp->entry = kp->copy + (z1 - key) + 1;
    kp->owner = kp->copy + (z2 - key) + 1;
    return 0;
}

/* ---- reading ---------------------------------------------------------------- */

int annotate_get(struct annotate *a, const char *mailbox, const char *entry,
                 const char *userid, struct buf *value)
{
    if (!a || !value) return CYRERR_BADARGS;
    int r = check_mailbox(mailbox);
    if (r) return r;
    struct buf canon = BUF_INITIALIZER, key = BUF_INITIALIZER;
    const char *owner = NULL;
    int scope = annotate_entry_canon(entry, &canon);
    r = scope < 0 ? scope : owner_of((enum annotate_scope)scope, userid, &owner);
    if (!r) {
        make_key(&key, mailbox, buf_cstring(&canon), owner);
        buf_reset(value);
        r = cyrusdb_fetch(a->db, buf_base(&key), buf_len(&key), value, NULL);
    }
    buf_free(&canon);
    buf_free(&key);
    return r;
}

/* Records collected by a foreach before anybody acts on them. */
struct collected {
    struct strarray entries;
    struct buf *values;
    size_t count, alloc;
};

static void collected_add(struct collected *c, const char *entry, const char *data,
                          size_t len)
{
    if (c->count == c->alloc) {
        c->alloc = c->alloc ? 2 * c->alloc : 16;
        c->values = xrealloc(c->values, c->alloc * sizeof(*c->values));
    }
    strarray_append(&c->entries, entry);
    buf_init(&c->values[c->count]);
    buf_appendmap(&c->values[c->count], data, len);
    c->count++;
}

static void collected_free(struct collected *c)
{
    for (size_t i = 0; i < c->count; i++)
        buf_free(&c->values[i]);
    free(c->values);
    strarray_free(&c->entries);
    memset(c, 0, sizeof(*c));
}

struct find_rock {
    const char *mailbox, *base, *userid;
    int maxdepth;
    struct collected *out;
};

static int find_one(void *rock, const char *key, size_t keylen, const char *data,
                    size_t datalen)
{
    struct find_rock *fr = rock;
    struct key_parts kp;
    if (split_key(key, keylen, &kp)) return 0; /* not ours: ignore */
    int below = annotate_entry_below(kp.entry, fr->base);
    int visible = scope_of(kp.entry) == ANNOTATE_SHARED
                      ? !*kp.owner
                      : (fr->userid && *kp.owner && !strcmp(kp.owner, fr->userid));
    if (!strcmp(kp.mailbox, fr->mailbox) && below >= 0 &&
        (fr->maxdepth < 0 || below <= fr->maxdepth) && visible)
        collected_add(fr->out, kp.entry, data, datalen);
    free(kp.copy);
    return 0;
}

int annotate_foreach(struct annotate *a, const char *mailbox, const char *entry,
                     int maxdepth, const char *userid, annotate_foreach_cb *cb,
                     void *rock)
{
    if (!a || !cb) return CYRERR_BADARGS;
    int r = check_mailbox(mailbox);
    if (r) return r;
    struct buf canon = BUF_INITIALIZER, prefix = BUF_INITIALIZER;
    struct collected c;
    memset(&c, 0, sizeof(c));
    int scope = annotate_entry_canon(entry, &canon);
    if (scope < 0) {
        buf_free(&canon);
        return scope;
    }
    buf_appendcstr(&prefix, mailbox);
    buf_putc(&prefix, '\0');
    buf_appendbuf(&prefix, &canon);
    struct find_rock fr = {mailbox, buf_cstring(&canon), userid, maxdepth, &c};
    r = cyrusdb_foreach(a->db, buf_base(&prefix), buf_len(&prefix), find_one, &fr, NULL);
    for (size_t i = 0; !r && i < c.count; i++)
        r = cb(rock, c.entries.data[i], buf_base(&c.values[i]), buf_len(&c.values[i]));
    collected_free(&c);
    buf_free(&canon);
    buf_free(&prefix);
    return r;
}

/* ---- writing ---------------------------------------------------------------- */

struct write_arg {
    const char *mailbox;
    const char *userid;
    const struct annotate_change *changes;
    const struct buf *canon;   /* canonical names of the changes */
    const char *const *owners; /* owner part of each change */
    size_t n;
};

struct count_rock {
    const char *mailbox, *owner;
    size_t count;
};

static int count_one(void *rock, const char *key, size_t keylen, const char *data,
                     size_t datalen)
{
    struct count_rock *cr = rock;
    (void)data;
    (void)datalen;
    struct key_parts kp;
    if (split_key(key, keylen, &kp)) return 0;
    if (!strcmp(kp.mailbox, cr->mailbox) && !strcmp(kp.owner, cr->owner)) cr->count++;
    free(kp.copy);
    return 0;
}

static int count_owner(struct cyrusdb *db, struct cyrusdb_txn *txn, const char *mailbox,
                       const char *owner, size_t *count)
{
    struct count_rock cr = {mailbox, owner, 0};
    int r = cyrusdb_foreach(db, mailbox, strlen(mailbox) + 1, count_one, &cr, txn);
    *count = cr.count;
    return r;
}

static int write_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct write_arg *w = arg;
    struct buf key = BUF_INITIALIZER;
    int r = 0, added = 0;
    for (size_t i = 0; !r && i < w->n; i++) {
        const struct annotate_change *ch = &w->changes[i];
        make_key(&key, w->mailbox, buf_cstring(&w->canon[i]), w->owners[i]);
        if (ch->value) {
            r = cyrusdb_store(db, buf_base(&key), buf_len(&key), ch->value, ch->len, 0,
                              txn);
            added = 1;
        } else {
            r = cyrusdb_delete(db, buf_base(&key), buf_len(&key), txn);
            if (r == CYRERR_NOTFOUND) r = 0;
        }
    }
    /* the owners that gained entries stay within the limit */
    for (size_t i = 0; !r && added && i < w->n; i++) {
        if (!w->changes[i].value) continue;
        size_t count = 0;
        r = count_owner(db, txn, w->mailbox, w->owners[i], &count);
        if (!r && count > ANNOTATE_ENTRIES_MAX) r = CYRERR_LIMIT;
    }
    buf_free(&key);
    return r;
}

int annotate_write(struct annotate *a, const char *mailbox, const char *userid,
                   const struct annotate_change *changes, size_t n)
{
    if (!a || (n && !changes)) return CYRERR_BADARGS;
    int r = check_mailbox(mailbox);
    if (r || !n) return r;
    struct buf *canon = xzmalloc(n * sizeof(*canon));
    const char **owners = xzmalloc(n * sizeof(*owners));
    for (size_t i = 0; !r && i < n; i++) {
        int scope = annotate_entry_canon(changes[i].entry, &canon[i]);
        if (scope < 0)
            r = scope;
        else
            r = owner_of((enum annotate_scope)scope,
                         changes[i].userid ? changes[i].userid : userid, &owners[i]);
        if (!r && changes[i].value && changes[i].len > ANNOTATE_VALUE_MAX)
            r = CYRERR_TOOBIG;
        if (!r && annotate_entry_depth(buf_cstring(&canon[i])) < 1)
            r = CYRERR_BADARGS; /* "/shared" itself holds no value */
    }
    if (!r) {
        struct write_arg w = {mailbox, userid, changes, canon, owners, n};
        r = txnretry_run(a->db, write_fn, &w);
    }
    for (size_t i = 0; i < n; i++)
        buf_free(&canon[i]);
    free(canon);
    free(owners);
    return r;
}

int annotate_set(struct annotate *a, const char *mailbox, const char *entry,
                 const char *userid, const char *value, size_t len)
{
    struct annotate_change ch = {entry, value, len, NULL};
    return annotate_write(a, mailbox, userid, &ch, 1);
}

/* ---- mailboxes and users ---------------------------------------------------- */

/* Raw records (keys with their NULs) collected for a change. */
struct rawlist {
    struct buf *keys, *values;
    size_t count, alloc;
};

static void rawlist_add(struct rawlist *l, const char *key, size_t keylen,
                        const char *data, size_t datalen)
{
    if (l->count == l->alloc) {
        l->alloc = l->alloc ? 2 * l->alloc : 16;
        l->keys = xrealloc(l->keys, l->alloc * sizeof(*l->keys));
        l->values = xrealloc(l->values, l->alloc * sizeof(*l->values));
    }
    buf_init(&l->keys[l->count]);
    buf_init(&l->values[l->count]);
    buf_appendmap(&l->keys[l->count], key, keylen);
    buf_appendmap(&l->values[l->count], data, datalen);
    l->count++;
}

static void rawlist_free(struct rawlist *l)
{
    for (size_t i = 0; i < l->count; i++) {
        buf_free(&l->keys[i]);
        buf_free(&l->values[i]);
    }
    free(l->keys);
    free(l->values);
    memset(l, 0, sizeof(*l));
}

/* Which records a collection wants. */
enum pick { PICK_MAILBOX, PICK_TREE, PICK_USER };

struct pick_rock {
    enum pick how;
    const char *name; /* mailbox, tree root or userid */
    struct rawlist *out;
};

static int pick_one(void *rock, const char *key, size_t keylen, const char *data,
                    size_t datalen)
{
    struct pick_rock *pr = rock;
    struct key_parts kp;
    if (split_key(key, keylen, &kp)) return 0;
    int want = 0;
    switch (pr->how) {
    case PICK_MAILBOX:
        want = !strcmp(kp.mailbox, pr->name);
        break;
    case PICK_TREE:
        want = *kp.mailbox && mboxname_is_same_or_below(kp.mailbox, pr->name);
        break;
    case PICK_USER:
        want = *kp.owner && !strcmp(kp.owner, pr->name);
        break;
    }
    if (want) rawlist_add(pr->out, key, keylen, data, datalen);
    free(kp.copy);
    return 0;
}

static int collect(struct cyrusdb *db, struct cyrusdb_txn *txn, enum pick how,
                   const char *name, struct rawlist *out)
{
    struct pick_rock pr = {how, name, out};
    size_t plen = how == PICK_USER ? 0 : strlen(name) + (how == PICK_MAILBOX);
    return cyrusdb_foreach(db, how == PICK_USER ? "" : name, plen, pick_one, &pr, txn);
}

struct remove_arg {
    enum pick how;
    const char *name;
    int removed;
};

static int remove_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct remove_arg *ra = arg;
    struct rawlist l;
    memset(&l, 0, sizeof(l));
    ra->removed = 0;
    int r = collect(db, txn, ra->how, ra->name, &l);
    for (size_t i = 0; !r && i < l.count; i++)
        r = cyrusdb_delete(db, buf_base(&l.keys[i]), buf_len(&l.keys[i]), txn);
    if (!r) ra->removed = (int)l.count;
    rawlist_free(&l);
    return r;
}

int annotate_delete_mailbox(struct annotate *a, const char *mailbox)
{
    if (!a || !mailbox || !*mailbox) return CYRERR_BADARGS;
    if (mboxname_valid(mailbox)) return CYRERR_BADNAME;
    struct remove_arg ra = {PICK_MAILBOX, mailbox, 0};
    int r = txnretry_run(a->db, remove_fn, &ra);
    return r ? r : ra.removed;
}

int annotate_delete_user(struct annotate *a, const char *userid)
{
    if (!a || !userid || !*userid) return CYRERR_BADARGS;
    struct remove_arg ra = {PICK_USER, userid, 0};
    int r = txnretry_run(a->db, remove_fn, &ra);
    return r ? r : ra.removed;
}

struct rename_arg {
    enum pick how; /* PICK_TREE: mailboxes; PICK_USER: an owner */
    const char *oldname, *newname;
    int moved;
};

static int rename_fn(struct cyrusdb *db, struct cyrusdb_txn *txn, void *arg)
{
    struct rename_arg *ra = arg;
    struct rawlist from;
    memset(&from, 0, sizeof(from));
    struct buf nk = BUF_INITIALIZER;
    size_t oldlen = strlen(ra->oldname);
    ra->moved = 0;
    int r = collect(db, txn, ra->how, ra->oldname, &from);
    /* all deletes first, then all stores: an old key may be a new one */
    for (size_t i = 0; !r && i < from.count; i++)
        r = cyrusdb_delete(db, buf_base(&from.keys[i]), buf_len(&from.keys[i]), txn);
    for (size_t i = 0; !r && i < from.count; i++) {
        const char *k = buf_base(&from.keys[i]);
        size_t klen = buf_len(&from.keys[i]);
        buf_reset(&nk);
        if (ra->how == PICK_TREE) {
            /* the mailbox name starts the key */
            buf_appendcstr(&nk, ra->newname);
            buf_appendmap(&nk, k + oldlen, klen - oldlen);
        } else {
            /* the owner ends it */
            buf_appendmap(&nk, k, klen - oldlen);
            buf_appendcstr(&nk, ra->newname);
        }
        r = cyrusdb_store(db, buf_base(&nk), buf_len(&nk), buf_base(&from.values[i]),
                          buf_len(&from.values[i]), 0, txn);
    }
    if (!r) ra->moved = (int)from.count;
    rawlist_free(&from);
    buf_free(&nk);
    return r;
}

static int rename_common(struct annotate *a, enum pick how, const char *oldname,
                         const char *newname)
{
    if (!strcmp(oldname, newname)) return 0;
    struct rename_arg ra = {how, oldname, newname, 0};
    int r = txnretry_run(a->db, rename_fn, &ra);
    if (r)
        xsyslog(
            LOG_ERR, "annotate: rename failed", "kind=<%s> from=<%s> to=<%s> error=<%s>",
            how == PICK_TREE ? "mailbox" : "user", oldname, newname, error_message(r));
    return r ? r : ra.moved;
}

int annotate_rename_mailbox(struct annotate *a, const char *oldname, const char *newname)
{
    if (!a || !oldname || !newname || !*oldname || !*newname) return CYRERR_BADARGS;
    if (mboxname_valid(oldname) || mboxname_valid(newname)) return CYRERR_BADNAME;
    return rename_common(a, PICK_TREE, oldname, newname);
}

int annotate_rename_user(struct annotate *a, const char *olduser, const char *newuser)
{
    if (!a || !olduser || !newuser || !*olduser || !*newuser) return CYRERR_BADARGS;
    return rename_common(a, PICK_USER, olduser, newuser);
}
