"""Helpers of the imapd integration tests (tests/test_imapd_core.py).

ImapEnv prepares what an imapd needs besides master: a sasldb with test
users (made with saslpasswd2, as an administrator would; "cyrus" is the
admin, "proxy" a proxy server), a self-signed certificate, two partition
directories, and the imapd.conf options that point at them.  Mail is put
into INBOXes with tests/store_inject (the public store API), run as the
service user when the tests run as root.

    env = ImapEnv()
    m = master(services=imap_services(), imapd_options=env.options())
    c = env.login(m, "cyrus")                  # imaplib, admin
    c.create("user.alice")
    env.append(m, "alice", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")

RawImap is a line client for what imaplib cannot do (malformed commands,
literals by hand, COMPRESS, IDLE).
"""

import base64
import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import zlib

import util

SERVERNAME = "imap.test"
USERS = {"cyrus": "cyruspw", "alice": "alicepw", "bob": "bobpw", "carol": "carolpw",
         "proxy": "proxypw", "mallory": "mallorypw"}
SASLPASSWD2 = shutil.which("saslpasswd2", path=os.environ.get("PATH", "") +
                           ":/usr/sbin:/sbin") or "/usr/sbin/saslpasswd2"


def imap_services(plain=True, implicit=False, extra_args=""):
    """SERVICES entries: "imap" (plain port, STARTTLS) and/or "imaps" (-s)."""
    out = []
    if plain:
        out.append(util.Service("imap", ("imapd " + extra_args).strip(), prefork=1))
    if implicit:
        out.append(util.Service("imaps", ("imapd -s " + extra_args).strip(), prefork=1))
    return out


def serve_module(users, services=None, **options):
    """The body of a module-scoped `server` fixture: a fresh ImapEnv, master
    with `services` (default: imap_services()) and imapd.conf options
    `options`, and the INBOXes of `users` created by the admin.  Yields
    (env, m); stops everything afterwards (checking that master stopped
    cleanly), or at once when the set-up fails.  Use it as
        yield from serve_module(("alice", "bob"))"""
    env = ImapEnv()
    m = util.Master(services=services or imap_services(),
                    imapd_options=env.options(**options))
    m.start()
    try:
        c = env.login(m, "cyrus")
        for u in users:
            typ, data = c.create("user." + u)
            assert typ == "OK", (u, data)
        c.logout()
    except BaseException:
        m.stop(check=False)
        raise
    yield env, m
    m.stop(check=True)
    m.cleanup()
    env.cleanup()


def raw_login(env, m, user):
    """A RawImap session logged in as `user` (password from env.users)."""
    r = env.raw(m)
    _, t = r.cmd("LOGIN %s %s" % (user, env.users[user]))
    assert " OK " in t, t
    return r


def raw_ok(r, line):
    """Send `line` on a RawImap session; assert OK; (untagged, tagged)."""
    lines, t = r.cmd(line)
    assert " OK " in t, (line, t)
    return lines, t


def raw_answer(r, line, kind="NO", code=None):
    """Send `line`; assert the tagged reply is `kind` (with [code]); it."""
    lines, t = r.cmd(line)
    assert (" %s " % kind) in t, (line, t)
    if code:
        assert ("[%s]" % code) in t, (line, t)
    return t


def port_of(m, name="imap"):
    for s in m.services:
        if s.name == name:
            return s.port
    raise KeyError(name)


