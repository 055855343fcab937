/* cmd_metadata: GETMETADATA and SETMETADATA, the METADATA extension of
 * RFC 5464, on mailboxes and on the server (mailbox name "").  Values
 * live in the annotations database (imap/store/annotate.h).
 *
 * Grammar accepted, as RFC 5464 section 5 and as Cyrus (so that cyradm's
 * info, getmetadata, setmetadata, mboxcfg and setinfo work):
 *   GETMETADATA [SP options] SP mailbox SP entries
 *   GETMETADATA mailbox SP options SP entries       (Cyrus's older order)
 *   options  = "(" ("MAXSIZE" SP number / "DEPTH" SP ("0"/"1"/"infinity"))
 *              *(SP ...) ")"
 *   entries  = entry / "(" entry *(SP entry) ")"
 *   SETMETADATA mailbox SP "(" entry SP value *(SP entry SP value) ")"
 *   value    = nstring / literal8; NIL removes the entry
 * An entry of GETMETADATA may end in "/" "*" (everything below) or "/%"
 * (one level below), the wildcards of the ANNOTATEMORE drafts that cyradm
 * still sends; other uses of "*" and "%" are BAD.  Entry names are
 * compared without regard to case and answered in lower case.  An entry
 * asked for by name that has no value is answered with NIL (as Cyrus
 * does); entries found below it only when they have a value.
 *
 * Rights (RFC 5464 3.3, with the ACL rights of RFC 4314): reading any
 * entry of a mailbox needs l and r; writing a /private entry needs l and
 * r, a /shared entry l, r and w.  Server entries: everybody logged in
 * reads them; /shared ones are written by admins only, /private ones by
 * their owner.  Admins hold every right on every mailbox.  A user
 * without l on a mailbox is told it does not exist.
 *
 * Entries a client may set: /private/comment and /shared/comment
 * (mailbox and server), /shared/admin (server), and anything under
 * /private/vendor/<token>/ or /shared/vendor/<token>/ except Cyrus's own
 * vendor/cmu/cyrus-imapd tree: others are refused with NO [CANNOT].
 *
 * /private/specialuse of a mailbox is its special use (RFC 6154), always
 * the entry of the mailbox's owner: the owner and admins set it (others
 * NO [NOPERM]), with the checks of CREATE (USE ...) (NO [USEATTR], see
 * imapd_specialuse_check()); the value is stored in canonical form
 * ("\Junk \Trash"), an empty list removes it.  An admin reading it on a
 * user's mailbox sees the owner's value; LIST shows it to the owner.
 * Read-only entries computed when asked, never stored, of a mailbox:
 * /shared/vendor/cmu/cyrus-imapd/ partition, size (bytes of the messages,
 * the index header's quota usage), lastupdate (the index file's last
 * change as an IMAP date-time), uniqueid and server (servername).
 *
 * Limits: a value is at most ANNOTATE_VALUE_MAX bytes (64 KiB): larger
 * ones are refused with NO [METADATA MAXSIZE 65536] (a larger literal is
 * refused before its data is sent); one owner has at most
 * ANNOTATE_ENTRIES_MAX entries per mailbox, and one SETMETADATA sets at
 * most META_SET_MAX: NO [METADATA TOOMANY].  GETMETADATA with MAXSIZE
 * leaves out longer values and says [METADATA LONGENTRIES n] (the
 * longest one left out).  The anonymous user has no private entries: NO
 * [METADATA NOPRIVATE].  SETMETADATA sets all its entries or none.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "times.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/acl.h"
#include "imap/store/annotate.h"
#include "imap/store/mailbox.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"

#define META_SET_MAX 100 /* entry/value pairs in one SETMETADATA */
#define META_GET_MAX 100 /* entries in one GETMETADATA */
#define META_CMU "/shared/vendor/cmu/cyrus-imapd"

/* The read-only entries computed for a mailbox (below META_CMU), in the
 * order computed_entries() gives their values. */
/* clang-format off */
static const char *const computed_names[] = {
    "/partition", "/size", "/lastupdate", "/uniqueid", "/server", NULL
};
/* clang-format on */

/* Could a request for `base` (canonical) up to `depth` match a computed
 * entry? */
static int wants_computed(const char *base, int depth)
{
    struct buf full = BUF_INITIALIZER;
    int found = 0;
    for (size_t i = 0; !found && computed_names[i]; i++) {
        buf_setcstr(&full, META_CMU);
        buf_appendcstr(&full, computed_names[i]);
        int below = annotate_entry_below(buf_cstring(&full), base);
        found = below >= 0 && (depth < 0 || below <= depth);
    }
    buf_free(&full);
    return found;
}

