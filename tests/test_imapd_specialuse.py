"""imapd: SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154), spoken as raw IMAP
lines against a real imapd under master: CREATE with (USE (...)), alone
and with (PARTITION p), and its refusals (NO [USEATTR], nothing created);
the uses in LIST answers (plain LIST, RETURN (SPECIAL-USE), the SPECIAL-USE
selection option; the owner only; LSUB never); /private/specialuse through
GETMETADATA and SETMETADATA with the checks of CREATE; RENAME keeping and
DELETE dropping a use; malformed commands (BAD, the session goes on).
"""

import re

import pytest

from imapd_fixtures import imap_services, raw_answer, raw_login, raw_ok, serve_module

ENTRY = "/private/specialuse"


@pytest.fixture(scope="module")
def server(cyrus_build):
    yield from serve_module(("alice", "bob", "carol", "mallory"),
                            services=imap_services(extra_args="-U 1"))


login = raw_login


ok = raw_ok
answer = raw_answer


def listing(r, line="LIST \"\" \"*\""):
    """{name: [attributes]} of a LIST (or LSUB) command."""
    lines, _ = ok(r, line)
    out = {}
    for l in lines:
        mm = re.match(r'\* (?:LIST|LSUB) \(([^)]*)\) "." ("(?:[^"\\]|\\.)*"|\S+)$', l)
        assert mm, l
        out[mm.group(2).strip('"')] = mm.group(1).split()
    return out


def uses(attrs):
    return [a for a in attrs if a not in ("\\HasChildren", "\\HasNoChildren",
                                          "\\Noselect", "\\Subscribed")]


def specialuse(r, box):
    """The /private/specialuse value GETMETADATA answers (None for NIL)."""
    lines, _ = ok(r, "GETMETADATA %s %s" % (box, ENTRY))
    assert len(lines) == 1, lines
    mm = re.match(r'\* METADATA \S+ \("/private/specialuse" (NIL|"((?:[^"\\]|\\.)*)")\)$',
                  lines[0])
    assert mm, lines[0]
    return None if mm.group(1) == "NIL" else re.sub(r"\\(.)", r"\1", mm.group(2))


def test_capabilities(server):
    env, m = server
    r = env.raw(m)
    lines, _ = ok(r, "CAPABILITY")
    caps = lines[0].split()
    assert "SPECIAL-USE" in caps and "CREATE-SPECIAL-USE" in caps
    _, t = ok(r, "LOGIN alice %s" % env.users["alice"])
    assert "CREATE-SPECIAL-USE" in t.split() and "SPECIAL-USE" in t.split(), t
    r.close()


def test_create_with_use(server):
    env, m = server
    r = login(env, m, "alice")
    ok(r, "CREATE INBOX.Sent (USE (\\Sent))")
    ok(r, "CREATE INBOX.Spam (USE (\\Junk \\Trash))")
    # a use without its backslash, in any case, and once however often given
    ok(r, "CREATE INBOX.Drafts (USE (drafts \\DRAFTS))")
    # a single use without the parentheses, as Cyrus takes it
    ok(r, "CREATE INBOX.Old (USE \\Archive)")
    # no use at all
    ok(r, "CREATE INBOX.Plain (USE ())")
    assert specialuse(r, "INBOX.Sent") == "\\Sent"
    assert specialuse(r, "INBOX.Spam") == "\\Junk \\Trash"
    assert specialuse(r, "INBOX.Drafts") == "\\Drafts"
    assert specialuse(r, "INBOX.Old") == "\\Archive"
    assert specialuse(r, "INBOX.Plain") is None
    # refusals create nothing
    t = answer(r, "CREATE INBOX.Sent2 (USE (\\Sent))", code="USEATTR")
    assert "INBOX.Sent" in t
    answer(r, "CREATE INBOX.Sent3 (USE (\\sent))", code="USEATTR")
    answer(r, "CREATE INBOX.Bin (USE (\\Trash))", code="USEATTR")   # Spam has it
    answer(r, "CREATE INBOX.Bogus (USE (\\Bogus))", code="USEATTR")
    answer(r, "CREATE INBOX.All (USE (\\All))", code="USEATTR")      # virtual only
    answer(r, "CREATE INBOX.Flagged (USE (\\Flagged))", code="USEATTR")
    answer(r, "CREATE INBOX.Mixed (USE (\\Important \\Bogus))", code="USEATTR")
    names = listing(r)
    for n in ("INBOX.Sent2", "INBOX.Sent3", "INBOX.Bin", "INBOX.Bogus", "INBOX.All",
              "INBOX.Flagged", "INBOX.Mixed"):
        assert n not in names
    # the usual refusals come first
    answer(r, "CREATE INBOX.Sent (USE (\\Important))", code="ALREADYEXISTS")
    answer(r, "CREATE INBOX (USE (\\Important))", code="ALREADYEXISTS")
    answer(r, "CREATE INBOX.x (USE (\\Important) PARTITION p2)", code="NOPERM")
    # \Important (RFC 8457) and \Snoozed are taken, as Cyrus takes them
    ok(r, "CREATE INBOX.Imp (USE (\\Important))")
    ok(r, "CREATE INBOX.Later (USE (\\Snoozed))")
    r.close()


