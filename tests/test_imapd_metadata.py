"""imapd: the METADATA extension (RFC 5464) -- GETMETADATA and SETMETADATA
on mailboxes and on the server, spoken as raw IMAP lines against a real
imapd under master: the grammar (options before or after the mailbox, one
entry or a list, the "/*" and "/%" wildcards cyradm sends), DEPTH and
MAXSIZE, NIL to remove, the read-only vendor entries computed from the
mailbox, the rights of RFC 5464 3.3, the limits and their response codes,
DELETE and RENAME carrying a mailbox's entries, and malformed commands
(BAD, never a crash: the session goes on).
"""

import re

import pytest

import util
from imapd_fixtures import (USERS, ImapEnv, imap_services, message, raw_answer, raw_login,
                            raw_ok, serve_module)

CMU = "/shared/vendor/cmu/cyrus-imapd"


@pytest.fixture(scope="module")
def server(cyrus_build):
    yield from serve_module(("alice", "bob", "carol"),
                            services=imap_services(extra_args="-U 1"))


login = raw_login


def quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def metadata(lines):
    """{mailbox: {entry: value or None}} from the untagged METADATA lines
    (quoted strings and NIL only)."""
    out = {}
    for line in lines:
        mm = re.match(r'\* METADATA ("(?:[^"\\]|\\.)*"|\S+) \((.*)\)$', line)
        assert mm, line
        box = mm.group(1).strip('"')
        toks = re.findall(r'"((?:[^"\\]|\\.)*)"|(NIL)', mm.group(2))
        vals = [None if nil else re.sub(r"\\(.)", r"\1", q) for q, nil in toks]
        assert len(vals) % 2 == 0, line
        d = out.setdefault(box, {})
        for i in range(0, len(vals), 2):
            d[vals[i]] = vals[i + 1]
    return out


def get(r, args):
    lines, t = r.cmd("GETMETADATA " + args)
    assert " OK " in t, t
    return metadata(lines), t


ok = raw_ok
answer = raw_answer


def test_capability_and_set_get(server):
    env, m = server
    r = login(env, m, "cyrus")
    _, t = r.cmd("NOOP")
    lines, _ = r.cmd("CAPABILITY")
    assert "METADATA" in lines[0].split()
    ok(r, 'SETMETADATA user.alice (/shared/comment "Alice\'s mail" '
          '/private/comment "admin note")')
    md, _ = get(r, "user.alice (/shared/comment /private/comment)")
    assert md == {"user.alice": {"/shared/comment": "Alice's mail",
                                 "/private/comment": "admin note"}}
    # a single entry without parentheses; names are case-insensitive
    md, _ = get(r, "user.alice /SHARED/Comment")
    assert md["user.alice"] == {"/shared/comment": "Alice's mail"}
    # an entry without value is NIL when asked by name
    md, _ = get(r, "user.alice /shared/vendor/test/none")
    assert md["user.alice"] == {"/shared/vendor/test/none": None}
    # literals, quoted specials, an empty value, 8-bit data via a literal
    tag = r.tag()
    r.send(tag + ' SETMETADATA user.alice (/shared/vendor/test/lit {10}')
    assert r.readline() == "+ go ahead"
    r.send('two\r\nlines /shared/vendor/test/empty "" /shared/vendor/test/q "a \\"b\\" \\\\c")')
    _, t = r.response(tag)
    assert " OK " in t, t
    lines, t = ok(r, "GETMETADATA user.alice (/shared/vendor/test/empty /shared/vendor/test/q)")
    md = metadata(lines)
    assert md["user.alice"] == {"/shared/vendor/test/empty": "", "/shared/vendor/test/q": 'a "b" \\c'}
    lines, t = ok(r, "GETMETADATA user.alice /shared/vendor/test/lit")
    assert lines[0] == '* METADATA user.alice ("/shared/vendor/test/lit" {10}'
    assert lines[1] == "two"
    assert lines[2] == "lines)"
    # the server's own entries (mailbox "")
    ok(r, 'SETMETADATA "" (/shared/comment "the server" /shared/admin "postmaster@imap.test")')
    md, _ = get(r, '"" (/shared/comment /shared/admin)')
    assert md[""] == {"/shared/comment": "the server", "/shared/admin": "postmaster@imap.test"}
    r.close()


