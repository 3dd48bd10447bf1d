# SPDX-License-Identifier: MIT
"""The shipped unit, contrib/systemd/gunicorn-wrapper@.service, under a real systemd.

Why this file exists: test_systemd.py proves what the wrapper sends on a
fake NOTIFY_SOCKET, but only systemd decides what that means for
`systemctl start` (when it returns), `systemctl reload` (its exit status,
through ExecReload=gwctl), MainPID, StatusText, the journal's priorities,
`systemctl stop` under KillMode=mixed and Restart=on-failure after a
crash.  A unit that looks right and a wrapper that speaks the protocol
can still disagree with systemd (wrong Type=, a reload that returns
before the outcome, STATUS= that lies after a failure, a journal where
every line is "info").  So Debian's own systemd 252 boots as PID 1 of a
private namespace (real_systemd_helpers.py, after
/work/shared/recipes/real-systemd.md), runs the shipped unit (only its
ExecStart=/ExecReload= binaries point at this build) with an
/etc/default/gunicorn-wrapper-app for the example app on 127.0.0.1 of
the sandbox's own network namespace, and real systemctl, journalctl and
gwctl are run inside it:

  1. `systemctl start` returns 0 only once the app answers (the import
     takes APP_BOOT s, long after gunicorn's own READY would be);
     MainPID is the wrapper, the gunicorn master its child;
  2. a good reload: rc 0, the new version serves, MainPID unchanged;
  3. a broken release (import raises): rc != 0, the old version serves;
  4. a hung release (import never ends), GW_WARMUP small: rc != 0 within
     a bound, the old version serves, the hung generation is gone;
  5. after each, StatusText names the serving master and the worker
     count `gwctl status app` reports, and never the failed generation's
     workers (mismatches are collected and fail the test at its end, so
     that the other checks still run);
  6. the journal: the failed reloads are in `journalctl -p err`, and the
     priority ranges (-p warning, -p warning..warning, -p info..info)
     sort the wrapper's own lines right (no "<N>" left in a message);
  7. `systemctl stop`: rc 0, inactive, the unit's cgroup and the
     namespace hold no gunicorn process;
  8. `kill -9` of MainPID: systemd notices (Restart=on-failure starts it
     again), no gunicorn of the killed wrapper survives, the new one
     serves, and a stop leaves nothing.

Every wait is a bounded poll; nothing binds outside the sandbox's
network namespace.  The sandbox is powered off in the fixture's
finalizer and the test fails if a process of it (or any process the test
started) is left.  Where systemd cannot be booted (not root, no
namespaces, no cgroup2) the tests skip, saying why.
"""

import os
import re
import signal
import time

import pytest

import control_helpers as ch
import helpers
import real_systemd_helpers as rsh

UNIT = "gunicorn-wrapper@app.service"
WORKERS = 2
WARMUP = 4          # GW_WARMUP: the hung reload's bound
APP_BOOT = 1.0      # every import of the app takes this long
STATUS_BOUND = 4.0  # STATUS= may be refreshed up to ~1-2 s after a change

# notify.c: "STATE:[ reload N PHASE,] master M, K worker(s)[, last reload N RESULT]"
STATUS_RE = re.compile(r"^(\w+):(?: reload \d+ [\w-]*,)? master (\d+), (\d+) workers?"
                       r"(?:, last reload (\d+) (\w+))?$")
FAILED_RE = re.compile(r"^reload (\d+) failed")

GW_BIN = os.path.realpath(helpers.GW_BIN)
GWCTL = os.path.realpath(ch.GWCTL_BIN)


def settings(port):
    """/etc/default/gunicorn-wrapper-app: the app in /srv/app (the test's
    copy of example/), Debian's gunicorn, short budgets for a test."""
    return "\n".join([
        "# written by tests/integration/test_real_systemd.py",
        'GUNICORN_ARGS="-w {} -b 127.0.0.1:{} --chdir {} --graceful-timeout 3 app:app"'.format(
            WORKERS, port, rsh.APP_DIR),
        "GW_GUNICORN={}".format(helpers.GUNICORN),
        "GW_WARMUP={}".format(WARMUP),
        "GW_PROBATION=1",
        "GW_STOP_TIMEOUT=10",
        "APP_BOOT={:g}".format(APP_BOOT),
        "PYTHONDONTWRITEBYTECODE=1",
        ""])


