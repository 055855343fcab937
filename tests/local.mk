# tests: build fragment (included by the top Makefile.am)
#
# The pytest integration tests (tests/test_*.py, helpers in tests/util.py and
# tests/conftest.py) run the built programs from the build tree; see
# tests/util.py.  tests/echod is the test daemon on the service skeleton.
noinst_PROGRAMS += tests/echod
tests_echod_SOURCES = tests/echod.c
tests_echod_LDADD = $(SERVICE_LIBS)
EXTRA_DIST += tests/conftest.py tests/util.py tests/test_master.py

## --- test tools (mkstore) ----------------------------------------------------
# tests/mkstore builds mail stores for tests/test_tools.py (public store API).
noinst_PROGRAMS += tests/mkstore
tests_mkstore_SOURCES = tests/mkstore.c
tests_mkstore_LDADD = $(STORE_LIBS)
EXTRA_DIST += tests/test_tools.py tests/tools_fixtures.py
