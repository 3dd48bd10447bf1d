# SPDX-License-Identifier: MIT
"""Start, stop, signals, master death and adoption of gunicorn-wrapper, run directly.

Why this file exists: besides reloads, the daemon must behave like a
well-mannered process under a supervisor: stable log format, pidfile,
graceful stop on SIGTERM (exit 0, no gunicorn left), quick stop on SIGQUIT,
signal forwarding, exit with 128+signal when the master dies behind its
back, and adoption of a still-running master after the wrapper itself was
SIGKILLed (no second server).
"""

import signal

import helpers
from helpers import RELOAD_OK, WRAPPER_LINE


def test_sigterm_graceful_stop(gw):
    w = gw.wrapper(workers=2)
    master, count = w.wait_ready(timeout=20)
    assert count == 2
    assert w.log.wait_log(r"^started gunicorn master (\d+)", 1).group(1) == str(master)
    # pidfile added by the wrapper: RUN_DIR/NAME.pid
    pidfile = gw.run_dir / "app.pid"
    assert pidfile.read_text().strip() == str(master)
    version, pid = gw.wait_serving(timeout=10, master=master)
    assert version == "1"
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
    w.wait_log(r"^exiting with status 0", 1)
    gw.wait_no_gunicorn(5)
    # every wrapper line follows the contract, with our --name
    lines = [x for x in w.log.lines() if "] [gunicorn-wrapper] [" in x]
    assert lines
    for line in lines:
        m = WRAPPER_LINE.match(line)
        assert m and m.group(2) == "app", "malformed wrapper line: " + line


def test_sigquit_quick_stop(gw):
    w = gw.wrapper(workers=2)
    w.wait_ready(timeout=20)
    w.signal(signal.SIGQUIT)
    rc = w.wait_exit(15)
    assert rc == 0, "SIGQUIT exit status {}\n{}".format(rc, w.log.tail())
    gw.wait_no_gunicorn(5)


def test_ttin_forwarded_to_master(gw):
    """SIGTTIN to the wrapper reaches the master: one more worker."""
    w = gw.wrapper(workers=2)
    master, _ = w.wait_ready(timeout=20)
    w.signal(signal.SIGTTIN)
    helpers.wait_for(lambda: len(helpers.children(master)) == 3, 10, "a 3rd worker",
                     on_timeout=w.log.tail)
    w.signal(signal.SIGTTOU)
    helpers.wait_for(lambda: len(helpers.children(master)) == 2, 15, "back to 2 workers",
                     on_timeout=w.log.tail)
    assert w.poll() is None


def test_kill9_master_wrapper_exits_137(gw):
    w = gw.wrapper(workers=2)
    w.wait_ready(timeout=20)
    master = int(w.wait_log(r"^started gunicorn master (\d+)", 1).group(1))
    workers = helpers.children(master)
    assert len(workers) == 2
    helpers.kill_pids([master], signal.SIGKILL)
    rc = w.wait_exit(5)
    assert rc == 137, "exit status {}\n{}".format(rc, w.log.tail())
    w.wait_log(r"^master {} killed by signal 9".format(master), 1)
    w.wait_log(r"^exiting with status 137", 1)
    # orphaned workers notice their parent is gone (gunicorn checks at least
    # every timeout/2 = 15 s) unless the wrapper already took them down
    gw.wait_gone(workers, timeout=20, what="orphaned workers of the killed master")


def test_sigkill_wrapper_then_adopt(gw):
    """Wrapper SIGKILLed: gunicorn keeps serving; a new wrapper on the same run
    dir adopts the master (no second server), reloads it, and stops it."""
    w1 = gw.wrapper(workers=2)
    master, _ = w1.wait_ready(timeout=20)
    w1.signal(signal.SIGKILL)
    assert w1.wait_exit(5) == -signal.SIGKILL
    assert helpers.is_alive(master)
    gw.wait_serving(timeout=5, master=master)

    w2 = gw.wrapper(workers=2, log_name="wrapper2.log")
    m = w2.wait_log(r"^adopted gunicorn master (\d+) from (\S+)", timeout=10)
    assert int(m.group(1)) == master
    assert m.group(2).endswith("app.pid")
    ready, _ = w2.wait_ready(timeout=15)
    assert ready == master
    assert w2.log.find(r"^started gunicorn master") is None, w2.log.tail()
    assert gw.masters() == [master], helpers.describe(gw.gunicorn_procs())
    gw.wait_serving(timeout=5, master=master)

    gw.set_version("2")
    w2.signal(signal.SIGHUP)
    m = w2.wait_log(RELOAD_OK.format(1), timeout=20)
    assert int(m.group(1)) == master
    new = int(m.group(2))
    gw.wait_serving(version="2", timeout=10, master=new)
    gw.wait_gone([master], timeout=15, what="adopted master to exit after the reload")
    assert gw.masters() == [new]

    w2.signal(signal.SIGTERM)
    assert w2.wait_exit(30) == 0, w2.log.tail()
    gw.wait_no_gunicorn(5)
