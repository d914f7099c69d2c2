"""An Evolution instance's webhook: Evolution's `webhook` object <-> the session's formatted wagate webhook.

webhook/set (and instance/create's `webhook`) make or change ONE wagate CRM webhook per session
(services/crm_webhooks.py `put_for_session`), limited to that session, with an `evolution` format: its
events are Evolution's names, its bodies Evolution's (evolution/events.py), and it keeps everything
wagate webhooks have: the Standard Webhooks signature (its `whsec_` secret is answered once, when the
webhook is made), retries for a day, the dead-letter queue and replays under /v1/webhooks/{id}.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr, field_validator

from wagate import compose
from wagate.domain.crm_webhooks import EvolutionFormat, Webhook
from wagate.domain.sessions import Session
from wagate.evolution.events import EVOLUTION_EVENTS, wagate_events

EvolutionEvent = Literal[EVOLUTION_EVENTS]  # type: ignore[valid-type]
MAX_HEADERS = 20


class EvolutionWebhook(BaseModel):
    """Evolution v2's `webhook` object (webhook.schema.ts: `enabled` and `url` required).

    `webhookByEvents` / `webhookBase64` are read too: the n8n Evolution node sends those names (Evolution
    itself ignores them; wagate takes them for what the flow asked)."""

    enabled: StrictBool
    url: StrictStr = Field(min_length=1, max_length=2048)
    headers: dict[str, StrictStr | int | float | bool] | None = None
    byEvents: StrictBool = False
    base64: StrictBool = False
    webhookByEvents: StrictBool | None = None
    webhookBase64: StrictBool | None = None
    events: list[EvolutionEvent] = Field(default_factory=list, max_length=len(EVOLUTION_EVENTS))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        if "jwt_key" in value:
            raise ValueError(
                "jwt_key is not supported: every call is signed (webhook-signature, Standard Webhooks); "
                "verify that with the secret webhook/set answers"
            )
        for name, given in value.items():
            if not name or any(c in name for c in " :\r\n") or any(c in str(given) for c in "\r\n"):
                raise ValueError(f"header {name!r} is not a valid HTTP header")
        return value

    @property
    def by_events(self) -> bool:
        return self.byEvents or bool(self.webhookByEvents)

    @property
    def inline_base64(self) -> bool:
        return self.base64 or bool(self.webhookBase64)


class CreateWebhook(EvolutionWebhook):
    """instance/create's `webhook`: Evolution turns it on whatever `enabled` says (event.manager.ts
    setInstance), and an empty `url` (the n8n node's default) sets nothing."""

    enabled: StrictBool = True
    url: StrictStr = Field("", max_length=2048)


def set_webhook(session: Session, given: EvolutionWebhook) -> tuple[Webhook, str | None]:
    """Makes or changes the instance's webhook as Evolution's webhook/set does: disabled keeps no
    events, enabled with none listed means all of them. Returns it and its secret when made now.
    Raises InvalidInput (wagate's URL rules, checked when enabled: https, public addresses),
    LimitExceeded."""
    events = list(dict.fromkeys(given.events)) if given.enabled else []
    if given.enabled and not events:
        events = list(EVOLUTION_EVENTS)
    options = EvolutionFormat(
        instance=session.name,
        events=events,
        by_events=given.by_events,
        base64=given.inline_base64,
        headers={
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (given.headers or {}).items()
        },
    )
    return compose.webhook_service().put_for_session(
        session.tenant_id,
        session.id,
        url=given.url,
        enabled=given.enabled,
        events=wagate_events(events),
        evolution=options,
        check_url=given.enabled,  # a disabled one calls nothing (the n8n node sends `vazio` then)
    )


def row(session: Session, webhook: Webhook, secret: str | None = None) -> dict[str, Any]:
    """Evolution's Webhook row (what webhook/set and webhook/find answer), plus wagate's signing secret
    when the webhook was made now (shown once, as /v1/webhooks does)."""
    options = webhook.evolution or EvolutionFormat(instance=session.name, events=[])
    found: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "headers": options.headers or None,
        "enabled": webhook.enabled,
        "events": options.events,
        "webhookByEvents": options.by_events,
        "webhookBase64": options.base64,
        "createdAt": _iso(webhook.created_at),
        "updatedAt": _iso(webhook.updated_at),
        "instanceId": session.id,
    }
    if secret is not None:
        found["secret"] = secret
    return found


def delete_webhook(session: Session) -> None:
    """The instance's webhook goes with it (instance/delete)."""
    service = compose.webhook_service()
    found = service.for_session(session.tenant_id, session.id)
    if found is not None:
        service.delete(session.tenant_id, found.id)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
