#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The reload benchmark: `make bench`, or /usr/bin/python3 bench/run.py [options].

In one run, under HTTP load from --clients concurrent clients (a new
connection per request), an app whose import takes --boot seconds, served
by gunicorn with 4 workers on 127.0.0.1, is reloaded four ways:

  1. gunicorn alone, kill -HUP on its master (gunicorn's built-in reload);
  2. gunicorn alone, SIGUSR2, a fixed 30 s wait, SIGTERM to the old master;
  3. gunicorn-wrapper, `gwctl reload` (heartbeat readiness);
  4. gunicorn-wrapper, a broken new version (its import fails), `gwctl reload`.

Also measured: an idle wrapper's cost over 30 s (during method 2's wait,
in parallel: its counters are its own, whatever else runs), the control
socket's `status` latency, and how soon the wrapper exits after `kill -9`
of its master.

Output: a table on stdout, bench/results/latest.json, doc/reload-timeline.svg.
`--replot` redraws the SVG from latest.json without running anything.

Everything the run starts is a descendant of this process (a child
subreaper); it is all stopped, by PID, when the run ends, on an error and on
Ctrl-C too.  Every wait is bounded.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))  # shared with the tests

import msgpack  # noqa: E402

import control  # noqa: E402
import plot  # noqa: E402
import history_file  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
from readiness import reload_entry  # noqa: E402
from load import Load  # noqa: E402

GW = os.path.join(ROOT, "gunicorn-wrapper")
GWCTL = os.path.join(ROOT, "gwctl")
GUNICORN = "/usr/bin/gunicorn"
WORKERS = 4
SEED_HISTORY = 49  # + the idle instance's own reload = 50, a full history
JSON_PATH = os.path.join(HERE, "results", "latest.json")
SVG_PATH = os.path.join(ROOT, "doc", "reload-timeline.svg")

mono = time.monotonic


class Aborted(Exception):
    pass


def log(msg):
    sys.stderr.write("[bench {:6.1f}s] {}\n".format(mono() - T_START, msg))
    sys.stderr.flush()


T_START = mono()
ABORT = threading.Event()


def sleep_until(t):
    while True:
        left = t - mono()
        if left <= 0:
            return
        if ABORT.wait(min(left, 0.2)):
            raise Aborted("aborted")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(tmp, path)


def tail(path, n=25):
    raw = procs.read(path) or ""
    return "\n".join(raw.splitlines()[-n:])


# --------------------------------------------------------------------------
# the servers

class Server:
    """What gunicorn alone and the wrapper share: a port, a version file,
    an environment, a log."""

    def __init__(self, ctx, name, boot):
        self.ctx, self.name = ctx, name
        self.port = free_port()
        self.vfile = os.path.join(ctx.tmp, name + ".version")
        self.log = os.path.join(ctx.tmp, name + ".log")
        self.set_version(name + "1")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GW_", "GUNICORN_", "SUPERVISOR_", "BENCH_", "APP_", "LISTEN_"))
               and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env.update(BENCH_BOOT=str(boot), BENCH_VERSION_FILE=self.vfile,
                   PYTHONDONTWRITEBYTECODE="1", BENCH_MARK=ctx.tmp)
        if ctx.args.boot_cpu:
            env["BENCH_BOOT_CPU"] = "1"
        self.env = env
        self.gargs = ["-w", str(WORKERS), "-b", "127.0.0.1:{}".format(self.port),
                      "--chdir", HERE, "app:app"]

    def set_version(self, v):
        write_atomic(self.vfile, v + "\n")

    def get(self):
        """One GET: (kind, version, pid)."""
        try:
            return Load(self.port, clients=0, timeout=2.0)._one()
        except OSError as e:
            return type(e).__name__, None, None

    def wait_http(self, timeout, version=None):
        deadline = mono() + timeout
        while mono() < deadline:
            kind, v, _pid = self.get()
            if kind == "ok" and (version is None or v == version):
                return True
            sleep_until(mono() + 0.1)
        raise RuntimeError("{}: no HTTP 200 on port {} after {:g} s\n{}".format(
            self.name, self.port, timeout, tail(self.log)))


