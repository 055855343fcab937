"""Integration tests of the LMTP engine (lmtp/lmtpengine.c) under master,
with the test daemon lmtp/lmtptestd (fake delivery into an outbox directory,
per-recipient results chosen by the local part: see lmtp/lmtptestd.c).

Clients: smtplib.LMTP, and a raw socket where smtplib cannot look
(pipelining, one reply per recipient after DATA)."""

import base64
import glob
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from util import LineClient, Service, ensure_service_user, is_root

SERVERNAME = "lmtp.test"
USERS = {"alice": "alicepw", "deniedbob": "bobpw"}


# ---- fixtures -------------------------------------------------------------

@pytest.fixture(scope="module")
def assets():
    """A directory the service user can read: a self-signed certificate and
    a sasldb with USERS (realm SERVERNAME); unix sockets go there too."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.access(saslpasswd2, os.X_OK):
        pytest.skip("saslpasswd2 not installed (sasl2-bin)")
    d = tempfile.mkdtemp(prefix="lmtp-assets-")
    os.chmod(d, 0o755)
    cert, key, db = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "sasldb2"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    for user, pw in USERS.items():
        subprocess.run([saslpasswd2, "-f", db, "-u", SERVERNAME, "-p", "-c", user],
                       input=pw.encode(), check=True, capture_output=True)
    if is_root():
        pw = ensure_service_user()
        for n in os.listdir(d):
            os.chown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Lmtp:
    """A master running lmtptestd on TCP (and a unix socket)."""

    def __init__(self, m, tcp, sock):
        self.m = m
        self.port = tcp.port
        self.sock = sock

    @property
    def outbox(self):
        return self.m.path("conf/lmtptestd")

    def delivered(self, addr):
        """Delivered .eml files for addr, oldest first, as (bytes, env dict)."""
        out = []
        for p in sorted(glob.glob(os.path.join(self.outbox, addr, "*.eml")),
                        key=os.path.getmtime):
            with open(p, "rb") as f:
                data = f.read()
            env = {}
            with open(p[:-4] + ".env") as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    env[k] = v
            out.append((data, env))
        return out

    def raw(self, unix=False, timeout=10.0):
        c = LineClient(path=self.sock) if unix else LineClient(self.port)
        c.sock.settimeout(timeout)
        return c

    def smtp(self, unix=False):
        if unix:
            return smtplib.LMTP(self.sock, timeout=10)
        return smtplib.LMTP("127.0.0.1", self.port, timeout=10)


_sock_counter = [0]


@pytest.fixture
def lmtp(master, assets):
    """lmtp(args="", **imapd_options) -> Lmtp"""
    def start(args="", **options):
        _sock_counter[0] += 1
        sock = os.path.join(assets, "lmtp%d.sock" % _sock_counter[0])
        tcp = Service("lmtp", ("lmtptestd -t 10 " + args).strip(), prefork=1)
        unix = Service("lmtpunix", "lmtptestd -t 10", listen=sock, prefork=0)
        imapd = {
            "servername": SERVERNAME,
            "tls_server_cert": os.path.join(assets, "cert.pem"),
            "tls_server_key": os.path.join(assets, "key.pem"),
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": os.path.join(assets, "sasldb2"),
            "sasl_mech_list": "PLAIN LOGIN",
        }
        imapd.update(options)
        m = master(services=[tcp, unix], imapd_options=imapd)
        return Lmtp(m, tcp, sock)
    return start


# ---- raw protocol helpers -------------------------------------------------

def reply(c):
    """One (possibly multi-line) reply: (code, [lines])."""
    lines = []
    while True:
        line = c.readline()
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return int(line[:3]), lines


def expect(c, code, enhanced=None):
    got, lines = reply(c)
    assert got == code, lines
    if enhanced:
        assert lines[-1][4:].startswith(enhanced + " "), lines
    return lines


def send(c, data):
    c.sock.sendall(data if isinstance(data, bytes) else data.encode())


def message_part(data):
    """The client's message in a delivered file: after our two trace lines."""
    assert data.startswith(b"Return-Path: <")
    rest = data.split(b"\r\n", 1)[1]
    assert rest.startswith(b"Received: from ")
    # the Received field is folded over three lines
    lines = rest.split(b"\r\n")
    i = 1
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def caps_of(lines):
    return [l[4:] for l in lines[1:]]


