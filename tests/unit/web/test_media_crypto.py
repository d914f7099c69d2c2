"""Media crypto and the media-host client without a network: key expansion per kind, chunk-size
independence, integrity refusals, and that a 16 MB file streams through (never held whole in memory)."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from connector.engines.web.binary.node import Node
from connector.engines.web.media import (
    Expected,
    MediaDecryptor,
    MediaEncryptor,
    MediaHosts,
    MediaIntegrityError,
    MediaKind,
    MediaRef,
    decrypt_media,
    encrypt_into,
    encrypt_media,
    encrypted_length,
    expand_media_key,
    parse_media_conn,
)

SIXTEEN_MB = 16 * 1024 * 1024
KEY = bytes(range(32))


def _plain_chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (size // 32)
    for start in range(0, total, size):
        yield block[: min(size, total - start)]


def test_each_kind_has_its_own_keys_and_the_documented_info_strings() -> None:
    assert MediaKind.IMAGE.hkdf_info == b"WhatsApp Image Keys"
    assert MediaKind.HISTORY.hkdf_info == b"WhatsApp History Keys"
    assert MediaKind.APP_STATE.hkdf_info == b"WhatsApp App State Keys"
    assert MediaKind.STICKER.hkdf_info == MediaKind.IMAGE.hkdf_info  # stickers use image keys
    assert MediaKind.PTT.hkdf_info == b"WhatsApp Audio Keys"
    assert MediaKind.THUMBNAIL_LINK.hkdf_info == b"WhatsApp Link Thumbnail Keys"
    assert expand_media_key(KEY, MediaKind.IMAGE) != expand_media_key(KEY, MediaKind.VIDEO)
    with pytest.raises(ValueError):
        expand_media_key(b"short", MediaKind.IMAGE)


@pytest.mark.parametrize("size", [0, 1, 16, 100_000])
def test_chunking_never_changes_the_bytes(size: int) -> None:
    plain = bytes(i % 251 for i in range(size))
    whole, result = encrypt_media(plain, MediaKind.AUDIO, KEY)
    assert len(whole) == result.enc_length == encrypted_length(size)
    encryptor = MediaEncryptor(MediaKind.AUDIO, KEY)
    pieces = b"".join(encryptor.update(plain[i : i + 7]) for i in range(0, size, 7)) + encryptor.finish()
    assert pieces == whole and encryptor.result == result
    decryptor = MediaDecryptor(
        KEY, MediaKind.AUDIO, Expected(result.file_enc_sha256, result.file_sha256, size)
    )
    out = b"".join(decryptor.update(whole[i : i + 3]) for i in range(0, len(whole), 3)) + decryptor.finish()
    assert out == plain


def test_every_check_refuses_a_bad_file() -> None:
    data, result = encrypt_media(b"x" * 1000, MediaKind.DOCUMENT, KEY)
    with pytest.raises(MediaIntegrityError, match="not whole"):
        decrypt_media(data[:-1], KEY, MediaKind.DOCUMENT)
    with pytest.raises(MediaIntegrityError, match="not whole"):
        decrypt_media(data[:5], KEY, MediaKind.DOCUMENT)
    with pytest.raises(MediaIntegrityError, match="MAC"):
        decrypt_media(data[:-1] + bytes([data[-1] ^ 1]), KEY, MediaKind.DOCUMENT)
    with pytest.raises(MediaIntegrityError, match="fileEncSha256"):
        decrypt_media(data, KEY, MediaKind.DOCUMENT, Expected(file_enc_sha256=b"\x00" * 32))
    with pytest.raises(MediaIntegrityError, match="fileSha256"):
        decrypt_media(data, KEY, MediaKind.DOCUMENT, Expected(file_sha256=b"\x00" * 32))
    with pytest.raises(MediaIntegrityError, match="1000 bytes"):
        decrypt_media(data, KEY, MediaKind.DOCUMENT, Expected(file_length=999))
    assert decrypt_media(data, KEY, MediaKind.DOCUMENT, Expected(result.file_enc_sha256)) == b"x" * 1000


def test_a_16_mb_file_is_encrypted_to_disk_without_being_held(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for chunk in _plain_chunks(SIXTEEN_MB):
            out.write(chunk)
    tracemalloc.start()
    try:
        with (tmp_path / "big.enc").open("wb") as enc:
            result = asyncio.run(encrypt_into(source, MediaKind.VIDEO, enc))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.file_length == SIXTEEN_MB and (tmp_path / "big.enc").stat().st_size == result.enc_length
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes"


def test_a_16_mb_download_streams_through_the_decryptor() -> None:
    encryptor = MediaEncryptor(MediaKind.VIDEO, KEY)
    for chunk in _plain_chunks(SIXTEEN_MB):
        encryptor.update(chunk)
    encryptor.finish()
    result = encryptor.result

    async def encrypted() -> AsyncIterator[bytes]:  # generated as it is sent, like a network stream
        again = MediaEncryptor(MediaKind.VIDEO, KEY)
        for chunk in _plain_chunks(SIXTEEN_MB):
            yield again.update(chunk)
        yield again.finish()

    def serve(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "mmg.example.whatsapp.net" and request.headers["Origin"]
        assert request.url.params["mms-type"] == "video"
        return httpx.Response(200, content=encrypted())

    async def query(node: Node) -> Node:
        host = Node("host", {"hostname": "mmg.example.whatsapp.net"})
        return Node("iq", {"type": "result"}, [Node("media_conn", {"auth": "a", "ttl": "60"}, [host])])

    hosts = MediaHosts(query, transport=httpx.MockTransport(serve))
    ref = MediaRef(KEY, "/v/t62/x.enc?oh=1", None, result.file_enc_sha256, result.file_sha256, SIXTEEN_MB)
    digest = hashlib.sha256()

    async def sink(chunk: bytes) -> None:
        digest.update(chunk)

    tracemalloc.start()
    try:
        length = asyncio.run(hosts.download(ref, MediaKind.VIDEO, sink))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert length == SIXTEEN_MB and digest.digest() == result.file_sha256
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


def test_media_conn_answers_are_read_strictly() -> None:
    good = Node(
        "iq",
        {},
        [
            Node(
                "media_conn",
                {"auth": "tok", "ttl": "300", "auth_ttl": "100", "max_buckets": "12"},
                [Node("host", {"hostname": "mmg.whatsapp.net"}), Node("host", {"hostname": "evil/host"})],
            )
        ],
    )
    conn = parse_media_conn(good, 1000.0)
    assert conn.hosts == ("mmg.whatsapp.net",) and conn.fresh(1099) and not conn.fresh(1100)
    from connector.engines.web.errors import ProtocolError

    with pytest.raises(ProtocolError):
        parse_media_conn(Node("iq", {}, [Node("media_conn", {"auth": "tok"})]), 0)
