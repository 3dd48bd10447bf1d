# SPDX-License-Identifier: MIT
"""The README's quick start, as a user would type it.

Why this file exists: the quick start passes `--chdir example`, a relative
path.  gunicorn re-executes itself on SIGUSR2 from the directory it
chdir'd to, so a relative --chdir handed through unchanged names
example/example there and every reload failed; the suite passed absolute
paths only and never saw it.  This test takes the command line from
README.md itself (only the port is changed to a private one), reloads a
good version, then a broken one, with gwctl as the README says.
"""

import re
import shlex
import shutil

import helpers
from control_helpers import gwctl
from helpers import EXAMPLE_DIR, GW_BIN

README = EXAMPLE_DIR.parent / "README.md"


def quickstart_argv(tmp, port):
    """The wrapper's argv from the README's first command."""
    text = README.read_text()
    m = re.search(r"^(\./tools/install-deps[^&]*&& make && \./gunicorn-wrapper .*)$", text, re.M)
    assert m, "README.md lost its quick start command"
    words = shlex.split(m.group(1).split("&& ")[-1].replace("$PWD", str(tmp)))
    assert words[0] == "./gunicorn-wrapper"
    assert "127.0.0.1:8000" in words and "example" in words, words
    words = [a.replace("127.0.0.1:8000", "127.0.0.1:{}".format(port)) for a in words]
    return [GW_BIN] + words[1:]


def test_readme_quickstart_reloads(gw):
    """`--chdir example`, relative: a good reload then a failed one, old
    version serving throughout."""
    shutil.copytree(EXAMPLE_DIR, gw.tmp / "example",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    argv = quickstart_argv(gw.tmp, gw.port)
    assert argv[argv.index("--chdir") + 1] == "example"  # relative, as typed
    w = gw.wrapper(argv=argv, name="example")
    w.wait_ready(timeout=30)
    gw.wait_serving("1")

    (gw.tmp / "example" / "version.txt").write_text("2\n")
    r = gwctl(gw, "reload", "example")
    assert r.returncode == 0, "reload failed: {}{}\n{}".format(r.stdout, r.stderr, w.log.tail())
    gw.wait_serving("2", timeout=10)

    (gw.tmp / "example" / "version.txt").write_text("broken\n")
    r = gwctl(gw, "reload", "example")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "failed" in r.stdout + r.stderr
    assert "can't chdir" not in w.log.text()
    status, body = gw.get()
    assert status == 200 and helpers.parse_body(body)[0] == "2"
    assert w.poll() is None