/* ---- the mailbox (or the server) a command is about ------------------------- */

struct meta_target {
    int server;              /* mailbox "" */
    struct buf intname;      /* internal name ("" for the server) */
    struct mboxlist_entry e; /* the mailbox's entry */
    unsigned rights;
};

static void target_free(struct meta_target *t)
{
    buf_free(&t->intname);
    mboxlist_entry_free(&t->e);
}

/* Look the mailbox up, needing `need` to use it at all. */
static int target_lookup(struct imapd_session *s, const char *ext, unsigned need,
                         struct meta_target *t)
{
    memset(t, 0, sizeof(*t));
    if (!*ext) {
        t->server = 1;
        return 0;
    }
    return imapd_lookup(s, ext, need, &t->intname, &t->e, &t->rights);
}

static int is_anonymous(const struct imapd_session *s)
{
    return !s->userid || !strcmp(s->userid, "anonymous");
}

/* ---- special use (RFC 6154) -------------------------------------------------- */

/* The uses a mailbox may have, spelled as registered: those of RFC 6154
 * that describe real mailboxes, \Important (RFC 8457) and \Snoozed, as
 * Cyrus accepts them.  \All and \Flagged describe virtual mailboxes
 * (every message, the flagged ones), which this server does not have:
 * refused, as Cyrus refuses them. */
/* clang-format off */
static const char *const specialuse_names[] = {
    "\\Archive", "\\Drafts", "\\Important", "\\Junk", "\\Sent", "\\Snoozed", "\\Trash",
    NULL
};
/* clang-format on */

/* Canonical form and the set of uses (a bit per specialuse_names). */
static int specialuse_parse(const char *text, size_t len, struct buf *out, unsigned *mask,
                            struct buf *why)
{
    buf_reset(out);
    *mask = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t')
            i++;
        if (start == i) break;
        const char *w = text + start;
        size_t n = i - start;
        if (*w == '\\') {
            w++;
            n--;
        }
        size_t k;
        for (k = 0; specialuse_names[k]; k++)
            if (strlen(specialuse_names[k] + 1) == n &&
                !strncasecmp(specialuse_names[k] + 1, w, n))
                break;
        if (!specialuse_names[k]) {
            int virt = (n == 3 && !strncasecmp(w, "All", 3)) ||
                       (n == 7 && !strncasecmp(w, "Flagged", 7));
            buf_reset(why);
            if (virt)
                buf_printf(why,
                           "\\%.*s is the use of a virtual mailbox, which this "
                           "server does not have",
                           (int)n, w);
            else
                buf_appendcstr(why, "Unknown special-use attribute");
            buf_reset(out);
            return IMAPD_SPECIALUSE_REFUSED;
        }
        if (*mask & (1u << k)) continue;
        *mask |= 1u << k;
        if (buf_len(out)) buf_putc(out, ' ');
        buf_appendcstr(out, specialuse_names[k]);
    }
    return 0;
}

int imapd_specialuse_canon(const char *text, size_t len, struct buf *out, struct buf *why)
{
    unsigned mask;
    if (memchr(text, '\0', len)) {
        buf_reset(out);
        buf_setcstr(why, "Invalid special-use attribute");
        return IMAPD_SPECIALUSE_REFUSED;
    }
    return specialuse_parse(text, len, out, &mask, why);
}

static int collect_name(void *rock, const struct mboxlist_entry *e)
{
    strarray_append(rock, e->name);
    return 0;
}

/* The uses mailboxes of `owner`'s tree (`inbox` and below) other than
 * `except` have, as a mask; the first one found holding one of `want`
 * goes to `holder`. */
static int specialuse_taken(struct imapd_session *s, struct annotate *a,
                            const char *inbox, const char *owner, const char *except,
                            unsigned want, struct buf *holder, unsigned *taken)
{
    struct strarray names = STRARRAY_INITIALIZER;
    struct buf v = BUF_INITIALIZER, canon = BUF_INITIALIZER, why = BUF_INITIALIZER;
    *taken = 0;
    int r = mboxlist_foreach_subtree(s->mbl, inbox, collect_name, &names, NULL);
    for (int i = 0; !r && i < names.count; i++) {
        if (!strcmp(names.data[i], except)) continue;
        int g = annotate_get(a, names.data[i], IMAPD_SPECIALUSE_ENTRY, owner, &v);
        if (g == CYRERR_NOTFOUND) continue;
        if (g) {
            r = g;
            break;
        }
        unsigned m = 0;
        if (specialuse_parse(buf_base(&v), buf_len(&v), &canon, &m, &why)) continue;
        if ((m & want) && !(*taken & want)) buf_setcstr(holder, names.data[i]);
        *taken |= m;
    }
    strarray_free(&names);
    buf_free(&v);
    buf_free(&canon);
    buf_free(&why);
    return r;
}

