# SPDX-License-Identifier: MIT
"""The wrapper's log lines: severity words, --log-level, --log-format json,
sd-daemon prefixes when stderr is journald's stream, signal names, and the
daemon's --help and --version.

JOURNAL_STREAM is tested without journald: the variable is set to the
device:inode of the file the wrapper's stderr goes to, which is exactly
what journald's stream looks like to the wrapper; a variable naming some
other file must change nothing.
"""
import json
import os
import re
import signal
import subprocess

import pytest

import helpers
from helpers import GW_BIN, RELOAD_OK

# What a JSON line may carry besides time, level, name and message.
EVENT_FIELDS = {"event", "reload_id", "result", "duration_s", "old_master",
                "new_master", "master", "reason", "exit_status"}

LEVEL_LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d\] \[gunicorn-wrapper\] \[([^\]]*)\] "
    r"\[(DEBUG|INFO|NOTICE|WARNING|ERROR)\] (.*)$")


def wrapper_lines(w):
    return [ln for ln in w.text().splitlines() if "] [gunicorn-wrapper] [" in ln]


def wait_text(w, pattern, timeout=20):
    """Wait for a line matching pattern anywhere in the wrapper's output (the
    harness's own waits know only the default text format)."""
    return helpers.wait_for(lambda: re.search(pattern, w.text(), re.M), timeout,
                            "/{}/ in {}".format(pattern, w.log_path),
                            on_timeout=lambda: w.text()[-3000:])


def run_gw(gw, args, env=None):
    return subprocess.run([GW_BIN] + args, capture_output=True, text=True, timeout=10,
                          env=gw.base_env(env), cwd=str(gw.tmp), stdin=subprocess.DEVNULL)


def test_level_words_and_default_level(gw):
    """Default (info): [INFO] and [WARNING] words, no debug lines."""
    w = gw.wrapper(workers=1, extra_env={"GW_LOG_LEVEL": ""})
    w.wait_ready(timeout=20)
    mark = w.log.mark()
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), 20, since=mark)
    w.signal(signal.SIGUSR2)
    w.wait_log(r"^SIGUSR2 ignored", 5)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0, w.log.tail()
    levels = {}
    for line in wrapper_lines(w):
        m = LEVEL_LINE.match(line)
        assert m and m.group(1) == "app", "no level word: " + line
        levels.setdefault(m.group(2), []).append(m.group(3))
    assert "DEBUG" not in levels, levels["DEBUG"]
    assert any(re.match(r"reload 1 ok:", x) for x in levels["INFO"]), levels
    assert any(x.startswith("SIGUSR2 ignored") for x in levels["WARNING"]), levels
    assert "SIGTERM: stopping" in levels["INFO"], levels["INFO"]


def test_debug_level_shows_transitions_warning_hides_info(gw):
    w = gw.wrapper(workers=1, extra_wrapper=["--log-level", "debug"])
    w.wait_ready(timeout=20)
    mark = w.log.mark()
    w.signal(signal.SIGHUP)
    w.wait_log(RELOAD_OK.format(1), 20, since=mark)
    text = w.text()
    assert re.search(r"\[DEBUG\] reload 1: forking -> warming$", text, re.M), text
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0

    w = gw.wrapper(workers=1, name="quiet", log_name="quiet.log",
                   extra_env={"GW_LOG_LEVEL": "warning"})
    gw.wait_serving(timeout=20)
    w.signal(signal.SIGUSR2)
    w.wait_log(r"^SIGUSR2 ignored", 5)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    lines = wrapper_lines(w)
    assert lines and all("[WARNING]" in ln or "[ERROR]" in ln for ln in lines), lines


def test_json_format(gw):
    """One object per line, escaped: the name holds a quote and a backslash."""
    name = 'a"b\\c'
    w = gw.wrapper(workers=1, name=name, extra_env={"GW_LOG_FORMAT": "json"})
    wait_text(w, r'^\{.*"message":"state: starting -> running"')
    w.signal(signal.SIGTTIN)
    w.signal(signal.SIGHUP)
    wait_text(w, r'^\{.*"message":"reload 1 ok: ')
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    objs = []
    for line in w.text().splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            assert {"time", "level", "name", "message"} <= set(o) <= \
                {"time", "level", "name", "message"} | EVENT_FIELDS, o
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", o["time"]), o
            assert o["name"] == name, o
            objs.append(o)
    msgs = [o["message"] for o in objs]
    assert any(m.startswith("passing SIGTTIN to master ") for m in msgs), msgs
    assert {"info", "debug"} <= {o["level"] for o in objs}, objs
    assert not [ln for ln in w.text().splitlines() if "] [gunicorn-wrapper] [" in ln]


def journal_env(path):
    """JOURNAL_STREAM naming the file the wrapper's stderr goes to: what
    journald's stream looks like to the wrapper."""
    path.touch()
    st = os.stat(path)
    return {"JOURNAL_STREAM": "{}:{}".format(st.st_dev, st.st_ino)}


