"""Integration tests of pop3d (RFC 1939, 2449, 2595, 3206, 5034) under
master, with poplib and raw sockets as clients.  Mail is put into INBOXes
with tests/store_inject (see pop3_fixtures.py)."""

import base64
import os
import poplib
import shutil
import socket
import ssl
import time

import pytest

import util
from pop3_fixtures import (Pop3Env, RawPop3, plain_ir, pop3_login,
                           pop3_services)

MSG1 = (b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: one\r\n"
        b"\r\nfirst line\r\n.starts with a dot\r\n.\r\n..two dots\r\nlast\r\n")
MSG2 = b"Subject: two\r\n\r\nbody of two\r\n"
MSG3 = (b"Subject: three\r\nX-Long: yes\r\n\r\n" +
        b"".join(b"line %d\r\n" % i for i in range(1, 51)))


@pytest.fixture
def env():
    e = Pop3Env()
    yield e
    e.cleanup()


def start(master, env, plain=True, implicit=False, args="", **options):
    """master with pop3d; options go to imapd.conf (None removes one)."""
    return master(services=pop3_services(plain, implicit, args),
                  imapd_options=env.options(**options))


def port_of(m, name="pop3"):
    return [s for s in m.services if s.name == name][0].port


def plain_login(m, user="alice", password=None, env=None):
    """poplib client logged in without TLS (needs allowplaintext)."""
    c = poplib.POP3("127.0.0.1", port_of(m), timeout=10)
    c.user(user)
    c.pass_(password or env.users[user])
    return c


def err(excinfo):
    return excinfo.value.args[0].decode()


# ---- greeting, CAPA, STLS, plaintext policy --------------------------------

def test_greeting_and_capa_without_tls(master, env):
    m = start(master, env)
    c = RawPop3(port_of(m))
    assert c.greeting.startswith("+OK pop3.test ")
    assert c.cmd("CAPA").startswith("+OK")
    caps = c.multiline()
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                "STLS", "EXPIRE NEVER"):
        assert cap in caps
    # plaintext passwords are not allowed without TLS: no USER, and SASL
    # offers only what does not send the password in the clear
    assert "USER" not in caps
    assert "SASL CRAM-MD5" in caps
    assert not any(x.startswith("LOGIN-DELAY") for x in caps)
    assert not any(x.startswith("IMPLEMENTATION") for x in caps)
    assert c.cmd("QUIT").startswith("+OK")
    c.close()


def test_plaintext_refused_without_tls(master, env):
    m = start(master, env)
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    assert c.cmd("USER alice").startswith("-ERR [AUTH] ")
    assert c.cmd("PASS alicepw").startswith("-ERR [AUTH] ")
    assert c.cmd("AUTH PLAIN " + plain_ir("alice", "alicepw")).startswith("-ERR [AUTH] ")
    assert c.cmd("AUTH LOGIN").startswith("-ERR [AUTH] ")
    # not logged in
    assert c.cmd("STAT").startswith("-ERR")
    c.close()
    # poplib sees the same
    p = poplib.POP3("127.0.0.1", port_of(m), timeout=10)
    with pytest.raises(poplib.error_proto) as e:
        p.user("alice")
    assert err(e).startswith("-ERR [AUTH]")
    p.quit()


def test_capa_after_stls_and_login(master, env):
    m = start(master, env)
    env.create(m, "alice")
    p = poplib.POP3("127.0.0.1", port_of(m), timeout=10)
    assert "STLS" in p.capa()
    resp = p.stls(env.client_context())
    assert resp.startswith(b"+OK")
    caps = p.capa()
    assert "STLS" not in caps
    assert "USER" in caps
    assert set(caps["SASL"]) == {"PLAIN", "LOGIN", "CRAM-MD5"}
    p.user("alice")
    p.pass_("alicepw")
    caps = p.capa()
    assert "IMPLEMENTATION" in caps
    assert "USER" not in caps and "SASL" not in caps and "STLS" not in caps
    assert "TOP" in caps and "UIDL" in caps
    p.quit()


def test_stls_then_user_pass(master, env):
    m = start(master, env)
    env.create(m, "alice")
    env.append(m, "alice", MSG2)
    p = pop3_login(port_of(m), "alice", "alicepw", ctx=env.client_context())
    assert p.stat() == (1, len(MSG2))
    assert p.quit().startswith(b"+OK")
    log = m.read_log()
    assert "login: user=<alice>" in log and "tls=<1>" in log