def test_nil_deletes(server):
    env, m = server
    r = login(env, m, "cyrus")
    ok(r, 'SETMETADATA user.bob (/shared/comment "x" /private/comment "y")')
    ok(r, "SETMETADATA user.bob (/shared/comment NIL)")
    md, _ = get(r, "user.bob (/shared/comment /private/comment)")
    assert md["user.bob"] == {"/shared/comment": None, "/private/comment": "y"}
    # removing what is not there is fine
    ok(r, "SETMETADATA user.bob (/shared/comment NIL /private/comment nil)")
    md, _ = get(r, "(DEPTH infinity) user.bob (/private)")
    assert md["user.bob"] == {"/private": None}
    # "NIL" quoted is a value
    ok(r, 'SETMETADATA user.bob (/shared/comment "NIL")')
    md, _ = get(r, "user.bob /shared/comment")
    assert md["user.bob"] == {"/shared/comment": "NIL"}
    ok(r, "SETMETADATA user.bob (/shared/comment NIL)")
    r.close()


def test_computed_vendor_entries(server):
    env, m = server
    env.append(m, "carol", message(1), message(2))
    sizes = sum(s for s, _ in env.listing(m, "carol").values())
    assert sizes > 0
    r = login(env, m, "cyrus")
    md, _ = get(r, 'user.carol ("/shared/*")')
    v = md["user.carol"]
    assert v[CMU + "/partition"] == "default"
    assert v[CMU + "/size"] == str(sizes)
    assert v[CMU + "/server"] == "imap.test"
    assert re.match(r"^[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}$",
                    v[CMU + "/lastupdate"]), v
    assert re.match(r"^[0-9a-z]+$", v[CMU + "/uniqueid"])
    # computed, never stored: read-only
    t = answer(r, 'SETMETADATA user.carol (%s/size "1")' % CMU, code="NOPERM")
    t = answer(r, 'SETMETADATA user.carol (%s/partition NIL)' % CMU, code="NOPERM")
    # entries this server does not offer
    answer(r, 'SETMETADATA user.carol (%s/expire "5")' % CMU, code="CANNOT")
    answer(r, 'SETMETADATA user.carol (/shared/foo "bar")', code="CANNOT")
    answer(r, 'SETMETADATA "" (/shared/motd "hi")', code="CANNOT")
    answer(r, 'SETMETADATA user.carol (/shared/admin "x")', code="CANNOT")
    # other vendors' entries are kept
    ok(r, 'SETMETADATA user.carol (/private/vendor/example/colour "blue")')
    # a partition move shows in the computed entry
    ok(r, "RENAME user.carol user.carol p2")
    md, _ = get(r, "user.carol %s/partition" % CMU)
    assert md["user.carol"] == {CMU + "/partition": "p2"}
    r.close()


def test_depth_and_wildcards(server):
    env, m = server
    r = login(env, m, "cyrus")
    ok(r, "CREATE shared.depth")
    ok(r, 'SETMETADATA shared.depth (/shared/comment "c" /shared/vendor/x/a "1" '
          '/shared/vendor/x/a/b "2" /shared/vendor/x/a/b/c "3" /private/vendor/x/p "p")')
    md, _ = get(r, "shared.depth /shared/vendor/x/a")
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1"}
    md, _ = get(r, "(DEPTH 0) shared.depth /shared/vendor/x/a")
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1"}
    md, _ = get(r, "(DEPTH 1) shared.depth /shared/vendor/x/a")
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1", "/shared/vendor/x/a/b": "2"}
    md, _ = get(r, "(DEPTH infinity) shared.depth (/shared/vendor/x/a)")
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1", "/shared/vendor/x/a/b": "2",
                                  "/shared/vendor/x/a/b/c": "3"}
    # options after the mailbox, as Cyrus accepts them
    md, _ = get(r, "shared.depth (DEPTH 1) (/shared/vendor/x/a)")
    assert set(md["shared.depth"]) == {"/shared/vendor/x/a", "/shared/vendor/x/a/b"}
    # a parent without value is NIL; its children found at depth 1 only
    md, _ = get(r, "(DEPTH 1) shared.depth /shared/vendor/x")
    assert md["shared.depth"] == {"/shared/vendor/x": None, "/shared/vendor/x/a": "1"}
    # wildcards: "/*" everything below, "/%" one level, without the entry itself
    md, _ = get(r, 'shared.depth "/shared/vendor/x/*"')
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1", "/shared/vendor/x/a/b": "2",
                                  "/shared/vendor/x/a/b/c": "3"}
    md, _ = get(r, 'shared.depth ("/shared/vendor/x/%")')
    assert md["shared.depth"] == {"/shared/vendor/x/a": "1"}
    md, _ = get(r, 'shared.depth ("/private/*")')
    assert md["shared.depth"] == {"/private/vendor/x/p": "p"}
    # nothing found under a wildcard: no METADATA response at all
    lines, t = ok(r, 'GETMETADATA shared.depth ("/shared/vendor/none/*")')
    assert lines == []
    r.close()


