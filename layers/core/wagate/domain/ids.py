"""Typed, sortable identifiers: a short kind prefix + a ULID (time-ordered, 26 Crockford base32 chars)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import NewType

TenantId = NewType("TenantId", str)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_lock = threading.Lock()
_last = 0


def ulid(now: float | None = None) -> str:
    """48-bit millisecond time + 80 random bits. Monotonic in this process: an id made for the same or an
    earlier millisecond than the previous one sorts right after it (messages in one burst keep order)."""
    global _last
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    with _lock:
        if value <= _last and (_last >> 80) - millis < 2000:
            value = _last + 1
        _last = value
    return "".join([_ALPHABET[(value >> shift) & 31] for shift in _SHIFTS])


_SHIFTS = tuple(range(125, -1, -5))  # the 26 five-bit digits of a 130-bit number, most significant first


def new_id(kind: str, now: float | None = None) -> str:
    """`ten_01J...`, `key_01J...`: the prefix says what an id names, in logs and support tickets."""
    return f"{kind}_{ulid(now)}"


def time_prefix(at: float) -> str:
    """The 10 characters a ULID made at `at` starts with (its millisecond time), for time-range queries.
    Pure, unlike `ulid()`, which also advances this process's monotonic counter."""
    value = max(0, int(at * 1000)) & ((1 << 48) - 1)
    chars = []
    for _ in range(10):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def derived_id(kind: str, at: float, seed: str) -> str:
    """An id in time order (like `new_id`) that one `seed` always gives: whoever records something caused
    by an event twice (a redelivery) writes the same id, and its put-if-absent finds the first."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    tail = []
    for _ in range(16):
        value, index = divmod(value, 32)
        tail.append(_ALPHABET[index])
    return f"{kind}_{time_prefix(at)}{''.join(reversed(tail))}"
