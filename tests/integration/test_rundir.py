# SPDX-License-Identifier: MIT
"""The run directory no one else can steer, and the files in it.

Why this file exists: the default run directory of a non-root wrapper,
/tmp/gunicorn-wrapper-UID, is a name any local user can create first, and
the lock, pidfile, history and history.tmp in it used to be opened by
path, following symlinks and blocking on FIFOs.  Each attack of issue 11
is a case here, run against the real daemon (and a second local user,
`nobody`, through setpriv, where one is needed):

  * a directory another user made (0777), or that its group or everyone
    may write, is refused with one line naming the fix; nothing is created
    in it and no gunicorn starts;
  * a directory the wrapper creates is 0700, or 0750 in the socket's
    group with --socket-group;
  * a symlink planted at NAME.lock, NAME.pid, NAME.history or
    NAME.history.tmp is never written (nor read) through: its target is
    untouched;
  * a FIFO at NAME.lock, the pidfile or NAME.history is an error, never a
    hang, and SIGTERM during startup ends the wrapper; so is a device;
  * hostile numbers in the history file are read as absent or make their
    record invalid, never garbage; a file built to make the loader
    quadratic (a magic every 12 bytes) loads as fast as any other.  (The
    parser's work is counted, and held linear, by the fuzz target that
    `make unit` replays over tests/fuzz/corpus/history.)
"""

import os
import shutil
import signal
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

import control_helpers as ch
import helpers
import history_file

PRECIOUS = b"precious: must stay as it is\n"


def run_wrapper(gw, run_dir, *opts, user=None, timeout=30):
    """The wrapper in the foreground, for cases where it must refuse."""
    argv = ([helpers.GW_BIN, "--name", "app", "--run-dir", str(run_dir),
             "--gunicorn", helpers.GUNICORN] + list(opts)
            + ["--", "-w", "1", "-b", "127.0.0.1:{}".format(gw.port),
               "--chdir", str(gw.app_dir), "app:app"])
    if user is not None:
        argv = ch.as_user_argv(user, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=gw.base_env(), cwd="/", stdin=subprocess.DEVNULL)


def need_other_user():
    if not ch.can_run_as_other_user():
        pytest.fail("cannot run as nobody here (needs root and setpriv or su)")


def as_nobody(*argv):
    r = subprocess.run(ch.as_user_argv("nobody", list(argv)), capture_output=True,
                       text=True, timeout=20, cwd="/", stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (argv, r.stdout, r.stderr)


def assert_refused(gw, r, run_dir, *expect):
    line = ch.one_line(r.stderr)
    assert r.returncode == 1, "exit {}: {!r}".format(r.returncode, r.stderr)
    assert line.startswith("gunicorn-wrapper: ") and str(run_dir) in line, line
    for e in expect:
        assert e in line, "error does not say {!r}: {!r}".format(e, line)
    assert not gw.gunicorn_procs(), helpers.describe(gw.gunicorn_procs())


def victim(gw):
    """A file of ours that a planted symlink points at."""
    v = gw.tmp / "victim"
    v.write_bytes(PRECIOUS)
    os.chmod(v, 0o600)
    return v


def assert_untouched(v):
    assert v.read_bytes() == PRECIOUS, "the symlink's target was written"
    assert stat.S_IMODE(v.stat().st_mode) == 0o600


# --------------------------------------------------------------------------
# the directory


def test_dir_made_by_another_user_is_refused(gw):
    """nobody creates the run directory first, mode 0777: the wrapper
    (root) refuses it, names the owner and the fix, creates nothing in it
    and starts no gunicorn."""
    need_other_user()
    base = ch.world_traversable_dir(gw, "gwrundir-")
    os.chmod(base, 0o1777)      # as /tmp is
    run_dir = base / "run"
    as_nobody("mkdir", "-m", "0777", str(run_dir))
    assert run_dir.stat().st_uid != os.geteuid()
    r = run_wrapper(gw, run_dir)
    assert_refused(gw, r, run_dir, "owned by uid", "remove it", "--run-dir")
    assert not list(run_dir.iterdir()), list(run_dir.iterdir())


def test_default_dir_taken_over_is_refused(gw):
    """The issue's case exactly: the victim (here nobody, without
    XDG_RUNTIME_DIR) uses /tmp/gunicorn-wrapper-UID by default, and another
    user (here root) made it first, 0777."""
    need_other_user()
    import pwd
    uid = pwd.getpwnam("nobody").pw_uid
    run_dir = Path("/tmp/gunicorn-wrapper-{}".format(uid))
    if os.path.lexists(run_dir):
        pytest.skip("{} exists already; not touching it".format(run_dir))
    run_dir.mkdir(mode=0o777)
    gw.add_cleanup(lambda: shutil.rmtree(run_dir, ignore_errors=True))
    os.chmod(run_dir, 0o777)
    argv = ch.as_user_argv("nobody", [
        helpers.GW_BIN, "--name", "app", "--gunicorn", helpers.GUNICORN, "--",
        "-b", "127.0.0.1:{}".format(gw.port), "app:app"])
    env = {k: v for k, v in gw.base_env().items() if k != "XDG_RUNTIME_DIR"}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                       cwd="/", stdin=subprocess.DEVNULL)
    assert_refused(gw, r, run_dir, "owned by uid 0", "remove it")
    assert not list(run_dir.iterdir()), list(run_dir.iterdir())


