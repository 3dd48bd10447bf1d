#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Readiness on a real fleet: `make bench`, second part, or
/usr/bin/python3 bench/readiness.py [options].

Two scenarios, each against gunicorn-wrapper with gunicorn 20.1, an app
whose import takes --boot seconds (BOOT), under HTTP load (a new
connection per request):

  churn   gunicorn recycles its workers (--max-requests 20
          --max-requests-jitter 5, 4 workers) while --runs reloads follow
          one another: each must end ok, and within BOOT + probation + 0.5 s
          (the wrapper waits for as many ready workers as gunicorn runs,
          counting recycled ones, not for a moment when none is booting).
          BOOT is the first generation's boot as the wrapper logged it
          ("master N ready: 4 workers in 1.85 s"): gunicorn's own start,
          its pauses between worker spawns and the app's import, which a
          reload's new generation goes through too.  The same count
          against the import time alone (--boot) is reported beside it;
  crash   a deploy whose workers serve, then die by SIGSEGV 0.5 s or 3 s
          after their import, is reloaded --crash-runs times: each reload
          must fail, with its reason, while the old version serves on.

Output: a table on stdout and bench/results/readiness.json.  Everything it
starts is a descendant of this process (a child subreaper), stopped by PID
at the end, on an error and on Ctrl-C too.  Every wait is bounded.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import procs  # noqa: E402
from load import Load  # noqa: E402

GW = os.path.join(ROOT, "gunicorn-wrapper")
GWCTL = os.path.join(ROOT, "gwctl")
GUNICORN = "/usr/bin/gunicorn"
JSON_PATH = os.path.join(HERE, "results", "readiness.json")
mono = time.monotonic
T0 = mono()


def log(msg):
    sys.stderr.write("[readiness {:6.1f}s] {}\n".format(mono() - T0, msg))
    sys.stderr.flush()


