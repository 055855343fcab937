/* mboxlist: mailboxes.db.  See mboxlist.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "error.h"
#include "hash.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"

#define FORMAT_VERSION "1"
#define TXN_RETRIES 5
#define UNDUMP_BATCH 500
#define DUMP_LINE_MAX (1024 * 1024)
#define FIELD_MAX 255

struct mboxlist {
    struct cyrusdb *db;
};

/* ---- entries ------------------------------------------------------------ */

void mboxlist_entry_free(struct mboxlist_entry *e)
{
    xfree(e->name);
    xfree(e->server);
    xfree(e->partition);
    xfree(e->uniqueid);
    xfree(e->acl);
    xfree(e->extra);
    e->type = 0;
}

void mboxlist_entry_copy(struct mboxlist_entry *dst, const struct mboxlist_entry *src)
{
    dst->name = xstrdupnull(src->name);
    dst->type = src->type;
    dst->server = xstrdupnull(src->server);
    dst->partition = xstrdupnull(src->partition);
    dst->uniqueid = xstrdupnull(src->uniqueid);
    dst->acl = xstrdupnull(src->acl);
    dst->extra = xstrdupnull(src->extra);
}

static int isalnum_ascii(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int token_ok(const char *s, const char *extra_chars)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > FIELD_MAX) return 0;
    for (; *s; s++) {
        char c = *s;
        if (isalnum_ascii(c)) continue;
        if (!strchr(extra_chars, c)) return 0;
    }
    return 1;
}

static int partition_ok(const char *s)
{
    return token_ok(s, "_-.") && isalnum_ascii(s[0]);
}
static int server_ok(const char *s) { return token_ok(s, "_-.:[]"); }
static int uniqueid_ok(const char *s) { return token_ok(s, "_-"); }

