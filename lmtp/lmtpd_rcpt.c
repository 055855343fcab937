/* lmtpd_rcpt: recipient addresses to mailboxes, and the checks made at
 * RCPT time.  See lmtpd.h for the rules. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "libconfig.h"
#include "log.h"
#include "strarray.h"
#include "xmalloc.h"
#include "imap/store/acl.h"
#include "imap/store/mboxlist.h"
#include "imap/store/mboxname.h"
#include "imap/store/quota.h"
#include "imap/store/utf7.h"
#include "lmtp/lmtp_addr.h"
#include "lmtp/lmtpd.h"

#define LOOKUP_ATTEMPTS 5    /* database deadlocks retried */

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* One component of the detail (external form, `n` bytes) appended to `out`
 * in internal form: 8-bit text is taken as UTF-8 and written in modified
 * UTF-7; with the '/' separator a '.' becomes '^'.  CYRERR_BADNAME. */
static int append_component(char sep, const char *s, size_t n, struct buf *out)
{
    if (n == 0) return CYRERR_BADNAME;
    int eightbit = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) eightbit = 1;
    struct buf enc = BUF_INITIALIZER;
    if (eightbit) {
        if (utf7_encode(s, n, &enc)) {
            buf_free(&enc);
            return CYRERR_BADNAME;
        }
    } else {
        buf_setmap(&enc, s, n);
    }
    int r = 0;
    for (size_t i = 0; i < enc.len && !r; i++) {
        char c = enc.s[i];
        if (sep == '/' && c == '.') c = '^';
        else if (sep == '/' && c == '^') r = CYRERR_BADNAME;
        buf_putc(out, c);
    }
    buf_free(&enc);
    return r;
}

/* Split the detail at the hierarchy separator into internal components. */
static int split_detail(char sep, const char *detail, struct strarray *boxes)
{
    struct buf comp = BUF_INITIALIZER;
    int r = 0;
    const char *p = detail;
    while (!r) {
        const char *end = strchr(p, sep);
        size_t n = end ? (size_t)(end - p) : strlen(p);
        buf_reset(&comp);
        r = append_component(sep, p, n, &comp);
        if (!r) strarray_append(boxes, buf_cstring(&comp));
        if (!end) break;
        p = end + 1;
    }
    buf_free(&comp);
    if (r) strarray_truncate(boxes, 0);
    return r;
}

/* prefix boxes[0] "." boxes[1] ... ("." after the prefix too with
 * `dot`), or NULL when that is not a valid name */
static char *join_name(const char *prefix, int dot, const struct strarray *boxes)
{
    struct buf b = BUF_INITIALIZER;
    buf_appendcstr(&b, prefix);
    for (int i = 0; i < boxes->count; i++) {
        if (i || dot) buf_putc(&b, '.');
        buf_appendcstr(&b, strarray_nth(boxes, i));
    }
    char *name = buf_release(&b);
    if (mboxname_valid(name)) xfree(name);
    return name;
}

int lmtpd_addr_parse(const struct lmtpd_config *cfg, const char *rcpt,
                     struct lmtpd_addr *a)
{
    memset(a, 0, sizeof(*a));
    strarray_init(&a->boxes);
    char *local = NULL, *domain = NULL;
    if (lmtp_addr_split(rcpt, &local, &domain)) return CYRERR_MAILBOX_NONEXISTENT;

    char *plus = strchr(local, '+');
    const char *detail = NULL;
    if (plus) {
        *plus = '\0';
        detail = plus + 1;
    }
    if (cfg->downcase_rcpt) ascii_lower(local);
    ascii_lower(domain);
    const char *defdomain = cfg->ns.defaultdomain;
    if (cfg->ns.virtdomains && *domain && (!defdomain || strcmp(domain, defdomain)))
        a->domain = xstrdup(domain);

    int r = 0;
    int bad_detail = 0;
    if (detail && *detail) bad_detail = split_detail(cfg->ns.hier_sep, detail, &a->boxes) != 0;

    const char *postuser = cfg->postuser ? cfg->postuser : "";
    if (cfg->downcase_rcpt ? !strcasecmp(local, postuser) : !strcmp(local, postuser)) {
        /* a shared mailbox: the detail is its whole name */
        char *prefix = a->domain ? strconcat(a->domain, "!", (char *)NULL) : xstrdup("");
        if (a->boxes.count) a->target = join_name(prefix, 0, &a->boxes);
        free(prefix);
        /* "user.x" is not a shared mailbox */
        if (a->target && mboxname_isusermailbox(a->target, 0)) xfree(a->target);
        if (!a->target || bad_detail) r = CYRERR_MAILBOX_NONEXISTENT;
    } else {
        a->inbox = mboxname_user_inbox(local, a->domain);
        if (!a->inbox) {
            r = CYRERR_MAILBOX_NONEXISTENT;
        } else {
            a->userid = a->domain ? strconcat(local, "@", a->domain, (char *)NULL)
                                  : xstrdup(local);
            if (a->boxes.count) a->target = join_name(a->inbox, 1, &a->boxes);
        }
    }
    free(local);
    free(domain);
    if (r) lmtpd_addr_fini(a);
    return r;
}

