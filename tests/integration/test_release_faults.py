# SPDX-License-Identifier: MIT
"""Release deploys when the wrapper itself is killed.

Why this file exists: a deploy is several steps (new generation, warm-up,
probation, the link's switch, the old generation's drain), and a wrapper
can be SIGKILLed between any two (the OOM killer, kill -9, a container
runtime).  Whatever the phase, the next wrapper must leave exactly one
generation serving, and the link on the release that generation runs:
what a restart or a reboot would load.  Real gunicorn, real signals."""

import os
import signal
import time

import pytest

import control_helpers as ch
import fault_helpers as fh
import release_helpers as rh
from helpers import wait_for


def release_of(pid):
    """The release a master runs from: its working directory's name."""
    return os.path.basename(os.readlink("/proc/{}/cwd".format(pid)))


def settled(gw):
    """(master, status) once one generation serves and nothing runs."""
    def one():
        try:
            st = ch.gwctl_json(gw, "status", "app", timeout=10)
        except AssertionError:
            return None
        if st["state"] != "running" or st["reload_state"] != "idle":
            return None
        masters = gw.masters()
        return (st["master"], st) if masters == [st["master"]] else None
    return wait_for(one, 60, "one generation, nothing in flight")


def wait_phase(gw, phase, timeout=30):
    def there():
        st = ch.gwctl_json(gw, "status", "app", timeout=10)
        return st if st["reload_state"] == phase else None
    return wait_for(there, timeout, "reload phase " + phase, interval=0.02)


@pytest.mark.parametrize("phase", ["checking", "warming", "probation", "draining"])
def test_sigkill_wrapper_in_each_deploy_phase(gw, phase):
    rh.make_release(gw, "A", "A")
    rh.make_release(gw, "B", "slow:2" if phase in ("checking", "warming") else "B")
    rh.point(gw, "A")
    extra = ["--probation", "3" if phase == "probation" else "0.5"]
    if phase == "checking":
        extra.append("--preflight")
    w = rh.wrapper(gw, extra_wrapper=extra, graceful_timeout=10)
    w.wait_ready(timeout=30)
    gw.wait_serving("A")
    slow = None
    if phase == "draining":
        # A request in flight on the old generation keeps it draining.
        slow = fh.InFlight(gw, "/slow?s=8")
        slow.start(w.log, w.log.mark(wrapper_only=False))
    r = ch.gwctl(gw, "deploy", "app", str(rh.releases_dir(gw) / "B"), "--no-wait")
    assert r.returncode == 0, r.stderr
    wait_phase(gw, phase)
    w.signal(signal.SIGKILL)
    assert w.wait_exit(10) == -signal.SIGKILL
    again = rh.wrapper(gw, extra_wrapper=extra, graceful_timeout=10,
                       log_name="wrapper2.log")
    master, st = settled(gw)
    # The link names the release that serves, and exactly that one serves.
    assert rh.linked(gw) == release_of(master), again.text()
    assert os.path.basename(st["release"]) == rh.linked(gw)
    # Killed before its new master started (pre-flight), the deploy is
    # undone; later, the next wrapper finishes it.
    want = "A" if phase == "checking" else "B"
    assert rh.linked(gw) == want, again.text()
    gw.wait_serving("A" if want == "A" else "slow:2" if phase == "warming" else "B",
                    timeout=20)
    # The stable pidfile names the generation that serves.
    wait_for(lambda: (gw.run_dir / "app.pid").is_file() and
             (gw.run_dir / "app.pid").read_text().strip() == str(master), 10,
             "the pidfile to name master {}".format(master))
    # No generation left behind, a moment later either.
    time.sleep(0.5)
    assert gw.masters() == [master]
    if slow is not None:
        slow.join(20)
    # The next wrapper took the sockets back: it can deploy.
    other = "A" if want == "B" else "B"
    r = ch.gwctl(gw, "deploy", "app", str(rh.releases_dir(gw) / other), timeout=60)
    assert r.returncode == 0, r.stderr
    assert rh.linked(gw) == other


def test_link_ahead_of_the_record_is_put_back(gw):
    """A wrapper killed between moving the link and writing its record
    leaves the link on a release that never served: the next one puts it
    back on the serving one before it starts anything."""
    for n in "AB":
        rh.make_release(gw, n, n)
    rh.point(gw, "A")
    w = rh.wrapper(gw)
    master, _ = w.wait_ready(timeout=30)
    w.signal(signal.SIGKILL)
    assert w.wait_exit(10) == -signal.SIGKILL
    rh.point(gw, "B")       # what the killed wrapper would have done
    again = rh.wrapper(gw, log_name="wrapper2.log")
    again.wait_log(r"putting the link back", timeout=20)
    m, st = settled(gw)
    assert m == master and rh.linked(gw) == "A" and release_of(m) == "A"
    gw.wait_serving("A")
    # The adopted master's sockets came back too: deploys still work.
    r = ch.gwctl(gw, "deploy", "app", str(rh.releases_dir(gw) / "B"), timeout=60)
    assert r.returncode == 0, r.stderr
    assert rh.linked(gw) == "B"
    gw.wait_serving("B")
