/* mboxname: internal mailbox names.  See mboxname.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "imap/store/mboxname.h"
#include "imap/store/utf7.h"
#include "xmalloc.h"

/* Characters allowed in an internal name besides the '&' of modified UTF-7
 * (Cyrus 3's set): every printable ASCII character except
 * ! " % & / ; < > \ ` { | }.  '/' never appears, so no component can climb
 * out of a directory; '%' is a LIST wildcard; '!' separates the domain. */
static const char goodchars[] =
    " #$'()*+,-.0123456789:=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_"
    "abcdefghijklmnopqrstuvwxyz~";

static int goodchar(char c)
{
    return c != '\0' && strchr(goodchars, c) != NULL;
}

int mboxname_valid_domain(const char *domain)
{
    size_t len = strlen(domain);
    if (len == 0 || len > 255) return CYRERR_BADNAME;
    if (domain[0] == '.' || domain[0] == '-' || domain[len - 1] == '.')
        return CYRERR_BADNAME;
    for (const char *p = domain; *p; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_')
            continue;
        if (c == '.' && p[1] != '.') continue;
        return CYRERR_BADNAME;
    }
    return 0;
}

/* Is the user part of "user.<id>[.more]" one of the reserved identities? */
static int reserved_user(const char *rest)
{
    static const char *const reserved[] = { "anyone", "anonymous" };
    if (strncmp(rest, "user.", 5) != 0) return 0;
    const char *id = rest + 5;
    size_t n = strcspn(id, ".");
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == n && !strncmp(id, reserved[i], n)) return 1;
    }
    return 0;
}

int mboxname_valid(const char *name)
{
    if (!name) return CYRERR_BADNAME;
    size_t len = strlen(name);
    if (len == 0 || len > MBOXNAME_MAX) return CYRERR_BADNAME;

    const char *rest = name;
    const char *bang = strchr(name, '!');
    if (bang) {
        char *dom = xstrndup(name, (size_t)(bang - name));
        int r = mboxname_valid_domain(dom);
        free(dom);
        if (r) return r;
        rest = bang + 1;
    }
    size_t rlen = strlen(rest);
    if (rlen == 0) return CYRERR_BADNAME;
    if (rest[0] == '.' || rest[0] == '~' || rest[0] == '$') return CYRERR_BADNAME;
    if (rest[rlen - 1] == '.' || strstr(rest, "..")) return CYRERR_BADNAME;
    for (const char *p = rest; *p; p++) {
        if (*p != '&' && !goodchar(*p)) return CYRERR_BADNAME;
    }
    if (utf7_valid(rest, rlen, UTF7_NOCONTROL)) return CYRERR_BADNAME;
    if (!strcmp(rest, "user")) return CYRERR_BADNAME;
    if (reserved_user(rest)) return CYRERR_BADNAME;
    return 0;
}

static char *carets_to_dots(const char *s, size_t n)
{
    char *r = xstrndup(s, n);
    for (char *p = r; *p; p++)
        if (*p == '^') *p = '.';
    return r;
}

int mboxname_to_parts(const char *name, struct mboxname_parts *parts)
{
    memset(parts, 0, sizeof(*parts));
    if (mboxname_valid(name)) return CYRERR_BADNAME;

    const char *rest = name;
    const char *bang = strchr(name, '!');
    if (bang) {
        parts->domain = xstrndup(name, (size_t)(bang - name));
        rest = bang + 1;
    }
    if (!strncmp(rest, "user.", 5)) {
        const char *id = rest + 5;
        size_t n = strcspn(id, ".");
        parts->userid = carets_to_dots(id, n);
        if (id[n] == '.') parts->box = xstrdup(id + n + 1);
    } else {
        parts->box = xstrdup(rest);
    }
    return 0;
}

void mboxname_parts_free(struct mboxname_parts *parts)
{
    xfree(parts->domain);
    xfree(parts->userid);
    xfree(parts->box);
}

