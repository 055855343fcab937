/* imapopts: the one table of every imapd.conf option of the project.
 *
 * IMAPOPT(ID, name, type, default, extra, help)
 *   ID       upper-case name: the option is IMAPOPT_ID in code
 *   name     the key as written in imapd.conf (ID in lower case)
 *   type     STRING, INT, SWITCH, ENUM, DURATION or BYTES (see libconfig.h)
 *   default  the default as text, parsed like a value in the file (NULL:
 *            unset; the getters then give NULL, 0 or "")
 *   extra    ENUM: "a|b|c"; DURATION: the unit of a bare number ("s", "m",
 *            "h" or "d"); else NULL
 *   help     one line for cyr_info and imapd.conf(5)
 *
 * Names, defaults and units follow Cyrus IMAP 3.x's imapd.conf(5), except
 * where the help text or man/imapd.conf.5 says otherwise.  Keep the list
 * sorted by name (a unit test checks it), and document every option in
 * man/imapd.conf.5 (a unit test checks that too).
 *
 * No include guard: included with different IMAPOPT definitions.
 */
IMAPOPT(ADMINS, admins, STRING, "", NULL,
        "space- or comma-separated userids with administrative rights; a service override (e.g. lmtp_admins) applies to that service only")
IMAPOPT(ALLOWALLSUBSCRIBE, allowallsubscribe, SWITCH, "no", NULL,
        "allow subscribing to mailboxes that do not exist (set on murder backends)")
IMAPOPT(ALLOWANONYMOUSLOGIN, allowanonymouslogin, SWITCH, "no", NULL,
        "permit logins as \"anonymous\" with any password, and the SASL ANONYMOUS mechanism")
IMAPOPT(ALLOWAPOP, allowapop, SWITCH, "yes", NULL,
        "allow the POP3 APOP command (needs plaintext secrets in a SASL auxprop store)")
IMAPOPT(ALLOWPLAINTEXT, allowplaintext, SWITCH, "no", NULL,
        "allow plaintext passwords (LOGIN, USER/PASS, PLAIN) without a TLS layer")
IMAPOPT(ALLOWSETACL, allowsetacl, SWITCH, "yes", NULL,
        "allow the SETACL command at all via IMAP")
IMAPOPT(ALLOWUSERMOVES, allowusermoves, SWITCH, "no", NULL,
        "allow moving user accounts (with their metadata) via RENAME or XFER")
IMAPOPT(ALTNAMESPACE, altnamespace, SWITCH, "yes", NULL,
        "alternate namespace: personal folders at the same level as INBOX")
IMAPOPT(ALTPREFIX, altprefix, STRING, "Alt Folders", NULL,
        "in the alternate namespace, the folder under which otherwise unreachable INBOX spellings appear")
IMAPOPT(ANNOTATION_DB, annotation_db, ENUM, "berkeley", "berkeley|berkeley-nosync|flat",
        "database backend of the mailbox and server annotations (METADATA), <configdirectory>/annotations.db")
IMAPOPT(ANYONEUSERACL, anyoneuseracl, SWITCH, "yes", NULL,
        "let non-admin users grant rights to \"anyone\" on their mailboxes")
IMAPOPT(AUTOCREATE_INBOX_FOLDERS, autocreate_inbox_folders, STRING, NULL, NULL,
        "\"|\"-separated INBOX subfolders created together with an autocreated INBOX")
IMAPOPT(AUTOCREATE_POST, autocreate_post, SWITCH, "no", NULL,
        "let lmtpd create a missing INBOX on delivery")
IMAPOPT(AUTOCREATE_QUOTA, autocreate_quota, INT, "-1", NULL,
        "if 0 or more, create a user's INBOX at first login with this storage quota in KiB (0 = unlimited)")
IMAPOPT(BOUNDARY_LIMIT, boundary_limit, INT, "1000", NULL,
        "maximum depth of nested MIME structure parsed in a message")
IMAPOPT(CLIENT_TIMEOUT, client_timeout, DURATION, "10s", "s",
        "time to wait when connecting to another server (backend, mupdate); bare number in seconds")
IMAPOPT(CONFIGDIRECTORY, configdirectory, STRING, "/var/lib/cyrus", NULL,
        "directory holding the server's databases and state (required in practice)")
