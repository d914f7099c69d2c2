"""Signal bytes from outside: the protobuf subset, the four wire messages, records, padding, addresses, the
symmetric primitives against their RFCs; fuzzed so that whatever arrives, only our errors come out."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.engines.memory_keys import Backing, InMemoryKeyStore
from connector.engines.web.creds import Credentials
from connector.engines.web.crypto import curve
from connector.engines.web.signal import (
    InvalidMessage,
    SignalAddress,
    SignalError,
    SignalRepository,
    pad,
    protowire,
    sender_key_name,
    symmetric,
    unpad,
)
from connector.engines.web.signal.messages import (
    PreKeySignalMessage,
    SenderKeyDistributionMessage,
    SenderKeyMessage,
    SignalMessage,
)
from connector.engines.web.signal.serialization import (
    RecordCorrupt,
    sender_key_record_from_bytes,
    sender_key_record_to_bytes,
    session_record_from_bytes,
    session_record_to_bytes,
)
from tests.interop.signal_peers import OurDevice

ALICE = SignalAddress("111111111", 5)
GROUP = "120363000000000001@g.us"
PARSERS = [
    SignalMessage.parse,
    PreKeySignalMessage.parse,
    SenderKeyMessage.parse,
    SenderKeyDistributionMessage.parse,
]


# ---- the protobuf subset and the messages --------------------------------------------------------------


@given(
    st.dictionaries(st.integers(1, 2**29 - 1), st.one_of(st.integers(0, 2**64 - 1), st.binary(max_size=40)))
)
def test_protowire_round_trips(fields: dict[int, int | bytes]) -> None:
    encoded = b"".join(
        protowire.uint_field(number, value)
        if isinstance(value, int)
        else protowire.bytes_field(number, value)
        for number, value in fields.items()
    )
    assert protowire.parse(encoded) == fields


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",
        b"\x08\x80",
        b"\x12\x05abc",
        b"\x0b",
        b"\x00\x01",
        b"\x08" + b"\xff" * 10 + b"\x01",
        b"\x09\x01",
    ],
    ids=[
        "no value",
        "truncated varint",
        "truncated bytes",
        "group",
        "field 0",
        "overlong varint",
        "short fixed64",
    ],
)
def test_protowire_refuses_malformed_input(data: bytes) -> None:
    with pytest.raises(protowire.WireError):
        protowire.parse(data)


def test_messages_round_trip_and_zero_fields_may_be_absent() -> None:
    identity, other, ratchet_key = (curve.KeyPair.generate() for _ in range(3))
    message = SignalMessage.build(
        ratchet_key=ratchet_key.public,
        counter=0,
        previous_counter=7,
        ciphertext=b"c" * 16,
        mac_key=b"m" * 32,
        sender_identity=identity.public,
        receiver_identity=other.public,
    )
    parsed = SignalMessage.parse(message.serialized)
    assert parsed == message and parsed.verify_mac(b"m" * 32, identity.public, other.public)
    assert not parsed.verify_mac(b"m" * 32, other.public, identity.public)  # direction matters
    # What an encoder that drops zero values writes (proto3 style): counter absent reads as 0.
    lean = (
        b"\x33"
        + protowire.bytes_field(1, curve.prefixed(ratchet_key.public))
        + protowire.bytes_field(4, b"c")
    )
    assert SignalMessage.parse(lean + b"\x00" * 8).counter == 0
    wrapped = PreKeySignalMessage.build(
        registration_id=16380,
        pre_key_id=None,
        signed_pre_key_id=1,
        base_key=other.public,
        identity_key=identity.public,
        message=message,
    )
    assert PreKeySignalMessage.parse(wrapped.serialized) == wrapped
    distribution = SenderKeyDistributionMessage.build(
        key_id=2**31 - 1, iteration=5, chain_key=b"k" * 32, signing_key=identity.public
    )
    assert SenderKeyDistributionMessage.parse(distribution.serialized) == distribution


@pytest.mark.parametrize("version", [0x23, 0x43, 0x03])
def test_other_versions_are_refused(version: int) -> None:
    for parse in PARSERS:
        with pytest.raises(InvalidMessage, match="version"):
            parse(bytes([version]) + b"\x00" * 80)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_raise_only_invalid_message(data: bytes) -> None:
    for parse in PARSERS:
        try:
            parse(data)
        except InvalidMessage:
            pass


# ---- records -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Bob holding a session with Alice and her sender key, and what Alice sent him (not yet decrypted)."""

    bob_creds: Credentials
    bob_backing: Backing
    messages: dict[str, bytes]


