# SPDX-License-Identifier: MIT
"""The README's commands, as a user would type them, and its promises
about its own shape.

Why this file exists: the quick start passes `--chdir example`, a relative
path.  gunicorn re-executes itself on SIGUSR2 from the directory it
chdir'd to, so a relative --chdir handed through unchanged names
example/example there and every reload failed; the suite passed absolute
paths only and never saw it.  So the README's commands are run from
README.md itself, in a copy of the example app, with only the port changed
to a private one:

  * the first command (after its `./tools/install-deps --run && make &&`,
    which the suite's own build stands for): the example app under the
    wrapper in the background, a good reload, a broken one that fails
    safe, a stop; run by bash, as typed;
  * the Quick start: the wrapper in the foreground, then the "in another
    terminal" blocks, as typed, in one bash: version 1, a good reload,
    then a broken one with the old version serving throughout.

And what an operator asked of the README's shape: one sentence, then the
two commands (the second is the test command CI runs: test_build.py),
then Install, Quick start (in one piece: no developer text inside it),
Build and test, in that order; a Kubernetes exec probe whose gwctl
timeout fits in the probe's.
"""

import re
import shlex
import shutil
import subprocess

import helpers
from control_helpers import GWCTL_BIN, gwctl
from helpers import EXAMPLE_DIR, GW_BIN

README = EXAMPLE_DIR.parent / "README.md"
SETUP = "./tools/install-deps --run && make && "
BLOCK = re.compile(r"^```sh\n(.*?)\n```", re.M | re.S)


def readme():
    return README.read_text()


def sections(text):
    """{'## Title': body} for the README's second-level sections, in order."""
    parts = re.split(r"^(?=## )", text, flags=re.M)
    return {p.splitlines()[0]: p for p in parts[1:]}


def quickstart():
    secs = sections(readme())
    assert "## Quick start" in secs, "README.md lost its Quick start section"
    return secs["## Quick start"]