# ---- tests ----------------------------------------------------------------

def test_lhlo_capabilities(lmtp):
    s = lmtp(maxmessagesize="1M")
    with s.raw() as c:
        code, lines = reply(c)
        assert code == 220 and lines[0].startswith("220 %s LMTP" % SERVERNAME)
        send(c, "LHLO client.example\r\n")
        lines = expect(c, 250)
        assert lines[0] == "250-" + SERVERNAME
        caps = caps_of(lines)
        for cap in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 1048576",
                    "STARTTLS", "IGNOREQUOTA"):
            assert cap in caps, caps
        # PLAIN and LOGIN are not offered in clear (allowplaintext: no)
        assert not [x for x in caps if x.startswith("AUTH")], caps


def test_delivery_on_unix_socket_is_trusted(lmtp):
    s = lmtp()
    msg = b"From: a@example.org\r\nSubject: hello\r\n\r\nHi there.\r\n"
    with s.smtp(unix=True) as cl:
        refused = cl.sendmail("sender@example.org", ["alice@lmtp.test"], msg)
        assert refused == {}
    (data, env), = s.delivered("alice@lmtp.test")
    assert data.startswith(b"Return-Path: <sender@example.org>\r\nReceived: from ")
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    assert "(unix socket)" in head
    assert "by %s (Cyrus-style murder) with LMTP\r\n" % SERVERNAME in head
    assert "\tid %s; " % env["id"] in head
    assert message_part(data) == msg
    assert env["trusted"] == "1" and env["userid"] == "" and env["tls"] == "0"
    assert env["return_path"] == "sender@example.org"
    assert int(env["size"]) == len(msg)
    assert int(env["msg_offset"]) == len(data) - len(msg)
    assert data[int(env["body_offset"]):] == b"Hi there.\r\n"
    assert data[int(env["received_offset"]):].startswith(b"Received: ")


def test_pipelined_transaction_replies_in_rcpt_order(lmtp):
    s = lmtp()
    rcpts = ["ok1@x", "unknown@x", "fail4xx@x", "overquota@x", "reserved@x",
             "fail5xx@x", "ok2@x"]
    with s.raw(unix=True) as c:
        expect(c, 220)
        # the whole envelope and DATA in one packet
        send(c, "LHLO mta.example\r\nMAIL FROM:<bounce@example.org>\r\n"
             + "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n")
        expect(c, 250)
        expect(c, 250, "2.1.0")
        expect(c, 250, "2.1.5")          # ok1
        expect(c, 550, "5.1.1")          # unknown
        expect(c, 250, "2.1.5")          # fail4xx (fails after DATA)
        expect(c, 250, "2.1.5")          # overquota
        expect(c, 450, "4.2.1")          # reserved
        expect(c, 250, "2.1.5")          # fail5xx
        expect(c, 250, "2.1.5")          # ok2
        expect(c, 354)
        send(c, "Subject: mixed\r\n\r\nbody\r\n.\r\n")
        # one reply per accepted recipient, in RCPT order
        expect(c, 250, "2.1.5")          # ok1
        expect(c, 451, "4.3.0")          # fail4xx
        expect(c, 452, "4.2.2")          # overquota
        expect(c, 554, "5.3.0")          # fail5xx
        expect(c, 250, "2.1.5")          # ok2
        send(c, "QUIT\r\n")
        expect(c, 221)
    assert len(s.delivered("ok1@x")) == 1
    assert len(s.delivered("ok2@x")) == 1
    for r in ("fail4xx@x", "overquota@x", "fail5xx@x", "unknown@x", "reserved@x"):
        assert s.delivered(r) == []
    (_, env), = s.delivered("ok1@x")
    assert env["nrcpts"] == "5"


