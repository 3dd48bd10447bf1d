# SPDX-License-Identifier: MIT
"""Figures from the load generator's records, the targets, and the table.

A method's records are (start, end, kind, version, pid) tuples in
monotonic seconds.  The reload window is [trigger, end of the reload]; a
request is "during" the reload if it was in flight at any moment of the
window (start <= window end and end >= trigger), else "outside" it.
Latencies are those of successful requests; failed requests are counted by
kind.  A gap is the time between two consecutive successful completions.
"""

import math

from load import KINDS

BIN = 0.1  # seconds per timeline bin


def pcts(values):
    """n, p50, p99, max of a list of seconds, in milliseconds (nearest rank)."""
    v = sorted(values)
    n = len(v)
    if not n:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def q(p):
        return v[max(0, min(n - 1, math.ceil(p * n) - 1))] * 1e3
    return {"n": n, "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": v[-1] * 1e3}


def analyse(records, t_load0, t_load1, trig, end):
    ok = [r for r in records if r[2] == "ok"]
    failed = {k: 0 for k in KINDS if k != "ok"}
    failed_in_window = 0
    for r in records:
        if r[2] != "ok":
            failed[r[2]] += 1
            if r[0] <= end and r[1] >= trig:
                failed_in_window += 1
    during = [r[1] - r[0] for r in ok if r[0] <= end and r[1] >= trig]
    outside = [r[1] - r[0] for r in ok if not (r[0] <= end and r[1] >= trig)]
    # longest gap between successful completions, counting the run's edges
    ends = sorted(r[1] for r in ok)
    gap, gap_at = 0.0, None
    prev = t_load0
    for e in ends + [t_load1]:
        if e - prev > gap:
            gap, gap_at = e - prev, prev
        prev = e
    win = max(end - trig, 1e-9)
    outside_s = max((t_load1 - t_load0) - win, 1e-9)
    during_completed = sum(1 for r in ok if trig <= r[1] <= end)
    return {
        "requests": {"total": len(records), "ok": len(ok),
                     "failed_total": sum(failed.values()), "failed": failed,
                     "failed_in_window": failed_in_window},
        "window_s": end - trig,
        "latency_ms": {"during": pcts(during), "outside": pcts(outside)},
        "throughput_rps": {"during": during_completed / win,
                           "outside": (len(ok) - during_completed) / outside_s},
        "longest_gap_ms": gap * 1e3,
        "longest_gap_at_s": (gap_at - trig) if gap_at is not None else None,
    }


def timeline(records, trig, t_from, t_to):
    """Completed (ok), failed and max latency of successful requests, per
    100 ms bin, bins aligned on the trigger; t in seconds from the trigger."""
    first = math.ceil((t_from - trig) / BIN)  # whole bins only
    last = math.floor((t_to - trig) / BIN)
    n = max(0, last - first)
    okc, failc, maxl = [0] * n, [0] * n, [None] * n
    for r in records:
        i = math.floor((r[1] - trig) / BIN) - first
        if not 0 <= i < n:
            continue
        if r[2] == "ok":
            okc[i] += 1
            lat = (r[1] - r[0]) * 1e3
            if maxl[i] is None or lat > maxl[i]:
                maxl[i] = round(lat, 3)
        else:
            failc[i] += 1
    return {"bin_s": BIN, "t0": round(first * BIN, 3), "ok": okc, "failed": failc,
            "max_latency_ms": maxl}


# --------------------------------------------------------------------------
# targets (reported, never asserted)

