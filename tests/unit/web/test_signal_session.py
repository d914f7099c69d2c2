"""X3DH and the Double Ratchet at the spec level: the key schedule recomputed independently from the
specifications, round trips, out-of-order delivery, the bounds on skipped keys, chains and archived sessions,
and messages that fail (bad MAC, replays) leaving the session exactly as it was."""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.engines.web.crypto import curve
from connector.engines.web.signal import ratchet, x3dh
from connector.engines.web.signal.chains import MAX_SKIP
from connector.engines.web.signal.errors import (
    DuplicateMessage,
    InvalidBundle,
    InvalidMessage,
    NoSession,
    TooFarAhead,
)
from connector.engines.web.signal.messages import PreKeySignalMessage, SignalMessage
from connector.engines.web.signal.record import MAX_ARCHIVED, MAX_SKIPPED_KEYS, SessionRecord
from connector.engines.web.signal.serialization import session_record_to_bytes
from connector.engines.web.signal.session import MAX_RECEIVING_CHAINS, SessionState


def _key(label: str) -> curve.KeyPair:
    return curve.KeyPair.from_private(hashlib.sha256(f"wagate signal tests/{label}".encode()).digest())


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt, info).derive(ikm)


def _dh(private: curve.KeyPair, public: curve.KeyPair) -> bytes:
    return curve.shared_secret(private.private, public.public)


class Parties:
    """Alice (initiator, from Bob's bundle) and Bob (responder, from her first pkmsg), as records."""

    def __init__(self, *, one_time: bool = True) -> None:
        self.alice_identity, self.bob_identity = curve.KeyPair.generate(), curve.KeyPair.generate()
        self.signed = curve.KeyPair.generate()
        self.one_time = curve.KeyPair.generate() if one_time else None
        self.bundle = x3dh.PreKeyBundle(
            registration_id=4321,
            identity_key=self.bob_identity.public,
            signed_pre_key_id=3,
            signed_pre_key=self.signed.public,
            signed_pre_key_signature=curve.sign(
                self.bob_identity.private, curve.prefixed(self.signed.public)
            ),
            pre_key_id=9 if one_time else None,
            pre_key=self.one_time.public if self.one_time else None,
        )
        self.alice = SessionRecord()
        self.alice.install(x3dh.initiate(self.alice_identity, self.bundle))
        message_type, data = self.alice.encrypt(b"first", 1234)
        assert message_type == "pkmsg"
        self.bob = SessionRecord()
        self.bob.install(self.respond(PreKeySignalMessage.parse(data), b"first"))

    def respond(self, message: PreKeySignalMessage, expected: bytes) -> SessionState:
        state = x3dh.respond(self.bob_identity, self.signed, self.one_time, message)
        assert ratchet.decrypt(state, message.message) == expected
        return state

    def alice_to_bob(self, text: bytes) -> SignalMessage:
        message_type, data = self.alice.encrypt(text, 1234)
        return (
            PreKeySignalMessage.parse(data).message if message_type == "pkmsg" else SignalMessage.parse(data)
        )

    def bob_to_alice(self, text: bytes) -> SignalMessage:
        message_type, data = self.bob.encrypt(text, 4321)
        assert message_type == "msg"
        return SignalMessage.parse(data)


@pytest.mark.parametrize("one_time", [True, False], ids=["DH4", "no one-time prekey"])
def test_x3dh_and_the_first_ratchet_step_follow_the_specifications(one_time: bool) -> None:
    alice_identity, bob_identity = _key("alice identity"), _key("bob identity")
    signed, pre_key, base, ratchet_key = _key("spk"), _key("opk"), _key("base"), _key("alice ratchet")
    bundle = x3dh.PreKeyBundle(
        registration_id=1,
        identity_key=curve.prefixed(bob_identity.public),  # the 33-byte form is accepted too
        signed_pre_key_id=1,
        signed_pre_key=signed.public,
        signed_pre_key_signature=curve.sign(bob_identity.private, curve.prefixed(signed.public)),
        pre_key_id=7 if one_time else None,
        pre_key=pre_key.public if one_time else None,
    )
    alice = x3dh.initiate(alice_identity, bundle, base_key=base, ratchet_key=ratchet_key)
    # X3DH 3.3: F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], HKDF with a zero salt; info "WhisperText" as deployed.
    secret = b"\xff" * 32 + _dh(alice_identity, signed) + _dh(base, bob_identity) + _dh(base, signed)
    if one_time:
        secret += _dh(base, pre_key)
    root, chain = (lambda out: (out[:32], out[32:]))(_hkdf(secret, bytes(32), b"WhisperText", 64))
    # Double Ratchet 3.5 RatchetInitAlice: RK, CKs = KDF_RK(SK, DH(DHs, bob's ratchet = SPK)).
    step = _hkdf(_dh(ratchet_key, signed), root, b"WhisperRatchet", 64)
    assert (alice.root_key, alice.sending.chain_key) == (step[:32], step[32:])
    assert alice.receiving[0].ratchet_key == signed.public and alice.receiving[0].chain_key == chain
    assert alice.pending is not None and alice.pending.base_key == base.public
    assert alice.pending.pre_key_id == (7 if one_time else None)

    first = PreKeySignalMessage.parse(SessionRecord(alice).encrypt(b"hi", 55)[1])
    assert (first.registration_id, first.signed_pre_key_id, first.base_key) == (55, 1, base.public)
    bob = x3dh.respond(bob_identity, signed, pre_key if one_time else None, first)
    # RatchetInitBob: his first ratchet key pair is the signed prekey, his sending chain the X3DH one.
    assert (bob.root_key, bob.sending.chain_key, bob.sending.ratchet) == (root, chain, signed)
    assert ratchet.decrypt(bob, first.message) == b"hi"


