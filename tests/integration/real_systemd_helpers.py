# SPDX-License-Identifier: MIT
"""Debian's real systemd as PID 1 of a private namespace, for test_real_systemd.py.

Why this file exists: test_systemd.py checks what the wrapper *says* on a
fake NOTIFY_SOCKET; only a real systemd shows what `systemctl start`,
`systemctl reload` and `systemctl stop` *do* with it, under the unit we
ship.  This module boots /lib/systemd/systemd (252 on Debian 12) as PID 1
of new PID, mount, UTS, network and cgroup namespaces, following
/work/shared/recipes/real-systemd.md:

  * the root is an overlay of the host's / whose writable layer is a
    tmpfs, so the host is never changed; the test's units and settings
    file are copied in before systemd starts;
  * the app directory (the test's copy of example/) is bind-mounted at
    /srv/app, and the directories of the built binaries at their own
    paths, so that a rewrite of version.txt, or a fresh build, is seen
    inside at once (a change under an overlay's lower layer is not
    guaranteed to be);
  * the network namespace is private: 127.0.0.1 in there collides with
    nobody, and is reached through `nsenter --net` (curl);
  * the cgroup namespace is rooted at a cgroup2 directory of our own
    (/sys/fs/cgroup/unified/sdtest-gw-PID-N on this hybrid host), which
    systemd takes as its whole hierarchy;
  * systemd boots sdtest.target (basic.target and nothing else: never the
    host's multi-user.target, whose services would start in there);
  * unlike the recipe, PID 1 logs to the journal (--log-target=journal),
    so that its own lines about the unit ("Main process exited,
    code=killed") are in `journalctl -u`; the console file stays empty.

Processes are named by kernel facts: the namespace's own procfs, seen
from the host at /proc/P/root/proc (P: systemd's host PID), gives every
process's namespace PID, parent, start time and executable.  Teardown is
a poweroff (SIGRTMIN+4 to PID 1), bounded; if PID 1 does not exit, it is
SIGKILLed, and with it, by the kernel, everything in its PID namespace.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import helpers

SYSTEMD = "/lib/systemd/systemd"
UNSHARE = shutil.which("unshare")
NSENTER = shutil.which("nsenter")
CURL = shutil.which("curl")
REPO = Path(__file__).resolve().parents[2]
SHIPPED_UNIT = REPO / "contrib" / "systemd" / "gunicorn-wrapper@.service"
NS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
          "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_LESS": ""}
RUN_DIR = "/run/gunicorn-wrapper"   # the shipped unit's GW_RUN_DIR
APP_DIR = "/srv/app"                # where the app is mounted inside

# Units that must not run in the sandbox (host-global effects, or nothing
# to do in a container); masked, as in the recipe.
MASKED = ("systemd-sysctl", "systemd-modules-load", "systemd-binfmt", "systemd-timesyncd",
          "systemd-udevd", "systemd-udev-trigger", "systemd-firstboot", "systemd-repart",
          "systemd-pstore", "e2scrub_reap", "getty@tty1")

TARGET = """\
[Unit]
Description=gunicorn-wrapper test target (basic.target only)
Requires=basic.target
After=basic.target
AllowIsolate=yes
"""

INNER = """\
#!/bin/sh
# PID 1 of the new namespaces until it execs systemd (real-systemd.md).
set -e
S={S}; R=$S/root
mount -t tmpfs tmpfs $S/ovl; mkdir $S/ovl/upper $S/ovl/work
mount -t overlay overlay -o lowerdir=/,upperdir=$S/ovl/upper,workdir=$S/ovl/work $R
mount -t proc proc $R/proc; mount --bind $R/proc/sys $R/proc/sys
mount -o remount,bind,ro $R/proc/sys
mount -t sysfs -o ro sysfs $R/sys
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs $R/dev
for n in null zero full random urandom tty; do touch $R/dev/$n; mount --bind /dev/$n $R/dev/$n; done
mkdir $R/dev/pts $R/dev/shm; mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
ln -s pts/ptmx $R/dev/ptmx; mount -t tmpfs tmpfs $R/dev/shm
touch $R/dev/console; mount --bind $S/console.log $R/dev/console
mount -t tmpfs -o mode=755 tmpfs $R/run; mount -t tmpfs -o mode=1777 tmpfs $R/tmp
{binds}
rm -rf $R/etc/systemd/system/*; cp $S/units/* $R/etc/systemd/system/
mkdir -p $R/etc/default; cp $S/default/* $R/etc/default/
for u in {masked}; do ln -sf /dev/null $R/etc/systemd/system/$u.service; done
cd $R; mkdir .oldroot; pivot_root . .oldroot; umount -l /.oldroot; rmdir /.oldroot
export container=sdtest
# --log-target=journal: PID 1's own lines about the unit ("Main process
# exited ...") go to the journal, next to the unit's; before journald is up
# they go to the console, a file of ours.
exec {systemd} --system --unit=sdtest.target --log-target=journal --show-status=no
"""


def cgroup2_base():
    """The host's cgroup2 mount (hybrid: /sys/fs/cgroup/unified), or None."""
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        try:
            with open("/proc/self/mountinfo") as f:
                if any(line.split(" - ")[1].startswith("cgroup2 ")
                       and line.split()[4] == path for line in f):
                    return path
        except (OSError, IndexError):
            return None
    return None


def skip_reason():
    """None if a real systemd can be booted here, else why not."""
    if os.geteuid() != 0:
        return "booting systemd in namespaces needs root"
    for name, path in (("unshare", UNSHARE), ("nsenter", NSENTER), ("curl", CURL)):
        if path is None:
            return "{} is not installed".format(name)
    if not os.access(SYSTEMD, os.X_OK):
        return "no {} (systemd is not installed)".format(SYSTEMD)
    if cgroup2_base() is None:
        return "no cgroup2 hierarchy mounted (systemd needs one)"
    return None


def shipped_unit(gw_bin, gwctl_bin):
    """The shipped unit with only ExecStart='s and ExecReload='s binaries
    replaced by the build's (each must occur exactly once)."""
    text = SHIPPED_UNIT.read_text()
    for key, old, new in (("ExecStart", "/usr/sbin/gunicorn-wrapper", gw_bin),
                          ("ExecReload", "/usr/bin/gwctl", gwctl_bin)):
        rx = re.compile(r"^({}=){} ".format(key, re.escape(old)), re.M)
        text, n = rx.subn(lambda m, new=new: m.group(1) + new + " ", text)
        assert n == 1, "{} has {} '{}={} ...' lines, expected one".format(
            SHIPPED_UNIT, n, key, old)
    return text


class Sandbox:
    """One booted systemd.  `units` {file name: text} go to
    /etc/systemd/system, `defaults` {file name: text} to /etc/default;
    `app_dir` (host) is mounted at /srv/app."""

    def __init__(self, scratch, app_dir, units, defaults, bind_dirs=()):
        self.S = Path(scratch)
        self.app_dir = Path(app_dir)
        self.units = dict(units, **{"sdtest.target": TARGET})
        self.defaults = dict(defaults)
        self.bind_dirs = sorted(set(str(Path(d).resolve()) for d in bind_dirs))
        self.cgroup = None
        self.proc = None      # the unshare process (host), a Popen
        self.P = None         # systemd's host PID
        self.P_start = None   # and its start time
        self.log_path = self.S / "unshare.out"
        self.console = self.S / "console.log"

    # --- boot and teardown
    def boot(self, timeout=20.0):
        S = self.S
        for d in ("ovl", "root", "units", "default"):
            (S / d).mkdir(parents=True, exist_ok=True)
        self.console.touch()
        for name, text in self.units.items():
            (S / "units" / name).write_text(text)
        for name, text in self.defaults.items():
            (S / "default" / name).write_text(text)
        binds = ["mkdir -p $R{a}; mount --bind {h} $R{a}".format(
            a=shlex.quote(APP_DIR), h=shlex.quote(str(self.app_dir)))]
        for d in self.bind_dirs:
            binds.append("mount --bind {q} $R{q}".format(q=shlex.quote(d)))
        inner = S / "inner.sh"
        inner.write_text(INNER.format(S=shlex.quote(str(S)), binds="\n".join(binds),
                                      masked=" ".join(MASKED), systemd=SYSTEMD))
        inner.chmod(0o755)

        base = cgroup2_base()
        for n in range(100):
            path = os.path.join(base, "sdtest-gw-{}-{}".format(os.getpid(), n))
            try:
                os.mkdir(path)
                self.cgroup = path
                break
            except FileExistsError:
                continue
            except OSError as e:   # a read-only cgroupfs (a container)
                import pytest
                pytest.skip("cannot create a cgroup for systemd under {}: {}".format(base, e))
        assert self.cgroup, "no free cgroup name under {}".format(base)

        # sh puts itself in our cgroup, then becomes unshare; --kill-child:
        # if unshare dies, so does PID 1, and the kernel kills the rest.
        script = 'echo $$ > {}/cgroup.procs && exec "$@"'.format(shlex.quote(self.cgroup))
        argv = ["/bin/sh", "-c", script, "sh", UNSHARE, "--pid", "--fork", "--kill-child",
                "--mount", "--mount-proc", "--uts", "--net", "--cgroup", str(inner)]
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=dict(NS_ENV),
                                         start_new_session=True)
        helpers._popen_pids.add(self.proc.pid)

        def pid1():
            if self.proc.poll() is not None:
                return "exited"
            if os.path.basename(helpers.exe(self.proc.pid) or "") != "unshare":
                return None   # still sh
            kids = helpers.children(self.proc.pid)
            return kids[0] if kids else None
        P = helpers.wait_for(pid1, 10, "unshare's child (the namespace's PID 1)",
                             on_timeout=self.boot_log)
        if P == "exited":
            return self._boot_failed()
        self.P, self.P_start = P, helpers.starttime(P)

        def running():
            if self.proc.poll() is not None:
                return "exited"
            if os.path.basename(helpers.exe(P) or "") != "systemd":
                return None   # still inner.sh
            r = self.run(["systemctl", "is-system-running"], timeout=10, check=False)
            return r.stdout.strip() in ("running", "degraded") and r.stdout.strip()
        state = helpers.wait_for(running, timeout, "systemd to reach running",
                                 interval=0.1, on_timeout=self.boot_log)
        if state == "exited":
            return self._boot_failed()
        return state

    def _boot_failed(self):
        """unshare exited during boot.  No namespaces here (a container
        without CAP_SYS_ADMIN, user namespaces off) is a reason to skip;
        anything else is a failure."""
        import pytest
        out = helpers._read(self.log_path, "r") or ""   # what sh, unshare, inner.sh said
        if re.search(r"unshare failed|Operation not permitted|Permission denied|"
                     r"Invalid argument|Read-only file system", out) \
                and not helpers._read(self.console):      # systemd never ran
            pytest.skip("cannot create the namespaces for systemd here: " + out.strip()[-300:])
        raise AssertionError("the sandbox exited during boot:\n" + self.boot_log())

    def boot_log(self):
        out = helpers._read(self.log_path, "r") or ""
        con = helpers._read(self.console, "r") or ""
        return "--- unshare/inner.sh ---\n{}\n--- systemd console (tail) ---\n{}".format(
            out[-3000:], "\n".join(con.splitlines()[-40:]))

    def alive(self):
        return (self.P is not None and helpers.is_alive(self.P)
                and helpers.starttime(self.P) == self.P_start)

    def teardown(self, timeout=15.0):
        """Power the sandbox off and wait for it to be gone; then remove our
        cgroups.  Returns a list of problems (empty when all is well)."""
        problems = []
        if self.proc is None:
            return problems
        if self.alive():
            # SIGRTMIN+4: systemd's poweroff.  Bounded; then SIGKILL PID 1,
            # which ends the whole PID namespace.
            os.kill(self.P, signal.SIGRTMIN + 4)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("systemd did not power off within {:g} s".format(timeout))
                if self.alive():
                    os.kill(self.P, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            problems.append("unshare {} did not exit; killed".format(self.proc.pid))
            self.proc.kill()
            self.proc.wait(timeout=10)
        helpers.reap_orphans()
        if self.cgroup:
            def removed():
                for dirpath, _dirs, _files in sorted(os.walk(self.cgroup), reverse=True,
                                                     key=lambda t: len(t[0])):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass
                return not os.path.exists(self.cgroup)
            try:
                helpers.wait_for(removed, 5, "the sandbox's cgroups to be removable")
            except AssertionError as e:
                problems.append(str(e))
        return problems

    # --- running things inside
    def run(self, argv, timeout=30.0, check=True, env=None, net_only=False):
        """argv inside every namespace of the sandbox (or only its network
        namespace), bounded.  check: fail on a timeout (never on an exit
        status: the caller decides)."""
        assert self.alive(), "the sandbox's systemd is gone\n" + self.boot_log()
        ns = ["--net"] if net_only else ["--all"]
        e = dict(NS_ENV)
        e.update(env or {})
        try:
            return subprocess.run([NSENTER, "--target", str(self.P)] + ns + ["--"] + list(argv),
                                  capture_output=True, text=True, timeout=timeout, env=e,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as ex:
            if check:
                raise AssertionError("{} did not finish within {:g} s".format(
                    " ".join(argv), timeout)) from None
            return subprocess.CompletedProcess(argv, -1, ex.stdout or "", ex.stderr or "")

    def systemctl(self, *args, timeout=60.0):
        return self.run(["systemctl", "--no-pager", "--no-ask-password"] + list(args),
                        timeout=timeout)

    def show(self, unit, *props):
        r = self.systemctl("show", "-p", ",".join(props), unit, timeout=10)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    def prop(self, unit, name):
        return self.show(unit, name).get(name, "")

    def journal(self, *args, timeout=15.0):
        """journalctl ARGS -o json, as a list of dicts."""
        r = self.run(["journalctl", "--no-pager", "-o", "json"] + list(args), timeout=timeout)
        assert r.returncode in (0, 1) and (r.returncode == 0 or not r.stdout), \
            "journalctl {}: rc {}: {}".format(" ".join(args), r.returncode, r.stderr)
        out = []
        for line in r.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def journal_text(self, unit, n=80):
        r = self.run(["journalctl", "--no-pager", "-o", "short-monotonic", "-u", unit,
                      "-n", str(n)], timeout=15, check=False)
        return r.stdout

    def gwctl(self, gwctl_bin, *args, timeout=15.0):
        return self.run([gwctl_bin] + list(args), timeout=timeout,
                        env={"GW_RUN_DIR": RUN_DIR})

    def gwctl_status(self, gwctl_bin, name="app"):
        """`gwctl --json status NAME` inside, as a dict (None if it failed)."""
        r = self.gwctl(gwctl_bin, "--json", "status", name)
        try:
            st = json.loads(r.stdout)
        except ValueError:
            return None
        return st if r.returncode == 0 and st.get("ok") else None

    def http_get(self, port, path="/"):
        """GET http://127.0.0.1:PORT/ in the sandbox's network namespace:
        (status, body); status 0 when nothing answered."""
        r = self.run([CURL, "-sS", "-m", "3", "-o", "-", "-w", "\n%{http_code}",
                      "http://127.0.0.1:{}{}".format(port, path)],
                     timeout=10, check=False, net_only=True)
        body, _, code = r.stdout.rpartition("\n")
        return (int(code) if code.strip().isdigit() else 0), body

    # --- processes of the namespace, from its own procfs
    def _nsproc(self, *parts):
        return "/proc/{}/root/proc/{}".format(self.P, "/".join(str(p) for p in parts))

    def ns_stat(self, pid):
        """(state, ppid, start time) of namespace PID pid, or None."""
        raw = helpers._read(self._nsproc(pid, "stat"))
        if not raw:
            return None
        rest = raw.decode(errors="replace").rpartition(")")[2].split()
        if len(rest) < 20:
            return None
        return rest[0], int(rest[1]), int(rest[19])

    def ns_alive(self, pid, start=None):
        st = self.ns_stat(pid)
        return (st is not None and st[0] not in ("Z", "X", "x")
                and (start is None or st[2] == start))

    def ns_exe(self, pid):
        try:
            return os.readlink(self._nsproc(pid, "exe"))
        except OSError:
            return None

    def ns_procs(self):
        """{namespace pid: (ppid, start time, exe)} of live processes."""
        out = {}
        try:
            names = os.listdir("/proc/{}/root/proc".format(self.P))
        except OSError:
            return out
        for n in names:
            if not n.isdigit():
                continue
            st = self.ns_stat(int(n))
            if st is None or st[0] in ("Z", "X", "x"):
                continue
            out[int(n)] = (st[1], st[2], self.ns_exe(int(n)))
        return out

    def ns_gunicorn(self):
        """{pid: (ppid, start)} of the namespace's gunicorn processes (they
        run gunicorn's interpreter; nothing else in there does)."""
        return {p: (pp, s) for p, (pp, s, exe) in self.ns_procs().items()
                if exe is not None and exe == helpers.GUNICORN_EXE}

    def host_pid(self, pid):
        """The host PID of namespace PID pid (NSpid: in /proc/HOST/status), or None."""
        for h in helpers.descendants(self.P):
            raw = helpers._read("/proc/{}/status".format(h), "r") or ""
            for line in raw.splitlines():
                if line.startswith("NSpid:") and int(line.split()[-1]) == pid:
                    return h
        return None

    def cgroup_procs(self, control_group):
        """PIDs (host's) in a cgroup of the sandbox; [] if it is gone."""
        raw = helpers._read("/proc/{}/root/sys/fs/cgroup{}/cgroup.procs".format(
            self.P, control_group), "r")
        return [int(x) for x in (raw or "").split()]

    def describe_ns(self, pids=None):
        procs = self.ns_procs()
        lines = []
        for p in sorted(procs if pids is None else pids):
            if p in procs:
                raw = helpers._read(self._nsproc(p, "cmdline")) or b""
                lines.append("  ns pid {} ppid {}: {} [{}]".format(
                    p, procs[p][0], raw.replace(b"\0", b" ").decode(errors="replace")[:150],
                    procs[p][2]))
        return "\n".join(lines) or "  (none)"
