"""The audit log: records state-changing API calls, operator actions and security events; reads them back.

What is recorded never includes message content or secrets: the actor is a key id, the target an id, and
details only the route's path parameters and a few named facts. Each entry's TTL comes from the tenant's
audit retention (services/retention.py). Rows: store/audit.py.

Failed authentication carries no tenant (the key is unknown), so single failures are only counted, per
source address and minute; a burst (FAILED_AUTH_BURST failures in one minute) becomes one security entry
in the operator's own audit partition (tenant `_system`), which `wagate admin audit` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wagate import meters
from wagate.domain.audit import ANONYMOUS, OPERATOR, WHATSAPP, AuditEntry, AuditKind
from wagate.domain.errors import ConflictError
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.ids import derived_id, new_id
from wagate.store import keys
from wagate.store.audit import AuditPage, AuditRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.retention import RetentionService

FAILED_AUTH_BURST = 10  # failures from one address in one minute that make a security entry
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POST routes that change nothing (they compute an answer): not audited.
READ_ONLY_POSTS = frozenset(
    {
        "/v1/templates/{name}/preview",
        # Evolution's queries are POSTs (a `where` in the body); its getBase64FromMediaMessage, handing out
        # a person's file, stays recorded like an export.
        "/evolution/chat/findMessages/{instanceName}",
        "/evolution/chat/findChats/{instanceName}",
        "/evolution/chat/findContacts/{instanceName}",
        "/evolution/chat/whatsappNumbers/{instanceName}",
        "/evolution/chat/checkIsWhatsappNumber/{instanceName}",
    }
)
# Reads worth an entry all the same: handing out everything about a person.
AUDITED_READS = frozenset({"/v1/contacts/{phone}/export"})
# Successful calls with a name of their own: the security events the API causes.
SECURITY_ACTIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/keys"): "key.created",
    ("DELETE", "/v1/keys/{key_id}"): "key.revoked",
    ("POST", "/v1/webhooks"): "webhook.secret_issued",
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): "webhook.secret_rotated",
    ("PUT", "/v1/sessions/{session_id}/cloud-secrets"): "session.secrets_rotated",
    ("POST", "/v1/sessions/{session_id}/logout"): "session.unlinked",
    ("DELETE", "/v1/sessions/{session_id}"): "session.deleted",
    ("POST", "/v1/realtime/token"): "realtime.token_issued",
    ("PUT", "/v1/settings/retention"): "retention.changed",
    ("DELETE", "/v1/contacts/{phone}"): "contact.erased",
    ("GET", "/v1/contacts/{phone}/export"): "contact.exported",
    # The Evolution API surface (wagate/evolution): create issues the instance's token (a key).
    ("POST", "/evolution/instance/create"): "key.created",
    ("DELETE", "/evolution/instance/logout/{instanceName}"): "session.unlinked",
    ("DELETE", "/evolution/instance/delete/{instanceName}"): "session.deleted",
}


def is_audited(method: str, route: str) -> bool:
    if method.upper() == "GET":
        return route in AUDITED_READS
    return method.upper() in STATE_CHANGING and route not in READ_ONLY_POSTS


def openapi_path(powertools_path: str) -> str:
    """`/v1/keys/<key_id>` (Powertools' rule) as the OpenAPI writes it, `/v1/keys/{key_id}`."""
    return powertools_path.replace("<", "{").replace(">", "}")


class AuditLog:
    def __init__(self, table: Table, clock: Clock, retention: RetentionService) -> None:
        self.clock = clock
        self.retention = retention
        self.rows = AuditRepository(table)

    def record(
        self,
        tenant_id: str,
        *,
        kind: AuditKind,
        actor: str,
        action: str,
        outcome: int,
        route: str | None = None,
        target: str | None = None,
        source_ip: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: float | None = None,
        once_for: str | None = None,
    ) -> AuditEntry | None:
        """Appends one entry. `once_for`: an id of what caused it (an event id), so a redelivered cause
        records nothing twice; returns None then."""
        when = self.clock.now() if at is None else at
        entry = AuditEntry(
            id=derived_id("aud", when, once_for) if once_for else new_id("aud", when),
            tenant_id=tenant_id,
            at=when,
            kind=kind,
            actor=actor,
            action=action,
            route=route,
            target=target,
            outcome=outcome,
            source_ip=source_ip,
            details=dict(details or {}),
        )
        expires_at = None
        if tenant_id != keys.OPERATOR_AUDIT_TENANT:
            # Kept from when it was recorded (a reported event may carry an older time of its own).
            expires_at = self.retention.expires_at(tenant_id, "audit")
        try:
            self.rows.append(entry, expires_at)
        except ConflictError:
            return None
        return entry

    def api_call(
        self,
        *,
        tenant_id: str,
        key_id: str,
        method: str,
        route: str,
        path_params: Mapping[str, str],
        status: int,
        source_ip: str | None,
        created_id: str | None = None,
    ) -> AuditEntry | None:
        """One state-changing call, whatever its outcome (a refusal is worth knowing about too)."""
        named = SECURITY_ACTIONS.get((method.upper(), route)) if 200 <= status < 300 else None
        # The target: the id the route acts on (the innermost path parameter), or the id it created.
        target = created_id or (list(path_params.values())[-1] if path_params else None)
        return self.record(
            tenant_id,
            kind=AuditKind.SECURITY if named else AuditKind.API,
            actor=key_id,
            action=named or f"{method.upper()} {route}",
            route=f"{method.upper()} {route}",
            target=target,
            outcome=status,
            source_ip=source_ip,
            details={"path": dict(path_params)} if path_params else None,
        )

    def failed_auth(self, source_ip: str | None, code: str) -> AuditEntry | None:
        """Counts one failed authentication; the burst-th of a minute records a security entry."""
        meters.count("wagate_auth_failures_total", code=code)
        now = self.clock.now()
        minute = int(now // 60)
        address = source_ip or "unknown"
        count = self.rows.count_failed_auth(address, minute, expires_at=int(now) + 3600)
        if count != FAILED_AUTH_BURST:
            return None
        return self.record(
            keys.OPERATOR_AUDIT_TENANT,
            kind=AuditKind.SECURITY,
            actor=ANONYMOUS,
            action="auth.failed_burst",
            outcome=401,
            source_ip=source_ip,
            details={"failures_this_minute": count, "last_reason": code},
            at=now,
        )

    def session_event(self, event: SessionEvent) -> AuditEntry | None:
        """A security event for a session linked, unlinked or banned (as WhatsApp or Meta reported)."""
        action = _session_action(event)
        if action is None:
            return None
        reason = event.data.get("reason")
        return self.record(
            event.tenant_id,
            kind=AuditKind.SECURITY,
            actor=WHATSAPP,
            action=action,
            target=event.session_id,
            outcome=200,
            details={"reason": str(reason)[:80]} if reason else None,
            at=event.at,
            once_for=event.id,
        )

    def operator(self, tenant_id: str, action: str, *, target: str | None = None) -> AuditEntry | None:
        """What an operator did with `wagate admin ...` (on the data directly, no API key)."""
        return self.record(
            tenant_id, kind=AuditKind.OPERATOR, actor=OPERATOR, action=action, target=target, outcome=200
        )

    def page(self, tenant_id: str, **filters: Any) -> AuditPage:
        return self.rows.page(tenant_id, **filters)


def _session_action(event: SessionEvent) -> str | None:
    if event.type == EventType.SESSION_STATUS and event.data.get("paired"):
        return "session.linked"
    if event.type == EventType.LOGGED_OUT:
        return "session.logged_out"
    if event.type == EventType.SESSION_FAILED:
        return "session.banned" if event.data.get("reason") == "banned" else "session.failed"
    return None
