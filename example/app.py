# SPDX-License-Identifier: MIT
"""Tiny WSGI app bundled with gunicorn-wrapper for the README demo and tests.

It exists to make reload behaviour observable from the outside:

* every response says which code version answered and which worker pid,
  so a client can see the switch from the old to the new generation;
* the version is read once, at import, from a file (env APP_VERSION_FILE,
  default ``version.txt`` next to this file; missing file -> "1"), so a
  "deploy" is just rewriting that file and sending SIGHUP to the wrapper;
* special version contents simulate bad deploys: ``broken`` raises at
  import, ``hang`` blocks at import for an hour;
* env APP_BOOT=<seconds> makes the import slow (a heavy app warming up);
* ``/slow?s=N`` logs "app: slow request ... started" to stderr, then sleeps
  N seconds before answering (an in-flight request).

Run it by hand:  gunicorn --chdir example -w 2 -b 127.0.0.1:8000 app:app
"""

import os
import sys
import time
from urllib.parse import parse_qs

_HERE = os.path.dirname(os.path.abspath(__file__))


def _read_version():
    path = os.environ.get("APP_VERSION_FILE") or os.path.join(_HERE, "version.txt")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or "1"
    except FileNotFoundError:
        return "1"


time.sleep(float(os.environ.get("APP_BOOT", "0") or 0))

VERSION = _read_version()
if VERSION == "broken":
    raise RuntimeError("app.py: version file says 'broken' (simulated bad deploy)")
if VERSION == "hang":
    time.sleep(3600)  # simulated import that never finishes


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/slow":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            seconds = float(query.get("s", ["1"])[0])
        except ValueError:
            seconds = 1.0
        seconds = max(0.0, min(seconds, 300.0))
        # Announce the start so a test can tell the request is in flight.
        sys.stderr.write("app: slow request ({:g} s) started in pid {}\n".format(seconds, os.getpid()))
        sys.stderr.flush()
        time.sleep(seconds)
    body = "version={} pid={}\n".format(VERSION, os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