def test_create_by_admin(server):
    env, m = server
    r = login(env, m, "cyrus")
    # with a partition, in either order; stored as the owner's entry
    ok(r, "CREATE user.mallory.Sent (USE (\\Sent) PARTITION p2)")
    ok(r, "CREATE user.mallory.Trash (PARTITION default USE (\\Trash))")
    assert specialuse(r, "user.mallory.Sent") == "\\Sent"   # admins see the owner's
    # the owner's other mailboxes count
    answer(r, "CREATE user.mallory.Sent2 (USE (\\Sent))", code="USEATTR")
    # shared mailboxes and INBOXes have none
    answer(r, "CREATE shared.su (USE (\\Archive))", code="USEATTR")
    answer(r, "CREATE user.nobody (USE (\\Archive))", code="USEATTR")
    names = listing(r)
    assert "shared.su" not in names and "user.nobody" not in names
    assert "user.mallory.Sent2" not in names
    # the admin's LIST does not show other users' uses
    assert uses(names["user.mallory.Sent"]) == []
    r.close()
    r = login(env, m, "mallory")
    names = listing(r)
    assert uses(names["INBOX.Sent"]) == ["\\Sent"]
    assert uses(names["INBOX.Trash"]) == ["\\Trash"]
    r.close()


def test_list(server):
    env, m = server
    r = login(env, m, "bob")
    ok(r, "CREATE INBOX.Sent (USE (\\Sent))")
    ok(r, "CREATE INBOX.Archive (USE (\\Archive))")
    ok(r, "CREATE INBOX.Archive.2024")
    ok(r, "CREATE INBOX.Work")
    ok(r, "SUBSCRIBE INBOX.Sent")
    ok(r, "SUBSCRIBE INBOX.Work")
    plain = listing(r)
    assert plain["INBOX.Sent"] == ["\\HasNoChildren", "\\Sent"]
    assert plain["INBOX.Archive"] == ["\\HasChildren", "\\Archive"]
    assert uses(plain["INBOX.Work"]) == [] and uses(plain["INBOX"]) == []
    assert listing(r, 'LIST "" "*" RETURN (SPECIAL-USE)') == plain
    assert listing(r, 'LIST "" "*" RETURN (SPECIAL-USE CHILDREN)') == plain
    # the selection option: only the mailboxes with a use
    sel = listing(r, 'LIST (SPECIAL-USE) "" "*"')
    assert sel == {"INBOX.Sent": ["\\HasNoChildren", "\\Sent"],
                   "INBOX.Archive": ["\\HasChildren", "\\Archive"]}
    assert listing(r, 'LIST (SPECIAL-USE) "" "%"') == {}
    assert set(listing(r, 'LIST (SPECIAL-USE) "INBOX." "%"')) == {"INBOX.Sent",
                                                                  "INBOX.Archive"}
    both = listing(r, 'LIST (SPECIAL-USE SUBSCRIBED) "" "*"')
    assert both == {"INBOX.Sent": ["\\Subscribed", "\\Sent"]}
    assert listing(r, 'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)') == sel
    answer(r, 'LIST (SPECIAL-USE RECURSIVEMATCH) "" "*"', kind="BAD")
    # LSUB shows no use
    assert listing(r, 'LSUB "" "*"') == {"INBOX.Sent": [], "INBOX.Work": []}
    ok(r, "SETACL INBOX.Sent alice lrs")
    r.close()
    # another user who may see the mailbox does not see bob's use
    r = login(env, m, "alice")
    names = listing(r, 'LIST "" "user.bob.*" RETURN (SPECIAL-USE)')
    assert names == {"user.bob.Sent": ["\\HasNoChildren"]}
    assert "user.bob.Sent" not in listing(r, 'LIST (SPECIAL-USE) "" "*"')
    assert specialuse(r, "user.bob.Sent") is None     # its own private entry
    answer(r, 'SETMETADATA user.bob.Sent (%s "\\\\Trash")' % ENTRY, code="NOPERM")
    r.close()


