# SPDX-License-Identifier: MIT
"""The timeline plot, drawn by gnuplot from the figures in latest.json.

One panel per reload method, x in seconds from the reload's trigger:
bars for requests completed per 100 ms (red bars for failed ones), a line
for the maximum latency of the requests completed in each 100 ms (right
axis, log scale), and dashed vertical lines for the reload's phases.
"""

import os
import subprocess
import tempfile

COLORS = {"ok": "#a9c4e6", "failed": "#d62728", "lat": "#c85a00", "mark": "#333333"}


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _panel_title(i, m):
    if "error" in m:
        return "{}. {}: ERROR {}".format(i, m["title"], m["error"])
    rq = m["requests"]
    d = m["latency_ms"]["during"]["max_ms"]
    o = m["latency_ms"]["outside"]["max_ms"]
    bits = ["{} failed".format(rq["failed_total"]),
            "longest gap {:.0f} ms".format(m["longest_gap_ms"]),
            "max latency {:.0f} ms during, {:.0f} ms outside".format(d or 0, o or 0)]
    if m.get("duration_s") is not None:
        bits.append("{} {:.2f} s".format(m.get("duration_label", "duration"), m["duration_s"]))
    return "{}. {}: {}".format(i, m["title"], ", ".join(bits))


def _marks(marks, x0, x1):
    """gnuplot commands for the phase marks: a dashed line each, ending
    just under its label; the labels stacked in rows from the top.  Labels
    run right of their line, or left of it in the right quarter of the
    panel; the rows are ordered so that no label crosses another mark's
    line even when marks are milliseconds apart."""
    marks = sorted(marks, key=lambda mk: mk["t"])
    left = [mk for mk in marks if mk["t"] <= x0 + 0.75 * (x1 - x0)]
    right = [mk for mk in marks if mk["t"] > x0 + 0.75 * (x1 - x0)]
    placed = [(mk, "left") for mk in left] + [(mk, "right") for mk in reversed(right)]
    out = []
    for k, (mk, just) in enumerate(placed, 1):
        y = 0.93 - 0.095 * (k - 1)
        out.append("set arrow {} from {:.3f}, graph 0 to {:.3f}, graph {:.3f} nohead dt 2 lw 1.2 "
                   "lc rgb '{}' front".format(k, mk["t"], mk["t"], y - 0.045, COLORS["mark"]))
        out.append("set label {} {} at {:.3f}, graph {:.3f} {} offset {},0 boxed font ',10' "
                   "tc rgb '#222222' front".format(
                       k, _q("{} ({:+.2f} s)".format(mk["label"], mk["t"])), mk["t"], y, just,
                       "-0.3" if just == "right" else "0.3"))
    return out


def render(res, svg_path, png_path=None, gnuplot="gnuplot"):
    methods = res["methods"]
    tmp = tempfile.mkdtemp(prefix="gwbench-plot-")
    try:
        ymax = 1
        for m in methods:
            tl = m.get("timeline")
            if tl:
                ymax = max([ymax] + [a + b for a, b in zip(tl["ok"], tl["failed"])])
        ymax = int(ymax * 1.15) + 1
        n = len(methods)
        lines = []
        out = []
        if png_path:
            out.append(("pngcairo size 1100,{} font 'sans,10' background '#ffffff'".format(
                280 * n + 60), png_path))
        out.append(("svg size 1100,{} dynamic font 'sans,12' background '#ffffff'".format(
            280 * n + 60), svg_path))
        for term, path in out:
            lines += ["set terminal " + term, "set output " + _q(path)]
            lines += ["set multiplot layout {},1 title {} font ',14' margins 0.07,0.92,0.04,0.915 "
                      "spacing 0,0.075".format(n, _q(
                          "Reload under load: {} HTTP clients, gunicorn with {} workers, app import {:g} s"
                          .format(res["config"]["clients"], res["config"]["workers"],
                                  res["config"]["boot_s"]))),
                      "set style fill solid 1.0 noborder",
                      "set style textbox opaque fc rgb '#ffffff' noborder margins 1,1",
                      "set boxwidth 0.1 absolute",
                      "set grid xtics ytics lc rgb '#e4e4e4'",
                      "set ytics nomirror", "set y2tics", "set logscale y2",
                      "set yrange [0:{}]".format(ymax),
                      "set y2range [0.5:30000]",
                      "set format y2 '%g'",
                      "set ylabel 'requests / 100 ms' offset 1,0",
                      "set y2label 'max latency / 100 ms (ms)' offset -1,0",
                      "set xlabel 'seconds from the trigger' offset 0,0.8",
                      "set key at screen 0.5, screen 0.958 center center horizontal maxrows 1 "
                      "maxcols 3 width 1 font ',11' samplen 2"]
            for i, m in enumerate(methods, 1):
                lines.append("unset arrow; unset label")
                if i == 2:
                    lines.append("unset key")
                lines.append("set title {} font ',12'".format(_q(_panel_title(i, m))))
                tl = m.get("timeline")
                if not tl:
                    lines.append("plot NaN notitle")
                    continue
                dat = os.path.join(tmp, "m{}.dat".format(i))
                x0 = tl["t0"]
                x1 = tl["t0"] + len(tl["ok"]) * tl["bin_s"]
                with open(dat, "w") as f:
                    # bin start (for the steps), bin middle, ok, failed, max latency
                    for j, (a, b, c) in enumerate(zip(tl["ok"], tl["failed"], tl["max_latency_ms"])):
                        t = tl["t0"] + j * tl["bin_s"]
                        f.write("{:.3f} {:.3f} {} {} {}\n".format(t, t + tl["bin_s"] / 2, a, b,
                                                                 "NaN" if c is None else c))
                steps = os.path.join(tmp, "m{}-steps.dat".format(i))
                with open(steps, "w") as f:  # the counts as one step outline: one polygon
                    for j, a in enumerate(tl["ok"]):
                        t = tl["t0"] + j * tl["bin_s"]
                        f.write("{:.3f} {}\n{:.3f} {}\n".format(t, a, t + tl["bin_s"], a))
                lines.append("set xrange [{:.2f}:{:.2f}]".format(x0, x1))
                lines += _marks(m.get("marks", []), x0, x1)
                lines.append(
                    "plot {st} using 1:2 with filledcurves x1 lc rgb '{ok}' title 'requests completed', "
                    "{d} using 2:($4 > 0 ? $4 : NaN) with boxes lc rgb '{fail}' title 'requests failed', "
                    "{d} using 2:5 axes x1y2 with lines lw 1.6 lc rgb '{lat}' "
                    "title 'their max latency (right axis)'"
                    .format(d=_q(dat), st=_q(steps), ok=COLORS["ok"], fail=COLORS["failed"],
                            lat=COLORS["lat"]))
            lines.append("unset multiplot")
            lines.append("set output")
        script = os.path.join(tmp, "timeline.gp")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([gnuplot, script], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("gnuplot failed: " + r.stderr.strip()[-2000:])
        return r.stderr.strip()
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
