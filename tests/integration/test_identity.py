# SPDX-License-Identifier: MIT
"""Identity: the wrapper knows gunicorn's processes by kernel facts.

Why this file exists: each case of issue 9's "What was seen", as a test
that failed before.  Names (argv, process titles) and /proc/PID/environ
are what python3-setproctitle rewrites, and a pidfile may name anything;
the wrapper must prove what it adopts (its record: uid, start time, the
app's listening sockets), find a reload's new master by lineage, and never
signal what it cannot prove is its own.  conftest.py runs every test here
twice: with setproctitle active ([titles]) and hidden ([notitles]).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import control_helpers as ch
import fault_helpers as fh
import helpers
from helpers import GW_BIN, GUNICORN, RELOAD_OK


def require_titles(titles):
    if titles == "titles" and not helpers.setproctitle_active():
        pytest.skip("setproctitle is not installed (tools/install-deps installs "
                    "python3-setproctitle; or set GW_IT_SETPROCTITLE_PATH)")


def history(gw, name="app"):
    return ch.status(ch.sock_path(gw, name))["history"]


def sigkill_wrapper(w):
    w.signal(signal.SIGKILL)
    assert w.wait_exit(5) == -signal.SIGKILL


def test_harness_sees_titled_and_orphaned_processes(gw, titles):
    """The harness itself: gunicorn's processes are found whatever their
    titles say, and a process orphaned by its parent comes back to pytest
    (the subreaper) and is found by its start time, not by its name."""
    require_titles(titles)
    w = gw.wrapper(workers=2)
    master, _ = w.wait_ready(timeout=20)
    title = " ".join(helpers.cmdline(master))
    if titles == "titles":
        assert title.startswith("gunicorn: master"), title
    else:
        assert "gunicorn: master" not in title, title
    assert gw.masters() == [master], helpers.describe(gw.gunicorn_procs())
    assert len(gw.gunicorn_procs()) == 3
    sh = subprocess.Popen(["/bin/sh", "-c", "sleep 60 >/dev/null & echo $!"], stdout=subprocess.PIPE,
                          env=gw.base_env(), stdin=subprocess.DEVNULL)
    orphan = int(sh.stdout.read().strip())
    sh.wait(5)
    sh.stdout.close()
    helpers.wait_for(lambda: helpers.ppid_of(orphan) == os.getpid(), 5, "the orphan to come to pytest")
    assert orphan in gw.procs() and orphan not in gw.gunicorn_procs()


def test_sigkill_wrapper_in_warmup_resumes(gw, titles):
    """SIGKILL of the wrapper while a reload warms up, then a new wrapper:
    it adopts the old master, resumes the reload under the same id and it
    ends ok; the history has that id once, the next reload takes the next
    id and works (no "USR2 signal ignored. Child exists")."""
    require_titles(titles)
    w = gw.wrapper(workers=2, warmup=20, app_env={"APP_BOOT": "1.5"})
    old, _ = w.wait_ready(timeout=30)
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    w.wait_log(r"^reload 1: forking -> warming", 10)
    sigkill_wrapper(w)
    new = helpers.new_master_of(old)
    assert new
    if titles == "titles":  # as on a real host: setproctitle has blanked it
        needle = "GUNICORN_PID={}".format(old).encode()
        helpers.wait_for(lambda: not helpers.environ_has(new, needle), 5,
                         "setproctitle to blank the new master's environment")
    w2 = gw.wrapper(workers=2, warmup=20, app_env={"APP_BOOT": "1.5"}, log_name="wrapper2.log")
    m = w2.wait_log(r"^adopted gunicorn master (\d+)", 10)
    assert int(m.group(1)) == old
    w2.wait_log(r"^reload 1: master \d+ has a new master (\d+) from an unfinished reload", 10)
    m = w2.wait_log(RELOAD_OK.format(1), 20)
    new = int(m.group(2))
    gw.wait_serving("2", timeout=10, master=new)
    fh.wait_single_master(gw, new, 15)
    gw.set_version("3")
    w2.signal(signal.SIGHUP)
    m = w2.wait_log(RELOAD_OK.format(2), 20)
    gw.wait_serving("3", timeout=10, master=int(m.group(2)))
    ids = [e["id"] for e in history(gw)]
    assert ids == [1, 2], ids
    w2.signal(signal.SIGTERM)
    assert w2.wait_exit(20) == 0, w2.log.tail()
    gw.wait_no_gunicorn(5)


def test_sigstop_new_master_before_exec(gw, titles):
    """The new master is stopped (SIGSTOP) between its fork and its exec, so
    the reload fails ("no new master appeared"); SIGCONT lets it exec and
    serve unverified.  The next reload must find it by lineage (it exec'd
    from the old master, PIDFILE.2 names it), stop it, and succeed."""
    require_titles(titles)
    extra = ["-c", str(write_conf(gw, "slow_exec.conf.py",
                                  "import time\n\ndef pre_exec(server):\n    time.sleep(1)\n"))]
    w = gw.wrapper(workers=2, warmup=10, stop_timeout=5, extra_gunicorn=extra)
    old, _ = w.wait_ready(timeout=20)
    before = set(helpers.children(old))
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    forked = helpers.wait_for(lambda: [k for k in helpers.children(old) if k not in before],
                              5, "the new master's fork", interval=0.005)[0]
    os.kill(forked, signal.SIGSTOP)
    w.wait_log(r"^reload 1 failed: no new master appeared", 10)
    os.kill(forked, signal.SIGCONT)
    helpers.wait_for(lambda: len(helpers.children(forked)) == 2, 15,
                     "the stray new master's workers")
    gw.set_version("3")
    w.signal(signal.SIGHUP)
    m = w.wait_log(RELOAD_OK.format(2), 30)
    new = int(m.group(2))
    assert new != forked
    w.wait_log(r"already has a new master {} that no reload verified".format(forked), 1)
    gw.wait_serving("3", timeout=10, master=new)
    fh.wait_single_master(gw, new, 15)


def write_conf(gw, name, text):
    path = gw.app_dir / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("whose", ["own", "adopted"])
def test_slash_in_title_then_kill9_master(gw, titles, whose):
    """`-n srv/webapp` puts a '/' in the title.  A wrapper restarted after
    SIGKILL adopts the running master (no second gunicorn, no "Connection
    in use"); after kill -9 of the master (its own or the adopted one), the
    orphaned workers get SIGTERM at once and the port is free in seconds,
    not after gunicorn's 15 s worker timeout."""
    require_titles(titles)
    kw = dict(workers=2, extra_gunicorn=["-n", "srv/webapp", "--timeout", "30"])
    w = gw.wrapper(**kw)
    master, _ = w.wait_ready(timeout=20)
    if whose == "adopted":
        sigkill_wrapper(w)
        w = gw.wrapper(log_name="wrapper2.log", **kw)
        m = w.wait_log(r"^adopted gunicorn master (\d+)", 10)
        assert int(m.group(1)) == master
        w.wait_ready(timeout=15)
        assert w.log.find(r"^started gunicorn master") is None, w.log.tail()
        assert gw.masters() == [master]
    workers = helpers.children(master)
    assert len(workers) == 2
    os.kill(master, signal.SIGKILL)
    # an adopted master is not our child: its status is unknown, hence 1
    expected = 128 + signal.SIGKILL if whose == "own" else 1
    assert w.wait_exit(10) == expected, w.log.tail()
    w.wait_log(r"SIGTERM to orphaned gunicorn process", 1)
    gw.wait_gone(workers, 5, "the orphaned workers")
    # Each orphan is told once, in one line (it used to be twice: once
    # as our child, once as a holder of the app's socket).
    told = [int(m.group(1)) for m in
            (re.search(r"SIGTERM to orphaned gunicorn process (\d+)", x)
             for x in w.messages()) if m]
    assert sorted(told) == sorted(set(told)) and set(told) <= set(workers), told


def impostor(gw, kind):
    """A live process that is not this app's gunicorn, whatever its name."""
    env = gw.base_env()
    if kind == "tail-gunicorn-log":
        log = gw.tmp / "gunicorn.log"
        log.write_text("")
        argv = ["tail", "-f", str(log)]
    elif kind == "python-gunicorn-conf":
        (gw.tmp / "elsewhere").mkdir()  # gunicorn would load ./gunicorn.conf.py
        conf = gw.tmp / "elsewhere" / "gunicorn.conf.py"
        conf.write_text("import time\ntime.sleep(120)\n")
        argv = [sys.executable, str(conf)]
    elif kind == "gunicorn-exporter":
        exe = gw.tmp / "gunicorn-exporter"
        shutil.copy("/bin/sleep", exe)
        argv = [str(exe), "120"]
    else:  # another user's process
        argv = ch.as_user_argv("nobody", ["sleep", "120"])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    gw.track(p, gunicorn=False)
    if kind == "nobody":
        helpers.wait_for(lambda: os.stat("/proc/{}".format(p.pid)).st_uid != 0, 5,
                         "the process to become nobody's")
    return p


@pytest.mark.parametrize("kind", ["tail-gunicorn-log", "python-gunicorn-conf",
                                  "gunicorn-exporter", "nobody"])
def test_pidfile_names_an_impostor(gw, titles, kind):
    """The pidfile names a live process that merely looks like gunicorn, or
    another user's: not adopted, never signalled (a reload's SIGUSR2 would
    have killed it), one log line; the wrapper starts its own gunicorn,
    reloads, and stops promptly."""
    require_titles(titles)
    p = impostor(gw, kind)
    (gw.run_dir / "app.pid").write_text("{}\n".format(p.pid))
    w = gw.wrapper(workers=1)
    line = w.wait_log(r"^pidfile \S+ names {}, which this wrapper cannot prove".format(p.pid), 10)
    assert "not adopting or signalling it" in line.string
    master, _ = w.wait_ready(timeout=20)
    assert master != p.pid
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), 20)
    gw.wait_serving("2", timeout=10)
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    assert w.wait_exit(20) == 0, w.log.tail()
    assert time.monotonic() - t0 < 15
    assert p.poll() is None and helpers.is_alive(p.pid), "the impostor was signalled"


