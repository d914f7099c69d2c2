"""Domain errors: what went wrong, by meaning. Adapters raise these; handlers map classes to responses.

    WagateError                      code, message, details
    ├── InvalidInput                 the caller sent something we cannot accept (HTTP 422)
    │   └── ItemTooLarge             a stored item or request body over its size limit (HTTP 413)
    ├── Unauthenticated              no or invalid API key / token (HTTP 401)
    ├── Forbidden                    authenticated, but the key lacks a scope (HTTP 403)
    ├── NotFound                     unknown id, or another tenant's (HTTP 404)
    ├── ConflictError                a condition failed: version, status, lease, uniqueness (HTTP 409)
    ├── LimitExceeded                a configured quota is used up (HTTP 409 / 429)
    │   └── QuotaExceeded            a rate or daily quota: retry after `details.retry_after` s (HTTP 429)
    ├── TransientError               worth retrying later: throttling, a service hiccup (HTTP 503)
    └── Gone                         a dashboard connection no longer exists (push, 410)

Retryable vs permanent is a type: only TransientError (and its subclasses) should be retried.
"""

from __future__ import annotations

from typing import Any


class WagateError(Exception):
    """Base of every error wagate raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class InvalidInput(WagateError):
    code = "invalid_input"


class ItemTooLarge(InvalidInput):
    code = "too_large"


class Unauthenticated(WagateError):
    code = "unauthenticated"


class Forbidden(WagateError):
    code = "forbidden"


class NotFound(WagateError):
    code = "not_found"


class ConflictError(WagateError):
    """A write's condition did not hold. For transactions, `details` lists the failed operations."""

    code = "conflict"


class LimitExceeded(WagateError):
    code = "limit_exceeded"


class QuotaExceeded(LimitExceeded):
    """Used up for now (a per-day or per-minute quota): `details.retry_after` says when it refills."""

    code = "quota_exceeded"


class TransientError(WagateError):
    code = "temporarily_unavailable"


class Gone(WagateError):
    """The dashboard connection is gone (API Gateway answers 410): forget it."""

    code = "gone"
