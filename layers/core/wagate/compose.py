"""The composition root: every service of the process, built once from the ports `wagate.wiring` chose.

Nothing is built at import time, and each service only when first asked for (a Lambda pays for what its
route or record uses; no boto3 or httpx client exists before that). Services get ports and collaborators,
never the `Deps` bag, and never build a sibling: the wiring between them is written here and only here.

Who uses it: the API routes through Powertools `Depends` (the `*_service` functions below, so tests can
swap one with `app.dependency_overrides[compose.message_service] = ...`), every handler in `functions/`,
and the connector. `services()` follows `wiring.deps()`: when a test or the local runner installs other
ports, the next call builds a new set of services on them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wagate import wiring

if TYPE_CHECKING:
    from wagate.cloud.sends import CloudCommands
    from wagate.cloud.sessions import CloudSessionService
    from wagate.cloud.templates import CloudTemplateService
    from wagate.cloud.webhooks import MetaWebhooks, ParkedStatuses
    from wagate.domain.messages import Message
    from wagate.domain.sessions import Session
    from wagate.ports import Clock, RequestBuckets, Table
    from wagate.services.audit import AuditLog
    from wagate.services.broadcasts import BroadcastService
    from wagate.services.connector_events import ConnectorEvents
    from wagate.services.connector_loss import ConnectorLoss
    from wagate.services.contacts import ContactService
    from wagate.services.conversations import ConversationService
    from wagate.services.crm_attempts import AttemptRunner
    from wagate.services.crm_deliveries import DeliveryStore
    from wagate.services.crm_webhooks import Formatter, WebhookService
    from wagate.services.erasure import ErasureService
    from wagate.services.groups import GroupService
    from wagate.services.health import HealthService
    from wagate.services.insights import Insights
    from wagate.services.media import MediaCheck
    from wagate.services.media_files import MediaFiles
    from wagate.services.messages import MessageService
    from wagate.services.number_check import NumberChecks
    from wagate.services.operator import TenantAdmin
    from wagate.services.pacing_settings import PacingSettings
    from wagate.services.pools import PoolService
    from wagate.services.quotas import TenantQuotas
    from wagate.services.reminders import ReminderService
    from wagate.services.retention import RetentionService
    from wagate.services.session_expiry import SessionExpiry
    from wagate.services.sessions import SessionService
    from wagate.services.templates import TemplateService
    from wagate.services.tenant_deletion import TenantDeletion
    from wagate.store.contacts import ContactSearch
    from wagate.store.erasure import TombstoneKeys

_T = TypeVar("_T")


class Services:
    """The services of one set of ports. Each is built on first use, once (thread-safe: `wagate serve`
    runs handlers on threads). Service modules are imported inside, so a handler imports only its own."""

    def __init__(self, ports: wiring.Deps) -> None:
        self.ports = ports
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # re-entrant: building one service builds its collaborators

    def _once(self, name: str, build: Callable[[], _T]) -> _T:
        found = self._built.get(name)
        if found is None:
            with self._lock:
                found = self._built.get(name)
                if found is None:
                    found = self._built[name] = build()
        return found

    @property
    def table(self) -> Table:
        """The Table every service writes through: governed rows get their tenant's retention TTL."""

        def build() -> Table:
            from wagate.store.retention import RetentionTable

            # Wall time, like the TTLs it stamps (services/retention.py).
            return RetentionTable(self.ports.table, self.retention.expires_at, time.time)

        return self._once("table", build)

    # ---- sessions, messages and what they lean on --------------------------------------------------

    @property
    def request_buckets(self) -> RequestBuckets | None:
        """Per-tenant API throttling; None when WAGATE_TENANT_REQUESTS_PER_SECOND is 0 (off)."""

        def build() -> tuple[RequestBuckets | None]:
            from wagate.domain.throttle import RequestRate

            p = self.ports
            if p.settings.tenant_requests_per_second <= 0:
                return (None,)
            rate = RequestRate(p.settings.tenant_requests_per_second, p.settings.tenant_request_burst)
            if p.settings.backend == "aws":
                from wagate.store.request_buckets import TableRequestBuckets

                return (TableRequestBuckets(p.table, p.clock, rate),)
            from wagate.adapters.local.request_buckets import MemoryRequestBuckets

            return (MemoryRequestBuckets(p.clock, rate),)

        return self._once("request_buckets", build)[0]

    @property
    def sessions(self) -> SessionService:
        def build() -> SessionService:
            from wagate.services.sessions import SessionService

            p = self.ports
            limit, shards = p.settings.max_sessions_per_tenant, p.settings.shards
            return SessionService(
                self.table,
                p.queues,
                p.clock,
                limit=limit,
                shards=shards,
                insights=self.counting,
                session_limit=self.quotas.session_limit,
            )

        return self._once("sessions", build)

    @property
    def quotas(self) -> TenantQuotas:
        def build() -> TenantQuotas:
            from wagate.services.quotas import TenantQuotas

            p = self.ports
            return TenantQuotas(p.table, p.clock, p.settings.max_sessions_per_tenant)

        return self._once("quotas", build)

    @property
    def session_expiry(self) -> SessionExpiry:
        def build() -> SessionExpiry:
            from wagate.services.session_expiry import SessionExpiry

            p = self.ports
            seconds = p.settings.abandoned_session_seconds
            return SessionExpiry(self.table, p.clock, self.sessions, self.events.outbox, seconds)

        return self._once("session_expiry", build)

    @property
    def connector_loss(self) -> ConnectorLoss:
        def build() -> ConnectorLoss:
            from wagate.services.connector_loss import ConnectorLoss

            return ConnectorLoss(self.table, self.ports.clock, self.sessions, self.events.outbox)

        return self._once("connector_loss", build)

    @property
    def tenant_admin(self) -> TenantAdmin:
        def build() -> TenantAdmin:
            from wagate.services.operator import TenantAdmin
            from wagate.services.suspension import Suspensions

            clock = self.ports.clock
            suspensions = Suspensions(self.table, clock, self.sessions, self.audit, lambda: self.broadcasts)
            return TenantAdmin(self.table, clock, suspensions, self.tenant_deletion, self.audit)

        return self._once("tenant_admin", build)

    @property
    def cloud_sessions(self) -> CloudSessionService:
        def build() -> CloudSessionService:
            from wagate.cloud.sessions import CloudSessionService

            p = self.ports
            return CloudSessionService(self.table, p.crypto, p.clock, self.sessions)

        return self._once("cloud_sessions", build)

    @property
    def cloud_templates(self) -> CloudTemplateService:
        def build() -> CloudTemplateService:
            from wagate.cloud.templates import CloudTemplateService

            p = self.ports
            return CloudTemplateService(
                self.table, p.queues, p.clock, self.sessions, self.cloud_sessions, p.graph
            )

        return self._once("cloud_templates", build)

    @property
    def templates(self) -> TemplateService:
        def build() -> TemplateService:
            from wagate.services.templates import TemplateService

            return TemplateService(self.table, self.ports.clock)

        return self._once("templates", build)

    @property
    def pools(self) -> PoolService:
        def build() -> PoolService:
            from wagate.services.pools import PoolService

            return PoolService(self.table, self.ports.clock, self.sessions)

        return self._once("pools", build)

    @property
    def groups(self) -> GroupService:
        def build() -> GroupService:
            from wagate.services.groups import GroupService

            p = self.ports
            return GroupService(self.table, p.queues, p.clock, self.sessions)

        return self._once("groups", build)

    @property
    def media_check(self) -> MediaCheck:
        def build() -> MediaCheck:
            from wagate.domain.outbound_urls import MEDIA, UrlPolicy
            from wagate.services.media import MediaCheck, MediaRules

            s = self.ports.settings
            urls = UrlPolicy(MEDIA, allow_http=s.media_allow_http, allow_private=s.media_allow_private)
            # The probe (an httpx client) is made when a message first carries media, not before.
            return MediaCheck(self.ports.media, MediaRules(urls))

        return self._once("media_check", build)

    @property
    def media_files(self) -> MediaFiles:
        def build() -> MediaFiles:
            from wagate.services.media_files import MediaFiles, MediaLimits

            p = self.ports
            s = p.settings
            limits = MediaLimits(
                link_seconds=s.media_link_seconds,
                upload_seconds=s.media_upload_seconds,
                body_bytes=s.media_body_bytes,
            )
            return MediaFiles(self.table, p.clock, lambda: p.media_store, limits)

        return self._once("media_files", build)

    @property
    def messages(self) -> MessageService:
        def build() -> MessageService:
            from wagate.services.messages import MessageService

            p = self.ports
            return MessageService(
                self.table,
                p.queues,
                p.clock,
                self.sessions,
                pools=self.pools,
                groups=self.groups,
                renderer=self.templates.render,
                media_check=self.media_check,
                media_files=self.media_files,
                cloud_templates=lambda: self.cloud_templates,
                insights=self.counting,
                quotas=self.quotas,
            )

        return self._once("messages", build)

    @property
    def insights(self) -> Insights:
        def build() -> Insights:
            from wagate.services.insights import Insights

            return Insights(self.table, self.ports.clock)

        return self._once("insights", build)

    @property
    def counting(self) -> Insights | None:
        """What the write paths count with: None when the operator turned counting off
        (`WAGATE_INSIGHTS=false`); reports and folding go on over what was counted."""
        return self.insights if self.ports.settings.insights else None

    @property
    def broadcasts(self) -> BroadcastService:
        def build() -> BroadcastService:
            from wagate.services.broadcasts import BroadcastService

            p = self.ports
            return BroadcastService(self.table, p.queues, p.clock, self.messages, self.sessions, self.pools)

        return self._once("broadcasts", build)

    @property
    def conversations(self) -> ConversationService:
        def build() -> ConversationService:
            from wagate.services.conversations import ConversationService

            p = self.ports
            return ConversationService(self.table, p.queues, p.clock, shards=p.settings.shards)

        return self._once("conversations", build)

    @property
    def reminders(self) -> ReminderService:
        def build() -> ReminderService:
            from wagate.services.reminders import ReminderService

            return ReminderService(self.table, self.ports.clock, self.messages, self.templates)

        return self._once("reminders", build)

    @property
    def pacing(self) -> PacingSettings:
        def build() -> PacingSettings:
            from wagate.services.pacing_settings import PacingSettings

            return PacingSettings.on_table(self.table, self.ports.settings.pacing)

        return self._once("pacing", build)

    @property
    def health(self) -> HealthService:
        def build() -> HealthService:
            from wagate.services.health import HealthService

            p = self.ports
            return HealthService(
                self.table, p.clock, p.settings.health, sessions=self.sessions, pacing=self.pacing
            )

        return self._once("health", build)

    # ---- data protection: retention and the audit log ---------------------------------------------

    @property
    def retention(self) -> RetentionService:
        def build() -> RetentionService:
            from wagate.services.retention import RetentionService

            return RetentionService(self.ports.table, self.ports.clock)

        return self._once("retention", build)

    @property
    def audit(self) -> AuditLog:
        def build() -> AuditLog:
            from wagate.services.audit import AuditLog

            return AuditLog(self.table, self.ports.clock, self.retention)

        return self._once("audit", build)

    @property
    def tombstones(self) -> TombstoneKeys:
        def build() -> TombstoneKeys:
            from wagate.store.erasure import TombstoneKeys

            p = self.ports
            keys = p.tenant_keys
            blind = (lambda tenant, value: keys.key(tenant).blind(value)) if keys is not None else None
            return TombstoneKeys(p.table, p.crypto, blind)

        return self._once("tombstones", build)

    @property
    def contact_search(self) -> ContactSearch:
        def build() -> ContactSearch:
            from wagate.store.contacts import ContactSearch

            return ContactSearch(self.table)  # tokens under the tenant's key: shredding voids them

        return self._once("contact_search", build)

    @property
    def contacts(self) -> ContactService:
        def build() -> ContactService:
            from wagate.services.contacts import ContactService

            return ContactService(self.table, self.ports.clock, self.contact_search, self.events.outbox.drain)

        return self._once("contacts", build)

    @property
    def erasure(self) -> ErasureService:
        def build() -> ErasureService:
            from wagate.services.erasure import ErasureService

            p = self.ports
            return ErasureService(
                self.table, p.clock, self.tombstones, lambda: p.media_store, search=self.contact_search
            )

        return self._once("erasure", build)

    @property
    def tenant_deletion(self) -> TenantDeletion:
        def build() -> TenantDeletion:
            from wagate.services.tenant_deletion import TenantDeletion

            # Every per-tenant key is destroyed before any row goes (crypto-shredding).
            shredders = [self.tombstones.destroy]
            if self.ports.tenant_keys is not None:
                shredders.insert(0, self.ports.tenant_keys.destroy)
            return TenantDeletion(
                self.table, self.sessions, self.audit, shredders, search=self.contact_search
            )

        return self._once("tenant_deletion", build)

    # ---- CRM webhooks ------------------------------------------------------------------------------

    @property
    def webhooks(self) -> WebhookService:
        def build() -> WebhookService:
            from wagate.domain.outbound_urls import WEBHOOK, UrlPolicy
            from wagate.services.crm_webhooks import WebhookService

            p = self.ports
            s = p.settings
            urls = UrlPolicy(
                WEBHOOK, allow_http=s.webhooks_allow_http, allow_private=s.webhooks_allow_private
            )
            # The sender (an httpx client) is made when a URL is first checked or called.
            return WebhookService(
                self.table,
                p.crypto,
                p.clock,
                urls,
                p.webhooks,
                deliveries=self.deliveries,
                formatter=self._evolution_bodies(),
            )

        return self._once("webhooks", build)

    def _evolution_bodies(self) -> Formatter:
        """The bodies of webhooks the Evolution surface made (wagate/evolution/events.py), read from the
        same rows as everything else."""
        from wagate.domain.errors import NotFound
        from wagate.evolution.events import EvolutionBodies, Sources
        from wagate.store.evolution import EvolutionInstances
        from wagate.store.keys import media_object
        from wagate.store.messages import MessageRepository

        def session(tenant_id: str, session_id: str) -> Session | None:
            record = self.sessions.rows.find(tenant_id, session_id)
            return record.session if record is not None else None

        def message(tenant_id: str, message_id: str) -> Message | None:
            try:
                return self.media_files.with_links(MessageRepository(self.table).get(tenant_id, message_id))
            except NotFound:
                return None

        def kept(tenant_id: str, session_id: str) -> dict[str, Any] | None:
            return EvolutionInstances(self.table).get(tenant_id, session_id)

        def media_bytes(tenant_id: str, media_id: str, limit: int) -> bytes | None:
            read = bytearray()
            for chunk in self.media_files.store.read(media_object(tenant_id, media_id)):
                read += chunk
                if len(read) > limit:
                    return None
            return bytes(read)

        def named(tenant_id: str, session_id: str, some_id: str) -> Message | None:
            rows = MessageRepository(self.table)
            found = (
                some_id if some_id.startswith("msg_") else rows.message_id_of(tenant_id, session_id, some_id)
            )
            return message(tenant_id, found) if found else None

        server_url = self.ports.settings.evolution.server_url
        return EvolutionBodies(Sources(session, message, kept, media_bytes, server_url, named))

    @property
    def deliveries(self) -> DeliveryStore:
        def build() -> DeliveryStore:
            from wagate.services.crm_deliveries import DeliveryStore

            return DeliveryStore(self.table, self.ports.queues, self.ports.clock)

        return self._once("deliveries", build)

    @property
    def webhook_attempts(self) -> AttemptRunner:
        def build() -> AttemptRunner:
            from wagate.services.crm_attempts import AttemptRunner

            p = self.ports
            return AttemptRunner(
                self.table,
                p.clock,
                self.deliveries,
                self.webhooks,
                p.webhooks,
                delays=p.settings.webhook_retry_delays,
            )

        return self._once("webhook_attempts", build)

    # ---- what the connector and Meta report -------------------------------------------------------

    @property
    def events(self) -> ConnectorEvents:
        def build() -> ConnectorEvents:
            from wagate.services.connector_events import ConnectorEvents
            from wagate.services.inbound import InboundService

            p = self.ports
            return ConnectorEvents(
                table=self.table,
                clock=p.clock,
                push=p.push,
                sessions=self.sessions,
                messages=self.messages,
                groups=self.groups,
                inbound=InboundService(
                    self.table,
                    p.clock,
                    tombstones=self.tombstones,
                    insights=self.counting,
                    search=self.contact_search,
                ),
                webhooks=self.webhooks,
                audit=self.audit,
                media=self.media_files,
                number_checks=self.number_checks,
                health=self.health,
            )

        return self._once("events", build)

    @property
    def number_checks(self) -> NumberChecks:
        def build() -> NumberChecks:
            from wagate.services.number_check import NumberChecks

            s = self.ports.settings
            return NumberChecks(
                self.table,
                self.ports.clock,
                self.sessions,
                per_hour=s.contact_checks_per_hour,
                wait_seconds=s.contact_check_wait_seconds,
            )

        return self._once("number_checks", build)

    @property
    def parked_statuses(self) -> ParkedStatuses:
        def build() -> ParkedStatuses:
            from wagate.cloud.webhooks import ParkedStatuses

            return ParkedStatuses(self.table, self.events)

        return self._once("parked_statuses", build)

    @property
    def meta_webhooks(self) -> MetaWebhooks:
        def build() -> MetaWebhooks:
            from wagate.cloud.media_intake import CloudMediaIntake
            from wagate.cloud.webhooks import MetaWebhooks

            p = self.ports
            return MetaWebhooks(
                self.table,
                p.clock,
                self.cloud_sessions,
                self.events,
                self.parked_statuses,
                verify_token=p.settings.meta_verify_token,
                app_secret=p.settings.meta_app_secret,
                media=CloudMediaIntake(self.cloud_sessions, p.graph, lambda: p.media_store),
                templates=lambda: self.cloud_templates,
            )

        return self._once("meta_webhooks", build)

    @property
    def cloud_commands(self) -> CloudCommands:
        def build() -> CloudCommands:
            from wagate.cloud.sends import CloudCommands

            p = self.ports
            return CloudCommands(
                self.table,
                p.queues,
                p.clock,
                self.cloud_sessions,
                self.events,
                self.parked_statuses,
                p.graph,
                tries=p.settings.connector.send_tries,
                media=self.media_files,
                templates=lambda: self.cloud_templates,
            )

        return self._once("cloud_commands", build)


