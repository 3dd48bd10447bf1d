# SPDX-License-Identifier: MIT
"""Control-socket latency: `status` round trips over persistent msgpack
connections (python3-msgpack, raw AF_UNIX sockets), and `gwctl status` as a
process, the way a deploy script calls it.

One client: a request, wait for its reply, the next, on one connection.
32 clients: 32 connections driven from one thread with epoll, each with
exactly one request outstanding; a reply is timed and the next request sent
at once.  One thread rather than 32 keeps the client's own scheduling
(Python's GIL) out of the figures as much as possible.
"""

import select
import socket
import subprocess
import time

import msgpack

REQUEST = msgpack.packb({"cmd": "status"})


def _connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def _pcts(lat):
    lat = sorted(lat)
    n = len(lat)

    def q(p):
        return lat[min(n - 1, int(p * n))] if n else None
    return {"n": n, "p50_ms": q(0.50) * 1e3, "p99_ms": q(0.99) * 1e3,
            "max_ms": lat[-1] * 1e3 if n else None}


def one_client(path, seconds=2.0, max_requests=200000):
    s = _connect(path)
    unpacker = msgpack.Unpacker(raw=False)
    lat, bad = [], 0
    mono = time.monotonic
    t_start = mono()
    end = t_start + seconds
    try:
        while len(lat) < max_requests:
            t0 = mono()
            if t0 >= end:
                break
            s.sendall(REQUEST)
            reply = None
            while reply is None:
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("daemon closed the control connection")
                unpacker.feed(data)
                for obj in unpacker:
                    reply = obj
            lat.append(mono() - t0)
            if not (isinstance(reply, dict) and reply.get("ok") is True):
                bad += 1
        elapsed = mono() - t_start
    finally:
        s.close()
    out = _pcts(lat)
    out.update(clients=1, seconds=elapsed, rps=len(lat) / elapsed, bad_replies=bad,
               reply_bytes=len(msgpack.packb(reply)) if lat else None)
    return out


def many_clients(path, clients=32, seconds=2.0):
    socks, unpackers, sent_at = [], {}, {}
    ep = select.epoll()
    lat, bad = [], 0
    mono = time.monotonic
    try:
        for _ in range(clients):
            s = _connect(path)
            s.setblocking(False)
            socks.append(s)
            unpackers[s.fileno()] = (s, msgpack.Unpacker(raw=False))
            ep.register(s.fileno(), select.EPOLLIN)
        t_start = mono()
        end = t_start + seconds
        for s in socks:
            sent_at[s.fileno()] = mono()
            s.send(REQUEST)  # 10 bytes: fits any empty send buffer
        outstanding = clients
        hard_end = end + 10.0
        while outstanding and mono() < hard_end:
            for fd, _ev in ep.poll(0.5):
                s, up = unpackers[fd]
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("daemon closed a control connection")
                up.feed(data)
                for reply in up:
                    now = mono()
                    lat.append(now - sent_at[fd])
                    if not (isinstance(reply, dict) and reply.get("ok") is True):
                        bad += 1
                    if now < end:
                        sent_at[fd] = mono()
                        s.send(REQUEST)
                    else:
                        outstanding -= 1
        elapsed = mono() - t_start
    finally:
        ep.close()
        for s in socks:
            s.close()
    out = _pcts(lat)
    out.update(clients=clients, seconds=elapsed, rps=len(lat) / elapsed, bad_replies=bad)
    return out


def gwctl_process(gwctl, sock, runs=20):
    """Wall time of `gwctl --json -s SOCK status`, a fresh process each run."""
    lat = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([gwctl, "--json", "-s", sock, "status"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        lat.append(time.monotonic() - t0)
        if r.returncode != 0:
            raise RuntimeError("gwctl status exited {}".format(r.returncode))
    out = _pcts(lat)
    out["runs"] = runs
    return out
