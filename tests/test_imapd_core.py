"""imapd: sessions, authentication, mailbox commands, LIST, ACL, QUOTA,
SELECT and IDLE, against a real imapd run by master on loopback.

One imapd (with an "imap" and an "imaps" listener) serves most tests of
this module; tests that need other options start their own.  Users come
from a sasldb; their INBOXes are created by the admin "cyrus" over IMAP,
and mail is delivered with tests/store_inject (APPEND is another
module's).
"""

import contextlib
import imaplib
import os
import re
import socket
import time

import pytest

import util
from imapd_fixtures import (ImapEnv, RawImap, imap_services, message, plain_ir, port_of,
                            serve_module)

# commands imaplib does not know
for _name in ("LISTRIGHTS", "RECONSTRUCT"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))


def ok(resp):
    typ, data = resp
    assert typ == "OK", data
    return data


def no(resp, code=None):
    typ, data = resp
    assert typ == "NO", data
    if code:
        assert b"[" + code.encode() in data[0], data
    return data


def start_master(env, services=None, env_vars=None, **options):
    # -U 1: every process exits after one connection, so that a sanitizer
    # build checks each session for leaks
    m = util.Master(services=services or imap_services(implicit=True, extra_args="-U 1"),
                    imapd_options=env.options(**options), env=env_vars)
    m.start()
    return m


@contextlib.contextmanager
def running(env_vars=None, **options):
    """A private imapd for one test: stopped cleanly (no sanitizer report,
    nothing left behind) when the test passes."""
    env = ImapEnv()
    m = start_master(env, env_vars=env_vars, **options)
    try:
        yield env, m
    except BaseException:
        m.stop(check=False)
        raise
    m.stop(check=True)
    m.cleanup()
    env.cleanup()


@pytest.fixture(scope="module")
def server(cyrus_build):
    # -U 1: every process exits after one connection (see start_master)
    yield from serve_module(("alice", "bob", "carol", "proxy", "mallory"),
                            services=imap_services(implicit=True, extra_args="-U 1"))


def caps_of(line):
    m = re.search(r"\[CAPABILITY ([^\]]*)\]", line)
    assert m, line
    return m.group(1).split()


# ---- greeting, CAPABILITY, LOGIN, STARTTLS ------------------------------------

def test_greeting_and_capability(server):
    env, m = server
    r = env.raw(m)
    assert r.greeting.startswith("* OK [CAPABILITY ")
    assert r.greeting.endswith("imap.test Cyrus-style IMAP server ready")
    caps = caps_of(r.greeting)
    for cap in ("IMAP4rev1", "LITERAL+", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR",
                "ID"):
        assert cap in caps
    assert "LOGINDISABLED" not in caps      # allowplaintext: yes
    assert "IDLE" not in caps               # only after login
    lines, tagged = r.cmd("CAPABILITY")
    # the command adds the authenticated state's extensions, as Cyrus does
    # (cyradm decides on LIST-EXTENDED from this answer, before login)
    assert lines[0].split()[2:2 + len(caps)] == caps
    assert "LIST-EXTENDED" in lines[0].split() and "IDLE" in lines[0].split()
    assert tagged.endswith("OK Completed")
    lines, tagged = r.cmd("LOGIN alice alicepw")
    authed = caps_of(tagged)
    for cap in ("IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "ACL",
                "QUOTA", "COMPRESS=DEFLATE", "LIST-EXTENDED", "ENABLE"):
        assert cap in authed
    assert "STARTTLS" not in authed and "AUTH=PLAIN" not in authed
    lines, tagged = r.cmd("LOGOUT")
    assert lines == ["* BYE LOGOUT received"]
    assert " OK " in tagged
    assert r.closed()


def test_login_failures_and_states(server):
    env, m = server
    r = env.raw(m)
    _, t = r.cmd("LOGIN alice wrong")
    assert "NO [AUTHENTICATIONFAILED]" in t
    _, t = r.cmd("LOGIN nosuchuser x")
    assert "NO [AUTHENTICATIONFAILED]" in t
    _, t = r.cmd("SELECT INBOX")
    assert "BAD Please login first" in t
    _, t = r.cmd("LIST \"\" *")
    assert "BAD" in t
    _, t = r.cmd("LOGIN alice")
    assert " BAD " in t
    # LITERAL+: no continuation is sent for {n+}
    _, t = r.cmd("LOGIN \"alice\" {7+}\r\nalicepw")
    assert " OK " in t
    _, t = r.cmd("LOGIN alice alicepw")
    assert "BAD Already logged in" in t
    _, t = r.cmd("STARTTLS")
    assert " BAD " in t
    _, t = r.cmd("CHECK")
    assert "BAD Please select a mailbox first" in t
    # a synchronising literal gets its continuation
    tag = r.tag()
    r.send(tag + " SELECT {5}")
    assert r.readline() == "+ go ahead"
    r.send("INBOX")
    lines, t = r.response(tag)
    assert "OK [READ-WRITE]" in t
    r.close()