void lmtpd_addr_fini(struct lmtpd_addr *a)
{
    xfree(a->userid);
    xfree(a->inbox);
    xfree(a->target);
    xfree(a->domain);
    strarray_free(&a->boxes);
}

/* ---- mailboxes.db ------------------------------------------------------- */

static unsigned sender_rights(const struct lmtpd_config *cfg,
                              const struct lmtpd_sender *sender,
                              const struct mboxlist_entry *e)
{
    const char *uid = sender->userid && *sender->userid ? sender->userid : "anonymous";
    struct acl_identity who = { .userid = uid, .groups = NULL, .isadmin = 0 };
    int isowner = strcmp(uid, "anonymous") && namespace_user_owns(&cfg->ns, uid, e->name);
    return acl_myrights_str(e->acl, &who, isowner, cfg->owner_rights);
}

int lmtpd_lookup(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                 const char *name, const struct lmtpd_sender *sender,
                 struct mboxlist_entry *e)
{
    memset(e, 0, sizeof(*e));
    struct mboxlist *ml = NULL;
    int r = lmtpd_store_mboxlist(st, &ml);
    if (r) return r;
    for (int i = 0; i < LOOKUP_ATTEMPTS; i++) {
        r = mboxlist_lookup(ml, name, e, NULL);
        if (r != CYRERR_DEADLOCK) break;
    }
    if (r == CYRERR_BADNAME) r = CYRERR_MAILBOX_NONEXISTENT;
    if (r) {
        mboxlist_entry_free(e);
        return r;
    }
    if (e->type & MBOXLIST_DELETED) r = CYRERR_MAILBOX_NONEXISTENT;
    else if (e->type & MBOXLIST_RESERVED) r = CYRERR_MAILBOX_RESERVED;
    else if (e->type & MBOXLIST_MOVING) r = CYRERR_MAILBOX_MOVED;
    else if (e->type & MBOXLIST_REMOTE) r = CYRERR_MAILBOX_NOTSUPPORTED;
    if (!r && sender) {
        unsigned rights = sender_rights(cfg, sender, e);
        if (!(rights & ACL_POST))
            r = (rights & ACL_LOOKUP) ? CYRERR_PERMISSION : CYRERR_MAILBOX_NONEXISTENT;
    }
    if (r) mboxlist_entry_free(e);
    return r;
}

int lmtpd_quota_full(const struct lmtpd_config *cfg, const char *name, uint64_t size)
{
    char *root = quota_findroot(name);
    if (!root) return 0;
    struct quota q;
    quota_init(&q, root);
    int r = quota_read(root, &q);
    if (r) {
        if (r != CYRERR_QUOTAROOT_NONEXISTENT && r != CYRERR_NOTFOUND)
            xsyslog(LOG_ERR, "lmtpd quota read failed", "root=<%s> error=<%s>", root,
                    error_message(r));
        r = 0;
    } else {
        /* not strict: refuse only when not one more byte or message fits */
        long long bytes = cfg->strict_quota && size ? (long long)size : 1;
        r = quota_check(&q, bytes, 1);
    }
    quota_free(&q);
    free(root);
    return r == CYRERR_QUOTA_EXCEEDED ? r : 0;
}

void lmtpd_verify_rcpt(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                       const struct lmtpd_addr *a, const struct lmtpd_sender *sender,
                       int ignorequota, struct lmtp_status *status)
{
    const char *name = a->userid ? a->inbox : a->target;
    struct mboxlist_entry e = MBOXLIST_ENTRY_INITIALIZER;
    int r = lmtpd_lookup(cfg, st, name, a->userid ? NULL : sender, &e);
    mboxlist_entry_free(&e);
    if (!r && !ignorequota) r = lmtpd_quota_full(cfg, name, 0);
    if (r)
        xsyslog(LOG_INFO, "lmtpd recipient refused", "mailbox=<%s> error=<%s>", name,
                error_name(r));
    lmtpd_status_for(cfg, r, !a->userid, status);
}

/* ---- the mailbox of a delivery ------------------------------------------ */

/* Equal but for case and white space (lmtp_fuzzy_mailbox_match). */
static int fuzzy_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ' || *a == '\t') a++;
        while (*b == ' ' || *b == '\t') b++;
        if (!*a || !*b) return !*a && !*b;
        char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char cb = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (ca != cb) return 0;
        a++;
        b++;
    }
}

static int collect_name(void *rock, const struct mboxlist_entry *e)
{
    if (e->type == 0) strarray_append(rock, e->name);
    return 0;
}

/* Does `name` (below prefix + ".") have exactly `depth` components that
 * match the first `depth` of `want`? */
