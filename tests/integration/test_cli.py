# SPDX-License-Identifier: MIT
"""Command line handling and start-up failures of gunicorn-wrapper.

Why this file exists: under supervisord a bad command line or an app that
cannot start must fail fast and clearly: exit status 2 with a one-line
message naming the bad setting (and nothing started), or, when gunicorn
itself cannot start (bad module, port in use), a bounded, non-zero exit with
the reason in the log and no stray processes.
"""

import socket
import subprocess

import pytest

import helpers
from helpers import GUNICORN, GW_BIN


def run_wrapper(gw, args, env=None, timeout=15):
    helpers.require_binary()
    return subprocess.run([GW_BIN] + args, capture_output=True, text=True, timeout=timeout,
                          env=gw.base_env(env), cwd=str(gw.tmp), stdin=subprocess.DEVNULL)


def gunicorn_args(gw, *extra):
    return ["-w", "1", "-b", "127.0.0.1:{}".format(gw.port), "--chdir", str(gw.app_dir),
            *extra, "app:app"]


def wrapper_opts(gw):
    return ["--name", "app", "--run-dir", str(gw.run_dir), "--gunicorn", GUNICORN]


BAD = [
    ("unknown-option", lambda gw: ["--bogus-option"] + wrapper_opts(gw) + ["--"] + gunicorn_args(gw),
     None, r"--bogus-option"),
    ("warmup-abc", lambda gw: wrapper_opts(gw) + ["--warmup", "abc", "--"] + gunicorn_args(gw),
     None, r"warmup"),
    ("warmup-negative", lambda gw: wrapper_opts(gw) + ["--warmup", "-1", "--"] + gunicorn_args(gw),
     None, r"warmup"),
    ("ready-bogus", lambda gw: wrapper_opts(gw) + ["--ready", "bogus", "--"] + gunicorn_args(gw),
     None, r"ready"),
    ("stop-timeout-abc",
     lambda gw: wrapper_opts(gw) + ["--stop-timeout", "abc", "--"] + gunicorn_args(gw),
     None, r"stop-timeout"),
    ("gunicorn-D", lambda gw: wrapper_opts(gw) + ["--"] + gunicorn_args(gw, "-D"), None, r"-D"),
    ("gunicorn-daemon", lambda gw: wrapper_opts(gw) + ["--"] + gunicorn_args(gw, "--daemon"),
     None, r"--daemon"),
    ("env-GW_WARMUP-abc", lambda gw: gunicorn_args(gw),
     {"GW_WARMUP": "abc", "GW_GUNICORN": GUNICORN}, r"GW_WARMUP"),
    ("env-GW_READY-bogus", lambda gw: gunicorn_args(gw),
     {"GW_READY": "bogus", "GW_GUNICORN": GUNICORN}, r"GW_READY"),
]


@pytest.mark.parametrize("args,env,pattern", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_command_line(gw, args, env, pattern):
    env = dict(env or {})
    env.setdefault("GW_RUN_DIR", str(gw.run_dir))
    r = run_wrapper(gw, args(gw), env)
    assert r.returncode == 2, "exit {}; stderr: {!r}".format(r.returncode, r.stderr)
    err = r.stderr.strip()
    assert err and "\n" not in err, "expected one line on stderr, got {!r}".format(r.stderr)
    assert pattern in err, "stderr does not name the setting {!r}: {!r}".format(pattern, err)
    assert not gw.gunicorn_procs(), helpers.describe(gw.gunicorn_procs())
    assert not list(gw.run_dir.iterdir()), "run dir not empty: {}".format(list(gw.run_dir.iterdir()))


def test_help_and_version(gw):
    r = run_wrapper(gw, ["--help"])
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    for opt in ("--name", "--gunicorn", "--warmup", "--ready", "--stop-timeout", "--run-dir"):
        assert opt in out, "--help does not mention " + opt
    r = run_wrapper(gw, ["--version"])
    assert r.returncode == 0, r.stderr
    assert "gunicorn-wrapper" in (r.stdout + r.stderr)
    assert not gw.gunicorn_procs()


def test_bad_app_module(gw):
    w = gw.wrapper(workers=1, app="nosuchmodule:app")
    rc = w.wait_exit(30)
    assert rc not in (0, None), w.log.tail()
    text = w.text()
    assert "nosuchmodule" in text, w.log.tail()  # gunicorn's own error passes through
    w.wait_log(r"^master \d+ (exited with status [1-9]\d*|killed by signal \d+)", 1)
    w.wait_log(r"^exiting with status {}$".format(rc), 1)
    gw.wait_no_gunicorn(10)


def test_port_in_use(gw):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", gw.port))
        blocker.listen(1)
        w = gw.wrapper(workers=1)
        rc = w.wait_exit(30)
        assert rc not in (0, None), w.log.tail()
        assert "Connection in use" in w.text() or "Address already in use" in w.text(), w.log.tail()
        w.wait_log(r"^master \d+ exited with status [1-9]\d*", 1)
        w.wait_log(r"^exiting with status {}$".format(rc), 1)
        gw.wait_no_gunicorn(10)
    finally:
        blocker.close()
