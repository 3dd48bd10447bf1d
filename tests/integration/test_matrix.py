# SPDX-License-Identifier: MIT
"""The reload, broken-deploy and fault core on every gunicorn we support.

Why this file exists: the heartbeat the wrapper reads changed in gunicorn
21 (fchmod became utime), the dirty arbiter came in 25, worker classes
differ in how and when they beat.  One run of the core on each cell of
the matrix keeps them all honest:

  gunicorn 20.1 (Debian), 23.0.0, 26.1.0 (../shared/gunicorn; skipped
  with a reason when absent), sync workers:
      a reload under load, a broken deploy, a crash-looping deploy,
      a fixed deploy after them; no request lost;
  worker classes: gthread (20.1), UvicornWorker (20.1, python3-uvicorn),
      gevent and eventlet (23.0.0), asgi (26.1.0): a reload under load;
  16 workers with --worker-tmp-dir /dev/shm (26.1.0), 1 worker (23.0.0);
  --preload with --max-requests and jitter under load (26.1.0): reloads
      ok through the churn, and a broken deploy leaves the old code
      serving, every response of it.

Dirty workers on 26.1 are in test_readiness.py.  Cells are chosen to keep
the file near a minute and a half on two cores: probation is 1 s here.
"""

import signal
import time

import pytest

import helpers
import versions
from helpers import RELOAD_OK

FAILED = r"^reload {} failed: (.*)"
FAST = {"GW_PROBATION": "1"}


def ok_or_failed(w, n, timeout=30):
    return w.wait_log(RELOAD_OK.format(n) + "|" + FAILED.format(n), timeout=timeout).group(0)


def reload_under_load(gw, w, load, n, version):
    gw.set_version(version)
    w.signal(signal.SIGHUP)
    line = ok_or_failed(w, n)
    assert " ok: " in line, line
    load.wait_version(version, timeout=15)


def no_late_failures(load, t_ref, w=None):
    late = [r for r in load.failures if r.start >= t_ref]
    assert not late, "failed requests: " + load.summary() + (
        "\n" + w.log.tail(60) if w is not None else "")


