# SPDX-License-Identifier: MIT
"""The benchmark's WSGI app: a stand-in for a real app that is slow to import.

* Importing it takes BENCH_BOOT seconds (default 3): a sleep, or with
  BENCH_BOOT_CPU=1 a busy loop until the process has used BENCH_BOOT seconds
  of CPU, like a real import (a fixed amount of work: workers importing side
  by side on fewer cores than workers take longer than BENCH_BOOT).
* The version is read once, at import, from the file BENCH_VERSION_FILE
  (unset: version.txt beside this file, as in a release directory;
  missing or empty: "1"), so a deploy is rewriting that file and reloading.
  The version "broken" makes the import fail after the boot time: a bad
  deploy whose workers die while loading, as an ImportError would.
  The version "crash:S" serves, then each worker kills itself with SIGSEGV
  S seconds after its import: a crash loop after boot.
* Every response is "version=V pid=P\n": the load generator tells the
  generations apart by it.

Run by bench/run.py as: gunicorn --chdir bench -w 4 -b 127.0.0.1:PORT app:app
"""

import os
import signal
import threading
import time

BOOT = float(os.environ.get("BENCH_BOOT", "3") or 0)


def _boot(seconds):
    if os.environ.get("BENCH_BOOT_CPU") == "1":
        end = time.process_time() + seconds
        while time.process_time() < end:
            sum(range(1000))
    else:
        time.sleep(seconds)


def _read_version():
    try:
        path = os.environ.get("BENCH_VERSION_FILE") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "version.txt")
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or "1"
    except OSError:
        return "1"


_boot(BOOT)
VERSION = _read_version()
if VERSION == "broken":
    raise ImportError("bench/app.py: version file says 'broken' (simulated bad deploy)")
if VERSION.startswith("crash:"):
    _crash = threading.Timer(float(VERSION[6:]), os.kill, (os.getpid(), signal.SIGSEGV))
    _crash.daemon = True
    _crash.start()

_BODY = "version={} pid={}\n".format(VERSION, os.getpid()).encode()
_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(_BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(_HEADERS))
    return [_BODY]
