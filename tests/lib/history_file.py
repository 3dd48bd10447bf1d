# SPDX-License-Identifier: MIT
"""The daemon's history file, as the tests and the bench write it.

Why this file exists: tests seed a wrapper's NAME.history (a crash
mid-reload, 50 failures after a success, a torn record), the fuzz corpus
is built from hostile records, and the bench seeds a long history.  Each
had its own copy of the framing and of an entry, and the copies differed
(some entries had no t_probation, release or down).  The format is
daemon/history.c's: each record is "GWH1", the payload's length and its
CRC-32 (big-endian), then the payload, one msgpack map (a history entry,
gunicorn-wrapper-protocol(7)).
"""

import struct
import zlib

import msgpack

MAGIC = b"GWH1"


def record(payload):
    """One framed record around payload (bytes)."""
    return MAGIC + struct.pack(">II", len(payload), zlib.crc32(payload) & 0xffffffff) + payload


def entry_map(**kw):
    """A whole, valid history entry (every field the daemon writes), with
    kw's fields instead."""
    e = {"id": 1, "trigger": "signal", "started": 1700000000.0,
         "duration": 1.5, "result": "ok", "reason": None,
         "old_master": 100, "new_master": 200, "workers": 2, "note": None,
         "release": None, "old_release": None, "down": False,
         "t_check": None, "t_settle": None, "t_fork": 0.01,
         "t_warmup": 1.0, "t_probation": None, "t_drain": 0.2, "t_promote": 0.1}
    e.update(kw)
    return e


def entry(**kw):
    """entry_map(**kw), packed: a record's payload."""
    return msgpack.packb(entry_map(**kw), use_bin_type=True)