int imapd_specialuse_check(struct imapd_session *s, struct annotate *a,
                           const char *intname, const char *canon, struct buf *owner,
                           struct buf *why)
{
    char *user = mboxname_to_userid(intname);
    buf_reset(owner);
    if (!user) {
        if (!*canon && s->userid) {
            /* nothing can be there to remove: the session's own entry */
            buf_setcstr(owner, s->userid);
            return 0;
        }
        buf_setcstr(why, "Special-use attributes are only for users' own mailboxes");
        return IMAPD_SPECIALUSE_REFUSED;
    }
    buf_setcstr(owner, user);
    int r = 0;
    if (!s->isadmin && (!s->userid || strcmp(s->userid, user))) r = CYRERR_PERMISSION;
    unsigned want = 0;
    struct buf tmp = BUF_INITIALIZER;
    if (!r && *canon) r = specialuse_parse(canon, strlen(canon), &tmp, &want, why);
    if (!r && want && mboxname_isusermailbox(intname, 1)) {
        /* clients would treat the INBOX as Trash or Junk: Cyrus takes such
         * a use but never shows it; we refuse it */
        buf_setcstr(why, "The INBOX has no special use");
        r = IMAPD_SPECIALUSE_REFUSED;
    }
    if (!r && want) {
        char *inbox = xstrdup(intname);
        while (!mboxname_isusermailbox(inbox, 1)) {
            char *up = mboxname_parent(inbox);
            if (!up) break;
            free(inbox);
            inbox = up;
        }
        struct buf holder = BUF_INITIALIZER;
        unsigned taken = 0;
        r = specialuse_taken(s, a, inbox, user, intname, want, &holder, &taken);
        if (!r && (taken & want)) {
            struct buf ext = BUF_INITIALIZER;
            buf_reset(why);
            buf_appendcstr(why, "SPECIAL-USE flag conflict: ");
            for (size_t k = 0; specialuse_names[k]; k++)
                if (taken & want & (1u << k)) {
                    buf_appendcstr(why, specialuse_names[k]);
                    break;
                }
            if (!imapd_extname(s, buf_cstring(&holder), &ext))
                buf_printf(why, " is the use of %s", buf_cstring(&ext));
            else
                buf_appendcstr(why, " is the use of another mailbox");
            buf_free(&ext);
            r = IMAPD_SPECIALUSE_REFUSED;
        }
        buf_free(&holder);
        free(inbox);
    }
    buf_free(&tmp);
    free(user);
    return r;
}

/* ---- answers ---------------------------------------------------------------- */

/* The entries found for one GETMETADATA, in the order found, each once. */
struct meta_result {
    struct strarray entries;
    struct buf *values;
    unsigned char *isnil;
    size_t count, alloc;
};

static int result_has(const struct meta_result *res, const char *entry)
{
    return strarray_find(&res->entries, entry, 0) >= 0;
}

static void result_add(struct meta_result *res, const char *entry, const char *value,
                       size_t len)
{
    if (result_has(res, entry)) return;
    if (res->count == res->alloc) {
        res->alloc = res->alloc ? 2 * res->alloc : 16;
        res->values = xrealloc(res->values, res->alloc * sizeof(*res->values));
        res->isnil = xrealloc(res->isnil, res->alloc);
    }
    strarray_append(&res->entries, entry);
    buf_init(&res->values[res->count]);
    if (value) buf_appendmap(&res->values[res->count], value, len);
    res->isnil[res->count] = value == NULL;
    res->count++;
}

static void result_free(struct meta_result *res)
{
    for (size_t i = 0; i < res->count; i++)
        buf_free(&res->values[i]);
    free(res->values);
    free(res->isnil);
    strarray_free(&res->entries);
    memset(res, 0, sizeof(*res));
}

/* The values of the read-only entries of a mailbox, computed now, in the
 * order of computed_names; their full names go to `names`. */
static void computed_entries(struct imapd_session *s, const struct meta_target *t,
                             struct strarray *names, struct strarray *values)
{
    const struct mboxlist_entry *e = &t->e;
    struct mailbox *mb = NULL;
    struct buf dir = BUF_INITIALIZER, v = BUF_INITIALIZER;

