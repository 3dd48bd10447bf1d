# SPDX-License-Identifier: MIT
"""Helpers for the fault-injection tests (test_faults.py).

Why this file exists: the fault matrix breaks things on purpose in the
middle of a reload (kill -9 of a master or a worker, of the wrapper itself,
a rewritten pidfile, a signal storm...) and then checks the same few
promises every time: the site kept answering, no gunicorn process was left
behind or duplicated, the daemon's status tells the truth, and the next
reload works.  This file holds the pieces those checks share, on top of
helpers.py and control_helpers.py:

  * phase detection with a fast (5 ms) bounded log poll, so that a fault
    lands in the phase it is meant for;
  * counting *every* gunicorn master, including a reload's new master that
    is still a child of the old one (GwEnv.masters() only lists masters
    whose parent is not gunicorn);
  * a /slow request in flight, run in a thread, with its outcome;
  * an HTTP-over-AF_UNIX client and a LoadGenerator over it, for gunicorn
    bound to `unix:/path`;
  * an unrelated long-lived process (`sleep 60`) whose PID is written into
    the pidfile;
  * assertions on the status reply (the "truth" check) and on a clean
    follow-up reload.

Everything is bounded (deadlines on every wait, caps on every loop) and
nothing here kills a process it did not start: victims are PIDs of this
test's gunicorn processes, found under its own wrapper; the gw fixture
kills the rest by PID at teardown.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time

import control_helpers as ch
import helpers
from helpers import parse_body, wait_for

FAST = 0.005   # seconds between polls when a fault must hit a short phase


# --------------------------------------------------------------------------
# log

def wait_log_fast(log, pattern, timeout=10.0, since=0, wrapper_only=True):
    """LogFile.wait_log polling every 5 ms: returns (match, index)."""
    m = log.wait_log(pattern, timeout, since, wrapper_only, poll=FAST)
    return m, log.last_index


# --------------------------------------------------------------------------
# processes

def all_masters(gw):
    """Every gunicorn master of this test, including a reload's new master
    still parented to its old master: a gunicorn process whose parent is
    not gunicorn, or which has gunicorn children of its own, or which was
    exec'd with GUNICORN_PID=<its parent> (a new master before it has
    forked its workers).  Sorted."""
    g = gw.gunicorn_procs()
    parents = set(g.values())
    return sorted(p for p, pp in g.items()
                  if pp not in g or p in parents
                  or helpers.environ_has(p, "GUNICORN_PID={}".format(pp).encode()))


def assert_single_master_holds(gw, master, seconds):
    """all_masters() stays [master] for `seconds` (checked every 0.1 s)."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.1) + 2):
        ms = all_masters(gw)
        assert ms == [master], "a second master appeared next to {}:\n{}".format(
            master, helpers.describe(sorted(gw.gunicorn_procs())))
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def generation(master):
    """The master and its live descendants."""
    return [master] + helpers.descendants(master)


def wait_new_master(old, timeout=10.0, interval=FAST):
    return wait_for(lambda: helpers.new_master_of(old), timeout,
                    "the new master forked by {}".format(old), interval=interval)


def gunicorn_children(pid):
    return [k for k in helpers.children(pid) if helpers.is_gunicorn(k)]


def wait_workers(master, n, timeout=10.0):
    """Wait until master has at least n gunicorn children; returns them."""
    def enough():
        kids = [k for k in gunicorn_children(master) if not helpers.children(k)]
        return kids if len(kids) >= n else None
    return wait_for(enough, timeout, "{} workers under master {}".format(n, master),
                    interval=FAST)


def wait_single_master(gw, master=None, timeout=15.0):
    """Wait until exactly one gunicorn master (counting nested new masters)
    is left, and it is `master` if given; returns it."""
    def one():
        ms = all_masters(gw)
        if len(ms) == 1 and (master is None or ms[0] == master):
            return ms[0]
        return None
    return wait_for(one, timeout, "exactly one gunicorn master{}".format(
        "" if master is None else " ({})".format(master)),
        on_timeout=lambda: helpers.describe(sorted(gw.gunicorn_procs())))


