"""Integration tests of lmtpd (lmtp/lmtpd*.c): delivery into the mail store
under master, checked by reading the mailboxes back with tests/lmtpd_store
(which verifies every message file against its index record).

Clients: smtplib.LMTP, and a raw socket where smtplib cannot look
(pipelining; one reply per recipient after DATA)."""

import os
import random
import re
import shutil
import signal
import smtplib
import ssl
import threading
import time

import pytest

import lmtpd_fixtures as lf
from lmtpd_fixtures import client_part, greet, make_message, reply, send, transaction
from util import wait_until


@pytest.fixture(scope="module")
def assets():
    try:
        d = lf.make_assets()
    except RuntimeError as e:
        pytest.skip(str(e))
    yield d
    shutil.rmtree(d, ignore_errors=True)


_socks = [0]


@pytest.fixture
def lmtpd(master, assets):
    """lmtpd(lmtpd_args="", **imapd_options) -> Lmtpd"""
    started = []

    def start(lmtpd_args="", **options):
        _socks[0] += 1
        srv = lf.start_lmtpd(master, assets, "lmtp%d.sock" % _socks[0], lmtpd_args,
                             **options)
        started.append(srv)
        return srv
    yield start
    for srv in started:
        shutil.rmtree(srv.partdir, ignore_errors=True)


def smtp(srv, kind="unix"):
    if kind == "unix":
        return smtplib.LMTP(srv.sock, timeout=15)
    return smtplib.LMTP("127.0.0.1", srv.aport if kind == "atcp" else srv.port, timeout=15)


def deliver(srv, rcpts, msg, sender="sender@example.net", kind="unix", **kw):
    """One transaction on a fresh raw connection: (rcpt replies, data replies)."""
    with srv.raw(kind) as c:
        greet(c)
        mail, rr, dr = transaction(c, sender, rcpts, msg, **kw)
        assert mail.startswith("250"), mail
        send(c, "QUIT\r\n")
        reply(c)
    return rr, dr


# ---- plain delivery --------------------------------------------------------

