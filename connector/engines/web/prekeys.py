"""Prekeys on the edge: the first upload, top-ups when the edge runs low, signed prekey rotation.

    count     <iq xmlns=encrypt type=get><count/></iq>  → <count value=N/>
    upload    <iq xmlns=encrypt type=set><registration>4B</registration><type>05</type><identity>32B
              </identity><list><key><id>3B</id><value>32B</value></key>…</list><skey><id/><value/>
              <signature/></skey></iq>
    rotate    <iq xmlns=encrypt type=set><rotate><skey>…</skey></rotate></iq>
    low       <notification type=encrypt from=s.whatsapp.net><count value=N/></notification> (we ack)

One-time prekeys are kept in the KeyStore (`pre-key/<id>`: private ‖ public, 64 bytes) until a peer
uses one (the Signal layer deletes it then). New keys and the credentials' id counters are written in one
transaction before the upload; only an acknowledged upload moves `first_unuploaded_pre_key_id`, so a
failed upload is retried with the same keys. A rotated signed prekey is saved first (unpublished, the
old one kept as `previous`), then sent, then marked published: a crash in between re-sends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.node import Node
from connector.engines.web.connection import iq
from connector.engines.web.creds import MAX_KEY_ID, CredentialStore, SignedPreKey
from connector.engines.web.crypto import curve
from connector.engines.web.errors import ProtocolError
from connector.engines.web.payloads import KEY_BUNDLE_TYPE
from connector.engines.web.settings import WebSettings

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]


@dataclass(frozen=True, slots=True)
class PreKeyPolicy:
    initial: int = 812  # uploaded when the edge holds none (a new device)
    batch: int = 50  # uploaded when it holds fewer than `minimum`
    minimum: int = 5
    signed_rotation_seconds: float = 7 * 86400

    @classmethod
    def from_settings(cls, settings: WebSettings) -> PreKeyPolicy:
        return cls(
            initial=settings.pre_key_initial,
            batch=settings.pre_key_batch,
            minimum=settings.pre_key_min,
            signed_rotation_seconds=settings.signed_pre_key_days * 86400,
        )


def count_query() -> Node:
    return iq("get", "encrypt", [Node("count")])


def server_count(node: Node) -> int:
    """The `<count value=N/>` of a count answer or a low-prekeys notification. Raises ProtocolError."""
    count = node.find("count")
    value = count.str_attr("value") if count is not None else None
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ProtocolError(f"<{node.tag}> carries no prekey count")
    return int(value)


def key_ids(first: int, count: int) -> list[int]:
    """`count` prekey ids from `first`, wrapping from 2^24 - 1 back to 1 (ids travel in 3 bytes)."""
    return [(first - 1 + offset) % MAX_KEY_ID + 1 for offset in range(count)]


def pending_count(next_id: int, first_unuploaded: int) -> int:
    return (next_id - first_unuploaded) % MAX_KEY_ID


def signed_pre_key_node(key: SignedPreKey) -> Node:
    return Node(
        "skey",
        {},
        [
            Node("id", {}, key.key_id.to_bytes(3, "big")),
            Node("value", {}, key.key_pair.public),
            Node("signature", {}, key.signature),
        ],
    )


def upload_query(
    registration_id: int, identity_public: bytes, pre_keys: list[tuple[int, bytes]], signed: SignedPreKey
) -> Node:
    """The upload iq for `pre_keys` (id, public key) and the current signed prekey."""
    keys = [
        Node("key", {}, [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)])
        for key_id, public in pre_keys
    ]
    return iq(
        "set",
        "encrypt",
        [
            Node("registration", {}, registration_id.to_bytes(4, "big")),
            Node("type", {}, KEY_BUNDLE_TYPE),
            Node("identity", {}, identity_public),
            Node("list", {}, keys),
            signed_pre_key_node(signed),
        ],
    )


def rotate_query(signed: SignedPreKey) -> Node:
    return iq("set", "encrypt", [Node("rotate", {}, [signed_pre_key_node(signed)])])


class PreKeys:
    """Keeps the edge stocked for one session. `query` sends an iq and returns its result (or raises)."""

    def __init__(
        self,
        keys: KeyStore,
        creds: CredentialStore,
        query: Query,
        policy: PreKeyPolicy,
        clock: Callable[[], float],
    ) -> None:
        self._keys = keys
        self._creds = creds
        self._query = query
        self._policy = policy
        self._clock = clock
        self._lock = asyncio.Lock()  # one upload or rotation at a time

    async def after_login(self) -> None:
        """Check the edge's count (uploading if low) and rotate or re-send the signed prekey if due.

        Raises IqError, IqTimeout, ConnectionLost, ProtocolError; KeyStore errors pass through.
        """
        count = server_count(await self._query(count_query()))
        if count < self._policy.minimum:
            await self.top_up(self._policy.initial if count == 0 else self._policy.batch)
        await self.rotate_if_due()

    async def on_low_notification(self, node: Node) -> None:
        """The edge says it is running low (the caller has acked the notification)."""
        if server_count(node) < self._policy.minimum:
            await self.top_up(self._policy.batch)

    async def top_up(self, wanted: int) -> int:
        """Make sure `wanted` prekeys beyond what the edge holds are uploaded; returns how many were sent."""
        async with self._lock:
            creds = self._creds.current
            waiting = pending_count(creds.next_pre_key_id, creds.first_unuploaded_pre_key_id)
            fresh = key_ids(creds.next_pre_key_id, max(0, wanted - waiting))
            if fresh:
                generated = {str(key_id): _new_pre_key() for key_id in fresh}
                async with self._keys.transaction():
                    await self._keys.put(KeyNamespace.PRE_KEY, generated)
                    await self._creds.update(next_pre_key_id=key_ids(fresh[-1], 2)[1])
            creds = self._creds.current
            ids = key_ids(creds.first_unuploaded_pre_key_id, waiting + len(fresh))
            stored = await self._keys.get(KeyNamespace.PRE_KEY, [str(key_id) for key_id in ids])
            pre_keys = [
                (key_id, stored[str(key_id)][curve.KEY_SIZE :]) for key_id in ids if str(key_id) in stored
            ]
            if len(pre_keys) < len(ids):
                log.warning("%d prekeys awaiting upload are missing from the store", len(ids) - len(pre_keys))
            if not pre_keys:
                return 0
            await self._query(
                upload_query(creds.registration_id, creds.identity_key.public, pre_keys, creds.signed_pre_key)
            )
            await self._creds.update(first_unuploaded_pre_key_id=creds.next_pre_key_id)
            log.info("uploaded %d prekeys", len(pre_keys))
            return len(pre_keys)

    async def fresh(self) -> tuple[int, bytes]:
        """One new one-time prekey (id, public key) to hand a peer directly, in a retry receipt. It is
        stored like the others and goes to the edge with the next upload too (ids are never reused)."""
        async with self._lock:
            key_id = self._creds.current.next_pre_key_id
            pair = _new_pre_key()
            async with self._keys.transaction():
                await self._keys.put(KeyNamespace.PRE_KEY, {str(key_id): pair})
                await self._creds.update(next_pre_key_id=key_ids(key_id, 2)[1])
            return key_id, pair[curve.KEY_SIZE :]

    async def rotate_if_due(self) -> bool:
        """Publish a new signed prekey when the current one is old (or an earlier rotation was cut off)."""
        async with self._lock:
            creds = self._creds.current
            current = creds.signed_pre_key
            now = self._clock()
            if current.published and now - current.created_at < self._policy.signed_rotation_seconds:
                return False
            if current.published:
                next_id = current.key_id % MAX_KEY_ID + 1
                rotated = SignedPreKey.generate(creds.identity_key, next_id, now, published=False)
                await self._creds.update(signed_pre_key=rotated, previous_signed_pre_key=current)
                current = rotated
            await self._query(rotate_query(current))
            await self._creds.update(signed_pre_key=_published(current))
            log.info("rotated the signed prekey to id %d", current.key_id)
            return True


def _new_pre_key() -> bytes:
    pair = curve.KeyPair.generate()
    return pair.private + pair.public


def _published(key: SignedPreKey) -> SignedPreKey:
    return SignedPreKey(key.key_id, key.key_pair, key.signature, key.created_at, published=True)
