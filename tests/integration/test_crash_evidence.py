# SPDX-License-Identifier: MIT
"""Telling a crash loop from recycling, as root and as another user (issue 20).

Why this file exists: the wrapper fails a reload whose new workers die
after they became ready, but a worker that exits is also what gunicorn's
--max-requests recycling looks like, and the wrapper tells them apart by
the worker's exit status.  As root it reads every status (the process
connector).  Run as another user (supervisord's user=www-data, here
setpriv to nobody) it used to read none: a crash loop under --max-requests
was promoted and the healthy generation retired.  And exit 0 was taken as
gunicorn's own retirement even where gunicorn retires no worker.

The first three cases run on gunicorn 20.1, 23.0 and 26.1, as root and as
nobody, with real HTTP load:

  * new workers serve, then os._exit(1) 0.5 s after their import, under
    --max-requests recycling: the reload fails safe, the old generation
    keeps serving;
  * the same with os._exit(0), without --max-requests: it fails too;
  * --max-requests 5 at full load (a healthy deploy that recycles all the
    time) still reloads ok.

Then, on 20.1 as root: --max-requests set in a config file or in
GUNICORN_CMD_ARGS, not on the command line (read by the wrapper's probe
of gunicorn's settings at start), is recycling too.

And the field's own cell: supervisord runs the wrapper with user=nobody,
--max-requests under load, the new workers os._exit(1) 3 s after their
import, inside probation: the reload fails, supervisord keeps its PID.

Heavy recycling found two false crash loops, fixed with it: a worker that
serves its quota and exits 0 before the first look saw its heartbeat, and
a non-root wrapper taking an ending worker's unreadable /proc/PID/fd (the
kernel shows it to root alone once the process has no memory) for a
reason to fall back to the timer.

The status as another user comes from the worker's pidfd once gunicorn has
reaped it (Linux 6.15, PIDFD_INFO_EXIT, asked of the kernel); where the
kernel lacks it the non-root cases skip with the reason, since the status
is then read only when a look catches the zombie.
"""

import json
import os
import shutil
import signal

import pytest

import control_helpers as ch
import helpers
import versions

NOBODY = ch.NOBODY


def kernel_reads_exit_status():
    """Whether a pidfd tells a reaped process's exit status (Linux 6.15's
    PIDFD_GET_INFO with PIDFD_INFO_EXIT): asked of the kernel, with a
    child of ours that exits 3, not read off its version."""
    import fcntl
    import struct
    import subprocess
    p = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    try:
        fd = os.pidfd_open(p.pid)
    except OSError:
        p.wait()
        return False
    try:
        p.wait()
        buf = bytearray(struct.pack("Q", 1 << 3) + bytes(56))
        fcntl.ioctl(fd, 0xC040FF0B, buf)    # _IOWR(0xFF, 11, 64 bytes)
    except OSError:
        return False
    finally:
        os.close(fd)
    mask, = struct.unpack_from("Q", buf, 0)
    code, = struct.unpack_from("i", buf, 60)
    return bool(mask & (1 << 3)) and code == 3 << 8


def as_user(gw, w, user):
    """ch.wrapper_as(), on a kernel that tells a non-child's exit status."""
    if user != "root" and not kernel_reads_exit_status():
        pytest.skip("kernel {} has no PIDFD_INFO_EXIT (Linux 6.15), so a "
                    "wrapper that is not root reads a worker's exit status only "
                    "when it catches the zombie".format(os.uname().release))
    return ch.wrapper_as(gw, w, user)


def nobody_env(gw):
    """The test's app and run directories under one every user can
    traverse (the test's tmp is root's 0700), the run directory nobody's."""
    base = ch.world_traversable_dir(gw, "gwcrash-")
    app = base / "app"
    shutil.copytree(gw.app_dir, app)
    gw.app_dir = app
    gw.run_dir = base / "run"
    gw.run_dir.mkdir()
    os.chown(gw.run_dir, *NOBODY)


def start(gw, version, user, extra_gunicorn, probation="3"):
    w = versions.wrapper(gw, version=version, workers=2, warmup=20, start=False,
                         extra_gunicorn=extra_gunicorn,
                         app_env={"GW_PROBATION": probation})
    as_user(gw, w, user)
    w.start()
    old, _ = w.wait_ready(timeout=25)
    if user != "root":
        for pid in (w.pid, old):
            assert os.stat("/proc/{}".format(pid)).st_uid == NOBODY[0], \
                "{} is not nobody's".format(pid)
    return w, old


def reload_json(gw):
    r = ch.gwctl(gw, "--json", "reload", "app", timeout=60)
    return r, json.loads(r.stdout)