def test_maxsize_longentries(server):
    env, m = server
    r = login(env, m, "cyrus")
    ok(r, "CREATE shared.sizes")
    ok(r, 'SETMETADATA shared.sizes (/shared/comment "0123456789" /private/comment "abc")')
    md, t = get(r, "(MAXSIZE 5) shared.sizes (/shared/comment /private/comment)")
    assert md["shared.sizes"] == {"/private/comment": "abc"}
    assert "[METADATA LONGENTRIES 10]" in t
    md, t = get(r, "(MAXSIZE 10 DEPTH 0) shared.sizes (/shared/comment)")
    assert md["shared.sizes"] == {"/shared/comment": "0123456789"}
    assert "LONGENTRIES" not in t
    lines, t = ok(r, "GETMETADATA (MAXSIZE 1) shared.sizes (/shared/comment)")
    assert lines == [] and "[METADATA LONGENTRIES 10]" in t
    r.close()


def test_limits(server):
    env, m = server
    r = login(env, m, "cyrus")
    ok(r, "CREATE shared.limits")
    # 64 KiB per value: a bigger literal is refused before its data comes
    tag = r.tag()
    r.send(tag + " SETMETADATA shared.limits (/shared/comment {70000}")
    _, t = r.response(tag)
    assert "NO [METADATA MAXSIZE 65536]" in t, t
    # ... and a non-synchronising one is swallowed
    tag = r.tag()
    r.send_raw(("%s SETMETADATA shared.limits (/shared/comment {70000+}\r\n" % tag).encode()
               + b"v" * 70000 + b")\r\n")
    _, t = r.response(tag)
    assert "NO [METADATA MAXSIZE 65536]" in t, t
    # exactly 64 KiB is fine
    tag = r.tag()
    r.send_raw(("%s SETMETADATA shared.limits (/shared/comment {65536+}\r\n" % tag).encode()
               + b"v" * 65536 + b")\r\n")
    _, t = r.response(tag)
    assert " OK " in t, t
    _, t = get(r, "(MAXSIZE 100) shared.limits /shared/comment")
    assert "[METADATA LONGENTRIES 65536]" in t
    # more pairs in one command than allowed
    pairs = " ".join("/shared/vendor/t/e%d \"v\"" % i for i in range(101))
    answer(r, "SETMETADATA shared.limits (%s)" % pairs, code="METADATA TOOMANY")
    lines, _ = ok(r, 'GETMETADATA shared.limits ("/shared/vendor/t/*")')
    assert lines == []          # nothing was set
    # at most 1000 entries per owner on a mailbox: with /shared/comment
    # there, 999 more fit
    for batch in range(10):
        pairs = " ".join("/shared/vendor/t/e%d \"v\"" % (batch * 100 + i)
                         for i in range(100 if batch < 9 else 99))
        ok(r, "SETMETADATA shared.limits (%s)" % pairs)
    answer(r, "SETMETADATA shared.limits (/shared/vendor/t/more \"v\")", code="METADATA TOOMANY")
    md, _ = get(r, "shared.limits /shared/vendor/t/more")
    assert md["shared.limits"] == {"/shared/vendor/t/more": None}
    # replacing one is fine; removing one makes room
    ok(r, "SETMETADATA shared.limits (/shared/vendor/t/e5 \"again\")")
    ok(r, "SETMETADATA shared.limits (/shared/comment NIL /shared/vendor/t/more \"v\")")
    # private entries count apart
    ok(r, "SETMETADATA shared.limits (/private/vendor/t/more \"v\")")
    # entry names longer than 1024 bytes are BAD
    answer(r, "SETMETADATA shared.limits (/shared/vendor/%s \"v\")" % ("x" * 1100), kind="BAD")
    answer(r, "GETMETADATA shared.limits /shared/vendor/%s" % ("x" * 1100), kind="BAD")
    ok(r, "DELETE shared.limits")
    r.close()


