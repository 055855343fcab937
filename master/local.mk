# master: build fragment (included by the top Makefile.am)
#
# master/libservice.a  the service skeleton (service.c) and the status pipe
#                      protocol (status.c): every daemon run by master links it
#                      before $(CYRUS_LIBS), e.g.
#                        imap_imapd_LDADD = ... master/libservice.a $(CYRUS_LIBS)
# master/libmaster.a   master's modules (cyrus.conf parser, process table,
#                      services, daemons, events, spawning, privileges), so
#                      that unit tests can link them
# master/master        the supervisor
noinst_LIBRARIES += master/libservice.a master/libmaster.a
master_libservice_a_SOURCES = \
	master/service.c master/service.h \
	master/status.c master/status.h
master_libmaster_a_SOURCES = \
	master/cyrusconf.c master/cyrusconf.h \
	master/children.c master/children.h \
	master/services.c master/services.h \
	master/daemons.c master/daemons.h \
	master/events.c master/events.h \
	master/spawn.c master/spawn.h \
	master/privs.c master/privs.h \
	master/pidfile.c master/pidfile.h \
	master/signals.c master/signals.h

SERVICE_LIBS = master/libservice.a $(CYRUS_LIBS)

sbin_PROGRAMS += master/master
master_master_SOURCES = master/master.c
master_master_LDADD = master/libmaster.a master/libservice.a $(CYRUS_LIBS)
