"""Typed, sortable identifiers: a short kind prefix + a ULID (time-ordered, 26 Crockford base32 chars)."""

from __future__ import annotations

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
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(kind: str, now: float | None = None) -> str:
    """`ten_01J...`, `key_01J...`: the prefix says what an id names, in logs and support tickets."""
    return f"{kind}_{ulid(now)}"