def test_plaintext_refused_without_tls(cyrus_build):
    with running(allowplaintext="no", sasl_mech_list="PLAIN") as (env, m):
        r = env.raw(m)
        caps = caps_of(r.greeting)
        assert "LOGINDISABLED" in caps and "STARTTLS" in caps
        assert "AUTH=PLAIN" not in caps
        _, t = r.cmd("LOGIN alice alicepw")
        assert "NO [PRIVACYREQUIRED]" in t
        _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("alice", "alicepw"))
        assert " NO " in t
        r.starttls(env.client_context())
        lines, t = r.cmd("CAPABILITY")
        caps = lines[0].split()[2:]
        assert "LOGINDISABLED" not in caps and "STARTTLS" not in caps
        assert "AUTH=PLAIN" in caps
        _, t = r.cmd("STARTTLS")
        assert " BAD " in t
        _, t = r.cmd("LOGIN alice alicepw")
        assert " OK [CAPABILITY" in t
        r.close()
        # implicit TLS on the imaps listener
        c = imaplib.IMAP4_SSL("127.0.0.1", port_of(m, "imaps"),
                              ssl_context=env.client_context(), timeout=15)
        assert "LOGINDISABLED" not in c.welcome.decode()
        ok(c.login("alice", "alicepw"))
        c.logout()
        # imaplib's STARTTLS + LOGIN
        c = env.connect(m)
        ok(c.starttls(env.client_context()))
        ok(c.login("bob", "bobpw"))
        c.logout()


def test_authenticate_plain(server):
    env, m = server
    r = env.raw(m)
    # SASL-IR
    _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("alice", "alicepw"))
    assert " OK [CAPABILITY" in t and "Success" in t
    r.close()
    # with a continuation
    r = env.raw(m)
    tag = r.tag()
    r.send(tag + " AUTHENTICATE PLAIN")
    assert r.readline() == "+ "
    r.send(plain_ir("bob", "bobpw"))
    _, t = r.response(tag)
    assert " OK " in t
    lines, t = r.cmd("MYRIGHTS INBOX")
    assert lines[0].startswith("* MYRIGHTS INBOX ")
    r.close()
    # wrong password, cancel, bad base64, unknown mechanism
    r = env.raw(m)
    _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("alice", "nope"))
    assert "NO [AUTHENTICATIONFAILED]" in t
    tag = r.tag()
    r.send(tag + " AUTHENTICATE PLAIN")
    assert r.readline().startswith("+")
    r.send("*")
    _, t = r.response(tag)
    assert " BAD " in t
    tag = r.tag()
    r.send(tag + " AUTHENTICATE PLAIN")
    assert r.readline().startswith("+")
    r.send("!!!not base64!!!")
    _, t = r.response(tag)
    assert " BAD " in t
    _, t = r.cmd("AUTHENTICATE X-UNKNOWN")
    assert " NO " in t
    _, t = r.cmd("NOOP")
    assert " OK " in t
    r.close()


def test_proxy_authorization(server):
    env, m = server
    # alice may not act as bob
    r = env.raw(m)
    _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("alice", "alicepw", authz="bob"))
    assert "NO [AUTHENTICATIONFAILED]" in t
    r.close()
    # the proxy server may act as alice, and then is alice, not an admin
    r = env.raw(m)
    _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("proxy", "proxypw", authz="alice"))
    assert " OK " in t
    lines, t = r.cmd("LIST \"\" INBOX")
    assert lines == ['* LIST (\\HasNoChildren) "." INBOX']
    _, t = r.cmd("CREATE user.proxytest")
    assert "NO [NOPERM]" in t
    r.close()
    # an admin may act as a user too
    r = env.raw(m)
    _, t = r.cmd("AUTHENTICATE PLAIN " + plain_ir("cyrus", "cyruspw", authz="bob"))
    assert " OK " in t
    lines, _ = r.cmd("NAMESPACE")
    r.close()


# ---- COMPRESS, NAMESPACE, ID, ENABLE -----------------------------------------

def test_compress_deflate(server):
    env, m = server
    r = env.raw(m)
    _, t = r.cmd("COMPRESS DEFLATE")
    assert "BAD Please login first" in t
    r.cmd("LOGIN alice alicepw")
    _, t = r.cmd("COMPRESS LZ77")
    assert " BAD " in t
    _, t = r.cmd("COMPRESS DEFLATE")
    assert " OK " in t
    r.start_compress()
    lines, t = r.cmd("CAPABILITY")
    assert "COMPRESS=DEFLATE" not in lines[0]
    lines, t = r.cmd("LIST \"\" INBOX")
    assert lines == ['* LIST (\\HasNoChildren) "." INBOX']
    _, t = r.cmd("COMPRESS DEFLATE")
    assert "NO [COMPRESSIONACTIVE]" in t
    # a big response crosses several deflate blocks
    lines, t = r.cmd("ID (" + " ".join('"k%d" "%s"' % (i, "v" * 1000) for i in range(30)) + ")")
    assert " OK " in t
    lines, t = r.cmd("LOGOUT")
    assert lines == ["* BYE LOGOUT received"]
    r.close()


