"""Random bytes from the OS CSPRNG, read 4 KiB at a time.

A ballot needs 16 random bytes for its id and ~8 for its receipt. Read one
call at a time, each read released the GIL on the event loop's thread for a
system call, and the loop then waited for the group committer's thread to hand
it back (up to the switch interval): ~5% of a worker's samples in a burst.
The bytes are the same CSPRNG's; a forked worker never reuses its parent's.
"""

from __future__ import annotations

import os
import threading

CHUNK = 4096

_lock = threading.Lock()
_buf = b""
_pos = 0


def _forget() -> None:
    global _lock, _buf, _pos
    _lock, _buf, _pos = threading.Lock(), b"", 0


os.register_at_fork(after_in_child=_forget)


def random_bytes(n: int) -> bytes:
    global _buf, _pos
    if n > CHUNK:
        return os.urandom(n)
    with _lock:
        if _pos + n > len(_buf):
            _buf, _pos = os.urandom(CHUNK), 0
        out = _buf[_pos:_pos + n]
        _pos += n
    return out


def random_below(limit: int) -> int:
    """A uniform integer in [0, limit), by rejection (as secrets.randbelow does)."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    bits = limit.bit_length()
    size = (bits + 7) // 8
    while True:
        n = int.from_bytes(random_bytes(size), "big") >> (size * 8 - bits)
        if n < limit:
            return n