/* Unknown fields: "k=v" words, keys [a-z0-9_], values printable, no spaces. */
static int extra_ok(const char *s)
{
    struct strarray words = STRARRAY_INITIALIZER;
    strarray_split(&words, s, " ", 0);
    int ok = words.count > 0;
    for (int i = 0; ok && i < words.count; i++) {
        const char *w = words.data[i];
        const char *eq = strchr(w, '=');
        if (!eq || eq == w || !eq[1]) ok = 0;
        for (const char *p = w; ok && p < eq; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                ok = 0;
        for (const char *p = eq ? eq + 1 : w; ok && *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) ok = 0;
        if (ok) {
            size_t kl = (size_t)(eq - w);
            static const char *const known[] = { "v", "t", "s", "p", "u", "acl" };
            for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                if (strlen(known[k]) == kl && !strncmp(w, known[k], kl)) ok = 0;
        }
    }
    strarray_free(&words);
    return ok;
}

static int acl_ok(const char *acl)
{
    struct acl a;
    if (!acl || strchr(acl, '\n') || strchr(acl, '\r')) return 0;
    if (acl_parse(acl, &a)) return 0;
    acl_free(&a);
    return 1;
}

int mboxlist_entry_check(const struct mboxlist_entry *e)
{
    if (mboxname_valid(e->name)) return CYRERR_BADNAME;
    if (e->type & ~MBOXLIST_TYPEMASK) return CYRERR_BADARGS;
    int needserver = (e->type & (MBOXLIST_REMOTE | MBOXLIST_MOVING)) != 0;
    if (needserver ? !server_ok(e->server) : e->server != NULL) return CYRERR_BADARGS;
    if (!partition_ok(e->partition)) return CYRERR_BADARGS;
    if (e->uniqueid && !uniqueid_ok(e->uniqueid)) return CYRERR_BADARGS;
    if (!acl_ok(e->acl)) return CYRERR_BADARGS;
    if (e->extra && !extra_ok(e->extra)) return CYRERR_BADARGS;
    return 0;
}

static const struct {
    char letter;
    unsigned bit;
} typeletters[] = {
    { 'R', MBOXLIST_REMOTE }, { 'r', MBOXLIST_RESERVED },
    { 'm', MBOXLIST_MOVING }, { 'd', MBOXLIST_DELETED },
};
#define NTYPES (sizeof(typeletters) / sizeof(typeletters[0]))

void mboxlist_entry_format(const struct mboxlist_entry *e, struct buf *out)
{
    buf_reset(out);
    buf_appendcstr(out, "v=" FORMAT_VERSION " t=");
    if (!e->type) buf_putc(out, 'l');
    for (size_t i = 0; i < NTYPES; i++)
        if (e->type & typeletters[i].bit) buf_putc(out, typeletters[i].letter);
    if (e->server) buf_printf(out, " s=%s", e->server);
    buf_printf(out, " p=%s", e->partition ? e->partition : "");
    if (e->uniqueid) buf_printf(out, " u=%s", e->uniqueid);
    if (e->extra) buf_printf(out, " %s", e->extra);
    buf_printf(out, " acl=%s", e->acl ? e->acl : "");
}

static int parse_type(const char *s, unsigned *type)
{
    *type = 0;
    if (!strcmp(s, "l")) return 0;
    if (!*s) return CYRERR_CORRUPT;
    for (; *s; s++) {
        unsigned bit = 0;
        for (size_t i = 0; i < NTYPES; i++)
            if (typeletters[i].letter == *s) bit = typeletters[i].bit;
        if (!bit || (*type & bit)) return CYRERR_CORRUPT;
        *type |= bit;
    }
    return 0;
}

int mboxlist_entry_parse(const char *name, const char *value, size_t len,
                         struct mboxlist_entry *e)
{
    struct buf extra = BUF_INITIALIZER;
    int seen_v = 0, seen_t = 0, r = CYRERR_CORRUPT;

    memset(e, 0, sizeof(*e));
    if (memchr(value, '\0', len)) return CYRERR_CORRUPT;
    char *s = xstrndup(value, len);
    char *p = s;
    for (;;) {
        if (!strncmp(p, "acl=", 4)) {
            e->acl = xstrdup(p + 4);
            break;
        }
        char *sp = strchr(p, ' ');
        if (!sp) goto done;
        *sp = '\0';
        char *eq = strchr(p, '=');
        if (!eq) goto done;
        *eq = '\0';
        const char *v = eq + 1;
        char **slot = NULL;
        if (!strcmp(p, "v")) {
            if (seen_v++ || strcmp(v, FORMAT_VERSION) || p != s) goto done;
        } else if (!strcmp(p, "t")) {
            if (seen_t++ || parse_type(v, &e->type)) goto done;
        } else if (!strcmp(p, "s")) {
            slot = &e->server;
        } else if (!strcmp(p, "p")) {
            slot = &e->partition;
        } else if (!strcmp(p, "u")) {
            slot = &e->uniqueid;
        } else {
            *eq = '=';
            if (extra.len) buf_putc(&extra, ' ');
            buf_appendcstr(&extra, p);
        }
        if (slot) {
            if (*slot) goto done;          /* a field given twice */
            *slot = xstrdup(v);
        }
        p = sp + 1;
    }
    if (!seen_v || !seen_t) goto done;
    e->name = xstrdup(name);
    if (extra.len) e->extra = buf_release(&extra);
    r = mboxlist_entry_check(e) ? CYRERR_CORRUPT : 0;
done:
    free(s);
    buf_free(&extra);
    if (r) mboxlist_entry_free(e);
    return r;
}

int mboxlist_parse_location(const char *loc, char **server, char **partition)
{
    *server = NULL;
    *partition = NULL;
    if (!loc) return CYRERR_BADARGS;
    const char *bang = strchr(loc, '!');
    char *srv = bang ? xstrndup(loc, (size_t)(bang - loc)) : NULL;
    char *part = xstrdup(bang ? bang + 1 : loc);
    if ((srv && !server_ok(srv)) || !partition_ok(part)) {
        free(srv);
        free(part);
        return CYRERR_BADARGS;
    }
    *server = srv;
    *partition = part;
    return 0;
}

void mboxlist_entry_location(const struct mboxlist_entry *e,
                             const char *localserver, struct buf *out)
{
    buf_reset(out);
    const char *srv = e->server ? e->server : localserver;
    if (srv) buf_printf(out, "%s!", srv);
    buf_appendcstr(out, e->partition ? e->partition : "");
}

char *mboxlist_make_uniqueid(void)
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fatal(EX_TEMPFAIL_CODE, "getrandom failed: %s", strerror(errno));
        got += (size_t)n;
    }
    char *id = xmalloc(2 * sizeof(raw) + 1);
    for (size_t i = 0; i < sizeof(raw); i++) {
        static const char hex[] = "0123456789abcdef";
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 0xf];
    }
    id[2 * sizeof(raw)] = '\0';
    return id;
}

/* ---- the database ------------------------------------------------------- */

