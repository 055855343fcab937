"""imapd: the message commands -- FETCH, STORE, SEARCH, COPY, MOVE,
EXPUNGE (and UID EXPUNGE), APPEND and their UID forms -- against a real
imapd run by master on loopback.

One imapd serves the module (maxmessagesize 1 MB); each test works in
mailboxes of its own.  Messages come from /work/shared/corpus/mime (with
CRLF line ends) and are compared with what Python's email module makes of
them.  The last test syncs a tree of mailboxes both ways with Debian's
mbsync (package isync) when /usr/bin/mbsync is there.
"""

import email
import email.policy
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import util
from imapd_fixtures import ImapEnv, imap_services, port_of
from imapd_msg_fixtures import MsgClient, crlf, expand_set, fetches, uidplus_code

CORPUS = os.environ.get("CYRUS_CORPUS", "/work/shared/corpus") + "/mime"
MAXMSG = 1024 * 1024


def corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return crlf(f.read())


def corpus_names():
    if not os.path.isdir(CORPUS):
        return []
    return sorted(n for n in os.listdir(CORPUS) if n.startswith("msg_"))


@pytest.fixture(scope="module")
def server(cyrus_build):
    env = ImapEnv()
    m = util.Master(services=imap_services(),
                    imapd_options=env.options(maxmessagesize=str(MAXMSG)))
    m.start()
    try:
        c = env.login(m, "cyrus")
        for u in ("alice", "bob", "carol"):
            assert c.create("user." + u)[0] == "OK"
        c.logout()
        yield env, m
        m.stop(check=True)
        m.cleanup()
        env.cleanup()
    except BaseException:
        m.stop(check=False)
        raise


def client(server, user="alice"):
    env, m = server
    c = MsgClient(port_of(m))
    c.login(user, env.users[user])
    return c


_box = [0]


def fresh(c, prefix="t"):
    """A new empty mailbox of the logged-in user; returns its name."""
    _box[0] += 1
    name = "INBOX.%s%d" % (prefix, _box[0])
    c.ok("CREATE " + name)
    return name


def simple(n, subject="msg", body=None, extra=""):
    body = body if body is not None else "body of message %d\r\n" % n
    return ("From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
            "Subject: %s %d\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n%s"
            "Message-ID: <m%d@example.org>\r\n\r\n%s" % (subject, n, extra, n, body)).encode()


def fill(c, box, msgs, flags=None):
    uids = []
    for i, data in enumerate(msgs):
        t = c.append(box, data, flags=(flags[i] if flags else None))
        assert " OK " in t, t
        uids.append(int(uidplus_code(t, "APPENDUID")[1]))
    return uids


def flags_of(v):
    return set(v)


# ---- FETCH ----------------------------------------------------------------------

def header_body(data):
    i = data.find(b"\r\n\r\n")
    return (data[:i + 4], data[i + 4:]) if i >= 0 else (data, b"")


@pytest.mark.parametrize("name", corpus_names())
def test_fetch_corpus_message(server, name):
    data = corpus(name)
    if b"\0" in data:
        pytest.skip("corpus message with NUL")
    c = client(server)
    box = fresh(c)
    t = c.append(box, data)
    assert " OK [APPENDUID " in t, t
    c.select(box)
    f = c.fetch("1", "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
                     "RFC822.HEADER ENVELOPE BODYSTRUCTURE BODY FLAGS)")[1]
    assert int(f["RFC822.SIZE"]) == len(data)
    assert f["BODY[]"] == data
    hdr, body = header_body(data)
    assert f["BODY[HEADER]"] + f["BODY[TEXT]"] == data
    assert f["RFC822.HEADER"] == f["BODY[HEADER]"]
    if all(re.match(rb"[!-9;-~]+:|[ \t]", ln) for ln in hdr[:-4].split(b"\r\n")):
        assert f["BODY[HEADER]"] == hdr     # a well-formed header block
        assert f["BODY[TEXT]"] == body
    assert "\\Seen" not in f["FLAGS"]          # PEEK and RFC822.HEADER

    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    env = f["ENVELOPE"]
    subj = msg.get("Subject")
    if subj is not None:
        assert env[1] is not None
        assert re.sub(r"\s+", " ", env[1].decode()) == re.sub(r"\s+", " ", subj.strip())
    bs = f["BODYSTRUCTURE"]
    ctype = msg.get_content_type().upper().split("/")
    if msg.get_content_maintype() == "multipart":
        assert isinstance(bs[0], list)
        i = 0
        while isinstance(bs[i], list):
            i += 1
        assert bs[i].decode().upper() == ctype[1]
        # top-level parts: BODY[n] / BINARY[n] against the email module
        parts = msg.get_payload()
        if len(parts) == i and not msg.defects:
            items = " ".join("BODY.PEEK[%d] BODY.PEEK[%d.MIME]" % (k + 1, k + 1)
                             for k in range(len(parts)))
            pf = c.fetch("1", "(%s)" % items)[1]
            for k, part in enumerate(parts):
                raw = pf["BODY[%d]" % (k + 1)]
                mime = pf["BODY[%d.MIME]" % (k + 1)]
                assert raw in data and mime in data
                if not part.is_multipart() and part.get_content_maintype() != "message":
                    assert raw == part.get_payload(decode=False).encode("latin-1", "replace") \
                        or part.get_payload(decode=False) == raw.decode("latin-1")
    elif not msg.is_multipart():
        if bs[0] is not None and not msg.defects and msg.get("Content-Type"):
            assert [bs[0].decode().upper(), bs[1].decode().upper()] == ctype
    c.command("LOGOUT")


MULTI = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: parts\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
         b"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\nK=C3=A4se und Br=C3=B6t\r\n"
         b"--XX\r\nContent-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\nAAECA2hlbGxvAA==\r\n"
         b"--XX\r\nContent-Type: message/rfc822\r\n\r\n"
         b"From: inner@example.org\r\nSubject: inner message\r\n\r\ninner body\r\n"
         b"--XX--\r\nepilogue\r\n")


