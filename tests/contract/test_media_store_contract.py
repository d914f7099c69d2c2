"""One contract for the MediaStore port, run against the local directory and S3 (moto's server, real HTTP).

Signed links are fetched over HTTP as a CRM would: S3's presigned URLs from moto's server, the local ones
through the `wagate serve` branch that serves them (local/media_files.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.media_files import MediaFiles
from wagate.adapters.aws.s3_media import S3MediaStore
from wagate.adapters.local.dir_media import DirMediaStore
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.errors import NotFound
from wagate.ports import MediaStore
from wagate.store.sealed_media import MediaSealer
from wagate.store.tenant_keys import TenantKeys

BUCKET = "wagate-media-contract"
MiB = 1024 * 1024


@dataclass
class World:
    store: MediaStore
    fetch: Any  # fetch(method, url, headers, body) -> httpx.Response
    checks_signatures: bool = True

    def needs_signature_checks(self) -> None:
        """moto's S3 accepts any presigned URL (S3 itself checks the signature, expiry and signed headers):
        these refusals are the local adapter's to prove, made to match S3's."""
        if not self.checks_signatures:
            pytest.skip("moto does not check presigned signatures; S3 does")


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["dir", "sealed-dir", "s3"])
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    if request.param in ("dir", "sealed-dir"):
        sealer = None
        if request.param == "sealed-dir":
            table = SqliteTable(tmp_path / "keys.db")
            sealer = MediaSealer(TenantKeys(table, FileCrypto(tmp_path / "master.key")))
        store = DirMediaStore(
            tmp_path / "media", signing_key=os.urandom(32), base_url="http://wagate.test", sealer=sealer
        )
        files = MediaFiles(store)

        def fetch_local(
            method: str, url: str, headers: Mapping[str, str], body: bytes = b""
        ) -> httpx.Response:
            async def go() -> httpx.Response:
                transport = httpx.ASGITransport(app=files)  # type: ignore[arg-type]
                async with httpx.AsyncClient(transport=transport) as client:
                    return await client.request(method, url, headers=dict(headers), content=body)

            return asyncio.run(go())

        return World(store, fetch_local)
    endpoint = request.getfixturevalue("moto_server")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-1", config=Config(signature_version="s3v4")
    )
    try:
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3 = S3MediaStore(lambda: client, BUCKET, part_bytes=5 * MiB)

    def fetch_s3(method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> httpx.Response:
        return httpx.request(method, url, headers=dict(headers), content=body, timeout=30)

    return World(s3, fetch_s3, checks_signatures=False)


def key(name: str) -> str:
    return f"media/ten_contract/{name}-{time.time_ns()}"


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# ---- the contract -----------------------------------------------------------------------------------


def test_small_file_round_trip(world: World) -> None:
    k = key("small")
    assert world.store.put(k, [b"hello ", b"world"], content_type="text/plain") == 11
    assert b"".join(world.store.read(k)) == b"hello world"
    assert world.store.size(k) == 11


def test_empty_file(world: World) -> None:
    k = key("empty")
    assert world.store.put(k, [], content_type="text/plain") == 0
    assert world.store.size(k) == 0
    assert b"".join(world.store.read(k)) == b""


def test_large_file_streams_in_parts_and_reads_in_chunks(world: World) -> None:
    data = os.urandom(12 * MiB + 123)
    k = key("large")
    assert world.store.put(k, chunked(data, 64 * 1024), content_type="video/mp4") == len(data)
    assert world.store.size(k) == len(data)
    chunks = list(world.store.read(k, chunk_size=MiB))
    assert max(len(c) for c in chunks) <= MiB
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()


class Boom(Exception):
    pass


@pytest.mark.parametrize("after", [1, 7 * MiB])
def test_a_failing_stream_leaves_nothing(world: World, after: int) -> None:
    """A refused upload (too large, client gone) leaves no file, in one part or several."""
    k = key("failed")

    def stream() -> Iterator[bytes]:
        sent = 0
        while sent < after:
            yield b"x" * min(MiB, after - sent)
            sent += MiB
        raise Boom()

    with pytest.raises(Boom):
        world.store.put(k, stream(), content_type="application/pdf")
    assert world.store.size(k) is None
    with pytest.raises(NotFound):
        world.store.read(k)


def test_replacing_and_deleting(world: World) -> None:
    k = key("replace")
    world.store.put(k, [b"one"], content_type="text/plain")
    world.store.put(k, [b"second"], content_type="text/plain")
    assert b"".join(world.store.read(k)) == b"second"
    world.store.delete(k)
    world.store.delete(k)  # twice is fine
    assert world.store.size(k) is None


def test_missing_file_is_not_found(world: World) -> None:
    assert world.store.size(key("missing")) is None
    with pytest.raises(NotFound):
        world.store.read(key("missing"))


def test_download_link_serves_the_bytes_with_type_and_name(world: World) -> None:
    k = key("link")
    data = os.urandom(300_000)
    world.store.put(k, [data], content_type="application/pdf")
    url = world.store.download_url(k, expires_in=60, content_type="application/pdf", filename="Factura 7.pdf")
    answer = world.fetch("GET", url, {})
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["content-type"].startswith("application/pdf")
    assert "Factura" in answer.headers["content-disposition"]


def test_a_tampered_download_link_is_refused(world: World) -> None:
    world.needs_signature_checks()
    k = key("tamper")
    world.store.put(k, [b"secret"], content_type="text/plain")
    url = world.store.download_url(k, expires_in=60, content_type="text/plain")
    other = key("other")
    world.store.put(other, [b"other tenant"], content_type="text/plain")
    forged = url.replace(k.rsplit("/", 1)[1], other.rsplit("/", 1)[1])
    assert world.fetch("GET", forged, {}).status_code == 403


def test_an_expired_download_link_is_refused(world: World) -> None:
    world.needs_signature_checks()
    k = key("expired")
    world.store.put(k, [b"old"], content_type="text/plain")
    url = world.store.download_url(k, expires_in=1, content_type="text/plain")
    time.sleep(2.1)
    assert world.fetch("GET", url, {}).status_code == 403


def test_upload_target_takes_exactly_the_signed_size(world: World) -> None:
    k = key("upload")
    data = os.urandom(70_000)
    target = world.store.upload_target(k, expires_in=60, content_type="image/png", size=len(data))
    assert target.expires_at > time.time()
    if world.checks_signatures:
        headers = {**target.headers, "Content-Length": str(len(data) + 1)}
        assert world.fetch("PUT", target.url, headers, data + b"!").status_code in (400, 403)
        assert world.store.size(k) is None
    answer = world.fetch("PUT", target.url, target.headers, data)
    assert answer.status_code == 200, answer.text
    assert b"".join(world.store.read(k)) == data


def test_an_upload_target_does_not_download(world: World) -> None:
    world.needs_signature_checks()
    k = key("upload-get")
    world.store.put(k, [b"private"], content_type="text/plain")
    target = world.store.upload_target(k, expires_in=60, content_type="text/plain", size=7)
    assert world.fetch("GET", target.url, {}).status_code == 403
