# SPDX-License-Identifier: MIT
"""gwctl as a client that trusts nothing: who serves the socket, what the
reply says, and what its exit status tells a script or a probe.

Why this file exists: gwctl is what deploy scripts, health probes and
operators' terminals believe.  A fake daemon planted on NAME.sock must not
make `gwctl reload` print ok (issue 11); a reply's strings and numbers are
hostile input (escaped, range-checked); `status NAME` answers as LSB
scripts do (0 serving, 3 not running or not serving, 4 unknown) and an
untrusted server has its own status (5); `reload` shows its progress on a
terminal and only its outcome elsewhere; the CLI follows the conventions
(--help on stdout, --version, JSON errors under --json, hints).

Two kinds of server are used: the real daemon, and FakeDaemon below, a
small server that speaks the protocol (and the progress contract of
TEAM.md) to give gwctl replies no healthy daemon sends.  A fake run by
root is trusted; one run as another uid (setpriv) must not be.
"""

import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import pytest

import control_helpers as ch
import helpers
import history_file

EXIT_UNTRUSTED = 5


# --------------------------------------------------------------------------
# a server that speaks the protocol

class FakeDaemon:
    """Serves path from a thread of this (root) process: each connection's
    first request goes to handler(request) -> list of messages to send,
    each sent after an optional delay: (obj) or (delay_s, obj)."""

    def __init__(self, path, handler):
        self.path = str(path)
        self.handler = handler
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                u = msgpack.Unpacker(raw=False)
                req = None
                try:
                    while req is None:
                        data = conn.recv(65536)
                        if not data:
                            break
                        u.feed(data)
                        for obj in u:
                            req = obj
                            break
                    if req is None:
                        continue
                    self.requests.append(req)
                    for msg in self.handler(req):
                        if isinstance(msg, tuple):
                            time.sleep(msg[0])
                            msg = msg[1]
                        conn.sendall(msg if isinstance(msg, bytes) else
                                     msgpack.packb(msg, use_bin_type=False))
                except OSError:
                    pass

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def fake(gw):
    made = []

    def make(handler, name="app", directory=None):
        d = Path(directory or gw.run_dir)
        d.mkdir(parents=True, exist_ok=True)
        f = FakeDaemon(d / "{}.sock".format(name), handler)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def entry(**kw):
    e = {"id": 1, "trigger": "control", "started": 1764160000.5, "duration": 1.44,
         "result": "ok", "reason": None, "old_master": 100, "new_master": 200, "workers": 2,
         "note": None, "t_check": 0.0, "t_settle": 0.01, "t_fork": 0.01, "t_warmup": 1.24,
         "t_drain": 0.14, "t_promote": 0.05}
    e.update(kw)
    return e


def status_reply(**kw):
    s = {"ok": True, "name": "app", "version": "0.1.0", "pid": os.getpid(), "state": "running",
         "uptime": 63.0, "master": 200, "workers": [201, 202], "warmup": 30.0,
         "ready": "heartbeat", "reload_pending": False, "reload_state": "idle",
         "history": [entry()]}
    s.update(kw)
    return s


def always(reply):
    return lambda req: [reply]


def no_controls(text):
    """Nothing but printable text and newlines: no ESC, BEL, CR, DEL, C1."""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
    return not bad


# --------------------------------------------------------------------------
# 1. who answers

FAKE_SCRIPT = r"""
import os, socket, sys, msgpack
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        if c.recv(65536):     # gwctl hangs up before sending: nothing to answer
            c.sendall(msgpack.packb({"ok": True, "id": 99, "reload": {"id": 99,
                "result": "ok", "old_master": 1, "new_master": 2, "duration": 0.5}}))
    except OSError:
        pass
    c.close()
"""


def start_fake_as(gw, uid, path):
    """The fake daemon above as uid (not root), listening on path."""
    argv = ["setpriv", "--reuid={}".format(uid), "--regid={}".format(uid), "--clear-groups",
            helpers.PYTHON, "-c", FAKE_SCRIPT, str(path)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd="/", env=gw.base_env(), stdin=subprocess.DEVNULL)

    def stop():
        if p.poll() is None:
            p.kill()
        p.wait(10)
    gw.add_cleanup(stop)
    r, _, _ = select.select([p.stdout], [], [], 15)
    assert r and p.stdout.readline().strip() == "ready", p.stderr.read() if p.poll() else "no ready"
    return p


def need_setpriv():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a fake daemon as another uid")