    uint64_t size = 0;
    if (!imapd_mailbox_get(s, e, &mb)) {
        int took = mailbox_lockmode(mb) == MAILBOX_LOCK_NONE &&
                   !mailbox_lock(mb, MAILBOX_LOCK_SHARED);
        struct mailbox_status st;
        mailbox_status(mb, &st);
        size = st.quota_used;
        if (took) mailbox_unlock(mb);
        imapd_mailbox_put(s, &mb);
    }
    struct stat sb;
    char date[TIMES_INTERNALDATE_MAX];
    date[0] = '\0';
    if (!mailbox_dir_for(e->name, e->partition, &dir)) {
        buf_appendcstr(&dir, "/cyrus.index");
        if (!stat(buf_cstring(&dir), &sb))
            times_internaldate(sb.st_mtime, date, sizeof(date));
    }

    strarray_append(values, e->partition ? e->partition : "");
    buf_printf(&v, "%llu", (unsigned long long)size);
    strarray_append(values, buf_cstring(&v));
    strarray_append(values, date);
    strarray_append(values, e->uniqueid ? e->uniqueid : "");
    strarray_append(values, config_servername());
    for (size_t i = 0; computed_names[i]; i++)
        strarray_appendm(names, strconcat(META_CMU, computed_names[i], (char *)NULL));
    buf_free(&dir);
    buf_free(&v);
}

/* ---- GETMETADATA ------------------------------------------------------------ */

struct get_opts {
    uint64_t maxsize; /* 0: no limit */
    int has_maxsize;
    int depth; /* 0, 1 or -1 (infinity) */
};

static int parse_options(struct imapd_session *s, const struct tok_node *list,
                         struct get_opts *o)
{
    if (!list->count || list->count % 2)
        return imapd_syntax(s, "Invalid GETMETADATA options");
    for (size_t i = 0; i < list->count; i += 2) {
        const struct tok_node *name = list->items[i], *val = list->items[i + 1];
        if (tok_node_is_atom(name, "MAXSIZE")) {
            if (val->kind != TOK_NODE_ATOM || tok_node_number(val, &o->maxsize) ||
                o->maxsize > UINT32_MAX)
                return imapd_syntax(s, "Invalid MAXSIZE");
            o->has_maxsize = 1;
        } else if (tok_node_is_atom(name, "DEPTH")) {
            if (tok_node_is_atom(val, "0"))
                o->depth = 0;
            else if (tok_node_is_atom(val, "1"))
                o->depth = 1;
            else if (tok_node_is_atom(val, "infinity"))
                o->depth = -1;
            else
                return imapd_syntax(s, "Invalid DEPTH");
        } else {
            return imapd_syntax(s, "Unknown GETMETADATA option");
        }
    }
    return 0;
}

/* The next argument starts with "(": peek without consuming. */
static int next_is_list(struct imapd_session *s)
{
    int c = tok_getc(&s->tp);
    if (c < 0) return c;
    tok_ungetc(&s->tp, c);
    return c == '(';
}

/* Read "[options SP] mailbox SP [options SP] entries" and the end of line. */
static int read_get_args(struct imapd_session *s, int c, struct buf *mbox,
                         struct tok_node **opts, struct tok_node **entries,
                         struct buf *one)
{
    if (c != ' ') return imapd_syntax(s, "Missing arguments to GETMETADATA");
    int r = next_is_list(s);
    if (r < 0) return r;
    if (r) {
        c = tok_list(&s->tp, opts);
        if (c >= 0 && c != ' ') return imapd_syntax(s, "Missing mailbox name");
        if (c < 0) return c;
    }
    c = tok_astring(&s->tp, mbox);
    if (c >= 0 && c != ' ') return imapd_syntax(s, "Missing metadata entries");
    if (c < 0) return c;
    r = next_is_list(s);
    if (r < 0) return r;
    if (r) {
        struct tok_node *first = NULL;
        c = tok_list(&s->tp, &first);
        if (c == ' ') {
            /* that was the options list, after the mailbox */
            if (*opts) {
                tok_node_free(&first);
                return imapd_syntax(s, "GETMETADATA options given twice");
            }
            *opts = first;
            r = next_is_list(s);
            if (r < 0) return r;
            c = r ? tok_list(&s->tp, entries) : tok_listmbox(&s->tp, one);
        } else {
            *entries = first;
        }
    } else {
        c = tok_listmbox(&s->tp, one);
    }
    return imapd_eol(s, c);
}

/* One requested entry, its wildcard resolved. */
struct get_req {
    struct buf base; /* canonical */
    int depth;       /* levels below base; -1 any */
    int self;        /* base itself is asked for */
};

