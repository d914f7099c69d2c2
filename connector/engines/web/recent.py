"""Recent records kept in the KeyStore, bounded and expiring: what must outlive a reconnect but not grow.

Two uses: the messages we sent (a retry receipt may come after a reconnect and asks us to encrypt the
message again) and the senders of group messages we got (a read receipt in a group names each message's
sender). Kept in memory they vanished at every reconnect, so a retry after one went unanswered.

    <namespace>/<id>        the record: {"at": epoch seconds, "v": base64 value}
    <namespace>/~index      the ids in arrival order with their times, at most `limit`

`remember` writes the record, the index and the deletion of what falls out of it in one put; a record
older than `ttl` reads as absent. The index is read once per connection, then kept in step in memory.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import OrderedDict
from collections.abc import Callable

from connector.engines.keys import KeyNamespace, KeyStore

log = logging.getLogger(__name__)

INDEX = "~index"


class RecentRecords:
    def __init__(
        self,
        keys: KeyStore,
        namespace: KeyNamespace,
        *,
        limit: int,
        ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self._keys = keys
        self._namespace = namespace
        self._limit = max(limit, 1)
        self._ttl = ttl
        self._clock = clock
        self._index: OrderedDict[str, float] | None = None
        self._values: dict[str, bytes] = {}  # what this connection wrote or read, so reads stay local

    async def remember(self, record_id: str, value: bytes) -> None:
        index = await self._loaded()
        now = self._clock()
        index.pop(record_id, None)
        index[record_id] = now
        changes: dict[str, bytes | None] = {record_id: _record(now, value)}
        while len(index) > self._limit or (index and now - next(iter(index.values())) > self._ttl):
            old, _ = index.popitem(last=False)
            changes[old] = None
            self._values.pop(old, None)
        changes[INDEX] = json.dumps(list(index.items())).encode()
        await self._keys.put(self._namespace, changes)
        self._values[record_id] = value

    async def get(self, record_id: str) -> bytes | None:
        if record_id == INDEX:
            return None
        index = await self._loaded()
        at = index.get(record_id)
        if at is None or self._clock() - at > self._ttl:
            return None
        if record_id in self._values:
            return self._values[record_id]
        raw = (await self._keys.get(self._namespace, [record_id])).get(record_id)
        value = _value(raw) if raw is not None else None
        if value is not None:
            self._values[record_id] = value
        return value

    async def _loaded(self) -> OrderedDict[str, float]:
        if self._index is None:
            raw = (await self._keys.get(self._namespace, [INDEX])).get(INDEX)
            index: OrderedDict[str, float] = OrderedDict()
            try:
                for record_id, at in json.loads(raw) if raw else []:
                    index[str(record_id)] = float(at)
            except (ValueError, TypeError):  # unreadable: start a new index (old records expire unread)
                log.warning("an unreadable %s index was replaced", self._namespace)
            self._index = index
        return self._index


def _record(at: float, value: bytes) -> bytes:
    return json.dumps({"at": at, "v": base64.b64encode(value).decode()}).encode()


def _value(raw: bytes) -> bytes | None:
    try:
        return base64.b64decode(json.loads(raw)["v"])
    except (ValueError, KeyError, TypeError):
        return None
