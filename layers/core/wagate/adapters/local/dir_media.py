"""The MediaStore port on a local directory (one-box mode), with HMAC-signed links `wagate serve` serves.

Files live under `root` by key (`media/{tenant}/{media id}`), written to a temporary name beside the target
and renamed into place, so a reader sees no file or a whole one and a failed upload leaves nothing.
Links: `{base_url}/media-files/{key}?x-expires=…&x-type=…[&x-name=…][&x-size=…]&x-signature=…`, signed with
HMAC-SHA256 under a key derived from the master key file. The local runner checks them with `verify()`
(local/media_files.py) and streams the file, or (a signed PUT) streams the body into the store.

With a `MediaSealer` (store/sealed_media.py, what `wagate serve` uses) every file is sealed under its
tenant's data key as it streams in and opened as it streams out, so the directory holds no readable
media; sizes and links speak of the plaintext, and files stored before sealing still read as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from wagate.domain.errors import Forbidden, InvalidInput, NotFound
from wagate.ports import UploadTarget
from wagate.store.keys import tenant_of_media_object as keys_tenant
from wagate.store.sealed_media import MAGIC, plain_size

if TYPE_CHECKING:
    from wagate.store.sealed_media import MediaSealer

PATH_PREFIX = "/media-files/"
_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")


@dataclass(frozen=True)
class SignedRequest:
    """What a valid signed link allows: one method on one key, until `expires`."""

    method: str
    key: str
    expires: int
    content_type: str
    filename: str | None
    size: int | None


class DirMediaStore:
    """Implements `wagate.ports.MediaStore` on the files under `root`."""

    def __init__(
        self,
        root: Path,
        *,
        signing_key: bytes,
        base_url: str,
        clock: Callable[[], float] = time.time,
        sealer: MediaSealer | None = None,
    ) -> None:
        self.root = Path(root)
        self._signing_key = signing_key
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.sealer = sealer

    # ---- files ----------------------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file of `key`. Raises InvalidInput for a key that could leave the root."""
        if not _KEY.match(key) or ".." in key:
            raise InvalidInput(f"not a media key: {key!r}", code="invalid_media_key")
        return self.root / key

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
        written = 0

        def counted() -> Iterator[bytes]:
            nonlocal written
            for chunk in chunks:
                written += len(chunk)
                yield chunk

        stream = counted() if self.sealer is None else self.sealer.sealing(key, counted())
        try:
            with open(draft, "xb") as out:
                for piece in stream:
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            os.replace(draft, target)
        except BaseException:
            draft.unlink(missing_ok=True)
            raise
        return written

    def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        try:
            handle = open(self.path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise NotFound(f"no media file {key}", code="media_not_found") from exc
        if self.sealer is None:
            return _chunks(handle, chunk_size)
        try:
            head = handle.read(chunk_size)
        except BaseException:
            handle.close()
            raise
        return self.sealer.opening(key, head, _chunks(handle, chunk_size))

    def size(self, key: str) -> int | None:
        """The file's bytes (the plaintext's, for a sealed file)."""
        try:
            with open(self.path(key), "rb") as handle:
                stored = os.fstat(handle.fileno()).st_size
                if self.sealer is not None and handle.read(len(MAGIC)) == MAGIC:
                    return plain_size(stored)
                return stored
        except FileNotFoundError:
            return None

    def is_sealed(self, key: str) -> bool:
        """Whether the file of `key` is sealed (False when there is none)."""
        try:
            with open(self.path(key), "rb") as handle:
                return handle.read(len(MAGIC)) == MAGIC
        except FileNotFoundError:
            return False

    def seal_existing(self) -> int:
        """Seals every tenant's file still in plaintext (stored before sealing was on), each replaced
        whole by a sealed copy; returns how many. Nothing to do without a sealer that seals."""
        if self.sealer is None or not self.sealer.seal:
            return 0
        sealed = 0
        for key in list(self.keys()):
            if keys_tenant(key) is None or self.is_sealed(key):
                continue
            try:
                plain = open(self.path(key), "rb")  # noqa: SIM115 - closed by _chunks
            except FileNotFoundError:
                continue  # deleted meanwhile
            self.put(key, _chunks(plain, 1024 * 1024), content_type="application/octet-stream")
            sealed += 1
        return sealed

    def keys(self) -> Iterator[str]:
        """Every stored file's key (drafts of uploads in progress left out)."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    # ---- signed links ---------------------------------------------------------------------------------

    def download_url(
        self, key: str, *, expires_in: int, content_type: str, filename: str | None = None
    ) -> str:
        self.path(key)
        return self._link("GET", key, int(self._clock()) + expires_in, content_type, filename, None)

    def upload_target(self, key: str, *, expires_in: int, content_type: str, size: int) -> UploadTarget:
        self.path(key)
        expires = int(self._clock()) + expires_in
        url = self._link("PUT", key, expires, content_type, None, size)
        return UploadTarget(url=url, headers={"Content-Type": content_type}, expires_at=float(expires))

    def verify(self, method: str, path: str, query: str) -> SignedRequest:
        """The request a link allows, from its path and query string.

        Raises NotFound for a path that is not a media link, Forbidden when the signature is wrong, the
        method is not the signed one, or the link expired."""
        if not path.startswith(PATH_PREFIX):
            raise NotFound("not a media link")
        key = urllib.parse.unquote(path[len(PATH_PREFIX) :])
        self.path(key)
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        try:
            expires = int(params["x-expires"])
            size = int(params["x-size"]) if "x-size" in params else None
            signature = params["x-signature"]
            content_type = params["x-type"]
        except (KeyError, ValueError) as exc:
            raise Forbidden("this media link is incomplete", code="media_link_invalid") from exc
        filename = params.get("x-name")
        expected = self._sign(method.upper(), key, expires, content_type, filename, size)
        if not hmac.compare_digest(expected, signature):
            raise Forbidden("this media link's signature does not match", code="media_link_invalid")
        if expires < self._clock():
            raise Forbidden(
                "this media link has expired; ask GET /v1/media/{id} again", code="media_link_expired"
            )
        return SignedRequest(method.upper(), key, expires, content_type, filename, size)

    def _link(
        self, method: str, key: str, expires: int, content_type: str, filename: str | None, size: int | None
    ) -> str:
        params = {"x-expires": str(expires), "x-type": content_type}
        if filename is not None:
            params["x-name"] = filename
        if size is not None:
            params["x-size"] = str(size)
        params["x-signature"] = self._sign(method, key, expires, content_type, filename, size)
        quoted = urllib.parse.quote(key, safe="/")
        return f"{self.base_url}{PATH_PREFIX}{quoted}?{urllib.parse.urlencode(params)}"

    def _sign(
        self, method: str, key: str, expires: int, content_type: str, filename: str | None, size: int | None
    ) -> str:
        # Fields joined by NUL (none may contain it), so no two requests share a signed string.
        fields = [method, key, str(expires), content_type, filename or "", "" if size is None else str(size)]
        message = "\x00".join(fields).encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()


def _chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    try:
        while chunk := handle.read(chunk_size):
            yield chunk
    finally:
        handle.close()