@pytest.fixture
def sd(gw):
    """A booted systemd with the shipped unit; powered off afterwards, and
    nothing of it may survive."""
    reason = rsh.skip_reason()
    if reason:
        pytest.skip(reason)
    helpers.require_binary()
    ch.require_gwctl()
    box = rsh.Sandbox(gw.tmp / "sd", gw.app_dir,
                      units={"gunicorn-wrapper@.service": rsh.shipped_unit(GW_BIN, GWCTL)},
                      defaults={"gunicorn-wrapper-app": settings(gw.port)},
                      bind_dirs=(os.path.dirname(GW_BIN), os.path.dirname(GWCTL)))
    try:
        box.boot()
        yield box
    finally:
        if box.alive():
            # For post-mortems, and for conftest's sanitizer scan (*.log).
            try:
                (gw.tmp / "journal.log").write_text(box.journal_text(UNIT, n=5000))
            except Exception:  # best effort: the teardown below matters more
                pass
        problems = box.teardown()
        left = helpers.tree_pids(gw.t0)
        assert not problems and not left, "sandbox teardown: {}\nleft:\n{}".format(
            problems, helpers.describe(left))


# --------------------------------------------------------------------------
# what is served, what systemd and gwctl say

def served(sd, port):
    """One GET: (version, worker pid, its master's pid), namespace PIDs; or None."""
    code, body = sd.http_get(port)
    parsed = helpers.parse_body(body) if code == 200 else None
    if not parsed:
        return None
    st = sd.ns_stat(parsed[1])
    return parsed[0], parsed[1], (st[1] if st else None)


def assert_serves(sd, port, version, master=None, n=4, what=""):
    """n GETs in a row, no retry: all `version`, from workers of `master`."""
    s = None
    for _ in range(n):
        s = served(sd, port)
        assert s and s[0] == version and (master is None or s[2] == master), \
            "{}: GET answered {!r}, expected version {} from master {}\n{}".format(
                what, s, version, master, sd.journal_text(UNIT, 40))
    return s


def main_pid(sd):
    return int(sd.prop(UNIT, "MainPID") or 0)


def last_reload(sd):
    st = sd.gwctl_status(GWCTL)
    assert st and st["history"], "gwctl status has no history: {!r}".format(st)
    return st["history"][-1]


class StatusTexts:
    """Step 5: StatusText against `gwctl status app`.  A mismatch is
    recorded, not raised at once, so that the steps after it still run;
    check_all() fails the test with every mismatch."""

    def __init__(self, sd):
        self.sd = sd
        self.problems = []

    def check(self, when, master, last=None):
        seen = []

        def agree():
            st = self.sd.gwctl_status(GWCTL)
            text = self.sd.prop(UNIT, "StatusText")
            if not seen or seen[-1][0] != text:
                seen.append((text, st and st["master"], st and len(st["workers"])))
            m = STATUS_RE.match(text)
            if not (st and m):
                return False
            got_last = "{} {}".format(m.group(4), m.group(5)) if m.group(4) else None
            return (m.group(1) == "running" and int(m.group(2)) == st["master"] == master
                    and int(m.group(3)) == len(st["workers"]) == WORKERS
                    and got_last == last)
        try:
            helpers.wait_for(agree, STATUS_BOUND, "StatusText " + when, interval=0.2)
        except AssertionError:
            self.problems.append(
                "{}: within {:g} s StatusText never said 'running: master {}, {} workers{}' "
                "(what gwctl status reports); seen (StatusText, gwctl master, gwctl workers): "
                "{!r}".format(when, STATUS_BOUND, master, WORKERS,
                              ", last reload " + last if last else "", seen))

    def check_all(self):
        assert not self.problems, "StatusText disagreed with gwctl status:\n  " + \
            "\n  ".join(self.problems)


def only_generation(sd, master, timeout=10.0, what=""):
    """Wait until the namespace's gunicorn processes are exactly `master`
    and WORKERS children of it: nothing of another generation is left."""
    def settled():
        g = sd.ns_gunicorn()
        kids = [p for p, (pp, _s) in g.items() if pp == master]
        return master in g and len(kids) == WORKERS and len(g) == WORKERS + 1
    helpers.wait_for(settled, timeout, "only master {} and its {} workers ({})".format(
        master, WORKERS, what), on_timeout=sd.describe_ns)


def message(entry):
    m = entry.get("MESSAGE", "")
    return bytes(m).decode(errors="replace") if isinstance(m, list) else (m or "")


def wrapper_lines(entries, pid):
    return [(int(e.get("PRIORITY", -1)), message(e)) for e in entries
            if e.get("_PID") == str(pid)]


