"""Helpers of the pop3d integration tests (tests/test_pop3d.py).

Pop3Env prepares what a pop3d needs besides master: a sasldb with test
users (made with saslpasswd2, as an administrator would), a self-signed
certificate, a partition directory, and the imapd.conf options that point
at them.  Mail is put into INBOXes with tests/store_inject (the public store
API), run as the service user when the tests run as root so that the files
it creates stay usable by the daemons.

    env = Pop3Env()
    m = master(services=pop3_services(), imapd_options=env.options())
    env.create(m, "alice")
    env.append(m, "alice", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
"""

import base64
import os
import poplib
import shutil
import ssl
import subprocess
import tempfile

import util

SERVERNAME = "pop3.test"
USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw",
         "dave": "davepw", "erin": "erinpw", "frank": "frankpw",
         "proxy": "proxypw"}
SASLPASSWD2 = shutil.which("saslpasswd2", path=os.environ.get("PATH", "") +
                           ":/usr/sbin:/sbin") or "/usr/sbin/saslpasswd2"


def pop3_services(plain=True, implicit=False, extra_args=""):
    """SERVICES entries: "pop3" (plain port, STLS) and/or "pop3s" (-s)."""
    out = []
    if plain:
        out.append(util.Service("pop3", ("pop3d " + extra_args).strip(), prefork=1))
    if implicit:
        out.append(util.Service("pop3s", ("pop3d -s " + extra_args).strip(), prefork=1))
    return out


class Pop3Env:
    def __init__(self, users=USERS):
        self.dir = tempfile.mkdtemp(prefix="cyrus-pop3-")
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
        os.mkdir(self.spool)
        self.msgdir = os.path.join(self.dir, "msgs")
        os.mkdir(self.msgdir)
        self.nmsg = 0
        if util.is_root():
            pw = util.ensure_service_user()
            for root, dirs, files in os.walk(self.dir):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.chown(n, pw.pw_uid, pw.pw_gid)

    def options(self, **extra):
        """imapd.conf options for a pop3d using this environment."""
        opts = {
            "servername": SERVERNAME,
            "partition-default": self.spool,
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": self.sasldb,
            "sasl_mech_list": "PLAIN LOGIN CRAM-MD5",
            "tls_server_cert": self.cert,
            "tls_server_key": self.key,
            "failedloginpause": "0",
            "proxyservers": "proxy",
        }
        for k, v in extra.items():
            if v is None:
                opts.pop(k.replace("__", "-"), None)
            else:
                opts[k.replace("__", "-")] = v
        return opts

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False   # poplib passes the IP as server name
        return ctx

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

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

    def create(self, m, user):
        return self.inject(m, "create", user).strip()

    def append(self, m, user, *messages):
        """Append messages (bytes) in one transaction; returns their UIDs."""
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

    def append_full(self, m, user, data):
        """Append one message; returns (uidvalidity, uid)."""
        self.nmsg += 1
        path = os.path.join(self.msgdir, "m%d" % self.nmsg)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        out = self.inject(m, "append", user, path)
        f = dict(kv.split("=", 1) for kv in out.split())
        return int(f["uidvalidity"]), int(f["uid"])


# ---- raw protocol helpers ------------------------------------------------

def plain_ir(user, password, authz=""):
    """The base64 SASL PLAIN initial response."""
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password)).encode()).decode()


class RawPop3(util.LineClient):
    """A line client that can start TLS and read multi-line answers."""

    def __init__(self, port, timeout=10.0, tls_context=None):
        super().__init__(port, timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.greeting = self.readline()

    def cmd(self, line):
        self.send(line)
        return self.readline()

    def starttls(self, ctx):
        resp = self.cmd("STLS")
        assert resp.startswith("+OK"), resp
        assert self.buf == b""
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return resp

    def multiline(self):
        """The lines of a multi-line body up to the ".", dot-unstuffed."""
        lines = []
        while True:
            line = self.readline()
            if line == ".":
                return lines
            lines.append(line[1:] if line.startswith("..") else line)

    def raw_until_dot(self):
        """The raw bytes of a multi-line body, terminator included."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data = b"\r\n" + self.buf
        end = data.index(b"\r\n.\r\n") + 5
        raw, self.buf = data[2:end], data[end:]
        return raw


def pop3_login(port, user, password, ctx=None, implicit=False):
    """A poplib client logged in with STLS (or implicit TLS) + USER/PASS."""
    if implicit:
        c = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=10)
    else:
        c = poplib.POP3("127.0.0.1", port, timeout=10)
        if ctx is not None:
            c.stls(ctx)
    c.user(user)
    c.pass_(password)
    return c

