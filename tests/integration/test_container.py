# SPDX-License-Identifier: MIT
"""The wrapper as PID 1, as in a container (docker run, a Kubernetes pod).

`unshare --pid --fork --mount-proc --kill-child` gives the wrapper a PID
namespace of its own, in which it is PID 1: what `docker run` does to an
image whose ENTRYPOINT is the wrapper.  In there PID 1 inherits every
orphan of the namespace and must reap it, and the kernel delivers it only
the signals it has handlers for; when it exits, the kernel kills whatever
is left in the namespace.  The test checks:

  * the wrapper is PID 1 (NSpid) and serves;
  * an exec probe (`gwctl status` run inside the namespace with nsenter,
    as `kubectl exec` or a livenessProbe would) succeeds;
  * a reload by signal from outside (`docker kill -s HUP`) works;
  * an orphan (a process double-forked by gunicorn's when_ready hook) is
    reparented to the wrapper and reaped when it exits: no zombie stays;
  * SIGTERM from outside (`docker stop`) stops it with status 0, and
    nothing of the namespace survives.

Processes are found through the tree under the unshare process (children
files, NSpid), never by name.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

import control_helpers as ch
import helpers
from helpers import GUNICORN, GW_BIN, RELOAD_OK

UNSHARE = shutil.which("unshare")
NSENTER = shutil.which("nsenter")

HOOK = '''
import os, time

def when_ready(server):
    """Once (the file is created exclusively): leave an orphan that writes
    its namespace PID, lives ORPHAN_LIFE seconds, and exits."""
    path = os.environ.get("ORPHAN_FILE")
    if not path:
        return
    try:
        fd = os.open(path + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                with open(path + ".tmp", "w") as f:
                    f.write(str(os.getpid()))
                os.rename(path + ".tmp", path)
                time.sleep(float(os.environ.get("ORPHAN_LIFE", "2")))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
'''


def children(pid):
    out = []
    for task in os.listdir("/proc/{}/task".format(pid)) if os.path.isdir(
            "/proc/{}/task".format(pid)) else []:
        raw = helpers._read("/proc/{}/task/{}/children".format(pid, task), "r")
        out += [int(x) for x in (raw or "").split()]
    return out


def nspid(pid):
    """The PID of host process pid in its innermost namespace, or None."""
    raw = helpers._read("/proc/{}/status".format(pid), "r")
    for line in (raw or "").splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def tree(root):
    """{host pid: namespace pid} of root's descendants (root excluded)."""
    seen, todo = {}, children(root)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        ns = nspid(p)
        if ns is None:
            continue
        seen[p] = ns
        todo += children(p)
    return seen


@pytest.fixture
def pid1(gw):
    if UNSHARE is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run([UNSHARE, "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip("cannot create a PID namespace here: " + probe.stderr.strip())
    conf = gw.tmp / "hook.py"
    conf.write_text(HOOK)
    orphan_file = gw.tmp / "orphan.pid"
    log_path = gw.tmp / "wrapper.log"
    argv = [UNSHARE, "--pid", "--fork", "--mount-proc", "--kill-child",
            GW_BIN, "--name", "app", "--run-dir", str(gw.run_dir), "--gunicorn", GUNICORN,
            "--stop-timeout", "20", "--",
            "-w", "2", "-b", "127.0.0.1:{}".format(gw.port), "--chdir", str(gw.app_dir),
            "-c", str(conf), "app:app"]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=str(gw.tmp),
                                env=gw.base_env({"ORPHAN_FILE": str(orphan_file),
                                                 "ORPHAN_LIFE": "2"}),
                                start_new_session=True)
    gw.track(proc)
    log = helpers.LogFile(log_path, exit_status=proc.poll, who="wrapper")
    wrapper = helpers.wait_for(lambda: (children(proc.pid) or [None])[0], 10,
                               "the wrapper under unshare", on_timeout=log.tail)
    return proc, wrapper, log, orphan_file


def test_pid1_reload_reap_stop(gw, pid1):
    proc, wrapper, log, orphan_file = pid1
    assert nspid(wrapper) == 1, "the wrapper is not PID 1 of its namespace"
    log.wait_log(r"^master (\d+) ready: (\d+) workers", 20)
    gw.wait_serving(timeout=20)

    # The exec probe, inside the namespace.
    if NSENTER is not None:
        r = subprocess.run([NSENTER, "--target", str(wrapper), "--pid", "--mount",
                            ch.GWCTL_BIN, "status", "app"],
                           capture_output=True, text=True, timeout=10,
                           env=gw.base_env({"GW_RUN_DIR": str(gw.run_dir)}))
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        assert "app" in r.stdout

    # The orphan: reparented to PID 1 (the wrapper), then reaped.
    ns_orphan = int(helpers.wait_for(
        lambda: orphan_file.exists() and orphan_file.read_text(), 20, "the orphan's pid file"))
    host = [h for h, n in tree(proc.pid).items() if n == ns_orphan]
    assert host, "orphan {} not found in the namespace".format(ns_orphan)
    orphan = host[0]
    assert helpers.ppid_of(orphan) == wrapper, \
        "orphan's parent is {}, not the wrapper {}".format(helpers.ppid_of(orphan), wrapper)
    helpers.wait_for(lambda: helpers.proc_stat(orphan) is None, 15,
                     "the orphan {} reaped (state now {})".format(
                         orphan, helpers.proc_stat(orphan)))

    # A reload by signal from outside: docker kill -s HUP.
    mark = log.mark()
    os.kill(wrapper, signal.SIGHUP)
    log.wait_log(RELOAD_OK.format(1), 30, since=mark)
    gw.wait_serving(timeout=10)
    # Masters and workers of the old generation are reaped too (one may be
    # between exit and reap for an instant).
    helpers.wait_for(lambda: not [h for h in tree(proc.pid)
                                  if (helpers.proc_stat(h) or ("?",))[0] == "Z"],
                     5, "no zombie in the namespace")

    # docker stop: SIGTERM to PID 1; status 0, and the namespace is empty.
    inside = list(tree(proc.pid))
    os.kill(wrapper, signal.SIGTERM)
    rc = proc.wait(timeout=40)
    assert rc == 0, "unshare exited {}\n{}".format(rc, log.tail())
    log.wait_log(r"^exiting with status 0", 1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(helpers.is_alive(p) for p in inside):
        time.sleep(helpers.POLL)
    assert not [p for p in inside if helpers.is_alive(p)]
