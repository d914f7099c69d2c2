"""Each tenant's API request bucket (domain/throttle.py) in memory: `wagate serve` is one process, so a
dict under a lock is exact there, and costs no table write per request."""

from __future__ import annotations

import threading

from wagate.domain.throttle import RequestRate
from wagate.ports import Clock


class MemoryRequestBuckets:
    def __init__(self, clock: Clock, rate: RequestRate) -> None:
        self.clock = clock
        self.rate = rate
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, tenant_id: str) -> float:
        """0 when the request is admitted; else the seconds to wait."""
        with self._lock:
            now = self.clock.now()
            admitted, wait = self.rate.admit(self._tat.get(tenant_id), now)
            if admitted is not None:
                self._tat[tenant_id] = admitted
            return wait
