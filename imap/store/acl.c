/* acl: access control lists.  See acl.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "imap/store/acl.h"
#include "xmalloc.h"

/* Longest identifier accepted, in bytes. */
#define ACL_ID_MAX 512

/* Real (non-macro) rights in output order. */
static const struct {
    char letter;
    unsigned bit;
} rightmap[] = {
    { 'l', ACL_LOOKUP }, { 'r', ACL_READ }, { 's', ACL_SETSEEN },
    { 'w', ACL_WRITE }, { 'i', ACL_INSERT }, { 'p', ACL_POST },
    { 'k', ACL_CREATE }, { 'x', ACL_DELETEMBOX }, { 't', ACL_DELETEMSG },
    { 'e', ACL_EXPUNGE }, { 'a', ACL_ADMIN }, { 'n', ACL_ANNOTATE },
};
#define NRIGHTS (sizeof(rightmap) / sizeof(rightmap[0]))

static unsigned letter_bit(char c)
{
    for (size_t i = 0; i < NRIGHTS; i++)
        if (rightmap[i].letter == c) return rightmap[i].bit;
    if (c >= '0' && c <= '9') return ACL_USER(c - '0');
    return 0;
}

int acl_rights_parse(const char *s, unsigned *rights, enum acl_mode *mode)
{
    unsigned r = 0, legacy_c = 0, legacy_d = 0;

    *rights = 0;
    if (mode) {
        *mode = ACL_MODE_SET;
        if (*s == '+') { *mode = ACL_MODE_ADD; s++; }
        else if (*s == '-') { *mode = ACL_MODE_REMOVE; s++; }
    }
    for (; *s; s++) {
        if (*s == 'c') { legacy_c = ACL_LEGACY_C; continue; }
        if (*s == 'd') { legacy_d = ACL_LEGACY_D; continue; }
        unsigned bit = letter_bit(*s);
        if (!bit) return CYRERR_BADARGS;
        r |= bit;
    }
    /* a macro adds its members only when none of them was given */
    if (!(r & legacy_c)) r |= legacy_c;
    if (!(r & legacy_d)) r |= legacy_d;
    *rights = r;
    return 0;
}

void acl_rights_format(unsigned rights, char out[ACL_RIGHTS_STRMAX])
{
    char *p = out;
    for (size_t i = 0; i < NRIGHTS; i++) {
        if (rightmap[i].bit == ACL_ADMIN) {
            /* macros go right after "e", before "a", as Cyrus writes them */
            if (rights & ACL_LEGACY_C) *p++ = 'c';
            if (rights & ACL_LEGACY_D) *p++ = 'd';
        }
        if (rights & rightmap[i].bit) *p++ = rightmap[i].letter;
    }
    for (int d = 0; d < 10; d++)
        if (rights & ACL_USER(d)) *p++ = (char)('0' + d);
    *p = '\0';
}

void acl_free(struct acl *acl)
{
    for (int i = 0; i < acl->count; i++) free(acl->entries[i].id);
    free(acl->entries);
    acl->entries = NULL;
    acl->count = acl->alloc = 0;
}