def test_stls_errors(master, env):
    m = start(master, env)
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    assert c.cmd("STLS extra").startswith("-ERR")
    c.starttls(env.client_context())
    # a second STLS is refused, the session goes on
    assert c.cmd("STLS").startswith("-ERR")
    assert c.cmd("USER alice").startswith("+OK")
    assert c.cmd("PASS alicepw").startswith("+OK")
    assert c.cmd("STLS").startswith("-ERR")
    assert c.cmd("QUIT").startswith("+OK")
    c.close()


def test_no_stls_without_certificate(master, env):
    m = start(master, env, tls_server_cert=None, tls_server_key=None,
              allowplaintext="yes")
    c = RawPop3(port_of(m))
    c.cmd("CAPA")
    caps = c.multiline()
    assert "STLS" not in caps and "USER" in caps
    assert c.cmd("STLS").startswith("-ERR")
    c.close()


def test_tls_required(master, env):
    m = start(master, env, allowplaintext="yes", tls_required="yes")
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    c.cmd("CAPA")
    caps = c.multiline()
    assert "USER" not in caps and not any(x.startswith("SASL") for x in caps)
    assert c.cmd("USER alice").startswith("-ERR [AUTH]")
    assert c.cmd("AUTH CRAM-MD5").startswith("-ERR [AUTH]")
    c.starttls(env.client_context())
    assert c.cmd("USER alice").startswith("+OK")
    assert c.cmd("PASS alicepw").startswith("+OK")
    c.close()


def test_implicit_tls_listener(master, env):
    m = start(master, env, plain=False, implicit=True)
    env.create(m, "alice")
    env.append(m, "alice", MSG1)
    port = port_of(m, "pop3s")
    # the first bytes are a TLS handshake, not a greeting
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"CAPA\r\n")
        data = b""
        try:
            data = s.recv(100)
        except OSError:
            pass
        assert not data.startswith(b"+OK")
    p = pop3_login(port, "alice", "alicepw", ctx=env.client_context(), implicit=True)
    assert p.getwelcome().startswith(b"+OK")
    assert "STLS" not in p.capa()
    assert p.stat() == (1, len(MSG1))
    p.quit()


def test_implicit_tls_needs_certificate(master, env):
    # without a certificate the -s service cannot start: master logs its
    # failure, the plain service still works
    m = start(master, env, plain=True, implicit=True, tls_server_cert=None,
              tls_server_key=None, allowplaintext="yes")
    m.wait_log(r"TLS unavailable: service=<pop3s>")
    c = RawPop3(port_of(m))
    assert c.greeting.startswith("+OK")
    c.close()


# ---- USER/PASS and AUTH ----------------------------------------------------

