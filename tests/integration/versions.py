# SPDX-License-Identifier: MIT
"""gunicorn releases other than Debian's, and apps that break in new ways.

Why this file exists: the wrapper must hold on gunicorn as production runs
it, which is mostly not Debian's 20.1 but PyPI's 23.x and 26.x.  Those
sources sit in ../shared/gunicorn/ (next to the checkout); this module
unpacks one into a private directory and writes the executable launcher
that gunicorn's SIGUSR2 re-exec needs (see ../shared/gunicorn/README.md).
A checkout without ../shared (a user's clone) skips those variants with a
reason instead of failing.

It also holds the readiness tests' own WSGI app (written into the test's
app directory, the example app left alone), whose version.txt decides how
a generation misbehaves:

  N            serves "version=N pid=P"
  crash:S      serves, then each worker kills itself with SIGSEGV S s
               after its import (a crash loop after boot)
  exit:S:N:P   serves, then each worker calls os._exit(N) S s after its
               import (a crash loop that no signal shows; N=0 too), unless
               its master is P: the old master's recycled workers (which
               import the code on disk without --preload) serve on, as a
               release's would
  slow:S       the import takes S s (longer than gunicorn's --timeout)
  broken       raises at import
  hang         the import never finishes

(APP_BOOT=S in the environment makes every import S s slower.)

and a dirty app (gunicorn 25+) whose init() takes DIRTY_INIT seconds.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import helpers

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "gunicorn"
DEBIAN = "20.1"
RELEASES = ("23.0.0", "26.1.0")
ALL = (DEBIAN,) + RELEASES

_cache = {}


def skip_reason(version):
    """None when `version` can run here, else why not."""
    if version == DEBIAN:
        return None if os.access(helpers.GUNICORN, os.X_OK) else "no /usr/bin/gunicorn"
    tarball = SHARED / "gunicorn-{}.tar.gz".format(version)
    if not tarball.is_file():
        return "gunicorn {} sources not found at {} (../shared absent)".format(version, tarball)
    r = subprocess.run([helpers.PYTHON, "-c", "import packaging"], capture_output=True)
    if r.returncode != 0:
        return "gunicorn {} needs python3-packaging".format(version)
    return None


def launcher(version):
    """Path of an executable that runs gunicorn `version` (unpacked once per
    test session into a private directory removed at exit); skips the test
    when it cannot run here."""
    reason = skip_reason(version)
    if reason:
        pytest.skip(reason)
    if version == DEBIAN:
        return helpers.GUNICORN
    if version in _cache:
        return _cache[version]
    base = Path(tempfile.mkdtemp(prefix="gw-gunicorn-{}-".format(version)))
    base.chmod(0o755)   # a wrapper run as another user runs it too
    import atexit
    atexit.register(shutil.rmtree, str(base), True)
    with tarfile.open(SHARED / "gunicorn-{}.tar.gz".format(version)) as tf:
        tf.extractall(base)
    src = base / "gunicorn-{}".format(version)
    exe = base / "gunicorn"
    exe.write_text("#!{py}\nimport sys\nsys.path.insert(0, {src!r})\n"
                   "from gunicorn.app.wsgiapp import run\nsys.exit(run())\n"
                   .format(py=helpers.PYTHON, src=str(src)))
    exe.chmod(0o755)
    _cache[version] = str(exe)
    return str(exe)


def has_module(name):
    r = subprocess.run([helpers.PYTHON, "-c", "import " + name], capture_output=True)
    return r.returncode == 0


APP = r'''
"""Readiness tests' app: version.txt says how this generation behaves."""
import os
import signal
import sys
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(_HERE, "version.txt"), encoding="utf-8") as f:
        VERSION = f.read().strip() or "1"
except FileNotFoundError:
    VERSION = "1"

time.sleep(float(os.environ.get("APP_BOOT", "0") or 0))
if VERSION == "broken":
    raise RuntimeError("rapp.py: version file says 'broken'")
if VERSION == "hang":
    time.sleep(3600)
if VERSION.startswith("slow:"):
    time.sleep(float(VERSION[5:]))
if VERSION.startswith("crash:"):
    def _die():
        os.kill(os.getpid(), signal.SIGSEGV)
    _t = threading.Timer(float(VERSION[6:]), _die)
    _t.daemon = True
    _t.start()
if VERSION.startswith("exit:") and os.getppid() != int(VERSION.split(":")[3]):
    _t = threading.Timer(float(VERSION.split(":")[1]), os._exit,
                         (int(VERSION.split(":")[2]),))
    _t.daemon = True
    _t.start()


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        # As example/app.py's: announced, so a test knows it is in flight.
        seconds = float(environ.get("QUERY_STRING", "s=1").partition("=")[2] or 1)
        sys.stderr.write("app: slow request ({:g} s) started in pid {}\n".format(
            seconds, os.getpid()))
        sys.stderr.flush()
        time.sleep(min(seconds, 60))
    body = "version={} pid={}\n".format(VERSION, os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = "version={} pid={}\n".format(VERSION, os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
'''

DIRTY_INIT = 1.0

DIRTY_APP = r'''
"""A dirty app (gunicorn 25+) whose init() is slow, like loading a model."""
import time

from gunicorn.dirty.app import DirtyApp


class Model(DirtyApp):
    def init(self):
        time.sleep(%r)

    def __call__(self, action, *args, **kwargs):
        return "ok"
''' % DIRTY_INIT


def install_apps(gw):
    """Write rapp.py (and dapp.py) into the test's app directory."""
    (gw.app_dir / "rapp.py").write_text(APP)
    (gw.app_dir / "dapp.py").write_text(DIRTY_APP)


def short_tmpdir(gw):
    """A short private TMPDIR (gunicorn 26 puts Unix sockets and its dirty
    arbiter's pidfile there; sun_path is short, and the pidfile's name is
    shared by every master with the same proc_name)."""
    d = Path(tempfile.mkdtemp(prefix="gwv-", dir="/tmp"))
    gw.add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def wrapper(gw, version="20.1", workers=2, warmup=30, extra_gunicorn=(), extra_wrapper=(),
            app="rapp:app", start=True, **kw):
    """gw.wrapper() running gunicorn `version` with the readiness app,
    a private TMPDIR, and (for 25+) a private control socket."""
    install_apps(gw)
    exe = launcher(version)
    tmpdir = short_tmpdir(gw)
    extra_env = dict(kw.pop("extra_env", {}) or {})
    extra_env["TMPDIR"] = str(tmpdir)
    extra = list(extra_gunicorn)
    if version not in (DEBIAN, "23.0.0"):
        extra += ["--control-socket", str(tmpdir / "gunicorn.ctl")]
    w = gw.wrapper(start=False, workers=workers, warmup=warmup, app=app,
                   extra_gunicorn=extra, extra_wrapper=extra_wrapper,
                   extra_env=extra_env, **kw)
    i = w.argv.index("--gunicorn")
    w.argv[i + 1] = exe
    w.tmpdir = tmpdir
    return w.start() if start else w