IMAPOPT(CYRUS_GROUP, cyrus_group, STRING, NULL, NULL,
        "group the services run as (default: the primary group of cyrus_user)")
IMAPOPT(CYRUS_USER, cyrus_user, STRING, "cyrus", NULL,
        "user that master drops to before starting any service")
IMAPOPT(DEBUG, debug, SWITCH, "no", NULL,
        "let LOG_DEBUG messages through to syslog")
IMAPOPT(DEFAULTACL, defaultacl, STRING, "anyone lrs", NULL,
        "ACL of a newly created non-user mailbox without a parent")
IMAPOPT(DEFAULTDOMAIN, defaultdomain, STRING, "internal", NULL,
        "domain of unqualified userids when virtdomains is on")
IMAPOPT(DEFAULTPARTITION, defaultpartition, STRING, "default", NULL,
        "partition on which new mailboxes are created (must have a partition-NAME line)")
IMAPOPT(DEFAULTSERVER, defaultserver, STRING, NULL, NULL,
        "murder frontends: backend for new top-level mailboxes (default: one from serverlist)")
IMAPOPT(DELETE_MODE, delete_mode, ENUM, "delayed", "immediate|delayed",
        "immediate: remove deleted mailboxes at once; delayed: rename them under deletedprefix")
IMAPOPT(DELETE_UNSUBSCRIBE, delete_unsubscribe, SWITCH, "no", NULL,
        "also unsubscribe a mailbox when it is deleted")
IMAPOPT(DELETEDPREFIX, deletedprefix, STRING, "DELETED", NULL,
        "with delete_mode delayed, the hierarchy under which deleted mailboxes are kept")
IMAPOPT(DISABLE_SHARED_NAMESPACE, disable_shared_namespace, SWITCH, "no", NULL,
        "never list non-user mailboxes to non-admins")
IMAPOPT(DISABLE_USER_NAMESPACE, disable_user_namespace, SWITCH, "no", NULL,
        "never list other users' mailboxes to non-admins")
IMAPOPT(DISCONNECT_ON_VANISHED_MAILBOX, disconnect_on_vanished_mailbox, SWITCH, "no", NULL,
        "disconnect IMAP/POP3 clients whose selected mailbox is deleted or moved by another session")
IMAPOPT(DUPLICATE_DB, duplicate_db, ENUM, "berkeley-nosync", "berkeley|berkeley-nosync|flat",
        "database backend of the duplicate delivery database")
IMAPOPT(DUPLICATESUPPRESSION, duplicatesuppression, SWITCH, "yes", NULL,
        "lmtpd: do not deliver the same message-id twice to one mailbox")
IMAPOPT(EXPUNGE_MODE, expunge_mode, ENUM, "delayed", "immediate|semidelayed|delayed",
        "when the index records and message files of expunged messages are removed")
IMAPOPT(FAILEDLOGINPAUSE, failedloginpause, DURATION, "3s", "s",
        "pause after a failed login; bare number in seconds")
IMAPOPT(FULLDIRHASH, fulldirhash, SWITCH, "no", NULL,
        "hash user directories on the whole userid rather than its first letter (cannot be changed on a live system)")
IMAPOPT(HASHIMAPSPOOL, hashimapspool, SWITCH, "no", NULL,
        "also hash mailbox directories on the partitions (cannot be changed on a live system)")
IMAPOPT(IMAPIDLEPOLL, imapidlepoll, DURATION, "1s", "s",
        "interval at which IDLE checks the mailbox for changes (Cyrus: 60s, with idled); 0 disables IDLE; bare number in seconds")
IMAPOPT(IMAPIDLETIMEOUT, imapidletimeout, DURATION, NULL, "m",
        "inactivity timeout for clients in IDLE (default: timeout); bare number in minutes")
IMAPOPT(IMAPIDRESPONSE, imapidresponse, SWITCH, "yes", NULL,
        "answer the ID command with server details (otherwise NIL)")
IMAPOPT(IMPLICIT_OWNER_RIGHTS, implicit_owner_rights, STRING, "lkxan", NULL,
        "rights the owner of a personal mailbox always has")