static int parse_request(struct imapd_session *s, const char *text, int depth,
                         struct get_req *req)
{
    struct buf raw = BUF_INITIALIZER;
    buf_setcstr(&raw, text);
    req->depth = depth;
    req->self = 1;
    size_t n = buf_len(&raw);
    if (n >= 2 && raw.s[n - 2] == '/' && (raw.s[n - 1] == '*' || raw.s[n - 1] == '%')) {
        req->depth = raw.s[n - 1] == '*' ? -1 : 1;
        req->self = 0;
        buf_truncate(&raw, n - 2);
    }
    int r = annotate_entry_canon(buf_cstring(&raw), &req->base);
    buf_free(&raw);
    if (r == CYRERR_TOOBIG) return imapd_syntax(s, "Metadata entry name too long");
    if (r < 0)
        return imapd_syntax(s, "Invalid metadata entry: it must be /shared or /private "
                               "followed by /name components");
    return 0;
}

struct collect_rock {
    struct meta_result *res;
    const struct get_req *req;
};

static int collect_one(void *rock, const char *entry, const char *value, size_t len)
{
    struct collect_rock *cr = rock;
    if (!cr->req->self && !strcmp(entry, buf_cstring(&cr->req->base))) return 0;
    result_add(cr->res, entry, value, len);
    return 0;
}

/* The owner's special use of the mailbox, when request q covers it. */
static int owner_specialuse(struct annotate *a, const struct meta_target *t,
                            const char *owner, const struct get_req *q,
                            struct meta_result *res)
{
    int below = annotate_entry_below(IMAPD_SPECIALUSE_ENTRY, buf_cstring(&q->base));
    if (below < (q->self ? 0 : 1) || (q->depth >= 0 && below > q->depth)) return 0;
    struct buf v = BUF_INITIALIZER;
    int r = annotate_get(a, buf_cstring(&t->intname), IMAPD_SPECIALUSE_ENTRY, owner, &v);
    if (!r) result_add(res, IMAPD_SPECIALUSE_ENTRY, buf_base(&v), buf_len(&v));
    if (r == CYRERR_NOTFOUND) r = 0;
    buf_free(&v);
    return r;
}

static void put_result(struct imapd_session *s, const char *mbox,
                       const struct meta_result *res, const struct get_opts *o,
                       uint64_t *longest)
{
    int first = 1;
    *longest = 0;
    for (size_t i = 0; i < res->count; i++) {
        size_t len = buf_len(&res->values[i]);
        if (!res->isnil[i] && o->has_maxsize && len > o->maxsize) {
            if (len > *longest) *longest = len;
            continue;
        }
        if (first) {
            prot_puts(s->prot, "* METADATA ");
            imapd_put_astring(s, mbox);
            prot_puts(s->prot, " (");
        } else {
            prot_puts(s->prot, " ");
        }
        first = 0;
        imapd_put_string(s, res->entries.data[i]);
        prot_puts(s->prot, " ");
        if (res->isnil[i])
            prot_puts(s->prot, "NIL");
        else
            tok_prot_putstring(s->prot, buf_base(&res->values[i]), len,
                               s->wflags | TOK_W_NOATOM | TOK_W_BINARY);
    }
    if (!first) prot_puts(s->prot, ")\r\n");
}