def test_fetch_sections_and_binary(server):
    c = client(server)
    box = fresh(c)
    c.append(box, MULTI)
    c.select(box)
    f = c.fetch("1", "(BODY.PEEK[1] BODY.PEEK[1.MIME] BINARY.PEEK[1] BINARY.SIZE[1] "
                     "BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] "
                     "BODY.PEEK[3.1] BODY.PEEK[3.HEADER.FIELDS (SUBJECT)] "
                     "BODY.PEEK[HEADER.FIELDS (Subject To)] "
                     "BODY.PEEK[HEADER.FIELDS.NOT (Subject To)] BODY.PEEK[9] "
                     "BODY.PEEK[2.1] BINARY.PEEK[2]<1.4>)")[1]
    assert f["BODY[1]"] == b"K=C3=A4se und Br=C3=B6t"
    assert f["BODY[1.MIME]"] == (b"Content-Type: text/plain; charset=utf-8\r\n"
                                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    assert f["BINARY[1]"] == "Käse und Bröt".encode()
    assert int(f["BINARY.SIZE[1]"]) == len("Käse und Bröt".encode())
    assert f["BINARY[2]"] == b"\x00\x01\x02\x03hello\x00"
    assert int(f["BINARY.SIZE[2]"]) == 10
    assert f["BINARY[2]<1>"] == b"\x01\x02\x03h"
    assert f["BODY[3.HEADER]"] == b"From: inner@example.org\r\nSubject: inner message\r\n\r\n"
    assert f["BODY[3.TEXT]"] == b"inner body"
    assert f["BODY[3.1]"] == b"inner body"
    assert f["BODY[3.HEADER.FIELDS (SUBJECT)]"] == b"Subject: inner message\r\n\r\n"
    assert f["BODY[HEADER.FIELDS (SUBJECT TO)]"] == \
        b"To: b@example.org\r\nSubject: parts\r\n\r\n"
    assert b"Subject" not in f["BODY[HEADER.FIELDS.NOT (SUBJECT TO)]"]
    assert b"MIME-Version: 1.0\r\n" in f["BODY[HEADER.FIELDS.NOT (SUBJECT TO)]"]
    lines, _ = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject \"To\")])")
    assert b"BODY[HEADER.FIELDS (Subject To)] {" in lines[0]
    assert f["BODY[9]"] is None and f["BODY[2.1]"] is None
    # binary data with NUL goes as literal8
    lines, _ = c.ok("FETCH 1 (BINARY.PEEK[2])")
    assert b"BINARY[2] ~{10}\r\n" in lines[0]
    # the raw line of a partial names its origin only
    lines, _ = c.ok("FETCH 1 (BODY.PEEK[1]<2.3>)")
    assert b"BODY[1]<2> {3}\r\nC3=" in lines[0]
    c.command("LOGOUT")


def test_fetch_partial(server):
    c = client(server)
    box = fresh(c)
    data = simple(1)
    c.append(box, data)
    c.select(box)
    f = c.fetch("1", "(BODY.PEEK[]<0.10> BODY.PEEK[]<5> BODY.PEEK[TEXT]<2.4>)")[1]
    assert f["BODY[]<0>"] == data[:10]
    assert f["BODY[]<5>"] == data[5:]
    assert f["BODY[TEXT]<2>"] == header_body(data)[1][2:6]
    f = c.fetch("1", "(BODY.PEEK[]<100000.5> BODY.PEEK[]<0.100000>)")[1]
    assert f["BODY[]<100000>"] == b""
    assert f["BODY[]<0>"] == data
    for bad in ("BODY[]<1.0>", "BODY[]<x>", "BODY[]<1.2", "BODY[]<-1.2>",
                "BINARY.SIZE[1]<0.1>"):
        _, t = c.command("FETCH 1 (%s)" % bad)
        assert " BAD " in t, (bad, t)
    c.ok("NOOP")
    c.command("LOGOUT")


def test_fetch_items_and_macros(server):
    c = client(server)
    box = fresh(c)
    data = simple(1)
    t = c.append(box, data, flags="\\Flagged $Label1", date="07-Feb-1994 21:52:25 -0800")
    uid = int(uidplus_code(t, "APPENDUID")[1])
    c.select(box)
    f = c.fetch("1", "ALL")[1]
    assert set(f) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    assert f["INTERNALDATE"] == b"08-Feb-1994 05:52:25 +0000" or \
        f["INTERNALDATE"].endswith(b"1994 05:52:25 +0000") or b"Feb-1994" in f["INTERNALDATE"]
    assert flags_of(f["FLAGS"]) == {"\\Flagged", "$Label1", "\\Recent"}
    assert int(f["RFC822.SIZE"]) == len(data)
    env = f["ENVELOPE"]
    assert env[0] == b"Mon, 7 Feb 1994 21:52:25 -0800"
    assert env[1] == b"msg 1"
    assert env[2] == [[b"Alice", None, b"alice", b"example.org"]]
    assert env[5] == [[None, None, b"bob", b"example.org"]]
    assert env[9] == b"<m1@example.org>"
    f = c.fetch("1", "FAST")[1]
    assert set(f) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    f = c.fetch("1", "FULL")[1]
    assert set(f) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}
    assert [x.upper() if isinstance(x, bytes) else x for x in f["BODY"][:2]] == \
        [b"TEXT", b"PLAIN"]
    f = c.fetch("1", "(UID MODSEQ)")[1]
    assert int(f["UID"]) == uid and int(f["MODSEQ"][0]) > 0
    # UID FETCH always carries UID; unknown UIDs are no error
    f = c.fetch(str(uid), "FLAGS", uid=True)
    assert int(f[1]["UID"]) == uid
    assert c.fetch("%d:%d" % (uid + 10, uid + 20), "FLAGS", uid=True) == {}
    f = c.fetch("*", "(RFC822.SIZE)", uid=True)
    assert int(f[1]["UID"]) == uid
    c.command("LOGOUT")


def test_fetch_sets_seen(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(i) for i in range(1, 5)])
    c.select(box, examine=True)
    f = c.fetch("1", "(BODY[TEXT])")[1]
    assert "FLAGS" not in f                    # read-only: no \Seen
    c.select(box)
    f = c.fetch("1", "(BODY.PEEK[TEXT] RFC822.HEADER)")[1]
    assert "FLAGS" not in f
    f = c.fetch("1", "(BODY[TEXT])")[1]
    assert "\\Seen" in f["FLAGS"]
    f = c.fetch("2", "(RFC822)")[2]
    assert "\\Seen" in f["FLAGS"] and f["RFC822"] == simple(2)
    f = c.fetch("3", "(RFC822.TEXT)")[3]
    assert "\\Seen" in f["FLAGS"] and f["RFC822.TEXT"] == header_body(simple(3))[1]
    f = c.fetch("4", "(BINARY[1])")[4]
    assert "\\Seen" in f["FLAGS"]
    # already seen: no second FLAGS
    f = c.fetch("1", "(BODY[TEXT])")[1]
    assert "FLAGS" not in f
    f = c.fetch("1:4", "FLAGS")
    assert all("\\Seen" in f[i]["FLAGS"] for i in range(1, 5))
    c.command("LOGOUT")