IMAPOPT(LMTP_DOWNCASE_RCPT, lmtp_downcase_rcpt, SWITCH, "yes", NULL,
        "lmtpd: lowercase recipient addresses (up to a '+')")
IMAPOPT(LMTP_FUZZY_MAILBOX_MATCH, lmtp_fuzzy_mailbox_match, SWITCH, "no", NULL,
        "lmtpd: if the +detail mailbox does not exist, deliver to the closest match")
IMAPOPT(LMTP_OVER_QUOTA_PERM_FAILURE, lmtp_over_quota_perm_failure, SWITCH, "no", NULL,
        "lmtpd: over quota is a permanent (5xx) rather than temporary (4xx) failure")
IMAPOPT(LMTP_STRICT_QUOTA, lmtp_strict_quota, SWITCH, "no", NULL,
        "lmtpd: refuse a message that would take the mailbox over quota, not only once it is over")
IMAPOPT(LMTP_STRICT_RFC2821, lmtp_strict_rfc2821, SWITCH, "yes", NULL,
        "lmtpd: refuse 8-bit characters in envelope addresses (off: change them to 'X')")
IMAPOPT(LMTPSOCKET, lmtpsocket, STRING, "{configdirectory}/socket/lmtp", NULL,
        "UNIX socket on which lmtpd listens (must match cyrus.conf)")
IMAPOPT(LMTPTXN_TIMEOUT, lmtptxn_timeout, DURATION, "5m", "s",
        "lmtp proxy: timeout of one transaction with a backend; 0 = none; bare number in seconds")
IMAPOPT(LOGINREALMS, loginrealms, STRING, "", NULL,
        "space-separated realms whose users may log in with user@realm identities")
IMAPOPT(LOGINUSEACL, loginuseacl, SWITCH, "no", NULL,
        "an identity with the 'a' right on a user's INBOX may log in as that user")
IMAPOPT(MAXHEADERLINES, maxheaderlines, INT, "1000", NULL,
        "maximum header lines of a message parsed into the cache; 0 = unlimited")
IMAPOPT(MAXLOGINS_PER_HOST, maxlogins_per_host, INT, "0", NULL,
        "maximum logged-in sessions per client host; 0 = unlimited")
IMAPOPT(MAXLOGINS_PER_USER, maxlogins_per_user, INT, "0", NULL,
        "maximum logged-in sessions per user; 0 = unlimited")
IMAPOPT(MAXMESSAGESIZE, maxmessagesize, BYTES, "0", NULL,
        "largest message accepted by LMTP and APPEND, in bytes (K, M, G suffixes allowed); 0 = unlimited")
IMAPOPT(MAXQUOTED, maxquoted, BYTES, "131072", NULL,
        "largest quoted string the protocol parsers accept, in bytes")
IMAPOPT(MAXWORD, maxword, BYTES, "131072", NULL,
        "largest atom or non-APPEND literal the protocol parsers accept, in bytes")
IMAPOPT(MBOXLIST_DB, mboxlist_db, ENUM, "berkeley", "berkeley|berkeley-nosync|flat",
        "database backend of mailboxes.db")
IMAPOPT(METAPARTITION_FILES, metapartition_files, STRING, "", NULL,
        "space-separated metadata files (header, index, cache, ...) kept on the metapartition-NAME of a partition")
IMAPOPT(MUNGE8BIT, munge8bit, SWITCH, "yes", NULL,
        "lmtpd: change 8-bit characters in headers to 'X' (unless reject8bit)")
IMAPOPT(MUPDATE_AUTHNAME, mupdate_authname, STRING, NULL, NULL,
        "SASL authentication name used with the mupdate server")
IMAPOPT(MUPDATE_CONFIG, mupdate_config, ENUM, "standard", "standard|unified|replicated",
        "murder layout: separate frontends and backends (standard), servers that are both (unified), or shared spool (replicated)")
IMAPOPT(MUPDATE_CONNECTIONS_MAX, mupdate_connections_max, INT, "128", NULL,
        "maximum connections a mupdate server accepts; beyond it new ones get BYE")
IMAPOPT(MUPDATE_PASSWORD, mupdate_password, STRING, NULL, NULL,
        "SASL password used with the mupdate server")