@pytest.mark.parametrize("whose", ["master", "wrapper"])
def test_stale_pidfile_names_another_apps_master(gw, titles, whose):
    """App a's pidfile (and a record from a's earlier life) names app b's
    master, or b's wrapper.  a must not adopt it: `gwctl reload a` and
    `gwctl stop a` leave b serving (zero failed requests), and b's wrapper
    runs on."""
    require_titles(titles)
    port_b = helpers.free_port()
    argv_b = [GW_BIN, "--name", "b", "--run-dir", str(gw.run_dir), "--gunicorn", GUNICORN,
              "--", "-w", "2", "-b", "127.0.0.1:{}".format(port_b), "--chdir", str(gw.app_dir),
              "app:app"]
    wb = gw.wrapper(argv=argv_b, name="b", log_name="b.log")
    master_b, _ = wb.wait_ready(timeout=20)
    # a lives, is killed with its master, and its pidfile is then b's master
    wa = gw.wrapper(workers=1)
    master_a, _ = wa.wait_ready(timeout=20)
    workers_a = helpers.children(master_a)  # orphaned, they keep a's port
    sigkill_wrapper(wa)
    os.kill(master_a, signal.SIGKILL)
    gw.wait_gone([master_a], 5)
    named = master_b if whose == "master" else wb.pid
    (gw.run_dir / "app.pid").write_text("{}\n".format(named))
    with helpers.LoadGenerator(port_b, clients=2) as load:
        load.wait_more(10, 10)
        wa = gw.wrapper(workers=1, log_name="wrapper2.log")
        wa.wait_log(r"^pidfile \S+ names {}, which this wrapper cannot prove".format(named), 10)
        wa.wait_log(r"^SIGTERM to orphaned gunicorn process", 10)
        gw.wait_gone(workers_a, 5, "a's orphaned workers")
        mine, _ = wa.wait_ready(timeout=20)
        assert mine != master_b
        r = ch.gwctl(gw, "reload", "app")
        assert r.returncode == 0, r.stderr
        r = ch.gwctl(gw, "stop", "app")
        assert r.returncode == 0, r.stderr
        assert wa.wait_exit(20) == 0
        load.wait_more(10, 10)
    load.assert_no_failures()
    assert wb.poll() is None and helpers.is_alive(master_b)


