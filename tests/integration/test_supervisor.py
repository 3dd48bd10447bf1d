# SPDX-License-Identifier: MIT
"""gunicorn-wrapper under a real supervisord, driven with supervisorctl.

Why this file exists: supervisord is the wrapper's intended parent.  These
tests check the interplay: the drop-in form (settings from environment=,
name from SUPERVISOR_PROCESS_NAME), restart after the master is killed,
`supervisorctl stop` letting an in-flight request finish, `restart` giving a
new wrapper PID, `signal HUP` reloads, and a stop in the middle of a
reload's warm-up taking both generations down.  No gunicorn may outlive a
test.
"""

import signal
import threading
import time

import helpers


def test_kill9_master_supervisord_restarts(gw):
    sv = gw.supervisor(dropin=True)
    sv.wait_state("RUNNING", 20)
    sv.wait_log(r"^master \d+ ready", 20)
    # drop-in: the name comes from SUPERVISOR_PROCESS_NAME
    assert sv.log.entries()[0][1] == "app", sv.log.tail()
    wpid = sv.program_pid()
    master = int(sv.wait_log(r"^started gunicorn master (\d+)", 1).group(1))
    assert helpers.ppid_of(master) == wpid
    mark = sv.log.mark()
    helpers.kill_pids([master], signal.SIGKILL)
    sv.wait_log(r"^master {} killed by signal 9".format(master), 5, since=mark)
    sv.wait_log(r"^exiting with status 137", 5, since=mark)
    # supervisord starts a new wrapper, which starts a new master.  The first
    # attempts may fail to bind while orphaned workers of the killed master
    # still hold the listening socket (gunicorn workers notice a dead parent
    # only every timeout/2 = 15 s), so allow for a few supervisord restarts.
    def serving_from_new_wrapper():
        wpid_now = sv.program_pid()
        if wpid_now in (0, wpid):
            return None
        try:
            status, body = gw.get(timeout=2)
        except OSError:
            return None
        parsed = helpers.parse_body(body) if status == 200 else None
        if not parsed:
            return None
        m = helpers.ppid_of(parsed[1])
        return (wpid_now, m) if m and helpers.ppid_of(m) == wpid_now else None
    new_wpid, new_master = helpers.wait_for(
        serving_from_new_wrapper, 60, "serving from a master of a new wrapper",
        interval=0.2, on_timeout=sv.log.tail)
    sv.wait_log(r"^master {} ready".format(new_master), 10, since=mark)
    sv.wait_state("RUNNING", 10)
    restarts = len(sv.log.find_all(r"^started gunicorn master")) - 1
    print("supervisord restarts until serving again:", restarts)
    assert sv.shutdown() == 0
    gw.wait_no_gunicorn(10)


def test_stop_with_inflight_request_then_restart(gw):
    sv = gw.supervisor()
    sv.wait_state("RUNNING", 20)
    master1, _ = (int(x) for x in sv.wait_log(r"^master (\d+) ready: (\d+) workers", 20).groups())
    wpid1 = sv.program_pid()

    # restart: new wrapper PID, serving again, old generation gone
    mark = sv.log.mark()
    r = sv.ctl("restart", "app")
    assert r.returncode == 0, r.stdout + r.stderr
    wpid2 = sv.program_pid()
    assert wpid2 not in (0, wpid1)
    master2 = int(sv.wait_log(r"^master (\d+) ready", 20, since=mark).group(1))
    assert master2 != master1
    gw.wait_gone([wpid1, master1], timeout=10, what="the first wrapper and master")
    gw.wait_serving(timeout=15, master=master2)

    # slow request in flight, then stop: request completes, then stopped
    result = {}

    def slow():
        try:
            result["resp"] = gw.get("/slow?s=3", timeout=20)
        except Exception as e:
            result["error"] = repr(e)
        result["done"] = time.monotonic()
    line_mark = sv.log.mark(wrapper_only=False)
    th = threading.Thread(target=slow, daemon=True)
    th.start()
    sv.wait_log(r"app: slow request \(3 s\) started", 10, since=line_mark, wrapper_only=False)
    t0 = time.monotonic()
    r = sv.ctl("stop", "app")
    stopped = time.monotonic()
    th.join(25)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in result, result
    status, body = result["resp"]
    assert status == 200 and body.startswith("version=1 "), result
    assert result["done"] <= stopped, "stop returned before the in-flight request finished"
    assert stopped - t0 < 15, "stop took {:.1f} s".format(stopped - t0)
    assert sv.state() == "STOPPED"
    sv.wait_log(r"^exiting with status 0", 1)
    gw.wait_no_gunicorn(5)
    assert sv.shutdown() == 0
    gw.wait_no_gunicorn(5)


def test_stop_during_reload_warmup(gw):
    sv = gw.supervisor(app_env={"APP_BOOT": "2"})
    sv.wait_state("RUNNING", 20)
    old = int(sv.wait_log(r"^master (\d+) ready", 30).group(1))
    gw.set_version("2")
    r = sv.ctl("signal", "HUP", "app")
    assert r.returncode == 0, r.stdout + r.stderr
    sv.wait_log(r"^reload 1: requested by signal", 5)
    sv.wait_log(r"^reload 1: \w+ -> warming", 10)
    new = helpers.wait_for(lambda: helpers.new_master_of(old), 5, "the new master")
    both = [old, new] + helpers.descendants(old)
    t0 = time.monotonic()
    r = sv.ctl("stop", "app")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert sv.state() == "STOPPED"
    assert took < 20, "stop took {:.1f} s".format(took)
    sv.wait_log(r"^exiting with status 0", 1)
    gw.wait_gone(both, timeout=5, what="both generations to exit")
    gw.wait_no_gunicorn(5)
    assert sv.shutdown() == 0