int mboxlist_open(const char *backend, const char *fname, int flags,
                  struct mboxlist **mlp)
{
    struct cyrusdb *db = NULL;
    *mlp = NULL;
    int r = cyrusdb_open(backend, fname, flags | CYRUSDB_MBOXSORT, &db);
    if (r) return r;
    struct mboxlist *ml = xzmalloc(sizeof(*ml));
    ml->db = db;
    *mlp = ml;
    return 0;
}

int mboxlist_open_config(int flags, struct mboxlist **mlp)
{
    char *fname = strconcat(config_dir(), "/", MBOXLIST_FNAME, (char *)NULL);
    int r = mboxlist_open(cyrusdb_backend_for(IMAPOPT_MBOXLIST_DB), fname, flags, mlp);
    free(fname);
    return r;
}

int mboxlist_close(struct mboxlist *ml)
{
    if (!ml) return 0;
    int r = cyrusdb_close(ml->db);
    free(ml);
    return r;
}

int mboxlist_begin(struct mboxlist *ml, struct cyrusdb_txn **txnp)
{
    return cyrusdb_begin(ml->db, txnp);
}

int mboxlist_commit(struct mboxlist *ml, struct cyrusdb_txn *txn)
{
    return cyrusdb_commit(ml->db, txn);
}

int mboxlist_abort(struct mboxlist *ml, struct cyrusdb_txn *txn)
{
    return cyrusdb_abort(ml->db, txn);
}

/* Run fn in the caller's transaction, or in a fresh one that is retried
 * when the database reports a deadlock.  fn must restart cleanly. */
typedef int txn_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg);

static int run_txn(struct mboxlist *ml, struct cyrusdb_txn *txn, txn_fn *fn, void *arg)
{
    if (txn) return fn(ml, txn, arg);
    int r = CYRERR_DEADLOCK;
    for (int attempt = 0; attempt < TXN_RETRIES; attempt++) {
        struct cyrusdb_txn *t = NULL;
        if ((r = cyrusdb_begin(ml->db, &t))) return r;
        r = fn(ml, t, arg);
        if (r) {
            cyrusdb_abort(ml->db, t);
            if (r == CYRERR_DEADLOCK) continue;
            return r;
        }
        r = cyrusdb_commit(ml->db, t);
        if (r != CYRERR_DEADLOCK) return r;
    }
    return r;
}

/* ---- single records ----------------------------------------------------- */

int mboxlist_lookup(struct mboxlist *ml, const char *name,
                    struct mboxlist_entry *e, struct cyrusdb_txn *txn)
{
    struct buf val = BUF_INITIALIZER;
    memset(e, 0, sizeof(*e));
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    int r = cyrusdb_fetch(ml->db, name, strlen(name), &val, txn);
    if (r == CYRERR_NOTFOUND) r = CYRERR_MAILBOX_NONEXISTENT;
    if (!r) {
        r = mboxlist_entry_parse(name, buf_base(&val), val.len, e);
        if (r) xsyslog(LOG_ERR, "mboxlist: bad record", "mailbox=<%s>", name);
    }
    buf_free(&val);
    return r;
}

int mboxlist_lookup_usable(struct mboxlist *ml, const char *name,
                           struct mboxlist_entry *e)
{
    struct mboxlist_entry tmp;
    int r = mboxlist_lookup(ml, name, &tmp, NULL);
    if (!r && (tmp.type & MBOXLIST_DELETED)) r = CYRERR_MAILBOX_NONEXISTENT;
    else if (!r && (tmp.type & MBOXLIST_RESERVED)) r = CYRERR_MAILBOX_RESERVED;
    if (!r && e) *e = tmp;
    else mboxlist_entry_free(&tmp);
    if (r && e) memset(e, 0, sizeof(*e));
    return r;
}

static int write_entry(struct mboxlist *ml, const struct mboxlist_entry *e,
                       int flags, struct cyrusdb_txn *txn)
{
    int r = mboxlist_entry_check(e);
    if (r) return r;
    struct buf val = BUF_INITIALIZER;
    mboxlist_entry_format(e, &val);
    r = cyrusdb_store(ml->db, e->name, strlen(e->name), buf_base(&val), val.len,
                      flags, txn);
    buf_free(&val);
    if (r == CYRERR_EXISTS) r = CYRERR_MAILBOX_EXISTS;
    return r;
}

int mboxlist_insert(struct mboxlist *ml, const struct mboxlist_entry *e,
                    struct cyrusdb_txn *txn)
{
    return write_entry(ml, e, CYRUSDB_NOOVERWRITE, txn);
}