def test_fetch_bad_commands(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(1)])
    c.select(box)
    for bad in ("FETCH 1 (FLAGS", "FETCH 1 FOO", "FETCH 1 (FLAGS FOO)", "FETCH 0 FLAGS",
                "FETCH 2 FLAGS", "FETCH 1:3 FLAGS", "FETCH x FLAGS", "FETCH 1",
                "FETCH 1 BODY[HEADER.FIELDS ()]", "FETCH 1 BODY[1.MIMEX]",
                "FETCH 1 BODY[MIME]", "FETCH 1 BINARY[HEADER]", "FETCH 1 BODY[0]",
                "FETCH 1 (ALL)", "FETCH 1 FLAGS extra", "FETCH 1 BODY[",
                "FETCH 1 FLAGS (CHANGEDSINCE x)", "FETCH 1 FLAGS (BOGUS 1)",
                "FETCH 1 BODY.PEEK", "FETCH 1 BODY[]<0.1>x", "UID FETCH 1 (FLAGS"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    # a literal inside the bad command is still consumed
    _, t = c.command(b"FETCH 1 (BODY[HEADER.FIELDS ({7+}\r\nSubject)] FOO)")
    assert " BAD " in t
    f = c.fetch("1", "(UID FLAGS)")
    assert int(f[1]["UID"]) >= 1
    c.command("LOGOUT")


def test_fetch_changedsince(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(i) for i in range(1, 4)])
    c.select(box)
    ms = c.fetch("1:3", "(MODSEQ)")
    top = max(int(v["MODSEQ"][0]) for v in ms.values())
    c.ok("STORE 2 +FLAGS.SILENT (\\Answered)")
    f = c.fetch("1:3", "(FLAGS) (CHANGEDSINCE %d)" % top)
    assert list(f) == [2] and int(f[2]["MODSEQ"][0]) > top
    c.command("LOGOUT")


# ---- STORE ----------------------------------------------------------------------

def test_store_variants(server):
    c = client(server)
    box = fresh(c)
    uids = fill(c, box, [simple(i) for i in range(1, 5)])
    c.select(box)
    f = fetches(c.ok("STORE 1:2 +FLAGS (\\Flagged \\Answered)")[0])
    assert flags_of(f[1]["FLAGS"]) == {"\\Flagged", "\\Answered", "\\Recent"}
    assert set(f) == {1, 2}
    f = fetches(c.ok("STORE 1 -FLAGS (\\Answered)")[0])
    assert flags_of(f[1]["FLAGS"]) == {"\\Flagged", "\\Recent"}
    f = fetches(c.ok("STORE 2 FLAGS (\\Draft work $Junk)")[0])
    assert flags_of(f[2]["FLAGS"]) == {"\\Draft", "work", "$Junk", "\\Recent"}
    f = fetches(c.ok("STORE 3 +FLAGS \\Deleted \\Seen")[0])   # without parentheses
    assert flags_of(f[3]["FLAGS"]) == {"\\Deleted", "\\Seen", "\\Recent"}
    lines, _ = c.ok("STORE 1:4 +FLAGS.SILENT (\\Answered)")
    assert not [ln for ln in lines if b"FETCH" in ln]
    f = fetches(c.ok("UID STORE %d FLAGS.SILENT ()" % uids[3])[0])
    assert f == {}
    f = fetches(c.ok("UID STORE %d +FLAGS (Work)" % uids[3])[0])   # keyword case
    assert int(f[4]["UID"]) == uids[3]
    assert flags_of(f[4]["FLAGS"]) == {"work", "\\Recent"}
    f = fetches(c.ok("STORE 2 -FLAGS (WORK nonexistent)")[0])
    assert flags_of(f[2]["FLAGS"]) == {"\\Draft", "$Junk", "\\Answered", "\\Recent"}
    f = fetches(c.ok("STORE 1 FLAGS (\\Recent)")[0])          # \Recent is not stored
    assert flags_of(f[1]["FLAGS"]) == {"\\Recent"}
    # PERMANENTFLAGS-style keywords show in FLAGS
    lines, _ = c.select(box)
    fl = [ln for ln in lines if ln.startswith(b"* FLAGS")][0]
    assert b"work" in fl and b"$Junk" in fl
    for bad in ("STORE 1 +FLAGS (\\Bogus)", "STORE 1 FLAGZ (\\Seen)", "STORE 1 +FLAGS",
                "STORE 1 +FLAGS (\\Seen", "STORE 9 +FLAGS (\\Seen)",
                "STORE 1 +FLAGS (a]b)", "STORE 1 (UNCHANGEDSINCE) +FLAGS (x)",
                "STORE 1 +FLAGS (\\Seen) extra"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    c.command("LOGOUT")


def test_store_seen_by_other_session(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(i) for i in range(1, 4)])
    c.select(box)
    d = client(server)
    d.select(box)
    c.ok("STORE 2 +FLAGS (\\Flagged)")
    lines, _ = d.ok("NOOP")
    f = fetches(lines)
    assert "\\Flagged" in f[2]["FLAGS"]
    # FETCH reports the others' flag changes too (as unsolicited FETCH)
    c.ok("STORE 3 +FLAGS (\\Deleted)")
    lines, _ = d.ok("FETCH 1 UID")
    f = fetches(lines)
    assert "\\Deleted" in f[3]["FLAGS"]
    c.command("LOGOUT")
    d.command("LOGOUT")


def test_new_keyword_sends_flags(server):
    """A keyword defined by STORE, by APPEND or by another session is
    announced with FLAGS and PERMANENTFLAGS (RFC 3501 7.2.6), as Cyrus does;
    a keyword already defined is not announced again."""
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(i) for i in range(1, 3)])
    c.select(box)
    d = client(server)
    d.select(box)

    def flag_lines(lines):
        return ([ln for ln in lines if ln.startswith(b"* FLAGS")],
                [ln for ln in lines if b"[PERMANENTFLAGS" in ln])

    lines, _ = c.ok("STORE 1 +FLAGS ($Label1)")
    fl, pf = flag_lines(lines)
    assert len(fl) == 1 and b"$Label1" in fl[0], lines
    assert len(pf) == 1 and b"$Label1" in pf[0] and b"\\*" in pf[0], lines
    lines, _ = c.ok("STORE 2 +FLAGS ($Label1)")
    assert flag_lines(lines) == ([], []), lines
    # the other session learns it at its next command
    lines, _ = d.ok("NOOP")
    fl, _ = flag_lines(lines)
    assert len(fl) == 1 and b"$Label1" in fl[0], lines
    # APPEND into the selected mailbox with a new keyword
    t = c.append(box, simple(9), flags="NewKw")
    assert " OK " in t, t
    lines = c.last_untagged
    lines2, _ = c.ok("NOOP")
    fl, _ = flag_lines(lines + lines2)
    assert len(fl) == 1 and b"NewKw" in fl[0] and b"$Label1" in fl[0], lines + lines2
    c.command("LOGOUT")
    d.command("LOGOUT")


