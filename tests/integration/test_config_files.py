# SPDX-License-Identifier: MIT
"""gunicorn's config files and relative paths, as the wrapper reads them.

Why this file exists: a pidfile set in a -c config file was silently
overridden by the --pid the wrapper adds, and `daemon = True` in one made
the wrapper exit 0 without a word (gunicorn forked into the background).
Relative paths other than --chdir (a -c file, a pidfile, a log file) must
work across gunicorn's re-exec too.  The wrapper reads gunicorn's effective
settings with gunicorn's own Config (without importing the app).
"""

import signal

import helpers
from helpers import RELOAD_OK


def test_pidfile_from_config_file(gw):
    """`pidfile = "conf.pid"` in a -c file (relative: to --chdir, as gunicorn
    resolves it): the wrapper uses it, adds no --pid, and a restarted
    wrapper adopts through it."""
    conf = gw.app_dir / "g.conf.py"
    conf.write_text('pidfile = "conf.pid"\n')
    w = gw.wrapper(workers=1, extra_gunicorn=["-c", str(conf)])
    master, _ = w.wait_ready(timeout=20)
    pid_path = gw.app_dir / "conf.pid"
    w.wait_log(r"^gunicorn's config sets pidfile {}: using it".format(pid_path), 1)
    # The banner comes after the config is read, and names its pidfile.
    w.wait_log(r"^gunicorn-wrapper \S+ \(pid \d+\): .*, pidfile {}$".format(pid_path), 1)
    assert pid_path.read_text().strip() == str(master)
    assert not (gw.run_dir / "app.pid").exists()
    w.signal(signal.SIGKILL)
    assert w.wait_exit(5) == -signal.SIGKILL
    w2 = gw.wrapper(workers=1, extra_gunicorn=["-c", str(conf)], log_name="wrapper2.log")
    m = w2.wait_log(r"^adopted gunicorn master (\d+) from (\S+)", 10)
    assert int(m.group(1)) == master and m.group(2) == str(pid_path)


def test_daemon_true_in_config_file_is_an_error(gw):
    """`daemon = True` in a config file: exit 1 at once with one line that
    says so; nothing is started or left behind."""
    conf = gw.app_dir / "d.conf.py"
    conf.write_text("daemon = True\n")
    w = gw.wrapper(workers=1, extra_gunicorn=["-c", str(conf)])
    assert w.wait_exit(20) == 1, w.log.tail()
    w.wait_log(r"daemon = True .*not supported", 1)
    assert w.log.find(r"^started gunicorn master") is None
    assert not gw.gunicorn_procs()


def test_relative_config_pid_and_log_reload(gw):
    """--chdir, -c, --pid and --error-logfile all relative to where the
    wrapper starts (its working directory is the test's tmp dir): gunicorn
    starts, reloads (its re-exec resolves them from the app directory),
    and writes where the first start did."""
    (gw.tmp / "conf").mkdir()
    (gw.tmp / "conf" / "w.conf.py").write_text("workers = 2\n")
    argv = [helpers.GW_BIN, "--name", "app", "--run-dir", str(gw.run_dir), "--gunicorn",
            helpers.GUNICORN, "--", "-b", "127.0.0.1:{}".format(gw.port), "--chdir", "app",
            "-c", "conf/w.conf.py", "--pid", "g.pid", "--error-logfile", "err.log", "app:app"]
    w = gw.wrapper(argv=argv)
    master, workers = w.wait_ready(timeout=20)
    assert workers == 2
    assert (gw.app_dir / "g.pid").read_text().strip() == str(master)
    assert (gw.app_dir / "err.log").exists()
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    m = w.wait_log(RELOAD_OK.format(1), 20)
    new = int(m.group(2))
    gw.wait_serving("2", timeout=10, master=new)
    helpers.wait_for(lambda: (gw.app_dir / "g.pid").read_text().strip() == str(new), 5,
                     "the new master in the pidfile")
    assert "can't chdir" not in (gw.app_dir / "err.log").read_text()
