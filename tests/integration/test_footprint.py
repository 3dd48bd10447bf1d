# SPDX-License-Identifier: MIT
"""The daemon's descriptors and memory stay flat under use.

Why this file exists: the wrapper runs for months between restarts, and
consul-template may reload it every minute.  Anything it leaks per request
or per reload (a pidfd, an inotify descriptor, a client buffer, a history
entry) would sooner or later take the site down.  So: 10,000 status
requests and 50 reloads, and the open descriptors and RSS measured before
and after must not grow.
"""

import os
import time

import control_helpers as ch
import helpers

RELOADS = 50
STATUS_REQUESTS = 10000


def fd_count(pid):
    return len(os.listdir("/proc/{}/fd".format(pid)))


def settled_fd_count(pid):
    """The fewest descriptors seen over half a second: a control client
    that just hung up, or a master that just exited, is still being closed
    for an instant."""
    counts = []
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        counts.append(fd_count(pid))
        time.sleep(0.02)
    return min(counts)


def rss_kib(pid):
    with open("/proc/{}/status".format(pid)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for {}".format(pid))


def status_burst(sock, n):
    """n status requests: half on one connection, half one per connection."""
    with ch.ControlClient(sock, timeout=10) as c:
        for _ in range(n // 2):
            assert c.request({"cmd": "status"})["ok"]
    for _ in range(n // 2):
        assert ch.status(sock)["ok"]


def reload_burst(sock, n):
    for _ in range(n):
        rep = ch.call(sock, {"cmd": "reload", "wait": True}, timeout=30)
        assert rep["ok"], rep


def test_fds_and_rss_flat(gw):
    """After a warm-up round (allocator pools, first history entries),
    10,000 status requests and 50 reloads leave the daemon's descriptor
    count unchanged and its RSS within 256 KiB of where it was."""
    w = gw.wrapper(workers=1, warmup=20, app_env={"GW_PROBATION": "0"})  # no probation: 50 reloads
    w.wait_ready(timeout=30)
    sock = ch.sock_path(gw)
    # Warm-up: the allocator's pools, the first history entries.  The
    # ring's last 40 entries still to come cost a few KiB, well inside
    # the allowance.
    status_burst(sock, 1000)
    reload_burst(sock, 10)
    fds0, rss0 = settled_fd_count(w.pid), rss_kib(w.pid)

    with gw.load(clients=2) as load:
        status_burst(sock, STATUS_REQUESTS)
        reload_burst(sock, RELOADS)
    load.assert_no_failures()

    fds1, rss1 = settled_fd_count(w.pid), rss_kib(w.pid)
    hist = ch.status(sock)["history"]
    assert len(hist) == 50 and hist[-1]["id"] == 60, [e["id"] for e in hist]
    assert fds1 <= fds0, "descriptors grew: {} -> {}: {}".format(
        fds0, fds1, sorted(os.listdir("/proc/{}/fd".format(w.pid))))
    # Under AddressSanitizer, freed memory sits in a quarantine of up to
    # 256 MiB and RSS says nothing; LeakSanitizer checks leaks there.
    if os.environ.get("GW_SANITIZE") != "1":
        assert rss1 - rss0 <= 256, "RSS grew {} KiB -> {} KiB".format(rss0, rss1)
    helpers.wait_for(lambda: gw.masters() == [w.master_pid()], 15,
                     "exactly one master")
