# SPDX-License-Identifier: MIT
"""The Debian package, as `apt install ./dist/gunicorn-wrapper_*.deb` would
install it.

Why this file exists: dh_compress gzipped the supervisord example and the
systemd unit in the documentation directory, so "copy app.conf to
/etc/supervisor/conf.d" copied a .gz, and the Type=notify-reload unit
(systemd >= 253 only) was installed live next to the main one.  Neither
shows in `make install`'s tree (test_contrib.py): only in the .deb.  So the
package is built here as `make deb` builds it (tools/build-deb: a clean copy
of the tree in a temporary directory, dpkg-buildpackage, lintian with no
error or warning), into a temporary directory, and its layout read back
with dpkg-deb -c and -x:

  * the binaries (mode 0755, and they run), the three man pages, the bash
    completion;
  * every example at /usr/share/doc/gunicorn-wrapper/examples/{systemd,
    supervisor,consul-template}/, uncompressed, byte for byte the tree's
    file (examples/supervisor/app.conf is plain text, not .gz);
  * gunicorn-wrapper@.service is the only unit installed live, naming
    /usr/sbin and /usr/bin; gunicorn-wrapper-notify-reload@.service is only
    under examples/;
  * nothing else: no file outside that list.

Skipped, with the reason, where dpkg-buildpackage, debhelper, lintian, git
or the Build-Depends are missing (tools/install-deps installs them all).
About 15 s.
"""

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
DOC = "usr/share/doc/gunicorn-wrapper/"
EXAMPLES = helpers.CONTRIB_EXAMPLES
MAN = {"usr/share/man/man8/gunicorn-wrapper.8.gz": "man/gunicorn-wrapper.8",
       "usr/share/man/man1/gwctl.1.gz": "man/gwctl.1",
       "usr/share/man/man7/gunicorn-wrapper-protocol.7.gz": "man/gunicorn-wrapper-protocol.7"}
# What provides each tool build-deb needs, for the skip reason.
TOOLS = {"dpkg-buildpackage": "dpkg-dev", "dpkg-checkbuilddeps": "dpkg-dev",
         "dpkg-deb": "dpkg", "dh": "debhelper", "lintian": "lintian", "git": "git"}


def clean_env():
    """The environment without make's or a build's: under `make test
    SANITIZE=1 CC=clang` these would reach the package's own make."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CC",
                         "CFLAGS", "CPPFLAGS", "LDFLAGS", "DEB_BUILD_OPTIONS")}


def run(argv, timeout, **kw):
    kw.setdefault("env", clean_env())
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def makefile_version():
    m = re.search(r"^VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no VERSION in Makefile"
    return m.group(1)


class Package:
    def __init__(self, deb, tree, entries, build_log):
        self.deb = deb            # the .deb's path
        self.tree = tree          # dpkg-deb -x of it
        self.entries = entries    # {path: mode string} of its non-directories
        self.build_log = build_log

    def files(self):
        return set(self.entries)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        pytest.skip("cannot build the Debian package: {} not installed "
                    "(tools/install-deps installs them)".format(", ".join(missing)))
    if not (ROOT / ".git").exists():
        pytest.skip("tools/build-deb copies the files git knows, and {} is not a git "
                    "checkout".format(ROOT))
    r = run(["dpkg-checkbuilddeps"], 60, cwd=str(ROOT))
    if r.returncode != 0:
        pytest.skip("the Build-Depends of debian/control are not installed: " +
                    (r.stderr or r.stdout).strip())

    tmp = tmp_path_factory.mktemp("package")
    dist = tmp / "dist"
    # SANITIZE=1, as `make check`'s second pass leaves in the environment:
    # the package is a release build all the same (debian/rules).
    r = run([ROOT / "tools/build-deb", dist], 300,
            env=dict(clean_env(), TMPDIR=str(tmp), SANITIZE="1"))
    log = r.stdout + r.stderr
    assert r.returncode == 0, "tools/build-deb exit {}:\n{}".format(r.returncode, log[-6000:])
    assert "build-deb: lintian: no errors, no warnings" in r.stdout, log[-3000:]
    debs = sorted(dist.glob("gunicorn-wrapper_{}_*.deb".format(makefile_version())))
    assert len(debs) == 1, sorted(p.name for p in dist.iterdir())
    deb = debs[0]
    # The work tree's own copy of build-deb's temporary tree is gone.
    assert not list(tmp.glob("gw-build-deb.*")), "tools/build-deb left its copy behind"

    r = run(["dpkg-deb", "-c", deb], 60)
    assert r.returncode == 0, r.stderr
    entries = {}
    for line in r.stdout.splitlines():
        # drwxr-xr-x root/root 0 2026-11-25 01:45 ./usr/bin/
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        mode, owner, path = fields[0], fields[1], fields[5].split(" -> ")[0]
        assert owner == "root/root", line
        if mode.startswith("d"):
            continue
        assert path.startswith("./"), line
        entries[path[2:]] = mode
    tree = tmp / "tree"
    r = run(["dpkg-deb", "-x", deb, tree], 60)
    assert r.returncode == 0, r.stderr
    return Package(deb, tree, entries, log)


def unit_dirs(files):
    """The directories of the package's live systemd units (not under doc)."""
    return {os.path.dirname(f) for f in files
            if f.endswith((".service", ".timer")) and not f.startswith("usr/share/")}