@pytest.mark.parametrize("mode,who", [(0o777, "all users"), (0o757, "all users"),
                                      (0o770, "its group")])
def test_dir_others_may_write_is_refused(gw, mode, who):
    """Our own directory, but writable by its group or by everyone: refused
    with the chmod that fixes it."""
    run_dir = gw.tmp / "open-run"
    run_dir.mkdir()
    os.chmod(run_dir, mode)
    r = run_wrapper(gw, run_dir)
    assert_refused(gw, r, run_dir, "writable by " + who, "chmod go-w")
    assert not list(run_dir.iterdir()), list(run_dir.iterdir())


def test_symlinked_dir_of_another_user_is_refused(gw):
    """A symlink another user planted where the run directory should be is
    not followed, even to a directory of ours."""
    need_other_user()
    base = ch.world_traversable_dir(gw, "gwrundir-")
    os.chmod(base, 0o777)       # nobody may plant there (no sticky bit)
    ours = gw.tmp / "ours"
    ours.mkdir(mode=0o700)
    run_dir = base / "run"
    as_nobody("ln", "-s", str(ours), str(run_dir))
    r = run_wrapper(gw, run_dir)
    assert_refused(gw, r, run_dir, "symlink owned by uid", "--run-dir")
    assert not list(ours.iterdir())


@pytest.mark.parametrize("group", [None, "nogroup"])
def test_created_dir_mode(gw, group):
    """A directory the wrapper creates is 0700, or 0750 and in the socket's
    group with --socket-group (so that members can reach the socket), and
    the files in it are the wrapper's."""
    import grp
    gw.run_dir = gw.tmp / "fresh"
    extra = ("--socket-group", group) if group else ()
    w = gw.wrapper(workers=1, extra_wrapper=extra)
    w.wait_ready(timeout=30)
    st = gw.run_dir.stat()
    assert st.st_uid == os.geteuid()
    if group:
        assert stat.S_IMODE(st.st_mode) == 0o750, oct(st.st_mode)
        assert st.st_gid == grp.getgrnam(group).gr_gid
    else:
        assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    for f in ("app.lock", "app.pid"):
        fst = os.lstat(gw.run_dir / f)
        assert stat.S_ISREG(fst.st_mode) and fst.st_uid == os.geteuid(), f
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def test_umask_does_not_narrow(gw):
    """The mode is exact whatever the umask: 0750 even under umask 077."""
    gw.run_dir = gw.tmp / "fresh"
    w = gw.wrapper(workers=1, extra_wrapper=("--socket-group", "nogroup"),
                   start=False)
    old = os.umask(0o077)
    try:
        w.start()
    finally:
        os.umask(old)
    w.wait_ready(timeout=30)
    assert stat.S_IMODE(gw.run_dir.stat().st_mode) == 0o750
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


