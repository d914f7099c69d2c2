"""X3DH key agreement (Signal's X3DH specification, rev. 1): a new session as initiator or as responder.

Section 3.3 (initiator, "Alice"), with A = identity keys, EK = Alice's ephemeral ("base key"), SPK/OPK =
Bob's signed and one-time prekeys:

    DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B) if any
    SK  = HKDF(F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]), F = 32 0xFF bytes (section 2.2), zero salt, info "WhisperText"

The 64 output bytes are the first root key and chain key. Then the Double Ratchet starts as section 3.5
of its specification says for Alice and Bob: Alice makes a fresh ratchet key pair and does one root KDF step
with DH(her ratchet key, SPK_B); Bob's first ratchet key pair is his signed prekey, with the X3DH chain key
as his sending chain. Alice also keeps that chain as a receiving chain for SPK_B, as deployed Signal does.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.engines.web.crypto import curve
from connector.engines.web.errors import InvalidKey
from connector.engines.web.signal.errors import InvalidBundle, InvalidMessage
from connector.engines.web.signal.messages import PreKeySignalMessage
from connector.engines.web.signal.session import PendingPreKey, ReceivingChain, SendingChain, SessionState
from connector.engines.web.signal.symmetric import INFO_TEXT, KEY_SIZE, ZERO_SALT, derive_root, hkdf

_DISCONTINUITY = b"\xff" * KEY_SIZE


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """A peer device's published keys, as the edge's `<user>` answer gives them (public keys 32 bytes)."""

    registration_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key: bytes
    signed_pre_key_signature: bytes
    pre_key_id: int | None = None
    pre_key: bytes | None = None

    def __post_init__(self) -> None:
        # Accept the 33-byte (0x05) forms too, as bundles are written both ways.
        try:
            object.__setattr__(self, "identity_key", curve.unprefixed(self.identity_key))
            object.__setattr__(self, "signed_pre_key", curve.unprefixed(self.signed_pre_key))
            if self.pre_key is not None:
                object.__setattr__(self, "pre_key", curve.unprefixed(self.pre_key))
        except InvalidKey as exc:
            raise InvalidBundle(f"prekey bundle: {exc.message}") from exc
        if (self.pre_key is None) != (self.pre_key_id is None):
            raise InvalidBundle("prekey bundle: a one-time prekey needs both its id and its key")


def _secret(parts: list[bytes]) -> tuple[bytes, bytes]:
    output = hkdf(_DISCONTINUITY + b"".join(parts), ZERO_SALT, INFO_TEXT, 2 * KEY_SIZE)
    return output[:KEY_SIZE], output[KEY_SIZE:]


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return curve.shared_secret(private, public)
    except InvalidKey as exc:
        raise InvalidMessage(f"X3DH: {exc.message}") from exc


def initiate(
    our_identity: curve.KeyPair,
    bundle: PreKeyBundle,
    *,
    base_key: curve.KeyPair | None = None,
    ratchet_key: curve.KeyPair | None = None,
) -> SessionState:
    """Alice's side from Bob's bundle (the keys are fresh unless given, for reproducible tests).

    Raises InvalidBundle when the signed prekey's signature does not verify (X3DH section 3.3).
    """
    if not curve.verify(
        bundle.identity_key, curve.prefixed(bundle.signed_pre_key), bundle.signed_pre_key_signature
    ):
        raise InvalidBundle("the signed prekey is not signed by the bundle's identity key")
    base = base_key or curve.KeyPair.generate()
    ratchet = ratchet_key or curve.KeyPair.generate()
    try:
        parts = [
            _dh(our_identity.private, bundle.signed_pre_key),
            _dh(base.private, bundle.identity_key),
            _dh(base.private, bundle.signed_pre_key),
        ]
        if bundle.pre_key is not None:
            parts.append(_dh(base.private, bundle.pre_key))
        root_key, chain_key = _secret(parts)
        root_key, sending_chain_key = derive_root(root_key, _dh(ratchet.private, bundle.signed_pre_key))
    except InvalidMessage as exc:
        raise InvalidBundle(exc.message) from exc
    return SessionState(
        local_identity=our_identity.public,
        remote_identity=bundle.identity_key,
        remote_registration_id=bundle.registration_id,
        base_key=base.public,
        root_key=root_key,
        sending=SendingChain(ratchet, sending_chain_key, 0),
        receiving=[ReceivingChain(bundle.signed_pre_key, chain_key, 0)],
        pending=PendingPreKey(bundle.pre_key_id, bundle.signed_pre_key_id, base.public),
    )


def respond(
    our_identity: curve.KeyPair,
    signed_pre_key: curve.KeyPair,
    one_time_pre_key: curve.KeyPair | None,
    message: PreKeySignalMessage,
) -> SessionState:
    """Bob's side from Alice's first message. Raises InvalidMessage for unusable keys in it."""
    parts = [
        _dh(signed_pre_key.private, message.identity_key),
        _dh(our_identity.private, message.base_key),
        _dh(signed_pre_key.private, message.base_key),
    ]
    if one_time_pre_key is not None:
        parts.append(_dh(one_time_pre_key.private, message.base_key))
    root_key, chain_key = _secret(parts)
    return SessionState(
        local_identity=our_identity.public,
        remote_identity=message.identity_key,
        remote_registration_id=message.registration_id,
        base_key=message.base_key,
        root_key=root_key,
        sending=SendingChain(signed_pre_key, chain_key, 0),
    )
