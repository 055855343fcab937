/* cmd_list: LIST and LSUB (RFC 3501), with the basics of LIST-EXTENDED
 * (RFC 5258: selection options SUBSCRIBED and RECURSIVEMATCH, REMOTE
 * accepted and ignored; return options SUBSCRIBED and CHILDREN; several
 * patterns), CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154: the selection
 * option lists only mailboxes with a special use; the return option is
 * accepted, and the uses are shown in every LIST answer, as Cyrus does,
 * on the user's own mailboxes; LSUB shows none).
 *
 * A listing gathers the external names of every mailbox the user may see
 * (l right) that could matter -- those starting with the literal prefix of
 * each pattern -- sorts them, and answers from that list:
 *   - a visible mailbox that matches is listed with \HasChildren or
 *     \HasNoChildren (always, as Cyrus does);
 *   - a name that matches, has visible mailboxes below it and is not a
 *     mailbox itself (CREATE never makes intermediate mailboxes) is listed
 *     as \Noselect \HasChildren, so that "%" walks reach every mailbox.
 * LSUB lists subscribed names that match, and the unsubscribed parents of
 * subscribed names that "%" would hide, as \Noselect (RFC 3501 6.3.9).
 * The user's INBOX comes first; the rest in name order.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "tok.h"
#include "xmalloc.h"
#include "imap/imapd/imapd.h"
#include "imap/store/annotate.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "imap/store/subs.h"

/* attribute bits of one listed name */
#define L_NOSELECT     0x01
#define L_HASCHILDREN  0x02
#define L_HASNOCHILD   0x04
#define L_SUBSCRIBED   0x08
#define L_NONEXISTENT  0x10
#define L_CHILDINFO    0x20   /* CHILDINFO ("SUBSCRIBED") */

/* selection / return options */
#define SEL_SUBSCRIBED     0x01
#define SEL_RECURSIVEMATCH 0x02
#define RET_SUBSCRIBED     0x04
#define RET_CHILDREN       0x08
#define SEL_SPECIALUSE     0x10
#define RET_SPECIALUSE     0x20   /* accepted: the uses are always shown */

struct listing {
    struct imapd_session *s;
    struct strarray visible;        /* external names, sorted after gathering */
    struct hash_table vis_hash;     /* name -> (void *)1 */
    struct strarray subscribed;     /* external names of subscriptions */
    struct hash_table sub_hash;
    struct strarray patterns;       /* reference + pattern, each */
    struct mboxname_pattern **pats;
    struct hash_table out;          /* name -> attribute bits (uintptr_t) */
    struct strarray out_names;
    struct hash_table owned;        /* the user's own mailboxes: external ->
                                       internal name (owned strings) */
    struct hash_table uses;         /* external name -> special use ("" for
                                       none; owned strings), as looked up */
    struct annotate *annot;         /* opened by the first look-up */
    int annot_failed;
};

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a, b);
}

static int gather_cb(void *rock, const struct mboxlist_entry *e, const char *extname,
                     unsigned myrights)
{
    (void)myrights;
    struct listing *l = rock;
    struct imapd_session *s = l->s;
    if (s->userid && !hash_lookup(&l->owned, extname) &&
        namespace_user_owns(&s->ns, s->userid, e->name))
        hash_insert(&l->owned, extname, xstrdup(e->name));
    if (!hash_lookup(&l->vis_hash, extname)) {
        hash_insert(&l->vis_hash, extname, (void *)1);
        strarray_append(&l->visible, extname);
    }
    return 0;
}

/* Every visible mailbox that could match one of the patterns. */
static int gather_visible(struct listing *l)
{
    struct imapd_session *s = l->s;
    struct strarray done = STRARRAY_INITIALIZER;
    int r = 0;
    for (int i = 0; !r && i < l->patterns.count; i++) {
        size_t plen = 0;
        const char *lit = mboxname_pattern_literal_prefix(l->pats[i], &plen);
        char *prefix = xstrndup(lit, plen);
        /* a prefix beginning like "INBOX" must match any case: list from
         * the start of the name then */
        if (plen && !strncasecmp(prefix, "INBOX", plen < 5 ? plen : 5)) prefix[0] = '\0';
        if (strarray_find(&done, prefix, 0) < 0) {
            strarray_append(&done, prefix);
            char *pat = strconcat(prefix, "*", (char *)NULL);
            r = mboxlist_findall(s->mbl, &s->ns, &s->ident, s->owner_rights, pat,
                                 ACL_LOOKUP, 0, gather_cb, l);
            free(pat);
        }
        free(prefix);
    }
    strarray_free(&done);
    strarray_sort(&l->visible, cmp_str);
    return r;
}

