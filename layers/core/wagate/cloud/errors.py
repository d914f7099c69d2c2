"""Meta Graph (Cloud API) errors by meaning: one class per thing a caller does about it, picked from a table.

    CloudApiError(WagateError)          code (our reason), message, details, is_transient, graph_code
    ├── OutsideWindow                   131047: 24 h since the customer last wrote; send a template
    ├── RecipientUnavailable            131026, 131021, 131030, 131050, 130472: not this recipient, now
    ├── TemplateRejected                132xxx: the template (name, language, parameters) is wrong
    ├── RequestRejected(InvalidInput)   100, 131008, 131009, 131051-131053: this request cannot succeed
    ├── NeedsAttention                  the SESSION must be fixed by a person; its sends stop
    │   ├── TokenInvalid                190, 102, 463, 467: the access token expired or was revoked
    │   ├── PermissionDenied            0, 3, 10, 200-299, 131005: the token lacks a permission
    │   └── AccountRestricted           368, 131031, 130497, 131042, 131045: the account is restricted
    ├── RateLimited(TransientError)     4, 80007, 130429, 131048, 131056, 133016, HTTP 429: retry later
    └── GraphUnavailable(TransientError) 1, 2, 131000, 131016, 131057, HTTP 5xx, no connection: retry
        └── OutcomeUnknown              the request went out but no answer came: a send may have happened

Codes not in the table fall back on Graph's own `is_transient`, then on the HTTP status (429/5xx transient).
The table is also used for the `errors[]` of a `failed` status in Meta's webhooks, so a CRM sees the same
reason whether Meta refused the request or reported the failure later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wagate.domain.errors import InvalidInput, TransientError, WagateError


class CloudApiError(WagateError):
    code = "provider_error"
    is_transient = False

    def __init__(
        self,
        message: str,
        *,
        graph_code: int | None = None,
        details: Any = None,
        code: str | None = None,
        is_transient: bool | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.graph_code = graph_code
        if is_transient is not None:
            self.is_transient = is_transient


class OutsideWindow(CloudApiError):
    code = "outside_window"


class RecipientUnavailable(CloudApiError):
    code = "recipient_unavailable"


class TemplateRejected(CloudApiError):
    code = "template_rejected"


class RequestRejected(CloudApiError, InvalidInput):
    code = "request_rejected"


class NeedsAttention(CloudApiError):
    """The session cannot send until a person fixes its token, permissions or account."""

    code = "session_needs_attention"


class TokenInvalid(NeedsAttention):
    code = "token_invalid"


# What can travel in an Authorization header, and what Meta's tokens and secrets are made of.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def token_usable(token: str) -> bool:
    """Whether a token (or app secret, verify token) is visible ASCII only: no spaces, line breaks,
    control characters or anything beyond ASCII (a pasted '…')."""
    return _TOKEN.fullmatch(token) is not None


class PermissionDenied(NeedsAttention):
    code = "permission_denied"


class AccountRestricted(NeedsAttention):
    code = "account_restricted"


class RateLimited(CloudApiError, TransientError):
    code = "rate_limited"
    is_transient = True


class GraphUnavailable(CloudApiError, TransientError):
    code = "provider_unavailable"
    is_transient = True


class OutcomeUnknown(GraphUnavailable):
    """Sent, but the answer was lost (read timeout, dropped connection): retrying a send may duplicate it."""

    code = "outcome_unknown"


# Graph error code → (class, our reason code, a hint for the CRM). Reasons are stable API values.
_TABLE: dict[int, tuple[type[CloudApiError], str, str]] = {
    131047: (
        OutsideWindow,
        "outside_window",
        "more than 24 hours have passed since the customer last wrote: send an approved template instead",
    ),
    131026: (RecipientUnavailable, "undeliverable", "the number is not on WhatsApp or cannot receive this"),
    131021: (RecipientUnavailable, "recipient_is_sender", "the recipient is the sending number itself"),
    131030: (RecipientUnavailable, "not_in_allowed_list", "a test number may only write to its allowed list"),
    131050: (RecipientUnavailable, "marketing_opt_out", "the customer stopped marketing messages"),
    130472: (RecipientUnavailable, "experiment", "the customer is in a Meta marketing experiment"),
    100: (RequestRejected, "invalid_request", "Graph refused a parameter of the request"),
    131008: (RequestRejected, "missing_parameter", "a required parameter is missing"),
    131009: (RequestRejected, "invalid_parameter", "a parameter value is not valid"),
    131051: (RequestRejected, "unsupported_type", "this message type is not supported"),
    131052: (RequestRejected, "media_download_failed", "Meta could not download the media"),
    131053: (RequestRejected, "media_upload_failed", "Meta could not fetch or upload the media"),
    190: (
        TokenInvalid,
        "token_invalid",
        "the access token expired or was revoked: give the session a new one",
    ),
    102: (TokenInvalid, "token_invalid", "the access token is not valid: give the session a new one"),
    463: (TokenInvalid, "token_invalid", "the access token expired: give the session a new one"),
    467: (TokenInvalid, "token_invalid", "the access token is not valid: give the session a new one"),
    0: (PermissionDenied, "permission_denied", "Meta could not authenticate the app user"),
    3: (PermissionDenied, "permission_denied", "the app lacks this capability"),
    10: (
        PermissionDenied,
        "permission_denied",
        "the token lacks a permission (whatsapp_business_messaging?)",
    ),
    131005: (PermissionDenied, "permission_denied", "the token lacks a permission for this number"),
    368: (AccountRestricted, "account_restricted", "the account is blocked for a policy violation"),
    131031: (AccountRestricted, "account_locked", "the account is locked (policy, or a wrong two-step PIN)"),
    130497: (AccountRestricted, "country_restricted", "the account may not message this country"),
    131042: (AccountRestricted, "payment_issue", "the account's payment method has a problem"),
    131045: (AccountRestricted, "registration_issue", "the phone number is not registered correctly"),
    4: (RateLimited, "rate_limited", "the app hit Graph's call rate limit; retry later"),
    80007: (RateLimited, "rate_limited", "the account hit its rate limit; retry later"),
    130429: (RateLimited, "rate_limited", "the number hit Cloud API throughput; retry later"),
    131048: (
        RateLimited,
        "spam_rate_limited",
        "the number is limited after messages were flagged; slow down",
    ),
    131056: (RateLimited, "pair_rate_limited", "too many messages to this recipient in a short time"),
    133016: (RateLimited, "rate_limited", "too many registration attempts; retry later"),
    1: (GraphUnavailable, "provider_unavailable", "Graph had an unknown error; retry later"),
    2: (GraphUnavailable, "provider_unavailable", "Graph is temporarily unavailable; retry later"),
    131000: (GraphUnavailable, "provider_unavailable", "Meta failed with an unknown error; retry later"),
    131016: (GraphUnavailable, "provider_unavailable", "a Meta service is temporarily unavailable"),
    131057: (GraphUnavailable, "maintenance", "the business account is in maintenance mode"),
}
_TEMPLATE_CODES = range(132000, 133000)
_PERMISSION_CODES = range(200, 300)


def classify(
    graph_code: int | None, *, http_status: int | None = None, transient: bool | None = None
) -> tuple[type[CloudApiError], str, str]:
    """The class, reason code and hint for a Graph error code (see the module docstring for the order)."""
    if graph_code is not None:
        if graph_code in _TABLE:
            return _TABLE[graph_code]
        if graph_code in _TEMPLATE_CODES:
            return TemplateRejected, "template_rejected", "the template, its language or parameters are wrong"
        if graph_code in _PERMISSION_CODES:
            return PermissionDenied, "permission_denied", "the token lacks a permission"
    if transient or http_status == 429 or (http_status is not None and http_status >= 500):
        if http_status == 429:
            return RateLimited, "rate_limited", "Graph answered 429; retry later"
        return GraphUnavailable, "provider_unavailable", "Graph failed transiently; retry later"
    return CloudApiError, "provider_error", "Graph refused the request"


def from_graph(error: Mapping[str, Any], *, http_status: int | None = None) -> CloudApiError:
    """The domain error for a Graph `error` object (`{"code", "message", "error_data": {"details"}, ...}`)."""
    graph_code = _int(error.get("code"))
    transient = error.get("is_transient")
    cls, reason, hint = classify(
        graph_code, http_status=http_status, transient=transient if isinstance(transient, bool) else None
    )
    data = error.get("error_data")
    detail = data.get("details") if isinstance(data, Mapping) else None
    message = str(error.get("message") or error.get("title") or hint)
    details = {
        "graph_code": graph_code,
        "subcode": _int(error.get("error_subcode")),
        "title": error.get("title") or error.get("error_user_title"),
        "detail": detail,
        "hint": hint,
        "http_status": http_status,
        "fbtrace_id": error.get("fbtrace_id"),
    }
    return cls(
        message if message == hint else f"{message} ({hint})",
        graph_code=graph_code,
        details={k: v for k, v in details.items() if v is not None},
        code=reason,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