@pytest.mark.parametrize("version", versions.ALL)
def test_core(gw, version):
    """sync workers: good reload under load, broken deploy, crash-looping
    deploy, then a good one; the old generation serves throughout."""
    w = versions.wrapper(gw, version=version, workers=2, warmup=20, app_env=FAST)
    w.wait_ready(timeout=20)
    with gw.load(clients=3) as load:
        load.wait_version("1", 10)
        t_ref = time.monotonic()
        reload_under_load(gw, w, load, 1, "2")
        serving = w.master_pid()
        for n, bad in ((2, "broken"), (3, "crash:0.5")):
            gw.set_version(bad)
            t_bad = time.monotonic()
            w.signal(signal.SIGHUP)
            line = ok_or_failed(w, n)
            assert " failed: " in line, line
            if bad.startswith("crash"):
                assert "signal 11" in line, line
            helpers.wait_for(lambda: gw.masters() == [serving], 15, "only the serving master",
                             on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
            if bad.startswith("crash"):
                crash_window = (t_bad, time.monotonic())
            after = load.wait_more(20, timeout=10)
            assert {r.version for r in after} == {"2"}, load.summary()
        reload_under_load(gw, w, load, 4, "5")
    # The crash-looping generation served (and lost) some requests of its
    # own before it was stopped: a worker killed by SIGSEGV resets its
    # connection, or cuts its response short.  Those, in that window only;
    # no other request may fail.
    lo, hi = crash_window
    crashed = ("Connection", "Remote", "IncompleteRead")
    fails = [r for r in load.failures if r.start >= t_ref]
    assert all(lo <= r.start <= hi and any(k in r.kind for k in crashed) for r in fails), \
        load.summary() + "\n" + w.log.tail(60)
    assert w.poll() is None


CLASSES = [
    ("gthread", versions.DEBIAN, ["-k", "gthread", "--threads", "4"], "rapp:app", None),
    ("uvicorn", versions.DEBIAN, ["-k", "uvicorn.workers.UvicornWorker"], "rapp:asgi", "uvicorn"),
    ("gevent", "23.0.0", ["-k", "gevent"], "rapp:app", "gevent"),
    ("eventlet", "23.0.0", ["-k", "eventlet"], "rapp:app", "eventlet"),
    ("asgi", "26.1.0", ["-k", "asgi"], "rapp:asgi", None),
]


@pytest.mark.parametrize("cls,version,args,app,module", CLASSES, ids=[c[0] for c in CLASSES])
def test_worker_class(gw, cls, version, args, app, module):
    """One reload under load per worker class, no request lost but to a
    worker class's own shutdown race (SHUTDOWN_RACES)."""
    if module and not versions.has_module(module):
        pytest.skip("python3-{} is not installed".format(module))
    w = versions.wrapper(gw, version=version, workers=2, warmup=20, app=app,
                         extra_gunicorn=args, app_env=FAST)
    w.wait_ready(timeout=25)
    with gw.load(clients=3) as load:
        load.wait_version("1", 15)
        t_ref = time.monotonic()
        reload_under_load(gw, w, load, 1, "2")
    late = [r for r in load.failures if r.start >= t_ref]
    if cls not in SHUTDOWN_RACES or not late:
        no_late_failures(load, t_ref, w)
        return
    # A worker class whose own graceful shutdown may drop a connection it
    # accepted an instant before: at most two such failures, each of the
    # kind that race makes, and, where gunicorn logs the race, as many log
    # lines as failures.  Anything else, or more of it, is a failure.
    kinds, evidence = SHUTDOWN_RACES[cls]
    msg = "failed requests: " + load.summary() + "\n" + w.log.tail(60)
    assert len(late) <= 2 and all(any(k in r.kind for k in kinds) for r in late), msg
    if evidence is not None:
        assert len(w.log.find_all(evidence, wrapper_only=False)) >= len(late), msg


# The old worker's own shutdown, which the wrapper does not control (the
# old master is stopped with gunicorn's graceful SIGTERM), as man
# gunicorn-wrapper's CAVEATS says:
#   * uvicorn 0.17 (Debian 12) closes every connection with no request in
#     progress, one it accepted an instant before included: its client
#     sees a reset, or an end of stream before any response, as its request
#     did or did not reach the socket first (each about once in 450
#     requests); uvicorn logs nothing;
#   * gunicorn 23's eventlet worker closes its listener while the handler
#     of a connection it has just accepted is yet to run, which then fails
#     on the closed listener (gunicorn#1725, open upstream), logging "Bad
#     file descriptor"; about once in 1,000 requests under load.
CLOSED = ("ConnectionReset", "RemoteDisconnected")
SHUTDOWN_RACES = {
    "uvicorn": (CLOSED, None),
    "eventlet": (CLOSED, r"OSError: \[Errno 9\] Bad file descriptor"),
}


SHAPES = [
    ("16-workers-shm", "26.1.0", 16, ["--worker-tmp-dir", "/dev/shm"]),
    ("1-worker", "23.0.0", 1, []),
]


@pytest.mark.parametrize("shape,version,workers,args", SHAPES, ids=[c[0] for c in SHAPES])
def test_fleet_shapes(gw, shape, version, workers, args):
    """16 workers with their heartbeat files on /dev/shm; a single worker:
    a reload under load, every worker counted, no request lost."""
    w = versions.wrapper(gw, version=version, workers=workers, warmup=30,
                         extra_gunicorn=args, app_env=FAST)
    _, n = w.wait_ready(timeout=30)
    assert n == workers, "ready with {} of {} workers".format(n, workers)
    with gw.load(clients=3) as load:
        load.wait_version("1", 15)
        t_ref = time.monotonic()
        reload_under_load(gw, w, load, 1, "2")
    no_late_failures(load, t_ref)
    m = w.wait_log(r"^reload 1: new master \d+ ready: (\d+) workers")
    assert int(m.group(1)) == workers, m.group(0)


def test_preload_max_requests_churn(gw):
    """26.1, --preload --max-requests 15 --max-requests-jitter 5 under load:
    reloads end ok through the churn; a broken deploy fails and the old
    generation's respawned workers go on serving the old code (--preload:
    they do not import from disk)."""
    w = versions.wrapper(gw, version="26.1.0", workers=3, warmup=20,
                         extra_gunicorn=["--preload", "--max-requests", "15",
                                         "--max-requests-jitter", "5"], app_env=FAST)
    w.wait_ready(timeout=20)
    assert w.log.find(r"without --preload") is None
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        t_ref = time.monotonic()
        reload_under_load(gw, w, load, 1, "2")
        gw.set_version("broken")
        w.signal(signal.SIGHUP)
        line = ok_or_failed(w, 2)
        assert " failed: " in line, line
        after = load.wait_more(150, timeout=20)   # several rounds of respawns
        assert {r.version for r in after} == {"2"}, load.summary()
    no_late_failures(load, t_ref)
    recycled = len(w.log.find_all(r"Autorestarting worker", wrapper_only=False))
    assert recycled >= 5, "only {} recycled workers: no churn to test".format(recycled)
