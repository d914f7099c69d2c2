"""The dashboard socket: short-lived tokens, connections and their subscriptions, and event fan-out.

Storage layout (single table):
    RTTOKEN#{sha256(token)} / RTTOKEN    a realtime token (TTL: minutes); checked on $connect
    WSCONN#{connection}     / WSCONN     a live connection, its tenant and subscriptions (TTL: 2 h, API
                                         Gateway's own limit); gsi1: T#{tenant}#WS / {connection}
Messages use seed 001's shape: `{"event": "qr_code", "data": {"sessionId": ..., "status": ...}}`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from wagate.conditions import item_exists
from wagate.domain.errors import ConflictError, Gone, InvalidInput, Unauthenticated
from wagate.observability import logger
from wagate.ports import Clock, Push, Table

CONNECTION_SECONDS = 2 * 60 * 60 + 60  # API Gateway closes WebSocket connections after 2 hours
ALL_SESSIONS = "*"


def _token_key(token: str) -> tuple[str, str]:
    return f"RTTOKEN#{hashlib.sha256(token.encode()).hexdigest()}", "RTTOKEN"


def _connection_key(connection_id: str) -> tuple[str, str]:
    return f"WSCONN#{connection_id}", "WSCONN"


def issue_token(table: Table, clock: Clock, tenant_id: str, key_id: str, seconds: int) -> tuple[str, float]:
    """A token for one dashboard to open the socket; valid for `seconds`."""
    token = "rt_" + secrets.token_urlsafe(24)
    expires_at = clock.now() + seconds
    pk, sk = _token_key(token)
    table.put({"pk": pk, "sk": sk, "tenant_id": tenant_id, "key_id": key_id, "expires_at": int(expires_at)})
    return token, expires_at


def connect(table: Table, clock: Clock, connection_id: str, token: str | None) -> str:
    """Accepts a connection presenting a valid token; returns its tenant. Raises Unauthenticated."""
    if not token:
        raise Unauthenticated(
            "open the socket with ?token= from POST /v1/realtime/token", code="missing_token"
        )
    found = table.get(*_token_key(token))
    if found is None:
        raise Unauthenticated(
            "this realtime token is unknown or expired; get a new one", code="invalid_token"
        )
    tenant_id = str(found["tenant_id"])
    now = clock.now()
    pk, sk = _connection_key(connection_id)
    table.put(
        {
            "pk": pk,
            "sk": sk,
            "gsi1pk": f"T#{tenant_id}#WS",
            "gsi1sk": connection_id,
            "tenant_id": tenant_id,
            "subscriptions": [],
            "connected_at": now,
            "expires_at": int(now + CONNECTION_SECONDS),
        }
    )
    return tenant_id


def disconnect(table: Table, connection_id: str) -> None:
    table.delete(*_connection_key(connection_id))


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
    item = table.get(*_connection_key(connection_id))
    if item is None:
        raise Gone("this connection is not registered; reconnect")
    subscriptions = set(item.get("subscriptions", []))
    if kind == "subscribe":
        subscriptions.add(str(session_id))
    else:
        subscriptions.discard(str(session_id))
    try:
        table.update(
            *_connection_key(connection_id),
            set={"subscriptions": sorted(subscriptions)},
            condition=item_exists(),
        )
    except ConflictError as exc:
        raise Gone("this connection is not registered; reconnect") from exc
    return {"event": f"{kind}d", "data": {"sessionId": None if session_id == ALL_SESSIONS else session_id}}


def message_for(event_type: str, session_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A socket message in seed 001's vocabulary: event name, sessionId, and the event's fields."""
    return {"event": event_type, "data": {"sessionId": session_id, **data}}


def fan_out(
    table: Table, push: Push | None, tenant_id: str, session_id: str, message: Mapping[str, Any]
) -> int:
    """Sends to every connection of the tenant subscribed to this session (or to all). Returns how many."""
    if push is None:
        return 0
    payload = json.dumps(message, default=str).encode()
    sent, cursor = 0, None
    while True:
        page = table.query(f"T#{tenant_id}#WS", index="gsi1", cursor=cursor)
        for item in page.items:
            subscriptions = item.get("subscriptions", [])
            if ALL_SESSIONS not in subscriptions and session_id not in subscriptions:
                continue
            connection_id = str(item["gsi1sk"])
            try:
                push.post(connection_id, payload)
                sent += 1
            except Gone:
                logger.info("dashboard connection gone", extra={"connection_id": connection_id})
                disconnect(table, connection_id)
        if page.cursor is None:
            return sent
        cursor = page.cursor
