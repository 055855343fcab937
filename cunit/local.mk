# cunit/: one CUnit program per module, each linking the shared harness.
noinst_LIBRARIES += cunit/libharness.a
cunit_libharness_a_SOURCES = cunit/harness.c cunit/harness.h

CUNIT_LDADD = cunit/libharness.a $(CYRUS_LIBS) $(CUNIT_LIBS)

UNIT_TESTS = \
	cunit/test_core \
	cunit/test_parse \
	cunit/test_config \
	cunit/test_net \
	cunit/test_tok \
	cunit/test_prot \
	cunit/test_saslglue \
	cunit/test_cyrusdb

check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
AM_TESTS_ENVIRONMENT = TOP_SRCDIR='$(abs_top_srcdir)' TOP_BUILDDIR='$(abs_top_builddir)'; export TOP_SRCDIR TOP_BUILDDIR;

cunit_test_core_SOURCES = cunit/test_core.c
cunit_test_core_LDADD = $(CUNIT_LDADD)
cunit_test_parse_SOURCES = cunit/test_parse.c
cunit_test_parse_LDADD = $(CUNIT_LDADD)
cunit_test_config_SOURCES = cunit/test_config.c
cunit_test_config_LDADD = $(CUNIT_LDADD)
cunit_test_net_SOURCES = cunit/test_net.c
cunit_test_net_LDADD = $(CUNIT_LDADD)
cunit_test_tok_SOURCES = cunit/test_tok.c
cunit_test_tok_LDADD = $(CUNIT_LDADD)
cunit_test_prot_SOURCES = cunit/test_prot.c
cunit_test_prot_LDADD = $(CUNIT_LDADD)
cunit_test_saslglue_SOURCES = cunit/test_saslglue.c
cunit_test_saslglue_LDADD = $(CUNIT_LDADD)
cunit_test_cyrusdb_SOURCES = cunit/test_cyrusdb.c
cunit_test_cyrusdb_LDADD = $(CUNIT_LDADD)