def test_fake_daemon_of_another_user_is_not_believed(gw):
    need_setpriv()
    # a run directory anyone can write (as /tmp is): the attack's premise
    d = ch.world_traversable_dir(gw, prefix="gwctl-trap-")
    os.chmod(d, 0o777)
    fake_proc = start_fake_as(gw, 12345, d / "app.sock")
    for args in (["reload", "app"], ["reload", "app", "--no-wait"], ["status", "app"],
                 ["stop", "app"], ["set-warmup", "app", "5"]):
        r = ch.gwctl(gw, *args, run_dir=d, timeout=10)
        assert r.returncode == EXIT_UNTRUSTED, (args, r.returncode, r.stdout, r.stderr)
        assert not r.stdout, (args, r.stdout)
        line = ch.one_line(r.stderr)
        assert str(d / "app.sock") in line and "uid 12345" in line and \
            "pid {}".format(fake_proc.pid) in line, line
    r = ch.gwctl(gw, "--json", "reload", "app", run_dir=d, timeout=10)
    assert r.returncode == EXIT_UNTRUSTED
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["result"] == "error" and j["code"] == "untrusted" and \
        "uid 12345" in j["reason"], j
    assert not ch.result_problems(j), ch.result_problems(j)
    # every daemon of the directory: listed as UNTRUSTED, worst status wins
    r = ch.gwctl(gw, "status", run_dir=d, timeout=10)
    assert r.returncode == EXIT_UNTRUSTED and re.match(r"^app\s+UNTRUSTED\b", r.stdout), r
    r = ch.gwctl(gw, "reload", "--all", run_dir=d, timeout=10)
    assert r.returncode == EXIT_UNTRUSTED and not re.search(r"\bok\b", r.stdout), r
    # metrics: the file is still written, and says the daemon is not up
    r = ch.gwctl(gw, "metrics", "app", run_dir=d, timeout=10)
    assert r.returncode == 0 and 'gunicorn_wrapper_up{name="app"} 0' in r.stdout, r
    r = ch.gwctl(gw, "-s", d / "app.sock", "metrics", timeout=10)
    assert r.returncode == 0 and 'gunicorn_wrapper_up{name="app"} 0' in r.stdout, r


def test_default_run_dir_made_by_another_user(gw):
    """/tmp/gunicorn-wrapper-UID made first by someone else: the victim's
    gwctl (no GW_RUN_DIR, no XDG_RUNTIME_DIR) refuses it outright."""
    need_setpriv()
    victim, attacker = 12346, 12345
    d = Path("/tmp/gunicorn-wrapper-{}".format(victim))
    shutil.rmtree(d, ignore_errors=True)
    gw.add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    d.mkdir(mode=0o777)
    os.chmod(d, 0o777)
    os.chown(d, attacker, attacker)
    start_fake_as(gw, attacker, d / "app.sock")
    gwctl_copy = ch.copy_gwctl(ch.world_traversable_dir(gw))
    argv = ["setpriv", "--reuid={}".format(victim), "--regid={}".format(victim),
            "--clear-groups", str(gwctl_copy), "reload", "app"]
    env = {k: v for k, v in gw.base_env().items() if k not in ("GW_RUN_DIR", "XDG_RUNTIME_DIR")}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=env, cwd="/",
                       stdin=subprocess.DEVNULL)
    assert r.returncode == EXIT_UNTRUSTED, (r.returncode, r.stdout, r.stderr)
    assert not r.stdout and "belongs to uid {}".format(attacker) in ch.one_line(r.stderr), r


# --------------------------------------------------------------------------
# 2. hostile replies

def test_hostile_strings_are_escaped(gw, fake):
    evil = "ESC\x1b]0;pwned\x07 CSI\x1b[2J NL\nforged line CR\r DEL\x7f C1\u009b31m"
    fake(always(status_reply(name="app" + evil, state="running" + evil, version=evil,
                             history=[entry(reason=evil, note=evil),
                                      entry(id=2, result="failed" + evil)])))
    for args in (["status", "app"], ["status"], ["--json", "status", "app"],
                 ["metrics", "app"], ["metrics"]):
        r = ch.gwctl(gw, *args, timeout=10)
        assert r.returncode in (0, 3), (args, r.returncode, r.stderr)
        assert no_controls(r.stdout), (args, r.stdout)
        assert "forged line" not in [x.strip() for x in r.stdout.splitlines()], r.stdout
    r = ch.gwctl(gw, "status", "app", timeout=10)
    assert "\\x1b]0;pwned\\x07" in r.stdout and "\\nforged line" in r.stdout, r.stdout
    j = json.loads(ch.gwctl(gw, "--json", "status", "app").stdout)
    assert j["history"][0]["reason"] == evil, j   # JSON escapes, losing nothing


def test_failed_reload_reason_is_escaped(gw, fake):
    fake(always({"ok": False, "error": "worker failed to boot\n\x1b[31mTraceback\x07",
                 "reload": entry(id=4, result="failed", new_master=None)}))
    r = ch.gwctl(gw, "reload", "app", timeout=10)
    assert r.returncode == 1, r
    line = ch.one_line(r.stderr)
    assert no_controls(line) and line.startswith("gwctl: reload 4 failed: worker failed to boot\\n"), line