class GunicornAlone(Server):
    def start(self):
        self.popen = self.ctx.reg.spawn(
            [GUNICORN] + self.gargs[:-1] + ["--pid", os.path.join(self.ctx.tmp, self.name + ".pid"),
                                            "app:app"],
            stdout=self.log, stderr="stdout", env=self.env, cwd=self.ctx.tmp)
        self.master = self.popen.pid
        return self


class Wrapper(Server):
    def start(self, warmup=30, stop_timeout=20, history=0):
        """history: seed the wrapper's history file with that many entries."""
        self.sock = os.path.join(self.ctx.run_dir, self.name + ".sock")
        if history:
            seed_history(os.path.join(self.ctx.run_dir, self.name + ".history"), history)
        self.popen = self.ctx.reg.spawn(
            [GW, "--name", self.name, "--run-dir", self.ctx.run_dir, "--gunicorn", GUNICORN,
             "--warmup", str(warmup), "--stop-timeout", str(stop_timeout), "--"] + self.gargs,
            stdout=self.log, stderr="stdout", env=self.env, cwd=self.ctx.tmp)
        self.pid = self.popen.pid
        return self

    def status(self):
        r = subprocess.run([GWCTL, "--json", "-s", self.sock, "status"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("{}: gwctl status exited {}: {}".format(
                self.name, r.returncode, r.stderr.strip()))
        return json.loads(r.stdout)

    def wait_running(self, timeout):
        deadline = mono() + timeout
        while mono() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError("{} exited with {}\n{}".format(
                    self.name, self.popen.returncode, tail(self.log)))
            try:
                st = self.status()
                if st.get("state") == "running" and st.get("master") and \
                        st.get("reload_state") == "idle" and len(st.get("workers") or []) == WORKERS:
                    return st
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                pass
            sleep_until(mono() + 0.1)
        raise RuntimeError("{} not running after {:g} s\n{}".format(self.name, timeout, tail(self.log)))

    def reload(self, tag):
        """Start `gwctl --json reload` (waits for the outcome); returns
        (popen, stdout path, stderr path)."""
        out = os.path.join(self.ctx.tmp, "gwctl-{}.out".format(tag))
        err = os.path.join(self.ctx.tmp, "gwctl-{}.err".format(tag))
        p = self.ctx.reg.spawn([GWCTL, "--json", "-s", self.sock, "reload"], stdout=out,
                               stderr=err, cwd=self.ctx.tmp)
        return p, out, err


# --------------------------------------------------------------------------
# one method: load, baseline, reload, after, figures

def run_method(ctx, name, title, server, new_version, do_reload):
    a = ctx.args
    log("method {}: {}".format(name, title))
    ld = Load(server.port, clients=a.clients, think=a.think, timeout=a.timeout,
              max_duration=a.pre + a.post + a.wait + 90).start()
    t_load0 = mono()
    cpu0, mcpu0 = os.times(), procs.machine_sample()
    try:
        sleep_until(t_load0 + a.pre)
        info = do_reload(ld)
        sleep_until(info["end"] + a.post)
    except BaseException:
        ld.stop(join=False)  # clients stuck on a stalled server must not delay the cleanup
        raise
    stuck = ld.stop()
    t_load1 = mono()
    cpu1, mcpu1 = os.times(), procs.machine_sample()
    recs = ld.records()
    trig, end = info["trig"], info["end"]
    res = {"name": name, "title": title}
    res.update(report.analyse(recs, t_load0, t_load1, trig, end))
    firsts = [r[1] for r in recs if r[2] == "ok" and r[3] == new_version and r[1] >= trig]
    res["new_version"] = new_version
    res["new_version_first_s"] = (min(firsts) - trig) if firsts else None
    first_by_pid = {}
    for r in recs:
        if r[2] == "ok" and r[3] == new_version and r[1] >= trig and r[4] not in first_by_pid:
            first_by_pid[r[4]] = r[1]  # records are sorted by end time
    res["new_workers_served"] = len(first_by_pid)
    res["all_new_workers_served_s"] = (max(first_by_pid.values()) - trig
                                       if len(first_by_pid) >= WORKERS else None)
    res["duration_s"] = info.get("duration_s")
    res["duration_label"] = info.get("duration_label", "duration")
    res["duration_definition"] = info.get("duration_definition")
    res["marks"] = [{"t": round(t - trig, 4), "label": lab} for t, lab in info["marks"] if t is not None]
    for k, v in info.items():
        if k not in ("trig", "end", "marks", "duration_s", "duration_label", "duration_definition"):
            res[k] = v
    res["load"] = {"seconds": t_load1 - t_load0,
                   "bench_process_cpu_pct": 100.0 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system))
                   / max(t_load1 - t_load0, 1e-9),
                   "machine_cpu": procs.cpu_busy(mcpu0, mcpu1),
                   "capped": ld.capped, "stuck_threads": stuck,
                   "other_errors": sorted(ld.details)[:10]}
    res["timeline"] = report.timeline(recs, trig, t_load0, t_load1)
    log("  {} requests, {} failed, longest gap {:.0f} ms, duration {}".format(
        res["requests"]["total"], res["requests"]["failed_total"], res["longest_gap_ms"],
        "{:.2f} s".format(res["duration_s"]) if res["duration_s"] is not None else "-"))
    return res


