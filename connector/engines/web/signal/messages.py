"""The four Signal wire messages: SignalMessage, PreKeySignalMessage, SenderKeyMessage and its distribution.

Each is a version byte, a small protobuf, and for two of them a trailer:

    SignalMessage                 0x33 ‖ {1 ratchetKey, 2 counter, 3 previousCounter, 4 ciphertext} ‖ MAC[8]
                                  MAC = HMAC-SHA256(mac key, sender identity ‖ receiver identity ‖ 0x33 ‖
                                  protobuf), identities in their 33-byte 0x05 form
    PreKeySignalMessage           0x33 ‖ {1 preKeyId, 2 baseKey, 3 identityKey, 4 message (a SignalMessage),
                                  5 registrationId, 6 signedPreKeyId}
    SenderKeyMessage              0x33 ‖ {1 id, 2 iteration, 3 ciphertext} ‖ XEdDSA signature[64] over all
                                  that precedes it, by the sender's signing key
    SenderKeyDistributionMessage  0x33 ‖ {1 id, 2 iteration, 3 chainKey, 4 signingKey}

The version byte is (message version << 4 | sender's current version); only message version 3 exists.
Keys travel 33 bytes long (0x05 prefix); the dataclasses hold them raw (32 bytes). Parsers raise only
InvalidMessage.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from connector.engines.web.crypto import curve
from connector.engines.web.errors import InvalidKey
from connector.engines.web.signal import protowire
from connector.engines.web.signal.errors import InvalidMessage
from connector.engines.web.signal.protowire import WireError, bytes_field, get_bytes, get_uint, uint_field
from connector.engines.web.signal.symmetric import MAC_SIZE, truncated_mac

VERSION = 3
VERSION_BYTE = bytes((VERSION << 4 | VERSION,))


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessage(f"empty {what}")
    if data[0] >> 4 != VERSION:
        raise InvalidMessage(f"{what} has unsupported version {data[0] >> 4}")


def _fields(body: bytes, what: str) -> dict[int, int | bytes]:
    try:
        return protowire.parse(body)
    except WireError as exc:
        raise InvalidMessage(f"{what} is not a valid protobuf: {exc}") from exc


def _key(value: bytes | None, what: str) -> bytes:
    if value is None:
        raise InvalidMessage(f"{what} is missing")
    try:
        return curve.unprefixed(value)
    except InvalidKey as exc:
        raise InvalidMessage(f"{what}: {exc.message}") from exc


def _uint(fields: dict[int, int | bytes], number: int, what: str) -> int | None:
    try:
        return get_uint(fields, number)
    except WireError as exc:
        raise InvalidMessage(f"{what}: {exc}") from exc


def _bytes(fields: dict[int, int | bytes], number: int, what: str) -> bytes | None:
    try:
        return get_bytes(fields, number)
    except WireError as exc:
        raise InvalidMessage(f"{what}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SignalMessage:
    ratchet_key: bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    serialized: bytes  # version ‖ protobuf ‖ MAC, exactly as on the wire

    @classmethod
    def build(
        cls,
        *,
        ratchet_key: bytes,
        counter: int,
        previous_counter: int,
        ciphertext: bytes,
        mac_key: bytes,
        sender_identity: bytes,
        receiver_identity: bytes,
    ) -> SignalMessage:
        body = VERSION_BYTE + (
            bytes_field(1, curve.prefixed(ratchet_key))
            + uint_field(2, counter)
            + uint_field(3, previous_counter)
            + bytes_field(4, ciphertext)
        )
        mac = truncated_mac(mac_key, _mac_input(sender_identity, receiver_identity, body))
        return cls(ratchet_key, counter, previous_counter, ciphertext, body + mac)

    @classmethod
    def parse(cls, data: bytes) -> SignalMessage:
        """Raises InvalidMessage."""
        data = bytes(data)
        _check_version(data, "SignalMessage")
        if len(data) < 1 + MAC_SIZE:
            raise InvalidMessage("SignalMessage is too short")
        fields = _fields(data[1:-MAC_SIZE], "SignalMessage")
        ciphertext = _bytes(fields, 4, "SignalMessage ciphertext")
        if not ciphertext:
            raise InvalidMessage("SignalMessage has no ciphertext")
        return cls(
            ratchet_key=_key(_bytes(fields, 1, "ratchet key"), "SignalMessage ratchet key"),
            # protobuf encoders may leave out zero values: an absent counter is counter 0
            counter=_uint(fields, 2, "SignalMessage counter") or 0,
            previous_counter=_uint(fields, 3, "SignalMessage previous counter") or 0,
            ciphertext=ciphertext,
            serialized=data,
        )

    def verify_mac(self, mac_key: bytes, sender_identity: bytes, receiver_identity: bytes) -> bool:
        body, mac = self.serialized[:-MAC_SIZE], self.serialized[-MAC_SIZE:]
        expected = truncated_mac(mac_key, _mac_input(sender_identity, receiver_identity, body))
        return hmac.compare_digest(expected, mac)


def _mac_input(sender_identity: bytes, receiver_identity: bytes, body: bytes) -> bytes:
    return curve.prefixed(sender_identity) + curve.prefixed(receiver_identity) + body


@dataclass(frozen=True, slots=True)
class PreKeySignalMessage:
    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes
    identity_key: bytes
    message: SignalMessage
    serialized: bytes

    @classmethod
    def build(
        cls,
        *,
        registration_id: int,
        pre_key_id: int | None,
        signed_pre_key_id: int,
        base_key: bytes,
        identity_key: bytes,
        message: SignalMessage,
    ) -> PreKeySignalMessage:
        body = (
            (uint_field(1, pre_key_id) if pre_key_id is not None else b"")
            + bytes_field(2, curve.prefixed(base_key))
            + bytes_field(3, curve.prefixed(identity_key))
            + bytes_field(4, message.serialized)
            + uint_field(5, registration_id)
            + uint_field(6, signed_pre_key_id)
        )
        return cls(
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            VERSION_BYTE + body,
        )

    @classmethod
    def parse(cls, data: bytes) -> PreKeySignalMessage:
        """Raises InvalidMessage."""
        data = bytes(data)
        _check_version(data, "PreKeySignalMessage")
        fields = _fields(data[1:], "PreKeySignalMessage")
        inner = _bytes(fields, 4, "PreKeySignalMessage message")
        if inner is None:
            raise InvalidMessage("PreKeySignalMessage carries no message")
        return cls(
            registration_id=_uint(fields, 5, "registration id") or 0,
            pre_key_id=_uint(fields, 1, "prekey id"),
            signed_pre_key_id=_uint(fields, 6, "signed prekey id") or 0,
            base_key=_key(_bytes(fields, 2, "base key"), "PreKeySignalMessage base key"),
            identity_key=_key(_bytes(fields, 3, "identity key"), "PreKeySignalMessage identity key"),
            message=SignalMessage.parse(inner),
            serialized=data,
        )


@dataclass(frozen=True, slots=True)
class SenderKeyMessage:
    key_id: int
    iteration: int
    ciphertext: bytes
    serialized: bytes  # version ‖ protobuf ‖ signature

    @classmethod
    def build(
        cls, *, key_id: int, iteration: int, ciphertext: bytes, signing_private: bytes
    ) -> SenderKeyMessage:
        body = VERSION_BYTE + uint_field(1, key_id) + uint_field(2, iteration) + bytes_field(3, ciphertext)
        return cls(key_id, iteration, ciphertext, body + curve.sign(signing_private, body))

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyMessage:
        """Raises InvalidMessage. The signature is checked separately (`verify`), once the key is known."""
        data = bytes(data)
        _check_version(data, "SenderKeyMessage")
        if len(data) < 1 + curve.SIGNATURE_SIZE:
            raise InvalidMessage("SenderKeyMessage is too short")
        fields = _fields(data[1 : -curve.SIGNATURE_SIZE], "SenderKeyMessage")
        ciphertext = _bytes(fields, 3, "SenderKeyMessage ciphertext")
        if not ciphertext:
            raise InvalidMessage("SenderKeyMessage has no ciphertext")
        return cls(
            key_id=_uint(fields, 1, "sender key id") or 0,
            iteration=_uint(fields, 2, "sender key iteration") or 0,
            ciphertext=ciphertext,
            serialized=data,
        )

    def verify(self, signing_public: bytes) -> bool:
        body, signature = self.serialized[: -curve.SIGNATURE_SIZE], self.serialized[-curve.SIGNATURE_SIZE :]
        return curve.verify(signing_public, body, signature)


@dataclass(frozen=True, slots=True)
class SenderKeyDistributionMessage:
    key_id: int
    iteration: int
    chain_key: bytes
    signing_key: bytes
    serialized: bytes

    @classmethod
    def build(
        cls, *, key_id: int, iteration: int, chain_key: bytes, signing_key: bytes
    ) -> SenderKeyDistributionMessage:
        body = (
            uint_field(1, key_id)
            + uint_field(2, iteration)
            + bytes_field(3, chain_key)
            + bytes_field(4, curve.prefixed(signing_key))
        )
        return cls(key_id, iteration, chain_key, signing_key, VERSION_BYTE + body)

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistributionMessage:
        """Raises InvalidMessage."""
        data = bytes(data)
        _check_version(data, "SenderKeyDistributionMessage")
        fields = _fields(data[1:], "SenderKeyDistributionMessage")
        chain_key = _bytes(fields, 3, "sender chain key")
        if chain_key is None or len(chain_key) != 32:
            raise InvalidMessage("SenderKeyDistributionMessage needs a 32-byte chain key")
        return cls(
            key_id=_uint(fields, 1, "sender key id") or 0,
            iteration=_uint(fields, 2, "sender key iteration") or 0,
            chain_key=chain_key,
            signing_key=_key(_bytes(fields, 4, "signing key"), "SenderKeyDistributionMessage signing key"),
            serialized=data,
        )
