"""Polls: remember each poll's secret and options, and read the votes on it (encrypted with that secret).

A poll message carries a 32-byte `messageContextInfo.messageSecret`; each vote (pollUpdateMessage) is
AES-256-GCM under a key derived from it, bound to the poll's id, its creator and the voter:

    key0   = HMAC-SHA256(key = 32 zero bytes, secret)
    key    = HMAC-SHA256(key = key0, poll id ‖ creator jid ‖ voter jid ‖ "Poll Vote" ‖ 0x01)
    vote   = AES-GCM(key, encIv, aad = poll id ‖ 0x00 ‖ voter jid).decrypt(encPayload)
           → PollVoteMessage { selectedOptions: sha256(option name) … }

Jids are account jids without a device (`…@s.whatsapp.net` or `…@lid`), as the message keys write them.
Polls we send and polls we receive are remembered in the KeyStore (namespace `poll`), so votes arriving
after a restart are still read. A vote on a poll we never saw stays encrypted: reported, not readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.errors import ProtocolError
from connector.engines.web.protos import parse, wa

log = logging.getLogger(__name__)


def vote_key(secret: bytes, poll_id: str, creator: str, voter: str) -> bytes:
    key0 = hmac.new(bytes(32), secret, hashlib.sha256).digest()
    sign = poll_id.encode() + creator.encode() + voter.encode() + b"Poll Vote" + b"\x01"
    return hmac.new(key0, sign, hashlib.sha256).digest()


def encrypt_vote(
    secret: bytes, poll_id: str, creator: str, voter: str, options: list[str], iv: bytes
) -> wa.Message.PollEncValue:
    """A vote as a voter's client writes it (used by tests, and by nothing that sends)."""
    vote = wa.Message.PollVoteMessage(selectedOptions=[hashlib.sha256(o.encode()).digest() for o in options])
    aad = poll_id.encode() + b"\x00" + voter.encode()
    payload = AESGCM(vote_key(secret, poll_id, creator, voter)).encrypt(iv, vote.SerializeToString(), aad)
    return wa.Message.PollEncValue(encPayload=payload, encIv=iv)


def decrypt_vote(value: Any, secret: bytes, poll_id: str, creator: str, voter: str) -> list[bytes]:
    """The sha256 of each chosen option. Raises ProtocolError when the vote does not decrypt."""
    aad = poll_id.encode() + b"\x00" + voter.encode()
    try:
        plain = AESGCM(vote_key(secret, poll_id, creator, voter)).decrypt(
            bytes(value.encIv), bytes(value.encPayload), aad
        )
    except (InvalidTag, ValueError) as exc:
        raise ProtocolError(f"a vote on poll {poll_id} does not decrypt") from exc
    vote = parse(wa.Message.PollVoteMessage, plain, "a poll vote")
    return [bytes(h) for h in vote.selectedOptions]


class PollBook:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def remember(self, poll_id: str, creator: str, secret: bytes, options: list[str]) -> None:
        record = {"creator": creator, "secret": base64.b64encode(secret).decode(), "options": options}
        await self._keys.put(KeyNamespace.POLL, {poll_id: json.dumps(record).encode()})

    async def read_vote(self, poll_id: str, vote: Any, voter: str) -> dict[str, Any]:
        """The poll_vote content (domain/content.py) for a pollUpdateMessage's vote by `voter`."""
        found = (await self._keys.get(KeyNamespace.POLL, [poll_id])).get(poll_id)
        unread: dict[str, Any] = {"type": "poll_vote", "target_provider_id": poll_id, "readable": False}
        if found is None or not vote.HasField("vote"):
            return unread
        record = json.loads(found)
        try:
            hashes = decrypt_vote(
                vote.vote, base64.b64decode(record["secret"]), poll_id, record["creator"], voter
            )
        except ProtocolError as exc:
            log.warning("%s", exc)
            return unread
        names = {hashlib.sha256(o.encode()).digest(): o for o in record["options"]}
        return {
            **unread,
            "readable": True,
            "options": [names[h] for h in hashes if h in names],
            "option_hashes": [h.hex() for h in hashes],
        }