def in_copy(gw):
    """The example app in the test's directory, and the binaries where the
    README runs them (./gunicorn-wrapper, ./gwctl): a checkout's shape."""
    shutil.copytree(EXAMPLE_DIR, gw.tmp / "example",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (gw.tmp / "gunicorn-wrapper").symlink_to(GW_BIN)
    (gw.tmp / "gwctl").symlink_to(GWCTL_BIN)


def private_port(text, port):
    assert "127.0.0.1:8000" in text, text
    return text.replace("127.0.0.1:8000", "127.0.0.1:{}".format(port))


def run_bash(gw, script, log_name, timeout):
    """Run `script` with bash in the test's directory (its copy of the
    checkout), tracked for cleanup; returns (returncode, stdout, stderr)."""
    out, err = gw.tmp / (log_name + ".out.log"), gw.tmp / (log_name + ".err.log")
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.Popen(["bash", "-c", script], stdin=subprocess.DEVNULL, stdout=o,
                             stderr=e, cwd=str(gw.tmp), env=gw.base_env(),
                             start_new_session=True)
        gw.track(p, gunicorn=False)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("{} still running after {} s\n--- stdout ---\n{}\n"
                                 "--- stderr ---\n{}".format(log_name, timeout, out.read_text(),
                                                            err.read_text()[-4000:])) from None
    return rc, out.read_text(), err.read_text()


def versions(stdout):
    """The versions curl printed, in order."""
    return [m.group(1) for m in re.finditer(r"^version=(\S+) pid=\d+$", stdout, re.M)]


# --------------------------------------------------------------------------
# the README's shape

def test_readme_opens_with_one_sentence_then_two_commands():
    text = readme()
    lines = text.splitlines()
    assert lines[0] == "# gunicorn-wrapper", lines[0]
    first = text.index("```sh\n")
    intro = " ".join(text[len(lines[0]):first].split())
    assert intro, "no sentence above the first command"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", intro) if s]
    assert len(sentences) == 1 and intro.endswith("."), sentences
    assert "supervisord" in intro and "gunicorn" in intro, intro
    blocks = list(BLOCK.finditer(text))
    assert blocks[0].start() == first, "the first code block is not the first command"
    assert blocks[0].group(1).startswith(SETUP), blocks[0].group(1)
    assert not text[blocks[0].end():blocks[1].start()].strip(), \
        "the two commands are not the README's start"
    assert blocks[1].group(1) == "./tools/install-deps && make check"


def test_readme_sections_in_order_quick_start_in_one_piece():
    titles = list(sections(readme()))
    assert titles[:4] == ["## Install", "## Quick start", "## Build and test",
                          "## Requirements"], titles
    qs = " ".join(quickstart().split())
    assert "In another terminal" in qs, "the Quick start lost its 'in another terminal' part"
    # The Quick start is for users: no developer text splits it.
    for dev in ("make check", "make test", "setproctitle", "pytest", "sanitizer"):
        assert dev not in qs.lower(), "developer text {!r} in the Quick start".format(dev)
    install = sections(readme())["## Install"]
    assert "make deb" in install and "apt install ./dist/gunicorn-wrapper_" in install
    assert "examples/" in install


def test_readme_probe_timeout_fits_in_the_probe():
    """An exec probe must give gwctl a timeout below its own timeoutSeconds:
    gwctl waits 10 s by default (gwctl(1))."""
    text = readme()
    probes = re.findall(r'exec: \{command: \[(.*?)\]\}\n(.*?)(?=\n\s*\w+Probe:|\n\s*```)',
                        text, re.S)
    assert probes, "README.md lost its Kubernetes exec probe"
    for argv, rest in probes:
        words = [w.strip().strip('"') for w in argv.split(",")]
        assert words[0] == "gwctl" and "status" in words, words
        m = re.search(r"timeoutSeconds: (\d+)", rest)
        assert m, "exec probe without timeoutSeconds: {}".format(rest)
        assert "-t" in words, "gwctl without -t in a probe of timeoutSeconds {}".format(
            m.group(1))
        t = float(words[words.index("-t") + 1])
        assert t < int(m.group(1)), (t, m.group(1))
    assert "as supervisorctl status" not in text and \
        "`supervisorctl status` do" not in text, "supervisorctl exits 0 while STARTING"


# --------------------------------------------------------------------------
# the commands, run

def test_readme_first_command_runs_a_reload(gw):
    """The first command after its set-up: serves version 1, reloads to 2,
    fails safe on a broken version with 2 serving on, puts version.txt back,
    stops the wrapper (exit 0) and leaves nothing running."""
    block = BLOCK.search(readme()).group(1)
    assert block.startswith(SETUP), block
    script = private_port(block[len(SETUP):], gw.port)
    assert "--chdir example" in script
    in_copy(gw)
    rc, out, err = run_bash(gw, script, "first-command", timeout=120)
    assert rc == 0, (rc, out, err[-4000:])
    assert versions(out) == ["1", "2", "2"], out
    assert re.search(r"^reload \d+ ok: master \d+ -> \d+ in [0-9.]+ s$", out, re.M), out
    assert re.search(r"^gwctl: reload \d+ failed: ", err, re.M), err[-4000:]
    assert "can't chdir" not in err
    assert re.search(r"\[gunicorn-wrapper\] \[example\] \[INFO\] exiting with status 0$",
                     err, re.M), err[-4000:]
    assert (gw.tmp / "example" / "version.txt").read_text() == \
        (EXAMPLE_DIR / "version.txt").read_text()
    gw.wait_no_gunicorn(10)


def foreground_argv(tmp, port):
    """The wrapper's argv from the Quick start's first block."""
    blocks = BLOCK.findall(quickstart())
    assert blocks, "the Quick start has no command"
    line = blocks[0]
    assert "\n" not in line and line.startswith("./gunicorn-wrapper "), line
    words = shlex.split(private_port(line, port).replace("$PWD", str(tmp)))
    assert "example" in words, words
    return [GW_BIN] + words[1:]


def test_readme_quickstart_reloads(gw):
    """`--chdir example`, relative: the Quick start's wrapper in the
    foreground, then its "in another terminal" blocks as typed: version 1,
    a good reload, then a failed one, the old version serving throughout."""
    in_copy(gw)
    argv = foreground_argv(gw.tmp, gw.port)
    assert argv[argv.index("--chdir") + 1] == "example"  # relative, as typed
    w = gw.wrapper(argv=argv, name="example")
    w.wait_ready(timeout=30)
    gw.wait_serving("1")

    other = BLOCK.findall(quickstart())[1:]
    assert other, "the Quick start lost its 'in another terminal' part"
    script = private_port("\n".join(other), gw.port)
    rc, out, err = run_bash(gw, script, "other-terminal", timeout=120)
    assert versions(out) == ["1", "2", "2"], (out, err)
    assert re.search(r"^reload 1 ok: master \d+ -> \d+ in ", out, re.M), out
    assert re.search(r"^example: running$", out, re.M), out
    assert re.search(r"^gwctl: reload 2 failed: ", err, re.M), err
    assert rc == 0, (rc, out, err)  # the last command (curl) succeeded
    assert "can't chdir" not in w.log.text()
    status, body = gw.get()
    assert status == 200 and helpers.parse_body(body)[0] == "2"
    assert w.poll() is None

    # The exit status the prose promises for the failed reload.
    r = gwctl(gw, "reload", "example")
    assert r.returncode == 1 and "failed" in r.stderr, (r.returncode, r.stdout, r.stderr)