int imapd_cmd_getmetadata(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mbox = BUF_INITIALIZER, one = BUF_INITIALIZER;
    struct tok_node *opts = NULL, *list = NULL;
    struct strarray texts = STRARRAY_INITIALIZER;
    struct strarray cnames = STRARRAY_INITIALIZER, cvalues = STRARRAY_INITIALIZER;
    struct meta_result res;
    struct meta_target t;
    struct get_req *reqs = NULL;
    struct annotate *a = NULL;
    size_t nreq = 0;
    memset(&res, 0, sizeof(res));
    memset(&t, 0, sizeof(t));

    int r = read_get_args(s, cmd->c, &mbox, &opts, &list, &one);
    if (r < 0) goto out;
    struct get_opts o = {0, 0, 0};
    if (opts && (r = parse_options(s, opts, &o)) < 0) goto out;
    if (list) {
        if (!list->count) {
            r = imapd_syntax(s, "Missing metadata entries");
            goto out;
        }
        if (list->count > META_GET_MAX) {
            r = imapd_syntax(s, "Too many metadata entries");
            goto out;
        }
        for (size_t i = 0; i < list->count; i++) {
            const struct tok_node *n = list->items[i];
            if (n->kind != TOK_NODE_ATOM && n->kind != TOK_NODE_STRING) {
                r = imapd_syntax(s, "Invalid metadata entry");
                goto out;
            }
            strarray_append(&texts, buf_cstring(&n->val));
        }
    } else {
        strarray_append(&texts, buf_cstring(&one));
    }
    nreq = (size_t)texts.count;
    reqs = xzmalloc(nreq * sizeof(*reqs));
    for (size_t i = 0; i < nreq; i++)
        if ((r = parse_request(s, texts.data[i], o.depth, &reqs[i])) < 0) goto out;

    r = target_lookup(s, buf_cstring(&mbox), ACL_LOOKUP | ACL_READ, &t);
    if (!r) r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &a);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    const char *userid = is_anonymous(s) ? NULL : s->userid;
    /* an admin sees the special use of a user's mailbox, its owner's */
    char *su_owner = t.server || !s->isadmin ? NULL : mboxname_to_userid(t.e.name);
    if (su_owner && userid && !strcmp(su_owner, userid)) {
        free(su_owner);
        su_owner = NULL;
    }
    int computed = 0;
    for (size_t i = 0; !r && i < nreq; i++) {
        const struct get_req *q = &reqs[i];
        const char *base = buf_cstring(&q->base);
        struct collect_rock cr = {&res, q};
        r = annotate_foreach(a, buf_cstring(&t.intname), base, q->depth, userid,
                             collect_one, &cr);
        if (!r && su_owner) r = owner_specialuse(a, &t, su_owner, q, &res);
        if (r) break;
        if (!t.server && wants_computed(base, q->depth)) {
            if (!computed) computed_entries(s, &t, &cnames, &cvalues);
            computed = 1;
            for (int k = 0; k < cnames.count; k++) {
                int below = annotate_entry_below(cnames.data[k], base);
                if (below < (q->self ? 0 : 1) || (q->depth >= 0 && below > q->depth))
                    continue;
                result_add(&res, cnames.data[k], cvalues.data[k],
                           strlen(cvalues.data[k]));
            }
        }
        if (q->self && !result_has(&res, base)) result_add(&res, base, NULL, 0);
    }
    free(su_owner);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    uint64_t longest = 0;
    put_result(s, buf_cstring(&mbox), &res, &o, &longest);
    if (longest) {
        char code[64];
        snprintf(code, sizeof(code), "METADATA LONGENTRIES %llu",
                 (unsigned long long)longest);
        r = imapd_ok(s, code, "Completed");
    } else {
        r = imapd_ok(s, NULL, "Completed");
    }
out:
    if (annotate_close(&a))
        xsyslog(LOG_ERR, "annotations db close failed", "user=<%s>", s->userid);
    for (size_t i = 0; reqs && i < nreq; i++)
        buf_free(&reqs[i].base);
    free(reqs);
    result_free(&res);
    target_free(&t);
    strarray_free(&texts);
    strarray_free(&cnames);
    strarray_free(&cvalues);
    tok_node_free(&opts);
    tok_node_free(&list);
    buf_free(&mbox);
    buf_free(&one);
    return r;
}

/* ---- SETMETADATA ------------------------------------------------------------ */

/* The pairs of one SETMETADATA as read. */
struct set_pairs {
    struct strarray entries;
    struct buf *values;
    unsigned char *isnil;
    size_t count, alloc;
    int toomany; /* more than META_SET_MAX pairs */
    int toobig;  /* a value over ANNOTATE_VALUE_MAX */
};

static void pairs_add(struct set_pairs *p, const char *entry, struct buf *value,
                      int isnil)
{
    if (p->count == p->alloc) {
        p->alloc = p->alloc ? 2 * p->alloc : 8;
        p->values = xrealloc(p->values, p->alloc * sizeof(*p->values));
        p->isnil = xrealloc(p->isnil, p->alloc);
    }
    strarray_append(&p->entries, entry);
    buf_init(&p->values[p->count]);
    buf_appendbuf(&p->values[p->count], value);
    p->isnil[p->count] = (unsigned char)isnil;
    p->count++;
}

static void pairs_free(struct set_pairs *p)
{
    for (size_t i = 0; i < p->count; i++)
        buf_free(&p->values[i]);
    free(p->values);
    free(p->isnil);
    strarray_free(&p->entries);
    memset(p, 0, sizeof(*p));
}

/* Read "(" entry SP value *(SP entry SP value) ")" and the end of line.
 * A literal over the value limit is refused: then 1 is returned after the
 * rest of the line was discarded (p->toobig set). */
