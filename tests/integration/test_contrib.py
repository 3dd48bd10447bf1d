# SPDX-License-Identifier: MIT
"""What operators install and copy: `make install`, the systemd units, the
bash completion, the supervisord and consul-template examples.

Why this file exists: these files are read by other programs (make, bash,
systemd, supervisord, consul-template), so each is tested by the program
that reads it wherever that program is here:

  * `make install DESTDIR=... PREFIX=/usr` in a clean copy of the tree puts
    exactly the expected files in place: one live systemd unit
    (gunicorn-wrapper@.service), and every contrib file for systemd,
    supervisord and consul-template as it is under
    DOCDIR/examples/{systemd,supervisor,consul-template}/; the installed
    binaries run, the installed man pages pass mandoc's lint, and `make
    uninstall` removes every file again; with another PREFIX the live unit
    and the examples name the binaries where they were installed;
  * contrib/systemd/*.service pass `systemd-analyze verify` against that
    installed tree (skipped where systemd-analyze is missing);
  * contrib/bash-completion/gwctl, sourced into a real bash, completes the
    commands, options, and the daemon names of the run directory gwctl
    would use;
  * contrib/supervisor/app.conf, with only its paths and port changed,
    runs under a real supervisord: RUNNING, HTTP served, `gwctl reload app`
    works, and its three stop timeouts nest;
  * contrib/consul-template/app.hcl's command, run as consul-template runs
    it (split on spaces, no shell), reloads a real wrapper and exits 0,
    and exits 1 when the new code does not load.

Every wait is bounded; whatever a test starts is stopped through the `gw`
fixture, by PID.
"""

import configparser
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import control_helpers as ch
import helpers

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
COMPLETION = CONTRIB / "bash-completion" / "gwctl"
BASH = shutil.which("bash") or "/bin/bash"

# Top-level entries of the tree that `make install` does not need, and the
# build products a work tree may hold anywhere.
SKIP_TOP = {".git", "tests", "bench", "run", "dist", "debian",
            "gunicorn-wrapper", "gwctl", "build.flags", ".pytest_cache"}
SKIP_ANY = ("*.o", "*.d", "__pycache__", "*.pyc")


