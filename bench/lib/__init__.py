"""Shared benchmark infrastructure: every benchmark measures, in one run,
the disk's physical limits (disk), the reference -- Debian's Cyrus IMAP
3.6.1, unpacked privately (cyrusref) -- and this project's server
(ourserver), both set up identically (instance), and prints a table of
figures with ratios (report).  cli holds the command-line options every
bench/<x>/run.py shares; lmtpload an LMTP delivery driver; selftest is the
smoke benchmark proving the plumbing.

From bench/<x>/run.py:
    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from lib import cli, disk, report, cyrusref, ourserver, lmtpload
See bench/README.md.
"""
