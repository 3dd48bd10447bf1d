# SPDX-License-Identifier: MIT
"""gwctl over every daemon of a host: reload --all, status, --timeout.

Why this file exists: a host runs several apps, each under its own
wrapper, and a deploy tool reloads them all and gates on the exit status.
Two wrappers share one run directory here; `gwctl reload --all` must
reload each in turn and exit non-zero if any failed; `-t` must bound a
wait for an outcome.
"""

import control_helpers as ch
import helpers


def test_reload_all_and_status(gw):
    a = gw.wrapper(name="app", workers=1)
    port_b = helpers.free_port()
    b = helpers.Wrapper(gw, name="web", workers=1, log_name="web.log",
                        argv=[helpers.GW_BIN, "--name", "web", "--run-dir",
                              str(gw.run_dir), "--gunicorn", helpers.GUNICORN,
                              "--", "-w", "1", "-b", "127.0.0.1:{}".format(port_b),
                              "--chdir", str(gw.app_dir), "app:app"]).start()
    a.wait_ready(timeout=30)
    b.wait_ready(timeout=30)

    gw.set_version("2")
    r = ch.gwctl(gw, "reload", "--all", timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("app: reload 1 ok: master ") \
        and lines[1].startswith("web: reload 1 ok: master "), lines

    r = ch.gwctl(gw, "status")
    assert r.returncode == 0, r.stderr
    names = [x.split()[0] for x in r.stdout.splitlines()]
    assert names == ["app", "web"], r.stdout
    assert all("RUNNING" in x and "last reload 1 ok" in x for x in r.stdout.splitlines())

    # One broken app: --all carries on, reports it, exits 1.
    gw.set_version("broken")
    r = ch.gwctl(gw, "reload", "--all", timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.count("reload 2 failed") == 2, r.stderr
    assert "gwctl: app: reload 2 failed: " in r.stderr

    # JSON: one object keyed by name.
    gw.set_version("3")
    out = ch.gwctl_json(gw, "reload", "--all", timeout=60)
    assert set(out) == {"app", "web"} and all(v["ok"] for v in out.values()), out
    assert all(v["result"] == "ok" and v["name"] == k for k, v in out.items()), out

    # Usage: --all with a name is an error.
    r = ch.gwctl(gw, "reload", "app", "--all")
    assert r.returncode == 2 and "--all" in r.stderr

    for w in (a, b):
        ch.gwctl(gw, "stop", w.name)
        assert w.wait_exit(30) == 0


def test_reload_timeout_bounds_the_wait(gw):
    """-t 1 on a reload that hangs at import: gwctl gives up after ~1 s
    with exit 3 naming the socket; the daemon's reload carries on and
    fails safe on its own."""
    w = gw.wrapper(workers=1, warmup=4, stop_timeout=5)
    w.wait_ready(timeout=30)
    gw.set_version("hang")
    r = ch.gwctl(gw, "reload", "app", "-t", "1", timeout=20)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert str(ch.sock_path(gw)) in r.stderr and "within 1 s" in r.stderr, r.stderr
    w.wait_log(r"^reload 1 failed: not ready after 4 s", timeout=20)
    gw.wait_serving(version="1", timeout=10)
