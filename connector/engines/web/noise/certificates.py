"""Verifying the edge's certificate chain (root -> intermediate -> leaf) sent inside the Noise ServerHello.

The root key is configuration (WhatsApp's by default; tests and the fake edge use their own). Checks, in
order: both certificates present; the intermediate XEdDSA-signed by the root and issued by the root's
serial; the leaf signed by the intermediate's key and issued by its serial; both inside their validity
windows (which must be present); and the leaf's key is the static key the server proved in the handshake.
Baileys checks only part of this, whatsmeow all but the windows; we check all of it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from connector.engines.web.crypto import curve
from connector.engines.web.errors import CertificateError, InvalidKey
from connector.engines.web.noise.messages import (
    CertificateDetails,
    NoiseCertificate,
    ProtobufError,
    decode_cert_chain,
    decode_details,
)

WHATSAPP_ROOT_PUBLIC_KEY = bytes.fromhex("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
"""WhatsApp's long-term Noise root ("WhatsAppLongTerm1"), serial 0: a published protocol constant."""

WHATSAPP_ROOT_SERIAL = 0


@dataclass(frozen=True, slots=True)
class ServerTrust:
    """Whom the client trusts to run the edge: the root public key and serial, and a clock for validity."""

    root_public_key: bytes = WHATSAPP_ROOT_PUBLIC_KEY
    root_serial: int = WHATSAPP_ROOT_SERIAL
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """What a verified chain told us (for logs and diagnostics)."""

    intermediate: CertificateDetails
    leaf: CertificateDetails


def verify_chain(chain: bytes, server_static: bytes, trust: ServerTrust) -> VerifiedChain:
    """Check the serialized CertChain against `trust` and the server's static key.

    Raises CertificateError, saying which check failed.
    """
    try:
        decoded = decode_cert_chain(chain)
    except ProtobufError as exc:
        raise CertificateError(f"certificate chain is not a valid CertChain: {exc}") from exc
    intermediate_raw, intermediate_signature = _parts(decoded.intermediate, "intermediate")
    leaf_raw, leaf_signature = _parts(decoded.leaf, "leaf")

    if not curve.verify(trust.root_public_key, intermediate_raw, intermediate_signature):
        raise CertificateError("intermediate certificate is not signed by the trusted root key")
    intermediate = _details(intermediate_raw, "intermediate")
    if (intermediate.issuer_serial or 0) != trust.root_serial:
        raise CertificateError(
            f"intermediate certificate issuer serial {intermediate.issuer_serial or 0}, "
            f"expected the root's {trust.root_serial}"
        )
    intermediate_key = _key(intermediate, "intermediate")

    if not curve.verify(intermediate_key, leaf_raw, leaf_signature):
        raise CertificateError("leaf certificate is not signed by the intermediate certificate's key")
    leaf = _details(leaf_raw, "leaf")
    if (leaf.issuer_serial or 0) != (intermediate.serial or 0):
        raise CertificateError(
            f"leaf certificate issuer serial {leaf.issuer_serial or 0}, "
            f"expected the intermediate's serial {intermediate.serial or 0}"
        )

    now = trust.clock()
    _check_window(intermediate, "intermediate", now)
    _check_window(leaf, "leaf", now)
    if not hmac.compare_digest(_key(leaf, "leaf"), curve.unprefixed(server_static)):
        raise CertificateError("leaf certificate key is not the server's static key")
    return VerifiedChain(intermediate=intermediate, leaf=leaf)


def _parts(certificate: NoiseCertificate | None, name: str) -> tuple[bytes, bytes]:
    if certificate is None or not certificate.details or not certificate.signature:
        raise CertificateError(f"certificate chain has no {name} certificate (details and signature)")
    return certificate.details, certificate.signature


def _details(raw: bytes, name: str) -> CertificateDetails:
    try:
        return decode_details(raw)
    except ProtobufError as exc:
        raise CertificateError(f"{name} certificate details are malformed: {exc}") from exc


def _key(details: CertificateDetails, name: str) -> bytes:
    if details.key is None:
        raise CertificateError(f"{name} certificate has no key")
    try:
        return curve.unprefixed(details.key)
    except InvalidKey as exc:  # report it as what it is here: a bad certificate
        raise CertificateError(f"{name} certificate key is malformed ({len(details.key)} bytes)") from exc


def _check_window(details: CertificateDetails, name: str, now: float) -> None:
    if details.not_before is None or details.not_after is None:
        raise CertificateError(f"{name} certificate has no validity window")
    if now < details.not_before:
        raise CertificateError(f"{name} certificate not valid before {details.not_before} (now {int(now)})")
    if now > details.not_after:
        raise CertificateError(f"{name} certificate expired at {details.not_after} (now {int(now)})")