def makefile_version():
    m = re.search(r"^VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no VERSION in Makefile"
    return m.group(1)


def clean_env():
    """The environment without make's: under `make test SANITIZE=1 CC=clang`
    MAKEFLAGS would pass those variables on to the make run here."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE")}


def run(argv, timeout, **kw):
    kw.setdefault("env", clean_env())
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def make(src, *args, timeout=300):
    r = run(["make", "-C", src] + list(args), timeout)
    assert r.returncode == 0, "make {} exit {}\n{}\n{}".format(
        " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


def files_under(root):
    """Every non-directory below root, as paths relative to it."""
    out = set()
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


@pytest.fixture(scope="module")
def built_tree(tmp_path_factory):
    """A clean copy of the tree, built once with `make all`: the work tree's
    own objects and binaries (maybe sanitizer builds) are left alone."""
    src = tmp_path_factory.mktemp("contrib") / "src"
    src.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in SKIP_TOP:
            continue
        if entry.is_dir():
            shutil.copytree(entry, src / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns(*SKIP_ANY))
        else:
            shutil.copy2(entry, src / entry.name)
    make(src, "-j4", "all")
    return src


# --------------------------------------------------------------------------
# make install / uninstall

def expected_install():
    """{relative path: mode} that `make install PREFIX=/usr` must create."""
    doc = "usr/share/doc/gunicorn-wrapper/"
    files = {
        "usr/sbin/gunicorn-wrapper": 0o755,
        "usr/bin/gwctl": 0o755,
        "usr/share/man/man8/gunicorn-wrapper.8": 0o644,
        "usr/share/man/man1/gwctl.1": 0o644,
        "usr/share/man/man7/gunicorn-wrapper-protocol.7": 0o644,
        "usr/share/bash-completion/completions/gwctl": 0o644,
        doc + "README.md": 0o644,
        doc + "LICENSE": 0o644,
    }
    units = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                           capture_output=True, text=True).stdout.strip() \
        or "/usr/lib/systemd/system"
    # The only live unit: the Type=notify-reload variant needs systemd
    # >= 253 and is an example only.
    files[units.lstrip("/") + "/gunicorn-wrapper@.service"] = 0o644
    for rel in EXAMPLES:
        files[doc + "examples/" + rel] = 0o644
    return files


EXAMPLES = helpers.CONTRIB_EXAMPLES


def test_make_install_then_uninstall(built_tree, tmp_path):
    dest = tmp_path / "dest"
    version = makefile_version()
    make(built_tree, "install", "DESTDIR={}".format(dest), "PREFIX=/usr")

    expected = expected_install()
    got = files_under(dest)
    assert got == set(expected), "installed files differ:\n  missing {}\n  unexpected {}".format(
        sorted(set(expected) - got), sorted(got - set(expected)))
    for rel, mode in expected.items():
        st = os.lstat(dest / rel)
        assert (st.st_mode & 0o7777) == mode, "{}: mode {:o}, want {:o}".format(
            rel, st.st_mode & 0o7777, mode)
    # Installed copies are the tree's files, not something else.
    assert (dest / "usr/share/bash-completion/completions/gwctl").read_bytes() == \
        COMPLETION.read_bytes()
    # With PREFIX=/usr the binaries are where the examples say: each is the
    # tree's file as it is (never compressed, never rewritten).
    for rel in EXAMPLES:
        assert (dest / "usr/share/doc/gunicorn-wrapper/examples" / rel).read_bytes() == \
            (CONTRIB / rel).read_bytes(), rel

    # The installed binaries run.
    for binary, name in (("usr/sbin/gunicorn-wrapper", "gunicorn-wrapper"),
                         ("usr/bin/gwctl", "gwctl")):
        r = run([dest / binary, "--version"], 10)
        assert r.returncode == 0, (binary, r.returncode, r.stderr)
        assert (r.stdout + r.stderr).strip() == "{} {}".format(name, version), r

    # The installed man pages pass the lint `make lint-man` applies.
    pages = [dest / "usr/share/man/man8/gunicorn-wrapper.8",
             dest / "usr/share/man/man1/gwctl.1",
             dest / "usr/share/man/man7/gunicorn-wrapper-protocol.7"]
    r = run(["mandoc", "-Tlint", "-Wwarning"] + pages, 30)
    assert r.returncode == 0, "mandoc -Tlint:\n" + r.stdout + r.stderr

    make(built_tree, "uninstall", "DESTDIR={}".format(dest), "PREFIX=/usr")
    left = files_under(dest)
    assert not left, "left after make uninstall: {}".format(sorted(left))
    assert not (dest / "usr/share/doc/gunicorn-wrapper").exists(), \
        "make uninstall left the documentation directory"


def test_make_install_other_prefix_rewrites_paths(built_tree, tmp_path):
    """Under PREFIX=/usr/local the live unit and the examples an operator
    copies (the notify-reload unit, app.conf, app.hcl) name the binaries
    there; the notify-reload unit is still not installed live."""
    dest = tmp_path / "dest"
    make(built_tree, "install", "DESTDIR={}".format(dest),
         "SYSTEMDUNITDIR=/etc/systemd/system")
    unit = (dest / "etc/systemd/system/gunicorn-wrapper@.service").read_text()
    assert re.search(r"^ExecStart=/usr/local/sbin/gunicorn-wrapper ", unit, re.M), unit
    assert re.search(r"^ExecReload=/usr/local/bin/gwctl reload %i$", unit, re.M), unit
    assert sorted(p.name for p in (dest / "etc/systemd/system").iterdir()) == \
        ["gunicorn-wrapper@.service"]
    ex = dest / "usr/local/share/doc/gunicorn-wrapper/examples"
    variant = (ex / "systemd/gunicorn-wrapper-notify-reload@.service").read_text()
    assert re.search(r"^ExecStart=/usr/local/sbin/gunicorn-wrapper ", variant, re.M), variant
    assert (ex / "systemd/gunicorn-wrapper@.service").read_text() == unit
    assert "command=/usr/local/sbin/gunicorn-wrapper " in (ex / "supervisor/app.conf").read_text()
    assert '"/usr/local/bin/gwctl reload app"' in (ex / "consul-template/app.hcl").read_text()
    for rel in EXAMPLES:
        text = (ex / rel).read_text()
        assert "/usr/sbin/gunicorn-wrapper" not in text and "/usr/bin/gwctl" not in text, rel
    make(built_tree, "uninstall", "DESTDIR={}".format(dest),
         "SYSTEMDUNITDIR=/etc/systemd/system")
    assert not files_under(dest), sorted(files_under(dest))


# --------------------------------------------------------------------------
# systemd units

def systemd_version():
    exe = shutil.which("systemd-analyze")
    if not exe:
        return None
    m = re.match(r"systemd (\d+)", run([exe, "--version"], 10).stdout)
    return int(m.group(1)) if m else None


def test_systemd_units_verify(built_tree, tmp_path):
    """Both units, instantiated, pass `systemd-analyze verify` in a root
    holding the installed tree (so ExecStart= and ExecReload= name real
    executables) and the host's own units (sysinit.target and the like)."""
    version = systemd_version()
    if version is None:
        pytest.skip("systemd-analyze is not installed")
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    root = tmp_path / "root"
    make(built_tree, "install", "DESTDIR={}".format(root), "PREFIX=/usr",
         "SYSTEMDUNITDIR=/usr/lib/systemd/system")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)
    os.symlink("usr/lib", root / "lib")
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True)

    units = {"gunicorn-wrapper@.service":
             (CONTRIB / "systemd/gunicorn-wrapper@.service").read_text()}
    variant = (CONTRIB / "systemd/gunicorn-wrapper-notify-reload@.service").read_text()
    assert re.search(r"^Type=notify-reload$", variant, re.M)
    assert not re.search(r"^ExecReload=", variant, re.M)
    if version < 253:
        # Type=notify-reload and ReloadSignal= are systemd 253's: verify
        # the rest of the file with what this systemd knows.
        variant = re.sub(r"^Type=notify-reload$", "Type=notify", variant, flags=re.M)
        variant = re.sub(r"^ReloadSignal=.*\n", "", variant, flags=re.M)
    units["gunicorn-wrapper-notify-reload@.service"] = variant
    for name, text in units.items():
        (unit_dir / name).write_text(text)

    main = units["gunicorn-wrapper@.service"]
    for line in ("Type=notify", "NotifyAccess=main", "KillMode=mixed",
                 "Restart=on-failure", "RuntimeDirectory=gunicorn-wrapper",
                 "RuntimeDirectoryPreserve=yes",
                 "EnvironmentFile=-/etc/default/gunicorn-wrapper-%i",
                 "ExecReload=/usr/bin/gwctl reload %i"):
        assert re.search("^" + re.escape(line) + "$", main, re.M), line
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", main, re.M).group(1))
    gw_stop = int(re.search(r"GW_STOP_TIMEOUT=(\d+)", main).group(1))
    assert stop > gw_stop > 30, "TimeoutStopSec > GW_STOP_TIMEOUT > gunicorn's 30 s"

    for name in units:
        inst = name.replace("@.", "@app.")
        r = run(["systemd-analyze", "verify", "--man=no", "--root={}".format(root), inst], 60)
        out = (r.stdout + r.stderr).strip()
        assert r.returncode == 0 and not out, "systemd-analyze verify {} (systemd {}):\n{}".format(
            inst, version, out)


