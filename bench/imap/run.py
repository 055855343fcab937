#!/usr/bin/python3
"""bench/imap/run.py: imapd message-command benchmark.

    /usr/bin/python3 bench/imap/run.py [--builddir DIR] [--messages N]
                                       [--clients C] [--duration S]

Starts master with imapd (the test helpers of tests/ make the
configuration, users and sasldb in a temporary directory), fills one
mailbox with N messages (default 100,000: corpus messages from
/work/shared/corpus/mime with unique headers and a few random words;
every 100th carries the word searched for) through pipelined MULTIAPPEND
with LITERAL+, and measures:

  - SELECT of the full mailbox (seconds);
  - FETCH 1:* (UID FLAGS RFC822.SIZE) (seconds, messages/s);
  - FETCH 1:1000 BODY.PEEK[] (MB/s of message data);
  - SEARCH TEXT <word> over the whole mailbox (seconds, messages/s);
  - C concurrent clients looping LOGIN / SELECT / FETCH / STORE / LOGOUT
    on small mailboxes of their own for S seconds (sessions/s).

The figures are printed one per line ("name: value unit").  The
temporary directory must be on the disk to be measured (TMPDIR).
"""

import argparse
import multiprocessing
import os
import random
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))

import util  # noqa: E402
from imapd_fixtures import ImapEnv, imap_services, port_of  # noqa: E402

CORPUS = "/work/shared/corpus/mime"
NEEDLE = "quokkaplatypus"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu").split()


