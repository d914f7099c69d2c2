"""What the fake phone syncs to a new companion: a real HistorySync blob, and LID migration mappings.

    blob = history_blob(state, account)     # HistorySync: every other account as a 1:1 conversation with
                                             # three messages (2 and 1 days old, and 40: HISTORY_MESSAGES)
                                             # (half by LID with pnJid, half by number with lidJid), the
                                             # phoneNumberToLidMappings, push names, the conversation's
                                             # tcToken where that contact trusted the account, nctSalt (19)
    notification = publish_history(media, blob)   # zlib, encrypted with History keys, put on the media
                                                  # hosts: a HistorySyncNotification pointing at it
    notification = inline_history(blob)           # or inline (initialHistBootstrapInlinePayload)

The phone uploads the blob like any media, so the companion must download, check and decrypt it.
"""

from __future__ import annotations

import time
import zlib
from typing import TYPE_CHECKING

from connector.engines.web.media import MediaKind, encrypt_media
from connector.engines.web.protos import serialize, wa
from connector.engines.web.signal.protowire import bytes_field

if TYPE_CHECKING:
    from tests.fakes.whatsapp_edge.media_hosts import FakeMediaHosts
    from tests.fakes.whatsapp_edge.state import Account, EdgeState

NCT_SALT_FIELD = 19


def history_blob(state: EdgeState, account: Account) -> bytes:
    """The HistorySync (serialized, not compressed) `account`'s phone would send now."""
    history = wa.HistorySync(syncType=wa.HistorySync.HistorySyncType.INITIAL_BOOTSTRAP, progress=100)
    others = [other for other in state.accounts.values() if other is not account]
    for index, other in enumerate(others):
        history.phoneNumberToLidMappings.add(pnJid=str(other.pn), lidJid=str(other.lid))
        if index % 2:
            chat = history.conversations.add(id=str(other.lid), pnJid=str(other.pn))
        else:
            chat = history.conversations.add(id=str(other.pn), lidJid=str(other.lid))
        _messages(chat, account, other, index)
        token = state.privacy_tokens.get((account.phone, other.phone))
        if token is not None:
            chat.tcToken, chat.tcTokenTimestamp = token[0], token[1]
        if other.push_name:
            history.pushnames.add(id=str(other.pn), pushname=other.push_name)
    return serialize(history) + bytes_field(NCT_SALT_FIELD, account.nct_salt)


HISTORY_MESSAGES = ((2, False, "from them, 2 days ago"), (1, True, "from us, 1 day ago"))
OLD_MESSAGE = (40, False, "from them, 40 days ago")


def _messages(chat: wa.Conversation, account: Account, other: Account, index: int) -> None:
    """Three messages per chat, as a phone keeps them: two recent ones and one 40 days old."""
    now = int(time.time())
    for order, (days, from_me, text) in enumerate((OLD_MESSAGE, *HISTORY_MESSAGES)):
        info = wa.WebMessageInfo(
            key=wa.MessageKey(remoteJid=chat.id, fromMe=from_me, id=f"3AH{other.phone[-4:]}{order:04d}"),
            messageTimestamp=now - days * 86400 - index,
            message=wa.Message(conversation=f"{text} ({other.phone})"),
        )
        if not from_me:
            info.pushName = other.push_name
        chat.messages.add(message=info, msgOrderId=order + 1)


def publish_history(media: FakeMediaHosts, blob: bytes) -> wa.Message.HistorySyncNotification:
    compressed = zlib.compress(blob)
    data, encrypted = encrypt_media(compressed, MediaKind.HISTORY)
    direct_path = media.publish(data, MediaKind.HISTORY.mms_type)
    return wa.Message.HistorySyncNotification(
        fileSha256=encrypted.file_sha256,
        fileLength=encrypted.file_length,
        mediaKey=encrypted.media_key,
        fileEncSha256=encrypted.file_enc_sha256,
        directPath=direct_path,
        syncType=wa.Message.HistorySyncType.INITIAL_BOOTSTRAP,
        chunkOrder=0,
        progress=100,
    )


def inline_history(blob: bytes) -> wa.Message.HistorySyncNotification:
    return wa.Message.HistorySyncNotification(
        initialHistBootstrapInlinePayload=zlib.compress(blob),
        syncType=wa.Message.HistorySyncType.INITIAL_BOOTSTRAP,
    )


def as_message(notification: wa.Message.HistorySyncNotification) -> wa.Message:
    protocol = wa.Message.ProtocolMessage(
        type=wa.Message.ProtocolMessage.HISTORY_SYNC_NOTIFICATION, historySyncNotification=notification
    )
    return wa.Message(protocolMessage=protocol)


def lid_migration(pairs: list[tuple[str, str]]) -> wa.Message:
    """A LID migration sync: (phone digits, LID user) pairs as the phone's latest LIDs."""
    payload = wa.LIDMigrationMappingSyncPayload(chatDbMigrationTimestamp=1)
    for pn, lid in pairs:
        payload.pnToLidMappings.add(pn=int(pn), latestLid=int(lid))
    sync = wa.LIDMigrationMappingSyncMessage(encodedMappingPayload=serialize(payload))
    protocol = wa.Message.ProtocolMessage(
        type=wa.Message.ProtocolMessage.LID_MIGRATION_MAPPING_SYNC, lidMigrationMappingSyncMessage=sync
    )
    return wa.Message(protocolMessage=protocol)
