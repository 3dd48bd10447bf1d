# SPDX-License-Identifier: MIT
"""Helpers for the release-mode tests (test_release.py, test_release_faults.py).

Why this file exists: release mode (--releases DIR) needs a Capistrano
layout on disk: SRV/releases/NAME/ each holding the readiness app
(rapp.py) and its version.txt, and SRV/current, the symlink gunicorn's
--chdir names.  These build that layout, start a wrapper on it with any of
the three gunicorn versions, and read back what the link, the control
socket and the generations say."""

import os
import socket

import helpers
import versions


def make_release(gw, name, version, executable=None):
    """SRV/releases/NAME with rapp.py and version.txt; executable (a path)
    is copied in as bin/gunicorn when given.  Returns its path."""
    versions.install_apps(gw)
    root = gw.tmp / "srv" / "releases" / name
    root.mkdir(parents=True, exist_ok=True)
    (root / "rapp.py").write_text((gw.app_dir / "rapp.py").read_text())
    (root / "version.txt").write_text(version + "\n")
    if executable is not None:
        (root / "bin").mkdir(exist_ok=True)
        exe = root / "bin" / "gunicorn"
        exe.write_text(open(executable).read())
        exe.chmod(0o755)
    return root


def releases_dir(gw):
    return gw.tmp / "srv" / "releases"


def link(gw):
    return gw.tmp / "srv" / "current"


def point(gw, name):
    """Point the link at releases/NAME (as an operator's first deploy)."""
    tmp = gw.tmp / "srv" / ".current.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(str(releases_dir(gw) / name), tmp)
    os.replace(tmp, link(gw))


def linked(gw):
    """The release name the link names now."""
    return os.path.basename(os.readlink(link(gw)))


def wrapper(gw, version="20.1", workers=2, extra_gunicorn=(), extra_wrapper=(),
            executable=None, start=True, **kw):
    """A wrapper in release mode on SRV/current, gunicorn `version` (or the
    executable path given, e.g. one under the link), the readiness app."""
    w = versions.wrapper(gw, version=version, workers=workers, start=False,
                         extra_gunicorn=extra_gunicorn,
                         extra_wrapper=["--releases", str(releases_dir(gw))] +
                         list(extra_wrapper), **kw)
    i = w.argv.index("--chdir")
    w.argv[i + 1] = str(link(gw))
    if executable is not None:
        w.argv[w.argv.index("--gunicorn") + 1] = str(executable)
    return w.start() if start else w


def listening_unix_inodes(path):
    """Inodes of the listening Unix sockets bound to path (/proc/net/unix)."""
    out = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & 0x10000:
                out.add(int(parts[6]))
    return out


def holds_socket(pid, inodes):
    """1 if pid has one of these socket inodes open."""
    want = {"socket:[{}]".format(i) for i in inodes}
    try:
        fds = os.listdir("/proc/{}/fd".format(pid))
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/{}/fd/{}".format(pid, fd)) in want:
                return True
        except OSError:
            pass
    return False


def control_socket_serves(path, master):
    """gunicorn 26's control socket at its stable path (a symlink in
    release mode) accepts a connection, and the socket it names is the
    serving master's."""
    real = os.path.realpath(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(str(path))
    except OSError:
        return False
    finally:
        s.close()
    return holds_socket(master, listening_unix_inodes(real))


def serving_master(gw, ctl):
    st = ctl.gwctl_json(gw, "status", "app")
    return st["master"], st


__all__ = ["make_release", "releases_dir", "link", "point", "linked", "wrapper",
           "control_socket_serves", "serving_master", "helpers"]
