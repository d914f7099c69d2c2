"""The phone that scans QR codes: the primary device's side of ADV pairing, with real crypto.

It reads the QR text (ref, noise key, identity key, ADV secret, client type), builds the device identity
(`ADVDeviceIdentity`), signs 06 00 + details + the companion's identity key with the account key (XEdDSA),
MACs the signed identity with the ADV secret (HMAC-SHA256), and hands it to the edge, which delivers it
as `pair-success`. Knobs make it wrong in exactly one way, for the fault tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.engines.web.binary.jid import Jid
from connector.engines.web.binary.node import Node
from connector.engines.web.crypto import curve
from connector.engines.web.errors import WebEngineError
from connector.engines.web.protos import wa
from tests.fakes.whatsapp_edge.server import FakeEdge

QR_PREFIX = "https://wa.me/settings/linked_devices#"
ADV_ACCOUNT_PREFIX = b"\x06\x00"
ADV_HOSTED_ACCOUNT_PREFIX = b"\x06\x05"


@dataclass(frozen=True)
class ScannedQr:
    ref: str
    noise_public: bytes
    identity_public: bytes
    adv_secret: bytes
    client_type: str | None


def _ctr(code: str, salt: bytes, iv: bytes, data: bytes) -> bytes:
    key = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, 2 << 16, 32)
    cipher = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return cipher.update(data) + cipher.finalize()


def parse_qr(text: str) -> ScannedQr:
    """What a phone reads from a pairing QR code (the URL form, or the older bare comma-separated one)."""
    body = text.removeprefix(QR_PREFIX)
    parts = body.split(",")
    if len(parts) not in (4, 5):
        raise ValueError(f"a pairing QR has 4 or 5 comma-separated fields, got {len(parts)}")
    try:
        keys = [base64.b64decode(part, validate=True) for part in parts[1:4]]
    except binascii.Error as exc:
        raise ValueError(f"QR keys are not base64: {exc}") from exc
    if any(len(key) != 32 for key in keys):
        raise ValueError("QR noise key, identity key and ADV secret must be 32 bytes each")
    return ScannedQr(parts[0], keys[0], keys[1], keys[2], parts[4] if len(parts) == 5 else None)


@dataclass(frozen=True)
class AdvIdentity:
    container: bytes  # ADVSignedDeviceIdentityHMAC: what pair-success carries
    signed: wa.ADVSignedDeviceIdentity  # the signed identity inside it


def adv_identity(
    *,
    account: curve.KeyPair,
    raw_id: int,
    key_index: int,
    companion_identity: bytes,
    adv_secret: bytes,
    timestamp: int | None = None,
    hosted: bool = False,
    wrong_hmac: bool = False,
    bad_signature: bool = False,
) -> AdvIdentity:
    """The phone-side ADV crypto for one companion device."""
    details = wa.ADVDeviceIdentity(rawId=raw_id, timestamp=timestamp or int(time.time()), keyIndex=key_index)
    if hosted:
        details.accountType = wa.HOSTED
        details.deviceType = wa.HOSTED
    details_bytes = details.SerializeToString()
    prefix = ADV_HOSTED_ACCOUNT_PREFIX if hosted else ADV_ACCOUNT_PREFIX
    signature = curve.sign(account.private, prefix + details_bytes + companion_identity)
    if bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    signed = wa.ADVSignedDeviceIdentity(
        details=details_bytes, accountSignatureKey=account.public, accountSignature=signature
    )
    signed_bytes = signed.SerializeToString()
    secret = os.urandom(32) if wrong_hmac else adv_secret
    mac = hmac.digest(secret, (ADV_HOSTED_ACCOUNT_PREFIX if hosted else b"") + signed_bytes, "sha256")
    container = wa.ADVSignedDeviceIdentityHMAC(details=signed_bytes, hmac=mac)
    if hosted:
        container.accountType = wa.HOSTED
    return AdvIdentity(container.SerializeToString(), signed)


class WrongCode(Exception):
    """The code typed on the phone does not open the companion's wrapped key (or none is pending)."""


class PasskeyRequested(Exception):
    """The scan did not link: WhatsApp sent the companion a passkey_prologue_request instead."""


