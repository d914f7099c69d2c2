"""Meta's webhook checks, sans-I/O: the subscription handshake (GET) and the body signature (POST).

GET   subscription_challenge(query, token_ok)        → (body, status): echoes hub.challenge as text
POST  signature(headers) + signed_by(raw, sig, key)  → X-Hub-Signature-256 over the RAW body bytes
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

SIGNATURE_HEADER = "x-hub-signature-256"


# ---- GET: the subscription check -------------------------------------------------------------------


def subscription_challenge(query: Mapping[str, str], token_ok: Callable[[str], bool]) -> tuple[bytes, int]:
    """Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → (body, status)."""
    if query.get("hub.mode") != "subscribe":
        return b"hub.mode must be subscribe", 400
    challenge = query.get("hub.challenge")
    if not challenge or len(challenge) > 512:
        return b"hub.challenge is missing", 400
    token = query.get("hub.verify_token") or ""
    if not token or not token_ok(token):
        return b"verify token mismatch", 403
    return challenge.encode(), 200


# ---- POST: the signature ---------------------------------------------------------------------------


def signature(headers: Mapping[str, str]) -> bytes | None:
    """The digest in `X-Hub-Signature-256: sha256=<hex>` (any header case); None if absent or malformed."""
    value = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
    if value is None or not value.startswith("sha256="):
        return None
    try:
        digest = bytes.fromhex(value[len("sha256=") :].strip())
    except ValueError:
        return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


def signed_by(raw: bytes, digest: bytes, app_secret: bytes) -> bool:
    """Whether `digest` is HMAC-SHA256(app secret, raw body). Constant time."""
    return hmac.compare_digest(hmac.new(app_secret, raw, hashlib.sha256).digest(), digest)