class Conn:
    """A minimal pipelining IMAP client over a socket."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = bytearray()
        self.rbuf = bytearray(1 << 18)
        self.rview = memoryview(self.rbuf)
        self.n = 0
        self.readline()

    def readline(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def fill(self):
        n = self.sock.recv_into(self.rbuf)
        if not n:
            raise EOFError("connection closed")
        self.buf += self.rview[:n]

    def send(self, data):
        self.sock.sendall(data)

    def tag(self):
        self.n += 1
        return b"b%d" % self.n

    def wait(self, tag):
        """Read up to the tagged line (literals are read as data: a body
        line that looks like a tagged reply would fool this, which the
        benchmark's messages never contain).  Returns (bytes, tagged)."""
        mark = b"\r\n" + tag + b" "
        self.buf[:0] = b"\r\n"          # responses start at a line start
        pos = 0
        while True:
            i = self.buf.find(mark, pos)
            if i >= 0:
                j = self.buf.find(b"\r\n", i + 2)
                if j >= 0:
                    data = bytes(self.buf[2:i + 2])
                    tagged = bytes(self.buf[i + 2:j])
                    del self.buf[:j + 2]
                    return data, tagged
                pos = i
            else:
                pos = max(0, len(self.buf) - len(mark))
            self.fill()

    def cmd(self, text):
        tag = self.tag()
        self.send(tag + b" " + text + b"\r\n")
        data, tagged = self.wait(tag)
        if not tagged.split(b" ")[1] == b"OK":
            raise RuntimeError("%s: %s" % (text[:60], tagged))
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def needle_in(i):
    return i % 100 == 7 and i % 3 != 0


def make_messages(n, seed=1):
    """Every third message is a corpus message (multipart, encodings,
    odd structure) with new Message-ID and Subject; the others are plain
    text of about 2 KB of random words, the needle in some of them."""
    rnd = random.Random(seed)
    corpus = []
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = re.sub(rb"\r?\n", b"\r\n", f.read())
        if b"\0" not in data and b"\r\n\r\n" in data:
            corpus.append(data)
    for i in range(n):
        subject = b"bench %d %s" % (i, rnd.choice(WORDS).encode())
        if i % 3 == 0:
            base = corpus[(i // 3) % len(corpus)]
            hdr, body = base.split(b"\r\n\r\n", 1)
            hdr = re.sub(rb"(?im)^(message-id|subject):[^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n",
                         b"", hdr + b"\r\n")
            yield (hdr + b"Message-ID: <bench%d@example.org>\r\nSubject: %s\r\n\r\n"
                   % (i, subject) + body)
            continue
        lines = [" ".join(rnd.choice(WORDS) for _ in range(9)) for _ in range(35)]
        if needle_in(i):
            lines[rnd.randrange(len(lines))] += " " + NEEDLE
        yield (b"From: Sender %d <sender%d@example.org>\r\nTo: bench@example.org\r\n"
               b"Subject: %s\r\nDate: Tue, 1 Mar 2005 10:00:00 +0000\r\n"
               b"Message-ID: <bench%d@example.org>\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
               % (i % 97, i % 97, subject, i) + "\r\n".join(lines).encode() + b"\r\n")


def fill(port, user, pw, mailbox, n, batch=1000):
    c = Conn(port)
    c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
    if mailbox != "INBOX":
        c.cmd(b"CREATE " + mailbox.encode())
    msgs = make_messages(n)
    done = 0
    pending = []
    while done < n:
        k = min(batch, n - done)
        tag = c.tag()
        parts = [tag + b" APPEND " + mailbox.encode()]
        for _ in range(k):
            m = next(msgs)
            parts.append(b" {%d+}\r\n" % len(m) + m)
        parts.append(b"\r\n")
        c.send(b"".join(parts))
        pending.append(tag)
        done += k
        if len(pending) >= 4:       # keep a few commands in flight
            _, t = c.wait(pending.pop(0))
            assert b" OK " in t, t
    for tag in pending:
        _, t = c.wait(tag)
        assert b" OK " in t, t
    c.close()


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return time.monotonic() - t0, r


def session_worker(args):
    port, user, pw, box, duration = args
    end = time.monotonic() + duration
    count = 0
    while time.monotonic() < end:
        c = Conn(port)
        c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
        c.cmd(b"SELECT " + box.encode())
        c.cmd(b"FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
        c.cmd(b"STORE 1 +FLAGS (\\Seen)")
        c.cmd(b"STORE 1 -FLAGS (\\Seen)")
        c.cmd(b"LOGOUT")
        c.close()
        count += 1
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("CYRUS_BUILDDIR"))
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    args = ap.parse_args()
    if args.builddir:
        os.environ["CYRUS_BUILDDIR"] = os.path.abspath(args.builddir)
    if not util.builddir():
        sys.exit("run.py: no build tree: give --builddir or set CYRUS_BUILDDIR")

    users = {"cyrus": "cyruspw", "bench": "benchpw"}
    for i in range(args.clients):
        users["u%d" % i] = "pw%d" % i
    env = ImapEnv(users=users)
    m = util.Master(services=[util.Service("imap", "imapd", prefork=min(args.clients, 20))],
                    imapd_options=env.options(maxmessagesize="0"))
    m.start()
    try:
        port = port_of(m)
        adm = Conn(port)
        adm.cmd(b"LOGIN cyrus cyruspw")
        for u in users:
            if u != "cyrus":
                adm.cmd(b"CREATE user." + u.encode())
        adm.close()

        t, _ = timed(lambda: fill(port, "bench", "benchpw", "INBOX", args.messages))
        print("fill: %.1f s (%.0f messages/s, MULTIAPPEND of 1000)" %
              (t, args.messages / t))

        c = Conn(port)
        c.cmd(b"LOGIN bench benchpw")
        t, _ = timed(lambda: c.cmd(b"SELECT INBOX"))
        print("select: %.3f s (%d messages)" % (t, args.messages))
        t, data = timed(lambda: c.cmd(b"FETCH 1:* (UID FLAGS RFC822.SIZE)"))
        assert data.count(b" FETCH ") == args.messages
        print("fetch_flags: %.3f s (%.0f messages/s)" % (t, args.messages / t))
        nb = min(1000, args.messages)
        runs = [timed(lambda: c.cmd(b"FETCH 1:%d BODY.PEEK[]" % nb)) for _ in range(3)]
        t, data = min(runs, key=lambda r: r[0])
        print("fetch_body: %.1f MB/s (%d messages, %.1f MB in %.3f s; first run %.3f s)" %
              (len(data) / t / 1e6, nb, len(data) / 1e6, t, runs[0][0]))
        t, data = timed(lambda: c.cmd(b"SEARCH TEXT " + NEEDLE.encode()))
        hits = len(data.split(b"\r\n")[0].split()) - 2
        assert hits == len([i for i in range(args.messages) if needle_in(i)]), hits
        print("search_text: %.3f s (%.0f messages/s, %d hits)" %
              (t, args.messages / t, hits))
        t, data = timed(lambda: c.cmd(b"SEARCH SUBJECT bench FROM zzz"))
        print("search_header: %.3f s" % t)
        c.close()

        if args.clients and args.duration > 0:
            for i in range(args.clients):
                fill(port, "u%d" % i, "pw%d" % i, "INBOX", 20, batch=20)
            jobs = [(port, "u%d" % i, "pw%d" % i, "INBOX", args.duration)
                    for i in range(args.clients)]
            t0 = time.monotonic()
            with multiprocessing.Pool(args.clients) as pool:
                counts = pool.map(session_worker, jobs)
            t = time.monotonic() - t0
            print("sessions: %.1f sessions/s (%d clients, %d sessions in %.1f s)" %
                  (sum(counts) / t, args.clients, sum(counts), t))
    finally:
        m.stop(check=False)
        m.cleanup()
        env.cleanup()


if __name__ == "__main__":
    main()
