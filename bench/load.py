# SPDX-License-Identifier: MIT
"""HTTP load generator: N client threads, a new TCP connection per request.

Each client loops: connect to 127.0.0.1:PORT, send one GET with
"Connection: close", read until the server closes, record
(start, end, kind, version, pid), sleep THINK seconds, repeat.  Raw
sockets and a hand-rolled response parse keep the cost per request to a
few tens of microseconds of CPU; the threads spend their time blocked in
the kernel, so the GIL is rarely contended.

Outcome kinds:
  ok          HTTP 200 with the app's body
  http_error  any other HTTP status, or a 200 whose body is not the app's
  refused     connect() refused (nothing listening)
  reset       connection reset, or closed before a complete response
  timeout     no complete response within TIMEOUT seconds (connect or read)
  other       any other socket error (its class name is kept in `detail`)

Bounded: every socket operation has a timeout, and the run ends by itself
after max_duration seconds even if stop() is never called.
"""

import errno
import socket
import threading
import time

from procs import helper_thread

KINDS = ("ok", "http_error", "refused", "reset", "timeout", "other")


class Load:
    def __init__(self, port, clients=16, think=0.02, timeout=10.0, max_duration=150.0):
        self.port = port
        self.clients = clients
        self.think = think
        self.timeout = timeout
        self.max_duration = max_duration
        self._stop = threading.Event()
        self._threads = []
        self._records = [[] for _ in range(clients)]  # one list per thread: no lock
        self.details = {}
        self._first_seen = {}
        self.capped = False
        self._request = ("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
                         "Connection: close\r\n\r\n".format(port)).encode()

    def start(self):
        self._deadline = time.monotonic() + self.max_duration
        for i in range(self.clients):
            th = threading.Thread(target=self._client, args=(self._records[i],),
                                  name="load-{}".format(i), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self, join=True):
        """Stop the clients; with join, wait for the requests in flight
        (bounded by the request timeout).  Returns the threads still running."""
        self._stop.set()
        for th in self._threads if join else ():
            th.join(self.timeout + 2)
        return [th.name for th in self._threads if th.is_alive()]

    def records(self):
        """All records so far, sorted by end time: (start, end, kind, version, pid)."""
        out = []
        for lst in self._records:
            out.extend(lst[:len(lst)])
        out.sort(key=lambda r: r[1])
        return out

    def first_seen(self, version):
        """Monotonic time a successful response of `version` was first
        recorded (approximate across threads; exact figures come from
        records()), or None."""
        return self._first_seen.get(version)

    def _one(self):
        """One request; returns (kind, version, pid)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(("127.0.0.1", self.port))
            s.sendall(self._request)
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
        finally:
            s.close()
        data = b"".join(chunks)
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            return "reset", None, None
        status_line = head.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or status_line[1] != b"200":
            return "http_error", None, None
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip() or b"0")
        if length is not None and len(body) < length:
            return "reset", None, None
        parts = body.split()
        if len(parts) != 2 or not parts[0].startswith(b"version=") or not parts[1].startswith(b"pid="):
            return "http_error", None, None
        return "ok", parts[0][8:].decode(), int(parts[1][4:])

    def _client(self, rec):
        helper_thread()
        stop, think, mono = self._stop, self.think, time.monotonic
        while not stop.is_set():
            t0 = mono()
            if t0 >= self._deadline:
                self.capped = True
                return
            version = pid = None
            try:
                kind, version, pid = self._one()
            except ConnectionRefusedError:
                kind = "refused"
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                kind = "reset"
            except socket.timeout:
                kind = "timeout"
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE):
                    kind = "reset"
                elif e.errno == errno.ECONNREFUSED:
                    kind = "refused"
                else:
                    kind = "other"
                    self.details[type(e).__name__ + ": " + str(e)] = True
            t1 = mono()
            rec.append((t0, t1, kind, version, pid))
            if version is not None and version not in self._first_seen:
                self._first_seen[version] = t1
            if think > 0:
                stop.wait(think)