static int gather_subscribed(struct listing *l)
{
    struct imapd_session *s = l->s;
    struct subs *sub = NULL;
    struct strarray names = STRARRAY_INITIALIZER;
    int r = subs_open(s->userid, SUBS_CREATE, &sub);
    if (r) return r;
    r = subs_list(sub, NULL, &names);
    (void)subs_close(&sub);
    struct buf ext = BUF_INITIALIZER;
    for (int i = 0; !r && i < names.count; i++) {
        if (imapd_extname(s, names.data[i], &ext)) continue;
        if (hash_lookup(&l->sub_hash, buf_cstring(&ext))) continue;
        hash_insert(&l->sub_hash, buf_cstring(&ext), (void *)1);
        strarray_append(&l->subscribed, buf_cstring(&ext));
    }
    buf_free(&ext);
    strarray_free(&names);
    strarray_sort(&l->subscribed, cmp_str);
    return r;
}

static int matches(struct listing *l, const char *name)
{
    for (int i = 0; i < l->patterns.count; i++)
        if (mboxname_pattern_match(l->pats[i], name)) return 1;
    return 0;
}

/* Is there a name in sorted `names` strictly below `name`? */
static int has_below(const struct strarray *names, const char *name, char sep)
{
    size_t n = strlen(name);
    char *prefix = xmalloc(n + 2);
    memcpy(prefix, name, n);
    prefix[n] = sep;
    prefix[n + 1] = '\0';
    int lo = 0, hi = names->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(names->data[mid], prefix) < 0) lo = mid + 1;
        else hi = mid;
    }
    int found = lo < names->count && !strncmp(names->data[lo], prefix, n + 1);
    /* INBOX children are spelled with any case of INBOX only as "INBOX" */
    free(prefix);
    return found;
}

/* The special use of a listed mailbox as its owner sees it (RFC 6154),
 * or NULL.  Only the user's own mailboxes have one for it; a database
 * failure is logged and then nothing has. */
static const char *specialuse_of(struct listing *l, const char *extname)
{
    const char *intname = hash_lookup(&l->owned, extname);
    if (!intname) return NULL;
    const char *known = hash_lookup(&l->uses, extname);
    if (known) return *known ? known : NULL;
    if (!l->annot && !l->annot_failed) {
        int r = annotate_open(NULL, NULL, ANNOTATE_CREATE, &l->annot);
        if (r) {
            l->annot_failed = 1;
            xsyslog(LOG_ERR, "annotations db open failed", "user=<%s> error=<%s>",
                    l->s->userid, error_message(r));
        }
    }
    struct buf v = BUF_INITIALIZER;
    if (l->annot) {
        int r = annotate_get(l->annot, intname, IMAPD_SPECIALUSE_ENTRY, l->s->userid, &v);
        if (r && r != CYRERR_NOTFOUND)
            xsyslog(LOG_ERR, "special use not read", "mailbox=<%s> error=<%s>", intname,
                    error_message(r));
        if (r) buf_reset(&v);
    }
    char *val = xstrdup(buf_cstring(&v));
    buf_free(&v);
    hash_insert(&l->uses, extname, val);
    return *val ? val : NULL;
}

static void add_out(struct listing *l, const char *name, unsigned attrs)
{
    uintptr_t old = (uintptr_t)hash_lookup(&l->out, name);
    if (!old) strarray_append(&l->out_names, name);
    hash_insert(&l->out, name, (void *)(old | attrs | 0x100));
}

/* Each proper ancestor of `name` (by separator) to fn, with name. */
static void for_ancestors(struct listing *l, const char *name,
                          void (*fn)(struct listing *, const char *, const char *))
{
    char sep = l->s->ns.hier_sep;
    char *copy = xstrdup(name);
    for (char *p = strchr(copy, sep); p; p = strchr(p + 1, sep)) {
        *p = '\0';
        if (*copy) fn(l, copy, name);
        *p = sep;
    }
    free(copy);
}

/* A missing parent is listed when it matches and hides a descendant that
 * the pattern does not reach ("%"); under "*" the descendant itself is
 * listed and the parent is not (as Cyrus). */
