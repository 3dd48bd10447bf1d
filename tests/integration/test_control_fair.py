# SPDX-License-Identifier: MIT
"""The control socket against clients that mean harm, or just a bad day
(issue 11), and a reload you can watch from it (issue 12).

Why this file exists: test_control.py checks what one client can send;
these check what many clients, another user's flood, or the wrapper's own
exit do to everyone else:

  * a `gwctl reload` waiting while the first master dies gets its failed
    outcome (exit 1), not a closed connection (exit 3): replies queued
    just before the wrapper exits are written out first;
  * a flood of trickling connections from another uid (`nobody`, member
    of --socket-group) never stops root's `gwctl status` from being
    answered: per-uid limits, slots kept for root and the daemon's user;
  * a flood from the daemon's own user is met by dropping its oldest idle
    connections, not by refusing a newcomer for ever;
  * a truncated request followed by EOF is answered at once; unused keys
    nested within the limit are ignored, deeper nesting is refused;
  * what clients make the daemon log is rate-limited, with a summary line;
  * reload progress streaming and status "progress" follow the shared
    contract, checked with an independent msgpack client; the log says
    which uid and pid asked for a reload.

Everything is bounded; processes are started through the gw fixture, or
as children stopped by PID in a finally block.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time

import msgpack
import pytest

import control_helpers as ch
import helpers
from control_helpers import Closed, ControlClient, assert_error, gwctl

BOOT = {"APP_BOOT": "0.3"}
MAX_CLIENTS_UID = 16          # proto.h PROTO_MAX_CLIENTS_UID
LOG_BURST = 10                # control.c CONTROL_LOG_BURST, per 10 s window
PHASES = ("checking", "settling", "forking", "warming", "probation", "draining",
          "promoting", "aborting")


def start(gw, workers=2, warmup=30, app_env=BOOT, **kw):
    ch.require_gwctl()
    w = gw.wrapper(workers=workers, warmup=warmup, app_env=app_env, **kw)
    master, _ = w.wait_ready(timeout=30)
    ch.wait_socket(ch.sock_path(gw), timeout=10)
    return w, master


def stop(gw, w):
    r = gwctl(gw, "stop", "app")
    assert r.returncode == 0, r.stderr
    assert w.wait_exit(30) == 0, w.log.tail()
    gw.wait_no_gunicorn(10)


def socket_fds(pid):
    """How many sockets the process holds open."""
    n = 0
    for fd in os.listdir("/proc/{}/fd".format(pid)):
        try:
            n += os.readlink("/proc/{}/fd/{}".format(pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


# --------------------------------------------------------------------------
# 1. replies are delivered before exit

def test_waiting_reload_gets_its_outcome_when_the_first_master_dies(gw):
    ch.require_gwctl()
    w = gw.wrapper(workers=2, warmup=30, app_env={"APP_BOOT": "20"})
    m = w.wait_log(r"^started gunicorn master (\d+)", 20)
    first = int(m.group(1))
    sock = ch.sock_path(gw)
    ch.wait_socket(sock, 10)
    raw = ControlClient(sock, timeout=20)
    raw.send({"cmd": "reload", "wait": True})
    cli = subprocess.Popen([ch.GWCTL_BIN, "reload", "app"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                           env=gw.base_env({"GW_RUN_DIR": str(gw.run_dir)}))
    try:
        # both requests are queued behind the first generation's boot
        helpers.wait_for(lambda: len(w.log.find_all(r"^reload 1( queued|: request by)")) >= 2,
                         10, "two queued reload requests")
        os.kill(first, signal.SIGKILL)
        out, err = cli.communicate(timeout=20)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 1, "gwctl reload exit {} (3 means the outcome was lost)\n" \
        "stdout {!r}\nstderr {!r}\n{}".format(cli.returncode, out, err, w.log.tail())
    assert "serving master exited" in out + err, (out, err)
    rep = raw.recv(10)
    raw.close()
    assert rep.get("ok") is False and "serving master exited" in rep.get("error", ""), rep
    assert rep["reload"]["result"] == "failed" and rep["reload"]["id"] == 1, rep
    assert w.wait_exit(20) != 0


# --------------------------------------------------------------------------
# 2. fair slots

FLOOD = r"""
import json, select, socket, sys, time
path, want, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# a request whose 4 KiB pad never arrives whole in time: trickled
msg = b"\x82\xa3cmd\xa6status\xa3pad\xda\x10\x00" + b"x" * 4096
conns = {}
st = {"connects": 0, "busy": 0, "dropped": 0, "incomplete": 0, "other": 0,
      "refused_connect": 0}
end = time.monotonic() + dur
while time.monotonic() < end:
    tries = 0
    while len(conns) < want and tries < want:
        tries += 1
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except OSError:
            st["refused_connect"] += 1
            s.close()
            continue
        conns[s] = 0
        st["connects"] += 1
    for s, off in list(conns.items()):
        try:
            s.send(msg[off:off + 1])
            conns[s] = off + 1
        except OSError:
            del conns[s]
            s.close()
    r, _, _ = select.select(list(conns), [], [], 0.2)
    for s in r:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        for key in ("busy", "dropped", "incomplete"):
            if key.encode() in data:
                st[key] += 1
                break
        else:
            if data:
                st["other"] += 1
        del conns[s]
        s.close()
