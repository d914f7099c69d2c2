"""The dashboard socket: short-lived tokens, connections and their subscriptions, and event fan-out.

Rows: store/realtime.py (keys and access patterns: store/keys.py). A token is checked on $connect.
Messages use seed 001's shape: `{"event": "qr_code", "data": {"session_id": ..., "status": ...}}`, with
the camelCase aliases of domain/events.py alongside.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from wagate.domain.errors import ConflictError, Gone, InvalidInput, Unauthenticated
from wagate.domain.events import with_aliases
from wagate.observability import logger
from wagate.ports import Clock, Push, Table
from wagate.store.realtime import RealtimeRepository

CONNECTION_SECONDS = 2 * 60 * 60 + 60  # API Gateway closes WebSocket connections after 2 hours
ALL_SESSIONS = "*"


def issue_token(
    table: Table,
    clock: Clock,
    tenant_id: str,
    key_id: str,
    seconds: int,
    *,
    sessions: frozenset[str] | None = None,
) -> tuple[str, float]:
    """A token for one dashboard to open the socket; valid for `seconds`. A session-scoped key's token
    (and the connection it opens) carries the key's sessions: nothing of another session reaches it."""
    token = "rt_" + secrets.token_urlsafe(24)
    expires_at = clock.now() + seconds
    RealtimeRepository(table).add_token(
        token, tenant_id=tenant_id, key_id=key_id, expires_at=int(expires_at), sessions=sessions
    )
    return token, expires_at


def connect(table: Table, clock: Clock, connection_id: str, token: str | None) -> str:
    """Accepts a connection presenting a valid token; returns its tenant. Raises Unauthenticated."""
    if not token:
        raise Unauthenticated(
            "open the socket with ?token= from POST /v1/realtime/token", code="missing_token"
        )
    rows = RealtimeRepository(table)
    grant = rows.token_grant(token)
    if grant is None:
        raise Unauthenticated(
            "this realtime token is unknown or expired; get a new one", code="invalid_token"
        )
    tenant_id, sessions = grant
    now = clock.now()
    rows.add_connection(
        connection_id,
        tenant_id,
        connected_at=now,
        expires_at=int(now + CONNECTION_SECONDS),
        sessions=sessions,
    )
    return tenant_id


def disconnect(table: Table, connection_id: str) -> None:
    RealtimeRepository(table).remove_connection(connection_id)


def handle_message(table: Table, connection_id: str, body: str | None) -> dict[str, Any]:
    """A client message: subscribe / unsubscribe / ping. Returns the reply to send back."""
    try:
        message = json.loads(body or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidInput('messages must be JSON, e.g. {"event": "subscribe", "data": {}}') from exc
    if not isinstance(message, dict):
        raise InvalidInput("messages must be JSON objects")
    kind = message.get("event") or message.get("action")
    inner = message.get("data")
    data: dict[str, Any] = inner if isinstance(inner, dict) else message
    session_id = data.get("sessionId") or data.get("session_id") or ALL_SESSIONS
    if kind == "ping":
        return {"event": "pong", "data": {}}
    if kind not in ("subscribe", "unsubscribe"):
        raise InvalidInput(f"unknown event {kind!r}; send subscribe, unsubscribe or ping")
    rows = RealtimeRepository(table)
    connection = rows.connection(connection_id)
    if connection is None:
        raise Gone("this connection is not registered; reconnect")
    subscriptions = set(connection.subscriptions)
    allowed = connection.sessions
    if (
        kind == "subscribe"
        and allowed is not None
        and session_id != ALL_SESSIONS
        and session_id not in allowed
    ):
        raise InvalidInput(f"session {session_id} does not exist", details={"session_id": str(session_id)})
    if kind == "subscribe":
        subscriptions.add(str(session_id))
    else:
        subscriptions.discard(str(session_id))
    try:
        rows.set_subscriptions(connection_id, sorted(subscriptions))
    except ConflictError as exc:
        raise Gone("this connection is not registered; reconnect") from exc
    subscribed = None if session_id == ALL_SESSIONS else session_id
    return {"event": f"{kind}d", "data": with_aliases({"session_id": subscribed})}


def message_for(event_type: str, session_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A socket message in seed 001's vocabulary: event name, session_id, and the event's fields."""
    return {"event": event_type, "data": with_aliases({"session_id": session_id, **data})}


def fan_out(
    table: Table, push: Push | None, tenant_id: str, session_id: str, message: Mapping[str, Any]
) -> int:
    """Sends to every connection of the tenant subscribed to this session (or to all). Returns how many."""
    if push is None:
        return 0
    payload = json.dumps(message, default=str).encode()
    sent = 0
    for connection in RealtimeRepository(table).connections_of(tenant_id):
        subscriptions = connection.subscriptions
        if ALL_SESSIONS not in subscriptions and session_id not in subscriptions:
            continue
        if connection.sessions is not None and session_id not in connection.sessions:
            continue  # a session-scoped key's socket: "all" means all of its own sessions
        connection_id = connection.connection_id
        try:
            push.post(connection_id, payload)
            sent += 1
        except Gone:
            logger.info("dashboard connection gone", extra={"connection_id": connection_id})
            disconnect(table, connection_id)
    return sent
