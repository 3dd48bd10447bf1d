# SPDX-License-Identifier: MIT
"""Helpers for the control-socket and gwctl tests (test_control.py).

Why this file exists: test_control.py checks the control protocol twice,
once through the real `gwctl` binary and once through a second, independent
implementation of the wire format written here with python3-msgpack (raw
AF_UNIX socket, msgpack.Packer / streaming msgpack.Unpacker).  A bug shared
by the daemon and gwctl (both use common/proto.c) cannot hide from the
second implementation.  Also here: a bounded gwctl runner, type checks for
the status reply and history entries, running a client as another user
(`nobody`), world-traversable run directories and stale socket files.

Everything is bounded: every socket operation has a deadline, every
subprocess a timeout.  Nothing here kills processes; the `gw` fixture of
conftest.py does that, by PID, at teardown.
"""

import json
import math
import re
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import msgpack

import helpers

GWCTL_BIN = os.environ.get("GWCTL_BIN", "/work/main/gwctl")

STATES = ("starting", "running", "reloading", "stopping")
READY_MODES = ("heartbeat", "timer")
TRIGGERS = ("signal", "control")
RESULTS = ("running", "ok", "failed")
HISTORY_MAX = 50
IDLE_TIMEOUT = 10.0   # seconds a client may sit mid-request
MAX_CLIENTS = 64
MAX_MESSAGE = 64 * 1024


def require_gwctl():
    """Fail (never skip) when gwctl has not been built."""
    if not (os.path.isfile(GWCTL_BIN) and os.access(GWCTL_BIN, os.X_OK)):
        import pytest
        pytest.fail("gwctl binary not found or not executable at {!r}: run `make` in "
                    "/work/main (or set GWCTL_BIN)".format(GWCTL_BIN), pytrace=False)


def sock_path(gw, name="app"):
    return Path(gw.run_dir) / "{}.sock".format(name)


def pidfile_master(gw, name="app"):
    raw = (Path(gw.run_dir) / "{}.pid".format(name)).read_text().strip()
    return int(raw)


