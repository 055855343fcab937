/* mboxname: canonical internal mailbox names, their parts and their paths.
 *
 * Every mailbox has one internal name, the key of mailboxes.db:
 *
 *     user.alice               alice's INBOX
 *     user.alice.Sent          a folder of alice
 *     shared.memo              a shared folder (any top level but "user")
 *     example.org!user.bob     bob@example.org's INBOX (virtual domains)
 *
 * The separator is always '.'; a '.' inside a component (a userid
 * "john.doe", or a folder "a.b" under unixhierarchysep) is written '^'.
 * Components are modified UTF-7 (see utf7.h).  Conversion to and from what
 * a client sees lives in namespace.h.
 *
 * mboxname_valid() is the one policy check.  A name is refused when it is
 * empty or longer than MBOXNAME_MAX bytes, has an empty component (leading,
 * trailing or doubled '.'), a character outside the allowed set (control
 * characters, '/', '%', '!', '"', '\\', ...: see mboxname.c), invalid
 * modified UTF-7 or an encoded control character, starts with '~' or '$',
 * is "user" alone, or names the reserved users anyone/anonymous; the domain
 * (before '!') must be a lower-case host name.  Any valid name maps to a
 * path strictly below its partition directory: each component becomes one
 * directory level, and no component can be "", "." or "..", or hold '/'.
 *
 * Returned char * belong to the caller (free()); errors are CYRERR_BADNAME.
 * There is no global state: nothing here reads the configuration.
 */
#ifndef IMAP_STORE_MBOXNAME_H
#define IMAP_STORE_MBOXNAME_H

#include <stddef.h>

#include "buf.h"

/* Longest internal name, in bytes, domain included (as Cyrus). */
#define MBOXNAME_MAX 490

/* 0 when `name` is a valid internal name, else CYRERR_BADNAME. */
int mboxname_valid(const char *name) __attribute__((warn_unused_result));
/* 0 when `domain` may appear before '!' (lower-case host name). */
int mboxname_valid_domain(const char *domain) __attribute__((warn_unused_result));

/* The pieces of an internal name.  All strings are owned by the struct. */
struct mboxname_parts {
    char *domain;     /* "example.org", or NULL */
    char *userid;     /* owner's local part with '^' turned back to '.'
                         ("alice", "john.doe"), or NULL for shared names */
    char *box;        /* the rest after user.<id> or the whole shared name,
                         internal form ("Sent.2024"); NULL for an INBOX */
};
#define MBOXNAME_PARTS_INITIALIZER { NULL, NULL, NULL }

/* Split a valid internal name.  CYRERR_BADNAME when it is not valid. */
int mboxname_to_parts(const char *name, struct mboxname_parts *parts)
    __attribute__((warn_unused_result));
void mboxname_parts_free(struct mboxname_parts *parts);

/* The full userid owning `name` ("alice", "bob@example.org"), or NULL for
 * a shared or invalid name. */
char *mboxname_to_userid(const char *name);
/* Is `name` inside some user's tree?  With `inbox_only`, only user.X itself. */
int mboxname_isusermailbox(const char *name, int inbox_only);
/* The INBOX of a local part and domain (domain may be NULL): NULL when the
 * pair cannot name a valid INBOX.  Dots in the local part become '^'. */
char *mboxname_user_inbox(const char *localpart, const char *domain);

/* Parent name ("user.alice.a" -> "user.alice"; "x!shared.a" -> "x!shared"),
 * or NULL for a top-level name. */
char *mboxname_parent(const char *name);
/* Is `child` strictly below `parent` (any depth)?  Same domain only. */
int mboxname_is_descendant(const char *child, const char *parent);
/* Is `child` directly below `parent`? */
int mboxname_is_child(const char *child, const char *parent);
/* Does `a` equal `b` or lie below it ("user.a" covers "user.a.x")? */
int mboxname_is_same_or_below(const char *a, const char *b);

/* Directory of mailbox `name` under partition directory `partdir`:
 *   <partdir>/user/alice/Sent
 *   <partdir>/domain/example.org/user/bob
 * With `hashed` (the hashimapspool option) a one-letter level is added, the
 * lower-cased first letter of the user's local part (or of the top-level
 * folder for shared names), 'q' when not a-z:
 *   <partdir>/a/user/alice/Sent, <partdir>/domain/e/example.org/b/user/bob
 * The path is appended to `path` after resetting it.  CYRERR_BADNAME when
 * `name` is not valid (nothing is appended then). */
int mboxname_path(const char *partdir, const char *name, int hashed,
                  struct buf *path) __attribute__((warn_unused_result));

/* LIST/LSUB pattern matching (RFC 3501 6.3.8) on external names: '*'
 * matches any run of characters, '%' any run without the hierarchy
 * separator.  "INBOX" at the start of a name matches case-insensitively.
 * Compile once and match many names.  A compiled pattern holds scratch
 * space: use it from one thread at a time. */
struct mboxname_pattern;
struct mboxname_pattern *mboxname_pattern_compile(const char *pattern,
                                                  char hier_sep);
int mboxname_pattern_match(struct mboxname_pattern *pat, const char *name);
/* Could some name that starts with `prefix` (followed by more characters)
 * match?  Lets a lister prune whole subtrees. */
int mboxname_pattern_may_match_below(struct mboxname_pattern *pat,
                                     const char *prefix);
/* The literal text before the first wildcard (borrowed). */
const char *mboxname_pattern_literal_prefix(const struct mboxname_pattern *pat,
                                            size_t *len);
void mboxname_pattern_free(struct mboxname_pattern **patp);

#endif