static int read_pairs(struct imapd_session *s, struct set_pairs *p)
{
    struct buf entry = BUF_INITIALIZER, value = BUF_INITIALIZER;
    int c = tok_getc(&s->tp);
    if (c >= 0 && c != '(') c = imapd_syntax(s, "Missing metadata entry list");
    s->tp.limits.maxliteral = ANNOTATE_VALUE_MAX;
    while (c >= 0) {
        c = tok_astring(&s->tp, &entry);
        if (c < 0) break;
        if (c != ' ') {
            c = imapd_syntax(s, "Missing metadata value");
            break;
        }
        int isnil = 0;
        unsigned saved = s->tp.flags;
        s->tp.flags |= TOK_F_BINARY;
        c = tok_nstring(&s->tp, &value, &isnil);
        s->tp.flags = saved;
        if (c < 0 && tok_error(&s->tp) == TOK_E_LITERAL_TOO_LARGE) {
            int r = tok_skip_line(&s->tp);
            p->toobig = 1;
            c = r < 0 ? r : 1;
            break;
        }
        if (c < 0) break;
        if (!isnil && buf_len(&value) > ANNOTATE_VALUE_MAX)
            p->toobig = 1;
        else if (p->count >= META_SET_MAX)
            p->toomany = 1;
        else
            pairs_add(p, buf_cstring(&entry), &value, isnil);
        if (c == ')') {
            c = imapd_eol(s, tok_getc(&s->tp));
            break;
        }
        if (c != ' ') {
            c = imapd_syntax(s, "Invalid metadata entry list");
            break;
        }
    }
    buf_free(&entry);
    buf_free(&value);
    return c;
}

/* May a client set canonical `entry`?  0, CYRERR_PERMISSION (a read-only
 * entry) or CYRERR_NOTSUPPORTED (an entry this server does not offer). */
static int entry_settable(const char *entry, int server)
{
    const char *rest = strchr(entry + 1, '/'); /* after the scope */
    if (!rest) return CYRERR_NOTSUPPORTED;
    if (!strcmp(rest, "/comment")) return 0;
    if (server && !strcmp(entry, "/shared/admin")) return 0;
    if (!server && !strcmp(entry, IMAPD_SPECIALUSE_ENTRY)) return 0;
    if (!strncmp(rest, "/vendor/cmu/cyrus-imapd", 23) && (!rest[23] || rest[23] == '/')) {
        size_t n = sizeof(META_CMU) - 1;
        for (size_t i = 0; !server && computed_names[i]; i++)
            if (!strncmp(entry, META_CMU, n) && !strcmp(entry + n, computed_names[i]))
                return CYRERR_PERMISSION;
        return CYRERR_NOTSUPPORTED;
    }
    if (!strncmp(rest, "/vendor/", 8) && strchr(rest + 8, '/')) return 0;
    return CYRERR_NOTSUPPORTED;
}

/* A /private/specialuse pair: its value made canonical (an empty list
 * removes the entry) and its owner found; 0, or answered (1). */
static int check_specialuse(struct imapd_session *s, struct annotate *a,
                            const struct meta_target *t, struct set_pairs *p, size_t i,
                            struct strarray *owners)
{
    struct buf canon = BUF_INITIALIZER, owner = BUF_INITIALIZER, why = BUF_INITIALIZER;
    int r = 0;
    if (!p->isnil[i])
        r = imapd_specialuse_canon(buf_base(&p->values[i]), buf_len(&p->values[i]),
                                   &canon, &why);
    if (!r)
        r = imapd_specialuse_check(s, a, buf_cstring(&t->intname), buf_cstring(&canon),
                                   &owner, &why);
    if (r == IMAPD_SPECIALUSE_REFUSED) {
        imapd_no(s, "USEATTR", "%s", buf_cstring(&why));
    } else if (r) {
        imapd_no_error(s, r, 0);
    } else {
        buf_setcstr(&p->values[i], buf_cstring(&canon));
        p->isnil[i] = !buf_len(&canon);
        strarray_set(owners, (int)i, buf_cstring(&owner));
    }
    buf_free(&canon);
    buf_free(&owner);
    buf_free(&why);
    return r != 0;
}

/* Check every pair; 0, or answered (returns 1 after the tagged NO/BAD).
 * owners[i] is set for the pairs whose /private entry belongs to another
 * userid than the session's (empty otherwise). */