IMAPOPT(MUPDATE_PORT, mupdate_port, INT, "3905", NULL,
        "TCP port of the mupdate server")
IMAPOPT(MUPDATE_REALM, mupdate_realm, STRING, NULL, NULL,
        "SASL realm used with the mupdate server")
IMAPOPT(MUPDATE_RETRY_DELAY, mupdate_retry_delay, DURATION, "20s", "s",
        "base delay between attempts to reach the mupdate server; bare number in seconds")
IMAPOPT(MUPDATE_SERVER, mupdate_server, STRING, NULL, NULL,
        "host name of the mupdate master (setting it makes this server a murder member)")
IMAPOPT(MUPDATE_USERNAME, mupdate_username, STRING, "", NULL,
        "SASL authorization name used with the mupdate server")
IMAPOPT(MUPDATE_WORKERS_MAX, mupdate_workers_max, INT, "50", NULL,
        "maximum mupdate worker threads")
IMAPOPT(MUPDATE_WORKERS_MAXSPARE, mupdate_workers_maxspare, INT, "10", NULL,
        "maximum idle mupdate worker threads")
IMAPOPT(MUPDATE_WORKERS_MINSPARE, mupdate_workers_minspare, INT, "2", NULL,
        "minimum idle mupdate worker threads")
IMAPOPT(MUPDATE_WORKERS_START, mupdate_workers_start, INT, "5", NULL,
        "mupdate worker threads started at launch")
IMAPOPT(PLAINTEXTLOGINPAUSE, plaintextloginpause, DURATION, NULL, "s",
        "pause after a successful plaintext login; bare number in seconds")
IMAPOPT(POPEXPIRETIME, popexpiretime, DURATION, "-1", "d",
        "minimum time a message may stay on the server, advertised by POP3 CAPA EXPIRE; negative = NEVER; bare number in days")
IMAPOPT(POPMINPOLL, popminpoll, DURATION, NULL, "m",
        "minimum time between two POP3 logins of one user; bare number in minutes")
IMAPOPT(POPPOLLPADDING, poppollpadding, INT, "1", NULL,
        "POP3 logins allowed faster than popminpoll before it is enforced")
IMAPOPT(POPSUBFOLDERS, popsubfolders, SWITCH, "no", NULL,
        "allow POP3 access to INBOX subfolders with user+subfolder logins")
IMAPOPT(POPTIMEOUT, poptimeout, DURATION, "10m", "m",
        "POP3 inactivity timeout (at least 10 minutes); bare number in minutes")
IMAPOPT(POPUSEACL, popuseacl, SWITCH, "no", NULL,
        "enforce IMAP ACLs (r, t, s) in the POP3 server")
IMAPOPT(POPUSEIMAPFLAGS, popuseimapflags, SWITCH, "no", NULL,
        "POP3 obeys and sets IMAP flags (messages flagged Deleted are hidden, retrieved ones get Seen)")
IMAPOPT(POSTMASTER, postmaster, STRING, "postmaster", NULL,
        "username used as the sender of server-generated notices")
IMAPOPT(POSTUSER, postuser, STRING, "", NULL,
        "userid whose +detail addresses deliver to shared folders (e.g. bb+shared.blah)")
IMAPOPT(PROXY_AUTHNAME, proxy_authname, STRING, "proxy", NULL,
        "authentication name a frontend uses with backends")
IMAPOPT(PROXY_COMPRESS, proxy_compress, SWITCH, "no", NULL,
        "try to enable compression on connections to backends")
IMAPOPT(PROXY_PASSWORD, proxy_password, STRING, NULL, NULL,
        "default password a frontend uses with backends (NAME_password overrides per backend)")
IMAPOPT(PROXY_REALM, proxy_realm, STRING, NULL, NULL,
        "authentication realm a frontend uses with backends")
IMAPOPT(PROXYD_ALLOW_STATUS_REFERRAL, proxyd_allow_status_referral, SWITCH, "no", NULL,
        "proxyd: issue referrals for STATUS to clients that support them")
IMAPOPT(PROXYD_DISABLE_MAILBOX_REFERRALS, proxyd_disable_mailbox_referrals, SWITCH, "no", NULL,
        "proxyd: never issue MAILBOX-REFERRALS")
