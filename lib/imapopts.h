/* imapopts: the one table of every imapd.conf option of the project.
 *
 * IMAPOPT(name, type, default, extra, help)
 *   name     lower-case key as written in imapd.conf (becomes IMAPOPT_name)
 *   type     STRING, INT, SWITCH, ENUM, DURATION or BYTES (see config.h)
 *   default  the default as text (NULL: unset)
 *   extra    ENUM: "a|b|c"; DURATION: the unit of a bare number; else NULL
 *   help     one line for cyr_info and imapd.conf(5)
 *
 * Keep the list sorted by name.  No include guard: included with different
 * IMAPOPT definitions.
 */
IMAPOPT(admins, STRING, "", NULL, "space-separated users with full administrative rights")
IMAPOPT(allowplaintext, SWITCH, "no", NULL, "allow plaintext logins (LOGIN, USER/PASS, PLAIN) without TLS")
IMAPOPT(configdirectory, STRING, "/var/lib/cyrus", NULL, "directory holding the server's databases and state")
IMAPOPT(defaultpartition, STRING, "default", NULL, "partition on which new mailboxes are created")
IMAPOPT(servername, STRING, NULL, NULL, "this server's name (defaults to the host name)")
IMAPOPT(syslog_facility, STRING, "LOCAL6", NULL, "syslog facility for all log messages")
IMAPOPT(timeout, DURATION, "30m", "m", "idle timeout for IMAP sessions (minutes; at least 30)")
