# conf: build fragment (included by the top Makefile.am)
#
# Sample configurations, one per role, installed for reference under
# $(pkgdatadir)/conf (never into $(sysconfdir): an install must not overwrite
# a site's configuration).
confsamplesdir = $(pkgdatadir)/conf
dist_confsamples_DATA = \
	conf/cyrus-standalone.conf \
	conf/cyrus-backend.conf \
	conf/cyrus-frontend.conf \
	conf/cyrus-mupdate.conf
EXTRA_DIST += conf/run-server.sh
