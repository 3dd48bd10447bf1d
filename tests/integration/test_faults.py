# SPDX-License-Identifier: MIT
"""The fault matrix: things broken on purpose, around and inside a reload.

Why this file exists: gunicorn-wrapper sits between supervisord and every
request a site serves, so it must never be the reason the site goes down.
Each test here injects one fault (issue 4, "Fault matrix"), with real
gunicorn, real HTTP load and, where a restart is the point, real
supervisord, and then checks the four promises:

  1. the site kept answering: zero failed requests from a LoadGenerator
     running throughout, unless the fault itself takes the only
     generation down (then the test says what is guaranteed instead);
  2. no gunicorn process is left behind or duplicated (every master is
     counted, including a reload's new master still parented to the old);
  3. the status reply tells the truth afterwards: its master is the live
     master, the pidfile names it, state running, and the history entry
     has the right result, reason and note;
  4. the next reload works.

Phases are hit on purpose: a fault "during warm-up" waits until the new
workers are importing an app whose import takes APP_BOOT seconds; "while
draining" keeps a /slow request in flight on the old generation; "while
forking" either freezes the old master with SIGSTOP (SIGCONT right after
the fault), or, where the wrapper itself is killed, gives gunicorn a
pre_exec hook that sleeps PRE_EXEC s, so that the new master is forked but
execs itself (showing GUNICORN_PID) only later.

Run: cd /work/main && make && GW_BIN=$PWD/gunicorn-wrapper GWCTL_BIN=$PWD/gwctl \\
       /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_faults.py
"""

import os
import re
import signal
import subprocess
import time

import pytest

import control_helpers as ch
import fault_helpers as fh
import helpers
from control_helpers import ControlClient, gwctl, one_line
from helpers import GUNICORN, GW_BIN, RELOAD_OK

BOOT_FAST = "0.3"    # import time when no phase needs to last
BOOT_WARM = "1.0"    # import time when a fault must land in warm-up
PRE_EXEC = 2.0       # seconds a pre_exec hook sleeps, where the forking phase must last
                     # (longer than supervisord takes to restart a killed wrapper)


def start(gw, boot=BOOT_FAST, warmup=10, stop_timeout=5, **kw):
    """A wrapper started and ready, its socket answering: (wrapper, master)."""
    ch.require_gwctl()
    w = gw.wrapper(workers=2, warmup=warmup, stop_timeout=stop_timeout,
                   app_env={"APP_BOOT": boot}, **kw)
    master, _ = w.wait_ready(timeout=20)
    ch.wait_socket(ch.sock_path(gw), 10)
    return w, master


def start_sv(gw, boot=BOOT_FAST, warmup=10, stop_timeout=5, **kw):
    """supervisord running the wrapper, first generation ready:
    (supervisor, wrapper pid, master)."""
    ch.require_gwctl()
    sv = gw.supervisor(warmup=warmup, stop_timeout=stop_timeout,
                       app_env={"APP_BOOT": boot}, **kw)
    sv.wait_state("RUNNING", 20)
    master = int(sv.wait_log(r"^master (\d+) ready", 20).group(1))
    wpid = sv.program_pid()
    assert helpers.ppid_of(master) == wpid
    ch.wait_socket(ch.sock_path(gw), 10)
    return sv, wpid, master


def slow_exec_conf(gw, seconds=PRE_EXEC):
    """gunicorn args for a config whose pre_exec hook sleeps `seconds`: a
    reload's new master is forked at once but execs itself (and shows
    GUNICORN_PID) only then, so the wrapper's forking phase lasts."""
    conf = gw.app_dir / "slow_exec.conf.py"
    conf.write_text("import time\n\n\ndef pre_exec(server):\n    time.sleep({})\n".format(
        seconds))
    return ["-c", str(conf)]


def hup(pid):
    return lambda: os.kill(pid, signal.SIGHUP)


def only_old_generation_left(gw, old, timeout=15.0):
    """Every gunicorn process left is `old` or one of its workers."""
    def clean():
        g = gw.gunicorn_procs()
        return all(p == old or pp == old for p, pp in g.items()) and old in g
    helpers.wait_for(clean, timeout, "only master {} and its workers to be left".format(old),
                     on_timeout=lambda: helpers.describe(sorted(gw.gunicorn_procs())))


# --------------------------------------------------------------------------
# 1. kill -9 of the new master

@pytest.mark.parametrize("phase", ["usr2", "found", "warming"])
def test_kill9_new_master_before_ready(gw, phase):
    """kill -9 of the new master before it is ready: at "usr2", as soon as
    it exists in /proc (racing the wrapper's own 10 ms look for it); at
    "found", as soon as the wrapper logs `reload 1: new master N`; at
    "warming", once its workers are importing the app.
    Must: reload 1 fails safe (failed, with the reason), the old generation
    serves on with zero failed requests, nothing of the new generation is
    left, status says master = old, state running, the entry failed with
    that reason; and reload 2 works."""
    w, old = start(gw, boot=BOOT_WARM)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("2")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        if phase == "usr2":
            new = fh.wait_new_master(old, 5)
        else:
            m, _ = fh.wait_log_fast(w.log, r"^reload 1: new master (\d+)", 10, since=mark)
            new = int(m.group(1))
            if phase == "warming":
                fh.wait_workers(new, 2, 10)
                assert w.log.find(r"^reload 1: new master \d+ ready", mark) is None, \
                    "too late: the new generation is ready already"
        doomed = fh.generation(new)
        os.kill(new, signal.SIGKILL)
        m = w.wait_log(r"^reload 1 (ok|failed)(.*)", 15, since=mark)
        assert m.group(1) == "failed", "reload 1 survived the kill of its new master: " + m.group(0)
        reason = m.group(2)
        if phase == "usr2":
            assert re.match(r": (new master {} (exited|killed by signal 9)|no new master appeared)"
                            .format(new), reason), m.group(0)
        else:
            assert re.match(r": new master {} (exited|killed by signal 9 \(SIGKILL\)) "
                            r"[0-9.]+ s into warm-up, 0 of \d+ workers ready$".format(new),
                            reason), m.group(0)
        gw.wait_gone(doomed, 15, "the killed new generation {}".format(doomed))
        only_old_generation_left(gw, old)
        st, _ = fh.assert_truth(gw, old, {"id": 1, "result": "failed", "old_master": old,
                                          "reason": reason[2:],
                                          "new_master": lambda v: v in (new, None)})
        after = load.wait_more(20, 10)
        assert {r.version for r in after} == {"1"}, load.summary()
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    load.assert_no_failures()
    fh.assert_truth(gw, None, {"id": 2, "result": "ok", "old_master": old})


