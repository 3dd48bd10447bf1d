# SPDX-License-Identifier: MIT
"""systemd's notify protocol, checked with a fake NOTIFY_SOCKET.

Why this file exists: under Type=notify systemd believes whatever arrives
on NOTIFY_SOCKET.  gunicorn says READY=1 as soon as its master has bound
the port, before any worker has imported the app; the wrapper must say it
instead, and only when the generation is really ready, and bracket every
reload with RELOADING=1 ... READY=1 so that `systemctl reload` waits for
the real outcome.  No systemd runs here: a datagram socket of the test
receives what the wrapper (and nobody else) sends, in order.
"""

import os
import re
import signal
import socket
import time

import control_helpers as ch
import helpers
from helpers import RELOAD_OK


class FakeSystemd:
    """A bound AF_UNIX datagram socket collecting sd_notify messages."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            self.msgs.append(dict(line.split("=", 1)
                                  for line in data.decode().split("\n") if "=" in line))

    def wait(self, pred, timeout, what, since=0):
        """Wait for a message matching pred among those from index since."""
        def found():
            self.drain()
            return [m for m in self.msgs[since:] if pred(m)]
        return helpers.wait_for(found, timeout, what,
                                on_timeout=lambda: repr(self.msgs))

    def close(self):
        self.sock.close()


def test_notify_ready_reload_stop(gw):
    """READY=1 (with MAINPID) only after the first generation's heartbeat;
    nothing from gunicorn itself; RELOADING=1 with MONOTONIC_USEC then
    READY=1 around a reload, a failed one too; STOPPING=1 on stop."""
    sd = FakeSystemd(gw.tmp / "notify.sock")
    gw.add_cleanup(sd.close)
    w = gw.wrapper(workers=2, app_env={"APP_BOOT": "1.5"},
                   extra_env={"NOTIFY_SOCKET": sd.path})
    t0 = time.monotonic()
    sd.wait(lambda m: m.get("READY") == "1", 30, "READY=1")
    took = time.monotonic() - t0
    w.wait_ready(timeout=5)
    # The import takes 1.5 s: gunicorn's own READY would come far earlier.
    assert took >= 1.4, "READY=1 after {:.2f} s, before the app loaded".format(took)
    ready = [m for m in sd.msgs if m.get("READY") == "1"][0]
    assert ready.get("MAINPID") == str(w.pid), ready
    assert not [m for m in sd.msgs if "Gunicorn" in m.get("STATUS", "")], sd.msgs
    assert [m for m in sd.msgs if m.get("STATUS", "").startswith("running: master")]

    n_before = len(sd.msgs)
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), timeout=30)
    sd.wait(lambda m: m.get("READY") == "1", 5, "READY=1 after the reload",
            since=n_before)
    tail = sd.msgs[n_before:]
    kinds = [("RELOADING" if "RELOADING" in m else "READY" if "READY" in m else "")
             for m in tail]
    kinds = [k for k in kinds if k]
    assert kinds == ["RELOADING", "READY"], tail
    rel = [m for m in tail if "RELOADING" in m][0]
    usec = int(rel["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 60, rel

    n_before = len(sd.msgs)
    gw.set_version("broken")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=30)
    assert not rep["ok"]
    sd.wait(lambda m: m.get("READY") == "1", 5,
            "READY=1 after the failed reload (the old generation serves)",
            since=n_before)
    assert any("last reload 2 failed" in m.get("STATUS", "") for m in sd.msgs[n_before:])

    w.signal(signal.SIGTERM)
    sd.wait(lambda m: m.get("STOPPING") == "1", 10, "STOPPING=1")
    assert w.wait_exit(30) == 0


def test_notify_never_reaches_gunicorn(gw):
    """gunicorn's environment has no NOTIFY_SOCKET: not the master's, not
    a worker's, not a reloaded master's."""
    sd = FakeSystemd(gw.tmp / "notify.sock")
    gw.add_cleanup(sd.close)
    w = gw.wrapper(workers=1, extra_env={"NOTIFY_SOCKET": sd.path})
    w.wait_ready(timeout=30)
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), timeout=30)
    procs = gw.gunicorn_procs()
    assert procs
    for pid in procs:
        assert not helpers.environ_has(pid, b"NOTIFY_SOCKET="), pid
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


def statuses(sd, since=0):
    sd.drain()
    return [m["STATUS"] for m in sd.msgs[since:] if "STATUS" in m]


def test_status_follows_the_workers_and_a_failed_reload(gw):
    """STATUS= is what `gwctl status` would say, and stays so: after a
    failed reload (not the failed generation's workers), and when the
    worker count changes with no reload at all (gunicorn's TTOU/TTIN); it
    is sent on change only."""
    sd = FakeSystemd(gw.tmp / "notify.sock")
    gw.add_cleanup(sd.close)
    w = gw.wrapper(workers=3, extra_env={"NOTIFY_SOCKET": sd.path})
    master, _ = w.wait_ready(timeout=30)

    def agrees(prefix="running: "):
        st = ch.status(ch.sock_path(gw))
        want = "{}master {}, {} workers".format(prefix, st["master"], len(st["workers"]))
        got = statuses(sd)
        return got and got[-1].startswith(want) and got[-1]

    helpers.wait_for(agrees, 10, "STATUS= naming the master and its 3 workers",
                     on_timeout=lambda: repr(statuses(sd)))
    assert statuses(sd)[-1].startswith("running: master {}, 3 workers".format(master))

    # Idle: nothing changes, nothing is sent (the refresh runs every 1 s).
    n = len(sd.msgs)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        sd.drain()
    assert statuses(sd, n) == [], statuses(sd, n)

    # A failed reload: the old generation's 3 workers, whatever the new
    # master had forked before it failed.
    gw.set_version("broken")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert not rep["ok"], rep
    # The line sent with the outcome (before the reply) is already true:
    # the failed new master, a zombie its parent has not reaped, is no
    # worker.
    first = [x for x in statuses(sd) if "last reload 1 failed" in x]
    assert first and first[0] == "running: master {}, 3 workers, last reload 1 failed".format(
        master), statuses(sd)
    line = helpers.wait_for(
        lambda: agrees() if "last reload 1 failed" in (statuses(sd) or [""])[-1] else None,
        10, "STATUS= after the failed reload", on_timeout=lambda: repr(statuses(sd)))
    assert line.startswith("running: master {}, 3 workers".format(master)), line

    # No reload: gunicorn drops a worker, then adds one (which imports the
    # app from disk: a good release again, or the master dies of it).
    gw.set_version("2")
    for sig, count in ((signal.SIGTTOU, 2), (signal.SIGTTIN, 3)):
        os.kill(master, sig)
        helpers.wait_for(
            lambda: len(ch.status(ch.sock_path(gw))["workers"]) == count and
            agrees(), 15, "STATUS= with {} workers after {}".format(count, sig.name),
            on_timeout=lambda: repr(statuses(sd)))
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


def test_watchdog_pings_from_the_event_loop(gw):
    """WATCHDOG_USEC for us: WATCHDOG=1 every half interval, from the
    event loop (none while the wrapper is stopped), and gunicorn never
    sees the variables."""
    sd = FakeSystemd(gw.tmp / "notify.sock")
    gw.add_cleanup(sd.close)
    w = gw.wrapper(workers=1, extra_env={"NOTIFY_SOCKET": sd.path,
                                         "WATCHDOG_USEC": "400000"})
    w.wait_ready(timeout=30)
    w.wait_log(r"systemd watchdog: WATCHDOG=1 every 0\.2 s", 5)
    # After the start banner, which stays the first line.
    banner = re.search(r"gunicorn-wrapper \d+\.\d+\.\d+ \(pid", w.text())
    assert banner and w.text().find("systemd watchdog") > banner.start(), w.text()

    def pings(since=0):
        sd.drain()
        return sum(1 for m in sd.msgs[since:] if m.get("WATCHDOG") == "1")

    n = len(sd.msgs)
    helpers.wait_for(lambda: pings(n) >= 5, 10, "five WATCHDOG=1",
                     on_timeout=lambda: repr(sd.msgs[n:]))
    for pid in gw.gunicorn_procs():
        assert not helpers.environ_has(pid, b"WATCHDOG_USEC="), pid
    # A stalled loop sends nothing; it resumes once the loop runs again.
    os.kill(w.pid, signal.SIGSTOP)
    try:
        time.sleep(0.3)      # let a ping already in flight arrive
        sd.drain()
        n = len(sd.msgs)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            sd.drain()
        assert pings(n) == 0, sd.msgs[n:]
    finally:
        os.kill(w.pid, signal.SIGCONT)
    n = len(sd.msgs)
    helpers.wait_for(lambda: pings(n) >= 2, 10, "WATCHDOG=1 again after SIGCONT")
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


def test_watchdog_not_ours_or_malformed(gw):
    """WATCHDOG_PID of another process: no pings.  A WATCHDOG_USEC that is
    not a number: one warning, no pings, and the service runs."""
    for env, log in (({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, None),
                     ({"WATCHDOG_USEC": "soon"}, r"WATCHDOG_USEC 'soon': not a number")):
        sd = FakeSystemd(gw.tmp / "notify-{}.sock".format(len(env)))
        gw.add_cleanup(sd.close)
        w = gw.wrapper(workers=1, extra_env=dict(env, NOTIFY_SOCKET=sd.path))
        w.wait_ready(timeout=30)
        sd.wait(lambda m: m.get("READY") == "1", 10, "READY=1")
        if log:
            w.wait_log(log, 5)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            sd.drain()
        assert not [m for m in sd.msgs if "WATCHDOG" in m], sd.msgs
        assert "systemd watchdog" not in w.text()
        for pid in gw.gunicorn_procs():
            assert not helpers.environ_has(pid, b"WATCHDOG_USEC="), pid
        w.signal(signal.SIGTERM)
        assert w.wait_exit(30) == 0
