"""The Crypto port on AWS KMS: envelope encryption under KMS data keys; KMS errors become domain errors.

Blobs use the version-1 layout of `wagate.envelope` (one parser for both adapters), with provider b"K",
the KMS key ARN as key id and KMS's `CiphertextBlob` as the wrapped data key. KMS binds every data key to
the encryption context {"app": "wagate"}; the caller's own context is the AAD of the payload, as in
local mode.

Cost. Calling KMS per secret would be slow and billed per call, so a data key from `GenerateDataKey`
serves up to `data_key_max_uses` encryptions for at most `data_key_max_age` seconds, and unwrapped data
keys are kept in a small LRU (at most `cache_size`, each for `data_key_max_age` seconds), so revoking
KMS access takes effect within that time.

Errors: throttling, KMS internal errors, timeouts -> TransientError; a blob KMS cannot decrypt
(InvalidCiphertext, IncorrectKey, an unknown key) -> InvalidInput; the key missing on encrypt ->
NotFound; a disabled key or missing IAM permission -> WagateError (`kms_key_unusable` /
`kms_access_denied`), since retrying will not help until an operator acts.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wagate.domain.errors import InvalidInput, NotFound, TransientError, WagateError
from wagate.envelope import KEY_BYTES, PROVIDER_KMS, Envelope, open_sealed, pack_header, parse_blob, seal

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

APP_CONTEXT = {"app": "wagate"}

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
    }
)
_UNDECRYPTABLE_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException", "NotFoundException"})
_UNUSABLE_KEY_CODES = frozenset({"DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException"})


def _domain_error(exc: BotoCoreError | ClientError, *, decrypting: bool) -> WagateError:
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return TransientError(f"KMS unreachable: {exc}")
    if isinstance(exc, BotoCoreError):
        return WagateError(f"KMS client error: {exc}", code="kms_client_error")
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    details = {"aws_code": code}
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(f"KMS: {message or code}", details=details)
    if code in _UNUSABLE_KEY_CODES:
        return WagateError(f"KMS key unusable: {message or code}", details=details, code="kms_key_unusable")
    if code == "AccessDeniedException" and (not decrypting or "not authorized" in message):
        return WagateError(f"KMS: {message or code}", details=details, code="kms_access_denied")
    if decrypting and (code in _UNDECRYPTABLE_CODES or code == "AccessDeniedException"):
        # KMS answers AccessDenied for a ciphertext naming a key that does not exist (e.g. a tampered one).
        return InvalidInput(f"the secret's data key cannot be decrypted ({code})", details=details)
    if code == "NotFoundException":
        return NotFound(f"KMS key not found: {message}", details=details)
    return WagateError(f"KMS: {message or code}", details=details, code=f"kms_{code or 'error'}")


@dataclass
class _DataKey:
    aead: AESGCM
    header: bytes
    created: float
    uses: int = 0


class KmsCrypto:
    """Envelope encryption under the KMS key `key_id` (id, ARN or alias); the client is made lazily."""

    def __init__(
        self,
        client_factory: Callable[[], KMSClient],
        key_id: str,
        *,
        data_key_max_age: float = 300.0,
        data_key_max_uses: int = 1000,
        cache_size: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if data_key_max_uses < 1 or cache_size < 1 or data_key_max_age <= 0:
            raise InvalidInput("data key limits and cache size must be positive")
        self._factory = client_factory
        self._client: KMSClient | None = None
        self._key_id = key_id
        self._max_age = data_key_max_age
        self._max_uses = data_key_max_uses
        self._cache_size = cache_size
        self._clock = clock
        self._lock = threading.Lock()
        self._current: _DataKey | None = None
        self._unwrapped: OrderedDict[bytes, tuple[AESGCM, float]] = OrderedDict()

    def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        """Raises TransientError, NotFound (no such key), WagateError (key unusable)."""
        if not isinstance(plaintext, bytes):
            raise InvalidInput("only bytes can be encrypted")
        # Held across GenerateDataKey on purpose: one KMS call per rotation, not one per waiting thread.
        with self._lock:
            now = self._clock()
            current = self._current
            if current is None or current.uses >= self._max_uses or now - current.created >= self._max_age:
                current = self._current = self._generate(now)
            current.uses += 1
        return seal(current.aead, current.header, plaintext, context)

    def decrypt(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        """Raises InvalidInput when the blob is malformed, tampered with, or the context differs."""
        envelope = parse_blob(blob)
        if envelope.provider != PROVIDER_KMS:
            raise InvalidInput("this secret was encrypted with a local master key, not AWS KMS")
        return open_sealed(self._data_key(envelope), envelope, context)

    def _generate(self, now: float) -> _DataKey:
        try:
            response = self.client().generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=APP_CONTEXT
            )
        except (BotoCoreError, ClientError) as exc:
            raise _domain_error(exc, decrypting=False) from exc
        aead = AESGCM(response["Plaintext"])
        wrapped = response["CiphertextBlob"]
        self._remember(wrapped, aead, now)
        return _DataKey(aead, pack_header(PROVIDER_KMS, response["KeyId"], wrapped), now)

    def _data_key(self, envelope: Envelope) -> AESGCM:
        with self._lock:
            now = self._clock()
            cached = self._unwrapped.get(envelope.wrapped_key)
            if cached is not None and now - cached[1] < self._max_age:
                self._unwrapped.move_to_end(envelope.wrapped_key)
                return cached[0]
        try:
            response = self.client().decrypt(
                CiphertextBlob=envelope.wrapped_key, EncryptionContext=APP_CONTEXT
            )
        except (BotoCoreError, ClientError) as exc:
            raise _domain_error(exc, decrypting=True) from exc
        if len(response["Plaintext"]) != KEY_BYTES:  # a KMS ciphertext of something other than a data key
            raise InvalidInput("the secret's wrapped data key is not a data key")
        aead = AESGCM(response["Plaintext"])
        with self._lock:
            self._remember(envelope.wrapped_key, aead, self._clock())
        return aead

    def _remember(self, wrapped: bytes, aead: AESGCM, now: float) -> None:
        """Callers hold the lock."""
        self._unwrapped[wrapped] = (aead, now)
        self._unwrapped.move_to_end(wrapped)
        while len(self._unwrapped) > self._cache_size:
            self._unwrapped.popitem(last=False)

    def client(self) -> KMSClient:
        # Lazily: a client made at import time escapes moto and slows every cold start.
        if self._client is None:
            self._client = self._factory()
        return self._client
