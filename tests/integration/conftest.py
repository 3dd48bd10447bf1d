# SPDX-License-Identifier: MIT
"""pytest fixtures for the gunicorn-wrapper integration suite.

Why this file exists: every test needs a private world (tmp dir, run dir, a
copy of example/ whose version.txt it can rewrite, a free 127.0.0.1 port)
and a guarantee that whatever it started is killed afterwards, by PID,
even if the test failed half-way.  The machinery lives in helpers.py; this
file wires it into fixtures:

  gw      per-test GwEnv: gw.wrapper(...), gw.supervisor(...), gw.load(...),
          gw.set_version(v), gw.get(), gw.gunicorn_procs(), gw.masters() ...
          Teardown SIGKILLs what the test started: pytest is a child
          subreaper, so that is its part of pytest's process tree (orphans
          included), by PID and start time; names are never used.
  (session) after the last test, asserts that pytest has no descendant
          left (in either setproctitle mode).

setproctitle modes: the core tests (reload, adoption, key faults: CORE
below) run twice, as [titles] (setproctitle as installed; a private copy
can be named by GW_IT_SETPROCTITLE_PATH) and [notitles] (a PYTHONPATH shim
hides it); every other test runs once, as installed.  GW_IT_MODES=installed
runs the core tests as [titles] only: `make test` does, `make check` runs
both modes, then the sanitizer pass as [titles].

Run:  cd /work/main && /usr/bin/python3 -m pytest -q tests/integration
      (GW_BIN=/path/to/gunicorn-wrapper to test another build)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The library the tests share with the bench (tests/lib).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

import helpers  # noqa: E402


# What AddressSanitizer, LeakSanitizer and UBSan print: with `make test
# SANITIZE=1` a report in any log of the test fails it, even one the test
# itself did not look at (a leak reported at exit, say).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def sanitizer_reports(root):
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if not f.endswith(".log"):
                continue
            path = os.path.join(dirpath, f)
            try:
                with open(path, "rb") as fh:
                    text = fh.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                if any(m in line for m in SANITIZER_MARKS):
                    found.append("%s: %s" % (path, line))
    return found


# The core subset run in both setproctitle modes: module -> test name
# prefixes (() for the whole module).
CORE = {
    "test_reload": (),
    "test_identity": (),
    "test_quickstart": (),
    "test_status_reload": (),
    "test_release": ("test_broken_release_", "test_release_changes_"),
    "test_release_faults": (),
    "test_faults": ("test_kill9_", "test_sigkill_wrapper_during_reload",
                    "test_stop_after_adopting", "test_pidfile_tampered",
                    "test_stop_during_reload"),
    "test_lifecycle": ("test_kill9_master", "test_sigkill_wrapper_then_adopt"),
}


def pytest_configure(config):
    helpers.become_subreaper()


def pytest_generate_tests(metafunc):
    if "gw" not in metafunc.fixturenames:
        return
    mod = metafunc.module.__name__.rpartition(".")[2]
    prefixes = CORE.get(mod)
    if prefixes is None or (prefixes and not metafunc.function.__name__.startswith(prefixes)):
        return
    # GW_IT_MODES=installed (what `make test` passes): [titles] only, the
    # field's case; both (the default, and `make check`'s): both modes.
    modes = ["titles"] if os.environ.get("GW_IT_MODES") == "installed" \
        else ["titles", "notitles"]
    metafunc.parametrize("titles", modes, indirect=True)


@pytest.fixture
def titles(request):
    """The setproctitle mode of a core test; None elsewhere (as installed)."""
    return getattr(request, "param", None)


@pytest.fixture
def gw(tmp_path, titles):
    env = helpers.GwEnv(tmp_path, titles)
    try:
        yield env
    finally:
        left = env.cleanup()
        assert not left, "processes survived teardown:\n" + helpers.describe(left)
        reports = sanitizer_reports(str(tmp_path))
        assert not reports, "sanitizer reports:\n" + "\n".join(reports[:20])


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes():
    """Session end: pytest, the subreaper, has no descendant left."""
    yield
    left = helpers.tree_pids()
    if left:
        helpers.kill_pids(left)  # do not leak them into the next run either
        helpers.reap_orphans()
    assert not left, "processes from this test run are still alive:\n" + helpers.describe(left)