def test_condstore(server):
    """RFC 7162 CONDSTORE: advertised, HIGHESTMODSEQ on SELECT and in
    STATUS, SELECT (CONDSTORE) and ENABLE, MODSEQ in the FETCH responses
    of flag changes once enabled (also the unsolicited ones)."""
    c = client(server)
    lines, _ = c.ok("CAPABILITY")
    assert b" CONDSTORE" in lines[0]
    box = fresh(c)
    fill(c, box, [simple(i) for i in range(1, 4)])

    def hms(lines):
        got = [int(m.group(1)) for ln in lines
               for m in [re.match(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", ln)] if m]
        assert len(got) == 1, lines
        return got[0]

    d = client(server)
    # STATUS (HIGHESTMODSEQ) is itself a CONDSTORE enabling command (3.1)
    lines, _ = d.ok("STATUS %s (HIGHESTMODSEQ MESSAGES)" % box)
    m = re.match(rb"\* STATUS \S+ \(HIGHESTMODSEQ (\d+) MESSAGES 3\)", lines[0])
    assert m, lines
    before = int(m.group(1))
    lines, _ = c.select(box)
    assert hms(lines) == before
    lines, _ = d.ok("SELECT %s (CONDSTORE)" % box)
    assert hms(lines) == before
    _, t = d.command("SELECT %s (BOGUS)" % box)
    assert " BAD " in t, t
    d.ok("SELECT %s (CONDSTORE)" % box)
    lines, _ = c.ok("STORE 2 +FLAGS (\\Flagged)")
    f = fetches(lines)
    assert "MODSEQ" not in f[2]          # c has not enabled CONDSTORE
    lines, _ = d.ok("NOOP")
    f = fetches(lines)
    assert int(f[2]["MODSEQ"][0]) > before, lines
    lines, _ = c.ok("ENABLE CONDSTORE")
    assert b"* ENABLED CONDSTORE" in lines
    assert hms(lines) > before           # enabled while a mailbox is selected
    lines, _ = c.ok("STORE 3 +FLAGS (\\Seen)")
    f = fetches(lines)
    assert fetches(d.ok("NOOP")[0])[3]["MODSEQ"] == f[3]["MODSEQ"]
    lines, _ = c.ok("STATUS %s (HIGHESTMODSEQ)" % box)
    assert int(re.search(rb"HIGHESTMODSEQ (\d+)", lines[0]).group(1)) == int(f[3]["MODSEQ"][0])
    c.command("LOGOUT")
    d.command("LOGOUT")


def test_store_readonly_and_rights(server):
    env, m = server
    a = client(server)
    box = fresh(a, "shared")
    fill(a, box, [simple(i) for i in range(1, 3)])
    a.ok("SETACL %s bob lrs" % box)
    a.select(box)
    a.select(box, examine=True)
    _, t = a.command("STORE 1 +FLAGS (\\Flagged)")
    assert " NO " in t
    b = client(server, "bob")
    other = box.replace("INBOX", "user.alice")
    b.select(other)
    _, t = b.command("STORE 1 +FLAGS (\\Flagged)")
    assert " NO [NOPERM]" in t
    _, t = b.command("STORE 1 +FLAGS (\\Deleted)")
    assert " NO [NOPERM]" in t
    f = fetches(b.ok("STORE 1 +FLAGS (\\Seen)")[0])
    assert "\\Seen" in f[1]["FLAGS"]
    f = b.fetch("2", "(BODY[TEXT])")[2]            # bob's own \Seen
    assert "\\Seen" in f["FLAGS"]
    # alice has not seen them
    a.select(box)
    f = a.fetch("1:2", "FLAGS")
    assert "\\Seen" not in f[1]["FLAGS"] and "\\Seen" not in f[2]["FLAGS"]
    # bob's \Seen survives a new session; FLAGS () clears only what he may
    b2 = client(server, "bob")
    b2.select(other)
    f = b2.fetch("1:2", "FLAGS")
    assert "\\Seen" in f[1]["FLAGS"] and "\\Seen" in f[2]["FLAGS"]
    f = fetches(b2.ok("STORE 1 FLAGS ()")[0])
    assert "\\Seen" not in f[1]["FLAGS"]
    for x in (a, b, b2):
        x.command("LOGOUT")


def test_store_keyword_limit(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(1)])
    c.select(box)
    kws = ["kw%d" % i for i in range(256)]
    for i in range(0, 256, 32):
        c.ok("STORE 1 +FLAGS.SILENT (%s)" % " ".join(kws[i:i + 32]))
    f = c.fetch("1", "FLAGS")[1]
    assert len(f["FLAGS"]) == 257           # + \Recent
    _, t = c.command("STORE 1 +FLAGS (onemore)")
    assert " NO [LIMIT]" in t, t
    c.ok("STORE 1 -FLAGS (kw0)")
    c.command("LOGOUT")


def test_store_unchangedsince(server):
    c = client(server)
    box = fresh(c)
    fill(c, box, [simple(1), simple(2)])
    c.select(box)
    ms = c.fetch("1:2", "MODSEQ")
    m1 = int(ms[1]["MODSEQ"][0])
    c.ok("STORE 2 +FLAGS (\\Answered)")
    lines, t = c.ok("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % m1)
    assert "[MODIFIED 2]" in t, t
    f = c.fetch("1:2", "FLAGS")
    assert "\\Flagged" in f[1]["FLAGS"] and "\\Flagged" not in f[2]["FLAGS"]
    c.command("LOGOUT")


# ---- SEARCH -----------------------------------------------------------------------

SEARCH_MSGS = [
    # 1: plain ASCII, small
    (b"From: Alice Smith <alice@example.org>\r\nTo: bob@example.org\r\n"
     b"Cc: carol@example.net\r\nSubject: lunch on friday\r\n"
     b"Date: Tue, 1 Mar 2005 10:00:00 +0000\r\nX-Tag: alpha\r\n\r\n"
     b"Shall we meet at the usual place?\r\n", "01-Mar-2005 10:00:00 +0000", None),
    # 2: encoded-word subject, QP body in UTF-8
    (b"From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.de>\r\nTo: alice@example.org\r\n"
     b"Subject: =?utf-8?b?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n"
     b"Date: Wed, 2 Mar 2005 12:00:00 +0100\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"Der K=C3=A4se ist sehr lecker.\r\n", "02-Mar-2005 12:00:00 +0000", "\\Flagged"),
    # 3: base64 latin-1 body, big
    (b"From: bob@example.org\r\nTo: alice@example.org\r\nBcc: secret@example.com\r\n"
     b"Subject: report\r\nDate: Fri, 4 Mar 2005 08:00:00 +0000\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
     b"Content-Type: text/plain; charset=iso-8859-1\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\nQ2Fm6SBhdSBsYWl0LCBnYXLnb24h\r\n--b1\r\n"
     b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + b"QUJD" * 2000 + b"\r\n--b1--\r\n", "04-Mar-2005 08:00:00 +0000", "\\Answered $Work"),
    # 4: no Date header, folded header, deleted
    (b"From: carol@example.net\r\nTo: bob@example.org,\r\n  dave@example.org\r\n"
     b"Subject: a long\r\n   folded subject line\r\n\r\nNothing to see here.\r\n",
     "06-Mar-2005 23:30:00 +0000", "\\Deleted \\Seen"),
    # 5: draft, message/rfc822 attachment
    (b"From: alice@example.org\r\nTo: carol@example.net\r\nSubject: fwd\r\n"
     b"Date: Mon, 7 Mar 2005 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: message/rfc822\r\n\r\nFrom: zed@example.com\r\nSubject: inner topic\r\n\r\n"
     b"the inner text mentions platypus\r\n", "07-Mar-2005 09:00:00 +0000", "\\Draft \\Seen"),
]


@pytest.fixture(scope="module")
def search_box(server):
    c = client(server)
    box = fresh(c, "search")
    uids = []
    for data, date, flags in SEARCH_MSGS:
        t = c.append(box, data, flags=flags, date=date)
        assert " OK " in t, t
        uids.append(int(uidplus_code(t, "APPENDUID")[1]))
    c.command("LOGOUT")
    return box, uids


def search(c, crit, uid=False):
    lines, t = c.command(("UID SEARCH " if uid else "SEARCH ") + crit
                         if isinstance(crit, str) else
                         (b"UID SEARCH " if uid else b"SEARCH ") + crit)
    assert " OK " in t, (crit, t, lines)
    res = [ln for ln in lines if ln.startswith(b"* SEARCH")]
    assert len(res) == 1, lines
    return [int(x) for x in res[0].split()[2:] if x.isdigit()]


def test_search_keys(server, search_box):
    box, uids = search_box
    c = client(server)
    c.select(box)
    cases = {
        "ALL": [1, 2, 3, 4, 5],
        "ANSWERED": [3], "UNANSWERED": [1, 2, 4, 5],
        "DELETED": [4], "UNDELETED": [1, 2, 3, 5],
        "DRAFT": [5], "UNDRAFT": [1, 2, 3, 4],
        "FLAGGED": [2], "UNFLAGGED": [1, 3, 4, 5],
        "SEEN": [4, 5], "UNSEEN": [1, 2, 3],
        "KEYWORD $work": [3], "UNKEYWORD $Work": [1, 2, 4, 5],
        "KEYWORD nosuch": [], "UNKEYWORD nosuch": [1, 2, 3, 4, 5],
        "RECENT": [1, 2, 3, 4, 5], "NEW": [1, 2, 3], "OLD": [],
        "BCC secret": [3], "CC carol": [1], "FROM alice": [1, 5], "FROM \"Alice Smith\"": [1],
        "TO dave": [4], "SUBJECT lunch": [1], "SUBJECT \"folded subject\"": [4],
        "SUBJECT Große": [], "HEADER X-Tag alpha": [1], "HEADER X-Tag \"\"": [1],
        "HEADER Subject report": [3], "HEADER To DAVE": [4],
        "BODY usual": [1], "BODY lunch": [], "TEXT lunch": [1], "TEXT platypus": [5],
        "BODY \"inner topic\"": [5], "TEXT zed@example.com": [5],
        "BODY QUJD": [], "BODY käse": [2], "TEXT \"to see\"": [4],
        "LARGER 4000": [3], "SMALLER 300": [1, 4, 5], "SMALLER 200": [1, 4], "SMALLER 10": [],
        "BEFORE 2-Mar-2005": [1], "ON 02-Mar-2005": [2], "SINCE 6-Mar-2005": [4, 5],
        "SENTBEFORE 2-Mar-2005": [1], "SENTON 4-Mar-2005": [3],
        "SENTSINCE 7-Mar-2005": [5], "SENTON 6-Mar-2005": [4],   # no Date: arrival
        "1:2": [1, 2], "2,4:*": [2, 4, 5], "*": [5], "4:2": [2, 3, 4], "10:20": [],
        "UID %d:%d" % (uids[1], uids[2]): [2, 3], "UID %d" % uids[4]: [5],
        "NOT SEEN": [1, 2, 3], "NOT NOT SEEN": [4, 5],
        "OR FLAGGED DRAFT": [2, 5], "OR (FLAGGED) (OR DELETED ANSWERED)": [2, 3, 4],
        "(SEEN DRAFT)": [5], "SEEN DRAFT": [5], "(SEEN (DRAFT (ALL)))": [5],
        "NOT (OR 1 5)": [2, 3, 4], "OR 1:2 TEXT platypus UNSEEN": [1, 2],
        "all unseen": [1, 2, 3], "not from alice larger 200": [2, 3],
        "CHARSET US-ASCII FROM bob": [3], "CHARSET UTF-8 SUBJECT report": [3],
    }
    for crit, want in cases.items():
        assert search(c, crit) == want, crit
    got = search(c, "UID 1:*", uid=True)
    assert got == uids
    assert search(c, "FLAGGED", uid=True) == [uids[1]]
    c.command("LOGOUT")


def test_search_charsets(server, search_box):
    box, _ = search_box
    c = client(server)
    c.select(box)

    def lit(key, text, charset="UTF-8"):
        raw = text.encode("utf-8" if charset == "UTF-8" else charset)
        tag = c.tag()
        c.send_raw(("%s SEARCH CHARSET %s %s {%d}\r\n" % (tag, charset, key, len(raw)))
                   .encode())
        assert c.read_response_line().startswith(b"+")
        c.send_raw(raw + b"\r\n")
        lines, t = c.read_until(tag)
        assert " OK " in t, t
        return [int(x) for x in lines[0].split()[2:]]

    assert lit("SUBJECT", "Grüße") == [2]
    assert lit("SUBJECT", "GRÜSSE") == []                   # simple case folding only
    assert lit("SUBJECT", "GRÜßE AUS") == [2]
    assert lit("SUBJECT", "münchen") == [2]                 # case-folded
    assert lit("FROM", "Jürgen") == [2]
    assert lit("BODY", "KÄSE") == [2]                       # QP, UTF-8
    assert lit("TEXT", "café au lait") == [3]               # base64, latin-1
    assert lit("BODY", "garçon") == [3]
    assert lit("TEXT", "garçon", "ISO-8859-1") == [3]        # converted needle
    # LITERAL+ and 8-bit in a quoted string
    lines, t = c.command("SEARCH CHARSET UTF-8 BODY {5+}\r\nKäse".encode())
    assert " OK " in t and lines[0] == b"* SEARCH 2"
    lines, t = c.command('SEARCH CHARSET UTF-8 BODY "Käse"'.encode())
    assert " OK " in t and lines[0] == b"* SEARCH 2"
    _, t = c.command("SEARCH CHARSET X-NO-SUCH-CHARSET BODY x")
    assert " NO [BADCHARSET" in t, t
    c.command("LOGOUT")


def test_search_esearch_and_modseq(server, search_box):
    box, uids = search_box
    c = client(server)
    c.select(box)
    lines, t = c.ok("SEARCH RETURN (MIN MAX COUNT) UNSEEN")
    assert lines[0].startswith(b'* ESEARCH (TAG "')
    assert lines[0].endswith(b") MIN 1 MAX 3 COUNT 3"), lines
    lines, t = c.ok("UID SEARCH RETURN () ALL")
    assert lines[0].endswith(("UID ALL %d:%d" % (uids[0], uids[-1])).encode()) or \
        lines[0].endswith(("UID ALL %s" % ",".join(map(str, uids))).encode()) or \
        b" UID ALL " in lines[0]
    got = expand_set(lines[0].split(b" ALL ")[1].decode())
    assert got == uids
    lines, t = c.ok("SEARCH RETURN (COUNT) CHARSET UTF-8 DELETED")
    assert lines[0].endswith(b"COUNT 1")
    lines, t = c.ok("SEARCH MODSEQ 1")
    # the first CONDSTORE-enabling command reports HIGHESTMODSEQ (RFC 7162 3.1)
    assert re.match(rb"\* OK \[HIGHESTMODSEQ \d+\]", lines[0]), lines
    assert re.match(rb"\* SEARCH 1 2 3 4 5 \(MODSEQ \d+\)$", lines[1]), lines
    c.command("LOGOUT")


def test_search_bad(server, search_box):
    box, _ = search_box
    c = client(server)
    c.select(box)
    for bad in ("SEARCH", "SEARCH FOO", "SEARCH (ALL", "SEARCH ALL)", "SEARCH FROM",
                "SEARCH BEFORE 32-Jan-2005", "SEARCH BEFORE yesterday", "SEARCH LARGER x",
                "SEARCH OR ALL", "SEARCH NOT", "SEARCH UID x", "SEARCH HEADER X-Tag",
                "SEARCH CHARSET", "SEARCH RETURN (BOGUS) ALL", "SEARCH ALL  SEEN",
                "SEARCH " + "(" * 200 + "ALL" + ")" * 200,
                "SEARCH " + "NOT " * 200 + "ALL", "SEARCH 1:x"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    _, t = c.command("SEARCH " + " ".join(["ALL"] * 300))
    assert " OK " in t
    c.ok("NOOP")
    c.command("LOGOUT")


# ---- COPY / MOVE ---------------------------------------------------------------------

def message_files(env):
    out = []
    for root, dirs, files in os.walk(env.spool):
        for f in files:
            if re.match(r"\d+\.$", f):
                out.append(os.path.join(root, f))
    return out


def test_copy(server):
    env, m = server
    c = client(server)
    src = fresh(c, "src")
    dst = fresh(c, "dst")
    uids = fill(c, src, [simple(i) for i in range(1, 5)],
                flags=["\\Seen", "\\Flagged $A", None, "\\Deleted"])
    c.select(src)
    before = c.fetch("1:4", "(INTERNALDATE FLAGS)")
    _, t = c.ok("COPY 2:4 %s" % dst)
    code = uidplus_code(t, "COPYUID")
    assert expand_set(code[1]) == uids[1:4]
    dst_uids = expand_set(code[2])
    assert len(dst_uids) == 3
    # UID COPY; target's UIDVALIDITY
    _, t = c.ok("UID COPY %d,%d %s" % (uids[0], uids[3], dst))
    code2 = uidplus_code(t, "COPYUID")
    assert code2[0] == code[0]
    assert expand_set(code2[1]) == [uids[0], uids[3]]
    # nothing to copy: OK without COPYUID
    _, t = c.ok("UID COPY 9999 %s" % dst)
    assert "COPYUID" not in t
    lines, _ = c.select(dst)
    f = c.fetch("1:5", "(UID INTERNALDATE FLAGS BODY.PEEK[])")
    assert [int(f[i]["UID"]) for i in (1, 2, 3)] == dst_uids
    for i, orig in zip((1, 2, 3), (2, 3, 4)):
        assert f[i]["INTERNALDATE"] == before[orig]["INTERNALDATE"]
        assert f[i]["BODY[]"] == simple(orig)
        assert flags_of(f[i]["FLAGS"]) == flags_of(before[orig]["FLAGS"]) | {"\\Recent"}
    assert "\\Seen" in f[4]["FLAGS"]
    # the copies are hard links of the source files
    dstfiles = [p for p in message_files(env) if "/%s/" % dst.split(".")[-1] in p]
    assert len(dstfiles) == 5
    assert all(os.stat(p).st_nlink >= 2 for p in dstfiles)
    # to another partition: a copy of the file, the same message
    adm = client(server, "cyrus")
    p2 = "user.alice.onp2x%d" % _box[0]
    adm.ok("CREATE %s p2" % p2)
    adm.command("LOGOUT")
    c.select(src)
    _, t = c.ok("COPY 1:2 %s" % p2.replace("user.alice", "INBOX"))
    assert uidplus_code(t, "COPYUID")
    c.select(p2.replace("user.alice", "INBOX"))
    f = c.fetch("1:2", "(BODY.PEEK[] FLAGS)")
    assert [f[1]["BODY[]"], f[2]["BODY[]"]] == [simple(1), simple(2)]
    assert "$A" in f[2]["FLAGS"]
    p2files = [os.path.join(r, x) for r, _, fs in os.walk(env.spool2) for x in fs
               if re.match(r"\d+\.$", x)]
    assert len(p2files) == 2       # (a link too when both share a file system)
    c.select(src)
    # no target, no rights
    _, t = c.command("COPY 1 INBOX.nosuch")
    assert " NO [TRYCREATE]" in t
    _, t = c.command("COPY 1 user.carol")
    assert " NO " in t
    for bad in ("COPY 1", "COPY x INBOX", "COPY 99 INBOX", "COPY 1 INBOX extra", "COPY"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    c.command("LOGOUT")


def test_copy_over_quota(server):
    env, m = server
    adm = client(server, "cyrus")
    adm.ok("SETQUOTA user.carol (STORAGE 2)")
    c = client(server, "carol")
    big = simple(1, body="x" * 1500 + "\r\n")
    t = c.append("INBOX", big)
    assert " OK " in t, t
    t = c.append("INBOX", big)
    assert " NO [OVERQUOTA]" in t, t
    c.ok("CREATE INBOX.sub")
    c.select("INBOX")
    _, t = c.command("COPY 1 INBOX.sub")
    assert " NO [OVERQUOTA]" in t, t
    adm.ok("SETQUOTA user.carol ()")
    c.ok("COPY 1 INBOX.sub")
    adm.command("LOGOUT")
    c.command("LOGOUT")


def test_move(server):
    c = client(server)
    src = fresh(c, "msrc")
    dst = fresh(c, "mdst")
    uids = fill(c, src, [simple(i) for i in range(1, 6)])
    c.select(src)
    d = client(server)
    d.select(src)
    lines, t = c.ok("MOVE 2,4 %s" % dst)
    assert lines[0].startswith(b"* OK [COPYUID "), lines
    code = lines[0].decode().split("[COPYUID ")[1].split("]")[0].split()
    assert expand_set(code[1]) == [uids[1], uids[3]]
    assert [ln for ln in lines if b"EXPUNGE" in ln] == [b"* 4 EXPUNGE", b"* 2 EXPUNGE"]
    assert lines.index(b"* 4 EXPUNGE") == 1
    lines, t = c.ok("UID MOVE %d %s" % (uids[4], dst))
    assert lines[0].startswith(b"* OK [COPYUID ")
    assert [ln for ln in lines if b"EXPUNGE" in ln] == [b"* 3 EXPUNGE"], lines
    f = c.fetch("1:*", "UID")
    assert [int(v["UID"]) for v in f.values()] == [uids[0], uids[2]]
    # the other session learns of it on NOOP, not during FETCH
    lines, _ = d.ok("FETCH 1:5 (UID)")
    assert not [ln for ln in lines if b"EXPUNGE" in ln]
    lines, _ = d.ok("NOOP")
    assert [ln for ln in lines if b"EXPUNGE" in ln] == [b"* 5 EXPUNGE", b"* 4 EXPUNGE",
                                                        b"* 2 EXPUNGE"]
    c.select(dst)
    f = c.fetch("1:*", "(BODY.PEEK[])")
    assert [v["BODY[]"] for v in f.values()] == [simple(2), simple(4), simple(5)]
    _, t = c.command("MOVE 1 INBOX.nosuch")
    assert " NO [TRYCREATE]" in t
    for bad in ("MOVE 1", "MOVE x %s" % src, "MOVE 9 %s" % src, "UID MOVE", "MOVE 1 a b"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    c.select(dst, examine=True)
    _, t = c.command("MOVE 1 %s" % src)
    assert " NO " in t
    c.command("LOGOUT")
    d.command("LOGOUT")


# ---- EXPUNGE -----------------------------------------------------------------------------

def test_expunge(server):
    c = client(server)
    box = fresh(c, "exp")
    uids = fill(c, box, [simple(i) for i in range(1, 8)])
    c.select(box)
    c.ok("STORE 2,3,5,7 +FLAGS.SILENT (\\Deleted)")
    # UID EXPUNGE: only the set
    lines, t = c.ok("UID EXPUNGE %d:%d" % (uids[1], uids[2]))
    assert [ln for ln in lines if b"EXPUNGE" in ln] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"]
    # now 1 4 5 6 7 -> seq 1..5; 5 and 7 are seqs 3 and 5
    lines, t = c.ok("EXPUNGE")
    assert [ln for ln in lines if b"EXPUNGE" in ln] == [b"* 5 EXPUNGE", b"* 3 EXPUNGE"]
    f = c.fetch("1:*", "UID")
    assert [int(v["UID"]) for v in f.values()] == [uids[0], uids[3], uids[5]]
    lines, t = c.ok("EXPUNGE")
    assert lines == []
    c.select(box, examine=True)
    _, t = c.command("EXPUNGE")
    assert " NO " in t
    for bad in ("EXPUNGE 1", "UID EXPUNGE", "UID EXPUNGE x"):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    # CLOSE expunges silently
    c.select(box)
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines, _ = c.ok("CLOSE")
    assert not [ln for ln in lines if b"EXPUNGE" in ln]
    c.select(box)
    assert c.exists == 2
    c.command("LOGOUT")


# ---- APPEND ---------------------------------------------------------------------------------

def test_append(server):
    c = client(server)
    box = fresh(c, "app")
    t = c.append(box, simple(1), flags="\\Seen \\Answered $Important",
                 date="14-Jul-2003 12:34:56 +0200")
    code = uidplus_code(t, "APPENDUID")
    t2 = c.append(box, simple(2), nonsync=True)          # LITERAL+
    code2 = uidplus_code(t2, "APPENDUID")
    assert code2[0] == code[0] and int(code2[1]) == int(code[1]) + 1
    c.select(box)
    f = c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")[1]
    assert flags_of(f["FLAGS"]) == {"\\Seen", "\\Answered", "$Important", "\\Recent"}
    assert f["INTERNALDATE"] in (b"14-Jul-2003 10:34:56 +0000",) or b"Jul-2003" in \
        f["INTERNALDATE"]
    assert f["BODY[]"] == simple(1)
    # appending to the selected mailbox: EXISTS comes with the OK
    t = c.append(box, simple(3))
    assert b"* 3 EXISTS" in c.last_untagged, c.last_untagged
    # a second session sees it on NOOP
    d = client(server)
    d.select(box)
    c.append(box, simple(4))
    lines, _ = d.ok("NOOP")
    assert b"* 4 EXISTS" in lines
    # MULTIAPPEND: one APPENDUID range
    tag = c.tag()
    m1, m2 = simple(5), simple(6)
    c.send_raw(("%s APPEND %s (\\Flagged) {%d+}\r\n" % (tag, box, len(m1))).encode() + m1 +
               (' "01-Jan-2020 00:00:00 +0000" {%d+}\r\n' % len(m2)).encode() + m2 + b"\r\n")
    _, t = c.read_until(tag)
    code = uidplus_code(t, "APPENDUID")
    assert len(expand_set(code[1])) == 2
    # the mailbox name may be a literal; TRYCREATE without sending the data
    t = c.append("INBOX.nosuch", simple(1))
    assert " NO [TRYCREATE]" in t, t
    lit = box.encode()
    _, t = c.command(b"APPEND {%d+}\r\n%s {%d+}\r\n%s" % (len(lit), lit, len(simple(7)),
                                                            simple(7)))
    assert " OK [APPENDUID " in t, t
    t = c.append("INBOX.nosuch", simple(1), nonsync=True)
    assert " NO [TRYCREATE]" in t, t
    t = c.append("user.bob", simple(1))
    assert " NO " in t
    c.ok("NOOP")
    c.command("LOGOUT")
    d.command("LOGOUT")


def test_append_refusals(server):
    c = client(server)
    box = fresh(c, "ref")
    for data, what in ((b"Subject: x\r\n\r\nnul\0here\r\n", "NUL"),
                       (b"Subject: x\n\nbare newlines\n", "bare newlines"),
                       (b"Subject: x\r\n\r\nbare\rcr\r\n", "bare newlines"),
                       (b"", "empty")):
        t = c.append(box, data)
        assert " NO " in t, (what, t)
        t = c.append(box, data, nonsync=True)
        assert " NO " in t, (what, t)
    # too large: a synchronising literal is refused before it is sent
    tag = c.tag()
    c.send_raw(("%s APPEND %s {%d}\r\n" % (tag, box, MAXMSG + 1)).encode())
    lines, t = c.read_until(tag)
    assert " NO [TOOBIG]" in t, t
    # ... a LITERAL+ one is swallowed
    big = b"Subject: big\r\n\r\n" + b"x" * MAXMSG + b"\r\n"
    t = c.append(box, big, nonsync=True)
    assert " NO [TOOBIG]" in t, t
    t = c.append(box, big[:MAXMSG - 100] + b"\r\n")
    assert " OK " in t, t
    # malformed
    for bad in (b"APPEND", b"APPEND " + box.encode(), b"APPEND %s (\\Seen {3+}\r\nabc" %
                box.encode(),
                b"APPEND %s (\\Bogus) {3+}\r\nabc" % box.encode(),
                b"APPEND %s \"31-Feb-2020 00:00:00 +0000\" {3+}\r\nabc" % box.encode(),
                b"APPEND %s \"bad date\" {3+}\r\nabc" % box.encode(),
                b"APPEND %s notaliteral" % box.encode(),
                b"APPEND %s {3+}\r\nabc extra" % box.encode()):
        _, t = c.command(bad)
        assert " BAD " in t, (bad, t)
    c.select(box)
    assert c.exists == 1
    c.command("LOGOUT")


def test_session_survives_garbage(server):
    c = client(server)
    box = fresh(c, "junk")
    fill(c, box, [simple(1)])
    c.select(box)
    for junk in (b"FETCH \xff\xfe FLAGS", b"STORE 1 +FLAGS (\x01)", b"SEARCH \"unterminated",
                 b"COPY 1 {5+}\r\nnosuc", b"SEARCH TEXT {99999999999999999999}",
                 b"FETCH 1 BODY[" + b"1." * 300 + b"1]",
                 b"FETCH 1 (" + b"FLAGS " * 5000 + b")",
                 b"UID FETCH 1:4294967295 (FLAGS)", b"FETCH 1:4294967296 FLAGS"):
        tag = c.tag()
        c.send_raw(tag.encode() + b" " + junk + b"\r\n")
        lines, t = c.read_until(tag)
        assert t.split()[1] in ("BAD", "NO", "OK"), (junk, t)
    f = c.fetch("1", "(UID BODY.PEEK[])")
    assert f[1]["BODY[]"] == simple(1)
    c.command("LOGOUT")


def test_create_makes_superior_names(server):
    """RFC 3501 6.3.3: CREATE a.b.c makes a and a.b when they are missing,
    as Cyrus does; they are real mailboxes (selectable, listed, and DELETE
    of a parent with children is refused)."""
    c = client(server)
    _box[0] += 1
    top = "INBOX.sup%d" % _box[0]
    c.ok("CREATE %s.b.c" % top)
    lines, _ = c.ok('LIST "" "%s*"' % top)
    names = [ln.rsplit(b" ", 1)[1].decode() for ln in lines if ln.startswith(b"* LIST")]
    assert names == [top, top + ".b", top + ".b.c"], lines
    assert all(b"\\Noselect" not in ln for ln in lines), lines
    c.select(top + ".b")
    c.ok("UNSELECT")
    # a user cannot start a tree outside the INBOX this way
    _, t = c.command("CREATE nothere.x.y")
    assert " NO " in t, t
    lines, _ = c.ok('LIST "" "nothere*"')
    assert not [ln for ln in lines if ln.startswith(b"* LIST")], lines
    c.command("LOGOUT")


def test_empty_mailbox(server):
    c = client(server)
    box = fresh(c, "empty")
    c.select(box)
    assert search(c, "ALL") == [] and search(c, "TEXT x", uid=True) == []
    for cmd in ("UID FETCH 1:* FLAGS", "UID STORE 1:* +FLAGS (\\Seen)", "UID EXPUNGE 1:*",
                "EXPUNGE", "UID COPY 1:* INBOX", "UID MOVE 1:* INBOX",
                "SEARCH RETURN (MIN MAX COUNT) ALL"):
        lines, t = c.ok(cmd)
        assert not [ln for ln in lines if b"FETCH" in ln or b"EXPUNGE" in ln], (cmd, lines)
        assert "COPYUID" not in t
    _, t = c.command("FETCH 1 FLAGS")
    assert " BAD " in t
    c.command("LOGOUT")


# ---- a real client: mbsync ------------------------------------------------------------------------

MBSYNC = "/usr/bin/mbsync"


@pytest.mark.skipif(not os.access(MBSYNC, os.X_OK), reason="mbsync (package isync) missing")
def test_mbsync_two_way(server):
    env, m = server
    work = tempfile.mkdtemp(prefix="mbsync-")
    try:
        maildir = os.path.join(work, "mail")
        os.mkdir(maildir)
        conf = os.path.join(work, "mbsyncrc")
        with open(conf, "w") as f:
            f.write("""IMAPAccount test
Host 127.0.0.1
Port %d
User bob
Pass bobpw
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (port_of(m), maildir, maildir))
        # server side: a tree of mailboxes with mail
        c = client(server, "bob")
        server_msgs = {}
        for box in ("INBOX", "INBOX.work", "INBOX.work.projects", "INBOX.lists"):
            if box != "INBOX":
                c.ok("CREATE " + box)
            msgs = [simple(i, subject="%s" % box) for i in range(1, 4)]
            fill(c, box, msgs)
            server_msgs[box] = msgs
        c.command("LOGOUT")

        def run():
            p = subprocess.run([MBSYNC, "-c", conf, "-a"], capture_output=True, timeout=120)
            assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()

        run()
        # every server message is in the maildir
        local = {}
        for root, dirs, files in os.walk(maildir):
            if os.path.basename(root) in ("cur", "new"):
                for fn in files:
                    with open(os.path.join(root, fn), "rb") as fh:
                        local.setdefault(os.path.dirname(root), []).append(fh.read())
        total = sum(len(v) for v in local.values())
        assert total == 12, local.keys()
        # (mbsync may add its X-TUID tracking header)
        allbodies = [re.sub(rb"X-TUID: [^\r\n]*\r\n", b"", crlf(x))
                     for v in local.values() for x in v]
        for msgs in server_msgs.values():
            for msg in msgs:
                assert msg in allbodies
        # local side: new messages and a new folder go up
        newdir = os.path.join(maildir, "work", "newfolder")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(newdir, sub), exist_ok=True)
        up = [simple(100 + i, subject="from maildir") for i in range(3)]
        for i, data in enumerate(up):
            dest = newdir if i else os.path.join(maildir, "INBOX")
            with open(os.path.join(dest, "new", "%d.local%d" % (time.time(), i)), "wb") as fh:
                fh.write(data.replace(b"\r\n", b"\n"))
        run()
        run()     # a second run changes nothing and loses nothing
        c = client(server, "bob")
        lines, _ = c.ok('LIST "" "*"')
        names = [ln.decode().split(" ")[-1].strip('"') for ln in lines]
        assert "INBOX.work.newfolder" in names, names
        got = []
        for box in ("INBOX", "INBOX.work.newfolder"):
            c.select(box)
            f = c.fetch("1:*", "(BODY.PEEK[])")
            got += [re.sub(rb"X-TUID: [^\r\n]*\r\n", b"", v["BODY[]"]) for v in f.values()]
        for data in up:
            assert data in got
        c.select("INBOX")
        assert c.exists == 4
        # flags and deletions both ways
        c.select("INBOX.lists")
        c.ok("STORE 1 +FLAGS (\\Flagged)")
        c.command("LOGOUT")

        def files(folder):
            out = []
            for sub in ("cur", "new"):
                d = os.path.join(maildir, folder, sub)
                out += [os.path.join(d, f) for f in sorted(os.listdir(d))]
            return out

        seen_file = files("work")[0]
        base, _, fl = os.path.basename(seen_file).partition(":2,")
        os.rename(seen_file, os.path.join(maildir, "work", "cur",
                                          base + ":2," + "".join(sorted(fl + "S"))))
        os.unlink(files(os.path.join("work", "projects"))[0])
        run()
        assert any(":2," in f and "F" in f.split(":2,")[1] for f in files("lists"))
        c = client(server, "bob")
        c.select("INBOX.work")
        f = c.fetch("1:*", "FLAGS")
        assert sum("\\Seen" in v["FLAGS"] for v in f.values()) == 1
        c.select("INBOX.work.projects")
        assert c.exists == 2
        c.command("LOGOUT")
    finally:
        shutil.rmtree(work, ignore_errors=True)
