# SPDX-License-Identifier: MIT
"""Readiness that holds on real fleets (issue 10).

Why this file exists: "every new worker has shown gunicorn's heartbeat and
no worker appeared or went for 0.3 s" decided wrongly both ways on gunicorn
as production runs it.  Each case seen is a test here, with real gunicorn
and real HTTP:

  * worker recycling (--max-requests with jitter, under load) must neither
    hold back nor fail the first boot or a reload;
  * a crash loop after boot (workers serve, then die 0.5 s or 3 s later)
    must fail the reload safe, with its reason, in the probation window;
  * gunicorn 20.1 killing every booting worker (--timeout shorter than the
    import) must fail the reload at once, not after the whole budget;
  * gunicorn 26's dirty arbiter is not an HTTP worker: boot and reload
    wait for its dirty workers' init(), and an aborted generation leaves
    no dirty worker behind;
  * the wrapper warns when the old generation could import new code;
  * --probation is an option, its own phase in the history, and 0 turns
    it off;
  * gunicorn 26's control socket (gunicornc) answers after a reload: the
    old master used to unlink the path, the new master's socket with it.
"""

import json
import os
import re
import signal
import socket
import time

import pytest

import control_helpers as ch
import helpers
import versions
from helpers import RELOAD_OK


def reload_failed(n):
    return r"^reload {} failed: (.*)".format(n)


def test_max_requests_churn_boot_and_reload(gw):
    """--max-requests 20 --max-requests-jitter 5, 1 s import, 3 workers, under
    load from before the first boot: the boot is ready and two reloads end ok
    well within the budget, losing no request.  (The old rule needed every
    live worker ready at once for 0.3 s, which churn rarely allows.)"""
    w = versions.wrapper(gw, workers=3, warmup=25,
                         extra_gunicorn=["--max-requests", "20", "--max-requests-jitter", "5"],
                         app_env={"APP_BOOT": "1", "GW_PROBATION": "2"})
    with gw.load(clients=4, timeout=10) as load:
        w.wait_ready(timeout=20)
        load.wait_version("1", 15)
        t_ref = time.monotonic()   # before: refused while the master binds
        for n in (1, 2):
            gw.set_version(str(n + 1))
            t0 = time.monotonic()
            w.signal(signal.SIGHUP)
            m = w.wait_log(RELOAD_OK.format(n) + "|" + reload_failed(n), timeout=30)
            took = time.monotonic() - t0
            assert "ok" in m.group(0), m.group(0)
            assert took < 15, "reload {} took {:.1f} s".format(n, took)
            load.wait_version(str(n + 1), timeout=15)
    late = [r for r in load.failures if r.start >= t_ref]
    assert not late, "failed requests: " + load.summary()
    # the churn was real: gunicorn recycled workers while we watched
    recycled = len(helpers.LogFile(w.log_path).find_all(r"Autorestarting worker", wrapper_only=False))
    assert recycled >= 5, "only {} recycled workers: no churn to test".format(recycled)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_drain_does_not_wait_for_respawned_workers(gw, user):
    """--max-requests 2 under load: the old generation always has a worker
    importing (1.5 s) when it is told to stop.  Killed, gunicorn replaces
    it before it acts on SIGTERM, and the replacement would hold the old
    master's exit for a whole import: the drain kills those too, until
    the old master is gone, so each drain takes well under an import.
    (Without that, about one drain in three here took 1.8 s.)  As root and
    as nobody: the workers are killed by the wrapper, whoever it is."""
    w = versions.wrapper(gw, workers=2, warmup=25, extra_gunicorn=["--max-requests", "2"],
                         app_env={"APP_BOOT": "1.5", "GW_PROBATION": "0.5"}, start=False)
    ch.wrapper_as(gw, w, user).start()
    with gw.load(clients=4, timeout=10) as load:
        w.wait_ready(timeout=20)
        load.wait_version("1", 15)
        for n in range(1, 6):
            gw.set_version(str(n + 1))
            r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
            res = json.loads(r.stdout)
            assert r.returncode == 0 and res["result"] == "ok", (r.returncode, res)
            assert res["phases"]["drain"] < 1.0, \
                "reload {}: the drain took {:.2f} s: it waited for a booting worker".format(
                    n, res["phases"]["drain"])
    recycled = len(helpers.LogFile(w.log_path).find_all(r"Autorestarting worker",
                                                        wrapper_only=False))
    assert recycled >= 5, "only {} recycled workers: no churn to test".format(recycled)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("version", versions.ALL)