def test_namespace_id_enable(server):
    env, m = server
    c = env.login(m, "alice")
    assert ok(c.namespace()) == [b'(("INBOX." ".")) (("user." ".")) (("" "."))']
    typ, data = c.xatom("ID", '("name" "pytest" "version" "1")')
    assert typ == "OK"
    ids = c.untagged_responses.pop("ID")
    assert b'"name" "Cyrus-style imapd"' in ids[0]
    typ, data = c.xatom("ID", "NIL")
    assert typ == "OK"
    with pytest.raises(imaplib.IMAP4.error):
        c.xatom("ID", '("odd")')
    with pytest.raises(imaplib.IMAP4.error):
        c.xatom("ID", '(' + " ".join('"k%d" "v"' % i for i in range(31)) + ')')
    typ, data = c._simple_command("ENABLE", "CONDSTORE", "X-UNKNOWN")
    assert typ == "OK"
    c.logout()
    r = env.raw(m)
    lines, t = r.cmd("ENABLE CONDSTORE")
    assert "BAD" in t
    lines, t = r.cmd("ID NIL")
    assert lines[0].startswith("* ID ")
    r.cmd("LOGIN alice alicepw")
    lines, t = r.cmd("ENABLE X-FOO")
    assert lines == ["* ENABLED"]
    r.close()


# ---- CREATE, DELETE, RENAME ---------------------------------------------------

def names(listing):
    out = {}
    for item in listing:
        if item is None:
            continue
        if isinstance(item, tuple):
            item = item[0] + item[1]
        m = re.match(rb'\(([^)]*)\) (?:"(.)"|NIL) (.*)$', item)
        assert m, item
        name = m.group(3).decode()
        if name.startswith('"'):
            name = name[1:-1]
        out[name] = set(m.group(1).decode().split())
    return out


def test_create_delete(server):
    env, m = server
    c = env.login(m, "alice")
    ok(c.create("INBOX.cd1"))
    no(c.create("INBOX.cd1"), "ALREADYEXISTS")
    no(c.create("INBOX"), "ALREADYEXISTS")
    no(c.create("topfolder"), "NOPERM")
    no(c.create("user.bob.intruder"), "NOPERM")
    no(c.create('"INBOX.bad%name"'), "CANNOT")
    ok(c.create("INBOX.cd2."))            # trailing separator dropped
    # RFC 3501 6.3.3 (and Cyrus): the superior names are created too
    ok(c.create("INBOX.cd3.deep.er"))
    got = names(ok(c.list('""', "INBOX.cd*")))
    assert got["INBOX.cd1"] == {"\\HasNoChildren"}
    assert got["INBOX.cd2"] == {"\\HasNoChildren"}
    assert got["INBOX.cd3.deep.er"] == {"\\HasNoChildren"}
    assert got["INBOX.cd3"] == {"\\HasChildren"}
    got = names(ok(c.list('""', "INBOX.cd3.%")))
    assert got == {"INBOX.cd3.deep": {"\\HasChildren"}}
    ok(c.select("INBOX.cd3"))
    ok(c.unselect())
    # a deleted parent of an existing child is \Noselect again
    ok(c.delete("INBOX.cd3.deep"))
    got = names(ok(c.list('""', "INBOX.cd3.%")))
    assert got == {"INBOX.cd3.deep": {"\\Noselect", "\\HasChildren"}}
    no(c.select("INBOX.cd3.deep"), "NONEXISTENT")
    ok(c.delete("INBOX.cd1"))
    no(c.delete("INBOX.cd1"), "NONEXISTENT")
    no(c.delete("INBOX"), "NOPERM")
    # a mailbox with children is deleted alone
    ok(c.create("INBOX.cd2.kid"))
    ok(c.delete("INBOX.cd2"))
    got = names(ok(c.list('""', "INBOX.cd2*")))
    assert got == {"INBOX.cd2.kid": {"\\HasNoChildren"}}
    c.logout()


def test_rename(server):
    env, m = server
    c = env.login(m, "alice")
    ok(c.create("INBOX.rn1"))
    ok(c.create("INBOX.rn1.child"))
    ok(c.rename("INBOX.rn1", "INBOX.rn2"))
    got = names(ok(c.list('""', "INBOX.rn*")))
    assert set(got) == {"INBOX.rn2", "INBOX.rn2.child"}
    no(c.rename("INBOX.nonexistent", "INBOX.x"), "NONEXISTENT")
    ok(c.create("INBOX.rn3"))
    no(c.rename("INBOX.rn3", "INBOX.rn2"), "ALREADYEXISTS")
    no(c.rename("INBOX.rn3", "user.bob.stolen"), "NOPERM")
    no(c.rename("INBOX.rn2", "INBOX.rn2.child.loop"))
    ok(c.select("INBOX.rn2.child"))
    ok(c.close())
    c.logout()