int mboxlist_store(struct mboxlist *ml, const struct mboxlist_entry *e,
                   struct cyrusdb_txn *txn)
{
    return write_entry(ml, e, 0, txn);
}

static int exists_raw(struct mboxlist *ml, const char *name, struct cyrusdb_txn *txn)
{
    struct buf val = BUF_INITIALIZER;
    int r = cyrusdb_fetch(ml->db, name, strlen(name), &val, txn);
    buf_free(&val);
    if (r == CYRERR_NOTFOUND) return CYRERR_MAILBOX_NONEXISTENT;
    return r;
}

static int update_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    const struct mboxlist_entry *e = arg;
    int r = exists_raw(ml, e->name, txn);
    return r ? r : write_entry(ml, e, 0, txn);
}

int mboxlist_update(struct mboxlist *ml, const struct mboxlist_entry *e,
                    struct cyrusdb_txn *txn)
{
    int r = mboxlist_entry_check(e);
    return r ? r : run_txn(ml, txn, update_fn, (void *)e);
}

int mboxlist_remove(struct mboxlist *ml, const char *name, struct cyrusdb_txn *txn)
{
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    int r = cyrusdb_delete(ml->db, name, strlen(name), txn);
    if (r == CYRERR_NOTFOUND) r = CYRERR_MAILBOX_NONEXISTENT;
    return r;
}

/* ---- reservation steps -------------------------------------------------- */

int mboxlist_reserve(struct mboxlist *ml, const char *name, const char *server,
                     const char *partition, struct cyrusdb_txn *txn)
{
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    e.name = (char *)name;
    e.type = MBOXLIST_RESERVED | (server ? MBOXLIST_REMOTE : 0);
    e.server = (char *)server;
    e.partition = (char *)partition;
    e.acl = (char *)"";
    return mboxlist_insert(ml, &e, txn);
}

static int activate_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    const struct mboxlist_entry *e = arg;
    struct mboxlist_entry old;
    int r = mboxlist_lookup(ml, e->name, &old, txn);
    if (r) return r;
    if (!(old.type & MBOXLIST_RESERVED)) r = CYRERR_MAILBOX_EXISTS;
    mboxlist_entry_free(&old);
    return r ? r : write_entry(ml, e, 0, txn);
}

int mboxlist_activate(struct mboxlist *ml, const struct mboxlist_entry *e,
                      struct cyrusdb_txn *txn)
{
    int r = mboxlist_entry_check(e);
    if (r) return r;
    if (e->type & MBOXLIST_RESERVED) return CYRERR_BADARGS;
    return run_txn(ml, txn, activate_fn, (void *)e);
}

static int unreserve_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    const char *name = arg;
    struct mboxlist_entry old;
    int r = mboxlist_lookup(ml, name, &old, txn);
    if (r) return r;
    if (!(old.type & MBOXLIST_RESERVED)) r = CYRERR_MAILBOX_EXISTS;
    mboxlist_entry_free(&old);
    return r ? r : mboxlist_remove(ml, name, txn);
}

int mboxlist_unreserve(struct mboxlist *ml, const char *name, struct cyrusdb_txn *txn)
{
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    return run_txn(ml, txn, unreserve_fn, (void *)name);
}

/* ---- high-level operations ---------------------------------------------- */

static int default_acl_txn(struct mboxlist *ml, const char *name,
                           const char *defaultacl, struct buf *out,
                           struct cyrusdb_txn *txn)
{
    buf_reset(out);
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    char *parent = mboxname_parent(name);
    while (parent) {
        struct mboxlist_entry pe;
        int r = mboxlist_lookup(ml, parent, &pe, txn);
        if (!r && !(pe.type & (MBOXLIST_RESERVED | MBOXLIST_DELETED))) {
            buf_setcstr(out, pe.acl);
            mboxlist_entry_free(&pe);
            free(parent);
            return 0;
        }
        mboxlist_entry_free(&pe);
        if (r && r != CYRERR_MAILBOX_NONEXISTENT) {
            free(parent);
            return r;
        }
        char *up = mboxname_parent(parent);
        free(parent);
        parent = up;
    }
    char *owner = mboxname_to_userid(name);
    struct acl acl;
    int r = acl_default(owner, defaultacl, &acl);
    free(owner);
    if (r) return r;
    acl_format(&acl, out);
    acl_free(&acl);
    return 0;
}