def test_bad_utf8_and_hostile_numbers(gw, fake):
    big = 2 ** 40
    fake(always(status_reply(pid=big, master=big, uptime=1e300, warmup=float("nan"),
                             workers=[big, -1, 1.5, "x", 2 ** 64 - 1],
                             history=[entry(id=big, workers=big, started=-1e300,
                                            duration=float("inf"), old_master=2 ** 64 - 1,
                                            new_master=2 ** 31, reason=b"\xff\xfe bad")])))
    for args in (["status", "app"], ["status"], ["metrics", "app"]):
        r = ch.gwctl(gw, *args, timeout=10)
        assert "2147483648" not in r.stdout and "1099511627776" not in r.stdout, (args, r.stdout)
        assert no_controls(r.stdout), r.stdout
    r = ch.gwctl(gw, "status", "app")
    assert re.search(r"^\s*master\s+-$", r.stdout, re.M), r.stdout
    assert "\\xff\\xfe bad" in r.stdout, r.stdout
    j = json.loads(ch.gwctl(gw, "--json", "status", "app").stdout)   # valid JSON, U+FFFD
    assert j["history"][0]["reason"] == "\ufffd\ufffd bad", j


# --------------------------------------------------------------------------
# 3. exit statuses

@pytest.mark.parametrize("reply,want", [
    (status_reply(), 0),
    (status_reply(state="reloading"), 0),
    (status_reply(state="starting", master=None, workers=[]), 3),
    (status_reply(state="stopping"), 3),
    (status_reply(state="running", master=None, workers=[]), 3),
    ({"ok": False, "error": "busy"}, 4),
    ({"ok": False, "error": "permission denied"}, 4),
    ({"ok": False, "error": "something else"}, 4),
], ids=["running", "reloading", "starting", "stopping", "no-master", "busy", "denied", "error"])
def test_status_exit_codes(gw, fake, reply, want):
    fake(always(reply))
    r = ch.gwctl(gw, "status", "app", timeout=10)
    assert r.returncode == want, (r.returncode, r.stdout, r.stderr)


def test_status_exit_codes_without_a_daemon(gw):
    ch.require_gwctl()
    r = ch.gwctl(gw, "status", "app", timeout=10)            # no socket: not running
    assert r.returncode == 3 and "is the daemon running" in ch.one_line(r.stderr), r
    ch.make_stale_socket(gw.run_dir / "app.sock")             # stale socket: not running
    r = ch.gwctl(gw, "status", "app", timeout=10)
    line = ch.one_line(r.stderr)
    assert r.returncode == 3 and "stale socket" in line, r
    r = ch.gwctl(gw, "reload", "app", timeout=10)             # other commands: 3 unreachable
    assert r.returncode == 3, r


def test_status_exit_codes_real_daemon(gw):
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    r = ch.gwctl(gw, "status", "app")
    assert r.returncode == 0, r
    r = ch.gwctl(gw, "stop", "app")
    assert r.returncode == 0, r
    assert w.wait_exit(30) == 0
    r = ch.gwctl(gw, "status", "app")
    assert r.returncode == 3, r


# --------------------------------------------------------------------------
# 5. reload progress

PROGRESS = [
    {"id": 3, "phase": "checking", "elapsed": 0.01, "budget": 30.0, "ready": 0, "workers": 0},
    {"id": 3, "phase": "warming", "elapsed": 0.3, "budget": 30.0, "ready": 1, "workers": 2},
    {"id": 3, "phase": "draining", "elapsed": 0.9, "budget": 30.0, "ready": 2, "workers": 2},
]


def progress_handler(req):
    msgs = []
    if req.get("cmd") == "reload" and req.get("progress") is True:
        msgs = [(0.3, {"ok": True, "progress": p}) for p in PROGRESS]
    return msgs + [(0.3, {"ok": True, "reload": entry(id=3, old_master=100, new_master=200,
                                                       duration=1.2)})]