def test_rename_inbox_moves_messages(server):
    env, m = server
    env.append(m, "carol", message(1), message(2), message(3))
    c = env.login(m, "carol")
    ok(c.create("INBOX.keep"))
    assert ok(c.select("INBOX")) == [b"3"]
    # RFC 3501 6.3.5: the messages move, INBOX stays (empty), and its
    # inferior mailboxes are not touched
    ok(c.rename("INBOX", "INBOX.old"))
    assert ok(c.noop()) is not None
    got = names(ok(c.list('""', "*")))
    assert {"INBOX", "INBOX.old", "INBOX.keep"} <= set(got)
    st = ok(c.status("INBOX", "(MESSAGES)"))
    assert b"MESSAGES 0" in st[0]
    st = ok(c.status("INBOX.old", "(MESSAGES UIDNEXT)"))
    assert b"MESSAGES 3" in st[0]
    # and a plain rename keeps the messages
    ok(c.rename("INBOX.old", "INBOX.older"))
    typ, data = c.select("INBOX.older")
    assert typ == "OK" and data == [b"3"]
    ok(c.unselect() if hasattr(c, "unselect") else c._simple_command("UNSELECT"))
    assert env.listing(m, "carol") == {}
    c.logout()


# ---- LIST, LSUB, SUBSCRIBE -------------------------------------------------------

def test_list_patterns_and_children(server):
    env, m = server
    c = env.login(m, "bob")
    for n in ("INBOX.l", "INBOX.l.a", "INBOX.l.a.x", "INBOX.l.b", "INBOX.lz"):
        ok(c.create(n))
    assert names(ok(c.list('""', '""'))) == {"": {"\\Noselect"}}
    typ, data = c.list('""', '""')
    assert data == [b'(\\Noselect) "." ""']
    got = names(ok(c.list('""', "INBOX.l.%")))
    assert got == {"INBOX.l.a": {"\\HasChildren"}, "INBOX.l.b": {"\\HasNoChildren"}}
    got = names(ok(c.list('""', "INBOX.l*")))
    assert set(got) == {"INBOX.l", "INBOX.l.a", "INBOX.l.a.x", "INBOX.l.b", "INBOX.lz"}
    got = names(ok(c.list("INBOX.l.", "%")))      # reference + pattern
    assert set(got) == {"INBOX.l.a", "INBOX.l.b"}
    got = names(ok(c.list('""', "inbox")))            # INBOX is case-insensitive
    assert got == {"INBOX": {"\\HasChildren"}}
    got = names(ok(c.list('""', "%")))
    assert got == {"INBOX": {"\\HasChildren"}}     # nothing of other users
    got = names(ok(c.list('""', "user.%")))
    assert got == {}
    # RETURN (CHILDREN) and several patterns (LIST-EXTENDED)
    got = names(ok(c._simple_command("LIST", '""', '(INBOX.l.a INBOX.lz)',
                                     "RETURN", "(CHILDREN)")) and
                c.untagged_responses.pop("LIST"))
    assert got == {"INBOX.l.a": {"\\HasChildren"}, "INBOX.lz": {"\\HasNoChildren"}}
    c.logout()


def test_subscriptions(server):
    env, m = server
    c = env.login(m, "bob")
    for n in ("INBOX.s", "INBOX.s.one", "INBOX.s.two"):
        ok(c.create(n))
    ok(c.subscribe("INBOX.s.one"))
    ok(c.subscribe("INBOX.s.one"))
    no(c.subscribe("INBOX.s.none"), "NONEXISTENT")
    got = names(ok(c.lsub('""', "INBOX.s*")))
    assert got == {"INBOX.s.one": set()}
    got = names(ok(c.lsub('""', "INBOX.%")))
    assert got == {"INBOX.s": {"\\Noselect"}}     # parent of a subscription
    # LIST (SUBSCRIBED), RETURN (SUBSCRIBED), RECURSIVEMATCH
    typ, _ = c._simple_command("LIST", "(SUBSCRIBED)", '""', '"INBOX.s*"')
    got = names(c.untagged_responses.pop("LIST"))
    assert got == {"INBOX.s.one": {"\\Subscribed"}}
    typ, _ = c._simple_command("LIST", '""', '"INBOX.s.*"', "RETURN", "(SUBSCRIBED)")
    got = names(c.untagged_responses.pop("LIST"))
    assert got["INBOX.s.one"] == {"\\Subscribed", "\\HasNoChildren"}
    assert got["INBOX.s.two"] == {"\\HasNoChildren"}
    typ, _ = c._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', '"INBOX.%"')
    raw = c.untagged_responses.pop("LIST")
    assert any(b'"INBOX.s"' in x or b" INBOX.s " in x + b" " for x in raw)
    assert any(b"CHILDINFO" in x for x in raw)
    with pytest.raises(imaplib.IMAP4.error):
        c._simple_command("LIST", "(RECURSIVEMATCH)", '""', '"*"')
    ok(c.unsubscribe("INBOX.s.one"))
    ok(c.unsubscribe("INBOX.s.one"))
    assert names(ok(c.lsub('""', "INBOX.s*"))) == {}
    c.logout()


