# SPDX-License-Identifier: MIT
"""The reload history survives a restart of the wrapper.

Why this file exists: the history is the operator's record of what
happened, so it lives in RUN_DIR/NAME.history as well as in memory.  These
tests restart the wrapper (as supervisord would) and check that `status`
still shows the earlier reloads, that ids carry on, and that a corrupt or
truncated file is reported and skipped past, never fatal.
"""

import signal

import control_helpers as ch
import helpers
from helpers import RELOAD_OK


def two_reloads_then_stop(gw, w):
    """Reload 1 ok, reload 2 failed (broken deploy); then stop the wrapper."""
    sock = ch.sock_path(gw)
    gw.set_version("2")
    assert ch.call(sock, {"cmd": "reload", "wait": True}, timeout=30)["ok"]
    gw.set_version("broken")
    rep = ch.call(sock, {"cmd": "reload", "wait": True}, timeout=30)
    assert not rep["ok"] and "exited" in rep["error"], rep
    gw.set_version("2")
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def test_history_survives_restart(gw):
    """After a restart, status shows reloads 1 (ok) and 2 (failed, with its
    reason), and the next reload is number 3."""
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    two_reloads_then_stop(gw, w)
    assert (gw.run_dir / "app.history").exists()

    w2 = gw.wrapper(workers=1, log_name="wrapper2.log")
    w2.wait_ready(timeout=30)
    w2.wait_log(r"history .*: 2 reloads loaded", timeout=5)
    hist = ch.status(ch.sock_path(gw))["history"]
    assert [(e["id"], e["result"]) for e in hist] == [(1, "ok"), (2, "failed")]
    assert "exited" in hist[1]["reason"]
    assert hist[0]["new_master"] and hist[0]["duration"] > 0
    w2.signal(signal.SIGHUP)
    w2.wait_log(RELOAD_OK.format(3), timeout=30)
    hist = ch.status(ch.sock_path(gw))["history"]
    assert [e["id"] for e in hist] == [1, 2, 3]
    w2.signal(signal.SIGTERM)
    assert w2.wait_exit(30) == 0


def test_corrupt_history_is_skipped(gw):
    """Garbage in the middle and a torn record at the end: reported in the
    log, the good records kept, the wrapper serves and reloads as usual."""
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    two_reloads_then_stop(gw, w)
    path = gw.run_dir / "app.history"
    good = path.read_bytes()
    # A torn copy of the first record at the end, garbage in between.
    path.write_bytes(good + b"\x00garbage\xff" * 3 + good[:len(good) // 3])

    w2 = gw.wrapper(workers=1, log_name="wrapper2.log")
    w2.wait_ready(timeout=30)
    w2.wait_log(r"history .*bytes corrupt, truncated or too old were "
                r"skipped; 2 reloads loaded", timeout=5)
    hist = ch.status(ch.sock_path(gw))["history"]
    assert [e["id"] for e in hist] == [1, 2]
    # The file was rewritten clean: a third start loads it silently.
    w2.signal(signal.SIGTERM)
    assert w2.wait_exit(30) == 0
    w3 = gw.wrapper(workers=1, log_name="wrapper3.log")
    w3.wait_ready(timeout=30)
    w3.wait_log(r"history .*: 2 reloads loaded", timeout=5)
    assert not w3.log.find(r"bytes corrupt")
    w3.signal(signal.SIGTERM)
    assert w3.wait_exit(30) == 0


def test_unreadable_history_is_not_fatal(gw):
    """A history path that is a directory: logged, and the wrapper runs."""
    (gw.run_dir / "app.history").mkdir()
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    gw.wait_serving(timeout=10)
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), timeout=30)
    w.wait_log(r"history .*reload 1 not recorded", timeout=5)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    helpers.wait_for(lambda: not gw.masters(), 10, "no master left")
