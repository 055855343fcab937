/* namespace: external mailbox names.  See namespace.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "imap/store/mboxname.h"
#include "imap/store/namespace.h"
#include "libconfig.h"
#include "strarray.h"
#include "xmalloc.h"

/* Longest external name accepted as input: the internal limit plus room
 * for the altnamespace prefixes and an admin's "@domain". */
#define EXTNAME_MAX (MBOXNAME_MAX + 512)

void namespace_from_config(struct namespace *ns, int isadmin)
{
    const char *s;

    memset(ns, 0, sizeof(*ns));
    ns->hier_sep = config_getswitch(IMAPOPT_UNIXHIERARCHYSEP) ? '/' : '.';
    ns->altnamespace = isadmin ? 0 : config_getswitch(IMAPOPT_ALTNAMESPACE);
    s = config_getenum(IMAPOPT_VIRTDOMAINS);
    ns->virtdomains = s && strcmp(s, "off") != 0 && strcmp(s, "no") != 0;
    ns->isadmin = isadmin;
    s = config_getstring(IMAPOPT_DEFAULTDOMAIN);
    ns->defaultdomain = (s && *s) ? s : NULL;
    s = config_getstring(IMAPOPT_USERPREFIX);
    ns->userprefix = (s && *s) ? s : "Other Users";
    s = config_getstring(IMAPOPT_SHAREDPREFIX);
    ns->sharedprefix = (s && *s) ? s : "Shared Folders";
    s = config_getstring(IMAPOPT_ALTPREFIX);
    ns->altprefix = (s && *s) ? s : NULL;
}

int namespace_split_userid(const struct namespace *ns, const char *userid,
                           char **localpart, char **domain)
{
    *localpart = NULL;
    *domain = NULL;
    if (!userid || !*userid) return CYRERR_INVALID_USER;
    for (const char *p = userid; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c == 0x7f || c == '!' || c == '^')
            return CYRERR_INVALID_USER;
    }
    const char *at = ns->virtdomains ? strrchr(userid, '@') : NULL;
    if (!at) {
        *localpart = xstrdup(userid);
        return 0;
    }
    if (at == userid) return CYRERR_INVALID_USER;
    char *dom = xstrdup(at + 1);
    for (char *p = dom; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (mboxname_valid_domain(dom)) {
        free(dom);
        return CYRERR_INVALID_USER;
    }
    if (ns->defaultdomain && !strcasecmp(dom, ns->defaultdomain)) xfree(dom);
    *localpart = xstrndup(userid, (size_t)(at - userid));
    *domain = dom;
    return 0;
}

char *namespace_user_inbox(const struct namespace *ns, const char *userid)
{
    char *lp, *dom;
    if (namespace_split_userid(ns, userid, &lp, &dom)) return NULL;
    char *r = mboxname_user_inbox(lp, dom);
    free(lp);
    free(dom);
    return r;
}

int namespace_user_owns(const struct namespace *ns, const char *userid,
                        const char *intname)
{
    char *inbox = namespace_user_inbox(ns, userid);
    int r = inbox && mboxname_is_same_or_below(intname, inbox);
    free(inbox);
    return r;
}

static int streq0(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return !strcmp(a, b);
}

/* Local part as an internal component: '.' becomes '^'. */
static void append_localpart(struct buf *out, const char *lp)
{
    for (const char *p = lp; *p; p++)
        buf_putc(out, *p == '.' ? '^' : *p);
}

static void append_comps(struct buf *out, const struct strarray *c, int from,
                         char sep)
{
    for (int i = from; i < c->count; i++) {
        if (out->len) buf_putc(out, sep);
        buf_appendcstr(out, c->data[i]);
    }
}