def test_kill9_new_master_while_draining(gw):
    """kill -9 of the new master after readiness, while the old master
    drains a 2 s request (supervisord runs the wrapper).
    The fault takes the only serving generation down: the old master was
    told to stop already.  Must: the in-flight request on the old
    generation completes; reload 1 is logged failed with "while the old one
    was draining"; once the old master has exited the wrapper exits 1 (not
    0: supervisord must restart it), leaving no gunicorn process behind;
    supervisord's restart serves again (the deployed version), with one
    master, status telling the truth; and the next reload works."""
    sv, wpid, old = start_sv(gw)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        slow = fh.InFlight(gw, "/slow?s=2")
        slow_worker = slow.start(sv.log, sv.log.mark(wrapper_only=False))
        gw.set_version("2")
        mark = sv.log.mark()
        os.kill(wpid, signal.SIGHUP)
        fh.wait_log_fast(sv.log, r"^reload 1: (?:warming|probation) -> draining", 15, since=mark)
        new = int(sv.wait_log(r"^reload 1: new master (\d+) ready", 1, since=mark).group(1))
        doomed = fh.generation(new) + fh.generation(old)
        t_kill = time.monotonic()
        os.kill(new, signal.SIGKILL)
        sv.wait_log(r"^reload 1 failed: new master {} (exited|killed by signal 9 \(SIGKILL\)) "
                    r"while the old one was draining$".format(new), 5, since=mark)
        # It was serving (the old one draining): its death is the app's, err.
        sv.wait_log(r"^master {} (exited|killed by signal 9 \(SIGKILL\)) "
                    r"\(the serving master, unasked\)$".format(new), 5, since=mark)
        slow.join(15)
        assert slow.ok_version() == "1", "in-flight request on the old generation: {} {!r} {}" \
            .format(slow.status, slow.body, slow.error)
        sv.wait_log(r"^exiting with status 1$", 10, since=mark)
        gw.wait_gone([wpid] + doomed + [slow_worker], 15,
                     "the first wrapper and both generations")
        # supervisord restarts the wrapper, which starts (or adopts) a master
        mark2 = sv.log.mark()
        helpers.wait_for(lambda: sv.program_pid() not in (0, wpid), 20,
                         "supervisord to restart the wrapper", interval=0.2,
                         on_timeout=sv.log.tail)
        load.wait_version("2", 30)
        t_back = time.monotonic()
        master = fh.wait_single_master(gw, None, 15)
        fh.assert_truth(gw, master)
        down = [r for r in load.failures if r.start < t_kill - 0.1]
        assert not down, "requests failed before the fault: " + load.summary()
        print("outage after kill -9 of the draining reload's new master: {:.1f} s, {} failed "
              "requests".format(t_back - t_kill, len(load.failures)))
        fh.next_reload_ok(gw, sv.log, hup(sv.program_pid()), "3", load)
    assert sv.log.find(r"^exiting with status 0", mark2) is None, sv.log.tail()
    assert sv.shutdown() == 0
    gw.wait_no_gunicorn(10)


# --------------------------------------------------------------------------
# 2. kill -9 of the old master

@pytest.mark.parametrize("phase", ["warming", "draining"])
def test_kill9_old_master(gw, phase):
    """kill -9 of the old master during the new generation's warm-up, or
    while it drains a 2 s request.
    Must: the new generation takes over once ready: reload 1 is recorded ok
    (old -> new), status master = the new master (the only one), the
    pidfile names it; the site keeps answering with zero failed requests
    (the orphaned old workers finish what they have, requests wait in the
    listen backlog for the new workers); the in-flight request completes;
    and reload 2 works."""
    w, old = start(gw, boot=BOOT_WARM if phase == "warming" else BOOT_FAST)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        slow = None
        if phase == "draining":
            slow = fh.InFlight(gw, "/slow?s=2")
            slow.start(w.log, w.log.mark(wrapper_only=False))
        gw.set_version("2")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        if phase == "warming":
            m, _ = fh.wait_log_fast(w.log, r"^reload 1: new master (\d+)", 10, since=mark)
            new = int(m.group(1))
            fh.wait_workers(new, 2, 10)
            assert w.log.find(r"^reload 1: new master \d+ ready", mark) is None, "too late"
        else:
            fh.wait_log_fast(w.log, r"^reload 1: (?:warming|probation) -> draining", 15, since=mark)
            new = int(w.wait_log(r"^reload 1: new master (\d+) ready", 1, since=mark).group(1))
        old_workers = [k for k in helpers.children(old) if k != new]
        os.kill(old, signal.SIGKILL)
        if phase == "warming":
            w.wait_log(r"^reload 1: old master {} killed by signal 9 \(SIGKILL\) during warm-up"
                       .format(old), 5, since=mark)
        m = w.wait_log(r"^reload 1 (ok|failed)", 15, since=mark)
        assert m.group(1) == "ok", w.log.tail()
        w.wait_log(r"^reload 1 ok: master {} -> {} ".format(old, new), 1, since=mark)
        load.wait_version("2", 10)
        if slow is not None:
            slow.join(15)
            assert slow.ok_version() == "1", "in-flight request: {} {!r} {}".format(
                slow.status, slow.body, slow.error)
        gw.wait_gone([old] + old_workers, 20, "the killed old master's workers")
        fh.assert_truth(gw, new, {"id": 1, "result": "ok", "old_master": old,
                                  "new_master": new, "reason": None, "workers": 2})
        assert w.poll() is None
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    load.assert_no_failures()