def test_inbox_delivery_with_trace_headers(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice")
    msg = make_message(msgid="m1@example.net", subject="hello alice")
    with smtp(srv) as s:
        s.ehlo_or_helo_if_needed()
        refused = s.sendmail("sender@example.net", ["alice"], msg)
        assert refused == {}
    stored = srv.store.messages("user.alice")
    assert len(stored) == 1
    assert stored[0].startswith(b"Return-Path: <sender@example.net>\r\nReceived: from ")
    assert b"by " + lf.SERVERNAME.encode() in stored[0]
    assert client_part(stored[0]) == msg
    log = srv.log()
    assert re.search(r"delivered.*mailbox=<user\.alice> uid=<1> msgid=<<m1@example\.net>> "
                     r"size=<\d+>", log), log[-2000:]


def test_virtdomains_and_default_domain(lmtpd):
    srv = lmtpd(virtdomains="userid", defaultdomain="example.com")
    srv.store.create("user.alice", "example.org!user.alice")
    rr, dr = deliver(srv, ["alice@example.org", "alice@example.com", "alice",
                           "alice@example.net"], make_message(subject="vd"))
    assert rr == ["250 2.1.5", "250 2.1.5", "250 2.1.5", "550 5.1.1"]
    assert dr == ["250 2.1.5"] * 3
    assert len(srv.store.messages("example.org!user.alice")) == 1
    assert len(srv.store.messages("user.alice")) == 2


def test_domain_ignored_without_virtdomains(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice")
    rr, dr = deliver(srv, ["alice@example.org", "alice@elsewhere.test"],
                     make_message(subject="novd"))
    assert rr == ["250 2.1.5", "250 2.1.5"] and dr == ["250 2.1.5", "250 2.1.5"]
    assert len(srv.store.messages("user.alice")) == 2   # no Message-ID: no suppression


def test_unknown_user_is_refused_at_rcpt(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice")
    with smtp(srv) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            s.sendmail("sender@example.net", ["nosuchuser"], make_message())
        code, text = ei.value.recipients["nosuchuser"]
        assert code == 550 and text.startswith(b"5.1.1 User unknown")
    rr, dr = deliver(srv, ["nobody@example.org", "user.alice", "alice"], make_message())
    assert rr == ["550 5.1.1", "550 5.1.1", "250 2.1.5"]
    assert dr == ["250 2.1.5"]


def test_downcase_rcpt(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice", "user.alice.Lists")
    srv.store.setacl("user.alice.Lists", "anyone", "p")
    rr, dr = deliver(srv, ["ALICE@Example.ORG", "Alice+Lists", "ALICE+lists"],
                     make_message(subject="case"))
    assert rr == ["250 2.1.5"] * 3 and dr == ["250 2.1.5"] * 3
    # the detail keeps its case: "lists" is not "Lists" without fuzzy matching
    assert len(srv.store.messages("user.alice")) == 2
    assert len(srv.store.messages("user.alice.Lists")) == 1


def test_no_downcase_rcpt(lmtpd):
    srv = lmtpd(lmtp_downcase_rcpt="no")
    srv.store.create("user.alice")
    rr, dr = deliver(srv, ["ALICE", "alice"], make_message())
    assert rr == ["550 5.1.1", "250 2.1.5"]


# ---- +detail and shared folders ------------------------------------------------

def test_plus_detail_delivery(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.alice.lists", "user.alice.lists.work",
              "user.alice.private")
    st.setacl("user.alice.lists", "anyone", "p")
    st.setacl("user.alice.lists.work", "anyone", "p")
    rcpts = ["alice+lists", "alice+lists.work", "alice+private", "alice+nosuch",
             "alice+lists.nosuch", "alice+", "alice+lists..x"]
    rr, dr = deliver(srv, rcpts, make_message(subject="detail"))
    assert rr == ["250 2.1.5"] * len(rcpts) and dr == ["250 2.1.5"] * len(rcpts)
    assert len(st.messages("user.alice.lists")) == 1
    assert len(st.messages("user.alice.lists.work")) == 1
    # no 'p' for anonymous on private, missing folders, empty or bad details
    assert len(st.messages("user.alice.private")) == 0
    assert len(st.messages("user.alice")) == 5


def test_plus_detail_unixhierarchysep(lmtpd):
    srv = lmtpd(unixhierarchysep="yes")
    st = srv.store
    st.create("user.alice", "user.alice.lists", "user.alice.lists.work", "user.alice.a^b")
    for n in ("user.alice.lists", "user.alice.lists.work", "user.alice.a^b"):
        st.setacl(n, "anyone", "p")
    rr, dr = deliver(srv, ["alice+lists/work", "alice+a.b", "alice+lists.work"],
                     make_message())
    assert dr == ["250 2.1.5"] * 3
    assert len(st.messages("user.alice.lists.work")) == 1
    assert len(st.messages("user.alice.a^b")) == 1
    assert len(st.messages("user.alice")) == 1


def test_plus_detail_needs_post_right_of_sender(lmtpd):
    """The 'p' right is checked for the authenticated sender; a trusted
    client without AUTH is anonymous."""
    srv = lmtpd(allowplaintext="yes", proxyservers="carol")
    st = srv.store
    st.create("user.alice", "user.alice.frombob")
    st.setacl("user.alice.frombob", "bob", "p")
    st.setacl("user.alice.frombob", "alice", "lrswi")   # not even the owner posts
    msg = make_message(subject="from bob")
    with smtp(srv, "tcp") as s:
        s.ehlo()
        s.login("bob", "bobpw")
        assert s.sendmail("bob@example.net", ["alice+frombob"], msg) == {}
    with smtp(srv, "tcp") as s:
        s.ehlo()
        s.login("carol", "carolpw")
        # carol is a proxy server: without AUTH= she sends as herself
        assert s.sendmail("carol@example.net", ["alice+frombob"], msg) == {}
        # and she may name the real sender (as lmtpproxyd does)
        assert s.sendmail("bob@example.net", ["alice+frombob"], msg,
                          mail_options=["AUTH=bob"]) == {}
        assert s.sendmail("x@example.net", ["alice+frombob"], msg,
                          mail_options=["AUTH=<>"]) == {}
    with smtp(srv, "tcp") as s:
        s.ehlo()
        s.login("alice", "alicepw")
        # an ordinary user cannot pretend to be bob
        assert s.sendmail("alice@example.net", ["alice+frombob"], msg,
                          mail_options=["AUTH=bob"]) == {}
    with smtp(srv, "unix") as s:
        assert s.sendmail("x@example.net", ["alice+frombob"], msg) == {}
    # a trusted client may name the sender with AUTH= (as lmtpproxyd does)
    rr, dr = deliver(srv, ["alice+frombob"], msg, mail_params=" AUTH=bob")
    assert dr == ["250 2.1.5"]
    assert len(st.messages("user.alice.frombob")) == 3
    assert len(st.messages("user.alice")) == 4


def test_fuzzy_mailbox_match(lmtpd):
    srv = lmtpd(lmtp_fuzzy_mailbox_match="yes")
    st = srv.store
    st.create("user.alice", "user.alice.Mailing Lists", "user.alice.Mailing Lists.Work")
    st.setacl("user.alice.Mailing Lists", "anyone", "p")
    st.setacl("user.alice.Mailing Lists.Work", "anyone", "p")
    # a quoted local part may hold the blank itself
    rr, dr = deliver(srv, ["alice+mailinglists.WORK", "alice+MAILINGLISTS.nosuch",
                           '"alice+mailing lists"', "alice+nosuch"], make_message())
    assert rr == ["250 2.1.5"] * 4 and dr == ["250 2.1.5"] * 4
    assert len(st.messages("user.alice.Mailing Lists.Work")) == 1
    assert len(st.messages("user.alice.Mailing Lists")) == 2
    assert len(st.messages("user.alice")) == 1


def test_shared_folder_delivery(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "shared.memo", "shared.closed", "shared.hidden")
    st.setacl("shared.memo", "anyone", "lrsp")
    st.setacl("shared.hidden", "anyone", "")
    rr, dr = deliver(srv, ["+shared.memo", "+shared.closed", "+shared.hidden",
                           "+shared.nosuch", "+", "alice"], make_message(subject="shared"))
    assert rr == ["250 2.1.5", "550 5.7.1", "550 5.1.1", "550 5.1.1", "550 5.1.1",
                  "250 2.1.5"]
    assert dr == ["250 2.1.5", "250 2.1.5"]
    assert len(st.messages("shared.memo")) == 1


def test_shared_folder_with_postuser(lmtpd):
    srv = lmtpd(postuser="bb")
    st = srv.store
    st.create("shared.memo")
    st.setacl("shared.memo", "anyone", "p")
    rr, dr = deliver(srv, ["bb+shared.memo", "+shared.memo", "bb"], make_message())
    assert rr == ["250 2.1.5", "550 5.1.1", "550 5.1.1"]
    assert len(st.messages("shared.memo")) == 1


# ---- quota ------------------------------------------------------------------------

def test_over_quota_at_rcpt(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.bob")
    st.setquota("user.alice", 1)
    big = make_message(subject="big", size=3000)
    # not strict: the first message goes in although it passes the limit
    assert deliver(srv, ["alice"], big) == (["250 2.1.5"], ["250 2.1.5"])
    assert st.getquota("user.alice")[1] == 1
    # now the mailbox is full
    rr, dr = deliver(srv, ["alice", "bob"], make_message(subject="small"))
    assert rr == ["452 4.2.2", "250 2.1.5"] and dr == ["250 2.1.5"]
    # IGNOREQUOTA goes past it
    rr, dr = deliver(srv, ["alice"], make_message(subject="iq"),
                     rcpt_params={"alice": " IGNOREQUOTA"})
    assert dr == ["250 2.1.5"]
    assert len(st.messages("user.alice")) == 2
    assert st.getquota("user.alice")[1] == 2


def test_over_quota_perm_failure(lmtpd):
    srv = lmtpd(lmtp_over_quota_perm_failure="yes")
    st = srv.store
    st.create("user.alice")
    st.setquota("user.alice", "-", 1)
    assert deliver(srv, ["alice"], make_message()) == (["250 2.1.5"], ["250 2.1.5"])
    with smtp(srv) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            s.sendmail("sender@example.net", ["alice"], make_message())
        code, text = ei.value.recipients["alice"]
        assert code == 552 and text.startswith(b"5.2.2 Over quota")


def test_strict_quota_checked_again_at_delivery(lmtpd):
    srv = lmtpd(lmtp_strict_quota="yes")
    st = srv.store
    st.create("user.alice")
    st.setquota("user.alice", 2)
    # RCPT cannot know the size: accepted; the append finds it too big
    rr, dr = deliver(srv, ["alice"], make_message(size=5000))
    assert rr == ["250 2.1.5"] and dr == ["452 4.2.2"]
    assert deliver(srv, ["alice"], make_message(size=500)) == (["250 2.1.5"], ["250 2.1.5"])
    assert len(srv.store.messages("user.alice")) == 1


def test_quota_filled_within_one_transaction(lmtpd):
    """The second recipient's mailbox (same quota root) fills up with the
    first delivery: refused at delivery although RCPT accepted it."""
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.alice.lists")
    st.setacl("user.alice.lists", "anyone", "p")
    st.setquota("user.alice", "-", 1)
    rr, dr = deliver(srv, ["alice", "alice+lists"], make_message())
    assert rr == ["250 2.1.5", "250 2.1.5"]
    assert dr == ["250 2.1.5", "452 4.2.2"]


# ---- mailbox states -----------------------------------------------------------------

def test_reserved_moving_and_remote_mailboxes(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.bob", "user.carol", "user.dave")
    st.settype("user.bob", "reserved")
    st.settype("user.carol", "moving", "backend2")
    st.settype("user.dave", "remote", "backend2")
    rr, dr = deliver(srv, ["bob", "carol", "dave", "alice"], make_message())
    assert rr == ["450 4.2.1", "450 4.2.1", "451 4.3.0", "250 2.1.5"]
    assert dr == ["250 2.1.5"]
    # a +detail folder that is being moved: temporary failure, not the INBOX
    st.create("user.alice.moving")
    st.setacl("user.alice.moving", "anyone", "p")
    st.settype("user.alice.moving", "moving", "backend2")
    rr, dr = deliver(srv, ["alice+moving"], make_message())
    assert rr == ["250 2.1.5"] and dr == ["450 4.2.1"]
    assert len(st.messages("user.alice")) == 1


# ---- pipelining --------------------------------------------------------------------

def test_pipelined_transactions_with_mixed_results(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.bob", "user.carol", "user.alice.lists")
    st.setacl("user.alice.lists", "anyone", "p")
    st.setquota("user.bob", "-", 0)
    st.settype("user.carol", "reserved")
    m1 = make_message(subject="one", msgid="p1@example.net")
    m2 = make_message(subject="two", msgid="p2@example.net")
    with srv.raw("atcp") as c:
        greet(c)
        # two whole transactions in one write, and a RSET between them
        cmds = b""
        for m, rcpts in ((m1, ["alice", "nosuch", "bob", "carol", "alice+lists"]),
                         (m2, ["bob", "alice"])):
            cmds += b"MAIL FROM:<s@example.net>\r\n"
            for r in rcpts:
                cmds += b"RCPT TO:<" + r.encode() + b">\r\n"
            cmds += b"DATA\r\n"
        send(c, cmds[:cmds.index(b"DATA\r\n") + 6])
        assert lf.code_of(reply(c)) == "250 2.1.0"
        got = [lf.code_of(reply(c)) for _ in range(5)]
        assert got == ["250 2.1.5", "550 5.1.1", "452 4.2.2", "450 4.2.1", "250 2.1.5"]
        assert reply(c)[0] == 354
        rest = cmds[cmds.index(b"DATA\r\n") + 6:]
        send(c, lf.dot_stuff(m1) + rest)
        assert [lf.code_of(reply(c)) for _ in range(2)] == ["250 2.1.5", "250 2.1.5"]
        assert lf.code_of(reply(c)) == "250 2.1.0"
        assert [lf.code_of(reply(c)) for _ in range(2)] == ["452 4.2.2", "250 2.1.5"]
        assert reply(c)[0] == 354
        send(c, lf.dot_stuff(m2) + b"QUIT\r\n")
        assert [lf.code_of(reply(c)) for _ in range(1)] == ["250 2.1.5"]
        assert reply(c)[0] == 221
    assert [client_part(x) for x in st.messages("user.alice")] == [m1, m2]
    assert [client_part(x) for x in st.messages("user.alice.lists")] == [m1]
    assert st.messages("user.bob") == []


# ---- duplicates -----------------------------------------------------------------

def test_duplicate_suppression(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.alice", "user.bob")
    msg = make_message(msgid="dup1@example.net")
    assert deliver(srv, ["alice"], msg) == (["250 2.1.5"], ["250 2.1.5"])
    # seen before for alice: accepted, not stored; bob gets his copy
    assert deliver(srv, ["alice", "bob"], msg) == (["250 2.1.5"] * 2, ["250 2.1.5"] * 2)
    assert deliver(srv, ["bob"], msg) == (["250 2.1.5"], ["250 2.1.5"])
    assert len(st.messages("user.alice")) == 1
    assert len(st.messages("user.bob")) == 1
    # two addresses of one mailbox in one transaction: stored once
    msg2 = make_message(msgid="dup2@example.net")
    assert deliver(srv, ["alice", "alice@example.org"], msg2)[1] == ["250 2.1.5"] * 2
    assert len(st.messages("user.alice")) == 2
    # without a Message-ID nothing is suppressed
    plain = make_message(subject="no id")
    deliver(srv, ["alice"], plain)
    deliver(srv, ["alice"], plain)
    assert len(st.messages("user.alice")) == 4
    assert "duplicate suppressed" in srv.log()


def test_duplicate_suppression_off(lmtpd):
    srv = lmtpd(duplicatesuppression="no")
    srv.store.create("user.alice")
    msg = make_message(msgid="dup@example.net")
    deliver(srv, ["alice"], msg)
    deliver(srv, ["alice"], msg)
    assert len(srv.store.messages("user.alice")) == 2


# ---- single instance store -------------------------------------------------------

def _inodes(st, name):
    return [os.stat(r["path"]).st_ino for r in st.records(name)]


def test_single_instance_store(lmtpd):
    srv = lmtpd()
    st = srv.store
    st.create("user.a1", "user.a2", "user.a3")
    st.create("user.p2", partition="p2")
    msg = make_message(subject="sis", size=20000)
    rr, dr = deliver(srv, ["a1", "a2", "a3", "p2"], msg)
    assert dr == ["250 2.1.5"] * 4
    inos = [_inodes(st, n)[0] for n in ("user.a1", "user.a2", "user.a3")]
    assert len(set(inos)) == 1
    assert os.stat(st.records("user.a1")[0]["path"]).st_nlink == 3
    # another partition gets its own copy
    assert _inodes(st, "user.p2")[0] not in inos
    for n in ("user.a1", "user.a2", "user.a3", "user.p2"):
        assert client_part(st.messages(n)[0]) == msg


def test_single_instance_store_off(lmtpd):
    srv = lmtpd(singleinstancestore="no")
    st = srv.store
    st.create("user.a1", "user.a2")
    deliver(srv, ["a1", "a2"], make_message(size=5000))
    assert len(set(_inodes(st, "user.a1") + _inodes(st, "user.a2"))) == 2


# ---- message checks ---------------------------------------------------------------

def test_bad_messages_refused_for_every_recipient(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice", "user.bob")
    nul = make_message(body=b"a\x00b\r\n")
    assert deliver(srv, ["alice", "bob"], nul)[1] == ["554 5.6.0"] * 2
    bad = b"From: x@example.net\r\nthis is not a header\r\n\r\nbody\r\n"
    assert deliver(srv, ["alice"], bad)[1] == ["554 5.6.0"]
    assert srv.store.messages("user.alice") == []


def test_reject8bit(lmtpd):
    srv = lmtpd(reject8bit="yes")
    srv.store.create("user.alice")
    msg = make_message(extra="X-Test: caf\u00e9\r\n".encode("latin-1"))
    assert deliver(srv, ["alice"], msg)[1] == ["554 5.6.0"]


# ---- TLS and AUTH ---------------------------------------------------------------------

def test_auth_required_on_tcp_without_a(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice")
    with srv.raw("tcp") as c:
        greet(c)
        send(c, "MAIL FROM:<x@example.net>\r\n")
        code, lines = reply(c)
        assert code in (430, 530), lines
    # -a trusts the TCP client
    assert deliver(srv, ["alice"], make_message(), kind="atcp")[1] == ["250 2.1.5"]


def test_starttls_and_auth(lmtpd):
    srv = lmtpd()
    srv.store.create("user.alice")
    msg = make_message(subject="over tls")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtp(srv, "tcp") as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=ctx)
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("alice", "wrong")
        s.login("alice", "alicepw")
        assert s.sendmail("alice@example.net", ["alice"], msg) == {}
    stored = srv.store.messages("user.alice")
    assert len(stored) == 1 and client_part(stored[0]) == msg
    assert re.search(rb"with LMTPSA", stored[0]), stored[0][:300]
    assert "alicepw" not in srv.log()


# ---- crash safety ----------------------------------------------------------------

def _seq_of(stored):
    m = re.search(rb"^Subject: fault (\d+)\r$", stored, re.M)
    assert m, stored[:300]
    return int(m.group(1))


def test_sigkill_during_deliveries(lmtpd):
    """SIGKILL the lmtpd workers at random moments of a stream of
    deliveries: every message that got a 250 is in its mailbox exactly once,
    and every message there is whole (file, size, GUID and cache agree, and
    the content is what was sent)."""
    srv = lmtpd()
    st = srv.store
    users = ["alice", "bob", "carol"]
    st.create(*("user." + u for u in users))
    rnd = random.Random(4242)
    sent = {}
    acked = {u: set() for u in users}
    kills = []
    stop = threading.Event()

    def killer():
        krnd = random.Random(99)
        while len(kills) < 20 and not stop.is_set():
            time.sleep(krnd.uniform(0.05, 0.35))
            for pid in srv.m.workers("lmtpa"):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except OSError:
                    pass

    t = threading.Thread(target=killer)
    t.start()
    seq = 0
    deadline = time.monotonic() + 60
    try:
        while t.is_alive() and time.monotonic() < deadline:
            try:
                c = srv.raw("atcp", timeout=10)
            except OSError:
                time.sleep(0.01)
                continue
            try:
                greet(c)
                while True:
                    seq += 1
                    rcpts = users if seq % 3 == 0 else [users[seq % 2]]
                    msg = make_message(msgid="fault%d@example.net" % seq,
                                       subject="fault %d" % seq,
                                       size=rnd.choice([300, 4000, 40000, 200000]))
                    sent[seq] = msg
                    cmds = "MAIL FROM:<s@example.net>\r\n"
                    cmds += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n"
                    send(c, cmds)
                    assert reply(c)[0] == 250
                    ok = [r for r in rcpts if reply(c)[0] == 250]
                    assert reply(c)[0] == 354
                    send(c, lf.dot_stuff(msg))
                    for r in ok:
                        if reply(c)[0] == 250:
                            acked[r].add(seq)
            except (EOFError, OSError):
                pass
            finally:
                c.close()
    finally:
        stop.set()
        t.join()
    assert len(kills) >= 20
    total = sum(len(a) for a in acked.values())
    print("fault test: %d messages sent, %d acknowledged deliveries, %d kills"
          % (seq, total, len(kills)))
    assert total > 20, "too few deliveries got through: %d" % total
    for u in users:
        stored = st.messages("user." + u)      # each one checked whole
        seqs = [_seq_of(x) for x in stored]
        assert len(seqs) == len(set(seqs)), "a message stored twice in %s" % u
        missing = acked[u] - set(seqs)
        assert not missing, "acknowledged but not stored in %s: %s" % (u, sorted(missing))
        for x in stored:
            assert client_part(x) == sent[_seq_of(x)]
    # the mailboxes still take mail
    assert deliver(srv, users, make_message(subject="after"))[1] == ["250 2.1.5"] * 3