def test_package_layout_is_exactly_this(package):
    files = package.files()
    dirs = unit_dirs(files)
    assert len(dirs) == 1 and dirs <= {"lib/systemd/system", "usr/lib/systemd/system"}, dirs
    units = dirs.pop()
    expected = {
        "usr/sbin/gunicorn-wrapper", "usr/bin/gwctl",
        "usr/share/bash-completion/completions/gwctl",
        units + "/gunicorn-wrapper@.service",
        DOC + "README.md.gz", DOC + "changelog.gz", DOC + "copyright",
    } | set(MAN) | {DOC + "examples/" + rel for rel in EXAMPLES}
    assert files == expected, "the package's files differ:\n  missing {}\n  unexpected {}".format(
        sorted(expected - files), sorted(files - expected))
    assert package.entries["usr/sbin/gunicorn-wrapper"] == "-rwxr-xr-x"
    assert package.entries["usr/bin/gwctl"] == "-rwxr-xr-x"
    for f in files - {"usr/sbin/gunicorn-wrapper", "usr/bin/gwctl"}:
        assert package.entries[f] == "-rw-r--r--", (f, package.entries[f])


def test_examples_are_uncompressed_copies(package):
    """What an operator copies to /etc is the tree's file, as it is."""
    ex = package.tree / DOC / "examples"
    for rel in EXAMPLES:
        data = (ex / rel).read_bytes()
        assert not data.startswith(b"\x1f\x8b"), "{} is gzip data".format(rel)
        assert data == (CONTRIB / rel).read_bytes(), rel
        data.decode("utf-8")  # text
    assert not [p for p in ex.rglob("*.gz")], sorted(ex.rglob("*.gz"))
    conf = (ex / "supervisor/app.conf").read_text()
    assert conf.startswith("; contrib/supervisor/app.conf:"), conf[:200]
    assert re.search(r"^\[program:app\]$", conf, re.M), conf
    assert not (package.tree / DOC / "contrib").exists(), "the old doc/contrib/ is back"


def test_only_the_main_unit_is_live(package):
    files = package.files()
    live = [f for f in files if f.endswith((".service", ".timer"))
            and not f.startswith(DOC + "examples/")]
    assert [os.path.basename(f) for f in live] == ["gunicorn-wrapper@.service"], live
    unit = (package.tree / live[0]).read_text()
    assert unit == (CONTRIB / "systemd/gunicorn-wrapper@.service").read_text()
    assert re.search(r"^Type=notify$", unit, re.M)
    assert re.search(r"^ExecStart=/usr/sbin/gunicorn-wrapper ", unit, re.M), unit
    assert re.search(r"^ExecReload=/usr/bin/gwctl reload %i$", unit, re.M), unit
    variant = [f for f in files if os.path.basename(f) ==
               "gunicorn-wrapper-notify-reload@.service"]
    assert variant == [DOC + "examples/systemd/gunicorn-wrapper-notify-reload@.service"], variant
    text = (package.tree / variant[0]).read_text()
    assert re.search(r"^Type=notify-reload$", text, re.M), text


def test_binaries_man_pages_and_control(package):
    version = makefile_version()
    for binary, name in (("usr/sbin/gunicorn-wrapper", "gunicorn-wrapper"),
                         ("usr/bin/gwctl", "gwctl")):
        r = run([package.tree / binary, "--version"], 10)
        assert r.returncode == 0, (binary, r.returncode, r.stderr)
        assert (r.stdout + r.stderr).strip() == "{} {}".format(name, version), r
    for packaged, source in MAN.items():
        with gzip.open(package.tree / packaged) as f:
            assert f.read() == (ROOT / source).read_bytes(), packaged
    assert (package.tree / "usr/share/bash-completion/completions/gwctl").read_bytes() == \
        (CONTRIB / "bash-completion/gwctl").read_bytes()

    r = run(["dpkg-deb", "-f", package.deb, "Package", "Version", "Depends"], 30)
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert fields["Package"] == "gunicorn-wrapper" and fields["Version"] == version, fields
    assert "libevent" in fields["Depends"] and "msgpack" in fields["Depends"], fields