@functools.cache
def _world() -> World:
    async def build() -> World:
        alice, bob = OurDevice.install(), OurDevice.install()
        bob_address = SignalAddress("222222222", 0)
        await alice.repository.inject_bundle(bob_address, await bob.bundle())
        first_type, first = await alice.repository.encrypt(bob_address, b"first")
        await bob.repository.decrypt(ALICE, first_type, first)
        await alice.repository.decrypt(bob_address, *await bob.repository.encrypt(ALICE, b"reply"))
        group = await alice.repository.group_encrypt(GROUP, ALICE, b"to the group")
        await bob.repository.group_process_distribution(GROUP, ALICE, group.distribution)
        carol = OurDevice.install()
        await carol.repository.inject_bundle(bob_address, await bob.bundle())
        messages = {
            "msg": (await alice.repository.encrypt(bob_address, b"plain")).ciphertext,
            "pkmsg": (await carol.repository.encrypt(bob_address, b"new")).ciphertext,
            "skmsg": group.ciphertext,
            "skdm": group.distribution,
        }
        return World(bob.creds, {("ten_test", "bob"): dict(bob.keys._data)}, messages)

    return asyncio.run(build())


def _bob(world: World) -> tuple[SignalRepository, InMemoryKeyStore]:
    keys = InMemoryKeyStore(session_id="bob", backing=copy.deepcopy(world.bob_backing))
    return SignalRepository(keys, world.bob_creds), keys


async def _deliver(repository: SignalRepository, kind: str, data: bytes) -> Any:
    if kind == "skmsg":
        return await repository.group_decrypt(GROUP, ALICE, data)
    if kind == "skdm":
        return await repository.group_process_distribution(GROUP, ALICE, data)
    sender = ALICE if kind == "msg" else SignalAddress("333333333", 0)
    return await repository.decrypt(sender, kind, data)


def test_the_world_decrypts_and_records_are_deterministic() -> None:
    world = _world()
    for kind, data in world.messages.items():
        repository, keys = _bob(world)
        asyncio.run(_deliver(repository, kind, data))
        for (namespace, _), value in keys._data.items():
            if namespace == "session":
                assert session_record_to_bytes(session_record_from_bytes(value)) == value
                assert list(json.loads(value)) == sorted(json.loads(value))
            if namespace == "sender-key":
                assert sender_key_record_to_bytes(sender_key_record_from_bytes(value)) == value


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mangled_messages_raise_only_signal_errors_and_leave_no_trace(data: st.DataObject) -> None:
    world = _world()
    kind = data.draw(st.sampled_from(sorted(world.messages)))
    message = bytearray(world.messages[kind])
    for index, mask in data.draw(st.lists(st.tuples(st.integers(0, len(message) - 1), st.integers(1, 255)))):
        message[index] ^= mask
    cut = data.draw(st.integers(0, len(message)))
    mangled = bytes(message[:cut]) + data.draw(st.binary(max_size=8)) + bytes(message[cut:])
    repository, keys = _bob(world)
    before = copy.deepcopy(keys._data)
    try:
        asyncio.run(_deliver(repository, kind, mangled))
    except SignalError:
        assert keys._data == before  # one transaction: a refused message changes nothing


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mangled_records_read_as_corrupt_or_work_never_crash(data: st.DataObject) -> None:
    world = _world()
    namespace, key = data.draw(st.sampled_from([("session", "111111111.5"), ("sender-key", "x")]))
    if namespace == "sender-key":
        key = sender_key_name(GROUP, ALICE)
    record = json.loads(world.bob_backing[("ten_test", "bob")][(namespace, key)])
    stored = json.dumps(record).encode() if _mangle(data, record) else data.draw(st.binary(max_size=60))
    reader = session_record_from_bytes if namespace == "session" else sender_key_record_from_bytes
    try:
        reader(stored)
    except RecordCorrupt:
        pass
    repository, keys = _bob(world)
    keys._data[(namespace, key)] = stored
    kind = "msg" if namespace == "session" else "skmsg"
    try:
        asyncio.run(_deliver(repository, kind, world.messages[kind]))
    except SignalError:
        pass