class FakePhone:
    def __init__(self, edge: FakeEdge, phone: str, *, wrong_hmac: bool = False, bad_signature: bool = False):
        self.edge = edge
        self.account = edge.state.account(phone)
        self.wrong_hmac = wrong_hmac
        self.bad_signature = bad_signature

    async def enter_code(self, code: str, timeout: float = 10) -> Jid:
        """The user types `code` under Linked devices → Link with phone number. Returns the device's jid.

        The phone's side of the exchange, written from the protocol description (not from the engine's
        module): unwrap the companion's key, send ours wrapped with the same code, read the companion's
        key bundle, derive the ADV secret both sides must agree on, then pair as after a scan.
        Raises WrongCode, LookupError (no companion waits for this number), PairingRefused.
        """
        waiting = [
            s
            for s in self.edge.sessions
            if s.link_code is not None and s.link_code["phone"] == self.account.phone
        ]
        if not waiting:
            raise LookupError(f"no device asked to link to {self.account.phone} by code")
        session = waiting[-1]
        hello = session.link_code
        assert hello is not None and session.registration is not None
        wrapped = hello["link_code_pairing_wrapped_companion_ephemeral_pub"]
        companion_ephemeral = _ctr(code, wrapped[:32], wrapped[32:48], wrapped[48:])
        ours = curve.KeyPair.generate()
        try:
            shared = curve.shared_secret(ours.private, companion_ephemeral)
        except WebEngineError as exc:  # what a wrong code yields: 32 bytes that are no usable key
            raise WrongCode(str(exc)) from exc
        salt, iv = os.urandom(32), os.urandom(16)
        notification = Node(
            "link_code_companion_reg",
            {"stage": "primary_hello"},
            [
                Node("link_code_pairing_ref", {}, hello["ref"]),
                Node("primary_identity_pub", {}, self.account.identity.public),
                Node(
                    "link_code_pairing_wrapped_primary_ephemeral_pub",
                    {},
                    salt + iv + _ctr(code, salt, iv, ours.public),
                ),
            ],
        )
        session.link_finished.clear()
        await session.notify("link_code_companion_reg", [notification])
        async with asyncio.timeout(timeout):
            await session.link_finished.wait()
        bundle = hello["bundle"]
        key = HKDF(hashes.SHA256(), 32, bundle[:32], b"link_code_pairing_key_bundle_encryption_key").derive(
            shared
        )
        try:
            plain = AESGCM(key).decrypt(bundle[32:44], bundle[44:], b"")
        except InvalidTag as exc:
            raise WrongCode("the companion's key bundle does not open: the codes differ") from exc
        companion_identity, primary_identity, random = plain[:32], plain[32:64], plain[64:]
        if (
            companion_identity != session.registration.identity_public
            or primary_identity != self.account.identity.public
        ):
            raise ValueError("the key bundle names other identity keys")
        identity_shared = curve.shared_secret(self.account.identity.private, companion_identity)
        adv_secret = HKDF(hashes.SHA256(), 32, None, b"adv_secret").derive(shared + identity_shared + random)
        device = self.account.allocate_device()
        identity = adv_identity(
            account=self.account.identity,
            raw_id=self.account.raw_id,
            key_index=device,
            companion_identity=companion_identity,
            adv_secret=adv_secret,
        )
        await session.pair(self.account, device, identity.container, identity.signed)
        return self.account.device_jid(device)

    async def scan(self, qr: str) -> Jid:
        """Link the device showing `qr`. Returns its jid once the edge has stored it.

        Raises LookupError (no live registration offers that ref), ValueError (not a pairing QR, or keys
        that are not the connection's), PairingRefused (the companion refused the pair-success),
        PasskeyRequested (the account links only with its passkey: the companion got the challenge).
        """
        scanned = parse_qr(qr)
        session = self.edge.session_for_ref(scanned.ref)
        registration = session.registration
        assert registration is not None
        if scanned.noise_public != session.client_static:
            raise ValueError("the QR's noise key is not the key of the connection offering that ref")
        if scanned.identity_public != registration.identity_public:
            raise ValueError("the QR's identity key is not the one the device registered")
        if self.account.passkey:
            await session.request_passkey()
            raise PasskeyRequested(f"{self.account.phone} links new devices only with its passkey")
        device = self.account.allocate_device()
        identity = adv_identity(
            account=self.account.identity,
            raw_id=self.account.raw_id,
            key_index=device,
            companion_identity=scanned.identity_public,
            adv_secret=scanned.adv_secret,
            wrong_hmac=self.wrong_hmac,
            bad_signature=self.bad_signature,
        )
        await session.pair(self.account, device, identity.container, identity.signed)
        return self.account.device_jid(device)