def stop_and_check_empty(sd, cgroup):
    """Step 7: systemctl stop, rc 0, inactive; no gunicorn in the unit's
    cgroup or anywhere in the namespace."""
    t0 = time.monotonic()
    r = sd.systemctl("stop", UNIT, timeout=90)
    took = time.monotonic() - t0
    assert r.returncode == 0, "systemctl stop: rc {}\n{}{}\n{}".format(
        r.returncode, r.stdout, r.stderr, sd.journal_text(UNIT))
    assert took < 20, "systemctl stop took {:.1f} s".format(took)
    state = sd.show(UNIT, "ActiveState", "SubState", "MainPID")
    assert state["ActiveState"] == "inactive" and state["MainPID"] == "0", state
    assert sd.cgroup_procs(cgroup) == [], "processes left in {}: {}".format(
        cgroup, sd.cgroup_procs(cgroup))
    helpers.wait_for(lambda: not sd.ns_gunicorn(), 5, "no gunicorn left in the namespace",
                     on_timeout=sd.describe_ns)


def start_unit(sd, port):
    """Step 1: systemctl start returns 0 only once the app answers."""
    t0 = time.monotonic()
    r = sd.systemctl("start", UNIT, timeout=90)
    took = time.monotonic() - t0
    assert r.returncode == 0, "systemctl start: rc {}\n{}{}\n{}".format(
        r.returncode, r.stdout, r.stderr, sd.journal_text(UNIT))
    first = assert_serves(sd, port, "1", n=1, what="right after systemctl start")
    assert took >= APP_BOOT * 0.9, \
        "systemctl start returned after {:.2f} s, before the {:g} s import".format(took, APP_BOOT)
    main = main_pid(sd)
    st = sd.gwctl_status(GWCTL)
    assert st, "gwctl status app failed inside the sandbox"
    assert main == st["pid"], "MainPID {} is not the wrapper (gwctl says pid {})".format(
        main, st["pid"])
    assert sd.ns_exe(main) == GW_BIN, "MainPID {} runs {}".format(main, sd.ns_exe(main))
    master = first[2]
    assert st["master"] == master and sd.ns_stat(master)[1] == main, \
        "serving master {} (gwctl: {}) is not the wrapper's child".format(master, st["master"])
    return main, master


# --------------------------------------------------------------------------

def test_start_reloads_journal_stop(gw, sd):
    port = gw.port
    status = StatusTexts(sd)

    # 1. start
    main, master = start_unit(sd, port)
    cgroup = sd.prop(UNIT, "ControlGroup")
    assert cgroup.endswith("/" + UNIT), cgroup
    status.check("after start", master)

    # 2. a good release
    gw.set_version("2")
    r = sd.systemctl("reload", UNIT)
    assert r.returncode == 0, "good reload: rc {}\n{}{}\n{}".format(
        r.returncode, r.stdout, r.stderr, sd.journal_text(UNIT))
    s = assert_serves(sd, port, "2", what="after the good reload")
    master2 = s[2]
    assert master2 != master and sd.ns_stat(master2)[1] == main, (master, master2)
    assert main_pid(sd) == main, "MainPID changed across the good reload"
    ok = last_reload(sd)
    assert ok["result"] == "ok", ok
    status.check("after good reload {}".format(ok["id"]), master2,
                 "{} ok".format(ok["id"]))
    only_generation(sd, master2, what="after the good reload")

    def failed_reload(version, kind, prev_id):
        """`systemctl reload` of a release that cannot serve: rc != 0,
        the same master and MainPID serve on, its StatusText is true, and
        nothing of the failed generation is left."""
        gw.set_version(version)
        t0 = time.monotonic()
        r = sd.systemctl("reload", UNIT, timeout=WARMUP + 40)
        took = time.monotonic() - t0
        assert r.returncode != 0, "{} reload: rc 0\n".format(kind) + sd.journal_text(UNIT)
        assert took < WARMUP + 10, "{} reload took {:.1f} s (GW_WARMUP={})".format(
            kind, took, WARMUP)
        what = "after the {} reload".format(kind)
        assert_serves(sd, port, "2", master2, what=what)
        assert main_pid(sd) == main, "MainPID changed across the {} reload".format(kind)
        e = last_reload(sd)
        assert e["result"] == "failed" and e["id"] == prev_id + 1, e
        status.check("after {} reload {}".format(kind, e["id"]), master2,
                     "{} failed".format(e["id"]))
        only_generation(sd, master2, what=what)
        return e

    # 3. a broken release: the import raises
    broken = failed_reload("broken", "broken", ok["id"])
    # 4. a hung release: the import never finishes; GW_WARMUP bounds it
    hung = failed_reload("hang", "hung", broken["id"])

    # 6. the journal, by priority
    def errs_found():
        errs = sd.journal("-u", UNIT, "-p", "err")
        ids = {int(m.group(1)) for _p, msg in wrapper_lines(errs, main)
               for m in [FAILED_RE.match(msg)] if m}
        return {broken["id"], hung["id"]} <= ids and errs
    errs = helpers.wait_for(errs_found, 5, "both failed reloads in journalctl -p err",
                            on_timeout=lambda: sd.journal_text(UNIT))
    assert all(int(e["PRIORITY"]) <= 3 for e in errs), errs
    for prio, msg in wrapper_lines(errs, main):
        if FAILED_RE.match(msg):
            assert "reload" in msg and "failed" in msg and prio == 3, (prio, msg)

    warn = sd.journal("-u", UNIT, "-p", "warning")
    assert {m for _p, m in wrapper_lines(errs, main)} <= \
        {m for _p, m in wrapper_lines(warn, main)}, "-p warning lacks the errors"
    assert all(int(e["PRIORITY"]) <= 4 for e in warn), warn
    only_warn = sd.journal("-u", UNIT, "-p", "warning..warning")
    assert all(e["PRIORITY"] == "4" for e in only_warn), only_warn
    assert not [m for _p, m in wrapper_lines(only_warn, main) if FAILED_RE.match(m)], \
        "failed reloads logged at warning, not err"

    info_entries = sd.journal("-u", UNIT, "-p", "info..info")
    assert all(e["PRIORITY"] == "6" for e in info_entries), info_entries
    info_msgs = [m for _p, m in wrapper_lines(info_entries, main)]
    assert any(m.startswith("started gunicorn master {}".format(master)) for m in info_msgs), \
        info_msgs[:20]
    assert any(re.match(r"^master {} ready: {} workers".format(master, WORKERS), m)
               for m in info_msgs), info_msgs[:20]
    assert not [m for m in info_msgs if FAILED_RE.match(m)], "failed reloads logged at info"

    everything = wrapper_lines(sd.journal("-u", UNIT), main)
    raw = [m for _p, m in everything if re.match(r"^<\d>", m) or "[gunicorn-wrapper]" in m]
    assert not raw, "priority prefix or stderr format left in journal messages: {!r}".format(
        raw[:5])

    # 7. stop
    stop_and_check_empty(sd, cgroup)
    status.check_all()


