"""Edits, deletes and reactions applied to the message they name, keeping what it said before.

    edit      the target's text (or its attachment's caption) becomes the new one; the old content goes
              to `history` (change "edit"); `edited_at` is set
    delete    the target's text and content are emptied ("This message was deleted"), the old ones go to
              `history` (change "delete"); `deleted_at` is set
    reaction  the reacting person's mark on the target is replaced (an empty emoji removes it); a mark
              older than the one stored changes nothing (receipts and redeliveries arrive out of order)

Each change is idempotent under redelivery: a revision remembers the provider id of the change that made
it, and a second application of that change is a no-op. Writes are conditional on the row's `updated_at`
(re-read and retried on a race), never blind.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from wagate.conditions import Attr
from wagate.domain.content import Delete, Edit, MediaBody, Reaction, Text
from wagate.domain.errors import ConflictError
from wagate.store.messages import MessageRepository, to_message

logger = logging.getLogger(__name__)


class MessageChanges:
    def __init__(self, messages: MessageRepository) -> None:
        self.messages = messages

    def target_of(self, tenant_id: str, session_id: str, content: BaseModel) -> str | None:
        """Our id of the message an edit, delete, reaction or vote names, when we have it."""
        target_id = getattr(content, "target_id", None)
        if target_id:
            return str(target_id)
        provider_id = getattr(content, "target_provider_id", None)
        if not provider_id:
            return None
        return self.messages.message_id_of(tenant_id, session_id, str(provider_id))

    def apply(
        self, tenant_id: str, target_id: str, content: BaseModel, *, by: str, at: float, change_id: str
    ) -> bool:
        """Applies an edit, delete or reaction to `target_id`. True when the row changed."""
        for _ in range(4):
            item = self.messages.row(tenant_id, target_id)
            if item is None:
                return False
            changes = _changes(item, content, by=by, at=at, change_id=change_id)
            if changes is None:
                return False
            condition = (
                Attr("updated_at").eq(item["updated_at"]) if "updated_at" in item else Attr("pk").exists()
            )
            try:
                self.messages.update(tenant_id, target_id, set=changes, condition=condition)
            except ConflictError:
                continue  # a receipt or another change won the race: read again
            return True
        logger.warning("a change to %s lost every race; not applied", target_id)
        return False


def _changes(
    item: dict[str, Any], content: BaseModel, *, by: str, at: float, change_id: str
) -> dict[str, Any] | None:
    message = to_message(item)
    history = [r.model_dump(mode="json", exclude_none=True) for r in message.history]
    if any(r.get("change_id") == change_id for r in history):
        return None  # applied already (a redelivered event)
    stamp = max(at, message.updated_at)
    if isinstance(content, Reaction):
        marks = [m.model_dump(mode="json", by_alias=True) for m in message.reactions]
        mine = next((m for m in marks if m["from"] == by), None)
        if mine is not None and mine["at"] > at:
            return None  # an older reaction arriving late
        marks = [m for m in marks if m["from"] != by]
        if content.emoji:
            marks.append({"from": by, "emoji": content.emoji, "at": at})
        return {"reactions": marks, "updated_at": stamp}
    old: dict[str, Any] = {"text": message.text, "at": at, "change_id": change_id}
    if message.content is not None:
        old["content"] = message.content.model_dump(mode="json", exclude_none=True)
    if isinstance(content, Edit):
        if message.deleted_at is not None:
            return None  # an edit after a delete: nothing left to edit
        new_content: BaseModel | None = Text(body=content.body)
        if isinstance(message.content, MediaBody):
            new_content = message.content.model_copy(update={"caption": content.body[:1024]})
        assert new_content is not None
        return {
            "text": content.body,
            "content": new_content.model_dump(mode="json", exclude_none=True),
            "edited_at": at,
            "history": [*history, {**old, "change": "edit"}],
            "updated_at": stamp,
        }
    if isinstance(content, Delete):
        if message.deleted_at is not None:
            return None
        return {
            "text": None,
            "content": None,
            "deleted_at": at,
            "history": [*history, {**old, "change": "delete"}],
            "updated_at": stamp,
        }
    return None