def poll_until(pred, timeout, interval=0.01):
    deadline = mono() + timeout
    while mono() < deadline:
        v = pred()
        if v:
            return v
        sleep_until(mono() + interval)
    return None


# --- 1. gunicorn alone, SIGHUP

def reload_hup(ctx, g, new_version):
    def go(ld):
        m = g.master
        old = set(procs.live_children(m))
        g.set_version(new_version)
        seen = {}
        trig = mono()
        os.kill(m, signal.SIGHUP)
        deadline = trig + ctx.args.boot + 30
        while mono() < deadline:
            now = mono()
            kids = set(procs.live_children(m))
            if "new" not in seen and kids - old:
                seen["new"] = now
            if "gone" not in seen and not any(procs.alive(p) for p in old):
                seen["gone"] = now
            if "served" not in seen and ld.first_seen(new_version):
                seen["served"] = ld.first_seen(new_version)
            if "gone" in seen and "served" in seen:
                break
            sleep_until(now + 0.01)
        if "served" not in seen:
            raise RuntimeError("HUP: the new version never answered\n" + tail(g.log))
        end = max(seen["served"], seen.get("gone", seen["served"]))
        return {"trig": trig, "end": end, "duration_s": end - trig,
                "duration_label": "new workers serve after",
                "duration_definition": "SIGHUP to the first response from a new worker "
                                       "(the master stays; its old workers are gone by then)",
                "old_workers_gone_s": seen["gone"] - trig if "gone" in seen else None,
                "marks": [(trig, "SIGHUP"), (seen.get("new"), "new workers forked"),
                          (seen.get("gone"), "old workers gone"),
                          (seen["served"], "new workers serve")]}
    return go


# --- 2. gunicorn alone, SIGUSR2, fixed wait, SIGTERM

def reload_usr2_wait(ctx, g, new_version, on_trigger):
    def go(ld):
        m = g.master
        g.set_version(new_version)
        ew = procs.ExitWatch(m, max_wait=ctx.args.wait + 60)
        trig = mono()
        os.kill(m, signal.SIGUSR2)
        on_trigger(trig)
        new = poll_until(lambda: procs.new_master_of(m), 5.0)
        t_new = mono() if new else None
        if not new:
            raise RuntimeError("USR2: no new master after 5 s\n" + tail(g.log))
        served = poll_until(lambda: ld.first_seen(new_version),
                            min(ctx.args.wait, ctx.args.boot + 20), 0.02)
        sleep_until(trig + ctx.args.wait)
        t_term = mono()
        os.kill(m, signal.SIGTERM)
        gone = ew.wait(60)
        if gone is None:
            raise RuntimeError("USR2: old master {} still there 60 s after SIGTERM".format(m))
        g.popen.wait(5)
        g.master = new
        return {"trig": trig, "end": gone, "duration_s": gone - trig,
                "duration_label": "old master gone after",
                "duration_definition": "SIGUSR2 to the old master's exit ({:g} s fixed wait, "
                                       "SIGTERM, drain)".format(ctx.args.wait),
                "fixed_wait_s": ctx.args.wait, "drain_s": gone - t_term,
                "marks": [(trig, "SIGUSR2"), (t_new, "new master seen"),
                          (served, "new version serves"),
                          (t_term, "SIGTERM old ({:g} s)".format(ctx.args.wait)),
                          (gone, "old master gone")]}
    return go