def test_rights(server):
    env, m = server
    adm = login(env, m, "cyrus")
    ok(adm, "CREATE shared.rights")
    ok(adm, 'SETMETADATA shared.rights (/shared/comment "for readers")')
    ok(adm, "DELETEACL shared.rights anyone")
    ok(adm, "SETACL shared.rights bob lr")
    ok(adm, "SETACL shared.rights carol lrw")
    ok(adm, "SETACL shared.rights alice l")
    bob = login(env, m, "bob")
    # l and r: read everything, write /private only
    md, _ = get(bob, "shared.rights (/shared/comment)")
    assert md["shared.rights"] == {"/shared/comment": "for readers"}
    answer(bob, 'SETMETADATA shared.rights (/shared/comment "mine now")', code="NOPERM")
    ok(bob, 'SETMETADATA shared.rights (/private/comment "bob only")')
    # atomic: one refused pair, nothing set
    answer(bob, 'SETMETADATA shared.rights (/private/vendor/x/y "1" /shared/comment "no")',
           code="NOPERM")
    md, _ = get(bob, "shared.rights (/private/vendor/x/y /private/comment)")
    assert md["shared.rights"] == {"/private/vendor/x/y": None, "/private/comment": "bob only"}
    # lrw: /shared too; private entries are per user
    carol = login(env, m, "carol")
    ok(carol, 'SETMETADATA shared.rights (/shared/comment "carol wrote")')
    md, _ = get(carol, "shared.rights (/private/comment /shared/comment)")
    assert md["shared.rights"] == {"/private/comment": None, "/shared/comment": "carol wrote"}
    # l alone: nothing; no right at all: no such mailbox
    alice = login(env, m, "alice")
    answer(alice, "GETMETADATA shared.rights /shared/comment", code="NOPERM")
    answer(alice, 'SETMETADATA shared.rights (/private/comment "x")', code="NOPERM")
    answer(alice, "GETMETADATA user.bob /shared/comment", code="NONEXISTENT")
    answer(alice, 'SETMETADATA user.bob (/private/comment "x")', code="NONEXISTENT")
    answer(alice, "GETMETADATA shared.nosuch /shared/comment", code="NONEXISTENT")
    # a user's own mailbox: the owner holds every right
    ok(alice, 'SETMETADATA INBOX (/shared/comment "my inbox" /private/comment "p")')
    md, _ = get(alice, "INBOX (/shared/comment /private/comment)")
    assert md["INBOX"] == {"/shared/comment": "my inbox", "/private/comment": "p"}
    md, _ = get(adm, "user.alice (/shared/comment /private/comment)")
    assert md["user.alice"]["/private/comment"] != "p"
    # server entries: everybody reads, only admins write /shared
    md, _ = get(alice, '"" /shared/comment')
    assert "" in md
    answer(alice, 'SETMETADATA "" (/shared/comment "hacked")', code="NOPERM")
    answer(alice, 'SETMETADATA "" (/shared/admin "me")', code="NOPERM")
    ok(alice, 'SETMETADATA "" (/private/comment "alice on the server")')
    md, _ = get(alice, '"" (/private/comment)')
    assert md[""] == {"/private/comment": "alice on the server"}
    md, _ = get(bob, '"" (/private/comment)')
    assert md[""] == {"/private/comment": None}
    for c in (adm, bob, carol, alice):
        c.close()


