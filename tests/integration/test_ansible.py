# SPDX-License-Identifier: MIT
"""A fleet rolled with the shipped Ansible role, for real.

Why this file exists: operators roll releases over many hosts with
Ansible, one host or batch at a time, and stop at the first host that
fails.  These run Debian's real ansible-playbook on the example playbook
contrib/ansible/deploy.yml, over four local "hosts" (ansible_connection=
local), each its own wrapper in release mode on its own port and releases
directory, all under one real supervisord, with HTTP load on every host
throughout.  They check what each host serves and what its link names
afterwards, not what Ansible printed."""

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import control_helpers as ch
import helpers
import versions
from helpers import wait_for

ANSIBLE_PLAYBOOK = shutil.which("ansible-playbook")
PLAYBOOK = Path(__file__).resolve().parents[2] / "contrib" / "ansible" / "deploy.yml"

pytestmark = pytest.mark.skipif(
    ANSIBLE_PLAYBOOK is None,
    reason="ansible-playbook not installed (Debian's ansible-core; tools/install-deps "
           "installs it)")


def _has_ansible_posix():
    r = subprocess.run(["ansible-doc", "-t", "module", "ansible.posix.synchronize"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return r.returncode == 0 and shutil.which("rsync") is not None


class Host:
    def __init__(self, fleet, i):
        self.gw = fleet.gw
        self.name = "web{}".format(i)
        self.root = fleet.root / self.name
        self.releases = self.root / "releases"
        self.link = self.root / "current"
        self.port = helpers.free_port()
        self.load = None

    def linked(self):
        return os.path.basename(os.readlink(self.link))

    def status(self):
        return ch.gwctl_json(self.gw, "status", self.name)

    def history(self):
        return self.status()["history"]

    def serves(self, version, timeout=30):
        def ok():
            try:
                status, body = helpers.http_get(self.port, timeout=2)
            except OSError:
                return False
            parsed = helpers.parse_body(body) if status == 200 else None
            return parsed is not None and parsed[0] == version
        wait_for(ok, timeout, "{} to serve {}".format(self.name, version), interval=0.1)


class Fleet:
    """N hosts, each SRV/webN/{releases/v1, current -> releases/v1}, a
    wrapper each under one supervisord; releases to deploy are built on the
    "controller" in build/NAME."""

    def __init__(self, gw, n=4):
        versions.install_apps(gw)
        self.gw = gw
        self.root = gw.tmp / "fleet"
        self.build_dir = self.root / "build"
        self.hosts = [Host(self, i) for i in range(1, n + 1)]
        for h in self.hosts:
            self._release(h.releases / "v1", "v1")
            os.symlink(str(h.releases / "v1"), h.link)
        self.sv = helpers.Supervisor(gw, command=["true"])
        self.sv.conf.write_text(helpers.supervisord_head(self.sv.sock, gw.tmp) +
                                "".join(self._program(h) for h in self.hosts))
        home = gw.tmp / "home"
        home.mkdir()
        (gw.tmp / "ansible.cfg").write_text("[defaults]\n")
        self.env = {"HOME": str(home), "ANSIBLE_CONFIG": str(gw.tmp / "ansible.cfg"),
                    "ANSIBLE_LOCAL_TEMP": str(gw.tmp / "ansible-local"),
                    "ANSIBLE_REMOTE_TEMP": str(gw.tmp / "ansible-remote"),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                    "ANSIBLE_PYTHON_INTERPRETER": helpers.PYTHON}

    def _release(self, path, version):
        path.mkdir(parents=True)
        (path / "rapp.py").write_text((self.gw.app_dir / "rapp.py").read_text())
        (path / "version.txt").write_text(version + "\n")

    def build(self, name, version):
        """A release on the controller, build/NAME, serving `version`."""
        self._release(self.build_dir / name, version)
        return self.build_dir / name

    def _program(self, h):
        cmd = [helpers.GW_BIN, "--name", h.name, "--run-dir", str(self.gw.run_dir),
               "--gunicorn", helpers.GUNICORN, "--warmup", "30", "--probation", "0.5",
               "--releases", str(h.releases), "--", "-w", "2",
               "-b", "127.0.0.1:{}".format(h.port), "--chdir", str(h.link), "rapp:app"]
        return """
[program:{name}]
command={cmd}
directory={t}
autostart=true
autorestart=true
startsecs=1
stopsignal=TERM
stopwaitsecs=30
redirect_stderr=true
stdout_logfile={t}/{name}.log
stdout_logfile_maxbytes=0
""".format(name=h.name, cmd=" ".join(cmd), t=self.gw.tmp)

    def start(self):
        self.sv.start()
        for h in self.hosts:
            h.serves("v1")
        return self

    def inventory(self, src=None, **extra):
        """The inventory: every host local; src, {host name: build NAME}, a
        host's own release source (default: the release's name), under
        build/ (or, if it starts with "./", relative to the directory
        ansible-playbook runs in)."""
        lines = ["[web]"]
        for h in self.hosts:
            v = {"ansible_connection": "local",
                 "ansible_python_interpreter": helpers.PYTHON,
                 "gunicorn_wrapper_name": h.name,
                 "gunicorn_wrapper_releases": str(h.releases),
                 "gunicorn_wrapper_run_dir": str(self.gw.run_dir),
                 "gunicorn_wrapper_gwctl": str(ch.GWCTL_BIN)}
            if src and h.name in src:
                v["gunicorn_wrapper_src"] = src[h.name] if src[h.name].startswith("./") \
                    else str(self.build_dir / src[h.name])
            v.update(extra)
            lines.append(h.name + " " + " ".join("{}={}".format(k, x) for k, x in v.items()))
        path = self.gw.tmp / "inventory"
        path.write_text("\n".join(lines) + "\n")
        return path

    def play(self, release, *args, src=None, **extra):
        """ansible-playbook -v deploy.yml for release (build/RELEASE unless
        src says otherwise per host); returns the CompletedProcess, with
        .deploys, each host's result of the deploy task."""
        src = {h.name: (src or {}).get(h.name, release) for h in self.hosts}
        argv = [ANSIBLE_PLAYBOOK, "-v", "-i", str(self.inventory(src, **extra)),
                str(PLAYBOOK), "-e", "gunicorn_wrapper_release=" + release] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                           env=self.gw.base_env(self.env), stdin=subprocess.DEVNULL,
                           cwd=str(self.gw.tmp))
        r.deploys = task_results(r.stdout, "gunicorn_wrapper : Deploy the release")
        return r

    @contextlib.contextmanager
    def loaded(self, hosts=None):
        """Light HTTP load on every host (or those given) meanwhile."""
        loads = {h.name: helpers.LoadGenerator(h.port, clients=1, pause=0.02,
                                               max_duration=400)
                 for h in (hosts or self.hosts)}
        for lg in loads.values():
            lg.start()
        try:
            yield loads
        finally:
            for lg in loads.values():
                lg.stop()

    def shutdown(self):
        assert self.sv.shutdown(timeout=60) == 0


def task_results(out, task):
    """{host: result} of one task, from ansible-playbook -v's output: the
    JSON after "ok: [host] =>", "changed: [host] =>" or "fatal: [host]:
    FAILED! =>" under the task's banner."""
    got, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^TASK \[(.*)\] \*+$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^(ok|changed|fatal): \[(web\d+)\](?:: FAILED!)? => (\{.*\})$", line)
        if m and current == task:
            got[m.group(2)] = json.loads(m.group(3))
    return got


def recap(out):
    """{host: {ok: N, changed: N, failed: N, ...}} from PLAY RECAP."""
    got = {}
    for m in re.finditer(r"^(web\d+)\s+:\s+(.*)$", out, re.M):
        got[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return got


def deploys(h):
    return [e for e in h.history() if e["trigger"] == "control"]


@pytest.fixture
def fleet(gw):
    f = Fleet(gw).start()
    yield f
    f.shutdown()


def test_good_roll_check_mode_and_a_second_run(fleet):
    """--check reports every host as changing and touches none; the roll
    then moves all four to v2 with no failed request, each registering the
    result object; a second run changes nothing; new files under the
    serving release's name are refused before anything is written."""
    fleet.build("v2", "v2")
    with fleet.loaded() as loads:
        r = fleet.play("v2", "--check")
        assert r.returncode == 0, r.stdout + r.stderr
        for h in fleet.hosts:
            assert recap(r.stdout)[h.name]["failed"] == 0, r.stdout
            assert h.linked() == "v1" and not (h.releases / "v2").exists()
            assert deploys(h) == [], h.name
            d = r.deploys[h.name]
            assert d["changed"] is True and d["result"] is None and \
                "would deploy" in d["msg"], d

        r = fleet.play("v2")
        assert r.returncode == 0, r.stdout + r.stderr
        for h in fleet.hosts:
            assert h.linked() == "v2", h.name
            h.serves("v2")
            [e] = deploys(h)
            assert e["result"] == "ok" and e["release"] == str(h.releases / "v2"), e
            d = r.deploys[h.name]
            assert d["changed"] is True and d["rc"] == 0, d
            assert not ch.result_problems(d["result"], ordered=False), d
            assert d["result"]["id"] == e["id"] and d["release"] == e["release"] and \
                d["previous_release"] == str(h.releases / "v1"), (d, e)
        # serial 1: each host's deploy began after the one before it ended
        ends = [(deploys(h)[0]["started"], deploys(h)[0]["started"] +
                 deploys(h)[0]["duration"]) for h in fleet.hosts]
        assert all(b[0] >= a[1] for a, b in zip(ends, ends[1:])), ends

        r = fleet.play("v2")
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(v["changed"] == 0 for v in recap(r.stdout).values()), r.stdout
        assert all(len(deploys(h)) == 1 for h in fleet.hosts)
        assert all("serves already" in d["msg"] for d in r.deploys.values()), r.deploys

        # Other files under the serving release's name: refused on web1,
        # whose serving release keeps its files; the roll stops there.
        (fleet.build_dir / "v2" / "version.txt").write_text("broken\n")
        r = fleet.play("v2")
        assert r.returncode != 0 and set(recap(r.stdout)) == {"web1"}, r.stdout
        assert "serves on this host and the source differs from it" in r.stdout, r.stdout
        for h in fleet.hosts:
            assert (h.releases / "v2" / "version.txt").read_text() == "v2\n", h.name
            assert len(deploys(h)) == 1, h.name
    for name, lg in loads.items():
        lg.assert_no_failures()
        assert "v2" in lg.versions(), (name, lg.summary())


def test_release_broken_on_host_three_stops_the_roll(fleet):
    """The roll stops at web3 with the wrapper's reason; web3 serves v1 and
    its link names v1, web4 is untouched; then a supervisorctl restart of
    web3 serves v1 again, not the broken release on its disk."""
    fleet.build("v2", "v2")
    fleet.build("v2-broken", "broken")
    web1, web2, web3, web4 = fleet.hosts
    with fleet.loaded() as loads:
        r = fleet.play("v2", src={"web3": "v2-broken"})
        assert r.returncode != 0, r.stdout
        rc = recap(r.stdout)
        assert set(rc) == {"web1", "web2", "web3"}, r.stdout
        assert rc["web3"]["failed"] == 1 and rc["web1"]["failed"] == rc["web2"]["failed"] == 0
        # The task's message is the wrapper's reason.
        m = re.search(r'^fatal: \[web3\]: FAILED! => .*"msg": "web3: deploy failed: ([^"]+)"',
                      r.stdout, re.M)
        assert m, r.stdout
        [e] = deploys(web3)
        assert e["result"] == "failed" and e["reason"] in m.group(1), (e, m.group(1))
        d = r.deploys["web3"]
        assert d["rc"] == 1 and not ch.result_problems(d["result"], ordered=False), d
        assert d["result"]["result"] == "failed" and \
            d["release"] == d["result"]["release"] == str(web3.releases / "v1"), d
        for h in (web1, web2):
            assert h.linked() == "v2"
            h.serves("v2")
        assert web3.linked() == "v1", "the failed host's link left the serving release"
        web3.serves("v1")
        assert web4.linked() == "v1" and deploys(web4) == [] and \
            not (web4.releases / "v2").exists()
        for lg in loads.values():
            lg.assert_no_failures()
        v3 = loads["web3"].versions()
        assert set(v3) == {"v1"}, loads["web3"].summary()
    r = fleet.sv.ctl("restart", "web3", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    web3.serves("v1")
    with fleet.loaded([web3]) as loads:
        wait_for(lambda: len(loads["web3"].results) >= 30, 30, "30 requests to web3")
    loads["web3"].assert_no_failures()
    assert set(loads["web3"].versions()) == {"v1"}
    assert web3.linked() == "v1"


def test_wrapper_down_stops_the_roll(fleet):
    """A wrapper that is not running fails its host with gwctl's reason;
    the hosts after it are not touched, the others serve throughout."""
    fleet.build("v2", "v2")
    web1, web2, web3, web4 = fleet.hosts
    r = fleet.sv.ctl("stop", "web2", timeout=60)
    assert r.returncode == 0, r.stdout
    with fleet.loaded([web1, web3, web4]) as loads:
        r = fleet.play("v2")
        assert r.returncode != 0, r.stdout
        rc = recap(r.stdout)
        assert set(rc) == {"web1", "web2"} and rc["web2"]["failed"] == 1, r.stdout
        assert re.search(r'^fatal: \[web2\]: FAILED! => .*"msg": "web2: [^"]*web2\.sock',
                         r.stdout, re.M), r.stdout
        assert web1.linked() == "v2" and web2.linked() == "v1"
        for h in (web3, web4):
            assert h.linked() == "v1" and deploys(h) == []
    for lg in loads.values():
        lg.assert_no_failures()
    # A host without gwctl: one line, before any file is written.
    r = fleet.play("v2", gunicorn_wrapper_gwctl="/nonexistent/gwctl")
    assert r.returncode != 0 and set(recap(r.stdout)) == {"web1"}, r.stdout
    assert "web1: gwctl not found: /nonexistent/gwctl" in r.stdout, r.stdout
    assert fleet.sv.ctl("start", "web2", timeout=60).returncode == 0
    web2.serves("v1")
    # transfer none: the release is on every host already (built there).
    for h in fleet.hosts:
        fleet._release(h.releases / "v3", "v3")
    r = fleet.play("v3", gunicorn_wrapper_transfer="none")
    assert r.returncode == 0, r.stdout + r.stderr
    for h in fleet.hosts:
        assert h.linked() == "v3"
        h.serves("v3")
    # ... and a release that is on no host: refused, nothing changes.
    r = fleet.play("v4", "--check", gunicorn_wrapper_transfer="none")
    assert r.returncode != 0 and "v4: no such directory" in r.stdout, r.stdout


def test_serial_half_rolls_two_batches(fleet):
    """serial: 50% deploys two hosts at once, then the other two; the
    source given relative to where ansible-playbook runs."""
    fleet.build("v2", "v2")
    rel = "./" + str((fleet.build_dir / "v2").relative_to(fleet.gw.tmp))
    with fleet.loaded() as loads:
        r = fleet.play("v2", "-e", "deploy_serial=50%",
                       src={h.name: rel for h in fleet.hosts})
        assert r.returncode == 0, r.stdout + r.stderr
    for lg in loads.values():
        lg.assert_no_failures()
    spans = {}
    for h in fleet.hosts:
        assert h.linked() == "v2"
        h.serves("v2")
        [e] = deploys(h)
        spans[h.name] = (e["started"], e["started"] + e["duration"])
    assert r.stdout.count("PLAY [Deploy a release with gunicorn-wrapper]") == 2, r.stdout
    first = {n for n in spans if n in ("web1", "web2")}
    # the second batch began after the whole first batch had ended
    assert min(spans[n][0] for n in ("web3", "web4")) >= \
        max(spans[n][1] for n in first), spans


def test_synchronize_transfer(gw):
    """gunicorn_wrapper_transfer=synchronize (ansible.posix, rsync) rolls a
    release as copy does, deleting files the source does not have, but for
    the bytecode of a release that has run."""
    if not _has_ansible_posix():
        pytest.skip("ansible.posix.synchronize or rsync not installed (Debian's "
                    "ansible and rsync)")
    fleet = Fleet(gw, n=2).start()
    try:
        fleet.build("v2", "v2")
        for h in fleet.hosts:
            (h.releases / "v2").mkdir()
            (h.releases / "v2" / "stale.txt").write_text("left over\n")
        with fleet.loaded() as loads:
            r = fleet.play("v2", gunicorn_wrapper_transfer="synchronize")
            assert r.returncode == 0, r.stdout + r.stderr
        for lg in loads.values():
            lg.assert_no_failures()
        for h in fleet.hosts:
            assert h.linked() == "v2" and not (h.releases / "v2" / "stale.txt").exists()
            h.serves("v2")
            # Bytecode Python wrote beside the code it imported: not a
            # difference from the source (a re-run changes nothing).
            (h.releases / "v2" / "__pycache__").mkdir(exist_ok=True)
            (h.releases / "v2" / "__pycache__" / "rapp.cpython-311.pyc").write_bytes(b"x")
        r = fleet.play("v2", gunicorn_wrapper_transfer="synchronize")
        assert r.returncode == 0, r.stdout + r.stderr
        assert all("serves already" in d["msg"] for d in r.deploys.values()), r.deploys
    finally:
        fleet.shutdown()