int mboxlist_default_acl(struct mboxlist *ml, const char *name,
                         const char *defaultacl, struct buf *acl)
{
    return default_acl_txn(ml, name, defaultacl, acl, NULL);
}

struct create_args {
    struct mboxlist_entry *e;     /* acl may be NULL: computed */
    const char *defaultacl;
};

static int create_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    struct create_args *a = arg;
    struct buf acl = BUF_INITIALIZER;
    struct mboxlist_entry e = *a->e;
    int r = 0;
    if (!e.acl) {
        r = default_acl_txn(ml, e.name, a->defaultacl, &acl, txn);
        e.acl = (char *)buf_cstring(&acl);
    }
    if (!r) r = mboxlist_insert(ml, &e, txn);
    buf_free(&acl);
    return r;
}

int mboxlist_create(struct mboxlist *ml, const char *name, const char *partition,
                    const char *acl, const char *defaultacl, const char *uniqueid,
                    struct mboxlist_entry *out)
{
    if (out) memset(out, 0, sizeof(*out));
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    if (!partition_ok(partition)) return CYRERR_BADARGS;
    if (acl && !acl_ok(acl)) return CYRERR_BADARGS;
    if (uniqueid && !uniqueid_ok(uniqueid)) return CYRERR_BADARGS;

    char *uid = uniqueid ? xstrdup(uniqueid) : mboxlist_make_uniqueid();
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    e.name = (char *)name;
    e.partition = (char *)partition;
    e.uniqueid = uid;
    e.acl = (char *)acl;
    struct create_args a = { &e, defaultacl };
    int r = run_txn(ml, NULL, create_fn, &a);
    if (!r && out) r = mboxlist_lookup(ml, name, out, NULL);
    free(uid);
    return r;
}

int mboxlist_delete(struct mboxlist *ml, const char *name)
{
    return mboxlist_remove(ml, name, NULL);
}

/* Rename the owner's identifier in an ACL string (user renames). */
static char *acl_rename_id(const char *aclstr, const char *from, const char *to)
{
    struct acl acl, out = ACL_INITIALIZER;
    if (acl_parse(aclstr, &acl)) return xstrdup(aclstr);
    for (int i = 0; i < acl.count; i++) {
        const char *id = acl.entries[i].id;
        int neg = (*id == '-');
        char *nid = NULL;
        if (!strcmp(id + neg, from)) nid = strconcat(neg ? "-" : "", to, (char *)NULL);
        const char *use = nid ? nid : id;
        int r = acl_set(&out, use, ACL_MODE_ADD, acl.entries[i].rights);
        (void)r;   /* identifiers and rights come from a parsed ACL */
        free(nid);
    }
    struct buf b = BUF_INITIALIZER;
    acl_format(&out, &b);
    acl_free(&acl);
    acl_free(&out);
    return buf_release(&b);
}

struct rename_args {
    const char *oldname, *newname, *newpartition;
    char *olduser, *newuser;            /* set for user.a -> user.b */
    struct mboxlist_entry *olds, *news; /* the moved entries */
    int count, alloc;
};

static void rename_reset(struct rename_args *a)
{
    for (int i = 0; i < a->count; i++) {
        mboxlist_entry_free(&a->olds[i]);
        mboxlist_entry_free(&a->news[i]);
    }
    a->count = 0;
}

static int rename_collect(void *rock, const struct mboxlist_entry *e)
{
    struct rename_args *a = rock;
    if (a->count == a->alloc) {
        a->alloc = a->alloc ? 2 * a->alloc : 8;
        a->olds = xreallocarray(a->olds, (size_t)a->alloc, sizeof(*a->olds));
        a->news = xreallocarray(a->news, (size_t)a->alloc, sizeof(*a->news));
    }
    mboxlist_entry_copy(&a->olds[a->count], e);
    memset(&a->news[a->count], 0, sizeof(a->news[0]));
    a->count++;
    return 0;
}

