"""Message rows for connector tests, written exactly as `MessageService.accept` writes them."""

from __future__ import annotations

import time

from wagate.domain.messages import ContentKind, Direction, Message, MessageStatus
from wagate.ports import Table
from wagate.store import keys
from wagate.store.messages import message_item


def put_queued(
    table: Table, session_id: str, message_id: str, to: str, text: str, tenant_id: str = "ten_test"
) -> None:
    """A queued outbound text message (the row a `send` command claims)."""
    now = time.time()
    message = Message(
        id=message_id,
        tenant_id=tenant_id,
        session_id=session_id,
        direction=Direction.OUTBOUND,
        to=to,
        chat=to,
        kind=ContentKind.TEXT,
        text=text,
        status=MessageStatus.QUEUED,
        created_at=now,
        updated_at=now,
        sandbox=True,
    )
    table.put(message_item(message))


def row(table: Table, message_id: str, tenant_id: str = "ten_test") -> dict[str, object]:
    found = table.get(*keys.message(tenant_id, message_id))
    assert found is not None, f"no row for {message_id}"
    return found
