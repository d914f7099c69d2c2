"""The Meta Graph (Cloud API) client over httpx: the only HTTP to Meta; Graph errors become domain errors.

One `GraphApi` per process: its httpx client (one connection pool for every session; the token goes in each
request) is built on first use, never at import. Base URL and API version are settings; tests put the
client on an `httpx.MockTransport`. Request bodies are built by `payloads`; errors are classified by
`wagate.cloud.errors` (a table of Graph codes). The access token is never logged or echoed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from wagate.cloud import payloads
from wagate.cloud.errors import (
    CloudApiError,
    GraphUnavailable,
    OutcomeUnknown,
    TokenInvalid,
    classify,
    from_graph,
    token_usable,
)
from wagate.observability import logger
from wagate.ports import Accepted, MediaInfo, PhoneNumber

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"
PHONE_FIELDS = "display_phone_number,verified_name,quality_rating"
# No connection was made: the request never reached Meta, so even a send is safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def failure_kind(exc: BaseException) -> str:
    """Why a Graph call got no answer, for logs and the session's status detail: `refused`, `dns`,
    `tls`, `timeout`, `reset` or `network`. httpx wraps the OS error: the cause chain says which."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return "tls"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "reset"
        if isinstance(cause, TimeoutError | socket.timeout):
            return "timeout"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    for needle, kind in _KIND_WORDS:
        if needle in text:
            return kind
    return "network"