def test_delete_and_rename_carry_entries(server):
    env, m = server
    r = login(env, m, "cyrus")
    ok(r, "CREATE shared.proj")
    ok(r, "CREATE shared.proj.sub")
    ok(r, "CREATE shared.projx")
    ok(r, 'SETMETADATA shared.proj (/shared/comment "top" /private/comment "admin\'s")')
    ok(r, 'SETMETADATA shared.proj.sub (/shared/comment "sub")')
    ok(r, 'SETMETADATA shared.projx (/shared/comment "neighbour")')
    ok(r, "RENAME shared.proj shared.renamed")
    md, _ = get(r, "shared.renamed (/shared/comment /private/comment)")
    assert md["shared.renamed"] == {"/shared/comment": "top", "/private/comment": "admin's"}
    md, _ = get(r, "shared.renamed.sub /shared/comment")
    assert md["shared.renamed.sub"] == {"/shared/comment": "sub"}
    md, _ = get(r, "shared.projx /shared/comment")
    assert md["shared.projx"] == {"/shared/comment": "neighbour"}
    # a mailbox made again under the old name starts without entries
    ok(r, "CREATE shared.proj")
    md, _ = get(r, "shared.proj (/shared/comment /private/comment)")
    assert md["shared.proj"] == {"/shared/comment": None, "/private/comment": None}
    # DELETE takes the entries along: a new mailbox of that name has none
    ok(r, "DELETE shared.renamed.sub")
    ok(r, "CREATE shared.renamed.sub")
    md, _ = get(r, "shared.renamed.sub /shared/comment")
    assert md["shared.renamed.sub"] == {"/shared/comment": None}
    ok(r, "DELETE shared.renamed")
    answer(r, "GETMETADATA shared.renamed /shared/comment", code="NONEXISTENT")
    ok(r, "CREATE shared.renamed")
    md, _ = get(r, "shared.renamed (/shared/comment /private/comment)")
    assert md["shared.renamed"] == {"/shared/comment": None, "/private/comment": None}
    r.close()


def test_user_rename_and_delete(cyrus_build):
    env = ImapEnv(users=dict(USERS, dora="dorapw"))
    m = util.Master(services=imap_services(extra_args="-U 1"),
                    imapd_options=env.options(allowusermoves="yes"))
    m.start()
    try:
        r = login(env, m, "cyrus")
        ok(r, "CREATE user.alice")
        ok(r, "CREATE user.alice.work")
        ok(r, 'SETMETADATA user.alice.work (/shared/comment "work")')
        ok(r, "SETACL user.alice.work bob lr")
        bob = login(env, m, "bob")
        ok(bob, 'SETMETADATA user.alice.work (/private/comment "bob\'s view")')
        ok(bob, 'SETMETADATA "" (/private/comment "bob server")')
        bob.close()
        alice = login(env, m, "alice")
        ok(alice, 'SETMETADATA INBOX (/private/comment "alice\'s own")')
        alice.close()
        ok(r, "RENAME user.alice user.dora")
        # the user's own private entries follow the user
        dora = login(env, m, "dora")
        md, _ = get(dora, "INBOX /private/comment")
        assert md["INBOX"] == {"/private/comment": "alice's own"}
        dora.close()
        md, _ = get(r, "user.dora.work /shared/comment")
        assert md["user.dora.work"] == {"/shared/comment": "work"}
        bob = login(env, m, "bob")
        md, _ = get(bob, "user.dora.work /private/comment")
        assert md["user.dora.work"] == {"/private/comment": "bob's view"}
        bob.close()
        # deleting a user takes the private entries of that user too
        ok(r, "CREATE user.bob")
        ok(r, "DELETE user.bob")
        bob = login(env, m, "bob")
        md, _ = get(bob, '"" /private/comment')
        assert md[""] == {"/private/comment": None}
        md, _ = get(bob, "user.dora.work /private/comment")
        assert md["user.dora.work"] == {"/private/comment": None}
        bob.close()
        r.close()
    except BaseException:
        m.stop(check=False)
        raise
    m.stop(check=True)
    m.cleanup()
    env.cleanup()


def test_anonymous_has_no_private_entries(cyrus_build):
    env = ImapEnv(users=dict(USERS, anonymous="anonpw"))
    m = util.Master(services=imap_services(extra_args="-U 1"), imapd_options=env.options())
    m.start()
    try:
        adm = login(env, m, "cyrus")
        ok(adm, 'SETMETADATA "" (/shared/comment "welcome")')
        adm.close()
        r = login(env, m, "anonymous")
        answer(r, 'SETMETADATA "" (/private/comment "x")', code="METADATA NOPRIVATE")
        md, _ = get(r, '"" (/shared/comment /private/comment)')
        assert md[""] == {"/shared/comment": "welcome", "/private/comment": None}
        r.close()
    except BaseException:
        m.stop(check=False)
        raise
    m.stop(check=True)
    m.cleanup()
    env.cleanup()