char *mboxname_to_userid(const char *name)
{
    struct mboxname_parts parts;
    char *r = NULL;
    if (mboxname_to_parts(name, &parts)) return NULL;
    if (parts.userid) {
        r = parts.domain ? strconcat(parts.userid, "@", parts.domain, (char *)NULL)
                         : xstrdup(parts.userid);
    }
    mboxname_parts_free(&parts);
    return r;
}

int mboxname_isusermailbox(const char *name, int inbox_only)
{
    struct mboxname_parts parts;
    if (mboxname_to_parts(name, &parts)) return 0;
    int r = parts.userid && (!inbox_only || !parts.box);
    mboxname_parts_free(&parts);
    return r;
}

char *mboxname_user_inbox(const char *localpart, const char *domain)
{
    if (!localpart || !*localpart || strchr(localpart, '^')) return NULL;
    struct buf b = BUF_INITIALIZER;
    if (domain) {
        buf_appendcstr(&b, domain);
        buf_putc(&b, '!');
    }
    buf_appendcstr(&b, "user.");
    for (const char *p = localpart; *p; p++)
        buf_putc(&b, *p == '.' ? '^' : *p);
    char *r = buf_release(&b);
    if (mboxname_valid(r)) xfree(r);
    return r;
}

/* Offset of the part after "domain!" (0 without a domain). */
static size_t domain_len(const char *name)
{
    const char *bang = strchr(name, '!');
    return bang ? (size_t)(bang - name) + 1 : 0;
}

char *mboxname_parent(const char *name)
{
    if (mboxname_valid(name)) return NULL;
    size_t dl = domain_len(name);
    const char *dot = strrchr(name + dl, '.');
    if (!dot) return NULL;
    char *p = xstrndup(name, (size_t)(dot - name));
    if (!strcmp(p + dl, "user")) xfree(p);   /* user.X is a tree's top */
    return p;
}

int mboxname_is_descendant(const char *child, const char *parent)
{
    size_t pl = strlen(parent);
    return pl > 0 && !strncmp(child, parent, pl) && child[pl] == '.' &&
           child[pl + 1] != '\0';
}

int mboxname_is_child(const char *child, const char *parent)
{
    if (!mboxname_is_descendant(child, parent)) return 0;
    return strchr(child + strlen(parent) + 1, '.') == NULL;
}

int mboxname_is_same_or_below(const char *a, const char *b)
{
    return !strcmp(a, b) || mboxname_is_descendant(a, b);
}

static char hash_letter(const char *s)
{
    char c = s[0];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    return (c >= 'a' && c <= 'z') ? c : 'q';
}

int mboxname_path(const char *partdir, const char *name, int hashed,
                  struct buf *path)
{
    buf_reset(path);
    if (mboxname_valid(name)) return CYRERR_BADNAME;

    size_t pl = strlen(partdir);
    while (pl > 1 && partdir[pl - 1] == '/') pl--;
    buf_appendmap(path, partdir, pl);

    size_t dl = domain_len(name);
    if (dl) {
        buf_appendcstr(path, "/domain/");
        if (hashed) {
            buf_putc(path, hash_letter(name));
            buf_putc(path, '/');
        }
        buf_appendmap(path, name, dl - 1);
    }
    const char *rest = name + dl;
    if (hashed) {
        const char *key = rest;
        if (!strncmp(rest, "user.", 5)) key = rest + 5;
        buf_putc(path, '/');
        buf_putc(path, hash_letter(key));
    }
    buf_putc(path, '/');
    for (const char *p = rest; *p; p++)
        buf_putc(path, *p == '.' ? '/' : *p);
    return 0;
}

/* ---- LIST patterns ------------------------------------------------------ */

#define PAT_STAR    (-1)
#define PAT_PERCENT (-2)

struct mboxname_pattern {
    int *tok;          /* literal bytes (0..255) or PAT_STAR / PAT_PERCENT */
    size_t ntok;
    char sep;
    char *literal;     /* text before the first wildcard */
    size_t literal_len;
    unsigned char *cur, *next;   /* state sets, ntok + 1 entries each */
};