def test_journal_stream_prefixes(gw):
    """Under journald, "<N>message" only: journald has the time and the unit."""
    env = journal_env(gw.tmp / "journal.log")
    env["GW_LOG_LEVEL"] = "info"
    w = gw.wrapper(workers=1, log_name="journal.log", extra_env=env)
    wait_text(w, r"^<6>master \d+ ready: 1 workers in \d+\.\d\d s$")
    w.signal(signal.SIGUSR2)
    helpers.wait_for(lambda: "SIGUSR2 ignored" in w.text(), 5, "SIGUSR2 line")
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    ours = [ln for ln in w.text().splitlines() if re.match(r"^<\d>", ln)]
    assert ours
    for ln in ours:
        assert re.match(r"^<[3-7]>[^\[<]", ln), ln
        assert "[gunicorn-wrapper]" not in ln and "[app]" not in ln, ln
        assert not re.search(r"\d\d:\d\d:\d\d", ln), ln
    assert "<4>SIGUSR2 ignored: send SIGHUP to reload" in ours, ours
    assert "<6>exiting with status 0" in ours, ours
    assert not wrapper_lines(w), wrapper_lines(w)

    # Another file's device:inode (inherited from some other service): no prefixes.
    other = os.stat(gw.tmp)
    w = gw.wrapper(workers=1, name="other", log_name="other.log",
                   extra_env={"JOURNAL_STREAM": "{}:{}".format(other.st_dev, other.st_ino)})
    w.wait_ready(timeout=20)
    w.signal(signal.SIGTERM)
    assert w.wait_exit(30) == 0
    ours = wrapper_lines(w)
    assert ours and all(LEVEL_LINE.match(ln) for ln in ours), ours


@pytest.mark.parametrize("args,env,needle", [
    (["--log-level", "loud", "--", "app:app"], None,
     "--log-level: 'loud': must be debug, info, notice, warning or error"),
    (["app:app"], {"GW_LOG_FORMAT": "xml"}, "GW_LOG_FORMAT: 'xml': must be text or json"),
    (["app:app"], {"GW_PREFLIGHT": "maybe"},
     "GW_PREFLIGHT: 'maybe': must be 1, yes or true, or 0, no or false"),
])
def test_bad_settings_one_line(gw, args, env, needle):
    r = run_gw(gw, ["--gunicorn", helpers.GUNICORN] + args if args[0].startswith("--")
               else args, dict(env or {}, GW_GUNICORN=helpers.GUNICORN,
                               GW_RUN_DIR=str(gw.run_dir)))
    assert r.returncode == 2, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert r.stdout == ""


def test_help_and_version(gw):
    r = run_gw(gw, ["--help"])
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout.startswith("usage: gunicorn-wrapper ")
    for opt in ("--log-level", "--log-format", "--preflight", "--warmup"):
        assert opt in r.stdout, opt
    r = run_gw(gw, ["--name", "x", "--help", "--", "app:app"])
    assert r.returncode == 0 and r.stdout.startswith("usage: ") and r.stderr == "", r
    r = run_gw(gw, ["--version"])
    assert r.returncode == 0 and r.stderr == "", r
    assert re.match(r"^gunicorn-wrapper \d+\.\d+\.\d+\n$", r.stdout), r.stdout
    # Help on a closed stdout is an error, not a silent success.
    r = subprocess.run("{} --help >&-".format(GW_BIN), shell=True, capture_output=True,
                       timeout=10)
    assert r.returncode != 0


def _levels(w, form):
    """[(level, message, fields)] of the wrapper's own lines, in form."""
    out = []
    for ln in w.text().splitlines():
        if form == "text":
            m = LEVEL_LINE.match(ln)
            if m:
                out.append((m.group(2).lower(), m.group(3), {}))
        elif form == "json":
            if ln.startswith("{"):
                o = json.loads(ln)
                out.append((o["level"], o["message"], o))
        else:
            m = re.match(r"^<(\d)>(.*)$", ln)
            if m:
                out.append(({3: "error", 4: "warning", 5: "notice", 6: "info",
                             7: "debug"}[int(m.group(1))], m.group(2), {}))
    return out