static int rename_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    struct rename_args *a = arg;
    struct hash_table moving = HASH_TABLE_INITIALIZER;
    size_t oldlen = strlen(a->oldname);
    int r;

    rename_reset(a);
    r = mboxlist_foreach_subtree(ml, a->oldname, rename_collect, a, txn);
    if (r) return r;
    if (a->count == 0 || strcmp(a->olds[0].name, a->oldname))
        return CYRERR_MAILBOX_NONEXISTENT;

    hash_init(&moving, (size_t)a->count, 0);
    for (int i = 0; i < a->count; i++) hash_insert(&moving, a->olds[i].name, (void *)1);

    /* build and check every new entry before writing anything */
    for (int i = 0; !r && i < a->count; i++) {
        struct mboxlist_entry *o = &a->olds[i], *n = &a->news[i];
        if (o->type & MBOXLIST_RESERVED) {
            r = CYRERR_MAILBOX_RESERVED;
            break;
        }
        mboxlist_entry_copy(n, o);
        free(n->name);
        n->name = strconcat(a->newname, o->name + oldlen, (char *)NULL);
        if (a->newpartition) {
            free(n->partition);
            n->partition = xstrdup(a->newpartition);
        }
        if (a->olduser) {
            char *acl = acl_rename_id(n->acl, a->olduser, a->newuser);
            free(n->acl);
            n->acl = acl;
        }
        if ((r = mboxlist_entry_check(n))) break;
        if (!hash_lookup(&moving, n->name)) {
            r = exists_raw(ml, n->name, txn);
            if (r == 0) r = CYRERR_MAILBOX_EXISTS;
            else if (r == CYRERR_MAILBOX_NONEXISTENT) r = 0;
        }
    }
    for (int i = 0; !r && i < a->count; i++)
        r = mboxlist_remove(ml, a->olds[i].name, txn);
    for (int i = 0; !r && i < a->count; i++)
        r = mboxlist_insert(ml, &a->news[i], txn);
    hash_free(&moving, NULL);
    return r;
}

int mboxlist_rename(struct mboxlist *ml, const char *oldname, const char *newname,
                    const char *newpartition, mboxlist_rename_cb *cb, void *rock)
{
    if (mboxname_valid(oldname) || mboxname_valid(newname)) return CYRERR_BADNAME;
    if (mboxname_is_same_or_below(newname, oldname)) return CYRERR_BADNAME;
    if (newpartition && !partition_ok(newpartition)) return CYRERR_BADARGS;

    struct rename_args a;
    memset(&a, 0, sizeof(a));
    a.oldname = oldname;
    a.newname = newname;
    a.newpartition = newpartition;
    if (mboxname_isusermailbox(oldname, 1) && mboxname_isusermailbox(newname, 1)) {
        a.olduser = mboxname_to_userid(oldname);
        a.newuser = mboxname_to_userid(newname);
    }
    int r = run_txn(ml, NULL, rename_fn, &a);
    for (int i = 0; !r && cb && i < a.count; i++) r = cb(rock, &a.olds[i], &a.news[i]);
    rename_reset(&a);
    free(a.olds);
    free(a.news);
    free(a.olduser);
    free(a.newuser);
    return r;
}

struct setacl_args {
    const char *name, *identifier, *rights, *whole;
};

static int setacl_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    struct setacl_args *a = arg;
    struct mboxlist_entry e;
    int r = mboxlist_lookup(ml, a->name, &e, txn);
    if (r) return r;
    if (e.type & (MBOXLIST_RESERVED | MBOXLIST_DELETED)) {
        r = (e.type & MBOXLIST_RESERVED) ? CYRERR_MAILBOX_RESERVED
                                         : CYRERR_MAILBOX_NONEXISTENT;
    } else if (a->whole) {
        free(e.acl);
        e.acl = xstrdup(a->whole);
    } else {
        r = acl_string_set(&e.acl, a->identifier, a->rights);
    }
    if (!r) r = write_entry(ml, &e, 0, txn);
    mboxlist_entry_free(&e);
    return r;
}

int mboxlist_setacl(struct mboxlist *ml, const char *name, const char *identifier,
                    const char *rights)
{
    struct setacl_args a = { name, identifier, rights, NULL };
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    return run_txn(ml, NULL, setacl_fn, &a);
}

int mboxlist_set_aclstring(struct mboxlist *ml, const char *name, const char *acl)
{
    struct setacl_args a = { name, NULL, NULL, acl };
    if (mboxname_valid(name)) return CYRERR_BADNAME;
    if (!acl_ok(acl)) return CYRERR_BADARGS;
    return run_txn(ml, NULL, setacl_fn, &a);
}

/* ---- listing ------------------------------------------------------------ */

struct foreach_rock {
    mboxlist_foreach_cb *cb;
    void *rock;
    const char *subtree;    /* only this name and below, or NULL */
};

