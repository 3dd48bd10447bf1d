# SPDX-License-Identifier: MIT
"""`gwctl workers NAME`, and error codes deciding gwctl's exit status.

Why this file exists: `workers` is the command added to prove that a
command is one entry in common/cmd.c, one handler in daemon/control.c,
one printer in client/cmds.c, its docs and these tests.  It must name
the serving master's workers as the kernel sees them (its children), and
during a reload the new master and its workers as well.  The second half
holds gwctl to deciding on the reply's "code", never its text, while
still understanding a daemon older than the codes.
"""

import json

import pytest

import control_helpers as ch
import helpers
from test_gwctl import always, fake  # noqa: F401  (fake is a fixture)

WORKERS_KEYS = {"ok", "master", "masters", "workers", "new_master", "new_workers",
                "old_master", "old_workers"}


def children(pid):
    return sorted(ch.proc_children_file(pid) or [])


def test_workers_real_daemon(gw):
    w = gw.wrapper(workers=2, warmup=20, stop_timeout=5)
    w.wait_ready(timeout=30)
    master = ch.status(ch.sock_path(gw))["master"]

    j = ch.gwctl_json(gw, "workers", "app")
    assert set(j) == WORKERS_KEYS and j["ok"] is True, j
    assert j["master"] == master and j["masters"] == [master], j
    assert sorted(j["workers"]) == children(master) and len(j["workers"]) == 2, j
    assert j["new_master"] is None and j["new_workers"] == [], j
    assert j["old_master"] is None and j["old_workers"] == [], j

    r = ch.gwctl(gw, "workers", "app")
    assert r.returncode == 0 and not r.stderr, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["master", str(master)], lines
    assert lines[1].split() == ["workers"] + [str(p) for p in j["workers"]], lines
    assert not any(x.startswith(("new", "old")) for x in lines), lines
    # -s names the socket instead
    r = ch.gwctl(gw, "-s", ch.sock_path(gw), "workers")
    assert r.returncode == 0 and r.stdout.split()[:2] == ["master", str(master)], r

    # A reload that hangs at import: the new master and its workers show,
    # as children of the old master and of the new one.
    gw.set_version("hang")
    r = ch.gwctl(gw, "reload", "app", "--no-wait")
    assert r.returncode == 0, r

    def new_generation():
        j = ch.gwctl_json(gw, "workers", "app")
        return j if j["new_master"] and len(j["new_workers"]) == 2 else None
    j = helpers.wait_for(new_generation, 20, "workers to show the new generation")
    new = j["new_master"]
    assert j["master"] == master and helpers.ppid_of(new) == master, j
    assert sorted(j["masters"]) == sorted([master, new]), j
    assert new not in j["workers"] and sorted(j["workers"]) == \
        [p for p in children(master) if p != new], j
    assert all(helpers.ppid_of(p) == new for p in j["new_workers"]), j
    r = ch.gwctl(gw, "workers", "app")
    assert r.returncode == 0 and "new master   {}".format(new) in r.stdout, r.stdout
    assert "new workers " in r.stdout, r.stdout

    assert ch.gwctl(gw, "stop", "app").returncode == 0
    assert w.wait_exit(30) == 0, w.log.tail()


def test_workers_usage(gw):
    r = ch.gwctl(gw, "workers")
    assert r.returncode == 2 and ch.one_line(r.stderr) == "gwctl: usage: gwctl workers name", r
    r = ch.gwctl(gw, "workers", "a", "b")
    assert r.returncode == 2, r
    r = ch.gwctl(gw, "--help")
    assert "workers name" in r.stdout, r.stdout


def test_workers_hostile_reply(gw, fake):  # noqa: F811
    fake(always({"ok": True, "master": 2 ** 40, "masters": "x", "workers": [-1, "x", 7],
                 "new_master": 9, "new_workers": None}))
    r = ch.gwctl(gw, "workers", "app", timeout=10)
    assert r.returncode == 0, r
    lines = [x.split() for x in r.stdout.splitlines()]
    assert lines == [["master", "-"], ["workers", "?", "?", "7"], ["new", "master", "9"],
                     ["new", "workers", "none"], ["masters", "none"]], r.stdout


@pytest.mark.parametrize("reply,stop_exit,status_exit", [
    # the code decides, whatever the text says
    ({"ok": False, "error": "server overloaded", "code": "busy"}, 3, 4),
    ({"ok": False, "error": "nope", "code": "denied"}, 3, 4),
    ({"ok": False, "error": "busy", "code": "failed"}, 1, 4),
    ({"ok": False, "error": "permission denied", "code": "unavailable"}, 1, 4),
    ({"ok": False, "error": "x", "code": "some-future-code"}, 1, 4),
    # a daemon from before the codes: the text, as before
    ({"ok": False, "error": "busy"}, 3, 4),
    ({"ok": False, "error": "permission denied"}, 3, 4),
    ({"ok": False, "error": "something else"}, 1, 4),
], ids=["busy", "denied", "failed", "unavailable", "future", "old-busy", "old-denied",
        "old-other"])
def test_error_code_decides(gw, fake, reply, stop_exit, status_exit):  # noqa: F811
    fake(always(reply))
    r = ch.gwctl(gw, "stop", "app", timeout=10)
    assert r.returncode == stop_exit, (r.returncode, r.stdout, r.stderr)
    assert reply["error"] in r.stderr, r.stderr
    r = ch.gwctl(gw, "status", "app", timeout=10)
    assert r.returncode == status_exit, (r.returncode, r.stdout, r.stderr)
    r = ch.gwctl(gw, "--json", "stop", "app", timeout=10)
    assert json.loads(r.stdout) == reply, r.stdout
