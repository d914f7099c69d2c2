"""The device's credentials: made fresh for registration, completed by pairing, kept only in the KeyStore.

One record, `creds/creds`, as deterministic JSON (sorted keys, no spaces, base64 bytes, format version):
the same credentials always serialise to the same bytes, so an unchanged record is never rewritten and
a diff of two records means something. Only private keys are stored; public halves are derived on load.

    noise key            the Noise static key the edge knows this device by
    identity key         the Signal identity key (signs prekeys and the device identity)
    signed prekey        XEdDSA-signed by the identity key; `published` once the edge has it
    registration id      Signal registration id, 1..16380
    adv secret           32 random bytes the phone MACs the device identity with (it reads them in the QR)
    after pairing        me (jid, lid, name), account (ADVSignedDeviceIdentity), platform
    from the edge        routing info (sent back in the `ED` intro on the next connection)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from connector.engines.keys import KeyNamespace, KeyStore
from connector.engines.web.binary.jid import Jid
from connector.engines.web.crypto import curve
from connector.engines.web.errors import CredentialsError, InvalidKey

CREDS_ID = "creds"
FORMAT_VERSION = 1
ADV_SECRET_SIZE = 32
MAX_REGISTRATION_ID = 16380  # Signal's range for registration ids
MAX_KEY_ID = (1 << 24) - 1  # prekey ids travel in 3 bytes

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    key_id: int
    key_pair: curve.KeyPair
    signature: bytes  # XEdDSA by the identity key over the 0x05-prefixed public key
    created_at: int  # epoch seconds: when it is due for rotation
    published: bool = True  # the edge has it (a rotation is saved first, then sent)

    @classmethod
    def generate(cls, identity: curve.KeyPair, key_id: int, now: float, *, published: bool) -> SignedPreKey:
        key_pair = curve.KeyPair.generate()
        signature = curve.sign(identity.private, curve.prefixed(key_pair.public))
        return cls(key_id, key_pair, signature, int(now), published)

    def verify(self, identity_public: bytes) -> bool:
        return curve.verify(identity_public, curve.prefixed(self.key_pair.public), self.signature)


@dataclass(frozen=True, slots=True)
class Me:
    """Who this device is once paired: `jid` = phone:device@s.whatsapp.net, `lid` = its LID twin."""

    jid: Jid
    lid: Jid | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    noise_key: curve.KeyPair
    identity_key: curve.KeyPair
    signed_pre_key: SignedPreKey
    registration_id: int
    adv_secret: bytes
    next_pre_key_id: int = 1  # the id the next generated one-time prekey gets
    first_unuploaded_pre_key_id: int = 1  # ids from here to next_pre_key_id - 1 await upload
    previous_signed_pre_key: SignedPreKey | None = None  # kept after a rotation: sessions in flight use it
    me: Me | None = None
    account: bytes | None = None  # ADVSignedDeviceIdentity (with account key and our device signature)
    platform: str | None = None
    routing_info: bytes | None = None

    @property
    def paired(self) -> bool:
        return self.me is not None and self.account is not None

    @classmethod
    def generate(cls, now: float) -> Credentials:
        """Fresh credentials for a device that has never been linked."""
        identity = curve.KeyPair.generate()
        return cls(
            noise_key=curve.KeyPair.generate(),
            identity_key=identity,
            signed_pre_key=SignedPreKey.generate(identity, 1, now, published=True),
            registration_id=secrets.randbelow(MAX_REGISTRATION_ID) + 1,
            adv_secret=os.urandom(ADV_SECRET_SIZE),
        )

    def replace(self, **changes: Any) -> Credentials:
        return dataclasses.replace(self, **changes)

    def to_bytes(self) -> bytes:
        record: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "noise_key": _b64(self.noise_key.private),
            "identity_key": _b64(self.identity_key.private),
            "signed_pre_key": _signed_pre_key(self.signed_pre_key),
            "registration_id": self.registration_id,
            "adv_secret": _b64(self.adv_secret),
            "next_pre_key_id": self.next_pre_key_id,
            "first_unuploaded_pre_key_id": self.first_unuploaded_pre_key_id,
        }
        optional: dict[str, Any] = {
            "previous_signed_pre_key": self.previous_signed_pre_key
            and _signed_pre_key(self.previous_signed_pre_key),
            "me": self.me and _me(self.me),
            "account": self.account and _b64(self.account),
            "platform": self.platform,
            "routing_info": self.routing_info and _b64(self.routing_info),
        }
        record.update({key: value for key, value in optional.items() if value is not None})
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Credentials:
        """Raises CredentialsError for anything that is not a complete record of a known format."""
        try:
            record = json.loads(data)
            if not isinstance(record, dict) or record.get("format") != FORMAT_VERSION:
                raise CredentialsError(f"unknown credentials format {_format_of(record)!r}")
            identity = _key_pair(record["identity_key"])
            creds = cls(
                noise_key=_key_pair(record["noise_key"]),
                identity_key=identity,
                signed_pre_key=_read_signed_pre_key(record["signed_pre_key"]),
                registration_id=_int(record["registration_id"], 1, MAX_REGISTRATION_ID),
                adv_secret=_bytes(record["adv_secret"], ADV_SECRET_SIZE),
                next_pre_key_id=_int(record["next_pre_key_id"], 1, MAX_KEY_ID),
                first_unuploaded_pre_key_id=_int(record["first_unuploaded_pre_key_id"], 1, MAX_KEY_ID),
                previous_signed_pre_key=_optional(record, "previous_signed_pre_key", _read_signed_pre_key),
                me=_optional(record, "me", _read_me),
                account=_optional(record, "account", lambda value: _bytes(value)),
                platform=_optional(record, "platform", _str),
                routing_info=_optional(record, "routing_info", lambda value: _bytes(value)),
            )
        except CredentialsError:
            raise
        except (KeyError, TypeError, ValueError, InvalidKey) as exc:  # ValueError covers JSON and base64
            raise CredentialsError(f"stored credentials are corrupt: {type(exc).__name__}: {exc}") from exc
        if not creds.signed_pre_key.verify(identity.public):
            raise CredentialsError("stored signed prekey is not signed by the stored identity key")
        return creds


class CredentialStore:
    """The engine's one copy of its credentials, written through to the KeyStore on every change.

    Updates are serialised (a lock) and build on the latest value, so a prekey upload and a routing-info
    update landing together cannot undo each other. Inside a KeyStore transaction the write joins it.
    """

    def __init__(self, keys: KeyStore, creds: Credentials) -> None:
        self._keys = keys
        self._creds = creds
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Credentials:
        return self._creds

    @classmethod
    async def open(cls, keys: KeyStore, now: float) -> tuple[CredentialStore, bool]:
        """The stored credentials, or fresh ones (saved at once); the flag says whether they are fresh.

        Raises CredentialsError when a stored record cannot be read.
        """
        stored = await keys.get(KeyNamespace.CREDS, [CREDS_ID])
        if CREDS_ID in stored:
            return cls(keys, Credentials.from_bytes(stored[CREDS_ID])), False
        store = cls(keys, Credentials.generate(now))
        await store.save()
        return store, True

    async def update(self, **changes: Any) -> Credentials:
        async with self._lock:
            updated = self._creds.replace(**changes)
            if updated != self._creds:
                await self._keys.put(KeyNamespace.CREDS, {CREDS_ID: updated.to_bytes()})
                self._creds = updated
            return updated

    async def save(self) -> None:
        async with self._lock:
            await self._keys.put(KeyNamespace.CREDS, {CREDS_ID: self._creds.to_bytes()})


# ---- the record's pieces ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _signed_pre_key(key: SignedPreKey) -> dict[str, Any]:
    return {
        "id": key.key_id,
        "private": _b64(key.key_pair.private),
        "signature": _b64(key.signature),
        "created_at": key.created_at,
        "published": key.published,
    }


def _me(me: Me) -> dict[str, Any]:
    record: dict[str, Any] = {"jid": str(me.jid)}
    if me.lid is not None:
        record["lid"] = str(me.lid)
    if me.name is not None:
        record["name"] = me.name
    return record


def _format_of(record: object) -> object:
    return record.get("format") if isinstance(record, dict) else type(record).__name__


def _bytes(value: object, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from exc
    if size is not None and len(data) != size:
        raise ValueError(f"expected {size} bytes, got {len(data)}")
    return data


def _key_pair(value: object) -> curve.KeyPair:
    return curve.KeyPair.from_private(_bytes(value, curve.KEY_SIZE))


def _int(value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"expected an integer in {low}..{high}, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _read_signed_pre_key(value: object) -> SignedPreKey:
    if not isinstance(value, Mapping):
        raise TypeError("signed prekey is not a record")
    published = value.get("published", True)
    if not isinstance(published, bool):
        raise TypeError("signed prekey 'published' is not a boolean")
    return SignedPreKey(
        key_id=_int(value["id"], 0, MAX_KEY_ID),
        key_pair=_key_pair(value["private"]),
        signature=_bytes(value["signature"], curve.SIGNATURE_SIZE),
        created_at=_int(value["created_at"], 0, 1 << 40),
        published=published,
    )


def _read_me(value: object) -> Me:
    if not isinstance(value, Mapping):
        raise TypeError("'me' is not a record")
    lid, name = value.get("lid"), value.get("name")
    return Me(
        jid=Jid.parse(_str(value["jid"])),
        lid=None if lid is None else Jid.parse(_str(lid)),
        name=None if name is None else _str(name),
    )


def _optional(record: Mapping[str, Any], key: str, read: Callable[[object], T]) -> T | None:
    value = record.get(key)
    return None if value is None else read(value)
