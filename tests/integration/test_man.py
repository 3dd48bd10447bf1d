# SPDX-License-Identifier: MIT
"""The man pages as a reader sees them, not only as mandoc's lint does.

Why this file exists: `mandoc -Tlint` accepts a page whose rendered text is
wrong.  An `Fl` macro makes a flag of every word that follows it up to the
next macro, commas included, so `.Pq Fl -max-requests , with or without
jitter` renders as "--max-requests, -with -or -without -jitter" without a
single warning (issue: "Rendering slips").  So, for every page in man/:

  * `mandoc -Tlint -Wwarning` is clean (what `make lint-man` runs);
  * the text `mandoc -Tascii | col -b` renders has no runaway flags: two or
    more words in a row that each start with '-', one of which is not an
    option of gunicorn-wrapper, of gwctl (both read from their --help and
    their option tables in the source) or of gunicorn (GUNICORN_OPTIONS,
    the ones the pages name);
  * every .Xr reference to one of the project's pages names a page in man/,
    every page in man/ is in the SEE ALSO of the others, and any other
    page in SEE ALSO is a known one (EXTERNAL_PAGES) or one man(1) finds;
  * gwctl(1) documents exactly the commands `gwctl --help` lists, in its
    SYNOPSIS and in its list of commands, and gunicorn-wrapper-protocol(7)
    has a subsection for each command the daemon answers;
  * gunicorn-wrapper(8) stays a length a person reads: its EXAMPLES start
    within the first EXAMPLES_BY rendered lines (the issue: they started
    after line 1,200 once).

Skipped, with the reason, where mandoc or col(1) is not installed; the
binaries must have been built (`make`), as for the rest of the suite.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import control_helpers as ch
import helpers
from control_helpers import GWCTL_BIN, require_gwctl
from helpers import GW_BIN

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "man"
PAGES = sorted(p for p in MAN.iterdir() if re.fullmatch(r"[^.].*\.[1-9]", p.name))

# gunicorn-wrapper(8)'s EXAMPLES must start within this many rendered lines.
EXAMPLES_BY = 500

# gunicorn's own options that the pages name (gunicorn-wrapper(8) explains
# which of them it reads or rewrites).  Not the wrapper's: a runaway flag
# that happens to spell one of these would pass, which is unlikely.
GUNICORN_OPTIONS = {
    "-b", "--bind", "-c", "--config", "--ca-certs", "--certfile", "--chdir",
    "--check-config", "--control-socket", "-D", "--daemon", "-g", "--group",
    "--graceful-timeout", "-k", "--keyfile", "--log-config", "--log-file",
    "--logger-class", "--max-requests", "--max-requests-jitter", "-n",
    "-p", "--pid", "--paste", "--paster", "--preload", "--timeout", "-u",
    "--user", "-w", "--workers", "--worker-tmp-dir", "--access-logfile",
    "--error-logfile",
}

# Pages of other projects that SEE ALSO may name without man(1) finding
# them here (a test machine need not have their packages' pages).
EXTERNAL_PAGES = {
    ("gunicorn", "1"), ("gunicornc", "1"), ("supervisorctl", "1"),
    ("supervisord", "1"), ("jq", "1"), ("sd_notify", "3"), ("syslog", "3"),
    ("systemd.kill", "5"), ("systemd.service", "5"), ("systemd.exec", "5"),
    ("journalctl", "1"), ("cron", "8"), ("msgpack", "7"), ("unix", "7"),
    ("signal", "7"),
}

# A word as the renderer leaves it: "(--pid," -> "--pid"; "--pid=file" ->
# "--pid".
OPTION_WORD = re.compile(r"^[(\[\"']*(-{1,2}[A-Za-z][A-Za-z0-9_-]*)(?:=\S*)?[)\]\"',;:.]*$")


def need(*tools):
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip("{} is not installed: the man pages cannot be rendered "
                        "(tools/install-deps installs mandoc)".format(t))


def render(page):
    """The page as `mandoc -Tascii | col -b` prints it: plain text."""
    need("mandoc", "col")
    m = subprocess.run(["mandoc", "-Tascii", str(page)], capture_output=True,
                       timeout=30, check=True)
    c = subprocess.run(["col", "-b"], input=m.stdout, capture_output=True,
                       timeout=30, check=True)
    return c.stdout.decode("utf-8", "replace")


def source(page):
    return page.read_text(encoding="utf-8")


def section(src, name):
    """The mdoc source of section NAME (.Sh NAME up to the next .Sh)."""
    m = re.search(r"^\.Sh {}\n(.*?)(?=^\.Sh |\Z)".format(re.escape(name)),
                  src, re.M | re.S)
    return m.group(1) if m else None


def help_text(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (binary, r.returncode, r.stderr)
    return r.stdout


def options_in(text):
    return set(re.findall(r"(?<![\w-])(-{1,2}[A-Za-z][A-Za-z0-9-]*)", text))


def source_options(path):
    """The options a C file's tables name: "--name" literals, getopt_long's
    struct option entries and its optstring's letters."""
    try:
        text = (ROOT / path).read_text(encoding="utf-8")
    except OSError:
        return set()
    found = set(re.findall(r'"(-{1,2}[a-z][a-z0-9-]*)"', text))
    found |= {"--" + n for n in re.findall(
        r'\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(?:no|required|optional)_argument', text)}
    for optstring in re.findall(r'getopt(?:_long)?\s*\([^,]+,[^,]+,\s*"([^"]*)"', text):
        found |= {"-" + ch for ch in optstring if ch.isalnum()}
    return found


