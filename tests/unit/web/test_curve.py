"""Curve25519 keys, agreement and XEdDSA signatures (curve.py), without node: recorded Baileys vectors."""

from __future__ import annotations

import os

import pytest
import xeddsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engines.web.crypto import curve
from connector.engines.web.errors import InvalidKey, WebEngineError

MESSAGE = b"WhatsApp signed prekey"
# Recorded from Baileys 7.0.0-rc13 (`Curve.sign`, tests/interop/curve_vectors.mjs): (private, public,
# signature). The second key's Edwards form has its sign bit set, which libsignal stores in the
# signature's top bit (last byte 0x80): the verifier must take it from there.
BAILEYS_VECTORS = [
    (
        "15d16e715116a744ac40f86b257e1545fbaa681446b4f6ce3d2bf30d3706b80c",
        "b5d2785f281ad3833a579fa03128d86324c8b7c4436c0783532b96489073c10c",
        "72186a2c90f6a48140969d125f3e7909ac5e3cdf35b51e9ff88d84404a33becd"
        "d739c0af6f8ec53d73848b7cae8cb840b38fd9c24edba9039c133c21f5854605",
    ),
    (
        "ed2d068a1d8724bf95be1b93268c90641af650a459133afae89d074ab55835b7",
        "3d431ca81dddcfb76aaf57f3b3cac6d1ce666dfeb91bd2a4456c29cddd3f9a5c",
        "dc9bf8dbc95a1b92229da3e8bf39ec7117317065e1cc35e9652325e08eea40c6"
        "f480ce55309578b0b4639f09c190a16591219f1a7475dd2582117b2107a89980",
    ),
]


@pytest.mark.parametrize(("private", "public", "signature"), BAILEYS_VECTORS)
def test_recorded_baileys_signatures_verify(private: str, public: str, signature: str) -> None:
    assert curve.KeyPair.from_private(bytes.fromhex(private)).public.hex() == public
    assert curve.verify(bytes.fromhex(public), MESSAGE, bytes.fromhex(signature))
    assert not curve.verify(bytes.fromhex(public), MESSAGE + b".", bytes.fromhex(signature))


def test_key_pair_matches_x25519_and_hides_the_private_key() -> None:
    pair = curve.KeyPair.generate()
    expected = X25519PrivateKey.from_private_bytes(pair.private).public_key().public_bytes_raw()
    assert pair.public == expected
    assert pair.private.hex() not in repr(pair)
    with pytest.raises(InvalidKey):
        curve.KeyPair.from_private(b"\x01" * 31)


def test_type_prefix() -> None:
    public = curve.KeyPair.generate().public
    assert curve.prefixed(public) == b"\x05" + public
    assert curve.prefixed(curve.prefixed(public)) == b"\x05" + public
    assert curve.unprefixed(b"\x05" + public) == public
    assert curve.unprefixed(public) == public
    for bad in (b"\x06" + public, public[:31], public + b"\x00\x00", b""):
        with pytest.raises(InvalidKey):
            curve.unprefixed(bad)


def test_agreement_is_symmetric_and_accepts_either_key_form() -> None:
    alice, bob = curve.KeyPair.generate(), curve.KeyPair.generate()
    secret = curve.shared_secret(alice.private, bob.public)
    assert secret == curve.shared_secret(bob.private, curve.prefixed(alice.public))
    assert len(secret) == 32


@pytest.mark.parametrize(
    ("private", "public"), [(os.urandom(32), b"\x00" * 32), (os.urandom(31), os.urandom(32))]
)
def test_agreement_refuses_bad_keys_with_a_domain_error(private: bytes, public: bytes) -> None:
    with pytest.raises(InvalidKey):
        curve.shared_secret(private, public)


def test_our_signature_keeps_the_sign_bit_clear_and_verifies() -> None:
    for _ in range(32):  # about half the keys need the negation that keeps the bit clear
        pair = curve.KeyPair.generate()
        signature = curve.sign(pair.private, MESSAGE)
        assert len(signature) == 64 and signature[63] & 0x80 == 0
        assert curve.verify(pair.public, MESSAGE, signature)
        assert curve.verify(curve.prefixed(pair.public), MESSAGE, signature)


def test_a_fixed_nonce_gives_a_reproducible_signature() -> None:
    pair, nonce = curve.KeyPair.generate(), os.urandom(64)
    assert curve.sign(pair.private, MESSAGE, nonce=nonce) == curve.sign(pair.private, MESSAGE, nonce=nonce)
    with pytest.raises(InvalidKey):
        curve.sign(pair.private, MESSAGE, nonce=b"short")
    with pytest.raises(InvalidKey):
        curve.sign(b"\x00" * 16, MESSAGE)


def test_libsignal_style_signature_with_the_sign_bit_in_s_verifies() -> None:
    """An Ed25519 signature by the unnegated key, its Edwards sign bit stored in the top bit of S."""
    for _ in range(32):
        pair = curve.KeyPair.generate()
        clamped = bytearray(pair.private)
        clamped[0] &= 248
        clamped[31] = (clamped[31] & 127) | 64
        edwards_sign = xeddsa.priv_to_ed25519_pub(bytes(clamped))[31] & 0x80
        signature = bytearray(xeddsa.ed25519_priv_sign(bytes(clamped), MESSAGE, os.urandom(64)))
        signature[63] |= edwards_sign
        assert curve.verify(pair.public, MESSAGE, bytes(signature))
        signature[63] ^= 0x80
        assert not curve.verify(pair.public, MESSAGE, bytes(signature))


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (os.urandom(31), os.urandom(64)),  # short key
        (b"\x06" + os.urandom(32), os.urandom(64)),  # unknown key type
        ((2**255 - 20).to_bytes(32, "little"), os.urandom(64)),  # u = -1 has no Edwards form
        (os.urandom(32), os.urandom(63)),  # short signature
        (os.urandom(32), os.urandom(65)),  # long signature
        (os.urandom(32), b"\xff" * 64),  # S far out of range
    ],
)
def test_malformed_inputs_are_simply_invalid(public: bytes, signature: bytes) -> None:
    assert curve.verify(public, MESSAGE, signature) is False


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=300), seed=st.binary(min_size=32, max_size=32))
def test_sign_then_verify(message: bytes, seed: bytes) -> None:
    pair = curve.KeyPair.from_private(seed)
    signature = curve.sign(seed, message)
    assert curve.verify(pair.public, message, signature)
    assert not curve.verify(pair.public, message + b"\x00", signature)


@settings(max_examples=200, deadline=None)
@given(public=st.binary(max_size=40), message=st.binary(max_size=64), signature=st.binary(max_size=70))
def test_verify_never_raises(public: bytes, message: bytes, signature: bytes) -> None:
    assert curve.verify(public, message, signature) in (True, False)


@settings(max_examples=100, deadline=None)
@given(private=st.binary(max_size=40), public=st.binary(max_size=40))
def test_agreement_raises_only_domain_errors(private: bytes, public: bytes) -> None:
    try:
        curve.shared_secret(private, public)
    except WebEngineError:
        pass