def test_bundles_that_do_not_check_out_are_refused() -> None:
    parties = Parties()
    forged = x3dh.PreKeyBundle(
        registration_id=1,
        identity_key=parties.bob_identity.public,
        signed_pre_key_id=3,
        signed_pre_key=parties.signed.public,
        signed_pre_key_signature=curve.sign(
            curve.KeyPair.generate().private, curve.prefixed(parties.signed.public)
        ),
    )
    with pytest.raises(InvalidBundle):
        x3dh.initiate(parties.alice_identity, forged)
    with pytest.raises(InvalidBundle):
        x3dh.PreKeyBundle(1, parties.bob_identity.public, 3, parties.signed.public, b"s" * 64, pre_key_id=4)
    with pytest.raises(InvalidBundle):
        x3dh.PreKeyBundle(1, b"short", 3, parties.signed.public, b"s" * 64)


def test_prekey_messages_repeat_until_the_responder_answers() -> None:
    parties = Parties()
    kinds = [parties.alice.encrypt(b"more", 1234)[0] for _ in range(3)]
    assert kinds == ["pkmsg"] * 3
    assert parties.alice.decrypt(parties.bob_to_alice(b"answer"))[0] == b"answer"
    assert parties.alice.encrypt(b"now plain", 1234)[0] == "msg"


def test_a_long_conversation_ratchets_in_both_directions() -> None:
    parties = Parties()
    rng = random.Random(1)
    ratchet_keys = set()
    for turn in range(30):
        forward = turn % 2 == 0
        for index in range(rng.randint(1, 4)):
            text = f"{turn}.{index}".encode()
            message = parties.alice_to_bob(text) if forward else parties.bob_to_alice(text)
            receiver = parties.bob if forward else parties.alice
            assert receiver.decrypt(message)[0] == text
            ratchet_keys.add(message.ratchet_key)
    assert len(ratchet_keys) == 30  # a new ratchet key for every turn


def test_out_of_order_within_and_across_ratchet_steps() -> None:
    parties = Parties()
    first = [parties.alice_to_bob(f"a{i}".encode()) for i in range(5)]
    assert parties.bob.decrypt(first[4])[0] == b"a4"
    assert parties.alice.decrypt(parties.bob_to_alice(b"turn"))[0] == b"turn"
    second = [parties.alice_to_bob(f"b{i}".encode()) for i in range(3)]
    assert second[0].previous_counter == 6  # PN: the previous sending chain sent "first" and a0-a4
    order = [(b"b2", second[2]), (b"a1", first[1]), (b"b0", second[0]), (b"a3", first[3])]
    order += [(b"a0", first[0]), (b"b1", second[1]), (b"a2", first[2])]
    for text, message in order:
        assert parties.bob.decrypt(message)[0] == text
    for message in first + second:
        with pytest.raises(DuplicateMessage):
            parties.bob.decrypt(message)


def test_failed_messages_leave_the_session_exactly_as_it_was() -> None:
    parties = Parties()
    assert parties.alice.decrypt(parties.bob_to_alice(b"sync"))[0] == b"sync"
    assert parties.bob.decrypt(parties.alice_to_bob(b"x"))[0] == b"x"
    same_chain = parties.alice_to_bob(b"same chain")  # no DH step at Bob's
    new_chain = parties.bob_to_alice(b"new chain")  # Bob ratcheted on "x": a DH step at Alice's
    for record, message in ((parties.alice, new_chain), (parties.bob, same_chain)):
        before = session_record_to_bytes(record)
        data = message.serialized
        for forged in (_flip(data, len(data) - 1), _flip(data, len(data) - 12)):  # MAC, ciphertext
            with pytest.raises(InvalidMessage):
                record.decrypt(SignalMessage.parse(forged))
            assert session_record_to_bytes(record) == before
        record.decrypt(message)
        with pytest.raises(DuplicateMessage):
            record.decrypt(message)


