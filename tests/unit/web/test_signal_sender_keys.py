"""Sender Keys: the chain and message keys recomputed from the whitepaper's description, distribution and
decrypt through the repository, skipped iterations (bounded), replays, forged signatures leaving the record
unchanged, key rotation and the bound on kept keys, corrupt records reset."""

from __future__ import annotations

import asyncio
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.engines.keys import KeyNamespace
from connector.engines.web.crypto import curve
from connector.engines.web.signal import (
    DuplicateMessage,
    InvalidMessage,
    NoSenderKey,
    SenderKeyCorrupt,
    SignalAddress,
    TooFarAhead,
    sender_key_name,
)
from connector.engines.web.signal import sender_keys as sk
from connector.engines.web.signal.chains import MAX_SKIP
from connector.engines.web.signal.messages import SenderKeyDistributionMessage, SenderKeyMessage
from connector.engines.web.signal.symmetric import chain_step
from tests.interop.signal_peers import OurDevice

GROUP = "120363000000000001@g.us"
ALICE = SignalAddress("111111111", 5)
BOB = SignalAddress("222222222_1", 0)


def test_group_keys_follow_the_whitepaper() -> None:
    record = sk.SenderKeyRecord()
    state = sk.own_state(record)
    distribution = SenderKeyDistributionMessage.parse(sk.distribution_message(state).serialized)
    chain_key = distribution.chain_key
    for iteration in range(3):
        message = SenderKeyMessage.parse(sk.encrypt(state, b"message %d" % iteration))
        assert (message.key_id, message.iteration) == (distribution.key_id, iteration)
        assert message.verify(distribution.signing_key)
        seed = hmac.digest(chain_key, b"\x01", "sha256")
        chain_key = hmac.digest(chain_key, b"\x02", "sha256")
        derived = HKDF(hashes.SHA256(), 48, bytes(32), b"WhisperGroup").derive(seed)
        decryptor = Cipher(algorithms.AES(derived[16:]), modes.CBC(derived[:16])).decryptor()
        padded = decryptor.update(message.ciphertext) + decryptor.finalize()
        assert padded[: -padded[-1]] == b"message %d" % iteration
    assert message.serialized[0] == distribution.serialized[0] == 0x33
    assert distribution.signing_key == state.signing_public and distribution.iteration == 0


def test_distribution_then_messages_in_any_order_and_replays_refused() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install().repository, OurDevice.install().repository
        first = await alice.group_encrypt(GROUP, ALICE, b"hello group")
        assert not await bob.has_sender_key(GROUP, ALICE)
        with pytest.raises(NoSenderKey):
            await bob.group_decrypt(GROUP, ALICE, first.ciphertext)
        await bob.group_process_distribution(GROUP, ALICE, first.distribution)
        assert await bob.group_decrypt(GROUP, ALICE, first.ciphertext) == b"hello group"
        sent = [(await alice.group_encrypt(GROUP, ALICE, b"%d" % i)).ciphertext for i in range(10)]
        for index in (9, 2, 5, 0, 8):
            assert await bob.group_decrypt(GROUP, ALICE, sent[index]) == b"%d" % index
        for index in (9, 2):
            with pytest.raises(DuplicateMessage):
                await bob.group_decrypt(GROUP, ALICE, sent[index])
        # The same distribution again (a resend) must not rewind the chain: replays stay refused.
        await bob.group_process_distribution(GROUP, ALICE, first.distribution)
        with pytest.raises(DuplicateMessage):
            await bob.group_decrypt(GROUP, ALICE, first.ciphertext)
        assert await bob.group_decrypt(GROUP, ALICE, sent[1]) == b"1"
        # A late joiner gets the distribution as it is now: later messages only.
        carol = OurDevice.install().repository
        await carol.group_process_distribution(GROUP, ALICE, await alice.group_distribution(GROUP, ALICE))
        late = await alice.group_encrypt(GROUP, ALICE, b"for carol too")
        assert await carol.group_decrypt(GROUP, ALICE, late.ciphertext) == b"for carol too"
        with pytest.raises(DuplicateMessage):
            await carol.group_decrypt(GROUP, ALICE, sent[9])

    asyncio.run(main())


