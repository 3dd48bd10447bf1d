# SPDX-License-Identifier: MIT
"""The build and `make install`, in clean copies of the tree.

  * msgpack-c is found under either pkg-config name: `msgpack-c` (msgpack-c
    6: Debian 13, Ubuntu 25.04 on) is taken when a PKG_CONFIG_PATH holds a
    msgpack-c.pc and the binaries build and run; with neither name the build
    stops with one clear line (and `make clean` still works);
  * CPPFLAGS reaches every compile;
  * each directory sees only its own headers and common's, so a daemon file
    that includes a client header does not compile;
  * `make install` puts the systemd units where systemd.pc says (or
    SYSTEMDUNITDIR), under DESTDIR, with ExecStart= and ExecReload= naming
    the installed binaries.

A pkg-config wrapper (PKG_CONFIG=) records what the Makefile asked for, so
the tests see which module was used rather than guessing from the output.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_TOP = {".git", "bench", "run", "dist", "gunicorn-wrapper",
            "gwctl", "build.flags", ".pytest_cache", "doc", "example"}
SKIP_ANY = ("*.o", "*.d", "__pycache__", "*.pyc")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE",
                        "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "CPPFLAGS",
                        "CFLAGS", "LDFLAGS", "CC")}
    env.update(extra)
    return env


def make(src, *args, env=None, timeout=300):
    return subprocess.run(["make", "-C", str(src)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env or clean_env())


def copy_tree(dst):
    dst.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in SKIP_TOP:
            continue
        if entry.is_dir():
            shutil.copytree(entry, dst / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns(*SKIP_ANY))
        else:
            shutil.copy2(entry, dst / entry.name)
    return dst


def pc_file(name):
    """The system's NAME.pc, as pkg-config finds it."""
    r = subprocess.run(["pkg-config", "--variable=pcfiledir", name],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return Path(r.stdout.strip()) / (name + ".pc")


def logging_pkg_config(tmp_path):
    """A pkg-config that appends its arguments to a log, then runs the real one."""
    log = tmp_path / "pkg-config.log"
    exe = tmp_path / "pkg-config"
    exe.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "{}"\nexec {} "$@"\n'.format(
        log, shutil.which("pkg-config")))
    exe.chmod(0o755)
    return exe, log