def fails_safe(gw, w, old, load, version_text):
    gw.set_version(version_text)
    r, res = reload_json(gw)
    assert r.returncode == 1 and res["result"] == "failed", \
        "exit {}: {}\n{}".format(r.returncode, res, w.log.tail(60))
    assert "died abnormally" in res["reason"], res["reason"]
    assert res["master"] == old, res
    helpers.wait_for(lambda: gw.masters() == [old], 15, "only the old master to remain",
                     on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
    after = load.wait_more(20, timeout=15)
    assert after and all(x.ok for x in after), load.summary()
    return res["reason"]


def reloads_ok_at_full_load(gw, w):
    """Two reloads under load with no pause between requests: both ok,
    no request failed."""
    with gw.load(clients=6, timeout=10, pause=0) as load:
        load.wait_version("1", 15)
        for n in (2, 3):
            gw.set_version(str(n))
            r, res = reload_json(gw)
            assert r.returncode == 0 and res["result"] == "ok", \
                "{}\n{}".format(res, w.log.tail(60))
            load.wait_version(str(n), 15)
        assert load.wait_more(50, timeout=15), load.summary()
    load.assert_no_failures()


USERS = ("root", "nobody")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", versions.ALL)
def test_crash_loop_under_recycling_fails_safe(gw, version, user):
    """--max-requests 200 under load (the old workers recycle every few
    seconds), new workers os._exit(1) 0.5 s after
    their import: the reload fails with the status, the old serves.  As
    nobody it used to end ok (an unknown status counted as recycled)."""
    w, old = start(gw, version, user, ["--max-requests", "200",
                                       "--max-requests-jitter", "50"])
    with gw.load(clients=4, timeout=10) as load:
        load.wait_version("1", 15)
        reason = fails_safe(gw, w, old, load, "exit:0.5:1:{}".format(old))
    assert "exited with status 1" in reason, reason
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", versions.ALL)
def test_exit_zero_is_no_retirement_without_max_requests(gw, version, user):
    """Without --max-requests gunicorn retires no worker: new workers that
    os._exit(0) 0.5 s after their import are a crash loop.  As root this
    used to end ok (exit 0 was taken as a retirement)."""
    w, old = start(gw, version, user, [])
    with gw.load(clients=2, timeout=10) as load:
        load.wait_version("1", 15)
        reason = fails_safe(gw, w, old, load, "exit:0.5:0:{}".format(old))
    assert "exited with status 0" in reason and "--max-requests" in reason, reason
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("version", versions.ALL)
def test_heavy_recycling_reloads_ok(gw, version, user):
    """--max-requests 5 at full load: every worker is retired every few
    requests, and each reload still ends ok (no false crash loop)."""
    w, old = start(gw, version, user, ["--max-requests", "5"], probation="2")
    reloads_ok_at_full_load(gw, w)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


@pytest.mark.parametrize("source", ["config-file", "GUNICORN_CMD_ARGS"])
def test_max_requests_outside_the_command_line_is_recycling(gw, source):
    """--max-requests 5 at full load, set in a config file or in
    GUNICORN_CMD_ARGS: the wrapper reads gunicorn's own settings at start,
    so the exits 0 count as retirements and each reload ends ok (they
    would be a crash loop if only the command line were read)."""
    extra, env = [], {}
    if source == "config-file":
        conf = gw.app_dir / "recycle.conf.py"
        conf.write_text("max_requests = 5\n")
        extra = ["-c", str(conf)]
    else:
        env = {"GUNICORN_CMD_ARGS": "--max-requests 5"}
    w = versions.wrapper(gw, workers=2, warmup=20, extra_gunicorn=extra, extra_env=env,
                         app_env={"GW_PROBATION": "2"})
    w.wait_ready(timeout=25)
    reloads_ok_at_full_load(gw, w)
    assert "Autorestarting worker" in w.log.text(), "gunicorn did not recycle"
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0


@pytest.mark.parametrize("version", versions.ALL)
def test_crash_loop_three_seconds_under_supervisord_as_nobody(gw, version):
    """The field's cell: supervisord (root) runs the wrapper with
    user=nobody, gunicorn with --max-requests under load; the new workers
    os._exit(1) 3 s after their import (before their quota), past the
    warm-up and inside the 5 s probation.  The reload fails safe, supervisord still sees the
    same wrapper PID, and the old master serves on."""
    if not ch.can_run_as_other_user():
        pytest.skip("needs root to give supervisord's program another user")
    if not kernel_reads_exit_status():
        pytest.skip("kernel {} has no PIDFD_INFO_EXIT (Linux 6.15)".format(
            os.uname().release))
    nobody_env(gw)
    versions.install_apps(gw)
    tmpdir = versions.short_tmpdir(gw)
    os.chown(tmpdir, *NOBODY)
    gargs = ["-w", "2", "-b", "127.0.0.1:{}".format(gw.port), "--chdir", str(gw.app_dir),
             "--max-requests", "2000", "--max-requests-jitter", "50"]
    if version not in (versions.DEBIAN, "23.0.0"):
        gargs += ["--control-socket", str(tmpdir / "gunicorn.ctl")]
    command = [helpers.GW_BIN, "--name", "app", "--run-dir", str(gw.run_dir),
               "--gunicorn", versions.launcher(version), "--warmup", "20",
               "--stop-timeout", "20", "--"] + gargs + ["rapp:app"]
    helpers.require_binary()
    sv = gw.supervisor(command=command, user="nobody", directory=gw.app_dir.parent,
                       app_env={"TMPDIR": str(tmpdir), "GW_PROBATION": "5"})
    m = sv.wait_log(r"^master (\d+) ready", timeout=25)
    old = int(m.group(1))
    pid = sv.program_pid()
    assert os.stat("/proc/{}".format(pid)).st_uid == NOBODY[0], "the wrapper is not nobody's"
    with gw.load(clients=4, timeout=10) as load:
        load.wait_version("1", 15)
        gw.set_version("exit:3:1:{}".format(old))
        r, res = reload_json(gw)
        assert r.returncode == 1 and res["result"] == "failed", \
            "exit {}: {}\n{}".format(r.returncode, res, sv.log.tail(60))
        assert "probation" in res["reason"] and "exited with status 1" in res["reason"], res
        assert res["master"] == old, res
        helpers.wait_for(lambda: gw.masters() == [old], 15, "only the old master to remain",
                         on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
        after = load.wait_more(20, timeout=15)
        assert after and all(x.ok for x in after), load.summary()
    assert sv.program_pid() == pid and sv.state() == "RUNNING", sv.state()
    assert sv.shutdown() == 0