static void list_intermediate(struct listing *l, const char *anc, const char *desc)
{
    if (hash_lookup(&l->vis_hash, anc) || !matches(l, anc) || matches(l, desc)) return;
    add_out(l, anc, L_NOSELECT | L_HASCHILDREN);
}

static void lsub_intermediate(struct listing *l, const char *anc, const char *desc)
{
    if (hash_lookup(&l->sub_hash, anc) || !matches(l, anc) || matches(l, desc)) return;
    add_out(l, anc, L_NOSELECT);
}

static void childinfo_parent(struct listing *l, const char *anc, const char *desc)
{
    (void)desc;
    if (!matches(l, anc)) return;
    unsigned attrs = L_CHILDINFO;
    if (hash_lookup(&l->sub_hash, anc)) attrs |= L_SUBSCRIBED;
    if (!hash_lookup(&l->vis_hash, anc)) attrs |= L_NONEXISTENT;
    add_out(l, anc, attrs);
}

static void children_attr(struct listing *l, const char *name, unsigned *attrs)
{
    if (*attrs & (L_NONEXISTENT)) return;
    if (has_below(&l->visible, name, l->s->ns.hier_sep)) *attrs |= L_HASCHILDREN;
    else if (!(*attrs & L_HASCHILDREN)) *attrs |= L_HASNOCHILD;
}

static int cmp_inbox_first(const char *a, const char *b)
{
    int ia = !strcmp(a, "INBOX"), ib = !strcmp(b, "INBOX");
    if (ia != ib) return ib - ia;
    return strcmp(a, b);
}

static void emit(struct listing *l, const char *cmdname, int want_children,
                 int want_uses)
{
    struct imapd_session *s = l->s;
    strarray_sort(&l->out_names, cmp_inbox_first);
    for (int i = 0; i < l->out_names.count; i++) {
        const char *name = l->out_names.data[i];
        unsigned attrs = (unsigned)(uintptr_t)hash_lookup(&l->out, name);
        if (want_children && !(attrs & L_NOSELECT)) children_attr(l, name, &attrs);
        if (attrs & L_NONEXISTENT) attrs &= ~(unsigned)(L_NOSELECT | L_HASCHILDREN | L_HASNOCHILD);
        struct buf a = BUF_INITIALIZER;
#define ATTR(bit, text) if (attrs & (bit)) buf_printf(&a, "%s%s", buf_len(&a) ? " " : "", text)
        ATTR(L_NONEXISTENT, "\\NonExistent");
        ATTR(L_NOSELECT, "\\Noselect");
        ATTR(L_HASCHILDREN, "\\HasChildren");
        ATTR(L_HASNOCHILD, "\\HasNoChildren");
        ATTR(L_SUBSCRIBED, "\\Subscribed");
#undef ATTR
        const char *use = NULL;
        if (want_uses && !(attrs & (L_NONEXISTENT | L_NOSELECT)))
            use = specialuse_of(l, name);
        if (use) buf_printf(&a, "%s%s", buf_len(&a) ? " " : "", use);
        prot_printf(s->prot, "* %s (%s) \"%c\" ", cmdname, buf_cstring(&a), s->ns.hier_sep);
        imapd_put_astring(s, name);
        if (attrs & L_CHILDINFO) prot_puts(s->prot, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        prot_puts(s->prot, "\r\n");
        buf_free(&a);
    }
}

static void listing_init(struct listing *l, struct imapd_session *s)
{
    memset(l, 0, sizeof(*l));
    l->s = s;
    hash_init(&l->vis_hash, 256, 0);
    hash_init(&l->sub_hash, 64, 0);
    hash_init(&l->out, 64, 0);
    hash_init(&l->owned, 64, 0);
    hash_init(&l->uses, 64, 0);
}

static void listing_fini(struct listing *l)
{
    for (int i = 0; i < l->patterns.count; i++) mboxname_pattern_free(&l->pats[i]);
    free(l->pats);
    strarray_free(&l->patterns);
    strarray_free(&l->visible);
    strarray_free(&l->subscribed);
    strarray_free(&l->out_names);
    hash_free(&l->vis_hash, NULL);
    hash_free(&l->sub_hash, NULL);
    hash_free(&l->out, NULL);
    hash_free(&l->owned, free);
    hash_free(&l->uses, free);
    if (annotate_close(&l->annot))
        xsyslog(LOG_ERR, "annotations db close failed", "user=<%s>", l->s->userid);
}

/* reference + pattern (RFC 3501 6.3.8: the reference is a prefix). */
static void add_pattern(struct listing *l, const char *ref, const char *pat)
{
    char sep = l->s->ns.hier_sep;
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, ref);
    if (*ref && ref[strlen(ref) - 1] == sep && pat[0] == sep) pat++;
    buf_appendcstr(&b, pat);
    strarray_append(&l->patterns, buf_cstring(&b));
    buf_free(&b);
}