def run_on_pty(argv, env, timeout=20):
    """argv with stdin, stdout and stderr on a new pty; returns (rc, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    data = os.read(master, 4096)
                except OSError:      # EIO: the other side is closed
                    break
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        rc = p.wait(max(0.1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode("utf-8", "replace")


def test_reload_progress_on_a_tty(gw, fake):
    ch.require_gwctl()
    f = fake(progress_handler)
    env = gw.base_env({"GW_RUN_DIR": str(gw.run_dir)})
    rc, out = run_on_pty([ch.GWCTL_BIN, "reload", "app"], env)
    assert rc == 0, out
    assert f.requests[-1] == {"cmd": "reload", "wait": True, "progress": True}, f.requests
    # one updating line: redrawn with CR + erase-line, never a newline between
    assert "\r\x1b[Kreload 3: checking" in out, repr(out)
    assert re.search(r"\r\x1b\[Kreload 3: warming, 1 of 2 ready, \d+\.\d s of 30 s budget", out), \
        repr(out)
    assert "reload 3: draining, 2 of 2 ready" in out, repr(out)
    head, _, tail = out.rpartition("\r\x1b[K")
    assert "\n" not in head, repr(out)    # the progress never scrolled
    assert tail.strip() == "reload 3 ok: master 100 -> 200 in 1.20 s", repr(out)


def test_reload_not_on_a_tty_prints_the_outcome_only(gw, fake):
    f = fake(progress_handler)
    r = ch.gwctl(gw, "reload", "app", timeout=20)
    assert r.returncode == 0, r
    assert f.requests[-1] == {"cmd": "reload", "wait": True}, f.requests
    assert r.stdout == "reload 3 ok: master 100 -> 200 in 1.20 s\n" and not r.stderr, r


def test_status_shows_a_running_reload(gw, fake):
    fake(always(status_reply(state="reloading", progress=PROGRESS[1])))
    r = ch.gwctl(gw, "status", "app")
    assert r.returncode == 0, r
    assert re.search(r"^\s*reloading\s+reload 3: warming, 1 of 2 ready, 0\.3 s of 30 s budget$",
                     r.stdout, re.M), r.stdout
    r = ch.gwctl(gw, "status")
    assert "reload 3: warming, 1 of 2 ready" in ch.one_line(r.stdout), r.stdout


def test_warmup_against_its_own_clock(gw, fake):
    """A reload whose pre-flight took 2.3 s: the warm-up's 1.2 s are what
    count against its budget, not the reload's 3.5 s."""
    fake(always(status_reply(state="reloading", progress={
        "id": 3, "phase": "warming", "elapsed": 3.5, "budget": 30.0, "phase_elapsed": 1.2,
        "phase_length": 30.0, "ready": 1, "workers": 2})))
    r = ch.gwctl(gw, "status", "app")
    assert re.search(r"^\s*reloading\s+reload 3: warming, 1 of 2 ready, 1\.2 s of 30 s budget, "
                     r"3\.5 s in all$", r.stdout, re.M), r.stdout


def test_reload_progress_real_daemon(gw):
    """The real daemon, on a pty: streams progress once engineer i11b's
    side is in; skipped (with the reason) while it does not."""
    ch.require_gwctl()
    w = gw.wrapper(workers=2, app_env={"APP_BOOT": "1.5"})
    w.wait_ready(timeout=30)
    gw.set_version("2")
    env = gw.base_env({"GW_RUN_DIR": str(gw.run_dir)})
    rc, out = run_on_pty([ch.GWCTL_BIN, "reload", "app"], env, timeout=60)
    assert rc == 0, out + w.log.tail()
    assert re.search(r"reload 1 ok: master \d+ -> \d+ in", out), repr(out)
    ch.gwctl(gw, "stop", "app")
    assert w.wait_exit(30) == 0
    if "\r\x1b[Kreload 1: " not in out:
        pytest.skip("the daemon does not stream reload progress yet (issue 12, daemon side)")
    assert re.search(r"reload 1: warming, \d of 2 ready", out), repr(out)


# --------------------------------------------------------------------------
# 6. CLI conventions

def test_help_version_and_json_errors(gw):
    ch.require_gwctl()
    r = ch.gwctl(gw, "--help")
    assert r.returncode == 0 and "usage: gwctl" in r.stdout and not r.stderr, r
    assert "metrics" in r.stdout and "Exit status" in r.stdout, r.stdout
    r = ch.gwctl(gw, "--version")
    assert r.returncode == 0 and re.match(r"^gwctl \d+\.\d+\.\d+$", r.stdout.strip()), r
    r = ch.gwctl(gw, "--json", "frobnicate")
    assert r.returncode == 2, r
    j = json.loads(r.stdout)
    assert j == {"ok": False, "error": "unknown command 'frobnicate'", "code": "usage"}, j
    r = ch.gwctl(gw, "--json", "status", "app")
    assert r.returncode == 3, r
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["code"] == "not-running" and "app.sock" in j["error"], j


# getopt_long's forms, as every other command-line tool takes them
# (issue 18: "-t5, --timeout=5, --socket=PATH and -- are all unknown").
GOOD_FORMS = [
    ["-sSOCK", "status"],
    ["-s", "SOCK", "status"],
    ["--socket", "SOCK", "status"],
    ["--socket=SOCK", "status"],
    ["status", "--socket=SOCK"],
    ["--sock=SOCK", "status"],                       # a unique prefix
    ["-t5", "status", "app"],
    ["-t", "5", "status", "app"],
    ["--timeout=5", "status", "app"],
    ["--timeout", "5", "status", "app"],
    ["status", "app", "-t5"],                        # options after the command
    ["status", "app", "--timeout=5", "--json"],
    ["--", "status", "app"],
    ["status", "--", "app"],
    ["--json", "-t5", "--", "status", "app"],
]


@pytest.mark.parametrize("argv", GOOD_FORMS, ids=[" ".join(a) for a in GOOD_FORMS])
def test_getopt_forms(gw, fake, argv):
    f = fake(always(status_reply()))
    argv = [a.replace("SOCK", f.path) for a in argv]
    r = ch.gwctl(gw, *argv, timeout=10)
    assert r.returncode == 0, (argv, r.returncode, r.stdout, r.stderr)
    assert f.requests == [{"cmd": "status"}], (argv, f.requests)
    if "--json" in argv:
        assert json.loads(r.stdout)["master"] == 200, r.stdout


