# SPDX-License-Identifier: MIT
"""Shared machinery for the gunicorn-wrapper integration tests.

Why this file exists: the tests drive the real daemon against real gunicorn,
real supervisord and real HTTP, so they need a small toolkit that is
*bounded* (every wait has a deadline, every loop a cap) and *tidy* (every
process a test starts can be found again and killed by PID, including
gunicorn masters that were re-parented to PID 1).  conftest.py turns these
classes into fixtures; test files import the helpers they need directly.

Contents:
  * /proc helpers: process state, children, descendants, start times.  A
    test's processes are found by kernel facts only, never by their names
    or environment (setproctitle rewrites both): the pytest process is a
    child subreaper (PR_SET_CHILD_SUBREAPER), so everything a test starts,
    and everything re-parented when its parent dies, stays in pytest's
    process tree; a process belongs to the test that was running when it
    started (its start time), and gunicorn's are the ones running the
    Python interpreter gunicorn's script names, apart from the ones the
    harness started itself (supervisord);
  * setproctitle modes: "titles" (setproctitle as installed, plus the
    directory GW_IT_SETPROCTITLE_PATH names) and "notitles" (a PYTHONPATH
    shim whose setproctitle raises ImportError);
  * LogFile: parses the wrapper's stderr log and waits for a regex;
  * Wrapper: runs gunicorn-wrapper directly (subprocess.Popen);
  * Supervisor: runs supervisord with one [program:app] using the wrapper;
  * LoadGenerator: N client threads doing new-connection HTTP GETs.

Note on zombies: orphans re-parent to pytest, which reaps those that are
not its own Popen children (reap_orphans()); everything here treats a
zombie ('Z'/'X' state) as gone.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import procfs  # noqa: E402
from procfs import (CLK_TCK, all_pids, arg_start, become_subreaper, children,  # noqa: E402,F401
                    cmdline, descendants, environ_has, exe, is_alive, now_ticks,
                    ppid_of, proc_stat, raw_children, starttime)

GW_BIN = os.environ.get("GW_BIN", "/work/main/gunicorn-wrapper")
GUNICORN = "/usr/bin/gunicorn"

# Every file of contrib/ an operator copies, as `make install` and the
# Debian package put it under DOCDIR/examples/ (the same path below
# contrib/): test_contrib.py and test_package.py check both.
CONTRIB_EXAMPLES = ("systemd/gunicorn-wrapper@.service",
                    "systemd/gunicorn-wrapper-notify-reload@.service",
                    "systemd/gunicorn-wrapper.default",
                    "systemd/gunicorn-wrapper-metrics.service",
                    "systemd/gunicorn-wrapper-metrics.timer",
                    "supervisor/app.conf",
                    "consul-template/README.md",
                    "consul-template/app.hcl",
                    "consul-template/version.txt.ctmpl",
                    "ansible/README.md",
                    "ansible/deploy.yml",
                    "ansible/inventory.example",
                    "ansible/roles/gunicorn_wrapper/defaults/main.yml",
                    "ansible/roles/gunicorn_wrapper/library/gwctl_deploy.py",
                    "ansible/roles/gunicorn_wrapper/meta/argument_specs.yml",
                    "ansible/roles/gunicorn_wrapper/meta/main.yml",
                    "ansible/roles/gunicorn_wrapper/tasks/main.yml",
                    "ansible/roles/gunicorn_wrapper/tasks/transfer-copy.yml",
                    "ansible/roles/gunicorn_wrapper/tasks/transfer-synchronize.yml")
PYTHON = "/usr/bin/python3"
SUPERVISORD = "/usr/bin/supervisord"
SUPERVISORCTL = "/usr/bin/supervisorctl"
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example"

# Environment variable set on every process a test starts; inherited by the
# wrapper, supervisord, gunicorn masters (also across USR2 re-exec) and workers.
MARK_ENV = "GW_IT_MARK"

POLL = 0.05  # seconds between polls of a file or /proc

# One wrapper log line: [YYYY-MM-DD HH:MM:SS+00:00] [gunicorn-wrapper] [NAME] [LEVEL] MESSAGE
# (the offset is the local one; +00:00 on the test machines, which run in UTC)
WRAPPER_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d)\] \[gunicorn-wrapper\] \[([^\]]*)\] "
    r"(?:\[(?:DEBUG|INFO|NOTICE|WARNING|ERROR)\] )?(.*)$")

BODY_RE = re.compile(r"^version=(\S+) pid=(\d+)$")


def require_binary():
    """Fail (never skip) when the wrapper binary has not been built."""
    if not (os.path.isfile(GW_BIN) and os.access(GW_BIN, os.X_OK)):
        import pytest
        pytest.fail("gunicorn-wrapper binary not found or not executable at {!r}: "
                    "run `make` in /work/main (or set GW_BIN)".format(GW_BIN), pytrace=False)


# --------------------------------------------------------------------------
# bounded waiting

def wait_for(predicate, timeout, what="condition", interval=POLL, on_timeout=None):
    """Poll predicate() until it returns something truthy or the deadline passes.

    Returns the truthy value.  On timeout raises AssertionError naming `what`
    (plus on_timeout() output if given, e.g. a log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = ""
            if on_timeout is not None:
                extra = "\n" + str(on_timeout())
            raise AssertionError("timed out after {:g} s waiting for {}{}".format(timeout, what, extra))
        time.sleep(interval)


# --------------------------------------------------------------------------
# /proc helpers: the readers are tests/lib/procfs.py, shared with the bench

def _read(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None


def _own_lineage():
    """This pytest process and its ancestors (never to be killed)."""
    pids, pid = set(), os.getpid()
    for _ in range(64):
        if not pid or pid in pids:
            break
        pids.add(pid)
        pid = ppid_of(pid)
    return pids


def _interpreter(script):
    """The real path of the interpreter a #! script names."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        found = shutil.which(words[1])
        return os.path.realpath(found) if found else None
    return os.path.realpath(words[0]) if words else None


# Every gunicorn process (master, worker, new master) runs this executable.
GUNICORN_EXE = _interpreter(GUNICORN)


_popen_pids = set()  # our Popen children: subprocess reaps those itself


def reap_orphans():
    """Reap zombies re-parented to us that no Popen object will wait for."""
    me = os.getpid()
    for pid in raw_children(me):
        st = proc_stat(pid)
        if st and st[0] in ("Z", "X") and pid not in _popen_pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def tree_pids(since=None):
    """Live descendants of this (pytest) process, started at or after the
    tick `since` if given: what the tests started, orphans included."""
    reap_orphans()
    out = descendants(os.getpid())
    if since is not None:
        out = [p for p in out if (starttime(p) or 0) >= since]
    return out


def is_gunicorn(pid):
    """A gunicorn process (master, worker, new master): it runs gunicorn's
    interpreter (a kernel fact, /proc/PID/exe; its title may say anything).
    Callers exclude the other Python processes they started themselves."""
    return GUNICORN_EXE is not None and exe(pid) == GUNICORN_EXE


def describe(pids):
    lines = []
    for pid in pids:
        st = proc_stat(pid)
        lines.append("  pid {} ppid {} state {}: {}".format(
            pid, st[1] if st else "?", st[0] if st else "gone", " ".join(cmdline(pid))[:200]))
    return "\n".join(lines) or "  (none)"


def kill_pids(pids, sig=signal.SIGKILL, starts=None):
    """Signal each pid; with starts ({pid: start time}), only if the pid
    still names the process that was seen (not a reused PID)."""
    for pid in pids:
        if starts is not None and starttime(pid) != starts.get(pid):
            continue
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# HTTP

def http_get(port, path="/", timeout=5.0):
    """One GET on a fresh connection. Returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def parse_body(body):
    """(version, worker pid) from the example app's body, or None."""
    m = BODY_RE.match(body.strip())
    return (m.group(1), int(m.group(2))) if m else None


# --------------------------------------------------------------------------
# log parsing

class LogFile:
    """A log file written by a wrapper (its stderr+stdout, with gunicorn's
    output interleaved).  `exit_status` is a callable returning None while
    the producing process (`who`) runs, else its exit status."""

    def __init__(self, path, exit_status=None, who="wrapper"):
        self.path = Path(path)
        self._exit_status = exit_status or (lambda: None)
        self.who = who
        self.last_index = None

    def text(self):
        raw = _read(self.path)
        return raw.decode(errors="replace") if raw else ""

    def lines(self, complete_only=True):
        text = self.text()
        if complete_only and not text.endswith("\n"):
            text = text.rpartition("\n")[0]  # ignore a line still being written
        return text.splitlines()

    def entries(self, complete_only=True):
        """Wrapper lines as (timestamp, name, message) tuples."""
        out = []
        for line in self.lines(complete_only):
            m = WRAPPER_LINE.match(line)
            if m:
                out.append(m.groups())
        return out

    def messages(self, complete_only=True):
        """MESSAGE parts of the wrapper's own lines, in order."""
        return [e[2] for e in self.entries(complete_only)]

    def mark(self, wrapper_only=True):
        """Index to pass as `since` to only look at lines written from now on."""
        return len(self.messages() if wrapper_only else self.lines())

    def tail(self, n=60):
        return "\n".join(self.lines(complete_only=False)[-n:])

    def find(self, pattern, since=0, wrapper_only=True):
        """First match of pattern at or after index `since`, or None (no waiting)."""
        rx = re.compile(pattern)
        seq = self.messages(False) if wrapper_only else self.lines(False)
        for i in range(since, len(seq)):
            m = rx.search(seq[i])
            if m:
                self.last_index = i
                return m
        return None

    def find_all(self, pattern, wrapper_only=True):
        rx = re.compile(pattern)
        seq = self.messages(False) if wrapper_only else self.lines(False)
        return [m for m in (rx.search(s) for s in seq) if m]

    def wait_log(self, pattern, timeout=10.0, since=0, wrapper_only=True, poll=None):
        """Wait (polling every 50 ms, or `poll` s, at most `timeout` s) for a line matching
        `pattern` (re.search on the MESSAGE part of wrapper lines, or on raw
        lines if wrapper_only=False).  Returns the re.Match; its line index is
        left in self.last_index.  Fails with the log tail, and says so if the
        producing process exited without logging it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            status = self._exit_status()  # sampled before reading: final read is complete
            seq = self.messages(status is None) if wrapper_only else self.lines(status is None)
            for i in range(since, len(seq)):
                m = rx.search(seq[i])
                if m:
                    self.last_index = i
                    return m
            if status is not None:
                raise AssertionError(
                    "{} exited with status {} without logging /{}/\n--- {} (tail) ---\n{}".format(
                        self.who, status, pattern, self.path, self.tail()))
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "timed out after {:g} s waiting for /{}/ in {} ({} still running)\n"
                    "--- log tail ---\n{}".format(timeout, pattern, self.path, self.who, self.tail()))
            time.sleep(POLL if poll is None else poll)

    def assert_quiet(self, pattern, seconds, since=0, wrapper_only=True):
        """Negative check: pattern must NOT appear during the next `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self.find(pattern, since, wrapper_only)
            assert m is None, "unexpected log line /{}/: {!r}\n--- log tail ---\n{}".format(
                pattern, m.string, self.tail())
            time.sleep(POLL)


# --------------------------------------------------------------------------
# processes under test

class Wrapper:
    """gunicorn-wrapper run directly by the test (no supervisord).

    Default command line:
      GW_BIN --name NAME --run-dir RUN --gunicorn /usr/bin/gunicorn
             --warmup W --stop-timeout T [extra_wrapper] --
             -w N -b 127.0.0.1:PORT --chdir APPDIR --graceful-timeout G
             [extra_gunicorn] app:app
    With dropin=True the wrapper options are passed as GW_* env vars and
    the command line holds only gunicorn args (no `--`)."""

    def __init__(self, env, name="app", workers=2, warmup=30, stop_timeout=20,
                 graceful_timeout=10, extra_wrapper=(), extra_gunicorn=(), app="app:app",
                 app_env=None, dropin=False, log_name="wrapper.log", argv=None, extra_env=None):
        self.env = env
        self.name = name
        if argv is None:
            gargs = []
            if workers:
                gargs += ["-w", str(workers)]
            gargs += ["-b", "127.0.0.1:{}".format(env.port), "--chdir", str(env.app_dir)]
            if graceful_timeout is not None:
                gargs += ["--graceful-timeout", str(graceful_timeout)]
            gargs += list(extra_gunicorn) + [app]
            settings = {"name": name, "run-dir": str(env.run_dir), "gunicorn": GUNICORN,
                        "warmup": str(warmup), "stop-timeout": str(stop_timeout)}
            if dropin:
                argv = [GW_BIN] + gargs
                extra_env = dict(extra_env or {})
                for key, value in settings.items():
                    extra_env["GW_" + key.upper().replace("-", "_")] = value
            else:
                argv = [GW_BIN]
                for key, value in settings.items():
                    argv += ["--" + key, value]
                argv += list(extra_wrapper) + ["--"] + gargs
        self.argv = argv
        self.proc_env = env.base_env(dict(app_env or {}, **(extra_env or {})))
        self.log_path = env.tmp / log_name
        self.cwd = env.tmp
        self.proc = None
        self.log = LogFile(self.log_path, exit_status=self.poll, who="wrapper")

    def start(self):
        require_binary()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.proc_env,
                                         cwd=str(self.cwd), start_new_session=True)
        self.env.track(self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def poll(self):
        return None if self.proc is None else self.proc.poll()

    def wait_log(self, pattern, timeout=10.0, since=0, wrapper_only=True):
        return self.log.wait_log(pattern, timeout, since, wrapper_only)

    def messages(self):
        return self.log.messages(complete_only=False)

    def text(self):
        return self.log.text()

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=30.0):
        """Wait for the wrapper to exit; returns its returncode (-N if killed by N)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("wrapper pid {} did not exit within {:g} s\n--- log tail ---\n{}"
                                 .format(self.proc.pid, timeout, self.log.tail())) from None

    def wait_ready(self, timeout=30.0, since=0):
        """Wait for `master PID ready: K workers`; returns (pid, workers)."""
        m = self.wait_log(r"^master (\d+) ready: (\d+) workers", timeout, since)
        return int(m.group(1)), int(m.group(2))

    def master_pid(self):
        """Current master according to the log (started / adopted / last reload ok)."""
        return current_master(self.messages())


def current_master(messages):
    cur = None
    for msg in messages:
        m = (re.match(r"started gunicorn master (\d+)", msg)
             or re.match(r"adopted gunicorn master (\d+)", msg)
             or re.match(r"reload \d+ ok: master \d+ -> (\d+)", msg))
        if m:
            cur = int(m.group(1))
    return cur


def supervisord_head(sock, tmp):
    """The [supervisord], control socket and supervisorctl sections of a
    private supervisord: socket, log, pidfile and child logs in tmp."""
    def esc(s):  # supervisor expands %(...)s in values
        return str(s).replace("%", "%%")
    return """\
; written by tests/integration/helpers.py
[unix_http_server]
file={sock}
chmod=0700

[supervisord]
nodaemon=true
logfile={t}/supervisord.log
pidfile={t}/supervisord.pid
childlogdir={t}/childlogs
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

""".format(sock=esc(sock), t=esc(tmp))


class Supervisor:
    """supervisord (nodaemon) with one [program:app] running the wrapper.

    dropin=True: command= holds only gunicorn args and the wrapper settings
    come from environment= (GW_GUNICORN, GW_RUN_DIR, ...); the name then
    defaults to SUPERVISOR_PROCESS_NAME ("app").  Otherwise the command is
    `gunicorn-wrapper --run-dir ... -- gunicorn args`.  user= runs the
    program as that user (supervisord's own user=), in directory= (default:
    the test's tmp, which only root can enter)."""

    PROGRAM = "app"

    def __init__(self, env, dropin=False, workers=2, warmup=30, stop_timeout=20,
                 graceful_timeout=10, stopwaitsecs=40, extra_gunicorn=(), app_env=None,
                 command=None, user=None, directory=None):
        self.env = env
        self.custom_command = command is not None
        self.conf = env.tmp / "supervisord.conf"
        # Unix socket paths are limited to ~107 bytes; pytest tmp paths can be
        # longer, so the socket lives in a short private dir under /tmp.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="gwsv-", dir="/tmp"))
        env.add_cleanup(lambda: shutil.rmtree(self.sock_dir, ignore_errors=True))
        self.sock = self.sock_dir / "sv.sock"
        self.log_path = env.tmp / "app.log"
        self.sv_out = env.tmp / "supervisord.out"
        self.proc = None
        self.log = LogFile(self.log_path, exit_status=self.poll, who="supervisord")

        gargs = ["-w", str(workers), "-b", "127.0.0.1:{}".format(env.port),
                 "--chdir", str(env.app_dir), "--graceful-timeout", str(graceful_timeout)]
        gargs += list(extra_gunicorn) + ["app:app"]
        program_env = dict(app_env or {})
        settings = {"run-dir": str(env.run_dir), "gunicorn": GUNICORN,
                    "warmup": str(warmup), "stop-timeout": str(stop_timeout)}
        if command is not None:  # harness self-test: e.g. plain gunicorn
            command = list(command)
        elif dropin:
            command = [GW_BIN] + gargs
            for key, value in settings.items():
                program_env["GW_" + key.upper().replace("-", "_")] = value
        else:
            command = [GW_BIN]
            for key, value in settings.items():
                command += ["--" + key, value]
            command += ["--"] + gargs

        def esc(s):  # supervisor expands %(...)s in values
            return str(s).replace("%", "%%")

        env_line = ",".join('{}="{}"'.format(k, esc(v)) for k, v in program_env.items())
        t = env.tmp
        self.conf.write_text(supervisord_head(self.sock, t) + """\
[program:{prog}]
command={command}
directory={directory}
{envline}
{userline}
autostart=true
autorestart=true
startsecs=1
startretries=5
stopsignal=TERM
stopwaitsecs={stopwait}
stopasgroup=false
killasgroup=false
redirect_stderr=true
stdout_logfile={log}
stdout_logfile_maxbytes=0
""".format(t=esc(t), prog=self.PROGRAM,
           command=" ".join(esc(a) for a in command),
           envline=("environment=" + env_line) if env_line else "",
           directory=esc(directory or t),
           userline="user=" + user if user else "",
           stopwait=stopwaitsecs, log=esc(self.log_path)))
        (t / "childlogs").mkdir(exist_ok=True)
        self.stopwaitsecs = stopwaitsecs

    def start(self, timeout=20.0):
        if not self.custom_command:
            require_binary()
        with open(self.sv_out, "ab") as out:
            self.proc = subprocess.Popen([SUPERVISORD, "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.env.base_env(),
                                         cwd=str(self.env.tmp), start_new_session=True)
        self.env.track(self.proc, gunicorn=False)

        def answering():
            if self.proc.poll() is not None:
                raise AssertionError("supervisord exited with {}:\n{}".format(
                    self.proc.returncode, _read(self.sv_out, "r")))
            r = self.ctl("pid", timeout=5)
            return r.returncode == 0 and r.stdout.strip().isdigit()
        wait_for(answering, timeout, "supervisord to answer on its socket",
                 on_timeout=lambda: _read(self.sv_out, "r"))
        return self

    def poll(self):
        return None if self.proc is None else self.proc.poll()

    def ctl(self, *args, timeout=None):
        """Run supervisorctl -c CONF ARGS (bounded); returns CompletedProcess."""
        if timeout is None:
            timeout = self.stopwaitsecs + 20
        return subprocess.run([SUPERVISORCTL, "-c", str(self.conf)] + list(args),
                              capture_output=True, text=True, timeout=timeout,
                              env=self.env.base_env(), stdin=subprocess.DEVNULL)

    def program_pid(self):
        """PID of the wrapper as supervisord sees it (0 when not running)."""
        r = self.ctl("pid", self.PROGRAM, timeout=10)
        out = r.stdout.strip()
        return int(out) if out.isdigit() else 0

    def state(self):
        r = self.ctl("status", self.PROGRAM, timeout=10)
        parts = r.stdout.split()
        return parts[1] if len(parts) > 1 else "UNKNOWN"

    def wait_state(self, state, timeout=20.0):
        wait_for(lambda: self.state() == state, timeout,
                 "program state {}".format(state),
                 on_timeout=lambda: "state now: {}\n--- app.log tail ---\n{}".format(
                     self.state(), self.log.tail()))

    def wait_log(self, pattern, timeout=10.0, since=0, wrapper_only=True):
        return self.log.wait_log(pattern, timeout, since, wrapper_only)

    def shutdown(self, timeout=None):
        """supervisorctl shutdown and wait for supervisord to exit; returns its code."""
        if timeout is None:
            timeout = self.stopwaitsecs + 20
        self.ctl("shutdown", timeout=timeout)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("supervisord did not exit within {:g} s".format(timeout)) from None


# --------------------------------------------------------------------------
# HTTP load

@dataclass
class Outcome:
    start: float          # monotonic time the request started
    end: float            # monotonic time it finished
    kind: str             # "ok" or an error description
    version: Optional[str]
    pid: Optional[int]

    @property
    def ok(self):
        return self.kind == "ok"


class LoadGenerator:
    """`clients` threads, each looping: new connection, GET path, record outcome.

    Bounded: each request has a socket timeout; the whole run stops on its
    own after max_duration seconds (then `capped` is set and the test should
    fail, since it means a stop() was missed)."""

    def __init__(self, port, clients=4, path="/", timeout=5.0, pause=0.01, max_duration=120.0):
        self.port, self.clients, self.path = port, clients, path
        self.timeout, self.pause, self.max_duration = timeout, pause, max_duration
        self._lock = threading.Lock()
        self._results = []
        self._stop = threading.Event()
        self._threads = []
        self.capped = False
        self.t0 = None

    def start(self):
        assert not self._threads, "already started"
        self.t0 = time.monotonic()
        self._deadline = self.t0 + self.max_duration
        for i in range(self.clients):
            th = threading.Thread(target=self._run, name="load-{}".format(i), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def _get(self):
        """One request on a new connection: (status, body).  Subclasses
        change the transport (fault_helpers: HTTP over a Unix socket)."""
        return http_get(self.port, self.path, self.timeout)

    def _run(self):
        while not self._stop.is_set():
            if time.monotonic() >= self._deadline:
                self.capped = True
                return
            t0 = time.monotonic()
            version = pid = None
            try:
                status, body = self._get()
                parsed = parse_body(body)
                if status != 200:
                    kind = "http {}".format(status)
                elif parsed is None:
                    kind = "bad body {!r}".format(body[:80])
                else:
                    kind = "ok"
                    version, pid = parsed
            except Exception as e:  # any transport error is a failed request
                kind = "{}: {}".format(type(e).__name__, e)
            with self._lock:
                self._results.append(Outcome(t0, time.monotonic(), kind, version, pid))
            self._stop.wait(self.pause)

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(self.timeout + 5)
        alive = [th.name for th in self._threads if th.is_alive()]
        assert not alive, "load threads did not stop: {}".format(alive)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- results
    @property
    def results(self):
        with self._lock:
            return list(self._results)

    @property
    def failures(self):
        return [r for r in self.results if not r.ok]

    def versions(self):
        return Counter(r.version for r in self.results if r.ok)

    def summary(self):
        res = self.results
        fails = [r for r in res if not r.ok]
        return "{} requests, {} failed, versions {}{}".format(
            len(res), len(fails), dict(self.versions()),
            "".join("\n  t={:.2f}s {}".format(r.start - self.t0, r.kind) for r in fails[:10]))

    def assert_no_failures(self):
        assert not self.capped, "load generator hit its {} s cap".format(self.max_duration)
        assert self.results, "load generator made no requests"
        assert not self.failures, "failed requests: " + self.summary()

    def _check_running(self):
        assert not self.capped, "load generator hit its cap"
        assert all(th.is_alive() for th in self._threads), "load threads died"

    def wait_version(self, version, timeout=10.0, streak=10):
        """Wait until the last `streak` completed requests all answered `version`."""
        def served():
            self._check_running()
            tail = self.results[-streak:]
            return len(tail) == streak and all(r.ok and r.version == version for r in tail)
        wait_for(served, timeout, "version {} to be served ({} in a row)".format(version, streak),
                 on_timeout=self.summary)

    def wait_more(self, n, timeout=10.0):
        """Wait until n more requests completed; returns those outcomes."""
        base = len(self.results)

        def enough():
            self._check_running()
            return len(self.results) >= base + n
        wait_for(enough, timeout, "{} more requests".format(n), on_timeout=self.summary)
        return self.results[base:]


# --------------------------------------------------------------------------
# per-test environment

class GwEnv:
    """Everything one test owns: tmp dir, run dir, app copy, port, and the
    processes it started.  cleanup() kills them all by PID."""

    def __init__(self, tmp_path, titles=None):
        self.t0 = now_ticks()  # everything this test starts starts after it
        self.titles = titles    # None, "titles" or "notitles" (setproctitle_env)
        self.tmp = Path(tmp_path)
        self.mark = str(self.tmp)
        self.run_dir = self.tmp / "run"
        self.run_dir.mkdir()
        self.app_dir = self.tmp / "app"
        shutil.copytree(EXAMPLE_DIR, self.app_dir,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.port = free_port()
        self._popens = []
        self._known = set()
        self._others = {}  # {pid: start}: Python processes that are not gunicorn
        self._loads = []
        self._cleanups = []

    # --- construction helpers
    def base_env(self, extra=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GW_", "SUPERVISOR_", "APP_", "GUNICORN_"))}
        env[MARK_ENV] = self.mark  # a label for humans reading ps; never used to find
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["GW_LOG_LEVEL"] = "debug"  # tests wait on state transitions
        # Probation (default 5 s) is exercised, shorter, by every reload;
        # the tests of probation itself set their own.
        env["GW_PROBATION"] = "1"
        env.update(setproctitle_env(self.titles, env.get("PYTHONPATH")))
        env.update(extra or {})
        return env

    def wrapper(self, start=True, **kw):
        w = Wrapper(self, **kw)
        return w.start() if start else w

    def supervisor(self, start=True, **kw):
        s = Supervisor(self, **kw)
        return s.start() if start else s

    def load(self, **kw):
        lg = LoadGenerator(self.port, **kw)
        self._loads.append(lg)
        return lg

    def track(self, popen, gunicorn=None):
        """Remember a process the test started, for cleanup.  gunicorn=False
        says it is not gunicorn although it may run the same interpreter
        (supervisord, a fake); None lets /proc/PID/exe decide."""
        self._popens.append(popen)
        self._known.add(popen.pid)
        _popen_pids.add(popen.pid)
        if gunicorn is False:
            self._others[popen.pid] = starttime(popen.pid)

    def add_cleanup(self, fn):
        self._cleanups.append(fn)

    def set_version(self, text):
        """Atomically rewrite app/version.txt (the 'deploy')."""
        tmp = self.app_dir / ".version.tmp"
        tmp.write_text(text + "\n")
        os.replace(tmp, self.app_dir / "version.txt")

    # --- HTTP
    def get(self, path="/", timeout=5.0):
        return http_get(self.port, path, timeout)

    def wait_serving(self, version=None, timeout=20.0, master=None):
        """Poll GET / until it answers (with `version`, and from a worker whose
        parent is `master`, if given). Returns (version, worker pid)."""
        def ok():
            try:
                status, body = self.get(timeout=2)
            except OSError:
                return None
            parsed = parse_body(body) if status == 200 else None
            if not parsed:
                return None
            if version is not None and parsed[0] != version:
                return None
            if master is not None and ppid_of(parsed[1]) != master:
                return None
            return parsed
        return wait_for(ok, timeout, "HTTP 200 on port {} (version={}, master={})".format(
            self.port, version, master), interval=0.1)

    # --- processes
    def procs(self):
        """This test's live processes: pytest's descendants (orphans come
        back to it, the subreaper) that started after the test began."""
        pids = tree_pids(self.t0)
        self._known.update(pids)
        return pids

    def gunicorn_procs(self):
        """{pid: ppid} of this test's live gunicorn processes."""
        out = {}
        for pid in self.procs():
            if self._others.get(pid, -1) == starttime(pid) or not is_gunicorn(pid):
                continue
            pp = ppid_of(pid)
            if pp is not None:
                out[pid] = pp
        return out

    def masters(self):
        """Gunicorn processes whose parent is not gunicorn (outside a reload
        exactly the serving master; during a reload the new master is a
        child of the old one and is not listed)."""
        g = self.gunicorn_procs()
        return sorted(p for p, pp in g.items() if pp not in g)

    def wait_no_gunicorn(self, timeout=10.0):
        wait_for(lambda: not self.gunicorn_procs(), timeout, "all gunicorn processes to exit",
                 on_timeout=lambda: describe(self.gunicorn_procs()))

    def wait_gone(self, pids, timeout=10.0, what="processes to exit"):
        wait_for(lambda: not [p for p in pids if is_alive(p)], timeout, what,
                 on_timeout=lambda: describe([p for p in pids if is_alive(p)]))

    def cleanup(self):
        """Stop load threads, SIGKILL every process this test started (its
        part of pytest's tree, by PID and start time), reap, run registered
        cleanups.  Returns what is still alive."""
        for lg in self._loads:
            lg._stop.set()
        for _ in range(50):  # bounded: re-scan for anything forked meanwhile
            victims = {p: starttime(p) for p in self.procs()}
            for pid in list(self._known):
                if is_alive(pid) and (starttime(pid) or 0) >= self.t0:
                    victims[pid] = starttime(pid)
            if not victims:
                break
            kill_pids(victims, starts=victims)
            time.sleep(POLL)
        for p in self._popens:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        reap_orphans()
        for lg in self._loads:
            for th in lg._threads:
                th.join(lg.timeout + 2)
        for fn in self._cleanups:
            fn()
        return self.procs()


_SHIM_DIR = None


def setproctitle_env(titles, pythonpath):
    """Environment for a setproctitle mode: {} (as installed), "titles"
    (also the directory GW_IT_SETPROCTITLE_PATH, where a private copy of
    python3-setproctitle may live) or "notitles" (a shim first on
    PYTHONPATH whose setproctitle raises ImportError, as if not installed)."""
    global _SHIM_DIR
    if titles is None:
        return {}
    if titles == "notitles":
        if _SHIM_DIR is None:
            _SHIM_DIR = tempfile.mkdtemp(prefix="gw-nospt-")
            with open(os.path.join(_SHIM_DIR, "setproctitle.py"), "w") as f:
                f.write('raise ImportError("setproctitle hidden by the test harness")\n')
        first = _SHIM_DIR
    else:
        first = os.environ.get("GW_IT_SETPROCTITLE_PATH", "")
    if not first:
        return {}
    return {"PYTHONPATH": first + (":" + pythonpath if pythonpath else "")}


def setproctitle_active():
    """True if gunicorn would rename its processes in the "titles" mode."""
    env = dict(os.environ)
    env.update(setproctitle_env("titles", env.get("PYTHONPATH")))
    r = subprocess.run([GUNICORN_EXE or PYTHON, "-c", "import setproctitle"], env=env,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return r.returncode == 0


def new_master_of(old):
    """During a reload: the new gunicorn master forked by `old` (procfs)."""
    return procfs.new_master_of(old, is_gunicorn)


RELOAD_OK = r"^reload {} ok: master (\d+) -> (\d+) in ([0-9.]+) s"
