/* acl: mailbox access control lists (RFC 4314) in Cyrus's form.
 *
 * Rights are bits (ACL_LOOKUP ...) written as letters "lrswipkxtean" plus
 * the user-defined digits "0".."9".  The RFC 2086 letters are virtual, as
 * in Cyrus with its default deleteright "c" (RFC 4314 2.1.1, first group):
 *   c = k x  (create = create mailboxes + delete mailbox)
 *   d = t e  (delete = delete messages + expunge)
 * On input, "c" or "d" adds all its members unless the same string already
 * holds one of them; on output a macro letter is added whenever any of its
 * members is present, so full rights read "lrswipkxtecdan".
 *
 * An ACL is stored as the Cyrus ACL string: "identifier TAB rights TAB",
 * repeated (what mailboxes.db and MUPDATE carry).  An identifier is a
 * userid, "anyone" (everybody, anonymous included), "anonymous", a group
 * ("group:staff"), or any of these prefixed with '-' for negative rights.
 * Effective rights = union of the positive entries matching the identity
 * minus the union of the matching negative entries; the owner of a user's
 * mailbox always gets the implicit owner rights (implicit_owner_rights,
 * Cyrus default "lkxan") on top; admins get every right.
 *
 * Ownership: struct acl owns its entries; strings returned by the
 * *_format functions go to caller-owned bufs.  Errors: CYRERR_PARSE for a
 * malformed ACL string, CYRERR_BADARGS for unknown rights letters or a bad
 * identifier, CYRERR_NOTFOUND when removing an absent identifier.  No
 * global state and no configuration: callers pass the values of
 * implicit_owner_rights and defaultacl.
 */
#ifndef IMAP_STORE_ACL_H
#define IMAP_STORE_ACL_H

#include "buf.h"
#include "strarray.h"

#define ACL_LOOKUP      (1u << 0)   /* l */
#define ACL_READ        (1u << 1)   /* r */
#define ACL_SETSEEN     (1u << 2)   /* s */
#define ACL_WRITE       (1u << 3)   /* w */
#define ACL_INSERT      (1u << 4)   /* i */
#define ACL_POST        (1u << 5)   /* p */
#define ACL_CREATE      (1u << 6)   /* k */
#define ACL_DELETEMBOX  (1u << 7)   /* x */
#define ACL_DELETEMSG   (1u << 8)   /* t */
#define ACL_EXPUNGE     (1u << 9)   /* e */
#define ACL_ADMIN       (1u << 10)  /* a */
#define ACL_ANNOTATE    (1u << 11)  /* n */
#define ACL_USER0       (1u << 12)  /* '0'; '1'..'9' follow */
#define ACL_USER(n)     (ACL_USER0 << (n))

/* every standard right (what an INBOX owner gets) */
#define ACL_ALL   (ACL_LOOKUP | ACL_READ | ACL_SETSEEN | ACL_WRITE | ACL_INSERT | \
                   ACL_POST | ACL_CREATE | ACL_DELETEMBOX | ACL_DELETEMSG | \
                   ACL_EXPUNGE | ACL_ADMIN | ACL_ANNOTATE)
#define ACL_FULL  (ACL_ALL | (ACL_USER(10) - ACL_USER0))
/* members of the legacy macros */
#define ACL_LEGACY_C (ACL_CREATE | ACL_DELETEMBOX)
#define ACL_LEGACY_D (ACL_DELETEMSG | ACL_EXPUNGE)

/* Room for any rights string plus NUL. */
#define ACL_RIGHTS_STRMAX 32

enum acl_mode {
    ACL_MODE_SET,      /* "lrs": replace */
    ACL_MODE_ADD,      /* "+lrs": add to what the identifier has */
    ACL_MODE_REMOVE,   /* "-lrs": take away */
};

/* Parse a rights string; a leading '+' or '-' sets *mode (SET without
 * either).  mode may be NULL when modifiers are not allowed. */
int acl_rights_parse(const char *s, unsigned *rights, enum acl_mode *mode)
    __attribute__((warn_unused_result));
/* Canonical letters for `rights`, with the c/d macros. */
void acl_rights_format(unsigned rights, char out[ACL_RIGHTS_STRMAX]);

struct acl_entry {
    char *id;          /* identifier, with '-' for negative entries */
    unsigned rights;
};

struct acl {
    int count;
    int alloc;
    struct acl_entry *entries;
};

#define ACL_INITIALIZER { 0, 0, NULL }

void acl_free(struct acl *acl);
/* Parse a Cyrus ACL string into an empty (or freed) struct acl. */
int acl_parse(const char *str, struct acl *acl) __attribute__((warn_unused_result));
/* Append the ACL string to `out` (after resetting it). */
void acl_format(const struct acl *acl, struct buf *out);

/* Is `id` usable as an identifier (optionally with a leading '-')? */
int acl_valid_identifier(const char *id);
/* Change the entry of `id` ("-id" for its negative entry).  Rights that
 * end up empty remove the entry.  A new entry goes at the end. */
int acl_set(struct acl *acl, const char *id, enum acl_mode mode, unsigned rights)
    __attribute__((warn_unused_result));
int acl_remove(struct acl *acl, const char *id);
/* Rights of exactly this entry (0 when absent). */
unsigned acl_get(const struct acl *acl, const char *id);

/* Convenience on ACL strings: change the entry of `id` in *aclstr (a
 * malloc'd string replaced by a new one).  `rights` is a SETACL rights
 * argument ("+lr", "-w", "lrs"; "" with SET removes the entry). */
int acl_string_set(char **aclstr, const char *id, const char *rights)
    __attribute__((warn_unused_result));

/* Who is asking. */
struct acl_identity {
    const char *userid;             /* NULL or "anonymous" for anonymous */
    const struct strarray *groups;  /* identifiers the user is a member of
                                       ("group:staff"), or NULL */
    int isadmin;                    /* admins have every right everywhere */
};

/* Does the identity match identifier `id` (without '-')? */
int acl_identity_matches(const struct acl_identity *who, const char *id);
/* Effective rights on a mailbox with this ACL.  `isowner`: the identity
 * owns the mailbox (its user tree), which adds `owner_rights`. */
unsigned acl_myrights(const struct acl *acl, const struct acl_identity *who,
                      int isowner, unsigned owner_rights);
/* Same on an ACL string; a malformed string grants nothing but the
 * owner's and admin's rights. */
unsigned acl_myrights_str(const char *aclstr, const struct acl_identity *who,
                          int isowner, unsigned owner_rights);

/* The ACL of a new top-level mailbox.  With `owner` (a user's INBOX):
 * "owner lrswipkxtecdan".  Otherwise the identifier/rights pairs of
 * `defaultacl`, space separated ("anyone lrs" in Cyrus); a pair with bad
 * rights makes the result CYRERR_BADARGS. */
int acl_default(const char *owner, const char *defaultacl, struct acl *acl)
    __attribute__((warn_unused_result));

/* LISTRIGHTS (RFC 4314 3.7) for `id` on a mailbox: out[0] is the rights
 * always granted (the owner's implicit rights, else ""), every further
 * element one right that may be granted, each letter its own group, with
 * the c and d macros last.  Appended to `out`. */
void acl_listrights(int isowner, unsigned owner_rights, struct strarray *out);

#endif