/* Split an external name into internal components. */
static int ext_components(const struct namespace *ns, const char *ext,
                          struct strarray *comps)
{
    char sep[2] = { ns->hier_sep, '\0' };
    strarray_split(comps, ext, sep, 0);
    for (int i = 0; i < comps->count; i++) {
        char *c = comps->data[i];
        if (!*c) return CYRERR_BADNAME;
        if (ns->virtdomains && strchr(c, '@')) return CYRERR_BADNAME;
        if (ns->hier_sep != '/') continue;
        for (char *p = c; *p; p++) {
            if (*p == '^') return CYRERR_BADNAME;
            if (*p == '.') *p = '^';
        }
    }
    return comps->count ? 0 : CYRERR_BADNAME;
}

/* Build the internal name (without domain) from the components. */
static int build_internal(const struct namespace *ns, const struct strarray *c,
                          const char *lp, struct buf *out)
{
    const char *first = c->data[0];

    if (ns->altnamespace && !ns->isadmin) {
        if (!strcmp(first, ns->userprefix)) {
            if (c->count < 2) return CYRERR_BADNAME;
            buf_appendcstr(out, "user");
            append_comps(out, c, 1, '.');
            return 0;
        }
        if (!strcmp(first, ns->sharedprefix)) {
            if (c->count < 2) return CYRERR_BADNAME;
            append_comps(out, c, 1, '.');
            return 0;
        }
        if (!lp) return CYRERR_BADNAME;
        buf_appendcstr(out, "user.");
        append_localpart(out, lp);
        if (ns->altprefix && !strcmp(first, ns->altprefix)) {
            if (c->count < 2) return CYRERR_BADNAME;
            append_comps(out, c, 1, '.');
            return 0;
        }
        if (!strcasecmp(first, "INBOX")) {
            if (c->count > 1) {
                buf_appendcstr(out, ".INBOX");
                append_comps(out, c, 1, '.');
            }
            return 0;
        }
        append_comps(out, c, 0, '.');
        return 0;
    }
    if (!strcasecmp(first, "INBOX")) {
        if (!lp) return CYRERR_BADNAME;
        buf_appendcstr(out, "user.");
        append_localpart(out, lp);
        append_comps(out, c, 1, '.');
        return 0;
    }
    append_comps(out, c, 0, '.');
    return 0;
}

int namespace_to_internal(const struct namespace *ns, const char *extname,
                          const char *userid, struct buf *out)
{
    struct strarray comps = STRARRAY_INITIALIZER;
    char *lp = NULL, *udom = NULL, *work = NULL, *mdom = NULL;
    int r = CYRERR_BADNAME;

    buf_reset(out);
    if (!extname || !*extname || strlen(extname) > EXTNAME_MAX) goto done;
    for (const char *p = extname; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch >= 0x7f) goto done;
    }
    if (userid && (r = namespace_split_userid(ns, userid, &lp, &udom))) goto done;
    r = CYRERR_BADNAME;

    work = xstrdup(extname);
    mdom = xstrdupnull(udom);
    if (ns->virtdomains && ns->isadmin) {
        char *at = strrchr(work, '@');
        if (at) {
            *at = '\0';
            xfree(mdom);
            mdom = xstrdup(at + 1);
            for (char *p = mdom; *p; p++)
                if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
            if (mboxname_valid_domain(mdom)) goto done;
            if (ns->defaultdomain && !strcmp(mdom, ns->defaultdomain))
                xfree(mdom);
        }
    }
    if ((r = ext_components(ns, work, &comps))) goto done;

    if (mdom) {
        buf_appendcstr(out, mdom);
        buf_putc(out, '!');
    }
    struct buf tail = BUF_INITIALIZER;
    r = build_internal(ns, &comps, lp, &tail);
    buf_appendbuf(out, &tail);
    buf_free(&tail);
    if (!r && mboxname_valid(buf_cstring(out))) r = CYRERR_BADNAME;

done:
    if (r) buf_reset(out);
    strarray_free(&comps);
    free(lp);
    free(udom);
    free(work);
    free(mdom);
    return r;
}

