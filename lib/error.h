/* error: the one project-wide set of error codes.
 *
 * Functions that can fail return int: 0 for success, or one of the negative
 * CYRERR_* codes below.  error_message() gives a fixed English text for any
 * code (also for positive errno values, via strerror), suitable for logs and
 * for protocol responses.  New codes are added to the X-macro list only.
 */
#ifndef LIB_ERROR_H
#define LIB_ERROR_H

#define CYRERR_LIST(X) \
    X(IO,               "System I/O error") \
    X(INTERNAL,         "Internal error") \
    X(AGAIN,            "Resource temporarily unavailable, try again") \
    X(LOCKED,           "Resource is locked") \
    X(DEADLOCK,         "Database deadlock, try again") \
    X(NOTFOUND,         "Not found") \
    X(EXISTS,           "Already exists") \
    X(PERMISSION,       "Permission denied") \
    X(PARSE,            "Syntax error") \
    X(BADARGS,          "Invalid arguments") \
    X(TOOBIG,           "Too large") \
    X(LIMIT,            "Limit exceeded") \
    X(TIMEOUT,          "Timed out") \
    X(EOF,              "Connection closed") \
    X(CONFIG,           "Configuration error") \
    X(NOTSUPPORTED,     "Not supported") \
    X(CORRUPT,          "Data is corrupt") \
    X(TLS,              "TLS error") \
    X(SASL,             "SASL error") \
    X(AUTHFAIL,         "Authentication failed") \
    X(INVALID_USER,     "Invalid user") \
    X(BADNAME,          "Invalid mailbox name") \
    X(MAILBOX_NONEXISTENT, "Mailbox does not exist") \
    X(MAILBOX_EXISTS,   "Mailbox already exists") \
    X(MAILBOX_RESERVED, "Mailbox is reserved") \
    X(MAILBOX_MOVED,    "Mailbox has been moved to another server") \
    X(MAILBOX_BADTYPE,  "Mailbox has an invalid format") \
    X(MAILBOX_NOTSUPPORTED, "Operation is not supported on mailbox") \
    X(MAILBOX_LOCKED,   "Mailbox is locked") \
    X(PARTITION_UNKNOWN, "Unknown or invalid partition") \
    X(QUOTA_EXCEEDED,   "Over quota") \
    X(QUOTAROOT_NONEXISTENT, "Quota root does not exist") \
    X(MESSAGE_NONEXISTENT, "Message does not exist") \
    X(MESSAGE_BADHEADER, "Message contains invalid header") \
    X(MESSAGE_NOBLANKLINE, "Message has no header/body separator") \
    X(MESSAGE_CONTAINSNUL, "Message contains NUL characters") \
    X(MESSAGE_CONTAINS8BIT, "Message contains non-ASCII characters in headers") \
    X(SERVER_UNAVAILABLE, "Server(s) unavailable to complete operation") \
    X(REMOTE_DENIED,    "Remote server denied the request") \
    X(PROTOCOL_ERROR,   "Protocol error from peer") \
    X(DUPLICATE,        "Duplicate") \
    X(USER_NONEXISTENT, "User does not exist") \
    X(CANCELLED,        "Cancelled by the peer")

enum cyrerr {
    CYRERR_OK = 0,
    CYRERR__BASE = -1000,
#define CYRERR_ENUM(name, text) CYRERR_##name,
    CYRERR_LIST(CYRERR_ENUM)
#undef CYRERR_ENUM
    CYRERR__END
};

/* Text for a code: a CYRERR_* value, 0, or a positive errno. Never NULL. */
const char *error_message(int code);
/* The symbolic name ("CYRERR_NOTFOUND") for logs and tests. */
const char *error_name(int code);

#endif