def unrelated_process(gw, seconds=60):
    """A live process that is not gunicorn (`sleep`), killed at teardown."""
    p = subprocess.Popen(["sleep", str(seconds)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=gw.base_env(), start_new_session=True)
    gw.track(p)
    return p


def stop_cont(pid):
    """SIGSTOP pid; returns a callable that sends SIGCONT (idempotent)."""
    os.kill(pid, signal.SIGSTOP)
    done = []

    def cont():
        if not done:
            done.append(1)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    return cont


# --------------------------------------------------------------------------
# an in-flight request

class InFlight:
    """GET `path` on a fresh connection in a thread; outcome in .status/.body
    or .error.  started(log) waits for the app's 'slow request ... started
    in pid N' line and returns N (the worker serving it)."""

    def __init__(self, gw, path="/slow?s=3", timeout=30.0, get=None):
        self.gw, self.path, self.timeout = gw, path, timeout
        self.status = self.body = self.error = None
        self.t_end = None
        self._get = get or (lambda p, t: gw.get(p, timeout=t))
        self.thread = threading.Thread(target=self._run, daemon=True, name="inflight")

    def _run(self):
        try:
            self.status, self.body = self._get(self.path, self.timeout)
        except Exception as e:  # a transport error is this request's outcome
            self.error = "{}: {}".format(type(e).__name__, e)
        self.t_end = time.monotonic()

    def start(self, log, since_line):
        self.thread.start()
        m = log.wait_log(r"app: slow request \([0-9.]+ s\) started in pid (\d+)", 10,
                         since=since_line, wrapper_only=False)
        return int(m.group(1))

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "in-flight request still running after {:g} s".format(
            timeout)
        return self

    def ok_version(self):
        parsed = parse_body(self.body or "") if self.status == 200 else None
        return parsed[0] if parsed else None


# --------------------------------------------------------------------------
# HTTP over a Unix socket

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


def unix_http_get(path, url="/", timeout=5.0):
    conn = UnixHTTPConnection(str(path), timeout)
    try:
        conn.request("GET", url, headers={"Connection": "close", "Host": "localhost"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


class UnixLoadGenerator(helpers.LoadGenerator):
    """helpers.LoadGenerator, each request over AF_UNIX to `sock_path`."""

    def __init__(self, sock_path, **kw):
        super().__init__(port=None, **kw)
        self.sock_path = str(sock_path)

    def _get(self):
        return unix_http_get(self.sock_path, self.path, self.timeout)


# --------------------------------------------------------------------------
# the "truth" checks

def status_of(gw, name="app", timeout=5.0):
    st = ch.status(ch.sock_path(gw, name), timeout=timeout)
    ch.assert_status_types(st)
    return st


def wait_idle_status(gw, timeout=15.0):
    """Poll status until no reload runs or is queued; returns it."""
    last = {}

    def idle():
        try:
            st = status_of(gw)
        except (OSError, ch.Closed, TimeoutError):
            return None
        last["st"] = st
        if st["state"] == "running" and st["reload_state"] == "idle" \
                and not st["reload_pending"]:
            return st
        return None
    return wait_for(idle, timeout, "state running, no reload running or queued", interval=0.1,
                    on_timeout=lambda: "last status: {!r}".format(last.get("st")))


def pidfile_pid(gw, name="app"):
    try:
        raw = (gw.run_dir / "{}.pid".format(name)).read_text().strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None


def assert_truth(gw, master=None, entry=None, pidfile=True, timeout=15.0):
    """The status reply tells the truth: state running, no reload running or
    queued, `master` is the one live gunicorn master (counting nested new
    masters), the status workers are exactly its workers, the pidfile names
    it (if pidfile), and the last history entry has the fields in `entry`.
    Returns (status, master)."""
    master = wait_single_master(gw, master, timeout)
    st = wait_idle_status(gw, timeout)
    assert st["master"] == master, "status master {} but the live master is {}\n{!r}".format(
        st["master"], master, st)
    workers = ch.proc_children_file(master)
    assert sorted(st["workers"]) == workers, "status workers {} but master {} has {}".format(
        st["workers"], master, workers)
    if pidfile:
        wait_for(lambda: pidfile_pid(gw) == master, 5,
                 "the pidfile to name master {} (it names {})".format(master, pidfile_pid(gw)))
    if entry:
        assert st["history"], "empty history, expected {!r}".format(entry)
        last = st["history"][-1]
        for key, want in entry.items():
            got = last.get(key)
            if isinstance(want, re.Pattern):
                ok = isinstance(got, str) and want.search(got)
            elif callable(want):
                ok = want(got)
            else:
                ok = got == want
            assert ok, "history entry {}: {!r} is {!r}, expected {!r}\nentry: {!r}".format(
                last.get("id"), key, got, want, last)
    return st, master


def next_reload_ok(gw, log, signal_fn, version, load=None, timeout=25.0, master_check=True):
    """Deploy `version`, request a reload (signal_fn()), wait for its
    outcome, check it is ok, the new master serves `version` and is the
    only master left; returns (reload id, new master)."""
    gw.set_version(version)
    mark = log.mark()
    signal_fn()
    n = int(log.wait_log(r"^reload (\d+): (requested|starting)", 10, since=mark).group(1))
    m = log.wait_log(r"^reload {} (ok|failed)".format(n), timeout, since=mark)
    assert m.group(1) == "ok", "follow-up reload {} failed:\n{}".format(n, log.tail())
    new = int(log.wait_log(helpers.RELOAD_OK.format(n), 1, since=mark).group(2))
    if load is not None:
        load.wait_version(version, timeout=10)
    else:
        gw.wait_serving(version=version, timeout=10, master=new)
    if master_check:
        wait_single_master(gw, new, 15)
    return n, new


def assert_no_failures(load, t_ref=None, what="the fault"):
    """load.assert_no_failures(), saying when the failures were (relative to
    t_ref, a monotonic time such as the fault's) and of what kinds."""
    fails = load.failures
    if fails and t_ref is not None:
        kinds = sorted({f.kind.split(":")[0] for f in fails})
        raise AssertionError(
            "{} of {} requests failed, from {:+.2f} s to {:+.2f} s after {} ({}): {}".format(
                len(fails), len(load.results), fails[0].start - t_ref, fails[-1].end - t_ref,
                what, ", ".join(kinds), load.summary()))
    load.assert_no_failures()
