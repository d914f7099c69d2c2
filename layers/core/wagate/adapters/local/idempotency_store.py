"""Powertools idempotency records on the Table port: the local (SQLite) twin of its DynamoDB layer.

A record (its key: wagate/store/keys.py) is written with the same rule as Powertools'
DynamoDB layer: only when absent, expired, or stuck in progress past its in-progress expiry. Expired
records carry the table's TTL (`expires_at`), so they also count as absent and are purged.

One rule more than Powertools: an in-progress record names the process running its request
(`process_liveness`), and a record whose process is provably gone (killed with its request, on this host)
is taken over at once, rather than after the in-progress expiry (the invocation's whole timeout).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from wagate import process_liveness
from wagate.conditions import Attr, item_absent
from wagate.domain.errors import ConflictError
from wagate.ports import Item, Table
from wagate.store import keys

_IN_PROGRESS = STATUS_CONSTANTS["INPROGRESS"]
log = logging.getLogger("wagate.idempotency")


class TableIdempotencyStore(BasePersistenceLayer):
    def __init__(self, table: Table) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._table = table

    def _key(self, idempotency_key: str) -> tuple[str, str]:
        return keys.idempotency_record(idempotency_key)

    def _get_record(self, idempotency_key: str) -> DataRecord:
        item = self._table.get(*self._key(idempotency_key))
        if item is None:
            raise IdempotencyItemNotFoundError
        return _record(item)

    def _put_record(self, data_record: DataRecord) -> None:
        pk, sk = self._key(data_record.idempotency_key)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "key": data_record.idempotency_key,
            "status": data_record.status,
            "expiry": data_record.expiry_timestamp,
            "expires_at": data_record.expiry_timestamp,
        }
        if data_record.in_progress_expiry_timestamp is not None:
            item["in_progress_expiry"] = data_record.in_progress_expiry_timestamp
        if self.payload_validation_enabled and data_record.payload_hash:
            item["validation"] = data_record.payload_hash
        item.update(process_liveness.current().attributes())
        now_ms = int(time.time() * 1000)
        stuck = Attr("status").eq(_IN_PROGRESS) & Attr("in_progress_expiry").lt(now_ms)
        try:
            self._table.put(item, condition=item_absent() | stuck)
        except ConflictError as exc:
            existing = self._table.get(pk, sk)
            if existing is None:  # expired between the two reads: let the caller retry
                raise IdempotencyItemAlreadyExistsError() from exc
            if self._take_over_orphan(item, existing, data_record):
                return
            old = _record(existing)
            self._validate_payload(data_payload=data_record, stored_data_record=old)
            self._save_to_cache(data_record=old)
            raise IdempotencyItemAlreadyExistsError(old_data_record=old) from exc

    def _take_over_orphan(self, item: Item, existing: Item, data_record: DataRecord) -> bool:
        """Write `item` over an in-progress record whose process is provably gone; False if it is not.
        Raises IdempotencyValidationError when the retry's body differs from the dead request's."""
        writer = process_liveness.writer_of(existing)
        if existing.get("status") != _IN_PROGRESS or not process_liveness.is_gone(writer):
            return False
        self._validate_payload(data_payload=data_record, stored_data_record=_record(existing))
        same_record = Attr("status").eq(_IN_PROGRESS)
        for name, value in (writer.attributes() if writer else {}).items():
            same_record = same_record & Attr(name).eq(value)
        try:
            self._table.put(item, condition=same_record)
        except ConflictError:  # another retry took it first, or its request finished after all
            return False
        log.warning(
            "idempotency key %s released: its request died with %s",
            item["key"],
            writer.label() if writer else "its process",
        )
        return True

    def _update_record(self, data_record: DataRecord) -> None:
        changes: dict[str, Any] = {
            "response": data_record.response_data,
            "status": data_record.status,
            "expiry": data_record.expiry_timestamp,
            "expires_at": data_record.expiry_timestamp,
        }
        if self.payload_validation_enabled:
            changes["validation"] = data_record.payload_hash
        self._table.update(*self._key(data_record.idempotency_key), set=changes)

    def _delete_record(self, data_record: DataRecord) -> None:
        self._table.delete(*self._key(data_record.idempotency_key))


def _record(item: Item) -> DataRecord:
    return DataRecord(
        idempotency_key=item["key"],
        status=item["status"],
        expiry_timestamp=item.get("expiry"),
        in_progress_expiry_timestamp=item.get("in_progress_expiry"),
        response_data=str(item.get("response") or ""),
        payload_hash=str(item.get("validation") or ""),
    )
