#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Release deploys against in-place reloads: `make bench`, third part, or
/usr/bin/python3 bench/deploy.py [options].

gunicorn 20.1, 4 workers, an app whose import takes --boot seconds
(BOOT), recycling its workers (--max-requests 20 --max-requests-jitter 5,
no --preload, as production often runs), under HTTP load:

  time      --runs in-place reloads (`gwctl reload`, SIGUSR2), then --runs
            release deploys (`gwctl deploy`, a fresh gunicorn per release,
            alternating two releases): each one's duration, and the deploy's
            overhead against the reload (medians);
  broken    a broken version deployed in place, and a broken release
            deployed in release mode: the failed requests in the --soak
            seconds after the reload said "failed" (in place, the old
            generation's recycled workers import the broken code and the
            host goes down; in release mode they import their own release).

Output: a table on stdout and bench/results/deploy.json.  Everything it
starts is a descendant of this process (a child subreaper), stopped by PID
at the end, on an error and on Ctrl-C too.  Every wait is bounded.
"""

import argparse
import json
import os
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
from readiness import free_port, load_summary, log, reload_entry  # noqa: E402

GW = os.path.join(ROOT, "gunicorn-wrapper")
GWCTL = os.path.join(ROOT, "gwctl")
GUNICORN = "/usr/bin/gunicorn"
JSON_PATH = os.path.join(HERE, "results", "deploy.json")
RECYCLE = ["--max-requests", "20", "--max-requests-jitter", "5"]
mono = time.monotonic


class Site:
    """One wrapper: in place (--chdir a directory) or in release mode
    (--chdir a symlink into releases/)."""

    def __init__(self, ctx, name, release_mode):
        self.ctx, self.name, self.release_mode = ctx, name, release_mode
        self.port = free_port()
        self.root = os.path.join(ctx.tmp, name)
        self.releases = os.path.join(self.root, "releases")
        self.link = os.path.join(self.root, "current")
        self.log = os.path.join(ctx.tmp, name + ".log")
        self.sock = os.path.join(ctx.run_dir, name + ".sock")
        os.makedirs(self.releases)
        self.release("r0", "1")
        if release_mode:
            os.symlink(os.path.join(self.releases, "r0"), self.link)
            chdir, extra = self.link, ["--releases", self.releases]
        else:
            chdir, extra = os.path.join(self.releases, "r0"), []
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GW_", "GUNICORN_", "SUPERVISOR_", "BENCH_", "APP_", "LISTEN_"))
               and k not in ("NOTIFY_SOCKET",)}
        env.update(BENCH_BOOT=str(ctx.args.boot), PYTHONDONTWRITEBYTECODE="1")
        argv = [GW, "--name", name, "--run-dir", ctx.run_dir, "--gunicorn", GUNICORN,
                "--warmup", "30", "--stop-timeout", "20",
                "--probation", str(ctx.args.probation)] + extra + [
                "--", "-w", "4", "-b", "127.0.0.1:{}".format(self.port), "--chdir", chdir] + \
            RECYCLE + ["app:app"]
        self.popen = ctx.reg.spawn(argv, stdout=self.log, stderr="stdout", env=env, cwd=ctx.tmp)

    def release(self, rname, version):
        d = os.path.join(self.releases, rname)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(HERE, "app.py"), d)
        with open(os.path.join(d, "version.txt.tmp"), "w") as f:
            f.write(version + "\n")
        os.replace(os.path.join(d, "version.txt.tmp"), os.path.join(d, "version.txt"))
        return d

    def gwctl(self, *args, timeout=120):
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

    def change(self, n, version):
        """Reload in place (the file rewritten), or deploy a release."""
        if self.release_mode:
            r = self.gwctl("deploy", self.release("r{}".format(n % 2 + 1), version))
        else:
            self.release("r0", version)
            r = self.gwctl("reload")
        try:
            entry = reload_entry(json.loads(r.stdout))
        except ValueError:
            entry = {}
        return r.returncode, entry


def timing(ctx, release_mode):
    a = ctx.args
    s = Site(ctx, "deploy" if release_mode else "inplace", release_mode)
    s.wait_running(a.boot + 30)
    ld = Load(s.port, clients=a.clients, think=a.think, timeout=10,
              max_duration=a.runs * (a.boot + a.probation + 15) + 60).start()
    t0, runs = mono(), []
    try:
        time.sleep(1)
        for n in range(a.runs):
            rc, e = s.change(n, str(n + 2))
            runs.append({"exit": rc, "result": e.get("result"), "duration_s": e.get("duration"),
                         "t_warmup": e.get("t_warmup"), "t_drain": e.get("t_drain")})
            log("{} {}: {} in {:.2f} s".format(s.name, n + 1, e.get("result"),
                                               e.get("duration") or -1))
    finally:
        ld.stop()
    durs = [r["duration_s"] for r in runs if r["result"] == "ok" and r["duration_s"] is not None]
    return {"runs": runs, "ok": len(durs), "of": len(runs),
            "median_s": statistics.median(durs) if durs else None,
            "load": load_summary(ld, t0, mono())}


def broken(ctx, release_mode):
    a = ctx.args
    s = Site(ctx, "broken-deploy" if release_mode else "broken-inplace", release_mode)
    s.wait_running(a.boot + 30)
    ld = Load(s.port, clients=a.clients, think=a.think, timeout=5,
              max_duration=a.soak + a.boot + 60).start()
    try:
        time.sleep(1)
        rc, e = s.change(0, "broken")
        t_fail = mono()
        deadline = t_fail + a.soak
        while mono() < deadline and s.popen.poll() is None:
            time.sleep(0.1)
        time.sleep(max(0.0, deadline - mono()))
    finally:
        ld.stop()
    after = [r for r in ld.records() if r[0] >= t_fail]
    failed = sum(1 for r in after if r[2] != "ok")
    log("{}: reload {} (exit {}), then {} of {} requests failed in {:g} s".format(
        s.name, e.get("result"), rc, failed, len(after), a.soak))
    return {"exit": rc, "result": e.get("result"), "reason": e.get("reason"),
            "after_requests": len(after), "after_failed": failed,
            "wrapper_exit": s.popen.poll()}


def table(res):
    a, t = res["config"], res["time"]
    inp, dep = t["in_place"], t["release"]
    out = ["", "release deploys (gunicorn 20.1, 4 workers, BOOT {:g} s, probation {:g} s, "
           "--max-requests 20 churn, {} clients)".format(a["boot_s"], a["probation_s"],
                                                       a["clients"]), ""]
    for label, r in (("in-place reload (SIGUSR2)", inp), ("release deploy", dep)):
        out.append("{:28s} {}/{} ok, median {:.2f} s, {} of {} requests failed".format(
            label, r["ok"], r["of"], r["median_s"] or -1, r["load"]["failed"],
            r["load"]["requests"]))
    if inp["median_s"] and dep["median_s"]:
        out.append("deploy overhead against a reload: {:+.2f} s (median)".format(
            dep["median_s"] - inp["median_s"]))
    for label, r in (("broken, in place", res["broken"]["in_place"]),
                     ("broken, release deploy", res["broken"]["release"])):
        out.append("{:28s} reload {}, then {} of {} requests failed in {:g} s{}".format(
            label, r["result"], r["after_failed"], r["after_requests"], a["soak_s"],
            "" if r["wrapper_exit"] is None else
            " (the wrapper exited {}: nothing served)".format(r["wrapper_exit"])))
    return "\n".join(out)


class Ctx:
    pass


def main(argv):
    ap = argparse.ArgumentParser(description="gunicorn-wrapper release deploy benchmark")
    ap.add_argument("--boot", type=float, default=1.5, help="app import time (default 1.5)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    ap.add_argument("--think", type=float, default=0.02, help="pause between requests")
    ap.add_argument("--runs", type=int, default=5, help="reloads, then deploys (default 5 each)")
    ap.add_argument("--probation", type=float, default=2.0, help="--probation (default 2)")
    ap.add_argument("--soak", type=float, default=30.0,
                    help="seconds watched after a broken deploy (default 30)")
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
    ctx.tmp = tempfile.mkdtemp(prefix="gwbench-deploy-", dir="/tmp")
    ctx.run_dir = os.path.join(ctx.tmp, "run")
    os.mkdir(ctx.run_dir)
    res = {"config": {"boot_s": a.boot, "clients": a.clients, "think_s": a.think,
                      "probation_s": a.probation, "soak_s": a.soak, "gunicorn": "20.1 (Debian)"},
           "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    ok = False
    try:
        res["time"] = {"in_place": timing(ctx, False)}
        ctx.reg.cleanup(grace=5)
        res["time"]["release"] = timing(ctx, True)
        ctx.reg.cleanup(grace=5)
        res["broken"] = {"in_place": broken(ctx, False)}
        ctx.reg.cleanup(grace=5)
        res["broken"]["release"] = broken(ctx, True)
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