/* Internal components of `rest` (no domain) in external spelling. */
static void int_components(const struct namespace *ns, const char *rest,
                           struct strarray *comps)
{
    strarray_split(comps, rest, ".", 0);
    if (ns->hier_sep != '/') return;
    for (int i = 0; i < comps->count; i++)
        for (char *p = comps->data[i]; *p; p++)
            if (*p == '^') *p = '.';
}

static int build_external(const struct namespace *ns, const struct strarray *c,
                          int own, struct buf *out)
{
    int alt = ns->altnamespace && !ns->isadmin;
    char sep = ns->hier_sep;

    if (!strcmp(c->data[0], "user")) {
        if (!own) {
            buf_appendcstr(out, alt ? ns->userprefix : "user");
            append_comps(out, c, 1, sep);
            return 0;
        }
        if (!alt) {
            buf_appendcstr(out, "INBOX");
            append_comps(out, c, 2, sep);
            return 0;
        }
        if (c->count == 2) {
            buf_appendcstr(out, "INBOX");
            return 0;
        }
        const char *top = c->data[2];
        int clash = !strcmp(top, ns->userprefix) || !strcmp(top, ns->sharedprefix) ||
                    (ns->altprefix && !strcmp(top, ns->altprefix)) ||
                    (!strcasecmp(top, "INBOX") &&
                     (strcmp(top, "INBOX") || c->count == 3));
        if (clash) {
            if (!ns->altprefix) return CYRERR_BADNAME;
            buf_appendcstr(out, ns->altprefix);
        }
        append_comps(out, c, 2, sep);
        return 0;
    }
    if (alt) {
        buf_appendcstr(out, ns->sharedprefix);
        append_comps(out, c, 0, sep);
        return 0;
    }
    if (!strcasecmp(c->data[0], "INBOX")) return CYRERR_BADNAME;
    append_comps(out, c, 0, sep);
    return 0;
}

int namespace_to_external(const struct namespace *ns, const char *intname,
                          const char *userid, struct buf *out)
{
    struct mboxname_parts parts;
    struct strarray comps = STRARRAY_INITIALIZER;
    char *lp = NULL, *udom = NULL;
    const char *suffix = NULL;
    int r;

    buf_reset(out);
    if ((r = mboxname_to_parts(intname, &parts))) return r;
    if (userid && (r = namespace_split_userid(ns, userid, &lp, &udom))) goto done;
    r = CYRERR_BADNAME;

    if (parts.domain && !ns->virtdomains) goto done;
    /* the default domain is never part of a canonical internal name */
    if (parts.domain && ns->defaultdomain && !strcmp(parts.domain, ns->defaultdomain))
        goto done;
    if (ns->virtdomains && !streq0(parts.domain, udom)) {
        if (!ns->isadmin) goto done;
        if (parts.domain) suffix = parts.domain;
        else if (ns->defaultdomain) suffix = ns->defaultdomain;
        else goto done;
    }
    int own = parts.userid && lp && !strcmp(parts.userid, lp) &&
              streq0(parts.domain, udom);

    const char *rest = strchr(intname, '!');
    rest = rest ? rest + 1 : intname;
    int_components(ns, rest, &comps);
    r = build_external(ns, &comps, own, out);
    if (!r && suffix) {
        buf_putc(out, '@');
        buf_appendcstr(out, suffix);
    }

done:
    if (r) buf_reset(out);
    strarray_free(&comps);
    mboxname_parts_free(&parts);
    free(lp);
    free(udom);
    return r;
}

void namespace_prefixes(const struct namespace *ns, struct buf *personal,
                        struct buf *otherusers, struct buf *shared)
{
    buf_reset(personal);
    buf_reset(otherusers);
    buf_reset(shared);
    if (ns->altnamespace && !ns->isadmin) {
        buf_printf(otherusers, "%s%c", ns->userprefix, ns->hier_sep);
        buf_printf(shared, "%s%c", ns->sharedprefix, ns->hier_sep);
    } else {
        buf_printf(personal, "INBOX%c", ns->hier_sep);
        buf_printf(otherusers, "user%c", ns->hier_sep);
    }
}
