"""SignalRepository over the in-memory KeyStore: what is stored under which key, identities trusted on first
use and changes reported, prekeys consumed once, one transaction per operation (a failure or a crash mid-way
leaves the store byte-identical), corrupt records reset with a clear error, signed prekey rotation."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping

import pytest

from connector.engines.keys import KeyNamespace
from connector.engines.memory_keys import Backing, InMemoryKeyStore
from connector.engines.web.creds import CredentialStore, SignedPreKey
from connector.engines.web.signal import (
    IdentityStatus,
    InvalidMessage,
    MissingPreKey,
    NoSession,
    SessionCorrupt,
    SignalAddress,
    SignalRepository,
)
from connector.engines.web.signal.messages import PreKeySignalMessage
from tests.interop.signal_peers import OurDevice

ALICE = SignalAddress.from_jid("111111111:5@s.whatsapp.net")
BOB = SignalAddress.from_jid("222222222@lid")


class CrashingKeyStore(InMemoryKeyStore):
    """Raises on a put to `crash_on` (inside the transaction, after earlier puts were buffered)."""

    crash_on: str | None = None

    async def put(self, namespace: str, values: Mapping[str, bytes | None]) -> None:
        if namespace == self.crash_on:
            raise RuntimeError("the table went away")
        await super().put(namespace, values)


def _snapshot(backing: Backing) -> dict[tuple[str, str], bytes]:
    return {key: value for data in backing.values() for key, value in data.items()}


async def _pkmsg(
    sender: OurDevice,
    receiver: OurDevice,
    text: bytes = b"hi",
    *,
    to: SignalAddress = BOB,
    pre_key: bool = True,
) -> bytes:
    """`sender` starts a session from `receiver`'s bundle (filed under `to`) and returns its first pkmsg."""
    await sender.repository.inject_bundle(to, await receiver.bundle(pre_key=pre_key))
    message_type, data = await sender.repository.encrypt(to, text)
    assert message_type == "pkmsg"
    return data


def test_keystore_layout_and_prekey_consumption() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        data = await _pkmsg(alice, bob)
        assert await bob.has_pre_key(1)
        decrypted = await bob.repository.decrypt(ALICE, "pkmsg", data)
        assert decrypted.plaintext == b"hi" and decrypted.new_session
        assert decrypted.identity == IdentityStatus.NEW
        assert not await bob.has_pre_key(1)  # consumed on use
        assert str(ALICE) == "111111111.5" and str(BOB) == "222222222_1.0"
        stored = await bob.keys.get(KeyNamespace.IDENTITY, [str(ALICE)])
        assert stored[str(ALICE)] == b"\x05" + alice.creds.identity_key.public
        record = json.loads((await bob.keys.get(KeyNamespace.SESSION, [str(ALICE)]))[str(ALICE)])
        assert record["format"] == 1 and record["archived"] == [] and record["current"]["pending"] is None
        assert base64.b64decode(record["current"]["remote_identity"]) == alice.creds.identity_key.public
        assert await bob.repository.identity(ALICE) == alice.creds.identity_key.public
        assert await bob.repository.has_session(ALICE) and not await bob.repository.has_session(BOB)
        info = await bob.repository.session_info(ALICE)
        assert info is not None and not info.pending
        assert info.base_key == PreKeySignalMessage.parse(data).base_key
        assert info.registration_id == alice.creds.registration_id
        sender_info = await alice.repository.session_info(BOB)
        assert sender_info is not None and sender_info.pending  # until Bob answers
        await bob.repository.delete_sessions([ALICE])
        assert not await bob.repository.has_session(ALICE)
        assert await bob.repository.identity(ALICE) is not None  # identities outlive sessions

    asyncio.run(main())


def test_identities_are_trusted_on_first_use_and_changes_reported() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        repository = alice.repository
        assert await repository.inject_bundle(BOB, await bob.bundle()) == IdentityStatus.NEW
        assert (
            await repository.inject_bundle(BOB, await bob.bundle(pre_key=False)) == IdentityStatus.UNCHANGED
        )
        reinstalled = OurDevice.install()
        assert await repository.inject_bundle(BOB, await reinstalled.bundle()) == IdentityStatus.CHANGED
        assert await repository.identity(BOB) == reinstalled.creds.identity_key.public
        # Incoming: the identity in a pkmsg is compared the same way.
        other = OurDevice.install()
        decrypted = await repository.decrypt(BOB, "pkmsg", await _pkmsg(other, alice, b"other", to=ALICE))
        assert decrypted.identity == IdentityStatus.CHANGED and decrypted.plaintext == b"other"
        decrypted = await repository.decrypt(BOB, "pkmsg", await _pkmsg(other, alice, b"again", to=ALICE))
        assert decrypted.identity == IdentityStatus.UNCHANGED and decrypted.new_session

    asyncio.run(main())