_KIND_WORDS = (
    ("name or service not known", "dns"),
    ("nodename nor servname", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("getaddrinfo", "dns"),
    ("ssl", "tls"),
    ("certificate", "tls"),
    ("connection refused", "refused"),
    ("errno 111", "refused"),
    ("timed out", "timeout"),
    ("connection reset", "reset"),
)


def _said(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]


def _log(method: str, path: str, kind: str, detail: str, *, code: str | None = None) -> None:
    """Every failed Graph call, with its kind (never the token: it is only in the header)."""
    logger.warning(
        "graph call failed",
        extra={
            "method": method,
            "path": path.split("?")[0],
            "kind": kind,
            "code": code,
            "detail": detail[:300],
        },
    )


def parse_phone_number(body: Mapping[str, Any]) -> PhoneNumber:
    return PhoneNumber(
        id=str(body.get("id", "")),
        display_phone_number=body.get("display_phone_number"),
        verified_name=body.get("verified_name"),
        quality_rating=body.get("quality_rating"),
    )


def parse_accepted(body: Mapping[str, Any]) -> Accepted:
    """Raises GraphUnavailable when a 2xx answer names no message (a changed shape, or a proxy)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], Mapping):
        raise GraphUnavailable("Graph accepted the request but named no message id", details={"body": body})
    first = messages[0]
    contacts = body.get("contacts") if isinstance(body.get("contacts"), list) else []
    contact = contacts[0] if contacts and isinstance(contacts[0], Mapping) else {}
    return Accepted(
        message_id=str(first.get("id")),
        wa_id=contact.get("wa_id"),
        input=contact.get("input"),
        message_status=first.get("message_status"),
    )


def parse_media(body: Mapping[str, Any]) -> MediaInfo:
    size = body.get("file_size")
    return MediaInfo(
        id=str(body.get("id", "")),
        url=str(body.get("url", "")),
        mime_type=body.get("mime_type"),
        sha256=body.get("sha256"),
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def error_from_response(status: int, content: bytes) -> CloudApiError:
    """The domain error for a non-2xx Graph answer, with or without a JSON `error` object."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return from_graph(body["error"], http_status=status)
    cls, reason, hint = classify(None, http_status=status)
    return cls(f"Graph answered HTTP {status} ({hint})", code=reason, details={"http_status": status})


TEMPLATE_FIELDS = "id,name,language,status,category,components,quality_score,rejected_reason"
TEMPLATE_PAGES = 50  # 5,000 templates: Meta's own cap per account is lower


class GraphApi:
    """Implements `wagate.ports.GraphClient`: Graph calls for Cloud API numbers. Every method raises a
    `CloudApiError` subclass on failure."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        version: str = DEFAULT_VERSION,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(
                        base_url=f"{self.base_url}/{self.version}/",
                        timeout=self._timeout,
                        transport=self._transport,
                        headers={"User-Agent": "wagate"},
                    )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph request; the decoded JSON object of a 2xx answer.

        Raises GraphUnavailable (no connection: nothing was sent), OutcomeUnknown (sent, no answer),
        or the CloudApiError subclass of Graph's error code."""
        if not token_usable(token):
            # httpx could not even put it in a header: nothing is sent, and retrying cannot help
            raise TokenInvalid(
                "the access token has characters no Meta token has (non-ASCII, spaces or control "
                "characters, e.g. a '…' from a shortened copy); Meta was not contacted: give the session "
                "the whole token",
                code="token_invalid",
            )
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = self._http().request(
                method, path.lstrip("/"), json=body, params=params, headers=headers
            )
        except _NOT_SENT as exc:
            kind = failure_kind(exc)
            _log(method, path, kind, str(exc))
            raise GraphUnavailable(
                f"cannot reach Graph ({kind}): {_said(exc)}", details={"kind": kind}
            ) from exc
        except httpx.TransportError as exc:
            kind = failure_kind(exc)
            _log(method, path, kind, str(exc))
            raise OutcomeUnknown(
                f"Graph did not answer ({kind}): {_said(exc)}", details={"kind": kind}
            ) from exc
        if not response.is_success:
            error = error_from_response(response.status_code, response.content)
            _log(method, path, f"http_{response.status_code}", error.message, code=error.code)
            raise error
        try:
            decoded = response.json()
        except ValueError as exc:
            raise GraphUnavailable("Graph answered with something that is not JSON") from exc
        return decoded if isinstance(decoded, dict) else {"data": decoded}

    # ---- what wagate uses ---------------------------------------------------------------------------

    def phone_number(self, phone_number_id: str, token: str) -> PhoneNumber:
        """The token check: the number as this token sees it. Raises TokenInvalid, PermissionDenied, …"""
        return parse_phone_number(self.call("GET", phone_number_id, token, params={"fields": PHONE_FIELDS}))

    def send(self, phone_number_id: str, token: str, body: Mapping[str, Any]) -> Accepted:
        """POST a `payloads` body to /{phone-number-id}/messages."""
        return parse_accepted(self.call("POST", f"{phone_number_id}/messages", token, body=body))

    def mark_read(self, phone_number_id: str, token: str, message_id: str, *, typing: bool = False) -> None:
        self.call(
            "POST",
            f"{phone_number_id}/messages",
            token,
            body=payloads.mark_read(message_id, typing=typing),
        )

    def media(self, media_id: str, token: str) -> MediaInfo:
        """Where an incoming media reference (`cloud-media:{id}`) can be downloaded, for a few minutes."""
        return parse_media(self.call("GET", media_id, token))

    def message_templates(self, business_account_id: str, token: str) -> list[dict[str, Any]]:
        """Every message template of a WhatsApp Business Account, page after page (cursor `after`)."""
        found: list[dict[str, Any]] = []
        params = {"fields": TEMPLATE_FIELDS, "limit": "100"}
        for _ in range(TEMPLATE_PAGES):
            page = self.call("GET", f"{business_account_id}/message_templates", token, params=params)
            found += [t for t in page.get("data") or [] if isinstance(t, dict)]
            paging = page.get("paging")
            paging = paging if isinstance(paging, dict) else {}
            cursors = paging.get("cursors")
            after = cursors.get("after") if isinstance(cursors, dict) else None
            if not paging.get("next") or not isinstance(after, str):
                break
            params = {**params, "after": after}
        return found

    @contextlib.contextmanager
    def download(self, url: str, token: str, *, chunk_size: int = 256 * 1024) -> Iterator[Iterator[bytes]]:
        """The bytes at a media URL Graph gave (`media().url`), streamed; it needs the same token.
        Raises GraphUnavailable (unreachable, cut off) or the CloudApiError of a refusal."""
        if not url.startswith("https://") or not token_usable(token):
            raise GraphUnavailable("not a media URL Graph gives (https), or an unusable token")
        try:
            with self._http().stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response.status_code, response.content)
                yield response.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise GraphUnavailable(f"the media download failed: {_said(exc)}") from exc