BAD_FORMS = [
    (["--json=1", "status", "app"], "option --json takes no value"),
    (["--bogus", "status", "app"], "unknown or ambiguous option --bogus"),
    (["--bogus=3", "status", "app"], "unknown or ambiguous option --bogus"),
    (["-x", "status", "app"], "unknown or ambiguous option -x"),
    (["status", "app", "-t"], "-t needs a number of seconds"),
    (["status", "app", "--timeout"], "--timeout needs a number of seconds"),
    (["status", "app", "--timeout=abc"], "timeout 'abc'"),
    (["-tabc", "status", "app"], "timeout 'abc'"),
    (["status", "--socket"], "--socket needs a socket path"),
    (["--socket=", "status"], "the socket path is empty"),
    # set: the key and the value against the settings table, before sending
    (["set", "app", "bogus", "5"], "unknown setting 'bogus' (warmup, probation)"),
    (["set", "app", "probation", "--", "-1"],
     "probation '-1': must not be negative (0 <= s <= 600)"),
    (["set", "app", "probation", "601"], "probation '601': too large (0 <= s <= 600)"),
    (["set", "app", "warmup", "0"], "warmup '0': must be greater than 0 (0 < s <= 3600)"),
    (["set", "app", "warmup"], "usage: gwctl set name key value"),
    (["set", "app", "warmup", "5", "6"], "usage: gwctl set name key value"),
    (["set-warmup", "app", "abc"], "warmup 'abc': not a number of seconds"),
]


@pytest.mark.parametrize("argv,want", BAD_FORMS, ids=[" ".join(a) for a, _ in BAD_FORMS])
def test_getopt_errors(gw, fake, argv, want):
    f = fake(always(status_reply()))
    r = ch.gwctl(gw, *argv, timeout=10)
    assert r.returncode == 2, (argv, r.returncode, r.stdout, r.stderr)
    line = ch.one_line(r.stderr)
    assert want in line, (argv, line)
    assert f.requests == [], "a usage error sent a request: {}".format(f.requests)
    # The same error as JSON, however --json is spelt.
    r = ch.gwctl(gw, "--js", *argv, timeout=10)
    assert r.returncode == 2, r
    j = json.loads(r.stdout)
    assert j["ok"] is False and j["code"] == "usage" and want in j["error"], j


def test_getopt_double_dash_and_timeout_value(gw, fake):
    """After --, a word that starts with '-' is a name; -t's value is used,
    whichever form gave it."""
    ch.require_gwctl()
    r = ch.gwctl(gw, "status", "--", "-t5", timeout=10)
    assert r.returncode == 3 and "-t5.sock" in ch.one_line(r.stderr), r
    fake(lambda req: [(3.0, status_reply())])
    for form in (["-t0.3"], ["--timeout=0.3"], ["--timeout", "0.3"]):
        # Status unknown (4), not the reply that comes after 3 s (0).
        r = ch.gwctl(gw, *form, "status", "app", timeout=10)
        assert r.returncode == 4, (form, r.returncode, r.stderr)


def test_one_worker_and_zone(gw, fake):
    fake(always(status_reply(workers=[201])))
    r = ch.gwctl(gw, "status")
    assert ", 1 worker," in r.stdout, r.stdout
    r = ch.gwctl(gw, "status", "app", env={"TZ": "UTC"})
    assert re.search(r"^\s+1\s+2025-11-26 12:26:40 \+0000\s+ok\b", r.stdout, re.M), r.stdout


def test_hint_for_another_users_run_dir(gw):
    """gwctl as root, the daemon's socket in another user's default
    directory: the error names it and GW_RUN_DIR."""
    ch.require_gwctl()
    if os.geteuid() != 0:
        pytest.skip("the default run directory differs: test written for root")
    name = "hint{}".format(os.getpid())
    d = Path("/tmp/gunicorn-wrapper-4242")
    created = not d.exists()
    d.mkdir(exist_ok=True)
    sock = d / "{}.sock".format(name)
    ch.make_stale_socket(sock)

    def clean():
        sock.unlink()
        if created:
            shutil.rmtree(d, ignore_errors=True)
    gw.add_cleanup(clean)
    r = ch.gwctl(gw, "status", name, run_dir=False, timeout=10)
    line = ch.one_line(r.stderr)
    assert r.returncode == 3 and "hint: there is {}, in a directory of user".format(sock) in line \
        and "GW_RUN_DIR={}".format(d) in line, line


# --------------------------------------------------------------------------
# 4. metrics

def parse_metrics(text):
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in fams.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return fams, samples


def need_prometheus_client():
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError:
        pytest.skip("python3-prometheus-client is not installed (tools/install-deps)")


