"""Serves signed media links for `wagate serve` (what S3 presigned URLs are in AWS): GET/HEAD and PUT.

`/media-files/{key}?x-expires=…&x-signature=…` is checked by the local media store (`DirMediaStore.verify`);
a GET streams the file in chunks, a PUT streams its body into the store, refusing a body whose size is not
the signed one (as S3 refuses a presigned PUT with another Content-Length). Refusals use the API's error
shape. The file is read and written on worker threads, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

from local.asgi import Message, Receive, Scope, Send, discard_body, send_response
from local.http_events import HttpResponse
from wagate.adapters.local.dir_media import PATH_PREFIX, DirMediaStore
from wagate.domain.errors import Forbidden, InvalidInput, NotFound, WagateError

CHUNK_BYTES = 256 * 1024


def _error(status: int, error: WagateError) -> HttpResponse:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(body).encode())


class MediaFiles:
    """The ASGI branch of `/media-files/`; `store` is the local media store of the runner's adapters."""

    def __init__(self, store: DirMediaStore) -> None:
        self.store = store

    @staticmethod
    def claims(scope: Scope) -> bool:
        return str(scope["path"]).startswith(PATH_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope["method"]).upper()
        query = scope.get("query_string", b"").decode("latin-1")
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        signed_as = "GET" if method == "HEAD" else method
        if method not in ("GET", "HEAD", "PUT"):
            await discard_body(receive, 1024 * 1024)
            await send_response(send, _error(405, InvalidInput(f"{method} is not allowed here")), close=True)
            return
        try:
            request = self.store.verify(signed_as, raw.split("?", 1)[0], query)
        except NotFound as exc:
            await send_response(send, _error(404, exc))
            return
        except (Forbidden, InvalidInput) as exc:
            drained = method != "PUT" or await discard_body(receive, 64 * 1024 * 1024)
            await send_response(send, _error(403, exc), close=not drained)
            return
        if method == "PUT":
            await self._put(scope, receive, send, request.key, request.content_type, request.size)
        else:
            await self._get(send, request.key, request.content_type, request.filename, head=method == "HEAD")

    async def _get(
        self, send: Send, key: str, content_type: str, filename: str | None, *, head: bool
    ) -> None:
        size = await asyncio.to_thread(self.store.size, key)
        if size is None:
            await send_response(send, _error(404, NotFound(f"no media file {key}", code="media_not_found")))
            return
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(size).encode()),
            (b"cache-control", b"private, no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if filename:
            headers.append((b"content-disposition", _disposition(filename).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        chunks = await asyncio.to_thread(self.store.read, key, chunk_size=CHUNK_BYTES)
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _put(
        self, scope: Scope, receive: Receive, send: Send, key: str, content_type: str, size: int | None
    ) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if size is not None and declared is not None and declared != str(size).encode():
            drained = await discard_body(receive, 64 * 1024 * 1024)
            refusal = InvalidInput(
                f"this link takes exactly {size} bytes, not {declared.decode()}",
                code="media_size_mismatch",
                details={"size": size},
            )
            await send_response(send, _error(400, refusal), close=not drained)
            return
        loop = asyncio.get_running_loop()

        def body() -> Iterator[bytes]:
            """The request body, pulled from the event loop by the thread that writes the file."""
            received = 0
            while True:
                message = asyncio.run_coroutine_threadsafe(_next(receive), loop).result()
                if message["type"] == "http.disconnect":
                    raise InvalidInput("the client went away before the body was complete")
                chunk = message.get("body", b"")
                received += len(chunk)
                if size is not None and received > size:
                    raise InvalidInput(
                        f"the body is longer than the {size} bytes this link takes",
                        code="media_size_mismatch",
                        details={"size": size},
                    )
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    break
            if size is not None and received != size:
                raise InvalidInput(
                    f"the body has {received} bytes; this link takes exactly {size}",
                    code="media_size_mismatch",
                    details={"size": size},
                )

        try:
            await asyncio.to_thread(self.store.put, key, body(), content_type=content_type)
        except InvalidInput as exc:
            await send_response(send, _error(400, exc), close=True)
            return
        await send_response(send, HttpResponse(200, [("etag", '"stored"')], b""))


async def _next(receive: Receive) -> Message:
    return await receive()


def _disposition(filename: str) -> str:
    import urllib.parse

    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
