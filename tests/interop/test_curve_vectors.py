"""Our XEdDSA against Baileys' Curve (libsignal's curve.js): each side verifies the other's signatures and
rejects tampered ones, on fixed keys and messages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from connector.engines.web.crypto import curve
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop


def _fixed(label: str, size: int = 32) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"wagate curve vectors/{label}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


# Raw private keys as stored (unclamped), plus the extremes: clamping must be applied the same way.
PRIVATE_KEYS = [_fixed(f"key {i}") for i in range(6)] + [b"\xff" * 32, b"\x00" * 31 + b"\x01"]
MESSAGES = [
    b"",
    b"hello",
    b"\x05" + _fixed("a signed prekey's public key"),  # what signed prekeys sign
    b"\x06\x00" + _fixed("adv details", 120),  # ADV account-signature shape
    _fixed("a long message", 1500),
]
CASES = [(key, MESSAGES[i % len(MESSAGES)]) for i, key in enumerate(PRIVATE_KEYS)]

Tamper = Callable[[bytes, bytes, bytes], tuple[bytes, bytes, bytes]]


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[index] ^= mask
    return bytes(changed)


OTHER_PUBLIC = curve.KeyPair.from_private(_fixed("someone else")).public
TAMPERS: dict[str, Tamper] = {
    "R changed": lambda pub, msg, sig: (pub, msg, _flip(sig, 0)),
    "S changed": lambda pub, msg, sig: (pub, msg, _flip(sig, 40)),
    "sign bit flipped": lambda pub, msg, sig: (pub, msg, _flip(sig, 63, 0x80)),
    "message changed": lambda pub, msg, sig: (pub, msg + b"!", sig),
    "other key": lambda pub, msg, sig: (OTHER_PUBLIC, msg, sig),
}


def _ours(index: int, key: bytes, message: bytes) -> tuple[bytes, bytes]:
    pair = curve.KeyPair.from_private(key)
    return pair.public, curve.sign(key, message, nonce=_fixed(f"nonce {index}", 64))


@pytest.fixture(scope="module")
def baileys(run_node: RunNode) -> dict[str, Any]:
    """One node run: Baileys signs our cases, and judges our signatures (valid, then each tamper)."""
    to_verify: list[dict[str, str]] = []
    for index, (key, message) in enumerate(CASES):
        public, signature = _ours(index, key, message)
        for triple in [(public, message, signature)] + [
            t(public, message, signature) for t in TAMPERS.values()
        ]:
            to_verify.append(
                {"public": triple[0].hex(), "message": triple[1].hex(), "signature": triple[2].hex()}
            )
    to_sign = [{"private": key.hex(), "message": message.hex()} for key, message in CASES]
    answer: dict[str, Any] = run_node("curve_vectors.mjs", {"sign": to_sign, "verify": to_verify})
    return answer


def _verdicts(baileys: dict[str, Any], index: int) -> list[dict[str, bool]]:
    per_case = 1 + len(TAMPERS)
    verdicts: list[dict[str, bool]] = baileys["verified"][index * per_case : (index + 1) * per_case]
    return verdicts


def test_public_keys_agree(baileys: dict[str, Any]) -> None:
    for (key, _), signed in zip(CASES, baileys["signed"], strict=True):
        assert curve.KeyPair.from_private(key).public.hex() == signed["public"]


def test_baileys_signatures_verify_with_ours(baileys: dict[str, Any]) -> None:
    for (_, message), signed in zip(CASES, baileys["signed"], strict=True):
        public, signature = bytes.fromhex(signed["public"]), bytes.fromhex(signed["signature"])
        assert curve.verify(public, message, signature)
        assert curve.verify(curve.prefixed(public), message, signature)


@pytest.mark.parametrize("tamper", TAMPERS)
def test_tampered_baileys_signatures_fail_with_ours(baileys: dict[str, Any], tamper: str) -> None:
    for (_, message), signed in zip(CASES, baileys["signed"], strict=True):
        triple = TAMPERS[tamper](bytes.fromhex(signed["public"]), message, bytes.fromhex(signed["signature"]))
        assert not curve.verify(*triple)


def test_our_signatures_verify_with_libsignal(baileys: dict[str, Any]) -> None:
    for index in range(len(CASES)):
        assert _verdicts(baileys, index)[0]["libsignal"] is True


@pytest.mark.parametrize("position", range(1, 1 + len(TAMPERS)), ids=list(TAMPERS))
def test_tampered_ours_fail_with_libsignal(baileys: dict[str, Any], position: int) -> None:
    for index in range(len(CASES)):
        assert _verdicts(baileys, index)[position]["libsignal"] is False


def test_baileys_curve_verify_ignores_the_verdict(baileys: dict[str, Any]) -> None:
    """Canary: Baileys' `Curve.verify` (rc13) drops libsignal's boolean, so it accepts tampered signatures,
    and Baileys' own Noise certificate check is toothless. We never use it as an oracle; when an upgrade
    fixes it this fails, and the other tests here can judge with it too."""
    tampered = [v["baileys"] for i in range(len(CASES)) for v in _verdicts(baileys, i)[1:]]
    assert all(tampered)
