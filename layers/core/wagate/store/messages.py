"""Message rows and their provider-id rows (keys and access patterns: store/keys.py).

A message row is the API's `Message` plus the gateway's bookkeeping on it: `conversation_id`, and the
send claim of whoever sends it (`attempts`, `claimed_by`, `claim_fence`, `claim_command`, `failures`,
`last_error`), which `row` returns as stored. A provider-id row maps a WhatsApp/Meta message id to our
message id; provider ids are unique per session, which is how redelivered events are dropped.
Cross-aggregate writes (a message with its conversation, due entry, pool mark) are one transaction the
services assemble from the operations built here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from wagate.conditions import Condition, SortKey, item_absent
from wagate.domain.conversations import conversation_id
from wagate.domain.errors import NotFound
from wagate.domain.ids import ulid
from wagate.domain.messages import Message
from wagate.ports import Item, Put, Table, Update
from wagate.store import keys

_MESSAGE_FIELDS = frozenset(Message.model_fields) | {"from"}
_LAST_TIME = 253402300799  # 9999-12-31


def to_message(item: Mapping[str, Any]) -> Message:
    return Message.model_validate({k: v for k, v in _without_media_key(item).items() if k in _MESSAGE_FIELDS})


def holds_media_key(item: Mapping[str, Any]) -> bool:
    """Rows stored before wagate kept media held the CDN URL with `mediaKey=` in its fragment."""
    media = item.get("media")
    url = media.get("url") if isinstance(media, Mapping) else None
    return isinstance(url, str) and "mediakey" in url.lower()


def _without_media_key(item: Mapping[str, Any]) -> Mapping[str, Any]:
    if not holds_media_key(item):
        return item
    return {**item, "media": {**item["media"], "url": None}}


def message_item(message: Message) -> Item:
    """The row of a message, with its place in the session's and the conversation's indexes."""
    pk, sk = keys.message(message.tenant_id, message.id)
    conv = conversation_id(message.session_id, message.chat)
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": keys.session_messages_index(message.tenant_id, message.session_id),
        "gsi1sk": message.id,
        "gsi2pk": keys.conversation_messages_index(message.tenant_id, conv),
        "gsi2sk": message.id,
        "conversation_id": conv,
        **message.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def provider_id_item(tenant_id: str, session_id: str, provider_message_id: str, message_id: str) -> Item:
    pk, sk = keys.provider_id(tenant_id, session_id, provider_message_id)
    return {"pk": pk, "sk": sk, "message_id": message_id}


class MessageRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- reads --------------------------------------------------------------------------------------

    def row(self, tenant_id: str, message_id: str) -> Item | None:
        """The stored row, bookkeeping included (the send claim reads and conditions on it)."""
        item = self.table.get(*keys.message(tenant_id, message_id))
        return self.scrubbed(item) if item is not None else None

    def scrubbed(self, item: Item) -> Item:
        """The lazy migration of rows holding a WhatsApp media key: the key is removed from the table the
        first time the row is read (only the `media` attribute is written, so no other change is lost)."""
        if not holds_media_key(item):
            return item
        clean = dict(_without_media_key(item))
        self.table.update(str(item["pk"]), str(item["sk"]), set={"media": clean["media"]})
        return clean

    def get_row(self, tenant_id: str, message_id: str) -> Item:
        """Raises NotFound."""
        item = self.row(tenant_id, message_id)
        if item is None:
            raise NotFound(f"message {message_id} does not exist")
        return item

    def get(self, tenant_id: str, message_id: str) -> Message:
        """Raises NotFound."""
        return to_message(self.get_row(tenant_id, message_id))

    def message_for_request(self, tenant_id: str, request_key: str) -> Message | None:
        """The message a send with this Idempotency-Key stored, if any (and if it still exists)."""
        found = self.table.get(*keys.send_request(tenant_id, _digest(request_key)))
        if not found:
            return None
        row = self.row(tenant_id, str(found["message_id"]))
        return to_message(row) if row else None

    def message_id_of(self, tenant_id: str, session_id: str, provider_message_id: str) -> str | None:
        found = self.table.get(*keys.provider_id(tenant_id, session_id, provider_message_id))
        return str(found["message_id"]) if found else None

    # ---- changes received before the message they name ------------------------------------------------

    def park_change(
        self, tenant_id: str, session_id: str, target_provider_id: str, message_id: str, *, expires_at: int
    ) -> None:
        pk, sk = keys.parked_change(tenant_id, session_id, target_provider_id, message_id)
        self.table.put({"pk": pk, "sk": sk, "message_id": message_id, "expires_at": expires_at})

    def parked_changes(
        self, tenant_id: str, session_id: str, target_provider_id: str
    ) -> list[tuple[keys.Key, str]]:
        """(row key, id of the stored change message) of each change parked for that provider id."""
        page = self.table.query(
            keys.session_partition(tenant_id, session_id),
            sk=SortKey.prefix(keys.parked_change_prefix(target_provider_id)),
        )
        return [(keys.Key(str(i["pk"]), str(i["sk"])), str(i["message_id"])) for i in page.items]

    def unpark_change(self, key: keys.Key) -> None:
        self.table.delete(*key)

    def page(
        self,
        tenant_id: str,
        *,
        session_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Item], str | None]:
        """Rows newest first: a tenant's, or one session's (its index); ids are ULIDs, so a time range is
        a sort-key range."""
        if session_id is not None:
            page = self.table.query(
                keys.session_messages_index(tenant_id, session_id),
                index="gsi1",
                sk=_time_range("", since, until),
                forward=False,
                limit=limit,
                cursor=cursor,
            )
        else:
            page = self.table.query(
                keys.tenant_partition(tenant_id),
                sk=_time_range(keys.MESSAGE_PREFIX, since, until),
                forward=False,
                limit=limit,
                cursor=cursor,
            )
        return [self.scrubbed(item) for item in page.items], page.cursor

    def conversation_page(
        self, tenant_id: str, conv: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Item], str | None]:
        """A conversation's rows, newest first (its index)."""
        page = self.table.query(
            keys.conversation_messages_index(tenant_id, conv),
            index="gsi2",
            forward=False,
            limit=limit,
            cursor=cursor,
        )
        return [self.scrubbed(item) for item in page.items], page.cursor

    # ---- writes -------------------------------------------------------------------------------------

    def put_new(self, message: Message) -> Put:
        """The operation that stores a new message (never over an existing one)."""
        return Put(message_item(message), condition=item_absent())

    def put(self, message: Message) -> Put:
        return Put(message_item(message))

    def put_request_key(self, tenant_id: str, request_key: str, message_id: str, *, expires_at: float) -> Put:
        """Idempotency-Key → the message it stored; only if that key stored nothing yet."""
        pk, sk = keys.send_request(tenant_id, _digest(request_key))
        item = {"pk": pk, "sk": sk, "message_id": message_id, "expires_at": int(expires_at)}
        return Put(item, condition=item_absent())

    def put_provider_id(
        self,
        tenant_id: str,
        session_id: str,
        provider_message_id: str,
        message_id: str,
        *,
        first: bool = False,
    ) -> Put:
        """The provider id → message id row; `first`: only if that provider id was never stored."""
        item = provider_id_item(tenant_id, session_id, provider_message_id, message_id)
        return Put(item, condition=item_absent()) if first else Put(item)

    def change(
        self,
        tenant_id: str,
        message_id: str,
        *,
        set: Mapping[str, Any],
        condition: Condition,
        add: Mapping[str, int | float] | None = None,
    ) -> Update:
        """The operation that changes a message row under `condition` (status, claim, ...)."""
        return Update(
            *keys.message(tenant_id, message_id), set=dict(set), add=dict(add or {}), condition=condition
        )

    def update(
        self,
        tenant_id: str,
        message_id: str,
        *,
        set: Mapping[str, Any],
        condition: Condition,
        add: Mapping[str, int | float] | None = None,
    ) -> Item:
        """Changes a message row under `condition`; returns the new row. Raises ConflictError."""
        return self.table.update(
            *keys.message(tenant_id, message_id), set=dict(set), add=dict(add or {}), condition=condition
        )


def _digest(request_key: str) -> str:
    return hashlib.sha256(request_key.encode()).hexdigest()


def _time_range(prefix: str, since: float | None, until: float | None) -> SortKey | None:
    if since is None and until is None:
        return SortKey.prefix(prefix) if prefix else None
    low = prefix + "msg_" + ulid(since or 0)[:10]
    high = prefix + "msg_" + ulid(until or _LAST_TIME)[:10] + "\uffff"
    return SortKey.between(low, high)
