"""The phones at the other end of a sandbox number: its contacts' receipts (delivered, then read by those who
read), Ana's auto-reply, and the messages the `reply` action has one of them send (who is who:
sandbox_network.py)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from connector.config import SandboxSettings
from connector.engines.base import jid_phone, to_jid
from connector.engines.errors import EngineError
from connector.engines.events import Emit, IncomingMessage, Receipt, ReceiptStatus
from connector.engines.sandbox_groups import SandboxGroups
from connector.engines.sandbox_network import ANA, CONTACTS, Contact, contact_for, group_for
from wagate.ports import Clock


class SandboxPhones:
    def __init__(
        self,
        emit: Emit,
        clock: Clock,
        settings: SandboxSettings,
        groups: SandboxGroups,
        me: Callable[[], str],
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._settings = settings
        self._groups = groups
        self._me = me  # the number's jid while it is connected
        self._replying: set[str] = set()  # chats with an auto-reply on its way (one at a time)

    async def answer(self, chat_jid: str, message_id: str, text: str, *, seen: bool = True) -> None:
        """What the recipients' phones do with a message we sent: receipts, and maybe an auto-reply."""
        members = await self._groups.members_of(self._me(), chat_jid) if chat_jid.endswith("@g.us") else None
        readers = members if members is not None else (contact_for(chat_jid),)
        await asyncio.sleep(self._settings.delivered_seconds)
        await self._receipt(chat_jid, message_id, ReceiptStatus.DELIVERED)
        if not any(contact.reads for contact in readers):
            return
        await asyncio.sleep(self._settings.read_seconds)
        await self._receipt(chat_jid, message_id, ReceiptStatus.READ)
        replier = next((c for c in readers if c.replies), None)
        if not seen or replier is None or not self._settings.auto_reply or chat_jid in self._replying:
            return
        # One auto-reply in flight per chat, so a CRM that answers every message cannot start a storm.
        self._replying.add(chat_jid)
        try:
            await asyncio.sleep(self._settings.reply_seconds)
            excerpt = text if len(text) <= 60 else text[:57] + "..."
            reply = f"Auto-reply from {replier.name}: got “{excerpt}”"
            await self.write(replier, reply, chat_jid if members is not None else None, message_id)
        finally:
            self._replying.discard(chat_jid)

    async def _receipt(self, chat_jid: str, message_id: str, status: ReceiptStatus) -> None:
        await self._emit(Receipt(chat_jid, (message_id,), status, self._clock.now()))

    async def write(
        self,
        sender: Contact,
        text: str | None,
        group_jid: str | None,
        quoted_id: str | None,
        content: dict[str, Any] | None = None,
    ) -> None:
        """A message from `sender` to the number (in `group_jid` when given)."""
        await self._emit(
            IncomingMessage(
                provider_message_id="SB" + secrets.token_hex(9).upper(),
                chat_jid=group_jid or sender.jid,
                sender_jid=sender.jid,
                sender_phone=sender.phone,
                timestamp=self._clock.now(),
                text=text,
                quoted_id=quoted_id,
                group_jid=group_jid,
                push_name=sender.name,
                content=content,
            )
        )


def contact_named(value: Any) -> Contact:
    """A sandbox contact by phone or jid (default Ana); anyone else becomes an ad-hoc contact.
    Raises EngineError (not a phone number or jid)."""
    if not value:
        return ANA
    text = str(value)
    for contact in CONTACTS:
        if text in (contact.phone, contact.jid):
            return contact
    try:
        jid = to_jid(text)
    except ValueError as exc:
        raise EngineError(str(exc), code="invalid_sender") from exc
    return Contact(jid_phone(jid) or text, text, reads=True, replies=False)


def group_named(value: Any) -> str | None:
    """A sandbox group's jid, or None when none is named. Raises EngineError (not a sandbox group)."""
    if not value:
        return None
    jid = str(value)
    if group_for(jid) is None:
        raise EngineError(f"{jid} is not a sandbox group", code="unknown_group")
    return jid