def test_kill9_of_the_main_pid(gw, sd):
    port = gw.port
    main, master = start_unit(sd, port)
    cgroup = sd.prop(UNIT, "ControlGroup")
    only_generation(sd, master, what="after start")
    old = sd.ns_gunicorn()
    restarts = int(sd.prop(UNIT, "NRestarts") or 0)

    host = sd.host_pid(main)
    assert host, "MainPID {} not found among the sandbox's processes".format(main)
    os.kill(host, signal.SIGKILL)

    # systemd notices: the unit goes through auto-restart (Restart=on-failure,
    # RestartSec=2) and comes back with another MainPID.
    seen = []

    def restarted():
        p = sd.show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts")
        state = (p.get("ActiveState"), p.get("SubState"))
        if not seen or seen[-1] != state:
            seen.append(state)
        new = int(p.get("MainPID") or 0)
        return (int(p.get("NRestarts") or 0) > restarts and state == ("active", "running")
                and new not in (0, main) and new)
    new_main = helpers.wait_for(restarted, 20, "the unit restarted after kill -9",
                                interval=0.1,
                                on_timeout=lambda: "{}\n{}".format(seen, sd.journal_text(UNIT)))
    assert any(s in (("activating", "auto-restart"), ("failed", "failed")) for s in seen), \
        "systemd never showed the crash: {}".format(seen)
    killed = [e for e in sd.journal("-u", UNIT) if e.get("_PID") == "1"
              and "Main process exited" in message(e) and "KILL" in message(e)]
    assert killed, "systemd did not log the main process's death\n" + sd.journal_text(UNIT)

    # Nothing of the killed wrapper's generation survives, serving or not.
    helpers.wait_for(lambda: not [p for p, (_pp, s) in old.items() if sd.ns_alive(p, s)],
                     15, "the killed wrapper's gunicorn processes to be gone",
                     on_timeout=lambda: sd.describe_ns(list(old)))
    s = helpers.wait_for(lambda: served(sd, port), 10, "the restarted unit to serve")
    assert sd.ns_stat(s[2])[1] == new_main, \
        "served by master {}, not a child of the new MainPID {}".format(s[2], new_main)
    only_generation(sd, s[2], what="after the restart")
    status = StatusTexts(sd)
    status.check("after the restart", s[2])

    stop_and_check_empty(sd, cgroup)
    status.check_all()
