"""A fake Meta Graph API at httpx's seam (MockTransport), answering with the shapes of the real one.

Send answers follow `cloud/send-responses/` of the shared fixtures; error bodies follow `cloud/errors/`
(`{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`). Every request is recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from typing import Any

import httpx

from wagate.cloud.graph import GraphApi

VALID_TOKEN = "EAAG" + "x" * 40


MEDIA_HOST = "lookaside.fbsbx.com"


class FakeGraph:
    def __init__(self, *, version: str = "v25.0") -> None:
        self.version = version
        self.requests: list[httpx.Request] = []
        self.tokens = {VALID_TOKEN}
        self.numbers: dict[str, dict[str, Any]] = {}
        self.failures: deque[tuple[int, dict[str, Any]] | Exception] = deque()
        self.sent = 0
        self.templates: dict[str, list[dict[str, Any]]] = {}  # business account id → its templates
        self.files: dict[str, tuple[bytes, str]] = {}  # Meta media id → (bytes, mime type)

    def number(self, phone_number_id: str, display: str = "+1 555-095-3877", name: str = "Acme") -> None:
        self.numbers[phone_number_id] = {
            "verified_name": name,
            "display_phone_number": display,
            "id": phone_number_id,
            "quality_rating": "GREEN",
        }

    def media(self, media_id: str, data: bytes, mime: str) -> None:
        """A file customers sent: `GET /{media id}` says where it is, that URL serves it (with the token)."""
        self.files[media_id] = (data, mime)

    def fail_next(self, code: int, *, status: int = 400, message: str = "refused", **extra: Any) -> None:
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC", **extra}
        self.failures.append((status, {"error": error}))

    def break_next(self, exc: Exception) -> None:
        self.failures.append(exc)

    def api(self) -> GraphApi:
        return GraphApi(transport=httpx.MockTransport(self.handle), version=self.version)

    def bodies(self, path_suffix: str = "/messages") -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith(path_suffix)]

    def _template_page(self, request: httpx.Request, templates: list[dict[str, Any]]) -> httpx.Response:
        """One page of `/{waba}/message_templates`, as Graph pages it (cursors; `next` only when more)."""
        limit = int(request.url.params.get("limit", "25"))
        start = int(request.url.params.get("after", "0") or 0)
        fields = set(request.url.params.get("fields", "id,name,language,status,category").split(","))
        page = [{k: v for k, v in t.items() if k in fields} for t in templates[start : start + limit]]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(templates):
            paging["next"] = (
                f"https://graph.facebook.com/{self.version}{request.url.path}?after={start + limit}"
            )
        return httpx.Response(200, json={"data": page, "paging": paging})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.popleft()
            if isinstance(failure, Exception):
                raise failure
            status, body = failure
            return httpx.Response(status, json=body)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return httpx.Response(
                401,
                json={
                    "error": {
                        "message": "Invalid OAuth access token - Cannot parse access token",
                        "type": "OAuthException",
                        "code": 190,
                        "fbtrace_id": "AbJuG-rMVv36mjw-r78mKwg",
                    }
                },
            )
        parts = request.url.path.strip("/").split("/")
        if request.url.host == MEDIA_HOST:  # Meta's short-lived media URL: the bytes, for the same token
            found = self.files.get(request.url.params.get("mid", ""))
            return httpx.Response(200, content=found[0]) if found else httpx.Response(404)
        assert parts[0] == self.version, request.url
        if request.method == "GET" and len(parts) == 2 and parts[1] in self.files:
            data, mime = self.files[parts[1]]
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "url": f"https://{MEDIA_HOST}/whatsapp_business/attachments/?mid={parts[1]}&ext=1",
                    "mime_type": mime,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": len(data),
                    "id": parts[1],
                },
            )
        if request.method == "GET" and len(parts) == 2 and parts[1] in self.numbers:
            return httpx.Response(200, json=self.numbers[parts[1]])
        if request.method == "GET" and len(parts) == 3 and parts[2] == "message_templates":
            if parts[1] in self.templates:
                return self._template_page(request, self.templates[parts[1]])
        if request.method == "POST" and len(parts) == 3 and parts[2] == "messages":
            body = json.loads(request.content)
            if body.get("status") == "read":
                return httpx.Response(200, json={"success": True})
            self.sent += 1
            return httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                    "messages": [{"id": f"wamid.FAKE{self.sent:04d}=="}],
                },
            )
        return httpx.Response(
            400,
            json={
                "error": {
                    "message": "Unsupported get request. Object with ID does not exist",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "AbC",
                }
            },
        )
