#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the hostile seeds of tests/fuzz/corpus/history (run from the top).

Why this file exists: the history parser's hard cases are easier to read
as the code that builds them than as binary files.  Each seed is replayed
by `make unit` through fuzz_history_one(), which also traps when the
parser works more than linearly or lets an out-of-range number through.

    hostile-numbers   ids, PIDs, workers and times out of range or of the
                      wrong kind (2^40 workers, NaN, -0, 1e308, 2^64-1 ids)
    magic-every-12    "GWH1" every 12 bytes, each claiming a 4 KB record
                      with a wrong CRC: 6.5 s for 1 MB before the parser
                      kept prefix CRCs
    nested-crc-valid  overlapping records whose CRCs all match but which
                      are not entries: each is skipped whole
    torn-then-good    a record cut short, then a good one
    same-id-twice     a reload's record, then a later one of the same id:
                      the later replaces it
"""

import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import history_file  # noqa: E402

DIR = "tests/fuzz/corpus/history"


record = history_file.record
entry = history_file.entry


def hostile_numbers():
    nan, inf = float("nan"), float("inf")
    out = [
        entry(id=1, workers=2 ** 40, old_master=-5, new_master=2 ** 40,
              started=nan, duration=1e308, t_fork=-0.0, t_drain=inf),
        entry(id=2.5),                      # not an integer: invalid
        entry(id=0),                        # out of range: invalid
        entry(id=2 ** 64 - 1),              # out of range: invalid
        entry(id=-3),                       # invalid
        entry(id=3, workers=-1, started=-1e300, duration=-inf,
              old_master=4194305, new_master=12.5, t_warmup=1e7),
        entry(id=4, workers=1.5, started=1e11, t_check="1",
              t_settle=[1], result="failed", reason=None),
        entry(id=5, workers=100000, old_master=4194304,
              new_master=1, duration=1e6),  # the edges: kept
        entry(id=4000000000),
        entry(id=4000000001),               # above HISTORY_ID_MAX
    ]
    return b"".join(record(p) for p in out)


def magic_every_12(size=24 * 1024):
    unit = b"GWH1" + struct.pack(">II", 4096, 0xdeadbeef)
    return (unit * (size // 12 + 1))[:size]


def nested_crc_valid(n=400, rlen=4096):
    buf = bytearray((b"GWH1" + struct.pack(">II", rlen, 0)) * n)
    buf += bytes(rlen)
    for k in reversed(range(n)):
        at = 12 * k
        crc = zlib.crc32(bytes(buf[at + 12:at + 12 + rlen]))
        buf[at + 8:at + 12] = struct.pack(">I", crc)
    return bytes(buf)


def torn_then_good():
    return record(entry(id=1))[:-7] + record(entry(id=2))


def same_id_twice():
    return (record(entry(id=1)) + record(entry(id=2, result="running"))
            + record(entry(id=2, result="failed", reason="interrupted"))
            + record(entry(id=3)))


def main():
    seeds = {"same-id-twice": same_id_twice(),
             "hostile-numbers": hostile_numbers(),
             "magic-every-12": magic_every_12(),
             "nested-crc-valid": nested_crc_valid(),
             "torn-then-good": torn_then_good()}
    for name, data in seeds.items():
        with open(os.path.join(DIR, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
