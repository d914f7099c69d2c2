"""The fake edge's media hosts: HTTPS upload and download of encrypted files, as strict as WhatsApp's.

    <iq xmlns=w:m type=set><media_conn/>  →  <media_conn auth ttl auth_ttl max_buckets><host hostname/>…
    POST /mms/{type}/{token}?auth={auth}&token={token}   body = ciphertext + MAC
        401 unless `auth` is one this edge issued and it has not expired; 400 unless the path token, the
        query token and SHA-256(body) are one value (base64url, padding optional) and the body has the
        shape of an encrypted file; 413 over the host's size limit; 404 for an unknown type
        200 {"url", "direct_path", "handle", "object_id"}
    GET {direct_path}[&hash=…&mms-type=…&__wa-mms=]
        the path is signed (`oh`) with an expiry (`oe`), like WhatsApp's CDN URLs: 403 when the
        signature is wrong or expired, 404 for a file it does not hold; 200 with the bytes otherwise

TLS only, with the certificate of the run's test CA (tests/fakes/tls.py); HTTP/1.1 (h11) with either a
Content-Length or a chunked body. A request it does not understand lands in `edge.unhandled`. The phone
puts history-sync blobs here with `publish()` as the real phone uploads them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11

from connector.engines.web.binary.node import Node
from tests.fakes.tls import local_ca

log = logging.getLogger(__name__)

MMS_TYPES = frozenset(
    {"image", "video", "audio", "document", "sticker", "ptt", "md-msg-hist", "md-app-state", "thumbnail-link"}
)
MAX_UPLOAD = 100 * 1024 * 1024
MAC_SIZE = 10


@dataclass
class StoredFile:
    data: bytes
    mms_type: str
    enc_sha256: bytes


@dataclass
class MediaHostsConfig:
    ttl: int = 300
    auth_ttl: int = 21600
    link_seconds: int = 3600  # how long a direct_path's signature stays valid


@dataclass
class FakeMediaHosts:
    report_unhandled: Callable[[str], None]
    config: MediaHostsConfig = field(default_factory=MediaHostsConfig)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.auths: dict[str, float] = {}  # token → expiry
        self.uploads: list[str] = []  # direct paths, in order
        self.downloads: list[str] = []  # request targets served with 200
        self.refused: list[tuple[int, str]] = []  # (status, why)
        self.host = ""
        self._secret = secrets.token_bytes(32)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=local_ca().server_context(), limit=256 * 1024
        )
        port = self._server.sockets[0].getsockname()[1]
        self.host = f"localhost:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # ---- what the edge and tests use ----------------------------------------------------------------

    def media_conn(self) -> Node:
        """A fresh `<media_conn>` for an iq answer: a new auth token valid for auth_ttl."""
        auth = base64.b64encode(secrets.token_bytes(24)).decode()  # real tokens carry + / and =
        self.auths[auth] = self.clock() + self.config.auth_ttl
        attrs = {
            "auth": auth,
            "ttl": str(self.config.ttl),
            "auth_ttl": str(self.config.auth_ttl),
            "max_buckets": "12",
        }
        return Node("media_conn", attrs, [Node("host", {"hostname": self.host})])

    def expire_auths(self) -> None:
        """Every issued auth token stops working (as after auth_ttl)."""
        self.auths.clear()

    def publish(self, data: bytes, mms_type: str) -> str:
        """Store an encrypted file as its uploader would; its direct path."""
        return self._store(data, mms_type)

    def direct_path_url(self, direct_path: str) -> str:
        return f"https://{self.host}{direct_path}"

    # ---- HTTP ---------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    break
                status, payload, content_type = self._route(request, body)
                headers = [("content-type", content_type), ("content-length", str(len(payload)))]
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
                writer.write(conn.send(h11.Data(data=payload)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            log.info("media host: connection ended: %r", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(64 * 1024)
                conn.receive_data(data)
                if not data and request is None:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_UPLOAD + 1024:
                    raise h11.ProtocolError("body over the host's limit")
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    def _route(self, request: h11.Request, body: bytes) -> tuple[int, bytes, str]:
        method, target = request.method.decode(), request.target.decode()
        split = urlsplit(target)
        query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        parts = split.path.split("/")
        if method == "POST" and len(parts) == 4 and parts[1] == "mms":
            return self._upload(parts[2], parts[3], query, body)
        if method == "GET" and split.path.startswith("/v/"):
            return self._download(split.path, query, target)
        self.report_unhandled(f"media host: {method} {split.path}")
        return self._refuse(HTTPStatus.NOT_FOUND, f"no such resource {method} {split.path}")

    def _upload(
        self, mms_type: str, path_token: str, query: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        if mms_type not in MMS_TYPES:
            self.report_unhandled(f"media host: upload of unknown type {mms_type!r}")
            return self._refuse(HTTPStatus.NOT_FOUND, f"unknown media type {mms_type}")
        auth = query.get("auth", "")
        if self.auths.get(auth, 0) <= self.clock():
            return self._refuse(HTTPStatus.UNAUTHORIZED, "auth missing, unknown or expired")
        token = query.get("token", "")
        digest = hashlib.sha256(body).digest()
        if token != path_token or _unb64url(token) != digest:
            return self._refuse(HTTPStatus.BAD_REQUEST, "token does not match the body's SHA-256")
        if len(body) > MAX_UPLOAD:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file too large")
        if len(body) < 16 + MAC_SIZE or (len(body) - MAC_SIZE) % 16:
            return self._refuse(HTTPStatus.BAD_REQUEST, "not an encrypted media file (blocks + MAC)")
        direct_path = self._store(body, mms_type)
        self.uploads.append(direct_path)
        answer = {
            "url": self.direct_path_url(direct_path),
            "direct_path": direct_path,
            "handle": secrets.token_hex(8),
            "object_id": secrets.token_hex(8),
        }
        return HTTPStatus.OK, json.dumps(answer).encode(), "application/json"

    def _download(self, path: str, query: dict[str, str], target: str) -> tuple[int, bytes, str]:
        expiry_hex, signature = query.get("oe", ""), query.get("oh", "")
        if not hmac.compare_digest(signature, self._sign(path, expiry_hex)):
            return self._refuse(HTTPStatus.FORBIDDEN, "URL signature mismatch")
        if int(expiry_hex, 16) < self.clock():
            return self._refuse(HTTPStatus.FORBIDDEN, "URL signature expired")
        stored = self.files.get(path)
        if stored is None:
            return self._refuse(HTTPStatus.NOT_FOUND, "no such file")
        self.downloads.append(target)
        return HTTPStatus.OK, stored.data, "application/octet-stream"

    def _store(self, data: bytes, mms_type: str) -> str:
        path = f"/v/t62.7118-24/{secrets.token_hex(12)}.enc"
        digest = hashlib.sha256(data).digest()
        self.files[path] = StoredFile(data, mms_type, digest)
        expiry_hex = format(int(self.clock()) + self.config.link_seconds, "X")
        return f"{path}?ccb=11-4&oh={self._sign(path, expiry_hex)}&oe={expiry_hex}&_nc_sid=5e03e0"

    def _sign(self, path: str, expiry_hex: str) -> str:
        if not expiry_hex or any(c not in "0123456789ABCDEF" for c in expiry_hex):
            return "!"  # never equal to a real signature
        return hmac.new(self._secret, f"{path}|{expiry_hex}".encode(), hashlib.sha256).hexdigest()[:32]

    def _refuse(self, status: int, why: str) -> tuple[int, bytes, str]:
        self.refused.append((int(status), why))
        return int(status), json.dumps({"error": why}).encode(), "application/json"


def _unb64url(token: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
