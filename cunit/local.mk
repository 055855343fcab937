# cunit/: one CUnit program per module, each linking the shared harness.
noinst_LIBRARIES += cunit/libharness.a
cunit_libharness_a_SOURCES = cunit/harness.c cunit/harness.h cunit/harness_backend.c \
	cunit/mailbox_fixture.c cunit/mailbox_fixture.h

CUNIT_LDADD = cunit/libharness.a $(CYRUS_LIBS) $(CUNIT_LIBS)

UNIT_TESTS = \
	cunit/test_core \
	cunit/test_charset \
	cunit/test_message \
	cunit/test_msgcache \
	cunit/test_parse \
	cunit/test_config \
	cunit/test_times \
	cunit/test_net \
	cunit/test_tok \
	cunit/test_prot \
	cunit/test_tls \
	cunit/test_saslglue \
	cunit/test_cyrusdb \
	cunit/test_utf7 \
	cunit/test_mboxname \
	cunit/test_acl \
	cunit/test_mboxlist \
	cunit/test_seqset \
	cunit/test_quota \
	cunit/test_seen \
	cunit/test_subs \
	cunit/test_annotate \
	cunit/test_duplicate \
	cunit/test_mailbox \
	cunit/test_mailbox_concurrency \
	cunit/test_mailbox_crash \
	cunit/test_mailbox_recovery \
	cunit/test_cyrusconf

check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
AM_TESTS_ENVIRONMENT = TOP_SRCDIR='$(abs_top_srcdir)' TOP_BUILDDIR='$(abs_top_builddir)'; export TOP_SRCDIR TOP_BUILDDIR;

cunit_test_core_SOURCES = cunit/test_core.c
cunit_test_core_LDADD = $(CUNIT_LDADD)
cunit_test_parse_SOURCES = cunit/test_parse.c
cunit_test_parse_LDADD = $(CUNIT_LDADD)
cunit_test_config_SOURCES = cunit/test_config.c
cunit_test_config_LDADD = $(CUNIT_LDADD)
cunit_test_times_SOURCES = cunit/test_times.c
cunit_test_times_LDADD = $(CUNIT_LDADD)
cunit_test_net_SOURCES = cunit/test_net.c
cunit_test_net_LDADD = $(CUNIT_LDADD)
cunit_test_tok_SOURCES = cunit/test_tok.c
cunit_test_tok_LDADD = $(CUNIT_LDADD)
cunit_test_prot_SOURCES = cunit/test_prot.c
cunit_test_prot_LDADD = $(CUNIT_LDADD)
cunit_test_tls_SOURCES = cunit/test_tls.c
cunit_test_tls_LDADD = $(CUNIT_LDADD)
cunit_test_saslglue_SOURCES = cunit/test_saslglue.c
cunit_test_saslglue_LDADD = $(CUNIT_LDADD)
cunit_test_cyrusdb_SOURCES = cunit/test_cyrusdb.c
cunit_test_cyrusdb_LDADD = $(CUNIT_LDADD)
cunit_test_utf7_SOURCES = cunit/test_utf7.c
cunit_test_utf7_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_mboxname_SOURCES = cunit/test_mboxname.c
cunit_test_mboxname_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_acl_SOURCES = cunit/test_acl.c
cunit_test_acl_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_cyrusconf_SOURCES = cunit/test_cyrusconf.c
cunit_test_cyrusconf_LDADD = cunit/libharness.a master/libmaster.a master/libservice.a $(CYRUS_LIBS) $(CUNIT_LIBS)
cunit_test_mboxlist_SOURCES = cunit/test_mboxlist.c
cunit_test_mboxlist_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_charset_SOURCES = cunit/test_charset.c
cunit_test_charset_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_message_SOURCES = cunit/test_message.c
cunit_test_message_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_msgcache_SOURCES = cunit/test_msgcache.c
cunit_test_msgcache_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_annotate_SOURCES = cunit/test_annotate.c
cunit_test_annotate_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_mailbox_SOURCES = cunit/test_mailbox.c
cunit_test_mailbox_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_mailbox_concurrency_SOURCES = cunit/test_mailbox_concurrency.c
cunit_test_mailbox_concurrency_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_mailbox_crash_SOURCES = cunit/test_mailbox_crash.c
cunit_test_mailbox_crash_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_mailbox_recovery_SOURCES = cunit/test_mailbox_recovery.c
cunit_test_mailbox_recovery_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_seqset_SOURCES = cunit/test_seqset.c
cunit_test_seqset_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_quota_SOURCES = cunit/test_quota.c
cunit_test_quota_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_seen_SOURCES = cunit/test_seen.c
cunit_test_seen_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_subs_SOURCES = cunit/test_subs.c
cunit_test_subs_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
cunit_test_duplicate_SOURCES = cunit/test_duplicate.c
cunit_test_duplicate_LDADD = cunit/libharness.a $(STORE_LIBS) $(CUNIT_LIBS)
