"""CRM webhooks: a tenant's endpoints (create, list, change, delete), their URL rules, and `enqueue`.

Rows: store/crm_webhooks.py (keys and access patterns: store/keys.py): the endpoint with its signing
secret encrypted with the Crypto port (context: tenant_id + webhook_id), and the tenant's webhook count.
Deliveries live in `crm_deliveries`; attempts are made by `crm_attempts` (the queue consumer).

URL rules (checked when a webhook is created or its URL changes, and again before every attempt,
because DNS can change): the outbound-URL rules of `wagate.domain.outbound_urls` (https, public
addresses), relaxed by WAGATE_WEBHOOKS_ALLOW_HTTP / WAGATE_WEBHOOKS_ALLOW_PRIVATE. Redirects are never
followed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.crm_webhooks import (
    SECRET_PREFIX,
    WEBHOOK_EVENTS,
    CreatedWebhook,
    Description,
    EventFilter,
    EvolutionFormat,
    Webhook,
    WebhookEvent,
    WebhookUrl,
    new_secret,
)
from wagate.domain.errors import ConflictError, LimitExceeded, NotFound, WagateError
from wagate.domain.events import SessionEvent, with_aliases
from wagate.domain.ids import new_id
from wagate.domain.numbers import NotBoolean, NotNumber
from wagate.domain.outbound_urls import UrlPolicy
from wagate.observability import logger
from wagate.ports import Clock, Crypto, Table, WebhookSender
from wagate.services.crm_deliveries import DeliveryStore
from wagate.store.crm_webhooks import WebhookRepository

MAX_WEBHOOKS = 20
DEFAULT_OVERLAP_SECONDS = 24 * 3600
MAX_OVERLAP_SECONDS = 7 * 24 * 3600


class NewWebhook(BaseModel):
    model_config = ConfigDict(defer_build=True)

    url: WebhookUrl
    events: EventFilter = Field(default_factory=list)
    description: Description = None


class WebhookChanges(BaseModel):
    """A PATCH: only the fields given change. `enabled: true` turns a webhook disabled by 410 back on."""

    model_config = ConfigDict(defer_build=True)

    url: WebhookUrl | None = None
    events: EventFilter | None = None
    description: Description = None
    enabled: Annotated[bool, NotNumber] | None = None


class SecretRotation(BaseModel):
    model_config = ConfigDict(defer_build=True)

    overlap_seconds: Annotated[int, Field(ge=0, le=MAX_OVERLAP_SECONDS), NotBoolean] = Field(
        DEFAULT_OVERLAP_SECONDS,
        description="How long the previous secret keeps signing beside the new one (0: stops at once; at "
        "most 7 days)",
    )


def secret_context(tenant_id: str, webhook_id: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "webhook_id": webhook_id}


@dataclass(frozen=True)
class Formatted:
    """One body a formatted webhook gets for an event: `part` tells apart several bodies of one event,
    `url_suffix` is added to the webhook's URL for it."""

    payload: dict[str, Any]
    part: str
    url_suffix: str = ""


# Builds the bodies a webhook with its own format (`evolution`) gets for one event: (webhook, event, kind,
# the notice's data) -> bodies; none when it has nothing to say. Given by the composition root.
Formatter = Callable[[Webhook, SessionEvent, str, Mapping[str, Any]], list[Formatted]]


