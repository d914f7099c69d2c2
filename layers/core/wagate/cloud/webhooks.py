"""Meta's webhooks in: raw-body signature, routing by phone number id, events applied as a connector's.

The events go through the events consumer's own code path (`ConnectorEvents.handle`).

Host-agnostic, as pywa taught: `verify(query)` and `receive(raw, headers)` return a `WebhookResponse`
(status, body); the Lambda handler and any other host only translate it.
    bad or missing X-Hub-Signature-256 → 401, nothing stored     malformed JSON → 400
    unknown phone number id            → 200 (Meta stops retrying), a warning logged, nothing stored
    an infrastructure error            → raised (500): Meta retries, and applying twice changes nothing
Each change is checked with ITS session's app secret (else the operator's, WAGATE_META_APP_SECRET), so a
body signed with one tenant's secret can never write into another tenant's session. A number's route
(and app secret) is remembered per process for ROUTE_SECONDS: a new app secret takes up to that long.

Template webhooks name the WhatsApp Business Account, not a number: each session linked with a number
of that account (store/cloud.py's account index) whose own secret (else the operator's) signed the body
gets the update (cloud/templates.py) and a `template_updated` event; a body no such secret signed is a 401.

Besides what the applied events write, a status for a wamid not known yet (Meta's webhook can overtake
our write of the send's outcome) is parked (store/cloud.py) and replayed when that send is recorded
(`ParkedStatuses.replay`), or right after parking when the send was recorded meanwhile; TTL one day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wagate.cloud import notifications, signatures
from wagate.domain.events import EventType, SessionEvent
from wagate.observability import logger
from wagate.store.cloud import CloudRepository
from wagate.store.messages import MessageRepository

if TYPE_CHECKING:
    from pydantic import SecretStr

    from wagate.cloud.media_intake import CloudMediaIntake
    from wagate.cloud.sessions import CloudSessionService, Route
    from wagate.cloud.templates import CloudTemplateService
    from wagate.domain.cloud_templates import TemplateUpdate
    from wagate.ports import Clock, Table
    from wagate.services.connector_events import ConnectorEvents

PARK_SECONDS = 24 * 3600
ROUTE_SECONDS = 60.0
# phone number id → (until, route): per process, like the app secrets they carry (cloud/sessions.py).
_routes: dict[str, tuple[float, Route]] = {}


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


class ParkedStatuses:
    """Statuses of wamids not recorded yet, kept until the send that names them is (`replay`)."""

    def __init__(self, table: Table, events: ConnectorEvents) -> None:
        self.rows = CloudRepository(table)
        self.events = events

    def park(self, tenant_id: str, session_id: str, data: dict[str, Any], now: float) -> None:
        wamid = data["provider_message_ids"][0]
        event = SessionEvent(
            type=EventType.MESSAGE_STATUS, tenant_id=tenant_id, session_id=session_id, at=now, data=data
        )
        self.rows.park(
            tenant_id, session_id, wamid, data.get("status"), event.model_dump_json(), int(now) + PARK_SECONDS
        )

    def replay(self, tenant_id: str, session_id: str, wamid: str) -> int:
        """Applies the statuses that arrived before the send of `wamid` was recorded; returns how many."""
        parked = self.rows.parked(tenant_id, session_id, wamid)
        for status in parked:
            self.events.handle(status.event)
            self.rows.unpark(status)
        return len(parked)


class MetaWebhooks:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        cloud: CloudSessionService,
        events: ConnectorEvents,
        parked: ParkedStatuses,
        *,
        verify_token: SecretStr | None,
        app_secret: SecretStr | None,
        media: CloudMediaIntake | None = None,
        templates: Callable[[], CloudTemplateService] | None = None,
    ) -> None:
        self.templates = templates  # template webhooks change the synced templates
        self.media = media  # incoming attachments into the media store before the message is recorded
        self.clock = clock
        self.cloud = cloud
        self.events = events
        self.parked = parked
        self.messages = MessageRepository(table)
        self.verify_token = verify_token  # the operator's (WAGATE_META_VERIFY_TOKEN), besides each session's
        self.app_secret = app_secret  # the operator's (WAGATE_META_APP_SECRET), for sessions without one

    # ---- GET ----------------------------------------------------------------------------------------

    def verify(self, query: Mapping[str, str]) -> WebhookResponse:
        operator = self.verify_token

        def known(token: str) -> bool:
            if operator is not None and _same(token, operator.get_secret_value()):
                return True
            return self.cloud.verify_token_known(token)

        body, status = signatures.subscription_challenge(query, known)
        if status != 200:
            logger.warning(
                "meta webhook subscription refused", extra={"status": status, "why": body.decode()}
            )
        return WebhookResponse(status, body)

    # ---- POST ---------------------------------------------------------------------------------------

    def receive(self, raw: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        now = self.clock.now()
        digest = signatures.signature(headers)
        operator = self._operator_secret()
        try:
            payload = _json(raw)
        except ValueError:
            if operator is not None and not _signed(raw, digest, operator):
                return _refuse("bad signature on a body that is not JSON either")
            return WebhookResponse(400, b"the body is not JSON")
        notification = notifications.parse_notification(payload, now)
        routes = {pnid: self._route(pnid, now) for pnid in notification.numbers}
        known = {pnid: route for pnid, route in routes.items() if route is not None}
        accounts = {waba: self.cloud.account_sessions(waba) for waba in notification.accounts}
        signed = {
            waba: [r for r in sessions if _signed_by_session(raw, digest, r, operator)]
            for waba, sessions in accounts.items()
        }
        if any(accounts.values()) and not any(signed.values()):
            return _refuse("no session of the business account has the secret that signed the body")
        refusal = self._check_signature(raw, digest, known, operator, any(signed.values()))
        if refusal is not None:
            return refusal
        applied = parked = 0
        unknown: list[str] = []
        for pnid, update in notification.numbers.items():
            target = known.get(pnid)
            if target is None:
                unknown.append(pnid)
                if update.events:
                    logger.warning("meta webhook for an unknown phone number id", extra={"pnid": pnid})
                continue
            for kind, data in update.events:
                done, waiting = self._apply(target, kind, data, now)
                applied, parked = applied + done, parked + waiting
        for waba, updates in notification.accounts.items():
            if not accounts[waba]:
                logger.info("meta template webhook for an unknown business account", extra={"waba": waba})
            for route in signed[waba]:
                for template_update in updates:
                    self._apply_template(route, template_update)
                    applied += 1
        ignored = notification.all_ignored()
        for item in ignored:
            log = logger.warning if item.field == "account_update" else logger.info
            log(
                "meta webhook item ignored",
                extra={"field": item.field, "why": item.reason, "detail": item.detail},
            )
        counts = {"applied": applied, "parked": parked, "unknown_numbers": unknown, "ignored": len(ignored)}
        logger.debug("meta webhook received", extra=counts)
        return WebhookResponse(200, b"ok")

    def _check_signature(
        self,
        raw: bytes,
        digest: bytes | None,
        known: Mapping[str, Route],
        operator: bytes | None,
        account_signed: bool,
    ) -> WebhookResponse | None:
        """A 401 unless every routed number's own secret (else the operator's) signed the body. With no
        routed number and no business-account session's secret that signed it, the operator's secret
        must have signed it when there is one (nothing is stored either way)."""
        for pnid, route in known.items():
            secret = route.app_secret or operator
            if secret is None:
                logger.warning(
                    "meta webhook for a session with no app secret (set one, or WAGATE_META_APP_SECRET)",
                    extra={"tenant_id": route.tenant_id, "session_id": route.session_id},
                )
                return _refuse("no app secret to check the signature with")
            if not _signed(raw, digest, secret):
                return _refuse(f"signature does not match phone number id {pnid}")
        if not known and not account_signed and operator is not None and not _signed(raw, digest, operator):
            return _refuse("signature does not match the operator's app secret")
        return None

    def _route(self, phone_number_id: str, now: float) -> Route | None:
        """The number's route if its session still exists. Routes are remembered for ROUTE_SECONDS (a
        read less per webhook); unknown numbers are not, so a session created right after gets its very
        next webhook, and a remembered route whose session is gone is read again."""
        cached = _routes.get(phone_number_id)
        if cached is not None and cached[0] > now and self._session_exists(cached[1]):
            return cached[1]
        _routes.pop(phone_number_id, None)
        route = self.cloud.route(phone_number_id)
        if route is None or not self._session_exists(route):
            return None
        if len(_routes) >= 4096:
            _routes.clear()
        _routes[phone_number_id] = (now + ROUTE_SECONDS, route)
        return route

    def _session_exists(self, route: Route) -> bool:
        return self.cloud.sessions.rows.exists(route.tenant_id, route.session_id)

    def _apply(self, route: Route, kind: EventType, data: dict[str, Any], now: float) -> tuple[int, int]:
        """Applies one event (1, 0), or parks the statuses of wamids not recorded yet (0, n)."""
        if kind == EventType.MESSAGE_STATUS and data.get("status") != "sent":
            ids = [str(w) for w in data.get("provider_message_ids") or []]
            known = self.messages.message_id_of
            waiting = [w for w in ids if known(route.tenant_id, route.session_id, w) is None]
            for wamid in waiting:
                one = {**data, "provider_message_ids": [wamid]}
                self.parked.park(route.tenant_id, route.session_id, one, now)
                # The send may have been recorded (and looked for parked statuses) between the check and
                # the park: it would never look again, so look once more now that the status is parked.
                if known(route.tenant_id, route.session_id, wamid) is not None:
                    self.parked.replay(route.tenant_id, route.session_id, wamid)
            rest = [w for w in ids if w not in waiting]
            if not rest:
                return 0, len(waiting)
            data = {**data, "provider_message_ids": rest}
        if kind == EventType.INCOMING_MESSAGE and self.media is not None:
            data = self.media.store(route.tenant_id, route.session_id, data)
        event = SessionEvent(
            type=kind, tenant_id=route.tenant_id, session_id=route.session_id, at=now, data=data
        )
        self.events.handle(event.model_dump_json())
        return 1, 0

    def _apply_template(self, route: Route, update: TemplateUpdate) -> None:
        """One template update for one session: the synced template changed, then `template_updated`
        (its id derives from the update, so Meta's retry makes no second CRM delivery)."""
        current = None
        if self.templates is not None:
            current = self.templates().apply_update(route.tenant_id, route.session_id, update)
        origin = "|".join(
            str(part)
            for part in (
                route.tenant_id,
                route.session_id,
                update.change,
                update.template_id or f"{update.name}/{update.language}",
                update.event or update.quality_score or update.category,
                update.at,
            )
        )
        event = SessionEvent(
            id="evt_tpl_" + hashlib.sha256(origin.encode()).hexdigest()[:32],
            type=EventType.TEMPLATE_UPDATED,
            tenant_id=route.tenant_id,
            session_id=route.session_id,
            at=update.at,  # Meta's time, not the arrival: a retry's delivery is the same delivery
            data=update.notice(current),
        )
        self.events.handle(event.model_dump_json())

    def _operator_secret(self) -> bytes | None:
        secret = self.app_secret
        return secret.get_secret_value().encode() if secret is not None else None


def _json(raw: bytes) -> Any:
    """The body as JSON. Bytes that are not UTF-8 inside a signed body become U+FFFD: the rest is still
    read (and stored) rather than refused, since Meta would retry a refusal for days. Raises ValueError."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        return json.loads(raw.decode("utf-8", "replace"))


def _signed_by_session(raw: bytes, digest: bytes | None, route: Route, operator: bytes | None) -> bool:
    secret = route.app_secret or operator
    return secret is not None and _signed(raw, digest, secret)


def _signed(raw: bytes, digest: bytes | None, secret: bytes) -> bool:
    return digest is not None and signatures.signed_by(raw, digest, secret)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _refuse(why: str) -> WebhookResponse:
    logger.warning("meta webhook refused", extra={"why": why})
    return WebhookResponse(401, b"invalid signature")