# --------------------------------------------------------------------------
# planted symlinks


def test_symlink_at_lock_is_refused(gw):
    """NAME.lock -> a file of ours: the wrapper refuses to start (one line
    naming the lock) and the target is neither truncated nor written."""
    v = victim(gw)
    (gw.run_dir / "app.lock").symlink_to(v)
    r = run_wrapper(gw, gw.run_dir)
    assert_refused(gw, r, gw.run_dir, "app.lock", "symlink", "remove it")
    assert_untouched(v)


def test_symlink_at_pidfile_is_not_followed(gw):
    """NAME.pid -> a file naming a live process (ours): not read, not
    adopted; the symlink is removed, gunicorn starts and serves, and the
    target is untouched."""
    v = gw.tmp / "victim"
    v.write_text("{}\n".format(os.getpid()))
    before = v.read_bytes()
    (gw.run_dir / "app.pid").symlink_to(v)
    w = gw.wrapper(workers=1)
    w.wait_log(r"pidfile .*app\.pid: not a regular file of ours .*refused; ignoring it",
               timeout=10)
    pid, _ = w.wait_ready(timeout=30)
    assert pid != os.getpid()
    assert v.read_bytes() == before
    assert not (gw.run_dir / "app.pid").is_symlink()
    gw.wait_serving(timeout=10)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
    assert v.read_bytes() == before


def test_symlink_at_history_is_not_followed(gw):
    """NAME.history -> a file of ours: not loaded, and a finished reload is
    not appended through it ("not recorded", logged); the reload itself
    stands and the target is untouched."""
    v = victim(gw)
    (gw.run_dir / "app.history").symlink_to(v)
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*app\.history: not loaded: .*symlink", timeout=10)
    w.wait_ready(timeout=30)
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"], rep
    w.wait_log(r"history .*app\.history: reload 1 not recorded: .*symlink", timeout=10)
    gw.wait_serving(version="2", timeout=10)
    assert_untouched(v)
    assert (gw.run_dir / "app.history").is_symlink()
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
    assert_untouched(v)


def test_symlink_at_history_tmp_is_not_followed(gw):
    """NAME.history.tmp -> a file of ours, and a corrupt history that makes
    the loader rewrite the file: the symlink is removed, a fresh temporary
    file is written and renamed, and the target is untouched."""
    v = victim(gw)
    good = record(entry(id=1))
    (gw.run_dir / "app.history").write_bytes(b"garbage!" + good)
    (gw.run_dir / "app.history.tmp").symlink_to(v)
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*: 8 bytes corrupt.*; 1 reloads loaded", timeout=10)
    w.wait_ready(timeout=30)
    assert_untouched(v)
    assert not os.path.lexists(gw.run_dir / "app.history.tmp")
    assert (gw.run_dir / "app.history").read_bytes() == good
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def test_hard_link_at_history_is_not_written(gw):
    """NAME.history, a hard link to a file of ours elsewhere: appending
    would write there too, so it is refused (logged) and the file is
    untouched."""
    v = victim(gw)
    os.link(v, gw.run_dir / "app.history")
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*app\.history: not loaded: .*hard links", timeout=10)
    w.wait_ready(timeout=30)
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"], rep
    w.wait_log(r"reload 1 not recorded: .*hard links", timeout=10)
    assert_untouched(v)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


# --------------------------------------------------------------------------
# FIFOs: an error, never a hang


def test_fifo_at_lock_is_an_error(gw):
    os.mkfifo(gw.run_dir / "app.lock")
    r = run_wrapper(gw, gw.run_dir, timeout=20)
    assert_refused(gw, r, gw.run_dir, "app.lock", "FIFO")