def test_skipping_more_than_max_skip_keys_is_refused_without_storing_anything() -> None:
    parties = Parties()
    assert parties.alice.decrypt(parties.bob_to_alice(b"sync"))[0] == b"sync"
    sent = [parties.alice_to_bob(b"%d" % i) for i in range(MAX_SKIP + 2)]
    before = session_record_to_bytes(parties.bob)
    with pytest.raises(TooFarAhead):
        parties.bob.decrypt(sent[MAX_SKIP + 1])  # would skip MAX_SKIP + 1 keys
    assert session_record_to_bytes(parties.bob) == before
    assert parties.bob.decrypt(sent[MAX_SKIP])[0] == b"%d" % MAX_SKIP  # exactly MAX_SKIP: fine
    assert parties.bob.current is not None and parties.bob.current.skipped_count() == MAX_SKIP
    # A new chain cannot start beyond MAX_SKIP either (refused before any DH work).
    far = SignalMessage.parse(parties.bob_to_alice(b"y").serialized)
    forged = SignalMessage(curve.KeyPair.generate().public, MAX_SKIP + 1, 0, far.ciphertext, far.serialized)
    with pytest.raises(TooFarAhead):
        parties.alice.decrypt(forged)


def test_skipped_keys_are_capped_per_record_oldest_first() -> None:
    parties = Parties()
    assert parties.alice.decrypt(parties.bob_to_alice(b"sync"))[0] == b"sync"
    held = []
    for turn in range(3):  # three chains of Alice's, each with 1000 skipped at Bob's
        sent = [parties.alice_to_bob(b"%d.%d" % (turn, i)) for i in range(1001)]
        assert parties.bob.decrypt(sent[-1])[0] == b"%d.1000" % turn
        parties.bob.enforce_bounds()
        held.append(sent)
        assert parties.alice.decrypt(parties.bob_to_alice(b"turn"))[0] == b"turn"
    assert parties.bob.current is not None and parties.bob.current.skipped_count() == MAX_SKIPPED_KEYS
    with pytest.raises(DuplicateMessage):  # the oldest chain's keys went first
        parties.bob.decrypt(held[0][999])
    assert parties.bob.decrypt(held[1][999])[0] == b"1.999"
    assert parties.bob.decrypt(held[2][0])[0] == b"2.0"


def test_receiving_chains_are_bounded() -> None:
    parties = Parties()
    held = parties.alice_to_bob(b"held back")
    assert parties.bob.decrypt(parties.alice_to_bob(b"delivered"))[0] == b"delivered"
    for turn in range(MAX_RECEIVING_CHAINS):
        assert parties.alice.decrypt(parties.bob_to_alice(b"turn"))[0] == b"turn"
        assert parties.bob.decrypt(parties.alice_to_bob(b"%d" % turn))[0] == b"%d" % turn
    assert parties.bob.current is not None and len(parties.bob.current.receiving) == MAX_RECEIVING_CHAINS
    with pytest.raises(InvalidMessage):  # its chain is gone: the peer's retry will re-encrypt it
        parties.bob.decrypt(held)


def test_a_new_session_archives_the_old_one_which_still_decrypts_late_messages() -> None:
    parties = Parties()
    late = parties.alice_to_bob(b"late")
    old_base = parties.bob.current.base_key if parties.bob.current else b""
    for round_ in range(MAX_ARCHIVED + 1):
        restart = SessionRecord()
        restart.install(x3dh.initiate(parties.alice_identity, parties.bundle))
        message = PreKeySignalMessage.parse(restart.encrypt(b"again %d" % round_, 1234)[1])
        parties.bob.install(parties.respond(message, b"again %d" % round_))
        if round_ == 0:
            assert parties.bob.decrypt(late)[0] == b"late"  # archived, not current, decrypted it
            assert parties.bob.current is not None and parties.bob.current.base_key == message.base_key
    assert len(parties.bob.archived) == MAX_ARCHIVED
    assert parties.bob.find_by_base_key(old_base) is None  # the oldest fell off


def test_no_session_no_encryption() -> None:
    with pytest.raises(NoSession):
        SessionRecord().encrypt(b"x", 1)
    with pytest.raises(NoSession):
        SessionRecord().decrypt(Parties().alice_to_bob(b"x"))


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)
