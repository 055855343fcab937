/* imapopts: the one table of every imapd.conf option of the project.
 *
 * IMAPOPT(name, type, default, extra, help)
 *   name     lower-case key as written in imapd.conf (becomes IMAPOPT_name)
 *   type     STRING, INT, SWITCH, ENUM, DURATION or BYTES (see libconfig.h)
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
IMAPOPT(duplicate_db, ENUM, "berkeley", "berkeley|flat", "database backend of the duplicate delivery database")
IMAPOPT(mboxlist_db, ENUM, "berkeley", "berkeley|flat", "database backend of mailboxes.db")
IMAPOPT(proxyservers, STRING, "", NULL, "users allowed to authenticate and act as (authorize as) other users")
IMAPOPT(ptscache_db, ENUM, "berkeley", "berkeley|flat", "database backend of the authorization cache")
IMAPOPT(quota_db, ENUM, "berkeley", "berkeley|flat", "database backend of the quota database")
IMAPOPT(sasl_mech_list, STRING, NULL, NULL, "SASL mechanisms offered (passed to Cyrus SASL as mech_list)")
IMAPOPT(sasl_pwcheck_method, STRING, "auxprop", NULL, "how Cyrus SASL checks plaintext passwords (auxprop, saslauthd, ...)")
IMAPOPT(seenstate_db, ENUM, "berkeley", "berkeley|flat", "database backend of the per-user seen state")
IMAPOPT(servername, STRING, NULL, NULL, "this server's name (defaults to the host name)")
IMAPOPT(statuscache_db, ENUM, "berkeley", "berkeley|flat", "database backend of the STATUS cache")
IMAPOPT(subscription_db, ENUM, "flat", "berkeley|flat", "database backend of the per-user subscriptions")
IMAPOPT(syslog_facility, STRING, "LOCAL6", NULL, "syslog facility for all log messages")
IMAPOPT(timeout, DURATION, "30m", "m", "idle timeout for IMAP sessions (minutes; at least 30)")
IMAPOPT(tls_ciphers, STRING, "DEFAULT", NULL, "OpenSSL cipher list for TLS 1.2 and below")
IMAPOPT(tls_client_ca_dir, STRING, NULL, NULL, "directory of CA certificates to verify peers")
IMAPOPT(tls_client_ca_file, STRING, NULL, NULL, "file of CA certificates to verify peers")
IMAPOPT(tls_client_cert, STRING, NULL, NULL, "certificate this server presents when it is a TLS client")
IMAPOPT(tls_client_key, STRING, NULL, NULL, "private key of tls_client_cert")
IMAPOPT(tls_server_cert, STRING, NULL, NULL, "file holding the server's TLS certificate (PEM)")
IMAPOPT(tls_server_key, STRING, NULL, NULL, "file holding the private key of tls_server_cert (PEM)")
IMAPOPT(tls_versions, STRING, "tls1_2 tls1_3", NULL, "TLS protocol versions to allow")
IMAPOPT(tlscache_db, ENUM, "berkeley", "berkeley|flat", "database backend of the TLS session cache")
