"""The inbox buffer: a decrypted message kept in the KeyStore until its event is durable and it is acked.

Decrypting spends the message's key in the Signal ratchet, and the ratchet step is committed. If the
process dies before the message's event is in the queue, WhatsApp delivers the stanza again (we never
acked it), but a second decrypt would only say "duplicate". So the plaintext is committed in the same
transaction as the ratchet step, and a redelivered stanza is read back from here instead of decrypted
(whatsmeow buffers decrypted events in its store for the same reason).

    inbox/<sha256(chat, id, author)[:32]>   the merged `Message` protobuf of that stanza

An entry is deleted once the stanza is acked: with the next decrypt's transaction (no extra write in a
steady flow of messages), or when the connection ends. A process killed in between leaves a few small
entries behind; nothing reads them again.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager

from connector.engines.keys import KeyNamespace, KeyStore

_INBOX = KeyNamespace.INBOX


def entry_id(chat: str, message_id: str, author: str) -> str:
    return hashlib.sha256(f"{chat}\0{message_id}\0{author}".encode()).hexdigest()[:32]


class InboxBuffer:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._done: set[str] = set()  # acked: delete with the next write

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._keys.transaction()

    async def get(self, entry: str) -> bytes | None:
        """The kept plaintext of a stanza never acked; None for one acked already (a sender's re-send of
        it is decrypted again, which keeps both ratchets in step)."""
        if entry in self._done:
            return None
        return (await self._keys.get(_INBOX, [entry])).get(entry)

    async def put(self, entry: str, message: bytes) -> set[str]:
        """Inside the decrypt's transaction: this message, and the deletion of those acked since (hand
        the returned ids to `committed` once the transaction has committed)."""
        deleted = self._done - {entry}
        await self._keys.put(_INBOX, {**dict.fromkeys(deleted), entry: message})
        return deleted

    def committed(self, deleted: set[str]) -> None:
        self._done -= deleted

    def acked(self, entry: str) -> None:
        self._done.add(entry)

    async def flush(self) -> None:
        """Delete what was acked (the connection ends)."""
        if self._done:
            done, self._done = self._done, set()
            await self._keys.put(_INBOX, dict.fromkeys(done))
