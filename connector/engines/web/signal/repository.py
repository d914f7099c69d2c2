"""SignalRepository: the engine's door to Signal — sessions, identities, prekeys, sender keys in a KeyStore.

Mirrors Baileys' signal repository (inject a bundle, encrypt/decrypt 1:1, group encrypt/decrypt, sender key
distribution). KeyStore records (ids as in address.py, values as in serialization.py):

    session/<address>                 session record (current + archived sessions), JSON
    identity/<address>                the peer's identity key as last seen, 33 bytes (0x05 ‖ key)
    pre-key/<id>                      our one-time prekey, private ‖ public (64 bytes); deleted once used
    sender-key/<group>::<name>::<dev> sender key record of that sender in that group (ours too), JSON

Every operation is one `async with keys.transaction():` — a failed decrypt leaves no half-applied ratchet
step, consumed prekey or identity change behind. Identities are trusted on first use, and a changed one is
accepted and reported (IdentityStatus.CHANGED), as WhatsApp does: the engine shows the security notice.
A stored record that cannot be read is deleted in its own committed transaction and reported as
SessionCorrupt / SenderKeyCorrupt (the engine asks for a resend); a pkmsg simply starts over on it.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import NamedTuple

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.creds import Credentials, CredentialStore
from connector.engines.web.crypto import curve
from connector.engines.web.errors import InvalidKey
from connector.engines.web.signal import ratchet, sender_keys, x3dh
from connector.engines.web.signal.address import SignalAddress, sender_key_name
from connector.engines.web.signal.errors import (
    InvalidMessage,
    MissingPreKey,
    NoSenderKey,
    SenderKeyCorrupt,
    SessionCorrupt,
)
from connector.engines.web.signal.messages import (
    PreKeySignalMessage,
    SenderKeyDistributionMessage,
    SignalMessage,
)
from connector.engines.web.signal.record import MessageType, SessionRecord
from connector.engines.web.signal.sender_keys import SenderKeyRecord
from connector.engines.web.signal.serialization import (
    RecordCorrupt,
    sender_key_record_from_bytes,
    sender_key_record_to_bytes,
    session_record_from_bytes,
    session_record_to_bytes,
)

log = logging.getLogger(__name__)

_SESSION = KeyNamespace.SESSION
_IDENTITY = KeyNamespace.IDENTITY
_PRE_KEY = KeyNamespace.PRE_KEY
_SENDER_KEY = KeyNamespace.SENDER_KEY


@enum.unique
class IdentityStatus(enum.StrEnum):
    NEW = "new"  # first time we see this address: trusted on first use, now stored
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # a different identity key than stored: accepted, stored, and worth telling the user


class Encrypted(NamedTuple):
    type: MessageType  # the `type` attribute of the `<enc>` node
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: bytes
    identity: IdentityStatus = IdentityStatus.UNCHANGED
    new_session: bool = False  # this pkmsg started a session (a new peer, or a peer that started over)


@dataclass(frozen=True, slots=True)
class PeerSession:
    """What retry handling compares (Baileys' getSessionInfo): the current session's X3DH base key, the
    peer's registration id as it was then, and whether our messages are still pkmsg."""

    base_key: bytes
    registration_id: int
    pending: bool


class GroupEncrypted(NamedTuple):
    ciphertext: bytes  # the `skmsg`
    distribution: bytes  # our SenderKeyDistributionMessage, for members that do not have it yet


class SignalRepository:
    """One device's Signal state over a KeyStore. `creds` is the CredentialStore (its current credentials
    are read on every call, so a signed prekey rotation is seen at once) or fixed Credentials (tests)."""

    def __init__(self, keys: KeyStore, creds: Credentials | CredentialStore) -> None:
        self._keys = keys
        self._creds = creds

    def _credentials(self) -> Credentials:
        return self._creds.current if isinstance(self._creds, CredentialStore) else self._creds

    # ---- 1:1 sessions --------------------------------------------------------------------------------

    async def inject_bundle(self, address: SignalAddress, bundle: x3dh.PreKeyBundle) -> IdentityStatus:
        """Start a session from the peer's prekey bundle (X3DH as initiator); our next messages to it are
        pkmsg until it answers. An existing session is archived. Raises InvalidBundle."""
        state = x3dh.initiate(self._credentials().identity_key, bundle)
        key = str(address)
        async with self._keys.transaction():
            record = await self._session(key, reset_corrupt=False) or SessionRecord()
            status = await self._observe_identity(key, bundle.identity_key)
            record.install(state)
            await self._keys.put(_SESSION, {key: session_record_to_bytes(record)})
        return status

    async def encrypt(self, address: SignalAddress, plaintext: bytes) -> Encrypted:
        """Raises NoSession (inject a bundle first), SessionCorrupt (a subclass: the record was reset)."""
        key = str(address)
        async with self._keys.transaction():
            record = await self._session(key, reset_corrupt=True)
            if record is not None:
                message_type, ciphertext = record.encrypt(plaintext, self._credentials().registration_id)
                await self._keys.put(_SESSION, {key: session_record_to_bytes(record)})
        if record is None:  # raised only now, so that the reset commits
            raise SessionCorrupt(f"session with {key} was corrupt and has been reset")
        return Encrypted(message_type, ciphertext)

    async def decrypt(self, address: SignalAddress, message_type: str, ciphertext: bytes) -> Decrypted:
        """Decrypt a `pkmsg` or `msg` from `address`.

        Raises InvalidMessage, NoSession, SessionCorrupt, MissingPreKey, DuplicateMessage, TooFarAhead.
        """
        if message_type == "pkmsg":
            return await self._decrypt_pre_key_message(address, PreKeySignalMessage.parse(ciphertext))
        if message_type != "msg":
            raise InvalidMessage(f"unknown 1:1 message type {message_type!r}")
        message = SignalMessage.parse(ciphertext)
        key = str(address)
        async with self._keys.transaction():
            record = await self._session(key, reset_corrupt=True)
            if record is not None:
                plaintext, _ = record.decrypt(message)
                record.enforce_bounds()
                await self._keys.put(_SESSION, {key: session_record_to_bytes(record)})
        if record is None:  # raised only now, so that the reset commits
            raise SessionCorrupt(f"session with {key} was corrupt and has been reset")
        return Decrypted(plaintext)

    async def _decrypt_pre_key_message(
        self, address: SignalAddress, message: PreKeySignalMessage
    ) -> Decrypted:
        key = str(address)
        creds = self._credentials()
        async with self._keys.transaction():
            record = await self._session(key, reset_corrupt=False) or SessionRecord()
            status = await self._observe_identity(key, message.identity_key)
            existing = record.find_by_base_key(message.base_key)
            new_session = existing is None or existing.remote_identity != message.identity_key
            if existing is not None and not new_session:
                # The initiator repeats its pkmsg until we answer: same X3DH, already done.
                plaintext = ratchet.decrypt(existing, message.message)
            else:
                one_time = await self._one_time_pre_key(message.pre_key_id)
                state = x3dh.respond(
                    creds.identity_key, _signed_pre_key(creds, message.signed_pre_key_id), one_time, message
                )
                plaintext = ratchet.decrypt(state, message.message)
                record.install(state)
                if message.pre_key_id is not None:
                    await self._keys.put(_PRE_KEY, {str(message.pre_key_id): None})  # used once, then gone
            record.enforce_bounds()
            await self._keys.put(_SESSION, {key: session_record_to_bytes(record)})
        return Decrypted(plaintext, status, new_session)

    async def has_session(self, address: SignalAddress) -> bool:
        """Whether we can encrypt to `address` now (an unreadable record counts as none)."""
        return await self.session_info(address) is not None

    async def session_info(self, address: SignalAddress) -> PeerSession | None:
        """The current session with `address`, or None (none, or an unreadable record)."""
        key = str(address)
        stored = (await self._keys.get(_SESSION, [key])).get(key)
        try:
            current = None if stored is None else session_record_from_bytes(stored).current
        except RecordCorrupt:
            return None
        if current is None:
            return None
        return PeerSession(current.base_key, current.remote_registration_id, current.pending is not None)

    async def delete_sessions(self, addresses: list[SignalAddress]) -> None:
        """Forget these sessions entirely (archived ones too); identities stay."""
        if addresses:
            await self._keys.put(_SESSION, {str(address): None for address in addresses})

    async def forget_peer(self, addresses: list[SignalAddress]) -> None:
        """A peer reinstalled (new identity): its sessions and stored identities go, in one transaction;
        the next message to it starts a new session from a fresh bundle (whatsmeow does the same)."""
        if addresses:
            keys = [str(address) for address in addresses]
            async with self._keys.transaction():
                await self._keys.put(_SESSION, dict.fromkeys(keys))
                await self._keys.put(_IDENTITY, dict.fromkeys(keys))

    async def identity(self, address: SignalAddress) -> bytes | None:
        """The identity key (32 bytes) last seen for `address`, if any."""
        key = str(address)
        stored = (await self._keys.get(_IDENTITY, [key])).get(key)
        try:
            return None if stored is None else curve.unprefixed(stored)
        except InvalidKey:
            return None

    # ---- groups --------------------------------------------------------------------------------------

    async def group_encrypt(
        self, group: Jid | str, our_address: SignalAddress, plaintext: bytes
    ) -> GroupEncrypted:
        """Encrypt for `group` with our sender key (made on first use). The distribution message describes
        the key as it was before this message, so a member given both can decrypt it."""
        key = sender_key_name(group, our_address)
        async with self._keys.transaction():
            record = await self._sender_key(key, reset_corrupt=False) or SenderKeyRecord()
            state = sender_keys.own_state(record)
            distribution = sender_keys.distribution_message(state).serialized
            ciphertext = sender_keys.encrypt(state, plaintext)
            await self._keys.put(_SENDER_KEY, {key: sender_key_record_to_bytes(record)})
        return GroupEncrypted(ciphertext, distribution)

    async def group_distribution(self, group: Jid | str, our_address: SignalAddress) -> bytes:
        """Our SenderKeyDistributionMessage for `group` (e.g. for a member who asked again)."""
        key = sender_key_name(group, our_address)
        async with self._keys.transaction():
            record = await self._sender_key(key, reset_corrupt=False) or SenderKeyRecord()
            distribution = sender_keys.distribution_message(sender_keys.own_state(record)).serialized
            await self._keys.put(_SENDER_KEY, {key: sender_key_record_to_bytes(record)})
        return distribution

    async def group_process_distribution(
        self, group: Jid | str, sender: SignalAddress, distribution: bytes
    ) -> None:
        """Take in `sender`'s key for `group` (from a 1:1 message). Raises InvalidMessage."""
        message = SenderKeyDistributionMessage.parse(distribution)
        key = sender_key_name(group, sender)
        async with self._keys.transaction():
            record = await self._sender_key(key, reset_corrupt=False) or SenderKeyRecord()
            sender_keys.process_distribution(record, message)
            await self._keys.put(_SENDER_KEY, {key: sender_key_record_to_bytes(record)})

    async def group_decrypt(self, group: Jid | str, sender: SignalAddress, ciphertext: bytes) -> bytes:
        """Raises InvalidMessage, NoSenderKey, SenderKeyCorrupt, DuplicateMessage, TooFarAhead."""
        key = sender_key_name(group, sender)
        async with self._keys.transaction():
            record = await self._sender_key(key, reset_corrupt=True)
            if record is not None:
                if not record.states:
                    raise NoSenderKey(f"no sender key from {sender} in {group}")
                plaintext = sender_keys.decrypt(record, ciphertext)
                await self._keys.put(_SENDER_KEY, {key: sender_key_record_to_bytes(record)})
        if record is None:  # raised only now, so that the reset commits
            raise SenderKeyCorrupt(f"sender key {key} was corrupt and has been reset")
        return plaintext

    async def has_sender_key(self, group: Jid | str, sender: SignalAddress) -> bool:
        key = sender_key_name(group, sender)
        return bool(await self._keys.get(_SENDER_KEY, [key]))

    async def forget_sender_key(self, group: Jid | str, sender: SignalAddress) -> None:
        """Drop a sender key; for our own, the next group_encrypt makes a new one (rotation after a member
        leaves: the engine must then send the new distribution message to every member)."""
        await self._keys.put(_SENDER_KEY, {sender_key_name(group, sender): None})

    # ---- records -------------------------------------------------------------------------------------

    async def _session(self, key: str, *, reset_corrupt: bool) -> SessionRecord | None:
        """The stored record: an empty one when there is none; None when it was unreadable and
        `reset_corrupt` (its deletion is then part of the transaction). Without `reset_corrupt` an
        unreadable record reads as missing (the caller overwrites it)."""
        stored = (await self._keys.get(_SESSION, [key])).get(key)
        if stored is None:
            return SessionRecord()
        try:
            return session_record_from_bytes(stored)
        except RecordCorrupt as exc:
            log.warning("signal session %s is corrupt (%s): reset", key, exc)
            if not reset_corrupt:
                return None
            await self._keys.put(_SESSION, {key: None})
            return None

    async def _sender_key(self, key: str, *, reset_corrupt: bool) -> SenderKeyRecord | None:
        stored = (await self._keys.get(_SENDER_KEY, [key])).get(key)
        if stored is None:
            return SenderKeyRecord()
        try:
            return sender_key_record_from_bytes(stored)
        except RecordCorrupt as exc:
            log.warning("signal sender key %s is corrupt (%s): reset", key, exc)
            if reset_corrupt:
                await self._keys.put(_SENDER_KEY, {key: None})
            return None

    async def _observe_identity(self, key: str, identity: bytes) -> IdentityStatus:
        """Trust on first use: compare with the stored identity and store the new one (same transaction)."""
        stored = (await self._keys.get(_IDENTITY, [key])).get(key)
        if stored is not None and stored == curve.prefixed(identity):
            return IdentityStatus.UNCHANGED
        await self._keys.put(_IDENTITY, {key: curve.prefixed(identity)})
        return IdentityStatus.NEW if stored is None else IdentityStatus.CHANGED

    async def _one_time_pre_key(self, key_id: int | None) -> curve.KeyPair | None:
        if key_id is None:
            return None
        stored = (await self._keys.get(_PRE_KEY, [str(key_id)])).get(str(key_id))
        if stored is None or len(stored) != 2 * curve.KEY_SIZE:
            raise MissingPreKey(f"one-time prekey {key_id} is gone (already used, or never ours)")
        return curve.KeyPair(private=stored[: curve.KEY_SIZE], public=stored[curve.KEY_SIZE :])


def _signed_pre_key(creds: Credentials, key_id: int) -> curve.KeyPair:
    for signed in (creds.signed_pre_key, creds.previous_signed_pre_key):
        if signed is not None and signed.key_id == key_id:
            return signed.key_pair
    raise MissingPreKey(f"signed prekey {key_id} is not ours (any more)")