static int fuzzy_matches(const char *name, size_t prefixlen, const struct strarray *want,
                         int depth)
{
    struct strarray comps;
    strarray_init(&comps);
    strarray_split(&comps, name + prefixlen + 1, ".", 0);
    int ok = comps.count == depth;
    for (int i = 0; ok && i < depth; i++)
        ok = fuzzy_equal(strarray_nth(&comps, i), strarray_nth(want, i));
    strarray_free(&comps);
    return ok;
}

/* The closest existing folder to the detail that the sender may post to:
 * same components ignoring case and white space, or failing that the
 * nearest such parent.  NULL when there is none. */
static char *fuzzy_find(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                        const struct lmtpd_addr *a, const struct lmtpd_sender *sender,
                        struct mboxlist_entry *e)
{
    struct mboxlist *ml = NULL;
    if (lmtpd_store_mboxlist(st, &ml)) return NULL;
    struct strarray names;
    strarray_init(&names);
    char *prefix = strconcat(a->inbox, ".", (char *)NULL);
    (void)mboxlist_foreach(ml, prefix, collect_name, &names, NULL);
    free(prefix);
    size_t plen = strlen(a->inbox);
    char *found = NULL;
    for (int depth = a->boxes.count; depth > 0 && !found; depth--) {
        for (int i = 0; i < names.count && !found; i++) {
            const char *n = strarray_nth(&names, i);
            if (!fuzzy_matches(n, plen, &a->boxes, depth)) continue;
            if (lmtpd_lookup(cfg, st, n, sender, e) == 0) found = xstrdup(n);
        }
    }
    strarray_free(&names);
    return found;
}

int lmtpd_resolve(const struct lmtpd_config *cfg, struct lmtpd_store *st,
                  const struct lmtpd_addr *a, const struct lmtpd_sender *sender,
                  char **name_r, struct mboxlist_entry *e)
{
    *name_r = NULL;
    if (!a->userid) {
        int r = lmtpd_lookup(cfg, st, a->target, sender, e);
        if (!r) *name_r = xstrdup(a->target);
        return r;
    }
    if (a->target) {
        int r = lmtpd_lookup(cfg, st, a->target, sender, e);
        if (!r) {
            *name_r = xstrdup(a->target);
            return 0;
        }
        if (r == CYRERR_MAILBOX_NONEXISTENT && cfg->fuzzy_match) {
            char *fuzzy = fuzzy_find(cfg, st, a, sender, e);
            if (fuzzy) {
                *name_r = fuzzy;
                return 0;
            }
        }
        /* as Cyrus: a missing folder or one the sender may not post to
         * means the INBOX; anything else (being moved, I/O) is an error */
        if (r != CYRERR_MAILBOX_NONEXISTENT && r != CYRERR_PERMISSION) return r;
    }
    int r = lmtpd_lookup(cfg, st, a->inbox, NULL, e);
    if (!r) *name_r = xstrdup(a->inbox);
    return r;
}

void lmtpd_status_for(const struct lmtpd_config *cfg, int r, int shared,
                      struct lmtp_status *st)
{
    switch (r) {
    case 0:
        lmtp_status_set(st, 250, "2.1.5", "Ok");
        break;
    case CYRERR_MAILBOX_NONEXISTENT:
    case CYRERR_USER_NONEXISTENT:
    case CYRERR_INVALID_USER:
    case CYRERR_BADNAME:
        lmtp_status_set(st, 550, "5.1.1", shared ? "Mailbox unknown" : "User unknown");
        break;
    case CYRERR_PERMISSION:
        lmtp_status_set(st, 550, "5.7.1", "Permission denied");
        break;
    case CYRERR_QUOTA_EXCEEDED:
        if (cfg->over_quota_perm)
            lmtp_status_set(st, 552, "5.2.2", "Over quota");
        else
            lmtp_status_set(st, 452, "4.2.2", "Over quota");
        break;
    case CYRERR_MAILBOX_RESERVED:
        lmtp_status_set(st, 450, "4.2.1",
                        "Mailbox is reserved (being created or moved), try again later");
        break;
    case CYRERR_MAILBOX_MOVED:
        lmtp_status_set(st, 450, "4.2.1", "Mailbox is being moved, try again later");
        break;
    case CYRERR_MAILBOX_NOTSUPPORTED:
        lmtp_status_set(st, 451, "4.3.0", "Mailbox is not on this server, try again later");
        break;
    case CYRERR_TOOBIG:
        lmtp_status_set(st, 552, "5.3.4", "Message too big");
        break;
    case CYRERR_MESSAGE_CONTAINSNUL:
    case CYRERR_MESSAGE_CONTAINS8BIT:
    case CYRERR_MESSAGE_BADHEADER:
    case CYRERR_MESSAGE_NOBLANKLINE:
        lmtp_status_set(st, 554, "5.6.0", "%s", error_message(r));
        break;
    case CYRERR_CORRUPT:
        lmtp_status_set(st, 451, "4.3.0", "Mailbox needs repair, try again later");
        break;
    default:
        lmtp_status_set(st, 451, "4.3.0", "Local error in processing: %s",
                        error_message(r));
        break;
    }
}