def test_promote_window(gw, titles):
    """The wrapper is killed while the old master drains; the new master
    is frozen before it renames PIDFILE.2; the old master exits and removes
    PIDFILE.  A wrapper started now finds only PIDFILE.2: it must adopt the
    new master (the record and PIDFILE.2 prove it), not start a second
    gunicorn that would kill the serving generation ("Already running")."""
    require_titles(titles)
    w = gw.wrapper(workers=2, warmup=20, stop_timeout=10, graceful_timeout=3)
    old, _ = w.wait_ready(timeout=20)
    with gw.load(clients=3) as load:
        load.wait_version("1", 10)
        slow = fh.InFlight(gw, "/slow?s=1.5")
        slow.start(w.log, w.log.mark(wrapper_only=False))
        gw.set_version("2")
        w.signal(signal.SIGHUP)
        w.wait_log(r"^reload 1: (?:warming|probation) -> draining", 20)
        new = helpers.new_master_of(old)
        assert new
        sigkill_wrapper(w)
        os.kill(new, signal.SIGSTOP)
        try:
            gw.wait_gone([old], 10, "the old master to drain and exit")
            assert not (gw.run_dir / "app.pid").exists()
            assert (gw.run_dir / "app.pid.2").read_text().strip() == str(new)
            w2 = gw.wrapper(workers=2, warmup=20, log_name="wrapper2.log")
            m = w2.wait_log(r"^adopted gunicorn master (\d+)", 10)
            assert int(m.group(1)) == new
        finally:
            os.kill(new, signal.SIGCONT)
        w2.wait_ready(timeout=20)
        assert w2.log.find(r"^started gunicorn master") is None, w2.log.tail()
        load.wait_version("2", 10)
        e = [x for x in history(gw) if x["id"] == 1]
        assert e and e[0]["result"] == "ok", history(gw)
        gw.set_version("3")
        w2.signal(signal.SIGHUP)
        w2.wait_log(RELOAD_OK.format(2), 20)
        load.wait_version("3", 10)
    load.assert_no_failures()
    assert w2.poll() is None


