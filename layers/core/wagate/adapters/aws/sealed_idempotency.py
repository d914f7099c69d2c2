"""Powertools' DynamoDB idempotency layer with the stored response sealed (it holds the message's text).

POST /v1/messages keeps its response for a retry with the same Idempotency-Key; that response is content,
so it is sealed under the system tenant's data key (bound to the idempotency key) on the way in and
opened on the way out. A record written before encryption was on is read as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from wagate.store.content_cipher import is_sealed
from wagate.store.tenant_keys import SYSTEM_TENANT

if TYPE_CHECKING:
    from wagate.store.content_cipher import ContentCipher


def _place(idempotency_key: str) -> str:
    return f"idempotency\x00{idempotency_key}"


def _copy(record: DataRecord, response_data: str | None) -> DataRecord:
    return DataRecord(
        idempotency_key=record.idempotency_key,
        status=record.status,
        expiry_timestamp=record.expiry_timestamp,
        in_progress_expiry_timestamp=record.in_progress_expiry_timestamp,
        response_data=response_data or "",
        payload_hash=record.payload_hash,
        sort_key=record.sort_key,
    )


class SealedDynamoDBPersistenceLayer(DynamoDBPersistenceLayer):
    def __init__(self, cipher: ContentCipher, *, seal: bool = True, **kwargs: Any) -> None:
        """`seal=False` (WAGATE_ENCRYPT_CONTENT=false): responses are stored plain, sealed ones still read."""
        super().__init__(**kwargs)
        self._cipher = cipher
        self._seal = seal

    def _update_record(self, data_record: DataRecord) -> None:
        data = data_record.response_data
        if data and self._seal:
            sealed = self._cipher.seal_bytes(
                self._cipher.keys.key(SYSTEM_TENANT), data.encode(), _place(data_record.idempotency_key)
            )
            data_record = _copy(data_record, sealed)
        super()._update_record(data_record)

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        data = record.response_data
        if is_sealed(data):
            assert data is not None
            opened = self._cipher.open_bytes(SYSTEM_TENANT, data, _place(record.idempotency_key))
            return _copy(record, opened.decode())
        return record