def test_kill9_old_master_while_a_broken_new_one_warms_is_down(gw):
    """The old master dies (kill -9, or gunicorn halting on a broken import
    of its own) while a broken new generation warms up: the reload fails
    and nothing serves.  That is not "failed, the old version serves on":
    the answer's code is "down", gwctl exits 6 and says so, the history
    entry has down true, and the log says it at err."""
    w, old = start(gw, boot=BOOT_WARM)
    gw.set_version("broken")
    mark = w.log.mark()
    client = subprocess.Popen([ch.GWCTL_BIN, "reload", "app"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=gw.base_env({"GW_RUN_DIR": str(gw.run_dir)}))
    gw.track(client)
    fh.wait_log_fast(w.log, r"^reload 1: new master (\d+)", 10, since=mark)
    os.kill(old, signal.SIGKILL)
    out, err = client.communicate(timeout=30)
    assert client.returncode == 6, (client.returncode, out, err)
    assert one_line(err).startswith("gwctl: reload 1 failed, and nothing serves now: "), err
    w.wait_log(r"^reload 1: nothing serves now: the old generation is gone too$", 5, since=mark)
    w.wait_exit(20)
    hist = (gw.run_dir / "app.history").read_bytes()
    assert b"\xa4down\xc3" in hist, hist[-300:]


def test_kill9_old_master_before_any_new_one_is_down(gw):
    """The old master dies (kill -9) while the reload is forking, before it
    has forked anything (it is frozen, so SIGUSR2 waits): nothing serves
    and nothing will.  The waiting client hears "down" (gwctl exits 6),
    not "failed, the old version serves on"; a reload queued behind it is
    answered as never started; the wrapper exits with the master's
    status, and no gunicorn process is left."""
    w, old = start(gw)
    mark = w.log.mark()
    env = gw.base_env({"GW_RUN_DIR": str(gw.run_dir)})

    def gwctl_reload():
        p = subprocess.Popen([ch.GWCTL_BIN, "reload", "app"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
        gw.track(p)
        return p
    clients = []
    thaw, _ = enter_phase(gw, w.log, old, "forking", lambda: clients.append(gwctl_reload()),
                          mark)
    try:
        queued = gwctl_reload()
        w.wait_log(r"^reload 2 queued", 10, since=mark)
        old_gen = set(gw.gunicorn_procs())
        os.kill(old, signal.SIGKILL)
    finally:
        thaw()
    out, err = clients[0].communicate(timeout=30)
    assert clients[0].returncode == 6, (clients[0].returncode, out, err)
    assert one_line(err).startswith("gwctl: reload 1 failed, and nothing serves now: "
                                    "old master {} ".format(old)), err
    out, err = queued.communicate(timeout=30)
    assert queued.returncode == 1, (queued.returncode, out, err)
    assert "not started: nothing serves any more" in err, err
    w.wait_log(r"^reload 1: nothing serves now: the old generation is gone too$", 5, since=mark)
    assert w.wait_exit(20) != 0
    hist = (gw.run_dir / "app.history").read_bytes()
    assert b"\xa4down\xc3" in hist, hist[-300:]
    gw.wait_gone(old_gen, 10, "the old generation's workers")


def test_stuck_new_master_with_nothing_under_it_is_killed_early(gw):
    """A failed new master that has no process left under it, yet does not
    act on SIGTERM (here: stuck in a pre_fork hook; gunicorn 20.1 was seen
    to stall like this when SIGTERM met its own worker-boot halt), has
    nothing to drain: it is killed after a short grace, not after the 60 s
    stop timeout.  The old generation serves throughout, and the next
    reload works."""
    flag = gw.app_dir / "stuck"
    conf = gw.app_dir / "stuck.conf.py"
    conf.write_text("import os\nimport time\n\n\ndef pre_fork(server, worker):\n"
                    "    if os.path.exists({!r}):\n        time.sleep(120)\n".format(str(flag)))
    w, old = start(gw, warmup=3, stop_timeout=60, extra_gunicorn=["-c", str(conf)])
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        flag.write_text("")
        gw.set_version("2")
        mark = w.log.mark()
        r = ch.gwctl(gw, "reload", "app", timeout=40)
        assert r.returncode == 1, r
        assert "not ready after 3 s" in r.stderr, r.stderr
        m = w.log.find(r"^reload 1: new master (\d+) has no process left and has not "
                       r"exited 5 s after SIGTERM: SIGKILL$", mark)
        assert m is not None, w.log.tail()
        assert w.log.find(r"still running after 60 s", mark) is None
        gw.wait_gone([int(m.group(1))], 10, "the stuck new master")
        flag.unlink()
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    load.assert_no_failures()


# --------------------------------------------------------------------------
# 3. new workers that die

def test_kill9_new_worker_during_warmup(gw):
    """kill -9 of one new worker while it imports the app: gunicorn replaces
    it.  Must: the wrapper waits for the replacement (readiness needs every
    worker's heartbeat and a settled worker set), reload 1 ok with 2
    workers, the killed worker is not among them, zero failed requests,
    one master, status truthful, reload 2 works."""
    w, old = start(gw, boot=BOOT_WARM)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("2")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        m, _ = fh.wait_log_fast(w.log, r"^reload 1: new master (\d+)", 10, since=mark)
        new = int(m.group(1))
        victim = fh.wait_workers(new, 2, 10)[0]
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        m = w.wait_log(r"^reload 1 (ok|failed)", 20, since=mark)
        assert m.group(1) == "ok", w.log.tail()
        took = time.monotonic() - t_kill
        ready = w.wait_log(r"^reload 1: new master {} ready: (\d+) workers".format(new), 1,
                           since=mark)
        assert ready.group(1) == "2", ready.group(0)
        # the replacement imported the app (BOOT_WARM s) before readiness
        assert took >= float(BOOT_WARM) * 0.8, \
            "ready {:.2f} s after the kill: the replacement was not waited for".format(took)
        load.wait_version("2", 10)
        assert victim not in helpers.children(new)
        fh.assert_truth(gw, new, {"id": 1, "result": "ok", "new_master": new, "workers": 2})
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    load.assert_no_failures()


FAULTAPP = '''\
"""test_faults.py: the example app, plus a version whose workers crash."""
import os
from app import app, VERSION  # noqa: F401
if VERSION == "crashloop":
    os._exit(1)   # not a boot error (3): gunicorn respawns the worker, for ever
'''


@pytest.mark.parametrize("kind", ["broken", "crashloop"])
def test_new_workers_crash(gw, kind):
    """A deploy whose workers cannot run.  "broken": the import raises in
    every worker (gunicorn 20 halts the new master: worker boot error).
    "crashloop": every worker exits 1 at import and gunicorn respawns it
    for ever, so the worker set never settles (warm-up budget 3 s).
    Must: reload 1 fails (the new master exited / not ready after 3 s), the
    old generation serves on with zero failed requests, the crashing
    generation is entirely gone (bounded), status truthful (master = old,
    entry failed with that reason); a fixed deploy then reloads fine."""
    (gw.app_dir / "faultapp.py").write_text(FAULTAPP)
    w, old = start(gw, warmup=3, app="faultapp:app")
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version(kind)
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        m = w.wait_log(r"^reload 1: new master (\d+)", 10, since=mark)
        new = int(m.group(1))
        m = w.wait_log(r"^reload 1 (ok|failed): (.*)", 15, since=mark)
        assert m.group(1) == "failed", m.group(0)
        reason = m.group(2)
        if kind == "broken":   # gunicorn halts, or every worker died first
            assert re.match(r"new master {} exited .* into warm-up|every new worker died "
                            r"before it could serve .*status 3".format(new), reason), reason
        else:   # fails as soon as every new worker has died unready
            assert re.match(r"every new worker died before it could serve ", reason), reason
        gw.wait_gone([new], 15, "the crashing new master")
        only_old_generation_left(gw, old)
        fh.assert_truth(gw, old, {"id": 1, "result": "failed", "reason": reason,
                                  "old_master": old})
        after = load.wait_more(20, 10)
        assert {r.version for r in after} == {"1"}, load.summary()
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    load.assert_no_failures()
    assert set(load.versions()) == {"1", "3"}, load.summary()


# --------------------------------------------------------------------------
# 4. an old master that does not stop

@pytest.mark.parametrize("how", ["request-never-ends", "master-ignores-sigterm"])
def test_drain_ends_at_stop_timeout(gw, how):
    """The old generation does not stop within --stop-timeout 3: a request
    that never finishes (/slow?s=600) is in flight on it, or its master is
    frozen (SIGSTOP) so it never acts on SIGTERM.
    Must: after 3 s the wrapper logs `old master N still running after 3 s:
    SIGKILL to it and its workers`, and the old generation is gone; reload 1
    is recorded ok with a note saying the old master was killed after the
    stop timeout (in the log line and the history entry); the new
    generation serves; no other request fails (with the frozen master its
    workers, still serving, are killed: failures are allowed only around
    that SIGKILL); status truthful; reload 2 works."""
    w, old = start(gw, stop_timeout=3)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        slow = None
        if how == "request-never-ends":
            slow = fh.InFlight(gw, "/slow?s=600", timeout=60)
            slow.start(w.log, w.log.mark(wrapper_only=False))
        cont = None
        gw.set_version("2")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        if how == "master-ignores-sigterm":
            fh.wait_log_fast(w.log, r"^reload 1: new master \d+", 10, since=mark)
            cont = fh.stop_cont(old)
        try:
            m, _ = fh.wait_log_fast(w.log, r"^reload 1: (?:warming|probation) -> draining", 15, since=mark)
            t_drain = time.monotonic()
            new = int(w.wait_log(r"^reload 1: new master (\d+) ready", 1, since=mark).group(1))
            old_gen = [old] + [k for k in helpers.children(old) if k != new]
            m, _ = fh.wait_log_fast(
                w.log, r"^reload 1: old master {} still running after 3 s: SIGKILL to it and "
                r"its workers$".format(old), 10, since=mark)
            t_kill = time.monotonic()
        finally:
            if cont is not None:
                cont()
        assert 2.8 <= t_kill - t_drain < 5, "SIGKILL {:.2f} s into the drain".format(
            t_kill - t_drain)
        note = "old master {} killed after the stop timeout (3 s)".format(old)
        w.wait_log(r"^reload 1 ok: master {} -> {} in .*; {}$".format(
            old, new, re.escape(note)), 5, since=mark)
        gw.wait_gone(old_gen, 5, "the old generation after SIGKILL")
        if slow is not None:
            slow.join(10)
            assert slow.status is None and slow.error, \
                "the never-ending request ended normally? {} {!r}".format(slow.status, slow.body)
        load.wait_version("2", 10)
        fh.assert_truth(gw, new, {"id": 1, "result": "ok", "reason": None, "note": note,
                                  "new_master": new, "t_drain": lambda v: v and v >= 2.8})
        fh.next_reload_ok(gw, w.log, hup(w.pid), "3", load)
    bad = [r for r in load.failures
           if cont is None or not (t_kill - 0.3 <= r.end <= t_kill + 1.0)]
    assert not bad, "failed requests: " + load.summary()
    print(how, load.summary())


# --------------------------------------------------------------------------
# 5. the wrapper told to stop, or killed, mid-reload

def enter_phase(gw, log, old, phase, trigger, mark, freeze=True):
    """Start a reload with trigger() and return once it is in `phase`
    (forking: with freeze, the old master is frozen so the phase lasts, and
    the returned callable thaws it; without, something else must make the
    phase last).  Returns (thaw or None, new master or None)."""
    thaw = None
    if phase == "forking" and freeze:
        thaw = fh.stop_cont(old)
    try:
        trigger()
        if phase == "forking":
            fh.wait_log_fast(log, r"^reload \d+: idle -> forking", 10, since=mark)
            return thaw, None
        m, _ = fh.wait_log_fast(log, r"^reload \d+: new master (\d+)", 10, since=mark)
        new = int(m.group(1))
        if phase == "warming":
            fh.wait_workers(new, 2, 10)
            assert log.find(r"^reload \d+: new master \d+ ready", mark) is None, "too late"
        else:
            fh.wait_log_fast(log, r"^reload \d+: (?:warming|probation) -> draining", 15, since=mark)
        return thaw, new
    except BaseException:
        if thaw:
            thaw()
        raise


@pytest.mark.parametrize("phase", ["forking", "warming", "draining"])
@pytest.mark.parametrize("how", ["sigterm", "gwctl-stop"])
def test_stop_during_reload(gw, how, phase):
    """SIGTERM or `gwctl stop` to the wrapper while a reload (requested by a
    waiting control client) is forking, warming or draining.  A 2 s request
    is in flight on the old generation.
    Must: the waiting client is answered `abandoned: the wrapper is
    stopping` with a failed entry, the log says `reload 1 failed: abandoned`;
    the in-flight request completes (graceful stop); every gunicorn process
    of both generations (also a new master forked after the stop) exits;
    the wrapper exits 0 within the stop timeout plus a margin; socket and
    pidfile are removed; requests that started before the stop all
    succeeded."""
    w, old = start(gw, boot=BOOT_WARM if phase == "warming" else BOOT_FAST)
    sock = ch.sock_path(gw)
    waiter = ControlClient(sock, timeout=30)
    try:
        with gw.load(clients=4) as load:
            load.wait_version("1", 10)
            slow = fh.InFlight(gw, "/slow?s=2")
            slow.start(w.log, w.log.mark(wrapper_only=False))
            gw.set_version("2")
            mark = w.log.mark()
            thaw, new = enter_phase(gw, w.log, old, phase,
                                    lambda: waiter.send({"cmd": "reload", "wait": True}), mark)
            try:
                t_stop = time.monotonic()
                if how == "sigterm":
                    w.signal(signal.SIGTERM)
                else:
                    r = gwctl(gw, "stop", "app", timeout=10)
                    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
            finally:
                if thaw:
                    thaw()
            everything = sorted(gw.gunicorn_procs())
            rep = waiter.recv(20)
            rc = w.wait_exit(15)
            took = time.monotonic() - t_stop
            slow.join(10)
    finally:
        waiter.close()
    assert rc == 0, "exit status {}\n{}".format(rc, w.log.tail())
    assert took < 5 + 3, "stop took {:.1f} s".format(took)
    assert rep.get("ok") is False and rep.get("error") == "abandoned: the wrapper is stopping", rep
    assert rep["reload"]["id"] == 1 and rep["reload"]["result"] == "failed", rep
    w.wait_log(r"^reload 1 failed: abandoned: the wrapper is stopping$", 1, since=mark)
    assert slow.ok_version() == "1", "in-flight request: {} {!r} {}".format(
        slow.status, slow.body, slow.error)
    gw.wait_gone(everything, 5, "every gunicorn process")
    gw.wait_no_gunicorn(5)
    assert not sock.exists(), "socket left behind"
    assert not (gw.run_dir / "app.pid").exists(), "pidfile left behind"
    assert not (gw.run_dir / "app.pid.2").exists(), "pidfile.2 left behind"
    early = [r for r in load.failures if r.start < t_stop - 0.1]
    assert not early, "requests failed before the stop: " + load.summary()


@pytest.mark.parametrize("phase", ["forking", "warming", "draining"])
def test_sigkill_wrapper_during_reload_supervised(gw, phase):
    """SIGKILL of the wrapper (under supervisord) while a reload is forking,
    warming or draining.  gunicorn carries on unsupervised: the old master
    and the reload's new master (when killed while forking, the new master
    is still running a 2 s pre_exec hook, before it execs itself).
    Must (issue 4): supervisord's restart of the wrapper adopts whichever
    master survives (`adopted gunicorn master`) and serves; the site keeps
    answering throughout (zero failed requests); afterwards exactly one
    master serves (no duplicated generation), the status tells the truth;
    the next reload works; a supervisorctl stop leaves no gunicorn; and the
    reload lines in the log give no negative phase duration."""
    # The forking phase lasts while gunicorn's pre_exec hook runs in the
    # forked new master.  (Not SIGSTOP of the old master: a stopped process
    # in the process group of a dying wrapper makes the kernel send the
    # whole orphaned group SIGHUP.)
    extra = slow_exec_conf(gw) if phase == "forking" else []
    sv, wpid, old = start_sv(gw, boot=BOOT_WARM if phase == "warming" else BOOT_FAST,
                             warmup=5, extra_gunicorn=extra)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        if phase == "draining":
            slow = fh.InFlight(gw, "/slow?s=7")   # outlasts the 5 s probation
            slow.start(sv.log, sv.log.mark(wrapper_only=False))
        gw.set_version("2")
        mark = sv.log.mark()
        _, new = enter_phase(gw, sv.log, old, phase, hup(wpid), mark, freeze=False)
        t_kill = time.monotonic()
        os.kill(wpid, signal.SIGKILL)
        helpers.wait_for(lambda: sv.program_pid() not in (0, wpid), 20,
                         "supervisord to restart the wrapper", interval=0.1,
                         on_timeout=sv.log.tail)
        m = sv.wait_log(r"^adopted gunicorn master (\d+)", 20, since=mark)
        adopted = int(m.group(1))
        print("phase {}: old {}, new {}, adopted {}".format(phase, old, new, adopted))
        if phase == "forking":
            # the interrupted reload's new master shows itself only once its
            # pre_exec hook has returned: look after that
            time.sleep(max(0.0, t_kill + PRE_EXEC + 0.5 - time.monotonic()))
        # settle: a wrapper that runs, one master, status truthful
        try:
            fh.assert_single_master_holds(gw, fh.wait_single_master(gw, None, 12), 1.0)
        except AssertionError as e:
            try:
                st = fh.status_of(gw)
                st = {k: st[k] for k in ("pid", "state", "master", "workers")}
            except Exception as exc:  # the report below matters more than why
                st = repr(exc)
            raise AssertionError("{}\nafter adopting {}: status {}\n--- log ---\n{}".format(
                e, adopted, st, "\n".join(sv.log.messages()[-12:]))) from None
        st, master = fh.assert_truth(gw, None)
        assert st["pid"] == sv.program_pid(), st
        load.wait_more(20, 10)
        fh.assert_no_failures(load, t_kill, "the SIGKILL of the wrapper")
        fh.next_reload_ok(gw, sv.log, hup(sv.program_pid()), "3", load)
    load.assert_no_failures()
    assert sv.shutdown() == 0
    gw.wait_no_gunicorn(10)
    # the log tells the truth too: no phase of a reload took negative time
    negative = [x for x in sv.log.messages()
                if re.match(r"^reload \d+ ok: ", x) and re.search(r"[ (]-[0-9.]+ s\b", x)]
    assert not negative, "reload lines with negative phase durations:\n" + "\n".join(negative)


@pytest.mark.parametrize("phase,when", [("warming", "at-adoption"), ("warming", "settled"),
                                        ("forking", "settled")])
def test_stop_after_adopting_mid_reload(gw, phase, when):
    """The wrapper is SIGKILLed while a reload warms up (or forks: its new
    master is in a 1 s pre_exec hook); a new wrapper (as supervisord would
    start) adopts the master named by the pidfile, the old one, whose new
    master from the interrupted reload runs on.  The new wrapper (warm-up
    budget 2 s) is told to stop (SIGTERM) at once ("at-adoption"), or once
    the interrupted reload's new master has exec'd and the status says
    running with no reload in progress ("settled").
    Must (README: "a stop never leaves a generation running
    unsupervised"): the new wrapper exits 0 and no gunicorn process is left,
    including the interrupted reload's new master and its workers."""
    pre_exec = 1.0     # the test starts the second wrapper at once
    extra = slow_exec_conf(gw, pre_exec) if phase == "forking" else []
    w, old = start(gw, boot=BOOT_WARM if phase == "warming" else BOOT_FAST,
                   extra_gunicorn=extra)
    gw.set_version("2")
    mark = w.log.mark()
    _, new = enter_phase(gw, w.log, old, phase, hup(w.pid), mark, freeze=False)
    t_kill = time.monotonic()
    w.signal(signal.SIGKILL)
    assert w.wait_exit(5) == -signal.SIGKILL
    w2 = gw.wrapper(workers=2, warmup=2, stop_timeout=5, app_env={"APP_BOOT": BOOT_WARM},
                    extra_gunicorn=extra, log_name="wrapper2.log")
    m = w2.wait_log(r"^adopted gunicorn master (\d+)", 10)
    assert int(m.group(1)) == old, m.group(0)
    if when == "settled":
        if phase == "forking":
            time.sleep(max(0.0, t_kill + pre_exec + 0.5 - time.monotonic()))
            new = fh.wait_new_master(old, 5, interval=0.05)
        fh.wait_idle_status(gw, 15)
    everything = sorted(set(gw.gunicorn_procs()) | set(fh.generation(new) if new else []))
    w2.signal(signal.SIGTERM)
    rc = w2.wait_exit(15)
    assert rc == 0, "exit status {}\n{}".format(rc, w2.log.tail())
    try:
        gw.wait_gone(everything, 5, "every gunicorn process after the stop")
        gw.wait_no_gunicorn(5)
    except AssertionError as e:
        raise AssertionError("{}\n(old master {}, interrupted reload's new master {})\n"
                             "--- wrapper2 log ---\n{}".format(
                                 e, old, new, "\n".join(w2.messages()))) from None


# --------------------------------------------------------------------------
# 6. the pidfile tampered with

def dead_pid(gw):
    p = subprocess.Popen(["true"], env=gw.base_env())
    p.wait(5)
    return p.pid


def tamper(gw, kind, other):
    path = gw.run_dir / "app.pid"
    if kind == "deleted":
        path.unlink()
    elif kind == "truncated":
        with open(path, "w"):
            pass
    else:
        path.write_text("{}\n".format(other))


@pytest.mark.parametrize("kind", ["deleted", "truncated", "dead-pid", "live-pid"])
def test_pidfile_tampered(gw, kind):
    """The pidfile deleted, truncated, or rewritten with another PID (a dead
    one, or a live unrelated `sleep 60`), once before reload 1 and once
    during reload 2's warm-up.
    Must: both reloads succeed (or fail cleanly) while the site answers
    with zero failed requests; the unrelated process is never signalled;
    after each reload the pidfile names the new master and status tells
    the truth; a third, clean reload works."""
    w, first = start(gw, boot=BOOT_FAST)
    other = None
    sleeper = None
    if kind == "dead-pid":
        other = dead_pid(gw)
    elif kind == "live-pid":
        sleeper = fh.unrelated_process(gw)
        other = sleeper.pid
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        # before
        tamper(gw, kind, other)
        n1, m1 = fh.next_reload_ok(gw, w.log, hup(w.pid), "2", load)
        fh.assert_truth(gw, m1, {"id": 1, "result": "ok", "new_master": m1})
        # during
        gw.set_version("3")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        fh.wait_log_fast(w.log, r"^reload 2: forking -> warming", 10, since=mark)
        tamper(gw, kind, other)
        m = w.wait_log(r"^reload 2 (ok|failed)", 15, since=mark)
        assert m.group(1) == "ok", w.log.tail()
        m2 = int(w.wait_log(RELOAD_OK.format(2), 1, since=mark).group(2))
        load.wait_version("3", 10)
        fh.assert_truth(gw, m2, {"id": 2, "result": "ok", "new_master": m2})
        fh.next_reload_ok(gw, w.log, hup(w.pid), "4", load)
    load.assert_no_failures()
    if sleeper is not None:
        assert sleeper.poll() is None and helpers.is_alive(other), \
            "the unrelated process {} named by the pidfile was killed".format(other)
    assert w.poll() is None


# --------------------------------------------------------------------------
# 7. a run directory that cannot be used, a socket path that cannot fit,
#    a second wrapper of the same name

def run_wrapper(gw, argv, timeout=15, user=None):
    helpers.require_binary()
    if user is not None:
        argv = ch.as_user_argv(user, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=gw.base_env(), cwd="/", stdin=subprocess.DEVNULL)


def wrapper_argv(gw, *opts):
    return ([GW_BIN, "--name", "app", "--gunicorn", GUNICORN] + list(opts)
            + ["--", "-w", "1", "-b", "127.0.0.1:{}".format(gw.port), "--chdir",
               str(gw.app_dir), "app:app"])


def run_dir_case(gw, case):
    """(run dir, expected substring of the error, user) for a case."""
    afile = gw.tmp / "afile"
    afile.write_text("x\n")
    if case == "under-a-file":
        return afile / "run", "Not a directory", None
    if case == "is-a-file":
        return afile, "not a directory", None
    if case == "proc":
        return "/proc/1", "not writable", None
    d = ch.world_traversable_dir(gw, "gwfault-")   # root's, 0755: not nobody's
    return d, "not writable", "nobody"


@pytest.mark.parametrize("case", ["under-a-file", "is-a-file", "proc", "nobody"])
def test_run_dir_unusable(gw, case):
    """--run-dir that cannot be used: a path under a regular file (ENOTDIR),
    a regular file, /proc/1 (a directory no one can create files in, even
    root), and a root-owned 0755 directory for the user nobody.
    Must: one clear line on stderr naming the directory and the problem,
    exit 1 (a runtime error), no gunicorn started, nothing created."""
    if case == "nobody" and not ch.can_run_as_other_user():
        pytest.fail("cannot run as nobody here (needs root and setpriv or su)")
    run_dir, expect, user = run_dir_case(gw, case)
    r = run_wrapper(gw, wrapper_argv(gw, "--run-dir", str(run_dir)), user=user)
    line = one_line(r.stderr)
    assert r.returncode == 1, "exit {}: {!r}".format(r.returncode, r.stderr)
    assert line.startswith("gunicorn-wrapper: ") and str(run_dir) in line, line
    assert expect.lower() in line.lower(), "error does not say {!r}: {!r}".format(expect, line)
    assert not r.stdout.strip(), r.stdout
    assert not gw.gunicorn_procs(), helpers.describe(gw.gunicorn_procs())
    if case == "under-a-file":
        assert not os.path.exists(run_dir)
    if case == "nobody":
        assert not list(run_dir.iterdir()), list(run_dir.iterdir())


@pytest.mark.parametrize("case", ["socket-option", "run-dir"])
def test_socket_path_too_long(gw, case):
    """A control socket path too long for sun_path: --socket of 120+ bytes,
    or a run directory whose NAME.sock is.  Must: one line naming the
    setting and saying it is too long, exit 2 (usage), no gunicorn started,
    nothing created (not even the run directory)."""
    if case == "socket-option":
        run_dir = gw.run_dir
        sock = str(gw.tmp / ("s" * 120))
        argv = wrapper_argv(gw, "--run-dir", str(run_dir), "--socket", sock)
        setting = "--socket"
    else:
        run_dir = gw.tmp / ("r" * 110)
        argv = wrapper_argv(gw, "--run-dir", str(run_dir))
        setting = "run directory"
    r = run_wrapper(gw, argv)
    line = one_line(r.stderr)
    assert r.returncode == 2, "exit {}: {!r}".format(r.returncode, r.stderr)
    assert setting in line and "too long" in line, line
    assert not gw.gunicorn_procs(), helpers.describe(gw.gunicorn_procs())
    if case == "socket-option":
        assert not list(run_dir.iterdir()), list(run_dir.iterdir())
    else:
        assert not run_dir.exists(), "run directory created"


@pytest.mark.parametrize("socket_opt", ["same-socket", "other-socket"])
def test_second_wrapper_during_reload(gw, socket_opt):
    """A second wrapper with the same name and run directory (so the same
    pidfile) started while the first one is in the middle of a reload,
    under load; "other-socket" gives the second one its own --socket, as a
    hand-run wrapper with another GW_SOCKET would.
    Must: refused at once (exit 1, one line saying another gunicorn-wrapper
    named app is running), nothing started or adopted, the first wrapper's
    socket and pidfile untouched, its reload ok, zero failed requests, one
    master."""
    w, old = start(gw, boot=BOOT_WARM)
    sock = ch.sock_path(gw)
    argv = list(w.argv)
    if socket_opt == "other-socket":
        argv[1:1] = ["--socket", str(gw.tmp / "other.sock")]
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("2")
        mark = w.log.mark()
        w.signal(signal.SIGHUP)
        w.wait_log(r"^reload 1: forking -> warming", 10, since=mark)
        second_log = gw.tmp / "second.log"
        with open(second_log, "wb") as out:
            second = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, env=w.proc_env,
                                      cwd=str(gw.tmp), start_new_session=True)
        gw.track(second)
        try:
            rc = second.wait(3)
        except subprocess.TimeoutExpired:
            rc = None
        text = second_log.read_text()
        assert rc == 1 and "] adopted gunicorn master" not in text, \
            "second wrapper not refused (exit {}):\n{}".format(rc, text)
        line = one_line(text)
        assert line.startswith("gunicorn-wrapper: another gunicorn-wrapper named app is "
                               "running"), line
        if socket_opt == "same-socket":
            assert line.endswith(" on {}".format(sock)), line
        assert w.log.find(r"^reload 1 (ok|failed)", mark) is None, "reload 1 ended too soon"
        ours = set(helpers.descendants(w.pid))
        strays = [p for p in gw.gunicorn_procs() if p not in ours]
        assert not strays, "gunicorn outside the first wrapper's tree:\n" + helpers.describe(
            strays)
        assert fh.pidfile_pid(gw) == old, "the refused wrapper touched the pidfile"
        assert sock.exists(), "the refused wrapper removed the live socket"
        m = w.wait_log(r"^reload 1 (ok|failed)", 15, since=mark)
        assert m.group(1) == "ok", w.log.tail()
        new = int(w.wait_log(RELOAD_OK.format(1), 1, since=mark).group(2))
        load.wait_version("2", 10)
        st, _ = fh.assert_truth(gw, new, {"id": 1, "result": "ok"})
        assert st["pid"] == w.pid, st
    load.assert_no_failures()


# --------------------------------------------------------------------------
# 8. a storm of reload requests

def test_reload_storm(gw):
    """100 SIGHUPs and 100 `gwctl reload --no-wait`, interleaved, within a
    few seconds, under load.
    Must: the requests coalesce (far fewer than 200 reloads); reloads never
    overlap (each `reload N: starting` comes after `reload N-1 ok|failed`);
    every reload ok; every gwctl exits 0 with `reload N requested`, N never
    decreasing; zero failed requests; afterwards state running, nothing
    queued, one master, status truthful, and the last version serves."""
    w, first = start(gw)
    ids = []
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("2")
        t0 = time.monotonic()
        procs = []
        for i in range(100):
            w.signal(signal.SIGHUP)
            time.sleep(0.02)   # pacing: spread the storm over ~2.5 s, across phases
            procs.append(subprocess.Popen(
                [ch.GWCTL_BIN, "reload", "app", "--no-wait"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                env=gw.base_env({"GW_RUN_DIR": str(gw.run_dir)})))
            if len(procs) >= 10:   # at most 10 gwctl at once
                p = procs.pop(0)
                out, err = p.communicate(timeout=10)
                ids.append((p.returncode, out, err))
        for p in procs:
            out, err = p.communicate(timeout=10)
            ids.append((p.returncode, out, err))
        storm = time.monotonic() - t0
        bad = [x for x in ids if x[0] != 0 or not re.match(r"^reload \d+ requested\n$", x[1])]
        assert not bad, "gwctl reload --no-wait: {!r}".format(bad[:5])
        numbers = [int(re.match(r"^reload (\d+)", x[1]).group(1)) for x in ids]
        st = fh.wait_idle_status(gw, 40)
        load.wait_version("2", 10)
        last_id = st["history"][-1]["id"]
        assert max(numbers) <= last_id, (numbers, st["history"])
    load.assert_no_failures()
    msgs = w.messages()
    starts = [int(m.group(1)) for m in (re.match(r"^reload (\d+): starting", x) for x in msgs)
              if m]
    print("storm took {:.2f} s; {} reloads; gwctl ids {}..{}".format(
        storm, len(starts), min(numbers), max(numbers)))
    assert starts == list(range(1, len(starts) + 1)), starts
    assert 1 <= len(starts) <= 20, "{} reloads for 200 requests".format(len(starts))
    assert last_id == len(starts), (last_id, starts)
    # no overlap
    end_of = {}
    for i, x in enumerate(msgs):
        m = re.match(r"^reload (\d+) (ok|failed)", x)
        if m:
            end_of[int(m.group(1))] = (i, m.group(2))
    for n in starts:
        assert n in end_of and end_of[n][1] == "ok", "reload {}: {}".format(n, end_of.get(n))
        i_start = next(i for i, x in enumerate(msgs) if x.startswith("reload {}: starting".format(n)))
        if n > 1:
            assert i_start > end_of[n - 1][0], "reload {} started before reload {} ended".format(
                n, n - 1)
    fh.assert_truth(gw, None, {"id": last_id, "result": "ok"})
    assert all(e["result"] == "ok" for e in fh.status_of(gw)["history"])


# --------------------------------------------------------------------------
# 9. gunicorn configurations users run

def custom_argv(gw, gargs, warmup=10, stop_timeout=5):
    return [GW_BIN, "--name", "app", "--run-dir", str(gw.run_dir), "--gunicorn", GUNICORN,
            "--warmup", str(warmup), "--stop-timeout", str(stop_timeout), "--"] + gargs


@pytest.mark.parametrize("config", ["preload", "gthread", "unix-socket", "config-file"])
def test_reload_in_real_configs(gw, config):
    """A reload under load in configurations users really run: --preload,
    `-k gthread --threads 2`, a Unix-socket bind (`-b unix:PATH`, load over
    AF_UNIX), and a config file (-c) setting workers, bind and pidfile.
    Must: reload ok, the new version served, zero failed requests, one
    master, status truthful; a second reload works too.  For the config
    file: the wrapper reads gunicorn's settings and uses the file's pidfile
    (it adds no --pid): that one names the master, RUN_DIR/app.pid is never
    written."""
    env = {"APP_BOOT": BOOT_FAST}
    base = ["--chdir", str(gw.app_dir), "--graceful-timeout", "10"]
    conf_pid = gw.tmp / "from-config.pid"
    sock = None
    if config == "preload":
        w = gw.wrapper(workers=2, warmup=10, stop_timeout=5, app_env=env,
                       extra_gunicorn=["--preload"])
    elif config == "gthread":
        w = gw.wrapper(workers=2, warmup=10, stop_timeout=5, app_env=env,
                       extra_gunicorn=["-k", "gthread", "--threads", "2"])
    elif config == "unix-socket":
        sock = gw.tmp / "http.sock"
        w = gw.wrapper(argv=custom_argv(gw, ["-w", "2", "-b", "unix:{}".format(sock)] + base
                                        + ["app:app"]), app_env=env)
    else:
        conf = gw.app_dir / "gunicorn.conf.py"
        conf.write_text("workers = 2\nbind = ['127.0.0.1:{}']\npidfile = {!r}\n".format(
            gw.port, str(conf_pid)))
        w = gw.wrapper(argv=custom_argv(gw, ["-c", str(conf)] + base + ["app:app"]),
                       app_env=env)
    first, count = w.wait_ready(timeout=20)
    assert count == 2
    ch.wait_socket(ch.sock_path(gw), 10)
    if sock is not None:
        load = fh.UnixLoadGenerator(sock, clients=4)
        gw._loads.append(load)
    else:
        load = gw.load(clients=4)
    with load:
        load.wait_version("1", 10)
        for version in ("2", "3"):
            gw.set_version(version)
            mark = w.log.mark()
            w.signal(signal.SIGHUP)
            m = w.wait_log(r"^reload \d+ (ok|failed)", 20, since=mark)
            assert m.group(1) == "ok", w.log.tail()
            new = int(w.wait_log(r"^reload \d+ ok: master \d+ -> (\d+)", 1, since=mark).group(1))
            load.wait_version(version, 10)
            fh.assert_truth(gw, new, {"result": "ok", "new_master": new, "workers": 2},
                            pidfile=config != "config-file")
    load.assert_no_failures()
    if config == "unix-socket":
        assert sock.exists(), "the Unix socket disappeared with the old master"
    if config == "config-file":
        assert not (gw.run_dir / "app.pid").exists(), "the wrapper added --pid"
        helpers.wait_for(lambda: conf_pid.read_text().strip() == str(new), 5,
                         "the config file's pidfile to name the new master")
    w.signal(signal.SIGTERM)
    assert w.wait_exit(20) == 0, w.log.tail()
    gw.wait_no_gunicorn(10)
