# SPDX-License-Identifier: MIT
"""Zero-downtime reload (SIGHUP) of gunicorn-wrapper, run directly.

Why this file exists: the reload is the daemon's reason to be.  These tests
check, with real gunicorn and real HTTP clients on new connections, that
  * good reloads lose no request and switch to the new code only once every
    new worker has imported the app (APP_BOOT=2: a 2 s import);
  * bad deploys (import error, with and without --preload; import hanging
    past the warm-up budget) fail safe: the old generation keeps serving and
    the broken one is cleaned up;
  * SIGHUPs arriving during a reload coalesce into exactly one follow-up;
  * a reload picks up a new worker count from a gunicorn config file.
"""

import re
import signal
import time

import pytest

import helpers
from helpers import RELOAD_OK


def test_five_reloads_under_load(gw):
    """5 reloads of a 2 s-import app under 4 clients: zero failed requests,
    each reload ok well within the 30 s budget, new version served after each."""
    w = gw.wrapper(workers=2, warmup=30, app_env={"APP_BOOT": "2"})
    w.wait_ready(timeout=30)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        for n in range(1, 6):
            version = str(n + 1)
            gw.set_version(version)
            t0 = time.monotonic()
            w.signal(signal.SIGHUP)
            m = w.wait_log(RELOAD_OK.format(n), timeout=20)
            took = time.monotonic() - t0
            assert took < 15, "reload {} took {:.1f} s".format(n, took)
            # the wrapper must have waited for the 2 s import before promoting
            assert 1.9 <= float(m.group(3)) < 15, m.group(0)
            load.wait_version(version, timeout=10)
    load.assert_no_failures()
    slowest = max(r.end - r.start for r in load.results)
    # an early SIGTERM of the old master would stall clients ~2 s (the import)
    assert slowest < 1.8, "a request took {:.2f} s: {}".format(slowest, load.summary())
    msgs = w.messages()
    assert not [x for x in msgs if re.match(r"reload \d+ failed", x)], msgs
    assert len([x for x in msgs if re.match(r"reload \d+ ok", x)]) == 5
    assert w.poll() is None
    # exactly one master left, the one named by the last reload
    helpers.wait_for(lambda: gw.masters() == [w.master_pid()], 15,
                     "only the newest master to remain",
                     on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_broken_deploy_fails_safe(gw, preload):
    """version.txt=broken: reload N failed quickly, old version keeps serving
    with zero failures; a fixed deploy then reloads fine."""
    extra = ["--preload"] if preload else []
    w = gw.wrapper(workers=2, warmup=30, extra_gunicorn=extra)
    old, _ = w.wait_ready(timeout=20)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("broken")
        t0 = time.monotonic()
        w.signal(signal.SIGHUP)
        m = w.wait_log(r"^reload 1 failed: (.*)", timeout=15)
        assert time.monotonic() - t0 < 10, "failure took too long to detect: " + m.group(0)
        # old generation still the only one, still answering version 1
        helpers.wait_for(lambda: gw.masters() == [old], 10, "only the old master to remain",
                         on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
        after = load.wait_more(40, timeout=15)
        assert {r.version for r in after} == {"1"}, load.summary()
        assert w.poll() is None
        # fixed deploy
        gw.set_version("3")
        w.signal(signal.SIGHUP)
        m2 = w.wait_log(RELOAD_OK.format(2), timeout=20)
        assert int(m2.group(1)) == old
        load.wait_version("3", timeout=10)
    load.assert_no_failures()
    assert set(load.versions()) <= {"1", "3"}, load.summary()


def test_hang_at_import_past_budget(gw):
    """version.txt=hang with --warmup 5: not ready after 5 s -> failed; old keeps
    serving; the hung generation is gone afterwards; next good reload works."""
    w = gw.wrapper(workers=2, warmup=5, stop_timeout=10)
    old, _ = w.wait_ready(timeout=20)
    with gw.load(clients=4) as load:
        load.wait_version("1", 10)
        gw.set_version("hang")
        t0 = time.monotonic()
        w.signal(signal.SIGHUP)
        new = helpers.wait_for(lambda: helpers.new_master_of(old), 10, "the new (hung) master",
                               on_timeout=w.log.tail)
        helpers.wait_for(lambda: len(helpers.children(new)) >= 2, 10, "hung workers forked")
        hung = [new] + helpers.descendants(new)
        m = w.wait_log(r"^reload 1 failed: (.*)", timeout=15)
        took = time.monotonic() - t0
        assert "not ready after" in m.group(1), m.group(0)
        assert 4.5 <= took < 12, "failure after {:.1f} s: {}\n{}".format(
            took, m.group(0), w.log.tail(40))
        # whole hung generation cleaned up (bounded by stop-timeout + margin)
        gw.wait_gone(hung, timeout=20, what="hung generation {} to exit".format(hung))
        assert helpers.is_alive(old)
        assert gw.masters() == [old]
        after = load.wait_more(40, timeout=15)
        assert {r.version for r in after} == {"1"}, load.summary()
        # next good deploy
        gw.set_version("4")
        w.signal(signal.SIGHUP)
        m2 = w.wait_log(RELOAD_OK.format(2), timeout=20)
        assert int(m2.group(1)) == old
        load.wait_version("4", timeout=10)
    load.assert_no_failures()
    assert set(load.versions()) <= {"1", "4"}, load.summary()


def test_sighups_during_reload_coalesce(gw):
    """5 SIGHUPs during reload 1's warm-up -> exactly one follow-up reload 2,
    which starts only after reload 1 finished, and serves the latest code."""
    w = gw.wrapper(workers=2, warmup=30, app_env={"APP_BOOT": "2"})
    w.wait_ready(timeout=30)
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    w.wait_log(r"^reload 1: \w+ -> warming", timeout=10)
    gw.set_version("3")
    for _ in range(5):
        w.signal(signal.SIGHUP)
        time.sleep(0.1)  # pacing between signals, not a wait for a condition
    assert w.log.find(RELOAD_OK.format(1)) is None, \
        "reload 1 finished before the extra SIGHUPs were sent; test timing is off"
    w.wait_log(RELOAD_OK.format(1), timeout=20)
    w.wait_log(RELOAD_OK.format(2), timeout=25)
    w.log.assert_quiet(r"^reload 3", seconds=3)
    msgs = w.messages()
    oks = [i for i, x in enumerate(msgs) if re.match(r"reload \d+ ok", x)]
    assert len(oks) == 2, msgs
    ids = {int(m.group(1)) for m in (re.match(r"reload (\d+)", x) for x in msgs) if m}
    assert ids == {1, 2}, msgs
    assert [x for x in msgs if re.match(r"reload 2 queued", x)], \
        "no 'reload 2 queued' line:\n" + "\n".join(msgs)
    # no overlap: reload 1's transitions all before its ok, reload 2's all after
    ok1 = oks[0]
    for i, x in enumerate(msgs):
        if re.match(r"reload 1: \w+ -> \w+", x):
            assert i < ok1, "reload 1 transition after its ok: " + x
        if re.match(r"reload 2: \w+ -> \w+", x):
            assert i > ok1, "reload 2 started before reload 1 ended: " + x
    version, _ = gw.wait_serving(timeout=10, master=w.master_pid())
    assert version == "3"


def test_reload_changes_worker_count(gw):
    """gunicorn.conf.py workers = 2 -> 3, then SIGHUP: the new master has 3 workers."""
    conf = gw.app_dir / "gunicorn.conf.py"
    conf.write_text("workers = 2\n")
    w = gw.wrapper(workers=None, extra_gunicorn=["-c", str(conf)])
    old, count = w.wait_ready(timeout=20)
    assert count == 2
    assert len(helpers.children(old)) == 2
    conf.write_text("workers = 3\n")
    w.signal(signal.SIGHUP)
    m = w.wait_log(RELOAD_OK.format(1), timeout=20)
    assert int(m.group(1)) == old
    new = int(m.group(2))
    helpers.wait_for(lambda: len(helpers.children(new)) == 3, 10,
                     "3 workers under new master {}".format(new),
                     on_timeout=lambda: helpers.describe(gw.gunicorn_procs()))
    gw.wait_gone([old], timeout=15, what="old master to exit")
    assert gw.masters() == [new]
    assert len(helpers.children(new)) == 3
