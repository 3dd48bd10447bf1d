# SPDX-License-Identifier: MIT
"""--preflight: gunicorn --check-config before SIGUSR2.

Why this file exists: with --preflight a deploy that cannot be imported
fails in a throw-away process, before any new master is forked, so the
running generation is never touched at all.  These tests check that a
broken deploy fails with the exception as its reason and no fork, that a
good deploy reloads as usual with the check's time recorded, and that the
check sees gunicorn's own arguments (it runs with the same ones).
"""

import control_helpers as ch
import helpers


def test_preflight_refuses_broken_deploy(gw):
    """A broken deploy fails at the check: reason names the exception, no
    new master appears, the old version serves with zero failures; then a
    good deploy passes the check and reloads."""
    w = gw.wrapper(workers=2, extra_wrapper=["--preflight"],
                   app_env={"APP_BOOT": "0.5"})
    w.wait_ready(timeout=30)
    master = w.master_pid()
    sock = ch.sock_path(gw)
    with gw.load(clients=3) as load:
        load.wait_version("1", 10)
        gw.set_version("broken")
        rep = ch.call(sock, {"cmd": "reload", "wait": True}, timeout=30)
        assert not rep["ok"], rep
        assert rep["error"].startswith("pre-flight: gunicorn --check-config "
                                       "exited 1: RuntimeError"), rep["error"]
        e = rep["reload"]
        assert e["new_master"] is None and e["t_fork"] is None, e
        assert e["t_check"] is not None and e["t_check"] >= 0.4, e
        assert not w.log.find(r"^reload 1: new master"), w.log.tail()
        assert gw.masters() == [master]
        gw.set_version("2")
        rep = ch.call(sock, {"cmd": "reload", "wait": True}, timeout=30)
        assert rep["ok"], rep
        assert rep["reload"]["t_check"] >= 0.4, rep
        load.wait_version("2", 10)
    load.assert_no_failures()
    helpers.wait_for(lambda: gw.masters() == [rep["reload"]["new_master"]], 10,
                     "only the new master")
    assert w.log.find(r"^reload 2 ok: .*\(check [0-9.]+ s, fork")


def test_preflight_env_setting(gw):
    """GW_PREFLIGHT=1 in the drop-in form turns it on; a bad value is a
    usage error naming the variable."""
    w = gw.wrapper(workers=1, dropin=True, extra_env={"GW_PREFLIGHT": "1"})
    w.wait_ready(timeout=30)
    gw.set_version("broken")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=30)
    assert "pre-flight" in rep["error"], rep
    bad = gw.wrapper(workers=1, dropin=True, log_name="bad.log",
                     extra_env={"GW_PREFLIGHT": "maybe"})
    assert bad.wait_exit(10) == 2
    assert "GW_PREFLIGHT" in bad.log.text()
