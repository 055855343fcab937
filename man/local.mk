# man: build fragment (included by the top Makefile.am)
man_MANS += man/imapd.conf.5 man/cyr_info.8
EXTRA_DIST += man/imapd.conf.5 man/cyr_info.8
man_MANS += man/master.8 man/cyrus.conf.5
EXTRA_DIST += man/master.8 man/cyrus.conf.5
man_MANS += man/reconstruct.8 man/mbpath.8
EXTRA_DIST += man/reconstruct.8 man/mbpath.8
man_MANS += man/quota.8 man/ctl_mboxlist.8
EXTRA_DIST += man/quota.8 man/ctl_mboxlist.8
man_MANS += man/pop3d.8
EXTRA_DIST += man/pop3d.8
man_MANS += man/cvt_cyrusdb.8 man/ctl_cyrusdb.8
EXTRA_DIST += man/cvt_cyrusdb.8 man/ctl_cyrusdb.8
man_MANS += man/imapd.8
EXTRA_DIST += man/imapd.8
man_MANS += man/lmtpd.8
EXTRA_DIST += man/lmtpd.8
