"""Helpers of tests/test_lmtpd.py (and bench/lmtp/run.py): a master running
lmtpd on a unix socket (trusted), on TCP (AUTH needed) and on TCP with -a
(trusted), a mail store prepared and inspected with tests/lmtpd_store, and
a raw LMTP client for what smtplib.LMTP cannot do (pipelining, one reply
per recipient after DATA)."""

import os
import shutil
import socket
import subprocess
import tempfile

from util import LineClient, Service, ensure_service_user, is_root, service_path

SERVERNAME = "lmtpd.test"
USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}


# ---- assets: certificate and sasldb --------------------------------------

def make_assets():
    """A directory the service user can read: a self-signed certificate and
    a sasldb with USERS (realm SERVERNAME).  Returns its path, or raises
    RuntimeError when openssl or saslpasswd2 is missing."""
    if not shutil.which("openssl"):
        raise RuntimeError("openssl not installed")
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.access(saslpasswd2, os.X_OK):
        raise RuntimeError("saslpasswd2 not installed (sasl2-bin)")
    d = tempfile.mkdtemp(prefix="lmtpd-assets-")
    os.chmod(d, 0o755)
    cert, key, db = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "sasldb2"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    for user, pw in USERS.items():
        subprocess.run([saslpasswd2, "-f", db, "-u", SERVERNAME, "-p", "-c", user],
                       input=pw.encode(), check=True, capture_output=True)
    chown_tree(d)
    return d


def chown_tree(d):
    """As root: give `d` and everything in it to the service user."""
    if not is_root():
        return
    pw = ensure_service_user()
    for root, dirs, files in os.walk(d):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.chown(n, pw.pw_uid, pw.pw_gid)


def imapd_options(assets, partdir, **extra):
    """The imapd.conf of the tests: two partitions, TLS, sasldb, and the
    '.' hierarchy separator (the detail syntax of the issue: +shared.memo)."""
    opts = {
        "servername": SERVERNAME,
        "partition-default": os.path.join(partdir, "default"),
        "partition-p2": os.path.join(partdir, "p2"),
        "unixhierarchysep": "no",
        "tls_server_cert": os.path.join(assets, "cert.pem"),
        "tls_server_key": os.path.join(assets, "key.pem"),
        "sasl_pwcheck_method": "auxprop",
        "sasl_auxprop_plugin": "sasldb",
        "sasl_sasldb_path": os.path.join(assets, "sasldb2"),
        "sasl_mech_list": "PLAIN LOGIN",
        "temp_path": os.path.join(partdir, "tmp"),
    }
    opts.update(extra)
    return opts


def make_partdir():
    d = tempfile.mkdtemp(prefix="lmtpd-parts-")
    os.chmod(d, 0o755)
    for n in ("default", "p2", "tmp"):
        os.mkdir(os.path.join(d, n))
    chown_tree(d)
    return d


# ---- the store tool ------------------------------------------------------

def _tool():
    for d in service_path().split(":"):
        p = os.path.join(d, "lmtpd_store")
        if os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("lmtpd_store not built")


def _as_service_user():
    if not is_root():
        return {}
    pw = ensure_service_user()
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class Store:
    """tests/lmtpd_store on one imapd.conf; runs as the service user when
    the tests run as root, so that the daemons can use what it creates."""

    def __init__(self, imapd_conf):
        self.conf = imapd_conf

    def run(self, *args, check=True):
        p = subprocess.run([_tool(), "-C", self.conf] + [str(a) for a in args],
                           capture_output=True, text=True, cwd="/",
                           **_as_service_user())
        if check and p.returncode != 0:
            raise AssertionError("lmtpd_store %s failed: %s" % (" ".join(args), p.stderr))
        return p

    def create(self, *names, partition=None):
        for n in names:
            self.run(*(["create", n] + ([partition] if partition else [])))

    def setacl(self, name, ident, rights):
        self.run("setacl", name, ident, rights)

    def settype(self, name, kind, server=None):
        self.run(*(["settype", name, kind] + ([server] if server else [])))

    def setquota(self, root, storage="-", messages="-"):
        self.run("setquota", root, storage, messages)

    def getquota(self, root):
        out = self.run("getquota", root).stdout.split()
        kv = dict(x.split("=", 1) for x in out)
        return int(kv["storage"]), int(kv["messages"])

    def list(self, name):
        """(header dict, [record dict]) of a mailbox; every record's file is
        checked by the tool (check=ok)."""
        lines = self.run("list", name).stdout.splitlines()
        head = dict(x.split("=", 1) for x in lines[0].split())
        recs = []
        for line in lines[1:]:
            fields, path = line.split(" path=", 1)
            rec = dict(x.split("=", 1) for x in fields.split())
            rec["path"] = path
            recs.append(rec)
        return head, recs

    def messages(self, name):
        """The messages of a mailbox, in UID order, after asserting that each
        one is whole (file, size, GUID and cache agree)."""
        _, recs = self.list(name)
        out = []
        for r in recs:
            assert r["check"] == "ok", (name, r)
            with open(r["path"], "rb") as f:
                out.append(f.read())
        return out

    def records(self, name):
        return self.list(name)[1]