_known = None


def known_options():
    """Every option a page may name: the wrapper's and gwctl's (from their
    --help and their sources' option tables) and gunicorn's."""
    global _known
    if _known is None:
        helpers.require_binary()
        require_gwctl()
        _known = (options_in(help_text(GW_BIN)) | options_in(help_text(GWCTL_BIN))
                  | source_options("daemon/options.c") | source_options("client/parser.c")
                  | source_options("client/gwctl.c") | GUNICORN_OPTIONS)
    return _known


def runaway_flags(text, known):
    """Runs of two or more words in a row that each start with '-', one of
    which is no known option: what an Fl that runs on past a comma
    renders.  Each as (rendered line number, the run)."""
    bad = []
    run = []
    words = [(n, w) for n, line in enumerate(text.splitlines(), 1) for w in line.split()]
    for n, w in words + [(0, "")]:
        m = OPTION_WORD.match(w)
        if m:
            run.append((n, m.group(1)))
            continue
        if len(run) >= 2 and any(opt not in known for _, opt in run):
            bad.append((run[0][0], " ".join(opt for _, opt in run)))
        run = []
    return bad


def page_id(p):
    return p.name


def test_pages_found():
    names = {p.name for p in PAGES}
    assert {"gunicorn-wrapper.8", "gwctl.1", "gunicorn-wrapper-protocol.7"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_lint_clean(page):
    need("mandoc")
    r = subprocess.run(["mandoc", "-Tlint", "-Wwarning", str(page)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), \
        "mandoc -Tlint -Wwarning {}:\n{}{}".format(page.name, r.stdout, r.stderr)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_runaway_flags(page):
    text = render(page)
    bad = runaway_flags(text, known_options())
    assert not bad, "{}: flags that run on (an Fl past a comma?), by rendered " \
        "line:\n{}".format(page.name, "\n".join("  {}: {}".format(n, r) for n, r in bad))


def test_runaway_check_finds_the_slips():
    """The check itself: the slips of the issue are found, real lists of
    options are not."""
    known = {"--max-requests", "--worker-tmp-dir", "--paste", "--chdir", "-c", "--pid"}
    assert runaway_flags("gunicorn retires workers (--max-requests,\n"
                         "-with -or -without -jitter), and", known) == \
        [(1, "--max-requests -with -or -without -jitter")]
    assert runaway_flags("--worker-tmp-dir, -certificate -files, --paste) is", known) == \
        [(1, "--worker-tmp-dir -certificate -files --paste")]
    assert runaway_flags("(--chdir, -c, --pid, unix: binds", known) == []
    assert runaway_flags("kill -HUP $(pid)", known) == []


def xrefs(src):
    return re.findall(r"^\.Xr (\S+) (\d)\b", src, re.M)


OWN = re.compile(r"^(gunicorn-wrapper|gwctl)")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_see_also(page):
    src = source(page)
    see = section(src, "SEE ALSO")
    assert see is not None, "{} has no SEE ALSO".format(page.name)
    listed = xrefs(see)
    assert listed, "{}: SEE ALSO names no page".format(page.name)
    ours = {(p.name.rsplit(".", 1)[0], p.name.rsplit(".", 1)[1]) for p in PAGES}
    # Every reference to one of ours, anywhere in the page, is a page we have.
    for name, sec in xrefs(src):
        if OWN.match(name):
            assert (name, sec) in ours, "{}: .Xr {} {}, no such page in man/".format(
                page.name, name, sec)
    # Every other page of ours is in SEE ALSO.
    me = tuple(page.name.rsplit(".", 1))
    missing = ours - {me} - set(listed)
    assert not missing, "{}: SEE ALSO lacks {}".format(
        page.name, ", ".join("{}({})".format(*m) for m in sorted(missing)))
    # Another project's page: one we know of, or one man(1) finds.
    for name, sec in listed:
        if OWN.match(name) or (name, sec) in EXTERNAL_PAGES:
            continue
        found = shutil.which("man") is not None and subprocess.run(
            ["man", "-w", sec, name], capture_output=True, timeout=10).returncode == 0
        assert found, "{}: SEE ALSO names {}({}), which is not known and not " \
            "installed".format(page.name, name, sec)
    # In mdoc's order: by section, then by name.
    keys = [(int(sec), name) for name, sec in listed]
    assert keys == sorted(keys), "{}: SEE ALSO not sorted by section, then " \
        "name: {}".format(page.name, listed)


def test_gwctl_commands_match_help():
    src = source(MAN / "gwctl.1")
    synopsis = set(re.findall(r"^\.Cm (\S+)", section(src, "SYNOPSIS"), re.M))
    described = set(re.findall(r"^\.It Cm (\S+)", section(src, "DESCRIPTION"), re.M))
    cmds = ch.help_commands()
    assert synopsis == cmds, "gwctl(1) SYNOPSIS {} vs gwctl --help {}".format(
        sorted(synopsis), sorted(cmds))
    assert described == cmds, "gwctl(1) commands {} vs gwctl --help {}".format(
        sorted(described), sorted(cmds))


def test_protocol_page_has_every_command():
    """Each command the daemon answers (gwctl's, but metrics, which gwctl
    makes from status) has its subsection in the protocol page."""
    src = source(MAN / "gunicorn-wrapper-protocol.7")
    subsections = set(re.findall(r"^\.Ss (\S+)$", src, re.M))
    missing = ch.help_commands() - {"metrics"} - subsections
    assert not missing, "gunicorn-wrapper-protocol(7) has no .Ss for {}".format(
        sorted(missing))


@pytest.mark.parametrize("page", [p for p in PAGES if p.name[-1] in "18"], ids=page_id)
def test_exit_status_and_examples(page):
    """s6's habit and OpenBSD's: every command's page says how it exits and
    shows how it is used."""
    src = source(page)
    for sh in ("EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert section(src, sh) is not None, "{} has no {}".format(page.name, sh)


def test_daemon_page_examples_come_early():
    lines = render(MAN / "gunicorn-wrapper.8").splitlines()
    heads = [n for n, line in enumerate(lines, 1) if line == "EXAMPLES"]
    assert heads, "gunicorn-wrapper(8) has no EXAMPLES"
    assert heads[0] <= EXAMPLES_BY, "gunicorn-wrapper(8): EXAMPLES start at rendered " \
        "line {} of {}, past {}".format(heads[0], len(lines), EXAMPLES_BY)
