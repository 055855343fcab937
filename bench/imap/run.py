#!/usr/bin/python3
"""bench/imap/run.py: IMAP message commands on a big mailbox, ours against
Debian's Cyrus 3.6.1 in the same run (bench/lib).

    python3 bench/imap/run.py [--build DIR] [--dir DIR] [--messages N]
        [--clients C] [--duration S] [--rounds R] [--prefork P] [common options]

Both servers are started side by side (cli.Sides) with the same
imapd.conf and cyrus.conf (imap prefork P, default C).  The same N
messages (default 100,000: every third a corpus message from
/work/shared/corpus/mime with a new Message-ID and Subject, the others
about 2 KB of plain text, 1 in 150 carrying the needle word) are appended
to the INBOX of user `bench` on each side by pipelined MULTIAPPEND of 1,000
messages with LITERAL+ literals.  Then, in R rounds (default 3) that
alternate which side goes first, each side gets a fresh connection and is
timed on:

  SELECT INBOX;
  FETCH 1:* (UID FLAGS RFC822.SIZE);
  FETCH 1:1000 BODY.PEEK[] (MB/s of message data: BODY.PEEK so that no
      round changes flags and every round does the same work);
  SEARCH TEXT <needle> (every message's headers and body);
  SEARCH SUBJECT ... FROM ... (cached headers);

and the median round is reported.  Last, C client processes (default 50),
each with a mailbox of its own (20 messages), loop LOGIN / SELECT INBOX /
FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) / STORE 1 +FLAGS (\\Seen) /
STORE 1 -FLAGS (\\Seen) / LOGOUT for S seconds per side (default 30), in
two halves alternating the sides: sessions/s.

Every answer is checked on both sides: EXISTS is N, FETCH returns N
responses, the 1,000 bodies are byte for byte the messages appended, the
SEARCH hits are exactly the messages given the needle, each session's
STOREs report the flag set and cleared.  A failed check is printed and
makes the exit status 1.

Targets (issue #5): every figure at least as good as Cyrus's; sessions/s
>= 1.5 x Cyrus; SEARCH TEXT >= 3 x faster.
"""

import argparse
import multiprocessing
import os
import random
import re
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import cli, disk, report  # noqa: E402

CORPUS = "/work/shared/corpus/mime"
NEEDLE = "quokkaplatypus"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu").split()
BATCH = 1000            # messages per MULTIAPPEND
BODIES = 1000           # FETCH 1:BODIES BODY.PEEK[]
SMALL = 20              # messages in each session client's INBOX
USER = "bench"


# ---- a minimal pipelining IMAP client ---------------------------------------