def test_status(server):
    env, m = server
    env.append(m, "mallory", message(1), message(2))
    c = env.login(m, "mallory")
    data = ok(c.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"))
    fields = re.search(rb"\((.*)\)", data[0]).group(1).split()
    st = dict(zip(fields[::2], [int(x) for x in fields[1::2]]))
    assert st[b"MESSAGES"] == 2 and st[b"RECENT"] == 2 and st[b"UNSEEN"] == 2
    assert st[b"UIDNEXT"] >= 3 and st[b"UIDVALIDITY"] > 0
    ok(c.select("INBOX"))
    c.close()
    data = ok(c.status("INBOX", "(RECENT MESSAGES)"))
    assert data[0].endswith(b"(RECENT 0 MESSAGES 2)")
    with pytest.raises(imaplib.IMAP4.error):
        c.status("INBOX", "(BOGUS)")
    no(c.status("INBOX.nonexistent", "(MESSAGES)"), "NONEXISTENT")
    c.logout()


# ---- ACL ------------------------------------------------------------------------

def test_acl_commands(server):
    env, m = server
    a = env.login(m, "alice")
    ok(a.create("INBOX.shared"))
    data = ok(a.getacl("INBOX.shared"))
    assert data[0].startswith(b"INBOX.shared alice lrswipkxtecdan")
    ok(a.setacl("INBOX.shared", "bob", "lr"))
    data = ok(a.getacl("INBOX.shared"))
    assert b"bob lr" in data[0]
    data = ok(a._simple_command("LISTRIGHTS", "INBOX.shared", "bob")) and \
        a.untagged_responses.pop("LISTRIGHTS")
    assert data[0].startswith(b'INBOX.shared bob "" l r s w i p k x t e a n')
    with pytest.raises(imaplib.IMAP4.error):
        a.setacl("INBOX.shared", "bob", "lrQ")

    b = env.login(m, "bob")
    data = ok(b.myrights("user.alice.shared"))
    assert data == [b"user.alice.shared lr"]
    got = names(ok(b.list('""', "user.alice.*")))
    assert got == {"user.alice.shared": {"\\HasNoChildren"}}
    no(b.getacl("user.alice.shared"), "NOPERM")
    no(b.setacl("user.alice.shared", "bob", "lrswipkxtecda"), "NOPERM")
    no(b.delete("user.alice.shared"), "NOPERM")
    no(b.create("user.alice.shared.sub"), "NOPERM")
    with pytest.raises(b.readonly):       # SELECT answered READ-ONLY
        b.select("user.alice.shared")
    b.untagged_responses.pop("READ-ONLY")
    b.close()
    got = names(ok(b.list('""', "%")))
    assert got["user"] == {"\\Noselect", "\\HasChildren"}
    got = names(ok(b.list('""', "user.%")))
    assert got == {"user.alice": {"\\Noselect", "\\HasChildren"}}

    c = env.login(m, "carol")
    no(c.select("user.alice.shared"), "NONEXISTENT")
    no(c.myrights("user.alice.shared"), "NONEXISTENT")
    assert names(ok(c.list('""', "user.alice*"))) == {}

    ok(a.deleteacl("INBOX.shared", "bob"))
    data = ok(a.getacl("INBOX.shared"))
    assert b"bob" not in data[0]
    no(b.myrights("user.alice.shared"), "NONEXISTENT")
    for x in (a, b, c):
        x.logout()


# ---- administration ---------------------------------------------------------------

def test_admin_partition_and_user_delete(server):
    env, m = server
    adm = env.login(m, "cyrus")
    ok(adm.create("user.dave"))
    ok(adm._simple_command("CREATE", "user.dave.onp2", "p2"))
    assert os.path.isdir(os.path.join(env.spool2, "user", "dave", "onp2"))
    no(adm._simple_command("CREATE", "user.dave.x", "nosuchpartition"), "CANNOT")
    ok(adm.create("user.dave.sub"))
    ok(adm.create("user.dave.sub.deeper"))
    # RENAME with a partition moves the mailbox between partitions
    ok(adm._simple_command("RENAME", "user.dave.sub", "user.dave.sub", "p2"))
    assert os.path.exists(os.path.join(env.spool2, "user", "dave", "sub", "cyrus.index"))
    assert not os.path.exists(os.path.join(env.spool, "user", "dave", "sub", "cyrus.index"))
    data = ok(adm.status("user.dave.sub", "(MESSAGES)"))
    assert b"MESSAGES 0" in data[0]
    got = names(ok(adm.list('""', "user.dave*")))
    assert set(got) == {"user.dave", "user.dave.onp2", "user.dave.sub", "user.dave.sub.deeper"}
    # non-admins may not pick partitions
    a = env.login(m, "alice")
    no(a._simple_command("CREATE", "INBOX.p", "p2"), "NOPERM")
    a.logout()
    # deleting the INBOX deletes the user
    ok(adm.delete("user.dave"))
    assert names(ok(adm.list('""', "user.dave*"))) == {}
    assert not os.path.exists(os.path.join(env.spool2, "user", "dave", "onp2", "cyrus.index"))
    adm.logout()


def test_quota(server):
    env, m = server
    adm = env.login(m, "cyrus")
    ok(adm.create("user.quser"))
    ok(adm.setquota("user.quser", "(STORAGE 100 MESSAGE 5)"))
    data = ok(adm.getquota("user.quser"))
    assert data == [b"user.quser (STORAGE 0 100 MESSAGE 0 5)"]
    no(adm.getquota("user.nosuch"), "NONEXISTENT")
    no(adm.setquota("user.nosuch", "(STORAGE 1)"), "NONEXISTENT")
    with pytest.raises(imaplib.IMAP4.error):
        adm.setquota("user.quser", "(STORAGE)")
    # (SETQUOTA recounts the usage of the mailboxes below the root)
    data = message(1)
    env.append(m, "quser", data + b"x" * (2500 - len(data) - 2) + b"\r\n")
    ok(adm.setquota("user.quser", "(STORAGE 100 MESSAGE 5)"))
    data = ok(adm.getquota("user.quser"))
    assert data == [b"user.quser (STORAGE 2 100 MESSAGE 1 5)"]
    typ, data = adm.getquotaroot("user.quser")
    assert typ == "OK"
    assert data[0] == [b"user.quser user.quser"]
    # users may read their own quota, not change it
    a = env.login(m, "alice")
    no(a.setquota("user.alice", "(STORAGE 1000000)"), "NOPERM")
    no(a.getquota("user.quser"), "NOPERM")
    typ, data = a.getquotaroot("INBOX")
    assert typ == "OK" and data[0] == [b"INBOX"]       # no quota root
    a.logout()
    ok(adm.setquota("user.quser", "()"))
    no(adm.getquota("user.quser"), "NONEXISTENT")
    # RECONSTRUCT: admins only
    ok(adm._simple_command("RECONSTRUCT", "user.quser"))
    b = env.login(m, "bob")
    no(b._simple_command("RECONSTRUCT", "INBOX"), "NOPERM")
    b.logout()
    adm.logout()


def test_quota_domain_root():
    """virtdomains: a domain's root "example.org!" governs every mailbox of
    the domain, those created later too; other roots must be mailboxes."""
    with running(virtdomains="userid") as (env, m):
        adm = env.login(m, "cyrus")
        ok(adm.create("user.dave@example.org"))
        data = message(1)
        env.append(m, "dave@example.org", data + b"x" * (2500 - len(data) - 2) + b"\r\n")
        ok(adm.setquota("example.org!", "(STORAGE 100 MESSAGE 5)"))
        assert ok(adm.getquota("example.org!")) == [b"example.org! (STORAGE 2 100 MESSAGE 1 5)"]
        typ, data = adm.getquotaroot("user.dave@example.org")
        assert typ == "OK"
        assert data == [[b"user.dave@example.org example.org!"],
                        [b"example.org! (STORAGE 2 100 MESSAGE 1 5)"]]
        ok(adm.create("user.dave.sub@example.org"))
        typ, data = adm.getquotaroot("user.dave.sub@example.org")
        assert data[0] == [b"user.dave.sub@example.org example.org!"]
        no(adm.setquota("user.nosuch@example.org", "(STORAGE 1)"), "NONEXISTENT")
        ok(adm.setquota("example.org!", "()"))
        no(adm.getquota("example.org!"), "NONEXISTENT")
        typ, data = adm.getquotaroot("user.dave@example.org")
        assert data[0] == [b"user.dave@example.org"]
        adm.logout()


# ---- SELECT, EXAMINE, IDLE ----------------------------------------------------------

def test_select_examine_codes(server):
    env, m = server
    adm = env.login(m, "cyrus")
    ok(adm.create("user.sel"))
    adm.logout()
    env.append(m, "sel", message(1), message(2), message(3))
    r = env.raw(m)
    r.cmd("LOGIN bob bobpw")
    # bob has no rights on user.sel
    _, t = r.cmd("SELECT user.sel")
    assert "NO [NONEXISTENT]" in t
    r.close()
    r = env.raw(m)
    r.cmd("LOGIN cyrus cyruspw")
    lines, t = r.cmd("SELECT user.sel")
    assert t.endswith("OK [READ-WRITE] Completed")
    assert "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)" in lines
    assert any(l.startswith("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted "
                            "\\Seen \\*)]") for l in lines)
    assert "* 3 EXISTS" in lines
    assert "* 3 RECENT" in lines
    assert any(l.startswith("* OK [UNSEEN 1]") for l in lines)
    assert any(re.match(r"\* OK \[UIDVALIDITY \d+\]", l) for l in lines)
    assert any(l.startswith("* OK [UIDNEXT 4]") for l in lines)
    # the second SELECT by the same user: nothing is recent any more
    lines, t = r.cmd("EXAMINE user.sel")
    assert t.endswith("OK [READ-ONLY] Completed")
    assert "* 0 RECENT" in lines
    assert any(l.startswith("* OK [PERMANENTFLAGS ()]") for l in lines)
    _, t = r.cmd("CHECK")
    assert " OK " in t
    _, t = r.cmd("UNSELECT")
    assert " OK " in t
    _, t = r.cmd("CHECK")
    assert "BAD" in t
    lines, t = r.cmd("SELECT user.nosuch")
    assert "NO [NONEXISTENT]" in t
    r.close()


def test_two_sessions_and_idle(server):
    env, m = server
    adm = env.login(m, "cyrus")
    ok(adm.create("user.idler"))
    adm.logout()
    env.append(m, "idler", message(1))
    a = env.raw(m)
    a.cmd("LOGIN cyrus cyruspw")
    lines, t = a.cmd("SELECT user.idler")
    assert "* 1 EXISTS" in lines
    b = env.raw(m)
    b.cmd("LOGIN cyrus cyruspw")
    lines, _ = b.cmd("EXAMINE user.idler")
    assert "* 1 EXISTS" in lines

    # at command boundaries
    uids = env.append(m, "idler", message(2))
    lines, t = b.cmd("NOOP")
    assert "* 2 EXISTS" in lines

    # during IDLE, within a second
    tag = a.tag()
    a.send(tag + " IDLE")
    # what happened before IDLE is reported first
    assert a.readline() == "* 2 EXISTS"
    assert a.readline() == "* 2 RECENT"
    assert a.readline() == "+ idling"
    start = time.monotonic()
    env.append(m, "idler", message(3))
    seen = []
    while "* 3 EXISTS" not in seen:
        seen.append(a.readline(timeout=5))
    assert time.monotonic() - start < 2.5, seen
    assert a.readline(timeout=5) == "* 3 RECENT"
    env.expunge(m, "idler", uids[0])
    line = a.readline(timeout=5)
    assert line == "* 2 EXPUNGE", line
    a.send("DONE")
    _, t = a.response(tag)
    assert t == tag + " OK Completed"

    # the other session learns it at its next command (FETCH, STORE and
    # SEARCH may not send EXPUNGE, NOOP may)
    lines, _ = b.cmd("NOOP")
    assert lines[:2] == ["* 2 EXPUNGE", "* 2 EXISTS"]

    # flag changes: FETCH FLAGS at the other session's next command ...
    lines, t = a.cmd("STORE 1 +FLAGS (\\Flagged)")
    assert " OK " in t
    lines, t = a.cmd("NOOP")
    assert not any("FETCH" in x for x in lines), lines    # not twice to the changer
    lines, _ = b.cmd("NOOP")
    assert any(re.match(r"\* 1 FETCH \(FLAGS \([^)]*\\Flagged[^)]*\)\)$", x)
               for x in lines), lines
    # ... with the UID during a UID command ...
    lines, t = a.cmd("STORE 1 +FLAGS (\\Answered)")
    lines, _ = b.cmd("UID SEARCH ALL")
    assert any(re.match(r"\* 1 FETCH \(FLAGS \(.*\\Answered.*\) UID \d+\)$", x)
               for x in lines), lines
    # ... and during IDLE
    tag = b.tag()
    b.send(tag + " IDLE")
    assert b.readline() == "+ idling"
    start = time.monotonic()
    lines, t = a.cmd("STORE 1 -FLAGS (\\Flagged)")
    line = b.readline(timeout=5)
    assert line.startswith("* 1 FETCH (FLAGS (") and "Flagged" not in line, line
    assert time.monotonic() - start < 2.5
    b.send("DONE")
    _, t = b.response(tag)
    assert " OK " in t
    # a bad IDLE continuation
    tag = a.tag()
    a.send(tag + " IDLE")
    assert a.readline() == "+ idling"
    a.send("NOTDONE")
    _, t = a.response(tag)
    assert " BAD " in t
    _, t = a.cmd("NOOP")
    assert " OK " in t
    a.close()
    b.close()


# ---- malformed input -----------------------------------------------------------

def test_malformed_commands(server):
    env, m = server
    r = env.raw(m)
    r.send("")
    assert r.readline().startswith("* BAD")
    r.send("+plus NOOP")
    assert r.readline().startswith("* BAD")
    _, t = r.cmd("NOSUCHCOMMAND")
    assert "BAD Unrecognized command" in t
    _, t = r.cmd("UID NOOP")
    assert " BAD " in t
    r.send("t99")
    assert r.readline().startswith("t99 BAD")
    _, t = r.cmd("NOOP extra")
    assert " BAD " in t
    r.cmd("LOGIN alice alicepw")
    # a huge line: one atom over maxword, then the connection still works
    _, t = r.cmd("SELECT " + "x" * 300000)
    assert " BAD " in t
    _, t = r.cmd("LIST \"\" " + "%" * 200000)
    assert " BAD " in t or " OK " in t
    # bad literals
    _, t = r.cmd("SELECT {abc}")
    assert " BAD " in t
    tag = r.tag()
    r.send(tag + " SELECT {99999999999}")
    _, t = r.response(tag)           # refused: no continuation comes
    assert " BAD " in t
    tag = r.tag()
    r.send(tag + " SELECT {3}")
    assert r.readline() == "+ go ahead"
    r.send_raw(b"a\x00b\r\n")
    _, t = r.response(tag)
    assert " BAD " in t
    # a refused non-synchronising literal is swallowed
    tag = r.tag()
    r.send_raw(("%s SELECT {2000000+}\r\n" % tag).encode() + b"y" * 2000000 + b"\r\n")
    _, t = r.response(tag)
    assert " BAD " in t
    # deep nesting
    _, t = r.cmd("ID " + "(" * 100 + ")" * 100)
    assert " BAD " in t
    _, t = r.cmd("STATUS INBOX (MESSAGES (((((((((((((((((((((((((((((((((((())))))))))))))))))))))))))))))))))))")
    assert " BAD " in t
    # quoted strings with bad escapes and unterminated
    _, t = r.cmd('SELECT "a\\qb"')
    assert " BAD " in t
    _, t = r.cmd('SELECT "unterminated')
    assert " BAD " in t
    # sequence sets against an empty mailbox: numbers that do not exist are
    # BAD, UIDs that do not exist are ignored
    lines, t = r.cmd("SELECT INBOX")
    assert " OK " in t and "* 0 EXISTS" in lines
    for bad in ("FETCH 1 FLAGS", "FETCH * FLAGS", "FETCH 0 FLAGS", "FETCH 1:x FLAGS",
                "STORE 1 +FLAGS (\\Seen)"):
        _, t = r.cmd(bad)
        assert " BAD " in t, (bad, t)
    lines, t = r.cmd("UID FETCH 1:* FLAGS")
    assert lines == [] and " OK " in t
    _, t = r.cmd("NOOP")
    assert t.endswith("OK Completed")
    r.close()


# ---- timeouts and namespaces ----------------------------------------------------

def test_idle_timeout(cyrus_build):
    with running(env_vars={"IMAPD_TEST_TIMEOUT_SECONDS": "2"}) as (env, m):
        r = env.raw(m)
        r.cmd("LOGIN alice alicepw")
        time.sleep(3)
        assert r.readline(timeout=5) == "* BYE Autologout; idle for too long"
        assert r.closed()
        # IDLE is bounded by the same timer
        r = env.raw(m)
        r.cmd("LOGIN alice alicepw")
        r.send("i1 IDLE")
        assert r.readline() == "+ idling"
        assert r.readline(timeout=8) == "* BYE Autologout; idle for too long"
        assert r.closed()
        assert "test timeout in use" in m.read_log()


def test_unix_hierarchy_separator(cyrus_build):
    with running(unixhierarchysep="yes") as (env, m):
        adm = env.login(m, "cyrus")
        ok(adm.create("user/alice"))
        ok(adm.create("user/john.doe"))
        got = names(ok(adm.list('""', "user/*")))
        assert set(got) == {"user/alice", "user/john.doe"}
        adm.logout()
        c = env.login(m, "alice")
        ok(c.create("INBOX/dotted.name"))
        got = names(ok(c.list('""', "*")))
        assert "INBOX/dotted.name" in got
        typ, data = c.list('""', '""')
        assert data == [b'(\\Noselect) "/" ""']
        assert ok(c.namespace()) == [b'(("INBOX/" "/")) (("user/" "/")) (("" "/"))']
        c.logout()


def test_murder_changes_refused_without_mupdate_client(cyrus_build):
    with running(mupdate_server="127.0.0.1") as (env, m):
        adm = env.login(m, "cyrus")
        no(adm.create("user.alice"), "UNAVAILABLE")
        assert names(ok(adm.list('""', "*"))) == {}
        adm.logout()
        assert "no mupdate client" in m.read_log()


def test_default_alt_namespace(cyrus_build):
    # the production defaults: altnamespace and "/" as separator
    with running(altnamespace="yes", unixhierarchysep="yes") as (env, m):
        adm = env.login(m, "cyrus")
        ok(adm.create("user/alice"))
        ok(adm.create("user/bob"))
        ok(adm.create("user/bob/Public"))
        ok(adm.setacl("user/bob/Public", "alice", "lr"))
        adm.logout()
        c = env.login(m, "alice")
        assert ok(c.namespace()) == [b'(("" "/")) (("Other Users/" "/")) '
                                     b'(("Shared Folders/" "/"))']
        ok(c.create("Sent"))
        ok(c.create("Sent/2024"))
        got = names(ok(c.list('""', "%")))
        assert got["INBOX"] == {"\\HasNoChildren"}
        assert got["Sent"] == {"\\HasChildren"}
        assert got["Other Users"] == {"\\Noselect", "\\HasChildren"}
        got = names(ok(c.list('""', '"Other Users/*"')))
        assert set(got) == {"Other Users/bob/Public"}
        ok(c.select("Sent/2024"))
        c.logout()
        adm = env.login(m, "cyrus")
        got = names(ok(adm.list('""', "user/alice*")))
        assert set(got) == {"user/alice", "user/alice/Sent", "user/alice/Sent/2024"}
        adm.logout()