# --------------------------------------------------------------------------
# bash completion

def complete(words, env=None, user=None):
    """COMPREPLY of _gwctl for the command line `words` (the last one being
    completed), sorted; run in a fresh bash with the completion sourced."""
    script = COMPLETION.read_text() + r"""
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
complete -p gwctl >/dev/null || exit 7
_gwctl gwctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""
    # The script on stdin: another user needs no access to the tree.
    argv = [BASH, "--norc", "--noprofile", "-s", "--"] + list(words)
    if user is not None:
        argv = ch.as_user_argv(user, argv)
    base = {k: v for k, v in clean_env().items()
            if k not in ("GW_RUN_DIR", "XDG_RUNTIME_DIR")}
    base.update(env or {})
    r = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=10,
                       env=base, cwd="/")
    assert r.returncode == 0 and not r.stderr, (words, r.returncode, r.stderr)
    return sorted(x for x in r.stdout.splitlines() if x)


def run_dir_of(env=None, user=None):
    """What _gwctl_run_dir prints."""
    script = COMPLETION.read_text() + "\n_gwctl_run_dir\n"
    argv = [BASH, "--norc", "--noprofile", "-s"]
    if user is not None:
        argv = ch.as_user_argv(user, argv)
    base = {k: v for k, v in clean_env().items()
            if k not in ("GW_RUN_DIR", "XDG_RUNTIME_DIR")}
    base.update(env or {})
    r = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=10,
                       env=base, cwd="/")
    assert r.returncode == 0 and not r.stderr, r
    return r.stdout.strip()


def make_sockets(directory, names):
    for n in names:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(str(Path(directory) / (n + ".sock")))
        finally:
            s.close()


def test_completion_commands_options_names(tmp_path):
    rd = tmp_path / "rd"
    rd.mkdir()
    make_sockets(rd, ["app", "web-2", "api"])
    (rd / "app.pid").write_text("1\n")           # not a daemon name
    (rd / "app.history").write_text("")          # neither
    env = {"GW_RUN_DIR": str(rd)}

    # Every command of gwctl --help (the command table), and metrics.
    assert complete(["gwctl", ""], env) == sorted(ch.help_commands())
    assert complete(["gwctl", "s"], env) == ["set", "set-warmup", "status", "stop"]
    assert complete(["gwctl", "re"], env) == ["reload"]
    # names: the run directory's *.sock files, nothing else
    assert complete(["gwctl", "reload", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "reload", "a"], env) == ["api", "app"]
    assert complete(["gwctl", "status", "w"], env) == ["web-2"]
    assert complete(["gwctl", "stop", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "set-warmup", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "workers", "a"], env) == ["api", "app"]
    # options anywhere, with their values skipped
    assert complete(["gwctl", "--json", "-t", "5", "status", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "--timeout", "=", "5", "reload", "app"], env) == ["app"]
    # one name only; set-warmup's seconds are not completed; --all needs none
    assert complete(["gwctl", "reload", "app", ""], env) == []
    assert complete(["gwctl", "set-warmup", "app", ""], env) == []
    # set: a name, then a key of the settings table (gwctl set's error
    # lists them), then nothing
    assert complete(["gwctl", "set", "a"], env) == ["api", "app"]
    keys = re.search(r"unknown setting 'x' \((.*)\)", subprocess.run(
        [str(ch.GWCTL_BIN), "set", "app", "x", "1"], capture_output=True, text=True,
        timeout=10).stderr).group(1).split(", ")
    assert complete(["gwctl", "set", "app", ""], env) == sorted(keys)
    assert complete(["gwctl", "set", "app", "p"], env) == ["probation"]
    assert complete(["gwctl", "-s", "/x.sock", "set", ""], env) == sorted(keys)
    assert complete(["gwctl", "set", "app", "warmup", ""], env) == []
    assert complete(["gwctl", "reload", "--all", ""], env) == []
    # options
    every = ["--all", "--help", "--json", "--no-wait", "--socket", "--timeout", "--version",
             "--wait"]
    assert complete(["gwctl", "--"], env) == every
    assert complete(["gwctl", "-"], env) == sorted(every + ["-s", "-t"])
    assert complete(["gwctl", "reload", "--n"], env) == ["--no-wait"]
    assert complete(["gwctl", "reload", "--a"], env) == ["--all"]
    assert complete(["gwctl", "status", "--"], env) == [
        "--help", "--json", "--socket", "--timeout", "--version"]
    assert complete(["gwctl", "--j"], env) == ["--json"]
    # option values: a socket path is a file name; a timeout is not completed
    assert complete(["gwctl", "-s", str(rd / "w")], env) == [str(rd / "web-2.sock")]
    assert complete(["gwctl", "--socket", "=", str(rd / "ap")], env) == [
        str(rd / n) for n in ("api.sock", "app.history", "app.pid", "app.sock")]
    assert complete(["gwctl", "-t", ""], env) == []
    # getopt_long's forms, as gwctl reads them: attached values, "--"
    assert complete(["gwctl", "-t5", "status", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "--timeout=5", "reload", "a"], env) == ["api", "app"]
    assert complete(["gwctl", "-s{}".format(rd / "app.sock"), "status", "a"], env) == [
        "api", "app"]
    assert complete(["gwctl", "--", "status", ""], env) == ["api", "app", "web-2"]
    assert complete(["gwctl", "status", "--", "a"], env) == ["api", "app"]
    assert complete(["gwctl", "status", "--", "app", ""], env) == []
    assert complete(["gwctl", "--", "-"], env) == []          # no options after --
    # a unique prefix is the option, its value the next word
    assert complete(["gwctl", "--sock", str(rd / "w")], env) == [str(rd / "web-2.sock")]
    assert complete(["gwctl", "--tim", "5", "status", "a"], env) == ["api", "app"]
    assert complete(["gwctl", "--time", ""], env) == []
    # an empty or missing run directory: no names, no error
    assert complete(["gwctl", "reload", ""], {"GW_RUN_DIR": str(tmp_path / "none")}) == []


def test_completion_run_dir_is_gwctls():
    """The run directory is chosen as gwctl chooses it (gwctl(1), ENVIRONMENT)."""
    assert run_dir_of({"GW_RUN_DIR": "/srv/x"}) == "/srv/x"
    if os.geteuid() == 0:
        assert run_dir_of({"XDG_RUNTIME_DIR": "/run/user/0"}) == "/run/gunicorn-wrapper"
        assert run_dir_of({"GW_RUN_DIR": ""}) == "/run/gunicorn-wrapper"
        if not ch.can_run_as_other_user():
            return
        user, uid = "nobody", 65534
    else:
        user, uid = None, os.geteuid()
    assert run_dir_of({"XDG_RUNTIME_DIR": "/run/user/9"}, user) == "/run/user/9/gunicorn-wrapper"
    assert run_dir_of({"XDG_RUNTIME_DIR": "relative"}, user) == "/tmp/gunicorn-wrapper-{}".format(uid)
    assert run_dir_of({}, user) == "/tmp/gunicorn-wrapper-{}".format(uid)
    assert run_dir_of({"GW_RUN_DIR": "", "XDG_RUNTIME_DIR": "/x"}, user) == "/x/gunicorn-wrapper"


def test_completion_names_a_running_wrapper(gw):
    """The name completed is the one a real wrapper's socket carries, and
    the one gwctl then reaches."""
    w = gw.wrapper(name="shop", workers=1)
    w.wait_ready(timeout=30)
    env = {"GW_RUN_DIR": str(gw.run_dir)}
    assert complete(["gwctl", "status", ""], env) == ["shop"]
    r = ch.gwctl(gw, "status", "shop")
    assert r.returncode == 0, r.stderr
    w.signal(15)
    assert w.wait_exit(30) == 0


# --------------------------------------------------------------------------
# supervisord

def sub_once(text, old, new):
    assert text.count(old) == 1, "expected {!r} once in contrib/supervisor/app.conf".format(old)
    return text.replace(old, new)


def test_supervisor_conf_runs(gw):
    """contrib/supervisor/app.conf, only its paths and port changed, runs
    under a real supervisord with the built wrapper and the example app."""
    conf = (CONTRIB / "supervisor/app.conf").read_text()

    # What the file promises, read the way supervisord reads it.
    cp = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    cp.read_string(conf)
    prog = cp["program:app"]
    assert prog["stopsignal"] == "TERM"
    assert prog["stopasgroup"] == "false" and prog["killasgroup"] == "true"
    assert prog["autorestart"] == "true" and prog["redirect_stderr"] == "true"
    argv = shlex.split(prog["command"])
    assert argv[0].endswith("/gunicorn-wrapper") and "--" not in argv, "drop-in form"
    graceful = float(argv[argv.index("--graceful-timeout") + 1])
    gw_stop = float(re.search(r'GW_STOP_TIMEOUT="([0-9.]+)"', prog["environment"]).group(1))
    stopwait = float(prog["stopwaitsecs"])
    assert graceful < gw_stop < stopwait, (graceful, gw_stop, stopwait)
    startsecs = int(prog["startsecs"])

    # The same file with this test's paths: supervisord's own sections first.
    sv = helpers.Supervisor(gw, stopwaitsecs=int(stopwait))
    conf = sub_once(conf, "command=/usr/sbin/gunicorn-wrapper ", "command={} ".format(helpers.GW_BIN))
    conf = sub_once(conf, " -w 4 ", " -w 2 ")
    conf = sub_once(conf, " -b 127.0.0.1:8000 ", " -b 127.0.0.1:{} ".format(gw.port))
    conf = sub_once(conf, " --chdir /srv/app ", " --chdir {} ".format(gw.app_dir))
    conf = sub_once(conf, "directory=/srv/app\n", "directory={}\n".format(gw.app_dir))
    conf = sub_once(conf, "stdout_logfile=/var/log/supervisor/app.log\n",
                    "stdout_logfile={}\n".format(sv.log_path))
    env_line = re.search(r"^environment=.*$", conf, re.M).group(0)
    conf = sub_once(conf, env_line, env_line + ',GW_RUN_DIR="{}",GW_GUNICORN="{}"'.format(
        gw.run_dir, helpers.GUNICORN))
    head = helpers.supervisord_head(sv.sock, gw.tmp)
    sv.conf.write_text(head + conf)
    sv.start()

    sv.wait_state("RUNNING", timeout=startsecs + 30)
    sv.wait_log(r"^master (\d+) ready: 2 workers", 30)
    assert sv.log.entries()[0][1] == "app", "the name comes from SUPERVISOR_PROCESS_NAME"
    assert gw.wait_serving(version="1", timeout=10)

    # The reload the file's comments tell operators to use.
    gw.set_version("2")
    r = ch.gwctl(gw, "reload", "app", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.match(r"reload 1 ok: master \d+ -> \d+ in ", r.stdout), r.stdout
    assert gw.wait_serving(version="2", timeout=10)
    assert sv.state() == "RUNNING"

    t0 = time.monotonic()
    assert sv.shutdown() == 0
    assert time.monotonic() - t0 < stopwait
    sv.wait_log(r"^exiting with status 0", 5)
    gw.wait_no_gunicorn(10)


# --------------------------------------------------------------------------
# consul-template

def hcl_string(text, key):
    m = re.search(r'^\s*{}\s*=\s*"([^"]*)"'.format(key), text, re.M)
    assert m, "no {} in app.hcl".format(key)
    return m.group(1)


def test_consul_template_command_gates_on_the_reload(gw):
    """app.hcl's command, run the way consul-template runs a command (split
    on white space, no shell), reloads a real wrapper and exits 0; with an
    app that does not load it exits 1 with the reason, and the old version
    serves on."""
    hcl = (CONTRIB / "consul-template/app.hcl").read_text()
    argv = hcl_string(hcl, "command").split()
    assert argv[0] == "/usr/bin/gwctl" and argv[1:] == ["reload", "app"], argv
    timeout = hcl_string(hcl, "command_timeout")
    m = re.fullmatch(r"(\d+)s", timeout)
    assert m and int(m.group(1)) >= 120, "command_timeout {} is shorter than a slow reload".format(
        timeout)
    tmpl = (CONTRIB / "consul-template/version.txt.ctmpl").read_text()
    assert hcl_string(hcl, "source").endswith("/version.txt.ctmpl")
    assert re.search(r'\{\{ key "[^"]+" \}\}', tmpl), tmpl

    w = gw.wrapper(name="app", workers=2)
    w.wait_ready(timeout=30)

    gw.set_version("2")
    r = ch.gwctl(gw, *argv[1:], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert gw.wait_serving(version="2", timeout=10)

    gw.set_version("broken")
    r = ch.gwctl(gw, *argv[1:], timeout=60)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert re.match(r"gwctl: reload 2 failed: ", r.stderr), r.stderr
    status, body = gw.get()
    assert status == 200 and helpers.parse_body(body)[0] == "2", body

    w.signal(15)
    assert w.wait_exit(30) == 0