static int check_pairs(struct imapd_session *s, struct annotate *a,
                       const struct meta_target *t, struct set_pairs *p,
                       struct strarray *canon, struct strarray *owners)
{
    struct buf c = BUF_INITIALIZER;
    int answered = 0;
    for (size_t i = 0; i < p->count; i++)
        strarray_append(owners, "");
    for (size_t i = 0; !answered && i < p->count; i++) {
        const char *entry = p->entries.data[i];
        int scope = annotate_entry_canon(entry, &c);
        if (scope < 0 || annotate_entry_depth(buf_cstring(&c)) < 1) {
            imapd_bad(s, NULL, "%s",
                      scope == CYRERR_TOOBIG ? "Metadata entry name too long"
                                             : "Invalid metadata entry name");
            answered = 1;
            break;
        }
        strarray_append(canon, buf_cstring(&c));
        int r = entry_settable(buf_cstring(&c), t->server);
        if (r == CYRERR_NOTSUPPORTED) {
            imapd_no(s, "CANNOT", "Metadata entry not supported by this server: %s",
                     buf_cstring(&c));
            answered = 1;
        } else if (r) {
            imapd_no(s, "NOPERM", "Metadata entry is read-only: %s", buf_cstring(&c));
            answered = 1;
        } else if (scope == ANNOTATE_PRIVATE && is_anonymous(s)) {
            imapd_no(s, "METADATA NOPRIVATE", "No private metadata for anonymous users");
            answered = 1;
        } else {
            unsigned need =
                ACL_LOOKUP | ACL_READ | (scope == ANNOTATE_SHARED ? ACL_WRITE : 0);
            int ok = t->server ? (scope == ANNOTATE_PRIVATE || s->isadmin)
                               : (t->rights & need) == need;
            if (!ok) {
                imapd_no_error(s, CYRERR_PERMISSION, 0);
                answered = 1;
            } else if (!strcmp(buf_cstring(&c), IMAPD_SPECIALUSE_ENTRY)) {
                answered = check_specialuse(s, a, t, p, i, owners);
            }
        }
    }
    buf_free(&c);
    return answered;
}

int imapd_cmd_setmetadata(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf mbox = BUF_INITIALIZER;
    struct set_pairs p;
    struct meta_target t;
    struct strarray canon = STRARRAY_INITIALIZER, owners = STRARRAY_INITIALIZER;
    struct annotate_change *changes = NULL;
    struct annotate *a = NULL;
    memset(&p, 0, sizeof(p));
    memset(&t, 0, sizeof(t));

    int r;
    if (cmd->c != ' ') return imapd_syntax(s, "Missing mailbox name");
    int c = tok_astring(&s->tp, &mbox);
    if (c >= 0 && c != ' ') c = imapd_syntax(s, "Missing metadata entry list");
    if (c >= 0) c = read_pairs(s, &p);
    if (c < 0) {
        r = c;
        goto out;
    }
    char code[64];
    if (p.toobig) {
        snprintf(code, sizeof(code), "METADATA MAXSIZE %d", ANNOTATE_VALUE_MAX);
        r = imapd_no(s, code, "Metadata value too large");
        goto out;
    }
    if (p.toomany) {
        r = imapd_no(s, "METADATA TOOMANY", "Too many metadata entries in one command");
        goto out;
    }
    r = target_lookup(s, buf_cstring(&mbox), ACL_LOOKUP, &t);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &a);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    if (check_pairs(s, a, &t, &p, &canon, &owners)) {
        r = 0;
        goto out;
    }
    changes = xzmalloc((p.count ? p.count : 1) * sizeof(*changes));
    for (size_t i = 0; i < p.count; i++) {
        changes[i].entry = canon.data[i];
        changes[i].value = p.isnil[i] ? NULL : buf_base(&p.values[i]);
        changes[i].len = buf_len(&p.values[i]);
        changes[i].userid = *owners.data[i] ? owners.data[i] : NULL;
    }
    r = annotate_write(a, buf_cstring(&t.intname), is_anonymous(s) ? NULL : s->userid,
                       changes, p.count);
    if (r == CYRERR_TOOBIG) {
        snprintf(code, sizeof(code), "METADATA MAXSIZE %d", ANNOTATE_VALUE_MAX);
        r = imapd_no(s, code, "Metadata value too large");
    } else if (r == CYRERR_LIMIT) {
        r = imapd_no(s, "METADATA TOOMANY", "Too many metadata entries on this mailbox");
    } else if (r) {
        xsyslog(LOG_ERR, "metadata not set", "mailbox=<%s> user=<%s> error=<%s>",
                buf_cstring(&t.intname), s->userid, error_message(r));
        r = imapd_no_error(s, r, 0);
    } else {
        xsyslog(LOG_INFO, "metadata set", "mailbox=<%s> entries=<%zu> user=<%s>",
                buf_cstring(&t.intname), p.count, s->userid);
        r = imapd_ok(s, NULL, "Completed");
    }
out:
    if (annotate_close(&a))
        xsyslog(LOG_ERR, "annotations db close failed", "user=<%s>", s->userid);
    free(changes);
    strarray_free(&canon);
    strarray_free(&owners);
    target_free(&t);
    pairs_free(&p);
    buf_free(&mbox);
    return r;
}
