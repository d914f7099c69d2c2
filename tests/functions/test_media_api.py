"""/v1/media through the real handlers on the local adapters: multipart uploads, upload links, signed links.

Links are opened through `wagate serve`'s media branch (local/media_files.py), as a CRM would open them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import os
from typing import Any

import httpx
import pytest
from PIL import Image

from local.media_files import MediaFiles
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.adapters.local.dir_media import DirMediaStore
from wagate.services import tenants


def png(size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def multipart(data: bytes, name: str, fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST", "http://x/", files={"file": (name, data, "application/octet-stream")}, data=fields or {}
    )
    return request.read(), request.headers["content-type"]


def upload(call: ApiCaller, key: str, data: bytes, name: str, **fields: str) -> tuple[int, Any]:
    body, content_type = multipart(data, name, fields)
    status, answer, _ = call(
        "POST", "/v1/media", key, binary_body=body, headers={"content-type": content_type}
    )
    return status, answer


def open_link(deps: wiring.Deps, method: str, url: str, **kwargs: Any) -> httpx.Response:
    assert isinstance(deps.media_store, DirMediaStore)
    app = MediaFiles(deps.media_store)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:  # type: ignore[arg-type]
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def test_an_upload_is_typed_by_its_bytes_and_hashed(call: ApiCaller, key: str, local_deps: Any) -> None:
    data = png()
    status, media = upload(call, key, data, "factura.pdf")  # the name lies; the bytes say PNG
    assert status == 201, media
    assert media["kind"] == "image" and media["mime"] == "image/png"
    assert media["size"] == len(data) and media["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["filename"] == "factura.pdf"
    assert media["url"] and media["url_expires_at"] > 0
    status, again, _ = call("GET", f"/v1/media/{media['id']}", key)
    assert status == 200 and again["sha256"] == media["sha256"]
    answer = open_link(local_deps, "GET", again["url"])
    assert answer.status_code == 200 and answer.content == data
    assert answer.headers["content-type"] == "image/png"


def test_content_redirects_to_the_link(call: ApiCaller, key: str, local_deps: Any) -> None:
    _, media = upload(call, key, PDF, "contract.pdf")
    assert media["kind"] == "document" and media["mime"] == "application/pdf"
    status, _, headers = call("GET", f"/v1/media/{media['id']}/content", key)
    assert status == 302
    assert open_link(local_deps, "GET", headers["Location"]).content == PDF


def test_kinds_asked_for_must_fit_the_bytes(call: ApiCaller, key: str) -> None:
    status, media = upload(call, key, png(), "p.png", kind="document")
    assert status == 201 and media["kind"] == "document" and media["mime"] == "image/png"
    status, error = upload(call, key, PDF, "x.webp", kind="sticker")
    assert status == 422 and error["error"]["code"] == "media_kind_mismatch"
    status, error = upload(call, key, png(), "note.ogg", voice="true")
    assert status == 422 and error["error"]["code"] == "media_kind_mismatch"
    ogg = b"OggS\x00\x02" + os.urandom(400)
    status, media = upload(call, key, ogg, "note.ogg", voice="true")
    assert status == 201 and media["kind"] == "audio" and media["voice"] is True


def test_refusals_are_in_the_one_error_shape(call: ApiCaller, key: str, local_deps: Any) -> None:
    status, error, _ = call("POST", "/v1/media", key, body={"file": "x"})
    assert status == 415 and error["error"]["code"] == "unsupported_media_type"
    status, error = upload(call, key, b"", "empty.txt")
    assert status == 422 and error["error"]["code"] == "media_empty"
    small = dataclasses.replace(
        local_deps, settings=local_deps.settings.model_copy(update={"media_body_bytes": 2048})
    )
    wiring.install(small)
    status, error = upload(call, key, os.urandom(4096), "big.bin")
    assert status == 413 and error["error"]["code"] == "media_too_large"
    assert not any(small.settings.media_dir.rglob("med_*"))  # nothing stored


def test_another_tenants_media_is_not_found(call: ApiCaller, key: str, local_deps: Any) -> None:
    _, media = upload(call, key, PDF, "mine.pdf")
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    status, error, _ = call("GET", f"/v1/media/{media['id']}", other)
    assert status == 404 and error["error"]["code"] == "media_not_found"


def test_a_large_file_goes_through_an_upload_link(call: ApiCaller, key: str, local_deps: Any) -> None:
    data = b"%PDF-1.4\n" + os.urandom(6 * 1024 * 1024)
    status, pending, _ = call("POST", "/v1/uploads", key, body={"size": len(data), "filename": "manual.pdf"})
    assert status == 201, pending
    media_id = pending["id"]
    status, error, _ = call("POST", f"/v1/media/{media_id}/complete", key)
    assert status == 409 and error["error"]["code"] == "media_not_uploaded"
    status, error, _ = call("GET", f"/v1/media/{media_id}", key)
    assert status == 409 and error["error"]["code"] == "media_not_uploaded"
    link = pending["upload"]
    put = open_link(local_deps, "PUT", link["url"], headers=link["headers"], content=data)
    assert put.status_code == 200, put.text
    status, media, _ = call("POST", f"/v1/media/{media_id}/complete", key)
    assert status == 200, media
    assert media["mime"] == "application/pdf" and media["size"] == len(data)
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert open_link(local_deps, "GET", media["url"]).content == data


def test_an_uploaded_file_that_breaks_its_kind_is_deleted(call: ApiCaller, key: str, local_deps: Any) -> None:
    data = PDF * 10
    _, pending, _ = call("POST", "/v1/uploads", key, body={"size": len(data), "kind": "sticker"})
    link = pending["upload"]
    open_link(local_deps, "PUT", link["url"], headers=link["headers"], content=data)
    status, error, _ = call("POST", f"/v1/media/{pending['id']}/complete", key)
    assert status == 422 and error["error"]["code"] == "media_kind_mismatch"
    assert not any(local_deps.settings.media_dir.rglob(pending["id"]))


@pytest.mark.parametrize("size", [0, 200 * 1024 * 1024])
def test_upload_links_refuse_impossible_sizes(call: ApiCaller, key: str, size: int) -> None:
    status, error, _ = call("POST", "/v1/uploads", key, body={"size": size})
    assert status == 422 and error["error"]["code"] == "validation_failed"