print(json.dumps(st))
"""


def _other_user_or_skip():
    if not ch.can_run_as_other_user():
        pytest.skip("needs root and setpriv or su to run a client as user nobody")


def test_flood_from_another_uid_does_not_lock_out_status(gw):
    _other_user_or_skip()
    base = ch.world_traversable_dir(gw)
    gw.run_dir = base / "run"
    gw.run_dir.mkdir(mode=0o755)
    os.chmod(gw.run_dir, 0o755)
    w, master = start(gw, extra_wrapper=["--socket-group", "nogroup"])
    sock = ch.sock_path(gw)
    before = socket_fds(w.pid)
    argv = ch.as_user_argv("nobody", [helpers.PYTHON, "-c", FLOOD, str(sock), "100", "8"])
    flood = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd="/", env=gw.base_env(), stdin=subprocess.DEVNULL)
    gw.track(flood)
    try:
        # the flood is up when the daemon holds more sockets than before
        helpers.wait_for(lambda: socket_fds(w.pid) >= before + MAX_CLIENTS_UID // 2, 10,
                         "the flood's connections")
        most, answered, t_end = 0, 0, time.monotonic() + 5
        while time.monotonic() < t_end:
            # What the daemon holds, not an instant of its accept loop or
            # root's last client whose EOF it has yet to read: the lower
            # of two samples 50 ms apart.  A flood over its share stays.
            first = socket_fds(w.pid)
            time.sleep(0.05)
            most = max(most, min(first, socket_fds(w.pid)) - before)
            t0 = time.monotonic()
            r = gwctl(gw, "status", "app", timeout=10)
            took = time.monotonic() - t0
            assert r.returncode == 0, "gwctl status during the flood: exit {} {!r}\n{}".format(
                r.returncode, r.stderr, w.log.tail(20))
            assert took < 5, "gwctl status took {:.1f} s during the flood".format(took)
            st = ch.status(sock, timeout=5)        # and a raw client, as root
            assert st["master"] == master
            answered += 1
        out, err = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    stats = json.loads(ch.one_line(out))
    assert stats["busy"] + stats["dropped"] > 0, \
        "the flood never reached its limit: {!r} {!r}".format(stats, err)
    assert stats["other"] == 0, stats
    # one uid never holds more than its share (+1: one being accepted)
    assert most <= MAX_CLIENTS_UID + 1, "{} flood sockets at once (limit {})".format(
        most, MAX_CLIENTS_UID)
    assert answered >= 3
    # the refusals were logged, but rate-limited, with a summary line
    w.wait_log(r"^control: \d+ more (connections refused as busy|connections dropped for "
               r"newer ones|bad requests) in the last \d+ s$", 15)
    busy_lines = w.log.find_all(r"busy, closing pid")
    assert len(busy_lines) <= 3 * LOG_BURST, "{} busy lines logged".format(len(busy_lines))
    assert w.poll() is None
    stop(gw, w)


def test_flood_from_own_uid_drops_the_oldest_idle(gw):
    w, master = start(gw)
    sock = ch.sock_path(gw)
    conns = []
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            ch.connect_unix(s, sock, 5)
            conns.append(s)
        t0 = time.monotonic()
        # full: a newcomer is busy until the idle ones are old enough
        # to be dropped (2 s), then served
        st = helpers.wait_for(lambda: _status_or_none(sock), 8, "status with 64 idle clients")
        took = time.monotonic() - t0
        assert st["master"] == master
        assert took < 8, took
        readable, _, _ = select.select(conns, [], [], 2)
        assert readable, "no idle connection was dropped"
        data = readable[0].recv(4096)
        assert msgpack.unpackb(data, raw=False) == \
            {"ok": False, "error": "dropped: too many connections", "code": "dropped"}, data
        assert conns[0] in readable, "the oldest was not the first dropped"
    finally:
        for s in conns:
            s.close()
    w.wait_log(r"^control: dropped pid \d+ uid 0, connected", 5)
    stop(gw, w)


def _status_or_none(sock):
    try:
        return ch.status(sock, timeout=2)
    except (AssertionError, OSError, Closed, TimeoutError):
        return None


# --------------------------------------------------------------------------
# 3. truncated then EOF; nesting; 4. rate-limited logging

def test_truncated_request_then_eof_answered_at_once_and_nesting(gw):
    w, master = start(gw)
    sock = ch.sock_path(gw)
    msg = msgpack.packb({"cmd": "status"})
    with ControlClient(sock, timeout=5) as c:
        t0 = time.monotonic()
        c.send_raw(msg[:len(msg) // 2])
        c.sock.shutdown(socket.SHUT_WR)
        replies = c.wait_closed(5)
        took = time.monotonic() - t0
    assert len(replies) == 1, replies
    assert_error(replies[0], exact="request incomplete at end of file")
    assert took < 3, "answered after {:.1f} s".format(took)

    def nested(depth):   # the map is level 1, then depth arrays
        return b"\x82\xa3cmd\xa6status\xa4deep" + b"\x91" * depth + b"\xc0"
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(nested(31))          # 32 levels: an unused key, ignored
        ch.assert_status_types(c.recv())
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(nested(32))          # 33 levels: refused, with why
        assert_error(c.recv(), exact="message nested too deeply")
        assert c.wait_closed(5) == []
    stop(gw, w)


def test_bad_requests_are_logged_rate_limited(gw):
    w, master = start(gw)
    sock = ch.sock_path(gw)
    mark = w.log.mark()
    for _ in range(200):
        with ControlClient(sock, timeout=5) as c:
            c.send_raw(b"GET / HTTP/1.0\r\n\r\n", tolerate_close=True)
            try:
                c.wait_closed(5)
            except ConnectionResetError:
                pass
    m = w.wait_log(r"^control: (\d+) more bad requests in the last (\d+) s$", 15, since=mark)
    shown = w.log.find_all(r"^control: pid \d+ uid \d+: a request must be a msgpack map")
    assert len(shown) + int(m.group(1)) >= 200, (len(shown), m.group(0))
    assert len(shown) <= 2 * LOG_BURST, "{} lines for 200 bad requests".format(len(shown))
    assert ch.status(sock)["master"] == master
    stop(gw, w)


# --------------------------------------------------------------------------
# 6. reload progress, and who asked

def _progress_problems(p):
    problems = []
    fields = {"id": int, "phase": str, "elapsed": float, "budget": float, "ready": int,
              "workers": int}
    for k, t in fields.items():
        if type(p.get(k)) is not t:
            problems.append("{}: {!r}".format(k, p.get(k)))
    if not problems:
        if p["phase"] not in PHASES:
            problems.append("phase {!r}".format(p["phase"]))
        if not 0 <= p["ready"] <= max(p["workers"], 0) or p["elapsed"] < 0:
            problems.append("counts {!r}".format(p))
    return problems


def test_reload_progress_stream_status_and_who_asked(gw):
    w, master = start(gw, workers=2, app_env={"APP_BOOT": "1.5"})
    sock = ch.sock_path(gw)
    assert ch.status(sock)["progress"] is None
    gw.set_version("watched")
    msgs, statuses = [], []
    with ControlClient(sock, timeout=30) as c, ControlClient(sock, timeout=5) as s:
        c.send({"cmd": "reload", "wait": True, "progress": True})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rep = c.recv(30)
            msgs.append(rep)
            if "progress" not in rep:
                break
            if len(statuses) < 3:
                statuses.append(s.request({"cmd": "status"}))
    final = msgs[-1]
    assert final.get("ok") is True and final["reload"]["result"] == "ok", final
    progress = [m["progress"] for m in msgs[:-1]]
    assert progress, "no progress message before the outcome"
    for m in msgs[:-1]:
        assert set(m) == {"ok", "progress"} and m["ok"] is True, m
    for p in progress:
        assert not _progress_problems(p), (_progress_problems(p), p)
        assert p["id"] == final["reload"]["id"] and p["budget"] == 30.0, p
    phases = [p["phase"] for p in progress]
    assert "warming" in phases, phases
    assert [p["elapsed"] for p in progress] == sorted(p["elapsed"] for p in progress)
    # same phase: at most one message per 0.5 s (the daemon's own clock)
    for a, b in zip(progress, progress[1:]):
        if a["phase"] == b["phase"]:
            assert b["elapsed"] - a["elapsed"] >= 0.45, (a, b)
            assert (a["ready"], a["workers"]) != (b["ready"], b["workers"]), (a, b)
    assert any(p["phase"] == "warming" and p["ready"] == 2 for p in progress) or \
        any(p["phase"] in ("draining", "promoting") for p in progress), phases
    running = [st for st in statuses if st["state"] == "reloading"]
    for st in running:
        assert st["progress"] is not None and not _progress_problems(st["progress"]), st
        assert st["progress"]["id"] == final["reload"]["id"]
    assert ch.status(sock)["progress"] is None
    # who asked: this process, as root
    w.wait_log(r"^reload {}: asked for by uid {}, pid {}, on the control socket$".format(
        final["reload"]["id"], os.getuid(), os.getpid()), 5)

    # without "progress": exactly one reply, as before
    gw.set_version("quiet")
    with ControlClient(sock, timeout=30) as c:
        rep = c.request({"cmd": "reload", "wait": True}, 60)
        assert "progress" not in rep and rep["ok"] is True, rep
        c.send({"cmd": "status"})
        assert "history" in c.recv(5)
    with ControlClient(sock, timeout=5) as c:
        assert_error(c.request({"cmd": "reload", "wait": True, "progress": 1}),
                     exact="'progress' must be true or false")
    # a signal's reload says which signal asked
    mark = w.log.mark()
    gw.set_version("hup")
    w.signal(signal.SIGHUP)
    w.wait_log(r"^SIGHUP: reload requested$", 5, since=mark)
    w.wait_log(r"^reload \d+ ok: ", 60, since=mark)
    stop(gw, w)