class ImapEnv:
    def __init__(self, users=USERS):
        self.dir = tempfile.mkdtemp(prefix="cyrus-imapd-")
        os.chmod(self.dir, 0o755)
        self.users = dict(users)
        self.sasldb = os.path.join(self.dir, "sasldb2")
        for user, pw in self.users.items():
            subprocess.run([SASLPASSWD2, "-f", self.sasldb, "-u", SERVERNAME,
                            "-c", "-p", user], input=pw.encode(), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.spool = os.path.join(self.dir, "spool")
        self.spool2 = os.path.join(self.dir, "spool2")
        os.mkdir(self.spool)
        os.mkdir(self.spool2)
        self.msgdir = os.path.join(self.dir, "msgs")
        os.mkdir(self.msgdir)
        self.nmsg = 0
        if util.is_root():
            pw = util.ensure_service_user()
            for root, dirs, files in os.walk(self.dir):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(n, pw.pw_uid, pw.pw_gid)

    def options(self, **extra):
        """imapd.conf options for an imapd using this environment (the
        standard namespace with "." as separator, plaintext allowed)."""
        opts = {
            "servername": SERVERNAME,
            "partition-default": self.spool,
            "partition-p2": self.spool2,
            "admins": "cyrus",
            "proxyservers": "proxy",
            "altnamespace": "no",
            "unixhierarchysep": "no",
            "allowplaintext": "yes",
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": self.sasldb,
            "sasl_mech_list": "PLAIN LOGIN",
            "tls_server_cert": self.cert,
            "tls_server_key": self.key,
            "failedloginpause": "0",
        }
        for k, v in extra.items():
            if v is None:
                opts.pop(k.replace("__", "-"), None)
            else:
                opts[k.replace("__", "-")] = v
        return opts

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients -----------------------------------------------------------

    def connect(self, m, service="imap"):
        return imaplib.IMAP4("127.0.0.1", port_of(m, service), timeout=15)

    def login(self, m, user, service="imap"):
        c = self.connect(m, service)
        c.login(user, self.users[user])
        return c

    def raw(self, m, service="imap", tls=False):
        ctx = self.client_context() if tls else None
        return RawImap(port_of(m, service), tls_context=ctx)

    # -- the store ---------------------------------------------------------

    def inject(self, m, *args, check=True):
        """Run store_inject with the master's imapd.conf; returns stdout."""
        prog = shutil.which("store_inject", path=util.service_path())
        assert prog, "tests/store_inject is not built"
        kwargs = {}
        if util.is_root():
            kwargs = {"user": util.SERVICE_USER, "group": util.SERVICE_USER}
        env = dict(os.environ)
        env["CYRUS_LOG_STDERR"] = "1"
        p = subprocess.run([prog, "-C", m.imapd_conf] + list(args),
                           capture_output=True, env=env, cwd=self.dir, **kwargs)
        if check and p.returncode != 0:
            raise AssertionError("store_inject %s failed: %s" % (args, p.stderr.decode()))
        return p.stdout.decode()

    def append(self, m, user, *messages):
        """Deliver messages (bytes) to user's INBOX; returns their UIDs."""
        paths = []
        for data in messages:
            self.nmsg += 1
            path = os.path.join(self.msgdir, "m%d" % self.nmsg)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
            paths.append(path)
        out = self.inject(m, "append", user, *paths)
        return [int(line.split("uid=")[1]) for line in out.splitlines()]

    def expunge(self, m, user, *uids):
        return self.inject(m, "expunge", user, *[str(u) for u in uids])

    def listing(self, m, user):
        """{uid: (size, set of flags)} of the messages not expunged."""
        out = {}
        for line in self.inject(m, "list", user).splitlines():
            f = dict(kv.split("=", 1) for kv in line.split())
            flags = set() if f["flags"] == "-" else set(f["flags"].split(","))
            out[int(f["uid"])] = (int(f["size"]), flags)
        return out


def plain_ir(user, password, authz=""):
    """The base64 SASL PLAIN initial response."""
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password)).encode()).decode()


def message(n, subject="test"):
    return ("From: a@example.org\r\nTo: b@example.org\r\nSubject: %s %d\r\n"
            "Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n" % (subject, n, n, n)).encode()


class RawImap(util.LineClient):
    """A line client for IMAP with tagged commands, TLS and COMPRESS."""

    def __init__(self, port, timeout=15.0, tls_context=None):
        super().__init__(port, timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.n = 0
        self.inflater = None
        self.deflater = None
        self.greeting = self.readline()

    # compression sits between the socket and the line buffer
    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        if self.inflater is not None:
            chunk = self.inflater.decompress(chunk)
        return chunk

    def readline(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            self.buf += self._recv()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")

    def send_raw(self, data):
        if self.deflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def send(self, line):
        self.send_raw(line.encode() + b"\r\n")

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def cmd(self, text, tag=None):
        """Send `tag text`; return (untagged lines, tagged line)."""
        tag = tag or self.tag()
        self.send("%s %s" % (tag, text))
        return self.response(tag)

    def response(self, tag):
        lines = []
        while True:
            line = self.readline()
            if line.startswith(tag + " "):
                return lines, line
            lines.append(line)

    def start_compress(self):
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        # bytes already read past the OK were compressed
        if self.buf:
            self.buf = self.inflater.decompress(self.buf)

    def starttls(self, ctx):
        lines, resp = self.cmd("STARTTLS")
        assert " OK " in resp, resp
        assert self.buf == b""
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return resp

    def closed(self, timeout=5.0):
        """True when the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True
