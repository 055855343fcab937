# imap/: the mail store library (imap/store), the IMAP and POP3 servers, the
# proxies and the administrative tools.  Sections are owned by module; add
# lines only inside your own section.

## --- store library ---------------------------------------------------------
noinst_LIBRARIES += imap/libstore.a
imap_libstore_a_SOURCES =
STORE_LIBS = imap/libstore.a $(CYRUS_LIBS)

## --- store: names and ACLs (mboxname, acl) ----------------------------------
imap_libstore_a_SOURCES += \
	imap/store/utf7.c imap/store/utf7.h \
	imap/store/mboxname.c imap/store/mboxname.h \
	imap/store/namespace.c imap/store/namespace.h \
	imap/store/acl.c imap/store/acl.h \
	imap/store/mboxlist.c imap/store/mboxlist.h

## --- store: message parsing and charsets (message, charset) ----------------
imap_libstore_a_SOURCES += imap/store/charset.c imap/store/charset.h \
	imap/store/charset_mime.c imap/store/charset_search.c \
	imap/store/charset_fold.h \
	imap/store/message.c imap/store/message.h \
	imap/store/message_header.c imap/store/message_param.c \
	imap/store/message_address.c \
	imap/store/message_imap.c imap/store/message_imap.h \
	imap/store/message_section.c imap/store/message_section.h \
	imap/store/msgcache.c imap/store/msgcache.h
EXTRA_DIST += imap/store/charset_fold_gen.py

## --- tools: configuration (cyr_info) ----------------------------------------
sbin_PROGRAMS += imap/tools/cyr_info
imap_tools_cyr_info_SOURCES = imap/tools/cyr_info.c
imap_tools_cyr_info_LDADD = $(CYRUS_LIBS)

## --- tools: databases (cvt_cyrusdb, ctl_cyrusdb) ----------------------------
sbin_PROGRAMS += imap/tools/cvt_cyrusdb imap/tools/ctl_cyrusdb
imap_tools_cvt_cyrusdb_SOURCES = imap/tools/cvt_cyrusdb.c
imap_tools_cvt_cyrusdb_LDADD = $(CYRUS_LIBS)
imap_tools_ctl_cyrusdb_SOURCES = imap/tools/ctl_cyrusdb.c
imap_tools_ctl_cyrusdb_LDADD = $(CYRUS_LIBS)

## --- store: mailbox (mailbox, reconstruct, mbpath) -------------------------
imap_libstore_a_SOURCES += imap/store/mailbox.c imap/store/mailbox.h \
	imap/store/mailbox_int.h imap/store/mailbox_io.c imap/store/mailbox_io.h \
	imap/store/mailbox_format.c imap/store/mailbox_append.c \
	imap/store/mailbox_qbatch.c imap/store/mailbox_qbatch.h \
	imap/store/mailbox_flags.c imap/store/mailbox_cleanup.c \
	imap/store/mailbox_view.c imap/store/mailbox_recover.c \
	imap/store/mailbox_reconstruct.c imap/store/mailbox_quota.c

## --- store: quota, seen, subscriptions, duplicate ---------------------------
imap_libstore_a_SOURCES += imap/store/quota.c imap/store/quota.h \
	imap/store/txnretry.c imap/store/txnretry.h \
	imap/store/seqset.c imap/store/seqset.h \
	imap/store/userfile.c imap/store/userfile.h \
	imap/store/seen.c imap/store/seen.h \
	imap/store/subs.c imap/store/subs.h \
	imap/store/duplicate.c imap/store/duplicate.h \
	imap/store/quota_fix.c imap/store/quota_fix.h \
	imap/store/annotate.c imap/store/annotate.h
sbin_PROGRAMS += imap/tools/quota imap/tools/ctl_mboxlist
imap_tools_quota_SOURCES = imap/tools/quota.c
imap_tools_quota_LDADD = $(STORE_LIBS)
imap_tools_ctl_mboxlist_SOURCES = imap/tools/ctl_mboxlist.c
imap_tools_ctl_mboxlist_LDADD = $(STORE_LIBS)
sbin_PROGRAMS += imap/tools/reconstruct imap/tools/mbpath
imap_tools_reconstruct_SOURCES = imap/tools/reconstruct.c
imap_tools_reconstruct_LDADD = $(STORE_LIBS)
imap_tools_mbpath_SOURCES = imap/tools/mbpath.c
imap_tools_mbpath_LDADD = $(STORE_LIBS)
noinst_PROGRAMS += bench/store/bench_store
bench_store_bench_store_SOURCES = bench/store/bench_store.c
bench_store_bench_store_LDADD = $(STORE_LIBS)
EXTRA_DIST += bench/store/run.sh

## --- pop3d ------------------------------------------------------------------
pkglibexec_PROGRAMS += imap/pop3d/pop3d
imap_pop3d_pop3d_SOURCES = imap/pop3d/pop3d.c imap/pop3d/pop3d.h \
	imap/pop3d/pop3_auth.c imap/pop3d/pop3_maildrop.c \
	imap/pop3d/pop3_msgcmds.c imap/pop3d/pop3_send.c \
	imap/pop3d/pop3_logindelay.c
imap_pop3d_pop3d_LDADD = master/libservice.a $(STORE_LIBS)
check_PROGRAMS += cunit/test_pop3
TESTS += cunit/test_pop3
cunit_test_pop3_SOURCES = cunit/test_pop3.c imap/pop3d/pop3_send.c \
	imap/pop3d/pop3_logindelay.c
cunit_test_pop3_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
EXTRA_DIST += tests/test_pop3d.py tests/pop3_fixtures.py

## --- test tools (store_inject) ------------------------------------------------
noinst_PROGRAMS += tests/store_inject
tests_store_inject_SOURCES = tests/store_inject.c
tests_store_inject_LDADD = $(STORE_LIBS)

## --- imapd ----------------------------------------------------------------------
pkglibexec_PROGRAMS += imap/imapd/imapd
imap_imapd_imapd_SOURCES = imap/imapd/imapd.c imap/imapd/imapd.h \
	imap/imapd/imapd_util.c imap/imapd/imapd_mbox.h \
	imap/imapd/cmd_auth.c imap/imapd/cmd_mailbox.c imap/imapd/cmd_rename.c \
	imap/imapd/cmd_list.c imap/imapd/cmd_select.c imap/imapd/cmd_acl.c \
	imap/imapd/cmd_quota.c imap/imapd/cmd_admin.c imap/imapd/cmd_metadata.c
imap_imapd_imapd_LDADD = master/libservice.a $(STORE_LIBS)
imap_imapd_imapd_SOURCES += imap/imapd/cmd_fetch.c imap/imapd/cmd_store.c \
	imap/imapd/cmd_search.c imap/imapd/search_eval.c imap/imapd/search.h \
	imap/imapd/cmd_copy.c imap/imapd/cmd_append.c imap/imapd/cmd_expunge.c \
	imap/imapd/msgutil.c imap/imapd/msgutil.h
EXTRA_DIST += tests/test_imapd_messages.py tests/imapd_msg_fixtures.py bench/imap/run.py
EXTRA_DIST += tests/test_imapd_core.py tests/imapd_fixtures.py tests/test_imapd_metadata.py
