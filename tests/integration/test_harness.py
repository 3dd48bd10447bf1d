# SPDX-License-Identifier: MIT
"""Self-tests of the test harness, against plain /usr/bin/gunicorn (no wrapper).

Why this file exists: when a wrapper test fails we want to know the fault is
in the daemon, not in the example app, the load generator, the supervisord
helper or the process cleanup.  These tests need no gunicorn-wrapper binary
and run in a few seconds.
"""

import signal
import subprocess

import helpers
from helpers import GUNICORN


def start_gunicorn(gw, *extra, workers=2, log_name="gunicorn.log", app_env=None):
    """Plain gunicorn on gw.port, tracked for cleanup like a wrapper."""
    argv = [GUNICORN, "-w", str(workers), "-b", "127.0.0.1:{}".format(gw.port),
            "--chdir", str(gw.app_dir), "--graceful-timeout", "5", *extra, "app:app"]
    log_path = gw.tmp / log_name
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env=gw.base_env(app_env), cwd=str(gw.tmp),
                                start_new_session=True, stdin=subprocess.DEVNULL)
    gw.track(proc)
    return proc, helpers.LogFile(log_path, exit_status=proc.poll, who="gunicorn")


def test_app_versions_and_slow_path(gw):
    gw.set_version("7")
    proc, log = start_gunicorn(gw)
    version, pid = gw.wait_serving(timeout=15)
    assert version == "7"
    assert helpers.ppid_of(pid) == proc.pid
    status, body = gw.get("/slow?s=0.3")
    assert status == 200 and body.startswith("version=7 pid=")
    log.wait_log(r"app: slow request \(0\.3 s\) started", 5, wrapper_only=False)
    assert gw.masters() == [proc.pid]
    assert len(helpers.children(proc.pid)) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    gw.wait_no_gunicorn(5)


def test_app_broken_fails_boot(gw):
    gw.set_version("broken")
    proc, log = start_gunicorn(gw, workers=1)
    assert proc.wait(timeout=20) != 0
    assert "simulated bad deploy" in log.text()
    gw.wait_no_gunicorn(5)


def test_load_generator_and_usr2_by_hand(gw):
    """Plain gunicorn USR2 + TERM of the old master under load: the reference
    zero-downtime dance the wrapper automates (here with a fixed wait on the
    log instead of heartbeats)."""
    proc, log = start_gunicorn(gw, "--pid", str(gw.run_dir / "g.pid"))
    gw.wait_serving(timeout=15)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("2")
        proc.send_signal(signal.SIGUSR2)
        # new master is a child of the old one; wait for its 2 booted workers
        def new_master():
            kids = [k for k in helpers.children(proc.pid) if helpers.children(k)]
            return kids[0] if kids else None
        new = helpers.wait_for(new_master, 15, "new master")
        helpers.wait_for(lambda: len(helpers.children(new)) == 2, 15, "new workers")
        load.wait_more(20, 10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        load.wait_version("2", 15)
    load.assert_no_failures()
    assert set(load.versions()) == {"1", "2"}
    assert gw.masters() == [new]
    helpers.kill_pids([new], signal.SIGTERM)
    gw.wait_no_gunicorn(15)


def test_supervisor_helper_with_plain_gunicorn(gw):
    cmd = [GUNICORN, "-w", "1", "-b", "127.0.0.1:{}".format(gw.port),
           "--chdir", str(gw.app_dir), "app:app"]
    sv = gw.supervisor(command=cmd)
    sv.wait_state("RUNNING", 15)
    pid = sv.program_pid()
    assert pid > 0
    gw.wait_serving(timeout=15, master=pid)
    r = sv.ctl("stop", "app")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sv.state() == "STOPPED"
    gw.wait_no_gunicorn(5)
    assert sv.shutdown() == 0
