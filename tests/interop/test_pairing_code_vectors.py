"""Linking by phone number: our code alphabet, key wrapping, key bundle and ADV secret equal Baileys'."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from connector.engines.web.crypto.curve import KeyPair
from connector.engines.web.pairing_code import finish, new_code, unwrap_key, wrap_key
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop


def _fixed(label: str, size: int = 32) -> bytes:
    return hashlib.sha256(label.encode()).digest()[:size]


def test_pairing_code_crypto_matches_baileys(run_node: RunNode) -> None:
    code = new_code(_fixed("code", 5))
    ephemeral, identity = KeyPair.from_private(_fixed("eph")), KeyPair.from_private(_fixed("id"))
    primary_identity, primary_ephemeral = (
        KeyPair.from_private(_fixed("pid")),
        KeyPair.from_private(_fixed("peph")),
    )
    salt, iv, random = _fixed("salt"), _fixed("iv", 16), _fixed("random")
    bundle_salt, bundle_iv = _fixed("bundle salt"), _fixed("bundle iv", 12)
    case: dict[str, Any] = {
        "code_bytes": _fixed("code", 5).hex(),
        "code": code,
        "salt": salt.hex(),
        "iv": iv.hex(),
        "key": ephemeral.public.hex(),
        "ephemeral_private": ephemeral.private.hex(),
        "identity_private": identity.private.hex(),
        "identity_public": identity.public.hex(),
        "primary_identity_public": primary_identity.public.hex(),
        "primary_ephemeral_public": primary_ephemeral.public.hex(),
        "random": random.hex(),
        "bundle_salt": bundle_salt.hex(),
        "bundle_iv": bundle_iv.hex(),
    }
    theirs = run_node("pairing_code_vectors.mjs", case)
    assert theirs["code"] == code
    wrapped = wrap_key(code, ephemeral.public, salt=salt, iv=iv)
    assert wrapped.hex() == theirs["wrapped"]
    assert unwrap_key(code, wrapped) == ephemeral.public
    done = finish(
        ephemeral=ephemeral,
        identity=identity,
        primary_identity=primary_identity.public,
        primary_ephemeral=primary_ephemeral.public,
        random=random,
        salt=bundle_salt,
        iv=bundle_iv,
    )
    assert done.wrapped_bundle.hex() == theirs["bundle"]
    assert done.adv_secret.hex() == theirs["adv_secret"]