def test_user_pass_ok_and_wrong(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    assert c.cmd("PASS alicepw").startswith("-ERR [AUTH]")        # no USER yet
    assert c.cmd("USER").startswith("-ERR")                       # no name
    assert c.cmd("USER al ice").startswith("-ERR [AUTH]")         # bad name
    assert c.cmd("USER alice").startswith("+OK")
    assert c.cmd("PASS wrong").startswith("-ERR [AUTH]")
    # after a failure USER must come again
    assert c.cmd("PASS alicepw").startswith("-ERR [AUTH]")
    assert c.cmd("USER nosuchuser").startswith("+OK")             # no probing
    assert c.cmd("PASS x").startswith("-ERR [AUTH]")
    assert c.cmd("USER alice").startswith("+OK")
    assert c.cmd("PASS alicepw").startswith("+OK")
    assert c.cmd("STAT") == "+OK 0 0"
    c.close()
    assert "badlogin" in m.read_log()


def test_password_with_blanks(master, env):
    env2 = Pop3Env(users={"alice": "two words "})
    try:
        m = start(master, env2, allowplaintext="yes")
        env2.create(m, "alice")
        c = RawPop3(port_of(m))
        assert c.cmd("USER alice").startswith("+OK")
        assert c.cmd("PASS two words").startswith("-ERR [AUTH]")
        assert c.cmd("USER alice").startswith("+OK")
        assert c.cmd("PASS two words ").startswith("+OK")
        c.close()
    finally:
        env2.cleanup()


def test_auth_plain_initial_response(master, env):
    m = start(master, env)
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    c.starttls(env.client_context())
    assert c.cmd("AUTH PLAIN " + plain_ir("alice", "wrong")).startswith("-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN " + plain_ir("alice", "alicepw")).startswith("+OK")
    assert c.cmd("STAT") == "+OK 0 0"
    assert c.cmd("AUTH PLAIN x").startswith("-ERR")               # wrong state
    c.close()


def test_auth_plain_continuation(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "bob")
    c = RawPop3(port_of(m))
    resp = c.cmd("AUTH PLAIN")
    assert resp.startswith("+ "), resp
    assert c.cmd(plain_ir("bob", "bobpw")).startswith("+OK")
    assert c.cmd("STAT") == "+OK 0 0"
    c.close()


def test_auth_login_and_empty_initial_response(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "bob")
    c = RawPop3(port_of(m))
    # PLAIN with an empty initial response ("=") is a bad response
    assert c.cmd("AUTH PLAIN =").startswith("-ERR [AUTH]")
    # LOGIN: two challenges
    assert c.cmd("AUTH LOGIN").startswith("+ ")
    assert c.cmd(base64.b64encode(b"bob").decode()).startswith("+ ")
    assert c.cmd(base64.b64encode(b"bobpw").decode()).startswith("+OK")
    c.close()


def test_auth_cancel_and_errors(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    c = RawPop3(port_of(m))
    assert c.cmd("AUTH PLAIN").startswith("+ ")
    assert c.cmd("*").startswith("-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN").startswith("+ ")
    assert c.cmd("!!not base64!!").startswith("-ERR [AUTH]")
    assert c.cmd("AUTH NO-SUCH-MECH").startswith("-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN a b").startswith("-ERR")
    # the mechanism list (old discovery form)
    assert c.cmd("AUTH").startswith("+OK")
    assert set(c.multiline()) == {"PLAIN", "LOGIN", "CRAM-MD5"}
    # still able to log in afterwards
    assert c.cmd("AUTH PLAIN " + plain_ir("alice", "alicepw")).startswith("+OK")
    c.close()


def test_auth_proxy_authorization(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG2)
    c = RawPop3(port_of(m))
    # bob may not act as alice
    assert c.cmd("AUTH PLAIN " + plain_ir("bob", "bobpw", "alice")).startswith("-ERR [AUTH]")
    # a proxyservers identity may
    assert c.cmd("AUTH PLAIN " + plain_ir("proxy", "proxypw", "alice")).startswith("+OK")
    assert c.cmd("STAT") == "+OK 1 %d" % len(MSG2)
    c.close()


def test_missing_inbox_and_broken_mailbox(master, env):
    m = start(master, env, allowplaintext="yes")
    with pytest.raises(poplib.error_proto) as e:
        plain_login(m, "carol", env=env)
    assert err(e).startswith("-ERR [SYS/PERM]")
    # a mailbox whose directory has gone: a temporary failure
    env.create(m, "dave")
    shutil.rmtree(os.path.join(env.spool, "user", "dave"))
    with pytest.raises(poplib.error_proto) as e:
        plain_login(m, "dave", env=env)
    assert err(e).startswith("-ERR [SYS/TEMP]")
    # the session is still in AUTHORIZATION and may try again
    c = RawPop3(port_of(m))
    assert c.cmd("USER carol").startswith("+OK")
    assert c.cmd("PASS carolpw").startswith("-ERR [SYS/PERM]")
    env.create(m, "carol")
    assert c.cmd("USER carol").startswith("+OK")
    assert c.cmd("PASS carolpw").startswith("+OK")
    c.close()


# ---- the maildrop ----------------------------------------------------------

def test_stat_list_uidl(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    uv, u1 = env.append_full(m, "alice", MSG1)
    u2, u3 = env.append(m, "alice", MSG2, MSG3)
    p = plain_login(m, env=env)
    assert p.stat() == (3, len(MSG1) + len(MSG2) + len(MSG3))
    resp, lines, _ = p.list()
    assert resp.startswith(b"+OK")
    assert lines == [b"1 %d" % len(MSG1), b"2 %d" % len(MSG2), b"3 %d" % len(MSG3)]
    assert p.list(2) == b"+OK 2 %d" % len(MSG2)
    resp, lines, _ = p.uidl()
    assert lines == [b"1 %d.%d" % (uv, u1), b"2 %d.%d" % (uv, u2),
                     b"3 %d.%d" % (uv, u3)]
    assert p.uidl(3) == b"+OK 3 %d.%d" % (uv, u3)
    assert p.noop().startswith(b"+OK")
    p.quit()


def test_retr_exact_with_dot_stuffing(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1, b"Subject: bare\n\nlf only\n.x\nno end")
    c = RawPop3(port_of(m))
    c.cmd("USER alice")
    assert c.cmd("PASS alicepw").startswith("+OK")
    assert c.cmd("RETR 1") == "+OK %d octets" % len(MSG1)
    raw = c.raw_until_dot()
    stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l)
                           for l in MSG1.split(b"\r\n"))
    assert raw == stuffed + b".\r\n"
    # bare LFs become CRLF, a missing last line end is added
    assert c.cmd("RETR 2").startswith("+OK")
    assert c.raw_until_dot() == b"Subject: bare\r\n\r\nlf only\r\n..x\r\nno end\r\n.\r\n"
    c.close()
    # poplib undoes the stuffing: the lines are the message's
    p = plain_login(m, env=env)
    resp, lines, octets = p.retr(1)
    assert lines == MSG1.split(b"\r\n")[:-1]
    p.quit()


def test_top(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG3, MSG1)
    p = plain_login(m, env=env)
    resp, lines, _ = p.top(1, 0)
    assert lines == [b"Subject: three", b"X-Long: yes", b""]
    resp, lines, _ = p.top(1, 3)
    assert lines == [b"Subject: three", b"X-Long: yes", b"", b"line 1", b"line 2",
                     b"line 3"]
    resp, lines, _ = p.top(1, 1000)
    assert len(lines) == 3 + 50
    resp, lines, _ = p.top(2, 2)
    assert lines[-2:] == [b"first line", b".starts with a dot"]
    p.quit()


def test_dele_rset(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1, MSG2, MSG3)
    p = plain_login(m, env=env)
    assert p.dele(2).startswith(b"+OK")
    assert p.stat() == (2, len(MSG1) + len(MSG3))
    assert [l.split()[0] for l in p.list()[1]] == [b"1", b"3"]
    assert [l.split()[0] for l in p.uidl()[1]] == [b"1", b"3"]
    for call in (lambda: p.dele(2), lambda: p.retr(2), lambda: p.list(2),
                 lambda: p.top(2, 0), lambda: p.uidl(2)):
        with pytest.raises(poplib.error_proto):
            call()
    assert p.rset().startswith(b"+OK")
    assert p.stat() == (3, len(MSG1) + len(MSG2) + len(MSG3))
    assert p.retr(2)[1] == [b"Subject: two", b"", b"body of two"]
    p.quit()
    assert len(env.listing(m, "alice")) == 3


def test_dele_quit_expunges(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    uids = env.append(m, "alice", MSG1, MSG2, MSG3)
    p = plain_login(m, env=env)
    p.dele(1)
    p.dele(3)
    resp = p.quit()
    assert resp.startswith(b"+OK") and b"1 message left" in resp
    # the QUIT answer came after the expunge: the store shows it at once
    assert list(env.listing(m, "alice")) == [uids[1]]
    p = plain_login(m, env=env)
    assert p.stat() == (1, len(MSG2))
    assert p.retr(1)[1] == [b"Subject: two", b"", b"body of two"]
    p.dele(1)
    assert b"maildrop empty" in p.quit()
    assert env.listing(m, "alice") == {}


def test_drop_without_quit_expunges_nothing(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1, MSG2)
    c = RawPop3(port_of(m))
    c.cmd("USER alice")
    assert c.cmd("PASS alicepw").startswith("+OK")
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELE 2").startswith("+OK")
    c.close()
    time.sleep(0.2)
    assert len(env.listing(m, "alice")) == 2
    p = plain_login(m, env=env)
    assert p.stat()[0] == 2
    p.quit()


def test_uidl_stable_across_sessions(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1, MSG2, MSG3)
    p = plain_login(m, env=env)
    first = dict(l.split() for l in p.uidl()[1])
    p.dele(1)
    p.quit()
    p = plain_login(m, env=env)
    second = dict(l.split() for l in p.uidl()[1])
    p.quit()
    # numbers shift, ids do not
    assert second == {b"1": first[b"2"], b"2": first[b"3"]}
    assert len(set(first.values())) == 3


def test_new_mail_during_session_not_visible(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1)
    p = plain_login(m, env=env)
    assert p.stat() == (1, len(MSG1))
    # delivery while the session is open is not blocked by it
    env.append(m, "alice", MSG2)
    assert p.stat() == (1, len(MSG1))
    assert len(p.list()[1]) == 1
    with pytest.raises(poplib.error_proto):
        p.retr(2)
    p.dele(1)
    p.quit()
    p = plain_login(m, env=env)
    assert p.stat() == (1, len(MSG2))
    p.quit()


def test_message_expunged_by_another_session(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    uids = env.append(m, "alice", MSG1, MSG2)
    p = plain_login(m, env=env)
    env.expunge(m, "alice", uids[0])
    assert p.stat() == (2, len(MSG1) + len(MSG2))    # numbering is fixed
    with pytest.raises(poplib.error_proto) as e:
        p.retr(1)
    assert err(e).startswith("-ERR")
    with pytest.raises(poplib.error_proto):
        p.top(1, 0)
    assert p.retr(2)[1][0] == b"Subject: two"
    p.dele(1)                                       # already gone: harmless
    assert p.quit().startswith(b"+OK")
    assert list(env.listing(m, "alice")) == [uids[1]]


def test_popuseimapflags(master, env):
    m = start(master, env, allowplaintext="yes", popuseimapflags="yes")
    env.create(m, "alice")
    uids = env.append(m, "alice", MSG1, MSG2, MSG3)
    p = plain_login(m, env=env)
    p.retr(1)
    p.top(2, 0)
    p.retr(3)
    p.dele(3)
    p.quit()
    listing = env.listing(m, "alice")
    assert listing[uids[0]][1] == {"seen"}       # RETR: \Seen at QUIT
    assert listing[uids[1]][1] == set()          # TOP does not set it
    assert uids[2] not in listing
    # without QUIT nothing is set
    c = RawPop3(port_of(m))
    c.cmd("USER alice")
    c.cmd("PASS alicepw")
    c.cmd("RETR 2")
    c.raw_until_dot()
    c.close()
    time.sleep(0.2)
    assert env.listing(m, "alice")[uids[1]][1] == set()


def test_popuseacl(master, env):
    m = start(master, env, allowplaintext="yes", popuseacl="yes")
    env.create(m, "alice")
    env.create(m, "bob")
    env.append(m, "alice", MSG1)
    env.append(m, "bob", MSG2)
    # without t, DELE is refused
    env.inject(m, "setacl", "alice", "alice", "-t")
    p = plain_login(m, env=env)
    with pytest.raises(poplib.error_proto) as e:
        p.dele(1)
    assert err(e).startswith("-ERR [SYS/PERM]")
    assert p.retr(1)[1][0].startswith(b"From:")
    p.quit()
    assert len(env.listing(m, "alice")) == 1
    # without r, no login at all
    env.inject(m, "setacl", "bob", "bob", "-r")
    with pytest.raises(poplib.error_proto) as e:
        plain_login(m, "bob", env=env)
    assert err(e).startswith("-ERR [SYS/PERM]")


def test_large_message_over_tls(master, env):
    m = start(master, env)
    env.create(m, "alice")
    body = b"".join(b"%06d .%s\r\n" % (i, b"x" * (i % 97)) for i in range(20000))
    big = b"Subject: big\r\n\r\n" + body + b".\r\n"
    env.append(m, "alice", big)
    p = pop3_login(port_of(m), "alice", "alicepw", ctx=env.client_context())
    assert p.list(1) == b"+OK 1 %d" % len(big)
    resp, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == big
    p.quit()


# ---- wrong state, bad arguments ------------------------------------------

def test_commands_in_wrong_state(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1)
    c = RawPop3(port_of(m))
    for cmd in ("STAT", "LIST", "RETR 1", "TOP 1 1", "DELE 1", "RSET", "UIDL",
                "NOOP"):
        assert c.cmd(cmd).startswith("-ERR"), cmd
    c.cmd("USER alice")
    assert c.cmd("PASS alicepw").startswith("+OK")
    for cmd in ("USER alice", "PASS alicepw", "AUTH PLAIN", "STLS"):
        assert c.cmd(cmd).startswith("-ERR"), cmd
    assert c.cmd("STAT") == "+OK 1 %d" % len(MSG1)
    c.close()
    # QUIT before login just ends the session
    c = RawPop3(port_of(m))
    assert c.cmd("QUIT").startswith("+OK")
    with pytest.raises(EOFError):
        c.readline()
    c.close()


def test_bad_arguments(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG1, MSG2)
    c = RawPop3(port_of(m))
    assert c.cmd("FOO").startswith("-ERR")
    assert c.cmd("").startswith("-ERR")
    assert c.cmd("CAPA x").startswith("-ERR")
    c.cmd("USER alice")
    assert c.cmd("PASS alicepw").startswith("+OK")
    for cmd in ("RETR", "RETR abc", "RETR 0", "RETR 3", "RETR -1", "RETR +1",
                "RETR 1 2", "RETR 99999999999", "LIST x", "LIST 1 2", "LIST 0",
                "TOP 1", "TOP 1 x", "TOP x 1", "TOP 1 -1", "TOP 1 2 3", "TOP 9 1",
                "DELE", "DELE 3", "UIDL 0", "UIDL 1 1", "STAT 1", "NOOP x",
                "RSET x", "QUIT x", "XYZZY"):
        assert c.cmd(cmd).startswith("-ERR"), cmd
    # lower case and extra blanks are accepted
    assert c.cmd("list  1 ") == "+OK 1 %d" % len(MSG1)
    # an over-long line is refused and the session goes on
    c.send("NOOP " + "x" * 10000)
    assert c.readline().startswith("-ERR")
    assert c.cmd("NOOP").startswith("+OK")
    assert c.cmd("STAT") == "+OK 2 %d" % (len(MSG1) + len(MSG2))
    c.close()


def test_pipelining(master, env):
    m = start(master, env, allowplaintext="yes")
    env.create(m, "alice")
    env.append(m, "alice", MSG2)
    c = RawPop3(port_of(m))
    c.sock.sendall(b"USER alice\r\nPASS alicepw\r\nSTAT\r\nRETR 1\r\nDELE 1\r\n"
                   b"NOOP\r\nQUIT\r\n")
    assert c.readline().startswith("+OK")
    assert c.readline().startswith("+OK")
    assert c.readline() == "+OK 1 %d" % len(MSG2)
    assert c.readline().startswith("+OK")
    assert c.multiline() == ["Subject: two", "", "body of two"]
    assert c.readline().startswith("+OK")
    assert c.readline().startswith("+OK")
    assert c.readline().startswith("+OK")
    with pytest.raises(EOFError):
        c.readline()
    c.close()
    assert env.listing(m, "alice") == {}


# ---- popminpoll --------------------------------------------------------------

def test_popminpoll(master, env):
    m = start(master, env, allowplaintext="yes", popminpoll="1")
    env.create(m, "alice")
    env.create(m, "bob")
    c = RawPop3(port_of(m))
    c.cmd("CAPA")
    assert "LOGIN-DELAY 60" in c.multiline()
    c.close()
    p = plain_login(m, env=env)
    p.quit()
    with pytest.raises(poplib.error_proto) as e:
        plain_login(m, env=env)
    assert err(e).startswith("-ERR [LOGIN-DELAY]")
    # the refusal does not spoil the session: another user may log in
    c = RawPop3(port_of(m))
    c.cmd("USER alice")
    assert c.cmd("PASS alicepw").startswith("-ERR [LOGIN-DELAY]")
    c.cmd("USER bob")
    assert c.cmd("PASS bobpw").startswith("+OK")
    c.close()
    # the record is where the man page says
    assert os.path.exists(os.path.join(m.dir, "conf", "user", "a", "alice.pop3"))


def test_poppollpadding(master, env):
    m = start(master, env, allowplaintext="yes", popminpoll="10", poppollpadding="2")
    env.create(m, "alice")
    plain_login(m, env=env).quit()
    plain_login(m, env=env).quit()
    with pytest.raises(poplib.error_proto) as e:
        plain_login(m, env=env)
    assert err(e).startswith("-ERR [LOGIN-DELAY] Logins must be at least 10 minutes")