def test_max_requests_one_is_ready_in_one_import(gw, version, user):
    """--max-requests 1 under load: each new worker heartbeats, serves one
    request and exits at once, before a look at /proc could see it.  Its
    heartbeat is counted from the inotify event itself, so a reload is
    ready after one import (1.5 s), not three as before, and none fails as
    "died before it could serve".  As root and as nobody, whose wrapper
    cannot read an ending worker's files."""
    w = versions.wrapper(gw, version=version, workers=2, warmup=25,
                         extra_gunicorn=["--max-requests", "1"],
                         app_env={"APP_BOOT": "1.5", "GW_PROBATION": "0.5"}, start=False)
    ch.wrapper_as(gw, w, user).start()
    with gw.load(clients=4, timeout=10) as load:
        w.wait_ready(timeout=20)
        load.wait_version("1", 15)
        warmups = []
        for n in range(1, 4):
            gw.set_version(str(n + 1))
            r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
            res = json.loads(r.stdout)
            assert r.returncode == 0 and res["result"] == "ok", (r.returncode, res)
            warmups.append(res["phases"]["warmup"])
    # One import each (1.5 s, plus gunicorn's start).  The old code took
    # three; then, under CPU contention, about one reload in twenty took
    # two, when every new worker had served and exited before a look
    # found one of them alive (fixed).  A second import is still
    # tolerated once in three: under forced contention one in 64 reloads
    # still took two, for a reason not found.
    assert all(t < 3 * 1.5 for t in warmups), (warmups, w.log.tail(80))
    assert sum(t < 2 * 1.5 for t in warmups) >= 2, (warmups, w.log.tail(80))
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