class WebhookService:
    """The use cases behind /v1/webhooks (and the Evolution surface's webhook/set)."""

    def __init__(
        self,
        table: Table,
        crypto: Crypto,
        clock: Clock,
        rules: UrlPolicy,
        sender: Callable[[], WebhookSender],
        *,
        deliveries: DeliveryStore,
        limit: int = MAX_WEBHOOKS,
        formatter: Formatter | None = None,
    ) -> None:
        self.table = table
        self.crypto = crypto
        self.clock = clock
        self.rules = rules
        self._sender = sender  # resolved only when a URL is checked: no HTTP client for other routes
        self.limit = limit
        self.rows = WebhookRepository(table)
        self.deliveries = deliveries
        self.formatter = formatter

    def create(self, tenant_id: str, new: NewWebhook) -> CreatedWebhook:
        """Raises InvalidInput (URL rules), LimitExceeded. Nothing is stored when a check fails."""
        self.check(new.url)
        now = self.clock.now()
        webhook_id = new_id("whk", now)
        secret = new_secret()
        webhook = Webhook(
            id=webhook_id,
            tenant_id=tenant_id,
            url=new.url,
            events=sorted(set(new.events)),
            description=new.description,
            enabled=True,
            secret_hint=secret[: len(SECRET_PREFIX) + 4],
            created_at=now,
            updated_at=now,
        )
        blob = self.crypto.encrypt(secret.encode(), context=secret_context(tenant_id, webhook_id))
        self.rows.create(webhook, blob, limit=self.limit)
        return CreatedWebhook(**webhook.model_dump(), secret=secret)

    def check(self, url: str) -> None:
        """The URL rules, resolving the host unless private addresses are allowed. Raises InvalidInput."""
        self.rules.check_url(url)
        if not self.rules.allow_private:
            self.rules.check_target(url, self._sender().addresses(url))

    def list(self, tenant_id: str) -> list[Webhook]:
        return self.rows.list(tenant_id, limit=self.limit * 2)

    def get(self, tenant_id: str, webhook_id: str) -> Webhook:
        return self._found(tenant_id, webhook_id)[0]

    def update(self, tenant_id: str, webhook_id: str, changes: WebhookChanges) -> Webhook:
        """Raises NotFound, InvalidInput (a new URL is checked like a new webhook's)."""
        self._found(tenant_id, webhook_id)
        given = changes.model_dump(exclude_unset=True, mode="json")
        if given.get("url") is not None:
            self.check(str(given["url"]))
        updates: dict[str, Any] = {k: v for k, v in given.items() if v is not None or k == "description"}
        if "events" in updates:
            updates["events"] = sorted(set(updates["events"]))
        if updates.get("enabled"):
            updates["disabled_reason"] = None
        elif updates.get("enabled") is False:
            updates["disabled_reason"] = "disabled by request"
        updates["updated_at"] = self.clock.now()
        try:
            return self.rows.update(tenant_id, webhook_id, updates)
        except ConflictError as exc:
            raise self._not_found(webhook_id) from exc

    def disable(self, tenant_id: str, webhook_id: str, reason: str) -> None:
        """What a 410 Gone does: no more events are queued for it, pending ones are not sent."""
        try:
            changes = {"enabled": False, "disabled_reason": reason, "updated_at": self.clock.now()}
            self.rows.update(tenant_id, webhook_id, changes)
        except ConflictError:
            pass  # deleted meanwhile: nothing left to disable

    def delete(self, tenant_id: str, webhook_id: str) -> None:
        """Its deliveries stop (queued attempts find no webhook) and expire with their TTL."""
        try:
            self.rows.delete(tenant_id, webhook_id)
        except ConflictError as exc:
            raise self._not_found(webhook_id) from exc

    def rotate_secret(self, tenant_id: str, webhook_id: str, rotation: SecretRotation) -> CreatedWebhook:
        """A new signing secret, shown only now; the current one keeps signing beside it for
        `overlap_seconds` (a rotation during an overlap ends the older one at once). Raises NotFound."""
        webhook, blob = self._found(tenant_id, webhook_id)
        now = self.clock.now()
        secret = new_secret()
        new_blob = self.crypto.encrypt(secret.encode(), context=secret_context(tenant_id, webhook_id))
        until = now + rotation.overlap_seconds if rotation.overlap_seconds else None
        changes = {
            "secret_hint": secret[: len(SECRET_PREFIX) + 4],
            "previous_secret_expires_at": until,
            "updated_at": now,
        }
        try:
            rotated = self.rows.rotate(tenant_id, webhook_id, blob, new_blob, changes)
        except ConflictError as exc:
            if self.rows.find(tenant_id, webhook_id) is None:
                raise self._not_found(webhook_id) from exc
            raise ConflictError(
                "this webhook's secret was rotated by another request meanwhile; try again",
                code="concurrent_rotation",
            ) from exc
        return CreatedWebhook(**rotated.model_dump(), secret=secret)

    def secret(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, Sequence[str]]:
        """The webhook and the secrets that sign its deliveries now: the current one, then the previous
        one while its overlap lasts. Raises NotFound."""
        found = self.rows.find_secrets(tenant_id, webhook_id)
        if found is None:
            raise self._not_found(webhook_id)
        webhook, current, previous = found
        context = secret_context(tenant_id, webhook_id)
        secrets = [self.crypto.decrypt(current, context=context).decode()]
        until = webhook.previous_secret_expires_at
        if previous is not None and until is not None and self.clock.now() < until:
            secrets.append(self.crypto.decrypt(previous, context=context).decode())
        return webhook, secrets

    def enqueue(self, event: SessionEvent, kind: str, data: Mapping[str, Any]) -> int:
        """The hook in `connector_events`: one durable delivery per subscribed, enabled webhook of the
        tenant for an event of the vocabulary. Returns how many were queued. Raises on storage errors, so
        the events queue retries the event."""
        if kind not in WEBHOOK_EVENTS:
            return 0
        hooks = [w for w in self.list(event.tenant_id) if w.wants(kind, event.session_id)]
        if not hooks:
            return 0
        # One event can be several pushes (a receipt for several messages, or `delivered` implied by
        # `read`): the message id and the status tell them apart.
        origin = (event.id, kind, str(data.get("message_id") or ""), str(data.get("status") or ""))
        queued = 0
        plain = [w for w in hooks if w.evolution is None]
        if plain:
            payload = {
                "type": kind,
                "timestamp": _iso(event.at),
                "data": with_aliases({"tenant_id": event.tenant_id, "session_id": event.session_id, **data}),
            }
            queued += len(self.deliveries.create(plain, payload, at=event.at, origin=origin))
        for hook in hooks:
            if hook.evolution is None or self.formatter is None:
                continue
            try:
                bodies = self.formatter(hook, event, kind, data)
            except WagateError:
                raise  # storage: the events queue retries the event
            except Exception:
                # A body that cannot be built (a bug, an odd stored row) must not hold up the tenant's
                # other webhooks and dashboards, nor be retried forever: logged, this webhook skips it.
                logger.exception(
                    "formatted webhook body not built", extra={"webhook_id": hook.id, "kind": kind}
                )
                continue
            for body in bodies:
                queued += len(
                    self.deliveries.create(
                        [hook],
                        body.payload,
                        at=event.at,
                        origin=(*origin, body.part),
                        event_type=kind,
                        url_suffix=body.url_suffix,
                    )
                )
        return queued

    def put_for_session(
        self,
        tenant_id: str,
        session_id: str,
        *,
        url: str,
        enabled: bool,
        events: Iterable[WebhookEvent],
        evolution: EvolutionFormat,
        check_url: bool = True,
    ) -> tuple[Webhook, str | None]:
        """Creates or changes the one formatted webhook of a session (Evolution's webhook/set). Returns
        it and its signing secret when it was made now (None when it existed). Raises InvalidInput (URL
        rules; not checked with `check_url` false, for a disabled one), LimitExceeded. Each attempt
        checks the URL again, so one that was never checked is refused when it is called."""
        if check_url:
            self.check(url)
        now = self.clock.now()
        webhook_id = f"whk_{session_id}"  # one per session: a second create of it finds the first
        changes: dict[str, Any] = {
            "url": url,
            "events": sorted(set(events)),
            "enabled": enabled,
            "disabled_reason": None if enabled else "disabled by webhook/set",
            "evolution": evolution.model_dump(mode="json"),
            "updated_at": now,
        }
        for _ in range(2):
            if self.rows.find(tenant_id, webhook_id) is not None:
                try:
                    return self.rows.update(tenant_id, webhook_id, changes), None
                except ConflictError:
                    continue  # deleted meanwhile: make it again
            secret = new_secret()
            webhook = Webhook.model_validate(
                {
                    **changes,
                    "id": webhook_id,
                    "tenant_id": tenant_id,
                    "session_id": session_id,
                    "secret_hint": secret[: len(SECRET_PREFIX) + 4],
                    "created_at": now,
                }
            )
            blob = self.crypto.encrypt(secret.encode(), context=secret_context(tenant_id, webhook_id))
            try:
                self.rows.create(webhook, blob, limit=self.limit)
            except LimitExceeded:
                if self.rows.find(tenant_id, webhook_id) is not None:
                    continue  # made at the same moment by another call: change that one
                raise
            return webhook, secret
        raise ConflictError("the webhook is changing too fast; retry", code="busy")

    def for_session(self, tenant_id: str, session_id: str) -> Webhook | None:
        """The session's formatted webhook (put_for_session), if any."""
        found = self.rows.find(tenant_id, f"whk_{session_id}")
        return found[0] if found is not None else None

    def _found(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, bytes]:
        found = self.rows.find(tenant_id, webhook_id)
        if found is None:
            raise self._not_found(webhook_id)
        return found

    @staticmethod
    def _not_found(webhook_id: str) -> NotFound:
        return NotFound(
            f"no webhook {webhook_id}; list yours with GET /v1/webhooks", code="webhook_not_found"
        )


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