def _mangle(data: st.DataObject, record: Any) -> bool:
    """Replace one leaf of the JSON record by a value of any shape; False when the walk stopped early."""
    node = record
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        step = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[step], (dict, list)) or not node[step]:
            node[step] = data.draw(
                st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.text(max_size=50), st.just([]))
            )
            return True
        node = node[step]
    return False


# ---- padding, addresses, primitives ---------------------------------------------------------------------


@given(st.binary(max_size=100), st.integers(1, 16))
def test_padding_round_trips(plaintext: bytes, length: int) -> None:
    padded = pad(plaintext, length=length)
    assert len(padded) == len(plaintext) + length and padded[-1] == length
    assert unpad(padded) == plaintext
    assert 1 <= len(pad(plaintext)) - len(plaintext) <= 16


@pytest.mark.parametrize("padded", [b"", b"\x00", b"ab\x05"])
def test_bad_padding_is_an_invalid_message(padded: bytes) -> None:
    with pytest.raises(InvalidMessage):
        unpad(padded)


@pytest.mark.parametrize(
    ("jid", "address"),
    [
        ("123456789@s.whatsapp.net", "123456789.0"),
        ("123456789:3@s.whatsapp.net", "123456789.3"),
        ("98765432109876:3@lid", "98765432109876_1.3"),
        ("98765432109876@lid", "98765432109876_1.0"),
        ("123:99@hosted", "123_128.99"),
        ("987:2@hosted.lid", "987_129.2"),
        ("123_5:3@s.whatsapp.net", "123_5.3"),
        ("123456789@c.us", "123456789.0"),
    ],
)
def test_addresses_are_spelled_as_baileys_stores_them(jid: str, address: str) -> None:
    assert str(SignalAddress.from_jid(jid)) == address
    assert SignalAddress.parse(address) == SignalAddress.from_jid(jid)


@pytest.mark.parametrize(
    "jid", ["120363@g.us", "@s.whatsapp.net", "status@broadcast", "123:99@s.whatsapp.net"]
)
def test_non_device_jids_have_no_address(jid: str) -> None:
    with pytest.raises(ValueError):
        SignalAddress.from_jid(jid)


def test_hkdf_matches_rfc_5869_and_cbc_refuses_bad_input() -> None:
    # RFC 5869 appendix A.1 (test case 1).
    ikm, salt, info = b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA))
    expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    assert symmetric.hkdf(ikm, salt, info, 42).hex() == expected
    assert symmetric.hkdf(b"x", bytes(32), b"WhisperMessageKeys", 80) == HKDF(
        hashes.SHA256(), 80, bytes(32), b"WhisperMessageKeys"
    ).derive(b"x")
    key, iv = b"k" * 32, b"i" * 16
    assert symmetric.decrypt_cbc(key, iv, symmetric.encrypt_cbc(key, iv, b"")) == b""
    for broken in (b"", b"x" * 15, symmetric.encrypt_cbc(key, iv, b"abc")[:-1], b"\x00" * 16):
        with pytest.raises(symmetric.DecryptFailed):
            symmetric.decrypt_cbc(key, iv, broken)
