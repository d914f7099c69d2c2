"""The MediaStore port on a local directory (one-box mode), with HMAC-signed links `wagate serve` serves.

Files live under `root` by key (`media/{tenant}/{media id}`), written to a temporary name beside the target
and renamed into place, so a reader sees no file or a whole one and a failed upload leaves nothing.
Links: `{base_url}/media-files/{key}?x-expires=…&x-type=…[&x-name=…][&x-size=…]&x-signature=…`, signed with
HMAC-SHA256 under a key derived from the master key file. The local runner checks them with `verify()`
(local/media_files.py) and streams the file, or (a signed PUT) streams the body into the store.
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
from typing import BinaryIO

from wagate.domain.errors import Forbidden, InvalidInput, NotFound
from wagate.ports import UploadTarget

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
        self, root: Path, *, signing_key: bytes, base_url: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self._signing_key = signing_key
        self.base_url = base_url.rstrip("/")
        self._clock = clock

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
        try:
            with open(draft, "xb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
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
        return _chunks(handle, chunk_size)

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

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
