# imap/: the mail store library (imap/store), the IMAP and POP3 servers, the
# proxies and the administrative tools.  Sections are owned by module; add
# lines only inside your own section.

## --- store library ---------------------------------------------------------
noinst_LIBRARIES += imap/libstore.a
imap_libstore_a_SOURCES =
STORE_LIBS = imap/libstore.a $(CYRUS_LIBS)

## --- store: names and ACLs (mboxname, acl) ----------------------------------

## --- store: message parsing and charsets (message, charset) ----------------

## --- tools: configuration (cyr_info) ----------------------------------------

## --- tools: databases (cvt_cyrusdb, ctl_cyrusdb) ----------------------------
