"""Per-tenant request throttling as a token bucket, in its GCRA form: one number per tenant, no I/O.

`tat` ("theoretical arrival time", epoch seconds) is when the tenant's bucket is full again. A request at
`now` costs `interval = 1 / rate`; it is admitted when, after paying, the bucket would not be more than
`burst` requests behind: `max(tat, now) + interval - now <= burst * interval`. A refused request pays
nothing and is told how long until one would be admitted (Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass

# Epoch seconds (~1.8e9) carry about 0.2 µs of float precision: a request exactly on the bucket's edge
# must not be refused for a rounding error.
EPSILON = 1e-6


@dataclass(frozen=True)
class RequestRate:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a request rate needs a positive rate and a burst of at least 1")

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def window(self) -> float:
        """How far ahead of now `tat` may run: the burst, in seconds."""
        return self.burst * self.interval

    def admit(self, tat: float | None, now: float) -> tuple[float | None, float]:
        """(the new tat, 0) when admitted; (None, seconds to wait) when not."""
        paid = max(tat if tat is not None else now, now) + self.interval
        if paid - now <= self.window + EPSILON:
            return paid, 0.0
        return None, paid - now - self.window
