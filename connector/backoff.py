"""When to reconnect: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_BASE_SECONDS = 1.0
DEFAULT_CAP_SECONDS = 300.0
_MAX_EXPONENT = 60  # 2**60 seconds is far past any cap; stops float overflow on absurd attempt counts


def backoff(
    attempt: int,
    *,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect `attempt` (0 for the first retry): uniform in
    [0, min(cap, base * 2**attempt)]. Full jitter spreads a crowd of sessions that dropped together
    (a network blip, a connector restart) instead of having them all reconnect in lockstep."""
    if attempt < 0:
        raise ValueError("attempt must be at least 0")
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))
    return ceiling * rand()