static int foreach_tramp(void *rock, const char *key, size_t keylen,
                         const char *data, size_t datalen)
{
    struct foreach_rock *fr = rock;
    char *name = xstrndup(key, keylen);
    int r = 0;
    if (strlen(name) != keylen ||
        (fr->subtree && !mboxname_is_same_or_below(name, fr->subtree))) {
        free(name);
        return 0;
    }
    struct mboxlist_entry e;
    if (mboxlist_entry_parse(name, data, datalen, &e)) {
        xsyslog(LOG_ERR, "mboxlist: bad record skipped", "mailbox=<%s>", name);
    } else {
        r = fr->cb(fr->rock, &e);
        mboxlist_entry_free(&e);
    }
    free(name);
    return r;
}

int mboxlist_foreach(struct mboxlist *ml, const char *prefix,
                     mboxlist_foreach_cb *cb, void *rock, struct cyrusdb_txn *txn)
{
    struct foreach_rock fr = { cb, rock, NULL };
    if (!prefix) prefix = "";
    return cyrusdb_foreach(ml->db, prefix, strlen(prefix), foreach_tramp, &fr, txn);
}

int mboxlist_foreach_subtree(struct mboxlist *ml, const char *name,
                             mboxlist_foreach_cb *cb, void *rock,
                             struct cyrusdb_txn *txn)
{
    struct foreach_rock fr = { cb, rock, name };
    return cyrusdb_foreach(ml->db, name, strlen(name), foreach_tramp, &fr, txn);
}

struct find_rock {
    const struct namespace *ns;
    const struct acl_identity *who;
    unsigned owner_rights, need;
    int flags;
    struct mboxname_pattern *pat;
    const char *skip;       /* the own tree, listed already; or NULL */
    struct buf ext;
    mboxlist_find_cb *cb;
    void *rock;
};

static int find_one(void *rock, const struct mboxlist_entry *e)
{
    struct find_rock *f = rock;
    if ((e->type & MBOXLIST_RESERVED) && !(f->flags & MBOXLIST_FIND_RESERVED)) return 0;
    if ((e->type & MBOXLIST_DELETED) && !(f->flags & MBOXLIST_FIND_DELETED)) return 0;
    if (f->skip && mboxname_is_same_or_below(e->name, f->skip)) return 0;
    if (namespace_to_external(f->ns, e->name, f->who->userid, &f->ext)) return 0;
    if (!mboxname_pattern_match(f->pat, buf_cstring(&f->ext))) return 0;
    int owner = f->who->userid && namespace_user_owns(f->ns, f->who->userid, e->name);
    unsigned rights = acl_myrights_str(e->acl, f->who, owner, f->owner_rights);
    if ((rights & f->need) != f->need) return 0;
    return f->cb(f->rock, e, buf_cstring(&f->ext), rights);
}

/* The database prefix that holds every possible match: the internal name
 * of the pattern's literal text up to its last separator, plus '.'.  The
 * scope of the user's domain when that cannot be worked out. */
static char *find_scope(const struct namespace *ns, const char *userid,
                        const struct mboxname_pattern *pat)
{
    size_t len;
    const char *lit = mboxname_pattern_literal_prefix(pat, &len);
    const char *lastsep = NULL;
    for (const char *p = lit; p < lit + len; p++)
        if (*p == ns->hier_sep) lastsep = p;
    if (lastsep && !(ns->virtdomains && ns->isadmin)) {
        char *part = xstrndup(lit, (size_t)(lastsep - lit));
        struct buf in = BUF_INITIALIZER;
        int r = namespace_to_internal(ns, part, userid, &in);
        free(part);
        if (!r) {
            buf_putc(&in, '.');
            return buf_release(&in);
        }
        buf_free(&in);
    }
    if (ns->virtdomains && !ns->isadmin && userid) {
        char *lp, *dom;
        if (!namespace_split_userid(ns, userid, &lp, &dom)) {
            char *scope = dom ? strconcat(dom, "!", (char *)NULL) : xstrdup("");
            free(lp);
            free(dom);
            return scope;
        }
    }
    return xstrdup("");
}