# ---- the daemon ----------------------------------------------------------

class Lmtpd:
    """A master running lmtpd three ways: `sock` (unix socket, trusted),
    `port` (TCP, AUTH needed) and `aport` (TCP with -a, trusted)."""

    def __init__(self, m, tcp, atcp, sock, partdir):
        self.m = m
        self.port = tcp.port
        self.aport = atcp.port
        self.sock = sock
        self.partdir = partdir
        self.store = Store(m.imapd_conf)

    def raw(self, kind="unix", timeout=15.0):
        if kind == "unix":
            c = LineClient(path=self.sock, timeout=timeout)
        else:
            c = LineClient(self.aport if kind == "atcp" else self.port, timeout=timeout)
        return c

    def log(self):
        return self.m.read_log()


def start_lmtpd(master_factory, assets, sockname, lmtpd_args="", prefork=1, **options):
    partdir = make_partdir()
    sock = os.path.join(partdir, sockname)
    tcp = Service("lmtp", ("lmtpd " + lmtpd_args).strip(), prefork=prefork)
    atcp = Service("lmtpa", ("lmtpd -a " + lmtpd_args).strip(), prefork=prefork)
    unix = Service("lmtpunix", ("lmtpd " + lmtpd_args).strip(), listen=sock, prefork=0)
    m = master_factory(services=[tcp, atcp, unix],
                       imapd_options=imapd_options(assets, partdir, **options))
    return Lmtpd(m, tcp, atcp, sock, partdir)


# ---- raw LMTP ------------------------------------------------------------

def reply(c):
    """One (possibly multi-line) reply: (code, [lines])."""
    lines = []
    while True:
        line = c.readline()
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return int(line[:3]), lines


def code_of(r):
    """'250 2.1.5' of a reply (code and enhanced code)."""
    code, lines = r
    return ("%d %s" % (code, lines[-1][4:].split(" ", 1)[0])).strip()


def send(c, data):
    c.sock.sendall(data if isinstance(data, bytes) else data.encode())


def dot_stuff(msg):
    out = []
    for line in msg.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    data = b"\r\n".join(out)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def greet(c, lhlo="client.test"):
    code, _ = reply(c)
    assert code == 220
    send(c, "LHLO %s\r\n" % lhlo)
    code, lines = reply(c)
    assert code == 250, lines
    return lines


def transaction(c, sender, rcpts, msg, rcpt_params=None, mail_params=""):
    """One pipelined transaction (MAIL, every RCPT and DATA in one write).
    Returns (mail reply, [rcpt replies as '250 2.1.5'], [data replies]):
    one data reply per accepted recipient, or [] when DATA was refused."""
    rcpt_params = rcpt_params or {}
    cmds = "MAIL FROM:<%s>%s\r\n" % (sender, mail_params)
    for r in rcpts:
        cmds += "RCPT TO:<%s>%s\r\n" % (r, rcpt_params.get(r, ""))
    cmds += "DATA\r\n"
    send(c, cmds)
    mail = code_of(reply(c))
    rr = [code_of(reply(c)) for _ in rcpts]
    data = reply(c)
    if data[0] != 354:
        return mail, rr, []
    send(c, dot_stuff(msg))
    accepted = sum(1 for x in rr if x.startswith("2"))
    return mail, rr, [code_of(reply(c)) for _ in range(accepted)]


def make_message(msgid=None, subject="test", body=b"hello\r\n", size=None, extra=b""):
    """A message with CRLF line ends; `size` pads the body to about that many
    bytes."""
    head = b"From: sender@example.net\r\nTo: someone@example.org\r\n"
    head += b"Subject: " + subject.encode() + b"\r\n"
    if msgid:
        head += b"Message-ID: <" + msgid.encode() + b">\r\n"
    head += extra + b"\r\n"
    if size is not None:
        line = b"x" * 70 + b"\r\n"
        need = max(0, size - len(head) - len(body))
        body += line * (need // len(line))
    return head + body


def client_part(stored):
    """The client's message in a stored file: after Return-Path and the
    (folded) Received field."""
    assert stored.startswith(b"Return-Path: <"), stored[:80]
    lines = stored.split(b"\r\n")
    i = 1
    assert lines[i].startswith(b"Received: "), lines[:4]
    i += 1
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    return b"\r\n".join(lines[i:])


def unix_socket_ok(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
