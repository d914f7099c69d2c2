"""Prekeys: id arithmetic, the upload stanza (checked by the fake edge), uploads that fail and are retried
with the same keys, top-ups by count, and signed prekey rotation that survives a cut-off send."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import InMemoryKeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.creds import MAX_KEY_ID, Credentials, CredentialStore
from connector.engines.web.crypto import curve
from connector.engines.web.errors import IqError
from connector.engines.web.prekeys import (
    PreKeyPolicy,
    PreKeys,
    key_ids,
    pending_count,
    rotate_query,
    upload_query,
)
from tests.fakes.whatsapp_edge.checks import check_signed_pre_key
from tests.fakes.whatsapp_edge.handlers import _upload
from tests.fakes.whatsapp_edge.state import Device, SignedKey

NOW = 1_750_000_000.0
POLICY = PreKeyPolicy(initial=30, batch=10, minimum=5, signed_rotation_seconds=100)


def test_key_ids_wrap_within_three_bytes() -> None:
    assert key_ids(1, 3) == [1, 2, 3]
    assert key_ids(MAX_KEY_ID - 1, 4) == [MAX_KEY_ID - 1, MAX_KEY_ID, 1, 2]
    assert pending_count(13, 1) == 12 and pending_count(3, MAX_KEY_ID - 1) == 4 and pending_count(5, 5) == 0


def test_the_upload_stanza_passes_the_edge_checks() -> None:
    creds = Credentials.generate(NOW)
    keys = [(key_id, curve.KeyPair.generate().public) for key_id in (1, 2, MAX_KEY_ID)]
    node = upload_query(creds.registration_id, creds.identity_key.public, keys, creds.signed_pre_key)
    assert node.str_attr("xmlns") == "encrypt" and node.str_attr("type") == "set"
    signed = creds.signed_pre_key
    device = Device(
        jid=Jid("1", "s.whatsapp.net", 1),
        lid=Jid("2", "lid", 1),
        noise_public=creds.noise_key.public,
        identity_public=creds.identity_key.public,
        registration_id=creds.registration_id,
        signed_pre_key=SignedKey(signed.key_id, signed.key_pair.public, signed.signature),
        key_index=1,
        paired_at=0,
    )
    assert _upload(device, node) == 3 and set(device.pre_keys) == {1, 2, MAX_KEY_ID}
    rotate = rotate_query(signed).children[0]
    skey = rotate.find("skey")
    assert (
        skey is not None
        and check_signed_pre_key(skey, creds.identity_key.public).public == signed.key_pair.public
    )


class FakeEdge:
    """Answers prekey queries: a count, uploads (optionally refused), rotations."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.uploads: list[list[int]] = []
        self.rotations: list[int] = []
        self.refuse = False

    async def query(self, node: Node) -> Node:
        first = node.children[0]
        if first.tag == "count":
            return Node("iq", {"type": "result"}, [Node("count", {"value": str(self.count)})])
        if self.refuse:
            raise IqError("refused", details={"code": 500, "text": "internal-error"})
        if first.tag == "rotate":
            key_id = first.children[0].find("id")
            assert key_id is not None
            self.rotations.append(int.from_bytes(key_id.content_bytes() or b"", "big"))
        else:
            listed = node.find("list")
            assert listed is not None
            ids = [int.from_bytes(key.children[0].content_bytes() or b"", "big") for key in listed.children]
            self.uploads.append(ids)
            self.count += len(ids)
        return Node("iq", {"type": "result"})


async def _setup(
    count: int, clock: float = NOW
) -> tuple[PreKeys, CredentialStore, InMemoryKeyStore, FakeEdge]:
    keys = InMemoryKeyStore()
    store, _ = await CredentialStore.open(keys, NOW)
    edge = FakeEdge(count)
    return PreKeys(keys, store, edge.query, POLICY, lambda: clock), store, keys, edge


def test_a_new_device_uploads_its_initial_batch_then_only_tops_up() -> None:
    async def main() -> None:
        prekeys, store, keys, edge = await _setup(count=0)
        await prekeys.after_login()
        assert edge.uploads == [list(range(1, 31))]
        creds = store.current
        assert (creds.next_pre_key_id, creds.first_unuploaded_pre_key_id) == (31, 31)
        stored = await keys.get(KeyNamespace.PRE_KEY, [str(n) for n in range(1, 31)])
        assert len(stored) == 30
        assert all(curve.KeyPair.from_private(value[:32]).public == value[32:] for value in stored.values())

        await prekeys.after_login()  # the edge holds 30: nothing to do
        assert len(edge.uploads) == 1
        await prekeys.on_low_notification(Node("notification", {}, [Node("count", {"value": "3"})]))
        assert edge.uploads[-1] == list(range(31, 41))
        await prekeys.on_low_notification(Node("notification", {}, [Node("count", {"value": "9"})]))
        assert len(edge.uploads) == 2

    asyncio.run(main())


def test_a_refused_upload_is_retried_with_the_same_keys() -> None:
    async def main() -> None:
        prekeys, store, keys, edge = await _setup(count=0)
        edge.refuse = True
        with pytest.raises(IqError):
            await prekeys.top_up(30)
        assert (store.current.next_pre_key_id, store.current.first_unuploaded_pre_key_id) == (31, 1)
        first = await keys.get(KeyNamespace.PRE_KEY, ["1", "30"])
        edge.refuse = False
        assert await prekeys.top_up(30) == 30
        assert edge.uploads == [list(range(1, 31))]
        assert await keys.get(KeyNamespace.PRE_KEY, ["1", "30"]) == first
        assert store.current.first_unuploaded_pre_key_id == 31

    asyncio.run(main())


def test_the_signed_prekey_rotates_when_due_and_a_cut_off_rotation_is_resent() -> None:
    async def main() -> None:
        prekeys, store, _, edge = await _setup(count=100, clock=NOW + 50)
        assert not await prekeys.rotate_if_due()

        prekeys, store, keys, edge = await _setup(count=100, clock=NOW + 101)
        original = store.current.signed_pre_key
        edge.refuse = True  # the send fails after the new key was saved
        with pytest.raises(IqError):
            await prekeys.rotate_if_due()
        pending = store.current.signed_pre_key
        assert pending.key_id == 2 and not pending.published
        assert store.current.previous_signed_pre_key == original

        edge.refuse = False
        reopened, _ = await CredentialStore.open(keys, NOW)  # a restart in between
        prekeys = PreKeys(keys, reopened, edge.query, POLICY, lambda: NOW + 102)
        assert await prekeys.rotate_if_due()
        assert edge.rotations == [2]
        current = reopened.current.signed_pre_key
        assert current.published and current.key_pair == pending.key_pair
        assert current.verify(reopened.current.identity_key.public)

    asyncio.run(main())
