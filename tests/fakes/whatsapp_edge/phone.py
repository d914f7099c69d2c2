"""The phone that scans QR codes: the primary device's side of ADV pairing, with real crypto.

It reads the QR text (ref, noise key, identity key, ADV secret, client type), builds the device identity
(`ADVDeviceIdentity`), signs 06 00 + details + the companion's identity key with the account key (XEdDSA),
MACs the signed identity with the ADV secret (HMAC-SHA256), and hands it to the edge, which delivers it
as `pair-success`. Knobs make it wrong in exactly one way, for the fault tests.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import time
from dataclasses import dataclass

from connector.engines.web.binary.jid import Jid
from connector.engines.web.crypto import curve
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


class PasskeyRequested(Exception):
    """The scan did not link: WhatsApp sent the companion a passkey_prologue_request instead."""


class FakePhone:
    def __init__(self, edge: FakeEdge, phone: str, *, wrong_hmac: bool = False, bad_signature: bool = False):
        self.edge = edge
        self.account = edge.state.account(phone)
        self.wrong_hmac = wrong_hmac
        self.bad_signature = bad_signature

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
