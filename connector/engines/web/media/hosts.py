"""The media hosts: `media_conn` (auth + host names) over the socket, then upload and download over HTTPS.

    conn = await hosts.media_conn()                       <iq xmlns=w:m type=set><media_conn/></iq>
        → <media_conn auth ttl auth_ttl max_buckets><host hostname=…/>…</media_conn>   (cached for ttl)
    upload:   POST https://{host}/mms/{mms type}/{token}?auth={auth}&token={token}
              token = base64url(fileEncSha256); body = ciphertext + MAC; answer JSON {url, direct_path, …}
    download: GET https://{host}{direct_path}&hash={base64url(fileEncSha256)}&mms-type={type}&__wa-mms=
              for each media_conn host in turn (whatsmeow); else the message's `url`, only when it points
              at WhatsApp (`*.whatsapp.net`) or a media_conn host, never anywhere a sender names

Transport: TLS verified with the engine's context (the system store; `WAGATE_WA_CA_FILE` for tests), the
engine's proxy setting, WhatsApp Web's Origin. Files stream in 64 KiB chunks: an upload is encrypted into a
temporary file first (the URL needs fileEncSha256 before the body goes out) and sent from it; a download is
decrypted as it arrives into the caller's sink and only declared good once the MAC and hashes check out.

Errors: MediaRefused (the host answered 4xx: bad auth, hash or path; media gone), MediaTransferError
(unreachable, 5xx, cut off: transient), MediaIntegrityError (crypto.py), IqError/IqTimeout (media_conn).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import ssl
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from connector.engines.web.binary.node import Node
from connector.engines.web.connection import iq
from connector.engines.web.errors import ProtocolError, WebEngineError
from connector.engines.web.media.crypto import (
    EncryptedMedia,
    Expected,
    MediaDecryptor,
    MediaEncryptor,
    MediaIntegrityError,
    MediaKind,
    encrypted_length,
)

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
ORIGIN = "https://web.whatsapp.com"
SPOOL_IN_MEMORY = 256 * 1024  # smaller encrypted uploads stay in memory; larger go to a temporary file
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")

Query = Callable[[Node], Awaitable[Node]]
Sink = Callable[[bytes], Awaitable[None]]
PlainSource = bytes | Path | AsyncIterable[bytes] | Iterable[bytes]


class MediaRefused(WebEngineError):
    """A media host refused the request (4xx): `details` = {"status", "host", "body"}. Not transient (a 401
    is retried once with fresh auth before this is raised)."""

    code = "web_media_refused"


class MediaTransferError(WebEngineError):
    """No media host could be reached, answered 5xx, or the transfer was cut off: later may work."""

    code = "web_media_transfer_failed"
    is_transient = True


@dataclass(frozen=True)
class MediaConn:
    auth: str
    ttl: int  # seconds the host list is good for
    auth_ttl: int  # seconds the auth token is good for
    max_buckets: int
    hosts: tuple[str, ...]
    fetched_at: float

    def fresh(self, now: float) -> bool:
        lifetime = min(self.ttl, self.auth_ttl) if self.auth_ttl > 0 else self.ttl
        return now < self.fetched_at + lifetime


def media_conn_query() -> Node:
    return iq("set", "w:m", [Node("media_conn")])


def parse_media_conn(answer: Node, now: float) -> MediaConn:
    """Read a `media_conn` answer. Raises ProtocolError when it has no auth or no usable host."""
    node = answer.find("media_conn")
    if node is None:
        raise ProtocolError("the media_conn answer has no <media_conn>")
    auth = node.str_attr("auth") or ""
    hosts = tuple(
        name
        for child in node.children
        if child.tag == "host" and (name := child.str_attr("hostname") or "") and _HOSTNAME.match(name)
    )
    if not auth or not hosts:
        raise ProtocolError(f"the media_conn answer lacks auth or hosts: {node}")
    return MediaConn(
        auth=auth,
        ttl=_int(node.str_attr("ttl"), 300),
        auth_ttl=_int(node.str_attr("auth_ttl"), 0),
        max_buckets=_int(node.str_attr("max_buckets"), 0),
        hosts=hosts,
        fetched_at=now,
    )


@dataclass(frozen=True)
class MediaRef:
    """Where a file is and how to check it: the fields every downloadable WhatsApp message has."""

    media_key: bytes
    direct_path: str = ""
    url: str = ""
    file_enc_sha256: bytes | None = None
    file_sha256: bytes | None = None
    file_length: int | None = None

    @classmethod
    def from_message(cls, message: Any) -> MediaRef:
        """From an ImageMessage, VideoMessage, AudioMessage, DocumentMessage, StickerMessage or
        HistorySyncNotification (any protobuf with mediaKey, directPath, url, file hashes and length)."""

        def field(name: str) -> Any:
            try:
                return getattr(message, name) if message.HasField(name) else None
            except ValueError:  # the message type has no such field
                return None

        length = field("fileLength")
        return cls(
            media_key=field("mediaKey") or b"",
            direct_path=field("directPath") or "",
            url=field("url") or "",
            file_enc_sha256=field("fileEncSha256") or None,
            file_sha256=field("fileSha256") or None,
            file_length=int(length) if length is not None else None,
        )

    @property
    def expected(self) -> Expected:
        return Expected(self.file_enc_sha256, self.file_sha256, self.file_length)


@dataclass(frozen=True)
class UploadedMedia:
    """An uploaded file: put these into the message (url, directPath, mediaKey, fileSha256,
    fileEncSha256, fileLength)."""

    encrypted: EncryptedMedia
    url: str
    direct_path: str
    handle: str | None = None


class MediaHosts:
    """One session's way to the media hosts; `query` is the live connection's iq (media_conn)."""

    def __init__(
        self,
        query: Query,
        *,
        verify: ssl.SSLContext | bool = True,
        proxy: str | Literal[True] | None = True,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._query = query
        self._verify = verify
        self._proxy = proxy
        self._timeout = timeout
        self._clock = clock
        self._transport = transport
        self._conn: MediaConn | None = None
        self._lock = asyncio.Lock()

    async def media_conn(self, *, force: bool = False) -> MediaConn:
        """The cached host list and auth, asked again when stale or `force`. Raises IqError, IqTimeout,
        ConnectionLost, ProtocolError."""
        async with self._lock:
            now = self._clock()
            if force or self._conn is None or not self._conn.fresh(now):
                self._conn = parse_media_conn(await self._query(media_conn_query()), now)
            return self._conn

    # ---- upload -------------------------------------------------------------------------------------

    async def upload(
        self, source: PlainSource, kind: MediaKind, *, media_key: bytes | None = None
    ) -> UploadedMedia:
        """Encrypt `source` (bytes, a file path, or chunks) with a new media key and upload it.

        Raises MediaRefused, MediaTransferError, IqError/IqTimeout (media_conn), OSError (reading a path).
        """
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            encrypted = await encrypt_into(source, kind, spool, media_key=media_key)
            token = _b64url(encrypted.file_enc_sha256)
            refreshed = False
            conn = await self.media_conn()
            failures: list[str] = []
            index = 0
            while index < len(conn.hosts):
                host = conn.hosts[index]
                url = (
                    f"https://{host}/mms/{kind.mms_type}/{token}"
                    f"?auth={quote(conn.auth, safe='')}&token={token}"
                )
                try:
                    answer = await self._post(url, spool, encrypted.enc_length)
                except MediaRefused as refused:
                    if refused.details["status"] in (401, 403) and not refreshed:
                        refreshed = True  # the auth expired early: once more with a fresh one
                        conn = await self.media_conn(force=True)
                        index = 0
                        continue
                    raise
                except MediaTransferError as exc:
                    failures.append(exc.message)
                    index += 1
                    continue
                return _uploaded(encrypted, answer, host)
            raise MediaTransferError(f"no media host took the upload: {'; '.join(failures)}")

    async def _post(self, url: str, spool: IO[bytes], length: int) -> dict[str, Any]:
        async def body() -> AsyncIterator[bytes]:
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        async with self._client() as client:
            try:
                response = await client.post(url, content=body(), headers=headers | _browser_headers())
            except httpx.HTTPError as exc:
                raise MediaTransferError(f"upload to {_host(url)} failed: {exc!r}") from exc
        _check_status(response.status_code, url, response.text)
        try:
            answer = response.json()
        except ValueError as exc:
            raise MediaTransferError(f"the upload answer from {_host(url)} is not JSON") from exc
        if not isinstance(answer, dict):
            raise MediaTransferError(f"the upload answer from {_host(url)} is not an object")
        return answer

    # ---- download -----------------------------------------------------------------------------------

    async def download(
        self, ref: MediaRef, kind: MediaKind, sink: Sink, *, max_bytes: int | None = None
    ) -> int:
        """Stream the decrypted file into `sink`; returns its length once every check passed.

        If this raises, what `sink` received is not the file and must be discarded. Raises
        MediaIntegrityError, MediaRefused (e.g. 404/410: the media expired), MediaTransferError, ValueError
        (no key or no usable location), IqError/IqTimeout (media_conn).
        """
        if not ref.media_key:
            raise ValueError("the message carries no media key")
        limit = _enc_limit(ref, max_bytes)
        urls = await self._download_urls(ref, kind)
        failures: list[str] = []
        for url in urls:
            decryptor = MediaDecryptor(ref.media_key, kind, ref.expected)
            try:
                return await self._get(url, decryptor, sink, limit)
            except MediaTransferError as exc:
                if decryptor.plain_length:  # the sink already has part of it: the caller starts over
                    raise
                failures.append(exc.message)
        raise MediaTransferError(f"no media host served the file: {'; '.join(failures)}")

    async def download_bytes(self, ref: MediaRef, kind: MediaKind, *, max_bytes: int) -> bytes:
        """The whole decrypted file in memory (for small blobs: history sync, thumbnails)."""
        parts: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            parts.append(chunk)

        await self.download(ref, kind, collect, max_bytes=max_bytes)
        return b"".join(parts)

    async def download_to_path(
        self, ref: MediaRef, kind: MediaKind, path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Decrypt into `path` (written as `<path>.part`, renamed only when every check passed)."""
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as out:

            async def write(chunk: bytes) -> None:
                out.write(chunk)

            try:
                length = await self.download(ref, kind, write, max_bytes=max_bytes)
            except BaseException:
                out.close()
                partial.unlink(missing_ok=True)
                raise
        os.replace(partial, path)
        return length

    async def _download_urls(self, ref: MediaRef, kind: MediaKind) -> list[str]:
        if ref.direct_path:
            if not ref.direct_path.startswith("/") or any(c in ref.direct_path for c in "#\\ \r\n"):
                raise ValueError(f"not a media direct path: {ref.direct_path[:80]!r}")
            conn = await self.media_conn()
            separator = "&" if "?" in ref.direct_path else "?"
            extra = f"hash={_b64url(ref.file_enc_sha256 or b'')}&mms-type={kind.mms_type}&__wa-mms="
            return [f"https://{host}{ref.direct_path}{separator}{extra}" for host in conn.hosts]
        if ref.url:
            host = urlsplit(ref.url).netloc
            conn = await self.media_conn()
            if not ref.url.startswith("https://") or not (
                host.endswith(".whatsapp.net") or host in conn.hosts
            ):
                raise ValueError(f"media URL outside WhatsApp's hosts: {host!r}")
            return [ref.url]
        raise ValueError("the message says neither where the file is (directPath) nor its url")

    async def _get(self, url: str, decryptor: MediaDecryptor, sink: Sink, limit: int | None) -> int:
        received = 0
        async with self._client() as client:
            try:
                async with client.stream("GET", url, headers=_browser_headers()) as response:
                    if response.status_code != 200:
                        _check_status(
                            response.status_code, url, (await response.aread())[:300].decode("latin-1")
                        )
                    async for chunk in response.aiter_bytes(CHUNK):
                        received += len(chunk)
                        if limit is not None and received > limit:
                            raise MediaIntegrityError(f"the file is larger than the {limit} bytes expected")
                        plain = decryptor.update(chunk)
                        if plain:
                            await sink(plain)
            except httpx.HTTPError as exc:
                raise MediaTransferError(f"download from {_host(url)} failed: {exc!r}") from exc
        rest = decryptor.finish()
        if rest:
            await sink(rest)
        return decryptor.plain_length

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout,
            verify=self._verify,
            proxy=None if self._proxy is True else self._proxy,
            trust_env=self._proxy is True,
            transport=self._transport,
        )