def test_a_failed_decrypt_or_a_crash_mid_commit_leaves_the_store_untouched() -> None:
    async def main() -> None:
        backing: Backing = {}
        bob = OurDevice.install()
        bob.keys = CrashingKeyStore(session_id="bob", backing=backing)
        alice = OurDevice.install()
        data = await _pkmsg(alice, bob)
        before = _snapshot(backing)
        inner = PreKeySignalMessage.parse(data).message.serialized
        forged = bytearray(data)
        forged[data.index(inner) + len(inner) - 1] ^= 1  # the inner message's MAC
        with pytest.raises(InvalidMessage):
            await bob.repository.decrypt(ALICE, "pkmsg", bytes(forged))
        assert _snapshot(backing) == before
        bob.keys.crash_on = KeyNamespace.SESSION  # after the prekey deletion and the identity were put
        with pytest.raises(RuntimeError):
            await bob.repository.decrypt(ALICE, "pkmsg", data)
        assert _snapshot(backing) == before and await bob.has_pre_key(1)
        bob.keys.crash_on = None
        assert (await bob.repository.decrypt(ALICE, "pkmsg", data)).plaintext == b"hi"

    asyncio.run(main())


def test_a_corrupt_session_record_is_reset_with_a_clear_error() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        await bob.repository.decrypt(ALICE, "pkmsg", await _pkmsg(alice, bob))
        reply = await bob.repository.encrypt(ALICE, b"reply")
        for garbage in (b"\x00garbage", b'{"format": 1}', b'{"format": 99, "current": null}'):
            await alice.keys.put(KeyNamespace.SESSION, {str(BOB): garbage})
            assert not await alice.repository.has_session(BOB)
            with pytest.raises(SessionCorrupt):
                await alice.repository.decrypt(BOB, *reply)
            assert await alice.keys.get(KeyNamespace.SESSION, [str(BOB)]) == {}  # deleted, committed
            with pytest.raises(NoSession):
                await alice.repository.decrypt(BOB, *reply)
        await alice.keys.put(KeyNamespace.SESSION, {str(BOB): b"[]"})
        with pytest.raises(SessionCorrupt):
            await alice.repository.encrypt(BOB, b"x")
        # A pkmsg simply starts over on a corrupt record.
        await bob.keys.put(KeyNamespace.SESSION, {str(ALICE): b"\xff"})
        fresh = OurDevice(alice.creds, alice.keys, alice.next_pre_key_id)
        decrypted = await bob.repository.decrypt(ALICE, "pkmsg", await _pkmsg(fresh, bob, b"over"))
        assert decrypted.plaintext == b"over" and decrypted.new_session

    asyncio.run(main())


def test_missing_prekeys_and_signed_prekey_rotation() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        data = await _pkmsg(alice, bob)
        await bob.keys.put(KeyNamespace.PRE_KEY, {"1": None})
        with pytest.raises(MissingPreKey):
            await bob.repository.decrypt(ALICE, "pkmsg", data)
        assert await bob.keys.get(KeyNamespace.SESSION, [str(ALICE)]) == {}
        # Bob rotates his signed prekey: a session started on the previous one still opens, older not.
        store = CredentialStore(bob.keys, bob.creds)
        repository = SignalRepository(bob.keys, store)
        first = await _pkmsg(alice, bob, b"on the first signed prekey", pre_key=False)
        old = bob.creds.signed_pre_key
        second = SignedPreKey.generate(bob.creds.identity_key, old.key_id + 1, 0, published=True)
        await store.update(signed_pre_key=second, previous_signed_pre_key=old)
        assert (await repository.decrypt(ALICE, "pkmsg", first)).plaintext == b"on the first signed prekey"
        first_again = await _pkmsg(alice, bob, b"too old", pre_key=False)
        third = SignedPreKey.generate(bob.creds.identity_key, old.key_id + 2, 0, published=True)
        await store.update(signed_pre_key=third, previous_signed_pre_key=second)
        with pytest.raises(MissingPreKey):  # the store's credentials are read on every call
            await repository.decrypt(ALICE, "pkmsg", first_again)

    asyncio.run(main())


def test_repeated_pkmsgs_reuse_the_session_and_unknown_types_are_refused() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        first = await _pkmsg(alice, bob)
        second_type, second = await alice.repository.encrypt(BOB, b"second")
        assert second_type == "pkmsg"
        assert PreKeySignalMessage.parse(second).base_key == PreKeySignalMessage.parse(first).base_key
        assert (await bob.repository.decrypt(ALICE, "pkmsg", second)).new_session  # out of order: first
        decrypted = await bob.repository.decrypt(ALICE, "pkmsg", first)
        assert decrypted.plaintext == b"hi" and not decrypted.new_session
        with pytest.raises(InvalidMessage):
            await bob.repository.decrypt(ALICE, "skmsg", first)

    asyncio.run(main())


def test_concurrent_operations_are_serialised_by_transactions() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install(), OurDevice.install()
        await bob.repository.decrypt(ALICE, "pkmsg", await _pkmsg(alice, bob))
        await alice.repository.decrypt(BOB, *await bob.repository.encrypt(ALICE, b"sync"))
        sent = [await alice.repository.encrypt(BOB, b"%d" % i) for i in range(20)]
        results = await asyncio.gather(
            *(bob.repository.decrypt(ALICE, *message) for message in reversed(sent))
        )
        assert sorted(result.plaintext for result in results) == sorted(b"%d" % i for i in range(20))
        replies = await asyncio.gather(*(bob.repository.encrypt(ALICE, b"r%d" % i) for i in range(10)))
        texts = [(await alice.repository.decrypt(BOB, *reply)).plaintext for reply in replies]
        assert sorted(texts) == sorted(b"r%d" % i for i in range(10))

    asyncio.run(main())
