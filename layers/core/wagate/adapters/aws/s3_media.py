"""The MediaStore port on a private S3 bucket: streamed multipart uploads, presigned GET and PUT links.

Uploads hold at most one part (`part_bytes`, 8 MiB) in memory: a file that ends within the first part is
one PutObject, a longer one a multipart upload that is aborted when the stream fails, so no partial
object is ever visible (the bucket's lifecycle rule also aborts uploads left behind by a killed process).
Links are SigV4 presigned URLs: GET answers with the stored type and the file name; PUT is signed with its
Content-Type and Content-Length, so S3 refuses any other size.

Errors: throttling and S3's 5xx -> TransientError; a missing object -> NotFound; anything else (access
denied, no such bucket) -> WagateError `media_store_unusable`, which an operator must fix.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from wagate.domain.errors import NotFound, TransientError, WagateError
from wagate.ports import UploadTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_BYTES = 8 * 1024 * 1024  # S3 parts are at least 5 MiB (but the last)
_TRANSIENT = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)


class S3MediaStore:
    """Implements `wagate.ports.MediaStore` on `bucket`; `client()` builds the S3 client on first use."""

    def __init__(
        self,
        client: Callable[[], S3Client],
        bucket: str,
        *,
        part_bytes: int = PART_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = client
        self._client: S3Client | None = None
        self.bucket = bucket
        self.part_bytes = part_bytes
        self._clock = clock

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> int:
        buffer = bytearray()
        stream = iter(chunks)
        for chunk in stream:
            buffer += chunk
            if len(buffer) >= self.part_bytes:
                return self._multipart(key, buffer, stream, content_type)
        with _errors(key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), ContentType=content_type)
        return len(buffer)

    def _multipart(self, key: str, buffer: bytearray, rest: Iterator[bytes], content_type: str) -> int:
        with _errors(key):
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type
            )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        written = 0
        try:
            while True:
                for chunk in rest:
                    buffer += chunk
                    if len(buffer) >= self.part_bytes:
                        break
                if not buffer:
                    break
                body = bytes(buffer[: self.part_bytes])
                del buffer[: self.part_bytes]
                with _errors(key):
                    answer = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1, Body=body
                    )
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                written += len(body)
                del body
            with _errors(key):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except (BotoCoreError, ClientError):
                pass  # the lifecycle rule aborts it within a day
            raise
        return written

    def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        with _errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return _chunks(body, chunk_size)

    def size(self, key: str) -> int | None:
        try:
            with _errors(key):
                return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except NotFound:
            return None

    def delete(self, key: str) -> None:
        with _errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def download_url(
        self, key: str, *, expires_in: int, content_type: str, filename: str | None = None
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type}
        if filename:
            params["ResponseContentDisposition"] = _disposition(filename)
        with _errors(key):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def upload_target(self, key: str, *, expires_in: int, content_type: str, size: int) -> UploadTarget:
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size}
        with _errors(key):
            url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return UploadTarget(url=url, headers=headers, expires_at=self._clock() + expires_in)


def _disposition(filename: str) -> str:
    """`attachment` with the name in RFC 6266 form (an ASCII fallback and the UTF-8 original)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def _chunks(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


class _errors:
    """Maps S3's errors for `key` to domain errors (see the module docstring)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> None:
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("NoSuchKey", "404", "NotFound") or status == 404 and code != "NoSuchBucket":
                raise NotFound(f"no media file {self.key}", code="media_not_found") from error
            if code in _TRANSIENT or status >= 500:
                raise TransientError(f"S3 is unavailable ({code})", code="media_store_unavailable") from error
            raise WagateError(f"S3 refused: {code}", code="media_store_unusable") from error
        if isinstance(error, BotoCoreError):
            raise TransientError(f"S3 is unreachable ({error})", code="media_store_unavailable") from error
