"""Sender Keys for groups: our sender key and its distribution message, group encrypt, others' keys, decrypt.

The scheme (WhatsApp Security Whitepaper, "Transmitting Messages to Groups"; the same chain KDF as the
Double Ratchet's symmetric ratchet): a sender key is a 32-byte chain key at an iteration plus a Curve25519
signing key. Message key seed = HMAC(chain key, 0x01), next chain key = HMAC(chain key, 0x02); the seed
gives IV ‖ AES key by HKDF "WhisperGroup". Each SenderKeyMessage is XEdDSA-signed by the signing key, and
a receiver checks the signature before it touches the chain.

A record holds up to MAX_STATES keys of one sender in one group (newest last): a sender that rotates its
key (e.g. after a member left) still has its older messages decryptable. Skipped iterations: at most
MAX_SKIP per message (TooFarAhead beyond), at most MAX_SKIPPED_KEYS kept per record (oldest dropped).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from connector.engines.web.crypto import curve
from connector.engines.web.signal.chains import drop_oldest, seed_for
from connector.engines.web.signal.errors import InvalidMessage, NoSenderKey
from connector.engines.web.signal.messages import SenderKeyDistributionMessage, SenderKeyMessage
from connector.engines.web.signal.symmetric import (
    KEY_SIZE,
    DecryptFailed,
    chain_step,
    decrypt_cbc,
    encrypt_cbc,
    group_message_keys,
)

MAX_STATES = 5
MAX_SKIPPED_KEYS = 2000
_MAX_ITERATION = 0xFFFFFFFF
_MAX_KEY_ID = 2**31 - 1  # ids are random 31-bit numbers, as other clients make them


@dataclass(slots=True)
class SenderKeyState:
    key_id: int
    iteration: int  # the iteration `chain_key` derives next
    chain_key: bytes
    signing_public: bytes  # 32 bytes
    signing_private: bytes | None = None  # only in our own sender key
    skipped: dict[int, bytes] = field(default_factory=dict)  # iteration -> message key seed, oldest first


@dataclass(slots=True)
class SenderKeyRecord:
    states: list[SenderKeyState] = field(default_factory=list)  # oldest first

    def state(self, key_id: int) -> SenderKeyState | None:
        for state in reversed(self.states):
            if state.key_id == key_id:
                return state
        return None

    def enforce_bounds(self) -> None:
        del self.states[:-MAX_STATES]
        excess = sum(len(state.skipped) for state in self.states) - MAX_SKIPPED_KEYS
        for state in self.states:  # oldest key first
            excess -= drop_oldest(state.skipped, excess)


def own_state(record: SenderKeyRecord) -> SenderKeyState:
    """Our current sender key in this record, made (and put in it) when there is none."""
    if record.states and record.states[-1].signing_private is not None:
        return record.states[-1]
    signing = curve.KeyPair.generate()
    state = SenderKeyState(
        key_id=secrets.randbelow(_MAX_KEY_ID) + 1,
        iteration=0,
        chain_key=os.urandom(KEY_SIZE),
        signing_public=signing.public,
        signing_private=signing.private,
    )
    record.states = [state]
    return state


def distribution_message(state: SenderKeyState) -> SenderKeyDistributionMessage:
    """What lets a member decrypt our messages from the state's current iteration on."""
    return SenderKeyDistributionMessage.build(
        key_id=state.key_id,
        iteration=state.iteration,
        chain_key=state.chain_key,
        signing_key=state.signing_public,
    )


def encrypt(state: SenderKeyState, plaintext: bytes) -> bytes:
    """A signed SenderKeyMessage with the next iteration's key; the chain moves on."""
    if state.signing_private is None:
        raise NoSenderKey("this sender key is someone else's: it cannot sign")
    if state.iteration > _MAX_ITERATION:
        raise NoSenderKey("sender key exhausted: make a new one")
    seed, next_chain_key = chain_step(state.chain_key)
    iv, key = group_message_keys(seed)
    message = SenderKeyMessage.build(
        key_id=state.key_id,
        iteration=state.iteration,
        ciphertext=encrypt_cbc(key, iv, plaintext),
        signing_private=state.signing_private,
    )
    state.chain_key = next_chain_key
    state.iteration += 1
    return message.serialized


def process_distribution(record: SenderKeyRecord, message: SenderKeyDistributionMessage) -> None:
    """Take in a sender's key. A key we already hold (same id and signing key) is left as it is: it
    already derives everything the message would, and re-adding it would replay used iterations."""
    existing = record.state(message.key_id)
    if existing is not None:
        if existing.signing_public == message.signing_key:
            return
        record.states.remove(existing)
    record.states.append(
        SenderKeyState(
            key_id=message.key_id,
            iteration=message.iteration,
            chain_key=message.chain_key,
            signing_public=message.signing_key,
        )
    )
    record.enforce_bounds()


def decrypt(record: SenderKeyRecord, data: bytes) -> bytes:
    """Verify and decrypt a SenderKeyMessage; the record changes only on success.

    Raises InvalidMessage, NoSenderKey, DuplicateMessage, TooFarAhead.
    """
    message = SenderKeyMessage.parse(data)
    state = record.state(message.key_id)
    if state is None:
        raise NoSenderKey(f"no sender key with id {message.key_id}")
    if not message.verify(state.signing_public):
        raise InvalidMessage("bad sender key message signature")
    seed, advance = seed_for(state.chain_key, state.iteration, state.skipped, message.iteration)
    iv, key = group_message_keys(seed)
    try:
        plaintext = decrypt_cbc(key, iv, message.ciphertext)
    except DecryptFailed as exc:
        raise InvalidMessage(str(exc)) from exc
    if advance is None:
        del state.skipped[message.iteration]
    else:
        state.skipped.update(advance.skipped)
        state.chain_key = advance.chain_key
        state.iteration = message.iteration + 1
        record.enforce_bounds()
    return plaintext
