/* namespace: mailbox names as a client sees them (RFC 3501, RFC 2342).
 *
 * A struct namespace holds the settings that shape external names; it is
 * filled from imapd.conf by namespace_from_config() or built directly (in
 * tests).  For user alice:
 *
 *   internal            standard namespace     altnamespace
 *   user.alice          INBOX                  INBOX
 *   user.alice.Sent     INBOX.Sent             Sent
 *   user.bob.x          user.bob.x             Other Users.bob.x
 *   shared.memo         shared.memo            Shared Folders.shared.memo
 *
 * With unixhierarchysep the separator is '/' ("INBOX/Sent") and a '.'
 * inside an external component is '^' inside the internal name; an external
 * '^' is then refused.  "INBOX" is matched case-insensitively.  With
 * virtual domains, a user's names live in the user's domain
 * (bob@example.org: user.x <-> example.org!user.x, and other domains are
 * invisible); an admin session (isadmin) names other domains with a
 * trailing "@domain" ("user.bob.Sent@example.org").  The default domain is
 * never written into internal names.  In altnamespace, an own folder whose
 * name would clash with INBOX or a prefix (user.alice.INBOX, user.alice.Inbox,
 * user.alice.Other Users) appears under the altprefix ("Alt Folders.INBOX");
 * without an altprefix it cannot be shown (CYRERR_BADNAME).  An own
 * "INBOX.x" (exactly INBOX, with children) stays "INBOX.x".
 *
 * Strings in the struct are borrowed (configuration or literals) and must
 * outlive it.  Results go to caller-owned bufs or are malloc'd for the
 * caller.  Errors: CYRERR_BADNAME for a name that is invalid or not visible
 * in this namespace, CYRERR_INVALID_USER for an unusable userid.
 */
#ifndef IMAP_STORE_NAMESPACE_H
#define IMAP_STORE_NAMESPACE_H

#include "buf.h"

struct namespace {
    char hier_sep;              /* '.' or '/' (unixhierarchysep) */
    int altnamespace;           /* own folders at top level */
    int virtdomains;            /* userids carry @domain */
    int isadmin;                /* admin session: other domains visible */
    const char *defaultdomain;  /* domain treated as "no domain", or NULL */
    const char *userprefix;     /* altnamespace: "Other Users" */
    const char *sharedprefix;   /* altnamespace: "Shared Folders" */
    const char *altprefix;      /* altnamespace: "Alt Folders", or NULL */
};

#define NAMESPACE_INITIALIZER \
    { '.', 0, 0, 0, NULL, "Other Users", "Shared Folders", "Alt Folders" }

/* From unixhierarchysep, altnamespace, virtdomains, defaultdomain,
 * userprefix, sharedprefix and altprefix.  Admin sessions always get the standard
 * namespace (as Cyrus). */
void namespace_from_config(struct namespace *ns, int isadmin);

/* Split a login userid into local part and domain under this namespace:
 * with virtdomains the domain follows the last '@', is lower-cased, and is
 * dropped when it is the default domain.  *domain may be NULL.  The caller
 * frees both.  CYRERR_INVALID_USER for an empty or unusable userid. */
int namespace_split_userid(const struct namespace *ns, const char *userid,
                           char **localpart, char **domain)
    __attribute__((warn_unused_result));
/* The internal INBOX name of `userid`, or NULL when it cannot have one. */
char *namespace_user_inbox(const struct namespace *ns, const char *userid);
/* Does `userid` own `intname` (its INBOX or a folder below)? */
int namespace_user_owns(const struct namespace *ns, const char *userid,
                        const char *intname);

/* External -> internal for `userid` (NULL: no personal namespace).  The
 * external name is modified UTF-7 as IMAP4rev1 sends it (a UTF-8 name from
 * a UTF8=ACCEPT client goes through utf7_encode() first); raw 8-bit or
 * control bytes are refused.  The result replaces the contents of `out`
 * and is a valid internal name. */
int namespace_to_internal(const struct namespace *ns, const char *extname,
                          const char *userid, struct buf *out)
    __attribute__((warn_unused_result));
/* Internal -> external for `userid`; replaces the contents of `out`. */
int namespace_to_external(const struct namespace *ns, const char *intname,
                          const char *userid, struct buf *out)
    __attribute__((warn_unused_result));

/* The three NAMESPACE prefixes (RFC 2342), each with its trailing
 * separator: standard "INBOX." "user." ""; alt "" "Other Users."
 * "Shared Folders.".  Each replaces the contents of its buf. */
void namespace_prefixes(const struct namespace *ns, struct buf *personal,
                        struct buf *otherusers, struct buf *shared);

#endif