# --- 3. and 4. the wrapper

def history_marks(entry, trig_wall_off, failed=False):
    """Marks from a history entry's phase timings (started is wall clock)."""
    if not entry or entry.get("started") is None:
        return []
    t = entry["started"] - trig_wall_off
    out = []
    for key, label in (("t_check", "pre-flight check done"), ("t_settle", "settled"),
                       ("t_fork", "new master found"),
                       ("t_warmup", "ready: SIGTERM old" if not failed else "warm-up failed"),
                       ("t_drain", "old master gone (drained)"), ("t_promote", "promoted")):
        if entry.get(key) is not None:
            t += entry[key]
            out.append((t, label, key))
    return out


def reload_wrapper(ctx, w, new_version, tag, broken=False):
    def go(ld):
        st = w.status()
        m = st["master"]
        w.set_version(new_version)
        ew_old = procs.ExitWatch(m, max_wait=120)
        wall_off = time.time() - mono()
        c0 = procs.task_counters(w.pid)
        trig = mono()
        p, out, err = w.reload(tag)
        ew_ctl = procs.ExitWatch(p.pid, max_wait=120)
        new = poll_until(lambda: procs.new_master_of(m) or (p.poll() is not None and -1), 5.0)
        t_new = mono() if new and new > 0 else None
        ew_new = procs.ExitWatch(new, max_wait=120) if t_new else None
        reported = ew_ctl.wait(ctx.args.boot + 90)
        rc = p.wait(10)
        try:
            reply = json.loads(procs.read(out) or "{}")
        except ValueError:
            reply = {}
        entry = reload_entry(reply)
        reason = (procs.read(err) or "").strip()
        res = {"gwctl_exit": rc, "gwctl_reply": reply, "new_master": new if t_new else None,
               "old_master": m, "phases": {k: entry.get(k) for k in (
                   "t_check", "t_settle", "t_fork", "t_warmup", "t_drain", "t_promote", "duration",
                   "workers", "result", "reason", "note")}}
        hm = history_marks(entry, wall_off)
        if not broken:
            gone = ew_old.wait(ctx.args.boot + 60)
            end = max(x for x in (gone, reported) if x is not None)
            res.update(trig=trig, end=end, duration_s=(gone - trig) if gone else None,
                       duration_label="old master gone after",
                       duration_definition="`gwctl reload` started to the old master's exit",
                       gwctl_returned_s=reported - trig if reported else None)
            marks = [(trig, "gwctl reload"), (t_new, "new master seen")]
            marks += [(t, lab) for t, lab, key in hm if key in ("t_warmup",)]
            marks += [(gone, "old master gone"), (reported, "gwctl returns")]
        else:
            new_gone = ew_new.wait(ctx.args.boot + 60) if ew_new else None
            if t_new:  # and nothing left of the new generation
                procs.wait_gone([new], 10)
            # fail safe: nothing of the new generation may be left under the wrapper
            def leftovers():
                keep = {m} | set(procs.live_children(m))
                return [p for p in procs.descendants(w.pid) if procs.alive(p) and p not in keep]
            clean = poll_until(lambda: not leftovers(), 10.0, 0.02)
            t_clean = mono()
            left = leftovers()
            end = max(x for x in (new_gone, reported) if x is not None)
            st2 = w.status()
            res.update(trig=trig, end=end, duration_s=reported - trig if reported else None,
                       duration_label="failure reported after",
                       duration_definition="`gwctl reload` started to its exit with status 1",
                       failure_reported_s=reported - trig if reported else None,
                       new_generation_gone_s=(new_gone - trig) if new_gone else None,
                       new_generation_processes_left=len(left),
                       new_generation_all_gone_s=(t_clean - trig) if clean else None,
                       reason=reason.replace("gwctl: ", "", 1) or entry.get("reason"),
                       master_after=st2.get("master"),
                       old_generation_kept=(st2.get("master") == m and procs.alive(m)))
            marks = [(trig, "gwctl reload"), (t_new, "new master seen"),
                     (reported, "failure reported"), (new_gone, "new master gone")]
        c1 = procs.task_counters(w.pid)
        res["wrapper_cost"] = {"wakeups": c1["timeslices"] - c0["timeslices"],
                               "cpu_ms": (c1["run_ns"] - c0["run_ns"]) / 1e6,
                               "note": "the wrapper process itself, from the trigger to the end "
                                       "of the reload (gwctl's request and reply included)"}
        res["marks"] = marks
        return res
    return go