static void compile_patterns(struct listing *l)
{
    l->pats = xcalloc((size_t)l->patterns.count + 1, sizeof(*l->pats));
    for (int i = 0; i < l->patterns.count; i++)
        l->pats[i] = mboxname_pattern_compile(l->patterns.data[i], l->s->ns.hier_sep);
}

/* The answer to an empty pattern: the hierarchy delimiter and the root. */
static void list_root(struct imapd_session *s, const char *cmdname, const char *ref)
{
    const char *sep = strchr(ref, s->ns.hier_sep);
    struct buf root = BUF_INITIALIZER;
    if (*ref) {
        buf_appendmap(&root, ref, sep ? (size_t)(sep - ref) + 1 : strlen(ref));
    }
    prot_printf(s->prot, "* %s (\\Noselect) \"%c\" ", cmdname, s->ns.hier_sep);
    imapd_put_string(s, buf_cstring(&root));
    prot_puts(s->prot, "\r\n");
    buf_free(&root);
}

/* ---- parsing -------------------------------------------------------------------- */

static int option_list(struct imapd_session *s, const struct tok_node *list, int selection,
                       unsigned *opts)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct tok_node *n = list->items[i];
        if (n->kind != TOK_NODE_ATOM) return imapd_syntax(s, "Invalid LIST option");
        if (selection && tok_node_is_atom(n, "SUBSCRIBED")) *opts |= SEL_SUBSCRIBED;
        else if (selection && tok_node_is_atom(n, "RECURSIVEMATCH")) *opts |= SEL_RECURSIVEMATCH;
        else if (selection && tok_node_is_atom(n, "REMOTE")) continue;
        else if (selection && tok_node_is_atom(n, "SPECIAL-USE")) *opts |= SEL_SPECIALUSE;
        else if (!selection && tok_node_is_atom(n, "SPECIAL-USE")) *opts |= RET_SPECIALUSE;
        else if (!selection && tok_node_is_atom(n, "SUBSCRIBED")) *opts |= RET_SUBSCRIBED;
        else if (!selection && tok_node_is_atom(n, "CHILDREN")) *opts |= RET_CHILDREN;
        else return imapd_syntax(s, "Unsupported LIST option %s", tok_node_str(n));
    }
    return 0;
}

static int peek(struct imapd_session *s)
{
    int c = tok_getc(&s->tp);
    if (c >= 0) tok_ungetc(&s->tp, c);
    return c;
}

/* Read the arguments of LIST (extended) or LSUB. */
static int read_list_args(struct imapd_session *s, int c, int extended, struct buf *ref,
                          struct strarray *pats, unsigned *opts)
{
    struct tok_node *list = NULL;
    struct buf word = BUF_INITIALIZER;
    int r = 0;
    if (c != ' ') return imapd_syntax(s, "Missing reference name");
    if (extended && peek(s) == '(') {
        c = tok_list(&s->tp, &list);
        if (c >= 0) r = option_list(s, list, 1, opts);
        tok_node_free(&list);
        if (c < 0 || r < 0) return c < 0 ? c : r;
        if (c != ' ') return imapd_syntax(s, "Missing reference name");
    }
    c = tok_astring(&s->tp, ref);
    if (c != ' ') return c < 0 ? c : imapd_syntax(s, "Missing mailbox pattern");
    if (extended && peek(s) == '(') {
        c = tok_list(&s->tp, &list);
        for (size_t i = 0; c >= 0 && i < list->count; i++) {
            const char *p = tok_node_str(list->items[i]);
            if (!p || list->items[i]->kind == TOK_NODE_LIST) c = imapd_syntax(s, "Invalid pattern");
            else strarray_append(pats, p);
        }
        if (c >= 0 && !list->count) c = imapd_syntax(s, "Missing mailbox pattern");
        tok_node_free(&list);
    } else {
        c = tok_listmbox(&s->tp, &word);
        if (c >= 0) strarray_append(pats, buf_cstring(&word));
    }
    if (extended && c == ' ') {
        c = tok_atom(&s->tp, TOK_CS_ATOM, &word);
        if (c >= 0 && (strcasecmp(buf_cstring(&word), "RETURN") || c != ' '))
            c = imapd_syntax(s, "Expected RETURN options");
        if (c >= 0) c = tok_list(&s->tp, &list);
        if (c >= 0) r = option_list(s, list, 0, opts);
        tok_node_free(&list);
        if (r < 0) c = r;
    }
    buf_free(&word);
    if (c >= 0 && (*opts & SEL_RECURSIVEMATCH) && !(*opts & SEL_SUBSCRIBED))
        c = imapd_syntax(s, "RECURSIVEMATCH needs another selection option");
    return imapd_eol(s, c);
}