def reload_entry(result):
    """gwctl --json reload's result object (gwctl(1), RESULT OBJECT) as a
    history entry's fields, which the reports use; {} if it is not one."""
    if not isinstance(result, dict) or not isinstance(result.get("phases"), dict):
        return {}
    e = {k: result.get(k) for k in ("id", "result", "reason", "old_master", "new_master",
                                     "workers", "started", "duration")}
    e.update({"t_" + k: v for k, v in result["phases"].items()})
    e["note"] = None
    return e


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Wrapper:
    def __init__(self, ctx, name, gargs, probation):
        self.ctx, self.name = ctx, name
        self.port = free_port()
        self.vfile = os.path.join(ctx.tmp, name + ".version")
        self.log = os.path.join(ctx.tmp, name + ".log")
        self.sock = os.path.join(ctx.run_dir, name + ".sock")
        self.set_version("1")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GW_", "GUNICORN_", "SUPERVISOR_", "BENCH_", "APP_", "LISTEN_"))
               and k not in ("NOTIFY_SOCKET",)}
        env.update(BENCH_BOOT=str(ctx.args.boot), BENCH_VERSION_FILE=self.vfile,
                   PYTHONDONTWRITEBYTECODE="1")
        argv = [GW, "--name", name, "--run-dir", ctx.run_dir, "--gunicorn", GUNICORN,
                "--warmup", "30", "--stop-timeout", "20", "--probation", str(probation), "--",
                "-b", "127.0.0.1:{}".format(self.port), "--chdir", HERE] + gargs + ["app:app"]
        self.popen = ctx.reg.spawn(argv, stdout=self.log, stderr="stdout", env=env, cwd=ctx.tmp)

    def set_version(self, v):
        with open(self.vfile + ".tmp", "w") as f:
            f.write(v + "\n")
        os.replace(self.vfile + ".tmp", self.vfile)

    def gwctl(self, *args, timeout=60):
        return subprocess.run([GWCTL, "--json", "-s", self.sock] + list(args), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def wait_running(self, timeout):
        deadline = mono() + timeout
        while mono() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError("{} exited {}:\n{}".format(self.name, self.popen.returncode,
                                                              procs.read(self.log)[-3000:]))
            r = self.gwctl("status", timeout=10)
            if r.returncode == 0:
                st = json.loads(r.stdout)
                if st.get("state") == "running" and st.get("reload_state") == "idle":
                    return st
            time.sleep(0.1)
        raise RuntimeError("{} not running after {:g} s".format(self.name, timeout))

    def reload(self):
        """gwctl reload, waiting: (exit status, history entry, stderr)."""
        r = self.gwctl("reload", timeout=120)
        try:
            entry = reload_entry(json.loads(r.stdout))
        except ValueError:
            entry = {}
        return r.returncode, entry, r.stderr.strip()

    def get(self):
        try:
            return Load(self.port, clients=0, timeout=2.0)._one()
        except OSError as e:
            return type(e).__name__, None, None


def load_summary(ld, t0, t1):
    recs = ld.records()
    kinds = {}
    for r in recs:
        kinds[r[2]] = kinds.get(r[2], 0) + 1
    return {"requests": len(recs), "rate_per_s": len(recs) / max(t1 - t0, 1e-9),
            "failed": len(recs) - kinds.get("ok", 0), "kinds": kinds}


def recycled(path):
    return (procs.read(path) or "").count("Autorestarting worker")


def churn(ctx):
    a = ctx.args
    w = Wrapper(ctx, "churn", ["-w", "4", "--max-requests", "20", "--max-requests-jitter", "5"],
                a.probation)
    w.wait_running(a.boot + 30)
    m = re.search(r"\] master \d+ ready: \d+ workers in ([0-9.]+) s$",
                  procs.read(w.log) or "", re.M)
    if m is None:
        raise RuntimeError("churn: no 'master N ready: K workers in T s' line in the log")
    gen_boot = float(m.group(1))
    ld = Load(w.port, clients=a.clients, think=a.think, timeout=10,
              max_duration=a.runs * (a.boot + a.probation + 15) + 60).start()
    t0 = mono()
    runs = []
    try:
        time.sleep(2)
        r0 = recycled(w.log)
        for n in range(a.runs):
            w.set_version(str(n + 2))
            t = mono()
            rc, e, err = w.reload()
            runs.append({"exit": rc, "result": e.get("result"), "duration_s": e.get("duration"),
                         "t_warmup": e.get("t_warmup"), "t_probation": e.get("t_probation"),
                         "t_fork": e.get("t_fork"), "t_drain": e.get("t_drain"),
                         "t_promote": e.get("t_promote"), "wall_s": mono() - t, "reason": e.get("reason") or (err or None)})
            log("churn reload {}: {} in {:.2f} s (warm-up {})".format(
                n + 1, e.get("result"), e.get("duration") or -1, e.get("t_warmup")))
        r1 = recycled(w.log)
    finally:
        ld.stop()
    t1 = mono()
    limit = gen_boot + a.probation + 0.5
    limit_import = a.boot + a.probation + 0.5
    durs = [r["duration_s"] for r in runs if r["result"] == "ok" and r["duration_s"] is not None]
    return {"runs": runs, "ok": sum(r["result"] == "ok" for r in runs), "of": len(runs),
            "boot_s": gen_boot, "limit_s": limit, "within_limit": sum(d <= limit for d in durs),
            "limit_import_s": limit_import,
            "within_import_limit": sum(d <= limit_import for d in durs),
            "duration_s": {"min": min(durs), "median": statistics.median(durs), "max": max(durs)}
            if durs else None,
            "phases_median_s": {k: statistics.median(r[k] for r in runs if r[k] is not None)
                                for k in ("t_fork", "t_warmup", "t_probation", "t_drain",
                                          "t_promote")
                                if any(r[k] is not None for r in runs)},
            "workers_recycled_during_reloads": r1 - r0, "load": load_summary(ld, t0, t1)}


def crash(ctx):
    a = ctx.args
    w = Wrapper(ctx, "crash", ["-w", "4"], a.probation)
    w.wait_running(a.boot + 30)
    ld = Load(w.port, clients=a.clients, think=a.think, timeout=10,
              max_duration=a.crash_runs * (a.boot + a.probation + 25) + 60).start()
    t0 = mono()
    runs = []
    try:
        time.sleep(1)
        for n in range(a.crash_runs):
            delay = (0.5, 3.0)[n % 2]
            w.set_version("crash:{:g}".format(delay))
            rc, e, err = w.reload()
            w.set_version("1")
            kind, v, _ = w.get()
            runs.append({"crash_after_s": delay, "exit": rc, "result": e.get("result"),
                         "duration_s": e.get("duration"), "t_warmup": e.get("t_warmup"),
                         "t_probation": e.get("t_probation"), "reason": e.get("reason"),
                         "serves_after": v})
            log("crash reload {} (SIGSEGV after {:g} s): {} in {:.2f} s: {}".format(
                n + 1, delay, e.get("result"), e.get("duration") or -1, e.get("reason")))
            w.wait_running(30)
    finally:
        ld.stop()
    t1 = mono()
    return {"runs": runs, "failed_safe": sum(r["result"] == "failed" and r["serves_after"] == "1"
                                             for r in runs), "of": len(runs),
            "load": load_summary(ld, t0, t1)}


def table(res):
    a = res["config"]
    c, k = res["churn"], res["crash"]
    out = ["", "readiness (gunicorn 20.1, BOOT {:g} s, probation {:g} s, {} clients)".format(
        a["boot_s"], a["probation_s"], a["clients"]), ""]
    d = c["duration_s"] or {}
    out.append("reload under --max-requests 20 churn: {}/{} ok, {}/{} within BOOT + probation "
               "+ 0.5 s = {:.2f} s (BOOT: the first generation's, {:.2f} s)".format(
                   c["ok"], c["of"], c["within_limit"], c["of"], c["limit_s"], c["boot_s"]))
    out.append("  {}/{} within the import time + probation + 0.5 s = {:.2f} s".format(
        c["within_import_limit"], c["of"], c["limit_import_s"]))
    if d:
        out.append("  duration min {:.2f} s, median {:.2f} s, max {:.2f} s (BOOT + probation = "
                   "{:.1f} s)".format(d["min"], d["median"], d["max"],
                                      a["boot_s"] + a["probation_s"]))
        out.append("  median phases: " + ", ".join("{} {:.2f} s".format(k[2:], v) for k, v in
                                                   c.get("phases_median_s", {}).items()))
    out.append("  {} workers recycled during the reloads; load {:.0f} req/s, {} failed of {}".format(
        c["workers_recycled_during_reloads"], c["load"]["rate_per_s"], c["load"]["failed"],
        c["load"]["requests"]))
    out.append("crash-looping deploy: {}/{} failed safe".format(k["failed_safe"], k["of"]))
    for r in k["runs"]:
        out.append("  SIGSEGV {:g} s after import: {} after {:.2f} s (warm-up {}, probation {}): {}"
                   .format(r["crash_after_s"], r["result"], r["duration_s"] or -1,
                           "-" if r["t_warmup"] is None else "{:.2f} s".format(r["t_warmup"]),
                           "-" if r["t_probation"] is None else "{:.2f} s".format(r["t_probation"]),
                           r["reason"]))
    out.append("  load {:.0f} req/s, {} failed of {} (the crashing generation's own)".format(
        k["load"]["rate_per_s"], k["load"]["failed"], k["load"]["requests"]))
    return "\n".join(out)


class Ctx:
    pass


def main(argv):
    ap = argparse.ArgumentParser(description="gunicorn-wrapper readiness benchmark")
    ap.add_argument("--boot", type=float, default=1.5, help="app import time (default 1.5)")
    ap.add_argument("--clients", type=int, default=6, help="concurrent HTTP clients (default 6)")
    ap.add_argument("--think", type=float, default=0.02, help="pause between requests (default 0.02)")
    ap.add_argument("--runs", type=int, default=10, help="reloads under churn (default 10)")
    ap.add_argument("--crash-runs", type=int, default=2, help="crash-looping deploys (default 2)")
    ap.add_argument("--probation", type=float, default=5.0, help="--probation (default 5)")
    ap.add_argument("--json", default=JSON_PATH)
    a = ap.parse_args(argv)
    for b in (GW, GWCTL):
        if not os.access(b, os.X_OK):
            sys.exit("bench: {} not built: run make".format(b))
    if not procs.set_subreaper():
        sys.exit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    ctx = Ctx()
    ctx.args = a
    ctx.reg = procs.Registry()
    ctx.tmp = tempfile.mkdtemp(prefix="gwbench-ready-", dir="/tmp")
    ctx.run_dir = os.path.join(ctx.tmp, "run")
    os.mkdir(ctx.run_dir)
    res = {"config": {"boot_s": a.boot, "clients": a.clients, "think_s": a.think,
                      "probation_s": a.probation, "gunicorn": "20.1 (Debian)"},
           "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    ok = False
    try:
        res["churn"] = churn(ctx)
        ctx.reg.cleanup(grace=5)
        res["crash"] = crash(ctx)
        ok = True
    finally:
        left = ctx.reg.cleanup(grace=5 if ok else 0)
        if left:
            log("WARNING: processes left: {}".format(left))
        if ok:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            log("logs kept in {}".format(ctx.tmp))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(a.json + ".tmp", a.json)
    print(table(res))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