def promtool_check(text):
    """`promtool check metrics` on text, where Debian's prometheus package
    is installed: the format and Prometheus's naming conventions."""
    tool = shutil.which("promtool")
    if tool is None:
        return
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), \
        "promtool check metrics:\n" + r.stdout + r.stderr


def test_metrics_parse(gw, fake):
    need_prometheus_client()
    fake(always(status_reply(history=[entry(), entry(id=2, result="failed", duration=30.5,
                                                        started=1764160100.0)])))
    f2 = fake(always(status_reply(name="web", state="starting", master=None, workers=[],
                                  history=[])), name="web")
    ch.make_stale_socket(gw.run_dir / "gone.sock")
    r = ch.gwctl(gw, "metrics", timeout=10)
    assert r.returncode == 0, r
    assert "gone.sock" in r.stderr
    fams, s = parse_metrics(r.stdout)
    app, web, gone = (("name", "app"),), (("name", "web"),), (("name", "gone"),)
    assert s[("gunicorn_wrapper_up", app)] == 1 and s[("gunicorn_wrapper_up", gone)] == 0
    assert s[("gunicorn_wrapper_up", web)] == 1
    assert s[("gunicorn_wrapper_state", (("name", "app"), ("state", "running")))] == 1
    assert s[("gunicorn_wrapper_state", (("name", "web"), ("state", "starting")))] == 1
    assert s[("gunicorn_wrapper_serving", app)] == 1 and s[("gunicorn_wrapper_serving", web)] == 0
    assert s[("gunicorn_wrapper_workers", app)] == 2
    assert s[("gunicorn_wrapper_generation", app)] == 1
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "ok")))] == 1
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "failed")))] == 1
    assert fams["gunicorn_wrapper_reloads"].type == "counter"
    assert s[("gunicorn_wrapper_last_reload_success", app)] == 0
    assert s[("gunicorn_wrapper_last_reload_duration_seconds", app)] == 30.5
    assert s[("gunicorn_wrapper_last_reload_timestamp_seconds", app)] == 1764160100.0
    assert s[("gunicorn_wrapper_last_reload_phase_seconds",
              (("name", "app"), ("phase", "warmup")))] == 1.24
    assert not any(k[0] == "gunicorn_wrapper_state" and dict(k[1])["name"] == "gone" for k in s)
    # build_info, node_exporter's convention: 1, the version as a label
    assert s[("gunicorn_wrapper_build_info", (("name", "app"), ("version", "0.1.0")))] == 1
    assert fams["gunicorn_wrapper_build_info"].type == "gauge"
    # the last success stays put when a later reload fails; none, none
    assert s[("gunicorn_wrapper_last_success_timestamp_seconds", app)] == \
        pytest.approx(1764160000.5 + 1.44)
    assert ("gunicorn_wrapper_last_success_timestamp_seconds", web) not in s
    promtool_check(r.stdout)
    f2.close()


def test_metrics_counts_the_daemons_totals(gw, fake):
    """A daemon that sends "reloads" is believed over its history, which
    keeps only the last 50; a hostile count is left out, not cast."""
    need_prometheus_client()
    hist = [entry(id=i) for i in range(71, 121)]
    fake(always(status_reply(history=hist, reloads={"ok": 117, "failed": 3})))
    f2 = fake(always(status_reply(name="web", history=hist,
                                  reloads={"ok": 1.5, "failed": "x"})), name="web")
    r = ch.gwctl(gw, "metrics", timeout=10)
    assert r.returncode == 0, r
    _, s = parse_metrics(r.stdout)
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "ok")))] == 117
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "failed")))] == 3
    assert not any(k[0] == "gunicorn_wrapper_reloads_total" and dict(k[1])["name"] == "web"
                   for k in s), r.stdout
    r = ch.gwctl(gw, "status", "app", timeout=10)
    assert "reloads    117 ok, 3 failed since the wrapper started" in r.stdout, r.stdout
    r = ch.gwctl(gw, "status", "web", timeout=10)
    assert "reloads    ? ok, ? failed since the wrapper started" in r.stdout, r.stdout
    f2.close()


def test_metrics_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    src = Path(__file__).resolve().parents[2] / "contrib/systemd"
    for name in ("gunicorn-wrapper-metrics.service", "gunicorn-wrapper-metrics.timer"):
        shutil.copy(src / name, tmp_path / name)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        "./gunicorn-wrapper-metrics.timer", "./gunicorn-wrapper-metrics.service"],
                       capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r


def seed_history(path, n, result):
    """A history file of n finished reloads with ids 1..n, all result."""
    with open(path, "wb") as f:
        for i in range(1, n + 1):
            f.write(history_file.record(history_file.entry(
                id=i, started=1700000000.0 + i, duration=1.0, result=result,
                reason=None if result == "ok" else "seeded")))