# --------------------------------------------------------------------------
# idle, control, kill -9

def measure_idle(ctx, w, seconds, result):
    """Counters of the idle wrapper `w` over `seconds`: its own, per process,
    so the load elsewhere on the machine does not add to them."""
    try:
        st = w.status()  # before the window: this request wakes it
        master, workers = st["master"], st["workers"]
        sleep_until(mono() + 0.5)  # let it go back to sleep after answering
        fc = procs.ForkCounter(lambda: [w.pid, master] + workers).start()
        c0, g0 = procs.task_counters(w.pid), procs.task_counters(master)
        t0 = mono()
        sleep_until(t0 + seconds)
        c1, g1 = procs.task_counters(w.pid), procs.task_counters(master)
        t1 = mono()
        forks = fc.stop()
        sm = procs.smaps_rollup(w.pid)
        stf = procs.status_fields(w.pid)
        hz = os.sysconf("SC_CLK_TCK")

        def delta(a, b):
            return {"wakeups": b["timeslices"] - a["timeslices"],
                    "context_switches": (b["vcsw"] + b["ivcsw"]) - (a["vcsw"] + a["ivcsw"]),
                    "cpu_ms": (b["run_ns"] - a["run_ns"]) / 1e6,
                    "cpu_ticks": (b["utime_ticks"] + b["stime_ticks"])
                    - (a["utime_ticks"] + a["stime_ticks"]),
                    "page_faults": (b["minflt"] + b["majflt"]) - (a["minflt"] + a["majflt"])}
        wd = delta(c0, c1)
        wd.update(pid=w.pid, threads=c1["threads"], cpu_ms_total=c1["run_ns"] / 1e6,
                  rss_kib=int(stf.get("VmRSS", "0 kB").split()[0]),
                  rss_anon_kib=int(stf.get("RssAnon", "0 kB").split()[0]),
                  private_dirty_kib=sm.get("Private_Dirty"), private_clean_kib=sm.get("Private_Clean"),
                  pss_kib=sm.get("Pss"), shared_clean_kib=sm.get("Shared_Clean"),
                  open_fds=len(os.listdir("/proc/{}/fd".format(w.pid))), clk_tck=hz)
        result.update({
            "seconds": t1 - t0, "instance": w.name, "wrapper": wd,
            "gunicorn_master": dict(delta(g0, g1), pid=master),
            "forks_by_wrapper": sum(1 for f in forks if f[1] == w.pid) if fc.available else None,
            "forks_by_gunicorn": sum(1 for f in forks if f[1] != w.pid) if fc.available else None,
            "fork_counter": "kernel process connector" if fc.available else "unavailable: " + str(fc.error),
            "fork_events_seen_machine_wide": fc.total_events,
            "measured_during": "method 2's fixed wait (separate wrapper instance)",
        })
    except Exception as e:  # reported, not fatal
        result["error"] = "{}: {}".format(type(e).__name__, e)


