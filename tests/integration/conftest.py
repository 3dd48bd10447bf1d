"""pytest fixtures for the gunicorn-wrapper integration suite.

Why this file exists: every test needs a private world (tmp dir, run dir, a
copy of example/ whose version.txt it can rewrite, a free 127.0.0.1 port)
and a guarantee that whatever it started is killed afterwards, by PID,
even if the test failed half-way.  The machinery lives in helpers.py; this
file wires it into fixtures:

  gw      per-test GwEnv: gw.wrapper(...), gw.supervisor(...), gw.load(...),
          gw.set_version(v), gw.get(), gw.gunicorn_procs(), gw.masters() ...
          Teardown SIGKILLs the started processes, their descendants and
          anything whose environ/cmdline points into the test's tmp dir.
  (session) after the last test, asserts that no process whose cmdline
          mentions this run's pytest tmp directory survived.

Run:  cd /work/main && /usr/bin/python3 -m pytest -q tests/integration
      (GW_BIN=/path/to/gunicorn-wrapper to test another build)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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


@pytest.fixture
def gw(tmp_path):
    env = helpers.GwEnv(tmp_path)
    try:
        yield env
    finally:
        left = env.cleanup()
        assert not left, "processes survived teardown:\n" + helpers.describe(left)
        reports = sanitizer_reports(str(tmp_path))
        assert not reports, "sanitizer reports:\n" + "\n".join(reports[:20])


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes(tmp_path_factory):
    """Session end: no process may still mention this run's tmp directory."""
    base = str(tmp_path_factory.getbasetemp())
    yield
    own = helpers._own_lineage()

    def leftovers():
        return [p for p in helpers.all_pids()
                if p not in own and helpers.is_alive(p)
                and any(base in a for a in helpers.cmdline(p))]
    left = leftovers()
    if left:
        helpers.kill_pids(left)  # do not leak them into the next run either
    assert not left, "processes from this test run are still alive:\n" + helpers.describe(left)