def test_pidfile_from_gunicorn_cmd_args(gw, titles):
    """A pidfile set in GUNICORN_CMD_ARGS is the operator's: the wrapper
    uses it (it adds no --pid of its own) and a restarted wrapper adopts
    through it."""
    require_titles(titles)
    pid_path = gw.tmp / "custom.pid"
    env = {"GUNICORN_CMD_ARGS": "--pid {}".format(pid_path)}
    w = gw.wrapper(workers=1, extra_env=env)
    master, _ = w.wait_ready(timeout=20)
    assert w.log.find(r"pidfile {}$".format(pid_path)), w.log.tail()
    assert pid_path.read_text().strip() == str(master)
    assert not (gw.run_dir / "app.pid").exists()
    sigkill_wrapper(w)
    w2 = gw.wrapper(workers=1, extra_env=env, log_name="wrapper2.log")
    m = w2.wait_log(r"^adopted gunicorn master (\d+) from (\S+)", 10)
    assert int(m.group(1)) == master and m.group(2) == str(pid_path)


def test_sigkill_wrapper_while_checking(gw, titles):
    """SIGKILL of the wrapper during a reload's pre-flight check (before any
    SIGUSR2): the next wrapper adopts the master, records reload 1 as
    failed under its own id, and the next reload is reload 2."""
    require_titles(titles)
    kw = dict(workers=1, warmup=20, extra_wrapper=["--preflight"], app_env={"APP_BOOT": "1"})
    w = gw.wrapper(**kw)
    old, _ = w.wait_ready(timeout=20)
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    w.wait_log(r"^reload 1: idle -> checking", 10)
    sigkill_wrapper(w)
    w2 = gw.wrapper(log_name="wrapper2.log", **kw)
    m = w2.wait_log(r"^adopted gunicorn master (\d+)", 10)
    assert int(m.group(1)) == old
    w2.wait_log(r"^reload 1 failed: the wrapper was killed during it, in phase checking", 10)
    w2.wait_ready(timeout=20)
    w2.signal(signal.SIGHUP)
    m = w2.wait_log(RELOAD_OK.format(2), 30)
    gw.wait_serving("2", timeout=10, master=int(m.group(2)))
    h = history(gw)
    assert [(e["id"], e["result"]) for e in h] == [(1, "failed"), (2, "ok")], h