def targets(res):
    boot = res["config"]["boot_s"]
    m = {x["name"]: x for x in res["methods"]}
    out = []

    def add(what, target, value, met, note=""):
        out.append({"what": what, "target": target, "value": value, "met": met, "note": note})

    gw = m.get("wrapper_reload")
    if gw and "error" not in gw:
        f = gw["requests"]["failed_total"]
        add("wrapper reload: failed requests", "0", str(f), f == 0)
        d, o = gw["latency_ms"]["during"]["max_ms"], gw["latency_ms"]["outside"]["max_ms"]
        if d is not None and o is not None:
            add("wrapper reload: max latency during vs outside", "during <= outside + 100 ms",
                "{:.1f} ms vs {:.1f} ms (+{:.1f} ms)".format(d, o, d - o), d <= o + 100)
        g = gw["longest_gap_ms"]
        add("wrapper reload: longest gap without a completed request", "<= 200 ms",
            "{:.0f} ms".format(g), g <= 200)
        drain = (gw.get("phases") or {}).get("t_drain") or 0.0
        dur = gw["duration_s"]
        lim = boot + 1.5 + drain
        add("wrapper reload: duration (trigger to old master gone)",
            "<= BOOT + 1.5 s + drain = {:.2f} s".format(lim), "{:.2f} s".format(dur), dur <= lim)
        fw = m.get("gunicorn_usr2_wait")
        if fw and "error" not in fw:
            add("fixed-wait method: duration, for comparison", "30 s+ (not a target)",
                "{:.2f} s".format(fw["duration_s"]), None)
    br = m.get("wrapper_broken")
    if br and "error" not in br:
        f = br["requests"]["failed_total"]
        add("broken deploy: failed requests", "0", str(f), f == 0)
        rep = br.get("failure_reported_s")
        add("broken deploy: failure reported (gwctl exits 1)", "<= BOOT + 1 s = {:.2f} s".format(boot + 1),
            "{:.2f} s".format(rep) if rep is not None else "not reported",
            rep is not None and rep <= boot + 1 and br.get("gwctl_exit") == 1)
    idle = res.get("idle")
    if idle and "error" not in idle:
        w = idle["wrapper"]
        add("idle {:.0f} s: wake-ups".format(idle["seconds"]), "0",
            "{} (schedstat), {} context switches".format(w["wakeups"], w["context_switches"]),
            w["wakeups"] == 0 and w["context_switches"] == 0)
        fk = idle.get("forks_by_wrapper")
        add("idle {:.0f} s: processes spawned".format(idle["seconds"]), "0",
            str(fk) if fk is not None else "not measured", fk == 0 if fk is not None else None)
        pd = w["private_dirty_kib"]
        add("idle: private dirty memory", "< 1024 KiB",
            "{} KiB (RSS {} KiB)".format(pd, w["rss_kib"]), pd < 1024)
    for ckey in ("control", "control_full_history"):
        ctl = res.get(ckey)
        if ctl and "error" not in ctl:
            p = ctl["one_client"]["p99_ms"]
            add("status p99, one client, {} history entries".format(ctl["history_entries"]), "< 1 ms",
                "{:.3f} ms".format(p), p < 1.0)
    return out


# --------------------------------------------------------------------------
# the table

def _ms(x):
    return "-" if x is None else ("{:.0f}".format(x) if x >= 100 else "{:.1f}".format(x))


def _s(x):
    return "-" if x is None else "{:.2f}".format(x)


