"""Builds the services a route needs from the process's adapters (one place, so routes stay one-liners)."""

from __future__ import annotations

from collections.abc import Callable

from wagate.services.conversations import ConversationService
from wagate.services.messages import MessageService, TemplateRef
from wagate.services.sessions import SessionService
from wagate.services.templates import TemplateService
from wagate.wiring import deps


def session_service() -> SessionService:
    d = deps()
    return SessionService(
        d.table, d.queues, d.clock, limit=d.settings.max_sessions_per_tenant, shards=d.settings.shards
    )


def message_service() -> MessageService:
    d = deps()
    return MessageService(d.table, d.queues, d.clock, session_service(), renderer=_template_renderer())


def conversation_service() -> ConversationService:
    d = deps()
    return ConversationService(d.table, d.queues, d.clock, shards=d.settings.shards)


def _template_renderer() -> Callable[[str, TemplateRef], str]:
    d = deps()
    return TemplateService(d.table, d.clock).render