struct mboxname_pattern *mboxname_pattern_compile(const char *pattern,
                                                  char hier_sep)
{
    struct mboxname_pattern *pat = xzmalloc(sizeof(*pat));
    size_t n = strlen(pattern);
    pat->tok = xcalloc(n + 1, sizeof(int));
    pat->sep = hier_sep;
    for (size_t i = 0; i < n; i++) {
        int t = (unsigned char)pattern[i];
        if (pattern[i] == '*') t = PAT_STAR;
        else if (pattern[i] == '%') t = PAT_PERCENT;
        if (t < 0 && pat->ntok > 0 && pat->tok[pat->ntok - 1] < 0) {
            /* "**", "%*" and "*%" are "*"; "%%" is "%" */
            if (t == PAT_STAR) pat->tok[pat->ntok - 1] = PAT_STAR;
            continue;
        }
        pat->tok[pat->ntok++] = t;
    }
    size_t lit = strcspn(pattern, "*%");
    pat->literal = xstrndup(pattern, lit);
    pat->literal_len = lit;
    pat->cur = xmalloc(pat->ntok + 1);
    pat->next = xmalloc(pat->ntok + 1);
    return pat;
}

void mboxname_pattern_free(struct mboxname_pattern **patp)
{
    struct mboxname_pattern *pat = *patp;
    if (!pat) return;
    free(pat->tok);
    free(pat->literal);
    free(pat->cur);
    free(pat->next);
    free(pat);
    *patp = NULL;
}

const char *mboxname_pattern_literal_prefix(const struct mboxname_pattern *pat,
                                            size_t *len)
{
    if (len) *len = pat->literal_len;
    return pat->literal;
}

/* Wildcards match the empty string: follow them forward. */
static void closure(const struct mboxname_pattern *pat, unsigned char *set)
{
    for (size_t j = 0; j < pat->ntok; j++)
        if (set[j] && pat->tok[j] < 0) set[j + 1] = 1;
}

static int fold(int c)
{
    return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
}

/* Run the pattern over `name`; returns 1 when any state is alive at the
 * end, and sets *final when the whole pattern matched. */
static int run(struct mboxname_pattern *pat, const char *name, int inboxci,
               int *final)
{
    size_t m = pat->ntok;
    memset(pat->cur, 0, m + 1);
    pat->cur[0] = 1;
    closure(pat, pat->cur);
    int alive = 1;
    for (size_t i = 0; name[i] && alive; i++) {
        int c = (unsigned char)name[i];
        int ci = inboxci && i < 5;
        memset(pat->next, 0, m + 1);
        alive = 0;
        for (size_t j = 0; j < m; j++) {
            if (!pat->cur[j]) continue;
            int t = pat->tok[j];
            if (t == PAT_STAR || (t == PAT_PERCENT && c != pat->sep)) {
                pat->next[j] = 1;
                alive = 1;
            } else if (t >= 0 && (t == c || (ci && fold(t) == fold(c)))) {
                pat->next[j + 1] = 1;
                alive = 1;
            }
        }
        closure(pat, pat->next);
        unsigned char *tmp = pat->cur;
        pat->cur = pat->next;
        pat->next = tmp;
    }
    *final = alive && pat->cur[m];
    return alive;
}

static int inbox_prefix(const char *name, char sep, int partial)
{
    size_t n = strlen(name);
    if (partial && n < 5) return strncasecmp(name, "INBOX", n) == 0;
    return !strncasecmp(name, "INBOX", 5) && (name[5] == '\0' || name[5] == sep);
}

int mboxname_pattern_match(struct mboxname_pattern *pat, const char *name)
{
    int final = 0;
    run(pat, name, inbox_prefix(name, pat->sep, 0), &final);
    return final;
}

int mboxname_pattern_may_match_below(struct mboxname_pattern *pat,
                                     const char *prefix)
{
    int final = 0;
    return run(pat, prefix, inbox_prefix(prefix, pat->sep, 1), &final);
}
