"""The fake edge's query budgets: WhatsApp throttles an account's lookups, and so does the edge.

Per account and per kind of query (`usync`: number checks and device lists; `w:g2`: group metadata and
the participating list), at most `budget` queries in any `window` seconds (a sliding window); beyond it
the query is answered `<iq type=error><error code=429 text=rate-overlimit/></iq>` and not counted, as
the anchors show WhatsApp answering (whatsmeow errors.go ErrIQRateOverLimit; Baileys' issue threads on
groupMetadata). The real budgets are not published; the defaults are generous enough for every other
test and benchmark, and a test sets a small one (`edge.limits.set("usync", 2, 1.0)`).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Mapping

OVERLIMIT = (429, "rate-overlimit")
DEFAULT_LIMITS: Mapping[str, tuple[int, float]] = {"usync": (600, 60.0), "w:g2": (300, 60.0)}


class QueryLimits:
    def __init__(
        self, limits: Mapping[str, tuple[int, float]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._asked: dict[tuple[str, str], collections.deque[float]] = {}

    def set(self, kind: str, budget: int, window: float) -> None:
        """From now on, `budget` queries of `kind` per account in any `window` seconds."""
        self._limits[kind] = (budget, window)
        self._asked = {key: times for key, times in self._asked.items() if key[1] != kind}

    def allow(self, account: str, kind: str) -> bool:
        """Whether the account may ask one more query of this kind now (counted when it may)."""
        limit = self._limits.get(kind)
        if limit is None:
            return True
        budget, window = limit
        now = self._clock()
        asked = self._asked.setdefault((account, kind), collections.deque())
        while asked and asked[0] <= now - window:
            asked.popleft()
        if len(asked) >= budget:
            return False
        asked.append(now)
        return True
