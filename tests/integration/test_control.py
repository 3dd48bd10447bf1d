# SPDX-License-Identifier: MIT
"""The control socket and the gwctl client, end to end.

Why this file exists: deploy scripts drive the daemon through `gwctl` and
its socket (`gwctl reload app && echo deployed`), so the protocol is a
contract.  These tests run the real daemon with real gunicorn and real HTTP
load and check:
  * every gwctl command end to end (status text/JSON/all, reload ok and
    failed under load with zero failed requests, --no-wait, set-warmup,
    stop), against /proc and the pidfile;
  * the wire format with a second, independent msgpack implementation
    (control_helpers.ControlClient): reply shapes and exact field types,
    pipelining, reload wait:true, coalescing, errors;
  * hostile and broken clients, as one table run under HTTP load: the
    daemon answers, refuses at once what can never be a request, times out
    a half request after 10 s, caps clients at 64, and gunicorn serves on;
  * peers of another user are refused by SO_PEERCRED; socket-group members
    are served;
  * a second wrapper of the same name refuses to start; a stale socket
    file is replaced;
  * gwctl's exit statuses: 2 usage, 3 unreachable (naming the socket);
    --json prints the daemon's reply as one JSON object;
  * a waiting `gwctl reload` outlives the 10 s idle timeout and gets the
    real outcome.

Run: cd /work/main && make && GW_BIN=$PWD/gunicorn-wrapper GWCTL_BIN=$PWD/gwctl \
       /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_control.py
"""

import fcntl
import json
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import termios
import threading
import time

import msgpack
import pytest

import control_helpers as ch
import helpers
from control_helpers import Closed, ControlClient, assert_error, gwctl, one_line

BOOT = {"APP_BOOT": "0.3"}   # a small import time: reloads are ~1 s
RELOAD_LINE = re.compile(r"^reload (\d+) ok: master (\d+) -> (\d+) in ([0-9]+\.[0-9]{2}) s$")
TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}"   # with its zone


def start(gw, workers=2, warmup=30, app_env=BOOT, **kw):
    """Wrapper started and ready, socket answering; returns (wrapper, master)."""
    ch.require_gwctl()
    w = gw.wrapper(workers=workers, warmup=warmup, app_env=app_env, **kw)
    master, _ = w.wait_ready(timeout=30)
    ch.wait_socket(ch.sock_path(gw), timeout=10)
    return w, master


def stop_and_check(gw, w):
    """gwctl stop: exit 0, daemon exits 0, no gunicorn, socket removed."""
    sock = ch.sock_path(gw)
    r = gwctl(gw, "stop", "app")
    assert r.returncode == 0, "gwctl stop exit {}: {!r}".format(r.returncode, r.stderr)
    rc = w.wait_exit(30)
    assert rc == 0, "daemon exit status {} after gwctl stop\n{}".format(rc, w.log.tail())
    gw.wait_no_gunicorn(10)
    assert not os.path.exists(sock), "socket {} left behind after exit".format(sock)


# --------------------------------------------------------------------------
# 1. every command through gwctl

