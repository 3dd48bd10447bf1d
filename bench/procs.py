# SPDX-License-Identifier: MIT
"""Process plumbing for the benchmark: /proc readers, exit watching with
pidfds, fork counting with the kernel's process connector, and the
bookkeeping that makes sure every process the benchmark started is gone
when it ends, however it ends.

The benchmark makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
so every process it starts stays its descendant even when its parent dies
(a gunicorn master replaced by SIGUSR2, workers of a master killed with
SIGKILL): cleanup finds them all in its own process tree and kills them by
PID, and reaps the orphans so that none is left as a zombie.
"""

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "tests", "lib"))
import procfs  # noqa: E402

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def helper_thread():
    """Called first thing in every helper thread: the stop signals are then
    delivered to the main thread, which handles them at once.  (CPython 3.11
    can otherwise leave a signal that lands in a busy helper thread pending
    for seconds before the main thread notices it.)"""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def set_subreaper():
    try:
        procfs.become_subreaper()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------
# /proc readers (every one tolerates the process vanishing)

def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


# The /proc readers the tests use too (tests/lib/procfs.py), by the names
# the benchmark has always called them.  children() and descendants() here
# include zombies (their CPU time counts until they are reaped).
stat_fields = procfs.stat_fields
alive = procfs.is_alive
children = procfs.raw_children
live_children = procfs.children
environ_has = procfs.environ_has


def descendants(pid, cap=5000):
    return procfs.descendants(pid, cap, procfs.raw_children)


def new_master_of(old):
    """The master `old` forked on SIGUSR2: a gunicorn (the same executable)
    child that exec'd; see procfs.new_master_of."""
    exe = procfs.exe(old)
    return procfs.new_master_of(old, lambda pid: exe is not None and procfs.exe(pid) == exe)


def status_fields(pid):
    out = {}
    raw = read("/proc/{}/status".format(pid)) or ""
    for line in raw.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def smaps_rollup(pid):
    """{field: kB} from /proc/PID/smaps_rollup."""
    out = {}
    raw = read("/proc/{}/smaps_rollup".format(pid)) or ""
    for line in raw.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out


def task_counters(pid):
    """Counters summed over the process's threads: schedstat run time (ns)
    and timeslices (the number of times it was put on a CPU: each wake-up
    is one), voluntary and involuntary context switches, utime/stime ticks,
    minor/major faults."""
    tot = {"run_ns": 0, "timeslices": 0, "vcsw": 0, "ivcsw": 0, "threads": 0}
    try:
        tids = os.listdir("/proc/{}/task".format(pid))
    except OSError:
        return None
    for tid in tids:
        raw = read("/proc/{}/task/{}/schedstat".format(pid, tid))
        if raw:
            run_ns, _wait, slices = (int(x) for x in raw.split()[:3])
            tot["run_ns"] += run_ns
            tot["timeslices"] += slices
        st = status_fields("{}/task/{}".format(pid, tid))
        tot["vcsw"] += int(st.get("voluntary_ctxt_switches", 0))
        tot["ivcsw"] += int(st.get("nonvoluntary_ctxt_switches", 0))
        tot["threads"] += 1
    f = stat_fields(pid)
    if f is None:
        return None
    # after the name: state(0) ppid(1) ... minflt(7) majflt(9) utime(11) stime(12)
    tot["minflt"], tot["majflt"] = int(f[7]), int(f[9])
    tot["utime_ticks"], tot["stime_ticks"] = int(f[11]), int(f[12])
    return tot


def cpu_stat():
    """Machine-wide CPU jiffies from /proc/stat: (busy, steal, total)."""
    f = [int(x) for x in (read("/proc/stat") or "cpu 0 0 0 0").splitlines()[0].split()[1:]]
    f += [0] * (8 - len(f))
    total = sum(f[:8])
    idle = f[3] + f[4]
    return total - idle, f[7], total


def tree_ticks(root=None):
    """CPU clock ticks of this process and all its descendants, their reaped
    children included (utime + stime + cutime + cstime).  Between two
    samples, the difference of the sums is the CPU the benchmark's process
    tree used: a process that exits in between is folded into its parent's
    cutime when reaped, and since the benchmark is a subreaper every process
    it starts is reaped inside the tree."""
    root = os.getpid() if root is None else root
    tot = 0
    for pid in [root] + descendants(root):
        f = stat_fields(pid)
        if f:
            tot += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return tot


def machine_sample():
    return cpu_stat(), tree_ticks()


def cpu_busy(a, b):
    """Between two machine_sample()s, in % of all CPUs: the machine busy,
    the part of it used by the benchmark's processes, the rest (other
    processes on the machine: noise), and steal."""
    (ma, ta), (mb, tb) = a, b
    dt = max(mb[2] - ma[2], 1)
    busy = 100.0 * (mb[0] - ma[0]) / dt
    ours = 100.0 * (tb - ta) / dt
    return {"busy_pct": busy, "benchmark_pct": ours, "others_pct": max(0.0, busy - ours),
            "steal_pct": 100.0 * (mb[1] - ma[1]) / dt}


