# SPDX-License-Identifier: MIT
"""Finding and proving processes from /proc, for the tests and the bench.

Why this file exists: the integration tests (tests/integration/helpers.py)
and the benchmark (bench/procs.py) both find gunicorn's processes by their
lineage and start times, never by their names (setproctitle renames them).
They had each their own copy of these readers, and the copies drifted: the
bench found a reload's new master by its GUNICORN_PID environment variable
alone, which setproctitle blanks.  One copy now, here; both put this
directory on sys.path.

Every reader tolerates the process vanishing mid-read.
"""

import ctypes
import os

PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, as strings:
    [state, ppid, ...] (field 3 of proc(5) first); None if it is gone."""
    raw = read_bytes("/proc/{}/stat".format(pid))
    if not raw:
        return None
    return raw.decode(errors="replace").rpartition(")")[2].split()


def proc_stat(pid):
    """(state, ppid) of pid, or None if it does not exist."""
    f = stat_fields(pid)
    if not f or len(f) < 2:
        return None
    return f[0], int(f[1])


def is_alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X", "x")


def ppid_of(pid):
    st = proc_stat(pid)
    return st[1] if st else None


def starttime(pid):
    """Start time of pid in clock ticks since boot (field 22), or None."""
    f = stat_fields(pid)
    return int(f[19]) if f and len(f) > 19 else None


def arg_start(pid):
    """Where the kernel put pid's argv (stat field 48): a fork keeps its
    parent's, an exec (with ASLR) gets a new one.  0 if unknown."""
    f = stat_fields(pid)
    return int(f[45]) if f and len(f) > 45 else 0


def now_ticks():
    """The current time on the start-time clock (ticks since boot)."""
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * CLK_TCK)


def cmdline(pid):
    raw = read_bytes("/proc/{}/cmdline".format(pid))
    if not raw:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def environ_has(pid, needle: bytes):
    raw = read_bytes("/proc/{}/environ".format(pid))
    return bool(raw) and needle in raw.split(b"\0")


def exe(pid):
    try:
        return os.readlink("/proc/{}/exe".format(pid))
    except OSError:
        return None


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def raw_children(pid):
    """Children of pid as the kernel lists them, zombies included (until
    reaped); [] where /proc/PID/task/*/children is missing."""
    kids = []
    try:
        tids = os.listdir("/proc/{}/task".format(pid))
    except OSError:
        return []
    for tid in tids:
        raw = read_bytes("/proc/{}/task/{}/children".format(pid, tid))
        if raw:
            kids.extend(int(x) for x in raw.split())
    return sorted(set(kids))


def children(pid):
    """Live children of pid (/proc/PID/task/*/children; a /proc scan on a
    kernel without CONFIG_PROC_CHILDREN)."""
    if os.path.exists("/proc/{}/task/{}/children".format(pid, pid)) or \
            not os.path.exists("/proc/{}".format(pid)):
        kids = raw_children(pid)
    else:
        kids = [p for p in all_pids() if ppid_of(p) == pid]
    return [k for k in kids if is_alive(k)]


def descendants(pid, cap=10000, kids_of=None):
    """All live descendants of pid (breadth first, bounded); kids_of=
    raw_children counts zombies too (whose CPU time is not yet their
    parent's)."""
    kids_of = kids_of or children
    out, queue, seen = [], [pid], {pid}
    while queue and len(out) < cap:
        for kid in kids_of(queue.pop(0)):
            if kid not in seen:
                seen.add(kid)
                out.append(kid)
                queue.append(kid)
    return out


def new_master_of(old, is_gunicorn=lambda pid: True):
    """During a reload: the new gunicorn master forked by `old` on SIGUSR2,
    by lineage: a gunicorn child of `old` that exec'd (its argv lives
    elsewhere than its parent's, which a forked worker's does not), or that
    has children of its own; GUNICORN_PID=<old> in its environment is a
    hint (setproctitle blanks it).  None if not (yet) there."""
    needle = "GUNICORN_PID={}".format(old).encode()
    kids = [k for k in children(old) if is_gunicorn(k)]
    mine = arg_start(old)
    for kid in kids:
        theirs = arg_start(kid)
        if (mine and theirs and theirs != mine) or environ_has(kid, needle):
            return kid
    for kid in kids:
        if children(kid):
            return kid
    return None


def become_subreaper():
    """Make this process a child subreaper: orphans of the processes it
    started re-parent to it, not to PID 1, and stay in its tree."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