def test_last_success_outlives_the_history(gw):
    """A success followed by 50 failures: the history keeps only the
    failures, but the daemon remembers when its last good reload ended, so
    "no good deploy since" stays measurable."""
    need_prometheus_client()
    path = gw.run_dir / "app.history"
    with open(path, "wb") as f:
        for i in range(1, 52):
            ok = i == 1
            f.write(history_file.record(history_file.entry(
                id=i, started=1700000000.0 + 10 * i, duration=2.5,
                result="ok" if ok else "failed", reason=None if ok else "seeded")))
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    st = ch.status(ch.sock_path(gw))
    assert [e["result"] for e in st["history"]] == ["failed"] * 50, st["history"][0]
    assert st["last_success"] == pytest.approx(1700000012.5), st["last_success"]
    r = ch.gwctl(gw, "metrics", "app", timeout=10)
    assert r.returncode == 0, r
    _, s = parse_metrics(r.stdout)
    assert s[("gunicorn_wrapper_last_success_timestamp_seconds", (("name", "app"),))] == \
        pytest.approx(1700000012.5)
    promtool_check(r.stdout)
    ch.gwctl(gw, "stop", "app")
    assert w.wait_exit(30) == 0


def test_metrics_real_daemon(gw):
    """reloads_total counts what this wrapper finished, not what the
    history (the last 50) holds: 50 failed reloads of an earlier run are
    in the history file, and this run's one reload is all it counts."""
    need_prometheus_client()
    seed_history(gw.run_dir / "app.history", 50, "failed")
    w = gw.wrapper(workers=2)
    master, _ = w.wait_ready(timeout=30)
    r = ch.gwctl(gw, "reload", "app", timeout=60)
    assert r.returncode == 0, r
    st = ch.status(ch.sock_path(gw))
    new = st["master"]
    assert st["reloads"] == {"ok": 1, "failed": 0, "down": 0}, st["reloads"]
    assert len(st["history"]) == 50 and st["history"][-1]["id"] == 51, st["history"][-1]
    t0 = time.time()
    r = ch.gwctl(gw, "metrics", "app", timeout=10)
    assert r.returncode == 0, r
    fams, s = parse_metrics(r.stdout)
    app = (("name", "app"),)
    assert s[("gunicorn_wrapper_up", app)] == 1 and s[("gunicorn_wrapper_serving", app)] == 1
    assert s[("gunicorn_wrapper_workers", app)] == 2
    assert s[("gunicorn_wrapper_generation", app)] == 51
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "ok")))] == 1
    assert s[("gunicorn_wrapper_reloads_total", (("name", "app"), ("result", "failed")))] == 0
    assert s[("gunicorn_wrapper_reloads_down_total", app)] == 0
    started = s[("gunicorn_wrapper_master_start_time_seconds", app)]
    assert t0 - 120 < started <= t0 + 1, (started, t0, new)
    for phase in ("fork", "warmup", "drain", "promote"):
        assert (("gunicorn_wrapper_last_reload_phase_seconds",
                 (("name", "app"), ("phase", phase)))) in s, phase
    last = st["history"][-1]
    assert s[("gunicorn_wrapper_last_success_timestamp_seconds", app)] == \
        pytest.approx(last["started"] + last["duration"], abs=1e-3)
    version = subprocess.run([ch.GWCTL_BIN, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    assert s[("gunicorn_wrapper_build_info", (("name", "app"), ("version", version)))] == 1
    promtool_check(r.stdout)
    # the recipe of contrib/systemd/gunicorn-wrapper-metrics.service, run
    # as its ExecStart= runs (systemd expands ${OUT}; here sh does)
    unit = (Path(__file__).resolve().parents[2] / "contrib/systemd" /
            "gunicorn-wrapper-metrics.service").read_text()
    argv = re.search(r"^ExecStart=/bin/sh -c '(.*)'$", unit, re.M).group(1)
    out = gw.tmp / "textfile"
    out.mkdir()
    bindir = gw.tmp / "bin"
    bindir.mkdir()
    os.symlink(ch.GWCTL_BIN, bindir / "gwctl")
    subprocess.run(["/bin/sh", "-c", argv], check=True, timeout=10, env=gw.base_env({
        "GW_RUN_DIR": str(gw.run_dir), "OUT": str(out / "gunicorn-wrapper.prom"),
        "PATH": "{}:/usr/bin:/bin".format(bindir)}))
    assert sorted(os.listdir(out)) == ["gunicorn-wrapper.prom"]
    assert parse_metrics((out / "gunicorn-wrapper.prom").read_text())[1][
        ("gunicorn_wrapper_up", app)] == 1
    ch.gwctl(gw, "stop", "app")
    assert w.wait_exit(30) == 0
    r = ch.gwctl(gw, "metrics", "app")
    assert r.returncode == 0 and parse_metrics(r.stdout)[1][("gunicorn_wrapper_up", app)] == 0


REL = "/srv/app/releases/"


@pytest.mark.parametrize("reply,rc,want", [
    ({"ok": True, "reload": entry(release=REL + "B", old_release=REL + "A")}, 0,
     {"result": "ok", "master": 200, "release": REL + "B", "new_release": REL + "B"}),
    ({"ok": False, "error": "new master 200 exited", "code": "failed",
      "reload": entry(result="failed", reason="new master 200 exited", release=REL + "C",
                      old_release=REL + "B", down=False)}, 1,
     {"result": "failed", "master": 100, "release": REL + "B", "new_release": REL + "C",
      "reason": "new master 200 exited", "code": "failed"}),
    ({"ok": False, "error": "old master gone", "code": "down",
      "reload": entry(result="failed", reason="old master gone", down=True)}, 6,
     {"result": "down", "master": None, "release": None, "code": "down"}),
    ({"ok": True, "id": 7}, 0, {"result": "accepted", "id": 7, "master": None}),
    # The one decision: exit status and result agree, whatever the reply.
    ({"ok": True, "reload": entry(result="failed", reason="r")}, 1,
     {"result": "failed", "reason": "r", "code": "failed", "master": 100}),
    ({"ok": True}, 1, {"result": "failed", "reason": "the daemon's reply holds no outcome"}),
    ({"ok": True, "error": "weird", "code": "failed", "reload": entry()}, 0,
     {"result": "ok", "reason": None, "code": None}),
    ({"ok": False, "error": 5, "code": "failed", "reload": entry(result="failed",
                                                               reason="r")}, 1,
     {"result": "failed", "reason": "r"}),
    ({"ok": False, "error": "no such release", "code": "bad-argument"}, 1,
     {"result": "refused", "id": None, "reason": "no such release"}),
    ({"ok": False, "error": "server overloaded", "code": "busy"}, 3,
     {"result": "refused", "code": "busy"}),
], ids=["ok", "failed", "down", "accepted", "refused", "busy", "ok-but-failed",
        "ok-no-entry", "ok-with-error", "error-not-a-string"])
def test_result_object(gw, fake, reply, rc, want):
    """gwctl --json reload/deploy prints one object with every key, always,
    in one order (gwctl(1), RESULT OBJECT), whatever the daemon answered;
    its exit status says what the object says."""
    fake(always(reply))
    extra = ["--no-wait"] if want["result"] == "accepted" else []
    for args in (["reload", "app"], ["deploy", "app", "/srv"], ["rollback", "app"]):
        r = ch.gwctl(gw, "--json", *args, *extra, timeout=10)
        assert r.returncode == rc, (args, r.returncode, r.stdout, r.stderr)
        j = json.loads(ch.one_line(r.stdout))
        ran = "reload" in reply
        assert not ch.result_problems(j, ran), (ch.result_problems(j, ran), j)
        assert j["name"] == "app" and {k: j[k] for k in want} == want, j
        # The text says what the exit status says: an error line exactly
        # when it is not 0, never an "ok" line then.
        t = ch.gwctl(gw, *args, *extra, timeout=10)
        assert t.returncode == rc, (args, t.returncode, t.stdout, t.stderr)
        assert bool(t.stderr.strip()) == (rc != 0), (args, t.stdout, t.stderr)
        assert rc == 0 or " ok:" not in t.stdout, (args, t.stdout)


def test_result_object_from_a_hostile_reply(gw, fake):
    """Values of the wrong type or out of range are null, never passed on."""
    fake(always({"ok": True, "reload": entry(new_master=2 ** 40, release=5, t_warmup=-1.0,
                                             workers="x", started="now", trigger=3)}))
    r = ch.gwctl(gw, "--json", "reload", "app", timeout=10)
    assert r.returncode == 0, r
    j = json.loads(r.stdout)
    assert list(j) == ch.RESULT_FIELDS, j
    assert j["new_master"] is None and j["master"] is None and j["release"] is None, j
    assert j["workers"] is None and j["started"] is None and j["trigger"] is None, j
    assert j["phases"]["warmup"] is None and j["phases"]["drain"] == 0.14, j


def test_result_object_when_the_outcome_is_lost(gw, fake):
    """Sent, but no outcome within -t: "unknown" (the deploy may go on and
    succeed), code timeout, exit 3; never "failed", which would mean the
    old release serves."""
    f = fake(lambda req: [(3, {"ok": True, "reload": entry()})])
    r = ch.gwctl(gw, "--json", "-t", "1", "deploy", "app", "/srv", timeout=10)
    assert r.returncode == 3, r
    j = json.loads(r.stdout)
    assert not ch.result_problems(j), (ch.result_problems(j), j)
    assert j["result"] == "unknown" and j["code"] == "timeout" and "1 s" in j["reason"], j
    f.close()
    os.unlink(f.path)
    # The connection closed before the outcome: unknown too.
    fake(lambda req: [])
    r = ch.gwctl(gw, "--json", "reload", "app", timeout=10)
    j = json.loads(r.stdout)
    assert r.returncode == 3 and j["result"] == "unknown" and \
        j["code"] == "unreachable", (r.returncode, j)