def measure_control(a, w):
    ctl = {"instance": w.name}
    mc0 = procs.machine_sample()
    try:
        ctl["history_entries"] = len(w.status().get("history") or [])
        for key, fn in (("one_client", lambda: control.one_client(w.sock, a.ctl_seconds)),
                        ("clients_32", lambda: control.many_clients(w.sock, 32, a.ctl_seconds))):
            c0, t0, p0 = procs.task_counters(w.pid), mono(), time.process_time()
            ctl[key] = fn()
            c1, t1, p1 = procs.task_counters(w.pid), mono(), time.process_time()
            # who is the bottleneck: the daemon, or this Python client?
            ctl[key]["daemon_cpu_pct"] = 100.0 * (c1["run_ns"] - c0["run_ns"]) / 1e9 / (t1 - t0)
            ctl[key]["client_cpu_pct"] = 100.0 * (p1 - p0) / (t1 - t0)
        ctl["gwctl_process"] = control.gwctl_process(GWCTL, w.sock, 5 if a.quick else 20)
    except Exception as e:
        ctl["error"] = "{}: {}".format(type(e).__name__, e)
    ctl["machine_cpu"] = procs.cpu_busy(mc0, procs.machine_sample())
    return ctl


def fs_type(path):
    best, fs = "", "?"
    for line in (procs.read("/proc/mounts") or "").splitlines():
        parts = line.split()
        mnt = parts[1] if len(parts) > 2 else None
        if mnt and (path + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) > len(best):
            best, fs = mnt, parts[2]
    return fs


def seed_history(path, n):
    """Write n history records in the wrapper's file format
    (tests/lib/history_file.py).  Typical values: the point is the size of
    the status reply, not the figures in it."""
    now = time.time()
    with open(path, "wb") as f:
        for k in range(n):
            f.write(history_file.record(history_file.entry(
                id=k + 1, started=now - 600.0 * (n - k), duration=3.61,
                old_master=100000 + k, new_master=100001 + k, workers=WORKERS,
                t_warmup=3.3, t_probation=5.0, t_drain=0.25, t_promote=0.05)))


def kill9(ctx, w):
    st = w.status()
    m = st["master"]
    workers = procs.live_children(m)
    ew = procs.ExitWatch(w.pid, max_wait=20)
    t0 = mono()
    os.kill(m, signal.SIGKILL)
    gone = ew.wait(20)
    rc = w.popen.wait(10) if gone else None
    if rc is not None and rc < 0:
        rc = 128 - rc
    # its workers, orphaned, leave on their own (they watch their parent); else by PID
    if not procs.wait_gone(workers, 3):
        for p in workers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        procs.wait_gone(workers, 3)
    ctx.reg.reap_orphans()
    return {"instance": w.name, "master": m, "exit_after_ms": (gone - t0) * 1e3 if gone else None,
            "exit_status": rc}


def stop_gunicorn(ctx, g):
    ew = procs.ExitWatch(g.master, max_wait=40)
    workers = procs.live_children(g.master)
    os.kill(g.master, signal.SIGTERM)
    ew.wait(40)
    procs.wait_gone(workers, 5)
    if g.popen.returncode is None and g.popen.pid == g.master:
        g.popen.wait(5)
    ctx.reg.reap_orphans()


def machine():
    model = "unknown"
    for line in (procs.read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        import gunicorn
        gver = gunicorn.__version__
    except ImportError:
        gver = "?"
    r = subprocess.run([GW, "--version"], capture_output=True, text=True, timeout=10)
    meminfo = (procs.read("/proc/meminfo") or "").splitlines()
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "daemon", "common",
                                "client"], capture_output=True, text=True, timeout=10).stdout.strip()
        commit = head + ("+uncommitted C changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"commit": commit, "nproc": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu_model": model,
            "kernel": platform.release(), "python": platform.python_version(), "gunicorn": gver,
            "wrapper": (r.stdout or r.stderr).strip(),
            "mem_total": meminfo[0].split(":", 1)[1].strip() if meminfo else "?",
            "loadavg_at_start": (procs.read("/proc/loadavg") or "").split()[:3]}


# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="gunicorn-wrapper reload benchmark")
    ap.add_argument("--boot", type=float, default=3.0, help="app import time, seconds (default 3)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    ap.add_argument("--quick", action="store_true",
                    help="development run: 5 s fixed wait, 5 s idle window, shorter windows")
    ap.add_argument("--think", type=float, default=0.02,
                    help="pause of each client between requests, seconds (default 0.02)")
    ap.add_argument("--timeout", type=float, default=10.0, help="HTTP request timeout (default 10)")
    ap.add_argument("--boot-cpu", action="store_true",
                    help="the import burns BOOT s of CPU instead of sleeping BOOT s")
    ap.add_argument("--json", default=JSON_PATH, help="results file (default bench/results/latest.json)")
    ap.add_argument("--svg", default=SVG_PATH, help="plot (default doc/reload-timeline.svg)")
    ap.add_argument("--png", default=None, help="also render the plot as PNG here")
    ap.add_argument("--replot", action="store_true", help="only redraw the plot from --json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    a = ap.parse_args(argv)
    if not (0 < a.boot <= 30) or not (1 <= a.clients <= 256) or a.think < 0 or a.timeout <= 0:
        ap.error("--boot must be in (0, 30], --clients in [1, 256], --think >= 0, --timeout > 0")
    a.pre = a.post = 2.0 if a.quick else 5.0
    a.wait = 5.0 if a.quick else 30.0
    a.idle = 5.0 if a.quick else 30.0
    a.ctl_seconds = 0.5 if a.quick else 2.0
    return a


class Ctx:
    pass


def main(argv):
    a = parse_args(argv)
    if a.replot:
        with open(a.json) as f:
            res = json.load(f)
        plot.render(res, a.svg, a.png)
        print("redrew {} from {}".format(a.svg, a.json))
        return 0
    for b in (GW, GWCTL):
        if not os.access(b, os.X_OK):
            sys.exit("bench: {} not built: run make".format(b))
    if not procs.set_subreaper():
        sys.exit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")

    def on_signal(signum, _frame):
        ABORT.set()
        raise KeyboardInterrupt("signal {}".format(signum))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    ctx = Ctx()
    ctx.args = a
    ctx.reg = procs.Registry()
    ctx.tmp = tempfile.mkdtemp(prefix="gwbench-", dir="/tmp")
    # the run directory (sockets, pidfiles, the history file the wrapper
    # fsyncs at every reload) on a tmpfs, as /run is on a usual host
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        ctx.run_dir = tempfile.mkdtemp(prefix="gwbench-run-", dir=shm)
    else:
        ctx.run_dir = os.path.join(ctx.tmp, "run")
        os.mkdir(ctx.run_dir)
    t_start = mono()
    res = {"config": {"boot_s": a.boot, "clients": a.clients, "think_s": a.think, "timeout_s": a.timeout,
                      "workers": WORKERS, "quick": a.quick, "boot_cpu": a.boot_cpu,
                      "window_before_s": a.pre, "window_after_s": a.post, "fixed_wait_s": a.wait,
                      "idle_window_s": a.idle, "timeline_bin_s": report.BIN,
                      "run_dir_fs": fs_type(ctx.run_dir), "seeded_history_entries": SEED_HISTORY},
           "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
           "methods": [], "kill9": []}
    ok = False
    try:
        # All three servers boot together, before anything is measured:
        # g (gunicorn alone), w (the wrapper under test), i (the idle wrapper).
        g = GunicornAlone(ctx, "g", a.boot).start()
        w = Wrapper(ctx, "w", a.boot).start()
        i = Wrapper(ctx, "i", min(a.boot, 0.5)).start(history=SEED_HISTORY)
        log("booting gunicorn {} and wrappers {} {} (tmp {})".format(g.master, w.pid, i.pid, ctx.tmp))
        g.wait_http(a.boot + 30)
        w.wait_running(a.boot + 30)
        i.wait_running(a.boot + 30)
        w.wait_http(10)
        sleep_until(mono() + 0.5)  # the rest of g's workers, booting alongside the first
        # the idle instance goes through one reload first, so its idle
        # figures are those of a wrapper that has done the whole cycle
        p, out, _err = i.reload("idle-warm")
        if p.wait(a.boot + 60) != 0:
            raise RuntimeError("idle instance: reload failed\n" + tail(i.log))
        i.wait_running(10)

        # 1. gunicorn alone: SIGHUP
        res["methods"].append(run_method(ctx, "gunicorn_hup", "gunicorn alone: kill -HUP", g, "g2",
                                         reload_hup(ctx, g, "g2")))
        # 2. gunicorn alone: SIGUSR2, fixed wait, SIGTERM; the idle window runs meanwhile
        idle = {}
        idle_thread = []

        def start_idle(trig):
            th = threading.Thread(target=lambda: (procs.helper_thread(), sleep_until(trig + 0.5),
                                                  measure_idle(ctx, i, a.idle, idle)), daemon=True)
            th.start()
            idle_thread.append(th)
        res["methods"].append(run_method(
            ctx, "gunicorn_usr2_wait",
            "gunicorn alone: USR2, {:g} s wait, TERM".format(a.wait), g, "g3",
            reload_usr2_wait(ctx, g, "g3", start_idle)))
        for th in idle_thread:
            th.join(a.idle + 30)
        res["idle"] = idle
        log("idle: {}".format(idle.get("error") or "{} wake-ups, {} forks".format(
            idle["wrapper"]["wakeups"], idle["forks_by_wrapper"])))
        stop_gunicorn(ctx, g)

        # 3. and 4. the wrapper
        res["methods"].append(run_method(ctx, "wrapper_reload", "gunicorn-wrapper: gwctl reload", w, "w2",
                                         reload_wrapper(ctx, w, "w2", "reload")))
        res["methods"].append(run_method(ctx, "wrapper_broken", "gunicorn-wrapper: broken deploy", w,
                                         "broken", reload_wrapper(ctx, w, "broken", "broken", broken=True)))
        # the old generation must still serve w2
        kind, v, _ = w.get()
        res["methods"][-1]["serves_after"] = {"kind": kind, "version": v}

        # control latency, on a quiet machine: w has the two reloads of
        # this run in its history, i a full one (50 entries, the most a
        # status reply carries), as a long-running wrapper has
        log("control socket latency")
        res["control"] = measure_control(a, w)
        res["control_full_history"] = measure_control(a, i)
        res["kill9"].append(kill9(ctx, i))
        res["kill9"].append(kill9(ctx, w))
        ok = True
    except KeyboardInterrupt:
        ABORT.set()
        log("interrupted: stopping everything")
        raise
    except Aborted:
        log("aborted: stopping everything")
        return 130
    except Exception:
        ABORT.set()
        log("error; log tails:")
        for name in ("g", "w", "i"):
            path = os.path.join(ctx.tmp, name + ".log")
            if os.path.exists(path):
                sys.stderr.write("--- {} ---\n{}\n".format(name, tail(path)))
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup short
        ABORT.set()
        left = ctx.reg.cleanup(grace=0 if not ok else 5)
        if left:
            log("WARNING: processes left: {}".format(left))
        if ctx.run_dir.startswith(shm + "/"):
            shutil.rmtree(ctx.run_dir, ignore_errors=True)
        if a.keep or not ok:
            log("logs kept in {}".format(ctx.tmp))
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)

    res["paths"] = {"json": os.path.relpath(a.json, ROOT), "svg": os.path.relpath(a.svg, ROOT)}
    res["targets"] = report.targets(res)
    os.makedirs(os.path.dirname(a.svg), exist_ok=True)
    plot.render(res, a.svg, a.png)
    res["runtime_s"] = mono() - t_start
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(a.json + ".tmp", a.json)
    print(report.table(res))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