def test_dot_unstuffing_and_line_ends(lmtp):
    s = lmtp()
    with s.raw(unix=True) as c:
        expect(c, 220)
        send(c, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob>\r\nDATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 250)
        expect(c, 354)
        send(c, b"Subject: dots\r\n\r\n..leading dot\r\n...\r\nbare lf\nlast\r\n.\r\n")
        expect(c, 250, "2.1.5")
    (data, env), = s.delivered("bob")
    assert message_part(data) == \
        b"Subject: dots\r\n\r\n.leading dot\r\n..\r\nbare lf\r\nlast\r\n"
    assert env["bare_lf"] == "1"
    assert env["has_separator"] == "1"


def test_ignorequota_and_8bit(lmtp):
    s = lmtp()
    with s.raw(unix=True) as c:
        expect(c, 220)
        send(c, "LHLO x\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\n"
             "RCPT TO:<overquota@x> IGNOREQUOTA\r\nDATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 250)
        expect(c, 354)
        send(c, "Subject: caf\u00e9\r\n\r\nna\u00efve\r\n.\r\n".encode("utf-8"))
        expect(c, 250, "2.1.5")
    (data, env), = s.delivered("overquota@x")
    assert env["ignorequota"] == "1" and env["body"] == "8BITMIME"
    assert env["header_8bit"] == "2" and env["body_8bit"] == "2"
    # munge8bit (default on): 8-bit header bytes are written as 'X'
    assert message_part(data) == "Subject: cafXX\r\n\r\nna\u00efve\r\n".encode("utf-8")


def test_message_with_nul_refused_by_the_caller(lmtp):
    s = lmtp()
    with s.raw(unix=True) as c:
        expect(c, 220)
        send(c, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<n1>\r\nRCPT TO:<n2>\r\nDATA\r\n")
        for _ in range(4):
            expect(c, 250)
        expect(c, 354)
        send(c, b"Subject: x\r\n\r\nnul \x00 here\r\n.\r\n")
        expect(c, 554, "5.6.0")
        expect(c, 554, "5.6.0")
    assert s.delivered("n1") == [] and s.delivered("n2") == []


def test_size_limits(lmtp):
    s = lmtp(maxmessagesize="1000")
    with s.raw(unix=True) as c:
        expect(c, 220)
        send(c, "LHLO x\r\n")
        assert "SIZE 1000" in caps_of(expect(c, 250))
        # refused up front by SIZE=
        send(c, "MAIL FROM:<a@b> SIZE=1001\r\n")
        expect(c, 552, "5.3.4")
        # announced small, but too big: one 552 per recipient after DATA
        send(c, "MAIL FROM:<a@b> SIZE=500\r\nRCPT TO:<big1>\r\nRCPT TO:<big2>\r\n"
             "DATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 250)
        expect(c, 354)
        send(c, b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 30 + b".\r\n")
        expect(c, 552, "5.3.4")
        expect(c, 552, "5.3.4")
        # the session is still in step: a small message goes through
        send(c, "MAIL FROM:<a@b>\r\nRCPT TO:<small>\r\nDATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 354)
        send(c, b"Subject: small\r\n\r\nok\r\n.\r\n")
        expect(c, 250)
    assert s.delivered("big1") == [] and s.delivered("big2") == []
    assert len(s.delivered("small")) == 1


def test_large_message_is_streamed(lmtp):
    s = lmtp()
    # smtplib stuffs the dots; lines starting with "." come back as sent
    body = b"".join((b"." if i % 10 == 0 else b"") + b"line %07d of a big message\r\n" % i
                    for i in range(150000))
    with s.smtp(unix=True) as cl:
        assert cl.sendmail("a@b", ["big"], b"Subject: big\r\n\r\n" + body) == {}
    (data, env), = s.delivered("big")
    assert message_part(data) == b"Subject: big\r\n\r\n" + body
    assert int(env["size"]) == len(b"Subject: big\r\n\r\n" + body) > 4000000


def test_rset_noop_vrfy_and_errors(lmtp):
    s = lmtp()
    with s.raw(unix=True) as c:
        expect(c, 220)
        send(c, "MAIL FROM:<a@b>\r\n")
        expect(c, 503, "5.5.1")            # before LHLO
        send(c, "HELO x\r\n")
        expect(c, 500, "5.5.1")
        send(c, "LHLO x\r\n")
        expect(c, 250)
        send(c, "NOOP\r\nVRFY alice\r\nFROB\r\n")
        expect(c, 250, "2.0.0")
        expect(c, 252, "2.3.3")
        expect(c, 500, "5.5.1")
        send(c, "RCPT TO:<a>\r\nDATA\r\n")   # out of sequence
        expect(c, 503, "5.5.1")
        expect(c, 503, "5.5.1")
        send(c, "MAIL FROM:a@b\r\nMAIL FROM <a@b>\r\nMAIL FROM:<a@b> XYZ=1\r\n")
        expect(c, 501)
        expect(c, 501)
        expect(c, 555, "5.5.4")
        send(c, "MAIL FROM:<a@b>\r\nRCPT TO:<r1>\r\nRSET\r\nDATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 250, "2.0.0")
        expect(c, 503, "5.5.1")            # RSET dropped the transaction
        send(c, "NOOP " + "x" * 20000 + "\r\nNOOP\r\n")
        expect(c, 500, "5.5.2")            # line too long
        expect(c, 250)
        send(c, "QUIT\r\n")
        expect(c, 221, "2.0.0")
    assert not os.path.exists(os.path.join(s.outbox, "r1"))


def test_unauthenticated_tcp_refused(lmtp):
    s = lmtp()
    with s.raw() as c:
        expect(c, 220)
        send(c, "LHLO x\r\nMAIL FROM:<a@b>\r\n")
        expect(c, 250)
        expect(c, 430, "4.7.0")            # soft_noauth (default yes)
    s.m.stop()
    s = lmtp(soft_noauth="no")
    with s.smtp() as cl:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            cl.sendmail("a@b", ["alice"], b"Subject: x\r\n\r\nx\r\n")
        assert e.value.smtp_code == 530
    assert s.delivered("alice") == []


def test_preauth_flag_trusts_tcp(lmtp):
    s = lmtp(args="-a")
    with s.smtp() as cl:
        assert cl.sendmail("a@b", ["carol"], b"Subject: x\r\n\r\nx\r\n") == {}
    (data, env), = s.delivered("carol")
    assert env["trusted"] == "1"
    assert b"Received: from " in data and b"([127.0.0.1])" in data


def _tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_starttls_and_auth_plain(lmtp):
    s = lmtp()
    with s.smtp() as cl:
        cl.ehlo("client.example")
        # PLAIN in clear is refused
        code, text = cl.docmd("AUTH", "PLAIN AGFsaWNlAGFsaWNlcHc=")
        assert code == 538, text
        assert cl.starttls(context=_tls_context())[0] == 220
        cl.ehlo("client.example")
        assert "PLAIN" in cl.esmtp_features.get("auth", ""), cl.esmtp_features
        assert "starttls" not in cl.esmtp_features
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            cl.login("alice", "wrong")
        assert e.value.smtp_code == 535
        assert cl.login("alice", USERS["alice"])[0] == 235
        code, text = cl.docmd("AUTH", "PLAIN AGFsaWNlAGFsaWNlcHc=")
        assert code == 503                  # already authenticated
        assert cl.sendmail("a@b", ["dave"], b"Subject: tls\r\n\r\nsecret\r\n") == {}
    (data, env), = s.delivered("dave")
    assert env["userid"] == "alice" and env["tls"] == "1" and env["trusted"] == "0"
    assert b"(Cyrus-style murder) with LMTPSA\r\n" in data
    assert b"from client.example ([127.0.0.1])" in data


def test_auth_plain_with_initial_response_and_challenge(lmtp):
    s = lmtp(allowplaintext="yes")
    with s.raw() as c:
        expect(c, 220)
        send(c, "LHLO x\r\n")
        caps = caps_of(expect(c, 250))
        assert "AUTH PLAIN LOGIN" in caps or "AUTH LOGIN PLAIN" in caps, caps
        # the challenge path: empty "334 " then the response
        send(c, "AUTH PLAIN\r\n")
        assert c.readline() == "334 "
        send(c, base64.b64encode(b"\0alice\0alicepw").decode() + "\r\n")
        expect(c, 235, "2.7.0")
        send(c, "MAIL FROM:<a@b>\r\nRCPT TO:<erin>\r\nDATA\r\n")
        expect(c, 250)
        expect(c, 250)
        expect(c, 354)
        send(c, "x\r\n.\r\n")
        expect(c, 250)
    (data, env), = s.delivered("erin")
    assert env["userid"] == "alice" and env["tls"] == "0"
    assert b"with LMTPA\r\n" in data
    # cancelled exchange, bad base64, and the authentication hook's refusal
    with s.raw() as c:
        expect(c, 220)
        send(c, "LHLO x\r\nAUTH PLAIN\r\n")
        expect(c, 250)
        assert c.readline() == "334 "
        send(c, "*\r\n")
        expect(c, 501)
        send(c, "AUTH PLAIN !!!notbase64\r\n")
        expect(c, 501, "5.5.2")
        cred = base64.b64encode(b"\0deniedbob\0bobpw").decode()
        send(c, "AUTH PLAIN %s\r\nMAIL FROM:<a@b>\r\n" % cred)
        expect(c, 535, "5.7.8")
        expect(c, 430)
        # the failed attempts did not poison the session
        cred = base64.b64encode(b"\0alice\0alicepw").decode()
        send(c, "AUTH PLAIN %s\r\n" % cred)
        expect(c, 235)


def test_idle_timeout(lmtp):
    s = lmtp(args="-t 1")
    with s.raw() as c:
        expect(c, 220)
        t0 = time.monotonic()
        code, lines = reply(c)
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert time.monotonic() - t0 < 5
        with pytest.raises(EOFError):
            c.readline()


def test_implicit_tls(master, assets):
    svc = Service("lmtps", "lmtptestd -s -a", prefork=0)
    m = master(services=[svc], imapd_options={
        "servername": SERVERNAME,
        "tls_server_cert": os.path.join(assets, "cert.pem"),
        "tls_server_key": os.path.join(assets, "key.pem")})
    raw = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    with _tls_context().wrap_socket(raw) as t:
        f = t.makefile("rwb")
        assert f.readline().startswith(b"220 ")
        f.write(b"LHLO x\r\n")
        f.flush()
        caps = []
        while True:
            line = f.readline().decode().rstrip("\r\n")
            caps.append(line[4:])
            if line[3] == " ":
                break
        assert "STARTTLS" not in caps       # already under TLS
        f.write(b"MAIL FROM:<a@b>\r\nRCPT TO:<frank>\r\nDATA\r\n")
        f.flush()
        for want in (b"250", b"250", b"354"):
            assert f.readline().startswith(want)
        f.write(b"hi\r\n.\r\nQUIT\r\n")
        f.flush()
        assert f.readline().startswith(b"250 2.1.5")
        assert f.readline().startswith(b"221")
    files = glob.glob(os.path.join(m.path("conf/lmtptestd"), "frank", "*.eml"))
    assert len(files) == 1
    with open(files[0], "rb") as fh:
        assert b"with LMTPS\r\n" in fh.read()
