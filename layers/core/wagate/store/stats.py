"""The global counters /health reports (tenants, sessions by status), spread over slot rows (keys.py).

Writers add to the slot of the row they count, inside the transaction that writes that row, so the
counters never drift; readers sum every slot (one batch read) plus the single row used before slots.
"""

from __future__ import annotations

from collections.abc import Mapping

from wagate.ports import Table, Update
from wagate.store import keys


def add(counted_id: str, deltas: Mapping[str, int]) -> Update:
    """The transaction operation that moves counters for the row `counted_id` (a session, a tenant)."""
    return Update(*keys.stats_slot_of(counted_id), add=dict(deltas))


def totals(table: Table) -> dict[str, int]:
    """Every counter summed over the slots (and the row from before slots). Attributes that are not
    counters (pk, sk) are left out."""
    rows = table.get_many([keys.STATS, *(keys.stats_slot(n) for n in range(keys.STATS_SLOTS))])
    summed: dict[str, int] = {}
    for row in rows:
        for name, value in (row or {}).items():
            if name not in ("pk", "sk") and isinstance(value, int | float) and not isinstance(value, bool):
                summed[name] = summed.get(name, 0) + int(value)
    return summed
