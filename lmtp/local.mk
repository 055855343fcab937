# lmtp: build fragment (included by the top Makefile.am)
#
# lmtp/liblmtp.a   the LMTP server engine (RFC 2033) shared by lmtpd and
#                  lmtpproxyd: protocol (lmtpengine), MAIL/RCPT argument
#                  parsing (lmtp_addr), message spool (lmtp_spool).  Link it
#                  before $(SERVICE_LIBS) or $(CYRUS_LIBS).
# lmtp/lmtptestd   the engine under master with a fake delivery, for
#                  tests/test_lmtp_engine.py (not installed)
noinst_LIBRARIES += lmtp/liblmtp.a
lmtp_liblmtp_a_SOURCES = \
	lmtp/lmtpengine.c lmtp/lmtpengine.h \
	lmtp/lmtp_addr.c lmtp/lmtp_addr.h \
	lmtp/lmtp_spool.c lmtp/lmtp_spool.h

noinst_PROGRAMS += lmtp/lmtptestd
lmtp_lmtptestd_SOURCES = lmtp/lmtptestd.c
lmtp_lmtptestd_LDADD = lmtp/liblmtp.a $(SERVICE_LIBS)

# the engine's unit tests (cunit/test_lmtpengine.c)
check_PROGRAMS += cunit/test_lmtpengine
TESTS += cunit/test_lmtpengine
cunit_test_lmtpengine_SOURCES = cunit/test_lmtpengine.c
cunit_test_lmtpengine_LDADD = cunit/libharness.a lmtp/liblmtp.a $(CYRUS_LIBS) $(CUNIT_LIBS)

EXTRA_DIST += tests/test_lmtp_engine.py

## --- lmtpd (backend delivery) ---------------------------------------------
# lmtp/lmtpd          delivery into the local mail store (man/lmtpd.8)
# tests/lmtpd_store   test tool: mailboxes, ACLs, quotas, index checks for
#                     tests/test_lmtpd.py and bench/lmtp (not installed)
pkglibexec_PROGRAMS += lmtp/lmtpd
lmtp_lmtpd_SOURCES = lmtp/lmtpd.c lmtp/lmtpd.h lmtp/lmtpd_rcpt.c lmtp/lmtpd_deliver.c
lmtp_lmtpd_LDADD = lmtp/liblmtp.a master/libservice.a $(STORE_LIBS)
noinst_PROGRAMS += tests/lmtpd_store
tests_lmtpd_store_SOURCES = tests/lmtpd_store.c
tests_lmtpd_store_LDADD = $(STORE_LIBS)
check_PROGRAMS += cunit/test_lmtpd
TESTS += cunit/test_lmtpd
cunit_test_lmtpd_SOURCES = cunit/test_lmtpd.c lmtp/lmtpd_rcpt.c
cunit_test_lmtpd_LDADD = cunit/libharness.a lmtp/liblmtp.a $(STORE_LIBS) $(CUNIT_LIBS)
EXTRA_DIST += tests/test_lmtpd.py tests/lmtpd_fixtures.py bench/lmtp/run.py bench/lmtp/README.md