class Conn:
    """quickack: ACK every segment at once (TCP_QUICKACK before each read).
    Both servers write big responses with Nagle's algorithm on, so the
    last part of a response waits for the ACK of the previous one, which a
    client with delayed ACKs (Linux's default) sends after up to 40 ms:
    that fixed stall would hide the servers' own times."""

    def __init__(self, port, timeout=900, quickack=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.quickack = quickack and hasattr(socket, "TCP_QUICKACK")
        self.buf = bytearray()
        self.rbuf = bytearray(1 << 18)
        self.rview = memoryview(self.rbuf)
        self.n = 0
        self.greeting = self.readline()

    def readline(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def fill(self):
        if self.quickack:
            # Linux turns quick ACKs off again after a while: ask each time
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        n = self.sock.recv_into(self.rbuf)
        if not n:
            raise EOFError("connection closed by the server")
        self.buf += self.rview[:n]

    def send(self, data):
        self.sock.sendall(data)

    def tag(self):
        self.n += 1
        return b"b%d" % self.n

    def wait(self, tag):
        """Read up to the tagged reply; returns (untagged bytes, tagged
        line).  Literals are not parsed (that would cost the client more
        than some servers take to answer): the benchmark's messages hold no
        line that starts with a tag ("b<n> ")."""
        mark = b"\r\n" + tag + b" "
        self.buf[:0] = b"\r\n"          # a reply starts at a line start
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
        if tagged.split(b" ", 2)[1:2] != [b"OK"]:
            raise RuntimeError("%s: %s" % (text[:60].decode(errors="replace"),
                                           tagged[:200].decode(errors="replace")))
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def login(port, user, pw):
    c = Conn(port)
    c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
    return c


# ---- the messages -----------------------------------------------------------

def needle_in(i):
    return i % 100 == 7 and i % 3 != 0


HEADER_LINE = re.compile(rb"[!-9;-~]+:|[ \t]")


def load_corpus():
    """The corpus messages whose header is well formed (every line a field
    or a continuation: Cyrus refuses the others with "Message contains
    invalid header", e.g. msg_19.txt, a body without a header)."""
    corpus = []
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = re.sub(rb"\r?\n", b"\r\n", f.read())
        if b"\0" in data or b"\r\n\r\n" not in data:
            continue
        hdr = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if all(HEADER_LINE.match(line) for line in hdr) and not hdr[0][:1].isspace():
            corpus.append(data)
    return corpus


def make_messages(n, seed=1):
    """Every third message is a corpus message (multipart, encodings,
    odd structure) with new Message-ID and Subject; the others are plain
    text of about 2 KB of random words, the needle in some of them."""
    rnd = random.Random(seed)
    corpus = load_corpus()
    strip = re.compile(rb"(?im)^(message-id|subject):[^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n")
    out = []
    for i in range(n):
        subject = b"bench %d %s" % (i, rnd.choice(WORDS).encode())
        if i % 3 == 0:
            base = corpus[(i // 3) % len(corpus)]
            hdr, body = base.split(b"\r\n\r\n", 1)
            hdr = strip.sub(b"", hdr + b"\r\n")
            out.append(hdr + b"Message-ID: <bench%d@example.org>\r\nSubject: %s\r\n\r\n"
                       % (i, subject) + body)
            continue
        lines = [" ".join(rnd.choices(WORDS, k=9)) for _ in range(35)]
        if needle_in(i):
            lines[rnd.randrange(len(lines))] += " " + NEEDLE
        out.append(b"From: Sender %d <sender%d@example.org>\r\nTo: bench@example.org\r\n"
                   b"Subject: %s\r\nDate: Tue, 1 Mar 2005 10:00:00 +0000\r\n"
                   b"Message-ID: <bench%d@example.org>\r\nMIME-Version: 1.0\r\n"
                   b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                   % (i % 97, i % 97, subject, i) + "\r\n".join(lines).encode() + b"\r\n")
    return out


def append_all(port, user, pw, msgs, batch=BATCH, inflight=4):
    """Append msgs to user's INBOX: MULTIAPPEND of `batch` messages with
    LITERAL+, `inflight` commands pipelined."""
    c = login(port, user, pw)
    try:
        pending = []
        for start in range(0, len(msgs), batch):
            tag = c.tag()
            parts = [tag + b" APPEND INBOX"]
            for m in msgs[start:start + batch]:
                parts.append(b" {%d+}\r\n" % len(m))
                parts.append(m)
            parts.append(b"\r\n")
            c.send(b"".join(parts))
            pending.append(tag)
            if len(pending) >= inflight:
                _, t = c.wait(pending.pop(0))
                if b" OK " not in t:
                    raise RuntimeError("APPEND: %s" % t[:200].decode(errors="replace"))
        for tag in pending:
            _, t = c.wait(tag)
            if b" OK " not in t:
                raise RuntimeError("APPEND: %s" % t[:200].decode(errors="replace"))
        c.cmd(b"LOGOUT")
    finally:
        c.close()


# ---- checks of the answers (untimed) ----------------------------------------

FETCH_BODY = re.compile(rb"\* (\d+) FETCH \([^{\r\n]*?BODY\[\] \{(\d+)\}\r\n")


def fetched_bodies(data):
    """{seq: literal} of the BODY[] items of FETCH responses."""
    out = {}
    pos = 0
    while pos < len(data):
        m = FETCH_BODY.match(data, pos)
        if not m:
            j = data.find(b"\r\n", pos)
            pos = len(data) if j < 0 else j + 2
            continue
        n = int(m.group(2))
        out[int(m.group(1))] = data[m.end():m.end() + n]
        j = data.find(b"\r\n", m.end() + n)
        pos = len(data) if j < 0 else j + 2
    return out


def exists_of(data):
    m = re.search(rb"\* (\d+) EXISTS", data)
    return int(m.group(1)) if m else None


def search_hits(data):
    for line in data.split(b"\r\n"):
        if line.startswith(b"* SEARCH"):
            return sorted(int(x) for x in line.split()[2:])
    return None


# ---- the session load (one process per client) --------------------------------

def session_worker(job):
    port, user, pw, start_at, end_at = job
    now = time.time()
    if start_at > now:
        time.sleep(start_at - now)
    count, bad, lat, first_error = 0, 0, [], None
    cpu0 = time.process_time()
    while time.time() < end_at:
        t0 = time.perf_counter()
        try:
            c = Conn(port, timeout=60)
            try:
                c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
                c.cmd(b"SELECT INBOX")
                d = c.cmd(b"FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
                if d.count(b" FETCH (") != SMALL:
                    raise RuntimeError("FETCH 1:* gave %d responses, not %d"
                                       % (d.count(b" FETCH ("), SMALL))
                d = c.cmd(b"STORE 1 +FLAGS (\\Seen)")
                if b"\\Seen" not in d:
                    raise RuntimeError("STORE +FLAGS answered %r" % d[:100])
                d = c.cmd(b"STORE 1 -FLAGS (\\Seen)")
                if b"FETCH" not in d or b"\\Seen" in d:
                    raise RuntimeError("STORE -FLAGS answered %r" % d[:100])
                c.cmd(b"LOGOUT")
            finally:
                c.close()
        except Exception as e:
            bad += 1
            if first_error is None:
                first_error = "%s: %s" % (type(e).__name__, e)
            time.sleep(0.05)
            continue
        count += 1
        lat.append(time.perf_counter() - t0)
    return count, bad, lat, first_error, time.time(), time.process_time() - cpu0


def run_sessions(pool, inst, users, seconds):
    start_at = time.time() + 0.5
    jobs = [(inst.imap_port, u, inst.password(u), start_at, start_at + seconds)
            for u in users]
    res = pool.map(session_worker, jobs, chunksize=1)
    elapsed = max(r[4] for r in res) - start_at
    lat = sorted(x for r in res for x in r[2])
    errors = [r[3] for r in res if r[3]]
    return {"sessions": sum(r[0] for r in res), "bad": sum(r[1] for r in res),
            "seconds": elapsed, "lat": lat, "first_error": errors[0] if errors else None,
            "client_cpu": sum(r[5] for r in res)}


# ---- main ------------------------------------------------------------------

def median(values):
    v = sorted(values)
    return v[len(v) // 2] if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_common_args(ap)
    ap.add_argument("--messages", type=int, default=100000,
                    help="messages in the big mailbox (default 100000)")
    ap.add_argument("--clients", type=int, default=50,
                    help="concurrent session clients (default 50)")
    ap.add_argument("--duration", type=float, default=30.0,
                    help="seconds of the session load per side (default 30)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the timed commands (default 3; the median is reported)")
    ap.add_argument("--prefork", type=int, default=None,
                    help="imap prefork on both sides (default --clients)")
    args = ap.parse_args()
    cli.install_signal_handlers()
    if args.messages < 1:
        ap.error("--messages must be at least 1")

    clients = ["c%d" % i for i in range(args.clients)]
    prefork = args.prefork if args.prefork is not None else max(1, args.clients)
    nbodies = min(BODIES, args.messages)
    rep = report.Report("IMAP: %s messages; %d session clients for %gs per side; imap prefork %d"
                        % ("{:,}".format(args.messages), args.clients, args.duration, prefork))
    failures = []

    def fail(side, what):
        print("CHECK FAILED (%s): %s" % (side, what), flush=True)
        failures.append("%s: %s" % (side, what))

    t0 = time.monotonic()
    msgs = make_messages(args.messages)
    total_mb = sum(len(m) for m in msgs) / 1e6
    body_bytes = sum(len(m) for m in msgs[:nbodies])
    expect_hits = [i + 1 for i in range(args.messages) if needle_in(i)]
    print("%d messages made (%.1f MB, %d with the needle) in %.1f s"
          % (len(msgs), total_mb, len(expect_hits), time.monotonic() - t0), flush=True)

    figs = {}           # figure -> side -> [values]

    def note(fig, side, v):
        figs.setdefault(fig, {}).setdefault(side, []).append(v)

    disks = []
    sess = {}
    with cli.Sides(args, users=[USER] + clients, prefork={"imap": prefork}) as sides:
        for side, inst in sides.running():
            print("%s: up in %s (imap port %d)" % (inst.label, inst.dir, inst.imap_port),
                  flush=True)
        if not args.no_disk:
            disks.append(disk.measure(cli.basedir(args), args.disk_seconds))

        # -- fill: the big mailbox, then the session clients' small ones --
        for side, inst in sides.running():
            try:
                t = time.perf_counter()
                append_all(inst.imap_port, USER, inst.password(USER), msgs)
                t = time.perf_counter() - t
                note("fill", side, args.messages / t)
                print("%s: %d messages appended in %.1f s (%.0f msg/s, %.1f MB/s)"
                      % (inst.label, args.messages, t, args.messages / t, total_mb / t),
                      flush=True)
                for u in clients:
                    append_all(inst.imap_port, u, inst.password(u), msgs[:SMALL], batch=SMALL)
            except Exception as e:
                traceback.print_exc()
                fail(side, "fill: %s" % e)
                sides.drop(side, "fill failed: %s" % str(e).splitlines()[0])

        # -- the timed commands, in rounds alternating the sides --
        for rnd in range(args.rounds):
            order = sides.running()
            if rnd % 2:
                order = order[::-1]
            for side, inst in order:
                c = None
                try:
                    c = login(inst.imap_port, USER, inst.password(USER))
                    t = time.perf_counter()
                    d = c.cmd(b"SELECT INBOX")
                    note("select", side, time.perf_counter() - t)
                    if exists_of(d) != args.messages:
                        fail(side, "SELECT: EXISTS %s, not %d" % (exists_of(d), args.messages))

                    t = time.perf_counter()
                    d = c.cmd(b"FETCH 1:* (UID FLAGS RFC822.SIZE)")
                    note("fetch_flags", side, time.perf_counter() - t)
                    if d.count(b" FETCH (") != args.messages:
                        fail(side, "FETCH 1:*: %d responses" % d.count(b" FETCH ("))

                    t = time.perf_counter()
                    d = c.cmd(b"FETCH 1:%d BODY.PEEK[]" % nbodies)
                    t = time.perf_counter() - t
                    note("fetch_body", side, body_bytes / t / 1e6)
                    if rnd == 0:
                        got = fetched_bodies(d)
                        same = sum(1 for i in range(nbodies) if got.get(i + 1) == msgs[i])
                        if same != nbodies:
                            bad = [i + 1 for i in range(nbodies) if got.get(i + 1) != msgs[i]]
                            fail(side, "FETCH BODY[]: %d of %d bodies differ from what was "
                                 "appended (seq %s)" % (len(bad), nbodies,
                                                        " ".join(map(str, bad[:10]))))

                    t = time.perf_counter()
                    d = c.cmd(b"SEARCH TEXT " + NEEDLE.encode())
                    note("search_text", side, time.perf_counter() - t)
                    hits = search_hits(d)
                    if hits != expect_hits:
                        fail(side, "SEARCH TEXT: %s hits, expected %d"
                             % (None if hits is None else len(hits), len(expect_hits)))

                    t = time.perf_counter()
                    d = c.cmd(b"SEARCH SUBJECT \"bench 1\" FROM sender1@")
                    note("search_header", side, time.perf_counter() - t)
                    c.cmd(b"LOGOUT")
                    print("round %d %-12s SELECT %.3f s  FETCH flags %.3f s  BODY %.1f MB/s  "
                          "SEARCH TEXT %.2f s  SEARCH hdr %.3f s"
                          % (rnd + 1, inst.label, figs["select"][side][-1],
                             figs["fetch_flags"][side][-1], figs["fetch_body"][side][-1],
                             figs["search_text"][side][-1], figs["search_header"][side][-1]),
                          flush=True)
                except Exception as e:
                    traceback.print_exc()
                    fail(side, "round %d: %s" % (rnd + 1, e))
                    sides.drop(side, "failed: %s" % str(e).splitlines()[0])
                finally:
                    if c is not None:
                        c.close()

        # -- the session load: two halves, alternating the sides --
        del msgs
        if args.clients and args.duration > 0 and sides.running():
            with multiprocessing.Pool(args.clients) as pool:
                halves = 2
                for h in range(halves):
                    order = sides.running()
                    if h % 2:
                        order = order[::-1]
                    for side, inst in order:
                        r = run_sessions(pool, inst, clients, args.duration / halves)
                        s = sess.setdefault(side, {"sessions": 0, "bad": 0, "seconds": 0.0,
                                                   "lat": [], "client_cpu": 0.0})
                        for k in ("sessions", "bad", "seconds", "client_cpu"):
                            s[k] += r[k]
                        s["lat"] += r["lat"]
                        print("sessions %d/%d %-12s %d in %.1f s = %.1f/s, %d failed%s"
                              % (h + 1, halves, inst.label, r["sessions"], r["seconds"],
                                 r["sessions"] / r["seconds"], r["bad"],
                                 " (first: %s)" % r["first_error"] if r["first_error"] else ""),
                              flush=True)
                        if r["bad"]:
                            fail(side, "%d sessions failed; first: %s"
                                 % (r["bad"], r["first_error"]))
        sides.apply(rep)
    rep.disk = disk.merge(disks) if disks else None

    def med(fig, side, scale=1.0):
        v = median(figs.get(fig, {}).get(side, []))
        return None if v is None else v * scale

    def both(fig, scale=1.0):
        return med(fig, "ours", scale), med(fig, "ref", scale)

    n = "{:,}".format(args.messages)
    rows = {}
    rows["fill"] = rep.add("MULTIAPPEND fill (%s msgs)" % n, "msg/s", *both("fill"))
    rows["select"] = rep.add("SELECT (%s msgs)" % n, "ms", *both("select", 1000),
                             higher_is_better=False)
    rows["fetch_flags"] = rep.add("FETCH 1:* (UID FLAGS RFC822.SIZE)", "ms",
                                  *both("fetch_flags", 1000), higher_is_better=False)
    rows["fetch_body"] = rep.add("FETCH 1:%d BODY.PEEK[]" % nbodies, "MB/s",
                                 *both("fetch_body"))
    rows["search_text"] = rep.add("SEARCH TEXT (%d hits)" % len(expect_hits), "ms",
                                  *both("search_text", 1000), higher_is_better=False)
    rows["search_header"] = rep.add("SEARCH SUBJECT FROM (cached headers)", "ms",
                                    *both("search_header", 1000), higher_is_better=False)

    def sess_fig(side, what):
        s = sess.get(side)
        if not s or not s["seconds"]:
            return None
        if what == "rate":
            return s["sessions"] / s["seconds"]
        lat = sorted(s["lat"])
        if not lat:
            return None
        return lat[min(len(lat) - 1, int(round(what / 100.0 * (len(lat) - 1))))] * 1000
    rows["sessions"] = rep.add("sessions, %d clients" % args.clients, "sess/s",
                               sess_fig("ours", "rate"), sess_fig("ref", "rate"))
    rep.add("session p50", "ms", sess_fig("ours", 50), sess_fig("ref", 50),
            higher_is_better=False)
    rep.add("session p99", "ms", sess_fig("ours", 99), sess_fig("ref", 99),
            higher_is_better=False)
    if args.rounds > 1:
        rep.note("timed commands: median of %d rounds, sides alternating" % args.rounds)
    for side in ("ours", "ref"):
        if side in sess:
            rep.note("%s: session clients used %.1f CPU s" % (rep.sides[side]["label"],
                                                               sess[side]["client_cpu"]))
    for f in failures:
        rep.note("CHECK FAILED: " + f)
    if not failures:
        rep.note("checks passed on every side measured: EXISTS, FETCH counts, %d bodies "
                 "byte for byte, SEARCH hits, STORE flag responses" % nbodies)
    print()
    rep.print()

    # -- the targets: ours/ref for rates, ref/ours for times --
    targets = [("fill", 1.0), ("select", 1.0), ("fetch_flags", 1.0), ("fetch_body", 1.0),
               ("search_text", 3.0), ("search_header", 1.0), ("sessions", 1.5)]
    print("targets (issue #5):")
    for key, need in targets:
        r = rows[key]
        x = r["ours_over_ref"]
        if x is None:
            print("  %-40s not measured" % r["figure"])
            continue
        gain = x if r["better"] == "higher" else (1 / x if x else float("inf"))
        print("  %-40s %5.2fx %s (target >= %.1fx): %s"
              % (r["figure"], gain, "as fast" if r["better"] == "lower" else "the rate",
                 need, "met" if gain >= need else "NOT met"))
    if args.json:
        rep.write_json(args.json)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
