"""Evolution's view of a wagate session: connection state, the QR object, the instance record, the token.

State (Evolution has three): `open` while connected; `connecting` while wagate works towards a
connection (pending, showing a QR code, opening, or reconnecting after a transient drop); `close` when
nothing will happen by itself (logged out, failed, or stopped by the operator).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

from wagate import compose, qr
from wagate.domain.errors import NotFound
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.domain.tenants import ApiKey, Scope
from wagate.services import tenants
from wagate.services.sessions import SessionService
from wagate.store.evolution import EvolutionInstances

# Evolution's `integration` names; WAGATE-SANDBOX is wagate's own (a simulated number, for CRM tests).
INTEGRATIONS = {
    "WHATSAPP-BAILEYS": Provider.WEB,
    "WHATSAPP-BUSINESS": Provider.CLOUD,
    "WAGATE-SANDBOX": Provider.SANDBOX,
}
INTEGRATION_OF = {provider: name for name, provider in INTEGRATIONS.items()}
# The name of the key instance/create makes for an instance (its token): instance/delete revokes it.
TOKEN_KEY_PREFIX = "evolution instance "
# How long instance/create (qrcode: true) and instance/connect wait for the connector's first QR code.
# Evolution itself waits a fixed 5 s and 2 s; here the wait ends as soon as the code is there.
QR_WAIT_SECONDS = 8.0
ENDED = (SessionStatus.LOGGED_OUT, SessionStatus.FAILED)
QR_POLL_SECONDS = 0.1


def state(session: Session, desired: str | None) -> str:
    if session.status == SessionStatus.CONNECTED:
        return "open"
    if session.status in ENDED or desired == "stopped":
        return "close"
    return "connecting"


def session_state(service: SessionService, session: Session) -> str:
    """The state of `session` now (as the API shows it, with the operator's wish)."""
    record = service.record(session.tenant_id, session.id)
    return state(service.honest(record.session), record.desired)


def jid(phone: str | None) -> str | None:
    return f"{phone.lstrip('+')}@s.whatsapp.net" if phone else None


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def qr_object(service: SessionService, session: Session, *, wait: float = 0.0) -> dict[str, Any]:
    """Evolution's `qrcode` object `{pairingCode, code, base64}` (base64 is a PNG data URL, as
    Evolution's). Waits up to `wait` seconds for the first code; `code`/`base64` are absent when there is
    none (Evolution leaves them out too), `pairingCode` is null unless the number links by code."""
    deadline = time.monotonic() + wait
    while True:
        current = service.get(session.tenant_id, session.id)
        try:
            text, _ = service.current_qr(session.tenant_id, session.id)
        except NotFound:
            text = None
        if text is not None or current.pairing_code or time.monotonic() >= deadline:
            break
        time.sleep(QR_POLL_SECONDS)
    found: dict[str, Any] = {"pairingCode": current.pairing_code}
    if text is not None:
        found.update(code=text, base64=qr.data_url(text))
    return found


def record(session: Session, desired: str | None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """One item of `instance/fetchInstances`, shaped as Evolution's Instance row (with `Setting`).

    `token` is null here (keys are kept as digests): fetchInstances fills in the token kept, sealed, for
    the instance (store/evolution.py). Relations wagate has no counterpart for (Chatwoot, Proxy,
    Rabbitmq, ...) are null."""
    return {
        "id": session.id,
        "name": session.name,
        "connectionStatus": state(session, desired),
        "ownerJid": jid(session.phone) if session.connected_at else None,
        "profileName": None,
        "profilePicUrl": None,
        "integration": INTEGRATION_OF[session.provider],
        "number": session.phone.lstrip("+") if session.phone else None,
        "businessId": None,
        "token": None,
        "clientName": "wagate",
        "disconnectionReasonCode": None,
        "disconnectionObject": None,
        "disconnectionAt": iso(session.updated_at) if session.status in ENDED else None,
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
        "Chatwoot": None,
        "Proxy": None,
        "Rabbitmq": None,
        "Nats": None,
        "Sqs": None,
        "Websocket": None,
        "Setting": settings,
    }


def make_token(session: Session, secret: str | None) -> str:
    """The instance's token: a new key scoped to its session (read, send). `secret` is the client's own
    token (Evolution's `token`), else wagate makes one. Raises InvalidInput / ConflictError."""
    ports = compose.ports()
    _, token = tenants.create_key(
        ports.table,
        ports.clock,
        session.tenant_id,
        TOKEN_KEY_PREFIX + session.name,
        [Scope.READ, Scope.SEND],
        sessions=[session.id],
        secret=secret,
    )
    return token


def claim_name(session: Session) -> bool:
    """Makes `session` the one instance of its name in its tenant: True when it holds the name now.
    A name held by a session that is gone (deleted outside Evolution) is taken over."""
    kept = EvolutionInstances(compose.ports().table)
    for _ in range(3):
        if kept.claim(session.tenant_id, session.name, session.id):
            return True
        holder = kept.holder(session.tenant_id, session.name)
        if holder == session.id:
            return True
        if holder is not None and compose.session_service().rows.find(session.tenant_id, holder) is not None:
            return False
        if holder is not None and kept.claim(session.tenant_id, session.name, session.id, replacing=holder):
            return True
    return False


def revoke_tokens(session: Session) -> None:
    """Revokes the keys limited to exactly this session that instance/create made (its tokens)."""
    table = compose.ports().table
    for key in tenants.list_keys(table, session.tenant_id):
        if _is_token_of(key, session):
            tenants.revoke_key(table, session.tenant_id, key.id)


def forget_gone(tenant_id: str, live: set[str]) -> int:
    """What instances whose session is gone without instance/delete (deleted through /v1, or expired
    unlinked by the sweeper) left: their tokens, webhooks and kept rows. Returns how many instances.
    Called by instance/create, so a CRM that makes and abandons instances never fills the tenant's
    webhook limit with dead ones."""
    table = compose.ports().table
    rows = compose.session_service().rows
    found: dict[str, bool] = {}

    def is_gone(session_id: str) -> bool:
        # `live` may be older than an instance another create just made: ask the row itself.
        if session_id in live:
            return False
        if session_id not in found:
            found[session_id] = rows.find(tenant_id, session_id) is None
        return found[session_id]

    gone: set[str] = set()
    for key in tenants.list_keys(table, tenant_id):
        if key.name.startswith(TOKEN_KEY_PREFIX) and key.sessions and all(map(is_gone, key.sessions)):
            with contextlib.suppress(NotFound):  # another create forgot it first
                tenants.revoke_key(table, tenant_id, key.id)
            gone.update(key.sessions)
    webhooks = compose.webhook_service()
    for hook in webhooks.list(tenant_id):
        if hook.evolution is not None and hook.session_id and is_gone(hook.session_id):
            with contextlib.suppress(NotFound):
                webhooks.delete(tenant_id, hook.id)
            gone.add(hook.session_id)
    kept = EvolutionInstances(table)
    for session_id in gone:
        kept.delete(tenant_id, session_id)
    return len(gone)


def _is_token_of(key: ApiKey, session: Session) -> bool:
    return key.sessions == [session.id] and key.name.startswith(TOKEN_KEY_PREFIX)