def test_fifo_at_pidfile_and_history(gw):
    """FIFOs at NAME.pid and NAME.history: each is one logged error, the
    pidfile's is removed (gunicorn would block on it too), the wrapper
    starts gunicorn and serves, and a reload works (not recorded)."""
    os.mkfifo(gw.run_dir / "app.pid")
    os.mkfifo(gw.run_dir / "app.history")
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*app\.history: not loaded: .*FIFO", timeout=10)
    w.wait_log(r"pidfile .*app\.pid: not a regular file of ours", timeout=10)
    w.wait_ready(timeout=30)
    assert stat.S_ISREG(os.lstat(gw.run_dir / "app.pid").st_mode)
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"], rep
    w.wait_log(r"reload 1 not recorded: .*FIFO", timeout=10)
    assert stat.S_ISFIFO(os.lstat(gw.run_dir / "app.history").st_mode)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def mknull(path):
    """A character device like /dev/null (1, 3) at path, or skip."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except OSError as e:
        pytest.skip("cannot make a device node here: {}".format(e))


def test_device_at_lock_is_an_error(gw):
    mknull(gw.run_dir / "app.lock")
    r = run_wrapper(gw, gw.run_dir, timeout=20)
    assert_refused(gw, r, gw.run_dir, "app.lock", "a device")


def test_device_at_history_is_an_error(gw):
    """A device at NAME.history (one like /dev/null used to swallow every
    record in silence): logged, neither loaded nor written, never opened."""
    mknull(gw.run_dir / "app.history")
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*app\.history: not loaded: .*a device", timeout=10)
    w.wait_ready(timeout=30)
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"], rep
    w.wait_log(r"reload 1 not recorded: .*a device", timeout=10)
    assert stat.S_ISCHR(os.lstat(gw.run_dir / "app.history").st_mode)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_stop_signal_during_startup(gw, sig):
    """A stop signal the moment startup has passed the FIFOs (before the
    first generation is ready) ends the wrapper, and its gunicorn, at once.
    Before the fix it hung in open() for ever and SIGTERM could not end it."""
    os.mkfifo(gw.run_dir / "app.pid")
    os.mkfifo(gw.run_dir / "app.history")
    w = gw.wrapper(workers=1, app_env={"APP_BOOT": "5"})
    w.wait_log(r"history .*app\.history: not loaded", timeout=10)
    w.signal(sig)
    w.wait_exit(20)
    assert not w.log.find(r"^master \d+ ready"), w.log.tail()
    gw.wait_no_gunicorn(timeout=10)


def test_stop_signal_before_the_loop(gw):
    """A SIGTERM sent as early as we can (right after exec) ends it too:
    whatever phase it lands in, nothing blocks it."""
    os.mkfifo(gw.run_dir / "app.pid")
    os.mkfifo(gw.run_dir / "app.history")
    for _ in range(5):
        w = gw.wrapper(workers=1, start=False)
        w.start()
        w.signal(signal.SIGTERM)
        w.wait_exit(20)
    gw.wait_no_gunicorn(timeout=10)


# --------------------------------------------------------------------------
# hostile history


record = history_file.record
entry = history_file.entry


def test_hostile_history_numbers(gw):
    """Numbers out of range read as absent (started 0, times nil, PIDs nil,
    workers 0); an id that is not an integer in [1, 4e9], or not above the
    last, makes its record invalid.  Never 2^40 workers shown as
    -2147483648 (and no UBSan report under `make check`)."""
    nan, inf = float("nan"), float("inf")
    recs = [
        entry(id=1, workers=2 ** 40, old_master=-5, new_master=2 ** 40,
              started=nan, duration=1e308, t_fork=-0.5, t_drain=inf),
        entry(id=2.5), entry(id=0), entry(id=2 ** 64 - 1), entry(id=-3),
        entry(id=3, workers=-1, started=-1e300, duration=-inf,
              old_master=4194305, new_master=12.5, t_warmup=1e7),
        entry(id=4, workers=100000, old_master=4194304, new_master=1,
              duration=1e6),
        entry(id=4000000001),
        entry(id=5, workers=1.5, result="failed"),
    ]
    (gw.run_dir / "app.history").write_bytes(b"".join(record(p) for p in recs))
    w = gw.wrapper(workers=1)
    w.wait_ready(timeout=30)
    st = ch.status(ch.sock_path(gw))
    hist = {e["id"]: e for e in st["history"]}
    assert sorted(hist) == [1, 3, 4, 5], st["history"]
    for e in st["history"]:
        # Types and ranges hold; the consistency the daemon keeps in what
        # it writes (an ok entry has a duration) is not asked of a file
        # someone else wrote.
        assert not ch._check_fields(e, ch.ENTRY_FIELDS, "entry"), e
        for k in ("duration", "t_check", "t_settle", "t_fork", "t_warmup",
                  "t_drain", "t_promote"):
            assert e[k] is None or 0 <= e[k] <= 1e6, (k, e)
        assert 0 <= e["started"] <= 1e10 and 0 <= e["workers"] <= 100000, e
    e = hist[1]
    assert e["workers"] == 0 and e["old_master"] is None and e["new_master"] is None
    assert e["started"] == 0 and e["duration"] is None
    assert e["t_fork"] is None and e["t_drain"] is None and e["t_warmup"] == 1.0
    e = hist[3]
    assert e["workers"] == 0 and e["old_master"] is None and e["new_master"] is None
    assert e["started"] == 0 and e["duration"] is None and e["t_warmup"] is None
    e = hist[4]        # the edges of every range are kept
    assert e["workers"] == 100000 and e["old_master"] == 4194304
    assert e["new_master"] == 1 and e["duration"] == 1e6
    e = hist[5]
    assert e["workers"] == 0 and e["result"] == "failed" and e["reason"]
    # ids go on from the last valid one
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"] and rep["reload"]["id"] == 6, rep
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def test_slow_load_file(gw):
    """1 MB with "GWH1" every 12 bytes, each claiming a 4 KB record: took
    6.5 s to load.  Now it is skipped as fast as any file (the figure is
    printed; the bound is loose on purpose: the linear-work assertion is
    the fuzz target's, replayed by `make unit`), and rewritten empty."""
    unit = b"GWH1" + struct.pack(">II", 4096, 0xdeadbeef)
    data = (unit * ((1 << 20) // 12 + 1))[:1 << 20]
    (gw.run_dir / "app.history").write_bytes(data + record(entry(id=7)))
    t0 = time.monotonic()
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*: 1048576 bytes corrupt.*; 1 reloads loaded", timeout=20)
    took = time.monotonic() - t0
    print("slow-load history (1 MB, a magic every 12 bytes): wrapper started "
          "and loaded it in {:.3f} s".format(took))
    w.wait_ready(timeout=30)
    assert len(record(entry(id=7))) == (gw.run_dir / "app.history").stat().st_size
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()


def test_same_id_again_replaces(gw):
    """A later record with the id of the one before it (a reload's outcome
    after a record of its start) replaces it; ids carry on after it."""
    recs = [entry(id=1), entry(id=2, result="running", duration=None),
            entry(id=2, result="failed", reason="interrupted by a crash")]
    (gw.run_dir / "app.history").write_bytes(b"".join(record(p) for p in recs))
    w = gw.wrapper(workers=1)
    w.wait_log(r"history .*: 2 reloads loaded", timeout=10)
    w.wait_ready(timeout=30)
    hist = ch.status(ch.sock_path(gw))["history"]
    assert [(e["id"], e["result"]) for e in hist] == [(1, "ok"), (2, "failed")], hist
    assert hist[1]["reason"] == "interrupted by a crash"
    gw.set_version("2")
    rep = ch.call(ch.sock_path(gw), {"cmd": "reload", "wait": True}, timeout=60)
    assert rep["ok"] and rep["reload"]["id"] == 3, rep
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
