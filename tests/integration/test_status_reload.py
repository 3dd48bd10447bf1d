# SPDX-License-Identifier: MIT
"""`status` polled through a whole reload: what it says must be true at
every moment, not only when the wrapper is idle.

Why this file exists (issue 18): with setproctitle active, every reload
showed the new master and its workers as gunicorn 25+'s dirty arbiter
(`dirty 26582 26584 26585 (arbiter first)`), even on 20.1, which has none;
the new master appeared nowhere else; and the probation was shown against
the warm-up's budget.  The suite ran in both setproctitle modes but never
looked at `status` mid-reload.  Here every sample of the raw reply, of
`gwctl --json status` and of the text is checked against /proc: the
serving master and its workers, the new master (a child of the serving
one) and its workers, no dirty arbiter, and each phase's own clock.

The module is in conftest's CORE: `make check` runs it in both setproctitle
modes, on 20.1, 23 and 26 (the last two skip where ../shared is absent).
"""

import re
import signal
import time

import pytest

import control_helpers as ch
import fault_helpers as fh
import helpers
import versions

WARMUP = 20
PROBATION = 3
BOOT = "1.0"          # s of import: the warming phase is long enough to see
# A request in flight on the old generation when it is told to stop keeps
# it draining for seconds: that phase is seen too, not only if a poll
# happens to land in it.
SLOW = 1.0 + PROBATION + 5


def live_children(pid):
    return set(p for p in helpers.children(pid) if helpers.is_alive(p))


def check_sample(st, old, seen):
    """One raw status reply taken mid-reload (or just before/after)."""
    ch.assert_status_types(st)
    assert st["dirty"] == [], "a dirty arbiter on a WSGI app: {!r}".format(st)
    prog = st.get("progress")
    nm = st.get("new_master")
    if prog is None:
        assert nm is None and st["new_workers"] == [], st
        assert st.get("old_master") is None and st["old_workers"] == [], st
        return
    phase = prog["phase"]
    seen.setdefault(phase, []).append(st)
    assert prog["phase_elapsed"] >= 0 and prog["elapsed"] >= prog["phase_elapsed"] - 0.01, prog
    if phase == "warming":
        assert prog["phase_length"] == WARMUP, prog
    elif phase == "probation":
        assert prog["phase_length"] == PROBATION, prog
        assert prog["phase_elapsed"] <= PROBATION + 2.0, prog
    else:
        assert "phase_length" not in prog, prog
    om = st.get("old_master")
    if phase in ("draining", "promoting"):
        # The old master was sent SIGTERM: the new one serves, the old
        # one drains (until it has exited).
        assert nm is None and st["new_workers"] == [], (phase, st)
        assert st["master"] == prog["new_master"] != old, (phase, st)
        assert om in (None, old), (phase, st)
        assert not set(st["old_workers"]) & set(st["workers"]), st
        if om is not None:
            seen.setdefault("old", set()).add(om)
        return
    assert om is None and st["old_workers"] == [], (phase, st)
    if nm is None:
        assert phase in ("checking", "settling", "forking"), st
        assert "new_master" not in prog and st["new_workers"] == [], st
        return
    assert st["master"] == old and prog["new_master"] == nm, st
    assert nm != st["master"] and nm not in st["workers"], st
    assert not set(st["new_workers"]) & set(st["workers"]), st
    # Against /proc, allowing for processes that exited since the reply.
    if st["master"] == old and helpers.is_alive(nm):
        assert helpers.ppid_of(nm) == old, "new master {} is not the serving master's child".format(nm)
    kids = live_children(nm)
    for p in st["new_workers"]:
        if helpers.is_alive(p) and helpers.is_alive(nm):
            assert p in kids or not helpers.is_alive(p), (p, kids)


def check_workers(gw, old):
    """`workers` agrees with `status` on the roles: one master serves, the
    new or the draining one is named apart, no PID in two lists."""
    r = ch.gwctl_json(gw, "workers", "app")
    lists = [r["workers"], r["new_workers"], r["old_workers"]]
    pids = [p for ls in lists for p in ls]
    assert len(pids) == len(set(pids)), r
    masters = [m for m in (r["master"], r.get("new_master"), r.get("old_master")) if m]
    assert len(masters) == len(set(masters)) and not set(masters) & set(pids), r
    if r.get("old_master"):
        assert r["old_master"] == old and r["master"] != old and not r.get("new_master"), r
    if r.get("new_master"):
        assert r["master"] == old and not r.get("old_master"), r
    t = ch.gwctl(gw, "workers", "app").stdout
    if r.get("old_master") and not re.search(r"^old master\s+{}$".format(old), t, re.M):
        # Two queries, two moments: only if it finished draining between
        # them may the text leave the old master out.
        assert not helpers.is_alive(old), t


def check_text(text, st_json):
    """gwctl status (text) agrees with gwctl --json status taken at once."""
    assert not re.search(r"^\s*dirty", text, re.M), text
    m = re.search(r"^\s*new master\s+(\d+)\s*$", text, re.M)
    if m:
        assert re.search(r"^\s*new workers", text, re.M), text
        return int(m.group(1))
    return None