int mboxlist_findall(struct mboxlist *ml, const struct namespace *ns,
                     const struct acl_identity *who, unsigned owner_rights,
                     const char *pattern, unsigned need, int flags,
                     mboxlist_find_cb *cb, void *rock)
{
    struct find_rock f;
    memset(&f, 0, sizeof(f));
    f.ns = ns;
    f.who = who;
    f.owner_rights = owner_rights;
    f.need = need ? need : ACL_LOOKUP;
    f.flags = flags;
    f.pat = mboxname_pattern_compile(pattern, ns->hier_sep);
    f.cb = cb;
    f.rock = rock;

    char *scope = find_scope(ns, who->userid, f.pat);
    char *own = who->userid ? namespace_user_inbox(ns, who->userid) : NULL;
    int r = 0;
    if (own) {
        /* the own INBOX tree first, where it overlaps the scope */
        const char *first = NULL;
        if (!strncmp(own, scope, strlen(scope))) first = own;
        else if (!strncmp(scope, own, strlen(own))) first = scope;
        if (first) {
            struct foreach_rock fr = { find_one, &f, own };
            r = cyrusdb_foreach(ml->db, first, strlen(first), foreach_tramp, &fr, NULL);
        }
        f.skip = own;
    }
    if (!r) r = mboxlist_foreach(ml, scope, find_one, &f, NULL);
    free(own);
    free(scope);
    buf_free(&f.ext);
    mboxname_pattern_free(&f.pat);
    return r;
}

/* ---- dump / undump ------------------------------------------------------ */

struct dump_rock {
    FILE *out;
};

static int dump_one(void *rock, const char *key, size_t keylen,
                    const char *data, size_t datalen)
{
    struct dump_rock *d = rock;
    if (memchr(key, '\t', keylen) || memchr(key, '\n', keylen) ||
        memchr(data, '\n', datalen)) {
        xsyslog(LOG_ERR, "mboxlist: record not dumped", "key=<%.*s>",
                (int)keylen, key);
        return 0;
    }
    if (fwrite(key, 1, keylen, d->out) != keylen || fputc('\t', d->out) == EOF ||
        fwrite(data, 1, datalen, d->out) != datalen || fputc('\n', d->out) == EOF)
        return CYRERR_IO;
    return 0;
}

int mboxlist_dump(struct mboxlist *ml, const char *prefix, FILE *out)
{
    struct dump_rock d = { out };
    if (!prefix) prefix = "";
    int r = cyrusdb_foreach(ml->db, prefix, strlen(prefix), dump_one, &d, NULL);
    if (!r && (fflush(out) == EOF || ferror(out))) r = CYRERR_IO;
    return r;
}

/* One line into `line` (without LF): 1, 0 at end of input, or an error. */
static int read_line(FILE *in, struct buf *line)
{
    buf_reset(line);
    int c;
    while ((c = getc(in)) != EOF) {
        if (c == '\n') return 1;
        if (line->len >= DUMP_LINE_MAX) return CYRERR_TOOBIG;
        buf_putc(line, (char)c);
    }
    if (ferror(in)) return CYRERR_IO;
    return line->len ? 1 : 0;
}

struct undump_batch {
    struct mboxlist_entry *e;
    int count;
};

static int undump_fn(struct mboxlist *ml, struct cyrusdb_txn *txn, void *arg)
{
    struct undump_batch *b = arg;
    int r = 0;
    for (int i = 0; !r && i < b->count; i++) r = mboxlist_store(ml, &b->e[i], txn);
    return r;
}

static int undump_flush(struct mboxlist *ml, struct undump_batch *b)
{
    int r = b->count ? run_txn(ml, NULL, undump_fn, b) : 0;
    for (int i = 0; i < b->count; i++) mboxlist_entry_free(&b->e[i]);
    b->count = 0;
    return r;
}

int mboxlist_undump(struct mboxlist *ml, FILE *in, long *lineno)
{
    struct buf line = BUF_INITIALIZER;
    struct undump_batch b = { xcalloc(UNDUMP_BATCH, sizeof(struct mboxlist_entry)), 0 };
    long n = 0;
    int r;

    while ((r = read_line(in, &line)) == 1) {
        n++;
        const char *s = buf_cstring(&line);
        const char *tab = strchr(s, '\t');
        if (!tab || strlen(s) != line.len) {
            r = CYRERR_PARSE;
            break;
        }
        char *name = xstrndup(s, (size_t)(tab - s));
        const char *val = tab + 1;
        r = mboxlist_entry_parse(name, val, strlen(val), &b.e[b.count]);
        free(name);
        if (r) {
            r = CYRERR_PARSE;
            break;
        }
        if (++b.count == UNDUMP_BATCH && (r = undump_flush(ml, &b))) break;
    }
    if (r < 0 && r != CYRERR_PARSE) n++;     /* the line that could not be read */
    int r2 = undump_flush(ml, &b);
    if (!r) r = r2;
    if (lineno) *lineno = r ? n : 0;
    free(b.e);
    buf_free(&line);
    return r;
}