def test_iteration_jumps_are_bounded_and_forgeries_change_nothing() -> None:
    record, theirs = sk.SenderKeyRecord(), sk.SenderKeyRecord()
    state = sk.own_state(record)
    sk.process_distribution(
        theirs, SenderKeyDistributionMessage.parse(sk.distribution_message(state).serialized)
    )
    sent = {i: sk.encrypt(state, b"%d" % i) for i in range(4)}
    _advance(state, MAX_SKIP - 4)  # nobody needs the messages in between: skip the signing
    sent.update({i: sk.encrypt(state, b"%d" % i) for i in (MAX_SKIP, MAX_SKIP + 1)})
    with pytest.raises(TooFarAhead):
        sk.decrypt(theirs, sent[MAX_SKIP + 1])
    assert theirs.states[0].iteration == 0 and not theirs.states[0].skipped
    forged = bytearray(sent[3])
    forged[10] ^= 1  # the ciphertext: the signature no longer matches
    other_signer = SenderKeyMessage.build(
        key_id=state.key_id,
        iteration=3,
        ciphertext=b"\x00" * 16,
        signing_private=curve.KeyPair.generate().private,
    )
    for bad in (bytes(forged), other_signer.serialized):
        with pytest.raises(InvalidMessage):
            sk.decrypt(theirs, bad)
        assert theirs.states[0].iteration == 0
    assert sk.decrypt(theirs, sent[MAX_SKIP]) == b"%d" % MAX_SKIP
    assert len(theirs.states[0].skipped) == MAX_SKIP
    assert sk.decrypt(theirs, sent[0]) == b"0"


def test_rotation_keeps_a_bounded_number_of_keys_and_skipped_keys() -> None:
    async def main() -> None:
        alice, bob = OurDevice.install().repository, OurDevice.install().repository
        old_messages = []
        for _ in range(sk.MAX_STATES + 1):
            sent = await alice.group_encrypt(GROUP, ALICE, b"before rotation")
            await bob.group_process_distribution(GROUP, ALICE, sent.distribution)
            old_messages.append(sent.ciphertext)
            await alice.forget_sender_key(GROUP, ALICE)  # e.g. a member left: a new key next time
        with pytest.raises(NoSenderKey):  # the oldest key fell off
            await bob.group_decrypt(GROUP, ALICE, old_messages[0])
        for ciphertext in old_messages[1:]:
            assert await bob.group_decrypt(GROUP, ALICE, ciphertext) == b"before rotation"

    asyncio.run(main())
    record = sk.SenderKeyRecord()
    for _ in range(2):
        sender = sk.SenderKeyRecord()
        state = sk.own_state(sender)
        sk.process_distribution(
            record, SenderKeyDistributionMessage.parse(sk.distribution_message(state).serialized)
        )
        _advance(state, 1500)
        sk.decrypt(record, sk.encrypt(state, b"x"))
    assert sum(len(state.skipped) for state in record.states) == sk.MAX_SKIPPED_KEYS
    assert len(record.states[0].skipped) == sk.MAX_SKIPPED_KEYS - 1500  # the older key's went first


def test_corrupt_sender_key_records_are_reset() -> None:
    async def main() -> None:
        device = OurDevice.install()
        alice, bob = OurDevice.install().repository, device.repository
        first = await alice.group_encrypt(GROUP, ALICE, b"x")
        await bob.group_process_distribution(GROUP, ALICE, first.distribution)
        key = sender_key_name(GROUP, ALICE)
        assert key == "120363000000000001@g.us::111111111::5"
        await device.keys.put(KeyNamespace.SENDER_KEY, {key: b'{"format":1,"states":[{}]}'})
        with pytest.raises(SenderKeyCorrupt):
            await bob.group_decrypt(GROUP, ALICE, first.ciphertext)
        assert not await bob.has_sender_key(GROUP, ALICE)
        # Our own key corrupt: a new one is made (the engine redistributes it with the message).
        await bob.group_encrypt(GROUP, BOB, b"first")
        await device.keys.put(KeyNamespace.SENDER_KEY, {sender_key_name(GROUP, BOB): b"\x00"})
        again = await bob.group_encrypt(GROUP, BOB, b"fresh")
        await alice.group_process_distribution(GROUP, BOB, again.distribution)
        assert await alice.group_decrypt(GROUP, BOB, again.ciphertext) == b"fresh"

    asyncio.run(main())


def _advance(state: sk.SenderKeyState, count: int) -> None:
    """Move our chain on as `count` encrypts would, without making (and signing) the messages."""
    for _ in range(count):
        state.chain_key = chain_step(state.chain_key)[1]
        state.iteration += 1
