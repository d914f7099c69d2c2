"""Recent chats from the phone's history sync, as historical IncomingMessages (off unless configured).

WAGATE_WA_HISTORY_IMPORT_DAYS = N > 0: the messages of the last N days in a HistorySync's conversations
(`conversations[].messages[].message`, each a WebMessageInfo: key {remoteJid, fromMe, id, participant},
messageTimestamp, pushName, message) become IncomingMessage events marked `historical`: the service stores
them (ours as outbound from the phone) without webhooks or unread counts; attachments are described, not
downloaded. Numbers come from the LID map the same sync just filled. At most MAX_IMPORTED per sync, newest
first, so an old phone cannot flood the queue.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

from connector.engines.events import IncomingMessage
from connector.engines.web.binary.jid import Jid
from connector.engines.web.content import read_content
from connector.engines.web.lid import LidMap
from connector.engines.web.protos import wa

log = logging.getLogger(__name__)

MAX_IMPORTED = 5000
DAY = 86400


async def recent_messages(
    history: wa.HistorySync, lids: LidMap, me: Jid | None, *, now: float, days: int
) -> list[IncomingMessage]:
    """The visible messages of the last `days` days, oldest first (as they happened)."""
    if days <= 0 or me is None:
        return []
    cutoff = now - days * DAY
    picked = sorted(_recent(history, cutoff), key=lambda info: info.messageTimestamp, reverse=True)
    imported: list[IncomingMessage] = []
    for info in picked[:MAX_IMPORTED]:
        incoming = await _incoming(info, lids, me)
        if incoming is not None:
            imported.append(incoming)
    imported.reverse()
    return imported


def _recent(history: wa.HistorySync, cutoff: float) -> Iterator[wa.WebMessageInfo]:
    for conversation in history.conversations:
        for item in conversation.messages:
            info = item.message
            if info.HasField("message") and info.key.id and info.messageTimestamp >= cutoff:
                yield info


async def _incoming(info: wa.WebMessageInfo, lids: LidMap, me: Jid) -> IncomingMessage | None:
    try:
        chat = Jid.parse(info.key.remoteJid).to_account()
        participant = info.key.participant or info.participant
        author = Jid.parse(participant).to_account() if participant else None
    except ValueError:
        return None
    if not (chat.is_group or chat.is_pn_user or chat.is_lid_user):
        return None  # status, newsletters, broadcasts
    content = read_content(info.message)
    if not content.visible:
        return None
    group = chat if chat.is_group else None
    from_me = bool(info.key.fromMe)
    if from_me:
        author = me.to_account()
    elif group is None:
        author = chat
    if author is None:  # a group message that does not say who wrote it
        return None
    chat_pn = group or await lids.pn_form(chat)
    lid = await lids.lid_form(author)
    return IncomingMessage(
        provider_message_id=info.key.id,
        chat_jid=str(chat_pn),
        sender_jid=str((await lids.pn_form(author)).to_account()),
        sender_phone=await lids.phone(author),
        timestamp=float(info.messageTimestamp),
        text=content.text,
        # Old attachments are not downloaded (thousands, many expired on the hosts): described only.
        media=dataclasses.replace(content.media, fetch=None) if content.media is not None else None,
        quoted_id=content.quoted_id,
        group_jid=str(group) if group is not None else None,
        push_name=info.pushName or None,
        from_me=from_me,
        content=content.typed,
        sender_lid=str(lid) if lid.is_lid_user else None,
        historical=True,
    )