def test_selected_mailbox(server):
    env, m = server
    r = login(env, m, "alice")
    ok(r, "SELECT INBOX")
    ok(r, 'SETMETADATA INBOX (/private/vendor/x/selected "yes")')
    md, _ = get(r, 'INBOX ("/private/vendor/x/*")')
    assert md["INBOX"] == {"/private/vendor/x/selected": "yes"}
    md, _ = get(r, "INBOX %s/size" % CMU)
    assert md["INBOX"][CMU + "/size"] == "0"
    r.close()


def test_malformed(server):
    env, m = server
    r = login(env, m, "cyrus")
    bad = [
        "GETMETADATA",
        "GETMETADATA user.alice",
        "GETMETADATA user.alice ()",
        "GETMETADATA user.alice (/shared/comment",
        "GETMETADATA user.alice /shared/comment extra",
        "GETMETADATA (DEPTH 2) user.alice /shared",
        "GETMETADATA (DEPTH) user.alice /shared",
        "GETMETADATA (MAXSIZE -1) user.alice /shared",
        "GETMETADATA (MAXSIZE x) user.alice /shared",
        "GETMETADATA (MAXSIZE 99999999999) user.alice /shared",
        "GETMETADATA (FOO 1) user.alice /shared",
        "GETMETADATA () user.alice /shared",
        "GETMETADATA (DEPTH 1) user.alice (DEPTH 1) (/shared)",
        "GETMETADATA user.alice (NIL)",
        "GETMETADATA user.alice ((/shared/comment))",
        "GETMETADATA user.alice /foo",
        "GETMETADATA user.alice shared/comment",
        "GETMETADATA user.alice /shared//x",
        "GETMETADATA user.alice /shared/x/",
        "GETMETADATA user.alice /shared/com*ment",
        "GETMETADATA user.alice /shared/*/x",
        "GETMETADATA user.alice *",
        "SETMETADATA",
        "SETMETADATA user.alice",
        "SETMETADATA user.alice /shared/comment x",
        "SETMETADATA user.alice ()",
        "SETMETADATA user.alice (/shared/comment)",
        "SETMETADATA user.alice (/shared/comment \"x\"",
        "SETMETADATA user.alice (/shared/comment \"x\" /private/comment)",
        "SETMETADATA user.alice (/shared/comment \"x\") extra",
        "SETMETADATA user.alice (/shared/comment (x))",
        "SETMETADATA user.alice (/shared \"x\")",
        "SETMETADATA user.alice (/shared/a//b \"x\")",
        "SETMETADATA user.alice (/other/comment \"x\")",
        "SETMETADATA user.alice (/shared/* \"x\")",
        "SETMETADATA user.alice (/shared/comment \"unterminated)",
    ]
    for line in bad:
        _, t = r.cmd(line)
        assert " BAD " in t, (line, t)
    # a NUL inside a plain literal, then a literal8 value that may hold one
    tag = r.tag()
    r.send(tag + " SETMETADATA user.alice (/shared/vendor/x/bin {3}")
    assert r.readline() == "+ go ahead"
    r.send_raw(b"a\x00b)\r\n")
    _, t = r.response(tag)
    assert " BAD " in t, t
    tag = r.tag()
    r.send_raw(("%s SETMETADATA user.alice (/shared/vendor/x/bin ~{3+}\r\n" % tag).encode()
               + b"a\x00b)\r\n")
    _, t = r.response(tag)
    assert " OK " in t, t
    tag = r.tag()
    r.send(tag + " GETMETADATA user.alice /shared/vendor/x/bin")
    data = b""
    while (tag + " OK").encode() not in data:
        data += r.sock.recv(65536)
    assert b'"/shared/vendor/x/bin" ~{3}\r\na\x00b)' in data, data
    ok(r, "SETMETADATA user.alice (/shared/vendor/x/bin NIL)")
    # not logged in: BAD, as every authenticated-state command
    r2 = env.raw(m)
    _, t = r2.cmd("GETMETADATA \"\" /shared/comment")
    assert " BAD " in t
    r2.close()
    # the session still works
    _, t = r.cmd("NOOP")
    assert t.endswith("OK Completed")
    r.close()