IMAPOPT(PROXYSERVERS, proxyservers, STRING, "", NULL,
        "space-separated users allowed to authenticate and act as (authorize as) other users; set on backends only")
IMAPOPT(PTSCACHE_DB, ptscache_db, ENUM, "berkeley", "berkeley|berkeley-nosync|flat",
        "database backend of the authorization cache")
IMAPOPT(QUOTA_DB, quota_db, ENUM, "berkeley", "berkeley|berkeley-nosync|flat",
        "database backend of the quota database")
IMAPOPT(QUOTAWARN, quotawarn, INT, "90", NULL,
        "percentage of quota use above which the server warns")
IMAPOPT(QUOTAWARNKB, quotawarnkb, INT, "0", NULL,
        "warn only when less than this many KiB remain (0 = always warn above quotawarn)")
IMAPOPT(REJECT8BIT, reject8bit, SWITCH, "no", NULL,
        "lmtpd: reject messages with 8-bit characters in their headers")
IMAPOPT(SASL_MAXIMUM_LAYER, sasl_maximum_layer, INT, "256", NULL,
        "highest SASL security strength factor a client may negotiate")
IMAPOPT(SASL_MECH_LIST, sasl_mech_list, STRING, NULL, NULL,
        "SASL mechanisms offered (passed to Cyrus SASL as mech_list)")
IMAPOPT(SASL_MINIMUM_LAYER, sasl_minimum_layer, INT, "0", NULL,
        "lowest SASL security strength factor a client must negotiate (1 = integrity, more = encryption)")
IMAPOPT(SASL_PWCHECK_METHOD, sasl_pwcheck_method, STRING, "auxprop", NULL,
        "how Cyrus SASL checks plaintext passwords (auxprop, saslauthd, ...)")
IMAPOPT(SEENSTATE_DB, seenstate_db, ENUM, "berkeley", "berkeley|berkeley-nosync|flat",
        "database backend of the per-user seen state")
IMAPOPT(SERVERINFO, serverinfo, ENUM, "on", "off|min|on",
        "server details in greetings: none (off), the name (min), or name and version (on)")
IMAPOPT(SERVERLIST, serverlist, STRING, NULL, NULL,
        "whitespace-separated backend names among which a frontend places new mailboxes")
IMAPOPT(SERVERNAME, servername, STRING, NULL, NULL,
        "this server's name in greetings and in the murder (default: the host name)")
IMAPOPT(SHAREDPREFIX, sharedprefix, STRING, "Shared Folders", NULL,
        "in the alternate namespace, the prefix of the shared namespace")
IMAPOPT(SINGLEINSTANCESTORE, singleinstancestore, SWITCH, "yes", NULL,
        "store one copy of a message per partition and hard-link it into each mailbox")
IMAPOPT(SOFT_NOAUTH, soft_noauth, SWITCH, "yes", NULL,
        "lmtpd: failure to authenticate is a temporary rather than a permanent error")
IMAPOPT(STATUSCACHE, statuscache, SWITCH, "no", NULL,
        "cache STATUS results")
IMAPOPT(STATUSCACHE_DB, statuscache_db, ENUM, "berkeley-nosync", "berkeley|berkeley-nosync|flat",
        "database backend of the STATUS cache")
IMAPOPT(SUBSCRIPTION_DB, subscription_db, ENUM, "flat", "berkeley|berkeley-nosync|flat",
        "database backend of the per-user subscriptions")
IMAPOPT(SUPPRESS_CAPABILITIES, suppress_capabilities, STRING, NULL, NULL,
        "capabilities (exact case) never advertised, space-separated")
IMAPOPT(SYSLOG_FACILITY, syslog_facility, STRING, "LOCAL6", NULL,
        "syslog facility for all log messages")
IMAPOPT(TCP_KEEPALIVE, tcp_keepalive, SWITCH, "no", NULL,
        "enable TCP keepalive on connections")
IMAPOPT(TCP_KEEPALIVE_CNT, tcp_keepalive_cnt, INT, "0", NULL,
        "keepalive probes before a connection is dropped (0 = system default)")
IMAPOPT(TCP_KEEPALIVE_IDLE, tcp_keepalive_idle, DURATION, "0", "s",
        "idle time before keepalive probes start (0 = system default); bare number in seconds")