def table(res):
    L = []
    c = res["config"]
    mach = res["machine"]
    L.append("gunicorn-wrapper reload benchmark: BOOT {} s, {} clients (think {} ms), "
             "{} workers, {}".format(c["boot_s"], c["clients"], int(c["think_s"] * 1000),
                                     c["workers"], "QUICK" if c["quick"] else "full run"))
    L.append("machine: {} CPUs ({}), kernel {}, gunicorn {}".format(
        mach["nproc"], mach["cpu_model"], mach["kernel"], mach["gunicorn"]))
    L.append("")
    hdr = ("{:<38} {:>6} {:>14} {:>18} {:>18} {:>7} {:>8}".format(
        "method", "failed", "by kind", "during p50/p99/max", "outside p50/p99/max",
        "gap ms", "dur s"))
    L.append(hdr)
    L.append("-" * len(hdr))
    for m in res["methods"]:
        if "error" in m:
            L.append("{:<38} ERROR: {}".format(m["title"][:38], m["error"]))
            continue
        rq = m["requests"]
        kinds = ",".join("{}={}".format(k, v) for k, v in rq["failed"].items() if v) or "-"
        d, o = m["latency_ms"]["during"], m["latency_ms"]["outside"]
        L.append("{:<38} {:>6} {:>14} {:>18} {:>18} {:>7} {:>8}".format(
            m["title"][:38], rq["failed_total"], kinds[:14],
            "/".join(_ms(d[k]) for k in ("p50_ms", "p99_ms", "max_ms")),
            "/".join(_ms(o[k]) for k in ("p50_ms", "p99_ms", "max_ms")),
            _ms(m["longest_gap_ms"]), _s(m["duration_s"])))
    L.append("")
    L.append("(latencies in ms, successful requests; 'during' = in flight at any time between the "
             "trigger and the end of the reload; gap = longest time with no successful completion)")
    for m in res["methods"]:
        if "error" in m:
            continue
        extra = []
        if m.get("new_version_first_s") is not None:
            extra.append("new version first served at +{:.2f} s".format(m["new_version_first_s"]))
        ph = m.get("phases")
        if ph:
            extra.append("history: " + ", ".join(
                "{} {}".format(k[2:], _s(ph[k]))
                for k in ("t_check", "t_settle", "t_fork", "t_warmup", "t_drain", "t_promote")
                if ph.get(k) is not None) + ", total {}".format(_s(ph.get("duration"))))
        if m.get("wrapper_cost"):
            extra.append("wrapper itself: {} wake-ups, {:.1f} ms CPU".format(
                m["wrapper_cost"]["wakeups"], m["wrapper_cost"]["cpu_ms"]))
        if m.get("all_new_workers_served_s") is not None:
            extra.append("all {} new workers served by +{:.2f} s".format(
                m["new_workers_served"], m["all_new_workers_served_s"]))
        if m.get("failure_reported_s") is not None:
            extra.append("failure reported at +{:.2f} s (gwctl exit {}): {}".format(
                m["failure_reported_s"], m.get("gwctl_exit"), m.get("reason")))
        if m.get("new_generation_processes_left") is not None:
            extra.append("new generation's processes all gone at +{} ({} left)".format(
                _s(m.get("new_generation_all_gone_s")) + " s", m["new_generation_processes_left"]))
        if m.get("old_generation_kept") is not None:
            extra.append("old generation kept serving: {}".format(
                "yes" if m["old_generation_kept"] else "NO"))
        extra.append("{} requests, {:.0f} req/s outside, {:.0f} during".format(
            m["requests"]["total"], m["throughput_rps"]["outside"], m["throughput_rps"]["during"]))
        mc = m["load"].get("machine_cpu")
        if mc:
            extra.append("CPU of both cores: {:.0f}% busy, the benchmark's processes {:.0f}%, "
                         "other processes {:.0f}%; the benchmark process (load generator) "
                         "{:.0f}% of one core".format(
                             mc["busy_pct"], mc["benchmark_pct"], mc["others_pct"],
                             m["load"]["bench_process_cpu_pct"]))
        L.append("  {}: {}".format(m["title"], "; ".join(extra)))
    L.append("")
    idle = res.get("idle")
    if idle:
        if "error" in idle:
            L.append("idle: ERROR {}".format(idle["error"]))
        else:
            w = idle["wrapper"]
            L.append("idle wrapper over {:.1f} s: {} wake-ups, {} context switches, {:.3f} ms CPU, "
                     "{} processes spawned; RSS {} KiB, private dirty {} KiB, PSS {} KiB".format(
                         idle["seconds"], w["wakeups"], w["context_switches"], w["cpu_ms"],
                         idle.get("forks_by_wrapper", "?"), w["rss_kib"], w["private_dirty_kib"],
                         w["pss_kib"]))
            g = idle.get("gunicorn_master")
            if g:
                L.append("  (for scale, its gunicorn master meanwhile: {} wake-ups, {:.1f} ms CPU)".format(
                    g["wakeups"], g["cpu_ms"]))
    for ckey in ("control", "control_full_history"):
        ctl = res.get(ckey)
        if not ctl:
            continue
        if "error" in ctl:
            L.append("control ({}): ERROR {}".format(ckey, ctl["error"]))
            continue
        L.append("status requests to wrapper '{}' ({} history entries in each reply):".format(
            ctl["instance"], ctl["history_entries"]))
        for key, label in (("one_client", "1 client"), ("clients_32", "32 clients")):
            x = ctl[key]
            L.append("  {}: {:.0f} round trips/s, p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms "
                     "({} requests; CPU: daemon {:.0f}%, Python client {:.0f}% of a core)".format(
                         label, x["rps"], x["p50_ms"], x["p99_ms"], x["max_ms"], x["n"],
                         x.get("daemon_cpu_pct", 0), x.get("client_cpu_pct", 0)))
        g = ctl.get("gwctl_process")
        if g:
            L.append("  gwctl status as a process: p50 {:.1f} ms, max {:.1f} ms ({} runs)".format(
                g["p50_ms"], g["max_ms"], g["runs"]))
    for k in res.get("kill9", []):
        if "error" in k:
            L.append("kill -9 of the master: ERROR {}".format(k["error"]))
        else:
            L.append("kill -9 of the master ({}): wrapper exited {:.1f} ms later, status {}".format(
                k["instance"], k["exit_after_ms"], k["exit_status"]))
    L.append("")
    L.append("targets:")
    for t in res["targets"]:
        mark = {True: "met   ", False: "MISSED", None: "info  "}[t["met"]]
        L.append("  [{}] {}: {} (target {})".format(mark, t["what"], t["value"], t["target"]))
    L.append("")
    L.append("runtime {:.1f} s; results in {}; plot in {}".format(
        res["runtime_s"], res["paths"]["json"], res["paths"]["svg"]))
    return "\n".join(L)