async def encrypt_into(
    source: PlainSource, kind: MediaKind, out: IO[bytes], *, media_key: bytes | None = None
) -> EncryptedMedia:
    """Encrypt `source` chunk by chunk into the writable binary file `out`; the key and hashes."""
    encryptor = MediaEncryptor(kind, media_key)
    async for chunk in _chunks(source):
        out.write(encryptor.update(chunk))
    out.write(encryptor.finish())
    return encryptor.result


async def _chunks(source: PlainSource) -> AsyncIterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source)
        for start in range(0, len(data), CHUNK):
            yield bytes(data[start : start + CHUNK])
    elif isinstance(source, Path):
        with source.open("rb") as file:
            while chunk := file.read(CHUNK):
                yield chunk
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


def _uploaded(encrypted: EncryptedMedia, answer: dict[str, Any], host: str) -> UploadedMedia:
    url, direct_path = answer.get("url"), answer.get("direct_path")
    if not isinstance(direct_path, str) or not direct_path.startswith("/"):
        raise MediaTransferError(
            f"the upload answer from {host} has no direct_path: {json.dumps(answer)[:200]}"
        )
    handle = answer.get("handle")
    return UploadedMedia(
        encrypted=encrypted,
        url=url if isinstance(url, str) else f"https://{host}{direct_path}",
        direct_path=direct_path,
        handle=handle if isinstance(handle, str) else None,
    )


def _check_status(status: int, url: str, body: str) -> None:
    if status == 200:
        return
    details = {"status": status, "host": _host(url), "body": body[:300]}
    if 400 <= status < 500 and status not in (408, 429):
        raise MediaRefused(f"{_host(url)} refused the media request: HTTP {status}", details=details)
    raise MediaTransferError(f"{_host(url)} answered HTTP {status}", details=details)


def _enc_limit(ref: MediaRef, max_bytes: int | None) -> int | None:
    limits = []
    if ref.file_length is not None:
        limits.append(encrypted_length(ref.file_length))
    if max_bytes is not None:
        if ref.file_length is not None and ref.file_length > max_bytes:
            raise MediaIntegrityError(
                f"the file has {ref.file_length} bytes, more than the {max_bytes} allowed"
            )
        limits.append(encrypted_length(max_bytes))
    return min(limits) if limits else None


def _browser_headers() -> dict[str, str]:
    return {"Origin": ORIGIN, "Referer": ORIGIN + "/"}


def _b64url(data: bytes) -> str:
    """URL-safe base64 without padding, as Baileys sends the upload token (the hosts accept either)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) < 10 else default
