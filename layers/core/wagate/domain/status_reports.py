"""What CRMs are told when a session's status changes: the `session_status` webhook, its reasons, bans.

One report per change of (status, reason), never for the `connecting` steps in between (but for a lost
connector, below), so a number
retrying a dropped connection with backoff reports `disconnected` once, then `connected` once it is back.
The reasons, as the connector, the Cloud API consumer and the events consumer produce them:

    status        reason               from
    connected     (none)               the socket is up (web, sandbox) / the token check passed (cloud)
    connected     restricted           WhatsApp refused a message with 463 (web: no privacy token, the
                                       account may not start new chats) or Meta's 368/131031 family
    connected     rate_limited         Meta answered 130429/131048/131056/80007/4 or HTTP 429; web: WhatsApp
                                       answered a query (number check, group metadata, device list)
                                       with 429 rate-overlimit (`detail` names it; once per episode;
                                       `connected` without a reason when it ends: engines/web/throttle.py)
    qr            (none)               waiting for a scan
    pending       qr_timeout           nobody scanned the QR codes in time
    disconnected  connection_lost      network drop, stream end, keepalive timeout (reconnecting)
    disconnected  version_refused      WhatsApp refused our client version (405): reconnecting with the
                                       current one; reported only when it keeps happening
    disconnected  replaced             another socket took the device over (stays down)
    disconnected  requested            a disconnect command
    disconnected  connector_stopped / shard_handover / crashed    the connector's own reasons
    connecting    connector_lost       the connector holding a connected session died (crashed, its task
                                       killed, its host gone): told once, by the sweeper
                                       (services/connector_loss.py) or by the successor's first report,
                                       whichever comes first; `connected` follows once it is back
    logged_out    logged_out           unlinked on the phone (401/403/406, device_removed) or by request
    failed        banned               banned for good (403 saying so; sandbox `ban`)
    failed        temporarily_banned   WhatsApp's 402: `expires_at` says until when, `detail` why; the
                                       connector logs in again then (`connected` follows)
    failed        token_invalid / permission_denied / account_restricted / account_locked / ...
                                       Cloud API numbers a person must fix (`needs_attention`)
    failed        passkey_required / failed / no_engine / graph_unreachable

`ban` is "permanent", "temporary" or null, so a CRM tells a ban from a temporary ban without parsing
reasons. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wagate.domain.sessions import PERMANENT, Session, SessionStatus

BANNED = "banned"
TEMPORARILY_BANNED = "temporarily_banned"
RESTRICTED = "restricted"
RATE_LIMITED = "rate_limited"
# Message failure codes that mean the NUMBER is restricted or throttled (not just this recipient).
RESTRICTION_CODES = frozenset({"recipient_restricted", "wa_error_463"})
RATE_LIMIT_CODES = frozenset({"rate_limited", "spam_rate_limited", "pair_rate_limited"})
CONNECTOR_LOST = "connector_lost"
# Cloud session failures that are restrictions of the account by Meta (cloud/errors.py).
ACCOUNT_RESTRICTIONS = frozenset({"account_restricted", "account_locked", "country_restricted"})


@dataclass(frozen=True)
class StatusReport:
    """A `session_status` report is due: what CRMs were told last (None: nothing yet)."""

    previous_status: str | None
    previous_reason: str | None


def reported(status: SessionStatus, reason: str | None) -> dict[str, Any]:
    """What the session row keeps as `reported`."""
    return {"status": status.value, "reason": reason}


def report_due(
    last: Mapping[str, Any] | None, status: SessionStatus, reason: str | None
) -> StatusReport | None:
    """Whether moving to (status, reason) is news for CRMs, given the last report (`reported`)."""
    if status == SessionStatus.CONNECTING and reason != CONNECTOR_LOST:
        return None
    if last is not None and last.get("status") == status.value and last.get("reason") == reason:
        return None
    return told(last)


def lost_told(last: Mapping[str, Any] | None) -> bool:
    """Whether CRMs were last told that the session's connector was lost."""
    return last is not None and last.get("reason") == CONNECTOR_LOST


def told(last: Mapping[str, Any] | None) -> StatusReport:
    """A report following `last` (what CRMs were told before), whatever it was."""
    if last is None:
        return StatusReport(None, None)
    return StatusReport(_text(last.get("status")), _text(last.get("reason")))


def ban_of(status: SessionStatus, reason: str | None) -> str | None:
    if status != SessionStatus.FAILED:
        return None
    if reason == BANNED:
        return "permanent"
    if reason == TEMPORARILY_BANNED:
        return "temporary"
    return None


def report_data(session: Session, report: StatusReport, event_data: Mapping[str, Any]) -> dict[str, Any]:
    """The `session_status` webhook's data (tenant and session ids are added on the way out)."""
    status = session.status
    reason = session.status_reason
    # A temporary ban is `failed` too, but it ends by itself: the connector logs in again at `expires_at`.
    permanent = status in PERMANENT and reason != TEMPORARILY_BANNED
    return {
        "status": status.value,
        "reason": reason,
        "detail": session.status_detail,
        "previous_status": report.previous_status,
        "previous_reason": report.previous_reason,
        "permanent": permanent,
        "ban": ban_of(status, reason),
        "restricted": reason == RESTRICTED or reason in ACCOUNT_RESTRICTIONS,
        "expires_at": event_data.get("expires_at"),
        "retry_in": event_data.get("retry_in"),
        "needs_attention": bool(event_data.get("needs_attention")) or permanent,
        "phone": session.phone,
        "provider": session.provider.value,
        "sandbox": session.sandbox,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