# --------------------------------------------------------------------------
# exits

def pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


class ExitWatch:
    """Records the monotonic time at which pid exits (pidfd + poll in a
    thread; exact to the scheduler's wake-up).  `when` is None until then."""

    def __init__(self, pid, max_wait=120.0):
        self.pid = pid
        self.when = None
        self._fd = pidfd(pid)
        self._done = threading.Event()
        self._max = max_wait
        if self._fd is None:  # already gone
            self.when = time.monotonic()
            self._done.set()
        else:
            threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        helper_thread()
        try:
            p = select.poll()
            p.register(self._fd, select.POLLIN)
            deadline = time.monotonic() + self._max
            while time.monotonic() < deadline:
                if p.poll(200):
                    self.when = time.monotonic()
                    break
                if not alive(self.pid):  # a zombie we have not reaped yet counts as gone
                    self.when = time.monotonic()
                    break
        finally:
            os.close(self._fd)
            self._done.set()

    def wait(self, timeout):
        self._done.wait(timeout)
        return self.when


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.02)
    return not any(alive(p) for p in pids)


# --------------------------------------------------------------------------
# fork counting: the kernel's process connector (needs CAP_NET_ADMIN)

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_EVENT_FORK = 0x00000001


class ForkCounter:
    """Counts fork events whose parent is one of `pids()` (re-evaluated on
    each event), from the kernel's process connector: every fork on the
    machine is reported, so none is missed however short-lived the child.
    `available` is False where the connector cannot be opened."""

    def __init__(self, parents_fn):
        self.parents_fn = parents_fn
        self.forks = []
        self.total_events = 0
        self.available = False
        self.error = None
        self._stop = threading.Event()
        self._thread = None
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
            s.bind((0, CN_IDX_PROC))
            op = struct.pack("=I", 1)  # PROC_CN_MCAST_LISTEN
            cn = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
            s.send(struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn)  # NLMSG_DONE
            s.settimeout(0.2)
            self._sock = s
            self.available = True
        except OSError as e:
            self.error = str(e)

    def start(self):
        if self.available:
            self._parents = set(self.parents_fn())
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        helper_thread()
        while not self._stop.is_set():
            try:
                data = self._sock.recv(8192)
            except socket.timeout:
                continue
            except OSError:
                break
            off = 0
            while off + 16 <= len(data):
                nl_len = struct.unpack_from("=I", data, off)[0]
                if nl_len < 16:
                    break
                ev = off + 16 + 20  # nlmsghdr + cn_msg
                if ev + 32 <= off + nl_len:
                    what = struct.unpack_from("=I", data, ev)[0]
                    if what == PROC_EVENT_FORK:
                        self.total_events += 1
                        _ppid, ptgid, cpid, ctgid = struct.unpack_from("=IIII", data, ev + 16)
                        if ptgid in self._parents:
                            self.forks.append((time.monotonic(), ptgid, cpid, ctgid))
                off += (nl_len + 3) & ~3

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self.available:
            self._sock.close()
        return self.forks


# --------------------------------------------------------------------------
# the registry of what we started, and cleanup

class Registry:
    """Every Popen the benchmark starts is registered here.  cleanup() kills
    (by PID) every live descendant of this process, and reaps orphans
    re-parented to us; subprocess.Popen objects keep reaping their own."""

    def __init__(self):
        self.popens = []

    def spawn(self, argv, stdout=None, stderr=None, env=None, cwd=None):
        """Popen with stdout/stderr sent to files (paths; stderr "stdout"
        merges them), in a new session so that Ctrl-C reaches only us."""
        files = []
        try:
            out = err = subprocess.DEVNULL
            if stdout:
                out = open(stdout, "ab")
                files.append(out)
            if stderr == "stdout":
                err = subprocess.STDOUT
            elif stderr:
                err = open(stderr, "ab")
                files.append(err)
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 env=env, cwd=cwd, start_new_session=True)
        finally:
            for f in files:
                f.close()
        self.popens.append(p)
        return p

    def reap_orphans(self):
        """waitpid every zombie child that is not one of our Popens."""
        mine = {p.pid for p in self.popens if p.returncode is None}
        for pid in children(os.getpid()):
            if pid in mine:
                continue
            f = stat_fields(pid)
            if f and f[0] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def cleanup(self, grace=0.0):
        """Kill every descendant of ours, by PID.  With grace > 0, first
        SIGTERM the direct children and wait up to `grace` seconds."""
        me = os.getpid()
        if grace > 0:
            for pid in [p for p in live_children(me)]:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            wait_gone(descendants(me), grace)
        for _ in range(50):
            victims = [p for p in descendants(me) if alive(p)]
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for p in self.popens:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.reap_orphans()
        return [p for p in descendants(me) if alive(p)]
