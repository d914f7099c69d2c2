"""Our media crypto against Baileys' (messages-media): the same expanded keys for every kind, Baileys'
encryptions decrypt here with every check passing, ours decrypt in Baileys to the same plaintext with a MAC
and fileEncSha256 Baileys' own primitives agree with."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from connector.engines.web.media import (
    Expected,
    MediaDecryptor,
    MediaEncryptor,
    MediaIntegrityError,
    MediaKind,
    decrypt_media,
    expand_media_key,
)
from tests.interop.conftest import RunNode

pytestmark = pytest.mark.interop


def _fixed(label: str, size: int) -> bytes:
    out, counter = b"", 0
    while len(out) < size:
        out += hashlib.sha256(f"wagate media vectors/{label}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


# Around every AES block edge, and one file larger than the 64 KiB chunks (so streaming crosses chunks).
SIZES = [0, 1, 15, 16, 17, 31, 32, 1000, 65_536, 200_003]
KINDS = list(MediaKind)
CASES = [(KINDS[i % len(KINDS)], _fixed(f"plain {i}", size)) for i, size in enumerate(SIZES)]


def _ours(index: int, kind: MediaKind, plain: bytes) -> tuple[bytes, Any]:
    """Encrypted in uneven chunks, as a stream would arrive."""
    encryptor = MediaEncryptor(kind, _fixed(f"key {index}", 32))
    out = bytearray()
    for start in range(0, len(plain), 7919):
        out += encryptor.update(plain[start : start + 7919])
    out += encryptor.finish()
    return bytes(out), encryptor.result


@pytest.fixture(scope="module")
def baileys(run_node: RunNode) -> dict[str, Any]:
    ours = [_ours(i, kind, plain) for i, (kind, plain) in enumerate(CASES)]
    answer: dict[str, Any] = run_node(
        "media_vectors.mjs",
        {
            "keys": [{"kind": kind.value, "mediaKey": _fixed(f"key {kind}", 32).hex()} for kind in KINDS],
            "encrypt": [{"kind": kind.value, "plain": plain.hex()} for kind, plain in CASES],
            "decrypt": [
                {"kind": kind.value, "mediaKey": result.media_key.hex(), "enc": enc.hex()}
                for (kind, _), (enc, result) in zip(CASES, ours, strict=True)
            ],
        },
    )
    answer["ours"] = ours
    return answer


def test_every_kind_expands_to_baileys_keys(baileys: dict[str, Any]) -> None:
    for kind, theirs in zip(KINDS, baileys["keys"], strict=True):
        keys = expand_media_key(_fixed(f"key {kind}", 32), kind)
        assert (keys.iv.hex(), keys.cipher_key.hex(), keys.mac_key.hex()) == (
            theirs["iv"],
            theirs["cipherKey"],
            theirs["macKey"],
        ), kind


def test_baileys_encryptions_decrypt_here_with_every_check(baileys: dict[str, Any]) -> None:
    for (kind, plain), theirs in zip(CASES, baileys["encrypted"], strict=True):
        enc, key = bytes.fromhex(theirs["enc"]), bytes.fromhex(theirs["mediaKey"])
        expected = Expected(
            bytes.fromhex(theirs["fileEncSha256"]), bytes.fromhex(theirs["fileSha256"]), len(plain)
        )
        assert theirs["fileLength"] == len(plain)
        assert hashlib.sha256(enc).hexdigest() == theirs["fileEncSha256"]
        decryptor = MediaDecryptor(key, kind, expected)
        out = b"".join(decryptor.update(enc[i : i + 4099]) for i in range(0, len(enc), 4099))
        assert out + decryptor.finish() == plain, kind
        # Re-encrypting with Baileys' key gives Baileys' bytes: CBC with the derived IV is deterministic.
        encryptor = MediaEncryptor(kind, key)
        assert encryptor.update(plain) + encryptor.finish() == enc
        assert encryptor.result.file_sha256.hex() == theirs["fileSha256"]


def test_our_encryptions_decrypt_in_baileys(baileys: dict[str, Any]) -> None:
    for (kind, plain), (_enc, result), theirs in zip(
        CASES, baileys["ours"], baileys["decrypted"], strict=True
    ):
        assert theirs["plain"] == plain.hex(), kind
        assert theirs["macOk"] is True
        assert theirs["fileEncSha256"] == result.file_enc_sha256.hex()
        assert result.file_sha256 == hashlib.sha256(plain).digest() and result.file_length == len(plain)


def test_a_baileys_file_with_the_wrong_kind_or_a_flipped_byte_is_refused(baileys: dict[str, Any]) -> None:
    kind, _ = CASES[7]
    theirs = baileys["encrypted"][7]
    enc, key = bytearray.fromhex(theirs["enc"]), bytes.fromhex(theirs["mediaKey"])
    other = MediaKind.DOCUMENT if kind is not MediaKind.DOCUMENT else MediaKind.IMAGE
    with pytest.raises(MediaIntegrityError, match="MAC"):
        decrypt_media(bytes(enc), key, other)
    enc[20] ^= 1
    with pytest.raises(MediaIntegrityError, match="MAC"):
        decrypt_media(bytes(enc), key, kind)