@pytest.mark.parametrize("version", versions.ALL)
def test_status_through_reload(gw, version):
    w = versions.wrapper(gw, version=version, workers=2, warmup=WARMUP,
                         extra_wrapper=["--probation", str(PROBATION)],
                         extra_env={"APP_BOOT": BOOT})
    gw.wait_serving()
    sock = ch.sock_path(gw)
    helpers.wait_for(lambda: ch.status(sock)["state"] == "running", 20, "state running")
    st = ch.status(sock)
    old = st["master"]
    assert old and st.get("new_master") is None and st["new_workers"] == [], st
    assert st["progress"] is None, st

    slow = fh.InFlight(gw, "/slow?s={:g}".format(SLOW))
    slow.start(w.log, w.log.mark(wrapper_only=False))
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    seen, text_new, json_new, text_old = {}, set(), set(), set()
    deadline = time.monotonic() + WARMUP + PROBATION + 30
    done = None
    while time.monotonic() < deadline:
        st = ch.status(sock)
        check_sample(st, old, seen)
        hist = [e for e in st["history"] if e["id"] == 1]
        if hist and hist[0]["result"] != "running":
            done = hist[0]
            break
        js = ch.gwctl_json(gw, "status", "app")
        if js.get("new_master"):
            json_new.add(js["new_master"])
            ph = (js.get("progress") or {}).get("phase")
            assert ph is None or js["progress"]["new_master"] == js["new_master"], js
        r = ch.gwctl(gw, "status", "app")
        assert r.returncode == 0, r
        m = re.search(r"^\s*old master\s+(\d+) \(draining\)$", r.stdout, re.M)
        if m:
            assert int(m.group(1)) == old, r.stdout
            text_old.add(old)
        check_workers(gw, old)
        n = check_text(r.stdout, js)
        if n is not None:
            text_new.add(n)
            # The reloading line in probation ("probation  3 s" above it
            # is the setting, not the phase).
            line = re.search(r"^\s*reloading\s+reload \d+: probation.*$", r.stdout, re.M)
            if line:
                assert re.search(r"s of %g s probation" % PROBATION, line.group(0)), r.stdout
                assert "budget" not in line.group(0), r.stdout
        time.sleep(0.05)
    assert done is not None, "reload 1 did not finish:\n" + w.text()[-3000:]
    assert done["result"] == "ok", done
    nm = done["new_master"]
    # Each phase with a new master named it, and named the one promoted.
    for phase in ("warming", "probation"):
        assert phase in seen, "phase {} never seen in status: {}".format(phase, sorted(seen))
        assert {s["new_master"] for s in seen[phase]} == {nm}, seen[phase]
    assert json_new == {nm} and text_new == {nm}, (json_new, text_new, nm)
    # Draining, the slow request holding the old generation: the new master
    # serves, the old one is shown as draining, in the reply and the text.
    assert "draining" in seen, "draining never seen in status: {}".format(sorted(seen))
    assert {s["master"] for s in seen["draining"]} == {nm}, seen["draining"]
    assert seen.get("old") == {old} and text_old == {old}, (seen.get("old"), text_old)
    slow.join(SLOW + 10)
    assert slow.status == 200, (slow.status, slow.error)
    # After: the new master serves, and nothing is new any more.
    helpers.wait_for(lambda: ch.status(sock)["progress"] is None, 10, "reload over")
    st = ch.status(sock)
    assert st["master"] == nm and st.get("new_master") is None and st["new_workers"] == [], st
    assert st.get("old_master") is None and st["old_workers"] == [], st
    assert st["dirty"] == [], st
    r = ch.gwctl(gw, "status")
    assert "new master" not in r.stdout, r.stdout


def test_dirty_arbiter_through_reload(gw):
    """gunicorn 26.1 with dirty workers: the dirty arbiter is recognised
    only as a child of the serving master, never as an HTTP worker of any
    generation, and the new generation's arbiter never as the serving
    one's (in both setproctitle modes: not by environment or name)."""
    w = versions.wrapper(gw, version="26.1.0", workers=2, warmup=WARMUP,
                         extra_gunicorn=["--dirty-workers", "2", "--dirty-app", "dapp:Model"],
                         extra_wrapper=["--probation", "1"])
    w.wait_ready(timeout=25)
    sock = ch.sock_path(gw)
    st = ch.status(sock)
    old = st["master"]
    assert len(st["dirty"]) == 3 and helpers.ppid_of(st["dirty"][0]) == old, st
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    deadline = time.monotonic() + WARMUP + 30
    samples = 0
    while time.monotonic() < deadline:
        st = ch.status(sock)
        samples += 1
        hist = [e for e in st["history"] if e["id"] == 1]
        if hist and hist[0]["result"] != "running":
            assert hist[0]["result"] == "ok", hist[0]
            break
        http = st["workers"] + st["new_workers"] + st["old_workers"]
        assert not set(st["dirty"]) & set(http), st
        # An HTTP worker has no children; an arbiter has its dirty workers.
        for p in http:
            if helpers.is_alive(p):
                assert not live_children(p), ("an arbiter listed as an HTTP worker", p, st)
        if st["dirty"] and helpers.is_alive(st["dirty"][0]) and helpers.is_alive(st["master"]):
            assert helpers.ppid_of(st["dirty"][0]) == st["master"], st
        nm = st.get("new_master")
        if nm:
            assert nm not in st["dirty"], st
            for p in st["dirty"]:
                if helpers.is_alive(p):
                    assert helpers.ppid_of(p) != nm, ("a new generation's dirty process "
                                                      "listed as the serving one's", p, st)
        time.sleep(0.05)
    else:
        raise AssertionError("reload 1 did not finish:\n" + w.text()[-3000:])
    assert samples > 5, samples
    helpers.wait_for(lambda: ch.status(sock)["progress"] is None, 10, "reload over")
    st = ch.status(sock)
    assert st["master"] != old and len(st["dirty"]) == 3, st
    assert helpers.ppid_of(st["dirty"][0]) == st["master"], st
    assert len(st["workers"]) == 2, st
