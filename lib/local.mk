# lib/: the shared runtime library every daemon and tool links.
# Each helper module keeps to its own lines below.
noinst_LIBRARIES += lib/libcyrus.a
lib_libcyrus_a_SOURCES = \
	lib/xmalloc.c lib/xmalloc.h \
	lib/buf.c lib/buf.h \
	lib/strarray.c lib/strarray.h \
	lib/hash.c lib/hash.h \
	lib/error.c lib/error.h \
	lib/log.c lib/log.h \
	lib/parse.c lib/parse.h \
	lib/times.c lib/times.h \
	lib/libconfig.c lib/libconfig.h lib/imapopts.c lib/imapopts.h \
	lib/net.c lib/net.h \
	lib/tok.c lib/tok.h \
	lib/prot.c lib/prot.h lib/prot_literal.c \
	lib/tls.c lib/tls.h lib/tls_config.c \
	lib/saslglue.c lib/saslglue.h \
	lib/cyrusdb.c lib/cyrusdb.h lib/cyrusdb_berkeley.c lib/cyrusdb_flat.c