def crash_loop(gw, delay):
    # the default probation, 5 s: the 3 s crash falls inside it
    w = versions.wrapper(gw, workers=2, warmup=20, app_env={"GW_PROBATION": "5"})
    old, _ = w.wait_ready(timeout=20)
    with gw.load(clients=2) as load:
        load.wait_version("1", 10)
        gw.set_version("crash:{}".format(delay))
        t0 = time.monotonic()
        w.signal(signal.SIGHUP)
        m = w.wait_log(RELOAD_OK.format(1) + "|" + reload_failed(1), timeout=30)
        took = time.monotonic() - t0
        assert "failed" in m.group(0), "a crash-looping deploy was promoted: " + m.group(0)
        assert "crash" in m.group(0) and "signal 11" in m.group(0), m.group(0)
        assert took < delay + 8, "failure after {:.1f} s".format(took)
        helpers.wait_for(lambda: gw.masters() == [old], 15, "only the old master to remain",
                         on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
        after = load.wait_more(30, timeout=15)
        assert {r.version for r in after} == {"1"}, load.summary()
    assert w.poll() is None
    return m.group(0)


def test_crash_loop_half_a_second_after_boot_fails_safe(gw):
    """Workers serve, then die by SIGSEGV 0.5 s after their import: the
    reload fails with the reason (it used to end ok in about 1.5 s)."""
    crash_loop(gw, 0.5)


def test_crash_loop_three_seconds_after_boot_fails_in_probation(gw):
    """The same 3 s after import: past warm-up, inside the 5 s probation."""
    line = crash_loop(gw, 3)
    assert "probation" in line, line


def test_timeout_shorter_than_import_fails_fast(gw):
    """gunicorn 20.1, --timeout 2, new code importing for 6 s: gunicorn kills
    every booting worker (WORKER TIMEOUT); the reload fails after that first
    round, not after its 30 s budget."""
    w = versions.wrapper(gw, workers=2, warmup=30, extra_gunicorn=["--timeout", "2"])
    old, _ = w.wait_ready(timeout=20)
    gw.set_version("slow:6")
    t0 = time.monotonic()
    w.signal(signal.SIGHUP)
    m = w.wait_log(reload_failed(1), timeout=35)
    took = time.monotonic() - t0
    assert took < 10, "failure after {:.1f} s: {}".format(took, m.group(0))
    assert "every new worker died before it could serve" in m.group(1), m.group(0)
    assert "timeout" in m.group(1), m.group(0)
    helpers.wait_for(lambda: gw.masters() == [old], 15, "only the old master to remain")
    assert helpers.parse_body(gw.get()[1])[0] == "1"


def dirty_args():
    return ["--dirty-workers", "2", "--dirty-app", "dapp:Model"]


def test_dirty_workers_boot_and_reload(gw):
    """gunicorn 26.1 with two dirty workers whose init() takes 1 s: the
    arbiter is not counted as an HTTP worker (it used to be, and never
    became ready: "2 of 3 workers ready"); boot and reload wait for the
    dirty workers; status lists them apart."""
    w = versions.wrapper(gw, version="26.1.0", workers=2, warmup=20,
                         extra_gunicorn=dirty_args(), app_env={"GW_PROBATION": "1"})
    master, nworkers = w.wait_ready(timeout=25)
    assert nworkers == 2, "the dirty arbiter was counted as a worker"
    gw.set_version("2")
    t0 = time.monotonic()
    w.signal(signal.SIGHUP)
    m = w.wait_log(RELOAD_OK.format(1) + "|" + reload_failed(1), timeout=30)
    assert "ok" in m.group(0), m.group(0)
    warm = w.wait_log(r"^reload 1: new master \d+ ready: (\d+) workers in ([0-9.]+) s")
    assert int(warm.group(1)) == 2, warm.group(0)
    assert float(warm.group(2)) >= versions.DIRTY_INIT - 0.1, \
        "ready before the dirty workers' init(): " + warm.group(0)
    assert time.monotonic() - t0 < 15
    gw.wait_serving("2", timeout=10)
    st = ch.status(ch.sock_path(gw))
    # "dirty": the arbiter, then its dirty workers; "workers": HTTP only
    assert len(st["dirty"]) == 3, st
    assert len(st["workers"]) == 2, st
    assert not set(st["dirty"]) & set(st["workers"]), st
    assert helpers.ppid_of(st["dirty"][0]) == st["master"], st
    assert all(helpers.ppid_of(p) == st["dirty"][0] for p in st["dirty"][1:]), st
    r = ch.gwctl(gw, "status", st["name"])
    dirty = re.search(r"^  dirty\s+(.*) \(arbiter first\)$", r.stdout, re.M)
    assert r.returncode == 0 and dirty, r.stdout
    assert [int(p) for p in dirty.group(1).split()] == st["dirty"], r.stdout
    assert re.search(r"^  workers\s+(\d+ \d+)$", r.stdout, re.M), r.stdout


def test_dirty_abort_stops_the_dirty_workers(gw):
    """A new generation that never becomes ready (its HTTP import hangs) is
    stopped with its dirty arbiter and every dirty worker; the old
    generation's dirty arbiter is untouched."""
    w = versions.wrapper(gw, version="26.1.0", workers=2, warmup=5, stop_timeout=5,
                         extra_gunicorn=dirty_args())
    old, _ = w.wait_ready(timeout=25)
    old_tree = set(helpers.descendants(old))
    gw.set_version("hang")
    w.signal(signal.SIGHUP)
    new = int(w.wait_log(r"^reload 1: new master (\d+)", timeout=10).group(1))
    # its dirty arbiter (a child with children) and its dirty workers
    helpers.wait_for(lambda: any(helpers.children(k) for k in helpers.children(new)), 10,
                     "the new generation's dirty workers")
    tree = [new] + helpers.descendants(new)
    m = w.wait_log(reload_failed(1), timeout=20)
    assert "not ready" in m.group(1), m.group(0)
    assert "dirty" in m.group(1) or "workers ready" in m.group(1), m.group(0)
    gw.wait_gone(tree, timeout=20, what="the new generation, dirty workers included")
    assert all(helpers.is_alive(p) for p in old_tree), "the old generation lost processes"
    assert helpers.parse_body(gw.get()[1])[0] == "1"


def test_warns_when_old_workers_could_import_new_code(gw):
    """--max-requests without --preload: one warning line at start naming
    --preload; with --preload, none."""
    w = versions.wrapper(gw, workers=1, extra_gunicorn=["--max-requests", "100"])
    w.wait_ready(timeout=20)
    line = w.wait_log(r"without --preload", timeout=5).string
    assert "--max-requests" in line and "use --preload" in line, line
    w.signal(signal.SIGTERM)
    assert w.wait_exit(20) == 0
    w2 = versions.wrapper(gw, workers=1, extra_gunicorn=["--max-requests", "100", "--preload"],
                          log_name="wrapper2.log")
    w2.wait_ready(timeout=20)
    assert w2.log.find(r"without --preload") is None


def test_probation_is_a_phase_and_an_option(gw):
    """--probation 1: its own phase, in the log and in the history entry;
    --probation 0: no such phase; a bad value is refused at start."""
    w = versions.wrapper(gw, workers=1, extra_wrapper=["--probation", "1"])
    w.wait_ready(timeout=20)
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    m = w.wait_log(RELOAD_OK.format(1), timeout=20)
    assert re.search(r"probation 1\.0\d s", m.string), m.string
    e = ch.status(ch.sock_path(gw))["history"][-1]
    assert e["result"] == "ok" and 0.99 <= e["t_probation"] < 1.5, e
    w.signal(signal.SIGTERM)
    assert w.wait_exit(20) == 0

    w2 = versions.wrapper(gw, workers=1, extra_wrapper=["--probation", "0"],
                          log_name="wrapper2.log")
    w2.wait_ready(timeout=20)
    gw.set_version("3")
    w2.signal(signal.SIGHUP)
    m = w2.wait_log(RELOAD_OK.format(2), timeout=20)
    assert "probation" not in m.string, m.string
    w2.signal(signal.SIGTERM)
    assert w2.wait_exit(20) == 0

    w3 = versions.wrapper(gw, workers=1, extra_wrapper=["--probation", "-1"],
                          log_name="wrapper3.log")
    assert w3.wait_exit(10) == 2   # a usage error, as for every option
    assert "--probation: '-1'" in w3.text(), w3.text()


def listening_inodes(path):
    """Inodes of the listening sockets bound to path (the name stays in
    /proc/net/unix after the file is unlinked: there may be several)."""
    out = []
    with open("/proc/net/unix") as f:
        for line in f.read().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & 0x10000:
                out.append(int(parts[6]))
    return out


def holds_socket(pid, inode):
    fd_dir = "/proc/{}/fd".format(pid)
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == "socket:[{}]".format(inode):
                return True
        except OSError:
            pass
    return False


def test_control_socket_usable_after_reload(gw):
    """gunicorn 26.1 with --control-socket PATH: after two reloads PATH is a
    live socket held by the serving master, as gunicornc expects."""
    w = versions.wrapper(gw, version="26.1.0", workers=1, app_env={"GW_PROBATION": "1"})
    w.wait_ready(timeout=20)
    ctl = str(w.tmpdir / "gunicorn.ctl")
    for n in (1, 2):
        gw.set_version(str(n + 1))
        w.signal(signal.SIGHUP)
        m = w.wait_log(RELOAD_OK.format(n), timeout=20)
        new = int(m.group(2))
        assert any(holds_socket(new, i) for i in listening_inodes(ctl)), \
            "the new master {} does not listen at {}".format(new, ctl)
        with socket.socket(socket.AF_UNIX) as s:   # the file is there, and answers
            s.settimeout(5)
            s.connect(ctl)
        assert not [p for p in os.listdir(str(w.tmpdir)) if ".gw-" in p]


def listener_of(path):
    """The PID listening at the Unix socket path (SO_PEERCRED), or None."""
    import struct
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        try:
            s.connect(path)
        except OSError:
            return None
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", cred)[0]


@pytest.mark.parametrize("recycle", [False, True], ids=["steady", "recycling"])
def test_control_socket_from_config_file_after_every_outcome(gw, recycle):
    """gunicorn 26.1 in place, control_socket set in its config file, not on
    the command line: after a failed reload gunicornc still reaches the old
    master (the failed new master used to unlink the path on its way
    out), and after a good one the new master; nothing is left aside."""
    extra = ["--max-requests", "3"] if recycle else []
    w = versions.wrapper(gw, version="26.1.0", workers=2, start=False, extra_gunicorn=extra,
                         app_env={"GW_PROBATION": "1", "APP_BOOT": "0.5"})
    i = w.argv.index("--control-socket")
    del w.argv[i:i + 2]
    ctl = str(w.tmpdir / "from-config.ctl")
    conf = gw.app_dir / "gunicorn.conf.py"
    conf.write_text("control_socket = {!r}\n".format(ctl))
    w.argv[i:i] = ["-c", str(conf)]
    w.start()
    old, _ = w.wait_ready(timeout=20)
    helpers.wait_for(lambda: listener_of(ctl) == old, 10, "gunicornc to reach master {}".format(old),
                     on_timeout=lambda: w.log.tail())
    with gw.load(clients=2) as load:
        # A failure the old generation's recycled workers do not share (in
        # place they would import a broken version too): too short a
        # warm-up budget for the import.
        assert ch.gwctl(gw, "set", "app", "warmup", "0.2").returncode == 0
        r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
        assert r.returncode == 1, r
        assert ch.gwctl(gw, "set", "app", "warmup", "30").returncode == 0
        helpers.wait_for(lambda: listener_of(ctl) == old, 10,
                         "gunicornc to reach the old master {} after the failure".format(old),
                         on_timeout=lambda: w.log.tail())
        gw.set_version("2")
        r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
        res = json.loads(r.stdout)
        assert r.returncode == 0, res
        helpers.wait_for(lambda: listener_of(ctl) == res["new_master"], 10,
                         "gunicornc to reach the new master {}".format(res["new_master"]))
        load.wait_version("2", 10)
    load.assert_no_failures()
    assert not [p for p in os.listdir(str(w.tmpdir)) if ".gw-" in p], os.listdir(str(w.tmpdir))
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


def test_failed_reload_leaves_another_gunicorns_control_socket(gw):
    """gunicorn 20.1 in place, no config file: a failed reload must not
    move or remove a socket at gunicorn's per-user default control path,
    which another gunicorn of the same user may listen on."""
    home = gw.tmp / "home"
    (home / ".gunicorn").mkdir(parents=True)
    path = home / ".gunicorn" / "gunicorn.ctl"
    other = socket.socket(socket.AF_UNIX)
    try:
        other.bind(str(path))
        other.listen(5)
        w = versions.wrapper(gw, version="20.1", workers=1,
                             extra_env={"HOME": str(home), "XDG_RUNTIME_DIR": ""},
                             app_env={"APP_BOOT": "1.0"})
        w.wait_ready(timeout=20)
        assert ch.gwctl(gw, "set", "app", "warmup", "0.2").returncode == 0
        r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
        assert r.returncode == 1, r
        assert os.listdir(str(home / ".gunicorn")) == ["gunicorn.ctl"], \
            os.listdir(str(home / ".gunicorn"))
        assert listener_of(str(path)) == os.getpid(), "the other socket is not at its path"
        w.signal(signal.SIGTERM)
        assert w.wait_exit(30) == 0
    finally:
        other.close()


def test_seventy_workers_boot_and_reload(gw):
    """Readiness counts every worker, however many: with -w 70 the boot and
    a reload used to stop at 64 ready ("not ready after 60 s: 64 of 70")."""
    w = gw.wrapper(workers=70, warmup=120, extra_wrapper=["--probation", "0.5"])
    master, n = w.wait_ready(timeout=150)
    assert n == 70, w.log.tail()
    gw.set_version("2")
    r = ch.gwctl(gw, "--json", "reload", "app", timeout=180)
    assert r.returncode == 0, r.stderr
    entry = ch.gwctl_json(gw, "status", "app")["history"][-1]
    assert entry["result"] == "ok" and entry["workers"] == 70, entry
    gw.wait_serving("2")
    st = ch.gwctl_json(gw, "status", "app")
    assert len(st["workers"]) == 70
    w.signal(signal.SIGTERM)
    assert w.wait_exit(60) == 0