def test_gwctl_end_to_end(gw):
    w, master = start(gw)
    sock = ch.sock_path(gw)
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode), "{} is not a socket".format(sock)
    assert stat.S_IMODE(st.st_mode) == 0o660, "socket mode {:o}, expected 660".format(
        stat.S_IMODE(st.st_mode))

    # --- status, text
    workers = ch.proc_children_file(master)
    assert len(workers) == 2, helpers.describe(workers)
    r = gwctl(gw, "status", "app")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^app: running$", out, re.M), out
    assert re.search(r"\bpid {}\b".format(w.pid), out), out
    assert re.search(r"^\s*master\s+{}$".format(master), out, re.M), out
    m = re.search(r"^\s*workers\s+([\d ]+)$", out, re.M)
    assert m and sorted(int(x) for x in m.group(1).split()) == workers, out
    assert re.search(r"^\s*warm-up\s+30 s \(heartbeat\)$", out, re.M), out
    assert "no reloads yet" in out, out

    # --- status, JSON
    js = ch.gwctl_json(gw, "status", "app")
    assert js["ok"] is True and js["name"] == "app" and js["state"] == "running", js
    assert js["pid"] == w.pid and js["master"] == master, js
    assert sorted(js["workers"]) == workers and js["history"] == [], js
    assert js["warmup"] == 30 and js["ready"] == "heartbeat", js

    # --- status of every daemon in the run dir
    r = gwctl(gw, "status")
    assert r.returncode == 0, r.stderr
    line = one_line(r.stdout)
    assert re.match(r"^app\s+RUNNING\s+pid {}, master {}, 2 workers, uptime [0-9.]+s".format(
        w.pid, master), line), line
    alljs = ch.gwctl_json(gw, "status")
    assert list(alljs) == ["app"] and alljs["app"]["master"] == master, alljs

    with gw.load(clients=4) as load:
        load.wait_version("1", 10)

        # --- a good reload under load
        gw.set_version("2")
        r = gwctl(gw, "reload", "app", timeout=40)
        assert r.returncode == 0, "gwctl reload exit {}: {!r}\n{}".format(
            r.returncode, r.stderr, w.log.tail())
        m = RELOAD_LINE.match(one_line(r.stdout))
        assert m, r.stdout
        rid, old, new = int(m.group(1)), int(m.group(2)), int(m.group(3))
        assert rid == 1 and old == master and new != master, r.stdout
        w.wait_log(r"^reload 1 ok: master {} -> {}".format(old, new), 5)
        load.wait_version("2", 10)
        gw.wait_gone([master], 15, "the old master to exit")

        js = ch.gwctl_json(gw, "status", "app")
        entry = js["history"][-1]
        assert js["master"] == new == entry["new_master"] == ch.pidfile_master(gw), \
            (js, ch.pidfile_master(gw))
        new_workers = ch.proc_children_file(new)
        assert len(new_workers) == 2 and sorted(js["workers"]) == new_workers, \
            (js["workers"], new_workers)
        assert entry["id"] == 1 and entry["trigger"] == "control", entry
        assert entry["result"] == "ok" and entry["reason"] is None, entry
        assert entry["old_master"] == master and entry["workers"] == 2, entry
        assert abs(entry["duration"] - float(m.group(4))) < 0.01, (entry, r.stdout)
        r = gwctl(gw, "status", "app")
        assert re.search(r"^\s*master\s+{}$".format(new), r.stdout, re.M), r.stdout
        m_w = re.search(r"^\s*workers\s+([\d ]+)$", r.stdout, re.M)
        assert m_w and sorted(int(x) for x in m_w.group(1).split()) == new_workers, r.stdout
        row = re.search(r"^\s*1\s+{}\s+ok\s+{}\s+->\s+{}\s+{:.2f} s\s*$".format(
            TIMESTAMP, master, new, entry["duration"]), r.stdout, re.M)
        assert row, "no history row for reload 1:\n" + r.stdout

        # --- a failed reload under load
        gw.set_version("broken")
        r = gwctl(gw, "reload", "app", timeout=40)
        assert r.returncode == 1, "broken deploy: gwctl exit {}: {!r} {!r}".format(
            r.returncode, r.stdout, r.stderr)
        m = re.match(r"^gwctl: reload 2 failed: (.+)$", one_line(r.stderr))
        assert m, r.stderr
        reason = m.group(1)
        assert not RELOAD_LINE.match(r.stdout.strip()), r.stdout
        w.wait_log(r"^reload 2 failed: " + re.escape(reason), 5)
        helpers.wait_for(lambda: gw.masters() == [new], 15, "only the serving master to remain",
                         on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
        after = load.wait_more(20, 10)
        assert {x.version for x in after} == {"2"}, load.summary()
        js = ch.gwctl_json(gw, "status", "app")
        entry = js["history"][-1]
        assert js["master"] == new == ch.pidfile_master(gw), js
        assert entry["id"] == 2 and entry["result"] == "failed", entry
        assert entry["reason"] == reason and entry["old_master"] == new, entry
        r = gwctl(gw, "status", "app")
        row = re.search(r"^\s*2\s+{}\s+failed\s+{}\s+->\s+\S+\s+[0-9.]+ s\s+(.*)$".format(
            TIMESTAMP, new), r.stdout, re.M)
        assert row and reason in row.group(1), "no failed row with the reason:\n" + r.stdout
        gw.set_version("2")

        # --- set-warmup
        r = gwctl(gw, "set-warmup", "app", "12.5")
        assert r.returncode == 0, r.stderr
        js = ch.gwctl_json(gw, "status", "app")
        assert js["warmup"] == 12.5, js
        r = gwctl(gw, "status", "app")
        assert re.search(r"^\s*warm-up\s+12\.5 s \(heartbeat\)$", r.stdout, re.M), r.stdout
        js = ch.gwctl_json(gw, "set-warmup", "app", "20")
        assert js == {"ok": True, "old": 12.5, "new": 20.0}, js

        # --- set: any key of the settings table; reload 3 has no probation
        js = ch.gwctl_json(gw, "set", "app", "probation", "0")
        assert js == {"ok": True, "key": "probation", "old": 1.0, "new": 0.0}, js
        r = gwctl(gw, "set", "app", "warmup", "25")
        assert r.returncode == 0 and one_line(r.stdout) == \
            "app: warmup 20 s -> 25 s (applies to the next reload)", r
        js = ch.gwctl_json(gw, "status", "app")
        assert js["warmup"] == 25 and js["probation"] == 0, js
        assert re.search(r"^\s*probation\s+0 s$", gwctl(gw, "status", "app").stdout, re.M)
        w.wait_log(r"^setting probation 1 s -> 0 s \(by control, pid \d+, uid \d+\); "
                   r"applies to the next reload$", 5)

        # --- reload --no-wait
        gw.set_version("3")
        t0 = time.monotonic()
        r = gwctl(gw, "reload", "app", "--no-wait", timeout=10)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        m = re.match(r"^reload (\d+) requested$", one_line(r.stdout))
        assert m and int(m.group(1)) == 3, r.stdout
        e = ch.wait_history(sock, lambda e: e["id"] == 3 and e["result"] != "running", 30,
                            "reload 3 to finish")
        assert e["result"] == "ok" and e["trigger"] == "control", e
        assert e["t_probation"] is None, "set probation 0 did not apply: {}".format(e)
        assert ch.gwctl_json(gw, "set", "app", "probation", "1")["new"] == 1.0
        # had gwctl waited for the reload, it would have taken longer than it
        assert took < e["duration"], "--no-wait took {:.2f} s, the reload {:.2f} s".format(
            took, e["duration"])
        load.wait_version("3", 10)
        js = ch.gwctl_json(gw, "status", "app")
        assert js["master"] == e["new_master"] == ch.pidfile_master(gw), (js, e)
    load.assert_no_failures()
    r = gwctl(gw, "status")
    assert r.returncode == 0, r.stderr
    assert re.search(r", last reload 3 ok$", one_line(r.stdout)), r.stdout

    # --- stop
    stop_and_check(gw, w)
    assert w.log.find(r"stop requested by control") is not None, w.log.tail()


# --------------------------------------------------------------------------
# 2. the wire format, checked by a second implementation

def test_wire_protocol(gw):
    # probation 1 s: this connection stays idle through two reloads
    w, master = start(gw, app_env=dict(BOOT, GW_PROBATION="1"))
    sock = ch.sock_path(gw)

    with ControlClient(sock) as c:
        st = c.request({"cmd": "status"})
        ch.assert_status_types(st)
        assert st["name"] == "app" and st["pid"] == w.pid and st["master"] == master, st
        assert st["state"] == "running" and st["reload_pending"] is False, st
        assert st["warmup"] == 30.0 and st["ready"] == "heartbeat" and st["history"] == [], st
        assert sorted(st["workers"]) == ch.proc_children_file(master), st
        assert st["uptime"] > 0 and isinstance(st["version"], str) and st["version"], st

        # several requests pipelined in one write: replies in order, same connection
        c.send_raw(c.pack({"cmd": "status"}) + c.pack({"cmd": "set-warmup", "seconds": 12.5})
                   + c.pack({"cmd": "status"}) + c.pack({"cmd": "set-warmup", "seconds": 7}))
        r1, r2, r3, r4 = (c.recv() for _ in range(4))
        ch.assert_status_types(r1)
        assert r1["warmup"] == 30.0, r1
        assert r2 == {"ok": True, "old": 30.0, "new": 12.5}, r2
        assert isinstance(r2["old"], float) and isinstance(r2["new"], float), r2
        ch.assert_status_types(r3)
        assert r3["warmup"] == 12.5 and r3["uptime"] >= r1["uptime"], r3
        assert r4 == {"ok": True, "old": 12.5, "new": 7.0} and isinstance(r4["new"], float), r4

        # boundaries that are valid
        for seconds in (3600, 3600.0, 0.001):
            rep = c.request({"cmd": "set-warmup", "seconds": seconds})
            assert rep.get("ok") is True and rep["new"] == float(seconds), (seconds, rep)
        rep = c.request({"cmd": "set-warmup", "seconds": 30})
        assert rep.get("ok") is True, rep
        # unknown extra keys are ignored
        rep = c.request({"cmd": "status", "extra": [1, 2, {"x": None}]})
        ch.assert_status_types(rep)

        # reload wait:true, then a status pipelined behind it on the same connection
        gw.set_version("2")
        c.send_raw(c.pack({"cmd": "reload", "wait": True}) + c.pack({"cmd": "status"}))
        rep = c.recv(timeout=40)
        assert set(rep) == {"ok", "reload"} and rep["ok"] is True, rep
        e = rep["reload"]
        assert not ch.entry_problems(e), ch.entry_problems(e)
        assert e["id"] == 1 and e["trigger"] == "control" and e["result"] == "ok", e
        assert e["old_master"] == master and e["new_master"] not in (None, master), e
        assert e["workers"] == 2 and e["duration"] > 0, e
        assert abs(e["started"] - time.time()) < 60, e
        st = c.recv()
        ch.assert_status_types(st)
        assert st["master"] == e["new_master"] and st["history"][-1] == e, (st, e)
        new = e["new_master"]

        # reload wait:false
        rep = c.request({"cmd": "reload", "wait": False})
        assert set(rep) == {"ok", "id"} and rep["ok"] is True and rep["id"] == 2, rep
        assert type(rep["id"]) is int, rep
        rep2 = c.request({"cmd": "reload"})     # wait defaults to false
        assert rep2.get("ok") is True and set(rep2) == {"ok", "id"}, rep2
        assert rep2["id"] in (2, 3), rep2        # coalesced into 2 or queued as 3
        last = ch.wait_history(sock, lambda x: x["id"] == rep2["id"] and x["result"] != "running",
                               40, "reload {} to finish".format(rep2["id"]))
        assert last["result"] == "ok", last
        st = c.request({"cmd": "status"})
        ch.assert_status_types(st)
        ids = [x["id"] for x in st["history"]]
        assert ids == list(range(1, rep2["id"] + 1)), ids
        assert all(x["result"] == "ok" for x in st["history"]), st["history"]
        assert st["history"][1]["old_master"] == new, st["history"]
        assert st["reload_pending"] is False and st["state"] == "running", st

    # errors, each on a fresh connection, each reply exactly
    # {"ok": false, "error": str, "code": str}, the code by what is wrong
    U, M, A = "unknown-command", "malformed", "bad-argument"
    errors = [
        ({"cmd": "x"}, "unknown command 'x'", U),
        ({"cmd": ""}, "unknown command ''", U),
        ({"cmd": "STATUS"}, "unknown command 'STATUS'", U),
        ({}, None, M),
        ({"command": "status"}, None, M),
        ({"cmd": "reload", "wait": "yes"}, "'wait' must be true or false", A),
        ({"cmd": "reload", "wait": 1}, "'wait' must be true or false", A),
        ({"cmd": "set-warmup", "seconds": "5"}, None, A),
        ({"cmd": "set-warmup", "seconds": 0}, None, A),
        ({"cmd": "set-warmup", "seconds": 0.0}, None, A),
        ({"cmd": "set-warmup", "seconds": -1}, None, A),
        ({"cmd": "set-warmup", "seconds": 3601}, None, A),
        ({"cmd": "set-warmup", "seconds": 3600.001}, None, A),
        ({"cmd": "set-warmup", "seconds": float("nan")}, None, A),
        ({"cmd": "set-warmup", "seconds": float("inf")}, None, A),
        ({"cmd": "set-warmup", "seconds": None}, None, A),
        ({"cmd": "set-warmup", "seconds": True}, None, A),
        ({"cmd": "set-warmup", "seconds": [5]}, None, A),
        ({"cmd": "set-warmup"}, None, A),
        ({"cmd": "set", "key": "x", "value": 5}, "unknown setting 'x' (warmup, probation)", A),
        ({"cmd": "set", "key": "probation", "value": -1},
         "probation must be a number of seconds, 0 <= s <= 600", A),
        ({"cmd": "set", "key": "warmup", "value": 0}, None, A),
        ({"cmd": "set", "key": "warmup", "value": "5"}, None, A),
        ({"cmd": "set", "key": "warmup"}, "set needs 'value'", A),
        ({"cmd": "set", "value": 5}, "set needs 'key', a string", A),
        ({"cmd": "set", "key": 1, "value": 5}, "set needs 'key', a string", A),
        ({"cmd": 1}, None, M),
        ({"cmd": None}, None, M),
        ({"cmd": True}, None, M),
        ({"cmd": ["status"]}, None, M),
        ({"cmd": {"status": 1}}, None, M),
        ({"cmd": b"status"}, None, M),      # bin, not str
    ]
    bad = []
    for req, exact, code in errors:
        try:
            rep = ch.call(sock, req, timeout=5)
            assert_error(rep, exact=exact, code=code)
        except (AssertionError, OSError, Closed, TimeoutError) as exc:
            bad.append("{!r}: {}".format(req, exc))
    assert not bad, "error replies:\n  " + "\n  ".join(bad)
    st = ch.status(sock)
    assert st["warmup"] == 30.0, "a refused set-warmup changed the budget: {!r}".format(st)

    # a SIGHUP reload is recorded with trigger "signal"
    n = st["history"][-1]["id"] + 1
    w.signal(signal.SIGHUP)
    e = ch.wait_history(sock, lambda x: x["id"] == n and x["result"] != "running", 30,
                        "the SIGHUP reload to finish")
    assert e["trigger"] == "signal" and e["result"] == "ok", e

    # stop through the raw protocol: {"ok": true}, then a graceful exit 0
    rep = ch.call(sock, {"cmd": "stop"})
    assert rep == {"ok": True}, rep
    assert w.wait_exit(30) == 0, w.log.tail()
    gw.wait_no_gunicorn(10)
    assert not os.path.exists(sock), "socket left behind"


def test_set_applies_to_the_next_reload(gw):
    """A setting changed while a reload runs is the next reload's: the one
    in flight keeps the warm-up budget and probation it started with."""
    w, master = start(gw, app_env={"APP_BOOT": "1.5"})
    sock = ch.sock_path(gw)
    gw.set_version("2")
    r = ch.gwctl(gw, "reload", "app", "--no-wait", timeout=10)
    assert r.returncode == 0, r.stderr
    helpers.wait_for(lambda: ch.status(sock)["reload_state"] == "warming", 10,
                     "reload 1 warming")
    assert ch.gwctl(gw, "set", "app", "warmup", "0.5").returncode == 0
    assert ch.gwctl(gw, "set", "app", "probation", "3").returncode == 0
    e = ch.wait_history(sock, lambda e: e["id"] == 1 and e["result"] != "running", 40,
                        "reload 1 to finish")
    assert e["result"] == "ok" and e["t_probation"] < 2.5, e
    # The next one has them: a 0.5 s budget for a 1.5 s import fails.
    gw.set_version("3")
    r = ch.gwctl(gw, "reload", "app", timeout=40)
    assert r.returncode == 1 and "not ready after 0.5 s" in r.stderr, r.stderr
    gw.wait_serving("2")
    stop_and_check(gw, w)


def test_reload_requests_coalesce(gw):
    """Reload requests during a running reload coalesce into one queued
    reload; each waiting client gets the outcome of the reload that
    includes its request."""
    ch.require_gwctl()
    w = gw.wrapper(workers=2, warmup=30, app_env={"APP_BOOT": "1.5"})
    sock = ch.sock_path(gw)
    # while the first generation imports (1.5 s), status says "starting"
    st = helpers.wait_for(lambda: _status_ok(sock), 10, "the socket to answer")
    booted = w.log.find(r"^master \d+ ready") is not None
    ch.assert_status_types(st)
    if not booted:
        assert st["state"] == "starting" and st["history"] == [], st
    master, _ = w.wait_ready(timeout=30)
    assert ch.status(sock)["master"] == master
    a = ControlClient(sock, timeout=40)
    others = []
    try:
        a.send({"cmd": "reload", "wait": True})
        ch.wait_history(sock, lambda e: e["id"] == 1 and e["result"] == "running", 5,
                        "reload 1 to be running")
        st = ch.status(sock)
        assert st["state"] == "reloading" and st["reload_pending"] is False, st
        ch.assert_status_types(st)
        # during a reload: master is still the old one, and "workers" are its
        # workers only (not the new master it forked)
        assert st["master"] == master, st
        assert st["history"][-1]["old_master"] == master, st
        for pid in st["workers"]:
            assert helpers.ppid_of(pid) == master and not helpers.children(pid), \
                "status workers {} include a non-worker {}: {}".format(
                    st["workers"], pid, helpers.describe([pid]))
        for _ in range(2):
            b = ControlClient(sock, timeout=40)
            others.append(b)
            b.send({"cmd": "reload", "wait": True})
        rep = ch.call(sock, {"cmd": "reload", "wait": False})
        assert rep.get("ok") is True and rep["id"] == 2, rep
        st = ch.status(sock)
        assert st["reload_pending"] is True, st
        assert [e["id"] for e in st["history"]] == [1], st["history"]
        ra = a.recv(40)
        assert ra["ok"] is True and ra["reload"]["id"] == 1, ra
        for b in others:
            rb = b.recv(40)
            assert rb["ok"] is True and rb["reload"]["id"] == 2, rb
            assert rb["reload"]["old_master"] == ra["reload"]["new_master"], (ra, rb)
    finally:
        a.close()
        for b in others:
            b.close()
    st = ch.status(sock)
    assert [e["id"] for e in st["history"]] == [1, 2], st["history"]
    assert st["reload_pending"] is False and st["state"] == "running", st
    assert w.log.find(r"^reload 3\b") is None, w.log.tail()
    serving = st["master"]

    # set-warmup applies to the next reload: a 0.5 s budget for a 1.5 s import fails
    rep = ch.call(sock, {"cmd": "set-warmup", "seconds": 0.5})
    assert rep == {"ok": True, "old": 30.0, "new": 0.5}, rep
    rep = ch.call(sock, {"cmd": "reload", "wait": True}, timeout=40)
    assert rep["ok"] is False and rep["reload"]["result"] == "failed", rep
    assert set(rep) == {"ok", "error", "code", "reload"} and rep["code"] == "failed" and \
        rep["error"] == rep["reload"]["reason"], rep
    assert "not ready" in rep["error"], rep
    assert rep["reload"]["id"] == 3 and rep["reload"]["old_master"] == serving, rep
    assert not ch.entry_problems(rep["reload"]), ch.entry_problems(rep["reload"])
    st = ch.status(sock)
    assert st["master"] == serving and st["warmup"] == 0.5, st
    gw.wait_serving(timeout=10, master=serving)


# --------------------------------------------------------------------------
# 3. bad input: one table, one runner, under HTTP load

def _expect_refused(sock, data, error=None, contains=None, within=2.0):
    """Send data; expect an error reply then a close, both within `within` s."""
    t0 = time.monotonic()
    with ControlClient(sock, timeout=within + 3) as c:
        c.send_raw(data, tolerate_close=True)
        replies = c.wait_closed(within + 3)
    took = time.monotonic() - t0
    assert len(replies) == 1, "expected one error reply, got {!r}".format(replies)
    assert_error(replies[0], exact=error, contains=contains)
    assert took < within, "refusal took {:.2f} s (>= {} s)".format(took, within)
    return replies[0]


def _expect_error_reply(sock, req, exact=None):
    with ControlClient(sock, timeout=5) as c:
        c.send(req)
        assert_error(c.recv(), exact=exact)


def case_garbage(sock):
    _expect_refused(sock, b"hello\n", error="a request must be a msgpack map", within=2.0)


def case_http_request(sock):
    _expect_refused(sock, b"GET / HTTP/1.0\r\n\r\n", error="a request must be a msgpack map")


def case_binary_zeros(sock):
    _expect_refused(sock, b"\x00" * 100, error="a request must be a msgpack map")


def case_non_map_values(sock):
    for obj in ([1, 2], "status", 42, None, True, b"\x81\xa3cmd"):
        _expect_refused(sock, msgpack.packb(obj, use_bin_type=True),
                        error="a request must be a msgpack map")


def case_reserved_byte(sock):
    _expect_refused(sock, b"\x81\xa3cmd\xc1")


def case_map32_4g(sock):
    _expect_refused(sock, b"\xdf\xff\xff\xff\xff")


def case_map16_65535(sock):
    _expect_refused(sock, b"\xde\xff\xff")


def case_array32_4g_value(sock):
    _expect_refused(sock, b"\x81\xa3cmd\xdd\xff\xff\xff\xff")


def case_str32_4g_value(sock):
    _expect_refused(sock, b"\x81\xa3cmd\xdb\xff\xff\xff\xff")


def case_huge_message(sock):
    msg = msgpack.packb({"cmd": "status", "pad": "x" * (1024 * 1024)})
    _expect_refused(sock, msg, within=3.0)


def case_just_over_64k(sock):
    msg = msgpack.packb({"cmd": "status", "pad": "x" * (ch.MAX_MESSAGE + 100)})
    _expect_refused(sock, msg, within=3.0)


def case_just_under_64k(sock):
    """A valid request of ~60 KiB is served normally."""
    msg = msgpack.packb({"cmd": "status", "pad": "x" * (60 * 1024)})
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(msg)
        ch.assert_status_types(c.recv())


def _sized(n):
    """A valid status request of exactly n bytes (a padding string)."""
    base = len(msgpack.packb({"cmd": "status", "pad": ""}))
    for k in range(max(0, n - base - 5), n - base + 5):
        msg = msgpack.packb({"cmd": "status", "pad": "x" * k})
        if len(msg) == n:
            return msg
    raise AssertionError("cannot make a {} byte request".format(n))


def case_exactly_64k(sock):
    """64 KiB is the limit: a 65536-byte request is served, 65537 refused."""
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(_sized(ch.MAX_MESSAGE))
        ch.assert_status_types(c.recv())
    _expect_refused(sock, _sized(ch.MAX_MESSAGE + 1), contains="too large", within=3.0)


def case_pipelined_large(sock):
    """Four 30 KB requests in one write (120 KB in all): four replies."""
    msg = msgpack.packb({"cmd": "status", "pad": "x" * 30000})
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(msg * 4)
        for _ in range(4):
            ch.assert_status_types(c.recv())


def case_deeply_nested(sock):
    for depth in (40, 3000, 5000, 100000):
        data = b"\x82\xa3cmd\xa6status\xa4deep" + b"\x91" * depth + b"\xc0"
        _expect_refused(sock, data, within=3.0)


def case_many_elements(sock):
    # {"cmd": "status", "a": [0] * 10000}: too many elements
    _expect_refused(sock, msgpack.packb({"cmd": "status", "a": [0] * 10000}))


def case_wrong_types(sock):
    _expect_error_reply(sock, {"cmd": "reload", "wait": "yes"}, "'wait' must be true or false")
    _expect_error_reply(sock, {"cmd": "set-warmup", "seconds": "5"})
    _expect_error_reply(sock, {"cmd": 7})
    _expect_error_reply(sock, {"cmd": b"\xff\xfe"})


def case_unknown_commands(sock):
    _expect_error_reply(sock, {"cmd": "x"}, "unknown command 'x'")
    _expect_error_reply(sock, {"cmd": "reboot"}, "unknown command 'reboot'")
    with ControlClient(sock, timeout=5) as c:
        c.send({"cmd": "\x1b[2J\n" + "y" * 5000})
        rep = c.recv()
        assert_error(rep, contains="unknown command")
        assert len(rep["error"]) < 200 and "\x1b" not in rep["error"] \
            and "\n" not in rep["error"], rep


def _unread_bytes(sock):
    """Bytes queued for us to read on sock (FIONREAD)."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def _wait_replies_settle(sock, timeout):
    """Until replies have come and stopped coming (the same count over three
    polls 50 ms apart), or the peer is gone; AssertionError at the deadline."""
    seen = []

    def settled():
        try:
            seen.append(_unread_bytes(sock))
        except OSError:
            return True
        return len(seen) >= 3 and seen[-1] > 0 and seen[-1] == seen[-2] == seen[-3]
    helpers.wait_for(settled, timeout, "the daemon to stop answering a client that does "
                     "not read", interval=0.05, on_timeout=lambda: seen[-5:])


def _assert_stays(pred, seconds, describe):
    """pred() holds now and at every poll for `seconds`: fails at once when not."""
    deadline = time.monotonic() + seconds
    while True:
        assert pred(), describe()
        if time.monotonic() >= deadline:
            return
        time.sleep(helpers.POLL)


def case_invalid_utf8_str(sock):
    # a str with invalid UTF-8 as cmd: any error reply, daemon fine
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(b"\x81\xa3cmd\xa7st\xffatus")   # str type, invalid UTF-8
        assert_error(c.recv(), contains="unknown command")


def case_one_byte_at_a_time(sock):
    """A valid request trickled in byte by byte is reassembled."""
    msg = msgpack.packb({"cmd": "status"})
    with ControlClient(sock, timeout=5) as c:
        for i in range(len(msg)):
            c.send_raw(msg[i:i + 1])
            time.sleep(0.02)
        ch.assert_status_types(c.recv())


def case_valid_then_garbage(sock):
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(msgpack.packb({"cmd": "status"}) + b"garbage")
        replies = c.wait_closed(5)
    assert len(replies) == 2, replies
    ch.assert_status_types(replies[0])
    assert_error(replies[1], exact="a request must be a msgpack map")


def case_never_reads_replies(sock):
    """4000 pipelined status requests from a client that never reads: the
    daemon stops reading it (bounded output) and serves others meanwhile."""
    c = ControlClient(sock, timeout=3)
    try:
        c.sock.setblocking(False)
        data = msgpack.packb({"cmd": "status"}) * 4000
        sent = 0
        deadline = time.monotonic() + 2
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += c.sock.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        # the daemon has stopped answering it: its replies, unread, no
        # longer grow (the output cap), or it was dropped
        _wait_replies_settle(c.sock, 5)
        t0 = time.monotonic()
        ch.assert_status_types(ch.status(sock, timeout=3))
        assert time.monotonic() - t0 < 1.5, "status slow while a client does not read"
    finally:
        c.close()


def case_half_then_disconnect(sock):
    with ControlClient(sock, timeout=5) as c:
        c.send_raw(msgpack.packb({"cmd": "reload", "wait": True})[:5])


def case_200_connections(sock):
    conns, served, busy, closed_silently, other = [], [], [], [], []
    try:
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            conns.append(s)
            ch.connect_unix(s, sock, 5)
        # let the daemon accept (and refuse) them all: wait until at most 64
        # are still quiet and that number has been stable for 0.3 s (bounded)
        deadline = time.monotonic() + 8
        quiet, stable_since = None, time.monotonic()
        while time.monotonic() < deadline:
            readable, _, _ = select.select(conns, [], [], 0.1)
            n = len(conns) - len(readable)
            if n != quiet:
                quiet, stable_since = n, time.monotonic()
            elif n <= ch.MAX_CLIENTS and time.monotonic() - stable_since >= 0.3:
                break
        for s in conns:
            s.setblocking(False)
            try:
                data = s.recv(4096)
            except BlockingIOError:
                served.append(s)        # open and quiet: being served
                continue
            except ConnectionResetError:
                closed_silently.append(s)
                continue
            if not data:
                closed_silently.append(s)
                continue
            try:
                rep = msgpack.unpackb(data, raw=False)
            except Exception:
                other.append(data)
                continue
            if rep == {"ok": False, "error": "busy", "code": "busy"}:
                busy.append(s)
            else:
                other.append(rep)
        assert not other, "unexpected replies: {!r}".format(other[:5])
        assert len(served) <= ch.MAX_CLIENTS, "{} connections served at once".format(len(served))
        assert len(served) >= ch.MAX_CLIENTS - 8, \
            "only {} served (busy {}, closed {})".format(len(served), len(busy),
                                                          len(closed_silently))
        assert len(served) + len(busy) + len(closed_silently) == 200
        assert busy, "no connection was told 'busy' (closed silently: {})".format(
            len(closed_silently))
        # the served ones really are served, all at once
        req = msgpack.packb({"cmd": "status"})
        for s in served:
            s.settimeout(5)
            s.sendall(req)
        for s in served:
            u = msgpack.Unpacker(raw=False)
            deadline = time.monotonic() + 5
            while True:
                try:
                    rep = u.unpack()
                    break
                except msgpack.OutOfData:
                    pass
                assert time.monotonic() < deadline, "a served connection got no status"
                s.settimeout(max(0.01, deadline - time.monotonic()))
                data = s.recv(65536)
                assert data, "a served connection was closed"
                u.feed(data)
            assert rep.get("ok") is True, rep
    finally:
        for s in conns:
            s.close()
    # slots are given back: a fresh connection is served (bounded retry)
    helpers.wait_for(lambda: _status_ok(sock), 5, "status after the 200 connections")


def _status_ok(sock):
    try:
        return ch.status(sock, timeout=2)
    except (AssertionError, OSError, Closed, TimeoutError):
        return None


def make_case_reload_then_disconnect(gw):
    def case_reload_then_disconnect(sock):
        before = ch.status(sock)
        last_id = before["history"][-1]["id"] if before["history"] else 0
        gw.set_version("disc")
        c = ControlClient(sock, timeout=5)
        c.send({"cmd": "reload", "wait": True})
        c.close()
        e = ch.wait_history(sock, lambda x: x["id"] == last_id + 1 and x["result"] != "running",
                            30, "the abandoned reload to finish")
        assert e["result"] == "ok" and e["trigger"] == "control", e
        assert e["old_master"] == before["master"], (before, e)
        st = ch.status(sock)
        assert st["master"] == e["new_master"] and st["state"] == "running", st
        assert st["reload_pending"] is False and len(st["history"]) == last_id + 1, st
        helpers.wait_for(lambda: helpers.http_get(gw.port)[1].startswith("version=disc "), 10,
                         "the new version to be served")
    return case_reload_then_disconnect


TABLE = [
    case_garbage, case_http_request, case_binary_zeros, case_non_map_values,
    case_reserved_byte, case_map32_4g, case_map16_65535, case_array32_4g_value,
    case_str32_4g_value, case_huge_message, case_just_over_64k, case_just_under_64k,
    case_exactly_64k, case_pipelined_large,
    case_deeply_nested, case_many_elements, case_wrong_types, case_unknown_commands,
    case_invalid_utf8_str, case_one_byte_at_a_time, case_valid_then_garbage,
    case_half_then_disconnect, case_never_reads_replies, case_200_connections,
]


def _truncated_request(sock, result):
    """Half a valid message, then silence: `request incomplete` after ~10 s,
    then the daemon closes.  Runs in a thread, alongside the table."""
    try:
        msg = msgpack.packb({"cmd": "status"})
        with ControlClient(sock, timeout=20) as c:
            t0 = time.monotonic()
            c.send_raw(msg[:len(msg) // 2])
            replies = c.wait_closed(20)
            took = time.monotonic() - t0
        assert len(replies) == 1, "expected one error reply, got {!r}".format(replies)
        assert_error(replies[0], contains="request incomplete")
        assert ch.IDLE_TIMEOUT - 0.5 <= took <= ch.IDLE_TIMEOUT + 3, \
            "incomplete request answered after {:.2f} s".format(took)
        result["ok"] = True
    except BaseException as exc:  # reported by the main thread
        result["error"] = "{}: {}".format(type(exc).__name__, exc)


def test_bad_input_table(gw):
    w, master = start(gw)
    sock = ch.sock_path(gw)
    table = TABLE + [make_case_reload_then_disconnect(gw)]
    failures = []
    slow = {}
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        th = threading.Thread(target=_truncated_request, args=(sock, slow), daemon=True)
        th.start()
        for case in table:
            t0 = time.monotonic()
            try:
                case(sock)
            except Exception as exc:
                failures.append("{}: {}: {}".format(case.__name__, type(exc).__name__, exc))
            took = time.monotonic() - t0
            # after every case: status on a fresh connection, HTTP still served
            try:
                st = ch.status(sock, timeout=5)
                ch.assert_status_types(st)
                assert st["state"] == "running", st
                ch.assert_serving(gw, load, n=3, timeout=10)
            except Exception as exc:
                failures.append("after {} ({:.1f} s): daemon/HTTP check: {}: {}".format(
                    case.__name__, took, type(exc).__name__, exc))
            assert w.poll() is None, "daemon exited during {}\n{}".format(
                case.__name__, w.log.tail())
        th.join(25)
        assert not th.is_alive(), "truncated-request client did not finish"
        if not slow.get("ok"):
            failures.append("case_truncated_request: " + slow.get("error", "?"))
        ch.status(sock)
    load.assert_no_failures()
    assert w.poll() is None, w.log.tail()
    assert not failures, "{} of {} cases failed:\n  {}\n--- log tail ---\n{}".format(
        len(failures), len(table) + 1, "\n  ".join(failures), w.log.tail(30))
    # the bad clients were logged as control warnings
    assert w.log.find(r"^control: ") is not None, w.log.tail()
    # the gunicorn generation that served all along is the last reload's
    st = ch.status(sock)
    assert gw.masters() == [st["master"]], helpers.describe(gw.gunicorn_procs())


# --------------------------------------------------------------------------
# 4. peers of another user

def _other_user_or_skip():
    if not ch.can_run_as_other_user():
        pytest.skip("needs root and setpriv or su to run a client as user nobody")


def test_other_user_refused(gw):
    _other_user_or_skip()
    base = ch.world_traversable_dir(gw)
    gwctl_copy = ch.copy_gwctl(base)
    gw.run_dir = base / "run"       # this test's run dir: traversable by nobody
    gw.run_dir.mkdir(mode=0o755)
    os.chmod(gw.run_dir, 0o755)
    w, master = start(gw)
    sock = ch.sock_path(gw)
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o660

    # socket 0660: connect() itself fails for nobody; gwctl says unreachable
    # (status NAME says 4, "status unknown", as LSB scripts do)
    r = gwctl(gw, "status", "app", user="nobody", binary=gwctl_copy)
    assert r.returncode == 4, "gwctl as nobody on a 0660 socket: exit {} {!r}".format(
        r.returncode, r.stderr)
    assert str(sock) in one_line(r.stderr), r.stderr

    # socket 0666: connect() works, SO_PEERCRED must refuse
    os.chmod(sock, 0o666)
    out = ch.run_peer_as(gw, "nobody", sock)
    assert "connect_error" not in out, out
    assert out["replies"] == [{"ok": False, "error": "permission denied", "code": "denied"}], out
    assert out["closed"] is True, "connection not closed after the refusal: {!r}".format(out)
    w.wait_log(r"^control: .*\b65534\b.*permission denied", 5)

    for args in (["status", "app"], ["reload", "app"], ["stop", "app"],
                 ["-s", str(sock), "set-warmup", "5"]):
        r = gwctl(gw, *args, user="nobody", binary=gwctl_copy)
        assert r.returncode in ((4,) if args[0] == "status" else (1, 3)), \
            "gwctl {} as nobody: exit {} {!r}".format(
            args, r.returncode, r.stderr)
        line = one_line(r.stderr)
        assert str(sock) in line, line
        if r.returncode == 1:   # the daemon's refusal was read: it must be shown
            assert "permission denied" in line, line
        assert not r.stdout.strip(), r.stdout
    # nothing happened: no reload, same master, still running, warm-up unchanged
    st = ch.status(sock)
    assert st["history"] == [] and st["master"] == master and st["warmup"] == 30.0, st
    assert w.poll() is None and gw.masters() == [master]
    gw.wait_serving(timeout=5, master=master)
    stop_and_check(gw, w)


def test_socket_group_member_served(gw):
    """--socket-group nogroup: the socket is root:nogroup 0660 and a peer
    whose group is nogroup is served."""
    _other_user_or_skip()
    base = ch.world_traversable_dir(gw)
    gwctl_copy = ch.copy_gwctl(base)
    gw.run_dir = base / "run"
    gw.run_dir.mkdir(mode=0o755)
    os.chmod(gw.run_dir, 0o755)
    w, master = start(gw, extra_wrapper=["--socket-group", "nogroup"])
    sock = ch.sock_path(gw)
    st = os.lstat(sock)
    import grp
    assert st.st_gid == grp.getgrnam("nogroup").gr_gid, "socket group {}".format(st.st_gid)
    assert stat.S_IMODE(st.st_mode) == 0o660
    out = ch.run_peer_as(gw, "nobody", sock)
    assert "connect_error" not in out, out
    assert len(out["replies"]) == 1 and out["replies"][0].get("ok") is True, out
    assert out["replies"][0]["master"] == master, out
    r = gwctl(gw, "status", "app", user="nobody", binary=gwctl_copy)
    assert r.returncode == 0, r.stderr
    stop_and_check(gw, w)


# --------------------------------------------------------------------------
# 5. one daemon per name; stale sockets

def test_second_wrapper_refused_and_stale_socket_replaced(gw):
    sock = ch.sock_path(gw)
    ch.make_stale_socket(sock)
    r = ch.gwctl(gw, "status", "app")
    assert r.returncode == 3, "gwctl on a stale socket: exit {}".format(r.returncode)
    assert stat.S_IMODE(os.lstat(sock).st_mode) != 0o660
    w, master = start(gw)     # replaces the stale socket (start() waits for it to answer)
    # (inode numbers are reused at once on unlink+bind: compare the mode instead)
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o660, "stale socket file not replaced"
    assert w.log.find(r"another gunicorn-wrapper") is None, w.log.tail()

    # a second wrapper with the same name and run dir
    helpers.require_binary()
    t0 = time.monotonic()
    r = subprocess.run(w.argv, capture_output=True, text=True, timeout=30,
                       env=w.proc_env, cwd=str(gw.tmp), stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    assert r.returncode == 1, "second wrapper: exit {}\nstdout {!r}\nstderr {!r}".format(
        r.returncode, r.stdout, r.stderr)
    assert one_line(r.stderr) == \
        "gunicorn-wrapper: another gunicorn-wrapper named app is running on {}".format(sock), \
        r.stderr
    assert took < 10, "refusal took {:.1f} s".format(took)
    assert "gunicorn" not in r.stdout.lower() or not r.stdout.strip(), r.stdout
    # no second master, the first untouched: the refused wrapper has exited,
    # so anything it started is in /proc now; watch that nothing appears
    # from it either (fails at the first sight of one)
    _assert_stays(lambda: gw.masters() == [master], 1.0,
                  lambda: helpers.describe(gw.gunicorn_procs()))
    assert helpers.ppid_of(master) == w.pid
    assert ch.pidfile_master(gw) == master
    assert os.path.exists(sock), "the refused wrapper removed the live socket"
    st = ch.status(sock)
    assert st["pid"] == w.pid and st["master"] == master and st["state"] == "running", st
    gw.wait_serving(timeout=5, master=master)
    assert w.log.find(r"Handling signal", wrapper_only=False) is None, \
        "the master got a signal:\n" + w.log.tail()
    # SIGTERM: exit 0, socket removed
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
    gw.wait_no_gunicorn(10)
    assert not os.path.exists(sock), "socket left behind after SIGTERM"


# --------------------------------------------------------------------------
# 6. gwctl usage errors and unreachable daemons

def test_gwctl_usage_and_unreachable(gw):
    ch.require_gwctl()
    usage = [
        [],
        ["frobnicate", "app"],
        ["reload"],
        ["stop"],
        ["set-warmup", "app"],
        ["set-warmup", "app", "abc"],
        ["set-warmup", "app", "0"],
        ["set-warmup", "app", "3601"],
        ["--bogus", "status", "app"],
        ["-t", "abc", "status", "app"],
        ["-s"],
        ["status", "app", "extra"],
        ["reload", "a/b"],
    ]
    bad = []
    for args in usage:
        r = gwctl(gw, *args, timeout=10)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        if r.returncode != 2 or len(lines) != 1 or r.stdout.strip():
            bad.append("gwctl {}: exit {}, stdout {!r}, stderr {!r}".format(
                " ".join(args), r.returncode, r.stdout, r.stderr))
    assert not bad, "usage errors:\n  " + "\n  ".join(bad)

    # missing socket: exit 3, one line naming the socket path
    empty = gw.tmp / "empty-run"
    empty.mkdir()
    want = str(empty / "app.sock")
    for args in (["status", "app"], ["reload", "app"], ["reload", "app", "--no-wait"],
                 ["stop", "app"], ["set-warmup", "app", "5"], ["--json", "status", "app"]):
        r = gwctl(gw, *args, run_dir=empty, timeout=10)
        assert r.returncode == 3, "gwctl {}: exit {} {!r}".format(args, r.returncode, r.stderr)
        assert want in one_line(r.stderr), r.stderr
    r = gwctl(gw, "-s", "/nonexistent-gw/x.sock", "status", timeout=10)
    assert r.returncode == 3 and "/nonexistent-gw/x.sock" in one_line(r.stderr), r.stderr

    # stale socket (connection refused): exit 3 naming it; `status` lists it UNREACHABLE
    stale_dir = gw.tmp / "stale-run"
    stale_dir.mkdir()
    ch.make_stale_socket(stale_dir / "app.sock")
    r = gwctl(gw, "status", "app", run_dir=stale_dir, timeout=10)
    assert r.returncode == 3 and str(stale_dir / "app.sock") in one_line(r.stderr), r.stderr
    r = gwctl(gw, "status", run_dir=stale_dir, timeout=10)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert re.match(r"^app\s+UNREACHABLE\b", one_line(r.stdout)), r.stdout
    r = gwctl(gw, "--json", "status", run_dir=stale_dir, timeout=10)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    j = json.loads(r.stdout)
    assert list(j) == ["app"] and j["app"]["ok"] is False and j["app"]["error"], j

    # a daemon that accepts but never answers: -t bounds the wait, exit 3
    # (status NAME: 4, its status is unknown)
    hung = gw.tmp / "hung.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(hung))
        listener.listen(4)
        t0 = time.monotonic()
        r = gwctl(gw, "-t", "1", "-s", str(hung), "status", timeout=10)
        took = time.monotonic() - t0
    finally:
        listener.close()
    assert r.returncode == 4 and str(hung) in one_line(r.stderr), (r.returncode, r.stderr)
    assert 0.9 <= took < 5, "timeout took {:.2f} s".format(took)


def test_gwctl_reply_as_json_is_one_object(gw):
    """--json of each command prints exactly one JSON object: the daemon's
    reply, or for a reload the result object."""
    w, master = start(gw)
    for args, check in (
            (["status", "app"], lambda j: j["ok"] is True and j["master"] == master),
            (["set-warmup", "app", "9"], lambda j: j == {"ok": True, "old": 30.0, "new": 9.0}),
            (["reload", "app", "--no-wait"], lambda j: j["result"] == "accepted" and
             j["id"] == 1 and not ch.result_problems(j)),
    ):
        r = gwctl(gw, "--json", *args, timeout=20)
        assert r.returncode == 0, (args, r.stderr)
        j = json.loads(one_line(r.stdout))
        assert check(j), (args, j)
    ch.wait_history(ch.sock_path(gw), lambda e: e["id"] == 1 and e["result"] == "ok", 30,
                    "reload 1 ok")
    r = gwctl(gw, "--json", "reload", "app", timeout=40)
    assert r.returncode == 0, r.stderr
    j = json.loads(one_line(r.stdout))
    assert j["ok"] is True and j["id"] == 2 and j["result"] == "ok", j
    assert not ch.result_problems(j), ch.result_problems(j)
    stop_and_check(gw, w)


def test_reload_wait_longer_than_idle_timeout(gw):
    """A reload that takes longer than the 10 s idle timeout: the waiting
    gwctl is not dropped and gets the real outcome (here: the import hangs,
    the 11 s budget set by set-warmup runs out -> failed, exit 1)."""
    w, master = start(gw, stop_timeout=5)
    gw.set_version("hang")
    r = gwctl(gw, "set-warmup", "app", "11")
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    r = gwctl(gw, "reload", "app", timeout=40)
    took = time.monotonic() - t0
    assert r.returncode == 1, "exit {} after {:.1f} s: {!r} {!r}\n{}".format(
        r.returncode, took, r.stdout, r.stderr, w.log.tail())
    line = one_line(r.stderr)
    assert re.match(r"^gwctl: reload 1 failed: .*not ready after 11 s", line), line
    assert 10.5 <= took < 20, "reload outcome after {:.1f} s".format(took)
    assert ch.status(ch.sock_path(gw))["master"] == master
    gw.wait_serving(timeout=5, master=master)
    helpers.wait_for(lambda: gw.masters() == [master], 15, "the hung generation to go",
                     on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
    stop_and_check(gw, w)
