"""A Cloud number's Meta templates: read from Graph on demand, kept per session, and checked at send time.

`GET /v1/sessions/{id}/cloud-templates` answers the last sync at once; when there is none, or with
`?refresh=true`, it queues a `sync_templates` command on the Cloud queue (`syncing: true`), which the
cloud_send function runs (Graph I/O stays out of the API, as for the token check). A failed sync keeps the
older templates and says why (`sync_error`). A send of a Meta template is checked against the last sync
(domain/cloud_templates.py).
Meta's template webhooks (status, quality, category, components) are addressed to the business account;
cloud/webhooks.py finds its sessions and `apply_update` changes each one's synced template at once (a row
version guards the read-modify-write), queueing a sync when only Graph can tell (a template the last
sync did not see, new components, UNARCHIVED).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wagate.cloud import commands
from wagate.cloud.errors import CloudApiError
from wagate.cloud.sessions import CloudSessionService
from wagate.domain.cloud_templates import (
    CloudTemplate,
    CloudTemplates,
    TemplateUpdate,
    apply_update,
    find_template,
    parse_template,
    problems,
)
from wagate.domain.errors import ConflictError, InvalidInput, NotFound, TransientError
from wagate.domain.events import Command, CommandType
from wagate.domain.sessions import Provider
from wagate.observability import logger
from wagate.ports import Clock, GraphClient, Queues, Table
from wagate.services.sessions import SessionService
from wagate.store.cloud_templates import CloudTemplateRepository

_REPLACE_TRIES = 5


class CloudTemplateService:
    def __init__(
        self,
        table: Table,
        queues: Queues,
        clock: Clock,
        sessions: SessionService,
        cloud: CloudSessionService,
        graph: Callable[[], GraphClient],
    ) -> None:
        self.rows = CloudTemplateRepository(table)
        self.queues = queues
        self.clock = clock
        self.sessions = sessions
        self.cloud = cloud
        self.graph = graph  # built on first use: a process that never syncs opens no HTTP client

    def list(self, tenant_id: str, session_id: str, *, refresh: bool = False) -> CloudTemplates:
        """The last sync; a sync is queued when there is none or `refresh`. Raises NotFound, InvalidInput
        (`not_cloud`)."""
        session = self.sessions.get(tenant_id, session_id)
        if session.provider != Provider.CLOUD:
            raise InvalidInput(
                f"session {session_id} is a {session.provider.value} session: Meta templates belong to "
                "Cloud API numbers (web sessions use /v1/templates)",
                code="not_cloud",
                details={"field": "session_id"},
            )
        stored = self.rows.get(tenant_id, session_id)
        if stored is not None and not refresh:
            return stored
        snapshot = (stored or CloudTemplates(templates=[])).model_copy(update={"syncing": True})
        self.rows.put(tenant_id, session_id, snapshot)
        self._queue_sync(tenant_id, session_id)
        return snapshot

    def apply_update(self, tenant_id: str, session_id: str, update: TemplateUpdate) -> CloudTemplate | None:
        """Applies one of Meta's template webhooks to the session's last sync; returns the template as it
        now stands (None: not synced, or a template the sync has not seen: a sync is then queued). A session
        that never synced is left alone (it syncs on its first read)."""
        for _ in range(_REPLACE_TRIES):
            found = self.rows.get_versioned(tenant_id, session_id)
            if found is None:
                return None
            snapshot, version = found
            updated, changed, needs_sync = apply_update(snapshot, update)
            if needs_sync and not snapshot.syncing:
                updated = updated.model_copy(update={"syncing": True})
                changed = True
            if changed:
                try:
                    self.rows.replace(tenant_id, session_id, updated, version)
                except ConflictError:
                    continue  # another webhook or a sync wrote meanwhile: read again
            if needs_sync and not snapshot.syncing:
                self._queue_sync(tenant_id, session_id)
            return find_template(updated, update)
        raise TransientError("the templates row kept changing; Meta retries the webhook")

    def _queue_sync(self, tenant_id: str, session_id: str) -> None:
        command = Command(
            type=CommandType.SYNC_TEMPLATES,
            tenant_id=tenant_id,
            session_id=session_id,
            issued_at=self.clock.now(),
        )
        commands.enqueue(self.queues, command)
        logger.info("cloud templates sync queued", extra={"session_id": session_id})

    def sync(self, tenant_id: str, session_id: str) -> CloudTemplates | None:
        """Reads the templates from Graph and keeps them (the `sync_templates` command). None when the
        session has no credentials any more. Raises TransientError (Graph unreachable: the queue retries)."""
        try:
            access = self.cloud.access(tenant_id, session_id)
        except NotFound:
            return None
        # A session linked before the business-account index existed: its template webhooks find it now.
        self.cloud.rows.ensure_account(access.business_account_id, tenant_id, session_id)
        stored = self.rows.get(tenant_id, session_id) or CloudTemplates(templates=[])
        try:
            raw = self.graph().message_templates(access.business_account_id, access.token)
        except CloudApiError as exc:
            if exc.is_transient:
                raise TransientError(f"Meta did not answer: {exc.message}") from exc
            failed = stored.model_copy(update={"syncing": False, "sync_error": f"{exc.code}: {exc.message}"})
            self.rows.put(tenant_id, session_id, failed)
            return failed
        parsed = [t for t in (parse_template(item) for item in raw) if t is not None]
        snapshot = CloudTemplates(
            templates=sorted(parsed, key=lambda t: (t.name, t.language)), synced_at=self.clock.now()
        )
        self.rows.put(tenant_id, session_id, snapshot)
        return snapshot

    def check_send(
        self,
        tenant_id: str,
        session_id: str,
        name: str,
        language: str,
        variables: Mapping[str, str],
        components: Sequence[Mapping[str, Any]],
    ) -> None:
        """422 `template_mismatch` when the last sync says Meta would refuse this send. Nothing synced:
        nothing to check against (Meta answers for itself)."""
        stored = self.rows.get(tenant_id, session_id)
        if stored is None:
            return
        found = next((t for t in stored.templates if t.name == name and t.language == language), None)
        if found is None:
            languages = sorted(t.language for t in stored.templates if t.name == name)
            detail = f"in {', '.join(languages)}" if languages else "at all"
            raise InvalidInput(
                f"template: the number's account has no template {name!r} in {language} (it has it {detail}; "
                "GET /v1/sessions/{id}/cloud-templates?refresh=true after creating it in Meta)",
                code="template_mismatch",
                details={"field": "template", "languages": languages},
            )
        wrong = problems(found, variables, components)
        if wrong:
            raise InvalidInput(
                "template: " + "; ".join(wrong),
                code="template_mismatch",
                details={"field": "template", "problems": wrong},
            )