IMAPOPT(TCP_KEEPALIVE_INTVL, tcp_keepalive_intvl, DURATION, "0", "s",
        "time between keepalive probes (0 = system default); bare number in seconds")
IMAPOPT(TEMP_PATH, temp_path, STRING, "/tmp", NULL,
        "directory for temporary files")
IMAPOPT(TIMEOUT, timeout, DURATION, "32m", "m",
        "IMAP inactivity timeout (at least 30 minutes); bare number in minutes")
IMAPOPT(TLS_CIPHERS, tls_ciphers, STRING, "DEFAULT", NULL,
        "OpenSSL cipher list for TLS 1.2 and below")
IMAPOPT(TLS_CLIENT_CA_DIR, tls_client_ca_dir, STRING, NULL, NULL,
        "directory of CA certificates used to verify client certificates")
IMAPOPT(TLS_CLIENT_CA_FILE, tls_client_ca_file, STRING, NULL, NULL,
        "file of CA certificates used to verify client certificates")
IMAPOPT(TLS_CLIENT_CERT, tls_client_cert, STRING, NULL, NULL,
        "certificate this server presents when it is a TLS client")
IMAPOPT(TLS_CLIENT_CERTS, tls_client_certs, ENUM, "optional", "off|optional|require",
        "whether clients may (optional), must (require) or may not (off) present certificates")
IMAPOPT(TLS_CLIENT_KEY, tls_client_key, STRING, NULL, NULL,
        "private key of tls_client_cert")
IMAPOPT(TLS_PREFER_SERVER_CIPHERS, tls_prefer_server_ciphers, SWITCH, "no", NULL,
        "prefer the server's cipher order to the client's")
IMAPOPT(TLS_REQUIRED, tls_required, SWITCH, "no", NULL,
        "require TLS before any authentication is offered or allowed")
IMAPOPT(TLS_SERVER_CA_DIR, tls_server_ca_dir, STRING, NULL, NULL,
        "directory of CA certificates used to verify servers when this server is a TLS client")
IMAPOPT(TLS_SERVER_CA_FILE, tls_server_ca_file, STRING, NULL, NULL,
        "file of CA certificates used to verify servers when this server is a TLS client")
IMAPOPT(TLS_SERVER_CERT, tls_server_cert, STRING, NULL, NULL,
        "file holding the server's TLS certificate chain (PEM)")
IMAPOPT(TLS_SERVER_KEY, tls_server_key, STRING, NULL, NULL,
        "file holding the private key of tls_server_cert (PEM)")
IMAPOPT(TLS_SESSION_TIMEOUT, tls_session_timeout, DURATION, "24h", "m",
        "how long TLS sessions are cached for reuse (at most 24h; 0 disables); bare number in minutes")
IMAPOPT(TLS_VERSIONS, tls_versions, STRING, "tls1_2 tls1_3", NULL,
        "TLS protocol versions to allow")
IMAPOPT(TLSCACHE_DB, tlscache_db, ENUM, "berkeley-nosync", "berkeley|berkeley-nosync|flat",
        "database backend of the TLS session cache")
IMAPOPT(UIDL_FORMAT, uidl_format, ENUM, "cyrus", "uidonly|cyrus|dovecot|courier",
        "POP3 UIDL format: UID only, UIDVALIDITY.UID (cyrus), Dovecot or Courier style")
IMAPOPT(UMASK, umask, STRING, "077", NULL,
        "umask (octal) of the server processes")
IMAPOPT(UNIXHIERARCHYSEP, unixhierarchysep, SWITCH, "yes", NULL,
        "use '/' rather than '.' as the hierarchy separator of mailbox names")
IMAPOPT(USERNAME_TOLOWER, username_tolower, SWITCH, "yes", NULL,
        "lowercase usernames before authentication")
IMAPOPT(USERPREFIX, userprefix, STRING, "Other Users", NULL,
        "in the alternate namespace, the prefix of other users' mailboxes")
IMAPOPT(VIRTDOMAINS, virtdomains, ENUM, "off", "off|userid|on",
        "virtual domains: off, taken from the userid, or also from the local address (on)")