def proc_children_file(pid):
    """Children of pid exactly as /proc/PID/task/PID/children lists them
    (live, non-zombie ones), sorted."""
    try:
        with open("/proc/{0}/task/{0}/children".format(pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return []
    return sorted(k for k in kids if helpers.is_alive(k))


# --------------------------------------------------------------------------
# the second implementation of the protocol

def connect_unix(sock, path, timeout):
    """connect() with a deadline.  A socket with a timeout is non-blocking
    inside Python, and on Linux a non-blocking AF_UNIX connect() fails with
    EAGAIN while the listener's backlog is full (a blocking one, like
    gwctl's, waits); retry that until the deadline."""
    deadline = time.monotonic() + timeout
    for _ in range(100000):
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("connect to {}: backlog full for {:g} s".format(
                    path, timeout)) from None
            time.sleep(0.005)
    raise TimeoutError("connect to {}: too many retries".format(path))


class Closed(Exception):
    """The daemon closed the connection (EOF or reset) before a whole reply."""


class ControlClient:
    """One connection to a control socket, speaking msgpack by hand.

    send(obj) packs one request; send_raw(bytes) sends anything; recv()
    returns the next reply (a decoded object), raising Closed on EOF/reset
    and TimeoutError after `timeout` seconds."""

    def __init__(self, path, timeout=5.0, connect=True):
        self.path = str(path)
        self.timeout = timeout
        self.packer = msgpack.Packer(use_bin_type=True)
        # strict_map_key=False: report a daemon's non-string key as a test
        # failure instead of an unpacker exception.
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                         max_buffer_size=16 * 1024 * 1024)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if connect:
            connect_unix(self.sock, self.path, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def pack(self, obj):
        return self.packer.pack(obj)

    def send(self, obj):
        self.send_raw(self.pack(obj))

    def send_raw(self, data, tolerate_close=False):
        """sendall(data) within the timeout.  With tolerate_close, a daemon
        that hangs up mid-send (EPIPE/ECONNRESET) is not an error: returns
        the number of bytes that went out (approximately) or None if all."""
        self.sock.settimeout(self.timeout)
        if not tolerate_close:
            self.sock.sendall(data)
            return None
        view = memoryview(data)
        sent = 0
        deadline = time.monotonic() + self.timeout
        while sent < len(view):
            if time.monotonic() >= deadline:
                raise TimeoutError("send of {} bytes stalled at {}".format(len(view), sent))
            try:
                n = self.sock.send(view[sent:sent + 65536])
            except (BrokenPipeError, ConnectionResetError):
                return sent
            except socket.timeout:
                raise TimeoutError("send of {} bytes stalled at {}".format(len(view), sent))
            sent += n
        return None

    def recv(self, timeout=None):
        """Next reply; Closed if the daemon hung up first, TimeoutError."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.unpacker.unpack()
            except msgpack.OutOfData:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from {} within {:g} s".format(self.path, timeout))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no reply from {} within {:g} s".format(self.path, timeout))
            except ConnectionResetError:
                raise Closed("connection reset")
            if not data:
                raise Closed("EOF")
            self.unpacker.feed(data)

    def request(self, obj, timeout=None):
        self.send(obj)
        return self.recv(timeout)

    def wait_closed(self, timeout=None):
        """Wait for EOF/reset; returns the replies that arrived before it.
        TimeoutError if the connection is still open after `timeout` s."""
        replies = []
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                replies.append(self.recv(left))
            except Closed:
                return replies
        raise TimeoutError("{} still open after {:g} s (replies: {!r})".format(
            self.path, timeout, replies))


def call(path, obj, timeout=10.0):
    """One request on a fresh connection; returns the reply."""
    with ControlClient(path, timeout=timeout) as c:
        return c.request(obj, timeout)


def status(path, timeout=5.0):
    reply = call(path, {"cmd": "status"}, timeout)
    assert isinstance(reply, dict) and reply.get("ok") is True, "status failed: {!r}".format(reply)
    return reply


def wait_history(path, pred, timeout, what):
    """Poll status until some history entry satisfies pred; returns it."""
    last = {}

    def check():
        last["st"] = status(path)
        for e in last["st"]["history"]:
            if pred(e):
                return e
        return None
    return helpers.wait_for(check, timeout, what, interval=0.1,
                            on_timeout=lambda: "last status: {!r}".format(last.get("st")))


# --------------------------------------------------------------------------
# type checks (exact Python types as python3-msgpack decodes them)

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v):
    return isinstance(v, float)


def _is_str(v):
    return isinstance(v, str)


def _is_bool(v):
    return isinstance(v, bool)


def _opt(check):
    return lambda v: v is None or check(v)


def _one_of(values):
    return lambda v: isinstance(v, str) and v in values


def _pid(v):
    return _is_int(v) and v > 0


ENTRY_FIELDS = {
    "id": lambda v: _is_int(v) and v >= 1,
    "trigger": _one_of(TRIGGERS),
    "started": _is_float,
    "duration": _opt(_is_float),
    "result": _one_of(RESULTS),
    "reason": _opt(_is_str),
    "old_master": _opt(_pid),
    "new_master": _opt(_pid),
    "workers": lambda v: _is_int(v) and v >= 0,
    "note": _opt(_is_str),
    "release": _opt(_is_str),
    "old_release": _opt(_is_str),
    "down": _is_bool,
    "t_settle": _opt(_is_float),
    "t_fork": _opt(_is_float),
    "t_warmup": _opt(_is_float),
    "t_drain": _opt(_is_float),
    "t_promote": _opt(_is_float),
}

STATUS_FIELDS = {
    "ok": lambda v: v is True,
    "name": _is_str,
    "version": _is_str,
    "pid": _pid,
    "state": _one_of(STATES),
    "uptime": _is_float,
    "master": _opt(_pid),
    "workers": lambda v: isinstance(v, list) and all(_pid(x) for x in v),
    "warmup": _is_float,
    "probation": _is_float,
    "ready": _one_of(READY_MODES),
    "reload_pending": _is_bool,
    "reload_state": _is_str,
    "history": lambda v: isinstance(v, list) and len(v) <= HISTORY_MAX,
    "last_success": _opt(_is_float),
    "releases": _opt(_is_str),
    "release": _opt(_is_str),
    "new_release": _opt(_is_str),
    "failsafe_warning": _opt(_is_str),
}


def _check_fields(obj, fields, where):
    problems = []
    if not isinstance(obj, dict):
        return ["{}: not a map: {!r}".format(where, obj)]
    for k in obj:
        if not isinstance(k, str):
            problems.append("{}: non-string key {!r}".format(where, k))
    for key, check in fields.items():
        if key not in obj:
            problems.append("{}: missing {!r}".format(where, key))
        elif not check(obj[key]):
            problems.append("{}: {!r} has bad value/type {!r} ({})".format(
                where, key, obj[key], type(obj[key]).__name__))
    return problems


def entry_problems(e, where="history entry"):
    problems = _check_fields(e, ENTRY_FIELDS, where)
    if problems:
        return problems
    if e["result"] == "running":
        if e["duration"] is not None:
            problems.append("{}: running but duration {!r}".format(where, e["duration"]))
    else:
        if e["duration"] is None or e["duration"] < 0:
            problems.append("{}: finished ({}) but duration {!r}".format(
                where, e["result"], e["duration"]))
    if e["result"] == "ok":
        if e["new_master"] is None or e["reason"] is not None:
            problems.append("{}: ok but new_master={!r} reason={!r}".format(
                where, e["new_master"], e["reason"]))
    if e["result"] == "failed" and not e["reason"]:
        problems.append("{}: failed without a reason".format(where))
    for k in ("t_settle", "t_fork", "t_warmup", "t_drain", "t_promote"):
        if e[k] is not None and e[k] < 0:
            problems.append("{}: negative {} {!r}".format(where, k, e[k]))
    return problems


# gwctl --json reload/deploy/rollback: gwctl(1), RESULT OBJECT.  Every key,
# always, in this order.
PHASES = ["check", "settle", "fork", "warmup", "probation", "drain", "promote"]
RESULT_KINDS = ("ok", "failed", "down", "accepted", "refused", "unknown", "error")
RESULT_TYPES = {
    "ok": _is_bool,
    "result": _one_of(RESULT_KINDS),
    "code": _opt(_is_str),
    "reason": _opt(_is_str),
    "name": _is_str,
    "id": _opt(lambda v: _is_int(v) and v >= 1),
    "trigger": _opt(_one_of(TRIGGERS)),
    "master": _opt(_pid),
    "old_master": _opt(_pid),
    "new_master": _opt(_pid),
    "release": _opt(_is_str),
    "old_release": _opt(_is_str),
    "new_release": _opt(_is_str),
    "workers": _opt(lambda v: _is_int(v) and v >= 0),
    "started": _opt(_is_float),
    "duration": _opt(_is_float),
    "phases": lambda v: isinstance(v, dict) and sorted(v) == sorted(PHASES) and
    all(x is None or (_is_float(x) and x >= 0) for x in v.values()),
}
RESULT_FIELDS = list(RESULT_TYPES)


def result_problems(r, ran=None, ordered=True):
    """What is wrong with a gwctl --json result object; [] if nothing.
    ran: whether a reload ran (an id and a duration); by default, what
    result says.  ordered=False: the keys as a set (a consumer such as
    Ansible sorts them)."""
    problems = _check_fields(r, RESULT_TYPES, "result")
    if problems:
        return problems
    if ordered and (list(r) != RESULT_FIELDS or list(r["phases"]) != PHASES):
        problems.append("result: keys {} not {}".format(list(r), RESULT_FIELDS))
    if set(r) != set(RESULT_FIELDS):
        problems.append("result: keys {} not {}".format(sorted(r), sorted(RESULT_FIELDS)))
    if r["ok"] != (r["result"] in ("ok", "accepted")):
        problems.append("result: ok {!r} with result {!r}".format(r["ok"], r["result"]))
    if r["ok"] != (r["reason"] is None) or r["ok"] != (r["code"] is None):
        problems.append("result: ok {!r} with code {!r} reason {!r}".format(
            r["ok"], r["code"], r["reason"]))
    want = {"ok": r["new_master"], "failed": r["old_master"]}.get(r["result"])
    if r["master"] != want:
        problems.append("result: {} but master {!r}".format(r["result"], r["master"]))
    want = {"ok": r["new_release"], "failed": r["old_release"]}.get(r["result"])
    if r["release"] != want:
        problems.append("result: {} but release {!r}".format(r["result"], r["release"]))
    if ran is None:
        ran = r["result"] in ("ok", "failed", "down")
    if ran != (r["id"] is not None and r["duration"] is not None):
        problems.append("result: {} with id {!r} duration {!r}".format(
            r["result"], r["id"], r["duration"]))
    return problems


def status_problems(st):
    problems = _check_fields(st, STATUS_FIELDS, "status")
    if isinstance(st, dict) and isinstance(st.get("history"), list):
        ids = []
        for i, e in enumerate(st["history"]):
            problems += entry_problems(e, "history[{}]".format(i))
            if isinstance(e, dict):
                ids.append(e.get("id"))
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            problems.append("history ids not strictly increasing (oldest first): {!r}".format(ids))
    return problems


def assert_status_types(st):
    problems = status_problems(st)
    assert not problems, "status reply:\n  " + "\n  ".join(problems) + "\nreply: {!r}".format(st)


# The error codes of proto.h (PROTO_E_*), as the PROTOCOL section lists them.
ERROR_CODES = {"denied", "busy", "dropped", "malformed", "too-large", "unknown-command",
               "bad-argument", "timeout", "unavailable", "failed", "internal"}


def assert_error(reply, contains=None, exact=None, code=None):
    """An error reply: exactly {"ok": False, "error": str, "code": str}, the
    code one of ERROR_CODES (and `code` if given)."""
    assert isinstance(reply, dict), "reply is not a map: {!r}".format(reply)
    assert reply.get("ok") is False, "expected ok: false, got {!r}".format(reply)
    assert isinstance(reply.get("error"), str) and reply["error"], \
        "error reply without an error string: {!r}".format(reply)
    assert set(reply) == {"ok", "error", "code"}, "error reply keys: {!r}".format(reply)
    assert reply["code"] in ERROR_CODES, "unknown error code: {!r}".format(reply)
    if code is not None:
        assert reply["code"] == code, "code {!r}, expected {!r}".format(reply["code"], code)
    if exact is not None:
        assert reply["error"] == exact, "error {!r}, expected {!r}".format(reply["error"], exact)
    if contains is not None:
        assert contains in reply["error"], "error {!r} does not mention {!r}".format(
            reply["error"], contains)


# --------------------------------------------------------------------------
# gwctl

def help_commands():
    """The commands gwctl --help lists: the command table's, and metrics."""
    require_gwctl()
    r = subprocess.run([str(GWCTL_BIN), "--help"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    cmds = {m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\b", r.stdout, re.M)}
    assert cmds, "no command in gwctl --help"
    return cmds


def gwctl(gw, *args, run_dir=None, timeout=30.0, env=None, user=None, cwd=None, binary=None):
    """Run gwctl ARGS (bounded); returns CompletedProcess (text).  GW_RUN_DIR
    is the test's run dir unless run_dir says otherwise (run_dir=False:
    unset).  user="nobody" runs it through as_user_argv()."""
    require_gwctl()
    extra = dict(env or {})
    if run_dir is not False:
        extra["GW_RUN_DIR"] = str(run_dir if run_dir is not None else gw.run_dir)
    argv = [str(binary or GWCTL_BIN)] + [str(a) for a in args]
    if user is not None:
        argv = as_user_argv(user, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=gw.base_env(extra), stdin=subprocess.DEVNULL,
                          cwd=cwd or ("/" if user else str(gw.tmp)))


def gwctl_json(gw, *args, **kw):
    r = gwctl(gw, "--json", *args, **kw)
    assert r.returncode == 0, "gwctl --json {} exit {}: {!r}".format(args, r.returncode, r.stderr)
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError("gwctl --json {} printed invalid JSON ({}): {!r}".format(
            args, e, r.stdout)) from None


def one_line(text):
    """The single non-empty line of text; fails if there are more or none."""
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1, "expected exactly one line, got {!r}".format(text)
    return lines[0]


# --------------------------------------------------------------------------
# other users, directories, sockets

def as_user_argv(user, argv):
    """argv run as `user` (tests run as root): setpriv, else su."""
    if shutil.which("setpriv"):
        group = "nogroup" if user == "nobody" else user
        return ["setpriv", "--reuid={}".format(user), "--regid={}".format(group),
                "--clear-groups"] + list(argv)
    if shutil.which("su"):
        import shlex
        return ["su", "-s", "/bin/sh", user, "-c", " ".join(shlex.quote(a) for a in argv)]
    return None


def can_run_as_other_user():
    return os.geteuid() == 0 and (shutil.which("setpriv") or shutil.which("su"))


NOBODY = (65534, 65534)


def wrapper_as(gw, w, user):
    """Wrapper `w` (not started) to run as `user` ("root": unchanged).
    Its app and run directories move under a directory every user can
    traverse (the test's tmp is root's 0700), the run directory and its
    TMPDIR become the user's.  Skips when no other user can be had."""
    if user == "root":
        return w
    if not can_run_as_other_user():
        import pytest
        pytest.skip("needs root and setpriv or su to run the wrapper as " + user)
    base = world_traversable_dir(gw, "gwuser-")
    app = base / "app"
    shutil.copytree(gw.app_dir, app)
    run = base / "run"
    run.mkdir()
    import pwd
    pw = pwd.getpwnam(user)
    for d in (run, getattr(w, "tmpdir", None)):
        if d is not None:
            os.chown(d, pw.pw_uid, pw.pw_gid)
    old_app, old_run = str(gw.app_dir), str(gw.run_dir)
    w.argv = as_user_argv(user, [a.replace(old_app, str(app)).replace(old_run, str(run))
                                 for a in w.argv])
    w.cwd = base
    gw.app_dir, gw.run_dir = app, run
    return w


# A raw client for another user: connects, sends {"cmd": "status"}, prints
# the reply as JSON ({"connect_error": ...} if connect() failed, plus
# "closed": true if the daemon hung up after the reply).
PEER_SCRIPT = r"""
import json, socket, sys, time
import msgpack
out = {}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect_error": e.errno, "strerror": e.strerror}))
    sys.exit(0)
try:
    s.sendall(msgpack.packb({"cmd": "status"}))
except OSError as e:
    out["send_error"] = e.errno
u = msgpack.Unpacker(raw=False)
deadline = time.monotonic() + 5
replies = []
closed = False
while time.monotonic() < deadline:
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    except ConnectionResetError:
        closed = True
        break
    if not data:
        closed = True
        break
    u.feed(data)
    for obj in u:
        replies.append(obj)
    if replies and isinstance(replies[-1], dict) and replies[-1].get("ok") is True:
        break    # served: no need to wait for a close that will not come
out["replies"] = replies
out["closed"] = closed
print(json.dumps(out))
"""


def run_peer_as(gw, user, path, timeout=20):
    argv = as_user_argv(user, [helpers.PYTHON, "-c", PEER_SCRIPT, str(path)])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/",
                       env=gw.base_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "peer client as {} exit {}: {!r} {!r}".format(
        user, r.returncode, r.stdout, r.stderr)
    return json.loads(one_line(r.stdout))


def world_traversable_dir(gw, prefix="gwctl-"):
    """A fresh 0755 dir under /tmp (every path component traversable by
    any user), removed at teardown.  Returns its Path."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    gw.add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    p = d
    while str(p) != "/":
        mode = os.stat(p).st_mode
        assert mode & 0o001, "{} is not traversable by other users".format(p)
        p = p.parent
    return d


def copy_gwctl(directory):
    """A 0755 copy of gwctl in a world-traversable directory, so that
    another user can run it whatever the permissions along GWCTL_BIN."""
    require_gwctl()
    dst = Path(directory) / "gwctl"
    shutil.copy(GWCTL_BIN, dst)
    os.chmod(dst, 0o755)
    return dst


def make_stale_socket(path):
    """A socket file with nothing listening on it (bind, then close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(path))
    finally:
        s.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    return os.lstat(path).st_ino


def wait_socket(path, timeout=10.0):
    """Wait until a daemon answers status on path; returns the status."""
    def ready():
        if not os.path.exists(path):
            return None
        try:
            return status(path, timeout=2)
        except (OSError, Closed, TimeoutError, AssertionError):
            return None
    return helpers.wait_for(ready, timeout, "control socket {} to answer".format(path))


def assert_serving(gw, load, n=3, timeout=10.0):
    """The LoadGenerator completed n more requests, all ok."""
    after = load.wait_more(n, timeout)
    bad = [r for r in after if not r.ok]
    assert not bad, "HTTP failures: " + load.summary()


def isnan(x):
    return isinstance(x, float) and math.isnan(x)
