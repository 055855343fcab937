# tests: build fragment (included by the top Makefile.am)
#
# The pytest integration tests (tests/test_*.py, helpers in tests/util.py and
# tests/conftest.py) run the built programs from the build tree; see
# tests/util.py.  tests/echod is the test daemon on the service skeleton.
noinst_PROGRAMS += tests/echod
tests_echod_SOURCES = tests/echod.c
tests_echod_LDADD = $(SERVICE_LIBS)
EXTRA_DIST += tests/conftest.py tests/util.py tests/test_master.py