/* ---- the commands ----------------------------------------------------------------- */

int imapd_cmd_list(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ref = BUF_INITIALIZER;
    struct strarray pats = STRARRAY_INITIALIZER;
    unsigned opts = 0;
    struct listing l;
    listing_init(&l, s);
    int r = read_list_args(s, cmd->c, 1, &ref, &pats, &opts);
    if (r < 0) goto out;

    if (pats.count == 1 && !*pats.data[0] && !opts) {
        list_root(s, "LIST", buf_cstring(&ref));
        r = imapd_ok(s, NULL, "Completed");
        goto out;
    }
    for (int i = 0; i < pats.count; i++) add_pattern(&l, buf_cstring(&ref), pats.data[i]);
    compile_patterns(&l);
    r = gather_visible(&l);
    if (!r && (opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED))) r = gather_subscribed(&l);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    if (opts & SEL_SUBSCRIBED) {
        for (int i = 0; i < l.subscribed.count; i++) {
            const char *n = l.subscribed.data[i];
            if (matches(&l, n) && (!(opts & SEL_SPECIALUSE) || specialuse_of(&l, n)))
                add_out(&l, n, L_SUBSCRIBED |
                        (hash_lookup(&l.vis_hash, n) ? 0 : L_NONEXISTENT));
            if (opts & SEL_RECURSIVEMATCH) for_ancestors(&l, n, childinfo_parent);
        }
    } else {
        for (int i = 0; i < l.visible.count; i++) {
            const char *n = l.visible.data[i];
            if (opts & SEL_SPECIALUSE) {
                if (matches(&l, n) && specialuse_of(&l, n))
                    add_out(&l, n, (opts & RET_SUBSCRIBED) && hash_lookup(&l.sub_hash, n)
                                       ? L_SUBSCRIBED : 0);
                continue;   /* no \Noselect parents: they have no use */
            }
            if (matches(&l, n))
                add_out(&l, n, (opts & RET_SUBSCRIBED) && hash_lookup(&l.sub_hash, n)
                                   ? L_SUBSCRIBED : 0);
            for_ancestors(&l, n, list_intermediate);
        }
    }
    emit(&l, "LIST", !(opts & SEL_SUBSCRIBED) || (opts & RET_CHILDREN), 1);
    r = imapd_ok(s, NULL, "Completed");
out:
    listing_fini(&l);
    strarray_free(&pats);
    buf_free(&ref);
    return r;
}

int imapd_cmd_lsub(struct imapd_session *s, struct imapd_cmdctx *cmd)
{
    struct buf ref = BUF_INITIALIZER;
    struct strarray pats = STRARRAY_INITIALIZER;
    unsigned opts = 0;
    struct listing l;
    listing_init(&l, s);
    int r = read_list_args(s, cmd->c, 0, &ref, &pats, &opts);
    if (r < 0) goto out;
    if (!*pats.data[0]) {
        list_root(s, "LSUB", buf_cstring(&ref));
        r = imapd_ok(s, NULL, "Completed");
        goto out;
    }
    add_pattern(&l, buf_cstring(&ref), pats.data[0]);
    compile_patterns(&l);
    r = gather_subscribed(&l);
    if (!r) r = gather_visible(&l);
    if (r) {
        r = imapd_no_error(s, r, 0);
        goto out;
    }
    for (int i = 0; i < l.subscribed.count; i++) {
        const char *n = l.subscribed.data[i];
        if (matches(&l, n)) add_out(&l, n, hash_lookup(&l.vis_hash, n) ? 0 : L_NOSELECT);
        for_ancestors(&l, n, lsub_intermediate);
    }
    emit(&l, "LSUB", 0, 0);
    r = imapd_ok(s, NULL, "Completed");
out:
    listing_fini(&l);
    strarray_free(&pats);
    buf_free(&ref);
    return r;
}
