"""The daily cap on first contacts of a number, kept in the Table so restarts and other connectors share it.

Rows, in the session's partition (keys: wagate/store/keys.py):
    peer                      a recipient this number has written to (kept: "never before" means ever),
                              keyed by the recipient's blind index (wagate/store/blind_index.py)
    first-contact day         `count` of new recipients that UTC day (TTL a few days after)
A new recipient is counted in one transaction with its PEER row: the counter only moves under the cap
(an atomic add with a condition) and only for a PEER row that did not exist, so two connectors racing
for the same recipient count it once, and a crash can never count without recording or the reverse.
Groups are never first contacts. Synchronous: call through asyncio.to_thread.
"""

from __future__ import annotations

import datetime as dt
import math

from wagate.conditions import Attr, item_absent
from wagate.domain.errors import ConflictError
from wagate.ports import Clock, Put, Table, Update
from wagate.store import blind_index, keys

KEEP_DAY_COUNTERS_SECONDS = 3 * 24 * 3600


def utc_day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


class FirstContacts:
    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    def reserve(self, tenant_id: str, session_id: str, to: str, message_id: str, cap: int) -> bool:
        """Whether `to` may be written to now: a known peer, a group, no cap, or a new recipient still
        under today's cap (then counted, and remembered as a peer). Raises TransientError."""
        if cap <= 0 or "@" in to:
            return True
        peer_key = self._peer(tenant_id, session_id, to)
        if self._table.get(*peer_key) is not None:
            return True
        if self._table.get(*keys.legacy_first_contact_peer(tenant_id, session_id, to)) is not None:
            return True  # recorded before the blind index (moved by `wagate admin encrypt-existing`)
        now = self._clock.now()
        day = utc_day(now)
        under_cap = Attr("count").not_exists() | Attr("count").lt(cap)
        peer = {"pk": peer_key.pk, "sk": peer_key.sk, "to": to, "first_at": now, "day": day}
        peer["message_id"] = message_id
        try:
            self._table.transact_write(
                [
                    Put(peer, condition=item_absent()),
                    Update(
                        *keys.first_contact_day(tenant_id, session_id, day),
                        add={"count": 1},
                        set={"day": day, "expires_at": math.ceil(now + KEEP_DAY_COUNTERS_SECONDS)},
                        condition=under_cap,
                    ),
                ]
            )
        except ConflictError:
            # Either someone recorded this peer meanwhile (then it is known), or the day is full.
            return self._table.get(*peer_key) is not None
        return True

    def release(self, tenant_id: str, session_id: str, to: str, message_id: str) -> None:
        """Undo this message's reservation (WhatsApp refused it: nobody was contacted)."""
        try:
            peer_key = self._peer(tenant_id, session_id, to)
            old = self._table.delete(*peer_key, condition=Attr("message_id").eq(message_id))
        except ConflictError:
            return  # recorded by another message: that one did contact them
        if old is not None:
            try:
                self._table.update(
                    *keys.first_contact_day(tenant_id, session_id, str(old["day"])),
                    add={"count": -1},
                    condition=Attr("count").gt(0),
                )
            except ConflictError:
                pass  # that day's counter is gone (expired): nothing to give back

    def _peer(self, tenant_id: str, session_id: str, to: str) -> keys.Key:
        return keys.first_contact_peer(tenant_id, session_id, blind_index.person(self._table, tenant_id, to))

    def used(self, tenant_id: str, session_id: str, day: str) -> int:
        row = self._table.get(*keys.first_contact_day(tenant_id, session_id, day))
        return int(row.get("count", 0)) if row else 0
