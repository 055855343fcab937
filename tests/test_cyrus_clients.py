"""Cyrus's own clients against our daemons: imtest, pop3test and lmtptest
(Debian's cyrus-clients) and the cyradm admin shell (cyrus-admin, the Perl
Cyrus::IMAP::Admin module), run non-interactively with timeouts.

tests/install-deps.sh installs those packages; where they are missing the
tests skip and say so.  One master serves IMAP (plain + STARTTLS, and
implicit TLS), POP3 (plain + STLS, and implicit TLS) and LMTP over TCP
(AUTH needed) for the module; every outcome a tool reports is checked on
our side too (ACLs, quotas, partitions on disk, delivered mail).
"""

import imaplib
import os
import re
import shutil
import subprocess

import pytest

import util
from imapd_fixtures import ImapEnv, message, port_of, serve_module

TOOLDIRS = "/usr/lib/cyrus/bin:/usr/sbin:/usr/bin"
MECHS = "PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"


def tool(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":" + TOOLDIRS)


def need(*names):
    missing = [n for n in names if not tool(n)]
    if missing:
        pytest.skip("%s not installed (Debian cyrus-clients / cyrus-admin; "
                    "tests/install-deps.sh installs them)" % ", ".join(missing))


def run(argv, stdin="", timeout=20):
    """Run a tool; returns (exit status, stdout and stderr together)."""
    env = dict(os.environ)
    env["HOME"] = env.get("HOME") or "/tmp"
    p = subprocess.run([tool(argv[0])] + argv[1:], input=stdin.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(errors="replace")


def services():
    return [util.Service("imap", "imapd", prefork=1),
            util.Service("imaps", "imapd -s", prefork=1),
            util.Service("pop3", "pop3d", prefork=1),
            util.Service("pop3s", "pop3d -s", prefork=1),
            util.Service("lmtp", "lmtpd", prefork=1)]


@pytest.fixture(scope="module")
def server(cyrus_build):
    yield from serve_module(("alice", "bob"), services=services(), sasl_mech_list=MECHS)


def admin(env, m):
    return env.login(m, "cyrus")


# ---- imtest ----------------------------------------------------------------------

def imtest(m, *args, stdin="", service="imap"):
    return run(["imtest", "-p", str(port_of(m, service))] + list(args) + ["127.0.0.1"],
               stdin)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5",
                                  "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_imtest_mechanisms(server, mech):
    need("imtest")
    env, m = server
    rc, out = imtest(m, "-m", mech, "-a", "alice", "-w", "alicepw",
                     stdin="x1 SELECT INBOX\r\nx2 GETACL INBOX\r\n")
    assert rc == 0, out
    assert "Authenticated." in out and "Security strength factor: 0" in out, out
    if mech == "LOGIN":
        # imtest's "login" is the IMAP LOGIN command (a literal password)
        assert re.search(r"C: L01 LOGIN alice \{7\}", out), out
    else:
        assert "C: A01 AUTHENTICATE " + mech in out, out
        # the tagged OK carries the new capabilities, parsed by imtest
        assert re.search(r"S: A01 OK \[CAPABILITY [^\]]*\bIDLE\b", out), out
    assert "x1 OK [READ-WRITE]" in out
    assert "* ACL INBOX alice lrswipkxtecda" in out, out
    assert "Q01 OK" in out        # imtest's LOGOUT at the end of input


def test_imtest_tls_and_authz(server):
    need("imtest")
    env, m = server
    # STARTTLS (-t "": TLS without a client certificate), then SASL-IR, then
    # COMPRESS (-q; imtest looks for COMPRESS=DEFLATE in its CAPABILITY
    # before authenticating)
    rc, out = imtest(m, "-t", "", "-q", "-m", "PLAIN", "-a", "bob", "-w", "bobpw",
                     stdin="x1 NAMESPACE\r\n")
    assert rc == 0, out
    assert "S: S01 OK" in out and "TLS connection established" in out, out
    assert "S: Z01 OK" in out, out
    # the capabilities after STARTTLS: no STARTTLS any more
    caps = re.search(r"S: \* CAPABILITY (.*)", out).group(1).split()
    assert "STARTTLS" not in caps and "AUTH=PLAIN" in caps, out
    assert "COMPRESS=DEFLATE" in caps, out
    assert re.search(r"Security strength factor: [1-9]", out), out
    assert '* NAMESPACE (("INBOX." "."))' in out
    # implicit TLS on the -s service
    rc, out = imtest(m, "-s", "-m", "SCRAM-SHA-256", "-a", "alice", "-w", "alicepw",
                     stdin="x1 MYRIGHTS INBOX\r\n", service="imaps")
    assert rc == 0, out
    assert re.search(r"Security strength factor: [1-9]", out), out
    assert "* MYRIGHTS INBOX lrswipkxtecda" in out, out
    # the admin authorizes as alice (-u): alice's INBOX
    rc, out = imtest(m, "-m", "PLAIN", "-a", "cyrus", "-u", "alice", "-w", "cyruspw",
                     stdin="x1 GETACL INBOX\r\n")
    assert rc == 0, out
    assert "* ACL INBOX alice lrswipkxtecda" in out, out


def test_imtest_bad_password(server):
    need("imtest")
    env, m = server
    for mech in ("PLAIN", "SCRAM-SHA-1", "login"):
        # imtest goes on unauthenticated (exit status 0) after a failure
        rc, out = imtest(m, "-m", mech, "-a", "alice", "-w", "wrong",
                         stdin="x1 SELECT INBOX\r\n")
        assert "Authenticated." not in out, out
        assert re.search(r"x1 (BAD|NO) ", out), out
        assert "NO [AUTHENTICATIONFAILED]" in out or "Authentication failed" in out, out


# ---- cyradm ------------------------------------------------------------------------

def cyradm(m, script, user="cyrus", password="cyruspw", args=()):
    """Run a cyradm script from stdin; the shell echoes nothing but its prompt
    and the commands' output (errors as "<command>: <text>")."""
    rc, out = run(["cyradm", "--norc", "--user", user, "--password", password,
                   "--port", str(port_of(m, "imap"))] + list(args) + ["127.0.0.1"],
                  script, timeout=30)
    # each prompt starts a line of output
    return rc, out.replace("127.0.0.1> ", "\n")


def mbox_dir(part, name):
    return os.path.join(part, *name.split("."))


def test_cyradm_admin_commands(server):
    need("cyradm")
    env, m = server
    script = "\n".join([
        "version",
        "cm user.carol",                     # a new user
        "cm user.carol.Work p2",             # on another partition
        "cm user.carol.Sent",
        "createmailbox shared",
        "lm user.carol*",
        "sam user.carol.Work bob lrs",
        "sam shared anyone lr",
        "lam user.carol.Work",
        "lam shared",
        "setaclmailbox shared alice lrswi",
        "dam shared anyone",
        "listacl shared",
        "sq user.carol STORAGE 1000",
        "lq user.carol",
        "lqr user.carol.Sent",
        "renm user.carol.Sent user.carol.Outbox",
        "renm user.carol.Outbox user.carol.Outbox p2",
        "reconstruct user.carol",
        "subscribe shared",
        "lm -s",
        "lm shared",
        "",
    ])
    rc, out = cyradm(m, script)
    assert rc == 0, out
    assert "version    :" in out and "name       :" in out, out
    assert re.search(r"user\.carol \(\\HasChildren\)", out), out
    assert re.search(r"user\.carol\.Work \(\\HasNoChildren\)", out), out
    # LIST-EXTENDED (seen in CAPABILITY before login): RETURN (SUBSCRIBED)
    assert re.search(r"(?m)^shared \([^)]*\\Subscribed", out), out
    assert re.search(r"(?m)^bob lrs$", out), out
    assert re.search(r"(?m)^alice lrswi$", out), out
    assert re.search(r"(?m)^anyone lr$", out), out    # before dam
    assert "STORAGE 0/1000 (0%)" in out, out
    assert "user.carol STORAGE 0/1000 (0%)" in out, out    # lqr names the root
    assert re.search(r"(?m)^shared\s*$", out), out       # lm -s
    assert not re.search(r"(?m)^\w+: ", out.replace("version    :", "")
                         .replace("vendor     :", "").replace("name       :", "")), out

    # our server's view of what cyradm did
    c = admin(env, m)
    typ, data = c.getacl("user.carol.Work")
    assert typ == "OK" and b"bob lrs" in data[0], data
    typ, data = c.getacl("shared")
    assert typ == "OK" and b"alice lrswi" in data[0] and b"anyone" not in data[0], data
    typ, data = c.getquota("user.carol")
    assert typ == "OK" and b"(STORAGE 0 1000)" in data[0], data
    typ, data = c.list('""', "user.carol*")
    names = sorted(d.decode().rsplit(" ", 1)[1] for d in data)
    assert names == ["user.carol", "user.carol.Outbox", "user.carol.Work"], data
    c.logout()
    # the partitions on disk
    assert os.path.exists(os.path.join(mbox_dir(env.spool, "user.carol"), "cyrus.header"))
    assert os.path.exists(os.path.join(mbox_dir(env.spool2, "user.carol.Work"),
                                       "cyrus.header"))
    assert os.path.exists(os.path.join(mbox_dir(env.spool2, "user.carol.Outbox"),
                                       "cyrus.header"))
    assert not os.path.exists(mbox_dir(env.spool, "user.carol.Outbox"))
    assert not os.path.exists(mbox_dir(env.spool, "user.carol.Sent"))


def test_cyradm_delete_needs_acl(server):
    need("cyradm")
    env, m = server
    # Cyrus admins grant themselves x (or the legacy c) before deleting a
    # user; deleting the INBOX deletes the whole user
    rc, out = cyradm(m, "cm user.dave\ncm user.dave.x\nsam user.dave cyrus c\n"
                        "lam user.dave\ndm user.dave\nlm user.dave*\n")
    assert rc == 0, out
    assert re.search(r"(?m)^cyrus \S*x", out), out
    assert not re.search(r"user\.dave[ .]", out), out
    # a user may not delete its own INBOX
    rc, out = cyradm(m, "dm user.alice\n", user="alice", password="alicepw")
    assert re.search(r"deletemailbox: .*Permission denied", out), out
    c = admin(env, m)
    typ, data = c.list('""', "user.dave*")
    assert data == [None], data
    c.logout()


def test_cyradm_quota_removal_and_errors(server):
    need("cyradm")
    env, m = server
    rc, out = cyradm(m, "cm user.erin\nsq user.erin 200\nlq user.erin\n"
                        "sq user.erin none\nlq user.erin\ncm user.erin\n"
                        "lam user.nosuch\n")
    assert "STORAGE 0/200 (0%)" in out, out
    assert "remove quota" in out, out
    assert re.search(r"createmailbox: .*(exists|Mailbox already)", out), out
    assert re.search(r"(?m)^(listacl: )?\[NONEXISTENT\] Mailbox does not exist", out), out
    c = admin(env, m)
    typ, data = c.getquotaroot("user.erin")
    assert typ == "OK", data
    assert not any(b"STORAGE" in (d or b"") for d in data[1]), data
    c.logout()


def test_cyradm_user_cannot_administer(server):
    need("cyradm")
    env, m = server
    rc, out = cyradm(m, "cm user.frank\nsq user.alice 10\nlm\n",
                     user="alice", password="alicepw")
    assert re.search(r"createmailbox: .*Permission denied", out), out
    assert re.search(r"setquota: .*Permission denied", out), out
    assert "INBOX" in out or "user.alice" in out, out


def raw_metadata(env, m, mailbox, entries):
    """{entry: value} of GETMETADATA as the admin (quoted values only)."""
    r = env.raw(m)
    _, t = r.cmd("LOGIN cyrus cyruspw")
    assert " OK " in t, t
    lines, t = r.cmd('GETMETADATA "%s" (%s)' % (mailbox, " ".join(entries)))
    assert " OK " in t, t
    r.close()
    out = {}
    for line in lines:
        toks = re.findall(r'"([^"]*)"|(NIL)', line.split(" (", 1)[1])
        vals = [None if nil else q for q, nil in toks]
        out.update(dict(zip(vals[0::2], vals[1::2])))
    return out


def test_cyradm_info_and_metadata(server):
    """info, mboxcfg, getmetadata, setmetadata and setinfo (METADATA, RFC
    5464) with the values Cyrus admins read from them: the partition, the
    size of the messages, comments."""
    need("cyradm")
    env, m = server
    c = admin(env, m)
    assert c.create("user.gina")[0] == "OK"
    assert c._simple_command("CREATE", "user.gina.Archive", "p2")[0] == "OK"
    c.logout()
    env.append(m, "gina", message(1), message(2, "a longer subject line"))
    size = sum(sz for sz, _ in env.listing(m, "gina").values())
    assert size > 100
    script = "\n".join([
        "info user.gina",
        "info user.gina.Archive",
        'mboxcfg user.gina comment "Project files"',
        "getmetadata user.gina",
        "setmetadata user.gina comment private-note",
        "getmetadata user.gina",
        'setinfo comment "Server wide"',
        "info",
        "mboxcfg user.gina expire 5",
        "mboxcfg user.gina.Archive comment none",
        "",
    ])
    rc, out = cyradm(m, script)
    assert rc == 0, out
    blocks = re.split(r"(?m)^\{", out)
    gina = [b for b in blocks if b.startswith("user.gina}")]
    archive = [b for b in blocks if b.startswith("user.gina.Archive}")]
    server_wide = [b for b in blocks if b.startswith("Server Wide}")]
    assert len(gina) == 3 and len(archive) == 1 and len(server_wide) == 1, out
    # info before any comment: the computed entries
    assert re.search(r"(?m)^\s+partition: default$", gina[0]), out
    assert re.search(r"(?m)^\s+size: %d$" % size, gina[0]), out
    assert re.search(r"(?m)^\s+server: imap\.test$", gina[0]), out
    assert re.search(r"(?m)^\s+lastupdate: +\d+-\w{3}-\d{4} ", gina[0]), out
    assert re.search(r"(?m)^\s+uniqueid: [0-9a-z]+$", gina[0]), out
    assert "comment" not in gina[0], out
    assert re.search(r"(?m)^\s+partition: p2$", archive[0]), out
    assert re.search(r"(?m)^\s+size: 0$", archive[0]), out
    # getmetadata after mboxcfg comment, then after setmetadata too
    assert re.search(r"(?m)^  shared:\n(?:    .*\n)*    comment: Project files$", gina[1]), out
    assert "private" not in gina[1], out
    assert re.search(r"(?m)^  private:\n    comment: private-note$", gina[2]), out
    assert re.search(r"(?m)^    comment: Project files$", gina[2]), out
    assert re.search(r"(?m)^\s+comment: Server wide$", server_wide[0]), out
    assert re.search(r"mboxconfig: .*not supported.*expire", out), out
    # our server's view
    md = raw_metadata(env, m, "user.gina", ["/shared/comment", "/private/comment"])
    assert md == {"/shared/comment": "Project files", "/private/comment": "private-note"}, md
    md = raw_metadata(env, m, "", ["/shared/comment"])
    assert md == {"/shared/comment": "Server wide"}, md

    # mboxcfg ... none removes; a user without w may not set /shared
    rc, out = cyradm(m, "mboxcfg user.gina comment none\ninfo user.gina\n")
    assert rc == 0 and "comment: Project files" not in out, out
    assert raw_metadata(env, m, "user.gina", ["/shared/comment"]) == {"/shared/comment": None}
    rc, out = cyradm(m, 'mboxcfg user.gina comment "x"\n', user="alice", password="alicepw")
    assert re.search(r"mboxconfig: .*(does not exist|NONEXISTENT)", out), out
    rc, out = cyradm(m, 'setinfo comment "x"\n', user="alice", password="alicepw")
    assert re.search(r"setinfo.*Permission denied", out), out


def test_cyradm_specialuse(server):
    """cm --specialuse (CREATE-SPECIAL-USE), lm and lm --specialuse (LIST
    with SPECIAL-USE), setmetadata ... specialuse (RFC 6154)."""
    need("cyradm")
    env, m = server
    script = "\n".join([
        "cm --specialuse Sent INBOX.Sent",
        "cm --specialuse Junk INBOX.Spam",
        "cm --specialuse Sent INBOX.Sent2",      # alice has a Sent
        "cm --specialuse Bogus INBOX.Bogus",
        "cm INBOX.Drafts",
        'setmetadata INBOX.Drafts specialuse "\\\\Drafts"',
        'setmetadata INBOX.Spam specialuse "\\\\Sent"',
        "lm",
        "lm --specialuse",
        "",
    ])
    rc, out = cyradm(m, script, user="alice", password="alicepw")
    assert rc == 0, out
    assert re.search(r"createmailbox: .*\[USEATTR\].*\\Sent is the use of INBOX\.Sent", out), out
    assert re.search(r"createmailbox: .*\[USEATTR\] Unknown special-use", out), out
    assert re.search(r"setmetadata: .*\[USEATTR\]", out), out
    blocks = [b for b in re.split(r"\n\s*\n", out) if "INBOX." in b and ":" not in b]
    assert len(blocks) == 2, out
    lm, special = (set(re.findall(r"(INBOX\S*) \(([^)]*)\)", b)) for b in blocks)
    assert lm == {("INBOX", "\\HasChildren"),
                  ("INBOX.Drafts", "\\HasNoChildren \\Drafts"),
                  ("INBOX.Sent", "\\HasNoChildren \\Sent"),
                  ("INBOX.Spam", "\\HasNoChildren \\Junk")}, out
    assert special == lm - {("INBOX", "\\HasChildren")}, out
    # an admin creates with a partition and a use: the owner's entry
    rc, out = cyradm(m, "cm --partition p2 --specialuse Archive user.bob.Old\n")
    assert rc == 0 and "createmailbox:" not in out, out
    md = raw_metadata(env, m, "user.bob.Old", ["/private/specialuse"])
    assert md == {"/private/specialuse": "\\\\Archive"}, md   # quoted: \\ escaped
    assert os.path.exists(os.path.join(mbox_dir(env.spool2, "user.bob.Old"), "cyrus.header"))
    c = admin(env, m)
    typ, data = c.list('""', "user.alice.Bogus")
    assert data == [None], data
    c.logout()


def test_cyradm_authentication(server):
    need("cyradm")
    env, m = server
    # --auth login is the IMAP LOGIN command; the others SASL mechanisms
    for mech in ("login", "PLAIN", "SCRAM-SHA-256", "DIGEST-MD5", "CRAM-MD5"):
        rc, out = cyradm(m, "lm user.alice\n", args=["--auth", mech])
        assert rc == 0, (mech, out)
        assert re.search(r"(?m)^user\.alice \(", out), (mech, out)
    # the admin authorized as alice sees alice's namespace
    rc, out = cyradm(m, "lm\n", args=["--auth", "PLAIN", "--authz", "alice"])
    assert rc == 0, out
    assert re.search(r"(?m)^INBOX \(", out) and "user.bob" not in out, out
    rc, out = cyradm(m, "lm\n", password="wrong")
    assert rc != 0 and "cannot authenticate" in out, out


def test_cyradm_starttls_when_login_disabled(cyrus_build):
    """With allowplaintext: no the server offers no mechanism before TLS and
    says LOGINDISABLED: cyradm then does STARTTLS and authenticates."""
    need("cyradm")
    env = ImapEnv()
    m = util.Master(services=[util.Service("imap", "imapd", prefork=1)],
                    imapd_options=env.options(allowplaintext="no",
                                              sasl_mech_list="PLAIN LOGIN"))
    m.start()
    try:
        rc, out = cyradm(m, "cm user.alice\nlm\n")
        assert rc == 0, out
        assert "user.alice (\\HasNoChildren)" in out, out
    except BaseException:
        m.stop(check=False)
        raise
    m.stop(check=True)
    m.cleanup()
    env.cleanup()


# ---- lmtptest and pop3test ---------------------------------------------------------

def fetch_subjects(env, m, user):
    c = env.login(m, user)
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK", data
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    c.logout()
    return [d[1].decode().strip() for d in data if isinstance(d, tuple)]


def test_lmtptest_delivers(server):
    need("lmtptest")
    env, m = server
    body = ("MAIL FROM:<sender@example.org>\r\nRCPT TO:<bob>\r\nDATA\r\n"
            "From: sender@example.org\r\nSubject: via lmtptest %s\r\n\r\n"
            "hello\r\n..dot\r\n.\r\n")
    port = str(port_of(m, "lmtp"))
    for n, args in enumerate([["-m", "PLAIN"], ["-m", "SCRAM-SHA-256"],
                              ["-t", "", "-m", "LOGIN"]]):
        rc, out = run(["lmtptest", "-p", port] + args +
                      ["-a", "bob", "-w", "bobpw", "127.0.0.1"], body % n)
        assert rc == 0, out
        assert "Authenticated." in out, out
        assert re.search(r"S: 250[- ]PIPELINING", out), out
        assert "354 " in out and out.count("250 2.1.5") == 2, out
        if "-t" in args:
            assert "TLS connection established" in out, out
    subjects = fetch_subjects(env, m, "bob")
    for n in range(3):
        assert "Subject: via lmtptest %d" % n in subjects, subjects
    # without AUTH, the TCP service does not deliver
    rc, out = run(["lmtptest", "-p", port, "-m", "PLAIN", "-a", "bob", "-w", "wrong",
                   "127.0.0.1"], body % 9)
    assert "Authenticated." not in out, out
    assert "via lmtptest 9" not in " ".join(fetch_subjects(env, m, "bob"))


def test_pop3test(server):
    need("pop3test")
    env, m = server
    env.append(m, "alice", b"From: a@example.org\r\nSubject: pop me\r\n\r\nline\r\n")
    port = str(port_of(m, "pop3"))
    for args in (["-m", "USER"], ["-m", "PLAIN"], ["-m", "CRAM-MD5"],
                 ["-m", "SCRAM-SHA-1"], ["-t", "", "-m", "PLAIN"]):
        rc, out = run(["pop3test", "-p", port] + args +
                      ["-a", "alice", "-w", "alicepw", "127.0.0.1"],
                      "STAT\r\nUIDL\r\nTOP 1 0\r\n")
        assert rc == 0, out
        assert "Authenticated." in out, out
        assert re.search(r"(?m)^\+OK [1-9]\d* \d+", out), out
        assert "Subject: pop me" in out, out
        if "-t" in args:
            assert "C: STLS" in out and re.search(r"Security strength factor: [1-9]", out)
    rc, out = run(["pop3test", "-s", "-p", str(port_of(m, "pop3s")), "-m", "PLAIN",
                   "-a", "alice", "-w", "alicepw", "127.0.0.1"], "STAT\r\n")
    assert rc == 0 and "Authenticated." in out, out
    assert re.search(r"Security strength factor: [1-9]", out), out
    rc, out = run(["pop3test", "-p", port, "-m", "PLAIN", "-a", "alice", "-w", "nope",
                   "127.0.0.1"], "STAT\r\n")
    assert "Authenticated." not in out and "-ERR [AUTH] " in out, out