def test_metadata(server):
    env, m = server
    r = login(env, m, "carol")
    ok(r, "CREATE INBOX.a")
    ok(r, "CREATE INBOX.b")
    ok(r, 'SETMETADATA INBOX.a (%s "\\\\Sent")' % ENTRY)
    assert specialuse(r, "INBOX.a") == "\\Sent"
    assert uses(listing(r)["INBOX.a"]) == ["\\Sent"]
    # canonical form: backslashes, case, spaces, repeats
    ok(r, 'SETMETADATA INBOX.b (%s "junk   \\\\TRASH \\\\Junk")' % ENTRY)
    assert specialuse(r, "INBOX.b") == "\\Junk \\Trash"
    lines, _ = ok(r, "GETMETADATA INBOX.b (/private/*)")
    assert '"/private/specialuse" "\\\\Junk \\\\Trash"' in lines[0]
    # the checks of CREATE
    answer(r, 'SETMETADATA INBOX.b (%s "\\\\Sent")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA INBOX.b (%s "\\\\Bogus")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA INBOX.b (%s "\\\\All")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA INBOX.b (%s "\\\\Sent\\\\Trash")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA INBOX (%s "\\\\Drafts")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA "" (%s "\\\\Drafts")' % ENTRY, code="CANNOT")
    answer(r, 'SETMETADATA INBOX.b (/shared/specialuse "\\\\Drafts")', code="CANNOT")
    # all or nothing
    answer(r, 'SETMETADATA INBOX.b (/private/comment "c" %s "\\\\Sent")' % ENTRY,
           code="USEATTR")
    lines, _ = ok(r, "GETMETADATA INBOX.b /private/comment")
    assert lines == ['* METADATA INBOX.b ("/private/comment" NIL)']
    assert specialuse(r, "INBOX.b") == "\\Junk \\Trash"
    # setting a mailbox's own use again is no conflict
    ok(r, 'SETMETADATA INBOX.a (%s "\\\\Sent \\\\Archive")' % ENTRY)
    # removal: NIL, an empty list; then the use is free for another mailbox
    ok(r, "SETMETADATA INBOX.a (%s NIL)" % ENTRY)
    assert specialuse(r, "INBOX.a") is None
    ok(r, 'SETMETADATA INBOX.b (%s "  ")' % ENTRY)
    assert specialuse(r, "INBOX.b") is None
    ok(r, 'SETMETADATA INBOX.b (%s "\\\\Sent")' % ENTRY)
    assert listing(r, 'LIST (SPECIAL-USE) "" "*"') == {"INBOX.b": ["\\HasNoChildren",
                                                                   "\\Sent"]}
    r.close()
    # an admin sets it for the owner
    r = login(env, m, "cyrus")
    ok(r, 'SETMETADATA user.carol.a (%s "\\\\Drafts" /private/comment "mine")' % ENTRY)
    assert specialuse(r, "user.carol.a") == "\\Drafts"
    answer(r, 'SETMETADATA user.carol.a (%s "\\\\Sent")' % ENTRY, code="USEATTR")
    answer(r, 'SETMETADATA shared.x (%s "\\\\Sent")' % ENTRY, code="NONEXISTENT")
    ok(r, "CREATE shared.x")
    answer(r, 'SETMETADATA shared.x (%s "\\\\Sent")' % ENTRY, code="USEATTR")
    ok(r, "SETMETADATA shared.x (%s NIL)" % ENTRY)
    r.close()
    r = login(env, m, "carol")
    assert specialuse(r, "INBOX.a") == "\\Drafts"
    lines, _ = ok(r, "GETMETADATA INBOX.a /private/comment")
    assert lines == ['* METADATA INBOX.a ("/private/comment" NIL)']   # the admin's
    r.close()


def test_rename_keeps_delete_drops(server):
    env, m = server
    r = login(env, m, "alice")
    answer(r, "CREATE INBOX.Bin (USE (\\Archive))", code="USEATTR")   # Old has it
    ok(r, "DELETE INBOX.Old")
    ok(r, "CREATE INBOX.Bin (USE (\\Archive))")
    ok(r, "RENAME INBOX.Bin INBOX.Bin2")
    ok(r, 'SETMETADATA INBOX.Bin2 (%s "\\\\Archive")' % ENTRY)
    ok(r, "RENAME INBOX.Bin2 INBOX.Archive")
    assert specialuse(r, "INBOX.Archive") == "\\Archive"
    assert uses(listing(r)["INBOX.Archive"]) == ["\\Archive"]
    ok(r, "DELETE INBOX.Archive")
    ok(r, "CREATE INBOX.Archive")
    assert specialuse(r, "INBOX.Archive") is None
    ok(r, "CREATE INBOX.Archive2 (USE (\\Archive))")
    r.close()


@pytest.mark.parametrize("line", [
    "CREATE INBOX.m1 (USE)",
    "CREATE INBOX.m2 (USE (\"\\\\Sent\"))",
    "CREATE INBOX.m3 (USE ((\\Sent)))",
    "CREATE INBOX.m4 (USE (\\Sent) USE (\\Trash))",
    "CREATE INBOX.m5 (PARTITION default PARTITION p2)",
    "CREATE INBOX.m6 (FOO (\\Sent))",
    "CREATE INBOX.m7 (USE (\\Sent)",
    "CREATE INBOX.m8 (USE NIL)",
    "CREATE INBOX.m9 USE (\\Sent)",
    "CREATE INBOX.m10 (USE (\\Sent)) extra",
    "LIST (SPECIAL-USE \"\" \"*\"",
    "LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE",
    "LIST \"\" \"*\" RETURN (SPECIAL-USE FOO)",
    "LIST (SPECIAL-USE-X) \"\" \"*\"",
])
def test_malformed(server, line):
    env, m = server
    r = login(env, m, "bob")
    answer(r, line, kind="BAD")
    ok(r, "NOOP")
    assert not [n for n in listing(r) if n.startswith("INBOX.m")]
    r.close()
