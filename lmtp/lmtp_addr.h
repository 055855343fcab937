/* lmtp_addr: the arguments of LMTP's MAIL FROM and RCPT TO commands.
 *
 * Parses "<path> [SP param...]" as RFC 5321 (4.1.2) writes it: a path in
 * angle brackets (a source route "@a,@b:" is accepted and dropped), the
 * null path "<>" where allowed, and ESMTP parameters "KEYWORD[=value]".
 * The local part may be a dot-string or a quoted string; an address without
 * "@domain" is accepted, since an MTA delivering over LMTP often passes the
 * bare user name.  Blanks between the colon and the path are tolerated.
 *
 * Ownership: struct lmtp_path owns its strings; lmtp_path_fini() frees them
 * (and is safe on a zeroed or already finished struct).  lmtp_addr_split()
 * returns strings that belong to the caller.
 *
 * Errors: functions return 0, or CYRERR_PARSE with a short English reason
 * in *why (a static string, for the 501 reply).  An 8-bit byte in the path
 * is an error when `strict` is set (lmtp_strict_rfc2821), else it is
 * replaced by 'X', as Cyrus does.
 */
#ifndef LMTP_LMTP_ADDR_H
#define LMTP_LMTP_ADDR_H

#include "strarray.h"

struct lmtp_path {
    char *addr;             /* without <> and source route; "" for <> */
    struct strarray params; /* "KEYWORD" or "KEYWORD=value", as sent */
};

#define LMTP_PATH_ALLOW_NULL 0x01 /* "<>" is allowed (MAIL FROM) */
#define LMTP_PATH_STRICT 0x02     /* refuse 8-bit bytes in the path */

/* Parse `arg`, the text after "MAIL FROM:" or "RCPT TO:".  On error *path
 * holds nothing (no need to finish it, but it is allowed). */
int lmtp_path_parse(const char *arg, unsigned flags, struct lmtp_path *path,
                    const char **why) __attribute__((warn_unused_result));
void lmtp_path_fini(struct lmtp_path *path);

/* The value of parameter `keyword` (case-insensitive): "" when it has no
 * value, NULL when absent.  Borrowed from path. */
const char *lmtp_path_param(const struct lmtp_path *path, const char *keyword);

/* Split an address into its local part (unquoted: "\"a b\"@x" gives
 * "a b") and its domain ("" when there is none).  Returns 0 or
 * CYRERR_PARSE (empty or unbalanced local part). */
int lmtp_addr_split(const char *addr, char **local_r, char **domain_r)
    __attribute__((warn_unused_result));

#endif