_lock = threading.Lock()
_root: Services | None = None


def services(ports: wiring.Deps | None = None) -> Services:
    """The services on `ports` (default: the process's, `wiring.deps()`), built once per set of ports."""
    global _root
    wanted = ports if ports is not None else wiring.deps()
    root = _root
    if root is not None and root.ports is wanted:
        return root
    if ports is not None:
        return Services(ports)  # explicit ports (a test's world): not the process's root
    with _lock:
        if _root is None or _root.ports is not wanted:
            _root = Services(wanted)
        return _root


# ---- route dependencies: `Annotated[X, Depends(compose.x_service)]`; tests override them -------------


def session_service() -> SessionService:
    return services().sessions


def cloud_session_service() -> CloudSessionService:
    return services().cloud_sessions


def cloud_template_service() -> CloudTemplateService:
    return services().cloud_templates


def message_service() -> MessageService:
    return services().messages


def broadcast_service() -> BroadcastService:
    return services().broadcasts


def group_service() -> GroupService:
    return services().groups


def pool_service() -> PoolService:
    return services().pools


def media_files() -> MediaFiles:
    return services().media_files


def conversation_service() -> ConversationService:
    return services().conversations


def template_service() -> TemplateService:
    return services().templates


def reminder_service() -> ReminderService:
    return services().reminders


def pacing_settings() -> PacingSettings:
    return services().pacing


def health_service() -> HealthService:
    return services().health


def webhook_service() -> WebhookService:
    return services().webhooks


def delivery_store() -> DeliveryStore:
    return services().deliveries


def retention_service() -> RetentionService:
    return services().retention


def erasure_service() -> ErasureService:
    return services().erasure


def audit_log() -> AuditLog:
    return services().audit


def insights_service() -> Insights:
    return services().insights


def contact_service() -> ContactService:
    return services().contacts


def number_checks() -> NumberChecks:
    return services().number_checks


def tenant_admin() -> TenantAdmin:
    return services().tenant_admin


def ports() -> wiring.Deps:
    """The ports themselves, for routes that call function-style services (tenants, realtime)."""
    return services().ports


def clock() -> Clock:
    return services().ports.clock