@pytest.fixture(scope="module")
def msgpack_c_tree(tmp_path_factory):
    """A copy of the tree built with pkg-config seeing msgpack as msgpack-c
    (and the build's pkg-config log)."""
    system_pc = pc_file("msgpack-c") or pc_file("msgpack")
    if system_pc is None:
        pytest.skip("neither msgpack-c.pc nor msgpack.pc is installed")
    tmp = tmp_path_factory.mktemp("build")
    pcdir = tmp / "pc"
    pcdir.mkdir()
    shutil.copy(system_pc, pcdir / "msgpack-c.pc")
    src = copy_tree(tmp / "src")
    exe, log = logging_pkg_config(tmp)
    r = make(src, "-j2", "all", "PKG_CONFIG={}".format(exe),
             env=clean_env(PKG_CONFIG_PATH=str(pcdir)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return src, log.read_text()


def test_builds_with_msgpack_c_pc(msgpack_c_tree):
    src, log = msgpack_c_tree
    assert re.search(r"^--cflags libevent msgpack-c$", log, re.M), log
    assert re.search(r"^--libs libevent msgpack-c$", log, re.M), log
    for binary in ("gunicorn-wrapper", "gwctl"):
        r = subprocess.run([str(src / binary), "--version"], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith(binary + " "), r


def test_builds_with_msgpack_pc(tmp_path):
    """The older name, on its own: a libdir holding libevent.pc and msgpack.pc
    only.  Only the compile lines are checked (make -n): the real build is
    the test above and every other test's."""
    ev, mp = pc_file("libevent"), pc_file("msgpack") or pc_file("msgpack-c")
    if ev is None or mp is None:
        pytest.skip("libevent.pc or a msgpack .pc is not installed")
    pcdir = tmp_path / "pc"
    pcdir.mkdir()
    shutil.copy(ev, pcdir / "libevent.pc")
    shutil.copy(mp, pcdir / "msgpack.pc")
    src = copy_tree(tmp_path / "src")
    exe, log = logging_pkg_config(tmp_path)
    r = make(src, "-n", "all", "PKG_CONFIG={}".format(exe),
             env=clean_env(PKG_CONFIG_LIBDIR=str(pcdir)))
    assert r.returncode == 0, r.stderr
    assert re.search(r"^--cflags libevent msgpack$", log.read_text(), re.M), log.read_text()


def test_no_msgpack_one_clear_line(tmp_path):
    ev = pc_file("libevent")
    if ev is None:
        pytest.skip("libevent.pc is not installed")
    pcdir = tmp_path / "pc"
    pcdir.mkdir()
    shutil.copy(ev, pcdir / "libevent.pc")
    src = copy_tree(tmp_path / "src")
    env = clean_env(PKG_CONFIG_LIBDIR=str(pcdir))
    r = make(src, "all", env=env)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "msgpack-c not found" in lines[0] and "libmsgpack-c-dev" in lines[0], lines[0]
    assert not list(src.glob("*/*.o")), "compiled something without msgpack"
    # Targets that build nothing do not need it.
    r = make(src, "clean", env=env)
    assert r.returncode == 0, r.stderr


def compile_lines(src, *args):
    r = make(src, "-n", "-B", "all", "tests/unit/test_units", "tests/fuzz/replay", *args)
    assert r.returncode == 0, r.stderr
    return {m.group(1): line for line in r.stdout.replace("\\\n", " ").splitlines()
            for m in [re.search(r" -c -o \S+ (\S+\.c)$", line)] if m}


def test_cppflags_and_include_paths(tmp_path):
    src = copy_tree(tmp_path / "src")
    lines = compile_lines(src, "CPPFLAGS=-DGW_TEST_CPPFLAGS_SEEN=1")
    assert len(lines) > 15, lines
    for c, line in lines.items():
        assert "-DGW_TEST_CPPFLAGS_SEEN=1" in line, line
        incs = re.findall(r"-I(\S+)", line)
        top = c.split("/")[0] if not c.startswith("tests/") else "/".join(c.split("/")[:2])
        want = {"common": ["common"], "daemon": ["common", "daemon"],
                "client": ["common", "client"],
                "tests/unit": ["common", "daemon"],
                "tests/fuzz": ["common", "daemon", "client", "tests/fuzz"]}[top]
        assert [i for i in incs if not i.startswith("/")] == want, (c, incs)


def test_layering_is_enforced(tmp_path):
    """daemon -> common <- client: a daemon file including a client header
    (or common one including a daemon header) does not compile."""
    src = copy_tree(tmp_path / "src")
    r = make(src, "daemon/notify.o")
    assert r.returncode == 0, r.stderr
    for victim, header in (("daemon/notify.c", "parser.h"), ("common/clock.c", "gw.h")):
        path = src / victim
        good = path.read_text()
        path.write_text('#include "{}"\n'.format(header) + good)
        r = make(src, victim.replace(".c", ".o"))
        assert r.returncode != 0 and header in r.stderr, (victim, r.stderr[-2000:])
        path.write_text(good)


def test_daemon_include_graph_has_no_cycle(tmp_path):
    """daemon/'s modules include each other without a cycle (a low module
    reports up through callbacks), and tools/include-graph can tell: one
    include added from gunicorn.c up to server.h makes it fail."""
    tool = [sys.executable, str(ROOT / "tools/include-graph")]
    r = subprocess.run(tool + [str(ROOT / "daemon")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "cycle" not in r.stderr, r.stdout + r.stderr
    assert re.search(r"^gunicorn -> gw listen proc$", r.stdout, re.M), r.stdout
    d = tmp_path / "daemon"
    shutil.copytree(ROOT / "daemon", d)
    path = d / "gunicorn.c"
    path.write_text('#include "server.h"\n' + path.read_text())
    r = subprocess.run(tool + [str(d)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "cycle:" in r.stderr, r.stdout + r.stderr


# --------------------------------------------------------------------------
# make install

UNITS = ("gunicorn-wrapper@.service", "gunicorn-wrapper-notify-reload@.service")


def test_install_systemd_units(msgpack_c_tree, tmp_path):
    src, _ = msgpack_c_tree
    pc = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                        capture_output=True, text=True).stdout.strip() \
        or "/usr/lib/systemd/system"

    dest = tmp_path / "default"
    r = make(src, "install", "DESTDIR={}".format(dest))
    assert r.returncode == 0, r.stderr
    for u in UNITS:
        example = dest / "usr/local/share/doc/gunicorn-wrapper/examples/systemd" / u
        assert re.search(r"^ExecStart=/usr/local/sbin/gunicorn-wrapper ",
                         example.read_text(), re.M), u
    # Only the main unit is live: the notify-reload one needs systemd >= 253.
    assert not (dest / pc.lstrip("/") / UNITS[1]).exists()
    for u in UNITS[:1]:
        text = (dest / pc.lstrip("/") / u).read_text()
        assert re.search(r"^ExecStart=/usr/local/sbin/gunicorn-wrapper ", text, re.M), text
        assert oct((dest / pc.lstrip("/") / u).stat().st_mode & 0o777) == oct(0o644)
    text = (dest / pc.lstrip("/") / UNITS[0]).read_text()
    assert re.search(r"^ExecReload=/usr/local/bin/gwctl reload %i$", text, re.M), text
    assert (dest / "usr/local/share/doc/gunicorn-wrapper/LICENSE").read_bytes() == \
        (ROOT / "LICENSE").read_bytes()
    r = make(src, "uninstall", "DESTDIR={}".format(dest))
    assert r.returncode == 0, r.stderr
    assert not [p for p in dest.rglob("*") if p.is_file()]

    dest = tmp_path / "override"
    r = make(src, "install", "DESTDIR={}".format(dest), "PREFIX=/usr",
             "SYSTEMDUNITDIR=/etc/systemd/system")
    assert r.returncode == 0, r.stderr
    assert not (dest / "etc/systemd/system" / UNITS[1]).exists()
    for u in UNITS:
        assert not (dest / pc.lstrip("/") / u).exists()
    text = (dest / "etc/systemd/system" / UNITS[0]).read_text()
    assert re.search(r"^ExecStart=/usr/sbin/gunicorn-wrapper ", text, re.M), text


# --------------------------------------------------------------------------
# tools/install-deps, with apt-get and apt-cache replaced by stubs that
# record what they were asked (no network, nothing installed)

def install_deps(tmp_path, *args, known=("libmsgpack-dev",)):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text('#!/bin/sh\necho "apt-get $*" >> "{}"\n'.format(log))
    (bin_dir / "apt-cache").write_text(
        '#!/bin/sh\ncase " {} " in *" $2 "*) printf "%s:\\n  Candidate: 1.0\\n" "$2";; esac\n'
        .format(" ".join(known)))
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    r = subprocess.run([str(ROOT / "tools/install-deps")] + list(args), capture_output=True,
                       text=True, timeout=30,
                       env=clean_env(PATH="{}:{}".format(bin_dir, os.environ["PATH"])))
    installed = []
    if log.exists():
        for line in log.read_text().splitlines():
            if line.startswith("apt-get install"):
                installed += [w for w in line.split()[2:] if not w.startswith("-")]
    log.unlink(missing_ok=True)
    return r, set(installed)


def test_install_deps_modes(tmp_path):
    r, run_pkgs = install_deps(tmp_path, "--run")
    assert r.returncode == 0, r.stderr
    assert {"build-essential", "pkg-config", "libevent-dev", "libmsgpack-dev",
            "gunicorn"} <= run_pkgs, run_pkgs
    for heavy in ("clang", "lintian", "systemd", "supervisor", "python3-pytest",
                  "libcmocka-dev", "debhelper"):
        assert heavy not in run_pkgs, run_pkgs

    r, all_pkgs = install_deps(tmp_path)
    assert r.returncode == 0, r.stderr
    assert run_pkgs < all_pkgs
    assert {"clang", "libcmocka-dev", "supervisor", "python3-pytest", "mandoc",
            "lintian"} <= all_pkgs, all_pkgs

    # msgpack-c 6's package name, where the archive has it.
    r, pkgs = install_deps(tmp_path, "--run", known=("libmsgpack-c-dev", "libmsgpack-dev"))
    assert r.returncode == 0 and "libmsgpack-c-dev" in pkgs and "libmsgpack-dev" not in pkgs
    r, pkgs = install_deps(tmp_path, "--run", known=())
    assert r.returncode == 1 and "libmsgpack-c-dev" in r.stderr and not pkgs, r.stderr

    r, pkgs = install_deps(tmp_path, "--bogus")
    assert r.returncode == 2 and "usage:" in r.stderr and not pkgs


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)\n```", readme, re.M | re.S)
    assert blocks[0].startswith("./tools/install-deps --run && make && "), blocks[0]
    assert blocks[1] == ci == "./tools/install-deps && make check", (blocks[1], ci)