@pytest.mark.parametrize("form", ["text", "json", "journal"])
def test_failures_are_errors(gw, form):
    """A failed reload, the serving master dying unasked and the wrapper
    exiting non-zero are err (what `journalctl -p err` shows); a good
    reload, a planned master exit and the stop are not."""
    env = {"GW_LOG_LEVEL": "info"}
    if form == "json":
        env["GW_LOG_FORMAT"] = "json"
    elif form == "journal":
        env.update(journal_env(gw.tmp / "wrapper.log"))
    w = gw.wrapper(workers=1, extra_env=env)
    gw.wait_serving(timeout=20)
    first = helpers.wait_for(lambda: gw.masters(), 10, "a master")[0]
    gw.set_version("2")
    w.signal(signal.SIGHUP)
    wait_text(w, r"reload 1 ok: ")
    good = helpers.wait_for(lambda: [m for m in gw.masters() if m != first], 20,
                            "the new master")[0]
    helpers.wait_for(lambda: gw.masters() == [good], 20, "the old master gone")
    gw.set_version("broken")
    w.signal(signal.SIGHUP)
    wait_text(w, r"reload 2 failed: ")
    helpers.wait_for(lambda: gw.masters() == [good], 20, "the broken master gone")
    os.kill(good, signal.SIGKILL)
    assert w.wait_exit(30) == 128 + signal.SIGKILL, w.log.tail()

    lines = _levels(w, form)
    assert lines, w.text()[-2000:]

    def level_of(pattern):
        hits = [(lv, msg, f) for lv, msg, f in lines if re.search(pattern, msg)]
        assert hits, "no line /{}/ in {}".format(pattern, [x[1] for x in lines])
        return hits[0]

    assert level_of(r"^reload 2 failed: ")[0] == "error"
    assert level_of(r"^master {} killed by signal 9".format(good))[0] == "error"
    assert level_of(r"^exiting with status 137$")[0] == "error"
    assert level_of(r"^reload 1 ok: ")[0] == "info"
    # The old master of reload 1 was retired: planned, not an error.
    assert level_of(r"^master {} (exited|killed)".format(first))[0] == "info"
    errors = [msg for lv, msg, _ in lines if lv == "error"]
    assert len(errors) <= 4, errors
    if form != "json":
        return
    # The fields a log shipper filters on.
    f = level_of(r"^reload 2 failed: ")[2]
    assert f["event"] == "reload_failed" and f["result"] == "failed", f
    assert f["reload_id"] == 2 and f["old_master"] == good, f
    assert isinstance(f["duration_s"], (int, float)) and f["duration_s"] >= 0, f
    assert f["reason"] and f["message"].endswith(f["reason"]), f
    f = level_of(r"^reload 1 ok: ")[2]
    assert f["event"] == "reload_ok" and f["result"] == "ok", f
    assert f["reload_id"] == 1 and (f["old_master"], f["new_master"]) == (first, good), f
    assert "reason" not in f, f
    f = level_of(r"^reload 1: starting")[2]
    assert (f["event"], f["reload_id"], f["old_master"]) == ("reload_start", 1, first), f
    f = level_of(r"^master {} killed".format(good))[2]
    assert (f["event"], f["master"]) == ("master_exit", good), f
    assert f["reason"] == "killed by signal 9 (SIGKILL)", f
    f = level_of(r"^exiting with status 137$")[2]
    assert (f["event"], f["exit_status"]) == ("exit", 137), f
    f = level_of(r"^started gunicorn master {}$".format(first))[2]
    assert (f["event"], f["master"]) == ("master_start", first), f
    assert level_of(r"^gunicorn-wrapper \S+ \(pid")[2]["event"] == "start"


def _level_of(lines, pattern):
    hits = [lv for lv, msg, _ in lines if re.search(pattern, msg)]
    assert hits, "no line /{}/ in {}".format(pattern, [x[1] for x in lines])
    return hits[0]


@pytest.mark.parametrize("form", ["text", "json", "journal"])
def test_start_failures_are_errors(gw, form):
    """A first generation that dies at boot (a broken release on disk) and
    a wrapper refused at start (its name taken) are err too, so that
    `journalctl -p err` shows a service that never came up."""
    env = {"GW_LOG_LEVEL": "info"}
    if form == "json":
        env["GW_LOG_FORMAT"] = "json"
    elif form == "journal":
        env.update(journal_env(gw.tmp / "wrapper.log"))
    gw.set_version("broken")
    w = gw.wrapper(workers=1, extra_env=env)
    rc = w.wait_exit(30)
    assert rc not in (0, None), w.log.tail()
    lines = _levels(w, form)
    assert _level_of(lines, r"^master \d+ exited with status [1-9]") == "error"
    assert _level_of(lines, r"^exiting with status {}$".format(rc)) == "error"
    gw.wait_no_gunicorn(10)

    # A second wrapper of a running one's name is refused in one line, at err.
    gw.set_version("1")
    first = gw.wrapper(workers=1, name="app", log_name="first.log")
    first.wait_ready(timeout=30)
    log = gw.tmp / "second.log"
    env2 = dict(first.proc_env)
    env2.pop("JOURNAL_STREAM", None)
    if form == "json":
        env2["GW_LOG_FORMAT"] = "json"
    elif form == "journal":
        env2.update(journal_env(log))
    with open(log, "ab") as out:
        second = subprocess.Popen(first.argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=env2, cwd=str(gw.tmp))
        gw.track(second)
        assert second.wait(15) == 1
    text = log.read_text().strip()
    assert "\n" not in text, text
    if form == "text":
        assert text.startswith("gunicorn-wrapper: another gunicorn-wrapper named app"), text
    elif form == "journal":
        assert text.startswith("<3>gunicorn-wrapper: another gunicorn-wrapper named app"), text
    else:
        o = json.loads(text)
        assert o["level"] == "error" and o["message"].startswith(
            "another gunicorn-wrapper named app"), o
    first.signal(signal.SIGTERM)
    assert first.wait_exit(30) == 0
