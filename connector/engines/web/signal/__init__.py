"""The Signal protocol as WhatsApp speaks it, sans-I/O: X3DH, the Double Ratchet, Sender Keys, their state.

Written from Signal's published specifications (X3DH, Double Ratchet) and the WhatsApp Security Whitepaper,
and proven wire-compatible with libsignal as Baileys uses it by tests/interop/test_signal_vectors.py.

    repository      SignalRepository: the engine's facade over a KeyStore (what is stored where, atomicity)
    address         Signal addresses of device JIDs and sender key names (the KeyStore ids)
    x3dh            PreKeyBundle; a new session as initiator or responder
    ratchet         Double Ratchet encrypt/decrypt on one session (state changes only on success)
    session         one session's state; chains: a chain's key for message n, skipped keys (bounded)
    record          current + archived sessions of one peer device, which one decrypts a message
    sender_keys     group sender keys: create, distribute, encrypt, process, decrypt
    messages        the four wire messages; protowire: the protobuf subset they need
    symmetric       HKDF, chain and message keys, AES-256-CBC, truncated MACs
    serialization   the records as deterministic, versioned JSON
    padding         WhatsApp's 1-16 byte random padding (engine layer)
    errors          SignalError and its subclasses, by what the engine should do
"""

from connector.engines.web.signal.address import SignalAddress, sender_key_name
from connector.engines.web.signal.errors import (
    DuplicateMessage,
    InvalidBundle,
    InvalidMessage,
    MissingPreKey,
    NoSenderKey,
    NoSession,
    SenderKeyCorrupt,
    SessionCorrupt,
    SignalError,
    TooFarAhead,
)
from connector.engines.web.signal.padding import pad, unpad
from connector.engines.web.signal.repository import (
    Decrypted,
    Encrypted,
    GroupEncrypted,
    IdentityStatus,
    PeerSession,
    SignalRepository,
)
from connector.engines.web.signal.x3dh import PreKeyBundle

__all__ = [
    "Decrypted",
    "DuplicateMessage",
    "Encrypted",
    "GroupEncrypted",
    "IdentityStatus",
    "InvalidBundle",
    "InvalidMessage",
    "MissingPreKey",
    "NoSenderKey",
    "NoSession",
    "PeerSession",
    "PreKeyBundle",
    "SenderKeyCorrupt",
    "SessionCorrupt",
    "SignalAddress",
    "SignalError",
    "SignalRepository",
    "TooFarAhead",
    "pad",
    "sender_key_name",
    "unpad",
]