int acl_valid_identifier(const char *id)
{
    if (!id) return 0;
    if (*id == '-') id++;
    size_t n = strlen(id);
    if (n == 0 || n > ACL_ID_MAX) return 0;
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

static int find_entry(const struct acl *acl, const char *id)
{
    for (int i = 0; i < acl->count; i++)
        if (!strcmp(acl->entries[i].id, id)) return i;
    return -1;
}

static void append_entry(struct acl *acl, const char *id, unsigned rights)
{
    if (acl->count == acl->alloc) {
        acl->alloc = acl->alloc ? acl->alloc * 2 : 4;
        acl->entries = xreallocarray(acl->entries, (size_t)acl->alloc,
                                     sizeof(*acl->entries));
    }
    acl->entries[acl->count].id = xstrdup(id);
    acl->entries[acl->count].rights = rights;
    acl->count++;
}

static void remove_entry(struct acl *acl, int idx)
{
    free(acl->entries[idx].id);
    memmove(&acl->entries[idx], &acl->entries[idx + 1],
            (size_t)(acl->count - idx - 1) * sizeof(*acl->entries));
    acl->count--;
}

int acl_parse(const char *str, struct acl *acl)
{
    memset(acl, 0, sizeof(*acl));
    if (!str) return 0;
    const char *p = str;
    while (*p) {
        const char *tab1 = strchr(p, '\t');
        if (!tab1) goto bad;
        const char *tab2 = strchr(tab1 + 1, '\t');
        if (!tab2) goto bad;
        char *id = xstrndup(p, (size_t)(tab1 - p));
        char *rs = xstrndup(tab1 + 1, (size_t)(tab2 - tab1 - 1));
        unsigned rights;
        int r = acl_valid_identifier(id) ? acl_rights_parse(rs, &rights, NULL)
                                         : CYRERR_PARSE;
        if (!r) {
            int idx = find_entry(acl, id);
            if (idx >= 0) acl->entries[idx].rights |= rights;
            else append_entry(acl, id, rights);
        }
        free(id);
        free(rs);
        if (r) goto bad;
        p = tab2 + 1;
    }
    return 0;
bad:
    acl_free(acl);
    return CYRERR_PARSE;
}

void acl_format(const struct acl *acl, struct buf *out)
{
    char rs[ACL_RIGHTS_STRMAX];
    buf_reset(out);
    for (int i = 0; i < acl->count; i++) {
        acl_rights_format(acl->entries[i].rights, rs);
        buf_appendcstr(out, acl->entries[i].id);
        buf_putc(out, '\t');
        buf_appendcstr(out, rs);
        buf_putc(out, '\t');
    }
}

int acl_set(struct acl *acl, const char *id, enum acl_mode mode, unsigned rights)
{
    if (!acl_valid_identifier(id)) return CYRERR_BADARGS;
    if (rights & ~ACL_FULL) return CYRERR_BADARGS;
    int idx = find_entry(acl, id);
    unsigned old = idx >= 0 ? acl->entries[idx].rights : 0;
    unsigned now = rights;
    if (mode == ACL_MODE_ADD) now = old | rights;
    else if (mode == ACL_MODE_REMOVE) now = old & ~rights;

    if (now == 0) {
        if (idx >= 0) remove_entry(acl, idx);
    } else if (idx >= 0) {
        acl->entries[idx].rights = now;
    } else {
        append_entry(acl, id, now);
    }
    return 0;
}

int acl_remove(struct acl *acl, const char *id)
{
    int idx = find_entry(acl, id);
    if (idx < 0) return CYRERR_NOTFOUND;
    remove_entry(acl, idx);
    return 0;
}

unsigned acl_get(const struct acl *acl, const char *id)
{
    int idx = find_entry(acl, id);
    return idx >= 0 ? acl->entries[idx].rights : 0;
}

int acl_string_set(char **aclstr, const char *id, const char *rights)
{
    struct acl acl;
    unsigned mask;
    enum acl_mode mode;
    int r;

    if ((r = acl_rights_parse(rights, &mask, &mode))) return r;
    if ((r = acl_parse(*aclstr, &acl))) return r;
    r = acl_set(&acl, id, mode, mask);
    if (!r) {
        struct buf b = BUF_INITIALIZER;
        acl_format(&acl, &b);
        free(*aclstr);
        *aclstr = buf_release(&b);
    }
    acl_free(&acl);
    return r;
}

static int is_anonymous(const struct acl_identity *who)
{
    return !who->userid || !strcmp(who->userid, "anonymous");
}

int acl_identity_matches(const struct acl_identity *who, const char *id)
{
    if (!strcmp(id, "anyone")) return 1;
    if (!strcmp(id, "anonymous")) return is_anonymous(who);
    if (who->userid && !strcmp(id, who->userid)) return !is_anonymous(who);
    if (who->groups && strarray_find(who->groups, id, 0) >= 0) return 1;
    return 0;
}

unsigned acl_myrights(const struct acl *acl, const struct acl_identity *who,
                      int isowner, unsigned owner_rights)
{
    unsigned pos = 0, neg = 0;

    if (who->isadmin) return ACL_FULL;
    for (int i = 0; acl && i < acl->count; i++) {
        const char *id = acl->entries[i].id;
        int negative = (*id == '-');
        if (!acl_identity_matches(who, negative ? id + 1 : id)) continue;
        if (negative) neg |= acl->entries[i].rights;
        else pos |= acl->entries[i].rights;
    }
    pos &= ~neg;
    if (isowner && !is_anonymous(who)) pos |= owner_rights;
    return pos;
}

unsigned acl_myrights_str(const char *aclstr, const struct acl_identity *who,
                          int isowner, unsigned owner_rights)
{
    struct acl acl;
    if (acl_parse(aclstr, &acl))
        return acl_myrights(NULL, who, isowner, owner_rights);
    unsigned r = acl_myrights(&acl, who, isowner, owner_rights);
    acl_free(&acl);
    return r;
}

int acl_default(const char *owner, const char *defaultacl, struct acl *acl)
{
    memset(acl, 0, sizeof(*acl));
    if (owner) {
        if (!acl_valid_identifier(owner) || *owner == '-') return CYRERR_BADARGS;
        append_entry(acl, owner, ACL_ALL);
        return 0;
    }
    struct strarray words = STRARRAY_INITIALIZER;
    strarray_split(&words, defaultacl ? defaultacl : "", " \t", 1);
    int r = (words.count % 2) ? CYRERR_BADARGS : 0;
    for (int i = 0; !r && i + 1 < words.count; i += 2) {
        unsigned mask;
        r = acl_rights_parse(words.data[i + 1], &mask, NULL);
        if (!r) r = acl_set(acl, words.data[i], ACL_MODE_SET, mask);
    }
    strarray_free(&words);
    if (r) acl_free(acl);
    return r;
}

void acl_listrights(int isowner, unsigned owner_rights, struct strarray *out)
{
    char rs[ACL_RIGHTS_STRMAX];
    unsigned req = isowner ? (owner_rights & ACL_FULL) : 0;

    acl_rights_format(req, rs);
    /* the required set is listed without macros */
    char *w = rs;
    for (char *p = rs; *p; p++)
        if (*p != 'c' && *p != 'd') *w++ = *p;
    *w = '\0';
    strarray_append(out, rs);
    for (size_t i = 0; i < NRIGHTS; i++) {
        if (req & rightmap[i].bit) continue;
        char one[2] = { rightmap[i].letter, '\0' };
        strarray_append(out, one);
    }
    for (int d = 0; d < 10; d++) {
        if (req & ACL_USER(d)) continue;
        char one[2] = { (char)('0' + d), '\0' };
        strarray_append(out, one);
    }
    if ((req & ACL_LEGACY_C) != ACL_LEGACY_C) strarray_append(out, "c");
    if ((req & ACL_LEGACY_D) != ACL_LEGACY_D) strarray_append(out, "d");
}
