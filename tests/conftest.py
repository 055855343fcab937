"""pytest fixtures shared by every integration test.

    def test_something(master):
        m = master(services=[Service("echo", "echod", prefork=2)])
        ...

`master(...)` takes the arguments of util.Master, starts it, waits until it
is ready and its TCP services accept connections, and returns it.  At the
end of the test every master started this way is stopped: after a passing
test the stop must be clean (exit 0, no process, no pid file left), after a
failing one whatever is left is killed by pid.  The directories are removed
unless the test failed (then they stay for a look, and their path is in the
report).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import util  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def cyrus_build():
    bd = util.builddir()
    if not bd or not os.path.exists(os.path.join(bd, "master", "master")):
        pytest.skip("no build tree with master/master: set CYRUS_BUILDDIR")
    return bd


@pytest.fixture
def master(request, cyrus_build):
    started = []

    def make(*args, wait=True, **kwargs):
        m = util.Master(*args, **kwargs)
        started.append(m)
        m.start(wait=wait)
        return m

    yield make

    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    errors = []
    for m in started:
        try:
            m.stop(check=not failed)
        except AssertionError as e:
            errors.append(str(e))
        if failed:
            sys.stderr.write("\n[master directory kept: %s]\n" % m.dir)
        else:
            m.cleanup()
    if errors:
        pytest.fail("unclean master shutdown: " + "\n".join(errors))
